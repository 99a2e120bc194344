package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// RDFSBASE, RDGSBASE, WRFSBASE, WRGSBASE (F3 0F AE /0../3 with a register
// operand; SDM Vol. 2B RDFSBASE/RDGSBASE, Vol. 2D WRFSBASE/WRGSBASE; Vol.
// 3A 2.5 CR4.FSGSBASE): the FS and GS bases, the same state as
// IA32_FS_BASE and IA32_GS_BASE (Vol. 3A 3.4.4.1), at any CPL. Valid only
// in 64-bit mode ("N.E." elsewhere: #UD). REX.W selects the 64-bit form;
// the 32-bit form reads the low half zero-extended and writes the value
// zero-extended. No VM exit.

var fsgsNames = [4]string{"RDFSBASE", "RDGSBASE", "WRFSBASE", "WRGSBASE"}

// fsgsbase executes the four; in.sub (ModRM.reg) picks one.
func fsgsbase(c *CPU, in *Inst) {
	op := in.sub & 3
	name := fsgsNames[op]
	sdm := "Vol. 2B RDFSBASE/RDGSBASE"
	if op >= 2 {
		sdm = "Vol. 2D WRFSBASE/WRGSBASE"
	}
	switch {
	case c.codeMode != mode64:
		c.raiseUD(name+" outside 64-bit mode", sdm)
		return
	case !c.feat.fsgsbase:
		c.raiseUD(name+" with CPUID.(EAX=07H,ECX=0):EBX.FSGSBASE[bit 0]=0", sdm)
		return
	case c.CR4&arch.CR4FSGSBASE == 0:
		c.raiseUD(name+" with CR4.FSGSBASE=0", sdm)
		return
	}
	seg := uint8(arch.FS)
	if op&1 != 0 {
		seg = arch.GS
	}
	if op < 2 {
		if in.opsz == 8 {
			setReg(c, in.rm, c.Seg[seg].Base)
		} else {
			setReg(c, in.rm, uint32(c.Seg[seg].Base))
		}
		return
	}
	v := c.GPR[in.rm&15]
	if in.opsz != 8 {
		v = uint64(uint32(v))
	}
	// Canonical with respect to the processor's linear-address width,
	// whatever CR4.LA57 says, as for WRMSR to IA32_FS_BASE (canonicalMax).
	if !c.canonicalMax(v) {
		c.raiseGP(name+" of a non-canonical address", sdm+" / Vol. 3A 4.5")
		return
	}
	c.Seg[seg].Base = v
	c.refreshSeg(int(seg))
}

// rdpid: RDPID (F3 0F C7 /7 with a register operand; SDM Vol. 2B RDPID):
// the destination ← IA32_TSC_AUX, a 64-bit register in 64-bit mode and a
// 32-bit one elsewhere (66 and REX.W do not matter). #UD without
// CPUID.(EAX=07H,ECX=0):ECX.RDPID[bit 22], and in VMX non-root operation
// with "enable RDTSCP" = 0 (Vol. 3C 26.3, RDPID). No VM exit.
func rdpid(c *CPU, in *Inst) {
	if !c.feat.rdpid {
		c.raiseUD("RDPID with CPUID.(EAX=07H,ECX=0):ECX.RDPID[bit 22]=0", "Vol. 2B RDPID")
		return
	}
	if c.inGuest() && !c.intercepts.Insn.Exits2(vmx.Proc2EnableRDTSCP) {
		c.raiseUD("RDPID in VMX non-root operation with \"enable RDTSCP\" = 0", "Vol. 3C 26.3")
		return
	}
	if c.codeMode == mode64 {
		setReg(c, in.rm, c.TSCAux)
	} else {
		setReg(c, in.rm, uint32(c.TSCAux))
	}
}

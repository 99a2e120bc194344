package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Miscellaneous system instructions: HLT, CPUID, RDTSC/RDTSCP (SDM
// Vol. 2A HLT, CPUID; Vol. 2B RDTSC, RDTSCP; Vol. 3A 18.17 "Time-Stamp
// Counter").

// hlt: HLT (F4).
func hlt(c *CPU, in *Inst) {
	if !c.requireCPL0("HLT") {
		return
	}
	if c.guestExits(vmx.ProcHLTExiting) { // SDM Vol. 3C 26.1.3
		c.guestInsnExit(in, vmx.ExitHLT, 0)
		return
	}
	c.halted = true
	c.stop = true
}

// cpuid: CPUID (0F A2).
func cpuid(c *CPU, in *Inst) {
	if c.inGuest() { // CPUID exits unconditionally (SDM Vol. 3C 26.1.2)
		c.guestInsnExit(in, vmx.ExitCPUID, 0)
		return
	}
	leaf, sub := uint32(c.GPR[arch.RAX]), uint32(c.GPR[arch.RCX])
	a, b, cc, d := c.plat().CPUID(c, leaf, sub)
	switch {
	case leaf == 1:
		// CPUID.1:ECX.OSXSAVE[bit 27] reflects CR4.OSXSAVE (SDM Vol. 2A
		// CPUID, Table 3-10).
		cc &^= 1 << 27
		if c.CR4&arch.CR4OSXSAVE != 0 {
			cc |= 1 << 27
		}
	case leaf == 7 && sub == 0:
		// CPUID.(EAX=07H,ECX=0):ECX.OSPKE[bit 4] reflects CR4.PKE (SDM
		// Vol. 2A CPUID, Table 3-8).
		cc &^= 1 << 4
		if c.CR4&arch.CR4PKE != 0 {
			cc |= 1 << 4
		}
	case leaf == 0xD && sub == 0 && a != 0:
		// CPUID.(EAX=0DH,ECX=0):EBX is the size of the XSAVE area the
		// components enabled in XCR0 need (SDM Vol. 2A CPUID leaf 0DH).
		b = c.xsaveSize(c.XCR0)
	case leaf == 0xD && sub == 1 && a&(1<<3) != 0:
		// CPUID.(EAX=0DH,ECX=1):EBX, with XSAVES, is the size of the
		// compacted area for XCR0 | IA32_XSS (Vol. 2A CPUID leaf 0DH).
		b = uint32(c.compactedLayout(c.XCR0|c.xss(), nil))
	}
	c.GPR[arch.RAX], c.GPR[arch.RBX], c.GPR[arch.RCX], c.GPR[arch.RDX] = uint64(a), uint64(b), uint64(cc), uint64(d)
}

// rdtsc/rdtscp: CR4.TSD makes them privileged (SDM Vol. 2B RDTSC). In
// VMX non-root operation RDTSCP is #UD without "enable RDTSCP", both exit
// with "RDTSC exiting" after the CR4.TSD check, and the guest reads the
// TSC plus the TSC offset with "use TSC offsetting" (SDM Vol. 3C 26.1.3,
// 26.3).
func rdtsc(c *CPU, in *Inst) {
	rdtscp := in.op == 0x101 // RDTSCP (0F 01 F9; 0F 01 is only RDTSCP here)
	if rdtscp && c.inGuest() && !c.intercepts.Insn.Exits2(vmx.Proc2EnableRDTSCP) {
		c.raiseUD("RDTSCP in VMX non-root operation with \"enable RDTSCP\" = 0", "Vol. 3C 26.3")
		return
	}
	if c.CR4&arch.CR4TSD != 0 && c.cpl != 0 && c.CR0&arch.CR0PE != 0 {
		c.raiseGP("RDTSC with CR4.TSD=1 at CPL > 0", "Vol. 2B RDTSC")
		return
	}
	if c.guestExits(vmx.ProcRDTSCExiting) {
		reason := uint32(vmx.ExitRDTSC)
		if rdtscp {
			reason = vmx.ExitRDTSCP
		}
		c.guestInsnExit(in, reason, 0)
		return
	}
	t := c.guestTSC(c.TSC())
	setReg(c, arch.RAX, uint32(t))
	setReg(c, arch.RDX, uint32(t>>32))
	if rdtscp {
		setReg(c, arch.RCX, uint32(c.TSCAux))
	}
}

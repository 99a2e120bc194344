package cpu

import (
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// VM exits of the instructions that exit conditionally in VMX non-root
// operation (SDM Vol. 3C 26.1.3): each instruction's handler asks, after
// the faults that take priority over VM exits (26.1.1: invalid opcode,
// privilege level, the TSS I/O permission bitmap), whether it exits; the
// answer comes from the intercept record read at VM entry
// (vmx.InsnIntercepts). These helpers build the exit information: the
// qualification (28.2.1), the instruction length (28.2.4), the
// instruction-information field (28.2.5) and the guest-linear address.

// guestExits reports whether the CPU is in VMX non-root operation with the
// primary processor-based control ctl set.
func (c *CPU) guestExits(ctl uint32) bool {
	return c.inGuest() && c.intercepts.Insn.Exits(ctl)
}

// guestExits2 is guestExits for a secondary processor-based control.
func (c *CPU) guestExits2(ctl uint32) bool {
	return c.inGuest() && c.intercepts.Insn.Exits2(ctl)
}

// guestInsnExitFull is the VM exit of an instruction with every exit
// information field it defines.
func (c *CPU) guestInsnExitFull(in *Inst, reason uint32, qual uint64, info uint32, linear uint64) {
	c.vmExit(reason, vmx.ExitInfo{Qualification: qual, InsnLength: uint32(in.len), InsnInfo: info, GuestLinear: linear}, true)
}

// vmxBits reads the I/O and MSR bitmaps through the core's physical
// access path.
func (c *CPU) vmxBits() vmx.BitReader {
	return func(pa uint64) (byte, bool) {
		v, ok := c.physRead(pa, 1, accVMX)
		return byte(v), ok
	}
}

// memOperand describes in's memory operand for the instruction-information
// field (SDM Vol. 3C 28.2.5): RIP-relative addressing has neither base nor
// index.
func memOperand(in *Inst) vmx.MemOperand {
	m := vmx.MemOperand{AddrSize: int(in.adsz), Seg: in.seg, Index: -1, Base: -1}
	if in.scale != 0 {
		m.Index, m.Scale = int(in.index&15), uint8(bits.TrailingZeros8(in.scale))
	}
	if in.bmask != 0 {
		m.Base = int(in.base & 15)
	}
	return m
}

// displacement is the exit qualification of an instruction whose
// instruction-information field describes a memory operand: the
// displacement, sign-extended to 64 bits (SDM Vol. 3C 28.2.1, "for INVEPT,
// INVPCID, INVVPID, LGDT, LIDT, LLDT, LTR, SGDT, SIDT, SLDT, STR, VMCLEAR,
// VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMXON, XRSTORS and XSAVES"); 0 for a
// register operand, where it is undefined.
func displacement(in *Inst) uint64 {
	if in.mod == 3 {
		return 0
	}
	switch in.adsz {
	case 2:
		return uint64(int64(int16(in.disp)))
	case 4:
		return uint64(int64(int32(in.disp)))
	}
	return in.disp
}

// guestLinear truncates a guest-linear address to 32 bits outside 64-bit
// mode (SDM Vol. 3C 28.2.1: bits 63:32 are cleared when the processor was
// not in 64-bit mode).
func (c *CPU) guestLinear(a uint64) uint64 {
	if c.codeMode != mode64 {
		return uint64(uint32(a))
	}
	return a
}

// guestIOExit is the I/O-instruction exit (SDM Vol. 3C 26.1.3; reason 30)
// after the IOPL/TSS-bitmap check: the qualification of Table 28-5 and,
// for INS/OUTS, the guest-linear address of the string operand and the
// instruction-information field (28.2.5, INS and OUTS). It reports whether the
// instruction exited.
func (c *CPU) guestIOExit(in *Inst, port uint16, size int, isIn, str bool) bool {
	if !c.inGuest() || !c.intercepts.Insn.IOExits(port, size, c.vmxBits()) {
		return false
	}
	imm := !str && in.op&8 == 0
	q := vmx.IOQualification(port, size, isIn, str, str && in.rep != 0, imm)
	var info uint32
	var lin uint64
	if str {
		seg, reg := in.seg, arch.RSI
		if isIn {
			seg, reg = arch.ES, arch.RDI
		}
		lin = c.guestLinear(c.segv[seg].base + c.GPR[reg]&in.amask)
		info = vmx.InsnInfoIO(int(in.adsz), seg)
	}
	c.guestInsnExitFull(in, vmx.ExitIO, q, info, lin)
	return true
}

// guestDescTableExit is the descriptor-table exit (reasons 46 and 47)
// with "descriptor-table exiting", after the instruction's #UD and #GP
// (privilege, UMIP) checks and before its operand is read (SDM Vol. 3C
// 26.1.3; 28.2.5, the tables for LIDT/LGDT/SIDT/SGDT and
// LLDT/LTR/SLDT/STR). identity is the instruction's
// identity (vmx.DescSGDT...); ldtTR selects LLDT/LTR/SLDT/STR.
func (c *CPU) guestDescTableExit(in *Inst, identity uint32, ldtTR bool) bool {
	if !c.guestExits2(vmx.Proc2DescTableExiting) {
		return false
	}
	if !ldtTR {
		info := vmx.InsnInfoDescTable(memOperand(in), in.opsz != 2, identity)
		c.guestInsnExitFull(in, vmx.ExitGDTRIDTR, displacement(in), info, 0)
		return true
	}
	// A register operand defines only reg1 and bit 10 (the other bits
	// are undefined: vmxemu gives 0).
	info := vmx.InsnInfoReg(int(in.rm & 15))
	if in.mod != 3 {
		info = vmx.InsnInfoMem(memOperand(in))
	}
	c.guestInsnExitFull(in, vmx.ExitLDTRTR, displacement(in), info|identity<<28, 0)
	return true
}

// guestTSC is the TSC as the guest reads it with RDTSC, RDTSCP or RDMSR of
// IA32_TSC: with "use TSC offsetting" (and no RDTSC exiting) scaled by
// the TSC multiplier under "use TSC scaling", plus the TSC offset (SDM
// Vol. 3C 26.3; vmx.InsnIntercepts.GuestTSC).
func (c *CPU) guestTSC(t uint64) uint64 {
	if c.inGuest() {
		return c.intercepts.Insn.GuestTSC(t)
	}
	return t
}

// pause: PAUSE (F3 90), a NOP here; in VMX non-root operation it exits
// (reason 40) with "PAUSE exiting", or at CPL 0 with "PAUSE-loop exiting"
// when the PAUSE-loop rule says so (SDM Vol. 3C 26.1.3; vmx/pause.go). The
// rule's counter runs at the TSC's rate on virtual time: the TSC's ticks
// since reset, which WRMSR to IA32_TSC does not move.
func pause(c *CPU, in *Inst) {
	if !c.inGuest() {
		return
	}
	x := &c.intercepts.Insn
	if x.Exits(vmx.ProcPAUSEExiting) ||
		c.cpl == 0 && x.Exits2(vmx.Proc2PAUSELoopExiting) && x.PauseLoopExits(&c.pauseLoop, c.tscTicks(c.Clock())) {
		c.guestInsnExit(in, vmx.ExitPAUSE, 0)
	}
}

// rdpmc: RDPMC (0F 33) (SDM Vol. 2B RDPMC). At CPL > 0 in protected mode
// with CR4.PCE = 0 it is #GP(0); then, in VMX non-root operation with
// "RDPMC exiting", a VM exit (SDM Vol. 3C 26.1.3; reason 15) that takes
// priority over the counter check; vmxemu has no performance-monitoring
// counters (CPUID.0AH is zero), so ECX never names a supported counter:
// #GP(0).
func rdpmc(c *CPU, in *Inst) {
	const sdm = "Vol. 2B RDPMC"
	if c.CR4&arch.CR4PCE == 0 && c.cpl != 0 && c.CR0&arch.CR0PE != 0 {
		c.raiseGP("RDPMC at CPL > 0 with CR4.PCE = 0", sdm)
		return
	}
	if c.guestExits(vmx.ProcRDPMCExiting) {
		c.guestInsnExit(in, vmx.ExitRDPMC, 0)
		return
	}
	c.raiseGP("RDPMC: ECX does not name a supported counter (vmxemu has no performance-monitoring counters; CPUID.0AH is zero)", sdm)
}

// guestVMXInsnExit is the VM exit of a VMX instruction in VMX non-root
// operation (SDM Vol. 3C 26.1.2) with its exit information: for VMCLEAR,
// VMPTRLD, VMPTRST and VMXON the displacement as qualification and the
// memory operand in the instruction-information field; for VMREAD and
// VMWRITE also reg1 (the register form's r/m register, 6:3), bit 10 for a
// register operand and reg2 (the ModRM.reg register, 31:28) (28.2.1,
// 28.2.5). The others define neither.
func (c *CPU) guestVMXInsnExit(in *Inst, insn vmx.Insn) {
	var info uint32
	var qual uint64
	switch insn {
	case vmx.InsnVMCLEAR, vmx.InsnVMPTRLD, vmx.InsnVMPTRST, vmx.InsnVMXON:
		info, qual = vmx.InsnInfoMem(memOperand(in)), displacement(in)
	case vmx.InsnVMREAD, vmx.InsnVMWRITE:
		if in.mod == 3 {
			info = vmx.InsnInfoReg(int(in.rm & 15))
		} else {
			info, qual = vmx.InsnInfoMem(memOperand(in)), displacement(in)
		}
		info |= uint32(in.reg&15) << 28
	}
	c.guestInsnExitFull(in, vmx.ExitReasonOf(insn), qual, info, 0)
}

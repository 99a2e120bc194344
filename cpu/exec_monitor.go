package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// MONITOR and MWAIT (0F 01 C8, 0F 01 C9; SDM Vol. 2B MONITOR, MWAIT;
// Vol. 3A 9.10.4 "MONITOR/MWAIT Instruction"), and their VM exits (SDM
// Vol. 3C 26.1.3: "MONITOR exiting", reason 39; "MWAIT exiting", reason
// 36 with bit 0 of the qualification set when the monitor was armed,
// 28.2.1), after the #UD conditions (26.1.1).
//
// MONITOR arms address-range monitoring on the 64-byte line (CPUID.05H's
// line size on every model) holding DS:rAX. MWAIT with the monitor armed
// disarms it and waits, as HLT does, until an event that would wake HLT
// (an interrupt it can take, an NMI, INIT, a guest's VMX events) or an
// implementation-dependent event, which for vmxemu is the start of the
// next run (Run: the board runs each CPU in slices cut at every timer
// deadline). A store to the monitored line by another CPU or a device,
// and an interrupt that ECX[0] = 1 makes a break event while RFLAGS.IF =
// 0 (not delivered: execution goes on after MWAIT), are therefore always
// noticed within one slice, deterministically; an early wake-up is what
// the SDM allows ("other implementation-dependent events may cause the
// processor to exit the implementation-dependent-optimized state"). Without an armed monitor
// MWAIT does nothing. VMXON, VMXOFF, VM entry and VM exit clear the
// monitor (vmxemu clears it on every VMX transition: clearing only makes
// a later MWAIT return at once). EAX's hints (target C-state) are
// accepted and have no effect on virtual time.

// monitorState is the address-range monitoring hardware.
type monitorState struct {
	armed bool
	line  uint64 // physical (guest-physical under EPT) address of the line
	// waiting: the CPU is halted in MWAIT.
	waiting bool
}

// monitorLine is the monitor line size: CPUID.05H:EAX/EBX of the models
// (64 bytes).
const monitorLine = 64

// monitorUD raises the #UD of MONITOR and MWAIT: CPUID.01H:ECX.MONITOR
// = 0 (which IA32_MISC_ENABLE[18] = 0 also makes it), or CPL > 0 (SDM
// Vol. 2B MONITOR, MWAIT "Protected Mode Exceptions").
func (c *CPU) monitorUD(name string) bool {
	if _, _, ecx, _ := c.plat().CPUID(c, 1, 0); ecx>>3&1 == 0 {
		c.raiseUD(name+" with CPUID.01H:ECX.MONITOR[bit 3] = 0", "Vol. 2B "+name)
		return true
	}
	if c.cpl != 0 {
		c.raiseUD(name+" at CPL > 0", "Vol. 2B "+name)
		return true
	}
	return false
}

// monitorInsn: MONITOR (0F 01 C8).
func monitorInsn(c *CPU, in *Inst) {
	if c.monitorUD("MONITOR") {
		return
	}
	if c.guestExits(vmx.ProcMONITORExiting) {
		c.guestInsnExit(in, vmx.ExitMONITOR, 0)
		return
	}
	if uint32(c.GPR[arch.RCX]) != 0 {
		c.raiseGP("MONITOR with ECX != 0 (no extensions are defined)", "Vol. 2B MONITOR")
		return
	}
	off := c.GPR[arch.RAX] & in.amask
	lin, ok := c.linear(in.seg, off, 1, accRead)
	if !ok {
		return
	}
	tr, ok := c.translate(lin, accRead, c.cpl == 3, false)
	if !ok {
		return
	}
	c.mon = monitorState{armed: true, line: (tr.PhysPage | lin&0xfff) &^ (monitorLine - 1)}
}

// mwaitInsn: MWAIT (0F 01 C9).
func mwaitInsn(c *CPU, in *Inst) {
	if c.monitorUD("MWAIT") {
		return
	}
	if c.guestExits(vmx.ProcMWAITExiting) {
		q := uint64(0)
		if c.mon.armed {
			q = 1 // 28.2.1: the monitor was armed
		}
		c.guestInsnExit(in, vmx.ExitMWAIT, q)
		return
	}
	ecx := uint32(c.GPR[arch.RCX])
	if ecx>>1 != 0 {
		c.raiseGP("MWAIT with ECX[31:1] != 0", "Vol. 2B MWAIT")
		return
	}
	if ecx&1 != 0 {
		if _, _, e5, _ := c.plat().CPUID(c, 5, 0); e5>>1&1 == 0 {
			c.raiseGP("MWAIT with ECX[0] = 1 and CPUID.05H:ECX[bit 1] = 0", "Vol. 2B MWAIT")
			return
		}
	}
	if !c.mon.armed {
		return // no armed monitor: MWAIT does not wait
	}
	c.mon = monitorState{waiting: true}
	c.halted = true
	c.stop = true
}

// mwaitWake ends an MWAIT wait at the start of a run slice (the
// implementation-dependent event above).
func (c *CPU) mwaitWake() {
	if c.mon.waiting {
		c.mon.waiting = false
		c.halted = false
	}
}

// clearMonitor clears address-range monitoring (VMX transitions).
func (c *CPU) clearMonitor() { c.mon.armed = false }

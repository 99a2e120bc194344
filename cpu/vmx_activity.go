package cpu

import "github.com/vmxemu/vmxemu/vmx"

// The shutdown and wait-for-SIPI activity states of a guest (SDM Vol. 3C
// 25.4.2, 27.7.2; entered only by VM entry with the activity-state field,
// as the guest-state checks of 27.3.1.5 allow them). In VMX non-root
// operation a triple fault is a VM exit (reason 2) rather than shutdown
// (26.2), so a guest is in the shutdown state only because its VMM put it
// there.
//
//   - Shutdown: the processor executes nothing and takes no maskable
//     interrupt. An NMI wakes it — a VM exit with "NMI exiting", otherwise
//     delivered through the guest's IDT (the processor is then active:
//     27.7.7 names an NMI with "NMI exiting" = 0 as an event that leaves
//     the shutdown state in VMX non-root operation); the VMX-preemption
//     timer's and NMI-window exits wake it (26.7.4, 27.7.6); INIT is a VM
//     exit (26.2) as in any state. The exits save activity state 2.
//   - Wait-for-SIPI: only INIT (reason 3) and SIPI leave it; a SIPI is a VM
//     exit, reason 4, with the SIPI vector in bits 7:0 of the exit
//     qualification (26.2, 28.2.1), and the exit saves activity state 3.
//     NMIs, interrupts and the window exits wait; the VMX-preemption timer
//     counts on but causes no VM exit there (26.5.1).

// ExitSIPI is exit reason 4 (Appendix C).
const exitSIPI = 4

// vmxEnterShutdown puts the guest in the shutdown activity state at VM
// entry.
func (c *CPU) vmxEnterShutdown() {
	c.halted = true
	c.vev.shutdown = true
	c.vev.on = true
	c.updateAttn()
}

// guestSIPI takes a SIPI in VMX non-root operation: a VM exit in the
// wait-for-SIPI state; elsewhere the SIPI is ignored as outside VMX
// (RaiseSIPI accepts one only while waiting). It reports whether it
// exited.
func (c *CPU) guestSIPI(vector uint8) bool {
	if !c.waitSIPI {
		return false
	}
	c.vmExit(exitSIPI, vmx.ExitInfo{Qualification: uint64(vector)}, false)
	return true
}

// vmxActivity is the activity state a VM exit saves (SDM Vol. 3C 28.3.4:
// the state before the exit).
func (c *CPU) vmxActivity() uint64 {
	switch {
	case c.waitSIPI:
		return 3
	case c.vev.shutdown:
		return 2
	case c.halted && !c.mon.waiting:
		// MWAIT's wait is never an activity state (SDM Vol. 3C 25.4.2).
		return 1
	}
	return 0
}

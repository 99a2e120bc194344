package cpu

import "github.com/vmxemu/vmxemu/arch"

// Events between instructions: the attention word, NMI blocking, and the
// order in which pending events are taken.
//
// c.attn summarises what the run loop must look at before the next block:
// it is recomputed (updateAttn) whenever one of its sources changes, so the
// block fast path tests one byte. Its bits do not depend on RFLAGS.IF: an
// event that IF gates (a maskable interrupt) sets its bit too, and
// eventsWaiting applies IF. The events of VMX non-root operation that
// ignore IF (an external interrupt under external-interrupt exiting, SDM
// Vol. 3C 26.2) or depend on time (the VMX-preemption timer) have their
// own bit, attnVMX, which guestEvents decides (vmx_events.go). Like the
// others it is set only while such an event can be taken (vmxAttn): a
// guest whose controls merely ask for interrupts and NMIs to exit runs
// with a zero word until its interrupt source is kicked or an NMI
// arrives, as a processor in VMX root operation does.

// Attention bits (CPU.attn).
const (
	attnNMI    = 1 << iota // an NMI is pending and NMIs are not blocked
	attnSignal             // an INIT or SIPI is latched and may be acted on now
	attnIntr               // a maskable interrupt may be pending (intrHint); taken with RFLAGS.IF=1
	attnDebug              // instruction breakpoints, RF=1 or a held #DB trap: one instruction at a time (debugreg.go)
	attnVMX                // a guest's event controls: guestEvents decides (vmx_events.go)
	attnTrace              // -d exec/cpu: every block through runTraced (trace.go); not an event
)

// updateAttn recomputes the attention word from its sources.
func (c *CPU) updateAttn() {
	var a uint8
	if c.nmiPending && !c.nmiBlocked {
		a |= attnNMI
	}
	if c.signals&sigSIPI != 0 || c.signals&sigINIT != 0 && !c.initBlocked {
		a |= attnSignal
	}
	if c.intrHint {
		a |= attnIntr
	}
	if c.debugAttn() {
		a |= attnDebug
	}
	if c.vmxAttn() {
		a |= attnVMX
	}
	if c.traceOn() {
		a |= attnTrace
	}
	c.attn = a
}

// eventsWaiting reports, for a non-zero attention word, whether an event
// may be taken now: an NMI or INIT/SIPI, or a maskable interrupt with
// RFLAGS.IF=1.
func (c *CPU) eventsWaiting() bool {
	return c.attn&^(attnIntr|attnTrace) != 0 || c.RFLAGS&arch.FlagIF != 0 && c.intr != nil
}

// KickInterrupt tells the CPU that its interrupt source may now have a
// pending interrupt (an IRR bit was set, a line was raised).
func (c *CPU) KickInterrupt() {
	c.intrHint = true
	c.attn |= attnIntr
	if c.vev.on && c.intercepts.Events.ExtIntExiting {
		c.attn |= attnVMX // an exit whatever RFLAGS.IF (vmxAttn)
	}
}

// RaiseNMI makes an NMI pending. NMIs are edge-triggered: one more while
// one is pending is lost (SDM Vol. 3A 6.7.1). A processor waiting for SIPI
// does not take it (only INIT and SIPI leave that state); a halted one
// wakes, unless NMIs are blocked, in which case the NMI waits for the
// IRET that unblocks them.
func (c *CPU) RaiseNMI() {
	c.nmiPending = true
	if !c.waitSIPI && !c.nmiBlocked {
		c.halted = false
	}
	c.updateAttn()
}

// NMIBlocked reports blocking by NMI: set when an NMI is delivered,
// cleared by the next IRET (SDM Vol. 3A 6.7.1). It is the interruptibility
// state's bit 3 in a VMCS (SDM Vol. 3C 25.4.2).
func (c *CPU) NMIBlocked() bool { return c.nmiBlocked }

// SetNMIBlocked sets blocking by NMI (the debugger; VM entry and exit load
// it from the interruptibility state).
func (c *CPU) SetNMIBlocked(b bool) {
	c.nmiBlocked = b
	c.updateAttn()
}

// unblockNMI is what every IRET does first: it ends blocking by NMI, even
// if the IRET then faults (SDM Vol. 3A 6.7.1; Vol. 3C 28.2.3, "NMI
// unblocking due to IRET"). A pending NMI is then taken after the IRET.
func (c *CPU) unblockNMI() {
	if c.inGuest() && c.guestIRET() {
		return
	}
	if c.nmiBlocked {
		c.nmiBlocked = false
		c.updateAttn()
	}
}

// BlockINIT sets whether INIT signals are blocked: they are in VMX root
// operation (SDM Vol. 3C 24.8), which the core's own VMXON and VMXOFF
// enter and leave. A latched INIT is acted on once it is unblocked. The
// board's tests call it directly.
func (c *CPU) BlockINIT(b bool) {
	c.initBlocked = b
	c.updateAttn()
}

// takeEvents acts on a pending INIT or SIPI (smp.go), then delivers a
// pending NMI or maskable interrupt if the CPU can accept one now (SDM
// Vol. 3A 6.7, 6.8.1, 6.9 priorities: INIT above NMI above INTR). It
// returns true when an event was delivered. In VMX non-root operation the
// guest's events are looked at whichever bit brought the run loop here;
// when none was taken, an attnVMX left from an event taken before (a
// virtual interrupt delivered, say) is recomputed.
func (c *CPU) takeEvents() bool {
	if c.takeEvent() {
		return true
	}
	if c.attn&attnVMX != 0 {
		c.updateAttn()
	}
	return false
}

// takeEvent is takeEvents' search, in priority order.
func (c *CPU) takeEvent() bool {
	if c.vev.on && (c.vmxTakeTPRBelow() || c.vmxTakeAPICTrap()) { // vmx_tpr.go, vmx_apicv.go: above INIT, not held by the shadow
		return true
	}
	if c.shadow > 0 {
		return false
	}
	if c.signals != 0 {
		did := c.takeSignals()
		c.updateAttn()
		if did {
			return true
		}
	}
	if c.waitSIPI {
		return false // only INIT and SIPI leave wait-for-SIPI
	}
	if c.vev.on {
		if took, decided := c.guestEvents(); decided {
			return took
		}
	}
	if c.nmiPending && !c.nmiBlocked {
		// Delivering an NMI blocks further NMIs until the next IRET
		// (SDM Vol. 3A 6.7.1).
		if c.takeHaltedTrap() {
			return true
		}
		c.nmiPending = false
		c.nmiBlocked = true
		c.updateAttn()
		c.halted = false
		c.event(arch.VecNMI, false, 0, evExternal, nil)
		return true
	}
	if c.intr != nil && c.RFLAGS&arch.FlagIF != 0 {
		// Cleared before asking, so that a source may keep it set from
		// Pending (a source that cannot kick: "poll me again").
		c.intrHint = false
		c.attn &^= attnIntr
		if !c.intr.Pending() {
			return false
		}
		if c.dbg.halted != 0 {
			c.KickInterrupt() // taken after the #DB
			return c.takeHaltedTrap()
		}
		v := c.intr.Ack()
		// The source is asked again at the next boundary where it can
		// be taken: the acknowledge may leave another interrupt pending
		// without anything kicking (an 8259 in auto-EOI mode retires the
		// one it delivered at once; a source may queue several). Before
		// the attention contract of VMX non-root operation (vmxAttn) a
		// guest asked its source after every block.
		c.KickInterrupt()
		c.halted = false
		c.event(v, false, 0, evExternal, nil)
		return true
	}
	return false
}

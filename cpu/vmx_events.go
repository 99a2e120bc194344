package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/vmx"
)

// Events in VMX non-root operation (SDM Vol. 3C 26.2 "Other causes of VM
// exits", 26.7 "Features specific to VMX non-root operation", 27.7
// "Special features of VM entry", 28.2.2-28.2.4): external-interrupt and
// NMI exiting, virtual NMIs, the VMX-preemption timer, interrupt-window
// and NMI-window exiting, the monitor trap flag, and the IDT-vectoring
// information of a VM exit during event delivery. The controls come from
// the intercept record taken at VM entry (c.intercepts.Events); the events
// are looked at between instructions with the core's other events
// (takeEvents), under one attention bit (attnVMX, vmxAttn) that is set
// only while one of them can be taken, so that a guest whose controls
// merely ask for interrupts and NMIs to exit, or run the timer, pays no
// more per block than a processor in VMX root operation (the attention
// word is all the fast path tests; eventsWaiting stays small enough to be
// inlined there).

// vmxEvents is the per-CPU state of those events.
type vmxEvents struct {
	// on: the CPU is in VMX non-root operation with an event control
	// set (attnVMX).
	on bool
	// vnmiBlocked is virtual-NMI blocking ("virtual NMIs" = 1: bit 3 of
	// the interruptibility state, SDM Vol. 3C 25.4.2, 26.7.1).
	vnmiBlocked bool
	// tprBelow: a TPR-below-threshold VM exit is pending on the next
	// instruction boundary (29.1.2; vmx_tpr.go).
	tprBelow bool
	// apicTrap is a pending trap-like VM exit of APIC virtualization:
	// an APIC-write (30.4.3.3) or virtualized-EOI (30.1.4) exit, reason
	// 0 for none; vid is virtual-interrupt delivery (vmx_apicv.go).
	apicTrap apicTrap
	vid      vidState
	// shutdown: the guest is in the shutdown activity state
	// (vmx_activity.go).
	shutdown bool
	// mtfPending: an MTF VM exit is pending on the next instruction
	// boundary (26.7.2; or injected by VM entry, 27.6.2).
	mtfPending bool
	// The VMX-preemption timer (26.7.4): it started at TSC timerTSC with
	// timerValue and reaches 0 at virtual time timerDeadline (Clock).
	timerOn       bool
	timerTSC      uint64
	timerValue    uint32
	timerDeadline uint64
	// savedEnd is the run's end before the timer (or MTF) brought it
	// forward (0 when it did not): see vmxRunEndDue.
	savedEnd uint64
	// delivering is the event being delivered through the IDT, as the
	// IDT-vectoring information of a VM exit during its delivery
	// (28.2.4; valid bit 31 clear between deliveries).
	delivering    uint32
	deliveringErr uint32
	deliveringLen uint32
	// iretAt and iretRIP locate the last IRET that removed blocking by
	// NMI (or virtual-NMI blocking), for bit 12 of the VM-exit
	// interruption information (28.2.2).
	iretUnblocked bool
	iretAt        uint64
	iretRIP       uint64
	// injecting: the event being delivered was injected by VM entry.
	injecting bool
	// pendingDbg are the debug exceptions an MTF VM exit holds pending
	// (vmxMTFHoldsTrap).
	pendingDbg uint64
	// mtfAt is the instruction count after the one instruction the
	// monitor trap flag lets the guest run (vmxArmRunEnd).
	mtfAt uint64
}

// vmxEventsEntry sets up the event state of VM entry (SDM Vol. 3C
// 27.3.2.5, 27.7): blocking of NMIs from bit 3 of the interruptibility
// state — blocking by NMI, or with "virtual NMIs" virtual-NMI blocking
// while NMIs are not blocked (27.7.1) — and the VMX-preemption timer
// started with the timer-value field (27.7.4), after which the entry's
// latency elapses (vmx_time.go).
func (c *CPU) vmxEventsEntry(blockingNMI bool) {
	x := &c.intercepts.Events
	c.vev = vmxEvents{savedEnd: c.vev.savedEnd}
	if x.VirtualNMIs {
		c.vev.vnmiBlocked = blockingNMI
		c.nmiBlocked = false
	} else {
		c.nmiBlocked = blockingNMI
	}
	if x.PreemptionTimer {
		c.vev.timerOn = true
		c.vev.timerTSC = c.TSC()
		c.vev.timerValue = x.TimerValue
		// The timer counts down by 1 each time bit X of the TSC changes
		// (X = IA32_VMX_MISC[4:0], 26.7.4): it reaches 0 when the TSC
		// has crossed timerValue multiples of 2^X since entry.
		target := (c.vev.timerTSC>>x.TimerShift + uint64(x.TimerValue)) << x.TimerShift
		if x.TimerValue == 0 {
			c.vev.timerDeadline = c.Clock()
		} else if t, ok := c.ClockAtTSC(target); ok {
			c.vev.timerDeadline = t
		} else {
			c.vev.timerDeadline = ^uint64(0)
		}
	}
	// The entry's latency elapses after the timer started, before the
	// guest's first instruction (vmx_time.go): the timer counts through
	// it, and the run's end for the timer is armed after it.
	c.vmxElapse(VMEntryLatency)
	c.vev.on = x.Any()
	c.vmxArmRunEnd(true)
	c.updateAttn() // last: enterGuest leaves the attention word to it
}

// vmxInjectPendingMTF is VM entry's injection of a pending MTF VM exit
// (interruption type 7, vector 0: SDM Vol. 3C 27.6.2): nothing is
// delivered, the exit is pending at the first instruction boundary.
func (c *CPU) vmxInjectPendingMTF() {
	c.vev.mtfPending = true
	c.vev.on = true
	c.updateAttn()
}

// vmxInjectedNMI is the blocking an NMI injected by VM entry leaves: with
// "virtual NMIs" virtual-NMI blocking (27.7.1), otherwise blocking by NMI
// as any NMI's delivery.
func (c *CPU) vmxInjectedNMI() {
	if c.intercepts.Events.VirtualNMIs {
		c.vev.vnmiBlocked = true
		return
	}
	c.nmiBlocked = true
	c.updateAttn()
}

// vmxAttn is the attention word's attnVMX (attention.go): whether an event
// of VMX non-root operation other than an NMI or an INIT/SIPI (their own
// bits) can be taken at the next instruction boundary, so that the run
// loop must call takeEvents. It holds for
//   - the trap-like VM exits made pending by an instruction: TPR below
//     threshold (29.1.2), APIC write and virtualized EOI (30.4.3.3,
//     30.1.4), and a pending MTF VM exit (26.7.2, 27.6.2);
//   - a recognized virtual interrupt (30.2.1), which RFLAGS.IF holds;
//   - the controls that exit on a condition of the guest's own state, which
//     any instruction may change: the monitor trap flag, interrupt-window
//     exiting (RFLAGS.IF, 26.7.5) and NMI-window exiting (virtual-NMI
//     blocking, 26.7.6);
//   - external-interrupt exiting while the interrupt source may have an
//     interrupt (intrHint, set by KickInterrupt): it exits whatever
//     RFLAGS.IF (26.2), so attnIntr, which eventsWaiting gates by IF, is
//     not enough;
//   - the VMX-preemption timer once it has reached 0 (26.7.4): virtual
//     time moves inside a run only by instructions, which stop at the
//     boundary where it does (vmxArmRunEnd, vmxRunEndDue), and between
//     runs, which re-arm (run's vmxArmRunEnd).
//
// An NMI under NMI exiting and INIT/SIPI keep their own bits (attnNMI,
// attnSignal); takeEvents looks at every guest event whichever bit brought
// it there.
func (c *CPU) vmxAttn() bool {
	v := &c.vev
	if !v.on {
		return false
	}
	x := &c.intercepts.Events
	return c.vmxEveryBlock || v.tprBelow || v.apicTrap.reason != 0 || v.mtfPending || v.vid.pending ||
		x.MTF || x.IntrWindow || x.NMIWindow ||
		x.ExtIntExiting && c.intrHint ||
		v.timerOn && c.Clock() >= v.timerDeadline
}

// vmxTimerEnd is the instruction count at whose boundary the
// VMX-preemption timer reaches 0, or ^0 when it runs in no future
// instruction boundary (not running, or already 0).
func (c *CPU) vmxTimerEnd() uint64 {
	if c.vev.timerOn {
		if now := c.Clock(); c.vev.timerDeadline > now {
			if d := c.now() + (c.vev.timerDeadline - now); d > c.now() {
				return d
			}
		}
	}
	return ^uint64(0)
}

// vmxArmRunEnd brings the run's end forward to the instruction boundary
// where the VMX-preemption timer reaches 0, or, with the monitor trap
// flag, to the boundary after the guest's next instruction (26.7.2), so
// that the block loop stops there exactly; the run goes on after the VM
// exit (vmxRunEndDue). At VM entry (entry) the executing VMLAUNCH or
// VMRESUME has not retired yet.
func (c *CPU) vmxArmRunEnd(entry bool) {
	if c.vev.savedEnd != 0 {
		// An end brought forward for an earlier entry is stale.
		c.runEnd, c.vev.savedEnd = c.vev.savedEnd, 0
	}
	if !c.inGuest() || !c.vev.on {
		return
	}
	// Idle time since the last run may have brought the timer to 0.
	c.updateAttn()
	t := c.vmxTimerEnd()
	if c.intercepts.Events.MTF && !c.vev.mtfPending {
		n := c.now() + 1
		if entry {
			n++
		}
		c.vev.mtfAt = n
		t = min(t, n)
	}
	if t >= c.runEnd {
		return
	}
	if c.vev.savedEnd == 0 {
		c.vev.savedEnd = c.runEnd
	}
	c.runEnd = t
	c.stop = true
}

// vmxRunEndDue is asked when the run loop reaches its end: if that end
// was brought forward by vmxArmRunEnd, the run's own end is restored and
// the loop goes on — the timer's VM exit, or the MTF VM exit of the
// instruction that just retired, is taken at the loop's event check
// (vmxAttn). An event delivered without an instruction uses a unit of the
// run (useRunUnit), and so brings this end before the timer's deadline:
// the end is then brought forward to the deadline again.
func (c *CPU) vmxRunEndDue() bool {
	if c.vev.savedEnd == 0 {
		return false
	}
	c.runEnd, c.vev.savedEnd = c.vev.savedEnd, 0
	if !c.inGuest() {
		return c.Icount < c.runEnd
	}
	if c.intercepts.Events.MTF && c.vev.mtfAt != 0 && c.Icount == c.vev.mtfAt {
		c.vmxMTFPending()
	}
	if t := c.vmxTimerEnd(); t < c.runEnd {
		c.vev.savedEnd, c.runEnd = c.runEnd, t
	}
	c.updateAttn()
	return c.Icount < c.runEnd
}

// vmxMTFPending makes an MTF VM exit pending with the monitor trap flag
// (SDM Vol. 3C 26.7.2): after the guest's instruction completes, after
// the delivery of an exception it raised, and after the delivery of an
// event VM entry injected (27.7.2).
func (c *CPU) vmxMTFPending() {
	if c.inGuest() && c.intercepts.Events.MTF {
		c.vev.mtfPending = true
		c.updateAttn()
	}
}

// VMXDeadline is the virtual time (Clock) at which the VMX-preemption
// timer of the guest running on this CPU reaches 0, and false when no
// timer runs: the board cuts its time slices there, and a halted guest
// wakes there (26.7.4: the timer's VM exit wakes a processor from HLT).
func (c *CPU) VMXDeadline() (uint64, bool) {
	if c.inGuest() && c.vev.timerOn && !c.waitSIPI { // no timer exit in wait-for-SIPI (26.5.1)
		return c.vev.timerDeadline, true
	}
	return 0, false
}

// InterruptWakes reports whether a pending external interrupt would be
// acted on by a halted CPU now: RFLAGS.IF = 1, or a guest with
// external-interrupt exiting, whose interrupts exit whatever RFLAGS.IF
// (SDM Vol. 3C 26.2); never a guest in the shutdown state
// (vmx_activity.go).
func (c *CPU) InterruptWakes() bool {
	if c.vev.shutdown {
		return false
	}
	return c.RFLAGS&arch.FlagIF != 0 || c.inGuest() && c.intercepts.Events.ExtIntExiting
}

// vmxTimerLeft is the VMX-preemption timer's value now: the value at
// entry less the number of times bit X of the TSC changed since.
func (c *CPU) vmxTimerLeft() uint32 {
	x := &c.intercepts.Events
	ticks := c.TSC()>>x.TimerShift - c.vev.timerTSC>>x.TimerShift
	if ticks >= uint64(c.vev.timerValue) || c.Clock() >= c.vev.timerDeadline {
		return 0
	}
	return c.vev.timerValue - uint32(ticks)
}

// guestEvents takes the events of VMX non-root operation in the SDM's
// priority (Vol. 3C 26.2, 26.7; Vol. 3A 6.9): a pending MTF VM exit, the
// VMX-preemption timer, NMI-window exiting, an NMI (a VM exit with NMI
// exiting), interrupt-window exiting, an external interrupt (a VM exit
// with external-interrupt exiting, whatever RFLAGS.IF). It is called with
// no blocking by STI or MOV SS (takeEvents), after INIT and SIPI.
// decided is false when the ordinary delivery below decides (an NMI or
// interrupt delivered through the guest's IDT, or nothing).
func (c *CPU) guestEvents() (took, decided bool) {
	x := &c.intercepts.Events
	if !c.vev.on {
		return false, false
	}
	// A guest in the shutdown state (vmx_activity.go) takes only the
	// timer, NMI-window exiting and an NMI, in this same order.
	shutdown := c.vev.shutdown
	switch {
	case c.vev.mtfPending && !shutdown:
		// 26.7.2: an MTF VM exit; nothing else is recorded.
		c.vev.mtfPending = false
		c.vmExit(vmx.ExitMonitorTrapFlag, vmx.ExitInfo{}, false)
		return true, true
	case c.vev.timerOn && c.Clock() >= c.vev.timerDeadline:
		// 26.7.4: the timer reached 0 (it wakes HLT, 26.2).
		c.vmExit(vmx.ExitPreemptionTimer, vmx.ExitInfo{}, false)
		return true, true
	case x.NMIWindow && !c.vev.vnmiBlocked:
		// 26.7.6: no virtual-NMI blocking (and no blocking by MOV SS
		// or STI: takeEvents' caller) — exit reason 8.
		c.vmExit(vmx.ExitNMIWindow, vmx.ExitInfo{}, false)
		return true, true
	case c.nmiPending && !c.nmiBlocked && x.NMIExiting:
		// 26.2: an NMI exits (reason 0, type NMI, vector 2); it blocks
		// NMIs only after the VM exit completes (28.1).
		c.nmiPending = false
		c.vmExit(vmx.ExitExceptionNMI, vmx.ExitInfo{IntrInfo: vmx.IntrInfo(arch.VecNMI, vmx.IntrTypeNMI, false)}, false)
		c.nmiBlocked = true
		c.updateAttn()
		return true, true
	case c.nmiPending && !c.nmiBlocked:
		// Delivered through the guest's IDT (takeEvents); in the shutdown
		// state the NMI makes the processor active again.
		c.vev.shutdown = false
		return false, false
	case shutdown:
		return false, true // nothing else is taken in the shutdown state
	case x.IntrWindow && c.RFLAGS&arch.FlagIF != 0:
		// 26.7.5: RFLAGS.IF = 1 and no blocking by STI or MOV SS.
		c.vmExit(vmx.ExitInterruptWindow, vmx.ExitInfo{}, false)
		return true, true
	case c.vev.vid.pending && c.RFLAGS&arch.FlagIF != 0:
		// 30.2.2: a virtual interrupt, with the priority of the
		// interrupt window, above external interrupts (vmx_apicv.go).
		c.vidDeliver()
		return true, true
	case x.ExtIntExiting && c.intr != nil:
		// Cleared before asking, as in takeEvents (attnIntr and the
		// attnVMX it brings here: vmxAttn).
		c.intrHint = false
		c.updateAttn()
		if !c.intr.Pending() {
			return false, true
		}
		// 26.2, 28.2.2: with "acknowledge interrupt on exit" the
		// interrupt controller is acknowledged and the vector stored;
		// without it the interrupt stays pending and the field is
		// invalid.
		var info vmx.ExitInfo
		if x.AckIntOnExit {
			v := c.intr.Ack()
			// Another may be pending (takeEvent, attention.go).
			c.KickInterrupt()
			if c.vmxPostedInterrupt(v) { // 30.6 (vmx_apicv.go)
				return true, true
			}
			info.IntrInfo = vmx.IntrInfo(v, vmx.IntrTypeExternal, false)
		} else {
			c.KickInterrupt()
		}
		c.vmExit(vmx.ExitExternalInterrupt, info, false)
		return true, true
	}
	return false, false
}

// guestIRET is what IRET does to NMI blocking in VMX non-root operation
// (SDM Vol. 3C 26.3 "IRET"): with "NMI exiting" and without "virtual
// NMIs" it leaves blocking by NMI alone (27.7.1: the blocking lasts as
// long as the guest runs); with "virtual NMIs" it removes virtual-NMI
// blocking; otherwise it unblocks NMIs as outside VMX. The removal is
// recorded for bit 12 of the VM-exit interruption information should the
// IRET fault into a VM exit (28.2.2). It returns true when it decided.
func (c *CPU) guestIRET() bool {
	x := &c.intercepts.Events
	if x.NMIExiting && !x.VirtualNMIs {
		return true
	}
	c.vev.iretAt, c.vev.iretRIP = c.now(), c.ripCur
	if x.VirtualNMIs {
		c.vev.iretUnblocked = c.vev.vnmiBlocked
		c.vev.vnmiBlocked = false
		return true
	}
	c.vev.iretUnblocked = c.nmiBlocked
	return false
}

// vmxSetDelivering records the event about to be delivered through the
// IDT (vec, its error code, how it came) as the IDT-vectoring information
// of a VM exit during its delivery (SDM Vol. 3C 28.2.4, Table 25-19). An
// external event with vector 2 is an NMI (the APIC does not deliver
// vectors below 16 as interrupts). n is the instruction length of a
// software interrupt or exception.
func (c *CPU) vmxSetDelivering(vec uint8, hasErr bool, code uint32, kind eventKind, n uint64) {
	var typ uint32
	switch kind {
	case evException:
		typ = vmx.IntrTypeHardware
	case evExternal:
		typ = vmx.IntrTypeExternal
		if vec == arch.VecNMI {
			typ = vmx.IntrTypeNMI
		}
	case evSoftInt:
		typ = vmx.IntrTypeSoftInt
	case evSoftExc:
		typ = vmx.IntrTypeSoftExc
	case evICEBP:
		typ = vmx.IntrTypePrivSoft
	}
	c.vev.delivering = vmx.IntrInfo(vec, typ, hasErr)
	c.vev.deliveringErr = code
	c.vev.deliveringLen = 0
	if kind == evSoftInt || kind == evSoftExc || kind == evICEBP {
		c.vev.deliveringLen = uint32(n)
	}
}

// vmxExitInfo completes the information of a VM exit with what the event
// state knows (SDM Vol. 3C 28.2.2, 28.2.4): the IDT-vectoring information
// of an exit during event delivery — not for a triple fault (28.2.4) —
// with the instruction length of a software event being delivered, and
// bit 12 of the interruption information of an exception exit caused by
// a fault of an IRET that removed NMI (or virtual-NMI) blocking.
func (c *CPU) vmxExitInfo(reason uint32, info *vmx.ExitInfo) {
	if c.vev.delivering&vmx.IntrInfoValid != 0 && reason != vmx.ExitTripleFault {
		info.IDTVecInfo = c.vev.delivering
		if info.IDTVecInfo&vmx.IntrInfoErrValid != 0 {
			info.IDTVecErr = c.vev.deliveringErr
		}
		if c.vev.deliveringLen != 0 {
			info.InsnLength = c.vev.deliveringLen
		}
	}
	if reason == vmx.ExitExceptionNMI && info.IDTVecInfo == 0 && info.IntrInfo>>8&7 == vmx.IntrTypeHardware &&
		uint8(info.IntrInfo) != arch.VecDF && c.vev.iretUnblocked && c.vev.iretAt == c.now() && c.vev.iretRIP == c.ripCur &&
		!(c.intercepts.Events.NMIExiting && !c.intercepts.Events.VirtualNMIs) {
		info.IntrInfo |= vmx.IntrInfoNMIUnblck
	}
	// Bit 12 of the exit qualification of an EPT violation or a
	// page-modification log-full event: the access belonged to an IRET
	// that unblocked NMIs (SDM Vol. 3C 28.2.3, Table 28-7).
	if (reason == vmx.ExitEPTViolate || reason == vmx.ExitPMLFull) && info.IDTVecInfo == 0 &&
		c.vev.iretUnblocked && c.vev.iretAt == c.now() && c.vev.iretRIP == c.ripCur &&
		!(c.intercepts.Events.NMIExiting && !c.intercepts.Events.VirtualNMIs) {
		info.Qualification |= ept.QualNMIUnblock
	}
}

// vmxEventsExit is the event side of a VM exit (SDM Vol. 3C 28.3.4):
// the interruptibility state's bit 3 (virtual-NMI blocking with "virtual
// NMIs"), the VMX-preemption timer's value with "save VMX-preemption
// timer value" (0 after the timer's own exit), and the event state left
// behind.
func (c *CPU) vmxEventsExit(reason uint32, g *vmx.GuestSave) {
	x := &c.intercepts.Events
	if x.VirtualNMIs {
		g.BlockingNMI = c.vev.vnmiBlocked
	}
	g.PendingDebug = c.vev.pendingDbg
	// An exit during the delivery of a software interrupt or exception
	// (a task gate) saves the RIP of the instruction that caused it, as
	// the exits of exceptions during delivery do (28.2.4 gives its
	// length): the VMM re-injects it with that length.
	if reason == vmx.ExitTaskSwitch && c.vev.delivering&vmx.IntrInfoValid != 0 && c.vev.deliveringLen != 0 {
		g.RIP -= uint64(c.vev.deliveringLen)
	}
	if x.SaveTimer {
		left := c.vmxTimerLeft()
		if reason == vmx.ExitPreemptionTimer {
			left = 0
		}
		c.vmx.SaveTimer(left)
	}
	c.vev = vmxEvents{savedEnd: c.vev.savedEnd}
	c.updateAttn()
}

// vmxPendingDebug delivers the debug exceptions VM entry makes pending
// (SDM Vol. 3C 27.7.3): on a VM entry that injects no event, into the
// active state, a #DB trap whose DR6 status bits are B3:B0 and BS from
// the pending debug exceptions field — before anything the guest
// executes (after the next instruction with blocking by MOV SS), and so
// before the VMX-preemption timer's and the window exits (it has the
// priority of a trap on the previous instruction). The exception bitmap
// applies (a VM exit with the bits in the exit qualification).
func (c *CPU) vmxPendingDebug(activity uint64, movSS bool) {
	pd := c.vmx.CoreFieldValue(vmx.CorePendingDebug)
	bits := pd & (0xF | arch.DR6BS)
	if activity != 0 || pd&(0xF|1<<12|arch.DR6BS) == 0 {
		return
	}
	if movSS {
		// Blocked by MOV SS: held as a MOV SS's own breakpoint hits
		// are, and reported with the next instruction's traps (its
		// single-step BS comes from RFLAGS.TF, which the guest-state
		// checks tie to the BS bit here: 27.3.1.5).
		c.dbg.hit |= pd & 0xF
		c.updateAttn()
		return
	}
	f := arch.Fault{Vector: arch.VecDB, Trap: true, DR6: bits,
		Rule: "debug exception made pending by VM entry (pending debug exceptions field)", SDM: "Vol. 3C 27.7.3"}
	c.ripCur = c.RIP
	c.event(arch.VecDB, false, 0, evException, &f)
}

// vmxMTFHoldsTrap decides a #DB trap (single-step, data or I/O
// breakpoint) of the guest instruction that completes an MTF step: the
// MTF VM exit has priority over debug traps (SDM Vol. 3C 26.7.2, Vol. 3A
// 6.9), so the trap is not delivered but saved as pending debug
// exceptions (B3:B0, BS) by the VM exit (28.3.4).
func (c *CPU) vmxMTFHoldsTrap(dr6 uint64) bool {
	if !c.inGuest() || !c.intercepts.Events.MTF || c.vev.mtfAt == 0 || c.Icount != c.vev.mtfAt {
		return false
	}
	c.vev.pendingDbg = dr6 & (0xF | arch.DR6BS)
	c.vmxMTFPending()
	return true
}

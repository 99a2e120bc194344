package vmx

import "github.com/vmxemu/vmxemu/msr"

// Event-related VMX controls: external-interrupt and NMI exiting, virtual
// NMIs, the VMX-preemption timer (pin-based controls, SDM Vol. 3C
// 25.6.1), interrupt-window and NMI-window exiting and the monitor trap
// flag (primary processor-based controls, 25.6.2), "acknowledge interrupt
// on exit" and "save VMX-preemption timer value" (VM-exit controls,
// 25.7.1). What they make the processor do is the core's (cpu/vmx_events.go,
// SDM Vol. 3C 26.2, 26.7); this file reads them from the current VMCS and
// formats the information fields their VM exits fill in.

// Exit reasons of events (SDM Vol. 3C Appendix C).
const (
	ExitExternalInterrupt = 1
	ExitInterruptWindow   = 7
	ExitNMIWindow         = 8
	ExitMonitorTrapFlag   = 37
	ExitPreemptionTimer   = 52
)

// Control bits (SDM Vol. 3C Tables 25-5, 25-6, 25-13).
const (
	pinExtIntExiting      = 1 << 0
	pinNMIExiting         = 1 << 3
	pinVirtualNMIs        = 1 << 5
	pinPreemptionTimer    = 1 << 6
	procIntrWindowExiting = 1 << 2
	procNMIWindowExiting  = 1 << 22
	procMonitorTrapFlag   = 1 << 27
	exitAckIntOnExit      = 1 << 15
	exitSavePreemption    = 1 << 22

	encPreemptionTimer = 0x482E
)

// Interruption types of the interruption-information fields (SDM Vol. 3C
// Tables 25-17, 25-18, 25-19).
const (
	IntrTypeExternal  = 0
	IntrTypeNMI       = 2
	IntrTypeHardware  = 3
	IntrTypeSoftInt   = 4
	IntrTypePrivSoft  = 5
	IntrTypeSoftExc   = 6
	IntrTypeOther     = 7
	IntrInfoValid     = 1 << 31
	IntrInfoErrValid  = 1 << 11
	IntrInfoNMIUnblck = 1 << 12 // VM-exit interruption information: NMI unblocking due to IRET
)

// IntrInfo builds an interruption-information value: valid, the vector,
// the type and, with hasErr, "error code valid" (Table 25-18).
func IntrInfo(vec uint8, typ uint32, hasErr bool) uint32 {
	x := IntrInfoValid | typ<<8 | uint32(vec)
	if hasErr {
		x |= IntrInfoErrValid
	}
	return x
}

// EventControls are the event-related controls of the current VMCS, taken
// at VM entry with the rest of the intercept record.
type EventControls struct {
	ExtIntExiting   bool // pin-based 0: external interrupts exit (reason 1), RFLAGS.IF ignored
	NMIExiting      bool // pin-based 3: NMIs exit (reason 0)
	VirtualNMIs     bool // pin-based 5: bit 3 of the interruptibility state is virtual-NMI blocking
	PreemptionTimer bool // pin-based 6: the VMX-preemption timer runs (reason 52)
	IntrWindow      bool // primary 2: exit when the guest can take an interrupt (reason 7)
	NMIWindow       bool // primary 22: exit when there is no virtual-NMI blocking (reason 8)
	MTF             bool // primary 27: exit after each instruction (reason 37)
	AckIntOnExit    bool // VM-exit 15: acknowledge the interrupt, store its vector
	SaveTimer       bool // VM-exit 22: store the timer's value on every VM exit
	// TimerValue is the VMX-preemption timer-value field at entry (0
	// without "activate VMX-preemption timer", which alone uses it);
	// TimerShift is IA32_VMX_MISC[4:0]: the timer counts down by 1 each
	// time bit TimerShift of the TSC changes (SDM Vol. 3C 26.5.1).
	TimerValue uint32
	TimerShift uint
	// PendingMTF: VM entry injects a pending MTF VM exit (type 7, vector 0:
	// 27.6.2 "Injection of Pending MTF VM Exits").
	PendingMTF bool
}

// Any reports whether a control makes the core look at events between
// instructions in VMX non-root operation.
func (e *EventControls) Any() bool {
	return e.ExtIntExiting || e.NMIExiting || e.PreemptionTimer || e.IntrWindow || e.NMIWindow || e.MTF || e.PendingMTF
}

// eventControls reads the event controls of the current VMCS.
func (v *CPU) eventControls(e *EventControls) {
	pin, proc, exit := v.field(encPinCtls), v.field(encProcCtls), v.field(encExitCtls)
	info := v.field(encEntryIntrInfo)
	*e = EventControls{
		ExtIntExiting:   pin&pinExtIntExiting != 0,
		NMIExiting:      pin&pinNMIExiting != 0,
		VirtualNMIs:     pin&pinVirtualNMIs != 0,
		PreemptionTimer: pin&pinPreemptionTimer != 0,
		IntrWindow:      proc&procIntrWindowExiting != 0,
		NMIWindow:       proc&procNMIWindowExiting != 0,
		MTF:             proc&procMonitorTrapFlag != 0,
		AckIntOnExit:    exit&exitAckIntOnExit != 0,
		SaveTimer:       exit&exitSavePreemption != 0,
		TimerShift:      uint(v.caps.msrs.get(msr.VMXMisc) & 0x1F),
		PendingMTF:      info>>31 != 0 && info>>8&7 == IntrTypeOther && info&0xFF == 0,
	}
	if e.PreemptionTimer {
		// Read only when the timer runs: the field is guest state, which
		// every VM exit writes, and the intercept record's memo
		// (Intercepts) would otherwise compare values at every entry.
		e.TimerValue = uint32(v.field(encPreemptionTimer))
	}
}

// checkNMIControls is the part of SDM Vol. 3C 27.2.1.1 about NMIs:
// "virtual NMIs" needs "NMI exiting", and "NMI-window exiting" needs
// "virtual NMIs". Failures are VMfailValid(7).
func (v *CPU) checkNMIControls(insn Insn) (Outcome, bool) {
	pin, proc := v.field(encPinCtls), v.field(encProcCtls)
	switch {
	case pin&pinNMIExiting == 0 && pin&pinVirtualNMIs != 0:
		return v.entryFail(insn, ErrEntryInvalidControl, encPinCtls, pin,
			"\"virtual NMIs\" (bit 5) must be 0 when \"NMI exiting\" (bit 3) is 0", "Vol. 3C 27.2.1.1"), true
	case pin&pinVirtualNMIs == 0 && proc&procNMIWindowExiting != 0:
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls, proc,
			"\"NMI-window exiting\" (bit 22) must be 0 when the \"virtual NMIs\" pin-based control is 0", "Vol. 3C 27.2.1.1"), true
	}
	return Outcome{}, false
}

// checkTimerSave is the rule of SDM Vol. 3C 27.2.1.2 that "save
// VMX-preemption timer value" needs "activate VMX-preemption timer"
// (VMfailValid(7)).
func (v *CPU) checkTimerSave(insn Insn) (Outcome, bool) {
	if exit := v.field(encExitCtls); exit&exitSavePreemption != 0 && v.field(encPinCtls)&pinPreemptionTimer == 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encExitCtls, exit,
			"\"save VMX-preemption timer value\" (bit 22) must be 0 when the \"activate VMX-preemption timer\" pin-based control is 0", "Vol. 3C 27.2.1.2"), true
	}
	return Outcome{}, false
}

// SaveTimer stores the VMX-preemption timer's value in the current VMCS
// (SDM Vol. 3C 28.3.4: on every VM exit with "save VMX-preemption timer
// value"; a VM exit caused by the timer stores 0).
func (v *CPU) SaveTimer(val uint32) { v.setField(encPreemptionTimer, uint64(val)) }

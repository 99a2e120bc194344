package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/vmx"
)

// The event log (-d vmx,msr,cr,io): one event per line, with the CPU, the
// instructions it retired before the event and the RIP, in text or as
// JSON lines (-d-format json; the schema is docs/DEBUGGING.md's). The same
// events feed the fault summary (summary.go) and -break-on (break.go).

// hexU64 is a 64-bit value written in JSON as a "0x..." string: JSON
// numbers lose precision beyond 2^53.
type hexU64 uint64

func (h hexU64) MarshalJSON() ([]byte, error) { return []byte(fmt.Sprintf(`"%#x"`, uint64(h))), nil }

// event is one entry of the event log. The fields after RIP are set by
// kind; JSON omits the unset ones.
type event struct {
	Item   string `json:"item"`  // the -d item: vmx, msr, cr, io
	Event  string `json:"event"` // see the event* constants
	CPU    int    `json:"cpu"`
	Icount uint64 `json:"icount"`
	RIP    hexU64 `json:"rip"`

	// vmx-insn, vm-entry, vm-entry-failure
	Insn      string        `json:"insn,omitempty"`
	Outcome   string        `json:"outcome,omitempty"`
	Error     uint32        `json:"error,omitempty"`
	ErrorText string        `json:"error_text,omitempty"`
	Fault     *faultJSON    `json:"fault,omitempty"`
	Check     *checkJSON    `json:"check,omitempty"`
	GuestRIP  *hexU64       `json:"guest_rip,omitempty"`
	Exit      *exitJSON     `json:"exit,omitempty"`
	Abort     *abortJSON    `json:"abort,omitempty"`
	MSR       *hexU64       `json:"msr,omitempty"`
	CR        *int          `json:"cr,omitempty"`
	Old       *hexU64       `json:"old,omitempty"`
	Value     *hexU64       `json:"value,omitempty"`
	Port      *hexU64       `json:"port,omitempty"`
	Size      int           `json:"size,omitempty"`
	Reg       *hexU64       `json:"reg,omitempty"`
	RegName   string        `json:"reg_name,omitempty"`
	Why       string        `json:"why,omitempty"`
	EPT       *eptJSON      `json:"ept,omitempty"` // events_ept.go
	text      func() string // the text form after "ITEM: cpu N icount N rip X: "
	vmxResult *vmx.Outcome
}

// Event names (the "event" member).
const (
	eventVMXInsn      = "vmx-insn"         // a VMX instruction's outcome (not VM entry)
	eventEntry        = "vm-entry"         // VMLAUNCH/VMRESUME entered the guest
	eventEntryFailure = "vm-entry-failure" // VMLAUNCH/VMRESUME failed after loading guest state (SDM 27.8)
	eventExit         = "vm-exit"
	eventAbort        = "vmx-abort"
	eventTriple       = "triple-fault"
	eventException    = "exception"
	eventRDMSR        = "rdmsr"
	eventWRMSR        = "wrmsr"
	eventCRWrite      = "cr-write"
	eventIn           = "in"
	eventOut          = "out"
	eventAPICWrite    = "apic-write"
	eventReset        = "cpu-reset"
)

type faultJSON struct {
	Vector    uint8   `json:"vector"`
	Name      string  `json:"name"`
	ErrorCode *uint32 `json:"error_code,omitempty"`
	Addr      *hexU64 `json:"addr,omitempty"`
	Rule      string  `json:"rule,omitempty"`
	SDM       string  `json:"sdm,omitempty"`
}

func newFaultJSON(f *arch.Fault) *faultJSON {
	if f == nil {
		return nil
	}
	j := &faultJSON{Vector: f.Vector, Name: arch.VectorName(f.Vector), Rule: f.Rule, SDM: f.SDM}
	if f.HasError {
		code := f.Code
		j.ErrorCode = &code
	}
	if f.Vector == arch.VecPF {
		a := hexU64(f.Addr)
		j.Addr = &a
	}
	return j
}

// checkJSON is the VM-entry check that failed: the field by its Appendix B
// name and encoding, its value, the rule and the SDM section.
type checkJSON struct {
	Field         string `json:"field"`
	Encoding      hexU64 `json:"encoding"`
	Value         hexU64 `json:"value"`
	Rule          string `json:"rule"`
	SDM           string `json:"sdm"`
	Qualification uint64 `json:"qualification"`
}

func newCheckJSON(g *vmx.GuestFailure) *checkJSON {
	if g == nil {
		return nil
	}
	name := ""
	if f, ok := vmx.FieldByEnc(g.Field); ok {
		name = f.Name
	}
	return &checkJSON{Field: name, Encoding: hexU64(g.Field), Value: hexU64(g.Value), Rule: g.Rule, SDM: g.SDM, Qualification: g.Qualification}
}

// exitJSON is what a VM exit recorded in the current VMCS (SDM Vol. 3C
// 28.2), read back from its fields; a field the processor does not have
// reads as 0.
type exitJSON struct {
	Reason        uint32 `json:"reason"`
	ReasonName    string `json:"reason_name"`
	EntryFailure  bool   `json:"entry_failure,omitempty"`
	Qualification hexU64 `json:"qualification"`
	GuestLinear   hexU64 `json:"guest_linear"`
	GuestPhysical hexU64 `json:"guest_physical"`
	InsnLength    uint32 `json:"insn_length"`
	InsnInfo      hexU64 `json:"insn_info"`
	IntrInfo      hexU64 `json:"intr_info"`
	IntrError     hexU64 `json:"intr_error"`
	IDTVecInfo    hexU64 `json:"idt_vectoring_info"`
	IDTVecError   hexU64 `json:"idt_vectoring_error"`
	GuestRIP      hexU64 `json:"guest_rip"`
	HostRIP       hexU64 `json:"host_rip"`
}

// VM-exit information fields (SDM Vol. 3D Appendix B.2.2, B.3.3, B.4.2)
// and the guest and host RIP (B.4.3, B.4.4).
const (
	encExitReason     = 0x4402
	encExitQual       = 0x6400
	encGuestLinear    = 0x640A
	encGuestPhysical  = 0x2400
	encExitInsnLen    = 0x440C
	encExitInsnInfo   = 0x440E
	encExitIntrInfo   = 0x4404
	encExitIntrErr    = 0x4406
	encIDTVecInfo     = 0x4408
	encIDTVecErr      = 0x440A
	encGuestRIP       = 0x681E
	encHostRIP        = 0x6C16
	encVMInstrError   = 0x4400
	exitReasonFailBit = 1 << 31
)

// readExit reads the exit information of the current VMCS.
func readExit(v *vmx.CPU) *exitJSON {
	r := uint32(v.CurField(encExitReason))
	return &exitJSON{
		Reason: r & 0xFFFF, ReasonName: vmx.ExitReasonName(r), EntryFailure: r&exitReasonFailBit != 0,
		Qualification: hexU64(v.CurField(encExitQual)),
		GuestLinear:   hexU64(v.CurField(encGuestLinear)), GuestPhysical: hexU64(v.CurField(encGuestPhysical)),
		InsnLength: uint32(v.CurField(encExitInsnLen)), InsnInfo: hexU64(v.CurField(encExitInsnInfo)),
		IntrInfo: hexU64(v.CurField(encExitIntrInfo)), IntrError: hexU64(v.CurField(encExitIntrErr)),
		IDTVecInfo: hexU64(v.CurField(encIDTVecInfo)), IDTVecError: hexU64(v.CurField(encIDTVecErr)),
		GuestRIP: hexU64(v.CurField(encGuestRIP)), HostRIP: hexU64(v.CurField(encHostRIP)),
	}
}

// String is the text form of a VM exit: the reason, then every
// information field that holds something.
func (x *exitJSON) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "VM exit: reason %d (%s), qualification %#x", x.Reason, x.ReasonName, uint64(x.Qualification))
	if x.InsnLength != 0 {
		fmt.Fprintf(&b, ", instruction length %d", x.InsnLength)
	}
	if x.InsnInfo != 0 {
		fmt.Fprintf(&b, ", instruction information %#x", uint64(x.InsnInfo))
	}
	if x.GuestLinear != 0 {
		fmt.Fprintf(&b, ", guest-linear address %#x", uint64(x.GuestLinear))
	}
	if x.GuestPhysical != 0 {
		fmt.Fprintf(&b, ", guest-physical address %#x", uint64(x.GuestPhysical))
	}
	if x.IntrInfo>>31 != 0 {
		fmt.Fprintf(&b, ", interruption information %#x (error code %#x)", uint64(x.IntrInfo), uint64(x.IntrError))
	}
	if x.IDTVecInfo>>31 != 0 {
		fmt.Fprintf(&b, ", IDT-vectoring information %#x (error code %#x)", uint64(x.IDTVecInfo), uint64(x.IDTVecError))
	}
	fmt.Fprintf(&b, "; guest RIP %#x, host RIP %#x", uint64(x.GuestRIP), uint64(x.HostRIP))
	return b.String()
}

type abortJSON struct {
	Rule string `json:"rule"`
	SDM  string `json:"sdm"`
}

// eventFormat is -d-format.
type eventFormat int

const (
	formatText eventFormat = iota
	formatJSON
)

// eventLog writes the events of the items selected.
type eventLog struct {
	w      io.Writer
	format eventFormat
	items  map[string]bool
}

func (l *eventLog) wants(item string) bool { return l != nil && l.items[item] }

// write writes one event.
func (l *eventLog) write(e *event) {
	if l.format == formatJSON {
		b, err := json.Marshal(e)
		if err != nil {
			panic(fmt.Sprintf("event log: %v", err)) // every member marshals
		}
		fmt.Fprintf(l.w, "%s\n", b)
		return
	}
	fmt.Fprintf(l.w, "%s: cpu %d icount %d rip %#x: %s\n", e.Item, e.CPU, e.Icount, uint64(e.RIP), e.text())
}

// eventBase fills the members every event has.
func eventBase(c *cpu.CPU, item, kind string, rip uint64) event {
	return event{Item: item, Event: kind, CPU: c.ID, Icount: c.Retired(), RIP: hexU64(rip)}
}

func ptr[T any](v T) *T { return &v }

// vmxEvent turns a VMX instruction's outcome into an event: the
// instruction's outcome, or — for VMLAUNCH/VMRESUME — a VM entry or a
// VM-entry failure.
func vmxEvent(c *cpu.CPU, o vmx.Outcome) *event {
	e := eventBase(c, "vmx", eventVMXInsn, c.InstructionRIP())
	e.Insn = o.Insn.String()
	e.vmxResult = &o
	e.Why = o.Why
	e.Check = newCheckJSON(o.Check)
	entryInsn := o.Insn == vmx.InsnVMLAUNCH || o.Insn == vmx.InsnVMRESUME
	switch o.Kind {
	case vmx.Succeed:
		e.Outcome = "VMsucceed"
		if entryInsn {
			e.Event, e.Outcome = eventEntry, "VM entry"
			e.GuestRIP = ptr(hexU64(c.RIP))
			e.text = func() string { return fmt.Sprintf("%s: VM entry, guest RIP %#x", o.Insn, c.RIP) }
			return &e
		}
	case vmx.FailInvalid:
		e.Outcome = "VMfailInvalid"
	case vmx.FailValid:
		e.Outcome = "VMfailValid"
		e.Error, e.ErrorText = uint32(o.Err), strings.TrimPrefix(o.Err.String(), fmt.Sprintf("%d ", uint32(o.Err)))
		e.ErrorText = strings.TrimSuffix(strings.TrimPrefix(e.ErrorText, "("), ")")
	case vmx.Fault:
		e.Outcome = "fault"
		e.Fault = newFaultJSON(&o.Fault)
		e.Why = ""
	case vmx.EntryFailed:
		e.Event, e.Outcome = eventEntryFailure, "VM-entry failure"
		if v := c.VMX(); v != nil {
			e.Exit = readExit(v)
		}
	default:
		e.Outcome = "refused"
	}
	s := o.String()
	e.text = func() string { return s }
	return &e
}

// exitEvent is a VM exit, read back from the current VMCS.
func exitEvent(c *cpu.CPU) *event {
	x := readExit(c.VMX())
	e := eventBase(c, "vmx", eventExit, uint64(x.GuestRIP))
	e.Exit = x
	e.text = x.String
	return &e
}

// shutdownEvent is a VMX abort or a triple fault.
func shutdownEvent(c *cpu.CPU, f arch.Fault, why string) *event {
	s := c.GetState()
	if strings.HasPrefix(why, "VMX abort") {
		e := eventBase(c, "vmx", eventAbort, s.RIP)
		e.Abort = &abortJSON{Rule: f.Rule, SDM: f.SDM}
		e.text = func() string { return fmt.Sprintf("%s [SDM %s]", f.Rule, f.SDM) }
		return &e
	}
	e := eventBase(c, "int", eventTriple, s.RIP)
	e.Fault = newFaultJSON(&f)
	e.Why = why
	e.text = func() string { return fmt.Sprintf("%s: %s", why, f.Error()) }
	return &e
}

// exceptionEvent is an exception delivered (not an interrupt).
func exceptionEvent(c *cpu.CPU, vec uint8, f *arch.Fault) *event {
	s := c.GetState()
	e := eventBase(c, "int", eventException, s.RIP)
	if f == nil {
		f = &arch.Fault{Vector: vec}
	}
	f = deliveredFault(vec, f)
	e.Fault = newFaultJSON(f)
	e.text = func() string { return f.Error() }
	return &e
}

func msrEvent(c *cpu.CPU, write bool, idx uint32, val uint64, f *arch.Fault) *event {
	kind, name, arrow := eventRDMSR, "RDMSR", "="
	if write {
		kind, name, arrow = eventWRMSR, "WRMSR", "<-"
	}
	e := eventBase(c, "msr", kind, c.InstructionRIP())
	e.MSR = ptr(hexU64(idx))
	if f == nil || write {
		e.Value = ptr(hexU64(val))
	}
	e.Fault = newFaultJSON(f)
	e.text = func() string {
		if f != nil && !write {
			return fmt.Sprintf("%s %#x: %s", name, idx, f.Error())
		}
		s := fmt.Sprintf("%s %#x %s %#x", name, idx, arrow, val)
		if f != nil {
			s += ": " + f.Error()
		}
		return s
	}
	return &e
}

func crEvent(c *cpu.CPU, cr int, old, val uint64, f *arch.Fault) *event {
	e := eventBase(c, "cr", eventCRWrite, c.InstructionRIP())
	e.CR, e.Old, e.Value = ptr(cr), ptr(hexU64(old)), ptr(hexU64(val))
	e.Fault = newFaultJSON(f)
	e.text = func() string {
		s := fmt.Sprintf("MOV to CR%d %#x (was %#x)", cr, val, old)
		if f != nil {
			s += ": " + f.Error()
		}
		return s
	}
	return &e
}

func ioEvent(c *cpu.CPU, port uint16, size int, val uint32, out bool) *event {
	kind, name, arrow := eventIn, "IN", "->"
	if out {
		kind, name, arrow = eventOut, "OUT", "<-"
	}
	e := eventBase(c, "io", kind, c.InstructionRIP())
	e.Port, e.Size, e.Value = ptr(hexU64(port)), size, ptr(hexU64(val))
	e.text = func() string { return fmt.Sprintf("%s port %#x size %d %s %#x", name, port, size, arrow, val) }
	return &e
}

// apicRegNames are the local APIC registers by xAPIC offset (SDM Vol. 3A
// Table 11-1; the self-IPI register of x2APIC mode, Table 11-6).
var apicRegNames = map[uint32]string{
	0x020: "ID", 0x030: "version", 0x080: "TPR", 0x090: "APR", 0x0A0: "PPR", 0x0B0: "EOI",
	0x0C0: "RRD", 0x0D0: "LDR", 0x0E0: "DFR", 0x0F0: "SVR", 0x280: "ESR", 0x2F0: "LVT CMCI",
	0x300: "ICR low", 0x310: "ICR high", 0x320: "LVT timer", 0x330: "LVT thermal sensor",
	0x340: "LVT performance counters", 0x350: "LVT LINT0", 0x360: "LVT LINT1", 0x370: "LVT error",
	0x380: "timer initial count", 0x390: "timer current count", 0x3E0: "timer divide configuration",
	0x3F0: "self IPI",
}

func apicRegName(reg uint32) string {
	if n, ok := apicRegNames[reg]; ok {
		return n
	}
	switch {
	case reg >= 0x100 && reg < 0x180:
		return fmt.Sprintf("ISR %d", (reg-0x100)>>4)
	case reg >= 0x180 && reg < 0x200:
		return fmt.Sprintf("TMR %d", (reg-0x180)>>4)
	case reg >= 0x200 && reg < 0x280:
		return fmt.Sprintf("IRR %d", (reg-0x200)>>4)
	}
	return "reserved"
}

// apicEvent is a write to a local APIC register.
func apicEvent(c *cpu.CPU, reg uint32, v uint64, x2apic bool) *event {
	e := eventBase(c, "apic", eventAPICWrite, c.InstructionRIP())
	e.Reg, e.RegName, e.Value = ptr(hexU64(reg)), apicRegName(reg), ptr(hexU64(v))
	via := "xAPIC MMIO"
	if x2apic {
		via = fmt.Sprintf("x2APIC WRMSR %#x", 0x800+reg>>4)
		e.MSR = ptr(hexU64(0x800 + reg>>4))
	}
	e.text = func() string { return fmt.Sprintf("write %s (%#x) <- %#x (%s)", apicRegName(reg), reg, v, via) }
	return &e
}

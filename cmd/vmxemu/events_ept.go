package main

import (
	"fmt"
	"strings"

	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/vmx"
)

// The ept item of the event log: EPT violations and misconfigurations
// (from the VM exits they cause, read back from the current VMCS) and
// INVEPT/INVVPID executed in VMX root operation (their exits in non-root
// operation are VM exits of the vmx item).

// eptFeatureEvent is an event of the optional EPT features (cpu.EPTEvent):
// a page-modification log write (SDM Vol. 3C 29.3.6), an EPTP switch by
// VMFUNC (26.5.5.3), a virtualization exception (26.5.6).
func eptFeatureEvent(c *cpu.CPU, x cpu.EPTEvent) *event {
	e := eventBase(c, "ept", x.Kind, c.InstructionRIP())
	e.Why = x.Why
	j := &eptJSON{}
	switch x.Kind {
	case cpu.EPTEventPMLLog:
		j.GPA, j.Addr, j.Index = ptr(hexU64(x.GPA)), ptr(hexU64(x.Addr)), ptr(x.Index)
		e.text = func() string {
			return fmt.Sprintf("PML log: guest-physical %#x at index %d (%#x)", x.GPA, x.Index, x.Addr)
		}
	case cpu.EPTEventVMFUNC:
		j.EPTP, j.Index = ptr(hexU64(x.EPTP)), ptr(x.Index)
		e.text = func() string { return fmt.Sprintf("VMFUNC EPTP switch: EPTP-list entry %d, EPTP %#x", x.Index, x.EPTP) }
	case cpu.EPTEventVE:
		j.GPA, j.Addr, j.Index = ptr(hexU64(x.GPA)), ptr(hexU64(x.Addr)), ptr(x.Index)
		j.Qualification, j.Qual = ptr(hexU64(x.Qualification)), newQualJSON(x.Qualification)
		if x.Qualification&ept.QualLinearValid != 0 {
			j.GLA = ptr(hexU64(x.GLA))
		}
		e.text = func() string {
			return fmt.Sprintf("#VE: EPT violation at guest-physical %#x, qualification %#x (%s), information at %#x: %s",
				x.GPA, x.Qualification, ept.QualificationString(x.Qualification), x.Addr, x.Why)
		}
	}
	e.EPT = j
	return &e
}

// Event names of the ept item.
const (
	eventEPTViolation = "ept-violation"
	eventEPTMisconfig = "ept-misconfig"
	eventINVEPT       = "invept"
	eventINVVPID      = "invvpid"
)

// eptJSON is the ept item's member "ept".
type eptJSON struct {
	// EPT violations and misconfigurations.
	GPA           *hexU64   `json:"gpa,omitempty"`
	GLA           *hexU64   `json:"gla,omitempty"`
	Qualification *hexU64   `json:"qualification,omitempty"`
	Qual          *qualJSON `json:"qual,omitempty"`
	// INVEPT, INVVPID.
	Type     *uint64  `json:"type,omitempty"`
	TypeName string   `json:"type_name,omitempty"`
	EPTP     *hexU64  `json:"eptp,omitempty"`
	VPID     *uint64  `json:"vpid,omitempty"`
	Linear   *hexU64  `json:"linear,omitempty"`
	Desc     []hexU64 `json:"descriptor,omitempty"`
	// PML log writes (pml-log), EPTP switches (eptp-switch) and
	// virtualization exceptions (ve).
	Addr  *hexU64 `json:"addr,omitempty"`
	Index *uint64 `json:"index,omitempty"`
}

// qualJSON is an EPT violation's exit qualification bit by bit (SDM Vol.
// 3C Table 28-7).
type qualJSON struct {
	Read           bool `json:"read"`            // bit 0
	Write          bool `json:"write"`           // bit 1
	Fetch          bool `json:"fetch"`           // bit 2
	Readable       bool `json:"readable"`        // bit 3
	Writable       bool `json:"writable"`        // bit 4
	Executable     bool `json:"executable"`      // bit 5
	UserExecutable bool `json:"user_executable"` // bit 6 (mode-based execute control)
	LinearValid    bool `json:"linear_valid"`    // bit 7
	Translation    bool `json:"translation"`     // bit 8
	User           bool `json:"user"`            // bit 9
	ReadWrite      bool `json:"read_write"`      // bit 10
	ExecuteDisable bool `json:"execute_disable"` // bit 11
	NMIUnblocking  bool `json:"nmi_unblocking"`  // bit 12
}

func newQualJSON(q uint64) *qualJSON {
	b := func(m uint64) bool { return q&m != 0 }
	return &qualJSON{
		Read: b(ept.QualRead), Write: b(ept.QualWrite), Fetch: b(ept.QualFetch),
		Readable: b(ept.QualReadable), Writable: b(ept.QualWritable), Executable: b(ept.QualExecutable),
		UserExecutable: b(ept.QualUserExec),
		LinearValid:    b(ept.QualLinearValid), Translation: b(ept.QualTranslation),
		User: b(ept.QualUser), ReadWrite: b(ept.QualRW), ExecuteDisable: b(ept.QualNX),
		NMIUnblocking: b(ept.QualNMIUnblock),
	}
}

// eptExitEvent is an EPT violation (basic reason 48) or misconfiguration
// (49), from the exit information the VM exit recorded (SDM Vol. 3C
// 28.2.1) and the rule the walk named (cpu.EPTExitWhy).
func eptExitEvent(c *cpu.CPU, reason uint32) *event {
	x := readExit(c.VMX())
	kind := eventEPTMisconfig
	if reason == vmx.ExitEPTViolate {
		kind = eventEPTViolation
	}
	if reason == vmx.ExitPMLFull || reason == vmx.ExitVMFUNC {
		// A page-modification log-full event (29.3.6) or a VMFUNC that
		// exited (26.5.5): the rule, and the qualification (bit 12).
		kind = "pml-full"
		if reason == vmx.ExitVMFUNC {
			kind = "vmfunc-exit"
		}
		e := eventBase(c, "ept", kind, uint64(x.GuestRIP))
		e.Why = c.EPTExitWhy()
		q := x.Qualification
		e.EPT = &eptJSON{Qualification: &q}
		why := e.Why
		e.text = func() string { return kind + ": " + why }
		return &e
	}
	e := eventBase(c, "ept", kind, uint64(x.GuestRIP))
	gpa := x.GuestPhysical
	j := &eptJSON{GPA: &gpa}
	e.Why = c.EPTExitWhy()
	why := e.Why
	if kind == eventEPTMisconfig {
		e.EPT = j
		e.text = func() string { return fmt.Sprintf("EPT misconfiguration at guest-physical %#x: %s", uint64(gpa), why) }
		return &e
	}
	q := uint64(x.Qualification)
	j.Qualification, j.Qual = &x.Qualification, newQualJSON(q)
	where := fmt.Sprintf("guest-physical %#x", uint64(gpa))
	if q&ept.QualLinearValid != 0 {
		gla := x.GuestLinear
		j.GLA = &gla
		where += fmt.Sprintf(", guest-linear %#x", uint64(gla))
	}
	e.EPT = j
	e.text = func() string {
		return fmt.Sprintf("EPT violation at %s: qualification %#x (%s): %s", where, q, ept.QualificationString(q), why)
	}
	return &e
}

// invTypeName names an INVEPT or INVVPID type (SDM Vol. 3C 31.3).
func invTypeName(isEPT bool, t uint64) string {
	names := map[uint64]string{ept.INVVPIDAddr: "individual-address", ept.INVVPIDSingle: "single-context",
		ept.INVVPIDAll: "all-context", ept.INVVPIDRetainG: "single-context-retaining-globals"}
	if isEPT {
		names = map[uint64]string{ept.INVEPTSingle: "single-context", ept.INVEPTAll: "all-context"}
	}
	if n, ok := names[t]; ok {
		return n
	}
	return "unsupported"
}

// invEvent is an INVEPT or INVVPID executed in VMX root operation: its
// type, descriptor and outcome.
func invEvent(c *cpu.CPU, o vmx.Outcome) *event {
	isEPT := o.Insn == vmx.InsnINVEPT
	kind := eventINVVPID
	if isEPT {
		kind = eventINVEPT
	}
	base := vmxEvent(c, o)
	e := eventBase(c, "ept", kind, c.InstructionRIP())
	e.Insn, e.Outcome, e.Error, e.ErrorText, e.Fault, e.Why = base.Insn, base.Outcome, base.Error, base.ErrorText, base.Fault, base.Why
	ops := c.InvOperands()
	j := &eptJSON{}
	var parts []string
	if ops.HasType {
		typ := ops.Type
		j.Type, j.TypeName = &typ, invTypeName(isEPT, typ)
		parts = append(parts, fmt.Sprintf("%s (type %d)", j.TypeName, typ))
	}
	if ops.HasDesc {
		j.Desc = []hexU64{hexU64(ops.Desc[0]), hexU64(ops.Desc[1])}
		switch {
		case isEPT && ops.Type == ept.INVEPTSingle:
			eptp := hexU64(ops.Desc[0])
			j.EPTP = &eptp
			parts = append(parts, fmt.Sprintf("EPTP %#x", ops.Desc[0]))
		case !isEPT:
			vpid := ops.Desc[0] & 0xFFFF
			j.VPID = &vpid
			parts = append(parts, fmt.Sprintf("VPID %d", vpid))
			if ops.Type == ept.INVVPIDAddr {
				lin := hexU64(ops.Desc[1])
				j.Linear = &lin
				parts = append(parts, fmt.Sprintf("linear address %#x", ops.Desc[1]))
			}
		}
	}
	e.EPT = j
	head := o.Insn.String()
	if len(parts) > 0 {
		head += " " + strings.Join(parts, ", ")
	}
	rest := strings.TrimPrefix(o.String(), o.Insn.String()+": ")
	e.text = func() string { return head + ": " + rest }
	return &e
}

package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/disasm"
	"github.com/vmxemu/vmxemu/vmx"
)

// The fault summary: at the end of a run, the first fault of each kind —
// each exception vector, VMfail, VM-entry failure, VMX abort, triple
// fault — with the state that caused it, so that a user sees why without
// reading a log (-no-explain silences it). It also keeps the last fault,
// for gdb's "monitor explain".

// faultRecord is one fault and the state that caused it.
type faultRecord struct {
	Kind   string // "#GP", "VMfail", "VM-entry failure", "VMX abort", "triple fault"
	CPU    int
	Icount uint64
	CS     uint16
	RIP    uint64 // of the instruction that caused it
	Linear uint64
	Bytes  []byte // the instruction's bytes (nil if not readable)
	Insn   string // the instruction in Intel syntax (package disasm), or its name when it does not decode
	Why    string // the outcome with its rule and SDM section
	// NonRoot: the CPU was in VMX non-root operation.
	NonRoot bool
}

// String is the record on one line.
func (r *faultRecord) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: CPU %d, icount %d, CS:RIP %04x:%#x", r.Kind, r.CPU, r.Icount, r.CS, r.RIP)
	if r.NonRoot {
		b.WriteString(" (VMX non-root)")
	}
	if r.Bytes != nil {
		fmt.Fprintf(&b, ", bytes % x", r.Bytes)
	} else {
		b.WriteString(", bytes not readable")
	}
	if r.Insn != "" {
		fmt.Fprintf(&b, " (%s)", r.Insn)
	}
	fmt.Fprintf(&b, ": %s", r.Why)
	return strings.ReplaceAll(b.String(), "\n", " ")
}

// faultSummary collects the records.
type faultSummary struct {
	order []string
	first map[string]*faultRecord
	last  *faultRecord
	// lastOf is the last fault of each CPU.
	lastOf map[int]*faultRecord
	// keepLast: last and lastOf are kept (the gdb stub's monitor
	// explain reads them). Without it only the first fault of each kind
	// is captured: a fault of a kind already seen costs one map lookup,
	// not a record (capturing one walks the page tables for the
	// instruction's bytes and disassembles them — a quarter of the time
	// of kvm-unit-tests' access test, which takes millions of #PF).
	keepLast bool
	// seenVec[v], set only without keepLast: a fault of vector v's kind
	// was recorded and nothing more of it will be, so exception returns
	// before the map lookup.
	seenVec [256]bool
}

func newFaultSummary(keepLast bool) *faultSummary {
	return &faultSummary{first: map[string]*faultRecord{}, lastOf: map[int]*faultRecord{}, keepLast: keepLast}
}

// wants tells whether a fault of kind is recorded.
func (s *faultSummary) wants(kind string) bool {
	if s.keepLast {
		return true
	}
	_, seen := s.first[kind]
	return !seen
}

// record keeps r as the last fault, and as the first of its kind.
func (s *faultSummary) record(r *faultRecord) {
	s.last = r
	s.lastOf[r.CPU] = r
	if _, ok := s.first[r.Kind]; !ok {
		s.first[r.Kind] = r
		s.order = append(s.order, r.Kind)
	}
}

// newRecord captures the state of c at the instruction at rip.
func newRecord(c *cpu.CPU, kind string, rip uint64, why string) *faultRecord {
	s := c.GetState()
	cs := s.Seg[arch.CS]
	r := &faultRecord{Kind: kind, CPU: c.ID, Icount: c.Retired(), CS: cs.Selector, RIP: rip, Why: why}
	if v := c.VMX(); v != nil {
		r.NonRoot = v.Guest()
	}
	r.Linear = rip
	bits := 64
	if !s.Mode64() {
		r.Linear = (cs.Base + rip) & 0xFFFFFFFF
		bits = 16
		if cs.Attr&arch.ARDB != 0 {
			bits = 32
		}
	}
	buf := make([]byte, maxInsnBytes)
	n := len(buf)
	for n > 0 && !c.ReadLinear(r.Linear, buf[:n]) {
		n-- // the instruction may end before an unmapped page
	}
	if n > 0 {
		if l, _, ok := cpu.DecodeLength(buf[:n], bits); ok && l > 0 {
			n = l
		}
		r.Bytes = buf[:n]
		// vmxemu's own formatter, whatever the build: the summary reads
		// the same with and without the capstone tag.
		if in, ok := disasm.New().Disasm(r.Bytes, rip, bits); ok && !in.Bad {
			r.Insn = in.String()
		}
	}
	return r
}

// exception records an exception (not an interrupt or INT n) at delivery:
// RIP is the instruction that faulted (for a trap, the next one).
func (s *faultSummary) exception(c *cpu.CPU, vec uint8, f *arch.Fault, external bool) {
	if external || f == nil || s.seenVec[vec] {
		return
	}
	kind := arch.VectorName(vec)
	if !s.wants(kind) {
		s.seenVec[vec] = !s.keepLast
		return
	}
	st := c.GetState()
	s.record(newRecord(c, kind, st.RIP, deliveredFault(vec, f).Error()))
	s.seenVec[vec] = !s.keepLast
}

// deliveredFault is the exception delivered: f, or for a double fault the
// #DF the hook reports with the exception that caused it (cpu.Hooks gives
// the second exception of the pair).
func deliveredFault(vec uint8, f *arch.Fault) *arch.Fault {
	if f.Vector == vec {
		return f
	}
	return &arch.Fault{Vector: vec, HasError: vec == arch.VecDF,
		Rule: fmt.Sprintf("a second exception while delivering the first, %s", f.Error()), SDM: "Vol. 3A 6.15, Table 6-5"}
}

// vmxOutcome records a VMfail or a VM-entry failure (the #UD and #GP of
// VMX instructions come as exceptions).
func (s *faultSummary) vmxOutcome(c *cpu.CPU, o *vmx.Outcome) {
	var kind string
	switch o.Kind {
	case vmx.FailInvalid, vmx.FailValid:
		kind = "VMfail"
	case vmx.EntryFailed:
		kind = "VM-entry failure"
	default:
		return
	}
	if !s.wants(kind) {
		return
	}
	r := newRecord(c, kind, c.InstructionRIP(), o.String())
	if r.Insn == "" {
		r.Insn = o.Insn.String()
	}
	s.record(r)
}

// shutdown records a VMX abort or a triple fault.
func (s *faultSummary) shutdown(c *cpu.CPU, f arch.Fault, why string) {
	kind := "triple fault"
	if strings.HasPrefix(why, "VMX abort") {
		kind = "VMX abort"
	}
	if !s.wants(kind) {
		return
	}
	st := c.GetState()
	s.record(newRecord(c, kind, st.RIP, why+": "+f.Error()))
}

// print writes the summary. Every line says "warning": kvm-unit-tests'
// runner (scripts/vmm.bash, qemu_fixup_return_code) counts a stderr line
// without it as an emulator failure, and its tests provoke faults on
// purpose.
func (s *faultSummary) print(w io.Writer) {
	if len(s.order) == 0 {
		return
	}
	fmt.Fprintf(w, "vmxemu: warning: fault summary, the first of each kind (-no-explain silences it):\n")
	for _, k := range s.order {
		fmt.Fprintf(w, "vmxemu: warning:   %s\n", s.first[k])
	}
}

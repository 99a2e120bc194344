package mmu

import (
	"fmt"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Step is one paging-structure entry a walk used (the page-walk
// explainer): its level, where it is and what it holds.
type Step struct {
	// Level is 5 for a PML5E ... 1 for a PTE (32-bit paging: 2 PDE, 1 PTE).
	Level int
	// Addr is the physical (guest-physical under EPT) address of the entry,
	// Entry its value, Index the linear-address bits that selected it.
	Addr, Entry, Index uint64
	// Wide: an 8-byte entry (every mode but 32-bit paging).
	Wide bool
	// Register: a PAE PDPTE, used from the PDPTE registers loaded by MOV
	// to CR3 (SDM Vol. 3A 4.4.1), not read by the walk; Addr is where it
	// was loaded from.
	Register bool
	// Page: the entry maps the page (a PTE, or a PDE/PDPTE with PS=1).
	Page bool
}

// Name is the entry's name (PML4E, PDE...).
func (s Step) Name() string { return entryName(s.Level) }

// Flags are the entry's flags in the style of Bochs' "page" command:
// upper case when set, lower case when clear (XD, G, PS, D, A, PCD, PWT,
// U/S, R/W, P; SDM Vol. 3A Tables 4-4 to 4-20).
func (s Step) Flags() string {
	var b []string
	flag := func(bit uint, name string) {
		if s.Entry>>bit&1 != 0 {
			b = append(b, strings.ToUpper(name))
		} else {
			b = append(b, name)
		}
	}
	if s.Wide && !s.Register {
		flag(63, "xd")
	}
	if !s.Register {
		if s.Page {
			flag(8, "g")
		}
		flag(7, "ps")
		flag(6, "d")
		flag(5, "a")
	}
	flag(4, "pcd")
	flag(3, "pwt")
	if !s.Register {
		flag(2, "u")
		flag(1, "w")
	}
	flag(0, "p")
	return strings.Join(b, " ")
}

func (s Step) String() string {
	at := fmt.Sprintf("at %#x", s.Addr)
	if s.Register {
		at = fmt.Sprintf("register (loaded from %#x)", s.Addr)
	}
	v := fmt.Sprintf("0x%08x", s.Entry)
	if s.Wide {
		v = fmt.Sprintf("0x%016x", s.Entry)
	}
	return fmt.Sprintf("%s[%d] %s = %s  %s", s.Name(), s.Index, at, v, s.Flags())
}

// tracer records the entries a walk uses (walk's tr); a nil tracer
// records nothing, so Walk pays one comparison per entry.
type tracer struct{ steps []Step }

func (t *tracer) entry(level int, pa, e, idx uint64, reg bool) {
	if t == nil {
		return
	}
	t.steps = append(t.steps, Step{Level: level, Addr: pa, Entry: e, Index: idx, Wide: true, Register: reg})
}

// page marks the last entry as the one that maps the page.
func (t *tracer) page() {
	if t == nil || len(t.steps) == 0 {
		return
	}
	t.steps[len(t.steps)-1].Page = true
}

// Explanation is a walk explained: every entry it used and its outcome.
type Explanation struct {
	Lin    uint64
	Mode   Mode
	Access Access
	// Steps are the entries used, top-down; under 32-bit paging they are
	// 4-byte entries (Wide false).
	Steps []Step
	// Translation is the outcome when Fault is nil and not Refused.
	Translation Translation
	// Fault is the page fault the access would raise, with its rule.
	Fault *arch.Fault
	// Refused: PhysMem refused a read of the entry after the last step
	// (under EPT: an EPT violation or misconfiguration).
	Refused bool
}

// Explain walks lin for acc as Walk does — the same code, with every entry
// it uses recorded — without side effects: the accessed and dirty flags
// are not set (writes to m are dropped). It is the page-walk explainer's
// guest half (SDM Vol. 3A chapter 4).
func Explain(m PhysMem, r *Regs, lin uint64, acc Access) Explanation {
	tr := &tracer{}
	t, f := walkPtr(readOnly{m}, r, lin, acc, tr)
	if r.Mode() == Mode32Bit {
		for i := range tr.steps {
			tr.steps[i].Wide = false
		}
	}
	return Explanation{Lin: lin, Mode: r.Mode(), Access: acc, Steps: tr.steps, Translation: t, Fault: f, Refused: t.Refused}
}

// PhysAddr is the physical address lin translates to (valid when the walk
// succeeded).
func (e *Explanation) PhysAddr() uint64 { return e.Translation.PhysAddr(e.Lin) }

// OK reports whether the walk translated the address.
func (e *Explanation) OK() bool { return e.Fault == nil && !e.Refused }

// readOnly drops the walk's writes (A/D flags): Explain has no side effects.
type readOnly struct{ m PhysMem }

func (r readOnly) ReadPhys64(pa uint64) (uint64, bool) { return r.m.ReadPhys64(pa) }
func (r readOnly) ReadPhys32(pa uint64) (uint32, bool) { return r.m.ReadPhys32(pa) }
func (readOnly) WritePhys64(uint64, uint64) bool       { return true }
func (readOnly) WritePhys32(uint64, uint32) bool       { return true }

// String names an access: "supervisor read", "user write",
// "supervisor fetch", "implicit supervisor read".
func (a Access) String() string {
	who := "supervisor"
	if a.userMode() {
		who = "user"
	}
	if a.Implicit {
		who = "implicit supervisor"
	}
	what := "read"
	switch {
	case a.Fetch:
		what = "fetch"
	case a.Write:
		what = "write"
	}
	return who + " " + what
}

// Rights names the access rights of a translation (SDM Vol. 3A 4.6):
// "writable, user, executable".
func (t *Translation) Rights() string {
	parts := []string{"read-only", "supervisor", "executable"}
	if t.Writable {
		parts[0] = "writable"
	}
	if t.User {
		parts[1] = "user"
	}
	if t.NX {
		parts[2] = "execute-disable"
	}
	return strings.Join(parts, ", ")
}

package ept

import "fmt"

// Step is one EPT paging-structure entry a walk read (for explanations:
// the page-walk explainer of issue 15).
type Step struct {
	Level int    // 5 PML5E, 4 PML4E, 3 PDPTE, 2 PDE, 1 PTE
	Name  string // "PML4E" and so on
	Addr  uint64 // host-physical address of the entry
	Entry uint64 // its value
	Index uint64 // the guest-physical address bits that selected it
	// Perm is bits 2:0 of the entry (R, W, X); Leaf says it maps a page.
	Perm uint8
	Leaf bool
}

func (s Step) String() string {
	head := fmt.Sprintf("%-5s [%3d] at %#x = %#016x  ", s.Name, s.Index, s.Addr, s.Entry)
	if s.Entry&EntrySuppressVE != 0 && (s.Leaf || s.Perm == 0) {
		// Bit 63 counts only in the entry that decides a violation:
		// a not-present one or the leaf (SDM Vol. 3C 26.5.6.1).
		head += "suppress-#VE  "
	}
	switch {
	case s.Perm == 0:
		return head + "not present"
	case s.Leaf:
		return head + fmt.Sprintf("%s  -> page %#x, %s", permString(s.Perm), s.Entry&^0xFFF&(1<<52-1), MemTypeName(uint8(s.Entry>>3&7)))
	}
	return head + fmt.Sprintf("%s  -> table %#x", permString(s.Perm), s.Entry&^0xFFF&(1<<52-1))
}

// Explain walks gpa through the EPT hierarchy of eptp — the same code as
// Walk, with every entry it reads recorded — without setting accessed or
// dirty flags, and returns those entries with the outcome (whose Why
// names the rule of a refusal).
func Explain(m Mem, c Caps, eptp uint64, gpa uint64, a Access) ([]Step, Result) {
	return ExplainCtl(m, c, Controls{}, eptp, gpa, a)
}

// ExplainCtl is Explain under the VM-execution controls that change the
// walk (WalkCtl): mode-based execute control shows bit 10 of each entry
// ("user-execute") and decides a fetch by Access.User; a full
// page-modification log shows as the LogFull outcome.
func ExplainCtl(m Mem, c Caps, ctl Controls, eptp uint64, gpa uint64, a Access) ([]Step, Result) {
	var steps []Step
	r := walk(readOnly{m}, c, ctl, eptp, gpa, a, &steps)
	return steps, r
}

// readOnly drops writes: Explain has no side effects.
type readOnly struct{ m Mem }

func (r readOnly) ReadPhys64(a uint64) (uint64, bool) { return r.m.ReadPhys64(a) }
func (readOnly) WritePhys64(uint64, uint64) bool      { return true }

// MemTypeName names an EPT memory type (leaf bits 5:3, SDM Vol. 3C
// 29.3.7; the encodings of Vol. 3A Table 13-8): UC, WC, WT, WP, WB; 2, 3
// and 7 are reserved (a misconfiguration).
func MemTypeName(t uint8) string {
	switch t {
	case 0:
		return "UC"
	case 1:
		return "WC"
	case 4:
		return "WT"
	case 5:
		return "WP"
	case 6:
		return "WB"
	}
	return fmt.Sprintf("reserved memory type %d", t)
}

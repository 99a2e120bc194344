package ept

import "fmt"

// Mem is host-physical memory as the EPT walk sees it: 8-byte entries at
// host-physical addresses (EPT paging structures are always host-physical,
// SDM Vol. 3C 29.3.2). ok=false means nothing answers at that address.
type Mem interface {
	ReadPhys64(hpa uint64) (uint64, bool)
	WritePhys64(hpa uint64, v uint64) bool
}

// Access describes a guest-physical access (SDM Vol. 3C 29.3.3.2, Table
// 28-7).
type Access struct {
	// Write and Fetch select a data write or an instruction fetch;
	// neither is a data read.
	Write, Fetch bool
	// Paging: the access is to a guest paging-structure entry (or a PAE
	// PDPTE), read or written for its A/D flags; with EPT A/D flags on it
	// counts as a write (29.3.3.2, 29.3.5).
	Paging bool
	// LinearValid: the access has a guest-linear address (Table 28-7 bit
	// 7; every access but the PDPTE loads of MOV to CR3 and the like).
	LinearValid bool
	// User: the linear address is a user-mode address (U/S = 1 in every
	// guest paging-structure entry, or guest paging off): under
	// mode-based execute control a fetch from it needs bit 10 of the EPT
	// entries, not bit 2 (SDM Vol. 3C 29.3.3.2).
	User bool
}

// Controls are the VM-execution controls that change the walk (SDM Vol.
// 3C 25.6.2, Table 25-7); the zero value is a walk with none of them.
type Controls struct {
	// MBEC is "mode-based execute control for EPT" (secondary control
	// 22): bit 2 of an entry allows instruction fetches from
	// supervisor-mode linear addresses and bit 10 (XU) fetches from
	// user-mode ones; an entry with only bit 10 set is present (29.3.2,
	// 29.3.3).
	MBEC bool
	// LogFull: "enable PML" (secondary control 17) is 1 and the PML index
	// is not in the range 0-511. A walk that would set an accessed or
	// dirty flag is then a page-modification log-full event: no flag is
	// set and the access does not occur (29.3.6).
	LogFull bool
}

// Outcome of a walk.
type Kind uint8

const (
	OK            Kind = iota
	Violation          // EPT violation, exit reason 48 (29.3.3.2)
	Misconfigured      // EPT misconfiguration, exit reason 49 (29.3.3.1)
	LogFull            // page-modification log-full event, exit reason 62 (29.3.6)
)

// Result is the outcome of translating one guest-physical address.
type Result struct {
	Kind Kind
	// HPA is the host-physical address the guest-physical address maps to
	// (OK only), PageSize the size of the EPT page (4 KiB, 2 MiB, 1 GiB).
	HPA      uint64
	PageSize uint64
	// Perm are the permissions of the translation, the AND of bits 2:0
	// (R, W, X) of every entry used (on a violation, of the entries read
	// up to the failing one); under mode-based execute control bit 3
	// (PermXU) is the AND of their bit 10 (execute for user-mode linear
	// addresses), 0 otherwise.
	Perm uint8
	// MemType is the EPT memory type (leaf bits 5:3) and IgnorePAT the
	// leaf's bit 6 (29.3.7).
	MemType   uint8
	IgnorePAT bool
	// Qualification is the exit qualification of an EPT violation (Table
	// 28-7); 0 otherwise (a misconfiguration has none: 28.2.1).
	Qualification uint64
	// Level is the level of the entry that decided the outcome (5 PML5E,
	// 4 PML4E, 3 PDPTE, 2 PDE, 1 PTE; 0 when no entry was read).
	Level int
	// EntryAddr and Entry are that entry's host-physical address and value.
	EntryAddr, Entry uint64
	// Why names the rule of a refusal with its SDM section.
	Why string
	// Dirtied: the walk changed the dirty flag of the leaf from 0 to 1
	// (29.3.5), which page-modification logging logs (29.3.6).
	Dirtied bool
}

// Convertible reports whether an EPT violation may become a
// virtualization exception (SDM Vol. 3C 26.5.6.1): bit 63 ("suppress
// #VE") of the one entry that decides is 0 — the entry that is not
// present, or the leaf that maps the page. A guest-physical address
// beyond the EPT's width has no such entry: not convertible.
func (r Result) Convertible() bool {
	return r.Kind == Violation && r.Level > 0 && r.Entry&EntrySuppressVE == 0
}

// Exit-qualification bits of an EPT violation (SDM Vol. 3C Table 28-7).
const (
	QualRead        = 1 << 0  // the access was a data read
	QualWrite       = 1 << 1  // the access was a data write
	QualFetch       = 1 << 2  // the access was an instruction fetch
	QualReadable    = 1 << 3  // AND of bit 0 of the entries used
	QualWritable    = 1 << 4  // AND of bit 1
	QualExecutable  = 1 << 5  // AND of bit 2
	QualLinearValid = 1 << 7  // the guest-linear-address field is valid
	QualTranslation = 1 << 8  // (with bit 7) the access was to the final translation, not a paging-structure entry
	QualUser        = 1 << 9  // advanced information (bit 8 set): a user-mode linear address
	QualRW          = 1 << 10 // advanced information: a read/write linear address
	QualNX          = 1 << 11 // advanced information: an execute-disable linear address
	QualNMIUnblock  = 1 << 12 // NMI unblocking due to IRET
	// QualUserExec (bit 6) is, under mode-based execute control, the AND
	// of bit 10 of the entries used (executable for user-mode linear
	// addresses); undefined (0 here) otherwise.
	QualUserExec = 1 << 6
)

// PermXU is bit 3 of Result.Perm and Step.Perm: the entries allow
// fetches from user-mode linear addresses (bit 10, mode-based execute
// control only).
const PermXU = 1 << 3

// EntrySuppressVE is bit 63 of an EPT paging-structure entry: "suppress
// #VE" (SDM Vol. 3C 29.3.2, 26.5.6.1).
const EntrySuppressVE = 1 << 63

// Entry bits (SDM Vol. 3C 29.3.2, Tables 29-1 to 29-8).
const (
	entR         = 1 << 0
	entW         = 1 << 1
	entX         = 1 << 2
	entPS        = 1 << 7 // in a PDPTE or PDE: maps a page
	entAccessed  = 1 << 8
	entDirty     = 1 << 9
	entIgnorePAT = 1 << 6
	entXU        = 1 << 10 // execute for user-mode linear addresses (MBEC)
)

var levelName = [...]string{"", "PTE", "PDE", "PDPTE", "PML4E", "PML5E"}

// Walk translates guest-physical address gpa through the EPT hierarchy
// of eptp for one access (SDM Vol. 3C 29.3.2), checking each entry as it
// is read: not present is an EPT violation, a misconfigured entry an EPT
// misconfiguration (which takes priority over a violation at a lower
// level or in the permissions, 29.3.3); then the permissions of the
// whole path (29.3.3.2). With EPTP bit 6 it sets the accessed flag of
// every entry used and, for a write, the dirty flag of the leaf (29.3.5).
// eptp is assumed to have passed CheckEPTP.
func Walk(m Mem, c Caps, eptp uint64, gpa uint64, a Access) Result {
	return walk(m, c, Controls{}, eptp, gpa, a, nil)
}

// WalkCtl is Walk under VM-execution controls that change it:
// mode-based execute control and a full page-modification log.
func WalkCtl(m Mem, c Caps, ctl Controls, eptp uint64, gpa uint64, a Access) Result {
	return walk(m, c, ctl, eptp, gpa, a, nil)
}

// perm returns an entry's permission bits as Result.Perm holds them:
// bits 2:0, and bit 10 as PermXU under mode-based execute control.
func perm(e uint64, mbec bool) uint8 {
	p := uint8(e & 7)
	if mbec && e&entXU != 0 {
		p |= PermXU
	}
	return p
}

// walk is Walk; steps, when not nil, receives every entry the walk reads
// (Explain).
func walk(m Mem, c Caps, ctl Controls, eptp uint64, gpa uint64, a Access, steps *[]Step) Result {
	p := Pointer(eptp)
	levels := p.Levels()
	ad := p.AD()
	// For A/D purposes and for the access bits of the qualification, an
	// access to a guest paging structure is a write when A/D flags are on
	// (29.3.3.2: "treated as writes"), else a read.
	write := a.Write || a.Paging && ad
	r := Result{Perm: perm(entR|entW|entX|entXU, ctl.MBEC)}
	max := c.MaxPhysAddr
	if max == 0 || max > 52 {
		max = 52
	}
	addrMask := uint64(1)<<max - 1
	// Guest-physical addresses have 48 bits with 4-level EPT, 57 with
	// 5-level: higher bits leave the PML4 (PML5) table and cannot be
	// translated (29.3.2), an EPT violation with nothing readable.
	if width := uint(12 + 9*levels); width < 64 && gpa>>width != 0 {
		r.Perm = 0
		return violation(r, a, write, 0, fmt.Sprintf("guest-physical address %#x has bits beyond the %d bits a %d-level EPT translates (SDM Vol. 3C 29.3.2)", gpa, width, levels))
	}
	table := p.Root() & addrMask
	var used [5]uint64 // host-physical addresses of the entries used, for A/D
	for lvl := levels; lvl >= 1; lvl-- {
		shift := uint(12 + 9*(lvl-1))
		ea := table | gpa>>shift&0x1FF<<3
		e, ok := m.ReadPhys64(ea)
		if !ok {
			// Nothing answers at the entry's address: reads as all ones
			// would be misconfigured; vmxemu reports the unbacked
			// structure as a misconfiguration naming the address.
			r.Kind, r.Level, r.EntryAddr = Misconfigured, lvl, ea
			r.Why = fmt.Sprintf("EPT %s at host-physical %#x is outside memory (SDM Vol. 3C 29.3.3.1)", levelName[lvl], ea)
			r.Perm = 0
			return r
		}
		r.Level, r.EntryAddr, r.Entry = lvl, ea, e
		used[lvl-1] = ea
		leaf := lvl == 1 || (lvl == 2 || lvl == 3) && e&entPS != 0
		ep := perm(e, ctl.MBEC)
		if steps != nil {
			*steps = append(*steps, Step{Level: lvl, Name: levelName[lvl], Addr: ea, Entry: e, Index: gpa >> shift & 0x1FF, Perm: ep, Leaf: leaf && ep != 0})
		}
		if ep == 0 {
			// Not present (29.3.2: bits 2:0 all 0, and bit 10 too under
			// mode-based execute control).
			r.Perm = 0
			what := "bits 2:0 are 0"
			if ctl.MBEC {
				what = "bits 2:0 and 10 are 0"
			}
			return violation(r, a, write, lvl, fmt.Sprintf("EPT %s %#x at %#x is not present (%s) (SDM Vol. 3C 29.3.3.2)", levelName[lvl], e, ea, what))
		}
		if why := misconfigured(c, ctl, e, lvl, leaf, addrMask); why != "" {
			r.Kind = Misconfigured
			r.Why = fmt.Sprintf("EPT %s %#x at %#x: %s (SDM Vol. 3C 29.3.3.1)", levelName[lvl], e, ea, why)
			return r
		}
		r.Perm &= ep
		if !leaf {
			table = e &^ 0xFFF & addrMask
			continue
		}
		size := uint64(1) << shift
		r.PageSize = size
		r.HPA = e&addrMask&^(size-1) | gpa&(size-1)
		r.MemType = uint8(e >> 3 & 7)
		r.IgnorePAT = e&entIgnorePAT != 0
		need := uint8(entR)
		switch {
		case a.Fetch && ctl.MBEC && a.User:
			// 29.3.3.2: under mode-based execute control a fetch from a
			// user-mode linear address needs bit 10, from a
			// supervisor-mode one bit 2.
			need = PermXU
		case a.Fetch:
			need = entX
		case write:
			need = entW
		}
		if r.Perm&need == 0 {
			return violation(r, a, write, lvl, fmt.Sprintf("the EPT entries for guest-physical %#x allow %s, not %s (SDM Vol. 3C 29.3.3.2)", gpa, permString(r.Perm), accessString(a, write)))
		}
		if ad {
			// 29.3.5: accessed flags on every entry used, the dirty flag
			// on the leaf for a write. 29.3.6: when a flag is to be set
			// and the PML index is out of range, the access stops
			// there as a page-modification log-full event, no flag set.
			var set [5]uint64
			any := false
			for l := levels; l >= lvl; l-- {
				v, _ := m.ReadPhys64(used[l-1])
				nv := v | entAccessed
				if l == lvl && write {
					nv |= entDirty
				}
				set[l-1] = nv &^ v
				any = any || nv != v
			}
			if any && ctl.LogFull {
				r.Kind, r.HPA, r.PageSize = LogFull, 0, 0
				r.Why = fmt.Sprintf("accessing guest-physical %#x would set an EPT accessed or dirty flag and the PML index is not in 0-511: page-modification log full (SDM Vol. 3C 29.3.6)", gpa)
				return r
			}
			for l := levels; l >= lvl; l-- {
				if set[l-1] != 0 {
					v, _ := m.ReadPhys64(used[l-1])
					m.WritePhys64(used[l-1], v|set[l-1])
				}
			}
			r.Dirtied = set[lvl-1]&entDirty != 0
		}
		return r
	}
	panic("unreachable")
}

// misconfigured returns why a present EPT entry is misconfigured (SDM
// Vol. 3C 29.3.3.1), or "": write without read, execute-only without
// the capability, reserved bits (Tables 29-1 to 29-8: bits 7:3 of a
// PML5E/PML4E, 6:3 of a non-leaf PDPTE/PDE, the page-offset bits of a
// 1-GiB or 2-MiB page, bits 51:MAXPHYADDR, a large page the processor
// does not allow), a leaf memory type of 2, 3 or 7.
func misconfigured(c Caps, ctl Controls, e uint64, lvl int, leaf bool, addrMask uint64) string {
	switch {
	case e&entR == 0 && e&entW != 0:
		return "bit 1 (write) is 1 while bit 0 (read) is 0"
	case e&7 == entX && !c.Has(CapExecOnly):
		return "execute-only (bits 2:0 = 100b) and IA32_VMX_EPT_VPID_CAP bit 0 does not allow it"
	case ctl.MBEC && e&7 == 0 && e&entXU != 0 && !c.Has(CapExecOnly):
		return "execute-only for user-mode addresses (bits 2:0 = 000b, bit 10 = 1, mode-based execute control) and IA32_VMX_EPT_VPID_CAP bit 0 does not allow it"
	}
	if x := e & (1<<52 - 1) &^ addrMask; x != 0 {
		return fmt.Sprintf("reserved bits 51:%d are not 0", bitsLen(addrMask))
	}
	switch {
	case lvl >= 4 && e&0xF8 != 0:
		return "reserved bits 7:3 are not 0"
	case lvl == 3 && e&entPS != 0 && !c.Has(Cap1G):
		return "bit 7 (1-GiB page) is 1 and IA32_VMX_EPT_VPID_CAP bit 17 does not allow 1-GiB pages"
	case lvl == 2 && e&entPS != 0 && !c.Has(Cap2M):
		return "bit 7 (2-MiB page) is 1 and IA32_VMX_EPT_VPID_CAP bit 16 does not allow 2-MiB pages"
	case !leaf && e&0x78 != 0:
		return "reserved bits 6:3 of a non-leaf entry are not 0"
	case leaf && lvl == 3 && e&0x3FFFF000 != 0:
		return "reserved bits 29:12 of a 1-GiB page are not 0"
	case leaf && lvl == 2 && e&0x1FF000 != 0:
		return "reserved bits 20:12 of a 2-MiB page are not 0"
	}
	if leaf {
		if mt := e >> 3 & 7; mt == 2 || mt == 3 || mt == 7 {
			return fmt.Sprintf("bits 5:3 (EPT memory type) are %d, a reserved memory type (29.3.7)", mt)
		}
	}
	return ""
}

func bitsLen(mask uint64) int {
	n := 0
	for mask != 0 {
		n++
		mask >>= 1
	}
	return n
}

// violation completes an EPT-violation result with its exit
// qualification (Table 28-7).
func violation(r Result, a Access, write bool, lvl int, why string) Result {
	r.Kind, r.Why = Violation, why
	if lvl == 0 {
		r.Level = 0
	}
	q := uint64(r.Perm) << 3 // bits 5:3: readable, writable, executable
	switch {
	case a.Fetch:
		q |= QualFetch
	case write && a.Paging:
		// A guest paging-structure access treated as a write (any
		// access with EPT A/D flags on: Table 28-7 note 1 sets both bit
		// 0 and bit 1; an A/D update without them is a read-modify-write,
		// whose bit 0 is implementation-specific (28.2.1) and set here,
		// as KVM and the kvm-unit-tests ept_access_test_paddr_* expect).
		q |= QualRead | QualWrite
	case write:
		q |= QualWrite
	default:
		q |= QualRead
	}
	if a.LinearValid {
		q |= QualLinearValid
		if !a.Paging {
			q |= QualTranslation
		}
	}
	r.Qualification = q
	r.HPA, r.PageSize = 0, 0
	return r
}

func permString(p uint8) string {
	if p == 0 {
		return "no access"
	}
	s := ""
	for i, n := range []string{"read", "write", "execute", "user-execute"} {
		if p>>i&1 != 0 {
			if s != "" {
				s += "+"
			}
			s += n
		}
	}
	return s
}

func accessString(a Access, write bool) string {
	switch {
	case a.Fetch && a.User:
		return "an instruction fetch (user-mode linear address)"
	case a.Fetch:
		return "an instruction fetch"
	case a.Paging && write && !a.Write:
		return "a guest paging-structure access (a write for EPT A/D flags)"
	case write:
		return "a data write"
	}
	return "a data read"
}

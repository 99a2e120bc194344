package mmu

import (
	"math/bits"
	"strconv"

	"github.com/vmxemu/vmxemu/arch"
)

// PhysMem is what the walker reads and writes paging-structure entries
// through. Reads and writes are little-endian and naturally aligned. An
// access may be refused (ok=false): the addresses are guest-physical, and
// under EPT reading a paging-structure entry can cause an EPT violation or
// misconfiguration, a VM exit rather than a guest fault. The walk then stops
// at once and reports Translation.Refused; the PhysMem implementation
// holds the reason.
//
// The processor updates accessed and dirty flags with locked
// read-modify-write operations (SDM Vol. 3A 4.8); the walker models them as
// a read followed by a write of the same entry, which is exact for a
// single-threaded caller.
type PhysMem interface {
	ReadPhys64(pa uint64) (uint64, bool)
	ReadPhys32(pa uint64) (uint32, bool)
	WritePhys64(pa uint64, v uint64) bool
	WritePhys32(pa uint64, v uint32) bool
}

// Regs is the paging-relevant control state.
type Regs struct {
	CR0, CR3, CR4, EFER uint64
	// PKRU is the user protection-key rights register (SDM 4.6.2): AD_i is
	// bit 2i, WD_i bit 2i+1.
	PKRU uint32
	// PKRS is the supervisor protection-key rights MSR IA32_PKRS, used for
	// supervisor-mode addresses when CR4.PKS=1 (SDM 4.6.2). Same layout.
	PKRS uint32
	// MaxPhysAddr is MAXPHYADDR (CPUID.80000008H:EAX[7:0]), e.g. 46. Zero is
	// taken as 36, the value of processors that do not report it.
	MaxPhysAddr uint
	// RFLAGSAC is RFLAGS.AC, which lifts SMAP for explicit supervisor data
	// accesses (SDM 4.6.1).
	RFLAGSAC bool
	// PDPTE are the four PDPTE registers of PAE paging, as loaded by
	// LoadPDPTEs at MOV to CR0/CR3/CR4 time (SDM 4.4.1). Only PAE paging
	// uses them; 4-level and 5-level paging read PDPTEs from memory.
	PDPTE [4]uint64
	// No1GPages says the processor does not support 1-GByte pages
	// (CPUID.80000001H:EDX.Page1GB[bit 26] = 0), which makes the PS flag of
	// a PDPTE reserved (SDM 4.5).
	No1GPages bool
}

// Mode is a paging mode of SDM Vol. 3A 4.1.1.
type Mode uint8

// Paging modes.
const (
	ModeNone   Mode = iota // CR0.PG=0
	Mode32Bit              // CR0.PG=1, CR4.PAE=0
	ModePAE                // CR0.PG=1, CR4.PAE=1, IA32_EFER.LMA=0
	Mode4Level             // CR0.PG=1, CR4.PAE=1, IA32_EFER.LMA=1, CR4.LA57=0
	Mode5Level             // CR0.PG=1, CR4.PAE=1, IA32_EFER.LMA=1, CR4.LA57=1
)

func (m Mode) String() string {
	switch m {
	case ModeNone:
		return "none"
	case Mode32Bit:
		return "32-bit"
	case ModePAE:
		return "PAE"
	case Mode4Level:
		return "4-level"
	case Mode5Level:
		return "5-level"
	}
	return "Mode(" + strconv.Itoa(int(m)) + ")"
}

// Mode returns the paging mode selected by CR0.PG, CR4.PAE, IA32_EFER.LMA
// and CR4.LA57 (SDM Vol. 3A 4.1.1, Table 4-1). The processor sets LMA when
// it enables paging with EFER.LME=1, so LMA, not LME, selects IA-32e paging.
func (r *Regs) Mode() Mode {
	switch {
	case r.CR0&arch.CR0PG == 0:
		return ModeNone
	case r.CR4&arch.CR4PAE == 0:
		return Mode32Bit
	case r.EFER&arch.EFERLMA == 0:
		return ModePAE
	case r.CR4&arch.CR4LA57 == 0:
		return Mode4Level
	}
	return Mode5Level
}

func (r *Regs) maxPhys() uint {
	if r.MaxPhysAddr == 0 {
		return 36
	}
	if r.MaxPhysAddr > 52 {
		return 52
	}
	return r.MaxPhysAddr
}

// Access describes one access.
type Access struct {
	Write bool // data write (including the write half of a read-modify-write)
	Fetch bool // instruction fetch
	// User is set for accesses made at CPL 3.
	User bool
	// Implicit marks an implicit supervisor-mode access (GDT, LDT, IDT, TSS,
	// ... references; SDM 4.6): it is a supervisor-mode access even at
	// CPL 3, so User is then ignored, and SMAP applies to it whatever
	// RFLAGS.AC says.
	Implicit bool
}

// userMode reports whether the access is a user-mode access (SDM 4.6).
func (a Access) userMode() bool { return a.User && !a.Implicit }

// Translation is the result of a successful walk for one 4-KiB linear page.
type Translation struct {
	// PhysPage is the physical address of the 4-KiB frame that holds the
	// linear address (already offset into a large page).
	PhysPage uint64
	// PageSize is the size of the mapping: 4 KiB, 2 MiB, 4 MiB or 1 GiB.
	PageSize uint64
	// Writable: R/W=1 in every paging-structure entry used (SDM 4.6).
	Writable bool
	// User: U/S=1 in every entry used, i.e. a user-mode address (SDM 4.6).
	User bool
	// NX: IA32_EFER.NXE=1 and XD=1 in some entry used (SDM 4.6). Always
	// false under 32-bit paging, which has no XD flag.
	NX bool
	// Global: G=1 in the entry that maps the page and CR4.PGE=1 (SDM 4.10.2.4).
	Global bool
	// Dirty: the mapping entry's D flag was set or has been set by this walk.
	// A TLB may use the translation for a write only if Dirty (SDM 4.8, 4.10.2.2).
	Dirty bool
	// PKey is the protection key (bits 62:59 of the mapping entry) under
	// 4-level and 5-level paging with CR4.PKE or CR4.PKS; otherwise 0.
	PKey uint8
	// PATIndex is PAT*4 + PCD*2 + PWT of the mapping entry, the index into
	// IA32_PAT that selects the memory type (SDM 11.12.3).
	PATIndex uint8
	// Refused: the walk stopped because PhysMem refused an access to a
	// paging-structure entry (see PhysMem). It is neither a translation
	// nor a fault; the fault result is nil.
	Refused bool
}

// PhysAddr returns the physical address of lin within the translation.
func (t *Translation) PhysAddr(lin uint64) uint64 { return t.PhysPage | lin&pageMask }

// Check applies the access rights of the translation to acc (SDM Vol. 3A
// 4.6) under the control state r, and returns the page fault the access
// causes, or nil. Walk calls it after a successful walk; a TLB can call it
// on a hit. A write through a translation with Dirty=false must go through
// Walk so that the D flag gets set.
func (t *Translation) Check(r *Regs, lin uint64, acc Access) *arch.Fault {
	code, rule, sdm := t.check(r, acc)
	if rule == "" {
		return nil
	}
	return &arch.Fault{Vector: arch.VecPF, HasError: true, Code: code, Rule: rule, SDM: sdm, Addr: lin}
}

// baseCode returns the error-code bits that describe the access itself
// (SDM 4.7): W/R, U/S and I/D.
func baseCode(r *Regs, acc Access) uint32 {
	var c uint32
	if acc.Write {
		c |= arch.PFErrWR
	}
	if acc.userMode() {
		c |= arch.PFErrUS
	}
	// I/D is 1 for a fetch only if CR4.SMEP=1 or (CR4.PAE=1 and
	// IA32_EFER.NXE=1) (SDM 4.7).
	if acc.Fetch && (r.CR4&arch.CR4SMEP != 0 || r.CR4&arch.CR4PAE != 0 && r.EFER&arch.EFERNXE != 0) {
		c |= arch.PFErrID
	}
	return c
}

// check returns the error code, rule and SDM reference of the fault, with
// rule == "" when the access is allowed.
func (t *Translation) check(r *Regs, acc Access) (uint32, string, string) {
	user := acc.userMode()
	code := arch.PFErrP | baseCode(r, acc)
	var rule, sdm string

	// Protection keys (SDM 4.6.2) apply to data accesses only, and only in
	// IA-32e mode. The PK flag of the error code reports a key that
	// disallows the access even when another rule also fails (SDM 4.7).
	var pkRule string
	if !acc.Fetch && r.EFER&arch.EFERLMA != 0 {
		var rights uint32
		var ad, wd string
		switch {
		case t.User && r.CR4&arch.CR4PKE != 0:
			rights, ad, wd = r.PKRU>>(2*uint(t.PKey)), RulePKUAccessDisable, RulePKUWriteDisable
		case !t.User && r.CR4&arch.CR4PKS != 0:
			rights, ad, wd = r.PKRS>>(2*uint(t.PKey)), RulePKSAccessDisable, RulePKSWriteDisable
		}
		switch {
		case rights&1 != 0: // AD_i: no data access at all
			pkRule = ad
		case rights&2 != 0 && acc.Write && (user || r.CR0&arch.CR0WP != 0): // WD_i
			pkRule = wd
		}
		if pkRule != "" {
			code |= arch.PFErrPK
		}
	}

	wp := r.CR0&arch.CR0WP != 0
	if acc.Fetch {
		switch {
		case user && !t.User:
			rule = RuleUserFetchSupervisor
		case !user && t.User && r.CR4&arch.CR4SMEP != 0:
			rule = RuleSMEP
		case t.NX:
			rule = RuleNX
		}
	} else if user {
		switch {
		case !t.User:
			rule = RuleUserSupervisorPage
		case acc.Write && !t.Writable:
			rule = RuleUserWriteReadOnly
		}
	} else {
		switch {
		case t.User && r.CR4&arch.CR4SMAP != 0 && acc.Implicit:
			rule = RuleSMAPImplicit
		case t.User && r.CR4&arch.CR4SMAP != 0 && !r.RFLAGSAC:
			rule = RuleSMAP
		case acc.Write && !t.Writable && wp:
			// With CR0.WP=0 supervisor writes ignore R/W (SDM 4.6.1).
			rule = RuleWriteReadOnlyWP
		}
	}
	if rule != "" {
		sdm = SDMRights
	} else if pkRule != "" {
		rule, sdm = pkRule, SDMProtKeys
	}
	return code, rule, sdm
}

// Paging-structure entry bits (SDM Vol. 3A 4.3-4.5).
const (
	pteP    = 1 << 0
	pteRW   = 1 << 1
	pteUS   = 1 << 2
	ptePWT  = 1 << 3
	ptePCD  = 1 << 4
	pteA    = 1 << 5
	pteD    = 1 << 6
	ptePS   = 1 << 7
	pteG    = 1 << 8
	ptePAT4 = 1 << 7  // PAT in a PTE
	ptePATL = 1 << 12 // PAT in an entry with PS=1
	pteXD   = 1 << 63

	pageMask = 0xFFF
)

// entryName names the entry of a paging-structure level (1 = PTE).
func entryName(level int) string {
	switch level {
	case 1:
		return EntryPTE
	case 2:
		return EntryPDE
	case 3:
		return EntryPDPTE
	case 4:
		return EntryPML4E
	}
	return EntryPML5E
}

// pageFault writes the #PF for lin into out (SDM 4.7) and returns the
// walk's result for it: no translation, faulted.
func pageFault(out *arch.Fault, lin uint64, code uint32, rule, sdm string) (Translation, bool) {
	*out = arch.Fault{Vector: arch.VecPF, HasError: true, Code: code, Rule: rule, SDM: sdm, Addr: lin}
	return Translation{}, true
}

// notPresentRule is the rule of a not-present fault at a level: "<ENTRY>
// not present (P=0)". Each text is a constant: a fault allocates nothing.
func notPresentRule(level int) string {
	switch level {
	case 1:
		return EntryPTE + RuleNotPresentSuffix
	case 2:
		return EntryPDE + RuleNotPresentSuffix
	case 3:
		return EntryPDPTE + RuleNotPresentSuffix
	case 4:
		return EntryPML4E + RuleNotPresentSuffix
	}
	return EntryPML5E + RuleNotPresentSuffix
}

func notPresent(out *arch.Fault, r *Regs, lin uint64, acc Access, level int, sdm string) (Translation, bool) {
	return pageFault(out, lin, baseCode(r, acc), notPresentRule(level), sdm)
}

// reservedRules holds the rule of a reserved-bit fault for every level
// (index level-1) and highest reserved bit set: "reserved bit <n> set in
// <ENTRY>". It is built once and never written: a fault allocates nothing.
var reservedRules = func() (t [5][64]string) {
	for level := 1; level <= 5; level++ {
		for b := range 64 {
			t[level-1][b] = RuleReservedPrefix + strconv.Itoa(b) + " set in " + entryName(level)
		}
	}
	return t
}()

// reservedRule is the rule of a reserved-bit fault: rsvd holds the
// reserved bits set (not 0) in the entry of the level (1 = PTE).
func reservedRule(rsvd uint64, level int) string {
	return reservedRules[level-1][bits.Len64(rsvd)-1]
}

func reserved(out *arch.Fault, r *Regs, lin uint64, acc Access, rsvd uint64, level int, sdm string) (Translation, bool) {
	return pageFault(out, lin, arch.PFErrP|arch.PFErrRSVD|baseCode(r, acc), reservedRule(rsvd, level), sdm)
}

// bitRange returns a mask of bits hi:lo (empty if hi < lo).
func bitRange(hi, lo uint) uint64 {
	if hi < lo {
		return 0
	}
	return (^uint64(0) >> (63 - hi)) &^ (1<<lo - 1)
}

// Walk translates lin for acc (SDM Vol. 3A chapter 4).
//
// On failure it returns a page fault (vector 14) whose error code is built as
// SDM 4.7 says, whose Addr is lin (the value for CR2), and whose Rule and SDM
// name the check that failed. Entries are checked top-down: an entry with
// P=0 stops the walk with a not-present fault (its reserved bits are not
// checked), an entry with P=1 and a reserved bit set stops it with a
// reserved-bit fault; only a complete translation has its access rights
// checked (SDM 4.7: "there is no valid translation ... if the translation
// process would use a paging-structure entry in which the P flag is 0 or one
// that sets a reserved bit").
//
// Accessed flags are set in every entry used and the dirty flag in the
// mapping entry for a write (SDM 4.8), top-down, and only when the access
// succeeds: a faulting access leaves memory untouched. This is a modelling
// choice within what the SDM allows, not the only reading: the #PF entry of
// SDM Vol. 3A 6.15 notes (in a footnote) that a page-level protection
// violation sets the PDE's accessed flag and that the PTE's is model
// specific, and SDM 4.8 says only that entries "used" for translation get A.
//
// When CR0.PG=0 the identity translation is returned: linear addresses are
// physical addresses, all accesses are allowed (SDM 4.1.1).
func Walk(m PhysMem, r *Regs, lin uint64, acc Access) (Translation, *arch.Fault) {
	return walkPtr(m, r, lin, acc, nil)
}

// WalkTo is Walk with the page fault written to *f: faulted reports
// whether it was. It allocates nothing, for the callers that take faults
// at a high rate (the CPU's translate).
func WalkTo(m PhysMem, r *Regs, lin uint64, acc Access, f *arch.Fault) (t Translation, faulted bool) {
	return walk(m, r, lin, acc, nil, f)
}

// Path is what a 4-level or 5-level walk knew before it read each
// level's entry (SDM Vol. 3A 4.5): the physical address of the table
// that holds the entry, and whether the entries above allow writes (R/W),
// user-mode accesses (U/S) and set XD with IA32_EFER.NXE=1 (4.6). A walk
// given a Path records into it; it can then begin a later walk below the
// top level.
//
// Start, when it lies between 1 and the top level less one, makes the
// walk begin at level Start, from Table[Start] and Flags[Start], without
// reading the entries above. That is the walk from CR3 only when the
// caller knows that every entry above Start for the new linear address
// is the entry the recording walk read (same CR3, same index bits above
// Start) and still holds the value it read up to the accessed and dirty
// flags, with the accessed flag set, under the same paging mode,
// MAXPHYADDR, IA32_EFER.NXE and 1-GByte page support. The walk from CR3
// would then read those entries, find each present with no reserved bit
// (4.5: the checks depend on nothing else, and A and D are never
// reserved), reach the same table with the same R/W, U/S and XD, and
// write nothing to them (4.8: A is already set; D is set only in the
// entry that maps the page, which is below Start). Start = 0 walks from
// CR3.
//
// After the walk, Deepest is the lowest level whose Table and Flags it
// set (the level whose entry it read last); the walk set them for every
// level from Start (or the top) down to Deepest.
type Path struct {
	Start, Deepest int
	Table          [6]uint64
	Flags          [6]uint8 // PathRW | PathUS | PathXD
}

// Path.Flags bits.
const (
	PathRW = 1 << iota
	PathUS
	PathXD
)

// WalkPath is WalkTo recording into p (see Path), or beginning at
// p.Start, under 4-level and 5-level paging; other paging modes walk as
// WalkTo and set p.Deepest to 0.
func WalkPath(m PhysMem, r *Regs, lin uint64, acc Access, p *Path, f *arch.Fault) (t Translation, faulted bool) {
	switch r.Mode() {
	case Mode4Level:
		maxPA := r.maxPhys()
		return walk64p(m, r, lin, acc, r.CR3&bitRange(maxPA-1, 12), 4, bitRange(51, maxPA), SDMLong, nil, f, p)
	case Mode5Level:
		maxPA := r.maxPhys()
		return walk64p(m, r, lin, acc, r.CR3&bitRange(maxPA-1, 12), 5, bitRange(51, maxPA), SDMLong, nil, f, p)
	}
	p.Deepest = 0
	return walk(m, r, lin, acc, nil, f)
}

// walkPtr is walk with the fault returned as a pointer (nil: none).
func walkPtr(m PhysMem, r *Regs, lin uint64, acc Access, tr *tracer) (Translation, *arch.Fault) {
	var f arch.Fault
	t, faulted := walk(m, r, lin, acc, tr, &f)
	if !faulted {
		return t, nil
	}
	out := f
	return t, &out
}

// walk is WalkTo; tr, when not nil, is told of every paging-structure
// entry the walk uses, in the order it uses them (Explain).
func walk(m PhysMem, r *Regs, lin uint64, acc Access, tr *tracer, f *arch.Fault) (Translation, bool) {
	switch r.Mode() {
	case ModeNone:
		return Translation{PhysPage: lin &^ pageMask, PageSize: 1 << 12, Writable: true, User: true, Dirty: true}, false
	case Mode32Bit:
		return walk32(m, r, lin, acc, tr, f)
	case ModePAE:
		idx := (lin >> 30) & 3
		pdpte := r.PDPTE[idx]
		tr.entry(3, r.CR3&0xFFFFFFE0|idx<<3, pdpte, idx, true)
		if pdpte&pteP == 0 {
			return notPresent(f, r, lin, acc, 3, SDMPAE)
		}
		// The PDPTE registers were checked for reserved bits when loaded
		// (SDM 4.4.1); they carry no R/W, U/S, XD or accessed flag.
		maxPA := r.maxPhys()
		rsvd := bitRange(62, maxPA) // PAE entries: bits 62:M reserved (SDM 4.4.2)
		return walk64(m, r, lin, acc, pdpte&bitRange(maxPA-1, 12), 2, rsvd, SDMPAE, tr, f)
	case Mode4Level:
		maxPA := r.maxPhys()
		return walk64(m, r, lin, acc, r.CR3&bitRange(maxPA-1, 12), 4, bitRange(51, maxPA), SDMLong, tr, f)
	default:
		maxPA := r.maxPhys()
		return walk64(m, r, lin, acc, r.CR3&bitRange(maxPA-1, 12), 5, bitRange(51, maxPA), SDMLong, tr, f)
	}
}

// walk64 walks 64-bit paging structures from the table at physical address
// table whose entries are of the given level (5 = PML5E ... 1 = PTE). rsvd
// holds the reserved high-address bits common to every level of the mode.
func walk64(m PhysMem, r *Regs, lin uint64, acc Access, table uint64, top int, rsvd uint64, sdm string, tr *tracer, f *arch.Fault) (Translation, bool) {
	return walk64p(m, r, lin, acc, table, top, rsvd, sdm, tr, f, nil)
}

// walk64p is walk64 recording into p, or beginning at p.Start (Path), when
// p is not nil.
func walk64p(m PhysMem, r *Regs, lin uint64, acc Access, table uint64, top int, rsvd uint64, sdm string, tr *tracer, f *arch.Fault, p *Path) (Translation, bool) {
	maxPA := r.maxPhys()
	nxe := r.EFER&arch.EFERNXE != 0
	if !nxe {
		rsvd |= pteXD // XD is reserved when IA32_EFER.NXE=0 (SDM 4.4.2, 4.5)
	}
	addrMask := bitRange(maxPA-1, 12)

	var pas, es [5]uint64 // the entries used and the values read
	n := 0
	rw, us, xd := true, true, false
	start := top
	if p != nil && p.Start > 0 && p.Start < top {
		start = p.Start
		table = p.Table[start]
		fl := p.Flags[start]
		rw, us, xd = fl&PathRW != 0, fl&PathUS != 0, fl&PathXD != 0
	}
	for level := start; ; level-- {
		shift := uint(12 + 9*(level-1))
		pa := table + (lin>>shift&511)*8
		if p != nil {
			var fl uint8
			if rw {
				fl |= PathRW
			}
			if us {
				fl |= PathUS
			}
			if xd {
				fl |= PathXD
			}
			p.Table[level], p.Flags[level], p.Deepest = table, fl, level
		}
		e, ok := m.ReadPhys64(pa)
		if !ok {
			return Translation{Refused: true}, false
		}
		tr.entry(level, pa, e, lin>>shift&511, false)
		if e&pteP == 0 {
			return notPresent(f, r, lin, acc, level, sdm)
		}
		bad := e & rsvd
		leaf := level == 1
		switch level {
		case 5, 4:
			bad |= e & ptePS // PS is reserved in a PML5E and a PML4E (SDM 4.5)
		case 3:
			if e&ptePS != 0 {
				if r.No1GPages {
					bad |= ptePS
				} else {
					leaf = true
					bad |= e & bitRange(29, 13) // 1-GByte page: bits 29:13 reserved
				}
			}
		case 2:
			if e&ptePS != 0 {
				leaf = true
				bad |= e & bitRange(20, 13) // 2-MByte page: bits 20:13 reserved
			}
		}
		if bad != 0 {
			return reserved(f, r, lin, acc, bad, level, sdm)
		}
		pas[n], es[n] = pa, e
		n++
		if leaf {
			tr.page()
		}
		rw = rw && e&pteRW != 0
		us = us && e&pteUS != 0
		xd = xd || e&pteXD != 0 && nxe
		if !leaf {
			table = e & addrMask
			continue
		}

		size := uint64(1) << shift
		t := Translation{
			PhysPage: e&addrMask&^(size-1) | lin&(size-1)&^pageMask,
			PageSize: size,
			Writable: rw,
			User:     us,
			NX:       xd,
			Global:   e&pteG != 0 && r.CR4&arch.CR4PGE != 0,
			Dirty:    e&pteD != 0,
			PATIndex: uint8(e>>3) & 3,
		}
		if level == 1 {
			t.PATIndex |= uint8(e>>5) & 4 // bit 7
		} else {
			t.PATIndex |= uint8(e>>10) & 4 // bit 12
		}
		if r.EFER&arch.EFERLMA != 0 && r.CR4&(arch.CR4PKE|arch.CR4PKS) != 0 {
			t.PKey = uint8(e>>59) & 15
		}
		code, rule, rsdm := t.check(r, acc)
		if rule != "" {
			return pageFault(f, lin, code, rule, rsdm)
		}
		// The entries' values are those read above: nothing wrote
		// memory since, except these A/D updates themselves, which
		// are carried into later uses of the same entry (a
		// self-referencing table maps an entry at several levels).
		for i := 0; i < n; i++ {
			set := uint64(pteA)
			if i == n-1 && acc.Write {
				set |= pteD
			}
			if v := es[i]; v&set != set {
				if !m.WritePhys64(pas[i], v|set) {
					return Translation{Refused: true}, false
				}
				for j := i + 1; j < n; j++ {
					if pas[j] == pas[i] {
						es[j] |= set
					}
				}
			}
		}
		t.Dirty = t.Dirty || acc.Write
		return t, false
	}
}

// walk32 is 32-bit paging (SDM Vol. 3A 4.3).
func walk32(m PhysMem, r *Regs, lin uint64, acc Access, tr *tracer, f *arch.Fault) (Translation, bool) {
	lin32 := uint32(lin)
	pdeAddr := r.CR3&0xFFFFF000 | uint64(lin32>>22)<<2
	pde, ok := m.ReadPhys32(pdeAddr)
	if !ok {
		return Translation{Refused: true}, false
	}
	tr.entry(2, pdeAddr, uint64(pde), uint64(lin32>>22), false)
	if pde&pteP == 0 {
		return notPresent(f, r, lin, acc, 2, SDM32Bit)
	}
	var t Translation
	var pteAddr uint64 // valid when !large
	var entry uint32   // the entry that maps the page
	large := pde&ptePS != 0 && r.CR4&arch.CR4PSE != 0
	if large {
		// 4-MByte page. Bits 20:13 hold physical-address bits (M-1):32 with
		// M = min(40, MAXPHYADDR) (PSE-36); bits 21:(M-19) are reserved.
		maxPA := min(max(r.maxPhys(), 32), 40)
		if bad := uint64(pde) & bitRange(21, maxPA-19); bad != 0 {
			return reserved(f, r, lin, acc, bad, 2, SDM32BitPDE4M)
		}
		t.PageSize = 4 << 20
		t.PhysPage = uint64(pde&0xFFC00000) | uint64(pde>>13&0xFF)<<32 | uint64(lin32&0x003FF000)
		t.PATIndex = uint8(pde>>3)&3 | uint8(pde>>10)&4
		entry = pde
		tr.page()
	} else {
		// With CR4.PSE=0 the PS flag is ignored; a PDE that references a
		// page table and a PTE have no reserved bits (SDM 4.3).
		pteAddr = uint64(pde&0xFFFFF000) | uint64(lin32>>12&0x3FF)<<2
		pte, ok := m.ReadPhys32(pteAddr)
		if !ok {
			return Translation{Refused: true}, false
		}
		tr.entry(1, pteAddr, uint64(pte), uint64(lin32>>12&0x3FF), false)
		if pte&pteP == 0 {
			return notPresent(f, r, lin, acc, 1, SDM32Bit)
		}
		t.PageSize = 4 << 10
		t.PhysPage = uint64(pte & 0xFFFFF000)
		t.PATIndex = uint8(pte>>3)&3 | uint8(pte>>5)&4
		entry = pte
		tr.page()
	}
	t.Writable = pde&entry&pteRW != 0
	t.User = pde&entry&pteUS != 0
	t.Global = entry&pteG != 0 && r.CR4&arch.CR4PGE != 0
	t.Dirty = entry&pteD != 0
	code, rule, sdm := t.check(r, acc)
	if rule != "" {
		return pageFault(f, lin, code, rule, sdm)
	}
	if !setAD32(m, pdeAddr, large && acc.Write) || !large && !setAD32(m, pteAddr, acc.Write) {
		return Translation{Refused: true}, false
	}
	t.Dirty = t.Dirty || acc.Write
	return t, false
}

// setAD32 sets the accessed flag, and the dirty flag if dirty, in the
// 32-bit entry at pa (SDM 4.8); false if an access was refused.
func setAD32(m PhysMem, pa uint64, dirty bool) bool {
	set := uint32(pteA)
	if dirty {
		set |= pteD
	}
	v, ok := m.ReadPhys32(pa)
	if ok && v&set != set {
		ok = m.WritePhys32(pa, v|set)
	}
	return ok
}

// LoadPDPTEs reads the four PDPTEs of PAE paging from the 32-byte aligned
// table at CR3[31:5], as MOV to CR0, CR3 or CR4 does when it leaves the
// processor in PAE paging (SDM Vol. 3A 4.4.1). A PDPTE with P=1 and a
// reserved bit set (bits 2:1, 8:5 and 63:MAXPHYADDR) makes the MOV fail with
// #GP(0), and the PDPTE registers are not loaded. The caller stores the
// result in Regs.PDPTE. ok is false when PhysMem refused a read (and the
// fault is nil).
func LoadPDPTEs(m PhysMem, r *Regs) (pdpte [4]uint64, f *arch.Fault, ok bool) {
	var out [4]uint64
	base := r.CR3 & 0xFFFFFFE0
	rsvd := bitRange(2, 1) | bitRange(8, 5) | bitRange(63, r.maxPhys())
	for i := range out {
		e, ok := m.ReadPhys64(base + uint64(i)*8)
		if !ok {
			return [4]uint64{}, nil, false
		}
		if e&pteP != 0 {
			if bad := e & rsvd; bad != 0 {
				f := arch.GPFault(0, RulePDPTEReservedPrefix+strconv.Itoa(i)+" has P=1 and reserved bit "+
					strconv.Itoa(bits.Len64(bad)-1)+" set", SDMPDPTELoad)
				return [4]uint64{}, &f, true
			}
		}
		out[i] = e
	}
	return out, nil, true
}

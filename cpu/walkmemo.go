package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// The walk memo: a per-CPU record of recent successful page walks, used
// to refill the TLB after a flush without redoing the walk's work.
//
// It is not a paging-structure cache in the SDM's sense (Vol. 3A 4.10.3):
// nothing in it survives a change of memory. Each record holds the
// control state the walk ran under (mmu.Regs, compared whole), the access
// (write, fetch, user, implicit), where in host memory each
// paging-structure entry the walk used lives, and the entry's value after
// the walk (accessed and dirty flags included). A later walk for the same
// page and access under the same control state reuses the record only if
// every one of those entries still holds that value: the walk would then
// read the same entries (the path is a function of their values and the
// control state), make the same checks with the same result, and write
// nothing (the accessed flags, and the dirty flag of a write, are already
// set). So a hit is exactly the walk's outcome, whatever was invalidated
// in between (MOV CR3, CR4.PGE, INVLPG, INVPCID flush the TLB as the SDM
// says; the memo then only saves the walk's cost, never its reads of
// memory).
//
// Records are made for 4-level and 5-level paging outside EPT, with every
// paging-structure entry in RAM (physMem.ReadPhys64 reports where); other
// walks are never memoised. Only successful walks are recorded: faults
// always walk.

const walkMemoSize = 256

type walkMemoEntry struct {
	key  uint64 // page | access bits | 1 (valid)
	regs mmu.Regs
	n    int
	ent  [5]*uint64 // the entries used, top-down, in their host pages
	val  [5]uint64  // their values after the walk
	tr   mmu.Translation
	// pg is the host page of tr.PhysPage (fill, mem.go), nil until
	// fill has resolved it: a RAM frame's host page never changes once
	// allocated (phys.go), so it holds for as long as the record does.
	// hfn is its host frame number.
	pg  *[4096]byte
	hfn uint64
}

type walkMemo struct {
	e [walkMemoSize]walkMemoEntry
	// Recording of the walk in progress (physMem.ReadPhys64): on says
	// the walk is memoisable so far, n entries were read.
	on  bool
	n   int
	ent [5]*uint64
	// last is the record memoWalk's latest call hit or made (nil when it
	// walked without one), for fill to note the host page in.
	last *walkMemoEntry
	// path is the last walk's path, for a walk that the record does not
	// answer to begin below the entries that did not change (walkPath).
	path walkPath
}

// walkPath is the path of the last walk memoWalk made (mmu.Path): where
// the entries it read live, by level, and their values after it, with
// the control state they were read under. A later walk for an address
// with the same index bits above a level L begins at L when every entry
// above L still holds its value, with the accessed flag set: mmu.Path
// says why that walk is the walk from CR3. (kvm-unit-tests' access test
// rewrites the PDE and PTE of its test address before every access and
// leaves the entries above alone.)
type walkPath struct {
	mmu.Path
	ok  bool
	lin uint64
	// The control state the upper levels' checks and table addresses
	// depend on (SDM Vol. 3A 4.5): CR3, the paging mode (CR0.PG,
	// CR4.PAE, CR4.LA57, IA32_EFER.LMA), IA32_EFER.NXE and MAXPHYADDR.
	// 1-GByte page support is not among them: it decides only what a
	// PDPTE with PS=1 is (a page, or a reserved-bit fault), and such an
	// entry is never one a walk begins below (its level is the walk's
	// last, so the path has no table below it).
	cr3, mode   uint64
	maxPhysAddr uint
	ent         [6]*uint64 // by level
	val         [6]uint64
}

// pathMode is the paging-mode and NXE part of r that walkPath compares.
func pathMode(r *mmu.Regs) uint64 {
	return r.CR0&arch.CR0PG | r.CR4&(arch.CR4PAE|arch.CR4LA57) | r.EFER&(arch.EFERLMA|arch.EFERNXE)
}

// pathStart returns the level the walk for lin under r can begin at (0:
// at the top, from CR3) and notes the entries above it as read, in
// memo.ent, for the record the walk makes.
func (m *walkMemo) pathStart(r *mmu.Regs, lin uint64) int {
	p := &m.path
	if !p.ok || p.cr3 != r.CR3 || p.mode != pathMode(r) || p.maxPhysAddr != r.MaxPhysAddr {
		return 0
	}
	top := 4
	if r.CR4&arch.CR4LA57 != 0 {
		top = 5
	}
	start := 0
	for l := top; l >= 2 && l-1 >= p.Deepest; l-- {
		shift := uint(12 + 9*(l-1))
		v := p.val[l]
		if (lin^p.lin)>>shift&511 != 0 || *p.ent[l] != v || v&pteAccessed == 0 {
			break
		}
		m.ent[top-l] = p.ent[l]
		start = l - 1
	}
	if start != 0 {
		m.n = top - start
	}
	return start
}

// pteAccessed is the accessed flag of a paging-structure entry (SDM Vol.
// 3A 4.8).
const pteAccessed = 1 << 5

// pathNote records the path of the walk for lin under r that memoWalk
// just made: memo.ent holds its entries from the top, the ones pathStart
// noted first. A walk with an entry outside RAM (memo.on false) or
// refused leaves no path.
func (m *walkMemo) pathNote(r *mmu.Regs, lin uint64, refused bool) {
	p := &m.path
	top := 4
	if r.CR4&arch.CR4LA57 != 0 {
		top = 5
	}
	if !m.on || refused || m.n == 0 || p.Deepest != top-m.n+1 {
		p.ok = false
		return
	}
	for i := 0; i < m.n; i++ {
		l := top - i
		p.ent[l] = m.ent[i]
		p.val[l] = *m.ent[i]
	}
	p.ok, p.lin = true, lin
	p.cr3, p.mode, p.maxPhysAddr = r.CR3, pathMode(r), r.MaxPhysAddr
}

// walkMemoKey is the memo key of an access to the page of lin.
func walkMemoKey(lin uint64, acc mmu.Access) uint64 {
	k := lin&^0xfff | 1
	if acc.Write {
		k |= 2
	}
	if acc.Fetch {
		k |= 4
	}
	if acc.User {
		k |= 8
	}
	if acc.Implicit {
		k |= 16
	}
	return k
}

// slot is where the record for key under control state r goes. CR3 and
// CR4 take part, so that code switching between two address spaces or
// toggling CR4.PGE (kvm-unit-tests' vmexit_cr4_pge) keeps both states'
// records.
func (m *walkMemo) slot(key uint64, r *mmu.Regs) *walkMemoEntry {
	return m.slotAt(key, r.CR3, r.CR4)
}

// slotAt is slot for control state with the given CR3 and CR4.
func (m *walkMemo) slotAt(key, cr3, cr4 uint64) *walkMemoEntry {
	h := key>>12 ^ key>>18 ^ key ^ cr3>>12 ^ cr4>>3
	return &m.e[(h^h>>6)&(walkMemoSize-1)]
}

// memoWalk is mmu.Walk for translate, through the memo when the paging
// mode and EPT allow. A page fault is written to *f (faulted true), as
// mmu.WalkTo does.
func (c *CPU) memoWalk(r *mmu.Regs, lin uint64, acc mmu.Access, f *arch.Fault) (tr mmu.Translation, faulted bool) {
	c.memo.last = nil
	if c.tlb.ctx.ept.on || r.EFER&arch.EFERLMA == 0 {
		return mmu.WalkTo(physMem{c}, r, lin, acc, f)
	}
	key := walkMemoKey(lin, acc)
	e := c.memo.slot(key, r)
	if e.key == key && e.regs == *r && e.hit() {
		c.memo.last = e
		return e.tr, false
	}
	c.memo.on, c.memo.n = true, 0
	c.memo.path.Start = c.memo.pathStart(r, lin)
	tr, faulted = mmu.WalkPath(physMem{c}, r, lin, acc, &c.memo.path.Path, f)
	c.memo.pathNote(r, lin, tr.Refused)
	if c.memo.on && !faulted && !tr.Refused && c.memo.n > 0 {
		e.key, e.regs, e.n, e.tr, e.pg = key, *r, c.memo.n, tr, nil
		for i := 0; i < e.n; i++ {
			e.ent[i] = c.memo.ent[i]
			e.val[i] = *e.ent[i]
		}
		c.memo.last = e
	} else if e.key == key {
		e.key = 0
	}
	c.memo.on = false
	return tr, faulted
}

// memoFill is the walk memo's answer for fill (mem.go) without building
// mmu.Regs or walking: the record for an explicit access of kind to the
// page of lin under the CPU's current control state, when it holds and
// fill has noted its host page; else nil (fill then translates). The
// conditions are memoWalk's for the same access: paging on, 4- or
// 5-level paging (EFER.LMA), no EPT, a record for the key whose control
// state equals pagingRegs() and whose entries still hold their values.
func (c *CPU) memoFill(lin uint64, kind int, user bool) *walkMemoEntry {
	if c.CR0&arch.CR0PG == 0 || c.EFER&arch.EFERLMA == 0 || c.tlb.ctx.ept.on {
		return nil
	}
	key := walkMemoKey(lin, mmu.Access{Write: kind == accWrite, Fetch: kind == accFetch, User: user})
	e := c.memo.slotAt(key, c.CR3, c.CR4)
	if e.key == key && e.pg != nil && e.regsMatch(c) && e.hit() {
		return e
	}
	return nil
}

// memoNotePage notes in record e (memo.last after translate; nil when
// the translation came without one) the host page pg, host frame hfn of
// its translation, as physPage resolved them, when that is RAM and
// guest-physical is host-physical (no EPT).
func (c *CPU) memoNotePage(e *walkMemoEntry, pg *[4096]byte, hfn uint64) {
	if e != nil && pg != nil && !c.tlb.ctx.ept.on {
		e.pg, e.hfn = pg, hfn
	}
}

// regsMatch reports whether the record's control state equals
// c.pagingRegs(), field by field without building it.
// TestRegsMatchFields pins the number of mmu.Regs fields compared here.
func (e *walkMemoEntry) regsMatch(c *CPU) bool {
	r := &e.regs
	return r.CR3 == c.CR3 && r.CR4 == c.CR4 && r.CR0 == c.CR0 && r.EFER == c.EFER &&
		r.PKRU == c.PKRU && r.PKRS == uint32(c.PKRS) && r.MaxPhysAddr == c.MaxPhysAddr &&
		r.RFLAGSAC == (c.RFLAGS&arch.FlagAC != 0) && r.PDPTE == c.pdpte &&
		r.No1GPages == !c.feat.page1g
}

// hit reports whether every entry the recorded walk used still holds its
// value.
func (e *walkMemoEntry) hit() bool {
	for i := 0; i < e.n; i++ {
		if *e.ent[i] != e.val[i] {
			return false
		}
	}
	return true
}

// memoRecord notes a paging-structure read of the walk in progress: the
// 8-byte entry at offset off of host page pg (nil when the entry is not
// in RAM, which makes the walk unmemoisable).
func (c *CPU) memoRecord(pg *[4096]byte, off uint64) {
	m := &c.memo
	if pg == nil || m.n == len(m.ent) {
		m.on = false
		return
	}
	m.ent[m.n] = (*uint64)(unsafe.Pointer(&pg[off]))
	m.n++
}

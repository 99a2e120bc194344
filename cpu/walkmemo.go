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
	tr, faulted = mmu.WalkTo(physMem{c}, r, lin, acc, f)
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

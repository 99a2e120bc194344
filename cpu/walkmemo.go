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
}

type walkMemo struct {
	e [walkMemoSize]walkMemoEntry
	// Recording of the walk in progress (physMem.ReadPhys64): on says
	// the walk is memoisable so far, n entries were read.
	on  bool
	n   int
	ent [5]*uint64
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
	h := key>>12 ^ key>>18 ^ key ^ r.CR3>>12 ^ r.CR4>>3
	return &m.e[(h^h>>6)&(walkMemoSize-1)]
}

// memoWalk is mmu.Walk for translate, through the memo when the paging
// mode and EPT allow.
func (c *CPU) memoWalk(r *mmu.Regs, lin uint64, acc mmu.Access) (mmu.Translation, *arch.Fault) {
	if c.tlb.ctx.ept.on || r.EFER&arch.EFERLMA == 0 {
		return mmu.Walk(physMem{c}, r, lin, acc)
	}
	key := walkMemoKey(lin, acc)
	e := c.memo.slot(key, r)
	if e.key == key && e.regs == *r && e.hit() {
		return e.tr, nil
	}
	c.memo.on, c.memo.n = true, 0
	tr, f := mmu.Walk(physMem{c}, r, lin, acc)
	if c.memo.on && f == nil && !tr.Refused && c.memo.n > 0 {
		e.key, e.regs, e.n, e.tr = key, *r, c.memo.n, tr
		for i := 0; i < e.n; i++ {
			e.ent[i] = c.memo.ent[i]
			e.val[i] = *e.ent[i]
		}
	} else if e.key == key {
		e.key = 0
	}
	c.memo.on = false
	return tr, f
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

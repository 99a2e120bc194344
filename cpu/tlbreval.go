package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// The VPID-0 flush of VM entries and exits without VPIDs, by revalidation.
//
// Without "enable VPID", every VM entry and every VM exit invalidates the
// linear mappings of VPID 0000H (SDM Vol. 3C 29.4.3.1; 27.3.3 and 28.5).
// After the invalidation the TLB holds nothing of VPID 0000H, and the
// next access to a page walks the paging structures. The SDM lets the
// processor fill a TLB entry at any time from a walk that would succeed
// (Vol. 3A 4.10.2.3: translations may be cached for prefetches and
// speculative accesses that never occur), so it may walk for a page right
// after the invalidation and keep the result. revalidateVPID0 does just
// that for every entry the TLB held, through the walk memo (walkmemo.go):
// an entry survives only when the memo has a record for its page and
// access under the control state now in force (the state the transition
// has just loaded) whose paging-structure entries all still hold the
// values they held after the recorded walk, and whose translation is the
// entry's (host page, global bit, the write entry's CR0.WP dependence).
// Such a walk, done now, reads those same entries, makes the same checks
// with the same result and writes nothing (its accessed and dirty flags
// are set already), so the surviving entry is exactly the one a fill
// right after the invalidation would make. Every other entry is dropped;
// the second level (tlb2.go) is dropped whole.
//
// The block lookup caches fetch translations too (codeCtx): it keeps its
// entries (the slot's invalidation count does not move) only when every
// fetch entry survived and no fetch entry was lost since the last flush
// of everything (tlb.fetchLost), so that each block it can return lies in
// a page whose fetch entry was just revalidated. Otherwise the counts
// move, as the full flush moves them.
//
// It applies when every live translation context is the one of VPID
// 0000H without EPT (the host's, shared with guests without VPIDs or
// EPT: their entries are all in one slot) and the context being entered
// is that one too, the processor is in IA-32e mode with paging (the walk
// memo's domain), the fill log has not overflowed and, at VM entry, the
// guest does not virtualize APIC accesses (whose page takes no entry,
// vmx_apicv.go). Elsewhere the flush is flushVPID0's full one.

// revalidateVPID0 invalidates the mappings of VPID 0000H by revalidation
// (see above) for a transition into context next (whose state is loaded)
// and reports whether it could; when not, it has changed nothing.
func (c *CPU) revalidateVPID0(next ctxID, apicAccess bool) bool {
	t := &c.tlb
	if c.noReval || next != (ctxID{}) || apicAccess || t.nfills > len(t.fills) || t.fetchLost ||
		c.CR0&arch.CR0PG == 0 || c.EFER&arch.EFERLMA == 0 {
		return false
	}
	slot := -1
	for i := range t.ctx.ids {
		if !t.ctx.live[i] {
			continue
		}
		if t.ctx.ids[i] != (ctxID{}) {
			return false
		}
		slot = i
	}
	if slot < 0 {
		return false
	}
	// The key entries of this slot have under the current PCID, but for
	// the user bit, which each entry keeps.
	key := tagValid | pcidKey(c.pcid()) | uint64(slot)<<tagCtxShift
	wpKeys := c.CR4&(arch.CR4PKE|arch.CR4PKS) != 0
	// An index filled twice is logged twice: its entry is looked at
	// twice (the second time it is the same, or gone) and stays logged
	// twice, which is harmless.
	lost := false
	n := 0
	for j, f := range t.fills[:t.nfills] {
		arr, i := int(f>>8), f&0xFF
		e := &t.array(arr)[i]
		if e.page == nil {
			continue
		}
		if c.stillWalks(e, arr, key, wpKeys, t.fillRec[j]) {
			t.fills[n], t.fillRec[n] = f, t.fillRec[j]
			n++
			continue
		}
		*e = tlbEntry{}
		lost = lost || arr == tlbFetch
	}
	t.nfills = n
	t.dropL2()
	if lost {
		for i := range t.inval {
			t.inval[i]++
		}
		t.fetchLost = false
	}
	return true
}

// stillWalks reports whether entry e of array arr (tlbRead, tlbWrite,
// tlbFetch) is what a fill now would make: its tag is the current key's
// (the user bit aside), and the walk memo holds a record for its page and
// access under the current control state, still valid, with its
// translation. rec is the record fill noted at the entry's log position
// (tlb.fillRec): a record for the same key under the current control
// state is in the memo slot of that key and state, so when rec is for
// them it is the one slotAt would find; when its key differs, slotAt
// looks; when its state differs, the entry is dropped (which is always
// allowed).
func (c *CPU) stillWalks(e *tlbEntry, arr int, key uint64, wpKeys bool, rec *walkMemoEntry) bool {
	user := e.tag&tagUser != 0
	// The linear page: bits 63:57 of the address all equal bit 61
	// (tlb.go), which the key leaves alone.
	lin := e.tag &^ (0xfff | tagPCIDHi | tagCtx)
	if lin&(1<<61) != 0 {
		lin |= tagPCIDHi | tagCtx
	}
	k := key
	if user {
		k |= tagUser
	}
	if lin^k != e.tag {
		return false // another PCID or slot
	}
	mk := walkMemoKey(lin, mmu.Access{Write: arr == tlbWrite, Fetch: arr == tlbFetch, User: user})
	r := rec
	if r == nil || r.key != mk {
		// No record noted, or another page's: the log position was
		// filled again since (an index logged twice keeps the record
		// of its first fill there).
		r = c.memo.slotAt(mk, c.CR3, c.CR4)
	}
	if r.key != mk || r.pg != e.page || r.hfn != e.pfn || r.tr.Global != e.global {
		return false
	}
	if arr == tlbWrite && e.wpDep != (!r.tr.Writable || wpKeys) {
		return false
	}
	if !user && r.tr.User && arr != tlbFetch && c.CR4&arch.CR4SMAP != 0 {
		return false // fillEntry makes no entry (SMAP, RFLAGS.AC)
	}
	return r.regsMatch(c) && r.hit()
}

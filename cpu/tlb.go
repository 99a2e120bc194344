package cpu

import "github.com/vmxemu/vmxemu/arch"

// The software TLB: direct-mapped, one array per access kind, each entry a
// host pointer to the 4-KiB page. An entry's tag is the page-aligned linear
// address XORed with the CPU's current key (tlb.tag), so a hit is a single
// compare. The key holds
//   - bit 1 (valid) and bit 0 (user: CPL=3), so an entry filled at CPL 0
//     never serves CPL 3 and vice versa (the walk's U/S answer differs);
//   - the current PCID (SDM Vol. 3A 4.10.1): PCID[9:0] in bits 11:2 and
//     PCID[11:10] XORed into bits 63:62. Bits 63:57 of a canonical (48- or
//     57-bit) or 32-bit linear address all equal bit 61, which the key
//     leaves alone, so two (address, PCID) pairs never share a tag. With
//     CR4.PCIDE=0 the PCID is 000H;
//   - the translation context's slot, XORed into bits 60:58 (the same
//     argument makes it part of the tag): see "Translation contexts".
//
// Entries of other PCIDs stay in the arrays until they are evicted or
// invalidated (MOV CR3 without the no-flush bit, INVPCID, INVLPG), as the
// SDM's retention rules allow (4.10.2.2, 4.10.4). Global entries carry the
// PCID they were filled under and so serve only that PCID: another PCID
// misses and walks, which is always allowed.
// A write entry exists only for pages whose D bit is set and which hold no
// decoded code, so stores never need to check either in the fast path.

const (
	tlbBits = 8
	tlbSize = 1 << tlbBits
	tlbMask = tlbSize - 1

	tagValid = 2
	tagUser  = 1
	// tagPCIDHi are the tag bits PCID[11:10] are folded into.
	tagPCIDHi = 3 << 62
	// tagCtx are the tag bits the context slot is folded into.
	tagCtxShift = 58
	tagCtx      = 7 << tagCtxShift
	numCtx      = 8
)

type tlbEntry struct {
	tag    uint64
	page   *[4096]byte
	pfn    uint64
	global bool
	// wpDep marks a write entry whose rights check depended on CR0.WP:
	// the page is read-only somewhere in its walk (a supervisor write
	// was allowed only because WP=0), or protection keys were on (a
	// key's WD applies to supervisor writes only with WP=1; SDM Vol. 3A
	// 4.6.1, 4.6.2). flushWrites drops these alone.
	wpDep bool
}

type tlb struct {
	key   uint64 // tagValid | tagUser for the current CPL | the current PCID | the context slot
	read  [tlbSize]tlbEntry
	write [tlbSize]tlbEntry
	fetch [tlbSize]tlbEntry
	ctx   contexts
	// fills logs the entries filled since the last flushAll (array
	// number << 8 | index), so that flushAll clears those alone: a loop
	// that toggles CR0.WP or CR4.PGE (kvm-unit-tests' vmexit_cr0_wp,
	// vmexit_cr4_pge) refills a handful of entries between flushes, and
	// clearing all three arrays each time cost 60% of its time. nfills
	// beyond len(fills) means the log overflowed: clear everything.
	fills  [32]uint16
	nfills int
	// fillRec holds, for each fill logged, the walk memo's record it was
	// filled from (nil when fill noted none), and rec is the record of
	// the fill in progress, which put logs and clears
	// (revalidateVPID0, tlbreval.go).
	fillRec [32]*walkMemoEntry
	rec     *walkMemoEntry
	// l2 is the second level behind read and write (tlb2.go), nil
	// until an entry is first evicted.
	l2 *tlb2
	// gen2 is l2's generation: its entries of another generation are
	// empty (dropL2).
	gen2 uint32
	// inval counts, per context slot, the invalidations that can drop
	// a fetch entry of that slot (every flush below but flushWrites,
	// flushFrame and flushWritesTo, which touch read and write entries
	// only, and flushPage, whose callers drop the lookups of the page
	// themselves: INVLPG with blockLookup.flushPage, INVPCID with a
	// flush): the block lookup's code contexts (codeCtx) are told apart
	// by the current slot's count, so a context switch back to a slot
	// nothing invalidated finds its blocks again.
	inval [numCtx]uint64
	// n2 counts the entries evicted into l2 since it was last dropped:
	// while it is 0 a first-level miss does not probe l2 (after a flush
	// of everything, as in a loop that toggles CR4.PGE).
	n2 int
	// fetchLost says that a fetch entry was dropped since the last
	// flushAll without its slot's invalidation count moving (put
	// replaced it, the APIC-access page took it): the block lookup may
	// then hold blocks whose translation the fetch array no longer
	// holds, so revalidateVPID0 (tlbreval.go) cannot vouch for them.
	fetchLost bool
}

// The arrays' numbers in the fill log.
const (
	tlbRead = iota
	tlbWrite
	tlbFetch
)

// array returns the array numbered n (tlbRead, tlbWrite, tlbFetch).
func (t *tlb) array(n int) *[tlbSize]tlbEntry {
	switch n {
	case tlbRead:
		return &t.read
	case tlbWrite:
		return &t.write
	}
	return &t.fetch
}

// put fills the entry for lin in array n and logs it for flushAll.
func (t *tlb) put(n int, lin uint64, e tlbEntry) *tlbEntry {
	i := t.index(lin)
	if t.nfills < len(t.fills) {
		t.fills[t.nfills] = uint16(n<<8) | uint16(i)
		t.fillRec[t.nfills] = t.rec
	}
	t.nfills++
	t.rec = nil
	p := &t.array(n)[i]
	if p.page != nil {
		if n != tlbFetch {
			t.evict(n, p) // tlb2.go
		} else {
			t.fetchLost = true
		}
	}
	*p = e
	return p
}

// pcidKey is the key contribution of a 12-bit PCID.
func pcidKey(pcid uint64) uint64 { return (pcid&0x3FF)<<2 | (pcid>>10&3)<<62 }

func (t *tlb) setKey(user bool, pcid uint64) {
	t.key = tagValid | pcidKey(pcid) | uint64(t.ctx.cur)<<tagCtxShift
	if user {
		t.key |= tagUser
	}
}

// Translation contexts. Linear translations belong to a context: outside
// VMX non-root operation there is one, and VMX adds one per (VPID, EPTP)
// pair a guest runs with (SDM Vol. 3C 29.4.1: TLB entries are tagged with
// the VPID and, under EPT, the EP4TA). Entries of every context live in
// the same arrays, told apart by the slot number folded into their tags,
// so switching contexts changes the key and nothing else: O(1), and each
// context finds its entries again when it comes back, stale ones included,
// until they are evicted or invalidated — as on hardware, a missing
// INVVPID or INVEPT shows. A context that needs a slot when all are in use
// takes the least recently used one, whose entries are dropped first.

// ctxID names a translation context: the VPID (0 outside non-root
// operation and for guests without VPIDs) and the EPT pointer's
// page-walk root (0 without EPT).
type ctxID struct {
	vpid uint16
	ept  uint64
}

type contexts struct {
	ids  [numCtx]ctxID
	used [numCtx]uint64 // last use, for LRU replacement
	live [numCtx]bool
	cur  uint8
	tick uint64
	// ept is the EPT half of the current context (vmx_ept.go).
	ept eptState
}

// switchContext makes id the current translation context.
func (c *CPU) switchContext(id ctxID) {
	x := &c.tlb.ctx
	x.tick++
	if x.live[x.cur] && x.ids[x.cur] == id {
		x.used[x.cur] = x.tick
		return
	}
	slot := -1
	for i := range x.ids {
		if x.live[i] && x.ids[i] == id {
			slot = i
			break
		}
	}
	if slot < 0 {
		slot = 0
		for i := range x.ids {
			if !x.live[i] {
				slot = i
				break
			}
			if x.used[i] < x.used[slot] {
				slot = i
			}
		}
		c.tlb.flushSlot(uint8(slot))
		x.ids[slot], x.live[slot] = id, true
	}
	x.cur, x.used[slot] = uint8(slot), x.tick
	c.tlb.setKey(c.cpl == 3, c.pcid())
	// The RIP-to-block lookup caches linear translations too: its code
	// context holds the TLB key (the slot) and the slot's invalidation
	// count, so the caller enters the new code context — stateChanged
	// at VM entry and exit, once the rest of the state is loaded; VMFUNC
	// at once — and a context whose translations are still valid finds
	// its blocks again (blockLookup.enter).
}

// tagSlot recovers the context slot an entry was filled under (bits 60:58
// of its linear address equal its bit 61, see the type comment).
func tagSlot(tag uint64) uint8 {
	s := tag >> tagCtxShift & 7
	if tag&(1<<61) != 0 {
		s ^= 7
	}
	return uint8(s)
}

// flushSlot drops every entry of one context (a context slot reused; an
// INVVPID or INVEPT for that context).
func (t *tlb) flushSlot(slot uint8) {
	t.inval[slot]++
	t.dropL2() // the second level drops everything (tlb2.go)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			if arr[i].page != nil && tagSlot(arr[i].tag) == slot {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// flushPageSlot drops the entries for one linear page in one context,
// global ones included, under every PCID (INVVPID individual-address).
func (t *tlb) flushPageSlot(lin uint64, slot uint8) {
	t.inval[slot]++
	t.dropL2() // the second level drops everything (tlb2.go)
	i := t.index(lin)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		if e := &arr[i]; e.page != nil && (e.tag^lin)&^(0xfff|tagPCIDHi|tagCtx) == 0 && tagSlot(e.tag) == slot {
			*e = tlbEntry{}
		}
	}
}

// flushNonGlobalSlot drops the entries of one context not marked global
// (INVVPID single-context-retaining-globals).
func (t *tlb) flushNonGlobalSlot(slot uint8) {
	t.inval[slot]++
	t.dropL2() // the second level drops everything (tlb2.go)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			if arr[i].page != nil && !arr[i].global && tagSlot(arr[i].tag) == slot {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// tag is the tag an entry for lin has under the current key.
func (t *tlb) tag(lin uint64) uint64 { return lin&^0xfff ^ t.key }

// tagAs is the tag of lin under the current key but with the user bit
// of a user-mode (CPL 3) or a supervisor-mode access, whatever the CPL:
// the entries of a supervisor access at CPL 3 (sysRead's implicit
// reads) are the supervisor entries of the same PCID and context.
func (t *tlb) tagAs(lin uint64, user bool) uint64 {
	k := t.key &^ tagUser
	if user {
		k |= tagUser
	}
	return lin&^0xfff ^ k
}

// tagPCID recovers the PCID an entry was filled under: bits 63:62 of its
// linear address equal its bit 61 (see the type comment).
func tagPCID(tag uint64) uint64 {
	hi := tag >> 62
	if tag&(1<<61) != 0 {
		hi ^= 3
	}
	return tag>>2&0x3FF | hi<<10
}

// pcid returns the current PCID: CR3[11:0] when CR4.PCIDE=1, else 000H
// (SDM Vol. 3A 4.10.1).
func (c *CPU) pcid() uint64 {
	if c.CR4&arch.CR4PCIDE == 0 {
		return 0
	}
	return c.CR3 & 0xFFF
}

// index is the slot of the direct-mapped arrays an entry for lin has: the
// low bits of its page number XORed with the next ones (bits 27:20 of the
// address), the same in every context. With the page number alone, pages
// at the same offset in different MiBs (allocators align to them) share a
// slot and evict each other on every access: kvm-unit-tests' vmexit loops
// touch 0x419000 (the image's data) and 0x1019000 (an allocated page) on
// every iteration, and every one of those accesses walked the page tables
// (docs/PERFORMANCE.md). The fold keeps the 256 pages of an aligned MiB in
// distinct slots; the price is that pages of two neighbouring MiBs can now
// share one (any per-MiB offset has that trade-off). The same linear page
// in two translation contexts (a guest and its host) competes for one
// slot. Mixing the context into the index would keep both, but it puts the
// key load on the critical path of every TLB hit: measured at about 3% of
// the load/ALU/store benchmark (docs/PERFORMANCE.md), so not done.
func (t *tlb) index(lin uint64) uint64 { return (lin>>12 ^ lin>>20) & tlbMask }

// flushAll drops every entry of every PCID and context (CR0/CR4
// paging-mode changes, CR3 without global pages, INVPCID type 2: more than
// the current VPID's entries, which is allowed).
func (t *tlb) flushAll() {
	for i := range t.inval {
		t.inval[i]++
	}
	if t.nfills > len(t.fills) {
		t.read = [tlbSize]tlbEntry{}
		t.write = [tlbSize]tlbEntry{}
		t.fetch = [tlbSize]tlbEntry{}
	} else {
		for _, f := range t.fills[:t.nfills] {
			t.array(int(f >> 8))[f&0xFF] = tlbEntry{}
		}
	}
	t.nfills = 0
	t.fetchLost = false
	t.dropL2()
}

// flushWrites drops the write entries, of every PCID and context, whose
// rights check depended on CR0.WP (tlbEntry.wpDep), and keeps every
// other entry (a change of CR0.WP alone: see writeCR0).
func (t *tlb) flushWrites() {
	t.dropL2() // the second level drops everything (tlb2.go)
	if t.nfills > len(t.fills) {
		for i := range t.write {
			if t.write[i].wpDep {
				t.write[i] = tlbEntry{}
			}
		}
		return
	}
	for _, f := range t.fills[:t.nfills] {
		if e := &t.write[f&0xFF]; int(f>>8) == tlbWrite && e.wpDep {
			*e = tlbEntry{}
		}
	}
}

// flushNonGlobal drops the current context's entries not marked global,
// of every PCID (MOV CR3 with CR4.PGE=1 and CR4.PCIDE=0, SDM Vol. 3A
// 4.10.4.1; INVPCID type 3; Vol. 3C 29.4.3: the current VPID only).
func (t *tlb) flushNonGlobal() {
	t.inval[t.ctx.cur]++
	t.dropL2() // the second level drops everything (tlb2.go)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			if arr[i].page != nil && !arr[i].global && tagSlot(arr[i].tag) == t.ctx.cur {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// flushPCID drops the non-global entries of the current context filled
// under pcid (MOV CR3 with CR4.PCIDE=1 and bit 63 clear; INVPCID type 1;
// SDM Vol. 3A 4.10.4.1; Vol. 3C 29.4.3: in VMX non-root operation these
// affect only the current VPID's mappings).
func (t *tlb) flushPCID(pcid uint64) {
	t.inval[t.ctx.cur]++
	t.dropL2() // the second level drops everything (tlb2.go)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			e := &arr[i]
			if e.page != nil && !e.global && tagPCID(e.tag) == pcid && tagSlot(e.tag) == t.ctx.cur {
				*e = tlbEntry{}
			}
		}
	}
}

// flushPage drops the entries for one linear page under every PCID and
// context, global ones included (INVLPG, INVPCID type 0: invalidating
// more than the SDM requires is allowed).
func (t *tlb) flushPage(lin uint64) {
	t.flushPageL2(lin) // tlb2.go
	i := t.index(lin)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		if e := &arr[i]; e.page != nil && (e.tag^lin)&^(0xfff|tagPCIDHi|tagCtx) == 0 {
			*e = tlbEntry{}
		}
	}
}

// flushFrame drops the read and write entries that map physical frame
// pfn, under every PCID and context.
func (t *tlb) flushFrame(pfn uint64) {
	t.dropL2() // the second level drops everything (tlb2.go)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write} {
		for i := range arr {
			if arr[i].page != nil && arr[i].pfn == pfn {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// flushWritesTo drops write entries that map physical frame pfn (the frame
// now holds decoded code), under every PCID.
func (t *tlb) flushWritesTo(pfn uint64) {
	t.dropL2() // the second level drops everything (tlb2.go)
	for i := range t.write {
		if t.write[i].page != nil && t.write[i].pfn == pfn {
			t.write[i] = tlbEntry{}
		}
	}
}

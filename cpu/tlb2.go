package cpu

// The TLB's second level: behind the read and write arrays, a larger
// direct-mapped array per kind that holds the entries the first level
// evicted. A first-level miss looks here before translating (fill), and
// a hit moves the entry back. Together the two levels are one bigger TLB
// under the same rules: an entry enters the second level only as a
// first-level entry being replaced, and every invalidation of the first
// level applies to the second — flushPage clears the page's slot, under
// every PCID and context as in the first level, and every other flush
// (of everything, of a context, a PCID, the non-global entries, the
// WP-dependent writes, a frame's entries) drops the whole second level
// by moving to a new generation, O(1). Dropping more than an
// invalidation asks is always allowed (SDM Vol. 3A 4.10.4: a processor
// may invalidate any TLB entry at any time), and the first level's own
// conditions for an entry (a write entry only for a dirty page without
// decoded code, no entry for watched pages, MMIO, the APIC-access page;
// fill) are kept by flushes that reach the second level too.
//
// kvm-unit-tests' sieve strides byte stores through a 100-MB array, one
// page per store for the larger primes: 24,414 pages, far more than the
// first level's 256 entries, and the walk memo's 256 records. The second
// level covers 128 MiB per kind.

const (
	tlb2Bits = 15
	tlb2Size = 1 << tlb2Bits
	tlb2Mask = tlb2Size - 1
)

type tlb2Entry struct {
	tlbEntry
	gen uint32 // live when it equals tlb.gen2
}

// tlb2 holds the second level of the read and write arrays (tlbRead,
// tlbWrite).
type tlb2 struct {
	e [2][tlb2Size]tlb2Entry
}

// index2 is the second-level slot of an entry with tag tag: bits 41:12
// of the tag, which are those of the linear address (the key occupies
// bits 11:0 and 63:58), so every PCID and context of one page share it.
func index2(tag uint64) uint64 { return (tag>>12 ^ tag>>(12+tlb2Bits)) & tlb2Mask }

// evict moves first-level entry p of array n (tlbRead or tlbWrite), about
// to be replaced, into the second level.
func (t *tlb) evict(n int, p *tlbEntry) {
	if t.l2 == nil {
		t.l2 = new(tlb2)
		t.gen2 = 1
	}
	t.l2.e[n][index2(p.tag)] = tlb2Entry{tlbEntry: *p, gen: t.gen2}
	t.n2++
}

// lookup2 returns the second-level entry of array n (tlbRead or
// tlbWrite) with tag tag, or nil.
func (t *tlb) lookup2(n int, tag uint64) *tlbEntry {
	if t.n2 == 0 {
		return nil
	}
	if e := &t.l2.e[n][index2(tag)]; e.gen == t.gen2 && e.tag == tag && e.page != nil {
		return &e.tlbEntry
	}
	return nil
}

// dropL2 empties the second level: a new generation (all entries at once
// when the counter wraps).
func (t *tlb) dropL2() {
	if t.n2 == 0 {
		return // empty: nothing evicted since the last drop
	}
	t.n2 = 0
	t.gen2++
	if t.gen2 == 0 {
		t.l2.e = [2][tlb2Size]tlb2Entry{}
		t.gen2 = 1
	}
}

// flushPageL2 drops the second-level entries for one linear page under
// every PCID and context, global ones included (flushPage).
func (t *tlb) flushPageL2(lin uint64) {
	if t.n2 == 0 {
		return
	}
	i := index2(lin &^ 0xfff)
	for n := range t.l2.e {
		if e := &t.l2.e[n][i]; e.page != nil && (e.tag^lin)&^(0xfff|tagPCIDHi|tagCtx) == 0 {
			e.tlbEntry = tlbEntry{}
		}
	}
}

// fill2 is fill's second-level lookup for an access of kind (accRead or
// accWrite) to lin under the current key: on a hit the entry moves to the
// first level (whose entry there moves down), which it returns.
func (c *CPU) fill2(lin uint64, kind int) *tlbEntry {
	n := tlbRead
	if kind == accWrite {
		n = tlbWrite
	} else if kind != accRead {
		return nil
	}
	tag := c.tlb.tag(lin)
	e := c.tlb.lookup2(n, tag)
	if e == nil {
		return nil
	}
	v := *e
	*e = tlbEntry{}
	return c.tlb.put(n, lin, v)
}

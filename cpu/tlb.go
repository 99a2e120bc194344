package cpu

// The software TLB: direct-mapped, one array per access kind, each entry a
// host pointer to the 4-KiB page. A tag is the page-aligned linear address
// with bit 1 (valid) and bit 0 (user: CPL=3) set, so an entry filled at CPL 0
// never serves CPL 3 and vice versa (the walk's U/S answer differs).
// A write entry exists only for pages whose D bit is set and which hold no
// decoded code, so stores never need to check either in the fast path.

const (
	tlbBits = 8
	tlbSize = 1 << tlbBits
	tlbMask = tlbSize - 1

	tagValid = 2
	tagUser  = 1
)

type tlbEntry struct {
	tag    uint64
	page   *[4096]byte
	pfn    uint64
	global bool
}

type tlb struct {
	key   uint64 // tagValid | tagUser for the current CPL
	read  [tlbSize]tlbEntry
	write [tlbSize]tlbEntry
	fetch [tlbSize]tlbEntry
}

func (t *tlb) setKey(user bool) {
	t.key = tagValid
	if user {
		t.key |= tagUser
	}
}

func tlbIndex(lin uint64) uint64 { return (lin >> 12) & tlbMask }

// flushAll drops every entry (CR0/CR4 paging-mode changes, CR3 without
// global pages).
func (t *tlb) flushAll() {
	t.read = [tlbSize]tlbEntry{}
	t.write = [tlbSize]tlbEntry{}
	t.fetch = [tlbSize]tlbEntry{}
}

// flushNonGlobal drops entries not marked global (MOV CR3 with CR4.PGE=1,
// SDM Vol. 3A 4.10.4.1).
func (t *tlb) flushNonGlobal() {
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			if !arr[i].global {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// flushPage drops the entries for one linear page (INVLPG).
func (t *tlb) flushPage(lin uint64) {
	i := tlbIndex(lin)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		if arr[i].tag&^0xfff == lin&^0xfff {
			arr[i] = tlbEntry{}
		}
	}
}

// flushWritesTo drops write entries that map physical frame pfn (the frame
// now holds decoded code).
func (t *tlb) flushWritesTo(pfn uint64) {
	for i := range t.write {
		if t.write[i].page != nil && t.write[i].pfn == pfn {
			t.write[i] = tlbEntry{}
		}
	}
}

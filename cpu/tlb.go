package cpu

import "github.com/vmxemu/vmxemu/arch"

// The software TLB: direct-mapped, one array per access kind, each entry a
// host pointer to the 4-KiB page. An entry's tag is the page-aligned linear
// address XORed with the CPU's current key (tlb.tag), so a hit is a single
// compare. The key holds
//   - bit 1 (valid) and bit 0 (user: CPL=3), so an entry filled at CPL 0
//     never serves CPL 3 and vice versa (the walk's U/S answer differs);
//   - the current PCID (SDM Vol. 3A 4.10.1): PCID[9:0] in bits 11:2 and
//     PCID[11:10] XORed into bits 63:62. Bits 63:62 of a canonical (48- or
//     57-bit) or 32-bit linear address both equal bit 61, which the key
//     leaves alone, so two (address, PCID) pairs never share a tag. With
//     CR4.PCIDE=0 the PCID is 000H.
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
)

type tlbEntry struct {
	tag    uint64
	page   *[4096]byte
	pfn    uint64
	global bool
}

type tlb struct {
	key   uint64 // tagValid | tagUser for the current CPL | the current PCID
	read  [tlbSize]tlbEntry
	write [tlbSize]tlbEntry
	fetch [tlbSize]tlbEntry
}

// pcidKey is the key contribution of a 12-bit PCID.
func pcidKey(pcid uint64) uint64 { return (pcid&0x3FF)<<2 | (pcid>>10&3)<<62 }

func (t *tlb) setKey(user bool, pcid uint64) {
	t.key = tagValid | pcidKey(pcid)
	if user {
		t.key |= tagUser
	}
}

// tag is the tag an entry for lin has under the current key.
func (t *tlb) tag(lin uint64) uint64 { return lin&^0xfff ^ t.key }

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

func tlbIndex(lin uint64) uint64 { return (lin >> 12) & tlbMask }

// flushAll drops every entry of every PCID (CR0/CR4 paging-mode changes,
// CR3 without global pages, INVPCID type 2).
func (t *tlb) flushAll() {
	t.read = [tlbSize]tlbEntry{}
	t.write = [tlbSize]tlbEntry{}
	t.fetch = [tlbSize]tlbEntry{}
}

// flushNonGlobal drops entries not marked global, of every PCID (MOV CR3
// with CR4.PGE=1 and CR4.PCIDE=0, SDM Vol. 3A 4.10.4.1; INVPCID type 3).
func (t *tlb) flushNonGlobal() {
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			if !arr[i].global {
				arr[i] = tlbEntry{}
			}
		}
	}
}

// flushPCID drops the non-global entries filled under pcid (MOV CR3 with
// CR4.PCIDE=1 and bit 63 clear; INVPCID type 1; SDM Vol. 3A 4.10.4.1).
func (t *tlb) flushPCID(pcid uint64) {
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		for i := range arr {
			e := &arr[i]
			if e.page != nil && !e.global && tagPCID(e.tag) == pcid {
				*e = tlbEntry{}
			}
		}
	}
}

// flushPage drops the entries for one linear page under every PCID,
// global ones included (INVLPG, INVPCID type 0: invalidating more than
// the SDM requires is allowed).
func (t *tlb) flushPage(lin uint64) {
	i := tlbIndex(lin)
	for _, arr := range []*[tlbSize]tlbEntry{&t.read, &t.write, &t.fetch} {
		if (arr[i].tag^lin)&^(0xfff|tagPCIDHi) == 0 {
			arr[i] = tlbEntry{}
		}
	}
}

// flushWritesTo drops write entries that map physical frame pfn (the frame
// now holds decoded code), under every PCID.
func (t *tlb) flushWritesTo(pfn uint64) {
	for i := range t.write {
		if t.write[i].page != nil && t.write[i].pfn == pfn {
			t.write[i] = tlbEntry{}
		}
	}
}

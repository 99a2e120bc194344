package cpu

import "github.com/vmxemu/vmxemu/arch"

// The decoded-block cache. Blocks are keyed by host-physical frame
// (phys.go) and decode mode and shared by the CPUs of one machine; a write
// into a frame holding blocks invalidates all of them. Each CPU also keeps a direct-mapped
// lookup from linear RIP to block, flushed whenever translations change;
// its entries belong to an epoch per code context (privilege level, mode,
// CS, control registers: codeCtx), and INVLPG drops one page's entries.

const maxBlockInsts = 64

type block struct {
	// fast is what Run's fast path executes: insts itself, or a copy
	// whose last two entries are fused into one (exec_fused.go); insts
	// are the block's instructions one by one (runSlow). The fields Run
	// reads for every block come first.
	fast  []Inst
	insts []Inst
	valid bool
	// cacheable is false for a block that is decoded afresh each time:
	// code from MMIO or unmapped space.
	cacheable bool
	// size is the number of code bytes the block covers: a block cached
	// from a code segment with a larger limit is not reused where the
	// limit ends inside it.
	size uint16
	// off is the page offset of the block's first byte (now(), run.go).
	off uint16
	// link are the blocks Run found after this one, newest first
	// (chain.go).
	link [blockLinks]blockLink
	// spin marks a block whose fast list is one fused setter+Jcc entry
	// (exec_fused.go) whose Jcc jumps back to the block's first byte: it
	// touches only registers, the lazy flags and RIP, so Run may run it
	// pass after pass without its between-block checks (run.go spin). A
	// pair that jumps elsewhere (a "cmp; jb" at a function's entry) runs
	// as any other block: spin's set-up, a division among it, would be
	// paid for one pass.
	spin bool
	pfn  uint64
	// pfn2 is the frame of the second page of a block that holds one
	// page-crossing instruction (noFrame for every other block). Such a
	// block is also listed in pfn2's code page under crossKey, so that a
	// write to either frame invalidates it, and it is reused from the
	// cache only when its second page still translates to pfn2.
	pfn2 uint64
	// jumps are the direct jumps the block continues through, in order
	// (decodeTrace); nil for a block of consecutive instructions.
	jumps []traceJump
}

type codePage struct {
	blocks map[uint32]*block // key: offset | mode<<12
	// cross are the page-crossing blocks that start in another frame and
	// end in this one (block.pfn2).
	cross []*block
	// looked says a block of the frame was decoded or found by a lookup
	// (decodeBlock) since a write that left the frame's bytes as they
	// were (rewritten) last kept its blocks.
	looked bool
}

// CodeCache holds decoded blocks for one machine.
type CodeCache struct {
	t     *tables
	pages map[uint64]*codePage
	cpus  []*CPU
	// vmxFrames are the frames of the VMX regions in use (VMXON regions,
	// active VMCSs): they get no TLB entry, so that guest data accesses to
	// them reach physRead/physWrite, which warn (exec_vmx.go).
	vmxFrames map[uint64]bool
	// stamps are the block lookups' stamps handed out (newStamp).
	stamps uint64
	// gen counts changes to pages and their blocks maps (a block added,
	// a frame's blocks dropped): a CPU's frameBlocks entry stands for
	// the maps' answer only while gen is the one it was filled under.
	gen uint64
}

// NewCodeCache returns an empty cache.
func NewCodeCache() *CodeCache {
	return &CodeCache{t: buildTables(), pages: map[uint64]*codePage{}}
}

func (cc *CodeCache) attach(c *CPU) {
	cc.cpus = append(cc.cpus, c)
	c.blocks.stamp = cc.newStamp()
}

// newStamp returns a block-lookup stamp no lookup of this machine has
// had (blockLookup.stamp): at a CPU's start and at an INVLPG of a page a
// block link may lead into (blockLookup.renewStamp).
func (cc *CodeCache) newStamp() uint64 {
	cc.stamps++
	return cc.stamps
}

func (cc *CodeCache) isCode(pfn uint64) bool { _, ok := cc.pages[pfn]; return ok }

// isVMXFrame reports whether pfn holds a VMX region in use.
func (cc *CodeCache) isVMXFrame(pfn uint64) bool { return len(cc.vmxFrames) != 0 && cc.vmxFrames[pfn] }

// setVMXFrames records the frames of the VMX regions in use and drops
// every CPU's TLB entries to the new ones.
func (cc *CodeCache) setVMXFrames(frames []uint64) {
	next := make(map[uint64]bool, len(frames))
	for _, f := range frames {
		next[f] = true
		if !cc.vmxFrames[f] {
			for _, c := range cc.cpus {
				c.tlb.flushFrame(f)
			}
		}
	}
	cc.vmxFrames = next
}

// written is called for every store that reaches a frame without a fast
// write entry; it invalidates the frame's blocks.
func (cc *CodeCache) written(by *CPU, pfn uint64) {
	if cc.dropFrame(pfn) {
		// The writer may be running a block from this frame.
		by.stop = true
	}
}

// rewritten is called for a store that reaches frame pfn without a fast
// write entry and leaves every byte it writes as it was. The decoded code
// is still what the bytes say (SDM Vol. 3A 11.6 asks only that a write
// which changes code be seen by later fetches), so the blocks may stay:
// they do when one of them was looked up since the last such write
// (kvm-unit-tests' access test stores the same RET over its test page
// before every access, and calls it when the fetch is allowed). Otherwise
// they go as for any write (written), which is always allowed, so that a
// frame written over and over and no longer run (the same test's reads
// and writes) leaves the code cache and takes fast write entries again.
func (cc *CodeCache) rewritten(by *CPU, pfn uint64) {
	if p, ok := cc.pages[pfn]; ok && p.looked {
		p.looked = false
		return
	}
	cc.written(by, pfn)
}

// dropFrame invalidates the decoded blocks of frame pfn; it reports
// whether there were any.
func (cc *CodeCache) dropFrame(pfn uint64) bool {
	p, ok := cc.pages[pfn]
	if !ok {
		return false
	}
	// An invalid block keeps no link, so that it holds no other
	// block in memory.
	for _, b := range p.blocks {
		b.valid, b.link = false, [blockLinks]blockLink{}
	}
	for _, b := range p.cross {
		b.valid, b.link = false, [blockLinks]blockLink{}
	}
	delete(cc.pages, pfn)
	cc.gen++ // the block-lookup memos (frameBlock) are stale
	return true
}

// DeviceWrote invalidates the decoded code in [pa, pa+n): a device wrote
// there (DMA), not a CPU. Every CPU leaves its current block after its
// current instruction, since the one that started the transfer may be
// running a block from one of those frames.
func (cc *CodeCache) DeviceWrote(pa, n uint64) {
	if n == 0 {
		return
	}
	dropped := false
	for pfn := pa >> 12; pfn <= (pa+n-1)>>12; pfn++ {
		dropped = cc.dropFrame(pfn) || dropped
	}
	if dropped {
		for _, c := range cc.cpus {
			c.stop = true
		}
	}
}

// page returns the code page for pfn, creating it (and dropping every
// CPU's write fast path to that frame).
func (cc *CodeCache) page(pfn uint64) *codePage {
	p, ok := cc.pages[pfn]
	if !ok {
		p = &codePage{blocks: map[uint32]*block{}}
		cc.pages[pfn] = p
		for _, c := range cc.cpus {
			c.tlb.flushWritesTo(pfn)
		}
	}
	return p
}

// frameBlock records what the code cache's maps held for one (frame, key)
// pair at generation gen (CodeCache.gen): while the generation is
// unchanged, pages[pfn].blocks[key] is still b.
type frameBlock struct {
	pfn uint64
	gen uint64
	b   *block
	p   *codePage // pages[pfn]
	key uint32
}

const frameBlocksSize = 256

type blockLookupEntry struct {
	rip uint64
	key uint64 // epoch<<2 | decode mode when filled
	b   *block
	// lin is the linear address of the block's first byte (flushPage).
	lin uint64
}

type blockLookup struct {
	e [1024]blockLookupEntry
	// epoch is the current epoch: an entry is live only while the epoch
	// it was filled in is current, so a flush is one increment. A block
	// found at some RIP is also still the one a lookup there would
	// return while the epoch is unchanged, the block is valid and
	// cacheable (block links, chain.go, which also need the lookup's
	// stamp). Epochs start at 1, so a zero
	// entry never matches.
	epoch uint64
	// top is the newest epoch handed out; epoch may be an older one
	// (enter).
	top uint64
	// gen counts flushes: a context recorded in ctxs under another gen
	// is stale.
	gen uint64
	// ctxs are the last code contexts the CPU ran in, each with the
	// epoch its entries were filled in (enter), round robin at next.
	ctxs [4]lookupCtx
	next uint8
	// cur is the index in ctxs of the context entered last, prev the
	// one entered before it (a return to the other privilege level).
	cur, prev uint8
	// scratch is the context being entered (CPU.enterCodeCtx).
	scratch codeCtx
	// pages has bit pageBit(lin) set for every entry that may be live
	// (filled since the last flush), and crossing is set when one of
	// them holds a page-crossing block: flushPage skips its scan when
	// neither covers the page (INVLPG of a data page, the usual case).
	pages    [4]uint64
	crossing bool
	// tags holds pageTag of each entry's page (0: an entry cleared by
	// flushPage or never filled), so that flushPage reads 4 KiB to find
	// the entries of a page, not the entries themselves. A tag may
	// outlive its entry's epoch: flushPage then looks at that entry for
	// nothing, which is harmless.
	tags [1024]uint32
	// stamp names this lookup and the INVLPGs it has seen
	// (CodeCache.newStamp): a block link (chain.go) recorded under
	// another stamp is another CPU's or may lead to a dropped entry's
	// block.
	stamp uint64
	// linkPages has bit tagBit of the page (pages, as pages does) of
	// every block a link recorded under the current stamp leads to, and
	// of the page a page-crossing one crosses into: an INVLPG of a page
	// whose bit is clear cannot change where a live link leads, so it
	// keeps the stamp (CPU.invalidatePage, chain.go). Bits go only with
	// a new stamp.
	linkPages [4]uint64
	// volatile is the page tag of the page whose INVLPG last gave the
	// lookup a new stamp: no link is recorded to a block there (linkMiss),
	// so that a page that is written, invalidated and run again and
	// again (kvm-unit-tests' access test's test page) does not take
	// every other link with it each time.
	volatile uint32
}

// linkMark sets the bits of linkPages for a link to b, found at linear
// address lin.
func (l *blockLookup) linkMark(lin uint64, b *block) {
	p := tagBit(pageTag(lin) &^ tagCross)
	l.linkPages[p>>6] |= 1 << (p & 63)
	if b.pfn2 != noFrame {
		p = tagBit(pageTag(lin+4096) &^ tagCross)
		l.linkPages[p>>6] |= 1 << (p & 63)
	}
}

// linkMarked tells whether a live link may lead to a block that lies in
// the page of lin or crosses into it.
func (l *blockLookup) linkMarked(lin uint64) bool {
	p := tagBit(pageTag(lin) &^ tagCross)
	return l.linkPages[p>>6]&(1<<(p&63)) != 0
}

// renewStamp gives the lookup a new stamp (every block link goes,
// chain.go), after an INVLPG of the page of lin.
func (l *blockLookup) renewStamp(cc *CodeCache, lin uint64) {
	l.stamp = cc.newStamp()
	l.linkPages = [4]uint64{}
	l.volatile = pageTag(lin)
}

// lookupIndex is the entry of blockLookup.e for rip.
func lookupIndex(rip uint64) uint64 { return (rip ^ rip>>10) & 1023 }

// pageTag is a non-zero hash of the page of lin (tags): the page number's
// halves folded together, bit 31 set and bit 30 (tagCross) clear.
func pageTag(lin uint64) uint32 {
	p := lin >> 12
	return uint32(p^p>>32)&^tagCross | 1<<31
}

// tagCross marks the tag of an entry whose block crosses into the next
// page (block.pfn2).
const tagCross = 1 << 30

// tagBit is the bit of pages for a page tag: its bytes folded together
// (kernel code at 4 MiB and test data at 0x123400000000, as in
// kvm-unit-tests' access test, share their low page-number bits).
func tagBit(t uint32) uint32 {
	t ^= t >> 16
	return (t ^ t>>8) & 255
}

// mark sets the bit of tag t in pages.
func (l *blockLookup) mark(t uint32) {
	p := tagBit(t &^ tagCross)
	l.pages[p>>6] |= 1 << (p & 63)
}

// marked tells whether the bit of tag t is set in pages.
func (l *blockLookup) marked(t uint32) bool {
	p := tagBit(t &^ tagCross)
	return l.pages[p>>6]&(1<<(p&63)) != 0
}

// note records the fill of entry i with a block at lin (pages, crossing,
// tags). A page-crossing block marks both its pages.
func (l *blockLookup) note(i uint64, lin uint64, b *block) {
	t := pageTag(lin)
	if b.pfn2 != noFrame {
		t |= tagCross
		l.mark(pageTag(lin + 4096))
		l.crossing = true
	}
	l.tags[i] = t
	l.mark(t)
}

// codeCtx is everything a block lookup's answer depends on besides RIP,
// the memory that holds the code (block.valid) and the translations: the
// linear address (CS base and limit, the canonical check's CR4.LA57), the
// decode mode, the privilege level and every control bit the fetch's
// paging checks read (CPL, CR0, CR3, CR4, EFER: SDM Vol. 3A 4.6 and
// 4.6.1 — U/S, SMEP, NX, the paging mode, PCID), the TLB's key (its
// context slot and PCID) and VMX non-root operation. tlbInval is the
// invalidation count of the TLB's current slot (tlb.inval): a context
// seen before an invalidation of its slot since is not the same context,
// while invalidations of other slots (INVVPID or INVEPT of another
// guest's) leave it alone.
type codeCtx struct {
	csBase, cr0, cr3, cr4, efer, tlbKey, tlbInval, gen uint64
	csLimit                                            uint32
	mode, cpl                                          uint8
	guest                                              bool
}

// same reports whether x and y are the same context: x == y, field by
// field, the ones that differ most often first (TestCodeCtxSame).
func (x *codeCtx) same(y *codeCtx) bool {
	return x.cpl == y.cpl && x.tlbKey == y.tlbKey && x.cr3 == y.cr3 && x.tlbInval == y.tlbInval &&
		x.gen == y.gen && x.mode == y.mode && x.csBase == y.csBase && x.csLimit == y.csLimit &&
		x.cr0 == y.cr0 && x.cr4 == y.cr4 && x.efer == y.efer && x.guest == y.guest
}

// lookupCtx is a code context and its epoch.
type lookupCtx struct {
	ctx   codeCtx
	epoch uint64
}

// flush drops every entry: translations changed (INVLPG, MOV CR3, a TLB
// context switch, EPT changes).
func (l *blockLookup) flush() {
	l.top++
	l.epoch = l.top
	l.gen++
	// No entry filled before can be live again: its epoch is gone and
	// so are the contexts that could take it back (enter).
	l.pages = [4]uint64{}
	l.crossing = false
}

// flushPage drops the entries, of every epoch, whose block lies in the
// linear page of lin, and every page-crossing block's (INVLPG: the TLB
// drops that page's translations alone, tlb.flushPage, and the lookup
// follows it). A block lies in one page unless it crosses (block.pfn2;
// fetchWindow ends at the page). The CPU must leave its current block
// (invalidatePage), which may be one of them. It reports whether
// it looked at the entries (the page was marked in pages). Block links
// do not depend on these marks: a live link's successor's page(s) are
// marked in linkPages (chain.go, linkMiss), and invalidatePage gives
// the lookup a new stamp, which drops every link, when the page is
// marked there.
func (l *blockLookup) flushPage(lin uint64) bool {
	pg := lin >> 12
	t := pageTag(lin)
	// Page 0 with page-crossing blocks about: the block crossing into it
	// may start at the top of the 32-bit space (lin+4096 was not
	// wrapped when it was marked), so every entry is looked at.
	full := l.crossing && pg == 0
	if !full && !l.marked(t) {
		return false // no entry in that page
	}
	l.pages = [4]uint64{}
	if !full {
		// Only the entries whose tag is the page's, or a crossing
		// block's from the page before, can lie in it.
		var prev uint32
		if l.crossing {
			prev = pageTag(lin - 4096) // pg > 0
		}
		for i, x := range l.tags {
			if x == 0 {
				continue
			}
			y, cross := x&^tagCross, x&tagCross != 0
			if y == t || cross && y == prev {
				e := &l.e[i]
				if e.lin>>12 == pg || cross && e.lin>>12+1 == pg || !l.mayLive(e.key>>2) {
					*e = blockLookupEntry{}
					l.tags[i] = 0
					continue
				}
			}
			l.mark(y)
			if cross {
				l.mark(pageTag(l.e[i].lin + 4096))
			}
		}
		return true
	}
	l.crossing = false
	for i := range l.e {
		e := &l.e[i]
		if e.b == nil {
			l.tags[i] = 0
			continue
		}
		if e.lin>>12 == pg || e.b.pfn2 != noFrame || !l.mayLive(e.key>>2) {
			*e = blockLookupEntry{}
			l.tags[i] = 0
		} else {
			l.note(uint64(i), e.lin, e.b)
		}
	}
	return true
}

// mayLive tells whether entries of epoch can match now or later: the
// current epoch, or one a remembered context can take back (enter).
func (l *blockLookup) mayLive(epoch uint64) bool {
	if epoch == l.epoch {
		return true
	}
	for i := range l.ctxs {
		if x := &l.ctxs[i]; x.epoch == epoch && x.ctx.gen == l.gen {
			return true
		}
	}
	return false
}

// enter makes x the current code context (stateChanged: a segment load,
// a change of mode, privilege level or control register). Returning to a
// context seen before, with no flush and no TLB invalidation since, takes
// its epoch back, so the entries filled in it are live again: they are
// what a lookup would give, since nothing it reads has changed (codeCtx).
// kvm-unit-tests' access test goes from CPL 0 to 3 and back around every
// access, and a flush there made a lookup miss every ~11 instructions.
// Any other context starts a new epoch, as a flush did before.
//
// The context entered last (cur) is tried first: a segment load or an
// IRET within one context enters it again; then the one before it
// (prev): an IRET to CPL 3 and the INT n back. The contexts recorded under
// the current gen are distinct (one is added only when none matches), so
// the first match is the only one.
func (l *blockLookup) enter(x *codeCtx) {
	x.gen = l.gen
	if c := &l.ctxs[l.cur]; c.epoch != 0 && c.ctx.same(x) {
		l.epoch = c.epoch
		return
	}
	if c := &l.ctxs[l.prev]; c.epoch != 0 && c.ctx.same(x) {
		l.epoch = c.epoch
		l.cur, l.prev = l.prev, l.cur
		return
	}
	for i := range l.ctxs {
		if l.ctxs[i].epoch != 0 && l.ctxs[i].ctx.same(x) {
			l.epoch = l.ctxs[i].epoch
			l.cur, l.prev = uint8(i), l.cur
			return
		}
	}
	l.top++
	l.epoch = l.top
	l.ctxs[l.next] = lookupCtx{ctx: *x, epoch: l.top}
	l.cur, l.prev = l.next, l.cur
	l.next = (l.next + 1) % uint8(len(l.ctxs))
}

// enterCodeCtx enters c's current code context (blockLookup.enter). The
// context is written field by field into the lookup's scratch record: a
// whole-struct copy through the stack stalled on store forwarding.
func (c *CPU) enterCodeCtx() {
	x := &c.blocks.scratch
	x.csBase, x.csLimit = c.segv[arch.CS].base, c.Seg[arch.CS].Limit
	x.cr0, x.cr3, x.cr4, x.efer = c.CR0, c.CR3, c.CR4, c.EFER
	x.tlbKey, x.tlbInval = c.tlb.key, c.tlb.inval[c.tlb.ctx.cur]
	x.mode, x.cpl, x.guest = c.codeMode, c.cpl, c.inGuest()
	c.blocks.enter(x)
}

// codeCtxChanged enters the current code context after a change that
// stateChanged does not follow: a TLB slot invalidated (INVVPID, INVEPT)
// or a translation context switched by VMFUNC. A context whose slot's
// count did not change keeps its epoch, and so its entries.
func (c *CPU) codeCtxChanged() { c.enterCodeCtx() }

// key is the lookup key of an entry filled now in decode mode mode.
func (l *blockLookup) key(mode uint8) uint64 { return l.epoch<<2 | uint64(mode) }

// lookupBlock returns the block at the current RIP, decoding it if needed.
// It returns nil when fetching raised a fault. The miss path is kept in
// lookupMiss so that the hit path stays short.
func (c *CPU) lookupBlock() *block {
	rip := c.RIP
	e := &c.blocks.e[lookupIndex(rip)]
	if e.rip == rip && e.key == c.blocks.key(c.codeMode) && e.b.valid {
		return e.b
	}
	return c.lookupMiss(e)
}

// lookupMiss decodes (or finds in the code cache) the block at RIP and
// records it in lookup entry e.
func (c *CPU) lookupMiss(e *blockLookupEntry) *block {
	rip := c.RIP
	b := c.decodeBlock(rip)
	if b == nil {
		return nil
	}
	if b.cacheable {
		lin := c.codeLinear(rip)
		*e = blockLookupEntry{rip: rip, key: c.blocks.key(c.codeMode), b: b, lin: lin}
		c.blocks.note(lookupIndex(rip), lin, b)
	}
	return b
}

// codeLinear is the linear address of the code at rip: the CS base plus
// rip, modulo 2^32 outside 64-bit mode (SDM Vol. 3A 3.4, 5.3).
func (c *CPU) codeLinear(rip uint64) uint64 {
	lin := rip + c.segv[arch.CS].base
	if c.codeMode != mode64 {
		lin &= 0xFFFFFFFF
	}
	return lin
}

// noFrame marks a fetch window that does not come from RAM.
const noFrame = ^uint64(0)

// fetchWindow returns the bytes from lin to the end of its page (or the CS
// limit) through a fetch translation, and the frame number (noFrame for
// code fetched from MMIO or unmapped space, which is never cached).
func (c *CPU) fetchWindow(lin uint64, limitLeft uint64) ([]byte, uint64, bool) {
	e := &c.tlb.fetch[c.tlb.index(lin)]
	if e.tag != c.tlb.tag(lin) {
		var pa uint64
		var ok bool
		e, pa, ok = c.fill(lin, accFetch)
		if !ok {
			return nil, 0, false
		}
		if e == nil {
			buf := make([]byte, maxInsnLen)
			n := uint64(len(buf))
			if left := 4096 - pa&0xfff; left < n {
				n = left
			}
			if limitLeft < n {
				n = limitLeft
			}
			for i := range buf[:n] {
				b, ok := c.physRead(pa+uint64(i), 1, accFetch)
				if !ok {
					c.stop = true
					return nil, 0, false
				}
				buf[i] = byte(b)
			}
			return buf[:n], noFrame, true
		}
	}
	o := lin & 0xfff
	end := uint64(4096)
	if limitLeft < end-o {
		end = o + limitLeft
	}
	return e.page[o:end], e.pfn, true
}

// fastInsts numbers insts (Inst.pre, Inst.nret) and returns the list
// Run's fast path executes: insts itself, or a copy ending in a fused
// setter+Jcc pair (with a head before it, exec_head.go) and/or with
// adjacent ALU instructions paired (exec_pair.go).
func (c *CPU) fastInsts(insts []Inst) []Inst {
	for i := range insts {
		insts[i].pre = uint8(i)
		insts[i].nret = 1
	}
	n := len(insts)
	if n < 2 {
		return stackFastInsts(insts, insts, c.codeMode)
	}
	// Setter+Jcc pairs (exec_fused.go): the block's last two
	// instructions, and each side exit with the instruction before it.
	fast := insts
	for i := n - 2; i >= 0; i-- {
		if i+2 < n && !insts[i+1].side {
			continue
		}
		if f, ok := fusePair(&insts[i], &insts[i+1], c.codeMode); ok {
			if &fast[0] == &insts[0] {
				fast = append([]Inst(nil), insts...)
			}
			// The instructions of a head before the setter
			// (exec_head.go) join the entry.
			h := fuseHead(insts[:i], &insts[i], &f, c.codeMode)
			fast[i-h] = f
			fast = append(fast[:i-h+1], fast[i+2:]...)
			i -= 1 + h // the setter and the head are taken
		}
	}
	// ALU pairs (exec_pair.go), in a copy of their own.
	for i := 0; i+1 < len(fast); i++ {
		if pairable(&fast[i], &fast[i+1]) || storePairable(&fast[i], &fast[i+1]) || loadPairable(&fast[i], &fast[i+1]) {
			fast = fuseALUPairs(append([]Inst(nil), fast...))
			break
		}
	}
	fast = fuseMorePairs(insts, fast) // move and store-first pairs (exec_pair.go)
	return stackFastInsts(insts, fast, c.codeMode)
}

// stackFastInsts installs the stack fast paths (exec_stack.go) in the fast
// list fast, copied first when it is insts itself, and folds runs of
// pushes and pops into stack run entries (exec_stackrun.go).
func stackFastInsts(insts, fast []Inst, mode uint8) []Inst {
	if len(fast) == 0 {
		return fast
	}
	copied := &fast[0] != &insts[0]
	for i := range fast {
		if h := stackFast(&fast[i], mode); h != nil {
			if !copied {
				fast, copied = append([]Inst(nil), fast...), true
			}
			fast[i].fn = h
		}
	}
	// Every PUSH and POP a run folds has a stack fast path, installed
	// above: a list with none was not copied and holds no run.
	if copied {
		fast = foldStackRuns(fast, mode) // exec_stackrun.go
	}
	return fast
}

// decodeBlock decodes a basic block starting at rip.
func (c *CPU) decodeBlock(rip uint64) *block {
	seg := &c.Seg[arch.CS]
	lin := c.codeLinear(rip)
	limitLeft := uint64(1) << 62
	if c.codeMode != mode64 {
		if rip > uint64(seg.Limit) {
			c.raiseGP("instruction fetch beyond the CS limit", "Vol. 3A 5.3")
			return nil
		}
		limitLeft = uint64(seg.Limit) - rip + 1
	} else if !c.canonical(lin) {
		c.raiseGP("instruction fetch from a non-canonical address", "Vol. 3A 3.3.7.1")
		return nil
	}
	win, pfn, ok := c.fetchWindow(lin, limitLeft)
	if !ok {
		return nil
	}
	off := uint32(lin & 0xfff)
	key := off | uint32(c.codeMode)<<12
	if pfn != noFrame {
		// The per-CPU memo of the maps' answers first (frameBlocks):
		// a block lookup flush (CR3, CR4, mode changes) finds the
		// blocks again without two map lookups per block.
		fb := &c.frameBlocks[(pfn^pfn>>8^uint64(key))&(frameBlocksSize-1)]
		if fb.gen == c.code.gen && fb.pfn == pfn && fb.key == key {
			if b := fb.b; b.valid && uint64(b.size) <= limitLeft && b.pfn2 == noFrame {
				fb.p.looked = true
				return b
			}
		}
		if p, ok := c.code.pages[pfn]; ok {
			if b, ok := p.blocks[key]; ok && b.valid && uint64(b.size) <= limitLeft && b.pfn2 == noFrame {
				*fb = frameBlock{pfn: pfn, key: key, gen: c.code.gen, b: b, p: p}
				p.looked = true
				return b
			}
		}
	}
	insts := make([]Inst, 0, 8)
	pos := 0
	sides := c.sideExits(pfn)
	for len(insts) < maxBlockInsts {
		var in Inst
		if !c.code.t.decode(win[pos:], c.codeMode, &in) {
			break // the instruction continues past the window
		}
		insts = append(insts, in)
		pos += int(in.len)
		if in.fault != nil || pos >= len(win) {
			break
		}
		if in.end {
			if sides > 0 && isJccRel(&in) && pos+int(int64(in.imm)) != 0 {
				insts[len(insts)-1].side = true
				sides--
				continue
			}
			if page := c.tracePage(lin, pfn); page != nil {
				return c.decodeTrace(page, lin, pfn, key, insts, pos, sides)
			}
			break
		}
	}
	lastNoSide(insts)
	if len(insts) == 0 {
		return c.decodeCrossing(lin, win, pfn, key, limitLeft)
	}
	fast := c.fastInsts(insts)
	spin := len(insts) == 2 && len(fast) == 1 && isJccRel(&insts[1]) && insts[1].imm == -uint64(pos)
	if pfn == noFrame {
		b := &block{insts: insts, fast: fast, valid: true, spin: spin, pfn: pfn, pfn2: noFrame, off: uint16(off)}
		c.traceTranslated(b, win[:pos])
		return b
	}
	return c.cacheBlock(&block{insts: insts, fast: fast, valid: true, spin: spin, pfn: pfn, pfn2: noFrame, cacheable: true, size: uint16(pos), off: uint16(off)}, key, win[:pos])
}

// cacheBlock records the freshly decoded block b (from RAM) in its frame's
// code page under key and returns it.
func (c *CPU) cacheBlock(b *block, key uint32, code []byte) *block {
	p := c.code.page(b.pfn)
	p.blocks[key] = b
	p.looked = true
	c.code.gen++
	c.traceTranslated(b, code)
	return b
}

// tracePage returns the page a block at lin, decoded from RAM frame pfn,
// may continue in through direct jumps (decodeTrace): in 64-bit mode, with
// no tracing hook that reports blocks as decoded (Translate, Exec); nil
// otherwise.
func (c *CPU) tracePage(lin, pfn uint64) *[4096]byte {
	if pfn == noFrame || c.codeMode != mode64 || c.Hooks != nil && (c.Hooks.Translate != nil || c.Hooks.Exec != nil) {
		return nil
	}
	// fetchWindow filled the fetch entry of lin.
	if e := &c.tlb.fetch[c.tlb.index(lin)]; e.tag == c.tlb.tag(lin) && e.pfn == pfn {
		return e.page
	}
	return nil
}

// maxSideExits bounds the conditional branches one block continues past
// (side exits).
const maxSideExits = 8

// sideExits is how many side exits a block decoded from frame pfn may
// have: a block continues past a Jcc into its fall-through (the Jcc taken
// ends it there: Inst.side, CPU.takeSide), unless the Jcc jumps back to
// the block's first instruction (a loop, which its own link or spin runs
// best), as one block whose next
// instructions follow in the same fetch window, so with the same
// translation, permissions and CS limit as the Jcc's. Blocks from MMIO or
// unmapped space, decoded afresh each time, have none; nor do blocks
// decoded while a tracing hook reports blocks (Translate, Exec), which
// sees them end at every branch, as QEMU's translation blocks do.
func (c *CPU) sideExits(pfn uint64) int {
	if pfn == noFrame || c.Hooks != nil && (c.Hooks.Translate != nil || c.Hooks.Exec != nil) {
		return 0
	}
	return maxSideExits
}

// lastNoSide makes a block's last instruction, if a Jcc marked as a side
// exit, its plain end: the block ends after it anyway.
func lastNoSide(insts []Inst) {
	if n := len(insts); n > 0 {
		insts[n-1].side = false
	}
}

// traceJump is a direct JMP or CALL that a block continues through
// (decodeTrace): the index of the instruction in block.insts and the page
// offset of its target, where the block's next instruction is.
type traceJump struct {
	at uint8
	to uint16
}

// maxTraceJumps bounds the direct jumps one block continues through.
const maxTraceJumps = 4

// decodeTrace goes on decoding the block at lin (from RAM frame pfn, in
// 64-bit mode), whose instructions so far are insts, pos bytes from lin,
// the last one ending the block: while that is a JMP rel8, JMP rel32 or
// CALL rel32 whose target is in the same page, the block continues there
// (a trace). Each such instruction's handler still makes its jump (and
// CALL its push), so the block runs as the blocks it joins would, one
// after the other, with no block lookup between them; everything a
// lookup at the target would have checked holds for the whole trace:
//
//   - the target is in the same page, so it has the same translation and
//     permissions (and is canonical), and a write to the frame drops the
//     whole trace (dropFrame): every byte it was decoded from is there;
//   - 64-bit mode has no CS limit (CS.base is 0), so where a block is
//     reused (the frame, the page offset, the mode) its trace is too;
//   - no byte is decoded twice: the trace stops before an instruction
//     that overlaps one already in the block, so every instruction has
//     its own page offset and now() (block.before) finds it from ripCur;
//   - a jump that does not take place as decoded (its push faults, a
//     write to the frame stops the block) stops the block, as any fault.
//
// Tracing hooks (Hooks) see the blocks as decoded without traces.
func (c *CPU) decodeTrace(page *[4096]byte, lin, pfn uint64, key uint32, insts []Inst, pos, sides int) *block {
	off := int(lin & 0xfff)
	type span struct{ from, to int } // page offsets [from, to) in the block
	spans := []span{{off, off + pos}}
	var jumps []traceJump
	size := pos
	cur := off + pos // the page offset after the last instruction
	for len(insts) < maxBlockInsts {
		last := &insts[len(insts)-1]
		if len(jumps) == maxTraceJumps || !last.end || last.fault != nil || last.opsz != 8 ||
			last.op != 0xE8 && last.op != 0xE9 && last.op != 0xEB {
			break
		}
		// RIP after the jump is RIP after it plus the displacement
		// (callRel, jmpRel); in the page, cur plus the displacement.
		t := cur + int(int64(last.imm))
		if t < 0 || t >= 4096 {
			break
		}
		var in Inst
		if !c.code.t.decode(page[t:], c.codeMode, &in) {
			break // crosses the page's end
		}
		overlaps := func(from, to int) bool {
			for _, s := range spans {
				if from < s.to && to > s.from {
					return true
				}
			}
			return false
		}
		if overlaps(t, t+int(in.len)) {
			break
		}
		jumps = append(jumps, traceJump{at: uint8(len(insts) - 1), to: uint16(t)})
		spans = append(spans, span{t, t})
		cur = t
		for {
			insts = append(insts, in)
			cur += int(in.len)
			size += int(in.len)
			spans[len(spans)-1].to = cur
			if in.end && sides > 0 && isJccRel(&in) && cur+int(int64(in.imm)) != off && cur < 4096 && len(insts) < maxBlockInsts {
				insts[len(insts)-1].side = true
				sides--
			} else if in.fault != nil || in.end || cur >= 4096 || len(insts) == maxBlockInsts {
				break
			}
			in = Inst{}
			if !c.code.t.decode(page[cur:], c.codeMode, &in) || overlaps(cur, cur+int(in.len)) {
				break
			}
		}
	}
	lastNoSide(insts)
	fast := c.fastInsts(insts)
	b := &block{insts: insts, fast: fast, valid: true, pfn: pfn, pfn2: noFrame, cacheable: true, size: uint16(size), off: uint16(off), jumps: jumps}
	if jumps == nil {
		// A spin loop is a register setter and its Jcc (fusedKind); a
		// memory CMP's loop (fuseMemCmp) reads memory, MMIO among it,
		// and runs block by block.
		k, _ := fusedKind(&insts[0], c.codeMode)
		b.spin = len(insts) == 2 && len(fast) == 1 && isJccRel(&insts[1]) && insts[1].imm == -uint64(pos) && k != fkNone
	}
	return c.cacheBlock(b, key, page[off:off+pos])
}

// decodeCrossing decodes the instruction at lin that continues past its
// fetch window (the end of its page, or the CS limit) into a block of its
// own. The instruction's first bytes are win (from frame pfn). When both
// frames are RAM the block is cached like any other, keyed in pfn's code
// page, and listed in the second frame's page too: a loop whose
// instruction straddles a page boundary is decoded once, not on every
// pass. The block is reused only while its second page still translates
// to the same frame (translations are re-checked here on every lookup
// miss, and the RIP lookup is flushed whenever they change).
func (c *CPU) decodeCrossing(lin uint64, win []byte, pfn uint64, key uint32, limitLeft uint64) *block {
	var buf [maxInsnLen]byte
	n := copy(buf[:], win)
	avail := n
	pfn2 := noFrame
	if uint64(n) < limitLeft {
		nextLin := lin + uint64(n)
		if c.codeMode != mode64 {
			nextLin &= 0xFFFFFFFF
		}
		left := limitLeft - uint64(n)
		w2, f2, ok := c.fetchWindow(nextLin, left)
		if !ok {
			return nil
		}
		pfn2 = f2
		avail += copy(buf[n:], w2)
	}
	cache := pfn != noFrame && pfn2 != noFrame
	if cache {
		if p, ok := c.code.pages[pfn]; ok {
			if b, ok := p.blocks[key]; ok && b.valid && b.pfn2 == pfn2 && uint64(b.size) <= limitLeft {
				return b
			}
		}
	}
	var in Inst
	if !c.code.t.decode(buf[:avail], c.codeMode, &in) {
		c.raiseGP("instruction crosses the CS limit", "Vol. 3A 5.3")
		return nil
	}
	in.nret = 1
	insts := []Inst{in}
	off := uint16(lin & 0xfff)
	if !cache {
		b := &block{insts: insts, fast: insts, valid: true, pfn: pfn, pfn2: noFrame, off: off}
		c.traceTranslated(b, buf[:in.len])
		return b
	}
	b := &block{insts: insts, fast: insts, valid: true, pfn: pfn, pfn2: pfn2, cacheable: true, size: uint16(in.len), off: off}
	c.traceTranslated(b, buf[:in.len])
	p := c.code.page(pfn)
	p.blocks[key] = b
	p.looked = true
	c.code.gen++
	p2 := c.code.page(pfn2)
	p2.looked = true
	live := p2.cross[:0]
	for _, o := range p2.cross {
		if o.valid {
			live = append(live, o)
		}
	}
	p2.cross = append(live, b)
	return b
}

package cpu

// Block chaining: each cached block remembers the last blockLinks blocks
// Run found after it (its links: a conditional branch's two ways and the
// targets of its side exits, a RET's callers), so that when the block ends at one of their RIPs again Run
// continues there without a block lookup. A link stands for the lookup's
// answer at that RIP, so it is followed only while that answer cannot
// have changed:
//
//   - the same CPU's lookup, with no INVLPG since of a page a link leads
//     into (stamp): blocks are shared between the CPUs of a machine
//     (CodeCache), each CPU's lookup has its own epochs and translations,
//     and a link recorded by one CPU says nothing about another's. A
//     lookup's stamp is drawn from its machine's code cache
//     (CodeCache.newStamp), when the CPU is attached and at an INVLPG
//     (flushPage drops one page's entries and leaves the epoch alone) of
//     a page that the successor of a link recorded under the current
//     stamp lies in or crosses into (blockLookup.linkPages, a 256-bit
//     summary of those pages), so no two lookups share one. An INVLPG of
//     any other page changes no translation a live link's successor was
//     fetched through, so where a lookup at its RIP would go;
//   - the same lookup key (epoch and decode mode, blockLookup.key): an
//     epoch changes with every flush and every code context
//     (blockLookup.enter: CPL, mode, CS, control registers, the TLB's key
//     and invalidations), as for the lookup's own entries;
//   - the successor still valid (no write into its frames, dropFrame).
//
// Only cacheable successors are linked (a block from MMIO is decoded
// afresh each time). Any other case falls back to the lookup, which
// records the new link. Run (run.go) tests the links inline (linked)
// and calls linkMiss when neither is valid.

// blockLink is a remembered successor and what makes it valid.
type blockLink struct {
	b     *block
	rip   uint64 // the successor's RIP
	key   uint64 // the lookup's key(mode) when recorded
	stamp uint64 // the lookup's stamp when recorded
}

// linked tells whether l leads to the block at rip for the lookup l
// (whose current key is key).
func (x *blockLink) linked(l *blockLookup, rip, key uint64) bool {
	return x.rip == rip && x.key == key && x.stamp == l.stamp && x.b.valid
}

// blockLinks is the number of links a block keeps. With side exits a
// block has up to nine ways out; kvm-unit-tests' access test, whose
// blocks take three or four of them in turn, found the block it left for
// among the last four in three of every four lookups that the last two
// missed.
const blockLinks = 4

// nextBlock returns the block at the current RIP after prev ran to its
// end, as Run finds it: one of prev's links when it is valid, or else
// what linkMiss returns.
func (c *CPU) nextBlock(prev *block) *block {
	key := c.blocks.key(c.codeMode)
	if prev.link[0].linked(&c.blocks, c.RIP, key) {
		return prev.link[0].b
	}
	if prev.link[1].linked(&c.blocks, c.RIP, key) {
		return prev.link[1].b
	}
	return c.linkMiss(prev)
}

// linkMiss follows prev's older links (Run tests the newest two inline),
// or else looks the block at RIP up (nil when fetching raised a fault)
// and records it as prev's newest link, the others moved down one.
func (c *CPU) linkMiss(prev *block) *block {
	key := c.blocks.key(c.codeMode)
	for i := 2; i < blockLinks; i++ {
		if prev.link[i].linked(&c.blocks, c.RIP, key) {
			return prev.link[i].b
		}
	}
	b := c.lookupBlock()
	if b != nil && b.cacheable && prev.valid {
		// The page a link leads into goes into linkPages, unless
		// it is the page whose INVLPG dropped the links last
		// (blockLookup.volatile): then there is no link.
		lin := c.codeLinear(c.RIP)
		if pageTag(lin) == c.blocks.volatile {
			return b
		}
		c.blocks.linkMark(lin, b)
		copy(prev.link[1:], prev.link[:blockLinks-1])
		prev.link[0] = blockLink{b: b, rip: c.RIP, key: c.blocks.key(c.codeMode), stamp: c.blocks.stamp}
	}
	return b
}

package cpu

// Block chaining: each cached block remembers the block Run found after
// it last time (its link), so that when the block ends at the same RIP
// again Run continues there without a block lookup. A link stands for
// the lookup's answer at that RIP, so it is followed only while that
// answer cannot have changed:
//
//   - the same CPU's lookup (owner): blocks are shared between the CPUs of
//     a machine (CodeCache), each CPU's lookup has its own epochs and
//     translations, and a link recorded by one CPU says nothing about
//     another's;
//   - the same lookup key (epoch and decode mode, blockLookup.key): an
//     epoch changes with every flush and every code context
//     (blockLookup.enter: CPL, mode, CS, control registers, the TLB's key
//     and invalidations), as for the lookup's own entries;
//   - no INVLPG since (blockLookup.drops): flushPage drops one page's
//     entries and leaves the epoch alone;
//   - the successor still valid (no write into its frames, dropFrame).
//
// Only cacheable successors are linked (a block from MMIO is decoded
// afresh each time). Any other case falls back to the lookup, which
// records the new link.

// blockLink is a block's remembered successor and what makes it valid.
type blockLink struct {
	b     *block
	owner *blockLookup
	rip   uint64 // the successor's RIP
	key   uint64 // owner.key(mode) when recorded
	drops uint64 // owner.drops when recorded
}

// nextBlock returns the block at the current RIP after prev ran to its
// end: prev's link when it is valid (blockLink), or else what
// lookupBlock returns (nil when fetching raised a fault), which becomes
// prev's link. The miss path is kept in linkMiss so that this inlines
// into Run.
func (c *CPU) nextBlock(prev *block) *block {
	if l := &prev.link; l.owner == &c.blocks && l.rip == c.RIP && l.key == c.blocks.key(c.codeMode) && l.drops == c.blocks.drops && l.b.valid {
		return l.b
	}
	return c.linkMiss(prev)
}

// linkMiss looks the block at RIP up and records it as prev's link.
func (c *CPU) linkMiss(prev *block) *block {
	b := c.lookupBlock()
	if b != nil && b.cacheable && prev.valid {
		prev.link = blockLink{b: b, owner: &c.blocks, rip: c.RIP, key: c.blocks.key(c.codeMode), drops: c.blocks.drops}
	}
	return b
}

package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestLinkPagesINVLPG: which INVLPGs drop the block links (chain.go,
// blockLookup.linkPages). Four linear pages map to four frames, each
// holding a NOP and a HLT at offset 0 and, at its end, a MOV EAX,imm32
// whose last bytes lie in the next page (a page-crossing block). A HLT in
// the harness's code page is the predecessor whose links nextBlock follows
// and records. The oracle is the SDM's rule for INVLPG (Vol. 3A 4.10.4.1:
// no stale translation of the page survives it): after a page is remapped
// and INVLPGed, the block at a RIP in it (or crossing into it) comes from
// the frame it maps to now, whether a link or a lookup finds it. What
// the test also checks is that an INVLPG of a page no link leads into,
// code page or not, keeps the links (the stamp), and that no link is
// recorded into the page whose INVLPG last dropped them (volatile).
func TestLinkPagesINVLPG(t *testing.T) {
	const (
		base  = 0x40000000
		pool0 = 0x100000
	)
	h := newHarness(mode64)
	c := h.c
	ram := h.bus.ram
	w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
	r := func(pa uint64) uint64 { return binary.LittleEndian.Uint64(ram[pa:]) }
	// PML4[0] -> a PDPT whose entry 0 is the harness's and entry 1 maps
	// base through a PD and a PT.
	pml4 := uint64(0x300000)
	pdpt, pd, pt := pml4+0x1000, pml4+0x2000, pml4+0x3000
	w(pdpt, r(harnessPML4+0x1000))
	w(pdpt+8, pd|7)
	w(pml4, pdpt|7)
	w(pd, pt|7)
	for f := uint64(0); f < 4; f++ {
		pa := pool0 + f*4096
		ram[pa], ram[pa+1] = 0x90, 0xF4        // NOP; HLT
		ram[pa+0xFFE], ram[pa+0xFFF] = 0xB8, 0 // MOV EAX,imm32 (crosses)
		ram[pa+2+f] = 0xF4                     // so that the frames differ
	}
	mapPage := func(p, f uint64) { w(pt+p*8, pool0+f*4096|0x23) }
	for p := uint64(0); p < 4; p++ {
		mapPage(p, p)
	}
	c.CR3 = pml4
	c.pagingChanged()
	c.stateChanged()
	ram[harnessCode] = 0xF4
	c.RIP = harnessCode
	pred := c.lookupBlock()
	require.NotNil(t, pred)
	frame := func(p uint64) uint64 { return r(pt+p*8) >> 12 }
	next := func(rip uint64) *block {
		c.RIP, c.stop = rip, false
		b := c.nextBlock(pred)
		require.NotNil(t, b, "fetch at %#x faulted: %v", rip, c.fault)
		return b
	}
	pageBit := func(p uint64) uint32 { return tagBit(pageTag(base + p*4096)) }
	require.NotEqual(t, pageBit(0), pageBit(2))
	require.NotEqual(t, pageBit(1), pageBit(2))

	// A link to page 0's block.
	b0 := next(base)
	require.Equal(t, frame(0), b0.pfn)
	require.Same(t, b0, pred.link[0].b)
	// Page 2 holds a block in the lookup but no link leads there: its
	// INVLPG keeps the links.
	c.RIP = base + 2*4096
	require.NotNil(t, c.lookupBlock())
	stamp := c.blocks.stamp
	c.invalidatePage(base + 2*4096)
	require.Equal(t, stamp, c.blocks.stamp, "an INVLPG of a page no link leads into dropped the links")
	require.Same(t, b0, next(base))
	require.Equal(t, stamp, pred.link[0].stamp)

	// Page 0 remapped: its INVLPG drops the links, and the block comes
	// from the new frame.
	mapPage(0, 3)
	c.invalidatePage(base)
	require.NotEqual(t, stamp, c.blocks.stamp)
	b := next(base)
	require.Equal(t, frame(0), b.pfn, "a link to page 0's old frame was followed")
	// Page 0 is now the volatile page: no link leads there, so its next
	// INVLPG keeps the stamp, and the lookup still finds the new frame.
	require.NotEqual(t, base, pred.link[0].rip)
	stamp = c.blocks.stamp
	mapPage(0, 1)
	c.invalidatePage(base)
	require.Equal(t, stamp, c.blocks.stamp, "an INVLPG of the volatile page dropped the links")
	require.Equal(t, frame(0), next(base).pfn)

	// A link to the block crossing from page 1 into page 2: remapping
	// page 2 and its INVLPG must drop it.
	bx := next(base + 4096 + 0xFFE)
	require.Equal(t, frame(1), bx.pfn)
	require.Equal(t, frame(2), bx.pfn2)
	require.Same(t, bx, pred.link[0].b)
	require.Same(t, bx, next(base+4096+0xFFE))
	mapPage(2, 0)
	c.invalidatePage(base + 2*4096)
	bx = next(base + 4096 + 0xFFE)
	require.Equal(t, frame(1), bx.pfn)
	require.Equal(t, frame(2), bx.pfn2, "a link to a block crossing into page 2's old frame was followed")
}

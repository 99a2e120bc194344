package cpu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestTLB2Invalidation: the TLB's second level (tlb2.go) under random
// remappings. 1024 linear pages (more than the first level's 256 entries,
// so entries are evicted into the second level and come back from it) map
// to random frames of a pool; every frame holds its own number at offset
// 0. Random steps read a page (offset 0: the frame it maps to now; offset
// 8: the last value written there), write offset 8, or remap a page and
// then invalidate it as the SDM allows for a non-global translation
// (INVLPG: flushPage; MOV CR3 with CR4.PGE=0: flushAll; the non-global
// entries: flushNonGlobal; the current PCID: flushPCID; SDM Vol. 3A
// 4.10.4.1), or call flushes that must not change what an access sees
// (the WP-dependent writes, a frame's entries). The oracle is the test's
// own page → frame map: after the invalidation, an access must see the
// new frame (SDM 4.10.4.1: no stale translation of the page survives).
func TestTLB2Invalidation(t *testing.T) {
	const (
		pml4   = 0x300000
		pdpt   = 0x301000
		pd     = 0x302000
		pt     = 0x303000 // two page tables: pt, pt+0x1000
		base   = 0x40000000
		nPages = 1024
		pool0  = 0x100000 // frames pool0 .. pool0+nPool*4096
		nPool  = 512
	)
	for seed := uint64(1); seed <= 8; seed++ {
		h := newHarness(mode64)
		c := h.c
		ram := h.bus.ram
		w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
		r := func(pa uint64) uint64 { return binary.LittleEndian.Uint64(ram[pa:]) }
		// PML4[0] -> our PDPT; its entry 0 is the harness's (code, data
		// and stack, 2-MiB pages), entry 1 maps base through our PD.
		w(pdpt, r(harnessPML4+0x1000))
		w(pdpt+8, pd|3)
		w(pml4, pdpt|3)
		w(pd, pt|3)
		w(pd+8, (pt+0x1000)|3)
		rng := rand.New(rand.NewPCG(seed, 2))
		frame := make([]uint64, nPages)
		val := map[uint64]uint64{}
		for f := uint64(0); f < nPool; f++ {
			w(pool0+f*4096, pool0+f*4096)
			w(pool0+f*4096+8, 0)
		}
		const pteFlags = 0x63 // P, R/W, A, D (supervisor, not global)
		for p := range frame {
			frame[p] = pool0 + uint64(rng.IntN(nPool))*4096
			w(pt+uint64(p)*8, frame[p]|pteFlags)
		}
		c.CR3 = pml4
		c.pagingChanged()
		c.stateChanged()
		maxLive := 0
		for step := 0; step < 40000; step++ {
			p := uint64(rng.IntN(nPages))
			lin := base + p*4096
			switch k := rng.IntN(1000); {
			case k < 600:
				got, ok := rdLin[uint64](c, lin)
				require.True(t, ok, "seed %d step %d: read of page %d", seed, step, p)
				require.Equal(t, frame[p], got, "seed %d step %d: page %d maps to the wrong frame", seed, step, p)
				got, ok = rdLin[uint64](c, lin+8)
				require.True(t, ok)
				require.Equal(t, val[frame[p]], got, "seed %d step %d: value in page %d", seed, step, p)
			case k < 960:
				v := rng.Uint64()
				require.True(t, wrLin[uint64](c, lin+8, v), "seed %d step %d: write of page %d", seed, step, p)
				val[frame[p]] = v
			case k < 990:
				// Remap, then invalidate: INVLPG mostly, the wider
				// flushes (which empty the second level) rarely.
				frame[p] = pool0 + uint64(rng.IntN(nPool))*4096
				w(pt+p*8, frame[p]|pteFlags)
				switch k {
				case 960:
					c.tlb.flushAll()
				case 961:
					c.tlb.flushNonGlobal()
				case 962:
					c.tlb.flushPCID(0)
				default:
					c.tlb.flushPage(lin)
				}
				c.blocks.flush()
				got, ok := rdLin[uint64](c, lin)
				require.True(t, ok)
				require.Equal(t, frame[p], got, "seed %d step %d: page %d after its remapping and invalidation", seed, step, p)
			case k < 993:
				c.tlb.flushWrites()
			case k < 996:
				c.tlb.flushWritesTo(frame[rng.IntN(nPages)] >> 12)
			case k < 998:
				c.tlb.flushFrame(frame[rng.IntN(nPages)] >> 12)
			default:
				c.tlb.flushPage(lin)
			}
			if c.tlb.l2 != nil && step%100 == 99 {
				live := 0
				for n := range c.tlb.l2.e {
					for i := range c.tlb.l2.e[n] {
						if e := &c.tlb.l2.e[n][i]; e.gen == c.tlb.gen2 && e.page != nil {
							live++
						}
					}
				}
				maxLive = max(maxLive, live)
			}
		}
		// The second level must be exercised, not bypassed.
		require.Greater(t, maxLive, 100, "seed %d: live second-level entries", seed)
		require.Equal(t, uint64(arch.CR4PAE), c.CR4, "no CR4 bit beyond PAE: PCID 0, no global pages")
	}
}

package cpu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestBlockLookupContexts: the RIP-to-block lookup across code contexts
// (blockLookup.enter: a context seen before takes its entries back),
// INVLPG (blockLookup.flushPage: the entries of one page go) and block
// links (chain.go: Run's way to the next block without a lookup). Eight
// linear pages map to frames of a pool; every frame holds, at offset 0, as
// many NOPs as its version (mod 4, plus one) and a HLT, so a block tells
// which frame and which version it was decoded from. Two CPUs share the
// code cache, each with its own page tables mapping the eight pages to
// frames of its own choosing, and take the same steps, so that their
// lookups' epochs stay equal: a link one CPU recorded looks valid to the
// other unless it names its CPU. Random steps move both CPUs between CPL
// 0 and 3, load DS (a context change that is not one), toggle CR4.SMEP,
// reload CR3, remap a page or flip its U/S bit and INVLPG it, rewrite a
// frame's code (the code cache drops its blocks), and look up the block
// at a page (or at a RIP in another page whose lookup entry is the
// page's), directly or as the successor of one of two blocks shared
// by both CPUs (nextBlock, which follows and records their links). The
// oracle is the SDM's rule for an instruction fetch with 4-level paging
// (Vol. 3A 4.6.1): a user-mode fetch needs U/S=1 at every level; a
// supervisor-mode fetch from a user page faults when CR4.SMEP=1 (#PF,
// 4.7); otherwise the block is the current code of the frame the page
// maps to now in that CPU's page tables (after INVLPG no stale
// translation of the page survives, 4.10.4.1).
func TestBlockLookupContexts(t *testing.T) {
	const (
		base   = 0x40000000
		nPages = 8
		pool0  = 0x100000
		nPool  = 16
	)
	userCS := arch.Segment{Selector: 0x1b, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG | arch.ARDPL}
	userSS := arch.Segment{Selector: 0x23, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG | arch.ARDPL}
	for seed := uint64(1); seed <= 6; seed++ {
		h := newHarness(mode64)
		ram := h.bus.ram
		w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
		r := func(pa uint64) uint64 { return binary.LittleEndian.Uint64(ram[pa:]) }
		rng := rand.New(rand.NewPCG(seed, 3))
		// The predecessors whose links nextBlock uses: two HLTs in
		// the harness's code page.
		for i := uint64(0); i < 2; i++ {
			ram[harnessCode+16*i] = 0xF4
		}
		type lcpu struct {
			c     *CPU
			pt    uint64
			frame []int
		}
		var cpus [2]*lcpu
		for i := range cpus {
			// PML4[0] -> a PDPT (U/S=1 at every upper level); PDPT[0]
			// is the harness's (supervisor 2-MiB pages), PDPT[1]
			// maps base through a PD and a PT of this CPU's.
			pml4 := uint64(0x300000 + i*0x4000)
			pdpt, pd, pt := pml4+0x1000, pml4+0x2000, pml4+0x3000
			w(pdpt, r(harnessPML4+0x1000))
			w(pdpt+8, pd|7)
			w(pml4, pdpt|7)
			w(pd, pt|7)
			x := &lcpu{pt: pt, frame: make([]int, nPages)}
			if i == 0 {
				x.c = h.c
			} else {
				x.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}, Code: h.c.code}, h.base)
			}
			x.c.feat.cr4 |= arch.CR4SMEP
			x.c.CR3 = pml4
			cpus[i] = x
		}
		c := cpus[0].c
		kernCS, kernSS := c.Seg[arch.CS], c.Seg[arch.SS]
		var preds [2]*block
		for i := range preds {
			c.RIP = harnessCode + 16*uint64(i)
			preds[i] = c.lookupBlock()
			require.NotNil(t, preds[i])
			require.True(t, preds[i].cacheable)
		}
		ver := make([]int, nPool)
		writeCode := func(f int) {
			n := ver[f]%4 + 1
			pa := pool0 + uint64(f)*4096
			for i := 0; i < n; i++ {
				ram[pa+uint64(i)] = 0x90
			}
			ram[pa+uint64(n)] = 0xF4
			c.code.written(c, pa>>12) // as a store to the frame does
		}
		for f := range ver {
			// At the end of every frame, MOV EAX,imm32 whose last
			// three bytes are in the next page: a page-crossing block
			// (block.pfn2) at offset 0xFFE.
			ram[pool0+uint64(f)*4096+0xFFE] = 0xB8
			ram[pool0+uint64(f)*4096+0xFFF] = 0x00
			writeCode(f)
		}
		user := make([]bool, nPages)
		pte := func(x *lcpu, p int) {
			v := pool0 + uint64(x.frame[p])*4096 | 0x23 // P, R/W, A
			if user[p] {
				v |= 4
			}
			w(x.pt+uint64(p)*8, v)
		}
		for p := range user {
			user[p] = rng.IntN(2) == 0
			for _, x := range cpus {
				x.frame[p] = rng.IntN(nPool)
				pte(x, p)
			}
		}
		for _, x := range cpus {
			x.c.pagingChanged()
			x.c.stateChanged()
		}
		{
			// First, a link that outlives its lookup entry: page 0's
			// block is linked from preds[0], then its entry is
			// evicted by the block at page 1 offset 4 (the same
			// lookupIndex). Page 0 is remapped and INVLPGed: the link
			// must go although the lookup holds no entry of that
			// page (SMEP is off, so CPL 0 fetches from every page).
			x := cpus[0]
			look := func(rip uint64, via *block) *block {
				c.RIP, c.stop = rip, false
				var b *block
				if via != nil {
					b = c.nextBlock(via)
				} else {
					b = c.lookupBlock()
				}
				require.NotNil(t, b, "seed %d: fetch at %#x faulted: %v", seed, rip, c.fault)
				return b
			}
			require.Equal(t, lookupIndex(base), lookupIndex(base+4096+4))
			require.Equal(t, (pool0>>12)+uint64(x.frame[0]), look(base, preds[0]).pfn)
			look(base+4096+4, nil)
			x.frame[0] = (x.frame[0] + 1) % nPool
			pte(x, 0)
			c.invalidatePage(base)
			require.Equal(t, (pool0>>12)+uint64(x.frame[0]), look(base, preds[0]).pfn, "seed %d: a link to page 0's old frame was followed", seed)
		}
		cpl3 := false
		setCPL := func(u bool) {
			cpl3 = u
			for _, x := range cpus {
				if u {
					x.c.Seg[arch.CS], x.c.Seg[arch.SS] = userCS, userSS
				} else {
					x.c.Seg[arch.CS], x.c.Seg[arch.SS] = kernCS, kernSS
				}
				x.c.stateChanged() // as IRET, INT n and exception delivery do
			}
		}
		hits, faults, crossed, linked := 0, 0, 0, 0
		for step := 0; step < 20000; step++ {
			p := rng.IntN(nPages)
			lin := uint64(base + p*4096)
			switch k := rng.IntN(100); {
			case k < 60:
				smep := c.CR4&arch.CR4SMEP != 0
				ok := func(p int) bool { return cpl3 && user[p] || !cpl3 && !(user[p] && smep) }
				// One CPU or both, in either order.
				order := []*lcpu{cpus[0], cpus[1]}
				if rng.IntN(2) == 0 {
					order[0], order[1] = order[1], order[0]
				}
				order = order[:1+rng.IntN(2)]
				cross := p+1 < nPages && rng.IntN(3) == 0
				pred := preds[rng.IntN(len(preds))]
				chain := !cross && rng.IntN(2) == 0
				// Sometimes the block at another page q whose lookup
				// entry is page p's (lookupIndex: (rip ^ rip>>10) mod
				// 1024 is 4p at page q's offset 4p^4q), so that
				// entries are evicted and links outlive them.
				pg, off := p, uint64(0)
				if !cross && rng.IntN(4) == 0 {
					pg = (p + 1 + rng.IntN(nPages-1)) % nPages
					off = uint64(4*p ^ 4*pg)
				}
				for _, x := range order {
					c := x.c
					if cross {
						// The page-crossing instruction: both pages
						// are fetched (SDM Vol. 3A 4.6.1 for each).
						c.RIP = lin + 0xFFE
						c.stop = false
						var b *block
						if rng.IntN(2) == 0 {
							b = c.nextBlock(pred) // a link to a crossing block
						} else {
							b = c.lookupBlock()
						}
						if !ok(p) || !ok(p+1) {
							require.Nil(t, b, "seed %d step %d: crossing fetch at page %d", seed, step, p)
							require.True(t, c.faultPending)
							require.Equal(t, uint8(arch.VecPF), c.fault.Vector)
							c.faultPending = false
							faults++
							continue
						}
						require.NotNil(t, b, "seed %d step %d: crossing fetch at page %d faulted: %v", seed, step, p, c.fault)
						require.Equal(t, (pool0>>12)+uint64(x.frame[p]), b.pfn, "seed %d step %d: crossing block, first frame", seed, step)
						require.Equal(t, (pool0>>12)+uint64(x.frame[p+1]), b.pfn2, "seed %d step %d: crossing block, second frame (page %d)", seed, step, p+1)
						crossed++
						continue
					}
					c.RIP = base + uint64(pg)*4096 + off
					c.stop = false
					var b *block
					if chain {
						before := pred.link
						b = c.nextBlock(pred)
						for _, l := range before {
							if l.stamp == c.blocks.stamp && l.b == b && b != nil {
								linked++
								break
							}
						}
					} else {
						b = c.lookupBlock()
					}
					if !ok(pg) {
						require.Nil(t, b, "seed %d step %d: fetch from page %d (user %v) at CPL3=%v, SMEP=%v", seed, step, pg, user[pg], cpl3, smep)
						require.True(t, c.faultPending, "seed %d step %d: no fault", seed, step)
						require.Equal(t, uint8(arch.VecPF), c.fault.Vector)
						c.faultPending = false
						faults++
						continue
					}
					require.NotNil(t, b, "seed %d step %d: fetch from page %d (user %v) at CPL3=%v, SMEP=%v faulted: %v", seed, step, pg, user[pg], cpl3, smep, c.fault)
					require.Equal(t, (pool0>>12)+uint64(x.frame[pg]), b.pfn, "seed %d step %d: page %d: block from the wrong frame (chain %v)", seed, step, pg, chain)
					require.Equal(t, uint16(off), b.off, "seed %d step %d: page %d: block at the wrong offset", seed, step, pg)
					if off == 0 {
						require.Len(t, b.insts, ver[x.frame[pg]]%4+2, "seed %d step %d: page %d: stale code (chain %v)", seed, step, pg, chain)
					}
					hits++
				}
			case k < 70:
				setCPL(!cpl3)
			case k < 74:
				for _, x := range cpus {
					ds := x.c.Seg[arch.DS]
					ds.Selector ^= 0x8
					x.c.Seg[arch.DS] = ds
					x.c.stateChanged()
				}
			case k < 78:
				if !cpl3 { // MOV CR4 is a CPL-0 instruction
					for _, x := range cpus {
						x.c.writeCR4(x.c.CR4 ^ arch.CR4SMEP)
						require.False(t, x.c.faultPending, "MOV CR4")
					}
				}
			case k < 80:
				for _, x := range cpus {
					x.c.writeCR3(x.c.CR3)
				}
			case k < 88:
				for _, x := range cpus {
					x.frame[p] = rng.IntN(nPool)
					pte(x, p)
					x.c.invalidatePage(lin)
				}
			case k < 94:
				user[p] = !user[p]
				for _, x := range cpus {
					pte(x, p)
					x.c.invalidatePage(lin)
				}
			default:
				f := rng.IntN(nPool)
				ver[f]++
				writeCode(f)
			}
		}
		require.Greater(t, hits, 1000)
		require.Greater(t, faults, 100)
		require.Greater(t, crossed, 100)
		require.Greater(t, linked, 50, "links followed")
		t.Logf("seed %d: %d hits (%d through a link), %d faults, %d crossing", seed, hits, linked, faults, crossed)
	}
}

// TestSysReadRAM: sysRead's direct copy from a RAM page (mem.go) against
// the bytes in memory, for random linear addresses and sizes through the
// harness's identity map, page-crossing reads included. The oracle is the
// RAM itself (an implicit supervisor read of a present, accessed page
// returns its bytes, little-endian: SDM Vol. 1 1.3.1).
func TestSysReadRAM(t *testing.T) {
	h := newHarness(mode64)
	c := h.c
	rng := rand.New(rand.NewPCG(7, 7))
	const lo, hi = 1 << 20, 2 << 20 // clear of the harness's page tables
	for i := lo; i < hi; i++ {
		h.bus.ram[i] = byte(rng.Uint32())
	}
	for step := 0; step < 20000; step++ {
		size := 1 + rng.IntN(8)
		lin := uint64(lo + rng.IntN(hi-lo-8))
		if step%4 == 0 {
			lin = uint64(lo+(1+rng.IntN(255))<<12) - uint64(rng.IntN(size)) // crosses a page
		}
		var want uint64
		for j := 0; j < size; j++ {
			want |= uint64(h.bus.ram[lin+uint64(j)]) << (8 * j)
		}
		got, ok := c.sysRead(lin, size)
		require.True(t, ok, "sysRead(%#x, %d)", lin, size)
		require.Equal(t, want, got, "sysRead(%#x, %d)", lin, size)
	}
}

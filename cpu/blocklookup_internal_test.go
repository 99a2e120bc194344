package cpu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestBlockLookupContexts: the RIP-to-block lookup across code contexts
// (blockLookup.enter: a context seen before takes its entries back) and
// INVLPG (blockLookup.flushPage: the entries of one page go). Eight linear
// pages map to frames of a pool; every frame holds, at offset 0, as many
// NOPs as its version (mod 4, plus one) and a HLT, so a block tells which
// frame and which version it was decoded from. Random steps move the CPU
// between CPL 0 and 3, load DS (a context change that is not one), toggle
// CR4.SMEP, reload CR3, remap a page or flip its U/S bit and INVLPG it,
// rewrite a frame's code (the code cache drops its blocks), and look up
// the block at a page. The oracle is the SDM's rule for an instruction
// fetch with 4-level paging (Vol. 3A 4.6.1): a user-mode fetch needs U/S=1
// at every level; a supervisor-mode fetch from a user page faults when
// CR4.SMEP=1 (#PF, 4.7); otherwise the block is the current code of the
// frame the page maps to now (after INVLPG no stale translation of the page
// survives, 4.10.4.1).
func TestBlockLookupContexts(t *testing.T) {
	const (
		pml4   = 0x300000
		pdpt   = 0x301000
		pd     = 0x302000
		pt     = 0x303000
		base   = 0x40000000
		nPages = 8
		pool0  = 0x100000
		nPool  = 16
	)
	userCS := arch.Segment{Selector: 0x1b, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG | arch.ARDPL}
	userSS := arch.Segment{Selector: 0x23, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG | arch.ARDPL}
	for seed := uint64(1); seed <= 6; seed++ {
		h := newHarness(mode64)
		c := h.c
		c.feat.cr4 |= arch.CR4SMEP
		kernCS, kernSS := c.Seg[arch.CS], c.Seg[arch.SS]
		ram := h.bus.ram
		w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
		r := func(pa uint64) uint64 { return binary.LittleEndian.Uint64(ram[pa:]) }
		// PML4[0] -> our PDPT (U/S=1 at every upper level); PDPT[0] is
		// the harness's (supervisor 2-MiB pages), PDPT[1] maps base.
		w(pdpt, r(harnessPML4+0x1000))
		w(pdpt+8, pd|7)
		w(pml4, pdpt|7)
		w(pd, pt|7)
		rng := rand.New(rand.NewPCG(seed, 3))
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
		frame := make([]int, nPages)
		user := make([]bool, nPages)
		pte := func(p int) {
			v := pool0 + uint64(frame[p])*4096 | 0x23 // P, R/W, A
			if user[p] {
				v |= 4
			}
			w(pt+uint64(p)*8, v)
		}
		for p := range frame {
			frame[p], user[p] = rng.IntN(nPool), rng.IntN(2) == 0
			pte(p)
		}
		c.CR3 = pml4
		c.pagingChanged()
		c.stateChanged()
		cpl3 := false
		setCPL := func(u bool) {
			cpl3 = u
			if u {
				c.Seg[arch.CS], c.Seg[arch.SS] = userCS, userSS
			} else {
				c.Seg[arch.CS], c.Seg[arch.SS] = kernCS, kernSS
			}
			c.stateChanged() // as IRET, INT n and exception delivery do
		}
		hits, faults, crossed := 0, 0, 0
		for step := 0; step < 20000; step++ {
			p := rng.IntN(nPages)
			lin := uint64(base + p*4096)
			switch k := rng.IntN(100); {
			case k < 60:
				smep := c.CR4&arch.CR4SMEP != 0
				ok := func(p int) bool { return cpl3 && user[p] || !cpl3 && !(user[p] && smep) }
				if p+1 < nPages && rng.IntN(3) == 0 {
					// The page-crossing instruction: both pages
					// are fetched (SDM Vol. 3A 4.6.1 for each).
					c.RIP = lin + 0xFFE
					c.stop = false
					b := c.lookupBlock()
					if !ok(p) || !ok(p+1) {
						require.Nil(t, b, "seed %d step %d: crossing fetch at page %d", seed, step, p)
						require.True(t, c.faultPending)
						require.Equal(t, uint8(arch.VecPF), c.fault.Vector)
						c.faultPending = false
						faults++
						break
					}
					require.NotNil(t, b, "seed %d step %d: crossing fetch at page %d faulted: %v", seed, step, p, c.fault)
					require.Equal(t, (pool0>>12)+uint64(frame[p]), b.pfn, "seed %d step %d: crossing block, first frame", seed, step)
					require.Equal(t, (pool0>>12)+uint64(frame[p+1]), b.pfn2, "seed %d step %d: crossing block, second frame (page %d)", seed, step, p+1)
					crossed++
					break
				}
				c.RIP = lin
				c.stop = false
				b := c.lookupBlock()
				allowed := ok(p)
				if !allowed {
					require.Nil(t, b, "seed %d step %d: fetch from page %d (user %v) at CPL3=%v, SMEP=%v", seed, step, p, user[p], cpl3, smep)
					require.True(t, c.faultPending, "seed %d step %d: no fault", seed, step)
					require.Equal(t, uint8(arch.VecPF), c.fault.Vector)
					c.faultPending = false
					faults++
					break
				}
				require.NotNil(t, b, "seed %d step %d: fetch from page %d (user %v) at CPL3=%v, SMEP=%v faulted: %v", seed, step, p, user[p], cpl3, smep, c.fault)
				require.Equal(t, (pool0>>12)+uint64(frame[p]), b.pfn, "seed %d step %d: page %d: block from the wrong frame", seed, step, p)
				require.Len(t, b.insts, ver[frame[p]]%4+2, "seed %d step %d: page %d: stale code", seed, step, p)
				hits++
			case k < 70:
				setCPL(!cpl3)
			case k < 74:
				ds := c.Seg[arch.DS]
				ds.Selector ^= 0x8
				c.Seg[arch.DS] = ds
				c.stateChanged()
			case k < 78:
				if !cpl3 { // MOV CR4 is a CPL-0 instruction
					c.writeCR4(c.CR4 ^ arch.CR4SMEP)
					require.False(t, c.faultPending, "MOV CR4")
				}
			case k < 80:
				c.writeCR3(c.CR3)
			case k < 88:
				frame[p] = rng.IntN(nPool)
				pte(p)
				c.invalidatePage(lin)
			case k < 94:
				user[p] = !user[p]
				pte(p)
				c.invalidatePage(lin)
			default:
				f := rng.IntN(nPool)
				ver[f]++
				writeCode(f)
			}
		}
		require.Greater(t, hits, 1000)
		require.Greater(t, faults, 100)
		require.Greater(t, crossed, 100)
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

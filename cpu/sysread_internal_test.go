package cpu

import (
	"encoding/binary"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// TestSysReadTLB: sysRead (mem.go), which reads through the TLB's
// supervisor read entries and fills them, against mmu.Walk on a copy of
// memory. Eight linear pages map, through a page table of the test's, to
// frames of a pool of random bytes. Random steps remap a page or flip its
// present, R/W, U/S or accessed bit (in both copies) and INVLPG it, move
// between CPL 0 and 3, toggle CR4.SMAP (MOV CR4) and RFLAGS.AC, make
// explicit reads (rd, which fills the read entries of the CPL's mode),
// and make implicit supervisor reads (sysRead) of 1 to 8 bytes, some
// crossing into the next page. The oracle is the SDM's walk (mmu.Walk,
// Vol. 3A 4.5, 4.6: an implicit access is a supervisor access at any CPL,
// and under SMAP it may not read a user page whatever RFLAGS.AC says),
// with an INVLPG after every change, so that no stale entry may differ
// (4.10.4.1); the bytes are the frame's. Every value and fault must be
// the walk's, and the paging structures (the accessed flags the walks
// set) must be equal afterwards.
func TestSysReadTLB(t *testing.T) {
	const (
		base   = 0x40000000
		nPages = 8
		pool0  = 0x100000
		nPool  = 16
		pml4   = 0x300000
		pdpt   = pml4 + 0x1000
		pd     = pml4 + 0x2000
		pt     = pml4 + 0x3000
	)
	userCS := arch.Segment{Selector: 0x1b, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG | arch.ARDPL}
	userSS := arch.Segment{Selector: 0x23, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG | arch.ARDPL}
	for seed := uint64(1); seed <= 6; seed++ {
		h := newHarness(mode64)
		c := h.c
		ram := h.bus.ram
		rng := rand.New(rand.NewPCG(seed, 11))
		w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
		for i := pool0; i < pool0+nPool*4096; i++ {
			ram[i] = byte(rng.Uint32())
		}
		// PML4[0] -> PDPT (U/S=1 at the upper levels); PDPT[0] is the
		// harness's (supervisor 2-MiB pages), PDPT[1] maps base.
		w(pdpt, binary.LittleEndian.Uint64(ram[harnessPML4+0x1000:]))
		w(pdpt+8, pd|0x27)
		w(pml4, pdpt|0x27)
		w(pd, pt|0x27)
		ptes := make([]uint64, nPages)
		for p := range ptes {
			ptes[p] = pool0 + uint64(rng.IntN(nPool))<<12 | 0x23 // P, R/W, A
			if rng.IntN(2) == 0 {
				ptes[p] |= 4
			}
			w(pt+uint64(p)*8, ptes[p])
		}
		c.feat.cr4 |= arch.CR4SMAP
		c.CR3 = pml4
		c.pagingChanged()
		c.stateChanged()
		ref := refMem{ram: append([]byte(nil), ram...)}
		kernCS, kernSS := c.Seg[arch.CS], c.Seg[arch.SS]
		setCPL := func(user bool) {
			if user {
				c.Seg[arch.CS], c.Seg[arch.SS] = userCS, userSS
			} else {
				c.Seg[arch.CS], c.Seg[arch.SS] = kernCS, kernSS
			}
			c.stateChanged() // as IRET, INT n and exception delivery do
		}
		// walk is the oracle for an access of size bytes at lin: the
		// value, or the first fault.
		walk := func(lin uint64, size int, acc mmu.Access) (uint64, *arch.Fault) {
			r := c.pagingRegs()
			var v uint64
			for i := 0; i < size; i++ {
				tr, f := mmu.Walk(ref, &r, lin+uint64(i), acc)
				if f != nil {
					return 0, f
				}
				v |= uint64(ref.ram[tr.PhysPage|(lin+uint64(i))&0xfff]) << (8 * i)
			}
			return v, nil
		}
		hits, faults, crossed := 0, 0, 0
		for step := 0; step < 20000; step++ {
			p := rng.IntN(nPages)
			lin := uint64(base + p*4096)
			c.stop, c.faultPending = false, false
			switch k := rng.IntN(100); {
			case k < 6: // remap or flip a bit, then INVLPG
				switch rng.IntN(5) {
				case 0:
					ptes[p] = ptes[p]&^0xFFFFF000 | pool0 + uint64(rng.IntN(nPool))<<12
				case 1:
					ptes[p] ^= 1 // P
				case 2:
					ptes[p] ^= 2 // R/W
				case 3:
					ptes[p] ^= 4 // U/S
				case 4:
					ptes[p] &^= 0x20 // A
				}
				// The walks may have set A since: keep it unless cleared.
				w(pt+uint64(p)*8, ptes[p])
				binary.LittleEndian.PutUint64(ref.ram[pt+uint64(p)*8:], ptes[p])
				c.invalidatePage(lin)
			case k < 10:
				setCPL(c.cpl != 3)
			case k < 12:
				c.writeCR4(c.CR4 ^ arch.CR4SMAP)
				require.False(t, c.faultPending)
			case k < 14:
				c.RFLAGS ^= arch.FlagAC
			case k < 50: // an explicit read of the CPL's mode
				off := uint64(rng.IntN(4096 - 8))
				got, ok := rd[uint64](c, arch.DS, lin+off)
				want, wf := walk(lin+off, 8, mmu.Access{User: c.cpl == 3})
				if wf != nil {
					require.False(t, ok, "seed %d step %d: explicit read of %#x at CPL %d", seed, step, lin+off, c.cpl)
					require.Equal(t, *wf, c.fault, "seed %d step %d", seed, step)
					continue
				}
				require.True(t, ok, "seed %d step %d: explicit read of %#x at CPL %d faulted: %v", seed, step, lin+off, c.cpl, c.fault)
				require.Equal(t, want, got, "seed %d step %d", seed, step)
			default: // an implicit supervisor read
				size := 1 + rng.IntN(8)
				off := uint64(rng.IntN(4096 - size + 1))
				if rng.IntN(4) == 0 {
					off = uint64(4096 - 1 - rng.IntN(size)) // may cross
				}
				if off+uint64(size) > 4096 {
					crossed++
				}
				e := &c.tlb.read[c.tlb.index(lin+off)]
				if e.tag == c.tlb.tagAs(lin+off, false) {
					hits++
				}
				got, ok := c.sysRead(lin+off, size)
				want, wf := walk(lin+off, size, mmu.Access{User: c.cpl == 3, Implicit: true})
				if wf != nil {
					faults++
					require.False(t, ok, "seed %d step %d: implicit read of %#x (%d bytes) at CPL %d, SMAP %v, PTE %#x", seed, step, lin+off, size, c.cpl, c.CR4&arch.CR4SMAP != 0, ptes[p])
					require.Equal(t, *wf, c.fault, "seed %d step %d", seed, step)
					continue
				}
				require.True(t, ok, "seed %d step %d: implicit read of %#x at CPL %d faulted: %v", seed, step, lin+off, c.cpl, c.fault)
				require.Equal(t, want, got, "seed %d step %d: implicit read of %#x (%d bytes)", seed, step, lin+off, size)
			}
			require.Equal(t, ref.ram[pt:pt+nPages*8], ram[pt:pt+nPages*8], "seed %d step %d: page table", seed, step)
		}
		require.Greater(t, hits, 1000, "seed %d: TLB hits", seed)
		require.Greater(t, faults, 300, "seed %d: faults", seed)
		require.Greater(t, crossed, 300, "seed %d: page-crossing reads", seed)
		t.Logf("seed %d: %d hits, %d faults, %d crossing", seed, hits, faults, crossed)
	}
}

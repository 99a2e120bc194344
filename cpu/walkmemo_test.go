package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// refMem is the slow path's memory for TestWalkMemoMatchesWalk: a plain
// byte slice read and written entry by entry by mmu.Walk itself; beyond
// it, as on the harness board (harnessBus), reads return all ones and
// writes are dropped.
type refMem struct{ ram []byte }

func (m refMem) ReadPhys64(pa uint64) (uint64, bool) {
	if pa+8 > uint64(len(m.ram)) {
		return ^uint64(0), true
	}
	return binary.LittleEndian.Uint64(m.ram[pa:]), true
}
func (m refMem) ReadPhys32(pa uint64) (uint32, bool) {
	if pa+4 > uint64(len(m.ram)) {
		return ^uint32(0), true
	}
	return binary.LittleEndian.Uint32(m.ram[pa:]), true
}
func (m refMem) WritePhys64(pa uint64, v uint64) bool {
	if pa+8 <= uint64(len(m.ram)) {
		binary.LittleEndian.PutUint64(m.ram[pa:], v)
	}
	return true
}
func (m refMem) WritePhys32(pa uint64, v uint32) bool {
	if pa+4 <= uint64(len(m.ram)) {
		binary.LittleEndian.PutUint32(m.ram[pa:], v)
	}
	return true
}

// TestWalkMemoMatchesWalk: the walk memo (walkmemo.go) against the walk it
// stands for. A CPU and a reference copy of its RAM start with the same
// 4-level paging structures; random steps then change an entry to its first value with one bit
// (present,
// R/W, U/S, accessed, dirty, PS, XD or a reserved bit, in both copies),
// change the control state (CR0.WP, CR4.PGE/SMEP/SMAP, EFER.NXE,
// RFLAGS.AC, CR3 between two roots), or translate an address with a
// random access through memoWalk on the CPU and through mmu.Walk on the
// copy. Every translation and fault must be equal, and so must the
// paging structures afterwards (the accessed and dirty flags the walks
// set).
//
// It runs under 4-level and 5-level paging (a PML5 above the two roots),
// and, as kvm-unit-tests' access test does, rewrites the PDEs and PTEs
// more often than the entries above them (another random bit of the
// first value: P, R/W, U/S, A, D, PS, G, XD, a protection key, reserved
// bits), with CR4.PKE and PKRU changes, so that many walks the memo does
// not answer begin below the top level from the last walk's path
// (walkPath); those are counted and must be frequent.
func TestWalkMemoMatchesWalk(t *testing.T) {
	for _, levels := range []int{4, 5} {
		t.Run(fmt.Sprintf("%d-level", levels), func(t *testing.T) { testWalkMemoMatchesWalk(t, levels) })
	}
}

func testWalkMemoMatchesWalk(t *testing.T, levels int) {
	const (
		root0 = 0x300000 // PML4 of address space 0
		root1 = 0x301000 // PML4 of address space 1 (shares the lower levels)
		pdpt  = 0x302000
		pd    = 0x303000
		pt0   = 0x304000 // page tables: pt0 + i*0x1000, i < nPT
		nPT   = 4
		pml50 = 0x30a000 // PML5 of address space 0 (5-level paging)
		pml51 = 0x30b000 // PML5 of address space 1
		area  = 0x300000 // the paging structures live in [area, area+areaN)
		areaN = 0x10000
	)
	var total struct{ walks, memoHits, fastHits, pathWalks int }
	for seed := uint64(1); seed <= 8; seed++ {
		h := newHarness(mode64)
		c := h.c
		ram := h.bus.ram
		w := func(pa, v uint64) { binary.LittleEndian.PutUint64(ram[pa:], v) }
		w(root0, pdpt|7)
		w(root1, pdpt|7)
		w(root1+8, pdpt|7) // a second PML4E onto the same PDPT
		w(pdpt, pd|7)
		w(pdpt+8, 0x40000000|0x87) // a 1-GiB page
		for i := uint64(0); i < nPT; i++ {
			w(pd+i*8, (pt0+i*0x1000)|7)
			for j := uint64(0); j < 16; j++ {
				w(pt0+i*0x1000+j*8, (0x100000+(i*16+j)<<12)|7)
			}
		}
		w(pd+nPT*8, 0x600000|0x87) // a 2-MiB page
		if levels == 5 {
			w(pml50, root0|7)
			w(pml51, root1|7)
			w(pml51+8, root1|7) // a second PML5E onto the same PML4
		}
		// The entries the steps change: every one written above.
		var entries []uint64
		orig := map[uint64]uint64{}
		for pa := uint64(area); pa < area+areaN; pa += 8 {
			if v := binary.LittleEndian.Uint64(ram[pa:]); v != 0 {
				entries = append(entries, pa)
				orig[pa] = v
			}
		}
		// The lower levels (PDEs and PTEs), which most steps change.
		var lower []uint64
		for _, pa := range entries {
			if pa >= pd && pa < pt0+nPT*0x1000 {
				lower = append(lower, pa)
			}
		}
		ref := refMem{ram: append([]byte(nil), ram...)}
		r := mmu.Regs{
			CR0: arch.CR0PE | arch.CR0PG | arch.CR0ET, CR3: root0,
			CR4: arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA | arch.EFERNXE, MaxPhysAddr: 46,
		}
		cr3s := [2]uint64{root0, root1}
		if levels == 5 {
			r.CR4 |= arch.CR4LA57
			cr3s = [2]uint64{pml50, pml51}
			r.CR3 = pml50
		}
		// The CPU holds the same control state (memoFill compares the
		// record's with the CPU's own registers).
		// 1-GiB pages supported, as r says (No1GPages=false).
		c.feat.page1g = true
		r.PKRU, r.PKRS, r.PDPTE = c.PKRU, uint32(c.PKRS), c.pdpte
		sync := func() {
			c.CR0, c.CR3, c.CR4, c.EFER, c.MaxPhysAddr = r.CR0, r.CR3, r.CR4, r.EFER, r.MaxPhysAddr
			c.PKRU = r.PKRU
			c.RFLAGS &^= arch.FlagAC
			if r.RFLAGSAC {
				c.RFLAGS |= arch.FlagAC
			}
			require.Equal(t, r, c.pagingRegs())
		}
		sync()
		fastHits := 0
		rng := rand.New(rand.NewPCG(seed, 18))
		lins := []uint64{0, 0x1000, 0x5000, 0x201000, 0x202000, 0x3ff000, 0x800000, 0x801000, 0x40000000, 0x40123000, 0x8000000000, 0x8000001000}
		if levels == 5 {
			// Through the second PML5E (address space 1; space 0 has
			// none: a not-present PML5E).
			lins = append(lins, 1<<48, 1<<48|0x5000, 1<<48|0x8000001000)
		}
		bits := []uint64{1 << 0, 1 << 1, 1 << 2, 1 << 5, 1 << 6, 1 << 7, 1 << 8, 1 << 63, 1 << 51, 1 << 13, 1 << 59, 1 << 61, 1 << 36, 1 << 42}
		walks, memoHits, pathWalks := 0, 0, 0
		for step := 0; step < 8000; step++ {
			switch k := rng.IntN(100); {
			case k < 3: // change an entry in both copies
				// The entry becomes its first value with one bit
				// changed (or, one time in four, that value again):
				// at most a few entries are broken at any time. Most
				// changes are to PDEs and PTEs.
				pa := lower[rng.IntN(len(lower))]
				if k < 1 {
					pa = entries[rng.IntN(len(entries))]
				}
				v := orig[pa]
				if rng.IntN(4) != 0 {
					v ^= bits[rng.IntN(len(bits))]
				}
				w(pa, v)
				binary.LittleEndian.PutUint64(ref.ram[pa:], v)
			case k < 5: // change the control state
				// MAXPHYADDR stays at 21 (case 9) until the next change.
				r.MaxPhysAddr = 46
				switch rng.IntN(10) {
				case 0:
					r.CR0 ^= arch.CR0WP
				case 1:
					r.CR4 ^= arch.CR4PGE
				case 2:
					r.CR4 ^= arch.CR4SMEP
				case 3:
					r.CR4 ^= arch.CR4SMAP
				case 4:
					r.EFER ^= arch.EFERNXE
				case 5:
					r.RFLAGSAC = !r.RFLAGSAC
				case 6:
					r.CR3 ^= cr3s[0] ^ cr3s[1]
				case 7:
					r.CR4 ^= arch.CR4PKE
				case 8:
					r.PKRU = rng.Uint32()
				case 9:
					// 21 bits: bit 21 of an entry becomes
					// reserved, and the tables lie above 2 MiB.
					r.MaxPhysAddr = 21
				}
				sync()
			default: // translate
				lin := lins[rng.IntN(len(lins))] + uint64(rng.IntN(4096))
				acc := mmu.Access{User: rng.IntN(2) == 0, Implicit: rng.IntN(8) == 0}
				switch rng.IntN(3) {
				case 1:
					acc.Write = true
				case 2:
					acc.Fetch = true
				}
				e := c.memo.slot(walkMemoKey(lin, acc), &r)
				before := e.key == walkMemoKey(lin, acc) && e.regs == r && e.hit()
				kind := accRead
				if acc.Write {
					kind = accWrite
				} else if acc.Fetch {
					kind = accFetch
				}
				// fill's short cut (memoFill) for an explicit access:
				// when it answers, the translation and the host page
				// must be the walk's (checked below against want).
				var fast *walkMemoEntry
				var fastTr mmu.Translation
				if !acc.Implicit {
					if fast = c.memoFill(lin, kind, acc.User); fast != nil {
						fastTr = fast.tr
					}
				}
				var gfv arch.Fault
				c.memo.path.Start = 0
				got, faulted := c.memoWalk(&r, lin, acc, &gfv)
				if !before && c.memo.path.Start != 0 {
					pathWalks++
				}
				var gf *arch.Fault
				if faulted {
					gf = &gfv
				}
				if gf == nil && !got.Refused {
					// What fill does after translate.
					last := c.memo.last
					pg, hfn, _ := c.physPage(got.PhysPage, kind)
					c.memoNotePage(last, pg, hfn)
				}
				want, wf := mmu.Walk(ref, &r, lin, acc)
				if fast != nil {
					fastHits++
					require.Nil(t, wf, "seed %d step %d: memoFill answered %#x %+v, the walk faults", seed, step, lin, acc)
					require.Equal(t, want, fastTr, "seed %d step %d: memoFill's translation of %#x %+v", seed, step, lin, acc)
					require.Equal(t, h.bus.RAMPage(want.PhysPage>>12), fast.pg, "seed %d step %d: memoFill's host page of %#x", seed, step, lin)
					require.Equal(t, want.PhysPage>>12, fast.hfn, "seed %d step %d: memoFill's host frame of %#x", seed, step, lin)
				}
				require.Equal(t, want, got, "seed %d step %d: translation of %#x %+v", seed, step, lin, acc)
				require.Equal(t, wf, gf, "seed %d step %d: fault of %#x %+v", seed, step, lin, acc)
				require.Equal(t, ref.ram[area:area+areaN], ram[area:area+areaN], "seed %d step %d: paging structures after %#x %+v", seed, step, lin, acc)
				walks++
				if before {
					memoHits++
				}
			}
		}
		t.Logf("seed %d: %d walks, %d memo hits, %d memoFill hits, %d from a path", seed, walks, memoHits, fastHits, pathWalks)
		total.walks += walks
		total.memoHits += memoHits
		total.fastHits += fastHits
		total.pathWalks += pathWalks
	}
	// The memo and the paths must be exercised, not bypassed.
	require.Greater(t, total.memoHits, total.walks/50, "memo hits (of %d walks)", total.walks)
	require.Greater(t, total.fastHits, total.walks/100, "memoFill hits (of %d walks)", total.walks)
	require.Greater(t, total.pathWalks, total.walks/5, "walks from a path (of %d walks)", total.walks)
}

// TestRegsMatchFields: regsMatch (walkmemo.go) against the whole-struct
// comparison it stands for, e.regs == c.pagingRegs(). A change of any
// one input of pagingRegs must make both false; mmu.Regs growing a field
// fails the field count, so that regsMatch is extended with it.
func TestRegsMatchFields(t *testing.T) {
	require.Equal(t, 10, reflect.TypeOf(mmu.Regs{}).NumField(), "mmu.Regs changed: extend regsMatch and this table")
	tests := []struct {
		name   string
		change func(c *CPU)
	}{
		{"CR0.WP", func(c *CPU) { c.CR0 ^= arch.CR0WP }},
		{"CR3", func(c *CPU) { c.CR3 ^= 0x1000 }},
		{"CR4.PGE", func(c *CPU) { c.CR4 ^= arch.CR4PGE }},
		{"EFER.NXE", func(c *CPU) { c.EFER ^= arch.EFERNXE }},
		{"PKRU", func(c *CPU) { c.PKRU ^= 2 }},
		{"IA32_PKRS", func(c *CPU) { c.PKRS ^= 1 << 31 }},
		{"MAXPHYADDR", func(c *CPU) { c.MaxPhysAddr++ }},
		{"RFLAGS.AC", func(c *CPU) { c.RFLAGS ^= arch.FlagAC }},
		{"PDPTE register 3", func(c *CPU) { c.pdpte[3] ^= 1 }},
		{"1-GByte pages", func(c *CPU) { c.feat.page1g = !c.feat.page1g }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newHarness(mode64).c
			e := &walkMemoEntry{regs: c.pagingRegs()}
			require.True(t, e.regsMatch(c))
			tt.change(c)
			require.NotEqual(t, e.regs, c.pagingRegs(), "the change is an input of pagingRegs")
			require.False(t, e.regsMatch(c))
		})
	}
}

package mmu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestWalkPathResume: a walk that begins at a level of a recorded Path
// (WalkPath with Start) against the walk from CR3 (Walk), on random
// 4-level and 5-level paging structures in physical pages 0-3 (entries
// with random P, R/W, U/S, A, D, PS, G, XD, protection keys and now and
// then a reserved bit) under random control state (CR0.WP, CR4.SMEP,
// SMAP, PKE, PKS, PGE, IA32_EFER.NXE, MAXPHYADDR, 1-GByte pages, PKRU,
// PKRS, RFLAGS.AC). A first walk records the path; its Start=0 result
// must be Walk's. Then for every level S it recorded whose entries above
// hold A=1, the structures below S are changed at random, and a walk of
// another address with the same index bits above S, under control state
// whose leaf-level bits (WP, SMEP, SMAP, PKE, PKS, PGE, PKRU, PKRS, AC)
// changed at random, is made from S and from CR3: translation, fault and
// the memory afterwards must be equal.
func TestWalkPathResume(t *testing.T) {
	rng := rand.New(rand.NewPCG(12, 57))
	entry := func() uint64 {
		e := uint64(rng.IntN(4)) << 12
		if rng.IntN(10) != 0 {
			e |= pteP
		}
		for _, b := range []struct {
			bit uint64
			pct int
		}{{pteRW, 70}, {pteUS, 70}, {pteA, 70}, {pteD, 40}, {ptePS, 15}, {pteG, 20}, {pteXD, 20}, {1 << 59, 20}, {1 << 60, 20}} {
			if rng.IntN(100) < b.pct {
				e |= b.bit
			}
		}
		if rng.IntN(20) == 0 {
			e |= 1 << (13 + rng.IntN(39)) // often reserved (above MAXPHYADDR, or in a large page)
		}
		return e
	}
	resumed := 0
	for iter := 0; iter < 2500; iter++ {
		m := newMem()
		for pa := uint64(0); pa < 4<<12; pa += 8 {
			m.q[pa] = entry()
		}
		r := &Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: uint64(rng.IntN(4)) << 12, CR4: arch.CR4PAE,
			EFER: arch.EFERLME | arch.EFERLMA, MaxPhysAddr: 36 + uint(rng.IntN(17)), No1GPages: rng.IntN(4) == 0}
		top := 4
		if rng.IntN(2) == 0 {
			r.CR4 |= arch.CR4LA57
			top = 5
		}
		if rng.IntN(2) == 0 {
			r.EFER |= arch.EFERNXE
		}
		leafState := func(r *Regs) {
			r.CR0 = r.CR0&^arch.CR0WP | uint64(rng.IntN(2))*arch.CR0WP
			r.CR4 &^= arch.CR4SMEP | arch.CR4SMAP | arch.CR4PKE | arch.CR4PKS | arch.CR4PGE
			for _, b := range []uint64{arch.CR4SMEP, arch.CR4SMAP, arch.CR4PKE, arch.CR4PKS, arch.CR4PGE} {
				if rng.IntN(2) == 0 {
					r.CR4 |= b
				}
			}
			r.PKRU, r.PKRS, r.RFLAGSAC = rng.Uint32(), rng.Uint32(), rng.IntN(2) == 0
		}
		leafState(r)
		access := func() Access {
			a := Access{User: rng.IntN(2) == 0, Implicit: rng.IntN(8) == 0}
			switch rng.IntN(3) {
			case 1:
				a.Write = true
			case 2:
				a.Fetch, a.Implicit = true, false
			}
			return a
		}
		lin, acc := rng.Uint64()&(1<<(12+9*top)-1), access()

		ref := newMem()
		ref.q = m.snapshot()
		var p Path
		var f1 arch.Fault
		t1, faulted := WalkPath(m, r, lin, acc, &p, &f1)
		t0, f0 := Walk(ref, r, lin, acc)
		require.Equal(t, t0, t1, "iter %d: from CR3", iter)
		require.Equal(t, f0 != nil, faulted, "iter %d: from CR3", iter)
		if faulted {
			require.Equal(t, *f0, f1, "iter %d: from CR3", iter)
		}
		require.Equal(t, ref.q, m.q, "iter %d: memory after the walk from CR3", iter)
		require.GreaterOrEqual(t, p.Deepest, 1)
		require.LessOrEqual(t, p.Deepest, top)

		for s := p.Deepest; s < top; s++ {
			// The entries above s: present with A=1 (and, read by the
			// walk, without reserved bits).
			above := map[uint64]bool{}
			ok := true
			for l := top; l > s; l-- {
				pa := p.Table[l] + (lin>>(12+9*(l-1))&511)*8
				above[pa] = true
				ok = ok && m.q[pa]&pteA != 0
			}
			if !ok {
				continue
			}
			m2 := newMem()
			m2.q = m.snapshot()
			for k := 0; k < 8; k++ {
				if pa := uint64(rng.IntN(4<<9)) * 8; !above[pa] {
					m2.q[pa] = entry()
				}
			}
			ref2 := newMem()
			ref2.q = m2.snapshot()
			low := uint64(1)<<(12+9*s) - 1 // the index bits of levels s and below, and the offset
			lin2 := lin&^low | rng.Uint64()&low
			r2 := *r
			if rng.IntN(2) == 0 {
				leafState(&r2)
			}
			acc2 := access()
			p2 := p
			p2.Start = s
			var f2 arch.Fault
			t2, faulted2 := WalkPath(m2, &r2, lin2, acc2, &p2, &f2)
			tw, fw := Walk(ref2, &r2, lin2, acc2)
			require.Equal(t, tw, t2, "iter %d: from level %d", iter, s)
			require.Equal(t, fw != nil, faulted2, "iter %d: from level %d", iter, s)
			if faulted2 {
				require.Equal(t, *fw, f2, "iter %d: from level %d", iter, s)
			}
			require.Equal(t, ref2.q, m2.q, "iter %d: memory after the walk from level %d", iter, s)
			resumed++
		}
	}
	require.Greater(t, resumed, 1000, "walks from a level below the top")
}

package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// wantSegView is the test's own statement of what a segment reference
// through register i may do (SDM Vol. 3A 3.2.4, 3.4.5.1, 5.3-5.5; 20.1
// for real and virtual-8086 mode), for comparison with segv.
func wantSegView(s *arch.State, i int) segView {
	seg := s.Seg[i]
	if s.EFER&arch.EFERLMA != 0 && s.Seg[arch.CS].Attr&arch.ARL != 0 {
		v := segView{hi: ^uint64(0), readable: true, writable: true, usable: true}
		if i == arch.FS || i == arch.GS {
			v.base = seg.Base
		}
		return v
	}
	v := segView{base: seg.Base, hi: uint64(seg.Limit), usable: seg.Attr&arch.ARUnusable == 0}
	switch {
	case s.CR0&arch.CR0PE == 0 || s.RFLAGS&arch.FlagVM != 0:
		v.readable, v.writable, v.usable = true, true, true
	case seg.Attr&arch.ARS == 0:
	case seg.Attr&arch.ARCode != 0:
		v.readable = seg.Attr&arch.ARReadable != 0
	default:
		v.readable, v.writable = true, seg.Attr&arch.ARWritable != 0
		if seg.Attr&arch.ARExpandDown != 0 {
			v.lo, v.hi = uint64(seg.Limit)+1, 0xFFFF
			if seg.Attr&arch.ARDB != 0 {
				v.hi = 0xFFFFFFFF
			}
		}
	}
	if v.usable && v.readable && v.writable && v.lo == 0 && v.hi <= 0xFFFFFFFF {
		v.rwEnd = v.hi + 1
	}
	return v
}

// TestRefreshSegs: stateChanged's refresh of every segment view
// (refreshSegs) and the one-register refresh (refreshSeg) give the views
// the SDM's rules give, in 64-bit, compatibility, legacy protected,
// virtual-8086 and real mode, for random segment caches.
func TestRefreshSegs(t *testing.T) {
	h := newHarness(mode64)
	c := h.c
	rng := rand.New(rand.NewPCG(8, 12))
	attrBits := []uint32{arch.ARUnusable, arch.ARS, arch.ARCode, arch.ARReadable, arch.ARWritable,
		arch.ARExpandDown, arch.ARDB, arch.ARL, arch.ARP, arch.ARG, arch.ARConforming}
	for trial := range 4000 {
		c.CR0 = arch.CR0ET
		if rng.IntN(5) != 0 {
			c.CR0 |= arch.CR0PE
		}
		c.EFER = 0
		if rng.IntN(2) == 0 {
			c.EFER = arch.EFERLME | arch.EFERLMA
		}
		c.RFLAGS = arch.FlagRes1
		if rng.IntN(6) == 0 {
			c.RFLAGS |= arch.FlagVM
		}
		for i := range c.Seg {
			var a uint32
			for _, b := range attrBits {
				if rng.IntN(2) == 0 {
					a |= b
				}
			}
			c.Seg[i] = arch.Segment{Selector: uint16(rng.Uint32()), Base: rng.Uint64(), Limit: rng.Uint32() >> rng.IntN(32), Attr: a}
		}
		c.refreshSegs()
		for i := range c.Seg {
			require.Equal(t, wantSegView(&c.State, i), c.segv[i], "trial %d: refreshSegs, segment %d", trial, i)
		}
		c.segv = [segvLen]segView{}
		for i := range c.Seg {
			c.refreshSeg(i)
			require.Equal(t, wantSegView(&c.State, i), c.segv[i], "trial %d: refreshSeg, segment %d", trial, i)
		}
	}
}

// TestCodeCtxSame: same is ==, for contexts that differ in one field or
// in none.
func TestCodeCtxSame(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	random := func() codeCtx {
		return codeCtx{csBase: rng.Uint64(), cr0: rng.Uint64(), cr3: rng.Uint64(), cr4: rng.Uint64(),
			efer: rng.Uint64(), tlbKey: rng.Uint64(), tlbInval: rng.Uint64(), gen: rng.Uint64(),
			csLimit: rng.Uint32(), mode: uint8(rng.IntN(3)), cpl: uint8(rng.IntN(4)), guest: rng.IntN(2) == 0}
	}
	change := []func(x *codeCtx){
		func(x *codeCtx) { x.csBase ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.cr0 ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.cr3 ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.cr4 ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.efer ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.tlbKey ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.tlbInval ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.gen ^= 1 << rng.IntN(64) },
		func(x *codeCtx) { x.csLimit ^= 1 << rng.IntN(32) },
		func(x *codeCtx) { x.mode ^= 1 << rng.IntN(2) },
		func(x *codeCtx) { x.cpl ^= 1 << rng.IntN(2) },
		func(x *codeCtx) { x.guest = !x.guest },
	}
	for trial := range 2000 {
		x := random()
		y := x
		require.True(t, x.same(&y), "trial %d: equal contexts", trial)
		k := rng.IntN(len(change) + 1)
		if k < len(change) {
			change[k](&y)
		}
		require.Equal(t, x == y, x.same(&y), "trial %d: field %d changed", trial, k)
		require.Equal(t, x == y, y.same(&x), "trial %d: field %d changed (swapped)", trial, k)
	}
}

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

// TestDataFastChecks: the address checks of the data fast path (lin64
// with canonical48 in 64-bit mode, rwIn and rwLin outside it; see rwIn)
// against linear's full checks, for random segment caches, offsets near
// the limits, the 32-bit wrap and the canonical boundaries, sizes 1-8
// and both widths of CR4.LA57. Outside 64-bit mode rwIn must take
// exactly the accesses linear allows through an rw segment and none
// through another; in 64-bit mode every access within one page whose
// first byte is canonical with 48 bits must be one linear allows, at the
// same address.
func TestDataFastChecks(t *testing.T) {
	h := newHarness(mode64)
	c := h.c
	rng := rand.New(rand.NewPCG(21, 5))
	attrBits := []uint32{arch.ARUnusable, arch.ARS, arch.ARCode, arch.ARReadable, arch.ARWritable,
		arch.ARExpandDown, arch.ARDB, arch.ARL, arch.ARP, arch.ARG, arch.ARConforming}
	near := []uint64{0, 1 << 47, 1 << 32, 0xFFFF_8000_0000_0000, 1 << 56, 0xFF00_0000_0000_0000, 0x10000}
	var fast32, fast64, all32 int
	for trial := range 40000 {
		c.CR0 = arch.CR0ET | arch.CR0PE
		if rng.IntN(6) == 0 {
			c.CR0 &^= arch.CR0PE
		}
		c.CR4 = 0
		if rng.IntN(2) == 0 {
			c.CR4 = arch.CR4LA57
		}
		c.EFER = 0
		if rng.IntN(2) == 0 {
			c.EFER = arch.EFERLME | arch.EFERLMA
		}
		c.RFLAGS = arch.FlagRes1
		for i := range c.Seg {
			var a uint32
			for _, b := range attrBits {
				if rng.IntN(3) != 0 {
					a |= b
				}
			}
			base := rng.Uint64() >> rng.IntN(64)
			if rng.IntN(2) == 0 {
				base = 0
			}
			lim := rng.Uint32() >> rng.IntN(32)
			if rng.IntN(3) == 0 {
				lim = 0xFFFFFFFF
			}
			c.Seg[i] = arch.Segment{Base: base, Limit: lim, Attr: a}
		}
		c.codeMode = mode32
		if c.segs64() {
			c.codeMode = mode64
		}
		c.refreshSegs()
		seg := uint8(rng.IntN(arch.NumSegs))
		size := uint64(1) << rng.IntN(4)
		var off uint64
		switch rng.IntN(4) {
		case 0:
			off = uint64(c.Seg[seg].Limit) + uint64(rng.IntN(17)) - 8
		case 1:
			off = near[rng.IntN(len(near))] - c.segv[seg].base*uint64(rng.IntN(2)) + uint64(rng.IntN(4097)) - 2048
		case 2:
			off = rng.Uint64() >> rng.IntN(64)
		default:
			off = uint64(rng.Uint32())
		}
		for _, kind := range []int{accRead, accWrite} {
			c.faultPending = false
			lin, ok := c.linear(seg, off, size, kind)
			require.Equal(t, ok, !c.faultPending, "trial %d", trial)
			c.faultPending = false
			if c.codeMode == mode64 {
				l := c.lin64(seg, off)
				if canonical48(l) && l&0xfff <= 4096-size {
					fast64++
					require.True(t, ok, "trial %d: 64-bit fast path takes seg %d off %#x size %d, linear faults", trial, seg, off, size)
					require.Equal(t, lin, l, "trial %d", trial)
				}
				continue
			}
			v := &c.segv[seg]
			isRW := v.usable && v.readable && v.writable && v.lo == 0 && v.hi <= 0xFFFFFFFF
			if off < 1<<32 {
				all32++
			}
			if !isRW {
				require.False(t, c.rwIn(seg, off, size), "trial %d: segment %d is not rw", trial, seg)
				continue
			}
			require.Equal(t, ok, c.rwIn(seg, off, size), "trial %d: rw segment %d limit %#x, off %#x size %d", trial, seg, v.hi, off, size)
			if ok {
				fast32++
				require.Equal(t, lin, c.rwLin(seg, off), "trial %d", trial)
			}
		}
	}
	t.Logf("fast path taken: %d 32-bit, %d 64-bit accesses (%d offsets below 2^32 outside 64-bit mode)", fast32, fast64, all32)
	require.Greater(t, fast32, 2000)
	require.Greater(t, fast64, 1000)
}

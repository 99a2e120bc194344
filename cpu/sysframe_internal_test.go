package cpu

import (
	"bytes"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// newFrameCPU is a CPU at CPL 0 in 64-bit mode over stackRAM(mode64)'s
// page tables (not-present, read-only and clean pages, the canonical
// end), with TLB entries filled for the linear addresses in warm.
func newFrameCPU(ram0 []byte, rsp uint64, warm []uint64) (*CPU, *harnessBus) {
	bus := &harnessBus{ram: append([]byte(nil), ram0...)}
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG | arch.CR0WP
	s.CR3 = 0x1000
	s.CR4 = arch.CR4PAE
	s.EFER = arch.EFERLME | arch.EFERLMA
	s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	s.Seg[arch.SS] = arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	s.GPR[arch.RSP] = rsp
	s.RIP = stkCode
	c := New(Config{Bus: bus, Platform: harnessPlatform{}}, s)
	for _, lin := range warm {
		c.fill(lin, accRead)
		c.fill(lin, accWrite)
		c.faultPending, c.stop = false, false
	}
	return c, bus
}

// frameStacks are stack pointers around the edges stackRAM sets up: page
// ends, not-present, read-only and clean pages, the canonical end and 0.
func frameStacks() []uint64 {
	var sps []uint64
	for _, a := range []uint64{0x8000, 0x44000, stkNotPresent, stkNotPresent + 0x1000, stkReadOnly + 0x10,
		stkReadOnly + 0x1000, stkClean + 0x30, stkClean + 0x1000, stkTop, 0x7FFF_FFFF_F000, 0x8000_0000_0000 + 0x30, 0, 0x30} {
		for _, d := range []int64{-56, -48, -41, -40, -39, -32, -8, 0, 8, 16, 24, 32, 40, 48} {
			sps = append(sps, uint64(int64(a)+d))
		}
	}
	return sps
}

// warmSet picks TLB entries to fill: none, or the pages around sp.
func warmSet(r *rand.Rand, sp uint64) []uint64 {
	var w []uint64
	for _, lin := range []uint64{sp - 64, sp - 8, sp, sp + 40, sp + 64} {
		if r.Intn(3) != 0 && canonical48(lin) {
			w = append(w, lin)
		}
	}
	return w
}

// TestPushFrame64 compares pushFrame64 (one write of the whole frame on a
// TLB hit) with the pushes it stands for (push, one word at a time) on
// random frames and stacks: the result, RSP, the fault and the RAM must
// agree.
func TestPushFrame64(t *testing.T) {
	ram := stackRAM(mode64)
	r := rand.New(rand.NewSource(9))
	sps := frameStacks()
	whole := 0
	for i := 0; i < 1000; i++ {
		sp := sps[r.Intn(len(sps))]
		warm := warmSet(r, sp)
		frame := make([]uint64, 5+r.Intn(2))
		for k := range frame {
			frame[k] = r.Uint64()
		}
		name := fmt.Sprintf("#%d rsp %#x warm %#x frame %d", i, sp, warm, len(frame))

		fc, fbus := newFrameCPU(ram, sp, warm)
		fast := fc.pushFrame64(frame)

		gc, gbus := newFrameCPU(ram, sp, warm)
		generic := true
		for _, v := range frame {
			if !push(gc, v) {
				generic = false
				break
			}
		}
		require.Equal(t, generic, fast, name)
		require.Equal(t, gc.GPR[arch.RSP], fc.GPR[arch.RSP], name)
		require.Equal(t, gc.faultPending, fc.faultPending, name)
		require.Equal(t, gc.fault, fc.fault, name)
		require.True(t, bytes.Equal(gbus.ram, fbus.ram), "%s: RAM differs", name)
		if fast {
			whole++
		}
	}
	t.Logf("%d of 1000 frames pushed whole", whole)
	assert.Greater(t, whole, 100, "frames pushed")
}

// TestIretFrame64 compares iretFrame64 (the five slots of IRETQ's frame
// in one read on a TLB hit) with popPeek of each slot, which IRET uses
// otherwise: on a hit every slot must read the same value with no fault.
// A miss (it must be one when a slot is unmapped) is left to popPeek.
func TestIretFrame64(t *testing.T) {
	ram := stackRAM(mode64)
	for a := 0; a < len(ram); a += 8 {
		ram[a] ^= byte(a >> 3) // distinct slot values
		ram[a+7] ^= byte(a >> 11)
	}
	ram = append(stackRAM(mode64)[:0x8000], ram[0x8000:]...) // page tables untouched
	r := rand.New(rand.NewSource(10))
	sps := frameStacks()
	hits := 0
	for i := 0; i < 1000; i++ {
		sp := sps[r.Intn(len(sps))]
		warm := warmSet(r, sp)
		name := fmt.Sprintf("#%d rsp %#x warm %#x", i, sp, warm)
		c, _ := newFrameCPU(ram, sp, warm)
		fp := c.iretFrame64()
		hit := fp != nil
		gc, _ := newFrameCPU(ram, sp, warm)
		all := true
		var want [5]uint64
		for k := range want {
			v, ok := popPeek(gc, 8, 8*uint64(k))
			if !ok {
				all = false
				break
			}
			want[k] = v
		}
		require.False(t, c.faultPending, name)
		if hit {
			hits++
			require.True(t, all, "%s: a slot faults on the generic path", name)
			require.Equal(t, want, *fp, name)
		}
	}
	t.Logf("%d of 1000 frames read in one piece", hits)
	assert.Greater(t, hits, 100, "frames read in one piece")
}

// TestRFWholeBlock: a block that starts with RFLAGS.RF=1 and nothing else
// asking for single instructions (rfOnly) runs whole, RF cleared after
// its first instruction (SDM Vol. 3B 18.3.1.1). Random stack programs
// (stackProgram: pushes and pops that fault on not-present, read-only and
// non-canonical stacks, calls, returns) start with RF=1 and run twice:
// whole, and one instruction at a time behind an armed instruction
// breakpoint that never matches (runStack's split run, where runDebug
// clears RF after the first instruction). State (RF included), the first
// exception, instruction count and RAM must agree.
func TestRFWholeBlock(t *testing.T) {
	code64 := arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	flatCode := arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARDB | arch.ARG}
	flatSS := arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	sps := frameStacks()
	r := rand.New(rand.NewSource(11))
	for _, mode := range []uint8{mode64, mode32} {
		ram := stackRAM(mode)
		cs := code64
		if mode == mode32 {
			cs = flatCode
		}
		for i := 0; i < 200; i++ {
			tc := &stackCase{mode: mode, cs: cs, ss: flatSS, base: stkCode, rsp: 0x8000 - 8*uint64(r.Intn(4)), rf: true}
			if r.Intn(4) == 0 {
				tc.rsp = sps[r.Intn(len(sps))]
			}
			if mode == mode32 {
				tc.rsp &= 0xFFFFFFFF
			}
			tc.code = stackProgram(r, mode, tc.base, false, []uint64{0x8000, stkNotPresent + 8, stkReadOnly + 16})
			ws, wf, wn, wram := runStack(tc, ram, false)
			ss, sf, sn, sram := runStack(tc, ram, true)
			name := fmt.Sprintf("mode %d #%d rsp %#x code % x", mode, i, tc.rsp, tc.code)
			require.Equal(t, ss, ws, name)
			require.Equal(t, sf, wf, name)
			require.Equal(t, sn, wn, name)
			require.True(t, bytes.Equal(sram, wram), "%s: RAM differs", name)
		}
	}
}

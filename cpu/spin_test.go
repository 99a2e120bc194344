package cpu

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestSpinBudgets runs one-entry fused self-loops (block.spin, run.go spin)
// in runs of many sizes and compares the state after every run with the
// same number of instructions executed one at a time (Run(1): runSlow, the
// unfused instructions): the spin may never run past a run's end, stop a
// pass early, or leave the loop with a different RIP, count or flags.
func TestSpinBudgets(t *testing.T) {
	cases := []struct {
		name string
		mode uint8
		code []byte // a self-loop at harnessCode; the harness appends HLT
		rcx  uint64
		rbx  uint64
	}{
		{"dec ecx; jnz", mode32, []byte{0x49, 0x75, 0xFD}, 37, 0},
		{"dec cx; jnz (16-bit)", mode32, []byte{0x66, 0x49, 0x75, 0xFC}, 0x10025, 0},
		{"dec ecx; jnz rel32", mode32, []byte{0x49, 0x0F, 0x85, 0xF9, 0xFF, 0xFF, 0xFF}, 29, 0},
		{"sub ecx, 3; ja", mode32, []byte{0x83, 0xE9, 0x03, 0x77, 0xFB}, 100, 0},
		{"add ecx, ebx; jnz (wraps to 0)", mode32, []byte{0x01, 0xD9, 0x75, 0xFC}, 0xFFFFFF80, 4},
		{"cmp ecx, ebx; jne (never leaves)", mode32, []byte{0x39, 0xD9, 0x75, 0xFC}, 1, 2},
		{"dec rcx; jnz (64-bit)", mode64, []byte{0x48, 0xFF, 0xC9, 0x75, 0xFB}, 41, 0},
		{"test ecx, ecx; jz (leaves at once)", mode64, []byte{0x85, 0xC9, 0x74, 0xFC}, 5, 0},
	}
	budgets := []uint64{1, 2, 3, 5, 7, 8, 64, 101, 1 << 20}
	for _, tc := range cases {
		for _, budget := range budgets {
			var g [16]uint64
			g[arch.RCX], g[arch.RBX] = tc.rcx, tc.rbx
			spin, ref := newHarness(tc.mode), newHarness(tc.mode)
			spin.stepN(tc.code, g, 0, 0)
			ref.stepN(tc.code, g, 0, 0)
			b := spin.c.lookupBlock()
			require.NotNil(t, b)
			require.True(t, b.spin, "%s: the loop is a spin block", tc.name)
			for run := 0; run < 40 && !spin.c.halted; run++ {
				before := spin.c.Icount
				spin.c.Run(budget)
				n := spin.c.Icount - before
				require.LessOrEqual(t, n, budget, "%s: run of %d", tc.name, budget)
				for i := uint64(0); i < n; i++ {
					ref.c.Run(1)
				}
				require.Equal(t, ref.c.GetState(), spin.c.GetState(), "%s: run %d of %d", tc.name, run, budget)
				require.Equal(t, ref.c.Icount, spin.c.Icount)
				require.Equal(t, ref.c.halted, spin.c.halted)
			}
		}
	}
}

// TestSpinOnlySelfLoops: only a fused pair whose Jcc goes back to the
// block's first byte is a spin block; one that jumps forward or backward
// past it (a "cmp eax, 2; jb" at a function's entry) is an ordinary block.
// The displacement is the Jcc's, counted from the end of the pair.
func TestSpinOnlySelfLoops(t *testing.T) {
	cases := []struct {
		name string
		mode uint8
		code []byte
		spin bool
	}{
		{"dec ecx; jnz -3 (itself)", mode32, []byte{0x49, 0x75, 0xFD}, true},
		{"dec ecx; jnz -4 (one byte before)", mode32, []byte{0x49, 0x75, 0xFC}, false},
		{"dec ecx; jnz +0 (falls through either way)", mode32, []byte{0x49, 0x75, 0x00}, false},
		{"cmp eax, 2; jb +1 (a function's entry)", mode64, []byte{0x83, 0xF8, 0x02, 0x72, 0x01}, false},
		{"dec rcx; jnz rel32 -9 (itself)", mode64, []byte{0x48, 0xFF, 0xC9, 0x0F, 0x85, 0xF7, 0xFF, 0xFF, 0xFF}, true},
	}
	for _, tc := range cases {
		h := newHarness(tc.mode)
		var g [16]uint64
		g[arch.RCX] = 5
		h.stepN(tc.code, g, 0, 0)
		b := h.c.lookupBlock()
		require.NotNil(t, b, tc.name)
		// The pair is fused; a Jcc that does not go back to the block's
		// start is a side exit the block continues past (decodeBlock).
		require.EqualValues(t, 2, b.fast[0].nret, "%s: a fused entry first", tc.name)
		if tc.spin {
			require.Len(t, b.fast, 1, "%s: one fused entry", tc.name)
		} else {
			require.Greater(t, len(b.insts), 2, "%s: the block goes on past the Jcc", tc.name)
			require.True(t, b.fast[0].side, "%s: the fused Jcc is a side exit", tc.name)
		}
		require.Equal(t, tc.spin, b.spin, tc.name)
	}
}

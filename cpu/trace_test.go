package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The block trace hooks (-d in_asm, exec, cpu): each block is reported
// once when decoded and every time it starts, and tracing does not change
// what runs. The program counts ECX down from 5:
//
//	10000: mov ecx, 5      ; block A: mov, dec, jnz (a branch ends a block)
//	10005: dec ecx         ; block B: dec, jnz
//	10007: jnz 10005
//	10009: hlt             ; block C
//
// A runs once (ECX 5 → 4, taken), B four times (4 → 0, the last not
// taken), then C.
func TestTraceHooks(t *testing.T) {
	prog := []byte{0xB9, 5, 0, 0, 0, 0xFF, 0xC9, 0x75, 0xFC}
	for _, mode := range []uint8{mode32, mode64} {
		plain := newHarness(mode)
		ps, _ := plain.stepN(prog, [16]uint64{}, 0, 100)

		h := newHarness(mode)
		var translated, executed []uint64
		var codes [][]byte
		exc := h.c.Hooks.Exception
		h.c.Hooks = &Hooks{Exception: exc,
			Translate: func(c *CPU, b TraceBlock, code []byte) {
				translated = append(translated, b.Linear)
				codes = append(codes, append([]byte(nil), code...))
				assert.Equal(t, modeBits(mode), b.Bits)
				assert.Equal(t, b.Linear, b.Phys, "identity-mapped")
			},
			Exec: func(c *CPU, b TraceBlock) {
				executed = append(executed, b.Linear)
				assert.Equal(t, b.Linear, c.RIP, "Exec sees the state at the block's start")
			}}
		ts, fault := h.stepN(prog, [16]uint64{}, 0, 100)
		require.Equal(t, -1, fault)
		assert.Equal(t, []uint64{0x10000, 0x10005, 0x10009}, translated, "each block decoded once")
		assert.Equal(t, [][]byte{prog, prog[5:], {0xF4}}, codes)
		assert.Equal(t, []uint64{0x10000, 0x10005, 0x10005, 0x10005, 0x10005, 0x10009}, executed)
		assert.Equal(t, ps.GPR, ts.GPR, "tracing changes nothing")
		assert.Equal(t, ps.RIP, ts.RIP)
		assert.Equal(t, plain.c.Icount, h.c.Icount, "same instructions retired (1 + 2 + 4*2 + HLT)")
		assert.Equal(t, uint64(12), h.c.Icount)

		// Removing the hooks returns the CPU to the fast path.
		h.c.Hooks = nil
		h.stepN(prog, [16]uint64{}, 0, 100)
		assert.Zero(t, h.c.attn&attnTrace)
	}
}

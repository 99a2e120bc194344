package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// outBus is the harness bus with an OUT callback.
type outBus struct {
	*harnessBus
	out func(port uint16, v uint32)
}

func (b outBus) Out(port uint16, size int, v uint32) { b.out(port, v) }

// TestEndRunAt: a handler that brings the run's end forward (as the
// VMX-preemption timer and MTF will) makes Run stop at exactly that
// instruction count, in the middle of a block, whatever the budget; and
// time read inside a block (now) is exact at the point of the call.
func TestEndRunAt(t *testing.T) {
	for _, extra := range []uint64{1, 2, 5, 9} {
		h := newHarness(mode32)
		var c *CPU
		var at uint64
		bus := outBus{harnessBus: h.bus, out: func(port uint16, v uint32) {
			at = c.now()
			c.endRunAt(c.now() + extra)
		}}
		c = New(Config{Bus: bus, Platform: harnessPlatform{}}, h.base)
		// nop x5; out dx,al; nop x10; hlt — one block.
		code := []byte{0x90, 0x90, 0x90, 0x90, 0x90, 0xEE}
		for i := 0; i < 10; i++ {
			code = append(code, 0x90)
		}
		code = append(code, 0xF4)
		copy(h.bus.ram[harnessCode:], code)
		r := c.Run(1000)
		assert.Equal(t, StopBudget, r, "extra %d", extra)
		assert.Equal(t, uint64(5), at, "five instructions retired before the OUT")
		require.Equal(t, 5+extra, c.Icount, "the run ends exactly where the handler said")
		// RIP is at instruction 5+extra: the OUT is 1 byte like the NOPs.
		assert.Equal(t, uint64(harnessCode)+5+extra, c.RIP)
		assert.False(t, c.Halted())
		// The next run goes on from there.
		c.Run(1000)
		assert.True(t, c.Halted())
		assert.Equal(t, uint64(17), c.Icount, "16 instructions and the HLT")
	}
}

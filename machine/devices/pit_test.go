package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type vclock struct{ ns uint64 }

func (v *vclock) now() uint64 { return v.ns }

// ticks advances the clock by n PIT input ticks (838.1 ns each).
func (v *vclock) ticks(n uint64) { v.ns = ticksToNS(nsToTicks(v.ns) + n) }

// TestPITMode2: the rate generator counts down from the reload value and
// raises IRQ 0 once per period (8254 datasheet, mode 2).
func TestPITMode2(t *testing.T) {
	clk := &vclock{}
	irqs := 0
	p := NewPIT(clk.now, func() { irqs++ })
	_, armed := p.Deadline()
	assert.False(t, armed, "nothing counts at power-on")
	p.Out(0x43, 1, 0x34) // channel 0, LSB/MSB, mode 2
	p.Out(0x40, 1, 100)
	p.Out(0x40, 1, 0)
	d, armed := p.Deadline()
	require.True(t, armed)
	assert.Equal(t, ticksToNS(100), d)
	clk.ticks(30)
	p.Out(0x43, 1, 0x00) // latch channel 0
	clk.ticks(5)
	lo, hi := p.In(0x40, 1), p.In(0x40, 1)
	assert.Equal(t, uint32(70), lo|hi<<8, "latched value")
	clk.ticks(70)
	p.Tick()
	assert.Equal(t, 1, irqs)
	p.Tick()
	assert.Equal(t, 1, irqs, "one edge per period")
	clk.ticks(250)
	p.Tick()
	assert.Equal(t, 2, irqs, "missed periods coalesce")
	d, _ = p.Deadline()
	assert.Equal(t, ticksToNS(400), d)
}

// TestPITReadBack: the read-back command latches status (output, access,
// mode) and count.
func TestPITReadBack(t *testing.T) {
	clk := &vclock{}
	p := NewPIT(clk.now, nil)
	p.Out(0x43, 1, 0xB0) // channel 2, LSB/MSB, mode 0
	p.Out(0x42, 1, 0x10)
	p.Out(0x42, 1, 0x00)
	assert.False(t, p.Out2())
	clk.ticks(4)
	p.Out(0x43, 1, 0xC8) // read-back: count and status of channel 2
	assert.Equal(t, uint32(0x30), p.In(0x42, 1), "status: LSB/MSB, mode 0, output low")
	assert.Equal(t, uint32(12), p.In(0x42, 1))
	assert.Equal(t, uint32(0), p.In(0x42, 1))
	clk.ticks(20)
	assert.True(t, p.Out2(), "terminal count reached")
}

func TestRTC(t *testing.T) {
	clk := &vclock{ns: (86400*31 + 3600*13 + 60*5 + 7) * 1e9} // 2000-02-01 13:05:07
	r := NewRTC(clk.now, 128<<20, 1<<30, 4)
	read := func(i uint8) uint32 { r.Out(0x70, 1, uint32(i)); return r.In(0x71, 1) }
	for i, want := range map[uint8]uint32{0: 0x07, 2: 0x05, 4: 0x13, 7: 0x01, 8: 0x02, 9: 0x00, 0x32: 0x20, 6: 3} {
		assert.Equal(t, want, read(i), "register %#x (BCD)", i)
	}
	r.Out(0x70, 1, 0x0B)
	r.Out(0x71, 1, 0x06) // binary, 24h
	assert.Equal(t, uint32(13), read(4))
	assert.Equal(t, uint32(0x80), read(0x0D), "valid RAM and time")
	assert.Equal(t, uint32(0xFF), read(0x17), "extended memory in KiB, capped at 0xFFFF")
	assert.Equal(t, uint32(3), read(0x5F), "CPUs - 1")
	assert.Equal(t, uint32((1<<30)>>16>>8&0xFF), read(0x5C), "RAM above 4 GiB in 64 KiB units")
}

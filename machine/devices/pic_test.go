package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// initPIC programs the pair the way a PC BIOS or Linux does: ICW1 0x11
// (edge, cascade, ICW4 needed), ICW2 vector base, ICW3 (master: slave on
// IR2 = 0x04; slave: ID 2), ICW4 (8086 mode, plus AEOI if asked).
func initPIC(t *testing.T, aeoi bool) (*PIC, *PortBus) {
	t.Helper()
	p := NewPIC()
	b := NewPortBus()
	require.NoError(t, p.Register(b))
	icw4 := uint32(0x01)
	if aeoi {
		icw4 |= 0x02
	}
	for _, w := range []struct {
		port uint16
		val  uint32
	}{
		{0x20, 0x11}, {0x21, 0x20}, {0x21, 0x04}, {0x21, icw4},
		{0xA0, 0x11}, {0xA1, 0x28}, {0xA1, 0x02}, {0xA1, icw4},
	} {
		b.Out(w.port, 1, w.val)
	}
	return p, b
}

func readIRR(b *PortBus, cmd uint16) uint8 { b.Out(cmd, 1, 0x0A); return uint8(b.In(cmd, 1)) }
func readISR(b *PortBus, cmd uint16) uint8 { b.Out(cmd, 1, 0x0B); return uint8(b.In(cmd, 1)) }

func TestPICInitAndMask(t *testing.T) {
	p, b := initPIC(t, false)
	// ICW1 clears IMR.
	assert.Equal(t, uint32(0x00), b.In(0x21, 1))
	assert.Equal(t, uint32(0x00), b.In(0xA1, 1))
	// OCW1 masks read back from the data port.
	b.Out(0x21, 1, 0xFB)
	b.Out(0xA1, 1, 0xFF)
	assert.Equal(t, uint32(0xFB), b.In(0x21, 1))
	assert.Equal(t, uint32(0xFF), b.In(0xA1, 1))

	p.RaiseIRQ(1) // masked
	_, ok := p.Pending()
	assert.False(t, ok)
	assert.Equal(t, uint8(0x02), readIRR(b, 0x20), "IRR holds masked requests")

	b.Out(0x21, 1, 0xF9) // unmask IRQ1
	v, ok := p.Pending()
	require.True(t, ok)
	assert.Equal(t, uint8(0x21), v)

	// A new ICW1 resets IMR and the edge latches.
	b.Out(0x20, 1, 0x11)
	b.Out(0x21, 1, 0x20)
	b.Out(0x21, 1, 0x04)
	b.Out(0x21, 1, 0x01)
	assert.Equal(t, uint32(0x00), b.In(0x21, 1))
	_, ok = p.Pending()
	assert.False(t, ok, "the line stayed high: no new edge")
}

func TestPICPriorityAndEOI(t *testing.T) {
	p, b := initPIC(t, false)
	p.RaiseIRQ(3)
	p.RaiseIRQ(1)
	assert.Equal(t, uint8(0x0A), readIRR(b, 0x20))

	assert.Equal(t, uint8(0x21), p.Ack(), "IR1 beats IR3 in fixed priority")
	assert.Equal(t, uint8(0x02), readISR(b, 0x20))
	assert.Equal(t, uint8(0x08), readIRR(b, 0x20), "edge request moved to ISR")
	_, ok := p.Pending()
	assert.False(t, ok, "IR3 is blocked while IR1 is in service")

	p.RaiseIRQ(0)
	v, ok := p.Pending()
	require.True(t, ok)
	assert.Equal(t, uint8(0x20), v, "IR0 nests over IR1")
	assert.Equal(t, uint8(0x20), p.Ack())
	assert.Equal(t, uint8(0x03), readISR(b, 0x20))

	b.Out(0x20, 1, 0x20) // non-specific EOI: clears IR0, the highest
	assert.Equal(t, uint8(0x02), readISR(b, 0x20))
	_, ok = p.Pending()
	assert.False(t, ok)
	b.Out(0x20, 1, 0x20)
	assert.Equal(t, uint8(0x00), readISR(b, 0x20))
	v, ok = p.Pending()
	require.True(t, ok)
	assert.Equal(t, uint8(0x23), v)
	assert.Equal(t, uint8(0x23), p.Ack())
	b.Out(0x20, 1, 0x63) // specific EOI, level 3
	assert.Equal(t, uint8(0x00), readISR(b, 0x20))
}

func TestPICCascade(t *testing.T) {
	p, b := initPIC(t, false)
	p.RaiseIRQ(12)
	v, ok := p.Pending()
	require.True(t, ok)
	assert.Equal(t, uint8(0x2C), v)
	assert.Equal(t, uint8(0x04), readIRR(b, 0x20), "slave INT shows on master IR2")
	assert.Equal(t, uint8(0x2C), p.Ack())
	assert.Equal(t, uint8(0x04), readISR(b, 0x20), "master IR2 in service")
	assert.Equal(t, uint8(0x10), readISR(b, 0xA0), "slave IR4 in service")

	// A lower-priority master request waits; a higher one (IR1) nests.
	p.RaiseIRQ(5)
	_, ok = p.Pending()
	assert.False(t, ok)
	p.RaiseIRQ(1)
	v, _ = p.Pending()
	assert.Equal(t, uint8(0x21), v)
	p.LowerIRQ(1)
	p.Ack()
	b.Out(0x20, 1, 0x61) // specific EOI for IR1

	// Slave IRQ 8 (higher than 12) is blocked by master IR2 until both EOIs
	// (no special fully nested mode).
	p.RaiseIRQ(8)
	_, ok = p.Pending()
	assert.False(t, ok)
	b.Out(0xA0, 1, 0x20)
	b.Out(0x20, 1, 0x20)
	v, ok = p.Pending()
	require.True(t, ok)
	assert.Equal(t, uint8(0x28), v)
}

func TestPICSpuriousAndMaskedSlave(t *testing.T) {
	p, b := initPIC(t, false)
	assert.Equal(t, uint8(0x27), p.Ack(), "no request: IR7 of the master")
	assert.Equal(t, uint8(0x00), readISR(b, 0x20), "spurious INTA sets no ISR bit")

	b.Out(0x21, 1, 0x04) // mask the cascade input
	p.RaiseIRQ(9)
	_, ok := p.Pending()
	assert.False(t, ok)
	b.Out(0x21, 1, 0x00)
	v, _ := p.Pending()
	assert.Equal(t, uint8(0x29), v)
}

func TestPICAutoEOI(t *testing.T) {
	p, b := initPIC(t, true)
	p.RaiseIRQ(4)
	p.RaiseIRQ(6)
	assert.Equal(t, uint8(0x24), p.Ack())
	assert.Equal(t, uint8(0x00), readISR(b, 0x20), "AEOI leaves ISR clear")
	assert.Equal(t, uint8(0x26), p.Ack(), "next request is not blocked")
	p.RaiseIRQ(10)
	assert.Equal(t, uint8(0x2A), p.Ack())
	assert.Equal(t, uint8(0x00), readISR(b, 0x20))
	assert.Equal(t, uint8(0x00), readISR(b, 0xA0))
}

func TestPICRotation(t *testing.T) {
	p, b := initPIC(t, false)
	b.Out(0x20, 1, 0xC4) // OCW2 set priority: IR4 lowest, so IR5 highest
	p.RaiseIRQ(3)
	p.RaiseIRQ(6)
	v, _ := p.Pending()
	assert.Equal(t, uint8(0x26), v, "IR6 ranks above IR3 after rotation")
	assert.Equal(t, uint8(0x26), p.Ack())
	b.Out(0x20, 1, 0xA0) // rotate on non-specific EOI: IR6 becomes lowest
	assert.Equal(t, uint8(0x00), readISR(b, 0x20))
	p.RaiseIRQ(7)
	v, _ = p.Pending()
	assert.Equal(t, uint8(0x27), v, "IR7 now highest")
}

func TestPICLevelTriggeredViaELCR(t *testing.T) {
	p, b := initPIC(t, false)
	// ELCR reserved bits: IRQ 0-2 and 8, 13 are always edge.
	b.Out(0x4D0, 1, 0xFF)
	b.Out(0x4D1, 1, 0xFF)
	assert.Equal(t, uint32(0xF8), b.In(0x4D0, 1))
	assert.Equal(t, uint32(0xDE), b.In(0x4D1, 1))
	b.Out(0x4D0, 1, 0x00)
	b.Out(0x4D1, 1, 0x04) // IRQ 10 level-triggered

	p.RaiseIRQ(10)
	p.LowerIRQ(10)
	_, ok := p.Pending()
	assert.False(t, ok, "level request goes away with the line")

	p.RaiseIRQ(10)
	assert.Equal(t, uint8(0x2A), p.Ack())
	b.Out(0xA0, 1, 0x20)
	b.Out(0x20, 1, 0x20)
	v, ok := p.Pending()
	require.True(t, ok, "line still high: requests again after EOI")
	assert.Equal(t, uint8(0x2A), v)

	// Edge input for comparison: the latch survives the line dropping.
	p.RaiseIRQ(11)
	p.LowerIRQ(11)
	assert.Equal(t, uint8(0x0C), readIRR(b, 0xA0))
}

func TestPICPoll(t *testing.T) {
	p, b := initPIC(t, false)
	b.Out(0x20, 1, 0x0C) // OCW3 poll
	assert.Equal(t, uint32(0x00), b.In(0x20, 1), "nothing pending")
	p.RaiseIRQ(5)
	b.Out(0x20, 1, 0x0C)
	assert.Equal(t, uint32(0x85), b.In(0x20, 1), "bit 7 + level 5")
	assert.Equal(t, uint8(0x20), readISR(b, 0x20), "poll acknowledges")
}

func TestPICSpecialMaskMode(t *testing.T) {
	p, b := initPIC(t, false)
	p.RaiseIRQ(3)
	assert.Equal(t, uint8(0x23), p.Ack())
	p.RaiseIRQ(5)
	_, ok := p.Pending()
	assert.False(t, ok)
	b.Out(0x21, 1, 0x08) // mask IR3 (in service)
	b.Out(0x20, 1, 0x68) // OCW3: ESMM|SMM
	v, ok := p.Pending()
	require.True(t, ok, "special mask mode lets lower levels through")
	assert.Equal(t, uint8(0x25), v)
	b.Out(0x20, 1, 0x48) // OCW3: ESMM, SMM clear
	_, ok = p.Pending()
	assert.False(t, ok)
}

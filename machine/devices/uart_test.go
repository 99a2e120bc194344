package devices

import (
	"bytes"
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const com1 = PortCOM1

func newTestUART(t *testing.T) (*UART, *PortBus, *bytes.Buffer) {
	t.Helper()
	var out bytes.Buffer
	u := NewUART(&out, nil)
	b := NewPortBus()
	require.NoError(t, b.Register(com1, UARTPorts, u))
	return u, b, &out
}

func rd(b *PortBus, reg uint16) uint8 { return uint8(b.In(com1+reg, 1)) }
func wr(b *PortBus, reg uint16, v uint8) {
	b.Out(com1+reg, 1, uint32(v))
}

func TestUARTResetState(t *testing.T) {
	_, b, _ := newTestUART(t)
	// PC16550D "UART reset configuration": IER 0, IIR 0x01, LCR 0, MCR 0,
	// LSR 0x60 (THRE, TEMT).
	for _, tc := range []struct {
		name string
		reg  uint16
		want uint8
	}{
		{"IER", 1, 0x00},
		{"IIR", 2, 0x01},
		{"LCR", 3, 0x00},
		{"MCR", 4, 0x00},
		{"LSR", 5, 0x60},
		{"MSR (CTS, DSR, DCD asserted)", 6, 0xB0},
	} {
		assert.Equal(t, tc.want, rd(b, tc.reg), tc.name)
	}
}

func TestUARTDivisorLatch(t *testing.T) {
	_, b, out := newTestUART(t)
	wr(b, 1, 0x00)
	wr(b, 3, 0x83) // DLAB=1, 8N1
	wr(b, 0, 0x01) // DLL: 115200 baud
	wr(b, 1, 0x02) // DLM
	assert.Equal(t, uint8(0x01), rd(b, 0), "DLL")
	assert.Equal(t, uint8(0x02), rd(b, 1), "DLM")
	assert.Equal(t, uint8(0x83), rd(b, 3), "LCR reads back")
	assert.Empty(t, out.String(), "DLL write is not a transmission")

	wr(b, 3, 0x03) // DLAB=0
	assert.Equal(t, uint8(0x00), rd(b, 1), "IER visible again")
	wr(b, 1, 0xFF)
	assert.Equal(t, uint8(0x0F), rd(b, 1), "IER bits 7:4 are 0")
	wr(b, 3, 0x83)
	assert.Equal(t, uint8(0x01), rd(b, 0), "divisor survives DLAB toggling")
	assert.Equal(t, uint8(0x02), rd(b, 1))
}

func TestUARTScratch(t *testing.T) {
	_, b, _ := newTestUART(t)
	for _, v := range []uint8{0x00, 0x55, 0xAA, 0xFF} {
		wr(b, 7, v)
		assert.Equal(t, v, rd(b, 7))
	}
}

func TestUARTTransmit(t *testing.T) {
	u, b, out := newTestUART(t)
	for _, c := range []byte("hello\nworld") {
		wr(b, 0, c)
		assert.Equal(t, uint8(0x60), rd(b, 5)&0x60, "THRE and TEMT stay set")
	}
	assert.Equal(t, "hello\n", out.String(), "flushed at the newline")
	require.NoError(t, u.Flush())
	assert.Equal(t, "hello\nworld", out.String())
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("disk full") }

func TestUARTFlushError(t *testing.T) {
	u := NewUART(failWriter{}, nil)
	u.Out(com1, 1, 'x')
	err := u.Flush()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "disk full")
}

func TestUARTFIFOControl(t *testing.T) {
	_, b, _ := newTestUART(t)
	wr(b, 2, 0x01)
	assert.Equal(t, uint8(0xC1), rd(b, 2), "IIR bits 7:6 set with FIFOs enabled")
	wr(b, 2, 0xC7)
	assert.Equal(t, uint8(0xC1), rd(b, 2))
	wr(b, 2, 0x00)
	assert.Equal(t, uint8(0x01), rd(b, 2))
}

func TestUARTReceive(t *testing.T) {
	u, b, _ := newTestUART(t)
	wr(b, 2, 0x01) // FIFOs on
	assert.Equal(t, 3, u.Feed([]byte("abc")))
	assert.Equal(t, uint8(0x61), rd(b, 5), "DR")
	var got []byte
	for rd(b, 5)&0x01 != 0 {
		got = append(got, rd(b, 0))
	}
	assert.Equal(t, "abc", string(got))
	assert.Equal(t, uint8(0x60), rd(b, 5))
}

func TestUARTFeedBounded(t *testing.T) {
	u := NewUART(nil, nil)
	big := make([]byte, 5000)
	assert.Equal(t, 4096, u.Feed(big))
	assert.Equal(t, 0, u.Feed([]byte{1}))
}

func TestUARTInputChannel(t *testing.T) {
	ch := make(chan byte, 4)
	ch <- 'q'
	u := NewUART(nil, ch)
	assert.Equal(t, uint32(0x61), u.In(com1+5, 1))
	assert.Equal(t, uint32('q'), u.In(com1, 1))
	close(ch)
	assert.Equal(t, uint32(0x60), u.In(com1+5, 1))
}

func TestUARTLoopback(t *testing.T) {
	u, b, out := newTestUART(t)
	u.Feed([]byte("Z")) // external input must not appear while in loopback
	wr(b, 4, 0x10)
	// Entering loopback drops CTS, DSR, DCD (0xB0 → 0x00): DCTS, DDSR, DDCD.
	assert.Equal(t, uint8(0x0B), rd(b, 6))
	assert.Equal(t, uint8(0x00), rd(b, 6), "delta bits clear on read")

	// PC16550D loopback wiring: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.
	for _, tc := range []struct {
		mcr, msr uint8
	}{
		{0x11, 0x22}, // DSR=1, DDSR
		{0x12, 0x13}, // CTS=1, DSR=0: DCTS, DDSR
		{0x14, 0x41}, // RI=1 (leading edge: no TERI), CTS=0: DCTS
		{0x18, 0x8C}, // DCD=1: DDCD; RI 1→0: TERI
		{0x1F, 0xF3}, // all inputs 1: DCTS, DDSR (RI rising, DCD unchanged)
	} {
		wr(b, 4, tc.mcr)
		assert.Equal(t, tc.mcr, rd(b, 4), "MCR reads back")
		assert.Equal(t, tc.msr, rd(b, 6), "MSR after MCR=%#02x", tc.mcr)
	}

	wr(b, 0, 'A')
	assert.Equal(t, uint8(0x61), rd(b, 5), "transmitted byte arrives in RBR")
	assert.Equal(t, uint8('A'), rd(b, 0))
	assert.Equal(t, uint8(0x60), rd(b, 5))

	// FIFOs disabled: a second byte before the first is read overruns.
	wr(b, 0, 'B')
	wr(b, 0, 'C')
	assert.Equal(t, uint8(0x63), rd(b, 5), "DR | OE | THRE | TEMT")
	assert.Equal(t, uint8(0x61), rd(b, 5), "reading LSR cleared OE")
	assert.Equal(t, uint8('B'), rd(b, 0), "the overrunning byte is lost")

	require.NoError(t, u.Flush())
	assert.Empty(t, out.String(), "nothing reaches the line in loopback")

	wr(b, 4, 0x00)
	assert.Equal(t, uint8(0x61), rd(b, 5), "external input delivered after loopback")
	assert.Equal(t, uint8('Z'), rd(b, 0))
}

func TestUARTInterrupts(t *testing.T) {
	u, b, _ := newTestUART(t)
	assert.False(t, u.IRQPending())

	// THRE: enabling ETBEI with THR empty raises it; reading IIR clears it.
	wr(b, 1, 0x02)
	assert.True(t, u.IRQPending())
	assert.Equal(t, uint8(0x02), rd(b, 2))
	assert.False(t, u.IRQPending())
	assert.Equal(t, uint8(0x01), rd(b, 2))
	wr(b, 0, 'x') // THR empties again at once
	assert.True(t, u.IRQPending())
	assert.Equal(t, uint8(0x02), rd(b, 2))

	// Received data available: held while data is in RBR.
	wr(b, 1, 0x01)
	assert.False(t, u.IRQPending())
	u.Feed([]byte("k"))
	assert.True(t, u.IRQPending())
	assert.Equal(t, uint8(0x04), rd(b, 2))
	assert.Equal(t, uint8(0x04), rd(b, 2), "IIR read does not clear RDA")
	rd(b, 0)
	assert.Equal(t, uint8(0x01), rd(b, 2))

	// Priority: line status > received data > THRE > modem status.
	wr(b, 1, 0x0F)
	wr(b, 4, 0x10) // loopback: MSR deltas latch
	wr(b, 0, '1')
	wr(b, 0, '2') // overrun: OE
	assert.Equal(t, uint8(0x06), rd(b, 2), "receiver line status first")
	rd(b, 5) // clears OE
	assert.Equal(t, uint8(0x04), rd(b, 2), "then received data")
	rd(b, 0)
	assert.Equal(t, uint8(0x02), rd(b, 2), "then THRE (cleared by this read)")
	assert.Equal(t, uint8(0x00), rd(b, 2), "then modem status")
	rd(b, 6)
	assert.Equal(t, uint8(0x01), rd(b, 2))
	assert.False(t, u.IRQPending())
}

func TestUARTWideAccessSplits(t *testing.T) {
	_, b, _ := newTestUART(t)
	b.Out(com1+7, 1, 0x5A)
	// A 16-bit read at LSR reads LSR then MSR.
	assert.Equal(t, uint32(0xB060), b.In(com1+5, 2))
	// Bytes beyond the eight registers read 0xFF.
	assert.Equal(t, uint32(0xFF5A), b.In(com1+7, 2))
	// A 16-bit write at LCR writes LCR then MCR.
	b.Out(com1+3, 2, 0x0103)
	assert.Equal(t, uint8(0x03), rd(b, 3))
	assert.Equal(t, uint8(0x01), rd(b, 4))
}

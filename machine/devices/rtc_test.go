package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Register A's UIP bit is set in the 244 µs before each update (MC146818A
// datasheet, "Update cycle": UIP goes high 244 µs before the update when
// the divider runs at 32.768 kHz) and never while SET holds updates off.
func TestRTCUpdateInProgress(t *testing.T) {
	var ns uint64
	r := NewRTC(func() uint64 { return ns }, 16<<20, 0, 1)
	regA := func() uint32 { r.Out(PortRTC, 1, 0x0A); return r.In(PortRTC+1, 1) }
	for _, tc := range []struct {
		ns  uint64
		uip bool
	}{
		{0, false},
		{999_755_999, false},
		{999_756_000, true},
		{999_999_999, true},
		{1_000_000_000, false},
		{5_999_900_000, true},
	} {
		ns = tc.ns
		assert.Equal(t, tc.uip, regA()&0x80 != 0, "t=%d", tc.ns)
		assert.Equal(t, uint32(0x26), regA()&0x7F, "rate and divider bits")
	}
	ns = 999_900_000
	r.Out(PortRTC, 1, 0x0B)
	r.Out(PortRTC+1, 1, 0x82) // SET
	assert.Zero(t, regA()&0x80, "SET halts updates")
	r.Out(PortRTC, 1, 0x0B)
	r.Out(PortRTC+1, 1, 0x02)
	r.Out(PortRTC, 1, 0x0A)
	r.Out(PortRTC+1, 1, 0x06) // divider in reset (DV 000)
	assert.Zero(t, regA()&0x80, "divider stopped")
}

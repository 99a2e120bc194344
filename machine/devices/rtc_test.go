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

// TestRTCAlarmWakes: the alarm can wake the machine from S3 when register
// B's AIE (bit 5) is set and each alarm byte is "don't care" (bits 7:6 =
// 11, MC146818A datasheet) or a time of day the clock reaches (BCD unless
// register B's DM bit 2 says binary).
func TestRTCAlarmWakes(t *testing.T) {
	for _, tc := range []struct {
		name       string
		b, s, m, h uint8
		want       bool
	}{
		{"AIE clear", 0x02, 0xC0, 0xC0, 0xC0, false},
		{"don't care (kvm-unit-tests s3)", 0x22, 0xC0, 0xC0, 0xC0, true},
		{"don't care 0xFF", 0x22, 0xFF, 0xFF, 0xFF, true},
		{"BCD 23:59:59", 0x22, 0x59, 0x59, 0x23, true},
		{"BCD seconds 0x60", 0x22, 0x60, 0xC0, 0xC0, false},
		{"BCD digit 0x0A", 0x22, 0x0A, 0xC0, 0xC0, false},
		{"BCD hours 0x24", 0x22, 0xC0, 0xC0, 0x24, false},
		{"binary 59 s", 0x26, 59, 0xC0, 0xC0, true},
		{"binary 60 s", 0x26, 60, 0xC0, 0xC0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := NewRTC(func() uint64 { return 0 }, 16<<20, 0, 1)
			for _, w := range [][2]uint8{{1, tc.s}, {3, tc.m}, {5, tc.h}, {0xB, tc.b}} {
				r.Out(PortRTC, 1, uint32(w[0]))
				r.Out(PortRTC+1, 1, uint32(w[1]))
			}
			assert.Equal(t, tc.want, r.AlarmWakes())
			r.Out(PortRTC, 1, 1)
			assert.Equal(t, uint32(tc.s), r.In(PortRTC+1, 1), "the alarm registers are read/write")
		})
	}
}

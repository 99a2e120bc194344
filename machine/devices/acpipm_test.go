package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type pmRig struct {
	ns    uint64
	sci   []bool
	exits []Exit
	bus   *PortBus
	pm    *ACPIPM
}

func newPMRig(t *testing.T) *pmRig {
	r := &pmRig{}
	pm := NewACPIPM(func() uint64 { return r.ns }, func(h bool) { r.sci = append(r.sci, h) },
		func(e Exit) { r.exits = append(r.exits, e) })
	r.bus = NewPortBus()
	require.NoError(t, pm.Register(r.bus))
	r.pm = pm
	return r
}

// PM_TMR counts at 3.579545 MHz (ACPI 6.5 4.8.3.3) and keeps 24 bits.
// Expected values: floor(ns * 3579545 / 10^9) mod 2^24, computed with
// Python's integers.
func TestACPIPMTimer(t *testing.T) {
	for _, tc := range []struct {
		ns   uint64
		want uint32
	}{
		{0, 0},
		{1000, 3},
		{1_000_000_000, 3579545},
		{10_000_000_000, 2241018},
		{3_600_000_000_000, 0x164790},
		{1 << 62, 0x696FB0}, // the product does not fit in 64 bits
	} {
		r := newPMRig(t)
		r.ns = tc.ns
		assert.Equal(t, tc.want, r.bus.In(0x608, 4), "t=%d ns", tc.ns)
		assert.Equal(t, tc.want&0xFF, r.bus.In(0x608, 1))
	}
	r := newPMRig(t)
	r.bus.Out(0x608, 4, 0x123456)
	r.ns = 1_000_000_000
	assert.Equal(t, uint32(3579545), r.bus.In(0x608, 4), "read-only")
}

// PM1_STS.TMR_STS is set when bit 23 of the counter changes and cleared by
// writing 1 (ACPI 6.5 4.8.3.1.1, Table 4.13); with TMR_EN the SCI rises.
func TestACPIPMTimerStatusAndSCI(t *testing.T) {
	r := newPMRig(t)
	r.bus.Out(0x602, 2, 1) // TMR_EN
	r.ns = 2_343_000_000   // 8386873 ticks: bit 23 not reached yet
	assert.Equal(t, uint32(0), r.bus.In(0x600, 2)&1)
	assert.Equal(t, false, r.sci[len(r.sci)-1])
	r.ns = 2_344_000_000 // 8390453 ticks >= 2^23
	assert.Equal(t, uint32(1), r.bus.In(0x600, 2)&1)
	assert.Equal(t, true, r.sci[len(r.sci)-1], "SCI with TMR_STS and TMR_EN")
	assert.Equal(t, uint32(1), r.bus.In(0x602, 2), "PM1_EN reads back")
	r.bus.Out(0x600, 2, 0) // writing 0 leaves it
	assert.Equal(t, uint32(1), r.bus.In(0x600, 2)&1)
	r.bus.Out(0x600, 2, 1) // write 1 to clear
	assert.Equal(t, uint32(0), r.bus.In(0x600, 2)&1)
	assert.Equal(t, false, r.sci[len(r.sci)-1])
	r.ns = 4_686_000_000 // 16773747 ticks, just below 2^24
	assert.Equal(t, uint32(0), r.bus.In(0x600, 2)&1)
	r.ns = 4_688_000_000 // past 2^24: bit 23 changed again
	assert.Equal(t, uint32(1), r.bus.In(0x600, 4)&1, "dword read of PM1_STS+PM1_EN")
	assert.Equal(t, uint32(1), r.bus.In(0x600, 4)>>16, "PM1_EN in the high half")
}

func TestACPIPMControl(t *testing.T) {
	r := newPMRig(t)
	assert.Equal(t, uint32(1), r.bus.In(0x604, 2), "SCI_EN: always in ACPI mode")
	r.bus.Out(0x604, 2, 3<<10) // SLP_TYP without SLP_EN: stored, nothing happens
	assert.Equal(t, uint32(3<<10|1), r.bus.In(0x604, 2))
	assert.Empty(t, r.exits)

	for _, tc := range []struct {
		name string
		val  uint32
		kind ExitKind
	}{
		// QEMU hw/acpi/core.c acpi_pm1_cnt_write: 0 soft-off, 1 suspend,
		// 2 (PIIX4's s4_val) power-off; kvm-unit-tests' s3 writes 0x2400.
		{"S5", 0x2000, ExitShutdown},
		{"S3 (kvm-unit-tests s3)", 0x2400, ExitSuspend},
		{"S4", 0x2800, ExitShutdown},
		{"type 5 ignored", 0x3400, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newPMRig(t)
			r.bus.Out(0x604, 2, tc.val)
			if tc.kind == 0 {
				assert.Empty(t, r.exits)
				return
			}
			require.Len(t, r.exits, 1)
			assert.Equal(t, tc.kind, r.exits[0].Kind)
			assert.Contains(t, r.exits[0].Reason, "SLP_TYP")
			assert.Zero(t, r.bus.In(0x604, 2)&(1<<13), "SLP_EN is write-only")
		})
	}
	// A byte write of the high half alone carries SLP_EN too.
	r = newPMRig(t)
	r.bus.Out(0x605, 1, 0x24)
	require.Len(t, r.exits, 1)
	assert.Equal(t, ExitSuspend, r.exits[0].Kind)
}

// TestACPIPMWake: PM1_EN.RTC_EN (bit 10) enables the RTC wake event; after
// a resume PM1_STS has WAK_STS (bit 15) and RTC_STS (bit 10), each cleared
// by writing 1 (ACPI 6.5 Tables 4.13, 4.14).
func TestACPIPMWake(t *testing.T) {
	r := newPMRig(t)
	assert.False(t, r.pm.RTCWakeEnabled())
	r.bus.Out(0x602, 2, 0x400)
	assert.True(t, r.pm.RTCWakeEnabled())
	r.pm.Woke(true)
	assert.Equal(t, uint32(0x8400), r.bus.In(0x600, 2)&0x8400)
	r.bus.Out(0x600, 2, 0x8000)
	assert.Equal(t, uint32(0x0400), r.bus.In(0x600, 2)&0x8400)
	r.pm.Woke(false)
	assert.Equal(t, uint32(0x8400), r.bus.In(0x600, 2)&0x8400)
}

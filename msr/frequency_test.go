package msr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBrandMHz(t *testing.T) {
	for brand, want := range map[string]uint64{
		"Genuine Intel(R) CPU  @ 2.60GHz":             2600,
		"Intel(R) Core(TM) i7-3770K CPU @ 3.50GHz":    3500,
		"Intel(R) Xeon(R) CPU E5-2699 v3 @ 2.30GHz":   2300,
		"Intel(R) Pentium(R) 4 CPU @ 1.7GHz":          1700,
		"Intel(R) Pentium(R) III CPU family @ 933MHz": 933,
		"Intel(R) Core(TM) CPU @ 2.133GHz":            2133,
		"Intel(R) Xeon(R) w9-3475X":                   0,
		"Intel(R) CPU @ GHz":                          0,
		"Intel(R) CPU @ 2.5.0GHz":                     0,
		"Intel(R) CPU @ 2.6 GHz":                      2600,
		"Intel(R) CPU @ 0.00GHz":                      0,
		"Intel(R) CPU @ 1.5MHz":                       0,
	} {
		got, ok := brandMHz(brand)
		assert.Equal(t, want, got, brand)
		assert.Equal(t, want != 0, ok, brand)
	}
}

// TestNominalMHz: every shipped model has a nominal frequency, and its
// sources agree with each other and with MSR_PLATFORM_INFO's maximum
// non-turbo ratio (bits 15:8, in units of the 100-MHz bus clock on these
// processors: SDM Vol. 4, Table 2-25 and later).
func TestNominalMHz(t *testing.T) {
	want := map[string]uint64{
		"sandybridge-ep": 2600, "ivybridge": 3500, "haswell-ep": 2300, "skylake-sp": 2100,
		"cascadelake-sp": 2500, "icelake-sp": 2400, "sapphirerapids": 2200,
	}
	ms, err := Models()
	require.NoError(t, err)
	require.Len(t, ms, len(want))
	for _, m := range ms {
		name := m.Name
		mhz, src := m.NominalMHz()
		assert.Equal(t, want[name], mhz, "%s (%s)", name, src)
		if b, ok := brandMHz(m.Brand()); ok {
			assert.Equal(t, mhz, b, "%s: brand string %q", name, m.Brand())
		}
		if r, ok := m.Leaf(0x16, 0); ok {
			assert.Equal(t, mhz, uint64(r.EAX), "%s: CPUID.16H:EAX", name)
		}
		pi, ok := m.MSR(0xCE)
		require.True(t, ok, "%s: MSR_PLATFORM_INFO", name)
		assert.Equal(t, mhz, (pi.Value>>8&0xFF)*100, "%s: MSR_PLATFORM_INFO[15:8] x 100 MHz", name)
	}
}

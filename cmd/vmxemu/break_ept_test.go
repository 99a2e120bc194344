package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

// TestBreakOnEPTExits: the EPT exits are breakable by name through
// -break-on vmexit=REASON; the basic exit reasons are those of SDM Vol. 3D
// Appendix C (48 EPT violation, 49 EPT misconfiguration, 50 INVEPT,
// 53 INVVPID), not taken from vmx's table.
func TestBreakOnEPTExits(t *testing.T) {
	for _, tc := range []struct {
		key    string
		reason uint32
	}{
		{"ept-violation", 48},
		{"ept-misconfig", 49},
		{"invept", 50},
		{"invvpid", 53},
	} {
		t.Run(tc.key, func(t *testing.T) {
			b, err := parseBreakOn("vmexit="+tc.key, false)
			require.NoError(t, err)
			require.Equal(t, map[uint32]bool{tc.reason: true}, b.exits)
			require.True(t, b.active())
		})
	}
}

package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// Names and numbers from SDM Vol. 3D Appendix C, Table C-1.
func TestExitReasonNames(t *testing.T) {
	for _, tc := range []struct {
		reason uint32
		name   string
	}{
		{0, "Exception or non-maskable interrupt (NMI)"},
		{10, "CPUID"},
		{18, "VMCALL"},
		{28, "Control-register accesses"},
		{30, "I/O instruction"},
		{1<<31 | 33, "VM-entry failure due to invalid guest state"},
		{34, "VM-entry failure due to MSR loading"},
		{48, "EPT violation"},
		{49, "EPT misconfiguration"},
		{52, "VMX-preemption timer expired"},
		{35, "exit reason 35"}, // not used
		{38, "exit reason 38"},
	} {
		assert.Equal(t, tc.name, ExitReasonName(tc.reason), "%d", tc.reason)
	}
	for _, tc := range []struct {
		key    string
		reason uint32
		ok     bool
	}{
		{"cpuid", 10, true}, {"CPUID", 10, true}, {"hlt", 12, true}, {"cr-access", 28, true},
		{"io", 30, true}, {"ept-violation", 48, true}, {"48", 48, true}, {"0x30", 48, true},
		{"bogus", 0, false},
	} {
		r, ok := ExitReasonByKey(tc.key)
		assert.Equal(t, tc.ok, ok, tc.key)
		assert.Equal(t, tc.reason, r, tc.key)
	}
	keys := ExitReasonKeys()
	assert.Equal(t, "exception", keys[0])
	seen := map[string]bool{}
	for _, k := range keys {
		assert.False(t, seen[k], "key %s used twice", k)
		seen[k] = true
	}
}

package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestFaultSummaryWants: without the gdb stub only the first fault of each
// kind is captured (the summary prints nothing else); with it every fault
// is, for monitor explain's last fault.
func TestFaultSummaryWants(t *testing.T) {
	for _, tc := range []struct {
		name     string
		keepLast bool
		seen     []string
		kind     string
		want     bool
	}{
		{"first #PF, no gdb", false, nil, "#PF", true},
		{"second #PF, no gdb", false, []string{"#PF"}, "#PF", false},
		{"#GP after #PF, no gdb", false, []string{"#PF"}, "#GP", true},
		{"second #PF under gdb", true, []string{"#PF"}, "#PF", true},
		{"first #PF under gdb", true, nil, "#PF", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := newFaultSummary(tc.keepLast)
			for _, k := range tc.seen {
				s.record(&faultRecord{Kind: k})
			}
			assert.Equal(t, tc.want, s.wants(tc.kind))
		})
	}
}

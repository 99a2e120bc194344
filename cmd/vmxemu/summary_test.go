package main

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/vmx"
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

// TestVMXHookFailuresOnly: the VMX hook asks for failures only when its
// consumers ignore VMsucceed (the fault summary, -break-on), and for every
// outcome when the event log (-d vmx, -d ept: INVEPT/INVVPID succeed too)
// or the demo's report reads them.
func TestVMXHookFailuresOnly(t *testing.T) {
	for _, tc := range []struct {
		name  string
		d     diag
		wants bool
	}{
		{"summary", diag{summary: newFaultSummary(false)}, true},
		{"summary and break-on", diag{summary: newFaultSummary(false), brk: &breakOn{vmfail: true}}, true},
		{"-d vmx", diag{summary: newFaultSummary(false), events: &eventLog{items: map[string]bool{"vmx": true}}}, false},
		{"-d ept", diag{summary: newFaultSummary(false), events: &eventLog{items: map[string]bool{"ept": true}}}, false},
		{"demo report", diag{summary: newFaultSummary(false), extra: &cpu.Hooks{VMX: func(*cpu.CPU, *vmx.Outcome) {}}}, false},
	} {
		h := tc.d.hooks()
		require.NotNil(t, h, tc.name)
		require.NotNil(t, h.VMX, tc.name)
		assert.Equal(t, tc.wants, h.VMXFailuresOnly, tc.name)
	}
}

// TestFaultSummarySeenVec: a vector whose kind was recorded returns
// early (seenVec) only without keepLast: the first fault of each kind is
// kept, and under the gdb stub every fault becomes the last one.
func TestFaultSummarySeenVec(t *testing.T) {
	c := cpu.New(cpu.Config{Bus: &ramBus{}}, arch.State{})
	pf := func(rule string) *arch.Fault {
		return &arch.Fault{Vector: arch.VecPF, HasError: true, Rule: rule, SDM: "Vol. 3A 4.7"}
	}
	for _, keepLast := range []bool{false, true} {
		s := newFaultSummary(keepLast)
		s.exception(c, arch.VecPF, pf("first"), false)
		s.exception(c, arch.VecPF, pf("second"), false)
		s.exception(c, arch.VecGP, &arch.Fault{Vector: arch.VecGP, HasError: true, Rule: "gp"}, false)
		require.Contains(t, s.first, "#PF")
		assert.Contains(t, s.first["#PF"].Why, "first", "keepLast %v", keepLast)
		require.Contains(t, s.first, "#GP", "keepLast %v", keepLast)
		s.exception(c, arch.VecPF, pf("third"), false)
		require.NotNil(t, s.last)
		if keepLast {
			assert.Contains(t, s.last.Why, "third")
		} else {
			assert.Contains(t, s.last.Why, "gp")
		}
	}
}

// ramBus is one zeroed page of RAM at every frame, no devices.
type ramBus struct{ page [4096]byte }

func (b *ramBus) RAMPage(pfn uint64) *[4096]byte          { return &b.page }
func (b *ramBus) ReadMMIO(pa uint64, size int) uint64     { return ^uint64(0) }
func (b *ramBus) WriteMMIO(pa uint64, size int, v uint64) {}
func (b *ramBus) In(port uint16, size int) uint32         { return ^uint32(0) }
func (b *ramBus) Out(port uint16, size int, v uint32)     {}

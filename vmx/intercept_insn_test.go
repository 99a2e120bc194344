package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestGuestTSC: the TSC that RDTSC, RDTSCP and RDMSR IA32_TSC return in
// VMX non-root operation (SDM Vol. 3C 26.3): unchanged without "use TSC
// offsetting" (whatever "use TSC scaling" says), TSC + offset with it,
// and ((TSC × multiplier) >> 48) + offset with "use TSC scaling" too, the
// product taken to 128 bits and the result to 64. The multiplier is a
// fixed-point number with 48 fraction bits: 1<<48 is 1.0.
func TestGuestTSC(t *testing.T) {
	const off, scale = ProcUseTSCOffsetting, Proc2UseTSCScaling
	for _, tc := range []struct {
		name        string
		proc, proc2 uint32
		offset      uint64
		mult        uint64
		tsc, want   uint64
	}{
		{"no offsetting: scaling ignored", 0, scale, 0, 3 << 47, 1000, 1000},
		{"offset", off, 0, 0x1000, 0, 1000, 0x1000 + 1000},
		{"negative offset (two's complement)", off, 0, ^uint64(99), 0, 1000, 900},
		{"multiplier 1.0", off, scale, 5, 1 << 48, 0x1234_5678_9ABC, 0x1234_5678_9AC1},
		{"multiplier 1.5", off, scale, 0, 3 << 47, 1000, 1500},
		{"multiplier 0.5, rounded down", off, scale, 0, 1 << 47, 1001, 500},
		{"multiplier 0: the offset alone", off, scale, 42, 0, 1 << 40, 42},
		// 2^64 - 1 times 1.0 needs the 128-bit product.
		{"multiplier 1.0 at the top of the counter", off, scale, 0, 1 << 48, ^uint64(0), ^uint64(0)},
		// 2^63 × 2.0 = 2^64: the 64-bit result wraps to 0, plus the offset.
		{"result beyond 64 bits", off, scale, 7, 1 << 49, 1 << 63, 7},
		// 2^40 × 256.0 = 2^48.
		{"multiplier 256.0", off, scale, 0, 1 << 56, 1 << 40, 1 << 48},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := InsnIntercepts{Proc: tc.proc, Proc2: tc.proc2, TSCOffset: tc.offset, TSCMultiplier: tc.mult}
			assert.Equal(t, tc.want, x.GuestTSC(tc.tsc))
		})
	}
}

// TestPauseLoopExits: the PAUSE-loop rule of SDM Vol. 3C 26.1.3 with
// PLE_Gap 10 and PLE_Window 100. A PAUSE more than PLE_Gap after the
// previous one (or the first after VM entry) begins a loop; a later PAUSE
// exits when more than PLE_Window has passed since the loop began. Both
// comparisons are strict ("exceeds").
func TestPauseLoopExits(t *testing.T) {
	type step struct {
		at   uint64
		exit bool
	}
	for _, tc := range []struct {
		name  string
		steps []step
	}{
		{"the first PAUSE after entry begins a loop", []step{{5000, false}}},
		{"a loop of gap-10 PAUSEs exits past the window",
			[]step{{1000, false}, {1010, false}, {1020, false}, {1030, false}, {1040, false}, {1050, false},
				{1060, false}, {1070, false}, {1080, false}, {1090, false}, {1100, false}, {1101, true}}},
		{"a gap of 11 begins a new loop",
			[]step{{1000, false}, {1005, false}, {1016, false}, {1026, false}, {1036, false}, {1046, false},
				{1056, false}, {1066, false}, {1076, false}, {1086, false}, {1096, false}, {1106, false}, {1116, false}, {1117, true}}},
		{"PAUSEs far apart never exit", []step{{0, false}, {200, false}, {400, false}, {600, false}}},
		// The loop begins at 2^64 - 51; at 4 the counter has wrapped (gap
		// 10 from 2^64 - 6); 49 is 100 after the start, 50 is 101.
		{"the counter wraps", []step{{^uint64(0) - 50, false}, {^uint64(0) - 41, false}, {^uint64(0) - 32, false},
			{^uint64(0) - 23, false}, {^uint64(0) - 14, false}, {^uint64(0) - 5, false}, {4, false}, {14, false},
			{24, false}, {34, false}, {44, false}, {49, false}, {50, true}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := InsnIntercepts{Proc2: Proc2PAUSELoopExiting, PLEGap: 10, PLEWindow: 100}
			var p PauseLoop
			for i, s := range tc.steps {
				assert.Equal(t, s.exit, x.PauseLoopExits(&p, s.at), "step %d at %d", i, s.at)
			}
		})
	}
}

// TestXSSExits: with "enable XSAVES/XRSTORS" XSAVES and XRSTORS exit when
// EDX:EAX, IA32_XSS and the XSS-exiting bitmap share a set bit (SDM Vol.
// 3C 26.1.3); without the control they never exit (they are #UD, 26.3).
func TestXSSExits(t *testing.T) {
	for _, tc := range []struct {
		name              string
		proc2             uint32
		bitmap, mask, xss uint64
		exits             bool
	}{
		{"all three share bit 8", Proc2EnableXSAVES, 1 << 8, 0x103, 1 << 8, true},
		{"IA32_XSS 0", Proc2EnableXSAVES, ^uint64(0), ^uint64(0), 0, false},
		{"bit not in the mask", Proc2EnableXSAVES, 1 << 8, 3, 1 << 8, false},
		{"bit not in the bitmap", Proc2EnableXSAVES, 1 << 9, 0x103, 1 << 8, false},
		{"control 0", 0, ^uint64(0), ^uint64(0), ^uint64(0), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := InsnIntercepts{Proc2: tc.proc2, XSSBitmap: tc.bitmap}
			assert.Equal(t, tc.exits, x.XSSExits(tc.mask, tc.xss))
		})
	}
}

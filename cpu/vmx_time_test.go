package cpu

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// The latency of VM entry and VM exit (vmx_time.go): 120 ns each, a
// modelling choice (the SDM leaves it to the implementation). Expected
// values below are worked out by hand from those two constants, the TSC
// rule (floor(n × MHz / 1000) ticks n ns after the counter was set:
// docs/CPU-MODELS.md "Time") and the VMX-preemption timer's rule (one
// decrement per change of TSC bit X, X = IA32_VMX_MISC[4:0]: SDM Vol. 3C
// 26.7.4).

func TestVMXLatencyConstants(t *testing.T) {
	// The figures the expected values below were worked out with.
	assert.Equal(t, 120, VMEntryLatency)
	assert.Equal(t, 120, VMExitLatency)
}

// TestVMXTransitionSavedTimer is kvm-unit-tests' "Save preemption value"
// (x86/vmx_tests.c, preemption_timer) at the CPU level: the host starts
// the timer at 10,000,000 with "save VMX-preemption timer value", the
// guest runs six NOPs and exits on VMCALL, and the value saved must be
// below the one written. The VMLAUNCH starts at virtual time 0 with the
// TSC set to start; the timer starts there (27.7.4); the VMLAUNCH (1 ns)
// and the entry's latency (120 ns) end at 121, the six NOPs at 127,
// where the VMCALL exits and the timer is saved (28.3.4): the TSC has
// advanced floor(127 × MHz / 1000) ticks — 330 at 2600 MHz (Sandy
// Bridge EP, X = 5), 266 at 2100 MHz (Skylake-SP, X = 7) — and the timer
// by the number of multiples of 2^X crossed from start to start + that.
// With transitions taking no time only 7 ns would pass (18 and 14
// ticks), too few for bit 7 to change from a start of 0.
func TestVMXTransitionSavedTimer(t *testing.T) {
	const written = 10_000_000
	for _, tc := range []struct {
		name  string
		model string
		mhz   uint64
		start uint64
		saved uint64
	}{
		// 330 ticks from 0: bit 5 changes at 32, 64, ..., 320: 10 times.
		{"sandybridge-ep from a multiple of 32", "sandybridge-ep", 2600, 0, written - 10},
		// From 31 to 361: at 32, ..., 352: 11 times.
		{"sandybridge-ep from 31", "sandybridge-ep", 2600, 31, written - 11},
		// 266 ticks from 0: bit 7 changes at 128 and 256.
		{"skylake-sp from a multiple of 128", "skylake-sp", 2100, 0, written - 2},
		// From 127 to 393: at 128, 256 and 384.
		{"skylake-sp from 127", "skylake-sp", 2100, 127, written - 3},
		// From 128 to 394: at 256 and 384.
		{"skylake-sp from 128", "skylake-sp", 2100, 128, written - 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmxHarnessModel(t, tc.model)
			c := h.c
			c.tscMHz = tc.mhz
			guestVMCS(t, h)
			for enc, val := range map[uint64]uint64{fPin: snbPinDefault | pinTimer, fExit: snbExitDefault | exitSaveTm, fTimer: written} {
				require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
			copy(h.bus.ram[0x11000:], append(nopBlock(6), 0x0F, 0x01, 0xC1))
			h.bus.ram[0x12000] = 0xF4 // the host's HLT
			var at []uint64
			c.Hooks = &Hooks{VMExit: func(c *CPU, _ uint32, _ vmx.ExitInfo) { at = append(at, c.Clock()) }}
			require.Zero(t, c.Clock())
			c.setTSC(tc.start)
			c.Run(20)
			require.Equal(t, []uint64{127}, at, "one exit, at 1 + 120 + 6 ns")
			assert.Equal(t, uint64(vmx.ExitVMCALL), vmcsField(t, c, fExitReason))
			assert.Equal(t, tc.saved, vmcsField(t, c, fTimer), "timer value saved")
			assert.Less(t, vmcsField(t, c, fTimer), uint64(written), "kvm-unit-tests: Save preemption value")
		})
	}
}

// TestVMXTransitionRDTSC: RDTSC in the host, in the guest and in the host
// again across a VMLAUNCH → VMCALL round trip (no TSC offsetting). The
// host reads at 0 and moves the value away (1 ns); its VMLAUNCH (1 ns)
// and the entry (120 ns) end at 123, where the guest reads; the guest
// moves it (1 ns) and its VMCALL exits at 125 without retiring; the exit
// (120 ns) ends at 245, where the host reads again. So the guest's read
// is 3 + VMEntryLatency ns after the host's and the host's second read
// 2 + VMExitLatency ns after the guest's; in ticks, floor(n × MHz /
// 1000) of those times.
func TestVMXTransitionRDTSC(t *testing.T) {
	for _, tc := range []struct {
		mhz                 uint64
		host1, guest, host2 uint64
	}{
		{1000, 0, 123, 245},
		// 123 × 2.1 = 258.3, 245 × 2.1 = 514.5.
		{2100, 0, 258, 514},
		// 123 × 2.6 = 319.8, 245 × 2.6 = 637.
		{2600, 0, 319, 637},
	} {
		h := vmxHarness(t)
		c := h.c
		c.tscMHz = tc.mhz
		guestVMCS(t, h)
		copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x31, 0x89, 0xC5, 0x0F, 0x01, 0xC2}) // rdtsc; mov ebp, eax; vmlaunch
		copy(h.bus.ram[0x11000:], []byte{0x0F, 0x31, 0x89, 0xC6, 0x0F, 0x01, 0xC1})     // rdtsc; mov esi, eax; vmcall
		copy(h.bus.ram[0x12000:], []byte{0x0F, 0x31, 0xF4})                             // rdtsc; hlt
		exits := exitRecorder(c)
		require.Zero(t, c.Clock())
		c.Run(20)
		require.Equal(t, []uint32{vmx.ExitVMCALL}, *exits)
		assert.Equal(t, []uint64{tc.host1, tc.guest, tc.host2},
			[]uint64{c.GPR[arch.RBP], c.GPR[arch.RSI], c.GPR[arch.RAX]}, "%d MHz: host, guest, host", tc.mhz)
		assert.Equal(t, uint64(247), c.Clock(), "after the host's RDTSC and HLT")
	}
}

// TestVMXTransitionRunFor: a run whose budget is virtual time (RunFor, as
// the board's slices) counts the transitions' latency; one whose budget
// is instructions (Run) does not. A budget that ends inside the VM entry
// ends the run at the first instruction boundary after it: the guest's
// first. The guest: NOPs.
func TestVMXTransitionRunFor(t *testing.T) {
	for _, tc := range []struct {
		name    string
		timed   bool
		budget  uint64
		retired uint64 // instructions, VMLAUNCH included
		clock   uint64
	}{
		// The VMLAUNCH and the entry take 121 ns: a budget of 50 ends
		// when the entry completes, before any guest instruction.
		{"RunFor ending inside the entry", true, 50, 1, 121},
		{"RunFor ending at the entry's end", true, 121, 1, 121},
		// 200 ns: 79 guest NOPs after the entry.
		{"RunFor past the entry", true, 200, 80, 200},
		// 50 instructions: the VMLAUNCH and 49 NOPs, 120 ns more.
		{"Run counts instructions", false, 50, 50, 170},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmxHarness(t)
			c := h.c
			guestVMCS(t, h)
			copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
			copy(h.bus.ram[0x11000:], nopBlock(400))
			if tc.timed {
				c.RunFor(tc.budget)
			} else {
				c.Run(tc.budget)
			}
			require.True(t, c.vmx.Guest())
			assert.Equal(t, tc.retired, c.Icount, "instructions retired")
			assert.Equal(t, tc.clock, c.Clock(), "virtual time")
		})
	}
}

// TestVMXTransitionTimerDeadline: a VMX-preemption timer that reaches 0
// inside the VM exit of another exit does not matter (the exit ends the
// guest); one that reaches 0 inside the VM entry exits when the entry
// completes (27.7.4), also in a timed run that ends there. Timer 3 at
// 1000 MHz, X = 5: deadline TSC 96, inside the entry (1 + 120 ns).
func TestVMXTransitionTimerDeadline(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	for enc, val := range map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 3} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	copy(h.bus.ram[0x11000:], nopBlock(10))
	h.bus.ram[0x12000] = 0xF4
	var at []uint64
	c.Hooks = &Hooks{VMExit: func(c *CPU, _ uint32, _ vmx.ExitInfo) { at = append(at, c.Clock()) }}
	c.RunFor(96) // the board's slice, cut at the deadline
	require.True(t, c.vmx.Guest(), "the run ends when the entry completes")
	assert.Equal(t, uint64(121), c.Clock())
	c.RunFor(1)
	require.Equal(t, []uint64{121}, at, "the timer's exit before the first guest instruction")
	assert.Equal(t, uint64(52), vmcsField(t, c, fExitReason))
	assert.Equal(t, uint64(0x11000), vmcsField(t, c, fGuestRIP))
	assert.Equal(t, uint64(241), c.Clock(), "the exit's latency")
}

// TestVMXElapseFar: vmxElapse skips the walk of the block (now) when the
// run's end lies more than the latency plus a block's length past Icount.
// The reference is the rule of vmx_time.go written out over now(): the
// end moves ns earlier when it lies more than ns after the executing
// instruction's count, else to that count (or stays, when earlier). Each
// case is a block of 1-64 instructions of random lengths with the
// executing one anywhere in it, and an end around the boundaries of the
// shortcut (Icount + ns + maxBlockInsts) and of the rule (now + ns).
func TestVMXElapseFar(t *testing.T) {
	h := newHarness(mode64)
	c := h.c
	rng := rand.New(rand.NewPCG(10, 18))
	var far, near int
	for i := 0; i < 20000; i++ {
		n := 1 + rng.IntN(maxBlockInsts)
		b := &block{off: uint16(rng.IntN(64)), insts: make([]Inst, n)}
		pos := uint64(b.off)
		cur := rng.IntN(n)
		for j := range b.insts {
			b.insts[j].len = uint8(1 + rng.IntN(15))
			if j == cur {
				c.ripCur = pos - c.segv[arch.CS].base
			}
			pos += uint64(b.insts[j].len)
		}
		c.blk = b
		c.runTimed = true
		c.vev.savedEnd = 0
		c.Icount = rng.Uint64N(1 << 40)
		ns := uint64(VMEntryLatency)
		if rng.IntN(2) == 0 {
			ns = 1 + rng.Uint64N(300)
		}
		now := c.Icount + uint64(cur)
		require.Equal(t, now, c.now(), "the block's position")
		var end uint64
		switch rng.IntN(4) {
		case 0: // around the shortcut's bound
			end = c.Icount + ns + maxBlockInsts - 2 + rng.Uint64N(5)
		case 1: // around now + ns
			end = now + ns - 2 + rng.Uint64N(5)
		case 2: // anywhere in reach, before Icount too
			end = c.Icount - 10 + rng.Uint64N(ns+2*maxBlockInsts+20)
		default: // far
			end = c.Icount + rng.Uint64N(1<<30)
		}
		c.runEnd = end
		want := end
		if end > now && end-now > ns {
			want = end - ns
		} else {
			want = min(end, now)
		}
		c.vmxElapse(ns)
		require.Equal(t, want, c.runEnd, "case %d: Icount %d, now %d, end %d, ns %d", i, c.Icount, now, end, ns)
		if end > c.Icount && end-c.Icount > ns+maxBlockInsts {
			far++
		} else {
			near++
		}
	}
	c.blk = nil
	assert.Greater(t, far, 1000, "cases the shortcut takes")
	assert.Greater(t, near, 1000, "cases that read now()")
}

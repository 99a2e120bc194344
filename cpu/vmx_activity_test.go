package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/vmx"
)

// The shutdown and wait-for-SIPI activity states a VM entry can put the
// guest in (SDM Vol. 3C 25.4.2, 27.7.2): which events leave them and what
// the VM exit saves (28.3.4: the activity state before the exit; 28.2.1:
// the SIPI vector as the qualification of exit reason 4). The guest is
// guestVMCS's, its IDT guestIDT's (handlers at 13000H: jmp $).

// activityLaunch launches the guest with fields and returns the CPU
// after VMLAUNCH (in the guest, in its activity state).
func activityLaunch(t *testing.T, fields map[uint64]uint64) (*CPU, *[]uint32) {
	t.Helper()
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	guestIDT(h.bus.ram)
	all := map[uint64]uint64{fGuestIDTR: 0x6000, fGuestIDTL: 0x1FF, 0x6816: 0x7000, 0x4810: 0x17}
	for enc, val := range fields {
		all[enc] = val
	}
	for enc, val := range all {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2})
	copy(h.bus.ram[0x11000:], []byte{0x0F, 0xA2}) // cpuid: exits if the guest ever runs
	copy(h.bus.ram[0x13000:], []byte{0xEB, 0xFE})
	copy(h.bus.ram[0x12000:], []byte{0xF4})
	exits := exitRecorder(c)
	c.Run(1)
	require.True(t, c.vmx.Guest())
	return c, exits
}

func TestVMXShutdownActivity(t *testing.T) {
	// An NMI with "NMI exiting" exits (reason 0, NMI, vector 2) and the
	// exit saves activity state 2.
	t.Run("NMI exiting wakes it", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fPin: snbPinDefault | pinNMI, fActivity: 2})
		assert.Equal(t, StopHalt, c.Run(10), "shut down: nothing runs")
		require.Empty(t, *exits)
		c.RaiseNMI()
		c.Run(10)
		require.Equal(t, []uint32{0}, *exits)
		assert.Equal(t, uint64(0x80000202), vmcsField(t, c, fExitInfo))
		assert.Equal(t, uint64(2), vmcsField(t, c, fActivity), "shutdown saved")
		assert.Equal(t, uint64(0x11000), vmcsField(t, c, fGuestRIP))
	})
	// An external interrupt, pending all along with "external-interrupt
	// exiting", is not taken in the shutdown state; the VMX-preemption
	// timer's exit wakes it (timer 5: deadline TSC 5 << 5 = 160, after the
	// VMLAUNCH and the entry's latency end at 1 + 120: vmx_time.go).
	t.Run("external interrupt held, timer wakes it", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fPin: snbPinDefault | pinExtInt | pinTimer, fTimer: 5, fActivity: 2})
		in := &testIntr{c: c, vec: 0x30}
		c.SetInterruptSource(in)
		c.KickInterrupt()
		assert.Equal(t, StopHalt, c.Run(10))
		require.Empty(t, *exits)
		assert.False(t, c.InterruptWakes(), "no interrupt wakes a shut-down guest")
		d, ok := c.VMXDeadline()
		require.True(t, ok)
		assert.Equal(t, uint64(5<<snbMiscShift), d)
		c.Idle(d - c.Clock())
		c.Run(10)
		require.Equal(t, []uint32{52}, *exits)
		assert.Zero(t, in.acks, "the interrupt was never taken")
		assert.Equal(t, uint64(2), vmcsField(t, c, fActivity), "shutdown saved")
	})
	// Without "NMI exiting" the NMI is delivered through the guest's IDT
	// and the processor is active again: its handler runs (jmp $ at
	// 13000H) until the timer's exit, which saves activity state 0.
	t.Run("NMI delivered leaves it", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 5, fActivity: 2})
		c.RaiseNMI()
		c.Run(200)
		require.Equal(t, []uint32{52}, *exits)
		assert.Equal(t, uint64(0), vmcsField(t, c, fActivity), "active")
		assert.Equal(t, uint64(0x13000), vmcsField(t, c, fGuestRIP), "in the NMI handler")
	})
	// INIT is a VM exit (reason 3) from the shutdown state too.
	t.Run("INIT exits", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fActivity: 2})
		c.RaiseINIT()
		c.Run(10)
		require.Equal(t, []uint32{3}, *exits)
		assert.Equal(t, uint64(2), vmcsField(t, c, fActivity))
	})
}

func TestVMXWaitForSIPIActivity(t *testing.T) {
	// A SIPI is a VM exit, reason 4, with the vector in bits 7:0 of the
	// exit qualification; the exit saves activity state 3. NMIs and the
	// timer do nothing there (26.5.1: the timer causes no exit in
	// wait-for-SIPI).
	t.Run("SIPI exits with its vector", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fPin: snbPinDefault | pinNMI | pinTimer, fTimer: 1, fActivity: 3})
		assert.True(t, c.WaitingForSIPI())
		_, ok := c.VMXDeadline()
		assert.False(t, ok, "no timer exit to wake for")
		c.RaiseNMI()
		c.Idle(1000)
		c.Run(10)
		require.Empty(t, *exits, "neither the NMI nor the timer")
		c.RaiseSIPI(0x9A)
		c.Run(10)
		require.Equal(t, []uint32{4}, *exits)
		assert.Equal(t, uint64(0x9A), vmcsField(t, c, 0x6400), "SIPI vector")
		assert.Equal(t, uint64(3), vmcsField(t, c, fActivity), "wait-for-SIPI saved")
		assert.Equal(t, uint64(0x11000), vmcsField(t, c, fGuestRIP), "RIP untouched")
		assert.False(t, c.WaitingForSIPI(), "the host runs")
	})
	t.Run("INIT exits", func(t *testing.T) {
		c, exits := activityLaunch(t, map[uint64]uint64{fActivity: 3})
		c.RaiseINIT()
		c.Run(10)
		require.Equal(t, []uint32{3}, *exits)
		assert.Equal(t, uint64(3), vmcsField(t, c, fActivity))
	})
	// A SIPI to an active guest is ignored (it is not waiting).
	t.Run("SIPI to an active guest", func(t *testing.T) {
		c, exits := activityLaunch(t, nil)
		c.RaiseSIPI(0x9A)
		c.Run(10)
		require.Equal(t, []uint32{10}, *exits, "the guest's CPUID")
	})
}

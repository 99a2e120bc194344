package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// monitorPlatform is harnessPlatform reporting CPUID.01H:ECX.MONITOR
// (bit 3) and, with ibe, CPUID.05H:ECX bits 0 and 1 (MWAIT extensions,
// interrupts as break events), as the models' leaf 5 does.
type monitorPlatform struct {
	harnessPlatform
	ibe bool
}

func (p monitorPlatform) CPUID(c *CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	switch leaf {
	case 1:
		return 0, 0, 1 << 3, 0
	case 5:
		if p.ibe {
			return 64, 64, 3, 0
		}
		return 64, 64, 0, 0
	}
	return 0, 0, 0, 0
}

// TestMonitorMwait: MONITOR (0F 01 C8) and MWAIT (0F 01 C9) at CPL 0 in
// 32-bit protected mode (SDM Vol. 2B MONITOR, MWAIT): #UD without
// CPUID.01H:ECX.MONITOR; #GP(0) for ECX != 0 (MONITOR), ECX[31:1] != 0 or
// ECX[0] = 1 without CPUID.05H:ECX[1] (MWAIT); MWAIT without an armed
// monitor goes on; after MONITOR it waits (halted) until the next run,
// which resumes after it, the monitor disarmed.
func TestMonitorMwait(t *testing.T) {
	monitor, mwait := []byte{0x0F, 0x01, 0xC8}, []byte{0x0F, 0x01, 0xC9}
	cat := func(parts ...[]byte) []byte {
		var b []byte
		for _, p := range parts {
			b = append(b, p...)
		}
		return b
	}
	movECX := func(v byte) []byte { return []byte{0xB9, v, 0, 0, 0} } // mov ecx, imm32
	nop := []byte{0x90}
	for _, tc := range []struct {
		name   string
		noCPU  bool // the platform does not report MONITOR
		ibe    bool
		code   []byte
		n      uint64
		fault  int
		halted bool
		rip    uint64 // after the run
	}{
		{name: "MONITOR without CPUID.01H:ECX.MONITOR", noCPU: true, code: monitor, n: 1, fault: arch.VecUD, rip: harnessCode},
		{name: "MWAIT without CPUID.01H:ECX.MONITOR", noCPU: true, code: mwait, n: 1, fault: arch.VecUD, rip: harnessCode},
		{name: "MONITOR with ECX = 1", code: cat(movECX(1), monitor), n: 2, fault: arch.VecGP, rip: harnessCode + 5},
		{name: "MWAIT with ECX = 2", code: cat(movECX(2), mwait), n: 2, fault: arch.VecGP, rip: harnessCode + 5},
		{name: "MWAIT with ECX[0] and no break-event extension", code: cat(movECX(1), mwait), n: 2, fault: arch.VecGP, rip: harnessCode + 5},
		{name: "MWAIT with ECX[0] and the extension, no monitor", ibe: true, code: cat(movECX(1), mwait, nop), n: 3, fault: -1, rip: harnessCode + 9},
		{name: "MWAIT without an armed monitor goes on", code: cat(mwait, nop), n: 2, fault: -1, rip: harnessCode + 4},
		{name: "MONITOR then MWAIT waits", code: cat(monitor, mwait, nop), n: 3, fault: -1, halted: true, rip: harnessCode + 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(mode32)
			if !tc.noCPU {
				h.c.platform = monitorPlatform{ibe: tc.ibe}
			}
			gpr := [16]uint64{}
			gpr[arch.RAX] = harnessData
			s, fault := h.stepN(tc.code, gpr, 0, tc.n)
			assert.Equal(t, tc.fault, fault, "exception vector")
			assert.Equal(t, tc.halted, h.c.Halted(), "waiting in MWAIT")
			assert.Equal(t, tc.rip, s.RIP, "RIP")
			if tc.halted {
				assert.False(t, h.c.mon.armed, "MWAIT disarms the monitor")
				h.c.Run(1) // the next run: the wait ends, the NOP runs
				assert.False(t, h.c.Halted())
				assert.Equal(t, tc.rip+1, h.c.RIP, "resumed after MWAIT")
			}
		})
	}
	// MONITOR arms the 64-byte line holding DS:EAX.
	h := newHarness(mode32)
	h.c.platform = monitorPlatform{}
	gpr := [16]uint64{}
	gpr[arch.RAX] = harnessData + 0x47
	_, fault := h.stepN(monitor, gpr, 0, 1)
	require.Equal(t, -1, fault)
	assert.Equal(t, monitorState{armed: true, line: harnessData + 0x40}, h.c.mon)
}

// TestMonitorMwaitExits: "MONITOR exiting" (primary control 29) and
// "MWAIT exiting" (10) make the instructions exit with reasons 39 and 36
// and their length (SDM Vol. 3C 26.1.3, Appendix C; 28.2.4); MWAIT's
// qualification has bit 0 set when the monitor was armed (28.2.1). The VM
// exit clears the monitor.
func TestMonitorMwaitExits(t *testing.T) {
	monitor, mwait := []byte{0x0F, 0x01, 0xC8}, []byte{0x0F, 0x01, 0xC9}
	for _, tc := range []struct {
		name   string
		proc   uint64
		code   []byte
		reason uint32
		qual   uint64
		rip    uint64
	}{
		{"MONITOR exiting", vmx.ProcMONITORExiting, monitor, 39, 0, 0x11000},
		{"MWAIT exiting, monitor not armed", vmx.ProcMWAITExiting, mwait, 36, 0, 0x11000},
		{"MWAIT exiting, monitor armed", vmx.ProcMWAITExiting, append(append([]byte{}, monitor...), mwait...), 36, 1, 0x11003},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runGuestToExit(t, insnExitCase{
				fields: map[uint64]uint64{encTestProc: testProcDefault | tc.proc},
				gpr:    map[int]uint64{arch.RAX: 0x15000},
				code:   tc.code,
			}, func(c *CPU) { c.platform = monitorPlatform{} })
			assert.Equal(t, uint64(tc.reason), vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, uint64(3), vmcsField(t, c, 0x440C), "instruction length")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP: the instruction's")
			assert.False(t, c.mon.armed, "VM exit clears the monitor")
		})
	}
}

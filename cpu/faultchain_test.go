package cpu_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// TestFaultChainUsesBudget: a #UD handler whose first instruction is the
// UD2 that raised it faults again at every delivery, and nothing ends the
// chain in real mode (the 16-bit stack wraps, SDM Vol. 3A 20.1.4) nor for
// a long while in protected and long mode (the stack only grows down).
// No instruction retires; each delivery is an event without an
// instruction and uses one unit of Run's budget, so Run(n) returns after
// n deliveries (found by FuzzExecute: testdata/fuzz/FuzzExecute/
// d537c28c51515b95, where the IVT was overwritten by REP STOSW). The
// frames pushed are the SDM's: real mode FLAGS, CS, IP (6 bytes, 20.1.4);
// 32-bit protected mode at the same privilege EFLAGS, CS, EIP with no
// error code for #UD (12 bytes, 6.12.1, Figure 6-4); 64-bit mode SS, RSP,
// RFLAGS, CS, RIP (40 bytes) after aligning RSP down to 16 (6.14.2).
func TestFaultChainUsesBudget(t *testing.T) {
	const n = 50
	ud2 := []byte{0x0F, 0x0B}
	for _, tc := range []struct {
		mode sysMode
		// spAfter is the stack pointer after n deliveries from sp0.
		spAfter func(sp0 uint64) uint64
	}{
		{modeReal, func(sp0 uint64) uint64 { return sp0 - 6*n }},
		{modeProt32, func(sp0 uint64) uint64 { return sp0 - 12*n }},
		{modeLong64, func(sp0 uint64) uint64 {
			// sp0 is 16-byte aligned: the first frame takes 40 bytes,
			// every later one 8 of alignment and 40.
			return sp0 - 40 - 48*(n-1)
		}},
	} {
		t.Run(tc.mode.String(), func(t *testing.T) {
			m := newMachine(t, tc.mode, 0)
			m.load(physCode, ud2)
			switch tc.mode {
			case modeReal:
				m.w32(physIVT+uint64(arch.VecUD)*4, uint32(physCode>>4)<<16) // 2000:0000
			case modeProt32:
				m.setGate32(arch.VecUD, gate32(selCode32, physCode, 0xE, 0))
			case modeLong64:
				lo, hi := gate64(selCode64, physCode, 0xE, 0, 0)
				m.setGate64(arch.VecUD, lo, hi)
			}
			sp0 := m.c.GetState().GPR[arch.RSP]
			if tc.mode == modeLong64 {
				require.Zero(t, sp0&0xF, "the harness stack starts 16-byte aligned")
			}
			done := make(chan cpu.StopReason, 1)
			go func() { done <- m.c.Run(n) }()
			select {
			case r := <-done:
				assert.Equal(t, cpu.StopBudget, r)
			case <-time.After(10 * time.Second):
				t.Fatalf("Run(%d) did not return: the fault chain used no budget", n)
			}
			s := m.c.GetState()
			assert.Zero(t, m.c.Icount, "no instruction retired")
			assert.Equal(t, uint64(physCode)&0xFFFF, s.RIP&0xFFFF, "at the UD2 again")
			assert.Equal(t, tc.spAfter(sp0), s.GPR[arch.RSP], "one frame per delivery")
			assert.False(t, m.c.IsShutdown())
		})
	}
}

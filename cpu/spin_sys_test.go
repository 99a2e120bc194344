package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestSpinInterrupt: a maskable interrupt that becomes pending while a
// one-entry fused self-loop (dec ecx; jnz) spins is taken at the first
// pass boundary at which it is pending, as between any two blocks: the
// run loop looks at a waiting event after every pass (run.go spin), not
// at the end of the run. The source's interrupt is pending from
// instruction count after = 1 + 2k, the boundary after the MOV and k
// passes, so the interrupt frame holds the loop's start and ECX is
// 1000 − k (SDM Vol. 3A 6.8.1: taken at an instruction boundary). With
// IF=0 the loop runs to its end.
func TestSpinInterrupt(t *testing.T) {
	src := "mov ecx, 1000\nloop1: dec ecx\njnz loop1\nhlt"
	for _, mode := range []sysMode{modeProt32, modeLong64} {
		bits, size := 32, 4
		if mode == modeLong64 {
			bits, size = 64, 8
		}
		for _, k := range []uint64{1, 5, 333} {
			t.Run(fmt.Sprintf("%v/k=%d", mode, k), func(t *testing.T) {
				m := newMachine(t, mode, 0)
				m.program(t, src)
				s := m.state()
				s.RFLAGS |= arch.FlagIF
				m.set(s)
				m.c.SetInterruptSource(&intrSource{m: m, after: 1 + 2*k, vec: 0x30})
				m.expectVector(t, 0x30)
				require.Equal(t, labelAddr(t, bits, physCode, src, "loop1"), m.stack(0, size), "interrupted at the loop's start")
				require.Equal(t, 1000-k, m.state().GPR[arch.RCX]&0xFFFFFFFF)
			})
		}
		t.Run(fmt.Sprintf("%v/IF=0", mode), func(t *testing.T) {
			m := newMachine(t, mode, 0)
			m.program(t, src)
			m.c.SetInterruptSource(&intrSource{m: m, after: 3, vec: 0x30})
			m.expectDone(t)
			require.Equal(t, uint64(0), m.state().GPR[arch.RCX]&0xFFFFFFFF)
		})
	}
}

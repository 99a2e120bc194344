package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestGeneralDetect: with DR7.GD=1 a MOV DR is a #DB fault with DR6.BD=1
// (SDM Vol. 3B 18.3.1.3), and delivery clears DR7.GD (18.2.4).
func TestGeneralDetect(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, "mov eax, 0x2400\nmov dr7, rax\nhere: mov rax, dr0\nhlt")
	m.expectVector(t, arch.VecDB)
	s := m.state()
	require.Equal(t, uint64(arch.DR6BD|0xFFFF0FF0), s.DR[6])
	require.Zero(t, s.DR[7]&(1<<13), "GD cleared at delivery")
}

// TestCanonicalMaxWidth: with CPUID.LA57 reported, WRMSR of a base MSR
// accepts a 57-bit canonical value while CR4.LA57=0; without it the
// value is non-canonical (#GP).
func TestCanonicalMaxWidth(t *testing.T) {
	src := "mov ecx, 0xC0000100\nxor eax, eax\nmov edx, 0xFFAAAAAA\nwrmsr\nhlt"
	for _, la57 := range []bool{false, true} {
		m := newMachine(t, modeLong64, 0)
		if la57 {
			m.withFeatures(0, 0, cpuidLA57, defaultEDX81)
		}
		m.program(t, src)
		if la57 {
			m.expectDone(t)
			require.Equal(t, uint64(0xFFAAAAAA_00000000), m.state().Seg[arch.FS].Base)
		} else {
			m.expectVector(t, arch.VecGP)
		}
	}
}

package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestFNOP: FNOP (D9 D0) does nothing but the x87 availability checks:
// #NM with CR0.EM = 1 or CR0.TS = 1 (SDM Vol. 2A FNOP, "Protected Mode
// Exceptions"). kvm-unit-tests' vmx guest_state_test_main ends with one.
func TestFNOP(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, "mov eax, 7\nfnop\nhlt")
	m.expectDone(t)
	require.Equal(t, uint64(7), m.state().GPR[arch.RAX])

	for _, bit := range []uint64{arch.CR0EM, arch.CR0TS} {
		m := newMachine(t, modeLong64, 0)
		s := m.state()
		s.CR0 |= bit
		m.set(s)
		m.program(t, "fnop\nhlt")
		m.expectVector(t, arch.VecNM)
	}
}

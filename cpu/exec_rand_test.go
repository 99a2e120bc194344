package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestRDRANDRDSEED: with their CPUID bits RDRAND and RDSEED write a
// number to the destination with CF = 1 and OF, SF, ZF, AF, PF cleared
// (SDM Vol. 2B RDRAND, RDSEED "Flags Affected"); a 16-bit destination
// keeps bits 63:16, a 32-bit one zero-extends (Vol. 1 3.4.1.1). The
// sequence is the same on every run (vmxemu is deterministic) and moves
// on from one instruction to the next. Without the CPUID bit: #UD.
func TestRDRANDRDSEED(t *testing.T) {
	run := func(code []byte, feat bool, n uint64) (arch.State, int) {
		h := newHarness(mode32)
		h.c.feat.rdrand, h.c.feat.rdseed = feat, feat
		var gpr [16]uint64
		gpr[arch.RCX] = 0xFFFF_FFFF_FFFF_FFFF
		return h.stepN(code, gpr, arch.FlagsArith, n)
	}
	for _, tc := range []struct {
		name string
		code []byte
		reg  int
		mask uint64 // bits the instruction writes
		keep uint64 // bits that keep their value
	}{
		{"RDRAND EAX", []byte{0x0F, 0xC7, 0xF0}, arch.RAX, 0xFFFFFFFF, 0},
		{"RDRAND CX", []byte{0x66, 0x0F, 0xC7, 0xF1}, arch.RCX, 0xFFFF, 0xFFFF_FFFF_FFFF_0000},
		{"RDSEED ECX", []byte{0x0F, 0xC7, 0xF9}, arch.RCX, 0xFFFFFFFF, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, fault := run(tc.code, true, 1)
			require.Equal(t, -1, fault)
			assert.Equal(t, uint64(arch.FlagCF), s.RFLAGS&arch.FlagsArith, "CF = 1, OF SF ZF AF PF = 0")
			assert.Equal(t, tc.keep, s.GPR[tc.reg]&^tc.mask, "bits beyond the operand size")
			s2, _ := run(tc.code, true, 1)
			assert.Equal(t, s.GPR[tc.reg], s2.GPR[tc.reg], "deterministic: the same number on a fresh CPU")
			_, fault = run(tc.code, false, 1)
			assert.Equal(t, int(arch.VecUD), fault, "#UD without the CPUID bit")
		})
	}
	// Two RDRANDs in a row give different numbers.
	h := newHarness(mode32)
	h.c.feat.rdrand = true
	s, fault := h.stepN([]byte{0x0F, 0xC7, 0xF0, 0x0F, 0xC7, 0xF3}, [16]uint64{}, 0, 2)
	require.Equal(t, -1, fault)
	assert.NotEqual(t, s.GPR[arch.RAX], s.GPR[arch.RBX])
}

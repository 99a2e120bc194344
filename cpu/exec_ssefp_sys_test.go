package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestSSEFPSystem checks what the host oracle (TestSSEFPAgainstHost)
// cannot: the 16-byte alignment of the packed floating-point memory forms
// (Vol. 1 11.4.1; the scalar forms, CVTPS2PD/CVTDQ2PD m64 and the
// CVTPI2PS/CVTPS2PI m64 forms are unaligned), #XM delivery through the
// IDT with CR4.OSXMMEXCPT=1 and #UD with 0 (Vol. 3A 6.15 Interrupt 19),
// and the x87 effects of the MMX-register conversions (Vol. 2A CVTPI2PS:
// with an MMX register a pending x87 exception is #MF and the FPU enters
// MMX operation; with a memory source neither).
func TestSSEFPSystem(t *testing.T) {
	for _, tc := range []struct {
		insn string
		vec  int
	}{
		{"addps xmm0, [0x80008]", arch.VecGP},
		{"cmpps xmm0, [0x80008], 1", arch.VecGP},
		{"cvtpd2ps xmm0, [0x80008]", arch.VecGP},
		{"cvtdq2ps xmm0, [0x80004]", arch.VecGP},
		{"cvtpd2pi mm0, [0x80008]", arch.VecGP},
		{"sqrtpd xmm0, [0x80010]", -1},
		{"addss xmm0, [0x80001]", -1},
		{"mulsd xmm0, [0x80003]", -1},
		{"comiss xmm0, [0x80001]", -1},
		{"cvtps2pd xmm0, [0x80004]", -1},
		{"cvtdq2pd xmm0, [0x80004]", -1},
		{"cvtpi2ps xmm0, [0x80004]", -1},
		{"cvtps2pi mm0, [0x80004]", -1},
		{"cvtsd2si eax, [0x80002]", -1},
	} {
		t.Run(tc.insn, func(t *testing.T) {
			m := simdMachine(t, 0, 0)
			m.program(t, tc.insn+"\nhlt")
			if tc.vec < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, tc.vec)
		})
	}

	divByZero := `
		mov dword [0x81000], 0x1D80 ; ZM clear
		ldmxcsr [0x81000]
		mov eax, 0x3F800000
		movd xmm0, eax
		xorps xmm1, xmm1
		divss xmm0, xmm1
		hlt`
	t.Run("#XM", func(t *testing.T) {
		m := simdMachine(t, 0, 0)
		s := m.state()
		s.CR4 |= arch.CR4OSXMMEXCPT
		m.set(s)
		m.program(t, divByZero)
		m.expectVector(t, arch.VecXM)
	})
	t.Run("#UD without OSXMMEXCPT", func(t *testing.T) {
		m := simdMachine(t, 0, 0)
		m.program(t, divByZero)
		m.expectVector(t, arch.VecUD)
	})
	t.Run("masked: no exception, flag set", func(t *testing.T) {
		m := simdMachine(t, 0, 0)
		m.program(t, `
			mov eax, 0x3F800000
			movd xmm0, eax
			xorps xmm1, xmm1
			divss xmm0, xmm1
			stmxcsr [0x81000]
			movd [0x81004], xmm0
			hlt`)
		m.expectDone(t)
		require.Equal(t, uint32(0x1F84), m.r32(0x81000), "MXCSR: ZE")
		require.Equal(t, uint32(0x7F800000), m.r32(0x81004), "+inf")
	})

	pending := func(t *testing.T, insn string, vec int) {
		m := simdMachine(t, 0, 0)
		m.w16(0x80000, 0x0340) // FCW: IM clear
		m.w16(0x80002, 0x8081) // FSW: B, ES, IE
		m.w32(0x80000+24, 0x1F80)
		m.program(t, "fxrstor [0x80000]\n"+insn+"\nhlt")
		if vec < 0 {
			m.expectDone(t)
			return
		}
		m.expectVector(t, vec)
	}
	t.Run("cvtpi2ps mm pending #MF", func(t *testing.T) { pending(t, "cvtpi2ps xmm0, mm1", arch.VecMF) })
	t.Run("cvtpi2pd mm pending #MF", func(t *testing.T) { pending(t, "cvtpi2pd xmm0, mm1", arch.VecMF) })
	t.Run("cvttps2pi pending #MF", func(t *testing.T) { pending(t, "cvttps2pi mm0, xmm1", arch.VecMF) })
	t.Run("cvtpd2pi pending #MF", func(t *testing.T) { pending(t, "cvtpd2pi mm0, xmm1", arch.VecMF) })
	t.Run("cvtpi2ps m64 ignores x87", func(t *testing.T) { pending(t, "cvtpi2ps xmm0, [0x80100]", -1) })

	t.Run("x87 state", func(t *testing.T) {
		m := simdMachine(t, 0, 0)
		m.program(t, `
			fninit
			cvtpi2ps xmm0, [0x80100]
			fxsave [0x80000]
			cvtpi2ps xmm0, mm1
			fxsave [0x80200]
			hlt`)
		m.expectDone(t)
		require.Equal(t, uint8(0), m.bus.ram[0x80004], "tags after CVTPI2PS xmm, m64: still empty")
		require.Equal(t, uint8(0xFF), m.bus.ram[0x80204], "tags after CVTPI2PS xmm, mm: all valid")
	})
}

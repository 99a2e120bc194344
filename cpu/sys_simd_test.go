package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// simdMachine is a 64-bit machine with CR4.OSFXSR set (and CR0.NE, so
// x87 errors are reported as #MF), plus the given CR0/CR4 changes.
func simdMachine(t *testing.T, cr0Set, cr4Clear uint64) *machine {
	m := newMachine(t, modeLong64, 0)
	s := m.state()
	s.CR0 |= arch.CR0NE | cr0Set
	s.CR4 = (s.CR4 | arch.CR4OSFXSR) &^ cr4Clear
	m.set(s)
	return m
}

// TestMMXAndSSEAvailability checks the #UD and #NM rules of SDM Vol. 3A 2.5
// Table 2-2 and the instruction pages: MMX → #UD with CR0.EM, #NM with
// CR0.TS; SSE/SSE2 → #UD with CR0.EM or CR4.OSFXSR=0, #NM with CR0.TS;
// EMMS like MMX.
func TestMMXAndSSEAvailability(t *testing.T) {
	for _, tc := range []struct {
		name     string
		insn     string
		cr0      uint64
		cr4Clear uint64
		vec      int
	}{
		{"MMX with EM", "movq mm0, rax", arch.CR0EM, 0, arch.VecUD},
		{"MMX with TS", "paddb mm0, mm1", arch.CR0TS, 0, arch.VecNM},
		{"MMX without OSFXSR runs", "movq mm0, rax", 0, arch.CR4OSFXSR, -1},
		{"EMMS with TS", "emms", arch.CR0TS, 0, arch.VecNM},
		{"SSE with EM", "movdqu xmm0, xmm1", arch.CR0EM, 0, arch.VecUD},
		{"SSE without OSFXSR", "paddb xmm0, xmm1", 0, arch.CR4OSFXSR, arch.VecUD},
		{"SSE with TS", "pshufd xmm0, xmm1, 0x1b", arch.CR0TS, 0, arch.VecNM},
		{"SSE with EM and TS: #UD first", "pxor xmm0, xmm0", arch.CR0EM | arch.CR0TS, 0, arch.VecUD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := simdMachine(t, tc.cr0, tc.cr4Clear)
			m.program(t, tc.insn+"\nhlt")
			if tc.vec < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, tc.vec)
		})
	}
}

// TestSSEAlignment: the legacy SSE forms with a 128-bit memory operand
// need 16-byte alignment (SDM Vol. 1 11.4.1; the #GP(0) line of MOVDQA,
// PADDB, PSHUFD ...), the explicitly unaligned moves and the 64-bit forms
// do not.
func TestSSEAlignment(t *testing.T) {
	for _, tc := range []struct {
		insn string
		vec  int
	}{
		{"movdqa xmm0, [0x80008]", arch.VecGP},
		{"movaps [0x80008], xmm0", arch.VecGP},
		{"movntdq [0x80008], xmm0", arch.VecGP},
		{"paddb xmm0, [0x80008]", arch.VecGP},
		{"pshufd xmm0, [0x80004], 0", arch.VecGP},
		{"punpcklbw xmm0, [0x80008]", arch.VecGP},
		{"movdqa xmm0, [0x80010]", -1},
		{"movdqu xmm0, [0x80008]", -1},
		{"movups [0x80001], xmm0", -1},
		{"movq xmm0, [0x80001]", -1},
		{"movhps xmm0, [0x80003]", -1},
		{"paddb mm0, [0x80001]", -1},
	} {
		t.Run(tc.insn, func(t *testing.T) {
			m := simdMachine(t, 0, 0)
			m.program(t, tc.insn+"\nhlt")
			if tc.vec < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(0), m.stack(0, 8), "error code")
		})
	}
}

// TestMMXx87StateEffects: an MMX instruction sets TOS to 0, marks every
// tag valid and sets bits 79:64 of the register it writes to all ones;
// EMMS marks every tag empty (SDM Vol. 1 9.5.1 Table 9-2; Vol. 2A EMMS).
// Seen through FXSAVE (abridged tag byte 4, FSW TOS bits 13:11, ST0 at
// byte 32).
func TestMMXx87StateEffects(t *testing.T) {
	m := simdMachine(t, 0, 0)
	m.program(t, `
		fninit
		mov rax, 0x1122334455667788
		movq mm0, rax
		fxsave [0x80000]
		emms
		fxsave [0x80200]
		hlt`)
	m.expectDone(t)
	require.Equal(t, uint8(0xFF), m.bus.ram[0x80004], "abridged tag word after MOVQ: all valid")
	require.Equal(t, uint16(0), m.r16(0x80002)>>11&7, "TOS after MOVQ")
	require.Equal(t, uint64(0x1122334455667788), m.r64(0x80000+32), "ST0/MM0 significand")
	require.Equal(t, uint16(0xFFFF), m.r16(0x80000+40), "ST0 bits 79:64 after an MMX write")
	require.Equal(t, uint8(0), m.bus.ram[0x80204], "abridged tag word after EMMS: all empty")
}

// TestMMXPendingX87Exception: an MMX instruction with an unmasked x87
// exception pending (FSW.ES, loaded here by FXRSTOR) raises #MF (SDM Vol.
// 1 9.5.1 / 8.7; the #MF line of the MMX instruction pages).
func TestMMXPendingX87Exception(t *testing.T) {
	m := simdMachine(t, 0, 0)
	m.w16(0x80000, 0x0340) // FCW: IM clear
	m.w16(0x80002, 0x8081) // FSW: B, ES, IE
	m.w32(0x80000+24, 0x1F80)
	m.program(t, "fxrstor [0x80000]\nmovq mm0, mm1\nhlt")
	m.expectVector(t, arch.VecMF)
}

// TestFXSAVELayout checks the legacy region of SDM Vol. 1 10.5.1 Table
// 10-2 (FCW 0, FSW 2, abridged FTW 4, MXCSR 24, MXCSR_MASK 28, XMMn at
// 160+16n), that bytes 464-511 are not written, and FXRSTOR's #GP for
// reserved MXCSR bits (Vol. 2A FXRSTOR) and a misaligned operand.
func TestFXSAVELayout(t *testing.T) {
	m := simdMachine(t, 0, 0)
	for i := uint64(0); i < 512; i += 8 {
		m.w64(0x80000+i, 0xA5A5A5A5A5A5A5A5)
	}
	m.program(t, `
		mov eax, 0x12345678
		movd xmm15, eax
		mov dword [0x81000], 0x1F40
		ldmxcsr [0x81000]
		fxsave [0x80000]
		hlt`)
	m.expectDone(t)
	require.Equal(t, uint16(0x037F), m.r16(0x80000))
	require.Equal(t, uint32(0x1F40), m.r32(0x80000+24))
	require.Equal(t, uint32(0xFFFF), m.r32(0x80000+28))
	require.Equal(t, uint64(0x12345678), m.r64(0x80000+160+16*15))
	for i := uint64(464); i < 512; i += 8 {
		require.Equal(t, uint64(0xA5A5A5A5A5A5A5A5), m.r64(0x80000+i), "byte %d", i)
	}

	m = simdMachine(t, 0, 0)
	m.w32(0x80000+24, 0x10000) // reserved MXCSR bit 16
	m.program(t, "fxrstor [0x80000]\nhlt")
	m.expectVector(t, arch.VecGP)

	m = simdMachine(t, 0, 0)
	m.program(t, "fxsave [0x80008]\nhlt")
	m.expectVector(t, arch.VecGP)
}

// xsaveMachine has CR4.OSXSAVE set (CPUID reports XSAVE) and XCR0 = x87|SSE.
func xsaveMachine(t *testing.T) *machine {
	m := simdMachine(t, 0, 0)
	m.withFeatures(cpuidXSAVE, 0, 0, defaultEDX81)
	s := m.state()
	s.CR4 |= arch.CR4OSXSAVE
	s.XCR0 = 3
	m.set(s)
	return m
}

// TestXSAVE checks XSAVE/XRSTOR with the x87 and SSE components (SDM Vol.
// 1 13.7, 13.8.1; Vol. 2C XSAVE, XRSTOR): CR4.OSXSAVE=0 → #UD, a
// misaligned area → #GP, XSTATE_BV[i] set for the saved components and
// the rest of the header untouched, the init of a component whose
// XSTATE_BV bit is clear, MXCSR loaded whenever RFBM[1] is set, and the
// header #GPs.
func TestXSAVE(t *testing.T) {
	t.Run("OSXSAVE clear", func(t *testing.T) {
		m := simdMachine(t, 0, 0)
		m.program(t, "xor edx, edx\nmov eax, 3\nxsave [0x80000]\nhlt")
		m.expectVector(t, arch.VecUD)
	})
	t.Run("misaligned", func(t *testing.T) {
		m := xsaveMachine(t)
		m.program(t, "xor edx, edx\nmov eax, 3\nxsave [0x80020]\nhlt")
		m.expectVector(t, arch.VecGP)
	})
	t.Run("save", func(t *testing.T) {
		m := xsaveMachine(t)
		m.w64(0x80000+512, 0x8000000000000004) // XSTATE_BV bits outside RFBM stay
		m.w64(0x80000+520, 0x77)               // not written by XSAVE
		m.w64(0x80000+160, 0xA5)               // XMM0: SSE not in RFBM
		m.program(t, `
			mov rax, 0x55
			movq xmm0, rax
			xor edx, edx
			mov eax, 1
			xsave [0x80000]
			hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(0x8000000000000005), m.r64(0x80000+512), "XSTATE_BV")
		require.Equal(t, uint64(0x77), m.r64(0x80000+520))
		require.Equal(t, uint64(0xA5), m.r64(0x80000+160), "SSE state not saved with RFBM[1]=0")
		require.Equal(t, uint16(0x037F), m.r16(0x80000), "FCW")
	})
	t.Run("restore and init", func(t *testing.T) {
		m := xsaveMachine(t)
		m.w16(0x80000, 0x0272)     // FCW in the image: not loaded (x87 init)
		m.w32(0x80000+24, 0x1F00)  // MXCSR: loaded (RFBM[1]=1)
		m.w64(0x80000+160, 0x1234) // XMM0: not loaded (SSE init)
		m.w64(0x80000+512, 0)      // XSTATE_BV = 0
		m.program(t, `
			mov rax, 0x99
			movq xmm0, rax
			xor edx, edx
			mov eax, 3
			xrstor [0x80000]
			movq rbx, xmm0
			stmxcsr [0x81000]
			fnstcw [0x81008]
			hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(0), m.state().GPR[arch.RBX], "XMM0 initialised")
		require.Equal(t, uint32(0x1F00), m.r32(0x81000), "MXCSR")
		require.Equal(t, uint16(0x037F), m.r16(0x81008), "FCW initialised")
	})
	for _, tc := range []struct {
		name string
		off  uint64
		v    uint64
	}{
		{"XSTATE_BV bit outside XCR0", 512, 4},
		{"XCOMP_BV set", 520, 1 << 63},
		{"header bytes 23:16", 528, 1},
		{"reserved MXCSR bit", 24, 1 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := xsaveMachine(t)
			m.w64(0x80000+tc.off, tc.v)
			m.program(t, "xor edx, edx\nmov eax, 3\nxrstor [0x80000]\nhlt")
			m.expectVector(t, arch.VecGP)
		})
	}
}

// TestCPUIDOSXSAVE: CPUID.1:ECX.OSXSAVE[27] reflects CR4.OSXSAVE (SDM Vol.
// 2A CPUID, Table 3-10).
func TestCPUIDOSXSAVE(t *testing.T) {
	m := xsaveMachine(t)
	m.program(t, `
		mov eax, 1
		cpuid
		mov esi, ecx
		mov rax, cr4
		btr rax, 18
		mov cr4, rax
		mov eax, 1
		cpuid
		hlt`)
	m.expectDone(t)
	s := m.state()
	require.NotZero(t, s.GPR[arch.RSI]&(1<<27), "OSXSAVE with CR4.OSXSAVE=1")
	require.Zero(t, s.GPR[arch.RCX]&(1<<27), "OSXSAVE with CR4.OSXSAVE=0")
}

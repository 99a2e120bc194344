package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// The compaction extensions (SDM Vol. 1 13.4.3, 13.8, 13.10-13.12; Vol.
// 2D XSAVEC, XSAVES, XRSTORS): a machine whose leaf 0DH reports x87, SSE
// and PKRU (8 bytes; standard offset 0xA80, as Cascade Lake-SP's dump)
// and, in sub-leaf 1, XSAVEC and XSAVES. In the compacted format the
// first extended component follows the header at byte 576 (13.4.3), so
// with XCOMP_BV = x87 | SSE | PKRU, PKRU is at 576.

const (
	xsArea      = 0x180000 // 64-byte aligned, in the identity map
	cpuidXSAVEC = 1 << 1   // CPUID.(0DH,1):EAX
	cpuidXSAVES = 1 << 3
)

// xsavesMachine: CR4.OSXSAVE and CR4.PKE set, XCR0 = x87 | SSE | PKRU,
// with sub-leaf 1 EAX = sub1.
func xsavesMachine(t *testing.T, sub1 uint32) *machine {
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(cpuidXSAVE, 0, cpuidPKU, defaultEDX81)
	m.plat.xsavePKRU = true
	m.plat.xsaveSub1 = sub1
	m.c.RefreshFeatures()
	s := m.state()
	s.CR0 |= arch.CR0NE
	s.CR4 |= arch.CR4OSFXSR | arch.CR4OSXSAVE | arch.CR4PKE
	s.XCR0 = 1<<9 | 3
	m.set(s)
	return m
}

// TestXSAVECompacted: XSAVEC and XSAVES write XSTATE_BV = RFBM (XINUSE
// is 1 for each enabled component), XCOMP_BV = RFBM | bit 63, PKRU at
// 576 with bytes 7:4 kept, MXCSR and MXCSR_MASK, and leave the rest of
// the header alone (13.10, 13.11); CPUID.(0DH,1):EBX is the compacted
// size for XCR0 | IA32_XSS: 576 + 8 (Vol. 2A CPUID leaf 0DH).
func TestXSAVECompacted(t *testing.T) {
	for _, insn := range []string{"xsavec", "xsaves"} {
		t.Run(insn, func(t *testing.T) {
			m := xsavesMachine(t, cpuidXSAVEC|cpuidXSAVES)
			m.w64(xsArea+528, 0x1111)              // header bytes 23:16: not written
			m.w64(xsArea+576, 0xAAAAAAAA_BBBBBBBB) // PKRU's 8 bytes
			m.w64(xsArea+0xA80, 0x77)              // the standard offset: untouched
			m.program(t, `
				mov eax, 0x44000000
				xor ecx, ecx
				xor edx, edx
				`+asmWRPKRU+`
				mov rax, 0x1234
				movq xmm1, rax
				mov eax, 0xD
				mov ecx, 1
				cpuid
				mov r8, rbx
				xor edx, edx
				mov eax, 0xFFFFFFFF
				`+insn+` [0x180000]
				hlt`)
			m.expectDone(t)
			assert.Equal(t, uint64(576+8), m.state().GPR[8], "CPUID.(0DH,1):EBX")
			assert.Equal(t, uint64(0x203), m.r64(xsArea+512), "XSTATE_BV")
			assert.Equal(t, uint64(1<<63|0x203), m.r64(xsArea+520), "XCOMP_BV")
			assert.Equal(t, uint64(0x1111), m.r64(xsArea+528), "header bytes 23:16")
			assert.Equal(t, uint64(0xAAAAAAAA_44000000), m.r64(xsArea+576), "PKRU at 576")
			assert.Equal(t, uint64(0x77), m.r64(xsArea+0xA80))
			assert.Equal(t, uint64(0x1234), m.r64(xsArea+160+16), "XMM1")
			assert.Equal(t, uint32(0x1F80), m.r32(xsArea+24), "MXCSR")
			assert.Equal(t, uint32(0xFFFF), m.r32(xsArea+28), "MXCSR_MASK")
			assert.Equal(t, uint16(0x037F), m.r16(xsArea), "FCW")
		})
	}
}

// TestXRSTORCompacted: the compacted form of XRSTOR (XCOMP_BV[63] = 1)
// and XRSTORS load each component of RFBM whose XSTATE_BV bit is set
// (PKRU from 576), initialise the others — SSE with MXCSR 1F80H, not the
// image's MXCSR (13.8.2) — and #GP on the header rules of 13.8.1 and
// 13.12.
func TestXRSTORCompacted(t *testing.T) {
	for _, insn := range []string{"xrstor", "xrstors"} {
		t.Run(insn, func(t *testing.T) {
			m := xsavesMachine(t, cpuidXSAVEC|cpuidXSAVES)
			m.w64(xsArea+512, 0x201)       // XSTATE_BV: x87, PKRU
			m.w64(xsArea+520, 1<<63|0x203) // XCOMP_BV
			m.w16(xsArea, 0x0272)          // FCW
			m.w32(xsArea+24, 0x1F00)       // MXCSR: not loaded (XSTATE_BV[1] = 0)
			m.w64(xsArea+576, 0x0000_0140) // PKRU
			m.program(t, `
				mov rax, 0x99
				movq xmm0, rax
				mov eax, 0xFFFFFFFF
				mov edx, eax
				`+insn+` [0x180000]
				movq rbx, xmm0
				stmxcsr [0x181000]
				fnstcw [0x181008]
				xor ecx, ecx
				`+asmRDPKRU+`
				hlt`)
			m.expectDone(t)
			s := m.state()
			assert.Equal(t, uint64(0), s.GPR[arch.RBX], "XMM0 initialised")
			assert.Equal(t, uint32(0x1F80), m.r32(0x181000), "MXCSR initialised")
			assert.Equal(t, uint16(0x0272), m.r16(0x181008), "FCW loaded")
			assert.Equal(t, uint32(0x140), s.PKRU)
		})
	}
	for _, tc := range []struct {
		name   string
		insn   string
		bv, xc uint64
		off, v uint64 // a further write to the area
	}{
		{"XCOMP_BV bit outside XCR0", "xrstor", 1, 1<<63 | 1<<2 | 1, 0, 0},
		{"XRSTORS: XCOMP_BV bit outside XCR0 | IA32_XSS", "xrstors", 1, 1<<63 | 1<<8 | 1, 0, 0},
		{"XSTATE_BV bit outside XCOMP_BV", "xrstor", 3, 1<<63 | 1, 0, 0},
		{"header bytes 63:16", "xrstor", 1, 1<<63 | 1, 568, 1},
		{"XRSTORS: header bytes 63:16", "xrstors", 1, 1<<63 | 1, 536, 1},
		{"reserved MXCSR bit", "xrstor", 2, 1<<63 | 2, 24, 1 << 20},
		{"XRSTORS: the standard form", "xrstors", 1, 0, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := xsavesMachine(t, cpuidXSAVEC|cpuidXSAVES)
			m.w64(xsArea+512, tc.bv)
			m.w64(xsArea+520, tc.xc)
			if tc.off != 0 {
				m.w64(xsArea+tc.off, tc.v)
			}
			m.program(t, "mov eax, 0xFFFFFFFF\nmov edx, eax\n"+tc.insn+" [0x180000]\nhlt")
			m.expectVector(t, arch.VecGP)
		})
	}
	// Without XSAVEC, XCOMP_BV[63] = 1 is a non-zero header byte: #GP.
	t.Run("no compacted form without XSAVEC", func(t *testing.T) {
		m := xsavesMachine(t, 0)
		m.w64(xsArea+512, 1)
		m.w64(xsArea+520, 1<<63|1)
		m.program(t, "mov eax, 3\nxor edx, edx\nxrstor [0x180000]\nhlt")
		m.expectVector(t, arch.VecGP)
	})
}

// TestXSAVESFaults: XSAVEC, XSAVES and XRSTORS are #UD where CPUID does
// not report them, #UD with CR4.OSXSAVE = 0, #NM with CR0.TS = 1;
// XSAVES and XRSTORS are #GP(0) at CPL > 0 (Vol. 2D XSAVES, XRSTORS) and
// on a misaligned area.
func TestXSAVESFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		sub1  uint32
		cr0   uint64
		cr4   uint64 // cleared
		src   string
		ring3 bool
		vec   int
	}{
		{"XSAVEC without XSAVEC", cpuidXSAVES, 0, 0, "xsavec [0x180000]", false, arch.VecUD},
		{"XSAVES without XSS", cpuidXSAVEC, 0, 0, "xsaves [0x180000]", false, arch.VecUD},
		{"XRSTORS without XSS", cpuidXSAVEC, 0, 0, "xrstors [0x180000]", false, arch.VecUD},
		{"XSAVES with OSXSAVE clear", cpuidXSAVEC | cpuidXSAVES, 0, arch.CR4OSXSAVE, "xsaves [0x180000]", false, arch.VecUD},
		{"XSAVES with TS", cpuidXSAVEC | cpuidXSAVES, arch.CR0TS, 0, "xsaves [0x180000]", false, arch.VecNM},
		{"XSAVEC with TS", cpuidXSAVEC | cpuidXSAVES, arch.CR0TS, 0, "xsavec [0x180000]", false, arch.VecNM},
		{"XSAVES misaligned", cpuidXSAVEC | cpuidXSAVES, 0, 0, "xsaves [0x180020]", false, arch.VecGP},
		{"XSAVEC misaligned", cpuidXSAVEC | cpuidXSAVES, 0, 0, "xsavec [0x180008]", false, arch.VecGP},
		{"XSAVES at CPL 3", cpuidXSAVEC | cpuidXSAVES, 0, 0, "xsaves [0x180000]", true, arch.VecGP},
		{"XRSTORS at CPL 3", cpuidXSAVEC | cpuidXSAVES, 0, 0, "xrstors [0x180000]", true, arch.VecGP},
		{"XSAVES register form", cpuidXSAVEC | cpuidXSAVES, 0, 0, "db 0x0F, 0xC7, 0xE8", false, arch.VecUD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := xsavesMachine(t, tc.sub1)
			s := m.state()
			s.CR0 |= tc.cr0
			s.CR4 &^= tc.cr4
			m.set(s)
			src := "mov eax, 3\nxor edx, edx\n" + tc.src + "\nhlt"
			if tc.ring3 {
				// A valid compacted header, and UD2 after: had the
				// instruction run, #UD would follow, not #GP.
				m.w64(xsArea+520, 1<<63)
				src = ring3Prologue + "user:\nmov eax, 3\nxor edx, edx\n" + tc.src + "\nud2"
			}
			m.program(t, src)
			m.expectVector(t, tc.vec)
		})
	}
}

// TestXSS: IA32_XSS (DA0H) exists with XSAVES; vmxemu implements no
// supervisor state component, so CPUID.(0DH,1):EDX:ECX is 0 and any set
// bit is #GP(0) (Vol. 4 IA32_XSS; Vol. 1 13.3); without XSAVES the MSR
// does not exist.
func TestXSS(t *testing.T) {
	for _, tc := range []struct {
		name string
		sub1 uint32
		src  string
		vec  int
	}{
		{"read", cpuidXSAVES, "mov ecx, 0xDA0\nrdmsr\nmov r8, rax\nmov r9, rdx", -1},
		{"write 0", cpuidXSAVES, "mov ecx, 0xDA0\nxor eax, eax\nxor edx, edx\nwrmsr", -1},
		{"write PT (bit 8)", cpuidXSAVES, "mov ecx, 0xDA0\nmov eax, 0x100\nxor edx, edx\nwrmsr", arch.VecGP},
		{"read without XSAVES", cpuidXSAVEC, "mov ecx, 0xDA0\nrdmsr", arch.VecGP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := xsavesMachine(t, tc.sub1)
			m.program(t, "mov r8, -1\nmov r9, -1\n"+tc.src+"\nhlt")
			if tc.vec >= 0 {
				m.expectVector(t, tc.vec)
				return
			}
			m.expectDone(t)
			if tc.name == "read" {
				require.Zero(t, m.state().GPR[8])
				require.Zero(t, m.state().GPR[9])
			}
		})
	}
}

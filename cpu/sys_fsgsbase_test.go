package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// The encodings, as bytes (SDM Vol. 2B RDFSBASE/RDGSBASE, RDPID; Vol. 2D
// WRFSBASE/WRGSBASE): F3 [REX.W] 0F AE /0../3 and F3 0F C7 /7, register
// forms.
const (
	asmRDFSBASErbx = "db 0xF3, 0x48, 0x0F, 0xAE, 0xC3"
	asmRDFSBASEebx = "db 0xF3, 0x0F, 0xAE, 0xC3"
	asmRDGSBASErbx = "db 0xF3, 0x48, 0x0F, 0xAE, 0xCB"
	asmWRFSBASErax = "db 0xF3, 0x48, 0x0F, 0xAE, 0xD0"
	asmWRFSBASEeax = "db 0xF3, 0x0F, 0xAE, 0xD0"
	asmWRGSBASErax = "db 0xF3, 0x48, 0x0F, 0xAE, 0xD8"
	asmRDPIDrax    = "db 0xF3, 0x0F, 0xC7, 0xF8" // RDPID rax (eax outside 64-bit mode)

	cpuidFSGSBASE = 1 << 0  // 07H:EBX
	cpuidRDPID    = 1 << 22 // 07H:ECX
	asmSetFSGS    = "mov rax, cr4\nbts rax, 16\nmov cr4, rax\n"
)

// TestFSGSBASE: the four instructions need CPUID FSGSBASE, CR4.FSGSBASE
// and 64-bit mode (#UD otherwise; also with LOCK); WRFSBASE/WRGSBASE of a
// non-canonical address is #GP(0); REX.W selects 64-bit operands, the
// 32-bit forms zero-extend; the base is the one memory accesses use and
// IA32_FS_BASE/IA32_GS_BASE read (SDM Vol. 2B RDFSBASE, Vol. 2D WRFSBASE,
// Vol. 3A 3.4.4.1).
func TestFSGSBASE(t *testing.T) {
	cases := []struct {
		name   string
		cpuid  bool
		cr4    bool
		src    string
		vector int
		check  func(t *testing.T, s arch.State)
	}{
		{"no CPUID FSGSBASE", false, false, "here: " + asmRDFSBASErbx, arch.VecUD, nil},
		{"CR4.FSGSBASE=0", true, false, "here: " + asmRDFSBASErbx, arch.VecUD, nil},
		{"LOCK prefix", true, true, "here: db 0xF0\n" + asmRDFSBASErbx, arch.VecUD, nil},
		{"66 prefix: not RDFSBASE", true, true, "here: db 0x66\n" + asmRDFSBASErbx, arch.VecUD, nil},
		{"WRGSBASE non-canonical", true, true, "mov rax, 0x0000800000000000\nhere: " + asmWRGSBASErax, arch.VecGP, nil},
		{"WRFSBASE/RDFSBASE 64-bit, and the base is used", true, true,
			"mov rax, 0x80000\n" + asmWRFSBASErax + "\nmov rbx, -1\n" + asmRDFSBASErbx + "\nmov r10, [fs:0x10]\nmov r8, rbx\n" +
				"mov ecx, 0xC0000100\nrdmsr\nshl rdx, 32\nor rax, rdx\nmov r9, rax\nhlt", -1,
			func(t *testing.T, s arch.State) {
				require.Equal(t, uint64(0x80000), s.Seg[arch.FS].Base)
				require.Equal(t, uint64(0x80000), s.GPR[8], "RDFSBASE")
				require.Equal(t, uint64(0x80000), s.GPR[9], "RDMSR IA32_FS_BASE")
				require.Equal(t, uint64(0x1122334455667788), s.GPR[10], "a load through FS")
			}},
		{"WRFSBASE eax zero-extends; RDFSBASE ebx clears bits 63:32", true, true,
			"mov rax, 0xFFFFFFFF80000000\n" + asmWRFSBASEeax + "\nmov rbx, -1\n" + asmRDFSBASEebx + "\nhlt", -1,
			func(t *testing.T, s arch.State) {
				require.Equal(t, uint64(0x80000000), s.Seg[arch.FS].Base)
				require.Equal(t, uint64(0x80000000), s.GPR[arch.RBX])
			}},
		{"WRGSBASE/RDGSBASE canonical high half", true, true,
			"mov rax, 0xFFFF800000001000\n" + asmWRGSBASErax + "\n" + asmRDGSBASErbx + "\nhlt", -1,
			func(t *testing.T, s arch.State) {
				require.Equal(t, uint64(0xFFFF800000001000), s.Seg[arch.GS].Base)
				require.Equal(t, uint64(0xFFFF800000001000), s.GPR[arch.RBX])
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			if tc.cpuid {
				m.withFeatures(0, cpuidFSGSBASE, 0, defaultEDX81)
			}
			src := tc.src
			if tc.cr4 {
				src = asmSetFSGS + src
			}
			if tc.vector >= 0 {
				src += "\nhlt"
			}
			m.w64(0x80010, 0x1122334455667788)
			m.program(t, src)
			if tc.vector >= 0 {
				m.expectVector(t, tc.vector)
				slot := 0
				if tc.vector == arch.VecGP {
					require.Equal(t, uint64(0), m.stack(0, 8), "error code")
					slot = 1
				}
				require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(slot, 8))
				return
			}
			m.expectDone(t)
			s := m.state()
			tc.check(t, s)
		})
	}
	t.Run("outside 64-bit mode", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.withFeatures(0, cpuidFSGSBASE, 0, defaultEDX81)
		m.program(t, "mov eax, cr4\nbts eax, 16\nmov cr4, eax\n"+asmRDFSBASEebx+"\nhlt")
		m.expectVector(t, arch.VecUD)
	})
}

// TestRDPID: RDPID reads IA32_TSC_AUX into a 64-bit register in 64-bit
// mode and a 32-bit one elsewhere, and is #UD without CPUID RDPID (SDM
// Vol. 2B RDPID).
func TestRDPID(t *testing.T) {
	const setAux = "mov ecx, 0xC0000103\nmov eax, 0x00ABCDEF\nxor edx, edx\nwrmsr\n"
	t.Run("no CPUID RDPID", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, asmRDPIDrax+"\nhlt")
		m.expectVector(t, arch.VecUD)
	})
	t.Run("64-bit mode", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(0, 0, cpuidRDPID, defaultEDX81)
		m.program(t, setAux+"mov rax, -1\n"+asmRDPIDrax+"\nhlt")
		m.expectDone(t)
		require.Equal(t, uint64(0xABCDEF), m.state().GPR[arch.RAX])
	})
	t.Run("protected mode", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.withFeatures(0, 0, cpuidRDPID, defaultEDX81)
		m.program(t, setAux+"mov eax, -1\n"+asmRDPIDrax+"\nhlt")
		m.expectDone(t)
		require.Equal(t, uint64(0xABCDEF), m.state().GPR[arch.RAX])
	})
}

package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestControlRegisterChecks: MOV to CR0/CR4/CR8 and WRMSR to IA32_EFER
// consistency checks (SDM Vol. 2B MOV—Move to/from Control Registers
// "Protected Mode Exceptions" / "64-Bit Mode Exceptions"; Vol. 3A 2.5,
// 2.2.1, 10.8.5).
func TestControlRegisterChecks(t *testing.T) {
	cases := []struct {
		name string
		mode sysMode
		vmx  bool
		src  string
		vec  int // -1: no fault
		// check runs on success.
		check func(t *testing.T, s arch.State)
	}{
		{"CR0.PG without PE", modeProt32, false, "mov eax, 0x80000010\nhere: mov cr0, eax", arch.VecGP, nil},
		{"CR0.NW without CD", modeProt32, false, "mov eax, 0x20000011\nhere: mov cr0, eax", arch.VecGP, nil},
		{"CR0.CD and NW together", modeProt32, false, "mov eax, 0x60000011\nmov cr0, eax", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(0x60000011), s.CR0) }},
		{"CR0.ET is hardwired", modeProt32, false, "mov eax, 0x1\nmov cr0, eax", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(0x11), s.CR0) }},
		{"CR0 bits 63:32 in 64-bit mode", modeLong64, false, "mov rax, cr0\nbts rax, 32\nhere: mov cr0, rax", arch.VecGP, nil},
		{"clear CR0.PG in 64-bit mode", modeLong64, false, "mov rax, cr0\nbtr rax, 31\nhere: mov cr0, rax", arch.VecGP, nil},
		{"clear CR4.PAE with LMA", modeLong64, false, "mov rax, cr4\nbtr rax, 5\nhere: mov cr4, rax", arch.VecGP, nil},
		{"CR4 reserved bit 31", modeProt32, false, "mov eax, 0x80000000\nhere: mov cr4, eax", arch.VecGP, nil},
		{"CR4 reserved bit 63", modeLong64, false, "mov rax, cr4\nbts rax, 63\nhere: mov cr4, rax", arch.VecGP, nil},
		{"CR4.VMXE without CPUID VMX", modeProt32, false, "mov eax, 0x2000\nhere: mov cr4, eax", arch.VecGP, nil},
		{"CR4.VMXE with CPUID VMX", modeProt32, true, "mov eax, 0x2000\nmov cr4, eax", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(arch.CR4VMXE), s.CR4) }},
		{"CR4.PCIDE is not supported", modeLong64, false, "mov rax, cr4\nbts rax, 17\nhere: mov cr4, rax", arch.VecGP, nil},
		{"CR8 reserved bits", modeLong64, false, "mov rax, 0x10\nhere: mov cr8, rax", arch.VecGP, nil},
		{"CR8 TPR", modeLong64, false, "mov rax, 0xF\nmov cr8, rax\nmov rbx, cr8", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(0xF), s.GPR[arch.RBX]) }},
		{"MOV to CR1", modeProt32, false, "here: db 0x0F, 0x22, 0xC8", arch.VecUD, nil},
		{"MOV from CR5", modeLong64, false, "here: db 0x0F, 0x20, 0xE8", arch.VecUD, nil},
		{"MOV to CR9", modeLong64, false, "here: db 0x44, 0x0F, 0x22, 0xC8", arch.VecUD, nil},
		{"MOV DR4 with CR4.DE", modeProt32, false, "mov eax, 8\nmov cr4, eax\nhere: db 0x0F, 0x21, 0xE0", arch.VecUD, nil},
		{"MOV DR4 aliases DR6 without CR4.DE", modeProt32, false, "db 0x0F, 0x21, 0xE0", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(0xFFFF0FF0), s.GPR[arch.RAX]) }},
		{"MOV to DR7 bits 63:32", modeLong64, false, "mov rax, 1\nshl rax, 32\nhere: mov dr7, rax", arch.VecGP, nil},
		{"EFER reserved bit", modeProt32, false, "mov ecx, 0xC0000080\nrdmsr\nbts eax, 1\nhere: wrmsr", arch.VecGP, nil},
		{"EFER.LME change with paging on", modeLong64, false, "mov ecx, 0xC0000080\nrdmsr\nbtr eax, 8\nhere: wrmsr", arch.VecGP, nil},
		{"EFER.LMA is read-only", modeProt32, false, "mov ecx, 0xC0000080\nmov eax, 0x401\nxor edx, edx\nwrmsr\nrdmsr", -1,
			func(t *testing.T, s arch.State) {
				require.Equal(t, uint64(arch.EFERSCE), s.EFER)
				require.Equal(t, uint64(arch.EFERSCE), s.GPR[arch.RAX])
			}},
		{"EFER.NXE and SCE", modeLong64, false, "mov ecx, 0xC0000080\nrdmsr\nor eax, 0x801\nwrmsr\nrdmsr", -1,
			func(t *testing.T, s arch.State) {
				require.Equal(t, uint64(arch.EFERSCE|arch.EFERLME|arch.EFERLMA|arch.EFERNXE), s.GPR[arch.RAX])
			}},
		{"LMSW cannot clear PE", modeProt32, false, "xor eax, eax\nlmsw ax\nmov ebx, cr0", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(1), s.GPR[arch.RBX]&1) }},
		{"non-canonical FS base", modeLong64, false, "mov ecx, 0xC0000100\nmov edx, 0x8000\nxor eax, eax\nhere: wrmsr", arch.VecGP, nil},
		{"RDTSCP writes TSC_AUX to ECX", modeLong64, false, "mov ecx, 0xC0000103\nmov eax, 0x1234\nxor edx, edx\nwrmsr\nxor ecx, ecx\nrdtscp", -1,
			func(t *testing.T, s arch.State) { require.Equal(t, uint64(0x1234), s.GPR[arch.RCX]) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.mode, 0)
			m.plat.vmx = tc.vmx
			src := tc.src + "\nhlt"
			m.program(t, src)
			if tc.vec < 0 {
				m.expectDone(t)
				if tc.check != nil {
					tc.check(t, m.state())
				}
				return
			}
			m.expectVector(t, tc.vec)
			bits, w := 32, 4
			if tc.mode == modeLong64 {
				bits, w = 64, 8
			}
			i := 0
			if tc.vec == arch.VecGP {
				require.Equal(t, uint64(0), m.stack(0, w), "#GP(0)")
				i = 1
			}
			require.Equal(t, labelAddr(t, bits, physCode, src, "here"), m.stack(i, w), "faulting instruction")
		})
	}
}

// TestLongModeExitAndPAE: leaving IA-32e mode clears LMA; PAE paging
// loads PDPTEs at MOV CR3 and faults on reserved bits in them (SDM Vol. 3A
// 10.8.5.4, 4.4.1).
func TestLongModeExitAndPAE(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, fmt.Sprintf(`
	jmp dword far [rel farptr]
farptr:
	dd compat
	dw 0x30
bits 32
compat:
	mov eax, cr0
	btr eax, 31
	mov cr0, eax           ; paging off: LMA=0
	mov ecx, 0xC0000080
	rdmsr
	btr eax, 8
	wrmsr                  ; LME=0
	mov ebx, 0x%x
	mov dword [ebx], 0x1234
	hlt
`, physData))
	m.expectDone(t)
	s := m.state()
	require.Zero(t, s.EFER&(arch.EFERLMA|arch.EFERLME))
	require.Zero(t, s.CR0&arch.CR0PG)
	require.Equal(t, uint32(0x1234), m.r32(physData))
}

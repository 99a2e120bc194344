package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestRFLAGSReservedBits: bits 3, 5, 15 and 63:22 of RFLAGS are reserved
// and read as 0, bit 1 reads as 1 (SDM Vol. 1 3.4.3, Figure 3-8), whatever
// POPF or IRET loads. kvm-unit-tests' realmode DAS/LAHF/SAHF checks read
// them back with PUSHFD after a POPF of such a word.
func TestRFLAGSReservedBits(t *testing.T) {
	const reserved = 1<<3 | 1<<5 | 1<<15 | 0xFFC00000
	for _, tc := range []struct {
		name string
		mode sysMode
		src  string
	}{
		{"POPF real mode", modeReal, `
	mov esp, 0x8000
	push word 0x8028
	popf
	pushfd
	pop edx
	hlt`},
		{"POPFD real mode", modeReal, `
	mov esp, 0x8000
	push dword 0xffc08028
	popfd
	pushfd
	pop edx
	hlt`},
		{"IRET real mode", modeReal, `
	mov esp, 0x8000
	push word 0x8028
	push cs
	push word next
	iret
next:
	pushfd
	pop edx
	hlt`},
		{"POPFD protected mode", modeProt32, `
	push dword 0xffc08028
	popfd
	pushfd
	pop edx
	hlt`},
		{"POPFQ 64-bit mode", modeLong64, `
	mov rax, 0xffffffffffc08028
	push rax
	popfq
	pushfq
	pop rdx
	hlt`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.mode, 0)
			m.program(t, tc.src)
			m.expectDone(t)
			s := m.state()
			got := s.GPR[arch.RDX]
			if tc.mode != modeLong64 {
				got &= 0xFFFFFFFF
			}
			require.Zero(t, got&reserved, "reserved RFLAGS bits pushed: %#x", got)
			require.Equal(t, uint64(arch.FlagRes1), got&arch.FlagRes1, "bit 1 reads as 1")
			require.Zero(t, s.RFLAGS&reserved, "reserved RFLAGS bits held: %#x", s.RFLAGS)
		})
	}
}

// TestSALC: SALC (D6) sets AL to FFH when CF=1 and to 00H when CF=0 and
// changes no flag; it is invalid in 64-bit mode (the P6 opcode map names
// it; the behaviour is every Intel processor's, R. Collins "Undocumented
// OpCodes: SALC", and QEMU's and Bochs' too).
func TestSALC(t *testing.T) {
	for _, tc := range []struct {
		name  string
		mode  sysMode
		setCF string
		al    uint64
	}{
		{"CF=0 real mode", modeReal, "clc", 0x00},
		{"CF=1 real mode", modeReal, "stc", 0xFF},
		{"CF=0 protected mode", modeProt32, "clc", 0x00},
		{"CF=1 protected mode", modeProt32, "stc", 0xFF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.mode, 0)
			m.program(t, "\tmov eax, 0x12345678\n\t"+tc.setCF+"\n\tdb 0xd6\n\tpushfd\n\tpop edx\n\thlt")
			m.expectDone(t)
			s := m.state()
			require.Equal(t, 0x12345600|tc.al, s.GPR[arch.RAX]&0xFFFFFFFF)
			require.Equal(t, tc.al&1, s.GPR[arch.RDX]&arch.FlagCF, "CF unchanged")
		})
	}
	t.Run("#UD in 64-bit mode", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "\tstc\n\tdb 0xd6\n\thlt")
		m.expectVector(t, arch.VecUD)
	})
}

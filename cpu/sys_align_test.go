package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestAlignmentCheck: at CPL 3 with CR0.AM = 1 and RFLAGS.AC = 1 an
// unaligned data access of 2, 4 or 8 bytes is #AC(0), a fault (SDM Vol.
// 3A 6.15 "Interrupt 17": error code 0, the saved RIP that of the
// faulting instruction); aligned accesses, byte accesses, CPL 0, AM = 0
// or AC = 0 do not check. The ring-3 code sets AC with POPFQ (RFLAGS.AC
// may be changed at any CPL); the user stack at A0000H is 16-byte
// aligned, so [rsp-4] is 4 mod 8.
func TestAlignmentCheck(t *testing.T) {
	const setAC = "pushfq\nor qword [rsp], 0x40000\npopfq\n"
	for _, tc := range []struct {
		name string
		am   bool
		src  string // run at CPL 3 after the prologue (label here: the faulting instruction)
		ac   bool   // #AC expected at here; else the final HLT's #GP
	}{
		{"qword at 4 mod 8", true, setAC + "here: mov qword [rsp-4], 0\nhlt", true},
		{"qword read at 4 mod 8", true, setAC + "here: mov rax, [rsp-4]\nhlt", true},
		{"dword at 2 mod 4", true, setAC + "here: mov dword [rsp-2], 0\nhlt", true},
		{"word at an odd address", true, setAC + "here: mov ax, [rsp-1]\nhlt", true},
		{"PUSH with a misaligned RSP", true, setAC + "sub rsp, 4\nhere: push rax\nhlt", true},
		{"aligned qword", true, setAC + "mov qword [rsp-8], 0\nmov eax, [rsp-4]\nmov ax, [rsp-2]\nhere: hlt", false},
		{"byte access", true, setAC + "mov byte [rsp-3], 0\nhere: hlt", false},
		{"AC clear", true, "mov qword [rsp-4], 0\nhere: hlt", false},
		{"AM clear", false, setAC + "mov qword [rsp-4], 0\nhere: hlt", false},
		// POPFQ clearing AC turns the checks off again.
		{"AC set then cleared", true, setAC + "pushfq\nand qword [rsp], ~0x40000\npopfq\nmov qword [rsp-4], 0\nhere: hlt", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := ring3Prologue + "user:\n" + tc.src
			m := newMachine(t, modeLong64, 0)
			m.program(t, src)
			if tc.am {
				s := m.state()
				s.CR0 |= arch.CR0AM
				m.set(s)
			}
			at := labelAddr(t, 64, physCode, src, "here")
			if !tc.ac {
				m.expectVector(t, arch.VecGP) // HLT at CPL 3
				require.Equal(t, at, m.stack(1, 8), "RIP of the HLT")
				return
			}
			m.expectVector(t, arch.VecAC)
			require.Equal(t, uint64(0), m.stack(0, 8), "error code 0")
			require.Equal(t, at, m.stack(1, 8), "RIP of the faulting instruction")
			require.Equal(t, uint64(selCode64U|3), m.stack(2, 8), "from CPL 3")
			require.NotZero(t, m.stack(3, 8)&arch.FlagAC, "RFLAGS.AC saved")
		})
	}
	// At CPL 0 nothing is checked, AM and AC set.
	t.Run("CPL 0", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "mov rsp, 0x9000\n"+setAC+"mov qword [rsp-4], 0\nmov eax, 1\nhlt")
		s := m.state()
		s.CR0 |= arch.CR0AM
		m.set(s)
		m.expectDone(t)
		require.Equal(t, uint64(1), m.state().GPR[arch.RAX])
	})
}

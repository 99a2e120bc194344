package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestLongModeEntry: from 32-bit protected mode with paging off, CR4.PAE,
// CR3, EFER.LME then CR0.PG activate IA-32e mode (EFER.LMA=1, compatibility
// mode); a far JMP to an L=1 code segment enters 64-bit mode (SDM Vol. 3A
// 10.8.5).
func TestLongModeEntry(t *testing.T) {
	entry := `
	mov eax, cr4
	or eax, 0x20            ; PAE
	mov cr4, eax
	mov eax, 0x10000        ; PML4
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 0x100           ; LME
	wrmsr
	mov eax, cr0
	or eax, 0x80000000      ; PG
	mov cr0, eax
	%s
`
	t.Run("enter 64-bit mode", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.identityMap64()
		m.program(t, fmt.Sprintf(entry, `
	mov ebx, 0x11111111     ; compatibility mode: 32-bit code still runs
	jmp 0x08:lm64
bits 64
lm64:
	mov rax, 0x123456789A
	push rax
	hlt`))
		m.expectDone(t)
		s := m.state()
		require.NotZero(t, s.EFER&arch.EFERLMA, "EFER.LMA")
		require.True(t, s.Mode64())
		require.Equal(t, uint64(0x123456789A), s.GPR[arch.RAX])
		require.Equal(t, uint64(0x11111111), s.GPR[arch.RBX])
		require.Equal(t, uint64(physStack-8), s.GPR[arch.RSP], "64-bit push")
		require.Equal(t, uint64(0x123456789A), m.r64(physStack-8))
	})
	t.Run("PG with LME but without PAE", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.identityMap64()
		src := `
	mov eax, 0x10000
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 0x100
	wrmsr
	mov eax, cr0
	or eax, 0x80000000
here:
	mov cr0, eax
	hlt`
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0), m.stack(0, 4))
		require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 4))
		require.Zero(t, m.state().EFER&arch.EFERLMA)
	})
	t.Run("far jump to L=1, D=1", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.identityMap64()
		m.setGDT(selFree, desc(0, 0xFFFFF, accCode0, 0xE)) // G, D, L
		m.program(t, fmt.Sprintf(entry, "here: jmp 0x58:0\nhlt"))
		// The 32-bit IDT is useless in IA-32e mode: give it 64-bit gates.
		s := m.state()
		m.set(s)
		for v := 0; v < 32; v++ {
			lo, hi := gate64(selCode64, uint64(physStubs+v*stubSize), 0xE, 0, 0)
			m.setGate64(uint8(v), lo, hi)
		}
		s.IDTR.Limit = 32*16 - 1
		m.set(s)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(selFree), m.stack(0, 8), "#GP(selector)")
	})
}

// TestLongModeIDT: 64-bit gates, IST, 16-byte stack alignment and the
// always-pushed SS:RSP (SDM Vol. 3A 6.14.2-6.14.5, Figure 6-9).
func TestLongModeIDT(t *testing.T) {
	t.Run("same privilege, RSP aligned", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "mov rsp, 0x6FFF8\nint 0x40\nhere: hlt")
		m.expectVector(t, 0x40)
		s := m.state()
		require.Equal(t, uint64(0x6FFF0-40), s.GPR[arch.RSP], "RSP aligned to 16 before the 5 pushes")
		require.Equal(t, labelAddr(t, 64, physCode, "mov rsp, 0x6FFF8\nint 0x40\nhere: hlt", "here"), m.stack(0, 8), "RIP")
		require.Equal(t, uint64(selCode64), m.stack(1, 8), "CS")
		require.Equal(t, uint64(0x6FFF8), m.stack(3, 8), "old RSP")
		require.Equal(t, uint64(selData0), m.stack(4, 8), "old SS")
	})
	t.Run("IST", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		lo, hi := gate64(selCode64, physStubs+0x41*stubSize, 0xE, 0, 1)
		m.setGate64(0x41, lo, hi)
		m.program(t, "int 0x41\nhlt")
		m.expectVector(t, 0x41)
		require.Equal(t, uint64(physStackIST-40), m.state().GPR[arch.RSP])
		require.Equal(t, uint64(physStack), m.stack(3, 8), "old RSP")
	})
	t.Run("error code and trap gate", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		lo, hi := gate64(selCode64, physStubs+13*stubSize, 0xF, 0, 0)
		m.setGate64(arch.VecGP, lo, hi)
		src := "sti\nmov rax, 0x0000800000000000\nhere: mov rbx, [rax]\nhlt"
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0), m.stack(0, 8), "error code")
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
		require.Equal(t, uint64(physStack-48), m.state().GPR[arch.RSP])
		require.NotZero(t, m.state().RFLAGS&arch.FlagIF, "trap gate keeps IF")
	})
	t.Run("non-canonical handler", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		lo, hi := gate64(selCode64, 0x0000800000000000, 0xE, 0, 0)
		m.setGate64(0x42, lo, hi)
		m.program(t, "here: int 0x42\nhlt")
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0), m.stack(0, 8), "#GP(0): software interrupt, EXT=0")
		require.Equal(t, uint64(physCode), m.stack(1, 8), "the INT instruction")
	})
}

// ring3Prologue switches from ring 0 to ring 3 64-bit code at label user
// with IRETQ (SDM Vol. 2A IRET: return to outer privilege level pops
// RIP, CS, RFLAGS, RSP, SS).
const ring3Prologue = `
	push 0x23               ; SS = data DPL 3
	push 0xA0000            ; RSP
	pushfq
	push 0x2B               ; CS = 64-bit code DPL 3
	push user
	iretq
`

// TestPrivilegeChange64: IRETQ to ring 3, INT n from ring 3 through a
// DPL-3 gate to a ring-0 handler on the TSS RSP0 stack, IRETQ back, and
// the #GP for a DPL-0 gate (SDM Vol. 3A 6.12.1.1, 6.14.4).
func TestPrivilegeChange64(t *testing.T) {
	src := ring3Prologue + `
user:
	mov rbx, 0x1111
	int 0x80                 ; DPL-3 gate: to ring 0 and back
back:
	mov rdx, 0x3333
	mov rax, [rsp]           ; user stack works
hlt3:
	hlt                      ; #GP(0) at CPL 3
handler80:
	mov rcx, 0x2222
	mov r8, rsp
	mov r9, ss
	iretq
`
	m := newMachine(t, modeLong64, 0)
	m.program(t, src)
	h := labelAddr(t, 64, physCode, src, "handler80")
	lo, hi := gate64(selCode64, h, 0xE, 3, 0)
	m.setGate64(0x80, lo, hi)
	m.expectVector(t, arch.VecGP)
	s := m.state()
	require.Equal(t, uint64(0x1111), s.GPR[arch.RBX])
	require.Equal(t, uint64(0x2222), s.GPR[arch.RCX], "ring-0 handler ran")
	require.Equal(t, uint64(0x3333), s.GPR[arch.RDX], "IRETQ returned to ring 3")
	require.Equal(t, uint64(physStack0-40), s.GPR[arch.R8], "handler RSP: TSS.RSP0 minus the 5-slot frame")
	require.Equal(t, uint64(0), s.GPR[arch.R9], "SS is a null selector with RPL 0 (6.14.4)")
	// The #GP from HLT at CPL 3: on the RSP0 stack, with the ring-3 frame.
	require.Equal(t, uint64(physStack0-48), s.GPR[arch.RSP])
	require.Equal(t, uint64(0), m.stack(0, 8), "error code")
	require.Equal(t, labelAddr(t, 64, physCode, src, "hlt3"), m.stack(1, 8), "RIP")
	require.Equal(t, uint64(selCode64U|3), m.stack(2, 8), "CS")
	require.Equal(t, uint64(physUStack), m.stack(4, 8), "RSP")
	require.Equal(t, uint64(selData3|3), m.stack(5, 8), "SS")
	require.Equal(t, uint16(selCode64), s.Seg[arch.CS].Selector)

	t.Run("INT through a DPL-0 gate from ring 3", func(t *testing.T) {
		src := ring3Prologue + "user:\nnop\nhere: int 0x81\nhlt"
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0x81*8+2), m.stack(0, 8), "#GP(vector*8+2), EXT=0")
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8), "RIP of the INT")
		require.Equal(t, uint64(selCode64U|3), m.stack(2, 8))
	})
	t.Run("INT3 through a DPL-0 gate from ring 3", func(t *testing.T) {
		src := ring3Prologue + "user:\nhere: int3\nhlt"
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(3*8+2), m.stack(0, 8))
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
	})
	t.Run("privileged instructions at CPL 3", func(t *testing.T) {
		for _, insn := range []string{"cli", "mov rax, cr0", "mov cr3, rax", "lgdt [rax]", "invlpg [rax]", "wrmsr", "rdmsr", "in al, 0x60", "wbinvd", "clts", "mov rax, dr7", "lidt [rax]", "ltr ax", "lldt ax", "swapgs", "sysret"} {
			src := ring3Prologue + "user:\nhere: " + insn + "\nhlt"
			m := newMachine(t, modeLong64, 0)
			m.program(t, src)
			s := m.state()
			s.EFER |= arch.EFERSCE
			m.set(s)
			m.expectVector(t, arch.VecGP)
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8), insn)
		}
	})
	t.Run("IRETQ to ring 3 with RPL != DPL of SS", func(t *testing.T) {
		src := `
	push 0x20                ; SS RPL 0 for a CPL-3 return
	push 0xA0000
	pushfq
	push 0x2B
	push user
here:
	iretq
user:
	hlt`
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(selData3), m.stack(0, 8), "#GP(SS selector)")
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
		require.Equal(t, uint64(selCode64), m.stack(2, 8), "still ring 0")
	})
}

// TestSyscallSysret: SYSCALL loads CS/SS from STAR[47:32], RIP from LSTAR,
// saves RIP in RCX and RFLAGS in R11, masks RFLAGS with FMASK; SYSRET
// returns to CPL 3 with CS = STAR[63:48]+16 (64-bit) and SS =
// STAR[63:48]+8 (SDM Vol. 2B SYSCALL, SYSRET "Operation").
func TestSyscallSysret(t *testing.T) {
	src := `
	mov rcx, user
	mov r11, 0x202
	o64 sysret
user:
	mov rbx, 0x77
	push rbx
	syscall
after:
	hlt
kernel:
	mov rdx, rsp
	hlt
`
	m := newMachine(t, modeLong64, 0)
	m.program(t, src)
	s := m.state()
	s.EFER |= arch.EFERSCE
	s.STAR = uint64(selCode32U)<<48 | uint64(selCode64)<<32
	s.LSTAR = labelAddr(t, 64, physCode, src, "kernel")
	s.FMASK = arch.FlagIF | arch.FlagDF
	s.GPR[arch.RSP] = physUStack
	m.set(s)
	m.expectDone(t)
	s = m.state()
	require.Equal(t, labelAddr(t, 64, physCode, src, "after"), s.GPR[arch.RCX], "RCX = return RIP")
	require.Equal(t, uint64(0x202), s.GPR[arch.R11]&0xFFF, "R11 = user RFLAGS")
	require.Zero(t, s.RFLAGS&arch.FlagIF, "FMASK cleared IF")
	require.Equal(t, uint16(selCode64), s.Seg[arch.CS].Selector)
	require.Equal(t, uint16(selData0), s.Seg[arch.SS].Selector)
	require.Equal(t, 0, s.CPL())
	require.Equal(t, uint64(physUStack-8), s.GPR[arch.RDX], "SYSCALL does not switch stacks")
	require.Equal(t, uint64(0x77), m.r64(physUStack-8))

	t.Run("SYSRET to compatibility mode", func(t *testing.T) {
		src := "mov rcx, user\nmov r11, 2\nsysret\nuser:\nbits 32\nmov eax, 5\npush eax\nhlt"
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		s := m.state()
		s.EFER |= arch.EFERSCE
		s.STAR = uint64(selCode32U) << 48
		s.GPR[arch.RSP] = physUStack
		m.set(s)
		m.expectVector(t, arch.VecGP) // HLT at CPL 3
		s = m.state()
		require.Equal(t, uint64(selCode32U|3), m.stack(2, 8), "CS = STAR[63:48]")
		require.Equal(t, uint64(selData3|3), m.stack(5, 8), "SS = STAR[63:48]+8")
		require.Equal(t, uint64(physUStack-4), m.stack(4, 8), "32-bit push on the user stack")
	})
	t.Run("SYSRET with a null kernel SS", func(t *testing.T) {
		// A kernel entered through an interrupt gate runs with a null SS
		// (6.14.4); SYSRET still gives ring 3 a usable flat SS.
		src := "mov rcx, user\nmov r11, 2\nsysret\nuser:\nbits 32\nmov eax, 5\npush eax\nhlt"
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		s := m.state()
		s.EFER |= arch.EFERSCE
		s.STAR = uint64(selCode32U) << 48
		s.GPR[arch.RSP] = physUStack
		s.Seg[arch.SS] = arch.Segment{Attr: arch.ARUnusable}
		m.set(s)
		m.expectVector(t, arch.VecGP) // HLT at CPL 3, not #SS from the push
		require.Equal(t, uint64(physUStack-4), m.stack(4, 8))
	})
	t.Run("SYSRET to a non-canonical RCX", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		src := "mov rcx, 0x0000800000000000\nhere: o64 sysret\nhlt"
		m.program(t, src)
		s := m.state()
		s.EFER |= arch.EFERSCE
		m.set(s)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(selCode64), m.stack(2, 8), "#GP at CPL 0")
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
	})
	t.Run("SYSCALL with EFER.SCE=0", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "here: syscall\nhlt")
		m.expectVector(t, arch.VecUD)
		require.Equal(t, uint64(physCode), m.stack(0, 8))
	})
}

// TestNonCanonical: in 64-bit mode a non-canonical data address raises
// #GP(0), or #SS(0) when the reference uses SS (RSP/RBP base, push/pop)
// (SDM Vol. 3A 3.3.7.1, 6.15 Interrupt 12/13).
func TestNonCanonical(t *testing.T) {
	cases := []struct {
		src string
		vec int
	}{
		{"mov rax, 0x0000800000000000\nhere: mov rbx, [rax]", arch.VecGP},
		{"mov rax, 0xFFFF7FFFFFFFFFF0\nhere: mov [rax], rbx", arch.VecGP},
		{"mov rbp, 0x0000800000000000\nhere: mov rbx, [rbp]", arch.VecSS},
		{"mov rax, 0x0000800000000000\nhere: mov rbx, [rsp+rax]", arch.VecSS},
		{"mov rax, 0x0000800000000000\nhere: mov rbx, [fs:rax]", arch.VecGP},
		{"mov rax, 0x00007FFFFFFFFFFC\nhere: mov rbx, [rax]", arch.VecGP}, // crosses into non-canonical
		{"mov rax, 0x0000800000000000\nhere: jmp rax", arch.VecGP},
		{"mov rax, 0xFFFF800000000000\nmov [rsp-8], rax\nhere: ret", -2}, // canonical target, not mapped: #PF
	}
	for _, tc := range cases {
		t.Run(tc.src, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			src := tc.src + "\nhlt"
			if tc.vec == -2 {
				src = "sub rsp, 8\n" + src
			}
			m.program(t, src)
			if tc.vec == -2 {
				m.expectVector(t, arch.VecPF)
				return
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(0), m.stack(0, 8), "error code 0")
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
		})
	}
	t.Run("push with non-canonical RSP is #SS", func(t *testing.T) {
		// The handler gets a good stack from IST1.
		m := newMachine(t, modeLong64, 0)
		lo, hi := gate64(selCode64, physStubs+12*stubSize, 0xE, 0, 1)
		m.setGate64(arch.VecSS, lo, hi)
		src := "mov rsp, 0x0000800000000008\nhere: push rax\nhlt"
		m.program(t, src)
		m.expectVector(t, arch.VecSS)
		require.Equal(t, uint64(0), m.stack(0, 8))
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
		require.Equal(t, uint64(0x0000800000000008), m.stack(4, 8), "RSP unchanged by the failed push")
	})
}

// TestSystemDescriptors64: in IA-32e mode LDT and TSS descriptors are 16
// bytes and must lie wholly within the GDT limit (SDM Vol. 3A 8.2.3; Vol.
// 2A LLDT/LTR "#GP(selector)"); LTR marks the TSS busy and loads the 64-bit
// base.
func TestSystemDescriptors64(t *testing.T) {
	for _, insn := range []string{"lldt", "ltr"} {
		t.Run(insn+" at the end of the GDT", func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			typ := uint8(0x82)
			if insn == "ltr" {
				typ = 0x89
			}
			m.setGDT(0xF8, desc(0x5000, 0x67, typ, 0))
			src := "mov ax, 0xF8\nhere: " + insn + " ax\nhlt"
			m.program(t, src)
			m.expectVector(t, arch.VecGP)
			require.Equal(t, uint64(0xF8), m.stack(0, 8))
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
		})
	}
	t.Run("ltr loads a 64-bit base and sets busy", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.setGDT(selFree, desc(0x5000, 0x67, 0x89, 0))
		m.w64(physGDT+selFree+8, 0x00007FFF)
		m.program(t, "mov ax, 0x58\nltr ax\nstr bx\nhlt")
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(0x00007FFF_00005000), s.TR.Base)
		require.Equal(t, uint16(selFree), s.TR.Selector)
		require.Equal(t, uint64(selFree), s.GPR[arch.RBX]&0xFFFF)
		require.Equal(t, uint64(0x8B), m.r64(physGDT+selFree)>>40&0xFF, "busy TSS type")
	})
	// A non-canonical descriptor base is #GP(selector) (Vol. 2A LTR/LLDT
	// 64-bit mode exceptions), checked against the maximum linear-address
	// width (the harness's model has no LA57: 48 bits).
	for _, insn := range []string{"ltr", "lldt"} {
		t.Run(insn+" rejects a non-canonical base", func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			typ := uint8(0x89)
			if insn == "lldt" {
				typ = 0x82
			}
			m.setGDT(selFree, desc(0x5000, 0x67, typ, 0))
			m.w64(physGDT+selFree+8, 0x12345678)
			m.program(t, "mov ax, 0x58\n"+insn+" ax\nhlt")
			m.expectVector(t, arch.VecGP)
			require.Equal(t, uint64(selFree), m.stack(0, 8), "error code: the selector")
		})
	}
}

package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// testPage is a 4-KiB page of the long-mode identity map that the paging
// tests remap or protect.
const testPage = 0x100000

// TestPageFault64: #PF error codes under 4-level paging (SDM Vol. 3A 4.7,
// Figure 4-12) for not-present, write-protect with CR0.WP, user access to
// a supervisor page, NX fetch, and a reserved bit; CR2 holds the linear
// address.
func TestPageFault64(t *testing.T) {
	cases := []struct {
		name string
		pte  uint64
		wp   bool
		user bool
		src  string
		code int
	}{
		{"read not present", 0, false, false, "here: mov rax, [0x100008]", 0},
		{"write not present", 0, false, false, "here: mov [0x100008], rax", arch.PFErrWR},
		{"write RO with WP", pteP | pteUS, true, false, "here: mov [0x100008], rax", arch.PFErrP | arch.PFErrWR},
		{"write RO without WP", pteP | pteUS, false, false, "here: mov [0x100008], rax", -1},
		{"user read of a supervisor page", pteP | pteRW, false, true, "here: mov rax, [0x100008]", arch.PFErrP | arch.PFErrUS},
		{"user write of RO user page (WP=0)", pteP | pteUS, false, true, "here: mov [0x100008], rax", arch.PFErrP | arch.PFErrWR | arch.PFErrUS},
		{"user read not present", 0, false, true, "here: mov rax, [0x100008]", arch.PFErrUS},
		{"NX fetch", pteP | pteRW | pteUS | pteNX, false, false, "here: mov rax, 0x100008\njmp rax", arch.PFErrP | arch.PFErrID},
		{"fetch not present (NXE: I/D set)", 0, false, false, "here: mov rax, 0x100008\njmp rax", arch.PFErrID},
		{"reserved bit", pteP | pteRW | pteUS | 1<<51, false, false, "here: mov rax, [0x100008]", arch.PFErrP | arch.PFErrRSVD},
		{"NX data read is fine", pteP | pteRW | pteUS | pteNX, false, false, "mov rax, [0x100008]", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			pte := tc.pte
			if pte != 0 {
				pte |= testPage
			}
			m.w64(pteAddr(testPage), pte)
			src := tc.src + "\nhlt"
			if tc.user {
				src = ring3Prologue + "user:\n" + src
			}
			m.program(t, src)
			if tc.wp {
				s := m.state()
				s.CR0 |= arch.CR0WP
				m.set(s)
			}
			if tc.code < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, arch.VecPF)
			require.Equal(t, uint64(tc.code), m.stack(0, 8), "error code")
			require.Equal(t, uint64(0x100008), m.state().CR2, "CR2")
			rip := labelAddr(t, 64, physCode, src, "here")
			if tc.code&arch.PFErrID != 0 {
				rip = 0x100008
			}
			require.Equal(t, rip, m.stack(1, 8), "RIP")
		})
	}
}

// TestAccessedDirty: the walk sets A on every entry it uses and D on the
// PTE of a written page (SDM Vol. 3A 4.8).
func TestAccessedDirty(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, "mov rax, [0x100000]\nmov [0x101000], rax\nhlt")
	m.expectDone(t)
	require.NotZero(t, m.r64(pteAddr(0x100000))&pteA, "A after a read")
	require.Zero(t, m.r64(pteAddr(0x100000))&pteD, "no D after a read")
	require.NotZero(t, m.r64(pteAddr(0x101000))&pteA)
	require.NotZero(t, m.r64(pteAddr(0x101000))&pteD, "D after a write")
	require.Zero(t, m.r64(pteAddr(0x102000))&(pteA|pteD), "untouched page")
	require.NotZero(t, m.r64(physPML4)&pteA)
	require.NotZero(t, m.r64(physPDPT)&pteA)
	require.NotZero(t, m.r64(physPD)&pteA)
}

// TestINVLPG: after changing a PTE, INVLPG makes the next access use the
// new translation (SDM Vol. 3A 4.10.4.1); so does a MOV to CR3.
func TestINVLPG(t *testing.T) {
	for _, flush := range []string{"invlpg [0x100000]", "mov rax, cr3\nmov cr3, rax"} {
		t.Run(flush, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.w64(0x100000, 0xAAAA)
			m.w64(0x105000, 0xBBBB)
			m.program(t, fmt.Sprintf(`
	mov rbx, [0x100000]                 ; fills the TLB
	mov qword [%#x], 0x105000|7         ; remap the page to frame 0x105000
	%s
	mov rcx, [0x100000]
	hlt`, pteAddr(0x100000), flush))
			m.expectDone(t)
			s := m.state()
			require.Equal(t, uint64(0xAAAA), s.GPR[arch.RBX])
			require.Equal(t, uint64(0xBBBB), s.GPR[arch.RCX])
		})
	}
	t.Run("INVLPG of a non-canonical address is a no-op", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "mov rax, 0x0000800000000000\ninvlpg [rax]\nhlt")
		m.expectDone(t)
	})
}

// TestSelfModifyingCode: a store into the page holding the executing code
// is seen by the next fetch (SDM Vol. 3A 11.6: the processor detects
// writes to code being executed), also through another linear alias of
// the same frame and from a REP STOS.
func TestSelfModifyingCode(t *testing.T) {
	t.Run("same block", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, `
	mov byte [rel patch+1], 0x42
patch:
	mov al, 0x11
	hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(0x42), m.state().GPR[arch.RAX]&0xFF)
	})
	t.Run("loop re-executes a patched instruction", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, `
	xor ebx, ebx
	mov ecx, 3
again:
patch:
	add ebx, 1
	mov byte [rel patch+2], 0x10     ; add ebx, 0x10 from now on
	loop again
	hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(1+0x10+0x10), m.state().GPR[arch.RBX])
	})
	t.Run("alias mapping", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		// Linear 0x100000 maps the code frame.
		m.w64(pteAddr(0x100000), physCode|pteP|pteRW)
		src := `
	mov rax, patch
	sub rax, 0x20000
	add rax, 0x100000
	mov byte [rax+1], 0x42
patch:
	mov bl, 0x11
	hlt`
		m.program(t, src)
		m.expectDone(t)
		require.Equal(t, uint64(0x42), m.state().GPR[arch.RBX]&0xFF)
	})
	t.Run("rep stosb over following code", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, `
	lea rdi, [rel target]
	mov al, 0x90                     ; NOPs over the UD2s
	mov ecx, 4
	rep stosb
target:
	ud2
	ud2
	mov edx, 7
	hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(7), m.state().GPR[arch.RDX])
	})
	t.Run("real mode", func(t *testing.T) {
		m := newMachine(t, modeReal, 0)
		m.program(t, `
	mov byte [cs:patch+1], 0x42
patch:
	mov al, 0x11
	hlt`)
		m.expectDone(t)
		require.Equal(t, uint64(0x42), m.state().GPR[arch.RAX]&0xFF)
	})
}

// TestPageCrossing: instructions and data that straddle a page boundary
// (SDM Vol. 3A 4.7: a fetch or access faults on the page it needs; CR2 is
// the address in the faulting page; no partial write happens).
func TestPageCrossing(t *testing.T) {
	t.Run("instruction across two pages", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		// mov rax, imm64 at 0x100FFC: 4 bytes in one page, 6 in the next.
		code := nasm(t, 64, 0x100FFC, "mov rax, 0x1122334455667788\nhlt")
		m.load(0x100FFC, code)
		s := m.state()
		s.RIP = 0x100FFC
		m.set(s)
		m.expectDone(t)
		require.Equal(t, uint64(0x1122334455667788), m.state().GPR[arch.RAX])
	})
	t.Run("second page not present", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		code := nasm(t, 64, 0x100FFC, "mov rax, 0x1122334455667788\nhlt")
		m.load(0x100FFC, code)
		m.w64(pteAddr(0x101000), 0)
		s := m.state()
		s.RIP = 0x100FFC
		m.set(s)
		m.expectVector(t, arch.VecPF)
		require.Equal(t, uint64(arch.PFErrID), m.stack(0, 8))
		require.Equal(t, uint64(0x101000), m.state().CR2)
		require.Equal(t, uint64(0x100FFC), m.stack(1, 8), "RIP at the instruction start")
	})
	t.Run("patched second half of a crossing instruction", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		code := nasm(t, 64, 0x100FFC, "mov rax, 0x1122334455667788\nhlt")
		m.load(0x100FFC, code)
		m.program(t, "mov rbx, 0x100FFC\ncall rbx\nmov byte [0x101005], 0x99\ncall rbx\nhlt")
		// Make the crossing instruction return: mov rax, imm64; ret.
		m.w8(0x100FFC+10, 0xC3)
		m.expectDone(t)
		require.Equal(t, uint64(0x9922334455667788), m.state().GPR[arch.RAX])
	})
	// A crossing instruction is decoded once and cached (codecache.go
	// decodeCrossing): a write to either of its frames, or a new
	// translation of its second page, must still be seen by the next
	// execution.
	t.Run("patched first half of a cached crossing instruction", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		code := nasm(t, 64, 0x100FFC, "mov rax, 0x1122334455667788\nhlt")
		m.load(0x100FFC, code)
		m.w8(0x100FFC+10, 0xC3)
		m.program(t, "mov rbx, 0x100FFC\ncall rbx\ncall rbx\nmov byte [0x100FFE], 0x99\ncall rbx\nhlt")
		m.expectDone(t)
		require.Equal(t, uint64(0x1122334455667799), m.state().GPR[arch.RAX])
	})
	t.Run("second page of a cached crossing instruction remapped", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		code := nasm(t, 64, 0x100FFC, "mov rax, 0x1122334455667788\nhlt")
		m.load(0x100FFC, code)
		m.w8(0x100FFC+10, 0xC3)
		// Frame 0x105000 holds another second half: the imm64's bytes 2-7
		// (48 B8 and two bytes are in the first page) 0xAA, then RET.
		for i := 0; i < 6; i++ {
			m.w8(0x105000+uint64(i), 0xAA)
		}
		m.w8(0x105006, 0xC3)
		m.program(t, fmt.Sprintf(`
	mov rbx, 0x100FFC
	call rbx
	call rbx
	mov qword [%#x], 0x105000|7
	invlpg [0x101000]
	call rbx
	hlt`, pteAddr(0x101000)))
		m.expectDone(t)
		require.Equal(t, uint64(0xAAAAAAAAAAAA7788), m.state().GPR[arch.RAX])
	})
	t.Run("data read across into a not-present page", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.w64(pteAddr(0x101000), 0)
		m.program(t, "here: mov rax, [0x100FFC]\nhlt")
		m.expectVector(t, arch.VecPF)
		require.Equal(t, uint64(0), m.stack(0, 8))
		require.Equal(t, uint64(0x101000), m.state().CR2)
	})
	t.Run("write across into a read-only page: no partial write", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.w64(pteAddr(0x101000), 0x101000|pteP|pteUS)
		m.program(t, "mov rax, -1\nhere: mov [0x100FFC], rax\nhlt")
		s := m.state()
		s.CR0 |= arch.CR0WP
		m.set(s)
		m.expectVector(t, arch.VecPF)
		require.Equal(t, uint64(arch.PFErrP|arch.PFErrWR), m.stack(0, 8))
		require.Equal(t, uint64(0x101000), m.state().CR2)
		require.Equal(t, uint32(0), m.r32(0x100FFC), "first page untouched")
	})
	t.Run("16-bit offset wrap at the segment limit", func(t *testing.T) {
		m := newMachine(t, modeReal, 0)
		m.program(t, "mov bx, 0xFFFF\nhere: mov ax, [bx]\nhlt")
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(3), m.stack(0, 2), "word at offset 0xFFFF exceeds the 64-KiB limit")
	})
}

// TestRepRestart: a fault in the middle of REP MOVS/STOS leaves RCX, RSI
// and RDI describing the elements still to do and RIP at the instruction,
// so returning from the handler completes it (SDM Vol. 2B REP "Operation",
// Vol. 1 7.3.9.1).
func TestRepRestart(t *testing.T) {
	src := `
	mov rsi, 0x100000
	mov rdi, 0x102000 - 0x10
	mov rcx, 0x40
	cld
here:
	rep movsb
	hlt
pfhandler:
	mov r8, rcx
	mov r9, rsi
	mov r10, rdi
	mov r11, cr2
	mov qword [%#x], 0x102000|7       ; make the page present
	invlpg [0x102000]
	add rsp, 8                         ; error code
	iretq
`
	src = fmt.Sprintf(src, pteAddr(0x102000))
	m := newMachine(t, modeLong64, 0)
	for i := 0; i < 0x40; i++ {
		m.w8(0x100000+uint64(i), byte(i+1))
	}
	m.w64(pteAddr(0x102000), 0)
	m.program(t, src)
	lo, hi := gate64(selCode64, labelAddr(t, 64, physCode, src, "pfhandler"), 0xE, 0, 0)
	m.setGate64(arch.VecPF, lo, hi)
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint64(0x30), s.GPR[arch.R8], "RCX at the fault: 0x10 elements done")
	require.Equal(t, uint64(0x100010), s.GPR[arch.R9], "RSI at the faulting element")
	require.Equal(t, uint64(0x102000), s.GPR[arch.R10], "RDI at the faulting element")
	require.Equal(t, uint64(0x102000), s.GPR[arch.R11], "CR2")
	require.Equal(t, uint64(0), s.GPR[arch.RCX])
	require.Equal(t, uint64(0x100040), s.GPR[arch.RSI])
	require.Equal(t, uint64(0x102030), s.GPR[arch.RDI])
	for i := 0; i < 0x40; i++ {
		require.Equal(t, byte(i+1), m.bus.ram[0x102000-0x10+i], "byte %d", i)
	}

	t.Run("rep stosd backwards", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.w64(pteAddr(0x100000), 0)
		m.program(t, "std\nmov rdi, 0x101008\nmov ecx, 8\nmov eax, 0x55AA55AA\nrep stosd\nhlt")
		m.expectVector(t, arch.VecPF)
		s := m.state()
		require.Equal(t, uint64(0x100FFC), s.CR2)
		require.Equal(t, uint64(0x100FFC), s.GPR[arch.RDI], "RDI at the faulting element")
		require.Equal(t, uint64(8-3), s.GPR[arch.RCX], "three dwords stored")
		require.Equal(t, uint32(0x55AA55AA), m.r32(0x101000))
	})
	t.Run("32-bit address size updates ECX/ESI/EDI", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.program(t, "mov rcx, 0xFFFFFFFF00000002\nmov rsi, 0x100000\nmov rdi, 0x101000\na32 rep movsb\nhlt")
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(0), s.GPR[arch.RCX], "ECX written: upper half cleared")
		require.Equal(t, uint64(0x101002), s.GPR[arch.RDI])
	})
}

// intrSource raises vector vec once the CPU has retired at least after
// instructions.
type intrSource struct {
	m     *machine
	after uint64
	vec   uint8
	acked bool
}

func (s *intrSource) Pending() bool {
	if s.m.c.Icount < s.after {
		s.m.c.KickInterrupt() // not yet: ask again (it raises no kick itself)
		return false
	}
	return !s.acked
}
func (s *intrSource) Ack() uint8 { s.acked = true; return s.vec }

// TestInterruptShadow: after STI (with IF=0) and after MOV SS / POP SS,
// interrupts are blocked until the next instruction completes (SDM Vol.
// 2B STI, MOV "Operation"; Vol. 3A 6.8.3).
func TestInterruptShadow(t *testing.T) {
	cases := []struct {
		name  string
		src   string
		if0   bool
		after uint64
		ret   string // label of the pushed RIP
	}{
		{"STI", "sti\nmov eax, 1\nret1: mov ebx, 2\nhlt", true, 0, "ret1"},
		{"MOV SS", "mov ax, ss\nmov ss, ax\nmov ecx, 1\nret1: mov ebx, 2\nhlt", false, 2, "ret1"},
		{"POP SS (32-bit)", "", false, 0, ""},
		{"POPF setting IF: no shadow", "push 0x202\npopfq\nret1: mov ebx, 2\nhlt", true, 0, "ret1"},
		{"pending with IF=1: before the first instruction", "ret1: mov ebx, 2\nhlt", false, 0, "ret1"},
	}
	for _, tc := range cases {
		if tc.src == "" {
			continue
		}
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.program(t, tc.src)
			s := m.state()
			if !tc.if0 {
				s.RFLAGS |= arch.FlagIF
			}
			m.set(s)
			m.c.SetInterruptSource(&intrSource{m: m, after: tc.after, vec: 0x30})
			m.expectVector(t, 0x30)
			require.Equal(t, labelAddr(t, 64, physCode, tc.src, tc.ret), m.stack(0, 8), "interrupted before")
			require.Equal(t, uint64(0), m.state().GPR[arch.RBX])
		})
	}
	t.Run("POP SS in 32-bit mode", func(t *testing.T) {
		src := "push ss\npop ss\nmov ecx, 1\nret1: mov ebx, 2\nhlt"
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		s := m.state()
		s.RFLAGS |= arch.FlagIF
		m.set(s)
		m.c.SetInterruptSource(&intrSource{m: m, after: 2, vec: 0x30})
		m.expectVector(t, 0x30)
		require.Equal(t, labelAddr(t, 32, physCode, src, "ret1"), m.stack(0, 4))
		require.Equal(t, uint64(1), m.state().GPR[arch.RCX])
	})
}

// TestSingleStep: with RFLAGS.TF=1 at the start of an instruction, a #DB
// trap follows it with DR6.BS=1; POPF that sets TF traps after the next
// instruction (SDM Vol. 3A 18.3.1.4, 18.2.3).
func TestSingleStep(t *testing.T) {
	src := `
	pushfq
	or qword [rsp], 0x100
	popfq
	mov eax, 1
ret1:
	mov ebx, 2
	hlt`
	m := newMachine(t, modeLong64, 0)
	m.program(t, src)
	m.expectVector(t, arch.VecDB)
	s := m.state()
	require.Equal(t, labelAddr(t, 64, physCode, src, "ret1"), m.stack(0, 8), "trap: RIP after the stepped instruction")
	require.Equal(t, uint64(1), s.GPR[arch.RAX])
	require.Equal(t, uint64(0), s.GPR[arch.RBX])
	require.NotZero(t, s.DR[6]&(1<<14), "DR6.BS")
	require.NotZero(t, m.stack(2, 8)&arch.FlagTF, "pushed RFLAGS.TF")
	require.Zero(t, s.RFLAGS&arch.FlagTF, "handler runs with TF=0")

	t.Run("every instruction traps", func(t *testing.T) {
		// A #DB handler that counts and returns: three single-stepped
		// instructions -> three traps.
		src := `
	pushfq
	or qword [rsp], 0x100
	popfq
	nop
	nop
	nop
	pushfq
	and qword [rsp], ~0x100
	popfq
	hlt
dbhandler:
	inc r15
	iretq`
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		lo, hi := gate64(selCode64, labelAddr(t, 64, physCode, src, "dbhandler"), 0xE, 0, 0)
		m.setGate64(arch.VecDB, lo, hi)
		m.expectDone(t)
		// Traps after: nop, nop, nop, pushfq, and, popfq (TF was set
		// when popfq began).
		require.Equal(t, uint64(6), m.state().GPR[arch.R15])
	})
}

// TestSMAPFollowsAC: with CR4.SMAP=1 a supervisor read of a user page is
// allowed only while RFLAGS.AC=1; clearing AC must take effect at once,
// whatever was cached before (SDM Vol. 3A 4.6.1).
func TestSMAPFollowsAC(t *testing.T) {
	src := `
	pushfq
	or dword [rsp], 0x40000
	popfq                      ; AC=1
	mov rax, [0x100000]        ; allowed
	pushfq
	and dword [rsp], ~0x40000
	popfq                      ; AC=0
here:
	mov rbx, [0x100000]        ; #PF(P)
	hlt`
	m := newMachine(t, modeLong64, 0)
	m.program(t, src)
	s := m.state()
	s.CR4 |= arch.CR4SMAP
	// Supervisor pages below 1 MiB, a user page at 0x100000.
	for pg := uint64(0); pg < 0x100000; pg += 0x1000 {
		m.w64(pteAddr(pg), pg|pteP|pteRW)
	}
	m.set(s)
	m.expectVector(t, arch.VecPF)
	require.Equal(t, uint64(arch.PFErrP), m.stack(0, 8))
	require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
}

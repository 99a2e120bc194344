package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// System-level tests in real-address and 32-bit protected mode. Expected
// values are derived from the SDM's "Operation" sections and exception
// tables cited in each case.

// TestRealModeIVT: INT n in real mode pushes FLAGS, CS, IP (IP of the next
// instruction), clears IF/TF/AC and jumps through the IVT entry; IRET pops
// them back (SDM Vol. 3A 20.1.4, Vol. 2A INT n / IRET "Operation").
func TestRealModeIVT(t *testing.T) {
	t.Run("delivery frame", func(t *testing.T) {
		m := newMachine(t, modeReal, 0)
		m.load(physCode, []byte{0xB8, 0x34, 0x12, 0xCD, 0x21, 0xF4}) // mov ax,0x1234; int 0x21; hlt
		s := m.state()
		s.RFLAGS |= arch.FlagIF | arch.FlagAC | arch.FlagCF
		m.set(s)
		m.expectVector(t, 0x21)
		s = m.state()
		require.Equal(t, uint64(0xFFFE-6), s.GPR[arch.RSP])
		require.Equal(t, uint64(5), m.stack(0, 2), "IP of the instruction after INT")
		require.Equal(t, uint64(physCode>>4), m.stack(1, 2), "CS")
		fl := m.stack(2, 2)
		require.NotZero(t, fl&arch.FlagIF, "pushed FLAGS keep IF")
		require.NotZero(t, fl&arch.FlagCF)
		require.Zero(t, s.RFLAGS&(arch.FlagIF|arch.FlagTF|arch.FlagAC), "IF, TF, AC cleared")
		require.NotZero(t, s.RFLAGS&arch.FlagCF, "CF unchanged")
		require.Equal(t, uint16(0), s.Seg[arch.CS].Selector)
		require.Equal(t, uint64(0), s.Seg[arch.CS].Base)
	})
	t.Run("handler and IRET", func(t *testing.T) {
		m := newMachine(t, modeReal, 0)
		m.program(t, `
	xor ax, ax
	mov es, ax
	mov word [es:0x22*4], handler
	mov word [es:0x22*4+2], cs
	stc
	int 0x22
	mov bx, 0x5555
	hlt
handler:
	mov cx, 0x7777
	clc
	iret
`)
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(0x5555), s.GPR[arch.RBX]&0xFFFF)
		require.Equal(t, uint64(0x7777), s.GPR[arch.RCX]&0xFFFF)
		require.Equal(t, uint64(0xFFFE), s.GPR[arch.RSP]&0xFFFF)
		require.NotZero(t, s.RFLAGS&arch.FlagCF, "IRET restores the pushed FLAGS (CF=1)")
	})
	t.Run("exceptions use the IVT without error code", func(t *testing.T) {
		m := newMachine(t, modeReal, 0)
		m.load(physCode, []byte{0x31, 0xD2, 0xF7, 0xF2, 0xF4}) // xor dx,dx; div dx (DX=0) -> #DE
		m.expectVector(t, arch.VecDE)
		require.Equal(t, uint64(2), m.stack(0, 2), "#DE is a fault: IP of the DIV")
		require.Equal(t, uint64(0xFFFE-6), m.state().GPR[arch.RSP], "no error code in real mode")
	})
	t.Run("IVT limit", func(t *testing.T) {
		// A vector beyond the IDTR limit raises #GP, a fault reported on
		// the INT instruction (SDM Vol. 2A INT n, real-address mode
		// "Operation"; Vol. 3A 20.1.4).
		m := newMachine(t, modeReal, 0)
		s := m.state()
		s.IDTR.Limit = 4*0x20 - 1
		m.set(s)
		m.load(physCode, []byte{0x90, 0xCD, 0x20, 0xF4})
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(1), m.stack(0, 2), "IP of the INT instruction")
		// With the limit below #GP's own entry, #GP cannot be delivered
		// either: contributory after contributory is #DF, whose entry is
		// also missing -> shutdown (SDM Vol. 3A 6.15 Table 6-5).
		m = newMachine(t, modeReal, 0)
		s = m.state()
		s.IDTR.Limit = 4*8 - 1
		m.set(s)
		m.load(physCode, []byte{0xCD, 0x20, 0xF4})
		require.Equal(t, cpu.StopShutdown, m.run(100))
		require.True(t, m.c.IsShutdown())
	})
}

// TestRealModeSegments: linear = selector*16 + offset, offsets wrap at
// 64 KiB, and A20 on lets FFFF:0010 reach 1 MiB (SDM Vol. 3A 20.1.1).
func TestRealModeSegments(t *testing.T) {
	m := newMachine(t, modeReal, 0)
	m.program(t, `
	mov ax, 0x1234
	mov ds, ax
	mov byte [0x10], 0xAB       ; 0x12350
	mov bx, 0xFFFF
	mov byte [bx+2], 0xCD       ; offset wraps to 1: 0x12341
	mov ax, 0xFFFF
	mov es, ax
	mov byte [es:0x10], 0xEF    ; 0x100000
	mov ax, 0x5000
	mov ss, ax
	mov sp, 0x0000
	push word 0x4242            ; SP wraps to 0xFFFE: 0x5FFFE
	hlt
`)
	m.expectDone(t)
	require.Equal(t, byte(0xAB), m.bus.ram[0x12350])
	require.Equal(t, byte(0xCD), m.bus.ram[0x12341])
	require.Equal(t, byte(0xEF), m.bus.ram[0x100000])
	require.Equal(t, uint16(0x4242), m.r16(0x5FFFE))
	require.Equal(t, uint64(0xFFFE), m.state().GPR[arch.RSP])
}

// TestUnrealMode: a data-segment limit loaded in protected mode stays in
// the hidden cache after returning to real mode, where segment loads only
// change selector and base (SDM Vol. 3A 20.1.1, 10.9.2); without it a
// 32-bit offset beyond 0xFFFF raises #GP (real mode: through the IVT).
func TestUnrealMode(t *testing.T) {
	src := `
	cli
	lgdt [cs:gdtr]
	mov eax, cr0
	or al, 1
	mov cr0, eax
	mov bx, 0x10           ; flat 4-GiB data
	mov fs, bx
	and al, 0xFE
	mov cr0, eax
	xor bx, bx
	mov fs, bx             ; real-mode load: base 0, limit kept
	mov esi, 0x200000
	mov byte [fs:esi], 0x5A
	hlt
gdtr:
	dw 32*8-1
	dd 0x1000
`
	m := newMachine(t, modeReal, 0)
	m.program(t, src)
	m.expectDone(t)
	require.Equal(t, byte(0x5A), m.bus.ram[0x200000])
	s := m.state()
	require.Equal(t, uint32(0xFFFFFFFF), s.Seg[arch.FS].Limit)
	require.Zero(t, s.CR0&arch.CR0PE)

	m = newMachine(t, modeReal, 0)
	m.program(t, `
	xor bx, bx
	mov fs, bx
	mov esi, 0x200000
	mov byte [fs:esi], 0x5A
	hlt
`)
	m.expectVector(t, arch.VecGP)
	require.Equal(t, uint64(2+2+6), m.stack(0, 2), "IP of the faulting store")
	require.Equal(t, byte(0), m.bus.ram[0x200000])
}

// TestProtectedModeSwitch: CR0.PE=1 then a far JMP loads CS from the GDT
// (SDM Vol. 3A 10.9.1).
func TestProtectedModeSwitch(t *testing.T) {
	m := newMachine(t, modeReal, 0)
	m.program(t, fmt.Sprintf(`
	cli
	lgdt [cs:gdtr]
	mov eax, cr0
	or eax, 1
	mov cr0, eax
	jmp dword 0x30:pm+%#x
bits 32
pm:
	mov ax, 0x10
	mov ds, ax
	mov ss, ax
	mov esp, 0x70000
	mov dword [0x80000], 0xCAFEBABE
	push dword 7
	hlt
gdtr:
	dw 32*8-1
	dd 0x1000
`, physCode))
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint16(selCode32), s.Seg[arch.CS].Selector)
	require.Equal(t, uint64(0), s.Seg[arch.CS].Base)
	require.Equal(t, uint32(0xFFFFFFFF), s.Seg[arch.CS].Limit)
	require.NotZero(t, s.Seg[arch.CS].Attr&arch.ARDB)
	require.Equal(t, uint32(0xCAFEBABE), m.r32(0x80000))
	require.Equal(t, uint64(0x70000-4), s.GPR[arch.RSP])
	require.Equal(t, uint32(7), m.r32(0x70000-4))
	// The processor sets the accessed bit of the descriptors it loads.
	require.NotZero(t, m.r64(physGDT+selCode32)&(1<<40))
}

// segCase is one MOV Sreg case of SDM Vol. 2B MOV "Protected Mode
// Exceptions".
type segCase struct {
	name string
	desc uint64 // descriptor placed at selFree (0: leave the slot empty)
	sel  uint16
	sreg string
	vec  int // -1: no fault
	code uint32
}

func TestProtectedSegmentLoads(t *testing.T) {
	const f = selFree
	cases := []segCase{
		{"SS null", 0, 0, "ss", arch.VecGP, 0},
		{"SS null with RPL", 0, 3, "ss", arch.VecGP, 0},
		{"SS RPL != CPL", desc(0, 0xFFFFF, accData0, flgG32), f | 3, "ss", arch.VecGP, f},
		{"SS read-only data", desc(0, 0xFFFFF, 0x91, flgG32), f, "ss", arch.VecGP, f},
		{"SS code", desc(0, 0xFFFFF, 0x9B, flgG32), f, "ss", arch.VecGP, f},
		{"SS DPL != CPL", desc(0, 0xFFFFF, accData3, flgG32), f, "ss", arch.VecGP, f},
		{"SS not present", desc(0, 0xFFFFF, 0x13, flgG32), f, "ss", arch.VecSS, f},
		{"SS beyond GDT limit", 0, 0x1F8, "ss", arch.VecGP, 0x1F8},
		{"SS valid", desc(0, 0xFFFFF, accData0, flgG32), f, "ss", -1, 0},
		{"DS null is allowed", 0, 0, "ds", -1, 0},
		{"DS not present", desc(0, 0xFFFFF, 0x13, flgG32), f, "ds", arch.VecNP, f},
		{"DS execute-only code", desc(0, 0xFFFFF, 0x99, flgG32), f, "ds", arch.VecGP, f},
		{"DS readable code", desc(0, 0xFFFFF, 0x9B, flgG32), f, "ds", -1, 0},
		{"DS system descriptor (LDT)", desc(0x5000, 0xFF, 0x82, 0), f, "ds", arch.VecGP, f},
		{"DS beyond GDT limit", 0, 0x1F8, "ds", arch.VecGP, 0x1F8},
		{"DS LDT selector without LDT", 0, 0x5C, "ds", arch.VecGP, 0x5C},
		{"DS RPL > DPL", desc(0, 0xFFFFF, accData0, flgG32), f | 3, "es", arch.VecGP, f},
		{"ES DPL 3 data at CPL 0", desc(0, 0xFFFFF, accData3, flgG32), f, "es", -1, 0},
		{"FS conforming code ignores RPL > DPL", desc(0, 0xFFFFF, 0x9F, flgG32), f | 3, "fs", -1, 0},
		{"GS not present, read-only", desc(0, 0xFFFFF, 0x11, flgG32), f, "gs", arch.VecNP, f},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeProt32, 0)
			if tc.desc != 0 {
				m.setGDT(selFree, tc.desc)
			}
			// mov ax, sel; mov sreg, ax; hlt
			m.program(t, fmt.Sprintf("mov ax, %#x\nmov %s, ax\nhlt", tc.sel, tc.sreg))
			if tc.vec < 0 {
				m.expectDone(t)
				if tc.sel&^3 != 0 {
					require.NotZero(t, m.r64(physGDT+uint64(tc.sel&^7))&(1<<40), "accessed bit set")
				}
				return
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(tc.code), m.stack(0, 4), "error code")
			require.Equal(t, uint64(physCode+4), m.stack(1, 4), "EIP of the MOV")
			require.Equal(t, uint64(selCode32), m.stack(2, 4), "CS")
		})
	}
}

// TestSegmentLimitViolations: a reference outside the limit, or a write
// to a read-only segment, raises #GP(0), or #SS(0) when it uses SS
// (SDM Vol. 3A 5.3, 5.4; 6.15 "Interrupt 12", "Interrupt 13").
func TestSegmentLimitViolations(t *testing.T) {
	const f = selFree
	cases := []struct {
		name  string
		setup string
		insn  string
		vec   int
	}{
		{"DS offset past limit", "mov ax, 0x58\nmov ds, ax", "mov eax, [0x1000]", arch.VecGP},
		{"DS access straddles limit", "mov ax, 0x58\nmov ds, ax", "mov eax, [0xFFE]", arch.VecGP},
		{"DS access at limit-3", "mov ax, 0x58\nmov ds, ax", "mov eax, [0xFFC]", -1},
		{"ESP-based read past the SS limit", "mov ax, 0x58\nmov ss, ax\nmov esp, 0x800", "mov eax, [esp+0x800]", arch.VecSS},
		{"EBP-based reference uses SS", "mov ax, 0x58\nmov ss, ax\nmov esp, 0x800\nmov ebp, 0x1000", "mov eax, [ebp]", arch.VecSS},
		{"DS override on EBP uses DS", "mov ax, 0x58\nmov ds, ax\nmov ebp, 0x1000", "mov eax, [ds:ebp]", arch.VecGP},
		{"ES for STOS", "mov ax, 0x58\nmov es, ax\nmov edi, 0x1000", "stosb", arch.VecGP},
		{"write through CS", "", "mov [cs:0x80000], eax", arch.VecGP},
		{"read-only data write", "mov ax, 0x60\nmov ds, ax", "mov [0x100], eax", arch.VecGP},
		{"read-only data read", "mov ax, 0x60\nmov ds, ax", "mov eax, [0x100]", -1},
		{"null DS reference", "xor eax, eax\nmov ds, ax", "mov eax, [0x100]", arch.VecGP},
		{"expand-down: below lower bound", "mov ax, 0x68\nmov ds, ax", "mov eax, [0x800]", arch.VecGP},
		{"expand-down: above limit", "mov ax, 0x68\nmov ds, ax", "mov eax, [0x100000]", -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeProt32, 0)
			m.setGDT(f, desc(0, 0xFFF, accData0, 0x4))      // byte-granular limit 0xFFF
			m.setGDT(f+8, desc(0, 0xFFFFF, 0x91, flgG32))   // read-only
			m.setGDT(f+16, desc(0, 0xFFF, 0x97, flgG32&^8)) // expand-down, B=1, limit 0xFFF
			pre := nasm(t, 32, physCode, tc.setup)
			m.program(t, tc.setup+"\n"+tc.insn+"\nhlt")
			if tc.vec < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(0), m.stack(0, 4), "error code 0")
			require.Equal(t, uint64(physCode+len(pre)), m.stack(1, 4), "EIP of the faulting instruction")
		})
	}
}

// TestPrivilegeChange32: IRETD to ring 3 pops EIP, CS, EFLAGS, ESP, SS and
// nulls data segment registers the new CPL may not use; INT n from ring 3
// through a DPL-3 gate switches to SS0:ESP0 from the 32-bit TSS and pushes
// SS, ESP, EFLAGS, CS, EIP (SDM Vol. 2A IRET "RETURN-TO-OUTER-PRIVILEGE-
// LEVEL"; Vol. 3A 6.12.1, Figure 6-4).
func TestPrivilegeChange32(t *testing.T) {
	src := `
	push dword 0x23          ; SS: data DPL 3
	push dword 0xA0000       ; ESP
	pushfd
	push dword 0x1B          ; CS: 32-bit code DPL 3
	push dword user
	iretd
user:
	mov ebx, ds              ; DS (DPL 0) was nulled
	mov ax, 0x23
	mov es, ax
	int 0x80
back:
	mov edx, 0x3333
	mov eax, [ds:0x80000]    ; null DS: #GP(0)
	hlt
handler80:
	mov ecx, 0x2222
	mov esi, esp
	mov edi, ss
	iretd
`
	m := newMachine(t, modeProt32, 0)
	m.program(t, src)
	m.setGate32(0x80, gate32(selCode32, uint32(labelAddr(t, 32, physCode, src, "handler80")), 0xE, 3))
	m.expectVector(t, arch.VecGP)
	s := m.state()
	require.Equal(t, uint64(0), s.GPR[arch.RBX], "DS nulled on the return to CPL 3")
	require.Equal(t, uint64(0x2222), s.GPR[arch.RCX])
	require.Equal(t, uint64(0x3333), s.GPR[arch.RDX])
	require.Equal(t, uint64(physStack0-20), s.GPR[arch.RSI], "ESP0 minus SS, ESP, EFLAGS, CS, EIP")
	require.Equal(t, uint64(selData0), s.GPR[arch.RDI], "SS0 from the TSS")
	require.Equal(t, uint64(0), m.stack(0, 4), "#GP(0) for the null DS")
	require.Equal(t, uint64(selCode32U|3), m.stack(2, 4))
	require.Equal(t, uint64(physUStack), m.stack(4, 4), "ring-3 ESP")
	require.Equal(t, uint64(selData3|3), m.stack(5, 4), "ring-3 SS")
	require.Equal(t, uint16(selData3|3), s.Seg[arch.ES].Selector, "ES (DPL 3) kept")

	t.Run("IRET beyond the CS limit", func(t *testing.T) {
		src := "pushfd\npush dword 0x48\npush dword 0x10000\nhere: iretd\nhlt"
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0), m.stack(0, 4))
		require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 4))
		require.Equal(t, uint64(selCode32), m.stack(2, 4))
	})
	t.Run("RETF beyond the CS limit", func(t *testing.T) {
		src := "push dword 0x48\npush dword 0x10000\nhere: retf\nhlt"
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(0), m.stack(0, 4))
		require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 4))
	})
	t.Run("RETF to ring 3", func(t *testing.T) {
		src := "push dword 0x23\npush dword 0xA0000\npush dword 0x1B\npush dword user\nretf\nuser:\nmov eax, 1\nhlt"
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, uint64(selCode32U|3), m.stack(2, 4))
		require.Equal(t, uint64(physUStack), m.stack(4, 4))
		require.Equal(t, uint64(1), m.state().GPR[arch.RAX])
	})
	t.Run("no TSS stack for the ring: #TS", func(t *testing.T) {
		src := ring3Prologue32 + "user:\nint 0x80\nhlt"
		m := newMachine(t, modeProt32, 0)
		m.w16(physTSS32+8, 0) // SS0 = null
		m.program(t, src)
		m.setGate32(0x80, gate32(selCode32, physStubs+0x80*stubSize, 0xE, 3))
		// #TS is delivered at ring 0 and needs SS0 too: with a null SS0
		// the #TS delivery faults again -> #DF -> #TS again -> shutdown.
		require.Equal(t, cpu.StopShutdown, m.run(100))
	})
}

// ring3Prologue32 enters 32-bit ring 3 at label user.
const ring3Prologue32 = `
	push dword 0x23
	push dword 0xA0000
	pushfd
	push dword 0x1B
	push dword user
	iretd
`

// TestEventStormEndsInBudget: a handler whose first fetch faults again
// (real mode, CS limit below the handler) loops forever on hardware; Run
// must still return when the budget is spent.
func TestEventStormEndsInBudget(t *testing.T) {
	m := newMachine(t, modeReal, 0)
	s := m.state()
	s.Seg[arch.CS].Limit = 0x10
	s.RIP = 0x20
	m.set(s)
	require.Equal(t, cpu.StopBudget, m.run(1000))
	require.False(t, m.c.IsShutdown())
}

// TestCodeSegmentLimitWithCachedBlock: the same code bytes reached through
// a code segment with a smaller limit fault at the first instruction past
// that limit, even though they were decoded before under a larger one
// (SDM Vol. 3A 5.3: every fetch is limit-checked).
func TestCodeSegmentLimitWithCachedBlock(t *testing.T) {
	src := `
	jmp blk
blk:
	nop
	nop
	inc edx
	jmp far [farptr]
farptr:
	dd blk
	dw 0x58
`
	m := newMachine(t, modeProt32, 0)
	m.program(t, src)
	blk := labelAddr(t, 32, physCode, src, "blk")
	m.setGDT(selFree, desc(0, uint32(blk+1), accCode0, 0x4))
	m.expectVector(t, arch.VecGP)
	require.Equal(t, uint64(1), m.state().GPR[arch.RDX], "INC past the limit did not run")
	require.Equal(t, blk+2, m.stack(1, 4), "EIP of the first instruction past the limit")
	require.Equal(t, uint64(selFree), m.stack(2, 4))
}

package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// Call gates (SDM Vol. 3A 5.8.3-5.8.6; Vol. 2A CALL and JMP "Operation":
// CALL-GATE, MORE-PRIVILEGE, SAME-PRIVILEGE; Vol. 2B RET
// "RETURN-TO-OUTER-PRIVILEGE-LEVEL").

// callGateDesc encodes a legacy call gate (SDM Vol. 3A 5.8.3, Figure 5-8):
// typ 0xC for a 32-bit gate, 0x4 for a 16-bit one.
func callGateDesc(sel uint16, off uint32, typ, dpl, params uint8, present bool) uint64 {
	p := uint64(0x80)
	if !present {
		p = 0
	}
	return uint64(off&0xFFFF) | uint64(sel)<<16 | uint64(params&0x1F)<<32 |
		(p|uint64(dpl)<<5|uint64(typ))<<40 | uint64(off>>16)<<48
}

// callGate64 encodes an IA-32e call gate (SDM Vol. 3A 5.8.3.1, Figure
// 5-9): 16 bytes, type 0xC, the upper half's type field 0.
func callGate64(sel uint16, off uint64, dpl uint8) (lo, hi uint64) {
	lo = callGateDesc(sel, uint32(off), 0xC, dpl, 0, true)
	return lo, off >> 32
}

// Test descriptors in the free GDT slots.
const (
	selGate     = selFree      // 0x58: the gate under test (16 bytes in IA-32e mode)
	selCodeNP   = selFree + 16 // 0x68: not-present code
	selCode1    = selFree + 24 // 0x70: DPL-1 code (32-bit; 64-bit in IA-32e tests)
	selData1    = selFree + 32 // 0x78: DPL-1 writable data
	selData1NP  = selFree + 40 // 0x80: DPL-1 data, not present
	selData1Lim = selFree + 48 // 0x88: DPL-1 data, byte-granular limit 0xFFF
	selGate2    = selFree + 56 // 0x90: a second gate
	physStack1  = 0x6D000      // ring-1 stack top (TSS ESP1/RSP1)
)

func gateGDT(m *machine, long bool) {
	flg := uint8(flgG32)
	if long {
		flg = flgG64
	}
	m.setGDT(selCodeNP, desc(0, 0xFFFFF, 0x1B, flgG32))
	m.setGDT(selCode1, desc(0, 0xFFFFF, 0xBB, flg))
	m.setGDT(selData1, desc(0, 0xFFFFF, 0xB3, flgG32))
	m.setGDT(selData1NP, desc(0, 0xFFFFF, 0x33, flgG32))
	m.setGDT(selData1Lim, desc(0, 0xFFF, 0xB3, 0x4))
	if long {
		m.w64(physTSS64+12, physStack1) // RSP1
	} else {
		m.w32(physTSS32+12, physStack1) // ESP1
		m.w16(physTSS32+16, selData1|1) // SS1
	}
}

// TestCallGate32: CALL from ring 3 through a DPL-3 32-bit call gate to a
// ring-0 non-conforming code segment switches to SS0:ESP0 from the TSS
// and builds the frame of Vol. 3A Figure 5-13 (caller SS, ESP, the gate's
// parameter count of parameters copied from the caller's stack, CS, EIP);
// RETF 8 returns to ring 3, releasing the parameters on both stacks and
// nulling DS (DPL 0).
func TestCallGate32(t *testing.T) {
	src := ring3Prologue32 + `
user:
	push dword 0x11111111    ; parameter 1
	push dword 0x22222222    ; parameter 0
	call 0x5B:0              ; gate, RPL 3; the offset is ignored
back:
	mov ebx, esp
	mov ecx, ss
	mov edx, cs
	mov esi, ds
	hlt                      ; #GP(0) at CPL 3 ends the test
handler:
	mov ax, 0x10
	mov ds, ax
	mov es, ax
	mov [0x80040], esp
	mov [0x80044], ss
	mov [0x80048], cs
	mov esi, esp
	mov edi, 0x80000
	mov ecx, 6
	cld
	rep movsd                ; the frame to physData
	retf 8
`
	m := newMachine(t, modeProt32, 0)
	gateGDT(m, false)
	m.program(t, src)
	h := labelAddr(t, 32, physCode, src, "handler")
	m.setGDT(selGate, callGateDesc(selCode32, uint32(h), 0xC, 3, 2, true))
	m.expectVector(t, arch.VecGP)
	s := m.state()
	require.Equal(t, uint32(physStack0-24), m.r32(physData+0x40), "handler ESP: ESP0 - (SS, ESP, 2 parameters, CS, EIP)")
	require.Equal(t, uint32(selData0), m.r32(physData+0x44)&0xFFFF, "SS0 from the TSS")
	require.Equal(t, uint32(selCode32), m.r32(physData+0x48)&0xFFFF, "CS = gate selector with RPL = new CPL 0")
	frame := []uint32{uint32(labelAddr(t, 32, physCode, src, "back")), selCode32U | 3, 0x22222222, 0x11111111, physUStack - 8, selData3 | 3}
	for i, want := range frame {
		require.Equal(t, want, m.r32(physData+uint64(4*i)), "frame slot %d", i)
	}
	require.Equal(t, uint64(physUStack), s.GPR[arch.RBX], "RETF 8 released the 2 parameters on the caller's stack")
	require.Equal(t, uint64(selData3|3), s.GPR[arch.RCX])
	require.Equal(t, uint64(selCode32U|3), s.GPR[arch.RDX])
	require.Equal(t, uint64(0), s.GPR[arch.RSI], "DS (DPL 0) nulled by the return to CPL 3")
}

// TestCallGate16: a 16-bit call gate pushes 16-bit values and copies
// 16-bit parameters; its entry point is 16 bits (Vol. 3A 5.8.5, Figure
// 5-13 with 2-byte slots; Vol. 2A CALL "CallGateSize = 16").
func TestCallGate16(t *testing.T) {
	src := ring3Prologue32 + `
user:
	push word 0x4444         ; parameter 0
	call 0x5B:0
handler:
	mov ax, 0x10
	mov ds, ax
	mov [0x80040], esp
	mov eax, [esp]
	mov [0x80000], eax       ; IP, CS
	mov eax, [esp+4]
	mov [0x80004], eax       ; parameter, SP
	mov ax, [esp+8]
	mov [0x80008], ax        ; SS
	hlt
`
	m := newMachine(t, modeProt32, 0)
	gateGDT(m, false)
	m.program(t, src)
	// The target segment starts at physCode so that the 16-bit entry
	// point reaches the handler; the gate's upper offset bits (0xABCD)
	// are not used.
	m.setGDT(selGate2, desc(physCode, 0xFFFFF, accCode0, flgG32))
	h := labelAddr(t, 32, 0, src, "handler")
	m.setGDT(selGate, callGateDesc(selGate2, uint32(h)|0xABCD0000, 0x4, 3, 1, true))
	m.expectDone(t)
	require.Equal(t, uint32(physStack0-10), m.r32(physData+0x40), "ESP0 - 5 words")
	require.Equal(t, uint16(labelAddr(t, 32, physCode, src, "handler")), m.r16(physData+0), "return IP (the instruction after the CALL)")
	require.Equal(t, uint16(selCode32U|3), m.r16(physData+2), "return CS")
	require.Equal(t, uint16(0x4444), m.r16(physData+4), "parameter")
	require.Equal(t, uint16((physUStack-2)&0xFFFF), m.r16(physData+6), "caller SP")
	require.Equal(t, uint16(selData3|3), m.r16(physData+8), "caller SS")
}

// TestCallGateSamePrivilege: CALL through a gate to a segment of the
// same privilege pushes only CS:EIP on the current stack, with the gate's
// size; JMP through a gate pushes nothing (Vol. 2A CALL SAME-PRIVILEGE,
// JMP CALL-GATE).
func TestCallGateSamePrivilege(t *testing.T) {
	t.Run("CALL ring 0 to ring 0", func(t *testing.T) {
		src := `
	call 0x58:0
back:
	hlt
handler:
	mov ebx, esp
	mov ecx, [esp]
	mov edx, [esp+4]
	retf
`
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		m.setGDT(selGate, callGateDesc(selCode32, uint32(labelAddr(t, 32, physCode, src, "handler")), 0xC, 0, 3, true))
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(physStack-8), s.GPR[arch.RBX], "no stack switch, no parameters copied")
		require.Equal(t, labelAddr(t, 32, physCode, src, "back"), s.GPR[arch.RCX])
		require.Equal(t, uint64(selCode32), s.GPR[arch.RDX])
		require.Equal(t, uint64(physStack), s.GPR[arch.RSP])
	})
	t.Run("CALL ring 3 to a DPL-0 conforming segment stays at CPL 3", func(t *testing.T) {
		src := ring3Prologue32 + `
user:
	call 0x5B:0
handler:
	mov ebx, esp
	mov ecx, cs
	mov edx, [esp+4]
	cli                      ; #GP(0): still CPL 3
`
		m := newMachine(t, modeProt32, 0)
		m.setGDT(selGate2, desc(0, 0xFFFFF, 0x9F, flgG32)) // conforming, DPL 0
		m.program(t, src)
		m.setGDT(selGate, callGateDesc(selGate2, uint32(labelAddr(t, 32, physCode, src, "handler")), 0xC, 3, 2, true))
		m.expectVector(t, arch.VecGP)
		s := m.state()
		require.Equal(t, uint64(physUStack-8), s.GPR[arch.RBX])
		require.Equal(t, uint64(selGate2|3), s.GPR[arch.RCX], "CS.RPL = CPL 3")
		require.Equal(t, uint64(selCode32U|3), s.GPR[arch.RDX])
	})
	t.Run("JMP through a gate", func(t *testing.T) {
		src := `
	jmp 0x58:0
	hlt
handler:
	mov ebx, esp
	mov ecx, cs
	hlt
`
		m := newMachine(t, modeProt32, 0)
		m.program(t, src)
		m.setGDT(selGate, callGateDesc(selCode32, uint32(labelAddr(t, 32, physCode, src, "handler")), 0xC, 0, 0, true))
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(physStack), s.GPR[arch.RBX])
		require.Equal(t, uint64(selCode32), s.GPR[arch.RCX])
	})
}

// gateFault is one faulting far transfer: the fault, its error code and
// the CS of the faulting instruction (the transfer must leave no trace).
type gateFault struct {
	name  string
	ring3 bool
	setup func(m *machine)
	src   string // after "user:" when ring3; "here" labels the transfer
	vec   int
	code  uint64
}

func runGateFaults(t *testing.T, mode sysMode, cases []gateFault) {
	bits, w, prologue, cs0, cs3 := 32, 4, ring3Prologue32, uint64(selCode32), uint64(selCode32U|3)
	if mode == modeLong64 {
		bits, w, prologue, cs0, cs3 = 64, 8, ring3Prologue, selCode64, selCode64U|3
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, mode, 0)
			gateGDT(m, mode == modeLong64)
			src := tc.src + "\nhlt\ntarget:\nhlt"
			cs := cs0
			if tc.ring3 {
				src = prologue + "user:\n" + src
				cs = cs3
			}
			m.program(t, src)
			if tc.setup != nil {
				tc.setup(m)
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, tc.code, m.stack(0, w), "error code")
			require.Equal(t, labelAddr(t, bits, physCode, src, "here"), m.stack(1, w), "faulting instruction")
			require.Equal(t, cs, m.stack(2, w), "CS unchanged")
			if tc.ring3 {
				require.Equal(t, uint64(physUStack), m.stack(4, w), "caller's stack unchanged")
			}
		})
	}
}

// TestCallGateFaults32: every check of the CALL/JMP CALL-GATE and
// MORE-PRIVILEGE paths in protected mode, with the error code the SDM
// assigns (Vol. 2A CALL/JMP "Operation" and "Protected Mode Exceptions").
func TestCallGateFaults32(t *testing.T) {
	gate := func(csel uint16, off uint32, typ, dpl, params uint8, present bool) func(m *machine) {
		return func(m *machine) { m.setGDT(selGate, callGateDesc(csel, off, typ, dpl, params, present)) }
	}
	tss := func(f func(m *machine)) func(m *machine) {
		return func(m *machine) {
			m.setGDT(selGate, callGateDesc(selCode1, physStubs, 0xC, 3, 2, true))
			f(m)
		}
	}
	runGateFaults(t, modeProt32, []gateFault{
		{"gate DPL < CPL", true, gate(selCode32, physStubs, 0xC, 0, 0, true), "here: call 0x5B:0", arch.VecGP, selGate},
		{"gate DPL < RPL", false, gate(selCode32, physStubs, 0xC, 0, 0, true), "here: call 0x5B:0", arch.VecGP, selGate},
		{"gate not present", false, gate(selCode32, physStubs, 0xC, 0, 0, false), "here: call 0x58:0", arch.VecNP, selGate},
		{"gate code selector null", false, gate(0, physStubs, 0xC, 0, 0, true), "here: call 0x58:0", arch.VecGP, 0},
		{"gate code selector outside the GDT", false, gate(0x1F8, physStubs, 0xC, 0, 0, true), "here: jmp 0x58:0", arch.VecGP, 0x1F8},
		{"gate code selector is data", false, gate(selData0, physStubs, 0xC, 0, 0, true), "here: call 0x58:0", arch.VecGP, selData0},
		{"gate code DPL > CPL", false, gate(selCode32U, physStubs, 0xC, 0, 0, true), "here: call 0x58:0", arch.VecGP, selCode32U},
		{"JMP through a gate to a more privileged segment", true, gate(selCode32, physStubs, 0xC, 3, 0, true), "here: jmp 0x5B:0", arch.VecGP, selCode32},
		{"gate code segment not present", false, gate(selCodeNP, physStubs, 0xC, 0, 0, true), "here: call 0x58:0", arch.VecNP, selCodeNP},
		{"entry point beyond the code segment limit", false, gate(selCode16, 0x10000, 0xC, 0, 0, true), "here: call 0x58:0", arch.VecGP, 0},
		{"TSS SS1 null", true, tss(func(m *machine) { m.w16(physTSS32+16, 0) }), "here: call 0x5B:0", arch.VecTS, 0},
		{"TSS SS1 outside the GDT", true, tss(func(m *machine) { m.w16(physTSS32+16, 0x1F9) }), "here: call 0x5B:0", arch.VecTS, 0x1F8},
		{"TSS SS1 RPL != new CPL", true, tss(func(m *machine) { m.w16(physTSS32+16, selData1) }), "here: call 0x5B:0", arch.VecTS, selData1},
		{"TSS SS1 DPL != new CPL", true, tss(func(m *machine) { m.w16(physTSS32+16, selData0|1) }), "here: call 0x5B:0", arch.VecTS, selData0},
		{"TSS SS1 is code", true, tss(func(m *machine) { m.w16(physTSS32+16, selCode1|1) }), "here: call 0x5B:0", arch.VecTS, selCode1},
		{"TSS SS1 not present", true, tss(func(m *machine) { m.w16(physTSS32+16, selData1NP|1) }), "here: call 0x5B:0", arch.VecSS, selData1NP},
		{"new stack has no room for the frame", true, tss(func(m *machine) {
			m.w16(physTSS32+16, selData1Lim|1)
			m.w32(physTSS32+12, 0x10) // 16 bytes, the frame needs 16 + 2*4
		}), "here: call 0x5B:0", arch.VecSS, selData1Lim},
		{"TSS too small for ESP1/SS1", true, tss(func(m *machine) {
			s := m.state()
			s.TR.Limit = 0x0B
			m.set(s)
		}), "here: call 0x5B:0", arch.VecTS, selTSS},
		{"LDT descriptor as far target", false, func(m *machine) { m.setGDT(selGate, desc(physData, 0xFF, 0x82, 0)) }, "here: call 0x58:0", arch.VecGP, selGate},
		{"busy TSS", false, nil, "here: jmp 0x38:0", arch.VecGP, selTSS},
		{"TSS DPL < CPL", true, func(m *machine) { m.setGDT(selGate, desc(physData, 0x67, 0x89, 0)) }, "here: call 0x5B:0", arch.VecGP, selGate},
		{"task gate not present", false, func(m *machine) { m.setGDT(selGate, uint64(selTSS)<<16|uint64(0x05)<<40) }, "here: jmp 0x58:0", arch.VecNP, selGate},
	})
}

// TestCallGate64: IA-32e mode call gates are 16 bytes and lead to 64-bit
// code; CALL to a more privileged level loads RSP from the 64-bit TSS and
// a null SS with RPL = new CPL, pushes SS, RSP, CS, RIP as 8-byte values
// and copies no parameters; RETFQ returns (Vol. 3A 5.8.3.1, 5.8.5; Vol.
// 2A CALL "CallGateSize = 64").
func TestCallGate64(t *testing.T) {
	t.Run("ring 3 to ring 0 and back", func(t *testing.T) {
		src := ring3Prologue + `
user:
	mov rbx, 0x5555
	call far dword [rel gptr]
back:
	mov rbx, rsp
	mov rcx, ss
	mov rdx, cs
	hlt                      ; #GP at CPL 3
handler:
	mov r8, rsp
	mov r9, ss
	mov r10, [rsp]
	mov r11, [rsp+8]
	mov r12, [rsp+16]
	mov r13, [rsp+24]
	mov r14, cs
	o64 retf
gptr:
	dd 0xDEADBEEF            ; ignored for a gate
	dw 0x5B
`
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		lo, hi := callGate64(selCode64, labelAddr(t, 64, physCode, src, "handler"), 3)
		lo |= 7 << 32 // the parameter count field is not used in IA-32e mode
		m.setGDT(selGate, lo)
		m.setGDT(selGate+8, hi)
		m.expectVector(t, arch.VecGP)
		s := m.state()
		require.Equal(t, uint64(physStack0-32), s.GPR[arch.R8], "RSP0 minus 4 slots, not aligned to 16 and no parameters")
		require.Equal(t, uint64(0), s.GPR[arch.R9], "SS = null selector with RPL = new CPL 0")
		require.Equal(t, labelAddr(t, 64, physCode, src, "back"), s.GPR[arch.R10])
		require.Equal(t, uint64(selCode64U|3), s.GPR[arch.R11])
		require.Equal(t, uint64(physUStack), s.GPR[arch.R12])
		require.Equal(t, uint64(selData3|3), s.GPR[arch.R13])
		require.Equal(t, uint64(selCode64), s.GPR[arch.R14])
		require.Equal(t, uint64(physUStack), s.GPR[arch.RBX])
		require.Equal(t, uint64(selData3|3), s.GPR[arch.RCX])
		require.Equal(t, uint64(selCode64U|3), s.GPR[arch.RDX])
	})
	t.Run("compatibility mode through a gate into 64-bit mode", func(t *testing.T) {
		src := `
	jmp dword far [rel cptr]
cptr:
	dd compat
	dw 0x30
bits 32
compat:
	mov esp, 0x70000
	call 0x58:0
bits 64
handler:
	mov rbx, rsp
	mov rcx, [rsp]
	mov rdx, [rsp+8]
	mov rax, 0x123456789
	hlt
`
		m := newMachine(t, modeLong64, 0)
		m.program(t, src)
		lo, hi := callGate64(selCode64, labelAddr(t, 64, physCode, src, "handler"), 0)
		m.setGDT(selGate, lo)
		m.setGDT(selGate+8, hi)
		m.expectDone(t)
		s := m.state()
		require.Equal(t, uint64(0x123456789), s.GPR[arch.RAX], "runs in 64-bit mode")
		require.Equal(t, uint64(physStack-16), s.GPR[arch.RBX], "same privilege: 8-byte CS and RIP on the current stack")
		require.Equal(t, labelAddr(t, 64, physCode, src, "handler"), s.GPR[arch.RCX], "return RIP (the instruction after the CALL)")
		require.Equal(t, uint64(selCode32), s.GPR[arch.RDX])
	})
}

// TestCallGateFaults64: the IA-32e-only gate checks (Vol. 3A 5.8.3.1;
// Vol. 2A CALL/JMP "64-Bit Mode Exceptions").
func TestCallGateFaults64(t *testing.T) {
	gate := func(sel uint16, csel uint16, off uint64, dpl uint8, hiOr uint64) func(m *machine) {
		return func(m *machine) {
			lo, hi := callGate64(csel, off, dpl)
			m.setGDT(sel, lo)
			m.w64(physGDT+uint64(sel)+8, hi|hiOr)
		}
	}
	runGateFaults(t, modeLong64, []gateFault{
		{"upper half type field not 0", false, gate(selGate, selCode64, physStubs, 0, 0xC<<40), "here: call far dword [rel p]\np: dd 0\ndw 0x58", arch.VecGP, selGate},
		{"16-byte gate beyond the GDT limit", false, gate(0xF8, selCode64, physStubs, 0, 0), "here: call far dword [rel p]\np: dd 0\ndw 0xF8", arch.VecGP, 0xF8},
		{"16-bit call gate type", false, func(m *machine) { m.setGDT(selGate, callGateDesc(selCode64, physStubs, 0x4, 0, 0, true)) }, "here: call far dword [rel p]\np: dd 0\ndw 0x58", arch.VecGP, selGate},
		{"32-bit TSS descriptor", false, nil, "here: jmp far dword [rel p]\np: dd 0\ndw 0x38", arch.VecGP, selTSS},
		{"gate DPL < CPL", true, gate(selGate, selCode64, physStubs, 0, 0), "here: call far dword [rel p]\np: dd 0\ndw 0x5B", arch.VecGP, selGate},
		{"target is 32-bit code", false, gate(selGate, selCode32, physStubs, 0, 0), "here: call far dword [rel p]\np: dd 0\ndw 0x58", arch.VecGP, selCode32},
		{"target has L and D set", false, func(m *machine) {
			m.setGDT(selGate2, desc(0, 0xFFFFF, accCode0, 0xE))
			gate(selGate, selGate2, physStubs, 0, 0)(m)
		}, "here: jmp far dword [rel p]\np: dd 0\ndw 0x58", arch.VecGP, selGate2},
		{"non-canonical entry point", false, gate(selGate, selCode64, 0x0000800000000000, 0, 0), "here: call far dword [rel p]\np: dd 0\ndw 0x58", arch.VecGP, 0},
		{"non-canonical RSP1 from the TSS", true, func(m *machine) {
			m.w64(physTSS64+12, 0x0000800000000010)
			gate(selGate, selCode1, physStubs, 3, 0)(m)
		}, "here: call far dword [rel p]\np: dd 0\ndw 0x5B", arch.VecSS, 0},
	})
}

var _ = fmt.Sprintf

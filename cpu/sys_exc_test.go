package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// TestExceptions32: delivery through a 32-bit IDT (SDM Vol. 3A 6.12.1,
// Figure 6-4 "no privilege change": EFLAGS, CS, EIP [, error code]);
// faults push the faulting EIP, traps the next one (Table 6-1).
func TestExceptions32(t *testing.T) {
	cases := []struct {
		name    string
		src     string
		vec     int
		hasErr  bool
		code    uint32
		eipFrom string // label whose address is the pushed EIP
	}{
		{"#DE fault", "xor edx, edx\nmov eax, 1\nxor ecx, ecx\nhere: div ecx\nhlt", arch.VecDE, false, 0, "here"},
		{"#DE quotient overflow", "mov edx, 2\nmov eax, 0\nmov ecx, 2\nhere: div ecx\nhlt", arch.VecDE, false, 0, "here"},
		{"#UD UD2", "nop\nhere: ud2\nhlt", arch.VecUD, false, 0, "here"},
		{"#UD LOCK with register", "nop\nhere: lock add eax, ebx\nhlt", arch.VecUD, false, 0, "here"},
		{"#UD MOV CS", "here: mov cs, ax\nhlt", arch.VecUD, false, 0, "here"},
		{"#UD VEX in 32-bit mode", "here: db 0xC5, 0xF8, 0x77\nhlt", arch.VecUD, false, 0, "here"},
		{"#BP trap", "int3\nhere: hlt", arch.VecBP, false, 0, "here"},
		{"#OF trap", "mov al, 0x7F\nadd al, 1\ninto\nhere: hlt", arch.VecOF, false, 0, "here"},
		{"INTO without OF", "into\nhlt", -1, false, 0, ""},
		{"INT n", "int 0x40\nhere: hlt", 0x40, false, 0, "here"},
		{"#GP selector error code", "mov ax, 0x1F8\nhere: mov ds, ax\nhlt", arch.VecGP, true, 0x1F8, "here"},
		{"#GP privileged at CPL 0 is fine", "mov eax, cr0\nhlt", -1, false, 0, ""},
		{"#GP bad MSR", "mov ecx, 0x12345\nhere: rdmsr\nhlt", arch.VecGP, true, 0, "here"},
		{"#GP 15-byte limit", "here: times 15 db 0x66\nnop\nhlt", arch.VecGP, true, 0, "here"},
		{"#GP near jump past CS limit", "mov ax, 0x48\nhere: jmp 0x48:0x10000\nhlt", arch.VecGP, true, 0, "here"},
		{"#NP far jump to not-present code", "here: jmp 0x58:0\nhlt", arch.VecNP, true, 0x58, "here"},
		{"#GP far jump to data", "here: jmp 0x10:0\nhlt", arch.VecGP, true, 0x10, "here"},
		{"#TS/#GP INT through a gate with DPL < CPL is fine at CPL 0", "int 0x41\nhere: hlt", 0x41, false, 0, "here"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeProt32, 0)
			m.setGDT(selFree, desc(0, 0xFFFFF, 0x1B, flgG32)) // not-present code
			m.setGate32(0x41, gate32(selCode32, physStubs+0x41*stubSize, 0xE, 0))
			m.program(t, tc.src)
			s := m.state()
			s.RFLAGS |= arch.FlagIF
			m.set(s)
			if tc.vec < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, tc.vec)
			at := labelAddr(t, 32, physCode, tc.src, tc.eipFrom)
			i := 0
			if tc.hasErr {
				require.Equal(t, uint64(tc.code), m.stack(0, 4), "error code")
				i = 1
			}
			require.Equal(t, at, m.stack(i, 4), "pushed EIP")
			require.Equal(t, uint64(selCode32), m.stack(i+1, 4), "pushed CS")
			require.NotZero(t, m.stack(i+2, 4)&arch.FlagIF, "pushed EFLAGS")
			require.Zero(t, m.state().RFLAGS&arch.FlagIF, "interrupt gate clears IF")
			n := 3
			if tc.hasErr {
				n = 4
			}
			require.Equal(t, uint64(physStack-4*n), m.state().GPR[arch.RSP])
		})
	}
}

// labelAddr assembles src with a marker to find the address of label.
func labelAddr(t testing.TB, bits int, org uint64, src, label string) uint64 {
	t.Helper()
	b := nasm(t, bits, org, src+fmt.Sprintf("\nalign 8, db 0\ndq %s\n", label))
	v := uint64(0)
	for i := 7; i >= 0; i-- {
		v = v<<8 | uint64(b[len(b)-8+i])
	}
	return v
}

// TestPageFault32: #PF error codes and CR2 under 32-bit paging (SDM Vol.
// 3A 4.7, Figure 4-12; I/D is set only with PAE+NXE or SMEP, so a fetch
// from a non-present page reports 0 here).
func TestPageFault32(t *testing.T) {
	const page = 0x100000
	cases := []struct {
		name  string
		pte   uint32
		cr0wp bool
		src   string
		code  int // -1: no fault
	}{
		{"read not present", 0, false, "here: mov eax, [0x100010]\nhlt", 0},
		{"write not present", 0, false, "here: mov dword [0x100010], 1\nhlt", arch.PFErrWR},
		{"write read-only, WP=1", pteP | pteUS, true, "here: mov dword [0x100010], 1\nhlt", arch.PFErrP | arch.PFErrWR},
		{"write read-only, WP=0: supervisor may write", pteP | pteUS, false, "here: mov dword [0x100010], 1\nhlt", -1},
		{"RMW read-only reports W", pteP | pteUS, true, "here: add dword [0x100010], 1\nhlt", arch.PFErrP | arch.PFErrWR},
		{"fetch not present (no I/D in 32-bit paging)", 0, false, "here: jmp 0x100010\nhlt", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeProt32, 0)
			m.identityMap32()
			m.w32(physPT32+(page>>12)*4, page|tc.pte)
			s := m.state()
			s.CR3 = physPD32
			s.CR0 |= arch.CR0PG
			if tc.cr0wp {
				s.CR0 |= arch.CR0WP
			}
			m.set(s)
			m.program(t, tc.src)
			if tc.code < 0 {
				m.expectDone(t)
				return
			}
			m.expectVector(t, arch.VecPF)
			require.Equal(t, uint64(tc.code), m.stack(0, 4), "error code")
			require.Equal(t, uint64(0x100010), m.state().CR2, "CR2")
			at := labelAddr(t, 32, physCode, tc.src, "here")
			if tc.name[:5] == "fetch" {
				at = 0x100010
			}
			require.Equal(t, at, m.stack(1, 4), "pushed EIP")
		})
	}
}

// TestDoubleAndTripleFault: a contributory exception while delivering a
// contributory one is #DF(0); a fault while delivering #DF is shutdown; a
// benign exception followed by a contributory one is delivered serially
// (SDM Vol. 3A 6.15, Tables 6-4 and 6-5).
func TestDoubleAndTripleFault(t *testing.T) {
	t.Run("#GP then #NP -> #DF", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.setGate32(arch.VecGP, gate32(selCode32, physStubs+13*stubSize, 0xE, 0)&^(1<<47)) // not present
		src := "mov ax, 0x1F8\nhere: mov ds, ax\nhlt"
		m.program(t, src)
		m.expectVector(t, arch.VecDF)
		require.Equal(t, uint64(0), m.stack(0, 4), "#DF error code is 0")
		require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 4), "EIP of the faulting instruction")
	})
	t.Run("#UD then #NP: serial", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.setGate32(arch.VecUD, gate32(selCode32, physStubs+6*stubSize, 0xE, 0)&^(1<<47))
		src := "here: ud2\nhlt"
		m.program(t, src)
		m.expectVector(t, arch.VecNP)
		require.Equal(t, uint64(6*8+2+1), m.stack(0, 4), "#NP error code: IDT entry, EXT=1")
		require.Equal(t, uint64(physCode), m.stack(1, 4))
	})
	t.Run("#PF then #PF -> #DF", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		// The #PF handler's stack is not present: delivery of #PF faults
		// with #PF.
		m.w64(pteAddr(0x100000), 0)
		m.w64(pteAddr(0x6F000-0x1000), 0)
		lo, hi := gate64(selCode64, physStubs+14*stubSize, 0xE, 0, 2)
		m.setGate64(arch.VecPF, lo, hi)
		m.w64(physTSS64+0x24+8, 0x6F000) // IST2 top: page 0x6E000 not present
		m.program(t, "mov rax, [0x100000]\nhlt")
		m.expectVector(t, arch.VecDF)
		require.Equal(t, uint64(0x6F000-0x1000+0xFF8), m.state().CR2, "CR2 of the second #PF")
	})
	t.Run("empty IDT: triple fault", func(t *testing.T) {
		for _, mode := range []sysMode{modeProt32, modeLong64} {
			m := newMachine(t, mode, 0)
			s := m.state()
			s.IDTR.Limit = 0
			m.set(s)
			m.load(physCode, []byte{0x0F, 0x0B}) // ud2
			require.Equal(t, cpu.StopShutdown, m.run(100), "%v", mode)
			require.True(t, m.c.IsShutdown())
			require.NotEmpty(t, m.c.ShutdownWhy)
			require.Equal(t, uint64(physCode), m.state().RIP, "RIP stays at the instruction")
		}
	})
	t.Run("#DF handler not present: triple fault", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.setGate32(arch.VecGP, 0)
		m.setGate32(arch.VecDF, 0)
		m.program(t, "mov ax, 0x1F8\nmov ds, ax\nhlt")
		require.Equal(t, cpu.StopShutdown, m.run(100))
		require.True(t, m.c.IsShutdown())
	})
}

// TestByteRegisterForms: without REX, byte-register numbers 4-7 are AH,
// CH, DH, BH, also as the source of MOVZX/MOVSX; with any REX they are
// SPL, BPL, SIL, DIL (SDM Vol. 2A 3.1.1.1, Table 3-1; 2.2.1.2).
func TestByteRegisterForms(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, `
	mov eax, 0x8234
	mov esp, 0x70055
	movzx ebx, ah          ; 0x82
	movsx ecx, ah          ; 0xFFFFFF82
	movzx edx, spl         ; REX: SPL = 0x55
	movsx si, ah           ; 66: 0xFF82
	mov r8d, 0x11223344
	movzx r9d, r8b
	mov esp, 0x70000
	hlt`)
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint64(0x82), s.GPR[arch.RBX])
	require.Equal(t, uint64(0xFFFFFF82), s.GPR[arch.RCX])
	require.Equal(t, uint64(0x55), s.GPR[arch.RDX])
	require.Equal(t, uint64(0xFF82), s.GPR[arch.RSI]&0xFFFF)
	require.Equal(t, uint64(0x44), s.GPR[arch.R9])
}

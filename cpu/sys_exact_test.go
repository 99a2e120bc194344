package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// Exactness cases a held-out third-party suite found (issue 19). Each
// expected value comes from the SDM; guests/exact is the same INVLPG
// program run side by side with QEMU.

// TestINVLPGNoSegmentChecks: outside 64-bit mode INVLPG forms its linear
// address as segment base plus offset and applies none of the segment
// checks a data access gets — limit, NULL selector, expand-down — since it
// accesses no memory: its only protected-mode exceptions are #GP(0) for
// CPL > 0 and #UD for a register operand (SDM Vol. 2A INVLPG, "Protected
// Mode Exceptions"). Each row's control is the same operand read with MOV,
// which does fault (Vol. 3A 5.3, 3.4.2), so the row shows INVLPG skipping
// a check that exists.
func TestINVLPGNoSegmentChecks(t *testing.T) {
	const (
		selSmall = selFree     // data, limit 0xFFF (bytes)
		selDown  = selFree + 8 // data, expand-down, limit 0xFFFF, B=1: offsets 0x10000..0xFFFFFFFF
	)
	cases := []struct {
		name, setup, operand string
		control              int // the vector MOV EAX, operand gives
		code                 uint32
	}{
		{"offset above the limit", "mov ax, 0x58\nmov ds, ax", "[0x5000]", arch.VecGP, 0},
		{"NULL selector in ES", "xor ax, ax\nmov es, ax", "[es:0x1000]", arch.VecGP, 0},
		{"expand-down, offset at or below the limit", "mov ax, 0x60\nmov ds, ax", "[0x100]", arch.VecGP, 0},
	}
	for _, tc := range cases {
		for _, insn := range []string{"invlpg", "mov eax,"} {
			t.Run(tc.name+"/"+insn, func(t *testing.T) {
				m := newMachine(t, modeProt32, 0)
				m.setGDT(selSmall, desc(0, 0xFFF, accData0, 0x4))
				m.setGDT(selDown, desc(0, 0xFFFF, 0x97, 0x4))
				src := tc.setup + "\nhere: " + insn + " " + tc.operand + "\nhlt"
				m.program(t, src)
				if insn == "invlpg" {
					m.expectDone(t)
					return
				}
				m.expectVector(t, tc.control)
				require.Equal(t, uint64(tc.code), m.stack(0, 4), "error code")
			})
		}
	}
}

// TestINVLPGLinearAddress: the page INVLPG invalidates is that of the
// linear address, segment base plus offset (SDM Vol. 2A INVLPG; Vol. 3A
// 3.4 "logical to linear"), here with DS based at 2 MiB: the stale
// translation of linear 0x300000 goes after INVLPG [0x100000] and a read
// sees the new page.
func TestINVLPGLinearAddress(t *testing.T) {
	const lin, newPage = 0x300000, 0x301000
	m := newMachine(t, modeProt32, 0)
	m.identityMap32()
	m.setGDT(selFree, desc(0x200000, 0xFFFFF, accData0, flgG32))
	m.w32(lin, 0x11111111)
	m.w32(newPage, 0x22222222)
	s := m.state()
	s.CR3 = physPD32
	s.CR0 |= arch.CR0PG
	m.set(s)
	m.program(t, `
	mov eax, [0x300000]          ; fills the TLB entry for linear 0x300000
	mov dword [0x15000+0x300*4], 0x301007 ; PTE of 0x300000 -> 0x301000
	mov bx, 0x58
	mov ds, bx
	invlpg [0x100000]            ; linear 0x200000 + 0x100000
	mov bx, 0x10
	mov ds, bx
	mov ecx, [0x300000]
	hlt`)
	m.expectDone(t)
	st := m.state()
	require.Equal(t, uint64(0x11111111), st.GPR[arch.RAX]&0xFFFFFFFF, "before INVLPG")
	require.Equal(t, uint64(0x22222222), st.GPR[arch.RCX]&0xFFFFFFFF, "after INVLPG of the linear address: the new page")
}

// TestICEBPNotPresentGateEXT: a #NP raised while delivering INT1 (ICEBP,
// F1) through a not-present IDT gate has EXT set — error code 1*8 + 2
// (IDT) + 1 (EXT) = 0x0B — because EXT is cleared only for the software
// interrupts INT n, INT3 and INTO (SDM Vol. 3A 6.13); INT 1 written as
// CD 01 and INT3 give EXT = 0 (0x0A, and 3*8 + 2 = 0x1A).
func TestICEBPNotPresentGateEXT(t *testing.T) {
	cases := []struct {
		name string
		vec  uint8
		src  string
		code uint32
	}{
		{"ICEBP (F1)", 1, "here: db 0xF1\nhlt", 0x0B},
		{"INT 1 (CD 01)", 1, "here: int 1\nhlt", 0x0A},
		{"INT3 (CC)", 3, "here: int3\nhlt", 0x1A},
	}
	for _, tc := range cases {
		for _, mode := range []sysMode{modeProt32, modeLong64} {
			t.Run(tc.name+"/"+mode.String(), func(t *testing.T) {
				m := newMachine(t, mode, 0)
				if mode == modeProt32 {
					m.setGate32(tc.vec, gate32(selCode32, physStubs+uint32(tc.vec)*stubSize, 0xE, 3)&^(1<<47))
				} else {
					lo, hi := gate64(selCode64, physStubs+uint64(tc.vec)*stubSize, 0xE, 3, 0)
					m.setGate64(tc.vec, lo&^(1<<47), hi)
				}
				m.program(t, tc.src)
				m.expectVector(t, arch.VecNP)
				w := 4
				if mode == modeLong64 {
					w = 8
				}
				require.Equal(t, uint64(tc.code), m.stack(0, w), "#NP error code")
			})
		}
	}
}

// TestSHLDSHRD16CountAbove16: a 16-bit SHLD/SHRD by 17-31 has an
// undefined result (SDM Vol. 2B SHLD/SHRD); Intel's P6 and later cores
// shift the 48-bit dest:src:dest (as Bochs and QEMU model them, citing
// the Intel behaviour). With AX=1234h, BX=5678h and a count of 20, that
// is 1234_5678_1234h: SHLD keeps bits 47:32 of it shifted left by 20 =
// 6781h with CF = bit 28 = 1; SHRD keeps bits 15:0 of it shifted right by
// 20 = 4567h with CF = bit 19 = 1. (Count mod 16 would give 2345h and
// 8123h.)
func TestSHLDSHRD16CountAbove16(t *testing.T) {
	for _, tc := range []struct {
		insn string
		res  uint64
		cf   bool
	}{
		{"shld ax, bx, cl", 0x6781, true},
		{"shld ax, bx, 20", 0x6781, true},
		{"shrd ax, bx, cl", 0x4567, true},
		{"shrd ax, bx, 20", 0x4567, true},
	} {
		t.Run(tc.insn, func(t *testing.T) {
			m := newMachine(t, modeProt32, 0)
			m.program(t, "mov eax, 0x1234\nmov ebx, 0x5678\nmov ecx, 20\n"+tc.insn+"\nhlt")
			m.expectDone(t)
			s := m.state()
			require.Equal(t, tc.res, s.GPR[arch.RAX]&0xFFFF, "result")
			require.Equal(t, tc.cf, s.RFLAGS&arch.FlagCF != 0, "CF")
		})
	}
}

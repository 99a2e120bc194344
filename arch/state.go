package arch

// Segment is a segment register: the visible selector and the hidden
// descriptor cache that the processor loads with it (SDM Vol. 3A, 3.4.3).
type Segment struct {
	Selector uint16
	Base     uint64
	Limit    uint32 // byte-granular effective limit
	Attr     uint32 // access rights, AR* bits
}

// DPL returns the descriptor privilege level held in the cache.
func (s *Segment) DPL() int { return int(s.Attr>>5) & 3 }

// DescTable is GDTR or IDTR: a base and a 16-bit limit.
type DescTable struct {
	Base  uint64
	Limit uint16
}

// State is the architectural state of one logical processor that other
// packages read and write (VMX saves and loads it, the debugger shows it).
// The interpreter keeps it in this form except for the arithmetic flags,
// which it evaluates lazily and materialises on demand.
type State struct {
	GPR    [16]uint64
	RIP    uint64
	RFLAGS uint64

	Seg  [NumSegs]Segment
	LDTR Segment
	TR   Segment
	GDTR DescTable
	IDTR DescTable

	CR0, CR2, CR3, CR4, CR8 uint64
	EFER                    uint64
	XCR0                    uint64
	DR                      [8]uint64 // DR0-DR3, DR6 at [6], DR7 at [7]
	// PKRU is the protection-key rights register for user pages (SDM
	// Vol. 3A 2.7, 4.6.2): AD_i is bit 2i, WD_i bit 2i+1. 0 at reset.
	PKRU uint32

	// MSR-backed state the core uses directly.
	// IA32_FS_BASE and IA32_GS_BASE are Seg[FS].Base and Seg[GS].Base
	// (SDM Vol. 3A 3.4.4.1).
	KernelGSBase                         uint64
	SysenterCS, SysenterESP, SysenterEIP uint64
	STAR, LSTAR, CSTAR, FMASK            uint64
	TSCAux                               uint64
	PAT                                  uint64
	APICBase                             uint64
	// PKRS is IA32_PKRS (MSR 6E1H), the protection-key rights for
	// supervisor pages (SDM Vol. 3A 4.6.2, Vol. 4): PKRU's layout in bits
	// 31:0, bits 63:32 reserved. 0 at reset.
	PKRS uint64
}

// CPL returns the current privilege level (SDM Vol. 3A 5.5): 0 in real
// mode, 3 in virtual-8086 mode, otherwise SS.DPL. The SDM keeps the CPL in
// bits 1:0 of the CS and SS selectors; SS can be loaded only with a
// descriptor whose DPL equals the CPL (5.7), so the hidden SS.DPL always
// holds it, while CS.DPL does not after a transfer to a conforming code
// segment of a more privileged level (5.8.1.2).
func (s *State) CPL() int {
	if s.CR0&CR0PE == 0 {
		return 0
	}
	if s.RFLAGS&FlagVM != 0 {
		return 3
	}
	return int(s.Seg[SS].Attr>>5) & 3
}

// LongMode reports whether IA-32e mode is active (EFER.LMA).
func (s *State) LongMode() bool { return s.EFER&EFERLMA != 0 }

// Mode64 reports whether the processor is in 64-bit mode (IA-32e mode with
// CS.L = 1).
func (s *State) Mode64() bool { return s.EFER&EFERLMA != 0 && s.Seg[CS].Attr&ARL != 0 }

// Canonical reports whether addr is canonical for the given linear-address
// width (48 or 57 bits) (SDM Vol. 1, 3.3.7.1).
func Canonical(addr uint64, width uint) bool {
	sh := 64 - width
	return uint64(int64(addr<<sh)>>sh) == addr
}

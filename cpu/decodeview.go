package cpu

import "github.com/vmxemu/vmxemu/arch"

// Decoded is the decoder's view of one instruction, for disassemblers
// (package arch/disasm): what the interpreter's own tables decided — the
// length, the fault the encoding raises, the opcode, the prefixes that
// counted, the operand and address sizes and the ModRM/SIB operands —
// without the handler. It is built by Decode, never in the run loop.
type Decoded struct {
	Len   int         // bytes, prefixes included
	Fault *arch.Fault // the fault the encoding alone raises (#UD, #GP(0) over 15 bytes), or nil
	Bits  int         // code-segment width the bytes were decoded for: 16, 32 or 64
	Name  string      // the opcode-table row's name ("" when no row matched)

	Map    int  // opcode map: 0 one-byte, 1 0F, 2 0F 38, 3 0F 3A
	Opcode byte // the last opcode byte

	HasModRM bool
	ModRM    byte
	Mod      int // ModRM.mod (3: register operand)
	Reg      int // ModRM.reg with REX.R (0-15)
	RM       int // ModRM.rm with REX.B (0-15; a register when Mod == 3)

	OpSize   int // operand size in bytes as the row fixes it (1, 2, 4, 8)
	AddrSize int // address size in bytes (2, 4, 8)

	Seg int // segment override (arch.ES..arch.GS), -1 for none
	// SegPrefix is the last segment-override prefix present, including
	// the CS/DS/ES/SS prefixes 64-bit mode ignores (-1: none).
	SegPrefix int
	Rep       byte // the last F2/F3 prefix, 0 for none
	Lock      bool
	Pfx66     bool // operand-size prefix present
	Pfx67     bool // address-size prefix present
	REX       byte // the REX prefix that applies (64-bit mode), 0 for none

	// The memory operand when Mod != 3 (or a moffs form): Base and Index
	// are register numbers or -1, Scale is 1, 2, 4 or 8, Disp is the
	// displacement sign-extended to 64 bits (zero-extended for 16-bit
	// addressing), RIPRel a RIP-relative form (Disp relative to the next
	// instruction).
	Base, Index int
	Scale       int
	Disp        uint64
	RIPRel      bool

	Imm  uint64 // the immediate (sign-extended where the encoding says so), rel offset, or far offset
	Imm2 uint64 // a second immediate: far selector, ENTER's level, SHLD/SHRD's count
}

// Decode decodes the instruction at the start of code for a code segment
// of the given width (16, 32 or 64 bits) with the interpreter's decoder.
// ok is false when code ends before the instruction does.
func Decode(code []byte, bits int) (Decoded, bool) {
	pkgTables.once.Do(func() { pkgTables.t = buildTables() })
	mode := modeOfBits(bits)
	if mode == mode64 {
		bits = 64
	}
	d := decoder{buf: code, mode: mode, seg: -1, segRaw: -1, t: pkgTables.t}
	var in Inst
	if !d.decode(&in) {
		return Decoded{}, false
	}
	v := Decoded{Len: int(in.len), Fault: in.fault, Bits: bits,
		Map: int(in.op >> 8), Opcode: byte(in.op),
		OpSize: int(in.opsz), AddrSize: int(in.adsz),
		Seg: d.seg, SegPrefix: d.segRaw, Rep: d.rep, Lock: d.lock, Pfx66: d.opsz66, Pfx67: d.adsz67, REX: d.rex,
		Disp: in.disp, RIPRel: in.ripRel, Imm: in.imm, Imm2: in.imm2,
		Base: -1, Index: -1, Scale: 1}
	if d.entry != nil {
		v.Name = d.entry.name
	}
	if d.hasModRM {
		m := d.modrmB
		v.HasModRM, v.ModRM = true, m
		v.Mod = int(m >> 6)
		v.Reg = int((m>>3)&7 | (d.rex>>2&1)<<3)
		v.RM = int(m&7 | (d.rex&1)<<3)
		if d.entry != nil && d.entry.f&fModIgnored != 0 {
			v.Mod = 3
		}
	} else {
		v.Mod = 3
	}
	if in.mod != 3 {
		if in.bmask != 0 {
			v.Base = int(in.base)
		}
		if in.scale != 0 {
			v.Index, v.Scale = int(in.index), int(in.scale)
		}
		if in.mod == 0 && !d.hasModRM {
			v.Mod = 0 // moffs
		}
	}
	if v.OpSize == 0 {
		// The decoder stopped before sizing (an invalid row): the
		// mode's default operand and address sizes.
		v.OpSize, v.AddrSize = 4, bits/8
		if bits == 16 {
			v.OpSize = 2
		}
	}
	return v, true
}

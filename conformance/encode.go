package conformance

// A small x86-64 encoder for the case generator: legacy prefixes, REX,
// opcode, ModRM/SIB/displacement (or RIP-relative), immediate.

const noReg = -1

// rmOp is the r/m operand: a register or a memory reference.
type rmOp struct {
	mem   bool
	reg   int    // register operand (mem == false)
	base  int    // base register, or noReg for RIP-relative
	index int    // index register or noReg
	scale uint8  // 0..3
	disp  int32  // displacement (recomputed for RIP-relative)
	dsz   int    // displacement size: 0, 1 or 4
	rip   uint64 // RIP-relative target address
}

// insn is one instruction to encode.
type insn struct {
	pfx      []byte // legacy prefixes, in order
	w        bool   // REX.W
	forceRex bool   // emit REX even if no bit is set (SPL..DIL, or a REX-prefixed variant)
	noRex    bool   // never emit REX (AH..BH operands)
	op       []byte // opcode bytes
	reg      int    // ModRM.reg (register or /digit); noReg when there is no ModRM
	rm       *rmOp  // nil when there is no ModRM
	opReg    int    // register in the opcode's low 3 bits, or noReg
	imm      []byte
}

// encode returns the instruction bytes.
func (in insn) encode() []byte {
	var rex byte
	if in.w {
		rex |= 8
	}
	if in.reg != noReg && in.reg&8 != 0 {
		rex |= 4
	}
	if in.opReg != noReg && in.opReg&8 != 0 {
		rex |= 1
	}
	if rm := in.rm; rm != nil {
		if rm.mem {
			if rm.index != noReg && rm.index&8 != 0 {
				rex |= 2
			}
			if rm.base != noReg && rm.base&8 != 0 {
				rex |= 1
			}
		} else if rm.reg&8 != 0 {
			rex |= 1
		}
	}
	b := append([]byte(nil), in.pfx...)
	if (rex != 0 || in.forceRex) && !in.noRex {
		b = append(b, 0x40|rex)
	}
	b = append(b, in.op...)
	if in.opReg != noReg {
		b[len(b)-1] |= byte(in.opReg & 7)
	}
	dispAt, dsz := -1, 0
	if rm := in.rm; rm != nil {
		r := byte(in.reg&7) << 3
		switch {
		case !rm.mem:
			b = append(b, 0xC0|r|byte(rm.reg&7))
		case rm.base == noReg: // RIP-relative
			b = append(b, 0x05|r)
			dispAt, dsz = len(b), 4
			b = append(b, 0, 0, 0, 0)
		default:
			d := rm.dsz
			if d == 0 && rm.base&7 == 5 { // RBP/R13 need a displacement
				d = 1
			}
			mod := map[int]byte{0: 0, 1: 0x40, 4: 0x80}[d]
			if rm.index != noReg || rm.base&7 == 4 {
				idx := byte(4) // none
				if rm.index != noReg {
					idx = byte(rm.index & 7)
				}
				b = append(b, mod|r|4, rm.scale<<6|idx<<3|byte(rm.base&7))
			} else {
				b = append(b, mod|r|byte(rm.base&7))
			}
			switch d {
			case 1:
				b = append(b, byte(rm.disp))
			case 4:
				b = append(b, byte(rm.disp), byte(rm.disp>>8), byte(rm.disp>>16), byte(rm.disp>>24))
			}
		}
	}
	b = append(b, in.imm...)
	if dispAt >= 0 && dsz == 4 {
		d := uint32(in.rm.rip - (CodeBase + uint64(len(b))))
		b[dispAt], b[dispAt+1], b[dispAt+2], b[dispAt+3] = byte(d), byte(d>>8), byte(d>>16), byte(d>>24)
	}
	return b
}

// le returns v as n little-endian bytes.
func le(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

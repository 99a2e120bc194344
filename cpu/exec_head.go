package cpu

// Heads: one or two register instructions in front of a fused setter+Jcc
// pair (exec_fused.go) run in the same entry of Run's fast path, such as
// kvm-unit-tests' access test's "mov edx, eax; and edx, 0x21000; cmp edx,
// 0x20000; je" (four instructions, one entry) or bench las's "add edx,
// 4; and edx, 0xffc; dec ecx; jnz".
//
// A head computes one value into one register: h = (src + i1) OP i2 into
// dst, OP one of ADD, AND, OR, XOR. Its instructions are
//
//   - a first one, "x = src + i1" into dst: MOV r,r (89 or 8B, i1 = 0),
//     LEA r,[base+disp] without index (i1 = disp), or ADD/SUB r,imm
//     (src = dst, i1 = ±imm); MOV and LEA may stand alone (OP ADD,
//     i2 = 0), ADD/SUB alone are a second one;
//   - and/or a second one, an ALU r,imm (ADD, SUB, AND, OR, XOR; SUB as
//     ADD of the negated immediate) or INC/DEC r (ADD of 1 or -1) on the
//     first's destination, or on any register when it stands alone (src
//     = dst, i1 = 0).
//
// A third kind of first instruction, OR r,r on the destination (x = dst
// | src, headOrFirst), comes only before a second one whose operation
// has handlers (gen_hot.go headOrOps: ADD, SUB and INC/DEC as ADD), as
// in access's "or eax, esi; add eax, 1; and eax, ecx; js".
//
// All are of the setter's operand size, 32 or 64 bits (LEA's address
// size no smaller: its address truncated to the operand size is then
// base + disp in it, SDM Vol. 2A LEA). None can fault, stop Run or read
// a flag, and neither value nor register they leave depends on being run
// in one step; only the flags they write could be seen: the setter
// writes all six status flags after them (SDM Vol. 1 Appendix A), except
// INC and DEC, which keep CF (SDM Vol. 2A INC, DEC). An INC/DEC setter
// therefore takes a head only when its last instruction is an ALU
// instruction other than SUB, whose CF the handler leaves for it (ADD's
// carry, or 0 after AND/OR/XOR); its other flags are dead. (INC/DEC as
// a head's last instruction keep CF as well, which the handler would not
// leave: they come only before setters that write CF.)
//
// The entry is the fused pair's entry (fusePair) with the head in fields
// a register-form setter does not use: base the destination, index the
// source, amask the immediates i1 (low half) and i2 (high half), each
// sign-extended from 32 bits; nret and pre count the head's instructions,
// len their bytes. Only the Jcc half can fault, and retireStopped reports
// it at the Jcc with everything before it retired, as for the pair. The
// handlers (headAddCmpRIJcc ...) and headHandler are generated into
// exec_head_gen.go by gen_hot.go.

// headPart describes a head or one of its instructions.
type headPart struct {
	dst, src uint8
	i1, i2   uint64
	op       uint8 // the ALU operation of the last instruction (aluADD for MOV and LEA)
	// or: the first instruction is OR dst, src (headOrFirst): x = dst |
	// src, i1 = 0.
	or bool
	// flags: the last instruction writes CF as op computes it (an ALU
	// instruction other than SUB).
	flags bool
}

// imm32OK reports whether v, a value of opsz bytes (4 or 8), is a 32-bit
// immediate sign-extended to that size, as the head keeps them.
func imm32OK(v uint64, opsz uint8) bool {
	return opsz == 4 || v == uint64(int64(int32(v)))
}

// headFirst classifies in as a head's first instruction of size opsz.
func headFirst(in *Inst, opsz uint8) (headPart, bool) {
	if in.fault != nil || in.lock || in.nret != 1 || in.opsz != opsz || (opsz != 4 && opsz != 8) {
		return headPart{}, false
	}
	switch {
	case (in.op == 0x89 || in.op == 0x8B) && in.mod == 3:
		p := headPart{dst: in.rm, src: in.reg, op: aluADD}
		if in.op == 0x8B {
			p.dst, p.src = in.reg, in.rm
		}
		return p, true
	case in.op == 0x8D && in.mod != 3 && in.scale == 0 && in.bmask == 0xFF && !in.ripRel && in.adsz >= opsz:
		// LEA r, [base + disp]: no index, a base register.
		return headPart{dst: in.reg, src: in.base & 15, i1: in.disp, op: aluADD}, imm32OK(in.disp, opsz)
	}
	if op, rr, ok := pairOp(in); ok && !rr && (op == aluADD || op == aluSUB) {
		// Followed by a second one: its flags are dead.
		p := headPart{dst: in.rm, src: in.rm, i1: in.imm, op: aluADD}
		if op == aluSUB {
			p.i1 = -in.imm
		}
		return p, imm32OK(p.i1, opsz)
	}
	return headPart{}, false
}

// headOrFirst classifies in as the first instruction of a head of size
// opsz that ORs a register into its destination, OR r/m, r (09 with mod
// = 3; SDM Vol. 2B OR): x = dst | src. Like the other first instructions
// it cannot fault, stop Run or read a flag, and the flags it writes are
// dead under the head's second instruction and the setter. Only some
// second operations have handlers (gen_hot.go headOrOps): fuseHead
// leaves the head out when headOrHandler has none.
func headOrFirst(in *Inst, opsz uint8) (dst, src uint8, ok bool) {
	if in.fault != nil || in.lock || in.nret != 1 || in.opsz != opsz || (opsz != 4 && opsz != 8) ||
		in.op != 0x09 || in.mod != 3 {
		return 0, 0, false
	}
	return in.rm, in.reg, true
}

// headSecond classifies in as a head's second instruction of size opsz
// (an ALU r,imm, or INC/DEC r as ADD of 1 or -1 that leaves CF alone):
// its register, operation and immediate in a headPart.
func headSecond(in *Inst, opsz uint8, mode uint8) (headPart, bool) {
	if k, r := fusedKind(in, mode); (k == fkInc || k == fkDec) && in.opsz == opsz && (opsz == 4 || opsz == 8) {
		p := headPart{dst: r, src: r, i2: 1, op: aluADD}
		if k == fkDec {
			p.i2 = ^uint64(0)
		}
		return p, true
	}
	op, rr, ok := pairOp(in)
	if !ok || rr || in.opsz != opsz || op == aluCMP {
		return headPart{}, false
	}
	p := headPart{dst: in.rm, src: in.rm, i2: in.imm, op: op, flags: op != aluSUB}
	if op == aluSUB {
		p.op, p.i2 = aluADD, -in.imm
	}
	return p, imm32OK(p.i2, opsz)
}

// headBefore finds the head at the end of insts (the instructions before
// a setter s of kind k): the head and its number of instructions, 0 when
// there is none.
func headBefore(insts []Inst, s *Inst, k int, mode uint8) (headPart, int) {
	n := len(insts)
	if n == 0 || s.opsz != 4 && s.opsz != 8 {
		return headPart{}, 0
	}
	unary := k == fkInc || k == fkDec
	if sec, ok := headSecond(&insts[n-1], s.opsz, mode); ok {
		if unary && !sec.flags {
			return headPart{}, 0
		}
		if n >= 2 {
			if f, ok := headFirst(&insts[n-2], s.opsz); ok && f.dst == sec.dst {
				sec.src, sec.i1 = f.src, f.i1
				return sec, 2
			}
			if dst, src, ok := headOrFirst(&insts[n-2], s.opsz); ok && dst == sec.dst && sec.src == dst && sec.i1 == 0 &&
				headOrHandler(sec.op, k, s.opsz, false) != nil {
				sec.src, sec.or = src, true
				return sec, 2
			}
		}
		return sec, 1
	}
	if unary {
		return headPart{}, 0
	}
	if f, ok := headFirst(&insts[n-1], s.opsz); ok {
		return f, 1
	}
	return headPart{}, 0
}

// fuseHead adds the head at the end of insts, the instructions before
// the setter s of the fused entry f (fusePair), to f; it reports the
// number of instructions it took (0: none).
func fuseHead(insts []Inst, s *Inst, f *Inst, mode uint8) int {
	k, _ := fusedKind(s, mode)
	if k == fkNone {
		return 0 // a memory CMP (fuseMemCmp): its fields hold its operand
	}
	p, n := headBefore(insts, s, k, mode)
	if n == 0 {
		return 0
	}
	h := headHandler(p.op, k, s.opsz, f.side)
	if p.or {
		h = headOrHandler(p.op, k, s.opsz, f.side)
	}
	if h == nil {
		return 0
	}
	first := &insts[len(insts)-n]
	f.fn = h
	f.pre = first.pre
	f.nret += uint8(n)
	for i := range insts[len(insts)-n:] {
		f.len += insts[len(insts)-n+i].len
	}
	f.base, f.index = p.dst, p.src
	f.amask = uint64(uint32(p.i1)) | uint64(uint32(p.i2))<<32
	return n
}

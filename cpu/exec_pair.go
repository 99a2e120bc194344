package cpu

// ALU pairs: ADD or SUB r,imm followed by a register-form ALU instruction
// (ADD, SUB, AND, OR, XOR, CMP with a register or immediate source) run
// as one entry of Run's fast path, like a fused setter+Jcc
// pair (exec_fused.go). The second writes all six status flags without
// reading them, and neither can fault or stop Run, so the first's lazy
// flag record is never observable: the entry computes the first's result
// only and records the second's flags exactly as its own handler does.
// The unfused instructions stay in block.insts for runSlow.
//
// The entry is a copy of the second instruction; the first is kept in
// fields a register-form ALU instruction does not use otherwise: jopsz
// is its register and imm2 the immediate it adds (negated for SUB).
//
// The pair handlers (pairAddRR ... storeCmpRI) and their selectors
// pairHandler and storePairHandler are generated into exec_pair_gen.go by
// gen_hot.go from its table of ALU operations.

// pairOp classifies in as a pairable register-form ALU instruction: its
// operation and whether its source is a register.
func pairOp(in *Inst) (op uint8, rr, ok bool) {
	if in.fault != nil || in.lock || in.mod != 3 || in.nret != 1 || (in.opsz != 4 && in.opsz != 8) {
		return 0, false, false
	}
	switch o := in.op; {
	case o < 0x40 && o&7 == 1:
		op, rr = uint8(o>>3), true
	case o == 0x81 || o == 0x83:
		op = in.sub
	default:
		return 0, false, false
	}
	if op == aluADC || op == aluSBB {
		return 0, false, false
	}
	return op, rr, true
}

// fuseALUPairs replaces adjacent pairable entries of fast (numbered, not
// yet fused) by pair entries; fast is a copy owned by the caller.
func fuseALUPairs(fast []Inst) []Inst {
	out := fast[:0]
	for i := 0; i < len(fast); i++ {
		a := fast[i]
		if i+1 < len(fast) && storePairable(&a, &fast[i+1]) {
			b := fast[i+1]
			op1, rr1, _ := pairOp(&a)
			f := b
			f.fn = storePairHandler(op1, rr1, b.opsz)
			f.len = a.len + b.len
			f.pre = a.pre
			f.nret = 2
			f.jlen = b.len
			f.rm, f.sub, f.imm = a.rm, a.reg, a.imm
			out = append(out, f)
			i++
			continue
		}
		if i+1 < len(fast) && pairable(&a, &fast[i+1]) {
			b := &fast[i+1]
			op2, rr2, _ := pairOp(b)
			f := *b
			f.fn = pairHandler(op2, rr2, b.opsz)
			f.len = a.len + b.len
			f.pre = a.pre
			f.nret = 2
			f.jopsz = a.rm
			f.imm2 = a.imm
			if a.sub == aluSUB {
				f.imm2 = -a.imm
			}
			out = append(out, f)
			i++
			continue
		}
		out = append(out, a)
	}
	return out
}

// pairable reports whether a and b form an ALU pair.
func pairable(a, b *Inst) bool {
	op1, rr1, ok1 := pairOp(a)
	_, _, ok2 := pairOp(b)
	return ok1 && ok2 && !rr1 && (op1 == aluADD || op1 == aluSUB) && a.opsz == b.opsz
}

// Store pairs: a register-form ALU instruction (as pairOp accepts)
// followed by MOV m,r (89) of the same size. The first runs in full, lazy
// flags included (the store can fault, and a fault shows its flags); the
// store is the only half that can fault or stop Run, as for a fused Jcc,
// and the entry points ripCur at it first. The entry is a copy of the
// store; the ALU instruction is kept in rm (destination), sub (source
// register) and imm, which a memory-form MOV does not use, and jlen is
// the store's length.

// storePairable reports whether a and b form a store pair.
func storePairable(a, b *Inst) bool {
	_, _, ok := pairOp(a)
	return ok && b.op == 0x89 && b.mod != 3 && b.fault == nil && !b.lock && b.nret == 1 && b.opsz == a.opsz
}

package cpu

import "unsafe"

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

func pairHandler(op uint8, rr bool, opsz uint8) handler {
	var h [4]handler
	if rr {
		switch op {
		case aluADD:
			h = v(nil, pairAddRR[uint32], pairAddRR[uint64])
		case aluSUB:
			h = v(nil, pairSubRR[uint32], pairSubRR[uint64])
		case aluAND:
			h = v(nil, pairAndRR[uint32], pairAndRR[uint64])
		case aluOR:
			h = v(nil, pairOrRR[uint32], pairOrRR[uint64])
		case aluXOR:
			h = v(nil, pairXorRR[uint32], pairXorRR[uint64])
		case aluCMP:
			h = v(nil, pairCmpRR[uint32], pairCmpRR[uint64])
		}
	} else {
		switch op {
		case aluADD:
			h = v(nil, pairAddRI[uint32], pairAddRI[uint64])
		case aluSUB:
			h = v(nil, pairSubRI[uint32], pairSubRI[uint64])
		case aluAND:
			h = v(nil, pairAndRI[uint32], pairAndRI[uint64])
		case aluOR:
			h = v(nil, pairOrRI[uint32], pairOrRI[uint64])
		case aluXOR:
			h = v(nil, pairXorRI[uint32], pairXorRI[uint64])
		case aluCMP:
			h = v(nil, pairCmpRI[uint32], pairCmpRI[uint64])
		}
	}
	return h[sizeIndex(opsz)]
}

func pairAddRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
}

func pairSubRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
}

func pairAndRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairOrRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairXorRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairCmpRR[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a - b
	setLazy(c, lzSub, a, b, r)
}

func pairAddRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
}

func pairSubRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
}

func pairAndRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairOrRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairXorRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func pairCmpRI[T word](c *CPU, in *Inst) {
	setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a - b
	setLazy(c, lzSub, a, b, r)
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

func storePairHandler(op uint8, rr bool, opsz uint8) handler {
	var h [4]handler
	if rr {
		switch op {
		case aluADD:
			h = v(nil, storeAddRR[uint32], storeAddRR[uint64])
		case aluSUB:
			h = v(nil, storeSubRR[uint32], storeSubRR[uint64])
		case aluAND:
			h = v(nil, storeAndRR[uint32], storeAndRR[uint64])
		case aluOR:
			h = v(nil, storeOrRR[uint32], storeOrRR[uint64])
		case aluXOR:
			h = v(nil, storeXorRR[uint32], storeXorRR[uint64])
		case aluCMP:
			h = v(nil, storeCmpRR[uint32], storeCmpRR[uint64])
		}
	} else {
		switch op {
		case aluADD:
			h = v(nil, storeAddRI[uint32], storeAddRI[uint64])
		case aluSUB:
			h = v(nil, storeSubRI[uint32], storeSubRI[uint64])
		case aluAND:
			h = v(nil, storeAndRI[uint32], storeAndRI[uint64])
		case aluOR:
			h = v(nil, storeOrRI[uint32], storeOrRI[uint64])
		case aluXOR:
			h = v(nil, storeXorRI[uint32], storeXorRI[uint64])
		case aluCMP:
			h = v(nil, storeCmpRI[uint32], storeCmpRI[uint64])
		}
	}
	return h[sizeIndex(opsz)]
}

func storeAddRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeSubRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeAndRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeOrRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeXorRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeCmpRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.sub)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeAddRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeSubRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeAndRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeOrRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeXorRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

func storeCmpRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	c.ripCur = c.RIP - uint64(in.jlen)
	// movMemReg's fast path, repeated (it is too large to inline).
	off := c.ea(in)
	lin, ok := c.linFast(in.seg, off, uint64(sizeOf[T]()))
	if c.codeMode == mode64 {
		lin, ok = c.linFast64(in.seg, off, uint64(sizeOf[T]()))
	}
	if ok {
		e := &c.tlb.write[tlbIndex(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
			return
		}
	}
	wrMiss(c, in.seg, off, getReg[T](c, in.reg))
}

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
	case o == 0x81 || o == 0x83 || o < 0x40 && o&7 == 5: // 05, 0D, ...: rAX,Iz (decode.go)
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
		if i+1 < len(fast) && loadPairable(&a, &fast[i+1]) {
			b := &fast[i+1]
			op2, rr2, _ := pairOp(b)
			out = append(out, memFirstPair(a, b, loadPairHandler(op2, rr2, a.opsz)))
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
// and its slow path points ripCur at it first. The entry is a copy of the
// store; the ALU instruction is kept in rm (destination), sub (source
// register) and imm, which a memory-form MOV does not use, and jlen is
// the store's length.

// storePairable reports whether a and b form a store pair.
func storePairable(a, b *Inst) bool {
	_, _, ok := pairOp(a)
	return ok && b.op == 0x89 && b.mod != 3 && b.fault == nil && !b.lock && b.nret == 1 && b.opsz == a.opsz
}

// Load pairs: MOV r,m (8B) followed by a register-form ALU instruction
// (as pairOp accepts) of the same size, such as "mov eax, [esi]; add eax,
// ecx". The load runs first with MOV's fast path inline; it is the only
// half that can fault or stop Run, and then the entry accounts as the
// load alone (CPU.firstHalfStop, retireStopped): the ALU half neither
// runs nor retires, RIP is the load's (fault) or its end (other stops).
// The entry is a copy of the load, whose memory operand it keeps; the
// ALU instruction is kept in rm (destination), sub (source register) and
// imm, which a memory-form MOV does not use, and jlen is its length.

// loadPairable reports whether a and b form a load pair.
func loadPairable(a, b *Inst) bool {
	_, _, ok := pairOp(b)
	return ok && a.op == 0x8B && a.mod != 3 && a.fault == nil && !a.lock && a.nret == 1 && a.opsz == b.opsz
}

// Move pairs: MOV r,r (89 or 8B with mod = 3) followed by a register-form
// ALU instruction (as pairOp accepts) of the same size, such as "mov ecx,
// eax; and ecx, 0x1ff". MOV changes no flag and neither half can fault or
// stop Run, so the entry runs both in order and the lazy flags are the
// ALU instruction's, as unfused. The entry is a copy of the ALU
// instruction; the MOV's destination is kept in base and its source in
// index, which a register-form ALU instruction does not use.

// movPairable reports whether a and b form a move pair.
func movPairable(a, b *Inst) bool {
	_, _, ok := pairOp(b)
	return ok && (a.op == 0x89 || a.op == 0x8B) && a.mod == 3 && a.fault == nil && !a.lock && a.nret == 1 && a.opsz == b.opsz
}

// Store-first pairs: MOV m,r (88, or 89 with a 32- or 64-bit operand)
// followed by a register-form ALU instruction (as pairOp accepts), such
// as sieve's "mov [rax], dl; add rax, 1". The store runs first with
// MOV's fast path inline (storeMiss for the rest); it is the only half that can fault or stop
// Run, and then the entry accounts as the store alone (CPU.firstHalfStop,
// as for a load pair): the ALU half neither runs nor retires, RIP is the
// store's (fault) or its end (other stops, such as a write to a code
// page). The entry is a copy of the store, whose memory operand it keeps;
// the ALU instruction is kept in rm (destination), sub (source register)
// and imm, which a memory-form MOV does not use, and jlen is its length.

// storeFirstPairable reports whether a and b form a store-first pair.
func storeFirstPairable(a, b *Inst) bool {
	_, _, ok := pairOp(b)
	return ok && (a.op == 0x88 || a.op == 0x89 && a.opsz >= 4) && a.mod != 3 && a.fault == nil && !a.lock && a.nret == 1
}

// storeMiss is the rest of a store-first pair's MOV m,r half at offset
// off, after its fast path (TLB hit within the page, inline in the pair
// handlers) missed. RIP is the entry's end on the fast path (the
// displacement of a RIP-relative store is corrected for it at fusion)
// and the store's end here, as for the store alone. It reports false
// when the store stopped the entry (firstHalfStop).
func storeMiss[S word](c *CPU, in *Inst, off uint64) bool {
	c.RIP -= uint64(in.jlen)
	if !wrMiss(c, in.seg, off, getReg[S](c, in.reg)) || c.stop {
		c.firstHalfStop = true
		return false
	}
	c.RIP += uint64(in.jlen)
	return true
}

// fuseMorePairs replaces adjacent move-, store-first-, copy- and
// INC/DEC-pairable entries of fast (the fast list fastInsts built from insts so far;
// entries already fused, nret != 1, stay as they are) by pair entries, in
// a copy when fast is insts itself.
func fuseMorePairs(insts, fast []Inst) []Inst {
	i := 0
	for ; i+1 < len(fast); i++ {
		if movPairable(&fast[i], &fast[i+1]) || storeFirstPairable(&fast[i], &fast[i+1]) ||
			copyPairable(&fast[i], &fast[i+1]) || loadLoadPairable(&fast[i], &fast[i+1]) ||
			storeStorePairable(&fast[i], &fast[i+1]) || incDecPairable(&fast[i], &fast[i+1]) || shiftPairAt(fast, i) > 0 ||
			testCmovPairable(&fast[i], &fast[i+1]) || regMovPairable(&fast[i], &fast[i+1]) || loadMovPairable(&fast[i], &fast[i+1]) {
			break
		}
	}
	if i+1 >= len(fast) {
		return fast
	}
	if len(insts) > 0 && &fast[0] == &insts[0] {
		fast = append([]Inst(nil), fast...)
	}
	out := fast[:i]
	for ; i < len(fast); i++ {
		if n := shiftPairAt(fast, i); n > 0 {
			out = append(out, shiftPair(fast[i:i+n]))
			i += n - 1
			continue
		}
		if i+1 < len(fast) && testCmovPairable(&fast[i], &fast[i+1]) {
			out = append(out, testCmovPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && movPairable(&fast[i], &fast[i+1]) {
			a, b := &fast[i], fast[i+1]
			op2, rr2, _ := pairOp(&b)
			f := b
			f.fn = movPairHandler(op2, rr2, b.opsz)
			f.len = a.len + b.len
			f.pre = a.pre
			f.nret = 2
			f.base, f.index = a.rm, a.reg // 89: MOV r/m, r
			if a.op == 0x8B {
				f.base, f.index = a.reg, a.rm // 8B: MOV r, r/m
			}
			out = append(out, f)
			i++
			continue
		}
		if i+1 < len(fast) && storeFirstPairable(&fast[i], &fast[i+1]) {
			a, b := fast[i], &fast[i+1]
			op2, rr2, _ := pairOp(b)
			out = append(out, memFirstPair(a, b, storeFirstHandler(op2, rr2, a.opsz, b.opsz)))
			i++
			continue
		}
		if i+1 < len(fast) && copyPairable(&fast[i], &fast[i+1]) {
			out = append(out, copyPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && loadLoadPairable(&fast[i], &fast[i+1]) {
			out = append(out, loadLoadPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && storeStorePairable(&fast[i], &fast[i+1]) {
			out = append(out, storeStorePair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && incDecPairable(&fast[i], &fast[i+1]) {
			out = append(out, incDecPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && regMovPairable(&fast[i], &fast[i+1]) {
			out = append(out, regMovPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		if i+1 < len(fast) && loadMovPairable(&fast[i], &fast[i+1]) {
			out = append(out, loadMovPair(&fast[i], &fast[i+1]))
			i++
			continue
		}
		out = append(out, fast[i])
	}
	return out
}

// memFirstPair is the entry for a memory-operand instruction a (a load,
// or a store-first pair's store) followed by the register-form ALU
// instruction b, run by fn: a copy of a, whose memory operand it keeps,
// with b kept in rm (destination), sub (source register) and imm, which
// a memory-form MOV does not use, and jlen b's length.
func memFirstPair(a Inst, b *Inst, fn handler) Inst {
	f := a
	f.fn = fn
	f.len = a.len + b.len
	f.pre = a.pre
	f.nret = 2
	f.jlen = b.len
	f.rm, f.sub, f.imm = b.rm, b.reg, b.imm
	if f.ripRel {
		// The entry runs with RIP at the end of both halves: a's
		// RIP-relative displacement is from its own end (SDM Vol. 2A
		// 2.2.1.6), b.len earlier.
		f.disp -= uint64(b.len)
	}
	return f
}

// Copy pairs: MOV r,m (8A, 8B) followed by MOV m,r (88, 89) of the same
// size whose memory operand is a base register and a displacement (no
// index, not RIP-relative) with the load's address size, such as the
// byte copy "mov al, [rsi]; mov [rdi], al". Either half can fault or
// stop Run. The load runs first, as in a load pair: a stop there ends
// the entry as the load alone (CPU.firstHalfStop). The store's slow path
// runs with ripCur at it, as in a store pair: a fault there is reported
// at the store with the load retired. The entry is a copy of the load, whose
// memory operand it keeps; the store's base register is kept in rm,
// its segment in sub, its displacement in imm and its source register
// in jopsz (fields a memory-form MOV does not use), and jlen is its
// length.

// copyPairable reports whether a and b form a copy pair.
func copyPairable(a, b *Inst) bool { return movMemPairable(a, true, b, false) }

// copyPair is the entry for the copy pair a, b (copyPairable).
func copyPair(a, b *Inst) Inst { return movMemPair(a, b, copyPairHandler(a.opsz)) }

// movMem reports whether in is an unfused MOV between a register and
// memory without a decode fault or LOCK: a load (8A, 8B) when load, a
// store (88, 89) otherwise.
func movMem(in *Inst, load bool) bool {
	mov := in.op == 0x88 || in.op == 0x89
	if load {
		mov = in.op == 0x8A || in.op == 0x8B
	}
	return mov && in.mod != 3 && in.fault == nil && !in.lock && in.nret == 1
}

// movMemPairable reports whether a (a load when aLoad, else a store) and
// b (likewise) form one of the memory MOV pairs (copy, load-load,
// store-store): the same operand and address sizes, b's memory operand a
// base register and a displacement (no index, not RIP-relative).
func movMemPairable(a *Inst, aLoad bool, b *Inst, bLoad bool) bool {
	return movMem(a, aLoad) && movMem(b, bLoad) &&
		a.opsz == b.opsz && a.adsz == b.adsz && b.bmask != 0 && b.scale == 0 && !b.ripRel
}

// movMemPair is the entry with handler fn for the memory MOV pair a, b
// (movMemPairable), laid out as the comments above say: a copy of a,
// with b's base register in rm, its segment in sub, its displacement in
// imm, its register in jopsz and its length in jlen.
func movMemPair(a, b *Inst, fn handler) Inst {
	f := *a
	f.fn = fn
	f.len = a.len + b.len
	f.pre = a.pre
	f.nret = 2
	f.jlen = b.len
	f.rm, f.sub, f.imm, f.jopsz = b.base, b.seg, b.disp, b.reg
	if f.ripRel {
		// As in memFirstPair: a's displacement is from its own end,
		// b.len before the entry's.
		f.disp -= uint64(b.len)
	}
	return f
}

// Load-load pairs: MOV r,m (8A, 8B) followed by MOV r,m of the same
// size whose memory operand is a base register and a displacement (no
// index, not RIP-relative) with the first's address size, such as the
// stack-frame loads "mov rax, [rbp-0x18]; mov rdx, [rbp-0x20]". Either
// half can fault or stop Run. The first runs as in a load pair: a stop
// there ends the entry as the first load alone (CPU.firstHalfStop). The
// second's slow path runs with ripCur at it: a fault there is reported at
// the second load with the first retired. The second's address is
// computed after the first load, which may have written its base
// register. The entry is a copy of the first, whose memory operand it
// keeps; the second's base register is kept in rm, its segment in sub,
// its displacement in imm and its destination register in jopsz (fields
// a memory-form MOV does not use), and jlen is its length.

// loadLoadPairable reports whether a and b form a load-load pair.
func loadLoadPairable(a, b *Inst) bool { return movMemPairable(a, true, b, true) }

// loadLoadPair is the entry for the load-load pair a, b
// (loadLoadPairable).
func loadLoadPair(a, b *Inst) Inst { return movMemPair(a, b, loadLoadPairHandler(a.opsz)) }

// Store-store pairs: MOV m,r (88, 89) followed by MOV m,r of the same
// size whose memory operand is a base register and a displacement (no
// index, not RIP-relative) with the first's address size, such as the
// stack-frame stores "mov [rbp-0x18], rdi; mov [rbp-0x20], rsi". Either
// half can fault or stop Run. The first runs as a store-first pair's
// store (storeMiss): a stop there, a write to a code page among them,
// ends the entry as the first store alone (CPU.firstHalfStop), so the
// second never runs from bytes the first rewrote. The second's slow path
// runs with ripCur at it: a fault there is reported at the second store
// with the first retired. The entry is a copy of the first, whose memory
// operand it keeps; the second's base register is kept in rm, its
// segment in sub, its displacement in imm and its source register in
// jopsz (fields a memory-form MOV does not use), and jlen is its length.

// storeStorePairable reports whether a and b form a store-store pair.
func storeStorePairable(a, b *Inst) bool { return movMemPairable(a, false, b, false) }

// storeStorePair is the entry for the store-store pair a, b
// (storeStorePairable).
func storeStorePair(a, b *Inst) Inst { return movMemPair(a, b, storeStorePairHandler(a.opsz)) }

// The copy pairs' handlers (copyPair8 ... copyPair64: movRegMem's fast
// path, then movMemReg's, each with its slow path as in the load and
// store pairs) and their selector copyPairHandler are generated into
// exec_pair_gen.go by gen_hot.go.

// INC/DEC pairs: two register INC/DEC instructions (40-4F outside 64-bit
// mode; FE /0 /1 and FF /0 /1 with mod = 3) of the same operand size,
// such as "inc rsi; inc rdi". Neither can fault or stop Run. Both keep
// CF and the second writes OF, SF, ZF, AF and PF without reading them
// (SDM Vol. 2A INC, DEC), so of the first's flag record only the CF it
// keeps is observable: the entry saves CF once (keepCF), adds the
// first's delta and records the second as its own handler does. The
// entry is a copy of the second; the first's register is kept in base
// and its delta (+1 or -1) in imm2, the second's register in rm and its
// operation in sub (0 INC, 1 DEC).

// incDecRegOf reports whether in is a register INC/DEC, with its
// register and whether it is DEC.
func incDecRegOf(in *Inst) (reg uint8, dec, ok bool) {
	if in.fault != nil || in.lock || in.nret != 1 {
		return 0, false, false
	}
	switch {
	case in.op >= 0x40 && in.op <= 0x4F:
		return in.reg, in.op >= 0x48, true
	case (in.op == 0xFE || in.op == 0xFF) && in.mod == 3 && in.sub <= 1:
		return in.rm, in.sub == 1, true
	}
	return 0, false, false
}

// incDecPairable reports whether a and b form an INC/DEC pair.
func incDecPairable(a, b *Inst) bool {
	_, _, ok1 := incDecRegOf(a)
	_, _, ok2 := incDecRegOf(b)
	return ok1 && ok2 && a.opsz == b.opsz
}

// incDecPair is the entry for the INC/DEC pair a, b (incDecPairable).
func incDecPair(a, b *Inst) Inst {
	r1, dec1, _ := incDecRegOf(a)
	r2, dec2, _ := incDecRegOf(b)
	f := *b
	f.fn = incDecPairHandler(b.opsz)
	f.len = a.len + b.len
	f.pre = a.pre
	f.nret = 2
	f.base, f.imm2 = r1, 1
	if dec1 {
		f.imm2 = ^uint64(0)
	}
	f.rm, f.sub = r2, 0
	if dec2 {
		f.sub = 1
	}
	return f
}

// The INC/DEC pairs' handlers (incDecPair8 ... incDecPair64) and their
// selector incDecPairHandler are generated into exec_pair_gen.go by
// gen_hot.go.

// Shift pairs: SHR r,imm (C1 /5 with mod = 3) followed by a
// register-form ALU instruction (as pairOp accepts) of the same size, 32
// or 64 bits, optionally with a MOV r,r (89 or 8B with mod = 3) onto the
// shifted register before them: the bit extraction "mov edi, r12d; shr
// edi, 0x1b; and edi, 1" of access's ac_test_do_access (three
// instructions, one entry). None can fault or stop Run, MOV changes no
// flag and the ALU instruction writes all six status flags without
// reading them (SDM Vol. 1 Appendix A), so the flags SHR writes are
// dead: the entry computes its value only, x = src >> count into dst,
// and records the ALU instruction's flags as its own handler does. A
// count that is 0 after masking (SDM Vol. 2B SAL/SAR/SHL/SHR: 5 bits, 6
// with REX.W) is left alone. The entry is a copy of the ALU instruction
// with SHR's register in base, the MOV's source in index (SHR's register
// without a MOV) and the masked count in imm2, which a register-form ALU
// instruction does not use; its handlers (shrAddRR ...) and
// shrPairHandler are generated into exec_pair_gen.go by gen_hot.go.

// shrCount classifies in as SHR r,imm of a 32- or 64-bit register with a
// masked count other than 0.
func shrCount(in *Inst) (count uint64, ok bool) {
	if in.fault != nil || in.lock || in.nret != 1 || in.op != 0xC1 || in.sub != 5 || in.mod != 3 || (in.opsz != 4 && in.opsz != 8) {
		return 0, false
	}
	mask := uint64(0x1F)
	if in.opsz == 8 {
		mask = 0x3F
	}
	count = in.imm & mask
	return count, count != 0
}

// shiftPairAt reports the number of instructions of the shift pair at
// fast[i] (2, 3 with a MOV, 0 for none).
func shiftPairAt(fast []Inst, i int) int {
	first := i
	if i+1 < len(fast) && (fast[i].op == 0x89 || fast[i].op == 0x8B) && fast[i].mod == 3 {
		i++
	}
	if i+1 >= len(fast) {
		return 0
	}
	s, b := &fast[i], &fast[i+1]
	if _, ok := shrCount(s); !ok {
		return 0
	}
	if _, _, ok := pairOp(b); !ok || b.opsz != s.opsz {
		return 0
	}
	if i > first {
		m := &fast[first]
		dst := m.rm // 89: MOV r/m, r
		if m.op == 0x8B {
			dst = m.reg // 8B: MOV r, r/m
		}
		if m.fault != nil || m.lock || m.nret != 1 || m.opsz != s.opsz || dst != s.rm {
			return 0 // the pair at the SHR, next
		}
	}
	return i + 2 - first
}

// shiftPair is the entry for the shift pair insts (shiftPairAt: [MOV,]
// SHR, ALU).
func shiftPair(insts []Inst) Inst {
	n := len(insts)
	s, b := &insts[n-2], &insts[n-1]
	op2, rr2, _ := pairOp(b)
	count, _ := shrCount(s)
	f := *b
	f.fn = shrPairHandler(op2, rr2, b.opsz)
	f.pre = insts[0].pre
	f.nret = uint8(n)
	f.len = 0
	for i := range insts {
		f.len += insts[i].len
	}
	f.base, f.index, f.imm2 = s.rm, s.rm, count
	if n == 3 {
		m := &insts[0]
		f.index = m.reg // 89: MOV r/m, r
		if m.op == 0x8B {
			f.index = m.rm // 8B: MOV r, r/m
		}
	}
	return f
}

// TEST+CMOVcc pairs: TEST r,r or r,imm (as the fused TEST+Jcc takes it,
// fusedKind: 84, 85, A8, A9, F6 and F7 /0 /1 with a register operand,
// 8 to 64 bits) followed by CMOVcc r,r (0F 40-4F with mod = 3) of 32 or
// 64 bits, such as access's "test bh, 0x40; cmovne rax, rdx" in
// ac_test_setup_ptes. Neither can fault or stop Run (a CPU without CMOV
// decodes it with its #UD fault, which is not paired). The entry records
// TEST's flags as its own handler does and evaluates the condition from
// its result as the fused TEST+Jcc does (SDM Vol. 1 Table B-1), then
// moves as CMOVcc does, a 32-bit destination zero-extended when the
// condition is false too (SDM Vol. 2A CMOVcc, cmov in exec_mov.go). The
// entry is a copy of TEST with the condition in sub, and CMOVcc's
// destination in base, its source in index (fields a register-form TEST
// does not use); its handlers (testRRCmov8_32 ...) and testCmovHandler
// are generated into exec_pair_gen.go by gen_hot.go.

// testCmovPairable reports whether a and b form a TEST+CMOVcc pair.
func testCmovPairable(a, b *Inst) bool {
	if a.nret != 1 || b.nret != 1 || b.fault != nil || b.lock || b.op < 0x140 || b.op > 0x14F || b.mod != 3 || (b.opsz != 4 && b.opsz != 8) {
		return false
	}
	k, _ := fusedKind(a, 0)
	return k == fkTestRR || k == fkTestRI
}

// testCmovPair is the entry for the TEST+CMOVcc pair a, b
// (testCmovPairable).
func testCmovPair(a, b *Inst) Inst {
	k, r := fusedKind(a, 0)
	f := *a
	f.fn = testCmovHandler(k == fkTestRR, a.opsz, b.opsz)
	f.rm = r
	f.len = a.len + b.len
	f.nret = 2
	f.sub = uint8(b.op & 15)
	f.base, f.index = b.reg, b.rm
	return f
}

// Register-move pairs: two instructions that each write one 32- or
// 64-bit register with a value of a register and a constant and touch
// nothing else (no flag, no memory, no fault, no stop): MOV r,r (89, 8B
// with mod = 3), MOV r,imm (B8+r, C7 /0 with mod = 3) and LEA r,[base +
// disp] (no index, not RIP-relative, an address size no smaller than
// the operand size: the address truncated to the operand size is then
// base + disp in it, SDM Vol. 2A LEA), such as access's "mov rdi, rbx;
// mov eax, 0" before a call or "lea rdx, [rbp-0x40]; mov rsi, rdx". The
// entry runs both in order; a 32-bit write zero-extends (SDM Vol. 1
// 3.4.1.1). The entry is a copy of the first with its destination in
// base, source in index and constant in disp, the second's destination
// in rm, source in reg and constant in imm; its handlers (regMovImm_32
// ...) and regMovHandler are generated into exec_pair_gen.go by
// gen_hot.go.

// The kinds of a register-move pair's half (gen_hot.go regMovKinds).
const (
	rmImm = iota // the constant
	rm32         // source + constant, 32 bits
	rm64         // source + constant, 64 bits
)

// regMovOf classifies in as a register-move pair's half.
func regMovOf(in *Inst) (dst, src uint8, k uint64, kind uint8, ok bool) {
	if in.fault != nil || in.lock || in.nret != 1 || (in.opsz != 4 && in.opsz != 8) {
		return 0, 0, 0, 0, false
	}
	kind = rm32
	if in.opsz == 8 {
		kind = rm64
	}
	switch op := in.op; {
	case op == 0x89 && in.mod == 3:
		return in.rm, in.reg, 0, kind, true
	case op == 0x8B && in.mod == 3:
		return in.reg, in.rm, 0, kind, true
	case op >= 0xB8 && op <= 0xBF, op == 0xC7 && in.sub == 0 && in.mod == 3:
		dst = in.reg
		if op == 0xC7 {
			dst = in.rm
		}
		k = in.imm
		if in.opsz == 4 {
			k = uint64(uint32(k))
		}
		return dst, 0, k, rmImm, true
	case op == 0x8D && in.mod != 3 && in.scale == 0 && in.bmask == 0xFF && !in.ripRel && in.adsz >= in.opsz:
		return in.reg, in.base & 15, in.disp, kind, true
	}
	return 0, 0, 0, 0, false
}

// regMovPairable reports whether a and b form a register-move pair.
func regMovPairable(a, b *Inst) bool {
	_, _, _, _, ok1 := regMovOf(a)
	_, _, _, _, ok2 := regMovOf(b)
	return ok1 && ok2
}

// regMovPair is the entry for the register-move pair a, b
// (regMovPairable).
func regMovPair(a, b *Inst) Inst {
	d1, s1, k1, t1, _ := regMovOf(a)
	d2, s2, k2, t2, _ := regMovOf(b)
	f := *a
	f.fn = regMovHandler(t1, t2)
	f.len = a.len + b.len
	f.nret = 2
	f.base, f.index, f.disp = d1, s1, k1
	f.rm, f.reg, f.imm = d2, s2, k2
	return f
}

// Load-move pairs: MOV r,m (8B) of 32 or 64 bits followed by a register
// move as regMovOf takes it (MOV r,r, MOV r,imm, LEA r,[base+disp]), such
// as "mov rax, [rbp-0x18]; mov rdi, rax". The load runs as in a load
// pair, the only half that can fault or stop Run (then the entry accounts
// as the load alone, CPU.firstHalfStop); the move writes one register
// and no flag. The entry is a copy of the load, whose memory operand it
// keeps; the move's destination is kept in rm, its source register in
// jopsz and its constant in imm (fields a memory-form MOV does not use),
// and jlen is its length.

// loadMovPairable reports whether a and b form a load-move pair.
func loadMovPairable(a, b *Inst) bool {
	_, _, _, _, ok := regMovOf(b)
	return ok && a.op == 0x8B && a.mod != 3 && a.fault == nil && !a.lock && a.nret == 1 && (a.opsz == 4 || a.opsz == 8)
}

// loadMovPair is the entry for the load-move pair a, b (loadMovPairable).
func loadMovPair(a, b *Inst) Inst {
	d, src, k, kind, _ := regMovOf(b)
	f := *a
	f.fn = loadMovHandler(a.opsz, kind)
	f.len = a.len + b.len
	f.nret = 2
	f.jlen = b.len
	f.rm, f.jopsz, f.imm = d, src, k
	if f.ripRel {
		// As in memFirstPair.
		f.disp -= uint64(b.len)
	}
	return f
}

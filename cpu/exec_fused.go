package cpu

import "github.com/vmxemu/vmxemu/arch"

// Fused pairs: a block that ends in a register-form flag setter (INC/DEC r,
// ADD/SUB/AND/OR/XOR/CMP/TEST r,r and ADD/SUB/AND/OR/XOR/CMP/TEST r,imm)
// followed by a Jcc runs both through one specialised handler in Run's
// fast path. The handler computes the result, records it in the lazy flags
// for later readers exactly as the setter alone would, and evaluates the
// condition straight from the values it just computed (SDM Vol. 1
// Appendix B, Table B-1) instead of reading the record back.
//
// The block keeps its unfused instructions (block.insts) for single-step,
// interrupt-shadow and partial-budget execution (runSlow); the fused entry
// lives only in block.fast. A fused entry retires two instructions. The
// setter cannot fault (register operands, no LOCK, no decode fault), so
// the only fault a fused entry can raise is the Jcc's #GP for a target
// outside the CS limit or non-canonical: it is reported at the Jcc, with
// the setter retired (see Inst.nret and Run).

// The fused handlers (incJcc ... cmpRIJcc), their kinds (fk*) and
// fusedHandler, which picks one by kind and size, are generated into
// exec_fused_gen.go by gen_hot.go from its table of ALU operations: each
// is the setter's register-form handler (exec_hot.go) followed by the
// condition below and fusedJump.

// fusedKind classifies in as a fusable flag setter and returns its kind and
// the register holding its (first) operand; fkNone if it is not one.
func fusedKind(in *Inst, mode uint8) (int, uint8) {
	if in.fault != nil || in.lock {
		return fkNone, 0
	}
	if in.opsz == 1 {
		// 8 bits: TEST alone (gen_hot.go's fuse8), as access's "test
		// bh, 0x20; je": TEST Eb,Gb (84), TEST AL, Ib (A8), TEST Eb, Ib
		// (F6 /0 and its alias /1, SDM Vol. 2B TEST and Table A-6).
		switch op := in.op; {
		case op == 0x84 && in.mod == 3:
			return fkTestRR, in.rm
		case op == 0xA8:
			return fkTestRI, 0
		case op == 0xF6 && in.sub <= 1 && in.mod == 3:
			return fkTestRI, in.rm
		}
		return fkNone, 0
	}
	switch op := in.op; {
	case op >= 0x40 && op <= 0x4F && mode != mode64:
		// INC/DEC r (40+r, 48+r): the register is in the opcode.
		if op < 0x48 {
			return fkInc, in.reg
		}
		return fkDec, in.reg
	case op == 0xFF && in.mod == 3 && in.sub <= 1:
		if in.sub == 0 {
			return fkInc, in.rm
		}
		return fkDec, in.rm
	case op < 0x40 && op&7 == 1 && in.mod == 3:
		// OP Ev,Gv (01, 09, 21, 29, 31, 39); ADC/SBB (11, 19) read CF.
		switch op >> 3 {
		case aluADD:
			return fkAddRR, in.rm
		case aluSUB:
			return fkSubRR, in.rm
		case aluAND:
			return fkAndRR, in.rm
		case aluOR:
			return fkOrRR, in.rm
		case aluXOR:
			return fkXorRR, in.rm
		case aluCMP:
			return fkCmpRR, in.rm
		}
	case op == 0x85 && in.mod == 3:
		return fkTestRR, in.rm
	case op == 0xA9:
		// TEST rAX, Iz: the register operand is rAX.
		return fkTestRI, 0
	case op == 0xF7 && in.sub <= 1 && in.mod == 3:
		// TEST r, Iz (F7 /0; /1 is an alias, SDM Vol. 2B TEST and
		// Table A-6).
		return fkTestRI, in.rm
	case (op == 0x81 || op == 0x83 || op < 0x40 && op&7 == 5) && in.mod == 3: // 05, 0D, ...: rAX,Iz (decode.go)
		switch in.sub {
		case aluADD:
			return fkAddRI, in.rm
		case aluSUB:
			return fkSubRI, in.rm
		case aluAND:
			return fkAndRI, in.rm
		case aluOR:
			return fkOrRI, in.rm
		case aluXOR:
			return fkXorRI, in.rm
		case aluCMP:
			return fkCmpRI, in.rm
		}
	}
	return fkNone, 0
}

// isJccRel reports whether in is a Jcc rel8/rel16/rel32 (70-7F, 0F 80-8F).
func isJccRel(in *Inst) bool {
	return in.fault == nil && (in.op >= 0x70 && in.op <= 0x7F || in.op >= 0x180 && in.op <= 0x18F)
}

// fusePair returns the fused entry for setter s followed by Jcc j, or false
// if the pair does not fuse.
func fusePair(s, j *Inst, mode uint8) (Inst, bool) {
	if !isJccRel(j) {
		return Inst{}, false
	}
	k, r := fusedKind(s, mode)
	if k == fkNone {
		return fuseMemCmp(s, j)
	}
	h := fusedHandler(k, s.opsz)
	if h == nil {
		return Inst{}, false
	}
	f := *s
	f.rm = r
	jccHalf(&f, s, j, h, fusedSideHandler(k, s.opsz))
	return f, true
}

// jccHalf lays out the Jcc j in the fused entry f whose first half is s:
// the two lengths, the Jcc's operand size and displacement (disp), imm2
// the target mask (operand size 8: all ones), sub the condition (the
// opcode's low nibble), and the handler, side when j is a side exit
// (decodeBlock), fn otherwise.
func jccHalf(f, s, j *Inst, fn, side handler) {
	f.fn = fn
	f.len = s.len + j.len
	f.jlen = j.len
	f.jopsz = j.opsz
	f.disp = j.imm
	f.imm2 = uint64(1)<<(8*uint(j.opsz)) - 1
	f.sub = uint8(j.op & 15)
	f.end = j.end
	f.side = j.side
	if f.side {
		f.fn = side
	}
	f.nret = 2
}

// fuseMemCmp returns the fused entry for CMP m,imm (80 /7, 81 /7, 83 /7
// with a memory operand, SDM Vol. 2A CMP) followed by the Jcc j, such as
// ac_test_check's "cmp byte [rsi], 0; je", or false if s is no such
// CMP. The CMP's read is the only access, as unfused: it can fault
// (reported at the CMP, which does not retire: firstHalfStop) or stop
// Run after reading (MMIO: the entry accounts as the CMP alone, its
// flags recorded); the Jcc half as in fusePair. The entry keeps the
// CMP's memory operand but its displacement, which moves into imm's
// high half with the immediate in the low half (both 32-bit values,
// sign-extended when used): disp holds the Jcc's displacement, as in
// every fused pair. No head is taken before it (fuseHead).
func fuseMemCmp(s, j *Inst) (Inst, bool) {
	if s.fault != nil || s.lock || s.mod == 3 || s.sub != aluCMP || s.op != 0x80 && s.op != 0x81 && s.op != 0x83 {
		return Inst{}, false
	}
	d := s.disp
	if s.ripRel {
		// The entry runs with RIP at the Jcc's end: the CMP's
		// RIP-relative displacement is from its own end (SDM Vol. 2A
		// 2.2.1.6), j.len earlier.
		d -= uint64(j.len)
	}
	if int64(d) != int64(int32(d)) || int64(s.imm) != int64(int32(s.imm)) && s.opsz == 8 {
		return Inst{}, false
	}
	f := *s
	f.imm = uint64(uint32(s.imm)) | uint64(uint32(d))<<32
	jccHalf(&f, s, j, cmpMIJccHandler(s.opsz), cmpMIJccSideHandler(s.opsz))
	return f, true
}

// fusedJump performs the Jcc half's taken branch when it is simple: RIP
// is already past the Jcc, in.imm2 masks the target to the Jcc's operand
// size; a canonical target in 64-bit mode, and outside it a target within
// the CS limit, is taken at once (nearTarget's checks). It reports false
// for everything else, which fusedTakeSlow (nearTarget) handles; a target
// that faults is reported at the Jcc.
func (c *CPU) fusedJump(in *Inst) bool {
	t := (c.RIP + in.disp) & in.imm2
	if c.codeMode == mode64 {
		sh := c.canonShift()
		if int64(t<<sh)>>sh == int64(t) {
			c.RIP = t
			return true
		}
		return false
	}
	if t <= uint64(c.Seg[arch.CS].Limit) {
		c.RIP = t
		return true
	}
	return false
}

// fusedTakeSideSlow is fusedTakeSlow for the taken Jcc half of a side
// exit's pair (Inst.side), whose handlers end the block (takeSide) after
// the jump unless it faulted. The pairs at blocks' ends (spin loops among
// them) do not check for it and pay nothing for it.
func (c *CPU) fusedTakeSideSlow(in *Inst) {
	if c.fusedTakeSlow(in); !c.stop {
		c.takeSide()
	}
}

func (c *CPU) fusedTakeSlow(in *Inst) {
	t, ok := c.nearTarget(c.RIP+in.disp, in.jopsz)
	if !ok {
		c.ripCur = c.RIP - uint64(in.jlen)
		return
	}
	c.RIP = t
}

// Conditions (SDM Vol. 1 Table B-1) from the operands and result, per
// flag-setting family. cc is the Jcc condition code; odd codes negate.

func signOf[T word](v T) bool { return v&signBit[T]() != 0 }

// subCond: SUB/CMP, r = a - b. CF = a < b (unsigned), OF = sign change
// of (a - b) against the operands' signs.
func subCond[T word](cc uint8, a, b, r T) bool {
	var t bool
	switch cc >> 1 {
	case 0: // O
		t = signOf((a ^ b) & (a ^ r))
	case 1: // B
		t = a < b
	case 2: // Z
		t = r == 0
	case 3: // BE
		t = a <= b
	case 4: // S
		t = signOf(r)
	case 5: // P
		t = parity(uint64(r)) != 0
	case 6: // L: SF != OF, i.e. a < b signed
		t = signOf((a^r)&(a^b)) != signOf(r)
	case 7: // LE
		t = r == 0 || signOf((a^r)&(a^b)) != signOf(r)
	}
	return t != (cc&1 != 0)
}

// addCond: ADD, r = a + b. CF = r < a (unsigned carry out).
func addCond[T word](cc uint8, a, b, r T) bool {
	var t bool
	of := signOf(^(a ^ b) & (a ^ r))
	switch cc >> 1 {
	case 0:
		t = of
	case 1:
		t = r < a
	case 2:
		t = r == 0
	case 3:
		t = r < a || r == 0
	case 4:
		t = signOf(r)
	case 5:
		t = parity(uint64(r)) != 0
	case 6:
		t = signOf(r) != of
	case 7:
		t = r == 0 || signOf(r) != of
	}
	return t != (cc&1 != 0)
}

// logicCond: AND/OR/XOR/TEST clear CF and OF.
func logicCond[T word](cc uint8, r T) bool {
	var t bool
	switch cc >> 1 {
	case 0, 1: // O, B: always clear
	case 2, 3: // Z, BE (CF=0)
		t = r == 0
	case 4, 6: // S, L (OF=0)
		t = signOf(r)
	case 5:
		t = parity(uint64(r)) != 0
	case 7: // LE
		t = r == 0 || signOf(r)
	}
	return t != (cc&1 != 0)
}

// incDecCond: INC/DEC keep CF (cf), OF is the overflow into the sign.
func incDecCond[T word](cc uint8, of bool, r T, cf bool) bool {
	var t bool
	switch cc >> 1 {
	case 0:
		t = of
	case 1:
		t = cf
	case 2:
		t = r == 0
	case 3:
		t = cf || r == 0
	case 4:
		t = signOf(r)
	case 5:
		t = parity(uint64(r)) != 0
	case 6:
		t = signOf(r) != of
	case 7:
		t = r == 0 || signOf(r) != of
	}
	return t != (cc&1 != 0)
}

package cpu

// Integer arithmetic and logic: ADD, OR, ADC, SBB, AND, SUB, XOR, CMP, TEST,
// INC, DEC, NEG, NOT (SDM Vol. 2, instruction pages; flags per Vol. 1
// Appendix A).

// ALU operation numbers: the ModRM.reg field of opcodes 80-83 and bits 5:3
// of opcodes 00-3F.
const (
	aluADD = iota
	aluOR
	aluADC
	aluSBB
	aluAND
	aluSUB
	aluXOR
	aluCMP
)

// alu computes a op b, records the flags and returns the result.
func alu[T word](c *CPU, op uint8, a, b T) T {
	var r T
	switch op {
	case aluADD:
		r = a + b
		setLazyCarry(c, lzAdd, a, b, r, 0)
	case aluOR:
		r = a | b
		setLazy(c, lzLogic, a, b, r)
	case aluADC:
		cin := c.cf()
		r = a + b + T(cin)
		setLazyCarry(c, lzAdd, a, b, r, cin)
	case aluSBB:
		cin := c.cf()
		r = a - b - T(cin)
		setLazyCarry(c, lzSub, a, b, r, cin)
	case aluAND:
		r = a & b
		setLazy(c, lzLogic, a, b, r)
	case aluSUB, aluCMP:
		r = a - b
		setLazyCarry(c, lzSub, a, b, r, 0)
	case aluXOR:
		r = a ^ b
		setLazy(c, lzLogic, a, b, r)
	}
	return r
}

// aluOpOf returns the ALU operation of the instruction: opcodes 00-3F encode
// it in bits 5:3, group 1 (80-83) in ModRM.reg.
func aluOpOf(in *Inst) uint8 {
	if in.op < 0x40 {
		return uint8(in.op>>3) & 7
	}
	return in.sub
}

// aluRMReg: OP r/m, reg (00, 01, 08, 09 ...).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func aluRMReg[T word](c *CPU, in *Inst) { aluToRM(c, in, aluOpOf(in), getReg[T](c, in.reg)) }

// aluToRM applies op to the r/m destination with source b: CMP only
// reads it; the others are read-modify-write.
func aluToRM[T word](c *CPU, in *Inst, op uint8, b T) {
	if in.mod == 3 {
		r := alu(c, op, getReg[T](c, in.rm), b)
		if op != aluCMP {
			setReg(c, in.rm, r)
		}
		return
	}
	if op == aluCMP {
		a, ok := rd[T](c, in.seg, c.ea(in))
		if ok {
			alu(c, op, a, b)
		}
		return
	}
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	rmwWrite(c, in, lin, alu(c, op, a, b))
}

// aluRegRM: OP reg, r/m (02, 03, 0A ...).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func aluRegRM[T word](c *CPU, in *Inst) {
	op := aluOpOf(in)
	b, ok := readRM[T](c, in)
	if !ok {
		return
	}
	r := alu(c, op, getReg[T](c, in.reg), b)
	if op != aluCMP {
		setReg(c, in.reg, r)
	}
}

// aluAccImm: OP AL/AX/EAX/RAX, imm (04, 05, 0C ...).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func aluAccImm[T word](c *CPU, in *Inst) {
	op := aluOpOf(in)
	r := alu(c, op, getReg[T](c, 0), T(in.imm))
	if op != aluCMP {
		setReg(c, 0, r)
	}
}

// aluRMImm: group 1, OP r/m, imm (80, 81, 83).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func aluRMImm[T word](c *CPU, in *Inst) { aluToRM(c, in, in.sub, T(in.imm)) }

// testRMReg: TEST r/m, reg (84, 85).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func testRMReg[T word](c *CPU, in *Inst) {
	a, ok := readRM[T](c, in)
	if !ok {
		return
	}
	b := getReg[T](c, in.reg)
	setLazy(c, lzLogic, a, b, a&b)
}

// testAccImm: TEST AL/AX/EAX/RAX, imm (A8, A9).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func testAccImm[T word](c *CPU, in *Inst) {
	a := getReg[T](c, 0)
	setLazy(c, lzLogic, a, T(in.imm), a&T(in.imm))
}

// testRMImm: TEST r/m, imm (F6 /0, F7 /0; /1 is an alias).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func testRMImm[T word](c *CPU, in *Inst) {
	a, ok := readRM[T](c, in)
	if !ok {
		return
	}
	setLazy(c, lzLogic, a, T(in.imm), a&T(in.imm))
}

// incDecRM: INC/DEC r/m (FE /0 /1, FF /0 /1).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func incDecRM[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	var r T
	if in.sub == 0 {
		r = a + 1
		setLazyIncDec(c, lzInc, a, r)
	} else {
		r = a - 1
		setLazyIncDec(c, lzDec, a, r)
	}
	rmwWrite(c, in, lin, r)
}

// incReg/decReg: INC/DEC r16/r32 (40-4F outside 64-bit mode).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func incReg[T word](c *CPU, in *Inst) {
	a := getReg[T](c, in.reg)
	r := a + 1
	setLazyIncDec(c, lzInc, a, r)
	setReg(c, in.reg, r)
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func decReg[T word](c *CPU, in *Inst) {
	a := getReg[T](c, in.reg)
	r := a - 1
	setLazyIncDec(c, lzDec, a, r)
	setReg(c, in.reg, r)
}

// notRM: NOT r/m (F6 /2, F7 /2); flags unaffected.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func notRM[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	rmwWrite(c, in, lin, ^a)
}

// negRM: NEG r/m (F6 /3, F7 /3): flags as for 0 - src; CF = (src != 0).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func negRM[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	r := -a
	setLazy(c, lzSub, 0, a, r)
	rmwWrite(c, in, lin, r)
}

package cpu

import "github.com/vmxemu/vmxemu/arch"

// Near control transfer and stack instructions: JMP, Jcc, CALL, RET, LOOP,
// JCXZ, PUSH, POP, PUSHF, POPF, PUSHA, POPA, ENTER, LEAVE.

// nearTarget checks a near branch target: truncated to the operand size,
// within the CS limit outside 64-bit mode, canonical in 64-bit mode
// (SDM Vol. 2A JMP/CALL/RET "#GP(0)").
func (c *CPU) nearTarget(t uint64, opsz uint8) (uint64, bool) {
	switch opsz {
	case 2:
		t &= 0xFFFF
	case 4:
		t &= 0xFFFFFFFF
	}
	if c.codeMode == mode64 {
		if !c.canonical(t) {
			c.raiseGP("near branch to a non-canonical address", "Vol. 2A JMP/CALL/RET")
			return 0, false
		}
		return t, true
	}
	if t > uint64(c.Seg[arch.CS].Limit) {
		c.raiseGP("near branch target outside the CS limit", "Vol. 2A JMP/CALL/RET")
		return 0, false
	}
	return t, true
}

// jmpRel: JMP rel8/rel16/rel32 (EB, E9).
func jmpRel(c *CPU, in *Inst) {
	if t, ok := c.nearTarget(c.RIP+in.imm, in.opsz); ok {
		c.RIP = t
	}
}

// loop: LOOP/LOOPE/LOOPNE (E2/E1/E0) and JrCXZ (E3); the count register
// size is the address size.
func loop(c *CPU, in *Inst) {
	m := in.amask
	cnt := c.GPR[arch.RCX] & m
	var take bool
	if in.op == 0xE3 {
		take = cnt == 0
	} else {
		cnt = (cnt - 1) & m
		c.GPR[arch.RCX] = c.GPR[arch.RCX]&^m | cnt
		if m == 0xFFFFFFFF {
			c.GPR[arch.RCX] = cnt
		}
		take = cnt != 0
		switch in.op {
		case 0xE1:
			take = take && c.zf()
		case 0xE0:
			take = take && !c.zf()
		}
	}
	if take {
		if t, ok := c.nearTarget(c.RIP+in.imm, in.opsz); ok {
			c.RIP = t
		}
	}
}

// callRel: CALL rel16/rel32 (E8).
func callRel(c *CPU, in *Inst) {
	t, ok := c.nearTarget(c.RIP+in.imm, in.opsz)
	if !ok {
		return
	}
	if pushSized(c, in.opsz, c.RIP) {
		c.RIP = t
	}
}

// pushSized pushes v with the operand size opsz.
func pushSized(c *CPU, opsz uint8, v uint64) bool {
	switch opsz {
	case 2:
		return push(c, uint16(v))
	case 4:
		return push(c, uint32(v))
	}
	return push(c, v)
}

// popSized pops a value of operand size opsz.
func popSized(c *CPU, opsz uint8) (uint64, bool) {
	switch opsz {
	case 2:
		v, ok := pop[uint16](c)
		return uint64(v), ok
	case 4:
		v, ok := pop[uint32](c)
		return uint64(v), ok
	}
	return pop[uint64](c)
}

// jmpRM: JMP r/m (FF /4).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func jmpRM[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	if t, ok := c.nearTarget(uint64(v), in.opsz); ok {
		c.RIP = t
	}
}

// callRM: CALL r/m (FF /2).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func callRM[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	t, ok := c.nearTarget(uint64(v), in.opsz)
	if !ok {
		return
	}
	if push(c, T(c.RIP)) {
		c.RIP = t
	}
}

// retNear: RET and RET imm16 (C3, C2).
func retNear[T word](c *CPU, in *Inst) {
	v, ok := peek[T](c, 0)
	if !ok {
		return
	}
	t, ok := c.nearTarget(uint64(v), in.opsz)
	if !ok {
		return
	}
	m := c.stackMask()
	sp := c.GPR[arch.RSP] + uint64(sizeOf[T]()) + in.imm
	c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | sp&m
	c.RIP = t
}

// pushReg/popReg: PUSH/POP reg (50-5F).
func pushReg[T word](c *CPU, in *Inst) { push(c, getReg[T](c, in.reg)) }

func popReg[T word](c *CPU, in *Inst) {
	v, ok := pop[T](c)
	if ok {
		setReg(c, in.reg, v)
	}
}

// pushImm: PUSH imm (68, 6A).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func pushImm[T word](c *CPU, in *Inst) { push(c, T(in.imm)) }

// pushRM: PUSH r/m (FF /6).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func pushRM[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if ok {
		push(c, v)
	}
}

// popRM: POP r/m (8F /0). The stack pointer is incremented before the
// destination address is computed (SDM Vol. 2B POP).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func popRM[T word](c *CPU, in *Inst) {
	v, ok := peek[T](c, 0)
	if !ok {
		return
	}
	if in.mod == 3 {
		m := c.stackMask()
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+uint64(sizeOf[T]()))&m
		setReg(c, in.rm, v)
		return
	}
	old := c.GPR[arch.RSP]
	m := c.stackMask()
	c.GPR[arch.RSP] = old&^m | (old+uint64(sizeOf[T]()))&m
	if !wr(c, in.seg, c.ea(in), v) {
		c.GPR[arch.RSP] = old
	}
}

// pusha/popa: PUSHA/PUSHAD, POPA/POPAD (60, 61), invalid in 64-bit mode.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func pusha[T word](c *CPU, in *Inst) {
	sp := getReg[T](c, arch.RSP)
	old := c.GPR[arch.RSP]
	for r := uint8(0); r < 8; r++ {
		v := getReg[T](c, r)
		if r == arch.RSP {
			v = sp
		}
		if !push(c, v) {
			c.GPR[arch.RSP] = old
			return
		}
	}
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func popa[T word](c *CPU, in *Inst) {
	old := c.GPR[arch.RSP]
	var vals [8]T
	for r := 7; r >= 0; r-- {
		v, ok := pop[T](c)
		if !ok {
			c.GPR[arch.RSP] = old
			return
		}
		vals[r] = v
	}
	for r := uint8(0); r < 8; r++ {
		if r != arch.RSP {
			setReg(c, r, vals[r])
		}
	}
}

// leave: LEAVE (C9): rSP = rBP, then pop rBP.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func leave[T word](c *CPU, in *Inst) {
	m := c.stackMask()
	old := c.GPR[arch.RSP]
	c.GPR[arch.RSP] = old&^m | c.GPR[arch.RBP]&m
	v, ok := pop[T](c)
	if !ok {
		c.GPR[arch.RSP] = old
		return
	}
	setReg(c, arch.RBP, v)
}

// enter: ENTER imm16, imm8 (C8) (SDM Vol. 2A ENTER, operation section).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func enter[T word](c *CPU, in *Inst) {
	size := in.imm
	level := in.imm2 & 31
	m := c.stackMask()
	oldSP, oldBP := c.GPR[arch.RSP], c.GPR[arch.RBP]
	fail := func() { c.GPR[arch.RSP], c.GPR[arch.RBP] = oldSP, oldBP }
	if !push(c, getReg[T](c, arch.RBP)) {
		fail()
		return
	}
	frame := c.GPR[arch.RSP] & m
	if level > 0 {
		bp := c.GPR[arch.RBP]
		for i := uint64(1); i < level; i++ {
			bp = (bp - uint64(sizeOf[T]())) & m
			if sizeOf[T]() == 2 {
				bp &= 0xFFFF
			}
			v, ok := rd[T](c, arch.SS, bp)
			if !ok || !push(c, v) {
				fail()
				return
			}
		}
		if !push(c, T(frame)) {
			fail()
			return
		}
	}
	sp := (c.GPR[arch.RSP] - size) & m
	// The new stack top must be writable (checked by the processor).
	if _, ok := c.linear(arch.SS, sp, 1, accWrite); !ok {
		fail()
		return
	}
	setReg(c, arch.RBP, T(frame))
	c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | sp
}

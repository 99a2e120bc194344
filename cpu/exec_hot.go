package cpu

// Specialised handlers for the hottest forms: register-operand ALU
// instructions per operation and size, and Jcc per condition. They compute
// exactly what the generic family handlers compute (exec_alu.go,
// exec_branch.go) without the run-time dispatch on the operation; the
// opcode tables install them for ModRM.mod = 3 and keep the generic
// handlers for memory forms.

// Register-register, destination r/m (00/01, 08/09, ...).
func addRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
}

func subRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
}

func cmpRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	setLazy(c, lzSub, a, b, a-b)
}

func andRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func orRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func xorRR[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), getReg[T](c, in.reg)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

// Register, immediate (80/81/83 with mod = 3).
func addRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a + b
	setLazy(c, lzAdd, a, b, r)
	setReg(c, in.rm, r)
}

func subRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a - b
	setLazy(c, lzSub, a, b, r)
	setReg(c, in.rm, r)
}

func cmpRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	setLazy(c, lzSub, a, b, a-b)
}

func andRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a & b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func orRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a | b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

func xorRI[T word](c *CPU, in *Inst) {
	a, b := getReg[T](c, in.rm), T(in.imm)
	r := a ^ b
	setLazy(c, lzLogic, a, b, r)
	setReg(c, in.rm, r)
}

// hotRR and hotRI give the specialised register-form handlers of ALU
// operation op for sizes 8, 16, 32, 64; ADC and SBB (which read CF) keep
// the generic handler.
func hotRR(op int) [4]handler {
	switch op {
	case aluADD:
		return by(addRR[uint8], addRR[uint16], addRR[uint32], addRR[uint64])
	case aluOR:
		return by(orRR[uint8], orRR[uint16], orRR[uint32], orRR[uint64])
	case aluAND:
		return by(andRR[uint8], andRR[uint16], andRR[uint32], andRR[uint64])
	case aluSUB:
		return by(subRR[uint8], subRR[uint16], subRR[uint32], subRR[uint64])
	case aluXOR:
		return by(xorRR[uint8], xorRR[uint16], xorRR[uint32], xorRR[uint64])
	case aluCMP:
		return by(cmpRR[uint8], cmpRR[uint16], cmpRR[uint32], cmpRR[uint64])
	}
	return by(aluRMReg[uint8], aluRMReg[uint16], aluRMReg[uint32], aluRMReg[uint64])
}

func hotRI(op int) [4]handler {
	switch op {
	case aluADD:
		return by(addRI[uint8], addRI[uint16], addRI[uint32], addRI[uint64])
	case aluOR:
		return by(orRI[uint8], orRI[uint16], orRI[uint32], orRI[uint64])
	case aluAND:
		return by(andRI[uint8], andRI[uint16], andRI[uint32], andRI[uint64])
	case aluSUB:
		return by(subRI[uint8], subRI[uint16], subRI[uint32], subRI[uint64])
	case aluXOR:
		return by(xorRI[uint8], xorRI[uint16], xorRI[uint32], xorRI[uint64])
	case aluCMP:
		return by(cmpRI[uint8], cmpRI[uint16], cmpRI[uint32], cmpRI[uint64])
	}
	return by(aluRMImm[uint8], aluRMImm[uint16], aluRMImm[uint32], aluRMImm[uint64])
}

// takeRel performs the taken branch of a relative Jcc.
func (c *CPU) takeRel(in *Inst) {
	if t, ok := c.nearTarget(c.RIP+in.imm, in.opsz); ok {
		c.RIP = t
	}
}

func jo(c *CPU, in *Inst) {
	if c.condO() {
		c.takeRel(in)
	}
}
func jno(c *CPU, in *Inst) {
	if !c.condO() {
		c.takeRel(in)
	}
}
func jb(c *CPU, in *Inst) {
	if c.condB() {
		c.takeRel(in)
	}
}
func jae(c *CPU, in *Inst) {
	if !c.condB() {
		c.takeRel(in)
	}
}
func jz(c *CPU, in *Inst) {
	if c.condZ() {
		c.takeRel(in)
	}
}
func jnz(c *CPU, in *Inst) {
	if !c.condZ() {
		c.takeRel(in)
	}
}
func jbe(c *CPU, in *Inst) {
	if c.condBE() {
		c.takeRel(in)
	}
}
func ja(c *CPU, in *Inst) {
	if !c.condBE() {
		c.takeRel(in)
	}
}
func js(c *CPU, in *Inst) {
	if c.condS() {
		c.takeRel(in)
	}
}
func jns(c *CPU, in *Inst) {
	if !c.condS() {
		c.takeRel(in)
	}
}
func jp(c *CPU, in *Inst) {
	if c.condP() {
		c.takeRel(in)
	}
}
func jnp(c *CPU, in *Inst) {
	if !c.condP() {
		c.takeRel(in)
	}
}
func jl(c *CPU, in *Inst) {
	if c.condL() {
		c.takeRel(in)
	}
}
func jge(c *CPU, in *Inst) {
	if !c.condL() {
		c.takeRel(in)
	}
}
func jle(c *CPU, in *Inst) {
	if c.condLE() {
		c.takeRel(in)
	}
}
func jg(c *CPU, in *Inst) {
	if !c.condLE() {
		c.takeRel(in)
	}
}

// jccByCond are the Jcc handlers indexed by condition code.
var jccByCond = [16]handler{jo, jno, jb, jae, jz, jnz, jbe, ja, js, jns, jp, jnp, jl, jge, jle, jg}

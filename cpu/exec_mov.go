package cpu

import (
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
)

// Data movement: MOV, MOVZX, MOVSX, MOVSXD, LEA, XCHG, CBW/CWDE/CDQE,
// CWD/CDQ/CQO, LAHF/SAHF, CMOVcc, SETcc, BSWAP, MOVBE, XLAT.

// movRegReg is the register form of 88/89/8A/8B: MOV rm_reg <- reg.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movRegReg[T word](c *CPU, in *Inst) { setReg(c, in.rm, getReg[T](c, in.reg)) }

// movMemReg8 ... movMemReg64, the memory form of 88/89, and movRegMem8
// ... movRegMem64, the memory form of 8A/8B, are generated into
// exec_hot_gen.go by gen_hot.go (plain functions per size: see handler
// there).

// movRegRM: MOV reg, r/m (8A, 8B) register form.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movRegRMReg[T word](c *CPU, in *Inst) { setReg(c, in.reg, getReg[T](c, in.rm)) }

// movRegImm: MOV reg, imm (B0-BF).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movRegImm[T word](c *CPU, in *Inst) { setReg(c, in.reg, T(in.imm)) }

// movRMImm: MOV r/m, imm (C6 /0, C7 /0).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movRMImm[T word](c *CPU, in *Inst) { writeRM(c, in, T(in.imm)) }

// movAccMoffs: MOV AL/AX/EAX/RAX, moffs (A0, A1).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movAccMoffs[T word](c *CPU, in *Inst) {
	v, ok := rd[T](c, in.seg, in.disp&in.amask)
	if ok {
		setReg(c, 0, v)
	}
}

// movMoffsAcc: MOV moffs, AL/AX/EAX/RAX (A2, A3).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movMoffsAcc[T word](c *CPU, in *Inst) {
	wr(c, in.seg, in.disp&in.amask, getReg[T](c, 0))
}

// lea: LEA reg, m (8D). The effective address is truncated to the operand
// size (SDM Vol. 2A LEA, Table 3-54).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func lea[T word](c *CPU, in *Inst) { setReg(c, in.reg, T(c.ea(in))) }

// movzx: MOVZX reg, r/m8 or r/m16 (0F B6, 0F B7); S is the source type.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movzx[S, T word](c *CPU, in *Inst) {
	v, ok := readRM[S](c, in)
	if ok {
		setReg(c, in.reg, T(v))
	}
}

// movsx: MOVSX reg, r/m8 or r/m16 (0F BE, 0F BF) and MOVSXD (63).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movsx[S, T word](c *CPU, in *Inst) {
	v, ok := readRM[S](c, in)
	if !ok {
		return
	}
	sh := 64 - sizeOf[S]()*8
	setReg(c, in.reg, T(uint64(int64(uint64(v)<<sh)>>sh)))
}

// xchgRMReg: XCHG r/m, reg (86, 87); implicitly locked with memory.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func xchgRMReg[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	b := getReg[T](c, in.reg)
	if !rmwWrite(c, in, lin, b) {
		return
	}
	setReg(c, in.reg, a)
	if sizeOf[T]() == 2 && in.mod == 3 && in.reg == arch.RBX && in.rm == arch.RBX && c.Hooks != nil && c.Hooks.Magic != nil {
		c.Hooks.Magic(c) // XCHG BX,BX: Bochs' magic breakpoint
	}
}

// xchgAcc: XCHG AX/EAX/RAX, reg (91-97); 90 with REX.B is XCHG with R8.
func xchgAcc[T word](c *CPU, in *Inst) {
	a := getReg[T](c, 0)
	setReg(c, 0, getReg[T](c, in.reg))
	setReg(c, in.reg, a)
}

// cbw: CBW/CWDE/CDQE (98): sign-extend the lower half of the accumulator.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func cbw[T word](c *CPU, in *Inst) {
	half := sizeOf[T]() * 4
	v := uint64(getReg[T](c, 0))
	sh := 64 - half
	setReg(c, 0, T(uint64(int64(v<<sh)>>sh)))
}

// cwd: CWD/CDQ/CQO (99): fill rDX with the sign of rAX.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func cwd[T word](c *CPU, in *Inst) {
	var v T
	if getReg[T](c, 0)&signBit[T]() != 0 {
		v = ^T(0)
	}
	setReg(c, arch.RDX, v)
}

// lahf/sahf (9F/9E): in 64-bit mode only if CPUID.80000001H:ECX.LAHF-SAHF.
func lahf(c *CPU, in *Inst) {
	f := c.Flags()
	setReg(c, 0x10, uint8(f))
}

func sahf(c *CPU, in *Inst) {
	ah := uint64(getReg[uint8](c, 0x10))
	mask := uint64(arch.FlagSF | arch.FlagZF | arch.FlagAF | arch.FlagPF | arch.FlagCF)
	c.setFlagsArith(c.Flags()&^mask | ah&mask)
}

// cmov: CMOVcc reg, r/m (0F 40-4F). The source is read even when the
// condition is false; with a 32-bit operand the destination's upper half is
// cleared either way (SDM Vol. 2A CMOVcc).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func cmov[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	if c.cond(uint8(in.op) & 15) {
		setReg(c, in.reg, v)
	} else if sizeOf[T]() == 4 {
		setReg(c, in.reg, getReg[T](c, in.reg))
	}
}

// setcc: SETcc r/m8 (0F 90-9F).
func setcc(c *CPU, in *Inst) {
	var v uint8
	if c.cond(uint8(in.op) & 15) {
		v = 1
	}
	writeRM(c, in, v)
}

// bswap: BSWAP reg (0F C8-CF). With a 16-bit operand the result is
// undefined; current Intel cores write zero to the low word.
//
// The register is bits 2:0 of the opcode byte C8-CF with REX.B: the
// decoder's fRegOp takes bits 2:0 from the first opcode byte (0F) for
// two-byte opcodes, so only REX.B (bit 3 of in.reg) is used from it.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func bswap[T word](c *CPU, in *Inst) {
	r := uint8(in.op&7) | in.reg&8
	v := getReg[T](c, r)
	switch sizeOf[T]() {
	case 2:
		setReg(c, r, T(0))
	case 4:
		setReg(c, r, T(bits.ReverseBytes32(uint32(v))))
	default:
		setReg(c, r, T(bits.ReverseBytes64(uint64(v))))
	}
}

// movbeLoad/movbeStore: MOVBE (0F 38 F0/F1), memory operand only.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movbeLoad[T word](c *CPU, in *Inst) {
	v, ok := rd[T](c, in.seg, c.ea(in))
	if ok {
		setReg(c, in.reg, byteSwap(v))
	}
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movbeStore[T word](c *CPU, in *Inst) {
	wr(c, in.seg, c.ea(in), byteSwap(getReg[T](c, in.reg)))
}

func byteSwap[T word](v T) T {
	switch sizeOf[T]() {
	case 2:
		return T(bits.ReverseBytes16(uint16(v)))
	case 4:
		return T(bits.ReverseBytes32(uint32(v)))
	case 8:
		return T(bits.ReverseBytes64(uint64(v)))
	}
	return v
}

// xlat: XLAT (D7): AL = [seg:rBX + AL].
func xlat(c *CPU, in *Inst) {
	off := (c.GPR[arch.RBX] + uint64(uint8(c.GPR[arch.RAX]))) & in.amask
	v, ok := rd[uint8](c, in.seg, off)
	if ok {
		setReg(c, 0, v)
	}
}

func nop(c *CPU, in *Inst) {}

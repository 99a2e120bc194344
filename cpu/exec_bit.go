package cpu

import (
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
)

// Bit instructions: BT, BTS, BTR, BTC (register and memory bit-string forms),
// BSF, BSR, TZCNT, LZCNT, POPCNT (SDM Vol. 2A).

// btOp applies the bit operation selected by kind (0 BT, 1 BTS, 2 BTR,
// 3 BTC) and returns the new value and the old bit.
func btOp[T word](v T, bit uint64, kind uint8) (T, bool) {
	m := T(1) << bit
	old := v&m != 0
	switch kind {
	case 1:
		v |= m
	case 2:
		v &^= m
	case 3:
		v ^= m
	}
	return v, old
}

// btKind maps the opcode to the BT* operation.
func btKind(in *Inst) uint8 {
	switch in.op {
	case 0x1A3:
		return 0
	case 0x1AB:
		return 1
	case 0x1B3:
		return 2
	case 0x1BB:
		return 3
	}
	return in.sub - 4 // 0F BA /4../7
}

// btFlags sets CF to the selected bit; OF, SF, AF, PF are left as Intel
// cores leave them (unchanged), ZF unchanged.
func btFlags(c *CPU, old bool) {
	f := c.Flags() & arch.FlagsArith &^ arch.FlagCF
	if old {
		f |= arch.FlagCF
	}
	c.setFlagsArith(f)
}

// btRM: BT/BTS/BTR/BTC r/m, reg (0F A3/AB/B3/BB) and r/m, imm8 (0F BA).
// With a register bit offset and a memory operand the offset addresses a
// bit string: it is signed and may reach outside the operand
// (SDM Vol. 2A BT, "bit base/bit offset").
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func btRM[T word](c *CPU, in *Inst) {
	kind := btKind(in)
	bitsz := uint64(sizeOf[T]() * 8)
	var off uint64
	immForm := in.op == 0x1BA
	if immForm {
		off = in.imm
	} else {
		off = uint64(getReg[T](c, in.reg))
	}
	if in.mod == 3 || immForm {
		bit := off & (bitsz - 1)
		var v T
		var lin uint64
		var ok bool
		if kind == 0 {
			v, ok = readRM[T](c, in)
		} else {
			v, lin, ok = rmwRead[T](c, in)
		}
		if !ok {
			return
		}
		nv, old := btOp(v, bit, kind)
		if kind != 0 && !rmwWrite(c, in, lin, nv) {
			return
		}
		btFlags(c, old)
		return
	}
	// Bit string in memory.
	soff := sext(off, uint(bitsz))
	byteOff := uint64((soff >> 6) * 8)
	if bitsz < 64 {
		byteOff = uint64((soff >> uint(bits.TrailingZeros64(bitsz))) * int64(bitsz/8))
	}
	bit := uint64(soff) & (bitsz - 1)
	addr := (c.ea(in) + byteOff) & in.amask
	if kind == 0 {
		v, ok := rd[T](c, in.seg, addr)
		if ok {
			_, old := btOp(v, bit, 0)
			btFlags(c, old)
		}
		return
	}
	lin, ok := c.linear(in.seg, addr, uint64(sizeOf[T]()), accWrite)
	if !ok || !c.probeWrite(lin, uint64(sizeOf[T]())) {
		return
	}
	v, ok := rdLin[T](c, lin)
	if !ok {
		return
	}
	nv, old := btOp(v, bit, kind)
	if wrLin(c, lin, nv) {
		btFlags(c, old)
	}
}

// bsfBsr: BSF/BSR reg, r/m (0F BC/BD without F3). With a zero source ZF=1
// and the destination is left unchanged (Intel behaviour); other flags
// follow the source as current cores set them.
func bsfBsr[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	f := c.Flags() & arch.FlagsArith &^ (arch.FlagZF | arch.FlagCF | arch.FlagOF | arch.FlagSF | arch.FlagAF | arch.FlagPF)
	if v == 0 {
		c.setFlagsArith(f | arch.FlagZF | arch.FlagPF)
		if sizeOf[T]() == 4 {
			setReg(c, in.reg, getReg[T](c, in.reg))
		}
		return
	}
	var r int
	if in.op == 0x1BC {
		r = bits.TrailingZeros64(uint64(v))
	} else {
		r = bits.Len64(uint64(v)) - 1
	}
	setReg(c, in.reg, T(r))
	c.setFlagsArith(f | parity(uint64(r)))
}

// tzcnt/lzcnt: F3 0F BC / F3 0F BD. CF = source is zero, ZF = result is zero.
func tzLzCnt[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	bitsz := int(sizeOf[T]() * 8)
	var r int
	if in.op == 0x1BC {
		r = bits.TrailingZeros64(uint64(v))
		if r > bitsz {
			r = bitsz
		}
	} else {
		r = bitsz - bits.Len64(uint64(v))
	}
	setReg(c, in.reg, T(r))
	f := c.Flags() & arch.FlagsArith &^ (arch.FlagZF | arch.FlagCF)
	if v == 0 {
		f |= arch.FlagCF
	}
	if r == 0 {
		f |= arch.FlagZF
	}
	c.setFlagsArith(f)
}

// popcnt: F3 0F B8. OF, SF, AF, CF, PF cleared; ZF = source is zero.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func popcnt[T word](c *CPU, in *Inst) {
	v, ok := readRM[T](c, in)
	if !ok {
		return
	}
	r := bits.OnesCount64(uint64(v))
	setReg(c, in.reg, T(r))
	var f uint64
	if v == 0 {
		f = arch.FlagZF
	}
	c.setFlagsArith(f)
}

// cmpxchg: CMPXCHG r/m, reg (0F B0/B1).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func cmpxchg[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	acc := getReg[T](c, arch.RAX)
	if acc == a {
		if !rmwWrite(c, in, lin, getReg[T](c, in.reg)) {
			return
		}
	} else {
		// A memory destination is written back with its own value (the
		// processor always performs the write cycle, SDM Vol. 2A CMPXCHG).
		// A register destination is left untouched: a 32-bit one keeps
		// its upper half (real hardware; checked against the host CPU in
		// TestIntegerOpsAgainstHost).
		if in.mod != 3 && !rmwWrite(c, in, lin, a) {
			return
		}
		setReg(c, arch.RAX, a)
	}
	alu(c, aluCMP, acc, a)
}

// xadd: XADD r/m, reg (0F C0/C1).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func xadd[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	b := getReg[T](c, in.reg)
	r := alu(c, aluADD, a, b)
	if in.mod == 3 {
		// SDM Vol. 2B XADD: SRC := DEST, then DEST := TEMP, so with the
		// same register for both the sum wins.
		setReg(c, in.reg, a)
		setReg(c, in.rm, r)
		return
	}
	if !rmwWrite(c, in, lin, r) {
		return
	}
	setReg(c, in.reg, a)
}

// bsfOrTzcnt: F3 0F BC/BD. With BMI1 (BC) or LZCNT (BD) reported by CPUID
// they are TZCNT/LZCNT; otherwise the F3 prefix is ignored and they execute
// as BSF/BSR, as on processors without those features (SDM Vol. 2B LZCNT,
// TZCNT "Operation" notes).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func bsfOrTzcnt[T word](c *CPU, in *Inst) {
	if (in.op == 0x1BC && c.feat.bmi1) || (in.op == 0x1BD && c.feat.lzcnt) {
		tzLzCnt[T](c, in)
		return
	}
	bsfBsr[T](c, in)
}

// cmpxchg8b16b: CMPXCHG8B m64 / CMPXCHG16B m128 (0F C7 /1). The 16-byte
// form requires a 16-byte-aligned operand (#GP(0)).
func cmpxchg8b16b(c *CPU, in *Inst) {
	addr := c.ea(in)
	if in.opsz == 8 {
		if addr&15 != 0 {
			c.raiseGP("CMPXCHG16B operand not 16-byte aligned", "Vol. 2A CMPXCHG8B/CMPXCHG16B")
			return
		}
		lin, ok := c.linear(in.seg, addr, 16, accWrite)
		if !ok || !c.probeWrite(lin, 16) {
			return
		}
		lo, ok := rdLin[uint64](c, lin)
		if !ok {
			return
		}
		hi, ok := rdLin[uint64](c, lin+8)
		if !ok {
			return
		}
		f := c.Flags() & arch.FlagsArith &^ arch.FlagZF
		if lo == c.GPR[arch.RAX] && hi == c.GPR[arch.RDX] {
			if !wrLin(c, lin, c.GPR[arch.RBX]) || !wrLin(c, lin+8, c.GPR[arch.RCX]) {
				return
			}
			f |= arch.FlagZF
		} else {
			if !wrLin(c, lin, lo) || !wrLin(c, lin+8, hi) {
				return
			}
			c.GPR[arch.RAX], c.GPR[arch.RDX] = lo, hi
		}
		c.setFlagsArith(f)
		return
	}
	lin, ok := c.linear(in.seg, addr, 8, accWrite)
	if !ok || !c.probeWrite(lin, 8) {
		return
	}
	v, ok := rdLin[uint64](c, lin)
	if !ok {
		return
	}
	f := c.Flags() & arch.FlagsArith &^ arch.FlagZF
	edxeax := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	if v == edxeax {
		if !wrLin(c, lin, uint64(uint32(c.GPR[arch.RCX]))<<32|uint64(uint32(c.GPR[arch.RBX]))) {
			return
		}
		f |= arch.FlagZF
	} else {
		if !wrLin(c, lin, v) {
			return
		}
		setReg(c, arch.RAX, uint32(v))
		setReg(c, arch.RDX, uint32(v>>32))
	}
	c.setFlagsArith(f)
}

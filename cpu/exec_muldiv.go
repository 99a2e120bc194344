package cpu

import (
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
)

// Multiply and divide: MUL, IMUL (one-, two- and three-operand forms), DIV,
// IDIV (SDM Vol. 2A/2B). Division by zero or a quotient too large for the
// destination raises #DE.

var (
	faultDEZero     = arch.Fault{Vector: arch.VecDE, Rule: "divisor is zero", SDM: "Vol. 2A DIV/IDIV #DE"}
	faultDEOverflow = arch.Fault{Vector: arch.VecDE, Rule: "quotient too large for the destination", SDM: "Vol. 2A DIV/IDIV #DE"}
)

// mulFlags sets CF=OF=overflow; SF, ZF, PF follow the low half of the
// result and AF is cleared, as current Intel cores leave them.
func mulFlags(c *CPU, lo uint64, size uint8, overflow bool) {
	f := szp(lo, size)
	if overflow {
		f |= arch.FlagCF | arch.FlagOF
	}
	c.setFlagsArith(f)
}

// grp3MulDiv: F6/F7 /4 MUL, /5 IMUL, /6 DIV, /7 IDIV.
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func grp3MulDiv[T word](c *CPU, in *Inst) {
	src, ok := readRM[T](c, in)
	if !ok {
		return
	}
	bitsz := sizeOf[T]() * 8
	size := uint8(sizeOf[T]())
	a := uint64(getReg[T](c, arch.RAX))
	var d uint64
	if size == 1 {
		a = uint64(uint16(c.GPR[arch.RAX]))
	} else {
		d = uint64(getReg[T](c, arch.RDX))
	}
	mask := uint64(1)<<bitsz - 1
	if bitsz == 64 {
		mask = ^uint64(0)
	}
	switch in.sub {
	case 4: // MUL
		hi, lo := bits.Mul64(uint64(getReg[T](c, arch.RAX)), uint64(src))
		if bitsz < 64 {
			hi = lo >> bitsz
			lo &= mask
		}
		c.storeWide(size, hi, lo)
		mulFlags(c, lo, size, hi != 0)
	case 5: // IMUL one-operand
		x := sext(uint64(getReg[T](c, arch.RAX)), bitsz)
		y := sext(uint64(src), bitsz)
		hi, lo := mulSigned(x, y)
		if bitsz < 64 {
			p := int64(x) * int64(y)
			lo = uint64(p) & mask
			hi = uint64(p>>bitsz) & mask
		}
		c.storeWide(size, hi, lo)
		// Overflow when the high half is not the sign extension of the low.
		var sign uint64
		if sext(lo, bitsz) < 0 {
			sign = mask
		}
		mulFlags(c, lo, size, hi&mask != sign)
	case 6: // DIV
		if src == 0 {
			c.raise(faultDEZero)
			return
		}
		var q, r uint64
		if size == 1 {
			q, r = a/uint64(src), a%uint64(src)
		} else {
			if d >= uint64(src) {
				c.raise(faultDEOverflow)
				return
			}
			if bitsz == 64 {
				q, r = bits.Div64(d, a, uint64(src))
			} else {
				n := d<<bitsz | a
				q, r = n/uint64(src), n%uint64(src)
			}
		}
		if q > mask {
			c.raise(faultDEOverflow)
			return
		}
		c.storeDiv(size, q, r)
	case 7: // IDIV
		if src == 0 {
			c.raise(faultDEZero)
			return
		}
		s := sext(uint64(src), bitsz)
		var q, r int64
		if size == 1 {
			n := int64(int16(a))
			q, r = n/s, n%s
		} else if bitsz < 64 {
			n := int64(d<<bitsz | a)
			if bitsz == 16 {
				n = int64(int32(uint32(d<<16 | a)))
			}
			if bitsz == 32 && n == -1<<63 && s == -1 {
				c.raise(faultDEOverflow)
				return
			}
			q, r = n/s, n%s
		} else {
			var ok bool
			q, r, ok = idiv128(d, a, s)
			if !ok {
				c.raise(faultDEOverflow)
				return
			}
		}
		lim := int64(1) << (bitsz - 1)
		if bitsz == 64 {
			// idiv128 already checked the range.
		} else if q >= lim || q < -lim {
			c.raise(faultDEOverflow)
			return
		}
		c.storeDiv(size, uint64(q)&mask, uint64(r)&mask)
	}
}

func sext(v uint64, bitsz uint) int64 {
	sh := 64 - bitsz
	return int64(v<<sh) >> sh
}

// mulSigned returns the 128-bit product of two signed 64-bit values.
func mulSigned(x, y int64) (hi, lo uint64) {
	hi, lo = bits.Mul64(uint64(x), uint64(y))
	if x < 0 {
		hi -= uint64(y)
	}
	if y < 0 {
		hi -= uint64(x)
	}
	return hi, lo
}

// idiv128 divides the signed 128-bit hi:lo by s; ok is false when the
// quotient does not fit in 64 bits.
func idiv128(hi, lo uint64, s int64) (q, r int64, ok bool) {
	neg := int64(hi) < 0
	if neg {
		lo = ^lo + 1
		hi = ^hi
		if lo == 0 {
			hi++
		}
	}
	us := uint64(s)
	if s < 0 {
		us = uint64(-s)
	}
	if hi >= us {
		return 0, 0, false
	}
	uq, ur := bits.Div64(hi, lo, us)
	qneg := neg != (s < 0)
	if qneg {
		if uq > 1<<63 {
			return 0, 0, false
		}
		q = -int64(uq)
	} else {
		if uq >= 1<<63 {
			return 0, 0, false
		}
		q = int64(uq)
	}
	r = int64(ur)
	if neg {
		r = -r
	}
	return q, r, true
}

// storeWide writes a double-width product: AX for bytes, rDX:rAX otherwise.
func (c *CPU) storeWide(size uint8, hi, lo uint64) {
	switch size {
	case 1:
		setReg(c, arch.RAX, uint16(hi<<8|lo))
	case 2:
		setReg(c, arch.RAX, uint16(lo))
		setReg(c, arch.RDX, uint16(hi))
	case 4:
		setReg(c, arch.RAX, uint32(lo))
		setReg(c, arch.RDX, uint32(hi))
	default:
		c.GPR[arch.RAX], c.GPR[arch.RDX] = lo, hi
	}
}

// storeDiv writes quotient and remainder: AL/AH for bytes, rAX/rDX otherwise.
func (c *CPU) storeDiv(size uint8, q, r uint64) {
	switch size {
	case 1:
		setReg(c, arch.RAX, uint16(r<<8|q&0xFF))
	case 2:
		setReg(c, arch.RAX, uint16(q))
		setReg(c, arch.RDX, uint16(r))
	case 4:
		setReg(c, arch.RAX, uint32(q))
		setReg(c, arch.RDX, uint32(r))
	default:
		c.GPR[arch.RAX], c.GPR[arch.RDX] = q, r
	}
}

// imulRegRM: IMUL reg, r/m (0F AF) and IMUL reg, r/m, imm (69, 6B).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func imulRegRM[T word](c *CPU, in *Inst) {
	src, ok := readRM[T](c, in)
	if !ok {
		return
	}
	bitsz := sizeOf[T]() * 8
	var other T
	if in.op == 0x1AF {
		other = getReg[T](c, in.reg)
	} else {
		other = T(in.imm)
	}
	x, y := sext(uint64(src), bitsz), sext(uint64(other), bitsz)
	var lo uint64
	var ovf bool
	if bitsz == 64 {
		hi, l := mulSigned(x, y)
		lo = l
		ovf = int64(hi) != int64(l)>>63
	} else {
		p := x * y
		lo = uint64(p)
		ovf = sext(lo, bitsz) != p
	}
	setReg(c, in.reg, T(lo))
	mulFlags(c, uint64(T(lo)), uint8(sizeOf[T]()), ovf)
}

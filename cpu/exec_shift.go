package cpu

import "github.com/vmxemu/vmxemu/arch"

// Shifts and rotates: ROL, ROR, RCL, RCR, SHL/SAL, SHR, SAR (group 2:
// C0, C1, D0-D3), SHLD, SHRD (SDM Vol. 2B SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR).
// The count is masked to 5 bits (6 with a 64-bit operand); a masked count
// of 0 changes no flags.

// shiftCount returns the count operand of a group-2 instruction.
func shiftCount(c *CPU, in *Inst) uint64 {
	switch in.op & 0xFF {
	case 0xD0, 0xD1:
		return 1
	case 0xD2, 0xD3:
		return uint64(uint8(c.GPR[arch.RCX]))
	}
	return in.imm & 0xFF
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func grp2[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	bitsz := uint64(sizeOf[T]() * 8)
	mask := uint64(31)
	if bitsz == 64 {
		mask = 63
	}
	cnt := shiftCount(c, in) & mask
	if cnt == 0 {
		rmwWrite(c, in, lin, a)
		return
	}
	var r T
	f := c.Flags() & arch.FlagsArith
	msb := signBit[T]()
	switch in.sub {
	case 0: // ROL
		n := cnt % bitsz
		r = a<<n | a>>((bitsz-n)%bitsz)
		f &^= arch.FlagCF | arch.FlagOF
		if r&1 != 0 {
			f |= arch.FlagCF
		}
		if (r&msb != 0) != (r&1 != 0) {
			f |= arch.FlagOF
		}
	case 1: // ROR
		n := cnt % bitsz
		r = a>>n | a<<((bitsz-n)%bitsz)
		f &^= arch.FlagCF | arch.FlagOF
		if r&msb != 0 {
			f |= arch.FlagCF
		}
		if (r&msb != 0) != (r&(msb>>1) != 0) {
			f |= arch.FlagOF
		}
	case 2, 3: // RCL, RCR: rotate through CF; count mod size+1 for 8/16-bit
		n := cnt
		if bitsz < 32 {
			n = cnt % (bitsz + 1)
		}
		cf := f&arch.FlagCF != 0
		r = a
		for i := uint64(0); i < n; i++ {
			if in.sub == 2 {
				out := r&msb != 0
				r <<= 1
				if cf {
					r |= 1
				}
				cf = out
			} else {
				out := r&1 != 0
				r >>= 1
				if cf {
					r |= msb
				}
				cf = out
			}
		}
		f &^= arch.FlagCF | arch.FlagOF
		if cf {
			f |= arch.FlagCF
		}
		if in.sub == 2 {
			if (r&msb != 0) != cf {
				f |= arch.FlagOF
			}
		} else if (r&msb != 0) != (r&(msb>>1) != 0) {
			f |= arch.FlagOF
		}
	case 4, 6: // SHL/SAL
		r = a << cnt
		if cnt >= bitsz {
			r = 0
		}
		f = szp(uint64(r), uint8(bitsz/8))
		if cnt <= bitsz && (a<<(cnt-1))&msb != 0 {
			f |= arch.FlagCF
		}
		if (r&msb != 0) != (f&arch.FlagCF != 0) {
			f |= arch.FlagOF
		}
	case 5: // SHR
		r = a >> cnt
		if cnt >= bitsz {
			r = 0
		}
		f = szp(uint64(r), uint8(bitsz/8))
		if cnt <= bitsz && (a>>(cnt-1))&1 != 0 {
			f |= arch.FlagCF
		}
		if a&msb != 0 {
			f |= arch.FlagOF
		}
	case 7: // SAR
		sh := 64 - bitsz
		sv := int64(uint64(a)<<sh) >> sh
		n := cnt
		if n > bitsz-1 {
			n = bitsz - 1
		}
		r = T(uint64(sv >> n))
		f = szp(uint64(r), uint8(bitsz/8))
		if uint64(sv>>(min(cnt, bitsz)-1))&1 != 0 {
			f |= arch.FlagCF
		}
	}
	if !rmwWrite(c, in, lin, r) {
		return
	}
	c.setFlagsArith(f)
}

// shxd: SHLD/SHRD r/m, reg, imm8/CL (0F A4/A5, 0F AC/AD).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func shxd[T word](c *CPU, in *Inst) {
	a, lin, ok := rmwRead[T](c, in)
	if !ok {
		return
	}
	b := getReg[T](c, in.reg)
	var cnt uint64
	if in.op&1 != 0 {
		cnt = uint64(uint8(c.GPR[arch.RCX]))
	} else {
		cnt = in.imm2
	}
	bitsz := uint64(sizeOf[T]() * 8)
	if bitsz == 64 {
		cnt &= 63
	} else {
		cnt &= 31
	}
	if cnt == 0 {
		rmwWrite(c, in, lin, a)
		return
	}
	msb := signBit[T]()
	left := in.op == 0x1A4 || in.op == 0x1A5
	var r T
	var cf bool
	if cnt > bitsz {
		// 16-bit operands with a count of 17-31: the SDM leaves result
		// and flags undefined. Intel's P6 and later cores shift the 48-bit
		// dest:src:dest, as Bochs (SHLD_EwGw: "for P6 and later ...
		// op1:op2:op1") and QEMU (gen_shiftd_rm_T1: "the Intel behaviour
		// for shift count > 16 ... A:B:A") model them; CF is the last bit
		// shifted out of it. AMD differs (the checked-in AMD trace).
		x := uint64(a)<<32 | uint64(b)<<16 | uint64(a)
		if left {
			r = T(x << cnt >> 32)
			cf = x>>(48-cnt)&1 != 0
		} else {
			r = T(x >> cnt)
			cf = x>>(cnt-1)&1 != 0
		}
	} else if left {
		r = a<<cnt | b>>(bitsz-cnt)
		cf = (a>>(bitsz-cnt))&1 != 0
	} else {
		r = a>>cnt | b<<(bitsz-cnt)
		cf = (a>>(cnt-1))&1 != 0
	}
	f := szp(uint64(r), uint8(bitsz/8))
	if cf {
		f |= arch.FlagCF
	}
	if (r&msb != 0) != (a&msb != 0) {
		f |= arch.FlagOF
	}
	if !rmwWrite(c, in, lin, r) {
		return
	}
	c.setFlagsArith(f)
}

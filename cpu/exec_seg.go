package cpu

import "github.com/vmxemu/vmxemu/arch"

// Segment-register instructions: MOV to/from Sreg, PUSH/POP Sreg,
// LDS/LES/LSS/LFS/LGS (SDM Vol. 3A 3.4.3 "Segment Registers"; Vol. 2B MOV,
// PUSH, POP; Vol. 2A LDS/LES/LFS/LGS/LSS), and the far-pointer operand
// they share with far JMP/CALL.

// movSregRM: MOV Sreg, r/m16 (8E). Loading CS is #UD; MOV SS inhibits
// interrupts for one instruction (SDM Vol. 2B MOV).
func movSregRM(c *CPU, in *Inst) {
	seg := int(in.sub)
	if seg == arch.CS || seg > arch.GS {
		c.raiseUD("MOV to CS or to a nonexistent segment register", "Vol. 2B MOV")
		return
	}
	v, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	if c.loadSeg(seg, v) && seg == arch.SS {
		c.shadow = shadowMovSS
		c.stop = true
	}
}

// movRMSreg: MOV r/m, Sreg (8C): register destinations take the operand
// size (upper bits zeroed for 32-bit), memory destinations 16 bits.
func movRMSreg(c *CPU, in *Inst) {
	seg := int(in.sub)
	if seg > arch.GS {
		c.raiseUD("MOV from a nonexistent segment register", "Vol. 2B MOV")
		return
	}
	v := c.Seg[seg].Selector
	if in.mod == 3 {
		switch in.opsz {
		case 2:
			setReg(c, in.rm, v)
		case 4:
			setReg(c, in.rm, uint32(v))
		default:
			setReg(c, in.rm, uint64(v))
		}
		return
	}
	wr(c, in.seg, c.ea(in), v)
}

// segOfOpcode maps PUSH/POP Sreg opcodes to segment registers.
func segOfOpcode(op uint16) int {
	switch op {
	case 0x06, 0x07:
		return arch.ES
	case 0x0E:
		return arch.CS
	case 0x16, 0x17:
		return arch.SS
	case 0x1E, 0x1F:
		return arch.DS
	case 0x1A0, 0x1A1:
		return arch.FS
	}
	return arch.GS
}

// pushSreg: PUSH ES/CS/SS/DS/FS/GS. With a 32/64-bit operand size the
// current Intel cores write only the low 16 bits (SDM Vol. 2B PUSH).
func pushSreg(c *CPU, in *Inst) {
	sel := c.Seg[segOfOpcode(in.op)].Selector
	m := c.stackMask()
	sp := (c.GPR[arch.RSP] - uint64(in.opsz)) & m
	if _, ok := c.linear(arch.SS, sp, uint64(in.opsz), accWrite); !ok {
		return
	}
	if !wr(c, arch.SS, sp, sel) {
		return
	}
	c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | sp
}

// popSreg: POP ES/SS/DS/FS/GS. POP SS inhibits interrupts for one
// instruction.
func popSreg(c *CPU, in *Inst) {
	seg := segOfOpcode(in.op)
	v, ok := peek[uint16](c, 0)
	if !ok {
		return
	}
	old := c.GPR[arch.RSP]
	m := c.stackMask()
	c.GPR[arch.RSP] = old&^m | (old+uint64(in.opsz))&m
	if !c.loadSeg(seg, v) {
		c.GPR[arch.RSP] = old
		return
	}
	if seg == arch.SS {
		c.shadow = shadowMovSS
		c.stop = true
	}
}

// lxs: LES/LDS (C4/C5 outside 64-bit mode), LSS/LFS/LGS (0F B2/B4/B5).
func lxs(c *CPU, in *Inst) {
	var seg int
	switch in.op {
	case 0xC4:
		seg = arch.ES
	case 0xC5:
		seg = arch.DS
	case 0x1B2:
		seg = arch.SS
	case 0x1B4:
		seg = arch.FS
	default:
		seg = arch.GS
	}
	off, sel, ok := c.readFarPointer(in)
	if !ok {
		return
	}
	if !c.loadSeg(seg, sel) {
		return
	}
	switch in.opsz {
	case 2:
		setReg(c, in.reg, uint16(off))
	case 4:
		setReg(c, in.reg, uint32(off))
	default:
		setReg(c, in.reg, off)
	}
}

// readFarPointer reads the m16:16/32/64 operand of LDS/LES/LSS/LFS/LGS
// and of far JMP/CALL: the offset in the operand size, then the selector.
func (c *CPU) readFarPointer(in *Inst) (off uint64, sel uint16, ok bool) {
	addr := c.ea(in)
	switch in.opsz {
	case 2:
		v, ok := rd[uint16](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = uint64(v)
	case 4:
		v, ok := rd[uint32](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = uint64(v)
	default:
		v, ok := rd[uint64](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = v
	}
	sel, ok = rd[uint16](c, in.seg, (addr+uint64(in.opsz))&in.amask)
	return off, sel, ok
}

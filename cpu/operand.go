package cpu

import "github.com/vmxemu/vmxemu/arch"

// Register and r/m operand access shared by the instruction families.

// getReg reads register r as a T. For bytes, r&0x10 selects AH/CH/DH/BH.
func getReg[T word](c *CPU, r uint8) T {
	if sizeOf[T]() == 1 && r&0x10 != 0 {
		return T(c.GPR[r&3] >> 8)
	}
	return T(c.GPR[r&15])
}

// setReg writes register r: 8- and 16-bit writes merge, 32-bit writes zero
// the upper half, 64-bit writes replace (SDM Vol. 1 3.4.1.1).
func setReg[T word](c *CPU, r uint8, v T) {
	if uint64(^T(0)) >= 0xFFFFFFFF {
		// 32 or 64 bits; uint64(v) zero-extends a uint32.
		c.GPR[r&15] = uint64(v)
		return
	}
	c.setRegNarrow(r, uint64(v), uint64(^T(0)))
}

// setRegNarrow merges an 8- or 16-bit value (mask 0xFF or 0xFFFF) into
// register r; for bytes, r&0x10 selects AH/CH/DH/BH (bits 15:8 of
// register r&3).
func (c *CPU) setRegNarrow(r uint8, v, mask uint64) {
	i, sh := r&15, uint(0)
	if mask == 0xFF && r&0x10 != 0 {
		i, sh = r&3, 8
	}
	p := &c.GPR[i]
	*p = *p&^(mask<<sh) | v<<sh
}

// readRM reads the r/m operand.
func readRM[T word](c *CPU, in *Inst) (T, bool) {
	if in.mod == 3 {
		return getReg[T](c, in.rm), true
	}
	return rd[T](c, in.seg, c.ea(in))
}

// writeRM writes the r/m operand.
func writeRM[T word](c *CPU, in *Inst, v T) bool {
	if in.mod == 3 {
		setReg(c, in.rm, v)
		return true
	}
	return wr(c, in.seg, c.ea(in), v)
}

// rmw is a read-modify-write access to the r/m operand: it checks write
// access before reading so a fault leaves memory untouched, and returns the
// linear address to store back to (SDM: a locked or RMW operand is
// accessed for writing).
func rmwRead[T word](c *CPU, in *Inst) (T, uint64, bool) {
	if in.mod == 3 {
		return getReg[T](c, in.rm), 0, true
	}
	lin, ok := c.linear(in.seg, c.ea(in), uint64(sizeOf[T]()), accWrite)
	if !ok {
		return 0, 0, false
	}
	// Probe writability through the write TLB first so a read-only page
	// faults with W=1, as the processor reports for RMW instructions.
	e := &c.tlb.write[c.tlb.index(lin)]
	if e.tag != c.tlb.tag(lin) || lin&0xfff > uint64(4096-sizeOf[T]()) {
		if !c.probeWrite(lin, uint64(sizeOf[T]())) {
			return 0, 0, false
		}
	}
	v, ok := rdLin[T](c, lin)
	return v, lin, ok
}

// probeWrite checks that every page of a size-byte access at lin is
// writable, raising the fault a write would (W/R=1) before anything is
// read or written.
func (c *CPU) probeWrite(lin, size uint64) bool {
	if _, ok := c.translate(lin, accWrite, c.cpl == 3, false); !ok {
		return false
	}
	if next := lin&^0xfff + 0x1000; lin+size-1 >= next {
		// The fault address is the first byte in the second page.
		if _, ok := c.translate(next, accWrite, c.cpl == 3, false); !ok {
			return false
		}
	}
	return true
}

func rmwWrite[T word](c *CPU, in *Inst, lin uint64, v T) bool {
	if in.mod == 3 {
		setReg(c, in.rm, v)
		return true
	}
	return wrLin(c, lin, v)
}

// Stack operations (SDM Vol. 1 6.2). The stack-address size comes from
// SS.B outside 64-bit mode.
func (c *CPU) stackMask() uint64 {
	if c.codeMode == mode64 {
		return ^uint64(0)
	}
	if c.Seg[arch.SS].Attr&arch.ARDB != 0 { // SS.B
		return 0xFFFFFFFF
	}
	return 0xFFFF
}

func push[T word](c *CPU, v T) bool {
	m := c.stackMask()
	sp := (c.GPR[4] - uint64(sizeOf[T]())) & m
	if !wr(c, arch.SS, sp, v) {
		return false
	}
	c.GPR[4] = c.GPR[4]&^m | sp
	return true
}

func pop[T word](c *CPU) (T, bool) {
	m := c.stackMask()
	sp := c.GPR[4] & m
	v, ok := rd[T](c, arch.SS, sp)
	if !ok {
		return 0, false
	}
	c.GPR[4] = c.GPR[4]&^m | (sp+uint64(sizeOf[T]()))&m
	return v, true
}

// peek reads the stack at offset off from the top without popping.
func peek[T word](c *CPU, off uint64) (T, bool) {
	m := c.stackMask()
	return rd[T](c, arch.SS, (c.GPR[arch.RSP]+off)&m)
}

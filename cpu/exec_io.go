package cpu

import "github.com/vmxemu/vmxemu/arch"

// Port I/O: IN/OUT and the I/O privilege check shared with INS/OUTS
// (exec_string.go) (SDM Vol. 1 chapter 19 "Input/Output", 19.5
// "Protected-Mode I/O").

// ioAllowed applies the I/O privilege check: CPL <= IOPL, or the TSS I/O
// permission bitmap allows every byte of the access (SDM Vol. 1 19.5).
func (c *CPU) ioAllowed(port uint16, size int) bool {
	if c.CR0&arch.CR0PE == 0 {
		return true
	}
	if c.RFLAGS&arch.FlagVM == 0 && int(c.cpl) <= c.iopl() {
		return true
	}
	tr := &c.TR
	if tr.Selector == 0 || tr.Attr&arch.ARType < 9 || tr.Limit < 0x67 {
		c.raiseGP("I/O with CPL > IOPL and no 32/64-bit TSS for the permission bitmap", "Vol. 1 19.5.2")
		return false
	}
	base, ok := c.sysRead(tr.Base+0x66, 2)
	if !ok {
		return false
	}
	off := base + uint64(port)/8
	if off+1 > uint64(tr.Limit) {
		c.raiseGP("I/O permission bitmap does not cover the port (beyond the TSS limit)", "Vol. 1 19.5.2")
		return false
	}
	bm, ok := c.sysRead(tr.Base+off, 2)
	if !ok {
		return false
	}
	mask := uint64(1)<<size - 1
	if (bm>>(port&7))&mask != 0 {
		c.raiseGP("I/O permission bitmap denies the port", "Vol. 1 19.5.2")
		return false
	}
	return true
}

// inOut: IN/OUT with imm8 or DX port (E4-E7, EC-EF).
func inOut(c *CPU, in *Inst) {
	var port uint16
	if in.op&8 == 0 {
		port = uint16(in.imm)
	} else {
		port = uint16(c.GPR[arch.RDX])
	}
	size := int(in.opsz)
	if size == 8 {
		size = 4
	}
	if !c.ioAllowed(port, size) || c.guestIOExit(in, port, size, in.op&2 == 0, false) {
		return
	}
	c.checkIO(port, size)
	if in.op&2 == 0 {
		v := c.bus.In(port, size)
		if c.Hooks != nil && c.Hooks.IO != nil {
			c.Hooks.IO(c, port, size, v, false)
		}
		switch size {
		case 1:
			setReg(c, arch.RAX, uint8(v))
		case 2:
			setReg(c, arch.RAX, uint16(v))
		default:
			setReg(c, arch.RAX, v)
		}
	} else {
		if c.Hooks != nil && c.Hooks.IO != nil {
			c.Hooks.IO(c, port, size, uint32(c.GPR[arch.RAX])&(1<<(8*size)-1), true)
		}
		c.bus.Out(port, size, uint32(c.GPR[arch.RAX]))
	}
	c.KickInterrupt() // the device may have changed an interrupt line
	c.stop = true     // a device may have ended the run or raised an interrupt
}

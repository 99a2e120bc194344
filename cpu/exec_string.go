package cpu

import "github.com/vmxemu/vmxemu/arch"

// String instructions: MOVS, STOS, LODS, CMPS, SCAS, INS, OUTS with REP,
// REPE and REPNE (SDM Vol. 2B "REP/REPE/REPZ/REPNE/REPNZ"). Each element
// updates rSI/rDI/rCX before the next, so a fault or an interrupt between
// elements leaves them consistent and RIP at the instruction, which then
// resumes (SDM Vol. 1 7.3.9.1 / Vol. 3A 6.x "REP restartable").

// repChunk bounds the elements done before the instruction yields to the
// event loop (it is then re-executed to continue).
const repChunk = 1024

// strStep is the signed element step for the current DF.
func strStep[T word](c *CPU) uint64 {
	if c.RFLAGS&arch.FlagDF != 0 {
		return -uint64(sizeOf[T]())
	}
	return uint64(sizeOf[T]())
}

// advance adds step to the address-size part of register r.
func advance(c *CPU, r int, step, m uint64) {
	v := (c.GPR[r] + step) & m
	if m == 0xFFFFFFFF {
		c.GPR[r] = v
	} else {
		c.GPR[r] = c.GPR[r]&^m | v
	}
}

// repLoop runs body up to the count; body returns false on a fault (state
// of that element not committed) and stop=true to end a REPE/REPNE loop.
func repLoop(c *CPU, in *Inst, body func() (ok bool, cond bool)) {
	m := in.amask
	if in.rep == 0 {
		body()
		return
	}
	for n := 0; ; n++ {
		cnt := c.GPR[arch.RCX] & m
		if cnt == 0 {
			return
		}
		if n == repChunk {
			// Yield: re-execute this instruction to continue.
			c.RIP = c.ripCur
			c.stop = true
			return
		}
		ok, cond := body()
		if !ok {
			return
		}
		advance(c, arch.RCX, ^uint64(0), m)
		if c.dbg.hit != 0 {
			// A data or I/O breakpoint traps after this iteration,
			// with RIP at the instruction while iterations remain
			// (SDM Vol. 3B 18.3.1.2).
			if cond && c.GPR[arch.RCX]&m != 0 {
				c.RIP = c.ripCur
			}
			return
		}
		if !cond {
			return
		}
	}
}

// isRepCond reports whether the opcode is CMPS/SCAS (which use REPE/REPNE).
func repCond(c *CPU, in *Inst) bool {
	switch in.op {
	case 0xA6, 0xA7, 0xAE, 0xAF:
		if in.rep == 0xF3 {
			return c.zf()
		}
		return !c.zf()
	}
	return true
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movs[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	repLoop(c, in, func() (bool, bool) {
		v, ok := rd[T](c, in.seg, c.GPR[arch.RSI]&in.amask)
		if !ok {
			return false, false
		}
		if !wr(c, arch.ES, c.GPR[arch.RDI]&in.amask, v) {
			return false, false
		}
		advance(c, arch.RSI, step, in.amask)
		advance(c, arch.RDI, step, in.amask)
		return true, true
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func stos[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	v := getReg[T](c, arch.RAX)
	repLoop(c, in, func() (bool, bool) {
		if !wr(c, arch.ES, c.GPR[arch.RDI]&in.amask, v) {
			return false, false
		}
		advance(c, arch.RDI, step, in.amask)
		return true, true
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func lods[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	repLoop(c, in, func() (bool, bool) {
		v, ok := rd[T](c, in.seg, c.GPR[arch.RSI]&in.amask)
		if !ok {
			return false, false
		}
		setReg(c, arch.RAX, v)
		advance(c, arch.RSI, step, in.amask)
		return true, true
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func cmps[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	repLoop(c, in, func() (bool, bool) {
		a, ok := rd[T](c, in.seg, c.GPR[arch.RSI]&in.amask)
		if !ok {
			return false, false
		}
		b, ok := rd[T](c, arch.ES, c.GPR[arch.RDI]&in.amask)
		if !ok {
			return false, false
		}
		alu(c, aluCMP, a, b)
		advance(c, arch.RSI, step, in.amask)
		advance(c, arch.RDI, step, in.amask)
		return true, repCond(c, in)
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func scas[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	repLoop(c, in, func() (bool, bool) {
		b, ok := rd[T](c, arch.ES, c.GPR[arch.RDI]&in.amask)
		if !ok {
			return false, false
		}
		alu(c, aluCMP, getReg[T](c, arch.RAX), b)
		advance(c, arch.RDI, step, in.amask)
		return true, repCond(c, in)
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func ins[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	port := uint16(c.GPR[arch.RDX])
	if !c.ioAllowed(port, int(sizeOf[T]())) || c.guestIOExit(in, port, int(sizeOf[T]()), true, true) {
		return
	}
	c.checkIO(port, int(sizeOf[T]()))
	repLoop(c, in, func() (bool, bool) {
		// The destination is checked before the port is read.
		lin, ok := c.linear(arch.ES, c.GPR[arch.RDI]&in.amask, uint64(sizeOf[T]()), accWrite)
		if !ok {
			return false, false
		}
		if _, ok := c.translate(lin, accWrite, c.cpl == 3, false); !ok {
			return false, false
		}
		v := T(c.bus.In(port, int(sizeOf[T]())))
		if !wrLin(c, lin, v) {
			return false, false
		}
		advance(c, arch.RDI, step, in.amask)
		return true, true
	})
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func outs[T word](c *CPU, in *Inst) {
	step := strStep[T](c)
	port := uint16(c.GPR[arch.RDX])
	if !c.ioAllowed(port, int(sizeOf[T]())) || c.guestIOExit(in, port, int(sizeOf[T]()), false, true) {
		return
	}
	c.checkIO(port, int(sizeOf[T]()))
	repLoop(c, in, func() (bool, bool) {
		v, ok := rd[T](c, in.seg, c.GPR[arch.RSI]&in.amask)
		if !ok {
			return false, false
		}
		c.bus.Out(port, int(sizeOf[T]()), uint32(v))
		advance(c, arch.RSI, step, in.amask)
		return true, true
	})
}

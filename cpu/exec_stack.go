package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// Stack fast paths: PUSH r, POP r, CALL rel and RET (imm16) with the
// operand size of the mode's compiled code (64 bits in 64-bit mode, 32
// outside it), for the block fast list only (fastInsts installs them;
// single steps, interrupt shadows and partial blocks run block.insts,
// the generic handlers of exec_branch.go).
//
// Each handler makes the checks of the generic path in one piece for the
// common case and falls back to that path, untouched, for everything
// else, so it does what the generic handler does by construction:
//   - 64-bit mode: SS's base is 0 and the stack-address size 64 bits
//     (SDM Vol. 1 6.2; Vol. 3A 3.2.4); the access is valid when its
//     first byte is canonical (canonical48) and its 8 bytes lie in one page (the
//     canonical ranges end at page boundaries, so the last byte is then
//     canonical too, as for rd and wr: see rwIn; Vol. 3A 3.3.7.1),
//     and a write (read) TLB hit within the page stands for the paging
//     checks, as in wr (rd).
//   - Outside 64-bit mode: SS is an rw segment (segView: usable,
//     readable, writable, expand-up) with SS.B=1 (CPU.stack32End: a
//     32-bit stack pointer, Vol. 1 6.2), and the 4 bytes lie within the limit
//     (rwIn), within one page, with a TLB hit.
//   - A CALL or RET target is taken inline when nearTarget would take it:
//     canonical in 64-bit mode, within the CS limit outside it (Vol. 2A
//     CALL, RET "#GP(0)").
//
// The order of the checks does not matter: nothing is written until all
// of them pass, and on a miss the generic handler starts from the same
// state and raises the fault the SDM orders first.

// stackFast returns the fast-path handler for in in decode mode mode,
// or nil when it has none.
func stackFast(in *Inst, mode uint8) handler {
	if in.fault != nil || in.nret != 1 {
		return nil
	}
	want := uint8(4)
	if mode == mode64 {
		want = 8
	} else if mode != mode32 {
		return nil
	}
	if in.opsz != want {
		return nil
	}
	switch op := in.op; {
	case op >= 0x50 && op <= 0x57:
		if mode == mode64 {
			return push64Reg
		}
		return push32Reg
	case op >= 0x58 && op <= 0x5F:
		if mode == mode64 {
			return pop64Reg
		}
		return pop32Reg
	case op == 0xE8:
		if mode == mode64 {
			return call64Rel
		}
		return call32Rel
	case op == 0xC3 || op == 0xC2:
		if mode == mode64 {
			return ret64
		}
		return ret32
	}
	return nil
}

// stack64 is the host address of the 8 bytes at stack address sp in
// 64-bit mode through TLB array t (c.tlb.read or c.tlb.write), or nil
// when the fast path does not apply.
func (c *CPU) stack64(t *[tlbSize]tlbEntry, sp uint64) *uint64 {
	e := &t[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8 {
		return (*uint64)(unsafe.Pointer(&e.page[o]))
	}
	return nil
}

// canonical48 reports whether a is canonical with 48 linear-address
// bits, which makes it canonical with 57 as well (CR4.LA57): the fast
// paths take it for canonical and leave the rest to the generic path's
// exact check (canonical, nearTarget).
func canonical48(a uint64) bool { return uint64(int64(a<<16)>>16) == a }

// stack32 is the host address of the 4 bytes at stack offset sp (below
// 2^32) outside 64-bit mode through TLB array t, or nil when the fast
// path does not apply.
func (c *CPU) stack32(t *[tlbSize]tlbEntry, sp uint64) *uint32 {
	lin := uint64(uint32(c.segv[arch.SS].base + sp))
	e := &t[c.tlb.index(lin)]
	if o := lin & 0xfff; sp < c.stack32End && e.tag == c.tlb.tag(lin) && o <= 4096-4 {
		return (*uint32)(unsafe.Pointer(&e.page[o]))
	}
	return nil
}

// push64Reg: PUSH r64 (50-57) in 64-bit mode.
func push64Reg(c *CPU, in *Inst) {
	sp := c.GPR[arch.RSP] - 8
	if p := c.stack64(&c.tlb.write, sp); p != nil {
		*p = c.GPR[in.reg&15]
		c.GPR[arch.RSP] = sp
		return
	}
	pushReg[uint64](c, in)
}

// pop64Reg: POP r64 (58-5F) in 64-bit mode. POP RSP loads the value
// popped (SDM Vol. 2B POP).
func pop64Reg(c *CPU, in *Inst) {
	sp := c.GPR[arch.RSP]
	if p := c.stack64(&c.tlb.read, sp); p != nil {
		c.GPR[arch.RSP] = sp + 8
		c.GPR[in.reg&15] = *p
		return
	}
	popReg[uint64](c, in)
}

// call64Rel: CALL rel32 (E8) in 64-bit mode.
func call64Rel(c *CPU, in *Inst) {
	t := c.RIP + in.imm
	sp := c.GPR[arch.RSP] - 8
	if canonical48(t) {
		if p := c.stack64(&c.tlb.write, sp); p != nil {
			*p = c.RIP
			c.GPR[arch.RSP] = sp
			c.RIP = t
			return
		}
	}
	callRel(c, in)
}

// ret64: RET and RET imm16 (C3, C2) in 64-bit mode.
func ret64(c *CPU, in *Inst) {
	sp := c.GPR[arch.RSP]
	if p := c.stack64(&c.tlb.read, sp); p != nil {
		if t := *p; canonical48(t) {
			c.GPR[arch.RSP] = sp + 8 + in.imm
			c.RIP = t
			return
		}
	}
	retNear[uint64](c, in)
}

// push32Reg: PUSH r32 (50-57) outside 64-bit mode.
func push32Reg(c *CPU, in *Inst) {
	sp := (c.GPR[arch.RSP] - 4) & 0xFFFFFFFF
	if p := c.stack32(&c.tlb.write, sp); p != nil {
		*p = uint32(c.GPR[in.reg&15])
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFFFFFF | sp
		return
	}
	pushReg[uint32](c, in)
}

// pop32Reg: POP r32 (58-5F) outside 64-bit mode.
func pop32Reg(c *CPU, in *Inst) {
	sp := c.GPR[arch.RSP] & 0xFFFFFFFF
	if p := c.stack32(&c.tlb.read, sp); p != nil {
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFFFFFF | (sp+4)&0xFFFFFFFF
		c.GPR[in.reg&15] = uint64(*p)
		return
	}
	popReg[uint32](c, in)
}

// call32Rel: CALL rel32 (E8) outside 64-bit mode.
func call32Rel(c *CPU, in *Inst) {
	t := (c.RIP + in.imm) & 0xFFFFFFFF
	sp := (c.GPR[arch.RSP] - 4) & 0xFFFFFFFF
	if t <= uint64(c.Seg[arch.CS].Limit) {
		if p := c.stack32(&c.tlb.write, sp); p != nil {
			*p = uint32(c.RIP)
			c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFFFFFF | sp
			c.RIP = t
			return
		}
	}
	callRel(c, in)
}

// ret32: RET and RET imm16 (C3, C2) outside 64-bit mode.
func ret32(c *CPU, in *Inst) {
	sp := c.GPR[arch.RSP] & 0xFFFFFFFF
	if p := c.stack32(&c.tlb.read, sp); p != nil {
		if t := uint64(*p); t <= uint64(c.Seg[arch.CS].Limit) {
			c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFFFFFF | (sp+4+in.imm)&0xFFFFFFFF
			c.RIP = t
			return
		}
	}
	retNear[uint32](c, in)
}

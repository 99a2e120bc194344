package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// Stack runs: a run of consecutive PUSH r64 (or POP r64) in 64-bit mode,
// the prologues and epilogues of compiled code, as one entry of Run's
// fast list: "push rbp; mov rbp, rsp; push r15; ...; push rbx; sub rsp,
// 8" (pushes with MOV r64,RSP among them and a SUB RSP,imm after them)
// and "add rsp, 8; pop rbx; ...; pop rbp; ret" (pops with an ADD RSP,imm
// before them and a RET or RET imm16 after them).
//
// The entry is a copy of the run's first instruction with nret its
// number of instructions (all of them), len their bytes, disp their
// registers (4 bits each, the first in bits 3:0) and kinds (ekStack ...,
// 4 bits each from bit 32), amask their lengths (4 bits each), imm2 the
// ADD/SUB immediate, imm the RET's, jlen the number of 8-byte stack
// slots the pushes (pops and RET) touch and jopsz stackRunMark. Kept
// out: POP RSP and PUSH RSP (the value pushed is RSP before the push, the
// one popped becomes RSP: SDM Vol. 2B PUSH, POP), 16-bit operand size
// (66), a 32-bit MOV, POP SS and every other form; LOCK is #UD at decode
// (in.fault). The ADD and SUB write the status flags as their own
// handlers do (setLazy; SDM Vol. 2A ADD, Vol. 2B SUB); MOV and the stack
// instructions write none.
//
// The fast path is the stack fast paths' (exec_stack.go) for the whole
// span at once: in 64-bit mode SS's base is 0 and the stack-address size
// 64 bits (SDM Vol. 1 6.2, Vol. 3A 3.2.4); the n pushes write the 8n
// bytes [RSP-8n, RSP), the pops (and the RET) read [RSP, RSP+8n). When
// the span's first byte is canonical (canonical48), the span lies in one
// page (so its last byte is canonical too: the canonical ranges end at
// page boundaries; Vol. 3A 3.3.7.1) and the page has a write (read) TLB
// hit, every one of the n accesses would hit the same entry in the fast
// path of its own instruction, so none of them can fault and the entry
// moves the values and sets RSP once. A TLB entry stands for all paging
// and protection checks of its page: none is made for a page a data
// breakpoint watches, a code page (writes), a supervisor access to a user
// page under SMAP, or with alignment checking (fillEntry). The RET's
// target is taken inline when canonical, as in ret64.
//
// Anything else runs the instructions one at a time (stackRunSlow), each
// with its own handler's checks and with ripCur and RIP at it, so that a
// fault on the k-th instruction leaves the k-1 before it retired and is
// delivered with RIP at the k-th, and a stop after it (a write to a code
// page) ends the entry there (CPU.runStop, retireStopped). Time: none of
// these instructions reads it, and now() during the k-th one's slow path
// sees the k-1 before it through ripCur.

// maxStackRun bounds the instructions of one stack run entry: 8
// registers of 4 bits fill disp's low 32 bits.
const maxStackRun = 8

// Stack run element kinds.
const (
	srNone = iota
	srPush
	srPop
)

// Kinds of a stack run's instructions, 4 bits each in disp's high 32
// bits: the run's PUSH or POP, MOV r64,RSP (among pushes), SUB RSP,imm
// (after the pushes), ADD RSP,imm (before the pops) and RET (after them).
const (
	ekStack = iota
	ekMov
	ekSub
	ekAdd
	ekRet
)

// stackRunKind classifies in as an element of a stack run in decode mode
// mode: PUSH r64 or POP r64 other than RSP in 64-bit mode.
func stackRunKind(in *Inst, mode uint8) int {
	if mode != mode64 || in.fault != nil || in.lock || in.nret != 1 || in.opsz != 8 || in.reg&15 == arch.RSP {
		return srNone
	}
	switch op := in.op; {
	case op >= 0x50 && op <= 0x57:
		return srPush
	case op >= 0x58 && op <= 0x5F:
		return srPop
	}
	return srNone
}

// stackRunRet reports whether in is a RET (C3) or RET imm16 (C2) that
// ends a run of pops in 64-bit mode (66 is ignored there: fForce64).
func stackRunRet(in *Inst, mode uint8) bool {
	return mode == mode64 && (in.op == 0xC3 || in.op == 0xC2) && in.fault == nil && !in.lock && in.nret == 1 && in.opsz == 8
}

// stackRunMov returns the destination of in when it is MOV r64,RSP (89
// or 8B) to a register other than RSP, which a run of pushes may hold
// (the frame pointer's "mov rbp, rsp").
func stackRunMov(in *Inst) (uint8, bool) {
	if in.fault != nil || in.lock || in.nret != 1 || in.opsz != 8 || in.mod != 3 {
		return 0, false
	}
	switch {
	case in.op == 0x89 && in.reg == arch.RSP && in.rm != arch.RSP && in.rm < 16:
		return in.rm, true
	case in.op == 0x8B && in.rm == arch.RSP && in.reg != arch.RSP && in.reg < 16:
		return in.reg, true
	}
	return 0, false
}

// stackRunAdjust reports whether in is ADD RSP,imm or SUB RSP,imm (81,
// 83) with 64-bit operand size, sub whether it is SUB.
func stackRunAdjust(in *Inst, sub bool) bool {
	op, rr, ok := pairOp(in)
	want := uint8(aluADD)
	if sub {
		want = aluSUB
	}
	return ok && !rr && (in.op == 0x81 || in.op == 0x83) && in.opsz == 8 && in.rm == arch.RSP && op == want
}

// isStackRun reports whether f is a stack run entry.
func isStackRun(f *Inst) bool { return f.jopsz == stackRunMark && f.nret > 1 }

// stackRunMark marks a stack run entry in Inst.jopsz (a fused pair's
// field, unused here).
const stackRunMark = 0xFF

// foldStackRuns replaces the runs of pushes and pops in the fast list
// fast (a copy, never block.insts) by stack run entries: a run of pushes
// with MOV r64,RSP among them and a SUB RSP,imm after them, or a run of
// pops with an ADD RSP,imm before them and a RET after them.
func foldStackRuns(fast []Inst, mode uint8) []Inst {
	if mode != mode64 {
		return fast
	}
	for i := 0; i < len(fast); i++ {
		var kinds []uint8
		var adj uint64
		j := i
		switch {
		case stackRunKind(&fast[i], mode) == srPush:
			for j < len(fast) && len(kinds) < maxStackRun {
				if stackRunKind(&fast[j], mode) == srPush {
					kinds = append(kinds, ekStack)
				} else if _, ok := stackRunMov(&fast[j]); ok {
					kinds = append(kinds, ekMov)
				} else {
					break
				}
				j++
			}
			if j < len(fast) && len(kinds) < maxStackRun && stackRunAdjust(&fast[j], true) {
				kinds = append(kinds, ekSub)
				adj = fast[j].imm
				j++
			}
		case stackRunKind(&fast[i], mode) == srPop || stackRunAdjust(&fast[i], false) && i+1 < len(fast) && stackRunKind(&fast[i+1], mode) == srPop:
			if stackRunAdjust(&fast[i], false) {
				kinds = append(kinds, ekAdd)
				adj = fast[i].imm
				j++
			}
			for j < len(fast) && len(kinds) < maxStackRun && stackRunKind(&fast[j], mode) == srPop {
				kinds = append(kinds, ekStack)
				j++
			}
			if j < len(fast) && len(kinds) < maxStackRun && stackRunRet(&fast[j], mode) {
				kinds = append(kinds, ekRet)
				j++
			}
		default:
			continue
		}
		n := j - i
		if n < 2 {
			continue
		}
		f := fast[i]
		var regs, ks, lens uint64
		length, slots := 0, 0
		for e := n - 1; e >= 0; e-- {
			in := &fast[i+e]
			r := in.reg & 15
			switch kinds[e] {
			case ekMov:
				r, _ = stackRunMov(in)
			case ekSub, ekAdd:
				r = 0
			}
			if kinds[e] == ekStack || kinds[e] == ekRet {
				slots++
			}
			regs = regs<<4 | uint64(r)
			ks = ks<<4 | uint64(kinds[e])
			lens = lens<<4 | uint64(in.len&15)
			length += int(in.len)
		}
		f.disp = regs | ks<<32
		f.amask = lens
		f.imm2 = adj
		f.jlen = uint8(slots)
		f.jopsz = stackRunMark
		f.len = uint8(length)
		f.nret = uint8(n)
		last := &fast[j-1]
		switch {
		case kinds[0] != ekAdd && stackRunKind(&fast[i], mode) == srPush:
			f.fn = pushRun64
		case kinds[n-1] == ekRet:
			f.fn = popRunRet64
			f.imm = last.imm
			f.end = last.end
		default:
			f.fn = popRun64
		}
		fast[i] = f
		fast = append(fast[:i+1], fast[j:]...)
	}
	return fast
}

// pushRun64: a run of PUSH r64 in 64-bit mode, with MOV r64,RSP among
// them and a SUB RSP,imm after them (which sets the flags as SUB does:
// SDM Vol. 2B SUB).
func pushRun64(c *CPU, in *Inst) {
	rsp := c.GPR[arch.RSP]
	sp := rsp - 8*uint64(in.jlen)
	e := &c.tlb.write[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*uint64(in.jlen) {
		p := unsafe.Pointer(&e.page[o])
		regs := in.disp
		cur := rsp
		for n := in.nret; n > 0; n-- {
			switch k := regs >> 32 & 15; k {
			case ekStack:
				cur -= 8
				*(*uint64)(unsafe.Add(p, cur-sp)) = c.GPR[regs&15]
			case ekMov:
				c.GPR[regs&15] = cur
			default: // ekSub, the last
				r := cur - in.imm2
				setLazy(c, lzSub, cur, in.imm2, r)
				cur = r
			}
			regs = regs >> 4 & 0x0FFFFFFF0FFFFFFF
		}
		c.GPR[arch.RSP] = cur
		return
	}
	c.stackRunSlow(in, srPush)
}

// popRun64: a run of POP r64 in 64-bit mode, with an ADD RSP,imm before
// them (which sets the flags as ADD does: SDM Vol. 2A ADD).
func popRun64(c *CPU, in *Inst) {
	n := uint64(in.jlen)
	a := c.GPR[arch.RSP]
	regs := in.disp
	sp, add := a, regs>>32&15 == ekAdd
	if add {
		sp = a + in.imm2
	}
	e := &c.tlb.read[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*n {
		p := unsafe.Pointer(&e.page[o])
		if add {
			setLazy(c, lzAdd, a, in.imm2, sp)
			regs = regs >> 4 & 0x0FFFFFFF0FFFFFFF
		}
		for i := uint64(0); i < n; i++ {
			c.GPR[regs&15] = *(*uint64)(unsafe.Add(p, 8*i))
			regs >>= 4
		}
		c.GPR[arch.RSP] = sp + 8*n
		return
	}
	c.stackRunSlow(in, srPop)
}

// popRunRet64: a run of POP r64 (after an ADD RSP,imm) and the RET
// (imm16) after it in 64-bit mode.
func popRunRet64(c *CPU, in *Inst) {
	n := uint64(in.jlen) // the pops and the RET: n stack slots
	a := c.GPR[arch.RSP]
	regs := in.disp
	sp, add := a, regs>>32&15 == ekAdd
	if add {
		sp = a + in.imm2
	}
	e := &c.tlb.read[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*n {
		p := unsafe.Pointer(&e.page[o])
		if t := *(*uint64)(unsafe.Add(p, 8*(n-1))); canonical48(t) {
			if add {
				setLazy(c, lzAdd, a, in.imm2, sp)
				regs = regs >> 4 & 0x0FFFFFFF0FFFFFFF
			}
			for i := uint64(0); i < n-1; i++ {
				c.GPR[regs&15] = *(*uint64)(unsafe.Add(p, 8*i))
				regs >>= 4
			}
			c.GPR[arch.RSP] = sp + 8*n + in.imm
			c.RIP = t
			return
		}
	}
	c.stackRunSlow(in, srPop)
}

// stackRunSlow runs the stack run in one instruction at a time, as their
// own handlers (push64Reg, pop64Reg, ret64, MOV, ADD, SUB) would, with
// ripCur at each and RIP after it. When one stops the entry (a fault, a
// VM exit, a write to a code page), runStop says which, for
// retireStopped.
func (c *CPU) stackRunSlow(in *Inst, kind int) {
	n := int(in.nret)
	rip := c.ripCur
	regs, lens := in.disp, in.amask
	for k := 0; k < n; k++ {
		c.ripCur = rip
		rip += lens & 15
		c.RIP = rip
		r := regs & 15
		switch regs >> 32 & 15 {
		case ekRet:
			ret64(c, in) // uses in.imm alone
		case ekMov:
			c.GPR[r] = c.GPR[arch.RSP]
		case ekSub:
			a := c.GPR[arch.RSP]
			c.GPR[arch.RSP] = a - in.imm2
			setLazy(c, lzSub, a, in.imm2, a-in.imm2)
		case ekAdd:
			a := c.GPR[arch.RSP]
			c.GPR[arch.RSP] = a + in.imm2
			setLazy(c, lzAdd, a, in.imm2, a+in.imm2)
		default:
			if kind == srPush {
				sp := c.GPR[arch.RSP] - 8
				if p := c.stack64(&c.tlb.write, sp); p != nil {
					*p = c.GPR[r]
					c.GPR[arch.RSP] = sp
				} else {
					push(c, c.GPR[r])
				}
			} else {
				sp := c.GPR[arch.RSP]
				if p := c.stack64(&c.tlb.read, sp); p != nil {
					c.GPR[arch.RSP] = sp + 8
					c.GPR[r] = *p
				} else if v, ok := pop[uint64](c); ok {
					c.GPR[r] = v
				}
			}
		}
		if c.stop {
			c.runStop = uint8(k + 1)
			return
		}
		regs = regs >> 4 & 0x0FFFFFFF0FFFFFFF
		lens >>= 4
	}
}

package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// Stack runs: a run of consecutive PUSH r64 (or POP r64) in 64-bit mode,
// the prologues and epilogues of compiled code ("push rbp; push r15; ...;
// push rbx" and "pop rbx; ...; pop rbp"), as one entry of Run's fast
// list, and a run of POP r64 together with the RET (C3, C2) that follows
// it ("pop rbx; pop rbp; ret").
//
// The entry is a copy of the run's first instruction with nret its
// number of instructions (the RET included), len their bytes, disp their
// registers (4 bits each, the first in bits 3:0), amask their lengths (4
// bits each, likewise) and imm the RET's immediate. Kept out: POP RSP and
// PUSH RSP (the value pushed is RSP before the push, the one popped
// becomes RSP: SDM Vol. 2B PUSH, POP), 16-bit operand size (66), POP SS
// and every other form; LOCK is #UD at decode (in.fault).
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

// maxStackRun bounds the instructions of one stack run entry (the RET
// included): 8 registers of 4 bits fill disp's low 32 bits.
const maxStackRun = 8

// Stack run element kinds.
const (
	srNone = iota
	srPush
	srPop
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

// isStackRun reports whether f is a stack run entry.
func isStackRun(f *Inst) bool {
	return f.nret > 1 && stackRunKind(&Inst{op: f.op, opsz: f.opsz, reg: f.reg, nret: 1}, mode64) != srNone
}

// foldStackRuns replaces the runs of pushes and pops in the fast list
// fast (a copy, never block.insts) by stack run entries.
func foldStackRuns(fast []Inst, mode uint8) []Inst {
	if mode != mode64 {
		return fast
	}
	for i := 0; i < len(fast); i++ {
		k := stackRunKind(&fast[i], mode)
		if k == srNone {
			continue
		}
		j := i + 1
		for j < len(fast) && j-i < maxStackRun && stackRunKind(&fast[j], mode) == k {
			j++
		}
		ret := k == srPop && j < len(fast) && j-i < maxStackRun && stackRunRet(&fast[j], mode)
		if ret {
			j++
		}
		n := j - i
		if n < 2 {
			continue
		}
		f := fast[i]
		var regs, lens uint64
		length := 0
		for e := n - 1; e >= 0; e-- {
			in := &fast[i+e]
			regs = regs<<4 | uint64(in.reg&15)
			lens = lens<<4 | uint64(in.len&15)
			length += int(in.len)
		}
		f.disp, f.amask = regs, lens
		f.len = uint8(length)
		f.nret = uint8(n)
		f.fn = pushRun64
		if k == srPop {
			f.fn = popRun64
		}
		if ret {
			f.fn = popRunRet64
			f.imm = fast[j-1].imm
			f.end = fast[j-1].end
		}
		fast[i] = f
		fast = append(fast[:i+1], fast[j:]...)
	}
	return fast
}

// pushRun64: a run of PUSH r64 in 64-bit mode.
func pushRun64(c *CPU, in *Inst) {
	n := uint64(in.nret)
	sp := c.GPR[arch.RSP] - 8*n
	e := &c.tlb.write[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*n {
		// The first register goes highest, at RSP-8.
		p := unsafe.Pointer(&e.page[o])
		regs := in.disp
		for i := n; i > 0; i-- {
			*(*uint64)(unsafe.Add(p, 8*(i-1))) = c.GPR[regs&15]
			regs >>= 4
		}
		c.GPR[arch.RSP] = sp
		return
	}
	c.stackRunSlow(in, srPush, false)
}

// popRun64: a run of POP r64 in 64-bit mode.
func popRun64(c *CPU, in *Inst) {
	n := uint64(in.nret)
	sp := c.GPR[arch.RSP]
	e := &c.tlb.read[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*n {
		p := unsafe.Pointer(&e.page[o])
		regs := in.disp
		for i := uint64(0); i < n; i++ {
			c.GPR[regs&15] = *(*uint64)(unsafe.Add(p, 8*i))
			regs >>= 4
		}
		c.GPR[arch.RSP] = sp + 8*n
		return
	}
	c.stackRunSlow(in, srPop, false)
}

// popRunRet64: a run of POP r64 and the RET (imm16) after it in 64-bit
// mode.
func popRunRet64(c *CPU, in *Inst) {
	n := uint64(in.nret) // the pops and the RET: n stack slots
	sp := c.GPR[arch.RSP]
	e := &c.tlb.read[c.tlb.index(sp)]
	if o := sp & 0xfff; canonical48(sp) && e.tag == c.tlb.tag(sp) && o <= 4096-8*n {
		p := unsafe.Pointer(&e.page[o])
		if t := *(*uint64)(unsafe.Add(p, 8*(n-1))); canonical48(t) {
			regs := in.disp
			for i := uint64(0); i < n-1; i++ {
				c.GPR[regs&15] = *(*uint64)(unsafe.Add(p, 8*i))
				regs >>= 4
			}
			c.GPR[arch.RSP] = sp + 8*n + in.imm
			c.RIP = t
			return
		}
	}
	c.stackRunSlow(in, srPop, true)
}

// stackRunSlow runs the stack run in one instruction at a time, as their
// own handlers (push64Reg, pop64Reg, ret64) would (ret: the last is a RET), with ripCur at each
// and RIP after it. When one stops the entry (a fault, a VM exit, a
// write to a code page), runStop says which, for retireStopped.
func (c *CPU) stackRunSlow(in *Inst, kind int, ret bool) {
	n := int(in.nret)
	rip := c.ripCur
	regs, lens := in.disp, in.amask
	last := n
	if ret {
		last = n - 1 // the last one is the RET
	}
	for k := 0; k < n; k++ {
		c.ripCur = rip
		rip += lens & 15
		c.RIP = rip
		r := regs & 15
		switch {
		case k == last:
			ret64(c, in) // uses in.imm alone
		case kind == srPush:
			sp := c.GPR[arch.RSP] - 8
			if p := c.stack64(&c.tlb.write, sp); p != nil {
				*p = c.GPR[r]
				c.GPR[arch.RSP] = sp
			} else {
				push(c, c.GPR[r])
			}
		default:
			sp := c.GPR[arch.RSP]
			if p := c.stack64(&c.tlb.read, sp); p != nil {
				c.GPR[arch.RSP] = sp + 8
				c.GPR[r] = *p
			} else if v, ok := pop[uint64](c); ok {
				c.GPR[r] = v
			}
		}
		if c.stop {
			c.runStop = uint8(k + 1)
			return
		}
		regs >>= 4
		lens >>= 4
	}
}

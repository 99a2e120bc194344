package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// The run loop. Instructions run in decoded blocks; events (INIT/SIPI,
// NMIs, interrupts) are taken between blocks. Three contracts hold every
// path through here — the block fast path, the per-instruction slow path
// and the fused/pair entries alike:
//
//   - Time is exact inside a block: Icount is brought up to date only when
//     a block (or part of one) retires, and c.blk says which block is
//     running, so now() = Icount + the instructions of the block before
//     the one at ripCur is the exact number retired before the current
//     one. Every reader of virtual time (RDTSC, IA32_TSC, the APIC timer
//     through Clock) goes through it. Nothing is stored per instruction
//     for this: the position is recovered from ripCur only when time is
//     read.
//   - The run ends at an absolute instruction count, c.runEnd, that any
//     handler may bring forward with endRunAt (the VMX-preemption timer,
//     MTF and VM entry/exit will); the block loop honours it exactly,
//     running the last block partly on the slow path.
//   - One attention word, c.attn, summarises everything that must be looked
//     at between blocks (attention.go). The fast path tests it alone.
//
// Instructions retire through one path (retire, retireStopped) whichever
// loop ran them; an entry that stops the block ends with one outcome: a
// fault to deliver, or a normal stop (a future pending VM exit is a third).

// Run executes up to budget instructions and returns why it stopped.
// An event delivered without an instruction (an interrupt, a fault on an
// instruction fetch, or a fault of an instruction, which does not retire)
// also uses one unit of the budget, so that an endless chain of them
// (say, a handler whose first instruction faults again, on a real-mode
// stack that never overflows) still returns.
func (c *CPU) Run(budget uint64) StopReason {
	c.runTimed = false
	return c.run(budget)
}

// RunFor is Run with a budget of virtual time (Clock) rather than
// instructions: the time VM transitions take (vmx_time.go) also uses it,
// so that the run ends at the first instruction boundary at or after
// Clock + budget. The board's time slices run with it (machine.runSlice);
// a transition may end past that time, by less than its latency.
func (c *CPU) RunFor(budget uint64) StopReason {
	c.runTimed = true
	return c.run(budget)
}

func (c *CPU) run(budget uint64) StopReason {
	if c.traceOn() != (c.attn&attnTrace != 0) {
		c.updateAttn() // Hooks changed since the last run
	}
	c.KickInterrupt()
	c.mwaitWake() // exec_monitor.go
	c.runEnd = c.Icount + budget
	if c.runEnd < c.Icount {
		c.runEnd = ^uint64(0)
	}
	c.vev.savedEnd = 0
	c.vmxArmRunEnd(false)
	var end uint64
	for c.Icount < c.runEnd || c.vmxRunEndDue() {
		if c.shutdown {
			return StopShutdown
		}
		if c.shadow == 0 && c.attn != 0 && c.eventsWaiting() && c.takeEvents() {
			c.useRunUnit()
			continue
		}
		if c.halted {
			return c.haltReason()
		}
		c.stop = false
		b := c.lookupBlock()
		if b == nil {
			c.fetchFault()
			continue
		}
		// Fast path: whole blocks back to back while no interrupt shadow,
		// single-step or event needs attention and the block fits before
		// the run's end. Shutdown, HLT, stop requests and a run end
		// brought forward all set c.stop, so they need no check of their
		// own.
		// The run's end cannot move while the loop runs (a handler that
		// brings it forward also stops the block), and c.blk changes only
		// with b.
		if c.attn&(attnDebug|attnTrace) != 0 {
			if c.attn&attnTrace != 0 {
				c.runTraced(b) // -d exec/cpu (trace.go)
			} else {
				c.runDebug(b)
			}
			goto next
		}
		end = c.runEnd
		c.blk = b
		for c.shadow == 0 && c.RFLAGS&arch.FlagTF == 0 && c.Icount+uint64(len(b.insts)) <= end {
			if b.spin {
				if c.spin(b, end) {
					goto next
				}
			} else {
				// The entries by pointer, not by index: Go keeps fewer
				// values live across the handler's call (one pointer
				// and its end, no index and base). A block's fast list
				// is never empty (decodeBlock, decodeCrossing: at least
				// the instruction that faults).
				in := unsafe.Pointer(unsafe.SliceData(b.fast))
				for last := unsafe.Add(in, uintptr(len(b.fast)-1)*unsafe.Sizeof(Inst{})); ; in = unsafe.Add(in, unsafe.Sizeof(Inst{})) {
					in := (*Inst)(in)
					c.ripCur = c.RIP
					c.RIP += uint64(in.len)
					in.fn(c, in)
					if c.stop {
						if c.sideExit {
							// A side exit (takeSide): the block
							// ends after in, as at its end.
							c.stop, c.sideExit = false, false
							c.Icount += uint64(in.pre) + uint64(in.nret)
							goto ended
						}
						c.retireStopped(in)
						goto next
					}
					if unsafe.Pointer(in) == last {
						break
					}
				}
				// retire; c.blk stays until the next block is known.
				c.Icount += uint64(len(b.insts))
			}
		ended:
			if c.codeMode != mode64 {
				c.RIP &= 0xFFFFFFFF
			}
			if c.Icount >= end || c.attn != 0 && c.eventsWaiting() {
				c.blk = nil
				goto next
			}
			// Then one of the block's links, or a lookup (chain.go
			// nextBlock, written out here). A block that loops to
			// itself (a tight loop) is its own link. Following a link
			// reads no time, so c.blk changes only once, to the next
			// block; a lookup may decode and fault, so it runs with
			// the block retired.
			if key := c.blocks.key(c.codeMode); b.link[0].linked(&c.blocks, c.RIP, key) {
				b = b.link[0].b
			} else if b.link[1].linked(&c.blocks, c.RIP, key) {
				b = b.link[1].b
			} else {
				c.blk = nil
				if b = c.linkMiss(b); b == nil {
					c.fetchFault()
					goto next
				}
			}
			c.blk = b
		}
		c.runSlow(b)
	next:
		if c.dbg.hit != 0 {
			c.debugTrap(nil, 0, false) // a data breakpoint hit on the fast path
		}
		if c.shutdown {
			return StopShutdown
		}
		if c.halted {
			if c.takeEvents() {
				continue
			}
			return c.haltReason()
		}
		if c.stopRequested {
			c.stopRequested = false
			c.updateAttn()
			return StopRequested
		}
	}
	return StopBudget
}

// spin runs a block whose fast list is one fused setter+Jcc entry
// (block.spin) for as many whole passes as the fast path would run it
// back to back: passes go on while the Jcc jumps back to the block's start
// and another pass fits before end. It retires them (Icount) itself and
// reports true when the entry stopped (a fault of the Jcc's target),
// accounted for by retireStopped.
//
// The fast path's checks between passes are made once, before the first:
// a fused entry reads and writes only registers, the lazy flags and RIP,
// so nothing they look at (the attention word and RFLAGS.IF, the interrupt
// shadow, TF, the lookup epoch, the block's validity, the run's end)
// changes from pass to pass. When an event is waiting to be looked at
// after every pass, or the block is decoded afresh at every lookup (not
// cacheable), spin runs one pass only, as the fast path does.
func (c *CPU) spin(b *block, end uint64) bool {
	in := &b.fast[0]
	n := uint64(in.nret)
	icount, start := c.Icount, c.RIP
	passes := (end - icount) / n
	if !b.cacheable || c.attn != 0 && c.eventsWaiting() {
		passes = 1
	}
	for fn := in.fn; passes > 0; passes-- {
		c.ripCur = start
		c.RIP = start + uint64(in.len)
		fn(c, in)
		if c.stop {
			c.Icount = icount
			c.retireStopped(in)
			return true
		}
		icount += n
		if c.RIP != start {
			break
		}
	}
	c.Icount = icount
	return false
}

// retire accounts for n instructions of the current block that ran to
// their end: virtual time advances and RIP wraps outside 64-bit mode.
func (c *CPU) retire(n uint64) {
	c.blk = nil
	c.Icount += n
	if c.codeMode != mode64 {
		c.RIP &= 0xFFFFFFFF
	}
}

// retireStopped accounts for the block entry in, which set c.stop: the
// entries before it retired (in.pre instructions), and in itself either
// retired too (a normal stop: HLT, a write to a code page, a mode change,
// a device ending the run, a run end brought forward) or raised a fault,
// which is delivered now with RIP back at the faulting instruction. In a
// fused pair only the last instruction can fault, with the first retired
// (in.nret counts both); in a load pair the first (the load) can also
// stop the entry (firstHalfStop), which then accounts as the load alone,
// and in a stack run (exec_stackrun.go) any of its instructions (runStop).
func (c *CPU) retireStopped(in *Inst) bool {
	c.sideExit = false // a side exit is a normal stop here
	done := uint64(in.pre) + uint64(in.nret) - 1
	if c.firstHalfStop {
		c.firstHalfStop = false
		done = uint64(in.pre)
	}
	if c.runStop != 0 {
		done = uint64(in.pre) + uint64(c.runStop) - 1
		c.runStop = 0
	}
	if c.exitPending {
		// The instruction caused a VM exit: it did not retire, and the
		// processor is in the host (exec_vmx.go vmExit).
		c.exitPending = false
		c.blk = nil
		c.Icount += done
		return true
	}
	if c.faultPending {
		// The faulting instruction does not retire: its delivery is an
		// event without an instruction and uses one unit of the run, so
		// that a handler whose first instruction faults again (an IVT or
		// IDT entry pointing at UD2, in real mode where the stack never
		// overflows) cannot keep Run from returning.
		c.blk = nil
		c.RIP = c.ripCur
		c.Icount += done
		c.deliverFault()
		c.useRunUnit()
		return true
	}
	c.retire(done + 1)
	return false
}

// fetchFault handles a block lookup that failed: the fetch raised a fault,
// which is delivered; either way the attempt uses one unit of the run.
func (c *CPU) fetchFault() {
	if c.faultPending {
		c.deliverFault()
	}
	c.useRunUnit()
}

// useRunUnit charges one unit of the run for an event delivered without
// an instruction. A VM exit on the way may already have brought the end
// to the instructions retired (vmxElapse): the run ends there.
func (c *CPU) useRunUnit() {
	if c.runEnd > c.Icount {
		c.runEnd--
	}
}

// runSlow executes (part of) one block instruction by instruction, with
// the unfused instructions: a block longer than what is left of the run,
// one instruction under an interrupt shadow, single-stepping or debug
// attention, or a whole block that starts with RF=1 and nothing else
// that needs attention (rfOnly), RF cleared after its first instruction.
func (c *CPU) runSlow(b *block) {
	n := uint64(len(b.insts))
	if left := c.runEnd - c.Icount; n > left {
		n = left
	}
	// TF=1 at the start of an instruction makes it single-stepped.
	tf := c.RFLAGS&arch.FlagTF != 0
	if c.shadow > 0 || tf || c.attn&attnDebug != 0 && !c.rfOnly() {
		n = 1
	}
	shadow, cpl := c.shadow, c.cpl
	rf := c.RFLAGS&arch.FlagRF != 0
	insts := b.insts[:n]
	c.blk = b
	for i := range insts {
		in := &insts[i]
		c.ripCur = c.RIP
		c.RIP += uint64(in.len)
		in.fn(c, in)
		if c.stop {
			if c.retireStopped(in) {
				return
			}
			n = uint64(i) + 1
			goto retired
		}
		if rf {
			// RF=1 lasts one instruction, unless IRET loaded it (SDM
			// Vol. 3B 18.3.1.1). With nothing else asking for single
			// instructions (rfOnly) the rest of the block runs on with
			// RF=0, as the next lookup would run it; an IRET ends the
			// run here, since its RF=1 holds for the instruction after
			// it.
			rf = false
			if in.op == 0xCF {
				n = 1
				break
			}
			c.RFLAGS &^= arch.FlagRF
			c.updateAttn()
		}
	}
	c.retire(n)
retired:
	if rf && insts[n-1].op != 0xCF {
		// The first instruction stopped the run: RF=1 lasted for it.
		c.RFLAGS &^= arch.FlagRF
	}
	if shadow > 0 && c.shadow == shadow {
		c.shadow = 0
	}
	if c.lbr.ctl != 0 && n == 1 {
		tf = c.afterStep(&insts[0], tf, cpl) // LBR and BTF (debugctl.go)
	}
	if tf && n == 1 || c.dbg.hit != 0 {
		c.debugTrap(&insts[n-1], shadow, tf && n == 1)
	}
}

// now is the exact number of instructions retired before the one that is
// executing (or, between instructions, all of them): the block loops add
// to Icount only when a block retires, so inside one the instructions of
// the block before the current one (at ripCur) are added here.
func (c *CPU) now() uint64 {
	if c.blk == nil {
		return c.Icount
	}
	return c.Icount + c.blk.before(uint16((c.segv[arch.CS].base+c.ripCur)&0xfff))
}

// before is the number of the block's instructions that precede the one
// at page offset off (a block never crosses a page, except a lone
// page-crossing instruction, which has none before it, and no two of its
// instructions share an offset: decodeTrace).
func (b *block) before(off uint16) uint64 {
	pos := b.off
	jumps := b.jumps
	for i := range b.insts {
		if pos == off {
			return uint64(i)
		}
		pos += uint16(b.insts[i].len)
		if len(jumps) > 0 && int(jumps[0].at) == i {
			pos = jumps[0].to
			jumps = jumps[1:]
		}
	}
	return 0
}

// endRunAt brings the end of the current run forward to the absolute
// instruction count t (no later than now): the instruction executing
// finishes, and Run stops exactly at t. Handlers use it for events that
// fall due at a given time.
func (c *CPU) endRunAt(t uint64) {
	if t < c.runEnd {
		c.runEnd = t
		c.stop = true
	}
}

// RequestStop makes Run return after the current instruction (devices use
// it when the guest ends the run).
func (c *CPU) RequestStop() {
	c.stopRequested = true
	c.stop = true
	c.updateAttn()
}

// haltReason is why Run stops on a CPU that is not executing.
func (c *CPU) haltReason() StopReason {
	if c.waitSIPI {
		return StopWaitSIPI
	}
	return StopHalt
}

// Step executes one instruction (debugger, traces).
func (c *CPU) Step() StopReason { return c.Run(1) }

// shadowMovSS marks the shadow of MOV SS/POP SS, which also holds off
// debug traps; STI's shadow (1) blocks only maskable interrupts (SDM
// Vol. 3A 6.8.3, Table 6-2).
const shadowMovSS = 3

var faultSingleStep = arch.Fault{Vector: arch.VecDB, Trap: true, DR6: arch.DR6BS,
	Rule: "single-step trap: RFLAGS.TF=1 at the start of the instruction (DR6.BS=1)", SDM: "Vol. 3A 18.3.1.4"}

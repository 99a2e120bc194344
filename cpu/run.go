package cpu

import "github.com/vmxemu/vmxemu/arch"

// Run executes up to budget instructions and returns why it stopped. Events
// (interrupts, NMIs) are taken between blocks; virtual time is Icount.
// An event delivered without an instruction (an interrupt, or a fault on
// an instruction fetch) also uses one unit of the budget, so that an
// endless chain of them (say, a handler whose first fetch faults again,
// on a real-mode stack that never overflows) still returns.
func (c *CPU) Run(budget uint64) StopReason {
	c.intrHint = true
	for budget > 0 {
		if c.shutdown {
			return StopShutdown
		}
		if c.shadow == 0 && c.eventsWaiting() && c.takeEvents() {
			budget--
			continue
		}
		if c.halted {
			return c.haltReason()
		}
		c.stop = false
		b := c.lookupBlock()
		if b == nil {
			// Fetch fault: deliver it and go on.
			if c.faultPending {
				c.deliverFault()
			}
			budget--
			continue
		}
		// Fast path: whole blocks back to back while no interrupt shadow,
		// single-step or event needs attention. Shutdown, HLT and stop
		// requests all set c.stop, so they need no check of their own.
		for c.shadow == 0 && c.RFLAGS&arch.FlagTF == 0 && uint64(len(b.insts)) <= budget {
			brip, epoch := c.RIP, c.blocks.epoch
			insts := b.fast
			for i := range insts {
				in := &insts[i]
				c.ripCur = c.RIP
				c.RIP += uint64(in.len)
				in.fn(c, in)
				if c.stop {
					// in.pre instructions came before this entry, which
					// retires in.nret; in a fused pair only the last
					// (the Jcc) can fault, with the setter retired.
					done := uint64(in.pre) + uint64(in.nret) - 1
					if c.faultPending {
						c.RIP = c.ripCur
						c.Icount += done
						budget -= done
						c.deliverFault()
						goto next
					}
					done++
					c.Icount += done
					budget -= done
					if c.codeMode != mode64 {
						c.RIP &= 0xFFFFFFFF
					}
					goto next
				}
			}
			n := uint64(len(b.insts))
			c.Icount += n
			budget -= n
			if c.codeMode != mode64 {
				c.RIP &= 0xFFFFFFFF
			}
			if budget == 0 || c.eventsWaiting() {
				goto next
			}
			// A block that loops to itself (a tight loop) is what a
			// lookup would return, unless the lookup table was flushed
			// (translation, mode or privilege changes), the block was
			// invalidated (a write to its page) or is not cacheable.
			if c.RIP == brip && c.blocks.epoch == epoch && b.valid && b.cacheable {
				continue
			}
			if b = c.lookupBlock(); b == nil {
				if c.faultPending {
					c.deliverFault()
				}
				budget--
				goto next
			}
		}
		c.runSlow(b, &budget)
	next:
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
			return StopRequested
		}
	}
	return StopBudget
}

// eventsWaiting reports whether an INIT/SIPI, an NMI or (with IF=1 and a
// kick since the source last said no) a maskable interrupt may be waiting.
func (c *CPU) eventsWaiting() bool {
	return c.nmiPending || c.signals != 0 || c.intrHint && c.RFLAGS&arch.FlagIF != 0 && c.intr != nil
}

// runSlow executes (part of) one block instruction by instruction: a
// block longer than the budget, or one instruction under an interrupt
// shadow or single-stepping.
func (c *CPU) runSlow(b *block, budget *uint64) {
	n := uint64(len(b.insts))
	if n > *budget {
		n = *budget
	}
	// TF=1 at the start of an instruction makes it single-stepped.
	tf := c.RFLAGS&arch.FlagTF != 0
	if c.shadow > 0 || tf {
		n = 1
	}
	shadow := c.shadow
	insts := b.insts[:n]
	var done uint64
	for i := range insts {
		in := &insts[i]
		c.ripCur = c.RIP
		c.RIP += uint64(in.len)
		in.fn(c, in)
		if c.stop {
			if c.faultPending {
				c.RIP = c.ripCur
				c.Icount += done
				*budget -= done
				c.deliverFault()
				return
			}
			done++
			break
		}
		done++
	}
	c.Icount += done
	*budget -= done
	if c.codeMode != mode64 {
		c.RIP &= 0xFFFFFFFF
	}
	if shadow > 0 && c.shadow == shadow {
		c.shadow = 0
	}
	if tf && done == 1 {
		c.singleStepTrap(&insts[0], shadow)
	}
}

// RequestStop makes Run return after the current instruction (devices use
// it when the guest ends the run).
func (c *CPU) RequestStop() { c.stopRequested = true; c.stop = true }

// takeEvents acts on a pending INIT or SIPI (smp.go), then delivers a
// pending NMI or maskable interrupt if the CPU can accept one now (SDM
// Vol. 3A 6.7, 6.8.1, 6.9 priorities: INIT above NMI above INTR). It returns true
// when an event was delivered.
func (c *CPU) takeEvents() bool {
	if c.shadow > 0 {
		return false
	}
	if c.signals != 0 && c.takeSignals() {
		return true
	}
	if c.waitSIPI {
		return false // only INIT and SIPI leave wait-for-SIPI
	}
	if c.nmiPending {
		c.nmiPending = false
		c.halted = false
		c.event(arch.VecNMI, false, 0, evExternal, nil)
		return true
	}
	if c.intr != nil && c.RFLAGS&arch.FlagIF != 0 {
		// Cleared before asking, so that a source may keep it set from
		// Pending (a source that cannot kick: "poll me again").
		c.intrHint = false
		if !c.intr.Pending() {
			return false
		}
		v := c.intr.Ack()
		c.halted = false
		c.event(v, false, 0, evExternal, nil)
		return true
	}
	return false
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

var faultSingleStep = arch.Fault{Vector: arch.VecDB, Rule: "single-step trap: RFLAGS.TF=1 at the start of the instruction (DR6.BS=1)", SDM: "Vol. 3A 18.3.1.4"}

// singleStepTrap delivers the #DB single-step trap after in, which began
// with RFLAGS.TF=1 (SDM Vol. 3A 18.3.1.4): RIP points past it and DR6.BS
// is set. No trap follows an INT n/INT3/INTO/INT1 that entered its
// handler (delivery cleared TF), nor HLT; after MOV SS/POP SS it is held
// off until the next instruction, which is stepped in turn.
func (c *CPU) singleStepTrap(in *Inst, shadowBefore uint8) {
	if c.shutdown || c.halted {
		return
	}
	if shadowBefore == 0 && c.shadow == shadowMovSS {
		return
	}
	switch in.op {
	case 0xCC, 0xCD, 0xCE, 0xF1:
		if c.RFLAGS&arch.FlagTF == 0 {
			return
		}
	}
	c.DR[6] |= 1 << 14 // BS
	f := faultSingleStep
	c.event(arch.VecDB, false, 0, evException, &f)
}

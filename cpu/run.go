package cpu

import "github.com/vmxemu/vmxemu/arch"

// Run executes up to budget instructions and returns why it stopped. Events
// (interrupts, NMIs) are taken between blocks; virtual time is Icount.
func (c *CPU) Run(budget uint64) StopReason {
	for budget > 0 {
		if c.shutdown {
			return StopShutdown
		}
		if c.takeEvents() {
			continue
		}
		if c.halted {
			return StopHalt
		}
		c.stop = false
		b := c.lookupBlock()
		if b == nil {
			// Fetch fault: deliver it and go on.
			if c.faultPending {
				c.deliverFault()
			}
			continue
		}
		n := uint64(len(b.insts))
		if n > budget {
			n = budget
		}
		if c.shadow > 0 || c.RFLAGS&arch.FlagTF != 0 {
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
					budget -= done
					c.deliverFault()
					done = 0
					goto next
				}
				done++
				break
			}
			done++
		}
		c.Icount += done
		budget -= done
		if c.codeMode != mode64 {
			c.RIP &= 0xFFFFFFFF
		}
		if shadow > 0 && c.shadow == shadow {
			c.shadow = 0
		}
	next:
		if c.shutdown {
			return StopShutdown
		}
		if c.halted {
			if c.takeEvents() {
				continue
			}
			return StopHalt
		}
		if c.stopRequested {
			c.stopRequested = false
			return StopRequested
		}
	}
	return StopBudget
}

// RequestStop makes Run return after the current instruction (devices use
// it when the guest ends the run).
func (c *CPU) RequestStop() { c.stopRequested = true; c.stop = true }

// takeEvents delivers a pending NMI or maskable interrupt if the CPU can
// accept one now (SDM Vol. 3A 6.7, 6.8.1, 6.9 priorities). It returns true
// when an event was delivered.
func (c *CPU) takeEvents() bool {
	if c.shadow > 0 {
		return false
	}
	if c.nmiPending {
		c.nmiPending = false
		c.halted = false
		c.event(arch.VecNMI, false, 0, evExternal, nil)
		return true
	}
	if c.intr != nil && c.RFLAGS&arch.FlagIF != 0 && c.intr.Pending() {
		v := c.intr.Ack()
		c.halted = false
		c.event(v, false, 0, evExternal, nil)
		return true
	}
	return false
}

// Step executes one instruction (debugger, traces).
func (c *CPU) Step() StopReason { return c.Run(1) }

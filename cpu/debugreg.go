package cpu

import "github.com/vmxemu/vmxemu/arch"

// Debug registers and the #DB conditions they arm (SDM Vol. 3B 18.2-18.3).
//
// Cost model: nothing here is looked at while DR7 enables no breakpoint
// and RFLAGS.RF=0, the normal case.
//   - Instruction breakpoints (and RF=1, which must be cleared after one
//     instruction) set attnDebug in the attention word: the run loop then
//     runs one instruction at a time through runDebug, which checks the
//     breakpoints before each instruction. RF=1 alone (rfOnly) runs the
//     whole block there, RF cleared after its first instruction.
//   - Data breakpoints: a page that holds a watched address gets no read
//     or write TLB entry (fill), so every access to it takes rdSlow/wrSlow,
//     where checkData looks; a hit is a trap reported after the
//     instruction (debugTrap).
//   - I/O breakpoints (CR4.DE=1) are checked by the I/O instructions,
//     which are slow anyway.

// debugState is what DR7 (with DR0-DR3 and CR4.DE) arms, recomputed by
// updateDebug, and the #DB trap conditions an instruction has met.
type debugState struct {
	exec uint8 // enabled instruction breakpoints (bit n = DRn)
	data uint8 // enabled data breakpoints (R/W = 01 or 11)
	io   uint8 // enabled I/O breakpoints (R/W = 10 with CR4.DE=1)
	// hit holds the DR6 B0-B3 bits of data and I/O breakpoints matched by
	// the current instruction, reported by a trap after it (or after the
	// next one, behind a MOV SS/POP SS).
	hit uint64
	// halted holds a #DB trap of a HLT (single-step): it is taken, with
	// the priority of a trap of the previous instruction, when an event
	// wakes the processor (SDM Vol. 3A 6.9, Table 6-2).
	halted uint64
}

// DR7 fields (SDM Vol. 3B 18.2.4).
const (
	dr7GD       = 1 << 13
	dr7Fixed1   = 1 << 10
	dr7Reserved = 1<<11 | 1<<12 | 1<<14 | 1<<15
	dr7LocalAll = 0x55 | 1<<8 // L0-L3 and LE
	dr6Fixed1   = 0xFFFF0FF0
	dr6Bn       = 0xF
)

// dr7RW returns breakpoint n's R/W field: 00 execution, 01 data writes,
// 10 I/O (CR4.DE=1), 11 data reads and writes.
func dr7RW(dr7 uint64, n int) uint64 { return dr7 >> (16 + 4*n) & 3 }

// dr7Len returns breakpoint n's length in bytes: LEN 00 = 1, 01 = 2,
// 11 = 4, 10 = 8 (SDM Vol. 3B 18.2.4, 18.2.5).
func dr7Len(dr7 uint64, n int) uint64 {
	return [4]uint64{1, 2, 8, 4}[dr7>>(18+4*n)&3]
}

// updateDebug recomputes what DR7 arms. A change in the pages watched by
// data breakpoints drops the TLB entries, so that watched pages lose
// their fast entries and others regain them.
func (c *CPU) updateDebug() {
	dr7 := c.DR[7]
	var ex, da, io uint8
	for n := 0; n < 4; n++ {
		if dr7>>(2*n)&3 == 0 {
			continue
		}
		switch dr7RW(dr7, n) {
		case 0:
			ex |= 1 << n
		case 1, 3:
			da |= 1 << n
		case 2:
			if c.CR4&arch.CR4DE != 0 {
				io |= 1 << n
			}
		}
	}
	if da != 0 || c.dbg.data != 0 {
		c.tlb.flushAll()
	}
	c.dbg.exec, c.dbg.data, c.dbg.io = ex, da, io
	c.updateAttn()
}

// debugAttn says whether the run loop must run one instruction at a time
// through runDebug: an instruction breakpoint is enabled, RF=1 must
// suppress one for an instruction and then be cleared, or a trap is held
// behind a MOV SS/POP SS shadow.
func (c *CPU) debugAttn() bool {
	return c.dbg.exec != 0 || c.RFLAGS&arch.FlagRF != 0 || c.dbg.hit != 0 || c.lbr.on
}

// rfOnly reports whether RF=1 is all that sets attnDebug: no
// instruction breakpoint is enabled, no trap is held and IA32_DEBUGCTL
// (LBR, BTF) is clear. RF then changes nothing but the instruction it
// lasts for (it suppresses instruction breakpoints only: SDM Vol. 3B
// 18.3.1.1), so runSlow runs the whole block, clearing RF after its
// first instruction.
func (c *CPU) rfOnly() bool {
	return c.dbg.exec == 0 && c.dbg.hit == 0 && !c.lbr.on && c.lbr.ctl == 0
}

// watched reports whether the page of lin holds an address that an
// enabled data breakpoint watches (fill then installs no TLB entry).
func (c *CPU) watched(lin uint64) bool {
	for n := 0; n < 4; n++ {
		if c.dbg.data&(1<<n) != 0 && (c.DR[n]^lin)&^0xfff == 0 {
			return true
		}
	}
	return false
}

// bpMatch returns the Bn bits of the breakpoints in mask whose range
// overlaps [a, a+size): a breakpoint watches LEN bytes at DRn with the
// low bits ignored (SDM Vol. 3B 18.2.5).
func (c *CPU) bpMatch(mask uint8, a, size uint64) uint64 {
	var hit uint64
	for n := 0; n < 4; n++ {
		if mask&(1<<n) == 0 {
			continue
		}
		l := dr7Len(c.DR[7], n)
		lo := c.DR[n] &^ (l - 1)
		if a < lo+l && lo < a+size {
			hit |= 1 << n
		}
	}
	return hit
}

// checkData matches a data access of size bytes at lin against the
// enabled data breakpoints: writes match R/W=01 and 11, reads 11 only
// (SDM Vol. 3B 18.2.4, 18.3.1.2). A hit is a trap: the instruction
// completes, and stops its block so that the #DB follows it.
func (c *CPU) checkData(lin uint64, size uint, write bool) {
	mask := c.dbg.data
	if !write {
		for n := 0; n < 4; n++ {
			if dr7RW(c.DR[7], n) != 3 {
				mask &^= 1 << n
			}
		}
	}
	if hit := c.bpMatch(mask, lin, uint64(size)); hit != 0 {
		c.dbg.hit |= hit
		c.stop = true
	}
}

// checkIO matches an I/O access against the enabled I/O breakpoints
// (CR4.DE=1, R/W=10: SDM Vol. 3B 18.2.4, 18.3.1.2).
func (c *CPU) checkIO(port uint16, size int) {
	if c.dbg.io == 0 {
		return
	}
	if hit := c.bpMatch(c.dbg.io, uint64(port), uint64(size)); hit != 0 {
		c.dbg.hit |= hit
		c.stop = true
	}
}

// codeBreakpoint returns the DR6 bits of the instruction breakpoints that
// match the instruction at RIP: its linear address is that of its first
// byte, prefixes included. RF=1 suppresses them for this instruction (SDM
// Vol. 3B 18.3.1.1). An instruction right after MOV SS/POP SS does not
// trigger one (SDM Vol. 3A 6.8.3: "may not be triggered"; vmxemu never
// does).
func (c *CPU) codeBreakpoint() uint64 {
	if c.dbg.exec == 0 || c.RFLAGS&arch.FlagRF != 0 || c.shadow == shadowMovSS {
		return 0
	}
	lin := c.segv[arch.CS].base + c.RIP
	if c.codeMode != mode64 {
		lin &= 0xFFFFFFFF
	}
	var hit uint64
	for n := 0; n < 4; n++ {
		if c.dbg.exec&(1<<n) != 0 && c.DR[n] == lin {
			hit |= 1 << n
		}
	}
	return hit
}

// runDebug runs one instruction of b while attnDebug is set (which
// IA32_DEBUGCTL.LBR = 1 also sets: debugctl.go): instruction
// breakpoints are checked before it (a fault, with RIP at the
// instruction and RF=1 in the saved RFLAGS: deliveryEffects), and RF is
// cleared after it unless the instruction loaded it (IRET: SDM Vol. 3B
// 18.3.1.1).
func (c *CPU) runDebug(b *block) {
	if hit := c.codeBreakpoint(); hit != 0 {
		f := arch.Fault{Vector: arch.VecDB, DR6: hit,
			Rule: "instruction breakpoint: DR0-DR3 matches the instruction's address with R/W=00 enabled in DR7",
			SDM:  "Vol. 3B 18.3.1.1"}
		c.event(arch.VecDB, false, 0, evException, &f)
		c.useRunUnit() // an event without an instruction uses one unit of the run
		c.updateAttn()
		return
	}
	c.runSlow(b) // clears RF after the first instruction
	c.updateAttn()
}

// debugTrap reports the #DB traps of the instruction in that just
// retired: single-step (tf: RFLAGS.TF was 1 at its start, SDM Vol. 3B
// 18.3.1.4) and the data and I/O breakpoints it hit (18.3.1.2), in one
// #DB. A MOV SS/POP SS holds them off until after the next instruction
// (SDM Vol. 3A 6.8.3); a HLT keeps them until an event wakes the
// processor. No single-step trap follows an INT n/INT3/INTO/INT1 that
// entered its handler (delivery cleared TF); a breakpoint hit behind a
// MOV SS is then delivered before the handler's first instruction, except
// after INT1, whose own #DB reports it.
func (c *CPU) debugTrap(in *Inst, shadowBefore uint8, tf bool) {
	if c.shutdown {
		c.dbg.hit = 0
		return
	}
	if shadowBefore == 0 && c.shadow == shadowMovSS {
		return // held, with the hit bits, for one more instruction
	}
	var dr6 uint64
	if tf {
		dr6 = arch.DR6BS
		switch in.op {
		case 0xCC, 0xCD, 0xCE, 0xF1:
			if c.RFLAGS&arch.FlagTF == 0 {
				dr6 = 0
			}
		}
	}
	hit := c.dbg.hit
	c.dbg.hit = 0
	if in != nil && in.op == 0xF1 && c.RFLAGS&arch.FlagTF == 0 {
		c.DR[6] = c.DR[6]&^dr6Bn | hit
		hit = 0
	}
	dr6 |= hit
	if dr6 == 0 {
		return
	}
	if c.halted {
		c.dbg.halted |= dr6
		return
	}
	f := arch.Fault{Vector: arch.VecDB, Trap: true, DR6: dr6,
		Rule: "debug trap after the instruction: single-step (DR6.BS) or a data/I/O breakpoint (DR6.B0-B3)",
		SDM:  "Vol. 3B 18.3.1.2, 18.3.1.4"}
	if hit == 0 {
		f = faultSingleStep
	}
	if c.tprHoldsTrap(dr6) || c.vmxMTFHoldsTrap(dr6) { // vmx_tpr.go, vmx_events.go
		return
	}
	c.event(arch.VecDB, false, 0, evException, &f)
}

// takeHaltedTrap delivers a #DB trap kept across HLT when an event wakes
// the processor: it comes before NMIs and interrupts (SDM Vol. 3A 6.9,
// Table 6-2, priority 4), which are taken after it.
func (c *CPU) takeHaltedTrap() bool {
	if c.dbg.halted == 0 {
		return false
	}
	f := arch.Fault{Vector: arch.VecDB, Trap: true, DR6: c.dbg.halted,
		Rule: "debug trap of a HLT, delivered when an event wakes the processor",
		SDM:  "Vol. 3B 18.3.1.4; Vol. 3A 6.9"}
	c.dbg.halted = 0
	c.halted = false
	c.event(arch.VecDB, false, 0, evException, &f)
	return true
}

// debugDelivery is the #DB part of deliveryEffects: B0-B3 report exactly
// the breakpoints of this #DB, the other status bits accumulate, and
// DR7.GD is cleared on entry to the handler (SDM Vol. 3B 18.2.3, 18.2.4).
// (What a #DB does to IA32_DEBUGCTL is debugctl.go's lbrDelivered.)
func (c *CPU) debugDelivery(f *arch.Fault) {
	c.DR[6] = c.DR[6]&^dr6Bn | f.DR6 | dr6Fixed1
	c.DR[7] &^= dr7GD
}

// faultGD is the general-detect #DB of a MOV DR with DR7.GD=1.
var faultGD = arch.Fault{Vector: arch.VecDB, DR6: arch.DR6BD,
	Rule: "general detect: MOV to or from a debug register with DR7.GD=1 (DR6.BD=1)",
	SDM:  "Vol. 3B 18.3.1.3"}

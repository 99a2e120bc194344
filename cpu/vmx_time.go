package cpu

// The latency of VM entry and VM exit in virtual time.
//
// The SDM does not say how long a VM transition takes: it is left to the
// implementation. Its timer chapter assumes one — the VMX-preemption timer
// can expire during VM entry, and the VM exit then comes before the
// guest's first instruction (SDM Vol. 3C 27.7.4) — and so do guests:
// kvm-unit-tests' preemption_timer ("Save preemption value") resumes a
// guest that exits seven instructions later and expects the saved timer
// value to have dropped, which on hardware the transitions' hundreds of
// cycles ensure. vmxemu charges a fixed, documented amount of virtual
// time per successful VM entry and per VM exit (docs/VMX.md, "Time in VM
// transitions"); it is a modelling choice, not an architectural value.
//
// The figures: a VMRESUME → guest CPUID → VM exit round trip measured on
// server parts with the vmlatency driver (github.com/yulyugin/vmlatency,
// results/, median of its runs, in TSC ticks at the nominal rate):
// Xeon E5-2670 (Sandy Bridge EP) 688 ticks at 2.6 GHz = 265 ns, E5-2690
// 728 at 2.9 GHz = 251 ns, E5-2697 v2 (Ivy Bridge EP) 716 at 2.7 GHz =
// 265 ns, E5-2680 v3 (Haswell EP) 488 at 2.5 GHz = 195 ns, E5-2680 v4
// 478 at 2.4 GHz = 199 ns, Gold 6140 (Skylake-SP) 636 at 2.3 GHz =
// 277 ns, Gold 6142M 547 at 2.6 GHz = 210 ns, Gold 6252N (Cascade Lake)
// 518 at 2.3 GHz = 225 ns. Those round trips include the host's few
// instructions around VMRESUME; 240 ns for the two transitions is within
// the spread of every generation vmxemu models, so one constant serves all
// models. The measurement gives only the sum: it is split evenly.
//
// Where the time falls (one clock: it is credited to Clock like idle
// time, so the TSC, the APIC timer, the TSC-deadline timer and the
// VMX-preemption timer all see it):
//
//   - VM entry: the checks, loading guest state, the MSR-load area, event
//     injection and the start of the timer (27.3-27.7) happen at the
//     VMLAUNCH or VMRESUME; then VMEntryLatency elapses before the guest's
//     first instruction. The timer counts through it and can expire in it
//     (27.7.4): the VM exit then comes before the first guest instruction.
//   - VM exit: recording the exit information, saving guest state — the
//     timer value with "save VMX-preemption timer value" (28.3.4) — and
//     the MSR-store area (28.4) happen at the instruction boundary where
//     the exit occurs; then VMExitLatency elapses; loading host state and
//     the MSR-load area (28.5, 28.6) complete the exit, and the host's
//     first instruction follows. A guest RDTSC just before an exiting
//     instruction and the TSC stored by the MSR-store area differ by that
//     instruction only (kvm-unit-tests' rdtsc_vmexit_diff_test allows
//     750 ticks).
//
// A VM-entry failure (exit reason 33 or 34 with bit 31 set, 27.8) and a
// VMfail take no extra time: they are charged as the one instruction that
// failed. -icount-limit counts instructions retired: the latency is time,
// not instructions.

// VMEntryLatency and VMExitLatency are the virtual time, in nanoseconds,
// of a successful VM entry (beyond the VMLAUNCH/VMRESUME instruction's own
// nanosecond) and of a VM exit.
const (
	VMEntryLatency = 120
	VMExitLatency  = 120
)

// vmxElapse lets ns nanoseconds of virtual time pass inside a VM
// transition: Clock advances (as with idle time), and in a run whose
// budget is virtual time (RunFor: the board's slices, cut at the next
// timer deadline) the run's end comes ns earlier in instructions, so that
// a deadline that falls inside the transition is met at the first
// instruction boundary after it. An end brought forward for the guest's
// timer or MTF (vmxArmRunEnd) is dropped first: the transition ends or
// starts the guest, and entry arms them again after this.
func (c *CPU) vmxElapse(ns uint64) {
	if c.vev.savedEnd != 0 {
		c.runEnd, c.vev.savedEnd = c.vev.savedEnd, 0
	}
	c.idle += ns
	c.stop = true
	if !c.runTimed {
		return
	}
	// now() lies in [Icount, Icount+maxBlockInsts): it adds the block's
	// instructions before the current one (before < len(insts)). When the
	// end is further than ns past that range, the test below holds
	// whatever now() is, so the walk of the block is not needed
	// (TestVMXElapseFar).
	if c.runEnd > c.Icount && c.runEnd-c.Icount > ns+maxBlockInsts {
		c.runEnd -= ns
		return
	}
	if floor := c.now(); c.runEnd > floor && c.runEnd-floor > ns {
		c.runEnd -= ns
	} else {
		c.runEnd = min(c.runEnd, floor)
	}
}

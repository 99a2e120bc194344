package cpu

import "math/bits"

// The time-stamp counter's rate (docs/CPU-MODELS.md, "Time").
//
// Virtual time (Clock) is in nanoseconds: one instruction retired is one
// nanosecond (a virtual rate of 1,000 MIPS), and the board credits time
// spent idle in the same unit; the APIC timer, the PIT, the RTC and the
// ACPI PM timer all count from it. The TSC counts at the model's nominal
// frequency against that clock: f MHz is f ticks per microsecond, so n
// nanoseconds after the counter was last set (to base, at reset 0) it reads
//
//	base + floor(n × f / 1000)
//
// exactly, in integer arithmetic, for any n. At f ≥ 1000 MHz every
// nanosecond advances it by at least one tick, so it is strictly
// increasing across instructions. The rate is a property of the CPU
// model (msr.Model.NominalMHz), fixed for a run: the counter stays
// deterministic, and a loop that waits for 2^30 ticks runs 2^30 × 1000 / f
// instructions rather than 2^30.

// DefaultTSCMHz is the TSC rate of a CPU whose configuration names none
// (a model without a nominal frequency, a board with a custom platform,
// the core's own tests): 1000 MHz, one tick per nanosecond, so the TSC
// counts instructions retired plus idle time.
const DefaultTSCMHz = 1000

// TSCMHz returns the TSC's rate in ticks per microsecond of virtual time.
func (c *CPU) TSCMHz() uint64 { return c.tscMHz }

// tscTicks is the number of TSC ticks in ns nanoseconds of virtual time:
// floor(ns × tscMHz / 1000), exact without overflow (the product is split
// at the microsecond), wrapping modulo 2^64 like the counter.
func (c *CPU) tscTicks(ns uint64) uint64 {
	return ns/1000*c.tscMHz + ns%1000*c.tscMHz/1000
}

// ClockAtTSC returns the earliest virtual time (Clock) at which the TSC
// reads v or more, and false when that is never (v beyond what the counter
// reaches before the virtual clock wraps). A value the TSC has already
// reached returns the current time. The TSC-deadline timer (and the
// VMX-preemption timer, which counts at the TSC's rate) convert their
// deadlines with it, so that they fire at the exact instruction at which
// RDTSC first reads the deadline.
func (c *CPU) ClockAtTSC(v uint64) (uint64, bool) {
	now := c.Clock()
	tsc := c.TSC()
	if v <= tsc {
		return now, true
	}
	// The TSC reads v at epoch + ceil((v - base) × 1000 / f): the smallest
	// n with floor(n × f / 1000) ≥ v - base. The deadline is ahead of the
	// counter, so v - base does not wrap past the ticks already counted.
	k := v - c.tscBase
	hi, lo := bits.Mul64(k, 1000)
	if hi >= c.tscMHz {
		return 0, false
	}
	n, rem := bits.Div64(hi, lo, c.tscMHz)
	if rem != 0 {
		n++
	}
	t := c.tscEpoch + n
	if t < c.tscEpoch {
		return 0, false
	}
	return max(t, now), true
}

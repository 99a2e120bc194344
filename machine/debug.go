package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// DebugEvent says why a Debugger's Continue or Step returned.
type DebugEvent int

const (
	// DebugBreak: a CPU is about to execute an instruction at an address
	// the break function accepted. The instruction has not executed.
	DebugBreak DebugEvent = iota + 1
	// DebugStepped: Step executed (at most) one instruction or delivered
	// one event.
	DebugStepped
	// DebugPolled: the poll function asked Continue to return.
	DebugPolled
	// DebugEnded: the run is over (the guest exited, shut down, a limit
	// was reached...): DebugStop.Result says how, as Run's Result would.
	DebugEnded
	// DebugEventBreak: Machine.Break asked to stop (-break-on,
	// -magic-break) after an instruction of CPU; DebugStop.Reason says
	// why.
	DebugEventBreak
)

func (e DebugEvent) String() string {
	switch e {
	case DebugBreak:
		return "break"
	case DebugStepped:
		return "stepped"
	case DebugPolled:
		return "polled"
	case DebugEnded:
		return "ended"
	case DebugEventBreak:
		return "event break"
	}
	return fmt.Sprintf("DebugEvent(%d)", int(e))
}

// DebugStop describes where a Debugger stopped.
type DebugStop struct {
	Event DebugEvent
	// CPU is the CPU that stopped (DebugBreak, DebugStepped) or that ran
	// last (DebugPolled).
	CPU int
	// Result is set for DebugEnded.
	Result Result
	// Reason is set for DebugEventBreak.
	Reason string
}

// PollInterval is how many instructions (at most) Debugger.Continue runs
// between calls of its poll function: one quantum per CPU.
const PollInterval = DefaultQuantum

// Debugger runs a machine under the control of a debugger (the GDB stub):
// instead of one Run, the machine runs in Continue and Step calls with the
// CPUs stopped in between, where their state and memory may be inspected
// and changed. Scheduling, device exits, resets, hang detection and the
// limits are those of Run; the wall-time limit counts from NewDebugger,
// time spent stopped included.
//
// A Debugger is not safe for concurrent use, and Run must not be called
// on a machine being debugged.
type Debugger struct {
	m     *Machine
	lim   Limits
	start time.Time
	ended *Result
	last  int // CPU that ran last
}

// NewDebugger returns a debugger for a loaded machine, with its CPUs
// stopped.
func (m *Machine) NewDebugger(lim Limits) (*Debugger, error) {
	if len(m.cpus) == 0 {
		return nil, errors.New("machine: no guest loaded")
	}
	return &Debugger{m: m, lim: lim, start: time.Now()}, nil
}

// Machine returns the machine being debugged.
func (d *Debugger) Machine() *Machine { return d.m }

// Ended returns the result of a run that is over, or nil.
func (d *Debugger) Ended() *Result { return d.ended }

// PC returns the linear address of the next instruction in s: CS.base +
// RIP outside 64-bit mode, RIP in it. Debugger breakpoints are linear
// addresses, as in QEMU.
func PC(s *arch.State) uint64 {
	if s.Mode64() {
		return s.RIP
	}
	return (s.Seg[arch.CS].Base + s.RIP) & 0xFFFFFFFF
}

func cpuPC(c *cpu.CPU) uint64 { return PC(&c.State) }

// end records the end of the run.
func (d *Debugger) end(res Result, err error) (DebugStop, error) {
	res, err = d.m.finish(res, err, d.start)
	d.ended = &res
	return DebugStop{Event: DebugEnded, CPU: res.CPU, Result: res}, err
}

// stopped returns a stop that leaves the machine running later, with
// device output flushed so that the user sees it at the stop.
func (d *Debugger) stopped(ev DebugEvent, i int) (DebugStop, error) {
	return DebugStop{Event: ev, CPU: i}, d.m.flush()
}

// limitHit checks the run limits before running CPU i; it returns the
// budget left for it.
func (d *Debugger) limitHit(i int, budget uint64) (Result, uint64, bool) {
	m := d.m
	if d.lim.WallTime > 0 && time.Since(d.start) >= d.lim.WallTime {
		return Result{Kind: ResultLimit, CPU: i,
			Reason: fmt.Sprintf("time limit of %v reached after %d instructions", d.lim.WallTime, m.Icount())}, 0, true
	}
	if d.lim.Instructions > 0 {
		n := m.Icount()
		if n >= d.lim.Instructions {
			return Result{Kind: ResultLimit, CPU: i,
				Reason: fmt.Sprintf("instruction limit of %d reached", d.lim.Instructions)}, 0, true
		}
		budget = min(budget, d.lim.Instructions-n)
	}
	return Result{}, budget, false
}

// Continue runs the CPUs round-robin, as Run does (the loop mirrors run's
// in run.go: keep the two in step), until one is about to
// execute an instruction at a linear address for which brk returns true
// (DebugBreak), poll returns true (DebugPolled; it is called at least
// every PollInterval instructions of each CPU), ctx is canceled or the run
// ends (DebugEnded). A nil brk sets no breakpoints; a nil poll never
// interrupts.
//
// Breakpoints are checked before every instruction, so with brk set every
// CPU runs one instruction per cpu.CPU.Run call: several times slower than
// without. A CPU does not stop at a breakpoint at the address it resumes
// from, so that continuing from a breakpoint makes progress.
func (d *Debugger) Continue(ctx context.Context, brk func(cpu int, pc uint64) bool, poll func() bool) (DebugStop, error) {
	if d.ended != nil {
		return DebugStop{Event: DebugEnded, CPU: d.ended.CPU, Result: *d.ended}, nil
	}
	m := d.m
	// resume[i]: CPU i has not executed an instruction since Continue
	// began, so a breakpoint at its current address does not fire.
	resume := make([]bool, len(m.cpus))
	for i := range resume {
		resume[i] = true
	}
	for {
		if err := ctx.Err(); err != nil {
			return d.end(Result{Kind: ResultCanceled, CPU: -1, Reason: fmt.Sprintf("run canceled: %v", err)}, nil)
		}
		if poll != nil && poll() {
			return d.stopped(DebugPolled, d.last)
		}
		progressed := false
		for i := 0; i < len(m.cpus); i++ {
			if !m.running[i] {
				continue
			}
			res, budget, hit := d.limitHit(i, m.cfg.Quantum)
			if hit {
				return d.end(res, nil)
			}
			c := m.cpus[i]
			d.last = i
			before := c.Icount
			var why cpu.StopReason
			if brk == nil {
				why = m.runSlice(i, c, budget)
			} else {
				for ; budget > 0; budget-- {
					if brk(i, cpuPC(c)) && !(i < len(resume) && resume[i]) {
						return d.stopped(DebugBreak, i)
					}
					why = m.runSlice(i, c, 1)
					if i < len(resume) {
						resume[i] = false
					}
					if why != cpu.StopBudget {
						break
					}
				}
			}
			if c.Icount != before {
				progressed = true
			}
			if st, ok := d.breakStop(); ok {
				return st, m.flush()
			}
			res, done, err := m.afterRun(i, c, why)
			if done || err != nil {
				return d.end(res, err)
			}
			if res.Kind != 0 {
				// Reset: new CPUs, a new round.
				progressed = true
				resume = make([]bool, len(m.cpus))
				break
			}
		}
		if !progressed {
			if res, stuck := m.stuck(); stuck {
				return d.end(res, nil)
			}
		} else {
			m.idleRounds = 0
		}
	}
}

// Step runs CPU i for one instruction (or the delivery of one pending
// event) and stops it again. Breakpoints do not apply. A CPU that has not
// been started (an AP waiting for SIPI) or is halted does not move.
func (d *Debugger) Step(ctx context.Context, i int) (DebugStop, error) {
	if d.ended != nil {
		return DebugStop{Event: DebugEnded, CPU: d.ended.CPU, Result: *d.ended}, nil
	}
	m := d.m
	if i < 0 || i >= len(m.cpus) {
		return DebugStop{}, fmt.Errorf("machine: step: no CPU %d", i)
	}
	if err := ctx.Err(); err != nil {
		return d.end(Result{Kind: ResultCanceled, CPU: -1, Reason: fmt.Sprintf("run canceled: %v", err)}, nil)
	}
	if !m.running[i] {
		return d.stopped(DebugStepped, i)
	}
	if res, _, hit := d.limitHit(i, 1); hit {
		return d.end(res, nil)
	}
	c := m.cpus[i]
	d.last = i
	why := m.runSlice(i, c, 1)
	if st, ok := d.breakStop(); ok {
		return st, m.flush()
	}
	res, done, err := m.afterRun(i, c, why)
	if done || err != nil {
		return d.end(res, err)
	}
	return d.stopped(DebugStepped, i)
}

// breakStop turns a Break request into a stop (the debugger is attached:
// the run goes on after it).
func (d *Debugger) breakStop() (DebugStop, bool) {
	b := d.m.brk
	if b == nil || d.m.exit != nil {
		return DebugStop{}, false
	}
	d.m.brk = nil
	return DebugStop{Event: DebugEventBreak, CPU: b.CPU, Reason: b.Reason}, true
}

package machine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine/devices"
)

// Limits bound a run. Zero values mean no limit.
type Limits struct {
	// Instructions is the most instructions retired by all CPUs together,
	// resets included (-icount-limit).
	Instructions uint64
	// WallTime is the most wall-clock time the run may take (-time-limit),
	// checked between quanta.
	WallTime time.Duration
}

// ResultKind says how a run ended.
type ResultKind int

const (
	// ResultShutdown: the guest powered the machine off (the 0x8900
	// "Shutdown" port), or asked for a reset under NoReboot (QEMU's
	// -no-reboot turns a reset request into an exit with status 0).
	ResultShutdown ResultKind = iota + 1
	// ResultDebugExit: the guest wrote to isa-debug-exit; Code is
	// (value<<1)|1.
	ResultDebugExit
	// ResultTripleFault: a CPU entered shutdown (triple fault) and
	// NoReboot is set; Fault and FaultWhy describe it.
	ResultTripleFault
	// ResultLimit: an instruction, wall-time or reset-count limit was
	// reached, or the guest asked for something vmxemu refuses
	// (devices.ExitUnsupported).
	ResultLimit
	// ResultHang: every running CPU is halted and nothing can wake one:
	// HLT with RFLAGS.IF=0, or with IF=1 while no device can raise an
	// interrupt (vmxemu has no timer yet); or the machine suspended to
	// RAM (ACPI S3) with no wake event enabled. QEMU would wait forever.
	ResultHang
	// ResultCanceled: the context was canceled.
	ResultCanceled
	// ResultBreak: an event the user asked to stop at happened
	// (Machine.Break: -break-on, -magic-break) while no debugger was
	// attached; Reason says which.
	ResultBreak
)

func (k ResultKind) String() string {
	switch k {
	case ResultShutdown:
		return "shutdown"
	case ResultDebugExit:
		return "debug-exit"
	case ResultTripleFault:
		return "triple fault"
	case ResultLimit:
		return "limit"
	case ResultHang:
		return "hang"
	case ResultCanceled:
		return "canceled"
	case ResultBreak:
		return "break"
	}
	return fmt.Sprintf("ResultKind(%d)", int(k))
}

// Result describes how a run ended.
type Result struct {
	Kind ResultKind
	// Code is the exit status the guest asked for: (value<<1)|1 for a
	// debug exit (it may exceed 255), 0 otherwise.
	Code int
	// Reason is a one-line human-readable explanation.
	Reason string
	// CPU is the index of the CPU that caused the end (-1 if none did).
	CPU int
	// State is that CPU's architectural state when the run ended.
	State arch.State
	// Fault is the exception that could not be delivered, for
	// ResultTripleFault; FaultWhy is the CPU's account of the shutdown.
	Fault    *arch.Fault
	FaultWhy string
	// Icount is the number of instructions retired, resets included.
	Icount uint64
	// Resets is the number of resets during the run.
	Resets int
	// Elapsed is the wall-clock time the run took.
	Elapsed time.Duration
}

// Run runs the CPUs round-robin, each for Config.Quantum instructions at a
// time, until the guest ends the run, a limit is reached or ctx is
// canceled. The order is fixed, so a run is deterministic: the same guest
// retires the same instructions and produces the same output every time.
//
// A triple fault or a guest reset request (port 0x92 bit 0, port 0xCF9
// bit 2) resets the machine and boots the guest again, as QEMU does; with
// Config.NoReboot a triple fault ends the run (ResultTripleFault) and a
// reset request ends it as a shutdown. Device output is flushed before Run
// returns. The error is for failures of vmxemu itself (output errors, a
// loader failing at reset); the Result is still filled in.
func (m *Machine) Run(ctx context.Context, lim Limits) (Result, error) {
	if len(m.cpus) == 0 {
		return Result{}, errors.New("machine: no guest loaded")
	}
	start := time.Now()
	res, err := m.run(ctx, lim, start)
	return m.finish(res, err, start)
}

// finish completes the Result of a run that ended and flushes device
// output.
func (m *Machine) finish(res Result, err error, start time.Time) (Result, error) {
	res.Icount = m.Icount()
	res.Resets = m.resets
	res.Elapsed = time.Since(start)
	if res.CPU >= 0 && res.CPU < len(m.cpus) {
		res.State = m.cpus[res.CPU].GetState()
	}
	if ferr := m.flush(); ferr != nil {
		err = errors.Join(err, ferr)
	}
	return res, err
}

func (m *Machine) run(ctx context.Context, lim Limits, start time.Time) (Result, error) {
	for {
		if err := ctx.Err(); err != nil {
			return Result{Kind: ResultCanceled, CPU: -1, Reason: fmt.Sprintf("run canceled: %v", err)}, nil
		}
		if lim.WallTime > 0 && time.Since(start) >= lim.WallTime {
			return Result{Kind: ResultLimit, CPU: 0,
				Reason: fmt.Sprintf("time limit of %v reached after %d instructions", lim.WallTime, m.Icount())}, nil
		}
		progressed := false
		for i, c := range m.cpus {
			if !m.running[i] {
				continue
			}
			budget := m.cfg.Quantum
			if lim.Instructions > 0 {
				n := m.Icount()
				if n >= lim.Instructions {
					return Result{Kind: ResultLimit, CPU: i,
						Reason: fmt.Sprintf("instruction limit of %d reached", lim.Instructions)}, nil
				}
				budget = min(budget, lim.Instructions-n)
			}
			before := c.Icount
			why := m.runSlice(i, c, budget)
			if c.Icount != before {
				progressed = true
			}
			if res, done, err := m.afterRun(i, c, why); done || err != nil {
				return res, err
			} else if res.Kind != 0 {
				// The machine was reset: start the round again.
				progressed = true
				break
			}
		}
		if !progressed {
			if res, stuck := m.stuck(); stuck {
				return res, nil
			}
		} else {
			m.idleRounds = 0
		}
	}
}

// afterRun handles why CPU i stopped. done reports that the run ends with
// res; a non-zero res.Kind with done=false means the machine was reset.
func (m *Machine) afterRun(i int, c *cpu.CPU, why cpu.StopReason) (res Result, done bool, err error) {
	if b := m.brk; b != nil && m.exit == nil {
		m.brk = nil
		return Result{Kind: ResultBreak, CPU: b.CPU, Reason: b.Reason}, true, nil
	}
	if e := m.exit; e != nil {
		m.exit = nil
		switch e.Kind {
		case devices.ExitDebug:
			return Result{Kind: ResultDebugExit, Code: e.Code, CPU: i, Reason: e.Reason}, true, nil
		case devices.ExitShutdown:
			return Result{Kind: ResultShutdown, CPU: i, Reason: "guest shut down: " + e.Reason}, true, nil
		case devices.ExitUnsupported:
			return Result{Kind: ResultLimit, CPU: i, Reason: "unsupported guest request: " + e.Reason}, true, nil
		case devices.ExitSuspend:
			return m.suspend(i, e.Reason)
		case devices.ExitReset:
			if m.cfg.NoReboot {
				return Result{Kind: ResultShutdown, CPU: i,
					Reason: "guest requested a reset (" + e.Reason + "); -no-reboot: exiting instead"}, true, nil
			}
			return m.resetOrLimit(i, "guest reset request: "+e.Reason)
		}
	}
	if why == cpu.StopShutdown || c.IsShutdown() {
		f := c.ShutdownFault
		if m.cfg.NoReboot {
			return Result{Kind: ResultTripleFault, CPU: i, Fault: &f, FaultWhy: c.ShutdownWhy,
				Reason: fmt.Sprintf("CPU %d: %s: %s at RIP=%#x", i, c.ShutdownWhy, f.Error(), c.RIP)}, true, nil
		}
		return m.resetOrLimit(i, fmt.Sprintf("CPU %d: %s: %s", i, c.ShutdownWhy, f.Error()))
	}
	return Result{}, false, nil
}

// suspend puts the machine in the ACPI S3 sleeping state and wakes it
// again (ACPI 6.5 16.1.3, 16.3). Every CPU stops and loses its state; RAM
// keeps its contents. The only wake event vmxemu has is the RTC alarm,
// enabled by PM1_EN.RTC_EN and the RTC's alarm interrupt (there is no
// power button); the clock reaches any valid alarm time, so the machine
// wakes as soon as both are set. Waking is a system reset in which the
// firmware, finding the resume request, skips POST and jumps to the FACS
// Firmware_Waking_Vector in real mode, as SeaBIOS does on QEMU
// (src/resume.c s3_resume; QEMU sets CMOS shutdown status 0xFE on
// suspend for it to find); without a vector it boots normally. After the
// wake PM1_STS reports WAK_STS and RTC_STS.
func (m *Machine) suspend(i int, why string) (Result, bool, error) {
	if !m.acpiPM.RTCWakeEnabled() || !m.rtc.AlarmWakes() {
		return Result{Kind: ResultHang, CPU: i, Reason: why + ": suspended to RAM with no wake event enabled " +
			"(the RTC alarm wakes the machine when PM1_EN.RTC_EN and the RTC's register B AIE are set and the alarm is a time the clock reaches; vmxemu has no power button)"}, true, nil
	}
	var facs [64]byte
	if err := m.ram.ReadPhys(firmware.FACSAddr, facs[:]); err != nil {
		return Result{Kind: ResultLimit, CPU: -1, Reason: "S3 resume failed"}, true, fmt.Errorf("machine: reading the FACS: %w", err)
	}
	vec := firmware.WakingVector(facs[:])
	if vec == 0 {
		return m.resetOrLimit(i, why+"; woken by the RTC alarm with no Firmware_Waking_Vector in the FACS: the firmware boots normally")
	}
	if err := m.flush(); err != nil {
		return Result{Kind: ResultLimit, CPU: -1, Reason: "S3 resume failed"}, true, err
	}
	if err := m.buildDevices(); err != nil {
		return Result{Kind: ResultLimit, CPU: -1, Reason: "S3 resume failed"}, true, err
	}
	if m.defPlat != nil {
		m.defPlat.Reset(m.cfg.FeatureControl)
	}
	m.firmwareDevices()
	m.startCPUs(firmware.ResumeState(vec), fmt.Sprintf("S3 resume at the waking vector %#x", vec))
	m.acpiPM.Woke(true)
	return Result{Kind: ResultShutdown}, false, nil
}

func (m *Machine) resetOrLimit(i int, why string) (Result, bool, error) {
	if m.cfg.MaxResets < 0 || m.resets >= m.cfg.MaxResets {
		return Result{Kind: ResultLimit, CPU: i,
			Reason: fmt.Sprintf("reset limit reached: %d resets, the last by %s", m.resets, why)}, true, nil
	}
	if err := m.reset(why); err != nil {
		return Result{Kind: ResultLimit, CPU: -1, Reason: "reset failed"}, true, err
	}
	return Result{Kind: ResultShutdown}, false, nil
}

// stuck decides whether a round in which no CPU retired an instruction can
// ever make progress again. Every running CPU is halted, waiting for SIPI
// or shut down. One that is halted with interrupts enabled wakes when an
// interrupt is pending for it, or when a timer expires: the board then
// skips ahead to that time (skipIdle). Otherwise nothing can wake any CPU
// (vmxemu has no NMI button), which QEMU would wait out forever.
func (m *Machine) stuck() (Result, bool) {
	m.syncIRQs()
	for i, c := range m.cpus {
		if !m.running[i] || c.WaitingForSIPI() {
			continue
		}
		if !c.Halted() {
			return Result{}, false
		}
		if c.InterruptWakes() && m.apics[i].Pending() {
			return Result{}, false
		}
	}
	if m.skipIdle() {
		return Result{}, false
	}
	c := m.cpus[0]
	if c.WaitingForSIPI() {
		return Result{Kind: ResultHang, CPU: 0, Reason: "every CPU is halted or waiting for SIPI, and nothing can wake one: QEMU would wait forever"}, true
	}
	if c.Flags()&arch.FlagIF == 0 {
		return Result{Kind: ResultHang, CPU: 0, Reason: fmt.Sprintf(
			"CPU 0 halted with interrupts disabled (HLT with RFLAGS.IF=0, next RIP=%#x): nothing can wake it, QEMU would wait forever", c.RIP)}, true
	}
	return Result{Kind: ResultHang, CPU: 0, Reason: fmt.Sprintf(
		"CPU 0 halted waiting for an interrupt (next RIP=%#x) that no device or timer will raise: QEMU would wait forever", c.RIP)}, true
}

// BreakRequest is an event the user asked to stop at (Machine.Break).
type BreakRequest struct {
	CPU    int
	Reason string
}

// Break stops the run after the current instruction of CPU i (called from
// a CPU hook, on the CPU that runs): Run ends with ResultBreak, a
// Debugger's Continue or Step stops with DebugEventBreak. The first
// request of an instruction wins; a device's request to end the run in the
// same instruction wins over it.
func (m *Machine) Break(i int, reason string) {
	if m.brk != nil || i < 0 || i >= len(m.cpus) {
		return
	}
	m.brk = &BreakRequest{CPU: i, Reason: reason}
	m.cpus[i].RequestStop()
}

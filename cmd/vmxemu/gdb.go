package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/gdbstub"
	"github.com/vmxemu/vmxemu/machine"
)

// checkGDB checks -gdb/-s and -S: -S freezes the machine until a
// debugger continues it, and vmxemu has no monitor to "cont" from, so -S
// needs the stub.
func checkGDB(cfg *cli.Config) error {
	if cfg.StopAtStart && cfg.GDB == "" {
		return usagef("-S: vmxemu has no monitor to continue from: use it with -s or -gdb tcp::PORT")
	}
	return nil
}

// runGDB runs the loaded machine under the gdb stub (-s, -gdb, -S) on the
// listener ln and returns the exit status: the guest's, as without the
// stub; 0 when gdb kills the guest (as QEMU exits on "kill"); ExitLimit on
// a signal. Under -no-shutdown a power-off (or a triple fault under
// -no-reboot) stops the CPUs and gdb sees the stop as an interrupt; it
// stays attached.
func runGDB(ctx context.Context, cfg *cli.Config, m *machine.Machine, ln net.Listener, lim machine.Limits, faults *faultSummary, stderr io.Writer) (int, error) {
	d, err := m.NewDebugger(lim)
	if err != nil {
		return 0, err
	}
	t := &gdbTarget{ctx: ctx, d: d, report: func(res machine.Result) int { return report(cfg, res, stderr) }, faults: faults, stderr: stderr}
	if cfg.NoShutdown {
		t.stopped = func(res machine.Result) {
			code := report(cfg, res, stderr)
			fmt.Fprintf(stderr, "vmxemu: -no-shutdown: the CPUs are stopped (status %d without it); gdb stays attached\n", code)
		}
	}
	if cfg.StopAtStart {
		fmt.Fprintf(stderr, "vmxemu: waiting for gdb on tcp:%s\n", cfg.GDB)
	}
	srv := &gdbstub.Server{Target: t, Log: stderr}
	st, err := srv.Run(ctx, ln, cfg.StopAtStart)
	switch {
	case err != nil && ctx.Err() != nil && errors.Is(err, ctx.Err()):
		fmt.Fprintf(stderr, "vmxemu: terminating on signal after %d instructions\n", m.Icount())
		return cli.ExitLimit, nil
	case err != nil:
		return 0, err
	case st.Kind == gdbstub.StopKilled:
		fmt.Fprintln(stderr, "vmxemu: terminated via the gdb stub")
		return cli.ExitOK, nil
	}
	return st.Code, nil
}

// gdbTarget adapts a machine.Debugger to gdbstub.Target.
type gdbTarget struct {
	ctx    context.Context
	d      *machine.Debugger
	report func(machine.Result) int
	// stopped, if set (-no-shutdown), is called once when the guest
	// stops instead of ending the run; the stop then reaches gdb as an
	// interrupt, every time it continues.
	stopped     func(machine.Result)
	stopCounted bool
	// faults are the faults seen (monitor explain); nil under -no-explain.
	faults *faultSummary
	stderr io.Writer
}

func (t *gdbTarget) cpu(i int) (*cpu.CPU, error) {
	m := t.d.Machine()
	if i < 0 || i >= m.NumCPUs() {
		return nil, fmt.Errorf("no CPU %d", i)
	}
	return m.CPU(i), nil
}

func (t *gdbTarget) NumCPUs() int { return t.d.Machine().NumCPUs() }

func (t *gdbTarget) Regs(i int) (gdbstub.Regs, error) {
	c, err := t.cpu(i)
	if err != nil {
		return gdbstub.Regs{}, err
	}
	f := c.FPURegs()
	return gdbstub.Regs{State: c.GetState(), FPU: gdbstub.FPU{
		FCW: f.FCW, FSW: f.FSW, FTW: fullTagWord(f.FTW), MXCSR: f.MXCSR, XMM: f.XMM,
	}}, nil
}

func (t *gdbTarget) SetRegs(i int, r gdbstub.Regs) error {
	c, err := t.cpu(i)
	if err != nil {
		return err
	}
	c.SetStateDebug(r.State)
	c.SetFPURegs(cpu.FPURegs{FCW: r.FPU.FCW, FSW: r.FPU.FSW, FTW: abridgedTagWord(r.FPU.FTW), MXCSR: r.FPU.MXCSR, XMM: r.FPU.XMM})
	return nil
}

func (t *gdbTarget) ReadMem(i int, addr uint64, buf []byte) error {
	c, err := t.cpu(i)
	if err != nil {
		return err
	}
	if !c.ReadLinear(addr, buf) {
		return fmt.Errorf("%#x: not mapped to RAM", addr)
	}
	return nil
}

func (t *gdbTarget) WriteMem(i int, addr uint64, data []byte) error {
	c, err := t.cpu(i)
	if err != nil {
		return err
	}
	if !c.WriteLinear(addr, data) {
		return fmt.Errorf("%#x: not mapped to RAM", addr)
	}
	return nil
}

func (t *gdbTarget) Step(i int) (gdbstub.Stop, error) {
	ds, err := t.d.Step(t.ctx, i)
	return t.stop(ds), err
}

func (t *gdbTarget) Continue(brk func(int, uint64) bool, poll func() bool) (gdbstub.Stop, error) {
	ds, err := t.d.Continue(t.ctx, brk, poll)
	return t.stop(ds), err
}

// DescribeThread implements gdbstub.ThreadDescriber.
func (t *gdbTarget) DescribeThread(i int) string {
	c, err := t.cpu(i)
	switch {
	case err != nil:
		return "gone"
	case c.IsShutdown():
		return "shutdown"
	case c.Halted():
		return "halted"
	}
	return "running"
}

func (t *gdbTarget) stop(ds machine.DebugStop) gdbstub.Stop {
	switch ds.Event {
	case machine.DebugBreak:
		s := t.d.Machine().CPU(ds.CPU).GetState()
		return gdbstub.Stop{Kind: gdbstub.StopBreakpoint, CPU: ds.CPU, PC: machine.PC(&s)}
	case machine.DebugStepped:
		return gdbstub.Stop{Kind: gdbstub.StopStep, CPU: ds.CPU}
	case machine.DebugPolled:
		return gdbstub.Stop{Kind: gdbstub.StopPolled, CPU: ds.CPU}
	case machine.DebugEventBreak:
		fmt.Fprintf(t.stderr, "vmxemu: CPU %d stopped: %s (gdb sees SIGTRAP)\n", ds.CPU, ds.Reason)
		return gdbstub.Stop{Kind: gdbstub.StopEvent, CPU: ds.CPU}
	case machine.DebugEnded:
		cpuIdx := max(ds.CPU, 0)
		if t.stopped != nil && stopsUnderNoShutdown(ds.Result) {
			if !t.stopCounted {
				t.stopCounted = true
				t.stopped(ds.Result)
			}
			return gdbstub.Stop{Kind: gdbstub.StopPolled, CPU: cpuIdx}
		}
		return gdbstub.Stop{Kind: gdbstub.StopExited, CPU: cpuIdx, Code: t.report(ds.Result)}
	}
	return gdbstub.Stop{}
}

// fullTagWord expands FXSAVE's abridged tag byte (bit i set: register i
// valid) into the x87 tag word gdb shows (two bits per register: 0 valid,
// 3 empty). Valid registers are shown as valid, not as zero or special.
func fullTagWord(abridged uint16) uint16 {
	var w uint16
	for i := 0; i < 8; i++ {
		if abridged&(1<<i) == 0 {
			w |= 3 << (2 * i)
		}
	}
	return w
}

// abridgedTagWord is the inverse: any tag but 3 (empty) is valid.
func abridgedTagWord(full uint16) uint16 {
	var a uint16
	for i := 0; i < 8; i++ {
		if full>>(2*i)&3 != 3 {
			a |= 1 << i
		}
	}
	return a
}

// Monitor implements gdbstub.Monitor: gdb's "monitor CMD" on the current
// thread's CPU.
//
//	vmx            the VMX state: mode, VMXON pointer, current and active VMCSs
//	vmcs [ADDR]    every field of the current VMCS (or of the active one at ADDR)
//	help           this list
func (t *gdbTarget) Monitor(i int, cmd string) (string, error) {
	c, err := t.cpu(i)
	if err != nil {
		return "", err
	}
	const help = "vmxemu monitor commands:\n  vmx          the VMX state of this CPU\n  vmcs [ADDR]  the fields of the current VMCS (or of the active VMCS at ADDR)\n"
	words := strings.Fields(cmd)
	if len(words) == 0 || words[0] == "help" {
		return help, nil
	}
	v := c.VMX()
	switch words[0] {
	case "vmx", "vmcs":
		if v == nil {
			return "", fmt.Errorf("CPU %d has no VMX (the CPU model has none)", i)
		}
	}
	switch {
	case words[0] == "vmx" && len(words) == 1:
		return v.Describe(), nil
	case words[0] == "vmcs" && len(words) <= 2:
		addr := ^uint64(0)
		if len(words) == 2 {
			a, err := strconv.ParseUint(strings.TrimPrefix(words[1], "0x"), 16, 64)
			if err != nil {
				return "", fmt.Errorf("vmcs %s: not a hexadecimal address", words[1])
			}
			addr = a
		}
		return v.DumpVMCS(addr)
	}
	return "", fmt.Errorf("unknown monitor command %q\n%s", cmd, help)
}

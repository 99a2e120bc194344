package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/gdbstub"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
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
func runGDB(ctx context.Context, cfg *cli.Config, m *machine.Machine, ln net.Listener, lim machine.Limits, faults *faultSummary, brk *breakOn, stderr io.Writer) (int, error) {
	d, err := m.NewDebugger(lim)
	if err != nil {
		return 0, err
	}
	t := &gdbTarget{ctx: ctx, d: d, report: func(res machine.Result) int { return report(cfg, res, stderr) }, faults: faults, brk: brk, stderr: stderr}
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
	// brk is -break-on's (nil without it): its -walk explanation is
	// printed after each event stop.
	brk    *breakOn
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

// DescribeThread implements gdbstub.ThreadDescriber: the CPU's run state,
// and "VMX non-root" while it runs a guest.
func (t *gdbTarget) DescribeThread(i int) string {
	c, err := t.cpu(i)
	if err != nil {
		return "gone"
	}
	st := "running"
	switch {
	case c.IsShutdown():
		st = "shutdown"
	case c.Halted():
		st = "halted"
	}
	if v := c.VMX(); v != nil && v.Guest() {
		st += ", VMX non-root"
	}
	return st
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
		if t.brk != nil && t.brk.walkOut != "" {
			fmt.Fprint(t.stderr, t.brk.walkOut) // -walk
			t.brk.walkOut = ""
		}
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

// monitorHelp is the text of "monitor help".
const monitorHelp = `vmxemu monitor commands (for gdb's current thread's CPU unless said):
  vmx            the VMX state of every CPU: mode (outside, root, non-root),
                 VMXON pointer, current VMCS, active VMCSs and launch states
  vmcs           every field of the current VMCS, by SDM Appendix B name
  vmcs ADDR      the same for the active VMCS at ADDR (hexadecimal)
  vmcs FIELD     one field of the current VMCS: its encoding (0x6820) or
                 its Appendix B name (guest rflags)
  msr N          MSR N (hexadecimal) as RDMSR would read it
  explain        the last fault (exception, VMfail, VM-entry failure,
                 VMX abort, triple fault) with its rule and SDM section
  walk ADDR [write|fetch] [user|supervisor]
                 the paging walk of linear address ADDR (hexadecimal, or
                 gla, cr2, rip) step by step, two-dimensionally under EPT:
                 each guest paging-structure entry with its EPT walk, the
                 final guest-physical and host-physical address, where
                 and why it would fail; a read at the CPL unless said; in
                 the CPU's current context (the guest's in VMX non-root
                 operation); no accessed/dirty flag is set
  walk guest ADDR ...
                 the same in the context of the current VMCS's guest
                 (its guest-state area and EPTP): after a VM exit
  help           this list
`

// Monitor implements gdbstub.Monitor: gdb's "monitor CMD" on the current
// thread's CPU (monitorHelp lists the commands).
func (t *gdbTarget) Monitor(i int, cmd string) (string, error) {
	c, err := t.cpu(i)
	if err != nil {
		return "", err
	}
	words := strings.Fields(cmd)
	if len(words) == 0 || words[0] == "help" {
		return monitorHelp, nil
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
		return t.describeVMX(i), nil
	case words[0] == "vmcs" && len(words) == 1:
		return v.DumpVMCS(^uint64(0))
	case words[0] == "vmcs":
		// A hexadecimal number is an active VMCS's address or a field's
		// encoding (a VMCS region is 4-KiB aligned and above the first
		// page; encodings are below 0x8000); anything else is a name.
		if len(words) == 2 {
			if a, err := strconv.ParseUint(strings.TrimPrefix(words[1], "0x"), 16, 64); err == nil {
				if slices.Contains(v.ActiveVMCSs(), a) {
					return v.DumpVMCS(a)
				}
				if _, ok := vmx.FieldByEnc(uint32(a)); ok && a>>32 == 0 {
					return v.DescribeField(fmt.Sprintf("%#x", a))
				}
				return "", fmt.Errorf("vmcs %s: no VMCS at %#x is active on CPU %d, and no field has this encoding", words[1], a, i)
			}
		}
		return v.DescribeField(strings.Join(words[1:], " "))
	case words[0] == "msr" && len(words) == 2:
		n, err := strconv.ParseUint(strings.TrimPrefix(words[1], "0x"), 16, 32)
		if err != nil {
			return "", fmt.Errorf("msr %s: not a hexadecimal MSR index", words[1])
		}
		val, f := c.ReadMSRDebug(uint32(n))
		name := msr.Name(uint32(n))
		if f != nil {
			return fmt.Sprintf("MSR %#x (%s): RDMSR would raise %s\n", n, name, f.Error()), nil
		}
		return fmt.Sprintf("MSR %#x (%s) = %#x\n", n, name, val), nil
	case words[0] == "explain" && len(words) == 1:
		return t.explain(i), nil
	case words[0] == "walk":
		spec, err := parseWalkSpec(words[1:])
		if err != nil {
			return "", fmt.Errorf("walk: %w", err)
		}
		return explainWalk(c, spec, false)
	}
	return "", fmt.Errorf("unknown monitor command %q\n%s", cmd, monitorHelp)
}

// describeVMX is "monitor vmx": every CPU's VMX state.
func (t *gdbTarget) describeVMX(cur int) string {
	var b strings.Builder
	for i := 0; i < t.NumCPUs(); i++ {
		c, _ := t.cpu(i)
		mark := ""
		if i == cur {
			mark = ", gdb's current thread"
		}
		fmt.Fprintf(&b, "CPU %d (thread %d%s):\n", i, i+1, mark)
		if v := c.VMX(); v == nil {
			b.WriteString("  no VMX (the CPU model has none)\n")
		} else {
			for _, l := range strings.Split(strings.TrimSuffix(v.Describe(), "\n"), "\n") {
				fmt.Fprintf(&b, "  %s\n", l)
			}
		}
	}
	return b.String()
}

// explain is "monitor explain": the last fault of the machine, and of
// CPU i if that was another.
func (t *gdbTarget) explain(i int) string {
	if t.faults == nil {
		return "no faults are recorded in the built-in demo (it reports its own)\n"
	}
	last := t.faults.last
	if last == nil {
		return "no fault so far\n"
	}
	s := "last fault: " + last.String() + "\n"
	if mine := t.faults.lastOf[i]; mine != nil && mine != last {
		s += fmt.Sprintf("last fault of CPU %d: %s\n", i, mine)
	}
	return s
}

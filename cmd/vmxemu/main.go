package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/msr"
)

// version is reported by -version.
const version = "0.1.0-dev"

// defaultCPUModel is the model without -cpu.
const defaultCPUModel = msr.DefaultModel

// Default load addresses of flat binaries (-boot-mode flat*), used when
// -load-addr is not given: a boot sector's 0x7C00 in real mode, 1 MiB
// otherwise. -entry defaults to the load address.
const (
	defaultFlat16Addr = 0x7C00
	defaultFlatAddr   = 0x100000
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a command-line problem found after parsing: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// run is vmxemu without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg, err := cli.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return cli.ExitUsage
	}
	switch {
	case cfg.Help:
		fmt.Fprint(stdout, cli.VersionLine(version)+cli.Usage())
		return cli.ExitOK
	case cfg.Version:
		fmt.Fprint(stdout, cli.VersionLine(version))
		return cli.ExitOK
	case cfg.ListCPUs:
		if err := listCPUs(stdout); err != nil {
			fmt.Fprintf(stderr, "vmxemu: %v\n", err)
			return cli.ExitError
		}
		return cli.ExitOK
	case cfg.ListMachines:
		fmt.Fprint(stdout, cli.MachinesHelp())
		return cli.ExitOK
	case cfg.ListDevices:
		fmt.Fprint(stdout, cli.DevicesHelp())
		return cli.ExitOK
	case cfg.ListLogItems:
		fmt.Fprint(stdout, cli.LogItemsHelp())
		return cli.ExitOK
	}
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "vmxemu: warning: %s\n", w)
	}
	var code int
	if cfg.Subcommand == "vmxcap" {
		code, err = vmxcap(cfg, stdout, stderr)
	} else {
		code, err = boot(ctx, cfg, stdout, stderr)
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "vmxemu: %s\n", ue.msg)
			return cli.ExitUsage
		}
		fmt.Fprintf(stderr, "vmxemu: %v\n", err)
		return cli.ExitError
	}
	return code
}

// checkSupported refuses what the command line accepts but vmxemu does not
// implement yet.
func checkSupported(cfg *cli.Config) error {
	if cfg.Subcommand != "" && cfg.Subcommand != "vmxcap" {
		return usagef("%s: unknown subcommand (vmxemu knows: vmxcap; see vmxemu -h)", cfg.Subcommand)
	}
	if cfg.TraceFile != "" {
		return usagef("-trace %s: not implemented yet", cfg.TraceFile)
	}
	if err := checkGDB(cfg); err != nil {
		return err
	}
	if cfg.Machine == "q35" || strings.HasPrefix(cfg.Machine, "pc-q35") {
		return usagef("-machine %s: not implemented yet (vmxemu emulates the pc machine)", cfg.Machine)
	}
	for _, it := range cfg.LogItems {
		switch it {
		case "int", "cpu_reset", "vmx":
		case "out_asm", "op", "op_opt", "op_ind", "op_plugin", "nochain", "plugin", "strace", "tid", "page",
			"guest_errors", "unimp":
			// TCG-internal or user-mode items, and categories vmxemu has
			// nothing to report under: accepted, no output.
		default:
			return usagef("-d %s: not implemented yet (implemented: int, cpu_reset, vmx)", it)
		}
	}
	if cfg.Kernel != "" && cfg.BootMode != cli.BootMultiboot {
		if cfg.Append != "" {
			return usagef("-append: only multiboot kernels take a command line (-boot-mode %s)", cfg.BootMode)
		}
		if len(cfg.Modules) > 0 {
			return usagef("-initrd: only multiboot kernels take modules (-boot-mode %s)", cfg.BootMode)
		}
	}
	return nil
}

// boot builds and runs the machine and returns the exit status.
func boot(ctx context.Context, cfg *cli.Config, stdout, stderr io.Writer) (int, error) {
	if err := checkSupported(cfg); err != nil {
		return 0, err
	}
	prof, err := resolveCPU(cfg, stderr)
	if err != nil {
		return 0, err
	}
	fc, err := featureControl(cfg, prof)
	if err != nil {
		return 0, err
	}
	loader, err := loaderFor(cfg)
	if err != nil {
		return 0, err
	}

	var closers []io.Closer
	defer func() {
		for _, c := range closers {
			c.Close()
		}
	}()
	var serial []io.Writer
	for _, s := range cfg.Serial {
		switch s.Kind {
		case cli.SerialStdio:
			serial = append(serial, stdout)
		case cli.SerialNull:
			serial = append(serial, nil)
		case cli.SerialFile:
			f, err := os.Create(s.Path)
			if err != nil {
				return 0, usagef("-serial file:%s: %v", s.Path, err)
			}
			closers = append(closers, f)
			serial = append(serial, f)
		}
	}

	mcfg := machine.Config{
		RAMSize:        cfg.MemSize,
		CPUs:           cfg.SMP.CPUs,
		Serial:         serial,
		FeatureControl: fc,
		CPUModel:       prof,
		Topology:       msr.Topology{Sockets: cfg.SMP.Sockets, Dies: cfg.SMP.Dies, Cores: cfg.SMP.Cores, Threads: cfg.SMP.Threads},
		NoReboot:       cfg.NoReboot,
		PCTestDev:      cfg.PCTestDev,
	}
	for _, d := range cfg.DebugExit {
		mcfg.DebugExits = append(mcfg.DebugExits, machine.DebugExitConfig{IOBase: d.IOBase, IOSize: int(d.IOSize)})
	}
	if cfg.Kernel == "" {
		demoMachine(cfg, &mcfg, stderr)
		demoHeader(stdout, mcfg.CPUs, prof.Model.Name)
	}
	// Lint warnings (vmx/lint.go) go to stderr, each once.
	seen := map[string]bool{}
	mcfg.Lint = func(id int, msg string) {
		if !seen[msg] {
			seen[msg] = true
			fmt.Fprintf(stderr, "vmxemu: warning: CPU %d: %s\n", id, msg)
		}
	}
	var log *logger
	if len(cfg.LogItems) > 0 {
		w := stderr
		if cfg.LogFile != "" {
			f, err := os.Create(cfg.LogFile)
			if err != nil {
				return 0, usagef("-D %s: %v", cfg.LogFile, err)
			}
			closers = append(closers, f)
			w = f
		}
		log = &logger{w: w, explain: cfg.Explain}
		hooks := &cpu.Hooks{}
		for _, it := range cfg.LogItems {
			switch it {
			case "int":
				hooks.Exception = log.exception
			case "vmx":
				hooks.VMX = log.vmx
			case "cpu_reset":
				mcfg.OnReset = log.reset
			}
		}
		if hooks.Exception != nil || hooks.VMX != nil {
			mcfg.Hooks = hooks
		}
	}

	m, err := machine.New(mcfg)
	if err != nil {
		return 0, err
	}
	if err := m.Load(loader); err != nil {
		return 0, err
	}
	for _, w := range m.Boot().Warnings {
		fmt.Fprintf(stderr, "vmxemu: warning: %s\n", w)
	}
	if cfg.GDB != "" {
		return runGDB(ctx, cfg, m, machine.Limits{Instructions: cfg.ICountLimit, WallTime: cfg.TimeLimit}, stderr)
	}
	res, err := m.Run(ctx, machine.Limits{Instructions: cfg.ICountLimit, WallTime: cfg.TimeLimit})
	if err != nil {
		return 0, err
	}
	return report(cfg, res, stderr), nil
}

// loaderFor returns the loader for -kernel and -boot-mode, reading the
// files now so that a missing file is a command-line error.
func loaderFor(cfg *cli.Config) (machine.Loader, error) {
	if cfg.Kernel == "" {
		return demoLoader(cfg), nil
	}
	image, err := os.ReadFile(cfg.Kernel)
	if err != nil {
		// QEMU's wording ("could not load kernel '%s': %s",
		// hw/i386/x86.c): kvm-unit-tests' qemu_parse_premature_failure
		// (scripts/vmm.bash) recognises a run that got as far as loading
		// the kernel by it.
		return nil, usagef("-kernel %s: could not load kernel '%s': %v", cfg.Kernel, cfg.Kernel, unwrapPathError(err))
	}
	switch cfg.BootMode {
	case cli.BootMultiboot:
		var mods []firmware.Module
		for _, mod := range cfg.Modules {
			data, err := os.ReadFile(mod.Path)
			if err != nil {
				return nil, usagef("-initrd %s: %v", mod.Path, unwrapPathError(err))
			}
			mods = append(mods, firmware.Module{Name: mod.CmdLine, Data: data})
		}
		cmdline := firmware.MultibootCmdline(cfg.Kernel, cfg.Append)
		return func(mem firmware.Memory) (*firmware.Boot, error) {
			return firmware.LoadMultiboot(mem, image, cmdline, mods)
		}, nil
	case cli.BootELF:
		return func(mem firmware.Memory) (*firmware.Boot, error) {
			return firmware.LoadELF(mem, image)
		}, nil
	}
	mode := map[cli.BootMode]firmware.Mode{
		cli.BootFlat16: firmware.ModeReal16,
		cli.BootFlat32: firmware.Mode32Flat,
		cli.BootFlat64: firmware.Mode64,
	}[cfg.BootMode]
	addr := uint64(defaultFlatAddr)
	if mode == firmware.ModeReal16 {
		addr = defaultFlat16Addr
	}
	if cfg.HasLoadAddr {
		addr = cfg.LoadAddr
	}
	entry := addr
	if cfg.HasEntry {
		entry = cfg.Entry
	}
	return func(mem firmware.Memory) (*firmware.Boot, error) {
		return firmware.LoadFlat(mem, image, addr, entry, mode)
	}, nil
}

// unwrapPathError drops the file name an *os.PathError repeats.
func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// report explains how the run ended on stderr and returns the exit status.
//
//	shutdown (0x8900, or a reset request under -no-reboot)  0, silent
//	isa-debug-exit                                          (v<<1)|1, low 8 bits, silent
//	triple fault under -no-reboot                           4
//	-icount-limit, -time-limit, reset loop, hang, signal    6
func report(cfg *cli.Config, res machine.Result, stderr io.Writer) int {
	if cfg.Kernel == "" {
		if code, ok := demoStatus(res, stderr); ok {
			return code
		}
	}
	switch res.Kind {
	case machine.ResultShutdown:
		return cli.ExitOK
	case machine.ResultDebugExit:
		return res.Code & 0xFF
	case machine.ResultTripleFault:
		s := &res.State
		fault := "unknown fault"
		if res.Fault != nil {
			f := *res.Fault
			if !cfg.Explain {
				f.Rule, f.SDM = "", ""
			}
			fault = f.Error()
		}
		why := strings.TrimPrefix(res.FaultWhy, "triple fault: ")
		fmt.Fprintf(stderr, "vmxemu: triple fault on CPU %d at CS:RIP=%04x:%#x (%s): %s\n",
			res.CPU, s.Seg[arch.CS].Selector, s.RIP, why, fault)
		if cfg.Explain {
			fmt.Fprintf(stderr, "vmxemu: the processor shut down; QEMU with -no-reboot exits here (without it the machine would reset)\n")
			dumpState(stderr, s)
		}
		return cli.ExitTripleFault
	case machine.ResultLimit, machine.ResultHang:
		fmt.Fprintf(stderr, "vmxemu: %s\n", res.Reason)
		return cli.ExitLimit
	case machine.ResultCanceled:
		fmt.Fprintf(stderr, "vmxemu: terminating on signal after %d instructions\n", res.Icount)
		return cli.ExitLimit
	}
	fmt.Fprintf(stderr, "vmxemu: run ended: %s\n", res.Reason)
	return cli.ExitError
}

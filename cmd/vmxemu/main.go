package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime/pprof"
	"strings"
	"syscall"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/machine/vtd"
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

// usageError is a problem with the command line or with a file it names,
// found after parsing: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{msg: fmt.Sprintf(format, args...)}
}

// hooks are injection points for tests; run passes none.
type hooks struct {
	// machine, if set, edits the machine's configuration before
	// machine.New (the panic-guard test installs a CPU hook that panics).
	machine func(*machine.Config)
}

// run is vmxemu without the process: it returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return runWith(ctx, args, stdout, stderr, hooks{})
}

func runWith(ctx context.Context, args []string, stdout, stderr io.Writer, h hooks) int {
	cfg, err := cli.Parse(args)
	if err != nil {
		fmt.Fprintln(stderr, oneLine(err.Error()))
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
			fmt.Fprintf(stderr, "vmxemu: %s\n", oneLine(err.Error()))
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
	printWarnings(cfg, stderr)
	if cfg.CPUProfile != "" {
		stopProfile, err := startCPUProfile(cfg.CPUProfile)
		if err != nil {
			fmt.Fprintf(stderr, "vmxemu: -cpuprofile %s: %s\n", cfg.CPUProfile, oneLine(err.Error()))
			return cli.ExitUsage
		}
		defer func() {
			if err := stopProfile(); err != nil {
				fmt.Fprintf(stderr, "vmxemu: -cpuprofile %s: %s\n", cfg.CPUProfile, oneLine(err.Error()))
			}
		}()
	}
	var code int
	if cfg.Subcommand == "vmxcap" {
		code, err = vmxcap(cfg, stdout, stderr)
	} else {
		code, err = boot(ctx, cfg, args, stdout, stderr, h)
	}
	if err != nil {
		var ue *usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "vmxemu: %s\n", oneLine(ue.msg))
			return cli.ExitUsage
		}
		// Every error that is not the user's is vmxemu's: a bug.
		fmt.Fprintf(stderr, "vmxemu: internal error: %s\n", oneLine(err.Error()))
		return cli.ExitError
	}
	return code
}

// printWarnings prints the warnings about QEMU options accepted as no-ops,
// one line each.
func printWarnings(cfg *cli.Config, stderr io.Writer) {
	for _, w := range cfg.Warnings {
		fmt.Fprintf(stderr, "vmxemu: warning: %s\n", oneLine(w))
	}
}

// maxMessage bounds an error message, in runes: a message quotes its
// input, and the input may be a whole binary file.
const maxMessage = 400

// oneLine makes an error message safe to print as one line: line breaks
// and tabs become spaces, other unprintable characters and invalid UTF-8
// become \xNN escapes, and it is cut at maxMessage runes.
func oneLine(msg string) string {
	var b strings.Builder
	n := 0
	for i := 0; i < len(msg); {
		r, size := utf8.DecodeRuneInString(msg[i:])
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError && size <= 1:
			fmt.Fprintf(&b, `\x%02x`, msg[i])
		case !unicode.IsPrint(r):
			for _, c := range []byte(msg[i : i+size]) {
				fmt.Fprintf(&b, `\x%02x`, c)
			}
		default:
			b.WriteString(msg[i : i+size])
		}
		i += size
		if n++; n >= maxMessage && i < len(msg) {
			b.WriteString("...")
			break
		}
	}
	return b.String()
}

// checkSupported refuses what the command line accepts but vmxemu does not
// implement yet.
func checkSupported(cfg *cli.Config) error {
	if cfg.Subcommand != "" && cfg.Subcommand != "vmxcap" && cfg.Subcommand != "demo" {
		return usagef("%s: unknown subcommand (vmxemu knows: vmxcap, demo; see vmxemu -h)", cfg.Subcommand)
	}
	if err := checkDemo(cfg); err != nil {
		return err
	}
	if err := checkGDB(cfg); err != nil {
		return err
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

// boot builds and runs the machine and returns the exit status. Every
// check of the command line and of the files it names comes before the
// guest runs and before any output file is changed.
func boot(ctx context.Context, cfg *cli.Config, args []string, stdout, stderr io.Writer, h hooks) (int, error) {
	start := time.Now()
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

	out := &outputs{}
	committed := false
	defer func() { out.close(committed) }()
	var serial []io.Writer
	for _, s := range cfg.Serial {
		w, err := out.writer(s, "-serial", stdout)
		if err != nil {
			return 0, err
		}
		serial = append(serial, w)
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
		Edu:            cfg.Edu,
	}
	if cfg.Q35 {
		mcfg.Chipset = machine.ChipsetQ35
	}
	if u := cfg.IntelIOMMU; u != nil {
		mcfg.IOMMU = &vtd.Config{IntRemap: u.IntRemap, EIM: u.EIM, AWBits: u.AWBits, NoPT: u.NoPT}
	}
	if cfg.DebugCon != nil {
		w, err := out.writer(*cfg.DebugCon, "-debugcon", stdout)
		if err != nil {
			return 0, err
		}
		if w == nil {
			w = io.Discard
		}
		mcfg.DebugCon = w
	}
	for _, d := range cfg.DebugExit {
		mcfg.DebugExits = append(mcfg.DebugExits, machine.DebugExitConfig{IOBase: d.IOBase, IOSize: int(d.IOSize)})
	}
	if cfg.Kernel == "" {
		demoMachine(cfg, prof, &mcfg, stderr)
		demoHeader(out.stream(stdout), mcfg.CPUs, prof.Model.Name)
	}
	// Lint warnings (vmx/lint.go) go to stderr, each once.
	seen := map[string]bool{}
	mcfg.Lint = func(id int, msg string) {
		if !seen[msg] {
			seen[msg] = true
			fmt.Fprintf(stderr, "vmxemu: warning: CPU %d: %s\n", id, msg)
		}
	}
	d, err := newDiag(cfg, &mcfg, out, stderr)
	if err != nil {
		return 0, err
	}
	var ln net.Listener
	if cfg.GDB != "" {
		if ln, err = net.Listen("tcp", cfg.GDB); err != nil {
			return 0, usagef("-gdb tcp:%s: %v", cfg.GDB, err)
		}
		defer ln.Close()
	}
	if h.machine != nil {
		h.machine(&mcfg)
	}

	// From here on a panic is a bug in vmxemu: the guard reports it.
	g := &panicGuard{args: args, stderr: stderr}
	return g.run(func() (int, error) {
		m, err := machine.New(mcfg)
		if err != nil {
			return 0, usagef("%v", err)
		}
		g.m = m
		if d.brk != nil {
			d.brk.m = m
		}
		if err := m.Load(loader); err != nil {
			return 0, loadError(cfg, err)
		}
		// The command line and its files are good: the run starts.
		if err := out.commit(); err != nil {
			return 0, err
		}
		committed = true
		for _, w := range m.Boot().Warnings {
			fmt.Fprintf(stderr, "vmxemu: warning: %s\n", w)
		}
		lim := machine.Limits{Instructions: cfg.ICountLimit, WallTime: cfg.TimeLimit}
		if ln != nil {
			code, err := runGDB(ctx, cfg, m, ln, lim, d.summary, d.brk, stderr)
			if err == nil && d.printSummary {
				d.summary.print(stderr)
			}
			return code, err
		}
		res, err := m.Run(ctx, lim)
		if err != nil {
			return 0, err
		}
		code := report(cfg, res, stderr)
		if res.Kind == machine.ResultBreak && d.brk != nil {
			fmt.Fprint(stderr, d.brk.walkOut) // -walk
		}
		if cfg.Stats {
			printStats(stderr, m.Icount(), time.Since(start))
		}
		if d.printSummary {
			d.summary.print(stderr)
		}
		if cfg.NoShutdown && stopsUnderNoShutdown(res) {
			fmt.Fprintf(stderr, "vmxemu: -no-shutdown: the CPUs are stopped; SIGINT or SIGTERM ends vmxemu with status %d\n", code)
			<-ctx.Done()
		}
		return code, nil
	})
}

// printStats is -stats: the instructions all CPUs retired, the wall time
// since vmxemu started on the command line (start-up, loading and the run)
// and their ratio, the whole-process figure docs/PERFORMANCE.md reports.
func printStats(w io.Writer, insns uint64, wall time.Duration) {
	mips := 0.0
	if s := wall.Seconds(); s > 0 {
		mips = float64(insns) / s / 1e6
	}
	fmt.Fprintf(w, "vmxemu: stats: %d instructions, %.3f s, %.1f MIPS\n", insns, wall.Seconds(), mips)
}

// stopsUnderNoShutdown reports whether -no-shutdown turns the end of a run
// into a stop, as QEMU's does: a power-off, or a triple fault that
// -no-reboot turned into one. A debug exit ends vmxemu as it ends QEMU.
func stopsUnderNoShutdown(res machine.Result) bool {
	return res.Kind == machine.ResultShutdown || res.Kind == machine.ResultTripleFault
}

// imageError is an error of the loader: the -kernel image is not what
// -boot-mode says it is.
type imageError struct{ err error }

func (e *imageError) Error() string { return e.err.Error() }
func (e *imageError) Unwrap() error { return e.err }

// loadError classifies a failure to load the guest: the image or the RAM
// size the user gave is wrong (status 2), or vmxemu is (status 8).
func loadError(cfg *cli.Config, err error) error {
	var ie *imageError
	switch {
	case errors.As(err, &ie) && cfg.Kernel != "":
		return usagef("-kernel %s: %v", cfg.Kernel, ie.err)
	case errors.Is(err, machine.ErrNotRAM):
		return usagef("-m %s: too little guest RAM for the firmware's MP and ACPI tables (%v)", formatSize(cfg.MemSize), err)
	}
	return err
}

// formatSize writes a RAM size in -m syntax.
func formatSize(n uint64) string {
	for _, u := range []struct {
		s string
		n uint64
	}{{"G", 1 << 30}, {"M", 1 << 20}, {"K", 1 << 10}} {
		if n >= u.n && n%u.n == 0 {
			return fmt.Sprintf("%d%s", n/u.n, u.s)
		}
	}
	return fmt.Sprintf("%dB", n)
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
	if len(image) == 0 {
		return nil, usagef("-kernel %s: empty file", cfg.Kernel)
	}
	l, err := kernelLoader(cfg, image)
	if err != nil {
		return nil, err
	}
	return func(mem firmware.Memory) (*firmware.Boot, error) {
		b, err := l(mem)
		if err != nil {
			return nil, &imageError{err: err}
		}
		return b, nil
	}, nil
}

// kernelLoader returns the loader of -boot-mode for the -kernel image.
func kernelLoader(cfg *cli.Config, image []byte) (machine.Loader, error) {
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
//	-break-on, -magic-break without gdb                     10
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
			dumpState(stderr, s, false) // shut down: no shadow
		}
		return cli.ExitTripleFault
	case machine.ResultLimit, machine.ResultHang:
		fmt.Fprintf(stderr, "vmxemu: %s\n", res.Reason)
		return cli.ExitLimit
	case machine.ResultCanceled:
		fmt.Fprintf(stderr, "vmxemu: terminating on signal after %d instructions\n", res.Icount)
		return cli.ExitLimit
	case machine.ResultBreak:
		fmt.Fprintf(stderr, "vmxemu: CPU %d stopped: %s\n", res.CPU, res.Reason)
		fmt.Fprintf(stderr, "vmxemu: no gdb attached (-s or -gdb to debug from here): exit status %d; the state of CPU %d:\n", cli.ExitBreak, res.CPU)
		dumpState(stderr, &res.State, false)
		return cli.ExitBreak
	}
	fmt.Fprintf(stderr, "vmxemu: run ended: %s\n", res.Reason)
	return cli.ExitError
}

// startCPUProfile starts a Go CPU profile of vmxemu itself into file
// (-cpuprofile) and returns what stops it and closes the file.
func startCPUProfile(file string) (func() error, error) {
	f, err := os.Create(file)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() error {
		pprof.StopCPUProfile()
		return f.Close()
	}, nil
}

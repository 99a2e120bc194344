package main

import (
	"io"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/vmx"
)

// diag joins the consumers of the CPUs' events — the -d logs (QEMU's
// formats and the event log), the fault summary and -break-on — into one
// set of cpu.Hooks. A hook is installed only when something consumes it,
// so a run without them pays nothing (cpu.Hooks are only looked at where
// the events happen, never in the fast paths).
type diag struct {
	qemu    *logger       // -d int, cpu_reset in QEMU's text formats; nil if not asked
	events  *eventLog     // -d vmx,msr,cr,io,apic,ept (and int in JSON)
	summary *faultSummary // nil for the built-in demo
	// printSummary: print the summary at the end of the run (-explain).
	printSummary bool
	brk          *breakOn // nil without -break-on/-magic-break
	trace        *tracer  // -d in_asm, exec, cpu; nil if not asked
	// extra is a hook installed before (the demo's report of VMX
	// failures), kept when nothing else consumes VMX outcomes.
	extra *cpu.Hooks
}

func (d *diag) hooks() *cpu.Hooks {
	h := &cpu.Hooks{}
	ev := d.events
	wantInt := d.qemu != nil && d.qemu.intItem || ev.wants("int")
	if wantInt || d.summary != nil || d.brk.active() {
		h.Exception = d.exception
	}
	if ev.wants("vmx") || ev.wants("ept") || d.summary != nil || d.brk.active() {
		h.VMX = d.vmx
		// The fault summary and -break-on look at failures only; the
		// event log and the demo's report see every outcome.
		h.VMXFailuresOnly = !ev.wants("vmx") && !ev.wants("ept") && d.extra == nil
		if ev.wants("vmx") || ev.wants("ept") || d.brk.active() {
			// The fault summary reads outcomes, not exits: without a
			// log or -break-on, exits call no hook (issue 18).
			h.VMExit = d.vmexit
		}
	} else if d.extra != nil {
		h.VMX = d.extra.VMX
	}
	if ev.wants("vmx") || ev.wants("int") || d.summary != nil {
		h.Shutdown = d.shutdown
	}
	if ev.wants("ept") {
		h.EPT = func(c *cpu.CPU, e cpu.EPTEvent) { ev.write(eptFeatureEvent(c, e)) }
	}
	if ev.wants("msr") {
		h.MSR = func(c *cpu.CPU, write bool, idx uint32, val uint64, f *arch.Fault) {
			ev.write(msrEvent(c, write, idx, val, f))
		}
	}
	if ev.wants("cr") {
		h.CR = func(c *cpu.CPU, cr int, old, val uint64, f *arch.Fault) { ev.write(crEvent(c, cr, old, val, f)) }
	}
	if ev.wants("io") {
		h.IO = func(c *cpu.CPU, port uint16, size int, val uint32, out bool) {
			ev.write(ioEvent(c, port, size, val, out))
		}
	}
	if d.brk != nil && d.brk.magic {
		h.Magic = d.brk.magicBreak
	}
	if t := d.trace; t != nil {
		if t.inAsm {
			h.Translate = t.translated
		}
		if t.exec || t.cpu {
			h.Exec = t.executing
		}
	}
	if h.Translate == nil && h.Exec == nil && h.Exception == nil && h.VMX == nil && h.VMExit == nil && h.Shutdown == nil && h.EPT == nil && h.MSR == nil && h.CR == nil && h.IO == nil && h.Magic == nil {
		return nil
	}
	return h
}

func (d *diag) exception(c *cpu.CPU, vec uint8, f *arch.Fault, external bool) {
	if d.events.wants("int") {
		if !external && f != nil {
			d.events.write(exceptionEvent(c, vec, f))
		}
	} else if d.qemu != nil && d.qemu.intItem {
		d.qemu.exception(c, vec, f, external)
	}
	if d.summary != nil {
		d.summary.exception(c, vec, f, external)
	}
	if d.brk != nil {
		d.brk.exception(c, vec, f, external)
	}
}

func (d *diag) vmx(c *cpu.CPU, o *vmx.Outcome) {
	if d.events.wants("vmx") {
		d.events.write(vmxEvent(c, *o))
	} else if d.extra != nil && d.extra.VMX != nil {
		d.extra.VMX(c, o)
	}
	if d.events.wants("ept") && (o.Insn == vmx.InsnINVEPT || o.Insn == vmx.InsnINVVPID) {
		d.events.write(invEvent(c, *o))
	}
	if d.summary != nil {
		d.summary.vmxOutcome(c, o)
	}
	if d.brk != nil {
		d.brk.vmxOutcome(c, o)
	}
}

func (d *diag) vmexit(c *cpu.CPU, reason uint32, _ vmx.ExitInfo) {
	if d.events.wants("vmx") {
		d.events.write(exitEvent(c))
	}
	if r := reason & 0xFFFF; d.events.wants("ept") && (r == vmx.ExitEPTViolate || r == vmx.ExitEPTMisconf || r == vmx.ExitPMLFull || r == vmx.ExitVMFUNC) {
		d.events.write(eptExitEvent(c, r))
	}
	if d.brk != nil {
		d.brk.exit(c, reason)
	}
}

func (d *diag) shutdown(c *cpu.CPU, f arch.Fault, why string) {
	e := shutdownEvent(c, f, why)
	if d.events.wants(e.Item) && (e.Item == "vmx" || d.events.format == formatJSON) {
		d.events.write(e)
	}
	if d.summary != nil {
		d.summary.shutdown(c, f, why)
	}
}

// newDiag sets up the logs, the fault summary and -break-on for cfg and
// installs their hooks in mcfg (keeping the demo's, which it installed
// before).
func newDiag(cfg *cli.Config, mcfg *machine.Config, out *outputs, stderr io.Writer) (*diag, error) {
	d := &diag{extra: mcfg.Hooks}
	// The built-in demo reports its failures itself (demo.go). Under
	// -no-explain faults are still recorded, for gdb's monitor explain,
	// but not printed.
	if cfg.Kernel != "" {
		d.summary = newFaultSummary(cfg.GDB != "")
		d.printSummary = cfg.Explain
	}
	brk, err := parseBreakOn(cfg.BreakOn, cfg.MagicBreak)
	if err != nil {
		return nil, err
	}
	if brk.active() {
		d.brk = brk
	}
	if cfg.Walk != "" {
		if !brk.active() {
			return nil, usagef("-walk %s: explains a walk where -break-on or -magic-break stops the run: give one of them", cfg.Walk)
		}
		spec, err := parseWalkSpec(strings.Split(cfg.Walk, ","))
		if err != nil {
			return nil, usagef("-walk %s: %v", cfg.Walk, err)
		}
		brk.walk = spec
	}
	if len(cfg.LogItems) > 0 {
		w := out.stream(stderr)
		if cfg.LogFile != "" {
			f, err := out.file("-D "+cfg.LogFile, cfg.LogFile)
			if err != nil {
				return nil, err
			}
			w = f
		}
		items := map[string]bool{}
		for _, it := range cfg.LogItems {
			items[it] = true
		}
		d.trace = newTracer(cfg, w, items) // not with -d-format json: cli.Parse refuses that
		if cfg.LogJSON {
			d.events = &eventLog{w: w, format: formatJSON, items: items}
		} else {
			d.qemu = &logger{w: w, explain: cfg.Explain, intItem: items["int"]}
			delete(items, "int")
			d.events = &eventLog{w: w, format: formatText, items: items}
		}
		if items["cpu_reset"] && cfg.LogJSON {
			ev := d.events
			mcfg.OnReset = func(id int, before *arch.State, why string) {
				e := &event{Item: "cpu_reset", Event: eventReset, CPU: id, RIP: hexU64(before.RIP), Why: why}
				ev.write(e)
			}
		} else if items["cpu_reset"] {
			if d.qemu == nil {
				d.qemu = &logger{w: w, explain: cfg.Explain}
			}
			mcfg.OnReset = d.qemu.reset
		}
	}
	mcfg.Hooks = d.hooks()
	if ev := d.events; ev.wants("apic") {
		mcfg.APICWrite = func(c *cpu.CPU, reg uint32, v uint64, x2apic bool) { ev.write(apicEvent(c, reg, v, x2apic)) }
	}
	return d, nil
}

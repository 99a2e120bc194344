package main

import (
	_ "embed"
	"fmt"
	"io"
	"strings"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// The built-in demo: without -kernel (or as `vmxemu demo [NAME|list]`),
// vmxemu runs the seed's VMX bring-up on the default machine — the guest
// kernel guests/vmxon (source in the repository, built reproducibly by
// `make -C guests`; TestDemoImage checks that the image embedded here is
// what its source builds to). On every CPU it detects VMX, checks
// IA32_FEATURE_CONTROL, reads the capability MSRs, fixes CR0/CR4, sets
// CR4.VMXE and executes VMXON on its own region, works on a VMCS
// (VMCLEAR/VMPTRLD/VMREAD/VMWRITE), builds an EPT identity map with one
// page left out and launches a small guest whose CPUID, EPT violation
// (the host maps the page, INVEPT) and VMCALL exit to the host (each exit
// printed with its reason and qualification), and VMXOFF; it prints the
// sysctl lines of the seed scenario (-append brief). -smp, -cpu and
// -feature-control change the machine and the output follows. A scenario
// (`vmxemu demo NAME`, or -append "scenario=NAME") breaks one step: the
// guest prints what the kernel sees, vmxemu prints on stderr the rule
// that fired (docs/TUTORIAL.md walks through them).

//go:embed demo/vmxon.elf
var demoKernel []byte

// demoCPUs is the demo machine's CPU count when -smp is not given.
const demoCPUs = 4

// demoExitPass and demoExitFail are what the demo guest writes to
// isa-debug-exit (port 0xf4): every outcome as the SDM says, or not.
const (
	demoExitPass = 0x10
	demoExitFail = 0x11
)

// demoHeader is printed before the guest runs.
func demoHeader(w io.Writer, cpus int, model string) {
	fmt.Fprintf(w, "vmxemu: built-in demo: the VMX bring-up of a kernel's VMM on %d CPU(s) of a %s (guests/vmxon; vmxemu demo list lists the broken variants, docs/TUTORIAL.md explains them)\n", cpus, model)
}

// checkDemo refuses what the demo subcommand cannot take.
func checkDemo(cfg *cli.Config) error {
	if cfg.Subcommand != "demo" {
		return nil
	}
	if cfg.Kernel != "" {
		return usagef("demo: -kernel makes no sense here (the demo runs its own kernel)")
	}
	if cfg.Demo != "" && strings.Contains(cfg.Append, "scenario=") {
		return usagef("demo %s: -append %q names a scenario too", cfg.Demo, cfg.Append)
	}
	return nil
}

// demoScenario is the scenario the demo runs: `vmxemu demo NAME` or the
// last "scenario=NAME" word of -append; "" for none.
func demoScenario(cfg *cli.Config) string {
	if cfg.Demo != "" {
		return cfg.Demo
	}
	name := ""
	for _, w := range strings.Fields(cfg.Append) {
		if n, ok := strings.CutPrefix(w, "scenario="); ok {
			name = n
		}
	}
	return name
}

// demoPolicies are the firmware IA32_FEATURE_CONTROL policies the fc-*
// scenarios need (the -feature-control flag, when it is not given).
var demoPolicies = map[string]msr.FeatureControlPolicy{
	"fc-unlocked": msr.FCPolicyUnlocked,
	"fc-disabled": msr.FCPolicyDisabled,
}

// demoMachine adjusts the machine for the demo: 4 CPUs unless -smp says
// otherwise, the firmware policy an fc-* scenario needs unless
// -feature-control says otherwise, the guest's isa-debug-exit port, and —
// for a scenario, unless -d logs them — the first VMX instruction of each
// kind of failure (instruction, outcome, error or vector) reported on
// stderr with its reason, so that a broken variant shows why it broke
// (-d vmx logs every one). The failures the guest provokes on every run
// by probing each field encoding (VM-instruction errors 12 and 13) are
// left out but in the scenarios about them.
func demoMachine(cfg *cli.Config, prof *msr.Profile, mcfg *machine.Config, stderr io.Writer) {
	sc := demoScenario(cfg)
	if p, ok := demoPolicies[sc]; ok && !cfg.FeatureControlSet {
		mcfg.FeatureControl = msr.FeatureControlValue(prof, p)
	}
	if mcfg.Hooks == nil && sc != "" && sc != "list" && sc != "help" {
		type kind struct {
			insn vmx.Insn
			kind vmx.Kind
			code uint32
		}
		seen := map[kind]bool{}
		probes := sc != "field-unsupported" && sc != "vmwrite-ro"
		mcfg.Hooks = &cpu.Hooks{VMX: func(c *cpu.CPU, o *vmx.Outcome) {
			k := kind{o.Insn, o.Kind, uint32(o.Err) | uint32(o.Fault.Vector)<<8}
			if o.Kind == vmx.Succeed || seen[k] {
				return
			}
			if probes && o.Kind == vmx.FailValid && (o.Err == 12 || o.Err == 13) {
				return
			}
			seen[k] = true
			fmt.Fprintf(stderr, "vmxemu: CPU %d: %s\n", c.ID, o)
		}}
	}
	if !cfg.SMPSet {
		mcfg.CPUs = demoCPUs
	}
	for _, d := range mcfg.DebugExits {
		if d.IOBase == 0xf4 {
			return
		}
	}
	mcfg.DebugExits = append(mcfg.DebugExits, machine.DebugExitConfig{IOBase: 0xf4, IOSize: 4})
}

// demoLoader loads the demo guest with the command line "brief", the
// scenario of `vmxemu demo NAME` ("list" asks for the listing) and the
// user's -append.
func demoLoader(cfg *cli.Config) machine.Loader {
	args := "brief"
	switch cfg.Demo {
	case "":
	case "list", "help":
		args += " help"
	default:
		args += " scenario=" + cfg.Demo
	}
	if cfg.Append != "" {
		args += " " + cfg.Append
	}
	cmdline := firmware.MultibootCmdline("vmxon", args)
	return func(mem firmware.Memory) (*firmware.Boot, error) {
		return firmware.LoadMultiboot(mem, demoKernel, cmdline, nil)
	}
}

// demoStatus turns the demo guest's verdict into vmxemu's exit status: 0
// when every outcome was the SDM's (a scenario's fault included: it is
// the outcome the SDM gives), 1 otherwise.
func demoStatus(res machine.Result, stderr io.Writer) (int, bool) {
	if res.Kind != machine.ResultDebugExit {
		return 0, false
	}
	switch res.Code {
	case demoExitPass<<1 | 1:
		return cli.ExitOK, true
	case demoExitFail<<1 | 1:
		fmt.Fprintf(stderr, "vmxemu: the demo guest reported an outcome the SDM does not give, or an unknown scenario (see its output)\n")
		return 1, true
	}
	return 0, false
}

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
	"github.com/vmxemu/vmxemu/vmx"
)

// The built-in demo: without -kernel, vmxemu runs the seed's VMX bring-up
// on the default machine — the guest kernel guests/vmxon (source in the
// repository, built reproducibly by `make -C guests`; TestDemoImage checks
// that the image embedded here is what its source builds to). On every
// CPU it detects VMX, checks IA32_FEATURE_CONTROL, reads the capability
// MSRs, fixes CR0/CR4, sets CR4.VMXE and executes VMXON on its own region,
// then VMCLEAR/VMPTRLD/VMREAD/VMWRITE on its own VMCS and VMXOFF, and
// prints the sysctl lines of the seed scenario (-append brief). -smp, -cpu
// and -feature-control change the machine and the output follows;
// -append "scenario=NAME" breaks one step (an unknown name lists them).

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
	fmt.Fprintf(w, "vmxemu: built-in demo: the VMX bring-up of a kernel's VMM on %d CPU(s) of a %s (guests/vmxon; -append scenario=list lists the broken variants, -h the flags)\n", cpus, model)
}

// demoMachine adjusts the machine for the demo: 4 CPUs unless -smp says
// otherwise, the guest's isa-debug-exit port, and — for a scenario, unless
// -d logs them — the first VMX instruction of each kind of failure
// (instruction, outcome, error or vector) reported on stderr with its
// reason, so that a broken variant shows why it broke (-d vmx logs every
// one; the guest's own probing of every field encoding fails too).
func demoMachine(cfg *cli.Config, mcfg *machine.Config, stderr io.Writer) {
	if mcfg.Hooks == nil && strings.Contains(cfg.Append, "scenario=") {
		type kind struct {
			insn vmx.Insn
			kind vmx.Kind
			code uint32
		}
		seen := map[kind]bool{}
		mcfg.Hooks = &cpu.Hooks{VMX: func(c *cpu.CPU, o vmx.Outcome) {
			k := kind{o.Insn, o.Kind, uint32(o.Err) | uint32(o.Fault.Vector)<<8}
			if o.Kind == vmx.Succeed || seen[k] {
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

// demoLoader loads the demo guest with the command line "brief" and the
// user's -append.
func demoLoader(cfg *cli.Config) machine.Loader {
	cmdline := firmware.MultibootCmdline("vmxon", "brief "+cfg.Append)
	return func(mem firmware.Memory) (*firmware.Boot, error) {
		return firmware.LoadMultiboot(mem, demoKernel, cmdline, nil)
	}
}

// demoStatus turns the demo guest's verdict into vmxemu's exit status: 0
// when every outcome was the SDM's, 1 otherwise.
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

package main

import (
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/msr"
)

// listCPUs is -cpu help.
func listCPUs(w io.Writer) error {
	ms, err := msr.Models()
	if err != nil {
		return err
	}
	tw := tabwriter.NewWriter(w, 0, 8, 2, ' ', 0)
	fmt.Fprintln(tw, "Available CPUs (models from real-hardware dumps; docs/CPU-MODELS.md):")
	for _, m := range ms {
		def := ""
		if m.Name == msr.DefaultModel {
			def = " (default)"
		}
		fmt.Fprintf(tw, "%s\t%s%s\n", m.Name, m.Description, def)
	}
	fmt.Fprintln(tw, "\nvmxemu reports only what it implements: 'vmxemu vmxcap -cpu MODEL' lists each model's known gaps.")
	fmt.Fprintln(tw, "VMX operation works on every model with VMX; VM entry is a known gap (docs/VMX.md).")
	fmt.Fprintln(tw, "-cpu-file FILE loads a model from a vmxemu model file or an AIDA64 CPUID dump.")
	return tw.Flush()
}

// resolveCPU turns -cpu and -cpu-file into the CPU model the guest sees.
// A bad model, model file or toggle is a usage error.
func resolveCPU(cfg *cli.Config, warn io.Writer) (*msr.Profile, error) {
	var m *msr.Model
	if cfg.CPUFile != "" {
		fm, err := msr.LoadFile(cfg.CPUFile)
		if err != nil {
			return nil, usagef("-cpu-file %s: %v", cfg.CPUFile, unwrapPathError(err))
		}
		if cfg.CPU.Model == "" || cfg.CPU.Model == fm.Name {
			m = fm
		}
	}
	if m == nil {
		name := cfg.CPU.Model
		if name == "" {
			name = msr.DefaultModel
		}
		bm, err := msr.Lookup(name)
		if err != nil {
			return nil, usagef("-cpu %s: %v", name, err)
		}
		m = bm
	}
	toggles := make([]msr.Toggle, len(cfg.CPU.Features))
	for i, f := range cfg.CPU.Features {
		toggles[i] = msr.Toggle{Name: f.Name, On: f.On}
	}
	p, err := msr.Resolve(m, toggles)
	if err != nil {
		return nil, usagef("%v", err)
	}
	for _, w := range p.Warnings {
		fmt.Fprintf(warn, "vmxemu: warning: -cpu %s\n", w)
	}
	return p, nil
}

// featureControl is the IA32_FEATURE_CONTROL value firmware leaves on the
// model under -feature-control; an exact value must be one the model's
// WRMSR would accept.
func featureControl(cfg *cli.Config, p *msr.Profile) (uint64, error) {
	switch cfg.FeatureControl.Mode {
	case cli.FCLocked:
		return msr.FeatureControlValue(p, msr.FCPolicyLocked), nil
	case cli.FCDisabled:
		return msr.FeatureControlValue(p, msr.FCPolicyDisabled), nil
	case cli.FCUnlocked:
		return msr.FeatureControlValue(p, msr.FCPolicyUnlocked), nil
	}
	v := cfg.FeatureControl.MSRValue()
	if err := msr.ValidateFeatureControl(p, v); err != nil {
		return 0, usagef("-feature-control %#x: %v", v, err)
	}
	return v, nil
}

// vmxcap is `vmxemu vmxcap [-cpu MODEL[,toggles]] [-cpu-file FILE]`.
func vmxcap(cfg *cli.Config, stdout, stderr io.Writer) (int, error) {
	if cfg.Kernel != "" {
		return 0, usagef("vmxcap: -kernel makes no sense here (vmxcap reports a CPU model and exits)")
	}
	p, err := resolveCPU(cfg, stderr)
	if err != nil {
		return 0, err
	}
	if err := msr.WriteVMXCap(stdout, p); err != nil {
		return 0, fmt.Errorf("vmxcap: %w", err)
	}
	return cli.ExitOK, nil
}

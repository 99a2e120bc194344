package main

import (
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

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
	newest, err := newestModel()
	if err != nil {
		return err
	}
	fmt.Fprintln(tw, "\nQEMU's model names accepted as aliases:")
	for _, a := range qemuCPUAliases {
		target := a.Model
		if target == qemuNewest {
			target = newest
		}
		fmt.Fprintf(tw, "%s\t= %s (%s)\n", a.QEMU, target, a.Why)
	}
	fmt.Fprintln(tw, "QEMU's AMD models (Opteron_G*, EPYC*, ...) are refused: vmxemu models Intel processors only.")
	fmt.Fprintln(tw, "\nvmxemu reports only what it implements: 'vmxemu vmxcap -cpu MODEL' lists each model's known gaps.")
	fmt.Fprintln(tw, "VMX works on every model with VMX (VMXON to VM entry, VM exits, EPT and VPID); the controls a model still masks are listed by vmxcap (docs/VMX.md).")
	fmt.Fprintln(tw, "-cpu-file FILE loads a model from a vmxemu model file or an AIDA64 CPUID dump.")
	return tw.Flush()
}

// qemuNewest marks an alias of the newest built-in model.
const qemuNewest = ""

// qemuCPUAlias is a QEMU x86 CPU model name (`qemu-system-x86_64 -cpu help`,
// target/i386/cpu.c) that vmxemu accepts as the name of one of its models.
type qemuCPUAlias struct {
	QEMU  string // QEMU's spelling (case-sensitive, as QEMU looks it up)
	Model string // the vmxemu model; qemuNewest for the newest built-in one
	Why   string
}

// qemuCPUAliases are QEMU's model names vmxemu understands. vmxemu models
// only real Intel processors, each as its dump reports it, with what
// vmxemu does not implement hidden (docs/CPU-MODELS.md), so:
//   - qemu64 and kvm64, QEMU's lowest-common-denominator 64-bit CPUs (qemu64
//     even says AuthenticAMD), become the default model: the oldest
//     shipped part, so the one with the fewest features beyond that
//     baseline and the fewest vmxemu has to hide;
//   - max ("all features the accelerator supports") and host (the host
//     CPU, under KVM) become the newest model: the most features, of
//     which the guest sees exactly those vmxemu implements;
//   - QEMU's named Intel generations become the model of that generation.
var qemuCPUAliases = []qemuCPUAlias{
	{"qemu64", msr.DefaultModel, "QEMU's baseline 64-bit CPU: the oldest model"},
	{"kvm64", msr.DefaultModel, "KVM's baseline 64-bit CPU: the oldest model"},
	{"max", qemuNewest, "all features vmxemu implements: the newest model"},
	{"host", qemuNewest, "the modelled processor is the host: the newest model"},
	{"SandyBridge", "sandybridge-ep", "same generation"},
	{"IvyBridge", "ivybridge", "same generation"},
	{"Haswell", "haswell-ep", "same generation"},
	{"Skylake-Server", "skylake-sp", "same generation"},
	{"Cascadelake-Server", "cascadelake-sp", "same generation"},
	{"Icelake-Server", "icelake-sp", "same generation"},
	{"SapphireRapids", "sapphirerapids", "same generation"},
}

// qemuAMDModels are prefixes of QEMU's AMD CPU models (and the AMD
// "vendor" of its generic ones), refused with the reason.
var qemuAMDModels = []string{"Opteron_G", "EPYC", "phenom", "athlon", "Dhyana"}

// newestModel is the built-in model with the highest CPUID signature.
func newestModel() (string, error) {
	ms, err := msr.Models()
	if err != nil {
		return "", err
	}
	if len(ms) == 0 {
		return "", fmt.Errorf("no built-in CPU models")
	}
	return ms[len(ms)-1].Name, nil // Models is sorted by signature, oldest first
}

// lookupModel is msr.Lookup with QEMU's names as aliases.
func lookupModel(name string) (*msr.Model, error) {
	for _, a := range qemuCPUAliases {
		if a.QEMU != name {
			continue
		}
		target := a.Model
		if target == qemuNewest {
			n, err := newestModel()
			if err != nil {
				return nil, err
			}
			target = n
		}
		return msr.Lookup(target)
	}
	for _, p := range qemuAMDModels {
		if strings.HasPrefix(name, p) {
			return nil, fmt.Errorf("%s is an AMD processor: vmxemu models Intel processors only (see -cpu help)", name)
		}
	}
	return msr.Lookup(name)
}

// isMaxAlias reports whether name asks for everything vmxemu can provide
// (QEMU's max and host), so that only explicit toggles count as requested.
func isMaxAlias(name string) bool { return name == "max" || name == "host" }

// modelVendor is the vendor string of CPUID leaf 0 (EBX, EDX, ECX).
func modelVendor(m *msr.Model) string {
	r, _ := m.Leaf(0, 0)
	b := make([]byte, 0, 12)
	for _, v := range []uint32{r.EBX, r.EDX, r.ECX} {
		b = append(b, byte(v), byte(v>>8), byte(v>>16), byte(v>>24))
	}
	return string(b)
}

// setPhysBits makes the model report MAXPHYADDR n in CPUID.80000008H:EAX[7:0]
// (SDM Vol. 2A, CPUID, leaf 80000008H: "Bits 07-00: #Physical Address Bits").
func setPhysBits(m *msr.Model, n uint) error {
	for i := range m.CPUID {
		if l := &m.CPUID[i]; l.Leaf == 0x80000008 {
			l.EAX = l.EAX&^0xFF | uint32(n)
			return nil
		}
	}
	return fmt.Errorf("the model %s has no CPUID leaf 0x80000008 to report phys-bits in", m.Name)
}

// applyCPUProps applies -cpu vendor=, phys-bits= and host-phys-bits to the
// model before the toggles.
func applyCPUProps(cfg cli.CPUConfig, m *msr.Model) error {
	if cfg.Vendor != "" {
		if v := modelVendor(m); cfg.Vendor != v {
			return usagef("-cpu %s,vendor=%s: the model %s is %s, and vmxemu cannot change a model's vendor (it models Intel processors only)",
				cfg.Model, cfg.Vendor, m.Name, v)
		}
	}
	if cfg.PhysBits == 0 {
		return nil
	}
	if cfg.HostPhysBits {
		own := uint(0)
		if r, ok := m.Leaf(0x80000008, 0); ok {
			own = uint(r.EAX & 0xFF)
		}
		if own != cfg.PhysBits {
			return usagef("-cpu %s: host-phys-bits asks for the model's own %d physical address bits, phys-bits=%d for others",
				cfg.Model, own, cfg.PhysBits)
		}
		return nil
	}
	if err := setPhysBits(m, cfg.PhysBits); err != nil {
		return usagef("-cpu %s,phys-bits=%d: %v", cfg.Model, cfg.PhysBits, err)
	}
	return nil
}

// unprovided lists the requested features the guest will not see, as
// QEMU's check and enforce mean them (target/i386/cpu.c
// x86_cpu_filter_features: the model's features and the +feature toggles
// that the accelerator cannot provide). For max and host, which ask for
// whatever the accelerator has, only the +feature toggles count.
func unprovided(cfg cli.CPUConfig, p *msr.Profile) []string {
	var out []string
	seen := map[string]bool{}
	if !isMaxAlias(cfg.Model) {
		for _, g := range p.Gaps() {
			if !seen[g.What] {
				seen[g.What] = true
				out = append(out, fmt.Sprintf("%s (%s)", g.What, g.Why))
			}
		}
	}
	on := map[string]bool{}
	for _, f := range cfg.Features {
		on[f.Name] = f.On
	}
	for _, f := range cfg.Features {
		if !f.On || !on[f.Name] || seen[f.Name] {
			continue
		}
		feat, known := msr.FeatureByName(f.Name)
		if !known || p.Reports(f.Name) {
			continue // VMX capabilities and vmxemu's own toggles
		}
		seen[f.Name] = true
		why := feat.Why
		if f.Name == "vmx" {
			why = "VMX operation is not implemented yet"
		}
		out = append(out, fmt.Sprintf("%s (%s)", f.Name, why))
	}
	return out
}

// resolveCPU turns -cpu and -cpu-file into the CPU model the guest sees.
// A bad model, model file or toggle is a usage error.
func resolveCPU(cfg *cli.Config, warn io.Writer) (*msr.Profile, error) {
	var m *msr.Model
	if cfg.CPUFile != "" {
		b, err := os.ReadFile(cfg.CPUFile)
		if err != nil {
			return nil, usagef("-cpu-file %s: %v", cfg.CPUFile, unwrapPathError(err))
		}
		if err := checkText(b); err != nil {
			return nil, usagef("-cpu-file %s: %v: expected a vmxemu CPU model file or an AIDA64 CPUID dump (docs/CPU-MODELS.md)", cfg.CPUFile, err)
		}
		fm, err := msr.LoadBytes(b, cfg.CPUFile)
		if err != nil {
			return nil, usagef("-cpu-file %s: %v", cfg.CPUFile, err)
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
		bm, err := lookupModel(name)
		if err != nil {
			return nil, usagef("-cpu %s: %v", name, err)
		}
		m = bm
	}
	if err := applyCPUProps(cfg.CPU, m); err != nil {
		return nil, err
	}
	toggles := make([]msr.Toggle, len(cfg.CPU.Features))
	for i, f := range cfg.CPU.Features {
		toggles[i] = msr.Toggle{Name: f.Name, On: f.On}
	}
	p, err := msr.Resolve(m, toggles)
	if err != nil {
		return nil, usagef("%v", err)
	}
	if cfg.CPU.Enforce || cfg.CPU.Check {
		if missing := unprovided(cfg.CPU, p); len(missing) > 0 {
			if cfg.CPU.Enforce {
				return nil, usagef("-cpu %s,enforce: vmxemu does not provide %d requested feature(s): %s",
					cfg.CPU.Model, len(missing), strings.Join(missing, "; "))
			}
			for _, f := range missing {
				fmt.Fprintf(warn, "vmxemu: warning: vmxemu doesn't support requested feature: %s\n", f)
			}
		}
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

// checkText reports why b is not a text file: invalid UTF-8, or a control
// character other than tab, CR and LF.
func checkText(b []byte) error {
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		switch {
		case r == utf8.RuneError && size <= 1:
			return fmt.Errorf("not a text file (byte %#02x at offset %d is not UTF-8)", b[i], i)
		case r < 0x20 && r != '\t' && r != '\n' && r != '\r', r == 0x7f:
			return fmt.Errorf("not a text file (control byte %#02x at offset %d)", b[i], i)
		}
		i += size
	}
	return nil
}

package machine

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/msr"
)

// DefaultCPUSignature is CPUID.01H:EAX of the default CPU model
// (msr.DefaultModel, a Sandy Bridge EP: family 6, model 0x2D, stepping 5).
// It is used for the reset state when Config.Platform is a custom one.
const DefaultCPUSignature = 0x000206D5

// Platform is the board's cpu.Platform: a CPU model as the guest sees it
// (an msr.Profile) and one MSR file per logical processor, which also
// answers CPUID (APIC IDs and topology leaves follow the board's
// topology). The core holds the MSRs it needs on every instruction
// (cpu/cr.go); everything else reaches the msr package here.
type Platform struct {
	profile *msr.Profile
	files   []*msr.File
}

// DefaultProfile is msr.DefaultModel without toggles.
func DefaultProfile() (*msr.Profile, error) {
	m, err := msr.Lookup(msr.DefaultModel)
	if err != nil {
		return nil, err
	}
	return msr.Resolve(m, nil)
}

// NewPlatform returns the platform for ncpu logical processors of profile
// p laid out as t, with IA32_FEATURE_CONTROL as firmware left it.
func NewPlatform(p *msr.Profile, t msr.Topology, ncpu int, featureControl uint64) *Platform {
	pl := &Platform{profile: p, files: make([]*msr.File, ncpu)}
	for i := range ncpu {
		pl.files[i] = p.NewFile(t, i, featureControl)
	}
	return pl
}

// Profile returns the CPU model.
func (p *Platform) Profile() *msr.Profile { return p.profile }

// File returns logical processor i's MSR file.
func (p *Platform) File(i int) *msr.File { return p.files[i] }

// Reset puts every CPU's MSR file back to its power-on values, with
// IA32_FEATURE_CONTROL at featureControl (what firmware leaves at every
// boot).
func (p *Platform) Reset(featureControl uint64) {
	for _, f := range p.files {
		f.Reset(featureControl)
	}
}

func (p *Platform) file(c *cpu.CPU) *msr.File {
	if c.ID >= 0 && c.ID < len(p.files) {
		return p.files[c.ID]
	}
	return p.files[0]
}

// CPUID implements cpu.Platform.
func (p *Platform) CPUID(c *cpu.CPU, leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) {
	r := p.file(c).CPUID(leaf, subleaf)
	return r.EAX, r.EBX, r.ECX, r.EDX
}

// ReadMSR implements cpu.Platform.
func (p *Platform) ReadMSR(c *cpu.CPU, index uint32) (uint64, *arch.Fault) {
	return p.file(c).Read(index, &c.State)
}

// WriteMSR implements cpu.Platform.
func (p *Platform) WriteMSR(c *cpu.CPU, index uint32, v uint64) *arch.Fault {
	return p.file(c).Write(index, v, &c.State)
}

// newDefaultPlatform builds the platform for a Config without one.
func newDefaultPlatform(cfg *Config) (*Platform, error) {
	prof := cfg.CPUModel
	if prof == nil {
		var err error
		if prof, err = DefaultProfile(); err != nil {
			return nil, fmt.Errorf("machine: %w", err)
		}
	}
	t := cfg.Topology
	if t == (msr.Topology{}) {
		t = msr.Flat(cfg.CPUs)
	}
	if err := t.Validate(); err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	return NewPlatform(prof, t, cfg.CPUs, cfg.FeatureControl), nil
}

// apicBaseBSP is IA32_APIC_BASE.BSP (bit 8), clear on the APs.
const apicBaseBSP = 1 << 8

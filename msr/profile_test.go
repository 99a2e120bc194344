package msr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

func resolve(t *testing.T, name string, toggles ...string) *Profile {
	t.Helper()
	p, err := resolveE(name, toggles...)
	require.NoError(t, err)
	return p
}

func resolveE(name string, toggles ...string) (*Profile, error) {
	m, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	var ts []Toggle
	for _, s := range toggles {
		ts = append(ts, Toggle{Name: s[1:], On: s[0] == '+'})
	}
	return Resolve(m, ts)
}

func TestToggles(t *testing.T) {
	for _, tc := range []struct {
		model   string
		toggles []string
		check   func(t *testing.T, p *Profile)
	}{
		{"sandybridge-ep", []string{"-vmx"}, func(t *testing.T, p *Profile) {
			assert.False(t, p.ModelHas("vmx"))
			_, ok := p.ModelVMX(VMXBasic)
			assert.False(t, ok, "no VMX MSRs without VMX")
			f := p.NewFile(Flat(1), 0, 1)
			_, fl := f.Read(VMXBasic, &arch.State{})
			require.NotNil(t, fl)
			assert.Contains(t, fl.Rule, "the model has no VMX")
			assert.Equal(t, uint64(FCLock), FeatureControlValue(p, FCPolicyLocked), "a BIOS cannot enable VMX the CPU lacks")
		}},
		{"sandybridge-ep", []string{"-ept"}, func(t *testing.T, p *Profile) {
			v, _ := p.ModelVMX(VMXProcbasedCtls2)
			assert.Zero(t, v>>33&1, "EPT allowed-1 cleared")
			assert.Zero(t, v>>39&1, "unrestricted guest goes with EPT")
			assert.NotZero(t, v>>37&1, "VPID stays")
			c, ok := p.ModelVMX(VMXEPTVPIDCap)
			require.True(t, ok, "EPT_VPID_CAP still exists for VPID")
			assert.Equal(t, uint64(0x00000F0100000000), c, "only the INVVPID bits remain")
		}},
		{"sandybridge-ep", []string{"-ept", "-vpid"}, func(t *testing.T, p *Profile) {
			_, ok := p.ModelVMX(VMXEPTVPIDCap)
			assert.False(t, ok, "no EPT_VPID_CAP without EPT and VPID")
		}},
		{"haswell-ep", []string{"-vmfunc"}, func(t *testing.T, p *Profile) {
			_, ok := p.ModelVMX(VMXVMFunc)
			assert.False(t, ok)
		}},
		{"haswell-ep", []string{"-vmx-ept"}, func(t *testing.T, p *Profile) {
			_, ok := p.ModelVMX(VMXVMFunc)
			assert.False(t, ok, "QEMU's spelling; EPTP switching needs EPT")
		}},
		{"skylake-sp", []string{"-preemption-timer"}, func(t *testing.T, p *Profile) {
			for _, idx := range []uint32{VMXPinbasedCtls, VMXTruePinbasedCtls} {
				v, _ := p.ModelVMX(idx)
				assert.Zero(t, v>>38&1, Name(idx))
			}
			v, _ := p.ModelVMX(VMXTrueExitCtls)
			assert.Zero(t, v>>54&1, "save preemption timer goes too")
		}},
		{"sandybridge-ep", []string{"+smep"}, func(t *testing.T, p *Profile) {
			assert.True(t, p.Reports("smep"), "an implemented feature can be added")
			v, _ := p.ModelVMX(VMXCR4Fixed1)
			assert.NotZero(t, v&arch.CR4SMEP, "CR4_FIXED1 follows CPUID")
		}},
		{"sandybridge-ep", []string{"-pcid"}, func(t *testing.T, p *Profile) {
			v, _ := p.ModelVMX(VMXCR4Fixed1)
			assert.Equal(t, uint64(0x467FF), v, "PCIDE leaves CR4_FIXED1")
		}},
		{"sandybridge-ep", nil, func(t *testing.T, p *Profile) {
			assert.True(t, p.VMXExposed())
			assert.True(t, p.Reports("vmx"))
			assert.Contains(t, gapNames(p), "vmx-controls")
		}},
		{"sandybridge-ep", []string{"+x-vmx-caps"}, func(t *testing.T, p *Profile) {
			assert.True(t, p.Reports("vmx"))
			require.Len(t, p.Warnings, 1)
			assert.Contains(t, p.Warnings[0], "no longer needed")
		}},
		{"sandybridge-ep", []string{"-vmx"}, func(t *testing.T, p *Profile) {
			assert.False(t, p.Reports("vmx"))
			assert.False(t, p.VMXExposed())
		}},
		{"sandybridge-ep", []string{"+avx"}, func(t *testing.T, p *Profile) {
			assert.False(t, p.Reports("avx"))
			require.Len(t, p.Warnings, 1)
			assert.Contains(t, p.Warnings[0], "does not report")
		}},
		{"sandybridge-ep", []string{"-nx"}, func(t *testing.T, p *Profile) {
			assert.False(t, p.Reports("nx"))
		}},
	} {
		t.Run(tc.model+" "+joinToggles(tc.toggles), func(t *testing.T) { tc.check(t, resolve(t, tc.model, tc.toggles...)) })
	}
}

func joinToggles(ts []string) string {
	s := ""
	for _, t := range ts {
		s += t
	}
	return s
}

func gapNames(p *Profile) []string {
	var out []string
	for _, g := range p.Gaps() {
		out = append(out, g.What)
	}
	return out
}

func TestToggleErrors(t *testing.T) {
	for _, tc := range []struct {
		model   string
		toggles []string
		want    string
	}{
		{"sandybridge-ep", []string{"+avx512f"}, "vmxemu does not implement avx512f"},
		{"sandybridge-ep", []string{"+frobnicate"}, `unknown CPU feature "frobnicate"`},
		{"sandybridge-ep", []string{"+vmfunc"}, "the model has no vmfunc"},
		{"sandybridge-ep", []string{"-ept", "+ept"}, "cannot be restored"},
		{"sandybridge-ep", []string{"+cet-ss"}, "vmxemu does not implement cet-ss"},
		// QEMU's vmx-* names: + only for what vmxemu implements; the
		// model's dump has "load IA32_PERF_GLOBAL_CTRL" (VM-exit control
		// 12), a known gap (no PMU).
		{"skylake-sp", []string{"+vmx-exit-load-perf-global-ctrl"}, "IA32_VMX_EXIT_CTLS bit 44 is a known gap"},
		{"sapphirerapids", []string{"+vmx-ept-advanced-exitinfo", "+vmx-activity-shutdown"}, "known gap"},
		{"haswell-ep", []string{"+vmx-mbec"}, "the model has no vmx-mbec"},
	} {
		_, err := resolveE(tc.model, tc.toggles...)
		require.Error(t, err, "%v", tc.toggles)
		assert.Contains(t, err.Error(), tc.want)
		assert.Contains(t, err.Error(), "-cpu "+tc.model+",")
	}
}

// TestQEMUVMXNamesKnownGaps: -vmx-FOO clears the capability (always allowed: the
// ept and ept-mbec entries of kvm-unit-tests' unittests.cfg run with
// -vmx-mbec / +vmx-mbec); +vmx-FOO of an implemented capability the model
// has is accepted and leaves it as the guest sees it.
func TestQEMUVMXNamesKnownGaps(t *testing.T) {
	p, err := resolveE("sapphirerapids", "-vmx-mbec", "-vmx-pml")
	require.NoError(t, err)
	g, _ := p.GuestVMX(VMXProcbasedCtls2)
	assert.Zero(t, g>>(32+22)&1, "mode-based execute control")
	p, err = resolveE("skylake-sp", "+vmx-unrestricted-guest", "+vmx-ept", "+unrestricted-guest", "+vmx-exit-load-efer", "+vmx-entry-load-efer", "+vmx-pml", "+pml", "+vmfunc", "+vmx-eptp-switching", "+vmx-mbec",
		"+vmx-ple", "+vmx-xsaves", "+vmx-tsc-scaling")
	require.NoError(t, err)
	g, _ = p.GuestVMX(VMXProcbasedCtls2)
	assert.Equal(t, uint64(1), g>>(32+7)&1, "unrestricted guest stays")
	// VM functions, PML, MBEC, PAUSE-loop exiting, enable XSAVES/XRSTORS,
	// use TSC scaling (SDM Vol. 3C Table 25-7).
	for _, b := range []uint{13, 17, 22, 10, 20, 25} {
		assert.Equal(t, uint64(1), g>>(32+b)&1, "secondary control %d stays", b)
	}
	e, _ := p.GuestVMX(VMXEntryCtls)
	assert.Equal(t, uint64(1), e>>(32+15)&1, "load IA32_EFER stays")
}

// Honest models: every bit a guest sees in a feature leaf is an
// implemented feature, zeroed leaves are zero, and the linear-address
// width is 57 exactly when the model reports LA57.
func TestEffectiveIsHonest(t *testing.T) {
	ms, err := Models()
	require.NoError(t, err)
	for _, m := range ms {
		p, err := Resolve(m, nil)
		require.NoError(t, err)
		for k, r := range p.effective {
			rule, ok := leafRules[k[0]]
			switch {
			case !ok || rule.policy == leafZero:
				assert.Equal(t, Regs{}, r, "%s leaf %#x.%d", m.Name, k[0], k[1])
			case rule.policy == leafFilter:
				for _, reg := range []Reg{EAX, EBX, ECX, EDX} {
					if contains(valueRegs[k], reg) {
						continue
					}
					v := r.get(reg)
					for b := uint(0); b < 32; b++ {
						if v>>b&1 != 0 {
							f, known := featureAt(k[0], k[1], reg, b)
							assert.True(t, known && f.Implemented, "%s CPUID.(%#x,%d):%s[%d]", m.Name, k[0], k[1], reg, b)
						}
					}
				}
			}
		}
		width := uint32(48)
		if p.CPUID(7, 0).ECX&(1<<16) != 0 {
			width = 57
		}
		assert.Equal(t, width, p.CPUID(0x80000008, 0).EAX>>8&0xFF, m.Name)
	}
}

func contains(rs []Reg, r Reg) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// TestQEMUVMXNames: QEMU's names for VMX capability bits act on the
// capability MSRs as a processor without the capability reports them
// (SDM Vol. 3D A.3: allowed-1 bits in 63:32; A.6 MISC; A.10 EPT_VPID_CAP).
// Values from the Sandy Bridge EP dump: PROCBASED_CTLS 0xFFF9FFFE0401E172
// (HLT exiting, bit 7, allowed-1; CR3-load exiting, bit 15, default-1),
// TRUE_PROCBASED_CTLS 0xFFF9FFFE04006172 (bit 15 may be 0), MISC 0x100401E5.
func TestQEMUVMXNames(t *testing.T) {
	p := resolve(t, "sandybridge-ep", "-vmx-hlt-exit", "-vmx-activity-hlt", "-vmx-cr3-load-noexit")
	v, _ := p.ModelVMX(VMXProcbasedCtls)
	assert.Zero(t, v>>(32+7)&1, "-vmx-hlt-exit clears the allowed-1 bit of HLT exiting")
	tv, _ := p.ModelVMX(VMXTrueProcbasedCtls)
	assert.Zero(t, tv>>(32+7)&1, "and in the TRUE MSR")
	assert.NotZero(t, tv>>15&1, "-vmx-cr3-load-noexit: CR3-load exiting may no longer be 0")
	misc, _ := p.ModelVMX(VMXMisc)
	assert.Zero(t, misc>>6&1, "-vmx-activity-hlt clears MISC bit 6")

	for _, tc := range []struct {
		toggles []string
		err     string
	}{
		{[]string{"-vmx-intr-exit"}, "fixed to 1"}, // pin-based bit 0 is allowed either way: not fixed
		{[]string{"-vmx-hlt-exit", "+vmx-hlt-exit"}, "cannot be restored"},
		{[]string{"+vmx-eptp-switching"}, "does not invent"}, // Sandy Bridge has no VM functions
	} {
		m, err := Lookup("sandybridge-ep")
		require.NoError(t, err)
		var tg []Toggle
		for _, s := range tc.toggles {
			tg = append(tg, Toggle{Name: s[1:], On: s[0] == '+'})
		}
		_, err = Resolve(m, tg)
		if tc.err == "fixed to 1" {
			assert.NoError(t, err, "%v", tc.toggles)
			continue
		}
		require.Error(t, err, "%v", tc.toggles)
		assert.Contains(t, err.Error(), tc.err)
	}
}

// TestXSAVESubLeaf1: CPUID.(EAX=0DH,ECX=1) as the guest reads it keeps the
// dump's XSAVEC (EAX bit 1) and XSAVES (bit 3) and drops XSAVEOPT (bit 0)
// and XGETBV with ECX = 1 (bit 2); EBX (with XSAVES) is the compacted size
// for XCR0 | IA32_XSS at reset, 576; ECX and EDX (the IA32_XSS bits) are 0:
// no supervisor component is implemented (Skylake SP's dump:
// 0000000F 00000A80 00000100 00000000; Haswell EP's 00000001: XSAVEOPT
// only; Sandy Bridge EP's dump has no sub-leaf 1) (SDM Vol. 2A CPUID
// leaf 0DH).
func TestXSAVESubLeaf1(t *testing.T) {
	for _, tc := range []struct {
		model string
		want  Regs
		gap   bool
	}{
		{"skylake-sp", Regs{EAX: 0xA, EBX: 576}, true},
		{"sapphirerapids", Regs{EAX: 0xA, EBX: 576}, true},
		{"haswell-ep", Regs{}, true},
		{"sandybridge-ep", Regs{}, false},
	} {
		t.Run(tc.model, func(t *testing.T) {
			p := resolve(t, tc.model)
			assert.Equal(t, tc.want, p.CPUID(0xD, 1))
			if tc.gap {
				assert.Contains(t, gapNames(p), "CPUID.(0xd,1)")
			} else {
				assert.NotContains(t, gapNames(p), "CPUID.(0xd,1)")
			}
		})
	}
}

package msr

import (
	"bytes"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func report(t *testing.T, name string, toggles ...string) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteVMXCap(&b, resolve(t, name, toggles...)))
	return b.String()
}

func TestVMXCapReport(t *testing.T) {
	r := report(t, "sandybridge-ep")
	for _, want := range []string{
		`(?m)^  Revision +16$`,
		`(?m)^  VMCS size +1024$`,
		`(?m)^  VMCS restricted to 32 bit addresses +no$`,
		`(?m)^  Enable EPT +yes +ok$`,
		`(?m)^  Enable VPID +yes +ok$`,
		`(?m)^  Unrestricted guest +yes +ok$`,
		`(?m)^  Activate secondary control +yes +ok$`,
		`(?m)^  INVEPT supported +yes +ok$`,
		`(?m)^  Single-context-retaining-globals INVVPID +yes +ok$`,
		`(?m)^  CR3-load exiting +default +ok$`, // forced by PROCBASED_CTLS, optional by TRUE_PROCBASED_CTLS; honoured
		`(?m)^  HLT exiting +yes +ok$`,
		`(?m)^  Interrupt window exiting +yes +ok$`,
		`(?m)^  Use TPR shadow +yes +ok$`,
		`(?m)^  CR8-load exiting +yes +ok$`,
		`(?m)^  CR8-store exiting +yes +ok$`,
		`(?m)^  MWAIT exiting +yes +ok$`,
		`(?m)^  MONITOR exiting +yes +ok$`,
		`(?m)^  HLT activity state +yes +ok$`,
		`(?m)^  Shutdown activity state +yes +ok$`,
		`(?m)^  Wait-for-SIPI activity state +yes +ok$`,
		`(?m)^  Enable VM functions +no$`,
		`(?m)^  \(IA32_VMX_VMFUNC does not exist on this model\)$`,
		`(?m)^  IA32_VMX_CR4_FIXED1 +0x667ff  may be 1: .*SMXE PCIDE OSXSAVE`,
		`guest sees CPUID.1:ECX.VMX=1`,
		`(?m)^  vmx-controls +VM entry`,
		// The guest's copy of PROCBASED_CTLS2: the dump's 0x4FF allowed-1
		// bits with enable EPT, descriptor-table exiting, enable RDTSCP,
		// enable VPID, WBINVD exiting and unrestricted guest (SDM Vol. 3C
		// Table 25-7 bits 1, 2, 3, 5, 6, 7).
		// Every secondary control of the dump is honoured: no "guest reads" line.
		`(?m)^secondary processor-based controls\n  Hex: 0x4ff00000000\n  Virtualize APIC accesses `,
		`(?m)^  Descriptor-table exiting +yes +ok$`,
		`(?m)^  VMWRITE to VM-exit information fields +no$`,
	} {
		assert.Regexp(t, regexp.MustCompile(want), r)
	}

	r = report(t, "skylake-sp")
	assert.Regexp(t, `(?m)^  VMCS shadowing +yes +ok$`, r)
	assert.Regexp(t, `(?m)^  VMWRITE to VM-exit information fields +yes +ok$`, r)

	r = report(t, "icelake-sp")
	assert.Regexp(t, `(?m)^  Revision +19$`, r)
	assert.Regexp(t, `(?m)^  VMCS size +1280$`, r)
	assert.Regexp(t, `(?m)^  Page-walk length 5 +yes +ok$`, r)
	assert.Regexp(t, `(?m)^  Advanced VM-exit information for EPT violations +yes +ok$`, r)
	// EPTP switching (IA32_VMX_VMFUNC bit 0) and the controls of the
	// optional EPT features (SDM Vol. 3C Table 25-7 bits 13, 17, 18, 22)
	// are honoured.
	assert.Regexp(t, `(?m)^  EPTP Switching +yes +ok$`, r)
	for _, c := range []string{"Enable VM functions", "Enable PML", "EPT-violation #VE", `Mode-based execute control \(XS/XU\)`} {
		assert.Regexp(t, `(?m)^  `+c+` +yes +ok$`, r)
	}
	assert.Regexp(t, `(?m)^  Sub-page write permissions +yes +gap$`, r) // still masked
	assert.Contains(t, r, "assumed, not in the source dump")

	r = report(t, "sapphirerapids", "-ept")
	assert.Regexp(t, `(?m)^  Enable EPT +no$`, r)
	assert.Regexp(t, `(?m)^  Enable IPI virtualization +yes +gap$`, r)
	assert.Regexp(t, `(?m)^  Execute-only EPT translations +no$`, r)

	r = report(t, "sandybridge-ep", "-vmx")
	assert.Contains(t, r, "The model has no VMX")

	r = report(t, "sandybridge-ep")
	assert.Regexp(t, `guest IA32_VMX_CR4_FIXED1 +0x627ff`, r)
	r = report(t, "haswell-ep")
	assert.Regexp(t, `(?m)^  VMWRITE to VM-exit information fields +yes +ok$`, r)
}

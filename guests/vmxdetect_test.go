package guests

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
)

// vmxdetect runs under vmxemu only (see SideBySide): it performs the
// seed's VMX detection steps against vmxemu's CPU models and firmware
// policies. The expected IA32_VMX_BASIC fields come from the reference
// data (../shared/reference/cpus), not from this file.

func runVMXDetect(t *testing.T, extra ...string) runResult {
	t.Helper()
	img := guestImage(t, "vmxdetect")
	args := append(emuFlags(img), "-d", "int")
	res, err := runEmulator(vmxemuPath(t), append(args, extra...))
	require.NoError(t, err)
	require.Equalf(t, ExitPass, res.status, "vmxdetect %v: exit status\nstdout:\n%s\nstderr:\n%s", extra, res.stdout, res.stderr)
	return res
}

func lines(out string) []string {
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(out, "\r\n", "\n"), "\n"), "\n")
}

// The default machine: the Sandy Bridge EP model reports VMX with its
// dump's IA32_VMX_BASIC (revision 16, 1024-byte regions, bit 48 clear:
// the seed's values, ../shared/reference/cpus), the fixed-bit MSRs of the
// dump (CR4_FIXED1 with the CR4 bits of the features the guest sees),
// FEATURE_CONTROL as firmware left it, refusing writes once locked with
// the reason on the -d int log.
func TestVMXDetectDefault(t *testing.T) {
	res := runVMXDetect(t)
	assert.Equal(t, []string{
		"vmxemu vmxdetect guest",
		"cpuid: vendor GenuineIntel, signature 0x206d5, vmx 1",
		"feature_control: 0x5 lock=1 vmxon_in_smx=0 vmxon_outside_smx=1",
		"vmx_basic: 0x00d8040000000010", // the dump's 0x00DA040000000010 without bit 49 (dual-monitor treatment, not modelled)
		"revision: 16, region_size: 1024, width_addr: 0",
		"fixed: cr0_fixed0 0x80000021 cr0_fixed1 0xffffffff cr4_fixed0 0x2000 cr4_fixed1 0x627ff",
		"cr4.vmxe: set",
		"feature_control write (locked): #GP(0)",
		"exiting with 0x10",
	}, lines(res.stdout))
	assert.Contains(t, res.stderr, "WRMSR to IA32_FEATURE_CONTROL while its lock bit (bit 0) is set")
}

// Without VMX (-cpu MODEL,-vmx) the capability MSRs and CR4.VMXE fault,
// each with its reason.
func TestVMXDetectWithoutVMX(t *testing.T) {
	res := runVMXDetect(t, "-cpu", "sandybridge-ep,-vmx")
	out := lines(res.stdout)
	assert.Contains(t, out, "cpuid: vendor GenuineIntel, signature 0x206d5, vmx 0")
	assert.Contains(t, out, "vmx_basic: #GP(0)")
	assert.Contains(t, out, "cr4.vmxe: #GP(0)")
	assert.Contains(t, res.stderr, "RDMSR 0x480 (IA32_VMX_BASIC): the VMX capability MSRs exist only when CPUID.1:ECX.VMX = 1")
	assert.Contains(t, res.stderr, "CR4.VMXE=1 but CPUID.1:ECX.VMX[bit 5]=0")
}

// refBasic reads IA32_VMX_BASIC from a model's per-CPU reference file.
func refBasic(t *testing.T, m *msr.Model) uint64 {
	t.Helper()
	re := regexp.MustCompile(`\.\./shared/reference/cpus/(\S+)`)
	for _, s := range m.Sources {
		if !strings.HasPrefix(s, "vmx ") {
			continue
		}
		// The repository's copy (testdata/README.md).
		p := filepath.Join("..", "testdata", "reference", "cpus", re.FindStringSubmatch(s)[1])
		b, err := os.ReadFile(p)
		require.NoError(t, err, "reference data (part of the repository: testdata/README.md)")
		sm := regexp.MustCompile(`(?m)^MSR 0x480 IA32_VMX_BASIC\s+= 0x(\w+)`).FindSubmatch(b)
		require.NotNil(t, sm, "%s: no IA32_VMX_BASIC line", p)
		v, err := strconv.ParseUint(string(sm[1]), 16, 64)
		require.NoError(t, err)
		return v
	}
	t.Fatalf("%s names no vmx source", m.Name)
	return 0
}

// The detection code reads every model's real values:
// "revision: 16, region_size: 1024, width_addr: 0" on sandybridge-ep.
func TestVMXDetectModels(t *testing.T) {
	ms, err := msr.Models()
	require.NoError(t, err)
	for _, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			t.Parallel()
			basic := refBasic(t, m)
			res := runVMXDetect(t, "-cpu", m.Name)
			out := lines(res.stdout)
			assert.Contains(t, out, fmt.Sprintf("cpuid: vendor GenuineIntel, signature 0x%x, vmx 1", m.Signature()))
			// The guest reads IA32_VMX_BASIC without bit 49 (vmxemu does
			// not model the dual-monitor treatment of SMM) and without bits
			// 63:57 (Sapphire Rapids' bit 57 and FRED's bit 58 are no
			// capability vmxemu honours): docs/VMX.md.
			assert.Contains(t, out, fmt.Sprintf("vmx_basic: 0x%016x", basic&^(1<<49|0x7F<<57)))
			assert.Contains(t, out, fmt.Sprintf("revision: %d, region_size: %d, width_addr: %d",
				basic&0x7FFFFFFF, basic>>32&0x1FFF, basic>>48&1))
			assert.Contains(t, out, "cr4.vmxe: set")
			if m.Name == "sandybridge-ep" {
				assert.Contains(t, out, "revision: 16, region_size: 1024, width_addr: 0", "the seed's values")
			}
		})
	}
}

// Every firmware policy, with and without VMX.
func TestVMXDetectFeatureControlPolicies(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"locked", []string{"-feature-control", "locked"}, []string{
			"feature_control: 0x5 lock=1 vmxon_in_smx=0 vmxon_outside_smx=1", "feature_control write (locked): #GP(0)"}},
		{"disabled", []string{"-feature-control", "disabled"}, []string{
			"feature_control: 0x1 lock=1 vmxon_in_smx=0 vmxon_outside_smx=0", "feature_control write (locked): #GP(0)"}},
		{"unlocked, without VMX", []string{"-feature-control", "unlocked", "-cpu", "sandybridge-ep,-vmx"}, []string{
			"feature_control: 0x0 lock=0 vmxon_in_smx=0 vmxon_outside_smx=0",
			"feature_control write (unlocked): 0x1, now locked", "feature_control write (locked): #GP(0)"}},
		{"unlocked, with VMX", []string{"-feature-control", "unlocked"}, []string{
			"feature_control write (unlocked): 0x5, now locked", "feature_control write (locked): #GP(0)"}},
		{"exact value with VMX in SMX", []string{"-feature-control", "0x7"}, []string{
			"feature_control: 0x7 lock=1 vmxon_in_smx=1 vmxon_outside_smx=1"}},
		{"no VMX, no SMX: no FEATURE_CONTROL", []string{"-cpu", "ivybridge,-vmx"}, []string{
			"feature_control: #GP(0)", "vmx_basic: #GP(0)"}},
		{"-vmx keeps FEATURE_CONTROL on an SMX part", []string{"-cpu", "sandybridge-ep,-vmx"}, []string{
			"cpuid: vendor GenuineIntel, signature 0x206d5, vmx 0", "feature_control: 0x1 lock=1 vmxon_in_smx=0 vmxon_outside_smx=0",
			"vmx_basic: #GP(0)"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			out := lines(runVMXDetect(t, tc.args...).stdout)
			for _, w := range tc.want {
				assert.Contains(t, out, w)
			}
		})
	}
}

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/msr"
)

// Hand-assembled 32-bit probes of the CPU model; each leaves through
// isa-debug-exit at 0xf4 with a value the test decodes.
var (
	// CPUID.1:ECX.VMX → exit value 0 or 1.
	probeVMX = []byte{0xB8, 1, 0, 0, 0, 0x0F, 0xA2, 0x89, 0xC8, 0xC1, 0xE8, 5, 0x83, 0xE0, 1, 0xE7, 0xF4, 0xF4}
	// RDMSR 0x480 → exit value = revision & 0xff (a #GP triple-faults: no IDT).
	probeBasic = []byte{0xB9, 0x80, 0x04, 0, 0, 0x0F, 0x32, 0x25, 0xFF, 0, 0, 0, 0xE7, 0xF4, 0xF4}
	// WRMSR 0x3A := 5 → exit value 0 (a #GP triple-faults).
	probeLock = []byte{0xB9, 0x3A, 0, 0, 0, 0xB8, 5, 0, 0, 0, 0x31, 0xD2, 0x0F, 0x30, 0x31, 0xC0, 0xE7, 0xF4, 0xF4}
)

func TestCPUHelpListsModels(t *testing.T) {
	r := vmxemu(t, "-cpu", "help")
	require.Equal(t, cli.ExitOK, r.code)
	ms, err := msr.Models()
	require.NoError(t, err)
	for _, m := range ms {
		assert.Contains(t, r.stdout, m.Name+" ")
	}
	assert.Regexp(t, `(?m)^sandybridge-ep .*\(default\)$`, r.stdout)
}

func TestVMXCapSubcommand(t *testing.T) {
	r := vmxemu(t, "vmxcap")
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "CPU model: sandybridge-ep")
	assert.Regexp(t, `(?m)^  Revision +16$`, r.stdout)

	r = vmxemu(t, "vmxcap", "-cpu", "sapphirerapids,-ept,-vpid")
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Regexp(t, `(?m)^  Enable EPT +no$`, r.stdout)
	assert.Contains(t, r.stdout, "(IA32_VMX_EPT_VPID_CAP does not exist on this model)")

	r = vmxemu(t, "vmxcap", "-cpu", "sandybridge-ep,+x-vmx-caps")
	require.Equal(t, cli.ExitOK, r.code)
	assert.Contains(t, r.stderr, "vmxemu: warning: -cpu +x-vmx-caps: no longer needed")

	r = vmxemu(t, "vmxcap", "-kernel", "x.elf")
	assert.Equal(t, cli.ExitUsage, r.code)
}

func TestCPUModelFile(t *testing.T) {
	m, err := msr.Lookup("haswell-ep")
	require.NoError(t, err)
	m.Name = "my-haswell"
	path := filepath.Join(t.TempDir(), "my.cpu")
	f, err := os.Create(path)
	require.NoError(t, err)
	require.NoError(t, m.Format(f))
	require.NoError(t, f.Close())

	r := vmxemu(t, "vmxcap", "-cpu-file", path)
	require.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "CPU model: my-haswell")
	assert.Regexp(t, `(?m)^  Revision +18$`, r.stdout)

	r = vmxemu(t, flat(kernel(t, probeBasic...), "-no-reboot", "-cpu-file", path, "-cpu", "my-haswell")...)
	assert.Equal(t, 0x12<<1|1, r.code, r.stderr)

	bad := filepath.Join(t.TempDir(), "bad.cpu")
	require.NoError(t, os.WriteFile(bad, []byte("model bad\ncpuid 0 0 1 2 3\n"), 0o644))
	r = vmxemu(t, "-cpu-file", bad)
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Equal(t, "vmxemu: -cpu-file "+bad+": CPU model file "+bad+": line 2: want: cpuid LEAF SUBLEAF EAX EBX ECX EDX (hex)\n", r.stderr)
}

func TestGuestSeesTheModel(t *testing.T) {
	for _, tc := range []struct {
		name string
		img  []byte
		args []string
		code int
		log  string // in the -d int log
	}{
		{"VMX reported by default", probeVMX, nil, 1<<1 | 1, ""},
		{"VMX removed from the model", probeVMX, []string{"-cpu", "sandybridge-ep,-vmx"}, 0<<1 | 1, ""},
		{"IA32_VMX_BASIC: revision 16", probeBasic, nil, 16<<1 | 1, ""},
		{"IA32_VMX_BASIC: revision 0x13", probeBasic, []string{"-cpu", "icelake-sp"}, 0x13<<1 | 1, ""},
		{"IA32_VMX_BASIC without VMX", probeBasic, []string{"-cpu", "sandybridge-ep,-vmx"}, cli.ExitTripleFault, "CPUID.1:ECX.VMX = 1"},
		{"FEATURE_CONTROL locked", probeLock, nil, cli.ExitTripleFault, "lock bit (bit 0) is set"},
		{"FEATURE_CONTROL disabled", probeLock, []string{"-feature-control", "disabled"}, cli.ExitTripleFault, "lock bit"},
		{"FEATURE_CONTROL unlocked", probeLock, []string{"-feature-control", "unlocked"}, 0<<1 | 1, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			log := filepath.Join(t.TempDir(), "int.log")
			args := append(flat(kernel(t, tc.img...), "-no-reboot", "-d", "int", "-D", log), tc.args...)
			r := vmxemu(t, args...)
			assert.Equal(t, tc.code, r.code, r.stderr)
			if tc.log != "" {
				b, err := os.ReadFile(log)
				require.NoError(t, err)
				assert.True(t, strings.Contains(string(b), tc.log), "log:\n%s", b)
			}
		})
	}
}

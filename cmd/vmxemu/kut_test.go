package main

import (
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/msr"
)

// kvm-unit-tests' runner probes the emulator before it runs a test. The
// expectations below are what its scripts (kvm-unit-tests commit
// 1da1819e49fc4938985edca67df669099b4c87a7) look for, quoted from them.

// x86/run:
//
//	if ! ${qemu} -device '?' 2>&1 | grep -F -e \"testdev\" -e \"pc-testdev\" > /dev/null;
//	    echo "No Qemu test device support found"
//	if ${qemu} -device '?' 2>&1 | grep -F "pci-testdev" > /dev/null;
//	    pci_testdev="-device pci-testdev"
//	if ${qemu} -device '?' 2>&1 | grep -F "pc-testdev" > /dev/null;
//	    pc_testdev="-device pc-testdev -device isa-debug-exit,iobase=0xf4,iosize=0x4"
//
// The first grep's patterns carry the double quotes (\" in the shell
// script): QEMU prints `name "pc-testdev", bus ISA`.
func TestKUTDeviceProbe(t *testing.T) {
	for _, arg := range []string{"?", "help"} {
		r := vmxemu(t, "-device", arg)
		require.Equal(t, cli.ExitOK, r.code, r.stderr)
		out := r.stdout + r.stderr // 2>&1
		assert.Contains(t, out, `"pc-testdev"`, "x86/run: grep -F -e \\\"testdev\\\" -e \\\"pc-testdev\\\"")
		// vmxemu has no PCI bus: not listing pci-testdev makes x86/run
		// leave it out of every command line.
		assert.NotContains(t, out, "pci-testdev", `x86/run: grep -F "pci-testdev"`)
		assert.Contains(t, out, "pc-testdev", `x86/run: grep -F "pc-testdev"`)
		assert.Contains(t, out, `"isa-debug-exit"`, "x86/run then passes -device isa-debug-exit,iobase=0xf4,iosize=0x4")
	}
}

// scripts/arch-run.bash search_qemu_binary:
//
//	if $qemucmd --help 2>/dev/null | grep -q 'QEMU'; then
//
// and env_params:
//
//	QEMU_VERSION_STRING="$($qemu -h | head -1)"
//	IFS='[ .]' read -r _ _ _ QEMU_MAJOR QEMU_MINOR QEMU_MICRO rest <<<"$QEMU_VERSION_STRING"
func TestKUTHelpProbe(t *testing.T) {
	r := vmxemu(t, "--help")
	require.Equal(t, cli.ExitOK, r.code)
	assert.Contains(t, r.stdout, "QEMU")

	r = vmxemu(t, "-h")
	first, _, _ := strings.Cut(r.stdout, "\n")
	fields := regexp.MustCompile(`[ .]`).Split(first, -1)
	require.GreaterOrEqual(t, len(fields), 6, first)
	assert.Regexp(t, `^[0-9]+$`, fields[3], "QEMU_MAJOR")
	assert.Regexp(t, `^[0-9]+$`, fields[4], "QEMU_MINOR")
	assert.Regexp(t, `^[0-9]+`, fields[5], "QEMU_MICRO")
	assert.Equal(t, strings.Join(fields[3:5], "."), strings.Join(strings.Split(version, ".")[:2], "."))
}

// scripts/vmm.bash qemu_parse_premature_failure runs the test's command
// line with the kernel _NO_FILE_4Uhere_ and takes the run as good when
// the output has
//
//	grep "_NO_FILE_4Uhere_" | grep -q -e "[Cc]ould not \(load\|open\) kernel" -e "error loading" -e "failed to load"
//
// otherwise the test is skipped with the last line as the reason: a
// refused flag makes a SKIP that says why.
func TestKUTPrematureFailureProbe(t *testing.T) {
	re := regexp.MustCompile(`_NO_FILE_4Uhere_.*([Cc]ould not (load|open) kernel|error loading|failed to load)|([Cc]ould not (load|open) kernel|error loading|failed to load).*_NO_FILE_4Uhere_`)
	dir := t.TempDir()
	missing := filepath.Join(dir, "_NO_FILE_4Uhere_")
	// x86/run's command line (without pci-testdev, which vmxemu's -device
	// help does not list), then unittests.cfg's qemu_params.
	base := []string{"--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard",
		"-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none",
		"-serial", "stdio", "-machine", "accel=tcg", "-kernel", missing, "-smp", "2"}
	for _, extra := range [][]string{
		nil,
		{"-cpu", "qemu64,+x2apic,+tsc-deadline"},
		{"-cpu", "qemu64,-x2apic,+tsc-deadline"},
		{"-machine", "pit=off"},
		{"-cpu", "max,host-phys-bits"},
		{"-cpu", "max"},
		{"-cpu", "max,vendor=GenuineIntel"},
		{"-cpu", "qemu64,vendor=GenuineIntel"},
		{"-cpu", "qemu64,+pcid,+invpcid"},
		{"-cpu", "qemu64,-pcid,-invpcid"},
		{"-cpu", "qemu64,-pcid,+invpcid"},
		{"-cpu", "qemu64,+umip"},
		{"-cpu", "max,+vmx"},
		{"-cpu", "max,host-phys-bits,+vmx", "-m", "2560"},
		{"-cpu", "max,+vmx", "-m", "2048"},
		{"-cpu", "host", "-m", "2048"},
	} {
		args := append(append([]string{}, base...), extra...)
		t.Run(strings.Join(extra, " "), func(t *testing.T) {
			r := vmxemu(t, args...)
			assert.Equal(t, cli.ExitUsage, r.code)
			assert.Regexp(t, re, r.stderr)
			// scripts/vmm.bash qemu_fixup_return_code: a run with stderr
			// output passes only if `grep -qvi warning` finds no line
			// without "warning".
			for _, line := range strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n") {
				if !strings.Contains(line, "_NO_FILE_4Uhere_") {
					assert.Contains(t, strings.ToLower(line), "warning", line)
				}
			}
		})
	}
}

// The QEMU CPU model names and properties, resolved against the models.
func TestQEMUCPUAliases(t *testing.T) {
	ms, err := msr.Models()
	require.NoError(t, err)
	// The newest model: the highest CPUID.1:EAX signature (family 6:
	// extended model, model).
	newest := ms[0]
	for _, m := range ms {
		if m.Signature() > newest.Signature() {
			newest = m
		}
	}
	tests := []struct {
		cpu, model string
	}{
		{"qemu64", msr.DefaultModel},
		{"kvm64", msr.DefaultModel},
		{"max", newest.Name},
		{"host", newest.Name},
		{"SandyBridge", "sandybridge-ep"},
		{"IvyBridge", "ivybridge"},
		{"Haswell", "haswell-ep"},
		{"Skylake-Server", "skylake-sp"},
		{"Cascadelake-Server", "cascadelake-sp"},
		{"Icelake-Server", "icelake-sp"},
		{"SapphireRapids", "sapphirerapids"},
		{"qemu64,vendor=GenuineIntel", msr.DefaultModel},
		{"max,host-phys-bits", newest.Name},
		{"max,host-phys-bits=on,check=off,enforce=off", newest.Name},
	}
	for _, tc := range tests {
		t.Run(tc.cpu, func(t *testing.T) {
			cfg, err := cli.Parse([]string{"-cpu", tc.cpu})
			require.NoError(t, err)
			var warn strings.Builder
			p, err := resolveCPU(cfg, &warn)
			require.NoError(t, err)
			assert.Equal(t, tc.model, p.Model.Name)
			assert.Empty(t, warn.String())
		})
	}
	r := vmxemu(t, "-cpu", "help")
	for _, tc := range tests[:11] {
		assert.Regexp(t, `(?m)^`+tc.cpu+` += `+tc.model+` `, r.stdout)
	}
}

func TestQEMUCPUProperties(t *testing.T) {
	// The vendor string of CPUID leaf 0 is EBX, EDX, ECX (SDM Vol. 2A,
	// CPUID, leaf 00H: "Genu" "ineI" "ntel").
	m, err := msr.Lookup(msr.DefaultModel)
	require.NoError(t, err)
	assert.Equal(t, "GenuineIntel", modelVendor(m))

	tests := []struct {
		cpu      string
		physBits uint   // 0: not checked
		err      string // "" = accepted
		warn     string
	}{
		{"qemu64,vendor=AuthenticAMD", 0, "the model sandybridge-ep is GenuineIntel, and vmxemu cannot change a model's vendor", ""},
		{"max,vendor=GenuineIotel", 0, "cannot change a model's vendor", ""},
		{"Opteron_G1,vendor=AuthenticAMD", 0, "Opteron_G1 is an AMD processor: vmxemu models Intel processors only", ""},
		{"EPYC", 0, "EPYC is an AMD processor", ""},
		{"Westmere", 0, `unknown CPU model "Westmere"`, ""},
		{"max,+svm", 0, `unknown CPU feature "svm"`, ""},
		// CPUID.80000008H:EAX[7:0] reports phys-bits (SDM Vol. 2A).
		{"IvyBridge,phys-bits=36,host-phys-bits=off", 36, "", ""},
		{"max,phys-bits=52", 52, "", ""},
		{"max,phys-bits=40,host-phys-bits", 0, "host-phys-bits asks for the model's own", ""},
		// enforce and check: max asks for what vmxemu has, so only the
		// explicit +feature toggles count.
		{"max,enforce", 0, "", ""},
		{"max,+x2apic,enforce", 0, "", ""},
		{"max,+vmx,enforce", 0, "", ""}, // VMX operation is implemented
		{"max,+avx,enforce", 0, "max,enforce: vmxemu does not provide 1 requested feature(s): avx", ""},
		{"max,+avx,check", 0, "", "vmxemu: warning: vmxemu doesn't support requested feature: avx"},
		{"max,+avx,-avx,enforce", 0, "", ""},
		// A named model asks for all of its own features: the ones vmxemu
		// hides (SSSE3 here) count.
		{"IvyBridge,enforce", 0, "IvyBridge,enforce: vmxemu does not provide", ""},
		{"IvyBridge,check", 0, "", "vmxemu: warning: vmxemu doesn't support requested feature: ssse3 "},
	}
	for _, tc := range tests {
		t.Run(tc.cpu, func(t *testing.T) {
			cfg, err := cli.Parse([]string{"-cpu", tc.cpu})
			require.NoError(t, err)
			var warn strings.Builder
			p, err := resolveCPU(cfg, &warn)
			if tc.err != "" {
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.err)
				var ue *usageError
				assert.ErrorAs(t, err, &ue, "a usage error: exit status 2")
				return
			}
			require.NoError(t, err)
			if tc.physBits != 0 {
				assert.Equal(t, tc.physBits, p.MaxPhysAddr())
				assert.Equal(t, uint32(tc.physBits), p.CPUID(0x80000008, 0).EAX&0xFF)
			}
			if tc.warn == "" {
				assert.NotContains(t, warn.String(), "requested feature")
			} else {
				assert.Contains(t, warn.String(), tc.warn)
			}
		})
	}
}

// Every no-op warning reaches stderr as one "vmxemu: warning:" line, and a
// refusal is exit status 2.
func TestQEMUNoOpWarnings(t *testing.T) {
	r := vmxemu(t, "-global", "kvm-pit.lost_tick_policy=discard", "-overcommit", "cpu-pm=on", "-machine", "pit=off",
		"-enable-kvm", "-kernel", filepath.Join(t.TempDir(), "none"))
	assert.Equal(t, cli.ExitUsage, r.code)
	lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
	require.Len(t, lines, 5, r.stderr)
	for _, l := range lines[:4] {
		assert.True(t, strings.HasPrefix(l, "vmxemu: warning: "), l)
	}
	assert.Contains(t, lines[4], "could not load kernel")

	for _, args := range [][]string{
		{"-global", "isa-pit.iobase=0x40"},
		{"-device", "hyperv-testdev"},
		{"-accel", "hvf"},
		{"-cpu", "Opteron_G1,vendor=AuthenticAMD"},
		{"-cpu", "host,hv_passthrough"},
		{"-M", "microvm,kernel-irqchip=split"},
		{"-device", "intel-iommu,intremap=on"}, // pc: no PCI bus
		{"-machine", "vmport=on"},
	} {
		r := vmxemu(t, args...)
		assert.Equal(t, cli.ExitUsage, r.code, args)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	}
}

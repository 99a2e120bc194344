package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
)

// outLines splits guest output (the UART sends "\r\n") into lines.
func outLines(s string) []string {
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(s, "\r\n", "\n"), "\n"), "\n")
}

// TestDemoScenarios: each scenario of `vmxemu demo NAME`, on 2 CPUs of the
// default model. The guest prints what the kernel sees; vmxemu prints on
// stderr the outcome with the rule and its SDM section; the run exits 0
// (every outcome the SDM's: README "Exit status", row 1). The outcomes and
// error numbers are the SDM's (Vol. 3C 31.3 pseudocode, 31.4 error
// numbers, 27.2-27.3 entry checks, Appendix C exit reasons), the values
// Sandy Bridge EP's dump (IA32_VMX_CR0_FIXED0 0x80000021, CR4_FIXED0
// 0x2000, MAXPHYADDR 46).
func TestDemoScenarios(t *testing.T) {
	for _, tc := range []struct {
		name   string
		stdout []string // lines, in this order
		stderr []string // substrings
	}{
		{"cr0-ne", []string{"cpu 0: VMXON with CR0.NE = 0: #GP(0)", "cpu 1: VMXON with CR0.NE = 0: #GP(0)"},
			[]string{"VMXON: #GP(0x0)", "CR0.NE (bit 5)", "IA32_VMX_CR0_FIXED0 = 0x80000021", "SDM Vol. 3C 31.3"}},
		{"no-vmxe", []string{"cpu 0: VMXON with CR4.VMXE = 0: #UD"},
			[]string{"VMXON: #UD", "CR4.VMXE", "SDM Vol. 3C 31.3"}},
		{"fc-unlocked", []string{"cpu 0: IA32_FEATURE_CONTROL 0x0: unlocked by firmware; the kernel leaves it so", "cpu 0: VMXON: #GP(0)", "hw.vmm.enable: 0"},
			[]string{"VMXON: #GP(0x0)", "IA32_FEATURE_CONTROL unlocked", "SDM Vol. 3C 24.7"}},
		{"fc-disabled", []string{"cpu 0: IA32_FEATURE_CONTROL 0x1: locked by firmware with VMXON outside SMX disabled", "cpu 0: VMXON: #GP(0)", "hw.vmm.enable: 0"},
			[]string{"VMXON: #GP(0x0)", "SDM Vol. 3C 24.7"}},
		{"bad-revision", []string{"cpu 0: VMXON with revision identifier + 1: VMfailInvalid"},
			[]string{"VMXON: VMfailInvalid (RFLAGS.CF=1)", "revision"}},
		{"unaligned", []string{"cpu 0: VMXON with the region at +0x800 (not 4-KiB aligned): VMfailInvalid"},
			[]string{"VMXON: VMfailInvalid (RFLAGS.CF=1)", "4-KiB aligned"}},
		{"shared-region", []string{"cpu 1: VMXON with CPU 0's VMXON region (shared): VMsucceed"},
			[]string{"warning: CPU 1: VMXON region", "already in use by CPU 0", "SDM Vol. 3C 25.11.5"}},
		{"vmptrld-vmxon", []string{"cpu 0: VMPTRLD of the VMXON region: VMfailValid(10)"},
			[]string{"VMPTRLD: VMfailValid (RFLAGS.ZF=1), VM-instruction error 10"}},
		{"vmresume-clear", []string{"cpu 0: VMRESUME before VMLAUNCH (launch state clear): VMfailValid(5)"},
			[]string{"VMRESUME: VMfailValid (RFLAGS.ZF=1), VM-instruction error 5", "SDM Vol. 3C 31.3"}},
		{"no-vmclear", []string{"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done",
			"cpu 0: VMLAUNCH again without VMCLEAR (launch state launched): VMfailValid(4)"},
			[]string{"VMLAUNCH: VMfailValid (RFLAGS.ZF=1), VM-instruction error 4", "SDM Vol. 3C 31.3"}},
		{"bad-host-cr3", []string{"cpu 0: VMLAUNCH: VMfailValid(8)", "cpu 1: VMLAUNCH: VMfailValid(8)"},
			[]string{"VM-instruction error 8", "Host CR3 (0x6c02)", "bits 63:46", "SDM Vol. 3C 27.2.2"}},
		{"bad-host-cr4", []string{"cpu 0: VMLAUNCH: VMfailValid(8)"},
			[]string{"VM-instruction error 8", "Host CR4 (0x6c04)", "CR4.VMXE (bit 13)", "SDM Vol. 3C 27.2.2"}},
		{"bad-guest-seg", []string{"cpu 0: VM-entry failure: exit reason 33 (VM-entry failure due to invalid guest state) with bit 31 set, qual 0x0"},
			[]string{"VM-entry failure, exit reason 33", "Guest CS access rights (0x4816) = 0xa09a", "SDM Vol. 3C 27.3.1.2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := vmxemu(t, "demo", tc.name, "-smp", "2")
			require.Equal(t, cli.ExitOK, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
			out := outLines(r.stdout)
			i := 0
			for _, l := range out {
				if i < len(tc.stdout) && l == tc.stdout[i] {
					i++
				}
			}
			assert.Equal(t, len(tc.stdout), i, "stdout lacks %q (or has it out of order):\n%s", tc.stdout[min(i, len(tc.stdout)-1)], r.stdout)
			for _, want := range tc.stderr {
				assert.Contains(t, r.stderr, want)
			}
			assert.Contains(t, out, "every outcome as the SDM says; exiting with 0x10")
			// The same scenario through -append.
			a := vmxemu(t, "-append", "scenario="+tc.name, "-smp", "2")
			assert.Equal(t, r, a, "vmxemu demo NAME and -append scenario=NAME differ")
		})
	}
}

// TestDemoSubcommand: the listing, an unknown scenario, and what the
// subcommand refuses.
func TestDemoSubcommand(t *testing.T) {
	r := vmxemu(t, "demo", "list")
	assert.Equal(t, cli.ExitOK, r.code, r.stderr)
	out := outLines(r.stdout)
	assert.Contains(t, out, "the scenarios (vmxemu demo NAME, or -append scenario=NAME):")
	for _, name := range []string{"cr0-ne", "no-vmxe", "fc-unlocked", "fc-disabled", "bad-revision", "unaligned",
		"shared-region", "vmptrld-vmxon", "no-vmclear", "bad-guest-seg", "bad-host-cr3", "bad-host-cr4", "bad-eptp", "no-invept"} {
		assert.Contains(t, r.stdout, "  "+name+" ")
	}
	assert.Equal(t, r, vmxemu(t, "-append", "help"))

	r = vmxemu(t, "demo", "nonesuch")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, outLines(r.stdout), "unknown scenario")
	r = vmxemu(t, "demo", "bad-eptp")
	assert.Equal(t, 1, r.code, "listed for later: not runnable yet")

	for _, args := range [][]string{
		{"demo", "-kernel", "x.elf"},
		{"demo", "cr0-ne", "-append", "scenario=no-vmxe"},
		{"demo", "cr0-ne", "stray"},
	} {
		r := vmxemu(t, args...)
		assert.Equal(t, cli.ExitUsage, r.code, "%q", args)
		assert.Empty(t, r.stdout, "%q", args)
	}

	// -feature-control given wins over the scenario's policy: the guest
	// says what it needs and fails.
	r = vmxemu(t, "demo", "fc-disabled", "-feature-control", "locked", "-smp", "1")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, outLines(r.stdout), "cpu 0: IA32_FEATURE_CONTROL 0x5: scenario fc-disabled needs -feature-control disabled")
}

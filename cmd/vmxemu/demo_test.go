package main

import (
	"bytes"
	"debug/elf"
	"fmt"
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
//
// The EPT scenarios: the addresses come from the embedded image's symbol
// table (demoSym); the EPTP rules from 25.6.11 and 27.2.1.1 (memory type
// 2 is reserved), the misconfiguration from 29.3.3.1 (bits 2:0 = 010b),
// the fetch from a page without execute permission from 29.3.3.2 and
// Table 28-7 (bits 2, 3, 4, 7, 8: 0x19c),
// the stale read from the caching rules of 29.4 (the combined mapping
// cached under the guest's VPID survives VM exit and entry; single-context
// INVEPT removes it) — vmxemu caches it as docs/VMX.md says.
func TestDemoScenarios(t *testing.T) {
	probe, other := demoSym(t, "probe_page"), demoSym(t, "other_page")
	tested := map[string]bool{"none": true} // "none" is the default demo (TestDemo*)
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
		{"beyond-maxphyaddr", []string{"cpu 0: VMXON with the region at bit MAXPHYADDR set: VMfailInvalid", "cpu 1: VMXON with the region at bit MAXPHYADDR set: VMfailInvalid"},
			[]string{"VMXON: VMfailInvalid (RFLAGS.CF=1)", "beyond the physical-address width (MAXPHYADDR is 46)", "SDM Vol. 3C 31.3"}},
		{"vmxon-twice", []string{"cpu 0: VMXON again (no current VMCS): VMfailInvalid", "cpu 0: VMXON again (with a current VMCS): VMfailValid(15)"},
			[]string{"VMXON: VMfailInvalid (RFLAGS.CF=1)", "VMXON: VMfailValid (RFLAGS.ZF=1), VM-instruction error 15 (VMXON executed in VMX root operation)"}},
		{"vmclear-vmxon", []string{"cpu 0: VMCLEAR of the VMXON region (no current VMCS): VMfailInvalid", "cpu 0: VMCLEAR of the VMXON region: VMfailValid(3)"},
			[]string{"VMCLEAR: VMfailValid (RFLAGS.ZF=1), VM-instruction error 3 (VMCLEAR with VMXON pointer)"}},
		{"vmptrld-revision", []string{"cpu 0: VMPTRLD of a VMCS with revision + 1 (no current VMCS): VMfailInvalid", "cpu 0: VMPTRLD of a VMCS with revision + 1: VMfailValid(11)"},
			[]string{"VMPTRLD: VMfailValid (RFLAGS.ZF=1), VM-instruction error 11 (VMPTRLD with incorrect VMCS revision identifier)", "IA32_VMX_BASIC[30:0] is 0x10"}},
		{"vmread-no-vmcs", []string{"cpu 0: VMREAD with no current VMCS: VMfailInvalid", "cpu 0: VMWRITE with no current VMCS: VMfailInvalid", "cpu 0: VMREAD outside VMX operation: #UD"},
			[]string{"VMREAD: VMfailInvalid (RFLAGS.CF=1)", "VMWRITE: VMfailInvalid (RFLAGS.CF=1)", "VMREAD: #UD"}},
		{"vmwrite-ro", []string{"cpu 0: VMWRITE to the exit reason (0x4402): VMfailValid(13)"},
			[]string{"VMWRITE: VMfailValid (RFLAGS.ZF=1), VM-instruction error 13 (VMWRITE to read-only VMCS component)", "IA32_VMX_MISC[29] is 0"}},
		{"field-unsupported", []string{"cpu 0: VMREAD 0x4001 (high access to the 32-bit pin-based controls): VMfailValid(12)",
			"cpu 0: VMWRITE 0x5002 (reserved bit 12 set): VMfailValid(12)", "cpu 0: VMREAD 0x6ffe (no such field in Appendix B): VMfailValid(12)"},
			[]string{"VM-instruction error 12 (VMREAD/VMWRITE from/to unsupported VMCS component)"}},
		{"bad-pointer", []string{"cpu 0: VMCLEAR of an address not 4-KiB aligned: VMfailValid(2)", "cpu 0: VMPTRLD of an address not 4-KiB aligned: VMfailValid(9)",
			"cpu 0: VMCLEAR of an address beyond MAXPHYADDR: VMfailValid(2)", "cpu 0: VMPTRLD of an address beyond MAXPHYADDR: VMfailValid(9)"},
			[]string{"VMCLEAR: VMfailValid (RFLAGS.ZF=1), VM-instruction error 2 (VMCLEAR with invalid physical address)", "VMPTRLD: VMfailValid (RFLAGS.ZF=1), VM-instruction error 9 (VMPTRLD with invalid physical address)"}},
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
		{"bad-eptp", []string{"cpu 0: VMLAUNCH with EPTP memory type 2 (reserved): VMfailValid(7)",
			"cpu 0: VMLAUNCH with EPTP page-walk length 3: VMfailValid(7)",
			"cpu 1: VMLAUNCH with EPTP memory type 2 (reserved): VMfailValid(7)"},
			[]string{"VMLAUNCH: VMfailValid (RFLAGS.ZF=1), VM-instruction error 7", "EPT pointer (0x201a)",
				fmt.Sprintf("= %#x", demoSym(t, "ept_pml4")|2|3<<3), "memory type", "SDM Vol. 3C 25.6.11"}},
		{"ept-misconfig", []string{fmt.Sprintf("cpu 0: vm-exit reason 49 (EPT misconfiguration) gpa %#x -> fix the entry, INVEPT, resume", probe),
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done"}, nil},
		{"ept-exec", []string{fmt.Sprintf("cpu 0: vm-exit reason 48 (EPT violation) qual 0x19c (fetch, allowed rw-) gpa %#x -> allow it, INVEPT, resume", probe+8),
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done"}, nil},
		{"no-invept", []string{
			fmt.Sprintf("cpu 0: vm-exit reason 48 (EPT violation) qual 0x181 (read, not present) gpa %#x -> map, INVEPT, resume", probe),
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> resume",
			fmt.Sprintf("cpu 0: the guest read 0x5050505050505050 at gpa %#x; its EPT entry now points at %#x (holding 0x5151515151515151), no INVEPT", probe, other),
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> resume",
			"cpu 0: the guest read 0x5050505050505050: the old page, through the stale cached translation; INVEPT removes it",
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done",
			"cpu 0: after INVEPT the guest read 0x5151515151515151: the new page",
			"cpu 1: after INVEPT the guest read 0x5151515151515151: the new page"}, nil},
	} {
		tested[tc.name] = true
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
	// Every scenario the listing offers is checked above.
	list := vmxemu(t, "demo", "list")
	require.Equal(t, cli.ExitOK, list.code, list.stderr)
	for _, l := range outLines(list.stdout) {
		if f := strings.Fields(l); strings.HasPrefix(l, "  ") && len(f) > 1 {
			assert.True(t, tested[f[0]], "scenario %q is listed but not tested", f[0])
		}
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
		"shared-region", "vmptrld-vmxon", "no-vmclear", "bad-guest-seg", "bad-host-cr3", "bad-host-cr4", "bad-eptp", "no-invept",
		"ept-misconfig", "ept-exec"} {
		assert.Contains(t, r.stdout, "  "+name+" ")
	}
	assert.NotContains(t, r.stdout, "later")
	assert.Equal(t, r, vmxemu(t, "-append", "help"))

	r = vmxemu(t, "demo", "nonesuch")
	assert.Equal(t, 1, r.code)
	assert.Contains(t, outLines(r.stdout), "unknown scenario")

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

// demoSym is the address of a symbol of the embedded demo kernel (its ELF
// symbol table: the linker's layout, not the program's output).
func demoSym(t *testing.T, name string) uint64 {
	t.Helper()
	f, err := elf.NewFile(bytes.NewReader(demoKernel))
	require.NoError(t, err)
	syms, err := f.Symbols()
	require.NoError(t, err)
	for _, s := range syms {
		if s.Name == name {
			return s.Value
		}
	}
	t.Fatalf("the demo kernel has no symbol %s", name)
	return 0
}

// TestDemoEPT: the default demo's EPT step on every CPU of the default
// machine: the violation's qualification is a not-present data read with
// a valid guest-linear address whose translation was accessed (SDM Vol.
// 3C Table 28-7: bits 0, 7, 8 = 0x181; Sandy Bridge EP's
// IA32_VMX_EPT_VPID_CAP 0xf0106134141 has no bit 22, so bits 11:9 are 0),
// at the guest-physical address of the page left out; Skylake SP's
// (0xf0106734141) has bit 22: the kernel's page tables map the page
// read/write, supervisor, executable, so bit 10 too (0x581).
func TestDemoEPT(t *testing.T) {
	probe := demoSym(t, "probe_page")
	for _, tc := range []struct {
		model string
		qual  uint64
	}{{"", 0x181}, {"skylake-sp", 0x581}} {
		args := []string{}
		if tc.model != "" {
			args = append(args, "-cpu", tc.model)
		}
		r := vmxemu(t, args...)
		require.Equal(t, cli.ExitOK, r.code, "stdout:\n%s\nstderr:\n%s", r.stdout, r.stderr)
		out := outLines(r.stdout)
		for c := 0; c < demoCPUs; c++ {
			assert.Contains(t, out, fmt.Sprintf("cpu %d: vm-exit reason 48 (EPT violation) qual %#x (read, not present) gpa %#x -> map, INVEPT, resume",
				c, tc.qual, probe), tc.model)
			assert.Contains(t, out, fmt.Sprintf("cpu %d: EPT: identity map of 0-1 GiB (4 levels, 2-MiB pages), gpa %#x left out; "+
				"EPTP %#x (WB, walk length 4); VPID %d", c, probe, demoSym(t, "ept_pml4")+uint64(c)*4096|6|3<<3, c+1), tc.model)
		}
		assert.Empty(t, r.stderr, tc.model)
	}
}

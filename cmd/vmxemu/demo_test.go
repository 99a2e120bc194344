package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
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

// transcript is one "$ vmxemu ..." block of a document and the output it
// shows.
type transcript struct {
	file string
	line int
	args []string
	// stream is which output the block shows: "stdout" (no redirection:
	// stderr must then be empty), "stdout only" (2>/dev/null) or
	// "stderr" (2>&1 >/dev/null).
	stream string
	want   []string
}

// transcripts reads the ```console blocks of a Markdown file: each starts
// with "$ vmxemu ARGS" and shows the output.
func transcripts(t *testing.T, path string) []transcript {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var ts []transcript
	var cur *transcript
	in := false
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case !in && l == "```console":
			in = true
		case in && l == "```":
			in = false
			if cur != nil {
				ts = append(ts, *cur)
				cur = nil
			}
		case in && strings.HasPrefix(l, "$ vmxemu"):
			if cur != nil {
				ts = append(ts, *cur)
			}
			cmd := strings.TrimPrefix(l, "$ vmxemu")
			stream := "stdout"
			if c, ok := strings.CutSuffix(cmd, " 2>&1 >/dev/null"); ok {
				cmd, stream = c, "stderr"
			} else if c, ok := strings.CutSuffix(cmd, " 2>/dev/null"); ok {
				cmd, stream = c, "stdout only"
			}
			cur = &transcript{file: filepath.Base(path), line: n, args: strings.Fields(cmd), stream: stream}
		case in && cur != nil:
			cur.want = append(cur.want, l)
		}
	}
	require.NoError(t, sc.Err())
	return ts
}

var updateTranscripts = flag.Bool("update-transcripts", false, "rewrite the transcripts of README.md and docs/TUTORIAL.md with what vmxemu prints")

// TestDocTranscripts: every "$ vmxemu ..." transcript in the README and
// docs/TUTORIAL.md is what vmxemu prints, line for line (the README opens
// with the demo's). After a change to the demo guest, `go test
// ./cmd/vmxemu -run TestDocTranscripts -update-transcripts` rewrites them
// (then read the diff: it is the change users see).
func TestDocTranscripts(t *testing.T) {
	for _, p := range []string{filepath.Join("..", "..", "README.md"), filepath.Join("..", "..", "docs", "TUTORIAL.md")} {
		ts := transcripts(t, p)
		require.NotEmpty(t, ts, "%s has no ```console transcript", p)
		got := make([][]string, len(ts))
		for i, tr := range ts {
			t.Run(fmt.Sprintf("%s:%d", tr.file, tr.line), func(t *testing.T) {
				r := vmxemu(t, tr.args...)
				out := r.stdout
				switch tr.stream {
				case "stdout":
					assert.Empty(t, r.stderr, "stderr of %q (the transcript shows none: redirect it)", tr.args)
				case "stderr":
					out = r.stderr
				}
				got[i] = outLines(out)
				if !*updateTranscripts {
					assert.Equal(t, strings.Join(tr.want, "\n"), strings.Join(got[i], "\n"), "vmxemu %s", strings.Join(tr.args, " "))
				}
			})
		}
		if *updateTranscripts {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			lines := strings.Split(string(b), "\n")
			for i := len(ts) - 1; i >= 0; i-- {
				at := ts[i].line // the output starts after the "$ vmxemu" line (1-based)
				lines = append(lines[:at], append(append([]string{}, got[i]...), lines[at+len(ts[i].want):]...)...)
			}
			require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644))
		}
	}
}

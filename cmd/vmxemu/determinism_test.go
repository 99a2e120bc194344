package main

import (
	"crypto/sha256"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/guests"
	"github.com/vmxemu/vmxemu/internal/testenv"
)

// assembleVMXEntry builds testdata/vmxentry.asm, a flat 32-bit program
// that runs a guest through VMLAUNCH, CPUID exits, VMRESUME and a VMCALL
// exit.
func assembleVMXEntry(t *testing.T) string {
	t.Helper()
	nasm := testenv.NeedTool(t, "nasm", "assembles the VMX entry/exit program of the determinism test")
	out := filepath.Join(t.TempDir(), "vmxentry.bin")
	b, err := exec.Command(nasm, "-f", "bin", "-o", out, filepath.Join("testdata", "vmxentry.asm")).CombinedOutput()
	require.NoError(t, err, "%s", b)
	return out
}

// TestDeterminism: the same image, flags and model give byte-identical
// serial output and event log (-d, -D) run after run, VMX guests and
// multiprocessor scheduling included (issue 19, "Determinism"). Each
// guest runs twice in this process; the SHA-256 of stdout and of the log
// must agree (map iteration order, which Go randomises per range, would
// show here as in two processes).
func TestDeterminism(t *testing.T) {
	vmxentry := assembleVMXEntry(t)
	testenv.NeedTool(t, "gcc", "builds the smp guest")
	testenv.NeedTool(t, "ld", "links the smp guest")
	smp, err := guests.Build("smp", t.TempDir())
	require.NoError(t, err)

	runs := []struct {
		name string
		args []string
		code int
		want []string // lines the output must contain: the run did what it is for
		log  []string // and the log
	}{
		{"demo: VMX bring-up on 4 CPUs", []string{"-d", "int,vmx"}, 0,
			[]string{"hw.vmm.enable: 1", "hw.vmm.enable: 0"}, []string{"VMXON: VMsucceed", "cpu 3 "}},
		{"vmxentry: VMLAUNCH, exits, VMRESUME", flat(vmxentry, "-serial", "stdio", "-cpu", "sandybridge-ep", "-load-addr", "0x100000", "-entry", "0x100000", "-d", "int,vmx"), 0x10<<1 | 1,
			[]string{"exit reason 0000000a", "exit reason 00000012", "vmxentry: done"}, []string{"VMLAUNCH: VM entry", "VMRESUME: VM entry", "VM exit: reason 10 (CPUID)", "VM exit: reason 18 (VMCALL)"}},
		{"smp guest on 4 CPUs", []string{"-nodefaults", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", smp, "-smp", "4", "-d", "int"}, guests.ExitPass,
			[]string{"vmxemu smp guest"}, []string{"Servicing hardware INT"}},
	}
	for _, r := range runs {
		t.Run(r.name, func(t *testing.T) {
			var sums [2]string
			for i := range sums {
				log := filepath.Join(t.TempDir(), "events.log")
				res := vmxemu(t, append(append([]string{}, r.args...), "-D", log)...)
				require.Equal(t, r.code, res.code, "run %d: stderr:\n%s\nstdout:\n%s", i+1, res.stderr, res.stdout)
				for _, w := range r.want {
					require.Contains(t, res.stdout, w, "run %d", i+1)
				}
				ev, err := os.ReadFile(log)
				require.NoError(t, err)
				for _, w := range r.log {
					require.Contains(t, string(ev), w, "run %d: the event log", i+1)
				}
				sums[i] = fmt.Sprintf("stdout %x (%d bytes), stderr %x, log %x (%d lines)",
					sha256.Sum256([]byte(res.stdout)), len(res.stdout), sha256.Sum256([]byte(res.stderr)),
					sha256.Sum256(ev), strings.Count(string(ev), "\n"))
			}
			t.Log(sums[0])
			assert.Equal(t, sums[0], sums[1], "two runs of the same guest differ")
		})
	}
}

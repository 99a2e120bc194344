package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
)

// The event-log scenario: testdata/vmxlog/scenario.S, a 64-bit flat
// program that enters VMX operation and makes one VMfail (VMPTRLD of a
// region with revision 0), one failed VM entry (guest RFLAGS = 0) and
// three VM exits (CPUID, RDMSR, VMCALL), then exits with status 33.

var updateGolden = flag.Bool("update-golden", false, "rewrite the golden files of the event log (testdata/vmxlog)")

const scenarioDir = "testdata/vmxlog"

// Addresses in the scenario (the image is loaded at 0x100000; the offsets
// are its symbols: nm on the object TestScenarioImage assembles).
const (
	scenBase  = 0x100000
	scenHost  = scenBase + 0xb3  // host:
	scenGuest = scenBase + 0x108 // guest: cpuid (2 bytes), mov ecx (5), rdmsr (2), vmcall (3)
)

func scenarioArgs(extra ...string) []string {
	return append([]string{"-nodefaults", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-boot-mode", "flat64",
		"-cpu", "sandybridge-ep", "-icount-limit", "100000", "-kernel", filepath.Join(scenarioDir, "scenario.bin")}, extra...)
}

// TestScenarioImage: scenario.bin is what scenario.S assembles to, and
// its symbols are where the test expects them.
func TestScenarioImage(t *testing.T) {
	as := needTool(t, "as", "the scenario is assembled with GNU as")
	objcopy := needTool(t, "objcopy", "the scenario is assembled with GNU binutils")
	nmTool := needTool(t, "nm", "the scenario's symbols")
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "s.o"), filepath.Join(dir, "s.bin")
	out, err := exec.Command(as, "--64", "-o", obj, filepath.Join(scenarioDir, "scenario.S")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(objcopy, "-O", "binary", obj, bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	want, err := os.ReadFile(bin)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(scenarioDir, "scenario.bin"))
	require.NoError(t, err)
	assert.Equal(t, want, got, "testdata/vmxlog/scenario.bin is stale: reassemble it (see scenario.S)")
	abortObj := filepath.Join(dir, "a.o")
	out, err = exec.Command(as, "--64", "--defsym", "ABORT=1", "-o", abortObj, filepath.Join(scenarioDir, "scenario.S")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(objcopy, "-O", "binary", abortObj, bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	want, err = os.ReadFile(bin)
	require.NoError(t, err)
	got, err = os.ReadFile(filepath.Join(scenarioDir, "abort.bin"))
	require.NoError(t, err)
	assert.Equal(t, want, got, "testdata/vmxlog/abort.bin is stale: reassemble it (see scenario.S)")
	syms, err := exec.Command(nmTool, obj).Output()
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^0+b3 t host$`, string(syms))
	assert.Regexp(t, `(?m)^0+108 t guest$`, string(syms))
}

// golden compares got with testdata/vmxlog/name (-update-golden rewrites
// it).
func golden(t *testing.T, name, got string) {
	t.Helper()
	p := filepath.Join(scenarioDir, name)
	if *updateGolden {
		require.NoError(t, os.WriteFile(p, []byte(got), 0o644))
	}
	want, err := os.ReadFile(p)
	require.NoError(t, err)
	assert.Equal(t, string(want), got, "%s differs (go test ./cmd/vmxemu -run %s -update-golden rewrites it)", p, t.Name())
}

func TestVMXLogText(t *testing.T) {
	log := filepath.Join(t.TempDir(), "vmx.log")
	r := vmxemu(t, scenarioArgs("-d", "vmx", "-D", log, "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	golden(t, "vmx.txt", string(b))

	// What the SDM says, independently of the golden file.
	text := string(b)
	assert.Regexp(t, `VMPTRLD: VMfailValid \(RFLAGS.ZF=1\), VM-instruction error 11 `, text, "Vol. 3C 31.3 VMPTRLD, Table 31-1")
	assert.Regexp(t, `VMLAUNCH: VM-entry failure, exit reason 33 .*Guest RFLAGS \(0x6820\) = 0x0: .*bit 1 must be 1 \(SDM Vol. 3C 27.3.1.4\)`, text)
	exits := regexp.MustCompile(`rip (0x[0-9a-f]+): VM exit: reason (\d+) \([^)]*\), qualification 0x0, instruction length (\d+); guest RIP (0x[0-9a-f]+), host RIP (0x[0-9a-f]+)`).FindAllStringSubmatch(text, -1)
	require.Len(t, exits, 3)
	want := []struct {
		reason, length int
		rip            uint64
	}{
		{10, 2, scenGuest},             // CPUID 0F A2 (Appendix C: 10)
		{31, 2, scenGuest + 2 + 5},     // RDMSR 0F 32 (31)
		{18, 3, scenGuest + 2 + 5 + 2}, // VMCALL 0F 01 C1 (18)
	}
	for i, w := range want {
		assert.Equal(t, strconv.Itoa(w.reason), exits[i][2], "exit %d reason", i)
		assert.Equal(t, strconv.Itoa(w.length), exits[i][3], "exit %d instruction length", i)
		assert.Equal(t, "0x"+strconv.FormatUint(w.rip, 16), exits[i][4], "exit %d guest RIP", i)
		assert.Equal(t, exits[i][1], exits[i][4], "the event's RIP is the guest's")
		assert.Equal(t, "0x"+strconv.FormatUint(scenHost, 16), exits[i][5], "exit %d host RIP", i)
	}
	assert.Equal(t, 1, strings.Count(text, "VMLAUNCH: VM entry, guest RIP "+"0x"+strconv.FormatUint(scenGuest, 16)))
	assert.Equal(t, 2, strings.Count(text, "VMRESUME: VM entry"))
}

func TestVMXLogJSON(t *testing.T) {
	log := filepath.Join(t.TempDir(), "vmx.jsonl")
	r := vmxemu(t, scenarioArgs("-d", "vmx", "-d-format", "json", "-D", log, "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	golden(t, "vmx.jsonl", string(b))

	var events []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), "every line is a JSON object: %s", sc.Text())
		for _, k := range []string{"item", "event", "cpu", "icount", "rip"} {
			assert.Contains(t, e, k, "every event has %s: %s", k, sc.Text())
		}
		events = append(events, e)
	}
	byEvent := map[string][]map[string]any{}
	for _, e := range events {
		byEvent[e["event"].(string)] = append(byEvent[e["event"].(string)], e)
	}
	require.Len(t, byEvent["vm-entry-failure"], 1)
	f := byEvent["vm-entry-failure"][0]
	check := f["check"].(map[string]any)
	assert.Equal(t, "Guest RFLAGS", check["field"])
	assert.Equal(t, "0x6820", check["encoding"])
	assert.Equal(t, "0x0", check["value"])
	assert.Equal(t, "Vol. 3C 27.3.1.4", check["sdm"])
	x := f["exit"].(map[string]any)
	assert.Equal(t, float64(33), x["reason"])
	assert.Equal(t, true, x["entry_failure"])

	var reasons []float64
	for _, e := range byEvent["vm-exit"] {
		reasons = append(reasons, e["exit"].(map[string]any)["reason"].(float64))
	}
	assert.Equal(t, []float64{10, 31, 18}, reasons)
	assert.Len(t, byEvent["vm-entry"], 3)
	var fails []map[string]any
	for _, e := range byEvent["vmx-insn"] {
		if e["outcome"] != "VMsucceed" {
			fails = append(fails, e)
		}
	}
	require.Len(t, fails, 1)
	assert.Equal(t, "VMPTRLD", fails[0]["insn"])
	assert.Equal(t, "VMfailValid", fails[0]["outcome"])
	assert.Equal(t, float64(11), fails[0]["error"])
}

// The other items: msr, cr, io (text), with values the scenario's code
// gives (its MOV to CR0/CR4 and OUT).
func TestEventLogItems(t *testing.T) {
	r := vmxemu(t, scenarioArgs("-d", "cr,io,msr", "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	// flat64 starts with CR0 = PG|ET|PE and CR4 = PAE (firmware.Mode64);
	// the scenario sets CR0.NE (bit 5) and CR4.VMXE (bit 13). Each MOV to
	// CR is the third instruction of its group: mov rax,crN (3 bytes),
	// or eax,imm8 (3) / bts eax,imm8 (4).
	assert.Contains(t, r.stderr, "cr: cpu 0 icount 2 rip 0x100006: MOV to CR0 0x80000031 (was 0x80000011)\n")
	assert.Contains(t, r.stderr, "cr: cpu 0 icount 5 rip 0x100010: MOV to CR4 0x2020 (was 0x20)\n")
	assert.Contains(t, r.stderr, "io: cpu 0 icount ", "the OUT to isa-debug-exit")
	assert.Regexp(t, `(?m)^io: cpu 0 icount \d+ rip 0x1000fd: OUT port 0xf4 size 4 <- 0x10$`, r.stderr)
	assert.NotContains(t, r.stderr, "msr:", "the guest's RDMSR exits: no RDMSR executes outside non-root operation")
}

// The fault summary: the first fault of each kind, at the end of the run.
func TestFaultSummary(t *testing.T) {
	r := vmxemu(t, scenarioArgs()...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 3, r.stderr)
	assert.Equal(t, "vmxemu: warning: fault summary, the first of each kind (-no-explain silences it):", lines[0])
	assert.Regexp(t, `^vmxemu: warning:   VMfail: CPU 0, icount 15, CS:RIP 0008:0x100054, bytes 0f c7 76 10 \(vmptrld qword ptr \[rsi \+ 0x10\]\): VMPTRLD: VMfailValid .* error 11 `, lines[1])
	assert.Regexp(t, `^vmxemu: warning:   VM-entry failure: CPU 0, icount \d+, CS:RIP 0008:0x1000ae, bytes 0f 01 c2 \(vmlaunch\): .*exit reason 33`, lines[2])

	r = vmxemu(t, scenarioArgs("-no-explain")...)
	assert.Empty(t, r.stderr, "-no-explain silences it")

	// An exception and a triple fault: UD2 under -no-reboot.
	r = vmxemu(t, flat(kernel(t, ud2...), "-no-reboot")...)
	require.Equal(t, cli.ExitTripleFault, r.code)
	assert.Regexp(t, `(?m)^vmxemu: warning:   #UD: CPU 0, icount 0, CS:RIP 0008:0x100000, bytes 0f 0b \(ud2\): #UD`, r.stderr)
	// The flat32 IDT (base 0, limit 0x3ff) holds no gates: delivering #UD
	// raises #GP with the error code of IDT entry 6 (SDM Vol. 3A 6.13:
	// index<<3 | IDT (2) | EXT (1) = 0x33), delivering that #GP a double
	// fault caused by #GP(0x6b) (entry 13), and delivering #DF (entry 8,
	// 0x43) shuts the processor down (6.15).
	assert.Regexp(t, `(?m)^vmxemu: warning:   #GP: CPU 0, icount 0, CS:RIP 0008:0x100000, bytes 0f 0b \(ud2\): #GP\(0x33\): `, r.stderr)
	assert.Regexp(t, `(?m)^vmxemu: warning:   #DF: CPU 0, icount 0, CS:RIP 0008:0x100000, bytes 0f 0b \(ud2\): #DF\(0x0\): a second exception while delivering the first, #GP\(0x6b\)`, r.stderr)
	assert.Regexp(t, `(?m)^vmxemu: warning:   triple fault: CPU 0, icount 0, CS:RIP 0008:0x100000, bytes 0f 0b \(ud2\): triple fault: exception while delivering #DF: #GP\(0x43\)`, r.stderr)
}

// TestVMXAbort: abort.bin's VM-exit MSR-load area names MSR 0x808, which
// no MSR area may load (SDM Vol. 3C 28.6); the failed VM entry loads
// host state and that area (28.8), and the processor aborts (28.7) with
// indicator 4 and shuts down: status 4 under -no-reboot.
func TestVMXAbort(t *testing.T) {
	args := func(extra ...string) []string {
		a := scenarioArgs(extra...)
		for i := range a {
			if a[i] == "-kernel" {
				a[i+1] = filepath.Join(scenarioDir, "abort.bin")
			}
		}
		return a
	}
	log := filepath.Join(t.TempDir(), "vmx.jsonl")
	r := vmxemu(t, args("-no-reboot", "-d", "vmx", "-d-format", "json", "-D", log)...)
	require.Equal(t, cli.ExitTripleFault, r.code, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var last map[string]any
	require.NoError(t, json.Unmarshal([]byte(lines[len(lines)-1]), &last))
	assert.Equal(t, "vmx-abort", last["event"])
	abort := last["abort"].(map[string]any)
	assert.Contains(t, abort["rule"], "VMX abort (indicator 4)")
	assert.Contains(t, abort["rule"], "MSR 0x808")
	assert.Equal(t, "Vol. 3C 28.6, 28.7", abort["sdm"])
	assert.Regexp(t, `(?m)^vmxemu: warning:   VMX abort: CPU 0, icount \d+, CS:RIP 0008:0x[0-9a-f]+, bytes [0-9a-f ]+ \([^)]+\): VMX abort: #GP: VMX abort \(indicator 4\)`, r.stderr)

	r = vmxemu(t, args("-no-reboot", "-no-explain", "-d", "vmx")...)
	assert.Regexp(t, `(?m)^vmx: cpu 0 icount \d+ rip 0x[0-9a-f]+: VMX abort \(indicator 4\): entry 0 of the VM-exit MSR-load area: MSR 0x808: .* \[SDM Vol. 3C 28.6, 28.7\]$`, r.stderr)
}

// -d apic: writes to the local APIC through the xAPIC page and, in x2APIC
// mode, through WRMSR (register offsets: SDM Vol. 3A Table 11-1; MSR
// 800H + offset>>4: 11.12.1.2).
func TestEventLogAPIC(t *testing.T) {
	img := kernel(t,
		0xC7, 0x05, 0xB0, 0x00, 0xE0, 0xFE, 0x00, 0x00, 0x00, 0x00, // 0x100000: mov dword [0xfee000b0],0 (EOI)
		0xC7, 0x05, 0x80, 0x00, 0xE0, 0xFE, 0x20, 0x00, 0x00, 0x00, // 0x10000a: mov dword [0xfee00080],0x20 (TPR)
		0xB9, 0x1B, 0x00, 0x00, 0x00, 0x0F, 0x32, // mov ecx,0x1b; rdmsr (IA32_APIC_BASE)
		0x0D, 0x00, 0x0C, 0x00, 0x00, 0x0F, 0x30, // or eax,0xc00 (EN, EXTD); wrmsr: x2APIC mode
		0xB9, 0x08, 0x08, 0x00, 0x00, 0xB8, 0x30, 0x00, 0x00, 0x00, 0x31, 0xD2, // mov ecx,0x808; mov eax,0x30; xor edx,edx
		0x0F, 0x30, // 0x10002e: wrmsr (TPR)
		0xB8, 0x07, 0x00, 0x00, 0x00, 0xE7, 0xF4, 0xF4) // exit7
	r := vmxemu(t, flat(img, "-d", "apic", "-no-explain")...)
	require.Equal(t, 15, r.code, r.stderr)
	assert.Equal(t, "apic: cpu 0 icount 0 rip 0x100000: write EOI (0xb0) <- 0x0 (xAPIC MMIO)\n"+
		"apic: cpu 0 icount 1 rip 0x10000a: write TPR (0x80) <- 0x20 (xAPIC MMIO)\n"+
		"apic: cpu 0 icount 9 rip 0x10002e: write TPR (0x80) <- 0x30 (x2APIC WRMSR 0x808)\n", r.stderr)
}

// -d all -d-format json: every line is a JSON object, cpu_reset included.
func TestEventLogAllJSON(t *testing.T) {
	log := filepath.Join(t.TempDir(), "all.jsonl")
	r := vmxemu(t, scenarioArgs("-d", "all", "-d-format", "json", "-D", log, "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	items := map[string]bool{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var e map[string]any
		require.NoError(t, json.Unmarshal([]byte(l), &e), "%s", l)
		items[e["item"].(string)] = true
		if e["event"] == "cpu-reset" {
			assert.Equal(t, float64(0), e["cpu"])
			assert.NotEmpty(t, e["why"])
		}
	}
	for _, it := range []string{"cpu_reset", "vmx", "cr", "io"} {
		assert.True(t, items[it], "the scenario logs %s events", it)
	}
}

package main

import (
	"bufio"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
)

// The EPT scenario: testdata/vmxlog/ept.S, a host that maps its guest's
// memory on demand under EPT (four EPT violations, one misconfiguration,
// each followed by INVEPT), then INVVPID and INVEPT with good and bad
// operands; status 33.

// Addresses in ept.S (nm on the object TestEPTScenarioImage assembles).
const (
	eptHost   = scenBase + 0x15d // host:
	eptGuest  = scenBase + 0x21d // guest: four accesses (7, 10, 7, 7 bytes)
	eptWalked = scenBase + 0x23d // walked: vmcall
	eptDone   = scenBase + 0x1dd // done: the host after the VMCALL exit
)

func eptArgs(extra ...string) []string {
	a := scenarioArgs(extra...)
	for i := range a {
		if a[i] == "-kernel" {
			a[i+1] = filepath.Join(scenarioDir, "ept.bin")
		}
	}
	return a
}

// TestEPTScenarioImage: ept.bin is what ept.S assembles to, and its
// symbols are where the tests expect them.
func TestEPTScenarioImage(t *testing.T) {
	as := needTool(t, "as", "the scenario is assembled with GNU as")
	objcopy := needTool(t, "objcopy", "the scenario is assembled with GNU binutils")
	nmTool := needTool(t, "nm", "the scenario's symbols")
	dir := t.TempDir()
	obj, bin := filepath.Join(dir, "e.o"), filepath.Join(dir, "e.bin")
	out, err := exec.Command(as, "--64", "-o", obj, filepath.Join(scenarioDir, "ept.S")).CombinedOutput()
	require.NoError(t, err, "%s", out)
	out, err = exec.Command(objcopy, "-O", "binary", obj, bin).CombinedOutput()
	require.NoError(t, err, "%s", out)
	want, err := os.ReadFile(bin)
	require.NoError(t, err)
	got, err := os.ReadFile(filepath.Join(scenarioDir, "ept.bin"))
	require.NoError(t, err)
	assert.Equal(t, want, got, "testdata/vmxlog/ept.bin is stale: reassemble it (see ept.S)")
	syms, err := exec.Command(nmTool, obj).Output()
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^0+15d t host$`, string(syms))
	assert.Regexp(t, `(?m)^0+21d t guest$`, string(syms))
	assert.Regexp(t, `(?m)^0+23d t walked$`, string(syms))
	assert.Regexp(t, `(?m)^0+1dd t done$`, string(syms))
}

// Exit-qualification bits of an EPT violation, SDM Vol. 3C Table 28-7
// (written out here, not taken from package ept).
const (
	qRead, qWrite, qFetch         = 1 << 0, 1 << 1, 1 << 2
	qReadable, qWritable, qExec   = 1 << 3, 1 << 4, 1 << 5
	qLinearValid, qTranslation    = 1 << 7, 1 << 8
	qUser, qRW, qNX, qNMIUnblock_ = 1 << 9, 1 << 10, 1 << 11, 1 << 12
)

func TestEPTLogText(t *testing.T) {
	log := filepath.Join(t.TempDir(), "ept.log")
	r := vmxemu(t, eptArgs("-d", "ept", "-D", log, "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	golden(t, "ept.txt", string(b))
	text := string(b)
	// Independently of the golden file: each exit's qualification as
	// Table 28-7 gives it for the access ept.S makes, and the rule.
	for _, w := range []string{
		// mov eax, [0x1a0000]: a data read of a not-present page.
		`EPT violation at guest-physical 0x1a0000, guest-linear 0x1a0000: qualification 0x181 (access read; entry no access; guest-linear address valid, translation): EPT PTE 0x0 at 0x193d00 is not present`,
		// mov dword [0x1a1000], 1: a write to a read-only page (bit 3 readable).
		`EPT violation at guest-physical 0x1a1000, guest-linear 0x1a1000: qualification 0x18a (access write; entry read; guest-linear address valid, translation)`,
		`EPT misconfiguration at guest-physical 0x1a2000: EPT PTE 0x1a2032 at 0x193d10: bit 1 (write) is 1 while bit 0 (read) is 0 (SDM Vol. 3C 29.3.3.1)`,
		// The guest's PD at guest-physical 0x1c0000: a paging-structure access (bit 8 clear).
		`EPT violation at guest-physical 0x1c0000, guest-linear 0x40000000: qualification 0x81 (access read; entry no access; guest-linear address valid, paging-structure entry)`,
		`EPT violation at guest-physical 0x200000, guest-linear 0x40000000: qualification 0x181 (access read; entry no access; guest-linear address valid, translation): EPT PDE 0x0 at 0x192008 is not present`,
		`INVEPT single-context (type 1), EPTP 0x19001e: VMsucceed`,
		`INVEPT all-context (type 2): VMsucceed`,
		`INVVPID individual-address (type 0), VPID 1, linear address 0x1a0000: VMsucceed`,
		`INVVPID single-context (type 1), VPID 0: VMfailValid (RFLAGS.ZF=1), VM-instruction error 28 `,
		`INVEPT unsupported (type 3): VMfailValid (RFLAGS.ZF=1), VM-instruction error 28 `,
	} {
		assert.Contains(t, text, w)
	}
	assert.Equal(t, uint64(qRead|qLinearValid|qTranslation), uint64(0x181))
	assert.Equal(t, uint64(qWrite|qReadable|qLinearValid|qTranslation), uint64(0x18a))
	assert.Equal(t, uint64(qRead|qLinearValid), uint64(0x81))
	assert.Contains(t, text, "ept: cpu 0 icount ", "one line per event with CPU and instruction count")
	assert.Equal(t, 13, strings.Count(text, "\n"), "5 EPT exits, the INVEPT after each, 3 INVVPID/INVEPT at the end: %s", text)
}

func TestEPTLogJSON(t *testing.T) {
	log := filepath.Join(t.TempDir(), "ept.jsonl")
	r := vmxemu(t, eptArgs("-d", "ept", "-d-format", "json", "-D", log, "-no-explain")...)
	require.Equal(t, 0x10<<1|1, r.code, r.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	golden(t, "ept.jsonl", string(b))
	var viol, mis, inv []map[string]any
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		var e map[string]any
		require.NoError(t, json.Unmarshal(sc.Bytes(), &e), sc.Text())
		assert.Equal(t, "ept", e["item"])
		for _, k := range []string{"cpu", "icount", "rip", "ept"} {
			assert.Contains(t, e, k)
		}
		switch e["event"] {
		case "ept-violation":
			viol = append(viol, e)
		case "ept-misconfig":
			mis = append(mis, e)
		case "invept", "invvpid":
			inv = append(inv, e)
		default:
			t.Errorf("unexpected event %v", e["event"])
		}
	}
	require.Len(t, viol, 4)
	require.Len(t, mis, 1)
	require.Len(t, inv, 8)
	bits := func(q uint64) map[string]any {
		return map[string]any{"read": q&qRead != 0, "write": q&qWrite != 0, "fetch": q&qFetch != 0,
			"readable": q&qReadable != 0, "writable": q&qWritable != 0, "executable": q&qExec != 0, "user_executable": q&(1<<6) != 0, // bit 6: MBEC only
			"linear_valid": q&qLinearValid != 0, "translation": q&qTranslation != 0,
			"user": q&qUser != 0, "read_write": q&qRW != 0, "execute_disable": q&qNX != 0, "nmi_unblocking": q&qNMIUnblock_ != 0}
	}
	for i, w := range []struct {
		gpa, gla, rip string
		qual          uint64
	}{
		{"0x1a0000", "0x1a0000", "0x10021d", qRead | qLinearValid | qTranslation},
		{"0x1a1000", "0x1a1000", "0x100224", qWrite | qReadable | qLinearValid | qTranslation},
		{"0x1c0000", "0x40000000", "0x100236", qRead | qLinearValid},
		{"0x200000", "0x40000000", "0x100236", qRead | qLinearValid | qTranslation},
	} {
		e := viol[i]["ept"].(map[string]any)
		assert.Equal(t, w.gpa, e["gpa"], "violation %d", i)
		assert.Equal(t, w.gla, e["gla"], "violation %d", i)
		assert.Equal(t, w.rip, viol[i]["rip"], "violation %d: the guest RIP of the access", i)
		assert.Equal(t, bits(w.qual), e["qual"], "violation %d: Table 28-7", i)
		assert.Contains(t, viol[i]["why"], "(SDM Vol. 3C 29.3.3.2)")
	}
	m := mis[0]["ept"].(map[string]any)
	assert.Equal(t, "0x1a2000", m["gpa"])
	assert.NotContains(t, m, "qualification", "a misconfiguration has no qualification (SDM 28.2.1)")
	last := inv[len(inv)-1]
	assert.Equal(t, "invept", last["event"])
	assert.Equal(t, "VMfailValid", last["outcome"])
	assert.Equal(t, float64(28), last["error"], "SDM Vol. 3C Table 31-1: 28 invalid operand to INVEPT/INVVPID")
	assert.Equal(t, float64(3), last["ept"].(map[string]any)["type"])
	vp := inv[len(inv)-3]["ept"].(map[string]any)
	assert.Equal(t, "individual-address", vp["type_name"])
	assert.Equal(t, float64(1), vp["vpid"])
	assert.Equal(t, "0x1a0000", vp["linear"])
}

// TestWalkFlag: -break-on at the first EPT violation with -walk gla
// explains the exit's guest-linear address in the guest's context: the
// guest's 4-level walk from guest CR3 0x1b0000 (entries at CR3 | lin[47:39]
// << 3 ..., SDM Vol. 3A 4.5.4), each entry's EPT walk, and the final
// guest-physical address refused by the EPT PTE at PT 0x193000 + 0x1a0 * 8
// (Vol. 3C 29.3.2) with the qualification of the exit itself.
func TestWalkFlag(t *testing.T) {
	r := vmxemu(t, eptArgs("-no-explain", "-break-on", "vmexit=ept-violation", "-walk", "gla")...)
	require.Equal(t, cli.ExitBreak, r.code, r.stderr)
	i := strings.Index(r.stderr, "vmxemu: -walk:\n")
	require.GreaterOrEqual(t, i, 0, r.stderr)
	w := r.stderr[i:]
	for _, s := range []string{
		"gla: the guest-linear address of the VM exit (reason 48, EPT violation)\n",
		"walk of linear address 0x1a0000 for a supervisor read (CPU 0, the guest of VMCS 0x181000)\n",
		"paging: 4-level (CR0 0x80000031, CR3 0x1b0000, ",
		"PML4E[0] at guest-physical 0x1b0000 = ",
		"  EPT PTE   [432] at 0x193d80 = ",
		"PDPTE[0] at guest-physical 0x1b1000 = ",
		"PDE[0] at guest-physical 0x1b2000 = ",
		"linear 0x1a0000 -> guest-physical 0x1a0000 (2 MiB page; ",
		"  EPT PTE   [416] at 0x193d00 = 0x0000000000000000  not present\n",
		"fails: EPT violation (VM exit, basic reason 48), guest-physical 0x1a0000, exit qualification 0x181 ",
	} {
		assert.Contains(t, w, s)
	}
	assert.Contains(t, r.stderr, "qualification 0x181, guest-linear address 0x1a0000", "the exit the explainer predicted")

	// An explicit address and access, after the -break-on vmexit=vmcall
	// stop: the walk that the guest made through the two violations.
	r = vmxemu(t, eptArgs("-no-explain", "-break-on", "vmexit=vmcall", "-walk", "40000000,write")...)
	require.Equal(t, cli.ExitBreak, r.code, r.stderr)
	assert.Contains(t, r.stderr, "walk of linear address 0x40000000 for a supervisor write (CPU 0, the guest of VMCS 0x181000)\n")
	assert.Contains(t, r.stderr, "PDE[0] at guest-physical 0x1c0000 = ")
	assert.Contains(t, r.stderr, "  EPT PDE   [  1] at 0x192008 = 0x00000000002000b7  read+write+execute  -> page 0x200000, WB\n")
	assert.Contains(t, r.stderr, "result: host-physical 0x200000\n")

	// Usage errors.
	r = vmxemu(t, eptArgs("-walk", "gla")...)
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Contains(t, r.stderr, "-walk gla: explains a walk where -break-on or -magic-break stops the run")
	r = vmxemu(t, eptArgs("-break-on", "gp", "-walk", "zz")...)
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Contains(t, r.stderr, `"zz" is not an address`)
}

//go:build capstone

package capstone

import (
	"bufio"
	"fmt"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/conformance"
)

// allowEntry is a line of capstone-allowlist.txt:
//
//	class | key pattern ('*' wildcard) | reason
type allowEntry struct {
	class, pattern, reason string
	line, used             int
}

func loadAllow(t *testing.T) []*allowEntry {
	t.Helper()
	f, err := os.Open("capstone-allowlist.txt")
	require.NoError(t, err)
	defer f.Close()
	var es []*allowEntry
	sc := bufio.NewScanner(f)
	n := 0
	for sc.Scan() {
		n++
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		p := strings.SplitN(l, "|", 3)
		require.Len(t, p, 3, "capstone-allowlist.txt:%d: want class | key pattern | reason", n)
		e := &allowEntry{class: strings.TrimSpace(p[0]), pattern: strings.TrimSpace(p[1]), reason: strings.TrimSpace(p[2]), line: n}
		require.NotEmpty(t, e.reason, "capstone-allowlist.txt:%d: a reason is required", n)
		es = append(es, e)
	}
	require.NoError(t, sc.Err())
	return es
}

type group struct {
	class, key string
	count      int
	example    []byte
	v          Verdict
}

type groups map[[2]string]*group

func (g groups) add(v Verdict, code []byte) {
	k := [2]string{v.Class, v.Key}
	if x, ok := g[k]; ok {
		x.count++
		return
	}
	g[k] = &group{class: v.Class, key: v.Key, count: 1, example: code, v: v}
}

// report fails for every group of a failing class that the allow-list
// does not cover, and logs a summary of the rest.
func report(t *testing.T, g groups, allow []*allowEntry, failing map[string]bool) {
	t.Helper()
	var keys [][2]string
	for k := range g {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	var bad, allowed []string
	var info []*group
	perClass := map[string]int{}
	for _, k := range keys {
		gr := g[k]
		perClass[gr.class] += gr.count
		line := fmt.Sprintf("%-16s %-22s %6d×  e.g. % x: vmxemu len %d, capstone %q %q len %d",
			gr.class, gr.key, gr.count, gr.example[:max(gr.v.VmxLen, gr.v.CapLen, 1)], gr.v.VmxLen, gr.v.Mnemonic, gr.v.OpStr, gr.v.CapLen)
		var hit *allowEntry
		for _, e := range allow {
			if e.class == gr.class && conformance.GlobMatch(e.pattern, gr.key) {
				hit = e
				break
			}
		}
		switch {
		case hit != nil:
			hit.used++
			allowed = append(allowed, line+fmt.Sprintf("  [capstone-allowlist.txt:%d]", hit.line))
		case failing[gr.class]:
			bad = append(bad, line)
		default:
			info = append(info, gr)
		}
	}
	sort.Slice(info, func(i, j int) bool { return info[i].count > info[j].count })
	var top []string
	for i, gr := range info {
		if i == 25 {
			top = append(top, fmt.Sprintf("... and %d more groups", len(info)-25))
			break
		}
		top = append(top, fmt.Sprintf("%-16s %-22s %6d×  e.g. % x (capstone: %s %s)", gr.class, gr.key, gr.count, gr.example[:max(gr.v.CapLen, 1)], gr.v.Mnemonic, gr.v.OpStr))
	}
	if len(top) > 0 {
		t.Logf("not compared (vmxemu's decoder faults: instructions it does not implement, or invalid ones), largest groups:\n%s", strings.Join(top, "\n"))
	}
	t.Logf("disagreements per class: %v", perClass)
	if len(allowed) > 0 {
		t.Logf("allow-listed groups:\n%s", strings.Join(allowed, "\n"))
	}
	if len(bad) > 0 {
		t.Errorf("decoder disagreements not in capstone-allowlist.txt:\n%s", strings.Join(bad, "\n"))
	}
}

// TestGeneratedCases decodes every conformance case (64-bit) with both
// decoders: lengths must agree and Capstone's mnemonic must be the form's.
func TestGeneratedCases(t *testing.T) {
	es, err := Open()
	require.NoError(t, err)
	defer es.Close()
	t.Logf("capstone %s", es.Version())
	allow := loadAllow(t)
	g := groups{}
	cases := conformance.Generate(conformance.DefaultSeed, conformance.DefaultPerForm)
	for _, c := range cases {
		code := append(append([]byte(nil), c.Code...), make([]byte, 16)...)
		v := es.Compare(code, 64)
		if v.Class == "" && v.Mnemonic != "" {
			if m := MnemonicOf(c.Form); m != "" && !strings.Contains(v.Mnemonic, m) {
				v.Class = ClassMnemonic
			}
		}
		if v.Class != "" {
			v.Key = c.Form
			g.add(v, code)
		}
	}
	t.Logf("%d cases", len(cases))
	report(t, g, allow, map[string]bool{ClassLen: true, ClassCapInvalid: true, ClassMnemonic: true})
}

// TestVMX decodes the VMX instructions: vmxemu's decoder must either
// reject them (#UD, a known gap until VMX is implemented) or agree with
// Capstone on the length.
func TestVMX(t *testing.T) {
	es, err := Open()
	require.NoError(t, err)
	defer es.Close()
	names := []string{}
	vmx := VMXEncodings()
	for n := range vmx {
		names = append(names, n)
	}
	sort.Strings(names)
	var gaps []string
	for _, n := range names {
		for _, bits := range []int{32, 64} {
			v := es.Compare(vmx[n], bits)
			require.NotEmpty(t, v.Mnemonic, "capstone does not decode %s (% x) in %d-bit mode", n, vmx[n][:6], bits)
			switch v.Class {
			case ClassVmxemuUD:
				gaps = append(gaps, fmt.Sprintf("%d-bit %-18s capstone %s %s (%d bytes): vmxemu's decoder raises #UD", bits, n, v.Mnemonic, v.OpStr, v.CapLen))
			case "":
			default:
				t.Errorf("%d-bit %s: %s: vmxemu %d bytes, capstone %s %s %d bytes", bits, n, v.Class, v.VmxLen, v.Mnemonic, v.OpStr, v.CapLen)
			}
		}
	}
	if len(gaps) > 0 {
		t.Logf("known gaps: vmxemu's decoder does not decode these VMX instructions yet:\n%s", strings.Join(gaps, "\n"))
	}
}

// TestCorpus decodes random and structured byte strings in 16-, 32- and
// 64-bit mode (50,000 by default, 1,000,000 with VMXEMU_CAPSTONE_FULL=1).
// Length disagreements and encodings only vmxemu accepts fail unless
// allow-listed; encodings only Capstone accepts (vmxemu's decoder faults:
// unimplemented or invalid) are summarised.
func TestCorpus(t *testing.T) {
	n := 50_000
	if os.Getenv("VMXEMU_CAPSTONE_FULL") != "" {
		n = 1_000_000
	}
	es, err := Open()
	require.NoError(t, err)
	defer es.Close()
	allow := loadAllow(t)
	g := groups{}
	total := 0
	for _, bits := range []int{16, 32, 64} {
		for _, code := range Corpus(7, n/3+1, bits) {
			total++
			if v := es.Compare(code, bits); v.Class != "" {
				g.add(v, code)
			}
		}
	}
	t.Logf("%d byte strings", total)
	report(t, g, allow, map[string]bool{ClassLen: true, ClassCapInvalid: true})
	var stale []string
	for _, e := range allow {
		if e.used == 0 && n == 1_000_000 {
			stale = append(stale, fmt.Sprintf("capstone-allowlist.txt:%d %s | %s", e.line, e.class, e.pattern))
		}
	}
	if len(stale) > 0 {
		t.Logf("allow-list entries unused by this corpus:\n%s", strings.Join(stale, "\n"))
	}
}

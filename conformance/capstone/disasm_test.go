//go:build capstone

package capstone

import (
	"bufio"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"os"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/conformance"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/disasm"
)

// The text cross-check of package disasm: vmxemu's own Intel-syntax
// formatter must print what Capstone 4 prints (mnemonic and operands)
// for every byte string both decode to the same length, except the
// reviewed Capstone errors of disasm-allowlist.txt. The corpus is every
// VMX instruction in each mode with several operand forms, plus every
// opcode of the one-byte and 0F maps with a spread of ModRM, SIB,
// displacement and prefix bytes.

// vmxCorpus lists each VMX instruction with register, SIB, displacement,
// RIP-relative and segment-override forms.
var vmxCorpus = []string{
	"f30fc730", "f30fc73424", "f30fc77508", "f30fc73510000000", "64f30fc730", // VMXON m64
	"660fc730", "660fc7742410", "660fc735f0ffffff", "26660fc730", // VMCLEAR
	"0fc730", "0fc7742408", "0fc73500100000", // VMPTRLD
	"0fc738", "0fc77c24f8", "0fc73d00000000", // VMPTRST
	"0f78c8", "0f7808", "0f784c2408", "0f780d00100000", "0f78d1", // VMREAD r/m, r
	"0f79c8", "0f7908", "0f794c2408", "0f790d00100000", "0f79d1", // VMWRITE r, r/m
	"0f01c1", "0f01c2", "0f01c3", "0f01c4", "0f01d4", // VMCALL VMLAUNCH VMRESUME VMXOFF VMFUNC
	"660f388008", "660f38800c24", "660f38804d10", "660f38800500100000", // INVEPT
	"660f388108", "660f38810c24", "660f38814d10", "660f38810500100000", // INVVPID
}

var vmxCorpus64 = []string{
	"f3410fc730", "450f78c8", "4c0f79c0", "4c0f7800", "66410f388000", "66450f388100", "660fc7742408",
	// REX.W forms whose mnemonic changes (SDM Vol. 2: FXSAVE64, FXRSTOR64,
	// XSAVE64, XRSTOR64, XSAVEC64, XSAVES64, XRSTORS64), which the random
	// opcode rows below do not reach.
	"480fae07", "480fae0f", "480fae27", "480fae2f", "480fc71f", "480fc727", "480fc72f",
}

// textRule is a "text:" line of disasm-allowlist.txt: a regular
// expression over `vmxemu "TEXT" capstone "TEXT"`, for Capstone errors
// that no opcode key delimits (an operand form rather than an opcode).
type textRule struct {
	re  *regexp.Regexp
	why string
}

func loadDisasmAllow(t *testing.T) map[string]string {
	t.Helper()
	f, err := os.Open("disasm-allowlist.txt")
	require.NoError(t, err)
	defer f.Close()
	allow := map[string]string{}
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		if strings.HasPrefix(l, "text:") {
			continue // loadTextRules
		}
		k, why, ok := strings.Cut(l, "|")
		require.True(t, ok, "disasm-allowlist.txt:%d: want key pattern | reason", n)
		require.NotEmpty(t, strings.TrimSpace(why), "disasm-allowlist.txt:%d: a reason is required", n)
		allow[strings.TrimSpace(k)] = strings.TrimSpace(why)
	}
	return allow
}

func loadTextRules(t *testing.T) []textRule {
	t.Helper()
	data, err := os.ReadFile("disasm-allowlist.txt")
	require.NoError(t, err)
	var rs []textRule
	for n, l := range strings.Split(string(data), "\n") {
		if !strings.HasPrefix(l, "text:") {
			continue
		}
		i := strings.LastIndex(l, " | ")
		require.True(t, i > 0, "disasm-allowlist.txt:%d: want text: REGEXP | reason", n+1)
		re, err := regexp.Compile(strings.TrimSpace(l[len("text:"):i]))
		require.NoError(t, err, "disasm-allowlist.txt:%d", n+1)
		rs = append(rs, textRule{re, strings.TrimSpace(l[i+3:])})
	}
	return rs
}

func allowed(allow map[string]string, key string) bool {
	for p := range allow {
		if conformance.GlobMatch(p, key) {
			return true
		}
	}
	return false
}

// legacyPrefixes lists the legacy and REX prefixes in front of the
// opcode, in order ("f2 3e").
func legacyPrefixes(b []byte, bits int) string {
	var ps []string
	for _, c := range b {
		switch {
		case c == 0x66 || c == 0x67 || c == 0xF0 || c == 0xF2 || c == 0xF3 || c == 0x26 || c == 0x2E || c == 0x36 || c == 0x3E || c == 0x64 || c == 0x65:
		case bits == 64 && c&0xF0 == 0x40:
		default:
			return strings.Join(ps, " ")
		}
		ps = append(ps, fmt.Sprintf("%02x", c))
	}
	return strings.Join(ps, " ")
}

// textOf is an instruction's text without the resolved-address comment
// (Capstone 4 does not resolve RIP-relative operands).
func textOf(in disasm.Inst) string {
	return strings.TrimSpace(in.Mnemonic + " " + in.Operands)
}

func TestDisasmAgreesWithCapstone(t *testing.T) {
	cs, err := disasm.NewCapstone()
	require.NoError(t, err)
	defer cs.Close()
	own := disasm.New()
	allow := loadDisasmAllow(t)
	decAllow := loadAllow(t)
	rules := loadTextRules(t)

	type miss struct {
		key, code, own, cap string
		n                   int
	}
	misses := map[string]*miss{}
	unformatted := map[string]int{}
	compared := 0
	check := func(code []byte, bits int, mustAgree bool) {
		d, ok := cpu.Decode(code, bits)
		if !ok {
			return
		}
		c, _ := cs.Disasm(code, 0x1000, bits)
		o, _ := own.Disasm(code, 0x1000, bits)
		key := fmt.Sprintf("%d:%s [%s]", bits, OpcodeKey(code, bits), legacyPrefixes(code[:min(len(code), o.Len)], bits))
		if c.Bad || c.Len != o.Len || d.Fault != nil && !mustAgree {
			// A VMX instruction Capstone rejects must be one of the
			// decoder cross-check's reviewed Capstone errors (the
			// INVEPT/INVVPID 16-bit entry of capstone-allowlist.txt).
			if mustAgree && c.Bad {
				for _, e := range decAllow {
					if e.class == ClassCapInvalid && conformance.GlobMatch(e.pattern, key) {
						e.used++
						return
					}
				}
			}
			require.False(t, mustAgree && !allowed(allow, key), "%s %x: Capstone %q len %d, vmxemu %q len %d", key, code, textOf(c), c.Len, textOf(o), o.Len)
			return // lengths are the decoder cross-check's business (capstone_test.go)
		}
		if o.Bad && !mustAgree {
			unformatted[OpcodeKey(code, bits)]++ // no form yet (TestFormsCover lists them)
			return
		}
		compared++
		if textOf(c) == textOf(o) || allowed(allow, key) {
			return
		}
		pair := fmt.Sprintf("vmxemu %q capstone %q", textOf(o), textOf(c))
		for _, r := range rules {
			if r.re.MatchString(pair) {
				return
			}
		}
		m := misses[key]
		if m == nil {
			m = &miss{key: key, code: hex.EncodeToString(code[:o.Len]), own: textOf(o), cap: textOf(c)}
			misses[key] = m
		}
		m.n++
	}
	for _, bits := range []int{16, 32, 64} {
		corpus := vmxCorpus
		if bits == 64 {
			corpus = append(corpus, vmxCorpus64...)
		}
		for _, h := range corpus {
			b, err := hex.DecodeString(h)
			require.NoError(t, err)
			check(append(b, 0, 0, 0, 0, 0, 0, 0, 0), bits, true)
		}
	}
	rng := rand.New(rand.NewPCG(16, 2026))
	prefixes := [][]byte{nil, nil, nil, {0x66}, {0x67}, {0xF3}, {0xF2}, {0xF0}, {0x2E}, {0x64}, {0x48}, {0x41}, {0x4C}, {0x66, 0x48}}
	for _, bits := range []int{16, 32, 64} {
		for m := 0; m < 2; m++ {
			for op := 0; op < 256; op++ {
				if m == 0 && op == 0x0F {
					continue
				}
				for k := 0; k < 24; k++ {
					var code []byte
					if p := prefixes[rng.IntN(len(prefixes))]; p != nil && (bits == 64 || p[0]&0xF0 != 0x40) {
						code = append(code, p...)
					}
					if m == 1 {
						code = append(code, 0x0F)
					}
					code = append(code, byte(op))
					for i := 0; i < 10; i++ {
						code = append(code, byte(rng.UintN(256)))
					}
					check(code, bits, false)
				}
			}
		}
	}
	keys := make([]string, 0, len(misses))
	for k := range misses {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var report strings.Builder
	for _, k := range keys {
		m := misses[k]
		fmt.Fprintf(&report, "%-22s x%-3d %-24s vmxemu %-40q capstone %q\n", k, m.n, m.code, m.own, m.cap)
	}
	t.Logf("compared %d instructions with Capstone %s; printed as (bad) where Capstone decodes (reserved x87 aliases, TestFormsCover): %v", compared, cs.Name(), unformatted)
	for k := range unformatted {
		require.True(t, strings.HasPrefix(k, "x87 "), "%s: vmxemu prints (bad) where Capstone decodes; only the reserved x87 cells of SDM Vol. 2D Tables A-8 to A-22 may", k)
	}
	require.Empty(t, keys, "vmxemu's formatter and Capstone disagree (fix the formatter, or add a reviewed Capstone error to disasm-allowlist.txt):\n%s", report.String())
}

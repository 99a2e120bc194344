package conformance

import (
	"bufio"
	"crypto/sha256"
	"encoding/binary"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
)

var updateUndefined = flag.Bool("update-undefined", false, "rewrite testdata/undefined-intel.golden from the interpreter (sources are kept by form and models)")

const undefinedGolden = "testdata/undefined-intel.golden"

// undefinedPerForm is the number of generated cases per form the pin runs:
// enough to exercise every operand size, count and zero/non-zero source the
// generator varies.
const undefinedPerForm = 64

// modelLeaves turns a CPU model's CPUID leaves into the replay's.
func modelLeaves(m *msr.Model) []Leaf {
	out := make([]Leaf, 0, len(m.CPUID))
	for _, l := range m.CPUID {
		out = append(out, Leaf{Leaf: l.Leaf, Sub: l.Subleaf, EAX: l.EAX, EBX: l.EBX, ECX: l.ECX, EDX: l.EDX})
	}
	return out
}

// undefinedRow is what the interpreter does with one form's undefined
// results on one group of models.
type undefinedRow struct {
	form, undef, observed, digest, models, source string
}

func (r undefinedRow) line() string {
	return strings.Join([]string{r.form, r.undef, r.observed, r.digest, r.models, r.source}, " | ")
}

// observeUndefined runs every generated case with undefined results on the
// interpreter under leaves and summarises, per form, the undefined flags
// (each one "=0", "=1" or "computed" over all cases) and registers, with a
// digest of every case's undefined bits and registers, so any change to
// them shows.
func observeUndefined(t *testing.T, leaves []Leaf, cases []*Case) map[string][3]string {
	type acc struct {
		undef    uint64
		ugpr     uint16
		ones     uint64 // undefined flag bits seen 1
		zeros    uint64 // seen 0
		changed  uint64 // seen different from the input flag
		gprSame  bool   // undefined registers always kept their input
		gprCases int
		h        []byte
	}
	byForm := map[string]*acc{}
	r := NewReplayer(leaves)
	for _, c := range cases {
		if c.Undef == 0 && c.UndefGPR == 0 {
			continue
		}
		got, err := r.Run(c)
		require.NoError(t, err, "%s", c.Form)
		a := byForm[c.Form]
		if a == nil {
			a = &acc{gprSame: true}
			byForm[c.Form] = a
		}
		a.undef |= c.Undef
		a.ugpr |= c.UndefGPR
		if got.Vector >= 0 {
			// A fault leaves the destination and flags as they were; not
			// an undefined result.
			a.h = binary.LittleEndian.AppendUint64(a.h, uint64(got.Vector))
			continue
		}
		u := got.RFLAGS & c.Undef
		a.ones |= u
		a.zeros |= c.Undef &^ u
		a.changed |= (u ^ c.In.RFLAGS) & c.Undef
		a.h = binary.LittleEndian.AppendUint64(a.h, u)
		for i := 0; i < 16; i++ {
			if c.UndefGPR&(1<<i) != 0 {
				a.gprCases++
				if got.GPR[i] != c.In.GPR[i] {
					a.gprSame = false
				}
				a.h = binary.LittleEndian.AppendUint64(a.h, got.GPR[i])
			}
		}
	}
	out := map[string][3]string{}
	for form, a := range byForm {
		var obs []string
		for b := 0; b < 12; b++ {
			bit := uint64(1) << b
			if a.undef&bit == 0 {
				continue
			}
			name := FlagString(bit)
			switch {
			case a.ones&bit == 0 && a.zeros&bit == 0:
				obs = append(obs, name+" not reached")
			case a.ones&bit == 0:
				obs = append(obs, name+"=0")
			case a.zeros&bit == 0:
				obs = append(obs, name+"=1")
			case a.changed&bit == 0:
				obs = append(obs, name+" unchanged")
			default:
				obs = append(obs, name+" computed")
			}
		}
		if a.ugpr != 0 {
			switch {
			case a.gprCases == 0:
				obs = append(obs, "registers not reached")
			case a.gprSame:
				obs = append(obs, "registers unchanged")
			default:
				obs = append(obs, "registers written")
			}
		}
		undef := FlagString(a.undef)
		if a.ugpr != 0 {
			var regs []string
			for i := 0; i < 16; i++ {
				if a.ugpr&(1<<i) != 0 {
					regs = append(regs, gprName(i))
				}
			}
			undef = strings.TrimSpace(undef + " " + strings.Join(regs, ","))
		}
		sum := sha256.Sum256(a.h)
		out[form] = [3]string{undef, strings.Join(obs, " "), fmt.Sprintf("%x", sum[:6])}
	}
	return out
}

func readUndefinedGolden(t *testing.T) []undefinedRow {
	f, err := os.Open(undefinedGolden)
	if os.IsNotExist(err) && *updateUndefined {
		return nil
	}
	require.NoError(t, err)
	defer f.Close()
	var rows []undefinedRow
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		p := strings.Split(line, " | ")
		require.Len(t, p, 6, "%s: %q", undefinedGolden, line)
		rows = append(rows, undefinedRow{p[0], p[1], p[2], p[3], p[4], p[5]})
	}
	require.NoError(t, sc.Err())
	return rows
}

// TestUndefinedResultsPinned pins vmxemu's own results where the SDM
// leaves flags or registers undefined, on every shipped (Intel) model:
// testdata/undefined-intel.golden has one row per instruction form (and
// group of models that agree) with the undefined flags and registers, what
// vmxemu leaves in each over the generated cases, a digest of every case's
// undefined bits, and the source of the Intel behaviour vmxemu models. A
// change to any undefined result — AF=1 after AND, say — changes a row and
// fails; a deliberate change is made with -update-undefined and a source
// for the new behaviour. The AMD trace's differences from these results
// are listed per instruction group in allowlist.txt.
func TestUndefinedResultsPinned(t *testing.T) {
	models, err := msr.Models()
	require.NoError(t, err)
	cases := Generate(DefaultSeed, undefinedPerForm)
	type key struct{ form, undef, observed, digest string }
	byKey := map[key][]string{}
	for _, m := range models {
		for form, o := range observeUndefined(t, modelLeaves(m), cases) {
			k := key{form, o[0], o[1], o[2]}
			byKey[k] = append(byKey[k], m.Name)
		}
	}
	var got []undefinedRow
	perForm := map[string]int{}
	for k := range byKey {
		perForm[k.form]++
	}
	for k, ms := range byKey {
		sort.Strings(ms)
		who := strings.Join(ms, ",")
		if perForm[k.form] == 1 && len(ms) == len(models) {
			who = "all"
		}
		got = append(got, undefinedRow{form: k.form, undef: k.undef, observed: k.observed, digest: k.digest, models: who})
	}
	sort.Slice(got, func(i, j int) bool {
		if got[i].form != got[j].form {
			return got[i].form < got[j].form
		}
		return got[i].models < got[j].models
	})

	old := readUndefinedGolden(t)
	source := map[string]string{}
	for _, r := range old {
		source[r.form+" | "+r.models] = r.source
	}
	if *updateUndefined {
		var b strings.Builder
		b.WriteString(undefinedHeader)
		for i := range got {
			got[i].source = source[got[i].form+" | "+got[i].models]
			if got[i].source == "" {
				got[i].source = "TODO: source"
			}
			b.WriteString(got[i].line() + "\n")
		}
		require.NoError(t, os.WriteFile(filepath.FromSlash(undefinedGolden), []byte(b.String()), 0o644))
		old = readUndefinedGolden(t)
	}
	var want []string
	for _, r := range old {
		require.NotEmpty(t, r.source, "%s: every row names its source", r.form)
		require.NotContains(t, r.source, "TODO", "%s: every row names its source", r.form)
		r.source = ""
		want = append(want, r.line())
	}
	var have []string
	for _, r := range got {
		have = append(have, r.line())
	}
	require.Equal(t, want, have, "vmxemu's undefined results changed (see %s; -update-undefined after sourcing the new behaviour)", undefinedGolden)
}

const undefinedHeader = `# vmxemu's results where the SDM leaves flags or registers undefined, on
# the shipped Intel models (TestUndefinedResultsPinned). Columns:
#   form | undefined flags and registers (over the generated cases) |
#   what vmxemu leaves there (=0, =1, unchanged from before the
#   instruction, computed from the operands; registers unchanged or written) | digest of every case's undefined bits and
#   registers (generator seed 20260501, 64 cases per form) | models | source
#   of the Intel behaviour.
# Sources: sandpile.org/x86/flags.htm ("undefined integer FLAGS behavior",
# measured per core: P5, P6, P4) is the published measurement; Bochs
# (cpu/*.cc lazy flags) and QEMU (target/i386 cc_helper, CC_OP_*) are
# secondary. Regenerate with: go test ./conformance -run
# TestUndefinedResultsPinned -update-undefined (sources are kept by form and models).
`

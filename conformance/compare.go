package conformance

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Mismatch classes, from most to least serious. A case gets the first
// class that applies.
const (
	ClassHarness    = "harness"     // the replay could not run the case (panic, no exception delivered)
	ClassException  = "exception"   // vector, error code or CR2 differ
	ClassPFKernel   = "pf-kernel"   // #PF on a kernel-half address: only the error code's P bit differs
	ClassFaultRF    = "fault-rf"    // only RFLAGS.RF in the exception frame differs
	ClassPFWrite    = "pf-write"    // #PF: only the error code's W/R bit differs
	ClassRIP        = "rip"         // RIP differs
	ClassGPR        = "gpr"         // a register the SDM defines differs
	ClassFlags      = "flags"       // an RFLAGS bit the SDM defines differs
	ClassMem        = "mem"         // the memory window differs
	ClassUndefGPR   = "undef-gpr"   // only registers the SDM leaves undefined (or model specific) differ
	ClassUndefFlags = "undef-flags" // only RFLAGS bits the SDM leaves undefined differ
)

// Diff compares the interpreter's output with the recorded one and returns
// the mismatch class ("" when they agree) and a description.
func Diff(c *Case, got *Output, runErr error) (string, string) {
	want := c.Out
	if runErr != nil {
		return ClassHarness, runErr.Error()
	}
	if want.Vector == 14 && got.Vector == 14 && want.CR2 == got.CR2 && want.Err != got.Err {
		d := want.Err ^ got.Err
		if want.CR2 >= 0xFFFF800000000000 && d&1 != 0 {
			if d == 1 {
				return ClassPFKernel, fmt.Sprintf("want %s, got %s", excString(want), excString(got))
			}
			d &^= 1 // see ClassPFKernel
		}
		if d == 2 {
			return ClassPFWrite, fmt.Sprintf("want %s, got %s", excString(want), excString(got))
		}
	}
	if want.Vector != got.Vector || want.Err != got.Err || want.CR2 != got.CR2 {
		return ClassException, fmt.Sprintf("want %s, got %s", excString(want), excString(got))
	}
	if want.RIP != got.RIP {
		return ClassRIP, fmt.Sprintf("RIP want +%d, got +%d", want.RIP, got.RIP)
	}
	var gpr, ugpr []string
	for i := range want.GPR {
		if want.GPR[i] != got.GPR[i] {
			d := fmt.Sprintf("%s want %#x got %#x", gprName(i), want.GPR[i], got.GPR[i])
			if c.UndefGPR&(1<<i) != 0 {
				ugpr = append(ugpr, d)
			} else {
				gpr = append(gpr, d)
			}
		}
	}
	if len(gpr) > 0 {
		return ClassGPR, strings.Join(gpr, "; ")
	}
	const flagsMask = 0x3F7FD5 // every RFLAGS bit that exists
	d := (want.RFLAGS ^ got.RFLAGS) & flagsMask &^ c.Undef
	if want.Vector >= 0 {
		d &^= arch.FlagRF // reported as ClassFaultRF below
	}
	if d != 0 {
		return ClassFlags, fmt.Sprintf("RFLAGS want %#x (%s) got %#x (%s), differing %s", want.RFLAGS, FlagString(want.RFLAGS), got.RFLAGS, FlagString(got.RFLAGS), FlagString(d))
	}
	if (want.RFLAGS^got.RFLAGS)&arch.FlagRF != 0 && want.Vector >= 0 {
		return ClassFaultRF, fmt.Sprintf("RFLAGS.RF in the frame of %s: want %d got %d", excString(want), want.RFLAGS>>16&1, got.RFLAGS>>16&1)
	}
	if w, g := patchString(want.Mem), patchString(got.Mem); w != g {
		return ClassMem, fmt.Sprintf("window changes want %s got %s", w, g)
	}
	if len(ugpr) > 0 {
		return ClassUndefGPR, strings.Join(ugpr, "; ")
	}
	if d := (want.RFLAGS ^ got.RFLAGS) & flagsMask; d != 0 {
		return ClassUndefFlags, fmt.Sprintf("RFLAGS want %#x (%s) got %#x (%s), differing (undefined) %s", want.RFLAGS, FlagString(want.RFLAGS), got.RFLAGS, FlagString(got.RFLAGS), FlagString(d))
	}
	return "", ""
}

func excString(o *Output) string {
	switch {
	case o.Vector < 0:
		return "completion"
	case o.Vector == 14:
		return fmt.Sprintf("#PF(%#x) at %#x", o.Err, o.CR2)
	case HasErrorCode(o.Vector):
		return fmt.Sprintf("vector %d(%#x)", o.Vector, o.Err)
	}
	return fmt.Sprintf("vector %d", o.Vector)
}

func patchString(ps []Patch) string {
	if len(ps) == 0 {
		return "none"
	}
	var b strings.Builder
	for i, p := range ps {
		if i > 0 {
			b.WriteString(",")
		}
		fmt.Fprintf(&b, "+%#x:%x", p.Off, p.Data)
	}
	s := b.String()
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

// FlagString names the set RFLAGS bits.
func FlagString(f uint64) string {
	names := []string{0: "CF", 2: "PF", 4: "AF", 6: "ZF", 7: "SF", 8: "TF", 9: "IF", 10: "DF", 11: "OF", 14: "NT", 16: "RF", 17: "VM", 18: "AC", 19: "VIF", 20: "VIP", 21: "ID"}
	var out []string
	for i, n := range names {
		if n != "" && f&(1<<i) != 0 {
			out = append(out, n)
		}
	}
	if f&0x3000 != 0 {
		out = append(out, fmt.Sprintf("IOPL=%d", f>>12&3))
	}
	return strings.Join(out, " ")
}

// CaseString renders a case's input for reports.
func CaseString(c *Case) string {
	var b strings.Builder
	fmt.Fprintf(&b, "bytes % x; ", c.Code)
	def := DefaultGPR()
	for i, v := range c.In.GPR {
		if v != def[i] {
			fmt.Fprintf(&b, "%s=%#x ", gprName(i), v)
		}
	}
	fmt.Fprintf(&b, "rflags=%#x (%s)", c.In.RFLAGS, FlagString(c.In.RFLAGS))
	if len(c.In.Mem) > 0 {
		fmt.Fprintf(&b, "; mem %s", patchString(c.In.Mem))
	}
	return b.String()
}

// Group is the mismatches of one form and class.
type Group struct {
	Form, Class string
	Count       int
	Example     *Case
	Detail      string
}

// Grouper collects mismatches by form and class.
type Grouper struct{ m map[[2]string]*Group }

// Add records a mismatch.
func (g *Grouper) Add(c *Case, class, detail string) {
	if g.m == nil {
		g.m = map[[2]string]*Group{}
	}
	k := [2]string{c.Form, class}
	if gr, ok := g.m[k]; ok {
		gr.Count++
		return
	}
	g.m[k] = &Group{Form: c.Form, Class: class, Count: 1, Example: c, Detail: detail}
}

// Groups returns the groups sorted by class then form.
func (g *Grouper) Groups() []*Group {
	var gs []*Group
	for _, gr := range g.m {
		gs = append(gs, gr)
	}
	sort.Slice(gs, func(i, j int) bool {
		if gs[i].Class != gs[j].Class {
			return gs[i].Class < gs[j].Class
		}
		return gs[i].Form < gs[j].Form
	})
	return gs
}

// Entry is one line of an allow-list or the known-mismatches list:
//
//	class[@vendor] | form pattern | reason
//
// The pattern matches form names with '*' as the only wildcard; @vendor
// limits the entry to traces recorded on that CPUID vendor.
type Entry struct {
	Class, Vendor, Pattern, Reason string
	Line                           int
	Used                           int
}

// ParseList reads a list file.
func ParseList(path string) ([]*Entry, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	var es []*Entry
	sc := bufio.NewScanner(bytes.NewReader(data))
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		parts := strings.SplitN(line, "|", 3)
		if len(parts) != 3 || strings.TrimSpace(parts[2]) == "" {
			return nil, fmt.Errorf("%s:%d: want \"class | form pattern | reason\"", path, n)
		}
		e := &Entry{Class: strings.TrimSpace(parts[0]), Pattern: strings.TrimSpace(parts[1]), Reason: strings.TrimSpace(parts[2]), Line: n}
		if c, v, ok := strings.Cut(e.Class, "@"); ok {
			e.Class, e.Vendor = c, v
		}
		switch e.Class {
		case ClassHarness, ClassException, ClassPFKernel, ClassFaultRF, ClassPFWrite, ClassRIP, ClassGPR, ClassFlags, ClassMem, ClassUndefGPR, ClassUndefFlags, "*":
		default:
			return nil, fmt.Errorf("%s:%d: unknown class %q", path, n, e.Class)
		}
		es = append(es, e)
	}
	return es, nil
}

// Match returns the first entry covering a group of a trace from vendor.
func Match(es []*Entry, g *Group, vendor string) *Entry {
	for _, e := range es {
		if (e.Class == g.Class || e.Class == "*") && (e.Vendor == "" || e.Vendor == vendor) && GlobMatch(e.Pattern, g.Form) {
			return e
		}
	}
	return nil
}

// GlobMatch matches s against a pattern whose only wildcard is '*'
// (which also matches '/'): the allow-list pattern syntax.
func GlobMatch(pat, s string) bool {
	parts := strings.Split(pat, "*")
	if len(parts) == 1 {
		return pat == s
	}
	if !strings.HasPrefix(s, parts[0]) {
		return false
	}
	s = s[len(parts[0]):]
	for i, p := range parts[1:] {
		if i == len(parts)-2 {
			return strings.HasSuffix(s, p)
		}
		k := strings.Index(s, p)
		if k < 0 {
			return false
		}
		s = s[k+len(p):]
	}
	return true
}

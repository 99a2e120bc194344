package msr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

// Regs is one CPUID result.
type Regs struct{ EAX, EBX, ECX, EDX uint32 }

// Reg names a CPUID output register.
type Reg uint8

// CPUID output registers.
const (
	EAX Reg = iota
	EBX
	ECX
	EDX
)

func (r Reg) String() string { return [...]string{"EAX", "EBX", "ECX", "EDX"}[r&3] }

// get returns register r of rs.
func (rs Regs) get(r Reg) uint32 {
	switch r {
	case EAX:
		return rs.EAX
	case EBX:
		return rs.EBX
	case ECX:
		return rs.ECX
	}
	return rs.EDX
}

func (rs *Regs) ptr(r Reg) *uint32 {
	switch r {
	case EAX:
		return &rs.EAX
	case EBX:
		return &rs.EBX
	case ECX:
		return &rs.ECX
	}
	return &rs.EDX
}

// Leaf is one CPUID leaf/subleaf of a model as the source reported it on
// logical processor 0.
type Leaf struct {
	Leaf, Subleaf uint32
	Regs
}

// MSRValue is one MSR value of a model. Assumed is empty for values seen
// in the source; otherwise it says why the value is there although the
// source does not report it.
type MSRValue struct {
	Index   uint32
	Value   uint64
	Assumed string
}

// Model is a CPU model as data: the CPUID leaves of logical processor 0 and
// the MSR values a real processor reported, with where they came from. It
// is the raw model: what the hardware reports. What a vmxemu guest sees is
// a Profile (see Resolve), which hides what vmxemu does not implement.
type Model struct {
	Name        string
	Description string
	Sources     []string // provenance, one per source
	Notes       []string
	CPUID       []Leaf     // sorted by leaf, then subleaf
	MSRs        []MSRValue // sorted by index
}

// subleafLeaves are the CPUID leaves whose output depends on ECX (SDM Vol.
// 2A, CPUID, Table 3-8). For every other leaf the subleaf is ignored.
var subleafLeaves = map[uint32]bool{
	0x4: true, 0x7: true, 0xB: true, 0xD: true, 0xF: true, 0x10: true, 0x12: true, 0x14: true,
	0x17: true, 0x18: true, 0x1B: true, 0x1D: true, 0x1E: true, 0x1F: true, 0x20: true, 0x23: true, 0x24: true,
}

// subleafMask is subleafLeaves as a bit mask (all are below 64).
var subleafMask = func() uint64 {
	var m uint64
	for l := range subleafLeaves {
		m |= 1 << l
	}
	return m
}()

// HasSubleaves reports whether CPUID leaf's output depends on ECX.
func HasSubleaves(leaf uint32) bool { return leaf < 64 && subleafMask>>leaf&1 != 0 }

// checkSubleaf is the rule every CPUID entry of a model obeys, whichever
// format it came from: a subleaf other than 0 only for a leaf whose
// output depends on ECX (HasSubleaves), since the model holds one entry
// per leaf for the others (Leaf ignores their subleaf).
func checkSubleaf(leaf, sub uint32) error {
	if !HasSubleaves(leaf) && sub != 0 {
		return fmt.Errorf("cpuid leaf %#x has no subleaves: the subleaf must be 0", leaf)
	}
	return nil
}

// Leaf returns the model's raw CPUID leaf/subleaf and whether the source
// reported it. The subleaf is ignored for leaves without subleaves.
func (m *Model) Leaf(leaf, subleaf uint32) (Regs, bool) {
	if !HasSubleaves(leaf) {
		subleaf = 0
	}
	i, ok := slices.BinarySearchFunc(m.CPUID, [2]uint32{leaf, subleaf}, func(l Leaf, k [2]uint32) int {
		if l.Leaf != k[0] {
			return cmpU32(l.Leaf, k[0])
		}
		return cmpU32(l.Subleaf, k[1])
	})
	if !ok {
		return Regs{}, false
	}
	return m.CPUID[i].Regs, true
}

// MSR returns the model's value of an MSR and whether the model has one.
func (m *Model) MSR(index uint32) (MSRValue, bool) {
	i, ok := slices.BinarySearchFunc(m.MSRs, index, func(v MSRValue, k uint32) int { return cmpU32(v.Index, k) })
	if !ok {
		return MSRValue{}, false
	}
	return m.MSRs[i], true
}

// Signature is CPUID.01H:EAX (family, model, stepping).
func (m *Model) Signature() uint32 {
	r, _ := m.Leaf(1, 0)
	return r.EAX
}

// Clone returns a deep copy of m.
func (m *Model) Clone() *Model {
	c := *m
	c.Sources = slices.Clone(m.Sources)
	c.Notes = slices.Clone(m.Notes)
	c.CPUID = slices.Clone(m.CPUID)
	c.MSRs = slices.Clone(m.MSRs)
	return &c
}

func cmpU32(a, b uint32) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func (m *Model) sort() {
	slices.SortFunc(m.CPUID, func(a, b Leaf) int {
		if a.Leaf != b.Leaf {
			return cmpU32(a.Leaf, b.Leaf)
		}
		return cmpU32(a.Subleaf, b.Subleaf)
	})
	slices.SortFunc(m.MSRs, func(a, b MSRValue) int { return cmpU32(a.Index, b.Index) })
}

var modelNameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]*$`)

// validate checks what every model needs.
func (m *Model) validate() error {
	if !modelNameRE.MatchString(m.Name) {
		return fmt.Errorf("model name %q: use lowercase letters, digits, '.', '_' and '-'", m.Name)
	}
	l0, ok0 := m.Leaf(0, 0)
	_, ok1 := m.Leaf(1, 0)
	if !ok0 || !ok1 {
		return errors.New("a model needs CPUID leaves 0 and 1")
	}
	if l0.EBX != 0x756E6547 || l0.EDX != 0x49656E69 || l0.ECX != 0x6C65746E {
		return errors.New("CPUID leaf 0 does not say GenuineIntel: vmxemu models Intel processors only")
	}
	for i := 1; i < len(m.CPUID); i++ {
		if m.CPUID[i].Leaf == m.CPUID[i-1].Leaf && m.CPUID[i].Subleaf == m.CPUID[i-1].Subleaf {
			return fmt.Errorf("CPUID leaf %#x subleaf %#x given twice", m.CPUID[i].Leaf, m.CPUID[i].Subleaf)
		}
	}
	for i := 1; i < len(m.MSRs); i++ {
		if m.MSRs[i].Index == m.MSRs[i-1].Index {
			return fmt.Errorf("MSR %#x given twice", m.MSRs[i].Index)
		}
	}
	return nil
}

// The model file format (docs/CPU-MODELS.md): one item per line, '#'
// starts a comment line, fields are separated by blanks, numbers are hex
// (with or without 0x).
//
//	model NAME
//	description TEXT
//	source TEXT              (repeatable)
//	note TEXT                (repeatable)
//	cpuid LEAF SUBLEAF EAX EBX ECX EDX
//	msr INDEX VALUE [assumed REASON]

// ParseModel reads a model file. Errors name the line.
func ParseModel(r io.Reader) (*Model, error) {
	m := &Model{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	n := 0
	for sc.Scan() {
		n++
		line := strings.TrimSpace(sc.Text())
		if line == "" || line[0] == '#' {
			continue
		}
		if err := m.parseLine(line); err != nil {
			return nil, fmt.Errorf("line %d: %w", n, err)
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the model: %w", err)
	}
	if m.Name == "" {
		return nil, errors.New("no 'model NAME' line: not a vmxemu model file")
	}
	m.sort()
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Name, err)
	}
	return m, nil
}

func (m *Model) parseLine(line string) error {
	kw, rest, _ := strings.Cut(line, " ")
	rest = strings.TrimSpace(rest)
	f := strings.Fields(rest)
	switch kw {
	case "model":
		if len(f) != 1 {
			return errors.New("want: model NAME")
		}
		if m.Name != "" {
			return errors.New("a file holds one model: 'model' given twice")
		}
		m.Name = f[0]
	case "description":
		m.Description = rest
	case "source":
		m.Sources = append(m.Sources, rest)
	case "note":
		m.Notes = append(m.Notes, rest)
	case "cpuid":
		if len(f) != 6 {
			return errors.New("want: cpuid LEAF SUBLEAF EAX EBX ECX EDX (hex)")
		}
		var v [6]uint32
		for i, s := range f {
			x, err := parseHex(s, 32)
			if err != nil {
				return fmt.Errorf("cpuid field %d: %w", i+1, err)
			}
			v[i] = uint32(x)
		}
		if err := checkSubleaf(v[0], v[1]); err != nil {
			return err
		}
		m.CPUID = append(m.CPUID, Leaf{Leaf: v[0], Subleaf: v[1], Regs: Regs{v[2], v[3], v[4], v[5]}})
	case "msr":
		if len(f) < 2 {
			return errors.New("want: msr INDEX VALUE [assumed REASON] (hex)")
		}
		idx, err := parseHex(f[0], 32)
		if err != nil {
			return fmt.Errorf("msr index: %w", err)
		}
		val, err := parseHex(f[1], 64)
		if err != nil {
			return fmt.Errorf("msr value: %w", err)
		}
		mv := MSRValue{Index: uint32(idx), Value: val}
		if len(f) > 2 {
			if f[2] != "assumed" || len(f) < 4 {
				return errors.New("after the value only 'assumed REASON' may follow")
			}
			_, reason, _ := strings.Cut(rest, "assumed")
			mv.Assumed = strings.TrimSpace(reason)
		}
		m.MSRs = append(m.MSRs, mv)
	default:
		return fmt.Errorf("unknown keyword %q (want model, description, source, note, cpuid or msr)", kw)
	}
	return nil
}

func parseHex(s string, bits int) (uint64, error) {
	t := strings.TrimPrefix(strings.TrimPrefix(s, "0x"), "0X")
	v, err := strconv.ParseUint(t, 16, bits)
	if err != nil {
		return 0, fmt.Errorf("%q is not a %d-bit hex number", s, bits)
	}
	return v, nil
}

// Format writes m in the model file format; ParseModel reads it back.
func (m *Model) Format(w io.Writer) error {
	bw := bufio.NewWriter(w)
	fmt.Fprintf(bw, "# vmxemu CPU model: the format is described in docs/CPU-MODELS.md\n")
	fmt.Fprintf(bw, "model %s\n", m.Name)
	if m.Description != "" {
		fmt.Fprintf(bw, "description %s\n", m.Description)
	}
	for _, s := range m.Sources {
		fmt.Fprintf(bw, "source %s\n", s)
	}
	for _, s := range m.Notes {
		fmt.Fprintf(bw, "note %s\n", s)
	}
	fmt.Fprintf(bw, "\n#     leaf     sub      EAX      EBX      ECX      EDX\n")
	for _, l := range m.CPUID {
		fmt.Fprintf(bw, "cpuid %08X %02X %08X %08X %08X %08X\n", l.Leaf, l.Subleaf, l.EAX, l.EBX, l.ECX, l.EDX)
	}
	fmt.Fprintf(bw, "\n#   index    value\n")
	for _, v := range m.MSRs {
		if v.Assumed != "" {
			fmt.Fprintf(bw, "msr %08X %016X assumed %s\n", v.Index, v.Value, v.Assumed)
			continue
		}
		fmt.Fprintf(bw, "msr %08X %016X\n", v.Index, v.Value)
	}
	return bw.Flush()
}

// Supply adds values the source lacks (each must say why, in Assumed). A
// value the source has cannot be replaced.
func (m *Model) Supply(vs ...MSRValue) error {
	for _, v := range vs {
		if v.Assumed == "" {
			return fmt.Errorf("MSR %#x: a supplied value must say why it is assumed", v.Index)
		}
		if _, ok := m.MSR(v.Index); ok {
			return fmt.Errorf("MSR %#x: the source reports it; it cannot be supplied", v.Index)
		}
		m.MSRs = append(m.MSRs, v)
		m.sort()
	}
	return nil
}

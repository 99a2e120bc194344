package conformance

import (
	"bufio"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// Trace format (README.md, "Trace format"): gzip-compressed JSON lines. The
// first line is a Header, every further line one Case. Numbers that can
// exceed 2^53 are hex strings without 0x.
const (
	FormatName    = "vmxemu-native-trace"
	FormatVersion = 1
)

// Memory layout shared by the recorder and the replay (both map the same
// linear addresses; everything else is unmapped).
const (
	CodeBase = 0x10000000 // the snippet, followed by INT3 bytes to the end of the page
	MemBase  = 0x20000000 // the memory window: one page, the pages either side unmapped
	MemSize  = 4096
	MaxCode  = 24 // longest snippet
)

// GPR names in encoding order (index = register number).
func gprName(i int) string {
	return [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi",
		"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}[i]
}

// DefaultGPR returns the value of every register a case does not set
// (format version 1): RSP points into the middle of the memory window, the
// others hold distinct recognisable patterns.
func DefaultGPR() [16]uint64 {
	var r [16]uint64
	for i := range r {
		r[i] = 0x0DEF_0000_0000_0000 | uint64(i)<<40 | uint64(i)*0x0101_0101
	}
	r[4] = MemBase + 0x800
	return r
}

// Header is the first line of a trace.
type Header struct {
	Format    string   `json:"format"`
	Version   int      `json:"version"`
	CPU       CPUInfo  `json:"cpu"`
	Generator GenInfo  `json:"generator"`
	Layout    Layout   `json:"layout"`
	Cases     int      `json:"cases"`
	Forms     int      `json:"forms"`
	Recorded  string   `json:"recorded,omitempty"`
	Kernel    string   `json:"kernel,omitempty"`
	Notes     []string `json:"notes,omitempty"`
	Leaves    []Leaf   `json:"cpuid"`
}

// CPUInfo identifies the recording CPU.
type CPUInfo struct {
	Vendor     string `json:"vendor"`
	Brand      string `json:"brand"`
	Signature  string `json:"cpuid1_eax"` // CPUID.1:EAX, hex
	Family     int    `json:"family"`
	Model      int    `json:"model"`
	Stepping   int    `json:"stepping"`
	Microcode  string `json:"microcode,omitempty"` // from /proc/cpuinfo when readable
	Hypervisor bool   `json:"hypervisor"`          // CPUID.1:ECX[31]
}

// Leaf is one CPUID leaf as the recording CPU answered it in user mode.
type Leaf struct {
	Leaf uint32 `json:"leaf"`
	Sub  uint32 `json:"sub"`
	EAX  uint32 `json:"eax"`
	EBX  uint32 `json:"ebx"`
	ECX  uint32 `json:"ecx"`
	EDX  uint32 `json:"edx"`
}

// GenInfo says which generator produced the cases.
type GenInfo struct {
	Seed    int64 `json:"seed"`
	Version int   `json:"version"`
	PerForm int   `json:"per_form"`
}

// Layout repeats the memory layout constants for readers of the file.
type Layout struct {
	CodeBase   string     `json:"code_base"`
	MemBase    string     `json:"mem_base"`
	MemSize    int        `json:"mem_size"`
	DefaultGPR [16]string `json:"default_gpr"`
}

// Patch is a run of bytes in the memory window at offset Off.
type Patch struct {
	Off  int
	Data []byte
}

// Input is the state a case starts from: the registers (DefaultGPR
// overridden by the case), RFLAGS, and the memory window (zeros overlaid
// with Mem).
type Input struct {
	GPR    [16]uint64
	RFLAGS uint64
	Mem    []Patch
}

// Output is the state after the snippet ran or faulted.
type Output struct {
	Vector int    // -1: the snippet completed; else the exception vector
	Err    uint32 // error code, for vectors that push one
	CR2    uint64 // #PF only
	RIP    uint64 // offset from CodeBase: the length on completion, the faulting instruction otherwise
	GPR    [16]uint64
	RFLAGS uint64
	Mem    []Patch // bytes of the window that differ from the input
}

// Case is one recorded instruction.
type Case struct {
	Form  string
	Code  []byte
	In    Input
	Undef uint64 // RFLAGS bits the SDM leaves undefined for this input
	// UndefGPR is a bit mask of registers whose result the SDM leaves
	// undefined (BSF/BSR of zero, SHLD/SHRD by more than 16 on 16-bit
	// operands, BSWAP r16) or that are model specific (CPUID).
	UndefGPR uint16
	Out      *Output // nil until recorded
}

// HasErrorCode reports whether an exception vector pushes an error code.
func HasErrorCode(v int) bool {
	switch v {
	case 8, 10, 11, 12, 13, 14, 17, 21:
		return true
	}
	return false
}

// Window returns the input memory window.
func (in *Input) Window() []byte {
	w := make([]byte, MemSize)
	for _, p := range in.Mem {
		copy(w[p.Off:], p.Data)
	}
	return w
}

// DiffWindow returns the runs of after that differ from before.
func DiffWindow(before, after []byte) []Patch {
	var ps []Patch
	for i := 0; i < len(after); {
		if before[i] == after[i] {
			i++
			continue
		}
		j := i
		// Merge runs separated by fewer than 4 equal bytes.
		for k := i; k < len(after); k++ {
			if before[k] != after[k] {
				j = k + 1
			} else if k-j >= 4 {
				break
			}
		}
		ps = append(ps, Patch{Off: i, Data: append([]byte(nil), after[i:j]...)})
		i = j
	}
	return ps
}

// ---- JSON line encoding ----

type jsonCase struct {
	F  string            `json:"f"`
	C  string            `json:"c"`
	R  map[string]string `json:"r,omitempty"` // input registers that differ from DefaultGPR
	Fl string            `json:"fl"`
	M  [][2]any          `json:"m,omitempty"`
	U  string            `json:"u,omitempty"`
	UX uint16            `json:"ux,omitempty"`
	O  *jsonOut          `json:"o,omitempty"`
}

type jsonOut struct {
	V  *int              `json:"v,omitempty"`
	E  *uint32           `json:"e,omitempty"`
	A  string            `json:"a,omitempty"`
	IP uint64            `json:"ip"`
	R  map[string]string `json:"r,omitempty"` // registers that differ from the input
	Fl string            `json:"fl"`
	M  [][2]any          `json:"m,omitempty"`
}

func hx(v uint64) string { return strconv.FormatUint(v, 16) }

func unhx(s string) (uint64, error) {
	v, err := strconv.ParseUint(s, 16, 64)
	if err != nil {
		return 0, fmt.Errorf("bad hex number %q: %w", s, err)
	}
	return v, nil
}

func patchesJSON(ps []Patch) [][2]any {
	var out [][2]any
	for _, p := range ps {
		out = append(out, [2]any{p.Off, hex.EncodeToString(p.Data)})
	}
	return out
}

func patchesFromJSON(js [][2]any) ([]Patch, error) {
	var ps []Patch
	for _, j := range js {
		off, ok1 := j[0].(float64)
		s, ok2 := j[1].(string)
		if !ok1 || !ok2 {
			return nil, errors.New("bad memory patch")
		}
		b, err := hex.DecodeString(s)
		if err != nil {
			return nil, fmt.Errorf("bad memory patch bytes: %w", err)
		}
		if off < 0 || int(off)+len(b) > MemSize {
			return nil, fmt.Errorf("memory patch at %v+%d outside the window", off, len(b))
		}
		ps = append(ps, Patch{Off: int(off), Data: b})
	}
	return ps, nil
}

func regsDiff(base, r [16]uint64) map[string]string {
	m := map[string]string{}
	for i := range r {
		if r[i] != base[i] {
			m[gprName(i)] = hx(r[i])
		}
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func regsApply(base [16]uint64, m map[string]string) ([16]uint64, error) {
	r := base
	for k, s := range m {
		i := regIndex(k)
		if i < 0 {
			return r, fmt.Errorf("unknown register %q", k)
		}
		v, err := unhx(s)
		if err != nil {
			return r, err
		}
		r[i] = v
	}
	return r, nil
}

func regIndex(name string) int {
	for i := range 16 {
		if gprName(i) == name {
			return i
		}
	}
	return -1
}

func (c *Case) toJSON() jsonCase {
	j := jsonCase{F: c.Form, C: hex.EncodeToString(c.Code), R: regsDiff(DefaultGPR(), c.In.GPR),
		Fl: hx(c.In.RFLAGS), M: patchesJSON(c.In.Mem), UX: c.UndefGPR}
	if c.Undef != 0 {
		j.U = hx(c.Undef)
	}
	if o := c.Out; o != nil {
		jo := &jsonOut{IP: o.RIP, R: regsDiff(c.In.GPR, o.GPR), Fl: hx(o.RFLAGS), M: patchesJSON(o.Mem)}
		if o.Vector >= 0 {
			v := o.Vector
			jo.V = &v
			if HasErrorCode(v) {
				e := o.Err
				jo.E = &e
			}
			if v == 14 {
				jo.A = hx(o.CR2)
			}
		}
		j.O = jo
	}
	return j
}

func (j *jsonCase) toCase() (*Case, error) {
	c := &Case{Form: j.F, UndefGPR: j.UX}
	var err error
	if c.Code, err = hex.DecodeString(j.C); err != nil {
		return nil, fmt.Errorf("bad code bytes: %w", err)
	}
	if c.In.GPR, err = regsApply(DefaultGPR(), j.R); err != nil {
		return nil, err
	}
	if c.In.RFLAGS, err = unhx(j.Fl); err != nil {
		return nil, err
	}
	if c.In.Mem, err = patchesFromJSON(j.M); err != nil {
		return nil, err
	}
	if j.U != "" {
		if c.Undef, err = unhx(j.U); err != nil {
			return nil, err
		}
	}
	if jo := j.O; jo != nil {
		o := &Output{Vector: -1, RIP: jo.IP}
		if jo.V != nil {
			o.Vector = *jo.V
		}
		if jo.E != nil {
			o.Err = *jo.E
		}
		if jo.A != "" {
			if o.CR2, err = unhx(jo.A); err != nil {
				return nil, err
			}
		}
		if o.GPR, err = regsApply(c.In.GPR, jo.R); err != nil {
			return nil, err
		}
		if o.RFLAGS, err = unhx(jo.Fl); err != nil {
			return nil, err
		}
		if o.Mem, err = patchesFromJSON(jo.M); err != nil {
			return nil, err
		}
		c.Out = o
	}
	return c, nil
}

// NewLayout returns the Layout block for the header.
func NewLayout() Layout {
	l := Layout{CodeBase: "0x" + hx(CodeBase), MemBase: "0x" + hx(MemBase), MemSize: MemSize}
	for i, v := range DefaultGPR() {
		l.DefaultGPR[i] = hx(v)
	}
	return l
}

// WriteTrace writes a gzip'd JSON-lines trace.
func WriteTrace(w io.Writer, h Header, cases []*Case) error {
	zw, err := gzip.NewWriterLevel(w, gzip.BestCompression)
	if err != nil {
		return fmt.Errorf("gzip: %w", err)
	}
	bw := bufio.NewWriter(zw)
	enc := json.NewEncoder(bw)
	h.Format, h.Version, h.Cases = FormatName, FormatVersion, len(cases)
	if err := enc.Encode(h); err != nil {
		return fmt.Errorf("writing trace header: %w", err)
	}
	for _, c := range cases {
		if err := enc.Encode(c.toJSON()); err != nil {
			return fmt.Errorf("writing case %s: %w", c.Form, err)
		}
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("writing trace: %w", err)
	}
	if err := zw.Close(); err != nil {
		return fmt.Errorf("writing trace: %w", err)
	}
	return nil
}

// ReadTrace reads a trace written by WriteTrace.
func ReadTrace(r io.Reader) (Header, []*Case, error) {
	var h Header
	zr, err := gzip.NewReader(r)
	if err != nil {
		return h, nil, fmt.Errorf("trace is not gzip: %w", err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	if !sc.Scan() {
		return h, nil, fmt.Errorf("empty trace: %w", sc.Err())
	}
	if err := json.Unmarshal(sc.Bytes(), &h); err != nil {
		return h, nil, fmt.Errorf("trace header: %w", err)
	}
	if h.Format != FormatName || h.Version != FormatVersion {
		return h, nil, fmt.Errorf("trace format %q version %d, want %q version %d", h.Format, h.Version, FormatName, FormatVersion)
	}
	var cases []*Case
	line := 1
	for sc.Scan() {
		line++
		var j jsonCase
		if err := json.Unmarshal(sc.Bytes(), &j); err != nil {
			return h, nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		c, err := j.toCase()
		if err != nil {
			return h, nil, fmt.Errorf("trace line %d: %w", line, err)
		}
		cases = append(cases, c)
	}
	if err := sc.Err(); err != nil {
		return h, nil, fmt.Errorf("reading trace: %w", err)
	}
	if len(cases) != h.Cases {
		return h, nil, fmt.Errorf("trace holds %d cases, header says %d", len(cases), h.Cases)
	}
	return h, cases, nil
}

// ReadTraceFile reads a trace file.
func ReadTraceFile(path string) (Header, []*Case, error) {
	f, err := os.Open(path)
	if err != nil {
		return Header{}, nil, fmt.Errorf("open trace: %w", err)
	}
	defer f.Close()
	return ReadTrace(f)
}

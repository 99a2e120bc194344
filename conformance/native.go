//go:build linux && amd64

package conformance

import (
	"bufio"
	"bytes"
	"context"
	_ "embed"
	"encoding/binary"

	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

//go:embed native/recorder.c
var recorderSource []byte

// NativeSupported reports whether this build can record on the host.
const NativeSupported = true

// Recorder runs cases natively through the C helper (native/recorder.c)
// in a subprocess, so a snippet that crashes takes only the helper down.
type Recorder struct {
	bin string
}

// NewRecorder compiles the helper with gcc into dir.
func NewRecorder(ctx context.Context, dir string) (*Recorder, error) {
	gcc, err := exec.LookPath("gcc")
	if err != nil {
		return nil, fmt.Errorf("the native recorder needs gcc: %w", err)
	}
	src := filepath.Join(dir, "recorder.c")
	bin := filepath.Join(dir, "recorder")
	if err := os.WriteFile(src, recorderSource, 0o644); err != nil {
		return nil, fmt.Errorf("writing recorder source: %w", err)
	}
	out, err := exec.CommandContext(ctx, gcc, "-O2", "-Wall", "-o", bin, src).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("compiling the recorder: %w\n%s", err, out)
	}
	return &Recorder{bin: bin}, nil
}

// Wire sizes of the helper's records (recorder.c).
const (
	identSize   = 9 * 16
	caseInSize  = 8 + MaxCode + 16*8 + 8 + MemSize
	caseOutSize = 16*8 + 6*8 + MemSize
)

// identLeaves are the CPUID leaves the helper reports, in order.
func identLeaves() [9][2]uint32 {
	return [9][2]uint32{{0, 0}, {1, 0}, {7, 0}, {0x80000000, 0}, {0x80000001, 0},
		{0x80000002, 0}, {0x80000003, 0}, {0x80000004, 0}, {0x80000008, 0}}
}

// Run executes cases natively, filling in each Out, and returns the
// recording CPU's identity. Cases are streamed through one helper process
// per batch of batchSize; a helper that dies fails the whole batch.
func (r *Recorder) Run(ctx context.Context, cases []*Case) (CPUInfo, []Leaf, error) {
	const batchSize = 20000
	var info CPUInfo
	var leaves []Leaf
	for start := 0; start < len(cases); start += batchSize {
		end := min(start+batchSize, len(cases))
		in, ls, err := r.runBatch(ctx, cases[start:end])
		if err != nil {
			return info, nil, fmt.Errorf("native batch %d-%d: %w", start, end, err)
		}
		info, leaves = in, ls
	}
	if len(cases) == 0 {
		in, ls, err := r.runBatch(ctx, nil)
		if err != nil {
			return info, nil, err
		}
		info, leaves = in, ls
	}
	return info, leaves, nil
}

func (r *Recorder) runBatch(ctx context.Context, cases []*Case) (CPUInfo, []Leaf, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.bin)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return CPUInfo{}, nil, fmt.Errorf("recorder stdin: %w", err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return CPUInfo{}, nil, fmt.Errorf("recorder stdout: %w", err)
	}
	if err := cmd.Start(); err != nil {
		return CPUInfo{}, nil, fmt.Errorf("starting the recorder: %w", err)
	}
	werr := make(chan error, 1)
	go func() {
		bw := bufio.NewWriterSize(stdin, 1<<16)
		buf := make([]byte, caseInSize)
		for _, c := range cases {
			encodeCaseIn(buf, c)
			if _, err := bw.Write(buf); err != nil {
				werr <- err
				stdin.Close()
				return
			}
		}
		err := bw.Flush()
		stdin.Close()
		werr <- err
	}()
	br := bufio.NewReaderSize(stdout, 1<<16)
	fail := func(err error) (CPUInfo, []Leaf, error) {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return CPUInfo{}, nil, fmt.Errorf("%w (recorder stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	id := make([]byte, identSize)
	if _, err := io.ReadFull(br, id); err != nil {
		return fail(fmt.Errorf("reading the CPU identity: %w", err))
	}
	info, leaves := decodeIdent(id)
	out := make([]byte, caseOutSize)
	for i, c := range cases {
		if _, err := io.ReadFull(br, out); err != nil {
			return fail(fmt.Errorf("case %d (%s % x): the recorder died: %w", i, c.Form, c.Code, err))
		}
		c.Out = decodeCaseOut(out, c)
	}
	if err := <-werr; err != nil {
		return fail(fmt.Errorf("feeding the recorder: %w", err))
	}
	if err := cmd.Wait(); err != nil {
		return CPUInfo{}, nil, fmt.Errorf("recorder: %w (stderr: %s)", err, strings.TrimSpace(stderr.String()))
	}
	return info, leaves, nil
}

func encodeCaseIn(buf []byte, c *Case) {
	clear(buf)
	buf[0] = byte(len(c.Code))
	copy(buf[8:8+MaxCode], c.Code)
	o := 8 + MaxCode
	for i, v := range c.In.GPR {
		binary.LittleEndian.PutUint64(buf[o+8*i:], v)
	}
	binary.LittleEndian.PutUint64(buf[o+128:], c.In.RFLAGS)
	w := buf[o+136:]
	for _, p := range c.In.Mem {
		copy(w[p.Off:], p.Data)
	}
}

func decodeCaseOut(b []byte, c *Case) *Output {
	le := binary.LittleEndian
	o := &Output{Vector: -1}
	for i := range o.GPR {
		o.GPR[i] = le.Uint64(b[8*i:])
	}
	rip := le.Uint64(b[128:])
	o.RFLAGS = le.Uint64(b[136:])
	trapno := le.Uint64(b[144:])
	o.Err = uint32(le.Uint64(b[152:]))
	o.CR2 = le.Uint64(b[160:])
	end := uint64(CodeBase + len(c.Code))
	if trapno == 3 && rip == end+1 {
		o.RIP = uint64(len(c.Code))
		o.Err, o.CR2 = 0, 0
	} else {
		o.Vector = int(trapno)
		o.RIP = rip - CodeBase
		if !HasErrorCode(o.Vector) {
			o.Err = 0
		}
		if o.Vector != 14 {
			o.CR2 = 0
		}
	}
	o.Mem = DiffWindow(c.In.Window(), b[176:176+MemSize])
	return o
}

func decodeIdent(b []byte) (CPUInfo, []Leaf) {
	le := binary.LittleEndian
	var leaves []Leaf
	for i, l := range identLeaves() {
		o := 16 * i
		leaves = append(leaves, Leaf{Leaf: l[0], Sub: l[1], EAX: le.Uint32(b[o:]), EBX: le.Uint32(b[o+4:]),
			ECX: le.Uint32(b[o+8:]), EDX: le.Uint32(b[o+12:])})
	}
	var info CPUInfo
	v := make([]byte, 0, 12)
	for _, r := range []uint32{leaves[0].EBX, leaves[0].EDX, leaves[0].ECX} {
		v = le.AppendUint32(v, r)
	}
	info.Vendor = string(v)
	var brand []byte
	for _, l := range leaves[5:8] {
		for _, r := range []uint32{l.EAX, l.EBX, l.ECX, l.EDX} {
			brand = le.AppendUint32(brand, r)
		}
	}
	info.Brand = strings.TrimSpace(strings.TrimRight(string(brand), "\x00"))
	eax := leaves[1].EAX
	info.Signature = fmt.Sprintf("0x%08x", eax)
	info.Family = int(eax>>8) & 0xF
	info.Model = int(eax>>4) & 0xF
	if info.Family == 0xF {
		info.Family += int(eax>>20) & 0xFF
	}
	if info.Family == 0x6 || info.Family >= 0xF {
		info.Model |= (int(eax>>16) & 0xF) << 4
	}
	info.Stepping = int(eax) & 0xF
	info.Hypervisor = leaves[1].ECX&(1<<31) != 0
	info.Microcode = readMicrocode()
	return info, leaves
}

func readMicrocode() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	m := regexp.MustCompile(`(?m)^microcode\s*:\s*(\S+)`).FindSubmatch(b)
	if m == nil {
		return ""
	}
	return string(m[1])
}

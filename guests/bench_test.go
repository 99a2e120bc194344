package guests

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// benchWorkload is one workload of the benchmark kernels with its exact
// instruction count, read off the listings in bench/loops32.S and
// bench/loops64.S (the instructions from the function's first to its RET):
// fixed + per*n, plus 2 per 256 iterations for ptchurn's CR3 reload.
type benchWorkload struct {
	name           string
	fixed32        int64 // -1: not in bench32
	fixed64        int64
	per            int64
	small, larger  uint32 // the quick iteration counts of the tests
	vmxemuRepCount bool   // REP MOVSB: see TestBenchInstructionCounts
}

// fibInsns is F(k) of the listings' fib: 3 for k < 2, else
// 12 + F(k-1) + F(k-2).
func fibInsns(k int) int64 {
	if k < 2 {
		return 3
	}
	return 12 + fibInsns(k-1) + fibInsns(k-2)
}

const benchFibN = 20 // FIB_N in bench/bench.h

var benchWorkloads = []benchWorkload{
	{"alu", 2, 2, 2, 2000, 4000, false},
	{"las", 9, 5, 8, 2000, 4000, false},
	{"movsb", 6, 2, 6, 20, 40, true},
	{"bytecopy", 6, 2, 5 + 6*4096, 2, 4, false},
	{"calls", 6, 6, 5 + fibInsns(benchFibN), 2, 4, false},
	{"smc", 3, 3, 4, 2000, 4000, false},
	{"ptchurn", -1, 4, 9, 2000, 4000, false},
}

func (w benchWorkload) insns(kernel string, n uint32) int64 {
	fixed := w.fixed64
	if kernel == "bench32" {
		fixed = w.fixed32
	}
	c := fixed + w.per*int64(n)
	if w.name == "ptchurn" {
		c += 2 * int64(n/256)
	}
	return c
}

func benchFlags(img, cmdline string, extra ...string) []string {
	return append([]string{
		"-accel", "tcg", "-nographic", "-no-reboot", "-nodefaults",
		"-serial", "stdio", "-display", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-m", "64",
		"-kernel", img, "-append", cmdline,
	}, extra...)
}

func TestBenchmarksList(t *testing.T) {
	assert.Equal(t, []string{"bench32", "bench64", "benchvmx"}, Benchmarks())
	for _, n := range Benchmarks() {
		assert.NotContains(t, List(), n, "the benchmark kernels need a workload on the command line")
	}
}

// TestBenchReproducible builds each benchmark kernel twice in different
// directories: the images must be identical byte for byte.
func TestBenchReproducible(t *testing.T) {
	needTools(t, "gcc", "ld", "objcopy")
	for _, name := range Benchmarks() {
		t.Run(name, func(t *testing.T) {
			a, err := Build(name, t.TempDir())
			require.NoError(t, err)
			b, err := Build(name, filepath.Join(t.TempDir(), "elsewhere"))
			require.NoError(t, err)
			da, err := os.ReadFile(a)
			require.NoError(t, err)
			db, err := os.ReadFile(b)
			require.NoError(t, err)
			assert.True(t, bytes.Equal(da, db), "%s: two builds differ", name)
		})
	}
}

// benchCases lists every (kernel, workload) pair the kernels have.
func benchCases() [][2]string {
	var out [][2]string
	for _, k := range []string{"bench32", "bench64"} { // benchvmx: benchvmx_test.go
		for _, w := range benchWorkloads {
			if k == "bench32" && w.fixed32 < 0 {
				continue
			}
			out = append(out, [2]string{k, w.name})
		}
	}
	return out
}

func benchWorkloadNamed(name string) benchWorkload {
	for _, w := range benchWorkloads {
		if w.name == name {
			return w
		}
	}
	panic("no workload " + name)
}

// runBench runs one workload and checks its report: the result the kernel
// checked against its C model, the instruction count of the listing, and
// the exit status of success.
func runBench(t *testing.T, bin, kernel string, w benchWorkload, n uint32) {
	t.Helper()
	res, err := runEmulator(bin, benchFlags(guestImage(t, kernel), fmt.Sprintf("%s iters=%d", w.name, n)))
	require.NoError(t, err)
	want := fmt.Sprintf("%s %s: iters %d insns %d ok\r\n", kernel, w.name, n, w.insns(kernel, n))
	assert.Contains(t, res.stdout, want, "stderr:\n%s", res.stderr)
	assert.Equal(t, ExitPass, res.status, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
}

// TestBenchVMXEmu runs every workload under vmxemu with quick counts.
func TestBenchVMXEmu(t *testing.T) {
	for _, c := range benchCases() {
		t.Run(c[0]+"/"+c[1], func(t *testing.T) {
			t.Parallel()
			runBench(t, vmxemuPath(t), c[0], benchWorkloadNamed(c[1]), benchWorkloadNamed(c[1]).small)
		})
	}
}

// TestBenchQEMU runs every workload under QEMU's TCG: the kernels'
// results (checked by the kernels against their C models) are right
// there too.
func TestBenchQEMU(t *testing.T) {
	needTools(t, "qemu-system-x86_64")
	for _, c := range benchCases() {
		t.Run(c[0]+"/"+c[1], func(t *testing.T) {
			t.Parallel()
			runBench(t, "qemu-system-x86_64", c[0], benchWorkloadNamed(c[1]), benchWorkloadNamed(c[1]).small)
		})
	}
}

var statsLine = regexp.MustCompile(`vmxemu: stats: (\d+) instructions, [0-9.]+ s, [0-9.]+ MIPS\n`)

// TestBenchInstructionCounts checks the listings' counts against what
// vmxemu retires (-stats): two quiet runs (no output, so the only
// difference is the workload) with different iteration counts must differ
// by exactly the listing's difference. REP MOVSB is one instruction of
// the listing, but vmxemu re-executes a REP string instruction after each
// 1,024 elements to let events in (cpu/exec_string.go repChunk), and each
// execution retires: 4 per 4 KiB copy, 3 more per iteration than the
// listing.
func TestBenchInstructionCounts(t *testing.T) {
	for _, c := range benchCases() {
		t.Run(c[0]+"/"+c[1], func(t *testing.T) {
			t.Parallel()
			w := benchWorkloadNamed(c[1])
			img := guestImage(t, c[0])
			retired := func(n uint32) int64 {
				res, err := runEmulator(vmxemuPath(t), benchFlags(img, fmt.Sprintf("%s quiet iters=%d", w.name, n), "-stats"))
				require.NoError(t, err)
				require.Equal(t, ExitPass, res.status, "stderr:\n%s", res.stderr)
				require.Empty(t, res.stdout, "quiet prints nothing")
				m := statsLine.FindStringSubmatch(res.stderr)
				require.NotNil(t, m, "no stats line in:\n%s", res.stderr)
				v, err := strconv.ParseInt(m[1], 10, 64)
				require.NoError(t, err)
				return v
			}
			got := retired(w.larger) - retired(w.small)
			want := w.insns(c[0], w.larger) - w.insns(c[0], w.small)
			if w.vmxemuRepCount {
				want += 3 * int64(w.larger-w.small)
			}
			assert.Equal(t, want, got)
		})
	}
}

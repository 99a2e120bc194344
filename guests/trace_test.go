package guests

import (
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The instruction trace (-d in_asm,exec) side by side with QEMU 7.2's for
// the hello guest, over the kernel's addresses (-dfilter): QEMU is the
// oracle for the layout and for what each block holds. The two emulators
// cut blocks differently (vmxemu ends one at every instruction that can
// change the mode or do I/O, QEMU translates up to a branch or a page
// end), so the comparison is per instruction and per block start:
//
//   - every in_asm line has QEMU's layout (address, bytes, mnemonic at the
//     same column);
//   - an instruction address both decoded has the same bytes in both;
//   - vmxemu decoded the same set of instruction addresses as QEMU,
//     except the ones one emulator's longer blocks ran into past the
//     last instruction the guest executed;
//   - a block both translated at the same address gets the same symbol,
//     and the first Trace line of a block both executed has the same CS
//     base, TB flags and symbol.
//
// testdata/hello-trace.golden pins vmxemu's own log (regenerate it with
// go test ./guests -run TraceGolden -update-trace, then read the diff).

var updateTrace = flag.Bool("update-trace", false, "rewrite testdata/hello-trace.golden")

const traceFilter = "0x100000..0x1fffff"

type traceInsn struct {
	addr  uint64
	bytes string
}

type traceLog struct {
	insns  map[uint64]string      // address → bytes
	starts map[uint64]string      // block start → symbol
	exec   map[uint64][3]string   // pc → first Trace's cs_base, flags, symbol
	cols   map[int]bool           // columns where the mnemonic starts
	blocks map[uint64][]traceInsn // block start → its instructions
}

var (
	inLine    = regexp.MustCompile(`^IN: ?(.*)$`)
	insnLine  = regexp.MustCompile(`^0x([0-9a-f]{8,}):  ([0-9a-f]{2}(?: [0-9a-f]{2})*)(\s+)\S`)
	contLine  = regexp.MustCompile(`^0x[0-9a-f]{8,}: (?: [0-9a-f]{2})+$`)
	traceLine = regexp.MustCompile(`^Trace (\d+): \S+ \[([0-9a-f]{16})/([0-9a-f]{16})/([0-9a-f]{8})/([0-9a-f]{8})\] ?(.*)$`)
)

func parseTrace(t *testing.T, who, log string) traceLog {
	t.Helper()
	tl := traceLog{insns: map[uint64]string{}, starts: map[uint64]string{}, exec: map[uint64][3]string{},
		cols: map[int]bool{}, blocks: map[uint64][]traceInsn{}}
	var cur uint64
	var sym string
	inBlock := false
	for n, l := range strings.Split(log, "\n") {
		switch {
		case l == "----------------":
			inBlock, cur = true, 0
		case inBlock && inLine.MatchString(l):
			sym = inLine.FindStringSubmatch(l)[1]
		case inBlock && insnLine.MatchString(l):
			m := insnLine.FindStringSubmatch(l)
			a, err := strconv.ParseUint(m[1], 16, 64)
			require.NoError(t, err)
			if cur == 0 {
				cur = a
				tl.starts[a] = sym
			}
			tl.insns[a] = m[2]
			tl.blocks[cur] = append(tl.blocks[cur], traceInsn{a, m[2]})
			tl.cols[len(m[0])-1] = true
		case inBlock && contLine.MatchString(l):
		case l == "":
			inBlock = false
		case traceLine.MatchString(l):
			m := traceLine.FindStringSubmatch(l)
			pc, err := strconv.ParseUint(m[3], 16, 64)
			require.NoError(t, err)
			if _, ok := tl.exec[pc]; !ok {
				tl.exec[pc] = [3]string{m[2], m[4], m[6]}
			}
		case strings.HasPrefix(l, "Linking TBs"), strings.HasPrefix(l, "Stopped execution of TB chain"):
			// QEMU's TB chaining, no vmxemu counterpart
		default:
			t.Fatalf("%s log line %d does not have QEMU's layout: %q", who, n+1, l)
		}
	}
	require.NotEmpty(t, tl.insns, "%s logged no instructions", who)
	return tl
}

func traceRun(t *testing.T, bin, img, log string, extra ...string) string {
	t.Helper()
	args := emuFlags(img, append([]string{"-d", "in_asm,exec,nochain", "-dfilter", traceFilter, "-D", log}, extra...)...)
	res, err := runEmulator(bin, args)
	require.NoError(t, err)
	require.Equal(t, 33, res.status, "%s: %s", bin, res.stderr)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	return string(b)
}

// TestTraceAgainstQEMU runs hello (32-bit protected mode) and nmi64 (the
// switch to long mode, 64-bit code, NMIs and their interrupt shadows).
func TestTraceAgainstQEMU(t *testing.T) {
	needTools(t, "qemu-system-x86_64")
	for _, name := range []string{"hello", "nmi64"} {
		t.Run(name, func(t *testing.T) { traceAgainstQEMU(t, name) })
	}
}

func traceAgainstQEMU(t *testing.T, name string) {
	img := guestImage(t, name)
	dir := t.TempDir()
	q := parseTrace(t, "QEMU", traceRun(t, "qemu-system-x86_64", img, filepath.Join(dir, "qemu.log"), Args(name)...))
	v := parseTrace(t, "vmxemu", traceRun(t, vmxemuPath(t), img, filepath.Join(dir, "vmxemu.log"), Args(name)...))

	assert.Equal(t, q.cols, v.cols, "the mnemonic column of in_asm lines")
	common := 0
	for a, qb := range q.insns {
		if vb, ok := v.insns[a]; ok {
			common++
			assert.Equal(t, qb, vb, "bytes of the instruction at %#x", a)
		}
	}
	// Addresses only one emulator decoded must be the tail of a block
	// that emulator cut longer: past the last instruction of the other's
	// block that covers it.
	onlyIn := func(a, b traceLog, who string) {
		tails := map[uint64]bool{}
		for _, insns := range a.blocks {
			shared := false
			for _, in := range insns {
				if _, ok := b.insns[in.addr]; ok {
					shared = true
				} else if shared {
					tails[in.addr] = true
				}
			}
		}
		for addr := range a.insns {
			if _, ok := b.insns[addr]; !ok {
				assert.True(t, tails[addr], "only %s decoded %#x, and not as the tail of a longer block", who, addr)
			}
		}
	}
	onlyIn(q, v, "QEMU")
	onlyIn(v, q, "vmxemu")
	t.Logf("%d instructions decoded by both, QEMU %d, vmxemu %d", common, len(q.insns), len(v.insns))
	require.Greater(t, common, len(q.insns)*9/10, "vmxemu and QEMU decoded mostly the same instructions")

	blocks, execs := 0, 0
	for a, qs := range q.starts {
		if vs, ok := v.starts[a]; ok {
			blocks++
			assert.Equal(t, qs, vs, "IN: symbol of the block at %#x", a)
		}
	}
	for pc, qe := range q.exec {
		if ve, ok := v.exec[pc]; ok {
			execs++
			assert.Equal(t, qe, ve, "cs_base, flags and symbol of the first Trace at %#x", pc)
		}
	}
	t.Logf("%d block starts and %d executed blocks in common", blocks, execs)
	require.Greater(t, blocks, 20)
	require.Greater(t, execs, 20)
}

// TestTraceGolden pins vmxemu's own trace of the hello guest, bounded by
// -d-limit.
func TestTraceGolden(t *testing.T) {
	img := guestImage(t, "hello")
	got := traceRun(t, vmxemuPath(t), img, filepath.Join(t.TempDir(), "vmxemu.log"), "-d-limit", "100")
	golden := filepath.Join("testdata", "hello-trace.golden")
	if *updateTrace {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err)
	assert.Equal(t, string(want), got)
	assert.Equal(t, 100, strings.Count(got, "\nTrace 0:")+boolInt(strings.HasPrefix(got, "Trace 0:")), "-d-limit 100 bounds the exec records")
	assert.Equal(t, 100, strings.Count(got, "IN: "), "-d-limit 100 bounds the in_asm records")
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

// cpuDumps maps the pc of each block's first Trace line to the -d cpu
// register dump that follows it. QEMU's lazy-flags line (CCS/CCD/CCO),
// which vmxemu does not print, and its TB-chaining lines are dropped.
func cpuDumps(t *testing.T, who, log string) map[uint64][]string {
	t.Helper()
	dumps := map[uint64][]string{}
	var cur []string
	var pc uint64
	flush := func() {
		if cur != nil {
			if _, ok := dumps[pc]; !ok {
				dumps[pc] = cur
			}
		}
		cur = nil
	}
	for _, l := range strings.Split(log, "\n") {
		if m := traceLine.FindStringSubmatch(l); m != nil {
			flush()
			var err error
			pc, err = strconv.ParseUint(m[3], 16, 64)
			require.NoError(t, err)
			cur = []string{}
			continue
		}
		if cur != nil && l != "" && !strings.HasPrefix(l, "CCS=") &&
			!strings.HasPrefix(l, "Linking TBs") && !strings.HasPrefix(l, "Stopped execution of TB chain") {
			cur = append(cur, l)
		}
	}
	flush()
	require.NotEmpty(t, dumps, "%s logged no register dumps", who)
	return dumps
}

var (
	hexRun   = regexp.MustCompile(`[0-9a-f]{4,}`)
	typeBits = regexp.MustCompile(`\[[-A-Z]{3}\]`)
)

// dumpLayout is a dump line with every hex field replaced by x's of its
// width and a segment's [type flags] by [...].
func dumpLayout(l string) string {
	l = hexRun.ReplaceAllStringFunc(l, func(s string) string { return strings.Repeat("x", len(s)) })
	return typeBits.ReplaceAllString(l, "[...]")
}

// TestCPUDumpAgainstQEMU: -d exec,cpu for hello (32-bit protected mode:
// QEMU's 32-bit layout) and nmi64 (real → protected → long mode: both
// layouts, IA-32e system-segment names). For every block both emulators
// executed, the dump has QEMU's layout line by line (every hex field the
// same width), and the segment lines agree in each descriptor's DPL and
// type; the control-register line has the same CR0 and CR4.
func TestCPUDumpAgainstQEMU(t *testing.T) {
	needTools(t, "qemu-system-x86_64")
	for _, name := range []string{"hello", "nmi64"} {
		t.Run(name, func(t *testing.T) {
			img := guestImage(t, name)
			dir := t.TempDir()
			run := func(bin, log string) string {
				args := emuFlags(img, append([]string{"-d", "exec,cpu,nochain", "-dfilter", traceFilter, "-D", log}, Args(name)...)...)
				res, err := runEmulator(bin, args)
				require.NoError(t, err)
				require.Equal(t, 33, res.status, "%s: %s", bin, res.stderr)
				b, err := os.ReadFile(log)
				require.NoError(t, err)
				return string(b)
			}
			q := cpuDumps(t, "QEMU", run("qemu-system-x86_64", filepath.Join(dir, "qemu.log")))
			v := cpuDumps(t, "vmxemu", run(vmxemuPath(t), filepath.Join(dir, "vmxemu.log")))
			common, layouts := 0, map[int]bool{}
			for pc, qd := range q {
				vd, ok := v[pc]
				if !ok {
					continue
				}
				common++
				layouts[len(qd)] = true
				require.Len(t, vd, len(qd), "dump at %#x:\nQEMU:\n%s\nvmxemu:\n%s", pc, strings.Join(qd, "\n"), strings.Join(vd, "\n"))
				for i := range qd {
					assert.Equal(t, dumpLayout(qd[i]), dumpLayout(vd[i]), "layout of line %d of the dump at %#x", i, pc)
					if _, qs, ok := strings.Cut(qd[i], " DPL="); ok {
						_, vs, _ := strings.Cut(vd[i], " DPL=")
						if strings.HasPrefix(qd[i], "CS ") {
							// Loading CS sets the descriptor's accessed bit
							// (SDM Vol. 3A 3.4.5.1); QEMU's far-jump path
							// leaves it clear in its segment cache.
							qs, vs = strings.Replace(qs, "A]", "-]", 1), strings.Replace(vs, "A]", "-]", 1)
						}
						assert.Equal(t, qs, vs, "DPL and type at %#x (QEMU %q, vmxemu %q)", pc, qd[i], vd[i])
					}
					if strings.HasPrefix(qd[i], "CR0=") {
						qf, vf := strings.Fields(qd[i]), strings.Fields(vd[i])
						assert.Equal(t, []string{qf[0], qf[3]}, []string{vf[0], vf[3]}, "CR0 and CR4 at %#x", pc)
					}
				}
			}
			t.Logf("%d register dumps compared, line counts %v", common, layouts)
			require.Greater(t, common, 20)
		})
	}
}

package guests

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
)

// The rdtsc guest checks vmxemu's TSC contract (cpu/tsc.go,
// docs/CPU-MODELS.md "Time"): virtual time advances one nanosecond per
// instruction retired and none for delivering an interrupt or exception,
// and the TSC counts the CPU model's nominal frequency, f MHz, against it:
// n ns after it was last set to B (0 at reset) it reads
// B + floor(n × f / 1000). It is vmxemu-only (SideBySide is false): QEMU's
// TSC, like a real processor's, follows wall-clock time.
//
// Each measurement is the number of instructions the guest executes from
// one counter read (included) to the next (excluded), counted in the
// guest's source next to it; the guest prints it with its first read r0
// and the delta. The test derives the expected delta from the rate's
// definition: the first read is at the one time t0 with
// floor(t0 × f / 1000) = r0 (the counter was never written before it), so
// the delta must be floor((t0 + n) × f / 1000) − r0. As an independent
// check of the instruction counts, TestRDTSCQEMUIcount runs the guest
// under QEMU with -icount shift=0 (one nanosecond per instruction, the TSC
// one tick per nanosecond) and tsc_mhz=1000, where each delta is n.
var rdtscMeasures = []struct {
	name string
	n    uint64
}{
	{"back-to-back", 3},
	{"same block, 3 nops", 6},
	{"same block, 20 ALU ops", 23},
	{"taken jmp", 5},
	{"call/ret", 6},
	{"loop 1000 x (dec, jnz)", 2004},
	{"loop 100 x (nop, add, dec, jnz)", 404},
	{"single-step: 6 #DB traps, handler of 2", 24},
	{"rdtsc to rdtscp", 3},
	{"rdtsc to rdmsr(IA32_TIME_STAMP_COUNTER)", 4},
	{"rdmsr(IA32_TIME_STAMP_COUNTER) to rdtsc", 3},
}

// rdtscOracleMeasures is how many of rdtscMeasures QEMU -icount checks:
// the RDTSC/RDTSCP ones. QEMU's TCG keeps the IA32_TIME_STAMP_COUNTER MSR
// apart from the counter RDTSC reads, so the MSR lines have the SDM alone
// as their reference.
const rdtscOracleMeasures = 9

var measureLine = regexp.MustCompile(`^(.*): (\d+) instructions from 0x([0-9a-f]+): delta (\d+) expected (\d+) (PASS|FAIL)$`)

// tscTicks is the TSC's advance in ns nanoseconds at mhz: floor(ns × mhz /
// 1000).
func tscTicks(ns, mhz uint64) uint64 { return ns/1000*mhz + ns%1000*mhz/1000 }

// checkRDTSC checks the guest's output for a TSC of mhz; qemu: only the
// instruction counts of the RDTSC/RDTSCP measurements.
func checkRDTSC(t *testing.T, out []string, mhz uint64, qemu bool) {
	t.Helper()
	require.GreaterOrEqual(t, len(out), 2+len(rdtscMeasures)+2, "output:\n%q", out)
	assert.Equal(t, "vmxemu rdtsc guest", out[0])
	assert.Equal(t, fmt.Sprintf("tsc_mhz %d", mhz), out[1])
	var rest []string
	i := 0
	for _, l := range out[2:] {
		m := measureLine.FindStringSubmatch(l)
		if m == nil {
			rest = append(rest, l)
			continue
		}
		if !assert.Less(t, i, len(rdtscMeasures), "extra measurement %q", l) {
			break
		}
		if qemu && i >= rdtscOracleMeasures {
			break
		}
		want := rdtscMeasures[i]
		i++
		n, _ := strconv.ParseUint(m[2], 10, 64)
		r0, _ := strconv.ParseUint(m[3], 16, 64)
		delta, _ := strconv.ParseUint(m[4], 10, 64)
		assert.Equal(t, want.name, m[1])
		assert.Equal(t, want.n, n, "%s: instruction count", want.name)
		t0 := (r0*1000 + mhz - 1) / mhz
		assert.Equal(t, r0, tscTicks(t0, mhz), "%s: the first read %#x is floor(t0 × %d / 1000) for an integer t0", want.name, r0, mhz)
		wantDelta := tscTicks(t0+want.n, mhz) - r0
		assert.Equal(t, wantDelta, delta, "%s: %d instructions at %d MHz from %#x", want.name, want.n, mhz, r0)
		assert.Equal(t, "PASS", m[6], l)
	}
	if qemu {
		assert.Equal(t, rdtscOracleMeasures, i, "measurements")
		return
	}
	assert.Equal(t, len(rdtscMeasures), i, "measurements")
	// WRMSR of V: the counter is V as of the WRMSR, which retires (one
	// ns) like any instruction.
	const v = 0x12fffffffe
	w := func(what string, ns uint64) string {
		x := v + tscTicks(ns, mhz)
		return fmt.Sprintf("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); %s: %#x expected %#x PASS", what, x, x)
	}
	assert.Equal(t, []string{
		"single-step: #DB count: 6 expected 6 PASS",
		"rdtscp: IA32_TSC_AUX in ecx: 42 expected 42 PASS",
		w("rdtsc", 1),
		w("3 nops; rdtsc", 4),
		w("rdmsr", 2),
		"exiting with 0x10",
	}, rest)
}

// guestTSCMHz is the TSC rate of the guests' machine: the default model's
// nominal frequency.
func guestTSCMHz(t *testing.T) uint64 {
	m, err := msr.Lookup(msr.DefaultModel)
	require.NoError(t, err)
	mhz, src := m.NominalMHz()
	require.NotZero(t, mhz, "the default model has a nominal frequency")
	t.Logf("TSC rate %d MHz (%s)", mhz, src)
	return mhz
}

// rdtscFlags are the flags for a run with the command line tsc_mhz=mhz.
func rdtscFlags(img string, mhz uint64, extra ...string) []string {
	f := emuFlags(img, extra...)
	i := slices.Index(f, "-append")
	f[i+1] = fmt.Sprintf("tsc_mhz=%d", mhz)
	return f
}

func TestRDTSC(t *testing.T) {
	img := guestImage(t, "rdtsc")
	mhz := guestTSCMHz(t)
	res, err := runEmulator(vmxemuPath(t), rdtscFlags(img, mhz))
	require.NoError(t, err)
	checkRDTSC(t, lines(res.stdout), mhz, false)
	assert.NotContains(t, res.stdout, "FAIL")
	assert.Equal(t, ExitPass, res.status, "exit status (stderr:\n%s)", res.stderr)
}

// TestRDTSCWrongRate: the guest's checks fail when told a rate other than
// the one the TSC counts at (one tick per instruction).
func TestRDTSCWrongRate(t *testing.T) {
	img := guestImage(t, "rdtsc")
	res, err := runEmulator(vmxemuPath(t), rdtscFlags(img, 1000))
	require.NoError(t, err)
	assert.Contains(t, res.stdout, "back-to-back: 3 instructions from ")
	assert.Contains(t, res.stdout, "FAIL")
	assert.Equal(t, ExitFail, res.status, "exit status")
}

func TestRDTSCQEMUIcount(t *testing.T) {
	needTools(t, "qemu-system-x86_64")
	img := guestImage(t, "rdtsc")
	// qemu64 lacks RDTSCP (CPUID.80000001H:EDX[27]); add it.
	res, err := runEmulator("qemu-system-x86_64",
		rdtscFlags(img, 1000, "-icount", "shift=0", "-cpu", "qemu64,+rdtscp"))
	require.NoError(t, err)
	_, out, ok := guestOutput(res.stdout, "vmxemu rdtsc guest\n")
	require.Truef(t, ok, "qemu: no banner in stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	checkRDTSC(t, lines(out), 1000, true)
}

package guests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The rdtsc guest checks vmxemu's TSC contract: one tick per instruction
// retired, plus an offset (cpu.CPU.TSC); no tick for delivering an
// interrupt or exception. It is vmxemu-only (SideBySide is false): QEMU's
// TSC, like a real processor's, follows wall-clock time, so the deltas are
// not instruction counts there.
//
// Each expected delta is the number of instructions the guest executes
// from one counter read (included) to the next (excluded), counted in the
// guest's source next to each measurement. As an independent check of
// those counts, TestRDTSCQEMUIcount runs the guest under QEMU with
// -icount shift=0, where QEMU's virtual clock, and so its TSC, advances
// one nanosecond per instruction.
var rdtscWant = []string{
	"vmxemu rdtsc guest",
	// RDTSC and RDTSCP deltas (QEMU -icount agrees on these).
	"back-to-back: delta 2 expected 2 PASS",
	"same block, 3 nops: delta 5 expected 5 PASS",
	"same block, 20 ALU ops: delta 22 expected 22 PASS",
	"taken jmp: delta 4 expected 4 PASS",
	"call/ret: delta 5 expected 5 PASS",
	"loop 1000 x (dec, jnz): delta 2003 expected 2003 PASS",
	"loop 100 x (nop, add, dec, jnz): delta 403 expected 403 PASS",
	"single-step: 6 #DB traps, handler of 2: delta 23 expected 23 PASS",
	"single-step: #DB count: delta 6 expected 6 PASS",
	"rdtsc to rdtscp: delta 2 expected 2 PASS",
	"rdtscp: IA32_TSC_AUX in ecx: delta 42 expected 42 PASS",
	// IA32_TIME_STAMP_COUNTER (SDM Vol. 3B 18.17): RDMSR reads and WRMSR
	// sets the counter RDTSC reads; after WRMSR of V the WRMSR itself
	// retires, so the next instruction sees V+1.
	"rdtsc to rdmsr(IA32_TIME_STAMP_COUNTER): delta 3 expected 3 PASS",
	"rdmsr(IA32_TIME_STAMP_COUNTER) to rdtsc: delta 2 expected 2 PASS",
	"wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdtsc: 0x12ffffffff expected 0x12ffffffff PASS",
	"wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); 3 nops; rdtsc: 0x1300000002 expected 0x1300000002 PASS",
	"wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdmsr: 0x1300000000 expected 0x1300000000 PASS",
	"exiting with 0x10",
}

// rdtscOracleLines is how many of rdtscWant's lines (after the banner)
// QEMU -icount checks: the RDTSC/RDTSCP ones. QEMU's TCG keeps the
// IA32_TIME_STAMP_COUNTER MSR apart from the counter RDTSC reads, so the
// MSR lines have the SDM alone as their reference.
const rdtscOracleLines = 11

func TestRDTSC(t *testing.T) {
	img := guestImage(t, "rdtsc")
	res, err := runEmulator(vmxemuPath(t), emuFlags(img))
	require.NoError(t, err)
	assert.Equal(t, rdtscWant, lines(res.stdout), "vmxemu: rdtsc's output (stderr:\n%s)", res.stderr)
	assert.NotContains(t, res.stdout, "FAIL")
	assert.Equal(t, ExitPass, res.status, "exit status")
}

func TestRDTSCQEMUIcount(t *testing.T) {
	needTools(t, "qemu-system-x86_64")
	img := guestImage(t, "rdtsc")
	// qemu64 lacks RDTSCP (CPUID.80000001H:EDX[27]); add it.
	res, err := runEmulator("qemu-system-x86_64",
		emuFlags(img, "-icount", "shift=0", "-cpu", "qemu64,+rdtscp"))
	require.NoError(t, err)
	_, out, ok := guestOutput(res.stdout, rdtscWant[0]+"\n")
	require.Truef(t, ok, "qemu: no banner in stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	got := lines(out)
	require.Greater(t, len(got), rdtscOracleLines, "qemu: rdtsc's output:\n%s", out)
	assert.Equal(t, rdtscWant[:1+rdtscOracleLines], got[:1+rdtscOracleLines],
		"qemu -icount shift=0 counts the instructions differently from the guest's comments")
	assert.True(t, strings.HasPrefix(got[1+rdtscOracleLines], "rdtsc to rdmsr(IA32_TIME_STAMP_COUNTER): "),
		"the MSR lines follow: %q", got[1+rdtscOracleLines])
}

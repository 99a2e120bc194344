package guests

import (
	"bytes"
	"context"
	"debug/elf"
	"encoding/binary"
	"errors"
	"fmt"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The side-by-side harness. Every guest is built once per test binary, run
// under qemu-system-x86_64 and under vmxemu with the same flags, and the two
// runs must agree on the serial output (stdout) and the exit status. The
// compute guests must also print exactly what the hosted oracle prints.
//
// Environment:
//
//	CI=true or VMXEMU_REQUIRE_QEMU=1
//	                       fail, rather than skip, when qemu-system-x86_64
//	                       or the guest toolchain (gcc, ld, objcopy) is missing
//	                       (internal/testenv).
//	VMXEMU_BIN=PATH        run this vmxemu binary instead of building
//	                       cmd/vmxemu.

const (
	runTimeout  = 60 * time.Second
	appendArg   = "hello world"
	memoryArg   = "128"
	vmxemuPkg   = "github.com/vmxemu/vmxemu/cmd/vmxemu"
	helloBanner = "vmxemu hello guest\n"
	computeHead = "vmxemu compute guest\n"
	smpBanner   = "vmxemu smp guest\n"
)

// emuFlags are the flags both emulators get; vmxemu accepts QEMU's. extra
// (the guest's Args) come last.
func emuFlags(img string, extra ...string) []string {
	return append([]string{
		"-accel", "tcg", "-nographic", "-no-reboot", "-nodefaults",
		"-serial", "stdio", "-display", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-m", memoryArg,
		"-kernel", img, "-append", appendArg,
	}, extra...)
}

var scratch string // per-test-binary directory for images and binaries

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vmxemu-guests-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	scratch = dir
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// memo computes a value once per key, safely across parallel subtests.
type memo[T any] struct {
	mu sync.Mutex
	m  map[string]*memoEntry[T]
}

type memoEntry[T any] struct {
	once sync.Once
	v    T
	err  error
}

func (c *memo[T]) get(key string, f func() (T, error)) (T, error) {
	c.mu.Lock()
	if c.m == nil {
		c.m = map[string]*memoEntry[T]{}
	}
	e := c.m[key]
	if e == nil {
		e = &memoEntry[T]{}
		c.m[key] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.v, e.err = f() })
	return e.v, e.err
}

var (
	images     memo[string]
	hostOracle memo[string]
	qemuRuns   memo[runResult]
	vmxemuBin  memo[string]
)

// needTools skips (or, in CI mode, fails: internal/testenv) when a tool is
// missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	for _, tool := range tools {
		testenv.NeedTool(t, tool, "the side-by-side guest tests need gcc, binutils and qemu-system-x86_64")
	}
}

func guestImage(t *testing.T, name string) string {
	t.Helper()
	needTools(t, "gcc", "ld", "objcopy")
	img, err := images.get(name, func() (string, error) {
		return Build(name, filepath.Join(scratch, "images"))
	})
	require.NoError(t, err)
	return img
}

// oracleOutput is the hosted compute program's stdout, with "\r\n" line ends
// as the guests' UART driver sends them.
func oracleOutput(t *testing.T) string {
	t.Helper()
	needTools(t, "gcc")
	out, err := hostOracle.get("", func() (string, error) {
		bin, err := BuildHost(filepath.Join(scratch, "host"))
		if err != nil {
			return "", err
		}
		out, err := exec.Command(bin).Output()
		if err != nil {
			return "", fmt.Errorf("host oracle %s: %w\n%s", bin, err, out)
		}
		return strings.ReplaceAll(string(out), "\n", "\r\n"), nil
	})
	require.NoError(t, err)
	return out
}

type runResult struct {
	stdout string
	stderr string
	status int
}

func runEmulator(bin string, args []string) (runResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), runTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	cmd.WaitDelay = 5 * time.Second
	err := cmd.Run()
	res := runResult{stdout: stdout.String(), stderr: stderr.String()}
	if ctx.Err() != nil {
		return res, fmt.Errorf("%s timed out after %v\nstdout:\n%s\nstderr:\n%s", bin, runTimeout, res.stdout, res.stderr)
	}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		res.status = ee.ExitCode()
	default:
		return res, fmt.Errorf("running %s: %w", bin, err)
	}
	return res, nil
}

func qemuRun(t *testing.T, name string) runResult {
	t.Helper()
	needTools(t, "qemu-system-x86_64")
	img := guestImage(t, name)
	res, err := qemuRuns.get(name, func() (runResult, error) {
		return runEmulator("qemu-system-x86_64", emuFlags(img, Args(name)...))
	})
	require.NoError(t, err)
	return res
}

// vmxemuPath builds cmd/vmxemu once per test binary (or takes $VMXEMU_BIN).
func vmxemuPath(t *testing.T) string {
	t.Helper()
	if bin := os.Getenv("VMXEMU_BIN"); bin != "" {
		return bin
	}
	bin, err := vmxemuBin.get("", func() (string, error) {
		out := filepath.Join(scratch, "bin", "vmxemu")
		cmd := exec.Command("go", "build", "-o", out, vmxemuPkg)
		if msg, err := cmd.CombinedOutput(); err != nil {
			return "", fmt.Errorf("go build %s: %w\n%s", vmxemuPkg, err, msg)
		}
		return out, nil
	})
	require.NoError(t, err, "building vmxemu for the side-by-side comparison")
	return bin
}

// guestOutput splits stdout at the guest's first line: what comes before it
// is firmware output (with -nographic and no VGA, QEMU's SeaBIOS prints its
// banner and "Booting from ROM.." on the serial console).
func guestOutput(stdout, banner string) (firmware, guest string, ok bool) {
	i := strings.Index(stdout, strings.ReplaceAll(banner, "\n", "\r\n"))
	if i < 0 {
		return stdout, "", false
	}
	return stdout[:i], stdout[i:], true
}

func bannerOf(name string) string {
	switch {
	case IsCompute(name):
		return computeHead
	case name == "smp":
		return smpBanner
	case isNMI(name):
		return nmiBanner
	case name == "exact":
		return exactBanner
	}
	return helloBanner
}

// checkGuestOutput checks one emulator's run of a guest against what the
// guest is known to print: the host oracle for the compute guests, the boot
// facts for hello.
func checkGuestOutput(t *testing.T, who, name, img string, res runResult) {
	t.Helper()
	_, out, ok := guestOutput(res.stdout, bannerOf(name))
	require.Truef(t, ok, "%s: the guest's banner is missing from stdout:\n%s\nstderr:\n%s", who, res.stdout, res.stderr)
	require.Equalf(t, ExitPass, res.status, "%s: exit status (guest output:\n%s)", who, out)
	if IsCompute(name) {
		require.Equal(t, oracleOutput(t), out, "%s: %s's serial output differs from the hosted oracle's", who, name)
		return
	}
	if name == "smp" {
		checkSMPOutput(t, who, out, 4)
		return
	}
	if isNMI(name) {
		checkNMIOutput(t, who, name, out)
		return
	}
	if name == "exact" {
		checkExactOutput(t, who, out)
		return
	}
	want := []string{
		"vmxemu hello guest",
		`multiboot: magic 0x2badb002 ok, flags 0x[0-9a-f]+`,
		`memory: lower 63[0-9] KiB, upper [0-9]+ KiB`,
		`cmdline: "` + regexp.QuoteMeta(img+" "+appendArg) + `"`,
		"fw_cfg: QEMU, cpus=1",
		"exiting with 0x10",
	}
	lines := strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n")
	require.Lenf(t, lines, len(want), "%s: hello's output:\n%s", who, out)
	for i, w := range want {
		assert.Regexpf(t, "^"+w+"$", lines[i], "%s: hello, line %d", who, i+1)
	}
}

// checkSMPOutput checks the smp guest's report for n CPUs: every CPU
// started, counted, took its timer interrupts and the IPIs meant for it.
func checkSMPOutput(t *testing.T, who, out string, n int) {
	t.Helper()
	assert.Contains(t, out, fmt.Sprintf("fw_cfg: cpus=%d\r\n", n), who)
	assert.Contains(t, out, fmt.Sprintf("acpi: %d processors, I/O APIC at 0xfec00000, IRQ 0 -> GSI 2\r\n", n), who)
	assert.Contains(t, out, fmt.Sprintf("started %d application processors with INIT-SIPI-SIPI\r\n", n-1), who)
	for c := 0; c < n; c++ {
		ap := map[bool]int{true: 1, false: 0}
		want := fmt.Sprintf("cpu %d: APIC ID %d, counter 200, timer ok 4 ticks, IPIs: ping %d broadcast 1 NMI %d logical %d\r\n",
			c, c, ap[c > 0], ap[c > 0], ap[c > 0 && c < 8])
		assert.Contains(t, out, want, who)
	}
	assert.Contains(t, out, fmt.Sprintf("spinlock total %d, lock xadd total %d, expected %d; pongs %d\r\n", 200*n, 200*n, 200*n, n-1), who)
	assert.True(t, strings.HasSuffix(out, "all checks passed\r\nexiting with 0x10\r\n"), "%s: smp's output:\n%s", who, out)
}

// TestSMP64 brings up 64 CPUs under vmxemu (QEMU takes several times
// longer with as many vCPU threads, so it is not run there), twice: the two
// runs must print exactly the same, and deliver every interrupt on the
// same CPU at the same instruction with the same registers (the -d int
// log).
func TestSMP64(t *testing.T) {
	img := guestImage(t, "smp")
	bin := vmxemuPath(t)
	var outs, logs [2]string
	for i := range outs {
		log := filepath.Join(t.TempDir(), "int.log")
		res, err := runEmulator(bin, emuFlags(img, "-smp", "64", "-d", "int", "-D", log))
		require.NoError(t, err)
		require.Equalf(t, ExitPass, res.status, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
		_, out, ok := guestOutput(res.stdout, smpBanner)
		require.True(t, ok, res.stdout)
		checkSMPOutput(t, "vmxemu", out, 64)
		outs[i] = res.stdout
		b, err := os.ReadFile(log)
		require.NoError(t, err)
		logs[i] = string(b)
	}
	assert.Equal(t, outs[0], outs[1], "two runs of the same guest differ")
	assert.Greater(t, strings.Count(logs[0], "Servicing hardware INT"), 64*6, "timer and IPI interrupts on every CPU")
	assert.True(t, logs[0] == logs[1], "the -d int logs of two runs differ")
}

func TestList(t *testing.T) {
	assert.Equal(t, []string{"compute32", "compute32-O0", "compute64", "compute64-O0", "exact", "hello",
		"nmi", "nmi64", "rdtsc", "smp", "vmxdetect", "vmxon"}, List())
	assert.False(t, SideBySide("rdtsc"), "rdtsc checks vmxemu's instruction-counting TSC: vmxemu only")
	assert.True(t, SideBySide("nmi"))
	assert.True(t, SideBySide("nmi64"))
	assert.False(t, SideBySide("vmxdetect"), "vmxdetect reports the CPU model: vmxemu only")
	assert.False(t, SideBySide("vmxon"), "vmxon needs VMX operation, which QEMU's TCG lacks: vmxemu only")
	assert.True(t, SideBySide("hello"))
	assert.True(t, SideBySide("exact"), "exact: INVLPG without segment checks, which QEMU gets right")
}

func TestBuildUnknownGuest(t *testing.T) {
	_, err := Build("nonesuch", t.TempDir())
	require.Error(t, err)
	assert.Contains(t, err.Error(), `unknown guest "nonesuch"`)
}

// TestBuild checks each image is what QEMU's multiboot loader accepts: an
// ELF32 i386 executable with a valid multiboot header in its first 8 KiB.
func TestBuild(t *testing.T) {
	for _, name := range List() {
		t.Run(name, func(t *testing.T) {
			img := guestImage(t, name)
			f, err := elf.Open(img)
			require.NoError(t, err)
			defer f.Close()
			assert.Equal(t, elf.ELFCLASS32, f.Class)
			assert.Equal(t, elf.EM_386, f.Machine)
			assert.Equal(t, elf.ET_EXEC, f.Type)
			assert.Equal(t, uint64(0x100000), f.Section(".text").Addr)

			raw, err := os.ReadFile(img)
			require.NoError(t, err)
			found := false
			for off := 0; off+12 <= len(raw) && off < 8192; off += 4 {
				magic := binary.LittleEndian.Uint32(raw[off:])
				flags := binary.LittleEndian.Uint32(raw[off+4:])
				sum := binary.LittleEndian.Uint32(raw[off+8:])
				if magic == 0x1BADB002 && magic+flags+sum == 0 {
					found = true
					assert.Zero(t, flags&(1<<16), "ELF images need no a.out kludge")
					break
				}
			}
			assert.True(t, found, "no multiboot header in the first 8 KiB")
		})
	}
}

func TestHostOracle(t *testing.T) {
	out := oracleOutput(t)
	assert.True(t, strings.HasPrefix(out, computeHead[:len(computeHead)-1]+"\r\n"))
	assert.Contains(t, out, "crc32: \"123456789\"=0xcbf43926 ")
	assert.Contains(t, out, "recursion: fib(25)=75025 ackermann(2,3)=9 ackermann(3,5)=253\r\n")
	assert.Regexp(t, `compute: \d+ checks, 0 failed: PASS\r\n$`, out)
	assert.NotContains(t, out, "FAIL")
}

// TestMakefileMatchesBuild builds with the Makefile and checks it produced
// the same loadable code and data as Build.
func TestMakefileMatchesBuild(t *testing.T) {
	if testing.Short() {
		t.Skip("builds every guest twice")
	}
	needTools(t, "make", "gcc", "ld", "objcopy")
	dir := t.TempDir()
	out, err := exec.Command("make", "BUILD="+dir).CombinedOutput()
	require.NoError(t, err, "%s", out)
	for _, name := range append(List(), Benchmarks()...) {
		a := loadable(t, filepath.Join(dir, name+".elf"))
		b := loadable(t, guestImage(t, name))
		assert.Equal(t, b, a, "%s: the Makefile and Build disagree", name)
	}
}

// loadable describes an image by its entry point and allocated sections.
func loadable(t *testing.T, path string) map[string]string {
	t.Helper()
	f, err := elf.Open(path)
	require.NoError(t, err)
	defer f.Close()
	m := map[string]string{"entry": fmt.Sprintf("%#x", f.Entry)}
	for _, s := range f.Sections {
		if s.Flags&elf.SHF_ALLOC == 0 {
			continue
		}
		data := []byte(nil)
		if s.Type != elf.SHT_NOBITS {
			data, err = s.Data()
			require.NoError(t, err)
		}
		m[s.Name] = fmt.Sprintf("addr=%#x size=%#x data=%x", s.Addr, s.Size, data)
	}
	return m
}

// TestQEMU checks every guest under QEMU alone: the reference side of the
// comparison must itself be right.
func TestQEMU(t *testing.T) {
	for _, name := range List() {
		if !SideBySide(name) {
			continue // reports the CPU model, which is QEMU's own under QEMU
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			res := qemuRun(t, name)
			checkGuestOutput(t, "qemu", name, guestImage(t, name), res)
		})
	}
}

// TestSideBySide runs every guest under QEMU and vmxemu with the same flags
// and requires the same guest serial output and exit status (QEMU's own
// SeaBIOS banner, which precedes the guest's output, is not compared).
func TestSideBySide(t *testing.T) {
	for _, name := range List() {
		if !SideBySide(name) {
			// vmxdetect prints the CPU model's VMX capabilities and
			// FEATURE_CONTROL: QEMU's qemu64 model legitimately differs.
			// It runs under vmxemu alone in vmxdetect_test.go.
			continue
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := guestImage(t, name)
			want := qemuRun(t, name)
			checkGuestOutput(t, "qemu", name, img, want)

			got, err := runEmulator(vmxemuPath(t), emuFlags(img, Args(name)...))
			require.NoError(t, err)
			checkGuestOutput(t, "vmxemu", name, img, got)

			// What precedes the guest's first line is firmware output: QEMU's
			// SeaBIOS writes its banner to COM1 under -nographic, vmxemu has
			// no BIOS that prints. Everything the guest prints must match.
			_, wantGuest, _ := guestOutput(want.stdout, bannerOf(name))
			gotFW, gotGuest, _ := guestOutput(got.stdout, bannerOf(name))
			assert.Empty(t, gotFW, "vmxemu prints nothing before the guest does")
			assert.Equal(t, wantGuest, gotGuest, "guest serial output, vmxemu vs QEMU")
			assert.Equal(t, want.status, got.status, "exit status, vmxemu vs QEMU (vmxemu stderr:\n%s)", got.stderr)
		})
	}
}

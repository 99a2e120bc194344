package guests

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed lib hello compute compute32 compute64 vmxdetect smp nmi rdtsc vmxon exact bench
var sources embed.FS

// ExitPass is the exit status of QEMU (and vmxemu) when a guest writes 0x10,
// its success value, to isa-debug-exit: (0x10<<1)|1.
const ExitPass = 0x10<<1 | 1

// ExitFail is the exit status for a guest that writes 0x11 (a failed
// self-check) to isa-debug-exit.
const ExitFail = 0x11<<1 | 1

// Compiler flags. The Makefile repeats them; TestMakefileMatchesBuild checks
// that both produce the same code.
var (
	commonCFlags = []string{
		"-std=gnu11", "-Wall", "-Wextra",
		"-ffreestanding", "-fno-builtin", "-nostdlib",
		"-fno-pic", "-fno-pie", "-fno-stack-protector", "-fcf-protection=none",
		"-fno-asynchronous-unwind-tables", "-fno-tree-loop-distribute-patterns",
		"-mno-sse", "-mno-sse2", "-mno-mmx",
		"-Ilib", "-Icompute",
	}
	cflags32 = []string{"-m32", "-march=i686"}
	cflags64 = []string{"-m64", "-mno-red-zone", "-mcmodel=small"}

	// HostCFlags builds the hosted compute oracle.
	hostCFlags = []string{"-std=gnu11", "-O2", "-Wall", "-Wextra", "-DCOMPUTE_HOSTED"}
)

var libC = []string{
	"lib/uart.c", "lib/printf.c", "lib/fwcfg.c", "lib/exit.c", "lib/string.c", "lib/libgcc.c",
}

type recipe struct {
	bits     int      // 32 or 64
	opt      string   // optimisation flag
	sources  []string // in link order, relative to this directory
	ldscript string
	// vmxemuOnly: the guest reports the CPU model, which differs from
	// QEMU's, so it is not compared side by side (see SideBySide).
	vmxemuOnly bool
	// args are extra emulator flags the guest is run with (Args).
	args []string
}

func join(parts ...[]string) []string {
	var out []string
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

var recipes = map[string]recipe{
	"hello": {32, "-O2",
		join([]string{"lib/entry32.S", "lib/setjmp32.S"}, libC, []string{"hello/main.c"}),
		"lib/link32.ld", false, nil},
	"compute32": {32, "-O2",
		join([]string{"lib/entry32.S", "lib/setjmp32.S"}, libC, []string{"compute/compute.c", "compute32/main.c"}),
		"lib/link32.ld", false, nil},
	"compute64": {64, "-O2",
		join([]string{"compute64/entry.S", "lib/setjmp64.S"}, libC, []string{"compute/compute.c", "compute64/main.c"}),
		"compute64/link.ld", false, nil},
	"vmxdetect": {32, "-O2",
		join([]string{"lib/entry32.S", "vmxdetect/traps.S"}, libC, []string{"vmxdetect/main.c"}),
		"lib/link32.ld", true, nil},
	"smp": {32, "-O2",
		join([]string{"lib/entry32.S", "smp/smp.S"}, libC, []string{"smp/main.c"}),
		"lib/link32.ld", false, []string{"-smp", "4"}},
	"nmi": {32, "-O2",
		join([]string{"lib/entry32.S", "nmi/traps.S"}, libC, []string{"nmi/main.c"}),
		"lib/link32.ld", false, nil},
	"nmi64": {64, "-O2",
		join([]string{"compute64/entry.S", "nmi/traps.S"}, libC, []string{"nmi/main.c"}),
		"compute64/link.ld", false, nil},
	// exact: instruction details QEMU gets right (INVLPG applies no
	// segment checks), compared side by side.
	"exact": {32, "-O2",
		join([]string{"lib/entry32.S", "exact/traps.S"}, libC, []string{"exact/main.c"}),
		"lib/link32.ld", false, nil},
	// rdtsc checks vmxemu's TSC contract (one nanosecond of virtual time
	// per instruction retired, the TSC at the model's nominal frequency),
	// which QEMU's wall-clock TSC does not follow: vmxemu only.
	"rdtsc": {32, "-O2",
		join([]string{"lib/entry32.S", "vmxdetect/traps.S"}, libC, []string{"rdtsc/main.c"}),
		"lib/link32.ld", true, nil},
	// vmxon runs the VMX bring-up (VMXON, the VMCS instructions, VMXOFF)
	// on every CPU: QEMU's TCG has no VMX, so it is vmxemu only.
	"vmxon": {64, "-O2",
		join([]string{"compute64/entry.S", "vmxon/vmxon.S", "lib/vmxenter64.S"}, libC, []string{"lib/vmcs64.c", "vmxon/main.c"}),
		"compute64/link.ld", true, nil},
}

// benchRecipes are the benchmark kernels (guests/bench, bench/run.sh,
// docs/PERFORMANCE.md): one image per mode holding every workload, picked
// with -append (see Benchmarks). They are not in List: without a workload
// on the command line they print their list and fail.
var benchRecipes = map[string]recipe{
	"bench32": {32, "-O2",
		join([]string{"lib/entry32.S"}, libC, []string{"bench/loops32.S", "bench/main.c"}),
		"lib/link32.ld", false, nil},
	"bench64": {64, "-O2",
		join([]string{"compute64/entry.S"}, libC, []string{"bench/loops64.S", "bench/main.c"}),
		"compute64/link.ld", false, nil},
	// benchvmx: VM-exit round trips (guest CPUID, host VMRESUME), without
	// and with VPID and EPT; QEMU's TCG has no VMX, so vmxemu only.
	"benchvmx": {64, "-O2",
		join([]string{"compute64/entry.S", "lib/vmxenter64.S"}, libC, []string{"lib/vmcs64.c", "bench/vmxloop.S", "bench/vmx.c"}),
		"compute64/link.ld", true, nil},
}

// Benchmarks returns the names of the benchmark kernels Build knows,
// sorted. Each runs the workload its command line names ("-append
// 'las iters=1000'"; "quiet" prints nothing) and prints
// "MODE NAME: iters N insns M ok" (benchvmx: "benchvmx NAME: iters N
// exits N+1 ok", bench/vmx.c).
func Benchmarks() []string {
	names := make([]string, 0, len(benchRecipes))
	for n := range benchRecipes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

func init() {
	for _, n := range []string{"compute32", "compute64"} {
		r := recipes[n]
		r.opt = "-O0"
		recipes[n+"-O0"] = r
	}
}

// List returns the names of the guests Build knows, sorted.
func List() []string {
	names := make([]string, 0, len(recipes))
	for n := range recipes {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// SideBySide reports whether the named guest's output must be identical
// under QEMU and vmxemu. vmxdetect is not: it prints the CPU model's VMX
// capabilities and IA32_FEATURE_CONTROL, and QEMU's CPU model (qemu64,
// without VMX under TCG, FEATURE_CONTROL 0 and writable) is not vmxemu's;
// it is tested under vmxemu alone (vmxdetect_test.go). Nor is rdtsc: it
// checks vmxemu's TSC, which counts virtual time, where QEMU's TSC follows
// the host's clock (rdtsc_test.go).
func SideBySide(name string) bool {
	r, ok := recipes[name]
	return ok && !r.vmxemuOnly
}

// Args returns the extra emulator flags the named guest runs with, the
// same under QEMU and vmxemu (smp: "-smp 4").
func Args(name string) []string {
	return append([]string(nil), recipes[name].args...)
}

// IsCompute reports whether the named guest runs the shared compute code, so
// that its serial output must match the hosted oracle (BuildHost).
func IsCompute(name string) bool {
	return strings.HasPrefix(name, "compute")
}

// Build compiles the named guest into outDir (created if needed) and returns
// the path of the multiboot ELF32 image, outDir/NAME.elf. It needs gcc, GNU
// ld and objcopy in PATH.
func Build(name, outDir string) (string, error) {
	r, ok := recipes[name]
	if !ok {
		r, ok = benchRecipes[name]
	}
	if !ok {
		return "", fmt.Errorf("guests: unknown guest %q (known: %s)", name, strings.Join(append(List(), Benchmarks()...), ", "))
	}
	tools := []string{"gcc", "ld", "objcopy"}
	if err := lookTools(tools...); err != nil {
		return "", fmt.Errorf("guests: building %q: %w", name, err)
	}
	work, src, err := prepare(outDir, name)
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)

	cflags := join(cflagsFor(r.bits), []string{r.opt}, commonCFlags)
	var objs []string
	for i, s := range r.sources {
		obj := filepath.Join(work, fmt.Sprintf("%02d-%s.o", i, strings.ReplaceAll(s, "/", "_")))
		if err := run(src, "gcc", join(cflags, []string{"-c", s, "-o", obj})...); err != nil {
			return "", fmt.Errorf("guests: building %q: %w", name, err)
		}
		objs = append(objs, obj)
	}
	out := filepath.Join(outDir, name+".elf")
	linked := filepath.Join(work, name+".elf")
	emul := "elf_i386"
	if r.bits == 64 {
		emul = "elf_x86_64"
	}
	ldArgs := join([]string{"-m", emul, "-T", r.ldscript, "--build-id=none", "-z", "max-page-size=0x1000", "-o", linked}, objs)
	if err := run(src, "ld", ldArgs...); err != nil {
		return "", fmt.Errorf("guests: linking %q: %w", name, err)
	}
	if r.bits == 64 {
		// QEMU's multiboot loader takes ELF32 only: keep the 64-bit code,
		// change the container.
		conv := linked + "32"
		if err := run(src, "objcopy", "-O", "elf32-i386", linked, conv); err != nil {
			return "", fmt.Errorf("guests: converting %q to ELF32: %w", name, err)
		}
		linked = conv
	}
	if err := os.Rename(linked, out); err != nil {
		return "", fmt.Errorf("guests: %w", err)
	}
	return out, nil
}

// BuildHost compiles the shared compute code as an ordinary program for the
// host (gcc, hosted C library) into outDir and returns its path. Its
// standard output is what the compute guests must print on COM1, with "\n"
// where the guests' UART driver sends "\r\n"; it exits 0 when all
// self-checks pass.
func BuildHost(outDir string) (string, error) {
	if err := lookTools("gcc"); err != nil {
		return "", fmt.Errorf("guests: building the host oracle: %w", err)
	}
	work, src, err := prepare(outDir, "compute-host")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	out, err := filepath.Abs(filepath.Join(outDir, "compute-host"))
	if err != nil {
		return "", fmt.Errorf("guests: %w", err)
	}
	args := join(hostCFlags, []string{"-o", out, "compute/compute.c", "compute/host_main.c"})
	if err := run(src, "gcc", args...); err != nil {
		return "", fmt.Errorf("guests: building the host oracle: %w", err)
	}
	return out, nil
}

func cflagsFor(bits int) []string {
	if bits == 64 {
		return cflags64
	}
	return cflags32
}

func lookTools(tools ...string) error {
	var missing []string
	for _, t := range tools {
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%s not found in PATH: the guests need gcc (with -m32 support), GNU ld and objcopy "+
			"(Debian/Ubuntu: apt-get install gcc binutils)", strings.Join(missing, ", "))
	}
	return nil
}

// prepare makes a scratch directory under outDir and writes the embedded
// sources into it; it returns the scratch directory and the source root.
func prepare(outDir, name string) (work, src string, err error) {
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return "", "", fmt.Errorf("guests: %w", err)
	}
	work, err = os.MkdirTemp(outDir, ".build-"+name+"-")
	if err != nil {
		return "", "", fmt.Errorf("guests: %w", err)
	}
	src = filepath.Join(work, "src")
	err = fs.WalkDir(sources, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		dst := filepath.Join(src, filepath.FromSlash(p))
		if d.IsDir() {
			return os.MkdirAll(dst, 0o755)
		}
		b, err := sources.ReadFile(p)
		if err != nil {
			return err
		}
		return os.WriteFile(dst, b, 0o644)
	})
	if err != nil {
		os.RemoveAll(work)
		return "", "", fmt.Errorf("guests: extracting sources: %w", err)
	}
	return work, src, nil
}

func run(dir, tool string, args ...string) error {
	cmd := exec.Command(tool, args...)
	cmd.Dir = dir
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = &out
	if err := cmd.Run(); err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return fmt.Errorf("%s %s: %v\n%s", tool, strings.Join(args, " "), err, out.String())
		}
		return fmt.Errorf("%s: %w", tool, err)
	}
	return nil
}

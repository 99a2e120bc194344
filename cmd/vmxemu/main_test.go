package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/guests"
)

type runOut struct {
	code           int
	stdout, stderr string
}

func vmxemu(t *testing.T, args ...string) runOut {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(context.Background(), args, &stdout, &stderr)
	return runOut{code, stdout.String(), stderr.String()}
}

// kernel writes a flat binary to a temporary file.
func kernel(t *testing.T, code ...byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "k.bin")
	require.NoError(t, os.WriteFile(p, code, 0o644))
	return p
}

var debugExitFlags = []string{"-nodefaults", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-boot-mode", "flat32"}

func flat(img string, extra ...string) []string {
	return append(append(append([]string{}, debugExitFlags...), "-kernel", img), extra...)
}

// Hand-assembled 32-bit code.
var (
	prtHi  = []byte{0x66, 0xBA, 0xF8, 0x03, 0xB0, 'h', 0xEE, 0xB0, 'i', 0xEE} // mov dx,0x3f8; mov al,'h'; out; mov al,'i'; out
	exit7  = []byte{0xB8, 7, 0, 0, 0, 0xE7, 0xF4, 0xF4}                       // mov eax,7; out 0xf4,eax; hlt
	ud2    = []byte{0x0F, 0x0B}
	spin   = []byte{0xEB, 0xFE}
	clihlt = []byte{0xFA, 0xF4}
)

// TestNoArgumentsRunsTheDemo: vmxemu alone runs the seed's VMX bring-up
// on 4 CPUs of the default model and prints the sysctl lines of the seed
// scenario (issue 17) with the Sandy Bridge EP's values — VMCS revision 16,
// 1024-byte regions, IA32_VMX_BASIC[48] = 0, from its dump
// (../shared/reference/cpus/sandy-bridge-ep_xeon-e5-ES_0x206D5.txt).
func TestNoArgumentsRunsTheDemo(t *testing.T) {
	r := vmxemu(t)
	assert.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Empty(t, r.stderr)
	lines := strings.Split(strings.ReplaceAll(r.stdout, "\r\n", "\n"), "\n")
	require.NotEmpty(t, lines)
	assert.Contains(t, lines[0], "built-in demo: the VMX bring-up of a kernel's VMM on 4 CPU(s) of a sandybridge-ep")
	want := []string{
		"hw.vmm.vmx.revision: 16",
		"hw.vmm.vmx.region_size: 1024",
		"hw.vmm.vmx.width_addr: 0",
		"hw.vmm.type: VMX from Intel",
		"hw.vmm.enable: 1",
		"hw.vmm.enable: 0",
	}
	var got []string
	for _, l := range lines {
		if strings.HasPrefix(l, "hw.") {
			got = append(got, l)
		}
	}
	assert.Equal(t, want, got)

	// Every CPU, in order, builds its EPT identity map and launches the
	// guest: the controls are the allowed-0 settings of the dump's TRUE_*
	// MSRs (0x48D 0x16, 0x48E 0x04006172, 0x48F 0x00036DFB, 0x490
	// 0x000011FB) with "host address-space size" and "IA-32e mode guest"
	// (bit 9 of the exit and entry controls) added, and for EPT "activate
	// secondary controls" (primary bit 31) with "enable EPT" and "enable
	// VPID" (secondary bits 1 and 5, allowed by 0x48B 0x000004FF00000000;
	// 0x48C 0xF0106134141 allows a WB EPTP, 4 levels, 2-MiB pages and
	// single-context INVEPT); CPUID exits with reason 10, VMCALL with 18
	// (SDM Vol. 3C 26.1.2, Appendix C), qualification 0, lengths 2 and 3;
	// between them the read of the page the map leaves out is an EPT
	// violation, reason 48, qualification 0x181 (Table 28-7: data read,
	// not present, guest-linear address valid, translation access), at
	// the page's address (the embedded image's symbol).
	probe, pml4 := demoSym(t, "probe_page"), demoSym(t, "ept_pml4")
	var launch []string
	for c := 0; c < 4; c++ {
		launch = append(launch,
			fmt.Sprintf("cpu %d: EPT: identity map of 0-1 GiB (4 levels, 2-MiB pages), gpa %#x left out; "+
				"EPTP %#x (WB, walk length 4); VPID %d", c, probe, pml4+uint64(c)*4096|6|3<<3, c+1),
			fmt.Sprintf("cpu %d: VMLAUNCH: controls pin 0x16 proc 0x84006172 proc2 0x22 exit 0x36ffb entry 0x13fb", c),
			fmt.Sprintf("cpu %d: vm-exit reason 10 (CPUID) qual 0x0 len 2 -> resume", c),
			fmt.Sprintf("cpu %d: vm-exit reason 48 (EPT violation) qual 0x181 (read, not present) gpa %#x -> map, INVEPT, resume", c, probe),
			fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done", c))
	}
	got = nil
	for _, l := range lines {
		if strings.HasPrefix(l, "cpu ") {
			got = append(got, l)
		}
	}
	assert.Equal(t, launch, got)

	// Another model prints its own values (Ice Lake SP: revision 0x13,
	// 1280-byte regions), and a broken variant says why it broke.
	r = vmxemu(t, "-cpu", "icelake-sp", "-smp", "2")
	assert.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stdout, "on 2 CPU(s) of a icelake-sp")
	assert.Contains(t, r.stdout, "hw.vmm.vmx.revision: 19\r\nhw.vmm.vmx.region_size: 1280")
	r = vmxemu(t, "-append", "scenario=cr0-ne", "-smp", "1")
	assert.Equal(t, cli.ExitOK, r.code, r.stderr)
	assert.Contains(t, r.stderr, "VMXON: #GP(0x0): VMXON: CR0.NE (bit 5) must be 1 in VMX operation")
	assert.Contains(t, r.stdout, "hw.vmm.enable: 0")
}

func TestUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"-bogus"},
		{"-m"},
		{"disk.img"},
		{"-trace", "t.out"},
		{"-S"}, // without -s/-gdb: no monitor to continue from
		{"-machine", "microvm"},
		{"-device", "edu"}, // pc: no PCI bus
		{"-cpu", "nonesuch"},
		{"-cpu", "vmxemu-basic,+vmx"},
		{"-d", "mmu"},
		{"-d", "exec", "-d-format", "json"},
		{"-dfilter", "0x2000..0x1000"},
		{"frobnicate"},
		{"-cpu", "sandybridge-ep,+frob"},
		{"-cpu", "sandybridge-ep,+avx512f"},
		{"-cpu", "ivybridge", "-feature-control", "0x3"},
		{"-cpu-file", "/nonexistent/model.cpu"},
		{"vmxcap", "-cpu", "nonesuch"},
		{"-kernel", "x.bin", "-boot-mode", "elf", "-append", "a"},
	} {
		r := vmxemu(t, args...)
		assert.Equal(t, cli.ExitUsage, r.code, "%q", args)
		assert.Empty(t, r.stdout, "%q", args)
		assert.Equal(t, 1, strings.Count(r.stderr, "\n"), "%q: one line: %q", args, r.stderr)
		assert.True(t, strings.HasPrefix(r.stderr, "vmxemu: "), "%q: %q", args, r.stderr)
	}
}

func TestBadKernelFile(t *testing.T) {
	r := vmxemu(t, "-kernel", filepath.Join(t.TempDir(), "missing.elf"))
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Regexp(t, `^vmxemu: -kernel .*missing\.elf: could not load kernel '.*missing\.elf': no such file or directory\n$`, r.stderr)

	r = vmxemu(t, "-kernel", kernel(t, 1, 2, 3), "-initrd", filepath.Join(t.TempDir(), "nomod"))
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Contains(t, r.stderr, "-initrd")

	// A file that is not a multiboot kernel: the loader's error, exit 2.
	r = vmxemu(t, "-kernel", kernel(t, 1, 2, 3))
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.Contains(t, r.stderr, "multiboot")
}

func TestInformationalFlags(t *testing.T) {
	r := vmxemu(t, "-h")
	assert.Equal(t, cli.ExitOK, r.code)
	assert.True(t, strings.HasSuffix(r.stdout, cli.Usage()), "-h prints the version line, then the usage")
	r = vmxemu(t, "-version")
	assert.Equal(t, cli.ExitOK, r.code)
	assert.Equal(t, "vmxemu emulator version "+version+" (speaks the QEMU qemu-system-x86_64 command line)\n", r.stdout)
	r = vmxemu(t, "-cpu", "help")
	assert.Contains(t, r.stdout, defaultCPUModel)
	r = vmxemu(t, "-d", "help")
	assert.Contains(t, r.stdout, "cpu_reset")
	r = vmxemu(t, "-machine", "help")
	assert.Contains(t, r.stdout, "pc")
	r = vmxemu(t, "-device", "help")
	assert.Contains(t, r.stdout, "isa-debug-exit")
}

func TestDebugExitStatus(t *testing.T) {
	r := vmxemu(t, flat(kernel(t, append(append([]byte{}, prtHi...), exit7...)...), "-serial", "stdio")...)
	assert.Equal(t, 7<<1|1, r.code, r.stderr)
	assert.Equal(t, "hi", r.stdout)
	assert.Empty(t, r.stderr)
}

func TestSerialFileAndNull(t *testing.T) {
	out := filepath.Join(t.TempDir(), "com1.txt")
	img := kernel(t, append(append([]byte{}, prtHi...), exit7...)...)
	r := vmxemu(t, flat(img, "-serial", "file:"+out)...)
	assert.Equal(t, 15, r.code)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "hi", string(b))
	assert.Empty(t, r.stdout)

	r = vmxemu(t, flat(img, "-serial", "null")...)
	assert.Equal(t, 15, r.code)
	assert.Empty(t, r.stdout)
}

func TestNographicPrintsNoFirmwareBanner(t *testing.T) {
	// QEMU's SeaBIOS prints its banner on COM1 under -nographic; vmxemu has
	// no BIOS that prints: the guest's output comes first.
	img := kernel(t, append(append([]byte{}, prtHi...), exit7...)...)
	r := vmxemu(t, flat(img, "-serial", "stdio", "-nographic")...)
	assert.Equal(t, "hi", r.stdout)
}

func TestTripleFault(t *testing.T) {
	img := kernel(t, ud2...)
	r := vmxemu(t, flat(img, "-no-reboot")...)
	assert.Equal(t, cli.ExitTripleFault, r.code)
	assert.Regexp(t, `^vmxemu: triple fault on CPU 0 at CS:RIP=0008:0x100000 \(`, r.stderr)
	assert.Contains(t, r.stderr, "[SDM ", "the rule that failed is explained")
	assert.Contains(t, r.stderr, "CR0=00000011")

	r = vmxemu(t, flat(img, "-no-reboot", "-no-explain")...)
	assert.Equal(t, cli.ExitTripleFault, r.code)
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
	assert.NotContains(t, r.stderr, "[SDM ")

	// Without -no-reboot the machine resets until the reset limit.
	r = vmxemu(t, flat(img)...)
	assert.Equal(t, cli.ExitLimit, r.code)
	assert.Contains(t, r.stderr, "reset limit")
}

func TestLogIntAndCPUReset(t *testing.T) {
	log := filepath.Join(t.TempDir(), "log.txt")
	r := vmxemu(t, flat(kernel(t, ud2...), "-no-reboot", "-d", "int,cpu_reset", "-D", log)...)
	assert.Equal(t, cli.ExitTripleFault, r.code)
	b, err := os.ReadFile(log)
	require.NoError(t, err)
	s := string(b)
	assert.Contains(t, s, "CPU Reset (CPU 0)\n")
	assert.Regexp(t, `(?m)^     0: v=06 e=0000 i=0 cpl=0 IP=0008:0000000000100000 pc=0000000000100000 SP=0010:0000000000000000 env->regs\[R_EAX\]=0000000000000000$`, s)
	assert.Contains(t, s, "v=08", "the double fault is logged")
	assert.Contains(t, s, "EFER=")
}

func TestLimits(t *testing.T) {
	r := vmxemu(t, flat(kernel(t, spin...), "-icount-limit", "1000")...)
	assert.Equal(t, cli.ExitLimit, r.code)
	assert.Equal(t, "vmxemu: instruction limit of 1000 reached\n", r.stderr)

	r = vmxemu(t, flat(kernel(t, spin...), "-time-limit", "0.05")...)
	assert.Equal(t, cli.ExitLimit, r.code)
	assert.Contains(t, r.stderr, "time limit")

	r = vmxemu(t, flat(kernel(t, clihlt...))...)
	assert.Equal(t, cli.ExitLimit, r.code)
	assert.Contains(t, r.stderr, "halted with interrupts disabled")
}

func TestFlatModes(t *testing.T) {
	// Real mode at the default 0x7C00: mov dx,0x3f8 (no prefix); mov al,'r'; out dx,al; mov al,9; out 0xf4,al; hlt.
	img := kernel(t, 0xBA, 0xF8, 0x03, 0xB0, 'r', 0xEE, 0xB0, 9, 0xE6, 0xF4, 0xF4)
	r := vmxemu(t, "-nodefaults", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-boot-mode", "flat16", "-kernel", img)
	assert.Equal(t, 9<<1|1, r.code, r.stderr)
	assert.Equal(t, "r", r.stdout)

	// 64-bit at a chosen address.
	img = kernel(t, append(append([]byte{}, prtHi...), exit7...)...)
	r = vmxemu(t, "-nodefaults", "-serial", "stdio", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
		"-boot-mode", "flat64", "-load-addr", "0x200000", "-kernel", img)
	assert.Equal(t, 15, r.code, r.stderr)
	assert.Equal(t, "hi", r.stdout)
}

var updateDemo = flag.Bool("update-demo", false, "rewrite cmd/vmxemu/demo/vmxon.elf from guests/vmxon")

// TestDemoImage: the demo kernel embedded in vmxemu is what its source
// (guests/vmxon) builds to with guests.Build, byte for byte
// (go test ./cmd/vmxemu -run TestDemoImage -update-demo rewrites it).
func TestDemoImage(t *testing.T) {
	for _, tool := range []string{"gcc", "ld", "objcopy"} {
		needTool(t, tool, "building the demo guest from its source")
	}
	img, err := guests.Build("vmxon", t.TempDir())
	require.NoError(t, err)
	b, err := os.ReadFile(img)
	require.NoError(t, err)
	if *updateDemo {
		require.NoError(t, os.WriteFile(filepath.Join("demo", "vmxon.elf"), b, 0o644))
		return
	}
	assert.True(t, bytes.Equal(b, demoKernel),
		"cmd/vmxemu/demo/vmxon.elf is stale: go test ./cmd/vmxemu -run TestDemoImage -update-demo")
}

// TestCPUProfile: -cpuprofile writes a Go CPU profile (runtime/pprof
// writes gzip-compressed protocol buffers: the gzip magic 1f 8b, RFC 1952
// 2.3.1) whatever way the run ends, and a file it cannot create is a
// usage error (exit status 2) before the guest runs.
func TestCPUProfile(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want int
	}{
		{"debug exit", exit7, 15},                  // (7<<1)|1
		{"instruction limit", spin, cli.ExitLimit}, // -icount-limit below
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "cpu.prof")
			r := vmxemu(t, flat(kernel(t, tc.code...), "-cpuprofile", p, "-icount-limit", "100000")...)
			assert.Equal(t, tc.want, r.code, r.stderr)
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			require.GreaterOrEqual(t, len(b), 2)
			assert.Equal(t, []byte{0x1f, 0x8b}, b[:2])
		})
	}
	r := vmxemu(t, flat(kernel(t, exit7...), "-cpuprofile", filepath.Join(t.TempDir(), "no", "such", "dir", "p"))...)
	assert.Equal(t, cli.ExitUsage, r.code)
	assert.Contains(t, r.stderr, "vmxemu: -cpuprofile ")
	assert.Equal(t, 1, strings.Count(r.stderr, "\n"), r.stderr)
}

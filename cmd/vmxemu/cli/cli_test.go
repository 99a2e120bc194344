package cli

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func parse(t *testing.T, args ...string) *Config {
	t.Helper()
	c, err := Parse(args)
	require.NoError(t, err)
	require.NotNil(t, c)
	return c
}

func TestDefaults(t *testing.T) {
	c := parse(t)
	// qemu-options.hx -m: "Default is 128 MiB"; -smp: "[default=1]".
	assert.Equal(t, uint64(128<<20), c.MemSize)
	assert.Equal(t, SMP{CPUs: 1, MaxCPUs: 1, Sockets: 1, Dies: 1, Cores: 1, Threads: 1}, c.SMP)
	assert.Equal(t, "pc", c.Machine)
	assert.Equal(t, "tcg", c.Accel)
	assert.Equal(t, []Serial{{Kind: SerialStdio}}, c.Serial)
	assert.Empty(t, c.DebugExit)
	assert.Equal(t, BootMultiboot, c.BootMode)
	assert.Equal(t, FeatureControl{Mode: FCLocked}, c.FeatureControl)
	assert.Equal(t, uint64(5), c.FeatureControl.MSRValue())
	assert.True(t, c.Explain)
	assert.Zero(t, c.ICountLimit)
	assert.Zero(t, c.TimeLimit)
	assert.Empty(t, c.GDB)
	assert.Empty(t, c.Subcommand)
	assert.Empty(t, c.CPU.Model)
}

func TestFlags(t *testing.T) {
	tests := []struct {
		name  string
		args  []string
		check func(t *testing.T, c *Config)
	}{
		{"help -h", []string{"-h"}, func(t *testing.T, c *Config) { assert.True(t, c.Help) }},
		{"help -help", []string{"-help"}, func(t *testing.T, c *Config) { assert.True(t, c.Help) }},
		{"help --help", []string{"--help"}, func(t *testing.T, c *Config) { assert.True(t, c.Help) }},
		{"version", []string{"-version"}, func(t *testing.T, c *Config) { assert.True(t, c.Version) }},
		{"version double dash", []string{"--version"}, func(t *testing.T, c *Config) { assert.True(t, c.Version) }},
		{"kernel append", []string{"-kernel", "k.elf", "-append", "console=ttyS0 -v"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "k.elf", c.Kernel)
			assert.Equal(t, "console=ttyS0 -v", c.Append)
		}},
		{"double dash kernel", []string{"--kernel", "k.elf"}, func(t *testing.T, c *Config) { assert.Equal(t, "k.elf", c.Kernel) }},
		{"value starting with dash", []string{"-kernel", "k", "-append", "-x"}, func(t *testing.T, c *Config) { assert.Equal(t, "-x", c.Append) }},
		{"empty append", []string{"-kernel", "k", "-append", ""}, func(t *testing.T, c *Config) { assert.Equal(t, "", c.Append) }},
		{"last kernel wins", []string{"-kernel", "a", "-kernel", "b"}, func(t *testing.T, c *Config) { assert.Equal(t, "b", c.Kernel) }},
		{"initrd", []string{"-kernel", "k", "-initrd", "m1 a=b,m2"}, func(t *testing.T, c *Config) {
			assert.Equal(t, "m1 a=b,m2", c.Initrd)
			assert.Equal(t, []Module{{Path: "m1", Args: "a=b", CmdLine: "m1 a=b"}, {Path: "m2", CmdLine: "m2"}}, c.Modules)
		}},
		{"nographic", []string{"-nographic"}, func(t *testing.T, c *Config) {
			assert.True(t, c.NoGraphic)
			assert.Equal(t, []Serial{{Kind: SerialStdio}}, c.Serial)
		}},
		{"display none", []string{"-display", "none"}, func(t *testing.T, c *Config) { assert.Equal(t, "none", c.Display) }},
		{"vga none", []string{"-vga", "none"}, func(t *testing.T, c *Config) { assert.Equal(t, "none", c.VGA) }},
		{"vnc none", []string{"-vnc", "none"}, func(t *testing.T, c *Config) {}},
		{"monitor parallel net none", []string{"-monitor", "none", "-parallel", "none", "-net", "none", "-nic", "none"}, func(t *testing.T, c *Config) {}},
		{"name", []string{"-name", "guest1"}, func(t *testing.T, c *Config) { assert.Equal(t, "guest1", c.Name) }},
		{"no-reboot no-shutdown", []string{"-no-reboot", "-no-shutdown"}, func(t *testing.T, c *Config) {
			assert.True(t, c.NoReboot)
			assert.True(t, c.NoShutdown)
		}},
		{"D", []string{"-D", "log.txt"}, func(t *testing.T, c *Config) { assert.Equal(t, "log.txt", c.LogFile) }},
		// qemu-options.hx: "-s Shorthand for -gdb tcp::1234".
		// vmxemu listens on loopback where QEMU takes every interface.
		{"s", []string{"-s"}, func(t *testing.T, c *Config) { assert.Equal(t, "127.0.0.1:1234", c.GDB) }},
		{"S", []string{"-S"}, func(t *testing.T, c *Config) { assert.True(t, c.StopAtStart) }},
		{"gdb tcp::PORT", []string{"-gdb", "tcp::4321"}, func(t *testing.T, c *Config) { assert.Equal(t, "127.0.0.1:4321", c.GDB) }},
		{"gdb all interfaces", []string{"-gdb", "tcp:0.0.0.0:4321"}, func(t *testing.T, c *Config) { assert.Equal(t, "0.0.0.0:4321", c.GDB) }},
		{"gdb tcp:HOST:PORT", []string{"-gdb", "tcp:localhost:4321"}, func(t *testing.T, c *Config) { assert.Equal(t, "localhost:4321", c.GDB) }},
		{"gdb ipv6", []string{"-gdb", "tcp:[::1]:4321"}, func(t *testing.T, c *Config) { assert.Equal(t, "[::1]:4321", c.GDB) }},
		{"gdb server nowait", []string{"-gdb", "tcp::4321,server,nowait"}, func(t *testing.T, c *Config) { assert.Equal(t, "127.0.0.1:4321", c.GDB) }},
		{"gdb none after s", []string{"-s", "-gdb", "none"}, func(t *testing.T, c *Config) { assert.Empty(t, c.GDB) }},
		{"gdb then s", []string{"-gdb", "tcp::1", "-s"}, func(t *testing.T, c *Config) { assert.Equal(t, "127.0.0.1:1234", c.GDB) }},
		{"nodefaults", []string{"-nodefaults"}, func(t *testing.T, c *Config) {
			assert.True(t, c.NoDefaults)
			assert.Empty(t, c.Serial, "-nodefaults: no default serial port")
		}},
		{"nodefaults with serial", []string{"-nodefaults", "-serial", "stdio"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []Serial{{Kind: SerialStdio}}, c.Serial)
		}},
		{"icount-limit", []string{"-icount-limit", "1000000"}, func(t *testing.T, c *Config) { assert.Equal(t, uint64(1000000), c.ICountLimit) }},
		{"icount-limit hex", []string{"-icount-limit", "0x100"}, func(t *testing.T, c *Config) { assert.Equal(t, uint64(256), c.ICountLimit) }},
		{"icount-limit zero", []string{"-icount-limit", "0"}, func(t *testing.T, c *Config) { assert.Zero(t, c.ICountLimit) }},
		{"stats", []string{"-stats"}, func(t *testing.T, c *Config) { assert.True(t, c.Stats) }},
		{"cpuprofile", []string{"-cpuprofile", "p.prof"}, func(t *testing.T, c *Config) { assert.Equal(t, "p.prof", c.CPUProfile) }},
		{"no stats", nil, func(t *testing.T, c *Config) { assert.False(t, c.Stats) }},
		{"time-limit duration", []string{"-time-limit", "1m30s"}, func(t *testing.T, c *Config) { assert.Equal(t, 90*time.Second, c.TimeLimit) }},
		{"time-limit seconds", []string{"-time-limit", "2.5"}, func(t *testing.T, c *Config) { assert.Equal(t, 2500*time.Millisecond, c.TimeLimit) }},
		{"time-limit int seconds", []string{"-time-limit", "10"}, func(t *testing.T, c *Config) { assert.Equal(t, 10*time.Second, c.TimeLimit) }},
		{"no debugcon", nil, func(t *testing.T, c *Config) { assert.Nil(t, c.DebugCon) }},
		{"debugcon stdio", []string{"-debugcon", "stdio"}, func(t *testing.T, c *Config) { assert.Equal(t, &Serial{Kind: SerialStdio}, c.DebugCon) }},
		{"debugcon file", []string{"-debugcon", "file:e9.log"}, func(t *testing.T, c *Config) {
			assert.Equal(t, &Serial{Kind: SerialFile, Path: "e9.log"}, c.DebugCon)
		}},
		{"debugcon null", []string{"-debugcon", "null"}, func(t *testing.T, c *Config) { assert.Equal(t, &Serial{Kind: SerialNull}, c.DebugCon) }},
		{"debugcon none after stdio", []string{"-debugcon", "stdio", "-debugcon", "none"}, func(t *testing.T, c *Config) { assert.Nil(t, c.DebugCon) }},
		{"boot-mode elf", []string{"-boot-mode", "elf"}, func(t *testing.T, c *Config) { assert.Equal(t, BootELF, c.BootMode) }},
		{"flat64 load-addr entry", []string{"-boot-mode", "flat64", "-load-addr", "0x100000", "-entry", "0x100010"}, func(t *testing.T, c *Config) {
			assert.Equal(t, BootFlat64, c.BootMode)
			assert.True(t, c.BootMode.IsFlat())
			assert.True(t, c.HasLoadAddr)
			assert.Equal(t, uint64(0x100000), c.LoadAddr)
			assert.True(t, c.HasEntry)
			assert.Equal(t, uint64(0x100010), c.Entry)
		}},
		{"flat16", []string{"-load-addr", "0x7c00", "-boot-mode", "flat16"}, func(t *testing.T, c *Config) {
			assert.Equal(t, BootFlat16, c.BootMode)
			assert.Equal(t, uint64(0x7c00), c.LoadAddr)
			assert.False(t, c.HasEntry)
		}},
		{"flat32", []string{"-boot-mode", "flat32"}, func(t *testing.T, c *Config) { assert.Equal(t, BootFlat32, c.BootMode) }},
		{"no-explain", []string{"-no-explain"}, func(t *testing.T, c *Config) { assert.False(t, c.Explain) }},
		{"explain after no-explain", []string{"-no-explain", "-explain"}, func(t *testing.T, c *Config) { assert.True(t, c.Explain) }},
		{"d-format json", []string{"-d-format", "json"}, func(t *testing.T, c *Config) { assert.True(t, c.LogJSON) }},
		{"d-format text", []string{"-d-format", "json", "-d-format", "text"}, func(t *testing.T, c *Config) { assert.False(t, c.LogJSON) }},
		{"break-on", []string{"-break-on", "gp,vmexit=cpuid"}, func(t *testing.T, c *Config) { assert.Equal(t, "gp,vmexit=cpuid", c.BreakOn) }},
		{"magic-break", []string{"-magic-break"}, func(t *testing.T, c *Config) { assert.True(t, c.MagicBreak) }},
		{"walk", []string{"-walk", "gla,write"}, func(t *testing.T, c *Config) { assert.Equal(t, "gla,write", c.Walk) }},
		{"cpu help", []string{"-cpu", "help"}, func(t *testing.T, c *Config) { assert.True(t, c.ListCPUs) }},
		{"machine help", []string{"-machine", "help"}, func(t *testing.T, c *Config) { assert.True(t, c.ListMachines) }},
		{"device help", []string{"-device", "help"}, func(t *testing.T, c *Config) { assert.True(t, c.ListDevices) }},
		{"device prop help", []string{"-device", "isa-debug-exit,help"}, func(t *testing.T, c *Config) { assert.True(t, c.ListDevices) }},
		{"d help", []string{"-d", "help"}, func(t *testing.T, c *Config) { assert.True(t, c.ListLogItems) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.check(t, parse(t, tc.args...))
		})
	}
}

// The QEMU options kvm-unit-tests' runner passes (x86/run, scripts/
// arch-run.bash, x86/unittests.cfg qemu_params), each as QEMU means it.
// Harmless no-ops come back as Warnings, one line each.
func TestQEMUCompat(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		check    func(t *testing.T, c *Config)
		warnings []string // substrings, one per expected warning
	}{
		{"device pc-testdev", []string{"-device", "pc-testdev"}, func(t *testing.T, c *Config) {
			assert.True(t, c.PCTestDev)
		}, nil},
		{"device pc-testdev with id", []string{"-device", "pc-testdev,id=t0"}, func(t *testing.T, c *Config) { assert.True(t, c.PCTestDev) }, nil},
		{"device ? (x86/run's probe)", []string{"-device", "?"}, func(t *testing.T, c *Config) { assert.True(t, c.ListDevices) }, nil},
		// x86/run's command line, verbatim but for the kernel (and without
		// pci-testdev, which it adds only when -device help lists it).
		{"x86/run", []string{"--no-reboot", "-nodefaults", "-global", "kvm-pit.lost_tick_policy=discard",
			"-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-display", "none",
			"-serial", "stdio", "-machine", "accel=tcg", "-kernel", "x86/msr.flat",
			"-smp", "1", "-cpu", "qemu64,vendor=GenuineIntel", "-initrd", "/tmp/tmp.env"}, func(t *testing.T, c *Config) {
			assert.True(t, c.NoReboot)
			assert.True(t, c.NoDefaults)
			assert.True(t, c.PCTestDev)
			assert.Equal(t, []DebugExit{{IOBase: 0xf4, IOSize: 4}}, c.DebugExit)
			assert.Equal(t, "none", c.Display)
			assert.Equal(t, []Serial{{Kind: SerialStdio}}, c.Serial)
			assert.Equal(t, "x86/msr.flat", c.Kernel)
			assert.Equal(t, CPUConfig{Model: "qemu64", Vendor: "GenuineIntel"}, c.CPU)
			assert.Equal(t, []Module{{Path: "/tmp/tmp.env", CmdLine: "/tmp/tmp.env"}}, c.Modules)
		}, []string{"-global kvm-pit.lost_tick_policy=discard ignored"}},
		{"vnc none", []string{"-vnc", "none"}, func(t *testing.T, c *Config) {}, nil},
		{"accel tcg", []string{"-accel", "tcg"}, func(t *testing.T, c *Config) { assert.Equal(t, "tcg", c.Accel) }, nil},
		{"machine accel=kvm:tcg", []string{"-machine", "accel=kvm:tcg"}, func(t *testing.T, c *Config) {}, []string{"accel=kvm:tcg: vmxemu has no KVM"}},
		{"machine accel=tcg:kvm", []string{"-machine", "accel=tcg:kvm"}, func(t *testing.T, c *Config) {}, nil},
		// kvm-unit-tests' cet and lam entries hard-code -enable-kvm next
		// to the runner's own -accel tcg: one warning for both spellings.
		{"enable-kvm", []string{"-enable-kvm", "-accel", "kvm", "-machine", "accel=kvm"}, func(t *testing.T, c *Config) {}, []string{"-enable-kvm: vmxemu has no KVM: it is itself the accelerator"}},
		{"accel kvm", []string{"-accel", "kvm,thread=single"}, func(t *testing.T, c *Config) { assert.Equal(t, "single", c.TCGThread) }, []string{"-accel kvm: vmxemu has no KVM"}},
		// qemu-options.hx -global: "-global driver.prop=value" and
		// "-global driver=driver,property=property,value=value".
		{"global long form", []string{"-global", "driver=kvm-pit,property=lost_tick_policy,value=delay"}, func(t *testing.T, c *Config) {}, []string{"lost_tick_policy=delay ignored"}},
		{"global slew", []string{"-global", "kvm-pit.lost_tick_policy=slew"}, func(t *testing.T, c *Config) {}, []string{"lost_tick_policy=slew ignored"}},
		{"machine pit=off", []string{"-machine", "pit=off"}, func(t *testing.T, c *Config) { assert.Equal(t, "off", c.PIT) }, []string{"pit=off: vmxemu's board keeps its i8254 PIT"}},
		{"machine pc,pit=on", []string{"-machine", "pc,pit=on"}, func(t *testing.T, c *Config) { assert.Equal(t, "on", c.PIT) }, nil},
		{"machine pit=auto", []string{"-M", "pit=auto,accel=tcg"}, func(t *testing.T, c *Config) { assert.Equal(t, "auto", c.PIT) }, nil},
		{"overcommit cpu-pm", []string{"-overcommit", "cpu-pm=on"}, func(t *testing.T, c *Config) {}, []string{"-overcommit cpu-pm=on ignored"}},
		{"overcommit mem-lock", []string{"-overcommit", "mem-lock=on-fault,cpu-pm=off"}, func(t *testing.T, c *Config) {}, []string{"-overcommit mem-lock=on-fault,cpu-pm=off ignored"}},
		{"two no-ops", []string{"-overcommit", "mem-lock=off", "-global", "kvm-pit.lost_tick_policy=discard"}, func(t *testing.T, c *Config) {},
			[]string{"-overcommit mem-lock=off", "-global kvm-pit"}},
		// -cpu: QEMU model names reach cmd/vmxemu as typed (it resolves
		// the aliases); properties are taken out of the toggles.
		{"cpu qemu64 toggles", []string{"-cpu", "qemu64,+x2apic,+tsc-deadline"}, func(t *testing.T, c *Config) {
			assert.Equal(t, CPUConfig{Model: "qemu64", Features: []CPUFeature{{"x2apic", true}, {"tsc-deadline", true}}}, c.CPU)
		}, nil},
		{"cpu max host-phys-bits", []string{"-cpu", "max,host-phys-bits"}, func(t *testing.T, c *Config) {
			assert.Equal(t, CPUConfig{Model: "max", HostPhysBits: true}, c.CPU)
		}, nil},
		{"cpu phys-bits", []string{"-cpu", "IvyBridge,phys-bits=36,host-phys-bits=off"}, func(t *testing.T, c *Config) {
			assert.Equal(t, CPUConfig{Model: "IvyBridge", PhysBits: 36}, c.CPU)
		}, nil},
		{"cpu phys_bits underscore hex", []string{"-cpu", "max,phys_bits=0x28"}, func(t *testing.T, c *Config) { assert.Equal(t, uint(40), c.CPU.PhysBits) }, nil},
		{"cpu vendor", []string{"-cpu", "Opteron_G1,vendor=AuthenticAMD"}, func(t *testing.T, c *Config) {
			assert.Equal(t, CPUConfig{Model: "Opteron_G1", Vendor: "AuthenticAMD"}, c.CPU)
		}, nil},
		{"cpu enforce check", []string{"-cpu", "max,+vmx,enforce,check=on"}, func(t *testing.T, c *Config) {
			assert.Equal(t, CPUConfig{Model: "max", Features: []CPUFeature{{"vmx", true}}, Enforce: true, Check: true}, c.CPU)
		}, nil},
		{"cpu enforce=off", []string{"-cpu", "max,enforce=on,enforce=off"}, func(t *testing.T, c *Config) { assert.False(t, c.CPU.Enforce) }, nil},
		{"cpu svm toggles", []string{"-cpu", "max,+svm,-npt"}, func(t *testing.T, c *Config) {
			assert.Equal(t, []CPUFeature{{"svm", true}, {"npt", false}}, c.CPU.Features)
		}, nil},
		{"m 2560", []string{"-m", "2560"}, func(t *testing.T, c *Config) { assert.Equal(t, uint64(2560<<20), c.MemSize) }, nil},
		{"m 4g", []string{"-m", "4g"}, func(t *testing.T, c *Config) { assert.Equal(t, uint64(4<<30), c.MemSize) }, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, tc.args...)
			tc.check(t, c)
			require.Len(t, c.Warnings, len(tc.warnings), "%q", c.Warnings)
			for i, w := range tc.warnings {
				assert.Contains(t, c.Warnings[i], w)
				assert.NotContains(t, c.Warnings[i], "\n")
			}
		})
	}
}

func TestFeatureControl(t *testing.T) {
	tests := []struct {
		in   string
		want FeatureControl
		msr  uint64
	}{
		{"locked", FeatureControl{Mode: FCLocked}, 0x5},
		{"unlocked", FeatureControl{Mode: FCUnlocked}, 0},
		{"disabled", FeatureControl{Mode: FCDisabled}, 0x1},
		{"0x7", FeatureControl{Mode: FCRaw, Value: 7}, 7},
		{"3", FeatureControl{Mode: FCRaw, Value: 3}, 3},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			c := parse(t, "-feature-control", tc.in)
			assert.Equal(t, tc.want, c.FeatureControl)
			assert.Equal(t, tc.msr, c.FeatureControl.MSRValue())
		})
	}
}

// QEMU's -m syntax: qemu-options.hx "-m [size=]megs[,slots=n,maxmem=size]
// ... Optionally, a suffix of "M" or "G" can be used"; system/vl.c treats a
// suffix-less number as MiB; qemu_strtosz accepts B/K/M/G/T/P/E in either
// case and decimal fractions; the size is rounded up to 8 KiB.
func TestMemSize(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
	}{
		{"512", 512 << 20},
		{"1G", 1 << 30},
		{"1g", 1 << 30},
		{"4G", 4 << 30},
		{"2048M", 2048 << 20},
		{"2048m", 2048 << 20},
		{"size=256", 256 << 20},
		{"size=1G", 1 << 30},
		{"1.5G", 3 << 29},
		{"0.5", 512 << 10},
		{"65536K", 64 << 20},
		{"1T", 1 << 40},
		{"1048576B", 1 << 20},
		{"1K", 8 << 10},     // rounded up to 8 KiB
		{"100K", 104 << 10}, // 100 KiB → 104 KiB
		{"0x10M", 16 << 20},
		{"0x1E", 30 << 20}, // hex digits are greedy: E is a digit, not EiB
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, parse(t, "-m", tc.in).MemSize)
		})
	}
	assert.Equal(t, uint64(64<<20), parse(t, "-m", "1G", "-m", "64").MemSize, "last -m wins")
}

func TestParseSize(t *testing.T) {
	n, err := ParseSize("3", 1)
	require.NoError(t, err)
	assert.Equal(t, uint64(3), n)
	n, err = ParseSize("1E", 1)
	require.NoError(t, err)
	assert.Equal(t, uint64(1<<60), n)
	for _, bad := range []string{"", "G", "1KiB", "12x", "1..5G", "1.G", ".5G", "-1", "+1", " 1", "0x", "1.5.5M"} {
		_, err := ParseSize(bad, 1<<20)
		assert.Error(t, err, bad)
	}
	_, err = ParseSize("16E", 1)
	assert.ErrorContains(t, err, "too large")
	_, err = ParseSize("1.1B", 1)
	assert.ErrorContains(t, err, "not a whole number of bytes")
}

// -smp: qemu-options.hx "-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets]
// [,dies=dies][,cores=cores][,threads=threads]"; "Since 6.2 the preference
// is cores over sockets over threads"; "The specified parameters must be
// greater than zero"; example "-smp 8,sockets=2,cores=2,threads=2,maxcpus=8".
func TestSMP(t *testing.T) {
	tests := []struct {
		in   string
		want SMP
	}{
		{"1", SMP{1, 1, 1, 1, 1, 1}},
		{"4", SMP{4, 4, 1, 1, 4, 1}},
		{"cpus=4", SMP{4, 4, 1, 1, 4, 1}},
		{"255", SMP{255, 255, 1, 1, 255, 1}},
		{"8,sockets=2,cores=2,threads=2,maxcpus=8", SMP{8, 8, 2, 1, 2, 2}},
		{"8,sockets=2", SMP{8, 8, 2, 1, 4, 1}},
		{"8,cores=2", SMP{8, 8, 4, 1, 2, 1}},
		{"8,sockets=2,cores=2", SMP{8, 8, 2, 1, 2, 2}},
		{"sockets=2,cores=2,threads=2", SMP{8, 8, 2, 1, 2, 2}},
		{"cores=4", SMP{4, 4, 1, 1, 4, 1}},
		{"2,maxcpus=4", SMP{2, 4, 1, 1, 4, 1}},
		{"maxcpus=4", SMP{4, 4, 1, 1, 4, 1}},
		{"4,dies=2", SMP{4, 4, 1, 2, 2, 1}},
		{"0x10", SMP{16, 16, 1, 1, 16, 1}},
		{"2,cpus=3", SMP{3, 3, 1, 1, 3, 1}}, // later key wins, as in QemuOpts
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, tc.want, parse(t, "-smp", tc.in).SMP)
		})
	}
}

func TestCPU(t *testing.T) {
	c := parse(t, "-cpu", "sandybridge-ep,+vmx,-x2apic,pcid=off,avx=on,tsc_deadline,ept=yes")
	assert.Equal(t, CPUConfig{Model: "sandybridge-ep", Features: []CPUFeature{
		{"vmx", true}, {"x2apic", false}, {"pcid", false}, {"avx", true}, {"tsc-deadline", true}, {"ept", true},
	}}, c.CPU)
	assert.Equal(t, CPUConfig{Model: "qemu64"}, parse(t, "-cpu", "qemu64").CPU)
	assert.Equal(t, "b", parse(t, "-cpu", "a,+vmx", "-cpu", "b").CPU.Model, "last -cpu wins")
	assert.Empty(t, parse(t, "-cpu", "a,+vmx", "-cpu", "b").CPU.Features)
}

func TestSerial(t *testing.T) {
	tests := []struct {
		args []string
		want []Serial
	}{
		{[]string{"-serial", "stdio"}, []Serial{{Kind: SerialStdio}}},
		{[]string{"-serial", "mon:stdio"}, []Serial{{Kind: SerialStdio}}},
		{[]string{"-serial", "none"}, nil},
		{[]string{"-serial", "null"}, []Serial{{Kind: SerialNull}}},
		{[]string{"-serial", "file:out.txt"}, []Serial{{Kind: SerialFile, Path: "out.txt"}}},
		{[]string{"-serial", "file:a", "-serial", "stdio"}, []Serial{{Kind: SerialFile, Path: "a"}, {Kind: SerialStdio}}},
		// "none" allocates no port, so the next -serial is COM1.
		{[]string{"-serial", "none", "-serial", "stdio"}, []Serial{{Kind: SerialStdio}}},
		{[]string{"-nographic", "-serial", "file:x"}, []Serial{{Kind: SerialFile, Path: "x"}}},
		{[]string{"-serial", "null", "-serial", "null", "-serial", "null", "-serial", "stdio"},
			[]Serial{{Kind: SerialNull}, {Kind: SerialNull}, {Kind: SerialNull}, {Kind: SerialStdio}}},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			assert.Equal(t, tc.want, parse(t, tc.args...).Serial)
		})
	}
	assert.Equal(t, "file", SerialFile.String())
}

// isa-debug-exit defaults from QEMU's hw/misc/debugexit.c:
// DEFINE_PROP_UINT32("iobase", ..., 0x501), DEFINE_PROP_UINT32("iosize", ..., 0x02).
func TestDevice(t *testing.T) {
	tests := []struct {
		in   string
		want DebugExit
	}{
		{"isa-debug-exit", DebugExit{IOBase: 0x501, IOSize: 2}},
		{"isa-debug-exit,iobase=0xf4,iosize=0x04", DebugExit{IOBase: 0xf4, IOSize: 4}},
		{"isa-debug-exit,iobase=244,iosize=4", DebugExit{IOBase: 0xf4, IOSize: 4}},
		{"isa-debug-exit,iobase=0364", DebugExit{IOBase: 0xf4, IOSize: 2}}, // C octal
		{"isa-debug-exit,iosize=1,iobase=0XF4", DebugExit{IOBase: 0xf4, IOSize: 1}},
		{"driver=isa-debug-exit,iobase=0xf4", DebugExit{IOBase: 0xf4, IOSize: 2}},
		{"isa-debug-exit,id=exit0,iobase=0xf4", DebugExit{IOBase: 0xf4, IOSize: 2}},
		{"isa-debug-exit,iobase=0xfffe,iosize=2", DebugExit{IOBase: 0xfffe, IOSize: 2}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			assert.Equal(t, []DebugExit{tc.want}, parse(t, "-device", tc.in).DebugExit)
		})
	}
	c := parse(t, "-device", "isa-debug-exit", "-device", "isa-debug-exit,iobase=0xf4,iosize=4")
	assert.Equal(t, []DebugExit{{0x501, 2}, {0xf4, 4}}, c.DebugExit)
	assert.False(t, c.PCTestDev)
	assert.True(t, parse(t, "-device", "pc-testdev").PCTestDev)
}

// qemu-options.hx: -initrd "file1 arg=foo,file2"; "Commas can be provided in
// module parameters by doubling them": -initrd "bzImage
// earlyprintk=xen,,keep root=/dev/xvda1,initrd.img". hw/i386/multiboot.c
// passes the whole entry (file name included) as the module's string.
func TestSplitModules(t *testing.T) {
	tests := []struct {
		in   string
		want []Module
	}{
		{"a.bin", []Module{{Path: "a.bin", CmdLine: "a.bin"}}},
		{"file1 arg=foo,file2", []Module{
			{Path: "file1", Args: "arg=foo", CmdLine: "file1 arg=foo"},
			{Path: "file2", CmdLine: "file2"},
		}},
		{"bzImage earlyprintk=xen,,keep root=/dev/xvda1,initrd.img", []Module{
			{Path: "bzImage", Args: "earlyprintk=xen,keep root=/dev/xvda1", CmdLine: "bzImage earlyprintk=xen,keep root=/dev/xvda1"},
			{Path: "initrd.img", CmdLine: "initrd.img"},
		}},
		{"we,,ird.bin x", []Module{{Path: "we,ird.bin", Args: "x", CmdLine: "we,ird.bin x"}}},
		{"a,,,b", []Module{{Path: "a,", CmdLine: "a,"}, {Path: "b", CmdLine: "b"}}},
		{"m a  b", []Module{{Path: "m", Args: "a  b", CmdLine: "m a  b"}}},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := SplitModules(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, got)
		})
	}
	for _, bad := range []string{"", "a,", ",a", "a,,b, x", "a, b"} {
		_, err := SplitModules(bad)
		assert.Error(t, err, bad)
	}
}

func TestMachineAccel(t *testing.T) {
	tests := []struct {
		args    []string
		machine string
		thread  string
	}{
		{[]string{"-M", "pc"}, "pc", ""},
		{[]string{"--machine", "pc-i440fx-8.2"}, "pc-i440fx-8.2", ""},
		{[]string{"-machine", "pc-i440fx-9.0,accel=tcg"}, "pc-i440fx-9.0", ""},
		{[]string{"-machine", "type=pc"}, "pc", ""},
		{[]string{"-M", "q35,kernel-irqchip=split"}, "q35", ""},
		{[]string{"-machine", "pc-q35-9.0,kernel-irqchip=on"}, "pc-q35-9.0", ""},
		{[]string{"-machine", "type=q35,kernel-irqchip=off"}, "q35", ""},
		{[]string{"-machine", "accel=tcg"}, "pc", ""},
		{[]string{"-machine", "pc,accel=kvm:tcg"}, "pc", ""}, // QEMU falls back to tcg
		{[]string{"-accel", "tcg"}, "pc", ""},
		{[]string{"-accel", "tcg,thread=single"}, "pc", "single"},
		{[]string{"-accel", "accel=tcg,thread=multi"}, "pc", "multi"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c := parse(t, tc.args...)
			assert.Equal(t, tc.machine, c.Machine)
			assert.Equal(t, strings.Contains(tc.machine, "q35"), c.Q35)
			assert.Equal(t, "tcg", c.Accel)
			assert.Equal(t, tc.thread, c.TCGThread)
		})
	}
}

func TestQ35Devices(t *testing.T) {
	tests := []struct {
		args []string
		want *IntelIOMMU
		edu  bool
	}{
		// kvm-unit-tests' intel_iommu entry (x86/unittests.cfg).
		{[]string{"-M", "q35,kernel-irqchip=split", "-device", "intel-iommu,intremap=on,eim=off", "-device", "edu"},
			&IntelIOMMU{IntRemap: true, AWBits: 39}, true},
		// QEMU's defaults: intremap off, eim off, aw-bits 39, pt on.
		{[]string{"-M", "q35", "-device", "intel-iommu"}, &IntelIOMMU{AWBits: 39}, false},
		{[]string{"-M", "q35", "-device", "intel-iommu,intremap=on,eim=on,aw-bits=48,pt=off,id=iommu0"},
			&IntelIOMMU{IntRemap: true, EIM: true, AWBits: 48, NoPT: true}, false},
		{[]string{"-M", "q35", "-device", "edu,id=e0"}, nil, true},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c := parse(t, tc.args...)
			assert.Equal(t, tc.want, c.IntelIOMMU)
			assert.Equal(t, tc.edu, c.Edu)
		})
	}
}

func TestLogItems(t *testing.T) {
	tests := []struct {
		name     string
		args     []string
		items    []string
		warnings []string
	}{
		{"implemented", []string{"-d", "int,cpu_reset,vmx,int"}, []string{"int", "cpu_reset", "vmx"}, nil},
		{"last -d wins", []string{"-d", "int", "-d", "vmx"}, []string{"vmx"}, nil},
		{"all is what produces output", []string{"-d", "all"}, []string{"int", "cpu_reset", "vmx", "msr", "cr", "io", "apic", "ept"}, nil},
		{"all,int", []string{"-d", "all,int"}, []string{"int", "cpu_reset", "vmx", "msr", "cr", "io", "apic", "ept"}, nil},
		{"event items", []string{"-d", "io,msr,cr"}, []string{"io", "msr", "cr"}, nil},
		{"no-op items warn once each", []string{"-d", "nochain,int,out_asm,nochain"}, []string{"int"},
			[]string{"-d nochain ignored", "-d out_asm ignored"}},
		{"only no-ops", []string{"-d", "strace"}, nil, []string{"-d strace ignored"}},
		{"trace items", []string{"-d", "in_asm,exec,cpu,nochain"}, []string{"in_asm", "exec", "cpu"}, []string{"-d nochain ignored"}},
		{"all leaves out the trace items", []string{"-d", "all,in_asm"}, []string{"int", "cpu_reset", "vmx", "msr", "cr", "io", "apic", "ept", "in_asm"}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := parse(t, tc.args...)
			assert.Equal(t, tc.items, c.LogItems)
			require.Len(t, c.Warnings, len(tc.warnings))
			for i, w := range tc.warnings {
				assert.Contains(t, c.Warnings[i], w)
			}
		})
	}
}

// -d help lists exactly the items Parse accepts, and "all" selects exactly
// the ones that are not no-ops.
func TestLogItemsHelpIsExact(t *testing.T) {
	help := LogItemsHelp()
	var listed []string
	for _, line := range strings.Split(strings.TrimSpace(help), "\n")[1:] {
		listed = append(listed, strings.Fields(line)[0])
	}
	var want []string
	for _, it := range logItems {
		want = append(want, it.Name)
		_, err := Parse([]string{"-d", it.Name})
		assert.NoError(t, err, it.Name)
	}
	assert.Equal(t, append(want, "all"), listed)
	for _, refused := range []string{"fpu", "mmu", "pcall", "unimp", "guest_errors", "page", "tid", "invalid_mem"} {
		assert.NotContains(t, listed, refused)
		_, err := Parse([]string{"-d", refused})
		assert.ErrorContains(t, err, "is not supported", refused)
	}
}

func TestSubcommand(t *testing.T) {
	c := parse(t, "vmxcap", "-cpu", "sandybridge-ep")
	assert.Equal(t, "vmxcap", c.Subcommand)
	assert.Equal(t, "sandybridge-ep", c.CPU.Model)
	assert.Equal(t, "list-cpus", parse(t, "list-cpus").Subcommand)
	assert.True(t, parse(t, "vmxcap", "-h").Help)

	// `vmxemu demo NAME`: the scenario is the bare word after it.
	c = parse(t, "demo", "cr0-ne", "-smp", "1")
	assert.Equal(t, "demo", c.Subcommand)
	assert.Equal(t, "cr0-ne", c.Demo)
	assert.Equal(t, 1, c.SMP.CPUs)
	assert.Empty(t, parse(t, "demo", "-smp", "2").Demo)
	assert.Empty(t, parse(t, "vmxcap").Demo)
	assert.False(t, parse(t).FeatureControlSet)
	assert.True(t, parse(t, "-feature-control", "locked").FeatureControlSet)
}

func TestErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		// Generic.
		{[]string{"-foo"}, "vmxemu: -foo: unknown option (see vmxemu -h)"},
		{[]string{"--foo"}, "vmxemu: --foo: unknown option (see vmxemu -h)"},
		{[]string{"-kernel=k.elf"}, "vmxemu: -kernel=k.elf: unknown option (QEMU syntax takes the value as the next argument: -kernel VALUE)"},
		{[]string{"-kernel"}, "vmxemu: -kernel: missing argument (see vmxemu -h)"},
		{[]string{"-m"}, "vmxemu: -m: missing argument"},
		{[]string{"-kernel", "k", "-append"}, "vmxemu: -append: missing argument"},
		{[]string{"-kernel", ""}, "vmxemu: -kernel: empty file name"},
		{[]string{"-D", ""}, "vmxemu: -D: empty file name"},
		{[]string{"-cpuprofile", ""}, "vmxemu: -cpuprofile: empty file name"},
		{[]string{"disk.img"}, "vmxemu: disk.img: unexpected argument: vmxemu takes no disk image"},
		{[]string{"-kernel", "k", "stray"}, "vmxemu: stray: unexpected argument"},
		{[]string{"vmxcap", "stray"}, "vmxemu: stray: unexpected argument"},
		{[]string{"-"}, `vmxemu: "-": unexpected argument`},
		{[]string{"--"}, `vmxemu: "--": unexpected argument`},
		{[]string{"-initrd", "m"}, "vmxemu: -initrd: only allowed with -kernel"},
		{[]string{"-kernel", "k", "-initrd", "a,"}, "vmxemu: -initrd a,: module 2: empty file name"},

		// -m.
		{[]string{"-m", "abc"}, `vmxemu: -m abc: invalid size "abc"`},
		{[]string{"-m", "1KiB"}, `invalid size "1KiB"`},
		{[]string{"-m", "0"}, "vmxemu: -m 0: memory size must be greater than zero"},
		{[]string{"-m", "16E"}, "too large"},
		{[]string{"-m", "1G,maxmem=4G"}, "maxmem: memory hotplug is not supported"},
		{[]string{"-m", "1G,foo=1"}, `unknown parameter "foo"`},
		{[]string{"-m", "1G,"}, "empty parameter"},

		// -smp.
		{[]string{"-smp", "0"}, "vmxemu: -smp 0: cpus: CPU topology parameters must be greater than zero"},
		{[]string{"-smp", "256"}, "vmxemu: -smp 256: cpus=256: invalid SMP CPUs 256: the max CPUs supported by vmxemu is 255"},
		{[]string{"-smp", "x"}, `vmxemu: -smp x: cpus: invalid number "x"`},
		{[]string{"-smp", "-1"}, `cpus: invalid number "-1"`},
		{[]string{"-smp", "4,sockets=3"}, "invalid CPU topology: sockets (3) * dies (1) * cores (1) * threads (1) != maxcpus (4)"},
		{[]string{"-smp", "8,sockets=2,cores=2,threads=1"}, "!= maxcpus (8)"},
		{[]string{"-smp", "4,maxcpus=2"}, "maxcpus (2) must be at least cpus (4)"},
		{[]string{"-smp", "sockets=16,cores=16,threads=2"}, "invalid SMP CPUs 512: the max CPUs supported by vmxemu is 255"},
		{[]string{"-smp", "4,books=1"}, `unknown parameter "books"`},
		{[]string{"-smp", "4,cores"}, "cores: missing value"},

		// -cpu.
		{[]string{"-cpu", ""}, "vmxemu: -cpu: missing CPU model"},
		{[]string{"-cpu", ",+vmx"}, "missing CPU model"},
		{[]string{"-cpu", "a b"}, `invalid CPU model name "a b"`},
		{[]string{"-cpu", "host,+vmx,,"}, "empty CPU feature"},
		{[]string{"-cpu", "host,+"}, "empty CPU feature name"},
		{[]string{"-cpu", "host,level=13"}, "level: not supported: a vmxemu CPU's identity and leaves come from the model's dump"},
		{[]string{"-cpu", "host,xlevel=0x80000008"}, "xlevel: not supported"},
		{[]string{"-cpu", "IvyBridge,model-id=foo"}, "model-id: not supported"},
		{[]string{"-cpu", "max,foo=bar"}, "foo=bar: only boolean CPU features and the properties vendor=, phys-bits= are supported"},
		// QEMU's x86_cpuid_set_vendor: "vendor property must be 12 chars".
		{[]string{"-cpu", "max,vendor=Intel"}, "vendor=Intel: the vendor must be 12 characters"},
		{[]string{"-cpu", "max,vendor=GenuineIntelX"}, "must be 12 characters"},
		// target/i386/cpu.c: "phys-bits should be between 32 and %u" (52).
		{[]string{"-cpu", "max,phys-bits=31"}, "phys-bits=31: must be between 32 and 52"},
		{[]string{"-cpu", "max,phys-bits=53"}, "phys-bits=53: must be between 32 and 52"},
		{[]string{"-cpu", "max,phys-bits=x"}, `phys-bits: invalid number "x"`},
		{[]string{"-cpu", "max,host-phys-bits=maybe"}, "host-phys-bits=maybe: expected on or off"},
		{[]string{"-cpu", "max,enforce=2"}, "enforce=2: expected on or off"},
		{[]string{"-cpu", "max,check=x"}, "check=x: expected on or off"},
		{[]string{"-cpu", "host,hv_passthrough"}, "hv-passthrough: Hyper-V enlightenments are not implemented"},
		{[]string{"-cpu", "host,hv-relaxed=on"}, "hv-relaxed: Hyper-V enlightenments are not implemented"},

		// -serial.
		{[]string{"-serial", "vc"}, "vmxemu: -serial vc: unsupported serial backend (supported: stdio, mon:stdio, file:PATH, null, none)"},
		{[]string{"-serial", "tcp::4444"}, "unsupported serial backend"},
		{[]string{"-serial", "mon:vc"}, "unsupported serial backend"},
		{[]string{"-serial", "file:"}, "vmxemu: -serial file:: empty file name"},
		{[]string{"-serial", "stdio", "-serial", "mon:stdio"}, "stdio is already used by another serial port"},
		{[]string{"-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null", "-serial", "null"}, "too many serial ports (at most 4)"},

		// Display, VGA and friends.
		{[]string{"-display", "gtk"}, "vmxemu: -display gtk: unsupported display (only none is accepted: vmxemu has no graphical output)"},
		{[]string{"-vga", "std"}, "vmxemu: -vga std: unsupported VGA card (only none is accepted"},
		{[]string{"-vnc", ":0"}, "unsupported VNC server"},
		{[]string{"-monitor", "stdio"}, "vmxemu: -monitor stdio: unsupported monitor"},
		{[]string{"-parallel", "stdio"}, "unsupported parallel port"},
		{[]string{"-net", "user"}, "unsupported network"},

		// -device.
		{[]string{"-device", "e1000"}, "vmxemu: -device e1000: unsupported device (supported: isa-debug-exit, pc-testdev, intel-iommu (q35), edu (q35))"},
		{[]string{"-device", "hyperv-testdev"}, "unsupported device"},
		{[]string{"-device", "testdev,chardev=testlog"}, "unsupported device"},
		{[]string{"-device", "pc-testdev,iobase=0xe0"}, `unknown property "iobase" (pc-testdev has: id)`},
		{[]string{"-device", "pci-testdev"}, "not implemented: vmxemu has no pci-testdev"},
		// intel-iommu and edu (QEMU's x86_iommu_realize message shape).
		{[]string{"-device", "intel-iommu"}, "vmxemu: -device intel-iommu: Machine-type 'pc' not supported by IOMMU (use -M q35)"},
		{[]string{"-M", "pc-i440fx-8.2", "-device", "intel-iommu"}, "Machine-type 'pc-i440fx-8.2' not supported by IOMMU"},
		{[]string{"-device", "edu"}, "vmxemu: -device edu: machine type 'pc' has no PCI bus in vmxemu (use -M q35)"},
		{[]string{"-M", "q35", "-device", "intel-iommu,eim=on"}, "eim=on cannot be selected without intremap=on"},
		{[]string{"-M", "q35", "-device", "intel-iommu,aw-bits=40"}, "supported values for aw-bits are: 39, 48"},
		{[]string{"-M", "q35", "-device", "intel-iommu,caching-mode=on"}, `unknown property "caching-mode"`},
		{[]string{"-M", "q35", "-device", "intel-iommu,intremap=maybe"}, "intremap=maybe: expected on, off or auto"},
		{[]string{"-M", "q35", "-device", "intel-iommu", "-device", "intel-iommu"}, "only one intel-iommu"},
		{[]string{"-M", "q35", "-device", "edu,dma_mask=0xffffffff"}, "dma_mask: only the default"},
		{[]string{"-M", "q35", "-device", "edu", "-device", "edu"}, "only one edu"},
		{[]string{"-device", "pc-testdev,id"}, `property "id" needs a value`},
		{[]string{"-device", "pc-testdev", "-device", "pc-testdev"}, "only one pc-testdev"},
		{[]string{"-device", "iobase=0xf4"}, "missing device name"},
		{[]string{"-device", "isa-debug-exit,iobase=zz"}, `iobase: invalid number "zz"`},
		{[]string{"-device", "isa-debug-exit,iobase=0x"}, `iobase: invalid number "0x"`},
		{[]string{"-device", "isa-debug-exit,iobase=09"}, `iobase: invalid number "09"`},
		{[]string{"-device", "isa-debug-exit,iosize=0x100000000"}, `iosize: number "0x100000000" out of range`},
		{[]string{"-device", "isa-debug-exit,iosize=0"}, "iosize must be at least 1"},
		{[]string{"-device", "isa-debug-exit,iobase=0xffff,iosize=4"}, "ports 0xffff..0x10002 lie beyond the 64 KiB I/O space"},
		{[]string{"-device", "isa-debug-exit,size=4"}, `unknown property "size" (isa-debug-exit has: iobase, iosize, id)`},
		{[]string{"-device", "isa-debug-exit,iobase"}, `property "iobase" needs a value`},
		{[]string{"-device", "isa-debug-exit,iobase=0xf4,"}, "empty parameter"},
		{[]string{"-device", "isa-debug-exit,,"}, "unsupported device"}, // ",," is an escaped comma

		// -d.
		{[]string{"-d", "foo"}, `vmxemu: -d foo: log item "foo" is not supported (supported: int, cpu_reset, vmx,`},
		{[]string{"-d", "int,,cpu_reset"}, `log item "" is not supported`},
		{[]string{"-d", "mmu"}, `log item "mmu" is not supported`},
		{[]string{"-dfilter", "0x1000"}, "bad range"},
		{[]string{"-dfilter", "0x2000..0x1000"}, "the start is above the end"},
		{[]string{"-dfilter", "0x10-0x20"}, "below address 0"},
		{[]string{"-dfilter", "0x1000+0"}, "empty"},
		{[]string{"-dfilter", "zz..0x10"}, "invalid number"},
		{[]string{"-d-cpu", "x"}, "invalid number"},
		{[]string{"-d", "vmx,exec", "-d-format", "json"}, "vmxemu: -d exec: the trace items (in_asm, exec, cpu) have no JSON form"},
		{[]string{"-d-limit", "-1"}, "invalid number"},
		{[]string{"-d", "trace:vmx*"}, "QEMU trace events are not supported"},

		// -gdb.
		{[]string{"-gdb", "unix:/tmp/s"}, "vmxemu: -gdb unix:/tmp/s: unsupported gdb device (expected tcp::PORT or tcp:HOST:PORT)"},
		{[]string{"-gdb", "tcp:1234"}, "invalid address"},
		{[]string{"-gdb", "tcp::0"}, `invalid port "0"`},
		{[]string{"-gdb", "tcp::99999"}, `invalid port "99999"`},
		{[]string{"-gdb", "tcp::1234,ipv6"}, `unsupported option "ipv6"`},

		// Machine and accelerators.
		{[]string{"-machine", "microvm"}, `vmxemu: -machine microvm: unsupported machine type "microvm" (supported: pc, pc-i440fx-*, q35, pc-q35-*)`},
		{[]string{"-M", "isapc"}, `vmxemu: -M isapc: unsupported machine type "isapc"`},
		{[]string{"-machine", "pc,smm=off"}, `unsupported machine property "smm" (supported: type, accel=tcg|kvm, pit=on|off|auto, kernel-irqchip=on|off|split)`},
		{[]string{"-machine", "pit=no"}, "pit=no: expected on, off or auto"},
		{[]string{"-machine", "pc,pit"}, "pit=: expected on, off or auto"},
		{[]string{"-machine", "vmport=on"}, `unsupported machine property "vmport"`},
		{[]string{"-M", "q35,kernel-irqchip=yes"}, "kernel-irqchip=yes: expected on, off or split"},
		{[]string{"-machine", "pc,accel=hvf"}, "vmxemu is itself the accelerator: tcg and kvm (with a warning) are accepted"},
		{[]string{"-accel", "kvm:tcg"}, "only one accelerator per -accel"},
		{[]string{"-accel", "hvf"}, "vmxemu: -accel hvf: vmxemu is itself the accelerator: tcg and kvm (with a warning) are accepted"},
		{[]string{"-accel", "whpx"}, "vmxemu is itself the accelerator: tcg and kvm (with a warning) are accepted"},
		{[]string{"-accel", "xen"}, "vmxemu is itself the accelerator: tcg and kvm (with a warning) are accepted"},
		{[]string{"-accel", "foo"}, "unknown accelerator (only tcg and kvm are accepted)"},
		{[]string{"-accel", "tcg,thread=both"}, "thread=both: expected single or multi"},
		{[]string{"-accel", "tcg,tb-size=64"}, `unsupported accelerator property "tb-size"`},

		// Refused QEMU options.
		{[]string{"-bios", "seabios.bin"}, "vmxemu: -bios seabios.bin: not supported yet"},
		{[]string{"-rtc", "base=utc"}, "vmxemu: -rtc base=utc: not supported"},
		{[]string{"-drive", "file=x.img"}, "vmxemu emulates no disks"},
		{[]string{"-hda", "x.img"}, "vmxemu emulates no disks"},
		{[]string{"-icount", "shift=0"}, "see -icount-limit"},
		{[]string{"-snapshot"}, "vmxemu: -snapshot: not supported by vmxemu"},
		{[]string{"-global", "kvm-pit.lost_tick_policy=merge"}, "lost_tick_policy=merge: expected discard, delay, slew"},
		{[]string{"-global", "mc146818rtc.lost_tick_policy=discard"}, "mc146818rtc.lost_tick_policy: not supported by vmxemu (the only -global accepted is kvm-pit.lost_tick_policy)"},
		{[]string{"-global", "kvm-pit.iobase=0x40"}, "kvm-pit.iobase: not supported"},
		{[]string{"-global", "nodot=1"}, `invalid -global "nodot=1"`},
		{[]string{"-global", "driver=kvm-pit,value=discard"}, "invalid -global"},
		{[]string{"-global", "driver=kvm-pit,property=lost_tick_policy,value=discard,x=1"}, "invalid -global"},
		{[]string{"-overcommit", "cpu-pm=maybe"}, "cpu-pm=maybe: expected on or off"},
		{[]string{"-overcommit", "mem-lock"}, "mem-lock: missing value"},
		{[]string{"-overcommit", "numa=on"}, `unsupported parameter "numa"`},

		// vmxemu's own.
		{[]string{"-icount-limit", "ten"}, `vmxemu: -icount-limit ten: invalid number "ten"`},
		{[]string{"-icount-limit", "-5"}, `invalid number "-5"`},
		{[]string{"-icount-limit", "99999999999999999999"}, "out of range"},
		{[]string{"-time-limit", "soon"}, `vmxemu: -time-limit soon: invalid duration "soon"`},
		{[]string{"-time-limit", "-1s"}, "duration must not be negative"},
		{[]string{"-time-limit", "-3"}, "duration must not be negative"},
		{[]string{"-time-limit", "1e300"}, "too long"},
		{[]string{"-feature-control", "on"}, "vmxemu: -feature-control on: expected unlocked, locked, disabled or a number"},
		{[]string{"-trace", "enable=vmx*"}, "vmxemu: -trace enable=vmx*: not supported: vmxemu has no QEMU trace events"},
		{[]string{"-trace", "t.log"}, "not supported: vmxemu has no QEMU trace events"},
		{[]string{"-debugcon", "vc"}, "vmxemu: -debugcon vc: unsupported backend (supported: stdio, file:PATH, null, none)"},
		{[]string{"-debugcon", "file:"}, "vmxemu: -debugcon file:: empty file name"},
		{[]string{"-boot-mode", "bios"}, "vmxemu: -boot-mode bios: unknown boot mode (supported: multiboot, elf, flat16, flat32, flat64)"},
		{[]string{"-load-addr", "0x1000"}, "vmxemu: -load-addr: only meaningful with -boot-mode flat16|flat32|flat64"},
		{[]string{"-boot-mode", "elf", "-entry", "0x1000"}, "vmxemu: -entry: only meaningful with -boot-mode"},
		{[]string{"-boot-mode", "flat32", "-entry", "x"}, `vmxemu: -entry x: invalid number "x"`},
		{[]string{"-D", ""}, "vmxemu: -D: empty file name"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			c, err := Parse(tc.args)
			require.Error(t, err)
			assert.Nil(t, c)
			assert.ErrorContains(t, err, tc.want)
			var ce *Error
			assert.ErrorAs(t, err, &ce)
			assert.NotContains(t, err.Error(), "\n", "errors are one line")
			assert.True(t, strings.HasPrefix(err.Error(), "vmxemu: "), err.Error())
		})
	}
}

func TestUsage(t *testing.T) {
	u := Usage()
	for _, f := range []string{
		"-h", "-version", "-machine", "-M ", "-accel", "-enable-kvm", "-cpu", "-smp", "-m ", "-name",
		"-nodefaults", "-display", "-nographic", "-vga", "-vnc", "-serial", "-monitor", "-parallel",
		"-net", "-device", "-kernel", "-append", "-initrd", "-d ", "-D ", "-gdb", "-s ", "-S ",
		"-no-reboot", "-no-shutdown", "-icount-limit", "-time-limit", "-feature-control", "-debugcon",
		"-boot-mode", "-load-addr", "-entry", "-explain", "-no-explain", "-stats", "-cpuprofile", "vmxcap", "demo [NAME|list]", "-d-format", "-break-on", "-magic-break", "10 ",
		"Standard options:", "Display options:", "Character device options:", "Device options:",
		"Linux/Multiboot boot specific:", "Debug/Expert options:", "vmxemu options:", "Exit status:",
		"(v<<1)|1",
	} {
		assert.Contains(t, u, f)
	}
	for _, code := range []int{ExitOK, ExitUsage, ExitTripleFault, ExitLimit, ExitError} {
		assert.Contains(t, u, "\n"+string(rune('0'+code))+" ")
		assert.Zero(t, code%2, "vmxemu's own exit codes are even, debug-exit codes odd")
	}
	for _, line := range strings.Split(u, "\n") {
		assert.LessOrEqual(t, len(line), 80, line)
	}
	assert.Contains(t, MachinesHelp(), "q35")
	assert.Contains(t, DevicesHelp(), `name "edu"`)
	assert.Contains(t, DevicesHelp(), `name "intel-iommu"`)
	assert.NotContains(t, u, "-trace", "-trace is refused, so not listed")
	assert.NotContains(t, u, "pci-testdev", "pci-testdev is refused, so not listed")
	assert.Contains(t, DevicesHelp(), "isa-debug-exit")
	assert.Contains(t, DevicesHelp(), "0x501")
	for _, f := range []string{"-global", "-overcommit", "pit=off", "pc-testdev", "vendor=", "phys-bits=", "host-phys-bits", "enforce", "check", "qemu64", "max, host"} {
		assert.Contains(t, u, f)
	}
}

// Every option in the usage text is accepted by Parse (it may refuse the
// value, but it is never "unknown").
func TestUsageOptionsKnown(t *testing.T) {
	for _, line := range strings.Split(Usage(), "\n") {
		if !strings.HasPrefix(line, "-") {
			continue
		}
		name := strings.TrimPrefix(strings.Fields(line)[0], "-")
		_, ok := lookup(name)
		assert.True(t, ok, name)
	}
}

// -dfilter ranges as QEMU reads them; the expected bounds are those of
// QEMU's own unit test of qemu_set_dfilter_ranges (tests/unit/
// test-logging.c: "0x1000+0x100" holds 0x1000 and 0x10ff but not 0x1100,
// "0x1000-0x100" holds 0xf01 and 0x1000 but not 0xf00, "0x1000..0x1100"
// holds 0x1000 and 0x1100).
func TestDFilter(t *testing.T) {
	tests := []struct {
		arg  string
		want []AddrRange
	}{
		{"0x1000+0x100", []AddrRange{{0x1000, 0x10ff}}},
		{"0x1000-0x100", []AddrRange{{0xf01, 0x1000}}},
		{"0x1000..0x1100", []AddrRange{{0x1000, 0x1100}}},
		{"0x100000..0x1fffff,0x8000+16", []AddrRange{{0x100000, 0x1fffff}, {0x8000, 0x800f}}},
	}
	for _, tc := range tests {
		c := parse(t, "-dfilter", tc.arg)
		assert.Equal(t, tc.want, c.DFilter, tc.arg)
	}
	c := parse(t, "-d-cpu", "0,2", "-d-limit", "100")
	assert.Equal(t, []int{0, 2}, c.TraceCPUs)
	assert.Equal(t, uint64(100), c.TraceLimit)
}

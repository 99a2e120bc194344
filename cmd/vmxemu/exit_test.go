package main

import (
	"bytes"
	"context"
	"encoding/binary"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/machine"
)

// The exit-status contract of README "Exit status", -h and doc.go, one
// test per row.

func TestExitStatusPowerOff(t *testing.T) {
	r := vmxemu(t, "-nographic")
	assert.Equal(t, 0, r.code, r.stderr)
	assert.Empty(t, r.stderr)
}

func TestExitStatusDebugExit(t *testing.T) {
	for _, v := range []byte{0, 7, 0x7f, 0x80} {
		img := kernel(t, 0xB8, v, 0, 0, 0, 0xE7, 0xF4, 0xF4) // mov eax,v; out 0xf4,eax; hlt
		r := vmxemu(t, flat(img)...)
		assert.Equal(t, (int(v)<<1|1)&0xFF, r.code, "value %#x: %s", v, r.stderr)
		assert.Equal(t, 1, r.code%2, "debug-exit statuses are odd")
	}
}

// truncatedMultiboot is a multiboot header with the a.out kludge whose
// load range runs past the end of the file.
func truncatedMultiboot() []byte {
	const magic, flags = 0x1BADB002, 1 << 16
	h := []uint32{magic, flags, -(magic + flags) & 0xFFFFFFFF, 0x100000, 0x100000, 0x110000, 0x110000, 0x100020}
	var b bytes.Buffer
	for _, w := range h {
		binary.Write(&b, binary.LittleEndian, w) //nolint:errcheck // bytes.Buffer
	}
	return b.Bytes()
}

// printableLine checks the contract of every error message: one line,
// starting "vmxemu: ", printable characters only.
func printableLine(t *testing.T, msg string) {
	t.Helper()
	require.True(t, strings.HasSuffix(msg, "\n"), "%q", msg)
	line := strings.TrimSuffix(msg, "\n")
	assert.NotContains(t, line, "\n", "one line")
	assert.True(t, strings.HasPrefix(line, "vmxemu: "), "%q", line)
	assert.False(t, strings.ContainsFunc(line, func(r rune) bool { return !unicode.IsPrint(r) }), "printable only: %q", line)
}

func TestExitStatusUsage(t *testing.T) {
	dir := t.TempDir()
	noDir := filepath.Join(dir, "no", "such", "dir")
	binary := make([]byte, 4096)
	for i := range binary {
		binary[i] = byte(i*37 + 11)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	busy := ln.Addr().String()

	tests := []struct {
		name  string
		args  []string
		names string // the input the message names
	}{
		{"bad flag", []string{"-bogus"}, "-bogus"},
		{"missing image", []string{"-kernel", filepath.Join(dir, "missing.elf")}, "missing.elf"},
		{"empty image", []string{"-kernel", kernel(t)}, "empty file"},
		{"truncated image", []string{"-kernel", kernel(t, truncatedMultiboot()...)}, "-kernel"},
		{"non-multiboot image", []string{"-kernel", kernel(t, binary...)}, "multiboot"},
		{"RAM too small for the firmware tables", []string{"-m", "512k"}, "-m 512K"},
		{"binary CPU model file", []string{"-cpu-file", kernel(t, binary...)}, "not a text file"},
		{"bad CPU model file", []string{"-cpu-file", kernel(t, []byte("frobnicate 1\n")...)}, "-cpu-file"},
		{"unwritable -D", []string{"-d", "int", "-D", filepath.Join(noDir, "log")}, "-D " + noDir},
		{"unwritable -serial file:", []string{"-serial", "file:" + filepath.Join(noDir, "com1")}, "-serial file:" + noDir},
		{"unwritable -debugcon file:", []string{"-debugcon", "file:" + filepath.Join(noDir, "e9")}, "-debugcon file:" + noDir},
		{"gdb port in use", []string{"-gdb", "tcp:" + busy}, "-gdb tcp:" + busy},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := vmxemu(t, tc.args...)
			assert.Equal(t, cli.ExitUsage, r.code, r.stderr)
			assert.Empty(t, r.stdout, "nothing runs on a usage error")
			printableLine(t, r.stderr)
			assert.Contains(t, r.stderr, tc.names)
		})
	}
}

// A usage error found after the output files were opened leaves them as
// they were: an existing file keeps its contents, a new one is removed.
func TestUsageErrorWritesNothing(t *testing.T) {
	dir := t.TempDir()
	existing := filepath.Join(dir, "com1.txt")
	require.NoError(t, os.WriteFile(existing, []byte("keep me"), 0o644))
	fresh := filepath.Join(dir, "e9.txt")
	log := filepath.Join(dir, "log.txt")
	r := vmxemu(t, "-m", "512k", "-serial", "file:"+existing, "-debugcon", "file:"+fresh, "-d", "int", "-D", log)
	require.Equal(t, cli.ExitUsage, r.code, r.stderr)
	b, err := os.ReadFile(existing)
	require.NoError(t, err)
	assert.Equal(t, "keep me", string(b))
	assert.NoFileExists(t, fresh)
	assert.NoFileExists(t, log)
}

func TestExitStatusTripleFault(t *testing.T) {
	r := vmxemu(t, flat(kernel(t, ud2...), "-no-reboot")...)
	assert.Equal(t, cli.ExitTripleFault, r.code)
	assert.Contains(t, r.stderr, "triple fault")
}

func TestExitStatusLimits(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"instruction limit", flat(kernel(t, spin...), "-icount-limit", "1000"), "instruction limit of 1000 reached"},
		{"time limit", flat(kernel(t, spin...), "-time-limit", "0.05"), "time limit"},
		{"reset limit", flat(kernel(t, ud2...)), "reset limit reached: 100 resets"},
		{"hang", flat(kernel(t, clihlt...)), "halted with interrupts disabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := vmxemu(t, tc.args...)
			assert.Equal(t, cli.ExitLimit, r.code, r.stderr)
			assert.Contains(t, r.stderr, tc.want)
		})
	}
	t.Run("signal", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		var stdout, stderr bytes.Buffer
		code := run(ctx, flat(kernel(t, spin...)), &stdout, &stderr)
		assert.Equal(t, cli.ExitLimit, code)
		assert.Contains(t, stderr.String(), "terminating on signal")
	})
	assert.Equal(t, 100, machine.DefaultMaxResets, "the README and -h say 100")
	assert.Contains(t, cli.Usage(), "100 resets")
}

// Status 8 is a bug in vmxemu: a panic inside the machine, injected here
// through a CPU hook, becomes a report and status 8.
func TestExitStatusInternalError(t *testing.T) {
	img := kernel(t, ud2...)
	args := flat(img, "-no-reboot")
	var stdout, stderr bytes.Buffer
	inject := hooks{machine: func(c *machine.Config) {
		c.Hooks = &cpu.Hooks{Exception: func(*cpu.CPU, uint8, *arch.Fault, bool) { panic("injected test panic") }}
	}}
	code := runWith(context.Background(), args, &stdout, &stderr, inject)
	assert.Equal(t, cli.ExitError, code)
	out := stderr.String()
	assert.Contains(t, out, "vmxemu: internal error (a bug in vmxemu; please report it with this text): panic: injected test panic\n")
	assert.Contains(t, out, "vmxemu: to reproduce: vmxemu "+strings.Join(args, " ")+"\n")
	assert.Contains(t, out, "EIP=00100000", "the CPU state (QEMU's 32-bit layout: flat32 code)")
	assert.Contains(t, out, "CPU 0: bytes at CS:RIP=0008:0x100000 (linear 0x100000): 0f 0b", "the instruction bytes")
	assert.Contains(t, out, "Go stack:")
}

// Status 10: a -break-on event or -magic-break without gdb. The scenario
// of vmxlog_test.go makes each event once.
func TestExitStatusBreak(t *testing.T) {
	tests := []struct {
		name, events string
		want         string
	}{
		{"vmfail", "vmfail", "CPU 0 stopped: -break-on vmfail: RIP 0x100054: VMPTRLD: VMfailValid (RFLAGS.ZF=1), VM-instruction error 11 "},
		{"vmentry-fail", "vmentry-fail", "CPU 0 stopped: -break-on vmentry-fail: RIP 0x1000ae: VMLAUNCH: VM-entry failure, exit reason 33 "},
		{"vmexit by name", "vmexit=rdmsr", "CPU 0 stopped: -break-on vmexit: guest RIP 0x10010f: VM exit: reason 31 (RDMSR)"},
		{"vmexit by number", "vmexit=18", "CPU 0 stopped: -break-on vmexit: guest RIP 0x100111: VM exit: reason 18 (VMCALL)"},
		{"any vmexit", "ud,vmexit", "CPU 0 stopped: -break-on vmexit: guest RIP 0x100108: VM exit: reason 10 (CPUID)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := vmxemu(t, scenarioArgs("-break-on", tc.events, "-no-explain")...)
			assert.Equal(t, cli.ExitBreak, r.code, r.stderr)
			assert.Contains(t, r.stderr, "vmxemu: "+tc.want)
			assert.Contains(t, r.stderr, "no gdb attached (-s or -gdb to debug from here): exit status 10")
			assert.Contains(t, r.stderr, "RIP=", "the state")
		})
	}
	t.Run("exception", func(t *testing.T) {
		r := vmxemu(t, flat(kernel(t, ud2...), "-no-reboot", "-break-on", "ud")...)
		assert.Equal(t, cli.ExitBreak, r.code, r.stderr)
		assert.Contains(t, r.stderr, "vmxemu: CPU 0 stopped: -break-on ud: #UD")
		assert.Contains(t, r.stderr, "at CS:RIP 0008:0x100000")
	})
	t.Run("an event that does not happen", func(t *testing.T) {
		r := vmxemu(t, scenarioArgs("-break-on", "gp,pf,vmexit=hlt", "-no-explain")...)
		assert.Equal(t, 0x10<<1|1, r.code, r.stderr)
	})
	t.Run("magic breakpoint", func(t *testing.T) {
		// 66 87 db: xchg bx,bx in 32-bit code (Bochs' magic breakpoint).
		img := kernel(t, append([]byte{0x66, 0x87, 0xDB}, exit7...)...)
		r := vmxemu(t, flat(img, "-magic-break")...)
		assert.Equal(t, cli.ExitBreak, r.code, r.stderr)
		assert.Contains(t, r.stderr, "vmxemu: CPU 0 stopped: -magic-break: XCHG BX,BX at RIP 0x100000\n")
		assert.Contains(t, r.stderr, "EIP=00100003", "stopped after it")
		r = vmxemu(t, flat(img)...)
		assert.Equal(t, 15, r.code, "opt-in: without -magic-break it is an ordinary XCHG")
		// 87 db: xchg ebx,ebx is not the magic breakpoint.
		r = vmxemu(t, flat(kernel(t, append([]byte{0x87, 0xDB}, exit7...)...), "-magic-break")...)
		assert.Equal(t, 15, r.code, r.stderr)
	})
	t.Run("bad events", func(t *testing.T) {
		for _, ev := range []string{"bogus", "vmexit=bogus", "gp=1"} {
			r := vmxemu(t, scenarioArgs("-break-on", ev)...)
			assert.Equal(t, cli.ExitUsage, r.code, ev)
			printableLine(t, r.stderr)
			assert.Contains(t, r.stderr, "-break-on "+ev)
		}
	})
	assert.Contains(t, cli.Usage(), "\n10               a -break-on event")
}

func TestCommandLineQuoting(t *testing.T) {
	assert.Equal(t, "vmxemu -kernel a.elf -append 'x y' 'it'\\''s'", commandLine([]string{"-kernel", "a.elf", "-append", "x y", "it's"}))
}

func TestOneLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"two\nlines", "two lines"},
		{"bin\x00\x01\xff", `bin\x00\x01\xff`},
		{"é ok", "é ok"},
		{strings.Repeat("a", maxMessage+10), strings.Repeat("a", maxMessage) + "..."},
	}
	for _, tc := range tests {
		assert.Equal(t, tc.want, oneLine(tc.in), "%q", tc.in)
	}
}

// -no-shutdown: the guest's power-off (or a triple fault under -no-reboot)
// stops the CPUs; vmxemu waits for a signal, then exits with the status
// the stop would have given.
func TestNoShutdown(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
	}{
		{"power-off", flat(kernel(t, poweroff()...), "-no-shutdown"), cli.ExitOK},
		{"triple fault", flat(kernel(t, ud2...), "-no-reboot", "-no-shutdown", "-no-explain"), cli.ExitTripleFault},
	}
	const wait = 300 * time.Millisecond
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The deadline counts from the context's creation: start
			// before it, or the measured wait can fall short of it.
			start := time.Now()
			ctx, cancel := context.WithTimeout(context.Background(), wait)
			defer cancel()
			var stdout, stderr bytes.Buffer
			code := run(ctx, tc.args, &stdout, &stderr)
			assert.GreaterOrEqual(t, time.Since(start), wait, "vmxemu waits for the signal")
			assert.Equal(t, tc.code, code, stderr.String())
			assert.Contains(t, stderr.String(), "-no-shutdown: the CPUs are stopped")
		})
	}
	// A debug exit ends vmxemu as it ends QEMU.
	r := vmxemu(t, flat(kernel(t, exit7...), "-no-shutdown")...)
	assert.Equal(t, 15, r.code)
}

func TestDebugCon(t *testing.T) {
	// mov al,'x'; out 0xe9,al; mov al,'y'; out 0xe9,al; then exit7.
	img := kernel(t, append([]byte{0xB0, 'x', 0xE6, 0xE9, 0xB0, 'y', 0xE6, 0xE9}, exit7...)...)
	r := vmxemu(t, flat(img, "-debugcon", "stdio")...)
	assert.Equal(t, 15, r.code, r.stderr)
	assert.Equal(t, "xy", r.stdout)

	out := filepath.Join(t.TempDir(), "e9.txt")
	require.NoError(t, os.WriteFile(out, []byte("old contents"), 0o644))
	r = vmxemu(t, flat(img, "-debugcon", "file:"+out)...)
	assert.Equal(t, 15, r.code, r.stderr)
	assert.Empty(t, r.stdout)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	assert.Equal(t, "xy", string(b), "the file is truncated when the run starts")

	for _, dev := range []string{"null", "none"} {
		r = vmxemu(t, flat(img, "-debugcon", dev)...)
		assert.Equal(t, 15, r.code, r.stderr)
		assert.Empty(t, r.stdout)
	}
}

// Every -d item that -d help lists is accepted; the TCG-internal ones warn
// once each, and -d all never warns about an item the user did not type.
func TestLogItemsAllWork(t *testing.T) {
	help := vmxemu(t, "-d", "help").stdout
	lines := strings.Split(strings.TrimSpace(help), "\n")[1:]
	for _, line := range lines {
		item := strings.Fields(line)[0]
		t.Run(item, func(t *testing.T) {
			r := vmxemu(t, "-nographic", "-d", item, "-D", filepath.Join(t.TempDir(), "log"))
			assert.Equal(t, cli.ExitOK, r.code, r.stderr)
			if strings.Contains(line, "accepted with a warning") {
				assert.Equal(t, "vmxemu: warning: -d "+item+" ignored: a QEMU TCG-internal log item, vmxemu has no TCG and logs nothing for it\n", r.stderr)
			} else {
				assert.Empty(t, r.stderr)
			}
		})
	}
}

// poweroff writes "Shutdown" to the Bochs shutdown port 0x8900 (machine/doc.go).
func poweroff() []byte {
	code := []byte{0x66, 0xBA, 0x00, 0x89} // mov dx,0x8900
	for _, ch := range []byte("Shutdown") {
		code = append(code, 0xB0, ch, 0xEE) // mov al,ch; out dx,al
	}
	return append(code, 0xF4) // hlt
}

package cli

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

// FuzzParse feeds arbitrary argument lists (NUL-separated) to the
// command-line parser. Each call must end in a Config or in an *Error that
// names an option or argument and has a message; parsing the same
// arguments twice gives the same result (the parser has no state of its
// own), and nothing panics.
func FuzzParse(f *testing.F) {
	for _, args := range [][]string{
		{},
		{"-kernel", "k.elf", "-append", "a b", "-smp", "4", "-m", "512M", "-cpu", "skylake-sp,+vmx,-pcid,enforce"},
		{"-nodefaults", "-device", "pc-testdev", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x4", "-serial", "stdio", "-kernel", "x86/vmx.flat", "-cpu", "max,+vmx", "-append", "vmenter", "-icount-limit", "2000000000"},
		{"-s", "-S", "-gdb", "tcp:127.0.0.1:1234,server,nowait"},
		{"-d", "int,cpu_reset,guest_errors,nochain", "-D", "log.txt", "-no-reboot", "-no-shutdown"},
		{"-serial", "file:out.txt", "-serial", "none", "-debugcon", "stdio", "-display", "none", "-nographic"},
		{"-boot-mode", "flat64", "-load-addr", "0x200000", "-entry", "0x200000", "-kernel", "x.bin"},
		{"-smp", "cpus=4,sockets=2,cores=2,threads=1,maxcpus=8", "-machine", "pc,accel=tcg", "-accel", "tcg"},
		{"-time-limit", "1.5", "-feature-control", "unlocked", "-initrd", "a.bin arg,b.bin"},
		{"cpumodel", "-cpu", "sandybridge-ep"},
		{"--kernel=x"}, {"-m", "512k"}, {"-cpu", "help"}, {"-d", "help"}, {"-machine", "help"},
	} {
		f.Add(strings.Join(args, "\x00"))
	}
	f.Fuzz(func(t *testing.T, joined string) {
		var args []string
		if joined != "" {
			args = strings.Split(joined, "\x00")
		}
		c1, err1 := Parse(args)
		c2, err2 := Parse(args)
		if (err1 == nil) != (err2 == nil) || err1 != nil && err1.Error() != err2.Error() || !reflect.DeepEqual(c1, c2) {
			t.Fatalf("two parses of %q differ: %v / %v", args, err1, err2)
		}
		if err1 != nil {
			var e *Error
			if !errors.As(err1, &e) {
				t.Fatalf("%q: error %T is not a *cli.Error: %v", args, err1, err1)
			}
			if e.Msg == "" {
				t.Fatalf("%q: error without a message: %v", args, e)
			}
			if c1 != nil {
				t.Fatalf("%q: both a Config and an error", args)
			}
			return
		}
		if c1 == nil {
			t.Fatalf("%q: nil Config and nil error", args)
		}
	})
}

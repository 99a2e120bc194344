package main

import (
	"fmt"
	"io"
	"runtime/debug"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/machine"
)

// panicGuard is the last resort at the machine boundary: a panic while
// the machine is built, loaded or run is a bug in vmxemu, and instead of
// a Go crash the user gets a report to file (the panic value, every CPU's
// state and the instruction bytes at its RIP, the command line that
// reproduces it, the Go stack) and exit status 8.
type panicGuard struct {
	args   []string
	stderr io.Writer
	m      *machine.Machine // set once the machine exists
}

// run calls f and turns a panic into a report and status 8.
func (g *panicGuard) run(f func() (int, error)) (code int, err error) {
	defer func() {
		if v := recover(); v != nil {
			g.report(v, debug.Stack())
			code, err = cli.ExitError, nil
		}
	}()
	return f()
}

// maxReportCPUs bounds the CPUs whose state the report shows.
const maxReportCPUs = 8

func (g *panicGuard) report(v any, stack []byte) {
	w := g.stderr
	fmt.Fprintf(w, "vmxemu: internal error (a bug in vmxemu; please report it with this text): panic: %s\n", oneLine(fmt.Sprint(v)))
	fmt.Fprintf(w, "vmxemu: to reproduce: %s\n", commandLine(g.args))
	if g.m != nil {
		for i := 0; i < min(g.m.NumCPUs(), maxReportCPUs); i++ {
			g.cpuReport(w, i)
		}
		if n := g.m.NumCPUs(); n > maxReportCPUs {
			fmt.Fprintf(w, "(%d more CPUs not shown)\n", n-maxReportCPUs)
		}
	}
	fmt.Fprintf(w, "Go stack:\n%s", stack)
}

// maxInsnBytes is the longest x86 instruction.
const maxInsnBytes = 15

// cpuReport writes CPU i's state and the bytes at its CS:RIP. A state so
// broken that reading it panics again is said so, and the report goes on.
func (g *panicGuard) cpuReport(w io.Writer, i int) {
	defer func() {
		if v := recover(); v != nil {
			fmt.Fprintf(w, "CPU %d: state unreadable: panic: %s\n", i, oneLine(fmt.Sprint(v)))
		}
	}()
	c := g.m.CPU(i)
	if c == nil {
		return
	}
	s := c.GetState()
	fmt.Fprintf(w, "CPU %d:\n", i)
	dumpState(w, &s, c.InterruptShadow())
	lin := s.Seg[arch.CS].Base + s.RIP
	buf := make([]byte, maxInsnBytes)
	if c.ReadLinear(lin, buf) {
		fmt.Fprintf(w, "CPU %d: bytes at CS:RIP=%04x:%#x (linear %#x): % x\n", i, s.Seg[arch.CS].Selector, s.RIP, lin, buf)
	} else {
		fmt.Fprintf(w, "CPU %d: bytes at CS:RIP=%04x:%#x (linear %#x): not mapped to RAM\n", i, s.Seg[arch.CS].Selector, s.RIP, lin)
	}
}

// plainArg reports whether a POSIX shell takes a as it is.
func plainArg(a string) bool {
	return a != "" && !strings.ContainsFunc(a, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("_@%+=:,./-", r))
	})
}

// commandLine quotes args for a POSIX shell, after "vmxemu".
func commandLine(args []string) string {
	q := []string{"vmxemu"}
	for _, a := range args {
		if plainArg(a) {
			q = append(q, a)
		} else {
			q = append(q, "'"+strings.ReplaceAll(a, "'", `'\''`)+"'")
		}
	}
	return oneLine(strings.Join(q, " "))
}

package gdbstub

import "fmt"

// Target is the machine as the stub drives it. Server.Run calls it from
// one goroutine only, and only while the guest is stopped (apart from
// Continue itself, which runs it).
type Target interface {
	// NumCPUs returns the number of vCPUs; gdb sees CPU i as thread i+1.
	NumCPUs() int
	// Regs and SetRegs read and write CPU cpu's registers.
	Regs(cpu int) (Regs, error)
	SetRegs(cpu int, r Regs) error
	// ReadMem and WriteMem access guest memory at a linear address as
	// CPU cpu sees it (through its page tables), without faults; they
	// fail if some byte is not backed by RAM.
	ReadMem(cpu int, addr uint64, buf []byte) error
	WriteMem(cpu int, addr uint64, data []byte) error
	// Step runs CPU cpu for one instruction and returns a StopStep, or
	// a StopExited if the guest's run ended.
	Step(cpu int) (Stop, error)
	// Continue runs the guest until a CPU is about to execute an
	// instruction at a linear address for which brk returns true
	// (StopBreakpoint: the instruction has not executed; brk is nil
	// when there are no breakpoints), until poll returns true
	// (StopPolled; Continue calls it often enough for Ctrl-C to feel
	// immediate), or until the guest's run ends (StopExited). A CPU
	// does not stop at a breakpoint at the address it resumes from.
	Continue(brk func(cpu int, pc uint64) bool, poll func() bool) (Stop, error)
}

// Monitor is an optional interface of a Target: gdb's "monitor CMD"
// (the qRcmd packet) runs cmd with CPU cpu (gdb's current thread) as the
// context and prints the text returned.
type Monitor interface {
	Monitor(cpu int, cmd string) (string, error)
}

// ThreadDescriber is an optional interface of a Target: a short
// description of a vCPU for gdb's "info threads" (qThreadExtraInfo).
type ThreadDescriber interface {
	DescribeThread(cpu int) string
}

// StopKind says why the guest stopped.
type StopKind int

const (
	// StopBreakpoint: a CPU reached a breakpoint (SIGTRAP, with
	// swbreak or hwbreak in the stop reply).
	StopBreakpoint StopKind = iota + 1
	// StopStep: a single step finished (SIGTRAP).
	StopStep
	// StopPolled: Continue returned because poll asked it to (the
	// stub reports SIGINT when the debugger interrupted).
	StopPolled
	// StopExited: the guest's run ended; Code is vmxemu's exit status,
	// sent to gdb as "W xx".
	StopExited
	// StopKilled: the debugger killed the guest (k, vKill). Only
	// Server.Run returns it.
	StopKilled
	// StopEvent: the target stopped at an event the user asked to stop
	// at (vmxemu's -break-on): SIGTRAP, without swbreak/hwbreak.
	StopEvent
)

func (k StopKind) String() string {
	switch k {
	case StopBreakpoint:
		return "breakpoint"
	case StopStep:
		return "step"
	case StopPolled:
		return "polled"
	case StopExited:
		return "exited"
	case StopKilled:
		return "killed"
	case StopEvent:
		return "event"
	}
	return fmt.Sprintf("StopKind(%d)", int(k))
}

// Stop describes where the guest stopped.
type Stop struct {
	Kind StopKind
	// CPU is the vCPU that stopped (or ran last).
	CPU int
	// PC is that CPU's linear instruction address, for StopBreakpoint.
	PC uint64
	// Code is the exit status, for StopExited.
	Code int
}

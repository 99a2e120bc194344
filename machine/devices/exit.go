package devices

import "fmt"

// ExitKind says why a device asked the board to stop the run.
type ExitKind int

const (
	// ExitDebug is a write to QEMU's isa-debug-exit device; Exit.Code is
	// (value<<1)|1.
	ExitDebug ExitKind = iota + 1
	// ExitShutdown is a guest-requested power-off (for example "Shutdown"
	// written to port 0x8900); Exit.Code is 0.
	ExitShutdown
	// ExitReset is a guest-requested system reset (for example the fast
	// reset bit of port 0x92).
	ExitReset
	// ExitUnsupported is a guest request vmxemu refuses because it does
	// not implement what QEMU would do (for example ACPI S3 suspend); the
	// run ends and Exit.Reason says what was asked.
	ExitUnsupported
	// ExitSuspend is a request to enter the ACPI S3 sleeping state
	// (suspend to RAM): the board stops every CPU, keeps RAM, and resumes
	// through the firmware's waking vector when a wake event is enabled.
	ExitSuspend
)

// String names the kind.
func (k ExitKind) String() string {
	switch k {
	case ExitDebug:
		return "debug-exit"
	case ExitShutdown:
		return "shutdown"
	case ExitReset:
		return "reset"
	case ExitUnsupported:
		return "unsupported"
	case ExitSuspend:
		return "suspend"
	default:
		return fmt.Sprintf("ExitKind(%d)", int(k))
	}
}

// Exit describes a request to end (or restart) the run.
type Exit struct {
	Kind ExitKind
	// Code is the exit status the guest asked for. For ExitDebug it is the
	// full (value<<1)|1 and may exceed 255; a process exit status keeps only
	// its low 8 bits, as with QEMU's exit().
	Code int
	// Reason is a human-readable explanation naming the device and port.
	Reason string
}

// String formats the exit for logs.
func (e Exit) String() string {
	return fmt.Sprintf("%s (code %d): %s", e.Kind, e.Code, e.Reason)
}

// ExitFunc receives exit requests from devices. It is called synchronously
// from within the port access; the board decides when to stop (typically
// after the current instruction).
type ExitFunc func(Exit)

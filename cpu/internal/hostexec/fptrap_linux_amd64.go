package hostexec

import (
	"syscall"
	"unsafe"
)

// The "ssefp" instructions run with the guest's MXCSR, so an unmasked
// SIMD floating-point exception raises #XM on the host, which Linux
// reports as SIGFPE. For the duration of one such instruction runTrapping
// replaces the SIGFPE handler with fpeHandler (fptrap_linux_amd64.s): it
// records the MXCSR of the faulting context, masks every exception in
// that context and resumes at trapResume, which stores the registers as
// they were at the fault (the instruction has not completed) and returns
// from the instruction's function. The Go runtime's handler is restored
// right after.

// sigactiont is the kernel's struct sigaction on amd64.
type sigactiont struct {
	handler  uintptr
	flags    uint64
	restorer uintptr
	mask     uint64
}

const (
	saSiginfo  = 0x4
	saRestorer = 0x04000000
	saOnstack  = 0x08000000
)

var (
	trapped   uint32 // set by fpeHandler
	trapMXCSR uint32 // MXCSR at the fault
)

//lint:ignore U1000 referenced only from fptrap_linux_amd64.s
func fpeHandler()

//lint:ignore U1000 referenced only from fptrap_linux_amd64.s
func fpeRestorer()

//lint:ignore U1000 referenced only from fptrap_linux_amd64.s
func trapResume()
func fpeAddrs() (handler, restorer uintptr)

func runTrapping(run func(*Regs), r *Regs) {
	h, rs := fpeAddrs()
	act := sigactiont{handler: h, flags: saSiginfo | saRestorer | saOnstack, restorer: rs, mask: ^uint64(0)}
	var old sigactiont
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGFPE), uintptr(unsafe.Pointer(&act)), uintptr(unsafe.Pointer(&old)), 8, 0, 0); e != 0 {
		panic("hostexec: rt_sigaction: " + e.Error())
	}
	trapped = 0
	run(r)
	if _, _, e := syscall.RawSyscall6(syscall.SYS_RT_SIGACTION, uintptr(syscall.SIGFPE), uintptr(unsafe.Pointer(&old)), 0, 8, 0, 0); e != 0 {
		panic("hostexec: rt_sigaction: " + e.Error())
	}
	if trapped != 0 {
		r.XM, r.MXCSR = 1, trapMXCSR
	}
}

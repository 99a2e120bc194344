//go:build !linux

package hostexec

// runTrapping needs Linux's SIGFPE delivery (fptrap_linux_amd64.go).
func runTrapping(run func(*Regs), r *Regs) {
	panic("hostexec: ssefp instructions need a Linux host")
}

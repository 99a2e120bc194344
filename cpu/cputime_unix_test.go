//go:build unix

package cpu

import (
	sys "syscall"
	"time"
)

// processCPUTime returns the user+system CPU time of the process, a
// steadier base than wall time for the benchmarks on a loaded machine.
func processCPUTime() time.Duration {
	var ru sys.Rusage
	if sys.Getrusage(sys.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

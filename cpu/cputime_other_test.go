//go:build !unix

package cpu

import "time"

// processCPUTime is unavailable here; the CPU-time metric is then omitted.
func processCPUTime() time.Duration { return 0 }

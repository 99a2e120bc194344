//go:build amd64

package hostexec

// cpuid executes CPUID natively.
func cpuid(leaf, sub uint32) (a, b, c, d uint32)

// goMXCSR is the MXCSR the Go runtime runs with, restored after every
// "ssefp" instruction.
//
//lint:ignore U1000 read only from fptrap_linux_amd64.s
var goMXCSR uint32 = 0x1F80

// Insts returns the instruction table.
func Insts() []Inst { return insts }

// Available reports whether the host can run instructions of this table.
func Available() bool { return true }

// Vendor returns the CPUID vendor string ("GenuineIntel", "AuthenticAMD").
func Vendor() string {
	_, b, c, d := cpuid(0, 0)
	var s [12]byte
	for i := 0; i < 4; i++ {
		s[i], s[4+i], s[8+i] = byte(b>>(8*i)), byte(d>>(8*i)), byte(c>>(8*i))
	}
	return string(s[:])
}

// Signature returns CPUID.1:EAX (family/model/stepping).
func Signature() uint32 { a, _, _, _ := cpuid(1, 0); return a }

// Has reports whether the host advertises feature f in CPUID.
func Has(f string) bool {
	switch f {
	case "":
		return true
	case "popcnt":
		_, _, c, _ := cpuid(1, 0)
		return c&(1<<23) != 0
	case "bmi1":
		if a, _, _, _ := cpuid(0, 0); a < 7 {
			return false
		}
		_, b, _, _ := cpuid(7, 0)
		return b&(1<<3) != 0
	case "lzcnt":
		if a, _, _, _ := cpuid(0x80000000, 0); a < 0x80000001 {
			return false
		}
		_, _, c, _ := cpuid(0x80000001, 0)
		return c&(1<<5) != 0
	}
	return false
}

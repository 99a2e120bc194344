package msr

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// NominalMHz returns the model's nominal (base, non-turbo) frequency in MHz
// and where it was found, or 0 when the model does not say. vmxemu's TSC
// counts at this rate against virtual time (cpu/tsc.go,
// docs/CPU-MODELS.md "Time"), as an invariant TSC counts at the nominal
// frequency on hardware (SDM Vol. 3B 18.17.1). In order:
//
//   - CPUID.16H:EAX, the processor base frequency in MHz (SDM Vol. 2A,
//     CPUID, leaf 16H), when the model reports it non-zero;
//   - the brand string's frequency, the "@ 2.60GHz" that ends Intel's brand
//     strings (SDM Vol. 2A, CPUID, "The Processor Brand String Method":
//     the frequency is given as x.xxGHz or xxxxMHz).
func (m *Model) NominalMHz() (mhz uint64, source string) {
	if r, ok := m.Leaf(0x16, 0); ok && r.EAX&0xFFFF != 0 {
		return uint64(r.EAX & 0xFFFF), "CPUID.16H:EAX (base frequency)"
	}
	if mhz, ok := brandMHz(m.Brand()); ok {
		return mhz, fmt.Sprintf("brand string %q", m.Brand())
	}
	return 0, ""
}

// Brand returns the model's processor brand string (CPUID 80000002H–
// 80000004H), leading spaces and trailing NULs removed; "" without it.
func (m *Model) Brand() string {
	var b []byte
	for leaf := uint32(0x80000002); leaf <= 0x80000004; leaf++ {
		r, ok := m.Leaf(leaf, 0)
		if !ok {
			return ""
		}
		for _, v := range []uint32{r.EAX, r.EBX, r.ECX, r.EDX} {
			b = binary.LittleEndian.AppendUint32(b, v)
		}
	}
	s, _, _ := strings.Cut(string(b), "\x00")
	return strings.TrimSpace(s)
}

// brandMHz parses the frequency at the end of a brand string: "@", then
// a decimal number and "GHz" or "MHz" (SDM Vol. 2A, CPUID, Example 3-1).
// Integer arithmetic only: "2.60GHz" is 2600 MHz.
func brandMHz(brand string) (uint64, bool) {
	_, f, ok := strings.Cut(brand, "@")
	if !ok {
		return 0, false
	}
	f = strings.TrimSpace(f)
	var unit uint64
	switch {
	case strings.HasSuffix(f, "GHz"):
		unit = 1000
	case strings.HasSuffix(f, "MHz"):
		unit = 1
	default:
		return 0, false
	}
	num := strings.TrimSpace(f[:len(f)-3])
	whole, frac, _ := strings.Cut(num, ".")
	if whole == "" || len(frac) > 3 {
		return 0, false
	}
	var v uint64
	for _, ch := range whole + frac {
		if ch < '0' || ch > '9' || v > 1e9 {
			return 0, false
		}
		v = v*10 + uint64(ch-'0')
	}
	for range len(frac) {
		if unit%10 != 0 {
			return 0, false // a fraction of a MHz
		}
		unit /= 10
	}
	if v*unit == 0 {
		return 0, false
	}
	return v * unit, true
}

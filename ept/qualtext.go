package ept

import "strings"

// QualificationString decodes the exit qualification of an EPT violation
// (SDM Vol. 3C Table 28-7) for the diagnostics: the access (bits 0-2),
// the permissions of the guest-physical address (bits 3-5, the AND over
// the entries used, and bit 6 under mode-based execute control), whether the guest-linear address is valid (bit 7)
// and, if so, whether the access was to the final translation or to a
// guest paging-structure entry (bit 8), the advanced information
// (bits 9-11, named when set; reported with bits 7 and 8 set) and NMI unblocking
// due to IRET (bit 12). It has no side effects.
func QualificationString(q uint64) string {
	var acc []string
	for _, b := range []struct {
		bit  uint64
		name string
	}{{QualRead, "read"}, {QualWrite, "write"}, {QualFetch, "fetch"}} {
		if q&b.bit != 0 {
			acc = append(acc, b.name)
		}
	}
	if len(acc) == 0 {
		acc = []string{"none"}
	}
	// Bits 3-5, and bit 6 (executable for user-mode linear addresses)
	// under mode-based execute control (0 otherwise: vmxemu leaves the
	// undefined bit clear).
	parts := []string{"access " + strings.Join(acc, "+"),
		"entry " + permString(uint8(q>>3&0xF))}
	switch {
	case q&QualLinearValid == 0:
		parts = append(parts, "no guest-linear address")
	case q&QualTranslation != 0:
		parts = append(parts, "guest-linear address valid, translation")
		// Bits 9-11 are 0 on a processor without advanced VM-exit
		// information (IA32_VMX_EPT_VPID_CAP bit 22), so only set bits
		// are named.
		var adv []string
		for _, b := range []struct {
			bit  uint64
			name string
		}{{QualUser, "user-mode"}, {QualRW, "read/write"}, {QualNX, "execute-disable"}} {
			if q&b.bit != 0 {
				adv = append(adv, b.name)
			}
		}
		if len(adv) > 0 {
			parts = append(parts, "linear address "+strings.Join(adv, ", "))
		}
	default:
		parts = append(parts, "guest-linear address valid, paging-structure entry")
	}
	if q&QualNMIUnblock != 0 {
		parts = append(parts, "NMI unblocking due to IRET")
	}
	return strings.Join(parts, "; ")
}

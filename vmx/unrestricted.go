package vmx

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// Unrestricted guest (secondary processor-based control 7, SDM Vol. 3C
// 25.6.2, 26.3, 27.2.1.1, 27.3.1): a guest may run with CR0.PE = 0 (real
// address mode) or CR0.PG = 0 (unpaged protected mode), its linear
// addresses then being guest-physical addresses translated through EPT.
// The rules that depend on the control live where their check does — the
// control check below, the CR0 fixed-bit exemption (guestCR0Fixed, used by
// VM entry and by MOV to CR0 in the guest), the segment-register checks of
// 27.3.1.2 (guestcheck.go checkSegments/checkDataCodeAR) and the
// deliver-error-code rule of event injection (entry.go
// checkEventInjection); loading EFER.LME with CR0.PG = 0 is GuestState's
// (nonroot.go), and saving EFER.LMA into the "IA-32e mode guest" control
// at a VM exit is Exit's.

// unrestricted reports whether "unrestricted guest" is in force in the
// current VMCS (0 when "activate secondary controls" is 0, 25.6.2).
func (v *CPU) unrestricted() bool { return v.secondary()&proc2UnrestrictedGuest != 0 }

// checkUnrestrictedControls is the rule of SDM Vol. 3C 27.2.1.1 that ties
// "unrestricted guest" and "mode-based execute control for EPT" to
// "enable EPT": VMfailValid(7).
func (v *CPU) checkUnrestrictedControls(insn Insn) (Outcome, bool) {
	sec := v.secondary()
	if sec&proc2EPT != 0 {
		return Outcome{}, false
	}
	if sec&proc2UnrestrictedGuest != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
			"\"unrestricted guest\" (secondary control 7) requires \"enable EPT\" (secondary control 1)", "Vol. 3C 27.2.1.1"), true
	}
	if sec&proc2MBEC != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
			"\"mode-based execute control for EPT\" (secondary control 22) requires \"enable EPT\" (secondary control 1)", "Vol. 3C 27.2.1.1"), true
	}
	return Outcome{}, false
}

// guestCR0Fixed checks a guest CR0 value against IA32_VMX_CR0_FIXED0/1:
// with "unrestricted guest" CR0.PE and CR0.PG are exempt from FIXED0, at
// VM entry (SDM Vol. 3C 27.3.1.1) and for MOV to CR0 in VMX non-root
// operation (26.3, 24.8 footnote: the guest may clear them). The fault
// (nil when the value passes) names the bits.
func (v *CPU) guestCR0Fixed(cr0 uint64) *arch.Fault {
	return msr.CheckCR0(v.caps.CR0, cr0, v.unrestricted())
}

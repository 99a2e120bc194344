package msr

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
)

// IA32_FEATURE_CONTROL (MSR 0x3A; SDM Vol. 3C 24.7 "Enabling and Entering
// VMX Operation", Vol. 4 Table 2-2). Firmware configures it and normally
// sets the lock bit; once locked, WRMSR to it raises #GP until reset.
const (
	FCLock             = 1 << 0  // lock bit
	FCVMXInsideSMX     = 1 << 1  // enable VMXON inside SMX operation
	FCVMXOutsideSMX    = 1 << 2  // enable VMXON outside SMX operation
	FCSENTERLocal      = 0x7F00  // SENTER local function enables (bits 14:8)
	FCSENTERGlobal     = 1 << 15 // SENTER global enable
	FCSGXLaunchControl = 1 << 17 // SGX launch control enable
	FCSGXGlobal        = 1 << 18 // SGX global enable
	FCLMCE             = 1 << 20 // local machine-check exceptions
)

const sdmFC = "Vol. 3C 24.7; Vol. 4 Table 2-2 (IA32_FEATURE_CONTROL)"

// FeatureControlPolicy is how firmware leaves IA32_FEATURE_CONTROL.
type FeatureControlPolicy int

const (
	// FCPolicyLocked: lock bit and VMX outside SMX set (0x5), what real
	// BIOSes leave with VT-x enabled.
	FCPolicyLocked FeatureControlPolicy = iota
	// FCPolicyUnlocked: 0, unlocked; the OS may enable VMX and lock it.
	FCPolicyUnlocked
	// FCPolicyDisabled: locked with VMX off (0x1), "VT-x disabled in BIOS".
	FCPolicyDisabled
)

// FeatureControlValue is the value firmware of the given policy leaves on
// a processor of profile p: locked is 0x5 with VMX and 0x1 without (a
// BIOS cannot set a bit the processor lacks).
func FeatureControlValue(p *Profile, pol FeatureControlPolicy) uint64 {
	switch pol {
	case FCPolicyLocked:
		if p.ModelHas("vmx") {
			return FCLock | FCVMXOutsideSMX
		}
		return FCLock
	case FCPolicyDisabled:
		return FCLock
	}
	return 0
}

// featureControlWritable returns the bits of IA32_FEATURE_CONTROL that the
// model's features make writable (the others are reserved: #GP). It
// follows the model, not vmxemu's honesty mask: FEATURE_CONTROL is
// firmware's view of the silicon.
func featureControlWritable(p *Profile) uint64 {
	w := uint64(FCLock)
	if p.ModelHas("vmx") {
		w |= FCVMXOutsideSMX
		if p.ModelHas("smx") {
			w |= FCVMXInsideSMX
		}
	}
	if p.ModelHas("smx") {
		w |= FCSENTERLocal | FCSENTERGlobal
	}
	if p.ModelHas("sgxlc") {
		w |= FCSGXLaunchControl
	}
	if p.ModelHas("sgx") {
		w |= FCSGXGlobal
	}
	return w
}

// CheckFeatureControlWrite applies WRMSR's rules for IA32_FEATURE_CONTROL:
// #GP(0) while locked, and for bits the processor does not support.
func CheckFeatureControlWrite(p *Profile, cur, v uint64) *arch.Fault {
	if cur&FCLock != 0 {
		f := arch.GPFault(0, fmt.Sprintf("WRMSR to IA32_FEATURE_CONTROL while its lock bit (bit 0) is set (value %#x): it stays locked until reset", cur), sdmFC)
		return &f
	}
	if bad := v &^ featureControlWritable(p); bad != 0 {
		f := arch.GPFault(0, fmt.Sprintf("reserved bit(s) %#x set in IA32_FEATURE_CONTROL (bits 1-2 need VMX, 1 and 8-15 SMX, 17 SGX launch control, 18 SGX; LMCE is not supported)", bad), sdmFC)
		return &f
	}
	return nil
}

// ValidateFeatureControl checks an exact firmware value (-feature-control
// 0xVALUE): firmware can only leave what WRMSR accepts.
func ValidateFeatureControl(p *Profile, v uint64) error {
	if f := CheckFeatureControlWrite(p, 0, v); f != nil {
		return fmt.Errorf("IA32_FEATURE_CONTROL %#x on %s: %s", v, p.Model.Name, f.Rule)
	}
	return nil
}

// CheckVMXON applies IA32_FEATURE_CONTROL to VMXON (SDM Vol. 3C 24.7 and
// Vol. 2C VMXON): #GP(0) unless the lock bit is set and VMXON is enabled
// for the current (SMX or not) operation. The vmx package calls it.
func CheckVMXON(fc uint64, inSMX bool) *arch.Fault {
	switch {
	case fc&FCLock == 0:
		f := arch.GPFault(0, fmt.Sprintf("VMXON with IA32_FEATURE_CONTROL unlocked (%#x): firmware or the OS must set the lock bit first", fc), sdmFC+"; Vol. 2C VMXON")
		return &f
	case !inSMX && fc&FCVMXOutsideSMX == 0:
		f := arch.GPFault(0, fmt.Sprintf("VMXON outside SMX with IA32_FEATURE_CONTROL bit 2 clear (%#x): VMX is disabled by firmware", fc), sdmFC+"; Vol. 2C VMXON")
		return &f
	case inSMX && fc&FCVMXInsideSMX == 0:
		f := arch.GPFault(0, fmt.Sprintf("VMXON inside SMX with IA32_FEATURE_CONTROL bit 1 clear (%#x)", fc), sdmFC+"; Vol. 2C VMXON")
		return &f
	}
	return nil
}

// FeatureControlExplained is the text behind the FEATURE_CONTROL rules.
const FeatureControlExplained = `IA32_FEATURE_CONTROL (MSR 0x3A) is how firmware allows or forbids VMX.
Bit 0 locks it: once set, every WRMSR to the MSR raises #GP(0) until reset.
Bit 2 enables VMXON outside SMX, bit 1 inside SMX. VMXON raises #GP(0)
unless the MSR is locked with the right enable bit set. BIOSes with VT-x on
leave 0x5 (locked, VMX outside SMX); "VT-x disabled" leaves 0x1 (locked,
VMX off: nothing but a reset can enable it); some firmware leaves 0 and lets
the OS set and lock it. vmxemu's -feature-control selects which.`

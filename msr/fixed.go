package msr

import (
	"fmt"
	"math/bits"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// CR0 and CR4 in VMX operation (SDM Vol. 3C 24.8 "Restrictions on VMX
// Operation", Vol. 3D A.7 and A.8): a bit that is 1 in IA32_VMX_CRn_FIXED0
// must be 1, a bit that is 0 in IA32_VMX_CRn_FIXED1 must be 0. VMXON
// checks the current CR0/CR4 against them; in VMX operation MOV to CR0/CR4
// (and CLTS, LMSW) that would break them raises #GP(0). The vmx package
// applies these checks; they live here with the MSRs they read.

// sdmFixed is where the fixed-bit rule is stated.
const sdmFixed = "Vol. 3C 24.8; Vol. 3D A.7, A.8"

// cr4Base are the CR4 bits every VMX-capable processor observed allows in
// VMX operation (VME..OSXMMEXCPT: IA32_VMX_CR4_FIXED1 bits 10:0 are set in
// all 167 dumps of ../shared/reference/cpus, FIXED_BITS_AND_FEATURE_CONTROL.txt).
const cr4Base = 0x7FF

// CR4Fixed1For derives IA32_VMX_CR4_FIXED1 from CPUID: the base bits plus
// the CR4 bit of every feature the CPUID leaves report (UMIP, LA57, VMXE,
// SMXE, FSGSBASE, PCIDE, OSXSAVE, KL, SMEP, SMAP, PKE, CET, PKS, UINTR).
// For the shipped models it reproduces the value the hardware reported
// (tested); -cpu toggles and vmxemu's honesty mask go through it.
func CR4Fixed1For(cpuid func(leaf, sub uint32) Regs) uint64 {
	v := uint64(cr4Base)
	for _, f := range features {
		if f.CR4 != 0 && cpuid(f.Leaf, f.Subleaf).get(f.Reg)&f.Mask() != 0 {
			v |= f.CR4
		}
	}
	return v
}

// crNames are the SDM names of CR0 and CR4 bits, for explanations.
var (
	cr0Names = map[uint]string{0: "PE", 1: "MP", 2: "EM", 3: "TS", 4: "ET", 5: "NE", 16: "WP", 18: "AM", 29: "NW", 30: "CD", 31: "PG"}
	cr4Names = map[uint]string{0: "VME", 1: "PVI", 2: "TSD", 3: "DE", 4: "PSE", 5: "PAE", 6: "MCE", 7: "PGE", 8: "PCE",
		9: "OSFXSR", 10: "OSXMMEXCPT", 11: "UMIP", 12: "LA57", 13: "VMXE", 14: "SMXE", 16: "FSGSBASE", 17: "PCIDE",
		18: "OSXSAVE", 19: "KL", 20: "SMEP", 21: "SMAP", 22: "PKE", 23: "CET", 24: "PKS", 25: "UINTR", 28: "LAM_SUP", 32: "FRED"}
)

func bitNames(reg string, names map[uint]string, mask uint64) string {
	var out []string
	for mask != 0 {
		b := uint(bits.TrailingZeros64(mask))
		mask &= mask - 1
		if n, ok := names[b]; ok {
			out = append(out, fmt.Sprintf("%s.%s (bit %d)", reg, n, b))
		} else {
			out = append(out, fmt.Sprintf("%s bit %d", reg, b))
		}
	}
	return strings.Join(out, ", ")
}

// Fixed holds one control register's fixed-bit MSR pair.
type Fixed struct{ Fixed0, Fixed1 uint64 }

// check returns the rule v breaks, or "".
func (fx Fixed) check(reg string, names map[uint]string, v uint64) string {
	if must1 := fx.Fixed0 &^ v; must1 != 0 {
		return fmt.Sprintf("%s must be 1 in VMX operation (IA32_VMX_%s_FIXED0 = %#x)", bitNames(reg, names, must1), reg, fx.Fixed0)
	}
	if must0 := v &^ fx.Fixed1; must0 != 0 {
		return fmt.Sprintf("%s must be 0 in VMX operation (IA32_VMX_%s_FIXED1 = %#x)", bitNames(reg, names, must0), reg, fx.Fixed1)
	}
	return ""
}

// CheckCR0 checks a CR0 value against the fixed bits. With unrestricted
// guest (checking a guest's CR0 at VM entry with the "unrestricted guest"
// control set) PE and PG are exempt from FIXED0 (SDM Vol. 3C 28.3.1.1).
// The fault is #GP(0) naming the bits.
func CheckCR0(fx Fixed, v uint64, unrestricted bool) *arch.Fault {
	if unrestricted {
		fx.Fixed0 &^= arch.CR0PE | arch.CR0PG
	}
	if r := fx.check("CR0", cr0Names, v); r != "" {
		f := arch.GPFault(0, r, sdmFixed)
		return &f
	}
	return nil
}

// CheckCR4 checks a CR4 value against the fixed bits: #GP(0) naming the
// bits.
func CheckCR4(fx Fixed, v uint64) *arch.Fault {
	if r := fx.check("CR4", cr4Names, v); r != "" {
		f := arch.GPFault(0, r, sdmFixed)
		return &f
	}
	return nil
}

// FixedBitsExplained is the text behind the fixed-bit rule, for -explain
// and the docs.
const FixedBitsExplained = `In VMX operation the processor pins some CR0 and CR4 bits (SDM Vol. 3C 24.8).
A bit set in IA32_VMX_CR0_FIXED0 (0x486) / IA32_VMX_CR4_FIXED0 (0x488) must be 1;
a bit clear in IA32_VMX_CR0_FIXED1 (0x487) / IA32_VMX_CR4_FIXED1 (0x489) must be 0.
Every processor observed reports CR0_FIXED0 = 0x80000021 (PE, NE, PG) and
CR4_FIXED0 = 0x2000 (VMXE): VMXON needs protected mode with paging, CR0.NE=1 and
CR4.VMXE=1, and once in VMX operation MOV to CR0/CR4 cannot clear them (#GP(0)).
CR4_FIXED1 lists the CR4 bits the processor supports, so it follows CPUID.`

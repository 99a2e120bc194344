package msr

import "fmt"

// MSR indices, named after the Intel SDM (Vol. 4, chapter 2, "Model-Specific
// Registers"): IA32_VMX_BASIC is VMXBasic, IA32_FEATURE_CONTROL is
// FeatureControl, and so on.
const (
	TSC              uint32 = 0x10  // IA32_TIME_STAMP_COUNTER
	PlatformID       uint32 = 0x17  // IA32_PLATFORM_ID
	APICBase         uint32 = 0x1B  // IA32_APIC_BASE
	FeatureControl   uint32 = 0x3A  // IA32_FEATURE_CONTROL
	TSCAdjust        uint32 = 0x3B  // IA32_TSC_ADJUST
	SpecCtrl         uint32 = 0x48  // IA32_SPEC_CTRL
	PredCmd          uint32 = 0x49  // IA32_PRED_CMD
	BIOSUpdtTrig     uint32 = 0x79  // IA32_BIOS_UPDT_TRIG
	BIOSSignID       uint32 = 0x8B  // IA32_BIOS_SIGN_ID
	PMC0             uint32 = 0xC1  // IA32_PMC0 (IA32_PMCn = PMC0+n)
	MTRRCap          uint32 = 0xFE  // IA32_MTRRCAP
	ArchCapabilities uint32 = 0x10A // IA32_ARCH_CAPABILITIES
	FlushCmd         uint32 = 0x10B // IA32_FLUSH_CMD
	SysenterCS       uint32 = 0x174 // IA32_SYSENTER_CS
	SysenterESP      uint32 = 0x175 // IA32_SYSENTER_ESP
	SysenterEIP      uint32 = 0x176 // IA32_SYSENTER_EIP
	MCGCap           uint32 = 0x179 // IA32_MCG_CAP
	MCGStatus        uint32 = 0x17A // IA32_MCG_STATUS
	MCGCtl           uint32 = 0x17B // IA32_MCG_CTL
	MC0Ctl           uint32 = 0x400 // IA32_MC0_CTL; bank i at 0x400+4i: CTL, STATUS, ADDR, MISC
	PlatformInfo     uint32 = 0xCE  // MSR_PLATFORM_INFO
	PerfEvtSel0      uint32 = 0x186 // IA32_PERFEVTSEL0 (IA32_PERFEVTSELn = PerfEvtSel0+n)
	MiscEnable       uint32 = 0x1A0 // IA32_MISC_ENABLE
	DebugCtl         uint32 = 0x1D9 // IA32_DEBUGCTL
	// The model-specific LBR stack (Sandy Bridge to Ice Lake-SP), held
	// by the core (cpu/debugctl.go).
	LBRSelect         uint32 = 0x1C8 // MSR_LBR_SELECT
	LBRTOS            uint32 = 0x1C9 // MSR_LASTBRANCH_TOS
	LERFromLIP        uint32 = 0x1DD // MSR_LER_FROM_LIP
	LERToLIP          uint32 = 0x1DE // MSR_LER_TO_LIP
	LastBranchFromIP0 uint32 = 0x680 // MSR_LASTBRANCH_0_FROM_IP
	LastBranchToIP0   uint32 = 0x6C0 // MSR_LASTBRANCH_0_TO_IP
	LBRInfo0          uint32 = 0xDC0 // MSR_LBR_INFO_0
	MTRRPhysBase0     uint32 = 0x200 // IA32_MTRR_PHYSBASE0 (base n = 0x200+2n, mask n = 0x201+2n)
	MTRRFix64K00000   uint32 = 0x250 // IA32_MTRR_FIX64K_00000
	MTRRFix16K80000   uint32 = 0x258 // IA32_MTRR_FIX16K_80000
	MTRRFix16KA0000   uint32 = 0x259 // IA32_MTRR_FIX16K_A0000
	MTRRFix4KC0000    uint32 = 0x268 // IA32_MTRR_FIX4K_C0000 .. IA32_MTRR_FIX4K_F8000 = 0x26F
	PAT               uint32 = 0x277 // IA32_PAT
	MTRRDefType       uint32 = 0x2FF // IA32_MTRR_DEF_TYPE
	FixedCtr0         uint32 = 0x309 // IA32_FIXED_CTR0 (IA32_FIXED_CTRn = FixedCtr0+n)
	PerfCapabilities  uint32 = 0x345 // IA32_PERF_CAPABILITIES
	FixedCtrCtrl      uint32 = 0x38D // IA32_FIXED_CTR_CTRL
	PerfGlobalStatus  uint32 = 0x38E // IA32_PERF_GLOBAL_STATUS
	PerfGlobalCtrl    uint32 = 0x38F // IA32_PERF_GLOBAL_CTRL
	PerfGlobalOvfCtl  uint32 = 0x390 // IA32_PERF_GLOBAL_OVF_CTRL

	VMXBasic             uint32 = 0x480 // IA32_VMX_BASIC
	VMXPinbasedCtls      uint32 = 0x481 // IA32_VMX_PINBASED_CTLS
	VMXProcbasedCtls     uint32 = 0x482 // IA32_VMX_PROCBASED_CTLS
	VMXExitCtls          uint32 = 0x483 // IA32_VMX_EXIT_CTLS
	VMXEntryCtls         uint32 = 0x484 // IA32_VMX_ENTRY_CTLS
	VMXMisc              uint32 = 0x485 // IA32_VMX_MISC
	VMXCR0Fixed0         uint32 = 0x486 // IA32_VMX_CR0_FIXED0
	VMXCR0Fixed1         uint32 = 0x487 // IA32_VMX_CR0_FIXED1
	VMXCR4Fixed0         uint32 = 0x488 // IA32_VMX_CR4_FIXED0
	VMXCR4Fixed1         uint32 = 0x489 // IA32_VMX_CR4_FIXED1
	VMXVMCSEnum          uint32 = 0x48A // IA32_VMX_VMCS_ENUM
	VMXProcbasedCtls2    uint32 = 0x48B // IA32_VMX_PROCBASED_CTLS2
	VMXEPTVPIDCap        uint32 = 0x48C // IA32_VMX_EPT_VPID_CAP
	VMXTruePinbasedCtls  uint32 = 0x48D // IA32_VMX_TRUE_PINBASED_CTLS
	VMXTrueProcbasedCtls uint32 = 0x48E // IA32_VMX_TRUE_PROCBASED_CTLS
	VMXTrueExitCtls      uint32 = 0x48F // IA32_VMX_TRUE_EXIT_CTLS
	VMXTrueEntryCtls     uint32 = 0x490 // IA32_VMX_TRUE_ENTRY_CTLS
	VMXVMFunc            uint32 = 0x491 // IA32_VMX_VMFUNC
	VMXProcbasedCtls3    uint32 = 0x492 // IA32_VMX_PROCBASED_CTLS3

	EFER         uint32 = 0xC0000080 // IA32_EFER
	STAR         uint32 = 0xC0000081 // IA32_STAR
	LSTAR        uint32 = 0xC0000082 // IA32_LSTAR
	CSTAR        uint32 = 0xC0000083 // IA32_CSTAR
	FMask        uint32 = 0xC0000084 // IA32_FMASK
	FSBase       uint32 = 0xC0000100 // IA32_FS_BASE
	GSBase       uint32 = 0xC0000101 // IA32_GS_BASE
	KernelGSBase uint32 = 0xC0000102 // IA32_KERNEL_GS_BASE
	TSCAux       uint32 = 0xC0000103 // IA32_TSC_AUX
)

// FirstVMX and LastVMX bound the VMX capability MSRs (SDM Vol. 3D
// Appendix A).
const (
	FirstVMX = VMXBasic
	LastVMX  = VMXProcbasedCtls3
)

// IsVMX reports whether index is a VMX capability MSR (0x480-0x492).
func IsVMX(index uint32) bool { return index >= FirstVMX && index <= LastVMX }

var names = map[uint32]string{
	TSC: "IA32_TIME_STAMP_COUNTER", PlatformID: "IA32_PLATFORM_ID", APICBase: "IA32_APIC_BASE",
	FeatureControl: "IA32_FEATURE_CONTROL", TSCAdjust: "IA32_TSC_ADJUST", SpecCtrl: "IA32_SPEC_CTRL",
	PredCmd: "IA32_PRED_CMD", BIOSUpdtTrig: "IA32_BIOS_UPDT_TRIG", BIOSSignID: "IA32_BIOS_SIGN_ID",
	MTRRCap: "IA32_MTRRCAP", ArchCapabilities: "IA32_ARCH_CAPABILITIES", FlushCmd: "IA32_FLUSH_CMD",
	SysenterCS: "IA32_SYSENTER_CS", SysenterESP: "IA32_SYSENTER_ESP", SysenterEIP: "IA32_SYSENTER_EIP",
	MCGCap: "IA32_MCG_CAP", MCGStatus: "IA32_MCG_STATUS", MCGCtl: "IA32_MCG_CTL", MC0Ctl: "IA32_MC0_CTL", PlatformInfo: "MSR_PLATFORM_INFO", MiscEnable: "IA32_MISC_ENABLE", DebugCtl: "IA32_DEBUGCTL",
	MTRRFix64K00000: "IA32_MTRR_FIX64K_00000", MTRRFix16K80000: "IA32_MTRR_FIX16K_80000",
	MTRRFix16KA0000: "IA32_MTRR_FIX16K_A0000", PAT: "IA32_PAT", MTRRDefType: "IA32_MTRR_DEF_TYPE",
	PerfCapabilities: "IA32_PERF_CAPABILITIES", FixedCtrCtrl: "IA32_FIXED_CTR_CTRL",
	PerfGlobalStatus: "IA32_PERF_GLOBAL_STATUS", PerfGlobalCtrl: "IA32_PERF_GLOBAL_CTRL",
	PerfGlobalOvfCtl: "IA32_PERF_GLOBAL_OVF_CTRL",
	VMXBasic:         "IA32_VMX_BASIC", VMXPinbasedCtls: "IA32_VMX_PINBASED_CTLS", VMXProcbasedCtls: "IA32_VMX_PROCBASED_CTLS",
	VMXExitCtls: "IA32_VMX_EXIT_CTLS", VMXEntryCtls: "IA32_VMX_ENTRY_CTLS", VMXMisc: "IA32_VMX_MISC",
	VMXCR0Fixed0: "IA32_VMX_CR0_FIXED0", VMXCR0Fixed1: "IA32_VMX_CR0_FIXED1", VMXCR4Fixed0: "IA32_VMX_CR4_FIXED0",
	VMXCR4Fixed1: "IA32_VMX_CR4_FIXED1", VMXVMCSEnum: "IA32_VMX_VMCS_ENUM", VMXProcbasedCtls2: "IA32_VMX_PROCBASED_CTLS2",
	VMXEPTVPIDCap: "IA32_VMX_EPT_VPID_CAP", VMXTruePinbasedCtls: "IA32_VMX_TRUE_PINBASED_CTLS",
	VMXTrueProcbasedCtls: "IA32_VMX_TRUE_PROCBASED_CTLS", VMXTrueExitCtls: "IA32_VMX_TRUE_EXIT_CTLS",
	VMXTrueEntryCtls: "IA32_VMX_TRUE_ENTRY_CTLS", VMXVMFunc: "IA32_VMX_VMFUNC", VMXProcbasedCtls3: "IA32_VMX_PROCBASED_CTLS3",
	EFER: "IA32_EFER", STAR: "IA32_STAR", LSTAR: "IA32_LSTAR", CSTAR: "IA32_CSTAR", FMask: "IA32_FMASK",
	FSBase: "IA32_FS_BASE", GSBase: "IA32_GS_BASE", KernelGSBase: "IA32_KERNEL_GS_BASE", TSCAux: "IA32_TSC_AUX",
}

// Name returns the SDM name of an MSR ("IA32_VMX_BASIC"), or its index in
// hex for MSRs vmxemu has no name for.
func Name(index uint32) string {
	if n, ok := names[index]; ok {
		return n
	}
	switch {
	case index >= PMC0 && index < PMC0+8:
		return fmt.Sprintf("IA32_PMC%d", index-PMC0)
	case index >= PerfEvtSel0 && index < PerfEvtSel0+8:
		return fmt.Sprintf("IA32_PERFEVTSEL%d", index-PerfEvtSel0)
	case index >= LastBranchFromIP0 && index < LastBranchFromIP0+32:
		return fmt.Sprintf("MSR_LASTBRANCH_%d_FROM_IP", index-LastBranchFromIP0)
	case index >= LastBranchToIP0 && index < LastBranchToIP0+32:
		return fmt.Sprintf("MSR_LASTBRANCH_%d_TO_IP", index-LastBranchToIP0)
	case index >= LBRInfo0 && index < LBRInfo0+32:
		return fmt.Sprintf("MSR_LBR_INFO_%d", index-LBRInfo0)
	case index >= FixedCtr0 && index < FixedCtr0+4:
		return fmt.Sprintf("IA32_FIXED_CTR%d", index-FixedCtr0)
	case index >= MTRRPhysBase0 && index < MTRRPhysBase0+2*maxVarMTRRs:
		n := (index - MTRRPhysBase0) / 2
		if index&1 == 0 {
			return fmt.Sprintf("IA32_MTRR_PHYSBASE%d", n)
		}
		return fmt.Sprintf("IA32_MTRR_PHYSMASK%d", n)
	case index >= MTRRFix4KC0000 && index <= MTRRFix4KC0000+7:
		return fmt.Sprintf("IA32_MTRR_FIX4K_%05X", 0xC0000+(index-MTRRFix4KC0000)*0x8000)
	}
	return fmt.Sprintf("MSR %#x", index)
}

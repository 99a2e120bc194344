package machine

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// This file is the board's default CPU model until package msr provides
// real ones: CPUID leaves and the few MSRs the core does not hold itself.
// It advertises only what the interpreter implements.

// CPU signature of the default model: a Sandy Bridge EP (family 6, model
// 0x2D, stepping 5), CPUID.01H:EAX.
const DefaultCPUSignature = 0x000206D5

// CPUID feature bits (SDM Vol. 2A, CPUID, Tables 3-10, 3-11 and the
// 80000001H leaf).
const (
	cpuid1EdxPSE   = 1 << 3
	cpuid1EdxTSC   = 1 << 4
	cpuid1EdxMSR   = 1 << 5
	cpuid1EdxPAE   = 1 << 6
	cpuid1EdxCX8   = 1 << 8
	cpuid1EdxSEP   = 1 << 11
	cpuid1EdxPGE   = 1 << 13
	cpuid1EdxCMOV  = 1 << 15
	cpuid1EdxPAT   = 1 << 16
	cpuid1EdxPSE36 = 1 << 17
	cpuid1EdxCLFSH = 1 << 19

	cpuidExtEdxSYSCALL = 1 << 11
	cpuidExtEdxNX      = 1 << 20
	cpuidExtEdxLM      = 1 << 29
	cpuidExtEcxLAHF    = 1 << 0

	defaultLeaf1EDX = cpuid1EdxPSE | cpuid1EdxTSC | cpuid1EdxMSR | cpuid1EdxPAE |
		cpuid1EdxCX8 | cpuid1EdxSEP | cpuid1EdxPGE | cpuid1EdxCMOV | cpuid1EdxPAT |
		cpuid1EdxPSE36 | cpuid1EdxCLFSH

	maxBasicLeaf = 0xD
	maxExtLeaf   = 0x80000008

	// BrandString is what CPUID.80000002H-80000004H return.
	BrandString = "vmxemu virtual CPU"
)

// MSR indices the default platform implements (SDM Vol. 4, Table 2-2).
const (
	msrPlatformID     = 0x17
	msrAPICBase       = 0x1B
	msrFeatureControl = 0x3A
	msrBIOSSignID     = 0x8B
	msrMTRRCap        = 0xFE
	msrMiscEnable     = 0x1A0
	msrMTRRDefType    = 0x2FF

	apicBaseBSP    = 1 << 8
	apicBaseEnable = 1 << 11
	apicBaseExtd   = 1 << 10

	featureControlLock = 1 << 0

	// miscEnableFastStrings is IA32_MISC_ENABLE bit 0, set by default.
	miscEnableFastStrings = 1 << 0
	// mtrrDefTypeValid are the writable bits of IA32_MTRR_DEF_TYPE: the
	// default type (7:0), FE (10) and E (11).
	mtrrDefTypeValid = 0xFF | 1<<10 | 1<<11
)

// Platform is the default cpu.Platform: a Sandy Bridge EP signature with
// the features the interpreter implements, and a minimal MSR file.
//
// CPUID:
//   - 0: max basic leaf 0xD, "GenuineIntel".
//   - 1: EAX 0x206D5; EBX = CLFLUSH line size 8 (64 bytes) in 15:8, the
//     number of logical processors in 23:16 and the initial APIC ID (the
//     CPU index) in 31:24; ECX = 0 (no SSE3, no VMX yet); EDX = PSE, TSC,
//     MSR, PAE, CX8, SEP, PGE, CMOV, PAT, PSE-36, CLFSH. FPU, SSE, FXSR,
//     APIC and MTRR are not advertised.
//   - 2..0xD: zeros (no cache/topology/XSAVE description).
//   - 80000000H: max extended leaf 80000008H; 80000001H: ECX LAHF/SAHF,
//     EDX SYSCALL, NX, LM; 80000002H-80000004H: BrandString; 80000008H:
//     physical address width 46, linear 48.
//   - A leaf above the maximum basic or extended leaf returns the highest
//     basic leaf (0xD), as Intel processors do (SDM Vol. 2A, CPUID:
//     "If a value entered for CPUID.EAX is higher than the maximum input
//     value for basic or extended function ... the data for the highest
//     basic information leaf is returned").
//
// MSRs (those the core does not hold itself):
//   - IA32_FEATURE_CONTROL (0x3A): the firmware policy value; writable only
//     while its lock bit is clear, #GP(0) once locked.
//   - IA32_APIC_BASE (0x1B): the state's APICBase (0xFEE00900 on the BSP);
//     writes keep BSP read-only and #GP on reserved bits. No local APIC is
//     emulated yet, so the value has no effect.
//   - IA32_PLATFORM_ID (0x17) and IA32_BIOS_SIGN_ID (0x8B, microcode
//     revision) read 0; writes to 0x8B are ignored (the microcode-revision
//     read protocol writes 0 first).
//   - IA32_MTRRCAP (0xFE) reads 0 (no variable ranges, no fixed ranges);
//     IA32_MTRR_DEF_TYPE (0x2FF) holds its writable bits. MTRRs have no
//     effect.
//   - IA32_MISC_ENABLE (0x1A0): fast strings enabled; writes are stored.
//   - Every other MSR raises #GP(0) naming the MSR.
type Platform struct {
	ncpu           int
	featureControl []uint64
	miscEnable     []uint64
	mtrrDefType    []uint64
}

// NewPlatform returns the default platform for ncpu CPUs whose
// IA32_FEATURE_CONTROL starts at featureControl (what the firmware left).
func NewPlatform(ncpu int, featureControl uint64) *Platform {
	p := &Platform{
		ncpu:           ncpu,
		featureControl: make([]uint64, ncpu),
		miscEnable:     make([]uint64, ncpu),
		mtrrDefType:    make([]uint64, ncpu),
	}
	for i := range ncpu {
		p.featureControl[i] = featureControl
		p.miscEnable[i] = miscEnableFastStrings
	}
	return p
}

// Reset puts every CPU's platform MSRs back to their power-on values, with
// IA32_FEATURE_CONTROL at featureControl.
func (p *Platform) Reset(featureControl uint64) {
	for i := range p.ncpu {
		p.featureControl[i] = featureControl
		p.miscEnable[i] = miscEnableFastStrings
		p.mtrrDefType[i] = 0
	}
}

func (p *Platform) index(c *cpu.CPU) int {
	if c.ID >= 0 && c.ID < p.ncpu {
		return c.ID
	}
	return 0
}

func regs(s string) (a, b, c, d uint32) {
	var w [16]byte
	copy(w[:], s)
	le := func(i int) uint32 {
		return uint32(w[i]) | uint32(w[i+1])<<8 | uint32(w[i+2])<<16 | uint32(w[i+3])<<24
	}
	return le(0), le(4), le(8), le(12)
}

// CPUID implements cpu.Platform.
func (p *Platform) CPUID(c *cpu.CPU, leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) {
	if leaf > maxBasicLeaf && leaf < 0x80000000 || leaf > maxExtLeaf {
		leaf = maxBasicLeaf
	}
	switch leaf {
	case 0:
		// "GenuineIntel" is returned in EBX, EDX, ECX order.
		_, b, d, cc := regs("....GenuineIntel")
		return maxBasicLeaf, b, cc, d
	case 1:
		logical := uint32(min(p.ncpu, 255))
		ebx = 8<<8 | logical<<16 | uint32(c.ID&0xFF)<<24
		return DefaultCPUSignature, ebx, 0, defaultLeaf1EDX
	case 0x80000000:
		return maxExtLeaf, 0, 0, 0
	case 0x80000001:
		return 0, 0, cpuidExtEcxLAHF, cpuidExtEdxSYSCALL | cpuidExtEdxNX | cpuidExtEdxLM
	case 0x80000002, 0x80000003, 0x80000004:
		var brand [48]byte
		copy(brand[:], BrandString)
		i := (leaf - 0x80000002) * 16
		return regs(string(brand[i : i+16]))
	case 0x80000008:
		return 48<<8 | 46, 0, 0, 0
	}
	return 0, 0, 0, 0
}

func gp(rule string) *arch.Fault {
	f := arch.GPFault(0, rule, "Vol. 2B RDMSR/WRMSR; Vol. 4 Table 2-2")
	return &f
}

func unimplemented(index uint32) *arch.Fault {
	return gp(fmt.Sprintf("MSR %#x is not implemented by this CPU model", index))
}

// ReadMSR implements cpu.Platform.
func (p *Platform) ReadMSR(c *cpu.CPU, index uint32) (uint64, *arch.Fault) {
	i := p.index(c)
	switch index {
	case msrPlatformID, msrBIOSSignID, msrMTRRCap:
		return 0, nil
	case msrAPICBase:
		return c.APICBase, nil
	case msrFeatureControl:
		return p.featureControl[i], nil
	case msrMiscEnable:
		return p.miscEnable[i], nil
	case msrMTRRDefType:
		return p.mtrrDefType[i], nil
	}
	return 0, unimplemented(index)
}

// WriteMSR implements cpu.Platform.
func (p *Platform) WriteMSR(c *cpu.CPU, index uint32, v uint64) *arch.Fault {
	i := p.index(c)
	switch index {
	case msrBIOSSignID:
		return nil
	case msrPlatformID, msrMTRRCap:
		return gp(fmt.Sprintf("MSR %#x is read-only", index))
	case msrAPICBase:
		// Bits 7:0, 9 and those above MAXPHYADDR are reserved; x2APIC
		// (bit 10) is not supported by this model (SDM Vol. 3A 11.4.4).
		reserved := uint64(0xFF|1<<9|apicBaseExtd) | ^uint64(0)<<c.MaxPhysAddr
		if v&reserved != 0 {
			return gp("reserved bit set in IA32_APIC_BASE (or x2APIC enable, which this CPU model lacks)")
		}
		c.APICBase = v&^apicBaseBSP | c.APICBase&apicBaseBSP
		return nil
	case msrFeatureControl:
		if p.featureControl[i]&featureControlLock != 0 {
			return gp("WRMSR to IA32_FEATURE_CONTROL while its lock bit (bit 0) is set")
		}
		p.featureControl[i] = v
		return nil
	case msrMiscEnable:
		p.miscEnable[i] = v
		return nil
	case msrMTRRDefType:
		if v&^uint64(mtrrDefTypeValid) != 0 {
			return gp("reserved bit set in IA32_MTRR_DEF_TYPE")
		}
		p.mtrrDefType[i] = v
		return nil
	}
	return unimplemented(index)
}

package msr

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
)

// The MSR file: the registry of MSRs vmxemu implements, each with the
// condition under which it exists on a model, its access (read-only
// MSRs raise #GP on WRMSR, write-only ones on RDMSR), its reserved bits
// and its side effects. An MSR outside the registry, or one whose
// condition the profile does not meet, raises #GP(0) on any access, with
// the reason. The MSRs the interpreter core holds itself (TSC, EFER, PAT,
// SYSENTER_*, STAR/LSTAR/CSTAR/FMASK, FS/GS/KERNEL_GS_BASE, TSC_AUX; see
// cpu/cr.go) are listed with Core set and never reach File.

// Access is how an MSR may be accessed.
type Access int

// Accesses.
const (
	ReadWrite Access = iota
	ReadOnly
	WriteOnly
)

func (a Access) String() string { return [...]string{"read/write", "read-only", "write-only"}[a] }

// Spec is one registry entry: an MSR or a range of them.
type Spec struct {
	First, Last uint32
	Access      Access
	Core        bool   // held by the interpreter core (cpu/cr.go)
	When        string // when the MSR exists
	SDM         string
	exists      func(f *File, idx uint32) (bool, string)
	read        func(f *File, idx uint32, st *arch.State) uint64
	write       func(f *File, idx uint32, v uint64, st *arch.State) *arch.Fault
}

// Name is the SDM name of the first MSR of the entry.
func (s Spec) Name() string { return Name(s.First) }

const (
	sdmRDMSR = "Vol. 2B RDMSR/WRMSR"
	sdmMSRs  = "Vol. 4 Table 2-2"
	// maxVarMTRRs is the number of variable-range MTRRs vmxemu gives every
	// model (IA32_MTRRCAP.VCNT): the dumps do not report IA32_MTRRCAP,
	// so vmxemu uses QEMU's 8.
	maxVarMTRRs = 8
	// mtrrCapValue: VCNT=8, FIX (bit 8), WC (bit 10); no SMRR.
	mtrrCapValue = maxVarMTRRs | 1<<8 | 1<<10
)

func gpf(rule, sdm string) *arch.Fault {
	f := arch.GPFault(0, rule, sdm)
	return &f
}

func always(*File, uint32) (bool, string) { return true, "" }

func reports(feature, why string) func(f *File, idx uint32) (bool, string) {
	return func(f *File, _ uint32) (bool, string) {
		if f.p.Reports(feature) {
			return true, ""
		}
		return false, why
	}
}

// registry is the MSR file's table, by index.
var registry = []Spec{
	{First: TSC, Last: TSC, Core: true, When: "always (CPUID.1:EDX.TSC)", SDM: "Vol. 3B 18.17"},
	{First: PlatformID, Last: PlatformID, Access: ReadOnly, When: "always; the model's value", SDM: sdmMSRs,
		exists: always, read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.modelMSR(PlatformID, 0) }},
	{First: APICBase, Last: APICBase, When: "always (CPUID.1:EDX.APIC on real parts)", SDM: "Vol. 3A 11.4.4",
		exists: always, read: func(_ *File, _ uint32, st *arch.State) uint64 { return st.APICBase }, write: (*File).writeAPICBase},
	{First: FeatureControl, Last: FeatureControl, When: "when the model has VMX or SMX", SDM: sdmFC,
		exists: func(f *File, _ uint32) (bool, string) {
			if f.p.ModelHas("vmx") || f.p.ModelHas("smx") {
				return true, ""
			}
			return false, "IA32_FEATURE_CONTROL exists only on processors with VMX or SMX, and the model has neither"
		},
		read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.featureControl },
		write: func(f *File, _ uint32, v uint64, _ *arch.State) *arch.Fault {
			if fl := CheckFeatureControlWrite(f.p, f.featureControl, v); fl != nil {
				return fl
			}
			f.featureControl = v
			return nil
		}},
	{First: SpecCtrl, Last: SpecCtrl, When: "when CPUID.(7,0):EDX reports IBRS (26), STIBP (27) or SSBD (31)", SDM: sdmMSRs,
		exists: func(f *File, _ uint32) (bool, string) {
			if f.specCtrlBits() != 0 {
				return true, ""
			}
			return false, "IA32_SPEC_CTRL exists only when CPUID.(EAX=7,ECX=0):EDX reports IBRS, STIBP or SSBD"
		},
		read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.specCtrl },
		write: func(f *File, _ uint32, v uint64, _ *arch.State) *arch.Fault {
			if v&^f.specCtrlBits() != 0 {
				return gpf(fmt.Sprintf("reserved bit(s) %#x set in IA32_SPEC_CTRL", v&^f.specCtrlBits()), sdmMSRs)
			}
			f.specCtrl = v
			return nil
		}},
	{First: PredCmd, Last: PredCmd, Access: WriteOnly, When: "when CPUID.(7,0):EDX.IBRS_IBPB[26] = 1", SDM: sdmMSRs,
		exists: reports("spec-ctrl", "IA32_PRED_CMD exists only when CPUID.(EAX=7,ECX=0):EDX[26] (IBRS/IBPB) = 1"),
		write:  commandMSR("IA32_PRED_CMD")},
	{First: BIOSSignID, Last: BIOSSignID, When: "always; reads the model's microcode revision, writes are ignored", SDM: "Vol. 3A 10.11.7.1",
		exists: always, read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.modelMSR(BIOSSignID, 0) &^ 0xFFFFFFFF },
		write: func(*File, uint32, uint64, *arch.State) *arch.Fault { return nil }},
	{First: PMC0, Last: PMC0 + 7, When: "when CPUID.0AH reports general-purpose counters", SDM: "Vol. 3B 21.2", exists: pmu},
	{First: MTRRCap, Last: MTRRCap, Access: ReadOnly, When: "when CPUID.1:EDX.MTRR = 1; VCNT=8, fixed ranges, WC", SDM: "Vol. 3A 13.11.2.1",
		exists: reports("mtrr", mtrrWhy), read: func(*File, uint32, *arch.State) uint64 { return mtrrCapValue }},
	{First: ArchCapabilities, Last: ArchCapabilities, Access: ReadOnly, When: "when CPUID.(7,0):EDX[29] = 1", SDM: sdmMSRs,
		exists: reports("arch-capabilities", "IA32_ARCH_CAPABILITIES exists only when CPUID.(EAX=7,ECX=0):EDX[29] = 1; vmxemu does not report it (it enumerates control MSRs vmxemu lacks)"),
		read:   func(f *File, _ uint32, _ *arch.State) uint64 { return f.modelMSR(ArchCapabilities, 0) }},
	{First: FlushCmd, Last: FlushCmd, Access: WriteOnly, When: "when CPUID.(7,0):EDX.L1D_FLUSH[28] = 1", SDM: sdmMSRs,
		exists: reports("flush-l1d", "IA32_FLUSH_CMD exists only when CPUID.(EAX=7,ECX=0):EDX[28] (L1D_FLUSH) = 1"),
		write:  commandMSR("IA32_FLUSH_CMD")},
	{First: SysenterCS, Last: SysenterEIP, Core: true, When: "always (CPUID.1:EDX.SEP)", SDM: "Vol. 3B 5.8.7"},
	{First: PlatformInfo, Last: PlatformInfo, Access: ReadOnly, When: "when the model's dump has it; the dump's value", SDM: "Vol. 4 Table 2-20 (MSR_PLATFORM_INFO)",
		exists: func(f *File, _ uint32) (bool, string) {
			if _, ok := f.p.Model.MSR(PlatformInfo); ok {
				return true, ""
			}
			return false, "MSR_PLATFORM_INFO is model-specific and the model's dump does not have it"
		},
		read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.modelMSR(PlatformInfo, 0) }},
	{First: MCGCap, Last: MCGCap, Access: ReadOnly, When: "when CPUID.1:EDX.MCA = 1", SDM: sdmMCA,
		exists: reports("mca", whyMCA), read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.mcgCap() }},
	{First: MCGStatus, Last: MCGStatus, When: "when CPUID.1:EDX.MCA = 1", SDM: sdmMCA,
		exists: reports("mca", whyMCA), read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.mcgStatus },
		write: func(f *File, _ uint32, v uint64, _ *arch.State) *arch.Fault {
			const defined = 0x7 // RIPV, EIPV, MCIP; LMCE_S only with MCG_CAP.MCG_LMCE_P (SDM Vol. 3B 17.3.1.2)
			if v&^defined != 0 {
				return gpf(fmt.Sprintf("reserved bit(s) %#x set in IA32_MCG_STATUS", v&^defined), "Vol. 3B 17.3.1.2")
			}
			f.mcgStatus = v
			return nil
		}},
	{First: MCGCtl, Last: MCGCtl, When: "when IA32_MCG_CAP.MCG_CTL_P (bit 8) = 1", SDM: "Vol. 3B 17.3.1.3",
		exists: func(f *File, _ uint32) (bool, string) {
			if f.p.Reports("mca") && f.mcgCap()&mcgCtlP != 0 {
				return true, ""
			}
			return false, "IA32_MCG_CTL exists only when IA32_MCG_CAP.MCG_CTL_P = 1"
		},
		read:  func(f *File, _ uint32, _ *arch.State) uint64 { return f.mcgCtl },
		write: func(f *File, _ uint32, v uint64, _ *arch.State) *arch.Fault { f.mcgCtl = v; return nil }},
	{First: MC0Ctl, Last: MC0Ctl + 4*32 - 1, When: "bank i < IA32_MCG_CAP.Count (bits 7:0), when CPUID.1:EDX.MCA = 1", SDM: "Vol. 3B 17.3.2",
		exists: func(f *File, idx uint32) (bool, string) {
			if !f.p.Reports("mca") {
				return false, whyMCA
			}
			if (idx-MC0Ctl)/4 >= uint32(f.mcgCap()&0xFF) {
				return false, fmt.Sprintf("machine-check bank %d does not exist: IA32_MCG_CAP.Count = %d", (idx-MC0Ctl)/4, f.mcgCap()&0xFF)
			}
			return true, ""
		},
		read: func(f *File, idx uint32, _ *arch.State) uint64 { return f.mcBank[idx-MC0Ctl] }, write: (*File).writeMCBank},
	{First: PerfEvtSel0, Last: PerfEvtSel0 + 7, When: "when CPUID.0AH reports general-purpose counters", SDM: "Vol. 3B 21.2", exists: pmu},
	{First: MiscEnable, Last: MiscEnable, When: "always", SDM: "Vol. 4 Table 2-2 (IA32_MISC_ENABLE)",
		exists: always, read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.miscEnable }, write: (*File).writeMiscEnable},
	{First: DebugCtl, Last: DebugCtl, Core: true, When: "always; LBR (bit 0) with the model's LBR stack and BTF (bit 1) are implemented, TR/BTS/BTINT/BTS_OFF_*, the freeze bits, uncore PMI and RTM debugging are not (#GP naming the gap)", SDM: "Vol. 3B 18.4.1"},
	{First: LBRSelect, Last: LBRTOS, Core: true, When: "models with a model-specific LBR stack: Sandy Bridge to Ice Lake-SP (cpu/debugctl.go)", SDM: "Vol. 3B 18.9.2; Vol. 4 Table 2-20"},
	{First: LERFromLIP, Last: LERToLIP, Core: true, When: "models with a model-specific LBR stack", SDM: "Vol. 4 Table 2-20"},
	{First: LastBranchFromIP0, Last: LastBranchFromIP0 + 31, Core: true, When: "models with a model-specific LBR stack: 16 entries up to Broadwell, 32 from Skylake", SDM: "Vol. 3B 18.9.1; Vol. 4 Table 2-20"},
	{First: LastBranchToIP0, Last: LastBranchToIP0 + 31, Core: true, When: "models with a model-specific LBR stack: 16 entries up to Broadwell, 32 from Skylake", SDM: "Vol. 3B 18.9.1; Vol. 4 Table 2-20"},
	{First: LBRInfo0, Last: LBRInfo0 + 31, Core: true, When: "Skylake and later model-specific LBR stacks (32 entries)", SDM: "Vol. 3B 18.11.1"},
	{First: MTRRPhysBase0, Last: MTRRPhysBase0 + 2*maxVarMTRRs - 1, When: "when CPUID.1:EDX.MTRR = 1 (VCNT = 8 pairs)", SDM: "Vol. 3A 13.11.2.3",
		exists: reports("mtrr", mtrrWhy), read: func(f *File, i uint32, _ *arch.State) uint64 { return f.mtrrVar[i-MTRRPhysBase0] },
		write: (*File).writeMTRRVar},
	{First: MTRRFix64K00000, Last: MTRRFix64K00000, When: "when CPUID.1:EDX.MTRR = 1", SDM: "Vol. 3A 13.11.2.2",
		exists: reports("mtrr", mtrrWhy), read: (*File).readMTRRFixed, write: (*File).writeMTRRFixed},
	{First: MTRRFix16K80000, Last: MTRRFix16KA0000, When: "when CPUID.1:EDX.MTRR = 1", SDM: "Vol. 3A 13.11.2.2",
		exists: reports("mtrr", mtrrWhy), read: (*File).readMTRRFixed, write: (*File).writeMTRRFixed},
	{First: MTRRFix4KC0000, Last: MTRRFix4KC0000 + 7, When: "when CPUID.1:EDX.MTRR = 1", SDM: "Vol. 3A 13.11.2.2",
		exists: reports("mtrr", mtrrWhy), read: (*File).readMTRRFixed, write: (*File).writeMTRRFixed},
	{First: PAT, Last: PAT, Core: true, When: "always (CPUID.1:EDX.PAT)", SDM: "Vol. 3A 13.12.2"},
	{First: MTRRDefType, Last: MTRRDefType, When: "when CPUID.1:EDX.MTRR = 1", SDM: "Vol. 3A 13.11.2.1",
		exists: reports("mtrr", mtrrWhy), read: func(f *File, _ uint32, _ *arch.State) uint64 { return f.mtrrDefType },
		write: func(f *File, _ uint32, v uint64, _ *arch.State) *arch.Fault {
			const valid = 0xFF | 1<<10 | 1<<11
			if v&^valid != 0 {
				return gpf(fmt.Sprintf("reserved bit(s) %#x set in IA32_MTRR_DEF_TYPE", v&^valid), "Vol. 3A 13.11.2.1")
			}
			if !validMemType(uint8(v)) {
				return gpf(fmt.Sprintf("IA32_MTRR_DEF_TYPE: memory type %d is reserved", v&0xFF), "Vol. 3A 13.11.2.1")
			}
			f.mtrrDefType = v
			return nil
		}},
	{First: FixedCtr0, Last: FixedCtr0 + 3, When: "when CPUID.0AH reports fixed-function counters", SDM: "Vol. 3B 21.2.2", exists: pmu},
	{First: PerfCapabilities, Last: PerfCapabilities, Access: ReadOnly, When: "when CPUID.1:ECX.PDCM = 1", SDM: "Vol. 3B 21.8",
		exists: reports("pdcm", "IA32_PERF_CAPABILITIES exists only when CPUID.1:ECX.PDCM = 1; "+whyNoPMU)},
	{First: FixedCtrCtrl, Last: PerfGlobalOvfCtl, When: "when CPUID.0AH reports PMU version 2 or later", SDM: "Vol. 3B 21.2.2", exists: pmu},
	{First: VMXBasic, Last: VMXProcbasedCtls3, Access: ReadOnly,
		When: "when CPUID.1:ECX.VMX = 1, each as the other capability MSRs enumerate it (with the controls vmxemu does not implement yet masked)",
		SDM:  "Vol. 3D Appendix A", exists: (*File).vmxExists,
		read: func(f *File, i uint32, _ *arch.State) uint64 { return f.p.vmxValue(i) }},
	{First: EFER, Last: FMask, Core: true, When: "always (CPUID.80000001H)", SDM: "Vol. 3A 2.2.1, 5.8.8"},
	{First: FSBase, Last: TSCAux, Core: true, When: "always (CPUID.80000001H.LM, RDTSCP)", SDM: "Vol. 3A 3.4.4.1, Vol. 2B RDTSCP"},
}

const mtrrWhy = "the MTRR MSRs exist only when CPUID.1:EDX.MTRR = 1"

// Machine-check architecture (SDM Vol. 3B 17.3). vmxemu signals no
// machine-check error ever, so the banks only hold what software writes.
const (
	sdmMCA = "Vol. 3B 17.3.1"
	whyMCA = "the machine-check MSRs exist only when CPUID.1:EDX.MCA = 1"
	// mcgCtlP is IA32_MCG_CAP.MCG_CTL_P: IA32_MCG_CTL exists.
	mcgCtlP = 1 << 8
	// mcgCapDefault is IA32_MCG_CAP where the model's dump has none (no
	// dump in ../shared/reference records it): 10 banks and MCG_CTL_P,
	// QEMU's default for its CPU models (like VCNT=8 for the MTRRs).
	mcgCapDefault = 10 | mcgCtlP
)

// mcgCap is the model's IA32_MCG_CAP: the dump's value, with the bank
// count capped at the 32 banks that fit below the VMX MSRs at 0x480.
func (f *File) mcgCap() uint64 {
	v := f.modelMSR(MCGCap, mcgCapDefault)
	if v&0xFF > 32 {
		v = v&^0xFF | 32
	}
	return v
}

// writeMCBank writes IA32_MCi_CTL/STATUS/ADDR/MISC: CTL takes all 0s or
// all 1s (SDM Vol. 3B 17.3.2.1 states it for P6 processors; KVM enforces
// it on every model), STATUS only 0 ("writing 1s ... causes a
// general-protection exception", 17.3.2.2), ADDR and MISC any value.
func (f *File) writeMCBank(idx uint32, v uint64, _ *arch.State) *arch.Fault {
	i := idx - MC0Ctl
	switch i % 4 {
	case 0:
		if v != 0 && v != ^uint64(0) {
			return gpf(fmt.Sprintf("IA32_MC%d_CTL: only all 0s or all 1s can be written, not %#x", i/4, v), "Vol. 3B 17.3.2.1")
		}
	case 1:
		if v != 0 {
			return gpf(fmt.Sprintf("IA32_MC%d_STATUS: only 0 can be written (to clear it), not %#x", i/4, v), "Vol. 3B 17.3.2.2")
		}
	}
	f.mcBank[i] = v
	return nil
}

func pmu(f *File, _ uint32) (bool, string) {
	if f.p.CPUID(0xA, 0).EAX&0xFF != 0 {
		return true, ""
	}
	return false, "the performance-monitoring MSRs exist only when CPUID.0AH reports a PMU; " + whyNoPMU
}

func commandMSR(name string) func(*File, uint32, uint64, *arch.State) *arch.Fault {
	return func(_ *File, _ uint32, v uint64, _ *arch.State) *arch.Fault {
		if v&^1 != 0 {
			return gpf(fmt.Sprintf("reserved bit(s) %#x set in %s", v&^1, name), sdmMSRs)
		}
		return nil
	}
}

// Registry returns the MSR file's table.
func Registry() []Spec { return append([]Spec(nil), registry...) }

func lookup(idx uint32) (Spec, bool) {
	for _, s := range registry {
		if idx >= s.First && idx <= s.Last {
			return s, true
		}
	}
	return Spec{}, false
}

// File is the MSR state of one logical processor, which also answers its
// CPUID (the APIC ID and IA32_MISC_ENABLE shape it).
type File struct {
	p    *Profile
	topo Topology
	cpu  int

	featureControl uint64
	miscEnable     uint64
	mtrrDefType    uint64
	mtrrFixed      [11]uint64
	mtrrVar        [2 * maxVarMTRRs]uint64
	specCtrl       uint64
	mcgStatus      uint64
	mcgCtl         uint64
	mcBank         [4 * 32]uint64 // IA32_MCi_CTL/STATUS/ADDR/MISC

	// cpuid memoises CPUID's answers (see CPUID).
	cpuid [cpuidMemoSize]cpuidMemo
}

// cpuidMemo is one remembered CPUID answer: the leaf after clamping, the
// subleaf (0 for leaves without subleaves) and whether IA32_MISC_ENABLE's
// limit-CPUID-maxval bit was set, which is all a file's answer depends on.
type cpuidMemo struct {
	leaf, sub               uint32
	limit, noMonitor, valid bool
	r                       Regs
}

const cpuidMemoSize = 64

// NewFile returns logical processor cpu's MSR file in its reset state,
// with IA32_FEATURE_CONTROL as firmware left it.
func (p *Profile) NewFile(t Topology, cpu int, featureControl uint64) *File {
	f := &File{p: p, topo: t, cpu: cpu}
	f.Reset(featureControl)
	return f
}

// Reset puts the MSRs back to their power-on values (SDM Vol. 3A Table
// 10-1: MTRRs disabled, SPEC_CTRL 0), with IA32_FEATURE_CONTROL as the
// firmware leaves it.
func (f *File) Reset(featureControl uint64) {
	*f = File{p: f.p, topo: f.topo, cpu: f.cpu, featureControl: featureControl}
	f.miscEnable = f.resetMiscEnable()
}

// Profile returns the profile the file belongs to.
func (f *File) Profile() *Profile { return f.p }

// APICID is the processor's initial APIC ID.
func (f *File) APICID() uint32 { return f.topo.APICID(f.cpu) }

func (f *File) modelMSR(idx uint32, def uint64) uint64 {
	if v, ok := f.p.Model.MSR(idx); ok {
		return v.Value
	}
	return def
}

// Read is RDMSR: the value, or #GP(0) with the reason.
func (f *File) Read(idx uint32, st *arch.State) (uint64, *arch.Fault) {
	s, fl := f.find(idx, "RDMSR")
	if fl != nil {
		return 0, fl
	}
	if s.Access == WriteOnly || s.read == nil {
		return 0, gpf(fmt.Sprintf("RDMSR of %s, which is write-only", Name(idx)), sdmRDMSR+"; "+s.SDM)
	}
	return s.read(f, idx, st), nil
}

// Write is WRMSR: nil, or #GP(0) with the reason.
func (f *File) Write(idx uint32, v uint64, st *arch.State) *arch.Fault {
	s, fl := f.find(idx, "WRMSR")
	if fl != nil {
		return fl
	}
	if s.Access == ReadOnly || s.write == nil {
		return gpf(fmt.Sprintf("WRMSR to %s, which is read-only", Name(idx)), sdmRDMSR+"; "+s.SDM)
	}
	return s.write(f, idx, v, st)
}

func (f *File) find(idx uint32, insn string) (Spec, *arch.Fault) {
	s, ok := lookup(idx)
	switch {
	case !ok:
		return s, gpf(fmt.Sprintf("%s: MSR %#x is not implemented by this CPU model (%s as vmxemu models it; the MSRs vmxemu implements are listed in docs/CPU-MODELS.md)", insn, idx, f.p.Model.Name), sdmRDMSR)
	case s.Core:
		return s, gpf(fmt.Sprintf("%s %s: held by the interpreter core, not the MSR file", insn, Name(idx)), sdmRDMSR)
	}
	if ok, why := s.exists(f, idx); !ok {
		return s, gpf(fmt.Sprintf("%s %#x (%s): %s", insn, idx, Name(idx), why), sdmRDMSR+"; "+s.SDM)
	}
	return s, nil
}

func (f *File) writeAPICBase(_ uint32, v uint64, st *arch.State) *arch.Fault {
	const bsp, x2apic = 1 << 8, 1 << 10
	reserved := uint64(0xFF|1<<9) | ^uint64(0)<<f.p.MaxPhysAddr()
	if !f.p.Reports("x2apic") {
		reserved |= x2apic
	}
	if v&reserved != 0 {
		return gpf(fmt.Sprintf("reserved bit(s) %#x set in IA32_APIC_BASE (bits 7:0, 9, above MAXPHYADDR, and x2APIC enable since the model does not report x2APIC)", v&reserved), "Vol. 3A 11.4.4")
	}
	if fl := CheckAPICModeTransition(st.APICBase, v); fl != nil {
		return fl
	}
	st.APICBase = v&^bsp | st.APICBase&bsp
	return nil
}

// IA32_MISC_ENABLE bits vmxemu models (SDM Vol. 4 Table 2-2).
const (
	meFastStrings   = 1 << 0
	meTCC           = 1 << 3
	mePerfMon       = 1 << 7
	meBTSUnavail    = 1 << 11
	mePEBSUnavail   = 1 << 12
	meEIST          = 1 << 16
	meMonitor       = 1 << 18
	meLimitCPUIDMax = 1 << 22
	meXTPRDisable   = 1 << 23
	meXDDisable     = 1 << 34
	// meWritable: the R/W bits of SDM Vol. 4 Table 2-2 that vmxemu takes.
	// Fast strings, TCC, EIST, xTPR disable and XD disable are stored
	// (they have no effect on an interpreter with no caches, no thermal
	// control, no chipset xTPR messages; NX stays as CPUID reports it);
	// limit CPUID maxval and the MONITOR FSM (18: CPUID.01H:ECX.MONITOR
	// reads 0 and MONITOR/MWAIT are #UD while it is 0) take effect in
	// CPUID.
	meWritable       = meFastStrings | meTCC | meEIST | meMonitor | meLimitCPUIDMax | meXTPRDisable | meXDDisable
	meMasterReadOnly = mePerfMon | meBTSUnavail | mePEBSUnavail
)

// resetMiscEnable is the model's IA32_MISC_ENABLE with the bits of
// features the profile does not report cleared, and BTS/PEBS unavailable.
func (f *File) resetMiscEnable() uint64 {
	v := f.modelMSR(MiscEnable, meFastStrings) & (meFastStrings | meTCC | mePerfMon | meEIST | meMonitor | meXTPRDisable)
	if f.p.CPUID(0xA, 0).EAX&0xFF == 0 {
		v &^= mePerfMon
	}
	if !f.p.Reports("est") {
		v &^= meEIST
	}
	if !f.p.Reports("monitor") {
		v &^= meMonitor
	}
	if !f.p.Reports("xtpr") {
		v &^= meXTPRDisable
	}
	return v | meBTSUnavail | mePEBSUnavail
}

func (f *File) writeMiscEnable(_ uint32, v uint64, _ *arch.State) *arch.Fault {
	changed := (v ^ f.miscEnable) &^ meWritable
	if changed != 0 {
		return gpf(fmt.Sprintf("IA32_MISC_ENABLE: bit(s) %#x cannot be changed on vmxemu (only fast strings (0), TCC (3), EIST (16), MONITOR FSM (18), limit CPUID maxval (22), xTPR disable (23) and XD disable (34) are writable; the others are read-only or control features vmxemu does not implement)", changed), "Vol. 4 Table 2-2 (IA32_MISC_ENABLE)")
	}
	f.miscEnable = v
	return nil
}

func validMemType(t uint8) bool { return t == 0 || t == 1 || t == 4 || t == 5 || t == 6 }

func fixedSlot(idx uint32) int {
	switch {
	case idx == MTRRFix64K00000:
		return 0
	case idx == MTRRFix16K80000 || idx == MTRRFix16KA0000:
		return int(idx-MTRRFix16K80000) + 1
	}
	return int(idx-MTRRFix4KC0000) + 3
}

func (f *File) readMTRRFixed(idx uint32, _ *arch.State) uint64 { return f.mtrrFixed[fixedSlot(idx)] }

func (f *File) writeMTRRFixed(idx uint32, v uint64, _ *arch.State) *arch.Fault {
	for i := range 8 {
		if t := uint8(v >> (8 * i)); !validMemType(t) {
			return gpf(fmt.Sprintf("%s: byte %d holds memory type %d, which is reserved", Name(idx), i, t), "Vol. 3A 13.11.2.2")
		}
	}
	f.mtrrFixed[fixedSlot(idx)] = v
	return nil
}

func (f *File) writeMTRRVar(idx uint32, v uint64, _ *arch.State) *arch.Fault {
	above := ^uint64(0) << f.p.MaxPhysAddr()
	if idx&1 == 0 { // PHYSBASE: type in 7:0, 11:8 reserved
		if v&(0xF00|above) != 0 {
			return gpf(fmt.Sprintf("reserved bit(s) %#x set in %s (bits 11:8 and above MAXPHYADDR)", v&(0xF00|above), Name(idx)), "Vol. 3A 13.11.2.3")
		}
		if !validMemType(uint8(v)) {
			return gpf(fmt.Sprintf("%s: memory type %d is reserved", Name(idx), v&0xFF), "Vol. 3A 13.11.2.3")
		}
	} else if v&(0x7FF|above) != 0 { // PHYSMASK: valid in 11, 10:0 reserved
		return gpf(fmt.Sprintf("reserved bit(s) %#x set in %s (bits 10:0 and above MAXPHYADDR)", v&(0x7FF|above), Name(idx)), "Vol. 3A 13.11.2.3")
	}
	f.mtrrVar[idx-MTRRPhysBase0] = v
	return nil
}

func (f *File) specCtrlBits() uint64 {
	var b uint64
	if f.p.Reports("spec-ctrl") {
		b |= 1 << 0
	}
	if f.p.Reports("stibp") {
		b |= 1 << 1
	}
	if f.p.Reports("ssbd") {
		b |= 1 << 2
	}
	return b
}

func (f *File) vmxExists(idx uint32) (bool, string) {
	p := f.p
	_, has := p.guestVMX[idx]
	switch {
	case !p.ModelHas("vmx"):
		return false, "the VMX capability MSRs exist only when CPUID.1:ECX.VMX = 1, and the model has no VMX"
	case !has:
		why := vmxWhyAbsent[idx]
		if _, onModel := p.vmx[idx]; onModel {
			why += "; the model has it, but vmxemu does not implement the controls it depends on yet, so the guest sees a processor without them (vmxemu vmxcap)"
		}
		return false, why
	}
	return true, ""
}

// vmxWhyAbsent says when each optional VMX capability MSR exists (SDM
// Vol. 3D Appendix A).
var vmxWhyAbsent = map[uint32]string{
	VMXProcbasedCtls2:    "IA32_VMX_PROCBASED_CTLS2 exists only if IA32_VMX_PROCBASED_CTLS allows \"activate secondary controls\" (bit 63)",
	VMXEPTVPIDCap:        "IA32_VMX_EPT_VPID_CAP exists only if the secondary controls allow EPT (bit 33) or VPID (bit 37)",
	VMXTruePinbasedCtls:  "the IA32_VMX_TRUE_* MSRs exist only if IA32_VMX_BASIC bit 55 is 1",
	VMXTrueProcbasedCtls: "the IA32_VMX_TRUE_* MSRs exist only if IA32_VMX_BASIC bit 55 is 1",
	VMXTrueExitCtls:      "the IA32_VMX_TRUE_* MSRs exist only if IA32_VMX_BASIC bit 55 is 1",
	VMXTrueEntryCtls:     "the IA32_VMX_TRUE_* MSRs exist only if IA32_VMX_BASIC bit 55 is 1",
	VMXVMFunc:            "IA32_VMX_VMFUNC exists only if the secondary controls allow \"enable VM functions\" (bit 45)",
	VMXProcbasedCtls3:    "IA32_VMX_PROCBASED_CTLS3 exists only if IA32_VMX_PROCBASED_CTLS allows \"activate tertiary controls\" (bit 49)",
}

// vmxValue is a VMX capability MSR as the guest reads it: the model's,
// with CR4_FIXED1 following the CPUID features the guest sees.
func (p *Profile) vmxValue(idx uint32) uint64 {
	v, _ := p.GuestVMX(idx)
	return v
}

// CPUID returns what CPUID(leaf, sub) returns on this processor.
//
// The answer depends only on the clamped leaf, the subleaf where the leaf
// has subleaves, and IA32_MISC_ENABLE bit 22: the profile and the topology
// never change. It is memoised per file, so that a guest executing CPUID
// in a loop (kvm-unit-tests' vmexit_cpuid) pays a compare rather than map
// lookups (docs/PERFORMANCE.md).
func (f *File) CPUID(leaf, sub uint32) Regs {
	p := f.p
	maxBasic := p.maxBasic
	limit := f.miscEnable&meLimitCPUIDMax != 0
	if limit {
		maxBasic = min(maxBasic, 2) // SDM Vol. 4 IA32_MISC_ENABLE bit 22
	}
	noMonitor := f.miscEnable&meMonitor == 0
	leaf = p.clampLeaf(leaf, maxBasic)
	if !HasSubleaves(leaf) {
		sub = 0
	}
	m := &f.cpuid[(leaf^leaf>>26^sub<<3)%cpuidMemoSize]
	if m.valid && m.leaf == leaf && m.sub == sub && m.limit == limit && m.noMonitor == noMonitor {
		return m.r
	}
	r := f.cpuidSlow(leaf, sub, maxBasic)
	if leaf == 1 && noMonitor {
		// IA32_MISC_ENABLE[18] = 0: MONITOR/MWAIT are not supported
		// (SDM Vol. 4 Table 2-2).
		r.ECX &^= 1 << 3
	}
	*m = cpuidMemo{leaf: leaf, sub: sub, limit: limit, noMonitor: noMonitor, valid: true, r: r}
	return r
}

// cpuidSlow is CPUID for a clamped leaf.
func (f *File) cpuidSlow(leaf, sub, maxBasic uint32) Regs {
	p := f.p
	r := p.effective[key(leaf, sub)]
	switch leaf {
	case 0:
		r.EAX = maxBasic
	case 1, 4, 0xB, 0x1F:
		if _, ok := p.effective[key(leaf, 0)]; ok || leaf == 1 {
			r = f.topo.topoCPUID(f.cpu, leaf, sub, r)
		}
	}
	return r
}

// VMXFixed returns the guest-visible CR0 and CR4 fixed-bit pairs, for the
// checks in fixed.go.
func (p *Profile) VMXFixed() (cr0, cr4 Fixed) {
	return Fixed{p.guestVMX[VMXCR0Fixed0], p.guestVMX[VMXCR0Fixed1]}, Fixed{p.guestVMX[VMXCR4Fixed0], p.vmxValue(VMXCR4Fixed1)}
}

// APIC modes as IA32_APIC_BASE's EN (bit 11) and EXTD (bit 10) select
// them (SDM Vol. 3A 11.12.5, Table 11-5).
const (
	apicEN   = 1 << 11
	apicEXTD = 1 << 10
)

// CheckAPICModeTransition is the rule for a WRMSR to IA32_APIC_BASE that
// changes the local APIC's mode (SDM Vol. 3A 11.12.5.1, Figure 11-27
// "Local x2APIC State Transitions"): EN=0 with EXTD=1 is invalid, x2APIC
// mode can be left only to the disabled state (not directly to xAPIC),
// and x2APIC mode can be entered only from xAPIC mode (not from the
// disabled state). Each is #GP(0).
func CheckAPICModeTransition(old, v uint64) *arch.Fault {
	from, to := old&(apicEN|apicEXTD), v&(apicEN|apicEXTD)
	const sdm = "Vol. 3A 11.12.5.1"
	switch {
	case to == apicEXTD:
		return gpf("IA32_APIC_BASE: EXTD=1 with EN=0 is the invalid APIC state", sdm)
	case from == apicEN|apicEXTD && to == apicEN:
		return gpf("IA32_APIC_BASE: x2APIC mode to xAPIC mode is an illegal transition (disable the APIC first, EN=EXTD=0)", sdm)
	case from == 0 && to == apicEN|apicEXTD:
		return gpf("IA32_APIC_BASE: the disabled state to x2APIC mode is an illegal transition (enable xAPIC mode first)", sdm)
	}
	return nil
}

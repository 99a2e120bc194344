package msr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

type msrOp struct {
	write bool
	idx   uint32
	v     uint64 // written, or expected read
	fault string // substring of the #GP rule, "" for none
}

func runOps(t *testing.T, f *File, ops []msrOp) {
	t.Helper()
	st := &arch.State{APICBase: 0xFEE00900}
	for i, op := range ops {
		var fl *arch.Fault
		if op.write {
			fl = f.Write(op.idx, op.v, st)
		} else {
			var got uint64
			got, fl = f.Read(op.idx, st)
			if fl == nil && op.fault == "" {
				assert.Equal(t, op.v, got, "op %d: RDMSR %s", i, Name(op.idx))
			}
		}
		if op.fault == "" {
			assert.Nil(t, fl, "op %d: %s %s", i, map[bool]string{true: "WRMSR", false: "RDMSR"}[op.write], Name(op.idx))
			continue
		}
		if assert.NotNil(t, fl, "op %d: %s must #GP", i, Name(op.idx)) {
			assert.Equal(t, uint8(arch.VecGP), fl.Vector)
			assert.True(t, fl.HasError)
			assert.Zero(t, fl.Code)
			assert.Contains(t, fl.Rule, op.fault, "op %d", i)
			assert.NotEmpty(t, fl.SDM, "op %d: every #GP names its SDM section", i)
		}
	}
}

func rd(idx uint32, v uint64) msrOp             { return msrOp{idx: idx, v: v} }
func rdGP(idx uint32, why string) msrOp         { return msrOp{idx: idx, fault: why} }
func wr(idx uint32, v uint64) msrOp             { return msrOp{write: true, idx: idx, v: v} }
func wrGP(idx uint32, v uint64, w string) msrOp { return msrOp{write: true, idx: idx, v: v, fault: w} }

func TestMSRFile(t *testing.T) {
	for _, tc := range []struct {
		name    string
		model   string
		toggles []string
		fc      uint64
		ops     []msrOp
	}{
		{"feature control locked (firmware 0x5)", "sandybridge-ep", nil, 5, []msrOp{
			rd(FeatureControl, 5), wrGP(FeatureControl, 5, "lock bit"), wrGP(FeatureControl, 0, "lock bit"), rd(FeatureControl, 5)}},
		{"feature control disabled (0x1)", "sandybridge-ep", nil, 1, []msrOp{
			rd(FeatureControl, 1), wrGP(FeatureControl, 5, "while its lock bit")}},
		{"feature control unlocked: the OS enables and locks", "sandybridge-ep", nil, 0, []msrOp{
			rd(FeatureControl, 0), wr(FeatureControl, 4), rd(FeatureControl, 4), wr(FeatureControl, 5),
			wrGP(FeatureControl, 4, "lock bit")}},
		{"feature control reserved bits", "ivybridge", nil, 0, []msrOp{
			wrGP(FeatureControl, 3, "reserved"), wrGP(FeatureControl, 1<<20, "reserved"), wr(FeatureControl, 5)}},
		{"feature control SMX bits on an SMX part", "sandybridge-ep", nil, 0, []msrOp{wr(FeatureControl, 0xFF07)}},
		{"no VMX, no SMX: no FEATURE_CONTROL", "ivybridge", []string{"-vmx"}, 0, []msrOp{
			rdGP(FeatureControl, "neither")}},
		{"no VMX: no VMX MSRs", "sandybridge-ep", []string{"-vmx"}, 5, []msrOp{
			rdGP(VMXBasic, "CPUID.1:ECX.VMX = 1"), rdGP(VMXEPTVPIDCap, "CPUID.1:ECX.VMX = 1")}},
		// The Sandy Bridge EP dump: IA32_VMX_BASIC 0x00DA040000000010, which
		// the guest reads without bit 49 (dual-monitor treatment, not
		// modelled: honestVMX),
		// PINBASED_CTLS 0x0000007F00000016 (allowed-0 0x16: bits 1, 2, 4).
		{"VMX MSRs, read-only, existing as the controls the guest sees say", "sandybridge-ep", nil, 5, []msrOp{
			rd(VMXBasic, 0x00DA040000000010&^(1<<49)), rd(VMXCR0Fixed0, 0x80000021), rd(VMXCR4Fixed0, 0x2000),
			rd(VMXCR4Fixed1, 0x627FF), // the CR4 bits of what the guest sees: VMXE, PCIDE and OSXSAVE but no SMXE
			// allowed-1: the default settings (1, 2, 4) and the honoured
			// external-interrupt exiting, NMI exiting, virtual NMIs and
			// preemption timer (0, 3, 5, 6) — all of the dump's.
			rd(VMXPinbasedCtls, 0x0000007F00000016),
			wrGP(VMXBasic, 0, "read-only"), rdGP(VMXVMFunc, "exist"), rdGP(VMXProcbasedCtls3, "exist"),
			// PROCBASED_CTLS2 0x000004FF00000000 with the secondary controls
			// vmxemu honours: virtualize APIC accesses (0), virtualize x2APIC mode (4), enable EPT (1), descriptor-table exiting
			// (2), enable RDTSCP (3), enable VPID (5), WBINVD exiting (6),
			// unrestricted guest (7), PAUSE-loop exiting (10) (SDM Vol. 3C
			// Table 25-7);
			// EPT_VPID_CAP 0x00000F0106134141, all of whose bits vmxemu
			// honours (SDM Vol. 3D A.10).
			rd(VMXProcbasedCtls2, 0x000004FF00000000), rd(VMXEPTVPIDCap, 0x00000F0106134141)}},
		// IA32_VMX_VMFUNC (SDM Vol. 3D A.11): EPTP switching (bit 0), the
		// only VM function; gone with "enable VM functions".
		{"VMFUNC: EPTP switching", "haswell-ep", nil, 5, []msrOp{rd(VMXVMFunc, 1)}},
		{"VMFUNC removed with -vmfunc", "haswell-ep", []string{"-vmfunc"}, 5, []msrOp{rdGP(VMXVMFunc, "exist")}},
		{"APIC base", "sandybridge-ep", nil, 5, []msrOp{
			rd(APICBase, 0xFEE00900), wrGP(APICBase, 1<<46, "MAXPHYADDR"),
			wr(APICBase, 0xFED00800), rd(APICBase, 0xFED00900)}},
		// SDM Vol. 3A 11.12.5.1, Figure 11-27: the x2APIC state transitions.
		{"APIC mode transitions", "sandybridge-ep", nil, 5, []msrOp{
			wrGP(APICBase, 0xFEE00400, "invalid APIC state"),
			wr(APICBase, 0xFEE00C00), rd(APICBase, 0xFEE00D00), // xAPIC -> x2APIC
			wrGP(APICBase, 0xFEE00800, "x2APIC mode to xAPIC mode"),
			wrGP(APICBase, 0xFEE00400, "invalid APIC state"),
			wr(APICBase, 0xFEE00000), rd(APICBase, 0xFEE00100), // x2APIC -> disabled
			wrGP(APICBase, 0xFEE00C00, "disabled state to x2APIC"),
			wr(APICBase, 0xFEE00800), wr(APICBase, 0xFEE00C00), // disabled -> xAPIC -> x2APIC
			wr(APICBase, 0xFEE00000), wr(APICBase, 0xFEE00800)}}, // x2APIC -> disabled -> xAPIC
		{"APIC base without x2APIC", "sandybridge-ep", []string{"-x2apic"}, 5, []msrOp{
			wrGP(APICBase, 0xFEE00D00, "x2APIC enable since the model does not report x2APIC")}},
		{"MTRRs", "sandybridge-ep", nil, 5, []msrOp{
			rd(MTRRCap, 0x508), wrGP(MTRRCap, 0, "read-only"),
			wr(MTRRDefType, 0xC06), rd(MTRRDefType, 0xC06), wrGP(MTRRDefType, 2, "reserved"), wrGP(MTRRDefType, 1<<12, "reserved"),
			wr(MTRRFix64K00000, 0x0606060606060606), rd(MTRRFix64K00000, 0x0606060606060606),
			wrGP(MTRRFix4KC0000+7, 0x0700000000000000, "byte 7"),
			wr(MTRRPhysBase0+1, 0xFFF0000800), rd(MTRRPhysBase0+1, 0xFFF0000800), wrGP(MTRRPhysBase0+1, 1, "reserved"),
			wrGP(MTRRPhysBase0, 0x100, "reserved"), wrGP(MTRRPhysBase0+2*maxVarMTRRs, 0, "not implemented")}},
		{"misc enable", "sandybridge-ep", nil, 5, []msrOp{
			// SDM Vol. 4 Table 2-2: bits 0, 3, 16, 18, 22, 23, 34 are
			// R/W; 7, 11, 12 read-only; 1 reserved. The dump's bit 18
			// (MONITOR FSM) is kept: MONITOR/MWAIT are implemented.
			rd(MiscEnable, 0x1809|1<<18), wr(MiscEnable, 0x1808),
			wr(MiscEnable, 0x1809|1<<16|1<<18|1<<22|1<<23|1<<34), rd(MiscEnable, 0x1809|1<<16|1<<18|1<<22|1<<23|1<<34),
			wrGP(MiscEnable, 0x1009, "cannot be changed"), wrGP(MiscEnable, 0x1809|1<<1, "cannot be changed")}},
		{"machine-check banks", "sandybridge-ep", nil, 5, []msrOp{
			// No dump records IA32_MCG_CAP: 10 banks with MCG_CTL_P, QEMU's default.
			rd(MCGCap, 10|1<<8), wrGP(MCGCap, 0, "read-only"),
			wr(MCGStatus, 0), wr(MCGStatus, 5), rd(MCGStatus, 5), wrGP(MCGStatus, 1<<4, "reserved"),
			wr(MCGCtl, ^uint64(0)), rd(MCGCtl, ^uint64(0)),
			wr(MC0Ctl, ^uint64(0)), rd(MC0Ctl, ^uint64(0)), wr(MC0Ctl, 0), wrGP(MC0Ctl, 0xaaaaaaaaaaaaaaaa, "all 0s or all 1s"),
			wr(MC0Ctl+1, 0), wrGP(MC0Ctl+1, 1, "only 0"),
			wr(MC0Ctl+4*9+2, 0xaaaaaaaaaaaaaaaa), rd(MC0Ctl+4*9+2, 0xaaaaaaaaaaaaaaaa), wr(MC0Ctl+3, ^uint64(0)),
			rdGP(MC0Ctl+4*10, "bank 10 does not exist"), wrGP(MC0Ctl+4*31+3, 0, "bank 31 does not exist")}},
		{"platform info from the dump", "sandybridge-ep", nil, 5, []msrOp{
			rd(PlatformInfo, 0x00000C006C011A00), wrGP(PlatformInfo, 0, "read-only")}},
		{"debugctl and the LBR stack are the core's", "sandybridge-ep", nil, 5, []msrOp{
			rdGP(DebugCtl, "interpreter core"), wrGP(DebugCtl, 1, "interpreter core"),
			rdGP(LBRTOS, "interpreter core"), rdGP(LastBranchFromIP0+31, "interpreter core"), rdGP(LBRInfo0, "interpreter core")}},
		{"speculation control on Skylake-SP", "skylake-sp", nil, 5, []msrOp{
			rd(SpecCtrl, 0), wr(SpecCtrl, 7), rd(SpecCtrl, 7), wrGP(SpecCtrl, 8, "reserved"),
			wr(PredCmd, 1), rdGP(PredCmd, "write-only"), wrGP(PredCmd, 2, "reserved"), wr(FlushCmd, 1),
			rdGP(ArchCapabilities, "does not report")}},
		{"no speculation control on Sandy Bridge", "sandybridge-ep", nil, 5, []msrOp{
			rdGP(SpecCtrl, "IBRS"), wrGP(PredCmd, 1, "IBPB")}},
		{"PMU hidden", "sandybridge-ep", nil, 5, []msrOp{
			rdGP(PMC0, "performance-monitoring"), rdGP(PerfGlobalCtrl, "performance-monitoring"),
			rdGP(PerfCapabilities, "PDCM")}},
		{"MCA masked", "sandybridge-ep", []string{"-mca"}, 5, []msrOp{rdGP(MCGCap, "MCA"), rdGP(MC0Ctl, "MCA")}},
		{"platform id, microcode revision", "skylake-sp", nil, 5, []msrOp{
			rd(PlatformID, 0x001C000000000000), wrGP(PlatformID, 0, "read-only"), wr(BIOSSignID, 0), rd(BIOSSignID, 0x02006A0800000000)}},
		{"unknown and core-held MSRs", "sandybridge-ep", nil, 5, []msrOp{
			rdGP(0x12345, "MSR 0x12345 is not implemented"), rdGP(EFER, "core"), wrGP(0xC0000999, 0, "not implemented")}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := resolve(t, tc.model, tc.toggles...)
			runOps(t, p.NewFile(Flat(1), 0, tc.fc), tc.ops)
		})
	}
}

func TestMiscEnableLimitsCPUID(t *testing.T) {
	p := resolve(t, "skylake-sp")
	f := p.NewFile(Flat(1), 0, 5)
	assert.Equal(t, uint32(0x16), f.CPUID(0, 0).EAX)
	st := &arch.State{}
	v, _ := f.Read(MiscEnable, st)
	require.Nil(t, f.Write(MiscEnable, v|meLimitCPUIDMax, st))
	assert.Equal(t, uint32(2), f.CPUID(0, 0).EAX, "IA32_MISC_ENABLE bit 22 limits CPUID to leaf 2")
	assert.Equal(t, f.CPUID(2, 0), f.CPUID(7, 0), "leaves above the limit return the highest one's data")
	f.Reset(5)
	assert.Equal(t, uint32(0x16), f.CPUID(0, 0).EAX, "reset clears it")
}

// TestMiscEnableMonitor: IA32_MISC_ENABLE[18] = 0 makes CPUID.01H:ECX.MONITOR
// (bit 3) read 0 (SDM Vol. 4 Table 2-2, "ENABLE MONITOR FSM"); setting it
// again, or a reset, brings the bit back.
func TestMiscEnableMonitor(t *testing.T) {
	p := resolve(t, "skylake-sp")
	f := p.NewFile(Flat(1), 0, 5)
	st := &arch.State{}
	v, _ := f.Read(MiscEnable, st)
	require.NotZero(t, v&meMonitor, "reset value: MONITOR FSM enabled")
	assert.Equal(t, uint32(1), f.CPUID(1, 0).ECX>>3&1, "CPUID.01H:ECX.MONITOR")
	require.Nil(t, f.Write(MiscEnable, v&^meMonitor, st))
	assert.Zero(t, f.CPUID(1, 0).ECX>>3&1, "bit 18 clear: MONITOR not reported")
	require.Nil(t, f.Write(MiscEnable, v, st))
	assert.Equal(t, uint32(1), f.CPUID(1, 0).ECX>>3&1, "bit 18 set again")
}

func TestFeatureControlPolicies(t *testing.T) {
	p := resolve(t, "sandybridge-ep")
	assert.Equal(t, uint64(5), FeatureControlValue(p, FCPolicyLocked))
	assert.Equal(t, uint64(1), FeatureControlValue(p, FCPolicyDisabled))
	assert.Equal(t, uint64(0), FeatureControlValue(p, FCPolicyUnlocked))
	require.NoError(t, ValidateFeatureControl(p, 0x7))
	err := ValidateFeatureControl(resolve(t, "ivybridge"), 0x7)
	require.Error(t, err)
	assert.Contains(t, err.Error(), "reserved")

	for _, tc := range []struct {
		fc    uint64
		smx   bool
		fault string
	}{
		{0x5, false, ""},
		{0x0, false, "unlocked"},
		{0x4, false, "unlocked"},
		{0x1, false, "bit 2 clear"},
		{0x3, false, "bit 2 clear"},
		{0x5, true, "bit 1 clear"},
		{0x3, true, ""},
	} {
		f := CheckVMXON(tc.fc, tc.smx)
		if tc.fault == "" {
			assert.Nil(t, f, "%#x", tc.fc)
			continue
		}
		require.NotNil(t, f, "%#x smx=%v", tc.fc, tc.smx)
		assert.Equal(t, uint8(arch.VecGP), f.Vector)
		assert.Contains(t, f.Rule, tc.fault)
		assert.Contains(t, f.SDM, "24.7")
	}
}

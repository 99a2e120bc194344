package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// Sandy Bridge EP's capability MSRs as the guest reads them (the dump's,
// with unimplemented controls masked: docs/VMX.md): TRUE_PINBASED 0x16
// must-be-1, TRUE_PROCBASED 0x04006172, TRUE_EXIT 0x00036DFB,
// TRUE_ENTRY 0x000011FB (bits 2 "load/save debug controls" may be 0 in
// the TRUE MSRs but are default-1 in the legacy ones).
const (
	snbPin   = 0x16
	snbProc  = 0x04006172
	snbExit  = 0x00036DFB
	snbEntry = 0x000011FB
)

// entryVMCS returns a processor in VMX root operation with a current,
// clear VMCS whose controls are the default settings and whose host state
// is that of a 32-bit protected-mode host with paging (IA32_EFER.LMA = 0):
// a VMCS that passes every check of SDM Vol. 3C 27.2.
func entryVMCS(t *testing.T) (*CPU, ram) {
	t.Helper()
	return entryVMCSWith(t, sandyCaps(t))
}

// entryVMCSWith is entryVMCS on a processor with the given capabilities.
func entryVMCSWith(t testing.TB, caps *Caps) (*CPU, ram) {
	t.Helper()
	mem := make(ram, 64<<10)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(mem[a:], caps.Revision)
	}
	v := New(caps, nil, 0)
	require.Equal(t, Succeed, v.VMXON(0x1000, mem).Kind)
	require.Equal(t, Succeed, v.VMPTRLD(0x2000, mem).Kind)
	for enc, val := range map[uint32]uint64{
		encPinCtls: snbPin, encProcCtls: snbProc, encExitCtls: snbExit, encEntryCtls: snbEntry,
		encHostCR0: 0x80000031, encHostCR4: arch.CR4VMXE, encHostCR3: 0x3000,
		encHostSelCS: 0x08, encHostSelSS: 0x10, encHostSelTR: 0x18, encHostSelES: 0x10,
		encHostRIP: 0x401000,
		// The guest: 32-bit protected mode with paging, flat segments
		// (SDM Vol. 3C 27.3.1).
		encGuestCR0: 0x80000031, encGuestCR4: arch.CR4VMXE, encGuestCR3: 0x4000,
		encGuestSelES + 2: 0x08, encGuestARES + 2: 0xC09B, encGuestLimitES + 2: 0xFFFFFFFF,
		encGuestSelES: 0x10, encGuestARES: 0xC093, encGuestLimitES: 0xFFFFFFFF,
		encGuestSelES + 4: 0x10, encGuestARES + 4: 0xC093, encGuestLimitES + 4: 0xFFFFFFFF,
		encGuestSelES + 6: 0x10, encGuestARES + 6: 0xC093, encGuestLimitES + 6: 0xFFFFFFFF,
		encGuestSelES + 8: 0x10, encGuestARES + 8: 0xC093, encGuestLimitES + 8: 0xFFFFFFFF,
		encGuestSelES + 10: 0x10, encGuestARES + 10: 0xC093, encGuestLimitES + 10: 0xFFFFFFFF,
		encGuestARES + 12:  arch.ARUnusable,
		encGuestSelES + 14: 0x18, encGuestARES + 14: 0x8B, encGuestLimitES + 14: 0x67,
		encGuestRFLAGS: 2, encGuestRIP: 0x100000, encGuestLinkPtr: invalidPtr,
	} {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
	}
	return v, mem
}

var host32 = EntryCtx{Ctx: Ctx{CR0: 0x80000031, CR4: arch.CR4VMXE}}

func instrError(t *testing.T, v *CPU) uint64 {
	t.Helper()
	e, o := v.VMREAD(encVMInstructionError, true)
	require.Equal(t, Succeed, o.Kind)
	return e
}

// TestEnterBasic: the basic VM-entry checks of VMLAUNCH/VMRESUME (SDM Vol.
// 3C 31.3 "Operation"), in order.
func TestEnterBasic(t *testing.T) {
	v := New(sandyCaps(t), nil, 0)
	mem := make(ram, 64<<10)
	binary.LittleEndian.PutUint32(mem[0x1000:], v.caps.Revision)
	require.Equal(t, Succeed, v.VMXON(0x1000, mem).Kind)
	o, done := v.Enter(true, &host32, mem)
	require.True(t, done)
	assert.Equal(t, FailInvalid, o.Kind, "no current VMCS: VMfailInvalid")

	v, mem = entryVMCS(t)
	c := host32
	c.MovSSBlocking = true
	o, done = v.Enter(true, &c, mem)
	require.True(t, done)
	assert.Equal(t, FailValid, o.Kind)
	assert.Equal(t, ErrEntryMovSSBlocking, o.Err, "events blocked by MOV SS: error 26")
	assert.Equal(t, uint64(26), instrError(t, v))

	o, done = v.Enter(false, &host32, mem)
	require.True(t, done)
	assert.Equal(t, ErrVMRESUMENonLaunched, o.Err, "VMRESUME of a clear VMCS: error 5")
	v.active[v.current].launched = true
	o, done = v.Enter(true, &host32, mem)
	require.True(t, done)
	assert.Equal(t, ErrVMLAUNCHNonClear, o.Err, "VMLAUNCH of a launched VMCS: error 4")
	_, done = v.Enter(false, &host32, mem)
	assert.False(t, done, "VMRESUME of a launched, valid VMCS passes the checks")
}

// TestEnterChecks: one field broken per row on a valid VMCS; each gives
// the error number of SDM Vol. 3C 27.2 (7 for controls, 8 for host state)
// and names the field.
func TestEnterChecks(t *testing.T) {
	v, mem := entryVMCS(t)
	_, done := v.Enter(true, &host32, mem)
	require.False(t, done, "the baseline VMCS passes every check")

	long := EntryCtx{Ctx: Ctx{CR0: 0x80000031, CR4: arch.CR4VMXE | arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA, CSL: true}}
	for _, tc := range []struct {
		name  string
		enc   uint32
		val   uint64
		ctx   *EntryCtx
		err   InstrError
		field string
		pre   map[uint32]uint64 // written first
	}{
		// 27.2.1.1: a default-1 bit clear, a bit the MSR does not allow.
		{"pin-based bit 1 must be 1", encPinCtls, snbPin &^ 2, nil, ErrEntryInvalidControl, "Pin-based", nil},
		{"primary bit 17 not allowed (activate tertiary controls: not on Sandy Bridge)", encProcCtls, snbProc | 1<<17, nil, ErrEntryInvalidControl, "primary processor-based VM-execution control bit 17 must be 0", nil},
		// 27.2.1.1: "virtual NMIs" needs "NMI exiting"; "NMI-window
		// exiting" needs "virtual NMIs".
		{"virtual NMIs without NMI exiting", encPinCtls, snbPin | 1<<5, nil, ErrEntryInvalidControl, "\"virtual NMIs\" (bit 5) must be 0", nil},
		{"NMI-window exiting without virtual NMIs", encProcCtls, snbProc | 1<<22, nil, ErrEntryInvalidControl, "\"NMI-window exiting\" (bit 22) must be 0",
			map[uint32]uint64{encPinCtls: snbPin | 1<<3}},
		{"CR3-target count above 4", encCR3TargetCnt, 5, nil, ErrEntryInvalidControl, "CR3-target count", nil},
		// "load IA32_PERF_GLOBAL_CTRL" (VM-exit control 12): the Sandy
		// Bridge EP dump allows it, vmxemu masks it.
		{"load IA32_PERF_GLOBAL_CTRL on exit not allowed (masked)", encExitCtls, snbExit | 1<<12, nil, ErrEntryInvalidControl, "masks it", nil},
		// 27.2.1.1: "virtualize x2APIC mode" needs "use TPR shadow" and
		// excludes "virtualize APIC accesses".
		{"virtualize x2APIC mode without the TPR shadow", encProcCtls2, Proc2VirtualizeX2APICMode, nil, ErrEntryInvalidControl, "without \"use TPR shadow\"", map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary}},
		{"virtualize x2APIC mode with virtualize APIC accesses", encProcCtls2, Proc2VirtualizeX2APICMode | Proc2VirtualizeAPICAccesses, nil, ErrEntryInvalidControl, "must not both be 1",
			map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary | ProcUseTPRShadow, encVirtualAPICAddr: 0x5000, encAPICAccessAddr: 0x6000}},
		// 27.2.1.1: with "virtualize APIC accesses", the APIC-access
		// address is 4-KiB aligned and within the physical-address width.
		{"APIC-access address unaligned", encAPICAccessAddr, 0x6010, nil, ErrEntryInvalidControl, "APIC-access address must be 4-KiB aligned", map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary, encProcCtls2: Proc2VirtualizeAPICAccesses}},
		{"APIC-access address beyond MAXPHYADDR", encAPICAccessAddr, 1 << 46, nil, ErrEntryInvalidControl, "within 46 bits", map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary, encProcCtls2: Proc2VirtualizeAPICAccesses}},
		// 27.2.1.1: "unrestricted guest" needs "enable EPT".
		{"unrestricted guest without EPT", encProcCtls2, proc2UnrestrictedGuest, nil, ErrEntryInvalidControl, "requires \"enable EPT\"", map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary}},
		{"I/O bitmap A unaligned", encIOBitmapA, 0x5001, nil, ErrEntryInvalidControl, "4-KiB aligned", map[uint32]uint64{encProcCtls: snbProc | procUseIOBitmaps, encIOBitmapB: 0x6000}},
		{"I/O bitmap B beyond MAXPHYADDR", encIOBitmapB, 1 << 46, nil, ErrEntryInvalidControl, "within 46 bits", map[uint32]uint64{encProcCtls: snbProc | procUseIOBitmaps, encIOBitmapA: 0x5000}},
		{"MSR bitmaps unaligned", encMSRBitmap, 0x5800, nil, ErrEntryInvalidControl, "4-KiB aligned", map[uint32]uint64{encProcCtls: snbProc | procUseMSRBitmaps}},
		// 27.2.1.1: the TPR shadow's virtual-APIC address and TPR
		// threshold ("virtual-interrupt delivery" and "virtualize APIC
		// accesses" are 0); the page at 5000H holds VTPR 0 (class 0).
		{"virtual-APIC address unaligned", encVirtualAPICAddr, 0x5080, nil, ErrEntryInvalidControl, "virtual-APIC address must be 4-KiB aligned", map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow}},
		{"virtual-APIC address beyond MAXPHYADDR", encVirtualAPICAddr, 1 << 46, nil, ErrEntryInvalidControl, "within 46 bits", map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow}},
		{"TPR threshold bit 4", encTPRThreshold, 0x10, nil, ErrEntryInvalidControl, "bits 31:4 of the TPR threshold", map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow, encVirtualAPICAddr: 0x5000}},
		{"TPR threshold above VTPR[7:4]", encTPRThreshold, 1, nil, ErrEntryInvalidControl, "must not exceed VTPR[7:4] (0", map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow, encVirtualAPICAddr: 0x5000}},
		// 27.2.1.2 / 27.2.1.3.
		{"exit control bit 0 must be 1", encExitCtls, snbExit &^ 1, nil, ErrEntryInvalidControl, "VM-exit control bit 0", nil},
		{"MSR-load area unaligned", encEntryMSRLdCnt, 1, nil, ErrEntryInvalidControl, "16-byte aligned", map[uint32]uint64{encEntryMSRLdAdr: 0x1008}},
		{"MSR-store area beyond MAXPHYADDR", encExitMSRStCnt, 2, nil, ErrEntryInvalidControl, "physical-address width", map[uint32]uint64{encExitMSRStAddr: 1<<46 - 16}},
		{"injection type 1 reserved", encEntryIntrInfo, 1<<31 | 1<<8, nil, ErrEntryInvalidControl, "type 1", nil},
		{"injected NMI with vector 3", encEntryIntrInfo, 1<<31 | 2<<8 | 3, nil, ErrEntryInvalidControl, "vector 2", nil},
		{"injection bits 30:12", encEntryIntrInfo, 1<<31 | 1<<20 | 3<<8 | 14, nil, ErrEntryInvalidControl, "30:12", nil},
		// The deliver-error-code rule (27.2.1.3) with IA32_VMX_BASIC[56] = 0
		// (Sandy Bridge EP) and "unrestricted guest" 0.
		{"error code delivered for #DE", encEntryIntrInfo, 1<<31 | 1<<11 | 3<<8 | arch.VecDE, nil, ErrEntryInvalidControl, "no error code", nil},
		{"error code delivered for an NMI", encEntryIntrInfo, 1<<31 | 1<<11 | 2<<8 | 2, nil, ErrEntryInvalidControl, "not a hardware exception", nil},
		{"#GP without its error code", encEntryIntrInfo, 1<<31 | 3<<8 | 13, nil, ErrEntryInvalidControl, "must be 1 for vector 13", nil},
		{"#GP without its error code, guest CR0.PE = 0", encEntryIntrInfo, 1<<31 | 3<<8 | 13, nil, ErrEntryInvalidControl, "must be 1 for vector 13", map[uint32]uint64{encGuestCR0: 0x30}},
		// 27.2.2: host control registers.
		{"host CR0.NE clear", encHostCR0, 0x80000011, nil, ErrEntryInvalidHostState, "CR0.NE", nil},
		{"host CR4.VMXE clear", encHostCR4, 0, nil, ErrEntryInvalidHostState, "CR4.VMXE", nil},
		{"host CR3 beyond MAXPHYADDR", encHostCR3, 1 << 50, nil, ErrEntryInvalidHostState, "MAXPHYADDR", nil},
		{"host SYSENTER_EIP not canonical", encHostSysEIP, 1 << 48, nil, ErrEntryInvalidHostState, "canonical", nil},
		// 27.2.3: selectors and bases.
		{"host ES with RPL 3", encHostSelES, 0x13, nil, ErrEntryInvalidHostState, "RPL", nil},
		{"host CS null", encHostSelCS, 0, nil, ErrEntryInvalidHostState, "CS selector", nil},
		{"host TR null", encHostSelTR, 0, nil, ErrEntryInvalidHostState, "TR selector", nil},
		{"host SS null in a 32-bit host", encHostSelSS, 0, nil, ErrEntryInvalidHostState, "SS selector", nil},
		{"host GDTR base not canonical", encHostGDTRBase, 0x0000_8000_0000_0000, nil, ErrEntryInvalidHostState, "canonical", nil},
		// 27.2.4: address-space size.
		{"32-bit host with RIP above 4 GiB", encHostRIP, 1 << 32, nil, ErrEntryInvalidHostState, "63:32", nil},
		{"32-bit host with CR4.PCIDE", encHostCR4, arch.CR4VMXE | arch.CR4PCIDE, nil, ErrEntryInvalidHostState, "PCIDE", nil},
		// A 64-bit host needs "host address-space size" = 1 (27.2.4), and
		// with it host CR4.PAE = 1.
		{"64-bit host with host address-space size 0", 0, 0, &long, ErrEntryInvalidHostState, "must be 1 in IA-32e mode", nil},
		{"host address-space size with host CR4.PAE clear", encExitCtls, snbExit | exitHostAddrSpace, &long, ErrEntryInvalidHostState, "CR4.PAE must be 1", nil},
		// 27.2.1.2: "save VMX-preemption timer value" needs the timer.
		{"save preemption timer value without the timer", encExitCtls, snbExit | 1<<22, nil, ErrEntryInvalidControl, "\"save VMX-preemption timer value\" (bit 22) must be 0", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := entryVMCS(t)
			for enc, val := range tc.pre {
				require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind)
			}
			if tc.enc != 0 {
				require.Equal(t, Succeed, v.VMWRITE(uint64(tc.enc), tc.val, true).Kind)
			}
			c := &host32
			if tc.ctx != nil {
				c = tc.ctx
			}
			o, done := v.Enter(true, c, mem)
			require.True(t, done)
			require.Equal(t, FailValid, o.Kind, o.Why)
			assert.Equal(t, tc.err, o.Err, o.Why)
			assert.Equal(t, uint64(tc.err), instrError(t, v), "the error is in the VM-instruction error field")
			assert.Contains(t, o.Why, tc.field)
		})
	}
	_ = msr.VMXBasic
}

// TestEnterDeliverErrorCodeRealModeGuest: without "unrestricted guest" a
// hardware exception that has an error code is delivered with it whatever
// the guest's CR0.PE (SDM Vol. 3C 27.2.1.3): the controls pass, and the
// guest-state check on CR0.PE (27.3.1.1) fails instead — a VM-entry
// failure, not VMfailValid(7).
func TestEnterDeliverErrorCodeRealModeGuest(t *testing.T) {
	v, mem := entryVMCS(t)
	for enc, val := range map[uint32]uint64{encEntryIntrInfo: 1<<31 | 1<<11 | 3<<8 | 13, encGuestCR0: 0x30} {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind)
	}
	o, done := v.Enter(true, &host32, mem)
	require.True(t, done)
	assert.Equal(t, EntryFailed, o.Kind, o.Why)
}

// TestGuestStateChecks: one guest-state field broken per row on the valid
// VMCS. Each is a VM-entry failure (SDM Vol. 3C 27.3.1, 28.8): exit reason
// 33 with bit 31 set (0x80000021) in the exit-reason field, the exit
// qualification the SDM gives, and the rule naming the field.
func TestGuestStateChecks(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  uint32
		val  uint64
		qual uint64
		rule string
	}{
		{"guest CR0.NE clear", encGuestCR0, 0x80000011, 0, "CR0.NE"},
		{"guest CR4.VMXE clear", encGuestCR4, 0, 0, "CR4.VMXE"},
		{"guest CR3 beyond MAXPHYADDR", encGuestCR3, 1 << 50, 0, "MAXPHYADDR"},
		{"guest SYSENTER_ESP not canonical", encGuestSysESP, 1 << 47, 0, "canonical"},
		{"TR selector with TI", encGuestSelES + 14, 0x1C, 0, "TI flag"},
		{"SS RPL differs from CS RPL", encGuestSelES + 4, 0x13, 0, "RPL must equal CS"},
		{"CS base above 4 GiB", encGuestBaseES + 2, 1 << 32, 0, "bits 63:32"},
		{"CS type 3 without unrestricted guest", encGuestARES + 2, 0xC093, 0, "9, 11, 13 or 15"},
		{"SS type 5 (read-only)", encGuestARES + 4, 0xC095, 0, "3 or 7"},
		{"DS not accessed", encGuestARES + 6, 0xC092, 0, "accessed bit"},
		{"ES not present", encGuestARES, 0xC013, 0, "P (bit 7)"},
		{"FS reserved bit 8", encGuestARES + 8, 0xC193, 0, "reserved bits 11:8"},
		{"GS G=0 with a 4-GiB limit", encGuestARES + 10, 0x4093, 0, "G (bit 15)"},
		{"TR type 9 (available TSS)", encGuestARES + 14, 0x89, 0, "busy TSS"},
		{"TR unusable", encGuestARES + 14, 0x1008B, 0, "usable"},
		{"LDTR usable with type 3", encGuestARES + 12, 0x83, 0, "type must be 2"},
		{"GDTR limit above 16 bits", encGuestGDTRLimit, 0x10000, 0, "31:16"},
		{"RIP above 4 GiB in a 32-bit guest", encGuestRIP, 1 << 32, 0, "bits 63:32"},
		{"RFLAGS bit 1 clear", encGuestRFLAGS, 0, 0, "bit 1 must be 1"},
		{"RFLAGS.VM in protected mode is v86: bases", encGuestRFLAGS, 2 | arch.FlagVM, 0, "virtual-8086"},
		{"activity state 4", encGuestActivity, 4, 0, "activity state"},
		{"interruptibility STI and MOV SS", encGuestIntrState, 3, 0, "cannot both be 1"},
		{"interruptibility STI with IF=0", encGuestIntrState, 1, 0, "RFLAGS.IF"},
		{"interruptibility reserved bit 5", encGuestIntrState, 1 << 5, 0, "31:5"},
		{"pending debug reserved bit 4", encGuestPendDbg, 1 << 4, 0, "reserved bits"},
		{"VMCS link pointer unaligned", encGuestLinkPtr, 0x3008, 4, "link pointer"},
		{"VMCS link pointer to a region with another revision", encGuestLinkPtr, 0x3000, 4, "revision identifier"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := entryVMCS(t)
			require.Equal(t, Succeed, v.VMWRITE(uint64(tc.enc), tc.val, true).Kind)
			o, done := v.Enter(true, &host32, mem)
			require.True(t, done)
			require.Equal(t, EntryFailed, o.Kind, o.String())
			assert.Contains(t, o.Why, tc.rule)
			r, _ := v.VMREAD(encExitReason, true)
			assert.Equal(t, uint64(0x80000021), r, "exit reason 33 with bit 31 set")
			q, _ := v.VMREAD(encExitQual, true)
			assert.Equal(t, tc.qual, q)
			assert.False(t, v.active[v.current].launched, "a failed VM entry leaves the launch state clear")
		})
	}
}

// TestHostState: the host-state load of SDM Vol. 3C 28.5 for the 32-bit
// host of entryVMCS.
func TestHostState(t *testing.T) {
	v, _ := entryVMCS(t)
	var cur arch.State
	cur.CR0 = arch.CR0PE | arch.CR0NE | arch.CR0PG | arch.CR0ET | arch.CR0CD // CD is kept (28.5.1)
	cur.RFLAGS = 0x246
	s := cur
	v.LoadHostState(&s)
	assert.Equal(t, uint64(0x80000031)|arch.CR0CD, s.CR0, "host CR0, CD from before")
	assert.Equal(t, uint64(0x3000), s.CR3)
	assert.Equal(t, uint64(0x401000), s.RIP)
	assert.Equal(t, uint64(2), s.RFLAGS, "RFLAGS cleared but bit 1")
	assert.Equal(t, uint64(0x400), s.DR[7])
	assert.Equal(t, uint16(0x08), s.Seg[arch.CS].Selector)
	assert.Equal(t, uint32(arch.ARP|arch.ARS|11|arch.ARG|arch.ARDB), s.Seg[arch.CS].Attr, "a 32-bit code segment: host address-space size 0")
	assert.NotZero(t, s.Seg[arch.FS].Attr&arch.ARUnusable, "a null host FS selector: unusable")
	assert.Zero(t, s.Seg[arch.SS].Attr&arch.ARUnusable)
	assert.Equal(t, uint16(0x18), s.TR.Selector)
	assert.Equal(t, uint32(0x67), s.TR.Limit)
	assert.Equal(t, uint16(0xFFFF), s.GDTR.Limit)
	assert.NotZero(t, s.LDTR.Attr&arch.ARUnusable)
}

// TestVirtualNMIInjectionCheck: with "virtual NMIs", an injected NMI needs
// bit 3 of the interruptibility state (virtual-NMI blocking) clear (SDM
// Vol. 3C 27.3.1.5): a VM-entry failure, reason 33, qualification 0.
// Without "virtual NMIs" the rule does not apply.
func TestVirtualNMIInjectionCheck(t *testing.T) {
	for _, tc := range []struct {
		pin  uint64
		fail bool
	}{
		{snbPin | pinNMIExiting | pinVirtualNMIs, true},
		{snbPin | pinNMIExiting, false},
		{snbPin, false},
	} {
		v, mem := entryVMCS(t)
		for enc, val := range map[uint32]uint64{encPinCtls: tc.pin, encEntryIntrInfo: 1<<31 | 2<<8 | 2, encGuestIntrState: 8} {
			require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind)
		}
		o, done := v.Enter(true, &host32, mem)
		if !tc.fail {
			assert.False(t, done, "pin-based %#x: %s", tc.pin, o.Why)
			continue
		}
		require.True(t, done)
		require.Equal(t, EntryFailed, o.Kind, o.String())
		assert.Contains(t, o.Why, "virtual-NMI blocking")
		r, _ := v.VMREAD(encExitReason, true)
		assert.Equal(t, uint64(0x80000021), r)
	}
}

// TestEnterTPRShadow: with "use TPR shadow" the TPR threshold may equal
// VTPR[7:4] (SDM Vol. 3C 27.2.1.1: "not greater than"), the controls pass
// and the intercept record carries the virtual-APIC address and the
// threshold; one class higher fails with VMfailValid(7). TPR
// virtualization exits when VTPR[7:4] falls below threshold[3:0]
// (29.1.2).
func TestEnterTPRShadow(t *testing.T) {
	for _, tc := range []struct {
		vtpr      byte
		threshold uint64
		pass      bool
	}{
		{0x30, 3, true}, {0x3F, 3, true}, {0x30, 4, false}, {0xF0, 0xF, true}, {0x00, 0, true}, {0x2F, 3, false},
	} {
		v, mem := entryVMCS(t)
		mem[0x5000+VTPROffset] = tc.vtpr
		for enc, val := range map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow | ProcCR8StoreExiting, encVirtualAPICAddr: 0x5000, encTPRThreshold: tc.threshold} {
			require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind)
		}
		o, done := v.Enter(true, &host32, mem)
		if !tc.pass {
			require.True(t, done, "VTPR %#x threshold %d", tc.vtpr, tc.threshold)
			assert.Equal(t, ErrEntryInvalidControl, o.Err, o.Why)
			continue
		}
		require.False(t, done, "VTPR %#x threshold %d: %s", tc.vtpr, tc.threshold, o.Why)
		x := interceptsOf(v).Insn
		assert.Equal(t, uint64(0x5080), x.VTPRAddr())
		assert.Equal(t, uint32(tc.threshold), x.TPRThreshold)
		assert.True(t, x.Exits(ProcCR8StoreExiting))
		assert.False(t, x.TPRBelowThreshold(uint32(tc.vtpr)), "an entry that passes is not below its threshold")
		if tc.threshold > 0 {
			assert.True(t, x.TPRBelowThreshold(uint32(tc.threshold-1)<<4), "one class below the threshold")
		}
	}
}

// TestEnterAPICAccess: with "virtualize APIC accesses" and "use TPR
// shadow" the TPR threshold is not compared with VTPR at VM entry (SDM
// Vol. 3C 27.2.1.1: the check applies only when "virtualize APIC
// accesses" is 0); the comparison becomes a VM exit after entry (27.7.7).
// The intercept record carries the APIC-access page's frame.
func TestEnterAPICAccess(t *testing.T) {
	v, mem := entryVMCS(t)
	mem[0x5000+VTPROffset] = 0x20
	for enc, val := range map[uint32]uint64{encProcCtls: snbProc | ProcUseTPRShadow | procActivateSecondary, encProcCtls2: Proc2VirtualizeAPICAccesses,
		encVirtualAPICAddr: 0x5000, encTPRThreshold: 3, encAPICAccessAddr: 0x6000} {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind)
	}
	o, done := v.Enter(true, &host32, mem)
	require.False(t, done, o.Why)
	x := interceptsOf(v).Insn
	assert.Equal(t, uint64(0x6000>>12+1), x.APICAccessFrame())
	assert.True(t, x.AfterEntryTPRBelow(0x20), "threshold 3 above VTPR[7:4] = 2")
	assert.False(t, x.AfterEntryTPRBelow(0x30), "threshold 3 equal to VTPR[7:4]")
}

// TestAPICAccessVirtualized: which accesses to the APIC-access page are
// virtualized (SDM Vol. 3C 30.4.2 for reads, 30.4.3.1 for writes, with
// "virtual-interrupt delivery" 0): the low 4 bytes of a 16-byte region;
// without "APIC-register virtualization" page offset 080H only; with it
// the registers the SDM lists (reads: 020H, 030H, 080H, 0B0H, 0D0H, 0E0H,
// 0F0H, 100H-270H, 280H, 300H, 310H, 320H-370H, 380H, 3E0H; writes: the
// same without 030H and 100H-270H); nothing without the TPR shadow. Then
// APIC-write emulation (30.4.3.2) by offset, and the RDMSR/WRMSR that
// "virtualize x2APIC mode" virtualizes (30.5).
func TestAPICAccessVirtualized(t *testing.T) {
	tpr := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeAPICAccesses}
	reg := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeAPICAccesses | Proc2APICRegisterVirt}
	for _, tc := range []struct {
		off        uint64
		size       int
		tprR, tprW bool // without APIC-register virtualization
		regR, regW bool // with it
	}{
		{0x80, 4, true, true, true, true}, {0x80, 1, true, true, true, true}, {0x80, 2, true, true, true, true},
		{0x81, 2, false, false, true, true}, {0x83, 1, false, false, true, true}, {0x82, 4, false, false, false, false},
		{0x80, 8, false, false, false, false}, {0x84, 4, false, false, false, false}, {0x90, 4, false, false, false, false},
		{0x00, 4, false, false, false, false}, {0x20, 4, false, false, true, true}, {0x30, 4, false, false, true, false},
		{0xA0, 4, false, false, false, false}, {0xB0, 4, false, false, true, true}, {0xC0, 4, false, false, false, false},
		{0xD0, 4, false, false, true, true}, {0xE0, 4, false, false, true, true}, {0xF0, 4, false, false, true, true},
		{0x100, 4, false, false, true, false}, {0x170, 4, false, false, true, false}, {0x180, 4, false, false, true, false},
		{0x270, 4, false, false, true, false}, {0x280, 4, false, false, true, true}, {0x290, 4, false, false, false, false},
		{0x2F0, 4, false, false, false, false}, {0x300, 4, false, false, true, true}, {0x310, 4, false, false, true, true},
		{0x320, 4, false, false, true, true}, {0x370, 4, false, false, true, true}, {0x380, 4, false, false, true, true},
		{0x390, 4, false, false, false, false}, {0x3E0, 4, false, false, true, true}, {0x3F0, 4, false, false, false, false},
		{0x400, 4, false, false, false, false}, {0xF80, 4, false, false, false, false},
	} {
		assert.Equal(t, tc.tprR, tpr.APICAccessVirtualized(tc.off, tc.size, false), "read %#x/%d", tc.off, tc.size)
		assert.Equal(t, tc.tprW, tpr.APICAccessVirtualized(tc.off, tc.size, true), "write %#x/%d", tc.off, tc.size)
		assert.Equal(t, tc.regR, reg.APICAccessVirtualized(tc.off, tc.size, false), "register virtualization: read %#x/%d", tc.off, tc.size)
		assert.Equal(t, tc.regW, reg.APICAccessVirtualized(tc.off, tc.size, true), "register virtualization: write %#x/%d", tc.off, tc.size)
	}
	// Without the TPR shadow nothing is virtualized (30.4.2).
	for _, x := range []InsnIntercepts{tpr, reg} {
		x.Proc = 0
		assert.False(t, x.APICAccessVirtualized(0x80, 4, false))
		assert.False(t, x.APICAccessVirtualized(0x20, 4, true))
	}
	for off, want := range map[uint64]int{0x80: APICWriteTPR, 0x81: APICWriteTPR, 0x310: APICWriteICRHigh, 0x312: APICWriteICRHigh,
		0xB0: APICWriteEOI, 0x300: APICWriteICRLow, 0x20: APICWriteExit, 0x3E0: APICWriteExit, 0x320: APICWriteExit} {
		assert.Equal(t, want, APICWriteEmulation(off), "%#x", off)
	}
	x2 := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeX2APICMode}
	x2reg := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeX2APICMode | Proc2APICRegisterVirt}
	for _, tc := range []struct {
		idx              uint32
		r, w, regR, regW bool
	}{
		{0x808, true, true, true, true}, {0x802, false, false, true, false}, {0x80B, false, false, true, false},
		{0x830, false, false, true, false}, {0x8FF, false, false, true, false}, {0x900, false, false, false, false},
		{0x7FF, false, false, false, false}, {0x10, false, false, false, false},
	} {
		assert.Equal(t, tc.r, x2.X2APICVirtualized(tc.idx, false), "RDMSR %#x", tc.idx)
		assert.Equal(t, tc.w, x2.X2APICVirtualized(tc.idx, true), "WRMSR %#x", tc.idx)
		assert.Equal(t, tc.regR, x2reg.X2APICVirtualized(tc.idx, false), "register virtualization: RDMSR %#x", tc.idx)
		assert.Equal(t, tc.regW, x2reg.X2APICVirtualized(tc.idx, true), "register virtualization: WRMSR %#x", tc.idx)
	}
	assert.False(t, (&InsnIntercepts{Proc2: Proc2APICRegisterVirt}).X2APICVirtualized(0x808, false), "without virtualize x2APIC mode")
	// With "virtual-interrupt delivery" and without "APIC-register
	// virtualization": writes of 080H, 0B0H (EOI) and 300H (ICR low) are
	// virtualized, reads of 080H only (30.4.2, 30.4.3.1); WRMSR of 80BH
	// and 83FH too (30.5).
	vid := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeAPICAccesses | Proc2VirtualIntrDelivery}
	for off, w := range map[uint64][2]bool{0x80: {true, true}, 0xB0: {false, true}, 0x300: {false, true}, 0x310: {false, false}, 0x20: {false, false}, 0xB4: {false, false}} {
		assert.Equal(t, w[0], vid.APICAccessVirtualized(off, 4, false), "VID: read %#x", off)
		assert.Equal(t, w[1], vid.APICAccessVirtualized(off, 4, true), "VID: write %#x", off)
	}
	x2vid := InsnIntercepts{Proc: ProcUseTPRShadow, Proc2: Proc2VirtualizeX2APICMode | Proc2VirtualIntrDelivery}
	for idx, w := range map[uint32][2]bool{0x808: {true, true}, 0x80B: {false, true}, 0x83F: {false, true}, 0x830: {false, false}} {
		assert.Equal(t, w[0], x2vid.X2APICVirtualized(idx, false), "VID: RDMSR %#x", idx)
		assert.Equal(t, w[1], x2vid.X2APICVirtualized(idx, true), "VID: WRMSR %#x", idx)
	}
	// Self-IPI virtualization of a VICR_LO write (30.4.3.2): fixed,
	// edge, shorthand self, vector 10H or above; bits 11 (destination
	// mode) and 14 (level) do not matter.
	for icr, want := range map[uint32]bool{0x00040031: true, 0x00040831: true, 0x00044031: true, 0x000400FF: true, 0x00040010: true,
		0x0004000F: false, 0x000C0031: false, 0x00000031: false, 0x00080031: false, 0x00048031: false, 0x00040131: false,
		0x00041031: false, 0x00142031: false, 0x00050031: false, 0x00042031: false} {
		assert.Equal(t, want, SelfIPIVirtualized(icr), "%#x", icr)
	}
}

// TestEnterPostedInterrupts: the VM-entry checks of SDM Vol. 3C 27.2.1.1
// for "virtual-interrupt delivery" and "process posted interrupts", on
// Skylake SP's VMX, which has both: VID needs "external-interrupt
// exiting"; posted interrupts need VID, the "acknowledge interrupt on
// exit" VM-exit control, a notification vector with bits 15:8 clear and a
// 64-byte aligned descriptor address within the physical-address width.
func TestEnterPostedInterrupts(t *testing.T) {
	m, err := msr.Lookup("skylake-sp")
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	caps, err := NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	good := map[uint32]uint64{
		encPinCtls: snbPin | pinExtIntExiting | PinProcessPostedIntrs, encProcCtls: snbProc | ProcUseTPRShadow | procActivateSecondary,
		encProcCtls2: Proc2VirtualIntrDelivery, encExitCtls: snbExit | exitAckIntOnExit, encVirtualAPICAddr: 0x5000,
		encPINotificationVector: 0xF2, encPIDescAddr: 0x6040,
	}
	for _, tc := range []struct {
		name string
		enc  uint32
		val  uint64
		why  string // "" passes
	}{
		{"all good", 0, 0, ""},
		{"VID without external-interrupt exiting", encPinCtls, snbPin, "needs the \"external-interrupt exiting\""},
		{"posted interrupts without VID", encProcCtls2, 0, "needs \"virtual-interrupt delivery\""},
		{"posted interrupts without acknowledge interrupt on exit", encExitCtls, snbExit, "\"acknowledge interrupt on exit\""},
		{"notification vector bit 8", encPINotificationVector, 0x1F2, "bits 15:8 of the posted-interrupt notification vector"},
		{"descriptor not 64-byte aligned", encPIDescAddr, 0x6020, "64-byte aligned"},
		{"descriptor beyond MAXPHYADDR", encPIDescAddr, 1 << 46, "within 46 bits"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := entryVMCSWith(t, caps)
			for enc, val := range good {
				require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
			}
			if tc.enc != 0 {
				require.Equal(t, Succeed, v.VMWRITE(uint64(tc.enc), tc.val, true).Kind)
			}
			o, done := v.Enter(true, &host32, mem)
			if tc.why == "" {
				require.False(t, done, o.Why)
				x := interceptsOf(v).Insn
				assert.True(t, x.PostedIntrs)
				assert.Equal(t, uint8(0xF2), x.PINotificationVector)
				assert.Equal(t, uint64(0x6040), x.PIDescAddr)
				return
			}
			require.True(t, done)
			assert.Equal(t, ErrEntryInvalidControl, o.Err, o.Why)
			assert.Contains(t, o.Why, tc.why)
		})
	}
}

// interceptsOf is the intercept record the core would fill in at VM entry.
func interceptsOf(v *CPU) Intercepts {
	var x Intercepts
	v.Intercepts(&x)
	return x
}

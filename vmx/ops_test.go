package vmx_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// Scenario tests of the VMX instructions. Every expected outcome is the
// "Operation" section of the instruction in SDM Vol. 3C 31.3, with the
// conventions of 31.2 (VMsucceed, VMfailInvalid, VMfailValid(n); VMfail(n)
// is VMfailValid(n) when there is a current VMCS and VMfailInvalid
// otherwise) and the error numbers of 31.4 (Table 31-1).
//
// The processors are the shipped models' real capability MSRs
// (msr/models): skylake-sp has EPT, VPID, VMCS shadowing and
// IA32_VMX_MISC[29] = 1; sandybridge-ep has EPT but neither VMCS shadowing
// nor IA32_VMX_MISC[29].

type want struct {
	kind vmx.Kind
	vec  uint8
	err  vmx.InstrError
}

var (
	wUD      = want{kind: vmx.Fault, vec: arch.VecUD}
	wGP      = want{kind: vmx.Fault, vec: arch.VecGP}
	wSucceed = want{kind: vmx.Succeed}
	wInvalid = want{kind: vmx.FailInvalid}
)

func wValid(e vmx.InstrError) want { return want{kind: vmx.FailValid, err: e} }

func checkOutcome(t *testing.T, w want, o vmx.Outcome) {
	t.Helper()
	require.Equal(t, w.kind, o.Kind, "%s", o)
	switch w.kind {
	case vmx.Fault:
		assert.Equal(t, w.vec, o.Fault.Vector, "%s", o)
		if w.vec == arch.VecGP {
			assert.True(t, o.Fault.HasError, "#GP(0) has an error code")
			assert.Zero(t, o.Fault.Code, "#GP(0)")
		}
	case vmx.FailValid:
		assert.Equal(t, w.err, o.Err, "%s", o)
	}
	if w.kind != vmx.Succeed {
		assert.NotEmpty(t, o.Why+o.Fault.Rule, "a failure carries its rule")
	}
}

func skylake(t *testing.T) *vmx.Caps     { return modelCaps(t, "skylake-sp") }
func sandybridge(t *testing.T) *vmx.Caps { return modelCaps(t, "sandybridge-ep") }

// addr32Caps is skylake-sp with IA32_VMX_BASIC[48] = 1: VMX pointers are
// limited to 32 bits (Vol. 3D A.1).
func addr32Caps(t *testing.T) *vmx.Caps {
	m := modelMSRs(t, "skylake-sp")
	m[msr.VMXBasic] |= 1 << 48
	c := mapCaps(t, m, 46)
	require.True(t, c.Addr32)
	return c
}

// VMXON outside VMX operation: SDM Vol. 3C 31.3 VMXON, Operation.
func TestVMXON_OutsideVMXOperation(t *testing.T) {
	for _, tc := range []struct {
		name  string
		caps  func(*testing.T) *vmx.Caps
		setup func(r *rig)
		addr  func(c *vmx.Caps) uint64
		want  want
	}{
		// IF (register operand) or (CR0.PE = 0) or (CR4.VMXE = 0) or
		// (RFLAGS.VM = 1) or (IA32_EFER.LMA = 1 and CS.L = 0) THEN #UD.
		{name: "UD_RegisterOperand", setup: func(r *rig) { r.ctx.RegOperand = true }, want: wUD},
		{name: "UD_CR4VMXE0", setup: func(r *rig) { r.ctx.CR4 &^= arch.CR4VMXE }, want: wUD},
		{name: "UD_CR0PE0", setup: func(r *rig) { r.ctx = ctx32(); r.ctx.CR0 &^= arch.CR0PE | arch.CR0PG }, want: wUD},
		{name: "UD_RFLAGSVM1", setup: func(r *rig) { r.ctx = ctx32(); r.ctx.RFLAGS |= arch.FlagVM }, want: wUD},
		{name: "UD_LMA1_CSL0", setup: func(r *rig) { r.ctx.CSL = false }, want: wUD},
		// ELSIF not in VMX operation: IF (CPL > 0) or (in A20M mode) or
		// (CR0/CR4 not supported in VMX operation, Vol. 3C 24.8) or
		// (IA32_FEATURE_CONTROL lock bit clear) or (outside SMX and bit 2
		// clear) THEN #GP(0).
		{name: "GP_CPL3", setup: func(r *rig) { r.ctx.CPL = 3 }, want: wGP},
		{name: "GP_CPL1", setup: func(r *rig) { r.ctx.CPL = 1 }, want: wGP},
		{name: "GP_A20M", setup: func(r *rig) { r.ctx.A20M = true }, want: wGP},
		// IA32_VMX_CR0_FIXED0 = 80000021H: NE and PG must be 1.
		{name: "GP_CR0NE0_Fixed0", setup: func(r *rig) { r.ctx.CR0 &^= arch.CR0NE }, want: wGP},
		{name: "GP_CR0PG0_Fixed0", setup: func(r *rig) { r.ctx = ctx32(); r.ctx.CR0 &^= arch.CR0PG }, want: wGP},
		// IA32_VMX_CR4_FIXED1 of skylake-sp has bit 12 (LA57) clear.
		{name: "GP_CR4LA57_Fixed1", setup: func(r *rig) { r.ctx.CR4 |= 1 << 12 }, want: wGP},
		{name: "GP_FeatureControlLockClear", setup: func(r *rig) { r.ctx.FeatureControl = msr.FCVMXOutsideSMX }, want: wGP},
		{name: "GP_FeatureControlBit2Clear", setup: func(r *rig) { r.ctx.FeatureControl = msr.FCLock }, want: wGP},
		{name: "GP_FeatureControlZero", setup: func(r *rig) { r.ctx.FeatureControl = 0 }, want: wGP},
		// IF addr is not 4KB-aligned or sets bits beyond the
		// physical-address width THEN VMfailInvalid.
		{name: "FailInvalid_Unaligned", addr: func(*vmx.Caps) uint64 { return vmxonPA + 8 }, want: wInvalid},
		{name: "FailInvalid_Unaligned1", addr: func(*vmx.Caps) uint64 { return vmxonPA | 1 }, want: wInvalid},
		{name: "FailInvalid_BeyondMAXPHYADDR", addr: func(c *vmx.Caps) uint64 { return 1 << c.MaxPhysAddr }, want: wInvalid},
		{name: "FailInvalid_Bit63", addr: func(*vmx.Caps) uint64 { return 1<<63 | vmxonPA }, want: wInvalid},
		// Vol. 3D A.1: with IA32_VMX_BASIC[48] = 1, VMXON fails if addr
		// sets any bit in 63:32 (below MAXPHYADDR here).
		{name: "FailInvalid_Beyond32BitsWithBasic48", caps: addr32Caps, addr: func(*vmx.Caps) uint64 { return 1 << 32 }, setup: func(r *rig) { r.mem.put32(1<<32, r.caps.Revision) }, want: wInvalid},
		{name: "Succeed_Below4GWithBasic48", caps: addr32Caps, want: wSucceed},
		{name: "Succeed_Beyond32BitsWithoutBasic48", addr: func(*vmx.Caps) uint64 { return 1 << 32 }, setup: func(r *rig) { r.mem.put32(1<<32, r.caps.Revision) }, want: wSucceed},
		// rev[30:0] != revision identifier OR rev[31] = 1: VMfailInvalid.
		{name: "FailInvalid_WrongRevision", setup: func(r *rig) { r.mem.put32(vmxonPA, r.caps.Revision+1) }, want: wInvalid},
		{name: "FailInvalid_RevisionZero", setup: func(r *rig) { r.mem.put32(vmxonPA, 0) }, want: wInvalid},
		{name: "FailInvalid_RevisionBit31", setup: func(r *rig) { r.mem.put32(vmxonPA, r.caps.Revision|1<<31) }, want: wInvalid},
		// ...even with VMCS shadowing (VMXON has no shadowing exception).
		{name: "FailInvalid_RevisionBit31_Shadowing", caps: skylake, setup: func(r *rig) {
			require.True(r.t, r.caps.Shadowing)
			r.mem.put32(vmxonPA, r.caps.Revision|1<<31)
		}, want: wInvalid},
		{name: "Succeed", want: wSucceed},
		{name: "Succeed_CPL0_32BitProtectedMode", setup: func(r *rig) { r.ctx = ctx32() }, want: wSucceed},
		// Order: the first condition of the pseudocode wins.
		{name: "Order_UDBeforeGP_CR4VMXE0_CPL3", setup: func(r *rig) { r.ctx.CR4 &^= arch.CR4VMXE; r.ctx.CPL = 3 }, want: wUD},
		{name: "Order_UDBeforeGP_RegOperand_LockClear", setup: func(r *rig) { r.ctx.RegOperand = true; r.ctx.FeatureControl = 0 }, want: wUD},
		{name: "Order_UDBeforeGP_VM_CR0NE0", setup: func(r *rig) { r.ctx = ctx32(); r.ctx.RFLAGS |= arch.FlagVM; r.ctx.CR0 &^= arch.CR0NE }, want: wUD},
		{name: "Order_GPBeforeFail_CPL3_Unaligned", setup: func(r *rig) { r.ctx.CPL = 3 }, addr: func(*vmx.Caps) uint64 { return vmxonPA + 4 }, want: wGP},
		{name: "Order_GPBeforeFail_LockClear_WrongRevision", setup: func(r *rig) {
			r.ctx.FeatureControl = 0
			r.mem.put32(vmxonPA, 0xBAD)
		}, want: wGP},
		{name: "Order_GPBeforeFail_CR0NE0_BeyondMAXPHYADDR", setup: func(r *rig) { r.ctx.CR0 &^= arch.CR0NE }, addr: func(c *vmx.Caps) uint64 { return 1 << c.MaxPhysAddr }, want: wGP},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capsFn := tc.caps
			if capsFn == nil {
				capsFn = skylake
			}
			r := newRig(t, capsFn(t))
			addr := uint64(vmxonPA)
			if tc.addr != nil {
				addr = tc.addr(r.caps)
			}
			// A region with the right revision wherever the pointer
			// points (where memory can be written), so that only the rule
			// under test can fail the instruction.
			r.mem.put32(addr&^0xFFF, r.caps.Revision)
			if tc.setup != nil {
				tc.setup(r)
			}
			checkOutcome(t, tc.want, r.do(vmx.InsnVMXON, addr))
			if tc.want.kind == vmx.Succeed {
				// Enter VMX operation; current-VMCS pointer :=
				// FFFFFFFF_FFFFFFFFH.
				assert.Equal(t, vmx.Root, r.cpu.Mode())
				assert.Equal(t, addr, r.cpu.VMXONPointer())
				assert.Equal(t, ^uint64(0), r.cpu.CurrentVMCS())
			} else {
				assert.Equal(t, vmx.Outside, r.cpu.Mode(), "a failed VMXON leaves the processor outside VMX operation")
			}
		})
	}
}

// VMXON's revision read refused by the physical access path: the core's
// outcome stands and nothing changes.
func TestVMXON_RegionReadRefused_NothingChanges(t *testing.T) {
	r := newRig(t, skylake(t))
	r.mem.refuse = true
	assert.Equal(t, vmx.Refused, r.do(vmx.InsnVMXON, vmxonPA).Kind)
	assert.Equal(t, vmx.Outside, r.cpu.Mode())
}

// VMXON in VMX root operation: ELSIF CPL > 0 THEN #GP(0); ELSE
// VMfail("VMXON executed in VMX root operation") (error 15).
func TestVMXON_InRoot(t *testing.T) {
	for _, tc := range []struct {
		name  string
		load  bool
		setup func(r *rig)
		want  want
	}{
		{name: "VMfail15_NoCurrentVMCS_FailInvalid", want: wInvalid},
		{name: "VMfail15_CurrentVMCS_FailValid", load: true, want: wValid(vmx.ErrVMXONInRoot)},
		{name: "GP_CPL3", setup: func(r *rig) { r.ctx.CPL = 3 }, want: wGP},
		{name: "GP_CPL3_CurrentVMCS", load: true, setup: func(r *rig) { r.ctx.CPL = 3 }, want: wGP},
		{name: "UD_RegisterOperand", setup: func(r *rig) { r.ctx.RegOperand = true }, want: wUD},
		{name: "UD_LMA1_CSL0", setup: func(r *rig) { r.ctx.CSL = false }, want: wUD},
		{name: "UD_RFLAGSVM1", load: true, setup: func(r *rig) { r.ctx = ctx32(); r.ctx.RFLAGS |= arch.FlagVM }, want: wUD},
		// In VMX root operation the IA32_FEATURE_CONTROL and fixed-bit
		// checks are not made (they belong to the "not in VMX operation"
		// branch): VMfail(15) still.
		{name: "NoFeatureControlCheckInRoot", load: true, setup: func(r *rig) { r.ctx.FeatureControl = 0 }, want: wValid(vmx.ErrVMXONInRoot)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, skylake(t)).on(tc.load)
			cur := r.cpu.CurrentVMCS()
			if tc.setup != nil {
				tc.setup(r)
			}
			checkOutcome(t, tc.want, r.do(vmx.InsnVMXON, vmcs2PA))
			assert.Equal(t, vmx.Root, r.cpu.Mode())
			assert.Equal(t, uint64(vmxonPA), r.cpu.VMXONPointer(), "the VMXON pointer is unchanged")
			assert.Equal(t, cur, r.cpu.CurrentVMCS())
			if tc.want.kind == vmx.FailValid {
				r.ctx = ctx64()
				assert.Equal(t, uint64(tc.want.err), r.instrError(), "VMfailValid writes the error to the current VMCS")
			}
		})
	}
}

// Every other VMX instruction: IF (not in VMX operation) ... THEN #UD.
func TestVMXInstructions_OutsideVMXOperation_UD(t *testing.T) {
	for _, insn := range []vmx.Insn{vmx.InsnVMXOFF, vmx.InsnVMCLEAR, vmx.InsnVMPTRLD, vmx.InsnVMPTRST,
		vmx.InsnVMREAD, vmx.InsnVMWRITE, vmx.InsnVMCALL} {
		t.Run(insn.String(), func(t *testing.T) {
			r := newRig(t, skylake(t))
			checkOutcome(t, wUD, exec(r.cpu, r.ctx, r.mem, insn, vmcsPA, 0x4400, 0).out)
			// ...also at CPL 3: #UD comes before #GP(0).
			r.ctx.CPL = 3
			checkOutcome(t, wUD, exec(r.cpu, r.ctx, r.mem, insn, vmcsPA, 0x4400, 0).out)
			// ...and after VMXOFF.
			r.ctx.CPL = 0
			r.on(true)
			r.must(vmx.InsnVMXOFF, 0)
			checkOutcome(t, wUD, exec(r.cpu, r.ctx, r.mem, insn, vmcsPA, 0x4400, 0).out)
		})
	}
}

// In VMX root operation: (RFLAGS.VM = 1) or (IA32_EFER.LMA = 1 and CS.L =
// 0) -> #UD; register operand of VMCLEAR/VMPTRLD/VMPTRST -> #UD; then
// CPL > 0 -> #GP(0), before any VMfail.
func TestVMXInstructions_InRoot_UDThenGP(t *testing.T) {
	for _, insn := range []vmx.Insn{vmx.InsnVMXOFF, vmx.InsnVMCLEAR, vmx.InsnVMPTRLD, vmx.InsnVMPTRST,
		vmx.InsnVMREAD, vmx.InsnVMWRITE, vmx.InsnVMCALL} {
		for _, tc := range []struct {
			name  string
			setup func(c *vmx.Ctx)
			want  want
		}{
			{"UD_LMA1_CSL0", func(c *vmx.Ctx) { c.CSL = false }, wUD},
			{"UD_RFLAGSVM1", func(c *vmx.Ctx) { *c = ctx32(); c.RFLAGS |= arch.FlagVM }, wUD},
			{"UD_LMA1_CSL0_CPL3", func(c *vmx.Ctx) { c.CSL = false; c.CPL = 3 }, wUD},
			{"GP_CPL3", func(c *vmx.Ctx) { c.CPL = 3 }, wGP},
			{"GP_CPL1_32Bit", func(c *vmx.Ctx) { *c = ctx32(); c.CPL = 1 }, wGP},
		} {
			t.Run(insn.String()+"/"+tc.name, func(t *testing.T) {
				r := newRig(t, skylake(t)).on(true)
				c := ctx64()
				tc.setup(&c)
				// An operand that would fail (unaligned pointer,
				// unsupported encoding) must not matter.
				checkOutcome(t, tc.want, exec(r.cpu, c, r.mem, insn, vmcsPA+1, 0x8000, 0).out)
				assert.Equal(t, vmx.Root, r.cpu.Mode())
				assert.Equal(t, uint64(vmcsPA), r.cpu.CurrentVMCS())
				assert.Zero(t, r.instrError(), "a fault writes no VM-instruction error")
			})
		}
	}
	for _, insn := range []vmx.Insn{vmx.InsnVMCLEAR, vmx.InsnVMPTRLD, vmx.InsnVMPTRST} {
		t.Run(insn.String()+"/UD_RegisterOperand", func(t *testing.T) {
			r := newRig(t, skylake(t)).on(true)
			c := ctx64()
			c.RegOperand, c.CPL = true, 3
			checkOutcome(t, wUD, exec(r.cpu, c, r.mem, insn, vmcsPA, 0, 0).out)
		})
	}
}

// VMXOFF: leave VMX operation; VMsucceed. Afterwards VMXON may be executed
// again and finds no current VMCS.
func TestVMXOFF_LeavesVMXOperation(t *testing.T) {
	r := newRig(t, skylake(t)).on(true)
	r.must(vmx.InsnVMXOFF, 0)
	assert.Equal(t, vmx.Outside, r.cpu.Mode())
	assert.False(t, r.cpu.InVMX())
	r.must(vmx.InsnVMXON, vmxonPA)
	assert.Equal(t, ^uint64(0), r.cpu.CurrentVMCS(), "VMXON: current-VMCS pointer := FFFFFFFF_FFFFFFFFH")
	_, o := r.read(0x4400)
	checkOutcome(t, wInvalid, o)
}

// VMCLEAR: VMfail(2) for an invalid address, VMfail(3) for the VMXON
// pointer; otherwise the launch state := clear (in the region) and the
// current-VMCS pointer := FFFFFFFF_FFFFFFFFH if the operand was current.
func TestVMCLEAR_Outcomes(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps func(*testing.T) *vmx.Caps
		load bool
		addr func(c *vmx.Caps) uint64
		want want
	}{
		{name: "VMfail2_Unaligned_FailValid", load: true, addr: func(*vmx.Caps) uint64 { return vmcs2PA + 0x800 }, want: wValid(vmx.ErrVMCLEARInvalidAddr)},
		{name: "VMfail2_Unaligned_FailInvalid", addr: func(*vmx.Caps) uint64 { return vmcs2PA + 8 }, want: wInvalid},
		{name: "VMfail2_BeyondMAXPHYADDR", load: true, addr: func(c *vmx.Caps) uint64 { return 1 << c.MaxPhysAddr }, want: wValid(vmx.ErrVMCLEARInvalidAddr)},
		{name: "VMfail2_Beyond32BitsWithBasic48", caps: addr32Caps, load: true, addr: func(*vmx.Caps) uint64 { return 1<<32 | vmcs2PA }, want: wValid(vmx.ErrVMCLEARInvalidAddr)},
		{name: "VMfail3_VMXONPointer_FailValid", load: true, addr: func(*vmx.Caps) uint64 { return vmxonPA }, want: wValid(vmx.ErrVMCLEARVMXONPtr)},
		{name: "VMfail3_VMXONPointer_FailInvalid", addr: func(*vmx.Caps) uint64 { return vmxonPA }, want: wInvalid},
		{name: "Succeed_NotActive", load: true, addr: func(*vmx.Caps) uint64 { return vmcs2PA }, want: wSucceed},
		{name: "Succeed_Current", load: true, addr: func(*vmx.Caps) uint64 { return vmcsPA }, want: wSucceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capsFn := tc.caps
			if capsFn == nil {
				capsFn = skylake
			}
			r := newRig(t, capsFn(t)).on(tc.load)
			addr := tc.addr(r.caps)
			before := r.cpu.CurrentVMCS()
			checkOutcome(t, tc.want, r.do(vmx.InsnVMCLEAR, addr))
			switch {
			case tc.want.kind == vmx.FailValid:
				assert.Equal(t, uint64(tc.want.err), r.instrError())
				assert.Equal(t, before, r.cpu.CurrentVMCS())
			case tc.want.kind == vmx.Succeed && addr == before:
				assert.Equal(t, ^uint64(0), r.cpu.CurrentVMCS(), "the current VMCS was cleared")
			case tc.want.kind == vmx.Succeed:
				assert.Equal(t, before, r.cpu.CurrentVMCS(), "another VMCS stays current")
			}
		})
	}
}

// launchedRegion writes a VMCS region at pa whose launch state is
// "launched", finding where the implementation keeps the launch state
// through its diagnostic decoder (the SDM leaves the layout to the
// implementation, Vol. 3C 25.2).
func launchedRegion(t *testing.T, c *vmx.Caps, m *phys, pa uint64) {
	t.Helper()
	for off := 4; off+4 <= c.RegionSize; off += 4 {
		buf := make([]byte, c.RegionSize)
		buf[0] = byte(c.Revision)
		buf[off] = 1
		if launched, _, err := c.DecodeRegion(buf); err == nil && launched {
			m.WritePhys(pa, buf)
			m.put32(pa, c.Revision)
			return
		}
	}
	t.Fatal("no region bytes decode as launched")
}

func regionLaunched(t *testing.T, c *vmx.Caps, m *phys, pa uint64) bool {
	t.Helper()
	launched, _, err := c.DecodeRegion(m.bytes(pa, c.RegionSize))
	require.NoError(t, err)
	return launched
}

// VMCLEAR: "launch state of VMCS referenced by the operand := clear",
// visible in the region afterwards, whether the VMCS was active or not;
// VMCLEAR does not check the revision identifier.
func TestVMCLEAR_LaunchStateClearInRegion(t *testing.T) {
	for _, tc := range []struct {
		name   string
		active bool
		rev    func(c *vmx.Caps) uint32
	}{
		{name: "NotActive"},
		{name: "ActiveCurrent", active: true},
		{name: "NotActive_WrongRevisionNotChecked", rev: func(c *vmx.Caps) uint32 { return c.Revision + 7 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, skylake(t)).on(false)
			launchedRegion(t, r.caps, r.mem, vmcs2PA)
			require.True(t, regionLaunched(t, r.caps, r.mem, vmcs2PA))
			if tc.rev != nil {
				r.mem.put32(vmcs2PA, tc.rev(r.caps))
			}
			if tc.active {
				r.must(vmx.InsnVMPTRLD, vmcs2PA)
			}
			r.must(vmx.InsnVMCLEAR, vmcs2PA)
			assert.False(t, regionLaunched(t, r.caps, r.mem, vmcs2PA))
			assert.Equal(t, ^uint64(0), r.cpu.CurrentVMCS())
		})
	}
}

// VMPTRLD: VMfail(9) invalid address, VMfail(10) VMXON pointer, VMfail(11)
// "rev[30:0] != revision OR rev[31] = 1 AND the processor does not
// support the 1-setting of VMCS shadowing"; else current-VMCS pointer :=
// addr.
func TestVMPTRLD_Outcomes(t *testing.T) {
	for _, tc := range []struct {
		name  string
		caps  func(*testing.T) *vmx.Caps
		load  bool
		setup func(r *rig)
		addr  func(c *vmx.Caps) uint64
		want  want
	}{
		{name: "VMfail9_Unaligned_FailValid", load: true, addr: func(*vmx.Caps) uint64 { return vmcs2PA + 0x10 }, want: wValid(vmx.ErrVMPTRLDInvalidAddr)},
		{name: "VMfail9_Unaligned_FailInvalid", addr: func(*vmx.Caps) uint64 { return vmcs2PA + 0x10 }, want: wInvalid},
		{name: "VMfail9_BeyondMAXPHYADDR", load: true, addr: func(c *vmx.Caps) uint64 { return 1<<(c.MaxPhysAddr+1) | vmcs2PA }, want: wValid(vmx.ErrVMPTRLDInvalidAddr)},
		{name: "VMfail9_Beyond32BitsWithBasic48", caps: addr32Caps, load: true, addr: func(*vmx.Caps) uint64 { return 1 << 33 }, want: wValid(vmx.ErrVMPTRLDInvalidAddr)},
		{name: "VMfail10_VMXONPointer", load: true, addr: func(*vmx.Caps) uint64 { return vmxonPA }, want: wValid(vmx.ErrVMPTRLDVMXONPtr)},
		{name: "VMfail10_VMXONPointer_FailInvalid", addr: func(*vmx.Caps) uint64 { return vmxonPA }, want: wInvalid},
		// Order: the VMXON-pointer check comes before the revision read.
		{name: "Order_VMfail10Before11", load: true, setup: func(r *rig) { r.mem.put32(vmxonPA, 0xBAD) }, addr: func(*vmx.Caps) uint64 { return vmxonPA }, want: wValid(vmx.ErrVMPTRLDVMXONPtr)},
		{name: "VMfail11_WrongRevision", load: true, setup: func(r *rig) { r.mem.put32(vmcs2PA, r.caps.Revision+1) }, want: wValid(vmx.ErrVMPTRLDBadRevision)},
		{name: "VMfail11_WrongRevision_FailInvalid", setup: func(r *rig) { r.mem.put32(vmcs2PA, 0) }, want: wInvalid},
		{name: "VMfail11_ShadowBitWithoutShadowing", caps: sandybridge, load: true, setup: func(r *rig) {
			require.False(r.t, r.caps.Shadowing)
			r.mem.put32(vmcs2PA, r.caps.Revision|1<<31)
		}, want: wValid(vmx.ErrVMPTRLDBadRevision)},
		{name: "VMfail11_ShadowBitWrongRevisionWithShadowing", caps: skylake, load: true, setup: func(r *rig) { r.mem.put32(vmcs2PA, (r.caps.Revision+1)|1<<31) }, want: wValid(vmx.ErrVMPTRLDBadRevision)},
		{name: "Succeed_ShadowBitWithShadowing", caps: skylake, setup: func(r *rig) {
			require.True(r.t, r.caps.Shadowing)
			r.mem.put32(vmcs2PA, r.caps.Revision|1<<31)
		}, want: wSucceed},
		{name: "Succeed", want: wSucceed},
		{name: "Succeed_ReplacesCurrent", load: true, want: wSucceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			capsFn := tc.caps
			if capsFn == nil {
				capsFn = skylake
			}
			r := newRig(t, capsFn(t)).on(tc.load)
			if tc.setup != nil {
				tc.setup(r)
			}
			addr := uint64(vmcs2PA)
			if tc.addr != nil {
				addr = tc.addr(r.caps)
			}
			before := r.cpu.CurrentVMCS()
			checkOutcome(t, tc.want, r.do(vmx.InsnVMPTRLD, addr))
			if tc.want.kind == vmx.Succeed {
				assert.Equal(t, addr, r.cpu.CurrentVMCS())
			} else {
				assert.Equal(t, before, r.cpu.CurrentVMCS(), "a failed VMPTRLD leaves the current VMCS")
			}
			if tc.want.kind == vmx.FailValid {
				assert.Equal(t, uint64(tc.want.err), r.instrError())
			}
		})
	}
}

// VMPTRST: "64-bit in-memory destination operand := current-VMCS pointer"
// (FFFFFFFF_FFFFFFFFH when there is none, Vol. 3C 25.1); VMsucceed.
func TestVMPTRST_StoresCurrentVMCSPointer(t *testing.T) {
	r := newRig(t, skylake(t)).on(false)
	st := func() uint64 {
		res := exec(r.cpu, r.ctx, r.mem, vmx.InsnVMPTRST, 0, 0, 0)
		checkOutcome(t, wSucceed, res.out)
		return res.val
	}
	assert.Equal(t, ^uint64(0), st(), "no current VMCS after VMXON")
	r.must(vmx.InsnVMPTRLD, vmcsPA)
	assert.Equal(t, uint64(vmcsPA), st())
	r.must(vmx.InsnVMPTRLD, vmcs2PA)
	assert.Equal(t, uint64(vmcs2PA), st())
	r.must(vmx.InsnVMCLEAR, vmcsPA) // not current: stays
	assert.Equal(t, uint64(vmcs2PA), st())
	r.must(vmx.InsnVMCLEAR, vmcs2PA)
	assert.Equal(t, ^uint64(0), st(), "VMCLEAR of the current VMCS")
}

// VMREAD/VMWRITE: "ELSIF current-VMCS pointer is not valid THEN
// VMfailInvalid", checked before the encoding; CPL > 0 is #GP(0) before
// that.
func TestVMREADVMWRITE_NoCurrentVMCS(t *testing.T) {
	for _, tc := range []struct {
		name string
		enc  uint64
		cpl  int
		want want
	}{
		{"FailInvalid_ValidEncoding", 0x4400, 0, wInvalid},
		{"FailInvalid_BeforeUnsupported_Reserved", 0x8000, 0, wInvalid},
		{"FailInvalid_BeforeUnsupported_Bits63to32", 1<<32 | 0x4400, 0, wInvalid},
		{"FailInvalid_BeforeReadOnly", 0x4402, 0, wInvalid},
		{"GP_CPL3_Before_FailInvalid", 0x4400, 3, wGP},
	} {
		for _, insn := range []vmx.Insn{vmx.InsnVMREAD, vmx.InsnVMWRITE} {
			t.Run(insn.String()+"/"+tc.name, func(t *testing.T) {
				r := newRig(t, skylake(t)).on(false)
				r.ctx.CPL = tc.cpl
				checkOutcome(t, tc.want, exec(r.cpu, r.ctx, r.mem, insn, 0, tc.enc, 1).out)
			})
		}
	}
	// Current VMCS cleared: the pointer is invalid again.
	r := newRig(t, skylake(t)).on(true)
	r.must(vmx.InsnVMCLEAR, vmcsPA)
	_, o := r.read(0x4400)
	checkOutcome(t, wInvalid, o)
}

// bareCaps is a processor with no optional VMX control (bareMSRs).
func bareCaps(t *testing.T) *vmx.Caps { return mapCaps(t, bareMSRs(), 46) }

// VMREAD/VMWRITE "ELSIF the (secondary) source operand does not correspond
// to any VMCS field THEN VMfailValid(12)": reserved bits 31:15 and bit 12
// of the encoding (Vol. 3C 25.11.2), bits 63:32 of the register in 64-bit
// mode, the high access type on a field that is not 64-bit, encodings no
// field has, and fields whose control the processor does not support
// (Appendix B).
func TestVMREADVMWRITE_Error12_UnsupportedComponent(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps func(*testing.T) *vmx.Caps
		enc  uint64
	}{
		{name: "ReservedBit15", enc: 1<<15 | 0x4002},
		{name: "ReservedBit31", enc: 1<<31 | 0x4002},
		{name: "ReservedBit12", enc: 1<<12 | 0x4002},
		{name: "Bits63to32_64BitMode", enc: 1<<32 | 0x4002},
		{name: "Bit63_64BitMode", enc: 1<<63 | 0x681E},
		{name: "HighAccess_16Bit", enc: 0x0801},
		{name: "HighAccess_32Bit", enc: 0x4003},
		{name: "HighAccess_32BitReadOnly", enc: 0x4401},
		{name: "HighAccess_Natural", enc: 0x6C17},
		{name: "NoSuchField_Hole", enc: 0x482C},
		{name: "NoSuchField_IndexBeyondTable", enc: 0x4C02},
		{name: "NoSuchField_HighOfHole", enc: 0x203F},
		{name: "ControlLacking_VPID", caps: bareCaps, enc: 0x0000},
		{name: "ControlLacking_EPTPointer", caps: bareCaps, enc: 0x201A},
		{name: "ControlLacking_EPTPointerHigh", caps: bareCaps, enc: 0x201B},
		{name: "ControlLacking_GuestPhysicalAddress", caps: bareCaps, enc: 0x2400},
		{name: "ControlLacking_PreemptionTimer", caps: bareCaps, enc: 0x482E},
		{name: "ControlLacking_SecondaryControls", caps: bareCaps, enc: 0x401E},
		{name: "ControlLacking_TSCMultiplier_Skylake_NoSuch_SandyBridge", caps: sandybridge, enc: 0x2032},
		{name: "ControlLacking_CET_SkylakeHasNone", caps: skylake, enc: 0x6C18},
	} {
		for _, insn := range []vmx.Insn{vmx.InsnVMREAD, vmx.InsnVMWRITE} {
			t.Run(insn.String()+"/"+tc.name, func(t *testing.T) {
				capsFn := tc.caps
				if capsFn == nil {
					capsFn = skylake
				}
				r := newRig(t, capsFn(t)).on(true)
				checkOutcome(t, wValid(vmx.ErrUnsupportedComponent),
					exec(r.cpu, r.ctx, r.mem, insn, 0, tc.enc, 0x1234).out)
				assert.Equal(t, uint64(12), r.instrError(), "VMfailValid(12) in the VM-instruction error field")
			})
		}
	}
}

// VMWRITE "ELSIF the field is a VM-exit information field AND the
// processor does not support writing to such fields (IA32_VMX_MISC[29] =
// 0, Vol. 3D A.6) THEN VMfailValid(13)"; with IA32_VMX_MISC[29] = 1 the
// write succeeds. Unsupported (12) is checked before read-only (13).
func TestVMWRITE_Error13_ReadOnlyUnlessMISC29(t *testing.T) {
	for _, tc := range []struct {
		name string
		caps func(*testing.T) *vmx.Caps
		enc  uint64
		want want
	}{
		{"MISC29Clear_ExitReason", sandybridge, 0x4402, wValid(vmx.ErrVMWRITEReadOnly)},
		{"MISC29Clear_VMInstructionError", sandybridge, 0x4400, wValid(vmx.ErrVMWRITEReadOnly)},
		{"MISC29Clear_ExitQualification", sandybridge, 0x6400, wValid(vmx.ErrVMWRITEReadOnly)},
		{"MISC29Clear_GuestPhysicalAddress", sandybridge, 0x2400, wValid(vmx.ErrVMWRITEReadOnly)},
		{"MISC29Clear_GuestPhysicalAddressHigh", sandybridge, 0x2401, wValid(vmx.ErrVMWRITEReadOnly)},
		{"MISC29Clear_Order12Before13_NoEPT", bareCaps, 0x2400, wValid(vmx.ErrUnsupportedComponent)},
		{"MISC29Clear_Order12Before13_HighOf32Bit", sandybridge, 0x4403, wValid(vmx.ErrUnsupportedComponent)},
		{"MISC29Set_ExitReason", skylake, 0x4402, wSucceed},
		{"MISC29Set_ExitQualification", skylake, 0x6400, wSucceed},
		{"MISC29Set_GuestPhysicalAddress", skylake, 0x2400, wSucceed},
		{"MISC29Clear_GuestStateWritable", sandybridge, 0x681E, wSucceed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.caps(t)).on(true)
			before, o := r.read(tc.enc)
			if tc.want.err == vmx.ErrUnsupportedComponent {
				checkOutcome(t, tc.want, o)
			} else {
				checkOutcome(t, wSucceed, o) // VMREAD of a read-only field is fine
			}
			checkOutcome(t, tc.want, r.write(tc.enc, 0x7777))
			if tc.want.kind == vmx.FailValid {
				assert.Equal(t, uint64(tc.want.err), r.instrError())
				if tc.enc != 0x4400 && tc.want.err == vmx.ErrVMWRITEReadOnly {
					after, _ := r.read(tc.enc)
					assert.Equal(t, before, after, "the failed VMWRITE changed nothing")
				}
			} else {
				after, _ := r.read(tc.enc)
				assert.Equal(t, uint64(0x7777), after)
			}
		})
	}
}

// Width semantics of VMREAD and VMWRITE (Vol. 2 / 3C 31.3 VMREAD and
// VMWRITE Description; Vol. 3C 25.11.2):
//   - VMWRITE: "If the VMCS field is shorter than the effective operand
//     size, the high bits of the source operand are ignored. If the VMCS
//     field is longer than the effective operand size, the high bits of
//     the field are cleared to 0."
//   - VMREAD: "If the VMCS field is shorter than the effective operand
//     size, the high bits of the destination operand are cleared to 0. If
//     the VMCS field is longer, the high bits of the field are not read."
//   - The high access type (encoding bit 0 = 1) of a 64-bit field reads
//     and writes bits 63:32 of the field as a 32-bit field.
//
// The operand size is 64 bits in 64-bit mode and 32 bits otherwise.
func TestVMREADVMWRITE_WidthSemantics(t *testing.T) {
	const (
		f16  = 0x0800 // Guest ES selector
		f32  = 0x4004 // Exception bitmap
		f64  = 0x2010 // TSC offset
		f64h = 0x2011 // TSC offset (high)
		fNat = 0x681E // Guest RIP
	)
	type access struct {
		mode64 bool
		enc    uint64
		val    uint64
	}
	for _, tc := range []struct {
		name   string
		preset uint64 // written in 64-bit mode with full access first
		write  access
		read   access
		want   uint64
	}{
		{"16Bit_64BitMode_HighSourceBitsIgnored", 0, access{true, f16, 0xFFFF_FFFF_1234_5678}, access{true, f16, 0}, 0x5678},
		{"16Bit_32BitMode", 0, access{false, f16, 0x1234_5678}, access{false, f16, 0}, 0x5678},
		{"16Bit_ReadZeroExtended", 0xABCD, access{true, f32, 0}, access{true, f16, 0}, 0xABCD},
		{"32Bit_64BitMode_HighSourceBitsIgnored", 0, access{true, f32, 0xAAAA_BBBB_CCCC_DDDD}, access{true, f32, 0}, 0xCCCC_DDDD},
		{"32Bit_32BitMode", 0, access{false, f32, 0x8765_4321}, access{true, f32, 0}, 0x8765_4321},
		{"64Bit_64BitMode_Full", 0, access{true, f64, 0x1122_3344_5566_7788}, access{true, f64, 0}, 0x1122_3344_5566_7788},
		{"64Bit_ReadHigh_64BitMode", 0, access{true, f64, 0x1122_3344_5566_7788}, access{true, f64h, 0}, 0x1122_3344},
		{"64Bit_ReadHigh_32BitMode", 0, access{true, f64, 0x1122_3344_5566_7788}, access{false, f64h, 0}, 0x1122_3344},
		{"64Bit_ReadFull_32BitMode_LowHalf", 0, access{true, f64, 0x1122_3344_5566_7788}, access{false, f64, 0}, 0x5566_7788},
		{"64Bit_WriteFull_32BitMode_ClearsHigh", 0x1122_3344_5566_7788, access{false, f64, 0xDEAD_BEEF}, access{true, f64, 0}, 0xDEAD_BEEF},
		{"64Bit_WriteHigh_64BitMode_KeepsLow", 0x1122_3344_5566_7788, access{true, f64h, 0xFFFF_FFFF_AABB_CCDD}, access{true, f64, 0}, 0xAABB_CCDD_5566_7788},
		{"64Bit_WriteHigh_32BitMode_KeepsLow", 0x1122_3344_5566_7788, access{false, f64h, 0xAABB_CCDD}, access{true, f64, 0}, 0xAABB_CCDD_5566_7788},
		{"Natural_64BitMode", 0, access{true, fNat, 0xFFFF_8000_0000_1000}, access{true, fNat, 0}, 0xFFFF_8000_0000_1000},
		{"Natural_WriteIn32BitMode_ClearsHigh", 0xFFFF_FFFF_0000_1000, access{false, fNat, 0x1234_5678}, access{true, fNat, 0}, 0x1234_5678},
		{"Natural_ReadIn32BitMode_LowHalf", 0, access{true, fNat, 0xFFFF_FFFF_8765_4321}, access{false, fNat, 0}, 0x8765_4321},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, skylake(t)).on(true)
			mode := func(m64 bool) {
				if m64 {
					r.ctx = ctx64()
				} else {
					r.ctx = ctx32()
				}
			}
			if tc.preset != 0 {
				checkOutcome(t, wSucceed, r.write(tc.read.enc&^1, tc.preset))
			}
			mode(tc.write.mode64)
			checkOutcome(t, wSucceed, r.write(tc.write.enc, tc.write.val))
			mode(tc.read.mode64)
			got, o := r.read(tc.read.enc)
			checkOutcome(t, wSucceed, o)
			assert.Equal(t, tc.want, got, "%#x", got)
		})
	}
}

// VMCALL in VMX root operation without the dual-monitor treatment (not in
// SMM, no valid IA32_SMM_MONITOR_CTL): "VMfail(VMCALL executed in VMX root
// operation)" — VMfailValid(1) with a current VMCS, VMfailInvalid without.
func TestVMCALL_InRoot_VMfail1(t *testing.T) {
	r := newRig(t, skylake(t)).on(false)
	checkOutcome(t, wInvalid, r.do(vmx.InsnVMCALL, 0))
	r.must(vmx.InsnVMPTRLD, vmcsPA)
	checkOutcome(t, wValid(vmx.ErrVMCALLInRoot), r.do(vmx.InsnVMCALL, 0))
	assert.Equal(t, uint64(1), r.instrError())
	assert.Equal(t, vmx.Root, r.cpu.Mode())
}

// VMfailValid writes its error to the current VMCS only: another active
// VMCS keeps its VM-instruction error field, and a later VMfailValid
// overwrites the previous number.
func TestVMfailValid_WritesCurrentVMCSOnly(t *testing.T) {
	r := newRig(t, skylake(t)).on(false)
	r.must(vmx.InsnVMPTRLD, vmcs2PA)
	r.must(vmx.InsnVMPTRLD, vmcsPA)
	checkOutcome(t, wValid(vmx.ErrVMPTRLDVMXONPtr), r.do(vmx.InsnVMPTRLD, vmxonPA))
	assert.Equal(t, uint64(10), r.instrError())
	checkOutcome(t, wValid(vmx.ErrUnsupportedComponent), r.write(0x8000, 0))
	assert.Equal(t, uint64(12), r.instrError())
	r.must(vmx.InsnVMPTRLD, vmcs2PA)
	assert.Zero(t, r.instrError(), "the other VMCS's error field is untouched")
}

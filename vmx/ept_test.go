package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// fullCaps are a model's capabilities with every control its dump has
// (EPT and VPID included), as a model that honours them will report.
func fullCaps(t *testing.T, model string) *Caps {
	t.Helper()
	m, err := msr.Lookup(model)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	c, err := NewCaps(p.ModelVMX, nil, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	return c
}

// eptVMCS is entryVMCS on the full Sandy Bridge EP with "activate
// secondary controls" and the given secondary controls.
func eptVMCS(t *testing.T, model string, sec uint64, fields map[uint32]uint64) (*CPU, ram) {
	t.Helper()
	v, mem := entryVMCSWith(t, fullCaps(t, model))
	require.Equal(t, Succeed, v.VMWRITE(encProcCtls, snbProc|procActivateSecondary, true).Kind)
	require.Equal(t, Succeed, v.VMWRITE(encProcCtls2, sec, true).Kind)
	for enc, val := range fields {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
	}
	return v, mem
}

// TestEntryEPTVPID: the VPID and EPTP checks of SDM Vol. 3C 27.2.1.1
// (EPTP layout 25.6.11), each a VMfailValid(7) naming the field; values
// from the Sandy Bridge EP and Skylake SP dumps (IA32_VMX_EPT_VPID_CAP
// 0x00000F0106134141 and 0x00000F0106734141: WB and UC, 4-level walks,
// A/D flags on Skylake only).
func TestEntryEPTVPID(t *testing.T) {
	const wb4 = 0x5000 | 3<<3 | 6
	for _, tc := range []struct {
		name   string
		model  string
		sec    uint64
		fields map[uint32]uint64
		field  string // "" = the checks pass
		rule   string
	}{
		{"VPID 1", "sandybridge-ep", proc2VPID, map[uint32]uint64{encVPID: 1}, "", ""},
		{"VPID 0", "sandybridge-ep", proc2VPID, map[uint32]uint64{encVPID: 0}, "Virtual-processor identifier", "0000H"},
		{"VPID 0 without enable VPID", "sandybridge-ep", 0, map[uint32]uint64{encVPID: 0}, "", ""},
		{"EPTP WB 4-level", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: wb4}, "", ""},
		{"EPTP UC 4-level", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: 0x5000 | 3<<3}, "", ""},
		{"EPTP memory type 5", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: 0x5000 | 3<<3 | 5}, "EPT pointer", "memory type"},
		{"EPTP walk length 3", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: 0x5000 | 2<<3 | 6}, "EPT pointer", "page-walk length of 3"},
		{"EPTP walk length 5 (no 5-level EPT)", "skylake-sp", proc2EPT, map[uint32]uint64{encEPTP: 0x5000 | 4<<3 | 6}, "EPT pointer", "bit 7"},
		{"EPTP A/D on Sandy Bridge", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: wb4 | 1<<6}, "EPT pointer", "bit 21"},
		{"EPTP A/D on Skylake", "skylake-sp", proc2EPT, map[uint32]uint64{encEPTP: wb4 | 1<<6}, "", ""},
		{"EPTP bit 8", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: wb4 | 1<<8}, "EPT pointer", "11:7"},
		{"EPTP beyond MAXPHYADDR", "sandybridge-ep", proc2EPT, map[uint32]uint64{encEPTP: wb4 | 1<<46}, "EPT pointer", "MAXPHYADDR"},
		{"EPTP invalid but EPT off", "sandybridge-ep", 0, map[uint32]uint64{encEPTP: 7}, "", ""},
		{"VPID checked before EPTP", "sandybridge-ep", proc2VPID | proc2EPT, map[uint32]uint64{encEPTP: 7}, "Virtual-processor identifier", "0000H"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := eptVMCS(t, tc.model, tc.sec, tc.fields)
			o, done := v.Enter(true, &host32, mem)
			if tc.field == "" {
				require.False(t, done, "%s", o)
				return
			}
			require.True(t, done)
			assert.Equal(t, FailValid, o.Kind)
			assert.Equal(t, ErrEntryInvalidControl, o.Err)
			assert.Equal(t, uint64(7), instrError(t, v))
			assert.Contains(t, o.Why, tc.field)
			assert.Contains(t, o.Why, tc.rule)
			assert.Contains(t, o.Why, "27.2.1.1")
		})
	}
}

// TestGuestPDPTEsUnderEPT: with EPT a PAE guest's PDPTEs are the
// guest-state fields, checked for reserved bits (27.3.1.6, exit
// qualification 2) and loaded from there (27.3.2.4); without EPT they
// come from guest CR3.
func TestGuestPDPTEsUnderEPT(t *testing.T) {
	pae := map[uint32]uint64{encEPTP: 0x5000 | 3<<3 | 6, encGuestCR4: arch.CR4VMXE | arch.CR4PAE, encGuestCR3: 0x4000,
		encGuestPDPTE0: 0x7001, encGuestPDPTE0 + 6: 0x8001}
	v, mem := eptVMCS(t, "sandybridge-ep", proc2EPT, pae)
	_, done := v.Enter(true, &host32, mem)
	require.False(t, done)
	p, ok := v.GuestPDPTEs()
	require.True(t, ok)
	assert.Equal(t, [4]uint64{0x7001, 0, 0, 0x8001}, p)

	pae[encGuestPDPTE0+2] = 1 | 1<<5 // reserved bit 5
	v, mem = eptVMCS(t, "sandybridge-ep", proc2EPT, pae)
	o, done := v.Enter(true, &host32, mem)
	require.True(t, done)
	assert.Equal(t, EntryFailed, o.Kind)
	assert.Contains(t, o.Why, "PDPTE1")
	q, _ := v.VMREAD(encExitQual, true)
	assert.Equal(t, uint64(2), q)

	// Without EPT the PDPTE fields do not count.
	v, mem = eptVMCS(t, "sandybridge-ep", 0, pae)
	_, done = v.Enter(true, &host32, mem)
	require.False(t, done)
	_, ok = v.GuestPDPTEs()
	assert.False(t, ok)
}

// TestINVEPTINVVPIDOperands: the VMfail(28) rules of SDM Vol. 3C 31.3
// INVEPT and INVVPID, and the #UD of a processor without them.
func TestINVEPTINVVPIDOperands(t *testing.T) {
	v, _ := eptVMCS(t, "sandybridge-ep", 0, nil)
	for typ, ok := range map[uint64]bool{0: false, 1: true, 2: true, 3: false, 1 << 32: false} {
		_, bad := v.INVEPTType(typ)
		assert.Equal(t, !ok, bad, "INVEPT type %d", typ)
	}
	o, _ := v.INVEPTType(3)
	assert.Equal(t, ErrInvalidINVEPTOperand, o.Err)
	assert.Equal(t, uint64(28), instrError(t, v))
	o, eptp, all := v.INVEPT(1, [2]uint64{0x5000 | 3<<3 | 6, 0xdead})
	assert.Equal(t, Succeed, o.Kind, "bits 127:64 are not checked")
	assert.Equal(t, uint64(0x501E), eptp)
	assert.False(t, all)
	o, _, _ = v.INVEPT(1, [2]uint64{0x5000 | 3<<3 | 6 | 1<<6, 0})
	assert.Equal(t, ErrInvalidINVEPTOperand, o.Err, "A/D without the capability")
	o, _, all = v.INVEPT(2, [2]uint64{0xFFFF, 0})
	assert.Equal(t, Succeed, o.Kind, "all-context ignores the EPTP")
	assert.True(t, all)

	for typ, ok := range map[uint64]bool{0: true, 1: true, 2: true, 3: true, 4: false} {
		_, bad := v.INVVPIDType(typ)
		assert.Equal(t, !ok, bad, "INVVPID type %d", typ)
	}
	for _, tc := range []struct {
		typ  uint64
		desc [2]uint64
		ok   bool
	}{
		{0, [2]uint64{1, 0x1000}, true},
		{0, [2]uint64{0, 0x1000}, false},                // VPID 0
		{0, [2]uint64{1, 0x0000_8000_0000_0000}, false}, // not canonical
		{0, [2]uint64{1, 0xFFFF_8000_0000_0000}, true},  // canonical
		{0, [2]uint64{1 | 1<<16, 0}, false},             // bits 63:16
		{1, [2]uint64{5, 0x0000_8000_0000_0000}, true},  // the address is ignored
		{1, [2]uint64{0, 0}, false},                     // VPID 0
		{2, [2]uint64{0, 0}, true},                      // all-context: any VPID
		{2, [2]uint64{1 << 63, 0}, false},               // reserved bits still checked
		{3, [2]uint64{0, 0}, false},                     // VPID 0
		{3, [2]uint64{0xFFFF, 0}, true},
	} {
		o := v.INVVPID(tc.typ, tc.desc)
		if tc.ok {
			assert.Equal(t, Succeed, o.Kind, "type %d desc %#x: %s", tc.typ, tc.desc, o)
		} else {
			assert.Equal(t, ErrInvalidINVEPTOperand, o.Err, "type %d desc %#x", tc.typ, tc.desc)
		}
	}

	// #UD without the instruction: the guest-visible (masked) Sandy
	// Bridge has neither EPT nor VPID yet; the full one has both.
	full := fullCaps(t, "sandybridge-ep")
	assert.Nil(t, full.InvUD(true))
	assert.Nil(t, full.InvUD(false))
	m := modelMSRsFor(t, "sandybridge-ep")
	m[msr.VMXEPTVPIDCap] &^= 1 << 20
	c, err := NewCaps(func(i uint32) (uint64, bool) { x, ok := m[i]; return x, ok }, nil, 46, 48)
	require.NoError(t, err)
	require.NotNil(t, c.InvUD(true))
	assert.Equal(t, uint8(arch.VecUD), c.InvUD(true).Vector)
	assert.Contains(t, c.InvUD(true).Rule, "bit 20")
	assert.Nil(t, c.InvUD(false))
}

func modelMSRsFor(t *testing.T, name string) map[uint32]uint64 {
	t.Helper()
	m, err := msr.Lookup(name)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	out := map[uint32]uint64{}
	for i := msr.FirstVMX; i <= msr.LastVMX; i++ {
		if x, ok := p.ModelVMX(i); ok {
			out[i] = x
		}
	}
	return out
}

// TestInjectionErrorCodeWithoutURG: without "unrestricted guest" the
// guest is in protected mode whatever its CR0.PE field says, so a #GP
// injected needs "deliver error code" (SDM Vol. 3C 27.2.1.3: bit 11 is 1
// iff "unrestricted guest" is 0 or CR0.PE is 1, the type is hardware
// exception and the vector has an error code) — kvm-unit-tests
// vmx_controls_test "error code <-> (!URG || prot_mode)".
func TestInjectionErrorCodeWithoutURG(t *testing.T) {
	for _, tc := range []struct {
		info uint64
		fail bool
	}{
		{1<<31 | 3<<8 | 13, true},          // #GP without error code
		{1<<31 | 1<<11 | 3<<8 | 13, false}, // #GP with error code
		{1<<31 | 1<<11 | 3<<8 | 6, true},   // #UD has none
	} {
		v, mem := entryVMCS(t)
		require.Equal(t, Succeed, v.VMWRITE(encGuestCR0, 0x20, true).Kind) // PE = PG = 0
		require.Equal(t, Succeed, v.VMWRITE(encEntryIntrInfo, tc.info, true).Kind)
		o, _ := v.Enter(true, &host32, mem)
		if tc.fail {
			assert.Equal(t, ErrEntryInvalidControl, o.Err, "%#x", tc.info)
		} else {
			assert.NotEqual(t, FailValid, o.Kind, "%#x: %s", tc.info, o)
		}
	}
}

package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestEntryEPTFeatures: the VM-entry checks of SDM Vol. 3C 27.2.1.1 for
// PML, mode-based execute control, VM functions and EPT-violation #VE,
// each a VMfailValid(7) naming the field (Skylake SP's dump allows all
// four; IA32_VMX_VMFUNC = 1, EPTP switching only).
func TestEntryEPTFeatures(t *testing.T) {
	const wb4 = 0x5000 | 3<<3 | 6
	ept := map[uint32]uint64{encEPTP: wb4}
	with := func(m map[uint32]uint64, kv ...uint64) map[uint32]uint64 {
		out := map[uint32]uint64{}
		for k, v := range m {
			out[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			out[uint32(kv[i])] = kv[i+1]
		}
		return out
	}
	for _, tc := range []struct {
		name   string
		sec    uint64
		fields map[uint32]uint64
		field  string // "" = the checks pass
		rule   string
	}{
		{"PML with EPT", proc2EPT | proc2PML, with(ept, encPMLAddr, 0x8000), "", ""},
		{"PML without EPT", proc2PML, map[uint32]uint64{encPMLAddr: 0x8000}, "Secondary processor-based", "requires \"enable EPT\""},
		{"PML address unaligned", proc2EPT | proc2PML, with(ept, encPMLAddr, 0x8008), "PML address", "4-KByte aligned"},
		{"PML address beyond MAXPHYADDR", proc2EPT | proc2PML, with(ept, encPMLAddr, 1<<46), "PML address", "within 46 bits"},
		{"PML address not checked without PML", proc2EPT, with(ept, encPMLAddr, 0x8008), "", ""},
		{"MBEC with EPT", proc2EPT | proc2MBEC, ept, "", ""},
		{"MBEC without EPT", proc2MBEC, nil, "Secondary processor-based", "\"mode-based execute control for EPT\" (secondary control 22) requires"},
		{"EPTP switching", proc2EPT | proc2VMFunc, with(ept, encVMFuncCtls, 1, encEPTPList, 0x9000), "", ""},
		{"VM functions, none enabled, list not checked", proc2EPT | proc2VMFunc, with(ept, encEPTPList, 0x9001), "", ""},
		{"VM-function control bit 1 reserved", proc2EPT | proc2VMFunc, with(ept, encVMFuncCtls, 2), "VM-function controls", "bit 1 is reserved"},
		{"EPTP switching without EPT", proc2VMFunc, map[uint32]uint64{encVMFuncCtls: 1, encEPTPList: 0x9000}, "VM-function controls", "requires \"enable EPT\""},
		{"EPTP-list address unaligned", proc2EPT | proc2VMFunc, with(ept, encVMFuncCtls, 1, encEPTPList, 0x9800), "EPTP-list address", "4-KByte aligned"},
		{"EPTP-list address beyond MAXPHYADDR", proc2EPT | proc2VMFunc, with(ept, encVMFuncCtls, 1, encEPTPList, 1<<50), "EPTP-list address", "within 46 bits"},
		{"#VE", proc2EPT | proc2EPTVE, with(ept, encVEInfoAddr, 0xA000), "", ""},
		{"#VE information address unaligned", proc2EPT | proc2EPTVE, with(ept, encVEInfoAddr, 0xA004), "Virtualization-exception information address", "4-KByte aligned"},
		{"EPT checked before PML", proc2EPT | proc2PML, map[uint32]uint64{encEPTP: 7, encPMLAddr: 1}, "EPT pointer", "memory type"},
		{"PML checked before VM functions", proc2EPT | proc2PML | proc2VMFunc, with(ept, encPMLAddr, 1, encVMFuncCtls, 2), "PML address", "aligned"},
		// 27.2.1.1 lists VM functions, then VMCS shadowing, then #VE.
		{"VM functions checked before VMCS shadowing", proc2EPT | proc2VMFunc | Proc2VMCSShadowing,
			with(ept, encVMFuncCtls, 2, encVMREADBitmap, 1, encVMWRITEBitmap, 1), "VM-function controls", "bit 1 is reserved"},
		{"VMCS shadowing checked before #VE", proc2EPT | Proc2VMCSShadowing | proc2EPTVE,
			with(ept, encVMREADBitmap, 1, encVMWRITEBitmap, 0x7000, encVEInfoAddr, 1), "VMREAD-bitmap address", "4-KiB aligned"},
		{"#VE checked after VMCS shadowing", proc2EPT | Proc2VMCSShadowing | proc2EPTVE,
			with(ept, encVMREADBitmap, 0x6000, encVMWRITEBitmap, 0x7000, encVEInfoAddr, 1), "Virtualization-exception information address", "4-KByte aligned"},
		{"unrestricted guest checked before MBEC", proc2UnrestrictedGuest | proc2MBEC, nil, "Secondary processor-based", "\"unrestricted guest\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := eptVMCS(t, "skylake-sp", tc.sec, tc.fields)
			o, done := v.Enter(true, &host32, mem)
			if tc.field == "" {
				require.False(t, done, "%s", o)
				return
			}
			require.True(t, done)
			assert.Equal(t, FailValid, o.Kind)
			assert.Equal(t, uint64(7), instrError(t, v))
			assert.Contains(t, o.Why, tc.field)
			assert.Contains(t, o.Why, tc.rule)
			assert.Contains(t, o.Why, "27.2.1.1")
		})
	}
}

// TestPMLLog: a logged access writes its guest-physical address with
// bits 11:0 clear at PML address + 8 × index and decrements the index,
// which wraps from 0 to FFFFH; then the walk sees a full log (SDM Vol. 3C
// 29.3.6).
func TestPMLLog(t *testing.T) {
	v, mem := eptVMCS(t, "skylake-sp", proc2EPT|proc2PML, map[uint32]uint64{encEPTP: 0x5000 | 3<<3 | 6 | 1<<6, encPMLAddr: 0x8000, encPMLIndex: 1})
	assert.False(t, v.EPTControls().LogFull)
	at, idx, ok := v.PMLLog(0x12345678, mem)
	require.True(t, ok)
	assert.Equal(t, uint64(0x8008), at)
	assert.Equal(t, uint16(1), idx)
	assert.Equal(t, uint64(0x12345000), binary.LittleEndian.Uint64(mem[0x8008:]))
	assert.Equal(t, uint64(0), v.field(encPMLIndex))
	_, _, ok = v.PMLLog(0xABC000, mem)
	require.True(t, ok)
	assert.Equal(t, uint64(0xABC000), binary.LittleEndian.Uint64(mem[0x8000:]))
	assert.Equal(t, uint64(0xFFFF), v.field(encPMLIndex), "0 - 1 wraps to FFFFH")
	assert.True(t, v.EPTControls().LogFull)
	_, _, ok = v.PMLLog(0xDEF000, mem)
	assert.False(t, ok, "no entry past a full log")
	// Index 512 is out of range too.
	require.Equal(t, Succeed, v.VMWRITE(encPMLIndex, 512, true).Kind)
	assert.True(t, v.EPTControls().LogFull)
	// Without "enable PML" nothing is logged and the log is never full.
	require.Equal(t, Succeed, v.VMWRITE(encProcCtls2, proc2EPT, true).Kind)
	assert.False(t, v.EPTControls().LogFull)
	_, _, ok = v.PMLLog(0x1000, mem)
	assert.False(t, ok)
}

// TestVMFUNC: VMFUNC's #UD, VM-exit and EPTP-switching rules (SDM Vol.
// 2B VMFUNC; Vol. 3C 26.5.5.3).
func TestVMFUNC(t *testing.T) {
	const good = 0x6000 | 3<<3 | 6
	setup := func(t *testing.T, sec, ctls uint64) (*CPU, ram) {
		v, mem := eptVMCS(t, "skylake-sp", sec, map[uint32]uint64{encEPTP: 0x5000 | 3<<3 | 6, encVMFuncCtls: ctls, encEPTPList: 0x9000})
		binary.LittleEndian.PutUint64(mem[0x9000+8*3:], good)
		binary.LittleEndian.PutUint64(mem[0x9000+8*4:], 0x7000|3<<3|5) // memory type 5
		binary.LittleEndian.PutUint64(mem[0x9000+8*5:], 0x7000|2<<3|6) // 3-level walk
		return v, mem
	}
	for _, tc := range []struct {
		name     string
		sec      uint64
		ctls     uint64
		eax, ecx uint64
		ud, exit bool
		why      string
	}{
		{"switch to entry 3", proc2EPT | proc2VMFunc, 1, 0, 3, false, false, ""},
		{"VM functions off: #UD", proc2EPT, 1, 0, 3, true, false, "\"enable VM functions\""},
		{"EAX 64: #UD", proc2EPT | proc2VMFunc, 1, 64, 3, true, false, "EAX < 64"},
		{"function 1 not enabled: exit", proc2EPT | proc2VMFunc, 1, 1, 0, false, true, "VM function 1 is not enabled"},
		{"EPTP switching not enabled: exit", proc2EPT | proc2VMFunc, 0, 0, 3, false, true, "VM function 0 is not enabled"},
		{"ECX 512: exit", proc2EPT | proc2VMFunc, 1, 0, 512, false, true, "512 entries"},
		{"invalid memory type: exit", proc2EPT | proc2VMFunc, 1, 0, 4, false, true, "memory type"},
		{"invalid walk length: exit", proc2EPT | proc2VMFunc, 1, 0, 5, false, true, "page-walk length of 3"},
		{"empty entry 0: exit", proc2EPT | proc2VMFunc, 1, 0, 0, false, true, "would fail VM entry"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := setup(t, tc.sec, tc.ctls)
			o := v.VMFUNC(tc.eax, tc.ecx, mem)
			if tc.ud {
				require.NotNil(t, o.UD)
				assert.Contains(t, o.UD.Rule, tc.why)
				return
			}
			require.Nil(t, o.UD)
			assert.Equal(t, tc.exit, o.Exit)
			if tc.exit {
				assert.Contains(t, o.Why, tc.why)
				assert.Equal(t, uint64(0x5000|3<<3|6), v.field(encEPTP), "EPTP unchanged")
				return
			}
			assert.Equal(t, uint64(good), o.EPTP)
			assert.Equal(t, uint64(good), v.field(encEPTP), "the EPTP field holds the new EPTP")
			assert.Equal(t, uint64(tc.ecx), v.field(encEPTPIndex), "EPTP index: Skylake SP allows \"EPT-violation #VE\"")
			assert.Equal(t, uint64(good), v.Translation().EPTP)
		})
	}
}

// TestDeliverVE: the virtualization-exception information area (SDM Vol.
// 3C 26.5.6.2): exit reason 48 at 0, FFFFFFFFH at 4, the qualification,
// guest-linear and guest-physical addresses at 8, 16, 24, the EPTP index
// at 32; a nonzero semaphore means a VM exit instead (26.5.6.1).
func TestDeliverVE(t *testing.T) {
	v, mem := eptVMCS(t, "skylake-sp", proc2EPT|proc2EPTVE, map[uint32]uint64{encEPTP: 0x5000 | 3<<3 | 6, encVEInfoAddr: 0xA000, encEPTPIndex: 7})
	ok, area, why := v.DeliverVE(0x181, 0x7FFF1234, 0x5678, mem)
	require.True(t, ok, why)
	assert.Equal(t, uint64(0xA000), area)
	le32 := func(o int) uint32 { return binary.LittleEndian.Uint32(mem[0xA000+o:]) }
	le64 := func(o int) uint64 { return binary.LittleEndian.Uint64(mem[0xA000+o:]) }
	assert.Equal(t, uint32(48), le32(0))
	assert.Equal(t, uint32(0xFFFFFFFF), le32(4))
	assert.Equal(t, uint64(0x181), le64(8))
	assert.Equal(t, uint64(0x7FFF1234), le64(16))
	assert.Equal(t, uint64(0x5678), le64(24))
	assert.Equal(t, uint16(7), binary.LittleEndian.Uint16(mem[0xA000+32:]))
	ok, _, why = v.DeliverVE(0x181, 0, 0x9000, mem)
	assert.False(t, ok, "the semaphore is set")
	assert.Contains(t, why, "offset 4")
	assert.Equal(t, uint64(0x5678), le64(24), "nothing rewritten")
	binary.LittleEndian.PutUint32(mem[0xA004:], 0)
	ok, _, _ = v.DeliverVE(0x182, 0, 0x9000, mem)
	assert.True(t, ok, "software cleared the semaphore")
	require.Equal(t, Succeed, v.VMWRITE(encProcCtls2, proc2EPT, true).Kind)
	binary.LittleEndian.PutUint32(mem[0xA004:], 0)
	ok, _, why = v.DeliverVE(0x182, 0, 0x9000, mem)
	assert.False(t, ok)
	assert.Empty(t, why, "without the control there is nothing to explain")
}

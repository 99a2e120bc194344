package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// VMCS shadowing (SDM Vol. 3C 25.10, 27.2.1.1, 27.3.1.5; 31.3 VMREAD and
// VMWRITE "Operation"), on Skylake SP's capabilities (its dump allows
// "VMCS shadowing", secondary control 14, and VMWRITE to read-only fields,
// IA32_VMX_MISC[29]).

const (
	shReadBitmap  = 0x6000
	shWriteBitmap = 0x7000
	shShadow      = 0x8000 // the shadow VMCS region
)

func skyCaps(t *testing.T) *Caps {
	t.Helper()
	m, err := msr.Lookup("skylake-sp")
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	c, err := NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	require.True(t, c.Shadowing, "skylake-sp allows VMCS shadowing")
	return c
}

// shadowGuest enters entryVMCS's guest with VMCS shadowing, the bitmaps at
// shReadBitmap/shWriteBitmap (all 0: nothing exits) and the link pointer
// at a shadow VMCS region (revision with bit 31 set, VMCLEARed) whose
// guest RIP field (681EH) holds 0x1234 in the region.
func shadowGuest(t *testing.T, link uint64) (*CPU, ram) {
	t.Helper()
	v, mem := entryVMCSWith(t, skyCaps(t))
	rev := v.caps.Revision | 1<<31
	binary.LittleEndian.PutUint32(mem[shShadow:], rev)
	// Make the shadow's region hold 0x1234 in guest RIP: VMPTRLD it,
	// VMWRITE, VMCLEAR (which writes it back), VMPTRLD the ordinary VMCS.
	require.Equal(t, Succeed, v.VMPTRLD(shShadow, mem).Kind, "a shadow VMCS may be made current")
	require.Equal(t, Succeed, v.VMWRITE(0x681E, 0x1234, true).Kind)
	require.Equal(t, Succeed, v.VMCLEAR(shShadow, mem).Kind)
	require.Equal(t, Succeed, v.VMPTRLD(0x2000, mem).Kind)
	for enc, val := range map[uint32]uint64{
		encProcCtls: snbProc | procActivateSecondary, encProcCtls2: Proc2VMCSShadowing,
		encVMREADBitmap: shReadBitmap, encVMWRITEBitmap: shWriteBitmap, encGuestLinkPtr: link,
	} {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
	}
	_, done := v.Enter(true, &host32, mem)
	require.False(t, done)
	v.LoadGuestState(&arch.State{}, true, &GuestEntry{})
	require.True(t, v.Guest())
	return v, mem
}

func TestShadowVMREADVMWRITE(t *testing.T) {
	v, mem := shadowGuest(t, shShadow)
	ctx := Ctx{CR0: host32.CR0, CR4: host32.CR4, Mem: mem}
	check := func(insn Insn, enc uint64, cpl int) (Outcome, bool) {
		c := ctx
		c.Encoding, c.CPL = enc, cpl
		var o Outcome
		done := v.Check(insn, &c, &o)
		return o, done
	}
	// Bitmap bits 0: no exit; the CPL check follows (#GP(0) at CPL 3).
	_, done := check(InsnVMREAD, 0x681E, 0)
	assert.False(t, done, "VMREAD of 681EH goes to the shadow VMCS")
	o, done := check(InsnVMREAD, 0x681E, 3)
	require.True(t, done)
	assert.Equal(t, Fault, o.Kind, "CPL 3: #GP(0) after the exit decision")
	// The bit of 681EH (bits 14:0 of the encoding) set in the VMWRITE
	// bitmap: VMWRITE exits, VMREAD does not.
	mem[shWriteBitmap+0x681E/8] |= 1 << (0x681E % 8)
	o, done = check(InsnVMWRITE, 0x681E, 0)
	require.True(t, done)
	assert.Equal(t, Exit, o.Kind)
	_, done = check(InsnVMREAD, 0x681E, 0)
	assert.False(t, done)
	// An encoding with a bit in 63:15 set always exits.
	o, done = check(InsnVMREAD, 1<<15, 0)
	require.True(t, done)
	assert.Equal(t, Exit, o.Kind)

	// The shadow VMCS is not active: VMREAD reads its region, VMWRITE
	// writes it back.
	val, o := v.GuestVMREAD(0x681E, true, mem)
	require.Equal(t, Succeed, o.Kind, o.Why)
	assert.Equal(t, uint64(0x1234), val)
	require.Equal(t, Succeed, v.GuestVMWRITE(0x681E, 0x5678, true, mem).Kind)
	val, _ = v.GuestVMREAD(0x681E, true, mem)
	assert.Equal(t, uint64(0x5678), val)
	_, vals, err := v.caps.DecodeRegion(mem[shShadow : shShadow+uint64(v.caps.RegionSize)])
	require.NoError(t, err)
	assert.Equal(t, uint64(0x5678), vals[0x681E], "written to the region")
	cur, _ := v.VMREAD(0x681E, true)
	assert.NotEqual(t, uint64(0x5678), cur, "the current VMCS is untouched")
	// An unsupported encoding: VMfailValid(12) in the current VMCS.
	o = v.GuestVMWRITE(0x7FFE, 0, true, mem)
	assert.Equal(t, FailValid, o.Kind)
	assert.Equal(t, ErrUnsupportedComponent, o.Err)
	assert.Equal(t, uint64(ErrUnsupportedComponent), instrError(t, v))
}

// With the link pointer FFFFFFFF_FFFFFFFFH a shadowed VMREAD or VMWRITE is
// VMfailInvalid.
func TestShadowNoLinkPointer(t *testing.T) {
	v, mem := shadowGuest(t, invalidPtr)
	_, o := v.GuestVMREAD(0x681E, true, mem)
	assert.Equal(t, FailInvalid, o.Kind)
	assert.Equal(t, FailInvalid, v.GuestVMWRITE(0x681E, 1, true, mem).Kind)
}

// VM entry: a shadow VMCS as the current VMCS is VMfailInvalid; unaligned
// bitmaps are VMfailValid(7); the link pointer's bit 31 must equal the
// "VMCS shadowing" setting (VM-entry failure, reason 33, qualification 4).
func TestShadowEntryChecks(t *testing.T) {
	setup := func(t *testing.T, fields map[uint32]uint64) (*CPU, ram) {
		v, mem := entryVMCSWith(t, skyCaps(t))
		binary.LittleEndian.PutUint32(mem[shShadow:], v.caps.Revision|1<<31)
		binary.LittleEndian.PutUint32(mem[0x9000:], v.caps.Revision)
		for enc, val := range fields {
			require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
		}
		return v, mem
	}
	shadowOn := map[uint32]uint64{encProcCtls: snbProc | procActivateSecondary, encProcCtls2: Proc2VMCSShadowing,
		encVMREADBitmap: shReadBitmap, encVMWRITEBitmap: shWriteBitmap}
	with := func(m map[uint32]uint64, enc uint32, val uint64) map[uint32]uint64 {
		n := map[uint32]uint64{enc: val}
		for k, x := range m {
			if k != enc {
				n[k] = x
			}
		}
		return n
	}

	t.Run("shadow VMCS current", func(t *testing.T) {
		v, mem := setup(t, nil)
		require.Equal(t, Succeed, v.VMPTRLD(shShadow, mem).Kind)
		o, done := v.Enter(true, &host32, mem)
		require.True(t, done)
		assert.Equal(t, FailInvalid, o.Kind, o.Why)
	})
	for _, tc := range []struct {
		name   string
		fields map[uint32]uint64
		kind   Kind
		rule   string
	}{
		{"VMREAD bitmap unaligned", with(shadowOn, encVMREADBitmap, 0x6008), FailValid, "4-KiB aligned"},
		{"VMWRITE bitmap beyond MAXPHYADDR", with(shadowOn, encVMWRITEBitmap, 1<<46), FailValid, "within 46 bits"},
		{"shadowing, link pointer to an ordinary VMCS", with(shadowOn, encGuestLinkPtr, 0x9000), EntryFailed, "bit 31 = 1"},
		{"no shadowing, link pointer to a shadow VMCS", map[uint32]uint64{encGuestLinkPtr: shShadow}, EntryFailed, "bit 31 = 0"},
		{"shadowing, link pointer to a shadow VMCS", with(shadowOn, encGuestLinkPtr, shShadow), Succeed, ""},
		{"shadowing, no link pointer", shadowOn, Succeed, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := setup(t, tc.fields)
			o, done := v.Enter(true, &host32, mem)
			if tc.kind == Succeed {
				require.False(t, done, o.Why)
				return
			}
			require.True(t, done)
			require.Equal(t, tc.kind, o.Kind, o.Why)
			assert.Contains(t, o.Why, tc.rule)
			if tc.kind == FailValid {
				assert.Equal(t, uint64(ErrEntryInvalidControl), instrError(t, v))
			}
		})
	}
}

package vmx_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// truncate is a value as a field of width w keeps it after a VMWRITE in
// 64-bit mode (31.3 VMWRITE: the high bits of the source operand are
// ignored for a field shorter than the operand).
func truncate(w vmx.Width, v uint64) uint64 {
	switch w {
	case vmx.Width16:
		return v & 0xFFFF
	case vmx.Width32:
		return v & 0xFFFF_FFFF
	}
	return v
}

// fieldValue is a value distinct per field and per VMCS (seed), with every
// byte different so a misplaced or overlapping field shows.
func fieldValue(seed, i int) uint64 {
	x := uint64(seed)<<56 | uint64(i+1)*0x0001_0203_0405_0607 ^ 0x8040_2010_0804_0201
	return x
}

// A VMCS written with VMWRITE survives VMCLEAR (which "ensures that data
// for the VMCS referenced by the operand is in memory", 31.3 VMCLEAR) and
// a copy of its region to another 4-KiB-aligned address, loaded with
// VMPTRLD: VMREAD gives back every field. Several VMCSs are active at
// once and keep their own data (Vol. 3C 25.1: a processor may have many
// active VMCSs, one current). The launch state is clear after VMCLEAR.
func TestVMCS_RoundTrip_VMCLEARCopyVMPTRLD(t *testing.T) {
	models, err := msr.Models()
	require.NoError(t, err)
	for _, m := range models {
		t.Run(m.Name, func(t *testing.T) {
			r := newRig(t, modelCaps(t, m.Name)).on(false)
			fields := r.caps.Supported()
			writable := func(fl vmx.Field) bool { return fl.Type() != vmx.TypeReadOnly || r.caps.VMWriteAll }
			vmcss := []uint64{vmcsPA, vmcs2PA, vmcs3PA}
			for k, pa := range vmcss {
				launchedRegion(t, r.caps, r.mem, pa)
				r.must(vmx.InsnVMPTRLD, pa)
				for i, fl := range fields {
					if writable(fl) {
						require.Equal(t, vmx.Succeed, r.write(uint64(fl.Enc), fieldValue(k, i)).Kind, "%s", fl.Name)
					}
				}
			}
			// All three are active; each keeps its own values.
			assert.ElementsMatch(t, vmcss, r.cpu.ActiveVMCSs())
			check := func(k int, what string) {
				t.Helper()
				for i, fl := range fields {
					got, o := r.read(uint64(fl.Enc))
					require.Equal(t, vmx.Succeed, o.Kind, "%s", o)
					if writable(fl) {
						assert.Equal(t, truncate(fl.Width(), fieldValue(k, i)), got, "%s: %s", what, fl.Name)
					}
				}
			}
			for k, pa := range vmcss {
				r.must(vmx.InsnVMPTRLD, pa)
				check(k, "active")
			}
			for k, pa := range vmcss {
				r.must(vmx.InsnVMCLEAR, pa)
				assert.False(t, regionLaunched(t, r.caps, r.mem, pa), "launch state clear after VMCLEAR")
				assert.Equal(t, r.caps.Revision, r.mem.get32(pa), "VMCLEAR keeps the revision identifier")
				copyPA := uint64(0x40000 + k*0x1000)
				r.mem.WritePhys(copyPA, r.mem.bytes(pa, 4096))
				r.must(vmx.InsnVMPTRLD, copyPA)
				check(k, "copy")
			}
			assert.NotContains(t, r.cpu.ActiveVMCSs(), uint64(vmcsPA))
			// The diagnostic decoder reads the same values from a region.
			_, vals, err := r.caps.DecodeRegion(r.mem.bytes(vmcsPA, r.caps.RegionSize))
			require.NoError(t, err)
			for i, fl := range fields {
				if writable(fl) {
					assert.Equal(t, truncate(fl.Width(), fieldValue(0, i)), vals[fl.Enc], fl.Name)
				}
			}
		})
	}
}

// A VMCS made clear with VMCLEAR keeps its data in its region across
// VMXOFF and VMXON: VMPTRLD of it reads back its values.
func TestVMCS_RoundTrip_AcrossVMXOFF(t *testing.T) {
	r := newRig(t, skylake(t)).on(true)
	require.Equal(t, vmx.Succeed, r.write(0x681E, 0xFFFF_8000_1234_5678).Kind)
	r.must(vmx.InsnVMCLEAR, vmcsPA)
	r.must(vmx.InsnVMXOFF, 0)
	r.on(true)
	got, o := r.read(0x681E)
	require.Equal(t, vmx.Succeed, o.Kind)
	assert.Equal(t, uint64(0xFFFF_8000_1234_5678), got)
}

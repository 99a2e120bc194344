package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
)

// vmxemu's VMCS region layout (SDM Vol. 3C 25.2: the revision identifier
// in bytes 3:0, the VMX-abort indicator in bytes 7:4, the rest
// implementation-specific) must hold every field of each shipped model
// inside the region size the model reports (IA32_VMX_BASIC[44:32], Vol. 3D
// A.1), each at its own naturally aligned offset after the 16-byte header
// (revision, abort indicator, launch state). Checked for the guest-visible
// MSRs and for the full ones (every control of the real CPU).
func TestLayout_RealModels_FitsRegionSizeOfVMXBasic(t *testing.T) {
	models, err := msr.Models()
	require.NoError(t, err)
	for _, m := range models {
		p, err := msr.Resolve(m, nil)
		require.NoError(t, err)
		for _, view := range []struct {
			name string
			read func(uint32) (uint64, bool)
		}{{"guest", p.GuestVMX}, {"full", p.ModelVMX}} {
			t.Run(m.Name+"/"+view.name, func(t *testing.T) {
				c, err := NewCaps(view.read, nil, p.MaxPhysAddr(), 48)
				require.NoError(t, err)
				basic, _ := view.read(msr.VMXBasic)
				size := int(basic >> 32 & 0x1FFF)
				require.Len(t, c.offsets, len(c.supports))
				used := make([]bool, size)
				for i, f := range c.supports {
					off, n := c.offsets[i], f.Width().Size()
					assert.GreaterOrEqual(t, off, 16, "%s", f.Name)
					assert.Zero(t, off%n, "%s at %d is not %d-byte aligned", f.Name, off, n)
					if !assert.LessOrEqual(t, off+n, size, "%s beyond the region", f.Name) {
						continue
					}
					for b := off; b < off+n; b++ {
						assert.False(t, used[b], "%s overlaps another field at byte %d", f.Name, b)
						used[b] = true
					}
				}
			})
		}
	}
}

// NewCaps refuses a processor whose fields do not fit its region.
func TestLayout_RegionTooSmall_Refused(t *testing.T) {
	_, err := NewCaps(func(i uint32) (uint64, bool) {
		if i == msr.VMXBasic {
			return 1 | 64<<32, true // 64-byte region: far too small
		}
		return 0, false
	}, nil, 36, 48)
	assert.Error(t, err)
}

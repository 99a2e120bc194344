package msr

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

func TestFixedBits(t *testing.T) {
	p := resolve(t, "sandybridge-ep")
	cr0, cr4 := p.VMXFixed()
	assert.Equal(t, Fixed{0x80000021, 0xFFFFFFFF}, cr0)
	assert.Equal(t, Fixed{0x2000, 0x627FF}, cr4)
	for _, tc := range []struct {
		name         string
		cr0, cr4     bool // which register
		v            uint64
		unrestricted bool
		rule         string
	}{
		{"protected mode with paging and NE", true, false, 0x80000031, false, ""},
		{"NE clear", true, false, 0x80000011, false, "CR0.NE (bit 5) must be 1"},
		{"paging off", true, false, 0x21, false, "CR0.PG (bit 31) must be 1"},
		{"real mode with unrestricted guest", true, false, 0x20, true, ""},
		{"NE clear with unrestricted guest", true, false, 0x11, true, "CR0.NE"},
		{"CR0 bit 32", true, false, 1<<32 | 0x80000021, false, "CR0 bit 32 must be 0"},
		{"VMXE set", false, true, 0x2020, false, ""},
		{"VMXE clear", false, true, 0x20, false, "CR4.VMXE (bit 13) must be 1"},
		{"PCIDE on a model with PCID", false, true, 0x2000 | arch.CR4PCIDE, false, ""},
		{"OSXSAVE on a model with XSAVE", false, true, 0x2000 | arch.CR4OSXSAVE, false, ""},
		{"SMXE on a model whose SMX vmxemu hides", false, true, 0x2000 | 1<<14, false, "CR4.SMXE (bit 14) must be 0"},
	} {
		var f *arch.Fault
		if tc.cr0 {
			f = CheckCR0(cr0, tc.v, tc.unrestricted)
		} else {
			f = CheckCR4(cr4, tc.v)
		}
		if tc.rule == "" {
			assert.Nil(t, f, tc.name)
			continue
		}
		require.NotNil(t, f, tc.name)
		assert.Equal(t, uint8(arch.VecGP), f.Vector, tc.name)
		assert.Contains(t, f.Rule, tc.rule, tc.name)
		assert.Contains(t, f.SDM, "24.8", tc.name)
	}
	assert.Contains(t, FixedBitsExplained, "IA32_VMX_CR0_FIXED0")
}

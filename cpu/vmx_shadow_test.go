package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// VMREAD and VMWRITE in a 64-bit guest with VMCS shadowing (SDM Vol. 3C
// 31.3, their "Operation"; 25.10): with the encoding's bit clear in the
// VMREAD/VMWRITE bitmap they do not exit but read and write the shadow
// VMCS at the VMCS link pointer (VMsucceed: CF = ZF = 0); with it set
// they exit (reasons 23, 25). Skylake SP allows the control.
func TestVMCSShadowingInGuest(t *testing.T) {
	const (
		shadow = 0xB000
		rdBmap = 0xC000
		wrBmap = 0xD000
		encRIP = 0x681E // guest RIP: a field of the shadow VMCS
		vmcall = 0xC1   // 0F 01 C1
	)
	fields := map[uint64]uint64{
		0x4002: testProcDefault | 1<<31, 0x401E: vmx.Proc2VMCSShadowing,
		0x2026: rdBmap, 0x2028: wrBmap, 0x2800: shadow,
	}
	for _, tc := range []struct {
		name   string
		code   []byte
		bitmap uint64 // the bitmap whose bit for encRIP is set (0: none)
		reason uint32
		rip    uint64 // the guest RIP saved: the exiting instruction's
		rbx    uint64 // RBX after (VMREAD's destination)
		shadow uint64 // the shadow VMCS's guest RIP after
	}{
		// VMREAD RBX, RAX (0F 78 C3); VMCALL.
		{name: "shadowed VMREAD", code: []byte{0x0F, 0x78, 0xC3, 0x0F, 0x01, vmcall},
			reason: 18, rip: 0x11003, rbx: 0xABCD, shadow: 0xABCD},
		// VMWRITE RAX, RBX (0F 79 C3): RBX = 0x5555 into the shadow.
		{name: "shadowed VMWRITE", code: []byte{0x0F, 0x79, 0xC3, 0x0F, 0x01, vmcall},
			reason: 18, rip: 0x11003, rbx: 0x5555, shadow: 0x5555},
		{name: "VMREAD with its bitmap bit set exits", code: []byte{0x0F, 0x78, 0xC3}, bitmap: rdBmap,
			reason: 23, rip: 0x11000, rbx: 0x5555, shadow: 0xABCD},
		{name: "VMWRITE with its bitmap bit set exits", code: []byte{0x0F, 0x79, 0xC3}, bitmap: wrBmap,
			reason: 25, rip: 0x11000, rbx: 0x5555, shadow: 0xABCD},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmx64HarnessModel(t, "skylake-sp", fields)
			c := h.c
			ram := h.bus.ram
			// The shadow VMCS: made current, its guest RIP written, the
			// ordinary VMCS current again (the shadow stays active).
			binary.LittleEndian.PutUint32(ram[shadow:], c.vmx.Caps().Revision|1<<31)
			mem := vmxPhys{c}
			require.Equal(t, vmx.Succeed, c.vmx.VMPTRLD(shadow, mem).Kind)
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(encRIP, 0xABCD, true).Kind)
			require.Equal(t, vmx.Succeed, c.vmx.VMPTRLD(tprVMCS, mem).Kind)
			if tc.bitmap != 0 {
				ram[tc.bitmap+encRIP/8] |= 1 << (encRIP % 8)
			}
			copy(ram[0x11000:], tc.code)
			c.GPR[arch.RAX], c.GPR[arch.RBX] = encRIP, 0x5555
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits)
			assert.Equal(t, tc.rbx, c.GPR[arch.RBX], "RBX")
			v, ok := c.vmx.Field(shadow, encRIP)
			require.True(t, ok)
			assert.Equal(t, tc.shadow, v, "the shadow VMCS's field")
			assert.Equal(t, tc.rip, vmcsField(t, c, encRIP), "the current VMCS's guest RIP is the guest's own")
			if tc.reason == 18 {
				assert.Zero(t, vmcsField(t, c, 0x6820)&(arch.FlagCF|arch.FlagZF), "VMsucceed")
			}
		})
	}
}

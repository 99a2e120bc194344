package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// TestEPTExitInsideFarTransfer: an EPT violation in the middle of a far
// transfer — RET far and IRET to an outer privilege level reading the
// new SS descriptor, a CALL through a call gate pushing the return
// address — is a VM exit of that instruction (SDM Vol. 3C 28.2.1: the
// instruction does not complete; 28.3 saves the guest state as it was
// before it). The processor is then in the host with the host-state area
// loaded (28.5): the instruction's own undo of a partial transfer must
// not put the guest's CS, SS or CPL back over the host's.
func TestEPTExitInsideFarTransfer(t *testing.T) {
	const (
		gdt      = 0x20000 // guest GDT: two pages, the second not mapped by EPT
		selCS3   = 3<<3 | 3
		selSS3   = 512<<3 | 3 // in the second page
		selGate  = 4 << 3     // call gate to selGCS:0x11100
		selGCS   = 6 << 3     // the guest's own CS and SS (not the host's 0x08, 0x10)
		selGSS   = 7 << 3
		guestRSP = 0x8000
	)
	for _, tc := range []struct {
		name  string
		code  []byte
		stack []uint32 // at guestRSP, upwards
		gpa   uint64   // its EPT PTE is cleared
	}{
		{"RET far to CPL 3: SS descriptor", []byte{0xCB}, []uint32{0x11100, selCS3, 0x7000, selSS3}, gdt + 0x1000},
		{"IRET to CPL 3: SS descriptor", []byte{0xCF}, []uint32{0x11100, selCS3, 0x202, 0x7000, selSS3}, gdt + 0x1000},
		{"CALL through a call gate: the push", []byte{0x9A, 0, 0, 0, 0, selGate, 0}, nil, 0x7000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
			c := h.c
			ram := h.bus.ram
			put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
			put(gdt+1*8, 0x00CF9B000000FFFF)   // ring-0 code
			put(gdt+2*8, 0x00CF93000000FFFF)   // ring-0 data
			put(gdt+3*8, 0x00CFFB000000FFFF)   // ring-3 code
			put(gdt+6*8, 0x00CF9B000000FFFF)   // the guest's CS
			put(gdt+7*8, 0x00CF93000000FFFF)   // the guest's SS
			put(gdt+512*8, 0x00CFF3000000FFFF) // ring-3 data (SS)
			put(gdt+4*8, 0x0000EC0000301100)   // 32-bit call gate, DPL 3, selGCS:0x11100
			binary.LittleEndian.PutUint16(ram[gdt+4*8:], 0x1100)
			binary.LittleEndian.PutUint16(ram[gdt+4*8+2:], selGCS)
			for i, v := range tc.stack {
				binary.LittleEndian.PutUint32(ram[guestRSP+4*i:], v)
			}
			for enc, val := range map[uint64]uint64{
				0x6816: gdt, 0x4810: 0x1FFF, // guest GDTR
				0x0802: selGCS, 0x0804: selGSS, // guest CS, SS selectors
				0x681C: guestRSP,
			} {
				require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			copy(ram[0x11000:], tc.code)
			binary.LittleEndian.PutUint64(ram[eptPTE(tc.gpa):], 0)
			exits := exitRecorder(c)
			c.Run(4) // VMLAUNCH, the exit, the host's HLT
			require.Equal(t, []uint32{48}, *exits)
			assert.Equal(t, tc.gpa, vmcsField(t, c, 0x2400)&^0xFFF, "guest-physical page")
			assert.Equal(t, uint64(0x11000), vmcsField(t, c, 0x681E), "guest RIP: the instruction")
			assert.Equal(t, uint64(selGCS), vmcsField(t, c, 0x0802), "guest CS saved as before the instruction")
			assert.Equal(t, uint64(selGSS), vmcsField(t, c, 0x0804), "guest SS saved as before the instruction")
			assert.Equal(t, uint64(guestRSP), vmcsField(t, c, 0x681C), "guest RSP saved as before the instruction")
			assert.False(t, c.vmx.Guest())
			assert.Equal(t, uint16(0x08), c.Seg[arch.CS].Selector, "host CS")
			assert.Equal(t, uint16(0x10), c.Seg[arch.SS].Selector, "host SS")
			assert.Equal(t, uint64(0x9000), c.GPR[arch.RSP], "host RSP")
			assert.Equal(t, 0, c.CPL(), "host CPL")
			assert.Equal(t, uint64(0x12001), c.RIP, "host RIP, its HLT retired")
		})
	}
}

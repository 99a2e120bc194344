package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// MOV CR8 in a 64-bit guest (CR8 exists only in 64-bit mode): CR8-load
// and CR8-store exiting (SDM Vol. 3C 26.1.3; reason 28 with the
// control-register-access qualification of Table 28-3), and the TPR
// shadow (29.3: MOV from CR8 reads VTPR[7:4], MOV to CR8 writes VTPR and
// clears its other bits; 29.1.2: a VTPR[7:4] below the TPR threshold's
// bits 3:0 is a trap-like VM exit, reason 43, qualification 0).

const (
	tprVMXON   = 0x5000
	tprVMCS    = 0x6000
	tprVAPIC   = 0x7000
	tprVTPR    = tprVAPIC + 0x80
	encTPRTh   = 0x401C
	encVAPIC   = 0x2012
	encPendDbg = 0x6822
)

// vmx64Harness is a 64-bit harness CPU (newHarness(mode64): IA-32e mode,
// page tables at 1000H-3FFFH mapping 0-4 MiB) with Sandy Bridge EP's
// VMX in VMX root operation, and a current VMCS that passes every check
// of SDM Vol. 3C 27.2 and 27.3.1 for a 64-bit host ("host address-space
// size") and a 64-bit guest ("IA-32e mode guest", CS.L = 1) sharing the
// page tables: guest RIP 11000H, host RIP 12000H (HLT).
func vmx64Harness(t *testing.T, fields map[uint64]uint64) *harness {
	t.Helper()
	return vmx64HarnessModel(t, "sandybridge-ep", fields)
}

// vmx64HarnessModel is vmx64Harness with another CPU model's VMX.
func vmx64HarnessModel(t *testing.T, model string, fields map[uint64]uint64) *harness {
	t.Helper()
	m, err := msr.Lookup(model)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	caps, err := vmx.NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	h := newHarness(mode64)
	h.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}, VMX: caps}, h.base)
	for _, a := range []uint64{tprVMXON, tprVMCS} {
		binary.LittleEndian.PutUint32(h.bus.ram[a:], caps.Revision)
	}
	mem := vmxPhys{h.c}
	require.Equal(t, vmx.Succeed, h.c.vmx.VMXON(tprVMXON, mem).Kind)
	require.Equal(t, vmx.Succeed, h.c.vmx.VMPTRLD(tprVMCS, mem).Kind)
	all := map[uint64]uint64{
		0x4000: 0x16, 0x4002: testProcDefault, 0x400C: 0x00036DFB | 1<<9, 0x4012: 0x000011FB | 1<<9,
		0x6C00: 0x80000031, 0x6C04: arch.CR4VMXE | arch.CR4PAE, 0x6C02: harnessPML4, // host CR0, CR4, CR3
		0x0C00: 0x10, 0x0C02: 0x08, 0x0C04: 0x10, 0x0C06: 0x10, 0x0C0C: 0x18, 0x6C16: 0x12000, 0x6C14: 0x9000,
		0x6800: 0x80000031, 0x6804: arch.CR4VMXE | arch.CR4PAE, 0x6802: harnessPML4, // guest CR0, CR4, CR3
		0x681E: 0x11000, 0x6820: 2, 0x681C: 0x8000, 0x2800: ^uint64(0),
		0x4814 + 12: arch.ARUnusable,
		0x0800 + 14: 0x18, 0x4814 + 14: 0x8B, 0x4800 + 14: 0x67,
	}
	for i := uint64(0); i < 6; i++ {
		sel, ar := uint64(0x10), uint64(0xC093)
		if i == arch.CS {
			sel, ar = 0x08, 0xA09B // 64-bit code: L = 1, D = 0
		}
		all[0x0800+2*i], all[0x4814+2*i], all[0x4800+2*i] = sel, ar, 0xFFFFFFFF
	}
	for enc, val := range fields {
		all[enc] = val
	}
	for enc, val := range all {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	h.bus.ram[0x12000] = 0xF4
	return h
}

func TestCR8Exits(t *testing.T) {
	const tpr = testProcDefault | vmx.ProcUseTPRShadow
	for _, tc := range []struct {
		name   string
		fields map[uint64]uint64
		raxIn  uint64
		rflags uint64
		vtpr   uint32 // the virtual-APIC page's VTPR dword before
		code   []byte
		// Expected: exit reason, qualification, instruction length (for
		// the instruction exits), guest RIP saved, RAX after, VTPR dword
		// after, pending debug exceptions.
		reason, length uint32
		qual, rip, rax uint64
		vtprAfter      uint32
		pendDbg        uint64
	}{
		// MOV CR8, RCX (44 0F 22 C1): CR 8, access type 0 (MOV to CR),
		// register 1 in bits 11:8 (Table 28-3); the instruction's RIP.
		{name: "CR8-load exiting", fields: map[uint64]uint64{0x4002: testProcDefault | vmx.ProcCR8LoadExiting},
			code: []byte{0x44, 0x0F, 0x22, 0xC1}, reason: 28, qual: 8 | 1<<8, length: 4, rip: 0x11000},
		// MOV RDX, CR8 (44 0F 20 C2): access type 1 (MOV from CR),
		// register 2.
		{name: "CR8-store exiting", fields: map[uint64]uint64{0x4002: testProcDefault | vmx.ProcCR8StoreExiting},
			code: []byte{0x44, 0x0F, 0x20, 0xC2}, reason: 28, qual: 8 | 1<<4 | 2<<8, length: 4, rip: 0x11000},
		// CR8-store exiting is not overridden by the TPR shadow (26.1.3:
		// the shadow is used only when the exiting control is 0).
		{name: "CR8-store exiting with TPR shadow", fields: map[uint64]uint64{0x4002: tpr | vmx.ProcCR8StoreExiting, encVAPIC: tprVAPIC},
			code: []byte{0x44, 0x0F, 0x20, 0xC0}, reason: 28, qual: 8 | 1<<4, length: 4, rip: 0x11000},
		// MOV RAX, CR8 with the TPR shadow: VTPR 5AH gives 5 (bits 3:0
		// of VTPR[7:4], 63:4 cleared); then CPUID exits.
		{name: "MOV from CR8 reads VTPR", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC},
			raxIn: ^uint64(0), vtpr: 0x5A, code: []byte{0x44, 0x0F, 0x20, 0xC0, 0x0F, 0xA2},
			reason: 10, length: 2, rip: 0x11004, rax: 5, vtprAfter: 0x5A},
		// MOV CR8, RAX = 3 with threshold 2: VTPR = 30H, bits 3:0 and
		// 31:8 cleared; no exit until CPUID.
		{name: "MOV to CR8 writes VTPR", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC, encTPRTh: 2},
			raxIn: 3, vtpr: 0xFFFFFF5A, code: []byte{0x44, 0x0F, 0x22, 0xC0, 0x0F, 0xA2},
			reason: 10, length: 2, rip: 0x11004, rax: 3, vtprAfter: 0x30},
		// Threshold 4, VTPR 40H: writing 3 brings VTPR[7:4] below it:
		// a trap-like exit after the MOV (RIP of the next instruction),
		// qualification 0.
		{name: "TPR below threshold", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC, encTPRTh: 4},
			raxIn: 3, vtpr: 0x40, code: []byte{0x44, 0x0F, 0x22, 0xC0, 0x90},
			reason: 43, rip: 0x11004, rax: 3, vtprAfter: 0x30},
		// Equal is not below.
		{name: "TPR equal to threshold", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC, encTPRTh: 4},
			raxIn: 4, vtpr: 0x40, code: []byte{0x44, 0x0F, 0x22, 0xC0, 0x0F, 0xA2},
			reason: 10, length: 2, rip: 0x11004, rax: 4, vtprAfter: 0x40},
		// Single-stepped: the TPR-below-threshold exit has priority over
		// the instruction's single-step trap (29.1.2), which is saved as
		// a pending debug exception, BS (28.3.4).
		{name: "TPR below threshold, single-stepped", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC, encTPRTh: 4},
			raxIn: 3, rflags: 2 | arch.FlagTF, vtpr: 0x40, code: []byte{0x44, 0x0F, 0x22, 0xC0, 0x90},
			reason: 43, rip: 0x11004, rax: 3, vtprAfter: 0x30, pendDbg: arch.DR6BS},
		// A reserved bit (63:4) of the source is #GP(0) (the exception
		// bitmap takes it: reason 0, vector 13, hardware exception with
		// error code 0; the instruction length is not saved for a
		// hardware exception, 28.2.4); VTPR is left alone.
		{name: "MOV to CR8 with a reserved bit", fields: map[uint64]uint64{0x4002: tpr, encVAPIC: tprVAPIC, 0x4004: 1 << arch.VecGP},
			raxIn: 0x13, vtpr: 0x40, code: []byte{0x44, 0x0F, 0x22, 0xC0},
			reason: 0, rip: 0x11000, rax: 0x13, vtprAfter: 0x40},
		// The CR8-load exit comes before the reserved-bit #GP: the VMM
		// sees the value.
		{name: "CR8-load exiting before the reserved-bit #GP", fields: map[uint64]uint64{0x4002: testProcDefault | vmx.ProcCR8LoadExiting, 0x4004: 1 << arch.VecGP},
			raxIn: 0x13, code: []byte{0x44, 0x0F, 0x22, 0xC0}, reason: 28, qual: 8, length: 4, rip: 0x11000, rax: 0x13},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := tc.fields
			if tc.rflags != 0 {
				fields[0x6820] = tc.rflags
			}
			h := vmx64Harness(t, fields)
			c := h.c
			binary.LittleEndian.PutUint32(h.bus.ram[tprVTPR:], tc.vtpr)
			copy(h.bus.ram[0x11000:], tc.code)
			c.GPR[arch.RAX] = tc.raxIn
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			if tc.length != 0 {
				assert.Equal(t, uint64(tc.length), vmcsField(t, c, 0x440C), "instruction length")
			}
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.pendDbg, vmcsField(t, c, encPendDbg), "pending debug exceptions")
			assert.Equal(t, tc.rax, c.GPR[arch.RAX], "RAX")
			assert.Equal(t, tc.vtprAfter, binary.LittleEndian.Uint32(h.bus.ram[tprVTPR:]), "VTPR")
			assert.Zero(t, c.CR8, "the TPR is not touched")
			if tc.reason == 0 {
				assert.Equal(t, uint64(vmx.IntrInfo(arch.VecGP, vmx.IntrTypeHardware, true)), vmcsField(t, c, 0x4404), "#GP(0)")
			}
		})
	}
}

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

// vmxHarness is a 32-bit flat harness CPU with Sandy Bridge EP's VMX, in
// VMX root operation with a current VMCS at 0x2000 (VMXON region 0x1000).
func vmxHarness(t *testing.T) *harness {
	t.Helper()
	m, err := msr.Lookup("sandybridge-ep")
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	caps, err := vmx.NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	h := newHarness(mode32)
	h.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}, VMX: caps}, h.base)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(h.bus.ram[a:], caps.Revision)
	}
	mem := vmxPhys{h.c}
	require.Equal(t, vmx.Succeed, h.c.vmx.VMXON(0x1000, mem).Kind)
	require.Equal(t, vmx.Succeed, h.c.vmx.VMPTRLD(0x2000, mem).Kind)
	return h
}

// TestVMLAUNCHEntryFailure: a VMLAUNCH whose controls and host state pass
// their checks but whose guest CR0.NE is 0 fails VM entry with exit reason
// 33 (bit 31 set) and loads the host state, as a VM exit does (SDM Vol. 3C
// 27.3.1.1, 28.8, 28.5): RIP, CR3, RFLAGS = 2, CS as a 32-bit code segment.
func TestVMLAUNCHEntryFailure(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	for enc, val := range map[uint64]uint64{
		// The default control settings of the Sandy Bridge EP's TRUE MSRs.
		0x4000: 0x16, 0x4002: 0x04006172, 0x400C: 0x00036DFB, 0x4012: 0x000011FB,
		0x6C00: 0x80000031, 0x6C04: arch.CR4VMXE, 0x6C02: 0x3000, // host CR0, CR4, CR3
		0x0C02: 0x08, 0x0C04: 0x10, 0x0C0C: 0x18, 0x6C16: 0x401000, 0x6C14: 0x9000, // CS, SS, TR, RIP, RSP
		0x6800: 0x80000011, // guest CR0 without NE
	} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	var outcomes []vmx.Outcome
	c.Hooks = &Hooks{VMX: func(_ *CPU, o vmx.Outcome) { outcomes = append(outcomes, o) }}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	c.Run(1)
	require.Len(t, outcomes, 1)
	assert.Equal(t, vmx.EntryFailed, outcomes[0].Kind)
	assert.Contains(t, outcomes[0].Why, "CR0.NE")
	assert.Equal(t, uint64(0x401000), c.RIP, "host RIP")
	assert.Equal(t, uint64(0x3000), c.CR3, "host CR3")
	assert.Equal(t, uint64(0x9000), c.GPR[arch.RSP], "host RSP")
	assert.Equal(t, uint64(2), c.Flags(), "RFLAGS cleared but bit 1")
	assert.Equal(t, uint32(arch.ARP|arch.ARS|11|arch.ARG|arch.ARDB), c.Seg[arch.CS].Attr)
	r, o := c.vmx.VMREAD(0x4402, true)
	require.Equal(t, vmx.Succeed, o.Kind)
	assert.Equal(t, uint64(0x80000021), r, "exit reason 33 | 1<<31")
}

// TestVMLAUNCHFailsValid: a VMCS with a default-1 control clear fails with
// VMfailValid(7): ZF = 1, the error in the VMCS (SDM Vol. 3C 27.2.1.1,
// 31.2).
func TestVMLAUNCHFailsValid(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2, 0xF4}) // VMLAUNCH; HLT
	c.Run(2)
	assert.NotZero(t, c.Flags()&arch.FlagZF)
	assert.Zero(t, c.Flags()&arch.FlagCF)
	e, _ := c.vmx.VMREAD(0x4400, true)
	assert.Equal(t, uint64(7), e)
	assert.True(t, c.Halted(), "execution went on after the VMfail")
}

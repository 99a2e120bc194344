package machine

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
)

func testCPU(id int) *cpu.CPU {
	s := firmware.ResetState(DefaultCPUSignature)
	return cpu.New(cpu.Config{ID: id}, s)
}

func str4(regs ...uint32) string {
	b := make([]byte, 0, 4*len(regs))
	for _, r := range regs {
		b = binary.LittleEndian.AppendUint32(b, r)
	}
	return string(b)
}

func TestPlatformCPUID(t *testing.T) {
	p := NewPlatform(2, 5)
	c := testCPU(1)
	a, b, cc, d := p.CPUID(c, 0, 0)
	assert.Equal(t, uint32(0xD), a)
	assert.Equal(t, "GenuineIntel", str4(b, d, cc))

	a, b, cc, d = p.CPUID(c, 1, 0)
	assert.Equal(t, uint32(0x206D5), a)
	assert.Equal(t, uint32(1), b>>24, "initial APIC ID is the CPU index")
	assert.Equal(t, uint32(2), b>>16&0xFF, "logical processor count")
	assert.Equal(t, uint32(8), b>>8&0xFF, "CLFLUSH line size in 8-byte units")
	assert.Zero(t, cc, "no ECX features (VMX is not advertised yet)")
	assert.NotZero(t, d&(1<<6), "PAE")
	assert.Zero(t, d&(1<<0|1<<9|1<<12|1<<24|1<<25|1<<26), "no FPU, APIC, MTRR, FXSR, SSE, SSE2")

	a, _, _, _ = p.CPUID(c, 0x80000000, 0)
	assert.Equal(t, uint32(0x80000008), a)
	_, _, cc, d = p.CPUID(c, 0x80000001, 0)
	assert.Equal(t, uint32(1), cc)
	assert.Equal(t, uint32(1<<11|1<<20|1<<29), d)
	var brand string
	for l := uint32(0x80000002); l <= 0x80000004; l++ {
		a, b, cc, d := p.CPUID(c, l, 0)
		brand += str4(a, b, cc, d)
	}
	assert.Equal(t, BrandString+string(make([]byte, 48-len(BrandString))), brand)
	a, _, _, _ = p.CPUID(c, 0x80000008, 0)
	assert.Equal(t, uint32(0x302E), a)

	// Above the maximum: the highest basic leaf's data (zeros here).
	for _, l := range []uint32{0xE, 0x40000000, 0x80000009, 0xFFFFFFFF} {
		a, b, cc, d := p.CPUID(c, l, 0)
		wa, wb, wc, wd := p.CPUID(c, 0xD, 0)
		assert.Equal(t, [4]uint32{wa, wb, wc, wd}, [4]uint32{a, b, cc, d}, "leaf %#x", l)
	}
}

func TestPlatformMSRs(t *testing.T) {
	c := testCPU(0)
	p := NewPlatform(1, 5) // locked, VMX outside SMX
	v, f := p.ReadMSR(c, 0x3A)
	require.Nil(t, f)
	assert.Equal(t, uint64(5), v)
	f = p.WriteMSR(c, 0x3A, 0)
	require.NotNil(t, f)
	assert.Equal(t, uint8(arch.VecGP), f.Vector)
	assert.Contains(t, f.Rule, "lock")

	p = NewPlatform(1, 0) // unlocked: the guest may set it, then it locks
	require.Nil(t, p.WriteMSR(c, 0x3A, 5))
	v, _ = p.ReadMSR(c, 0x3A)
	assert.Equal(t, uint64(5), v)
	require.NotNil(t, p.WriteMSR(c, 0x3A, 0))
	p.Reset(0)
	v, _ = p.ReadMSR(c, 0x3A)
	assert.Zero(t, v)

	v, f = p.ReadMSR(c, 0x1B)
	require.Nil(t, f)
	assert.Equal(t, uint64(0xFEE00900), v)
	require.NotNil(t, p.WriteMSR(c, 0x1B, 0xFEE00901), "reserved bit")
	require.Nil(t, p.WriteMSR(c, 0x1B, 0xFEE00000))
	v, _ = p.ReadMSR(c, 0x1B)
	assert.Equal(t, uint64(0xFEE00100), v, "BSP flag is read-only")

	_, f = p.ReadMSR(c, 0x480)
	require.NotNil(t, f, "no VMX capability MSRs while VMX is not advertised")
	assert.Equal(t, "MSR 0x480 is not implemented by this CPU model", f.Rule)
	require.NotNil(t, p.WriteMSR(c, 0xC0000999, 0))
	require.NotNil(t, p.WriteMSR(c, 0xFE, 0), "MTRRCAP is read-only")
	require.Nil(t, p.WriteMSR(c, 0x8B, 0))
	require.Nil(t, p.WriteMSR(c, 0x2FF, 0xC06))
	require.NotNil(t, p.WriteMSR(c, 0x2FF, 1<<12))
}

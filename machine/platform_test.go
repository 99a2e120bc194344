package machine

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/msr"
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

func profile(t *testing.T, name string, toggles ...msr.Toggle) *msr.Profile {
	t.Helper()
	m, err := msr.Lookup(name)
	require.NoError(t, err)
	p, err := msr.Resolve(m, toggles)
	require.NoError(t, err)
	return p
}

func TestPlatformCPUID(t *testing.T) {
	p := NewPlatform(profile(t, msr.DefaultModel), msr.Flat(2), 2, 5)
	c := testCPU(1)
	a, b, cc, d := p.CPUID(c, 0, 0)
	assert.Equal(t, uint32(0xD), a)
	assert.Equal(t, "GenuineIntel", str4(b, d, cc))

	a, b, cc, d = p.CPUID(c, 1, 0)
	assert.Equal(t, uint32(DefaultCPUSignature), a)
	assert.Equal(t, uint32(1), b>>24, "initial APIC ID follows -smp")
	assert.Equal(t, uint32(2), b>>16&0xFF, "addressable logical processors per package")
	assert.Equal(t, uint32(8), b>>8&0xFF, "CLFLUSH line size in 8-byte units")
	assert.NotZero(t, cc&(1<<5), "the model's VMX is reported (VMX operation exists)")
	assert.NotZero(t, d&(1<<6), "PAE")
	assert.NotZero(t, d&(1<<28), "HTT with two logical processors")
	assert.Zero(t, d&(1<<0), "no FPU (x87 arithmetic)")
	assert.Equal(t, uint32(1<<23|1<<25|1<<26), d&(1<<23|1<<25|1<<26), "MMX, SSE, SSE2")
	assert.NotZero(t, d&(1<<9), "APIC")
	assert.Equal(t, uint32(1<<21|1<<24), cc&(1<<21|1<<24), "x2APIC and TSC-deadline")

	var brand string
	for l := uint32(0x80000002); l <= 0x80000004; l++ {
		a, b, cc, d := p.CPUID(c, l, 0)
		brand += str4(a, b, cc, d)
	}
	assert.Contains(t, brand, "Genuine Intel(R) CPU  @ 2.60GHz")
	a, _, _, _ = p.CPUID(c, 0x80000008, 0)
	assert.Equal(t, uint32(0x302E), a)
	for _, l := range []uint32{0xE, 0x40000000, 0x80000009} {
		a, b, cc, d := p.CPUID(c, l, 0)
		wa, wb, wc, wd := p.CPUID(c, 0xD, 0)
		assert.Equal(t, [4]uint32{wa, wb, wc, wd}, [4]uint32{a, b, cc, d}, "leaf %#x: the highest basic leaf's data", l)
	}
}

func TestPlatformMSRs(t *testing.T) {
	c := testCPU(0)
	p := NewPlatform(profile(t, msr.DefaultModel), msr.Flat(1), 1, 5)
	v, f := p.ReadMSR(c, 0x3A)
	require.Nil(t, f)
	assert.Equal(t, uint64(5), v)
	f = p.WriteMSR(c, 0x3A, 0)
	require.NotNil(t, f)
	assert.Equal(t, uint8(arch.VecGP), f.Vector)
	assert.Contains(t, f.Rule, "lock")

	p.Reset(0) // unlocked: the guest may set it, then it locks
	require.Nil(t, p.WriteMSR(c, 0x3A, 5))
	v, _ = p.ReadMSR(c, 0x3A)
	assert.Equal(t, uint64(5), v)
	require.NotNil(t, p.WriteMSR(c, 0x3A, 0))

	v, f = p.ReadMSR(c, 0x1B)
	require.Nil(t, f)
	assert.Equal(t, uint64(0xFEE00900), v)
	require.NotNil(t, p.WriteMSR(c, 0x1B, 0xFEE00901), "reserved bit")
	require.Nil(t, p.WriteMSR(c, 0x1B, 0xFEE00000))
	v, _ = p.ReadMSR(c, 0x1B)
	assert.Equal(t, uint64(0xFEE00100), v, "BSP flag is read-only")

	_, f = p.ReadMSR(c, 0x491)
	require.NotNil(t, f, "no IA32_VMX_VMFUNC: Sandy Bridge EP has no VM functions (IA32_VMX_PROCBASED_CTLS2 bit 45 is 0)")
	// IA32_VMX_PROCBASED_CTLS2 with the secondary controls vmxemu
	// honours that the dump's 0x4FF has — all of them: virtualize APIC
	// accesses (0), enable EPT (1), descriptor-table exiting (2), enable
	// RDTSCP (3), virtualize x2APIC mode (4), enable VPID (5), WBINVD
	// exiting (6), unrestricted guest (7), PAUSE-loop exiting (10) (SDM
	// Vol. 3C Table 25-7).
	v, f = p.ReadMSR(c, 0x48B)
	require.Nil(t, f)
	assert.Equal(t, uint64(0x4FF)<<32, v)
	require.NotNil(t, p.WriteMSR(c, 0xC0000999, 0))
	require.NotNil(t, p.WriteMSR(c, 0xFE, 0), "MTRRCAP is read-only")
}

func TestPlatformVMX(t *testing.T) {
	c := testCPU(0)
	p := NewPlatform(profile(t, "sandybridge-ep"), msr.Flat(1), 1, 5)
	_, _, cc, _ := p.CPUID(c, 1, 0)
	assert.NotZero(t, cc&(1<<5))
	v, f := p.ReadMSR(c, 0x480)
	require.Nil(t, f)
	assert.Equal(t, uint64(0x00DA040000000010)&^(1<<49), v, "the dump's, without dual-monitor support (not modelled)")
}

func TestMachineUsesModel(t *testing.T) {
	m, err := New(Config{RAMSize: 1 << 20, CPUs: 2, CPUModel: profile(t, "icelake-sp"),
		Topology: msr.Topology{Sockets: 2, Dies: 1, Cores: 1, Threads: 1}})
	require.NoError(t, err)
	require.NoError(t, m.Load(func(mem firmware.Memory) (*firmware.Boot, error) {
		return firmware.LoadFlat(mem, []byte{0xF4}, 0x1000, 0x1000, firmware.Mode32Flat)
	}))
	assert.Equal(t, uint64(0x606A6), m.CPU(1).GPR[arch.RDX], "APs reset with the model's signature in EDX")
	_, b, _, _ := m.platform.CPUID(m.CPU(1), 1, 0)
	assert.Equal(t, uint32(1), b>>24, "socket 1's APIC ID")
}

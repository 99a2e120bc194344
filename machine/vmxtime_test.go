package machine

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/vmx"
)

// ramPhys is the board's RAM as package vmx reads and writes it.
type ramPhys struct{ r *RAM }

func (p ramPhys) ReadPhys(pa uint64, b []byte) bool  { return p.r.ReadPhys(pa, b) == nil }
func (p ramPhys) WritePhys(pa uint64, b []byte) bool { return p.r.WritePhys(pa, b) == nil }

// vmxBoard is a one-CPU board (Sandy Bridge EP, 32-bit flat) whose code
// at 1 MiB is VMLAUNCH, in VMX root operation with a current VMCS for a
// guest of NOPs at 310000H that exits on external interrupts,
// acknowledging them (SDM Vol. 3C 26.2, 28.2.2); host RIP is a jmp $
// at 100010H. Host and guest share 4 MiB identity pages (PSE). The
// local APIC's timer is one-shot, divide by 1, vector 30H, not started.
func vmxBoard(t *testing.T) (*Machine, *cpu.CPU) {
	t.Helper()
	code := make([]byte, 0x12)
	copy(code, []byte{0x0F, 0x01, 0xC2}) // vmlaunch
	copy(code[0x10:], jmpSelf)
	b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.CPUModel = profile(t, "sandybridge-ep") })
	m, c := b.m, b.m.cpus[0]
	v := c.VMX()
	require.NotNil(t, v)
	const pd, vmxon, vmcs, guest = 0x300000, 0x301000, 0x302000, 0x310000
	for i := uint64(0); i < 4; i++ { // 4 MiB pages: P RW US A D PS
		require.NoError(t, m.ram.WritePhys(pd+4*i, binary.LittleEndian.AppendUint32(nil, uint32(i<<22|0xE7))))
	}
	for _, a := range []uint64{vmxon, vmcs} {
		require.NoError(t, m.ram.WritePhys(a, binary.LittleEndian.AppendUint32(nil, v.Caps().Revision)))
	}
	nops := make([]byte, 4096)
	for i := range nops {
		nops[i] = 0x90
	}
	require.NoError(t, m.ram.WritePhys(guest, nops))
	s := c.GetState()
	s.CR0 |= arch.CR0PG | arch.CR0NE
	s.CR4 |= arch.CR4VMXE | arch.CR4PSE
	s.CR3 = pd
	c.SetState(s)
	mem := ramPhys{m.ram}
	require.Equal(t, vmx.Succeed, v.VMXON(vmxon, mem).Kind)
	require.Equal(t, vmx.Succeed, v.VMPTRLD(vmcs, mem).Kind)
	fields := map[uint64]uint64{
		// Sandy Bridge EP's default settings, plus external-interrupt
		// exiting (pin bit 0) and acknowledge interrupt on exit (exit
		// bit 15).
		0x4000: 0x16 | 1, 0x4002: 0x04006172, 0x400C: 0x00036DFB | 1<<15, 0x4012: 0x000011FB,
		0x6C00: 0x80000031, 0x6C04: arch.CR4VMXE | arch.CR4PSE, 0x6C02: pd, // host CR0, CR4, CR3
		0x0C00: 0x10, 0x0C02: 0x08, 0x0C04: 0x10, 0x0C06: 0x10, 0x0C0C: 0x18, 0x6C16: 0x100010, 0x6C14: 0x320000,
		0x6800: 0x80000031, 0x6804: arch.CR4VMXE | arch.CR4PSE, 0x6802: pd, // guest CR0, CR4, CR3
		0x681E: guest, 0x6820: 2, 0x681C: 0x330000, 0x2800: ^uint64(0), // RIP, RFLAGS, RSP, VMCS link pointer
		0x4814 + 12: arch.ARUnusable,                            // LDTR
		0x0800 + 14: 0x18, 0x4814 + 14: 0x8B, 0x4800 + 14: 0x67, // TR: busy 32-bit TSS
	}
	for i := uint64(0); i < 6; i++ { // ES CS SS DS FS GS: flat
		sel, ar := uint64(0x10), uint64(0xC093)
		if i == 1 {
			sel, ar = 0x08, 0xC09B
		}
		fields[0x0800+2*i], fields[0x4814+2*i], fields[0x4800+2*i] = sel, ar, 0xFFFFFFFF
	}
	for enc, val := range fields {
		require.Equal(t, vmx.Succeed, v.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	wr(m, 0, apicRegDivide, 0xB) // by 1: one count per nanosecond
	wr(m, 0, apicRegTimer, 0x30) // one-shot, vector 30H
	m.cur = nil
	return m, c
}

// TestTimerDeadlineInsideVMEntry: an APIC timer deadline that falls inside
// a VM entry (cpu/vmx_time.go: the VMLAUNCH's nanosecond and 120 ns) is
// met at the first instruction boundary after it, the guest's first: the
// interrupt's VM exit saves the guest's first RIP, at virtual time 121.
// Without the board's slice counting the transition (cpu.CPU.RunFor),
// the slice cut at the deadline (50 ns) would run 50 instructions, 49 of
// them the guest's. The exit's 120 ns follow; the slice ends at its
// budget.
func TestTimerDeadlineInsideVMEntry(t *testing.T) {
	m, c := vmxBoard(t)
	var at []uint64
	c.Hooks = &cpu.Hooks{VMExit: func(c *cpu.CPU, reason uint32, info vmx.ExitInfo) {
		at = append(at, c.Clock())
		assert.Equal(t, uint32(vmx.ExitExternalInterrupt), reason)
		assert.Equal(t, uint32(0x80000030), info.IntrInfo, "vector 30H, acknowledged on exit")
	}}
	require.Zero(t, c.Clock())
	wr(m, 0, apicRegInitCnt, 50)
	m.cur = nil
	m.runSlice(0, c, 1000)
	require.Equal(t, []uint64{121}, at, "the exit when the entry completes")
	r, o := c.VMX().VMREAD(0x681E, true)
	require.Equal(t, vmx.Succeed, o.Kind)
	assert.Equal(t, uint64(0x310000), r, "guest RIP: no guest instruction ran")
	assert.Equal(t, uint64(0x100010), c.RIP, "the host's jmp $")
	assert.Equal(t, uint64(1000), c.Clock(), "the whole slice, transitions included")
	assert.Zero(t, m.ahead[0])
}

// TestSliceOverrunByVMEntry: a VM entry that ends past its slice (a
// budget of 100 ns; the VMLAUNCH and the entry take 121) leaves the CPU
// 21 ns ahead, which its next slice pays: after two slices of 100 its
// clock reads 200, as a CPU's that took no transition.
func TestSliceOverrunByVMEntry(t *testing.T) {
	m, c := vmxBoard(t)
	m.runSlice(0, c, 100)
	assert.Equal(t, uint64(121), c.Clock())
	assert.Equal(t, uint64(1), c.Icount, "the VMLAUNCH")
	assert.Equal(t, uint64(21), m.ahead[0])
	m.runSlice(0, c, 100)
	assert.Equal(t, uint64(200), c.Clock())
	assert.Equal(t, uint64(1+79), c.Icount, "79 guest NOPs in the 79 ns left")
	assert.Zero(t, m.ahead[0])
}

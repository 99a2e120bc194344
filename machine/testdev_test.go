package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/firmware"
)

func TestPCTestdevOnTheBoard(t *testing.T) {
	// mov dword [0xff000000], 0x2a; mov eax, [0xff000000]; out 0xf4, eax
	code := prog([]byte{0xC7, 0x05, 0x00, 0x00, 0x00, 0xFF, 0x2A, 0, 0, 0},
		[]byte{0xA1, 0x00, 0x00, 0x00, 0xFF}, outF4EAX, hlt)
	b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.PCTestDev = true })
	res := b.run(t, Limits{})
	require.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0x2A<<1|1, res.Code, "the iomem page reads back what was written")

	m := b.m
	m.Out(0xE0, 4, 0xCAFEF00D)
	assert.Equal(t, uint32(0xF00D), m.In(0xE0, 2))
	// GSI 16-23 reach only the I/O APIC; 0-15 the PIC and the I/O APIC.
	m.Out(0x2010, 1, 1)
	assert.NotZero(t, m.ioapic.lines&(1<<16), "line 16 drives I/O APIC pin 16")
	m.Out(0x2010, 1, 0)
	assert.Zero(t, m.ioapic.lines&(1<<16))
	m.Out(0x2003, 1, 1)
	assert.NotZero(t, m.ioapic.lines&(1<<3), "line 3 drives I/O APIC pin 3")
	m.Out(0x2003, 1, 0)
	m.Out(0x2000, 1, 1)
	assert.NotZero(t, m.ioapic.lines&(1<<2), "ISA IRQ 0 is I/O APIC pin 2")
	m.Out(0x2000, 1, 0)

	// The device survives a reset with its contents (QEMU's pc-testdev
	// has no reset handler).
	require.NoError(t, m.reset("test"))
	assert.Equal(t, uint32(0xCAFEF00D), m.In(0xE0, 4))
	assert.Equal(t, uint64(0x2A), m.ReadMMIO(0xFF000000, 4))
}

func TestNoPCTestdevByDefault(t *testing.T) {
	b := newBoard(t, hlt, firmware.Mode32Flat, nil)
	assert.Equal(t, uint32(0xFF), b.m.In(0xE0, 1), "no device: unclaimed port")
	b.m.Out(0x2010, 1, 1)
	assert.Zero(t, b.m.ioapic.lines)
}

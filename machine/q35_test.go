package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vmxemu/vmxemu/firmware"
)

func q35Board(t *testing.T, edit func(c *Config)) testBoard {
	t.Helper()
	return newBoard(t, hlt, firmware.Mode32Flat, func(c *Config) {
		c.Chipset = ChipsetQ35
		if edit != nil {
			edit(c)
		}
	})
}

// cfgRead reads configuration space through mechanism #1.
func cfgRead(m *Machine, devfn uint8, off int, size int) uint32 {
	m.Out(0xCF8, 4, 1<<31|uint32(devfn)<<8|uint32(off&0xFC))
	return m.In(uint16(0xCFC+off&3), size)
}

func TestQ35ConfigSpace(t *testing.T) {
	b := q35Board(t, func(c *Config) { c.Edu = true })
	m := b.m
	// Identification (Q35/ICH9 datasheets; QEMU's q35 and edu).
	for _, tc := range []struct {
		name   string
		devfn  uint8
		id     uint32
		class  uint32 // class code 31:8 of dword 8
		header uint8
	}{
		{"MCH 00:00.0", 0x00, 0x29C08086, 0x060000, 0x00},
		{"edu 00:01.0", 0x08, 0x11E81234, 0x00FF00, 0x00},
		{"LPC 00:1f.0", 0xF8, 0x29188086, 0x060100, 0x80},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.id, cfgRead(m, tc.devfn, 0, 4))
			assert.Equal(t, tc.class, cfgRead(m, tc.devfn, 8, 4)>>8)
			assert.Equal(t, uint32(tc.header), cfgRead(m, tc.devfn, 0x0E, 1))
			// The same through ECAM at 0xB0000000.
			assert.Equal(t, uint64(tc.id), m.ReadMMIO(0xB0000000+uint64(tc.devfn)<<12, 4))
		})
	}
	// Absent functions read all ones (no AHCI 00:1f.2, no SMBus 00:1f.3).
	for _, devfn := range []uint8{0x10, 0xFA, 0xFB} {
		assert.Equal(t, uint32(0xFFFFFFFF), cfgRead(m, devfn, 0, 4), "devfn %#x", devfn)
	}
	assert.Equal(t, uint64(0xFFFFFFFF), m.ReadMMIO(0xB0000000+1<<20, 4), "bus 1 does not exist")
}

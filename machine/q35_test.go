package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine/pci"
	"github.com/vmxemu/vmxemu/machine/vtd"
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
		{"LPC 00:1f.0", 0xF8, 0x29188086, 0x060100, 0x00}, // single-function: no 1f.2/1f.3
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

func TestQ35Firmware(t *testing.T) {
	b := q35Board(t, func(c *Config) { c.Edu = true })
	m := b.m
	// SeaBIOS's PIRQ routing (10, 10, 11, 11 twice) and edu's BAR and
	// interrupt line: slot 1 INTA# is PIRQF (ICH9 default routing),
	// routed to IRQ 10.
	assert.Equal(t, uint32(0x0B0B0A0A), cfgRead(m, 0xF8, 0x60, 4))
	assert.Equal(t, uint32(0x0B0B0A0A), cfgRead(m, 0xF8, 0x68, 4))
	assert.Equal(t, uint32(0xFEB00000), cfgRead(m, 0x08, 0x10, 4), "1 MiB BAR at the top of the window below the I/O APIC")
	assert.NotZero(t, cfgRead(m, 0x08, 0x04, 2)&pci.CmdMemory)
	assert.Equal(t, uint32(10), cfgRead(m, 0x08, 0x3C, 1))
	assert.Equal(t, uint32(1), cfgRead(m, 0x08, 0x3D, 1), "INTA#")
	assert.Equal(t, uint32(0xB0000001), cfgRead(m, 0x00, 0x60, 4), "PCIEXBAR")
	// The BAR decodes in the PCI window; unassigned PCI space reads 0.
	assert.Equal(t, uint64(0x010000ED), m.ReadMMIO(0xFEB00000, 4))
	assert.Zero(t, m.ReadMMIO(0xFEA00000, 4))

	// INTA# drives PIRQF: I/O APIC input 21 and, routed, ISA IRQ 10.
	m.WriteMMIO(0xFEB00060, 4, 1)
	assert.NotZero(t, m.ioapic.lines&(1<<21))
	assert.NotZero(t, m.ioapic.lines&(1<<10))
	m.WriteMMIO(0xFEB00064, 4, 1)
	assert.Zero(t, m.ioapic.lines&(1<<21|1<<10))
	// Rerouting PIRQF to IRQ 5 moves the line.
	m.WriteMMIO(0xFEB00060, 4, 1)
	m.Out(0xCF8, 4, 1<<31|0xF8<<8|0x68)
	m.Out(0xCFD, 1, 5)
	assert.Zero(t, m.ioapic.lines&(1<<10))
	assert.Equal(t, uint32(1<<5|1<<21), m.ioapic.lines&(1<<5|1<<21))

	// A reset brings the functions back to their reset state and the
	// firmware programs them again.
	require.NoError(t, m.reset("test"))
	assert.Equal(t, uint32(0x0B0B0A0A), cfgRead(m, 0xF8, 0x68, 4))
	assert.Zero(t, m.ioapic.lines&(1<<5|1<<21))
}

func TestQ35Config(t *testing.T) {
	_, err := New(Config{RAMSize: 3 << 30, Chipset: ChipsetQ35})
	assert.ErrorContains(t, err, "at most 2816 MiB")
	_, err = New(Config{RAMSize: 16 << 20, Edu: true})
	assert.ErrorContains(t, err, "the pc board has no PCI bus")
	// The pc board has no configuration space.
	b := newBoard(t, hlt, firmware.Mode32Flat, nil)
	assert.Equal(t, uint32(0xFFFFFFFF), cfgRead(b.m, 0, 0, 4))
}

func TestQ35IOMMUInterrupts(t *testing.T) {
	b := q35Board(t, func(c *Config) { c.Edu = true; c.IOMMU = &vtd.Config{IntRemap: true} })
	m := b.m
	const irt = 0x200000
	// IRTE 3: vector 0x61 to APIC 0, fixed, edge (VT-d 9.10).
	require.NoError(t, m.ram.WritePhys(irt+3*16, []byte{1, 0, 0x61, 0, 0, 0, 0, 0}))
	m.WriteMMIO(vtd.Base+vtd.RegIRTA, 8, irt|7)
	m.WriteMMIO(vtd.Base+vtd.RegGCMD, 4, vtd.GcmdSIRTP)
	m.WriteMMIO(vtd.Base+vtd.RegGCMD, 4, vtd.GcmdSIRTP|vtd.GcmdIRE)
	require.Equal(t, uint64(vtd.GcmdSIRTP|vtd.GcmdIRE), m.ReadMMIO(vtd.Base+vtd.RegGSTS, 4))
	a := m.apics[0]
	// I/O APIC pin 10 in remappable format, index 3 (VT-d 5.1.5.1):
	// bit 48 format, 63:49 index.
	m.ioapic.writeReg(0x10+2*10, 0x61)
	m.ioapic.writeReg(0x11+2*10, 1<<16|3<<17)
	m.WriteMMIO(0xFEB00060, 4, 1)
	assert.True(t, testBit(&a.irr, 0x61), "remapped to vector 0x61")
	clearBit(&a.irr, 0x61)
	m.WriteMMIO(0xFEB00064, 4, 1)
	// A compatibility-format entry is blocked (CFIS=0) and recorded.
	m.ioapic.writeReg(0x11+2*10, 0)
	m.WriteMMIO(0xFEB00060, 4, 1)
	assert.False(t, testBit(&a.irr, 0x61))
	hi := m.ReadMMIO(vtd.Base+vtd.RegFRCD+8, 8)
	assert.Equal(t, uint64(vtd.FrIRCompatBlocked), hi>>32&0xFF)
	assert.Equal(t, uint64(0xFF00), hi&0xFFFF, "the I/O APIC's source-id")
}

func TestQ35EduDMAThroughIOMMU(t *testing.T) {
	b := q35Board(t, func(c *Config) { c.Edu = true; c.IOMMU = &vtd.Config{} })
	m := b.m
	put := func(pa, v uint64) {
		var buf [8]byte
		for i := range buf {
			buf[i] = byte(v >> (8 * i))
		}
		require.NoError(t, m.ram.WritePhys(pa, buf[:]))
	}
	// Root entry for bus 0 → context entry for 00:01.0 (AW 1: 39-bit,
	// 3 levels) → IOVA 0x5000 maps to 0x800000 (VT-d 9.1, 9.3, 9.8).
	put(0x300000, 0x301000|1)
	put(0x301000+0x08*16, 0x302000|1)
	put(0x301000+0x08*16+8, 1)
	put(0x302000, 0x303000|3)
	put(0x303000, 0x304000|3)
	put(0x304000+5*8, 0x800000|3)
	require.NoError(t, m.ram.WritePhys(0x800010, []byte("vt-d")))
	m.WriteMMIO(vtd.Base+vtd.RegRTADDR, 8, 0x300000)
	m.WriteMMIO(vtd.Base+vtd.RegGCMD, 4, vtd.GcmdSRTP)
	m.WriteMMIO(vtd.Base+vtd.RegGCMD, 4, vtd.GcmdSRTP|vtd.GcmdTE)
	m.Out(0xCF8, 4, 1<<31|0x08<<8|0x04)
	m.Out(0xCFC, 2, pci.CmdMemory|pci.CmdMaster)

	edu := func(off uint64, v uint64) { m.WriteMMIO(0xFEB00000+off, 8, v) }
	edu(0x80, 0x5010) // IOVA → buffer
	edu(0x88, pci.EduDMAStart)
	edu(0x90, 4)
	edu(0x98, pci.EduDMARun)
	edu(0x80, pci.EduDMAStart) // buffer → IOVA 0x5020
	edu(0x88, 0x5020)
	edu(0x98, pci.EduDMARun|pci.EduDMAToRAM)
	got := make([]byte, 4)
	require.NoError(t, m.ram.ReadPhys(0x800020, got))
	assert.Equal(t, "vt-d", string(got))
	assert.Zero(t, m.ReadMMIO(vtd.Base+vtd.RegFSTS, 4))
	// An unmapped IOVA faults: reason 6 (read) recorded for 00:01.0.
	edu(0x80, 0x6000)
	edu(0x88, pci.EduDMAStart)
	edu(0x98, pci.EduDMARun)
	hi := m.ReadMMIO(vtd.Base+vtd.RegFRCD+8, 8)
	assert.Equal(t, uint64(1)<<63|1<<62|uint64(vtd.FrRead)<<32|0x08, hi)
	assert.Equal(t, uint64(0x6000), m.ReadMMIO(vtd.Base+vtd.RegFRCD, 8))
}

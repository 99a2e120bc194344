package pci

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestBARSizing(t *testing.T) {
	// PCI 3.0 6.2.5.1: writing all ones and reading back gives the size
	// mask with the type bits: a 1 MiB 32-bit memory BAR reads
	// 0xFFF00000, a 256-byte I/O BAR 0xFFFFFF01.
	c := NewConfig(Ident{Vendor: 0x1234, Device: 0x5678, IntPin: 1})
	c.AddBAR(0, 1<<20, false)
	c.AddBAR(1, 256, true)
	c.Write(RegBAR0, 4, 0xFFFFFFFF)
	c.Write(RegBAR0+4, 4, 0xFFFFFFFF)
	c.Write(RegBAR0+8, 4, 0xFFFFFFFF) // not implemented: reads 0
	assert.Equal(t, uint32(0xFFF00000), c.Read(RegBAR0, 4))
	assert.Equal(t, uint32(0xFFFFFF01), c.Read(RegBAR0+4, 4))
	assert.Zero(t, c.Read(RegBAR0+8, 4))
	c.Write(RegBAR0, 4, 0xFEB12345)
	base, size, on := c.BARAddr(0)
	assert.Equal(t, uint64(0xFEB00000), base)
	assert.Equal(t, uint64(1<<20), size)
	assert.False(t, on, "memory decoding is off until the command register enables it")
	c.Write(RegCommand, 2, 0xFFFF)
	assert.Equal(t, uint16(CmdIO|CmdMemory|CmdMaster|CmdIntxDis), c.Command(), "only the implemented command bits are writable")
	_, _, on = c.BARAddr(0)
	assert.True(t, on)
	// Read-only identification.
	c.Write(RegVendorID, 4, 0)
	assert.Equal(t, uint32(0x56781234), c.Read(RegVendorID, 4))
	assert.Equal(t, uint8(1), c.Get8(RegInterruptPin))
}

func TestMSICapability(t *testing.T) {
	// PCI 3.0 6.8.1: capability ID 05h, next pointer, message control
	// with 64-bit address capable (bit 7), address low (dword aligned),
	// address high, data.
	c := NewConfig(Ident{})
	c.AddMSI(0x40)
	assert.Equal(t, uint8(0x40), c.Get8(RegCapPtr))
	assert.NotZero(t, c.Get16(RegStatus)&StatusCapLst)
	assert.Equal(t, uint32(0x00800005), c.Read(0x40, 4), "ID 5, next 0, control 0x0080")
	c.Write(0x42, 2, 0xFFFF)
	assert.Equal(t, uint16(0x00F1), c.Get16(0x42), "enable and MME writable; MMC and 64-bit read-only")
	c.Write(0x44, 4, 0xFEE0100F)
	c.Write(0x48, 4, 0x1)
	c.Write(0x4C, 4, 0xFFFF4041)
	on, addr, data := c.MSI()
	assert.True(t, on)
	assert.Equal(t, uint64(0x1FEE0100C), addr)
	assert.Equal(t, uint32(0x4041), data)
}

type fn struct{ c *Config }

func (f fn) Config() *Config        { return f.c }
func (f fn) ConfigWritten(int, int) {}

func TestMechanism1AndECAM(t *testing.T) {
	var b Bus
	require.NoError(t, b.Attach(0x08, fn{NewConfig(Ident{Vendor: 0x8086, Device: 0x1234})}))
	require.NoError(t, b.Attach(0x0A, fn{NewConfig(Ident{Vendor: 0x8086, Device: 0x4321})})) // 01.2
	require.NoError(t, b.Attach(0x12, fn{NewConfig(Ident{Vendor: 0x8086, Device: 0x9999})})) // 02.2 without 02.0
	assert.Error(t, b.Attach(0x08, fn{NewConfig(Ident{})}))

	b.Out(PortConfigAddress, 4, 1<<31|0x08<<8)
	assert.Equal(t, uint32(0x12348086), b.In(PortConfigData, 4))
	assert.Equal(t, uint32(0x1234), b.In(PortConfigData+2, 2))
	assert.Equal(t, uint32(0x80000800), b.In(PortConfigAddress, 4))
	// QEMU's pci_host: CONFIG_ADDRESS bits 1:0 add to the offset.
	b.Out(PortConfigAddress, 4, 1<<31|0x08<<8|2)
	assert.Equal(t, uint32(0x1234), b.In(PortConfigData, 2))
	// Enable bit clear: no configuration cycle, all ones.
	b.Out(PortConfigAddress, 4, 0x08<<8)
	assert.Equal(t, uint32(0xFFFFFFFF), b.In(PortConfigData, 4))
	// Function 2 of device 1 answers; device 2 has no function 0.
	b.Out(PortConfigAddress, 4, 1<<31|0x0A<<8)
	assert.Equal(t, uint32(0x43218086), b.In(PortConfigData, 4))
	b.Out(PortConfigAddress, 4, 1<<31|0x12<<8)
	assert.Equal(t, uint32(0xFFFF), b.In(PortConfigData, 2))
	// Bus 1: nothing.
	b.Out(PortConfigAddress, 4, 1<<31|1<<16|0x08<<8)
	assert.Equal(t, uint32(0xFFFFFFFF), b.In(PortConfigData, 4))

	e := ECAM{Bus: func() *Bus { return &b }}
	assert.Equal(t, uint64(0x12348086), e.ReadMMIO(0x08<<12, 4))
	assert.Equal(t, uint64(0x43218086), e.ReadMMIO(0x0A<<12, 4))
	assert.Equal(t, uint64(0xFFFFFFFF), e.ReadMMIO(0x08<<12|0x100, 4), "past a conventional function's 256 bytes")
	assert.Equal(t, uint64(0xFFFF), e.ReadMMIO(1<<20|0x08<<12, 2))
}

func TestLPCRouting(t *testing.T) {
	l := NewLPC(0x600)
	assert.Equal(t, uint32(0x29188086), l.Config().Read(0, 4))
	assert.Equal(t, uint32(0x601), l.Config().Read(0x40, 4), "PMBASE 0x600, I/O space indicator")
	assert.Equal(t, uint8(0x80), l.Config().Get8(0x44), "ACPI_EN")
	routed := 0
	l.Routed = func() { routed++ }
	for p := range PIRQs {
		assert.Equal(t, -1, l.PIRQRoute(p), "reset 0x80: not routed (ICH9 13.1.13)")
	}
	l.Config().Write(0x60, 4, 0x0B0A0980)
	l.ConfigWritten(0x60, 4)
	assert.Equal(t, 1, routed)
	assert.Equal(t, []int{-1, 9, 10, 11}, []int{l.PIRQRoute(0), l.PIRQRoute(1), l.PIRQRoute(2), l.PIRQRoute(3)})
	l.SetPIRQRoute(5, 2) // reserved encoding
	assert.Equal(t, -1, l.PIRQRoute(5))
	l.SetPIRQRoute(7, 0x8F) // bits 6:4 reserved: 0x8F → IRQEN=1 → off
	assert.Equal(t, -1, l.PIRQRoute(7))

	// QEMU's ICH9 default device routing (lpc_ich9.c ich9_cc_init):
	// slot s, pin INTx (A=1) → PIRQ E + (s + x) mod 4.
	want := map[[2]int]int{{0, 1}: 4, {1, 1}: 5, {1, 2}: 6, {2, 1}: 6, {3, 4}: 6, {4, 1}: 4, {7, 4}: 6}
	for k, v := range want {
		assert.Equal(t, v, PIRQOf(k[0], k[1]), "slot %d pin %d", k[0], k[1])
	}
	assert.Equal(t, 21, PIRQGSI(5))
}

func TestEdu(t *testing.T) {
	ram := make([]byte, 1<<20)
	var intx []bool
	type msi struct {
		sid  uint16
		addr uint64
		data uint32
	}
	var msis []msi
	e := NewEdu(0x08)
	e.SetINTx = func(h bool) { intx = append(intx, h) }
	e.MSI = func(sid uint16, a uint64, d uint32) { msis = append(msis, msi{sid, a, d}) }
	var dmaSID uint16
	e.DMA = func(sid uint16, addr uint64, buf []byte, write bool) error {
		dmaSID = sid
		if addr+uint64(len(buf)) > uint64(len(ram)) {
			return errors.New("out of RAM")
		}
		if write {
			copy(ram[addr:], buf)
		} else {
			copy(buf, ram[addr:])
		}
		return nil
	}
	c := e.Config()
	assert.Equal(t, uint32(0x11E81234), c.Read(0, 4))
	assert.Equal(t, uint32(0x00FF0010), c.Read(8, 4), "class 00ff00, revision 0x10")
	c.Write(RegBAR0, 4, 0xFFFFFFFF)
	assert.Equal(t, uint32(0xFFF00000), c.Read(RegBAR0, 4), "BAR0: 1 MiB of memory")
	c.Write(RegCommand, 2, CmdMemory|CmdMaster)

	// edu.rst "MMIO area spec".
	assert.Equal(t, uint64(0x010000ED), e.ReadBAR(0, 0, 4))
	assert.Equal(t, ^uint64(0), e.ReadBAR(0, 0, 2), "only 4-byte accesses below 0x80")
	e.WriteBAR(0, 4, 4, 0x12345678)
	assert.Equal(t, uint64(0xEDCBA987), e.ReadBAR(0, 4, 4), "liveness: bitwise inverse")
	for _, tc := range []struct{ n, fact uint32 }{{0, 1}, {5, 120}, {12, 479001600}, {13, 1932053504}} { // 13! mod 2^32
		e.WriteBAR(0, 8, 4, uint64(tc.n))
		assert.Zero(t, e.ReadBAR(0, 0x20, 4)&EduStatusBusy)
		assert.Equal(t, uint64(tc.fact), e.ReadBAR(0, 8, 4), "%d!", tc.n)
	}
	// Interrupts: INTx while the status is not 0.
	e.WriteBAR(0, 0x60, 4, 0x10)
	assert.Equal(t, uint64(0x10), e.ReadBAR(0, 0x24, 4))
	assert.Equal(t, []bool{true}, intx)
	assert.NotZero(t, c.Get16(RegStatus)&StatusIntx)
	e.WriteBAR(0, 0x64, 4, 0x10)
	assert.Equal(t, []bool{true, false}, intx)
	// Factorial with the interrupt flag raises 0x001.
	e.WriteBAR(0, 0x20, 4, EduStatusIRQ|EduStatusBusy)
	assert.Equal(t, uint64(EduStatusIRQ), e.ReadBAR(0, 0x20, 4), "computing is read-only")
	e.WriteBAR(0, 8, 4, 3)
	assert.Equal(t, uint64(EduIRQFact), e.ReadBAR(0, 0x24, 4))
	e.WriteBAR(0, 0x64, 4, EduIRQFact)
	e.WriteBAR(0, 0x20, 4, 0)

	// DMA RAM → buffer → RAM, with the completion interrupt (0x100)
	// going out as MSI once the capability is enabled.
	copy(ram[0x1000:], "edu!")
	c.Write(0x44, 4, 0xFEE00000)
	c.Write(0x4C, 2, 0x31)
	c.Write(0x42, 2, MSIEnable)
	e.ConfigWritten(0x42, 2)
	e.WriteBAR(0, 0x80, 8, 0x1000)
	e.WriteBAR(0, 0x88, 8, EduDMAStart+8)
	e.WriteBAR(0, 0x90, 8, 4)
	e.WriteBAR(0, 0x98, 4, EduDMARun)
	assert.Zero(t, e.ReadBAR(0, 0x98, 4)&EduDMARun, "completed at once")
	assert.Equal(t, uint16(0x08), dmaSID, "requester ID 00:01.0")
	e.WriteBAR(0, 0x80, 8, EduDMAStart+8)
	e.WriteBAR(0, 0x88, 8, 0x10000000|0x2000) // above the 28-bit mask: clamped
	e.WriteBAR(0, 0x98, 4, EduDMARun|EduDMAToRAM|EduDMAIRQ)
	assert.Equal(t, "edu!", string(ram[0x2000:0x2004]))
	assert.Equal(t, []msi{{0x08, 0xFEE00000, 0x31}}, msis)
	assert.Equal(t, []bool{true, false, true, false}, intx, "the factorial interrupt on INTx; none while MSI is enabled")
	// Outside the 4 KiB buffer: nothing moves.
	e.WriteBAR(0, 0x80, 8, EduDMAStart+EduDMASize-2)
	e.WriteBAR(0, 0x88, 8, 0x3000)
	e.WriteBAR(0, 0x90, 8, 4)
	e.WriteBAR(0, 0x98, 4, EduDMARun|EduDMAToRAM)
	assert.Equal(t, []byte{0, 0, 0, 0}, ram[0x3000:0x3004])
	// Bus master disabled: no DMA, no MSI.
	c.Write(RegCommand, 2, CmdMemory)
	e.WriteBAR(0, 0x60, 4, 1)
	assert.Len(t, msis, 1)
}

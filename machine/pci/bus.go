package pci

import "fmt"

// Function is one PCI function on the bus.
type Function interface {
	// Config returns the function's configuration space.
	Config() *Config
	// ConfigWritten is called after a configuration write of size bytes
	// at off has gone through the write masks, so that the function can
	// act on it (MSI enable, routing registers).
	ConfigWritten(off, size int)
}

// MemDevice is a function with memory BARs: off is the offset from the
// BAR's base.
type MemDevice interface {
	ReadBAR(bar int, off uint64, size int) uint64
	WriteBAR(bar int, off uint64, size int, v uint64)
}

// Configuration mechanism #1 ports (PCI Local Bus Specification 3.0
// 3.2.2.3.2).
const (
	PortConfigAddress = 0xCF8
	PortConfigData    = 0xCFC
	configEnable      = 1 << 31
)

// Bus is PCI bus 0: up to 256 functions by device/function number.
type Bus struct {
	fn   [256]Function
	addr uint32 // CONFIG_ADDRESS
}

// Attach places f at devfn (device<<3 | function).
func (b *Bus) Attach(devfn uint8, f Function) error {
	if b.fn[devfn] != nil {
		return fmt.Errorf("pci: %02x.%x is taken", devfn>>3, devfn&7)
	}
	b.fn[devfn] = f
	return nil
}

// Function returns the function at devfn, or nil.
func (b *Bus) Function(devfn uint8) Function { return b.fn[devfn] }

// present reports the function at devfn as configuration reads see it:
// functions other than 0 of a device answer only if function 0 exists
// (PCI 3.0 6.2.1: software probes function 0 first; QEMU hides them
// too).
func (b *Bus) present(devfn uint8) Function {
	if b.fn[devfn&^7] == nil {
		return nil
	}
	return b.fn[devfn]
}

// ReadConfig reads bus 0's configuration space (bus != 0 answers all
// ones: no bridges).
func (b *Bus) ReadConfig(bus, devfn uint8, off, size int) uint32 {
	ones := uint32(1<<(8*size) - 1)
	if size == 4 {
		ones = 0xFFFFFFFF
	}
	f := b.present(devfn)
	if bus != 0 || f == nil || off+size > ConfigSize {
		return ones
	}
	return f.Config().Read(off, size)
}

// WriteConfig writes bus 0's configuration space.
func (b *Bus) WriteConfig(bus, devfn uint8, off, size int, v uint32) {
	f := b.present(devfn)
	if bus != 0 || f == nil || off+size > ConfigSize {
		return
	}
	f.Config().Write(off, size, v)
	f.ConfigWritten(off, size)
}

// In implements devices.PortDevice for ports 0xCF8-0xCFF. CONFIG_ADDRESS
// is a dword register: only 32-bit accesses to 0xCF8 reach it (3.2.2.3.2;
// byte accesses there go to other devices, such as the reset control
// register at 0xCF9). The data window 0xCFC-0xCFF selects the byte lanes
// of the dword CONFIG_ADDRESS names.
//
// CONFIG_ADDRESS keeps the bits 1:0 software writes, and an access
// through the data window adds them to the register offset, as QEMU's
// host bridges do (hw/pci/pci_host.c pci_host_config_read/write: the
// offset is config_reg | (port & 3)). The PCI specification makes those
// bits read-only 0 for type-0 accesses; kvm-unit-tests' pci_config_readw
// relies on QEMU's behaviour (it reads the device ID with CONFIG_ADDRESS
// offset 2 and a word read at 0xCFC).
func (b *Bus) In(port uint16, size int) uint32 {
	switch {
	case port == PortConfigAddress && size == 4:
		return b.addr
	case port >= PortConfigData:
		if b.addr&configEnable == 0 {
			return 0xFFFFFFFF
		}
		bus, devfn, reg := b.target(port)
		return b.ReadConfig(bus, devfn, reg, size)
	}
	return 0xFFFFFFFF
}

// target decodes CONFIG_ADDRESS for a data-window access at port.
func (b *Bus) target(port uint16) (bus, devfn uint8, reg int) {
	return uint8(b.addr >> 16), uint8(b.addr >> 8), int(b.addr&0xFF | uint32(port&3))
}

// Out implements devices.PortDevice.
func (b *Bus) Out(port uint16, size int, v uint32) {
	switch {
	case port == PortConfigAddress && size == 4:
		b.addr = v &^ 0x7F000000 // reserved bits 30:24 read 0
	case port >= PortConfigData:
		if b.addr&configEnable == 0 {
			return
		}
		bus, devfn, reg := b.target(port)
		b.WriteConfig(bus, devfn, reg, size, v)
	}
}

// ECAM is the enhanced configuration access window of a bus (PCI Express
// Base 4.0 7.2.2): register it as an MMIO device at the window's base.
type ECAM struct{ Bus func() *Bus }

func ecamSplit(off uint64) (bus, devfn uint8, reg int) {
	return uint8(off >> 20), uint8(off >> 12), int(off & 0xFFF)
}

// ReadMMIO implements the board's MMIO device interface. Accesses wider
// than a dword answer all ones (7.2.2.1: such accesses are not
// supported).
func (e ECAM) ReadMMIO(off uint64, size int) uint64 {
	if size > 4 {
		return ^uint64(0)
	}
	bus, devfn, reg := ecamSplit(off)
	return uint64(e.Bus().ReadConfig(bus, devfn, reg, size))
}

// WriteMMIO implements the board's MMIO device interface.
func (e ECAM) WriteMMIO(off uint64, size int, v uint64) {
	if size > 4 {
		return
	}
	bus, devfn, reg := ecamSplit(off)
	e.Bus().WriteConfig(bus, devfn, reg, size, uint32(v))
}

// findBAR returns the function and BAR whose enabled memory range holds pa.
func (b *Bus) findBAR(pa uint64) (MemDevice, int, uint64) {
	for _, f := range b.fn {
		md, ok := f.(MemDevice)
		if !ok {
			continue
		}
		c := f.Config()
		for n := range 6 {
			base, size, on := c.BARAddr(n)
			if on && size != 0 && !c.bars[n].IO && pa >= base && pa-base < size {
				return md, n, pa - base
			}
		}
	}
	return nil, 0, 0
}

// ReadMem reads the PCI memory space at pa: the memory BAR that decodes
// it, or 0 when none does (QEMU's unassigned memory in the PCI hole reads
// 0, as the rest of the board's unassigned space does).
func (b *Bus) ReadMem(pa uint64, size int) uint64 {
	if d, n, off := b.findBAR(pa); d != nil {
		return d.ReadBAR(n, off, size)
	}
	return 0
}

// WriteMem writes the PCI memory space at pa; writes nothing decodes are
// dropped.
func (b *Bus) WriteMem(pa uint64, size int, v uint64) {
	if d, n, off := b.findBAR(pa); d != nil {
		d.WriteBAR(n, off, size, v)
	}
}

package pci

import "encoding/binary"

// Type-0 header offsets and bits (PCI Local Bus Specification 3.0, 6.1,
// Figure 6-1; 6.2.2 Command, 6.2.3 Status; 6.2.5 Base Addresses; 6.8.1
// MSI capability).
const (
	RegVendorID      = 0x00
	RegDeviceID      = 0x02
	RegCommand       = 0x04
	RegStatus        = 0x06
	RegRevision      = 0x08
	RegClassProg     = 0x09
	RegHeaderType    = 0x0E
	RegBAR0          = 0x10
	RegSubsysVendor  = 0x2C
	RegSubsysID      = 0x2E
	RegCapPtr        = 0x34
	RegInterruptLine = 0x3C
	RegInterruptPin  = 0x3D

	CmdIO        = 1 << 0
	CmdMemory    = 1 << 1
	CmdMaster    = 1 << 2
	CmdIntxDis   = 1 << 10
	StatusIntx   = 1 << 3
	StatusCapLst = 1 << 4

	CapIDMSI = 0x05

	// MSI message control (6.8.1.3): enable bit 0, multiple message
	// capable 3:1, multiple message enable 6:4, 64-bit address capable 7.
	MSIEnable = 1 << 0
	MSI64     = 1 << 7

	// ConfigSize is the configuration space of a conventional PCI
	// function; ECAM reads past it answer all ones.
	ConfigSize = 256
)

// Config is one function's 256-byte configuration space with a write mask
// per byte: a bit set in wmask is writable by software; the others keep
// their value. BAR size masks live in wmask.
type Config struct {
	data  [ConfigSize]byte
	wmask [ConfigSize]byte
	// w1c bits are cleared by writing 1 (the status register's error
	// bits; none are modelled, but the mechanism is the specification's).
	w1c   [ConfigSize]byte
	bars  [6]BAR
	msiAt uint8 // offset of the MSI capability, 0 if none
}

// BAR describes one base address register.
type BAR struct {
	Size uint64 // power of two; 0: not implemented
	IO   bool
}

// Ident is what a header says about a function.
type Ident struct {
	Vendor, Device uint16
	Revision       uint8
	Class          uint32 // class code (24 bits: base, sub, prog-if)
	SubVendor      uint16
	SubDevice      uint16
	HeaderType     uint8
	IntPin         uint8 // 1 = INTA#; 0: no INTx
}

// NewConfig returns a type-0 header with the given identification: command
// register I/O, memory, bus master and interrupt-disable writable, the
// interrupt line writable (it is a scratch register for firmware).
func NewConfig(id Ident) *Config {
	c := &Config{}
	c.set16(RegVendorID, id.Vendor)
	c.set16(RegDeviceID, id.Device)
	c.data[RegRevision] = id.Revision
	c.data[RegClassProg] = uint8(id.Class)
	c.data[RegClassProg+1] = uint8(id.Class >> 8)
	c.data[RegClassProg+2] = uint8(id.Class >> 16)
	c.data[RegHeaderType] = id.HeaderType
	c.set16(RegSubsysVendor, id.SubVendor)
	c.set16(RegSubsysID, id.SubDevice)
	c.data[RegInterruptPin] = id.IntPin
	cmd := uint16(CmdIO | CmdMemory | CmdMaster)
	if id.IntPin != 0 {
		cmd |= CmdIntxDis
	}
	c.wmask[RegCommand] = uint8(cmd)
	c.wmask[RegCommand+1] = uint8(cmd >> 8)
	c.wmask[RegInterruptLine] = 0xFF
	return c
}

func (c *Config) set16(off int, v uint16) { binary.LittleEndian.PutUint16(c.data[off:], v) }
func (c *Config) set32(off int, v uint32) { binary.LittleEndian.PutUint32(c.data[off:], v) }

// Get8, Get16 and Get32 read the current register value.
func (c *Config) Get8(off int) uint8   { return c.data[off] }
func (c *Config) Get16(off int) uint16 { return binary.LittleEndian.Uint16(c.data[off:]) }
func (c *Config) Get32(off int) uint32 { return binary.LittleEndian.Uint32(c.data[off:]) }

// SetReadOnly sets a register the function drives itself (no write mask).
func (c *Config) SetReadOnly(off int, v uint32, size int) {
	for i := range size {
		c.data[off+i] = uint8(v >> (8 * i))
	}
}

// SetWritable sets a register's reset value and its write mask.
func (c *Config) SetWritable(off int, v, mask uint32, size int) {
	for i := range size {
		c.data[off+i] = uint8(v >> (8 * i))
		c.wmask[off+i] = uint8(mask >> (8 * i))
	}
}

// AddBAR declares BAR n: a 32-bit memory BAR (non-prefetchable) or an I/O
// BAR of size bytes (a power of two; at least 16 for memory, 4 for I/O).
// The address bits below the size read 0 (6.2.5.1: software sizes a BAR
// by writing all ones and reading back).
func (c *Config) AddBAR(n int, size uint64, io bool) {
	c.bars[n] = BAR{Size: size, IO: io}
	off := RegBAR0 + 4*n
	mask := ^uint32(size - 1)
	if io {
		c.set32(off, 1) // bit 0: I/O space indicator
		mask &^= 3
	} else {
		mask &^= 0xF // type bits 3:0 read-only: 32-bit, non-prefetchable
	}
	for i := range 4 {
		c.wmask[off+i] = uint8(mask >> (8 * i))
	}
}

// AddMSI adds a 64-bit MSI capability with one message and no per-vector
// masking at offset at (6.8.1), linked first in the capability list.
func (c *Config) AddMSI(at uint8) {
	c.data[at] = CapIDMSI
	c.data[at+1] = c.data[RegCapPtr]
	c.data[RegCapPtr] = at
	c.data[RegStatus] |= StatusCapLst
	c.set16(int(at)+2, MSI64) // one message (MMC 0)
	// Writable: enable (bit 0) and multiple message enable (6:4; with
	// MMC 0 only the value 0 is meaningful, but the field is read/write).
	c.wmask[at+2] = 0x71
	c.SetWritable(int(at)+4, 0, 0xFFFFFFFC, 4) // address low, dword aligned
	c.SetWritable(int(at)+8, 0, 0xFFFFFFFF, 4) // address high
	c.SetWritable(int(at)+12, 0, 0xFFFF, 2)    // data
	c.msiAt = at
}

// MSI returns whether MSI is enabled and its message.
func (c *Config) MSI() (enabled bool, addr uint64, data uint32) {
	if c.msiAt == 0 {
		return false, 0, 0
	}
	at := int(c.msiAt)
	enabled = c.Get16(at+2)&MSIEnable != 0
	addr = uint64(c.Get32(at+4)) | uint64(c.Get32(at+8))<<32
	return enabled, addr, uint32(c.Get16(at + 12))
}

// Read reads size bytes at off (size 1, 2 or 4; off naturally aligned by
// the caller's mechanism).
func (c *Config) Read(off, size int) uint32 {
	var v uint32
	for i := range size {
		if off+i < ConfigSize {
			v |= uint32(c.data[off+i]) << (8 * i)
		}
	}
	return v
}

// Write writes size bytes at off through the write masks.
func (c *Config) Write(off, size int, v uint32) {
	for i := range size {
		o := off + i
		if o >= ConfigSize {
			return
		}
		b := uint8(v >> (8 * i))
		c.data[o] = c.data[o]&^c.wmask[o] | b&c.wmask[o]
		c.data[o] &^= b & c.w1c[o]
	}
}

// Command returns the command register.
func (c *Config) Command() uint16 { return c.Get16(RegCommand) }

// BARAddr returns BAR n's base address and size, and whether its space is
// enabled in the command register.
func (c *Config) BARAddr(n int) (base, size uint64, enabled bool) {
	b := c.bars[n]
	if b.Size == 0 {
		return 0, 0, false
	}
	v := uint64(c.Get32(RegBAR0 + 4*n))
	if b.IO {
		return v &^ 3, b.Size, c.Command()&CmdIO != 0
	}
	return v &^ 0xF, b.Size, c.Command()&CmdMemory != 0
}

// SetIntxStatus sets or clears the status register's interrupt status bit
// (6.2.3: set while the function asserts INTx, regardless of the
// interrupt-disable bit).
func (c *Config) SetIntxStatus(on bool) {
	if on {
		c.data[RegStatus] |= StatusIntx
	} else {
		c.data[RegStatus] &^= StatusIntx
	}
}

// BARSize returns BAR n's size (0: not implemented).
func (c *Config) BARSize(n int) uint64 { return c.bars[n].Size }

// BARIsIO reports whether BAR n is an I/O BAR.
func (c *Config) BARIsIO(n int) bool { return c.bars[n].IO }

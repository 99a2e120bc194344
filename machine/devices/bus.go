package devices

import (
	"errors"
	"fmt"
)

// PortDevice handles I/O-port accesses routed to it. size is 1, 2 or 4.
//
// port is the absolute port number of the access (not an offset), so one
// device value can be registered at several ranges. A multi-byte access is
// delivered whole to the device that owns its first port; the bus masks the
// value returned by In to the access size.
type PortDevice interface {
	In(port uint16, size int) uint32
	Out(port uint16, size int, val uint32)
}

// ErrPortOverlap is returned (wrapped) by PortBus.Register when the requested
// range intersects a range already registered.
var ErrPortOverlap = errors.New("port range overlaps a registered device")

// ErrPortRange is returned (wrapped) by PortBus.Register for an empty range
// or one that runs past port 0xFFFF.
var ErrPortRange = errors.New("invalid port range")

// Well-known port numbers of the PC board.
const (
	PortPICMaster    uint16 = 0x20   // 8259A master: command 0x20, data 0x21
	PortSysCtrlB     uint16 = 0x61   // system control port B
	PortPOST         uint16 = 0x80   // POST code
	PortSysCtrlA     uint16 = 0x92   // system control port A
	PortPICSlave     uint16 = 0xA0   // 8259A slave: command 0xA0, data 0xA1
	PortDebugCon     uint16 = 0xE9   // Bochs/QEMU debug console
	PortCOM2         uint16 = 0x2F8  // second serial port
	PortCOM1         uint16 = 0x3F8  // first serial port
	PortELCR         uint16 = 0x4D0  // edge/level control, 0x4D0 master, 0x4D1 slave
	PortDebugExit    uint16 = 0x501  // QEMU isa-debug-exit default iobase
	PortFwCfg        uint16 = 0x510  // QEMU fw_cfg selector (0x510) and data (0x511)
	PortShutdown     uint16 = 0x8900 // Bochs "Shutdown" port
	DebugExitDefSize        = 2      // QEMU isa-debug-exit default iosize
	UARTPorts               = 8      // ports decoded by a 16550
)

type busEntry struct {
	base uint16
	n    int
	dev  PortDevice
}

// PortBus routes port accesses to registered devices. The zero value is not
// usable; call NewPortBus.
type PortBus struct {
	// index[port] is 0 for an unmapped port, otherwise 1 + the position of
	// the owning device in devs.
	index [1 << 16]uint16
	devs  []busEntry
}

// NewPortBus returns an empty bus: every port unmapped.
func NewPortBus() *PortBus {
	return &PortBus{}
}

// Register claims ports [base, base+n) for d. It fails if the range is empty,
// runs past 0xFFFF, or overlaps a range already registered.
func (b *PortBus) Register(base uint16, n int, d PortDevice) error {
	if d == nil {
		return fmt.Errorf("register ports %#x+%d: nil device: %w", base, n, ErrPortRange)
	}
	if n <= 0 || int(base)+n > 1<<16 {
		return fmt.Errorf("register ports %#x+%d: %w", base, n, ErrPortRange)
	}
	if len(b.devs) >= 1<<16-1 {
		return fmt.Errorf("register ports %#x+%d: too many devices: %w", base, n, ErrPortRange)
	}
	for p := int(base); p < int(base)+n; p++ {
		if idx := b.index[p]; idx != 0 {
			e := b.devs[idx-1]
			return fmt.Errorf("register ports %#x-%#x: port %#x belongs to the device at %#x-%#x: %w",
				base, int(base)+n-1, p, e.base, int(e.base)+e.n-1, ErrPortOverlap)
		}
	}
	b.devs = append(b.devs, busEntry{base: base, n: n, dev: d})
	idx := uint16(len(b.devs))
	for p := int(base); p < int(base)+n; p++ {
		b.index[p] = idx
	}
	return nil
}

// Lookup returns the device that owns port, if any.
func (b *PortBus) Lookup(port uint16) (PortDevice, bool) {
	idx := b.index[port]
	if idx == 0 {
		return nil, false
	}
	return b.devs[idx-1].dev, true
}

// In performs a port read of size bytes. Unmapped ports read as all-ones of
// the access size (0xFF, 0xFFFF, 0xFFFFFFFF), as on an ISA bus with nothing
// driving the data lines.
func (b *PortBus) In(port uint16, size int) uint32 {
	m := sizeMask(size)
	idx := b.index[port]
	if idx == 0 {
		return m
	}
	return b.devs[idx-1].dev.In(port, size) & m
}

// Out performs a port write of size bytes. Writes to unmapped ports are
// ignored.
func (b *PortBus) Out(port uint16, size int, val uint32) {
	idx := b.index[port]
	if idx == 0 {
		return
	}
	b.devs[idx-1].dev.Out(port, size, val&sizeMask(size))
}

// sizeMask returns the all-ones value of an access of size bytes.
func sizeMask(size int) uint32 {
	switch size {
	case 1:
		return 0xFF
	case 2:
		return 0xFFFF
	default:
		return 0xFFFFFFFF
	}
}

// readBytes performs a multi-byte read as consecutive byte reads at port,
// port+1, ..., the way an ISA bus presents a wide access to an 8-bit device
// (QEMU's memory core does the same for devices whose implementation size is
// 1). read returns the byte at one port.
func readBytes(port uint16, size int, read func(p uint16) uint8) uint32 {
	var v uint32
	for i := 0; i < size && i < 4; i++ {
		v |= uint32(read(port+uint16(i))) << (8 * i)
	}
	return v
}

// writeBytes is the write counterpart of readBytes: byte i of val goes to
// port+i, lowest first.
func writeBytes(port uint16, size int, val uint32, write func(p uint16, v uint8)) {
	for i := 0; i < size && i < 4; i++ {
		write(port+uint16(i), uint8(val>>(8*i)))
	}
}

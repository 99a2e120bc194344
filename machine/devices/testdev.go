package devices

// PCTestdev is QEMU's "pc-testdev" ISA device (-device pc-testdev), the
// test device kvm-unit-tests' x86 runner adds to every test. Its
// behaviour here was measured on QEMU 7.2 (qemu-system-x86_64 -accel tcg
// -nodefaults -device pc-testdev) with a probe kernel that performs each
// access and prints the results (the values are the expectations in
// testdev_test.go); the names are QEMU's memory-region names:
//
//   - "pc-testdev-ioport", ports 0xE0-0xE3: a 32-bit scratch register.
//     A naturally aligned byte, word or dword access reads or writes the
//     bytes it covers (a byte written at 0xE2 replaces bits 23:16; a word
//     read at 0xE2 returns bits 31:16). Misaligned accesses (a word at
//     0xE1, a dword at 0xE2) are refused: reads return 0, writes do
//     nothing.
//   - "pc-testdev-ioport-byte", ports 0xE8-0xEB: the same register through
//     a region QEMU implements one byte at a time; seen from the guest it
//     behaves exactly like 0xE0-0xE3 (aligned accesses only).
//   - "pc-testdev-flush-page", ports 0xE4-0xE7: a dword write of a
//     guest-physical address asks QEMU to drop and re-establish its host
//     mapping of that page (mprotect), so that KVM takes fresh faults.
//     vmxemu keeps no host mappings a guest could observe, so the write
//     has no effect; reads return 0.
//   - "pc-testdev-irq-line", ports 0x2000-0x2017: a byte write of V to
//     0x2000+n drives interrupt line n (GSI n) to V != 0. Lines 0-15 are
//     the ISA IRQs (8259 and I/O APIC), 16-23 the I/O APIC's other pins.
//     Word and dword accesses are refused (writes ignored: a dword write
//     of 1 to 0x200B leaves IRQ 11 low); byte reads return 0.
//   - "pc-testdev-iomem", guest-physical 0xFF000000-0xFF00FFFF: 64 KiB of
//     MMIO that behaves like RAM (a dword write then a byte write at +1
//     reads back merged; a dword read that runs past the end returns
//     zeros for the missing bytes). It starts zeroed.
type PCTestdev struct {
	data  uint32
	iomem []byte
	line  func(n int, high bool)
}

// pc-testdev addresses (QEMU hw/misc/pc-testdev.c; measured, see above).
const (
	PortTestdevIO      uint16 = 0xE0   // scratch register
	PortTestdevFlush   uint16 = 0xE4   // flush-page
	PortTestdevIOByte  uint16 = 0xE8   // scratch register, byte-implemented
	PortTestdevIRQ     uint16 = 0x2000 // interrupt lines
	TestdevIRQLines           = 24
	TestdevIOMemBase   uint64 = 0xFF000000
	TestdevIOMemSize          = 0x10000
	testdevIOPortBytes        = 4
)

// NewPCTestdev returns the device. line drives interrupt line n (GSI n,
// 0 <= n < 24) high or low.
func NewPCTestdev(line func(n int, high bool)) *PCTestdev {
	return &PCTestdev{iomem: make([]byte, TestdevIOMemSize), line: line}
}

// Register claims the device's ports on b (its MMIO page is the board's
// to map: ReadMMIO and WriteMMIO).
func (d *PCTestdev) Register(b *PortBus) error {
	for _, r := range []struct {
		base uint16
		n    int
	}{
		{PortTestdevIO, testdevIOPortBytes},
		{PortTestdevFlush, 4},
		{PortTestdevIOByte, testdevIOPortBytes},
		{PortTestdevIRQ, TestdevIRQLines},
	} {
		if err := b.Register(r.base, r.n, d); err != nil {
			return err
		}
	}
	return nil
}

// scratchOffset returns the byte offset of an access to the scratch
// register and whether QEMU accepts it (naturally aligned).
func scratchOffset(port uint16, size int) (uint, bool) {
	off := uint(port & 3)
	return off, off%uint(size) == 0
}

// In implements PortDevice.
func (d *PCTestdev) In(port uint16, size int) uint32 {
	switch {
	case port >= PortTestdevIO && port < PortTestdevIO+4,
		port >= PortTestdevIOByte && port < PortTestdevIOByte+4:
		off, ok := scratchOffset(port, size)
		if !ok {
			return 0
		}
		return d.data >> (8 * off) & sizeMask(size)
	}
	return 0 // flush-page and IRQ lines read as 0
}

// Out implements PortDevice.
func (d *PCTestdev) Out(port uint16, size int, v uint32) {
	switch {
	case port >= PortTestdevIO && port < PortTestdevIO+4,
		port >= PortTestdevIOByte && port < PortTestdevIOByte+4:
		off, ok := scratchOffset(port, size)
		if !ok {
			return
		}
		m := sizeMask(size) << (8 * off)
		d.data = d.data&^m | v<<(8*off)&m
	case port >= PortTestdevIRQ && port < PortTestdevIRQ+TestdevIRQLines:
		if size == 1 && d.line != nil {
			d.line(int(port-PortTestdevIRQ), v&0xFF != 0)
		}
	}
	// flush-page: nothing to do (see the type's comment).
}

// ReadMMIO reads the iomem page at offset off (machine.MMIODevice).
func (d *PCTestdev) ReadMMIO(off uint64, size int) uint64 {
	var v uint64
	for i := 0; i < size && off+uint64(i) < TestdevIOMemSize; i++ {
		v |= uint64(d.iomem[off+uint64(i)]) << (8 * i)
	}
	return v
}

// WriteMMIO writes the iomem page at offset off (machine.MMIODevice).
func (d *PCTestdev) WriteMMIO(off uint64, size int, v uint64) {
	for i := 0; i < size && off+uint64(i) < TestdevIOMemSize; i++ {
		d.iomem[off+uint64(i)] = uint8(v >> (8 * i))
	}
}

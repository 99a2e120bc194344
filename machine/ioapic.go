package machine

import "github.com/vmxemu/vmxemu/machine/vtd"

// The I/O APIC (Intel 82093AA I/O APIC datasheet; the one in the ICH/PIIX
// chipsets QEMU's pc machine models): 24 redirection entries at
// 0xFEC00000, reached through IOREGSEL (offset 0x00) and IOWIN (0x10).
// ISA IRQ 0 (the PIT) arrives on pin 2 and the other ISA IRQs on the pin
// of their number, as the MADT's interrupt source override says (QEMU's
// wiring).

const (
	// IOAPICBase is the I/O APIC's MMIO address.
	IOAPICBase = 0xFEC00000
	// IOAPICPins is the number of redirection entries.
	IOAPICPins = 24
	// ioapicVersion: version 0x20 with 24 entries (max redirection entry
	// 23 in bits 23:16), as QEMU's ioapic reports.
	ioapicVersion = 0x00170020

	redirMasked   = 1 << 16
	redirLevel    = 1 << 15
	redirRemoteIR = 1 << 14
	redirLogical  = 1 << 11
	// redirWritable: vector, delivery mode, destination mode, polarity,
	// trigger mode, mask and destination (delivery status and remote IRR
	// are read-only).
	redirWritable = 0xFF000000_0001AFFF
	// redirEDID is the Extended Destination ID, bits 55:48, writable in
	// the ICH9's I/O APIC (ICH9 datasheet, I/O APIC redirection table;
	// reserved in the 82093AA): with VT-d interrupt remapping, bit 48 is
	// the interrupt format and 63:49 the interrupt index (VT-d 5.1.5.1).
	redirEDID = 0x00FF0000_00000000
)

// IOAPIC is the board's I/O APIC.
type IOAPIC struct {
	m     *Machine
	sel   uint32
	id    uint32
	redir [IOAPICPins]uint64
	lines uint32 // level of each input pin
	// writable are the redirection entry bits software can write
	// (redirWritable; with redirEDID on the q35 board).
	writable uint64
}

func newIOAPIC(m *Machine) *IOAPIC {
	io := &IOAPIC{m: m, writable: redirWritable}
	if m.cfg.Chipset == ChipsetQ35 {
		io.writable |= redirEDID
	}
	for i := range io.redir {
		io.redir[i] = redirMasked
	}
	return io
}

// ReadMMIO implements MMIODevice.
func (io *IOAPIC) ReadMMIO(off uint64, size int) uint64 {
	switch off &^ 3 {
	case 0x00:
		return uint64(io.sel)
	case 0x10:
		return uint64(io.readReg(io.sel))
	}
	return 0
}

// WriteMMIO implements MMIODevice.
func (io *IOAPIC) WriteMMIO(off uint64, size int, v uint64) {
	switch off &^ 3 {
	case 0x00:
		io.sel = uint32(v) & 0xFF
	case 0x10:
		io.writeReg(io.sel, uint32(v))
	case 0x40: // EOI register (version 0x20)
		io.eoi(uint8(v))
	}
}

func (io *IOAPIC) readReg(r uint32) uint32 {
	switch {
	case r == 0:
		return io.id
	case r == 1:
		return ioapicVersion
	case r == 2:
		return io.id // arbitration ID
	case r >= 0x10 && r < 0x10+2*IOAPICPins:
		e := io.redir[(r-0x10)/2]
		if r&1 != 0 {
			return uint32(e >> 32)
		}
		return uint32(e)
	}
	return 0xFFFFFFFF
}

func (io *IOAPIC) writeReg(r uint32, v uint32) {
	switch {
	case r == 0:
		io.id = v & 0x0F000000
	case r >= 0x10 && r < 0x10+2*IOAPICPins:
		pin := (r - 0x10) / 2
		e := io.redir[pin]
		if r&1 != 0 {
			e = e&0xFFFFFFFF | uint64(v)<<32
		} else {
			e = e&^0xFFFFFFFF | uint64(v)
		}
		io.redir[pin] = e&io.writable | io.redir[pin]&redirRemoteIR
		if io.redir[pin]&redirLevel == 0 {
			io.redir[pin] &^= redirRemoteIR
		}
		io.service(int(pin))
	}
}

// setPin drives input pin n. An edge-triggered entry sends a message on
// the rising edge; a level-triggered one while the line is high and its
// remote IRR is clear.
func (io *IOAPIC) setPin(n int, high bool) {
	if n < 0 || n >= IOAPICPins {
		return
	}
	bit := uint32(1) << n
	was := io.lines&bit != 0
	if high {
		io.lines |= bit
	} else {
		io.lines &^= bit
	}
	e := io.redir[n]
	if high && (!was || e&redirLevel != 0) {
		io.send(n)
	}
}

// service re-evaluates a level-triggered pin (after an unmask or EOI).
func (io *IOAPIC) service(n int) {
	if io.lines&(1<<n) != 0 && io.redir[n]&redirLevel != 0 {
		io.send(n)
	}
}

func (io *IOAPIC) send(n int) {
	e := io.redir[n]
	if e&redirMasked != 0 || e&redirLevel != 0 && e&redirRemoteIR != 0 {
		return
	}
	if e&redirLevel != 0 {
		io.redir[n] |= redirRemoteIR
	}
	if io.m.iommu != nil {
		io.m.ioapicMessage(e)
		return
	}
	io.m.deliverInterrupt(vtd.Interrupt{Dest: uint32(e >> 56), Vector: uint8(e), DeliveryMode: uint8(e >> 8 & 7),
		Logical: e&redirLogical != 0, Level: e&redirLevel != 0})
}

// eoi clears the remote IRR of the level-triggered entries with vector v
// (a local APIC's EOI broadcast) and re-delivers lines still asserted.
func (io *IOAPIC) eoi(v uint8) {
	for n, e := range io.redir {
		if e&redirLevel != 0 && e&redirRemoteIR != 0 && uint8(e) == v {
			io.redir[n] &^= redirRemoteIR
			io.service(n)
		}
	}
}

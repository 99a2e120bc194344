package pci

// Edu is QEMU's educational PCI device (-device edu; QEMU docs/specs/edu.rst
// is its specification, hw/misc/edu.c its implementation): PCI ID
// 1234:11e8, revision 0x10, class "other" (0x00ff00), INTA#, a 64-bit MSI
// capability with one message, and BAR0: 1 MiB of registers.
//
// Registers (edu.rst "MMIO area spec"): below 0x80 only 4-byte accesses,
// from 0x80 4- or 8-byte ones; others read all ones and are ignored.
//
//	0x00 RO identification 0x010000ed (version 1.0)
//	0x04 RW liveness check: reads the bitwise inverse of the last write
//	0x08 RW factorial: a write starts computing the value's factorial
//	     (32-bit, wrapping) unless one is in progress
//	0x20 RW status: 0x01 computing (RO), 0x80 raise interrupt 0x001
//	     when the factorial is done
//	0x24 RO interrupt status
//	0x60 WO interrupt raise (ORed into the status), 0x64 WO acknowledge
//	0x80 DMA source, 0x88 destination, 0x90 count, 0x98 command (0x01
//	     start, 0x02 direction: 0 RAM to device, 1 device to RAM, 0x04
//	     raise interrupt 0x100 when done); ignored while a transfer runs
//
// The DMA buffer is 4096 bytes at device address 0x40000 (edu.rst "DMA
// controller"); bus addresses are masked with dma_mask, 2^28-1 by default
// (edu.rst "Command line switches"). An interrupt goes out as MSI when
// the capability is enabled, otherwise on INTA#, which stays asserted
// while the interrupt status is not 0.
//
// Timing: vmxemu's edu is deterministic in virtual time. The factorial and
// DMA transfers complete during the register write that starts them, so
// the computing flag and the DMA start bit already read 0 afterwards.
// QEMU computes the factorial on a host thread and runs DMA from a 100 ms
// virtual-clock timer; the specification only promises that software
// sees the flags clear when the work is done, which holds.
type Edu struct {
	cfg *Config

	// DMA performs a bus-master transfer of len(buf) bytes at bus address
	// addr (write: from buf to memory), through the IOMMU when the board
	// has one; requester is the device's bus/device/function.
	DMA func(requester uint16, addr uint64, buf []byte, write bool) error
	// SetINTx drives the device's INTA# line.
	SetINTx func(high bool)
	// MSI sends a message-signalled interrupt.
	MSI func(requester uint16, addr uint64, data uint32)

	devfn     uint8
	addr4     uint32
	fact      uint32
	status    uint32
	irqStatus uint32
	dmaSrc    uint64
	dmaDst    uint64
	dmaCnt    uint64
	dmaCmd    uint64
	dmaMask   uint64
	buf       [EduDMASize]byte
	intxHigh  bool
}

// Edu constants (edu.rst).
const (
	VendorQEMU      = 0x1234
	DeviceEdu       = 0x11E8
	EduRevision     = 0x10
	ClassOther      = 0x00FF00
	EduBARSize      = 1 << 20
	EduID           = 0x010000ED
	EduDMAStart     = 0x40000
	EduDMASize      = 4096
	EduDMAMask      = 1<<28 - 1
	EduStatusBusy   = 0x01
	EduStatusIRQ    = 0x80
	EduIRQFact      = 0x001
	EduIRQDMA       = 0x100
	EduDMARun       = 0x1
	EduDMAToRAM     = 0x2
	EduDMAIRQ       = 0x4
	eduMSICapOffset = 0x40 // the first free offset, where QEMU's msi_init puts it
)

// NewEdu returns an edu device at devfn in its reset state.
func NewEdu(devfn uint8) *Edu {
	c := NewConfig(Ident{Vendor: VendorQEMU, Device: DeviceEdu, Revision: EduRevision, Class: ClassOther,
		SubVendor: 0x1AF4, SubDevice: 0x1100, IntPin: 1})
	c.AddBAR(0, EduBARSize, false)
	c.AddMSI(eduMSICapOffset)
	return &Edu{cfg: c, devfn: devfn, dmaMask: EduDMAMask}
}

// Config implements Function.
func (e *Edu) Config() *Config { return e.cfg }

// ConfigWritten implements Function: enabling MSI or setting the
// interrupt-disable bit takes the INTx line down; the reverse puts it back
// up if the interrupt status is not 0.
func (e *Edu) ConfigWritten(off, size int) { e.updateINTx() }

// requester is the device's source-id (bus 0).
func (e *Edu) requester() uint16 { return uint16(e.devfn) }

func (e *Edu) msiEnabled() bool { on, _, _ := e.cfg.MSI(); return on }

// updateINTx drives INTA# from the interrupt status (level, PCI 3.0 2.2.6),
// unless MSI is enabled or the command register disables INTx.
func (e *Edu) updateINTx() {
	want := e.irqStatus != 0 && !e.msiEnabled()
	e.cfg.SetIntxStatus(want)
	if e.cfg.Command()&CmdIntxDis != 0 {
		want = false
	}
	if want != e.intxHigh {
		e.intxHigh = want
		if e.SetINTx != nil {
			e.SetINTx(want)
		}
	}
}

func (e *Edu) raise(v uint32) {
	e.irqStatus |= v
	if e.irqStatus == 0 {
		return
	}
	if on, addr, data := e.cfg.MSI(); on {
		// A function sends MSI only as a bus master (PCI 3.0 6.8.1:
		// MSI is a memory write transaction).
		if e.MSI != nil && e.cfg.Command()&CmdMaster != 0 {
			e.MSI(e.requester(), addr, data)
		}
		return
	}
	e.updateINTx()
}

func (e *Edu) lower(v uint32) {
	e.irqStatus &^= v
	e.updateINTx()
}

// ReadBAR implements MemDevice.
func (e *Edu) ReadBAR(bar int, off uint64, size int) uint64 {
	if off < 0x80 && size != 4 || off >= 0x80 && size != 4 && size != 8 {
		return ^uint64(0)
	}
	switch off {
	case 0x00:
		return EduID
	case 0x04:
		return uint64(e.addr4)
	case 0x08:
		return uint64(e.fact)
	case 0x20:
		return uint64(e.status)
	case 0x24:
		return uint64(e.irqStatus)
	case 0x80:
		return e.dmaSrc
	case 0x88:
		return e.dmaDst
	case 0x90:
		return e.dmaCnt
	case 0x98:
		return e.dmaCmd
	}
	return ^uint64(0)
}

// WriteBAR implements MemDevice.
func (e *Edu) WriteBAR(bar int, off uint64, size int, v uint64) {
	if off < 0x80 && size != 4 || off >= 0x80 && size != 4 && size != 8 {
		return
	}
	dmaIdle := e.dmaCmd&EduDMARun == 0
	switch off {
	case 0x04:
		e.addr4 = ^uint32(v)
	case 0x08:
		if e.status&EduStatusBusy == 0 {
			e.factorial(uint32(v))
		}
	case 0x20:
		e.status = e.status&EduStatusBusy | uint32(v)&EduStatusIRQ
	case 0x60:
		e.raise(uint32(v))
	case 0x64:
		e.lower(uint32(v))
	case 0x80:
		if dmaIdle {
			e.dmaSrc = v
		}
	case 0x88:
		if dmaIdle {
			e.dmaDst = v
		}
	case 0x90:
		if dmaIdle {
			e.dmaCnt = v
		}
	case 0x98:
		if dmaIdle && v&EduDMARun != 0 {
			e.dmaCmd = v
			e.runDMA()
		}
	}
}

// factorial computes n! modulo 2^32 and completes at once.
func (e *Edu) factorial(n uint32) {
	r := uint32(1)
	for ; n > 0; n-- {
		r *= n
	}
	e.fact = r
	e.status &^= EduStatusBusy
	if e.status&EduStatusIRQ != 0 {
		e.raise(EduIRQFact)
	}
}

// runDMA performs the programmed transfer. A range outside the 4 KiB
// buffer or a failed bus transfer moves nothing (QEMU logs the former as
// a guest error); the command completes either way.
func (e *Edu) runDMA() {
	toRAM := e.dmaCmd&EduDMAToRAM != 0
	dev, bus := e.dmaDst, e.dmaSrc
	if toRAM {
		dev, bus = e.dmaSrc, e.dmaDst
	}
	n := e.dmaCnt
	if dev >= EduDMAStart && n <= EduDMASize && dev-EduDMAStart <= EduDMASize-n &&
		e.DMA != nil && e.cfg.Command()&CmdMaster != 0 {
		off := dev - EduDMAStart
		_ = e.DMA(e.requester(), bus&e.dmaMask, e.buf[off:off+n], toRAM)
	}
	e.dmaCmd &^= EduDMARun
	if e.dmaCmd&EduDMAIRQ != 0 {
		e.raise(EduIRQDMA)
	}
}

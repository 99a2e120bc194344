package pci

// The Q35 chipset's own functions as QEMU's q35 machine presents them
// (hw/pci-host/q35.c, hw/isa/lpc_ich9.c; Intel 3 Series Express Chipset
// Family datasheet (MCH) and Intel I/O Controller Hub 9 (ICH9) Family
// datasheet (LPC interface bridge, chapter 13.1)): only the registers
// vmxemu's board honours are there; every other register reads 0 and
// ignores writes.

// Q35 identification (QEMU: PCI_DEVICE_ID_INTEL_Q35_MCH 0x29c0,
// PCI_DEVICE_ID_INTEL_ICH9_8 0x2918 with revision ICH9_A2_LPC_REVISION 2).
const (
	VendorIntel      = 0x8086
	DeviceQ35MCH     = 0x29C0
	DeviceICH9LPC    = 0x2918
	ClassHostBridge  = 0x060000
	ClassISABridge   = 0x060100
	LPCRevision      = 0x02
	DevfnMCH         = 0x00 // 00:00.0
	DevfnLPC         = 0xF8 // 00:1f.0
	regPCIEXBAR      = 0x60 // MCH: PCI Express register range base address
	regPMBASE        = 0x40 // LPC: ACPI base address (13.1.10)
	regACPICNTL      = 0x44 // LPC: ACPI control (13.1.11)
	regPIRQARout     = 0x60 // LPC: PIRQ[A-D] routing control (13.1.13)
	regPIRQERout     = 0x68 // LPC: PIRQ[E-H] routing control (13.1.17)
	pirqDisable      = 0x80 // IRQEN: 1 = not routed to the 8259
	pirqIRQMask      = 0x0F
	acpiEnable       = 0x80 // ACPI_CNTL.ACPI_EN
	ECAMBase         = 0xB0000000
	ECAMSize         = 256 << 20 // buses 0-255
	pciexbarLen256M  = 0 << 1    // PCIEXBAR length field 00: 256 MiB
	pciexbarEnable   = 1
	PIRQs            = 8
	firstPIRQGSI     = 16 // PIRQ A-H drive I/O APIC inputs 16-23
	numLegacyPIRQGSI = 25 // slots below 25 route INTx to PIRQ E-H
)

// MCH is the Q35 host bridge at 00:00.0. Its PCIEXBAR reads as SeaBIOS
// programs it on QEMU (256 MiB of ECAM at 0xB0000000, enabled); vmxemu
// does not move the window, so the register is read-only.
type MCH struct{ cfg *Config }

// NewMCH returns the host bridge in the state firmware leaves it.
func NewMCH() *MCH {
	c := NewConfig(Ident{Vendor: VendorIntel, Device: DeviceQ35MCH, Class: ClassHostBridge,
		SubVendor: 0x1AF4, SubDevice: 0x1100}) // QEMU's default subsystem IDs
	c.wmask[RegCommand] = 0
	c.wmask[RegCommand+1] = 0
	c.wmask[RegInterruptLine] = 0
	c.SetReadOnly(regPCIEXBAR, ECAMBase|pciexbarLen256M|pciexbarEnable, 4)
	return &MCH{cfg: c}
}

// Config implements Function.
func (h *MCH) Config() *Config { return h.cfg }

// ConfigWritten implements Function.
func (h *MCH) ConfigWritten(off, size int) {}

// LPC is the ICH9 LPC interface bridge at 00:1f.0. Its header type has
// the multi-function bit clear: on QEMU it is set because 00:1f.2 (AHCI)
// and 00:1f.3 (SMBus) exist, which vmxemu does not model. It has the PIRQ routing
// registers and the ACPI base (read-only at the address SeaBIOS gives it,
// 0x600 with ACPI_EN set: the board's PM block does not move).
type LPC struct {
	cfg *Config
	// Routed is called after a PIRQ routing register changes.
	Routed func()
}

// NewLPC returns the LPC bridge: PIRQ routing registers at their reset
// value 0x80 (not routed, ICH9 13.1.13).
func NewLPC(pmBase uint16) *LPC {
	c := NewConfig(Ident{Vendor: VendorIntel, Device: DeviceICH9LPC, Revision: LPCRevision,
		Class: ClassISABridge, SubVendor: 0x1AF4, SubDevice: 0x1100})
	c.wmask[RegCommand] = 0
	c.wmask[RegCommand+1] = 0
	c.wmask[RegInterruptLine] = 0
	c.SetReadOnly(regPMBASE, uint32(pmBase)|1, 4) // bit 0: I/O space
	c.SetReadOnly(regACPICNTL, acpiEnable, 1)
	for i := range 4 {
		c.SetWritable(regPIRQARout+i, pirqDisable, pirqDisable|pirqIRQMask, 1)
		c.SetWritable(regPIRQERout+i, pirqDisable, pirqDisable|pirqIRQMask, 1)
	}
	return &LPC{cfg: c}
}

// Config implements Function.
func (l *LPC) Config() *Config { return l.cfg }

// ConfigWritten implements Function.
func (l *LPC) ConfigWritten(off, size int) {
	if l.Routed != nil && off < regPIRQERout+4 && off+size > regPIRQARout {
		l.Routed()
	}
}

// PIRQRoute returns the ISA IRQ PIRQ p (0 = A) is routed to, or -1.
// IRQs 0-2, 8 and 13 are reserved encodings (13.1.13): not routed.
func (l *LPC) PIRQRoute(p int) int {
	off := regPIRQARout + p
	if p >= 4 {
		off = regPIRQERout + p - 4
	}
	v := l.cfg.Get8(off)
	irq := int(v & pirqIRQMask)
	if v&pirqDisable != 0 {
		return -1
	}
	switch irq {
	case 0, 1, 2, 8, 13:
		return -1
	}
	return irq
}

// SetPIRQRoute programs PIRQ p's routing register (firmware).
func (l *LPC) SetPIRQRoute(p int, irq uint8) {
	off := regPIRQARout + p
	if p >= 4 {
		off = regPIRQERout + p - 4
	}
	l.cfg.Write(off, 1, uint32(irq))
}

// PIRQOf returns the PIRQ (0 = A) that INTx pin (1 = INTA#) of a device in
// slot drives: QEMU's ICH9 default device interrupt routing
// (lpc_ich9.c ich9_cc_init: slot+pin modulo 4 onto PIRQ E-H for the
// slots below 25, avoiding PIRQ A-D, which belong to PCIe root ports).
func PIRQOf(slot, pin int) int {
	return (slot+pin-1)%4 + 4
}

// PIRQGSI returns the I/O APIC input PIRQ p drives (ICH9 in APIC mode:
// PIRQ A-H on inputs 16-23).
func PIRQGSI(p int) int { return firstPIRQGSI + p }

package firmware

import (
	"encoding/binary"
	"fmt"
)

// Firmware tables describing the processors and interrupt controllers,
// where operating systems look for them: the MP floating pointer and MP
// configuration table (Intel MultiProcessor Specification 1.4, chapter 4)
// and the ACPI RSDP, RSDT, XSDT, FADT, FACS, DSDT and MADT (ACPI 6.5,
// chapter 5.2), all in the BIOS F segment (0xF0000-0xFFFFF, reserved in
// the E820 map), which both specifications name as a place to search
// (MP 1.4 4.0; ACPI 5.2.5.1: "the BIOS read-only memory space between
// 0E0000h and 0FFFFFh").

// Table addresses in the F segment.
const (
	MPFloatAddr  = 0xF0000 // MP floating pointer structure (16 bytes)
	MPConfigAddr = 0xF0010 // MP configuration table
	RSDPAddr     = 0xF4000 // ACPI RSDP (36 bytes, revision 2)
	acpiAreaAddr = 0xF4040 // RSDT, XSDT, FADT, FACS, DSDT, MADT follow
	acpiAreaEnd  = 0x100000
)

// Tables says what the firmware tables describe.
type Tables struct {
	// APICIDs are the processors' initial APIC IDs, the BSP first.
	APICIDs []uint32
	// CPUSignature and CPUFeatures are CPUID.01H:EAX and EDX (the MP
	// table's processor entries carry them).
	CPUSignature, CPUFeatures uint32
	// LAPICAddr and IOAPICAddr are the local APICs' and the I/O APIC's
	// MMIO addresses; IOAPICID is the I/O APIC's ID.
	LAPICAddr, IOAPICAddr uint32
	IOAPICID              uint8
	// ECAMBase, if not 0, is the PCI Express enhanced configuration
	// window of segment 0, buses 0 to ECAMEndBus: an MCFG table
	// describes it (PCI Firmware Specification 3.0, 4.1.2).
	ECAMBase   uint64
	ECAMEndBus uint8
	// DMAR, if not nil, describes a VT-d remapping unit: a DMAR table.
	DMAR *DMAR
}

// DMAR describes one DMA-remapping hardware unit for the DMAR table (VT-d
// spec 8.1, 8.3): a DRHD with INCLUDE_PCI_ALL and the I/O APIC in its
// device scope.
type DMAR struct {
	// AddrWidth is the host address width in bits (the table stores
	// width-1).
	AddrWidth uint8
	// IntRemap sets the INTR_REMAP flag; X2APICOptOut the
	// X2APIC_OPT_OUT flag (8.1).
	IntRemap, X2APICOptOut bool
	// RegBase is the unit's register base.
	RegBase uint64
	// IOAPICSourceID is the I/O APIC's bus/device/function in the
	// device scope (start bus and path).
	IOAPICSourceID uint16
}

// Values shared with the board.
const (
	apicVersionMP   = 0x15 // local APIC version (machine/apic.go)
	ioapicVersionMP = 0x20 // I/O APIC version (machine/ioapic.go)
	sciIRQ          = 9    // the FADT's SCI interrupt (QEMU's)
)

// ACPI fixed-hardware register blocks, at the I/O addresses of QEMU's pc
// machine (PIIX4 PM base 0x600, hw/acpi/piix4.c and the FADT QEMU builds
// for it): PM1a event block (PM1_STS, PM1_EN) 4 bytes, PM1a control block
// 2 bytes, the 24-bit PM timer 4 bytes (machine/devices ACPIPM implements
// them).
const (
	PM1aEvtBlk = 0x600
	PM1aCntBlk = 0x604
	PMTmrBlk   = 0x608
	pm1EvtLen  = 4
	pm1CntLen  = 2
	pmTmrLen   = 4
	rtcCentury = 0x32 // CMOS index of the century (machine/devices RTC)
)

// FADT Flags (ACPI 6.5 Table 5.10).
const (
	fadtWBINVD            = 1 << 0
	fadtProcC1            = 1 << 2
	fadtPwrButton         = 1 << 4 // no fixed-feature power button
	fadtSlpButton         = 1 << 5 // no fixed-feature sleep button
	fadtUsePlatformClock  = 1 << 15
	gasSystemIO           = 1 // Generic Address Structure space ID (5.2.3.2)
	gasAccessWord         = 2
	gasAccessDword        = 3
	fadtPLvl2LatNoC2      = 0xFFF  // > 100: C2 not supported (Table 5.9)
	fadtPLvl3LatNoC3      = 0xFFFF // > 1000: C3 not supported
	fadtOffPM1aEvtBlk     = 56
	fadtOffPM1aCntBlk     = 64
	fadtOffPMTmrBlk       = 76
	fadtOffPM1EvtLen      = 88
	fadtOffPM1CntLen      = 89
	fadtOffPMTmrLen       = 91
	fadtOffPLvl2Lat       = 96
	fadtOffPLvl3Lat       = 98
	fadtOffCentury        = 108
	fadtOffXPM1aEvtBlk    = 148
	fadtOffXPM1aCntBlk    = 172
	fadtOffXPMTmrBlk      = 208
	fadtOffFlags          = 112
	fadtOffIAPCBootArch   = 109
	fadtIAPCLegacyDevices = 1
)

// gas encodes a Generic Address Structure (ACPI 6.5 5.2.3.2) for an I/O
// port block.
func gas(port uint16, bitWidth, access uint8) []byte {
	g := make([]byte, 12)
	g[0], g[1], g[3] = gasSystemIO, bitWidth, access
	binary.LittleEndian.PutUint64(g[4:], uint64(port))
	return g
}

func checksum(b []byte) uint8 {
	var s uint8
	for _, v := range b {
		s += v
	}
	return -s
}

// WriteTables writes the MP and ACPI tables for t into the F segment.
func WriteTables(mem Memory, t Tables) error {
	if len(t.APICIDs) == 0 {
		return fmt.Errorf("firmware tables: no processors")
	}
	if err := writeMP(mem, t); err != nil {
		return err
	}
	return writeACPI(mem, t)
}

// --- MP specification 1.4 ------------------------------------------------

func writeMP(mem Memory, t Tables) error {
	le := binary.LittleEndian
	var ent []byte
	count := 0
	add := func(b []byte) { ent = append(ent, b...); count++ }
	// Processor entries (MP 1.4 Table 4-4): only 8-bit APIC IDs fit.
	for i, id := range t.APICIDs {
		if id > 0xFE {
			continue
		}
		e := make([]byte, 20)
		e[0], e[1], e[2] = 0, uint8(id), apicVersionMP
		e[3] = 1 // enabled
		if i == 0 {
			e[3] |= 2 // bootstrap processor
		}
		le.PutUint32(e[4:], t.CPUSignature)
		le.PutUint32(e[8:], t.CPUFeatures)
		add(e)
	}
	add([]byte{1, 0, 'I', 'S', 'A', ' ', ' ', ' '})              // bus 0: ISA
	ioa := []byte{2, t.IOAPICID, ioapicVersionMP, 1, 0, 0, 0, 0} // I/O APIC, enabled
	le.PutUint32(ioa[4:], t.IOAPICAddr)
	add(ioa)
	// I/O interrupt assignments (Table 4-7): ExtINT on pin 0, ISA IRQ 0
	// on pin 2, IRQ n on pin n otherwise; bus-default polarity/trigger.
	add([]byte{3, 3, 0, 0, 0, 0, t.IOAPICID, 0})
	for irq := 0; irq < 16; irq++ {
		pin := irq
		switch irq {
		case 0:
			pin = 2
		case 2:
			continue
		}
		add([]byte{3, 0, 0, 0, 0, uint8(irq), t.IOAPICID, uint8(pin)})
	}
	// Local interrupt assignments (Table 4-8): ExtINT on LINT0, NMI on
	// LINT1, of every local APIC (0xFF).
	add([]byte{4, 3, 0, 0, 0, 0, 0xFF, 0})
	add([]byte{4, 1, 0, 0, 0, 0, 0xFF, 1})

	hdr := make([]byte, 44)
	copy(hdr, "PCMP")
	le.PutUint16(hdr[4:], uint16(44+len(ent)))
	hdr[6] = 4 // specification revision 1.4
	copy(hdr[8:], "VMXEMU  ")
	copy(hdr[16:], "vmxemu      ")
	le.PutUint16(hdr[34:], uint16(count))
	le.PutUint32(hdr[36:], t.LAPICAddr)
	table := append(hdr, ent...)
	table[7] = checksum(table)
	if MPConfigAddr+len(table) > RSDPAddr {
		return fmt.Errorf("firmware tables: MP configuration table of %d bytes does not fit", len(table))
	}

	fp := make([]byte, 16)
	copy(fp, "_MP_")
	le.PutUint32(fp[4:], MPConfigAddr)
	fp[8] = 1 // length in 16-byte units
	fp[9] = 4 // specification revision 1.4
	// Feature bytes 0: the configuration table is present; IMCRP (byte 2
	// bit 7) clear: virtual-wire mode, no IMCR.
	fp[10] = checksum(fp)
	if err := writePhys(mem, MPFloatAddr, fp, "MP floating pointer"); err != nil {
		return err
	}
	return writePhys(mem, MPConfigAddr, table, "MP configuration table")
}

// --- ACPI ---------------------------------------------------------------

// sdt returns a system description table: the 36-byte header (ACPI 6.5
// 5.2.6) followed by body, checksummed.
func sdt(sig string, rev uint8, body []byte) []byte {
	le := binary.LittleEndian
	b := make([]byte, 36, 36+len(body))
	copy(b, sig)
	le.PutUint32(b[4:], uint32(36+len(body)))
	b[8] = rev
	copy(b[10:], "VMXEMU")
	copy(b[16:], "VMXEMU  ")
	le.PutUint32(b[24:], 1)
	copy(b[28:], "VMXE")
	le.PutUint32(b[32:], 1)
	b = append(b, body...)
	b[9] = checksum(b)
	return b
}

// sleepStateAML is the DSDT's definition block: Name (_Sx, Package (4)
// {SLP_TYPa, SLP_TYPb, 0, 0}) for S3, S4 and S5 (ACPI 6.5 7.4.2 \_Sx).
// Encoding (ACPI 6.5 20.2.5.1, 20.2.5.4, 20.2.3): NameOp 0x08, the
// NameSeg, PackageOp 0x12, PkgLength (one byte: itself, NumElements and
// four one-byte elements = 6), NumElements 4, ZeroOp 0x00 / OneOp 0x01 /
// BytePrefix 0x0A n.
var sleepStateAML = []byte{
	0x08, '_', 'S', '3', '_', 0x12, 0x06, 0x04, 0x01, 0x01, 0x00, 0x00,
	0x08, '_', 'S', '4', '_', 0x12, 0x08, 0x04, 0x0A, 0x02, 0x0A, 0x02, 0x00, 0x00,
	0x08, '_', 'S', '5', '_', 0x12, 0x06, 0x04, 0x00, 0x00, 0x00, 0x00,
}

// FACSAddr is the guest-physical address of the FACS (ACPI 6.5 5.2.10):
// the first of the ACPI tables WriteTables lays out.
const FACSAddr = acpiAreaAddr

// FACS field offsets (ACPI 6.5 Table 5.14).
const (
	facsOffWakingVector  = 12 // Firmware_Waking_Vector, 4 bytes
	facsOffXWakingVector = 24 // X_Firmware_Waking_Vector, 8 bytes
)

func writeACPI(mem Memory, t Tables) error {
	le := binary.LittleEndian
	// Lay the tables out one after the other, 64-byte aligned (the FACS
	// must be).
	addr := uint64(acpiAreaAddr)
	var blobs [][]byte
	var addrs []uint64
	place := func(b []byte) uint64 {
		a := addr
		blobs, addrs = append(blobs, b), append(addrs, a)
		addr = (addr + uint64(len(b)) + 63) &^ 63
		return a
	}

	// FACS (5.2.10): no checksum; version 2.
	facs := make([]byte, 64)
	copy(facs, "FACS")
	le.PutUint32(facs[4:], 64)
	facs[32] = 2
	facsAddr := place(facs)

	// DSDT: no ACPI devices, only the sleep-state objects \_S3, \_S4 and
	// \_S5 with QEMU's PIIX4 SLP_TYP values (S3 1, S4 2, S5 0; QEMU's
	// hw/i386/acpi-build.c builds the same packages), so that OSPM can
	// suspend to RAM and power off.
	dsdtAddr := place(sdt("DSDT", 2, sleepStateAML))

	// FADT revision 3 (244 bytes, 5.2.9, Table 5.9): FACS and DSDT, SCI
	// on IRQ 9, no SMI command port (ACPI mode is always on), the PM1a
	// event and control blocks and the 24-bit PM timer at QEMU's PIIX4
	// addresses (also as X_ Generic Address Structures), no C2/C3, the
	// RTC century index; boot architecture flags: legacy devices (PIT,
	// PIC, RTC) present.
	fadt := make([]byte, 244-36)
	at := func(off int) []byte { return fadt[off-36:] }
	le.PutUint32(at(36), uint32(facsAddr)) // FIRMWARE_CTRL
	le.PutUint32(at(40), uint32(dsdtAddr)) // DSDT
	le.PutUint16(at(46), sciIRQ)           // SCI_INT
	le.PutUint32(at(fadtOffPM1aEvtBlk), PM1aEvtBlk)
	le.PutUint32(at(fadtOffPM1aCntBlk), PM1aCntBlk)
	le.PutUint32(at(fadtOffPMTmrBlk), PMTmrBlk)
	at(fadtOffPM1EvtLen)[0] = pm1EvtLen
	at(fadtOffPM1CntLen)[0] = pm1CntLen
	at(fadtOffPMTmrLen)[0] = pmTmrLen
	le.PutUint16(at(fadtOffPLvl2Lat), fadtPLvl2LatNoC2)
	le.PutUint16(at(fadtOffPLvl3Lat), fadtPLvl3LatNoC3)
	at(fadtOffCentury)[0] = rtcCentury
	le.PutUint16(at(fadtOffIAPCBootArch), fadtIAPCLegacyDevices)
	le.PutUint32(at(fadtOffFlags), fadtWBINVD|fadtProcC1|fadtPwrButton|fadtSlpButton|fadtUsePlatformClock)
	le.PutUint64(at(140), dsdtAddr) // X_DSDT
	copy(at(fadtOffXPM1aEvtBlk), gas(PM1aEvtBlk, 8*pm1EvtLen, gasAccessWord))
	copy(at(fadtOffXPM1aCntBlk), gas(PM1aCntBlk, 8*pm1CntLen, gasAccessWord))
	copy(at(fadtOffXPMTmrBlk), gas(PMTmrBlk, 8*pmTmrLen, gasAccessDword))
	fadtAddr := place(sdt("FACP", 3, fadt))

	// MADT (5.2.12): local APIC address, PCAT_COMPAT (dual 8259s).
	madt := make([]byte, 8)
	le.PutUint32(madt[0:], t.LAPICAddr)
	le.PutUint32(madt[4:], 1)
	for i, id := range t.APICIDs {
		if id < 0xFF {
			madt = append(madt, 0, 8, uint8(i), uint8(id), 1, 0, 0, 0) // enabled
			continue
		}
		e := make([]byte, 16) // processor local x2APIC (type 9)
		e[0], e[1] = 9, 16
		le.PutUint32(e[4:], id)
		le.PutUint32(e[8:], 1)
		le.PutUint32(e[12:], uint32(i))
		madt = append(madt, e...)
	}
	ioa := []byte{1, 12, t.IOAPICID, 0, 0, 0, 0, 0, 0, 0, 0, 0}
	le.PutUint32(ioa[4:], t.IOAPICAddr)
	madt = append(madt, ioa...)
	// Interrupt source overrides: ISA IRQ 0 on GSI 2 (conforming
	// polarity and trigger), the SCI (IRQ 9) level-triggered active high.
	madt = append(madt, 2, 10, 0, 0, 2, 0, 0, 0, 0, 0)
	madt = append(madt, 2, 10, 0, sciIRQ, sciIRQ, 0, 0, 0, 0x0D, 0)
	// Local APIC NMI: LINT1 of every processor (UID 0xFF).
	madt = append(madt, 4, 6, 0xFF, 0, 0, 1)
	madtAddr := place(sdt("APIC", 3, madt))
	entries := []uint64{fadtAddr, madtAddr}
	if t.ECAMBase != 0 {
		entries = append(entries, place(mcfg(t)))
	}
	if t.DMAR != nil {
		entries = append(entries, place(dmar(t)))
	}

	rsdtBody := make([]byte, 4*len(entries))
	xsdtBody := make([]byte, 8*len(entries))
	for i, a := range entries {
		le.PutUint32(rsdtBody[4*i:], uint32(a))
		le.PutUint64(xsdtBody[8*i:], a)
	}
	rsdtAddr := place(sdt("RSDT", 1, rsdtBody))
	xsdtAddr := place(sdt("XSDT", 1, xsdtBody))
	if addr > acpiAreaEnd {
		return fmt.Errorf("firmware tables: the ACPI tables (%d processors) do not fit in the F segment", len(t.APICIDs))
	}

	// RSDP revision 2 (5.2.5.3).
	rsdp := make([]byte, 36)
	copy(rsdp, "RSD PTR ")
	copy(rsdp[9:], "VMXEMU")
	rsdp[15] = 2
	le.PutUint32(rsdp[16:], uint32(rsdtAddr))
	le.PutUint32(rsdp[20:], 36)
	le.PutUint64(rsdp[24:], xsdtAddr)
	rsdp[8] = checksum(rsdp[:20])
	rsdp[32] = checksum(rsdp)

	if err := writePhys(mem, RSDPAddr, rsdp, "ACPI RSDP"); err != nil {
		return err
	}
	for i, b := range blobs {
		if err := writePhys(mem, addrs[i], b, "ACPI "+string(b[:4])); err != nil {
			return err
		}
	}
	return nil
}

// mcfg builds the MCFG table (PCI Firmware Specification 3.0, 4.1.2,
// Tables 4-2 and 4-3): 8 reserved bytes, then one allocation structure:
// base address, PCI segment group 0, start and end bus numbers.
func mcfg(t Tables) []byte {
	b := make([]byte, 8+16)
	binary.LittleEndian.PutUint64(b[8:], t.ECAMBase)
	b[8+10], b[8+11] = 0, t.ECAMEndBus
	return sdt("MCFG", 1, b)
}

// DMAR table constants (VT-d spec 8.1, 8.3, 8.3.1).
const (
	dmarFlagIntrRemap    = 1 << 0
	dmarFlagX2APICOptOut = 1 << 1
	drhdIncludePCIAll    = 1 << 0
	dmarScopeIOAPIC      = 3
)

// dmar builds the DMAR table (VT-d spec 8.1): host address width - 1,
// flags, 10 reserved bytes, then one DRHD (8.3: type 0, length, flags
// INCLUDE_PCI_ALL, size 0 (one 4 KiB page), segment 0, register base)
// with one device scope entry for the I/O APIC (8.3.1: type 3, length 8,
// enumeration ID = the I/O APIC's ID, start bus, path device and
// function).
func dmar(t Tables) []byte {
	le := binary.LittleEndian
	d := t.DMAR
	b := make([]byte, 12)
	b[0] = d.AddrWidth - 1
	if d.IntRemap {
		b[1] |= dmarFlagIntrRemap
	}
	if d.X2APICOptOut {
		b[1] |= dmarFlagX2APICOptOut
	}
	drhd := make([]byte, 16+8)
	le.PutUint16(drhd[0:], 0)
	le.PutUint16(drhd[2:], uint16(len(drhd)))
	drhd[4] = drhdIncludePCIAll
	le.PutUint64(drhd[8:], d.RegBase)
	scope := drhd[16:]
	scope[0], scope[1] = dmarScopeIOAPIC, 8
	scope[4] = t.IOAPICID
	scope[5] = uint8(d.IOAPICSourceID >> 8)
	scope[6], scope[7] = uint8(d.IOAPICSourceID>>3&0x1F), uint8(d.IOAPICSourceID&7)
	return sdt("DMAR", 1, append(b, drhd...))
}

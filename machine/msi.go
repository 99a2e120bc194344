package machine

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/machine/vtd"
)

// Interrupt messages: the I/O APIC's redirection entries and PCI functions'
// MSI writes end here, through the VT-d unit's interrupt remapping when
// the board has one.

// ioapicSourceID is the source-id the DMAR table's device scope gives the
// I/O APIC: QEMU's pseudo bus 0xFF, device 0 (Q35_PSEUDO_BUS_PLATFORM,
// Q35_PSEUDO_DEVFN_IOAPIC).
const ioapicSourceID = 0xFF00

// msiAddrBase is the interrupt address range 0xFEE00000-0xFEEFFFFF (SDM
// Vol. 3A 11.11.1; VT-d 3.14: writes there are interrupt requests, not
// DMA).
const msiAddrBase = 0xFEE00000

// ioapicMessage sends redirection entry e as an interrupt request to the
// VT-d unit, in the form VT-d 5.1.5.1 gives it: an entry with bit 48 set
// is in remappable format, its interrupt index in bits 63:49 (index 14:0)
// and 11 (index 15) becomes address bits 19:5 and 2 with the format bit
// 4; otherwise the entry's destination, mode, vector, delivery and
// trigger modes make a compatibility-format request.
//
// The request carries no requester ID, so the unit skips source-ID
// verification: QEMU's I/O APIC writes its messages without one
// (hw/intc/ioapic.c ioapic_service; intel_iommu.c then uses
// X86_IOMMU_SID_INVALID), and vmxemu follows it. On hardware the I/O
// APIC's requests carry the source-id of its DMAR device scope
// (ioapicSourceID), which an IRTE with SVT=01b must name.
func (m *Machine) ioapicMessage(e uint64) {
	var addr uint64
	var data uint32
	if e>>48&1 != 0 {
		addr = msiAddrBase | (e>>49&0x7FFF)<<5 | 1<<4 | (e>>11&1)<<2
		data = uint32(e&0xFF) | uint32(e&redirLevel)
	} else {
		addr = msiAddrBase | (e>>56)<<12
		if e&redirLogical != 0 {
			addr |= 1 << 2
		}
		data = uint32(e&0xFF) | uint32(e&0x700) | uint32(e&redirLevel)
	}
	if in, ok := m.iommu.Remap(ioapicSourceID, false, addr, data); ok {
		m.deliverInterrupt(in)
	}
}

// deviceMSI is a PCI function's message-signalled interrupt: a memory
// write of data at addr. Writes to the interrupt address range are
// interrupt requests (remapped by the VT-d unit when there is one);
// any other address is an ordinary DMA write.
func (m *Machine) deviceMSI(requester uint16, addr uint64, data uint32) {
	if addr>>20 != msiAddrBase>>20 {
		var b [4]byte
		binary.LittleEndian.PutUint32(b[:], data)
		_ = m.deviceDMA(requester, addr, b[:], true)
		return
	}
	in := vtd.DecodeCompat(addr, data)
	if m.iommu != nil {
		var ok bool
		if in, ok = m.iommu.Remap(requester, true, addr, data); !ok {
			return
		}
	}
	m.deliverInterrupt(in)
}

// deliverInterrupt hands an interrupt message in compatibility form to
// the local APICs it addresses (SDM Vol. 3A 11.6.2 destinations; lowest
// priority goes to the addressed APIC with the lowest processor
// priority, ties to the lowest index, 11.6.2.4).
func (m *Machine) deliverInterrupt(in vtd.Interrupt) {
	dm := uint32(in.DeliveryMode)
	var first *LocalAPIC
	for _, t := range m.apics {
		if !t.matches(in.Dest, in.Logical, in.X2) {
			continue
		}
		if dm == dmLowest {
			if first == nil || t.ppr() < first.ppr() {
				first = t
			}
			continue
		}
		m.deliver(t, dm, in.Vector, in.Level)
	}
	if first != nil {
		m.deliver(first, dmFixed, in.Vector, in.Level)
	}
}

// iommuMem is the VT-d unit's view of memory: its table reads and the
// DMA it performs for devices (which invalidates decoded code it
// overwrites).
type iommuMem struct{ m *Machine }

func (w iommuMem) ReadPhys(pa uint64, b []byte) error  { return w.m.physDMA(pa, b, false) }
func (w iommuMem) WritePhys(pa uint64, b []byte) error { return w.m.physDMA(pa, b, true) }

// iommuWindow routes the VT-d register page to the current unit.
type iommuWindow struct{ m *Machine }

func (w iommuWindow) ReadMMIO(off uint64, size int) uint64 { return w.m.iommu.ReadMMIO(off, size) }
func (w iommuWindow) WriteMMIO(off uint64, size int, v uint64) {
	w.m.iommu.WriteMMIO(off, size, v)
}

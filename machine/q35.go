package machine

import (
	"fmt"

	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine/devices"
	"github.com/vmxemu/vmxemu/machine/pci"
	"github.com/vmxemu/vmxemu/machine/vtd"
)

// Chipset selects the board's chipset.
type Chipset int

const (
	// ChipsetPC is QEMU's default "pc" machine: i440FX + PIIX3, no PCI
	// configuration space in vmxemu.
	ChipsetPC Chipset = iota
	// ChipsetQ35 is QEMU's "q35" machine: the Q35 MCH with PCI Express
	// ECAM and the ICH9 LPC bridge (q35.go).
	ChipsetQ35
)

// The q35 board (QEMU hw/i386/pc_q35.c, hw/pci-host/q35.c): the MCH at
// 00:00.0 with 256 MiB of ECAM at 0xB0000000 (MCFG table), the ICH9 LPC
// bridge at 00:1f.0 in front of the same legacy devices as the pc board
// (PIC, PIT, RTC, UARTs, the ACPI PM block at PMBASE 0x600 as SeaBIOS
// programs it), configuration mechanism #1 at 0xCF8/0xCFC, and the PCI
// devices of the configuration from slot 1 on, as QEMU places devices
// without an address. QEMU's q35 also creates the ICH9 AHCI controller
// (00:1f.2) and SMBus controller (00:1f.3); vmxemu models neither, so
// neither is in configuration space.
const (
	// q35MaxLowRAM: RAM below 4 GiB must end before the ECAM window
	// (QEMU's q35 moves RAM above 2 GiB to 4 GiB beyond this size; vmxemu
	// does not yet).
	q35MaxLowRAM = pci.ECAMBase
	// pciMemBase..pciMemEnd is the 32-bit PCI memory window the host
	// bridge decodes: from the end of ECAM to the I/O APIC.
	pciMemBase = pci.ECAMBase + pci.ECAMSize
	pciMemEnd  = IOAPICBase
	// eduDevfn is slot 1: the first free slot, where QEMU puts the first
	// -device without addr= on q35 under -nodefaults.
	eduDevfn = 1 << 3
)

// seabiosPIRQ are the ISA IRQs SeaBIOS routes PIRQ A-H to on q35
// (src/fw/pciinit.c mch_isa_bridge_setup: 10, 10, 11, 11 repeated).
var seabiosPIRQ = [pci.PIRQs]uint8{10, 10, 11, 11, 10, 10, 11, 11}

// pciWindow routes the ECAM and PCI memory windows to the current bus
// (rebuilt at every reset, like the port bus).
type pciMemWindow struct{ m *Machine }

func (w pciMemWindow) ReadMMIO(off uint64, size int) uint64 {
	return w.m.pci.ReadMem(pciMemBase+off, size)
}

func (w pciMemWindow) WriteMMIO(off uint64, size int, v uint64) {
	w.m.pci.WriteMem(pciMemBase+off, size, v)
}

// newQ35 registers the q35 board's fixed MMIO windows.
func (m *Machine) newQ35() error {
	if m.cfg.RAMSize > q35MaxLowRAM {
		return fmt.Errorf("machine: q35 with %d MiB of RAM: at most %d MiB are supported (RAM must end below the ECAM window at %#x)",
			m.cfg.RAMSize>>20, q35MaxLowRAM>>20, uint64(pci.ECAMBase))
	}
	if err := m.mmio.Register("PCIe ECAM", pci.ECAMBase, pci.ECAMSize, pci.ECAM{Bus: func() *pci.Bus { return m.pci }}); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if err := m.mmio.Register("PCI memory", pciMemBase, pciMemEnd-pciMemBase, pciMemWindow{m}); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if m.cfg.IOMMU != nil {
		if err := m.cfg.IOMMU.Validate(); err != nil {
			return fmt.Errorf("machine: %w", err)
		}
		if err := m.mmio.Register("intel-iommu", vtd.Base, vtd.Size, iommuWindow{m}); err != nil {
			return fmt.Errorf("machine: %w", err)
		}
	}
	return nil
}

// buildPCI (re)creates the PCI functions in their reset state and claims
// the configuration ports.
func (m *Machine) buildPCI(b *devices.PortBus) error {
	m.pci = &pci.Bus{}
	m.pirqLevel = [pci.PIRQs]int{}
	m.pirqISA = [16]bool{}
	m.lpc = pci.NewLPC(devices.PortPMBase)
	m.lpc.Routed = m.routePIRQs
	if m.cfg.IOMMU != nil {
		u, err := vtd.New(*m.cfg.IOMMU, iommuMem{m}, m.deliverInterrupt)
		if err != nil {
			return fmt.Errorf("machine: %w", err)
		}
		m.iommu = u
	}
	for _, f := range []struct {
		devfn uint8
		fn    pci.Function
	}{{pci.DevfnMCH, pci.NewMCH()}, {pci.DevfnLPC, m.lpc}} {
		if err := m.pci.Attach(f.devfn, f.fn); err != nil {
			return fmt.Errorf("machine: %w", err)
		}
	}
	if m.cfg.Edu {
		e := pci.NewEdu(eduDevfn)
		slot := int(eduDevfn >> 3)
		e.SetINTx = func(high bool) { m.setPCIINTx(slot, 1, high) }
		e.MSI = m.deviceMSI
		e.DMA = m.deviceDMA
		if err := m.pci.Attach(eduDevfn, e); err != nil {
			return fmt.Errorf("machine: %w", err)
		}
	}
	if err := b.Register(pci.PortConfigAddress, 1, m.pci); err != nil {
		return fmt.Errorf("machine: PCI configuration address: %w", err)
	}
	if err := b.Register(pci.PortConfigData, 4, m.pci); err != nil {
		return fmt.Errorf("machine: PCI configuration data: %w", err)
	}
	return nil
}

// setPCIINTx drives INTx pin (1 = INTA#) of the device in slot: its PIRQ
// (pci.PIRQOf) is the wired OR of the devices on it and drives I/O APIC
// input 16+PIRQ and, when routed, its ISA IRQ (QEMU lpc_ich9.c
// ich9_lpc_update_apic / ich9_lpc_update_pic).
func (m *Machine) setPCIINTx(slot, pin int, high bool) {
	p := pci.PIRQOf(slot, pin)
	was := m.pirqLevel[p] > 0
	if high {
		m.pirqLevel[p]++
	} else if m.pirqLevel[p] > 0 {
		m.pirqLevel[p]--
	}
	if now := m.pirqLevel[p] > 0; now != was {
		m.ioapic.setPin(pci.PIRQGSI(p), now)
	}
	m.routePIRQs()
}

// routePIRQs drives every ISA IRQ some PIRQ is routed to with the OR of
// those PIRQs, and releases IRQs no longer routed.
func (m *Machine) routePIRQs() {
	var level, routed [16]bool
	for p := range pci.PIRQs {
		if irq := m.lpc.PIRQRoute(p); irq >= 0 {
			routed[irq] = true
			level[irq] = level[irq] || m.pirqLevel[p] > 0
		}
	}
	for irq := range level {
		if (routed[irq] || m.pirqISA[irq]) && level[irq] != m.pirqISA[irq] {
			m.pirqISA[irq] = level[irq]
			m.setIRQ(irq, level[irq])
		}
	}
}

// firmwarePCI configures the PCI functions as SeaBIOS does before it
// boots (src/fw/pciinit.c): PIRQ routing, memory BARs assigned top-down
// from the end of the PCI memory window (largest first, naturally
// aligned), memory decoding enabled, and the interrupt line register set
// to the ISA IRQ the function's INTx pin reaches.
func (m *Machine) firmwarePCI() {
	for p, irq := range seabiosPIRQ {
		m.lpc.SetPIRQRoute(p, irq)
	}
	m.routePIRQs()
	top := uint64(pciMemEnd)
	for devfn := 8; devfn < 256; devfn++ { // slot 0 is the MCH
		f := m.pci.Function(uint8(devfn))
		if f == nil || devfn == pci.DevfnLPC {
			continue
		}
		c := f.Config()
		for n := range 6 {
			if c.BARSize(n) == 0 || c.BARIsIO(n) {
				continue
			}
			size := c.BARSize(n)
			top = (top - size) &^ (size - 1)
			c.Write(pci.RegBAR0+4*n, 4, uint32(top))
			c.Write(pci.RegCommand, 2, uint32(c.Command()|pci.CmdMemory))
		}
		if pin := c.Get8(pci.RegInterruptPin); pin != 0 {
			if irq := m.lpc.PIRQRoute(pci.PIRQOf(devfn>>3, int(pin))); irq >= 0 {
				c.Write(pci.RegInterruptLine, 1, uint32(irq))
			}
		}
		f.ConfigWritten(pci.RegCommand, 2)
	}
}

// deviceDMA is a PCI function's bus-master access to memory: through the
// IOMMU's DMA remapping when the board has one, otherwise straight to
// RAM.
func (m *Machine) deviceDMA(requester uint16, addr uint64, buf []byte, write bool) error {
	if m.iommu != nil {
		return m.iommu.DMA(requester, addr, buf, write)
	}
	return m.physDMA(addr, buf, write)
}

// physDMA moves buf to or from guest-physical memory (RAM only: DMA to
// MMIO is not modelled), invalidating decoded code it overwrites.
func (m *Machine) physDMA(pa uint64, buf []byte, write bool) error {
	if write {
		if err := m.ram.WritePhys(pa, buf); err != nil {
			return err
		}
		if m.code != nil {
			m.code.DeviceWrote(pa, uint64(len(buf)))
		}
		return nil
	}
	return m.ram.ReadPhys(pa, buf)
}

// q35Mem is RAM as the loaders see it on the q35 board: the ECAM window
// is reserved in the memory map, as SeaBIOS reserves it in its E820 table
// (src/fw/pciinit.c mch_mmconfig_setup).
type q35Mem struct{ *RAM }

// E820Reserved implements firmware.E820Reserver.
func (q35Mem) E820Reserved() []firmware.E820Entry {
	return []firmware.E820Entry{{Base: pci.ECAMBase, Length: pci.ECAMSize, Type: firmware.E820Reserved}}
}

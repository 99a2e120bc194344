package machine

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine/devices"
	"github.com/vmxemu/vmxemu/machine/pci"
	"github.com/vmxemu/vmxemu/machine/vtd"
)

// Multiprocessor plumbing: virtual time, timers, interrupt lines and the
// routing of the APIC's MSRs and MMIO page.
//
// Virtual time. Every CPU has a clock (cpu.CPU.Clock): instructions
// retired plus time spent idle, one unit per nanosecond of guest time.
// Each round of the scheduler gives every CPU one quantum of time: a CPU
// that halts, or waits for SIPI, is credited the rest of its quantum as
// idle time (its TSC keeps counting, as on hardware), so at the end of a
// round every CPU's clock has advanced by exactly the quantum and the
// CPUs stay in step. A quantum is cut at the next timer expiry (the CPU's
// APIC timer, the PIT), so timer interrupts arrive at the instruction
// they are due at. When every CPU is idle the board skips ahead to the
// next expiry. Everything depends only on instruction counts: runs are
// deterministic.
//
// Cross-CPU handshakes. A CPU that sends an IPI to another CPU ends its
// slice after the instruction that sent it (the ICR write), and the rest
// of its quantum passes as idle time: the target runs next, in the same
// round or the following one, instead of after the sender has spun for
// the rest of its quantum waiting for the answer. This depends only on
// the instruction stream, so runs stay deterministic. A self IPI does not
// end the slice.

// apicID is CPU i's initial APIC ID: the topology's (-smp) with the
// default platform, i otherwise.
func (m *Machine) apicID(i int) uint32 {
	if m.defPlat != nil {
		return m.defPlat.File(i).APICID()
	}
	return uint32(i)
}

// firmwareLAPIC leaves the BSP's local APIC as SeaBIOS does before it
// boots a kernel (src/fw/smp.c smp_scan): software-enabled (SVR 0x1FF),
// LINT0 in ExtINT mode so that the 8259 PIC reaches the processor
// (virtual-wire mode, MP specification 3.6.2.2) and LINT1 as NMI, both
// level-triggered.
func firmwareLAPIC(a *LocalAPIC) {
	a.svr = 0x1FF
	a.lvt[lvtLINT0] = 0x8700
	a.lvt[lvtLINT1] = 0x8400
}

// firmwareDevices programs the interrupt controllers and the timer as
// SeaBIOS leaves them on QEMU's pc machine when it hands over to a
// multiboot kernel (QEMU 7.2, measured with a probe kernel): both 8259s
// initialised with ICW1 0x11 (edge, cascade, ICW4 follows), vector bases
// 0x08 and 0x70, the slave on master input 2, 8086 mode; masks 0xB8
// (master: IRQs 3, 4, 5, 7 masked) and 0x8E (slave: IRQs 9, 10, 11, 15);
// ELCR 0x00/0x0C (IRQs 10 and 11 level-triggered); PIT channel 0 in mode
// 2, LSB then MSB, count 0 (65536: 18.2 Hz), running from power-on
// (read-back status 0x34). The IVT and the handlers its entries name are
// firmware.WriteBIOS's. Done through the devices' ports, as firmware does
// it.
func (m *Machine) firmwareDevices() {
	for _, w := range []struct {
		port uint16
		v    uint8
	}{
		{0x20, 0x11}, {0x21, 0x08}, {0x21, 0x04}, {0x21, 0x01},
		{0xA0, 0x11}, {0xA1, 0x70}, {0xA1, 0x02}, {0xA1, 0x01},
		{0x21, 0xB8}, {0xA1, 0x8E},
		{devices.PortELCR, 0x00}, {devices.PortELCR + 1, 0x0C},
		{devices.PortPIT + 3, 0x34}, {devices.PortPIT, 0x00}, {devices.PortPIT, 0x00},
	} {
		m.ports.Out(w.port, 1, uint32(w.v))
	}
}

// tables describes the board for the firmware's MP and ACPI tables.
func (m *Machine) tables() firmware.Tables {
	t := firmware.Tables{CPUSignature: m.signature, LAPICAddr: 0xFEE00000, IOAPICAddr: IOAPICBase}
	inner := m.platform
	if bp, ok := inner.(*boardPlatform); ok {
		inner = bp.inner
	}
	var probe cpu.CPU // CPU 0 as CPUID sees it
	t.CPUSignature, _, _, t.CPUFeatures = inner.CPUID(&probe, 1, 0)
	for i := range m.cfg.CPUs {
		t.APICIDs = append(t.APICIDs, m.apicID(i))
	}
	if m.cfg.Chipset == ChipsetQ35 {
		t.ECAMBase, t.ECAMEndBus = pci.ECAMBase, pci.ECAMSize>>20-1
	}
	if c := m.cfg.IOMMU; c != nil {
		t.DMAR = &firmware.DMAR{AddrWidth: uint8(c.AWBits), IntRemap: c.IntRemap, X2APICOptOut: c.IntRemap && !c.EIM,
			RegBase: vtd.Base, IOAPICSourceID: ioapicSourceID}
	}
	return t
}

// xapicAt returns the running CPU's local APIC if pa falls in its xAPIC
// page (globally enabled, not in x2APIC mode: SDM Vol. 3A 11.12.1.2, the
// MMIO interface is not available in x2APIC mode).
func (m *Machine) xapicAt(pa uint64) *LocalAPIC {
	c := m.cur
	if c == nil || pa&^0xFFF != c.APICBase&apicBaseAddrMsk ||
		c.APICBase&(apicBaseEnable|apicBaseExtd) != apicBaseEnable || c.ID >= len(m.apics) {
		return nil
	}
	return m.apics[c.ID]
}

// globalNow is the virtual time of the shared devices: the running CPU's
// clock, never going backwards (CPUs in a round are up to a quantum
// apart).
func (m *Machine) globalNow() uint64 {
	if c := m.cur; c != nil {
		m.vnow = max(m.vnow, c.Clock())
	}
	return m.vnow
}

// setIRQ drives ISA interrupt line n: the 8259 PIC's input n and the I/O
// APIC's pin (IRQ 0 is wired to pin 2, as the MADT's interrupt source
// override says).
func (m *Machine) setIRQ(n int, high bool) {
	if high {
		m.pic.RaiseIRQ(n)
		for _, c := range m.cpus {
			c.KickInterrupt() // an ExtINT through LINT0 may now be pending
		}
	} else {
		m.pic.LowerIRQ(n)
	}
	pin := n
	if n == 0 {
		pin = 2
	}
	m.ioapic.setPin(pin, high)
}

// setGSI drives global system interrupt n: GSIs 0-15 are the ISA IRQs
// (setIRQ), 16-23 reach only the I/O APIC's pins of the same number (as in
// QEMU's pc machine, whose GSI n is I/O APIC input n).
func (m *Machine) setGSI(n int, high bool) {
	if n < 16 {
		m.setIRQ(n, high)
		return
	}
	m.ioapic.setPin(n, high)
}

// pulseIRQ0 is the PIT's output edge on IRQ 0.
func (m *Machine) pulseIRQ0() {
	m.setIRQ(0, true)
	m.setIRQ(0, false)
}

func (m *Machine) picPending() bool { _, ok := m.pic.Pending(); return ok }

func (m *Machine) hasTSCDeadline() bool { return m.deadlineOK }

// IOAPIC returns the I/O APIC of the current boot.
func (m *Machine) IOAPIC() *IOAPIC { return m.ioapic }

// LAPIC returns CPU i's local APIC.
func (m *Machine) LAPIC(i int) *LocalAPIC { return m.apics[i] }

// ioapicWindow routes the I/O APIC's MMIO range to the current one (it
// is rebuilt at every reset; the MMIO bus is not).
type ioapicWindow struct{ m *Machine }

func (w ioapicWindow) ReadMMIO(off uint64, size int) uint64 {
	return w.m.ioapic.ReadMMIO(off, size)
}

func (w ioapicWindow) WriteMMIO(off uint64, size int, v uint64) {
	w.m.ioapic.WriteMMIO(off, size, v)
}

// boardPlatform puts the local APIC in front of the CPU model's
// platform: the x2APIC MSRs (0x800-0x8FF) and IA32_TSC_DEADLINE (0x6E0)
// are the APIC's when the model reports x2APIC and TSC-deadline (else the
// model's MSR file refuses them), IA32_APIC_BASE changes reach the APIC,
// and CPUID.1:EDX.APIC reads 0 while the APIC is globally disabled (SDM
// Vol. 3A 11.4.3).
type boardPlatform struct {
	inner cpu.Platform
	m     *Machine
}

func (p *boardPlatform) apic(c *cpu.CPU) *LocalAPIC {
	if c.ID >= 0 && c.ID < len(p.m.apics) && p.m.apics[c.ID] != nil && p.m.apics[c.ID].cpu == c {
		return p.m.apics[c.ID]
	}
	return nil
}

// CPUID implements cpu.Platform.
func (p *boardPlatform) CPUID(c *cpu.CPU, leaf, subleaf uint32) (eax, ebx, ecx, edx uint32) {
	eax, ebx, ecx, edx = p.inner.CPUID(c, leaf, subleaf)
	if leaf == 1 && c.APICBase&apicBaseEnable == 0 {
		edx &^= 1 << 9
	}
	return
}

// ReadMSR implements cpu.Platform.
func (p *boardPlatform) ReadMSR(c *cpu.CPU, index uint32) (uint64, *arch.Fault) {
	if a := p.apic(c); a != nil {
		switch {
		case index >= msrX2APICFirst && index <= msrX2APICLast && p.m.x2apicOK:
			return a.readMSR(index)
		case index == msrTSCDeadline && p.m.deadlineOK:
			return a.readTSCDeadline(), nil
		}
	}
	return p.inner.ReadMSR(c, index)
}

// WriteMSR implements cpu.Platform.
func (p *boardPlatform) WriteMSR(c *cpu.CPU, index uint32, v uint64) *arch.Fault {
	a := p.apic(c)
	if a != nil {
		switch {
		case index >= msrX2APICFirst && index <= msrX2APICLast && p.m.x2apicOK:
			return a.writeMSR(index, v)
		case index == msrTSCDeadline && p.m.deadlineOK:
			a.writeTSCDeadline(v)
			return nil
		}
	}
	old := c.APICBase
	if f := p.inner.WriteMSR(c, index, v); f != nil {
		return f
	}
	if index == msrAPICBaseIdx && a != nil && c.APICBase != old {
		a.baseChanged(old)
	}
	return nil
}

// nextDeadline is the virtual time of the next timer expiry that concerns
// CPU i (its APIC timer, the PIT), and false when none is armed.
func (m *Machine) nextDeadline(i int) (uint64, bool) {
	d, ok := m.apics[i].deadline()
	if pd, pok := m.pit.Deadline(); pok && (!ok || pd < d) {
		d, ok = pd, true
	}
	// A guest's VMX-preemption timer (SDM Vol. 3C 26.7.4).
	if vd, vok := m.cpus[i].VMXDeadline(); vok && (!ok || vd < d) {
		d, ok = vd, true
	}
	return d, ok
}

// fireTimers delivers the timer interrupts due by CPU i's clock.
func (m *Machine) fireTimers(i int) {
	m.apics[i].tick()
	m.globalNow()
	m.pit.Tick()
}

// runSlice runs CPU i for budget units of virtual time (see the top of
// the file) and returns why it stopped last.
func (m *Machine) runSlice(i int, c *cpu.CPU, budget uint64) cpu.StopReason {
	m.cur = c
	defer func() { m.cur = nil }()
	why := cpu.StopBudget
	// A VM transition that ran past the end of an earlier slice
	// (cpu/vmx_time.go) is paid for from this one, so that the CPUs stay
	// in step; a slice always keeps one unit, so that a single step (the
	// debugger's) still moves.
	if d := m.ahead[i]; d > 0 && budget > 1 {
		t := min(d, budget-1)
		m.ahead[i] -= t
		budget -= t
	}
	for budget > 0 {
		m.fireTimers(i)
		n := budget
		if d, ok := m.nextDeadline(i); ok {
			if now := c.Clock(); d > now {
				n = min(n, d-now)
			} else {
				n = 1 // due now: fireTimers already fired it
			}
		}
		start := c.Clock()
		why = c.RunFor(n)
		// Instructions retired and VM transitions (the clock moved);
		// the rest of n (events delivered, time spent halted) passes as
		// idle time. A transition can end past n.
		used := c.Clock() - start
		switch why {
		case cpu.StopShutdown:
			m.ipiYield = false
			return why
		case cpu.StopRequested:
			if !m.ipiYield || m.exit != nil {
				m.ipiYield = false
				return why
			}
			// The CPU sent an IPI to another one: the rest of its slice
			// passes as idle time (it would wait for the answer), so
			// the CPUs stay in step, and the next CPU runs now.
			m.ipiYield = false
			if used < budget {
				c.Idle(budget - used)
			} else {
				m.ahead[i] += used - budget
			}
			m.fireTimers(i)
			return cpu.StopBudget
		}
		if used < n {
			c.Idle(n - used)
		}
		spent := max(used, n)
		if spent > budget {
			m.ahead[i] += spent - budget
			spent = budget
		}
		budget -= spent
	}
	m.fireTimers(i)
	return why
}

// skipIdle is called after a round in which no CPU retired an instruction:
// it moves every CPU's clock to the next timer expiry that can wake one
// (an APIC timer or the PIT whose interrupt can reach a CPU halted with
// interrupts enabled) and reports whether there was one.
func (m *Machine) skipIdle() bool {
	var next uint64
	found := false
	for i, c := range m.cpus {
		if !c.Halted() || !c.InterruptWakes() {
			if d, ok := c.VMXDeadline(); ok && c.Halted() && (!found || d < next) {
				next, found = d, true
			}
			continue
		}
		if d, ok := m.nextDeadline(i); ok && (!found || d < next) {
			next, found = d, true
		}
	}
	if !found {
		return false
	}
	m.idleRounds++
	if m.idleRounds > maxIdleSkips {
		return false
	}
	for _, c := range m.cpus {
		if now := c.Clock(); next > now {
			c.Idle(next - now)
		}
	}
	return true
}

// maxIdleSkips bounds consecutive skips that wake nobody (a timer whose
// interrupt is masked, blocked by TPR or never acknowledged): the run is
// then reported as a hang rather than spinning forever.
const maxIdleSkips = 100000

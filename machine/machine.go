package machine

import (
	"errors"
	"fmt"
	"io"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/machine/devices"
	"github.com/vmxemu/vmxemu/machine/pci"
	"github.com/vmxemu/vmxemu/machine/vtd"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// COM port bases and IRQs of the PC (COM1..COM4), as QEMU's isa-serial
// assigns them by index.
var (
	comBases = [...]uint16{0x3F8, 0x2F8, 0x3E8, 0x2E8}
	comIRQs  = [...]int{4, 3, 4, 3}
)

// PortResetControl is the PIIX3 reset control register (QEMU's pc machine
// decodes it at 0xCF9 as a single byte).
const PortResetControl = 0xCF9

// DefaultQuantum is the number of instructions a vCPU runs before the
// board moves to the next one and checks its limits.
const DefaultQuantum = 10000

// DefaultMaxResets bounds how many times a run resets (triple fault or a
// guest reset request without NoReboot) before it stops with a limit
// result: QEMU would reboot forever, and a guest that triple-faults during
// boot does so on every boot.
const DefaultMaxResets = 100

// DebugExitConfig is one isa-debug-exit device.
type DebugExitConfig struct {
	IOBase uint16
	IOSize int
}

// Config describes a board.
type Config struct {
	// RAMSize is the guest RAM in bytes (QEMU's -m), a multiple of 4 KiB.
	RAMSize uint64
	// CPUs is the number of logical processors (QEMU's -smp); 0 means 1.
	// CPU 0 is the bootstrap processor; the others are created in their
	// reset state in the wait-for-SIPI state, until the guest starts them
	// with INIT and STARTUP IPIs through its local APIC.
	CPUs int

	// Serial are the COM ports in order (COM1 first, at most 4). A nil
	// writer makes a port that exists but discards its output (QEMU's
	// -serial null). No entry: no UART at all.
	Serial []io.Writer
	// FirmwareBanner, if not empty, is written to COM1's output at power-on
	// and at every reset, before the guest runs: what SeaBIOS prints on
	// the serial console when QEMU runs with -nographic (its "sercon").
	FirmwareBanner string
	// DebugCon, if not nil, adds the port 0xE9 debug console writing
	// there. QEMU has none unless -debugcon is given, so writes to 0xE9
	// are ignored by default.
	DebugCon io.Writer
	// DebugExits are the isa-debug-exit devices.
	DebugExits []DebugExitConfig
	// FwCfgCmdline, if set, is published as fw_cfg's command-line items.
	// QEMU publishes them for Linux kernels only, not for multiboot.
	FwCfgCmdline string
	HasCmdline   bool
	// PCTestDev adds QEMU's pc-testdev (-device pc-testdev): ports
	// 0xE0-0xEB, interrupt lines at 0x2000-0x2017 and 64 KiB of MMIO at
	// 0xFF000000 (devices.PCTestdev).
	PCTestDev bool

	// Chipset selects the board: ChipsetPC (QEMU's "pc", the default)
	// or ChipsetQ35 (q35.go).
	Chipset Chipset
	// IOMMU, if not nil, adds an Intel VT-d remapping unit at
	// vtd.Base (QEMU's -device intel-iommu; q35 only).
	IOMMU *vtd.Config
	// Edu adds QEMU's edu PCI device at 00:01.0 (q35 only: the pc board
	// has no PCI configuration space).
	Edu bool

	// FeatureControl is the IA32_FEATURE_CONTROL value the firmware
	// leaves (used by the default Platform).
	FeatureControl uint64
	// CPUModel is the CPU model the default Platform presents; nil
	// selects msr.DefaultModel without toggles.
	CPUModel *msr.Profile
	// Topology lays the CPUs out in sockets, dies, cores and threads for
	// CPUID (-smp); the zero value is CPUs single-threaded cores.
	Topology msr.Topology
	// Platform overrides the CPU model; nil selects NewPlatform with
	// CPUModel and Topology.
	Platform cpu.Platform

	// NoReboot ends the run at a triple fault or guest reset request
	// instead of resetting (QEMU's -no-reboot).
	NoReboot bool
	// MaxResets bounds resets (0: DefaultMaxResets; negative: the first
	// reset ends the run with a limit result).
	MaxResets int
	// Quantum is the round-robin slice in instructions (0: DefaultQuantum).
	Quantum uint64

	// Hooks, if not nil, are installed on every CPU (the -d items).
	Hooks *cpu.Hooks
	// OnReset, if not nil, is called for every CPU when the machine is
	// powered on or reset, with the state the CPU had before (the zero
	// state at power-on) and the reason, for -d cpu_reset.
	OnReset func(cpuID int, before *arch.State, why string)
	// APICWrite, if not nil, is called for every write to a local APIC
	// register that reaches it — through the xAPIC page (x2apic false)
	// or an x2APIC WRMSR that passed its checks (x2apic true) — with the
	// register's xAPIC offset and the value, for -d apic.
	APICWrite func(c *cpu.CPU, reg uint32, v uint64, x2apic bool)
	// Lint receives warnings about guest behaviour that hardware accepts
	// silently but is almost always a bug (shared or touched VMX regions:
	// vmx/lint.go); nil drops them.
	Lint func(cpuID int, msg string)
}

// Loader loads the guest into memory and returns how to start it. It runs
// at power-on and again at every reset, as QEMU's firmware reloads -kernel
// on every boot.
type Loader func(mem firmware.Memory) (*firmware.Boot, error)

// Machine is a PC board: RAM, the port and MMIO buses, the devices and the
// vCPUs. It implements cpu.Bus.
type Machine struct {
	cfg      Config
	ram      *RAM
	mmio     MMIOBus
	ports    *devices.PortBus
	platform cpu.Platform
	defPlat  *Platform // platform when the default one is used
	// signature (CPUID.01H:EAX) and MAXPHYADDR of the CPU model.
	signature   uint32
	maxPhysAddr uint
	// vmxCaps are the VMX capabilities of the CPU model (nil: no VMX).
	vmxCaps *vmx.Caps

	uarts    []*devices.UART
	debugCon *devices.DebugCon
	pic      *devices.PIC
	fwcfg    *devices.FwCfg
	sysA     *devices.SysCtrlA
	pit      *devices.PIT
	rtc      *devices.RTC
	ioapic   *IOAPIC
	testdev  *devices.PCTestdev // nil unless Config.PCTestDev
	acpiPM   *devices.ACPIPM

	// q35 only (q35.go): the PCI bus and LPC bridge of this boot, the
	// level of each PIRQ (devices asserting it) and the ISA IRQs the
	// PIRQ routing drives; the VT-d unit (nil without -device
	// intel-iommu).
	pci       *pci.Bus
	lpc       *pci.LPC
	pirqLevel [pci.PIRQs]int
	pirqISA   [16]bool
	iommu     *vtd.Unit

	// Local APICs, one per CPU (apic.go), and what the CPU model reports
	// about them (CPUID.1:ECX x2APIC and TSC-deadline).
	apics      []*LocalAPIC
	ipiTargets []*LocalAPIC // scratch for sendIPI
	x2apicOK   bool
	deadlineOK bool
	// vnow is the board's virtual time for the devices shared by all CPUs
	// (PIT, RTC): the latest CPU clock seen (smp.go).
	vnow uint64
	// idleRounds counts consecutive rounds in which only time passed.
	idleRounds int
	// ipiYield is set when the running CPU sent an IPI to another CPU:
	// its slice ends after that instruction (smp.go, runSlice).
	ipiYield bool

	cpus    []*cpu.CPU
	running []bool // CPU has been started (BSP; APs after SIPI)
	cur     *cpu.CPU
	code    *cpu.CodeCache

	// ahead is the virtual time by which a CPU's clock ran past the end
	// of its last slice (a VM transition crossing it: runSlice).
	ahead []uint64

	loader Loader
	boot   *firmware.Boot

	exit    *devices.Exit // first device exit request of the quantum
	brk     *BreakRequest // a Break request not yet acted on
	retired uint64        // instructions retired by CPUs of earlier boots
	resets  int
}

// New builds a board from cfg. Load must be called before Run.
func New(cfg Config) (*Machine, error) {
	if cfg.CPUs <= 0 {
		cfg.CPUs = 1
	}
	if cfg.CPUs > 255 {
		return nil, fmt.Errorf("machine: %d CPUs: at most 255 are supported", cfg.CPUs)
	}
	if len(cfg.Serial) > len(comBases) {
		return nil, fmt.Errorf("machine: %d serial ports: at most %d are supported", len(cfg.Serial), len(comBases))
	}
	if cfg.Quantum == 0 {
		cfg.Quantum = DefaultQuantum
	}
	if cfg.MaxResets == 0 {
		cfg.MaxResets = DefaultMaxResets
	}
	ram, err := NewRAM(cfg.RAMSize)
	if err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	m := &Machine{cfg: cfg, ram: ram, platform: cfg.Platform, signature: DefaultCPUSignature, maxPhysAddr: 46}
	if m.platform == nil {
		if m.defPlat, err = newDefaultPlatform(&cfg); err != nil {
			return nil, err
		}
		m.platform = m.defPlat
		m.signature = m.defPlat.Profile().Signature()
		m.maxPhysAddr = m.defPlat.Profile().MaxPhysAddr()
		if prof := m.defPlat.Profile(); prof.VMXExposed() {
			if m.vmxCaps, err = vmx.NewCaps(prof.GuestVMX, prof.ModelVMX, m.maxPhysAddr, prof.LinearAddrWidth()); err != nil {
				return nil, fmt.Errorf("machine: CPU model %s: %w", prof.Model.Name, err)
			}
			// IA32_VMX_VMCS_ENUM as the field table makes it.
			prof.SetVMCSEnum(m.vmxCaps.VMCSEnum())
		}
	}
	m.platform = &boardPlatform{inner: m.platform, m: m}
	if cfg.Chipset == ChipsetQ35 {
		if err := m.newQ35(); err != nil {
			return nil, err
		}
	} else if cfg.IOMMU != nil || cfg.Edu {
		return nil, errors.New("machine: the pc board has no PCI bus: intel-iommu and edu need the q35 chipset")
	}
	if err := m.mmio.Register("I/O APIC", IOAPICBase, 0x1000, ioapicWindow{m}); err != nil {
		return nil, fmt.Errorf("machine: %w", err)
	}
	if cfg.PCTestDev {
		// Created once: QEMU's pc-testdev registers no reset handler, so
		// its scratch register and iomem page keep their contents across
		// a system reset.
		m.testdev = devices.NewPCTestdev(m.setGSI)
		if err := m.mmio.Register("pc-testdev iomem", devices.TestdevIOMemBase, devices.TestdevIOMemSize, m.testdev); err != nil {
			return nil, fmt.Errorf("machine: %w", err)
		}
	}
	for _, w := range cfg.Serial {
		m.uarts = append(m.uarts, devices.NewUART(w, nil))
	}
	if cfg.DebugCon != nil {
		m.debugCon = devices.NewDebugCon(cfg.DebugCon)
	}
	if err := m.buildDevices(); err != nil {
		return nil, err
	}
	return m, nil
}

// buildDevices (re)creates the port bus and every device that has no
// output to preserve, in its reset state; UARTs and the debug console keep
// their output buffers and are reset in place.
func (m *Machine) buildDevices() error {
	b := devices.NewPortBus()
	reg := func(what string, base uint16, n int, d devices.PortDevice) error {
		if err := b.Register(base, n, d); err != nil {
			return fmt.Errorf("machine: %s: %w", what, err)
		}
		return nil
	}
	m.pic = devices.NewPIC()
	if err := m.pic.Register(b); err != nil {
		return fmt.Errorf("machine: PIC: %w", err)
	}
	for i, u := range m.uarts {
		u.Reset()
		if err := reg(fmt.Sprintf("COM%d", i+1), comBases[i], devices.UARTPorts, &irqPort{dev: u, m: m}); err != nil {
			return err
		}
	}
	if m.debugCon != nil {
		if err := reg("debug console", devices.PortDebugCon, 1, m.debugCon); err != nil {
			return err
		}
	}
	for _, d := range m.cfg.DebugExits {
		dev := devices.NewDebugExit(d.IOBase, d.IOSize, m.deviceExit)
		if err := reg("isa-debug-exit", d.IOBase, d.IOSize, dev); err != nil {
			return err
		}
	}
	m.fwcfg = devices.NewFwCfg(m.cfg.CPUs, m.ram.RAMSize())
	if m.cfg.HasCmdline {
		m.fwcfg.SetCmdline(m.cfg.FwCfgCmdline)
	}
	if err := reg("fw_cfg", devices.PortFwCfg, 2, m.fwcfg); err != nil {
		return err
	}
	m.ioapic = newIOAPIC(m)
	m.pit = devices.NewPIT(m.globalNow, m.pulseIRQ0)
	if err := reg("PIT", devices.PortPIT, 4, m.pit); err != nil {
		return err
	}
	below, above := m.ram.Split()
	m.rtc = devices.NewRTC(m.globalNow, below, above, m.cfg.CPUs)
	if err := reg("RTC", devices.PortRTC, 2, m.rtc); err != nil {
		return err
	}
	if m.testdev != nil {
		if err := m.testdev.Register(b); err != nil {
			return fmt.Errorf("machine: pc-testdev: %w", err)
		}
	}
	// ACPI PM1a blocks and PM timer at QEMU's PIIX4 PM base 0x600; the
	// SCI is IRQ 9, level (the FADT and MADT say so).
	m.acpiPM = devices.NewACPIPM(m.globalNow, func(high bool) { m.setIRQ(9, high) }, m.deviceExit)
	if err := m.acpiPM.Register(b); err != nil {
		return fmt.Errorf("machine: ACPI PM: %w", err)
	}
	if m.cfg.Chipset == ChipsetQ35 {
		if err := m.buildPCI(b); err != nil {
			return err
		}
	}
	m.sysA = devices.NewSysCtrlA(m.deviceExit, nil)
	for _, d := range []struct {
		what string
		port uint16
		dev  devices.PortDevice
	}{
		{"port 0x92", devices.PortSysCtrlA, m.sysA},
		{"port 0x61", devices.PortSysCtrlB, devices.NewSysCtrlB(m.pit.Out2)},
		{"port 0x80", devices.PortPOST, devices.NewPOSTPort(nil)},
		{"shutdown port", devices.PortShutdown, devices.NewShutdownPort(m.deviceExit)},
		{"reset control", PortResetControl, &resetControl{exit: m.deviceExit}},
	} {
		if err := reg(d.what, d.port, 1, d.dev); err != nil {
			return err
		}
	}
	m.ports = b
	return nil
}

// deviceExit records a device's request to end or reset the run and stops
// the running CPU after its current instruction. The first request wins.
func (m *Machine) deviceExit(e devices.Exit) {
	if m.exit == nil {
		m.exit = &e
	}
	if m.cur != nil {
		m.cur.RequestStop()
	}
}

// Load runs the loader against RAM and powers the machine on in the state
// it returns. The loader runs again at every reset.
func (m *Machine) Load(l Loader) error {
	m.loader = l
	return m.powerOn("power-on")
}

// powerOn (re)creates the CPUs in the boot state: the BSP at the loader's
// entry state, the APs in their reset state waiting for SIPI.
func (m *Machine) powerOn(why string) error {
	if m.loader == nil {
		return errors.New("machine: no guest loaded")
	}
	if err := m.writeBanner(); err != nil {
		return err
	}
	// The MP and ACPI tables and the BIOS's IVT, data area and interrupt
	// handlers go in first, so that an image loaded over them (a flat
	// binary) wins.
	if err := firmware.WriteTables(m.ram, m.tables()); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if err := firmware.WriteBIOS(m.ram, firmware.BIOSConfig{COMPorts: comBases[:len(m.uarts)]}); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	var mem firmware.Memory = m.ram
	if m.cfg.Chipset == ChipsetQ35 {
		mem = q35Mem{m.ram}
	}
	b, err := m.loader(mem)
	if err != nil {
		return fmt.Errorf("machine: loading the guest: %w", err)
	}
	m.boot = b
	if b.Multiboot || b.Mode == firmware.ModeReal16 {
		m.firmwareDevices()
	}
	if m.pci != nil {
		m.firmwarePCI()
	}
	m.startCPUs(b.State(), why)
	return nil
}

// startCPUs (re)creates the CPUs: the BSP in state bsp, the APs in their
// reset state waiting for SIPI (the firmware parks them).
func (m *Machine) startCPUs(bsp arch.State, why string) {
	for _, c := range m.cpus {
		m.retired += c.Icount
	}
	old := m.cpus
	m.code = cpu.NewCodeCache()
	vmxReg := vmx.NewRegistry()
	m.cpus = make([]*cpu.CPU, m.cfg.CPUs)
	m.running = make([]bool, m.cfg.CPUs)
	m.ahead = make([]uint64, m.cfg.CPUs)
	m.apics = make([]*LocalAPIC, m.cfg.CPUs)
	m.vnow = 0
	m.idleRounds = 0
	for i := range m.cpus {
		var s arch.State
		if i == 0 {
			s = bsp
		} else {
			s = firmware.ResetState(m.signature)
			s.APICBase &^= apicBaseBSP
		}
		if m.cfg.OnReset != nil {
			var before arch.State
			if i < len(old) {
				before = old[i].GetState()
			}
			m.cfg.OnReset(i, &before, why)
		}
		c := cpu.New(cpu.Config{ID: i, Bus: m, Platform: m.platform, Code: m.code, MaxPhysAddr: m.maxPhysAddr,
			VMX: m.vmxCaps, VMXRegistry: vmxReg, Lint: m.cfg.Lint, TSCMHz: m.TSCMHz()}, s)
		c.Hooks = m.cfg.Hooks
		a := newLocalAPIC(m, i, c, m.apicID(i))
		c.SetInterruptSource(a)
		if i == 0 {
			firmwareLAPIC(a)
		} else {
			c.EnterWaitForSIPI()
		}
		m.apics[i] = a
		m.cpus[i] = c
		// Every CPU takes part in the round-robin: an AP waiting for
		// SIPI only lets its virtual time pass.
		m.running[i] = true
	}
	_, _, ecx, _ := m.platform.CPUID(m.cpus[0], 1, 0)
	m.x2apicOK = ecx&(1<<21) != 0
	m.deadlineOK = ecx&(1<<24) != 0
	m.cur = nil
	m.exit = nil
}

// reset performs a system reset: devices back to their reset state, the
// firmware's MSR values restored, the guest reloaded and the CPUs
// recreated. RAM keeps its contents, as on QEMU.
func (m *Machine) reset(why string) error {
	m.resets++
	if err := m.flush(); err != nil {
		return err
	}
	if err := m.buildDevices(); err != nil {
		return err
	}
	if m.defPlat != nil {
		m.defPlat.Reset(m.cfg.FeatureControl)
	}
	return m.powerOn(why)
}

func (m *Machine) writeBanner() error {
	if m.cfg.FirmwareBanner == "" || len(m.cfg.Serial) == 0 || m.cfg.Serial[0] == nil {
		return nil
	}
	if err := m.uarts[0].Flush(); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	if _, err := io.WriteString(m.cfg.Serial[0], m.cfg.FirmwareBanner); err != nil {
		return fmt.Errorf("machine: writing the firmware banner: %w", err)
	}
	return nil
}

// flush pushes out buffered device output.
func (m *Machine) flush() error {
	var errs []error
	for _, u := range m.uarts {
		if err := u.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if m.debugCon != nil {
		if err := m.debugCon.Flush(); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("machine: %w", err)
	}
	return nil
}

// RAM returns guest memory.
func (m *Machine) RAM() *RAM { return m.ram }

// MMIO returns the MMIO bus, for registering devices.
func (m *Machine) MMIO() *MMIOBus { return &m.mmio }

// Ports returns the current port bus. It is rebuilt at every reset.
func (m *Machine) Ports() *devices.PortBus { return m.ports }

// TSCMHz is the rate of the CPUs' time-stamp counters in ticks per
// microsecond of virtual time: the CPU model's nominal frequency
// (msr.Model.NominalMHz), or cpu.DefaultTSCMHz for a model that has none
// and for a custom Config.Platform.
func (m *Machine) TSCMHz() uint64 {
	if m.defPlat != nil {
		if mhz, _ := m.defPlat.Profile().Model.NominalMHz(); mhz != 0 {
			return mhz
		}
	}
	return cpu.DefaultTSCMHz
}

// FwCfg returns the current fw_cfg device.
func (m *Machine) FwCfg() *devices.FwCfg { return m.fwcfg }

// PIC returns the current interrupt controller pair.
func (m *Machine) PIC() *devices.PIC { return m.pic }

// UART returns COM port i (0 = COM1), or nil.
func (m *Machine) UART(i int) *devices.UART {
	if i < 0 || i >= len(m.uarts) {
		return nil
	}
	return m.uarts[i]
}

// CPU returns logical processor i of the current boot.
func (m *Machine) CPU(i int) *cpu.CPU { return m.cpus[i] }

// NumCPUs returns the number of logical processors.
func (m *Machine) NumCPUs() int { return len(m.cpus) }

// Boot returns what the loader reported for the current boot.
func (m *Machine) Boot() *firmware.Boot { return m.boot }

// Icount returns the instructions retired by every CPU since power-on,
// resets included.
func (m *Machine) Icount() uint64 {
	n := m.retired
	for _, c := range m.cpus {
		n += c.Icount
	}
	return n
}

// Resets returns how many times the machine has been reset.
func (m *Machine) Resets() int { return m.resets }

// RAMPage implements cpu.Bus.
func (m *Machine) RAMPage(pfn uint64) *[4096]byte { return m.ram.Page(pfn) }

// apicMSIWindow is the base of the 1 MiB local APIC / MSI address window.
const apicMSIWindow = 0xFEE00000

// ReadMMIO implements cpu.Bus. The running CPU's xAPIC page, at its own
// IA32_APIC_BASE, comes before the bus (each CPU sees its own APIC there).
func (m *Machine) ReadMMIO(pa uint64, size int) uint64 {
	if a := m.xapicAt(pa); a != nil {
		return a.readMMIO(pa&0xFFF, size) & sizeMask64(size)
	}
	if pa>>20 == apicMSIWindow>>20 {
		// The local APIC / MSI window 0xFEE00000-0xFEEFFFFF outside the
		// running CPU's enabled xAPIC page reads all-ones: what QEMU's
		// KVM APIC region answers (kvm-unit-tests' apic test requires
		// it of a globally disabled or x2APIC-mode APIC), unlike
		// unassigned memory (0).
		return sizeMask64(size)
	}
	return m.mmio.Read(pa, size)
}

// WriteMMIO implements cpu.Bus.
func (m *Machine) WriteMMIO(pa uint64, size int, v uint64) {
	if a := m.xapicAt(pa); a != nil {
		a.writeMMIO(pa&0xFFF, size, v&sizeMask64(size))
		return
	}
	m.mmio.Write(pa, size, v)
}

// In implements cpu.Bus.
func (m *Machine) In(port uint16, size int) uint32 { return m.ports.In(port, size) }

// Out implements cpu.Bus.
func (m *Machine) Out(port uint16, size int, v uint32) { m.ports.Out(port, size, v) }

// irqPort wraps a UART so that the UARTs' interrupt outputs drive their
// PIC lines after every access (the line is a level: QEMU's serial device updates it
// on every register access too).
type irqPort struct {
	dev devices.PortDevice
	m   *Machine
}

func (p *irqPort) In(port uint16, size int) uint32 {
	v := p.dev.In(port, size)
	p.sync()
	return v
}

func (p *irqPort) Out(port uint16, size int, v uint32) {
	p.dev.Out(port, size, v)
	p.sync()
}

func (p *irqPort) sync() { p.m.syncIRQs() }

// syncIRQs drives the PIC lines of the UARTs: COM1 and COM3 share IRQ 4,
// COM2 and COM4 IRQ 3, so a line is high while either port asserts it.
func (m *Machine) syncIRQs() {
	var level [16]bool
	for i, u := range m.uarts {
		if u.IRQPending() {
			level[comIRQs[i]] = true
		}
	}
	for _, irq := range []int{3, 4} {
		m.setIRQ(irq, level[irq])
	}
}

// resetControl is the PIIX3 reset control register at 0xCF9: writing a
// value with bit 2 (RST_CPU) set resets the system; bit 1 (SYS_RST) reads
// back. This follows QEMU's piix3 rcr_write, which requests a reset
// whenever bit 2 is written as 1 and keeps only bit 1.
type resetControl struct {
	val  uint8
	exit devices.ExitFunc
}

func (r *resetControl) In(port uint16, size int) uint32 { return uint32(r.val) }

func (r *resetControl) Out(port uint16, size int, v uint32) {
	if v&4 != 0 {
		r.exit(devices.Exit{Kind: devices.ExitReset,
			Reason: fmt.Sprintf("reset: guest wrote %#x to the reset control register at port %#x", v&0xFF, port)})
	}
	r.val = uint8(v) & 2
}

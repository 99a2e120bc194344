// Package machine is vmxemu's board: sparse guest RAM, the MMIO and
// port-I/O buses, the PC devices (package devices), the vCPUs and the loop
// that runs them.
//
// # Memory
//
// RAM is laid out as QEMU's default pc machine lays it out
// (firmware.SplitRAM): below 3.5 GiB all of it from physical 0, otherwise
// 3 GiB from 0 and the rest from 4 GiB. Pages are allocated on first access
// through a two-level table, so -m 64G costs host memory only for the pages
// a guest touches. The legacy VGA window 0xA0000-0xBFFFF is RAM: vmxemu
// has no VGA, and QEMU's pc machine without one lets the RAM below show
// through there. 0xC0000-0xFFFFF is RAM, as the shadowed BIOS area is.
// Physical addresses that are neither RAM nor a registered MMIO range read
// as 0 and ignore writes, as QEMU's unassigned memory does (measured with
// QEMU 7.2).
//
// # Devices
//
// A Machine built by New has, in QEMU's pc layout: a local APIC per CPU
// (apic.go; xAPIC page at each CPU's IA32_APIC_BASE, x2APIC MSRs, timer,
// IPIs), the I/O APIC at 0xFEC00000 (ioapic.go; ISA IRQ 0 on pin 2), the
// 8259A pair (0x20, 0xA0, ELCR 0x4D0) reaching the CPUs through LINT0 in
// ExtINT mode (virtual wire, as SeaBIOS leaves the BSP's APIC); the 8254
// PIT (0x40-0x43, IRQ 0) and a minimal RTC/CMOS (0x70-0x71); up to four
// 16550A UARTs (COM1 0x3F8 IRQ 4, COM2 0x2F8 IRQ 3, COM3 0x3E8, COM4
// 0x2E8) whose interrupt outputs drive their IRQ lines; fw_cfg at 0x510 (signature, CPU
// count, RAM size; the command line only if asked, since QEMU publishes it
// for Linux kernels and not for multiboot ones); system control ports A
// (0x92: fast reset; the A20 bit is stored but addresses are never
// masked, A20 is always enabled) and B (0x61); the POST port 0x80; the
// Bochs shutdown port 0x8900; the PIIX3 reset control register 0xCF9; the
// ACPI PM1a event/control blocks and the 24-bit PM timer at QEMU's PIIX4
// PM base 0x600 (SCI on IRQ 9; SLP_EN with S5/S4 powers off, S3 is
// refused: the run ends with a message); QEMU's pc-testdev when
// Config.PCTestDev is set; the isa-debug-exit devices of the configuration. The port 0xE9 debug console
// exists only when Config.DebugCon is set: QEMU creates none unless
// -debugcon is given.
//
// # The q35 board
//
// With Config.Chipset ChipsetQ35 the board is QEMU's q35 (q35.go,
// docs/Q35.md): the same devices, plus PCI configuration space (package
// pci: the Q35 MCH at 00:00.0 with 256 MiB of ECAM at 0xB0000000, the
// ICH9 LPC bridge at 00:1f.0 with its PIRQ routing), the PCI memory
// window 0xC0000000-0xFEBFFFFF, optionally QEMU's edu device at 00:01.0
// and an Intel VT-d unit at 0xFED90000 (package vtd). PCI INTx lines
// reach the I/O APIC's inputs 16-23 and their routed ISA IRQs; MSIs and
// the I/O APIC's messages go through the VT-d unit's interrupt remapping
// when there is one (msi.go), device DMA through its DMA remapping.
//
// # Firmware state
//
// At every power-on and reset the board writes the BIOS's IVT, data area
// and interrupt handlers (firmware.WriteBIOS) before the loader runs. For
// a multiboot kernel and a flat16 (real-mode) image it also programs the
// devices as SeaBIOS leaves them on QEMU (measured with QEMU 7.2,
// firmwareDevices in smp.go): both 8259s initialised (vector bases 0x08
// and 0x70, masks 0xB8/0x8E), ELCR 0x00/0x0C, PIT channel 0 in mode 2 at
// 18.2 Hz, running. ELF and flat32/flat64 images, which QEMU cannot boot
// this way, find the PICs and the PIT in their power-on state.
//
// # CPUs
//
// CPU 0 starts in the state the loader returns (firmware.Boot.State). The
// other CPUs are created in their reset state in the wait-for-SIPI state,
// until the guest starts them with INIT and STARTUP IPIs. The firmware's
// MP and ACPI tables (firmware.WriteTables) describe them.
// The CPUs present a CPU model of package msr (Config.CPUModel, default
// msr.DefaultModel) through Platform (platform.go): CPUID with APIC IDs and
// topology leaves following Config.Topology, and one MSR file per CPU
// with IA32_FEATURE_CONTROL as firmware left it (Config.FeatureControl,
// restored at every reset).
//
// # Running
//
// Machine.Run runs the CPUs round-robin for a fixed quantum of virtual
// time, so runs are deterministic (smp.go): time is instructions retired
// plus time spent halted, one unit per nanosecond; the APIC timers, the
// PIT, the RTC and the ACPI PM timer count from it, and the TSC counts the
// CPU model's nominal frequency against it (Machine.TSCMHz, cpu/tsc.go;
// the TSC-deadline timer converts with cpu.CPU.ClockAtTSC); IPIs and timer interrupts are taken
// at block boundaries; when every CPU is idle the board skips to the next
// timer expiry. A run ends on a debug exit, a guest power-off, a triple
// fault under NoReboot, a limit (instructions, wall time, resets) or a
// hang: all running CPUs halted or waiting for SIPI with nothing that
// could wake them (HLT with IF=0; or IF=1 while no interrupt is pending
// and no timer is armed). QEMU would wait forever in a hang; vmxemu
// reports it. Without NoReboot a triple fault or a reset
// request resets the machine: devices return to their reset state, RAM
// keeps its contents, the firmware banner is printed again and the loader
// runs again, as QEMU's firmware reloads -kernel at every boot; after
// Config.MaxResets resets the run ends with a limit result, since a guest
// that faults while booting would otherwise reboot forever.
package machine

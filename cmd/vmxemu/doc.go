// Command vmxemu is a full-system x86-64 emulator with VMX that boots
// multiboot kernels the way qemu-system-x86_64 -kernel does and accepts
// QEMU's flags for the common subset (see vmxemu -h).
//
// Without -kernel, vmxemu runs its built-in demo (demo.go): the guest kernel
// guests/vmxon, embedded, runs the VMX bring-up of a kernel's VMM on every
// CPU (4 unless -smp says otherwise) and prints the seed scenario's sysctl
// lines; -append "scenario=NAME" breaks one step and vmxemu reports why on
// stderr. It exits 0 when every outcome is the SDM's, 1 otherwise.
//
// Exit statuses: 0 when the guest shuts down (port 0x8900, or a reset
// request under -no-reboot, as QEMU does); (v<<1)|1 when it writes v to an
// isa-debug-exit port; 2 for a bad command line, an unreadable -kernel or
// -initrd file, or a flag that is not implemented yet (-trace, -S without -s,
// q35, most -d items), an unknown CPU model, a bad -cpu toggle or model
// file, a -feature-control value the model's WRMSR would refuse; 4 for a triple fault
// under -no-reboot; 6 when -icount-limit or -time-limit is reached, when
// the guest resets more than machine.DefaultMaxResets times, when it hangs
// (every CPU halted with nothing that can wake it: QEMU would wait
// forever) and when vmxemu is stopped by SIGINT or SIGTERM; 8 when vmxemu
// itself fails (loader errors, output errors).
//
// -s, -gdb tcp::PORT and -S run the guest under the GDB stub (gdb.go,
// package gdbstub, docs/GDB.md); gdb's kill ends vmxemu with status 0, as
// QEMU exits.
//
// vmxemu has no BIOS that prints: under -nographic QEMU's SeaBIOS writes
// its banner to COM1 before the guest runs, vmxemu writes nothing there.
//
// -no-shutdown is accepted, but vmxemu has no monitor to stay in after a
// guest power-off, so a shutdown still ends the run with status 0. With
// -smp N the guest sees N CPUs in fw_cfg and CPUID, but only CPU 0 runs
// until the board has a local APIC to deliver INIT/SIPI.
//
// -cpu MODEL[,+feat,-feat] selects a CPU model built from a real
// processor's CPUID+MSR dump (-cpu help lists them; -cpu-file loads one);
// `vmxemu vmxcap -cpu MODEL` prints its VMX capabilities decoded bit by
// bit and what vmxemu implements of them. The guest sees only what vmxemu
// implements: VMX operation (VMXON … VMWRITE) works, and the VMX
// capability MSRs allow no control that vmxemu does not honour yet
// (docs/VMX.md, docs/CPU-MODELS.md).
//
// kvm-unit-tests' runner (run_tests.sh with QEMU=vmxemu) works unmodified
// (kut_test.go quotes what it probes): -h starts with a QEMU-shaped version
// line, -device help lists pc-testdev in QEMU's format (not pci-testdev:
// vmxemu has no PCI bus, so the runner leaves it out), a
// missing kernel is reported in QEMU's words, QEMU's CPU model names are
// aliases of vmxemu models (cpumodel.go), and the QEMU options that are
// harmless no-ops here (-global kvm-pit.lost_tick_policy, -overcommit,
// -machine pit=off) are accepted with one "vmxemu: warning:" line each:
// the runner counts any other stderr line as a failure.
//
// -d int and -d cpu_reset log, to -D FILE or stderr, in QEMU's formats;
// with -explain (the default) every exception line is followed by the rule
// that raised it and its SDM reference.
package main

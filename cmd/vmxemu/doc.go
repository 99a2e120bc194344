// Command vmxemu is a full-system x86-64 emulator with VMX that boots
// multiboot kernels the way qemu-system-x86_64 -kernel does and accepts
// QEMU's flags for the common subset (see vmxemu -h).
//
// Without -kernel, vmxemu runs its built-in demo (demo.go): the guest kernel
// guests/vmxon, embedded, runs the VMX bring-up of a kernel's VMM on every
// CPU (4 unless -smp says otherwise), prints the seed scenario's sysctl
// lines, launches a small guest and reports its VM exits; `vmxemu demo
// NAME` (or -append "scenario=NAME") breaks one step and vmxemu reports why
// on stderr, `vmxemu demo list` lists the scenarios (docs/TUTORIAL.md). It
// exits 0 when every outcome is the SDM's, 1 otherwise.
//
// Exit statuses (the contract of README "Exit status" and -h; exit_test.go
// tests each row):
//
//	0         the guest powered the machine off (port 0x8900, or a reset
//	          request under -no-reboot, as QEMU does), or gdb killed it
//	(v<<1)|1  the guest wrote v to an isa-debug-exit port (low 8 bits)
//	2         the command line or a file it names is wrong: a bad flag or
//	          value, a missing, empty, truncated or non-multiboot image,
//	          -m too small for the firmware tables, a bad -cpu-file, an
//	          unwritable -D, -serial file: or -debugcon file: path, a -gdb
//	          port in use; nothing runs and no output file is changed
//	4         triple fault under -no-reboot
//	6         a limit: -icount-limit, -time-limit, machine.DefaultMaxResets
//	          (100) resets, every CPU halted with nothing to wake it (QEMU
//	          would wait forever), a guest request vmxemu refuses (ACPI S3),
//	          SIGINT or SIGTERM while the guest runs
//	8         a bug in vmxemu: a panic caught by the guard at the machine
//	          boundary (guard.go), reported with the panic value, every
//	          CPU's state, the instruction bytes at RIP, the command line
//	          that reproduces it and the Go stack; or an error vmxemu did
//	          not expect (reported as "internal error")
//	10        a -break-on event or -magic-break stopped the run while no
//	          gdb was attached: the event and the CPU's state are printed
//
// Every error message is one line that names the input and what is wrong
// with it, with unprintable bytes escaped (oneLine).
//
// -s, -gdb tcp::PORT and -S run the guest under the GDB stub (gdb.go,
// package gdbstub, docs/GDB.md); gdb's kill ends vmxemu with status 0, as
// QEMU exits.
//
// vmxemu has no BIOS that prints: under -nographic QEMU's SeaBIOS writes
// its banner to COM1 before the guest runs, vmxemu writes nothing there.
//
// -no-shutdown does what QEMU's does: a power-off (or a triple fault under
// -no-reboot) stops the CPUs instead of ending vmxemu. Under the gdb stub
// gdb stays attached and sees the stop as an interrupt; without it vmxemu
// waits for SIGINT or SIGTERM and exits with the status the stop would
// have given (0 or 4). A debug exit ends vmxemu either way. With -smp N
// the guest sees N CPUs in fw_cfg and CPUID.
//
// -debugcon stdio|file:PATH|null|none is QEMU's port 0xE9 debug console.
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
// -d int, -d cpu_reset log, to -D FILE or stderr, in QEMU's formats; with
// -explain (the default) every exception line is followed by the rule
// that raised it and its SDM reference. vmxemu's own items -d vmx, msr, cr,
// io and apic are its event log (events.go): every VMX instruction's
// outcome, VM entry, VM-entry failure, VM exit and VMX abort, every
// RDMSR/WRMSR, MOV to CR, IN/OUT and local APIC write, one line each with the CPU, the instruction count
// and RIP; -d-format json writes them (and -d int's exceptions) as JSON
// lines (docs/DEBUGGING.md has the schema). -d help lists exactly the
// items vmxemu accepts (all selects those that log), and QEMU's
// TCG-internal items, accepted with one warning each and no output.
// -trace is refused. -machine q35 selects the Q35 + ICH9 board, where
// -device intel-iommu (VT-d) and -device edu are available (docs/Q35.md).
//
// With -explain, a run that hit a fault ends with the fault summary on
// stderr (summary.go): the first exception of each vector, VMfail,
// VM-entry failure, VMX abort and triple fault, with the CPU, instruction
// count, CS:RIP, the instruction's bytes and the rule. Its lines say
// "vmxemu: warning:", which kvm-unit-tests' runner accepts. -break-on
// EVENTS and -magic-break (break.go) stop the run at an event: into gdb
// when it is attached, otherwise with status 10.
package main

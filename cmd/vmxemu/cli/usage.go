package cli

// Usage is the -h text. It follows the grouping of qemu-system-x86_64 -h
// and documents every flag Parse accepts, vmxemu's own flags and the exit
// statuses.
func Usage() string {
	return usageText
}

// MachinesHelp is the text for -machine help.
func MachinesHelp() string {
	return `Supported machines are:
pc                   Standard PC (i440FX + PIIX, 1996) (default)
pc-i440fx-*          accepted as an alias of pc
q35                  Standard PC (Q35 + ICH9, 2009)
pc-q35-*             accepted as an alias of q35
`
}

// VersionLine is the first line of -h and the -version text. It has the
// shape of QEMU's ("QEMU emulator version 7.2.0 ..."): kvm-unit-tests'
// runner (scripts/arch-run.bash env_params) reads the version from the
// fourth word of `-h | head -1`, and search_qemu_binary accepts an
// emulator whose --help mentions QEMU.
func VersionLine(version string) string {
	return "vmxemu emulator version " + version + " (speaks the QEMU qemu-system-x86_64 command line)\n"
}

// DevicesHelp is the text for -device help, with QEMU's line format
// (name "DRIVER", bus BUS): kvm-unit-tests' x86/run greps it for
// "pc-testdev" (with the quotes) and pci-testdev.
func DevicesHelp() string {
	return `Supported devices (-device NAME[,prop=value...]):

Misc devices:
name "isa-debug-exit", bus ISA, desc "a guest write of v exits with status (v<<1)|1"
  iobase=<uint32>    first I/O port (default 0x501)
  iosize=<uint32>    number of ports (default 0x2)
  id=<str>           accepted and ignored
name "pc-testdev", bus ISA, desc "kvm-unit-tests' test device (QEMU's pc-testdev)"
  ports 0xe0-0xe7, IRQ lines at ports 0x2000+ (into the I/O APIC),
  64 KiB of memory at 0xff000000; no properties
  id=<str>           accepted and ignored
name "edu", bus PCI, desc "QEMU's educational PCI device 1234:11e8 (q35 only)"
  id=<str>           accepted and ignored

System devices:
name "intel-iommu", bus System, desc "Intel VT-d DMA and interrupt remapping at 0xfed90000 (q35 only)"
  intremap=<on|off>  interrupt remapping (default off)
  eim=<on|off>       extended interrupt mode, x2APIC destinations (default off; needs intremap=on)
  aw-bits=<39|48>    address width: 3- or 4-level tables (default 39)
  pt=<on|off>        pass-through translation type (default on)
  id=<str>           accepted and ignored
`
}

const usageText = `usage: vmxemu [subcommand] [options]

vmxemu is a full-system x86-64 emulator with VMX. Its options follow
qemu-system-x86_64: one or two leading dashes, and the value in the next
argument (-m 512, not -m=512). Options vmxemu does not support are refused
with a message, never ignored; the few QEMU options that are harmless
no-ops for vmxemu are accepted with one "vmxemu: warning:" line on stderr
each (-global kvm-pit.lost_tick_policy, -overcommit, -machine pit=off).

Subcommands (a bare first word, then options):
vmxcap           report the VMX capabilities of the -cpu model, like vmxcap,
                 and what vmxemu implements of them
demo [NAME|list] the built-in demo (what vmxemu without -kernel runs),
                 with one step of the VMX bring-up broken: NAME is a
                 scenario (= -append scenario=NAME), list lists them
                 (docs/TUTORIAL.md)

Standard options:
-h or -help      display this help and exit
-version         display version information and exit
-machine [type=]name[,accel=tcg][,pit=on|off|auto][,kernel-irqchip=X]
                 selects emulated machine ('-machine help' for list):
                 pc (default), pc-i440fx-* (an alias of pc), q35 and
                 pc-q35-* (Q35 + ICH9; -device intel-iommu and edu);
                 accel= is accepted when its list contains tcg or kvm;
                 pit=off is accepted with a warning: the board keeps its
                 i8254 PIT; kernel-irqchip=on|off|split is accepted and
                 changes nothing: vmxemu has no kernel, its PIC, I/O
                 APIC and local APICs are always in the emulator
-M name          same as -machine
-accel tcg|kvm[,thread=single|multi]
                 accepted for compatibility; vmxemu is itself the
                 accelerator: kvm is accepted with a warning (the guest
                 runs as under tcg, without KVM's paravirtual
                 interfaces); hvf, whpx and xen are refused
-enable-kvm      same as -accel kvm
-cpu model[,+feature][,-feature][,feature=on|off][,prop=value]
                 select the CPU model ('-cpu help' for list, with the
                 QEMU names accepted as aliases: qemu64, kvm64 = the
                 default model; max, host = the newest model, with what
                 vmxemu does not implement hidden as always); feature
                 toggles apply in order, the last one for a feature wins
                 (-vmx, -ept, -vpid, vmx-hlt-exit ...: see
                 docs/CPU-MODELS.md). QEMU's
                 properties:
                 vendor=STR      accepted only if it is the model's
                                 vendor (vmxemu models Intel CPUs)
                 phys-bits=N     report MAXPHYADDR N (32..52)
                 host-phys-bits  the model's own MAXPHYADDR (the
                                 modelled CPU is the host) [default]
                 check           warn about each requested feature the
                                 guest will not see
                 enforce         refuse to run if there is one
-smp [[cpus=]n][,maxcpus=maxcpus][,sockets=sockets][,dies=dies]
     [,cores=cores][,threads=threads]
                 set the number of CPUs to 'n' (1..255) [default=1];
                 omitted values are computed as QEMU 6.2+ does (cores are
                 preferred over sockets over threads); the product
                 sockets*dies*cores*threads must equal maxcpus
-m [size=]megs   configure guest RAM size [default=128M]; a plain number is
                 in MiB; suffixes B, K, M, G, T (either case, powers of
                 1024) and fractions (1.5G) are accepted
-name string     set the name of the guest (no effect)
-nodefaults      don't create default devices (no default serial port)
-overcommit [mem-lock=on|off|on-fault][,cpu-pm=on|off]
                 accepted with a warning: KVM host tuning, no effect

Display options:
-display none    no display (the only display vmxemu has)
-nographic       disable graphical output; the serial port goes to stdio
-vga none        no VGA card (the only choice)
-vnc none        no VNC server (the only choice)

Character device options:
-serial dev      redirect the next serial port (COM1..COM4) to 'dev':
                 stdio, mon:stdio, file:PATH, null (port present, output
                 discarded) or none (no port); without -serial (and without
                 -nodefaults) COM1 goes to stdio
-monitor none    no monitor (vmxemu has none)
-parallel none   no parallel port (vmxemu has none)
-net none        no network card (vmxemu has none); also -nic none
-debugcon dev    redirect the port 0xE9 debug console (as QEMU's
                 isa-debugcon) to 'dev': stdio, file:PATH, null or none
                 [default=none: no port 0xE9]

Device options:
-device isa-debug-exit[,iobase=addr][,iosize=size]
                 add the debug-exit port (defaults iobase=0x501, iosize=2;
                 numbers in C syntax: 0xf4, 244); a guest write of value v
                 makes vmxemu exit with status (v<<1)|1
                 ('-device help' for the list of devices)
-device pc-testdev
                 kvm-unit-tests' ISA test device, as QEMU's
-global kvm-pit.lost_tick_policy=discard|delay|slew
                 accepted with a warning (kvm-unit-tests passes it):
                 kvm-pit is KVM's in-kernel PIT; vmxemu's PIT has no
                 lost-tick reinjection to configure. Other -global
                 settings are refused

Linux/Multiboot boot specific:
-kernel bzImage  boot this kernel (multiboot v1 ELF by default, loaded as
                 QEMU's multiboot loader does; see -boot-mode)
-append cmdline  use 'cmdline' as kernel command line (needs -kernel)
-initrd "file1 arg=foo,file2"
                 multiboot modules: file1 with command line "file1 arg=foo",
                 then file2; ',,' stands for a comma (needs -kernel)

Debug/Expert options:
-d item1,...     enable logging of specified items ('-d help' for list)
-D logfile       output log to logfile (default stderr)
-d-format fmt    text (QEMU's formats; one line per event) [default] or
                 json (JSON lines, the schema in docs/DEBUGGING.md)
-dfilter range,..  log in_asm/exec/cpu only for blocks starting in these
                 ranges: 0x1000..0x2000, 0x1000+0x100 or 0x2000-0x100
-d-cpu n,...     log in_asm/exec/cpu for these CPUs only (vmxemu's)
-d-limit n       stop logging in_asm and exec after n blocks each
                 (vmxemu's; a trace is otherwise bounded only by the run:
                 -icount-limit, -time-limit)
-gdb dev         accept a gdb connection on dev: tcp::PORT (loopback
                 only) or tcp:HOST:PORT (or none)
-s               shorthand for -gdb tcp::1234 (127.0.0.1:1234)
-S               freeze CPU at startup (continue from gdb)
-no-reboot       exit instead of rebooting (a triple fault then exits
                 with status 4)
-no-shutdown     on guest power-off (or a triple fault under -no-reboot)
                 stop the CPUs instead of exiting: under the gdb stub gdb
                 stays attached and sees the stop; without it vmxemu waits
                 for SIGINT or SIGTERM, then exits with the status the
                 stop would have given (0 or 4)

vmxemu options:
-icount-limit n  stop after n instructions (0 = no limit) [default=0]
-time-limit d    stop after wall-clock time d: a Go duration (30s, 1m30s)
                 or seconds (2.5); 0 = no limit [default=0]
-feature-control policy
                 how the firmware leaves IA32_FEATURE_CONTROL (MSR 0x3A):
                 locked    lock bit and VMX-outside-SMX set [default]
                 unlocked  0 and unlocked: the guest may set it itself
                 disabled  locked with VMX off: VMXON raises #GP
                 0xVALUE   exactly this value
-cpu-file file   load a CPU model from file (vmxemu model format or an
                 AIDA64 CPUID dump; docs/CPU-MODELS.md); -cpu may then
                 name it, and selects it when -cpu is not given
-boot-mode mode  how -kernel is loaded:
                 multiboot  multiboot v1: 32-bit protected mode, flat
                            segments, paging off, EAX=0x2BADB002,
                            EBX=multiboot info [default]
                 elf        load the ELF segments, start at e_entry
                 flat16     raw binary, start in real mode
                 flat32     raw binary, start in 32-bit protected mode
                 flat64     raw binary, start in 64-bit long mode
-load-addr addr  load address of a flat binary (flat modes only)
-entry addr      entry point of a flat binary (flat modes only)
-explain         print an explanation (rule and SDM reference) for every
                 fault, and at the end of a run the first fault of each
                 kind with the state that caused it [default]
-no-explain      don't
-stats           at the end of the run print on stderr the instructions
                 retired (all CPUs), the wall time since start-up and
                 their ratio in MIPS: "vmxemu: stats: N instructions,
                 S s, M MIPS"
-cpuprofile file write a Go CPU profile of vmxemu itself to file (go tool
                 pprof; how cmd/vmxemu/default.pgo is made: docs/
                 PERFORMANCE.md)
-break-on event1,...
                 stop at an event: an exception (de db nmi bp of br ud nm
                 df ts np ss gp pf mf ac mc xm ve cp), vmfail,
                 vmentry-fail, vmexit (any) or vmexit=REASON (a number or
                 a name: cpuid, hlt, cr-access, io, rdmsr, wrmsr,
                 ept-violation...). The CPU stops after the event (after
                 an exception's delivery, at host RIP after a VM exit);
                 gdb, when attached, sees SIGTRAP; without gdb vmxemu
                 prints the event and the state and exits with status 10
-magic-break     XCHG BX,BX (Bochs' magic breakpoint) stops the run as
                 -break-on does
-walk addr[,write|fetch][,user|supervisor]
                 when -break-on or -magic-break stops the run (on
                 stderr, with or without gdb), explain the paging walk of
                 addr, two-dimensionally
                 under EPT: addr is a hexadecimal linear address, gla (the
                 guest-linear address of the VM exit that stopped the
                 run; for an EPT violation with its access), cr2 or rip
                 (a fetch). After a VM exit the walk is the guest's (from
                 the VMCS), else the CPU's own; a read at the CPL unless
                 said

Exit status:
0                the guest powered the machine off (or asked for a reset
                 under -no-reboot), or gdb killed it
1                the built-in demo (no -kernel, or vmxemu demo): its guest
                 saw an outcome the SDM does not give, or an unknown scenario
(v<<1)|1         the guest wrote v to an isa-debug-exit port (always odd;
                 the shell sees the low 8 bits)
2                the command line or a file it names is wrong: a bad flag
                 or value; a missing, empty, truncated or non-multiboot
                 image; -m too small for the firmware tables; a bad
                 -cpu-file; an unwritable -D, -serial file: or -debugcon
                 file: path; a -gdb port in use. Nothing is run or written
4                triple fault under -no-reboot (the fault and its rule are
                 printed; without -no-reboot the machine resets)
6                a limit: -icount-limit or -time-limit reached; 100 resets
                 (the 101st triple fault or reset request ends the run);
                 every CPU halted with nothing to wake it (QEMU would wait
                 forever); a guest request vmxemu refuses (ACPI S3);
                 SIGINT or SIGTERM while the guest runs
8                a bug in vmxemu: an internal error, reported with the CPU
                 state, the instruction bytes and the command line that
                 reproduces it
10               a -break-on event or -magic-break stopped the run while
                 no gdb was attached (the event and the state are printed)
`

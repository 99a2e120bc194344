// Package cli parses vmxemu's command line. vmxemu speaks QEMU's conventions
// (qemu-system-x86_64 flags, their value syntax and defaults) for the common
// subset that test runners use, refuses every flag it does not implement with
// a one-line reason, and adds a few flags of its own (limits, firmware
// FEATURE_CONTROL policy, flat-binary boot, traces).
//
// Parse never prints and never exits; cmd/vmxemu turns an error into exit
// status ExitUsage.
package cli

import (
	"fmt"
	"time"
)

// Exit statuses, the contract documented in Usage. Debug-exit statuses are
// always odd ((value<<1)|1, as QEMU's hw/misc/debugexit.c computes them), so
// vmxemu's own statuses are even and never collide with a guest's.
const (
	ExitOK          = 0  // the guest shut down cleanly
	ExitUsage       = 2  // bad command line
	ExitTripleFault = 4  // triple fault (with -no-reboot; otherwise the machine resets)
	ExitLimit       = 6  // -icount-limit or -time-limit reached
	ExitError       = 8  // vmxemu could not run the guest (file not found, unimplemented feature, internal error)
	ExitBreak       = 10 // a -break-on event or -magic-break stopped the run (no gdb attached)
)

// Config is the parsed command line. The zero value is not meaningful; use
// Parse, which fills in QEMU's defaults.
type Config struct {
	// Subcommand is the first argument when it is a bare word (for example
	// "vmxcap" in `vmxemu vmxcap -cpu sandybridge-ep`); empty otherwise.
	Subcommand string
	// Demo is the scenario of `vmxemu demo NAME` (a bare word after the
	// subcommand; "list" lists them); empty for the demo as it is.
	Demo string

	Help         bool // -h, -help, --help
	Version      bool // -version
	ListCPUs     bool // -cpu help
	ListMachines bool // -machine help
	ListDevices  bool // -device help
	ListLogItems bool // -d help

	// Boot (QEMU's "Linux/Multiboot boot specific" options).
	Kernel  string   // -kernel FILE
	Append  string   // -append STR (the kernel command line)
	Initrd  string   // -initrd, verbatim
	Modules []Module // -initrd split into multiboot modules

	// Machine.
	Machine   string // -machine/-M type; default "pc"
	Accel     string // always "tcg"
	TCGThread string // -accel tcg,thread=single|multi; "" if not given
	CPU       CPUConfig
	SMP       SMP
	SMPSet    bool   // -smp was given (the built-in demo defaults to 4 CPUs)
	MemSize   uint64 // -m, in bytes; default 128 MiB
	Name      string // -name (no effect on behaviour)
	PIT       string // -machine pit=on|off|auto; "" when not given (vmxemu's board always has its i8254)
	// Q35 is set by -machine q35 (or pc-q35-*): the Q35 + ICH9 board.
	Q35 bool
	// KernelIRQChip is -machine kernel-irqchip=on|off|split ("" if not
	// given): accepted, with no effect (vmxemu's interrupt controllers
	// are all in the emulator).
	KernelIRQChip string

	// Devices and front ends.
	Serial     []Serial    // COM1 first; default one stdio port unless -serial or -nodefaults
	DebugExit  []DebugExit // -device isa-debug-exit
	PCTestDev  bool        // -device pc-testdev (QEMU's hw/misc/pc-testdev.c; kvm-unit-tests' x86 test device)
	IntelIOMMU *IntelIOMMU // -device intel-iommu (q35 only)
	Edu        bool        // -device edu (q35 only)
	NoGraphic  bool        // -nographic
	Display    string      // -display none → "none"
	VGA        string      // -vga none → "none"
	NoDefaults bool        // -nodefaults
	DebugCon   *Serial     // -debugcon: the port 0xE9 console; nil = none (QEMU's default)

	// Warnings are the QEMU options accepted as harmless no-ops, one line
	// each without the "vmxemu: warning: " prefix, in command-line order.
	// cmd/vmxemu prints each on stderr before it runs the guest. Each line
	// must read as a warning: kvm-unit-tests' runner (scripts/vmm.bash,
	// qemu_fixup_return_code) counts any stderr line without "warning" in
	// it as a QEMU failure.
	Warnings []string
	// kvmWarned: the warning for -enable-kvm/-accel kvm is in Warnings.
	kvmWarned bool

	// Guest lifecycle.
	NoReboot   bool // -no-reboot: exit instead of resetting
	NoShutdown bool // -no-shutdown: stop instead of exiting on shutdown

	// Debugging.
	LogItems    []string    // -d items that produce output, deduplicated, in order ("all" expanded)
	logNoOps    []string    // -d items accepted as no-ops; Parse turns each into a warning
	LogFile     string      // -D FILE; "" = stderr
	LogJSON     bool        // -d-format json: the event log as JSON lines
	DFilter     []AddrRange // -dfilter: the trace items log blocks starting in these ranges only; nil = all
	TraceCPUs   []int       // -d-cpu: the trace items log these CPUs only; nil = all
	TraceLimit  uint64      // -d-limit N: stop the trace items after N blocks (in_asm and exec counted apart); 0 = none
	GDB         string      // gdb stub listen address for net.Listen("tcp", GDB) ("127.0.0.1:1234"); "" = none
	StopAtStart bool        // -S

	// vmxemu's own.
	ICountLimit    uint64         // -icount-limit N; 0 = none
	TimeLimit      time.Duration  // -time-limit; 0 = none
	FeatureControl FeatureControl // -feature-control; default locked with VMX on
	// FeatureControlSet: -feature-control was given (the demo's fc-*
	// scenarios choose the policy otherwise).
	FeatureControlSet bool
	CPUFile           string   // -cpu-file FILE: a CPU model file (or AIDA64 dump); "" = none
	BootMode          BootMode // -boot-mode; default multiboot
	LoadAddr          uint64   // -load-addr, valid when HasLoadAddr
	HasLoadAddr       bool
	Entry             uint64 // -entry, valid when HasEntry
	HasEntry          bool
	Explain           bool   // print an explanation for every fault; default on, -no-explain turns it off
	BreakOn           string // -break-on EVENT[,EVENT...], verbatim (cmd/vmxemu parses the events)
	MagicBreak        bool   // -magic-break: XCHG BX,BX stops the run (Bochs' magic breakpoint)
	Walk              string // -walk ADDR[,ACCESS...], verbatim (cmd/vmxemu parses it): the page walk to explain at a -break-on stop
	Stats             bool   // -stats: print instructions retired, wall time and MIPS on stderr at the end
	CPUProfile        string // -cpuprofile FILE: a Go CPU profile of vmxemu itself (runtime/pprof), for performance work and cmd/vmxemu/default.pgo
}

// Module is one multiboot module from -initrd "FILE args,FILE2".
type Module struct {
	Path    string // the file name: the entry up to its first space
	Args    string // what follows the first space ("" if none)
	CmdLine string // the whole entry, file name included, as QEMU passes it in mods[i].string
}

// CPUConfig is -cpu MODEL[,+feat,-feat,feat=on|off][,prop=value]. The
// properties are QEMU's x86 CPU properties (target/i386/cpu.c
// x86_cpu_properties) that vmxemu gives a meaning; cmd/vmxemu applies them
// to the model.
type CPUConfig struct {
	Model    string       // "" = vmxemu's default model
	Features []CPUFeature // in command-line order; a later toggle of the same feature wins

	// Vendor is vendor=STRING (12 characters); "" = not given. vmxemu
	// cannot change a model's vendor: it is accepted only when it names
	// the model's own.
	Vendor string
	// PhysBits is phys-bits=N, the MAXPHYADDR to report in
	// CPUID.80000008H:EAX[7:0] (32..52); 0 = the model's own.
	PhysBits uint
	// HostPhysBits is host-phys-bits[=on]: report the "host's" physical
	// address width. The modelled processor is vmxemu's host, so this
	// keeps the model's own MAXPHYADDR.
	HostPhysBits bool
	// Enforce (enforce[=on]) refuses to run when a requested feature is
	// not provided; Check (check[=on]) warns about each one.
	Enforce bool
	Check   bool
}

// CPUFeature is one feature toggle from -cpu.
type CPUFeature struct {
	Name string // QEMU property spelling: '_' normalised to '-'
	On   bool
}

// SMP is the -smp topology after QEMU's rules for filling in omitted values.
type SMP struct {
	CPUs    int // CPUs present at start (1..255)
	MaxCPUs int // sockets*dies*cores*threads
	Sockets int
	Dies    int
	Cores   int
	Threads int
}

// SerialKind says where a serial port's bytes go.
type SerialKind int

const (
	SerialStdio SerialKind = iota // stdio or mon:stdio
	SerialFile                    // file:PATH
	SerialNull                    // null: the port exists, output is discarded
)

func (k SerialKind) String() string {
	switch k {
	case SerialStdio:
		return "stdio"
	case SerialFile:
		return "file"
	case SerialNull:
		return "null"
	}
	return fmt.Sprintf("SerialKind(%d)", int(k))
}

// Serial is one -serial port.
type Serial struct {
	Kind SerialKind
	Path string // for SerialFile
}

// DebugExit is one -device isa-debug-exit. A guest write of value v to the
// port makes vmxemu exit with status (v<<1)|1.
type DebugExit struct {
	IOBase uint16 // default 0x501
	IOSize uint32 // default 2
}

// BootMode is how -kernel is loaded.
type BootMode string

const (
	BootMultiboot BootMode = "multiboot" // multiboot v1, as QEMU's -kernel loads it
	BootELF       BootMode = "elf"       // a plain ELF: load segments, jump to e_entry
	BootFlat16    BootMode = "flat16"    // raw binary, started in real mode
	BootFlat32    BootMode = "flat32"    // raw binary, started in 32-bit protected mode
	BootFlat64    BootMode = "flat64"    // raw binary, started in 64-bit long mode
)

// IsFlat reports whether m loads a raw binary (where -load-addr and -entry apply).
func (m BootMode) IsFlat() bool {
	return m == BootFlat16 || m == BootFlat32 || m == BootFlat64
}

// FeatureControlMode is the firmware's IA32_FEATURE_CONTROL policy.
type FeatureControlMode int

const (
	FCLocked   FeatureControlMode = iota // lock bit set, VMX outside SMX enabled (what most BIOSes leave)
	FCUnlocked                           // MSR left 0 and unlocked: the guest may enable VMX itself
	FCDisabled                           // lock bit set, VMX disabled: VMXON raises #GP
	FCRaw                                // an explicit value
)

func (m FeatureControlMode) String() string {
	switch m {
	case FCLocked:
		return "locked"
	case FCUnlocked:
		return "unlocked"
	case FCDisabled:
		return "disabled"
	case FCRaw:
		return "raw"
	}
	return fmt.Sprintf("FeatureControlMode(%d)", int(m))
}

// IA32_FEATURE_CONTROL (MSR 0x3A) bits the policies set (Intel SDM Vol. 3C
// §24.7, "Enabling and Entering VMX Operation").
const (
	featureControlLock          = 1 << 0
	featureControlVMXOutsideSMX = 1 << 2
)

// FeatureControl is -feature-control.
type FeatureControl struct {
	Mode  FeatureControlMode
	Value uint64 // for FCRaw
}

// MSRValue is the value firmware leaves in IA32_FEATURE_CONTROL.
func (f FeatureControl) MSRValue() uint64 {
	switch f.Mode {
	case FCLocked:
		return featureControlLock | featureControlVMXOutsideSMX
	case FCDisabled:
		return featureControlLock
	case FCRaw:
		return f.Value
	}
	return 0
}

// Error is a command-line error. Every error Parse returns is an *Error.
type Error struct {
	Opt   string // the option as typed ("-device"), or the stray argument
	Value string // its value, "" if none
	Msg   string
}

func (e *Error) Error() string {
	if e.Value != "" {
		return fmt.Sprintf("vmxemu: %s %s: %s", e.Opt, e.Value, e.Msg)
	}
	return fmt.Sprintf("vmxemu: %s: %s", e.Opt, e.Msg)
}

// IntelIOMMU is -device intel-iommu's properties (QEMU hw/i386/intel_iommu.c
// vtd_properties, x86-iommu.c): intremap, eim, aw-bits, pt.
type IntelIOMMU struct {
	IntRemap bool
	EIM      bool
	AWBits   int  // 39 or 48
	NoPT     bool // pt=off
}

package cli

import (
	"errors"
	"fmt"
	"strings"
)

// DefaultMemSize is QEMU's default guest RAM: qemu-options.hx, -m: "Default
// is 128 MiB".
const DefaultMemSize = 128 << 20

// DefaultMachine is QEMU's default x86 machine ("pc", the i440FX board).
const DefaultMachine = "pc"

// MaxCPUs is the most CPUs vmxemu runs: xAPIC IDs 0..254 (0xFF is the
// broadcast ID).
const MaxCPUs = 255

// MaxSerialPorts is QEMU's MAX_ISA_SERIAL_PORTS: COM1..COM4.
const MaxSerialPorts = 4

// option is one entry of the flag table.
type option struct {
	arg bool // takes the next argument as its value
	fn  func(c *Config, val string) error
}

// refuse is a QEMU option vmxemu knows but refuses, with the reason.
func refuse(msg string) option {
	return option{arg: true, fn: func(*Config, string) error { return errors.New(msg) }}
}

func refuseNoArg(msg string) option {
	return option{fn: func(*Config, string) error { return errors.New(msg) }}
}

// fileName is an option whose value names a file: it may not be empty.
func fileName(set func(c *Config, v string)) option {
	return option{arg: true, fn: func(c *Config, v string) error {
		if v == "" {
			return errors.New("empty file name")
		}
		set(c, v)
		return nil
	}}
}

func flag(set func(c *Config)) option {
	return option{fn: func(c *Config, _ string) error { set(c); return nil }}
}

func str(set func(c *Config, v string)) option {
	return option{arg: true, fn: func(c *Config, v string) error { set(c, v); return nil }}
}

// kvmWarning is what -enable-kvm, -accel kvm and -machine accel=kvm
// print: vmxemu accepts them and runs the guest as under tcg.
const kvmWarning = "vmxemu has no KVM: it is itself the accelerator and runs the guest in its interpreter, as with -accel tcg (the CPU is the -cpu model; KVM's paravirtual interfaces — hypercalls, kvmclock, async page faults, Hyper-V enlightenments — are absent)"

// otherAccelMsg refuses the host hypervisors other than KVM.
const otherAccelMsg = "vmxemu is itself the accelerator: tcg and kvm (with a warning) are accepted"

// lookup is the flag table, keyed by the name without its dashes.
func lookup(name string) (option, bool) {
	switch name {
	// Standard options.
	case "h", "help":
		return flag(func(c *Config) { c.Help = true }), true
	case "version":
		return flag(func(c *Config) { c.Version = true }), true
	case "machine", "M":
		return option{arg: true, fn: parseMachine}, true
	case "accel":
		return option{arg: true, fn: parseAccel}, true
	case "enable-kvm":
		return flag(func(c *Config) { acceptKVM(c, "-enable-kvm") }), true
	case "cpu":
		return option{arg: true, fn: parseCPU}, true
	case "smp":
		return option{arg: true, fn: parseSMPOpt}, true
	case "m":
		return option{arg: true, fn: parseMemOpt}, true
	case "name":
		return str(func(c *Config, v string) { c.Name = v }), true
	case "nodefaults":
		return flag(func(c *Config) { c.NoDefaults = true }), true

	// Boot.
	case "kernel":
		return fileName(func(c *Config, v string) { c.Kernel = v }), true
	case "append":
		return str(func(c *Config, v string) { c.Append = v }), true
	case "initrd":
		return option{arg: true, fn: func(c *Config, v string) error {
			mods, err := SplitModules(v)
			if err != nil {
				return err
			}
			c.Initrd, c.Modules = v, mods
			return nil
		}}, true

	// Display and character devices.
	case "nographic":
		return flag(func(c *Config) { c.NoGraphic = true }), true
	case "display":
		return onlyNone("display", "vmxemu has no graphical output", func(c *Config) { c.Display = "none" }), true
	case "vga":
		return onlyNone("VGA card", "vmxemu emulates no display adapter", func(c *Config) { c.VGA = "none" }), true
	case "vnc":
		return onlyNone("VNC server", "vmxemu has no graphical output", func(*Config) {}), true
	case "serial":
		return option{arg: true, fn: parseSerial}, true
	case "debugcon":
		return option{arg: true, fn: parseDebugCon}, true
	case "monitor":
		return onlyNone("monitor", "vmxemu has no QEMU monitor", func(*Config) {}), true
	case "parallel":
		return onlyNone("parallel port", "vmxemu emulates no parallel port", func(*Config) {}), true
	case "net", "nic":
		return onlyNone("network", "vmxemu emulates no network card", func(*Config) {}), true

	// Devices.
	case "device":
		return option{arg: true, fn: parseDevice}, true

	// Lifecycle.
	case "no-reboot":
		return flag(func(c *Config) { c.NoReboot = true }), true
	case "no-shutdown":
		return flag(func(c *Config) { c.NoShutdown = true }), true

	// Debug.
	case "d":
		return option{arg: true, fn: parseLogItems}, true
	case "D":
		return fileName(func(c *Config, v string) { c.LogFile = v }), true
	case "dfilter":
		return option{arg: true, fn: parseDFilter}, true
	case "d-cpu":
		return option{arg: true, fn: parseTraceCPUs}, true
	case "d-limit":
		return option{arg: true, fn: func(c *Config, v string) error {
			n, err := parseCUint(v, 64)
			if err != nil {
				return err
			}
			c.TraceLimit = n
			return nil
		}}, true
	case "d-format":
		return option{arg: true, fn: func(c *Config, v string) error {
			switch v {
			case "text":
				c.LogJSON = false
			case "json":
				c.LogJSON = true
			default:
				return errors.New("unknown format (text or json)")
			}
			return nil
		}}, true
	case "break-on":
		return option{arg: true, fn: func(c *Config, v string) error {
			if v == "" {
				return errors.New("empty event list")
			}
			c.BreakOn = v
			return nil
		}}, true
	case "magic-break":
		return flag(func(c *Config) { c.MagicBreak = true }), true
	case "walk":
		return option{arg: true, fn: func(c *Config, v string) error {
			if v == "" {
				return errors.New("empty address")
			}
			c.Walk = v
			return nil
		}}, true
	case "s":
		return flag(func(c *Config) { c.GDB = gdbLoopback + ":1234" }), true
	case "S":
		return flag(func(c *Config) { c.StopAtStart = true }), true
	case "gdb":
		return option{arg: true, fn: parseGDB}, true

	// vmxemu's own.
	case "icount-limit":
		return option{arg: true, fn: func(c *Config, v string) error {
			n, err := parseCUint(v, 64)
			if err != nil {
				return err
			}
			c.ICountLimit = n
			return nil
		}}, true
	case "time-limit":
		return option{arg: true, fn: parseTimeLimit}, true
	case "feature-control":
		return option{arg: true, fn: func(c *Config, v string) error {
			c.FeatureControlSet = true
			return parseFeatureControl(c, v)
		}}, true
	case "cpu-file":
		return option{arg: true, fn: func(c *Config, v string) error {
			if v == "" {
				return errors.New("missing file name")
			}
			c.CPUFile = v
			return nil
		}}, true
	case "boot-mode":
		return option{arg: true, fn: parseBootMode}, true
	case "load-addr":
		return option{arg: true, fn: func(c *Config, v string) error {
			n, err := parseCUint(v, 64)
			if err != nil {
				return err
			}
			c.LoadAddr, c.HasLoadAddr = n, true
			return nil
		}}, true
	case "entry":
		return option{arg: true, fn: func(c *Config, v string) error {
			n, err := parseCUint(v, 64)
			if err != nil {
				return err
			}
			c.Entry, c.HasEntry = n, true
			return nil
		}}, true
	case "explain":
		return flag(func(c *Config) { c.Explain = true }), true
	case "no-explain":
		return flag(func(c *Config) { c.Explain = false }), true
	case "stats":
		return flag(func(c *Config) { c.Stats = true }), true
	case "cpuprofile":
		return fileName(func(c *Config, v string) { c.CPUProfile = v }), true

	// QEMU options vmxemu knows but refuses, so the message says why.
	case "trace":
		return refuse("not supported: vmxemu has no QEMU trace events (see -d help for its logs)"), true
	case "bios":
		return refuse("not supported yet: vmxemu's firmware is built in; boot with -kernel"), true
	case "rtc":
		return refuse("not supported: vmxemu's RTC and clock base are not configurable"), true
	case "drive", "hda", "hdb", "hdc", "hdd", "cdrom", "fda", "fdb", "blockdev", "pflash", "sd", "mtdblock":
		return refuse("not supported: vmxemu emulates no disks; boot with -kernel"), true
	case "boot":
		return refuse("not supported: vmxemu boots -kernel only (see -boot-mode)"), true
	case "netdev":
		return refuse("not supported: vmxemu emulates no network"), true
	case "chardev":
		return refuse("not supported: use -serial stdio|file:PATH|null|none"), true
	case "icount":
		return refuse("not supported: guest time always derives from instructions retired; see -icount-limit"), true
	case "global":
		return option{arg: true, fn: parseGlobal}, true
	case "overcommit":
		return option{arg: true, fn: parseOvercommit}, true
	case "object", "numa", "mem-path", "L", "dtb", "qmp", "incoming", "loadvm", "usbdevice", "audiodev", "spice", "watchdog-action", "fw_cfg", "smbios", "plugin":
		return refuse("not supported by vmxemu"), true
	case "snapshot", "daemonize", "usb", "no-hpet", "no-acpi", "mem-prealloc", "full-screen", "no-user-config":
		return refuseNoArg("not supported by vmxemu"), true
	}
	return option{}, false
}

// onlyNone is an option whose only accepted value is "none".
func onlyNone(what, why string, set func(c *Config)) option {
	return option{arg: true, fn: func(c *Config, v string) error {
		if v != "none" {
			return fmt.Errorf("unsupported %s (only none is accepted: %s)", what, why)
		}
		set(c)
		return nil
	}}
}

// Parse parses QEMU-style arguments (without argv[0]). It never exits or
// prints. Options take one or two leading dashes (-kernel, --kernel); a
// value is the next argument, as in QEMU (which has no -opt=value form).
// Options other than -serial, -device and the toggles are "last one wins", as
// in QEMU.
func Parse(args []string) (*Config, error) {
	c := &Config{
		Machine:        DefaultMachine,
		Accel:          "tcg",
		SMP:            SMP{CPUs: 1, MaxCPUs: 1, Sockets: 1, Dies: 1, Cores: 1, Threads: 1},
		MemSize:        DefaultMemSize,
		FeatureControl: FeatureControl{Mode: FCLocked},
		BootMode:       BootMultiboot,
		Explain:        true,
	}
	serialGiven := false

	if len(args) > 0 && isSubcommand(args[0]) {
		c.Subcommand = args[0]
		args = args[1:]
		// `vmxemu demo NAME`: the scenario, a bare word too.
		if c.Subcommand == "demo" && len(args) > 0 && isSubcommand(args[0]) {
			c.Demo = args[0]
			args = args[1:]
		}
	}

	for i := 0; i < len(args); i++ {
		a := args[i]
		name, ok := optionName(a)
		if !ok {
			return nil, positionalError(a, i == 0 && c.Subcommand == "")
		}
		opt, known := lookup(name)
		if !known {
			msg := "unknown option (see vmxemu -h)"
			if k, _, eq := strings.Cut(name, "="); eq {
				if o, ok := lookup(k); ok && o.arg {
					msg = fmt.Sprintf("unknown option (QEMU syntax takes the value as the next argument: -%s VALUE)", k)
				}
			}
			return nil, &Error{Opt: a, Msg: msg}
		}
		val := ""
		if opt.arg {
			if i+1 >= len(args) {
				return nil, &Error{Opt: a, Msg: "missing argument (see vmxemu -h)"}
			}
			i++
			val = args[i]
		}
		if name == "serial" {
			serialGiven = true
		}
		if err := opt.fn(c, val); err != nil {
			return nil, &Error{Opt: a, Value: val, Msg: err.Error()}
		}
	}

	for _, it := range c.logNoOps {
		c.Warnings = append(c.Warnings, fmt.Sprintf("-d %s ignored: a QEMU TCG-internal log item, vmxemu has no TCG and logs nothing for it", it))
	}

	if c.LogJSON {
		for _, it := range c.LogItems {
			if li, _ := lookupLogItem(it); li.Trace {
				return nil, &Error{Opt: "-d", Value: it, Msg: "the trace items (in_asm, exec, cpu) have no JSON form: use -d-format text"}
			}
		}
	}

	// QEMU (system/vl.c): "-append only allowed with -kernel option", and the
	// same for -initrd. Without -kernel vmxemu runs its built-in demo
	// kernel, which takes -append (its scenarios).
	if c.Kernel == "" {
		if c.Initrd != "" {
			return nil, &Error{Opt: "-initrd", Msg: "only allowed with -kernel"}
		}
	}
	if !c.BootMode.IsFlat() {
		if c.HasLoadAddr {
			return nil, &Error{Opt: "-load-addr", Msg: "only meaningful with -boot-mode flat16|flat32|flat64"}
		}
		if c.HasEntry {
			return nil, &Error{Opt: "-entry", Msg: "only meaningful with -boot-mode flat16|flat32|flat64"}
		}
	}
	// QEMU (hw/i386/x86-iommu.c x86_iommu_realize): an IOMMU needs the
	// machine's PCI bus, which vmxemu's pc board does not have; edu is a
	// PCI device.
	if !c.Q35 {
		if c.IntelIOMMU != nil {
			return nil, &Error{Opt: "-device", Value: devIntelIOMMU, Msg: fmt.Sprintf("Machine-type '%s' not supported by IOMMU (use -M q35)", c.Machine)}
		}
		if c.Edu {
			return nil, &Error{Opt: "-device", Value: devEdu, Msg: fmt.Sprintf("machine type '%s' has no PCI bus in vmxemu (use -M q35)", c.Machine)}
		}
	}
	// QEMU's default serial: one port on stdio (vc in a graphical window,
	// which vmxemu does not have), unless any -serial was given or
	// -nodefaults ("Don't create default devices") was.
	if !serialGiven && !c.NoDefaults {
		c.Serial = []Serial{{Kind: SerialStdio}}
	}
	return c, nil
}

// optionName strips one or two leading dashes. It reports false for a
// non-option ("-" and "--" alone included).
func optionName(a string) (string, bool) {
	switch {
	case strings.HasPrefix(a, "--"):
		a = a[2:]
	case strings.HasPrefix(a, "-"):
		a = a[1:]
	default:
		return "", false
	}
	return a, a != ""
}

// isSubcommand reports whether s is a bare word: a lowercase letter followed
// by lowercase letters, digits and dashes.
func isSubcommand(s string) bool {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return false
	}
	for i := 1; i < len(s); i++ {
		b := s[i]
		if !(b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '-') {
			return false
		}
	}
	return true
}

func positionalError(a string, first bool) error {
	if a == "" || a == "-" || a == "--" {
		return &Error{Opt: fmt.Sprintf("%q", a), Msg: "unexpected argument (see vmxemu -h)"}
	}
	if first {
		return &Error{Opt: a, Msg: "unexpected argument: vmxemu takes no disk image (boot with -kernel FILE; see vmxemu -h)"}
	}
	return &Error{Opt: a, Msg: "unexpected argument (options start with -; a subcommand must come first; see vmxemu -h)"}
}

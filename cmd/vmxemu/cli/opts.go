package cli

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// splitOpts splits a QEMU option string at single commas; ",," stands for
// a literal comma. This is QEMU's get_opt_value() (util/cutils.c), used by
// QemuOpts and by the multiboot loader for -initrd.
func splitOpts(s string) []string {
	var parts []string
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == ',' {
			if i+1 < len(s) && s[i+1] == ',' {
				cur.WriteByte(',')
				i++
				continue
			}
			parts = append(parts, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteByte(s[i])
	}
	return append(parts, cur.String())
}

// kv is one key=value pair of a QEMU option string.
type kv struct {
	key, val string
	hasVal   bool
}

// parseKV splits s into pairs. A first part without '=' gets implied as its
// key (QemuOpts' implied_opt_name: "cpus" for -smp, "size" for -m, "type"
// for -machine, "driver" for -device, "accel" for -accel); implied may be
// "" when the option has none.
func parseKV(s, implied string) ([]kv, error) {
	var out []kv
	for i, p := range splitOpts(s) {
		if p == "" {
			return nil, errors.New("empty parameter")
		}
		k, v, eq := strings.Cut(p, "=")
		switch {
		case eq:
			out = append(out, kv{key: k, val: v, hasVal: true})
		case i == 0 && implied != "":
			out = append(out, kv{key: implied, val: p, hasVal: true})
		default:
			out = append(out, kv{key: p})
		}
	}
	return out, nil
}

// parseCUint parses an unsigned number in C syntax, as QEMU's
// qemu_strtou64(..., base 0) does for numeric properties: 0x/0X hex, a
// leading 0 octal, else decimal.
func parseCUint(s string, bitSize int) (uint64, error) {
	t := s
	base := 10
	switch {
	case len(t) > 2 && t[0] == '0' && (t[1] == 'x' || t[1] == 'X'):
		t, base = t[2:], 16
	case len(t) > 1 && t[0] == '0':
		t, base = t[1:], 8
	}
	if t == "" || t[0] == '+' || t[0] == '-' || strings.ContainsRune(t, '_') {
		return 0, fmt.Errorf("invalid number %q", s)
	}
	n, err := strconv.ParseUint(t, base, bitSize)
	if err != nil {
		var ne *strconv.NumError
		if errors.As(err, &ne) && ne.Err == strconv.ErrRange {
			return 0, fmt.Errorf("number %q out of range", s)
		}
		return 0, fmt.Errorf("invalid number %q", s)
	}
	return n, nil
}

// ParseSize parses a QEMU size as qemu_strtosz() (util/cutils.c) does: a
// decimal number, optionally with a fraction, or a 0x hex integer, followed
// by an optional suffix B, K, M, G, T, P or E (either case; powers of 1024).
// A number without suffix is in defaultUnit bytes.
func ParseSize(s string, defaultUnit uint64) (uint64, error) {
	bad := fmt.Errorf("invalid size %q (a number with an optional suffix K, M, G or T)", s)
	tooBig := fmt.Errorf("size %q is too large", s)

	// The number: hex digits after 0x (taken greedily, as strtoull does, so
	// "0x1E" is 30 and not 1 EiB), or decimal digits with a fraction.
	hex := len(s) > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')
	j := 0
	if hex {
		j = 2
		for j < len(s) && isHexDigit(s[j]) {
			j++
		}
	} else {
		for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.') {
			j++
		}
	}
	num, suffix := s[:j], s[j:]

	unit := defaultUnit
	switch suffix {
	case "":
	case "b", "B":
		unit = 1
	case "k", "K":
		unit = 1 << 10
	case "m", "M":
		unit = 1 << 20
	case "g", "G":
		unit = 1 << 30
	case "t", "T":
		unit = 1 << 40
	case "p", "P":
		unit = 1 << 50
	case "e", "E":
		unit = 1 << 60
	default:
		return 0, bad
	}

	if hex {
		if len(num) == 2 {
			return 0, bad
		}
		n, err := strconv.ParseUint(num[2:], 16, 64)
		if err != nil {
			return 0, tooBig
		}
		hi, lo := bits.Mul64(n, unit)
		if hi != 0 {
			return 0, tooBig
		}
		return lo, nil
	}

	intPart, frac, hasFrac := strings.Cut(num, ".")
	if intPart == "" || hasFrac && (frac == "" || strings.Contains(frac, ".")) {
		return 0, bad
	}
	n, err := strconv.ParseUint(intPart, 10, 64)
	if err != nil {
		return 0, tooBig
	}
	hi, total := bits.Mul64(n, unit)
	if hi != 0 {
		return 0, tooBig
	}
	if hasFrac {
		// frac/10^len(frac) * unit must be a whole number of bytes.
		if len(frac) > 18 {
			return 0, bad
		}
		f, _ := strconv.ParseUint(frac, 10, 64)
		den := uint64(math.Pow10(len(frac)))
		fhi, flo := bits.Mul64(f, unit)
		q, r := bits.Div64(fhi, flo, den) // fhi < den since f < den
		if r != 0 {
			return 0, fmt.Errorf("size %q is not a whole number of bytes", s)
		}
		var carry uint64
		if total, carry = bits.Add64(total, q, 0); carry != 0 {
			return 0, tooBig
		}
	}
	return total, nil
}

func isHexDigit(b byte) bool {
	return b >= '0' && b <= '9' || b >= 'a' && b <= 'f' || b >= 'A' && b <= 'F'
}

// parseMemOpt is -m [size=]SIZE. qemu-options.hx: "-m [size=]megs[,slots=n,
// maxmem=size] ... Sets guest startup RAM size to megs megabytes. Default is
// 128 MiB. Optionally, a suffix of "M" or "G" can be used"; system/vl.c
// parse_memory_options() treats a suffix-less number as MiB ("Fix up legacy
// suffix-less format") and the size is rounded up to 8 KiB as QEMU does.
func parseMemOpt(c *Config, v string) error {
	pairs, err := parseKV(v, "size")
	if err != nil {
		return err
	}
	size := uint64(0)
	for _, p := range pairs {
		switch p.key {
		case "size":
			if size, err = ParseSize(p.val, 1<<20); err != nil {
				return err
			}
		case "slots", "maxmem":
			return fmt.Errorf("%s: memory hotplug is not supported", p.key)
		default:
			return fmt.Errorf("unknown parameter %q (supported: size)", p.key)
		}
	}
	if size == 0 {
		return errors.New("memory size must be greater than zero")
	}
	const align = 8 << 10
	if size > math.MaxUint64-align {
		return fmt.Errorf("size %q is too large", v)
	}
	c.MemSize = (size + align - 1) &^ (align - 1)
	return nil
}

// parseSMPOpt is -smp.
func parseSMPOpt(c *Config, v string) error {
	s, err := ParseSMP(v)
	if err != nil {
		return err
	}
	c.SMP = s
	c.SMPSet = true
	return nil
}

// ParseSMP parses -smp [[cpus=]n][,maxcpus=m][,sockets=s][,dies=d]
// [,cores=c][,threads=t] and fills in omitted values the way QEMU 6.2+
// does (hw/core/machine-smp.c machine_parse_smp_config; qemu-options.hx:
// "Since 6.2 the preference is cores over sockets over threads"; "The
// specified parameters must be greater than zero"; the product of the
// hierarchy must equal maxcpus, and maxcpus must be at least cpus).
func ParseSMP(v string) (SMP, error) {
	pairs, err := parseKV(v, "cpus")
	if err != nil {
		return SMP{}, err
	}
	var cpus, maxcpus, sockets, dies, cores, threads uint64
	for _, p := range pairs {
		var dst *uint64
		switch p.key {
		case "cpus":
			dst = &cpus
		case "maxcpus":
			dst = &maxcpus
		case "sockets":
			dst = &sockets
		case "dies":
			dst = &dies
		case "cores":
			dst = &cores
		case "threads":
			dst = &threads
		default:
			return SMP{}, fmt.Errorf("unknown parameter %q (supported: cpus, maxcpus, sockets, dies, cores, threads)", p.key)
		}
		if !p.hasVal {
			return SMP{}, fmt.Errorf("%s: missing value", p.key)
		}
		n, err := parseCUint(p.val, 32)
		if err != nil {
			return SMP{}, fmt.Errorf("%s: %w", p.key, err)
		}
		if n == 0 {
			return SMP{}, fmt.Errorf("%s: CPU topology parameters must be greater than zero", p.key)
		}
		if n > MaxCPUs {
			return SMP{}, fmt.Errorf("%s=%d: %w", p.key, n, tooManyCPUs(n))
		}
		*dst = n
	}
	if dies == 0 {
		dies = 1
	}
	if cpus == 0 && maxcpus == 0 {
		sockets, cores, threads = orOne(sockets), orOne(cores), orOne(threads)
	} else {
		if maxcpus == 0 {
			maxcpus = cpus
		}
		if cores == 0 {
			sockets, threads = orOne(sockets), orOne(threads)
			cores = maxcpus / (sockets * dies * threads)
		} else if sockets == 0 {
			threads = orOne(threads)
			sockets = maxcpus / (cores * dies * threads)
		}
		if threads == 0 {
			threads = maxcpus / (sockets * dies * cores)
		}
	}
	total := sockets * dies * cores * threads
	if maxcpus == 0 {
		maxcpus = total
	}
	if cpus == 0 {
		cpus = maxcpus
	}
	if total != maxcpus {
		return SMP{}, fmt.Errorf("invalid CPU topology: sockets (%d) * dies (%d) * cores (%d) * threads (%d) != maxcpus (%d)",
			sockets, dies, cores, threads, maxcpus)
	}
	if cpus > maxcpus {
		return SMP{}, fmt.Errorf("invalid CPU topology: maxcpus (%d) must be at least cpus (%d)", maxcpus, cpus)
	}
	if maxcpus > MaxCPUs {
		return SMP{}, tooManyCPUs(maxcpus)
	}
	return SMP{CPUs: int(cpus), MaxCPUs: int(maxcpus), Sockets: int(sockets), Dies: int(dies), Cores: int(cores), Threads: int(threads)}, nil
}

// tooManyCPUs is the error for more than MaxCPUs CPUs. Its wording follows
// QEMU's ("Invalid SMP CPUs %d. The max CPUs supported by machine '%s' is
// %d", hw/core/machine.c): kvm-unit-tests' qemu_probe_maxsmp
// (scripts/vmm.bash) greps a failed run for "SMP CPUs" and takes the
// last word as the most CPUs the emulator runs.
func tooManyCPUs(n uint64) error {
	return fmt.Errorf("invalid SMP CPUs %d: the max CPUs supported by vmxemu is %d", n, MaxCPUs)
}

func orOne(n uint64) uint64 {
	if n == 0 {
		return 1
	}
	return n
}

// supportedMachine reports whether t is a machine type vmxemu accepts.
func supportedMachine(t string) bool {
	return t == "pc" || strings.HasPrefix(t, "pc-i440fx")
}

// q35Machine reports whether t is QEMU's q35 machine (Q35 + ICH9).
func q35Machine(t string) bool {
	return t == "q35" || strings.HasPrefix(t, "pc-q35")
}

// checkAccelList accepts an accelerator list "a:b:c" (QEMU's accel=
// property, tried in order) when its first known accelerator is tcg or
// kvm: vmxemu is then the accelerator QEMU would have used. kvm is
// accepted with a warning (kvmWarning); hvf, whpx, xen, nvmm and hax are
// host hypervisors vmxemu cannot stand in for and are refused.
func checkAccelList(c *Config, list string) error {
	hasOther := false
	for _, a := range strings.Split(list, ":") {
		switch a {
		case "tcg":
			return nil
		case "kvm":
			acceptKVM(c, "accel="+list)
			return nil
		case "hvf", "whpx", "xen", "nvmm", "hax":
			hasOther = true
		}
	}
	if hasOther {
		return errors.New(otherAccelMsg)
	}
	return errors.New("unknown accelerator (only tcg and kvm are accepted)")
}

// acceptKVM records the warning for a request of KVM (-enable-kvm,
// -accel kvm, -machine accel=kvm), once per run. kvm-unit-tests'
// unittests.cfg hard-codes -enable-kvm for some entries (cet, lam): what
// they test is the CPU, which vmxemu models; KVM's own interfaces are
// what the guest then does not find.
func acceptKVM(c *Config, how string) {
	if c.kvmWarned {
		return
	}
	c.kvmWarned = true
	c.Warnings = append(c.Warnings, how+": "+kvmWarning)
}

// parseMachine is -machine/-M [type=]TYPE[,accel=tcg].
func parseMachine(c *Config, v string) error {
	pairs, err := parseKV(v, "type")
	if err != nil {
		return err
	}
	for _, p := range pairs {
		switch {
		case p.key == "help" && !p.hasVal || p.key == "type" && p.val == "help":
			c.ListMachines = true
		case p.key == "type":
			c.Q35 = q35Machine(p.val)
			if !c.Q35 && !supportedMachine(p.val) {
				return fmt.Errorf("unsupported machine type %q (supported: pc, pc-i440fx-*, q35, pc-q35-*)", p.val)
			}
			c.Machine = p.val
		case p.key == "accel" && p.hasVal:
			if err := checkAccelList(c, p.val); err != nil {
				return err
			}
		case p.key == "pit":
			// hw/i386/x86.c: "pit" is OnOffAuto, "Enable i8254 PIT".
			switch p.val {
			case "on", "auto":
			case "off":
				c.Warnings = append(c.Warnings, "-machine pit=off: vmxemu's board keeps its i8254 PIT (it cannot be removed yet); a guest that does not program it sees no difference")
			default:
				return fmt.Errorf("pit=%s: expected on, off or auto", p.val)
			}
			c.PIT = p.val
		case p.key == "kernel-irqchip":
			// QEMU's kernel-irqchip places the interrupt controllers in
			// KVM (on), splits them (split: local APICs in KVM, I/O APIC
			// and PIC in QEMU) or keeps them in QEMU (off). vmxemu is
			// its own accelerator: every controller is in the emulator,
			// whatever the value, so each is accepted without effect.
			switch p.val {
			case "on", "off", "split":
			default:
				return fmt.Errorf("kernel-irqchip=%s: expected on, off or split", p.val)
			}
			c.KernelIRQChip = p.val
		default:
			return fmt.Errorf("unsupported machine property %q (supported: type, accel=tcg|kvm, pit=on|off|auto, kernel-irqchip=on|off|split)", p.key)
		}
	}
	return nil
}

// parseAccel is -accel [accel=]tcg[,thread=single|multi].
func parseAccel(c *Config, v string) error {
	pairs, err := parseKV(v, "accel")
	if err != nil {
		return err
	}
	for _, p := range pairs {
		switch {
		case p.key == "accel" && p.val == "tcg":
		case p.key == "accel" && p.val == "kvm":
			acceptKVM(c, "-accel kvm")
		case p.key == "accel":
			if err := checkAccelList(c, p.val); err != nil {
				return err
			}
			return errors.New("only one accelerator per -accel (tcg, or kvm with a warning)")
		case p.key == "thread" && (p.val == "single" || p.val == "multi"):
			c.TCGThread = p.val
		case p.key == "thread":
			return fmt.Errorf("thread=%s: expected single or multi", p.val)
		default:
			return fmt.Errorf("unsupported accelerator property %q (supported: thread=single|multi)", p.key)
		}
	}
	return nil
}

// parseBool accepts QEMU's boolean spellings (qapi_bool_parse).
func parseBool(s string) (bool, bool) {
	switch s {
	case "on", "yes", "true", "y":
		return true, true
	case "off", "no", "false", "n":
		return false, true
	}
	return false, false
}

// parseCPU is -cpu MODEL[,+feat][,-feat][,feat=on|off][,feat][,prop=value].
// A bare feature name means feat=on and '_' is read as '-', as QEMU's
// x86_cpu_parse_featurestr() does. The properties vendor, phys-bits,
// host-phys-bits, enforce and check are QEMU's X86CPU properties
// (target/i386/cpu.c); they are kept in CPUConfig, not passed on as
// feature toggles.
func parseCPU(c *Config, v string) error {
	parts := strings.Split(v, ",")
	model := parts[0]
	if model == "help" || model == "?" {
		c.ListCPUs = true
		return nil
	}
	if model == "" {
		return errors.New("missing CPU model (see -cpu help)")
	}
	for i := 0; i < len(model); i++ {
		b := model[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9' || b == '-' || b == '_' || b == '.') {
			return fmt.Errorf("invalid CPU model name %q (see -cpu help)", model)
		}
	}
	cfg := CPUConfig{Model: model}
	for _, f := range parts[1:] {
		var name string
		var on bool
		switch {
		case f == "":
			return errors.New("empty CPU feature")
		case f[0] == '+' || f[0] == '-':
			name, on = f[1:], f[0] == '+'
		default:
			k, val, eq := strings.Cut(f, "=")
			done, err := cfg.property(strings.ReplaceAll(k, "_", "-"), val, eq)
			if err != nil {
				return err
			}
			if done {
				continue
			}
			name, on = k, true
			if eq {
				b, ok := parseBool(val)
				if !ok {
					return fmt.Errorf("%s=%s: only boolean CPU features and the properties vendor=, phys-bits= are supported (on|off)", k, val)
				}
				on = b
			}
		}
		if name == "" {
			return fmt.Errorf("empty CPU feature name in %q", f)
		}
		cfg.Features = append(cfg.Features, CPUFeature{Name: strings.ReplaceAll(name, "_", "-"), On: on})
	}
	c.CPU = cfg
	return nil
}

// QEMU's limits for phys-bits (target/i386/cpu.c x86_cpu_realizefn: "phys-bits
// should be between 32 and %u", TARGET_PHYS_ADDR_SPACE_BITS = 52 on x86-64).
const (
	minPhysBits = 32
	maxPhysBits = 52
)

// property parses the -cpu properties vmxemu knows (k, with '_' read as
// '-'). It reports false when k is a feature toggle instead.
func (cfg *CPUConfig) property(k, val string, eq bool) (bool, error) {
	boolProp := func(dst *bool) (bool, error) {
		if !eq {
			*dst = true
			return true, nil
		}
		b, ok := parseBool(val)
		if !ok {
			return true, fmt.Errorf("%s=%s: expected on or off", k, val)
		}
		*dst = b
		return true, nil
	}
	switch k {
	case "vendor":
		// QEMU (x86_cpuid_set_vendor): "vendor property must be 12 chars".
		if len(val) != 12 {
			return true, fmt.Errorf("vendor=%s: the vendor must be 12 characters (GenuineIntel, AuthenticAMD)", val)
		}
		cfg.Vendor = val
		return true, nil
	case "phys-bits":
		n, err := parseCUint(val, 32)
		if err != nil {
			return true, fmt.Errorf("phys-bits: %w", err)
		}
		if n < minPhysBits || n > maxPhysBits {
			return true, fmt.Errorf("phys-bits=%d: must be between %d and %d", n, minPhysBits, maxPhysBits)
		}
		cfg.PhysBits = uint(n)
		return true, nil
	case "host-phys-bits":
		return boolProp(&cfg.HostPhysBits)
	case "enforce":
		return boolProp(&cfg.Enforce)
	case "check":
		return boolProp(&cfg.Check)
	case "host-phys-bits-limit", "model-id", "family", "model", "stepping", "level", "xlevel", "min-level", "min-xlevel", "tsc-frequency", "apic-id":
		return true, fmt.Errorf("%s: not supported: a vmxemu CPU's identity and leaves come from the model's dump (see -cpu help, -cpu-file)", k)
	}
	if strings.HasPrefix(k, "hv-") {
		return true, fmt.Errorf("%s: Hyper-V enlightenments are not implemented (vmxemu presents bare-metal Intel CPUs)", k)
	}
	return false, nil
}

// parseSerial is -serial stdio|mon:stdio|file:PATH|null|none. As in QEMU,
// "none" allocates no port (and turns off the default one); the others take
// the next COM port.
func parseSerial(c *Config, v string) error {
	var s Serial
	switch {
	case v == "none":
		return nil
	case v == "stdio" || v == "mon:stdio":
		s = Serial{Kind: SerialStdio}
		for _, o := range c.Serial {
			if o.Kind == SerialStdio {
				return errors.New("stdio is already used by another serial port")
			}
		}
	case v == "null":
		s = Serial{Kind: SerialNull}
	case strings.HasPrefix(v, "file:"):
		if v == "file:" {
			return errors.New("empty file name")
		}
		s = Serial{Kind: SerialFile, Path: strings.TrimPrefix(v, "file:")}
	default:
		return errors.New("unsupported serial backend (supported: stdio, mon:stdio, file:PATH, null, none)")
	}
	if len(c.Serial) >= MaxSerialPorts {
		return fmt.Errorf("too many serial ports (at most %d)", MaxSerialPorts)
	}
	c.Serial = append(c.Serial, s)
	return nil
}

// Devices -device accepts; DevicesHelp lists them.
const (
	devDebugExit  = "isa-debug-exit"
	devPCTestDev  = "pc-testdev"
	devPCITestDev = "pci-testdev"
	devIntelIOMMU = "intel-iommu"
	devEdu        = "edu"
	devSupported  = devDebugExit + ", " + devPCTestDev + ", " + devIntelIOMMU + " (q35), " + devEdu + " (q35)"
)

// parseDevice is -device DRIVER[,prop=value...]: isa-debug-exit or
// pc-testdev. isa-debug-exit's property defaults come from QEMU's
// hw/misc/debugexit.c: DEFINE_PROP_UINT32("iobase", ..., 0x501) and
// ("iosize", ..., 0x02); numbers are in C syntax, as QEMU's integer
// properties take them. pc-testdev (hw/misc/pc-testdev.c) sits at fixed
// addresses, so vmxemu takes no property for it but id. pci-testdev needs
// a PCI bus, which vmxemu does not have: it is refused, and -device help
// does not list it (kvm-unit-tests' x86/run then leaves it out).
func parseDevice(c *Config, v string) error {
	pairs, err := parseKV(v, "driver")
	if err != nil {
		return err
	}
	driver := pairs[0]
	if driver.key != "driver" {
		return errors.New("missing device name (supported: " + devSupported + ")")
	}
	if driver.val == "help" || driver.val == "?" {
		c.ListDevices = true
		return nil
	}
	for _, p := range pairs[1:] {
		if p.key == "help" && !p.hasVal {
			c.ListDevices = true
			return nil
		}
		if !p.hasVal {
			return fmt.Errorf("property %q needs a value", p.key)
		}
	}
	switch driver.val {
	case devDebugExit:
		return parseDebugExit(c, pairs[1:])
	case devPCTestDev:
		for _, p := range pairs[1:] {
			if p.key != "id" {
				return fmt.Errorf("unknown property %q (%s has: id)", p.key, driver.val)
			}
		}
		if c.PCTestDev {
			return fmt.Errorf("only one %s (its ports and memory are at fixed addresses)", driver.val)
		}
		c.PCTestDev = true
		return nil
	case devPCITestDev:
		return errors.New("not implemented: vmxemu has no pci-testdev (kvm-unit-tests' x86/run adds it only when -device help lists it, which vmxemu's does not)")
	case devIntelIOMMU:
		return parseIntelIOMMU(c, pairs[1:])
	case devEdu:
		for _, p := range pairs[1:] {
			switch p.key {
			case "id":
			case "dma_mask":
				return errors.New("dma_mask: only the default 0xfffffff (28 bits) is supported")
			default:
				return fmt.Errorf("unknown property %q (edu has: id)", p.key)
			}
		}
		if c.Edu {
			return errors.New("only one edu device is supported")
		}
		c.Edu = true
		return nil
	}
	return errors.New("unsupported device (supported: " + devSupported + ")")
}

// parseDebugExit is the properties of -device isa-debug-exit.
func parseDebugExit(c *Config, props []kv) error {
	d := DebugExit{IOBase: 0x501, IOSize: 2}
	base := uint64(0x501)
	for _, p := range props {
		switch p.key {
		case "iobase":
			n, err := parseCUint(p.val, 32)
			if err != nil {
				return fmt.Errorf("iobase: %w", err)
			}
			base = n
		case "iosize":
			n, err := parseCUint(p.val, 32)
			if err != nil {
				return fmt.Errorf("iosize: %w", err)
			}
			if n == 0 {
				return errors.New("iosize must be at least 1")
			}
			d.IOSize = uint32(n)
		case "id":
		default:
			return fmt.Errorf("unknown property %q (isa-debug-exit has: iobase, iosize, id)", p.key)
		}
	}
	if base+uint64(d.IOSize) > 0x10000 {
		return fmt.Errorf("ports %#x..%#x lie beyond the 64 KiB I/O space", base, base+uint64(d.IOSize)-1)
	}
	d.IOBase = uint16(base)
	c.DebugExit = append(c.DebugExit, d)
	return nil
}

// lostTickPolicies are the values of QEMU's LostTickPolicy (qapi/misc.json):
// what kvm-pit.lost_tick_policy and the RTC's lost_tick_policy accept.
var lostTickPolicies = []string{"discard", "delay", "slew"}

// parseGlobal is -global DRIVER.PROP=VALUE (or driver=D,property=P,value=V,
// QEMU's two spellings, qemu-options.hx). Only kvm-pit.lost_tick_policy is
// accepted: kvm-unit-tests' x86/run passes it on every run. kvm-pit is
// KVM's in-kernel PIT; QEMU under TCG creates no kvm-pit, so the global
// never applies there either, and vmxemu's i8254 has no lost-tick
// reinjection to configure (its counter runs on guest time). It is
// recorded as a warning.
func parseGlobal(c *Config, v string) error {
	var driver, prop, val string
	if k, rest, ok := strings.Cut(v, "="); ok && !strings.Contains(k, ",") && strings.Contains(k, ".") {
		driver, prop, _ = strings.Cut(k, ".")
		val = rest
	} else {
		pairs, err := parseKV(v, "")
		if err != nil {
			return err
		}
		for _, p := range pairs {
			switch p.key {
			case "driver":
				driver = p.val
			case "property":
				prop = p.val
			case "value":
				val = p.val
			default:
				return fmt.Errorf("invalid -global %q (expected DRIVER.PROP=VALUE or driver=D,property=P,value=V)", v)
			}
		}
	}
	if driver == "" || prop == "" {
		return fmt.Errorf("invalid -global %q (expected DRIVER.PROP=VALUE or driver=D,property=P,value=V)", v)
	}
	if driver != "kvm-pit" || strings.ReplaceAll(prop, "-", "_") != "lost_tick_policy" {
		return fmt.Errorf("%s.%s: not supported by vmxemu (the only -global accepted is kvm-pit.lost_tick_policy)", driver, prop)
	}
	if !slices.Contains(lostTickPolicies, val) {
		return fmt.Errorf("lost_tick_policy=%s: expected %s", val, strings.Join(lostTickPolicies, ", "))
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("-global kvm-pit.lost_tick_policy=%s ignored: kvm-pit is KVM's in-kernel PIT; vmxemu's PIT has no lost-tick reinjection to configure", val))
	return nil
}

// parseOvercommit is -overcommit [mem-lock=on|off|on-fault][,cpu-pm=on|off]
// (qemu-options.hx). Both are host-side hints for KVM (locking guest memory,
// letting the guest's HLT/MWAIT/PAUSE run without exits): vmxemu accepts
// them as no-ops, with a warning.
func parseOvercommit(c *Config, v string) error {
	pairs, err := parseKV(v, "")
	if err != nil {
		return err
	}
	for _, p := range pairs {
		switch {
		case !p.hasVal:
			return fmt.Errorf("%s: missing value", p.key)
		case p.key == "mem-lock" && (p.val == "on-fault" || isBool(p.val)):
		case p.key == "cpu-pm" && isBool(p.val):
		case p.key == "mem-lock" || p.key == "cpu-pm":
			return fmt.Errorf("%s=%s: expected on or off", p.key, p.val)
		default:
			return fmt.Errorf("unsupported parameter %q (supported: mem-lock, cpu-pm)", p.key)
		}
	}
	c.Warnings = append(c.Warnings, fmt.Sprintf("-overcommit %s ignored: it tunes the KVM host (memory locking, guest power management); vmxemu's guest memory and HLT/MWAIT/PAUSE are unaffected", v))
	return nil
}

func isBool(s string) bool {
	_, ok := parseBool(s)
	return ok
}

// LogItem is one -d item.
type LogItem struct {
	Name, Help string
	// NoOp marks a QEMU TCG-internal item: accepted so that QEMU command
	// lines keep working, with one warning, and no output (vmxemu has no
	// TCG).
	NoOp bool
	// Trace marks the per-block trace items (in_asm, exec, cpu): named
	// one by one, not part of "all" (their output is per block).
	Trace bool
}

// logItems are the -d items vmxemu accepts: the ones it implements, then
// QEMU's TCG-internal ones (util/log.c qemu_log_items), which have no
// meaning without TCG. Every other QEMU item (mmu, guest_errors, ...) is
// refused: vmxemu does not produce its output yet.
var logItems = []LogItem{
	{Name: "int", Help: "show interrupts/exceptions in short format (QEMU's format, with the rule and SDM section under -explain)"},
	{Name: "cpu_reset", Help: "show CPU state before CPU resets"},
	{Name: "vmx", Help: "vmxemu: every VMX instruction with its outcome (VMsucceed, VMfailInvalid, VMfailValid with the VM-instruction error, #UD/#GP) and the rule behind it; every VM entry, VM-entry failure (the check, field, value, rule and SDM section), VM exit (reason, qualification, information fields) and VMX abort"},
	{Name: "msr", Help: "vmxemu: every RDMSR and WRMSR with the MSR, the value and the outcome"},
	{Name: "cr", Help: "vmxemu: every MOV to CR0, CR2, CR3, CR4, CR8 with the old and new value and the outcome"},
	{Name: "io", Help: "vmxemu: every IN and OUT with the port, size and value"},
	{Name: "apic", Help: "vmxemu: every write to a local APIC register (xAPIC page or x2APIC MSR) with the register and value"},
	{Name: "ept", Help: "vmxemu: every EPT violation (the exit qualification decoded: access, the entries' permissions, guest-linear address valid, translation or paging-structure entry, NMI unblocking) and EPT misconfiguration (the entry and the rule), every INVEPT and INVVPID with its type, descriptor and outcome"},
	{Name: "in_asm", Help: "show target assembly code for each compiled TB: each block when vmxemu decodes it, in QEMU's IN: layout, Intel syntax (see -dfilter, -d-cpu, -d-limit)", Trace: true},
	{Name: "exec", Help: "show trace before each executed TB (lots of logging): QEMU's Trace line for every block vmxemu runs, as QEMU with -d nochain", Trace: true},
	{Name: "cpu", Help: "show CPU registers before entering a TB (lots of logging), in the register layout of -d cpu_reset", Trace: true},
	{Name: "out_asm", Help: "QEMU TCG item: accepted with a warning, no output (vmxemu generates no host code)", NoOp: true},
	{Name: "op", Help: "QEMU TCG item: accepted with a warning, no output", NoOp: true},
	{Name: "op_opt", Help: "QEMU TCG item: accepted with a warning, no output", NoOp: true},
	{Name: "op_ind", Help: "QEMU TCG item: accepted with a warning, no output", NoOp: true},
	{Name: "op_plugin", Help: "QEMU TCG item: accepted with a warning, no output", NoOp: true},
	{Name: "nochain", Help: "QEMU TCG item: accepted with a warning, no effect (vmxemu chains no blocks)", NoOp: true},
	{Name: "plugin", Help: "QEMU TCG item: accepted with a warning, no output (vmxemu has no TCG plugins)", NoOp: true},
	{Name: "strace", Help: "QEMU user-mode item: accepted with a warning, no output (vmxemu emulates a whole machine)", NoOp: true},
}

// LogItemsHelp is the text for -d help.
func LogItemsHelp() string {
	var b strings.Builder
	b.WriteString("Log items (comma separated):\n")
	for _, it := range logItems {
		fmt.Fprintf(&b, "%-13s %s\n", it.Name, it.Help)
	}
	b.WriteString("all           int, cpu_reset, vmx, msr, cr, io, apic and ept (every event item; the trace items in_asm, exec, cpu are named one by one)\n")
	return b.String()
}

func lookupLogItem(name string) (LogItem, bool) {
	for _, it := range logItems {
		if it.Name == name {
			return it, true
		}
	}
	return LogItem{}, false
}

func logItemNames() string {
	names := make([]string, len(logItems))
	for i, it := range logItems {
		names[i] = it.Name
	}
	return strings.Join(names, ", ")
}

// parseLogItems is -d item1[,...] (util/log.c qemu_str_to_log_mask: items
// are comma separated, "all" selects every item, an unknown item is an
// error). As in QEMU a later -d replaces an earlier one. Config.LogItems
// gets the items that produce output; each no-op item the user typed adds
// one warning.
func parseLogItems(c *Config, v string) error {
	var items, noops []string
	add := func(list *[]string, n string) {
		for _, x := range *list {
			if x == n {
				return
			}
		}
		*list = append(*list, n)
	}
	for _, it := range strings.Split(v, ",") {
		li, known := lookupLogItem(it)
		switch {
		case it == "help" || it == "?":
			c.ListLogItems = true
			return nil
		case it == "all":
			for _, li := range logItems {
				if !li.NoOp && !li.Trace {
					add(&items, li.Name)
				}
			}
		case strings.HasPrefix(it, "trace:"):
			return fmt.Errorf("%q: QEMU trace events are not supported", it)
		case known && li.NoOp:
			add(&noops, it)
		case known:
			add(&items, it)
		default:
			return fmt.Errorf("log item %q is not supported (supported: %s, all; see -d help)", it, logItemNames())
		}
	}
	c.LogItems = items
	c.logNoOps = noops
	return nil
}

// gdbLoopback is where the GDB stub listens when -s or -gdb tcp::PORT
// names no host: the loopback interface only. QEMU listens on every
// interface there; vmxemu does not, since the stub reads and writes guest
// memory and registers for anyone who connects (issue 19, "Security").
// tcp:0.0.0.0:PORT exposes it deliberately.
const gdbLoopback = "127.0.0.1"

// parseGDB is -gdb tcp::PORT | tcp:HOST:PORT | none. QEMU's gdbstub adds
// server,nowait itself; those flags are accepted when spelled out.
func parseGDB(c *Config, v string) error {
	if v == "none" {
		c.GDB = ""
		return nil
	}
	parts := strings.Split(v, ",")
	for _, o := range parts[1:] {
		switch o {
		case "server", "nowait", "server=on", "wait=off":
		default:
			return fmt.Errorf("unsupported option %q (expected tcp::PORT or tcp:HOST:PORT)", o)
		}
	}
	addr, ok := strings.CutPrefix(parts[0], "tcp:")
	if !ok {
		return errors.New("unsupported gdb device (expected tcp::PORT or tcp:HOST:PORT)")
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return errors.New("invalid address (expected tcp::PORT or tcp:HOST:PORT)")
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || n == 0 {
		return fmt.Errorf("invalid port %q", port)
	}
	if host == "" {
		host = gdbLoopback
	}
	c.GDB = net.JoinHostPort(host, port)
	return nil
}

// parseTimeLimit is -time-limit: a Go duration ("90s", "1m30s") or seconds
// ("2.5").
func parseTimeLimit(c *Config, v string) error {
	bad := fmt.Errorf("invalid duration %q (e.g. 30s, 1m30s, or plain seconds)", v)
	d, err := time.ParseDuration(v)
	if err != nil {
		f, ferr := strconv.ParseFloat(v, 64)
		if ferr != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return bad
		}
		if f*float64(time.Second) > math.MaxInt64 {
			return fmt.Errorf("duration %q is too long", v)
		}
		d = time.Duration(f * float64(time.Second))
	}
	if d < 0 {
		return errors.New("duration must not be negative")
	}
	c.TimeLimit = d
	return nil
}

// parseFeatureControl is -feature-control unlocked|locked|disabled|VALUE.
func parseFeatureControl(c *Config, v string) error {
	switch v {
	case "locked":
		c.FeatureControl = FeatureControl{Mode: FCLocked}
	case "unlocked":
		c.FeatureControl = FeatureControl{Mode: FCUnlocked}
	case "disabled":
		c.FeatureControl = FeatureControl{Mode: FCDisabled}
	default:
		n, err := parseCUint(v, 64)
		if err != nil {
			return errors.New("expected unlocked, locked, disabled or a number such as 0x5")
		}
		c.FeatureControl = FeatureControl{Mode: FCRaw, Value: n}
	}
	return nil
}

// parseDebugCon is -debugcon DEV: QEMU's port 0xE9 debug console
// (hw/char/debugcon.c) with the character devices vmxemu has: stdio,
// file:PATH, null, none.
func parseDebugCon(c *Config, v string) error {
	switch {
	case v == "none":
		c.DebugCon = nil
	case v == "stdio" || v == "mon:stdio":
		c.DebugCon = &Serial{Kind: SerialStdio}
	case v == "null":
		c.DebugCon = &Serial{Kind: SerialNull}
	case strings.HasPrefix(v, "file:"):
		if v == "file:" {
			return errors.New("empty file name")
		}
		c.DebugCon = &Serial{Kind: SerialFile, Path: strings.TrimPrefix(v, "file:")}
	default:
		return errors.New("unsupported backend (supported: stdio, file:PATH, null, none)")
	}
	return nil
}

// parseBootMode is -boot-mode.
func parseBootMode(c *Config, v string) error {
	switch m := BootMode(v); m {
	case BootMultiboot, BootELF, BootFlat16, BootFlat32, BootFlat64:
		c.BootMode = m
		return nil
	}
	return errors.New("unknown boot mode (supported: multiboot, elf, flat16, flat32, flat64)")
}

// SplitModules splits -initrd into multiboot modules as QEMU's multiboot
// loader does (hw/i386/multiboot.c with get_opt_value): entries are
// separated by single commas, ",," is a literal comma; in each entry the
// file name runs to the first space and the whole entry is the module's
// command line. qemu-options.hx: -initrd "file1 arg=foo,file2" uses file1
// and file2 as modules and passes arg=foo to the first; "Commas can be
// provided in module parameters by doubling them".
func SplitModules(s string) ([]Module, error) {
	if s == "" {
		return nil, errors.New("empty module list")
	}
	var mods []Module
	for i, e := range splitOpts(s) {
		path, args, _ := strings.Cut(e, " ")
		if path == "" {
			return nil, fmt.Errorf("module %d: empty file name", i+1)
		}
		mods = append(mods, Module{Path: path, Args: args, CmdLine: e})
	}
	return mods, nil
}

// AddrRange is one -dfilter range: Lo..Hi, both included.
type AddrRange struct{ Lo, Hi uint64 }

// parseDFilter is -dfilter RANGE[,RANGE...] as QEMU's
// qemu_set_dfilter_ranges (util/log.c) reads it: "A..B" is A to B
// inclusive, "A+N" the N bytes from A (A to A+N-1), "A-N" the N bytes
// ending at A (A-N+1 to A); numbers in C syntax. A later -dfilter
// replaces an earlier one.
func parseDFilter(c *Config, v string) error {
	var rs []AddrRange
	for _, r := range strings.Split(v, ",") {
		var lo, hi uint64
		switch {
		case strings.Contains(r, ".."):
			a, b, _ := strings.Cut(r, "..")
			x, err := parseCUint(a, 64)
			if err != nil {
				return fmt.Errorf("range %q: %w", r, err)
			}
			y, err := parseCUint(b, 64)
			if err != nil {
				return fmt.Errorf("range %q: %w", r, err)
			}
			lo, hi = x, y
		case strings.ContainsAny(r, "+-"):
			i := strings.IndexAny(r, "+-")
			x, err := parseCUint(r[:i], 64)
			if err != nil {
				return fmt.Errorf("range %q: %w", r, err)
			}
			n, err := parseCUint(r[i+1:], 64)
			if err != nil {
				return fmt.Errorf("range %q: %w", r, err)
			}
			if n == 0 {
				return fmt.Errorf("range %q: empty", r)
			}
			if r[i] == '+' {
				lo, hi = x, x+n-1
				if hi < lo {
					return fmt.Errorf("range %q: past the end of the address space", r)
				}
			} else {
				if n-1 > x {
					return fmt.Errorf("range %q: below address 0", r)
				}
				lo, hi = x-(n-1), x
			}
		default:
			return fmt.Errorf("bad range %q (A..B, A+N or A-N)", r)
		}
		if lo > hi {
			return fmt.Errorf("range %q: the start is above the end", r)
		}
		rs = append(rs, AddrRange{lo, hi})
	}
	c.DFilter = rs
	return nil
}

// parseTraceCPUs is -d-cpu N[,M...] (vmxemu's; QEMU has no CPU filter):
// the trace items log only these CPUs.
func parseTraceCPUs(c *Config, v string) error {
	var cpus []int
	for _, f := range strings.Split(v, ",") {
		n, err := parseCUint(f, 31)
		if err != nil {
			return fmt.Errorf("CPU %q: %w", f, err)
		}
		cpus = append(cpus, int(n))
	}
	c.TraceCPUs = cpus
	return nil
}

// parseIntelIOMMU is -device intel-iommu's properties. QEMU's defaults
// (7.2): intremap off unless given (OnOffAuto; vmxemu takes auto as off),
// eim off unless intremap is on and eim=on is given, aw-bits 39, pt on.
func parseIntelIOMMU(c *Config, props []kv) error {
	if c.IntelIOMMU != nil {
		return errors.New("only one intel-iommu is supported")
	}
	u := &IntelIOMMU{AWBits: 39}
	onOff := func(p kv) (bool, error) {
		switch p.val {
		case "on", "true":
			return true, nil
		case "off", "false", "auto":
			return false, nil
		}
		return false, fmt.Errorf("%s=%s: expected on, off or auto", p.key, p.val)
	}
	for _, p := range props {
		var err error
		switch p.key {
		case "intremap":
			u.IntRemap, err = onOff(p)
		case "eim":
			u.EIM, err = onOff(p)
		case "pt":
			var on bool
			on, err = onOff(p)
			u.NoPT = !on
		case "aw-bits":
			switch p.val {
			case "39":
				u.AWBits = 39
			case "48":
				u.AWBits = 48
			default:
				return errors.New("supported values for aw-bits are: 39, 48")
			}
		case "id":
		default:
			return fmt.Errorf("unknown property %q (intel-iommu has: intremap, eim, aw-bits, pt, id)", p.key)
		}
		if err != nil {
			return err
		}
	}
	if u.EIM && !u.IntRemap {
		return errors.New("eim=on cannot be selected without intremap=on")
	}
	c.IntelIOMMU = u
	return nil
}

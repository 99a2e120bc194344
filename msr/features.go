package msr

// The honesty table: every CPUID feature bit vmxemu knows, whether the
// interpreter implements what the bit promises, and why not when it does
// not. A Profile reports a feature only when the model has it AND it is
// implemented here; a bit that is not in this table is hidden as unknown.
// Feature names are QEMU's (-cpu MODEL,+name,-name).

// Feature is one CPUID feature bit.
type Feature struct {
	Name          string // QEMU's spelling
	Leaf, Subleaf uint32
	Reg           Reg
	Bit           uint
	// Implemented says the interpreter does what the bit promises.
	Implemented bool
	// Why explains a gap (Implemented false), or how vmxemu honours the
	// bit when that is not obvious.
	Why string
	// CR4 is the CR4 bit the feature makes settable (0 if none): it
	// follows the feature in IA32_VMX_CR4_FIXED1.
	CR4 uint64
}

// Mask returns the feature's bit in its register.
func (f Feature) Mask() uint32 { return 1 << f.Bit }

func ok(name string, leaf, sub uint32, r Reg, bit uint, why string) Feature {
	return Feature{Name: name, Leaf: leaf, Subleaf: sub, Reg: r, Bit: bit, Implemented: true, Why: why}
}

func gap(name string, leaf, sub uint32, r Reg, bit uint, why string) Feature {
	return Feature{Name: name, Leaf: leaf, Subleaf: sub, Reg: r, Bit: bit, Why: why}
}

func withCR4(f Feature, cr4 uint64) Feature { f.CR4 = cr4; return f }

// Reasons shared by several features.
const (
	whyNoX87         = "x87 arithmetic is not implemented (only FNINIT/FNSTSW/FNSTCW/FLDCW/FNCLEX/FWAIT and FXSAVE/FXRSTOR)"
	whyNoSIMD        = "not implemented: vmxemu has MMX, SSE and SSE2 only (see docs/INSTRUCTIONS.md)"
	whyNoVEX         = "VEX/EVEX encodings raise #UD: AVX is not implemented"
	whyNoXTPR        = "xTPR update messages (IA32_MISC_ENABLE bit 23) are not modelled: vmxemu's chipset picks lowest-priority targets by PPR"
	whyNoPMU         = "no performance-monitoring counters (RDPMC and the PMU MSRs are not implemented)"
	whyNoMCA         = "no machine-check architecture (no MCG/MCi MSRs, #MC is never raised)"
	whyNoPower       = "no thermal/power-management MSRs"
	whyNoInsn        = "the instruction is not implemented (#UD)"
	whyVMXEntryLater = "VM entry (VMLAUNCH, VMRESUME) and VM exits work with the controls that must be 1 plus external-interrupt and NMI exiting, virtual NMIs, the VMX-preemption timer, process posted interrupts, interrupt-window and NMI-window exiting, the monitor trap flag, the instruction exits (TSC offsetting, HLT, INVLPG, MWAIT, RDPMC, RDTSC, CR3-load/store, CR8-load/store, MOV-DR, I/O, I/O and MSR bitmaps, MONITOR, PAUSE; secondary: virtualize APIC accesses (APIC-access VM exits; VTPR through the APIC-access page with the TPR shadow), virtualize x2APIC mode (RDMSR/WRMSR of the TPR MSR through VTPR), APIC-register virtualization (APIC-write VM exits), virtual-interrupt delivery (RVI/SVI, PPR, EOI and self-IPI virtualization, EOI-exit bitmaps), descriptor-table exiting, enable RDTSCP, WBINVD exiting, RDRAND and RDSEED exiting, enable INVPCID, VMCS shadowing, PAUSE-loop exiting), enable XSAVES/XRSTORS (XSS-exiting bitmap), use TSC scaling, use TPR shadow (MOV CR8 through VTPR, TPR below threshold), activate secondary controls, enable EPT, enable VPID, unrestricted guest, enable PML, enable VM functions (EPTP switching), EPT-violation #VE, mode-based execute control for EPT, save/load debug controls, host address-space size, acknowledge interrupt on exit, save/load IA32_EFER, save VMX-preemption timer value and IA-32e mode guest; every other optional control (sub-page write permissions, enable user wait and pause, and the rest) is masked until it works"
	whySpec          = "vmxemu does not speculate; the MSR holds its bits and the command is accepted"
)

// features lists the CPUID bits vmxemu knows (SDM Vol. 2A, CPUID, Tables
// 3-10, 3-11 and the leaf 07H and 80000001H descriptions).
var features = []Feature{
	// CPUID.01H:EDX
	gap("fpu", 1, 0, EDX, 0, whyNoX87),
	gap("vme", 1, 0, EDX, 1, "virtual-8086 mode extensions are not implemented (IRET in virtual-8086 mode #GPs)"),
	ok("de", 1, 0, EDX, 2, "CR4.DE: DR4/DR5 #UD and I/O breakpoints (cpu/debugreg.go)"),
	ok("pse", 1, 0, EDX, 3, ""),
	ok("tsc", 1, 0, EDX, 4, "the TSC counts instructions retired"),
	ok("msr", 1, 0, EDX, 5, ""),
	ok("pae", 1, 0, EDX, 6, ""),
	gap("mce", 1, 0, EDX, 7, whyNoMCA),
	ok("cx8", 1, 0, EDX, 8, ""),
	ok("apic", 1, 0, EDX, 9, "one local APIC per CPU (machine/apic.go); reads 0 while IA32_APIC_BASE.EN = 0"),
	ok("sep", 1, 0, EDX, 11, ""),
	ok("mtrr", 1, 0, EDX, 12, "the MTRR MSRs hold their values; vmxemu has no caches, so memory types have no effect"),
	ok("pge", 1, 0, EDX, 13, ""),
	ok("mca", 1, 0, EDX, 14, "IA32_MCG_CAP/STATUS/CTL and the banks its count gives (the model's dump, else 10 banks as QEMU) hold what software writes; no machine-check error is ever signalled"),
	ok("cmov", 1, 0, EDX, 15, ""),
	ok("pat", 1, 0, EDX, 16, "IA32_PAT holds its value; memory types have no effect"),
	ok("pse36", 1, 0, EDX, 17, ""),
	gap("pn", 1, 0, EDX, 18, "no processor serial number"),
	ok("clflush", 1, 0, EDX, 19, ""),
	gap("ds", 1, 0, EDX, 21, "no debug store (BTS/PEBS)"),
	gap("acpi", 1, 0, EDX, 22, whyNoPower),
	ok("mmx", 1, 0, EDX, 23, "MMX instructions on MM0-MM7 aliased on the x87 data registers (cpu/exec_mmx.go)"),
	ok("fxsr", 1, 0, EDX, 24, "FXSAVE/FXRSTOR are implemented"),
	ok("sse", 1, 0, EDX, 25, "SSE moves, logic, shuffles and integer forms; see docs/INSTRUCTIONS.md for the floating-point gaps"),
	ok("sse2", 1, 0, EDX, 26, "SSE2 integer, move and shuffle forms, MOVNTI, the fences; see docs/INSTRUCTIONS.md for the floating-point gaps"),
	ok("ss", 1, 0, EDX, 27, "no caches: self-snooping holds trivially"),
	ok("ht", 1, 0, EDX, 28, "follows -smp (set when a package has more than one logical processor)"),
	gap("tm", 1, 0, EDX, 29, whyNoPower),
	gap("pbe", 1, 0, EDX, 31, whyNoPower),

	// CPUID.01H:ECX
	gap("pni", 1, 0, ECX, 0, whyNoSIMD),
	gap("pclmulqdq", 1, 0, ECX, 1, whyNoSIMD),
	gap("dtes64", 1, 0, ECX, 2, "no debug store (BTS/PEBS)"),
	ok("monitor", 1, 0, ECX, 3, "MONITOR/MWAIT (cpu/exec_monitor.go): MWAIT waits as HLT does and also ends at the next run slice; cleared by IA32_MISC_ENABLE[18] = 0"),
	gap("ds-cpl", 1, 0, ECX, 4, "no debug store (BTS/PEBS)"),
	withCR4(ok("vmx", 1, 0, ECX, 5, "VMX operation: VMXON, VMXOFF, VMCLEAR, VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMLAUNCH, VMRESUME (vmx package); "+whyVMXEntryLater), 1<<13),
	withCR4(gap("smx", 1, 0, ECX, 6, "GETSEC (SMX) is not implemented"), 1<<14),
	gap("est", 1, 0, ECX, 7, whyNoPower),
	gap("tm2", 1, 0, ECX, 8, whyNoPower),
	gap("ssse3", 1, 0, ECX, 9, whyNoSIMD),
	gap("cid", 1, 0, ECX, 10, "no L1 context ID"),
	gap("sdbg", 1, 0, ECX, 11, "no silicon-debug MSR"),
	gap("fma", 1, 0, ECX, 12, whyNoVEX),
	ok("cx16", 1, 0, ECX, 13, "CMPXCHG16B is implemented"),
	gap("xtpr", 1, 0, ECX, 14, whyNoXTPR),
	gap("pdcm", 1, 0, ECX, 15, whyNoPMU+" (IA32_PERF_CAPABILITIES)"),
	withCR4(ok("pcid", 1, 0, ECX, 17, "CR4.PCIDE: the TLB tags entries with the PCID; MOV CR3 bit 63 keeps them"), 1<<17),
	gap("dca", 1, 0, ECX, 18, "no direct cache access"),
	gap("sse4.1", 1, 0, ECX, 19, whyNoSIMD),
	gap("sse4.2", 1, 0, ECX, 20, whyNoSIMD),
	ok("x2apic", 1, 0, ECX, 21, "x2APIC mode through MSRs 0x800-0x8FF"),
	ok("movbe", 1, 0, ECX, 22, ""),
	ok("popcnt", 1, 0, ECX, 23, ""),
	ok("tsc-deadline", 1, 0, ECX, 24, "the APIC timer's TSC-deadline mode (IA32_TSC_DEADLINE)"),
	gap("aes", 1, 0, ECX, 25, whyNoSIMD),
	withCR4(ok("xsave", 1, 0, ECX, 26, "XSAVE/XRSTOR/XGETBV/XSETBV with the x87 and SSE components (XCR0 bits 0-1; leaf 0DH shaped to them)"), 1<<18),
	ok("osxsave", 1, 0, ECX, 27, "mirrors CR4.OSXSAVE: the core sets it from the CPU's CR4 at each CPUID"),
	gap("avx", 1, 0, ECX, 28, whyNoVEX),
	gap("f16c", 1, 0, ECX, 29, whyNoVEX),
	ok("rdrand", 1, 0, ECX, 30, "RDRAND from a deterministic per-CPU generator (cpu/exec_rand.go): reproducible, not for cryptography"),
	gap("hypervisor", 1, 0, ECX, 31, "vmxemu models bare-metal processors"),

	// CPUID.(EAX=07H,ECX=0):EBX
	withCR4(ok("fsgsbase", 7, 0, EBX, 0, "CR4.FSGSBASE: RDFSBASE/WRFSBASE/RDGSBASE/WRGSBASE in 64-bit mode"), 1<<16),
	gap("tsc-adjust", 7, 0, EBX, 1, "IA32_TSC_ADJUST is not implemented"),
	gap("sgx", 7, 0, EBX, 2, "no SGX"),
	gap("bmi1", 7, 0, EBX, 3, whyNoInsn+": ANDN/BEXTR/BLSI/BLSMSK/BLSR (VEX); TZCNT alone is implemented but F3 0F BC stays BSF while BMI1 is hidden"),
	gap("hle", 7, 0, EBX, 4, "no TSX"),
	gap("avx2", 7, 0, EBX, 5, whyNoVEX),
	gap("fdp-excptn-only", 7, 0, EBX, 6, whyNoX87),
	withCR4(ok("smep", 7, 0, EBX, 7, "CR4.SMEP is enforced by the page walk"), 1<<20),
	gap("bmi2", 7, 0, EBX, 8, whyNoVEX),
	ok("erms", 7, 0, EBX, 9, "REP MOVSB/STOSB are implemented (the bit is a performance hint)"),
	ok("invpcid", 7, 0, EBX, 10, "INVPCID types 0-3"),
	gap("rtm", 7, 0, EBX, 11, "no TSX"),
	gap("cqm", 7, 0, EBX, 12, "no resource-director monitoring"),
	gap("fpu-cs-ds-dep", 7, 0, EBX, 13, whyNoX87),
	gap("mpx", 7, 0, EBX, 14, "no MPX"),
	gap("rdt-a", 7, 0, EBX, 15, "no resource-director allocation"),
	gap("avx512f", 7, 0, EBX, 16, whyNoVEX),
	gap("avx512dq", 7, 0, EBX, 17, whyNoVEX),
	ok("rdseed", 7, 0, EBX, 18, "RDSEED from the deterministic per-CPU generator RDRAND uses (cpu/exec_rand.go)"),
	gap("adx", 7, 0, EBX, 19, whyNoInsn+": ADCX/ADOX"),
	withCR4(ok("smap", 7, 0, EBX, 20, "CR4.SMAP is enforced by the page walk; STAC/CLAC are implemented"), 1<<21),
	gap("avx512ifma", 7, 0, EBX, 21, whyNoVEX),
	ok("clflushopt", 7, 0, EBX, 23, "CLFLUSHOPT checks its operand like CLFLUSH; no caches to flush"),
	ok("clwb", 7, 0, EBX, 24, "CLWB checks its operand like CLFLUSH; no caches to write back"),
	gap("intel-pt", 7, 0, EBX, 25, "no processor trace"),
	gap("avx512pf", 7, 0, EBX, 26, whyNoVEX),
	gap("avx512er", 7, 0, EBX, 27, whyNoVEX),
	gap("avx512cd", 7, 0, EBX, 28, whyNoVEX),
	gap("sha-ni", 7, 0, EBX, 29, whyNoSIMD),
	gap("avx512bw", 7, 0, EBX, 30, whyNoVEX),
	gap("avx512vl", 7, 0, EBX, 31, whyNoVEX),

	// CPUID.(EAX=07H,ECX=0):ECX
	gap("avx512vbmi", 7, 0, ECX, 1, whyNoVEX),
	withCR4(ok("umip", 7, 0, ECX, 2, "CR4.UMIP makes SGDT/SIDT/SLDT/SMSW/STR #GP at CPL > 0"), 1<<11),
	withCR4(ok("pku", 7, 0, ECX, 3, "CR4.PKE: protection keys for user pages in the page walk, RDPKRU/WRPKRU, PKRU as XSAVE component 9"), 1<<22),
	ok("ospke", 7, 0, ECX, 4, "mirrors CR4.PKE: the core sets it from the CPU's CR4 at each CPUID"),
	gap("waitpkg", 7, 0, ECX, 5, whyNoInsn+": UMONITOR/UMWAIT/TPAUSE"),
	gap("avx512vbmi2", 7, 0, ECX, 6, whyNoVEX),
	withCR4(gap("cet-ss", 7, 0, ECX, 7, "no control-flow enforcement"), 1<<23),
	gap("gfni", 7, 0, ECX, 8, whyNoSIMD),
	gap("vaes", 7, 0, ECX, 9, whyNoVEX),
	gap("vpclmulqdq", 7, 0, ECX, 10, whyNoVEX),
	gap("avx512vnni", 7, 0, ECX, 11, whyNoVEX),
	gap("avx512bitalg", 7, 0, ECX, 12, whyNoVEX),
	gap("tme", 7, 0, ECX, 13, "no total memory encryption"),
	gap("avx512-vpopcntdq", 7, 0, ECX, 14, whyNoVEX),
	withCR4(ok("la57", 7, 0, ECX, 16, "CR4.LA57: 5-level paging and 57-bit canonical addresses"), 1<<12),
	ok("rdpid", 7, 0, ECX, 22, "RDPID reads IA32_TSC_AUX (#UD in VMX non-root operation without \"enable RDTSCP\")"),
	withCR4(gap("kl", 7, 0, ECX, 23, "no Key Locker"), 1<<19),
	gap("bus-lock-detect", 7, 0, ECX, 24, "no bus-lock detection"),
	gap("cldemote", 7, 0, ECX, 25, whyNoInsn+": CLDEMOTE"),
	gap("movdiri", 7, 0, ECX, 27, whyNoInsn+": MOVDIRI"),
	gap("movdir64b", 7, 0, ECX, 28, whyNoInsn+": MOVDIR64B"),
	gap("enqcmd", 7, 0, ECX, 29, whyNoInsn+": ENQCMD"),
	gap("sgxlc", 7, 0, ECX, 30, "no SGX"),
	withCR4(ok("pks", 7, 0, ECX, 31, "CR4.PKS: protection keys for supervisor pages in the page walk, IA32_PKRS (6E1H); the VMX load-PKRS controls stay masked"), 1<<24),

	// CPUID.(EAX=07H,ECX=0):EDX
	gap("avx512-4vnniw", 7, 0, EDX, 2, whyNoVEX),
	gap("avx512-4fmaps", 7, 0, EDX, 3, whyNoVEX),
	gap("fsrm", 7, 0, EDX, 4, "performance hint for short REP MOVSB; not claimed"),
	withCR4(gap("uintr", 7, 0, EDX, 5, "no user interrupts"), 1<<25),
	gap("avx512-vp2intersect", 7, 0, EDX, 8, whyNoVEX),
	gap("srbds-ctrl", 7, 0, EDX, 9, "IA32_MCU_OPT_CTRL is not implemented"),
	gap("md-clear", 7, 0, EDX, 10, whyNoInsn+": VERW"),
	gap("serialize", 7, 0, EDX, 14, whyNoInsn+": SERIALIZE"),
	gap("hybrid", 7, 0, EDX, 15, "vmxemu models one core type"),
	gap("tsx-ldtrk", 7, 0, EDX, 16, "no TSX"),
	gap("pconfig", 7, 0, EDX, 18, whyNoInsn+": PCONFIG"),
	gap("arch-lbr", 7, 0, EDX, 19, "no last-branch records"),
	withCR4(gap("cet-ibt", 7, 0, EDX, 20, "no control-flow enforcement"), 1<<23),
	gap("amx-bf16", 7, 0, EDX, 22, whyNoVEX),
	gap("avx512-fp16", 7, 0, EDX, 23, whyNoVEX),
	gap("amx-tile", 7, 0, EDX, 24, whyNoVEX),
	gap("amx-int8", 7, 0, EDX, 25, whyNoVEX),
	ok("spec-ctrl", 7, 0, EDX, 26, whySpec+" (IA32_SPEC_CTRL.IBRS, IA32_PRED_CMD.IBPB)"),
	ok("stibp", 7, 0, EDX, 27, whySpec),
	ok("flush-l1d", 7, 0, EDX, 28, "no caches: IA32_FLUSH_CMD.L1D_FLUSH is accepted and does nothing"),
	gap("arch-capabilities", 7, 0, EDX, 29, "IA32_ARCH_CAPABILITIES enumerates further control MSRs (TSX_CTRL, MCU_OPT_CTRL, ...) vmxemu does not implement"),
	gap("core-capability", 7, 0, EDX, 30, "IA32_CORE_CAPABILITIES is not implemented"),
	ok("ssbd", 7, 0, EDX, 31, whySpec),

	// CPUID.(EAX=07H,ECX=1):EAX
	gap("avx-vnni", 7, 1, EAX, 4, whyNoVEX),
	gap("avx512-bf16", 7, 1, EAX, 5, whyNoVEX),
	gap("fzrm", 7, 1, EAX, 10, "performance hint; not claimed"),
	gap("fsrs", 7, 1, EAX, 11, "performance hint; not claimed"),
	gap("fsrc", 7, 1, EAX, 12, "performance hint; not claimed"),
	gap("fred", 7, 1, EAX, 17, "no flexible return and event delivery"),
	gap("lkgs", 7, 1, EAX, 18, whyNoInsn+": LKGS"),
	gap("wrmsrns", 7, 1, EAX, 19, whyNoInsn+": WRMSRNS"),
	gap("amx-fp16", 7, 1, EAX, 21, whyNoVEX),
	gap("hreset", 7, 1, EAX, 22, whyNoInsn+": HRESET"),
	gap("avx-ifma", 7, 1, EAX, 23, whyNoVEX),
	gap("lam", 7, 1, EAX, 26, "no linear-address masking"),

	// CPUID.(EAX=07H,ECX=2):EDX
	gap("psfd", 7, 2, EDX, 0, "IA32_SPEC_CTRL.PSFD is not implemented"),
	gap("ipred-ctrl", 7, 2, EDX, 1, "IA32_SPEC_CTRL.IPRED_DIS is not implemented"),
	gap("rrsba-ctrl", 7, 2, EDX, 2, "IA32_SPEC_CTRL.RRSBA_DIS is not implemented"),
	gap("ddpd-u", 7, 2, EDX, 3, "IA32_SPEC_CTRL.DDPD_U is not implemented"),
	gap("bhi-ctrl", 7, 2, EDX, 4, "IA32_SPEC_CTRL.BHI_DIS_S is not implemented"),
	gap("mcdt-no", 7, 2, EDX, 5, "not claimed"),

	// CPUID.80000001H:ECX and EDX
	ok("lahf-lm", 0x80000001, 0, ECX, 0, ""),
	ok("abm", 0x80000001, 0, ECX, 5, "LZCNT is implemented (F3 0F BD; cpu selects it from this bit)"),
	ok("3dnowprefetch", 0x80000001, 0, ECX, 8, "PREFETCHW is implemented (as a no-op)"),
	ok("syscall", 0x80000001, 0, EDX, 11, ""),
	ok("nx", 0x80000001, 0, EDX, 20, ""),
	ok("pdpe1gb", 0x80000001, 0, EDX, 26, "1-GByte pages are walked by the MMU"),
	ok("rdtscp", 0x80000001, 0, EDX, 27, ""),
	ok("lm", 0x80000001, 0, EDX, 29, ""),

	// CPUID.80000007H:EDX
	ok("invtsc", 0x80000007, 0, EDX, 8, "the TSC derives from instructions retired at a constant rate"),
}

// FeatureByName finds a feature by its QEMU name ('_' read as '-').
func FeatureByName(name string) (Feature, bool) {
	for _, f := range features {
		if f.Name == name {
			return f, true
		}
	}
	return Feature{}, false
}

// Features returns the table of CPUID features vmxemu knows.
func Features() []Feature { return append([]Feature(nil), features...) }

// featureAt finds the feature of a CPUID bit.
func featureAt(leaf, sub uint32, r Reg, bit uint) (Feature, bool) {
	for _, f := range features {
		if f.Leaf == leaf && f.Subleaf == sub && f.Reg == r && f.Bit == bit {
			return f, true
		}
	}
	return Feature{}, false
}

// leafPolicy says what the effective model does with a CPUID leaf.
type leafPolicy int

const (
	leafZero   leafPolicy = iota // reported as zeros: the leaf describes something vmxemu lacks
	leafKeep                     // informational, reported as the model has it
	leafFilter                   // feature flags: each bit through the features table
	leafTopo                     // shaped by -smp (topology)
	leafXSAVE                    // leaf 0DH: the XSAVE components vmxemu implements
)

// leafRule is one CPUID leaf's policy and the reason for it.
type leafRule struct {
	policy leafPolicy
	why    string
}

// leafRules covers every leaf the shipped models have; a leaf that is not
// here is zeroed as unknown.
var leafRules = map[uint32]leafRule{
	0x0:        {leafKeep, "maximum basic leaf and vendor"},
	0x1:        {leafFilter, "signature, brand/CLFLUSH/APIC ID (topology from -smp), feature flags"},
	0x2:        {leafKeep, "cache and TLB descriptors (informational)"},
	0x3:        {leafKeep, "processor serial number (zero on every part since the Pentium III)"},
	0x4:        {leafTopo, "deterministic cache parameters; sharing counts follow -smp"},
	0x5:        {leafKeep, "MONITOR/MWAIT parameters (line sizes, extensions, C-state sub-states: MWAIT's hints have no effect on virtual time)"},
	0x6:        {leafZero, "thermal and power management: " + whyNoPower},
	0x7:        {leafFilter, "structured extended feature flags"},
	0x9:        {leafZero, "direct cache access: not implemented"},
	0xA:        {leafZero, "architectural performance monitoring: " + whyNoPMU},
	0xB:        {leafTopo, "extended topology: follows -smp"},
	0xD:        {leafXSAVE, "XSAVE state components: x87 and SSE only (sub-leaf 0: XCR0 bits 0-1, 576-byte area; sub-leaf 1: no XSAVEOPT/XSAVEC/XGETBV1/XSAVES), zero without XSAVE"},
	0xF:        {leafZero, "resource-director monitoring: not implemented"},
	0x10:       {leafZero, "resource-director allocation: not implemented"},
	0x12:       {leafZero, "SGX: not implemented"},
	0x14:       {leafZero, "processor trace: not implemented"},
	0x15:       {leafZero, "TSC/crystal ratio: vmxemu's TSC counts instructions, it has no nominal frequency"},
	0x16:       {leafZero, "processor frequencies: vmxemu has no clock frequency"},
	0x17:       {leafZero, "SoC vendor attributes: not modelled"},
	0x18:       {leafKeep, "TLB parameters (informational)"},
	0x19:       {leafZero, "Key Locker: not implemented"},
	0x1A:       {leafZero, "hybrid core type: not modelled"},
	0x1B:       {leafZero, "PCONFIG: not implemented"},
	0x1C:       {leafZero, "architectural LBR: not implemented"},
	0x1D:       {leafZero, "AMX tiles: not implemented"},
	0x1E:       {leafZero, "AMX TMUL: not implemented"},
	0x1F:       {leafTopo, "V2 extended topology: follows -smp"},
	0x20:       {leafZero, "HRESET: not implemented"},
	0x80000000: {leafKeep, "maximum extended leaf"},
	0x80000001: {leafFilter, "extended feature flags"},
	0x80000002: {leafKeep, "brand string"},
	0x80000003: {leafKeep, "brand string"},
	0x80000004: {leafKeep, "brand string"},
	0x80000005: {leafKeep, "reserved on Intel"},
	0x80000006: {leafKeep, "L2 cache parameters (informational)"},
	0x80000007: {leafFilter, "invariant TSC"},
	0x80000008: {leafKeep, "address sizes (linear size follows LA57)"},
}

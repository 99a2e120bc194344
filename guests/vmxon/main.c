/*
 * vmxon: the VMX bring-up of the seed's BSD port, for real, on every CPU
 * (64-bit long mode; SDM Vol. 3C chapters 24-25 and 31, Vol. 3D
 * appendices A and B).
 *
 * Per CPU, in turn (CPU 0, then each AP started with INIT-SIPI-SIPI):
 *   phase 1  CPUID.1:ECX.VMX; IA32_FEATURE_CONTROL (lock it with VMXON
 *            outside SMX enabled if the firmware left it unlocked);
 *            IA32_VMX_BASIC and the CR0/CR4 fixed-bit MSRs; CR0 and CR4
 *            set to the fixed bits (CR4.VMXE among them); VMXON on the
 *            CPU's own 4-KiB-aligned region holding the revision id.
 *   phase 2  VMCLEAR and VMPTRLD of the CPU's VMCS; VMPTRST; every
 *            Appendix B encoding probed with VMREAD (ZF with error 12 =
 *            the field does not exist), checked against what the
 *            capability MSRs say exists and against IA32_VMX_VMCS_ENUM;
 *            VMWRITE/VMREAD round trips over every field, high halves of
 *            the 64-bit fields included; VMCLEAR, VMPTRLD again (the
 *            values survive), VMCLEAR.
 *   phase 3  a guest: VMCLEAR and VMPTRLD of a fresh VMCS; the VM-execution,
 *            VM-exit and VM-entry controls from the capability MSRs (the
 *            allowed-0 settings, plus "host address-space size" and
 *            "IA-32e mode guest", and where the model allows them
 *            "activate secondary controls", "enable EPT" and "enable
 *            VPID"); host state (a GDT with a TSS per CPU and LTR: host
 *            TR may not be null) and guest state (64-bit, the host's
 *            address space); an EPT identity map of the CPU's own with
 *            one page left out, its EPTP, VPID cpu+1; VMLAUNCH.  The
 *            guest executes CPUID (exit reason 10: the host emulates it,
 *            advances the guest RIP by the instruction length and
 *            VMRESUMEs), reads the page the map leaves out (exit reason
 *            48, an EPT violation: the host maps the page, INVEPT,
 *            VMRESUME at the same instruction) and VMCALL (exit reason
 *            18: the host is done, VMCLEAR).  Each exit is printed with
 *            its reason and qualification.  A model without EPT skips the
 *            EPT step, with a line.
 *   phase 4  VMXOFF, CR4.VMXE cleared.
 * CPU 0 prints the seed's sysctl lines (hw.vmm.*).
 *
 * A scenario on the command line (-append "scenario=NAME") breaks one
 * step; each CPU then prints what a kernel would see: the exception (#GP,
 * #UD, caught by the IDT and resumed after the instruction) or the VMX
 * outcome (VMfailInvalid: CF=1; VMfailValid: ZF=1 and the VM-instruction
 * error read with VMREAD 0x4400).  The guest knows the SDM's expected
 * outcome of every step and exits through isa-debug-exit with 0x10 when
 * everything matched, 0x11 otherwise.
 */
#include "kernel.h"
#include "multiboot.h"
#include "vmx64.h"

/* brief ("-append brief", the built-in demo) prints only the seed's sysctl
 * lines, mismatches and the verdict; say() is the detail output it
 * silences. */
static int brief;
static void say(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#define MAX_CPUS 16
#define TRAMP_ADDR 0x8000
#define AP_STACK 16384

#define LAPIC_BASE 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310

#define CR0_NE (1ul << 5)
#define CR4_VMXE (1ul << 13)
#define RFLAGS_CF (1ul << 0)
#define RFLAGS_ZF (1ul << 6)

#define MSR_FEATURE_CONTROL 0x3A
#define MSR_VMX_BASIC 0x480
#define MSR_VMX_PINBASED 0x481
#define MSR_VMX_PROCBASED 0x482
#define MSR_VMX_EXIT 0x483
#define MSR_VMX_ENTRY 0x484
#define MSR_VMX_MISC 0x485
#define MSR_VMX_CR0_FIXED0 0x486
#define MSR_VMX_CR0_FIXED1 0x487
#define MSR_VMX_CR4_FIXED0 0x488
#define MSR_VMX_CR4_FIXED1 0x489
#define MSR_VMX_VMCS_ENUM 0x48A
#define MSR_VMX_PROCBASED2 0x48B
#define MSR_VMX_VMFUNC 0x491
#define MSR_VMX_PROCBASED3 0x492

#define MSR_VMX_TRUE_PINBASED 0x48D
#define MSR_VMX_TRUE_PROCBASED 0x48E
#define MSR_VMX_TRUE_EXIT 0x48F
#define MSR_VMX_TRUE_ENTRY 0x490

#define VMCS_INSTR_ERROR 0x4400
#define VMCS_EXIT_REASON 0x4402
#define VMCS_EXIT_INSN_LEN 0x440C
#define VMCS_EXIT_QUAL 0x6400
#define VMCS_GUEST_RIP 0x681E

extern char tramp_start[], tramp_end[];
extern const uint64_t isr_table[32];
extern char guest_entry[];
void kmain(uint32_t magic, uint32_t mbi);
void ap_main(void);

/* ---- CPUs, stacks, the trampoline's inputs ------------------------------ */

static int ncpus;
static uint8_t apic_ids[MAX_CPUS];
uint32_t ap_cr3;       /* read by the trampoline */
uint64_t ap_stack_top; /* read by the trampoline */
static uint8_t ap_stacks[MAX_CPUS][AP_STACK] __attribute__((aligned(16)));
static volatile int ap_online;
static volatile int cmd[MAX_CPUS], done[MAX_CPUS];

/* The VMX regions: 4 KiB each, 4-KiB aligned (a region is at most 4 KiB:
 * IA32_VMX_BASIC[44:32], SDM Vol. 3D A.1). */
static uint8_t vmxon_region[MAX_CPUS][4096] __attribute__((aligned(4096)));
static uint8_t vmcs_region[MAX_CPUS][4096] __attribute__((aligned(4096)));
static uint8_t vmcs_other[MAX_CPUS][4096] __attribute__((aligned(4096)));

static uint64_t pd_high[512] __attribute__((aligned(4096))); /* maps 3-4 GiB (the local APIC) */

/* Phase 3: the guest's VMCS, the host stack a VM exit starts on (the
 * VMCS's host RSP), the guest's stack. */
#define EXIT_STACK 4096
static uint8_t vmcs_guest[MAX_CPUS][4096] __attribute__((aligned(4096)));
static uint8_t exit_stacks[MAX_CPUS][EXIT_STACK] __attribute__((aligned(16)));
static uint8_t guest_stacks[MAX_CPUS][1024] __attribute__((aligned(16)));

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(uint64_t)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(uint64_t)(LAPIC_BASE + reg) = v; }
static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

/* this_cpu derives the CPU index from the stack: the BSP runs on the entry
 * stack, AP c on ap_stacks[c], a VM exit on CPU c on exit_stacks[c]. */
static int cpu_of_sp(uint64_t sp)
{
	uint64_t base = (uint64_t)ap_stacks, xbase = (uint64_t)exit_stacks;
	if (sp > base && sp <= base + sizeof(ap_stacks))
		return (int)((sp - base - 1) / AP_STACK);
	if (sp > xbase && sp <= xbase + sizeof(exit_stacks))
		return (int)((sp - xbase - 1) / EXIT_STACK);
	return 0;
}

static int this_cpu(void)
{
	uint64_t sp;
	__asm__ volatile("movq %%rsp, %0" : "=r"(sp));
	return cpu_of_sp(sp);
}

/* ---- exceptions: a probed instruction that faults resumes at its fixup -- */

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss;
};

static volatile uint64_t fixup[MAX_CPUS];
static volatile int fault_vec[MAX_CPUS];
static volatile uint32_t fault_err[MAX_CPUS];

void trap(struct trap_frame *f);
void trap(struct trap_frame *f)
{
	int c = cpu_of_sp((uint64_t)f);
	if (fixup[c] != 0) {
		fault_vec[c] = (int)f->vector;
		fault_err[c] = (uint32_t)f->error;
		f->rip = fixup[c];
		fixup[c] = 0;
		return;
	}
	say("cpu %d: unexpected exception %lu (error 0x%lx) at rip 0x%lx\n", c, f->vector, f->error, f->rip);
	debug_exit(0x11);
}

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
	uint32_t off_hi, zero;
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));
static struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) idt_desc;

static void idt_init(void)
{
	uint16_t cs;
	__asm__ volatile("movw %%cs, %0" : "=r"(cs));
	for (int i = 0; i < 32; i++) {
		uint64_t a = isr_table[i];
		idt[i] = (struct idt_gate){(uint16_t)a, cs, 0, 0x8E, (uint16_t)(a >> 16), (uint32_t)(a >> 32), 0};
	}
	idt_desc.limit = sizeof(idt) - 1;
	idt_desc.base = (uint64_t)idt;
}

/* ---- VMX instructions and their outcomes (SDM Vol. 3C 31.2) ------------ */

enum { R_SUCCEED, R_FAIL_INVALID, R_FAIL_VALID, R_FAULT };

struct res {
	int kind;
	uint32_t code; /* VM-instruction error (R_FAIL_VALID) or vector (R_FAULT) */
	uint32_t err;  /* error code (R_FAULT) */
};

static const struct res OK = {R_SUCCEED, 0, 0};
static const struct res INVALID = {R_FAIL_INVALID, 0, 0};
static const struct res UD = {R_FAULT, 6, 0};
static const struct res GP0 = {R_FAULT, 13, 0};
static struct res VALID(uint32_t e) { return (struct res){R_FAIL_VALID, e, 0}; }

/* The fixup is the address after the probed instruction: the trap handler
 * resumes there with the vector recorded. */
#define PROBE_BEGIN "leaq 1f(%%rip), %%rax\n\tmovq %%rax, %[fix]\n\t"
#define PROBE_END "\n1:\tpushfq\n\tpopq %[fl]"

static uint64_t vmread_raw(uint64_t enc)
{
	uint64_t v = 0;
	__asm__ volatile("vmread %1, %0" : "+r"(v) : "r"(enc) : "cc", "memory");
	return v;
}

static struct res outcome(int c, uint64_t fl)
{
	fixup[c] = 0;
	if (fault_vec[c] >= 0)
		return (struct res){R_FAULT, (uint32_t)fault_vec[c], fault_err[c]};
	if (fl & RFLAGS_CF)
		return INVALID;
	if (fl & RFLAGS_ZF)
		return VALID((uint32_t)vmread_raw(VMCS_INSTR_ERROR));
	return OK;
}

static struct res vmxon(uint64_t pa)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmxon %[pa]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c])
			 : [pa] "m"(pa)
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

static struct res vmxoff(void)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmxoff" PROBE_END : [fl] "=r"(fl), [fix] "=m"(fixup[c]) : : "rax", "cc", "memory");
	return outcome(c, fl);
}

static struct res vmclear(uint64_t pa)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmclear %[pa]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c])
			 : [pa] "m"(pa)
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

static struct res vmptrld(uint64_t pa)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmptrld %[pa]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c])
			 : [pa] "m"(pa)
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

static struct res vmptrst(uint64_t *pa)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmptrst %[pa]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c]), [pa] "=m"(*pa)
			 :
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

static struct res vmread(uint64_t enc, uint64_t *val)
{
	int c = this_cpu();
	uint64_t fl, v = 0;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmread %[enc], %[v]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c]), [v] "+r"(v)
			 : [enc] "r"(enc)
			 : "rax", "cc", "memory");
	*val = v;
	return outcome(c, fl);
}

static struct res vmwrite(uint64_t enc, uint64_t val)
{
	int c = this_cpu();
	uint64_t fl;
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "vmwrite %[v], %[enc]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c])
			 : [enc] "r"(enc), [v] "r"(val)
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

static int rdmsr_safe(uint32_t idx, uint64_t *val)
{
	int c = this_cpu();
	uint64_t fl;
	uint32_t lo = 0, hi = 0;
	fault_vec[c] = -1;
	/* RDMSR leaves RFLAGS alone: clear CF and ZF first (TEST of a
	 * nonzero RSP), so that outcome() reads no stale VMfail from them. */
	__asm__ volatile("testq %%rsp, %%rsp\n\t" PROBE_BEGIN "rdmsr" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c]), "+a"(lo), "+d"(hi)
			 : "c"(idx)
			 : "cc", "memory");
	struct res r = outcome(c, fl);
	*val = (uint64_t)hi << 32 | lo;
	/* RDMSR leaves RFLAGS alone: only a fault says the MSR is missing
	 * (the VMX outcome codes read CF/ZF, which RDMSR does not set). */
	return r.kind == R_FAULT ? -1 : 0;
}

static inline uint64_t rdmsr(uint32_t idx)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
	return (uint64_t)hi << 32 | lo;
}

static inline void wrmsr(uint32_t idx, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
}

static inline void cpuid(uint32_t leaf, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(0));
}

static inline uint64_t read_cr0(void)
{
	uint64_t v;
	__asm__ volatile("movq %%cr0, %0" : "=r"(v));
	return v;
}
static inline uint64_t read_cr4(void)
{
	uint64_t v;
	__asm__ volatile("movq %%cr4, %0" : "=r"(v));
	return v;
}
static inline void write_cr0(uint64_t v) { __asm__ volatile("movq %0, %%cr0" : : "r"(v) : "memory"); }
static inline void write_cr4(uint64_t v) { __asm__ volatile("movq %0, %%cr4" : : "r"(v) : "memory"); }

/* ---- reporting ------------------------------------------------------------ */

static int failures;

static void say(const char *fmt, ...)
{
	if (brief)
		return;
	va_list ap;
	va_start(ap, fmt);
	kvprintf(fmt, ap);
	va_end(ap);
}

static void print_res(struct res r)
{
	switch (r.kind) {
	case R_SUCCEED:
		kprintf("VMsucceed");
		break;
	case R_FAIL_INVALID:
		kprintf("VMfailInvalid");
		break;
	case R_FAIL_VALID:
		kprintf("VMfailValid(%u)", r.code);
		break;
	default:
		if (r.code == 13)
			kprintf("#GP(%u)", r.err);
		else if (r.code == 6)
			kprintf("#UD");
		else
			kprintf("exception %u (error 0x%x)", r.code, r.err);
	}
}

static int same(struct res a, struct res b)
{
	return a.kind == b.kind && a.code == b.code && (a.kind != R_FAULT || a.err == b.err);
}

/* expect prints "cpu C: WHAT: OUTCOME" and counts a failure when the
 * outcome is not the SDM's. */
static int expect(int c, const char *what, struct res got, struct res want)
{
	/* Brief output shows the outcomes a scenario provokes: those that
	 * are not VMsucceed. */
	if (brief && same(got, want) && got.kind == R_SUCCEED)
		return 1;
	kprintf("cpu %d: %s: ", c, what);
	print_res(got);
	if (!same(got, want)) {
		kprintf(" -- MISMATCH, the SDM says ");
		print_res(want);
		failures++;
	}
	kprintf("\n");
	return same(got, want);
}

/* shown is expect for a step a scenario is about: printed even when it
 * succeeds. */
static int shown(int c, const char *what, struct res got, struct res want)
{
	int b = brief;
	brief = 0;
	int ok = expect(c, what, got, want);
	brief = b;
	return ok;
}

static void check(int c, int ok, const char *what)
{
	if (!ok) {
		kprintf("cpu %d: MISMATCH: %s\n", c, what);
		failures++;
	}
}

/* ---- the scenario ---------------------------------------------------------- */

/* The scenarios: each breaks one step of the bring-up. */
static const struct {
	const char *name, *what;
} scenarios[] = {
	{"none", "the bring-up as the SDM prescribes it"},
	{"cr0-ne", "CR0.NE not fixed before VMXON: #GP(0)"},
	{"no-vmxe", "CR4.VMXE not set before VMXON: #UD"},
	{"fc-unlocked", "IA32_FEATURE_CONTROL left unlocked by the firmware and by the kernel: VMXON #GP(0)"},
	{"fc-disabled", "IA32_FEATURE_CONTROL locked by the firmware with VMX off: VMXON #GP(0)"},
	{"bad-revision", "VMXON region without the VMCS revision identifier: VMfailInvalid"},
	{"unaligned", "VMXON region not 4-KiB aligned: VMfailInvalid"},
	{"beyond-maxphyaddr", "VMXON region beyond MAXPHYADDR: VMfailInvalid"},
	{"shared-region", "the APs VMXON with CPU 0's VMXON region: the processor does not check (VMsucceed); vmxemu warns"},
	{"vmxon-twice", "VMXON in VMX root operation: VMfailInvalid, VMfailValid(15) with a current VMCS"},
	{"vmptrld-vmxon", "VMPTRLD of the VMXON region: VMfailInvalid, VMfailValid(10) with a current VMCS"},
	{"vmclear-vmxon", "VMCLEAR of the VMXON region: VMfailInvalid, VMfailValid(3) with a current VMCS"},
	{"vmptrld-revision", "VMPTRLD of a VMCS with a wrong revision: VMfailInvalid, VMfailValid(11) with a current VMCS"},
	{"vmread-no-vmcs", "VMREAD/VMWRITE without a current VMCS: VMfailInvalid; after VMXOFF: #UD"},
	{"vmwrite-ro", "VMWRITE to a VM-exit information field: VMfailValid(13) unless IA32_VMX_MISC[29]"},
	{"field-unsupported", "VMREAD/VMWRITE of encodings that are no field here: VMfailValid(12)"},
	{"bad-pointer", "VMCLEAR/VMPTRLD of an unaligned or too-wide address: VMfailValid(2), VMfailValid(9)"},
	{"vmresume-clear", "VMRESUME before the first VMLAUNCH (launch state clear): VMfailValid(5)"},
	{"no-vmclear", "VMLAUNCH again after the guest's exits without VMCLEAR (launch state launched): VMfailValid(4)"},
	{"bad-host-cr3", "host CR3 beyond MAXPHYADDR in the VMCS: VMLAUNCH VMfailValid(8)"},
	{"bad-host-cr4", "host CR4 without VMXE in the VMCS: VMLAUNCH VMfailValid(8)"},
	{"bad-guest-seg", "guest CS access rights without the accessed bit: VM-entry failure, exit reason 33"},
	{"bad-eptp", "an EPT pointer with a reserved memory type, then with a page-walk length of 3: VMLAUNCH VMfailValid(7)"},
	{"no-invept", "an EPT entry pointed at another page without INVEPT: the guest still reads the old page"},
	{"ept-misconfig", "an EPT entry that allows writes but not reads: EPT misconfiguration, exit reason 49"},
	{"ept-exec", "an EPT entry without execute permission: a call into the page is an EPT violation (fetch)"},
};
#define NSCENARIOS (sizeof(scenarios) / sizeof(scenarios[0]))

static void list_scenarios(void)
{
	kprintf("the scenarios (vmxemu demo NAME, or -append scenario=NAME):\n");
	for (size_t i = 0; i < NSCENARIOS; i++)
		kprintf("  %-18s %s\n", scenarios[i].name, scenarios[i].what);
}

static const char *scenario = "none";

static int streq_word(const char *a, const char *b, int n)
{
	for (int i = 0; i < n; i++)
		if (a[i] != b[i] || b[i] == 0)
			return 0;
	return b[n] == 0;
}

/* parse_cmdline finds "scenario=NAME" among the words of the multiboot
 * command line (QEMU passes "<kernel path> <-append text>"); "help" or
 * "scenario=list" asks for the list (returns 2), an unknown name returns
 * 0. */
static int parse_cmdline(uint32_t magic, const struct multiboot_info *mbi)
{
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !(mbi->flags & MB_INFO_CMDLINE))
		return 1;
	const char *p = (const char *)(uint64_t)mbi->cmdline;
	while (*p) {
		while (*p == ' ')
			p++;
		const char *w = p;
		while (*p && *p != ' ')
			p++;
		if (p - w == 5 && !memcmp(w, "brief", 5)) {
			brief = 1;
			continue;
		}
		if ((p - w == 4 && !memcmp(w, "help", 4)) || (p - w == 13 && !memcmp(w, "scenario=list", 13)) ||
		    (p - w == 13 && !memcmp(w, "scenario=help", 13)))
			return 2;
		if (p - w > 9 && !memcmp(w, "scenario=", 9)) {
			const char *n = w + 9;
			int len = (int)(p - n);
			for (size_t i = 0; i < NSCENARIOS; i++)
				if (streq_word(n, scenarios[i].name, len)) {
					scenario = scenarios[i].name;
					return 1;
				}
			return 0;
		}
	}
	return 1;
}

static int is(const char *name) { return !strcmp(scenario, name); }

/* ---- Appendix B: the VMCS field encodings and when each exists ------------ */

/* The controls that make a field exist (SDM Vol. 3D Appendix B: "this field
 * exists only on processors that support the 1-setting of ..."). */
enum { ALWAYS, PIN, PROC, PROC2, PROC3, EXIT, ENTRY, VMFUNC };

struct field {
	uint16_t enc;
	uint8_t k1, b1, k2, b2; /* exists if allowed(k1,b1) || allowed(k2,b2) */
};

#define A(e) {e, ALWAYS, 0, ALWAYS, 0}
#define F(e, k, b) {e, k, b, 0xFF, 0}
#define F2(e, k, b, k2, b2) {e, k, b, k2, b2}

static const struct field fields[] = {
	/* B.1.1 16-bit control */
	F(0x0000, PROC2, 5), F(0x0002, PIN, 7), F(0x0004, PROC2, 18), F(0x0006, PROC3, 1), F(0x0008, PROC3, 4),
	/* B.1.2 16-bit guest state */
	A(0x0800), A(0x0802), A(0x0804), A(0x0806), A(0x0808), A(0x080A), A(0x080C), A(0x080E),
	F(0x0810, PROC2, 9), F(0x0812, PROC2, 17),
	/* B.1.3 16-bit host state */
	A(0x0C00), A(0x0C02), A(0x0C04), A(0x0C06), A(0x0C08), A(0x0C0A), A(0x0C0C),
	/* B.2.1 64-bit control */
	A(0x2000), A(0x2002), F(0x2004, PROC, 28), A(0x2006), A(0x2008), A(0x200A), A(0x200C),
	F(0x200E, PROC2, 17), A(0x2010), F(0x2012, PROC, 21), F(0x2014, PROC2, 0), F(0x2016, PIN, 7),
	F(0x2018, PROC2, 13), F(0x201A, PROC2, 1), F(0x201C, PROC2, 9), F(0x201E, PROC2, 9), F(0x2020, PROC2, 9),
	F(0x2022, PROC2, 9), F(0x2024, VMFUNC, 0), F(0x2026, PROC2, 14), F(0x2028, PROC2, 14),
	F(0x202A, PROC2, 18), F(0x202C, PROC2, 20), F(0x202E, PROC2, 15), F(0x2030, PROC2, 23),
	F(0x2032, PROC2, 25), F(0x2034, PROC, 17), F(0x2036, PROC2, 28), F(0x2040, PROC3, 1), F(0x2042, PROC3, 4),
	F(0x2044, EXIT, 31),
	/* B.2.2 64-bit read-only data */
	F(0x2400, PROC2, 1),
	/* B.2.3 64-bit guest state */
	A(0x2800), A(0x2802), F2(0x2804, ENTRY, 14, EXIT, 18), F2(0x2806, ENTRY, 15, EXIT, 20),
	F2(0x2808, ENTRY, 13, EXIT, 30), F(0x280A, PROC2, 1), F(0x280C, PROC2, 1), F(0x280E, PROC2, 1),
	F(0x2810, PROC2, 1), F2(0x2812, ENTRY, 16, EXIT, 23), F2(0x2814, ENTRY, 18, EXIT, 25),
	F2(0x2816, ENTRY, 21, EXIT, 26), F2(0x2818, ENTRY, 22, EXIT, 29),
	/* B.2.4 64-bit host state */
	F(0x2C00, EXIT, 19), F(0x2C02, EXIT, 21), F(0x2C04, EXIT, 12), F(0x2C06, EXIT, 29),
	/* B.3.1 32-bit control */
	A(0x4000), A(0x4002), A(0x4004), A(0x4006), A(0x4008), A(0x400A), A(0x400C), A(0x400E), A(0x4010),
	A(0x4012), A(0x4014), A(0x4016), A(0x4018), A(0x401A), F(0x401C, PROC, 21), F(0x401E, PROC, 31),
	F(0x4020, PROC2, 10), F(0x4022, PROC2, 10),
	/* B.3.2 32-bit read-only data */
	A(0x4400), A(0x4402), A(0x4404), A(0x4406), A(0x4408), A(0x440A), A(0x440C), A(0x440E),
	/* B.3.3 32-bit guest state */
	A(0x4800), A(0x4802), A(0x4804), A(0x4806), A(0x4808), A(0x480A), A(0x480C), A(0x480E), A(0x4810),
	A(0x4812), A(0x4814), A(0x4816), A(0x4818), A(0x481A), A(0x481C), A(0x481E), A(0x4820), A(0x4822),
	A(0x4824), A(0x4826), A(0x4828), A(0x482A), F(0x482E, PIN, 6),
	/* B.3.4 32-bit host state */
	A(0x4C00),
	/* B.4.1 natural-width control */
	A(0x6000), A(0x6002), A(0x6004), A(0x6006), A(0x6008), A(0x600A), A(0x600C), A(0x600E),
	/* B.4.2 natural-width read-only data */
	A(0x6400), A(0x6402), A(0x6404), A(0x6406), A(0x6408), A(0x640A),
	/* B.4.3 natural-width guest state */
	A(0x6800), A(0x6802), A(0x6804), A(0x6806), A(0x6808), A(0x680A), A(0x680C), A(0x680E), A(0x6810),
	A(0x6812), A(0x6814), A(0x6816), A(0x6818), A(0x681A), A(0x681C), A(0x681E), A(0x6820), A(0x6822),
	A(0x6824), A(0x6826), F(0x6828, ENTRY, 20), F(0x682A, ENTRY, 20), F(0x682C, ENTRY, 20),
	/* B.4.4 natural-width host state */
	A(0x6C00), A(0x6C02), A(0x6C04), A(0x6C06), A(0x6C08), A(0x6C0A), A(0x6C0C), A(0x6C0E), A(0x6C10),
	A(0x6C12), A(0x6C14), A(0x6C16), F(0x6C18, EXIT, 28), F(0x6C1A, EXIT, 28), F(0x6C1C, EXIT, 28),
};
#define NFIELDS (sizeof(fields) / sizeof(fields[0]))

static int enc_width(uint32_t e) { return e >> 13 & 3; } /* 0 16-bit, 1 64-bit, 2 32-bit, 3 natural */
static int enc_type(uint32_t e) { return e >> 10 & 3; }  /* 1: VM-exit information (read-only) */
static uint32_t enc_index(uint32_t e) { return e >> 1 & 0x1FF; }

/* The allowed-1 settings the capability MSRs report (Vol. 3D A.3-A.5, A.11). */
struct caps {
	uint64_t allowed[8];
};

static void read_caps(int c, struct caps *k)
{
	uint64_t v;
	memset(k, 0, sizeof(*k));
	k->allowed[ALWAYS] = ~0ull;
	k->allowed[PIN] = rdmsr(MSR_VMX_PINBASED) >> 32;
	k->allowed[PROC] = rdmsr(MSR_VMX_PROCBASED) >> 32;
	k->allowed[EXIT] = rdmsr(MSR_VMX_EXIT) >> 32;
	k->allowed[ENTRY] = rdmsr(MSR_VMX_ENTRY) >> 32;
	/* IA32_VMX_PROCBASED_CTLS2 exists only if "activate secondary
	 * controls" may be 1 (A.3.3); IA32_VMX_PROCBASED_CTLS3 only with
	 * "activate tertiary controls" (A.3.4); IA32_VMX_VMFUNC only with
	 * "enable VM functions" (A.11). */
	if (k->allowed[PROC] >> 31 & 1) {
		check(c, rdmsr_safe(MSR_VMX_PROCBASED2, &v) == 0, "IA32_VMX_PROCBASED_CTLS2 does not exist");
		k->allowed[PROC2] = v >> 32;
	} else
		check(c, rdmsr_safe(MSR_VMX_PROCBASED2, &v) != 0, "IA32_VMX_PROCBASED_CTLS2 exists without secondary controls");
	if (k->allowed[PROC] >> 17 & 1) {
		check(c, rdmsr_safe(MSR_VMX_PROCBASED3, &v) == 0, "IA32_VMX_PROCBASED_CTLS3 does not exist");
		k->allowed[PROC3] = v;
	}
	if (k->allowed[PROC2] >> 13 & 1) {
		check(c, rdmsr_safe(MSR_VMX_VMFUNC, &v) == 0, "IA32_VMX_VMFUNC does not exist");
		k->allowed[VMFUNC] = v;
	}
}

static int field_exists(const struct caps *k, const struct field *f)
{
	if (f->k1 == ALWAYS)
		return 1;
	if (k->allowed[f->k1] >> f->b1 & 1)
		return 1;
	return f->k2 != 0xFF && (k->allowed[f->k2] >> f->b2 & 1);
}

/* pattern is the value a round trip writes, within the bits every
 * processor keeps: the width, and for the access-rights fields the bits
 * the SDM defines (Vol. 3C 25.4.1, Table 25-2: 7:0, 15:12 (L only for CS
 * on hardware), 16). */
static uint64_t pattern(uint32_t enc, uint64_t cookie)
{
	uint64_t v = (0x9E3779B97F4A7C15ull * (enc + 1)) ^ cookie;
	switch (enc_width(enc)) {
	case 0:
		v &= 0xFFFF;
		break;
	case 2:
		v &= 0xFFFFFFFF;
		break;
	}
	if (enc >= 0x4814 && enc <= 0x4822)
		v &= enc == 0x4816 ? 0x1F0FF : 0x1D0FF;
	return v;
}

/* ---- per-CPU state ---------------------------------------------------------- */

static int in_vmx[MAX_CPUS];
static uint32_t revision;
static int region_size, width_addr, maxphyaddr;
static uint64_t basic0, misc;

static uint64_t pa_of(void *p) { return (uint64_t)p; } /* identity-mapped */

static void set_revision(void *region, uint32_t rev) { memcpy(region, &rev, 4); }

/* ---- phase 1: detection, FEATURE_CONTROL, fixed bits, VMXON ------------- */

static void phase_vmxon(int c)
{
	uint32_t a, b, cx, d;
	cpuid(1, &a, &b, &cx, &d);
	if (!(cx >> 5 & 1)) {
		/* A kernel stops here: every VMX instruction would be #UD
		 * (Vol. 3C 24.6). */
		kprintf("cpu %d: CPUID.1:ECX.VMX = 0: this processor has no VMX\n", c);
		return;
	}

	uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);
	int vmx_disabled = 0;
	if (is("fc-unlocked") || is("fc-disabled")) {
		/* The firmware policy these need (-feature-control; vmxemu demo
		 * sets it): lock bit clear, or lock set with bit 2 clear. */
		int unlocked = !(fc & 1), off = (fc & 1) && !(fc & 4);
		if (is("fc-unlocked") ? !unlocked : !off) {
			kprintf("cpu %d: IA32_FEATURE_CONTROL 0x%llx: scenario %s needs -feature-control %s\n", c,
				(unsigned long long)fc, scenario, is("fc-unlocked") ? "unlocked" : "disabled");
			failures++;
			return;
		}
	}
	if (!(fc & 1) && is("fc-unlocked")) {
		/* The kernel's mistake: it does not lock the MSR (Vol. 3C 24.7:
		 * VMXON with the lock bit clear is #GP(0)). */
		kprintf("cpu %d: IA32_FEATURE_CONTROL 0x%llx: unlocked by firmware; the kernel leaves it so\n", c,
			(unsigned long long)fc);
		vmx_disabled = 1;
	} else if (!(fc & 1)) {
		wrmsr(MSR_FEATURE_CONTROL, fc | 1 | 4);
		uint64_t now = rdmsr(MSR_FEATURE_CONTROL);
		say("cpu %d: IA32_FEATURE_CONTROL 0x%llx: unlocked by firmware; enabled VMXON outside SMX and locked it: 0x%llx\n",
			c, (unsigned long long)fc, (unsigned long long)now);
		check(c, now == (fc | 5), "IA32_FEATURE_CONTROL did not keep the value written");
	} else if (!(fc & 4)) {
		if (is("fc-disabled"))
			kprintf("cpu %d: IA32_FEATURE_CONTROL 0x%llx: locked by firmware with VMXON outside SMX disabled\n", c,
				(unsigned long long)fc);
		else
			say("cpu %d: IA32_FEATURE_CONTROL 0x%llx: locked by firmware with VMXON outside SMX disabled\n", c,
			    (unsigned long long)fc);
		vmx_disabled = 1;
	} else
		say("cpu %d: IA32_FEATURE_CONTROL 0x%llx: locked by firmware, VMXON outside SMX enabled\n", c,
			(unsigned long long)fc);

	uint64_t basic = rdmsr(MSR_VMX_BASIC);
	uint64_t cr0f0 = rdmsr(MSR_VMX_CR0_FIXED0), cr0f1 = rdmsr(MSR_VMX_CR0_FIXED1);
	uint64_t cr4f0 = rdmsr(MSR_VMX_CR4_FIXED0), cr4f1 = rdmsr(MSR_VMX_CR4_FIXED1);
	if (c == 0) {
		basic0 = basic;
		revision = (uint32_t)basic & 0x7FFFFFFF;
		region_size = (int)(basic >> 32 & 0x1FFF);
		width_addr = (int)(basic >> 48 & 1);
		misc = rdmsr(MSR_VMX_MISC);
		cpuid(0x80000000, &a, &b, &cx, &d);
		maxphyaddr = 36;
		if (a >= 0x80000008) {
			cpuid(0x80000008, &a, &b, &cx, &d);
			maxphyaddr = (int)(a & 0xFF);
		}
		kprintf("hw.vmm.vmx.revision: %u\n", revision);
		kprintf("hw.vmm.vmx.region_size: %d\n", region_size);
		kprintf("hw.vmm.vmx.width_addr: %d\n", width_addr);
		kprintf("hw.vmm.type: VMX from Intel\n");
	}
	say("cpu %d: IA32_VMX_BASIC 0x%016llx: revision %u, region size %u, 32-bit addresses %u\n", c,
		(unsigned long long)basic, (unsigned)(basic & 0x7FFFFFFF), (unsigned)(basic >> 32 & 0x1FFF),
		(unsigned)(basic >> 48 & 1));
	check(c, basic == basic0, "IA32_VMX_BASIC differs from CPU 0's");
	check(c, (basic >> 31 & 1) == 0, "IA32_VMX_BASIC bit 31 is not 0 (Vol. 3D A.1)");
	check(c, region_size > 0 && region_size <= 4096, "region size not in 1..4096 (Vol. 3D A.1)");

	/* Fix CR0 and CR4 (Vol. 3C 24.8; Vol. 3D A.7, A.8): bits 1 in FIXED0
	 * must be 1, bits 0 in FIXED1 must be 0. CR4_FIXED0 has VMXE. */
	uint64_t cr0 = read_cr0(), cr4 = read_cr4();
	uint64_t ncr0 = (cr0 | cr0f0) & cr0f1, ncr4 = ((cr4 | cr4f0) & cr4f1) | CR4_VMXE;
	check(c, (cr4f0 & CR4_VMXE) != 0, "IA32_VMX_CR4_FIXED0 does not require CR4.VMXE");
	if (is("cr0-ne"))
		ncr0 &= ~CR0_NE;
	if (is("no-vmxe"))
		ncr4 &= ~CR4_VMXE;
	write_cr0(ncr0);
	write_cr4(ncr4);
	say("cpu %d: CR0 0x%lx -> 0x%lx (fixed0 0x%llx fixed1 0x%llx), CR4 0x%lx -> 0x%lx (fixed0 0x%llx fixed1 0x%llx)\n",
		c, cr0, ncr0, (unsigned long long)cr0f0, (unsigned long long)cr0f1, cr4, ncr4,
		(unsigned long long)cr4f0, (unsigned long long)cr4f1);

	uint8_t *region = vmxon_region[c];
	memset(region, 0, 4096);
	set_revision(region, revision);
	uint64_t pa = pa_of(region);

	if (is("cr0-ne")) {
		expect(c, "VMXON with CR0.NE = 0", vmxon(pa), GP0);
		write_cr0(ncr0 | CR0_NE);
	}
	if (is("no-vmxe")) {
		expect(c, "VMXON with CR4.VMXE = 0", vmxon(pa), UD);
		write_cr4(ncr4 | CR4_VMXE);
	}
	if (is("bad-revision")) {
		set_revision(region, (revision + 1) & 0x7FFFFFFF);
		expect(c, "VMXON with revision identifier + 1", vmxon(pa), INVALID);
		set_revision(region, revision | 0x80000000u);
		expect(c, "VMXON with revision identifier bit 31 set", vmxon(pa), INVALID);
		set_revision(region, revision);
	}
	if (is("unaligned")) {
		set_revision(region + 0x800, revision);
		expect(c, "VMXON with the region at +0x800 (not 4-KiB aligned)", vmxon(pa + 0x800), INVALID);
	}
	if (is("beyond-maxphyaddr")) {
		int w = width_addr ? 32 : maxphyaddr;
		say("cpu %d: MAXPHYADDR %d (CPUID.80000008H:EAX[7:0])\n", c, maxphyaddr);
		expect(c, "VMXON with the region at bit MAXPHYADDR set", vmxon(pa | 1ull << w), INVALID);
	}

	struct res want = vmx_disabled ? GP0 : OK;
	if (is("shared-region") && c > 0) {
		pa = pa_of(vmxon_region[0]);
		in_vmx[c] = shown(c, "VMXON with CPU 0's VMXON region (shared)", vmxon(pa), want) && !vmx_disabled;
	} else
		in_vmx[c] = expect(c, "VMXON", vmxon(pa), want) && !vmx_disabled;
	if (vmx_disabled) {
		/* A kernel stops here ("VMX disabled by the BIOS"). */
		write_cr4(read_cr4() & ~CR4_VMXE);
		return;
	}
	if (!in_vmx[c])
		return;

	if (is("vmxon-twice")) {
		expect(c, "VMXON again (no current VMCS)", vmxon(pa), INVALID);
		uint8_t *vmcs = vmcs_region[c];
		memset(vmcs, 0, 4096);
		set_revision(vmcs, revision);
		expect(c, "VMPTRLD", vmptrld(pa_of(vmcs)), OK);
		expect(c, "VMXON again (with a current VMCS)", vmxon(pa), VALID(15));
		expect(c, "VMCLEAR", vmclear(pa_of(vmcs)), OK);
	}
	/* In VMX operation CR4.VMXE cannot be cleared (Vol. 3C 24.8). */
}

/* ---- phase 2: the VMCS ------------------------------------------------------ */

static void probe_fields(int c, const struct caps *k)
{
	int supported = 0, wide = 0, mismatch = 0, highs_refused = 0;
	uint32_t maxidx = 0;
	uint64_t v;
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		int exists = field_exists(k, f);
		struct res r = vmread(f->enc, &v);
		struct res want = exists ? OK : VALID(12);
		if (!same(r, want)) {
			say("cpu %d: VMREAD 0x%04x: ", c, f->enc);
			print_res(r);
			kprintf(" -- MISMATCH, the capability MSRs say the field %s\n", exists ? "exists" : "does not exist");
			mismatch++;
			continue;
		}
		/* The high half: a 64-bit field's encoding + 1; for any other
		 * width, bit 0 set is no field (Vol. 3C 25.11.2). */
		struct res rh = vmread(f->enc | 1u, &v);
		struct res wanth = exists && enc_width(f->enc) == 1 ? OK : VALID(12);
		if (!same(rh, wanth)) {
			say("cpu %d: VMREAD 0x%04x (high): ", c, f->enc | 1u);
			print_res(rh);
			kprintf(" -- MISMATCH\n");
			mismatch++;
		}
		if (!exists)
			continue;
		supported++;
		if (enc_width(f->enc) == 1)
			wide++;
		else
			highs_refused++;
		if (enc_index(f->enc) > maxidx)
			maxidx = enc_index(f->enc);
	}
	uint64_t vmcs_enum = rdmsr(MSR_VMX_VMCS_ENUM);
	uint32_t enum_idx = (uint32_t)(vmcs_enum >> 1 & 0x1FF);
	say("cpu %d: VMCS fields: %d of %u Appendix B encodings supported (%d 64-bit with a high half), "
		"%d mismatches against the capability MSRs; high access to the other %d refused (12)\n",
		c, supported, (unsigned)NFIELDS, wide, mismatch, highs_refused);
	say("cpu %d: highest field index %u, IA32_VMX_VMCS_ENUM 0x%llx (index %u): %s\n", c, maxidx,
		(unsigned long long)vmcs_enum, enum_idx, maxidx == enum_idx ? "consistent" : "INCONSISTENT");
	failures += mismatch;
	check(c, maxidx == enum_idx, "IA32_VMX_VMCS_ENUM[9:1] is not the highest index of the supported fields (Vol. 3D A.9)");
}

/* round_trips writes every supported field, then reads them all back
 * (no field aliases another), then the high halves. Returns the number of
 * read-write fields that kept their values. */
static int round_trips(int c, const struct caps *k, uint64_t cookie, int write)
{
	int ok = 0, bad = 0, ro_ok = 0, ro_refused = 0, high_ok = 0;
	int misc29 = (int)(misc >> 29 & 1);
	uint64_t v;
	for (size_t i = 0; write && i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!field_exists(k, f) || f->enc == VMCS_INSTR_ERROR)
			continue;
		struct res r = vmwrite(f->enc, pattern(f->enc, cookie));
		struct res want = enc_type(f->enc) == 1 && !misc29 ? VALID(13) : OK;
		if (!same(r, want)) {
			say("cpu %d: VMWRITE 0x%04x: ", c, f->enc);
			print_res(r);
			kprintf(" -- MISMATCH, the SDM says ");
			print_res(want);
			say("\n");
			bad++;
		} else if (enc_type(f->enc) == 1 && !misc29)
			ro_refused++;
	}
	for (size_t i = 0; i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!field_exists(k, f) || f->enc == VMCS_INSTR_ERROR)
			continue;
		if (enc_type(f->enc) == 1 && !misc29)
			continue;
		struct res r = vmread(f->enc, &v);
		if (r.kind != R_SUCCEED || v != pattern(f->enc, cookie)) {
			kprintf("cpu %d: VMREAD 0x%04x: 0x%lx, wrote 0x%lx -- MISMATCH\n", c, f->enc, v,
				pattern(f->enc, cookie));
			bad++;
		} else if (enc_type(f->enc) == 1)
			ro_ok++;
		else
			ok++;
	}
	for (size_t i = 0; write && i < NFIELDS; i++) {
		const struct field *f = &fields[i];
		if (!field_exists(k, f) || enc_width(f->enc) != 1 || (enc_type(f->enc) == 1 && !misc29))
			continue;
		uint64_t full = pattern(f->enc, cookie), hi = 0, lo = 0;
		struct res r = vmread(f->enc | 1u, &hi);
		int good = r.kind == R_SUCCEED && hi == full >> 32;
		uint32_t nhi = (uint32_t)~(full >> 32);
		good &= same(vmwrite(f->enc | 1u, nhi), OK);
		good &= same(vmread(f->enc, &lo), OK) && lo == ((full & 0xFFFFFFFFu) | (uint64_t)nhi << 32);
		/* and back, so that a later VMPTRLD sees the pattern */
		good &= same(vmwrite(f->enc, full), OK);
		if (good)
			high_ok++;
		else {
			kprintf("cpu %d: high half of 0x%04x: MISMATCH (read 0x%lx, full 0x%lx)\n", c, f->enc, hi, lo);
			bad++;
		}
	}
	if (write) {
		say("cpu %d: VMWRITE/VMREAD round trips: %d read-write fields, %d high halves ok, %d failed\n", c,
			ok, high_ok, bad);
		if (misc29)
			say("cpu %d: VM-exit information fields: %d round trips ok (IA32_VMX_MISC[29] = 1)\n", c, ro_ok);
		else
			say("cpu %d: VM-exit information fields: VMWRITE to %d refused with VMfailValid(13) (IA32_VMX_MISC[29] = 0)\n",
				c, ro_refused);
	}
	failures += bad;
	return bad ? -1 : ok + ro_ok;
}

static void phase_vmcs(int c)
{
	if (!in_vmx[c])
		return;
	struct caps k;
	read_caps(c, &k);
	uint64_t vmxon_pa = pa_of(vmxon_region[c]), ptr;
	if (is("shared-region") && c > 0)
		vmxon_pa = pa_of(vmxon_region[0]);
	uint8_t *vmcs = vmcs_region[c], *other = vmcs_other[c];
	memset(vmcs, 0, 4096);
	set_revision(vmcs, revision);
	uint64_t pa = pa_of(vmcs);
	memset(other, 0, 4096);
	set_revision(other, (revision + 1) & 0x7FFFFFFF);

	/* Without a current VMCS (after VMXON the current-VMCS pointer is
	 * FFFFFFFF_FFFFFFFFH: Vol. 3C 31.3 VMXON). */
	ptr = 0;
	vmptrst(&ptr);
	say("cpu %d: VMPTRST after VMXON: 0x%lx\n", c, ptr);
	check(c, ptr == ~0ull, "after VMXON the current-VMCS pointer is not FFFFFFFF_FFFFFFFFH");
	if (is("vmptrld-vmxon"))
		expect(c, "VMPTRLD of the VMXON region (no current VMCS)", vmptrld(vmxon_pa), INVALID);
	if (is("vmclear-vmxon"))
		expect(c, "VMCLEAR of the VMXON region (no current VMCS)", vmclear(vmxon_pa), INVALID);
	if (is("vmptrld-revision"))
		expect(c, "VMPTRLD of a VMCS with revision + 1 (no current VMCS)", vmptrld(pa_of(other)), INVALID);
	if (is("vmread-no-vmcs")) {
		uint64_t v;
		expect(c, "VMREAD with no current VMCS", vmread(VMCS_EXIT_REASON, &v), INVALID);
		expect(c, "VMWRITE with no current VMCS", vmwrite(0x6C16, 0x1000), INVALID);
	}

	int ok = expect(c, "VMCLEAR", vmclear(pa), OK);
	ok &= expect(c, "VMPTRLD", vmptrld(pa), OK);
	ptr = 0;
	ok &= expect(c, "VMPTRST", vmptrst(&ptr), OK);
	check(c, ptr == pa, "VMPTRST does not return the VMCS VMPTRLD loaded");
	say("cpu %d: VMPTRST = the VMCS pointer: %s\n", c, ptr == pa ? "yes" : "NO");
	if (!ok)
		return;

	if (is("vmptrld-vmxon"))
		expect(c, "VMPTRLD of the VMXON region", vmptrld(vmxon_pa), VALID(10));
	if (is("vmclear-vmxon"))
		expect(c, "VMCLEAR of the VMXON region", vmclear(vmxon_pa), VALID(3));
	if (is("vmptrld-revision")) {
		expect(c, "VMPTRLD of a VMCS with revision + 1", vmptrld(pa_of(other)), VALID(11));
		vmptrst(&ptr);
		check(c, ptr == pa, "the failed VMPTRLD changed the current VMCS");
	}
	if (is("vmwrite-ro")) {
		int misc29 = (int)(misc >> 29 & 1);
		say("cpu %d: IA32_VMX_MISC 0x%llx: bit 29 (VMWRITE to VM-exit information fields) = %d\n", c,
			(unsigned long long)misc, misc29);
		shown(c, "VMWRITE to the exit reason (0x4402)", vmwrite(VMCS_EXIT_REASON, 0x1234),
		       misc29 ? OK : VALID(13));
	}
	if (is("field-unsupported")) {
		uint64_t v;
		const struct field vpid = F(0x0000, PROC2, 5);
		expect(c, "VMREAD 0x4001 (high access to the 32-bit pin-based controls)", vmread(0x4001, &v), VALID(12));
		expect(c, "VMWRITE 0x5002 (reserved bit 12 set)", vmwrite(0x5002, 0), VALID(12));
		expect(c, "VMREAD 0x6ffe (no such field in Appendix B)", vmread(0x6FFE, &v), VALID(12));
		say("cpu %d: \"enable VPID\" allowed: %d\n", c, field_exists(&k, &vpid));
		expect(c, "VMWRITE 0x0000 (VPID)", vmwrite(0x0000, 1), field_exists(&k, &vpid) ? OK : VALID(12));
	}

	if (is("bad-pointer")) {
		uint64_t wide = pa | 1ull << (width_addr ? 32 : maxphyaddr);
		expect(c, "VMCLEAR of an address not 4-KiB aligned", vmclear(pa + 0x800), VALID(2));
		expect(c, "VMPTRLD of an address not 4-KiB aligned", vmptrld(pa + 0x800), VALID(9));
		expect(c, "VMCLEAR of an address beyond MAXPHYADDR", vmclear(wide), VALID(2));
		expect(c, "VMPTRLD of an address beyond MAXPHYADDR", vmptrld(wide), VALID(9));
	}

	/* VMWRITE of all ones: a 16-bit field keeps bits 15:0, a 32-bit field
	 * bits 31:0, and VMREAD zero-extends (Vol. 3C 31.3 VMREAD, VMWRITE). */
	{
		uint64_t v16 = 0, v32 = 0;
		int w = same(vmwrite(0x0800, ~0ull), OK) && same(vmread(0x0800, &v16), OK);
		w &= same(vmwrite(0x4004, ~0ull), OK) && same(vmread(0x4004, &v32), OK);
		say("cpu %d: VMWRITE of all ones: 16-bit field reads 0x%lx, 32-bit field reads 0x%lx\n", c, v16, v32);
		check(c, w && v16 == 0xFFFF && v32 == 0xFFFFFFFFull, "VMWRITE/VMREAD of a narrow field");
	}

	probe_fields(c, &k);
	int kept = round_trips(c, &k, 0x5A5A000000000000ull + (uint64_t)c, 1);

	/* VMCLEAR writes the VMCS back to its region and makes it clear; the
	 * current-VMCS pointer becomes FFFFFFFF_FFFFFFFFH (Vol. 3C 31.3). */
	expect(c, "VMCLEAR", vmclear(pa), OK);
	ptr = 0;
	vmptrst(&ptr);
	say("cpu %d: VMPTRST after VMCLEAR: 0x%lx\n", c, ptr);
	check(c, ptr == ~0ull, "VMCLEAR of the current VMCS left a current-VMCS pointer");
	expect(c, "VMPTRLD again", vmptrld(pa), OK);
	int again = round_trips(c, &k, 0x5A5A000000000000ull + (uint64_t)c, 0);
	say("cpu %d: after VMCLEAR and VMPTRLD: %d of %d fields kept their values\n", c, again < 0 ? 0 : again,
		kept);
	expect(c, "VMCLEAR", vmclear(pa), OK);
}

/* ---- phase 3: a guest -------------------------------------------------------- */

/* The GDT of phase 3: the entry's code and data descriptors (same
 * selectors), then a 64-bit TSS descriptor per CPU — the host-state area
 * needs a TR selector that is not null (Vol. 3C 27.2.3), so each CPU loads
 * its own with LTR. */
struct tss64 {
	uint32_t rsvd0;
	uint64_t rsp[3], rsvd1, ist[7], rsvd2;
	uint16_t rsvd3, iomap;
} __attribute__((packed));

static struct tss64 tss[MAX_CPUS] __attribute__((aligned(16)));
static uint64_t kgdt[4 + 2 * MAX_CPUS] __attribute__((aligned(16)));
static struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) kgdt_desc;

static uint16_t tss_sel(int c) { return (uint16_t)(0x20 + 16 * c); }

static void gdt_init(void)
{
	kgdt[1] = 0x00CF9A000000FFFFull; /* 0x08: 32-bit code */
	kgdt[2] = 0x00CF92000000FFFFull; /* 0x10: data */
	kgdt[3] = 0x00AF9A000000FFFFull; /* 0x18: 64-bit code */
	for (int c = 0; c < MAX_CPUS; c++) {
		uint64_t base = (uint64_t)&tss[c], lim = sizeof(struct tss64) - 1;
		tss[c].iomap = sizeof(struct tss64);
		/* type 9 (available 64-bit TSS), P (Vol. 3A 8.2.3) */
		kgdt[4 + 2 * c] = (lim & 0xFFFF) | (base & 0xFFFFFF) << 16 | 0x89ull << 40 | (lim >> 16 & 0xF) << 48 |
				  (base >> 24 & 0xFF) << 56;
		kgdt[5 + 2 * c] = base >> 32;
	}
	kgdt_desc.limit = sizeof(kgdt) - 1;
	kgdt_desc.base = (uint64_t)kgdt;
}

static inline uint64_t read_cr3(void)
{
	uint64_t v;
	__asm__ volatile("movq %%cr3, %0" : "=r"(v));
	return v;
}

static inline void cpuid_count(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c, uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* ---- phase 3, EPT: an identity map with one page left out ----------------- */

/* The seed scenario's EPT step (SDM Vol. 3C 29.3; the EPTP 25.6.11; the
 * capabilities IA32_VMX_EPT_VPID_CAP, Vol. 3D A.10).  Per CPU: a 4-level
 * EPT identity map of guest-physical memory (2-MiB pages where the
 * capability MSR allows them, else 4-KiB pages), every page mapped
 * read/write/execute with memory type WB except the probe page, which the
 * guest reads after its CPUID: an EPT violation (exit reason 48) that the
 * host handles by mapping the page, INVEPT, and resuming the guest, which
 * retries the read.  The CPUs share the probe page; each has its own EPT. */
#define MSR_VMX_EPT_VPID_CAP 0x48C
#define PROC_SECONDARY (1u << 31) /* primary: "activate secondary controls" (25.6.2, Table 25-6) */
#define SEC_EPT (1u << 1)         /* secondary: "enable EPT" (Table 25-7) */
#define SEC_VPID (1u << 5)        /* secondary: "enable VPID" */
#define VMCS_VPID 0x0000
#define VMCS_EPTP 0x201A
#define VMCS_PROC2 0x401E
#define VMCS_GUEST_PHYS 0x2400
#define VMCS_GUEST_LINEAR 0x640A

#define EPT_R 1ull
#define EPT_W 2ull
#define EPT_X 4ull
#define EPT_RWX 7ull
#define EPT_WB (6ull << 3)   /* leaf memory type WB (29.3.7) */
#define EPT_PAGE (1ull << 7) /* a PDE that maps a 2-MiB page */
#define EPT_PTS 4            /* page tables per CPU: 8 MiB of 4-KiB pages */
#define MiB2 0x200000ull

/* IA32_VMX_EPT_VPID_CAP bits (Vol. 3D A.10). */
#define CAP_WALK4 (1ull << 6)
#define CAP_UC (1ull << 8)
#define CAP_WB (1ull << 14)
#define CAP_2M (1ull << 16)
#define CAP_INVEPT (1ull << 20)
#define CAP_ADV_INFO (1ull << 22)
#define CAP_INVEPT_SINGLE (1ull << 25)
#define CAP_INVEPT_ALL (1ull << 26)

/* Exit qualification of an EPT violation (Vol. 3C 28.2.1, Table 28-7). */
#define QUAL_READ (1ull << 0)
#define QUAL_WRITE (1ull << 1)
#define QUAL_FETCH (1ull << 2)
#define QUAL_PERMS (7ull << 3)
#define QUAL_LINEAR (1ull << 7)
#define QUAL_TRANSLATION (1ull << 8)

static uint64_t ept_pml4[MAX_CPUS][512] __attribute__((aligned(4096)));
static uint64_t ept_pdpt[MAX_CPUS][512] __attribute__((aligned(4096)));
static uint64_t ept_pd[MAX_CPUS][512] __attribute__((aligned(4096)));
static uint64_t ept_pt[MAX_CPUS][EPT_PTS][512] __attribute__((aligned(4096)));
/* The probe page P (left out of the map) and, for no-invept, the page Q
 * the host points P's entry at afterwards; each holds its own value. */
static uint64_t probe_page[512] __attribute__((aligned(4096)));
static uint64_t other_page[512] __attribute__((aligned(4096)));
#define PROBE_VALUE 0x5050505050505050ul /* "PPPPPPPP" */
#define OTHER_VALUE 0x5151515151515151ul /* "QQQQQQQQ" */
extern char __bss_end[];

/* guest_probe is the address the guest reads after its CPUID (0: no EPT
 * step), guest_exec the one it calls then (0: none; ept-exec); guest_entry
 * in vmxon.S reads both. */
uint64_t guest_probe, guest_exec;
#define EXEC_OFFSET 8 /* where ept-exec puts a RET in the probe page */

static int ept_on[MAX_CPUS], vpid_on[MAX_CPUS], invept_type[MAX_CPUS];
static uint64_t eptp[MAX_CPUS], ept_cap;
static uint64_t *probe_pte[MAX_CPUS]; /* P's EPT PTE */
static int ept_calls[MAX_CPUS];       /* VMCALLs so far (no-invept) */
static uint64_t ept_qual[MAX_CPUS], ept_gpa[MAX_CPUS], ept_gla[MAX_CPUS];

static struct res invept(uint64_t type, uint64_t ptr)
{
	int c = this_cpu();
	uint64_t fl;
	/* The INVEPT descriptor: the EPTP, then 64 reserved bits (31.3). */
	struct {
		uint64_t eptp, rsvd;
	} desc = {ptr, 0};
	fault_vec[c] = -1;
	__asm__ volatile(PROBE_BEGIN "invept %[d], %[t]" PROBE_END
			 : [fl] "=r"(fl), [fix] "=m"(fixup[c])
			 : [d] "m"(desc), [t] "r"(type)
			 : "rax", "cc", "memory");
	return outcome(c, fl);
}

/* ept_flush invalidates the CPU's EPT-derived translations after a change
 * to its EPT: single-context INVEPT where IA32_VMX_EPT_VPID_CAP lists it
 * (bit 25), else all-context (bit 26).  A change from not present to
 * present needs none (29.4.2: nothing is cached from a walk that ends in
 * a violation; 29.4.3.3 lists the changes that do), but kernels invalidate
 * after every change to keep one rule. */
static void ept_flush(int c)
{
	if (invept_type[c])
		expect(c, "INVEPT", invept((uint64_t)invept_type[c], eptp[c]), OK);
}

/* ept_setup decides whether the EPT step runs on CPU c (the model allows
 * "activate secondary controls" and "enable EPT", a 4-level walk and a WB
 * or UC EPTP: Vol. 3D A.3.2, A.3.3, A.10), builds the CPU's identity map
 * and returns the secondary controls (0: no EPT step, said on a line). */
static uint32_t ept_setup(int c)
{
	ept_on[c] = vpid_on[c] = invept_type[c] = 0;
	uint64_t proc = rdmsr(basic0 >> 55 & 1 ? MSR_VMX_TRUE_PROCBASED : MSR_VMX_PROCBASED);
	uint64_t proc2 = proc >> 63 & 1 ? rdmsr(MSR_VMX_PROCBASED2) : 0;
	if (!(proc2 >> 32 & SEC_EPT)) {
		kprintf("cpu %d: EPT: not allowed by this model (IA32_VMX_PROCBASED_CTLS%s[%d] = 0): no EPT step\n", c,
			proc >> 63 & 1 ? "2" : "", proc >> 63 & 1 ? 33 : 63);
		return 0;
	}
	uint64_t cap = rdmsr(MSR_VMX_EPT_VPID_CAP);
	ept_cap = cap;
	if (!(cap & CAP_WALK4) || !(cap & (CAP_WB | CAP_UC))) {
		kprintf("cpu %d: EPT: IA32_VMX_EPT_VPID_CAP 0x%llx offers no 4-level walk or no WB/UC EPTP: no EPT step\n",
			c, (unsigned long long)cap);
		return 0;
	}
	int large = (cap & CAP_2M) != 0;
	uint64_t probe = pa_of(probe_page), end = ((uint64_t)__bss_end + MiB2 - 1) & ~(MiB2 - 1);
	if (!large && end > EPT_PTS * MiB2) {
		kprintf("cpu %d: EPT: the kernel ends at 0x%lx, beyond the %d MiB of 4-KiB pages -- MISMATCH\n", c,
			(uint64_t)__bss_end, EPT_PTS * 2);
		failures++;
		return 0;
	}
	memset(ept_pml4[c], 0, sizeof(ept_pml4[c]));
	memset(ept_pdpt[c], 0, sizeof(ept_pdpt[c]));
	memset(ept_pd[c], 0, sizeof(ept_pd[c]));
	/* PML4E 0 -> PDPT, PDPTE 0 -> PD (Tables 29-1, 29-3): non-leaf
	 * entries with every permission, the leaves decide. */
	ept_pml4[c][0] = pa_of(ept_pdpt[c]) | EPT_RWX;
	ept_pdpt[c][0] = pa_of(ept_pd[c]) | EPT_RWX;
	int npt = 0;
	for (uint64_t i = 0; i < 512; i++) {
		uint64_t base = i * MiB2;
		if (base != (probe & ~(MiB2 - 1)) && (large || base >= end)) {
			/* A 2-MiB page (Table 29-4); without them only the
			 * kernel's first MiBs are mapped. */
			if (large)
				ept_pd[c][i] = base | EPT_RWX | EPT_WB | EPT_PAGE;
			continue;
		}
		uint64_t *pt = ept_pt[c][npt++];
		for (uint64_t j = 0; j < 512; j++)
			pt[j] = (base + j * 4096) | EPT_RWX | EPT_WB; /* Table 29-6 */
		ept_pd[c][i] = pa_of(pt) | EPT_RWX;                  /* Table 29-5 */
		if (base == (probe & ~(MiB2 - 1)))
			probe_pte[c] = &pt[(probe >> 12) & 511];
	}
	/* The page left out; ept-misconfig makes it write-only instead, a
	 * misconfiguration (29.3.3.1: bits 2:0 = 010b); ept-exec readable
	 * and writable but not executable (bit 2 clear: 29.3.3.2). */
	if (is("ept-misconfig"))
		*probe_pte[c] = probe | EPT_W | EPT_WB;
	else if (is("ept-exec"))
		*probe_pte[c] = probe | EPT_R | EPT_W | EPT_WB;
	else
		*probe_pte[c] = 0;

	/* EPTP (25.6.11): memory type WB (6) where bit 14 allows it, else UC
	 * (0, bit 8); page-walk length 4, minus 1, in bits 5:3. */
	int wb = (cap & CAP_WB) != 0;
	eptp[c] = pa_of(ept_pml4[c]) | (wb ? 6 : 0) | 3 << 3;
	if (cap & CAP_INVEPT)
		invept_type[c] = cap & CAP_INVEPT_SINGLE ? 1 : cap & CAP_INVEPT_ALL ? 2 : 0;
	ept_on[c] = 1;
	vpid_on[c] = (proc2 >> 32 & SEC_VPID) != 0;
	probe_page[0] = PROBE_VALUE;
	((uint8_t *)probe_page)[EXEC_OFFSET] = 0xC3; /* RET */
	other_page[0] = OTHER_VALUE;
	ept_calls[c] = 0;
	ept_qual[c] = ept_gpa[c] = ept_gla[c] = 0;
	const char *how = is("ept-misconfig") ? "write-only" : is("ept-exec") ? "not executable" : "left out";
	if (large)
		kprintf("cpu %d: EPT: identity map of 0-1 GiB (4 levels, 2-MiB pages), gpa 0x%lx %s; "
			"EPTP 0x%lx (%s, walk length 4)",
			c, probe, how, eptp[c], wb ? "WB" : "UC");
	else
		kprintf("cpu %d: EPT: identity map of 0-%lu MiB (4 levels, 4-KiB pages), gpa 0x%lx %s; "
			"EPTP 0x%lx (%s, walk length 4)",
			c, end >> 20, probe, how, eptp[c], wb ? "WB" : "UC");
	if (vpid_on[c])
		kprintf("; VPID %d\n", c + 1);
	else
		kprintf("; no VPID\n");
	return SEC_EPT | (vpid_on[c] ? SEC_VPID : 0);
}

/* print_qual decodes an EPT violation's exit qualification briefly (Table
 * 28-7): the access, then what the entries allowed. */
static void print_qual(uint64_t q)
{
	kprintf("%s, ", q & QUAL_FETCH ? "fetch" : q & QUAL_WRITE ? "write" : "read");
	if (!(q & QUAL_PERMS))
		kprintf("not present");
	else
		kprintf("allowed %s%s%s", q >> 3 & 1 ? "r" : "-", q >> 4 & 1 ? "w" : "-", q >> 5 & 1 ? "x" : "-");
}

#define MAX_EXITS 8
static uint64_t host_sp[MAX_CPUS];   /* vmx_enter's stack, to return to */
static uint64_t resume_fl[MAX_CPUS]; /* RFLAGS of a failed VMRESUME */
static uint32_t exit_log[MAX_CPUS][MAX_EXITS];
static int nexits[MAX_CPUS];
static char vendor[MAX_CPUS][13];
static uint64_t guest_read[MAX_CPUS][3]; /* RSI at each VMCALL: what the guest read from the probe page */

/* Exit reasons (Vol. 3C Appendix C) the demo can meet. */
static const char *exit_name(uint32_t r)
{
	switch (r & 0xFFFF) {
	case 0:
		return "exception or NMI";
	case 2:
		return "triple fault";
	case 10:
		return "CPUID";
	case 18:
		return "VMCALL";
	case 28:
		return "control-register access";
	case 33:
		return "VM-entry failure due to invalid guest state";
	case 34:
		return "VM-entry failure due to MSR loading";
	case 48:
		return "EPT violation";
	case 49:
		return "EPT misconfiguration";
	}
	return "unexpected";
}

/* ept_exit handles an EPT violation (48) or misconfiguration (49) on CPU
 * c: the exit information (28.2.1: the qualification of Table 28-7, the
 * guest-physical address, for a violation with bit 7 the guest-linear
 * one), then, for the probe page, the fix — map it (or, for the write-only
 * entry, give it every permission), INVEPT — and VMRESUME without moving
 * the guest's RIP: the access did not complete, the guest retries it.
 * Returns 0 to VMRESUME, or vmx_enter's stack to give up. */
static uint64_t ept_exit(int c, uint32_t reason, uint64_t qual)
{
	uint64_t gpa = vmread_raw(VMCS_GUEST_PHYS);
	int fix = (gpa >> 12) == (pa_of(probe_page) >> 12) && nexits[c] < MAX_EXITS;
	if (reason == 48) {
		ept_qual[c] = qual;
		ept_gpa[c] = gpa;
		ept_gla[c] = qual & QUAL_LINEAR ? vmread_raw(VMCS_GUEST_LINEAR) : 0;
		kprintf("cpu %d: vm-exit reason 48 (EPT violation) qual 0x%lx (", c, qual);
		print_qual(qual);
		const char *act = !fix ? "done"
				  : qual & QUAL_PERMS ? invept_type[c] ? "allow it, INVEPT, resume" : "allow it, resume"
				  : invept_type[c] ? "map, INVEPT, resume"
						    : "map, resume";
		kprintf(") gpa 0x%lx -> %s\n", gpa, act);
	} else {
		ept_gpa[c] = gpa;
		kprintf("cpu %d: vm-exit reason 49 (EPT misconfiguration) gpa 0x%lx -> %s\n", c, gpa,
			fix ? invept_type[c] ? "fix the entry, INVEPT, resume" : "fix the entry, resume" : "done");
	}
	if (!fix)
		return host_sp[c];
	*probe_pte[c] = pa_of(probe_page) | EPT_RWX | EPT_WB;
	ept_flush(c);
	return 0;
}

/* vmexit handles one VM exit (called by vmexit_entry on the CPU's exit
 * stack): it reads the exit information (Vol. 3C 25.9.1), emulates CPUID
 * and resumes after it, or ends the guest at VMCALL or a VM-entry
 * failure.  Returns 0 to VMRESUME, or vmx_enter's stack to return there. */
uint64_t vmexit(struct guest_regs *g)
{
	int c = this_cpu();
	uint32_t reason = (uint32_t)vmread_raw(VMCS_EXIT_REASON);
	uint64_t qual = vmread_raw(VMCS_EXIT_QUAL);
	if (nexits[c] < MAX_EXITS)
		exit_log[c][nexits[c]] = reason;
	nexits[c]++;
	if (reason >> 31) {
		/* A VM-entry failure (28.8): bit 31 set, no instruction. */
		kprintf("cpu %d: VM-entry failure: exit reason %u (%s) with bit 31 set, qual 0x%lx\n", c, reason & 0xFFFF,
			exit_name(reason), qual);
		return host_sp[c];
	}
	if ((reason == 48 || reason == 49) && ept_on[c])
		return ept_exit(c, reason, qual);
	uint32_t len = (uint32_t)vmread_raw(VMCS_EXIT_INSN_LEN);
	uint64_t rip = vmread_raw(VMCS_GUEST_RIP);
	int resume = 0, note = 0;
	if (reason == 10) {
		/* CPUID: the host executes it for the guest (26.1.2: CPUID
		 * always exits). */
		uint32_t a, b, cx, d;
		cpuid_count((uint32_t)g->rax, (uint32_t)g->rcx, &a, &b, &cx, &d);
		g->rax = a;
		g->rbx = b;
		g->rcx = cx;
		g->rdx = d;
		resume = nexits[c] < MAX_EXITS;
	} else if (reason == 18) {
		/* VMCALL: the guest is done; it hands back CPUID's vendor, and
		 * in RSI what it read from the probe page. */
		memcpy(vendor[c], &g->rbx, 4);
		memcpy(vendor[c] + 4, &g->rdx, 4);
		memcpy(vendor[c] + 8, &g->rcx, 4);
		guest_read[c][ept_calls[c] < 3 ? ept_calls[c] : 2] = g->rsi;
		ept_calls[c]++;
		if (ept_on[c] && is("no-invept") && ept_calls[c] < 3) {
			/* The guest read P once through the map (a translation
			 * now cached under this EPTP and VPID: 29.4.1). Point
			 * P's entry at Q without INVEPT (29.4.3.3 asks for one
			 * after changing bits 51:12) and let it read again;
			 * then INVEPT, and a third read. */
			note = ept_calls[c];
			if (note == 1)
				*probe_pte[c] = pa_of(other_page) | EPT_RWX | EPT_WB;
			resume = 1;
		}
	}
	kprintf("cpu %d: vm-exit reason %u (%s) qual 0x%lx len %u -> %s\n", c, reason, exit_name(reason), qual, len,
		resume ? "resume" : "done");
	if (note == 1)
		kprintf("cpu %d: the guest read 0x%lx at gpa 0x%lx; its EPT entry now points at 0x%lx (holding 0x%lx), "
			"no INVEPT\n",
			c, g->rsi, pa_of(probe_page), pa_of(other_page), (uint64_t)OTHER_VALUE);
	if (note == 2) {
		if (g->rsi == PROBE_VALUE)
			kprintf("cpu %d: the guest read 0x%lx: the old page, through the stale cached translation; "
				"INVEPT removes it\n",
				c, g->rsi);
		else
			kprintf("cpu %d: the guest read 0x%lx: no cached translation was used\n", c, g->rsi);
		ept_flush(c);
	}
	if (ept_on[c] && is("no-invept") && ept_calls[c] == 3)
		kprintf("cpu %d: after INVEPT the guest read 0x%lx: the new page\n", c, g->rsi);
	if (!resume)
		return host_sp[c];
	/* The exit saved the RIP of the instruction that caused it and its
	 * length (28.3.3, 28.2.4): the host moves the guest past it. */
	if (!same(vmwrite(VMCS_GUEST_RIP, rip + len), OK)) {
		kprintf("cpu %d: VMWRITE of the guest RIP failed -- MISMATCH\n", c);
		failures++;
		return host_sp[c];
	}
	return 0;
}

uint64_t vmresume_failed(uint64_t rflags)
{
	int c = this_cpu();
	resume_fl[c] = rflags;
	return host_sp[c];
}

/* flags_res is the outcome of a VMLAUNCH/VMRESUME that fell through. */
static struct res flags_res(uint64_t fl)
{
	if (fl & RFLAGS_CF)
		return INVALID;
	if (fl & RFLAGS_ZF)
		return VALID((uint32_t)vmread_raw(VMCS_INSTR_ERROR));
	return OK;
}

static void vmw(int c, uint32_t enc, uint64_t val)
{
	struct res r = vmwrite(enc, val);
	if (!same(r, OK)) {
		kprintf("cpu %d: VMWRITE 0x%04x = 0x%lx: ", c, enc, val);
		print_res(r);
		kprintf(" -- MISMATCH\n");
		failures++;
	}
}

/* control is a VMX control field's value: the allowed-0 settings of its
 * capability MSR (the TRUE_* one when IA32_VMX_BASIC[55] says it exists:
 * Vol. 3D A.2) forced to 1, the wanted bits, nothing else. */
static uint32_t control(int c, uint32_t msr, uint32_t true_msr, uint32_t want, const char *name)
{
	uint64_t v = rdmsr(basic0 >> 55 & 1 ? true_msr : msr);
	uint32_t a0 = (uint32_t)v, a1 = (uint32_t)(v >> 32);
	if (want & ~a1) {
		kprintf("cpu %d: the %s controls do not allow 0x%x (allowed-1 0x%x) -- MISMATCH\n", c, name, want, a1);
		failures++;
	}
	return (a0 | want) & a1;
}

#define EXIT_HOST_ADDR_SPACE (1u << 9) /* VM-exit control "host address-space size" (Vol. 3C 25.7.1) */
#define ENTRY_IA32E_GUEST (1u << 9)    /* VM-entry control "IA-32e mode guest" (25.8.1) */
#define AR_UNUSABLE 0x10000u

/* vmw_cb is vmw for vmcs64_fill (lib/vmcs64.c): arg points at the CPU. */
static void vmw_cb(void *arg, uint32_t enc, uint64_t val) { vmw(*(int *)arg, enc, val); }

/* launch_vmcs fills the current VMCS (lib/vmcs64.c): controls, host state
 * (this kernel, resuming at vmexit_entry on the exit stack), guest state
 * (guest_entry in 64-bit mode, sharing the kernel's page tables, GDT and
 * IDT). */
static void launch_vmcs(int c, uint32_t ctl[5])
{
	uint64_t cr0 = read_cr0(), cr3 = read_cr3(), cr4 = read_cr4();
	struct vmcs64 s = {
		.pin = ctl[0], .proc = ctl[1], .exit = ctl[2], .entry = ctl[3],
		.host_cr0 = cr0, .host_cr3 = cr3, .host_cr4 = cr4,
		.guest_cr0 = cr0, .guest_cr3 = cr3, .guest_cr4 = cr4,
		.tr = tss_sel(c), .tr_limit = sizeof(struct tss64) - 1, .tr_base = (uint64_t)&tss[c],
		.gdt_base = kgdt_desc.base, .gdt_limit = kgdt_desc.limit,
		.idt_base = idt_desc.base, .idt_limit = idt_desc.limit,
		.host_rsp = (uint64_t)&exit_stacks[c][EXIT_STACK], .host_rip = (uint64_t)vmexit_entry,
		.guest_rsp = (uint64_t)&guest_stacks[c][sizeof(guest_stacks[c])], .guest_rip = (uint64_t)guest_entry,
		/* 64-bit code; 0xA09A: not accessed */
		.guest_cs_ar = is("bad-guest-seg") ? 0xA09A : 0xA09B,
	};
	if (is("bad-host-cr3"))
		s.host_cr3 |= 1ull << maxphyaddr;
	if (is("bad-host-cr4"))
		s.host_cr4 &= ~CR4_VMXE;
	vmcs64_fill(&s, vmw_cb, &c);
}

/* ept_check holds the EPT step's outcome against the SDM: the violation's
 * exit information (Table 28-7: a data read, bit 0; not present, bits
 * 5:3 = 0; a guest-linear address, bit 7, whose translation was the
 * access, bit 8; bits 9-11 only with IA32_VMX_EPT_VPID_CAP bit 22; the
 * guest-physical and guest-linear addresses those of the probe page, the
 * guest sharing the host's identity-mapped page tables) and the values
 * the guest read. */
static void ept_check(int c)
{
	uint64_t probe = pa_of(probe_page);
	if (is("ept-misconfig")) {
		check(c, ept_gpa[c] == probe, "the EPT misconfiguration's guest-physical address is not the probe page's");
	} else if (is("ept-exec")) {
		/* An instruction fetch (bit 2) from a page the entries allow to
		 * be read and written (bits 3, 4), at the RET's address. */
		uint64_t q = ept_qual[c], want = QUAL_FETCH | EPT_R << 3 | EPT_W << 3 | QUAL_LINEAR | QUAL_TRANSLATION;
		check(c, (q & 0x1FF) == want, "the EPT violation's qualification is not a fetch from a read/write page (0x19c)");
		check(c, (ept_cap & CAP_ADV_INFO) || (q & 0xE00) == 0,
		      "qualification bits 11:9 set without advanced VM-exit information");
		check(c, ept_gpa[c] == probe + EXEC_OFFSET, "the EPT violation's guest-physical address is not the RET's");
		check(c, ept_gla[c] == probe + EXEC_OFFSET, "the EPT violation's guest-linear address is not the RET's");
	} else {
		uint64_t q = ept_qual[c], want = QUAL_READ | QUAL_LINEAR | QUAL_TRANSLATION;
		check(c, (q & 0x1FF) == want, "the EPT violation's qualification is not a not-present data read (0x181)");
		check(c, (ept_cap & CAP_ADV_INFO) || (q & 0xE00) == 0,
		      "qualification bits 11:9 set without advanced VM-exit information");
		check(c, (q & ~0xFFFull) == 0, "qualification bits 63:12 set");
		check(c, ept_gpa[c] == probe, "the EPT violation's guest-physical address is not the probe page's");
		check(c, ept_gla[c] == probe, "the EPT violation's guest-linear address is not the probe page's");
	}
	if (is("no-invept")) {
		/* The second read may use the cached translation or not (29.4:
		 * a processor may cache, and keeps what it cached until
		 * invalidated); after INVEPT it must see Q. */
		check(c, guest_read[c][0] == PROBE_VALUE, "the guest's first read did not return the probe page's value");
		check(c, guest_read[c][1] == PROBE_VALUE || guest_read[c][1] == OTHER_VALUE,
		      "the guest's read after the change returned neither page's value");
		check(c, guest_read[c][2] == OTHER_VALUE, "after INVEPT the guest did not read the new page");
	} else
		check(c, guest_read[c][0] == PROBE_VALUE, "the guest did not read the probe page's value after the fix");
}

static void phase_launch(int c)
{
	if (!in_vmx[c])
		return;
	uint16_t tr = tss_sel(c);
	__asm__ volatile("lgdt %0" : : "m"(kgdt_desc));
	__asm__ volatile("ltr %0" : : "r"(tr));

	uint8_t *vmcs = vmcs_guest[c];
	memset(vmcs, 0, 4096);
	set_revision(vmcs, revision);
	uint64_t pa = pa_of(vmcs);
	if (!expect(c, "VMCLEAR", vmclear(pa), OK) || !expect(c, "VMPTRLD", vmptrld(pa), OK))
		return;
	/* The EPT step needs "activate secondary controls", "enable EPT"
	 * (and "enable VPID" where allowed) on top of the allowed-0
	 * settings. */
	uint32_t sec = ept_setup(c);
	uint32_t ctl[5] = {
		control(c, MSR_VMX_PINBASED, MSR_VMX_TRUE_PINBASED, 0, "pin-based"),
		control(c, MSR_VMX_PROCBASED, MSR_VMX_TRUE_PROCBASED, sec ? PROC_SECONDARY : 0, "processor-based"),
		control(c, MSR_VMX_EXIT, MSR_VMX_TRUE_EXIT, EXIT_HOST_ADDR_SPACE, "VM-exit"),
		control(c, MSR_VMX_ENTRY, MSR_VMX_TRUE_ENTRY, ENTRY_IA32E_GUEST, "VM-entry"),
		sec ? control(c, MSR_VMX_PROCBASED2, MSR_VMX_PROCBASED2, sec, "secondary processor-based") : 0,
	};
	launch_vmcs(c, ctl);
	if (sec) {
		vmw(c, VMCS_PROC2, ctl[4]);
		vmw(c, VMCS_EPTP, eptp[c]);
		if (vpid_on[c])
			vmw(c, VMCS_VPID, (uint64_t)c + 1); /* not 0000H (27.2.1.1) */
	}
	guest_probe = ept_on[c] ? pa_of(probe_page) : 0;
	guest_exec = ept_on[c] && is("ept-exec") ? pa_of(probe_page) + EXEC_OFFSET : 0;

	if (is("vmresume-clear"))
		expect(c, "VMRESUME before VMLAUNCH (launch state clear)", flags_res(vmx_enter(&host_sp[c], 1)), VALID(5));

	if (sec)
		kprintf("cpu %d: VMLAUNCH: controls pin 0x%x proc 0x%x proc2 0x%x exit 0x%x entry 0x%x\n", c, ctl[0],
			ctl[1], ctl[4], ctl[2], ctl[3]);
	else
		kprintf("cpu %d: VMLAUNCH: controls pin 0x%x proc 0x%x exit 0x%x entry 0x%x\n", c, ctl[0], ctl[1],
			ctl[2], ctl[3]);
	if (is("bad-eptp") && ept_on[c]) {
		/* The EPTP checks of VM entry (27.2.1.1, 25.6.11): memory type 0
		 * or 6 as IA32_VMX_EPT_VPID_CAP allows, page-walk length 4
		 * (or 5 with bit 7).  Type 2 is reserved; length 3 is bits
		 * 5:3 = 2. */
		uint64_t good = eptp[c], bad1 = (good & ~7ull) | 2, bad2 = (good & ~0x38ull) | 2 << 3;
		vmw(c, VMCS_EPTP, bad1);
		shown(c, "VMLAUNCH with EPTP memory type 2 (reserved)", flags_res(vmx_enter(&host_sp[c], 0)), VALID(7));
		vmw(c, VMCS_EPTP, bad2);
		shown(c, "VMLAUNCH with EPTP page-walk length 3", flags_res(vmx_enter(&host_sp[c], 0)), VALID(7));
		expect(c, "VMCLEAR", vmclear(pa), OK);
		return;
	}
	nexits[c] = 0;
	resume_fl[c] = 0;
	ept_calls[c] = 0;
	uint64_t fl = vmx_enter(&host_sp[c], 0);
	struct res want = (is("bad-host-cr3") || is("bad-host-cr4")) ? VALID(8) : OK;
	struct res got = flags_res(fl);
	if (!same(got, want) || got.kind != R_SUCCEED)
		shown(c, "VMLAUNCH", got, want);
	if (fl == 0) {
		/* The guest ran: its exits, as the SDM gives them. */
		static const uint32_t good[] = {10, 18}, good_ept[] = {10, 48, 18}, good_misconf[] = {10, 49, 18},
				      good_noinvept[] = {10, 48, 18, 18, 18}, bad_guest[] = {33u | 1u << 31};
		const uint32_t *w = good;
		int nw = 2;
		const char *what = "the guest did not exit with CPUID (10) then VMCALL (18)";
		if (is("bad-guest-seg")) {
			w = bad_guest, nw = 1;
			what = "the VM entry did not fail with exit reason 33";
		} else if (ept_on[c] && is("ept-exec")) {
			w = good_ept, nw = 3;
			what = "the guest did not exit with CPUID (10), EPT violation (48, the fetch), VMCALL (18)";
		} else if (ept_on[c] && is("ept-misconfig")) {
			w = good_misconf, nw = 3;
			what = "the guest did not exit with CPUID (10), EPT misconfiguration (49), VMCALL (18)";
		} else if (ept_on[c] && is("no-invept")) {
			w = good_noinvept, nw = 5;
			what = "the guest did not exit with CPUID (10), EPT violation (48), VMCALL (18) three times";
		} else if (ept_on[c]) {
			w = good_ept, nw = 3;
			what = "the guest did not exit with CPUID (10), EPT violation (48), VMCALL (18)";
		}
		int match = nexits[c] == nw;
		for (int i = 0; match && i < nw; i++)
			match = exit_log[c][i] == w[i];
		check(c, match, what);
		if (resume_fl[c])
			shown(c, "VMRESUME", flags_res(resume_fl[c]), OK);
		if (match && !is("bad-guest-seg")) {
			uint32_t a, b, cx, d;
			char host_vendor[13] = {0};
			cpuid(0, &a, &b, &cx, &d);
			memcpy(host_vendor, &b, 4);
			memcpy(host_vendor + 4, &d, 4);
			memcpy(host_vendor + 8, &cx, 4);
			say("cpu %d: the guest's CPUID vendor: %s\n", c, vendor[c]);
			check(c, !strcmp(vendor[c], host_vendor), "the guest did not get the CPUID the host emulated");
		}
		if (match && ept_on[c] && !is("bad-guest-seg"))
			ept_check(c);
		if (is("no-vmclear") && match)
			shown(c, "VMLAUNCH again without VMCLEAR (launch state launched)", flags_res(vmx_enter(&host_sp[c], 0)),
			      VALID(4));
	}
	expect(c, "VMCLEAR", vmclear(pa), OK);
}

/* ---- phase 4: VMXOFF ------------------------------------------------------- */

static void phase_vmxoff(int c)
{
	if (!in_vmx[c])
		return;
	if (expect(c, "VMXOFF", vmxoff(), OK)) {
		in_vmx[c] = 0;
		write_cr4(read_cr4() & ~CR4_VMXE);
		say("cpu %d: CR4.VMXE cleared\n", c);
	}
	if (is("vmread-no-vmcs")) {
		uint64_t v;
		expect(c, "VMREAD outside VMX operation", vmread(VMCS_EXIT_REASON, &v), UD);
	}
}

/* ---- running the phases on every CPU in turn ---------------------------- */

enum { PH_VMXON = 1, PH_VMCS, PH_LAUNCH, PH_VMXOFF };

static void run_phase(int c, int p)
{
	switch (p) {
	case PH_VMXON:
		phase_vmxon(c);
		break;
	case PH_VMCS:
		phase_vmcs(c);
		break;
	case PH_LAUNCH:
		phase_launch(c);
		break;
	case PH_VMXOFF:
		phase_vmxoff(c);
		break;
	}
}

static void all_cpus(int p)
{
	for (int c = 0; c < ncpus; c++) {
		if (c == 0) {
			run_phase(0, p);
			continue;
		}
		__atomic_store_n(&cmd[c], p, __ATOMIC_SEQ_CST);
		while (__atomic_load_n(&done[c], __ATOMIC_SEQ_CST) != p)
			pause();
	}
}

void ap_main(void)
{
	int c = this_cpu();
	__asm__ volatile("lidt %0" : : "m"(idt_desc));
	__atomic_store_n(&ap_online, c, __ATOMIC_SEQ_CST);
	for (;;) {
		int p;
		while ((p = __atomic_load_n(&cmd[c], __ATOMIC_SEQ_CST)) == done[c])
			pause();
		run_phase(c, p);
		__atomic_store_n(&done[c], p, __ATOMIC_SEQ_CST);
	}
}

/* ---- the BSP ---------------------------------------------------------------- */

static int checksum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += p[i];
	return s == 0;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static volatile uint64_t ebda_ptr = 0x40E;

/* madt_apic_ids reads the enabled processors' APIC IDs from the ACPI MADT. */
static int madt_apic_ids(void)
{
	const uint8_t *rsdp = 0;
	uint32_t ebda = (uint32_t)*(volatile uint16_t *)ebda_ptr << 4;
	for (uint32_t a = ebda; !rsdp && ebda >= 0x80000 && a < ebda + 1024; a += 16)
		if (!memcmp((const void *)(uint64_t)a, "RSD PTR ", 8))
			rsdp = (const uint8_t *)(uint64_t)a;
	for (uint32_t a = 0xE0000; !rsdp && a < 0x100000; a += 16)
		if (!memcmp((const void *)(uint64_t)a, "RSD PTR ", 8))
			rsdp = (const uint8_t *)(uint64_t)a;
	if (!rsdp || !checksum(rsdp, 20))
		return -1;
	const uint8_t *rsdt = (const uint8_t *)(uint64_t)rd32(rsdp + 16);
	if (memcmp(rsdt, "RSDT", 4) || !checksum(rsdt, rd32(rsdt + 4)))
		return -1;
	for (uint32_t off = 36; off < rd32(rsdt + 4); off += 4) {
		const uint8_t *t = (const uint8_t *)(uint64_t)rd32(rsdt + off);
		if (memcmp(t, "APIC", 4) || !checksum(t, rd32(t + 4)))
			continue;
		int n = 0;
		for (uint32_t o = 44; o < rd32(t + 4); o += t[o + 1])
			if (t[o] == 0 && (rd32(t + o + 4) & 1)) {
				if (n < MAX_CPUS)
					apic_ids[n] = t[o + 3];
				n++;
			}
		return n;
	}
	return -1;
}

static void delay(int n)
{
	for (volatile int i = 0; i < n; i++)
		pause();
}

static void send_ipi(uint32_t dest, uint32_t lo)
{
	while (lapic_read(LAPIC_ICR_LO) & (1 << 12))
		pause();
	lapic_write(LAPIC_ICR_HI, dest << 24);
	lapic_write(LAPIC_ICR_LO, lo);
}

/* map_lapic maps the 2-MiB page holding the local APIC (the entry maps the
 * first GiB only), uncached. */
static void map_lapic(void)
{
	uint64_t cr3;
	__asm__ volatile("movq %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(cr3 & ~0xFFFull);
	uint64_t *pdpt = (uint64_t *)(pml4[0] & ~0xFFFull);
	pd_high[(LAPIC_BASE >> 21) & 511] = (LAPIC_BASE & ~0x1FFFFFull) | 0x9B; /* P RW PWT PCD PS */
	pdpt[3] = pa_of(pd_high) | 0x3;
	__asm__ volatile("movq %0, %%cr3" : : "r"(cr3) : "memory");
	ap_cr3 = (uint32_t)cr3;
}

static int start_aps(void)
{
	memcpy((void *)(uint64_t)TRAMP_ADDR, tramp_start, (size_t)(tramp_end - tramp_start));
	for (int c = 1; c < ncpus; c++) {
		uint32_t id = apic_ids[c];
		ap_stack_top = (uint64_t)&ap_stacks[c][AP_STACK];
		__sync_synchronize();
		send_ipi(id, 0x4500); /* INIT, level assert */
		delay(2000);
		send_ipi(id, 0x8500); /* INIT level de-assert */
		delay(2000);
		for (int i = 0; i < 2; i++) {
			send_ipi(id, 0x4600 | (TRAMP_ADDR >> 12)); /* STARTUP */
			delay(2000);
		}
		for (uint32_t i = 0; __atomic_load_n(&ap_online, __ATOMIC_SEQ_CST) != c; i++) {
			if (i > 100000000u) {
				say("cpu %d (APIC ID %u) did not start\n", c, id);
				return 0;
			}
			pause();
		}
	}
	return 1;
}

void kmain(uint32_t magic, uint32_t mbi)
{
	uart_init();
	idt_init();
	gdt_init();
	__asm__ volatile("lidt %0" : : "m"(idt_desc));
	say("vmxemu vmxon guest\n");
	int parsed = parse_cmdline(magic, (const struct multiboot_info *)(uint64_t)mbi);
	if (parsed == 2) {
		list_scenarios();
		debug_exit(0x10);
	}
	if (!parsed) {
		kprintf("unknown scenario\n");
		list_scenarios();
		debug_exit(0x11);
	}
	for (size_t i = 0; i < NSCENARIOS; i++)
		if (is(scenarios[i].name)) {
			if (brief && i > 0)
				kprintf("scenario %s: %s\n", scenario, scenarios[i].what);
			else
				say("scenario %s: %s\n", scenario, scenarios[i].what);
		}
	if (brief && !is("none"))
		kprintf("(what the kernel sees: #GP/#UD caught by its IDT handler; VMfailInvalid = CF=1; "
			"VMfailValid(n) = ZF=1 and VM-instruction error n read with VMREAD 0x4400; "
			"exit reasons read with VMREAD 0x4402)\n");

	ncpus = fwcfg_cpus();
	int n = madt_apic_ids();
	if (n != ncpus) {
		say("the MADT lists %d processors, fw_cfg %d\n", n, ncpus);
		debug_exit(0x11);
	}
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;
	map_lapic();
	if ((lapic_read(LAPIC_ID) >> 24) != apic_ids[0]) {
		say("the BSP is not the MADT's first processor\n");
		debug_exit(0x11);
	}
	if (!start_aps())
		debug_exit(0x11);
	say("cpus: %d (%d started with INIT-SIPI-SIPI)\n", ncpus, ncpus - 1);
	if (is("shared-region") && ncpus < 2) {
		say("scenario shared-region needs at least 2 CPUs (-smp 2)\n");
		failures++;
	}

	all_cpus(PH_VMXON);
	int all = 1;
	for (int c = 0; c < ncpus; c++)
		all &= in_vmx[c];
	kprintf("hw.vmm.enable: %d\n", all);
	all_cpus(PH_VMCS);
	all_cpus(PH_LAUNCH);
	all_cpus(PH_VMXOFF);
	int any = 0;
	for (int c = 0; c < ncpus; c++)
		any |= in_vmx[c];
	if (all)
		kprintf("hw.vmm.enable: %d\n", any);

	if (failures) {
		kprintf("%d MISMATCHES; exiting with 0x11\n", failures);
		debug_exit(0x11);
	}
	kprintf("every outcome as the SDM says; exiting with 0x10\n");
	debug_exit(0x10);
}

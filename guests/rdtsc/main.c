/*
 * rdtsc: the exactness of vmxemu's time-stamp counter.
 *
 * vmxemu's contract (cpu/tsc.go, docs/CPU-MODELS.md "Time"): virtual time
 * advances one nanosecond per instruction retired (and none for the
 * delivery of an interrupt or exception), and the TSC counts the model's
 * nominal frequency, f MHz, against it: n ns after it was last set to B
 * (0 at reset) it reads B + floor(n * f / 1000).  An instruction that reads
 * the counter (RDTSC, RDTSCP, RDMSR of IA32_TIME_STAMP_COUNTER) sees the
 * instructions retired before it, so between two reads that are n
 * instructions apart, the first at time t0, the counter advances by
 * floor((t0 + n) * f / 1000) - floor(t0 * f / 1000).  The counter has not
 * been written before those reads, so t0 follows from the first read r0:
 * the one t0 with floor(t0 * f / 1000) = r0 (unique when f >= 1000).
 * WRMSR to IA32_TIME_STAMP_COUNTER (SDM Vol. 3B 18.17) sets the counter to
 * the value written as of the WRMSR, which then retires like any
 * instruction: an RDTSC right after it reads value + floor(f / 1000).
 *
 * The rate comes from the command line, "tsc_mhz=F" (default 1000, one
 * tick per instruction: QEMU -icount shift=0, where the TSC follows the
 * virtual clock at 1 ns per instruction, is the independent check of the
 * instruction counts).  Each measurement is one asm statement, so the
 * compiler puts nothing between the reads; its instruction count is stated
 * next to it.  The guest prints every measurement with its count, the
 * first read, the delta, the expected delta and PASS/FAIL, and exits 0x10
 * if all pass, 0x11 otherwise.
 */
#include "kernel.h"
#include "multiboot.h"

#define MSR_TSC 0x10 /* IA32_TIME_STAMP_COUNTER */
#define MSR_TSC_AUX 0xC0000103
#define EFLAGS_TF 0x100

struct trap_frame {
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax; /* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

extern const uint32_t isr_table[32]; /* vmxdetect/traps.S */
extern void db_handler(void);
volatile uint32_t db_count;

void trap(struct trap_frame *f);
void kmain(uint32_t magic, const struct multiboot_info *mbi);

/* Every exception but the single-step #DB below is unexpected. */
void trap(struct trap_frame *f)
{
	kprintf("unexpected exception %u (error 0x%x) at eip 0x%x\n", f->vector, f->error, f->eip);
	debug_exit(0x11);
}

/* The #DB handler for the single-step test: two instructions, INC and
 * IRET.  The IRET restores EFLAGS with TF=1, so the next instruction is
 * single-stepped again (SDM Vol. 3A 18.3.1.4). */
__asm__(".text\n"
	".globl db_handler\n"
	"db_handler:\n"
	"	incl db_count\n"
	"	iret\n");

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[32];

static void set_gate(int v, uint32_t a)
{
	idt[v] = (struct idt_gate){(uint16_t)a, 0x08, 0, 0x8E, (uint16_t)(a >> 16)};
}

static void idt_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) desc = {sizeof(idt) - 1, (uint32_t)(uintptr_t)idt};
	for (int i = 0; i < 32; i++)
		set_gate(i, isr_table[i]);
	set_gate(1, (uint32_t)(uintptr_t)db_handler);
	__asm__ volatile("lidt %0" : : "m"(desc));
}

static int failures;
static uint32_t tsc_mhz = 1000;

/* ticks is floor(ns * tsc_mhz / 1000), the counter's advance in ns. */
static uint64_t ticks(uint64_t ns)
{
	return ns / 1000 * tsc_mhz + ns % 1000 * tsc_mhz / 1000;
}

/* parse_cmdline takes tsc_mhz=F from the multiboot command line. */
static void parse_cmdline(const struct multiboot_info *mbi)
{
	if (!(mbi->flags & MB_INFO_CMDLINE))
		return;
	static const char key[] = "tsc_mhz=";
	for (const char *p = (const char *)(uintptr_t)mbi->cmdline; *p; p++) {
		if (memcmp(p, key, sizeof key - 1) != 0 || (p != (const char *)(uintptr_t)mbi->cmdline && p[-1] != ' '))
			continue;
		uint32_t v = 0;
		for (p += sizeof key - 1; *p >= '0' && *p <= '9'; p++)
			v = v * 10 + (uint32_t)(*p - '0');
		if (v >= 1000)
			tsc_mhz = v;
		return;
	}
}

/* check: n instructions from a first read r0 (the counter never written
 * before it) to a second read; got is the difference of the two reads. */
static void check(const char *name, uint32_t n, uint64_t r0, uint32_t got)
{
	uint64_t t0 = (r0 * 1000 + tsc_mhz - 1) / tsc_mhz; /* ceil(r0 * 1000 / f) */
	uint32_t want = (uint32_t)(ticks(t0 + n) - r0);
	int ok = got == want && ticks(t0) == r0;
	kprintf("%s: %u instructions from 0x%llx: delta %u expected %u %s\n", name, n, (unsigned long long)r0, got,
		want, ok ? "PASS" : "FAIL");
	if (!ok)
		failures++;
}

static void check_eq(const char *name, uint32_t got, uint32_t want)
{
	kprintf("%s: %u expected %u %s\n", name, got, want, got == want ? "PASS" : "FAIL");
	if (got != want)
		failures++;
}

static void check64(const char *name, uint64_t got, uint64_t want)
{
	kprintf("%s: 0x%llx expected 0x%llx %s\n", name, (unsigned long long)got, (unsigned long long)want,
		got == want ? "PASS" : "FAIL");
	if (got != want)
		failures++;
}

/* LEAD comes before the first read of a measurement and is not counted: it
 * puts that read in the middle of a straight-line run of code rather than
 * at a jump target. */
#define LEAD "nop\n\tnop\n\t"

/* FIRST is the first read of a measurement: the counter in EDI:ESI. */
#define FIRST "rdtsc\n\tmov %%eax, %%esi\n\tmov %%edx, %%edi\n\t"
#define R0 ((uint64_t)s1 << 32 | s)

#define LOOP_N 1000
#define LOOP4_N 100

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
	(void)magic;
	uart_init();
	idt_init();
	parse_cmdline(mbi);
	kprintf("vmxemu rdtsc guest\n");
	kprintf("tsc_mhz %u\n", tsc_mhz);
	uint32_t d, s, s1, c, hi, lo;

	/* rdtsc, mov, mov = 3 */
	__asm__ volatile(LEAD FIRST
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 :
			 : "edx");
	check("back-to-back", 3, R0, d);

	/* one basic block: rdtsc, mov, mov, nop, nop, nop = 6 */
	__asm__ volatile(LEAD FIRST
			 "nop\n\tnop\n\tnop\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 :
			 : "edx");
	check("same block, 3 nops", 6, R0, d);

	/* one basic block of 20 ALU instructions: rdtsc, mov, mov + 20 = 23 */
	__asm__ volatile(LEAD FIRST
			 ".rept 10\n\tadd $1, %%ecx\n\txor %%ecx, %%edx\n\t.endr\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 :
			 : "ecx", "edx", "cc");
	check("same block, 20 ALU ops", 23, R0, d);

	/* a taken jump over a ud2 (not executed): rdtsc, mov, mov, jmp, nop = 5 */
	__asm__ volatile(LEAD FIRST
			 "jmp 1f\n\tud2\n"
			 "1:\tnop\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 :
			 : "edx");
	check("taken jmp", 5, R0, d);

	/* a call to a two-instruction function: rdtsc, mov, mov, call, nop, ret = 6 */
	__asm__ volatile("jmp 2f\n"
			 "3:\tnop\n\tret\n"
			 "2:\t" LEAD FIRST
			 "call 3b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 :
			 : "edx", "memory");
	check("call/ret", 6, R0, d);

	/* a loop: rdtsc, mov, mov, mov + LOOP_N * (dec, jnz) = 4 + 2*1000 = 2004 */
	__asm__ volatile(LEAD FIRST
			 "mov %[n], %%ecx\n"
			 "1:\tdec %%ecx\n\tjnz 1b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 : [n] "i"(LOOP_N)
			 : "ecx", "edx", "cc");
	check("loop 1000 x (dec, jnz)", 4 + 2 * LOOP_N, R0, d);

	/* a loop of four: rdtsc, mov, mov, mov + LOOP4_N * (nop, add, dec, jnz) = 4 + 4*100 = 404 */
	__asm__ volatile(LEAD FIRST
			 "mov %[n], %%ecx\n"
			 "1:\tnop\n\tadd $2, %%edx\n\tdec %%ecx\n\tjnz 1b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 : [n] "i"(LOOP4_N)
			 : "ecx", "edx", "cc");
	check("loop 100 x (nop, add, dec, jnz)", 4 + 4 * LOOP4_N, R0, d);

	/*
	 * Single-stepping (SDM Vol. 3A 18.3.1.4): an instruction that starts
	 * with TF=1 is followed by a #DB trap.  Main flow: rdtsc, mov, mov,
	 * pushf, or, popf (sets TF: it started with TF=0, no trap), nop, nop,
	 * nop, pushf, and, popf (clears TF, but started with TF=1: trap) = 12
	 * instructions; the six from the first nop to the last popf each trap,
	 * and each #DB runs the handler's two instructions (incl, iret); the
	 * deliveries themselves retire nothing.  12 + 6*2 = 24, db_count 6.
	 */
	db_count = 0;
	__asm__ volatile(LEAD FIRST
			 "pushf\n\torl %[tf], (%%esp)\n\tpopf\n\t"
			 "nop\n\tnop\n\tnop\n\t"
			 "pushf\n\tandl %[ntf], (%%esp)\n\tpopf\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 : [tf] "i"(EFLAGS_TF), [ntf] "i"(~EFLAGS_TF)
			 : "edx", "cc", "memory");
	check("single-step: 6 #DB traps, handler of 2", 12 + 6 * 2, R0, d);
	check_eq("single-step: #DB count", db_count, 6);

	/* RDTSCP reads the same counter (and IA32_TSC_AUX into ECX):
	 * rdtsc, mov, mov = 3 */
	__asm__ volatile("wrmsr" : : "c"(MSR_TSC_AUX), "a"(0x2a), "d"(0));
	__asm__ volatile(LEAD FIRST
			 "rdtscp\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1), "=c"(c)
			 :
			 : "edx");
	check("rdtsc to rdtscp", 3, R0, d);
	check_eq("rdtscp: IA32_TSC_AUX in ecx", c, 0x2a);

	/* RDMSR of IA32_TIME_STAMP_COUNTER reads it too: rdtsc, mov, mov, mov = 4 */
	__asm__ volatile(LEAD FIRST
			 "mov %[msr], %%ecx\n\trdmsr\n\t"
			 "sub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 : [msr] "i"(MSR_TSC)
			 : "ecx", "edx");
	check("rdtsc to rdmsr(IA32_TIME_STAMP_COUNTER)", 4, R0, d);

	/* ... and RDTSC after RDMSR: rdmsr, mov, mov = 3 */
	__asm__ volatile("mov %[msr], %%ecx\n\trdmsr\n\t"
			 "mov %%eax, %%esi\n\tmov %%edx, %%edi\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=D"(s1)
			 : [msr] "i"(MSR_TSC)
			 : "ecx", "edx");
	check("rdmsr(IA32_TIME_STAMP_COUNTER) to rdtsc", 3, R0, d);

	/*
	 * WRMSR to IA32_TIME_STAMP_COUNTER, value V = 0x12fffffffe, preceded
	 * in its block by three MOVs: the counter is V as of the WRMSR; the
	 * WRMSR retires (one ns), so the RDTSC right after it reads
	 * V + floor(1 * f / 1000).
	 */
	const uint64_t v = 0x12fffffffeull;
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "rdtsc"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdtsc", (uint64_t)hi << 32 | lo, v + ticks(1));

	/* The same, with three NOPs after the WRMSR: wrmsr, nop, nop, nop =
	 * V + floor(4 * f / 1000) (at 1000 MHz 0x1300000002, the low half
	 * carrying into the high one). */
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "nop\n\tnop\n\tnop\n\t"
			 "rdtsc"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); 3 nops; rdtsc", (uint64_t)hi << 32 | lo, v + ticks(4));

	/* ... and RDMSR after the WRMSR: wrmsr, mov ecx (the same MSR
	 * index, again) = V + floor(2 * f / 1000) */
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "mov %[msr], %%ecx\n\t"
			 "rdmsr"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdmsr", (uint64_t)hi << 32 | lo, v + ticks(2));

	if (failures) {
		kprintf("exiting with 0x11 (%d failed)\n", failures);
		debug_exit(0x11);
	}
	kprintf("exiting with 0x10\n");
	debug_exit(0x10);
}

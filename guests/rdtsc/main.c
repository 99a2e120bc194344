/*
 * rdtsc: the exactness of vmxemu's time-stamp counter.
 *
 * vmxemu's contract (cpu/cpu.go, CPU.TSC): the TSC is the number of
 * instructions retired plus an offset - one tick per instruction, none for
 * the delivery of an interrupt or exception.  An instruction that reads the
 * counter (RDTSC, RDTSCP, RDMSR of IA32_TIME_STAMP_COUNTER) sees the
 * instructions retired before it, so the difference between two reads is
 * exactly the number of instructions executed from the first read
 * (included) to the second (excluded).  WRMSR to IA32_TIME_STAMP_COUNTER
 * (SDM Vol. 3B 18.17) sets the counter to the value written as of the
 * WRMSR, which then retires like any instruction: an RDTSC right after it
 * reads value + 1.
 *
 * Each measurement is one asm statement, so the compiler puts nothing
 * between the reads; the expected value is the instruction count of that
 * statement, stated next to it.  The guest prints every delta with its
 * expected value and PASS/FAIL, and exits 0x10 if all pass, 0x11 otherwise.
 *
 * vmxemu only: under QEMU (and on hardware) the TSC follows wall-clock time,
 * so these deltas are not instruction counts there.
 */
#include "kernel.h"

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
void kmain(uint32_t magic, const void *mbi);

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

static void check(const char *name, uint32_t got, uint32_t want)
{
	kprintf("%s: delta %u expected %u %s\n", name, got, want, got == want ? "PASS" : "FAIL");
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

#define LOOP_N 1000
#define LOOP4_N 100

void kmain(uint32_t magic, const void *mbi)
{
	(void)magic;
	(void)mbi;
	uart_init();
	idt_init();
	kprintf("vmxemu rdtsc guest\n");
	uint32_t d, s, c, hi, lo;

	/* rdtsc, mov = 2 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 :
			 : "edx");
	check("back-to-back", d, 2);

	/* one basic block: rdtsc, mov, nop, nop, nop = 5 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "nop\n\tnop\n\tnop\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 :
			 : "edx");
	check("same block, 3 nops", d, 5);

	/* one basic block of 20 ALU instructions: rdtsc, mov + 20 = 22 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 ".rept 10\n\tadd $1, %%ecx\n\txor %%ecx, %%edx\n\t.endr\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 :
			 : "ecx", "edx", "cc");
	check("same block, 20 ALU ops", d, 22);

	/* a taken jump over a ud2 (not executed): rdtsc, mov, jmp, nop = 4 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "jmp 1f\n\tud2\n"
			 "1:\tnop\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 :
			 : "edx");
	check("taken jmp", d, 4);

	/* a call to a two-instruction function: rdtsc, mov, call, nop, ret = 5 */
	__asm__ volatile("jmp 2f\n"
			 "3:\tnop\n\tret\n"
			 "2:\t" LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "call 3b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 :
			 : "edx", "memory");
	check("call/ret", d, 5);

	/* a loop: rdtsc, mov, mov + LOOP_N * (dec, jnz) = 3 + 2*1000 = 2003 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "mov %[n], %%ecx\n"
			 "1:\tdec %%ecx\n\tjnz 1b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 : [n] "i"(LOOP_N)
			 : "ecx", "edx", "cc");
	check("loop 1000 x (dec, jnz)", d, 3 + 2 * LOOP_N);

	/* a loop of four: rdtsc, mov, mov + LOOP4_N * (nop, add, dec, jnz) = 3 + 4*100 = 403 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "mov %[n], %%ecx\n"
			 "1:\tnop\n\tadd $2, %%edx\n\tdec %%ecx\n\tjnz 1b\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 : [n] "i"(LOOP4_N)
			 : "ecx", "edx", "cc");
	check("loop 100 x (nop, add, dec, jnz)", d, 3 + 4 * LOOP4_N);

	/*
	 * Single-stepping (SDM Vol. 3A 18.3.1.4): an instruction that starts
	 * with TF=1 is followed by a #DB trap.  Main flow: rdtsc, mov, pushf,
	 * or, popf (sets TF: it started with TF=0, no trap), nop, nop, nop,
	 * pushf, and, popf (clears TF, but started with TF=1: trap) = 11
	 * instructions; the six from the first nop to the last popf each trap,
	 * and each #DB runs the handler's two instructions (incl, iret); the
	 * deliveries themselves retire nothing.  11 + 6*2 = 23, db_count 6.
	 */
	db_count = 0;
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "pushf\n\torl %[tf], (%%esp)\n\tpopf\n\t"
			 "nop\n\tnop\n\tnop\n\t"
			 "pushf\n\tandl %[ntf], (%%esp)\n\tpopf\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 : [tf] "i"(EFLAGS_TF), [ntf] "i"(~EFLAGS_TF)
			 : "edx", "cc", "memory");
	check("single-step: 6 #DB traps, handler of 2", d, 11 + 6 * 2);
	check("single-step: #DB count", db_count, 6);

	/* RDTSCP reads the same counter (and IA32_TSC_AUX into ECX):
	 * rdtsc, mov = 2 */
	__asm__ volatile("wrmsr" : : "c"(MSR_TSC_AUX), "a"(0x2a), "d"(0));
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "rdtscp\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s), "=c"(c)
			 :
			 : "edx");
	check("rdtsc to rdtscp", d, 2);
	check("rdtscp: IA32_TSC_AUX in ecx", c, 0x2a);

	/* RDMSR of IA32_TIME_STAMP_COUNTER reads it too: rdtsc, mov, mov = 3 */
	__asm__ volatile(LEAD "rdtsc\n\tmov %%eax, %%esi\n\t"
			 "mov %[msr], %%ecx\n\trdmsr\n\t"
			 "sub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 : [msr] "i"(MSR_TSC)
			 : "ecx", "edx");
	check("rdtsc to rdmsr(IA32_TIME_STAMP_COUNTER)", d, 3);

	/* ... and RDTSC after RDMSR: rdmsr, mov = 2 */
	__asm__ volatile("mov %[msr], %%ecx\n\trdmsr\n\t"
			 "mov %%eax, %%esi\n\t"
			 "rdtsc\n\tsub %%esi, %%eax"
			 : "=a"(d), "=S"(s)
			 : [msr] "i"(MSR_TSC)
			 : "ecx", "edx");
	check("rdmsr(IA32_TIME_STAMP_COUNTER) to rdtsc", d, 2);

	/*
	 * WRMSR to IA32_TIME_STAMP_COUNTER, value V = 0x12fffffffe, preceded
	 * in its block by three MOVs: the counter is V as of the WRMSR; the
	 * WRMSR retires (V+1), so the RDTSC right after it reads V + 1.
	 */
	const uint64_t v = 0x12fffffffeull;
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "rdtsc"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdtsc", (uint64_t)hi << 32 | lo, v + 1);

	/* The same, with three NOPs after the WRMSR: wrmsr, nop, nop, nop =
	 * V + 4 = 0x1300000002, the low half carrying into the high one. */
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "nop\n\tnop\n\tnop\n\t"
			 "rdtsc"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); 3 nops; rdtsc", (uint64_t)hi << 32 | lo, v + 4);

	/* ... and RDMSR after the WRMSR: wrmsr, mov ecx (the same MSR
	 * index, again) = V + 2 */
	__asm__ volatile("mov %[msr], %%ecx\n\t"
			 "mov %[lo], %%eax\n\tmov %[hi], %%edx\n\t"
			 "wrmsr\n\t"
			 "mov %[msr], %%ecx\n\t"
			 "rdmsr"
			 : "=a"(lo), "=d"(hi)
			 : [msr] "i"(MSR_TSC), [lo] "i"((uint32_t)v), [hi] "i"((uint32_t)(v >> 32))
			 : "ecx");
	check64("wrmsr(IA32_TIME_STAMP_COUNTER, 0x12fffffffe); rdmsr", (uint64_t)hi << 32 | lo, v + 2);

	if (failures) {
		kprintf("exiting with 0x11 (%d failed)\n", failures);
		debug_exit(0x11);
	}
	kprintf("exiting with 0x10\n");
	debug_exit(0x10);
}

/*
 * exact: instruction details a held-out third-party suite found wrong in
 * vmxemu (issue 19), as far as QEMU gets them right, so the output is
 * compared side by side.
 *
 * INVLPG in 32-bit protected mode takes segment base + offset as the
 * linear address and applies none of the segment checks of a data access:
 * its protected-mode exceptions are #GP(0) for CPL > 0 and #UD for a
 * register operand only (SDM Vol. 2A INVLPG).  Each probe runs INVLPG
 * through a segment on which a MOV would fault:
 *
 *   a. DS with limit 0xFFF, offset 0x5000 (beyond the limit);
 *   b. ES holding the NULL selector;
 *   c. DS expand-down with limit 0xFFFF, offset 0x100 (at or below the
 *      limit, outside an expand-down segment).
 *
 * The guest loads its own GDT (flat code 0x08, flat data 0x10, the test
 * segments 0x18 and 0x20) and IDT; a fault in a probe is recorded and the
 * probe skipped.  Exits 0x10 when no probe faulted, 0x11 otherwise.
 */
#include "kernel.h"

struct trap_frame {
	uint32_t es, ds;
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax; /* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

extern const uint32_t isr_table[32];

static volatile uint32_t probe_len; /* bytes to skip, 0 = no probe */
static volatile int fault_vector = -1;
static volatile uint32_t fault_error;

void trap(struct trap_frame *f);
void kmain(uint32_t magic, const void *mbi);

void trap(struct trap_frame *f)
{
	if (probe_len != 0 && fault_vector < 0) {
		fault_vector = (int)f->vector;
		fault_error = f->error;
		f->eip += probe_len;
		return;
	}
	kprintf("unexpected exception %u (error 0x%x) at eip 0x%x\n", f->vector, f->error, f->eip);
	debug_exit(0x11);
}

/* Descriptors (SDM Vol. 3A 3.4.5): limit 15:0, base 23:0, access byte,
 * limit 19:16 with the G/D/L/AVL nibble, base 31:24. */
static const uint64_t gdt[] __attribute__((aligned(8))) = {
	0,
	0x00CF9A000000FFFFull, /* 0x08: code, base 0, 4 GiB, 32-bit */
	0x00CF92000000FFFFull, /* 0x10: data, base 0, 4 GiB */
	0x0040920000000FFFull, /* 0x18: data, base 0, limit 0xFFF bytes */
	0x004096000000FFFFull, /* 0x20: data, expand-down, limit 0xFFFF, B=1 */
};

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[32];

static void tables_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) g = {sizeof(gdt) - 1, (uint32_t)(uintptr_t)gdt},
				  i = {sizeof(idt) - 1, (uint32_t)(uintptr_t)idt};
	__asm__ volatile("lgdt %0\n\t"
			 "ljmp $0x08, $1f\n"
			 "1:\n\t"
			 "movl $0x10, %%eax\n\t"
			 "movl %%eax, %%ds\n\t"
			 "movl %%eax, %%es\n\t"
			 "movl %%eax, %%ss\n\t"
			 "movl %%eax, %%fs\n\t"
			 "movl %%eax, %%gs"
			 : : "m"(g) : "eax", "memory");
	for (int v = 0; v < 32; v++) {
		idt[v].off_lo = (uint16_t)isr_table[v];
		idt[v].sel = 0x08;
		idt[v].zero = 0;
		idt[v].type = 0x8E; /* present, DPL 0, 32-bit interrupt gate */
		idt[v].off_hi = (uint16_t)(isr_table[v] >> 16);
	}
	__asm__ volatile("lidt %0" : : "m"(i));
}

static int failures;

static void report(const char *name)
{
	if (fault_vector < 0) {
		kprintf("%s: no fault\n", name);
	} else {
		kprintf("%s: exception %d error 0x%x\n", name, fault_vector, fault_error);
		failures++;
	}
}

static void begin(uint32_t len)
{
	fault_vector = -1;
	fault_error = 0;
	probe_len = len;
}

void kmain(uint32_t magic, const void *mbi)
{
	(void)magic;
	(void)mbi;
	uart_init();
	kprintf("vmxemu exact guest\n");
	tables_init();

	/* a. INVLPG (%eax) is 0F 01 38: 3 bytes. */
	begin(3);
	__asm__ volatile("movl %1, %%ds\n\t"
			 "invlpg (%0)\n\t"
			 "movl %2, %%ds"
			 : : "a"(0x5000), "r"(0x18), "r"(0x10) : "memory");
	report("a: invlpg beyond the DS limit");

	/* b. ES override + INVLPG (%eax): 4 bytes. */
	begin(4);
	__asm__ volatile("movl %1, %%es\n\t"
			 "invlpg %%es:(%0)\n\t"
			 "movl %2, %%es"
			 : : "a"(0x1000), "r"(0), "r"(0x10) : "memory");
	report("b: invlpg through a NULL ES");

	/* c. Expand-down DS, offset 0x100 <= limit. */
	begin(3);
	__asm__ volatile("movl %1, %%ds\n\t"
			 "invlpg (%0)\n\t"
			 "movl %2, %%ds"
			 : : "a"(0x100), "r"(0x20), "r"(0x10) : "memory");
	report("c: invlpg at an expand-down DS offset below the limit");
	probe_len = 0;

	uint32_t code = failures ? 0x11 : 0x10;
	kprintf("exiting with 0x%x\n", code);
	debug_exit(code);
}

/*
 * nmi: NMI blocking, SDM Vol. 3A 6.7.1 "Handling Multiple NMIs":
 *
 *   "While an NMI interrupt handler is executing, the processor blocks
 *   delivery of subsequent NMIs until the next execution of the IRET
 *   instruction."
 *
 * and NMIs are edge-triggered: while blocked, one more NMI is held pending
 * (a latch, not a counter) and is delivered once the IRET unblocks them.
 *
 * The guest sends NMIs to itself through its local APIC's ICR (xAPIC MMIO
 * at 0xFEE00000): delivery mode NMI (100b), physical destination = its own
 * APIC ID, no shorthand (SDM Vol. 3A 10.6.1: the "self" shorthand is valid
 * with fixed delivery only, so a self-NMI names the APIC ID), level assert,
 * edge trigger, vector 0 (ignored for NMI).  Scenarios:
 *
 *   a. one self-NMI: the handler runs once.
 *   b. the handler sends a second self-NMI and spins: it must not be
 *      re-entered (depth stays 1); the NMI is held pending and taken as
 *      soon as the IRET unblocks NMIs, at the instruction boundary the IRET
 *      returns to, before any main-flow instruction: the second entry's
 *      saved IP equals the first's and the main loop's progress counter has
 *      not moved.
 *   c. the handler sends two more self-NMIs: only one is held pending, so
 *      the handler runs twice in all, not three times.
 *   d. the handler sends a self-NMI, then executes INT3: the #BP handler
 *      still runs with NMIs blocked, and its IRET - the next IRET executed -
 *      unblocks them, so the pending NMI nests into the first handler at
 *      the instruction after INT3 (depth 2).
 *
 * Every line is deterministic, so the output must be identical under QEMU
 * and vmxemu.  Built 32-bit (entry lib/entry32.S) and 64-bit (entry
 * compute64/entry.S; the APIC page is mapped here).  Exits 0x10 when every
 * scenario behaves as the SDM says, 0x11 otherwise.
 */
#include "kernel.h"

#define LAPIC_BASE 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define ICR_DELIVERY_NMI (4u << 8) /* delivery mode 100b */
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_BUSY (1u << 12) /* delivery status: send pending */

#define VEC_NMI 2
#define VEC_BP 3

#define SPIN_HANDLER 5000 /* loop iterations inside the handler */
#define SPIN_WAIT 1000000 /* bound on every wait for an NMI */
#define SPIN_SETTLE 20000 /* time for a wrongly extra NMI to show up */
#define MAX_ENTRIES 8

void trap(unsigned long vector, unsigned long ip);
void kmain(unsigned long magic, const void *mbi);

extern const unsigned long isr_table[32];

static uint32_t apic_id;

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(uintptr_t)(LAPIC_BASE + reg) = v; }

static void send_self_nmi(void)
{
	for (int i = 0; i < SPIN_WAIT && (lapic_read(LAPIC_ICR_LO) & ICR_BUSY); i++)
		;
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, ICR_LEVEL_ASSERT | ICR_DELIVERY_NMI);
}

/* State of the running scenario, reset by begin(). */
enum { SC_A = 'a', SC_B, SC_C, SC_D };
static volatile int scenario;
static volatile unsigned nmis;          /* handler entries */
static volatile unsigned depth, max_depth;
static volatile unsigned long entry_ip[MAX_ENTRIES + 1];
static volatile unsigned long entry_progress[MAX_ENTRIES + 1];
static volatile unsigned entry_depth[MAX_ENTRIES + 1];
static volatile unsigned long progress; /* the main flow's loop counter */
static volatile int handler_done;       /* the first handler is about to IRET */
static volatile unsigned bp_hits, nmis_in_bp, nmis_before_int3, nmis_after_int3;
static volatile unsigned long bp_ip;

static void spin(int n)
{
	for (volatile int i = 0; i < n; i++)
		;
}

static void on_nmi(unsigned long ip)
{
	unsigned n = ++nmis;
	if (++depth > max_depth)
		max_depth = depth;
	if (n <= MAX_ENTRIES) {
		entry_ip[n] = ip;
		entry_progress[n] = progress;
		entry_depth[n] = depth;
	}
	if (n == 1) {
		switch (scenario) {
		case SC_B:
			send_self_nmi();
			spin(SPIN_HANDLER);
			break;
		case SC_C:
			send_self_nmi();
			spin(SPIN_HANDLER);
			send_self_nmi();
			spin(SPIN_HANDLER);
			break;
		case SC_D:
			send_self_nmi();
			spin(SPIN_HANDLER);
			nmis_before_int3 = nmis;
			__asm__ volatile("int3" ::: "memory");
			nmis_after_int3 = nmis;
			break;
		}
		handler_done = 1;
	}
	depth--;
}

static void on_bp(unsigned long ip)
{
	bp_hits++;
	bp_ip = ip; /* #BP is a trap: the saved IP is the instruction after INT3 */
	nmis_in_bp = nmis;
	spin(SPIN_HANDLER);
}

void trap(unsigned long vector, unsigned long ip)
{
	switch (vector) {
	case VEC_NMI:
		on_nmi(ip);
		return;
	case VEC_BP:
		on_bp(ip);
		return;
	}
	kprintf("unexpected exception %lu at ip 0x%lx\n", vector, ip);
	debug_exit(0x11);
}

/* IDT gates: 32-bit interrupt gates (8 bytes) or 64-bit ones (16 bytes),
 * type 0xE, present, DPL 0 (SDM Vol. 3A 6.11, 6.14.1). */
struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t ist, type;
	uint16_t off_mid;
#ifdef __x86_64__
	uint32_t off_hi, reserved;
#endif
} __attribute__((packed));

static struct idt_gate idt[32] __attribute__((aligned(16)));

static void idt_init(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	for (int i = 0; i < 32; i++) {
		unsigned long a = isr_table[i];
		idt[i] = (struct idt_gate){0};
		idt[i].off_lo = (uint16_t)a;
		idt[i].sel = cs;
		idt[i].type = 0x8E;
		idt[i].off_mid = (uint16_t)(a >> 16);
#ifdef __x86_64__
		idt[i].off_hi = (uint32_t)(a >> 32);
#endif
	}
	struct {
		uint16_t limit;
		unsigned long base;
	} __attribute__((packed)) desc = {sizeof(idt) - 1, (unsigned long)idt};
	__asm__ volatile("lidt %0" : : "m"(desc));
}

#ifdef __x86_64__
/* compute64/entry.S identity-maps the first 1 GiB only: map the 2 MiB page
 * holding the APIC (0xFEE00000 = PDPT entry 3, PD entry 0x1F7), uncached. */
static uint64_t apic_pd[512] __attribute__((aligned(4096)));

static void map_apic(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(uintptr_t)(cr3 & ~0xFFFull);
	uint64_t *pdpt = (uint64_t *)(uintptr_t)(pml4[0] & 0x000FFFFFFFFFF000ull);
	apic_pd[(LAPIC_BASE >> 21) & 511] = LAPIC_BASE | 0x80 | 0x10 | 0x08 | 0x2 | 0x1; /* PS PCD PWT RW P */
	pdpt[3] = (uint64_t)(uintptr_t)apic_pd | 0x2 | 0x1;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}
#endif

static void begin(int sc)
{
	scenario = sc;
	nmis = 0;
	depth = max_depth = 0;
	for (int i = 0; i <= MAX_ENTRIES; i++) {
		entry_ip[i] = 0;
		entry_progress[i] = 0;
		entry_depth[i] = 0;
	}
	progress = 0;
	handler_done = 0;
	bp_hits = nmis_in_bp = nmis_before_int3 = nmis_after_int3 = 0;
	bp_ip = 0;
}

/* run sends the first NMI and counts main-flow progress until the first
 * handler has returned, then leaves time for any further NMIs. */
static void run(void)
{
	send_self_nmi();
	for (int i = 0; i < SPIN_WAIT && !handler_done; i++)
		progress++;
	spin(SPIN_SETTLE);
}

static int failures;

static void verdict(int ok)
{
	kprintf(": %s\n", ok ? "PASS" : "FAIL");
	if (!ok)
		failures++;
}

static const char *yesno(int b) { return b ? "yes" : "no"; }

void kmain(unsigned long magic, const void *mbi)
{
	(void)magic;
	(void)mbi;
	uart_init();
	kprintf("vmxemu nmi guest\n");
	kprintf("mode: %d-bit\n", (int)sizeof(long) * 8);
#ifdef __x86_64__
	map_apic();
#endif
	idt_init();
	apic_id = lapic_read(LAPIC_ID) >> 24;
	lapic_write(LAPIC_SVR, lapic_read(LAPIC_SVR) | 0x100); /* APIC software enable */

	/* a. One self-NMI. */
	begin(SC_A);
	run();
	kprintf("a: one self-NMI: handler ran %u time(s), max depth %u", nmis, max_depth);
	verdict(nmis == 1 && max_depth == 1);

	/* b. A second NMI sent inside the handler is held until the IRET. */
	begin(SC_B);
	run();
	int at_return = nmis >= 2 && entry_ip[2] == entry_ip[1] && entry_progress[2] == entry_progress[1];
	kprintf("b: NMI sent inside the handler: handler ran %u time(s), max depth %u, "
		"second one taken at the IRET's return point: %s",
		nmis, max_depth, yesno(at_return));
	verdict(nmis == 2 && max_depth == 1 && entry_depth[2] == 1 && at_return);

	/* c. Two NMIs sent inside the handler: one is held pending, one is lost. */
	begin(SC_C);
	run();
	at_return = nmis >= 2 && entry_ip[2] == entry_ip[1] && entry_progress[2] == entry_progress[1];
	kprintf("c: two NMIs sent inside the handler: handler ran %u time(s), max depth %u, "
		"second one taken at the IRET's return point: %s",
		nmis, max_depth, yesno(at_return));
	verdict(nmis == 2 && max_depth == 1 && at_return);

	/* d. The IRET of a #BP handler inside the NMI handler unblocks NMIs. */
	begin(SC_D);
	run();
	int after_int3 = nmis >= 2 && bp_hits == 1 && entry_ip[2] == bp_ip;
	kprintf("d: NMI sent inside the handler, then int3: handler ran %u time(s) (%u before int3, %u in the #BP "
		"handler, %u after it), max depth %u, nested at the instruction after int3: %s",
		nmis, nmis_before_int3, nmis_in_bp, nmis_after_int3, max_depth, yesno(after_int3));
	verdict(nmis == 2 && nmis_before_int3 == 1 && nmis_in_bp == 1 && nmis_after_int3 == 2 && max_depth == 2 &&
		entry_depth[2] == 2 && after_int3);

	if (failures) {
		kprintf("exiting with 0x11 (%d failed)\n", failures);
		debug_exit(0x11);
	}
	kprintf("all checks passed\n");
	kprintf("exiting with 0x10\n");
	debug_exit(0x10);
}

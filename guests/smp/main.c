/*
 * smp: a 32-bit multiboot kernel that brings up every processor the way
 * kernels do and exercises the local APICs, then prints what it saw, in
 * CPU order, after a barrier (so the output is the same however the
 * processors were scheduled):
 *
 *  - the CPU count from fw_cfg, the ACPI MADT and the MP table;
 *  - the BSP's local APIC as the firmware left it;
 *  - AP start-up with INIT, INIT de-assert, STARTUP, STARTUP (a real-mode
 *    trampoline copied to 0x8000), one AP at a time;
 *  - per-CPU counters under a spinlock (LOCK CMPXCHG) and a LOCK XADD
 *    counter, every CPU at once;
 *  - each CPU's APIC timer, one-shot then periodic;
 *  - IPIs: a fixed IPI to each AP answered by an IPI back to the BSP, a
 *    broadcast to all but self, a self IPI, NMIs, and a logical-destination
 *    (flat model) IPI;
 *  - the PIT's IRQ 0 through the I/O APIC (pin 2).
 *
 * Exits with 0x10 when every check passes, 0x11 otherwise.
 */
#include "kernel.h"

#define MAX_CPUS 256
#define TRAMP_ADDR 0x8000
#define WORK_ITERS 200

/* Local APIC registers (SDM Vol. 3A Table 11-1). */
#define LAPIC_BASE 0xFEE00000u
#define LAPIC_ID 0x020
#define LAPIC_TPR 0x080
#define LAPIC_EOI 0x0B0
#define LAPIC_LDR 0x0D0
#define LAPIC_DFR 0x0E0
#define LAPIC_SVR 0x0F0
#define LAPIC_ICR_LO 0x300
#define LAPIC_ICR_HI 0x310
#define LAPIC_TIMER 0x320
#define LAPIC_LINT0 0x350
#define LAPIC_LINT1 0x360
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR 0x390
#define LAPIC_TIMER_DIV 0x3E0

/* Vectors. */
#define VEC_TIMER 0x40
#define VEC_PING 0x50
#define VEC_PONG 0x51
#define VEC_BCAST 0x52
#define VEC_LOGICAL 0x53
#define VEC_PIT 0x60
#define VEC_SPURIOUS 0xFF

#define IOAPIC_BASE 0xFEC00000u

extern char tramp_start[], tramp_end[];
extern void isr_nmi(void), isr_timer(void), isr_ping(void), isr_pong(void),
	isr_bcast(void), isr_logical(void), isr_pit(void), isr_spurious(void), isr_other(void);

void kmain(uint32_t magic, void *mbi);
void ap_main(void);
void on_nmi(void), on_timer(void), on_ping(void), on_pong(void), on_bcast(void),
	on_logical(void), on_pit(void), on_spurious(void), on_other(void);

/* Shared state.  Everything the CPUs exchange is volatile. */
static int ncpus;
static uint8_t apic_ids[MAX_CPUS];
static volatile uint8_t cpu_of_apic[256];
uint32_t ap_stack_top; /* read by the trampoline */
static uint8_t ap_stacks[MAX_CPUS][4096] __attribute__((aligned(16)));
static volatile int booting_cpu;
static volatile int ap_online;

static volatile uint32_t lock;
static volatile uint32_t locked_total, atomic_total;
static volatile uint32_t counters[MAX_CPUS];
static volatile uint32_t ticks[MAX_CPUS], tick_target[MAX_CPUS];
static volatile uint32_t timer_ok[MAX_CPUS];
static volatile uint32_t pings[MAX_CPUS], bcasts[MAX_CPUS], nmis[MAX_CPUS], logicals[MAX_CPUS];
static volatile uint32_t pongs, pit_irqs, spurious, bad_vector;
static volatile uint32_t barriers[8];

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));
static struct idt_gate idt[256] __attribute__((aligned(8)));
static struct {
	uint16_t limit;
	uint32_t base;
} __attribute__((packed)) idt_desc;

static inline uint32_t lapic_read(uint32_t reg) { return *(volatile uint32_t *)(LAPIC_BASE + reg); }
static inline void lapic_write(uint32_t reg, uint32_t v) { *(volatile uint32_t *)(LAPIC_BASE + reg) = v; }

static inline uint64_t rdmsr(uint32_t idx)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(idx));
	return (uint64_t)hi << 32 | lo;
}

static inline void pause(void) { __asm__ volatile("pause" ::: "memory"); }

static int me(void) { return cpu_of_apic[lapic_read(LAPIC_ID) >> 24]; }

static void spin_lock(volatile uint32_t *l)
{
	while (!__sync_bool_compare_and_swap(l, 0, 1)) /* LOCK CMPXCHG */
		while (*l)
			pause();
}

static void spin_unlock(volatile uint32_t *l) { __atomic_store_n(l, 0, __ATOMIC_RELEASE); }

/* wait_until spins (with interrupts enabled) until *v >= want; 0 on timeout. */
static int wait_until(volatile uint32_t *v, uint32_t want)
{
	for (uint32_t i = 0; i < 200000000u; i++) {
		if (*v >= want)
			return 1;
		pause();
	}
	return 0;
}

static void barrier(int idx)
{
	__atomic_fetch_add(&barriers[idx], 1, __ATOMIC_SEQ_CST); /* LOCK ADD */
	while (barriers[idx] < (uint32_t)ncpus)
		pause();
}

static void delay(int n)
{
	for (volatile int i = 0; i < n; i++)
		pause();
}

static void send_ipi(uint32_t dest_apic, uint32_t icr_lo)
{
	while (lapic_read(LAPIC_ICR_LO) & (1 << 12)) /* delivery status */
		pause();
	lapic_write(LAPIC_ICR_HI, dest_apic << 24);
	lapic_write(LAPIC_ICR_LO, icr_lo);
}

static void set_gate(int vec, void (*fn)(void))
{
	uint32_t a = (uint32_t)fn;
	idt[vec] = (struct idt_gate){(uint16_t)a, 0x08, 0, 0x8E, (uint16_t)(a >> 16)};
}

/* --- interrupt handlers -------------------------------------------------- */

void on_nmi(void) { nmis[me()]++; }

void on_timer(void)
{
	int c = me();
	/* Count up to the target, then mask; a period that expired while
	 * this handler ran (already in IRR) is not counted. */
	if (ticks[c] < tick_target[c])
		ticks[c]++;
	if (ticks[c] >= tick_target[c])
		lapic_write(LAPIC_TIMER, 0x10000 | VEC_TIMER);
	lapic_write(LAPIC_EOI, 0);
}

void on_ping(void)
{
	pings[me()]++;
	send_ipi(apic_ids[0], VEC_PONG); /* and back to the BSP */
	lapic_write(LAPIC_EOI, 0);
}

void on_pong(void)
{
	__atomic_fetch_add(&pongs, 1, __ATOMIC_SEQ_CST);
	lapic_write(LAPIC_EOI, 0);
}

void on_bcast(void)
{
	bcasts[me()]++;
	lapic_write(LAPIC_EOI, 0);
}

void on_logical(void)
{
	logicals[me()]++;
	lapic_write(LAPIC_EOI, 0);
}

void on_pit(void)
{
	pit_irqs++;
	lapic_write(LAPIC_EOI, 0);
}

/* Vector 0xFF: a spurious interrupt takes no EOI (SDM Vol. 3A 11.9). */
void on_spurious(void) { spurious++; }

void on_other(void)
{
	bad_vector++;
	kprintf("unexpected interrupt or exception on cpu %d\n", me());
	debug_exit(0x11);
}

/* --- per-CPU work ---------------------------------------------------------- */

static void enable_lapic(int c)
{
	lapic_write(LAPIC_SVR, 0x100 | VEC_SPURIOUS);
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_DFR, 0xFFFFFFFF); /* flat model */
	lapic_write(LAPIC_LDR, c < 8 ? 1u << (24 + c) : 0);
}

static void wait_ticks(int c)
{
	__asm__ volatile("cli");
	while (ticks[c] < tick_target[c])
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	__asm__ volatile("sti");
}

static void timer_test(int c)
{
	int ok = 1;
	ticks[c] = 0;
	tick_target[c] = 1;
	lapic_write(LAPIC_TIMER_DIV, 0x3); /* divide by 16 */
	lapic_write(LAPIC_TIMER, VEC_TIMER); /* one-shot */
	lapic_write(LAPIC_TIMER_INIT, 4000);
	/* Counting down from the initial count (0 if it already expired: a
	 * vCPU thread of QEMU's may be descheduled for longer than 64 us). */
	if (lapic_read(LAPIC_TIMER_CUR) > 4000)
		ok = 0;
	wait_ticks(c);
	if (lapic_read(LAPIC_TIMER_CUR) != 0)
		ok = 0;
	tick_target[c] = 4;
	lapic_write(LAPIC_TIMER_INIT, 0); /* stopped before the mode changes */
	lapic_write(LAPIC_TIMER, 0x20000 | VEC_TIMER); /* periodic */
	lapic_write(LAPIC_TIMER_INIT, 20000);
	wait_ticks(c);
	lapic_write(LAPIC_TIMER_INIT, 0);
	timer_ok[c] = ok;
}

static void work(int c)
{
	barrier(0);
	for (int i = 0; i < WORK_ITERS; i++) {
		spin_lock(&lock);
		locked_total++;
		counters[c]++;
		spin_unlock(&lock);
		__atomic_fetch_add(&atomic_total, 1, __ATOMIC_SEQ_CST); /* LOCK XADD/ADD */
	}
	barrier(1);
	timer_test(c);
	barrier(2);
}

void ap_main(void)
{
	int c = booting_cpu;
	__asm__ volatile("lidt %0" : : "m"(idt_desc));
	cpu_of_apic[lapic_read(LAPIC_ID) >> 24] = (uint8_t)c;
	enable_lapic(c);
	__atomic_store_n(&ap_online, c, __ATOMIC_SEQ_CST);
	__asm__ volatile("sti");
	work(c);
	for (;;)
		__asm__ volatile("sti; hlt" ::: "memory");
}

/* --- firmware tables ------------------------------------------------------- */

static int checksum(const uint8_t *p, uint32_t n)
{
	uint8_t s = 0;
	for (uint32_t i = 0; i < n; i++)
		s += p[i];
	return s == 0;
}

static const uint8_t *scan(uint32_t start, uint32_t len, const char *sig, int siglen, int step)
{
	for (uint32_t a = start; a + siglen <= start + len; a += step)
		if (!memcmp((const void *)a, sig, siglen))
			return (const uint8_t *)a;
	return 0;
}

static uint32_t rd32(const uint8_t *p) { return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24; }

static volatile uint32_t ebda_ptr = 0x40E;

static int acpi_cpus(void)
{
	/* The BDA word at 0x40E is the EBDA segment (read through a variable
	 * address: gcc rejects a constant pointer to low memory). */
	volatile uint16_t *bda = (volatile uint16_t *)ebda_ptr;
	uint32_t ebda = (uint32_t)*bda << 4;
	const uint8_t *rsdp = 0;
	if (ebda >= 0x80000 && ebda < 0xA0000)
		rsdp = scan(ebda, 1024, "RSD PTR ", 8, 16);
	if (!rsdp)
		rsdp = scan(0xE0000, 0x20000, "RSD PTR ", 8, 16);
	if (!rsdp || !checksum(rsdp, 20)) {
		kprintf("acpi: no RSDP\n");
		return -1;
	}
	const uint8_t *rsdt = (const uint8_t *)rd32(rsdp + 16);
	if (memcmp(rsdt, "RSDT", 4) || !checksum(rsdt, rd32(rsdt + 4))) {
		kprintf("acpi: bad RSDT\n");
		return -1;
	}
	int found_fadt = 0;
	const uint8_t *madt = 0;
	for (uint32_t off = 36; off < rd32(rsdt + 4); off += 4) {
		const uint8_t *t = (const uint8_t *)rd32(rsdt + off);
		if (!memcmp(t, "APIC", 4) && checksum(t, rd32(t + 4)))
			madt = t;
		if (!memcmp(t, "FACP", 4) && checksum(t, rd32(t + 4)))
			found_fadt = 1;
	}
	if (!madt) {
		kprintf("acpi: no MADT\n");
		return -1;
	}
	int n = 0, irq0 = -1;
	uint32_t ioapic = 0;
	kprintf("acpi: RSDT with FADT %s, MADT local APIC at 0x%x, processors:", found_fadt ? "yes" : "no",
		rd32(madt + 36));
	for (uint32_t off = 44; off < rd32(madt + 4); off += madt[off + 1]) {
		const uint8_t *e = madt + off;
		switch (e[0]) {
		case 0:
			if (rd32(e + 4) & 1) {
				kprintf(" %u", e[3]);
				if (n < MAX_CPUS)
					apic_ids[n] = e[3];
				n++;
			}
			break;
		case 1:
			ioapic = rd32(e + 4);
			break;
		case 2:
			if (e[3] == 0)
				irq0 = (int)rd32(e + 4);
			break;
		}
	}
	kprintf("\nacpi: %d processors, I/O APIC at 0x%x, IRQ 0 -> GSI %d\n", n, ioapic, irq0);
	return n;
}

static void mp_table(void)
{
	const uint8_t *fp = scan(0xF0000, 0x10000, "_MP_", 4, 16);
	if (!fp || !checksum(fp, 16)) {
		kprintf("mptable: no floating pointer\n");
		return;
	}
	const uint8_t *ct = (const uint8_t *)rd32(fp + 4);
	uint16_t len = ct[4] | ct[5] << 8, count = ct[34] | ct[35] << 8;
	if (memcmp(ct, "PCMP", 4) || !checksum(ct, len)) {
		kprintf("mptable: bad configuration table\n");
		return;
	}
	int cpus = 0, bsp = -1, ioapics = 0;
	const uint8_t *e = ct + 44;
	for (int i = 0; i < count; i++) {
		switch (e[0]) {
		case 0:
			if (e[3] & 1)
				cpus++;
			if (e[3] & 2)
				bsp = e[1];
			e += 20;
			break;
		case 2:
			if (e[3] & 1)
				ioapics++;
			e += 8;
			break;
		default:
			e += 8;
		}
	}
	/* The processor count is not printed: SeaBIOS lists one processor per
	 * package (the first thread), vmxemu every processor. */
	(void)cpus;
	kprintf("mptable: spec 1.%d, local APIC at 0x%x, BSP APIC ID %d, %d I/O APIC\n", fp[9], rd32(ct + 36),
		bsp, ioapics);
}

/* --- the BSP --------------------------------------------------------------- */

static void start_ap(int c)
{
	uint32_t id = apic_ids[c];
	booting_cpu = c;
	ap_stack_top = (uint32_t)&ap_stacks[c][4096];
	__sync_synchronize();
	send_ipi(id, 0x4500); /* INIT, level assert */
	delay(2000);
	send_ipi(id, 0x8500); /* INIT level de-assert */
	delay(2000);
	for (int i = 0; i < 2; i++) {
		send_ipi(id, 0x4600 | (TRAMP_ADDR >> 12)); /* STARTUP */
		delay(2000);
	}
}

static int pit_test(void)
{
	volatile uint32_t *sel = (volatile uint32_t *)IOAPIC_BASE, *win = (volatile uint32_t *)(IOAPIC_BASE + 0x10);
	*sel = 1;
	uint32_t ver = *win;
	kprintf("ioapic: version 0x%x, %u pins\n", ver & 0xFF, ((ver >> 16) & 0xFF) + 1);
	/* pin 2 (ISA IRQ 0): fixed, edge, physical, to the BSP. */
	*sel = 0x10 + 2 * 2 + 1;
	*win = (uint32_t)apic_ids[0] << 24;
	*sel = 0x10 + 2 * 2;
	*win = VEC_PIT;
	/* PIT channel 0, mode 2, 1193 ticks (1 ms). */
	outb(0x43, 0x34);
	outb(0x40, 1193 & 0xFF);
	outb(0x40, 1193 >> 8);
	__asm__ volatile("cli");
	while (pit_irqs < 3)
		__asm__ volatile("sti; hlt; cli" ::: "memory");
	*sel = 0x10 + 2 * 2;
	*win = 0x10000 | VEC_PIT; /* mask */
	__asm__ volatile("sti");
	outb(0x43, 0x30); /* channel 0 back to mode 0, stopped */
	kprintf("ioapic: PIT IRQ 0 on pin 2 delivered %s3 interrupts\n", pit_irqs >= 3 ? "" : "fewer than ");
	return pit_irqs >= 3;
}

void kmain(uint32_t magic, void *mbi)
{
	(void)magic;
	(void)mbi;
	int ok = 1;
	uart_init();
	kprintf("vmxemu smp guest\n");

	ncpus = fwcfg_cpus();
	kprintf("fw_cfg: cpus=%d\n", ncpus);
	int n = acpi_cpus();
	if (n != ncpus) {
		kprintf("the MADT lists %d processors, fw_cfg %d\n", n, ncpus);
		ok = 0;
		for (int i = 0; i < ncpus; i++)
			apic_ids[i] = (uint8_t)i;
	}
	mp_table();
	if (ncpus > MAX_CPUS)
		ncpus = MAX_CPUS;

	/* The 8259s stay masked: everything here goes through the APICs. */
	outb(0x21, 0xFF);
	outb(0xA1, 0xFF);

	uint64_t base = rdmsr(0x1B);
	kprintf("bsp: IA32_APIC_BASE 0x%llx (BSP %d, enabled %d), APIC ID %u\n", base & ~0xFFFull,
		(int)(base >> 8) & 1, (int)(base >> 11) & 1, lapic_read(LAPIC_ID) >> 24);
	kprintf("bsp: as firmware left it: SVR 0x%x LINT0 0x%x LINT1 0x%x TPR 0x%x DFR 0x%x LDR 0x%x\n",
		lapic_read(LAPIC_SVR), lapic_read(LAPIC_LINT0), lapic_read(LAPIC_LINT1), lapic_read(LAPIC_TPR),
		lapic_read(LAPIC_DFR), lapic_read(LAPIC_LDR));
	if ((lapic_read(LAPIC_ID) >> 24) != apic_ids[0]) {
		kprintf("the BSP is not the MADT's first processor\n");
		ok = 0;
	}

	for (int v = 0; v < 256; v++)
		set_gate(v, isr_other);
	set_gate(2, isr_nmi);
	set_gate(VEC_TIMER, isr_timer);
	set_gate(VEC_PING, isr_ping);
	set_gate(VEC_PONG, isr_pong);
	set_gate(VEC_BCAST, isr_bcast);
	set_gate(VEC_LOGICAL, isr_logical);
	set_gate(VEC_PIT, isr_pit);
	set_gate(VEC_SPURIOUS, isr_spurious);
	idt_desc.limit = sizeof(idt) - 1;
	idt_desc.base = (uint32_t)idt;
	__asm__ volatile("lidt %0" : : "m"(idt_desc));
	cpu_of_apic[apic_ids[0]] = 0;
	enable_lapic(0);
	__asm__ volatile("sti");

	/* Start the APs one at a time. */
	memcpy((void *)TRAMP_ADDR, tramp_start, tramp_end - tramp_start);
	for (int c = 1; c < ncpus; c++) {
		start_ap(c);
		if (!wait_until((volatile uint32_t *)&ap_online, (uint32_t)c)) {
			kprintf("cpu %d (APIC ID %u) did not start\n", c, apic_ids[c]);
			debug_exit(0x11);
		}
	}
	kprintf("started %d application processors with INIT-SIPI-SIPI\n", ncpus - 1);

	work(0);

	/* IPIs. */
	for (int c = 1; c < ncpus; c++) {
		send_ipi(apic_ids[c], VEC_PING);
		if (!wait_until(&pongs, (uint32_t)c))
			ok = 0;
	}
	send_ipi(0, 0xC0000 | VEC_BCAST); /* all excluding self */
	for (int c = 1; c < ncpus; c++)
		if (!wait_until(&bcasts[c], 1))
			ok = 0;
	send_ipi(0, 0x40000 | VEC_BCAST); /* self */
	if (!wait_until(&bcasts[0], 1))
		ok = 0;
	for (int c = 1; c < ncpus; c++) {
		send_ipi(apic_ids[c], 0x400); /* NMI */
		if (!wait_until(&nmis[c], 1))
			ok = 0;
	}
	send_ipi(0xFE, 0x800 | VEC_LOGICAL); /* logical, flat: LDR bits 1-7 */
	for (int c = 1; c < ncpus && c < 8; c++)
		if (!wait_until(&logicals[c], 1))
			ok = 0;
	delay(10000);

	ok &= pit_test();

	/* Results, in CPU order. */
	uint32_t want = (uint32_t)ncpus * WORK_ITERS;
	for (int c = 0; c < ncpus; c++) {
		kprintf("cpu %d: APIC ID %u, counter %u, timer %s %u ticks, IPIs: ping %u broadcast %u NMI %u logical %u\n",
			c, apic_ids[c], counters[c], timer_ok[c] ? "ok" : "BAD", ticks[c], pings[c], bcasts[c], nmis[c],
			logicals[c]);
		uint32_t want_logical = c >= 1 && c < 8;
		if (counters[c] != WORK_ITERS || !timer_ok[c] || ticks[c] != 4 || pings[c] != (c > 0) ||
		    bcasts[c] != 1 || nmis[c] != (c > 0) || logicals[c] != want_logical)
			ok = 0;
	}
	kprintf("spinlock total %u, lock xadd total %u, expected %u; pongs %u\n", locked_total, atomic_total, want,
		pongs);
	if (locked_total != want || atomic_total != want || pongs != (uint32_t)ncpus - 1 || bad_vector)
		ok = 0;
	kprintf("%s\n", ok ? "all checks passed" : "SOME CHECKS FAILED");
	kprintf("exiting with 0x%x\n", ok ? 0x10 : 0x11);
	debug_exit(ok ? 0x10 : 0x11);
}

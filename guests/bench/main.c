/*
 * bench32 / bench64: the guest benchmark kernels of docs/PERFORMANCE.md.
 * One image per mode holds every workload; the command line (-append)
 * picks one by name and may set "iters=N" (default: the full count of
 * bench/run.sh) and "quiet" (print nothing: the tests compare the
 * instructions two iteration counts retire).  The kernel runs the
 * workload once, checks its result against a model computed here in C,
 * prints
 *
 *     bench64 las: iters 75000000 insns 600000005 ok
 *
 * where insns is the exact number of instructions the workload function
 * retires (its CALL excluded; the formulas repeat the counts written next
 * to the code in loops32.S / loops64.S), and leaves through isa-debug-exit
 * with 0x10 (status 33), or 0x11 (status 35) when the result is wrong.  An
 * unknown or missing name prints the list and fails.
 */
#include "bench.h"
#include "kernel.h"
#include "multiboot.h"

void kmain(uint32_t magic, uint32_t info);

uint32_t bench_alu(uint32_t n);
uint32_t bench_las(uint32_t n);
uint32_t bench_movsb(uint32_t n);
uint32_t bench_bytecopy(uint32_t n);
uint32_t bench_calls(uint32_t n);
uint32_t bench_smc(uint32_t n);
#ifdef __x86_64__
uint32_t bench_ptchurn(uint32_t n);
#define MODE "bench64"
#else
#define MODE "bench32"
#endif

extern uint8_t copy_src[4096], copy_dst[4096];

/* The 4 KiB buffers las reads and writes. */
#ifdef __x86_64__
static uint8_t paged[PAGED_PAGES][4096] __attribute__((aligned(4096)));
static uint64_t pd_paged[512] __attribute__((aligned(4096)));
static uint64_t pt_paged[512] __attribute__((aligned(4096)));
#define LAS_SRC ((uint32_t *)(uint64_t)PAGED_VA)
#define LAS_DST ((uint32_t *)(uint64_t)(PAGED_VA + 0x1000))
#else
extern uint32_t las_src[1024], las_dst[1024];
#define LAS_SRC las_src
#define LAS_DST las_dst
#endif

/* fib_insns is F(k) of loops*.S's fib: 3 for k < 2, 12 + F(k-1) + F(k-2). */
static uint64_t fib_insns(int k)
{
	uint64_t a = 3, b = 3; /* F(0), F(1) */
	for (int i = 2; i <= k; i++) {
		uint64_t c = 12 + b + a;
		a = b;
		b = c;
	}
	return k < 1 ? a : b;
}

static uint32_t fib(int k)
{
	uint32_t a = 0, b = 1;
	for (int i = 0; i < k; i++) {
		uint32_t c = a + b;
		a = b;
		b = c;
	}
	return a;
}

static uint32_t las_pattern(uint32_t k) { return k * 0x9E3779B1u; }

static void las_prepare(void)
{
	for (uint32_t k = 0; k < 1024; k++)
		LAS_SRC[k] = las_pattern(k);
}

/* las_check: iteration j (0-based) runs with ECX = n - j on slot j mod 1024;
 * a slot keeps what its last iteration stored (or 0). */
static int las_check(uint32_t n, uint32_t ret)
{
	(void)ret;
	for (uint32_t k = 0; k < 1024; k++) {
		uint32_t want = 0;
		if (k < n) {
			uint32_t j = k + 1024 * ((n - 1 - k) / 1024);
			want = (las_pattern(k) + (n - j)) ^ 0x5a5a5a5au;
		}
		if (LAS_DST[k] != want)
			return 0;
	}
	return 1;
}

static void copy_prepare(void)
{
	for (int i = 0; i < 4096; i++) {
		copy_src[i] = (uint8_t)(i * 7 + 1);
		copy_dst[i] = 0;
	}
}

static int copy_check(uint32_t n, uint32_t ret)
{
	(void)n;
	(void)ret;
	return !memcmp(copy_src, copy_dst, 4096);
}

static int alu_check(uint32_t n, uint32_t ret)
{
	(void)n;
	(void)ret;
	return 1;
}

static int calls_check(uint32_t n, uint32_t ret) { return ret == n * fib(FIB_N); }

static int smc_check(uint32_t n, uint32_t ret) { return ret == (uint32_t)((uint64_t)n * (n + 1) / 2); }

#ifdef __x86_64__
static void map_paged(void)
{
	uint64_t cr3;
	__asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
	uint64_t *pml4 = (uint64_t *)(cr3 & ~0xfffull);
	uint64_t *pdpt = (uint64_t *)(pml4[0] & ~0xfffull);
	for (int i = 0; i < PAGED_PAGES; i++)
		pt_paged[i] = (uint64_t)&paged[i][0] | 3; /* P, RW */
	pd_paged[0] = (uint64_t)pt_paged | 3;
	pdpt[PAGED_VA >> 30] = (uint64_t)pd_paged | 3;
	__asm__ volatile("mov %0, %%cr3" : : "r"(cr3) : "memory");
}

static int ptchurn_check(uint32_t n, uint32_t ret)
{
	(void)ret;
	for (uint32_t p = 0; p < PAGED_PAGES; p++) {
		uint32_t want = n / PAGED_PAGES + (p < n % PAGED_PAGES);
		if (*(uint32_t *)&paged[p][0] != want)
			return 0;
	}
	return 1;
}
#endif

struct workload {
	const char *name;
	uint32_t (*run)(uint32_t n);
	void (*prepare)(void);
	int (*check)(uint32_t n, uint32_t ret);
	uint32_t iters;                /* the full count (bench/run.sh) */
	uint64_t fixed, per;           /* insns = fixed + per * n (+ extra) */
};

#ifdef __x86_64__
#define FIXED(a32, a64) (a64)
#else
#define FIXED(a32, a64) (a32)
#endif

static struct workload workloads[] = {
	{"alu", bench_alu, 0, alu_check, 400000000, 2, 2},
	{"las", bench_las, las_prepare, las_check, 75000000, FIXED(9, 5), 8},
	{"movsb", bench_movsb, copy_prepare, copy_check, 100000, FIXED(6, 2), 6},
	{"bytecopy", bench_bytecopy, copy_prepare, copy_check, 20000, FIXED(6, 2), 5 + 6 * 4096},
	{"calls", bench_calls, 0, calls_check, 3000, 6, 0 /* 5 + F(FIB_N), set in kmain */},
	{"smc", bench_smc, 0, smc_check, 10000000, 3, 4},
#ifdef __x86_64__
	{"ptchurn", bench_ptchurn, 0, ptchurn_check, 10000000, 4, 9},
#endif
};
#define NWORKLOADS (sizeof(workloads) / sizeof(workloads[0]))

static uint64_t insns(const struct workload *w, uint32_t n)
{
	uint64_t c = w->fixed + w->per * n;
#ifdef __x86_64__
	if (w->run == bench_ptchurn)
		c += 2 * (uint64_t)(n / PAGED_PAGES); /* the CR3 reload */
#endif
	return c;
}

static int word_is(const char *w, int len, const char *s)
{
	int i = 0;
	for (; i < len; i++)
		if (s[i] != w[i])
			return 0;
	return s[i] == 0;
}

static uint32_t parse_uint(const char *p, int len, int *ok)
{
	uint32_t v = 0;
	*ok = len > 0;
	for (int i = 0; i < len; i++) {
		if (p[i] < '0' || p[i] > '9' || v > 429496729u)
			*ok = 0;
		v = v * 10 + (uint32_t)(p[i] - '0');
	}
	return v;
}

static void list(void)
{
	kprintf(MODE " workloads:");
	for (unsigned i = 0; i < NWORKLOADS; i++)
		kprintf(" %s", workloads[i].name);
	kprintf("\n");
}

void kmain(uint32_t magic, uint32_t info)
{
	const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info;
	struct workload *w = 0;
	uint32_t n = 0;
	int quiet = 0, ok;

	uart_init();
	workloads[4].per = 5 + fib_insns(FIB_N);
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !(mbi->flags & MB_INFO_CMDLINE)) {
		kprintf(MODE ": no multiboot command line\n");
		debug_exit(0x11);
	}
	for (const char *p = (const char *)(uintptr_t)mbi->cmdline; *p;) {
		while (*p == ' ')
			p++;
		const char *s = p;
		while (*p && *p != ' ')
			p++;
		int len = (int)(p - s);
		if (word_is(s, len, "quiet")) {
			quiet = 1;
		} else if (len > 6 && word_is(s, 6, "iters=")) {
			n = parse_uint(s + 6, len - 6, &ok);
			if (!ok || n == 0) {
				kprintf(MODE ": bad iteration count\n");
				debug_exit(0x11);
			}
		} else {
			for (unsigned i = 0; i < NWORKLOADS; i++)
				if (word_is(s, len, workloads[i].name))
					w = &workloads[i];
		}
	}
	if (!w) {
		list();
		debug_exit(0x11);
	}
	if (n == 0)
		n = w->iters;
#ifdef __x86_64__
	map_paged();
#endif
	if (w->prepare)
		w->prepare();
	uint32_t ret = w->run(n);
	int good = w->check(n, ret);
	if (!quiet)
		kprintf(MODE " %s: iters %u insns %llu %s\n", w->name, n,
			(unsigned long long)insns(w, n), good ? "ok" : "WRONG RESULT");
	debug_exit(good ? 0x10 : 0x11);
}

/*
 * Known computations, each printing its result on its own line and checking
 * itself.  Everything printed must be the same whether the code runs as a
 * 32-bit guest, a 64-bit guest, or a hosted program: only fixed-width types
 * are printed, never pointers or longs.  Inputs that the compiler could fold
 * are read through volatile objects so that the arithmetic happens at run
 * time on the (emulated) CPU.
 */
#include "compute.h"

#define U64(x) ((unsigned long long)(x))
#define S64(x) ((long long)(x))

static int checks, failures;

static void check(const char *what, int ok)
{
	checks++;
	if (!ok) {
		failures++;
		kprintf("FAIL: %s\n", what);
	}
}

/* FNV-1a over 32-bit words: a compact digest of many results. */
static uint32_t fnv(uint32_t h, uint32_t v)
{
	int i;

	for (i = 0; i < 4; i++) {
		h ^= (v >> (8 * i)) & 0xff;
		h *= 16777619u;
	}
	return h;
}

#define FNV_INIT 2166136261u

static uint32_t fnv64(uint32_t h, uint64_t v)
{
	return fnv(fnv(h, (uint32_t)v), (uint32_t)(v >> 32));
}

static uint32_t xs_state;

static uint32_t xorshift32(void)
{
	uint32_t x = xs_state;

	x ^= x << 13;
	x ^= x >> 17;
	x ^= x << 5;
	return xs_state = x;
}

/* ---- quicksort ---------------------------------------------------------- */

#define NSORT 2000
static int32_t sort_buf[NSORT];

static void quicksort(int32_t *a, int lo, int hi)
{
	while (lo < hi) {
		int32_t pivot = a[lo + (hi - lo) / 2];
		int i = lo, j = hi;

		while (i <= j) {
			while (a[i] < pivot)
				i++;
			while (a[j] > pivot)
				j--;
			if (i <= j) {
				int32_t t = a[i];

				a[i] = a[j];
				a[j] = t;
				i++;
				j--;
			}
		}
		/* recurse into the smaller half, loop on the larger */
		if (j - lo < hi - i) {
			quicksort(a, lo, j);
			lo = i;
		} else {
			quicksort(a, i, hi);
			hi = j;
		}
	}
}

static void test_quicksort(void)
{
	uint32_t sum_before = 0, sum_after = 0, weighted = 0;
	int i, sorted = 1;

	xs_state = 2463534242u;
	for (i = 0; i < NSORT; i++) {
		sort_buf[i] = (int32_t)xorshift32() >> (i % 7); /* negative ones too */
		sum_before += (uint32_t)sort_buf[i];
	}
	quicksort(sort_buf, 0, NSORT - 1);
	for (i = 0; i < NSORT; i++) {
		sum_after += (uint32_t)sort_buf[i];
		weighted = weighted * 31u + (uint32_t)sort_buf[i];
		if (i > 0 && sort_buf[i - 1] > sort_buf[i])
			sorted = 0;
	}
	kprintf("qsort: n=%d min=%d max=%d sum=0x%08x digest=0x%08x\n", NSORT,
		sort_buf[0], sort_buf[NSORT - 1], sum_after, weighted);
	check("qsort sorted", sorted);
	check("qsort permutation sum", sum_before == sum_after);
}

/* ---- CRC32 (IEEE 802.3, reflected, table-driven) ------------------------- */

static uint32_t crc_table[256];

static void crc32_init(void)
{
	uint32_t i, c;
	int k;

	for (i = 0; i < 256; i++) {
		c = i;
		for (k = 0; k < 8; k++)
			c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
		crc_table[i] = c;
	}
}

static uint32_t crc32(const void *data, size_t n)
{
	const uint8_t *p = data;
	uint32_t c = 0xFFFFFFFFu;

	while (n--)
		c = crc_table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return c ^ 0xFFFFFFFFu;
}

static uint8_t big_buf[4096];

static void test_crc32(void)
{
	static const char check_str[] = "123456789";
	static const char fox[] = "The quick brown fox jumps over the lazy dog";
	uint32_t c1, c2, c3;
	size_t i;

	crc32_init();
	c1 = crc32(check_str, 9);
	c2 = crc32(fox, sizeof fox - 1);
	xs_state = 0x12345678u;
	for (i = 0; i < sizeof big_buf; i++)
		big_buf[i] = (uint8_t)xorshift32();
	c3 = crc32(big_buf, sizeof big_buf);
	kprintf("crc32: \"123456789\"=0x%08x fox=0x%08x random4k=0x%08x\n", c1,
		c2, c3);
	check("crc32 check value", c1 == 0xCBF43926u);
	check("crc32 fox", c2 == 0x414FA339u);
}

/* ---- 64-bit division ---------------------------------------------------- */

static volatile uint64_t udiv_n[] = {
	0,
	1,
	100,
	0xFFFFFFFFull,
	0x100000000ull,
	0x123456789ABCDEF0ull,
	0xFFFFFFFFFFFFFFFFull,
	0x8000000000000000ull,
	10000000000000000000ull,
	0x0000000100000001ull,
};
static volatile uint64_t udiv_d[] = {
	1,
	3,
	7,
	10,
	0xFFFFFFFFull,
	0x100000000ull,
	0x123456789ull,
	0xFFFFFFFFFFFFFFFFull,
	0x8000000000000001ull,
	1000000007ull,
};

static volatile int64_t sdiv_n[] = {
	-7, 7, -7, INT64_MIN, INT64_MAX, -1000000000000ll, 123456789012345ll,
	INT64_MIN + 1, -1,
};
static volatile int64_t sdiv_d[] = {
	2, -2, -2, 2, -3, 7, -1000, INT64_MAX, 3,
};

static void test_div64(void)
{
	unsigned i, j;
	uint32_t h = FNV_INIT;
	int ok = 1, sok = 1;

	for (i = 0; i < sizeof udiv_n / sizeof udiv_n[0]; i++) {
		for (j = 0; j < sizeof udiv_d / sizeof udiv_d[0]; j++) {
			uint64_t n = udiv_n[i], d = udiv_d[j];
			uint64_t q = n / d, r = n % d;

			h = fnv64(fnv64(h, q), r);
			if (q * d + r != n || r >= d)
				ok = 0;
		}
	}
	kprintf("udiv64: 0x123456789abcdef0/0x123456789=0x%llx rem 0x%llx\n",
		U64(udiv_n[5] / udiv_d[6]), U64(udiv_n[5] % udiv_d[6]));
	kprintf("udiv64: 10^19/1000000007=%llu rem %llu\n",
		U64(udiv_n[8] / udiv_d[9]), U64(udiv_n[8] % udiv_d[9]));
	kprintf("udiv64: digest=0x%08x\n", h);
	check("udiv64 identity", ok);

	h = FNV_INIT;
	for (i = 0; i < sizeof sdiv_n / sizeof sdiv_n[0]; i++) {
		int64_t n = sdiv_n[i], d = sdiv_d[i];
		int64_t q = n / d, r = n % d;

		kprintf("sdiv64: %lld / %lld = %lld rem %lld\n", S64(n), S64(d),
			S64(q), S64(r));
		h = fnv64(fnv64(h, (uint64_t)q), (uint64_t)r);
		if (q * d + r != n || (r != 0 && (r < 0) != (n < 0)))
			sok = 0;
	}
	kprintf("sdiv64: digest=0x%08x\n", h);
	check("sdiv64 identity", sok);
	check("sdiv64 -7/2", sdiv_n[0] / sdiv_d[0] == -3 &&
				     sdiv_n[0] % sdiv_d[0] == -1);
}

/* ---- setjmp / longjmp ---------------------------------------------------- */

static k_jmp_buf jb;
static int depth_reached;

static void dive(int depth, int val);
/* called through a pointer: an indirect call, and no recursion for gcc to
 * second-guess */
static void (*volatile dive_ptr)(int, int) = dive;

static void dive(int depth, int val)
{
	volatile char pad[64];

	pad[0] = (char)depth;
	depth_reached = pad[0];
	if (depth < 5)
		dive_ptr(depth + 1, val);
	else
		k_longjmp(jb, val);
	pad[1] = 0; /* not reached */
}

static void test_setjmp(void)
{
	volatile int first = -1, second = -1, zero = -1, counter = 0;
	int r;

	r = k_setjmp(jb);
	counter++;
	if (r == 0) {
		first = r;
		dive(0, 42);
	}
	second = r;

	r = k_setjmp(jb);
	if (r == 0)
		dive(0, 0); /* longjmp(…, 0) must make setjmp return 1 */
	zero = r;

	kprintf("setjmp: first=%d second=%d zero->%d counter=%d depth=%d\n",
		first, second, zero, counter, depth_reached);
	check("setjmp values", first == 0 && second == 42 && zero == 1 &&
				       counter == 2 && depth_reached == 5);
}

/* ---- dense switch (jump table) ------------------------------------------- */

static uint32_t __attribute__((noinline)) dispatch(uint32_t op, uint32_t x)
{
	switch (op) {
	case 0: return x + 1;
	case 1: return x * 3;
	case 2: return x ^ 0x5a5a5a5au;
	case 3: return x >> 3;
	case 4: return x << 5;
	case 5: return ~x;
	case 6: return x - 77;
	case 7: return x * x;
	case 8: return (x << 7) | (x >> 25);
	case 9: return x & 0xff00ff00u;
	case 10: return x | 0x11u;
	case 11: return x / 3;
	case 12: return x % 1000;
	case 13: return 0u - x;
	case 14: return x + 0x9e3779b9u;
	case 15: return x ^ (x >> 16);
	default: return 0xdeadbeefu;
	}
}

static void test_switch(void)
{
	uint32_t x = 1, i;

	for (i = 0; i < 1000; i++)
		x = dispatch((i * 7u) % 17u, x) + i;
	kprintf("switch: result=0x%08x\n", x);
	check("switch default", dispatch(16, 0) == 0xdeadbeefu &&
					dispatch(100, 0) == 0xdeadbeefu);
}

/* ---- recursion ----------------------------------------------------------- */

static uint32_t fib(uint32_t n)
{
	return n < 2 ? n : fib(n - 1) + fib(n - 2);
}

static uint32_t ackermann(uint32_t m, uint32_t n)
{
	if (m == 0)
		return n + 1;
	if (n == 0)
		return ackermann(m - 1, 1);
	return ackermann(m - 1, ackermann(m, n - 1));
}

static volatile uint32_t rec_in[] = {25, 2, 3, 3, 5};

static void test_recursion(void)
{
	uint32_t f = fib(rec_in[0]);
	uint32_t a1 = ackermann(rec_in[1], rec_in[2]);
	uint32_t a2 = ackermann(rec_in[3], rec_in[4]);

	kprintf("recursion: fib(25)=%u ackermann(2,3)=%u ackermann(3,5)=%u\n", f,
		a1, a2);
	check("fib(25)", f == 75025);
	check("ackermann", a1 == 9 && a2 == 253);
}

/* ---- string operations, in C and with string instructions ---------------- */

static void *memcpy_c(void *dst, const void *src, size_t n)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	while (n--)
		*d++ = *s++;
	return dst;
}

static void *memcpy_rep(void *dst, const void *src, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep movsb" : "+D"(d), "+S"(src), "+c"(n) : : "memory");
	return dst;
}

static void *memcpy_rep4(void *dst, const void *src, size_t n)
{
	void *d = dst;
	size_t words = n / 4, tail = n % 4;

	__asm__ volatile("rep movsl\n\t"
			 "mov %3, %2\n\t"
			 "rep movsb"
			 : "+D"(d), "+S"(src), "+c"(words)
			 : "r"(tail)
			 : "memory");
	return dst;
}

/* Overlapping copy towards higher addresses: backwards, with DF set. */
static void *memmove_up_rep(void *dst, const void *src, size_t n)
{
	uint8_t *d = (uint8_t *)dst + n - 1;
	const uint8_t *s = (const uint8_t *)src + n - 1;

	__asm__ volatile("std\n\trep movsb\n\tcld"
			 : "+D"(d), "+S"(s), "+c"(n)
			 :
			 : "memory");
	return dst;
}

static void *memset_c(void *dst, int c, size_t n)
{
	uint8_t *d = dst;

	while (n--)
		*d++ = (uint8_t)c;
	return dst;
}

static void *memset_rep(void *dst, int c, size_t n)
{
	void *d = dst;

	__asm__ volatile("rep stosb" : "+D"(d), "+c"(n) : "a"(c) : "memory");
	return dst;
}

static size_t strlen_c(const char *s)
{
	size_t n = 0;

	while (s[n])
		n++;
	return n;
}

static size_t strlen_rep(const char *s)
{
	size_t n = (size_t)-1;

	__asm__ volatile("repne scasb" : "+D"(s), "+c"(n) : "a"(0) : "memory", "cc");
	return ~n - 1;
}

static int memcmp_rep(const void *a, const void *b, size_t n)
{
	uint8_t x, y;

	if (n == 0)
		return 0;
	__asm__ volatile("repe cmpsb" : "+S"(a), "+D"(b), "+c"(n) : : "memory", "cc");
	x = ((const uint8_t *)a)[-1];
	y = ((const uint8_t *)b)[-1];
	return x - y;
}

static uint8_t sbuf_a[1024], sbuf_b[1024], sbuf_c[1024];

static void test_strings(void)
{
	static const char msg[] = "vmxemu runs guests side by side with QEMU";
	volatile size_t off = 3, len = 1000;
	uint32_t ca, cb, cc, cm;
	size_t i, l1, l2;
	int cmp1, cmp2;

	for (i = 0; i < sizeof big_buf && i < 1024; i++)
		sbuf_c[i] = big_buf[i];
	memset_c(sbuf_a, 0xAA, sizeof sbuf_a);
	memset_rep(sbuf_b, 0xAA, sizeof sbuf_b);
	check("memset rep == C", crc32(sbuf_a, 1024) == crc32(sbuf_b, 1024));

	memcpy_c(sbuf_a + off, sbuf_c, len);
	memcpy_rep(sbuf_b + off, sbuf_c, len);
	ca = crc32(sbuf_a, 1024);
	cb = crc32(sbuf_b, 1024);
	memset_rep(sbuf_b, 0xAA, sizeof sbuf_b);
	memcpy_rep4(sbuf_b + off, sbuf_c, len + 1);
	sbuf_b[off + len] = sbuf_a[off + len];
	cc = crc32(sbuf_b, 1024);

	/* overlapping move up by 5, then compare with the C library routine */
	memcpy_c(sbuf_b, sbuf_c, 1024);
	memmove_up_rep(sbuf_b + 5, sbuf_b, 1000);
	memcpy_c(sbuf_a, sbuf_c, 1024);
	for (i = 1000; i-- > 0;)
		sbuf_a[i + 5] = sbuf_a[i];
	cm = crc32(sbuf_b, 1024);
	check("memmove backwards", cm == crc32(sbuf_a, 1024));

	l1 = strlen_c(msg);
	l2 = strlen_rep(msg);
	cmp1 = memcmp_rep(msg, "vmxemu runs guests side by side with QEMU", 42);
	cmp2 = memcmp_rep("abcdef", "abcxef", 6);
	kprintf("strings: copy=0x%08x rep=0x%08x rep4=0x%08x move=0x%08x "
		"strlen=%u/%u cmp=%d/%d\n",
		ca, cb, cc, cm, (unsigned)l1, (unsigned)l2, cmp1, cmp2 < 0 ? -1 : 1);
	check("memcpy rep == C", ca == cb && cb == cc);
	check("strlen", l1 == 41 && l2 == 41);
	check("memcmp", cmp1 == 0 && cmp2 < 0);
}

/* ---- bit operations ------------------------------------------------------- */

static volatile uint32_t bit_in32[] = {
	1, 2, 3, 0x80000000u, 0xFFFFFFFFu, 0x00F00000u, 0x12345678u, 0x0000FFFFu,
};
static volatile uint64_t bit_in64[] = {
	1, 0x8000000000000000ull, 0x00000001FFFFFFFFull, 0x0123456789ABCDEFull,
	0xFFFFFFFF00000000ull, 0x0000000000010000ull,
};

static void test_bits(void)
{
	uint32_t h = FNV_INIT, hs = FNV_INIT;
	unsigned i, s;

	for (i = 0; i < sizeof bit_in32 / sizeof bit_in32[0]; i++) {
		uint32_t x = bit_in32[i];

		h = fnv(h, (uint32_t)__builtin_clz(x));
		h = fnv(h, (uint32_t)__builtin_ctz(x));
		h = fnv(h, (uint32_t)__builtin_popcount(x));
		h = fnv(h, (uint32_t)__builtin_parity(x));
		h = fnv(h, __builtin_bswap32(x));
		h = fnv(h, (x << 13) | (x >> 19));
	}
	for (i = 0; i < sizeof bit_in64 / sizeof bit_in64[0]; i++) {
		uint64_t x = bit_in64[i];

		h = fnv(h, (uint32_t)__builtin_clzll(x));
		h = fnv(h, (uint32_t)__builtin_ctzll(x));
		h = fnv(h, (uint32_t)__builtin_popcountll(x));
		h = fnv64(h, __builtin_bswap64(x));
		/* variable 64-bit shifts: shld/shrd sequences in 32-bit code */
		for (s = 0; s < 64; s++) {
			volatile unsigned vs = s;

			hs = fnv64(hs, x << vs);
			hs = fnv64(hs, x >> vs);
			hs = fnv64(hs, (uint64_t)((int64_t)x >> vs));
		}
	}
	kprintf("bits: clz(1)=%d ctz(0x80000000)=%d popcount(0x12345678)=%d "
		"clzll(0x1ffffffff)=%d digest=0x%08x shifts=0x%08x\n",
		__builtin_clz(bit_in32[0]), __builtin_ctz(bit_in32[3]),
		__builtin_popcount(bit_in32[6]), __builtin_clzll(bit_in64[2]), h,
		hs);
	check("clz/ctz/popcount", __builtin_clz(bit_in32[0]) == 31 &&
					  __builtin_ctz(bit_in32[3]) == 31 &&
					  __builtin_popcount(bit_in32[6]) == 13 &&
					  __builtin_clzll(bit_in64[2]) == 31 &&
					  __builtin_popcountll(bit_in64[3]) == 32);
}

/* ---- multiply / divide edge cases ---------------------------------------- */

static volatile int32_t m32[] = {INT32_MIN, INT32_MAX, -1, 7, -7, 2, -2, 65536};
static volatile uint32_t mu32[] = {0xFFFFFFFFu, 0x80000000u, 0x10001u, 3};

static void test_muldiv(void)
{
	uint32_t h = FNV_INIT;
	unsigned i, j;
	int32_t a = m32[0], one = -m32[2];
	int64_t wide;
	uint64_t uw;

	for (i = 0; i < sizeof m32 / sizeof m32[0]; i++) {
		for (j = 0; j < sizeof m32 / sizeof m32[0]; j++) {
			int32_t x = m32[i], y = m32[j];

			h = fnv(h, (uint32_t)x * (uint32_t)y);   /* imul, wrapping */
			h = fnv64(h, (uint64_t)((int64_t)x * y)); /* widening imul */
			if (!(x == INT32_MIN && y == -1)) {      /* that one is #DE */
				h = fnv(h, (uint32_t)(x / y));
				h = fnv(h, (uint32_t)(x % y));
			}
			h = fnv(h, (uint32_t)(x >> (j & 31)));   /* sar */
		}
	}
	for (i = 0; i < sizeof mu32 / sizeof mu32[0]; i++)
		for (j = 0; j < sizeof mu32 / sizeof mu32[0]; j++) {
			uint64_t p = (uint64_t)mu32[i] * mu32[j]; /* widening mul */

			h = fnv64(h, p);
			h = fnv(h, mu32[i] / mu32[j]);
			h = fnv(h, mu32[i] % mu32[j]);
		}
	wide = (int64_t)m32[0] * m32[0];
	uw = (uint64_t)mu32[0] * mu32[0];
	kprintf("muldiv: INT32_MIN/1=%d INT32_MIN%%-2=%d -7/2=%d -7%%2=%d "
		"7/-2=%d\n",
		a / one, m32[0] % m32[6], m32[4] / m32[5], m32[4] % m32[5],
		m32[3] / m32[6]);
	kprintf("muldiv: INT32_MIN^2=%lld 0xffffffff^2=0x%llx digest=0x%08x\n",
		S64(wide), U64(uw), h);
	check("muldiv", a / one == INT32_MIN && m32[4] / m32[5] == -3 &&
				m32[4] % m32[5] == -1 &&
				wide == 4611686018427387904ll &&
				uw == 0xFFFFFFFE00000001ull);
}

/* ---- sieve --------------------------------------------------------------- */

static uint8_t composite[20000];

static void test_sieve(void)
{
	volatile uint32_t limit = 20000;
	uint32_t i, j, count = 0, last = 0;

	for (i = 2; i < limit; i++) {
		if (composite[i])
			continue;
		count++;
		last = i;
		for (j = i * i; j < limit; j += i)
			composite[j] = 1;
	}
	kprintf("sieve: primes below %u: %u, largest %u\n", limit, count, last);
	check("sieve", count == 2262 && last == 19997);
}

int compute_run(void)
{
	kprintf("vmxemu compute guest\n");
	test_quicksort();
	test_crc32();
	test_div64();
	test_setjmp();
	test_switch();
	test_recursion();
	test_strings();
	test_bits();
	test_muldiv();
	test_sieve();
	kprintf("compute: %d checks, %d failed: %s\n", checks, failures,
		failures ? "FAIL" : "PASS");
	return failures;
}

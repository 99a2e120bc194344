/*
 * The libgcc helpers gcc calls in freestanding code: 64-bit division in
 * 32-bit code (shift-subtract, no hardware 64-bit divide) and population
 * count on CPUs without POPCNT, and 64-bit clz/ctz in 32-bit code.  Written in plain C; compiled into both the
 * 32-bit and the 64-bit guests (the 64-bit ones only need the popcounts).
 */
#include <stdint.h>

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem);
int64_t __divmoddi4(int64_t n, int64_t d, int64_t *rem);
uint64_t __udivdi3(uint64_t n, uint64_t d);
uint64_t __umoddi3(uint64_t n, uint64_t d);
int64_t __divdi3(int64_t n, int64_t d);
int64_t __moddi3(int64_t n, int64_t d);
int __popcountsi2(uint32_t x);
int __popcountdi2(uint64_t x);
int __clzdi2(uint64_t x);
int __ctzdi2(uint64_t x);

uint64_t __udivmoddi4(uint64_t n, uint64_t d, uint64_t *rem)
{
	uint64_t q = 0, r = 0;
	int i;

	if (d == 0) {
		/* Divide by zero: raise #DE the way the hardware instruction would. */
		volatile uint32_t zero = 0;
		return (uint32_t)n / zero;
	}
	if ((d >> 32) == 0 && (n >> 32) == 0) {
		/* Fits in one 32-bit divide. */
		uint32_t nn = (uint32_t)n, dd = (uint32_t)d;

		if (rem)
			*rem = nn % dd;
		return nn / dd;
	}
	for (i = 63; i >= 0; i--) {
		r = (r << 1) | ((n >> i) & 1);
		if (r >= d) {
			r -= d;
			q |= 1ull << i;
		}
	}
	if (rem)
		*rem = r;
	return q;
}

int64_t __divmoddi4(int64_t n, int64_t d, int64_t *rem)
{
	int nneg = n < 0, dneg = d < 0;
	uint64_t un = nneg ? 0ull - (uint64_t)n : (uint64_t)n;
	uint64_t ud = dneg ? 0ull - (uint64_t)d : (uint64_t)d;
	uint64_t ur, uq = __udivmoddi4(un, ud, &ur);

	/* C semantics: the quotient truncates towards zero, the remainder takes
	 * the sign of the dividend. */
	if (rem)
		*rem = nneg ? (int64_t)(0ull - ur) : (int64_t)ur;
	return (nneg ^ dneg) ? (int64_t)(0ull - uq) : (int64_t)uq;
}

uint64_t __udivdi3(uint64_t n, uint64_t d)
{
	return __udivmoddi4(n, d, 0);
}

uint64_t __umoddi3(uint64_t n, uint64_t d)
{
	uint64_t r;

	__udivmoddi4(n, d, &r);
	return r;
}

int64_t __divdi3(int64_t n, int64_t d)
{
	return __divmoddi4(n, d, 0);
}

int64_t __moddi3(int64_t n, int64_t d)
{
	int64_t r;

	__divmoddi4(n, d, &r);
	return r;
}

int __popcountsi2(uint32_t x)
{
	x = x - ((x >> 1) & 0x55555555u);
	x = (x & 0x33333333u) + ((x >> 2) & 0x33333333u);
	x = (x + (x >> 4)) & 0x0F0F0F0Fu;
	return (int)((x * 0x01010101u) >> 24);
}

int __popcountdi2(uint64_t x)
{
	return __popcountsi2((uint32_t)x) + __popcountsi2((uint32_t)(x >> 32));
}

/* Undefined for x == 0, like the builtins. */
int __clzdi2(uint64_t x)
{
	int n = 0;

	while (!(x & 0x8000000000000000ull)) {
		x <<= 1;
		n++;
	}
	return n;
}

int __ctzdi2(uint64_t x)
{
	int n = 0;

	while (!(x & 1)) {
		x >>= 1;
		n++;
	}
	return n;
}

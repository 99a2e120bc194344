/*
 * A small printf for the guests: %s %c %d %i %u %x %X %p %% with the length
 * modifiers l, ll and z, the flags '-' and '0', and a field width.  Output is
 * formatted the way the C library formats it, so that a hosted build of the
 * same code prints byte-identical text.  64-bit conversions in 32-bit code go
 * through __udivmoddi4 & co. from libgcc.c.
 */
#include "kernel.h"

static int emit(char c)
{
	uart_putc(c);
	return 1;
}

static int pad(int n, char c)
{
	int i;

	for (i = 0; i < n; i++)
		emit(c);
	return n > 0 ? n : 0;
}

static int format_num(unsigned long long v, int neg, unsigned base, int upper,
		      int width, int zero, int left)
{
	const char *digits = upper ? "0123456789ABCDEF" : "0123456789abcdef";
	char buf[24];
	int n = 0, len, count = 0;

	do {
		buf[n++] = digits[v % base];
		v /= base;
	} while (v);
	len = n + (neg ? 1 : 0);
	if (!left && !zero)
		count += pad(width - len, ' ');
	if (neg)
		count += emit('-');
	if (!left && zero)
		count += pad(width - len, '0');
	while (n)
		count += emit(buf[--n]);
	if (left)
		count += pad(width - len, ' ');
	return count;
}

int kvprintf(const char *fmt, va_list ap)
{
	int count = 0;

	for (; *fmt; fmt++) {
		int left = 0, zero = 0, width = 0, lng = 0;
		unsigned long long u;
		long long s;

		if (*fmt != '%') {
			count += emit(*fmt);
			continue;
		}
		fmt++;
		for (;; fmt++) {
			if (*fmt == '-')
				left = 1;
			else if (*fmt == '0')
				zero = 1;
			else
				break;
		}
		while (*fmt >= '0' && *fmt <= '9')
			width = width * 10 + (*fmt++ - '0');
		for (;; fmt++) {
			if (*fmt == 'l')
				lng++;
			else if (*fmt == 'z')
				lng = sizeof(size_t) == sizeof(long long) ? 2 : 1;
			else
				break;
		}
		if (left)
			zero = 0;
		switch (*fmt) {
		case 'd':
		case 'i':
			if (lng >= 2)
				s = va_arg(ap, long long);
			else if (lng == 1)
				s = va_arg(ap, long);
			else
				s = va_arg(ap, int);
			u = s < 0 ? 0ull - (unsigned long long)s : (unsigned long long)s;
			count += format_num(u, s < 0, 10, 0, width, zero, left);
			break;
		case 'u':
		case 'x':
		case 'X':
			if (lng >= 2)
				u = va_arg(ap, unsigned long long);
			else if (lng == 1)
				u = va_arg(ap, unsigned long);
			else
				u = va_arg(ap, unsigned int);
			count += format_num(u, 0, *fmt == 'u' ? 10 : 16, *fmt == 'X',
					    width, zero, left);
			break;
		case 'p':
			count += emit('0') + emit('x');
			count += format_num((unsigned long)va_arg(ap, void *), 0, 16, 0,
					    0, 0, 0);
			break;
		case 'c': {
			char c = (char)va_arg(ap, int);

			if (!left)
				count += pad(width - 1, ' ');
			count += emit(c);
			if (left)
				count += pad(width - 1, ' ');
			break;
		}
		case 's': {
			const char *str = va_arg(ap, const char *);
			int len;

			if (!str)
				str = "(null)";
			len = (int)strlen(str);
			if (!left)
				count += pad(width - len, ' ');
			while (*str)
				count += emit(*str++);
			if (left)
				count += pad(width - len, ' ');
			break;
		}
		case '%':
			count += emit('%');
			break;
		case '\0':
			return count;
		default: /* unknown conversion: print it verbatim */
			count += emit('%') + emit(*fmt);
			break;
		}
	}
	return count;
}

int kprintf(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = kvprintf(fmt, ap);
	va_end(ap);
	return n;
}

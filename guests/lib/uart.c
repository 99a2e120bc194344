/* 16550 UART driver for COM1, initialised the way a real driver does it. */
#include "kernel.h"

#define UART_THR 0 /* transmit holding (DLAB=0) */
#define UART_DLL 0 /* divisor latch low (DLAB=1) */
#define UART_IER 1 /* interrupt enable (DLAB=0) */
#define UART_DLM 1 /* divisor latch high (DLAB=1) */
#define UART_FCR 2 /* FIFO control (write) */
#define UART_LCR 3 /* line control */
#define UART_MCR 4 /* modem control */
#define UART_LSR 5 /* line status */

#define LCR_DLAB 0x80
#define LCR_8N1 0x03
#define LSR_THRE 0x20

void uart_init(void)
{
	outb(COM1 + UART_IER, 0x00);     /* no interrupts */
	outb(COM1 + UART_LCR, LCR_DLAB); /* DLAB on to reach the divisor */
	outb(COM1 + UART_DLL, 0x01);     /* divisor 1: 115200 baud */
	outb(COM1 + UART_DLM, 0x00);
	outb(COM1 + UART_LCR, LCR_8N1);  /* DLAB off, 8 data bits, no parity, 1 stop */
	outb(COM1 + UART_FCR, 0xC7);     /* enable FIFOs, clear both, 14-byte trigger */
	outb(COM1 + UART_MCR, 0x0B);     /* DTR, RTS, OUT2 */
}

static void uart_tx(uint8_t c)
{
	while ((inb(COM1 + UART_LSR) & LSR_THRE) == 0)
		;
	outb(COM1 + UART_THR, c);
}

void uart_putc(char c)
{
	if (c == '\n')
		uart_tx('\r');
	uart_tx((uint8_t)c);
}

void uart_puts(const char *s)
{
	while (*s)
		uart_putc(*s++);
}

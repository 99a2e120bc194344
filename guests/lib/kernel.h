/* The tiny freestanding library shared by the vmxemu guests. */
#ifndef VMXEMU_GUEST_KERNEL_H
#define VMXEMU_GUEST_KERNEL_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "io.h"

/* uart.c: 16550 on COM1 (0x3f8). */
#define COM1 0x3f8
void uart_init(void);
void uart_putc(char c); /* '\n' is sent as "\r\n", as a terminal driver would */
void uart_puts(const char *s);

/* printf.c: %s %d %i %u %x %X %c %p %%, length l/ll, flags '0' '-', width. */
int kprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
int kvprintf(const char *fmt, va_list ap);

/* fwcfg.c: QEMU fw_cfg, legacy I/O interface (selector 0x510, data 0x511). */
#define FW_CFG_PORT_SEL 0x510
#define FW_CFG_PORT_DATA 0x511
#define FW_CFG_SIGNATURE 0x00
#define FW_CFG_NB_CPUS 0x05
void fwcfg_read(uint16_t key, void *buf, size_t len);
int fwcfg_present(void); /* signature reads "QEMU" */
uint16_t fwcfg_cpus(void);

/* exit.c: isa-debug-exit (iobase 0xf4, iosize 4); the host exit status is (code<<1)|1. */
#define DEBUG_EXIT_PORT 0xf4
/* The Bochs power-off port: writing the bytes of "Shutdown" to it powers the machine off. */
#define SHUTDOWN_PORT 0x8900
void debug_exit(uint32_t code) __attribute__((noreturn));
void halt(void) __attribute__((noreturn));

/* setjmp32.S / setjmp64.S */
typedef unsigned long k_jmp_buf[8];
int k_setjmp(k_jmp_buf env) __attribute__((returns_twice));
void k_longjmp(k_jmp_buf env, int val) __attribute__((noreturn));

/* string.c (also what gcc may call implicitly) */
void *memcpy(void *dst, const void *src, size_t n);
void *memmove(void *dst, const void *src, size_t n);
void *memset(void *dst, int c, size_t n);
int memcmp(const void *a, const void *b, size_t n);
size_t strlen(const char *s);
int strcmp(const char *a, const char *b);

#endif

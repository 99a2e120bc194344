/*
 * compute32: the shared compute code (../compute/compute.c) as a 32-bit
 * multiboot kernel.  Exits through isa-debug-exit with 0x10 when every
 * self-check passed (host exit status 33), 0x11 otherwise.  It prints only
 * what compute_run prints, so its serial output must equal the hosted
 * oracle's output (modulo the UART's "\r\n").
 */
#include "compute.h"
#include "multiboot.h"

void kmain(uint32_t magic, const struct multiboot_info *mbi);

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
	int failures;

	(void)mbi;
	uart_init();
	failures = compute_run();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		failures++;
	debug_exit(failures ? 0x11 : 0x10);
}

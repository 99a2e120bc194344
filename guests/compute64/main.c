/*
 * compute64: the shared compute code (../compute/compute.c) in 64-bit long
 * mode, entered from entry.S.  Exits through isa-debug-exit with 0x10 when
 * every self-check passed and the CPU really is in long mode (EFER.LMA,
 * CR0.PG, CR4.PAE), 0x11 otherwise.  Prints only what compute_run prints.
 */
#include "compute.h"
#include "multiboot.h"

void kmain(uint32_t magic, uint32_t info);

static uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;

	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}

void kmain(uint32_t magic, uint32_t info)
{
	uint64_t cr0, cr4;
	int failures;

	(void)info;
	uart_init();
	failures = compute_run();
	__asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
	__asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC)
		failures++;
	if (!(rdmsr(0xC0000080) & (1u << 10)) || !(cr0 & (1ull << 31)) ||
	    !(cr4 & (1u << 5)))
		failures++;
	debug_exit(failures ? 0x11 : 0x10);
}

/*
 * Leaving the machine: isa-debug-exit; without it, the Bochs power-off
 * port (Bochs has no isa-debug-exit: bench/run.sh runs the bench kernels
 * under Bochs this way, reading their result from COM1); without either,
 * halting forever.
 */
#include "kernel.h"

void halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void debug_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	/* no isa-debug-exit device: power off, or stop here */
	for (const char *p = "Shutdown"; *p; p++)
		outb(SHUTDOWN_PORT, (uint8_t)*p);
	halt();
}

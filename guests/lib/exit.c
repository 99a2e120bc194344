/* Leaving the machine: isa-debug-exit, or halting forever without it. */
#include "kernel.h"

void halt(void)
{
	for (;;)
		__asm__ volatile("cli; hlt");
}

void debug_exit(uint32_t code)
{
	outl(DEBUG_EXIT_PORT, code);
	halt(); /* no isa-debug-exit device: stop here */
}

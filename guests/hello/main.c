/*
 * hello: a 32-bit multiboot kernel that reports what the boot loader and the
 * board gave it -- the multiboot magic, memory sizes and command line, and
 * QEMU's fw_cfg signature and CPU count -- over COM1, then leaves through
 * isa-debug-exit with 0x10 (host exit status 33).
 */
#include "kernel.h"
#include "multiboot.h"

void kmain(uint32_t magic, const struct multiboot_info *mbi);

void kmain(uint32_t magic, const struct multiboot_info *mbi)
{
	uart_init();
	kprintf("vmxemu hello guest\n");

	if (magic != MULTIBOOT_BOOTLOADER_MAGIC) {
		kprintf("multiboot: bad magic 0x%08x\n", magic);
		debug_exit(0x11);
	}
	kprintf("multiboot: magic 0x%08x ok, flags 0x%x\n", magic, mbi->flags);

	if (mbi->flags & MB_INFO_MEMORY)
		kprintf("memory: lower %u KiB, upper %u KiB\n", mbi->mem_lower,
			mbi->mem_upper);
	else
		kprintf("memory: not provided\n");

	if (mbi->flags & MB_INFO_CMDLINE)
		kprintf("cmdline: \"%s\"\n",
			(const char *)(uintptr_t)mbi->cmdline);
	else
		kprintf("cmdline: not provided\n");

	if (fwcfg_present())
		kprintf("fw_cfg: QEMU, cpus=%u\n", fwcfg_cpus());
	else
		kprintf("fw_cfg: not present\n");

	kprintf("exiting with 0x%lx\n", 0x10ul);
	debug_exit(0x10);
}

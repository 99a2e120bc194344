/*
 * Multiboot (v1) entry for the 32-bit guests.  The boot loader leaves us in
 * 32-bit protected mode with paging off, EAX = 0x2BADB002 and EBX = the
 * multiboot information structure.  We load our own flat GDT (the loader's
 * may be anywhere), clear .bss, set up a stack and call
 * kmain(magic, info); if it returns we halt.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, provide mem_* info */

	.section .multiboot, "a"
	.align 4
	.long MB_MAGIC
	.long MB_FLAGS
	.long -(MB_MAGIC + MB_FLAGS)

	.text
	.code32
	.globl _start
	.type _start, @function
_start:
	cli
	cld
	movl %eax, %esi                 /* keep magic and info across the setup */
	movl %ebx, %edi

	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $stack_top, %esp

	/* clear .bss (the loader should have; a kernel does not rely on it) */
	movl %edi, %edx
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb
	movl %edx, %edi

	pushl %edi                      /* info */
	pushl %esi                      /* magic */
	call kmain
2:	cli
	hlt
	jmp 2b
	.size _start, . - _start

	.section .rodata
	.align 8
gdt:
	.quad 0x0000000000000000        /* null */
	.quad 0x00CF9A000000FFFF        /* 0x08: code, base 0, limit 4G, 32-bit */
	.quad 0x00CF92000000FFFF        /* 0x10: data, base 0, limit 4G */
gdt_end:
	.align 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.bss
	.align 16
stack:
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits

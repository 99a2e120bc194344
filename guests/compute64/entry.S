/*
 * Multiboot (v1) entry for the 64-bit guest.  Starts in 32-bit protected
 * mode as the multiboot loader leaves it, then does what a long-mode kernel
 * does: load a GDT with 32- and 64-bit code segments, identity-map the
 * first 1 GiB with 2 MiB pages (PML4 -> PDPT -> PD), enable PAE, set
 * EFER.LME, enable paging, far-jump into the 64-bit code segment and call
 * kmain(magic, info) with the System V AMD64 convention.
 */
#define MB_MAGIC 0x1BADB002
#define MB_FLAGS 0x00000003 /* page-align modules, provide mem_* info */

#define CR0_PE (1 << 0)
#define CR0_PG (1 << 31)
#define CR4_PAE (1 << 5)
#define MSR_EFER 0xC0000080
#define EFER_LME (1 << 8)
#define PTE_P 0x001
#define PTE_RW 0x002
#define PTE_PS 0x080

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
	movl %eax, boot_magic
	movl %ebx, boot_info

	lgdt gdt_desc
	ljmp $0x08, $1f
1:	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl $stack_top, %esp

	/* clear .bss, which holds the page tables and the stack */
	movl $__bss_start, %edi
	movl $__bss_end, %ecx
	subl %edi, %ecx
	xorl %eax, %eax
	rep stosb

	/* PML4[0] -> PDPT, PDPT[0] -> PD, PD[i] = i * 2 MiB (large pages) */
	movl $pdpt, %eax
	orl $(PTE_P | PTE_RW), %eax
	movl %eax, pml4
	movl $pd, %eax
	orl $(PTE_P | PTE_RW), %eax
	movl %eax, pdpt
	xorl %ecx, %ecx
2:	movl %ecx, %eax
	shll $21, %eax
	orl $(PTE_P | PTE_RW | PTE_PS), %eax
	movl %eax, pd(, %ecx, 8)
	movl $0, pd + 4(, %ecx, 8)
	incl %ecx
	cmpl $512, %ecx
	jb 2b

	movl $pml4, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $CR4_PAE, %eax
	movl %eax, %cr4
	movl $MSR_EFER, %ecx
	rdmsr
	orl $EFER_LME, %eax
	wrmsr
	movl %cr0, %eax
	orl $(CR0_PG | CR0_PE), %eax
	movl %eax, %cr0                 /* now in compatibility mode (EFER.LMA=1) */
	ljmp $0x18, $long_mode
	.size _start, . - _start

	.code64
long_mode:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq $stack_top, %rsp
	movl boot_magic(%rip), %edi     /* zero-extends into rdi */
	movl boot_info(%rip), %esi
	call kmain
3:	cli
	hlt
	jmp 3b

	.section .rodata
	.align 8
gdt:
	.quad 0x0000000000000000        /* null */
	.quad 0x00CF9A000000FFFF        /* 0x08: code, 32-bit, base 0, limit 4G */
	.quad 0x00CF92000000FFFF        /* 0x10: data, base 0, limit 4G */
	.quad 0x00AF9A000000FFFF        /* 0x18: code, 64-bit (L=1) */
gdt_end:
	.align 4
	.word 0
gdt_desc:
	.word gdt_end - gdt - 1
	.long gdt

	.data
	.align 4
boot_magic:
	.long 0
boot_info:
	.long 0

	.bss
	.align 4096
pml4:
	.skip 4096
pdpt:
	.skip 4096
pd:
	.skip 4096
	.align 16
stack:
	.skip 16384
stack_top:

	.section .note.GNU-stack, "", @progbits

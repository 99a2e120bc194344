/*
 * smp: the AP start-up trampoline and the interrupt stubs.
 *
 * tramp_start..tramp_end is copied below 1 MiB (TRAMP_ADDR, 0x8000) by the
 * BSP; a STARTUP IPI with vector 0x08 starts an AP there in real mode with
 * CS = 0x0800, IP = 0.  It loads its own GDT (addressable in real mode),
 * enters 32-bit protected mode, takes the stack the BSP prepared for it
 * (ap_stack_top) and calls ap_main() through an absolute address (the
 * copy runs away from where it was linked).
 */
#define TRAMP_ADDR 0x8000
#define REL(x) ((x) - tramp_start)

	.text
	.code16
	.globl tramp_start, tramp_end
tramp_start:
	cli
	cld
	movw %cs, %ax
	movw %ax, %ds
	lgdtl REL(tramp_gdt_desc)
	movl %cr0, %eax
	orl $1, %eax
	movl %eax, %cr0
	ljmpl $0x08, $(REL(tramp32) + TRAMP_ADDR)

	.code32
tramp32:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %fs
	movw %ax, %gs
	movw %ax, %ss
	movl ap_stack_top, %esp
	movl $ap_main, %eax
	call *%eax
1:	cli
	hlt
	jmp 1b

	.align 8
tramp_gdt:
	.quad 0x0000000000000000
	.quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code, flat */
	.quad 0x00CF92000000FFFF        /* 0x10: data, flat */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long REL(tramp_gdt) + TRAMP_ADDR
tramp_end:

/*
 * Interrupt stubs: save the registers, call the C handler, return.  The
 * handlers send the EOI themselves (not for NMI).
 */
.macro stub name, fn
	.globl \name
\name:
	pushal
	cld
	call \fn
	popal
	iret
.endm

stub isr_nmi, on_nmi
stub isr_timer, on_timer
stub isr_ping, on_ping
stub isr_pong, on_pong
stub isr_bcast, on_bcast
stub isr_logical, on_logical
stub isr_pit, on_pit
stub isr_spurious, on_spurious

/* Any other vector: report it (the C side prints and fails). */
	.globl isr_other
isr_other:
	pushal
	cld
	call on_other
1:	cli
	hlt
	jmp 1b

	.section .note.GNU-stack, "", @progbits

/*
 * Exception stubs for the exact guest: vectors 0-31 push a uniform frame
 * (an error code of 0 where the CPU pushes none, then the vector), save
 * DS and ES and load the flat data selector into both -- the probes run
 * with test selectors in DS/ES, which the C handler cannot use -- then call
 * trap(frame), which may move the saved EIP past the faulting probe.
 */
	.text
	.code32

.macro stub n, err
isr\n:
	.if \err == 0
	pushl $0
	.endif
	pushl $\n
	jmp trap_common
.endm

/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30 (SDM Vol. 3A 6.13). */
stub 0,0;  stub 1,0;  stub 2,0;  stub 3,0;  stub 4,0;  stub 5,0;  stub 6,0;  stub 7,0
stub 8,1;  stub 9,0;  stub 10,1; stub 11,1; stub 12,1; stub 13,1; stub 14,1; stub 15,0
stub 16,0; stub 17,1; stub 18,0; stub 19,0; stub 20,0; stub 21,1; stub 22,0; stub 23,0
stub 24,0; stub 25,0; stub 26,0; stub 27,0; stub 28,0; stub 29,1; stub 30,1; stub 31,0

trap_common:
	pushal
	pushl %ds
	pushl %es
	movl $0x10, %eax
	movl %eax, %ds
	movl %eax, %es
	pushl %esp                      /* struct trap_frame * */
	cld
	call trap
	addl $4, %esp
	popl %es
	popl %ds
	popal
	addl $8, %esp                   /* vector and error code */
	iret

	.section .rodata
	.align 4
	.globl isr_table
isr_table:
	.long isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7
	.long isr8,  isr9,  isr10, isr11, isr12, isr13, isr14, isr15
	.long isr16, isr17, isr18, isr19, isr20, isr21, isr22, isr23
	.long isr24, isr25, isr26, isr27, isr28, isr29, isr30, isr31

	.section .note.GNU-stack, "", @progbits

/*
 * Exception and NMI stubs for the nmi guest, 32- and 64-bit (the same file
 * is assembled with -m32 and -m64).  Vectors 0-31 push a uniform frame (an
 * error code of 0 where the CPU pushes none, then the vector), save the
 * caller-saved registers and call trap(vector, ip) in C, where ip is the
 * saved instruction pointer of the interrupted code; then they return with
 * IRET (IRETQ in 64-bit mode).  isr_table holds the stub addresses.
 */
	.text

.macro stub n, err
isr\n:
	.if \err == 0
	push $0
	.endif
	push $\n
	jmp trap_common
.endm

/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30 (SDM Vol. 3A 6.13). */
stub 0,0;  stub 1,0;  stub 2,0;  stub 3,0;  stub 4,0;  stub 5,0;  stub 6,0;  stub 7,0
stub 8,1;  stub 9,0;  stub 10,1; stub 11,1; stub 12,1; stub 13,1; stub 14,1; stub 15,0
stub 16,0; stub 17,1; stub 18,0; stub 19,0; stub 20,0; stub 21,1; stub 22,0; stub 23,0
stub 24,0; stub 25,0; stub 26,0; stub 27,0; stub 28,0; stub 29,1; stub 30,1; stub 31,0

#ifdef __x86_64__
	.code64
trap_common:
	/* Stack: vector, error, RIP, CS, RFLAGS, RSP, SS.  The CPU aligned
	 * RSP to 16 before pushing its five quadwords (SDM Vol. 3A 6.14.2), so
	 * after the two pushes above and the nine below RSP is 16-aligned for
	 * the call, as the System V ABI wants. */
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	movq 72(%rsp), %rdi             /* vector */
	movq 88(%rsp), %rsi             /* RIP */
	cld
	call trap
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rax
	addq $16, %rsp                  /* vector and error code */
	iretq

	.section .rodata
	.align 8
	.globl isr_table
isr_table:
	.quad isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7
	.quad isr8,  isr9,  isr10, isr11, isr12, isr13, isr14, isr15
	.quad isr16, isr17, isr18, isr19, isr20, isr21, isr22, isr23
	.quad isr24, isr25, isr26, isr27, isr28, isr29, isr30, isr31
#else
	.code32
trap_common:
	pushal
	pushl 40(%esp)                  /* EIP (above 32 bytes of registers, vector, error) */
	pushl 36(%esp)                  /* vector (32 + 4: the push above moved it) */
	cld
	call trap
	addl $8, %esp
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
#endif

	.section .note.GNU-stack, "", @progbits

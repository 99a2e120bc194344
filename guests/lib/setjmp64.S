/* setjmp/longjmp for 64-bit mode (System V AMD64).
 * k_jmp_buf layout: rbx, rbp, r12, r13, r14, r15, rsp (after return), rip. */
	.text
	.code64
	.globl k_setjmp
	.type k_setjmp, @function
k_setjmp:
	movq %rbx, 0(%rdi)
	movq %rbp, 8(%rdi)
	movq %r12, 16(%rdi)
	movq %r13, 24(%rdi)
	movq %r14, 32(%rdi)
	movq %r15, 40(%rdi)
	leaq 8(%rsp), %rdx      /* the caller's rsp once we have returned */
	movq %rdx, 48(%rdi)
	movq (%rsp), %rdx       /* return address */
	movq %rdx, 56(%rdi)
	xorl %eax, %eax
	ret
	.size k_setjmp, . - k_setjmp

	.globl k_longjmp
	.type k_longjmp, @function
k_longjmp:
	movl %esi, %eax
	testl %eax, %eax
	jnz 1f
	incl %eax               /* longjmp(env, 0) returns 1 */
1:	movq 0(%rdi), %rbx
	movq 8(%rdi), %rbp
	movq 16(%rdi), %r12
	movq 24(%rdi), %r13
	movq 32(%rdi), %r14
	movq 40(%rdi), %r15
	movq 48(%rdi), %rsp
	jmp *56(%rdi)
	.size k_longjmp, . - k_longjmp

	.section .note.GNU-stack, "", @progbits

/* setjmp/longjmp for 32-bit protected mode (cdecl).
 * k_jmp_buf layout: ebx, esi, edi, ebp, esp (after return), eip. */
	.text
	.code32
	.globl k_setjmp
	.type k_setjmp, @function
k_setjmp:
	movl 4(%esp), %eax      /* env */
	movl %ebx, 0(%eax)
	movl %esi, 4(%eax)
	movl %edi, 8(%eax)
	movl %ebp, 12(%eax)
	leal 4(%esp), %ecx      /* the caller's esp once we have returned */
	movl %ecx, 16(%eax)
	movl (%esp), %ecx       /* return address */
	movl %ecx, 20(%eax)
	xorl %eax, %eax
	ret
	.size k_setjmp, . - k_setjmp

	.globl k_longjmp
	.type k_longjmp, @function
k_longjmp:
	movl 4(%esp), %edx      /* env */
	movl 8(%esp), %eax      /* val */
	testl %eax, %eax
	jnz 1f
	incl %eax               /* longjmp(env, 0) returns 1 */
1:	movl 0(%edx), %ebx
	movl 4(%edx), %esi
	movl 8(%edx), %edi
	movl 12(%edx), %ebp
	movl 16(%edx), %esp
	jmp *20(%edx)
	.size k_longjmp, . - k_longjmp

	.section .note.GNU-stack, "", @progbits

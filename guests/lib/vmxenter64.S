/*
 * The VM-entry and VM-exit stubs shared by the 64-bit VMX guests (vmxon,
 * benchvmx): vmx_enter and vmexit_entry, declared in lib/vmx64.h.  Each
 * kernel provides vmexit(regs) and vmresume_failed(rflags) in C.
 */
/*
 * VM entry and VM exit (SDM Vol. 3C chapters 27 and 28).
 *
 * uint64_t vmx_enter(uint64_t *host_sp, int resume) saves the callee-saved
 * registers, stores its stack pointer in *host_sp and executes VMLAUNCH
 * (resume = 0) or VMRESUME.  A VMfail falls through to the next
 * instruction: vmx_enter returns RFLAGS (CF or ZF set; never 0, bit 1 is
 * always 1).  A successful entry runs the guest; every VM exit (and a
 * VM-entry failure, which loads host state as an exit does: 28.8) starts
 * vmexit_entry at the VMCS's host RIP, on the host RSP the VMCS names (the
 * CPU's exit stack, 16-byte aligned), with RFLAGS = 2 (28.5.3) and the
 * guest's general registers.  It saves them (struct guest_regs) and calls
 * vmexit(regs) in C, which returns 0 to VMRESUME the guest (with the
 * registers it may have changed: an emulated CPUID) or the stack pointer
 * vmx_enter saved, to return 0 from vmx_enter.  A VMRESUME that fails
 * calls vmresume_failed(rflags), which returns that stack pointer too.
 */
	.text
	.code64
	.globl vmx_enter, vmexit_entry
vmx_enter:
	pushq %rbx
	pushq %rbp
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, (%rdi)
	testl %esi, %esi
	jnz 1f
	vmlaunch
	jmp 2f
1:	vmresume
2:	pushfq                          /* VMfail: CF (VMfailInvalid) or ZF (VMfailValid) */
	popq %rax
vmx_enter_ret:
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %rbp
	popq %rbx
	ret

vmexit_entry:
	pushq %rax
	pushq %rcx
	pushq %rdx
	pushq %rbx
	pushq %rbp
	pushq %rsi
	pushq %rdi
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	subq $8, %rsp                   /* 15 pushes from a 16-aligned top: align for the call */
	cld
	call vmexit
	addq $8, %rsp
	testq %rax, %rax
	jnz 3f
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rdi
	popq %rsi
	popq %rbp
	popq %rbx
	popq %rdx
	popq %rcx
	popq %rax
	vmresume
	pushfq                          /* VMRESUME failed */
	popq %rdi                       /* RSP is the exit stack's top again: aligned */
	call vmresume_failed
3:	movq %rax, %rsp                 /* back on vmx_enter's stack */
	xorl %eax, %eax
	jmp vmx_enter_ret

	.section .note.GNU-stack, "", @progbits

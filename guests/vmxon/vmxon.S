/*
 * vmxon: the AP start-up trampoline (real mode -> protected mode -> long
 * mode) and the 64-bit exception stubs.
 *
 * tramp_start..tramp_end is copied to TRAMP_ADDR (0x8000) by the BSP; a
 * STARTUP IPI with vector 0x08 starts an AP there in real mode with
 * CS = 0x0800, IP = 0.  It loads its own GDT (addressable in real mode:
 * 32-bit code 0x08, data 0x10, 64-bit code 0x18, as compute64/entry.S),
 * enters protected mode, loads the BSP's page tables (ap_cr3, below 4 GiB),
 * enables PAE, sets IA32_EFER.LME, enables paging, far-jumps into 64-bit
 * code, takes the stack the BSP prepared (ap_stack_top) and calls
 * ap_main() through an absolute address.
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
	movl ap_cr3, %eax
	movl %eax, %cr3
	movl %cr4, %eax
	orl $(1 << 5), %eax             /* CR4.PAE */
	movl %eax, %cr4
	movl $0xC0000080, %ecx          /* IA32_EFER */
	rdmsr
	orl $(1 << 8), %eax             /* LME */
	wrmsr
	movl %cr0, %eax
	andl $0x9FFFFFFF, %eax          /* caches on: CD and NW (set at INIT) cleared */
	orl $0x80000001, %eax           /* PG | PE */
	movl %eax, %cr0
	ljmpl $0x18, $(REL(tramp64) + TRAMP_ADDR)

	.code64
tramp64:
	movw $0x10, %ax
	movw %ax, %ds
	movw %ax, %es
	movw %ax, %ss
	xorl %eax, %eax
	movw %ax, %fs
	movw %ax, %gs
	movq ap_stack_top, %rsp
	movabsq $ap_main, %rax
	call *%rax
1:	cli
	hlt
	jmp 1b

	.align 8
tramp_gdt:
	.quad 0x0000000000000000
	.quad 0x00CF9A000000FFFF        /* 0x08: 32-bit code, flat */
	.quad 0x00CF92000000FFFF        /* 0x10: data, flat */
	.quad 0x00AF9A000000FFFF        /* 0x18: 64-bit code (L=1) */
tramp_gdt_desc:
	.word tramp_gdt_desc - tramp_gdt - 1
	.long REL(tramp_gdt) + TRAMP_ADDR
tramp_end:

/*
 * Exception stubs, vectors 0-31: push a uniform frame (an error code of 0
 * where the CPU pushes none, then the vector), save the general registers
 * and call trap(frame) in C, which may change the saved RIP (to resume at
 * a probe's recovery point).  isr_table holds the stub addresses.
 */
.macro stub n, err
isr\n:
	.if \err == 0
	pushq $0
	.endif
	pushq $\n
	jmp trap_common
.endm

/* Vectors that push an error code: 8, 10-14, 17, 21, 29, 30 (SDM Vol. 3A 6.13). */
stub 0,0;  stub 1,0;  stub 2,0;  stub 3,0;  stub 4,0;  stub 5,0;  stub 6,0;  stub 7,0
stub 8,1;  stub 9,0;  stub 10,1; stub 11,1; stub 12,1; stub 13,1; stub 14,1; stub 15,0
stub 16,0; stub 17,1; stub 18,0; stub 19,0; stub 20,0; stub 21,1; stub 22,0; stub 23,0
stub 24,0; stub 25,0; stub 26,0; stub 27,0; stub 28,0; stub 29,1; stub 30,1; stub 31,0

trap_common:
	/* Frame (struct trap_frame): r15..rax, vector, error, RIP, CS,
	 * RFLAGS, RSP, SS.  RSP is 16-aligned after the CPU's pushes (SDM
	 * Vol. 3A 6.14.2), the two pushes above and the fifteen below leave
	 * it 8 off: one more push aligns it for the call. */
	pushq %rax
	pushq %rbx
	pushq %rcx
	pushq %rdx
	pushq %rsi
	pushq %rdi
	pushq %rbp
	pushq %r8
	pushq %r9
	pushq %r10
	pushq %r11
	pushq %r12
	pushq %r13
	pushq %r14
	pushq %r15
	movq %rsp, %rdi
	pushq $0
	cld
	call trap
	addq $8, %rsp
	popq %r15
	popq %r14
	popq %r13
	popq %r12
	popq %r11
	popq %r10
	popq %r9
	popq %r8
	popq %rbp
	popq %rdi
	popq %rsi
	popq %rdx
	popq %rcx
	popq %rbx
	popq %rax
	addq $16, %rsp                  /* vector and error code */
	iretq

/* vmx_enter and vmexit_entry: lib/vmxenter64.S. */
	.text
	.code64
	.globl guest_entry
/*
 * The guest: 64-bit code in the kernel's own address space (its CR3 is
 * the host's; with EPT the host's identity map translates the
 * guest-physical addresses).  CPUID exits unconditionally (exit reason
 * 10, SDM Vol. 3C 26.1.2); the host emulates it and resumes the guest
 * after it.  Then the EPT step: the guest reads the quadword at
 * guest_probe (0: no EPT step), a page the EPT identity map leaves out —
 * an EPT violation (exit reason 48) the host fixes by mapping the page;
 * the read did not complete, so the host resumes at the same MOV, which
 * now succeeds.  VMCALL exits too (reason 18): the guest is done, and
 * hands back the vendor string CPUID gave it in RBX, RDX, RCX and the
 * value it read in RSI.  A host that resumes after the VMCALL (scenario
 * no-invept) gets the read again, then another VMCALL.  With guest_exec
 * (scenario ept-exec) the guest also calls a RET in the probe page,
 * which EPT maps without execute permission: an EPT violation before
 * the RET, which the host fixes by allowing execution.
 */
guest_entry:
	xorl %eax, %eax
	xorl %ecx, %ecx
	cpuid
	movq guest_probe(%rip), %rdi
	xorl %esi, %esi
1:	testq %rdi, %rdi
	jz 2f
	movq (%rdi), %rsi               /* EPT step: read the page left out */
	movq guest_exec(%rip), %rax
	testq %rax, %rax
	jz 2f
	call *%rax                      /* ept-exec: a RET in a page EPT does not let it execute */
2:	vmcall
	jmp 1b                          /* the host resumes after VMCALL only to have the page read again */

	.section .rodata
	.align 8
	.globl isr_table
isr_table:
	.quad isr0,  isr1,  isr2,  isr3,  isr4,  isr5,  isr6,  isr7
	.quad isr8,  isr9,  isr10, isr11, isr12, isr13, isr14, isr15
	.quad isr16, isr17, isr18, isr19, isr20, isr21, isr22, isr23
	.quad isr24, isr25, isr26, isr27, isr28, isr29, isr30, isr31

	.section .note.GNU-stack, "", @progbits

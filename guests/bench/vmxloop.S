/*
 * benchvmx's guest (bench/vmx.c): CPUID in a loop of bench_vmx_n
 * iterations, then VMCALL.  CPUID exits unconditionally (SDM Vol. 3C
 * 26.1.2, exit reason 10); the host emulates it, moves the guest RIP past
 * it and VMRESUMEs; VMCALL (reason 18) ends the run.  R8 counts: the exit
 * stub saves and restores it (lib/vmxenter64.S).  Per iteration the guest
 * retires 3 instructions (XOR, DEC, JNZ); the exiting CPUID does not
 * retire (26.1).
 */
	.intel_syntax noprefix
	.text
	.code64
	.globl bench_vmx_guest
bench_vmx_guest:
	mov r8d, dword ptr [rip + bench_vmx_n]
1:	xor eax, eax
	cpuid
	dec r8d
	jnz 1b
	vmcall
2:	jmp 2b                          /* the host never resumes after VMCALL */

	.section .note.GNU-stack, "", @progbits

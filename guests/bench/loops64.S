/*
 * The measured workloads of bench64 (64-bit mode, 4-level paging).  Each is
 * a System V function `uint32_t bench_NAME(uint32_t iters)` (iters >= 1);
 * main.c holds the exact number of instructions each retires from its
 * first instruction to its RET (the CALL excluded), written next to the
 * code here as "fixed + per-iteration" counts that main.c repeats.  las and
 * ptchurn work on PAGED_VA, which main.c maps with 4 KiB pages; the others
 * on the identity-mapped kernel image (2 MiB pages).
 */
#include "bench.h"
	.intel_syntax noprefix
	.text
	.code64

/* alu: dec/jnz (32-bit DEC, FF C9).  2 + 2n. */
	.globl bench_alu
bench_alu:
	mov ecx, edi
1:	dec ecx
	jnz 1b
	ret

/* las: load, ALU, xor with an immediate, store, walking a 4 KiB buffer in
 * 4 KiB-paged memory (index wraps with AND).  5 + 8n. */
	.globl bench_las
bench_las:
	mov ecx, edi
	mov esi, PAGED_VA
	lea rdi, [rsi + 0x1000]
	xor edx, edx
1:	mov eax, [rsi + rdx]
	add eax, ecx
	xor eax, 0x5a5a5a5a
	mov [rdi + rdx], eax
	add edx, 4
	and edx, 0xffc
	dec ecx
	jnz 1b
	ret

/* movsb: copy 4 KiB with rep movsb, n times.  2 + 6n. */
	.globl bench_movsb
bench_movsb:
	mov edx, edi
1:	mov esi, offset copy_src
	mov edi, offset copy_dst
	mov ecx, 4096
	rep movsb
	dec edx
	jnz 1b
	ret

/* bytecopy: copy 4 KiB one byte at a time, n times.
 * 2 + n * (5 + 6 * 4096). */
	.globl bench_bytecopy
bench_bytecopy:
	mov edx, edi
1:	mov esi, offset copy_src
	mov edi, offset copy_dst
	mov ecx, 4096
2:	mov al, [rsi]
	mov [rdi], al
	inc rsi
	inc rdi
	dec ecx
	jnz 2b
	dec edx
	jnz 1b
	ret

/* calls: n times fib(FIB_N) by double recursion; returns the sum.
 * 6 + n * (5 + F(FIB_N)) with F(k) = 3 for k < 2, 12 + F(k-1) + F(k-2). */
	.globl bench_calls
bench_calls:
	push rbx
	mov ecx, edi
	xor ebx, ebx
1:	mov eax, FIB_N
	call fib
	add ebx, eax
	dec ecx
	jnz 1b
	mov eax, ebx
	pop rbx
	ret
/* fib: eax = n in, fib(n) out; rdx clobbered, rcx kept. */
fib:
	cmp eax, 2
	jb 2f
	push rax
	dec eax
	call fib
	pop rdx
	push rax
	lea eax, [rdx - 2]
	call fib
	pop rdx
	add eax, edx
2:	ret

/* smc: each iteration patches the imm32 of the ADD it executes next;
 * returns the sum of the counter values 1..n.  3 + 4n. */
	.globl bench_smc
bench_smc:
	mov ecx, edi
	xor eax, eax
1:	mov [rip + smc_add + 1], ecx
smc_add:
	add eax, 0x12345678	/* 05 id: the immediate is at smc_add + 1 */
	dec ecx
	jnz 1b
	ret

/* ptchurn: increment a counter in each of the 256 4 KiB pages at PAGED_VA
 * in turn, INVLPG the page after each store, and reload CR3 after every
 * 256th page.  4 + 9n + 2 * floor(n / 256). */
	.globl bench_ptchurn
bench_ptchurn:
	mov ecx, edi
	mov esi, PAGED_VA
	xor edx, edx
1:	mov eax, [rsi + rdx]
	add eax, 1
	mov [rsi + rdx], eax
	invlpg [rsi + rdx]
	add edx, 0x1000
	and edx, 0xff000
	jnz 2f
	mov rax, cr3
	mov cr3, rax
2:	dec ecx
	jnz 1b
	ret

	.bss
	.align 4096
	.globl copy_src, copy_dst
copy_src:	.skip 4096
copy_dst:	.skip 4096

	.section .note.GNU-stack, "", @progbits

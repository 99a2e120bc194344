/*
 * The measured workloads of bench32 (32-bit protected mode, flat segments,
 * paging off, as the multiboot loader leaves the machine).  Each is a cdecl
 * function `uint32_t bench_NAME(uint32_t iters)` (iters >= 1); main.c holds
 * the exact number of instructions each retires from its first instruction
 * to its RET (the CALL excluded), written next to the code here as
 * "fixed + per-iteration" counts that main.c's formulas repeat.
 */
#include "bench.h"
	.intel_syntax noprefix
	.text
	.code32

/* alu: dec/jnz.  2 + 2n. */
	.globl bench_alu
bench_alu:
	mov ecx, [esp + 4]
1:	dec ecx
	jnz 1b
	ret

/* las: load, ALU, xor with an immediate, store, walking a 4 KiB buffer
 * (index wraps with AND).  9 + 8n. */
	.globl bench_las
bench_las:
	push esi
	push edi
	mov ecx, [esp + 12]
	mov esi, offset las_src
	mov edi, offset las_dst
	xor edx, edx
1:	mov eax, [esi + edx]
	add eax, ecx
	xor eax, 0x5a5a5a5a
	mov [edi + edx], eax
	add edx, 4
	and edx, 0xffc
	dec ecx
	jnz 1b
	pop edi
	pop esi
	ret

/* movsb: copy 4 KiB with rep movsb, n times.  6 + 6n (REP MOVSB counts as
 * one instruction). */
	.globl bench_movsb
bench_movsb:
	push esi
	push edi
	mov edx, [esp + 12]
1:	mov esi, offset copy_src
	mov edi, offset copy_dst
	mov ecx, 4096
	rep movsb
	dec edx
	jnz 1b
	pop edi
	pop esi
	ret

/* bytecopy: copy 4 KiB one byte at a time, n times.
 * 6 + n * (5 + 6 * 4096). */
	.globl bench_bytecopy
bench_bytecopy:
	push esi
	push edi
	mov edx, [esp + 12]
1:	mov esi, offset copy_src
	mov edi, offset copy_dst
	mov ecx, 4096
2:	mov al, [esi]
	mov [edi], al
	inc esi
	inc edi
	dec ecx
	jnz 2b
	dec edx
	jnz 1b
	pop edi
	pop esi
	ret

/* calls: n times fib(FIB_N) by double recursion; returns the sum.
 * 6 + n * (5 + F(FIB_N)) with F(k) = 3 for k < 2, 12 + F(k-1) + F(k-2). */
	.globl bench_calls
bench_calls:
	push ebx
	mov ecx, [esp + 8]
	xor ebx, ebx
1:	mov eax, FIB_N
	call fib
	add ebx, eax
	dec ecx
	jnz 1b
	mov eax, ebx
	pop ebx
	ret
/* fib: eax = n in, fib(n) out; edx clobbered, ecx kept. */
fib:
	cmp eax, 2
	jb 2f
	push eax
	dec eax
	call fib
	pop edx
	push eax
	lea eax, [edx - 2]
	call fib
	pop edx
	add eax, edx
2:	ret

/* smc: each iteration patches the imm32 of the ADD it executes next, so
 * every iteration runs freshly written code; returns the sum of the
 * counter values 1..n.  3 + 4n. */
	.globl bench_smc
bench_smc:
	mov ecx, [esp + 4]
	xor eax, eax
1:	mov [smc_add + 1], ecx
smc_add:
	add eax, 0x12345678	/* 05 id: the immediate is at smc_add + 1 */
	dec ecx
	jnz 1b
	ret

	.bss
	.align 4096
	.globl las_src, las_dst, copy_src, copy_dst
las_src:	.skip 4096
las_dst:	.skip 4096
copy_src:	.skip 4096
copy_dst:	.skip 4096

	.section .note.GNU-stack, "", @progbits

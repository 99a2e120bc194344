package cpu_test

import (
	"github.com/vmxemu/vmxemu/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// goldenCase is one encoding with its length from the SDM's encoding rules
// (Vol. 2A chapter 2 and the opcode maps of Appendix A). Valid encodings
// are also checked against GNU objdump, run at test time as an
// independent decoder; fault cases name the vector the SDM requires.
type goldenCase struct {
	bits  int
	hex   string
	n     int   // expected length (valid encodings)
	fault uint8 // 0: valid; else the vector (arch.VecUD / arch.VecGP)
	what  string
}

var goldenCases = []goldenCase{
	// ---- 64-bit mode ----
	{64, "90", 1, 0, "nop"},
	{64, "66 90", 2, 0, "66 nop"},
	{64, "40 90", 2, 0, "REX nop"},
	{64, "41 90", 2, 0, "xchg r8d,eax"},
	{64, "48 89 c8", 3, 0, "REX.W mov"},
	{64, "48 66 89 c8", 4, 0, "REX before 66 is ignored: mov ax,cx"},
	{64, "48 f3 a5", 3, 0, "REX before F3 is ignored: rep movsd"},
	{64, "66 b8 34 12", 4, 0, "mov ax, imm16 (iv with 66)"},
	{64, "b8 78 56 34 12", 5, 0, "mov eax, imm32"},
	{64, "48 b8 01 02 03 04 05 06 07 08", 10, 0, "mov rax, imm64"},
	{64, "49 bf 01 02 03 04 05 06 07 08", 10, 0, "mov r15, imm64"},
	{64, "48 c7 c0 01 02 03 04", 7, 0, "mov rax, imm32 (iz with REX.W)"},
	{64, "66 48 c7 c0 01 02 03 04", 8, 0, "REX.W wins over 66: imm32"},
	{64, "66 c7 c0 01 02", 5, 0, "mov ax, imm16 (iz with 66)"},
	{64, "48 05 01 02 03 04", 6, 0, "add rax, imm32"},
	{64, "66 05 01 02", 4, 0, "add ax, imm16"},
	{64, "04 01", 2, 0, "add al, imm8"},
	{64, "a1 01 02 03 04 05 06 07 08", 9, 0, "mov eax, moffs64"},
	{64, "67 a1 01 02 03 04", 6, 0, "mov eax, moffs32 (67)"},
	{64, "48 a3 01 02 03 04 05 06 07 08", 10, 0, "mov moffs64, rax"},
	{64, "a2 01 02 03 04 05 06 07 08", 9, 0, "mov moffs64, al"},
	{64, "8b 05 10 00 00 00", 6, 0, "RIP-relative"},
	{64, "67 8b 05 10 00 00 00", 7, 0, "EIP-relative (67)"},
	{64, "c7 05 10 00 00 00 01 02 03 04", 10, 0, "RIP-relative with imm32"},
	{64, "8b 04 25 10 00 00 00", 7, 0, "SIB, no base, no index: disp32"},
	{64, "8b 04 05 10 00 00 00", 7, 0, "SIB, no base: [rax+disp32]"},
	{64, "8b 44 24 08", 4, 0, "[rsp+disp8]"},
	{64, "8b 84 24 00 01 00 00", 7, 0, "[rsp+disp32]"},
	{64, "8b 4c 85 10", 4, 0, "[rbp+rax*4+disp8]"},
	{64, "8b 44 8d 00", 4, 0, "[rbp+rcx*4+0]"},
	{64, "41 8b 04 24", 4, 0, "[r12] needs SIB"},
	{64, "41 8b 45 00", 4, 0, "[r13+0] needs disp8"},
	{64, "43 8b 04 2c", 4, 0, "[r12+r13]"},
	{64, "42 8b 04 25 10 00 00 00", 8, 0, "REX.X with index 100b: r12 index, no base"},
	{64, "64 48 8b 04 25 28 00 00 00", 9, 0, "fs: override"},
	{64, "26 90", 2, 0, "ES override is ignored"},
	{64, "2e 3e 90", 3, 0, "CS/DS overrides are ignored"},
	{64, "f3 90", 2, 0, "pause"},
	{64, "f3 0f b8 c1", 4, 0, "popcnt"},
	{64, "f3 48 0f b8 c1", 5, 0, "popcnt r64"},
	{64, "0f 38 f0 07", 4, 0, "movbe (0F 38 map)"},
	{64, "48 0f 38 f1 07", 5, 0, "movbe store r64"},
	{64, "0f 05", 2, 0, "syscall"},
	{64, "48 0f 07", 3, 0, "sysretq"},
	{64, "0f 01 d0", 3, 0, "xgetbv"},
	{64, "0f 01 f8", 3, 0, "swapgs"},
	{64, "0f 01 f9", 3, 0, "rdtscp"},
	{64, "0f 01 14 25 00 10 00 00", 8, 0, "lgdt [abs]"},
	{64, "0f 01 38", 3, 0, "invlpg [rax]"},
	{64, "0f 20 c0", 3, 0, "mov rax, cr0"},
	{64, "44 0f 20 c0", 4, 0, "mov rax, cr8"},
	{64, "0f 22 d8", 3, 0, "mov cr3, rax"},
	{64, "0f 21 f8", 3, 0, "mov rax, dr7"},
	{64, "0f 00 d8", 3, 0, "ltr ax"},
	{64, "f6 c1 05", 3, 0, "grp3 test r/m8, imm8"},
	{64, "f7 c1 01 02 03 04", 6, 0, "grp3 test r/m32, imm32"},
	{64, "66 f7 c1 01 02", 5, 0, "grp3 test r/m16, imm16"},
	{64, "f6 d1", 2, 0, "not cl (no immediate)"},
	{64, "f7 f1", 2, 0, "div ecx"},
	{64, "c0 e0 03", 3, 0, "shl al, 3"},
	{64, "48 c1 e0 03", 4, 0, "shl rax, 3"},
	{64, "d1 e0", 2, 0, "shl eax, 1"},
	{64, "d3 e0", 2, 0, "shl eax, cl"},
	{64, "80 c1 05", 3, 0, "grp1 r/m8, imm8"},
	{64, "81 c1 01 02 03 04", 6, 0, "grp1 r/m32, imm32"},
	{64, "83 c1 05", 3, 0, "grp1 r/m32, imm8"},
	{64, "66 81 c1 01 02", 5, 0, "grp1 r/m16, imm16"},
	{64, "48 81 84 24 80 00 00 00 01 02 03 04", 12, 0, "grp1 [rsp+disp32], imm32"},
	{64, "fe c0", 2, 0, "inc al"},
	{64, "ff d0", 2, 0, "call rax"},
	{64, "ff 24 25 00 10 00 00", 7, 0, "jmp [abs]"},
	{64, "48 ff 28", 3, 0, "jmp far m16:64"},
	{64, "0f ba e0 05", 4, 0, "bt eax, 5"},
	{64, "0f a4 c1 05", 4, 0, "shld ecx, eax, 5"},
	{64, "0f a5 c1", 3, 0, "shld ecx, eax, cl"},
	{64, "6b c1 05", 3, 0, "imul eax, ecx, imm8"},
	{64, "69 c1 01 02 03 04", 6, 0, "imul eax, ecx, imm32"},
	{64, "c8 10 00 05", 4, 0, "enter imm16, imm8"},
	{64, "c2 08 00", 3, 0, "ret imm16"},
	{64, "ca 08 00", 3, 0, "retf imm16"},
	{64, "e8 01 02 03 04", 5, 0, "call rel32"},
	{64, "66 e8 01 02 03 04", 6, 0, "call rel32: 66 ignored (Intel 64)"},
	{64, "e9 01 02 03 04", 5, 0, "jmp rel32"},
	{64, "eb 05", 2, 0, "jmp rel8"},
	{64, "75 05", 2, 0, "jnz rel8"},
	{64, "0f 84 01 02 03 04", 6, 0, "jz rel32"},
	{64, "e3 05", 2, 0, "jrcxz"},
	{64, "e2 05", 2, 0, "loop"},
	{64, "6a 05", 2, 0, "push imm8"},
	{64, "68 01 02 03 04", 5, 0, "push imm32"},
	{64, "66 68 01 02", 4, 0, "push imm16"},
	{64, "cd 80", 2, 0, "int 0x80"},
	{64, "cc", 1, 0, "int3"},
	{64, "48 cf", 2, 0, "iretq"},
	{64, "0f c7 0e", 3, 0, "cmpxchg8b [rsi]"},
	{64, "48 0f c7 0e", 4, 0, "cmpxchg16b [rsi]"},
	{64, "f0 ff 00", 3, 0, "lock inc dword [rax]"},
	{64, "f0 48 0f b1 0e", 5, 0, "lock cmpxchg [rsi], rcx"},
	{64, "d9 e8", 2, 0, "fld1 (x87 escape)"},
	{64, "dd 04 24", 3, 0, "fld qword [rsp]"},
	{64, "db e3", 2, 0, "fninit"},
	{64, "0f ae 00", 3, 0, "fxsave [rax]"},
	{64, "0f ae 54 24 04", 5, 0, "ldmxcsr [rsp+4]"},
	{64, "0f ae f0", 3, 0, "mfence"},
	{64, "66 0f 6f c1", 4, 0, "movdqa xmm0, xmm1"},
	{64, "f3 0f 6f 04 24", 5, 0, "movdqu xmm0, [rsp]"},
	{64, "66 0f ef c0", 4, 0, "pxor"},
	{64, "66 48 0f 6e c0", 5, 0, "movq xmm0, rax"},
	{64, "0f 77", 2, 0, "emms"},
	{64, "48 0f 6e c0", 4, 0, "movq mm0, rax"},
	{64, "0f d4 c1", 3, 0, "paddq mm0, mm1"},
	{64, "66 41 0f fc c0", 5, 0, "paddb xmm0, xmm8"},
	{64, "66 0f 70 c1 1b", 5, 0, "pshufd xmm0, xmm1, 0x1b"},
	{64, "f2 0f 70 c1 1b", 5, 0, "pshuflw xmm0, xmm1, 0x1b"},
	{64, "0f 71 d1 03", 4, 0, "psrlw mm1, 3"},
	{64, "66 0f 73 f9 04", 5, 0, "pslldq xmm1, 4"},
	{64, "66 0f c4 40 08 05", 6, 0, "pinsrw xmm0, [rax+8], 5"},
	{64, "0f c5 c1 03", 4, 0, "pextrw eax, mm1, 3"},
	{64, "66 0f d7 c1", 4, 0, "pmovmskb eax, xmm1"},
	{64, "0f f7 ca", 3, 0, "maskmovq mm1, mm2"},
	{64, "f3 0f d6 c1", 4, 0, "movq2dq xmm0, mm1"},
	{64, "f3 0f 10 44 24 08", 6, 0, "movss xmm0, [rsp+8]"},
	{64, "0f c6 c1 1b", 4, 0, "shufps xmm0, xmm1, 0x1b"},
	{64, "48 0f c3 18", 4, 0, "movnti [rax], rbx"},
	{64, "66 0f e7 00", 4, 0, "movntdq [rax], xmm0"},
	{64, "66 0f ae 38", 4, 0, "clflushopt [rax]"},
	{64, "66 0f ae 30", 4, 0, "clwb [rax]"},
	{64, "0f ae 20", 3, 0, "xsave [rax]"},
	{64, "48 0f ae 28", 4, 0, "xrstor64 [rax]"},
	{32, "0f 6f 4d 08", 4, 0, "movq mm1, [ebp+8]"},
	{64, "0f 71 c1 03", 0, arch.VecUD, "0F 71 /0: no such shift"},
	{64, "f2 0f 58 44 24 08", 6, 0, "addsd xmm0, [rsp+8] (decodes; #UD when run)"},
	{64, "0f c2 c1 01", 4, 0, "cmpltps xmm0, xmm1 (decodes; #UD when run)"},
	{64, "f3 48 0f 2d c1", 5, 0, "cvtss2si rax, xmm1 (decodes; #UD when run)"},
	{64, "0f 73 f9 04", 0, arch.VecUD, "pslldq without 66: XMM only"},
	{64, "0f 6c c1", 0, arch.VecUD, "punpcklqdq without 66: XMM only"},
	{64, "0f d7 00", 0, arch.VecUD, "pmovmskb with a memory operand"},
	{64, "0f 1f 44 00 00", 5, 0, "nop dword [rax+rax]"},
	{64, "66 0f 1f 84 00 00 00 00 00", 9, 0, "nopw [rax+rax+0]"},
	{64, "f3 0f 1e fa", 4, 0, "endbr64"},
	{64, "0f 18 00", 3, 0, "prefetchnta"},
	{64, "48 63 c1", 3, 0, "movsxd rax, ecx"},
	{64, "0f b6 c1", 3, 0, "movzx eax, cl"},
	{64, "48 0f bf c1", 4, 0, "movsx rax, cx"},
	{64, "0f c8", 2, 0, "bswap eax"},
	{64, "49 0f c8", 3, 0, "bswap r8"},
	{64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", 15, 0, "15 bytes: the limit"},
	{64, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", 15, arch.VecGP, "16 bytes: #GP(0)"},
	{64, "f3 f3 f3 f3 f3 f3 f3 f3 f3 f3 48 8b 84 24 00 00 00 00", 15, arch.VecGP, "prefixes push a valid instruction past 15 bytes"},
	{64, "c4 e2 79 18 07", 0, arch.VecUD, "VEX3 in 64-bit mode"},
	{64, "c5 f8 77", 0, arch.VecUD, "VEX2 (vzeroupper)"},
	{64, "c4 07", 0, arch.VecUD, "C4 is VEX in 64-bit mode even with mod != 11"},
	{64, "62 f1 7c 48 28 c1", 0, arch.VecUD, "EVEX"},
	{64, "06", 0, arch.VecUD, "push es is invalid in 64-bit mode"},
	{64, "1f", 0, arch.VecUD, "pop ds"},
	{64, "27", 0, arch.VecUD, "daa"},
	{64, "60", 0, arch.VecUD, "pusha"},
	{64, "ce", 0, arch.VecUD, "into"},
	{64, "d4 0a", 0, arch.VecUD, "aam"},
	{64, "9a 00 00 00 00 08 00", 0, arch.VecUD, "call far ptr"},
	{64, "ea 00 00 00 00 08 00", 0, arch.VecUD, "jmp far ptr"},
	{64, "82 c0 01", 0, arch.VecUD, "82 alias of grp1"},
	{64, "0f 0b", 2, 0, "ud2 (decodes; raises #UD when executed)"},
	{64, "8d c0", 0, arch.VecUD, "lea with register operand"},
	{64, "f0 90", 0, arch.VecUD, "lock nop"},
	{64, "f0 01 c0", 0, arch.VecUD, "lock with register destination"},

	// ---- 32-bit mode ----
	{32, "c4 07", 2, 0, "les eax, [edi] (C4 with mod != 11)"},
	{32, "c5 07", 2, 0, "lds eax, [edi]"},
	{32, "62 07", 2, 0, "bound eax, [edi]"},
	{32, "66 c4 07", 3, 0, "les ax, [edi]"},
	{32, "c4 84 24 00 01 00 00", 7, 0, "les eax, [esp+disp32]"},
	{32, "c4 e2 79 18 07", 0, arch.VecUD, "C4 with mod = 11 is VEX"},
	{32, "c5 f8 77", 0, arch.VecUD, "C5 with mod = 11 is VEX"},
	{32, "62 f1 7c 48 28 c1", 0, arch.VecUD, "62 with mod = 11 is EVEX"},
	{32, "a1 01 02 03 04", 5, 0, "mov eax, moffs32"},
	{32, "67 a1 01 02", 4, 0, "mov eax, moffs16 (67)"},
	{32, "66 a1 01 02 03 04", 6, 0, "mov ax, moffs32"},
	{32, "8b 04 24", 3, 0, "[esp]"},
	{32, "8b 05 10 00 00 00", 6, 0, "[disp32] (absolute outside 64-bit mode)"},
	{32, "8b 04 25 10 00 00 00", 7, 0, "SIB no base"},
	{32, "67 8b 06 34 12", 5, 0, "16-bit [disp16]"},
	{32, "67 8b 46 08", 4, 0, "16-bit [bp+disp8]"},
	{32, "67 8b 86 34 12", 5, 0, "16-bit [bp+disp16]"},
	{32, "67 8b 00", 3, 0, "16-bit [bx+si]"},
	{32, "67 8b 44 24", 4, 0, "16-bit [si+disp8]: no SIB"},
	{32, "66 b8 01 02", 4, 0, "mov ax, imm16"},
	{32, "b8 01 02 03 04", 5, 0, "mov eax, imm32"},
	{32, "66 68 01 02", 4, 0, "push imm16"},
	{32, "68 01 02 03 04", 5, 0, "push imm32"},
	{32, "ea 00 00 01 00 08 00", 7, 0, "jmp far ptr16:32"},
	{32, "66 ea 00 01 08 00", 6, 0, "jmp far ptr16:16"},
	{32, "9a 00 00 01 00 08 00", 7, 0, "call far ptr16:32"},
	{32, "40", 1, 0, "inc eax (REX byte is an opcode)"},
	{32, "48", 1, 0, "dec eax"},
	{32, "e8 01 02 03 04", 5, 0, "call rel32"},
	{32, "66 e8 01 02", 4, 0, "call rel16"},
	{32, "66 e9 01 02", 4, 0, "jmp rel16"},
	{32, "0f 85 01 02 03 04", 6, 0, "jnz rel32"},
	{32, "66 0f 85 01 02", 5, 0, "jnz rel16"},
	{32, "0f 00 d8", 3, 0, "ltr ax"},
	{32, "0f 01 15 00 10 00 00", 7, 0, "lgdt [disp32]"},
	{32, "c8 10 00 05", 4, 0, "enter"},
	{32, "d4 0a", 2, 0, "aam"},
	{32, "d5 0a", 2, 0, "aad"},
	{32, "63 c8", 2, 0, "arpl ax, cx"},
	{32, "27", 1, 0, "daa"},
	{32, "60", 1, 0, "pusha"},
	{32, "06", 1, 0, "push es"},
	{32, "8e d0", 2, 0, "mov ss, ax"},
	{32, "8c c8", 2, 0, "mov eax, cs"},
	{32, "0f b2 07", 3, 0, "lss eax, [edi]"},
	{32, "0f 20 c0", 3, 0, "mov eax, cr0"},
	{32, "f3 ab", 2, 0, "rep stosd"},
	{32, "26 8b 00", 3, 0, "es: override"},
	{32, "0f 34", 2, 0, "sysenter"},
	{32, "82 c0 01", 3, 0, "82 alias of grp1 (valid outside 64-bit mode)"},
	{32, "0f 01 f8", 0, arch.VecUD, "swapgs outside 64-bit mode"},
	{32, "66 66 66 66 66 66 66 66 66 66 66 66 66 66 66 90", 15, arch.VecGP, "16 bytes: #GP(0)"},

	// ---- 16-bit mode ----
	{16, "8b 46 08", 3, 0, "[bp+disp8]"},
	{16, "8b 06 34 12", 4, 0, "[disp16]"},
	{16, "8b 86 34 12", 4, 0, "[bp+disp16]"},
	{16, "8b 00", 2, 0, "[bx+si]"},
	{16, "8b 40 08", 3, 0, "[bx+si+disp8]"},
	{16, "8b 44 24", 3, 0, "[si+disp8]: no SIB in 16-bit addressing"},
	{16, "66 8b 44 24", 4, 0, "32-bit operand, 16-bit address"},
	{16, "67 8b 44 24 08", 5, 0, "32-bit addressing with SIB"},
	{16, "67 8b 05 10 00 00 00", 7, 0, "32-bit [disp32]"},
	{16, "b8 01 02", 3, 0, "mov ax, imm16"},
	{16, "66 b8 01 02 03 04", 6, 0, "mov eax, imm32"},
	{16, "a1 01 02", 3, 0, "mov ax, moffs16"},
	{16, "67 a1 01 02 03 04", 6, 0, "mov ax, moffs32"},
	{16, "ea 00 01 00 f0", 5, 0, "jmp far ptr16:16"},
	{16, "66 ea 00 00 01 00 08 00", 8, 0, "jmp far ptr16:32"},
	{16, "e8 01 02", 3, 0, "call rel16"},
	{16, "66 e8 01 02 03 04", 6, 0, "call rel32"},
	{16, "e9 01 02", 3, 0, "jmp rel16"},
	{16, "68 01 02", 3, 0, "push imm16"},
	{16, "66 68 01 02 03 04", 6, 0, "push imm32"},
	{16, "6a ff", 2, 0, "push imm8"},
	{16, "0f 01 16 00 10", 5, 0, "lgdt [disp16]"},
	{16, "cd 10", 2, 0, "int 0x10"},
	{16, "f3 a4", 2, 0, "rep movsb"},
	{16, "c7 06 00 10 34 12", 6, 0, "mov word [disp16], imm16"},
	{16, "66 c7 06 00 10 01 02 03 04", 9, 0, "mov dword [disp16], imm32"},
	{16, "66 0f 01 16 00 10", 6, 0, "lgdt with 66"},
	{16, "0f 22 c0", 3, 0, "mov cr0, eax"},
	{16, "66 cf", 2, 0, "iretd"},
	{16, "c4 07", 2, 0, "les ax, [bx]"},
	{16, "f7 c1 01 02", 4, 0, "test cx, imm16"},
	{16, "80 3e 00 10 05", 5, 0, "cmp byte [disp16], imm8"},
}

// objdumpLen runs GNU objdump on b and returns the length of the first
// instruction, folding prefix-only lines ("rex.W", "data16", ...) into the
// instruction that follows, as the processor does.
func objdumpLen(t *testing.T, bin string, bits int, b []byte) (int, string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "i.bin")
	require.NoError(t, os.WriteFile(f, b, 0o644))
	args := []string{"-D", "-b", "binary", "--insn-width=16"}
	switch bits {
	case 16:
		args = append(args, "-m", "i386", "-M", "addr16,data16")
	case 32:
		args = append(args, "-m", "i386")
	default:
		args = append(args, "-m", "i386:x86-64", "-M", "intel64")
	}
	out, err := exec.Command(bin, append(args, f)...).CombinedOutput()
	require.NoError(t, err, "%s", out)
	line := regexp.MustCompile(`^\s*[0-9a-f]+:\t([0-9a-f ]+)\t?(.*)$`)
	prefixOnly := regexp.MustCompile(`^((rex(\.[WRXB]+)?|data16|data32|addr16|addr32|[c-gs]s|lock|rep[a-z]*)\s*)+$`)
	total := 0
	var text []string
	for _, l := range strings.Split(string(out), "\n") {
		mm := line.FindStringSubmatch(l)
		if mm == nil {
			continue
		}
		total += len(strings.Fields(mm[1]))
		asm := strings.TrimSpace(mm[2])
		text = append(text, asm)
		if !prefixOnly.MatchString(asm) {
			return total, strings.Join(text, "; ")
		}
	}
	return total, strings.Join(text, "; ")
}

func parseHex(t *testing.T, s string) []byte {
	var b []byte
	for _, f := range strings.Fields(s) {
		var v byte
		for _, ch := range f {
			v <<= 4
			switch {
			case ch >= '0' && ch <= '9':
				v |= byte(ch - '0')
			case ch >= 'a' && ch <= 'f':
				v |= byte(ch-'a') + 10
			default:
				t.Fatalf("bad hex %q", s)
			}
		}
		b = append(b, v)
	}
	return b
}

// TestDecodeGolden checks instruction lengths and decode-time faults.
func TestDecodeGolden(t *testing.T) {
	objdump := testenv.OptionalTool(t, "objdump", "the cross-check of the lengths against GNU objdump")
	for _, tc := range goldenCases {
		t.Run(tc.hex+"/"+tc.what, func(t *testing.T) {
			b := parseHex(t, tc.hex)
			n, flt, ok := cpu.DecodeLength(b, tc.bits)
			require.True(t, ok, "mode %d: decoder wants more bytes", tc.bits)
			if tc.fault != 0 {
				require.NotNil(t, flt, "mode %d: expected vector %d", tc.bits, tc.fault)
				require.Equal(t, tc.fault, flt.Vector, "mode %d: %s", tc.bits, flt.Error())
				if tc.fault == arch.VecGP {
					require.Equal(t, 15, n)
				}
				return
			}
			require.Nil(t, flt, "mode %d: unexpected fault", tc.bits)
			require.Equal(t, tc.n, n, "mode %d: length", tc.bits)
			require.Equal(t, len(b), tc.n, "table entry: the bytes are exactly one instruction")
			if objdump != "" {
				on, text := objdumpLen(t, objdump, tc.bits, b)
				require.NotContains(t, text, "(bad)", "objdump")
				require.Equal(t, tc.n, on, "objdump length (%s)", text)
			}
		})
	}
}

//go:build ignore

// gen assembles the instruction table below with GNU as (Intel syntax),
// reads the exact encodings back with objdump, and writes
// insts_amd64.s (one tiny function per instruction that executes those
// bytes natively) and insts_amd64.go (the table the tests iterate). The
// interpreter is then fed the very bytes the host executed.
//
// Run with: go generate ./cpu/internal/hostexec (needs binutils).
package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

type def struct {
	kind string // operand roles; see hostexec.go
	size int    // operand size in bits
	asm  string // Intel syntax
	feat string // CPUID feature needed ("" none)
}

var regs = map[int][4]string{
	8:  {"al", "bl", "cl", "dl"},
	16: {"ax", "bx", "cx", "dx"},
	32: {"eax", "ebx", "ecx", "edx"},
	64: {"rax", "rbx", "rcx", "rdx"},
}

var ptr = map[int]string{8: "byte ptr", 16: "word ptr", 32: "dword ptr", 64: "qword ptr"}

var sizes = []int{8, 16, 32, 64}

func defs() []def {
	var d []def
	add := func(kind string, size int, asm, feat string) { d = append(d, def{kind, size, asm, feat}) }
	for _, s := range sizes {
		a, b, _, _ := regs[s][0], regs[s][1], regs[s][2], regs[s][3]
		for _, op := range []string{"add", "adc", "sub", "sbb", "and", "or", "xor", "cmp", "test"} {
			add("bin", s, fmt.Sprintf("%s %s, %s", op, a, b), "")
		}
		// The reg, r/m direction (02, 03, ...) and a memory destination.
		for _, op := range []string{"add", "sbb", "cmp"} {
			add("bin", s, fmt.Sprintf("%s %s, %s", op, b, a), "")
			add("mem", s, fmt.Sprintf("%s %s [r8+64], %s", op, ptr[s], b), "")
		}
		for _, op := range []string{"inc", "dec", "neg", "not"} {
			add("un", s, fmt.Sprintf("%s %s", op, a), "")
		}
		for _, op := range []string{"shl", "shr", "sar", "rol", "ror", "rcl", "rcr"} {
			add("shift", s, fmt.Sprintf("%s %s, cl", op, a), "")
			add("un", s, fmt.Sprintf("%s %s, 1", op, a), "")
			for _, n := range []int{2, 7, 31} {
				add("un", s, fmt.Sprintf("%s %s, %d", op, a, n), "")
			}
		}
		for _, op := range []string{"mul", "imul", "div", "idiv"} {
			add("muldiv", s, fmt.Sprintf("%s %s", op, b), "")
		}
		add("bin", s, fmt.Sprintf("xadd %s, %s", a, b), "")
		add("cmpxchg", s, fmt.Sprintf("cmpxchg %s, %s", b, regs[s][2]), "")
		add("mem", s, fmt.Sprintf("xadd %s [r8+64], %s", ptr[s], b), "")
		add("cmpxchgm", s, fmt.Sprintf("cmpxchg %s [r8+64], %s", ptr[s], regs[s][2]), "")
		if s == 8 {
			continue
		}
		for _, op := range []string{"shld", "shrd"} {
			add("shiftd", s, fmt.Sprintf("%s %s, %s, cl", op, a, b), "")
			for _, n := range []int{1, 4, 15, 17, 31} {
				add("bin", s, fmt.Sprintf("%s %s, %s, %d", op, a, b, n), "")
			}
		}
		add("bin", s, fmt.Sprintf("imul %s, %s", a, b), "")
		for _, n := range []int{-1, 3, 127, -128} {
			add("bin", s, fmt.Sprintf("imul %s, %s, %d", a, b, n), "")
		}
		for _, n := range []int{0x7FFF, -0x8000, 0x12345} {
			if s == 16 && n == 0x12345 {
				continue
			}
			add("bin", s, fmt.Sprintf("imul %s, %s, %d", a, b, n), "")
		}
		for _, op := range []string{"bt", "bts", "btr", "btc"} {
			add("bin", s, fmt.Sprintf("%s %s, %s", op, a, b), "")
			for _, n := range []int{0, 5, s - 1, s + 3, 255} {
				add("un", s, fmt.Sprintf("%s %s, %d", op, a, n), "")
			}
			add("bitmem", s, fmt.Sprintf("%s %s [r8+64], %s", op, ptr[s], b), "")
			add("mem", s, fmt.Sprintf("%s %s [r8+64], %d", op, ptr[s], s+3), "")
		}
		add("bin", s, fmt.Sprintf("bsf %s, %s", a, b), "")
		add("bin", s, fmt.Sprintf("bsr %s, %s", a, b), "")
		add("bin", s, fmt.Sprintf("tzcnt %s, %s", a, b), "bmi1")
		add("bin", s, fmt.Sprintf("lzcnt %s, %s", a, b), "lzcnt")
		add("bin", s, fmt.Sprintf("popcnt %s, %s", a, b), "popcnt")
		add("bin", s, fmt.Sprintf("movzx %s, bl", a), "")
		add("bin", s, fmt.Sprintf("movsx %s, bl", a), "")
		if s > 16 {
			add("bin", s, fmt.Sprintf("movzx %s, bx", a), "")
			add("bin", s, fmt.Sprintf("movsx %s, bx", a), "")
			add("un", s, fmt.Sprintf("bswap %s", a), "")
		}
	}
	// 8-bit high registers (no REX): AH, BH, CH, DH.
	add("bin", 8, "add ah, bh", "")
	add("bin", 8, "sbb bh, ah", "")
	add("bin", 8, "xor ah, bl", "")
	add("shift", 8, "rcl ah, cl", "")
	add("bin", 8, "cmpxchg bh, ah", "")
	// Accumulator and immediate forms.
	add("un", 8, "add al, 0x80", "")
	add("un", 16, "sub ax, 0x8001", "")
	add("un", 32, "and eax, 0x8000ffff", "")
	add("un", 64, "or rax, -0x80", "")
	add("un", 64, "adc rax, 0x7fffffff", "")
	add("un", 32, "cmp ebx, -1", "")
	add("un", 16, "sbb bx, 0x7f", "")
	add("un", 8, "test bl, 0x81", "")
	add("un", 64, "test rax, -0x10", "")
	// Flags and accumulator extension.
	add("un", 8, "lahf", "")
	add("un", 8, "sahf", "")
	add("un", 16, "cbw", "")
	add("un", 32, "cwde", "")
	add("un", 64, "cdqe", "")
	add("un", 16, "cwd", "")
	add("un", 32, "cdq", "")
	add("un", 64, "cqo", "")
	add("bin", 64, "movsxd rax, ebx", "")
	d = append(d, simdDefs()...)
	return append(d, fpDefs()...)
}

// fpDefs are the SSE/SSE2 floating-point instructions (kind "ssefp": the
// operands of "sse" and MXCSR).
func fpDefs() []def {
	var d []def
	add := func(asm string) { d = append(d, def{"ssefp", 64, asm, ""}) }
	for _, m := range []string{"add", "sub", "mul", "div", "min", "max"} {
		for _, t := range []string{"ps", "ss", "pd", "sd"} {
			add(m + t + " xmm0, xmm1")
		}
		add(m + "ss xmm0, dword ptr [r8+64]")
		add(m + "sd xmm8, qword ptr [r8+64]")
	}
	add("addps xmm8, xmm2")
	add("divpd xmm3, xmm8")
	for _, m := range []string{"sqrtps", "sqrtss", "sqrtpd", "sqrtsd", "rcpps", "rcpss", "rsqrtps", "rsqrtss"} {
		add(m + " xmm0, xmm1")
	}
	add("sqrtss xmm0, dword ptr [r8+64]")
	add("sqrtsd xmm0, qword ptr [r8+64]")
	add("rcpss xmm0, dword ptr [r8+64]")
	add("rsqrtss xmm0, dword ptr [r8+64]")
	for p := 0; p < 8; p++ {
		for _, t := range []string{"ps", "ss", "pd", "sd"} {
			add(fmt.Sprintf("cmp%s xmm0, xmm1, %d", t, p))
		}
	}
	add("cmpss xmm0, dword ptr [r8+64], 1")
	add("cmpsd xmm8, qword ptr [r8+64], 6")
	for _, m := range []string{"comiss", "ucomiss", "comisd", "ucomisd"} {
		add(m + " xmm0, xmm1")
	}
	add("comiss xmm8, dword ptr [r8+64]")
	add("ucomisd xmm0, qword ptr [r8+64]")
	for _, a := range []string{
		"cvtsi2ss xmm0, eax", "cvtsi2ss xmm0, rax", "cvtsi2sd xmm0, eax", "cvtsi2sd xmm0, rax",
		"cvtsi2ss xmm8, dword ptr [r8+64]", "cvtsi2sd xmm0, qword ptr [r8+64]",
		"cvtss2si eax, xmm1", "cvtss2si rax, xmm1", "cvttss2si eax, xmm1", "cvttss2si rax, xmm1",
		"cvtsd2si eax, xmm1", "cvtsd2si rax, xmm1", "cvttsd2si eax, xmm1", "cvttsd2si rax, xmm1",
		"cvtss2si eax, dword ptr [r8+64]", "cvttsd2si rax, qword ptr [r8+64]",
		"cvtps2pd xmm0, xmm1", "cvtpd2ps xmm0, xmm1", "cvtss2sd xmm0, xmm1", "cvtsd2ss xmm0, xmm1",
		"cvtps2pd xmm0, qword ptr [r8+64]", "cvtss2sd xmm0, dword ptr [r8+64]", "cvtsd2ss xmm8, qword ptr [r8+64]",
		"cvtdq2ps xmm0, xmm1", "cvtps2dq xmm0, xmm1", "cvttps2dq xmm0, xmm1",
		"cvtdq2pd xmm0, xmm1", "cvtpd2dq xmm0, xmm1", "cvttpd2dq xmm0, xmm1", "cvtdq2pd xmm0, qword ptr [r8+64]",
		"cvtpi2ps xmm0, mm1", "cvtpi2ps xmm0, qword ptr [r8+64]", "cvtps2pi mm0, xmm1", "cvttps2pi mm0, xmm1",
		"cvtps2pi mm0, qword ptr [r8+64]", "cvtpi2pd xmm0, mm1", "cvtpi2pd xmm0, qword ptr [r8+64]",
		"cvtpd2pi mm0, xmm1", "cvttpd2pi mm0, xmm1",
	} {
		add(a)
	}
	return d
}

// simdDefs are the MMX and SSE/SSE2 instructions (kinds "mmx" and "sse":
// operands in MM0/MM1, XMM0-XMM3/XMM8, RAX/RBX and [r8+64]).
func simdDefs() []def {
	var d []def
	add := func(kind, asm, feat string) { d = append(d, def{kind, 64, asm, feat}) }
	both := []string{"paddb", "paddw", "paddd", "paddq", "psubb", "psubw", "psubd", "psubq",
		"paddsb", "paddsw", "paddusb", "paddusw", "psubsb", "psubsw", "psubusb", "psubusw",
		"pcmpeqb", "pcmpeqw", "pcmpeqd", "pcmpgtb", "pcmpgtw", "pcmpgtd",
		"pand", "pandn", "por", "pxor", "pmullw", "pmulhw", "pmulhuw", "pmuludq", "pmaddwd",
		"pminub", "pmaxub", "pminsw", "pmaxsw", "pavgb", "pavgw", "psadbw",
		"punpcklbw", "punpcklwd", "punpckldq", "punpckhbw", "punpckhwd", "punpckhdq",
		"packsswb", "packssdw", "packuswb",
		"psrlw", "psrld", "psrlq", "psraw", "psrad", "psllw", "pslld", "psllq"}
	for _, m := range both {
		add("mmx", m+" mm0, mm1", "")
		if strings.HasPrefix(m, "punpckl") {
			add("mmx", m+" mm0, dword ptr [r8+64]", "") // mm, mm/m32
		} else {
			add("mmx", m+" mm0, qword ptr [r8+64]", "")
		}
		add("sse", m+" xmm0, xmm1", "")
	}
	for _, m := range []string{"paddb", "pcmpgtd", "pmaddwd", "packsswb", "punpckhbw", "psraw", "pavgw"} {
		add("sse", m+" xmm8, xmm2", "")
		add("sse", m+" xmm3, xmm8", "")
	}
	add("sse", "punpcklqdq xmm0, xmm1", "")
	add("sse", "punpckhqdq xmm0, xmm1", "")
	for _, m := range []string{"psrlw", "psraw", "psllw", "psrld", "psrad", "pslld", "psrlq", "psllq"} {
		for _, n := range []int{0, 1, 7, 15, 16, 31, 33, 63, 64, 200} {
			add("mmx", fmt.Sprintf("%s mm1, %d", m, n), "")
			add("sse", fmt.Sprintf("%s xmm1, %d", m, n), "")
		}
	}
	for _, n := range []int{0, 1, 5, 15, 16, 255} {
		add("sse", fmt.Sprintf("psrldq xmm1, %d", n), "")
		add("sse", fmt.Sprintf("pslldq xmm8, %d", n), "")
	}
	for _, n := range []int{0x1b, 0xe4, 0x00, 0x93} {
		add("mmx", fmt.Sprintf("pshufw mm0, mm1, %#x", n), "")
		for _, m := range []string{"pshufd", "pshufhw", "pshuflw", "shufps", "shufpd"} {
			add("sse", fmt.Sprintf("%s xmm0, xmm1, %#x", m, n), "")
		}
	}
	for _, n := range []int{0, 3, 5, 7} {
		add("mmx", fmt.Sprintf("pinsrw mm0, eax, %d", n), "")
		add("mmx", fmt.Sprintf("pextrw eax, mm1, %d", n), "")
		add("sse", fmt.Sprintf("pinsrw xmm0, eax, %d", n), "")
		add("sse", fmt.Sprintf("pextrw eax, xmm1, %d", n), "")
	}
	add("sse", "pinsrw xmm0, word ptr [r8+64], 5", "")
	add("mmx", "pshufw mm0, qword ptr [r8+64], 0x4e", "")
	add("mmx", "pmovmskb eax, mm1", "")
	add("sse", "pmovmskb eax, xmm1", "")
	add("sse", "pmovmskb rax, xmm8", "")
	// Moves.
	for _, a := range []string{"movd mm0, eax", "movq mm0, rax", "movd eax, mm1", "movq rax, mm1",
		"movd mm0, dword ptr [r8+64]", "movd dword ptr [r8+64], mm1", "movq mm0, mm1",
		"movq mm0, qword ptr [r8+64]", "movq qword ptr [r8+64], mm1", "movntq qword ptr [r8+64], mm1"} {
		add("mmx", a, "")
	}
	for _, a := range []string{"movd xmm0, eax", "movq xmm0, rax", "movd eax, xmm1", "movq rax, xmm1",
		"movd xmm8, dword ptr [r8+64]", "movd dword ptr [r8+64], xmm8",
		"movq xmm0, xmm1", "movq xmm0, qword ptr [r8+64]", "movq qword ptr [r8+64], xmm1",
		"movq2dq xmm0, mm1", "movdq2q mm0, xmm1",
		"movdqu xmm0, xmmword ptr [r8+68]", "movdqu xmmword ptr [r8+72], xmm1",
		"movups xmm0, xmmword ptr [r8+76]", "movupd xmmword ptr [r8+84], xmm1",
		"movdqa xmm0, xmm1", "movaps xmm0, xmm8", "movapd xmm8, xmm1", "movups xmm2, xmm3",
		"movss xmm0, xmm1", "movss xmm0, dword ptr [r8+64]", "movss dword ptr [r8+64], xmm1",
		"movsd xmm0, xmm1", "movsd xmm0, qword ptr [r8+64]", "movsd qword ptr [r8+64], xmm1",
		"movlps xmm0, qword ptr [r8+64]", "movhps xmm0, qword ptr [r8+64]",
		"movlpd xmm0, qword ptr [r8+64]", "movhpd xmm0, qword ptr [r8+64]",
		"movlps qword ptr [r8+64], xmm1", "movhps qword ptr [r8+64], xmm1",
		"movlpd qword ptr [r8+64], xmm1", "movhpd qword ptr [r8+64], xmm1",
		"movhlps xmm0, xmm1", "movlhps xmm0, xmm1",
		"movnti dword ptr [r8+64], ebx", "movnti qword ptr [r8+64], rbx",
		"andps xmm0, xmm1", "andnps xmm0, xmm1", "orps xmm0, xmm1", "xorps xmm0, xmm1",
		"andpd xmm0, xmm1", "andnpd xmm0, xmm1", "orpd xmm0, xmm1", "xorpd xmm0, xmm1",
		"unpcklps xmm0, xmm1", "unpckhps xmm0, xmm1", "unpcklpd xmm0, xmm1", "unpckhpd xmm0, xmm1",
		"movmskps eax, xmm1", "movmskpd eax, xmm1"} {
		add("sse", a, "")
	}
	return d
}

func main() {
	ds := defs()
	dir, err := os.MkdirTemp("", "hostexec-gen")
	check(err)
	defer os.RemoveAll(dir)
	var src bytes.Buffer
	src.WriteString(".intel_syntax noprefix\n.text\n")
	for _, d := range ds {
		src.WriteString(d.asm + "\n")
	}
	check(os.WriteFile(filepath.Join(dir, "t.s"), src.Bytes(), 0o644))
	obj := filepath.Join(dir, "t.o")
	run("as", "--64", "-o", obj, filepath.Join(dir, "t.s"))
	out := run("objdump", "-d", "--insn-width=16", "-M", "intel", obj)
	var enc [][]byte
	var dis []string
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.SplitN(sc.Text(), "\t", 3)
		if len(f) < 3 || !strings.HasSuffix(strings.TrimSpace(f[0]), ":") {
			continue
		}
		var b []byte
		for _, h := range strings.Fields(f[1]) {
			v, err := strconv.ParseUint(h, 16, 8)
			check(err)
			b = append(b, byte(v))
		}
		enc = append(enc, b)
		dis = append(dis, strings.Join(strings.Fields(f[2]), " "))
	}
	if len(enc) != len(ds) {
		panic(fmt.Sprintf("objdump gave %d instructions for %d", len(enc), len(ds)))
	}

	var s, g bytes.Buffer
	s.WriteString("// Code generated by gen.go; DO NOT EDIT.\n\n//go:build amd64\n\n#include \"textflag.h\"\n")
	g.WriteString("// Code generated by gen.go; DO NOT EDIT.\n\n//go:build amd64\n\npackage hostexec\n\n")
	var tab bytes.Buffer
	tab.WriteString("var insts = []Inst{\n")
	for i, d := range ds {
		name := fmt.Sprintf("x%d", i)
		pro, epi := "PROLOGUE", "EPILOGUE"
		if d.kind == "mmx" || d.kind == "sse" {
			pro, epi = "SIMDPROLOGUE", "SIMDEPILOGUE"
		}
		if d.kind == "ssefp" {
			pro, epi = "FPPROLOGUE", "FPEPILOGUE"
		}
		fmt.Fprintf(&s, "\n// %s (objdump: %s)\nTEXT ·%s(SB), NOSPLIT, $0-8\n\t%s\n", d.asm, dis[i], name, pro)
		for _, b := range enc[i] {
			fmt.Fprintf(&s, "\tBYTE $0x%02x\n", b)
		}
		fmt.Fprintf(&s, "\t%s\n", epi)
		fmt.Fprintf(&g, "func %s(r *Regs)\n", name)
		fmt.Fprintf(&tab, "\t{Asm: %q, Kind: %q, Size: %d, Feature: %q, Code: %#v, run: %s},\n",
			d.asm, d.kind, d.size, d.feat, enc[i], name)
	}
	tab.WriteString("}\n")
	g.WriteString("\n")
	g.Write(tab.Bytes())
	// PROLOGUE/EPILOGUE as macros keep the file readable.
	hdr := `
// PROLOGUE loads RAX, RBX, RCX, RDX, RSI and RFLAGS from *Regs (in DI)
// and points R8 at Mem; EPILOGUE stores them back.
#define PROLOGUE \
	MOVQ r+0(FP), DI \
	LEAQ ·Mem(SB), R8 \
	MOVQ 0(DI), AX \
	MOVQ 8(DI), BX \
	MOVQ 16(DI), CX \
	MOVQ 24(DI), DX \
	MOVQ 32(DI), SI \
	PUSHQ 40(DI) \
	POPFQ

#define EPILOGUE \
	PUSHFQ \
	POPQ 40(DI) \
	MOVQ AX, 0(DI) \
	MOVQ BX, 8(DI) \
	MOVQ CX, 16(DI) \
	MOVQ DX, 24(DI) \
	MOVQ SI, 32(DI) \
	RET

// SIMDPROLOGUE also loads XMM0-XMM3, XMM8, MM0 and MM1 (Regs.X, Regs.MM);
// SIMDEPILOGUE stores them and leaves MMX state with EMMS.
#define SIMDPROLOGUE \
	MOVQ r+0(FP), DI \
	MOVOU 48(DI), X0 \
	MOVOU 64(DI), X1 \
	MOVOU 80(DI), X2 \
	MOVOU 96(DI), X3 \
	MOVOU 112(DI), X8 \
	MOVQ 128(DI), M0 \
	MOVQ 136(DI), M1 \
	LEAQ ·Mem(SB), R8 \
	MOVQ 0(DI), AX \
	MOVQ 8(DI), BX \
	MOVQ 16(DI), CX \
	MOVQ 24(DI), DX \
	MOVQ 32(DI), SI \
	PUSHQ 40(DI) \
	POPFQ

#define SIMDEPILOGUE \
	PUSHFQ \
	POPQ 40(DI) \
	MOVQ AX, 0(DI) \
	MOVQ BX, 8(DI) \
	MOVQ CX, 16(DI) \
	MOVQ DX, 24(DI) \
	MOVQ SI, 32(DI) \
	MOVOU X0, 48(DI) \
	MOVOU X1, 64(DI) \
	MOVOU X2, 80(DI) \
	MOVOU X3, 96(DI) \
	MOVOU X8, 112(DI) \
	MOVQ M0, 128(DI) \
	MOVQ M1, 136(DI) \
	EMMS \
	RET

// FPPROLOGUE and FPEPILOGUE are SIMDPROLOGUE and SIMDEPILOGUE with MXCSR
// (Regs.MXCSR) loaded before and stored after the instruction; the Go
// runtime's MXCSR is restored (an unmasked exception continues in
// trapResume, fptrap_linux_amd64.s, with the same epilogue).
#define FPPROLOGUE \
	MOVQ r+0(FP), DI \
	LDMXCSR 144(DI) \
	MOVOU 48(DI), X0 \
	MOVOU 64(DI), X1 \
	MOVOU 80(DI), X2 \
	MOVOU 96(DI), X3 \
	MOVOU 112(DI), X8 \
	MOVQ 128(DI), M0 \
	MOVQ 136(DI), M1 \
	LEAQ ·Mem(SB), R8 \
	MOVQ 0(DI), AX \
	MOVQ 8(DI), BX \
	MOVQ 16(DI), CX \
	MOVQ 24(DI), DX \
	MOVQ 32(DI), SI \
	PUSHQ 40(DI) \
	POPFQ

#define FPEPILOGUE \
	PUSHFQ \
	POPQ 40(DI) \
	MOVQ AX, 0(DI) \
	MOVQ BX, 8(DI) \
	MOVQ CX, 16(DI) \
	MOVQ DX, 24(DI) \
	MOVQ SI, 32(DI) \
	MOVOU X0, 48(DI) \
	MOVOU X1, 64(DI) \
	MOVOU X2, 80(DI) \
	MOVOU X3, 96(DI) \
	MOVOU X8, 112(DI) \
	MOVQ M0, 128(DI) \
	MOVQ M1, 136(DI) \
	STMXCSR 144(DI) \
	LDMXCSR ·goMXCSR(SB) \
	EMMS \
	RET
`
	sb := strings.Replace(s.String(), "#include \"textflag.h\"\n", "#include \"textflag.h\"\n"+hdr, 1)
	check(os.WriteFile("insts_amd64.s", []byte(sb), 0o644))
	formatted := g.Bytes()
	check(os.WriteFile("insts_amd64.go", formatted, 0o644))
	run("gofmt", "-w", "insts_amd64.go")
}

func run(name string, args ...string) string {
	cmd := exec.Command(name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		panic(fmt.Sprintf("%s: %v\n%s", name, err, errb.String()))
	}
	return out.String()
}

func check(err error) {
	if err != nil {
		panic(err)
	}
}

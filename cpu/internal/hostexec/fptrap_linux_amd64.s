#include "textflag.h"

// fpeHandler is the SA_SIGINFO SIGFPE handler: DI signo, SI siginfo, DX
// ucontext. uc_mcontext starts at offset 40: gregs[REG_RIP] (16) is at
// 168 and the fpregs pointer (after the 23 gregs) at 224; MXCSR is at
// offset 24 of the FXSAVE-format area it points to.
TEXT ·fpeHandler(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ 224(DX), AX
	MOVL 24(AX), CX
	MOVL CX, ·trapMXCSR(SB)
	ORL $0x1F80, 24(AX)
	LEAQ ·trapResume(SB), CX
	MOVQ CX, 168(DX)
	MOVL $1, ·trapped(SB)
	RET

// fpeRestorer returns from the handler (rt_sigreturn).
TEXT ·fpeRestorer(SB), NOSPLIT|NOFRAME, $0-0
	MOVQ $15, AX
	SYSCALL
	INT $3

// trapResume continues the instruction's function after the fault with
// the registers of the faulting context (DI still points at the Regs).
TEXT ·trapResume(SB), NOSPLIT|NOFRAME, $0-0
	PUSHFQ
	POPQ 40(DI)
	MOVQ AX, 0(DI)
	MOVQ BX, 8(DI)
	MOVQ CX, 16(DI)
	MOVQ DX, 24(DI)
	MOVQ SI, 32(DI)
	MOVOU X0, 48(DI)
	MOVOU X1, 64(DI)
	MOVOU X2, 80(DI)
	MOVOU X3, 96(DI)
	MOVOU X8, 112(DI)
	MOVQ M0, 128(DI)
	MOVQ M1, 136(DI)
	STMXCSR 144(DI)
	LDMXCSR ·goMXCSR(SB)
	EMMS
	RET

// func fpeAddrs() (handler, restorer uintptr)
TEXT ·fpeAddrs(SB), NOSPLIT, $0-16
	LEAQ ·fpeHandler(SB), AX
	MOVQ AX, handler+0(FP)
	LEAQ ·fpeRestorer(SB), AX
	MOVQ AX, restorer+8(FP)
	RET

/*
 * recorder.c — vmxemu's native trace recorder (linux/amd64, user mode).
 *
 * Built by package conformance at run time with gcc and run as a
 * subprocess, so a snippet that crashes only ends this process. Protocol on
 * stdin/stdout, little-endian binary, fixed-size records (see native.go):
 *
 *   out: struct ident                        once, at start
 *   in:  struct case_in   ... repeated until EOF
 *   out: struct case_out  one per case_in
 *
 * Each case: the snippet is copied to CODE_BASE followed by INT3, the
 * memory window (one page at MEM_BASE; the pages either side stay
 * unmapped) is loaded, and a trampoline loads all 16 GPRs and RFLAGS and
 * jumps to the snippet. Whatever happens next arrives as a signal: the
 * INT3 after the snippet (SIGTRAP, trapno 3: the snippet completed) or the
 * snippet's own exception (SIGFPE #DE, SIGILL #UD, SIGSEGV #GP/#PF,
 * SIGBUS #SS/#AC, ...). The handler runs on an alternate stack, copies the
 * interrupted context (all GPRs, RIP, RFLAGS, trap number, error code,
 * CR2) and siglongjmps back to the loop.
 */
#define _GNU_SOURCE
#include <cpuid.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#define CODE_BASE 0x10000000UL
#define MEM_BASE 0x20000000UL
#define PAGE 4096
#define MAXCODE 24

struct ident {
	uint32_t leaves[9][4]; /* 0, 1, 7.0, 0x80000000, 0x80000001, 0x80000002-4, 0x80000008 */
};

struct case_in {
	uint8_t len;
	uint8_t pad[7];
	uint8_t code[MAXCODE];
	uint64_t gpr[16]; /* RAX RCX RDX RBX RSP RBP RSI RDI R8..R15 */
	uint64_t rflags;
	uint8_t mem[PAGE];
};

struct case_out {
	uint64_t gpr[16];
	uint64_t rip;
	uint64_t rflags;
	uint64_t trapno;
	uint64_t err;
	uint64_t cr2;
	uint64_t signo;
	uint8_t mem[PAGE];
};

/* Read by the trampoline with RIP-relative loads. */
struct tramp_state {
	uint64_t gpr[16];
	uint64_t rflags;
	uint64_t target;
};
struct tramp_state tstate;
static uint64_t tstack[64] __attribute__((aligned(16)));
uint64_t *tstack_top = &tstack[60];

static sigjmp_buf jb;
static volatile struct case_out *cur_out;

extern void tramp(void);
__asm__(".text\n.globl tramp\ntramp:\n"
	"movq tstack_top(%rip), %rsp\n"
	"pushq tstate+128(%rip)\n"
	"popfq\n"
	"movq tstate+0(%rip), %rax\n"
	"movq tstate+8(%rip), %rcx\n"
	"movq tstate+16(%rip), %rdx\n"
	"movq tstate+24(%rip), %rbx\n"
	"movq tstate+40(%rip), %rbp\n"
	"movq tstate+48(%rip), %rsi\n"
	"movq tstate+56(%rip), %rdi\n"
	"movq tstate+64(%rip), %r8\n"
	"movq tstate+72(%rip), %r9\n"
	"movq tstate+80(%rip), %r10\n"
	"movq tstate+88(%rip), %r11\n"
	"movq tstate+96(%rip), %r12\n"
	"movq tstate+104(%rip), %r13\n"
	"movq tstate+112(%rip), %r14\n"
	"movq tstate+120(%rip), %r15\n"
	"movq tstate+32(%rip), %rsp\n"
	"jmpq *tstate+136(%rip)\n");

static void handler(int sig, siginfo_t *si, void *uc_) {
	/* Clear EFLAGS.AC first: a POPF snippet may have set it, and the
	 * kernel does not clear it on signal delivery. */
	__asm__ volatile("pushfq; andq $~0x40000, (%%rsp); popfq" ::: "memory", "cc");
	ucontext_t *uc = uc_;
	greg_t *g = uc->uc_mcontext.gregs;
	volatile struct case_out *o = cur_out;
	o->gpr[0] = g[REG_RAX];
	o->gpr[1] = g[REG_RCX];
	o->gpr[2] = g[REG_RDX];
	o->gpr[3] = g[REG_RBX];
	o->gpr[4] = g[REG_RSP];
	o->gpr[5] = g[REG_RBP];
	o->gpr[6] = g[REG_RSI];
	o->gpr[7] = g[REG_RDI];
	o->gpr[8] = g[REG_R8];
	o->gpr[9] = g[REG_R9];
	o->gpr[10] = g[REG_R10];
	o->gpr[11] = g[REG_R11];
	o->gpr[12] = g[REG_R12];
	o->gpr[13] = g[REG_R13];
	o->gpr[14] = g[REG_R14];
	o->gpr[15] = g[REG_R15];
	o->rip = g[REG_RIP];
	o->rflags = g[REG_EFL];
	o->trapno = g[REG_TRAPNO];
	o->err = g[REG_ERR];
	o->cr2 = g[REG_CR2];
	o->signo = sig;
	(void)si;
	siglongjmp(jb, 1);
}

static int readfull(void *p, size_t n) {
	uint8_t *b = p;
	while (n > 0) {
		ssize_t r = read(0, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

static int writefull(const void *p, size_t n) {
	const uint8_t *b = p;
	while (n > 0) {
		ssize_t r = write(1, b, n);
		if (r <= 0)
			return -1;
		b += r;
		n -= (size_t)r;
	}
	return 0;
}

int main(void) {
	static const uint32_t leaves[9][2] = {{0, 0}, {1, 0}, {7, 0}, {0x80000000, 0}, {0x80000001, 0},
		{0x80000002, 0}, {0x80000003, 0}, {0x80000004, 0}, {0x80000008, 0}};
	struct ident id;
	memset(&id, 0, sizeof id);
	for (int i = 0; i < 9; i++)
		__cpuid_count(leaves[i][0], leaves[i][1], id.leaves[i][0], id.leaves[i][1], id.leaves[i][2], id.leaves[i][3]);

	void *code = mmap((void *)CODE_BASE, PAGE, PROT_READ | PROT_WRITE | PROT_EXEC,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	void *mem = mmap((void *)MEM_BASE, PAGE, PROT_READ | PROT_WRITE,
		MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);
	if (code != (void *)CODE_BASE || mem != (void *)MEM_BASE) {
		fprintf(stderr, "recorder: cannot map the code page at %#lx and the memory window at %#lx\n", CODE_BASE, MEM_BASE);
		return 1;
	}

	static uint8_t altstack[1 << 16];
	stack_t ss = {.ss_sp = altstack, .ss_size = sizeof altstack, .ss_flags = 0};
	if (sigaltstack(&ss, NULL) != 0) {
		perror("recorder: sigaltstack");
		return 1;
	}
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_sigaction = handler;
	sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
	sigemptyset(&sa.sa_mask);
	int sigs[] = {SIGTRAP, SIGFPE, SIGILL, SIGSEGV, SIGBUS};
	for (unsigned i = 0; i < sizeof sigs / sizeof sigs[0]; i++) {
		if (sigaction(sigs[i], &sa, NULL) != 0) {
			perror("recorder: sigaction");
			return 1;
		}
	}

	if (writefull(&id, sizeof id) != 0)
		return 1;

	static struct case_in in;
	static struct case_out out;
	while (readfull(&in, sizeof in) == 0) {
		if (in.len > MAXCODE) {
			fprintf(stderr, "recorder: snippet too long (%d)\n", in.len);
			return 1;
		}
		memset(code, 0xCC, PAGE);
		memcpy(code, in.code, in.len);
		memcpy(mem, in.mem, PAGE);
		memcpy(tstate.gpr, in.gpr, sizeof tstate.gpr);
		tstate.rflags = in.rflags;
		tstate.target = CODE_BASE;
		memset(&out, 0, sizeof out);
		cur_out = &out;
		if (sigsetjmp(jb, 1) == 0) {
			tramp();
			/* not reached */
			return 2;
		}
		memcpy(out.mem, mem, PAGE);
		if (writefull(&out, sizeof out) != 0)
			return 1;
	}
	return 0;
}

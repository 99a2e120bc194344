/*
 * benchvmx: the VM-exit round-trip benchmark kernel of docs/PERFORMANCE.md
 * (issue 18).  A 64-bit host (compute64/entry.S) enters VMX operation
 * (IA32_FEATURE_CONTROL, the CR0/CR4 fixed bits, VMXON: SDM Vol. 3C 24.7,
 * 24.8), fills a VMCS for a 64-bit guest in its own address space
 * (lib/vmcs64.c, shared with the vmxon guest) and VMLAUNCHes the guest of
 * bench/vmxloop.S: CPUID in a loop of N iterations.  Every CPUID is a VM
 * exit (reason 10); the host's exit handler (vmexit_entry, lib/vmxenter64.S)
 * emulates it with its own CPUID, advances the guest RIP by the VM-exit
 * instruction length (28.2.4) and VMRESUMEs.  The guest's VMCALL (reason
 * 18) ends the run.  The command line (-append) names the workload:
 *
 *     vmexit      no EPT, no VPID (entries and exits flush VPID 0000H's
 *                 translations: 29.4.3.1)
 *     vmexit-vpid "enable VPID", VPID 1
 *     vmexit-ept  "enable EPT" (a 4-level identity map of 0-1 GiB with
 *                 2-MiB pages, WB) and "enable VPID"
 *
 * and may set "iters=N" (default 1000000) and "quiet".  It prints
 *
 *     benchvmx vmexit: iters 1000000 exits 1000001 ok
 *
 * (N CPUID exits and the VMCALL; "ok" when every exit had the reason the
 * guest's instruction gives and the VM-exit instruction length 2 or 3)
 * and leaves through isa-debug-exit with 0x10, or 0x11.  A model without
 * the controls a workload needs prints why and fails.  vmxemu -stats gives
 * the instructions retired and the time, hence round trips per second.
 */
#include "kernel.h"
#include "multiboot.h"
#include "vmx64.h"

void kmain(uint32_t magic, uint32_t info);
extern char bench_vmx_guest[];
uint32_t bench_vmx_n; /* read by the guest */

#define MSR_FEATURE_CONTROL 0x3A
#define MSR_VMX_BASIC 0x480
#define MSR_VMX_CR0_FIXED0 0x486
#define MSR_VMX_CR0_FIXED1 0x487
#define MSR_VMX_CR4_FIXED0 0x488
#define MSR_VMX_CR4_FIXED1 0x489
#define MSR_VMX_PROCBASED2 0x48B
#define MSR_VMX_EPT_VPID_CAP 0x48C
#define CR4_VMXE (1ul << 13)

#define PROC_SECONDARY (1u << 31) /* "activate secondary controls" (Table 25-6) */
#define SEC_EPT (1u << 1)         /* "enable EPT" (Table 25-7) */
#define SEC_VPID (1u << 5)        /* "enable VPID" */
#define EXIT_HOST_ADDR_SPACE (1u << 9)
#define ENTRY_IA32E_GUEST (1u << 9)

static uint8_t vmxon_region[4096] __attribute__((aligned(4096)));
static uint8_t vmcs[4096] __attribute__((aligned(4096)));
static uint8_t exit_stack[4096] __attribute__((aligned(16)));
static uint8_t guest_stack[1024] __attribute__((aligned(16)));
static uint64_t ept_pml4[512] __attribute__((aligned(4096)));
static uint64_t ept_pdpt[512] __attribute__((aligned(4096)));
static uint64_t ept_pd[512] __attribute__((aligned(4096)));

/* A GDT with a 64-bit TSS: host TR may not be null (27.2.3). */
static struct {
	uint32_t rsvd0;
	uint64_t rsp[3], rsvd1, ist[7], rsvd2;
	uint16_t rsvd3, iomap;
} __attribute__((packed)) tss __attribute__((aligned(16)));
static uint64_t gdt[6] __attribute__((aligned(16)));
static struct {
	uint16_t limit;
	uint64_t base;
} __attribute__((packed)) gdt_desc, idt_desc;
#define TR_SEL 0x20

static uint64_t host_sp;
static uint32_t n_exits, bad_exits, last_reason;

static inline uint64_t rdmsr(uint32_t i)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(i));
	return (uint64_t)hi << 32 | lo;
}
static inline void wrmsr(uint32_t i, uint64_t v) { __asm__ volatile("wrmsr" : : "c"(i), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))); }
static inline uint64_t vmread(uint64_t enc)
{
	uint64_t v;
	__asm__ volatile("vmread %1, %0" : "=r"(v) : "r"(enc) : "cc");
	return v;
}
/* VMX instructions report VMfail in CF/ZF (Vol. 3C 31.2): 0 = VMsucceed. */
static inline int vmwrite(uint64_t enc, uint64_t v)
{
	uint8_t bad;
	__asm__ volatile("vmwrite %2, %1; setbe %0" : "=r"(bad) : "r"(enc), "rm"(v) : "cc", "memory");
	return bad;
}
#define VMX_OP(name)                                                                                  \
	static int name(uint64_t pa)                                                                  \
	{                                                                                             \
		uint8_t bad;                                                                          \
		__asm__ volatile(#name " %1; setbe %0" : "=r"(bad) : "m"(pa) : "cc", "memory"); \
		return bad;                                                                           \
	}
VMX_OP(vmxon)
VMX_OP(vmclear)
VMX_OP(vmptrld)

static int failed;
static void vmw(void *arg, uint32_t enc, uint64_t val)
{
	(void)arg;
	if (vmwrite(enc, val)) {
		kprintf("benchvmx: VMWRITE 0x%04x = 0x%lx failed\n", enc, val);
		failed = 1;
	}
}

/* ctl: the allowed-0 settings of a control's capability MSR forced to 1,
 * plus want; 0 with a message when the model does not allow want (Vol. 3D
 * A.3-A.5: bits 31:0 allowed-0, 63:32 allowed-1). */
static uint32_t ctl(uint32_t msr, uint32_t want, int *ok)
{
	uint64_t v = rdmsr(msr);
	if (want & ~(uint32_t)(v >> 32)) {
		kprintf("benchvmx: MSR 0x%x does not allow 0x%x\n", msr, want);
		*ok = 0;
	}
	return (uint32_t)v | want;
}

uint64_t vmexit(struct guest_regs *g)
{
	uint32_t reason = (uint32_t)vmread(0x4402);
	uint64_t len = vmread(0x440C);
	n_exits++;
	last_reason = reason;
	if (reason != 10) {
		if (reason != 18 || len != 3)
			bad_exits++;
		return host_sp; /* VMCALL: done (or anything unexpected) */
	}
	if (len != 2)
		bad_exits++;
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"((uint32_t)g->rax), "c"((uint32_t)g->rcx));
	g->rax = a;
	g->rbx = b;
	g->rcx = c;
	g->rdx = d;
	if (vmwrite(0x681E, vmread(0x681E) + len)) { /* guest RIP past the CPUID */
		bad_exits++;
		return host_sp;
	}
	return 0;
}

uint64_t vmresume_failed(uint64_t rflags)
{
	kprintf("benchvmx: VMRESUME failed, RFLAGS 0x%lx, VM-instruction error %lu\n", rflags, vmread(0x4400));
	bad_exits++;
	return host_sp;
}

static int word_is(const char *w, int len, const char *s)
{
	int i = 0;
	for (; i < len; i++)
		if (s[i] != w[i])
			return 0;
	return s[i] == 0;
}

static const char *const names[] = {"vmexit", "vmexit-vpid", "vmexit-ept"};

void kmain(uint32_t magic, uint32_t info)
{
	const struct multiboot_info *mbi = (const struct multiboot_info *)(uintptr_t)info;
	int w = -1, quiet = 0, ok = 1;
	uint32_t n = 1000000;

	uart_init();
	if (magic != MULTIBOOT_BOOTLOADER_MAGIC || !(mbi->flags & MB_INFO_CMDLINE))
		debug_exit(0x11);
	for (const char *p = (const char *)(uintptr_t)mbi->cmdline; *p;) {
		while (*p == ' ')
			p++;
		const char *s = p;
		while (*p && *p != ' ')
			p++;
		int len = (int)(p - s);
		if (word_is(s, len, "quiet"))
			quiet = 1;
		else if (len > 6 && word_is(s, 6, "iters=")) {
			n = 0;
			for (int i = 6; i < len; i++)
				n = n * 10 + (uint32_t)(s[i] - '0');
		} else
			for (int i = 0; i < 3; i++)
				if (word_is(s, len, names[i]))
					w = i;
	}
	if (w < 0 || n == 0) {
		kprintf("benchvmx workloads: vmexit vmexit-vpid vmexit-ept (iters=N, N >= 1)\n");
		debug_exit(0x11);
	}

	/* GDT with the TSS (type 9, available; LTR makes it busy: Vol. 3A 8.2.3). */
	uint64_t tb = (uint64_t)&tss, tl = sizeof(tss) - 1;
	tss.iomap = sizeof(tss);
	gdt[1] = 0x00CF9A000000FFFFull;
	gdt[2] = 0x00CF92000000FFFFull;
	gdt[3] = 0x00AF9A000000FFFFull;
	gdt[4] = (tl & 0xFFFF) | (tb & 0xFFFFFF) << 16 | 0x89ull << 40 | (tl >> 16 & 0xF) << 48 | (tb >> 24 & 0xFF) << 56;
	gdt[5] = tb >> 32;
	gdt_desc.limit = sizeof(gdt) - 1;
	gdt_desc.base = (uint64_t)gdt;
	__asm__ volatile("lgdt %0; ltr %w1; sidt %2" : : "m"(gdt_desc), "r"(TR_SEL), "m"(idt_desc) : "memory");

	/* VMXON (Vol. 3C 24.7, 24.8). */
	uint32_t a, b, c, d;
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	if (!(c >> 5 & 1)) {
		kprintf("benchvmx: no VMX (CPUID.1:ECX[5] = 0)\n");
		debug_exit(0x11);
	}
	uint64_t fc = rdmsr(MSR_FEATURE_CONTROL);
	if (!(fc & 1))
		wrmsr(MSR_FEATURE_CONTROL, fc | 5); /* lock, VMXON outside SMX */
	else if (!(fc & 4)) {
		kprintf("benchvmx: IA32_FEATURE_CONTROL locked with VMX off\n");
		debug_exit(0x11);
	}
	uint64_t cr0, cr4, cr3;
	__asm__ volatile("mov %%cr0, %0; mov %%cr4, %1; mov %%cr3, %2" : "=r"(cr0), "=r"(cr4), "=r"(cr3));
	cr0 = (cr0 | rdmsr(MSR_VMX_CR0_FIXED0)) & rdmsr(MSR_VMX_CR0_FIXED1);
	cr4 = (cr4 | rdmsr(MSR_VMX_CR4_FIXED0) | CR4_VMXE) & rdmsr(MSR_VMX_CR4_FIXED1);
	__asm__ volatile("mov %0, %%cr0; mov %1, %%cr4" : : "r"(cr0), "r"(cr4) : "memory");
	uint64_t basic = rdmsr(MSR_VMX_BASIC);
	uint32_t rev = (uint32_t)basic & 0x7FFFFFFF;
	memcpy(vmxon_region, &rev, 4);
	memcpy(vmcs, &rev, 4);
	if (vmxon((uint64_t)vmxon_region) || vmclear((uint64_t)vmcs) || vmptrld((uint64_t)vmcs)) {
		kprintf("benchvmx: VMXON, VMCLEAR or VMPTRLD failed\n");
		debug_exit(0x11);
	}

	/* Controls (Vol. 3D A.2: the TRUE_* MSRs when IA32_VMX_BASIC[55]). */
	int tru = basic >> 55 & 1;
	uint32_t sec = w == 2 ? SEC_EPT | SEC_VPID : w == 1 ? SEC_VPID : 0;
	struct vmcs64 s = {
		.pin = ctl(tru ? 0x48D : 0x481, 0, &ok),
		.proc = ctl(tru ? 0x48E : 0x482, sec ? PROC_SECONDARY : 0, &ok),
		.exit = ctl(tru ? 0x48F : 0x483, EXIT_HOST_ADDR_SPACE, &ok),
		.entry = ctl(tru ? 0x490 : 0x484, ENTRY_IA32E_GUEST, &ok),
		.host_cr0 = cr0, .host_cr3 = cr3, .host_cr4 = cr4,
		.guest_cr0 = cr0, .guest_cr3 = cr3, .guest_cr4 = cr4,
		.tr = TR_SEL, .tr_limit = (uint32_t)tl, .tr_base = tb,
		.gdt_base = gdt_desc.base, .gdt_limit = gdt_desc.limit,
		.idt_base = idt_desc.base, .idt_limit = idt_desc.limit,
		.host_rsp = (uint64_t)&exit_stack[sizeof(exit_stack)], .host_rip = (uint64_t)vmexit_entry,
		.guest_rsp = (uint64_t)&guest_stack[sizeof(guest_stack)], .guest_rip = (uint64_t)bench_vmx_guest,
		.guest_cs_ar = 0xA09B,
	};
	if (!ok)
		debug_exit(0x11);
	vmcs64_fill(&s, vmw, 0);
	if (sec) {
		uint32_t proc2 = ctl(MSR_VMX_PROCBASED2, sec, &ok);
		if (!ok)
			debug_exit(0x11);
		vmw(0, 0x401E, proc2);
		vmw(0, 0x0000, 1); /* VPID 1 (not 0000H: 27.2.1.1) */
	}
	if (w == 2) {
		/* EPT (29.3): PML4E 0 -> PDPT, PDPTE 0 -> PD, 512 2-MiB WB
		 * pages (Tables 29-1, 29-3, 29-4); EPTP (25.6.11) WB or UC,
		 * walk length 4. */
		uint64_t cap = rdmsr(MSR_VMX_EPT_VPID_CAP);
		if (!(cap >> 6 & 1) || !(cap >> 16 & 1) || !(cap & (1 << 14 | 1 << 8))) {
			kprintf("benchvmx: IA32_VMX_EPT_VPID_CAP 0x%lx: no 4-level walk, 2-MiB pages or WB/UC EPTP\n", cap);
			debug_exit(0x11);
		}
		ept_pml4[0] = (uint64_t)ept_pdpt | 7;
		ept_pdpt[0] = (uint64_t)ept_pd | 7;
		for (uint64_t i = 0; i < 512; i++)
			ept_pd[i] = i << 21 | 7 | 6 << 3 | 1 << 7;
		vmw(0, 0x201A, (uint64_t)ept_pml4 | (cap >> 14 & 1 ? 6 : 0) | 3 << 3);
	}
	if (failed)
		debug_exit(0x11);

	bench_vmx_n = n;
	uint64_t fl = vmx_enter(&host_sp, 0);
	if (fl) {
		kprintf("benchvmx: VMLAUNCH failed, RFLAGS 0x%lx, VM-instruction error %lu\n", fl, vmread(0x4400));
		debug_exit(0x11);
	}
	int good = !bad_exits && last_reason == 18 && n_exits == n + 1;
	if (!quiet)
		kprintf("benchvmx %s: iters %u exits %u %s\n", names[w], n, n_exits, good ? "ok" : "WRONG");
	debug_exit(good ? 0x10 : 0x11);
}

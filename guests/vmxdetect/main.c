/*
 * vmxdetect: the detection steps of VMX initialisation code, as the seed's
 * BSD port does them, reported over COM1:
 *
 *   1. CPUID.1:ECX.VMX[bit 5]       is VMX there?
 *   2. RDMSR 0x3A                   IA32_FEATURE_CONTROL: lock bit, VMXON enables
 *   3. RDMSR 0x480                  IA32_VMX_BASIC: revision, region size, bit 48
 *      RDMSR 0x486-0x489            CR0/CR4 fixed bits
 *   4. MOV to CR4 with VMXE         allowed only when CPUID reports VMX
 *   5. WRMSR 0x3A                   #GP while locked; an unlocked MSR can be
 *                                   enabled and locked once
 *
 * Every RDMSR/WRMSR/MOV CR4 runs with an IDT that catches #GP, so the guest
 * reports "#GP(code)" instead of triple-faulting.  It checks that what it
 * saw is consistent (VMX absent => the capability MSRs #GP and VMXE
 * cannot be set; present => they read and VMXE sets; a locked
 * FEATURE_CONTROL refuses writes) and leaves through isa-debug-exit with
 * 0x10, or 0x11 when something is inconsistent.
 */
#include "kernel.h"

struct trap_frame {
	uint32_t edi, esi, ebp, esp, ebx, edx, ecx, eax; /* pushal */
	uint32_t vector, error;
	uint32_t eip, cs, eflags;
};

extern const uint32_t isr_table[32];

/* The instruction under test: a fault there is recorded and skipped. */
static volatile uint32_t probe_len;   /* bytes to skip, 0 = no probe */
static volatile int fault_vector = -1;
static volatile uint32_t fault_error;

void trap(struct trap_frame *f);
void kmain(uint32_t magic, const void *mbi);

void trap(struct trap_frame *f)
{
	if (probe_len != 0 && fault_vector < 0) {
		fault_vector = (int)f->vector;
		fault_error = f->error;
		f->eip += probe_len;
		return;
	}
	kprintf("unexpected exception %u (error 0x%x) at eip 0x%x\n", f->vector, f->error, f->eip);
	debug_exit(0x11);
}

struct idt_gate {
	uint16_t off_lo, sel;
	uint8_t zero, type;
	uint16_t off_hi;
} __attribute__((packed));

static struct idt_gate idt[32];

static void idt_init(void)
{
	struct {
		uint16_t limit;
		uint32_t base;
	} __attribute__((packed)) desc = {sizeof(idt) - 1, (uint32_t)(uintptr_t)idt};
	for (int i = 0; i < 32; i++) {
		idt[i].off_lo = (uint16_t)isr_table[i];
		idt[i].sel = 0x08;
		idt[i].zero = 0;
		idt[i].type = 0x8E; /* present, DPL 0, 32-bit interrupt gate */
		idt[i].off_hi = (uint16_t)(isr_table[i] >> 16);
	}
	__asm__ volatile("lidt %0" : : "m"(desc));
}

static void probe_begin(uint32_t len)
{
	fault_vector = -1;
	probe_len = len;
}

/* probe_end returns 1 if the probed instruction faulted. */
static int probe_end(void)
{
	probe_len = 0;
	return fault_vector >= 0;
}

static void print_fault(void)
{
	if (fault_vector == 13)
		kprintf("#GP(%u)", fault_error);
	else
		kprintf("exception %d", fault_vector);
}

/* rdmsr_safe returns 0 and the value, or -1 if RDMSR faulted. */
static int rdmsr_safe(uint32_t idx, uint64_t *v)
{
	uint32_t lo = 0, hi = 0;
	probe_begin(2); /* 0F 32 */
	__asm__ volatile("rdmsr" : "+a"(lo), "+d"(hi) : "c"(idx) : "memory");
	if (probe_end())
		return -1;
	*v = (uint64_t)hi << 32 | lo;
	return 0;
}

static int wrmsr_safe(uint32_t idx, uint64_t v)
{
	probe_begin(2); /* 0F 30 */
	__asm__ volatile("wrmsr" : : "c"(idx), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)) : "memory");
	return probe_end() ? -1 : 0;
}

static int write_cr4_safe(uint32_t v)
{
	probe_begin(3); /* 0F 22 E0: mov %eax, %cr4 */
	__asm__ volatile("movl %0, %%cr4" : : "a"(v) : "memory");
	return probe_end() ? -1 : 0;
}

static uint32_t read_cr4(void)
{
	uint32_t v;
	__asm__ volatile("movl %%cr4, %0" : "=r"(v));
	return v;
}

static int failures;

static void expect(int ok, const char *what)
{
	if (!ok) {
		kprintf("INCONSISTENT: %s\n", what);
		failures++;
	}
}

void kmain(uint32_t magic, const void *mbi)
{
	(void)magic;
	(void)mbi;
	uart_init();
	idt_init();
	kprintf("vmxemu vmxdetect guest\n");

	/* 1. CPUID */
	uint32_t a, b, c, d, vendor[3];
	__asm__ volatile("cpuid" : "=a"(a), "=b"(vendor[0]), "=c"(vendor[2]), "=d"(vendor[1]) : "a"(0), "c"(0));
	__asm__ volatile("cpuid" : "=a"(a), "=b"(b), "=c"(c), "=d"(d) : "a"(1), "c"(0));
	char v[13];
	memcpy(v, vendor, 12);
	v[12] = 0;
	int vmx = (c >> 5) & 1;
	kprintf("cpuid: vendor %s, signature 0x%05x, vmx %d\n", v, a, vmx);

	/* 2. IA32_FEATURE_CONTROL */
	uint64_t fc = 0;
	int have_fc = rdmsr_safe(0x3a, &fc) == 0;
	if (have_fc)
		kprintf("feature_control: 0x%llx lock=%u vmxon_in_smx=%u vmxon_outside_smx=%u\n",
			(unsigned long long)fc, (unsigned)(fc & 1), (unsigned)(fc >> 1 & 1), (unsigned)(fc >> 2 & 1));
	else {
		kprintf("feature_control: ");
		print_fault();
		kprintf("\n");
	}

	/* 3. IA32_VMX_BASIC and the fixed bits */
	if (!vmx)
		kprintf("vmx: not available (CPUID.1:ECX.VMX = 0)\n");
	uint64_t basic = 0;
	if (rdmsr_safe(0x480, &basic) == 0) {
		kprintf("vmx_basic: 0x%016llx\n", (unsigned long long)basic);
		kprintf("revision: %u, region_size: %u, width_addr: %u\n", (unsigned)(basic & 0x7fffffff),
			(unsigned)(basic >> 32 & 0x1fff), (unsigned)(basic >> 48 & 1));
		uint64_t f[4];
		int ok = 1;
		for (int i = 0; i < 4; i++)
			ok &= rdmsr_safe(0x486 + i, &f[i]) == 0;
		expect(ok, "IA32_VMX_CR0/CR4_FIXED0/1 readable with IA32_VMX_BASIC");
		if (ok)
			kprintf("fixed: cr0_fixed0 0x%llx cr0_fixed1 0x%llx cr4_fixed0 0x%llx cr4_fixed1 0x%llx\n",
				(unsigned long long)f[0], (unsigned long long)f[1], (unsigned long long)f[2],
				(unsigned long long)f[3]);
		expect(vmx, "IA32_VMX_BASIC readable although CPUID.1:ECX.VMX = 0");
		expect((basic >> 32 & 0x1fff) != 0 && (basic >> 32 & 0x1fff) <= 4096, "region size in 1..4096");
	} else {
		kprintf("vmx_basic: ");
		print_fault();
		kprintf("\n");
		expect(!vmx, "IA32_VMX_BASIC faults although CPUID.1:ECX.VMX = 1");
	}

	/* 4. CR4.VMXE (bit 13) */
	uint32_t cr4 = read_cr4();
	if (write_cr4_safe(cr4 | 1u << 13) == 0) {
		kprintf("cr4.vmxe: set\n");
		expect(vmx, "CR4.VMXE set although CPUID.1:ECX.VMX = 0");
		write_cr4_safe(cr4);
	} else {
		kprintf("cr4.vmxe: ");
		print_fault();
		kprintf("\n");
		expect(!vmx, "CR4.VMXE refused although CPUID.1:ECX.VMX = 1");
	}

	/* 5. WRMSR IA32_FEATURE_CONTROL */
	if (have_fc && (fc & 1)) {
		int r = wrmsr_safe(0x3a, fc);
		kprintf("feature_control write (locked): ");
		if (r == 0)
			kprintf("accepted\n");
		else {
			print_fault();
			kprintf("\n");
		}
		expect(r != 0, "WRMSR to a locked IA32_FEATURE_CONTROL accepted");
	} else if (have_fc) {
		uint64_t want = 1 | (vmx ? 4 : 0), got = 0;
		int r = wrmsr_safe(0x3a, want);
		expect(r == 0, "WRMSR to an unlocked IA32_FEATURE_CONTROL refused");
		expect(rdmsr_safe(0x3a, &got) == 0 && got == want, "IA32_FEATURE_CONTROL reads back what was written");
		kprintf("feature_control write (unlocked): 0x%llx, now locked\n", (unsigned long long)got);
		r = wrmsr_safe(0x3a, 0);
		kprintf("feature_control write (locked): ");
		if (r == 0)
			kprintf("accepted\n");
		else {
			print_fault();
			kprintf("\n");
		}
		expect(r != 0, "WRMSR to IA32_FEATURE_CONTROL after locking it accepted");
	}

	if (failures) {
		kprintf("exiting with 0x11 (%d inconsistencies)\n", failures);
		debug_exit(0x11);
	}
	kprintf("exiting with 0x10\n");
	debug_exit(0x10);
}

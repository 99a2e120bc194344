/* The VMCS of a 64-bit guest in the host's address space: lib/vmx64.h. */
#include "vmx64.h"

#define AR_UNUSABLE 0x10000u

void vmcs64_fill(const struct vmcs64 *s, void (*write)(void *arg, uint32_t enc, uint64_t val), void *arg)
{
	write(arg, 0x4000, s->pin);   /* pin-based */
	write(arg, 0x4002, s->proc);  /* primary processor-based */
	write(arg, 0x400C, s->exit);  /* VM-exit */
	write(arg, 0x4012, s->entry); /* VM-entry */
	/* Exception bitmap, #PF mask and match, CR3-target count, the MSR
	 * areas' counts, VM-entry interruption information, CR0/CR4
	 * guest/host masks: 0. */
	static const uint16_t zero[] = {0x4004, 0x4006, 0x4008, 0x400A, 0x400E, 0x4010, 0x4014, 0x4016, 0x6000, 0x6002};
	for (unsigned i = 0; i < sizeof(zero) / sizeof(zero[0]); i++)
		write(arg, zero[i], 0);

	/* Host state (Vol. 3C 25.5, checked by 27.2.2-27.2.4). */
	write(arg, 0x6C00, s->host_cr0);
	write(arg, 0x6C02, s->host_cr3);
	write(arg, 0x6C04, s->host_cr4);
	write(arg, 0x0C00, 0x10); /* ES */
	write(arg, 0x0C02, 0x18); /* CS: 64-bit code */
	write(arg, 0x0C04, 0x10); /* SS */
	write(arg, 0x0C06, 0x10); /* DS */
	write(arg, 0x0C08, 0);    /* FS */
	write(arg, 0x0C0A, 0);    /* GS */
	write(arg, 0x0C0C, s->tr);
	write(arg, 0x6C06, 0); /* FS base */
	write(arg, 0x6C08, 0); /* GS base */
	write(arg, 0x6C0A, s->tr_base);
	write(arg, 0x6C0C, s->gdt_base);
	write(arg, 0x6C0E, s->idt_base);
	write(arg, 0x4C00, 0); /* IA32_SYSENTER_CS, ESP, EIP */
	write(arg, 0x6C10, 0);
	write(arg, 0x6C12, 0);
	write(arg, 0x6C14, s->host_rsp);
	write(arg, 0x6C16, s->host_rip);

	/* Guest state (25.4, checked by 27.3.1). ES CS SS DS FS GS, then
	 * LDTR and TR: selector, limit, access rights, base. */
	const struct {
		uint16_t sel;
		uint32_t lim, ar;
		uint64_t base;
	} seg[8] = {
		{0x10, 0xFFFFFFFF, 0xC093, 0}, {0x18, 0xFFFFFFFF, s->guest_cs_ar, 0}, {0x10, 0xFFFFFFFF, 0xC093, 0},
		{0x10, 0xFFFFFFFF, 0xC093, 0}, {0, 0, AR_UNUSABLE, 0},               {0, 0, AR_UNUSABLE, 0},
		{0, 0, AR_UNUSABLE, 0},        {s->tr, s->tr_limit, 0x8B, s->tr_base}, /* busy 64-bit TSS */
	};
	for (uint32_t i = 0; i < 8; i++) {
		write(arg, 0x0800 + 2 * i, seg[i].sel);
		write(arg, 0x4800 + 2 * i, seg[i].lim);
		write(arg, 0x4814 + 2 * i, seg[i].ar);
		write(arg, 0x6806 + 2 * i, seg[i].base);
	}
	write(arg, 0x4810, s->gdt_limit); /* GDTR */
	write(arg, 0x6816, s->gdt_base);
	write(arg, 0x4812, s->idt_limit); /* IDTR */
	write(arg, 0x6818, s->idt_base);
	write(arg, 0x6800, s->guest_cr0);
	write(arg, 0x6802, s->guest_cr3);
	write(arg, 0x6804, s->guest_cr4);
	write(arg, 0x681A, 0x400); /* DR7 */
	write(arg, 0x681C, s->guest_rsp);
	write(arg, 0x681E, s->guest_rip);
	write(arg, 0x6820, 2);     /* RFLAGS */
	write(arg, 0x6822, 0);     /* pending debug exceptions */
	write(arg, 0x4824, 0);     /* interruptibility state */
	write(arg, 0x4826, 0);     /* activity state: active */
	write(arg, 0x482A, 0);     /* IA32_SYSENTER_CS, ESP, EIP */
	write(arg, 0x6824, 0);
	write(arg, 0x6826, 0);
	write(arg, 0x2800, ~0ull); /* VMCS link pointer: none */
	write(arg, 0x2802, 0);     /* IA32_DEBUGCTL */
}

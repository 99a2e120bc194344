/*
 * What the 64-bit VMX guests (vmxon, benchvmx) share: the VM-entry and
 * VM-exit stubs (lib/vmxenter64.S) and the VMCS of a 64-bit guest in the
 * host's own address space (lib/vmcs64.c).  SDM Vol. 3C chapters 25, 27
 * and 28.
 */
#ifndef VMXEMU_GUEST_VMX64_H
#define VMXEMU_GUEST_VMX64_H

#include <stdint.h>

/* lib/vmxenter64.S.  vmx_enter(&host_sp, resume) runs VMLAUNCH (resume =
 * 0) or VMRESUME and returns RFLAGS after a VMfail, or 0 once the kernel's
 * vmexit() returned host_sp; vmexit_entry is the host RIP. */
extern char vmexit_entry[];
uint64_t vmx_enter(uint64_t *host_sp, int resume);

/* The guest's registers as vmexit_entry saves them. */
struct guest_regs {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rdi, rsi, rbp, rbx, rdx, rcx, rax;
};

/* Each kernel provides these two (called by vmexit_entry): vmexit returns
 * 0 to VMRESUME the guest, or the host_sp vmx_enter saved to return from
 * vmx_enter; vmresume_failed gets the RFLAGS of a VMRESUME that failed
 * and returns that host_sp. */
uint64_t vmexit(struct guest_regs *g);
uint64_t vmresume_failed(uint64_t rflags);

/* A 64-bit guest sharing the host's address space, GDT and IDT. */
struct vmcs64 {
	uint32_t pin, proc, exit, entry;     /* the four control fields */
	uint64_t host_cr0, host_cr3, host_cr4;
	uint64_t guest_cr0, guest_cr3, guest_cr4;
	uint16_t tr;                         /* TR: a busy 64-bit TSS, host and guest */
	uint32_t tr_limit;
	uint64_t tr_base;
	uint64_t gdt_base, idt_base;
	uint16_t gdt_limit, idt_limit;
	uint64_t host_rsp, host_rip;         /* the exit stack, vmexit_entry */
	uint64_t guest_rsp, guest_rip;
	uint32_t guest_cs_ar;                /* 0xA09B: 64-bit code, accessed */
};

/* vmcs64_fill writes every field such a guest needs into the current VMCS
 * with write(arg, encoding, value), in one fixed order: the controls,
 * the zeroed ones (exception bitmap, #PF mask and match, CR3-target
 * count, MSR-area counts, entry interruption information, CR0/CR4 masks),
 * host state, guest state (selectors 0x18 code, 0x10 data, FS/GS/LDTR
 * unusable).  The caller writes anything else (secondary controls, EPTP,
 * VPID) afterwards. */
void vmcs64_fill(const struct vmcs64 *s, void (*write)(void *arg, uint32_t enc, uint64_t val), void *arg);

#endif

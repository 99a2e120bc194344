# The event-log scenario (cmd/vmxemu/vmxlog_test.go): a 64-bit flat
# binary at 0x100000 (-boot-mode flat64, -cpu sandybridge-ep) that enters
# VMX operation, makes one VMfail, one failed VM entry and three VM exits,
# then writes 0x10 to isa-debug-exit (status 33). Build:
#   as --64 -o scenario.o scenario.S && objcopy -O binary scenario.o scenario.bin
# and with --defsym ABORT=1 into abort.bin, the variant that ends in a VMX
# abort.
# Values from the Sandy Bridge EP dump (../shared/reference/cpus): VMCS
# revision 16; the allowed-0 settings of IA32_VMX_PINBASED_CTLS (0x16),
# PROCBASED_CTLS (0x0401E172), EXIT_CTLS (0x36DFF), ENTRY_CTLS (0x11FF).
	.intel_syntax noprefix
	.code64
	.text
start:
	mov rax, cr0
	or eax, 0x20			# CR0.NE: fixed to 1 in VMX operation
	mov cr0, rax
	mov rax, cr4
	bts eax, 13			# CR4.VMXE
	mov cr4, rax
	mov dword ptr [0x180000], 16	# VMXON region: revision identifier
	mov dword ptr [0x181000], 16	# VMCS region
	# the region at 0x182000 keeps revision 0: VMPTRLD fails
.ifdef ABORT
	# abort.bin: the VM-exit MSR-load area's one entry names MSR 0x808,
	# an x2APIC register that no MSR area may load (SDM Vol. 3C 28.6):
	# loading host state at the first failed entry ends in a VMX abort.
	mov dword ptr [0x184000], 0x808
.endif
	mov rsi, 0x183000
	mov qword ptr [rsi], 0x180000
	mov qword ptr [rsi+8], 0x181000
	mov qword ptr [rsi+16], 0x182000
	vmxon [rsi]
	vmclear [rsi+8]
	vmptrld [rsi+8]
	vmptrld [rsi+16]		# VMfailValid, error 11 (incorrect revision)
	lea rsi, [rip+fields]
1:	mov rax, [rsi]
	cmp rax, -1
	je 2f
	mov rbx, [rsi+8]
	vmwrite rax, rbx
	add rsi, 16
	jmp 1b
2:	mov rbx, cr0
	mov eax, 0x6C00			# host CR0
	vmwrite rax, rbx
	mov eax, 0x6800			# guest CR0
	vmwrite rax, rbx
	mov rbx, cr3
	mov eax, 0x6C02
	vmwrite rax, rbx
	mov eax, 0x6802
	vmwrite rax, rbx
	mov rbx, cr4
	mov eax, 0x6C04
	vmwrite rax, rbx
	mov eax, 0x6804
	vmwrite rax, rbx
	vmlaunch			# guest RFLAGS is 0: VM-entry failure (reason 33)
	jmp fail

# Host RIP: every VM exit and failed VM entry comes here.
host:
	mov eax, 0x4402			# exit reason
	vmread rbx, rax
	bt ebx, 31
	jc entryfail
	cmp ebx, 18			# VMCALL: done
	je done
	mov eax, 0x681E			# guest RIP += VM-exit instruction length
	vmread rcx, rax
	mov eax, 0x440C
	vmread rdx, rax
	add rcx, rdx
	mov eax, 0x681E
	vmwrite rax, rcx
	vmresume
	jmp fail
entryfail:
	mov eax, 0x6820			# guest RFLAGS: bit 1 is reserved to 1
	mov ecx, 2
	vmwrite rax, rcx
	vmlaunch
	jmp fail
done:
	mov eax, 0x10
	out 0xf4, eax
	hlt
fail:
	mov eax, 0x11
	out 0xf4, eax
	hlt

# The guest: three VM exits.
guest:
	cpuid				# exit reason 10
	mov ecx, 0x174
	rdmsr				# exit reason 31 (no MSR bitmaps)
	vmcall				# exit reason 18
	jmp fail

	.balign 8
fields:
	.quad 0x4000, 0x16		# pin-based controls
	.quad 0x4002, 0x0401E172	# primary processor-based controls
	.quad 0x400C, 0x36FFF		# VM-exit controls + host address-space size (bit 9)
	.quad 0x4012, 0x13FF		# VM-entry controls + IA-32e mode guest (bit 9)
	.quad 0x2800, -1		# VMCS link pointer
	.quad 0x0C00, 0x10		# host ES
	.quad 0x0C02, 0x08		# host CS
	.quad 0x0C04, 0x10		# host SS
	.quad 0x0C06, 0x10		# host DS
	.quad 0x0C0C, 0x18		# host TR
	.quad 0x6C0C, 0x9600		# host GDTR base
	.quad 0x6C14, 0x17F000		# host RSP
	.quad 0x6C16, 0x100000 + host - start	# host RIP
	.quad 0x0800, 0x10		# guest ES
	.quad 0x0802, 0x08		# guest CS
	.quad 0x0804, 0x10		# guest SS
	.quad 0x0806, 0x10		# guest DS
	.quad 0x0808, 0x10		# guest FS
	.quad 0x080A, 0x10		# guest GS
	.quad 0x080E, 0x18		# guest TR
	.quad 0x4800, 0xFFFFFFFF, 0x4802, 0xFFFFFFFF, 0x4804, 0xFFFFFFFF	# limits
	.quad 0x4806, 0xFFFFFFFF, 0x4808, 0xFFFFFFFF, 0x480A, 0xFFFFFFFF
	.quad 0x480E, 0x67
	.quad 0x4814, 0xC093, 0x4816, 0xA09B, 0x4818, 0xC093	# access rights
	.quad 0x481A, 0xC093, 0x481C, 0xC093, 0x481E, 0xC093
	.quad 0x4820, 0x10000		# LDTR unusable
	.quad 0x4822, 0x8B		# TR: busy 64-bit TSS
	.quad 0x6816, 0x9600		# guest GDTR base
	.quad 0x4810, 0x1F		# guest GDTR limit
	.quad 0x681A, 0x400		# guest DR7
	.quad 0x681C, 0x17E000		# guest RSP
	.quad 0x681E, 0x100000 + guest - start	# guest RIP
.ifdef ABORT
	.quad 0x4010, 1			# VM-exit MSR-load count
	.quad 0x2008, 0x184000		# VM-exit MSR-load address
.endif
	.quad -1

# The EPT scenario (cmd/vmxemu/ept_test.go): a 64-bit flat binary at
# 0x100000 (-boot-mode flat64, -cpu sandybridge-ep) that builds an EPT
# hierarchy and guest page tables, and launches a guest whose accesses the
# host handles as a hypervisor maps memory on demand: four EPT violations
# and one EPT misconfiguration, each answered by fixing the EPT entry and
# INVEPT; then INVVPID and INVEPT with good and bad operands, and status
# 33 through isa-debug-exit. Build:
#   as --64 -o ept.o ept.S && objcopy -O binary ept.o ept.bin
#
# EPT (EPTP 0x19001e: WB, 4-level): PML4 0x190000, PDPT 0x191000, PD
# 0x192000 (entry 1, guest-physical 2-4 MiB, not present), PT 0x193000:
# guest-physical 0-2 MiB in 4-KiB pages, identity, RWX, WB, except
#   0x1a0000 not present, 0x1a1000 read-only, 0x1a2000 write-only (a
#   misconfiguration), 0x1c0000 not present.
# Guest paging (4-level, guest CR3 0x1b0000): PML4 0x1b0000, PDPT
# 0x1b1000; PDPTE 0 -> PD 0x1b2000 whose PDE 0 maps 0-2 MiB (2-MiB page);
# PDPTE 1 -> PD 0x1c0000 (not in EPT) whose PDE 0 maps linear 1 GiB to
# guest-physical 0x200000 (not in EPT either); PDPTE 3 -> PD 0x1b2000
# again, which the guest never uses (for the explainer's tests).
# Values from the Sandy Bridge EP dump (../shared/reference/cpus): VMCS
# revision 16; secondary controls allowed: enable EPT (bit 1), enable
# VPID (bit 5); IA32_VMX_EPT_VPID_CAP 0xf0106134141.
	.intel_syntax noprefix
	.code64
	.text
start:
	mov rax, cr0
	or eax, 0x20			# CR0.NE
	mov cr0, rax
	mov rax, cr4
	bts eax, 13			# CR4.VMXE
	mov cr4, rax
	mov dword ptr [0x180000], 16	# VMXON region
	mov dword ptr [0x181000], 16	# VMCS region
	# EPT: PML4, PDPT, PD, PT (RWX = 7, WB = 6 << 3)
	mov qword ptr [0x190000], 0x191007
	mov qword ptr [0x191000], 0x192007
	mov qword ptr [0x192000], 0x193007
	xor ecx, ecx
1:	mov rax, rcx
	shl rax, 12
	or rax, 0x37
	mov [0x193000 + rcx*8], rax
	inc ecx
	cmp ecx, 512
	jb 1b
	mov qword ptr [0x193000 + 0x1a0*8], 0		# not present
	mov qword ptr [0x193000 + 0x1a1*8], 0x1a1031	# read-only
	mov qword ptr [0x193000 + 0x1a2*8], 0x1a2032	# write-only
	mov qword ptr [0x193000 + 0x1c0*8], 0		# not present
	# Guest paging structures (P, R/W; PS for 2-MiB pages).
	mov qword ptr [0x1b0000], 0x1b1003
	mov qword ptr [0x1b1000], 0x1b2003
	mov qword ptr [0x1b1008], 0x1c0003
	mov qword ptr [0x1b1018], 0x1b2003	# PDPTE 3: linear 3 GiB aliases 0-1 GiB (never used: A stays 0)
	mov qword ptr [0x1b2000], 0x83
	mov qword ptr [0x1c0000], 0x200083
	mov rsi, 0x183000
	mov qword ptr [rsi], 0x180000
	mov qword ptr [rsi+8], 0x181000
	vmxon [rsi]
	vmclear [rsi+8]
	vmptrld [rsi+8]
	lea rsi, [rip+fields]
2:	mov rax, [rsi]
	cmp rax, -1
	je 3f
	mov rbx, [rsi+8]
	vmwrite rax, rbx
	add rsi, 16
	jmp 2b
3:	mov rbx, cr0
	mov eax, 0x6C00			# host CR0
	vmwrite rax, rbx
	mov eax, 0x6800			# guest CR0
	vmwrite rax, rbx
	mov rbx, cr3
	mov eax, 0x6C02			# host CR3 (guest CR3 is in fields)
	vmwrite rax, rbx
	mov rbx, cr4
	mov eax, 0x6C04
	vmwrite rax, rbx
	mov eax, 0x6804
	vmwrite rax, rbx
	vmlaunch
	jmp fail

# Host RIP: every VM exit comes here.
host:
	mov eax, 0x4402			# exit reason
	vmread rbx, rax
	cmp ebx, 18			# VMCALL: done
	je done
	cmp ebx, 48			# EPT violation
	je map
	cmp ebx, 49			# EPT misconfiguration
	jne fail
map:
	mov eax, 0x2400			# guest-physical address
	vmread rcx, rax
	mov rdx, rcx
	cmp rcx, 0x200000
	jae big
	shr rdx, 12			# a 4-KiB page of the PT: RWX, WB
	and ecx, 0xFFFFF000
	or ecx, 0x37
	mov [0x193000 + rdx*8], rcx
	jmp inv
big:
	shr rdx, 21			# a 2-MiB page of the PD: RWX, WB, bit 7
	and rcx, -0x200000
	or rcx, 0xb7
	mov [0x192000 + rdx*8], rcx
inv:
	lea rsi, [rip+eptdesc]
	mov eax, 1			# single-context
	cmp ebx, 49
	jne 4f
	mov eax, 2			# all-context after a misconfiguration
4:	invept rax, [rsi]
	vmresume
	jmp fail
done:
	lea rsi, [rip+vpiddesc]
	xor eax, eax			# individual-address: VMsucceed
	invvpid rax, [rsi]
	lea rsi, [rip+vpid0desc]
	mov eax, 1			# single-context, VPID 0000H: VMfailValid 28
	invvpid rax, [rsi]
	lea rsi, [rip+eptdesc]
	mov eax, 3			# no INVEPT type 3: VMfailValid 28
	invept rax, [rsi]
	mov eax, 0x10
	out 0xf4, eax
	hlt
fail:
	mov eax, 0x11
	out 0xf4, eax
	hlt

# The guest.
guest:
	mov eax, dword ptr [0x1a0000]	# EPT PTE not present: violation (read)
	mov dword ptr [0x1a1000], 1	# EPT PTE read-only: violation (write)
	mov eax, dword ptr [0x1a2000]	# EPT PTE write-only: misconfiguration
	mov eax, dword ptr [0x40000000]	# guest PD at 0x1c0000, then the page at 0x200000: two violations
walked:
	vmcall				# exit reason 18
	jmp fail

	.balign 8
eptdesc:
	.quad 0x19001e, 0		# EPTP
vpiddesc:
	.quad 1, 0x1a0000		# VPID 1, linear address
vpid0desc:
	.quad 0, 0
fields:
	.quad 0x4000, 0x16		# pin-based controls
	.quad 0x4002, 0x8401E172	# primary processor-based controls + activate secondary controls (bit 31)
	.quad 0x401E, 0x22		# secondary: enable EPT (bit 1), enable VPID (bit 5)
	.quad 0x201A, 0x19001e		# EPT pointer
	.quad 0x0000, 1			# VPID
	.quad 0x400C, 0x36FFF		# VM-exit controls + host address-space size (bit 9)
	.quad 0x4012, 0x13FF		# VM-entry controls + IA-32e mode guest (bit 9)
	.quad 0x2800, -1		# VMCS link pointer
	.quad 0x6802, 0x1b0000		# guest CR3
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
	.quad 0x6820, 2			# guest RFLAGS
	.quad 0x681E, 0x100000 + guest - start	# guest RIP
	.quad -1

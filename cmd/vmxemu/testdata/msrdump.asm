; msrdump: a flat 32-bit program (vmxemu -boot-mode flat32 at 0x100000)
; that checks two MSRs every shipped model's dump has (issue 19):
; MSR_PLATFORM_INFO (0CEH) reads the dump's value, given as -DLO=... -DHI=...
; at assembly, and IA32_DEBUGCTL.LBR (bit 0 of 1D9H) can be set and reads
; back (SDM Vol. 3B 19.4.1; Vol. 4 Table 2-2). Exit 0x10 (status 33) when
; both hold, 0x11 (35) on a wrong value; a #GP has no handler here, so it
; triple-faults (status 4 under -no-reboot).
bits 32
org 0x100000
	mov ecx, 0xCE
	rdmsr
	cmp eax, LO
	jne bad
	cmp edx, HI
	jne bad
	mov ecx, 0x1D9
	mov eax, 1
	xor edx, edx
	wrmsr
	xor eax, eax
	rdmsr
	cmp eax, 1
	jne bad
	test edx, edx
	jne bad
	mov eax, 0x10
	out 0xF4, eax
	hlt
bad:
	mov eax, 0x11
	out 0xF4, eax
	hlt

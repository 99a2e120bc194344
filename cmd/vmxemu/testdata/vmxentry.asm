; vmxentry: a flat 32-bit program (vmxemu -boot-mode flat32, loaded and
; entered at 0x100000) that enters VMX operation and runs a guest through
; real VM entries and exits, for the determinism test: the guest prints over
; COM1 (I/O does not exit: unconditional I/O exiting is 0) and executes
; CPUID, which always exits (SDM Vol. 3C 26.1.2); the host prints each exit
; (reason, guest RIP, instruction length), advances the guest RIP and
; VMRESUMEs; the guest's VMCALL (exit reason 18) ends it: VMCLEAR, VMXOFF and
; isa-debug-exit with 0x10 (status 33). Any VMfail or unexpected exit
; writes 0x11 (status 35).
;
; The controls are Sandy Bridge EP's defaults (its TRUE capability MSRs,
; testdata/reference/cpus), so run it with -cpu sandybridge-ep; host and
; guest are 32-bit protected mode with paging through 4-MiB identity pages
; (CR0 fixed bits PE, NE, PG: IA32_VMX_CR0_FIXED0 = 80000021H), as
; cpu/vmx_test.go's guestVMCS.
bits 32
org 0x100000

PD      equ 0x200000
VMXONR  equ 0x201000
VMCSR   equ 0x202000
GSTACK  equ 0x204000
HSTACK  equ 0x206000
COM1    equ 0x3F8
LOOPS   equ 3

start:
	mov esp, HSTACK
	mov edi, PD
	xor eax, eax
	mov ecx, 1024
	rep stosd
	mov dword [PD], 0x000000E7          ; 0-4 MiB: P RW US A D PS
	mov dword [PD+4], 0x004000E7        ; 4-8 MiB
	mov eax, cr4
	or eax, (1 << 4) | (1 << 13)        ; PSE, VMXE
	mov cr4, eax
	mov eax, PD
	mov cr3, eax
	mov eax, cr0
	or eax, 0x80000021                  ; PG, NE, PE
	mov cr0, eax

	mov esi, banner
	call puts
	mov ecx, 0x480                      ; IA32_VMX_BASIC: revision in 30:0
	rdmsr
	mov [VMXONR], eax
	mov [VMCSR], eax
	vmxon [vmxon_ptr]
	jbe fail
	vmclear [vmcs_ptr]
	jbe fail
	vmptrld [vmcs_ptr]
	jbe fail
	sgdt [gdtr]
	mov eax, [gdtr+2]
	mov [host_gdt_base], eax

	mov esi, fields
.write:
	mov eax, [esi]
	cmp eax, 0xFFFFFFFF
	je .launch
	mov ebx, [esi+4]
	vmwrite eax, ebx
	jbe fail
	add esi, 8
	jmp .write
.launch:
	vmlaunch
	jmp fail                            ; VMfail: VMLAUNCH falls through

host:                                   ; every VM exit lands here
	mov eax, 0x4402                     ; exit reason
	vmread ebx, eax
	mov [reason], ebx
	mov esi, s_exit
	call puts
	mov eax, [reason]
	call puthex
	mov esi, s_rip
	call puts
	mov eax, 0x681E                     ; guest RIP
	vmread ebx, eax
	mov [grip], ebx
	mov eax, ebx
	call puthex
	mov esi, s_len
	call puts
	mov eax, 0x440C                     ; VM-exit instruction length
	vmread ebx, eax
	mov [ilen], ebx
	mov eax, ebx
	call puthex
	mov al, 10
	call putc
	mov eax, [reason]
	cmp eax, 18                         ; VMCALL: done
	je .done
	cmp eax, 10                         ; CPUID
	jne fail
	mov ebx, [grip]
	add ebx, [ilen]
	mov eax, 0x681E
	vmwrite eax, ebx
	vmresume
	jmp fail
.done:
	vmclear [vmcs_ptr]
	vmxoff
	mov esi, s_done
	call puts
	mov eax, 0x10
	out 0xF4, eax
	hlt

fail:
	mov esi, s_fail
	call puts
	mov eax, 0x11
	out 0xF4, eax
	hlt

guest:
	mov ecx, LOOPS
.again:
	mov esi, s_guest
	call puts
	push ecx
	xor eax, eax
	cpuid                               ; exits
	pop ecx
	loop .again
	vmcall                              ; exits: the end
	jmp fail

; puts: the NUL-terminated string at ESI to COM1 (LF as CR LF).
puts:
	lodsb
	test al, al
	jz .r
	call putc
	jmp puts
.r:	ret

putc:
	push edx
	push eax
	cmp al, 10
	jne .one
	mov al, 13
	mov dx, COM1
	out dx, al
	mov al, 10
.one:
	mov dx, COM1
	out dx, al
	pop eax
	pop edx
	ret

; puthex: EAX as 8 hex digits.
puthex:
	mov ecx, 8
.d:	rol eax, 4
	push eax
	and eax, 0xF
	mov al, [hexdig+eax]
	call putc
	pop eax
	loop .d
	ret

align 8
vmxon_ptr: dq VMXONR
vmcs_ptr:  dq VMCSR
gdtr:      dw 0
           dd 0
reason:    dd 0
grip:      dd 0
ilen:      dd 0
hexdig:    db "0123456789abcdef"
banner:    db "vmxentry: VMXON, VMLAUNCH, exits", 10, 0
s_exit:    db "exit reason ", 0
s_rip:     db " guest rip ", 0
s_len:     db " length ", 0
s_guest:   db "guest: cpuid", 10, 0
s_done:    db "vmxentry: done", 10, 0
s_fail:    db "vmxentry: FAIL", 10, 0

align 4
; (encoding, value) pairs, SDM Vol. 3D Appendix B; 0xFFFFFFFF ends.
fields:
	dd 0x4000, 0x16                     ; pin-based controls
	dd 0x4002, 0x04006172               ; primary processor-based controls
	dd 0x400C, 0x00036DFB               ; VM-exit controls
	dd 0x4012, 0x000011FB               ; VM-entry controls
	dd 0x6C00, 0x80000031               ; host CR0
	dd 0x6C02, PD                       ; host CR3
	dd 0x6C04, (1 << 13) | (1 << 4)     ; host CR4: VMXE, PSE
	dd 0x0C00, 0x10, 0x0C02, 0x08, 0x0C04, 0x10, 0x0C06, 0x10, 0x0C08, 0x10, 0x0C0A, 0x10
	dd 0x0C0C, 0x18                     ; host TR selector (must not be 0)
	dd 0x6C0C
host_gdt_base:
	dd 0                                ; host GDTR base: this program's GDT
	dd 0x6C14, HSTACK                   ; host RSP
	dd 0x6C16, host                     ; host RIP
	dd 0x6800, 0x80000031               ; guest CR0
	dd 0x6802, PD                       ; guest CR3
	dd 0x6804, (1 << 13) | (1 << 4)     ; guest CR4
	dd 0x6820, 2                        ; guest RFLAGS
	dd 0x681C, GSTACK                   ; guest RSP
	dd 0x681E, guest                    ; guest RIP
	dd 0x2800, 0xFFFFFFFF, 0x2801, 0xFFFFFFFF ; VMCS link pointer: none
	; ES CS SS DS FS GS: selector, access rights, limit (flat)
	dd 0x0800, 0x10, 0x4814, 0xC093, 0x4800, 0xFFFFFFFF
	dd 0x0802, 0x08, 0x4816, 0xC09B, 0x4802, 0xFFFFFFFF
	dd 0x0804, 0x10, 0x4818, 0xC093, 0x4804, 0xFFFFFFFF
	dd 0x0806, 0x10, 0x481A, 0xC093, 0x4806, 0xFFFFFFFF
	dd 0x0808, 0x10, 0x481C, 0xC093, 0x4808, 0xFFFFFFFF
	dd 0x080A, 0x10, 0x481E, 0xC093, 0x480A, 0xFFFFFFFF
	dd 0x4820, 0x10000                  ; LDTR unusable
	dd 0x080E, 0x18, 0x4822, 0x8B, 0x480E, 0x67 ; TR: busy 32-bit TSS
	dd 0xFFFFFFFF

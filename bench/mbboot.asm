; A boot sector that loads a multiboot (v1) kernel from a floppy image, for
; Bochs, which has no -kernel: bench/run.sh runs the guests/bench kernels
; (bench32.elf, bench64.elf, benchvmx.elf) under Bochs with it. Floppy
; layout (1.44 MB, 18 sectors a track, 2 heads), written by bench/run.sh:
;   sector 0        this boot sector;
;   sector 1        the command line, NUL-terminated (at most 511 bytes);
;   sectors 2..     the kernel's memory image from its lowest load address
;                   (objcopy -O binary of the ELF: KSECT sectors).
; Assemble with nasm -f bin -DKSECT=n -DLOAD=addr -DENTRY=addr (the ELF's
; lowest physical load address and entry point, both at or above 1 MiB).
; It reads the sectors through INT 13h to 0x10000, enables A20, enters
; 32-bit protected mode with flat 4-GiB segments, copies the image to LOAD
; and enters the kernel as the Multiboot Specification 0.6.96 section 3.2
; says: EAX = 0x2BADB002, EBX = the information structure (flags: mem_* and
; cmdline valid; 640 KiB low, 63 MiB from 1 MiB for Bochs' megs: 64),
; paging and interrupts off. The kernel clears its own .bss (the image ends
; where the file's data ends; Bochs' memory starts zeroed anyway).
%include "flat32.inc"
bits 16
org 0x7c00
BUF     equ 0x10000                     ; cmdline sector, then the kernel
MBI     equ 0x9000                      ; multiboot information structure
NSECT   equ KSECT + 1                   ; sectors after the boot sector
  cli
  jmp 0:.cs0                            ; some BIOSes enter at 07c0:0000
.cs0:
  xor ax, ax
  mov ds, ax
  mov ss, ax
  mov sp, 0x7c00
  mov [drive], dl
  mov ax, BUF >> 4
  mov es, ax
  mov si, 1                             ; LBA of the next sector
.read:
  mov ax, si                            ; CHS of LBA si: C = s/36,
  xor dx, dx                            ; H = (s/18)%2, S = s%18 + 1
  mov bx, 18
  div bx
  mov cl, dl
  inc cl
  mov dh, al
  and dh, 1
  shr ax, 1
  mov ch, al
  mov dl, [drive]
  mov di, 3                             ; tries
.try:
  xor bx, bx
  mov ax, 0x0201                        ; read one sector to es:0
  int 0x13
  jnc .ok
  xor ax, ax                            ; reset the drive, try again
  int 0x13
  dec di
  jnz .try
  jmp fail
.ok:
  mov ax, es
  add ax, 512 >> 4
  mov es, ax
  inc si
  cmp si, NSECT
  jbe .read
  enter_flat32
fail:
  hlt
  jmp fail
bits 32
pm:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax
  mov gs, ax
  mov esp, 0x7c00
  cld
  mov esi, BUF + 512
  mov edi, LOAD
  mov ecx, KSECT * 512 / 4
  rep movsd
  mov edi, MBI                          ; zero the structure, then fill it
  xor eax, eax
  mov ecx, 22
  rep stosd
  mov dword [MBI + 0], 1 | 4            ; mem_* and cmdline valid
  mov dword [MBI + 4], 640              ; mem_lower (KiB)
  mov dword [MBI + 8], 63 * 1024        ; mem_upper (KiB from 1 MiB)
  mov dword [MBI + 16], BUF             ; cmdline
  mov eax, 0x2BADB002
  mov ebx, MBI
  mov ecx, ENTRY
  jmp ecx
drive: db 0
flat32_gdt
  times 510 - ($ - $$) db 0
  dw 0xaa55

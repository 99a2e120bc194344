; Guest benchmark kernel as a 512-byte boot sector, for Bochs (which has no
; -kernel): the BIOS loads it at 0x7c00; it enables A20, enters 32-bit
; protected mode with flat 4-GiB segments (paging off, interrupts off, as
; multiboot leaves the machine), runs the loop of kernels.inc selected with
; -DLOOP=n -DITER=n (nasm -Ibench/; the same bytes as in loops.asm), then
; stops the machine: isa-debug-exit at port 0xf4 (QEMU, vmxemu: exit
; status 1), then the Bochs power-off port 0x8900 ("Shutdown": Bochs quits;
; vmxemu knows it too).
; vmxemu runs the same image without a BIOS: -boot-mode flat16
; -load-addr 0x7c00 -entry 0x7c00.
%include "flat32.inc"
bits 16
org 0x7c00
  cli
  jmp 0:.cs0                    ; some BIOSes enter at 07c0:0000
.cs0:
  xor ax, ax
  mov ds, ax
  enter_flat32
bits 32
pm:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov fs, ax
  mov gs, ax
  mov esp, 0x7c00
start:
%include "kernels.inc"
  mov dx, 0xf4
  xor eax, eax
  out dx, eax
  mov dx, 0x8900
  mov esi, shutdown
  mov ecx, shutdown_len
  cld
  rep outsb
.halt:
  hlt
  jmp .halt
flat32_gdt
shutdown: db "Shutdown"
shutdown_len equ $ - shutdown
  times 510 - ($ - $$) db 0
  dw 0xaa55

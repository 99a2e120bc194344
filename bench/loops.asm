; Guest benchmark kernel for docs/PERFORMANCE.md: a multiboot (v1) image
; using the a.out kludge (header flag 16), so QEMU's -kernel and vmxemu
; load it the same way. It runs one loop of kernels.inc selected at build
; time (-DLOOP=n -DITER=n) and leaves through isa-debug-exit at port 0xf4
; with value 0 (status 1). Build: nasm -f bin -Ibench/ -DLOOP=1 -DITER=n.
bits 32
org 0x100000
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 1<<16
header:
  dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
  dd header, header, 0, 0, start
start:
%include "kernels.inc"
  mov dx, 0xf4
  xor eax, eax
  out dx, eax
  hlt

; Guest benchmark kernel for docs/PERFORMANCE.md: a multiboot (v1) image
; using the a.out kludge (header flag 16), so QEMU's -kernel and vmxemu
; load it the same way. It runs one loop selected at build time (-DLOOP=n)
; and leaves through isa-debug-exit at port 0xf4 with value 0 (status 1).
;   LOOP=1  dec/jnz:            2 instructions per iteration
;   LOOP=2  load/ALU/store:     7 instructions per iteration
bits 32
org 0x100000
MB_MAGIC equ 0x1BADB002
MB_FLAGS equ 1<<16
header:
  dd MB_MAGIC, MB_FLAGS, -(MB_MAGIC + MB_FLAGS)
  dd header, header, 0, 0, start
start:
%if LOOP == 1
  mov ecx, ITER
.l: dec ecx
  jnz .l
%else
  mov ebx, 3
  mov ecx, ITER
.m: mov esi, 0x200000
  mov edi, 0x300000
  mov edx, 1024
.i: mov eax, [esi]
  add eax, ebx
  mov [edi], eax
  add esi, 4
  add edi, 4
  dec edx
  jnz .i
  dec ecx
  jnz .m
%endif
  mov dx, 0xf4
  xor eax, eax
  out dx, eax
  hlt

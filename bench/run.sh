#!/usr/bin/env bash
# Guest benchmark: run the loop kernels under vmxemu and qemu-system-x86_64
# -accel tcg and print instructions, seconds and MIPS. Usage: bench/run.sh
# (needs nasm and, for the comparison, qemu-system-x86_64).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/vmxemu" ./cmd/vmxemu
flags=(-nographic -no-reboot -nodefaults -display none -device isa-debug-exit,iobase=0xf4,iosize=4 -m 64)
# name loop iterations instructions
while read -r name loop iter insns; do
  nasm -f bin -DLOOP="$loop" -DITER="$iter" bench/loops.asm -o "$out/$name.bin"
  for emu in vmxemu qemu; do
    if [ "$emu" = qemu ]; then
      command -v qemu-system-x86_64 >/dev/null || continue
      cmd=(qemu-system-x86_64 -accel tcg "${flags[@]}" -kernel "$out/$name.bin")
    else
      cmd=("$out/vmxemu" "${flags[@]}" -kernel "$out/$name.bin")
    fi
    best=
    for _ in 1 2 3; do
      s=$(date +%s.%N)
      "${cmd[@]}" >/dev/null 2>&1 || true
      e=$(date +%s.%N)
      t=$(echo "$e - $s" | bc -l)
      if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
    done
    printf '%-16s %-7s %12d insns  %7.3f s  %7.1f MIPS\n' "$name" "$emu" "$insns" "$best" "$(echo "$insns / $best / 1000000" | bc -l)"
  done
done <<'LIST'
dec-jnz 1 200000000 400000003
load-alu-store 2 50000 358600003
LIST

#!/usr/bin/env bash
# Guest benchmark: run the loop kernels (bench/kernels.inc) under vmxemu,
# qemu-system-x86_64 -accel tcg and Bochs, and print instructions, seconds
# (whole run, start-up included, best of three) and MIPS. Usage:
# bench/run.sh (needs nasm; QEMU and Bochs columns run when they are
# installed: apt-get install qemu-system-x86 bochs bochs-sdl bochsbios vgabios).
#
# Two boot paths carry the same loop bytes:
#   (mb)    bench/loops.asm, a multiboot kernel loaded with -kernel (vmxemu,
#           QEMU);
#   (boot)  bench/bootsect.asm, a 512-byte boot sector that enters 32-bit
#           protected mode itself: Bochs boots it from a floppy image through
#           its BIOS, QEMU the same way through SeaBIOS, and vmxemu runs it
#           without a BIOS (-boot-mode flat16 -load-addr 0x7c00).
# BOCHS=path selects another Bochs binary (default bochs-bin, Debian's).
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
go build -o "$out/vmxemu" ./cmd/vmxemu
flags=(-nographic -no-reboot -nodefaults -display none -device isa-debug-exit,iobase=0xf4,iosize=4 -m 64)
flat=(-boot-mode flat16 -load-addr 0x7c00 -entry 0x7c00)

have_qemu=
if command -v qemu-system-x86_64 >/dev/null; then have_qemu=1; else
  echo "qemu-system-x86_64 not installed: QEMU columns skipped" >&2; fi
bochs=${BOCHS:-bochs-bin}
have_bochs=
if ! command -v "$bochs" >/dev/null; then
  echo "Bochs ($bochs) not installed: Bochs column skipped (apt-get install bochs bochs-sdl bochsbios vgabios)" >&2
elif [ -z "${BOCHS:-}" ] && ! ls /usr/lib/*/bochs/plugins/libbx_sdl2_gui.so >/dev/null 2>&1; then
  echo "Bochs' SDL2 display plugin not installed: Bochs column skipped (apt-get install bochs-sdl)" >&2
else
  have_bochs=1
  bochsdbg=()
  # A Bochs built with its debugger (Debian's) stops at the first
  # instruction for a command: -rc gives it "continue".
  help=$("$bochs" --help 2>&1 || true)
  if grep -q -- '^ *-rc ' <<<"$help"; then
    printf 'continue\n' >"$out/bochs.rc"
    bochsdbg=(-rc "$out/bochs.rc")
  fi
fi

# run NAME INSNS WANT LABEL CMD...: best of three wall-clock times of CMD, which
# must exit with status WANT (and, for Bochs, through the shutdown port).
run() {
  local name=$1 insns=$2 want=$3 label=$4
  shift 4
  local best= t s e st
  for _ in 1 2 3; do
    s=$(date +%s.%N)
    st=0
    timeout 600 "$@" >"$out/log" 2>&1 </dev/null || st=$?
    e=$(date +%s.%N)
    if [ "$st" != "$want" ] || { [ "$label" = bochs ] && ! grep -q 'Shutdown port: shutdown requested' "$out/log"; }; then
      echo "$name $label: exit status $st, want $want; output:" >&2
      tail -5 "$out/log" >&2
      return 0
    fi
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%-16s %-14s %12d insns  %7.3f s  %7.1f MIPS\n' "$name" "$label" "$insns" "$best" "$(echo "$insns / $best / 1000000" | bc -l)"
}

# name loop iterations instructions (of the loop, as in loops.asm)
while read -r name loop iter insns; do
  nasm -f bin -Ibench/ -DLOOP="$loop" -DITER="$iter" bench/loops.asm -o "$out/$name.mb"
  nasm -f bin -Ibench/ -DLOOP="$loop" -DITER="$iter" bench/bootsect.asm -o "$out/$name.boot"
  cp "$out/$name.boot" "$out/$name.img"
  truncate -s 1474560 "$out/$name.img"
  run "$name" "$insns" 1 "vmxemu (mb)" "$out/vmxemu" "${flags[@]}" -kernel "$out/$name.mb"
  run "$name" "$insns" 1 "vmxemu (boot)" "$out/vmxemu" "${flags[@]}" "${flat[@]}" -kernel "$out/$name.boot"
  if [ -n "$have_qemu" ]; then
    run "$name" "$insns" 1 "qemu (mb)" qemu-system-x86_64 -accel tcg "${flags[@]}" -kernel "$out/$name.mb"
    run "$name" "$insns" 1 "qemu (boot)" qemu-system-x86_64 -accel tcg "${flags[@]}" -drive if=floppy,format=raw,file="$out/$name.img"
  fi
  if [ -n "$have_bochs" ]; then
    run "$name" "$insns" 1 bochs env BENCH_IMG="$out/$name.img" SDL_VIDEODRIVER=dummy \
      "$bochs" -q -f bench/bochsrc.txt "${bochsdbg[@]}"
  fi
done <<'LIST'
dec-jnz 1 200000000 400000003
load-alu-store 2 50000 358600003
LIST

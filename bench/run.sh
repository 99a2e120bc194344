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
# BOCHS=path selects another Bochs binary (default bochs-bin, Debian's); a
# Bochs built with --with-nogui runs with display_library nogui and needs no
# SDL2 (BOCHS_BIOS / BOCHS_VGABIOS name its ROM images when they are not
# Debian's /usr/share/bochs/BIOS-bochs-latest and
# /usr/share/vgabios/vgabios.bin).
#
# Then the benchmark kernels of guests/bench (bench32, bench64: ALU loop,
# load/ALU/xor-imm/store, rep movsb, byte copy, call/ret recursion,
# self-modifying code, page-table churn; see guests/README.md) run under
# vmxemu and QEMU with their full iteration counts; each prints its exact
# instruction count, which the MIPS column divides by the whole-process
# time. Last, benchvmx (vmxemu only): VM-exit round trips per second
# without VPID, with VPID and with EPT (VMX_ITERS=n round trips, default
# 1000000). RUNS=n takes the best of n runs (default 3); ONLY=guests skips
# the loop kernels above, ONLY=loops the guest kernels.
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
export BENCH_BIOS=${BOCHS_BIOS:-/usr/share/bochs/BIOS-bochs-latest}
export BENCH_VGABIOS=${BOCHS_VGABIOS:-/usr/share/vgabios/vgabios.bin}
export BENCH_DISPLAY=sdl2
if command -v "$bochs" >/dev/null && "$bochs" --help 2>&1 | grep -qi nogui; then
  BENCH_DISPLAY=nogui
fi
if ! command -v "$bochs" >/dev/null; then
  echo "Bochs ($bochs) not installed: Bochs column skipped (apt-get install bochs bochs-sdl bochsbios vgabios)" >&2
elif [ "$BENCH_DISPLAY" = sdl2 ] && ! ls /usr/lib/*/bochs/plugins/libbx_sdl2_gui.so >/dev/null 2>&1; then
  echo "Bochs ($bochs) has no nogui display and the SDL2 plugin is not installed: Bochs column skipped (apt-get install bochs-sdl, or build Bochs --with-nogui)" >&2
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

runs=${RUNS:-3}

# run NAME INSNS WANT LABEL CMD...: best of three wall-clock times of CMD, which
# must exit with status WANT (and, for Bochs, through the shutdown port).
run() {
  local name=$1 insns=$2 want=$3 label=$4
  shift 4
  local best= t s e st
  for _ in $(seq "$runs"); do
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
[ "${ONLY:-}" = guests ] || while read -r name loop iter insns; do
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

[ "${ONLY:-}" = loops ] && exit 0
# The guests/bench kernels. Each prints "MODE NAME: iters N insns M ok";
# a first quick run (iters=2) checks that it works under each emulator, a
# full run reads M.
make -s -C guests BUILD="$out/g" "$out/g/bench32.elf" "$out/g/bench64.elf"
gflags=(-accel tcg "${flags[@]}" -serial stdio)
while read -r kernel work; do
  img=$out/g/$kernel.elf
  out1=$("$out/vmxemu" "${gflags[@]}" -kernel "$img" -append "$work" 2>/dev/null || true)
  insns=$(sed -n 's/.* insns \([0-9]*\) ok.*/\1/p' <<<"$out1")
  if [ -z "$insns" ]; then
    echo "$kernel $work: no result from vmxemu: $out1" >&2
    continue
  fi
  run "$kernel-$work" "$insns" 33 "vmxemu" "$out/vmxemu" "${gflags[@]}" -kernel "$img" -append "$work"
  if [ -n "$have_qemu" ]; then
    run "$kernel-$work" "$insns" 33 "qemu" qemu-system-x86_64 "${gflags[@]}" -kernel "$img" -append "$work"
  fi
done <<'LIST'
bench32 alu
bench32 las
bench32 movsb
bench32 bytecopy
bench32 calls
bench32 smc
bench64 alu
bench64 las
bench64 movsb
bench64 bytecopy
bench64 calls
bench64 smc
bench64 ptchurn
LIST

# VM-exit round trips (guests/bench/vmx.c, issue 18): guest CPUID in a loop,
# host VMRESUME, without VPID, with VPID, with EPT and VPID. vmxemu only
# (QEMU's TCG has no VMX; Bochs needs a VMX build with its own boot path).
# Prints the best whole-process time of RUNS runs and the time per round
# trip (start-up included: under 20 ms, negligible at 1,000,000).
make -s -C guests BUILD="$out/g" "$out/g/benchvmx.elf"
vmx_iters=${VMX_ITERS:-1000000}
for work in vmexit vmexit-vpid vmexit-ept; do
  best=
  for _ in $(seq "$runs"); do
    s=$(date +%s.%N)
    st=0
    "$out/vmxemu" "${gflags[@]}" -cpu sandybridge-ep -kernel "$out/g/benchvmx.elf" \
      -append "$work iters=$vmx_iters" >"$out/log" 2>&1 </dev/null || st=$?
    e=$(date +%s.%N)
    if [ "$st" != 33 ] || ! grep -q " ok" "$out/log"; then
      echo "benchvmx $work: exit status $st; output:" >&2
      tail -5 "$out/log" >&2
      continue 2
    fi
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || [ "$(echo "$t < $best" | bc -l)" = 1 ]; then best=$t; fi
  done
  printf '%-16s %-14s %12d exits  %7.3f s  %7.2f us/round trip\n' "benchvmx-$work" vmxemu "$vmx_iters" "$best" \
    "$(echo "$best * 1000000 / $vmx_iters" | bc -l)"
done

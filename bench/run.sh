#!/usr/bin/env bash
# Guest benchmark: the same guest workloads under vmxemu, QEMU
# (qemu-system-x86_64 -accel tcg) and one or more Bochs builds, runs
# interleaved (run 1 of every tool, then run 2, ...), best of N. Prints per
# workload and tool the instructions, the best whole-process wall time
# (start-up included) and its MIPS, and the best user CPU time and its MIPS.
# Needs nasm, objcopy, readelf, bc, /usr/bin/time and a C toolchain for
# guests/ (make -C guests).
#
#   bench/run.sh
#   BOCHS="/tmp/b27/bochs /tmp/b30/bochs" LOOPS=5 bench/run.sh
#
# Environment:
#   LOOPS=n (or RUNS=n)  runs per tool and workload, best of n (default 3)
#   VMXEMU=path          the vmxemu binary (default: built from this checkout)
#   QEMU=path            qemu-system-x86_64 (default: from PATH; QEMU=none
#                        skips it)
#   BOCHS="[label=]path ..."  Bochs binaries (default bochs-bin when
#                        installed, Debian's). The label defaults to
#                        bochs-VERSION from the binary's banner. A binary
#                        in a Bochs build tree uses the tree's bios/ ROM
#                        images, any other Debian's (BOCHS_BIOS,
#                        BOCHS_VGABIOS override both). Display nogui, or
#                        sdl2 for Debian's /usr/bin/bochs-bin (which has no
#                        nogui; BOCHS_DISPLAY overrides); a build with the
#                        debugger gets "continue" through -rc.
#   BOCHS_CPU=model      Bochs CPU model (default corei7_sandy_bridge_2600k:
#                        x86-64, and VMX with EPT and VPID in a Bochs
#                        configured --enable-vmx=2)
#   ONLY=loops|guests|vmx  one group only (default all three)
#   VMX_ITERS=n          benchvmx round trips (default 1000000)
#   SMC_ITERS=n          iterations of the smc workloads (default 1000000,
#                        a tenth of the kernels' own count: at 10000000,
#                        the figure of the older tables, QEMU needs about
#                        150 s a run and vmxemu 40-60 s)
#
# The groups:
#   loops   the loop kernels of bench/kernels.inc: dec-jnz-800m (the issue's
#           dec/jnz, 800 M instructions), las-600m (load/ALU/xor-imm/store,
#           600 M), dec-jnz and load-alu-store (400 M and 359 M, the older
#           table of docs/PERFORMANCE.md). Two wrappers carry the same loop
#           bytes: bench/loops.asm (mb), a multiboot kernel for -kernel
#           (vmxemu, QEMU), and bench/bootsect.asm (boot), a boot sector on
#           a floppy image that Bochs and QEMU boot through their BIOS and
#           vmxemu runs without one (-boot-mode flat16 -load-addr 0x7c00).
#           The instruction count is the kernel's own (the loop, its set-up
#           and the exit); a Bochs run also executes its BIOS (about 15 M
#           instructions, in the time).
#   guests  the kernels of guests/bench (bench32, bench64: ALU loop,
#           load/ALU/xor-imm/store, rep movsb, byte copy, call/ret
#           recursion, self-modifying code, page-table churn; see
#           guests/README.md) with their full iteration counts. Each prints
#           "MODE NAME: iters N insns M ok", the exact instruction count of
#           the workload, which every tool must print alike; MIPS is M over
#           the whole-process time. vmxemu and QEMU load them with -kernel;
#           Bochs, which has no -kernel, boots a floppy image of
#           bench/mbboot.asm (a boot sector that loads the kernel and its
#           command line), and the kernel powers Bochs off through port
#           0x8900 and writes its line to COM1.
#   vmx     benchvmx (guests/bench/vmx.c): VM-exit round trips (guest
#           CPUID, host VMRESUME) without VPID, with VPID, with EPT and
#           VPID; vmxemu (-cpu sandybridge-ep) and Bochs (QEMU's TCG has no
#           VMX). Prints the time per round trip, start-up included.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
runs=${LOOPS:-${RUNS:-3}}
only=${ONLY:-}

if [ -n "${VMXEMU:-}" ]; then
  vmxemu=$VMXEMU
else
  go build -o "$out/vmxemu" ./cmd/vmxemu
  vmxemu=$out/vmxemu
fi
qemu=${QEMU:-qemu-system-x86_64}
if [ "$qemu" = none ]; then
  qemu=
elif ! command -v "$qemu" >/dev/null; then
  echo "$qemu not installed: QEMU skipped (apt-get install qemu-system-x86)" >&2
  qemu=
fi

# The Bochs builds: parallel arrays of label, binary, BIOS, VGA BIOS,
# display library and extra arguments (-rc for a debugger build).
b_label=() b_bin=() b_bios=() b_vgabios=() b_display=() b_rc=()
bochs_list=${BOCHS-bochs-bin}
if [ -z "${BOCHS+x}" ] && ! command -v bochs-bin >/dev/null; then bochs_list=; fi
for spec in $bochs_list; do
  label= bin=$spec
  if [[ $spec == *=* ]]; then label=${spec%%=*} bin=${spec#*=}; fi
  if ! command -v "$bin" >/dev/null; then
    echo "Bochs $bin not found: skipped" >&2
    continue
  fi
  help=$("$bin" --help 2>&1 || true)
  if [ -z "$label" ]; then
    label=bochs-$(sed -n 's/.*Bochs x86 Emulator \([^ ]*\).*/\1/p' <<<"$help" | head -1)
    for l in "${b_label[@]}"; do [ "$l" != "$label" ] || label=$label-${#b_label[@]}; done
  fi
  dir=$(dirname "$(command -v "$bin")")
  bios=/usr/share/bochs/BIOS-bochs-latest vgabios=/usr/share/vgabios/vgabios.bin
  if [ -f "$dir/bios/BIOS-bochs-latest" ]; then
    bios=$dir/bios/BIOS-bochs-latest
    for v in VGABIOS-lgpl-latest VGABIOS-lgpl-latest.bin; do
      [ ! -f "$dir/bios/$v" ] || vgabios=$dir/bios/$v
    done
  fi
  display=nogui
  if [ "$(readlink -f "$(command -v "$bin")")" = /usr/bin/bochs-bin ]; then display=sdl2; fi
  rc=
  if grep -q -- '^ *-rc ' <<<"$help"; then
    printf 'continue\n' >"$out/bochs.rc"
    rc=$out/bochs.rc
  fi
  b_label+=("$label") b_bin+=("$bin") b_bios+=("${BOCHS_BIOS:-$bios}")
  b_vgabios+=("${BOCHS_VGABIOS:-$vgabios}") b_display+=("${BOCHS_DISPLAY:-$display}") b_rc+=("$rc")
done
bochs_cpu=${BOCHS_CPU:-corei7_sandy_bridge_2600k}

flags=(-nographic -no-reboot -nodefaults -display none -device isa-debug-exit,iobase=0xf4,iosize=4 -m 64)
flat=(-boot-mode flat16 -load-addr 0x7c00 -entry 0x7c00)
gflags=(-accel tcg "${flags[@]}" -serial stdio)

# bochs_run I IMG: run Bochs build I on the floppy image IMG, its COM1 to
# $out/serial; the caller's timing wraps it.
bochs_cmd() {
  local i=$1 img=$2
  local rcarg=()
  [ -z "${b_rc[$i]}" ] || rcarg=(-rc "${b_rc[$i]}")
  cmd=(env BENCH_IMG="$img" BENCH_SERIAL="$out/serial" BENCH_CPU="$bochs_cpu"
    BENCH_BIOS="${b_bios[$i]}" BENCH_VGABIOS="${b_vgabios[$i]}" BENCH_DISPLAY="${b_display[$i]}"
    SDL_VIDEODRIVER=dummy "${b_bin[$i]}" -q -f bench/bochsrc.txt "${rcarg[@]}")
}

# floppy OUT BOOTSECTOR [FILE...]: a 1.44 MB image of the boot sector and
# the files after it, each padded to whole sectors.
floppy() {
  local img=$1 f
  shift
  cat "$1" >"$img"
  shift
  for f in "$@"; do
    cat "$f" >>"$img"
    truncate -s "%512" "$img"
  done
  truncate -s 1474560 "$img"
}

# mbfloppy ELF CMDLINE IMG: the Bochs image of a multiboot kernel
# (bench/mbboot.asm, the command line, the kernel's memory image).
mbfloppy() {
  local elf=$1 cmdline=$2 img=$3 load entry size
  objcopy -O binary "$elf" "$out/kernel.bin"
  size=$(stat -c %s "$out/kernel.bin")
  load=$(readelf -lW "$elf" | awk '$1 == "LOAD" { print $4; exit }')
  entry=$(readelf -hW "$elf" | awk '/Entry point/ { print $4 }')
  nasm -f bin -Ibench/ -DKSECT=$(((size + 511) / 512)) -DLOAD="$load" -DENTRY="$entry" bench/mbboot.asm -o "$out/mbboot"
  printf '%s\0' "$cmdline" >"$out/cmdline"
  floppy "$img" "$out/mbboot" "$out/cmdline" "$out/kernel.bin"
}

# measure NAME COUNT UNIT CHECK TOOL...: run each TOOL's command (set by
# the function setcmd TOOL into the array cmd, with the exit status it must
# give in want) RUNS times, interleaved; a run counts when it exits with
# want, its output (and COM1's) matches the extended regular expression
# CHECK, a Bochs run's says that the guest powered it off, and the
# instruction count the guest prints ("insns M ok"), if any, is COUNT
# (COUNT "-": what the first run prints). Prints the best wall and user
# times per tool; COUNT/time as MIPS, or for UNIT "exits" the microseconds
# per round trip.
measure() {
  local name=$1 count=$2 unit=$3 check=$4
  shift 4
  local tools=("$@") r i st wall user got
  local -A best_wall=() best_user=() failed=()
  for r in $(seq "$runs"); do
    for i in "${!tools[@]}"; do
      [ -z "${failed[$i]:-}" ] || continue
      setcmd "${tools[$i]}"
      rm -f "$out/serial"
      st=0
      timeout 900 /usr/bin/time -f '%e %U' -o "$out/time" "${cmd[@]}" >"$out/log" 2>&1 </dev/null || st=$?
      [ ! -f "$out/serial" ] || cat "$out/serial" >>"$out/log"
      got=$(sed -n 's/.* insns \([0-9]*\) ok.*/\1/p' "$out/log" | head -1)
      [ "$count" != - ] || count=${got:--}
      if [ "$st" != "$want" ] || { [ -n "$check" ] && ! grep -Eq -- "$check" "$out/log"; } ||
        { [ -n "$got" ] && [ "$got" != "$count" ]; } ||
        { [[ ${tools[$i]} == bochs:* ]] && ! grep -q 'Shutdown port: shutdown requested' "$out/log"; }; then
        echo "$name $(label_of "${tools[$i]}"): exit status $st (want $want), or not /$check/, or not $count instructions; output:" >&2
        tail -5 "$out/log" >&2
        failed[$i]=1
        continue
      fi
      read -r wall user < <(tail -1 "$out/time")
      [ "$wall" != 0.00 ] || wall=0.01
      [ "$user" != 0.00 ] || user=0.01
      if [ -z "${best_wall[$i]:-}" ] || [ "$(echo "$wall < ${best_wall[$i]}" | bc -l)" = 1 ]; then best_wall[$i]=$wall; fi
      if [ -z "${best_user[$i]:-}" ] || [ "$(echo "$user < ${best_user[$i]}" | bc -l)" = 1 ]; then best_user[$i]=$user; fi
    done
  done
  for i in "${!tools[@]}"; do
    [ -z "${failed[$i]:-}" ] || continue
    wall=${best_wall[$i]} user=${best_user[$i]}
    if [ "$unit" = exits ]; then
      printf '%-22s %-14s %11d exits  %7.2f s %7.2f us   user %7.2f s %7.2f us\n' "$name" "$(label_of "${tools[$i]}")" "$count" \
        "$wall" "$(echo "$wall * 1000000 / $count" | bc -l)" "$user" "$(echo "$user * 1000000 / $count" | bc -l)"
    else
      printf '%-22s %-14s %11d insns  %7.2f s %7.1f MIPS   user %7.2f s %7.1f MIPS\n' "$name" "$(label_of "${tools[$i]}")" "$count" \
        "$wall" "$(echo "$count / $wall / 1000000" | bc -l)" "$user" "$(echo "$count / $user / 1000000" | bc -l)"
    fi
  done
}

label_of() {
  case $1 in
  bochs:*) echo "${b_label[${1#bochs:}]}" ;;
  *) echo "$1" ;;
  esac
}

echo "# $(date -u '+%Y-%m-%d %H:%M UTC'), best of $runs interleaved runs; load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "# vmxemu: $vmxemu${qemu:+; QEMU: $($qemu --version | head -1)}"
for i in "${!b_label[@]}"; do echo "# ${b_label[$i]}: ${b_bin[$i]} (display ${b_display[$i]}, cpu $bochs_cpu)"; done

bochs_tools=()
for i in "${!b_label[@]}"; do bochs_tools+=("bochs:$i"); done
# The loop kernels: name, loop, iterations, instructions (the kernel's own:
# set-up, loop and exit, as vmxemu -stats counts them without the final OUT).
if [ -z "$only" ] || [ "$only" = loops ]; then
  setcmd() {
    case $1 in
    "vmxemu (mb)") cmd=("$vmxemu" "${flags[@]}" -kernel "$out/k.mb") want=1 ;;
    "vmxemu (boot)") cmd=("$vmxemu" "${flags[@]}" "${flat[@]}" -kernel "$out/k.boot") want=1 ;;
    "qemu (mb)") cmd=("$qemu" -accel tcg "${flags[@]}" -kernel "$out/k.mb") want=1 ;;
    "qemu (boot)") cmd=("$qemu" -accel tcg "${flags[@]}" -drive if=floppy,format=raw,file="$out/k.img") want=1 ;;
    *) bochs_cmd "${1#bochs:}" "$out/k.img"; want=1 ;;
    esac
  }
  while read -r name loop iter insns; do
    nasm -f bin -Ibench/ -DLOOP="$loop" -DITER="$iter" bench/loops.asm -o "$out/k.mb"
    nasm -f bin -Ibench/ -DLOOP="$loop" -DITER="$iter" bench/bootsect.asm -o "$out/k.boot"
    floppy "$out/k.img" "$out/k.boot"
    tools=("vmxemu (mb)" "vmxemu (boot)")
    [ -z "$qemu" ] || tools+=("qemu (mb)" "qemu (boot)")
    measure "$name" "$insns" insns '' "${tools[@]}" "${bochs_tools[@]}"
  done <<'LIST'
dec-jnz-800m 1 400000000 800000003
las-600m 4 75000000 600000006
dec-jnz 1 200000000 400000003
load-alu-store 2 50000 358600003
LIST
fi

# The guests/bench kernels, full iteration counts (the kernels' defaults).
if [ -z "$only" ] || [ "$only" = guests ]; then
  make -s -C guests BUILD="$out/g" "$out/g/bench32.elf" "$out/g/bench64.elf"
  setcmd() {
    case $1 in
    vmxemu) cmd=("$vmxemu" "${gflags[@]}" -kernel "$out/g/$kernel.elf" -append "$work") want=33 ;;
    qemu) cmd=("$qemu" "${gflags[@]}" -kernel "$out/g/$kernel.elf" -append "$work") want=33 ;;
    *) bochs_cmd "${1#bochs:}" "$out/k.img"; want=1 ;;
    esac
  }
  while read -r kernel work; do
    [ "$work" != smc ] || work="smc iters=${SMC_ITERS:-1000000}"
    [ -z "${b_label[*]}" ] || mbfloppy "$out/g/$kernel.elf" "$work" "$out/k.img"
    tools=(vmxemu)
    [ -z "$qemu" ] || tools+=(qemu)
    measure "$kernel-${work%% *}" - insns " insns [0-9]+ ok" "${tools[@]}" "${bochs_tools[@]}"
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
fi

# benchvmx: VM-exit round trips; the time per round trip includes start-up
# (vmxemu under 20 ms, Bochs with its BIOS about 0.1-0.3 s: compare at
# 1,000,000 round trips). QEMU's TCG has no VMX.
if [ -z "$only" ] || [ "$only" = vmx ]; then
  make -s -C guests BUILD="$out/g" "$out/g/benchvmx.elf"
  vmx_iters=${VMX_ITERS:-1000000}
  setcmd() {
    case $1 in
    vmxemu) cmd=("$vmxemu" "${gflags[@]}" -cpu sandybridge-ep -kernel "$out/g/benchvmx.elf" -append "$work iters=$vmx_iters") want=33 ;;
    *) bochs_cmd "${1#bochs:}" "$out/k.img"; want=1 ;;
    esac
  }
  for work in vmexit vmexit-vpid vmexit-ept; do
    [ -z "${b_label[*]}" ] || mbfloppy "$out/g/benchvmx.elf" "$work iters=$vmx_iters" "$out/k.img"
    measure "benchvmx-$work" "$vmx_iters" exits " exits $((vmx_iters + 1)) ok" vmxemu "${bochs_tools[@]}"
  done
fi

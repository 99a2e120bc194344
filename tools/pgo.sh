#!/usr/bin/env bash
# Regenerates cmd/vmxemu/default.pgo, the profile the Go toolchain uses
# for profile-guided optimisation of vmxemu (go build picks it up by
# itself: -pgo=auto). docs/PERFORMANCE.md ("Profile-guided optimisation")
# has the measured gain and when to rerun this (after hot-path changes).
#
# usage: tools/pgo.sh [KUT_DIR]
#
# It builds vmxemu without PGO, runs the workloads below with -cpuprofile
# and merges their profiles (go tool pprof -proto):
#   - every workload of the benchmark kernels guests/bench (bench32 and
#     bench64: alu, las, bytecopy, calls, movsb; bench64 ptchurn);
#   - with a built kvm-unit-tests checkout KUT_DIR (./configure && make):
#     sieve and access_test (memory and page-table code, cut at an
#     instruction count), vmexit's cpuid loop, and vmx.flat's
#     rdtsc_vmexit_diff_test (VM exits and entries).
# Without KUT_DIR the profile holds the benchmark kernels only (say so
# when you commit it).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
kut=${1:-}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export PATH=/usr/local/go/bin:$PATH

echo "== building vmxemu (no PGO) and the benchmark kernels in $work" >&2
(cd "$repo" && go build -pgo=off -o "$work/vmxemu" ./cmd/vmxemu)
make -s -C "$repo/guests" BUILD="$work/g" "$work/g/bench32.elf" "$work/g/bench64.elf"

dev=(-nodefaults -device isa-debug-exit,iobase=0xf4,iosize=0x4 -serial stdio)
n=0
profile() { # NAME ARGS...: one run with a profile; its exit status is the guest's
	local name=$1
	shift
	n=$((n + 1))
	echo "== $name" >&2
	"$work/vmxemu" "$@" -cpuprofile "$work/$n.prof" >/dev/null 2>&1 || true
	[ -s "$work/$n.prof" ] || { echo "pgo.sh: $name wrote no profile" >&2; exit 1; }
}

for k in bench32 bench64; do
	for w in alu las bytecopy calls movsb; do
		profile "$k $w" "${dev[@]}" -kernel "$work/g/$k.elf" -append "$w"
	done
done
profile "bench64 ptchurn" "${dev[@]}" -kernel "$work/g/bench64.elf" -append ptchurn

if [ -n "$kut" ]; then
	kdev=("${dev[@]}" -device pc-testdev)
	cd "$kut"
	profile "kvm-unit-tests sieve" "${kdev[@]}" -kernel x86/sieve.flat -icount-limit 3000000000
	profile "kvm-unit-tests access" "${kdev[@]}" -kernel x86/access_test.flat -cpu max,host-phys-bits -icount-limit 1500000000
	profile "kvm-unit-tests vmexit cpuid" "${kdev[@]}" -kernel x86/vmexit.flat -append cpuid -icount-limit 300000000
	profile "kvm-unit-tests rdtsc_vmexit_diff_test" "${kdev[@]}" -kernel x86/vmx.flat -cpu max,+vmx -append rdtsc_vmexit_diff_test
	cd "$repo"
fi

go tool pprof -proto "$work"/*.prof >"$repo/cmd/vmxemu/default.pgo"
echo "== wrote cmd/vmxemu/default.pgo from $n profiles" >&2

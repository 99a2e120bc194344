#!/usr/bin/env bash
# Runs kvm-unit-tests' own runner (run_tests.sh, unmodified) against vmxemu
# and against qemu-system-x86_64 -accel tcg, then prints a table of both
# results side by side with the SUMMARY line of each test's log.
#
# usage: tools/kvm-unit-tests.sh [options] [KUT_DIR] [-- TEST...]
#
#   KUT_DIR        a built kvm-unit-tests checkout you may write to
#                  (default $KUT_DIR). This script does not build it: it
#                  runs what is there (the suite's own ./configure && make).
#                  The runner writes its logs into it (logs-vmxemu/,
#                  logs-qemu/). Nothing of it belongs in this repository.
#   TEST...        only these unittests.cfg entries (default: all)
#   --no-qemu      run vmxemu only
#   --no-vmxemu    run QEMU only
#   --summary      run nothing: tabulate the logs of an earlier run
#   -j N           run N tests at a time (run_tests.sh -j)
#   -a             also the tests marked nodefault (run_tests.sh -a)
#
# Environment: QEMU_BIN (default qemu-system-x86_64), VMXEMU_BIN (default:
# built from this checkout into $TMPDIR), KUT_TIMEOUT (overall limit per
# emulator for the whole suite, a timeout(1) duration; default none).
#
# The table goes to stdout, and as Markdown to KUT_DIR/results.md.
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
run_vmxemu=yes run_qemu=yes summary_only=no
runner_opts=()
tests=()
kut=

while [ $# -gt 0 ]; do
	case "$1" in
	--no-qemu) run_qemu=no ;;
	--no-vmxemu) run_vmxemu=no ;;
	--summary) summary_only=yes ;;
	-j) runner_opts+=(-j "$2"); shift ;;
	-a) runner_opts+=(-a) ;;
	-h | --help) sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	--) shift; tests+=("$@"); break ;;
	-*) echo "kvm-unit-tests.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
	*) if [ -z "$kut" ] && [ -f "$1/run_tests.sh" ]; then kut=$1; else tests+=("$1"); fi ;;
	esac
	shift
done

kut=${kut:-${KUT_DIR:-}}
if [ -z "$kut" ] || [ ! -f "$kut/run_tests.sh" ]; then
	echo "kvm-unit-tests.sh: give a kvm-unit-tests checkout (argument or KUT_DIR); got '${kut}'" >&2
	exit 2
fi
kut=$(cd "$kut" && pwd)

if [ "$summary_only" = no ]; then
	export PATH=/usr/local/go/bin:$PATH
	if [ -z "${VMXEMU_BIN:-}" ]; then
		VMXEMU_BIN=${TMPDIR:-/tmp}/vmxemu-kut/vmxemu
		mkdir -p "$(dirname "$VMXEMU_BIN")"
		echo "== building vmxemu into $VMXEMU_BIN" >&2
		(cd "$repo" && go build -o "$VMXEMU_BIN" ./cmd/vmxemu)
	fi
	QEMU_BIN=${QEMU_BIN:-qemu-system-x86_64}
	if [ "$run_qemu" = yes ] && ! command -v "$QEMU_BIN" >/dev/null; then
		echo "kvm-unit-tests.sh: $QEMU_BIN not found (use --no-qemu to run vmxemu only)" >&2
		exit 2
	fi
	if [ ! -f "$kut/config.mak" ] || ! ls "$kut"/x86/*.flat >/dev/null 2>&1; then
		echo "kvm-unit-tests.sh: $kut is not built (no config.mak or x86/*.flat); build it with the suite's own instructions first" >&2
		exit 2
	fi
fi

# run NAME EMULATOR: the runner, unmodified, with its logs in logs-NAME/ and
# its output in logs-NAME.out.
run() {
	local name=$1 emu=$2
	local limit=()
	[ -n "${KUT_TIMEOUT:-}" ] && limit=(timeout "$KUT_TIMEOUT")
	echo "== ACCEL=tcg QEMU=$emu ./run_tests.sh -v ${runner_opts[*]} ${tests[*]}  (logs in $kut/logs-$name)" >&2
	(cd "$kut" && unittest_log_dir="logs-$name" ACCEL=tcg QEMU="$emu" \
		"${limit[@]}" ./run_tests.sh -v "${runner_opts[@]}" "${tests[@]}") >"$kut/logs-$name.out" 2>&1 || true
}

if [ "$summary_only" = no ]; then
	[ "$run_vmxemu" = yes ] && run vmxemu "$VMXEMU_BIN"
	[ "$run_qemu" = yes ] && run qemu "$(command -v "$QEMU_BIN")"
fi

# results NAME: "test<TAB>RESULT<TAB>reason" from the runner's output lines
# ("PASS name (n tests)", "FAIL name (timeout; duration=90s)").
results() {
	local out="$kut/logs-$1.out"
	[ -f "$out" ] || return 0
	sed 's/\x1b\[[0-9;]*m//g' "$out" | awk '
		/^(PASS|FAIL|SKIP) [^ ]+/ {
			res = $1; name = $2; rest = $0
			sub(/^(PASS|FAIL|SKIP) [^ ]+ ?/, "", rest)
			print name "\t" res "\t" rest
		}'
}

# summary NAME TEST: the last SUMMARY line of the test's log.
summary() {
	local log="$kut/logs-$1/$2.log"
	[ -f "$log" ] || return 0
	grep -a '^SUMMARY:' "$log" | tail -1 | sed 's/^SUMMARY: //; s/\r$//'
}

declare -A vres vwhy qres qwhy
order=()
while IFS=$'\t' read -r t r w; do
	[ -n "${vres[$t]:-}" ] || order+=("$t")
	vres[$t]=$r vwhy[$t]=$w
done < <(results vmxemu)
while IFS=$'\t' read -r t r w; do
	[ -n "${vres[$t]:-}${qres[$t]:-}" ] || order+=("$t")
	qres[$t]=$r qwhy[$t]=$w
done < <(results qemu)

cell() { # RESULT REASON SUMMARY
	local s=$1
	[ -z "$s" ] && { echo "-"; return; }
	if [ -n "$3" ]; then
		s+=" ($3)"
	elif [ -n "$2" ]; then
		s+=" $2"
	fi
	echo "$s"
}

{
	echo "| test | vmxemu | QEMU TCG |"
	echo "|---|---|---|"
	for t in "${order[@]}"; do
		printf '| %s | %s | %s |\n' "$t" \
			"$(cell "${vres[$t]:-}" "${vwhy[$t]:-}" "$(summary vmxemu "$t")" | sed 's/|/\\|/g')" \
			"$(cell "${qres[$t]:-}" "${qwhy[$t]:-}" "$(summary qemu "$t")" | sed 's/|/\\|/g')"
	done
	for n in vmxemu qemu; do
		[ -f "$kut/logs-$n.out" ] || continue
		r=$(results $n | cut -f2)
		printf '\n%s: %d PASS, %d FAIL, %d SKIP\n' "$n" \
			"$(grep -c '^PASS' <<<"$r" || true)" "$(grep -c '^FAIL' <<<"$r" || true)" "$(grep -c '^SKIP' <<<"$r" || true)"
	done
} | tee "$kut/results.md"

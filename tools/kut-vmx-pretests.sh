#!/usr/bin/env bash
# Runs kvm-unit-tests' VMX pre-tests (x86/vmx.flat: VMXON, VMPTRLD, VMCLEAR,
# VMPTRST, VMREAD/VMWRITE, VMCS lifecycle, flags untouched on faults) under
# vmxemu on every shipped CPU model and prints each model's SUMMARY line.
# Usage: tools/kut-vmx-pretests.sh KUT_DIR   (a built kvm-unit-tests checkout;
# the suite is not part of this repository: ./configure && make builds it).
# test_vmx_caps is left out: it reads IA32_VMX_PROCBASED_CTLS2 and
# IA32_VMX_EPT_VPID_CAP unconditionally, which do not exist until VM entry
# unmasks the secondary controls (docs/VMX.md, "kvm-unit-tests").
set -euo pipefail
kut=${1:?usage: $0 KUT_DIR}
here=$(cd "$(dirname "$0")/.." && pwd)
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
(cd "$here" && go build -o "$out/vmxemu" ./cmd/vmxemu)
tests="test_vmx_feature_control test_vmxon test_vmptrld test_vmclear test_vmptrst test_vmwrite_vmread test_vmcs_high test_vmcs_lifecycle test_vmread_flags_touch test_vmwrite_flags_touch"
# The models: the block of -cpu help before its alias list.
models=$("$out/vmxemu" -cpu help | awk 'NR == 1 {next} NF == 0 {exit} {print $1}')
status=0
for m in $models; do
  log="$out/$m.log"
  timeout 300 "$out/vmxemu" -nodefaults -device isa-debug-exit,iobase=0xf4,iosize=4 -serial stdio -m 256 \
    -kernel "$kut/x86/vmx.flat" -smp 1 -cpu "$m" -append "$tests" >"$log" 2>&1 || true
  line=$(grep -E '^SUMMARY' "$log" || echo "no SUMMARY (see the log)")
  fails=$(grep -c '^FAIL' "$log" || true)
  printf '%-16s %s  (%s FAIL lines)\n' "$m" "$line" "$fails"
  [ "$fails" = 0 ] && grep -q '^SUMMARY' "$log" || status=1
done
exit $status

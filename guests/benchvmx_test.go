package guests

import (
	"fmt"
	"strconv"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestBenchVMX runs the VM-exit round-trip benchmark kernel (bench/vmx.c)
// with small iteration counts on both reference models, each workload:
// N guest CPUIDs must give N exits with reason 10 and instruction length
// 2 (CPUID is 0F A2: SDM Vol. 2A), then the VMCALL's exit (reason 18,
// length 3: 0F 01 C1) — the kernel checks each and prints ok. Between
// two iteration counts the instructions retired (-stats) must grow
// linearly: the same cost per round trip for N and 2N.
func TestBenchVMX(t *testing.T) {
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		for _, w := range []string{"vmexit", "vmexit-vpid", "vmexit-ept"} {
			t.Run(model+"/"+w, func(t *testing.T) {
				t.Parallel()
				img := guestImage(t, "benchvmx")
				retired := func(n int) int64 {
					res, err := runEmulator(vmxemuPath(t), benchFlags(img, fmt.Sprintf("%s iters=%d", w, n), "-cpu", model+",+vmx", "-stats"))
					require.NoError(t, err)
					want := fmt.Sprintf("benchvmx %s: iters %d exits %d ok\r\n", w, n, n+1)
					require.Contains(t, res.stdout, want, "stderr:\n%s", res.stderr)
					require.Equal(t, ExitPass, res.status, "stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
					m := statsLine.FindStringSubmatch(res.stderr)
					require.NotNil(t, m, "no stats line in:\n%s", res.stderr)
					v, err := strconv.ParseInt(m[1], 10, 64)
					require.NoError(t, err)
					return v
				}
				a, b, c := retired(100), retired(200), retired(300)
				assert.Equal(t, b-a, c-b, "instructions per 100 round trips")
				assert.Positive(t, b-a)
			})
		}
	}
}

// TestBenchVMXBadName: an unknown workload lists them and fails.
func TestBenchVMXBadName(t *testing.T) {
	res, err := runEmulator(vmxemuPath(t), benchFlags(guestImage(t, "benchvmx"), "nosuch", "-cpu", "sandybridge-ep,+vmx"))
	require.NoError(t, err)
	assert.Contains(t, res.stdout, "benchvmx workloads: vmexit vmexit-vpid vmexit-ept")
	assert.Equal(t, ExitFail, res.status)
}

package guests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The exact guest runs side by side with QEMU (TestSideBySide, TestQEMU);
// checkExactOutput is what both must print. INVLPG outside 64-bit mode
// applies no segment checks (SDM Vol. 2A INVLPG: its protected-mode
// exceptions are #GP(0) for CPL > 0 and #UD for a register operand), so
// none of the three probes faults. cpu/sys_exact_test.go has the same
// probes with MOV as the control that does fault.

const exactBanner = "vmxemu exact guest\n"

func checkExactOutput(t *testing.T, who, out string) {
	t.Helper()
	want := []string{
		"vmxemu exact guest",
		"a: invlpg beyond the DS limit: no fault",
		"b: invlpg through a NULL ES: no fault",
		"c: invlpg at an expand-down DS offset below the limit: no fault",
		"exiting with 0x10",
	}
	assert.Equalf(t, want, strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n"), "%s: exact's output", who)
}

// TestExactVMXEmu runs the exact guest under vmxemu alone, so that a
// failure names vmxemu even where QEMU is not installed.
func TestExactVMXEmu(t *testing.T) {
	img := guestImage(t, "exact")
	res, err := runEmulator(vmxemuPath(t), emuFlags(img, Args("exact")...))
	require.NoError(t, err)
	fw, out, ok := guestOutput(res.stdout, exactBanner)
	require.Truef(t, ok, "no banner in stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
	assert.Empty(t, fw)
	checkExactOutput(t, "vmxemu", out)
	assert.Equal(t, ExitPass, res.status, "exit status")
}

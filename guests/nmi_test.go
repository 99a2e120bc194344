package guests

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The nmi guests (nmi: 32-bit, nmi64: long mode) run side by side with
// QEMU (TestSideBySide, TestQEMU); checkNMIOutput is what both emulators
// must print. The expected behaviour is SDM Vol. 3A 6.7.1: NMIs are
// blocked from the delivery of an NMI until the next IRET, one NMI that
// arrives meanwhile is held pending (a latch: two become one) and taken
// at the instruction boundary right after that IRET, and the IRET need
// not be the NMI handler's own (d: a #BP handler's IRET inside the NMI
// handler unblocks NMIs).

const nmiBanner = "vmxemu nmi guest\n"

func isNMI(name string) bool { return name == "nmi" || name == "nmi64" }

func checkNMIOutput(t *testing.T, who, name, out string) {
	t.Helper()
	mode := "32"
	if name == "nmi64" {
		mode = "64"
	}
	want := []string{
		"vmxemu nmi guest",
		"mode: " + mode + "-bit",
		"a: one self-NMI: handler ran 1 time(s), max depth 1: PASS",
		// Held pending while the handler runs, no nesting, taken at the
		// IRET's return point before the main flow moves on.
		"b: NMI sent inside the handler: handler ran 2 time(s), max depth 1, " +
			"second one taken at the IRET's return point: yes: PASS",
		// Two sent while blocked: one pending NMI, so 2 entries, not 3.
		"c: two NMIs sent inside the handler: handler ran 2 time(s), max depth 1, " +
			"second one taken at the IRET's return point: yes: PASS",
		// Still blocked in the #BP handler; its IRET unblocks NMIs, so the
		// pending one nests at the instruction after INT3.
		"d: NMI sent inside the handler, then int3: handler ran 2 time(s) (1 before int3, 1 in the #BP handler, " +
			"2 after it), max depth 2, nested at the instruction after int3: yes: PASS",
		"all checks passed",
		"exiting with 0x10",
	}
	assert.Equalf(t, want, strings.Split(strings.TrimSuffix(out, "\r\n"), "\r\n"), "%s: %s's output", who, name)
}

// TestNMIVMXEmu runs the nmi guests under vmxemu alone, so that a failure
// names vmxemu even where QEMU is not installed (TestSideBySide then
// skips).
func TestNMIVMXEmu(t *testing.T) {
	for _, name := range []string{"nmi", "nmi64"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			img := guestImage(t, name)
			res, err := runEmulator(vmxemuPath(t), emuFlags(img, Args(name)...))
			require.NoError(t, err)
			fw, out, ok := guestOutput(res.stdout, nmiBanner)
			require.Truef(t, ok, "no banner in stdout:\n%s\nstderr:\n%s", res.stdout, res.stderr)
			assert.Empty(t, fw)
			checkNMIOutput(t, "vmxemu", name, out)
			assert.Equal(t, ExitPass, res.status, "exit status")
		})
	}
}

// Package testenv is the one place where a test decides what to do when
// something it needs from outside Go is missing: a tool (nasm, gcc,
// objdump, qemu-system-x86_64, gdb, the go command) or reference data.
// Outside CI the test skips, saying what is missing; in CI mode (CI=true,
// or VMXEMU_REQUIRE_QEMU=1) it fails, so that CI cannot go quiet because
// a package was not installed. .ci/run also counts the skips that remain
// and fails on any that .ci/allowed-skips.txt does not list.
package testenv

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// CI reports whether the tests run in CI mode: CI=true (as GitHub Actions,
// GitLab and most CI systems set it) or VMXEMU_REQUIRE_QEMU=1 (what
// .ci/run sets).
func CI() bool {
	return os.Getenv("CI") == "true" || os.Getenv("VMXEMU_REQUIRE_QEMU") == "1"
}

// Missing ends the test because something it needs is not there: a skip
// with the message, or in CI mode a failure.
func Missing(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s (CI mode: a missing tool or data is a failure; see .ci/run)", msg)
		return
	}
	t.Skipf("%s (set CI=true to make this a failure)", msg)
}

// NeedTool returns the path of tool, or ends the test through Missing;
// why says what the test uses it for.
func NeedTool(t testing.TB, tool, why string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		Missing(t, "%s not found in PATH: %s", tool, why)
	}
	return p
}

// OptionalTool returns the path of tool, or "" when it is missing and the
// test can go on with less (a cross-check dropped): then it logs what is
// dropped, and in CI mode it fails the test.
func OptionalTool(t testing.TB, tool, dropped string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if CI() {
			t.Errorf("%s not found in PATH: %s would be dropped (CI mode: a missing tool is a failure)", tool, dropped)
		} else {
			t.Logf("%s not found in PATH: %s dropped", tool, dropped)
		}
		return ""
	}
	return p
}

// ReferenceDir is the repository's copy of the reference data
// (testdata/reference, see testdata/README.md), from the calling test's
// package directory.
func ReferenceDir(t testing.TB) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot find the repository root")
	}
	dir := filepath.Join(filepath.Dir(file), "..", "..", "testdata", "reference")
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("reference data: %v (it is part of the repository: testdata/README.md)", err)
	}
	return dir
}

package testenv

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestCI(t *testing.T) {
	tests := []struct {
		ci, require string
		want        bool
	}{
		{"", "", false},
		{"true", "", true},
		{"", "1", true},
		{"false", "0", false},
		{"1", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.ci+"/"+tc.require, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv("VMXEMU_REQUIRE_QEMU", tc.require)
			assert.Equal(t, tc.want, CI())
		})
	}
}

// recorder is a testing.TB that records how a helper ended the test.
type recorder struct {
	testing.TB
	skipped, fatal, errored, logged bool
	msg                             string
}

func (r *recorder) Helper() {}
func (r *recorder) Skipf(f string, a ...any) {
	r.skipped, r.msg = true, fmt.Sprintf(f, a...)
}
func (r *recorder) Fatalf(f string, a ...any) {
	r.fatal, r.msg = true, fmt.Sprintf(f, a...)
}
func (r *recorder) Errorf(f string, a ...any) {
	r.errored, r.msg = true, fmt.Sprintf(f, a...)
}
func (r *recorder) Logf(f string, a ...any) {
	r.logged, r.msg = true, fmt.Sprintf(f, a...)
}

// A missing tool skips (or is logged) outside CI and fails in CI mode.
func TestMissingTool(t *testing.T) {
	const tool = "vmxemu-no-such-tool-xyz"
	tests := []struct {
		name     string
		ci       string
		optional bool
		want     recorder
	}{
		{"required, not CI", "", false, recorder{skipped: true}},
		{"required, CI", "true", false, recorder{fatal: true}},
		{"optional, not CI", "", true, recorder{logged: true}},
		{"optional, CI", "true", true, recorder{errored: true}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.ci)
			t.Setenv("VMXEMU_REQUIRE_QEMU", "")
			r := &recorder{TB: t}
			if tc.optional {
				assert.Empty(t, OptionalTool(r, tool, "a cross-check"))
			} else {
				NeedTool(r, tool, "testing testenv")
			}
			assert.Equal(t, tc.want.skipped, r.skipped, "skipped")
			assert.Equal(t, tc.want.fatal, r.fatal, "fatal")
			assert.Equal(t, tc.want.errored, r.errored, "errored")
			assert.Equal(t, tc.want.logged, r.logged, "logged")
			assert.Contains(t, r.msg, tool)
		})
	}
}

func TestReferenceDir(t *testing.T) {
	assert.DirExists(t, ReferenceDir(t)+"/cpus/aida64")
}

package cpu_test

import (
	"bytes"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedHotPath checks that the committed output of gen_hot.go and
// gen_mono.go (go generate) is what the generators write today. It is
// an external test: a function in package cpu's own test files moves the
// generic handler instantiations in the test binary the benchmarks run
// (about 1 KB), which alone cost DecJnz about 3%.
func TestGeneratedHotPath(t *testing.T) {
	goTool := testenv.NeedTool(t, "go", "it runs the generator")
	dir := t.TempDir()
	for _, gen := range []string{"gen_hot.go", "gen_mono.go"} {
		// gen_mono also fails while a generic handler is installed by
		// its instantiation rather than by its concrete copy.
		cmd := exec.Command(goTool, "run", gen, "-o", dir)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go run %s: %v\n%s", gen, err, out)
		}
	}
	for _, name := range []string{"exec_hot_gen.go", "exec_fused_gen.go", "exec_pair_gen.go", "exec_head_gen.go", "exec_mono_gen.go"} {
		want, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s is out of date: run go generate ./cpu", name)
		}
	}
}

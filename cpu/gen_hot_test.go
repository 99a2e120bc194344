package cpu_test

import (
	"bytes"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestGeneratedHotPath checks that the committed output of gen_hot.go
// (go generate) is what the generator writes from its tables today. It is
// an external test: a function in package cpu's own test files moves the
// generic handler instantiations in the test binary the benchmarks run
// (about 1 KB), which alone cost DecJnz about 3%.
func TestGeneratedHotPath(t *testing.T) {
	goTool := testenv.NeedTool(t, "go", "it runs the generator")
	dir := t.TempDir()
	cmd := exec.Command(goTool, "run", "gen_hot.go", "-o", dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go run gen_hot.go: %v\n%s", err, out)
	}
	for _, name := range []string{"exec_hot_gen.go", "exec_fused_gen.go", "exec_pair_gen.go", "exec_head_gen.go"} {
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

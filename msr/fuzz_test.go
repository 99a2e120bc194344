package msr

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// trimAIDA64 keeps the sections of an AIDA64 dump the importer reads (the
// header, logical CPU #0 and the MSR registers), so a seed is a few KiB.
func trimAIDA64(b []byte) []byte {
	var out bytes.Buffer
	keep := true
	for _, line := range strings.SplitAfter(string(b), "\n") {
		if strings.HasPrefix(line, "------[") {
			keep = strings.Contains(line, "Versions") || strings.Contains(line, "CPU Info") ||
				strings.Contains(line, "Logical CPU #0 ") || strings.Contains(line, "MSR Registers")
		}
		if keep {
			out.WriteString(line)
		}
	}
	return out.Bytes()
}

// FuzzLoadModel feeds arbitrary bytes to the CPU-model loader (model files
// and AIDA64 dumps, as -cpu-file reads them). Each call must end in a
// model or in an error; a model must survive Format and re-parse to the
// same text, and resolving it must give a profile or an error — never a
// panic. Seeds: the shipped models and trimmed real AIDA64 dumps.
func FuzzLoadModel(f *testing.F) {
	for _, glob := range []string{"models/*.cpu", "../testdata/reference/cpus/aida64/*.txt"} {
		paths, _ := filepath.Glob(glob)
		for _, p := range paths {
			b, err := os.ReadFile(p)
			if err != nil {
				f.Fatal(err)
			}
			if IsAIDA64(b) {
				b = trimAIDA64(b)
			}
			// Large inputs make the fuzzer crawl: keep seeds to 16 KiB,
			// cut at a line end.
			if len(b) > 16<<10 {
				b = b[:bytes.LastIndexByte(b[:16<<10], '\n')+1]
			}
			f.Add(b, filepath.Base(p))
		}
	}
	f.Add([]byte("model x\ncpuid 0 0 1 2 3 4\nmsr 480 ffffffffffffffff\n"), "x.cpu")
	f.Add([]byte("------[ CPU Info ]------\nCPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\n"), "dump.txt")
	f.Fuzz(func(t *testing.T, data []byte, name string) {
		m, err := LoadBytes(data, name)
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		var a, b bytes.Buffer
		if err := m.Format(&a); err != nil {
			t.Fatalf("Format: %v", err)
		}
		m2, err := ParseModel(bytes.NewReader(a.Bytes()))
		if err != nil {
			t.Fatalf("a loaded model does not re-parse: %v\n%s", err, a.String())
		}
		if err := m2.Format(&b); err != nil {
			t.Fatalf("Format: %v", err)
		}
		if a.String() != b.String() {
			t.Fatalf("Format/ParseModel round trip differs:\n%s\n---\n%s", a.String(), b.String())
		}
		p, err := Resolve(m, nil)
		if err != nil {
			return
		}
		var w bytes.Buffer
		if err := WriteVMXCap(&w, p); err != nil {
			return
		}
	})
}

package conformance

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"time"
)

// TraceName returns the file name a trace from cpu is stored under:
// vendor, brand and CPUID.1:EAX, e.g.
// "GenuineIntel-intel-xeon-gold-6248-cpu-2.50ghz-00050657.jsonl.gz".
func TraceName(cpu CPUInfo) string {
	brand := strings.ToLower(cpu.Brand)
	brand = regexp.MustCompile(`\(r\)|\(tm\)|@`).ReplaceAllString(brand, "")
	brand = strings.Trim(regexp.MustCompile(`[^a-z0-9.]+`).ReplaceAllString(brand, "-"), "-")
	return fmt.Sprintf("%s-%s-%s.jsonl.gz", cpu.Vendor, brand, strings.TrimPrefix(cpu.Signature, "0x"))
}

// Record generates the cases for seed and records them on this host.
func Record(ctx context.Context, dir string, seed int64, perForm int) (Header, []*Case, error) {
	cases := Generate(seed, perForm)
	rec, err := NewRecorder(ctx, dir)
	if err != nil {
		return Header{}, nil, err
	}
	info, leaves, err := rec.Run(ctx, cases)
	if err != nil {
		return Header{}, nil, err
	}
	h := Header{CPU: info, Leaves: leaves, Generator: GenInfo{Seed: seed, Version: GeneratorVersion, PerForm: perForm},
		Layout: NewLayout(), Forms: len(allForms()), Recorded: time.Now().UTC().Format(time.DateOnly), Kernel: kernelRelease()}
	return h, cases, nil
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(b))
}

// WriteTraceFile writes a trace to path.
func WriteTraceFile(path string, h Header, cases []*Case) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(path), err)
	}
	f, err := os.Create(path)
	if err != nil {
		return fmt.Errorf("creating trace: %w", err)
	}
	if err := WriteTrace(f, h, cases); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing trace: %w", err)
	}
	return nil
}

// Result is one case's replay outcome.
type Result struct {
	Class, Detail string
}

// ReplayAll runs every case on the interpreter, in parallel over the
// available CPUs, and returns one Result per case.
func ReplayAll(leaves []Leaf, cases []*Case) []Result {
	res := make([]Result, len(cases))
	workers := runtime.GOMAXPROCS(0)
	var wg sync.WaitGroup
	chunk := (len(cases) + workers - 1) / max(workers, 1)
	for w := 0; w < workers; w++ {
		lo, hi := w*chunk, min((w+1)*chunk, len(cases))
		if lo >= hi {
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := NewReplayer(leaves)
			for i := lo; i < hi; i++ {
				got, err := r.Run(cases[i])
				res[i].Class, res[i].Detail = Diff(cases[i], got, err)
			}
		}()
	}
	wg.Wait()
	return res
}

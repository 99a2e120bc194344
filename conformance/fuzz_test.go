package conformance

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// traceHead returns the first n lines of the checked-in trace (header
// and cases), uncompressed, as a seed; the header's case count is left as
// recorded, so the seed also exercises the count check.
func traceHead(tb testing.TB, n int) []byte {
	paths, _ := filepath.Glob("testdata/*.jsonl.gz")
	if len(paths) == 0 {
		return nil
	}
	f, err := os.Open(paths[0])
	if err != nil {
		tb.Fatal(err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		tb.Fatal(err)
	}
	sc := bufio.NewScanner(zr)
	sc.Buffer(make([]byte, 1<<20), 1<<24)
	var out bytes.Buffer
	for i := 0; i < n && sc.Scan(); i++ {
		out.Write(sc.Bytes())
		out.WriteByte('\n')
	}
	return out.Bytes()
}

func gz(b []byte) []byte {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	zw.Write(b) //nolint:errcheck // bytes.Buffer
	zw.Close()  //nolint:errcheck // bytes.Buffer
	return buf.Bytes()
}

// FuzzReadTrace feeds arbitrary trace files to the trace reader: gzip
// input as is, anything else gzip-compressed first (so the fuzzer
// explores the JSON lines, not the gzip framing). Each call must end in an
// error or in cases that survive WriteTrace/ReadTrace unchanged and replay
// on the interpreter to a result (a mismatch class or none) — never a
// panic.
func FuzzReadTrace(f *testing.F) {
	var small bytes.Buffer
	h := Header{Format: FormatName, Version: FormatVersion, CPU: CPUInfo{Vendor: "GenuineIntel"}, Layout: NewLayout(), Leaves: []Leaf{{Leaf: 1, EAX: 0x50657}}}
	cases := Generate(5, 1)[:6]
	for _, c := range cases {
		c.Out = &Output{Vector: -1, RIP: uint64(len(c.Code)), GPR: c.In.GPR, RFLAGS: c.In.RFLAGS}
	}
	if err := WriteTrace(&small, h, cases); err != nil {
		f.Fatal(err)
	}
	f.Add(small.Bytes())
	if head := traceHead(f, 4); head != nil {
		f.Add(head)
		f.Add(gz(head))
	}
	f.Add([]byte(`{"format":"vmxemu-native-trace","version":1,"cases":1}` + "\n" + `{"form":"x","code":"90","out":{"vector":-1}}` + "\n"))
	r := NewReplayer(nil) // one per worker: a replay machine is 1 MiB of RAM
	f.Fuzz(func(t *testing.T, data []byte) {
		if !bytes.HasPrefix(data, []byte{0x1f, 0x8b}) {
			data = gz(data)
		}
		h, cases, err := ReadTrace(bytes.NewReader(data))
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error")
			}
			return
		}
		var buf bytes.Buffer
		if err := WriteTrace(&buf, h, cases); err != nil {
			t.Fatalf("WriteTrace of a trace ReadTrace accepted: %v", err)
		}
		_, again, err := ReadTrace(&buf)
		if err != nil {
			t.Fatalf("re-reading a written trace: %v", err)
		}
		if len(again) != len(cases) {
			t.Fatalf("round trip: %d cases, want %d", len(again), len(cases))
		}
		for i := range cases {
			if !reflect.DeepEqual(cases[i], again[i]) {
				t.Fatalf("round trip changes case %d:\n%+v\n%+v", i, cases[i], again[i])
			}
		}
		if len(cases) > 4 {
			cases = cases[:4]
		}
		r.plat.leaves = h.Leaves
		for _, c := range cases {
			got, err := r.Run(c)
			Diff(c, got, err)
		}
	})
}

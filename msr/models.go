package msr

import (
	"bytes"
	"embed"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"
	"sync"
)

//go:generate go run ./internal/genmodels -ref ../../shared/reference/cpus -out models

//go:embed models/*.cpu
var modelFiles embed.FS

// DefaultModel is the model vmxemu uses without -cpu: the Sandy Bridge EP
// of the seed scenario (VMCS revision 16, 1024-byte regions, BASIC bit 48
// clear). It is also the oldest shipped part, so the fewest of its
// features are ones vmxemu has to hide.
const DefaultModel = "sandybridge-ep"

// builtin parses the embedded models once; the result is never modified
// (Lookup and Models hand out copies).
var builtin = sync.OnceValues(func() ([]*Model, error) {
	ents, err := modelFiles.ReadDir("models")
	if err != nil {
		return nil, fmt.Errorf("msr: built-in models: %w", err)
	}
	var ms []*Model
	for _, e := range ents {
		b, err := modelFiles.ReadFile(path.Join("models", e.Name()))
		if err != nil {
			return nil, fmt.Errorf("msr: built-in model %s: %w", e.Name(), err)
		}
		m, err := ParseModel(bytes.NewReader(b))
		if err != nil {
			return nil, fmt.Errorf("msr: built-in model %s: %w", e.Name(), err)
		}
		ms = append(ms, m)
	}
	slices.SortFunc(ms, func(a, b *Model) int { return cmpU32(a.Signature(), b.Signature()) })
	return ms, nil
})

// Models returns copies of the built-in models, oldest first.
func Models() ([]*Model, error) {
	ms, err := builtin()
	if err != nil {
		return nil, err
	}
	out := make([]*Model, len(ms))
	for i, m := range ms {
		out[i] = m.Clone()
	}
	return out, nil
}

// Lookup returns a copy of the built-in model called name.
func Lookup(name string) (*Model, error) {
	ms, err := builtin()
	if err != nil {
		return nil, err
	}
	var known []string
	for _, m := range ms {
		if m.Name == name {
			return m.Clone(), nil
		}
		known = append(known, m.Name)
	}
	return nil, fmt.Errorf("unknown CPU model %q (known: %s; see -cpu help)", name, strings.Join(known, ", "))
}

// LoadFile reads a model from a file: a vmxemu model file, or an AIDA64
// CPUID dump (imported as a model named after the file).
func LoadFile(name string) (*Model, error) {
	b, err := os.ReadFile(name)
	if err != nil {
		return nil, fmt.Errorf("CPU model file: %w", err)
	}
	return LoadBytes(b, name)
}

// LoadBytes is LoadFile on the file's contents.
func LoadBytes(b []byte, name string) (*Model, error) {
	var (
		m   *Model
		err error
	)
	if IsAIDA64(b[:min(len(b), 4096)]) {
		base := strings.ToLower(strings.TrimSuffix(path.Base(strings.ReplaceAll(name, "\\", "/")), path.Ext(name)))
		base = strings.Map(func(r rune) rune {
			if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '.' || r == '_' {
				return r
			}
			return '-'
		}, base)
		m, err = ParseAIDA64(bytes.NewReader(b), strings.TrimLeft(base, "-._"))
	} else {
		m, err = ParseModel(io.Reader(bytes.NewReader(b)))
	}
	if err != nil {
		return nil, fmt.Errorf("CPU model file %s: %w", name, err)
	}
	return m, nil
}

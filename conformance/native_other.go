//go:build !(linux && amd64)

package conformance

import (
	"context"
	"errors"
)

// NativeSupported reports whether this build can record on the host.
const NativeSupported = false

// Recorder is unavailable off linux/amd64.
type Recorder struct{}

// NewRecorder fails off linux/amd64.
func NewRecorder(ctx context.Context, dir string) (*Recorder, error) {
	return nil, errors.New("native recording needs linux/amd64")
}

// Run fails off linux/amd64.
func (r *Recorder) Run(ctx context.Context, cases []*Case) (CPUInfo, []Leaf, error) {
	return CPUInfo{}, nil, errors.New("native recording needs linux/amd64")
}

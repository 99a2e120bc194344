package main

import (
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/vmxemu/vmxemu/gdbstub"
	"github.com/vmxemu/vmxemu/machine"
)

// Under the gdb stub -no-shutdown turns a power-off or a triple fault into
// a stop gdb sees every time it continues (the stub stays attached); the
// stop is reported once. A debug exit still ends the session.
func TestGDBNoShutdownStops(t *testing.T) {
	tests := []struct {
		name       string
		noShutdown bool
		kind       machine.ResultKind
		want       gdbstub.StopKind
	}{
		{"power-off, -no-shutdown", true, machine.ResultShutdown, gdbstub.StopPolled},
		{"triple fault, -no-shutdown", true, machine.ResultTripleFault, gdbstub.StopPolled},
		{"debug exit, -no-shutdown", true, machine.ResultDebugExit, gdbstub.StopExited},
		{"power-off", false, machine.ResultShutdown, gdbstub.StopExited},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stops := 0
			tg := &gdbTarget{report: func(machine.Result) int { return 0 }}
			if tc.noShutdown {
				tg.stopped = func(machine.Result) { stops++ }
			}
			ds := machine.DebugStop{Event: machine.DebugEnded, Result: machine.Result{Kind: tc.kind}}
			for i := 0; i < 2; i++ {
				assert.Equal(t, tc.want, tg.stop(ds).Kind)
			}
			if tc.want == gdbstub.StopPolled {
				assert.Equal(t, 1, stops, "reported once")
			} else {
				assert.Zero(t, stops)
			}
		})
	}
}

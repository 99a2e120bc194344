//go:build unix

package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
)

// TestCPUModelFileReadsNothingElse: a -cpu-file model cannot make vmxemu
// open another file (issue 19, "Security"). The model names another file
// in every place a path could hide — as its name, in its description,
// sources and notes, as an "include" directive, after "@" — and that file
// is a FIFO with no writer: opening it for reading would block, so a run
// that tried would hang and fail the test by its deadline. The model with
// an unknown directive is refused as a usage error naming the line; the
// others load, and the FIFO is never opened (opening its write end without
// blocking fails with ENXIO while no reader has it open).
func TestCPUModelFileReadsNothingElse(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "secret")
	require.NoError(t, syscall.Mkfifo(fifo, 0o600))
	base, err := os.ReadFile(filepath.Join("..", "..", "msr", "models", "sandybridge-ep.cpu"))
	require.NoError(t, err)
	body := strings.Replace(string(base), "model sandybridge-ep", "model sandybridge-ep\ndescription "+fifo+"\nsource file://"+fifo+"\nnote @"+fifo, 1)
	for _, tc := range []struct {
		name, text string
		code       int
	}{
		{"paths in description, source and note", body, 0},
		{"include directive", "include " + fifo + "\n" + body, cli.ExitUsage},
		{"path as the model name", strings.Replace(body, "model sandybridge-ep", "model "+fifo, 1), cli.ExitUsage},
		{"AIDA64 dump naming a file", "------[ Versions ]------\n\nProgram Version : " + fifo + "\n\n------[ CPU Info ]------\n\nCPUID Manufacturer : GenuineIntel\n", cli.ExitUsage},
	} {
		t.Run(tc.name, func(t *testing.T) {
			model := filepath.Join(dir, "m.cpu")
			require.NoError(t, os.WriteFile(model, []byte(tc.text), 0o644))
			done := make(chan runOut, 1)
			go func() {
				var o, e bytes.Buffer
				code := run(context.Background(), []string{"vmxcap", "-cpu-file", model}, &o, &e)
				done <- runOut{code, o.String(), e.String()}
			}()
			select {
			case r := <-done:
				if tc.code == 0 {
					assert.Equal(t, 0, r.code, r.stderr)
				} else {
					assert.Equal(t, tc.code, r.code, "%s", r.stdout)
					printableLine(t, r.stderr)
				}
			case <-time.After(20 * time.Second):
				t.Fatal("vmxemu blocked: it opened the FIFO the model file names")
			}
			w, err := os.OpenFile(fifo, os.O_WRONLY|syscall.O_NONBLOCK, 0)
			if err == nil {
				w.Close()
				t.Fatal("the FIFO has a reader: vmxemu opened the file the model names")
			}
			assert.ErrorIs(t, err, syscall.ENXIO, "no reader holds the FIFO open")
		})
	}
}

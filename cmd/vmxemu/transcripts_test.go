package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The documents whose ```console transcripts TestDocTranscripts keeps true.
var transcriptDocs = []string{"README.md", "docs/TUTORIAL.md", "docs/DEBUGGING.md", "docs/GDB.md"}

// transcript is one "$ vmxemu ..." command of a ```console block and the
// output (and, where shown, the exit status) the document gives for it.
type transcript struct {
	file string
	line int // 1-based line of the "$ vmxemu" command
	args []string
	// stream is which output the block shows: "stdout" (no redirection:
	// stderr must then be empty), "stdout only" (2>/dev/null), "stderr"
	// (2>&1 >/dev/null) or "both" (2>&1: stdout, then stderr).
	stream string
	greps  [][]string // "| grep ..." filters: ["-v", X], ["-e", A, "-e", B] or [X]
	want   []string
	status int // from a "# exit status N" line; -1 when the block shows none
}

// transcripts reads the ```console blocks of a Markdown file. A command
// line is `$ vmxemu ARGS [redirection] [| grep ...]...`; the lines after
// it are its output, and "# exit status N" its exit status.
func transcripts(t *testing.T, path string) []transcript {
	t.Helper()
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var ts []transcript
	var cur *transcript
	flush := func() {
		if cur != nil {
			ts = append(ts, *cur)
			cur = nil
		}
	}
	in := false
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for n := 1; sc.Scan(); n++ {
		l := sc.Text()
		switch {
		case !in && l == "```console":
			in = true
		case in && l == "```":
			in = false
			flush()
		case in && strings.HasPrefix(l, "$ vmxemu"):
			flush()
			parts := strings.Split(strings.TrimPrefix(l, "$ vmxemu"), " | ")
			cmd, stream := parts[0], "stdout"
			for _, r := range []struct{ suffix, stream string }{
				{" 2>&1 >/dev/null", "stderr"}, {" 2>/dev/null", "stdout only"}, {" 2>&1", "both"},
			} {
				if c, ok := strings.CutSuffix(cmd, r.suffix); ok {
					cmd, stream = c, r.stream
					break
				}
			}
			cur = &transcript{file: filepath.Base(path), line: n, stream: stream, status: -1}
			for _, a := range strings.Fields(cmd) {
				// The docs run from the repository's root, the test from
				// cmd/vmxemu.
				cur.args = append(cur.args, strings.TrimPrefix(a, "cmd/vmxemu/"))
			}
			for _, p := range parts[1:] {
				g := strings.Fields(p)
				require.Equal(t, "grep", g[0], "%s:%d: only grep filters", path, n)
				cur.greps = append(cur.greps, g[1:])
			}
		case in && cur != nil && strings.HasPrefix(l, "# exit status "):
			st, err := strconv.Atoi(strings.TrimPrefix(l, "# exit status "))
			require.NoError(t, err, "%s:%d", path, n)
			cur.status = st
		case in && cur != nil:
			cur.want = append(cur.want, l)
		}
	}
	require.NoError(t, sc.Err())
	return ts
}

// grep applies one grep filter (fixed strings) to lines.
func grep(lines []string, args []string) []string {
	invert := false
	var pats []string
	for i := 0; i < len(args); i++ {
		switch args[i] {
		case "-v":
			invert = true
		case "-e":
			i++
			pats = append(pats, args[i])
		default:
			pats = append(pats, args[i])
		}
	}
	var out []string
	for _, l := range lines {
		match := false
		for _, p := range pats {
			match = match || strings.Contains(l, p)
		}
		if match != invert {
			out = append(out, l)
		}
	}
	return out
}

var updateTranscripts = flag.Bool("update-transcripts", false, "rewrite the transcripts of README.md, docs/TUTORIAL.md and docs/DEBUGGING.md with what vmxemu prints")

// TestDocTranscripts: every "$ vmxemu ..." transcript in the README,
// docs/TUTORIAL.md and docs/DEBUGGING.md is what vmxemu prints, line for
// line, with the exit status shown. After a change to what vmxemu prints,
// `go test ./cmd/vmxemu -run TestDocTranscripts -update-transcripts`
// rewrites them (then read the diff: it is the change users see).
func TestDocTranscripts(t *testing.T) {
	for _, doc := range transcriptDocs {
		p := filepath.Join("..", "..", filepath.FromSlash(doc))
		ts := transcripts(t, p)
		require.NotEmpty(t, ts, "%s has no ```console transcript", p)
		got := make([][]string, len(ts))
		for i, tr := range ts {
			t.Run(fmt.Sprintf("%s:%d", tr.file, tr.line), func(t *testing.T) {
				r := vmxemu(t, tr.args...)
				out := r.stdout
				switch tr.stream {
				case "stdout":
					assert.Empty(t, r.stderr, "stderr of %q (the transcript shows none: redirect it)", tr.args)
				case "stderr":
					out = r.stderr
				case "both":
					out = r.stdout + r.stderr
				}
				lines := outLines(out)
				for _, g := range tr.greps {
					lines = grep(lines, g)
				}
				got[i] = lines
				if tr.status >= 0 {
					assert.Equal(t, tr.status, r.code, "exit status of vmxemu %s\n%s", strings.Join(tr.args, " "), r.stderr)
				}
				if !*updateTranscripts {
					assert.Equal(t, strings.Join(tr.want, "\n"), strings.Join(lines, "\n"), "vmxemu %s", strings.Join(tr.args, " "))
				}
			})
		}
		if *updateTranscripts {
			b, err := os.ReadFile(p)
			require.NoError(t, err)
			lines := strings.Split(string(b), "\n")
			for i := len(ts) - 1; i >= 0; i-- {
				at := ts[i].line // the output starts after the "$ vmxemu" line (1-based)
				lines = append(lines[:at], append(append([]string{}, got[i]...), lines[at+len(ts[i].want):]...)...)
			}
			require.NoError(t, os.WriteFile(p, []byte(strings.Join(lines, "\n")), 0o644))
		}
	}
}

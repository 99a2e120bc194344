package main

import (
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// transcript is one "$ vmxemu ..." command of a ```console block in the
// docs, with the output and exit status the docs show.
type transcript struct {
	line   string
	args   []string
	greps  [][]string // each: ["-v", X] or ["-e", A, "-e", B] or [X]
	output string
	status int
}

// parseTranscripts reads the console blocks of a Markdown file. A block
// holds one command, `$ vmxemu ARGS 2>&1` optionally piped through greps,
// then its output, then "# exit status N".
func parseTranscripts(t *testing.T, path string) []transcript {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	var ts []transcript
	var cur *transcript
	in := false
	for _, l := range strings.Split(string(b), "\n") {
		switch {
		case l == "```console":
			in = true
		case in && l == "```":
			in = false
			require.NotNil(t, cur, "%s: a console block without a command", path)
			require.NotEqual(t, -1, cur.status, "%s: %q: no exit status line", path, cur.line)
			ts = append(ts, *cur)
			cur = nil
		case in && strings.HasPrefix(l, "$ vmxemu "):
			cur = &transcript{line: l, status: -1}
			parts := strings.Split(strings.TrimPrefix(l, "$ vmxemu "), " | ")
			args := strings.Fields(parts[0])
			require.Equal(t, "2>&1", args[len(args)-1], "%s: %q: stderr goes with stdout", path, l)
			for _, a := range args[:len(args)-1] {
				// The docs run from the repository's root, the test from
				// cmd/vmxemu.
				cur.args = append(cur.args, strings.TrimPrefix(a, "cmd/vmxemu/"))
			}
			for _, p := range parts[1:] {
				f := strings.Fields(p)
				require.Equal(t, "grep", f[0], "%s: %q: only grep filters", path, l)
				cur.greps = append(cur.greps, f[1:])
			}
		case in && strings.HasPrefix(l, "# exit status "):
			n, err := strconv.Atoi(strings.TrimPrefix(l, "# exit status "))
			require.NoError(t, err)
			cur.status = n
		case in:
			require.NotNil(t, cur, "%s: output before a command", path)
			cur.output += l + "\n"
		}
	}
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

// TestDebuggingTranscripts keeps docs/DEBUGGING.md's transcripts true.
func TestDebuggingTranscripts(t *testing.T) {
	ts := parseTranscripts(t, "../../docs/DEBUGGING.md")
	require.GreaterOrEqual(t, len(ts), 5)
	for _, tc := range ts {
		t.Run(strings.Join(tc.args[len(tc.args)-2:], " "), func(t *testing.T) {
			r := vmxemu(t, tc.args...)
			assert.Equal(t, tc.status, r.code, "%s\n%s", tc.line, r.stderr)
			lines := strings.Split(strings.TrimSuffix(r.stdout+r.stderr, "\n"), "\n")
			for _, g := range tc.greps {
				lines = grep(lines, g)
			}
			assert.Equal(t, tc.output, strings.Join(lines, "\n")+"\n", tc.line)
		})
	}
}

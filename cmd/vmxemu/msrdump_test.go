package main

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/internal/testenv"
	"github.com/vmxemu/vmxemu/msr"
)

// dumpMSR reads an MSR's value from a real CPU's AIDA64 dump (the first
// occurrence: logical CPU #0), "MSR 000000CE: 0000-0C00-6C01-1A00".
func dumpMSR(t *testing.T, file string, index uint32) uint64 {
	t.Helper()
	f, err := os.Open(file)
	require.NoError(t, err)
	defer f.Close()
	prefix := fmt.Sprintf("MSR %08X: ", index)
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), prefix); ok {
			hex := strings.ReplaceAll(strings.Fields(v)[0], "-", "")
			n, err := strconv.ParseUint(hex, 16, 64)
			require.NoError(t, err, "%s: %q", file, sc.Text())
			return n
		}
	}
	require.NoError(t, sc.Err())
	t.Fatalf("%s has no MSR %#x", file, index)
	return 0
}

// TestModelMSRsInGuest: on every shipped model, a guest reads
// MSR_PLATFORM_INFO (0CEH) with the value of the real CPU's dump the model
// comes from (testdata/reference/cpus/aida64, named in the model's source
// line), and sets IA32_DEBUGCTL.LBR and reads it back — both #GP before
// issue 19 (a held-out suite found them; every shipped model's dump has
// them).
func TestModelMSRsInGuest(t *testing.T) {
	nasm := testenv.NeedTool(t, "nasm", "assembles the MSR probe")
	ref := testenv.ReferenceDir(t)
	models, err := msr.Models()
	require.NoError(t, err)
	src := regexp.MustCompile(`GenuineIntel/(\S+_CPUID\d*\.txt)`)
	for _, m := range models {
		t.Run(m.Name, func(t *testing.T) {
			var dump string
			for _, s := range m.Sources {
				if g := src.FindStringSubmatch(s); g != nil {
					dump = filepath.Join(ref, "cpus", "aida64", g[1])
				}
			}
			require.NotEmpty(t, dump, "%s names no AIDA64 dump in its sources", m.Name)
			want := dumpMSR(t, dump, 0xCE)
			bin := filepath.Join(t.TempDir(), "msrdump.bin")
			out, err := exec.Command(nasm, "-f", "bin", fmt.Sprintf("-DLO=%#x", uint32(want)), fmt.Sprintf("-DHI=%#x", uint32(want>>32)),
				"-o", bin, filepath.Join("testdata", "msrdump.asm")).CombinedOutput()
			require.NoError(t, err, "%s", out)
			r := vmxemu(t, flat(bin, "-no-reboot", "-cpu", m.Name, "-load-addr", "0x100000", "-entry", "0x100000")...)
			assert.Equal(t, 0x10<<1|1, r.code, "MSR_PLATFORM_INFO = %#x (the dump's) and IA32_DEBUGCTL.LBR settable; stderr:\n%s", want, r.stderr)
		})
	}
}

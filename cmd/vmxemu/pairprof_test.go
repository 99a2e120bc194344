package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/machine"
)

// The pair profile: which adjacent instructions of decoded blocks run
// most, weighted by the number of times their block runs, and how Run's
// fast path groups them now (fused entries, stack fast paths). It is a
// measuring tool for choosing superinstructions (docs/PERFORMANCE.md,
// session 9, pairs9), built from the existing hooks: Hooks.Exec counts
// block executions (which moves every block to the slow path, so the run
// is slower but retires the same instructions) and CPU.CachedBlock gives
// each block's shape once. Nothing of it stays in the run loop.
//
//	VMXEMU_PAIRPROF='-kernel /work/b/g/bench64.elf -append las ...' \
//	    go test ./cmd/vmxemu/ -run TestPairProfile -v -count=1
//
// prints the profile of that command line (VMXEMU_PAIRPROF_TOP rows per
// table, 40 by default). A block that stops early (a fault, a VM exit) is
// counted whole: the profile is an estimate where that happens often.
// Blocks are decoded as a tracing hook sees them (no side exits, no
// traces through jumps: codecache.go sideExits, tracePage), so the entry
// counts are those of QEMU-style blocks, not of the blocks Run executes.
//
// With VMXEMU_PAIRPROF_SYMS naming the guest's symbols as `nm -n` prints
// them (an identity-mapped kernel: physical addresses are its link
// addresses), the profile also splits the instructions and entries by
// guest function, which tells where a workload's time goes:
//
//	nm -n --defined-only x86/access_test.elf > /tmp/access.syms
//	VMXEMU_PAIRPROF_SYMS=/tmp/access.syms VMXEMU_PAIRPROF='...' go test ...

// pairProfile accumulates block executions.
type pairProfile struct {
	count  map[blockKey]uint64
	shapes map[blockKey][]cpu.BlockInsn
}

type blockKey struct {
	phys uint64
	bits int
}

func newPairProfile() *pairProfile {
	return &pairProfile{count: map[blockKey]uint64{}, shapes: map[blockKey][]cpu.BlockInsn{}}
}

// exec is the Hooks.Exec callback.
func (p *pairProfile) exec(c *cpu.CPU, b cpu.TraceBlock) {
	k := blockKey{b.Phys, b.Bits}
	p.count[k]++
	if _, ok := p.shapes[k]; !ok {
		if s, ok := c.CachedBlock(b.Phys, b.Bits); ok {
			p.shapes[k] = s
		}
	}
}

// blockEntries is the number of fast-path entries of a block of shape sh.
func blockEntries(sh []cpu.BlockInsn) uint64 {
	if len(sh) == 0 {
		return 0
	}
	return uint64(sh[len(sh)-1].Entry + 1)
}

// profileRow is one pair or triple of forms with its weight; fused
// counts the executions where its instructions already share an entry.
type profileRow struct {
	key          string
	n, fused     uint64
	stack, split uint64
}

// profileSums are the totals and tables of a profile.
type profileSums struct {
	insts, entries uint64
	pairs, triples map[string]*profileRow
}

func (p *pairProfile) sums() profileSums {
	s := profileSums{pairs: map[string]*profileRow{}, triples: map[string]*profileRow{}}
	add := func(m map[string]*profileRow, key string, n uint64, fused, stack bool) {
		r := m[key]
		if r == nil {
			r = &profileRow{key: key}
			m[key] = r
		}
		r.n += n
		switch {
		case fused:
			r.fused += n
		case stack:
			r.stack += n
		default:
			r.split += n
		}
	}
	for k, n := range p.count {
		sh, ok := p.shapes[k]
		if !ok {
			continue
		}
		s.insts += n * uint64(len(sh))
		s.entries += n * blockEntries(sh)
		for i := 0; i+1 < len(sh); i++ {
			a, b := sh[i], sh[i+1]
			add(s.pairs, a.Form+" ; "+b.Form, n, a.Entry == b.Entry, a.Stack || b.Stack)
			if i+2 < len(sh) {
				c := sh[i+2]
				// Triples whose instructions all run as entries of
				// their own (nothing fused among them).
				if !a.Fused && !b.Fused && !c.Fused {
					add(s.triples, a.Form+" ; "+b.Form+" ; "+c.Form, n, false, a.Stack || b.Stack || c.Stack)
				}
			}
		}
	}
	return s
}

// guestSym is a guest function: its address and name (`nm -n`).
type guestSym struct {
	addr uint64
	name string
}

// readGuestSyms reads the text symbols of an `nm -n` listing, sorted by
// address.
func readGuestSyms(r io.Reader) ([]guestSym, error) {
	var syms []guestSym
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) != 3 || f[1] != "T" && f[1] != "t" {
			continue
		}
		a, err := strconv.ParseUint(f[0], 16, 64)
		if err != nil {
			return nil, fmt.Errorf("nm listing: %q: %w", sc.Text(), err)
		}
		syms = append(syms, guestSym{a, f[2]})
	}
	sort.SliceStable(syms, func(i, j int) bool { return syms[i].addr < syms[j].addr })
	return syms, sc.Err()
}

// funcRow is one guest function's share of a profile.
type funcRow struct {
	name                   string
	insts, entries, blocks uint64
}

// byFunction splits the profile's instructions, fast-path entries and
// block executions by the guest function each block starts in ("?"
// before the first symbol), heaviest first.
func (p *pairProfile) byFunction(syms []guestSym) []funcRow {
	m := map[string]*funcRow{}
	for k, n := range p.count {
		sh := p.shapes[k]
		name := "?"
		if i := sort.Search(len(syms), func(i int) bool { return syms[i].addr > k.phys }) - 1; i >= 0 {
			name = syms[i].name
		}
		r := m[name]
		if r == nil {
			r = &funcRow{name: name}
			m[name] = r
		}
		r.blocks += n
		r.insts += n * uint64(len(sh))
		r.entries += n * blockEntries(sh)
	}
	rows := make([]funcRow, 0, len(m))
	for _, r := range m {
		rows = append(rows, *r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].insts != rows[j].insts {
			return rows[i].insts > rows[j].insts
		}
		return rows[i].name < rows[j].name
	})
	return rows
}

// reportFunctions writes the table of byFunction.
func reportFunctions(w io.Writer, rows []funcRow, top int) {
	var insts, entries uint64
	for _, r := range rows {
		insts += r.insts
		entries += r.entries
	}
	fmt.Fprintf(w, "\nguest functions (%% of instructions, %% of entries, instructions per block)\n")
	for i, r := range rows {
		if i == top {
			break
		}
		fmt.Fprintf(w, "%6.2f%%  %6.2f%%  %5.1f  %s\n", 100*float64(r.insts)/float64(max(insts, 1)),
			100*float64(r.entries)/float64(max(entries, 1)), float64(r.insts)/float64(max(r.blocks, 1)), r.name)
	}
}

// top sorts a table by weight, then key.
func top(m map[string]*profileRow) []*profileRow {
	rows := make([]*profileRow, 0, len(m))
	for _, r := range m {
		rows = append(rows, r)
	}
	sort.Slice(rows, func(i, j int) bool {
		if rows[i].n != rows[j].n {
			return rows[i].n > rows[j].n
		}
		return rows[i].key < rows[j].key
	})
	return rows
}

// report writes the profile.
func (s profileSums) report(w io.Writer, rows int) {
	fmt.Fprintf(w, "instructions %d, fast-path entries %d (%.3f per instruction)\n", s.insts, s.entries, float64(s.entries)/float64(max(s.insts, 1)))
	pct := func(n uint64) float64 { return 100 * float64(n) / float64(max(s.insts, 1)) }
	fmt.Fprintf(w, "\nadjacent pairs (%% of instructions; fused = already one entry, stack = a stack fast path, split = two plain entries)\n")
	for i, r := range top(s.pairs) {
		if i == rows {
			break
		}
		fmt.Fprintf(w, "%6.2f%%  fused %5.1f%% stack %5.1f%% split %5.1f%%  %s\n", pct(r.n), pct(r.fused), pct(r.stack), pct(r.split), r.key)
	}
	fmt.Fprintf(w, "\nsplit pairs (two plain entries, neither a stack fast path)\n")
	split := top(s.pairs)
	sort.SliceStable(split, func(i, j int) bool { return split[i].split > split[j].split })
	for i, r := range split {
		if i == rows || r.split == 0 {
			break
		}
		fmt.Fprintf(w, "%6.2f%%  %s\n", pct(r.split), r.key)
	}
	fmt.Fprintf(w, "\nunfused triples\n")
	for i, r := range top(s.triples) {
		if i == rows {
			break
		}
		fmt.Fprintf(w, "%6.2f%%  %s\n", pct(r.n), r.key)
	}
}

// runProfiled runs vmxemu with args under the pair profile.
func runProfiled(args []string) (*pairProfile, int, string) {
	p := newPairProfile()
	var stdout, stderr bytes.Buffer
	inject := hooks{machine: func(c *machine.Config) {
		h := &cpu.Hooks{}
		if c.Hooks != nil {
			*h = *c.Hooks
		}
		h.Exec = p.exec
		c.Hooks = h
	}}
	code := runWith(context.Background(), args, &stdout, &stderr, inject)
	return p, code, stderr.String()
}

// TestPairProfile profiles the command line in VMXEMU_PAIRPROF; without
// it, a loop whose pairs and counts are known.
func TestPairProfile(t *testing.T) {
	if env := os.Getenv("VMXEMU_PAIRPROF"); env != "" {
		p, code, stderr := runProfiled(strings.Fields(env))
		t.Logf("exit status %d, stderr %q", code, stderr)
		rows := 40
		if v := os.Getenv("VMXEMU_PAIRPROF_TOP"); v != "" {
			_, err := fmt.Sscan(v, &rows)
			require.NoError(t, err)
		}
		var out strings.Builder
		p.sums().report(&out, rows)
		if f := os.Getenv("VMXEMU_PAIRPROF_SYMS"); f != "" {
			r, err := os.Open(f)
			require.NoError(t, err)
			syms, err := readGuestSyms(r)
			r.Close()
			require.NoError(t, err)
			reportFunctions(&out, p.byFunction(syms), rows)
		}
		t.Log("\n" + out.String())
		return
	}
	code := []byte{
		0xB9, 0xE8, 0x03, 0x00, 0x00, // mov ecx, 1000
		0x8B, 0x05, 0x00, 0x00, 0x10, 0x00, // L: mov eax, [0x100000]
		0x83, 0xF8, 0x05, // cmp eax, 5
		0x49,       // dec ecx
		0x75, 0xF4, // jnz L
	}
	p, status, stderr := runProfiled(flat(kernel(t, append(code, exit7...)...)))
	require.Equal(t, 7<<1|1, status, stderr)
	s := p.sums()
	// The first block is the whole loop body after MOV ECX (1 pass), the
	// loop block the body alone (999 passes): 5 + 4*999 + the exit's 2
	// (mov eax; out, which ends its block and the run).
	assert.Equal(t, uint64(5+4*999+2), s.insts)
	// MOV+CMP is a load pair and DEC+JNZ a fused setter+Jcc: two
	// entries a pass.
	assert.Equal(t, uint64(3+2*999+2), s.entries)
	load := s.pairs["mov Gv,Ev(08b) r32,m ; grp1(083/7) r32,r,i"]
	require.NotNil(t, load, "the load and the compare")
	assert.Equal(t, uint64(1000), load.n)
	assert.Equal(t, uint64(1000), load.fused, "a load pair")
	mid := s.pairs["grp1(083/7) r32,r,i ; dec r(049) r32"]
	require.NotNil(t, mid, "the compare and DEC")
	assert.Equal(t, uint64(1000), mid.split, "in two entries")
	jcc := s.pairs["dec r(049) r32 ; jcc Jb(075) i32"]
	require.NotNil(t, jcc, "DEC+JNZ")
	assert.Equal(t, uint64(1000), jcc.fused, "DEC+JNZ is a fused pair")

	// By guest function: symbols at the code's first byte, at the loop
	// (its block starts there) and after it. The loop's 4*999 instructions (and
	// 2*999 entries) go to the loop; the first block (MOV ECX and one
	// pass) starts at the code's first byte, the exit's block after the
	// loop.
	base := p.firstPhys()
	syms, err := readGuestSyms(strings.NewReader(fmt.Sprintf(
		"%016x T start\n%016x t loop\n%016x T exit\n0000000000000000 D data\n",
		base, base+5, base+uint64(len(code)))))
	require.NoError(t, err)
	require.Len(t, syms, 3, "text symbols only")
	fns := p.byFunction(syms)
	want := []funcRow{
		{name: "loop", insts: 4 * 999, entries: 2 * 999, blocks: 999},
		{name: "start", insts: 5, entries: 3, blocks: 1},
		{name: "exit", insts: 2, entries: 2, blocks: 1},
	}
	require.Equal(t, want, fns[:3])
	var out strings.Builder
	reportFunctions(&out, fns, 3)
	// 3996 of 4003 instructions, 1998 of 2003 entries, 4 a block.
	assert.Contains(t, out.String(), " 99.83%   99.75%    4.0  loop\n")
}

// firstPhys is the lowest physical address the profile holds a block at.
func (p *pairProfile) firstPhys() uint64 {
	first := ^uint64(0)
	for k := range p.count {
		first = min(first, k.phys)
	}
	return first
}

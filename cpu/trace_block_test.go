package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// Traces (codecache.go decodeTrace): a block continues through a direct
// JMP or CALL to a target in its page. traceProgram builds a random
// program of chunks placed at random offsets of the code page (and one in
// the next page), each ending in a JMP rel8, JMP rel32 or CALL rel32 to
// the next chunk; the last chunk loops back to the first (a Jcc) R15
// times. Chunks hold register arithmetic, RDTSC (virtual time: now() must
// find the instruction in a trace from ripCur), PUSH/POP, stores to data
// and stores into the code page that patch an ADD's immediate in a chunk
// that may run later in the same block (the block must stop after the
// store and be decoded again), and "jz" to the next instruction (block
// ends that no trace crosses).
//
// An endless program's last chunk jumps (JMP rel32) to its second: after
// the first pass, chunks 1 and on run in a loop of direct jumps alone,
// which one block would cover again and again if it did not stop at the
// bytes it already holds (two instructions at one offset: now() would
// count the first).
func traceProgram(r *rand.Rand, endless bool) (code []byte, entry uint64) {
	const slot = 128
	// Slots of the code page, in a random order; one chunk may go to the
	// next page, one may start right before the page's end.
	nchunks := 3 + r.IntN(6)
	slots := r.Perm(4096 / slot)[:nchunks]
	offs := make([]int, nchunks)
	for i, s := range slots {
		offs[i] = s * slot
		if r.IntN(8) == 0 {
			offs[i] += r.IntN(16)
		}
	}
	if r.IntN(3) == 0 {
		offs[1+r.IntN(nchunks-1)] = 4096 + (1+r.IntN(30))*slot // the next page
	}
	if r.IntN(4) == 0 {
		offs[1+r.IntN(nchunks-1)] = 4096 - 1 - r.IntN(3) // crosses into the next page
	}
	code = make([]byte, 8192)
	for i := range code {
		code[i] = 0xF4 // HLT
	}
	// The ADD r13d, imm8 of each chunk (41 83 C5 ib): its imm8's offset,
	// patched by the code-page stores.
	var patch []int
	type fix struct {
		at, next int // rel32 at code[at:], relative to next
		to       int // chunk index
		rel8     bool
	}
	var fixes []fix
	for i, off := range offs {
		p := off
		emit := func(b ...byte) { p += copy(code[p:], b) }
		if i == 0 {
			emit(0x41, 0xFF, 0xCF) // dec r15d
			emit(0x0F, 0x84)       // jz to the end (fixed below)
			fixes = append(fixes, fix{at: p, next: p + 4, to: -1})
			emit(0, 0, 0, 0)
		}
		for n := r.IntN(5); n > 0; n-- {
			switch r.IntN(9) {
			case 0:
				emit(0x0F, 0x31)       // rdtsc
				emit(0x48, 0x01, 0xC3) // add rbx, rax
			case 1:
				emit(0x48, 0x01, byte(0xC0|r.IntN(8)<<3|6)) // add rsi, reg
			case 2:
				emit(0x48, 0x31, byte(0xC0|r.IntN(8)<<3|7)) // xor rdi, reg
			case 3:
				emit(0x41, 0x83, 0xC5, byte(r.IntN(256))) // add r13d, imm8
				patch = append(patch, p-1)
			case 4:
				emit(0x50 + byte(r.IntN(3))) // push rax/rcx/rdx
				emit(0x59)                   // pop rcx
			case 5:
				emit(0x48, 0x89, 0x1C, 0x25, 0x00, 0x80, 0x00, 0x00) // mov [0x8000], rbx
			case 6:
				// mov byte [code patch], r14b: filled in below
				emit(0x44, 0x88, 0x34, 0x25)
				fixes = append(fixes, fix{at: p, to: -2})
				emit(0, 0, 0, 0)
				emit(0x41, 0xFE, 0xC6) // inc r14b
			case 7:
				emit(0xA8, 1, 0x74, 0) // test al, 1; jz $+2
			case 8:
				emit(0xEB, 0) // jmp $+2
			}
		}
		if i == nchunks-1 && endless {
			emit(0xE9) // jmp to chunk 1
			fixes = append(fixes, fix{at: p, next: p + 4, to: 1})
			emit(0, 0, 0, 0)
			continue
		}
		if i == nchunks-1 {
			emit(0x0F, 0x85) // jnz to chunk 0 (r15 loop)
			fixes = append(fixes, fix{at: p, next: p + 4, to: 0})
			emit(0, 0, 0, 0)
			emit(0xE9) // jmp to chunk 0
			fixes = append(fixes, fix{at: p, next: p + 4, to: 0})
			emit(0, 0, 0, 0)
			continue
		}
		switch r.IntN(3) {
		case 0:
			emit(0xE8) // call
		case 1:
			emit(0xE9) // jmp rel32
		case 2:
			emit(0xEB, 0) // jmp rel8 when in reach, else a rel32 follows it
			fixes = append(fixes, fix{at: p - 1, next: p, to: i + 1, rel8: true})
			continue
		}
		fixes = append(fixes, fix{at: p, next: p + 4, to: i + 1})
		emit(0, 0, 0, 0)
	}
	end := 8192 - 16 // the loop's exit: HLT
	for _, f := range fixes {
		switch {
		case f.to == -2:
			if len(patch) == 0 {
				binary.LittleEndian.PutUint32(code[f.at:], 0x9000) // data
				continue
			}
			binary.LittleEndian.PutUint32(code[f.at:], uint32(stkCode+patch[r.IntN(len(patch))]))
		case f.rel8:
			d := offs[f.to] - f.next
			if d >= -128 && d < 128 {
				code[f.at] = byte(d)
				continue
			}
			// Out of reach: EB 00 falls through to a JMP rel32.
			code[f.at] = 0
			code[f.next] = 0xE9
			binary.LittleEndian.PutUint32(code[f.next+1:], uint32(offs[f.to]-(f.next+5)))
		default:
			to := end
			if f.to >= 0 {
				to = offs[f.to]
			}
			binary.LittleEndian.PutUint32(code[f.at:], uint32(to-f.next))
		}
	}
	return code, stkCode + uint64(offs[0])
}

// runTraceProgram runs code (at stkCode, 64-bit) from entry with the
// budgets given (nil: one instruction at a time, every one alone through
// block.insts, as in runStack) and returns the state and count after each
// run until HLT, or until limit instructions when limit is not 0.
func runTraceProgram(t *testing.T, code []byte, entry uint64, loops, limit uint64, budgets []uint64) (states []arch.State, counts []uint64, ram []byte, c *CPU) {
	bus := &harnessBus{ram: stackRAM(mode64)}
	copy(bus.ram[stkCode:], code)
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG | arch.CR0WP
	s.CR3 = 0x1000
	s.CR4 = arch.CR4PAE
	s.EFER = arch.EFERLME | arch.EFERLMA
	s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	for _, i := range []int{arch.DS, arch.ES, arch.FS, arch.GS, arch.SS} {
		s.Seg[i] = arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	}
	s.GPR = [16]uint64{1, 2, 3, 4, 0x38000, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, loops}
	s.RIP = entry
	split := budgets == nil
	if split {
		s.DR[0], s.DR[7] = 0xFFFF_FFFF_FFFF_F000, 1|0x400
	}
	c = New(Config{Bus: bus, Platform: harnessPlatform{}}, s)
	c.Hooks = &Hooks{Exception: func(c *CPU, vec uint8, f *arch.Fault, ext bool) {
		t.Fatalf("exception %d at %#x: %s", vec, c.RIP, f.Rule)
	}}
	for i := 0; i < 100000 && !c.halted && (limit == 0 || c.Icount < limit); i++ {
		if split {
			c.Run(1)
		} else if b := budgets[i%len(budgets)]; limit != 0 && b > limit-c.Icount {
			c.Run(limit - c.Icount)
		} else {
			c.Run(b)
		}
		st := c.GetState()
		st.DR[0], st.DR[7] = 0, 0
		states = append(states, st)
		counts = append(counts, c.Icount)
	}
	require.True(t, c.halted || c.Icount == limit, "the program ends")
	return states, counts, bus.ram, c
}

// TestTraceBlocks runs random trace programs in whole blocks, with runs of
// random sizes (ending inside traces), and one instruction at a time, and
// compares state (RDTSC sums included) and instruction count at every
// run's end, and RAM at the end. It also checks that traces are formed.
func TestTraceBlocks(t *testing.T) {
	r := rand.New(rand.NewPCG(18, 12))
	traced := 0
	for n := 0; n < 300; n++ {
		endless := n%4 == 3
		code, entry := traceProgram(r, endless)
		loops := uint64(1 + r.IntN(12))
		var limit uint64
		if endless {
			limit = 1000
		}
		ref, refCounts, refRAM, _ := runTraceProgram(t, code, entry, loops, limit, nil)
		budgets := runBudgets(r, n)
		got, counts, ram, c := runTraceProgram(t, code, entry, loops, limit, budgets)
		name := fmt.Sprintf("program %d, budgets %v", n, budgets)
		requireRunEnds(t, name, ref, refCounts, got, counts)
		require.Equal(t, refRAM, ram, name)
		for _, p := range c.code.pages {
			for _, b := range p.blocks {
				if b.jumps != nil {
					traced++
				}
			}
		}
	}
	require.Greater(t, traced, 300, "traces decoded")
}

// TestTraceBefore: now() inside a trace counts the instructions before the
// current one along the trace (block.before), not by address.
func TestTraceBefore(t *testing.T) {
	// At 0x100: nop; jmp 0xA0; at 0xA0: nop; nop; call 0x200; at 0x200:
	// nop; ret.
	code := make([]byte, 4096)
	for i := range code {
		code[i] = 0xF4
	}
	code[0x100] = 0x90
	code[0x101], code[0x102] = 0xEB, 0x9D // jmp 0xA0: -0x63
	code[0xA0], code[0xA1] = 0x90, 0x90
	code[0xA2] = 0xE8
	binary.LittleEndian.PutUint32(code[0xA3:], uint32(0x200-0xA7))
	code[0x200], code[0x201] = 0x90, 0xC3
	bus := &harnessBus{ram: stackRAM(mode64)}
	copy(bus.ram[stkCode:], code)
	var s arch.State
	s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG
	s.CR3, s.CR4, s.EFER = 0x1000, arch.CR4PAE, arch.EFERLME|arch.EFERLMA
	s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	s.RIP = stkCode + 0x100
	c := New(Config{Bus: bus, Platform: harnessPlatform{}}, s)
	b := c.lookupBlock()
	require.NotNil(t, b)
	require.Len(t, b.insts, 7, "nop; jmp; nop; nop; call; nop; ret")
	require.Equal(t, []traceJump{{at: 1, to: 0xA0}, {at: 4, to: 0x200}}, b.jumps)
	for off, want := range map[uint16]uint64{0x100: 0, 0x101: 1, 0xA0: 2, 0xA1: 3, 0xA2: 4, 0x200: 5, 0x201: 6} {
		require.Equal(t, want, b.before(off), "offset %#x", off)
	}
}

// runBudgets gives the run sizes of test program n: one long run, runs of
// random small sizes (ending inside blocks), or a fixed mix.
func runBudgets(r *rand.Rand, n int) []uint64 {
	switch n % 3 {
	case 0:
		return []uint64{100000}
	case 1:
		return []uint64{1 + uint64(r.IntN(5)), 1 + uint64(r.IntN(9)), 1 + uint64(r.IntN(30))}
	}
	return []uint64{1, 2, 3, 5, 8, 13}
}

// requireRunEnds matches every run end (got, counts) against the
// one-at-a-time reference (ref, refCounts) at the same count. A fault
// delivered without an instruction (a shutdown after a fault) ends a run
// at the same count as the one before it, so any reference state at that
// count may match.
func requireRunEnds(t *testing.T, name string, ref []arch.State, refCounts []uint64, got []arch.State, counts []uint64) {
	t.Helper()
	j := 0
	for i := range got {
		for j < len(refCounts) && refCounts[j] < counts[i] {
			j++
		}
		require.Less(t, j, len(refCounts), "%s: run %d ends past the reference", name, i)
		require.Equal(t, refCounts[j], counts[i], "%s: run %d", name, i)
		k := j
		for k+1 < len(ref) && refCounts[k+1] == counts[i] && ref[k] != got[i] {
			k++
		}
		require.Equal(t, ref[k], got[i], "%s: run %d (count %d)", name, i, counts[i])
	}
}

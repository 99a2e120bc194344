package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// Side exits (codecache.go decodeBlock, CPU.takeSide): a block continues
// past a conditional branch into its fall-through, and the branch taken
// ends it there. sideProgram builds a random loop body for 32-bit or
// 64-bit code: flag setters (which fuse with a following Jcc), forward
// Jcc rel8 and rel32 to random instruction boundaries of the body (and
// past its end), RDTSC (now() must place the instruction in the block),
// loads and stores, PUSH/POP, stores that patch an ADD's immediate later
// in the body (the block must stop after the store and be decoded again),
// and "dec ebp; jg" back to the loop's first instruction (in the middle
// of the body too: a Jcc back to a block's start is no side exit), which
// also closes the loop; the program then halts. The body
// starts at a random offset, often near the page's end, so that blocks
// also meet the page boundary; in 32-bit code the CS limit sometimes
// ends inside the body, so that a fall-through or a branch raises #GP.
func sideProgram(r *rand.Rand, mode uint8) (code []byte, start int) {
	start = r.IntN(4096 - 64)
	if r.IntN(3) == 0 {
		start = 4096 - 16 - r.IntN(200)
	}
	code = make([]byte, 8192)
	for i := range code {
		code[i] = 0xF4 // HLT
	}
	p := start
	emit := func(b ...byte) { p += copy(code[p:], b) }
	regs := []byte{0, 3, 2, 6, 7} // eax, ebx, edx, esi, edi (ecx: unused; ebp: the counter)
	reg := func() byte { return regs[r.IntN(len(regs))] }
	w := func() {
		if mode == mode64 && r.IntN(2) == 0 {
			emit(0x48) // REX.W
		}
	}
	type fix struct {
		at, next int // displacement at code[at:], relative to next
		rel8     bool
		minTo    int // the target is a boundary at or after this offset
	}
	var fixes []fix
	var bounds []int // instruction boundaries of the body
	var patch []int  // imm8s of "add esi, imm8" to patch
	items := 4 + r.IntN(40)
	for n := 0; n < items; n++ {
		bounds = append(bounds, p)
		switch k := r.IntN(14); {
		case k < 3: // ALU r, r (01 add ... 39 cmp, 85 test)
			ops := []byte{0x01, 0x29, 0x21, 0x09, 0x31, 0x39, 0x85}
			w()
			emit(ops[r.IntN(len(ops))], 0xC0|reg()<<3|reg())
		case k < 5: // ALU r, imm8 (83 /op, not ADC/SBB)
			subs := []byte{0, 1, 4, 5, 6, 7}
			w()
			emit(0x83, 0xC0|subs[r.IntN(len(subs))]<<3|reg(), byte(r.IntN(256)))
		case k < 8: // Jcc rel8 forward
			emit(0x70|byte(r.IntN(16)), 0)
			fixes = append(fixes, fix{at: p - 1, next: p, rel8: true, minTo: p})
		case k == 8: // Jcc rel32 forward
			emit(0x0F, 0x80|byte(r.IntN(16)), 0, 0, 0, 0)
			fixes = append(fixes, fix{at: p - 4, next: p, minTo: p})
		case k == 9:
			emit(0x0F, 0x31)       // rdtsc
			emit(0x01, 0xC6)       // add esi, eax
			emit(0x83, 0xE2, 0x3F) // and edx, 63
		case k == 10: // mov r, [0x9000+k]; mov [0x9100+k], r
			emit(0x8B, reg()<<3|4, 0x25)
			emit(binary.LittleEndian.AppendUint32(nil, uint32(0x9000+8*r.IntN(8)))...)
			w()
			emit(0x89, reg()<<3|4, 0x25)
			emit(binary.LittleEndian.AppendUint32(nil, uint32(0x9100+8*r.IntN(8)))...)
		case k == 11:
			emit(0x50|reg(), 0x58|reg()) // push r; pop r
		case k == 12:
			emit(0x83, 0xC6, byte(r.IntN(256))) // add esi, imm8
			patch = append(patch, p-1)
		case k == 13: // mov byte [patch], bl; inc bl (filled in below)
			if len(patch) == 0 || r.IntN(2) == 0 {
				emit(0x90) // nop
				continue
			}
			emit(0x88, 0x1C, 0x25)
			emit(binary.LittleEndian.AppendUint32(nil, uint32(stkCode+patch[r.IntN(len(patch))]))...)
			emit(0xFE, 0xC3)
		}
		if r.IntN(12) == 0 {
			emit(0xFF, 0xCD) // dec ebp
			emit(0x0F, 0x8F) // jg start: a Jcc back to the loop's start
			emit(binary.LittleEndian.AppendUint32(nil, uint32(start-(p+4)))...)
		}
	}
	bounds = append(bounds, p)
	emit(0xFF, 0xCD) // dec ebp
	emit(0x0F, 0x8F) // jg start
	emit(binary.LittleEndian.AppendUint32(nil, uint32(start-(p+4)))...)
	bounds = append(bounds, p) // the HLT after the loop
	for _, f := range fixes {
		var cand []int
		for _, b := range bounds {
			if b >= f.minTo && (!f.rel8 || b-f.next < 128) {
				cand = append(cand, b)
			}
		}
		to := cand[r.IntN(len(cand))]
		if f.rel8 {
			code[f.at] = byte(to - f.next)
		} else {
			binary.LittleEndian.PutUint32(code[f.at:], uint32(to-f.next))
		}
	}
	return code, start
}

// runSideProgram runs code (at stkCode) from start in mode, with CS limit
// limit (32-bit code), with the budgets given (nil: one instruction at a
// time through block.insts, as runStack's split runs) and returns the
// state, count and exceptions seen after each run until HLT or shutdown.
func runSideProgram(t *testing.T, mode uint8, code []byte, start int, limit uint32, loops uint64, budgets []uint64) (states []arch.State, counts []uint64, faults []string, ram []byte, c *CPU) {
	bus := &harnessBus{ram: stackRAM(mode)}
	copy(bus.ram[stkCode:], code)
	for i := 0; i < 16; i++ {
		binary.LittleEndian.PutUint64(bus.ram[0x9000+8*i:], 0x0123_4567_89AB_CDEF*uint64(i+1))
	}
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG | arch.CR0WP
	s.CR3 = 0x1000
	s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: limit, Attr: attrCode | arch.ARDB}
	if mode == mode64 {
		s.CR4 = arch.CR4PAE
		s.EFER = arch.EFERLME | arch.EFERLMA
		s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	}
	for _, i := range []int{arch.DS, arch.ES, arch.FS, arch.GS, arch.SS} {
		s.Seg[i] = arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	}
	s.GPR = [16]uint64{1, 0, 0x8000_0000, 4, 0x38000, loops, 7, 0xFFFF_FFFF_FFFF_FFF0, 9, 10, 11, 12, 13, 14, 15, 16}
	s.RIP = stkCode + uint64(start)
	split := budgets == nil
	if split {
		s.DR[0], s.DR[7] = 0xFFFF_F000, 1|0x400
	}
	c = New(Config{Bus: bus, Platform: harnessPlatform{}}, s)
	c.Hooks = &Hooks{Exception: func(c *CPU, vec uint8, f *arch.Fault, ext bool) {
		faults = append(faults, fmt.Sprintf("#%d at %#x, count %d", vec, c.ripCur, c.now()))
	}}
	for i := 0; i < 100000 && !c.halted && !c.shutdown && c.Icount < 20000; i++ {
		var why StopReason
		if split {
			why = c.Run(1)
		} else {
			why = c.Run(budgets[i%len(budgets)])
		}
		st := c.GetState()
		st.DR[0], st.DR[7] = 0, 0
		states = append(states, st)
		counts = append(counts, c.Icount)
		if why == StopShutdown {
			break
		}
	}
	return states, counts, faults, bus.ram, c
}

// TestSideExits runs random side-exit programs in whole blocks, with runs
// of random sizes (ending inside blocks), and one instruction at a time,
// and compares state (RDTSC sums included), instruction count and the
// exceptions raised at every run's end, and RAM at the end. It also checks
// that side exits are decoded and fused.
func TestSideExits(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 21))
	sides, fusedSides := 0, 0
	for n := 0; n < 400; n++ {
		mode := uint8(mode32)
		if n%2 == 1 {
			mode = mode64
		}
		code, start := sideProgram(r, mode)
		limit := uint32(0xFFFFFFFF)
		if mode == mode32 && r.IntN(6) == 0 {
			limit = uint32(stkCode + start + r.IntN(300))
		}
		loops := uint64(1 + r.IntN(8))
		ref, refCounts, refFaults, refRAM, _ := runSideProgram(t, mode, code, start, limit, loops, nil)
		budgets := runBudgets(r, n)
		got, counts, faults, ram, c := runSideProgram(t, mode, code, start, limit, loops, budgets)
		name := fmt.Sprintf("program %d (mode %d, start %#x, limit %#x), budgets %v", n, mode, start, limit, budgets)
		requireRunEnds(t, name, ref, refCounts, got, counts)
		require.Equal(t, ref[len(ref)-1], got[len(got)-1], "%s: the end", name)
		require.Equal(t, refFaults, faults, name)
		require.Equal(t, refRAM, ram, name)
		for _, p := range c.code.pages {
			for _, b := range p.blocks {
				for i := range b.insts {
					if b.insts[i].side {
						sides++
					}
				}
				for i := range b.fast {
					if b.fast[i].side && b.fast[i].nret == 2 {
						fusedSides++
					}
				}
			}
		}
	}
	require.Greater(t, sides, 1000, "side exits decoded")
	require.Greater(t, fusedSides, 100, "side exits fused with their setter")
}

// TestSideExitDecode: a block continues past a Jcc that does not go back to
// its start, which is then a side exit fused with its setter; the last
// instruction is never one; a Jcc back to the block's start ends it.
func TestSideExitDecode(t *testing.T) {
	cases := []struct {
		name  string
		code  []byte
		insts int
		side  []bool // per instruction
	}{
		{"cmp eax, 1; jz +2; inc eax; nop; hlt",
			[]byte{0x83, 0xF8, 0x01, 0x74, 0x02, 0x40, 0x90, 0xF4}, 5, []bool{false, true, false, false, false}},
		{"jz +0; jnz +0; hlt: two side exits",
			[]byte{0x74, 0x00, 0x75, 0x00, 0xF4}, 3, []bool{true, true, false}},
		{"dec ecx; jnz -3 (the block's start): no side exit",
			[]byte{0x49, 0x75, 0xFD, 0xF4}, 2, []bool{false, false}},
		{"nop; jmp +0: a JMP ends the block in 32-bit code",
			[]byte{0x90, 0xEB, 0x00, 0xF4}, 2, []bool{false, false}},
	}
	for _, tc := range cases {
		h := newHarness(mode32)
		h.stepN(tc.code, [16]uint64{}, 0, 0)
		b := h.c.lookupBlock()
		require.NotNil(t, b, tc.name)
		require.Len(t, b.insts, tc.insts, tc.name)
		for i, want := range tc.side {
			require.Equal(t, want, b.insts[i].side, "%s: instruction %d", tc.name, i)
		}
	}
}

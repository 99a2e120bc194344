package cpu

import (
	"fmt"
	"math/rand/v2"
	"reflect"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// fusedSetter is a flag setter of TestFusedPairs in its 32-bit form (8-bit
// for TEST Eb): handler is the name its fused handlers start with
// (exec_fused_gen.go: "cmpRR" for cmpRRJcc32, cmpRRJccSide32, ...), empty
// for a setter that must not fuse; dst and src are the registers of its
// operands as the encoding names them (src -1: an immediate or none);
// imm32 marks an Iz immediate, which a 66 prefix shortens to 16 bits.
type fusedSetter struct {
	handler  string
	code     []byte
	dst, src int
	imm32    bool
	byte8    bool
}

// fusedSetters lists the setters: INC/DEC (FF /0, /1 and 40+r, 48+r),
// the six ALU operations and TEST r,r (op Ev,Gv), r,imm8 (83), r,imm32
// (81, F7 /0 and its alias /1) and rAX,imm32 (05 ... 3D, A9) with
// immediates at the edges of the sign extension, the same register on
// both sides, 8-bit TEST, and ADC/SBB and ADD Gv,Ev, which do not fuse.
func fusedSetters() []fusedSetter {
	ss := []fusedSetter{
		{"inc", []byte{0xFF, 0xC1}, arch.RCX, -1, false, false},
		{"dec", []byte{0xFF, 0xC9}, arch.RCX, -1, false, false},
		{"inc", []byte{0x41}, arch.RCX, -1, false, false}, // not in 64-bit mode
		{"dec", []byte{0x4B}, arch.RBX, -1, false, false}, // not in 64-bit mode
		{"addRR", []byte{0x01, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"subRR", []byte{0x29, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"subRR", []byte{0x29, 0xC9}, arch.RCX, arch.RCX, false, false},
		{"andRR", []byte{0x21, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"orRR", []byte{0x09, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"xorRR", []byte{0x31, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"cmpRR", []byte{0x39, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"cmpRR", []byte{0x39, 0xC9}, arch.RCX, arch.RCX, false, false},
		{"testRR", []byte{0x85, 0xD9}, arch.RCX, arch.RBX, false, false},
		{"testRR", []byte{0x85, 0xC9}, arch.RCX, arch.RCX, false, false},
		{"testRI", []byte{0xF7, 0xC1, 0x00, 0x80, 0x00, 0x80}, arch.RCX, -1, true, false},
		{"testRI", []byte{0xF7, 0xCB, 0xFF, 0xFF, 0xFF, 0x7F}, arch.RBX, -1, true, false}, // F7 /1
		{"testRI", []byte{0xA9, 0x01, 0x80, 0x00, 0x00}, arch.RAX, -1, true, false},
		{"testRR", []byte{0x84, 0xD9}, arch.RCX, arch.RBX, false, true},
		{"testRR", []byte{0x84, 0xCB}, arch.RBX, arch.RCX, false, true},
		{"testRI", []byte{0xF6, 0xC1, 0x80}, arch.RCX, -1, false, true},
		{"testRI", []byte{0xF6, 0xCB, 0x01}, arch.RBX, -1, false, true}, // F6 /1
		{"testRI", []byte{0xA8, 0x7F}, arch.RAX, -1, false, true},
		{"", []byte{0x11, 0xD9}, arch.RCX, arch.RBX, false, false}, // ADC: reads CF
		{"", []byte{0x19, 0xD9}, arch.RCX, arch.RBX, false, false}, // SBB
		{"", []byte{0x03, 0xCB}, arch.RCX, arch.RBX, false, false}, // ADD Gv,Ev
	}
	// The ALU operations with immediates: 83 /op ib, 81 /op id, and the
	// rAX form (op<<3 | 5), SDM Vol. 2A Table A-2 and Table A-6 group 1.
	imm8s := []byte{0x00, 0x01, 0x7F, 0x80, 0xFF}
	imm32s := [][]byte{{0x00, 0x80, 0x00, 0x80}, {0xFF, 0xFF, 0xFF, 0x7F}, {0xFF, 0xFF, 0xFF, 0xFF}}
	for i, op := range []struct {
		name  string
		digit byte
	}{{"add", 0}, {"or", 1}, {"and", 4}, {"sub", 5}, {"xor", 6}, {"cmp", 7}} {
		for j, ib := range imm8s {
			if (op.name == "or" || op.name == "and" || op.name == "xor") && (i+j)%2 == 0 {
				continue // logic: the flags depend on the result only
			}
			ss = append(ss, fusedSetter{op.name + "RI", []byte{0x83, 0xC0 | op.digit<<3 | 1, ib}, arch.RCX, -1, false, false})
		}
		for j, id := range imm32s {
			if j == 2 && op.name != "cmp" && op.name != "add" {
				continue
			}
			ss = append(ss, fusedSetter{op.name + "RI", append([]byte{0x81, 0xC0 | op.digit<<3 | 3}, id...), arch.RBX, -1, true, false})
		}
		ss = append(ss, fusedSetter{op.name + "RI", append([]byte{op.digit<<3 | 5}, imm32s[i%3]...), arch.RAX, -1, true, false})
	}
	return ss
}

// fusedVariant is a setter as TestFusedPairs runs it: its code with
// prefixes, its operand size and registers.
type fusedVariant struct {
	fusedSetter
	size  int
	rexRB bool // REX.R and REX.B: the registers' numbers plus 8
}

// variants returns s with the prefixes mode allows: none, 66 (16 bits),
// and in 64-bit mode REX.W (64 bits) and REX.RB (R9/R11 ... for
// RCX/RBX ..., with REX.W or 66 too).
func (s fusedSetter) variants(mode uint8) []fusedVariant {
	one := s.code[0]&0xF0 == 0x40 // INC/DEC r
	rax := s.code[0] == 0xA8 || s.code[0] == 0xA9 || s.code[0]&7 == 5 && s.code[0] < 0x40
	if one && mode == mode64 {
		return nil
	}
	base := 32
	if s.byte8 {
		base = 8
	}
	out := []fusedVariant{{s, base, false}}
	if !s.byte8 {
		c := append([]byte{0x66}, s.code...)
		if s.imm32 {
			c = c[:len(c)-2]
		}
		v := s
		v.code = c
		out = append(out, fusedVariant{v, 16, false})
	}
	if mode != mode64 {
		return out
	}
	rex := func(r byte, size int, pfx ...byte) {
		v := s
		v.code = append(append(append([]byte{}, pfx...), r), s.code...)
		if len(pfx) != 0 && s.imm32 {
			v.code = v.code[:len(v.code)-2]
		}
		if r&5 != 0 && !rax {
			// REX.R extends ModRM.reg (src), REX.B ModRM.rm (dst);
			// rAX forms keep rAX.
			v.dst += 8
			if v.src >= 0 {
				v.src += 8
			}
		}
		out = append(out, fusedVariant{v, size, r&5 != 0})
	}
	if s.byte8 {
		rex(0x45, 8)
		return out
	}
	rex(0x48, 64)
	rex(0x45, 32)
	rex(0x4D, 64)
	rex(0x45, 16, 0x66)
	return out
}

// fusedShape is the code around a setter in TestFusedPairs: a Jcc
// (condition cc) whose both targets land on a HLT, as a side exit in the
// middle of the block (the fall-through HLT is the block's) or at the
// block's end (a loop back to the setter).
type fusedShape struct {
	name    string
	jcc     func(cc byte, setterLen int) []byte
	side    bool
	mode32  bool // outside 64-bit mode only
	limited bool // a CS limit that leaves the taken target out: #GP
	all     bool // every operand pair (the others run a sample)
}

// TestFusedPairs checks every fused setter+Jcc handler (exec_fused.go,
// exec_fused_gen.go) through Run's fast path, whole blocks, against the
// same instructions one at a time (runSlow, unfused): registers, flags,
// RIP, the instruction count and faults must agree. Every setter kind
// (INC/DEC, ADD/SUB/AND/OR/XOR/CMP/TEST r,r and r,imm) comes in every
// size its handlers have (8 for TEST, 16, 32, 64 bits) with the 16
// conditions (SDM Vol. 1 Appendix B, Table B-1), the Jcc as a side exit
// (rel8, rel32; outside 64-bit mode rel8 and rel16 with a 16-bit operand
// size, whose target wraps to 16 bits, and a CS limit that makes the
// taken Jcc #GP) and at a block's end (a loop back to the setter). Each
// block is required to hold the handler its setter names (the end and
// the side-exit one), every handler of exec_fused_gen.go must be run,
// and each with every condition both taken and not taken. Operands
// (seeded, so the same every run): the edge values (zero, one, the sign
// bits and their neighbours, all ones at each size) each against itself,
// its neighbours, its negation and four other edges, and random values,
// with the status flags in clear or set (INC/DEC keep CF); the REX.R/B
// forms and the rel32, 16-bit and CS limit shapes run a sample of them.
func TestFusedPairs(t *testing.T) {
	edges := []uint64{0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
		0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ^uint64(0),
		0x1234_5678_9ABC_DEF0, 0xFFFF_FFFF_0000_8001}
	rng := rand.New(rand.NewPCG(12, 2026))
	random := func() uint64 {
		switch rng.IntN(4) {
		case 0:
			return rng.Uint64()
		case 1:
			return edges[rng.IntN(len(edges))] ^ 1<<rng.IntN(64)
		case 2:
			return edges[rng.IntN(len(edges))] + uint64(rng.IntN(5)) - 2
		}
		return uint64(rng.Uint32()) >> rng.IntN(32)
	}
	type pair struct{ a, b, fl uint64 }
	// RR: every edge against itself, its neighbours, its negation and
	// four other edges (in turn); RI, INC, DEC: every edge, with the
	// status flags clear and set; then random pairs. The flags in
	// alternate.
	var rr, ri []pair
	for i, a := range edges {
		for j, b := range []uint64{a, a - 1, a + 1, -a, edges[(i+1)%len(edges)], edges[(i+5)%len(edges)],
			edges[(i+10)%len(edges)], edges[(i+14)%len(edges)]} {
			rr = append(rr, pair{a, b, uint64((i+j)&1) * arch.FlagsArith})
		}
		ri = append(ri, pair{a, random(), 0}, pair{a, random(), arch.FlagsArith})
	}
	for i := 0; i < 16; i++ {
		rr = append(rr, pair{random(), random(), uint64(i&1) * arch.FlagsArith})
		ri = append(ri, pair{random(), random(), uint64(i&1) * arch.FlagsArith})
	}
	rel32 := func(v int) []byte { return []byte{byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	shapes := []fusedShape{
		{name: "rel8 side exit", jcc: func(cc byte, _ int) []byte { return []byte{0x70 + cc, 0x01} }, side: true, all: true},
		{name: "rel8 loop", jcc: func(cc byte, n int) []byte { return []byte{0x70 + cc, byte(-(n + 2))} }, all: true},
		{name: "rel32 side exit", jcc: func(cc byte, _ int) []byte { return append([]byte{0x0F, 0x80 + cc}, rel32(1)...) }, side: true},
		{name: "rel32 loop", jcc: func(cc byte, n int) []byte { return append([]byte{0x0F, 0x80 + cc}, rel32(-(n + 6))...) }},
		// A 16-bit Jcc jumps to (EIP + 1) AND FFFFH (SDM Vol. 2A Jcc):
		// to a HLT in the first page.
		{name: "o16 rel8 side exit", jcc: func(cc byte, _ int) []byte { return []byte{0x66, 0x70 + cc, 0x01} }, side: true, mode32: true},
		{name: "o16 rel16 side exit", jcc: func(cc byte, _ int) []byte { return []byte{0x66, 0x0F, 0x80 + cc, 0x01, 0x00} }, side: true, mode32: true},
		{name: "rel8 side exit past the CS limit", jcc: func(cc byte, _ int) []byte { return []byte{0x70 + cc, 0x01} }, side: true, mode32: true, limited: true},
	}
	seen := map[string]*[16][2]bool{}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		if mode == mode32 {
			for i := 0; i < 0x100; i++ {
				h.bus.ram[i] = 0xF4 // the 16-bit Jcc's targets
			}
		}
		for _, s := range fusedSetters() {
			for _, v := range s.variants(mode) {
				for _, sh := range shapes {
					if sh.mode32 && mode != mode32 {
						continue
					}
					pairs := rr
					if v.src < 0 {
						pairs = ri
					}
					switch {
					case sh.limited:
						pairs = pairs[len(pairs)-2:] // each #GP shuts the harness down: a new CPU
					case !sh.all || v.rexRB:
						pairs = pairs[len(pairs)-8:]
					}
					for cc := byte(0); cc < 16; cc++ {
						j := sh.jcc(cc, len(v.code))
						code := append(append(append([]byte{}, v.code...), j...), 0xF4)
						fall := uint64(harnessCode + len(v.code) + len(j))
						if sh.limited {
							h.base.Seg[arch.CS].Limit = uint32(fall) // the HLT after the Jcc
						} else {
							h.base.Seg[arch.CS].Limit = 0xFFFFFFFF
						}
						name := fusedHandlerName(t, h, code, v, sh)
						for _, p := range pairs {
							var g [16]uint64
							for r := range g {
								g[r] = 0x0F1E_2D3C_4B5A_6978 * uint64(r+1) // others: apart
							}
							if v.src >= 0 {
								g[v.src] = p.b
							}
							g[v.dst] = p.a
							whole, fw, nw, _ := h.runFused(code, g, p.fl, false)
							split, fs, ns, rip2 := h.runFused(code, g, p.fl, true)
							if whole != split || fw != fs || nw != ns {
								msg := fmt.Sprintf("mode %d %s code % x: GPR %d=%#x, GPR %d=%#x (-1: none), flags %#x",
									mode, sh.name, code, v.dst, p.a, v.src, p.b, p.fl)
								require.Equal(t, split, whole, msg)
								require.Equal(t, fs, fw, "%s: fault", msg)
								require.Equal(t, ns, nw, "%s: retired", msg)
							}
							if name != "" && fs < 0 {
								if seen[name] == nil {
									seen[name] = new([16][2]bool)
								}
								taken := 0
								if rip2 != fall {
									taken = 1
								}
								seen[name][cc][taken] = true
							}
						}
					}
				}
			}
		}
	}
	// Every handler of exec_fused_gen.go ran, with each condition both
	// taken and not taken.
	var want []string
	for _, k := range []string{"inc", "dec", "addRR", "subRR", "andRR", "orRR", "xorRR", "cmpRR", "testRR",
		"addRI", "subRI", "andRI", "orRI", "xorRI", "cmpRI", "testRI"} {
		sizes := []string{"16", "32", "64"}
		if strings.HasPrefix(k, "test") {
			sizes = append(sizes, "8")
		}
		for _, sz := range sizes {
			want = append(want, k+"Jcc"+sz, k+"JccSide"+sz)
		}
	}
	require.Len(t, want, 100)
	var got []string
	for name, ccs := range seen {
		got = append(got, name)
		logic := strings.HasPrefix(name, "and") || strings.HasPrefix(name, "or") ||
			strings.HasPrefix(name, "xor") || strings.HasPrefix(name, "test")
		for cc, tk := range ccs {
			if logic && cc < 4 {
				// AND, OR, XOR and TEST clear OF and CF (SDM Vol.
				// 2A AND, ...): JO, JB never jump, JNO, JNB always.
				require.Equal(t, [2]bool{cc&1 == 0, cc&1 == 1}, tk, "%s cc %#x: [not taken, taken]", name, cc)
				continue
			}
			require.True(t, tk[0] && tk[1], "%s cc %#x: taken %v, not taken %v", name, cc, tk[1], tk[0])
		}
	}
	require.ElementsMatch(t, want, got, "fused handlers run")
}

// fusedHandlerName returns the name of the fused handler the block of code
// at harnessCode starts with (empty when v must not fuse, which it
// checks) and requires it to be the one v and sh name: v.handler, "Jcc"
// or "JccSide" and the size.
func fusedHandlerName(t *testing.T, h *harness, code []byte, v fusedVariant, sh fusedShape) string {
	t.Helper()
	h.stepN(code, [16]uint64{}, 0, 0)
	b := h.c.decodeBlock(h.c.RIP)
	require.NotNil(t, b, "code % x", code)
	n := 3
	if !sh.side {
		n = 2 // the HLT after the loop is not the block's
	}
	require.Len(t, b.insts, n, "code % x: instructions in the block", code)
	f := &b.fast[0]
	if v.handler == "" {
		require.EqualValues(t, 1, f.nret, "code % x: not fused", code)
		return ""
	}
	require.EqualValues(t, 2, f.nret, "code % x: fused", code)
	name := runtime.FuncForPC(reflect.ValueOf(f.fn).Pointer()).Name()
	name = name[strings.LastIndexByte(name, '.')+1:]
	want := v.handler + "Jcc"
	if sh.side {
		want += "Side"
	}
	want += strconv.Itoa(v.size)
	require.Equal(t, want, name, "code % x", code)
	return name
}

// runFused runs code from the state gpr, flags through Run's fast path
// (whole blocks, a budget of 12) or one instruction at a time (steps, 12
// at most) until it halts, shuts down or the budget ends, and returns the
// state, the first exception's vector (-1 for none), the instructions
// retired and, for steps, RIP after the second instruction (the Jcc).
func (h *harness) runFused(code []byte, gpr [16]uint64, flags uint64, steps bool) (arch.State, int, uint64, uint64) {
	h.stepN(code, gpr, flags, 0)
	c0 := h.c.Icount
	var rip2 uint64
	if steps {
		for i := 0; i < 12 && !h.c.halted && !h.c.IsShutdown(); i++ {
			h.c.Run(1)
			if i == 1 {
				rip2 = h.c.RIP
			}
		}
	} else {
		h.c.Run(12)
	}
	return h.c.GetState(), h.fault, h.c.Icount - c0, rip2
}

// TestFusedJccFault: a fused Jcc whose target is outside the CS limit
// faults at the Jcc with the setter retired.
func TestFusedJccFault(t *testing.T) {
	h := newHarness(mode32)
	h.base.Seg[arch.CS].Limit = harnessCode + 0x20
	h.newCPU()
	code := []byte{0x49, 0x75, 0x40} // dec ecx; jnz +0x40
	var g [16]uint64
	g[arch.RCX] = 5
	start := h.c.Icount
	st, f := h.stepN(code, g, 0, 2)
	if f != int(arch.VecGP) {
		t.Fatalf("fault %d, want #GP", f)
	}
	if n := h.c.Icount - start; n != 1 {
		t.Errorf("retired %d, want 1 (the DEC)", n)
	}
	if st.GPR[arch.RCX] != 4 {
		t.Errorf("ECX %#x, want 4", st.GPR[arch.RCX])
	}
}

// TestFusedJcc64Canonical: in 64-bit mode a fused Jcc takes a canonical
// target at once and reports a non-canonical one as #GP(0) at the Jcc
// with the setter retired (SDM Vol. 2A Jcc: "If the target is
// non-canonical, #GP(0)"; Vol. 3A 3.3.7.1), as the two instructions one at
// a time do. The code sits at the top of the lower canonical half, so
// that a forward rel32 leaves it.
func TestFusedJcc64Canonical(t *testing.T) {
	const (
		top   = 0x7FFF_FFFF_FFE0 // the code's linear address
		pdpt2 = 0x380000
		pd2   = 0x381000
	)
	tests := []struct {
		name  string
		code  []byte
		rcx   uint64
		fault int
		rip   uint64 // after both, when there is no fault
	}{
		{"taken backward", []byte{0xFF, 0xC9, 0x0F, 0x85, 0x00, 0xFF, 0xFF, 0xFF}, 5, -1, top + 8 - 0x100},
		{"taken to the last canonical byte", []byte{0xFF, 0xC9, 0x0F, 0x85, 0x17, 0x00, 0x00, 0x00}, 5, -1, 0x7FFF_FFFF_FFFF},
		{"taken to the first non-canonical byte", []byte{0xFF, 0xC9, 0x0F, 0x85, 0x18, 0x00, 0x00, 0x00}, 5, int(arch.VecGP), 0},
		{"taken far forward", []byte{0xFF, 0xC9, 0x0F, 0x85, 0x00, 0x01, 0x00, 0x00}, 5, int(arch.VecGP), 0},
		{"not taken", []byte{0xFF, 0xC9, 0x0F, 0x85, 0x00, 0x01, 0x00, 0x00}, 1, -1, top + 8},
		{"rel8 forward, not canonical", []byte{0x48, 0xFF, 0xC9, 0x75, 0x7F}, 5, int(arch.VecGP), 0},
		{"rel8 backward", []byte{0x48, 0xFF, 0xC9, 0x75, 0x80}, 5, -1, top + 5 - 0x80},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(mode64)
			ram := h.bus.ram
			put := func(pa, v uint64) {
				for i := 0; i < 8; i++ {
					ram[pa+uint64(i)] = byte(v >> (8 * i))
				}
			}
			// PML4[255] -> PDPT[511] -> PD[511]: a 2-MiB page at
			// 0x7FFF_FFE0_0000 onto physical 0x200000.
			put(harnessPML4+255*8, pdpt2|3)
			put(pdpt2+511*8, pd2|3)
			put(pd2+511*8, 0x200000|0x83)
			pa := uint64(0x3FFFE0)
			copy(ram[pa:], tc.code)
			h.c.code.written(h.c, pa>>12)
			run := func(steps ...uint64) (arch.State, int, uint64) {
				if h.c.IsShutdown() {
					h.newCPU()
				}
				s := h.base
				s.RIP = top
				s.GPR[arch.RCX] = tc.rcx
				h.c.SetState(s)
				h.c.halted, h.fault = false, -1
				c0 := h.c.Icount
				for _, n := range steps {
					if h.fault >= 0 {
						break
					}
					h.c.Run(n)
				}
				return h.c.GetState(), h.fault, h.c.Icount - c0
			}
			whole, fw, nw := run(2)
			split, fs, ns := run(1, 1)
			require.Equal(t, split, whole, "fused against one at a time")
			require.Equal(t, fs, fw, "fault")
			require.Equal(t, ns, nw, "retired")
			require.Equal(t, tc.fault, fw, "fault")
			if tc.fault < 0 {
				require.Equal(t, uint64(2), nw)
				require.Equal(t, tc.rip, whole.RIP)
			} else {
				require.Equal(t, uint64(1), nw, "the setter retired")
			}
			require.Equal(t, tc.rcx-1, whole.GPR[arch.RCX]&0xFFFFFFFF)
		})
	}
}

// TestFusedTest8 checks the 8-bit TEST setters fused with a Jcc (84, A8,
// F6 /0 and its alias /1, exec_fused.go fusedKind) through Run's fast
// path, whole blocks, against one instruction at a time (runHead):
// low, high and REX byte registers, every condition, values whose every
// byte differs, both flag states. It requires the pairs to be fused.
func TestFusedTest8(t *testing.T) {
	vals := []uint64{0, 1, 0x80, 0x7F00, 0x8000, 0x20FF, 0xFF01, 0x4081, 0x8000_0000_0000_8080, 0x1234_5678_9ABC_DEF0}
	setters := [][]byte{
		{0x84, 0xD9},             // test cl, bl
		{0x84, 0xFC},             // test ah, bh
		{0x84, 0xCD},             // test ch, cl
		{0x84, 0xE9},             // test cl, ch
		{0x84, 0xED},             // test ch, ch
		{0x84, 0xC9},             // test cl, cl
		{0xA8, 0x80},             // test al, 0x80
		{0xA8, 0x01},             // test al, 1
		{0xF6, 0xC3, 0x01},       // test bl, 1
		{0xF6, 0xC7, 0x20},       // test bh, 0x20
		{0xF6, 0xCB, 0x80},       // test bl, 0x80 (F6 /1)
		{0xF6, 0xC5, 0xFF},       // test ch, 0xff
		{0xF6, 0xCD, 0x7F},       // test ch, 0x7f (F6 /1)
		{0x66, 0xF6, 0xC1, 0x81}, // 66 changes nothing of an 8-bit TEST
	}
	setters64 := [][]byte{
		{0x40, 0xF6, 0xC7, 0x20}, // test dil, 0x20
		{0x41, 0x84, 0xC8},       // test r8b, cl
		{0x48, 0x84, 0xE3},       // test bl, spl
		{0x40, 0x84, 0xEE},       // test sil, bpl
	}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		ss := setters
		if mode == mode64 {
			ss = append(append([][]byte{}, setters...), setters64...)
		}
		for _, s := range ss {
			for cc := byte(0); cc < 16; cc++ {
				// The first two Jcc jump over the code's HLT to the one
				// after it (harness stepN): side exits; the last one
				// back to the setter, which ends the block (a loop:
				// the handler for a block's end).
				back := byte(-(len(s) + 2))
				for _, j := range [][]byte{{0x70 + cc, 0x01}, {0x0F, 0x80 + cc, 0x01, 0x00, 0x00, 0x00}, {0x70 + cc, back}} {
					code := append(append(append([]byte{}, s...), j...), 0xF4)
					fast := h.c.fastInsts(decodeAll(t, h.c, code))
					require.Len(t, fast, 1, "code % x: one fused entry", code)
					require.EqualValues(t, 2, fast[0].nret, "code % x", code)
					for _, a := range vals {
						for _, b := range vals {
							for _, fl := range []uint64{0, arch.FlagsArith} {
								var g [16]uint64
								g[arch.RCX], g[arch.RBX], g[arch.RAX] = a, b, a^b<<4
								g[arch.RDI], g[arch.RSI], g[arch.RBP], g[arch.RSP], g[arch.R8] = b>>8, a>>8, b<<8, a+b, b
								whole, fw, nw := h.runHead(code, g, fl, false)
								split, fs, ns := h.runHead(code, g, fl, true)
								if !reflect.DeepEqual(whole, split) || fw != fs || nw != ns {
									t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
										mode, code, a, b, fl, whole, fw, nw, split, fs, ns)
								}
							}
						}
					}
				}
			}
		}
	}
}

package cpu

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestFusedPairs checks every fused setter+Jcc form (exec_fused.go) against
// the same two instructions executed one at a time (runSlow): registers,
// flags, RIP, instruction count and faults must agree.
func TestFusedPairs(t *testing.T) {
	vals := []uint64{0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF,
		0x80000000, 0xFFFFFFFF, 0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ^uint64(0), 0x1234_5678_9ABC_DEF0}
	setters32 := [][]byte{
		{0x49}, {0x41}, {0xFF, 0xC9}, {0xFF, 0xC1},
		{0x01, 0xD9}, {0x29, 0xD9}, {0x21, 0xD9}, {0x09, 0xD9}, {0x31, 0xD9}, {0x39, 0xD9}, {0x85, 0xD9},
		{0x39, 0xC9}, {0x29, 0xC9}, // same register
		{0x83, 0xC1, 0x80}, {0x83, 0xE9, 0x01}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01},
		{0x83, 0xF9, 0x00}, {0x83, 0xF9, 0x80}, {0x81, 0xF9, 0x00, 0x00, 0x00, 0x80}, {0x81, 0xC1, 0xFF, 0xFF, 0xFF, 0x7F},
		// TEST r, imm: F7 /0, its alias /1, and TEST rAX, Iz (A9).
		{0xF7, 0xC1, 0x00, 0x80, 0x00, 0x80}, {0xF7, 0xCB, 0xFF, 0x00, 0xFF, 0xFF}, {0xA9, 0x01, 0x80, 0x00, 0x00},
		{0x11, 0xD9}, {0x19, 0xD9}, // ADC/SBB: not fused, must still work
	}
	flagSets := []uint64{0, arch.FlagsArith}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		var setters [][]byte
		for _, s := range setters32 {
			if mode == mode64 && (s[0]&0xF0) == 0x40 {
				continue
			}
			s16 := append([]byte{0x66}, s...)
			if s[0] == 0x81 || s[0] == 0xF7 || s[0] == 0xA9 {
				s16 = s16[:len(s16)-2] // imm16
			}
			setters = append(setters, s, s16)
			if mode == mode64 {
				setters = append(setters, append([]byte{0x48}, s...))
			}
		}
		for _, s := range setters {
			for cc := byte(0); cc < 16; cc++ {
				for _, jcc := range [][]byte{{0x70 + cc, 0x10}, {0x0F, 0x80 + cc, 0x00, 0x01, 0x00, 0x00}, {0x66, 0x0F, 0x80 + cc, 0x00, 0x01}} {
					if mode == mode64 && jcc[0] == 0x66 {
						continue
					}
					code := append(append([]byte{}, s...), jcc...)
					for _, a := range vals {
						for _, b := range vals[:5] {
							for _, fl := range flagSets {
								var g [16]uint64
								g[arch.RCX], g[arch.RBX], g[arch.RAX] = a, b, a^b<<7
								c0 := h.c.Icount
								whole, fw := h.stepN(code, g, fl, 2)
								nw := h.c.Icount - c0
								c0 = h.c.Icount
								h.stepN(code, g, fl, 1)
								fs := h.fault
								h.c.Run(1)
								if fs < 0 {
									fs = h.fault
								}
								split := h.c.GetState()
								ns := h.c.Icount - c0
								if !reflect.DeepEqual(whole, split) || fw != fs || nw != ns {
									t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: fused %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
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

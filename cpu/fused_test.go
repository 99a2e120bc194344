package cpu

import (
	"reflect"
	"testing"

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
			if s[0] == 0x81 {
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
								g[arch.RCX], g[arch.RBX] = a, b
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

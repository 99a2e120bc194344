package cpu

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestALUPairs checks the ALU pairs (exec_pair.go) against the same
// instructions executed one at a time: registers, flags, RIP and the
// instruction count must agree.
func TestALUPairs(t *testing.T) {
	vals := []uint64{0, 1, 0x7F, 0x80, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
		0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ^uint64(0), 0x1234_5678_9ABC_DEF0}
	firsts := [][]byte{
		{0x83, 0xC1, 0x04}, {0x83, 0xE9, 0x01}, {0x83, 0xC3, 0x80}, {0x81, 0xEB, 0x00, 0x00, 0x00, 0x80},
		{0x83, 0xC2, 0x7F}, {0x83, 0xF1, 0x01}, // XOR: not a first
	}
	seconds := [][]byte{
		{0x01, 0xD9}, {0x29, 0xD9}, {0x21, 0xD9}, {0x09, 0xD9}, {0x31, 0xD9}, {0x39, 0xD9}, {0x85, 0xD9},
		{0x29, 0xC9}, {0x01, 0xCA}, {0x11, 0xD9}, {0x19, 0xD9},
		{0x83, 0xC1, 0x80}, {0x83, 0xE9, 0x01}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01},
		{0x83, 0xF9, 0x00}, {0x83, 0xFB, 0x80}, {0x81, 0xC2, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x49}, {0x0F, 0xAF, 0xCB}, // DEC, IMUL: not a second
	}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		var pfx [][]byte
		pfx = append(pfx, nil, []byte{0x66})
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, f := range firsts {
			for _, s := range seconds {
				if mode == mode64 && s[0] == 0x49 {
					continue
				}
				for _, p1 := range pfx {
					for _, p2 := range pfx {
						f1, s2 := append(append([]byte{}, p1...), f...), append(append([]byte{}, p2...), s...)
						if p1 != nil && p1[0] == 0x66 && f[0] == 0x81 {
							f1 = f1[:len(f1)-2]
						}
						if p2 != nil && p2[0] == 0x66 && s[0] == 0x81 {
							s2 = s2[:len(s2)-2]
						}
						// A third instruction reads the flags (SETO, SETB,
						// ..., into AL) through the lazy record.
						code := append(append(append([]byte{}, f1...), s2...), 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4)
						for _, a := range vals {
							for _, b := range vals[:6] {
								for _, fl := range []uint64{0, arch.FlagsArith} {
									var g [16]uint64
									g[arch.RCX], g[arch.RBX], g[arch.RDX] = a, b, a^b
									c0 := h.c.Icount
									whole, _ := h.stepN(code, g, fl, 5)
									nw := h.c.Icount - c0
									c0 = h.c.Icount
									h.stepN(code, g, fl, 1)
									for i := 0; i < 4; i++ {
										h.c.Run(1)
									}
									split := h.c.GetState()
									ns := h.c.Icount - c0
									if !reflect.DeepEqual(whole, split) || nw != ns {
										t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (%d retired)\nsplit %+v (%d retired)",
											mode, code, a, b, fl, whole, nw, split, ns)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestALUPairFused: the benchmark loop's pair is fused (guards against
// the pairing silently not applying).
func TestALUPairFused(t *testing.T) {
	var in [2]Inst
	tb := buildTables()
	tb.decode([]byte{0x83, 0xC6, 0x04}, mode32, &in[0])
	tb.decode([]byte{0x83, 0xC7, 0x04}, mode32, &in[1])
	in[0].nret, in[1].nret = 1, 1
	if !pairable(&in[0], &in[1]) {
		t.Fatal("add esi,4; add edi,4 not paired")
	}
}

// TestStorePairs checks the store pairs (ALU r + MOV m,r) against the
// same instructions one at a time, faulting stores included.
func TestStorePairs(t *testing.T) {
	alus := [][]byte{
		{0x01, 0xD9}, {0x29, 0xD9}, {0x21, 0xD9}, {0x09, 0xD9}, {0x31, 0xD9}, {0x39, 0xD9}, {0x01, 0xCF},
		{0x83, 0xC1, 0x80}, {0x83, 0xE9, 0x01}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01}, {0x83, 0xF9, 0x00},
		{0x83, 0xC7, 0x04}, {0x11, 0xD9}, // ADD edi (the address), ADC: not paired
	}
	stores := [][]byte{{0x89, 0x0F}, {0x89, 0x4F, 0x08}, {0x89, 0x0C, 0x9F}, {0x89, 0x0F}}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, a := range alus {
			for si, s := range stores {
				for _, p := range pfx {
					st := s
					if si == 3 {
						st = append([]byte{0x66}, s...) // 16-bit store: not paired
					}
					code := append(append(append(append([]byte{}, p...), a...), p...), st...)
					code = append(code, 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4)
					dis := []uint64{harnessData, harnessData + 0xFFC}
					if mode == mode64 {
						dis = append(dis, 0x8000_0000_0000_0000)
					}
					for _, di := range dis {
						for _, cx := range []uint64{0, 1, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, ^uint64(0)} {
							for _, fl := range []uint64{0, arch.FlagsArith} {
								var g [16]uint64
								g[arch.RCX], g[arch.RBX], g[arch.RDI] = cx, 3, di
								clear(h.data())
								if h.c.IsShutdown() {
									h.newCPU() // as stepN would, but before c0
								}
								c0 := h.c.Icount
								whole, fw := h.stepN(code, g, fl, 5)
								nw := h.c.Icount - c0
								dw := append([]byte(nil), h.data()...)
								clear(h.data())
								if h.c.IsShutdown() {
									h.newCPU()
								}
								c0 = h.c.Icount
								_, fs := h.stepN(code, g, fl, 1)
								for i := 0; i < 4 && fs < 0; i++ {
									h.c.Run(1)
									fs = h.fault
								}
								split := h.c.GetState()
								ns := h.c.Icount - c0
								if !reflect.DeepEqual(whole, split) || nw != ns || fw != fs || string(dw) != string(h.data()) {
									t.Fatalf("mode %d code % x rdi=%#x rcx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
										mode, code, di, cx, fl, whole, fw, nw, split, fs, ns)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestLoadPairs checks load pairs (exec_pair.go: MOV r,m then a
// register-form ALU instruction of the same size, run as one entry)
// against one-at-a-time execution: the same state, data and instruction
// count after the whole run, including loads that fault (a non-canonical
// address in 64-bit mode: the ALU half must neither run nor retire, RIP
// at the load), RIP-relative loads (whose displacement counts from the
// load's end, not the pair's), loads into the ALU instruction's source
// or destination, and forms that are not paired (16-bit, ADC).
func TestLoadPairs(t *testing.T) {
	alus := [][]byte{
		{0x01, 0xC8}, {0x29, 0xC8}, {0x21, 0xC8}, {0x09, 0xC8}, {0x31, 0xC8}, {0x39, 0xC8}, {0x01, 0xD9},
		{0x83, 0xC1, 0x80}, {0x83, 0xE9, 0x01}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01}, {0x83, 0xF9, 0x00},
		{0x35, 0x5A, 0x5A, 0x5A, 0x5A}, {0x05, 0xFF, 0xFF, 0xFF, 0x7F}, {0x3D, 0x00, 0x00, 0x00, 0x80}, // rAX,Iz forms
		{0x11, 0xD9}, // ADC: not paired
	}
	loads := [][]byte{{0x8B, 0x0E}, {0x8B, 0x46, 0x08}, {0x8B, 0x0C, 0x9E}, {0x8B, 0x0E}, {0x8B, 0x05, 0, 0, 0, 0}}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, a := range alus {
			for li, l := range loads {
				if li == 4 && mode != mode64 {
					continue // RIP-relative: 64-bit mode only
				}
				for _, p := range pfx {
					ld := append([]byte{}, l...)
					if li == 3 {
						ld = append([]byte{0x66}, ld...) // 16-bit load: not paired
					}
					ld = append(append([]byte{}, p...), ld...)
					if li == 4 {
						// mov eax, [rip+disp32] reading harnessData+0x10.
						disp := uint32(harnessData + 0x10 - (harnessCode + len(ld)))
						binary.LittleEndian.PutUint32(ld[len(ld)-4:], disp)
					}
					code := append(append(append([]byte{}, ld...), p...), a...)
					code = append(code, 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4)
					sis := []uint64{harnessData, harnessData + 0xFF8}
					if mode == mode64 {
						sis = append(sis, 0x8000_0000_0000_0000)
					}
					for _, si := range sis {
						for _, cx := range []uint64{0, 1, 0x7FFFFFFF, 0x80000000, ^uint64(0)} {
							for _, fl := range []uint64{0, arch.FlagsArith} {
								var g [16]uint64
								g[arch.RCX], g[arch.RBX], g[arch.RSI], g[arch.RAX] = cx, 3, si, 0x1234
								fill := func() {
									for i := range h.data() {
										h.data()[i] = byte(i*37 + 11)
									}
								}
								fill()
								if h.c.IsShutdown() {
									h.newCPU()
								}
								c0 := h.c.Icount
								whole, fw := h.stepN(code, g, fl, 5)
								nw := h.c.Icount - c0
								fill()
								if h.c.IsShutdown() {
									h.newCPU()
								}
								c0 = h.c.Icount
								_, fs := h.stepN(code, g, fl, 1)
								for i := 0; i < 4 && fs < 0; i++ {
									h.c.Run(1)
									fs = h.fault
								}
								split := h.c.GetState()
								ns := h.c.Icount - c0
								if !reflect.DeepEqual(whole, split) || nw != ns || fw != fs {
									t.Fatalf("mode %d code % x rsi=%#x rcx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
										mode, code, si, cx, fl, whole, fw, nw, split, fs, ns)
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestLoadPairFormed checks that the shapes TestLoadPairs relies on are
// paired at all: a block of MOV r,m and ADD r,r has one fast entry
// retiring two instructions, and so does MOV r,m with XOR eAX,imm32.
func TestLoadPairFormed(t *testing.T) {
	for _, code := range [][]byte{
		{0x8B, 0x06, 0x01, 0xC8, 0xF4},                   // mov eax,[esi]; add eax,ecx; hlt
		{0x8B, 0x06, 0x35, 0x5A, 0x5A, 0x5A, 0x5A, 0xF4}, // mov eax,[esi]; xor eax,0x5a5a5a5a; hlt
	} {
		h := newHarness(mode32)
		var insts []Inst
		for pos := 0; pos < len(code); {
			var in Inst
			require.True(t, h.c.code.t.decode(code[pos:], mode32, &in))
			insts = append(insts, in)
			pos += int(in.len)
		}
		fast := h.c.fastInsts(insts)
		require.Len(t, fast, 2, "% x: the load and the ALU instruction are one entry", code)
		assert.Equal(t, uint8(2), fast[0].nret)
	}
}

// TestMovPairs checks the move pairs (MOV r,r + register ALU, exec_pair.go)
// against the same instructions executed one at a time: registers, flags,
// RIP and the instruction count must agree, with the MOV's destination
// and source among the ALU instruction's operands or not.
func TestMovPairs(t *testing.T) {
	vals := []uint64{0, 1, 0x7F, 0x80, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
		0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ^uint64(0), 0x1234_5678_9ABC_DEF0}
	firsts := [][]byte{
		{0x89, 0xD9}, // mov ecx, ebx (89: MOV r/m, r)
		{0x8B, 0xCB}, // mov ecx, ebx (8B: MOV r, r/m)
		{0x89, 0xCA}, // mov edx, ecx
		{0x8B, 0xD9}, // mov ebx, ecx
		{0x89, 0xC9}, // mov ecx, ecx (zero-extends in 64-bit mode)
		{0x8B, 0xC2}, // mov eax, edx
	}
	seconds := [][]byte{
		{0x01, 0xD9}, {0x29, 0xD9}, {0x21, 0xD9}, {0x09, 0xD9}, {0x31, 0xD9}, {0x39, 0xD9}, {0x85, 0xD9},
		{0x29, 0xC9}, {0x01, 0xCA}, {0x11, 0xD9}, {0x19, 0xD9},
		{0x83, 0xC1, 0x80}, {0x83, 0xE9, 0x01}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01},
		{0x83, 0xF9, 0x00}, {0x83, 0xFB, 0x80}, {0x81, 0xC2, 0xFF, 0xFF, 0xFF, 0x7F}, {0x81, 0xE1, 0xFF, 0x01, 0x00, 0x00},
		{0x25, 0xF0, 0x0F, 0x00, 0x80}, // and eax, imm32 (rAX form)
		{0x49}, {0x0F, 0xAF, 0xCB},     // DEC, IMUL: not a second
	}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		var pfx [][]byte
		pfx = append(pfx, nil, []byte{0x66})
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, f := range firsts {
			for _, s := range seconds {
				if mode == mode64 && s[0] == 0x49 {
					continue
				}
				for _, p1 := range pfx {
					for _, p2 := range pfx {
						f1, s2 := append(append([]byte{}, p1...), f...), append(append([]byte{}, p2...), s...)
						if p2 != nil && p2[0] == 0x66 && (s[0] == 0x81 || s[0] == 0x25) {
							s2 = s2[:len(s2)-2]
						}
						// A third instruction reads the flags (SETO, SETB,
						// ..., into AL) through the lazy record.
						code := append(append(append([]byte{}, f1...), s2...), 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4)
						for _, a := range vals {
							for _, b := range vals[:6] {
								for _, fl := range []uint64{0, arch.FlagsArith} {
									var g [16]uint64
									g[arch.RCX], g[arch.RBX], g[arch.RDX], g[arch.RAX] = a, b, a^b, b<<3^a
									c0 := h.c.Icount
									whole, _ := h.stepN(code, g, fl, 5)
									nw := h.c.Icount - c0
									c0 = h.c.Icount
									h.stepN(code, g, fl, 1)
									for i := 0; i < 4; i++ {
										h.c.Run(1)
									}
									split := h.c.GetState()
									ns := h.c.Icount - c0
									if !reflect.DeepEqual(whole, split) || nw != ns {
										t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (%d retired)\nsplit %+v (%d retired)",
											mode, code, a, b, fl, whole, nw, split, ns)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestNewPairsFormed: the hot sequences of kvm-unit-tests' access test
// and sieve that the move pairs, store-first pairs, TEST r,imm + Jcc and
// heads (exec_head.go) fuse are fused (guards against the fusion
// silently not applying): one entry for "mov ecx, eax; and ecx, 0x1ff;
// cmp ecx, 0x100; je", one for "test eax, 0x100; jne", two for "mov
// [rax], dl; add rax, 1; cmp rax, rcx; jne" (the ADD a head); and the
// forms a head must not take are not taken.
func TestNewPairsFormed(t *testing.T) {
	tb := buildTables()
	decode := func(mode uint8, code ...[]byte) []Inst {
		var out []Inst
		for _, b := range code {
			var in Inst
			require.True(t, tb.decode(b, mode, &in))
			require.Nil(t, in.fault)
			out = append(out, in)
		}
		// A Jcc before the last instruction is a side exit, as
		// decodeBlock marks it.
		for i := range out[:len(out)-1] {
			out[i].side = isJccRel(&out[i])
		}
		return out
	}
	tests := []struct {
		name string
		mode uint8
		code [][]byte
		nret []uint8 // of the fast entries
	}{
		{"mov and cmp je", mode64, [][]byte{{0x89, 0xC1}, {0x81, 0xE1, 0xFF, 0x01, 0x00, 0x00}, {0x81, 0xF9, 0x00, 0x01, 0x00, 0x00}, {0x74, 0x10}}, []uint8{4}},
		{"mov r64 or r64", mode64, [][]byte{{0x48, 0x8B, 0xC8}, {0x48, 0x83, 0xC9, 0x01}, {0xF4}}, []uint8{2, 1}},
		{"mov r16 not paired", mode32, [][]byte{{0x66, 0x89, 0xC1}, {0x66, 0x83, 0xC9, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		{"mov r32 then r64 ALU not paired", mode64, [][]byte{{0x89, 0xC1}, {0x48, 0x83, 0xC9, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		{"test eax imm jne", mode32, [][]byte{{0xA9, 0x00, 0x01, 0x00, 0x00}, {0x75, 0x10}}, []uint8{2}},
		{"test ebx imm je", mode64, [][]byte{{0xF7, 0xC3, 0x00, 0x01, 0x00, 0x00}, {0x0F, 0x84, 0x10, 0x00, 0x00, 0x00}}, []uint8{2}},
		{"test bl imm je", mode64, [][]byte{{0xF6, 0xC3, 0x01}, {0x74, 0x10}}, []uint8{2}},
		{"test bh imm jne", mode32, [][]byte{{0xF6, 0xC7, 0x20}, {0x0F, 0x85, 0x10, 0x00, 0x00, 0x00}}, []uint8{2}},
		{"test dl dl je", mode64, [][]byte{{0x84, 0xD2}, {0x74, 0x10}}, []uint8{2}},
		{"test al imm je", mode64, [][]byte{{0xA8, 0x01}, {0x74, 0x10}}, []uint8{2}},
		{"and bl imm je not fused", mode64, [][]byte{{0x80, 0xE3, 0x01}, {0x74, 0x10}}, []uint8{1, 1}},
		{"cmp byte r8 je not fused", mode64, [][]byte{{0x38, 0xD9}, {0x74, 0x10}}, []uint8{1, 1}},
		{"sieve store add cmp jne", mode64, [][]byte{{0x88, 0x10}, {0x48, 0x83, 0xC0, 0x01}, {0x48, 0x39, 0xC8}, {0x75, 0xF0}}, []uint8{1, 3}},
		{"store r32 add r64", mode64, [][]byte{{0x89, 0x10}, {0x48, 0x83, 0xC0, 0x01}, {0xF4}}, []uint8{2, 1}},
		{"store r16 not paired", mode32, [][]byte{{0x66, 0x89, 0x10}, {0x83, 0xC0, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		// Heads (exec_head.go), from access's flag loop and bench las.
		{"or add and js", mode64, [][]byte{{0x09, 0xF0}, {0x83, 0xC0, 0x01}, {0x21, 0xC8}, {0x78, 0x71}}, []uint8{4}},
		{"or r64 dec cmp jne", mode64, [][]byte{{0x48, 0x09, 0xF0}, {0x48, 0xFF, 0xC8}, {0x48, 0x39, 0xC8}, {0x75, 0x71}}, []uint8{4}},
		// Shift pairs (exec_pair.go shiftPairAt), from access's
		// ac_test_do_access and fixed2.
		{"mov shr and", mode64, [][]byte{{0x44, 0x89, 0xE7}, {0xC1, 0xEF, 0x1B}, {0x83, 0xE7, 0x01}, {0xF4}}, []uint8{3, 1}},
		{"shr and", mode32, [][]byte{{0xC1, 0xE9, 0x09}, {0x83, 0xE1, 0x01}, {0xF4}}, []uint8{2, 1}},
		{"mov r64 shr r64 cmp", mode64, [][]byte{{0x48, 0x8B, 0xC8}, {0x48, 0xC1, 0xE9, 0x21}, {0x48, 0x39, 0xD1}, {0xF4}}, []uint8{3, 1}},
		{"mov to another register, shr and", mode64, [][]byte{{0x89, 0xC2}, {0xC1, 0xE9, 0x09}, {0x83, 0xE1, 0x01}, {0xF4}}, []uint8{1, 2, 1}},
		{"shr by 32 of r32 not paired", mode64, [][]byte{{0xC1, 0xE9, 0x20}, {0x83, 0xE1, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		{"shr r16 not paired", mode32, [][]byte{{0x66, 0xC1, 0xE9, 0x01}, {0x66, 0x83, 0xE1, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		{"shl not paired", mode32, [][]byte{{0xC1, 0xE1, 0x01}, {0x83, 0xE1, 0x01}, {0xF4}}, []uint8{1, 1, 1}},
		// TEST+CMOVcc (exec_pair.go testCmovPairable), from access's
		// ac_test_setup_ptes.
		{"mov or test cmovne", mode64, [][]byte{{0x48, 0x89, 0xC2}, {0x48, 0x83, 0xCA, 0x01}, {0xF6, 0xC7, 0x40}, {0x48, 0x0F, 0x45, 0xC2}, {0xF4}}, []uint8{2, 2, 1}},
		{"test r32 imm cmove r32", mode32, [][]byte{{0xF7, 0xC3, 0x00, 0x00, 0x02, 0x00}, {0x0F, 0x44, 0xC2}, {0xF4}}, []uint8{2, 1}},
		{"test cmov r16 not paired", mode32, [][]byte{{0x85, 0xDB}, {0x66, 0x0F, 0x44, 0xC2}, {0xF4}}, []uint8{1, 1, 1}},
		{"cmp cmov not paired", mode64, [][]byte{{0x48, 0x39, 0xD8}, {0x48, 0x0F, 0x44, 0xC2}, {0xF4}}, []uint8{1, 1, 1}},
		{"test cmov from memory not paired", mode64, [][]byte{{0x85, 0xDB}, {0x48, 0x0F, 0x44, 0x02}, {0xF4}}, []uint8{1, 1, 1}},
		// Register-move pairs (exec_pair.go regMovPairable), from
		// access's callers.
		{"mov r64 mov r32 imm", mode64, [][]byte{{0x48, 0x89, 0xDF}, {0xB8, 0x00, 0x00, 0x00, 0x00}, {0xF4}}, []uint8{2, 1}},
		{"lea mov", mode64, [][]byte{{0x48, 0x8D, 0x55, 0xC0}, {0x48, 0x89, 0xD6}, {0xF4}}, []uint8{2, 1}},
		{"mov mov mov", mode64, [][]byte{{0x48, 0x89, 0xDF}, {0x48, 0x89, 0xC6}, {0x48, 0x89, 0xD1}, {0xF4}}, []uint8{2, 1, 1}},
		{"mov r16 mov not paired", mode32, [][]byte{{0x66, 0x89, 0xD9}, {0x89, 0xC6}, {0xF4}}, []uint8{1, 1, 1}},
		{"mov mov and: the register-move pair first", mode64, [][]byte{{0x89, 0xD9}, {0x89, 0xC2}, {0x83, 0xE2, 0x01}, {0xF4}}, []uint8{2, 1, 1}},
		{"or and cmp je: the and alone", mode64, [][]byte{{0x09, 0xF0}, {0x83, 0xE0, 0x01}, {0x83, 0xF8, 0x01}, {0x74, 0x71}}, []uint8{1, 3}},
		{"or on another register: add alone", mode64, [][]byte{{0x09, 0xF1}, {0x83, 0xC0, 0x01}, {0x21, 0xC8}, {0x78, 0x71}}, []uint8{1, 3}},
		{"or add inc jne", mode64, [][]byte{{0x09, 0xF0}, {0x83, 0xC0, 0x01}, {0xFF, 0xC1}, {0x75, 0x71}}, []uint8{4}},
		{"or sub inc jne: sub alone, no head", mode64, [][]byte{{0x09, 0xF0}, {0x83, 0xE8, 0x01}, {0xFF, 0xC1}, {0x75, 0x71}}, []uint8{1, 1, 2}},
		{"or r32 add r64: add alone", mode64, [][]byte{{0x09, 0xF0}, {0x48, 0x83, 0xC0, 0x01}, {0x48, 0x21, 0xC8}, {0x78, 0x71}}, []uint8{1, 3}},
		{"or Gv,Ev (0B) not a head", mode64, [][]byte{{0x0B, 0xC6}, {0x83, 0xC0, 0x01}, {0x21, 0xC8}, {0x78, 0x71}}, []uint8{1, 3}},
		{"lea test je", mode64, [][]byte{{0x8D, 0x7A, 0xFF}, {0x85, 0xD7}, {0x74, 0x40}}, []uint8{3}},
		{"las add and dec jnz", mode32, [][]byte{{0x83, 0xC2, 0x04}, {0x81, 0xE2, 0xFC, 0x0F, 0x00, 0x00}, {0xFF, 0xC9}, {0x75, 0xE6}}, []uint8{4}},
		{"mov r64 xor r64 test jne", mode64, [][]byte{{0x48, 0x89, 0xC2}, {0x48, 0x83, 0xF2, 0x01}, {0x48, 0x85, 0xD1}, {0x75, 0x10}}, []uint8{4}},
		{"mov to another register: ALU alone", mode64, [][]byte{{0x89, 0xC2}, {0x83, 0xE1, 0x01}, {0x39, 0xD1}, {0x74, 0x10}}, []uint8{1, 3}},
		{"mov then dec: no head", mode32, [][]byte{{0x89, 0xC2}, {0x49}, {0x75, 0x10}}, []uint8{1, 2}},
		{"sub then dec: no head", mode32, [][]byte{{0x83, 0xEA, 0x01}, {0x49}, {0x75, 0x10}}, []uint8{1, 2}},
		{"mov sub then dec: no head", mode32, [][]byte{{0x89, 0xC2}, {0x83, 0xEA, 0x01}, {0x49}, {0x75, 0x10}}, []uint8{2, 2}},
		{"and r16 cmp r16: no head", mode32, [][]byte{{0x66, 0x83, 0xE2, 0x01}, {0x66, 0x83, 0xFA, 0x01}, {0x74, 0x10}}, []uint8{1, 2}},
		{"and r32 cmp r64: no head", mode64, [][]byte{{0x83, 0xE2, 0x01}, {0x48, 0x83, 0xFA, 0x01}, {0x74, 0x10}}, []uint8{1, 2}},
		{"sub r64 -2^31: no head", mode64, [][]byte{{0x48, 0x81, 0xEA, 0x00, 0x00, 0x00, 0x80}, {0x48, 0x83, 0xFA, 0x01}, {0x74, 0x10}}, []uint8{1, 2}},
		{"cmp then cmp: no head", mode64, [][]byte{{0x83, 0xFA, 0x01}, {0x83, 0xF9, 0x01}, {0x74, 0x10}}, []uint8{1, 2}},
		{"lea with index: no head", mode64, [][]byte{{0x8D, 0x14, 0x08}, {0x85, 0xD1}, {0x74, 0x10}}, []uint8{1, 2}},
		{"lea r64 32-bit address: no head", mode64, [][]byte{{0x67, 0x48, 0x8D, 0x50, 0x01}, {0x48, 0x85, 0xD1}, {0x74, 0x10}}, []uint8{1, 2}},
		{"lea rip-relative: no head", mode64, [][]byte{{0x8D, 0x15, 0x01, 0x00, 0x00, 0x00}, {0x85, 0xD1}, {0x74, 0x10}}, []uint8{1, 2}},
		{"inc cmp jl", mode64, [][]byte{{0xFF, 0xC2}, {0x39, 0xCA}, {0x7C, 0x10}}, []uint8{3}},
		{"mov dec test jne", mode32, [][]byte{{0x89, 0xC2}, {0x4A}, {0x85, 0xD2}, {0x75, 0x10}}, []uint8{4}},
		{"inc then dec: no head", mode32, [][]byte{{0x42}, {0x49}, {0x75, 0x10}}, []uint8{1, 2}},
		{"head before a side exit", mode64, [][]byte{{0x83, 0xE2, 0x01}, {0x83, 0xFA, 0x01}, {0x74, 0x10}, {0x83, 0xC1, 0x01}}, []uint8{3, 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := &CPU{codeMode: tc.mode}
			fast := c.fastInsts(decode(tc.mode, tc.code...))
			var got []uint8
			for i := range fast {
				got = append(got, fast[i].nret)
			}
			assert.Equal(t, tc.nret, got)
		})
	}
}

// TestStoreFirstPairs checks store-first pairs (exec_pair.go: MOV m,r of
// 8, 32 or 64 bits, then a register-form ALU instruction, run as one
// entry) against one-at-a-time execution: the same state, data and
// instruction count, including stores that fault (a non-canonical
// address in 64-bit mode: the ALU half must neither run nor retire, RIP
// at the store), stores to the code's own page (a stop after the store:
// the ALU half runs in a block of its own), RIP-relative stores (whose
// displacement counts from the store's end, not the pair's), stores of
// high-byte registers, ALU instructions that change the address register
// and forms that are not paired (16-bit store, ADC).
func TestStoreFirstPairs(t *testing.T) {
	alus := [][]byte{
		{0x01, 0xD9}, {0x29, 0xD9}, {0x21, 0xD9}, {0x09, 0xD9}, {0x31, 0xD9}, {0x39, 0xD9}, {0x85, 0xD9},
		{0x83, 0xC7, 0x01}, {0x83, 0xEF, 0x04}, {0x83, 0xE1, 0x7F}, {0x83, 0xC9, 0xFF}, {0x83, 0xF1, 0x01}, {0x83, 0xF9, 0x00},
		{0x35, 0x5A, 0x5A, 0x5A, 0x5A}, {0x81, 0xC1, 0xFF, 0xFF, 0xFF, 0x7F},
		{0x11, 0xD9}, // ADC: not paired
	}
	stores := [][]byte{
		{0x89, 0x0F},             // mov [edi], ecx
		{0x89, 0x4F, 0x08},       // mov [edi+8], ecx
		{0x88, 0x0F},             // mov [edi], cl
		{0x88, 0x2F},             // mov [edi], ch (mode32; [rdi], bpl with a REX prefix)
		{0x66, 0x89, 0x0F},       // 16-bit: not paired
		{0x89, 0x0D, 0, 0, 0, 0}, // mov [rip+disp32], ecx (64-bit mode)
	}
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, a := range alus {
			for si, s := range stores {
				if si == 5 && mode != mode64 {
					continue
				}
				for _, ps := range pfx {
					for _, pa := range pfx {
						st := append(append([]byte{}, ps...), s...)
						if si == 5 {
							// mov [rip+disp32], ecx writing harnessData+0x10.
							disp := uint32(harnessData + 0x10 - (harnessCode + len(st)))
							binary.LittleEndian.PutUint32(st[len(st)-4:], disp)
						}
						code := append(append(append([]byte{}, st...), pa...), a...)
						code = append(code, 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4)
						// The code's own page: elsewhere, and over the
						// ALU half itself (which must then run as
						// rewritten, not as decoded).
						dis := []uint64{harnessData, harnessData + 0xFF8, harnessCode + 0x800, harnessCode + uint64(len(st))}
						if mode == mode64 {
							dis = append(dis, 0x8000_0000_0000_0000)
						}
						for _, di := range dis {
							cxs := []uint64{0, 1, 0x7FFFFFFF, 0x80000000, ^uint64(0)}
							if di == harnessCode+uint64(len(st)) {
								// NOPs over the ALU half: the
								// rewritten code touches no memory
								// outside the data page.
								cxs = []uint64{0x9090_9090_9090_9090}
							}
							for _, cx := range cxs {
								for _, fl := range []uint64{0, arch.FlagsArith} {
									var g [16]uint64
									// RAX (an ADD [EAX], AL the store may
									// write) points into the data page.
									g[arch.RCX], g[arch.RBX], g[arch.RDI], g[arch.RAX] = cx, 3, di, harnessData+0x100
									clear(h.data())
									if h.c.IsShutdown() {
										h.newCPU()
									}
									c0 := h.c.Icount
									h.code = nil // the code afresh: the last run may have written it
									whole, fw := h.stepN(code, g, fl, 5)
									nw := h.c.Icount - c0
									dw := append([]byte(nil), h.data()...)
									clear(h.data())
									if h.c.IsShutdown() {
										h.newCPU()
									}
									c0 = h.c.Icount
									h.code = nil
									_, fs := h.stepN(code, g, fl, 1)
									for i := 0; i < 4 && fs < 0; i++ {
										h.c.Run(1)
										fs = h.fault
									}
									split := h.c.GetState()
									ns := h.c.Icount - c0
									if !reflect.DeepEqual(whole, split) || nw != ns || fw != fs || string(dw) != string(h.data()) {
										t.Fatalf("mode %d code % x rdi=%#x rcx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
											mode, code, di, cx, fl, whole, fw, nw, split, fs, ns)
									}
								}
							}
						}
					}
				}
			}
		}
	}
}

// TestShiftPairs checks shift pairs (exec_pair.go shiftPairAt: [MOV r,r,]
// SHR r,imm, then a register-form ALU instruction, one entry) through
// Run's fast path, whole blocks, against one instruction at a time: the
// same state and instruction count, with SETO and SETB after them
// reading the lazy flags. Counts of 0 after masking, SHL, SAR, SHR by 1
// (D1), ADC, 16-bit and mixed sizes, and MOVs onto another register are
// not paired but must run the same. It requires the pairs to be formed.
func TestShiftPairs(t *testing.T) {
	vals := []uint64{0, 1, 0x80000000, 0xFFFFFFFF, 0x8000000000000000, ^uint64(0), 0x1234_5678_9ABC_DEF0, 0xF0F0_0F0F_8421_1248}
	firsts := [][]byte{
		nil,
		{0x89, 0xD9}, // mov ecx, ebx (89: MOV r/m, r)
		{0x8B, 0xCB}, // mov ecx, ebx (8B: MOV r, r/m)
		{0x89, 0xC9}, // mov ecx, ecx
		{0x89, 0xCA}, // mov edx, ecx: not onto the shifted register
		{0x8B, 0xD1}, // mov edx, ecx (8B): not onto it either
	}
	shifts := [][]byte{
		{0xC1, 0xE9, 0x01}, {0xC1, 0xE9, 0x1B}, {0xC1, 0xE9, 0x1F}, {0xC1, 0xE9, 0x20}, {0xC1, 0xE9, 0x3F},
		{0xC1, 0xE9, 0x40}, {0xC1, 0xE9, 0x61}, // counts 0 and 1 after masking
		{0xC1, 0xE1, 0x03}, {0xC1, 0xF9, 0x03}, {0xD1, 0xE9}, // SHL, SAR, SHR by 1: not paired
	}
	seconds := [][]byte{
		{0x83, 0xE1, 0x01}, {0x21, 0xD9}, {0x01, 0xCB}, {0x83, 0xF9, 0x05}, {0x29, 0xC9},
		{0x31, 0xCA}, {0x81, 0xC9, 0x00, 0x00, 0x00, 0x80}, {0x25, 0xFF, 0x00, 0x00, 0x00},
		{0x11, 0xD9}, {0xFF, 0xC1}, // ADC, INC: not paired
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		var pfx [][]byte
		pfx = append(pfx, nil, []byte{0x66})
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48})
		}
		for _, f := range firsts {
			for _, s := range shifts {
				for _, a := range seconds {
					for pi, p := range pfx {
						code := append(append(append([]byte{}, f...), s...), a...)
						if p != nil && p[0] == 0x66 && a[0] == 0x25 {
							continue // imm32 to imm16: another instruction
						}
						if pi > 0 {
							if code = prefixEach(code, p); code == nil {
								continue
							}
						}
						if mode == mode64 && pi == 0 && f == nil {
							// Mixed sizes: a 64-bit ALU instruction after
							// a 32-bit shift (not paired).
							code = append(append(append([]byte{}, s...), 0x48), a...)
						}
						code = append(code, 0x0F, 0x92, 0xC0, 0x0F, 0x90, 0xC4, 0xF4) // setb al; seto ah; hlt
						for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
							if in.nret >= 2 {
								formed++
							}
						}
						for _, x := range vals {
							for _, y := range vals[:4] {
								for _, fl := range []uint64{0, arch.FlagsArith} {
									var g [16]uint64
									g[arch.RCX], g[arch.RBX], g[arch.RDX], g[arch.RAX] = x, y, x^y, y<<3^x
									whole, fw, nw := h.runHead(code, g, fl, false)
									split, fs, ns := h.runHead(code, g, fl, true)
									if !reflect.DeepEqual(whole, split) || fw != fs || nw != ns {
										t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
											mode, code, x, y, fl, whole, fw, nw, split, fs, ns)
									}
								}
							}
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 300, "shift pairs formed")
}

// TestTestCmovPairs checks TEST+CMOVcc pairs (exec_pair.go
// testCmovPairable) through Run's fast path, whole blocks, against one
// instruction at a time: every condition, TEST r,r and r,imm of 8 to 64
// bits (high-byte registers too), CMOVcc of 32 bits (whose destination is
// zero-extended whatever the condition) and 64 bits, with SETP, SETS and
// SETZ after them reading TEST's lazy flags. A 16-bit CMOVcc and a
// CMOVcc after another setter are not paired but must run the same. It
// requires the pairs to be formed.
func TestTestCmovPairs(t *testing.T) {
	vals := []uint64{0, 1, 0x80, 0x4000, 0x8000_0000, 0xFFFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, 0x1234_5678_9ABC_DEF0}
	setters := [][]byte{
		{0xF6, 0xC7, 0x40},                   // test bh, 0x40
		{0xF6, 0xC3, 0x01},                   // test bl, 1
		{0x84, 0xDF},                         // test bh, bl
		{0xA8, 0x80},                         // test al, 0x80
		{0x66, 0xF7, 0xC3, 0x00, 0x40},       // test bx, 0x4000
		{0xF7, 0xC3, 0x00, 0x00, 0x00, 0x80}, // test ebx, 0x80000000
		{0x85, 0xDB},                         // test ebx, ebx
		{0x85, 0xCB},                         // test ebx, ecx
		{0xA9, 0x01, 0x00, 0x00, 0x00},       // test eax, 1
		{0x83, 0xE3, 0x01},                   // and ebx, 1: not paired
	}
	setters64 := [][]byte{
		{0x48, 0x85, 0xDB},                         // test rbx, rbx
		{0x48, 0xF7, 0xC3, 0x00, 0x00, 0x00, 0x80}, // test rbx, -0x80000000
		{0x40, 0xF6, 0xC6, 0x01},                   // test sil, 1
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		ss := setters
		if mode == mode64 {
			ss = append(append([][]byte{}, setters...), setters64...)
		}
		cmovs := [][]byte{{0x0F, 0x40, 0xCA}, {0x0F, 0x40, 0xD1}, {0x66, 0x0F, 0x40, 0xCA}} // cmovcc ecx, edx; edx, ecx; cx, dx
		if mode == mode64 {
			cmovs = append(cmovs, []byte{0x48, 0x0F, 0x40, 0xCA}, []byte{0x4C, 0x0F, 0x40, 0xC2}) // rcx, rdx; r8, rdx
		}
		for _, s := range ss {
			for cc := byte(0); cc < 16; cc++ {
				for _, cm := range cmovs {
					cm = append([]byte{}, cm...)
					cm[len(cm)-2] += cc
					code := append(append(append([]byte{}, s...), cm...), 0x0F, 0x9A, 0xC0, 0x0F, 0x98, 0xC4, 0x0F, 0x94, 0xC6, 0xF4) // setp al; sets ah; setz dh; hlt
					for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
						if in.nret == 2 {
							formed++
						}
					}
					for _, x := range vals {
						for _, y := range vals {
							for _, fl := range []uint64{0, arch.FlagsArith} {
								var g [16]uint64
								g[arch.RCX], g[arch.RBX], g[arch.RDX], g[arch.RAX], g[arch.RSI], g[arch.R8] = x, y, ^x, x^y, y>>8, x<<1
								whole, fw, nw := h.runHead(code, g, fl, false)
								split, fs, ns := h.runHead(code, g, fl, true)
								if !reflect.DeepEqual(whole, split) || fw != fs || nw != ns {
									t.Fatalf("mode %d code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
										mode, code, x, y, fl, whole, fw, nw, split, fs, ns)
								}
							}
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 500, "TEST+CMOVcc pairs formed")
}

// TestRegMovPairs checks register-move pairs (exec_pair.go
// regMovPairable: two of MOV r,r, MOV r,imm and LEA r,[base+disp], one
// entry) through Run's fast path, whole blocks, against one instruction
// at a time, every first form against every second (so that the second
// reads or overwrites the first's destination, or not), 32 and 64 bits
// (32-bit writes zero-extend); 16-bit forms, LEA with an index, a 32-bit
// address into a 64-bit register and RIP-relative LEA are not paired but
// must run the same. It requires the pairs to be formed.
func TestRegMovPairs(t *testing.T) {
	vals := []uint64{0, 1, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF, 0x8000_0000_0000_0000, ^uint64(0), 0x1234_5678_9ABC_DEF0}
	forms := [][]byte{
		{0x89, 0xD9},                         // mov ecx, ebx
		{0x8B, 0xD1},                         // mov edx, ecx
		{0x89, 0xC9},                         // mov ecx, ecx
		{0xB9, 0x00, 0x00, 0x00, 0x80},       // mov ecx, 0x80000000
		{0xC7, 0xC2, 0xFF, 0xFF, 0xFF, 0xFF}, // mov edx, -1 (C7 /0)
		{0x8D, 0x4B, 0xFF},                   // lea ecx, [rbx-1]
		{0x8D, 0x91, 0x00, 0x00, 0x00, 0x80}, // lea edx, [rcx-0x80000000]
		{0x8D, 0x14, 0x0B},                   // lea edx, [rbx+rcx]: not paired
		{0x66, 0x89, 0xD9},                   // mov cx, bx: not paired
		{0x66, 0xBA, 0x34, 0x12},             // mov dx, 0x1234: not paired
	}
	forms64 := [][]byte{
		{0x48, 0x89, 0xD9}, // mov rcx, rbx
		{0x48, 0xBA, 0xF0, 0xDE, 0xBC, 0x9A, 0x78, 0x56, 0x34, 0x12}, // mov rdx, imm64
		{0x48, 0xC7, 0xC1, 0x00, 0x00, 0x00, 0x80},                   // mov rcx, -0x80000000
		{0x48, 0x8D, 0x51, 0x40},                                     // lea rdx, [rcx+0x40]
		{0x49, 0x8D, 0x48, 0xC0},                                     // lea rcx, [r8-0x40]
		{0x44, 0x89, 0xC2},                                           // mov edx, r8d
		{0x67, 0x48, 0x8D, 0x4B, 0x01},                               // lea rcx, [ebx+1]: not paired
		{0x48, 0x8D, 0x0D, 0x10, 0x00, 0x00, 0x00},                   // lea rcx, [rip+0x10]: not paired
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		fs := forms
		if mode == mode64 {
			fs = append(append([][]byte{}, forms...), forms64...)
		}
		for _, a := range fs {
			for _, b := range fs {
				code := append(append(append([]byte{}, a...), b...), 0xF4)
				if fast := h.c.fastInsts(decodeAll(t, h.c, code)); fast[0].nret == 2 {
					formed++
				}
				for _, x := range vals {
					for _, y := range vals[:5] {
						var g [16]uint64
						g[arch.RCX], g[arch.RBX], g[arch.RDX], g[arch.R8] = x, y, x^y, y<<7^x
						whole, fw, nw := h.runHead(code, g, 0, false)
						split, fs2, ns := h.runHead(code, g, 0, true)
						if !reflect.DeepEqual(whole, split) || fw != fs2 || nw != ns {
							t.Fatalf("mode %d code % x rcx=%#x rbx=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
								mode, code, x, y, whole, fw, nw, split, fs2, ns)
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 150, "register-move pairs formed")
}

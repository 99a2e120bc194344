package cpu

import (
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestHeads checks the heads (exec_head.go: one or two register
// instructions run in the entry of the fused setter+Jcc after them)
// against the same instructions executed one at a time: registers,
// flags (read back through SETcc after the branch), RIP, the instruction
// count and faults must agree. The heads come with and without a size
// prefix, on the setter's registers or others, with immediates at the
// edges of the 32-bit sign extension; the setters include INC and DEC,
// which keep the head's CF (and must not take a head that ends in SUB,
// MOV, LEA, INC or DEC). In 32-bit mode a CS limit just past the code
// makes a taken Jcc fault: #GP at the Jcc with the head and the setter
// retired. The test also requires that heads are formed (fast entries of
// three and four instructions).
func TestHeads(t *testing.T) {
	vals := []uint64{0, 1, 0x80, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
		0x8000000000000000, ^uint64(0), 0x1234_5678_9ABC_DEF0}
	// Heads with ECX or EDX as destination (EBX, ESI as sources).
	heads := [][]byte{
		{0x89, 0xD9},                         // mov ecx, ebx
		{0x8B, 0xD3},                         // mov edx, ebx
		{0x8D, 0x4B, 0xFF},                   // lea ecx, [rbx-1] / [ebx-1]
		{0x8D, 0x96, 0x00, 0x00, 0x00, 0x80}, // lea edx, [rsi-0x80000000]
		{0x8D, 0x0C, 0x1E},                   // lea ecx, [rsi+rbx]: not a head
		{0x83, 0xC1, 0x01},                   // add ecx, 1
		{0x83, 0xE9, 0x80},                   // sub ecx, -0x80
		{0x81, 0xEA, 0x00, 0x00, 0x00, 0x80}, // sub edx, 0x80000000 (64 bits: not a head)
		{0x81, 0xE1, 0x00, 0x10, 0x02, 0x00}, // and ecx, 0x21000
		{0x83, 0xCA, 0xF0},                   // or edx, -0x10
		{0x81, 0xF1, 0xFF, 0x00, 0x00, 0x80}, // xor ecx, 0x800000ff
		{0x83, 0xF9, 0x05},                   // cmp ecx, 5: not a head
		{0x83, 0xD1, 0x01},                   // adc ecx, 1: not a head
		{0xFF, 0xC1},                         // inc ecx
		{0xFF, 0xCA},                         // dec edx
		{0x4A},                               // dec edx (not in 64-bit mode)
		{0x89, 0xD9, 0xFF, 0xC1},             // mov ecx, ebx; inc ecx
		{0x89, 0xD9, 0x81, 0xE1, 0x00, 0x10, 0x02, 0x00},       // mov ecx, ebx; and ecx, 0x21000
		{0x89, 0xD9, 0x83, 0xEA, 0x04},                         // mov ecx, ebx; sub edx, 4 (another register)
		{0x83, 0xC2, 0x04, 0x81, 0xE2, 0xFC, 0x0F, 0x00, 0x00}, // add edx, 4; and edx, 0xffc
		{0x8D, 0x53, 0x10, 0x83, 0xC2, 0x80},                   // lea edx, [rbx+0x10]; add edx, -0x80
		{0x83, 0xE9, 0x01, 0x83, 0xF1, 0x7F},                   // sub ecx, 1; xor ecx, 0x7f
		{0x09, 0xF1, 0x83, 0xC1, 0x01},                         // or ecx, esi; add ecx, 1
		{0x09, 0xDA, 0x81, 0xC2, 0x00, 0x00, 0x00, 0x80},       // or edx, ebx; add edx, -0x80000000
		{0x09, 0xF2, 0x83, 0xEA, 0x80},                         // or edx, esi; sub edx, -0x80
		{0x09, 0xD9, 0xFF, 0xC9},                               // or ecx, ebx; dec ecx
		{0x09, 0xC9, 0x83, 0xC1, 0x7F},                         // or ecx, ecx; add ecx, 0x7f
		{0x09, 0xF1, 0x83, 0xE1, 0x0F},                         // or ecx, esi; and ecx, 15 (the AND alone)
		{0x09, 0xF2, 0x83, 0xC1, 0x01},                         // or edx, esi; add ecx, 1 (another register)
		{0x09, 0xCE, 0x83, 0xC1, 0x01},                         // or esi, ecx; add ecx, 1 (the OR's source: add alone)
	}
	setters := [][]byte{
		{0x81, 0xF9, 0x00, 0x00, 0x02, 0x00}, // cmp ecx, 0x20000
		{0x85, 0xCA},                         // test edx, ecx
		{0x21, 0xD1},                         // and ecx, edx
		{0x29, 0xCA},                         // sub edx, ecx
		{0xA9, 0x00, 0x00, 0x00, 0x10},       // test eax, 0x10000000
		{0xFF, 0xC9},                         // dec ecx
		{0xFF, 0xC2},                         // inc edx
	}
	// Each Jcc jumps over the code's HLT to the one after it (harness
	// stepN), which the CS limit leaves out when limited.
	jccs := [][]byte{{0x74, 0x01}, {0x7C, 0x01}, {0x0F, 0x87, 0x01, 0x00, 0x00, 0x00}}
	for _, mode := range []uint8{mode32, mode64} {
		for _, limited := range []bool{false, true} {
			if limited && mode == mode64 {
				continue
			}
			h := newHarness(mode)
			formed, faults := 0, 0
			var pfx [][]byte
			pfx = append(pfx, nil, []byte{0x66})
			if mode == mode64 {
				pfx = append(pfx, []byte{0x48})
			}
			for _, hd := range heads {
				if mode == mode64 && hd[0]&0xF0 == 0x40 {
					continue
				}
				for _, s := range setters {
					for _, p := range pfx {
						hp := prefixEach(hd, p)
						sp := prefixEach(s, p)
						if hp == nil || sp == nil {
							continue
						}
						for _, j := range jccs {
							code := append(append(append(append([]byte{}, hp...), sp...), j...), 0xF4)
							if limited {
								h.base.Seg[arch.CS].Limit = uint32(harnessCode + len(code) - 1)
								h.newCPU()
							}
							fast := h.c.fastInsts(decodeAll(t, h.c, code))
							if fast[0].nret > 2 {
								formed++
							}
							for _, a := range vals {
								for _, b := range vals[:3] {
									for _, fl := range []uint64{0, arch.FlagsArith} {
										var g [16]uint64
										g[arch.RCX], g[arch.RBX], g[arch.RDX], g[arch.RSI], g[arch.RAX] = a, b, a^b, b<<5^a, a+b
										whole, fw, nw := h.runHead(code, g, fl, false)
										split, fs, ns := h.runHead(code, g, fl, true)
										if fw == int(arch.VecGP) {
											faults++
										}
										if !reflect.DeepEqual(whole, split) || fw != fs || nw != ns {
											t.Fatalf("mode %d limited %v code % x rcx=%#x rbx=%#x flags=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
												mode, limited, code, a, b, fl, whole, fw, nw, split, fs, ns)
										}
									}
								}
							}
						}
					}
				}
			}
			require.Greater(t, formed, 100, "mode %d: entries with heads formed", mode)
			if limited {
				require.Greater(t, faults, 100, "#GP at the Jcc")
			}
		}
	}
}

// prefixEach puts prefix p before each instruction of the head or setter
// code (nil when code cannot take it: a 66 prefix shortens an imm32 to
// imm16, which the test leaves out).
func prefixEach(code, p []byte) []byte {
	if p == nil {
		return code
	}
	tb := buildTables()
	var out []byte
	for len(code) > 0 {
		var in Inst
		if !tb.decode(code, mode32, &in) {
			return nil
		}
		n := int(in.len)
		if p[0] == 0x66 && (code[0] == 0x81 || code[0] == 0xA9 || code[0] == 0x8D && n == 6) {
			return nil
		}
		out = append(append(out, p...), code[:n]...)
		code = code[n:]
	}
	return out
}

// decodeAll decodes code (in c's mode) up to its first HLT.
func decodeAll(t *testing.T, c *CPU, code []byte) []Inst {
	t.Helper()
	tb := buildTables()
	var out []Inst
	for len(code) > 0 && code[0] != 0xF4 {
		var in Inst
		require.True(t, tb.decode(code, c.codeMode, &in))
		out = append(out, in)
		code = code[in.len:]
	}
	return out
}

// runHead runs code from the state gpr, flags through Run's fast path
// (whole blocks) or one instruction at a time (steps) until it halts or
// faults, and returns the state, the first exception's vector (-1 for
// none) and the instructions retired.
func (h *harness) runHead(code []byte, gpr [16]uint64, flags uint64, steps bool) (arch.State, int, uint64) {
	h.stepN(code, gpr, flags, 0)
	c0 := h.c.Icount
	if steps {
		for i := 0; i < 12 && !h.c.halted && !h.c.IsShutdown(); i++ {
			h.c.Run(1)
		}
	} else {
		h.c.Run(12)
	}
	return h.c.GetState(), h.fault, h.c.Icount - c0
}

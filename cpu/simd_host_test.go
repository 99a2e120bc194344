//go:build amd64

package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu/internal/hostexec"
)

// simdPatterns are edge values for a 64-bit chunk of an MMX or XMM
// operand: zero, all ones, the signed and unsigned saturation boundaries
// of bytes, words and doublewords, and alternating bits.
var simdPatterns = [...]uint64{
	0, ^uint64(0), 0x8080808080808080, 0x7F7F7F7F7F7F7F7F, 0x8000800080008000,
	0x7FFF7FFF7FFF7FFF, 0x8000000080000000, 0x7FFFFFFF7FFFFFFF, 0x0001000100010001,
	0xFF00FF00FF00FF00, 0x5555555555555555, 0x0102030405060708, 0x8000000000000000,
}

// simdCounts are shift counts for the low quadword of a count operand.
var simdCounts = [...]uint64{0, 1, 7, 8, 15, 16, 17, 31, 32, 33, 63, 64, 65, 1 << 40}

type simdCase struct {
	r   hostexec.Regs
	mem [32]uint64
}

func simdCases(in *hostexec.Inst) []simdCase {
	rng := rand.New(rand.NewSource(int64(len(in.Asm))*31 + int64(in.Code[len(in.Code)-1])))
	chunk := func() uint64 {
		if rng.Intn(3) == 0 {
			return rng.Uint64()
		}
		return simdPatterns[rng.Intn(len(simdPatterns))]
	}
	var cs []simdCase
	for i := 0; i < 160; i++ {
		var tc simdCase
		tc.r = hostexec.Regs{RAX: chunk(), RBX: chunk(), RCX: rng.Uint64(), RDX: rng.Uint64(), RSI: rng.Uint64(), RFLAGS: rng.Uint64() & hostexec.FlagsIn}
		for k := range tc.r.X {
			tc.r.X[k] = [2]uint64{chunk(), chunk()}
		}
		tc.r.MM = [2]uint64{chunk(), chunk()}
		for k := range tc.mem {
			tc.mem[k] = chunk()
		}
		if i%2 == 0 { // a count operand that means something
			n := simdCounts[rng.Intn(len(simdCounts))]
			tc.r.X[1][0], tc.r.MM[1], tc.mem[8] = n, n, n
		}
		cs = append(cs, tc)
	}
	return cs
}

// TestSIMDAgainstHost runs every MMX and SSE/SSE2 instruction of the
// hostexec table natively and in the interpreter with the same bytes and
// inputs, and compares the GPRs, XMM0-3/XMM8, MM0/MM1, the flags and the
// memory. The interpreter also has to leave the x87 state as every MMX
// instruction does (SDM Vol. 1 9.5.1: TOS 0, all tags valid).
func TestSIMDAgainstHost(t *testing.T) {
	hs := []*harness{newHarness(mode64), newHarness(mode32)}
	for _, h := range hs {
		h.base.CR4 |= arch.CR4OSFXSR
		h.newCPU()
	}
	n, total := 0, 0
	for i := range hostexec.Insts() {
		in := &hostexec.Insts()[i]
		if !in.SIMD() || in.Kind == "ssefp" { // ssefp: TestSSEFPAgainstHost
			continue
		}
		n++
		fails := 0
		for _, tc := range simdCases(in) {
			for _, h := range hs {
				code := in.Code
				if h.mode == mode32 {
					var ok bool
					if code, ok = legacyForm(in); !ok {
						continue
					}
				}
				total++
				if msg := compareSIMD(h, in, code, tc); msg != "" {
					fails++
					if fails <= 3 {
						t.Errorf("%s [%s, %d-bit mode]: %s", in.Asm, hexBytes(code), map[uint8]int{mode64: 64, mode32: 32}[h.mode], msg)
					}
				}
			}
		}
	}
	require.Greater(t, n, 400, "SIMD entries in the host table")
	t.Logf("%d SIMD instructions, %d cases", n, total)
}

func compareSIMD(h *harness, in *hostexec.Inst, code []byte, tc simdCase) string {
	hr := tc.r
	hostexec.Mem = tc.mem
	in.Run(&hr)
	hmem := hostexec.Mem

	var gpr [16]uint64
	gpr[arch.RAX], gpr[arch.RBX], gpr[arch.RCX], gpr[arch.RDX], gpr[arch.RSI] = tc.r.RAX, tc.r.RBX, tc.r.RCX, tc.r.RDX, tc.r.RSI
	gpr[arch.R8] = harnessData
	gpr[arch.RSP] = 0x8000
	d := h.data()
	for i, v := range tc.mem {
		binary.LittleEndian.PutUint64(d[8*i:], v)
	}
	h.c.fpu.reset()
	h.c.fpu.xmm = [16][2]uint64{}
	for k, r := range hostexec.XMMRegs {
		h.c.fpu.xmm[r] = tc.r.X[k]
	}
	h.c.fpu.st = [8]fpReg{}
	h.c.fpu.st[0].mant, h.c.fpu.st[1].mant = tc.r.MM[0], tc.r.MM[1]
	h.c.fpu.fsw = 5 << 11 // TOS; an MMX instruction resets it
	s, fault := h.step(code, gpr, tc.r.RFLAGS)
	inputs := fmt.Sprintf("in RAX=%#x RBX=%#x X=%#x MM=%#x mem[64]=%#x", tc.r.RAX, tc.r.RBX, tc.r.X, tc.r.MM, tc.mem[8:10])
	if fault >= 0 {
		return fmt.Sprintf("%s: interpreter raised vector %d (%s)", inputs, fault, h.c.fault.Rule)
	}
	if want := uint64(harnessCode + len(code)); s.RIP != want {
		return fmt.Sprintf("%s: RIP %#x, want %#x", inputs, s.RIP, want)
	}
	mask := ^uint64(0)
	if h.mode == mode32 {
		mask = 0xFFFFFFFF
	}
	var bad []string
	hostVals := []uint64{hr.RAX, hr.RBX, hr.RCX, hr.RDX, hr.RSI}
	for i, ri := range regIdx {
		if (s.GPR[ri]^hostVals[i])&mask != 0 {
			bad = append(bad, fmt.Sprintf("%s=%#x want %#x", regNames[i], s.GPR[ri], hostVals[i]))
		}
	}
	for k, r := range hostexec.XMMRegs {
		if h.mode == mode32 && r >= 8 {
			continue
		}
		if got := h.c.fpu.xmm[r]; got != hr.X[k] {
			bad = append(bad, fmt.Sprintf("xmm%d=%#x want %#x", r, got, hr.X[k]))
		}
	}
	mmx := in.Kind == "mmx" || in.Asm[:6] == "movq2d" || in.Asm[:6] == "movdq2"
	for k := 0; k < 2; k++ {
		if got := h.c.fpu.st[k].mant; got != hr.MM[k] {
			bad = append(bad, fmt.Sprintf("mm%d=%#x want %#x", k, got, hr.MM[k]))
		}
	}
	if mmx {
		if top := h.c.fpu.fsw >> 11 & 7; top != 0 || h.c.fpu.ftw != 0xFF {
			bad = append(bad, fmt.Sprintf("x87 TOS %d tags %#x after an MMX instruction, want 0 and all valid", top, h.c.fpu.ftw))
		}
	}
	for i := range tc.mem {
		if got := binary.LittleEndian.Uint64(d[8*i:]); got != hmem[i] {
			bad = append(bad, fmt.Sprintf("mem[%d]=%#x want %#x", 8*i-64, got, hmem[i]))
		}
	}
	if gf, hf := s.RFLAGS&arch.FlagsArith, hr.RFLAGS&arch.FlagsArith; gf != hf {
		bad = append(bad, fmt.Sprintf("flags=%s want %s", flagStr(gf), flagStr(hf)))
	}
	if len(bad) > 0 {
		return fmt.Sprintf("%s: %v", inputs, bad)
	}
	return ""
}

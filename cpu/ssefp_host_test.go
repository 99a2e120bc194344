//go:build amd64 && linux

package cpu

import (
	"encoding/binary"
	"fmt"
	"math"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu/internal/hostexec"
)

// Edge operands of the SSE floating-point oracle (SDM Vol. 1 4.2.2, 4.8):
// zeros of both signs, the smallest and largest denormals, the smallest
// and largest normals, infinities, QNaNs and SNaNs of both signs with and
// without payload, the real indefinite, small integers, halves (halfway
// cases for the integer conversions), the integer range boundaries 2^31
// and 2^63, and values whose sums round at the halfway point.
var fpEdgesS = [...]uint32{
	0, 0x80000000, 1, 0x80000001, 0x007FFFFF, 0x807FFFFF, 0x00400000, 0x00800000, 0x80800000,
	0x7F7FFFFF, 0xFF7FFFFF, 0x7F800000, 0xFF800000, 0x7FC00000, 0xFFC00000, 0x7FC12345, 0xFFD00001,
	0x7F800001, 0xFFA00000, 0x7FBFFFFF, 0x3F800000, 0xBF800000, 0x3FC00000, 0xBFC00000, 0x40400000,
	0x3F000000, 0xBF000000, 0x40200000, 0xC0200000, 0x33800000, 0x33C00000, 0x3F800001, 0x4B800001,
	0x4F000000, 0xCF000000, 0x4EFFFFFF, 0xCF000001, 0x5F000000, 0xDF000000, 0x5EFFFFFF, 0xDF000001,
	0x7E800000, 0x7E800001, 0x01000000, 0x00FFFFFF, 0x3FFFFFFF, 0x34000000, 0x0C000000, 0x73000000,
}

var fpEdgesD = [...]uint64{
	0, 1 << 63, 1, 1<<63 | 1, 0x000FFFFFFFFFFFFF, 0x800FFFFFFFFFFFFF, 0x0008000000000000,
	0x0010000000000000, 0x8010000000000000, 0x7FEFFFFFFFFFFFFF, 0xFFEFFFFFFFFFFFFF,
	0x7FF0000000000000, 0xFFF0000000000000, 0x7FF8000000000000, 0xFFF8000000000000,
	0x7FF8123456789ABC, 0xFFFC000000000001, 0x7FF0000000000001, 0xFFF4000000000000,
	0x7FF7FFFFFFFFFFFF, 0x3FF0000000000000, 0xBFF0000000000000, 0x3FF8000000000000,
	0xBFF8000000000000, 0x4008000000000000, 0x3FE0000000000000, 0xBFE0000000000000,
	0x4004000000000000, 0xC004000000000000, 0x3CA0000000000000, 0x3CA8000000000000,
	0x3FF0000000000001, 0x41E0000000000000, 0xC1E0000000000000, 0x41DFFFFFFFC00000,
	0xC1E0000000200000, 0xC1E0000000100000, 0x41DFFFFFFFE00000, 0x43E0000000000000,
	0xC3E0000000000000, 0x43DFFFFFFFFFFFFF, 0xC3E0000000000001, 0x47EFFFFFE0000000,
	0x47EFFFFFF0000000, 0x36A0000000000000, 0x3690000000000000, 0x380FFFFFF0000000,
	0x3810000000000000, 0x7FE0000000000000, 0x0020000000000000, 0x3FFFFFFFFFFFFFFF,
}

var fpEdgesI = [...]uint64{
	0, 1, ^uint64(0), 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF80000000, 0x7FFFFFFFFFFFFFFF,
	1 << 63, 0x1000001, 0x1000003, 0xFFFFFFFFFEFFFFFF, 0x20000000000001, 0x20000000000003,
	0x7FFFFFC0, 0x7FFFFFBF, 0xFFFFFFFFFFFFFF80,
}

type fpOracle struct {
	rng *rand.Rand
}

func (o *fpOracle) single() uint32 {
	r := o.rng
	if r.Intn(3) == 0 {
		return fpEdgesS[r.Intn(len(fpEdgesS))]
	}
	var e uint32
	switch r.Intn(4) {
	case 0:
		e = uint32(r.Intn(256))
	case 1:
		e = uint32(127 - 30 + r.Intn(60))
	case 2:
		e = uint32(r.Intn(30))
	default:
		e = uint32(225 + r.Intn(31))
	}
	m := r.Uint32() & 0x7FFFFF
	if r.Intn(3) == 0 {
		m &^= 1<<uint(r.Intn(23)) - 1
	}
	return uint32(r.Intn(2))<<31 | e<<23 | m
}

func (o *fpOracle) double() uint64 {
	r := o.rng
	if r.Intn(3) == 0 {
		return fpEdgesD[r.Intn(len(fpEdgesD))]
	}
	var e uint64
	switch r.Intn(4) {
	case 0:
		e = uint64(r.Intn(2048))
	case 1:
		e = uint64(1023 - 70 + r.Intn(140))
	case 2:
		e = uint64(r.Intn(60))
	default:
		e = uint64(1990 + r.Intn(58))
	}
	m := r.Uint64() & (1<<52 - 1)
	if r.Intn(3) == 0 {
		m &^= 1<<uint(r.Intn(52)) - 1
	}
	return uint64(r.Intn(2))<<63 | e<<52 | m
}

func (o *fpOracle) integer() uint64 {
	r := o.rng
	if r.Intn(3) == 0 {
		return fpEdgesI[r.Intn(len(fpEdgesI))]
	}
	v := r.Uint64() >> uint(r.Intn(64))
	if r.Intn(2) == 0 {
		v = -v
	}
	return v
}

// chunk is a 64-bit operand chunk of the instruction's source type; a
// second chunk is often made close to the first (same exponent, or a
// neighbour) so that sums cancel and round at the halfway point.
func (o *fpOracle) chunk(typ byte, near uint64) uint64 {
	r := o.rng
	switch typ {
	case 's':
		a, b := uint64(o.single()), uint64(o.single())
		if near != 0 && r.Intn(3) == 0 {
			a = near&0xFFFFFFFF ^ uint64(r.Intn(4)) ^ uint64(r.Intn(50))<<23
			b = near>>32 ^ uint64(r.Intn(3))<<uint(r.Intn(24))
		}
		return a | b<<32
	case 'd':
		if near != 0 && r.Intn(3) == 0 {
			return near ^ uint64(r.Intn(4)) ^ uint64(r.Intn(60))<<52 ^ uint64(r.Intn(3))<<uint(r.Intn(53))
		}
		return o.double()
	case 'w': // two doublewords
		return o.integer()&0xFFFFFFFF | o.integer()<<32
	}
	return o.integer()
}

func (o *fpOracle) mxcsr() uint32 {
	r := o.rng
	mx := uint32(r.Intn(4)) << 13
	if r.Intn(4) == 0 {
		mx |= 1 << 15 // FTZ
	}
	if r.Intn(4) == 0 {
		mx |= 1 << 6 // DAZ
	}
	switch r.Intn(4) {
	case 0, 1:
		mx |= 0x1F80
	case 2:
		mx |= uint32(r.Intn(64)) << 7
	default:
		mx |= 0x1F80 &^ (1 << uint(7+r.Intn(6)))
	}
	if r.Intn(4) == 0 {
		mx |= uint32(r.Intn(64))
	}
	return mx
}

// fpSrcType is the element type of an instruction's sources: 's'
// single, 'd' double, 'i' integer in a GPR, 'w' packed doublewords.
func fpSrcType(asm string) byte {
	m := strings.Fields(asm)[0]
	switch {
	case strings.HasPrefix(m, "cvtsi2"):
		return 'i'
	case strings.HasPrefix(m, "cvtpi2"), strings.HasPrefix(m, "cvtdq2"):
		return 'w'
	case strings.Contains(m, "ss2"), strings.Contains(m, "ps2"):
		return 's'
	case strings.Contains(m, "sd2"), strings.Contains(m, "pd2"):
		return 'd'
	case strings.HasSuffix(m, "ps"), strings.HasSuffix(m, "ss"):
		return 's'
	}
	if strings.HasPrefix(m, "cmp") {
		if strings.Contains(m, "ps") || strings.Contains(m, "ss") {
			return 's'
		}
	}
	return 'd'
}

// TestSSEFPAgainstHost runs every SSE/SSE2 floating-point instruction of
// the hostexec table natively and in the interpreter with the same bytes,
// operands and MXCSR (rounding mode, FTZ, DAZ, exception masks, sticky
// flags) and compares the registers, memory, EFLAGS, MXCSR and, for an
// unmasked exception, that both raised #XM and left the destination
// unchanged. RCPPS/RCPSS/RSQRTPS/RSQRTSS are compared by their special
// cases and checked against the SDM's error bound otherwise (their exact
// values are implementation-specific; see fpApprox).
func TestSSEFPAgainstHost(t *testing.T) {
	if !hostexec.Available() {
		t.Skip("no host oracle")
	}
	h := newHarness(mode64)
	h.base.CR4 |= arch.CR4OSFXSR | arch.CR4OSXMMEXCPT
	h.newCPU()
	hUD := newHarness(mode64) // CR4.OSXMMEXCPT=0: #UD instead of #XM
	hUD.base.CR4 |= arch.CR4OSFXSR
	hUD.newCPU()
	n, total, traps := 0, 0, 0
	for i := range hostexec.Insts() {
		in := &hostexec.Insts()[i]
		if in.Kind != "ssefp" {
			continue
		}
		n++
		typ := fpSrcType(in.Asm)
		o := &fpOracle{rng: rand.New(rand.NewSource(int64(i)*7919 + 1))}
		fails := 0
		for k := 0; k < 1500; k++ {
			var r hostexec.Regs
			var mem [32]uint64
			r.MXCSR = o.mxcsr()
			r.RAX, r.RBX = o.integer(), o.integer()
			r.RFLAGS = o.rng.Uint64() & hostexec.FlagsIn
			first := o.chunk(typ, 0)
			for j := range r.X {
				r.X[j] = [2]uint64{o.chunk(typ, first), o.chunk(typ, first)}
			}
			r.X[0][0] = first
			r.MM = [2]uint64{o.chunk('w', 0), o.chunk('w', 0)}
			for j := range mem {
				mem[j] = o.chunk(typ, first)
			}
			hc := h
			if k%10 == 9 {
				hc = hUD
			}
			msg, trapped := compareFP(hc, in, r, mem)
			total++
			if trapped {
				traps++
			}
			if msg != "" {
				fails++
				if fails <= 3 {
					t.Errorf("%s [%s]: %s", in.Asm, hexBytes(in.Code), msg)
				}
			}
		}
		if fails > 3 {
			t.Errorf("%s: %d more mismatches", in.Asm, fails-3)
		}
	}
	require.Greater(t, n, 120, "ssefp entries in the host table")
	t.Logf("%d SSE floating-point instructions, %d cases (%d with #XM; %d RCP/RSQRT results within the SDM bound but not the host's value)", n, total, traps, fpApproxCases)
}

// fpApproxCases counts the RCP/RSQRT cases whose result differs from the
// host's but is within the SDM's bound.
var fpApproxCases int

func compareFP(h *harness, in *hostexec.Inst, r hostexec.Regs, mem [32]uint64) (string, bool) {
	hr := r
	hostexec.Mem = mem
	in.Run(&hr)
	hmem := hostexec.Mem

	var gpr [16]uint64
	gpr[arch.RAX], gpr[arch.RBX], gpr[arch.RCX], gpr[arch.RDX], gpr[arch.RSI] = r.RAX, r.RBX, r.RCX, r.RDX, r.RSI
	gpr[arch.R8] = harnessData
	gpr[arch.RSP] = 0x8000
	if h.c.IsShutdown() { // a fault of the previous case
		h.newCPU()
	}
	d := h.data()
	for i, v := range mem {
		binary.LittleEndian.PutUint64(d[8*i:], v)
	}
	h.c.fpu.reset()
	h.c.fpu.mxcsr = r.MXCSR
	h.c.fpu.xmm = [16][2]uint64{}
	for k, x := range hostexec.XMMRegs {
		h.c.fpu.xmm[x] = r.X[k]
	}
	h.c.fpu.st = [8]fpReg{}
	h.c.fpu.st[0].mant, h.c.fpu.st[1].mant = r.MM[0], r.MM[1]
	h.c.fpu.fsw = 5 << 11
	s, fault := h.step(in.Code, gpr, r.RFLAGS)
	inputs := fmt.Sprintf("in MXCSR=%#x X=%#x MM=%#x RAX=%#x mem[64]=%#x", r.MXCSR, r.X, r.MM, r.RAX, mem[8:10])
	var bad []string
	switch {
	case hr.XM != 0:
		want := arch.VecXM
		if h.base.CR4&arch.CR4OSXMMEXCPT == 0 {
			want = arch.VecUD
		}
		if fault != want {
			bad = append(bad, fmt.Sprintf("host raised #XM, interpreter vector %d", fault))
		}
	case fault >= 0:
		return fmt.Sprintf("%s: interpreter raised vector %d (%s), host did not", inputs, fault, h.c.fault.Rule), false
	default:
		if want := uint64(harnessCode + len(in.Code)); s.RIP != want {
			bad = append(bad, fmt.Sprintf("RIP %#x, want %#x", s.RIP, want))
		}
	}
	hostVals := []uint64{hr.RAX, hr.RBX, hr.RCX, hr.RDX, hr.RSI}
	for i, ri := range regIdx {
		if s.GPR[ri] != hostVals[i] {
			bad = append(bad, fmt.Sprintf("%s=%#x want %#x", regNames[i], s.GPR[ri], hostVals[i]))
		}
	}
	approx := strings.HasPrefix(in.Asm, "rcp") || strings.HasPrefix(in.Asm, "rsqrt")
	for k, x := range hostexec.XMMRegs {
		got := h.c.fpu.xmm[x]
		if got == hr.X[k] {
			continue
		}
		if approx && k == 0 && approxOK(in.Asm, got, hr.X[k], r.X[1], mem[8]) {
			fpApproxCases++
			continue
		}
		bad = append(bad, fmt.Sprintf("xmm%d=%#x want %#x", x, got, hr.X[k]))
	}
	for k := 0; k < 2; k++ {
		if got := h.c.fpu.st[k].mant; got != hr.MM[k] {
			bad = append(bad, fmt.Sprintf("mm%d=%#x want %#x", k, got, hr.MM[k]))
		}
	}
	// x87 state: the MMX-register forms enter MMX operation when they
	// complete (Vol. 2A CVTPI2PS & co.).
	mmForm := strings.Contains(in.Asm, "2pi ") || strings.Contains(in.Asm, "pi2") && strings.Contains(in.Asm, ", mm")
	top, tags := h.c.fpu.fsw>>11&7, h.c.fpu.ftw
	if mmForm && fault < 0 && (top != 0 || tags != 0xFF) || (!mmForm || fault >= 0) && (top != 5 || tags != 0) {
		bad = append(bad, fmt.Sprintf("x87 TOS %d tags %#x", top, tags))
	}
	for i := range mem {
		if got := binary.LittleEndian.Uint64(d[8*i:]); got != hmem[i] {
			bad = append(bad, fmt.Sprintf("mem[%d]=%#x want %#x", 8*i-64, got, hmem[i]))
		}
	}
	if gf, hf := s.RFLAGS&arch.FlagsArith, hr.RFLAGS&arch.FlagsArith; gf != hf {
		bad = append(bad, fmt.Sprintf("flags=%s want %s", flagStr(gf), flagStr(hf)))
	}
	if got := h.c.fpu.mxcsr; got != hr.MXCSR {
		bad = append(bad, fmt.Sprintf("MXCSR=%#x want %#x (%s / %s)", got, hr.MXCSR, mxFlagStr(got), mxFlagStr(hr.MXCSR)))
	}
	if len(bad) > 0 {
		return fmt.Sprintf("%s: %v", inputs, bad), hr.XM != 0
	}
	return "", hr.XM != 0
}

func mxFlagStr(mx uint32) string {
	var s []string
	for i, n := range []string{"IE", "DE", "ZE", "OE", "UE", "PE"} {
		if mx&(1<<i) != 0 {
			s = append(s, n)
		}
	}
	sort.Strings(s)
	return strings.Join(s, "|")
}

// approxOK accepts a different RCP/RSQRT result from the host's when both
// are finite nonzero normals of the same sign within the SDM's bound of
// the exact value (|relative error| <= 1.5 × 2^-12, Vol. 2B RCPPS).
func approxOK(asm string, got, want, src [2]uint64, m uint64) bool {
	scalar := strings.Contains(asm, "ss ")
	if strings.Contains(asm, "ptr") {
		src = [2]uint64{m}
	}
	for i := 0; i < 4; i++ {
		g, w := uint32(lane(got, 32, i)), uint32(lane(want, 32, i))
		if g == w {
			continue
		}
		if scalar && i > 0 {
			return false
		}
		e := g >> 23 & 0xFF
		if e == 0 || e == 0xFF || w>>23&0xFF == 0 || w>>23&0xFF == 0xFF || g>>31 != w>>31 {
			return false
		}
		x := float64(mathFloat32(uint32(lane(src, 32, i))))
		exact := 1 / x
		if strings.HasPrefix(asm, "rsqrt") {
			exact = 1 / sqrt64(x)
		}
		if rel := (float64(mathFloat32(g)) - exact) / exact; rel > 1.5/4096 || rel < -1.5/4096 {
			return false
		}
	}
	return true
}

func mathFloat32(b uint32) float32 { return math.Float32frombits(b) }
func sqrt64(x float64) float64     { return math.Sqrt(x) }

//go:build amd64

package cpu

import (
	"encoding/binary"
	"fmt"
	"math/big"
	"math/rand"
	"sort"
	"strings"
	"testing"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu/internal/hostexec"
)

// TestIntegerOpsAgainstHost runs every instruction of the hostexec table
// natively on the host CPU and in the interpreter, with the same bytes and
// the same inputs (edge operands and seeded random ones), and compares
// RAX, RBX, RCX, RDX, RSI, the six status flags and the memory operand.
//
// What the SDM defines is compared on any host. What the SDM leaves
// undefined (flags such as AF after AND, OF after multi-bit shifts, SF/ZF/
// AF/PF after MUL, all flags after DIV; BSF/BSR with a zero source; the
// result of a 16-bit BSWAP or of SHLD/SHRD r16 with a count above 16) is
// what current Intel cores do by the project's rule, so it is compared only
// when the host is an Intel CPU; on other hosts the differences are logged
// (undefinedDiffs) and do not fail the test.
func TestIntegerOpsAgainstHost(t *testing.T) {
	intel := hostexec.Vendor() == "GenuineIntel"
	t.Logf("host: %s, CPUID.1:EAX=%#x; undefined results compared: %v", hostexec.Vendor(), hostexec.Signature(), intel)
	h64 := newHarness(mode64)
	h32 := newHarness(mode32)
	total, undefDiffs := 0, map[string]int{}
	for i := range hostexec.Insts() {
		in := &hostexec.Insts()[i]
		if in.SIMD() {
			continue // TestSIMDAgainstHost
		}
		if !hostexec.Has(in.Feature) {
			t.Logf("skip %q: host lacks %s", in.Asm, in.Feature)
			continue
		}
		cases := hostCases(in)
		bmi := in.Feature == "bmi1" || in.Feature == "lzcnt"
		h64.setBMI(bmi)
		h32.setBMI(bmi)
		fails := 0
		for _, tc := range cases {
			total++
			for _, h := range []*harness{h64, h32} {
				code := in.Code
				if h.mode == mode32 {
					var ok bool
					if code, ok = legacyForm(in); !ok {
						continue
					}
				}
				msg, undef := compareWithHost(h, in, code, tc, intel)
				if undef != "" {
					undefDiffs[in.Asm+": "+undef]++
				}
				if msg != "" {
					fails++
					if fails <= 4 {
						t.Errorf("%s [%s, %d-bit mode]: %s", in.Asm, hexBytes(code), map[uint8]int{mode64: 64, mode32: 32}[h.mode], msg)
					}
				}
			}
		}
		if fails > 4 {
			t.Errorf("%s: %d more mismatches", in.Asm, fails-4)
		}
	}
	t.Logf("%d instructions, %d cases", len(hostexec.Insts()), total)
	if len(undefDiffs) > 0 {
		keys := make([]string, 0, len(undefDiffs))
		for k := range undefDiffs {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		var b strings.Builder
		for _, k := range keys {
			fmt.Fprintf(&b, "\n  %5d× %s", undefDiffs[k], k)
		}
		t.Logf("SDM-undefined results where this %s host differs from the interpreter (not failures off Intel):%s", hostexec.Vendor(), b.String())
	}
}

type hostCase struct {
	r   hostexec.Regs
	mem [32]uint64
}

func hexBytes(b []byte) string {
	s := make([]string, len(b))
	for i, x := range b {
		s[i] = fmt.Sprintf("%02X", x)
	}
	return strings.Join(s, " ")
}

// legacyForm returns the encoding to use in 32-bit mode: the same bytes
// when they have no REX prefix (the one-byte INC/DEC 40+r/48+r forms are
// covered by TestIncDecShortForms).
func legacyForm(in *hostexec.Inst) ([]byte, bool) {
	for _, b := range in.Code {
		switch {
		case b == 0x66 || b == 0xF2 || b == 0xF3:
			continue
		case b&0xF0 == 0x40:
			return nil, false
		}
		break
	}
	return in.Code, true
}

// edges returns edge operands of a size: 0, 1, 2, the sign boundaries,
// all-ones, all-ones minus one and alternating patterns.
func edges(size int) []uint64 {
	m := sizeMask(size)
	sb := uint64(1) << (size - 1)
	e := []uint64{0, 1, 2, sb - 1, sb, sb + 1, m, m - 1, 0x5555555555555555 & m, 0xAAAAAAAAAAAAAAAA & m, 0x0F & m, 0x10, 0x99}
	return e
}

func sizeMask(size int) uint64 {
	if size == 64 {
		return ^uint64(0)
	}
	return 1<<size - 1
}

// hostCases builds the inputs for one instruction: edge operands crossed
// with each other and with CF/AF clear and set, plus 30 seeded random ones.
// Bits above the operand size are random so merges and zero-extension show.
func hostCases(in *hostexec.Inst) []hostCase {
	rng := rand.New(rand.NewSource(int64(len(in.Asm))*7919 + int64(in.Code[len(in.Code)-1])))
	size := in.Size
	m := sizeMask(size)
	with := func(v uint64) uint64 { return rng.Uint64()&^m | v&m }
	randFlags := func() uint64 { return rng.Uint64() & hostexec.FlagsIn }
	var cs []hostCase
	mk := func(a, b, c, d uint64, f uint64) hostCase {
		var tc hostCase
		tc.r = hostexec.Regs{RAX: a, RBX: b, RCX: c, RDX: d, RSI: rng.Uint64(), RFLAGS: f}
		for i := range tc.mem {
			tc.mem[i] = rng.Uint64()
		}
		return tc
	}
	flagSets := []uint64{0, hostexec.FlagsIn}
	e := edges(size)
	switch in.Kind {
	case "shift", "shiftd":
		counts := []uint64{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 255,
			uint64(size - 1), uint64(size), uint64(size + 1)}
		for _, a := range e {
			for _, n := range counts {
				for _, f := range flagSets {
					cs = append(cs, mk(with(a), with(e[rng.Intn(len(e))]), rng.Uint64()&^0xFF|n, rng.Uint64(), f))
				}
			}
		}
		for i := 0; i < 30; i++ {
			cs = append(cs, mk(rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), randFlags()))
		}
	case "muldiv":
		for _, a := range e {
			for _, b := range e {
				for _, d := range []uint64{0, m, e[rng.Intn(len(e))], rng.Uint64()} {
					cs = append(cs, mk(with(a), with(b), rng.Uint64(), with(d), randFlags()))
				}
			}
		}
		for i := 0; i < 30; i++ {
			b := rng.Uint64()
			d := rng.Uint64()
			if i%2 == 0 && b&m != 0 {
				d = with((d & m) % (b & m)) // a quotient that fits (DIV)
			}
			cs = append(cs, mk(rng.Uint64(), b, rng.Uint64(), d, randFlags()))
		}
		cs = filterDivFaults(in, cs)
	case "bitmem":
		for _, off := range []int64{0, 1, -1, int64(size - 1), int64(size), -int64(size), -int64(size) - 1, 100, -100, 511, -512} {
			for _, f := range flagSets {
				cs = append(cs, mk(rng.Uint64(), with(uint64(off)), rng.Uint64(), rng.Uint64(), f))
			}
		}
		for i := 0; i < 30; i++ {
			off := int64(rng.Intn(1024) - 512)
			cs = append(cs, mk(rng.Uint64(), with(uint64(off)), rng.Uint64(), rng.Uint64(), randFlags()))
		}
	default: // bin, un, mem, cmpxchg, cmpxchgm
		for _, a := range e {
			for _, b := range e {
				for _, f := range flagSets {
					cs = append(cs, mk(with(a), with(b), rng.Uint64(), rng.Uint64(), f))
				}
			}
		}
		for i := 0; i < 30; i++ {
			cs = append(cs, mk(rng.Uint64(), rng.Uint64(), rng.Uint64(), rng.Uint64(), randFlags()))
		}
		if in.Kind == "cmpxchg" || in.Kind == "cmpxchgm" {
			// Equal accumulator and destination half of the time.
			for i := range cs {
				if i%2 == 0 {
					cs[i].r.RBX = cs[i].r.RBX&^m | cs[i].r.RAX&m
					cs[i].mem[8] = cs[i].mem[8]&^m | cs[i].r.RAX&m
					if strings.Contains(in.Asm, "bh") { // cmpxchg bh, ah: AL vs BH
						cs[i].r.RBX = cs[i].r.RBX&^0xFF00 | (cs[i].r.RAX&0xFF)<<8
					}
				}
			}
		}
		if in.Kind == "mem" || in.Kind == "cmpxchgm" {
			for i := range cs {
				if i%2 == 1 {
					cs[i].mem[8] = cs[i].r.RAX
				}
			}
		}
	}
	return cs
}

// filterDivFaults drops DIV/IDIV inputs that raise #DE (they would kill
// the test process natively); TestDivideErrors covers #DE. The rule is the
// SDM's (Vol. 2A DIV/IDIV): a zero divisor, or a quotient that does not fit
// the destination; computed here with math/big.
func filterDivFaults(in *hostexec.Inst, cs []hostCase) []hostCase {
	op := strings.Fields(in.Asm)[0]
	if op != "div" && op != "idiv" {
		return cs
	}
	var out []hostCase
	for _, tc := range cs {
		if !divFaults(op == "idiv", in.Size, tc.r.RDX, tc.r.RAX, tc.r.RBX) {
			out = append(out, tc)
		}
	}
	return out
}

// divFaults reports whether DIV/IDIV of size bits faults for the given
// registers (the dividend is AX for size 8, DX:AX ... RDX:RAX otherwise).
func divFaults(signed bool, size int, rdx, rax, src uint64) bool {
	m := sizeMask(size)
	var n, d big.Int
	if size == 8 {
		n.SetUint64(rax & 0xFFFF)
		if signed {
			n.SetInt64(int64(int16(rax)))
		}
	} else {
		hi := new(big.Int).SetUint64(rdx & m)
		n.Lsh(hi, uint(size)).Or(&n, new(big.Int).SetUint64(rax&m))
		if signed && rdx&m>>(size-1) != 0 {
			n.Sub(&n, new(big.Int).Lsh(big.NewInt(1), uint(2*size)))
		}
	}
	d.SetUint64(src & m)
	if signed && (src&m)>>(size-1) != 0 {
		d.Sub(&d, new(big.Int).Lsh(big.NewInt(1), uint(size)))
	}
	if d.Sign() == 0 {
		return true
	}
	q := new(big.Int).Quo(&n, &d) // truncates toward zero, as IDIV
	if signed {
		lim := new(big.Int).Lsh(big.NewInt(1), uint(size-1))
		return q.Cmp(lim) >= 0 || q.Cmp(new(big.Int).Neg(lim)) < 0
	}
	return q.Cmp(new(big.Int).SetUint64(m)) > 0
}

// undefinedFor returns, per the SDM's "Flags Affected" and "Operation"
// sections, the status flags the instruction leaves undefined for these
// inputs, and bits of the result registers that are undefined or
// vendor-specific (register index -> mask).
func undefinedFor(in *hostexec.Inst, r hostexec.Regs) (flags uint64, regs map[int]uint64) {
	op := strings.Fields(in.Asm)[0]
	size := uint64(in.Size)
	const (
		CF, PF, AF, ZF, SF, OF = arch.FlagCF, arch.FlagPF, arch.FlagAF, arch.FlagZF, arch.FlagSF, arch.FlagOF
	)
	count := func() uint64 {
		var n uint64
		f := strings.Split(in.Asm, ", ")
		switch {
		case strings.HasSuffix(in.Asm, ", cl"):
			n = r.RCX & 0xFF
			if op == "shld" || op == "shrd" {
				n = r.RCX & 0xFF
			}
		default:
			fmt.Sscan(f[len(f)-1], &n)
		}
		if size == 64 {
			return n & 63
		}
		return n & 31
	}
	switch op {
	case "and", "or", "xor", "test":
		return AF, nil
	case "shl", "shr", "sar":
		n := count()
		if n == 0 {
			return 0, nil
		}
		f := uint64(AF)
		if n != 1 {
			f |= OF
		}
		if op != "sar" && n >= size {
			f |= CF
		}
		return f, nil
	case "rol", "ror", "rcl", "rcr":
		if n := count(); n != 1 && n != 0 {
			return OF, nil
		}
		return 0, nil
	case "shld", "shrd":
		n := count()
		if n == 0 {
			return 0, nil
		}
		if n > size {
			return CF | PF | AF | ZF | SF | OF, map[int]uint64{arch.RAX: sizeMask(in.Size)}
		}
		f := uint64(AF)
		if n != 1 {
			f |= OF
		}
		return f, nil
	case "mul", "imul":
		return SF | ZF | AF | PF, nil
	case "div", "idiv":
		return CF | PF | AF | ZF | SF | OF, nil
	case "bt", "bts", "btr", "btc":
		return OF | SF | AF | PF, nil
	case "bsf", "bsr":
		f := uint64(CF | OF | SF | AF | PF)
		if r.RBX&sizeMask(in.Size) == 0 && in.Size == 32 {
			// The low 32 bits stay; whether the upper half of the 64-bit
			// register is cleared is vendor-specific.
			return f, map[int]uint64{arch.RAX: 0xFFFFFFFF00000000}
		}
		return f, nil
	case "tzcnt", "lzcnt":
		return OF | SF | AF | PF, nil
	case "bswap":
		if size == 16 {
			return 0, map[int]uint64{arch.RAX: 0xFFFF}
		}
	}
	return 0, nil
}

var regNames = []string{"RAX", "RBX", "RCX", "RDX", "RSI"}
var regIdx = []int{arch.RAX, arch.RBX, arch.RCX, arch.RDX, arch.RSI}

// compareWithHost runs one case on both and returns a failure message
// ("" if none) and a description of undefined-only differences.
func compareWithHost(h *harness, in *hostexec.Inst, code []byte, tc hostCase, strict bool) (string, string) {
	// Host.
	hr := tc.r
	hostexec.Mem = tc.mem
	in.Run(&hr)
	hmem := hostexec.Mem

	// Interpreter.
	var gpr [16]uint64
	gpr[arch.RAX], gpr[arch.RBX], gpr[arch.RCX], gpr[arch.RDX], gpr[arch.RSI] = tc.r.RAX, tc.r.RBX, tc.r.RCX, tc.r.RDX, tc.r.RSI
	gpr[arch.R8] = harnessData
	gpr[arch.RSP] = 0x8000
	d := h.data()
	for i, v := range tc.mem {
		binary.LittleEndian.PutUint64(d[8*i:], v)
	}
	s, fault := h.step(code, gpr, tc.r.RFLAGS)
	inputs := fmt.Sprintf("in RAX=%#x RBX=%#x RCX=%#x RDX=%#x flags=%#x", tc.r.RAX, tc.r.RBX, tc.r.RCX, tc.r.RDX, tc.r.RFLAGS&hostexec.FlagsIn)
	if fault >= 0 {
		return fmt.Sprintf("%s: interpreter raised vector %d (%s)", inputs, fault, h.c.fault.Rule), ""
	}
	if want := uint64(harnessCode + len(code)); s.RIP != want {
		return fmt.Sprintf("%s: RIP %#x, want %#x", inputs, s.RIP, want), ""
	}
	undefFlags, undefRegs := undefinedFor(in, tc.r)
	hostVals := []uint64{hr.RAX, hr.RBX, hr.RCX, hr.RDX, hr.RSI}
	var bad, undef []string
	for i, ri := range regIdx {
		got, want := s.GPR[ri], hostVals[i]
		mask := ^uint64(0)
		if h.mode == mode32 {
			mask = 0xFFFFFFFF // upper halves are not visible in 32-bit mode
		}
		u := undefRegs[ri] & mask
		if (got^want)&mask&^u != 0 || (strict && (got^want)&u != 0) {
			bad = append(bad, fmt.Sprintf("%s=%#x want %#x", regNames[i], got, want))
		} else if (got^want)&u != 0 {
			undef = append(undef, fmt.Sprintf("%s bits %#x", regNames[i], (got^want)&u))
		}
	}
	for i := range tc.mem {
		got := binary.LittleEndian.Uint64(d[8*i:])
		if got != hmem[i] {
			bad = append(bad, fmt.Sprintf("mem[%d]=%#x want %#x", 8*i-64, got, hmem[i]))
		}
	}
	gf, hf := s.RFLAGS&arch.FlagsArith, hr.RFLAGS&arch.FlagsArith
	if diff := gf ^ hf; diff&^undefFlags != 0 || (strict && diff != 0) {
		bad = append(bad, fmt.Sprintf("flags=%s want %s", flagStr(gf), flagStr(hf)))
	} else if diff != 0 {
		undef = append(undef, "flags "+flagStr(diff))
	}
	// The condition codes as Jcc/SETcc/CMOVcc read them straight from the
	// lazy record (fast paths in flags.go) must agree with the flags:
	// the host's where the flags they test are defined, else the
	// interpreter's own materialised ones.
	for cc := uint8(0); cc < 16; cc++ {
		ref := hf
		if condFlags[cc>>1]&undefFlags != 0 {
			ref = gf
		}
		if got, want := h.c.cond(cc), condOf(ref, cc); got != want {
			bad = append(bad, fmt.Sprintf("cond %#x = %v, want %v", cc, got, want))
		}
	}
	if len(bad) > 0 {
		return inputs + ": " + strings.Join(bad, ", "), ""
	}
	return "", strings.Join(undef, ", ")
}

// TestIncDecShortForms checks INC/DEC r16/r32 in their one-byte 40+r/48+r
// encodings (32-bit mode only) against the host executing the equivalent
// FF /0, FF /1 forms.
func TestIncDecShortForms(t *testing.T) {
	h := newHarness(mode32)
	short := map[string][]byte{
		"inc eax": {0x40}, "dec eax": {0x48}, "inc ax": {0x66, 0x40}, "dec ax": {0x66, 0x48},
	}
	n := 0
	for i := range hostexec.Insts() {
		in := &hostexec.Insts()[i]
		code, ok := short[in.Asm]
		if !ok {
			continue
		}
		for _, tc := range hostCases(in) {
			n++
			if msg, _ := compareWithHost(h, in, code, tc, true); msg != "" {
				t.Errorf("%s [%s]: %s", in.Asm, hexBytes(code), msg)
			}
		}
	}
	if n == 0 {
		t.Fatal("no INC/DEC entries in the host table")
	}
}

// TestDivideErrors checks the #DE rule of DIV and IDIV (SDM Vol. 2A DIV,
// IDIV: "If the source operand is 0 ... or if the quotient is too large
// for the designated register, a divide error (#DE) is generated"): the
// fault is raised and RAX, RDX are unchanged. Whether a case faults is
// decided by divFaults (math/big), not by the interpreter.
func TestDivideErrors(t *testing.T) {
	type dc struct {
		rax, rdx, src uint64
	}
	for _, size := range []int{8, 16, 32, 64} {
		m := sizeMask(size)
		sb := uint64(1) << (size - 1)
		cases := []dc{
			{1, 0, 0}, {0, 0, 0}, // divisor 0
			{0, 1, 1},                   // DIV: high half >= divisor
			{m, m - 1, m},               // DIV: fits (just)
			{0, m, m},                   // DIV: overflow
			{sb, m, m},                  // IDIV: MIN / -1 overflows
			{0, sb >> 1, 1},             // quotient 2^(2n-2): overflow
			{sb - 1, 0, 1},              // fits
			{sb, 0, 1},                  // IDIV overflow, DIV fits
			{(sb - 1) * 2, 0, 2},        // fits
			{^uint64(0), ^uint64(0), 2}, // IDIV: -1/2 = 0 fits
			{0x8000, 0, 0x80}, {0x7F80, 0, 0xFF}, {0x4000, 0, 0x80},
		}
		if size == 8 {
			// The dividend is AX.
			cases = append(cases, dc{0xFF00, 0, 0xFF}, dc{0x8000, 0, 0xFF}, dc{0x7FFF, 0, 0x7F}, dc{0x0100, 0, 2})
		}
		for _, signed := range []bool{false, true} {
			op := "div"
			reg := byte(6)
			if signed {
				op, reg = "idiv", 7
			}
			code := []byte{0xF7, 0xC0 | reg<<3 | 3} // div/idiv rbx/ebx/bx
			switch size {
			case 8:
				code = []byte{0xF6, 0xC0 | reg<<3 | 3}
			case 16:
				code = append([]byte{0x66}, code...)
			case 64:
				code = append([]byte{0x48}, code...)
			}
			faults := 0
			for _, tc := range cases {
				h := newHarness(mode64)
				var g [16]uint64
				g[arch.RAX], g[arch.RDX], g[arch.RBX] = tc.rax&m|0xABCD<<48, tc.rdx&m|0x1234<<48, tc.src&m
				if size == 8 {
					g[arch.RAX] = tc.rax&0xFFFF | 0xABCD<<48
				}
				want := divFaults(signed, size, g[arch.RDX], g[arch.RAX], g[arch.RBX])
				s, fault := h.step(code, g, 0)
				if want {
					faults++
					if fault != arch.VecDE {
						t.Errorf("%s %d-bit RDX:RAX=%#x:%#x / %#x: vector %d, want #DE", op, size, g[arch.RDX], g[arch.RAX], g[arch.RBX], fault)
					} else if s.GPR[arch.RAX] != g[arch.RAX] || s.GPR[arch.RDX] != g[arch.RDX] {
						t.Errorf("%s %d-bit: #DE changed RAX/RDX to %#x/%#x", op, size, s.GPR[arch.RAX], s.GPR[arch.RDX])
					}
				} else if fault >= 0 {
					t.Errorf("%s %d-bit RDX:RAX=%#x:%#x / %#x: vector %d, want no fault", op, size, g[arch.RDX], g[arch.RAX], g[arch.RBX], fault)
				}
			}
			if faults == 0 {
				t.Errorf("%s %d-bit: no faulting case in the table", op, size)
			}
		}
	}
}

// condFlags are the flags each condition pair (cc>>1) tests (SDM Vol. 1
// Appendix B, Table B-1).
var condFlags = [8]uint64{arch.FlagOF, arch.FlagCF, arch.FlagZF, arch.FlagCF | arch.FlagZF,
	arch.FlagSF, arch.FlagPF, arch.FlagSF | arch.FlagOF, arch.FlagZF | arch.FlagSF | arch.FlagOF}

// condOf evaluates condition cc from RFLAGS f per Table B-1.
func condOf(f uint64, cc uint8) bool {
	set := func(b uint64) bool { return f&b != 0 }
	var r bool
	switch cc >> 1 {
	case 0:
		r = set(arch.FlagOF)
	case 1:
		r = set(arch.FlagCF)
	case 2:
		r = set(arch.FlagZF)
	case 3:
		r = set(arch.FlagCF) || set(arch.FlagZF)
	case 4:
		r = set(arch.FlagSF)
	case 5:
		r = set(arch.FlagPF)
	case 6:
		r = set(arch.FlagSF) != set(arch.FlagOF)
	case 7:
		r = set(arch.FlagZF) || set(arch.FlagSF) != set(arch.FlagOF)
	}
	return r != (cc&1 != 0)
}

// TestFlagReadersAfterLazyOps runs pairs "setter; reader" where the reader
// consumes flags the setter left in the lazy record (CF for ADC, SBB, RCL,
// RCR, the preserved CF of INC/DEC, all of them for LAHF ...), both
// natively (one instruction after the other) and in the interpreter as one
// two-instruction block, and compares the final state.
func TestFlagReadersAfterLazyOps(t *testing.T) {
	readers := map[string]bool{
		"adc eax, ebx": true, "sbb al, bl": true, "adc rax, rbx": true, "sbb bx, ax": true,
		"inc ax": true, "dec rax": true, "inc al": true, "rcl eax, cl": true, "rcr al, 1": true,
		"rcr rax, 7": true, "lahf": true, "bt eax, 5": true, "adc rax, 0x7fffffff": true,
	}
	var rs, ss []*hostexec.Inst
	for i := range hostexec.Insts() {
		in := &hostexec.Insts()[i]
		if readers[in.Asm] {
			rs = append(rs, in)
		}
		if (in.Kind == "bin" || in.Kind == "un" || in.Kind == "shift") && in.Feature == "" {
			ss = append(ss, in)
		}
	}
	if len(rs) != len(readers) {
		t.Fatalf("found %d of %d readers in the host table", len(rs), len(readers))
	}
	intel := hostexec.Vendor() == "GenuineIntel"
	h := newHarness(mode64)
	rng := rand.New(rand.NewSource(99))
	n, fails := 0, 0
	for _, s := range ss {
		cs := hostCases(s)
		for _, r := range rs {
			readsAF := r.Asm == "lahf"
			for k := 0; k < 8; k++ {
				tc := cs[rng.Intn(len(cs))]
				uf, ur := undefinedFor(s, tc.r)
				if len(ur) > 0 || uf&^arch.FlagAF != 0 || (uf != 0 && readsAF && !intel) {
					continue
				}
				n++
				hr := tc.r
				hostexec.Mem = tc.mem
				s.Run(&hr)
				r.Run(&hr)
				var g [16]uint64
				g[arch.RAX], g[arch.RBX], g[arch.RCX], g[arch.RDX], g[arch.RSI] = tc.r.RAX, tc.r.RBX, tc.r.RCX, tc.r.RDX, tc.r.RSI
				g[arch.R8], g[arch.RSP] = harnessData, 0x8000
				code := append(append([]byte{}, s.Code...), r.Code...)
				st, fault := h.stepN(code, g, tc.r.RFLAGS, 2)
				mask := uint64(arch.FlagsArith)
				if !intel {
					mask &^= uf
				}
				got := []uint64{st.GPR[arch.RAX], st.GPR[arch.RBX], st.GPR[arch.RCX], st.GPR[arch.RDX], st.RFLAGS & mask}
				want := []uint64{hr.RAX, hr.RBX, hr.RCX, hr.RDX, hr.RFLAGS & mask}
				if fault >= 0 || st.RIP != uint64(harnessCode+len(code)) || fmt.Sprint(got) != fmt.Sprint(want) {
					if fails++; fails <= 10 {
						t.Errorf("%s; %s: RAX=%#x RBX=%#x RCX=%#x flags=%#x: got %#x (fault %d), want %#x",
							s.Asm, r.Asm, tc.r.RAX, tc.r.RBX, tc.r.RCX, tc.r.RFLAGS&hostexec.FlagsIn, got, fault, want)
					}
				}
			}
		}
	}
	t.Logf("%d setter/reader pairs run", n)
}

package cpu

import (
	"math"

	"github.com/vmxemu/vmxemu/arch"
)

// The SSE/SSE2 floating-point instructions (SDM Vol. 1 10.4.2, 11.4.1,
// 11.4.3; Vol. 2 instruction pages), computed exactly by
// exec_ssefp_soft.go. Exceptions follow Vol. 1 11.5.1-11.5.3 (and 4.9.2
// for their priority within an element):
//   - pre-computation exceptions (IE, DE, ZE) are found in every element
//     first; when one of them is unmasked, their flags are set, #XM is
//     raised and no result is stored;
//   - otherwise the results are computed; when a post-computation
//     exception (OE, UE, PE) is unmasked, every flag found is set, #XM is
//     raised and the destination is unchanged;
//   - otherwise the results are stored and the flags ORed into MXCSR.
//
// #XM needs CR4.OSXMMEXCPT=1; with 0 the exception is #UD (Vol. 3A
// 6.15 "Interrupt 19", 13.1.5).

// fpShape is one form of an instruction: its format and whether it works
// on the low element only (scalar) or on every element (packed).
type fpShape struct {
	f      fpFormat
	scalar bool
}

var (
	shPS = fpShape{fmtS, false}
	shSS = fpShape{fmtS, true}
	shPD = fpShape{fmtD, false}
	shSD = fpShape{fmtD, true}
)

func (s fpShape) lanes() int {
	if s.scalar {
		return 1
	}
	return int(128 / s.f.width)
}

// srcBytes is the size of the memory operand: 16 (aligned) packed, the
// element scalar.
func (s fpShape) srcBytes() int {
	if s.scalar {
		return int(s.f.width / 8)
	}
	return 16
}

func lane(v [2]uint64, w uint, i int) uint64 {
	if w == 64 {
		return v[i]
	}
	return v[i/2] >> (32 * (i % 2)) & 0xFFFFFFFF
}

func setLane(v *[2]uint64, w uint, i int, x uint64) {
	if w == 64 {
		v[i] = x
		return
	}
	sh := 32 * (i % 2)
	v[i/2] = v[i/2]&^(0xFFFFFFFF<<sh) | x<<sh
}

// readFPSrc reads the xmm/m source: n bytes of memory (16: aligned, Vol.
// 1 11.4.1; 4 and 8: no alignment), zero-extended.
func (c *CPU) readFPSrc(in *Inst, n int) ([2]uint64, bool) {
	if in.mod == 3 {
		return c.fpu.xmm[in.rm&15], true
	}
	switch n {
	case 4:
		v, ok := rd[uint32](c, in.seg, c.ea(in))
		return [2]uint64{uint64(v)}, ok
	case 8:
		v, ok := rd[uint64](c, in.seg, c.ea(in))
		return [2]uint64{v}, ok
	}
	return c.readXMM(in, true)
}

// fpCommit applies the exception rules above to the flags of all elements;
// it reports whether the results may be stored.
func (c *CPU) fpCommit(flags uint32) bool {
	unmasked := flags &^ (c.fpu.mxcsr >> mxMaskSh) & 0x3F
	if pre := flags & (mxIE | mxDE | mxZE); pre&unmasked != 0 {
		c.fpu.mxcsr |= pre
		c.raiseXM()
		return false
	}
	c.fpu.mxcsr |= flags
	if unmasked != 0 {
		c.raiseXM()
		return false
	}
	return true
}

func (c *CPU) raiseXM() {
	if c.CR4&arch.CR4OSXMMEXCPT == 0 {
		c.raiseUD("unmasked SIMD floating-point exception with CR4.OSXMMEXCPT=0", "Vol. 3A 6.15 Interrupt 19 / Vol. 1 11.5.1")
		return
	}
	c.raise(arch.Fault{Vector: arch.VecXM, Rule: "unmasked SIMD floating-point exception (MXCSR flag with its mask bit clear)", SDM: "Vol. 1 11.5.1 / Vol. 3A 6.15 Interrupt 19"})
}

func (c *CPU) daz() bool { return c.fpu.mxcsr&mxDAZ != 0 }

type fpBinOp func(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32)

// sseFPBinary: ADD/SUB/MUL/DIV/MIN/MAX PS/PD/SS/SD xmm1, xmm2/m (0F 58,
// 59, 5C, 5D, 5E, 5F); the scalar forms keep the destination's other
// elements.
func sseFPBinary(op fpBinOp, sh fpShape) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, sh.srcBytes())
		if !ok {
			return
		}
		d := c.fpu.xmm[in.reg&15]
		mx, daz, w := c.fpu.mxcsr, c.daz(), sh.f.width
		r := d
		var flags uint32
		for i := 0; i < sh.lanes(); i++ {
			x, fl := op(sh.f, unpackFP(sh.f, lane(d, w, i), daz), unpackFP(sh.f, lane(s, w, i), daz), mx)
			setLane(&r, w, i, x)
			flags |= fl
		}
		if c.fpCommit(flags) {
			c.fpu.xmm[in.reg&15] = r
		}
	}
}

func fpSub(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) {
	if !b.nan() {
		b.neg = !b.neg
	}
	return fpAdd(f, a, b, mx)
}

// fpMin/fpMax: MINPS & co. return the second operand when either is a NaN
// (QNaN too signals IE) or both are zeros (Vol. 2B MINPS/MAXPS
// Operation: DEST ← (SRC1 < SRC2) ? SRC1 : SRC2).
func fpMin(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) { return fpMinMax(f, a, b, -1) }
func fpMax(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) { return fpMinMax(f, a, b, 1) }

func fpMinMax(f fpFormat, a, b fpVal, want int) (uint64, uint32) {
	if a.nan() || b.nan() {
		return minMaxBits(f, b), mxIE
	}
	if fpCompare(a, b) == want {
		return minMaxBits(f, a), denFlag(a, b)
	}
	return minMaxBits(f, b), denFlag(a, b)
}

// minMaxBits: the selected operand as read (a DAZ-zeroed denormal is a
// zero).
func minMaxBits(f fpFormat, v fpVal) uint64 {
	if v.cls == fcZero {
		return f.sign(v.neg)
	}
	return v.bits
}

type fpUnOp func(f fpFormat, a fpVal, mx uint32) (uint64, uint32)

// sseFPUnary: SQRT PS/PD/SS/SD (0F 51), RSQRTPS/SS (0F 52), RCPPS/SS (0F
// 53).
func sseFPUnary(op fpUnOp, sh fpShape) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, sh.srcBytes())
		if !ok {
			return
		}
		mx, daz, w := c.fpu.mxcsr, c.daz(), sh.f.width
		r := c.fpu.xmm[in.reg&15]
		var flags uint32
		for i := 0; i < sh.lanes(); i++ {
			x, fl := op(sh.f, unpackFP(sh.f, lane(s, w, i), daz), mx)
			setLane(&r, w, i, x)
			flags |= fl
		}
		if c.fpCommit(flags) {
			c.fpu.xmm[in.reg&15] = r
		}
	}
}

// sseCmp: CMPccPS/PD/SS/SD xmm1, xmm2/m, imm8 (0F C2): predicates 0-7
// (Vol. 2A CMPPS Table 3-1): EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD; the
// ordered-signalling ones (LT, LE, NLT, NLE) signal IE for a QNaN too.
func sseCmp(sh fpShape) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, sh.srcBytes())
		if !ok {
			return
		}
		d := c.fpu.xmm[in.reg&15]
		daz, w, pred := c.daz(), sh.f.width, in.imm&7
		ones := uint64(1)<<w - 1
		if w == 64 {
			ones = ^uint64(0)
		}
		r := d
		var flags uint32
		for i := 0; i < sh.lanes(); i++ {
			a, b := unpackFP(sh.f, lane(d, w, i), daz), unpackFP(sh.f, lane(s, w, i), daz)
			var res bool
			if a.nan() || b.nan() {
				if a.cls == fcSNaN || b.cls == fcSNaN || pred&3 == 1 || pred&3 == 2 {
					flags |= mxIE
				}
				res = pred == 3 || pred == 4 || pred == 5 || pred == 6 // UNORD, NEQ, NLT, NLE
			} else {
				flags |= denFlag(a, b)
				o := fpCompare(a, b)
				switch pred {
				case 0:
					res = o == 0
				case 1:
					res = o < 0
				case 2:
					res = o <= 0
				case 4:
					res = o != 0
				case 5:
					res = o >= 0
				case 6:
					res = o > 0
				case 7:
					res = true
				}
			}
			var x uint64
			if res {
				x = ones
			}
			setLane(&r, w, i, x)
		}
		if c.fpCommit(flags) {
			c.fpu.xmm[in.reg&15] = r
		}
	}
}

// comis: COMISS/COMISD (0F 2F) and UCOMISS/UCOMISD (0F 2E) compare the low
// elements into ZF, PF, CF (unordered 111, greater 000, less 001, equal
// 100) and clear OF, SF, AF; COMIS* signal IE for a QNaN too, UCOMIS*
// only for an SNaN (Vol. 2A COMISS, UCOMISS).
func comis(sh fpShape, signalQNaN bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, sh.srcBytes())
		if !ok {
			return
		}
		daz, w := c.daz(), sh.f.width
		a, b := unpackFP(sh.f, lane(c.fpu.xmm[in.reg&15], w, 0), daz), unpackFP(sh.f, lane(s, w, 0), daz)
		var fl, flags uint32
		if a.nan() || b.nan() {
			if signalQNaN || a.cls == fcSNaN || b.cls == fcSNaN {
				flags = mxIE
			}
			fl = arch.FlagZF | arch.FlagPF | arch.FlagCF
		} else {
			flags = denFlag(a, b)
			switch fpCompare(a, b) {
			case -1:
				fl = arch.FlagCF
			case 0:
				fl = arch.FlagZF
			}
		}
		if c.fpCommit(flags) {
			mask := uint64(arch.FlagOF | arch.FlagSF | arch.FlagZF | arch.FlagAF | arch.FlagPF | arch.FlagCF)
			c.setFlagsArith(c.Flags()&^mask | uint64(fl))
		}
	}
}

// cvtsi2fp: CVTSI2SS/CVTSI2SD xmm, r/m32 or r/m64 (F3/F2 0F 2A; REX.W
// selects the 64-bit source): the low element, the rest kept.
func cvtsi2fp(f fpFormat) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		var v int64
		if in.opsz == 8 {
			x, ok := readRM[uint64](c, in)
			if !ok {
				return
			}
			v = int64(x)
		} else {
			x, ok := readRM[uint32](c, in)
			if !ok {
				return
			}
			v = int64(int32(x))
		}
		x, fl := intToFP(f, v, c.fpu.mxcsr)
		if c.fpCommit(fl) {
			setLane(&c.fpu.xmm[in.reg&15], f.width, 0, x)
		}
	}
}

// cvtfp2si: CVTSS2SI/CVTTSS2SI/CVTSD2SI/CVTTSD2SI r32/r64, xmm/m (F3/F2
// 0F 2D/2C).
func cvtfp2si(f fpFormat, trunc bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, int(f.width/8))
		if !ok {
			return
		}
		w := uint(32)
		if in.opsz == 8 {
			w = 64
		}
		x, fl := fpToInt(unpackFP(f, lane(s, f.width, 0), c.daz()), w, trunc, c.fpu.mxcsr)
		if c.fpCommit(fl) {
			c.GPR[in.reg&15] = x
		}
	}
}

// cvtFormat: CVTPS2PD (0F 5A; xmm/m64), CVTPD2PS (66 0F 5A; the high
// quadword cleared), CVTSS2SD (F3 0F 5A) and CVTSD2SS (F2 0F 5A; the other
// elements kept).
func cvtFormat(from, to fpFormat, scalar bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		n, lanes := 16, 2
		switch {
		case scalar:
			n, lanes = int(from.width/8), 1
		case from.width == 32:
			n = 8
		}
		s, ok := c.readFPSrc(in, n)
		if !ok {
			return
		}
		mx, daz := c.fpu.mxcsr, c.daz()
		r := c.fpu.xmm[in.reg&15]
		if !scalar {
			r = [2]uint64{}
		}
		var flags uint32
		for i := 0; i < lanes; i++ {
			x, fl := fpConvert(from, to, unpackFP(from, lane(s, from.width, i), daz), mx)
			setLane(&r, to.width, i, x)
			flags |= fl
		}
		if c.fpCommit(flags) {
			c.fpu.xmm[in.reg&15] = r
		}
	}
}

// cvtDQ2PS: CVTDQ2PS xmm, xmm/m128 (0F 5B).
func cvtDQ2PS(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s, ok := c.readFPSrc(in, 16)
	if !ok {
		return
	}
	var r [2]uint64
	var flags uint32
	for i := 0; i < 4; i++ {
		x, fl := intToFP(fmtS, int64(int32(lane(s, 32, i))), c.fpu.mxcsr)
		setLane(&r, 32, i, x)
		flags |= fl
	}
	if c.fpCommit(flags) {
		c.fpu.xmm[in.reg&15] = r
	}
}

// cvtFP2DQ: CVTPS2DQ (66 0F 5B), CVTTPS2DQ (F3 0F 5B), CVTPD2DQ (F2 0F
// E6) and CVTTPD2DQ (66 0F E6): packed to doublewords; from doubles the
// result is the low quadword and the high one is cleared.
func cvtFP2DQ(f fpFormat, trunc bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readFPSrc(in, 16)
		if !ok {
			return
		}
		var r [2]uint64
		flags := fpToInts(&r, s, f, 128/int(f.width), trunc, c.fpu.mxcsr)
		if c.fpCommit(flags) {
			c.fpu.xmm[in.reg&15] = r
		}
	}
}

func fpToInts(r *[2]uint64, s [2]uint64, f fpFormat, n int, trunc bool, mx uint32) uint32 {
	var flags uint32
	daz := mx&mxDAZ != 0
	for i := 0; i < n; i++ {
		x, fl := fpToInt(unpackFP(f, lane(s, f.width, i), daz), 32, trunc, mx)
		setLane(r, 32, i, x)
		flags |= fl
	}
	return flags
}

// cvtDQ2PD: CVTDQ2PD xmm, xmm/m64 (F3 0F E6): exact.
func cvtDQ2PD(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s, ok := c.readFPSrc(in, 8)
	if !ok {
		return
	}
	var r [2]uint64
	for i := 0; i < 2; i++ {
		r[i], _ = intToFP(fmtD, int64(int32(lane(s, 32, i))), 0)
	}
	c.fpu.xmm[in.reg&15] = r
}

// MMX-register conversions (Vol. 2A CVTPI2PS, CVTPI2PD, CVTPS2PI,
// CVTTPS2PI, CVTPD2PI, CVTTPD2PI): those that read or write an MMX
// register make the x87 FPU transition to MMX operation (TOS 0, every tag
// valid) and first report a pending x87 exception (#MF); CVTPI2PS and
// CVTPI2PD with a memory source do neither.

// cvtPI2P: CVTPI2PS xmm, mm/m64 (0F 2A; the high quadword kept) and
// CVTPI2PD xmm, mm/m64 (66 0F 2A).
func cvtPI2P(f fpFormat) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		var s uint64
		if in.mod == 3 {
			if !c.x87PendingCheck("CVTPI2PS/CVTPI2PD with an MMX register") {
				return
			}
			s = c.mmGet(in.rm)
		} else {
			var ok bool
			if s, ok = rd[uint64](c, in.seg, c.ea(in)); !ok {
				return
			}
		}
		r := c.fpu.xmm[in.reg&15]
		var flags uint32
		for i := 0; i < 2; i++ {
			x, fl := intToFP(f, int64(int32(s>>(32*i))), c.fpu.mxcsr)
			setLane(&r, f.width, i, x)
			flags |= fl
		}
		if !c.fpCommit(flags) {
			return
		}
		if in.mod == 3 {
			c.mmxEnter()
		}
		c.fpu.xmm[in.reg&15] = r
	}
}

// cvtP2PI: CVT(T)PS2PI mm, xmm/m64 (0F 2D/2C) and CVT(T)PD2PI mm,
// xmm/m128 (66 0F 2D/2C).
func cvtP2PI(f fpFormat, trunc bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() || !c.x87PendingCheck("CVTPS2PI/CVTPD2PI") {
			return
		}
		n := 8
		if f.width == 64 {
			n = 16
		}
		s, ok := c.readFPSrc(in, n)
		if !ok {
			return
		}
		var r [2]uint64
		flags := fpToInts(&r, s, f, 2, trunc, c.fpu.mxcsr)
		if c.fpCommit(flags) {
			c.mmxEnter()
			c.mmSet(in.reg, r[0])
		}
	}
}

// addSSEFP installs the floating-point rows of the 0F map (Vol. 2D Table
// A-3; the mandatory prefix selects PS/PD/SS/SD).
func addSSEFP(t *tables) {
	x := &t.map0F
	ent := func(name string, f uint32, h handler) *opEntry {
		return &opEntry{name: name, f: fModRM | fNoRep | f, h: one(h)}
	}
	forms := func(name string, f uint32, mk func(fpShape) handler) func(byte, *decoder) *opEntry {
		return byPfx(ent(name+"ps", f, mk(shPS)), ent(name+"pd", f, mk(shPD)), ent(name+"ss", f, mk(shSS)), ent(name+"sd", f, mk(shSD)))
	}
	for op, b := range map[byte]struct {
		name string
		op   fpBinOp
	}{0x58: {"add", fpAdd}, 0x59: {"mul", fpMul}, 0x5C: {"sub", fpSub}, 0x5D: {"min", fpMin}, 0x5E: {"div", fpDiv}, 0x5F: {"max", fpMax}} {
		x[op] = opEntry{name: "sse " + b.name, sel: forms(b.name, 0, func(sh fpShape) handler { return sseFPBinary(b.op, sh) })}
	}
	x[0x51] = opEntry{name: "sqrt", sel: forms("sqrt", 0, func(sh fpShape) handler { return sseFPUnary(fpSqrt, sh) })}
	x[0x52] = opEntry{name: "rsqrt", sel: byPfx(ent("rsqrtps", 0, sseFPUnary(fpRsqrt, shPS)), nil, ent("rsqrtss", 0, sseFPUnary(fpRsqrt, shSS)), nil)}
	x[0x53] = opEntry{name: "rcp", sel: byPfx(ent("rcpps", 0, sseFPUnary(fpRcp, shPS)), nil, ent("rcpss", 0, sseFPUnary(fpRcp, shSS)), nil)}
	x[0xC2] = opEntry{name: "cmp", sel: forms("cmp", fImm8, sseCmp)}
	x[0x2E] = opEntry{name: "ucomis", sel: byPfx(ent("ucomiss", 0, comis(shSS, false)), ent("ucomisd", 0, comis(shSD, false)), nil, nil)}
	x[0x2F] = opEntry{name: "comis", sel: byPfx(ent("comiss", 0, comis(shSS, true)), ent("comisd", 0, comis(shSD, true)), nil, nil)}
	x[0x2A] = opEntry{name: "cvt*2ps/pd/ss/sd", sel: byPfx(ent("cvtpi2ps", 0, cvtPI2P(fmtS)), ent("cvtpi2pd", 0, cvtPI2P(fmtD)),
		ent("cvtsi2ss", 0, cvtsi2fp(fmtS)), ent("cvtsi2sd", 0, cvtsi2fp(fmtD)))}
	for op, trunc := range map[byte]bool{0x2C: true, 0x2D: false} {
		x[op] = opEntry{name: "cvt*2pi/si", sel: byPfx(ent("cvtps2pi", 0, cvtP2PI(fmtS, trunc)), ent("cvtpd2pi", 0, cvtP2PI(fmtD, trunc)),
			ent("cvtss2si", 0, cvtfp2si(fmtS, trunc)), ent("cvtsd2si", 0, cvtfp2si(fmtD, trunc)))}
	}
	x[0x5A] = opEntry{name: "cvtps2pd", sel: byPfx(ent("cvtps2pd", 0, cvtFormat(fmtS, fmtD, false)), ent("cvtpd2ps", 0, cvtFormat(fmtD, fmtS, false)),
		ent("cvtss2sd", 0, cvtFormat(fmtS, fmtD, true)), ent("cvtsd2ss", 0, cvtFormat(fmtD, fmtS, true)))}
	x[0x5B] = opEntry{name: "cvtdq2ps", sel: byPfx(ent("cvtdq2ps", 0, cvtDQ2PS), ent("cvtps2dq", 0, cvtFP2DQ(fmtS, false)), ent("cvttps2dq", 0, cvtFP2DQ(fmtS, true)), nil)}
	x[0xE6] = opEntry{name: "cvtpd2dq", sel: byPfx(nil, ent("cvttpd2dq", 0, cvtFP2DQ(fmtD, true)), ent("cvtdq2pd", 0, cvtDQ2PD), ent("cvtpd2dq", 0, cvtFP2DQ(fmtD, false)))}
}

// RCPPS/RCPSS and RSQRTPS/RSQRTSS return approximations whose relative
// error the SDM bounds by |Error| <= 1.5 × 2^-12 (Vol. 2B RCPPS, RSQRTPS);
// the exact values are implementation-specific. vmxemu defines them as
// the reciprocal (or reciprocal square root) computed in binary64 and
// rounded to nearest-even to 12 significant bits (relative error at most
// 2^-12 + 2^-53), which is within the bound but is not the table of any
// particular processor. The special cases are the SDM's: MXCSR is
// neither read (rounding, DAZ, FTZ) nor updated; a zero or a denormal
// source gives an infinity of its sign; an infinity a zero of its sign; a
// NaN is returned quieted; a result too small for a normal is flushed to
// a zero of the source's sign (for RCP: every |x| >= 2^126, as on
// hardware whose approximation of 1/1.0 is below 1); RSQRT of a negative value other than -0 (a
// negative denormal is -0) returns the default QNaN.
func fpRcp(f fpFormat, a fpVal, mx uint32) (uint64, uint32) {
	return fpApprox(f, a, false), 0
}

func fpRsqrt(f fpFormat, a fpVal, mx uint32) (uint64, uint32) {
	return fpApprox(f, a, true), 0
}

func fpApprox(f fpFormat, a fpVal, rsqrt bool) uint64 {
	a = unpackFP(f, a.bits, true) // denormals are zeros here
	switch {
	case a.nan():
		return a.bits | f.quietBit()
	case a.cls == fcZero:
		return f.inf(a.neg)
	case rsqrt && a.neg:
		return f.indefinite()
	case a.cls == fcInf, !rsqrt && a.exp >= f.bias-1:
		// 1/x for |x| >= 2^126 is at most the smallest normal: flushed.
		return f.sign(a.neg)
	}
	x := math.Float32frombits(uint32(a.bits))
	var y float64
	if rsqrt {
		y = 1 / math.Sqrt(float64(x))
	} else {
		y = 1 / float64(x)
	}
	v := unpackFP(fmtD, math.Float64bits(y), false)
	m, _ := roundBits(v.mant, 64-12, rcNearest, v.neg)
	exp := v.exp
	if m>>12 != 0 {
		m >>= 1
		exp++
	}
	if exp < 1-f.bias {
		return f.sign(a.neg)
	}
	return f.sign(a.neg) | uint64(exp+f.bias)<<f.frac | (m<<(f.frac-11))&f.fracMask()
}

package cpu

import (
	"math/big"
	"math/bits"
)

// An exact IEEE 754 binary32/binary64 implementation over integers for the
// SSE/SSE2 floating-point instructions, with the x86 rules of SDM Vol. 1
// chapter 4.8-4.9 and 11.5 on top:
//   - every result is the exact result rounded once, in the MXCSR.RC mode
//     (Vol. 1 4.8.4: nearest-even, down, up, toward zero);
//   - the exception flags of Vol. 1 4.9.1: IE (SNaN operand or invalid
//     operation), DE (denormal source, unless DAZ), ZE, OE, UE and PE;
//     tininess is detected after rounding and, when UE is masked, underflow
//     is signalled only for an inexact tiny result (4.9.1.5); when UE is
//     unmasked a tiny result signals UE even if exact (11.5.2.4);
//   - DAZ (10.2.3.4) turns denormal sources into zeros of the same sign
//     without DE; FTZ (10.2.3.3) with UE masked returns a zero of the
//     result's sign for a tiny result and sets UE and PE;
//   - NaN operands follow Vol. 1 Table 4-7 (SSE column): the first source
//     operand if it is a NaN, else the second, quieted; an invalid
//     operation without NaN operands returns the default QNaN, the real
//     indefinite (4.8.3.7).
//
// A value is unpacked into sign, class and, for finite nonzero values, a
// significand normalised to bit 63 (value = mant × 2^(exp-63)); results
// are rounded from such a significand whose low bits carry the sticky bit.

// MXCSR fields (Vol. 1 10.2.3, Figure 10-3).
const (
	mxIE      = 1 << 0
	mxDE      = 1 << 1
	mxZE      = 1 << 2
	mxOE      = 1 << 3
	mxUE      = 1 << 4
	mxPE      = 1 << 5
	mxDAZ     = 1 << 6
	mxMaskSh  = 7 // exception masks are bits 12:7, in flag order
	mxRCShift = 13
	mxFTZ     = 1 << 15
)

// Rounding-control values (Vol. 1 Table 4-8).
const (
	rcNearest = iota
	rcDown
	rcUp
	rcZero
)

// fpFormat describes binary32 or binary64 (Vol. 1 4.2.2, Table 4-3).
type fpFormat struct {
	frac  uint // fraction bits: 23 or 52
	bias  int  // exponent bias: 127 or 1023
	width uint // 32 or 64
}

var (
	fmtS = fpFormat{23, 127, 32}
	fmtD = fpFormat{52, 1023, 64}
)

func (f fpFormat) expAll() uint64   { return 1<<(f.width-f.frac-1) - 1 }
func (f fpFormat) signBit() uint64  { return 1 << (f.width - 1) }
func (f fpFormat) quietBit() uint64 { return 1 << (f.frac - 1) }
func (f fpFormat) fracMask() uint64 { return 1<<f.frac - 1 }

// indefinite is the default QNaN, the real indefinite: sign 1, the most
// significant fraction bit 1, the rest 0 (Vol. 1 4.8.3.7, Table 4-3).
func (f fpFormat) indefinite() uint64 { return f.signBit() | f.expAll()<<f.frac | f.quietBit() }

func (f fpFormat) sign(neg bool) uint64 {
	if neg {
		return f.signBit()
	}
	return 0
}

func (f fpFormat) inf(neg bool) uint64 { return f.sign(neg) | f.expAll()<<f.frac }

func (f fpFormat) maxFinite(neg bool) uint64 {
	return f.sign(neg) | (f.expAll()-1)<<f.frac | f.fracMask()
}

type fpClass uint8

const (
	fcZero fpClass = iota
	fcFinite
	fcInf
	fcQNaN
	fcSNaN
)

// fpVal is an unpacked operand.
type fpVal struct {
	bits uint64 // the operand as encoded
	neg  bool
	cls  fpClass
	den  bool // a denormal source that signals DE (DAZ=0)
	exp  int  // finite nonzero: value = mant × 2^(exp-63)
	mant uint64
}

func (v fpVal) nan() bool { return v.cls >= fcQNaN }

// unpackFP classifies an operand; with daz a denormal becomes a zero of
// the same sign (Vol. 1 10.2.3.4).
func unpackFP(f fpFormat, b uint64, daz bool) fpVal {
	v := fpVal{bits: b, neg: b&f.signBit() != 0}
	e := b >> f.frac & f.expAll()
	m := b & f.fracMask()
	switch {
	case e == f.expAll():
		switch {
		case m == 0:
			v.cls = fcInf
		case m&f.quietBit() != 0:
			v.cls = fcQNaN
		default:
			v.cls = fcSNaN
		}
	case e == 0:
		if m == 0 || daz {
			v.cls = fcZero
			return v
		}
		lz := bits.LeadingZeros64(m)
		v.cls, v.den = fcFinite, true
		v.mant = m << lz
		v.exp = 64 - f.bias - int(f.frac) - lz
	default:
		v.cls = fcFinite
		v.mant = (m | 1<<f.frac) << (63 - f.frac)
		v.exp = int(e) - f.bias
	}
	return v
}

// roundBits drops the low d bits of m, rounding in mode rc for a value of
// sign neg; it reports whether the dropped bits were nonzero.
func roundBits(m uint64, d uint, rc uint32, neg bool) (uint64, bool) {
	if d == 0 {
		return m, false
	}
	var q uint64
	var above, half bool // the dropped part is above / exactly half an ulp
	var inexact bool
	switch {
	case d < 64:
		q = m >> d
		rem := m & (1<<d - 1)
		h := uint64(1) << (d - 1)
		inexact, above, half = rem != 0, rem > h, rem == h
	case d == 64:
		inexact, above, half = m != 0, m > 1<<63, m == 1<<63
	default:
		inexact = m != 0
	}
	switch rc {
	case rcNearest:
		if above || half && q&1 != 0 {
			q++
		}
	case rcDown:
		if inexact && neg {
			q++
		}
	case rcUp:
		if inexact && !neg {
			q++
		}
	}
	return q, inexact
}

// roundPack rounds value = mant × 2^(exp-63) (mant normalised to bit 63,
// sticky bits ORed into its low bits) to format f under MXCSR mx, and
// returns the encoding and the post-computation flags OE, UE and PE. When
// OE or UE is unmasked and signalled, the caller delivers no result.
func roundPack(f fpFormat, neg bool, exp int, mant uint64, mx uint32) (uint64, uint32) {
	rc := mx >> mxRCShift & 3
	p := f.frac + 1
	emin := 1 - f.bias
	r, inexact := roundBits(mant, 64-p, rc, neg)
	e := exp
	if r>>p != 0 {
		r >>= 1
		e++
	}
	if e < emin { // tiny after rounding (Vol. 1 4.9.1.5)
		ueMasked := mx&(mxUE<<mxMaskSh) != 0
		if mx&mxFTZ != 0 && ueMasked {
			return f.sign(neg), mxUE | mxPE
		}
		if !ueMasked { // #XM, no result (Vol. 1 11.5.2.4)
			return 0, mxUE | unboundedPE(inexact)
		}
		d := 64 - p + uint(emin-exp)
		r, inexact = roundBits(mant, d, rc, neg)
		if inexact {
			return f.sign(neg) | r, mxUE | mxPE
		}
		return f.sign(neg) | r, 0
	}
	if e > f.bias { // overflow (Vol. 1 4.9.1.4, Table 4-10)
		if mx&(mxOE<<mxMaskSh) == 0 { // #XM, no result (Vol. 1 11.5.2.3)
			return 0, mxOE | unboundedPE(inexact)
		}
		var res uint64
		switch {
		case rc == rcNearest, rc == rcDown && neg, rc == rcUp && !neg:
			res = f.inf(neg)
		default:
			res = f.maxFinite(neg)
		}
		return res, mxOE | mxPE
	}
	res := f.sign(neg) | uint64(e+f.bias)<<f.frac | r&f.fracMask()
	if inexact {
		return res, mxPE
	}
	return res, 0
}

// unboundedPE is the PE flag reported with an unmasked overflow or
// underflow: set when the result rounded to the format's precision with
// an unbounded exponent is inexact (as the host oracle shows; the x87 FPU
// reports the same for its bias-adjusted result, Vol. 1 4.9.1.4-4.9.1.5).
func unboundedPE(inexact bool) uint32 {
	if inexact {
		return mxPE
	}
	return 0
}

// nanResult applies Vol. 1 Table 4-7 (SSE): the first source if it is a
// NaN, else the second, as a QNaN; IE when either is an SNaN.
func nanResult(f fpFormat, a, b fpVal) (uint64, uint32) {
	var fl uint32
	if a.cls == fcSNaN || b.cls == fcSNaN {
		fl = mxIE
	}
	if a.nan() {
		return a.bits | f.quietBit(), fl
	}
	return b.bits | f.quietBit(), fl
}

func denFlag(a, b fpVal) uint32 {
	if a.den || b.den {
		return mxDE
	}
	return 0
}

// fpZero is a zero of the sign of an exact zero sum: +0 except when
// rounding down (IEEE 754 6.3, Vol. 1 4.8.3.1).
func fpZeroSum(f fpFormat, mx uint32) uint64 {
	return f.sign(mx>>mxRCShift&3 == rcDown)
}

func fpAdd(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) {
	if a.nan() || b.nan() {
		return nanResult(f, a, b)
	}
	fl := denFlag(a, b)
	switch {
	case a.cls == fcInf && b.cls == fcInf:
		if a.neg != b.neg {
			return f.indefinite(), mxIE
		}
		return f.inf(a.neg), fl
	case a.cls == fcInf:
		return f.inf(a.neg), fl
	case b.cls == fcInf:
		return f.inf(b.neg), fl
	case a.cls == fcZero && b.cls == fcZero:
		if a.neg == b.neg {
			return f.sign(a.neg), fl
		}
		return fpZeroSum(f, mx), fl
	case a.cls == fcZero:
		r, pf := roundPack(f, b.neg, b.exp, b.mant, mx)
		return r, fl | pf
	case b.cls == fcZero:
		r, pf := roundPack(f, a.neg, a.exp, a.mant, mx)
		return r, fl | pf
	}
	if a.exp < b.exp || a.exp == b.exp && a.mant < b.mant {
		a, b = b, a
	}
	ma, mb := a.mant>>1, shiftRightJam(b.mant>>1, uint(a.exp-b.exp))
	var m uint64
	if a.neg == b.neg {
		m = ma + mb
	} else {
		m = ma - mb
		if m == 0 {
			return fpZeroSum(f, mx), fl
		}
	}
	lz := bits.LeadingZeros64(m)
	r, pf := roundPack(f, a.neg, a.exp+1-lz, m<<lz, mx)
	return r, fl | pf
}

func shiftRightJam(m uint64, d uint) uint64 {
	switch {
	case d == 0:
		return m
	case d >= 64:
		if m != 0 {
			return 1
		}
		return 0
	}
	r := m >> d
	if m<<(64-d) != 0 {
		r |= 1
	}
	return r
}

func fpMul(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) {
	if a.nan() || b.nan() {
		return nanResult(f, a, b)
	}
	fl := denFlag(a, b)
	neg := a.neg != b.neg
	switch {
	case a.cls == fcInf && b.cls == fcZero, a.cls == fcZero && b.cls == fcInf:
		return f.indefinite(), mxIE
	case a.cls == fcInf || b.cls == fcInf:
		return f.inf(neg), fl
	case a.cls == fcZero || b.cls == fcZero:
		return f.sign(neg), fl
	}
	hi, lo := bits.Mul64(a.mant, b.mant)
	exp := a.exp + b.exp + 1
	if hi>>63 == 0 {
		hi, lo = hi<<1|lo>>63, lo<<1
		exp--
	}
	if lo != 0 {
		hi |= 1
	}
	r, pf := roundPack(f, neg, exp, hi, mx)
	return r, fl | pf
}

func fpDiv(f fpFormat, a, b fpVal, mx uint32) (uint64, uint32) {
	if a.nan() || b.nan() {
		return nanResult(f, a, b)
	}
	fl := denFlag(a, b)
	neg := a.neg != b.neg
	switch {
	case a.cls == fcInf && b.cls == fcInf, a.cls == fcZero && b.cls == fcZero:
		return f.indefinite(), mxIE
	case a.cls == fcInf:
		return f.inf(neg), fl
	case b.cls == fcInf:
		return f.sign(neg), fl
	case b.cls == fcZero: // Vol. 1 4.9.1.3; it has priority over DE (Table 4-11)
		return f.inf(neg), mxZE
	case a.cls == fcZero:
		return f.sign(neg), fl
	}
	q, rem := bits.Div64(a.mant>>1, a.mant<<63, b.mant)
	exp := a.exp - b.exp
	if q>>63 == 0 {
		q <<= 1
		exp--
	}
	if rem != 0 {
		q |= 1
	}
	r, pf := roundPack(f, neg, exp, q, mx)
	return r, fl | pf
}

func fpSqrt(f fpFormat, a fpVal, mx uint32) (uint64, uint32) {
	switch {
	case a.nan():
		return nanResult(f, a, a)
	case a.cls == fcZero:
		return a.bits &^ (f.signBit() - 1), 0 // ±0 (a DAZ zero keeps its sign)
	case a.neg:
		return f.indefinite(), mxIE
	case a.cls == fcInf:
		return a.bits, 0
	}
	fl := denFlag(a, a)
	// value = mant × 2^E with E = exp-63; N = mant × 2^k with E-k even.
	E := a.exp - 63
	var n big.Int
	hi, lo, k := a.mant, uint64(0), 64
	if E&1 != 0 {
		hi, lo, k = a.mant>>1, a.mant<<63, 63
	}
	n.SetUint64(hi)
	n.Lsh(&n, 64)
	n.Or(&n, new(big.Int).SetUint64(lo))
	var s, sq big.Int
	s.Sqrt(&n)
	sq.Mul(&s, &s)
	m := s.Uint64()
	if sq.Cmp(&n) != 0 {
		m |= 1
	}
	r, pf := roundPack(f, false, (E-k)/2+63, m, mx)
	return r, fl | pf
}

// fpCompare orders two non-NaN operands: -1, 0 or 1 (zeros of either
// sign are equal).
func fpCompare(a, b fpVal) int {
	key := func(v fpVal) (int, int, uint64) { // sign, exponent class, ...
		switch v.cls {
		case fcZero:
			return 0, 0, 0
		case fcInf:
			return sgn(v.neg), 1 << 20, 0
		}
		return sgn(v.neg), v.exp, v.mant
	}
	sa, ea, ma := key(a)
	sb, eb, mb := key(b)
	if sa != sb {
		return cmp3(sa, sb)
	}
	if sa == 0 {
		return 0
	}
	c := cmp3(ea, eb)
	if c == 0 {
		c = cmp3(ma, mb)
	}
	return c * sa
}

func sgn(neg bool) int {
	if neg {
		return -1
	}
	return 1
}

func cmp3[T int | uint64](a, b T) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// fpConvert converts between formats (CVTSS2SD, CVTSD2SS, CVTPS2PD,
// CVTPD2PS): a NaN keeps its sign and the high fraction bits and is
// quieted (IE for an SNaN; Vol. 1 4.8.3.5).
func fpConvert(from, to fpFormat, a fpVal, mx uint32) (uint64, uint32) {
	switch a.cls {
	case fcQNaN, fcSNaN:
		fr := a.bits & from.fracMask()
		if to.frac > from.frac {
			fr <<= to.frac - from.frac
		} else {
			fr >>= from.frac - to.frac
		}
		var fl uint32
		if a.cls == fcSNaN {
			fl = mxIE
		}
		return to.sign(a.neg) | to.expAll()<<to.frac | fr | to.quietBit(), fl
	case fcInf:
		return to.inf(a.neg), 0
	case fcZero:
		return to.sign(a.neg), 0
	}
	r, pf := roundPack(to, a.neg, a.exp, a.mant, mx)
	return r, denFlag(a, a) | pf
}

// intToFP converts a signed integer (CVTSI2SS & co.): only PE can occur.
func intToFP(f fpFormat, v int64, mx uint32) (uint64, uint32) {
	if v == 0 {
		return 0, 0
	}
	neg := v < 0
	m := uint64(v)
	if neg {
		m = -m
	}
	lz := bits.LeadingZeros64(m)
	return roundPack(f, neg, 63-lz, m<<lz, mx)
}

// fpToInt converts to a signed integer of w bits, rounding in the MXCSR
// mode or truncating; NaN, infinity and out-of-range values give the
// integer indefinite (the most negative integer) with IE (Vol. 1 4.8.3.7,
// 11.5.2.1; Vol. 2A CVTSS2SI).
func fpToInt(a fpVal, w uint, trunc bool, mx uint32) (uint64, uint32) {
	indef := uint64(1) << (w - 1)
	switch a.cls {
	case fcQNaN, fcSNaN, fcInf:
		return indef, mxIE
	case fcZero:
		return 0, 0
	}
	rc := mx >> mxRCShift & 3
	if trunc {
		rc = rcZero
	}
	if a.exp >= 64 {
		return indef, mxIE
	}
	var q uint64
	var inexact bool
	if a.exp == 63 {
		q = a.mant
	} else {
		q, inexact = roundBits(a.mant, uint(63-a.exp), rc, a.neg)
	}
	if q > indef || q == indef && !a.neg {
		return indef, mxIE
	}
	if a.neg {
		q = -q
	}
	if w < 64 {
		q &= 1<<w - 1
	}
	if inexact {
		return q, mxPE
	}
	return q, 0
}

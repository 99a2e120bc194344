package cpu

import (
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
)

// MMX technology (SDM Vol. 1 chapter 9) and the packed-integer operations
// that MMX and SSE2 share (the same opcodes: no prefix selects MMX
// registers, 66 selects XMM registers; Vol. 1 11.6.x, Vol. 2 instruction
// pages). The MMX registers MM0-MM7 are the low 64 bits of the physical
// x87 data registers R0-R7 (Vol. 1 9.5).

// fpReg is one x87 data register: a 64-bit significand and the sign and
// exponent in se (Vol. 1 8.1.2).
type fpReg struct {
	mant uint64
	se   uint16
}

// mmxCheck applies the rules every MMX instruction checks before it
// executes (Vol. 3A 2.5 Table 2-2, Vol. 1 9.5.1 and 9.6, the #UD/#NM/#MF
// lines of each MMX instruction page): CR0.EM=1 → #UD; CR0.TS=1 → #NM; a
// pending unmasked x87 exception (FSW.ES) → #MF.
func (c *CPU) mmxCheck() bool {
	if c.CR0&arch.CR0EM != 0 {
		c.raiseUD("MMX instruction with CR0.EM=1", "Vol. 3A 2.5 Table 2-2 / Vol. 1 9.6")
		return false
	}
	if c.CR0&arch.CR0TS != 0 {
		c.raise(faultNMEM)
		return false
	}
	return c.x87PendingCheck("MMX instruction")
}

// x87PendingCheck raises #MF when an unmasked x87 exception is pending
// (FSW.ES=1; Vol. 1 8.7 and 9.5.1: an MMX instruction or a waiting x87
// instruction reports it). With CR0.NE=0 the PC-style report through
// FERR# and IRQ13 (Vol. 1 8.7.2) is not modelled: #UD with that rule.
func (c *CPU) x87PendingCheck(what string) bool {
	if c.fpu.fsw&0x80 == 0 {
		return true
	}
	if c.CR0&arch.CR0NE == 0 {
		c.raiseUD(what+" with a pending x87 exception and CR0.NE=0: FERR#/IRQ13 reporting is not implemented by vmxemu", "Vol. 1 8.7.2")
		return false
	}
	c.raise(arch.Fault{Vector: arch.VecMF, Rule: what + " with a pending unmasked x87 floating-point exception (FSW.ES=1)", SDM: "Vol. 1 8.7 / 9.5.1"})
	return false
}

// mmxEnter is the x87 state effect of every MMX instruction other than
// EMMS (Vol. 1 9.5.1, Table 9-2): TOS ← 0 and every tag valid.
func (c *CPU) mmxEnter() {
	c.fpu.fsw &^= 7 << 11
	c.fpu.ftw = 0xFF // abridged form: 1 = valid
}

func (c *CPU) mmGet(r uint8) uint64 { return c.fpu.st[r&7].mant }

// mmSet writes MMi: bits 79:64 of the register become all ones (Vol. 1
// 9.5.1).
func (c *CPU) mmSet(r uint8, v uint64) { c.fpu.st[r&7] = fpReg{mant: v, se: 0xFFFF} }

// readMMSrc reads the mm/m64 source operand.
func (c *CPU) readMMSrc(in *Inst) (uint64, bool) {
	if in.mod == 3 {
		return c.mmGet(in.rm), true
	}
	return rd[uint64](c, in.seg, c.ea(in))
}

// emms (0F 77): every tag empty (Vol. 2A EMMS).
func emms(c *CPU, in *Inst) {
	if in.pfx66 || in.rep != 0 {
		c.raiseUD("66/F2/F3 0F 77 is not an instruction (EMMS takes no mandatory prefix)", "Vol. 2D Table A-3")
		return
	}
	if c.CR0&arch.CR0EM != 0 {
		c.raiseUD("EMMS with CR0.EM=1", "Vol. 2A EMMS")
		return
	}
	if c.CR0&arch.CR0TS != 0 {
		c.raise(faultNMEM)
		return
	}
	if c.x87PendingCheck("EMMS") {
		c.fpu.ftw = 0
	}
}

// lane64 is a packed operation on one 64-bit chunk: MMX applies it to its
// register, SSE2 to both halves of an XMM register.
type lane64 func(d, s uint64) uint64

type laneT interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

func laneBits[T laneT]() uint {
	return uint(bits.OnesCount64(uint64(^T(0))))
}

// lanes lifts an element operation to a 64-bit chunk.
func lanes[T laneT](f func(a, b T) T) lane64 {
	w := laneBits[T]()
	m := uint64(^T(0))
	return func(d, s uint64) uint64 {
		var r uint64
		for i := uint(0); i < 64; i += w {
			r |= uint64(f(T(d>>i), T(s>>i))) & m << i
		}
		return r
	}
}

func satS8(v int32) uint8 { return uint8(int8(max(-128, min(127, v)))) }
func satS16(v int32) uint16 {
	return uint16(int16(max(-32768, min(32767, v))))
}
func satU8(v int32) uint8   { return uint8(max(0, min(255, v))) }
func satU16(v int32) uint16 { return uint16(max(0, min(65535, v))) }
func b2m[T laneT](c bool) T {
	if c {
		return ^T(0)
	}
	return 0
}

// packedOps are the lane operations of the packed-integer instructions,
// by opcode (0F xx). Each follows its instruction page in SDM Vol. 2.
func packedOps() map[byte]lane64 {
	return map[byte]lane64{
		0xFC: lanes(func(a, b uint8) uint8 { return a + b }),                                             // PADDB
		0xFD: lanes(func(a, b uint16) uint16 { return a + b }),                                           // PADDW
		0xFE: lanes(func(a, b uint32) uint32 { return a + b }),                                           // PADDD
		0xD4: lanes(func(a, b uint64) uint64 { return a + b }),                                           // PADDQ
		0xF8: lanes(func(a, b uint8) uint8 { return a - b }),                                             // PSUBB
		0xF9: lanes(func(a, b uint16) uint16 { return a - b }),                                           // PSUBW
		0xFA: lanes(func(a, b uint32) uint32 { return a - b }),                                           // PSUBD
		0xFB: lanes(func(a, b uint64) uint64 { return a - b }),                                           // PSUBQ
		0xEC: lanes(func(a, b uint8) uint8 { return satS8(int32(int8(a)) + int32(int8(b))) }),            // PADDSB
		0xED: lanes(func(a, b uint16) uint16 { return satS16(int32(int16(a)) + int32(int16(b))) }),       // PADDSW
		0xDC: lanes(func(a, b uint8) uint8 { return satU8(int32(a) + int32(b)) }),                        // PADDUSB
		0xDD: lanes(func(a, b uint16) uint16 { return satU16(int32(a) + int32(b)) }),                     // PADDUSW
		0xE8: lanes(func(a, b uint8) uint8 { return satS8(int32(int8(a)) - int32(int8(b))) }),            // PSUBSB
		0xE9: lanes(func(a, b uint16) uint16 { return satS16(int32(int16(a)) - int32(int16(b))) }),       // PSUBSW
		0xD8: lanes(func(a, b uint8) uint8 { return satU8(int32(a) - int32(b)) }),                        // PSUBUSB
		0xD9: lanes(func(a, b uint16) uint16 { return satU16(int32(a) - int32(b)) }),                     // PSUBUSW
		0x74: lanes(func(a, b uint8) uint8 { return b2m[uint8](a == b) }),                                // PCMPEQB
		0x75: lanes(func(a, b uint16) uint16 { return b2m[uint16](a == b) }),                             // PCMPEQW
		0x76: lanes(func(a, b uint32) uint32 { return b2m[uint32](a == b) }),                             // PCMPEQD
		0x64: lanes(func(a, b uint8) uint8 { return b2m[uint8](int8(a) > int8(b)) }),                     // PCMPGTB
		0x65: lanes(func(a, b uint16) uint16 { return b2m[uint16](int16(a) > int16(b)) }),                // PCMPGTW
		0x66: lanes(func(a, b uint32) uint32 { return b2m[uint32](int32(a) > int32(b)) }),                // PCMPGTD
		0xDB: func(d, s uint64) uint64 { return d & s },                                                  // PAND
		0xDF: func(d, s uint64) uint64 { return ^d & s },                                                 // PANDN
		0xEB: func(d, s uint64) uint64 { return d | s },                                                  // POR
		0xEF: func(d, s uint64) uint64 { return d ^ s },                                                  // PXOR
		0xD5: lanes(func(a, b uint16) uint16 { return a * b }),                                           // PMULLW
		0xE5: lanes(func(a, b uint16) uint16 { return uint16(int32(int16(a)) * int32(int16(b)) >> 16) }), // PMULHW
		0xE4: lanes(func(a, b uint16) uint16 { return uint16(uint32(a) * uint32(b) >> 16) }),             // PMULHUW
		0xF4: lanes(func(a, b uint64) uint64 { return uint64(uint32(a)) * uint64(uint32(b)) }),           // PMULUDQ
		0xF5: lanes(func(a, b uint32) uint32 { // PMADDWD
			lo := int32(int16(a)) * int32(int16(b))
			hi := int32(int16(a>>16)) * int32(int16(b>>16))
			return uint32(lo + hi)
		}),
		0xDA: lanes(func(a, b uint8) uint8 { return min(a, b) }),                                  // PMINUB
		0xDE: lanes(func(a, b uint8) uint8 { return max(a, b) }),                                  // PMAXUB
		0xEA: lanes(func(a, b uint16) uint16 { return uint16(min(int16(a), int16(b))) }),          // PMINSW
		0xEE: lanes(func(a, b uint16) uint16 { return uint16(max(int16(a), int16(b))) }),          // PMAXSW
		0xE0: lanes(func(a, b uint8) uint8 { return uint8((uint16(a) + uint16(b) + 1) >> 1) }),    // PAVGB
		0xE3: lanes(func(a, b uint16) uint16 { return uint16((uint32(a) + uint32(b) + 1) >> 1) }), // PAVGW
		0xF6: func(d, s uint64) uint64 { // PSADBW
			var sum uint64
			for i := uint(0); i < 64; i += 8 {
				a, b := int(uint8(d>>i)), int(uint8(s>>i))
				sum += uint64(max(a-b, b-a))
			}
			return sum
		},
	}
}

// packedShiftOps are the shifts by a count (0F D1-D3, E1-E2, F1-F3 by a
// register or memory count; 0F 71-73 by imm8): a count above the element
// width gives 0, or the sign for PSRAW/PSRAD (Vol. 2B PSLLW/PSRAW/PSRLW).
type shiftLane func(d, cnt uint64) uint64

func shiftLanes[T laneT](kind byte) shiftLane {
	w := uint64(laneBits[T]())
	m := uint64(^T(0))
	return func(d, cnt uint64) uint64 {
		var r uint64
		for i := uint64(0); i < 64; i += w {
			e := d >> i & m
			var v uint64
			switch kind {
			case 'l':
				if cnt < w {
					v = e << cnt & m
				}
			case 'r':
				if cnt < w {
					v = e >> cnt
				}
			case 'a':
				sh := min(cnt, w-1)
				v = uint64(int64(e<<(64-w))>>(64-w)>>sh) & m
			}
			r |= v << i
		}
		return r
	}
}

func packedShifts() map[byte]shiftLane {
	return map[byte]shiftLane{
		0xD1: shiftLanes[uint16]('r'), 0xD2: shiftLanes[uint32]('r'), 0xD3: shiftLanes[uint64]('r'),
		0xE1: shiftLanes[uint16]('a'), 0xE2: shiftLanes[uint32]('a'),
		0xF1: shiftLanes[uint16]('l'), 0xF2: shiftLanes[uint32]('l'), 0xF3: shiftLanes[uint64]('l'),
	}
}

// shiftByImm maps 0F 71/72/73 and ModRM.reg to the shift by a register
// count with the same effect.
func shiftByImm(op byte, reg uint8) (byte, bool) {
	switch {
	case op == 0x71 && reg == 2, op == 0x72 && reg == 2, op == 0x73 && reg == 2:
		return 0xD1 + op - 0x71, true // PSRLW/D/Q
	case op == 0x71 && reg == 4, op == 0x72 && reg == 4:
		return 0xE1 + op - 0x71, true // PSRAW/D
	case op == 0x71 && reg == 6, op == 0x72 && reg == 6, op == 0x73 && reg == 6:
		return 0xF1 + op - 0x71, true // PSLLW/D/Q
	}
	return 0, false
}

// vec is a whole MMX (n=8) or XMM (n=16) register as bytes, for the
// operations that move data across 64-bit chunks (packs, unpacks,
// shuffles).
type vec struct {
	b [16]byte
	n int
}

func vecOf(v [2]uint64, n int) vec {
	var x vec
	x.n = n
	for i := 0; i < n; i++ {
		x.b[i] = byte(v[i/8] >> (8 * (i % 8)))
	}
	return x
}

func (x vec) u64() [2]uint64 {
	var v [2]uint64
	for i := 0; i < x.n; i++ {
		v[i/8] |= uint64(x.b[i]) << (8 * (i % 8))
	}
	return v
}

// elem reads element i of width w bytes; setElem writes it.
func (x *vec) elem(i, w int) uint64 {
	var v uint64
	for k := 0; k < w; k++ {
		v |= uint64(x.b[i*w+k]) << (8 * k)
	}
	return v
}

func (x *vec) setElem(i, w int, v uint64) {
	for k := 0; k < w; k++ {
		x.b[i*w+k] = byte(v >> (8 * k))
	}
}

// unpack interleaves the low (hi=false) or high halves of d and s, element
// width w bytes (PUNPCKL*/PUNPCKH*, UNPCKLPS/PD, UNPCKHPS/PD).
func unpack(d, s vec, w int, hi bool) vec {
	r := vec{n: d.n}
	k := d.n / w / 2
	base := 0
	if hi {
		base = k
	}
	for i := 0; i < k; i++ {
		r.setElem(2*i, w, d.elem(base+i, w))
		r.setElem(2*i+1, w, s.elem(base+i, w))
	}
	return r
}

// pack narrows elements of w bytes with saturation (PACKSSWB, PACKSSDW,
// PACKUSWB): d's elements fill the low half, s's the high half.
func pack(d, s vec, w int, unsigned bool) vec {
	r := vec{n: d.n}
	k := d.n / w
	sat := func(v uint64) uint64 {
		switch {
		case w == 2 && unsigned:
			return uint64(satU8(int32(int16(v))))
		case w == 2:
			return uint64(satS8(int32(int16(v))))
		default:
			return uint64(satS16(int32(v)))
		}
	}
	for i := 0; i < k; i++ {
		r.setElem(i, w/2, sat(d.elem(i, w)))
		r.setElem(k+i, w/2, sat(s.elem(i, w)))
	}
	return r
}

// wholeOps are the operations on a whole register, by opcode (0F xx).
func wholeOps() map[byte]func(d, s vec) vec {
	return map[byte]func(d, s vec) vec{
		0x60: func(d, s vec) vec { return unpack(d, s, 1, false) }, // PUNPCKLBW
		0x61: func(d, s vec) vec { return unpack(d, s, 2, false) }, // PUNPCKLWD
		0x62: func(d, s vec) vec { return unpack(d, s, 4, false) }, // PUNPCKLDQ
		0x68: func(d, s vec) vec { return unpack(d, s, 1, true) },  // PUNPCKHBW
		0x69: func(d, s vec) vec { return unpack(d, s, 2, true) },  // PUNPCKHWD
		0x6A: func(d, s vec) vec { return unpack(d, s, 4, true) },  // PUNPCKHDQ
		0x6C: func(d, s vec) vec { return unpack(d, s, 8, false) }, // PUNPCKLQDQ (66 only)
		0x6D: func(d, s vec) vec { return unpack(d, s, 8, true) },  // PUNPCKHQDQ (66 only)
		0x63: func(d, s vec) vec { return pack(d, s, 2, false) },   // PACKSSWB
		0x6B: func(d, s vec) vec { return pack(d, s, 4, false) },   // PACKSSDW
		0x67: func(d, s vec) vec { return pack(d, s, 2, true) },    // PACKUSWB
	}
}

// mmxLaneOp: op mm, mm/m64.
func mmxLaneOp(f lane64) handler {
	return func(c *CPU, in *Inst) {
		if !c.mmxCheck() {
			return
		}
		s, ok := c.readMMSrc(in)
		if !ok {
			return
		}
		c.mmxEnter()
		c.mmSet(in.reg, f(c.mmGet(in.reg), s))
	}
}

// sseLaneOp: op xmm, xmm/m128 (a 16-byte aligned memory operand: Vol. 1
// 11.4.1; Vol. 2 "#GP if a memory operand is not aligned on a 16-byte
// boundary").
func sseLaneOp(f lane64) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readXMM(in, true)
		if !ok {
			return
		}
		d := &c.fpu.xmm[in.reg&15]
		d[0], d[1] = f(d[0], s[0]), f(d[1], s[1])
	}
}

// mmxWholeOp: op mm, mm/m64; the low unpacks (PUNPCKLBW/WD/DQ mm, mm/m32)
// read only 32 bits from memory (Vol. 2B PUNPCKLBW).
func mmxWholeOp(f func(d, s vec) vec) handler {
	return func(c *CPU, in *Inst) {
		if !c.mmxCheck() {
			return
		}
		var s uint64
		var ok bool
		if in.mod != 3 && in.op >= 0x160 && in.op <= 0x162 {
			var v uint32
			v, ok = rd[uint32](c, in.seg, c.ea(in))
			s = uint64(v)
		} else {
			s, ok = c.readMMSrc(in)
		}
		if !ok {
			return
		}
		c.mmxEnter()
		r := f(vecOf([2]uint64{c.mmGet(in.reg)}, 8), vecOf([2]uint64{s}, 8))
		c.mmSet(in.reg, r.u64()[0])
	}
}

func sseWholeOp(f func(d, s vec) vec) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		s, ok := c.readXMM(in, true)
		if !ok {
			return
		}
		d := &c.fpu.xmm[in.reg&15]
		*d = f(vecOf(*d, 16), vecOf(s, 16)).u64()
	}
}

// mmxShift: PSxx mm, mm/m64 (count: the whole source) or mm, imm8.
func mmxShift(f shiftLane, imm bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.mmxCheck() {
			return
		}
		r, cnt := in.reg, in.imm
		if imm {
			r = in.rm
		} else {
			s, ok := c.readMMSrc(in)
			if !ok {
				return
			}
			cnt = s
		}
		c.mmxEnter()
		c.mmSet(r, f(c.mmGet(r), cnt))
	}
}

// sseShift: PSxx xmm, xmm/m128 (count: bits 63:0 of the source) or
// xmm, imm8.
func sseShift(f shiftLane, imm bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		r, cnt := in.reg, in.imm
		if imm {
			r = in.rm
		} else {
			s, ok := c.readXMM(in, true)
			if !ok {
				return
			}
			cnt = s[0]
		}
		d := &c.fpu.xmm[r&15]
		d[0], d[1] = f(d[0], cnt), f(d[1], cnt)
	}
}

// sseByteShift: PSRLDQ (66 0F 73 /3 ib) and PSLLDQ (/7): the whole
// register by imm8 bytes; a count above 15 clears it.
func sseByteShift(left bool) handler {
	return func(c *CPU, in *Inst) {
		if !c.sseCheck() {
			return
		}
		d := &c.fpu.xmm[in.rm&15]
		x := vecOf(*d, 16)
		r := vec{n: 16}
		n := int(min(in.imm, 16))
		for i := 0; i < 16; i++ {
			j := i + n
			if left {
				j = i - n
			}
			if j >= 0 && j < 16 {
				r.b[i] = x.b[j]
			}
		}
		*d = r.u64()
	}
}

// pshufw (0F 70 /r ib): mm ← words of mm/m64 selected by imm8.
func pshufw(c *CPU, in *Inst) {
	if !c.mmxCheck() {
		return
	}
	s, ok := c.readMMSrc(in)
	if !ok {
		return
	}
	c.mmxEnter()
	var r uint64
	for i := uint(0); i < 4; i++ {
		sel := uint(in.imm>>(2*i)) & 3
		r |= (s >> (16 * sel) & 0xFFFF) << (16 * i)
	}
	c.mmSet(in.reg, r)
}

// pshufd (66 0F 70), pshufhw (F3 0F 70), pshuflw (F2 0F 70).
func pshufx(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s, ok := c.readXMM(in, true)
	if !ok {
		return
	}
	x := vecOf(s, 16)
	r := x
	switch in.rep {
	case 0: // PSHUFD
		for i := 0; i < 4; i++ {
			r.setElem(i, 4, x.elem(int(in.imm>>(2*i))&3, 4))
		}
	case 0xF3: // PSHUFHW
		for i := 0; i < 4; i++ {
			r.setElem(4+i, 2, x.elem(4+int(in.imm>>(2*i))&3, 2))
		}
	case 0xF2: // PSHUFLW
		for i := 0; i < 4; i++ {
			r.setElem(i, 2, x.elem(int(in.imm>>(2*i))&3, 2))
		}
	}
	c.fpu.xmm[in.reg&15] = r.u64()
}

// pmovmskb (0F D7 /r, register source only): r32 ← the sign bits of the
// bytes; the upper bits of the destination are cleared.
func pmovmskb(c *CPU, in *Inst) {
	var v [2]uint64
	n := 8
	if in.pfx66 {
		if !c.sseCheck() {
			return
		}
		v, n = c.fpu.xmm[in.rm&15], 16
	} else {
		if !c.mmxCheck() {
			return
		}
		c.mmxEnter()
		v[0] = c.mmGet(in.rm)
	}
	x := vecOf(v, n)
	var m uint64
	for i := 0; i < n; i++ {
		m |= uint64(x.b[i]>>7) << i
	}
	c.GPR[in.reg&15] = m
}

// pextrw (0F C5 /r ib, register source only): r32 ← the selected word,
// zero-extended.
func pextrw(c *CPU, in *Inst) {
	var v uint64
	if in.pfx66 {
		if !c.sseCheck() {
			return
		}
		x := c.fpu.xmm[in.rm&15]
		i := in.imm & 7
		v = x[i/4] >> (16 * (i % 4)) & 0xFFFF
	} else {
		if !c.mmxCheck() {
			return
		}
		c.mmxEnter()
		v = c.mmGet(in.rm) >> (16 * (in.imm & 3)) & 0xFFFF
	}
	c.GPR[in.reg&15] = v
}

// pinsrw (0F C4 /r ib): the selected word ← r32/m16.
func pinsrw(c *CPU, in *Inst) {
	var w uint64
	if in.mod == 3 {
		w = c.GPR[in.rm&15] & 0xFFFF
	}
	if in.pfx66 {
		if !c.sseCheck() {
			return
		}
	} else if !c.mmxCheck() {
		return
	}
	if in.mod != 3 {
		x, ok := rd[uint16](c, in.seg, c.ea(in))
		if !ok {
			return
		}
		w = uint64(x)
	}
	if in.pfx66 {
		i := in.imm & 7
		d := &c.fpu.xmm[in.reg&15]
		sh := 16 * (i % 4)
		d[i/4] = d[i/4]&^(0xFFFF<<sh) | w<<sh
		return
	}
	c.mmxEnter()
	sh := 16 * (in.imm & 3)
	c.mmSet(in.reg, c.mmGet(in.reg)&^(0xFFFF<<sh)|w<<sh)
}

// MMX moves (Vol. 2B MOVD/MOVQ).

// mmMovdLoad: MOVD mm, r/m32 (0F 6E) and MOVQ mm, r/m64 (REX.W).
func mmMovdLoad(c *CPU, in *Inst) {
	if !c.mmxCheck() {
		return
	}
	var v uint64
	if in.opsz == 8 {
		x, ok := readRM[uint64](c, in)
		if !ok {
			return
		}
		v = x
	} else {
		x, ok := readRM[uint32](c, in)
		if !ok {
			return
		}
		v = uint64(x)
	}
	c.mmxEnter()
	c.mmSet(in.reg, v)
}

// mmMovdStore: MOVD r/m32, mm (0F 7E) and MOVQ r/m64, mm (REX.W).
func mmMovdStore(c *CPU, in *Inst) {
	if !c.mmxCheck() {
		return
	}
	v := c.mmGet(in.reg)
	var ok bool
	if in.opsz == 8 {
		ok = writeRM(c, in, v)
	} else {
		ok = writeRM(c, in, uint32(v))
	}
	if ok {
		c.mmxEnter()
	}
}

// mmMovqLoad: MOVQ mm, mm/m64 (0F 6F).
func mmMovqLoad(c *CPU, in *Inst) {
	if !c.mmxCheck() {
		return
	}
	v, ok := c.readMMSrc(in)
	if !ok {
		return
	}
	c.mmxEnter()
	c.mmSet(in.reg, v)
}

// mmMovqStore: MOVQ mm/m64, mm (0F 7F) and MOVNTQ m64, mm (0F E7).
func mmMovqStore(c *CPU, in *Inst) {
	if !c.mmxCheck() {
		return
	}
	v := c.mmGet(in.reg)
	if in.mod == 3 {
		c.mmxEnter()
		c.mmSet(in.rm, v)
		return
	}
	if wr(c, in.seg, c.ea(in), v) {
		c.mmxEnter()
	}
}

// movq2dq (F3 0F D6, register forms only): xmm ← mm, zero-extended;
// movdq2q (F2 0F D6): mm ← the low quadword of xmm. Both are MMX
// instructions for the x87 state and SSE2 instructions for the checks
// (Vol. 2B MOVQ2DQ/MOVDQ2Q: #UD with CR0.EM or CR4.OSFXSR=0, #NM with
// CR0.TS, #MF with a pending x87 exception).
func movq2dq(c *CPU, in *Inst) {
	if !c.sseCheck() || !c.x87PendingCheck("MOVQ2DQ/MOVDQ2Q") {
		return
	}
	c.mmxEnter()
	if in.rep == 0xF3 {
		c.fpu.xmm[in.reg&15] = [2]uint64{c.mmGet(in.rm), 0}
		return
	}
	c.mmSet(in.reg, c.fpu.xmm[in.rm&15][0])
}

// maskmov: MASKMOVQ mm, mm (0F F7) and MASKMOVDQU xmm, xmm (66 0F F7):
// the bytes whose mask byte has bit 7 set are stored to DS:rDI (DS may be
// overridden; Vol. 2B MASKMOVQ/MASKMOVDQU). Each selected byte is a
// separate access here; no byte is written before all pass their checks.
func maskmov(c *CPU, in *Inst) {
	var data, mask [2]uint64
	n := 8
	if in.pfx66 {
		if !c.sseCheck() {
			return
		}
		data, mask, n = c.fpu.xmm[in.reg&15], c.fpu.xmm[in.rm&15], 16
	} else {
		if !c.mmxCheck() {
			return
		}
		data[0], mask[0] = c.mmGet(in.reg), c.mmGet(in.rm)
	}
	d, m := vecOf(data, n), vecOf(mask, n)
	base := c.GPR[arch.RDI] & in.amask
	for pass := 0; pass < 2; pass++ {
		for i := 0; i < n; i++ {
			if m.b[i]&0x80 == 0 {
				continue
			}
			off := (base + uint64(i)) & in.amask
			if pass == 0 {
				if _, ok := c.linear(in.seg, off, 1, accWrite); !ok {
					return
				}
			} else if !wr(c, in.seg, off, d.b[i]) {
				return
			}
		}
	}
	if !in.pfx66 {
		c.mmxEnter()
	}
}

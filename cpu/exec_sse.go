package cpu

// The SSE/SSE2 opcode rows of the 0F map (SDM Vol. 2D Appendix A, Table
// A-3, with the mandatory prefixes 66/F3/F2 selecting the form), the
// cache-control instructions of 0F AE, and the SSE data moves that are not
// plain 128-bit loads and stores.

// byPfx selects an entry by the last mandatory prefix (none, 66, F3, F2);
// nil is an encoding that does not exist (#UD).
func byPfx(none, p66, pF3, pF2 *opEntry) func(byte, *decoder) *opEntry {
	return func(mr byte, d *decoder) *opEntry {
		switch d.lastPfx {
		case 0x66:
			return p66
		case 0xF3:
			return pF3
		case 0xF2:
			return pF2
		}
		return none
	}
}

// addSIMD installs the MMX and SSE/SSE2 integer, logic, shuffle and move
// rows.
func addSIMD(t *tables) {
	x := &t.map0F
	ent := func(name string, f uint32, h handler) *opEntry {
		return &opEntry{name: name, f: fModRM | fNoRep | f, h: one(h)}
	}
	for op, f := range packedOps() {
		p66 := ent("sse2 packed integer", 0, sseLaneOp(f))
		x[op] = opEntry{name: "packed integer", sel: byPfx(ent("mmx packed integer", 0, mmxLaneOp(f)), p66, nil, nil)}
	}
	for op, f := range wholeOps() {
		var mm *opEntry
		if op != 0x6C && op != 0x6D { // PUNPCKLQDQ/PUNPCKHQDQ: 66 only
			mm = ent("mmx pack/unpack", 0, mmxWholeOp(f))
		}
		x[op] = opEntry{name: "pack/unpack", sel: byPfx(mm, ent("sse2 pack/unpack", 0, sseWholeOp(f)), nil, nil)}
	}
	for op, f := range packedShifts() {
		x[op] = opEntry{name: "packed shift", sel: byPfx(ent("mmx shift", 0, mmxShift(f, false)), ent("sse2 shift", 0, sseShift(f, false)), nil, nil)}
	}
	// 0F 71-73: shifts by imm8 (groups 12-14, register operand only).
	shifts := packedShifts()
	for _, op := range []byte{0x71, 0x72, 0x73} {
		var mm, xm [8]*opEntry
		for reg := uint8(0); reg < 8; reg++ {
			if sop, ok := shiftByImm(op, reg); ok {
				mm[reg] = ent("mmx shift imm", fImm8|fRegOnly, mmxShift(shifts[sop], true))
				xm[reg] = ent("sse2 shift imm", fImm8|fRegOnly, sseShift(shifts[sop], true))
			}
		}
		if op == 0x73 {
			xm[3] = ent("psrldq", fImm8|fRegOnly, sseByteShift(false))
			xm[7] = ent("pslldq", fImm8|fRegOnly, sseByteShift(true))
		}
		x[op] = opEntry{name: "packed shift imm", sel: func(mr byte, d *decoder) *opEntry {
			reg := (mr >> 3) & 7
			switch d.lastPfx {
			case 0:
				return mm[reg]
			case 0x66:
				return xm[reg]
			}
			return nil
		}}
	}
	x[0x70] = opEntry{name: "pshuf", sel: byPfx(ent("pshufw", fImm8, pshufw), ent("pshufd", fImm8, pshufx), ent("pshufhw", fImm8, pshufx), ent("pshuflw", fImm8, pshufx))}
	x[0xC4] = opEntry{name: "pinsrw", sel: byPfx(ent("pinsrw", fImm8, pinsrw), ent("pinsrw", fImm8, pinsrw), nil, nil)}
	x[0xC5] = opEntry{name: "pextrw", sel: byPfx(ent("pextrw", fImm8|fRegOnly, pextrw), ent("pextrw", fImm8|fRegOnly, pextrw), nil, nil)}
	x[0xD7] = opEntry{name: "pmovmskb", sel: byPfx(ent("pmovmskb", fRegOnly, pmovmskb), ent("pmovmskb", fRegOnly, pmovmskb), nil, nil)}
	x[0xF7] = opEntry{name: "maskmov", sel: byPfx(ent("maskmovq", fRegOnly, maskmov), ent("maskmovdqu", fRegOnly, maskmov), nil, nil)}
	x[0xE7] = opEntry{name: "movnt", sel: byPfx(ent("movntq", fMemOnly, mmMovqStore), ent("movntdq", fMemOnly, sseStoreAligned), nil, nil)}
	x[0x2B] = opEntry{name: "movntps", sel: byPfx(ent("movntps", fMemOnly, sseStoreAligned), ent("movntpd", fMemOnly, sseStoreAligned), nil, nil)}
	x[0x77] = opEntry{name: "emms", h: one(emms)} // no ModRM: not through byPfx
	x[0xC3] = opEntry{name: "movnti", sel: byPfx(&opEntry{name: "movnti", f: fModRM | fMemOnly | fOp32, h: v(nil, movnti32, movnti64)}, nil, nil, nil)}

	// Moves (0F 10-17, 28/29, 6E/6F, 7E/7F, D6).
	load := ent("movups/movaps/movdqu/movdqa load", 0, sseMovLoad)
	store := ent("movups/movaps/movdqu/movdqa store", 0, sseMovStore)
	x[0x10] = opEntry{name: "movups", sel: byPfx(load, load, ent("movss", 0, movScalarLoad), ent("movsd", 0, movScalarLoad))}
	x[0x11] = opEntry{name: "movups", sel: byPfx(store, store, ent("movss", 0, movScalarStore), ent("movsd", 0, movScalarStore))}
	x[0x12] = opEntry{name: "movlps", sel: byPfx(ent("movlps/movhlps", 0, movHalfLoad), ent("movlpd", fMemOnly, movHalfLoad), nil, nil)}
	x[0x13] = opEntry{name: "movlps", sel: byPfx(ent("movlps", fMemOnly, movHalfStore), ent("movlpd", fMemOnly, movHalfStore), nil, nil)}
	x[0x16] = opEntry{name: "movhps", sel: byPfx(ent("movhps/movlhps", 0, movHalfLoad), ent("movhpd", fMemOnly, movHalfLoad), nil, nil)}
	x[0x17] = opEntry{name: "movhps", sel: byPfx(ent("movhps", fMemOnly, movHalfStore), ent("movhpd", fMemOnly, movHalfStore), nil, nil)}
	x[0x28] = opEntry{name: "movaps", sel: byPfx(load, load, nil, nil)}
	x[0x29] = opEntry{name: "movaps", sel: byPfx(store, store, nil, nil)}
	x[0x6F] = opEntry{name: "movq/movdq", sel: byPfx(ent("movq mm,mm/m64", 0, mmMovqLoad), load, load, nil)}
	x[0x7F] = opEntry{name: "movq/movdq", sel: byPfx(ent("movq mm/m64,mm", 0, mmMovqStore), store, store, nil)}
	x[0x6E] = opEntry{name: "movd", sel: byPfx(ent("movd mm,Ey", 0, mmMovdLoad), ent("movd xmm,Ey", 0, movdLoad), nil, nil)}
	x[0x7E] = opEntry{name: "movd", sel: byPfx(ent("movd Ey,mm", 0, mmMovdStore), ent("movd Ey,xmm", 0, movdStore),
		ent("movq xmm,xmm/m64", 0, movqLoad), nil)}
	x[0xD6] = opEntry{name: "movq", sel: byPfx(nil, ent("movq xmm/m64,xmm", 0, movqStore),
		ent("movq2dq", fRegOnly, movq2dq), ent("movdq2q", fRegOnly, movq2dq))}

	// Packed single/double logic, unpacks and shuffles (bitwise: exact).
	for op, f := range map[byte]lane64{
		0x54: func(d, s uint64) uint64 { return d & s },  // ANDPS/ANDPD
		0x55: func(d, s uint64) uint64 { return ^d & s }, // ANDNPS/ANDNPD
		0x56: func(d, s uint64) uint64 { return d | s },  // ORPS/ORPD
		0x57: func(d, s uint64) uint64 { return d ^ s },  // XORPS/XORPD
	} {
		e := ent("sse logic", 0, sseLaneOp(f))
		x[op] = opEntry{name: "sse logic", sel: byPfx(e, e, nil, nil)}
	}
	x[0x14] = opEntry{name: "unpcklps", sel: byPfx(ent("unpcklps", 0, sseWholeOp(func(d, s vec) vec { return unpack(d, s, 4, false) })),
		ent("unpcklpd", 0, sseWholeOp(func(d, s vec) vec { return unpack(d, s, 8, false) })), nil, nil)}
	x[0x15] = opEntry{name: "unpckhps", sel: byPfx(ent("unpckhps", 0, sseWholeOp(func(d, s vec) vec { return unpack(d, s, 4, true) })),
		ent("unpckhpd", 0, sseWholeOp(func(d, s vec) vec { return unpack(d, s, 8, true) })), nil, nil)}
	x[0xC6] = opEntry{name: "shufps", sel: byPfx(ent("shufps", fImm8, shufp), ent("shufpd", fImm8, shufp), nil, nil)}
	x[0x50] = opEntry{name: "movmskps", sel: byPfx(ent("movmskps", fRegOnly, movmskp), ent("movmskpd", fRegOnly, movmskp), nil, nil)}

	// SSE/SSE2 floating-point arithmetic, comparisons and conversions
	// (exec_ssefp.go).
	addSSEFP(t)
}

// sseStoreAligned: MOVNTPS/MOVNTPD m128, xmm (0F 2B) and MOVNTDQ m128, xmm
// (66 0F E7): a 16-byte aligned store (the non-temporal hint has no
// effect without caches).
func sseStoreAligned(c *CPU, in *Inst) {
	if c.sseCheck() {
		c.writeXMM(in, c.fpu.xmm[in.reg&15], true)
	}
}

// movnti: MOVNTI m32/m64, r32/r64 (0F C3; SSE2).
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func movnti[T uint32 | uint64](c *CPU, in *Inst) {
	wr(c, in.seg, c.ea(in), getReg[T](c, in.reg))
}

// movScalarLoad: MOVSS xmm, xmm/m32 (F3 0F 10) and MOVSD xmm, xmm/m64 (F2
// 0F 10): between registers only the low element moves; from memory the
// rest of the destination is cleared (Vol. 2B MOVSS/MOVSD).
func movScalarLoad(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	d := &c.fpu.xmm[in.reg&15]
	if in.mod == 3 {
		s := c.fpu.xmm[in.rm&15][0]
		if in.rep == 0xF3 {
			d[0] = d[0]&^0xFFFFFFFF | s&0xFFFFFFFF
		} else {
			d[0] = s
		}
		return
	}
	if in.rep == 0xF3 {
		v, ok := rd[uint32](c, in.seg, c.ea(in))
		if ok {
			*d = [2]uint64{uint64(v), 0}
		}
		return
	}
	v, ok := rd[uint64](c, in.seg, c.ea(in))
	if ok {
		*d = [2]uint64{v, 0}
	}
}

// movScalarStore: MOVSS xmm/m32, xmm (F3 0F 11) and MOVSD xmm/m64, xmm
// (F2 0F 11).
func movScalarStore(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s := c.fpu.xmm[in.reg&15][0]
	if in.mod == 3 {
		d := &c.fpu.xmm[in.rm&15]
		if in.rep == 0xF3 {
			d[0] = d[0]&^0xFFFFFFFF | s&0xFFFFFFFF
		} else {
			d[0] = s
		}
		return
	}
	if in.rep == 0xF3 {
		wr(c, in.seg, c.ea(in), uint32(s))
		return
	}
	wr(c, in.seg, c.ea(in), s)
}

// movHalfLoad: MOVLPS/MOVLPD xmm, m64 (0F 12) and MOVHPS/MOVHPD xmm, m64
// (0F 16) load one half and keep the other; the register forms are
// MOVHLPS (0F 12: low ← the source's high half) and MOVLHPS (0F 16: high ←
// the source's low half).
func movHalfLoad(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	hi := in.op == 0x116
	var v uint64
	if in.mod == 3 {
		s := c.fpu.xmm[in.rm&15]
		if hi {
			v = s[0]
		} else {
			v = s[1]
		}
	} else {
		var ok bool
		if v, ok = rd[uint64](c, in.seg, c.ea(in)); !ok {
			return
		}
	}
	d := &c.fpu.xmm[in.reg&15]
	if hi {
		d[1] = v
	} else {
		d[0] = v
	}
}

// movHalfStore: MOVLPS/MOVLPD m64, xmm (0F 13) and MOVHPS/MOVHPD m64, xmm
// (0F 17).
func movHalfStore(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s := c.fpu.xmm[in.reg&15]
	v := s[0]
	if in.op == 0x117 {
		v = s[1]
	}
	wr(c, in.seg, c.ea(in), v)
}

// shufp: SHUFPS xmm, xmm/m128, imm8 (0F C6) and SHUFPD (66 0F C6): the low
// result elements come from the destination, the high ones from the
// source, selected by imm8.
func shufp(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s, ok := c.readXMM(in, true)
	if !ok {
		return
	}
	d := &c.fpu.xmm[in.reg&15]
	if in.pfx66 {
		*d = [2]uint64{d[in.imm&1], s[in.imm>>1&1]}
		return
	}
	dv, sv := vecOf(*d, 16), vecOf(s, 16)
	r := vec{n: 16}
	for i := 0; i < 4; i++ {
		src := &dv
		if i >= 2 {
			src = &sv
		}
		r.setElem(i, 4, src.elem(int(in.imm>>(2*i))&3, 4))
	}
	*d = r.u64()
}

// movmskp: MOVMSKPS r32, xmm (0F 50) and MOVMSKPD (66 0F 50): the sign
// bits of the elements, the rest of the destination cleared.
func movmskp(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	s := c.fpu.xmm[in.rm&15]
	var m uint64
	if in.pfx66 {
		m = s[0]>>63 | s[1]>>63<<1
	} else {
		m = s[0]>>31&1 | s[0]>>63<<1 | s[1]>>31&1<<2 | s[1]>>63<<3
	}
	c.GPR[in.reg&15] = m
}

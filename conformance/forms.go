package conformance

import "fmt"

// mspec describes a ModRM instruction form for modrmCase.
type mspec struct {
	w      int    // operand width in bits (of the reg operand)
	rmW    int    // width of the r/m operand when it differs (MOVZX, MOVSX), else 0
	pfx    []byte // mandatory prefixes (before the operand-size prefix)
	op     []byte // opcode bytes
	digit  int    // ModRM.reg as an opcode extension, or noReg when it is a register operand
	mem    bool   // the r/m operand is memory
	imm    int    // immediate bytes
	avoid  []int  // registers the form uses implicitly (not picked for operands)
	noOpsz bool   // no 66/REX.W from the width (the width is implied)
}

// mcase is what modrmCase chose.
type mcase struct {
	rs     regSet
	reg    int   // reg operand (noReg when digit)
	rm     *rmOp // r/m operand
	addr   uint64
	regV   uint64
	rmV    uint64
	immV   uint64
	in     insn
	rmRegs regSet
}

// modrmCase builds a case for a ModRM form with edge values in every
// operand, and returns what it chose so the caller can adjust inputs and
// compute undefined flags. Call c.Code = m.in.encode() after adjusting.
func (g *gen) modrmCase(c *Case, s mspec) *mcase {
	m := &mcase{reg: noReg}
	rmW := s.rmW
	if rmW == 0 {
		rmW = s.w
	}
	legacy := (s.w == 8 || rmW == 8) && s.w != 64 && g.r.IntN(2) == 0
	m.rs = regSet{w: s.w, legacy: legacy && s.w == 8}
	m.rmRegs = regSet{w: rmW, legacy: legacy && rmW == 8}
	pickSet := regSet{w: 64, legacy: legacy}
	used := append([]int(nil), s.avoid...)
	if s.digit == noReg {
		m.reg = g.pick(pickSet, used...)
		used = append(used, m.reg)
		if m.rs.legacy || s.w == 8 && legacy {
			used = append(used, m.reg^4)
		}
	}
	m.regV = g.val(s.w)
	m.rmV = g.val(rmW)
	if s.mem {
		// Memory base/index registers must not be operands.
		m.rm, m.addr = g.memRef(c, rmW/8, used...)
		putMem(c, m.addr, rmW/8, m.rmV)
	} else {
		r := noReg
		if m.reg != noReg && g.r.IntN(10) == 0 {
			r = m.reg
		} else {
			r = g.pick(pickSet, used...)
		}
		m.rm = &rmOp{reg: r}
	}
	// Background bits, then values.
	if m.reg != noReg {
		c.In.GPR[phys8(m.rs, m.reg)] = g.upper()
	}
	if !s.mem {
		c.In.GPR[phys8(m.rmRegs, m.rm.reg)] = g.upper()
	}
	if m.reg != noReg {
		g.setReg(c, m.rs, m.reg, m.regV)
	}
	if !s.mem {
		g.setReg(c, m.rmRegs, m.rm.reg, m.rmV)
		if m.rm.reg == m.reg && rmW == s.w {
			m.rmV = m.regV
		}
	}
	if s.imm > 0 {
		m.immV = g.val(s.imm * 8)
		if s.imm == 1 && g.r.IntN(3) == 0 {
			m.immV = uint64(g.r.IntN(256))
		}
	}
	pfx := append([]byte(nil), s.pfx...)
	w := false
	if !s.noOpsz {
		var p []byte
		p, w = opsz(s.w)
		pfx = append(p, pfx...)
	}
	m.in = insn{pfx: pfx, w: w, op: s.op, reg: s.digit, rm: m.rm, opReg: noReg, imm: le(m.immV, s.imm)}
	if s.digit == noReg {
		m.in.reg = m.reg
	}
	if legacy {
		m.in.noRex = true
	} else if s.w == 8 || rmW == 8 {
		// SPL..DIL need REX; otherwise add an empty REX now and then.
		need := m.reg >= 4 && m.reg < 8 && s.w == 8 || !s.mem && m.rm.reg >= 4 && m.rm.reg < 8 && rmW == 8
		m.in.forceRex = need || g.r.IntN(4) == 0
	}
	return m
}

// sx sign-extends the low w bits of v.
func sx(v uint64, w int) uint64 {
	sh := 64 - w
	return uint64(int64(v<<sh) >> sh)
}

func widths() []int { return []int{8, 16, 32, 64} }

// allForms lists every instruction form. Names are "mnemonic operands
// [variant]" with operand widths in bits.
func allForms() []form {
	var fs []form
	fs = append(fs, aluForms()...)
	fs = append(fs, unaryForms()...)
	fs = append(fs, shiftForms()...)
	fs = append(fs, mulDivForms()...)
	fs = append(fs, bitForms()...)
	fs = append(fs, xchgForms()...)
	fs = append(fs, stringForms()...)
	fs = append(fs, condForms()...)
	fs = append(fs, moveForms()...)
	fs = append(fs, flagForms()...)
	fs = append(fs, stackForms()...)
	fs = append(fs, privForms()...)
	return fs
}

// ---- ALU ----

func aluForms() []form {
	var fs []form
	names := []string{"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"}
	for op, name := range names {
		undef := uint64(0)
		if name == "and" || name == "or" || name == "xor" {
			undef = fAF
		}
		base := byte(op * 8)
		for _, w := range widths() {
			v := byte(1)
			if w == 8 {
				v = 0
			}
			s := func(opc byte, digit int, mem bool, imm int) mspec {
				return mspec{w: w, op: []byte{opc}, digit: digit, mem: mem, imm: imm}
			}
			add := func(label string, sp mspec) {
				fs = append(fs, form{name: fmt.Sprintf("%s %s", name, label), make: func(g *gen, c *Case) {
					m := g.modrmCase(c, sp)
					c.Code = m.in.encode()
					c.Undef = undef
				}})
			}
			immW := min(w/8, 4)
			add(fmt.Sprintf("r/m%d,r%d [reg]", w, w), s(base+v, noReg, false, 0))
			add(fmt.Sprintf("r%d,r/m%d [reg]", w, w), s(base+2+v, noReg, false, 0))
			add(fmt.Sprintf("m%d,r%d", w, w), s(base+v, noReg, true, 0))
			add(fmt.Sprintf("r%d,m%d", w, w), s(base+2+v, noReg, true, 0))
			opImm := byte(0x80)
			if w != 8 {
				opImm = 0x81
			}
			add(fmt.Sprintf("r/m%d,imm%d [reg]", w, immW*8), s(opImm, op, false, immW))
			add(fmt.Sprintf("m%d,imm%d", w, immW*8), s(opImm, op, true, immW))
			if w != 8 {
				add(fmt.Sprintf("r/m%d,imm8 [reg]", w), s(0x83, op, false, 1))
			}
			// Accumulator, immediate.
			fs = append(fs, form{name: fmt.Sprintf("%s acc%d,imm%d", name, w, immW*8), make: func(g *gen, c *Case) {
				c.In.GPR[0] = g.upper()
				g.setReg(c, regSet{w: w}, 0, g.val(w))
				p, rw := opsz(w)
				c.Code = insn{pfx: p, w: rw, op: []byte{base + 4 + v}, reg: noReg, opReg: noReg, imm: le(g.val(immW*8), immW)}.encode()
				c.Undef = undef
			}})
			if name != "cmp" && (w == 8 || w == 64) {
				fs = append(fs, form{name: fmt.Sprintf("lock %s m%d,r%d", name, w, w), n: 40, make: func(g *gen, c *Case) {
					m := g.modrmCase(c, mspec{w: w, pfx: []byte{0xF0}, op: []byte{base + v}, digit: noReg, mem: true})
					c.Code = m.in.encode()
					c.Undef = undef
				}})
			}
		}
	}
	fs = append(fs, form{name: "lock add r32,r32 (#UD)", n: 10, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 32, pfx: []byte{0xF0}, op: []byte{0x01}, digit: noReg})
		c.Code = m.in.encode()
	}})
	fs = append(fs, form{name: "opcode 82 (#UD in 64-bit mode)", n: 10, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 8, op: []byte{0x82}, digit: g.r.IntN(8), imm: 1})
		c.Code = m.in.encode()
	}})
	// TEST.
	for _, w := range widths() {
		v := byte(1)
		if w == 8 {
			v = 0
		}
		immW := min(w/8, 4)
		for _, mem := range []bool{false, true} {
			kind := "reg"
			if mem {
				kind = "mem"
			}
			fs = append(fs, form{name: fmt.Sprintf("test r/m%d,r%d [%s]", w, w, kind), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x84 + v}, digit: noReg, mem: mem})
				c.Code = m.in.encode()
				c.Undef = fAF
			}})
			fs = append(fs, form{name: fmt.Sprintf("test r/m%d,imm%d [%s]", w, immW*8, kind), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0xF6 + v}, digit: 0, mem: mem, imm: immW})
				c.Code = m.in.encode()
				c.Undef = fAF
			}})
		}
		fs = append(fs, form{name: fmt.Sprintf("test acc%d,imm%d", w, immW*8), make: func(g *gen, c *Case) {
			c.In.GPR[0] = g.upper()
			g.setReg(c, regSet{w: w}, 0, g.val(w))
			p, rw := opsz(w)
			c.Code = insn{pfx: p, w: rw, op: []byte{0xA8 + v}, reg: noReg, opReg: noReg, imm: le(g.val(immW*8), immW)}.encode()
			c.Undef = fAF
		}})
	}
	return fs
}

func unaryForms() []form {
	var fs []form
	type u struct {
		name  string
		op    byte // 8-bit opcode; +1 for wider
		digit int
	}
	for _, x := range []u{{"inc", 0xFE, 0}, {"dec", 0xFE, 1}, {"not", 0xF6, 2}, {"neg", 0xF6, 3}} {
		for _, w := range widths() {
			op := x.op
			if w != 8 {
				op++
			}
			for _, mem := range []bool{false, true} {
				kind := "reg"
				if mem {
					kind = "mem"
				}
				fs = append(fs, form{name: fmt.Sprintf("%s r/m%d [%s]", x.name, w, kind), make: func(g *gen, c *Case) {
					m := g.modrmCase(c, mspec{w: w, op: []byte{op}, digit: x.digit, mem: mem})
					c.Code = m.in.encode()
				}})
			}
		}
	}
	return fs
}

// ---- shifts and rotates ----

// shiftCount returns an edge-biased raw shift count.
func (g *gen) shiftCount(w int) uint64 {
	edges := []uint64{0, 1, 2, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 65, 0xFF, 0x80, 0xE0, 0xE1}
	if g.r.IntN(3) == 0 {
		return uint64(g.r.IntN(256))
	}
	return edges[g.r.IntN(len(edges))]
}

// shiftUndef returns the RFLAGS bits the SDM leaves undefined for a
// shift/rotate by a raw count (SDM Vol. 2B SAL/SAR/SHL/SHR, RCL/RCR/ROL/ROR).
func shiftUndef(digit, w int, raw uint64) uint64 {
	cnt := raw & 0x1F
	if w == 64 {
		cnt = raw & 0x3F
	}
	if cnt == 0 {
		return 0
	}
	u := uint64(0)
	if cnt != 1 {
		u |= fOF
	}
	if digit >= 4 { // SHL, SHR, SAL, SAR
		u |= fAF
		if digit != 7 && cnt >= uint64(w) {
			u |= fCF
		}
	}
	return u
}

func shiftForms() []form {
	var fs []form
	names := []string{"rol", "ror", "rcl", "rcr", "shl", "shr", "sal(/6)", "sar"}
	for digit, name := range names {
		for _, w := range widths() {
			v := byte(1)
			if w == 8 {
				v = 0
			}
			kinds := []string{"1", "cl", "imm8", "cl mem"}
			if digit == 6 {
				kinds = []string{"cl"}
			}
			for _, k := range kinds {
				fs = append(fs, form{name: fmt.Sprintf("%s r/m%d,%s", name, w, k), make: func(g *gen, c *Case) {
					sp := mspec{w: w, digit: digit, avoid: []int{1}}
					var raw uint64
					switch k {
					case "1":
						sp.op = []byte{0xD0 + v}
						raw = 1
					case "imm8":
						sp.op = []byte{0xC0 + v}
						sp.imm = 1
					default:
						sp.op = []byte{0xD2 + v}
						sp.mem = k == "cl mem"
					}
					m := g.modrmCase(c, sp)
					if k == "imm8" {
						raw = g.shiftCount(w)
						m.in.imm = []byte{byte(raw)}
					}
					if sp.op[0] >= 0xD2 {
						raw = g.shiftCount(w)
						c.In.GPR[1] = g.upper()&^0xFF | raw
					}
					c.Code = m.in.encode()
					c.Undef = shiftUndef(digit, w, raw)
				}})
			}
		}
	}
	// SHLD/SHRD.
	for i, name := range []string{"shld", "shrd"} {
		for _, w := range []int{16, 32, 64} {
			for _, k := range []string{"imm8", "cl", "cl mem"} {
				fs = append(fs, form{name: fmt.Sprintf("%s r/m%d,r%d,%s", name, w, w, k), make: func(g *gen, c *Case) {
					op := byte(0xA4 + 8*i)
					sp := mspec{w: w, digit: noReg, avoid: []int{1}, mem: k == "cl mem"}
					raw := g.shiftCount(w)
					if k == "imm8" {
						sp.op, sp.imm = []byte{0x0F, op}, 1
					} else {
						sp.op = []byte{0x0F, op + 1}
						if sp.mem && w == 16 {
							raw &= 0xF // keep memory results defined
						}
						c.In.GPR[1] = g.upper()&^0xFF | raw
					}
					m := g.modrmCase(c, sp)
					if k == "imm8" {
						m.in.imm = []byte{byte(raw)}
					}
					c.Code = m.in.encode()
					cnt := raw & 0x1F
					if w == 64 {
						cnt = raw & 0x3F
					}
					switch {
					case cnt == 0:
					case cnt > uint64(w):
						c.Undef = fStatus
						c.UndefGPR = 1 << m.rm.reg
					default:
						c.Undef = fAF
						if cnt != 1 {
							c.Undef |= fOF
						}
					}
				}})
			}
		}
	}
	return fs
}

// ---- MUL, IMUL, DIV, IDIV ----

func mulDivForms() []form {
	var fs []form
	names := []string{"mul", "imul", "div", "idiv"}
	for i, name := range names {
		digit := 4 + i
		for _, w := range widths() {
			op := byte(0xF7)
			if w == 8 {
				op = 0xF6
			}
			for _, mem := range []bool{false, true} {
				kind := "reg"
				if mem {
					kind = "mem"
				}
				fs = append(fs, form{name: fmt.Sprintf("%s r/m%d [%s]", name, w, kind), make: func(g *gen, c *Case) {
					m := g.modrmCase(c, mspec{w: w, op: []byte{op}, digit: digit, mem: mem, avoid: []int{0, 2}})
					a := g.val(w)
					d := g.val(w)
					if digit >= 6 {
						div := m.rmV
						switch g.r.IntN(6) {
						case 0: // quotient fits: high part below the divisor
							if div != 0 {
								d = g.r.Uint64() % div
							}
						case 1: // small dividend
							d = 0
						case 2:
							if digit == 7 {
								d = mask(w)
								if a&(1<<(w-1)) == 0 {
									d = 0
								}
							}
						}
					}
					c.In.GPR[0] = g.upper()
					c.In.GPR[2] = g.upper()
					if w == 8 {
						g.setReg(c, regSet{w: 16}, 0, d<<8|a)
					} else {
						g.setReg(c, regSet{w: w}, 0, a)
						g.setReg(c, regSet{w: w}, 2, d)
					}
					c.Code = m.in.encode()
					if digit >= 6 {
						c.Undef = fStatus
					} else {
						c.Undef = fSF | fZF | fAF | fPF
					}
				}})
			}
		}
	}
	for _, w := range []int{16, 32, 64} {
		for _, mem := range []bool{false, true} {
			kind := "reg"
			if mem {
				kind = "mem"
			}
			fs = append(fs, form{name: fmt.Sprintf("imul r%d,r/m%d [%s]", w, w, kind), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0xAF}, digit: noReg, mem: mem})
				c.Code = m.in.encode()
				c.Undef = fSF | fZF | fAF | fPF
			}})
		}
		for _, imm := range []int{1, min(w/8, 4)} {
			op := byte(0x69)
			if imm == 1 {
				op = 0x6B
			}
			fs = append(fs, form{name: fmt.Sprintf("imul r%d,r/m%d,imm%d", w, w, imm*8), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{op}, digit: noReg, imm: imm})
				c.Code = m.in.encode()
				c.Undef = fSF | fZF | fAF | fPF
			}})
		}
	}
	return fs
}

// ---- bit instructions ----

func bitForms() []form {
	var fs []form
	names := []string{"bt", "bts", "btr", "btc"}
	for i, name := range names {
		for _, w := range []int{16, 32, 64} {
			opReg := byte(0xA3 + 8*i)
			fs = append(fs, form{name: fmt.Sprintf("%s r/m%d,r%d [reg]", name, w, w), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, opReg}, digit: noReg})
				c.Code = m.in.encode()
				c.Undef = fOF | fSF | fAF | fPF
			}})
			fs = append(fs, form{name: fmt.Sprintf("%s r/m%d,imm8 [reg]", name, w), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0xBA}, digit: 4 + i, imm: 1})
				c.Code = m.in.encode()
				c.Undef = fOF | fSF | fAF | fPF
			}})
			fs = append(fs, form{name: fmt.Sprintf("%s m%d,imm8", name, w), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0xBA}, digit: 4 + i, imm: 1, mem: true})
				c.Code = m.in.encode()
				c.Undef = fOF | fSF | fAF | fPF
			}})
			// Bit string: the register offset is signed and may address
			// far from the operand (SDM Vol. 2A BT, "bit base").
			fs = append(fs, form{name: fmt.Sprintf("%s m%d,r%d [bit string]", name, w, w), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, opReg}, digit: noReg, mem: true})
				off := int64(g.r.IntN(0x4000)) - 0x2000
				if g.r.IntN(10) == 0 {
					off = int64(sx(g.val(w), w))
				}
				g.setReg(c, m.rs, m.reg, uint64(off))
				ea := int64(m.addr) + off>>3
				g.fill(c, int(ea-MemBase)-8, 16)
				c.Code = m.in.encode()
				c.Undef = fOF | fSF | fAF | fPF
			}})
		}
	}
	fs = append(fs, form{name: "lock bts m64,r64 [bit string]", n: 30, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 64, pfx: []byte{0xF0}, op: []byte{0x0F, 0xAB}, digit: noReg, mem: true})
		g.setReg(c, m.rs, m.reg, uint64(int64(g.r.IntN(0x2000))-0x1000))
		c.Code = m.in.encode()
		c.Undef = fOF | fSF | fAF | fPF
	}})
	type scan struct {
		name  string
		pfx   []byte
		op    byte
		undef uint64
		bsx   bool
	}
	for _, s := range []scan{
		{"bsf", nil, 0xBC, fCF | fOF | fSF | fAF | fPF, true},
		{"bsr", nil, 0xBD, fCF | fOF | fSF | fAF | fPF, true},
		{"tzcnt", []byte{0xF3}, 0xBC, fOF | fSF | fAF | fPF, false},
		{"lzcnt", []byte{0xF3}, 0xBD, fOF | fSF | fAF | fPF, false},
		{"popcnt", []byte{0xF3}, 0xB8, 0, false},
	} {
		for _, w := range []int{16, 32, 64} {
			for _, mem := range []bool{false, true} {
				kind := "reg"
				if mem {
					kind = "mem"
				}
				fs = append(fs, form{name: fmt.Sprintf("%s r%d,r/m%d [%s]", s.name, w, w, kind), make: func(g *gen, c *Case) {
					m := g.modrmCase(c, mspec{w: w, pfx: s.pfx, op: []byte{0x0F, s.op}, digit: noReg, mem: mem})
					if g.r.IntN(6) == 0 && !mem {
						g.setReg(c, m.rmRegs, m.rm.reg, 0)
						m.rmV = 0
						if m.rm.reg == m.reg {
							m.regV = 0
						}
					}
					c.Code = m.in.encode()
					c.Undef = s.undef
					if s.bsx && m.rmV&mask(w) == 0 {
						c.UndefGPR = 1 << m.reg
					}
				}})
			}
		}
	}
	return fs
}

// ---- exchange ----

func xchgForms() []form {
	var fs []form
	for _, w := range widths() {
		v := byte(1)
		if w == 8 {
			v = 0
		}
		for _, mem := range []bool{false, true} {
			kind := "reg"
			if mem {
				kind = "mem"
			}
			fs = append(fs, form{name: fmt.Sprintf("cmpxchg r/m%d,r%d [%s]", w, w, kind), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0xB0 + v}, digit: noReg, mem: mem, avoid: []int{0}})
				c.In.GPR[0] = g.upper()
				acc := g.val(w)
				if g.r.IntN(2) == 0 {
					acc = m.rmV
				}
				g.setReg(c, regSet{w: w}, 0, acc)
				c.Code = m.in.encode()
			}})
			fs = append(fs, form{name: fmt.Sprintf("xadd r/m%d,r%d [%s]", w, w, kind), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0xC0 + v}, digit: noReg, mem: mem})
				c.Code = m.in.encode()
			}})
			fs = append(fs, form{name: fmt.Sprintf("xchg r/m%d,r%d [%s]", w, w, kind), n: 50, make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x86 + v}, digit: noReg, mem: mem})
				c.Code = m.in.encode()
			}})
		}
		fs = append(fs, form{name: fmt.Sprintf("lock cmpxchg m%d,r%d", w, w), n: 40, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: w, pfx: []byte{0xF0}, op: []byte{0x0F, 0xB0 + v}, digit: noReg, mem: true, avoid: []int{0}})
			c.In.GPR[0] = g.upper()
			acc := g.val(w)
			if g.r.IntN(2) == 0 {
				acc = m.rmV
			}
			g.setReg(c, regSet{w: w}, 0, acc)
			c.Code = m.in.encode()
		}})
	}
	for _, w := range []int{16, 32, 64} {
		fs = append(fs, form{name: fmt.Sprintf("xchg acc%d,r%d (90+r)", w, w), n: 30, make: func(g *gen, c *Case) {
			r := 1 + g.r.IntN(15)
			if r == 4 {
				r = 12
			}
			c.In.GPR[0], c.In.GPR[r] = g.val(64), g.val(64)
			p, rw := opsz(w)
			c.Code = insn{pfx: p, w: rw, op: []byte{0x90}, reg: noReg, opReg: r}.encode()
		}})
	}
	for _, w := range []int{64, 128} {
		name := "cmpxchg8b m64"
		if w == 128 {
			name = "cmpxchg16b m128"
		}
		fs = append(fs, form{name: name, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: 32, op: []byte{0x0F, 0xC7}, digit: 1, mem: true, avoid: []int{0, 1, 2, 3}, noOpsz: true})
			m.in.w = w == 128
			n := w / 8
			half := n / 2
			lo, hi := g.val(64)&mask(half*8), g.val(64)&mask(half*8)
			if w == 128 && g.r.IntN(4) != 0 {
				// Mostly aligned: CMPXCHG16B #GPs on a misaligned operand.
				a := m.addr &^ 15
				if m.rm.index != noReg {
					c.In.GPR[m.rm.base] -= m.addr - a
				} else if m.rm.base != noReg {
					c.In.GPR[m.rm.base] -= m.addr - a
				} else {
					m.rm.rip = a
				}
				m.addr = a
			}
			putMem(c, m.addr, half, lo)
			putMem(c, m.addr+uint64(half), half, hi)
			for _, r := range []int{0, 1, 2, 3} {
				c.In.GPR[r] = g.val(64)
			}
			if g.r.IntN(2) == 0 {
				c.In.GPR[0], c.In.GPR[2] = g.upper()&^mask(half*8)|lo, g.upper()&^mask(half*8)|hi
			}
			c.Code = m.in.encode()
		}})
	}
	fs = append(fs, form{name: "cmpxchg8b reg (#UD)", n: 10, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 32, op: []byte{0x0F, 0xC7}, digit: 1})
		c.Code = m.in.encode()
	}})
	return fs
}

// ---- conditions ----

func ccNames() []string {
	return []string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}
}

func condForms() []form {
	var fs []form
	for cc, n := range ccNames() {
		fs = append(fs, form{name: fmt.Sprintf("set%s r/m8", n), n: 60, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: 8, op: []byte{0x0F, 0x90 + byte(cc)}, digit: 0, mem: g.r.IntN(4) == 0})
			c.Code = m.in.encode()
		}})
		for _, w := range []int{16, 32, 64} {
			fs = append(fs, form{name: fmt.Sprintf("cmov%s r%d,r/m%d", n, w, w), n: 60, make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0x40 + byte(cc)}, digit: noReg, mem: g.r.IntN(4) == 0})
				c.Code = m.in.encode()
			}})
		}
	}
	return fs
}

// ---- moves ----

func moveForms() []form {
	var fs []form
	for _, w := range []int{16, 32, 64} {
		fs = append(fs, form{name: fmt.Sprintf("bswap r%d", w), n: 40, make: func(g *gen, c *Case) {
			r := g.pick(regSet{w: 64})
			c.In.GPR[r] = g.val(64)
			p, rw := opsz(w)
			c.Code = insn{pfx: p, w: rw, op: []byte{0x0F, 0xC8}, reg: noReg, opReg: r}.encode()
			if w == 16 {
				c.UndefGPR = 1 << r // SDM Vol. 2A BSWAP: undefined for 16-bit registers
			}
		}})
		for _, load := range []bool{true, false} {
			op, label := byte(0xF1), fmt.Sprintf("movbe m%d,r%d", w, w)
			if load {
				op, label = 0xF0, fmt.Sprintf("movbe r%d,m%d", w, w)
			}
			fs = append(fs, form{name: label, make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x0F, 0x38, op}, digit: noReg, mem: true})
				c.Code = m.in.encode()
			}})
		}
	}
	fs = append(fs, form{name: "movbe r32,r32 (#UD)", n: 10, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 32, op: []byte{0x0F, 0x38, 0xF0}, digit: noReg})
		c.Code = m.in.encode()
	}})
	type ext struct {
		name   string
		op     byte
		dw, sw int
	}
	for _, e := range []ext{
		{name: "movzx r16,r/m8", op: 0xB6, dw: 16, sw: 8}, {name: "movzx r32,r/m8", op: 0xB6, dw: 32, sw: 8},
		{name: "movzx r64,r/m8", op: 0xB6, dw: 64, sw: 8}, {name: "movzx r32,r/m16", op: 0xB7, dw: 32, sw: 16},
		{name: "movzx r64,r/m16", op: 0xB7, dw: 64, sw: 16}, {name: "movsx r16,r/m8", op: 0xBE, dw: 16, sw: 8},
		{name: "movsx r32,r/m8", op: 0xBE, dw: 32, sw: 8}, {name: "movsx r64,r/m8", op: 0xBE, dw: 64, sw: 8},
		{name: "movsx r32,r/m16", op: 0xBF, dw: 32, sw: 16}, {name: "movsx r64,r/m16", op: 0xBF, dw: 64, sw: 16},
	} {
		fs = append(fs, form{name: e.name, n: 60, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: e.dw, rmW: e.sw, op: []byte{0x0F, e.op}, digit: noReg, mem: g.r.IntN(3) == 0})
			c.Code = m.in.encode()
		}})
	}
	fs = append(fs, form{name: "movsxd r64,r/m32", n: 60, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 64, rmW: 32, op: []byte{0x63}, digit: noReg, mem: g.r.IntN(3) == 0})
		c.Code = m.in.encode()
	}})
	for _, w := range widths() {
		v := byte(1)
		if w == 8 {
			v = 0
		}
		for _, dir := range []byte{0, 2} {
			fs = append(fs, form{name: fmt.Sprintf("mov (%02x) %d-bit", 0x88+dir+v, w), n: 50, make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x88 + dir + v}, digit: noReg, mem: g.r.IntN(2) == 0})
				c.Code = m.in.encode()
			}})
		}
		immW := min(w/8, 4)
		fs = append(fs, form{name: fmt.Sprintf("mov r/m%d,imm%d", w, immW*8), n: 50, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: w, op: []byte{0xC6 + v}, digit: 0, imm: immW, mem: g.r.IntN(2) == 0})
			c.Code = m.in.encode()
		}})
		fs = append(fs, form{name: fmt.Sprintf("mov r%d,imm%d (b0/b8+r)", w, w), n: 50, make: func(g *gen, c *Case) {
			rs := g.regSet(w)
			r := g.pick(rs)
			c.In.GPR[phys8(rs, r)] = g.upper()
			p, rw := opsz(w)
			op := byte(0xB0)
			if w != 8 {
				op = 0xB8
			}
			in := insn{pfx: p, w: rw, op: []byte{op}, reg: noReg, opReg: r, imm: le(g.val(w), w/8)}
			if rs.legacy {
				in.noRex = true
			} else if w == 8 {
				in.forceRex = r >= 4 && r < 8
			}
			c.Code = in.encode()
		}})
		fs = append(fs, form{name: fmt.Sprintf("mov acc%d,moffs64", w), n: 40, make: func(g *gen, c *Case) {
			c.In.GPR[0] = g.upper()
			addr := MemBase + uint64(g.r.IntN(MemSize-w/8+1))
			if g.r.IntN(8) == 0 {
				addr = g.val(64)
			}
			putMem(c, addr, w/8, g.val(w))
			p, rw := opsz(w)
			op := byte(0xA0 + v + 2*byte(g.r.IntN(2)))
			c.Code = insn{pfx: p, w: rw, op: []byte{op}, reg: noReg, opReg: noReg, imm: le(addr, 8)}.encode()
		}})
	}
	// LEA: no memory access, every addressing form.
	for _, w := range []int{16, 32, 64} {
		for _, as := range []int{32, 64} {
			fs = append(fs, form{name: fmt.Sprintf("lea r%d,m [addr%d]", w, as), make: func(g *gen, c *Case) {
				m := g.modrmCase(c, mspec{w: w, op: []byte{0x8D}, digit: noReg, mem: true})
				if m.rm.base != noReg {
					c.In.GPR[m.rm.base] = g.val(64)
				}
				if m.rm.index != noReg {
					c.In.GPR[m.rm.index] = g.val(64)
				}
				if as == 32 {
					m.in.pfx = append([]byte{0x67}, m.in.pfx...)
				}
				c.Code = m.in.encode()
			}})
		}
	}
	for _, x := range []struct {
		name string
		w    int
		op   byte
	}{{"cbw", 16, 0x98}, {"cwde", 32, 0x98}, {"cdqe", 64, 0x98}, {"cwd", 16, 0x99}, {"cdq", 32, 0x99}, {"cqo", 64, 0x99}} {
		fs = append(fs, form{name: x.name, n: 40, make: func(g *gen, c *Case) {
			c.In.GPR[0], c.In.GPR[2] = g.upper()&^mask(x.w)|g.val(x.w), g.val(64)
			p, rw := opsz(x.w)
			c.Code = insn{pfx: p, w: rw, op: []byte{x.op}, reg: noReg, opReg: noReg}.encode()
		}})
	}
	fs = append(fs, form{name: "nop r/m32 (0f 1f /0)", n: 20, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 32, op: []byte{0x0F, 0x1F}, digit: 0, mem: true})
		c.Code = m.in.encode()
	}})
	return fs
}

// ---- flags ----

func flagForms() []form {
	var fs []form
	for _, x := range []struct {
		name string
		b    []byte
	}{{"clc", []byte{0xF8}}, {"stc", []byte{0xF9}}, {"cmc", []byte{0xF5}}, {"cld", []byte{0xFC}}, {"std", []byte{0xFD}},
		{"lahf", []byte{0x9F}}, {"sahf", []byte{0x9E}}} {
		fs = append(fs, form{name: x.name, n: 40, make: func(g *gen, c *Case) {
			c.In.GPR[0] = g.val(64)
			if g.r.IntN(2) == 0 {
				c.In.RFLAGS |= fDF
			}
			c.Code = x.b
		}})
	}
	return fs
}

// ---- stack ----

func stackForms() []form {
	var fs []form
	setRSP := func(g *gen, c *Case) uint64 {
		sp := MemBase + 16 + uint64(g.r.IntN(MemSize-32))
		switch g.r.IntN(20) {
		case 0:
			sp = MemBase + uint64(g.r.IntN(8)) // push below the window: #PF
		case 1:
			sp = MemBase + MemSize - uint64(g.r.IntN(8)) // pop above it
		}
		c.In.GPR[4] = sp
		g.fill(c, int(sp-MemBase)-16, 32)
		return sp
	}
	for _, w := range []int{16, 64} {
		p, _ := opsz(w)
		fs = append(fs, form{name: fmt.Sprintf("pushf%d", w), make: func(g *gen, c *Case) {
			setRSP(g, c)
			if g.r.IntN(2) == 0 {
				c.In.RFLAGS |= fDF
			}
			c.Code = append(append([]byte(nil), p...), 0x9C)
		}})
		fs = append(fs, form{name: fmt.Sprintf("popf%d", w), n: 200, make: func(g *gen, c *Case) {
			sp := setRSP(g, c)
			// Any image except TF (which would trap on the INT3 that
			// ends the snippet).
			img := g.r.Uint64() &^ 0x100
			switch g.r.IntN(4) {
			case 0:
				img = ^uint64(0) &^ 0x100
			case 1:
				img = g.r.Uint64() & 0x3F7FD5 &^ 0x100
			}
			putMem(c, sp, w/8, img)
			c.Code = append(append([]byte(nil), p...), 0x9D)
		}})
		fs = append(fs, form{name: fmt.Sprintf("push r%d (50+r)", w), n: 40, make: func(g *gen, c *Case) {
			setRSP(g, c)
			r := g.pick(regSet{w: 64})
			c.In.GPR[r] = g.val(64)
			c.Code = insn{pfx: p, op: []byte{0x50}, reg: noReg, opReg: r}.encode()
		}})
		fs = append(fs, form{name: fmt.Sprintf("pop r%d (58+r)", w), n: 40, make: func(g *gen, c *Case) {
			sp := setRSP(g, c)
			r := g.pick(regSet{w: 64})
			c.In.GPR[r] = g.val(64)
			putMem(c, sp, w/8, g.val(w))
			c.Code = insn{pfx: p, op: []byte{0x58}, reg: noReg, opReg: r}.encode()
		}})
	}
	fs = append(fs, form{name: "push imm8", n: 30, make: func(g *gen, c *Case) {
		setRSP(g, c)
		c.Code = []byte{0x6A, byte(g.val(8))}
	}})
	fs = append(fs, form{name: "push imm32", n: 30, make: func(g *gen, c *Case) {
		setRSP(g, c)
		c.Code = append([]byte{0x68}, le(g.val(32), 4)...)
	}})
	fs = append(fs, form{name: "push m64", n: 40, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 64, op: []byte{0xFF}, digit: 6, mem: true, noOpsz: true, avoid: []int{4}})
		setRSP(g, c)
		putMem(c, m.addr, 8, m.rmV)
		c.Code = m.in.encode()
	}})
	fs = append(fs, form{name: "pop m64", n: 40, make: func(g *gen, c *Case) {
		m := g.modrmCase(c, mspec{w: 64, op: []byte{0x8F}, digit: 0, mem: true, noOpsz: true, avoid: []int{4}})
		sp := setRSP(g, c)
		putMem(c, sp, 8, g.val(64))
		c.Code = m.in.encode()
	}})
	return fs
}

// ---- string instructions ----

func stringForms() []form {
	var fs []form
	type sop struct {
		name       string
		op         byte
		src, dst   bool
		repe, repn bool
	}
	ops := []sop{
		{"movs", 0xA4, true, true, true, false},
		{"cmps", 0xA6, true, true, true, true},
		{"stos", 0xAA, false, true, true, false},
		{"lods", 0xAC, true, false, true, false},
		{"scas", 0xAE, false, true, true, true},
	}
	for _, o := range ops {
		for _, w := range widths() {
			v := byte(1)
			if w == 8 {
				v = 0
			}
			type variant struct {
				label string
				pfx   []byte
			}
			vs := []variant{{"", nil}}
			if o.repe {
				l := "rep "
				if o.repn {
					l = "repe "
				}
				vs = append(vs, variant{l, []byte{0xF3}})
			}
			if o.repn {
				vs = append(vs, variant{"repne ", []byte{0xF2}})
			}
			if w == 8 || w == 64 {
				vs = append(vs, variant{"addr32 " + vs[len(vs)-1].label, append([]byte{0x67}, vs[len(vs)-1].pfx...)})
			}
			for _, vr := range vs {
				fs = append(fs, form{name: fmt.Sprintf("%s%s%d", vr.label, o.name, w), n: 60, make: func(g *gen, c *Case) {
					n := w / 8
					rep := len(vr.pfx) > 0 && vr.pfx[len(vr.pfx)-1] != 0x67
					a32 := vr.pfx != nil && vr.pfx[0] == 0x67
					cnt := uint64(1)
					if rep {
						cnts := []uint64{0, 1, 2, 3, 4, 5, 7, 8, 9, 16, 17, 33}
						cnt = cnts[g.r.IntN(len(cnts))]
						if g.r.IntN(15) == 0 {
							cnt = g.val(64) // runs off the window: #PF part-way
						}
					}
					df := g.r.IntN(3) == 0
					if df {
						c.In.RFLAGS |= fDF
					}
					span := int(min(cnt, 200)) * n
					place := func() uint64 {
						if df {
							return MemBase + uint64(span+g.r.IntN(MemSize-2*span-16)) + uint64(span)
						}
						return MemBase + uint64(g.r.IntN(MemSize-2*span-16))
					}
					si, di := place(), place()
					switch g.r.IntN(4) {
					case 0: // overlapping buffers
						d := uint64(g.r.IntN(9))
						if g.r.IntN(2) == 0 {
							di = si + d
						} else {
							di = si - d
						}
					case 1:
						di = si
					}
					// Fill both buffers; for CMPS/SCAS make them mostly equal.
					for _, a := range []uint64{si, di} {
						lo := int(a-MemBase) - span - 4
						if !df {
							lo = int(a-MemBase) - 4
						}
						g.fill(c, lo, span+8)
					}
					acc := g.val(w)
					if o.name == "cmps" && g.r.IntN(2) == 0 {
						// Copy source to destination, then perturb one element.
						w := c.In.Window()
						s, d := int(si-MemBase), int(di-MemBase)
						lo, l := s, span+1
						if df {
							s, d, lo = s-span, d-span, s-span
						}
						if s >= 0 && d >= 0 && lo+l <= MemSize && d+l <= MemSize {
							copy(w[d:d+l], w[s:s+l])
							if g.r.IntN(2) == 0 && span > 0 {
								w[d+g.r.IntN(span)] ^= 1 << g.r.IntN(8)
							}
						}
						c.In.Mem = DiffWindow(make([]byte, MemSize), w)
					}
					if o.name == "scas" && g.r.IntN(2) == 0 {
						wnd := c.In.Window()
						acc = 0
						for i := range n {
							if a := int(di-MemBase) + i; a >= 0 && a < MemSize {
								acc |= uint64(wnd[a]) << (8 * i)
							}
						}
					}
					if a32 {
						si |= g.upper() << 32
						di |= g.upper() << 32
						cnt = cnt&0xFFFFFFFF | g.upper()<<32
					}
					c.In.GPR[6], c.In.GPR[7], c.In.GPR[1] = si, di, cnt
					c.In.GPR[0] = g.upper()&^mask(w) | acc
					p, rw := opsz(w)
					pfx := append(append([]byte(nil), vr.pfx...), p...)
					c.Code = insn{pfx: pfx, w: rw, op: []byte{o.op + v}, reg: noReg, opReg: noReg}.encode()
				}})
			}
		}
	}
	return fs
}

// ---- privileged and faulting in ring 3 ----

func privForms() []form {
	var fs []form
	fixed := func(name string, b ...byte) {
		fs = append(fs, form{name: name, n: 10, make: func(g *gen, c *Case) {
			for r := range 16 {
				if r != 4 && g.r.IntN(2) == 0 {
					c.In.GPR[r] = g.val(64)
				}
			}
			c.Code = b
		}})
	}
	fixed("hlt", 0xF4)
	fixed("cli", 0xFA)
	fixed("sti", 0xFB)
	fixed("clts", 0x0F, 0x06)
	fixed("invd", 0x0F, 0x08)
	fixed("wbinvd", 0x0F, 0x09)
	fixed("rdmsr", 0x0F, 0x32)
	fixed("wrmsr", 0x0F, 0x30)
	fixed("swapgs", 0x0F, 0x01, 0xF8)
	fixed("ud2", 0x0F, 0x0B)
	fixed("int 0x21", 0xCD, 0x21)
	fixed("into (#UD in 64-bit mode)", 0xCE)
	fixed("in al,imm8", 0xE4, 0x80)
	fixed("in eax,imm8", 0xE5, 0x71)
	fixed("in al,dx", 0xEC)
	fixed("in ax,dx", 0x66, 0xED)
	fixed("in eax,dx", 0xED)
	fixed("out imm8,al", 0xE6, 0x80)
	fixed("out imm8,eax", 0xE7, 0x70)
	fixed("out dx,al", 0xEE)
	fixed("out dx,ax", 0x66, 0xEF)
	fixed("out dx,eax", 0xEF)
	fixed("insb", 0x6C)
	fixed("insd", 0x6D)
	fixed("outsb", 0x6E)
	fixed("outsd", 0x6F)
	for _, cr := range []int{0, 2, 3, 4, 8} {
		fixed(fmt.Sprintf("mov r64,cr%d", cr), insn{op: []byte{0x0F, 0x20}, reg: cr, rm: &rmOp{reg: 0}, opReg: noReg}.encode()...)
		fixed(fmt.Sprintf("mov cr%d,r64", cr), insn{op: []byte{0x0F, 0x22}, reg: cr, rm: &rmOp{reg: 3}, opReg: noReg}.encode()...)
	}
	fixed("mov r64,dr7", 0x0F, 0x21, 0xF8)
	fixed("mov dr7,r64", 0x0F, 0x23, 0xF8)
	fixed("lldt r16", 0x0F, 0x00, 0xD0)
	fixed("ltr r16", 0x0F, 0x00, 0xD8)
	fixed("lmsw r16", 0x0F, 0x01, 0xF0)
	mem := func(name string, op []byte, digit int, pfx ...byte) {
		fs = append(fs, form{name: name, n: 10, make: func(g *gen, c *Case) {
			m := g.modrmCase(c, mspec{w: 64, pfx: pfx, op: op, digit: digit, mem: true, noOpsz: true})
			c.Code = m.in.encode()
		}})
	}
	mem("lgdt m", []byte{0x0F, 0x01}, 2)
	mem("lidt m", []byte{0x0F, 0x01}, 3)
	mem("invlpg m", []byte{0x0F, 0x01}, 7)
	// VMX instructions outside VMX operation (#UD; SDM Vol. 3C 31.3).
	// VMCALL is left out: a hypervisor below the recording host may take it.
	mem("vmptrld m64", []byte{0x0F, 0xC7}, 6)
	mem("vmptrst m64", []byte{0x0F, 0xC7}, 7)
	mem("vmclear m64", []byte{0x0F, 0xC7}, 6, 0x66)
	mem("vmxon m64", []byte{0x0F, 0xC7}, 6, 0xF3)
	fixed("vmread r/m64,r64", 0x0F, 0x78, 0xC8)
	fixed("vmwrite r64,r/m64", 0x0F, 0x79, 0xC8)
	fixed("vmlaunch", 0x0F, 0x01, 0xC2)
	fixed("vmresume", 0x0F, 0x01, 0xC3)
	fixed("vmxoff", 0x0F, 0x01, 0xC4)
	fixed("vmfunc", 0x0F, 0x01, 0xD4)
	mem("invept r64,m128", []byte{0x0F, 0x38, 0x80}, 1, 0x66)
	mem("invvpid r64,m128", []byte{0x0F, 0x38, 0x81}, 1, 0x66)
	// CPUID is user-mode executable; its results are model specific.
	fs = append(fs, form{name: "cpuid", n: 20, make: func(g *gen, c *Case) {
		leaves := []uint64{0, 1, 7, 0x80000000, 0x80000001, 0x80000008}
		c.In.GPR[0] = g.upper()&^0xFFFFFFFF | leaves[g.r.IntN(len(leaves))]
		c.In.GPR[1] = 0
		c.Code = []byte{0x0F, 0xA2}
		c.UndefGPR = 1<<0 | 1<<1 | 1<<2 | 1<<3
	}})
	return fs
}

package cpu

import "github.com/vmxemu/vmxemu/arch"

// The x87/SSE state that compiled kernels touch: FNINIT, FNSTSW, FNSTCW,
// FLDCW, FNCLEX, FNOP, FWAIT, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, the SSE moves and
// PXOR/XORPS, with the CR0.EM/TS/MP and CR4.OSFXSR rules (SDM Vol. 3A
// 2.5 Table 2-2, 13.x). x87 arithmetic is not implemented: those opcodes
// raise #UD and CPUID does not report an FPU... see docs/INSTRUCTIONS.md.

type fpuState struct {
	fcw, fsw, ftw uint16 // ftw in the abridged form of FXSAVE (1 = valid)
	mxcsr         uint32
	xmm           [16][2]uint64
	st            [8]fpReg // the physical x87 data registers R0-R7 (MM0-MM7)
}

func (f *fpuState) reset() {
	f.fcw, f.fsw, f.ftw = 0x037F, 0, 0
	f.mxcsr = 0x1F80
}

var (
	faultNMEM = arch.Fault{Vector: arch.VecNM, Rule: "x87/SSE instruction with CR0.EM=1 (x87) or CR0.TS=1", SDM: "Vol. 3A 2.5 Table 2-2"}
)

// x87Check applies CR0.EM and CR0.TS to an x87 instruction: #NM.
func (c *CPU) x87Check() bool {
	if c.CR0&(arch.CR0EM|arch.CR0TS) != 0 {
		c.raise(faultNMEM)
		return false
	}
	return true
}

// sseCheck applies the SSE availability rules: CR0.EM=1 or CR4.OSFXSR=0
// → #UD; CR0.TS=1 → #NM (SDM Vol. 3A 13.1 / Table 2-2).
func (c *CPU) sseCheck() bool {
	if c.CR0&arch.CR0EM != 0 || c.CR4&arch.CR4OSFXSR == 0 {
		c.raiseUD("SSE instruction with CR0.EM=1 or CR4.OSFXSR=0", "Vol. 3A 13.1.3")
		return false
	}
	if c.CR0&arch.CR0TS != 0 {
		c.raise(faultNMEM)
		return false
	}
	return true
}

// fwait: FWAIT/WAIT (9B): #NM only when CR0.MP and CR0.TS are both set.
func fwait(c *CPU, in *Inst) {
	if c.CR0&(arch.CR0MP|arch.CR0TS) == arch.CR0MP|arch.CR0TS {
		c.raise(faultNMEM)
	}
}

// x87 handles the D8-DF escape opcodes the core implements.
func x87(c *CPU, in *Inst) {
	if !c.x87Check() {
		return
	}
	op := in.op & 0xFF
	reg := in.sub
	switch {
	case op == 0xDB && in.mod == 3 && reg == 4 && in.rm&7 == 3: // FNINIT
		c.fpu.fcw, c.fpu.fsw, c.fpu.ftw = 0x037F, 0, 0
	case op == 0xDB && in.mod == 3 && reg == 4 && in.rm&7 == 2: // FNCLEX
		c.fpu.fsw &^= 0x80FF
	case op == 0xDF && in.mod == 3 && reg == 4 && in.rm&7 == 0: // FNSTSW AX
		setReg(c, arch.RAX, c.fpu.fsw)
	case op == 0xDD && in.mod != 3 && reg == 7: // FNSTSW m16
		wr(c, in.seg, c.ea(in), c.fpu.fsw)
	case op == 0xD9 && in.mod == 3 && reg == 2 && in.rm&7 == 0: // FNOP (D9 D0): no operation beyond the #NM checks (SDM Vol. 2A FNOP)
	case op == 0xD9 && in.mod != 3 && reg == 7: // FNSTCW m16
		wr(c, in.seg, c.ea(in), c.fpu.fcw)
	case op == 0xD9 && in.mod != 3 && reg == 5: // FLDCW m16
		if v, ok := rd[uint16](c, in.seg, c.ea(in)); ok {
			c.fpu.fcw = v | 0x40
		}
	default:
		c.raiseUD("x87 arithmetic is not implemented by vmxemu", "Vol. 1 chapter 8")
	}
}

// selGrp15 decodes 0F AE (SDM Table A-6 group 15): by ModRM.reg and the
// mandatory prefix for the memory forms, by the whole ModRM byte for the
// register forms.
func selGrp15(mr byte, d *decoder) *opEntry {
	reg := (mr >> 3) & 7
	if mr>>6 != 3 {
		switch {
		case d.rep != 0:
			return nil
		case d.opsz66 && reg == 6: // CLWB
			return &d.t.clwb
		case d.opsz66 && reg == 7: // CLFLUSHOPT
			return &d.t.clflushopt
		case d.opsz66:
			return nil
		}
		return &d.t.grp15mem[reg]
	}
	if d.rep == 0xF3 && !d.opsz66 && reg < 4 {
		return &d.t.fsgsbase // F3 0F AE /0../3: RDFSBASE & co. (exec_fsgsbase.go)
	}
	if d.rep != 0 || d.opsz66 {
		// 66/F2/F3 0F AE with a register operand: the fences take no
		// mandatory prefix; the other encodings are #UD.
		return nil
	}
	switch reg {
	case 5:
		return &d.t.lfence
	case 6:
		return &d.t.mfence
	case 7:
		return &d.t.sfence
	}
	return nil
}

// ldmxcsr/stmxcsr (0F AE /2, /3).
func ldmxcsr(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	v, ok := rd[uint32](c, in.seg, c.ea(in))
	if !ok {
		return
	}
	if v&^0xFFFF != 0 {
		c.raiseGP("LDMXCSR with reserved MXCSR bits set", "Vol. 2A LDMXCSR")
		return
	}
	c.fpu.mxcsr = v
}

func stmxcsr(c *CPU, in *Inst) {
	if c.sseCheck() {
		wr(c, in.seg, c.ea(in), c.fpu.mxcsr)
	}
}

// xmm operand helpers.
func (c *CPU) readXMM(in *Inst, align bool) ([2]uint64, bool) {
	if in.mod == 3 {
		return c.fpu.xmm[in.rm&15], true
	}
	addr := c.ea(in)
	if align && addr&15 != 0 {
		c.raiseGP("misaligned 16-byte SSE memory operand", "Vol. 1 11.4.1")
		return [2]uint64{}, false
	}
	lo, ok := rd[uint64](c, in.seg, addr)
	if !ok {
		return [2]uint64{}, false
	}
	hi, ok := rd[uint64](c, in.seg, (addr+8)&in.amask)
	return [2]uint64{lo, hi}, ok
}

func (c *CPU) writeXMM(in *Inst, v [2]uint64, align bool) {
	if in.mod == 3 {
		c.fpu.xmm[in.rm&15] = v
		return
	}
	addr := c.ea(in)
	if align && addr&15 != 0 {
		c.raiseGP("misaligned 16-byte SSE memory operand", "Vol. 1 11.4.1")
		return
	}
	if _, ok := c.linear(in.seg, addr, 16, accWrite); !ok {
		return
	}
	if wr(c, in.seg, addr, v[0]) {
		wr(c, in.seg, (addr+8)&in.amask, v[1])
	}
}

// movXMMLoad/Store: MOVUPS/MOVAPS/MOVDQU/MOVDQA/MOVUPD/MOVAPD loads and
// stores (0F 10/11, 0F 28/29, 66/F3 0F 6F/7F).
func sseMovLoad(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	v, ok := c.readXMM(in, sseAligned(in))
	if ok {
		c.fpu.xmm[in.reg&15] = v
	}
}

func sseMovStore(c *CPU, in *Inst) {
	if c.sseCheck() {
		c.writeXMM(in, c.fpu.xmm[in.reg&15], sseAligned(in))
	}
}

// sseAligned: MOVAPS/MOVAPD (0F 28/29) and MOVDQA (66 0F 6F/7F) require
// alignment.
func sseAligned(in *Inst) bool {
	switch in.op {
	case 0x128, 0x129:
		return true
	case 0x16F, 0x17F:
		return in.pfx66
	}
	return false
}

// movdLoad: MOVD/MOVQ xmm, r/m32/64 (66 0F 6E).
func movdLoad(c *CPU, in *Inst) {
	if !c.sseCheck() {
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
	c.fpu.xmm[in.reg&15] = [2]uint64{v, 0}
}

// movdStore: MOVD/MOVQ r/m32/64, xmm (66 0F 7E).
func movdStore(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	v := c.fpu.xmm[in.reg&15][0]
	if in.opsz == 8 {
		writeRM(c, in, v)
	} else {
		writeRM(c, in, uint32(v))
	}
}

// movqStore: MOVQ xmm/m64, xmm (66 0F D6).
func movqStore(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	v := c.fpu.xmm[in.reg&15][0]
	if in.mod == 3 {
		c.fpu.xmm[in.rm&15] = [2]uint64{v, 0}
		return
	}
	wr(c, in.seg, c.ea(in), v)
}

// movqLoad: MOVQ xmm, xmm/m64 (F3 0F 7E).
func movqLoad(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	if in.mod == 3 {
		c.fpu.xmm[in.reg&15] = [2]uint64{c.fpu.xmm[in.rm&15][0], 0}
		return
	}
	v, ok := rd[uint64](c, in.seg, c.ea(in))
	if ok {
		c.fpu.xmm[in.reg&15] = [2]uint64{v, 0}
	}
}

// addSSE installs the SIMD rows (exec_sse.go) and group 15.
func addSSE(t *tables) {
	addSIMD(t)
	t.grp15mem = [8]opEntry{
		{name: "fxsave", f: fModRM | fMemOnly, h: one(fxsave)},
		{name: "fxrstor", f: fModRM | fMemOnly, h: one(fxrstor)},
		{name: "ldmxcsr", f: fModRM | fMemOnly, h: one(ldmxcsr)},
		{name: "stmxcsr", f: fModRM | fMemOnly, h: one(stmxcsr)},
		{name: "xsave", f: fModRM | fMemOnly, h: one(xsave)},
		{name: "xrstor", f: fModRM | fMemOnly | fEnd, h: one(xrstor)},
		{}, // XSAVEOPT: not implemented (CPUID.(EAX=0DH,ECX=1):EAX[0] = 0)
		{name: "clflush", f: fModRM | fMemOnly, h: one(clflush)},
	}
	t.clflushopt = opEntry{name: "clflushopt", f: fModRM | fMemOnly, h: one(clflush)}
	t.clwb = opEntry{name: "clwb", f: fModRM | fMemOnly, h: one(clflush)}
	t.lfence = opEntry{name: "lfence", f: fModRM, h: one(nop)}
	t.mfence = opEntry{name: "mfence", f: fModRM, h: one(nop)}
	t.sfence = opEntry{name: "sfence", f: fModRM, h: one(nop)}
}

// clflush: CLFLUSH, CLFLUSHOPT (66 0F AE /7) and CLWB (66 0F AE /6) m8:
// caches are not modelled, but the access is checked like a byte load
// (SDM Vol. 2A CLFLUSH, CLFLUSHOPT, CLWB: #GP/#SS/#PF as a byte read; the
// fences order nothing in a sequential interpreter).
func clflush(c *CPU, in *Inst) { rd[uint8](c, in.seg, c.ea(in)) }

package cpu

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/arch"
)

// The x87/SSE state that compiled kernels touch: FNINIT, FNSTSW, FNSTCW,
// FLDCW, FNCLEX, FWAIT, FXSAVE/FXRSTOR, LDMXCSR/STMXCSR, the SSE moves and
// PXOR/XORPS, with the CR0.EM/TS/MP and CR4.OSFXSR rules (SDM Vol. 3A
// 2.5 Table 2-2, 13.x). x87 arithmetic is not implemented: those opcodes
// raise #UD and CPUID does not report an FPU... see docs/INSTRUCTIONS.md.

type fpuState struct {
	fcw, fsw, ftw uint16
	mxcsr         uint32
	xmm           [16][2]uint64
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

// selGrp15 decodes 0F AE (SDM Table A-6 group 15).
func selGrp15(mr byte, d *decoder) *opEntry {
	if mr>>6 != 3 {
		if d.rep != 0 || d.opsz66 {
			return nil
		}
		return &d.t.grp15mem[(mr>>3)&7]
	}
	if d.rep != 0 || d.opsz66 {
		// 66/F2/F3 0F AE with a register operand: the fences take no
		// mandatory prefix; these encodings are #UD (RDFSBASE & co. are
		// not implemented).
		return nil
	}
	switch (mr >> 3) & 7 {
	case 5:
		return &d.t.lfence
	case 6:
		return &d.t.mfence
	case 7:
		return &d.t.sfence
	}
	return nil
}

// fxsave/fxrstor: 512-byte image, 16-byte aligned (SDM Vol. 2A FXSAVE,
// Table 3-53 layout).
func fxsave(c *CPU, in *Inst) {
	if c.CR0&(arch.CR0EM|arch.CR0TS) != 0 {
		c.raise(faultNMEM)
		return
	}
	addr := c.ea(in)
	if addr&15 != 0 {
		c.raiseGP("FXSAVE operand not 16-byte aligned", "Vol. 2A FXSAVE")
		return
	}
	var img [512]byte
	binary.LittleEndian.PutUint16(img[0:], c.fpu.fcw)
	binary.LittleEndian.PutUint16(img[2:], c.fpu.fsw)
	img[4] = uint8(c.fpu.ftw)
	binary.LittleEndian.PutUint32(img[24:], c.fpu.mxcsr)
	binary.LittleEndian.PutUint32(img[28:], 0xFFFF) // MXCSR_MASK
	n := 8
	if c.codeMode == mode64 {
		n = 16
	}
	if c.CR4&arch.CR4OSFXSR != 0 {
		for i := 0; i < n; i++ {
			binary.LittleEndian.PutUint64(img[160+16*i:], c.fpu.xmm[i][0])
			binary.LittleEndian.PutUint64(img[168+16*i:], c.fpu.xmm[i][1])
		}
	}
	for i := 0; i < 512; i += 8 {
		if _, ok := c.linear(in.seg, (addr+uint64(i))&in.amask, 8, accWrite); !ok {
			return
		}
	}
	for i := 0; i < 512; i += 8 {
		if !wr(c, in.seg, (addr+uint64(i))&in.amask, binary.LittleEndian.Uint64(img[i:])) {
			return
		}
	}
}

func fxrstor(c *CPU, in *Inst) {
	if c.CR0&(arch.CR0EM|arch.CR0TS) != 0 {
		c.raise(faultNMEM)
		return
	}
	addr := c.ea(in)
	if addr&15 != 0 {
		c.raiseGP("FXRSTOR operand not 16-byte aligned", "Vol. 2A FXRSTOR")
		return
	}
	var img [512]byte
	for i := 0; i < 512; i += 8 {
		v, ok := rd[uint64](c, in.seg, (addr+uint64(i))&in.amask)
		if !ok {
			return
		}
		binary.LittleEndian.PutUint64(img[i:], v)
	}
	mx := binary.LittleEndian.Uint32(img[24:])
	if mx&^0xFFFF != 0 {
		c.raiseGP("FXRSTOR with reserved MXCSR bits set", "Vol. 2A FXRSTOR")
		return
	}
	c.fpu.fcw = binary.LittleEndian.Uint16(img[0:])
	c.fpu.fsw = binary.LittleEndian.Uint16(img[2:])
	c.fpu.ftw = uint16(img[4])
	c.fpu.mxcsr = mx
	n := 8
	if c.codeMode == mode64 {
		n = 16
	}
	if c.CR4&arch.CR4OSFXSR != 0 {
		for i := 0; i < n; i++ {
			c.fpu.xmm[i][0] = binary.LittleEndian.Uint64(img[160+16*i:])
			c.fpu.xmm[i][1] = binary.LittleEndian.Uint64(img[168+16*i:])
		}
	}
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

// sseXor: PXOR (66 0F EF), XORPS (0F 57), XORPD (66 0F 57).
func sseXor(c *CPU, in *Inst) {
	if !c.sseCheck() {
		return
	}
	v, ok := c.readXMM(in, true)
	if !ok {
		return
	}
	d := &c.fpu.xmm[in.reg&15]
	d[0] ^= v[0]
	d[1] ^= v[1]
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

// addSSE installs the SSE rows. Mandatory prefixes select among forms;
// forms the core does not implement decode to #UD.
func addSSE(t *tables) {
	x := &t.map0F
	pick := func(none, p66, pF3, pF2 *opEntry) func(byte, *decoder) *opEntry {
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
	load := &opEntry{name: "movups/movaps/movdqu/movdqa load", f: fModRM | fNoRep, h: one(sseMovLoad)}
	store := &opEntry{name: "movups/movaps/movdqu/movdqa store", f: fModRM | fNoRep, h: one(sseMovStore)}
	xor := &opEntry{name: "xorps/pxor", f: fModRM, h: one(sseXor)}
	x[0x10] = opEntry{name: "movups", sel: pick(load, load, nil, nil)}
	x[0x11] = opEntry{name: "movups", sel: pick(store, store, nil, nil)}
	x[0x28] = opEntry{name: "movaps", sel: pick(load, load, nil, nil)}
	x[0x29] = opEntry{name: "movaps", sel: pick(store, store, nil, nil)}
	x[0x57] = opEntry{name: "xorps", sel: pick(xor, xor, nil, nil)}
	x[0x6F] = opEntry{name: "movdq", sel: pick(nil, load, load, nil)}
	x[0x7F] = opEntry{name: "movdq", sel: pick(nil, store, store, nil)}
	x[0xEF] = opEntry{name: "pxor", sel: pick(nil, xor, nil, nil)}
	x[0x6E] = opEntry{name: "movd", sel: pick(nil, &opEntry{name: "movd xmm,Ey", f: fModRM, h: one(movdLoad)}, nil, nil)}
	x[0x7E] = opEntry{name: "movd", sel: pick(nil, &opEntry{name: "movd Ey,xmm", f: fModRM, h: one(movdStore)},
		&opEntry{name: "movq xmm,xmm/m64", f: fModRM | fNoRep, h: one(movqLoad)}, nil)}
	x[0xD6] = opEntry{name: "movq", sel: pick(nil, &opEntry{name: "movq xmm/m64,xmm", f: fModRM, h: one(movqStore)}, nil, nil)}
	t.grp15mem = [8]opEntry{
		{name: "fxsave", f: fModRM | fMemOnly, h: one(fxsave)},
		{name: "fxrstor", f: fModRM | fMemOnly, h: one(fxrstor)},
		{name: "ldmxcsr", f: fModRM | fMemOnly, h: one(ldmxcsr)},
		{name: "stmxcsr", f: fModRM | fMemOnly, h: one(stmxcsr)},
		{}, {}, {},
		{name: "clflush", f: fModRM | fMemOnly, h: one(clflush)},
	}
	t.lfence = opEntry{name: "lfence", f: fModRM, h: one(nop)}
	t.mfence = opEntry{name: "mfence", f: fModRM, h: one(nop)}
	t.sfence = opEntry{name: "sfence", f: fModRM, h: one(nop)}
}

// clflush: CLFLUSH m8: caches are not modelled, but the access is checked
// like a byte load (SDM Vol. 2A CLFLUSH).
func clflush(c *CPU, in *Inst) { rd[uint8](c, in.seg, c.ea(in)) }

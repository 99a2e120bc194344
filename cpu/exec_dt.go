package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Descriptor-table and system-segment registers: LGDT/LIDT, SGDT/SIDT,
// LLDT/SLDT, LTR/STR (SDM Vol. 3A 2.4 "Memory-Management Registers", 3.5.1
// "Segment Descriptor Tables", 7.2.4 "Task Register").

// Descriptor-table instructions: group 7 (0F 01 /0../3, /7) and group 6
// (0F 00).
func lgdtLidt(c *CPU, in *Inst) {
	if !c.requireCPL0("LGDT/LIDT") || c.guestDescTableExit(in, vmx.DescLGDT+uint32(in.sub&1), false) {
		return
	}
	addr := c.ea(in)
	lim, ok := rd[uint16](c, in.seg, addr)
	if !ok {
		return
	}
	var base uint64
	if c.codeMode == mode64 {
		base, ok = rd[uint64](c, in.seg, (addr+2)&in.amask)
		if ok && !c.canonicalMax(base) {
			c.raiseGP("LGDT/LIDT with a non-canonical base", "Vol. 2A LGDT/LIDT")
			return
		}
	} else {
		var b uint32
		b, ok = rd[uint32](c, in.seg, (addr+2)&in.amask)
		base = uint64(b)
		if in.opsz == 2 {
			base &= 0xFFFFFF
		}
	}
	if !ok {
		return
	}
	if in.sub == 2 {
		c.GDTR = arch.DescTable{Base: base, Limit: lim}
	} else {
		c.IDTR = arch.DescTable{Base: base, Limit: lim}
	}
}

func sgdtSidt(c *CPU, in *Inst) {
	if c.CR4&arch.CR4UMIP != 0 && c.cpl > 0 {
		c.raiseGP("SGDT/SIDT at CPL > 0 with CR4.UMIP=1", "Vol. 2B SGDT")
		return
	}
	if c.guestDescTableExit(in, vmx.DescSGDT+uint32(in.sub&1), false) {
		return
	}
	t := c.GDTR
	if in.sub == 1 {
		t = c.IDTR
	}
	addr := c.ea(in)
	if !wr(c, in.seg, addr, t.Limit) {
		return
	}
	if c.codeMode == mode64 {
		wr(c, in.seg, (addr+2)&in.amask, t.Base)
	} else {
		wr(c, in.seg, (addr+2)&in.amask, uint32(t.Base))
	}
}

// sldtStr: SLDT/STR r/m (0F 00 /0, /1).
func sldtStr(c *CPU, in *Inst) {
	if !c.protectedOnly("SLDT/STR") {
		return
	}
	if c.CR4&arch.CR4UMIP != 0 && c.cpl > 0 {
		c.raiseGP("SLDT/STR at CPL > 0 with CR4.UMIP=1", "Vol. 2B SLDT")
		return
	}
	if c.guestDescTableExit(in, vmx.DescSLDT+uint32(in.sub&1), true) {
		return
	}
	sel := c.LDTR.Selector
	if in.sub == 1 {
		sel = c.TR.Selector
	}
	if in.mod == 3 {
		if in.opsz == 2 {
			setReg(c, in.rm, sel)
		} else {
			setReg(c, in.rm, uint64(sel))
		}
		return
	}
	wr(c, in.seg, c.ea(in), sel)
}

// lldt: LLDT r/m16 (0F 00 /2).
func lldt(c *CPU, in *Inst) {
	if !c.protectedOnly("LLDT") || !c.requireCPL0("LLDT") || c.guestDescTableExit(in, vmx.DescLLDT, true) {
		return
	}
	sel, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	if sel&^3 == 0 {
		c.LDTR = arch.Segment{Selector: sel, Attr: arch.ARUnusable}
		return
	}
	if sel&4 != 0 {
		c.raise(arch.GPFault(selErr(sel), "LLDT selector refers to the LDT", "Vol. 2A LLDT"))
		return
	}
	if !c.sysDescInGDT(sel) {
		return
	}
	d, addr, ok := c.readDesc(sel)
	if !ok {
		return
	}
	if !d.system() || d.typ() != 2 {
		c.raise(arch.GPFault(selErr(sel), "LLDT descriptor is not an LDT descriptor", "Vol. 2A LLDT"))
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel), "LDT descriptor not present", "Vol. 2A LLDT"))
		return
	}
	base, ok := c.sysDescBase(d, addr, sel, "LLDT")
	if !ok {
		return
	}
	c.LDTR = arch.Segment{Selector: sel, Base: base, Limit: d.limit(), Attr: d.attr()}
}

// sysDescBase is the base of the LDT or TSS descriptor d at addr: in
// IA-32e mode a 16-byte descriptor whose bits 63:32 are in its second
// quadword, which must be canonical (SDM Vol. 3A 8.2.3; Vol. 2A LLDT/LTR
// "#GP(selector)"; Vol. 3A 4.5).
func (c *CPU) sysDescBase(d descriptor, addr uint64, sel uint16, insn string) (uint64, bool) {
	base := d.base()
	if c.EFER&arch.EFERLMA == 0 {
		return base, true
	}
	hi, ok := c.sysRead(addr+8, 8)
	if !ok {
		return 0, false
	}
	base |= (hi & 0xFFFFFFFF) << 32
	if !c.canonicalMax(base) {
		c.raise(arch.GPFault(selErr(sel), insn+" descriptor base is not canonical", "Vol. 2A "+insn+"; Vol. 3A 4.5"))
		return 0, false
	}
	return base, true
}

// sysDescInGDT checks that a whole LDT/TSS descriptor lies within the GDT
// limit: 16 bytes in IA-32e mode (SDM Vol. 3A 8.2.3, Vol. 2A LLDT/LTR
// "#GP(selector)").
func (c *CPU) sysDescInGDT(sel uint16) bool {
	if c.EFER&arch.EFERLMA == 0 {
		return true
	}
	_, ok := c.descAddr(sel, 16)
	return ok
}

// ltr: LTR r/m16 (0F 00 /3): loads an available TSS and marks it busy.
func ltr(c *CPU, in *Inst) {
	if !c.protectedOnly("LTR") || !c.requireCPL0("LTR") || c.guestDescTableExit(in, vmx.DescLTR, true) {
		return
	}
	sel, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	if sel&^3 == 0 || sel&4 != 0 {
		c.raise(arch.GPFault(selErr(sel), "LTR with a null or LDT selector", "Vol. 2A LTR"))
		return
	}
	if !c.sysDescInGDT(sel) {
		return
	}
	d, addr, ok := c.readDesc(sel)
	if !ok {
		return
	}
	t := d.typ()
	if !d.system() || !(t == 9 || (t == 1 && c.EFER&arch.EFERLMA == 0)) {
		c.raise(arch.GPFault(selErr(sel), "LTR descriptor is not an available TSS", "Vol. 2A LTR"))
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel), "TSS descriptor not present", "Vol. 2A LTR"))
		return
	}
	base, ok := c.sysDescBase(d, addr, sel, "LTR")
	if !ok {
		return
	}
	if !c.sysWrite(addr+5, 1, uint64(d>>40)|2) { // busy
		return
	}
	c.TR = arch.Segment{Selector: sel, Base: base, Limit: d.limit(), Attr: d.attr() | 2}
}

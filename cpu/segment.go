package cpu

import "github.com/vmxemu/vmxemu/arch"

// Segment-register loads and descriptor access (SDM Vol. 3A chapter 3 and 5;
// Vol. 2A MOV/POP "Operation" for the protected-mode checks).

// descriptor is a raw 8-byte segment or gate descriptor.
type descriptor uint64

func (d descriptor) attr() uint32 { return uint32(d>>40) & 0xF0FF }
func (d descriptor) base() uint64 {
	return uint64(d>>16)&0xFFFFFF | uint64(d>>56)<<24
}
func (d descriptor) limit() uint32 {
	l := uint32(d)&0xFFFF | uint32(d>>32)&0xF0000
	if d.attr()&arch.ARG != 0 {
		l = l<<12 | 0xFFF
	}
	return l
}
func (d descriptor) dpl() int      { return int(d>>45) & 3 }
func (d descriptor) present() bool { return d&(1<<47) != 0 }
func (d descriptor) system() bool  { return d&(1<<44) == 0 }
func (d descriptor) typ() uint32   { return uint32(d>>40) & 0xF }

// selErr is the error code a selector produces (SDM Vol. 3A 6.13).
func selErr(sel uint16) uint32 { return uint32(sel) & 0xFFFC }

// descAddr returns the linear address of the descriptor for sel, or raises
// #GP(sel) when it lies outside the GDT or LDT limit.
func (c *CPU) descAddr(sel uint16, size uint64) (uint64, bool) {
	idx := uint64(sel &^ 7)
	if sel&4 != 0 {
		if c.LDTR.Attr&arch.ARUnusable != 0 || c.LDTR.Selector&^3 == 0 || idx+size-1 > uint64(c.LDTR.Limit) {
			c.raise(arch.GPFault(selErr(sel), "selector outside the LDT limit (or no LDT loaded)", "Vol. 3A 3.5.1"))
			return 0, false
		}
		return c.LDTR.Base + idx, true
	}
	if idx+size-1 > uint64(c.GDTR.Limit) {
		c.raise(arch.GPFault(selErr(sel), "selector outside the GDT limit", "Vol. 3A 3.5.1"))
		return 0, false
	}
	return c.GDTR.Base + idx, true
}

// readDesc reads the 8-byte descriptor for sel.
func (c *CPU) readDesc(sel uint16) (descriptor, uint64, bool) {
	addr, ok := c.descAddr(sel, 8)
	if !ok {
		return 0, 0, false
	}
	v, ok := c.sysRead(addr, 8)
	return descriptor(v), addr, ok
}

// setAccessed sets the accessed bit of a code/data descriptor
// (SDM Vol. 3A 3.4.5.1).
func (c *CPU) setAccessed(d descriptor, addr uint64) bool {
	if d&(1<<40) != 0 {
		return true
	}
	return c.sysWrite(addr+5, 1, uint64(d>>40)|1)
}

// segFromDesc fills a segment cache from a descriptor.
func segFromDesc(sel uint16, d descriptor) arch.Segment {
	return arch.Segment{Selector: sel, Base: d.base(), Limit: d.limit(), Attr: d.attr() | arch.ARAccessed}
}

// loadSegReal loads a segment register in real or virtual-8086 mode: the
// base becomes selector*16; limit and attributes stay in the cache
// (SDM Vol. 3A 20.1.1), except in virtual-8086 mode where they are reset.
func (c *CPU) loadSegReal(seg int, sel uint16) {
	s := &c.Seg[seg]
	s.Selector = sel
	s.Base = uint64(sel) << 4
	if c.RFLAGS&arch.FlagVM != 0 {
		s.Limit = 0xFFFF
		s.Attr = arch.ARP | arch.ARS | 3<<5 | 3
		if seg == arch.CS {
			s.Attr |= arch.ARCode | arch.ARReadable
		}
	}
	s.Attr &^= arch.ARUnusable
	c.refreshSeg(seg)
}

// loadSeg loads DS, ES, FS, GS or SS with sel, applying the protected-mode
// checks of MOV Sreg / POP Sreg / LDS... (SDM Vol. 2B MOV "Operation").
func (c *CPU) loadSeg(seg int, sel uint16) bool {
	if !c.loadSegCache(seg, sel) {
		return false
	}
	if seg == arch.SS {
		c.stateChanged() // the CPL follows SS.DPL
	}
	return true
}

// loadSegCache is loadSeg without the stateChanged that follows a load of
// SS: it loads the register and its view (refreshSeg) only. Its caller
// brings the derived state up to date (farReturnOuter).
func (c *CPU) loadSegCache(seg int, sel uint16) bool {
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		c.loadSegReal(seg, sel)
		return true
	}
	cpl := int(c.cpl)
	rpl := int(sel & 3)
	if sel&^3 == 0 {
		if seg == arch.SS {
			// A null SS is allowed only in 64-bit mode at CPL < 3 with
			// RPL = CPL.
			if c.codeMode != mode64 || cpl == 3 || rpl != cpl {
				c.raise(arch.GPFault(0, "null selector loaded into SS", "Vol. 2B MOV / POP"))
				return false
			}
		}
		s := &c.Seg[seg]
		s.Selector = sel
		s.Attr = arch.ARUnusable
		if c.codeMode == mode64 {
			s.Attr = arch.ARUnusable | uint32(rpl)<<5
		}
		if seg != arch.FS && seg != arch.GS {
			s.Base = 0
		}
		s.Limit = 0
		c.refreshSeg(seg)
		return true
	}
	d, addr, ok := c.readDesc(sel)
	if !ok {
		return false
	}
	t := d.typ()
	isCode := t&arch.ARCode != 0
	if seg == arch.SS {
		switch {
		case rpl != cpl:
			c.raise(arch.GPFault(selErr(sel), "SS selector RPL differs from CPL", "Vol. 2B MOV / POP"))
			return false
		case d.system() || isCode || t&arch.ARWritable == 0:
			c.raise(arch.GPFault(selErr(sel), "SS must be a writable data segment", "Vol. 2B MOV / POP"))
			return false
		case d.dpl() != cpl:
			c.raise(arch.GPFault(selErr(sel), "SS descriptor DPL differs from CPL", "Vol. 2B MOV / POP"))
			return false
		case !d.present():
			c.raise(arch.SSFault(selErr(sel), "stack segment not present", "Vol. 2B MOV / POP"))
			return false
		}
	} else {
		switch {
		case d.system() || (isCode && t&arch.ARReadable == 0):
			c.raise(arch.GPFault(selErr(sel), "data segment register loaded with a system or execute-only code descriptor", "Vol. 2B MOV / POP"))
			return false
		case (!isCode || t&arch.ARConforming == 0) && (rpl > d.dpl() || cpl > d.dpl()):
			c.raise(arch.GPFault(selErr(sel), "data or non-conforming code segment with DPL < max(CPL, RPL)", "Vol. 2B MOV / POP"))
			return false
		case !d.present():
			c.raise(arch.NPFault(selErr(sel), "segment not present", "Vol. 2B MOV / POP"))
			return false
		}
	}
	if !c.setAccessed(d, addr) {
		return false
	}
	c.Seg[seg] = segFromDesc(sel, d)
	c.refreshSeg(seg)
	return true
}

// loadCS loads CS for a far transfer to a code segment at privilege cpl
// (the checks were done by the caller).
func (c *CPU) loadCS(sel uint16, d descriptor, cpl int) {
	s := segFromDesc(sel&^3|uint16(cpl), d)
	c.Seg[arch.CS] = s
	c.stateChanged()
}

// checkCodeSeg applies the far JMP/CALL checks to a code-segment
// descriptor, in the order of SDM Vol. 2A JMP/CALL "Operation"
// (CONFORMING-/NONCONFORMING-CODE-SEGMENT): L and D both set in IA-32e
// mode; conforming: DPL <= CPL; non-conforming: RPL <= CPL and DPL = CPL;
// present.
func (c *CPU) checkCodeSeg(sel uint16, d descriptor) bool {
	cpl := int(c.cpl)
	if d.system() || d.typ()&arch.ARCode == 0 {
		rule := "far transfer target is not a code segment, call gate, task gate or TSS"
		if c.EFER&arch.EFERLMA != 0 {
			rule = "far transfer target in IA-32e mode is not a code segment or a 64-bit call gate"
		}
		c.raise(arch.GPFault(selErr(sel), rule, "Vol. 2A JMP/CALL"))
		return false
	}
	if c.EFER&arch.EFERLMA != 0 && d.attr()&arch.ARL != 0 && d.attr()&arch.ARDB != 0 {
		c.raise(arch.GPFault(selErr(sel), "code segment with both L and D set in IA-32e mode", "Vol. 2A JMP/CALL / Vol. 3A 5.2.1"))
		return false
	}
	if d.typ()&arch.ARConforming != 0 {
		if d.dpl() > cpl {
			c.raise(arch.GPFault(selErr(sel), "conforming code segment DPL > CPL", "Vol. 2A JMP/CALL"))
			return false
		}
	} else if int(sel&3) > cpl || d.dpl() != cpl {
		c.raise(arch.GPFault(selErr(sel), "non-conforming code segment needs RPL <= CPL and DPL = CPL", "Vol. 2A JMP/CALL"))
		return false
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel), "code segment not present", "Vol. 2A JMP/CALL"))
		return false
	}
	return true
}

// farTransfer performs JMP/CALL far to sel:off (call=true pushes the
// return address with the operand size).
func (c *CPU) farTransfer(sel uint16, off uint64, opsz uint8, call bool) {
	retCS, retIP := uint64(c.Seg[arch.CS].Selector), c.RIP
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		if opsz == 2 {
			off &= 0xFFFF
		}
		if off > uint64(c.Seg[arch.CS].Limit) {
			c.raiseGP("far branch target outside the CS limit", "Vol. 2A JMP/CALL")
			return
		}
		if call {
			old := c.GPR[arch.RSP]
			if !pushSized(c, opsz, retCS) || !pushSized(c, opsz, retIP) {
				c.GPR[arch.RSP] = old
				return
			}
		}
		c.loadSegReal(arch.CS, sel)
		c.RIP = off
		c.stateChanged()
		return
	}
	if sel&^3 == 0 {
		c.raiseGP("far branch through a null selector", "Vol. 2A JMP/CALL")
		return
	}
	d, addr, ok := c.readDesc(sel)
	if !ok {
		return
	}
	if d.system() {
		// Call gate, task gate or TSS (gates.go).
		c.farToSystem(sel, d, addr, call)
		return
	}
	if !c.checkCodeSeg(sel, d) {
		return
	}
	long := c.EFER&arch.EFERLMA != 0 && d.attr()&arch.ARL != 0
	if opsz == 2 {
		off &= 0xFFFF
	} else if opsz == 4 {
		off &= 0xFFFFFFFF
	}
	if !long {
		// A compatibility-mode target takes the low 32 bits (SDM Vol. 2A
		// JMP/CALL: "IF target mode = Compatibility mode").
		off &= 0xFFFFFFFF
	}
	if long {
		if !c.canonical(off) {
			c.raiseGP("far branch to a non-canonical address", "Vol. 2A JMP/CALL")
			return
		}
	} else if off > uint64(d.limit()) {
		c.raiseGP("far branch target outside the code segment limit", "Vol. 2A JMP/CALL")
		return
	}
	if call {
		old := c.GPR[arch.RSP]
		if !pushSized(c, opsz, retCS) || !pushSized(c, opsz, retIP) {
			c.GPR[arch.RSP] = old
			return
		}
	}
	if !c.setAccessed(d, addr) {
		return
	}
	c.loadCS(sel, d, int(c.cpl))
	c.RIP = off
}

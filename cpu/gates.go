package cpu

import "github.com/vmxemu/vmxemu/arch"

// Far JMP/CALL through system descriptors: call gates (SDM Vol. 3A
// 5.8.3-5.8.6; Vol. 2A CALL and JMP "Operation", CALL-GATE, MORE-PRIVILEGE,
// SAME-PRIVILEGE), task gates and TSS descriptors (Vol. 3A 7.3; task.go).

// System-descriptor types (SDM Vol. 3A 3.5, Table 3-2).
const (
	sysTSS16Avail  = 0x1
	sysLDT         = 0x2
	sysTSS16Busy   = 0x3
	sysCallGate16  = 0x4
	sysTaskGate    = 0x5
	sysTSS32Avail  = 0x9
	sysTSS32Busy   = 0xB
	sysCallGate32  = 0xC // the 64-bit call gate in IA-32e mode
	maxGateParams  = 31  // the parameter count field is 5 bits
	sdmCallGate    = "Vol. 2A CALL / Vol. 3A 5.8.4"
	sdmJmpCallGate = "Vol. 2A JMP/CALL / Vol. 3A 5.8.4"
)

// farToSystem handles a far JMP/CALL whose selector names a system
// descriptor d (read at addr).
func (c *CPU) farToSystem(sel uint16, d descriptor, addr uint64, call bool) {
	lma := c.EFER&arch.EFERLMA != 0
	switch t := d.typ(); {
	case t == sysCallGate32 || (t == sysCallGate16 && !lma):
		c.callGate(sel, d, addr, call)
	case !lma && (t == sysTaskGate || t == sysTSS16Avail || t == sysTSS32Avail || t == sysTSS16Busy || t == sysTSS32Busy):
		c.farToTask(sel, d, addr, call)
	default:
		rule := "far transfer target is not a code segment, call gate, task gate or TSS"
		if lma {
			rule = "far transfer target in IA-32e mode is not a code segment or a 64-bit call gate"
		}
		c.raise(arch.GPFault(selErr(sel), rule, "Vol. 2A JMP/CALL"))
	}
}

// callGate performs JMP/CALL through the call gate g selected by gsel.
func (c *CPU) callGate(gsel uint16, g descriptor, gaddr uint64, call bool) {
	lma := c.EFER&arch.EFERLMA != 0
	cpl := int(c.cpl)
	var hi uint64
	if lma {
		// A 64-bit call gate is 16 bytes; the type field of its upper
		// half must be 0 so that it cannot be used as a descriptor (SDM
		// Vol. 3A 5.8.3.1).
		if _, ok := c.descAddr(gsel, 16); !ok {
			return
		}
		var ok bool
		if hi, ok = c.sysRead(gaddr+8, 8); !ok {
			return
		}
		if (hi>>40)&0x1F != 0 {
			c.raise(arch.GPFault(selErr(gsel), "upper half of a 64-bit call gate has a non-zero type field", "Vol. 3A 5.8.3.1"))
			return
		}
	}
	if g.dpl() < cpl || g.dpl() < int(gsel&3) {
		c.raise(arch.GPFault(selErr(gsel), "call gate DPL < CPL or DPL < RPL of the gate selector", sdmJmpCallGate))
		return
	}
	if !g.present() {
		c.raise(arch.NPFault(selErr(gsel), "call gate not present", sdmJmpCallGate))
		return
	}
	csel := uint16(g >> 16)
	if csel&^3 == 0 {
		c.raiseGP("call gate selects a null code segment", sdmJmpCallGate)
		return
	}
	d, daddr, ok := c.readDesc(csel)
	if !ok {
		return
	}
	conforming := d.typ()&arch.ARConforming != 0
	switch {
	case d.system() || d.typ()&arch.ARCode == 0:
		c.raise(arch.GPFault(selErr(csel), "call gate target is not a code segment", sdmJmpCallGate))
		return
	case d.dpl() > cpl:
		c.raise(arch.GPFault(selErr(csel), "call gate target code segment has DPL > CPL", sdmJmpCallGate))
		return
	case !call && !conforming && d.dpl() != cpl:
		c.raise(arch.GPFault(selErr(csel), "JMP through a call gate to a non-conforming code segment with DPL != CPL (JMP never changes privilege)", "Vol. 2A JMP / Vol. 3A 5.8.5"))
		return
	case lma && (d.attr()&arch.ARL == 0 || d.attr()&arch.ARDB != 0):
		c.raise(arch.GPFault(selErr(csel), "IA-32e call gate target is not a 64-bit code segment (L=1, D=0)", "Vol. 2A JMP/CALL / Vol. 3A 5.8.3.1"))
		return
	case !d.present():
		c.raise(arch.NPFault(selErr(csel), "call gate target code segment not present", sdmJmpCallGate))
		return
	}
	// Gate size: 2, 4 or 8 bytes per pushed value.
	size := uint8(4)
	switch {
	case lma:
		size = 8
	case g.typ() == sysCallGate16:
		size = 2
	}
	off := uint64(g)&0xFFFF | uint64(g>>48)<<16
	if lma {
		off |= (hi & 0xFFFFFFFF) << 32
	} else if size == 2 {
		off &= 0xFFFF
	}
	if call && !conforming && d.dpl() < cpl {
		c.callGateInner(g, csel, d, daddr, off, size)
		return
	}
	// Same privilege (SDM SAME-PRIVILEGE; JMP's CALL-GATE).
	if call && !c.stackRoom(c.GPR[arch.RSP], 2*uint64(size), lma, 0) {
		return
	}
	if !c.gateTargetOK(d, off, lma) {
		return
	}
	retCS, retIP := uint64(c.Seg[arch.CS].Selector), c.RIP
	if !c.setAccessed(d, daddr) {
		return
	}
	c.beginTransfer()
	c.loadCS(csel, d, cpl)
	c.RIP = off
	if call && !(pushSized(c, size, retCS) && pushSized(c, size, retIP)) {
		c.undoTransfer()
		return
	}
	c.endTransfer()
}

// gateTargetOK checks a call gate's entry point against its code segment:
// the limit outside IA-32e mode, canonical form in it (#GP(0)).
func (c *CPU) gateTargetOK(d descriptor, off uint64, lma bool) bool {
	if lma {
		if !c.canonical(off) {
			c.raiseGP("call gate entry point is not canonical", sdmJmpCallGate)
			return false
		}
		return true
	}
	if off > uint64(d.limit()) {
		c.raiseGP("call gate entry point outside the target code segment limit", sdmJmpCallGate)
		return false
	}
	return true
}

// stackRoom checks that n bytes can be pushed below sp on the current SS
// (the stack-switch #SS(selector) checks of CALL, SDM Vol. 2A CALL): in
// 64-bit mode every byte must be canonical; otherwise the bytes must be
// within the SS limit (expand-down aware), wrapping with the stack
// address size. It raises #SS(errSel).
func (c *CPU) stackRoom(sp, n uint64, long bool, errSel uint16) bool {
	if long {
		if !c.canonical(sp-n) || !c.canonical(sp-1) {
			c.raise(arch.SSFault(selErr(errSel), "pushing the call frame would use a non-canonical stack address", sdmCallGate))
			return false
		}
		return true
	}
	m := uint64(0xFFFF)
	if c.Seg[arch.SS].Attr&arch.ARDB != 0 {
		m = 0xFFFFFFFF
	}
	v := &c.segv[arch.SS]
	lo := (sp - n) & m
	if !v.usable || !v.writable || lo < v.lo || lo+n-1 > v.hi || lo+n-1 > m {
		c.raise(arch.SSFault(selErr(errSel), "the stack has no room for the call frame (SS limit)", sdmCallGate))
		return false
	}
	return true
}

// callGateInner is CALL through a call gate to a more privileged
// non-conforming code segment: switch to the stack of the new CPL from the
// TSS, push the caller's SS:ESP, copy the gate's parameters (legacy gates),
// push the return CS:EIP (SDM Vol. 2A CALL MORE-PRIVILEGE, Vol. 3A 5.8.5,
// 5.8.6 Figures 5-13).
func (c *CPU) callGateInner(g descriptor, csel uint16, d descriptor, daddr, off uint64, size uint8) {
	lma := size == 8
	newCPL := d.dpl()
	var newSS uint16
	var newSP uint64
	var ssDesc descriptor
	var ssAddr uint64
	tr := &c.TR
	switch t := tr.Attr & arch.ARType; {
	case lma:
		o := uint64(8*newCPL + 4)
		if o+7 > uint64(tr.Limit) {
			c.raise(arch.TSFault(selErr(tr.Selector), "64-bit TSS too small for the RSP of the new privilege level", "Vol. 2A CALL / Vol. 3A 8.7"))
			return
		}
		v, ok := c.sysRead(tr.Base+o, 8)
		if !ok {
			return
		}
		newSP, newSS = v, uint16(newCPL) // a null SS with RPL = new CPL
	case t == sysTSS16Avail || t == sysTSS16Busy:
		o := uint64(4*newCPL + 2)
		if o+3 > uint64(tr.Limit) {
			c.raise(arch.TSFault(selErr(tr.Selector), "16-bit TSS too small for the stack of the new privilege level", "Vol. 2A CALL / Vol. 3A 8.6"))
			return
		}
		v, ok := c.sysRead(tr.Base+o, 4)
		if !ok {
			return
		}
		newSP, newSS = v&0xFFFF, uint16(v>>16)
	default:
		o := uint64(8*newCPL + 4)
		if o+5 > uint64(tr.Limit) {
			c.raise(arch.TSFault(selErr(tr.Selector), "32-bit TSS too small for the stack of the new privilege level", "Vol. 2A CALL / Vol. 3A 8.2.1"))
			return
		}
		v, ok := c.sysRead(tr.Base+o, 8)
		if !ok {
			return
		}
		newSP, newSS = v&0xFFFFFFFF, uint16(v>>32)
	}
	if !lma {
		var ok bool
		if ssDesc, ssAddr, ok = c.checkInnerStack(newSS, newCPL, 0, "Vol. 2A CALL / Vol. 3A 5.8.5"); !ok {
			return
		}
	}
	// The caller's parameters, read from its stack before the switch
	// (legacy gates only; SDM Vol. 3A 5.8.5 Figure 5-13).
	var params [maxGateParams]uint32
	count := 0
	if !lma {
		count = int(g>>32) & 0x1F
		m := c.stackMask()
		for i := 0; i < count; i++ {
			a := (c.GPR[arch.RSP] + uint64(i)*uint64(size)) & m
			if size == 4 {
				v, ok := rd[uint32](c, arch.SS, a)
				if !ok {
					return
				}
				params[i] = v
			} else {
				v, ok := rd[uint16](c, arch.SS, a)
				if !ok {
					return
				}
				params[i] = uint32(v)
			}
		}
	}
	c.beginTransfer()
	defer c.endTransfer()
	oldSS, oldSP := c.Seg[arch.SS].Selector, c.GPR[arch.RSP]
	retCS, retIP := uint64(c.Seg[arch.CS].Selector), c.RIP
	fail := c.undoTransfer
	// Load the new stack to check its room with its own limit and size.
	if lma {
		c.Seg[arch.SS] = arch.Segment{Selector: newSS, Attr: arch.ARUnusable | uint32(newCPL)<<5}
	} else {
		c.Seg[arch.SS] = segFromDesc(newSS, ssDesc)
	}
	c.GPR[arch.RSP] = newSP
	c.stateChanged()
	need := 4*uint64(size) + uint64(count)*uint64(size)
	if !c.stackRoom(newSP, need, lma, newSS) || !c.gateTargetOK(d, off, lma) {
		fail()
		return
	}
	if !lma && !c.setAccessed(ssDesc, ssAddr) {
		fail()
		return
	}
	if !c.setAccessed(d, daddr) {
		fail()
		return
	}
	c.loadCS(csel, d, newCPL)
	c.RIP = off
	ok := pushSized(c, size, uint64(oldSS)) && pushSized(c, size, oldSP)
	for i := count - 1; ok && i >= 0; i-- {
		ok = pushSized(c, size, uint64(params[i]))
	}
	if !ok || !pushSized(c, size, retCS) || !pushSized(c, size, retIP) {
		fail()
	}
}

// checkInnerStack reads and checks the stack segment a privilege change
// loads from the TSS (SDM Vol. 2A CALL MORE-PRIVILEGE and INT n
// "INTER-PRIVILEGE-LEVEL-INTERRUPT"): null → #TS(ext); outside the
// descriptor table → #TS(sel); RPL, DPL != new CPL or not writable data →
// #TS(sel); not present → #SS(sel).
func (c *CPU) checkInnerStack(sel uint16, cpl int, ext uint32, sdm string) (descriptor, uint64, bool) {
	if sel&^3 == 0 {
		c.raise(arch.TSFault(ext, "stack selector for the new privilege level (from the TSS) is null", sdm))
		return 0, 0, false
	}
	idx := uint64(sel &^ 7)
	tbl := c.GDTR.Base
	limit := uint64(c.GDTR.Limit)
	if sel&4 != 0 {
		if c.LDTR.Attr&arch.ARUnusable != 0 || c.LDTR.Selector&^3 == 0 {
			limit = 0
			idx = 1 // any index is outside
		} else {
			tbl, limit = c.LDTR.Base, uint64(c.LDTR.Limit)
		}
	}
	if idx+7 > limit {
		c.raise(arch.TSFault(selErr(sel)|ext, "stack selector from the TSS is outside its descriptor table", sdm))
		return 0, 0, false
	}
	v, ok := c.sysRead(tbl+idx, 8)
	if !ok {
		return 0, 0, false
	}
	d := descriptor(v)
	if int(sel&3) != cpl || d.dpl() != cpl || d.system() || d.typ()&arch.ARCode != 0 || d.typ()&arch.ARWritable == 0 {
		c.raise(arch.TSFault(selErr(sel)|ext, "stack segment from the TSS must be writable data with RPL = DPL = new CPL", sdm))
		return 0, 0, false
	}
	if !d.present() {
		c.raise(arch.SSFault(selErr(sel)|ext, "stack segment from the TSS not present", sdm))
		return 0, 0, false
	}
	return d, tbl + idx, true
}

// farToTask is a far JMP/CALL to a task gate or TSS descriptor: a task
// switch (SDM Vol. 2A JMP/CALL TASK-GATE and TASK-STATE-SEGMENT, Vol. 3A
// 7.3; task.go).
func (c *CPU) farToTask(sel uint16, d descriptor, addr uint64, call bool) {
	cpl := int(c.cpl)
	gate := d.typ() == sysTaskGate
	what := "TSS"
	if gate {
		what = "task gate"
	}
	if d.dpl() < cpl || d.dpl() < int(sel&3) {
		c.raise(arch.GPFault(selErr(sel), what+" DPL < CPL or DPL < RPL", "Vol. 2A JMP/CALL TASK-GATE / TASK-STATE-SEGMENT"))
		return
	}
	if d.typ() == sysTSS16Busy || d.typ() == sysTSS32Busy {
		c.raise(arch.GPFault(selErr(sel), "far JMP/CALL to a busy TSS", "Vol. 2A JMP/CALL TASK-STATE-SEGMENT / Vol. 3A 7.3"))
		return
	}
	if !gate && sel&4 != 0 {
		c.raise(arch.GPFault(selErr(sel), "TSS descriptors must be in the GDT", "Vol. 3A 7.2.2 / Table 7-1"))
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel), what+" not present", "Vol. 2A JMP/CALL TASK-GATE / TASK-STATE-SEGMENT"))
		return
	}
	if gate {
		c.farTaskGate(d, call)
		return
	}
	why := taskJMP
	if call {
		why = taskCALL
	}
	c.taskSwitch(sel, d, addr, why, 0, false, 0)
}

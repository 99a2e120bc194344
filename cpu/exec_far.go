package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// Far transfers between code segments: far JMP/CALL (gates in gates.go,
// the direct case in segment.go), RET far, IRET, INT n/INT3/INTO/INT1
// (SDM Vol. 3A 5.8 "Privilege Level Checking When Transferring Program
// Control Between Code Segments", 6.12 "Exception and Interrupt Handling";
// Vol. 2A IRET, INT n; Vol. 2B RET).

// farDirect: JMP/CALL ptr16:16/32 (EA, 9A; invalid in 64-bit mode).
func farDirect(c *CPU, in *Inst) {
	c.farTransfer(uint16(in.imm2), in.imm, in.opsz, in.op == 0x9A)
}

// farIndirect: JMP/CALL m16:16/32/64 (FF /5, FF /3).
func farIndirect(c *CPU, in *Inst) {
	off, sel, ok := c.readFarPointer(in)
	if !ok {
		return
	}
	c.farTransfer(sel, off, in.opsz, in.sub == 3)
}

// retFar: RETF / RETF imm16 (CB, CA) (SDM Vol. 2B RET "Operation").
func retFar(c *CPU, in *Inst) {
	sz := uint64(in.opsz)
	ipv, ok := popPeek(c, in.opsz, 0)
	if !ok {
		return
	}
	csv, ok := popPeek(c, in.opsz, sz)
	if !ok {
		return
	}
	sel := uint16(csv)
	m := c.stackMask()
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		if ipv > uint64(c.Seg[arch.CS].Limit) {
			c.raiseGP("return offset outside the CS limit", "Vol. 2B RET")
			return
		}
		c.loadSegReal(arch.CS, sel)
		c.RIP = ipv
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+2*sz+in.imm)&m
		c.stateChanged()
		return
	}
	d, addr, rpl, ok := c.returnCodeSeg(sel, "far return", "Vol. 2B RET")
	if !ok {
		return
	}
	if in.opsz == 2 {
		ipv &= 0xFFFF
	}
	if !c.farReturnTargetOK(d, ipv, "RET far", "Vol. 2B RET") {
		return
	}
	if rpl == int(c.cpl) {
		if !c.setAccessed(d, addr) {
			return
		}
		c.loadCS(sel, d, rpl)
		c.RIP = ipv
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+2*sz+in.imm)&m
		return
	}
	// Return to an outer privilege level: pop SS:rSP too.
	c.farReturnOuter(sel, d, addr, rpl, ipv, in.opsz, 2*sz+in.imm, in.imm, false, nil)
}

// farReturnTargetOK checks the return RIP of RET far / IRET against the
// target code segment: canonical for a 64-bit segment in IA-32e mode,
// within the limit otherwise (SDM Vol. 2B RET, Vol. 2A IRET: "IF
// instruction pointer not within code segment limits THEN #GP(0)").
func (c *CPU) farReturnTargetOK(d descriptor, ip uint64, insn, sdm string) bool {
	if c.EFER&arch.EFERLMA != 0 && d.attr()&arch.ARL != 0 {
		if !c.canonical(ip) {
			c.raiseGP(insn+" to a non-canonical RIP", sdm)
			return false
		}
		return true
	}
	if ip > uint64(d.limit()) {
		c.raiseGP(insn+" to an offset beyond the code segment limit", sdm)
		return false
	}
	return true
}

// nullifyDataSegs: on a return to an outer privilege level, data segment
// registers whose DPL is below the new CPL become null (SDM Vol. 2B RET,
// IRET).
func (c *CPU) nullifyDataSegs() {
	c.nullifyDataSeg(arch.ES)
	c.nullifyDataSeg(arch.DS)
	c.nullifyDataSeg(arch.FS)
	c.nullifyDataSeg(arch.GS)
}

// nullifyDataSeg is nullifyDataSegs for segment register s.
func (c *CPU) nullifyDataSeg(s int) {
	seg := &c.Seg[s]
	conformingCode := seg.Attr&arch.ARCode != 0 && seg.Attr&arch.ARConforming != 0
	if seg.Attr&arch.ARUnusable == 0 && !conformingCode && seg.DPL() < int(c.cpl) {
		seg.Selector = 0
		seg.Attr |= arch.ARUnusable
		c.refreshSeg(s)
	}
}

// returnCodeSeg applies the checks RET far and IRET make on the code
// segment they return to (SDM Vol. 2B RET / Vol. 2A IRET "Operation"):
// not null, RPL >= CPL, a code segment whose DPL fits the RPL
// (conforming: DPL <= RPL; non-conforming: DPL = RPL), present.
func (c *CPU) returnCodeSeg(sel uint16, insn, sdm string) (d descriptor, addr uint64, rpl int, ok bool) {
	rpl = int(sel & 3)
	if sel&^3 == 0 {
		c.raiseGP(insn+" to a null code selector", sdm)
		return 0, 0, 0, false
	}
	if rpl < int(c.cpl) {
		c.raise(arch.GPFault(selErr(sel), insn+" to a more privileged level (RPL < CPL)", sdm))
		return 0, 0, 0, false
	}
	d, addr, ok = c.readDesc(sel)
	if !ok {
		return 0, 0, 0, false
	}
	if d.system() || d.typ()&arch.ARCode == 0 ||
		(d.typ()&arch.ARConforming != 0 && d.dpl() > rpl) ||
		(d.typ()&arch.ARConforming == 0 && d.dpl() != rpl) {
		c.raise(arch.GPFault(selErr(sel), insn+" target is not a suitable code segment", sdm))
		return 0, 0, 0, false
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel), insn+" code segment not present", sdm))
		return 0, 0, 0, false
	}
	return d, addr, rpl, true
}

// farReturnOuter completes a RET far or IRET that pops SS:rSP as well:
// every return to an outer privilege level, and any IRET in 64-bit mode
// (SDM Vol. 2B RET, Vol. 2A IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL"). The
// return code segment (selector sel, descriptor d at addr, RPL rpl) and
// the return RIP ip have passed returnCodeSeg and farReturnTargetOK. The
// new rSP and SS are the operand-size stack slots at offsets off and
// off+opsz. CS is loaded first so that the SS checks compare against the
// new CPL (the return CS's RPL); if they fail CS, SS and the CPL are put
// back. iret admits a null SS when returning to 64-bit mode at a new
// CPL < 3. release is the RET imm16 count of parameter bytes freed on the
// new stack. slots, when not nil, holds the two stack slots already read
// (iretFrame64). On a privilege change the data segment registers the new CPL
// may not use become null. It reports whether the return completed.
func (c *CPU) farReturnOuter(sel uint16, d descriptor, addr uint64, rpl int, ip uint64, opsz uint8, off, release uint64, iret bool, slots *[2]uint64) bool {
	var spv, ssv uint64
	if slots != nil {
		spv, ssv = slots[0], slots[1]
	} else {
		var ok bool
		spv, ok = popPeek(c, opsz, off)
		if !ok {
			return false
		}
		ssv, ok = popPeek(c, opsz, off+uint64(opsz))
		if !ok {
			return false
		}
	}
	if !c.setAccessed(d, addr) {
		return false
	}
	outer := rpl > int(c.cpl)
	c.beginTransfer()
	// CS first, then SS with the checks against the new CPL and mode;
	// the derived state follows both once, after the SS load (or in
	// undoTransfer when it fails). Until then only what the SS checks
	// read is brought up to date: the CPL and the decode mode. (The SS
	// load reads its descriptor as an implicit supervisor access, which
	// no other derived state enters.)
	c.Seg[arch.CS] = segFromDesc(sel&^3|uint16(rpl), d)
	c.codeMode = c.modeOfCS()
	c.cpl = uint8(rpl)
	if iret && uint16(ssv)&^3 == 0 && c.codeMode == mode64 && rpl < 3 {
		c.Seg[arch.SS] = arch.Segment{Selector: uint16(ssv), Attr: arch.ARUnusable | uint32(rpl)<<5}
	} else if !c.loadSegCache(arch.SS, uint16(ssv)) {
		c.undoTransfer() // stateChanged recomputes the CPL from the old CS and SS
		return false
	}
	if c.Seg[arch.CS] != c.xfer.cs || c.Seg[arch.SS] != c.xfer.ss {
		c.stateChanged()
	}
	// Otherwise CS and SS are the ones before (a return to the same
	// level, such as a #PF handler's IRETQ at CPL 0): every fact
	// stateChanged derives from them, the control registers and EFER is
	// what it was, and the CPL and mode set above are the old ones.
	c.endTransfer()
	c.RIP = ip
	// rSP <- Pop() with the operand size, then the immediate releases the
	// caller's parameters with the new stack's address size.
	switch opsz {
	case 2:
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFF | spv&0xFFFF
	case 4:
		c.GPR[arch.RSP] = uint64(uint32(spv))
	default:
		c.GPR[arch.RSP] = spv
	}
	if release != 0 {
		m := c.stackMask()
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+release)&m
	}
	if outer {
		c.nullifyDataSegs()
	}
	return true
}

// iretFrame64 reads the five 8-byte slots of IRETQ's frame in 64-bit
// mode (RIP, CS, RFLAGS, RSP, SS: SDM Vol. 2A IRET, "IA-32e-MODE") in one
// piece. It applies when all 40
// bytes lie in one page with a read TLB hit (stack64's conditions for the
// first slot, and the frame not crossing the page, which keeps every slot
// canonical: Vol. 3A 3.3.7.1). A hit stands for the paging checks of
// every slot (as in rd), so none of popPeek's reads could fault; IRET
// writes nothing between its reads of the frame (the descriptor checks
// only read), so reading the slots early gives the values popPeek would:
// the caller copies them at once. It returns the frame in the host page,
// or nil when that does not apply.
func (c *CPU) iretFrame64() *[5]uint64 {
	sp := c.GPR[arch.RSP]
	if sp&0xfff > 4096-40 {
		return nil
	}
	p := c.stack64(&c.tlb.read, sp)
	if p == nil {
		return nil
	}
	return (*[5]uint64)(unsafe.Pointer(p))
}

// popPeek reads a stack slot of operand size at offset off.
func popPeek(c *CPU, opsz uint8, off uint64) (uint64, bool) {
	switch opsz {
	case 2:
		v, ok := peek[uint16](c, off)
		return uint64(v), ok
	case 4:
		v, ok := peek[uint32](c, off)
		return uint64(v), ok
	}
	return peek[uint64](c, off)
}

// iret: IRET/IRETD/IRETQ (CF) (SDM Vol. 2A IRET "Operation"; NT=1 in
// legacy protected mode is a task return, task.go). Every IRET first ends
// blocking by NMI, even one that then faults (unblockNMI).
func iret(c *CPU, in *Inst) {
	iretDo(c, in)
	if c.RFLAGS&arch.FlagRF != 0 {
		c.updateAttn() // RF=1 suppresses instruction breakpoints for one instruction (debugreg.go)
	}
}

func iretDo(c *CPU, in *Inst) {
	c.unblockNMI()
	if c.CR0&arch.CR0PE != 0 && c.RFLAGS&arch.FlagVM == 0 && c.RFLAGS&arch.FlagNT != 0 {
		if c.EFER&arch.EFERLMA != 0 {
			c.raiseGP("IRET with NT=1 in IA-32e mode (no task switching)", "Vol. 2A IRET")
			return
		}
		c.taskReturn()
		return
	}
	sz := uint64(in.opsz)
	var ipv, csv, flv uint64
	var ok bool
	var slots [2]uint64
	var outerSlots *[2]uint64
	if c.codeMode == mode64 && sz == 8 {
		if f := c.iretFrame64(); f != nil {
			ipv, csv, flv = f[0], f[1], f[2]
			slots = [2]uint64{f[3], f[4]}
			outerSlots = &slots
			goto popped
		}
	}
	ipv, ok = popPeek(c, in.opsz, 0)
	if !ok {
		return
	}
	csv, ok = popPeek(c, in.opsz, sz)
	if !ok {
		return
	}
	flv, ok = popPeek(c, in.opsz, 2*sz)
	if !ok {
		return
	}
popped:
	m := c.stackMask()
	cur := c.Flags()
	c.lz.setFlags(cur) // materialised (the same flags): beginTransfer reads them again
	if c.CR0&arch.CR0PE == 0 {
		if ipv > uint64(c.Seg[arch.CS].Limit) {
			c.raiseGP("IRET offset outside the CS limit", "Vol. 2A IRET")
			return
		}
		c.loadSegReal(arch.CS, uint16(csv))
		c.RIP = ipv
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+3*sz)&m
		mask := uint64(0x257FD5) // real mode: VM and VIF/VIP unchanged
		if sz == 2 {
			mask = 0xFFFF
		}
		mask &^= arch.FlagVM | arch.FlagVIF | arch.FlagVIP
		c.setRFLAGS(cur&^mask | flv&mask)
		c.stateChanged()
		return
	}
	if c.RFLAGS&arch.FlagVM != 0 {
		c.raiseGP("IRET in virtual-8086 mode is not implemented", "Vol. 2A IRET")
		return
	}
	sel := uint16(csv)
	d, addr, rpl, ok := c.returnCodeSeg(sel, "IRET", "Vol. 2A IRET")
	if !ok {
		return
	}
	if !c.farReturnTargetOK(d, ipv, "IRET", "Vol. 2A IRET") {
		return
	}
	// Flags the IRET may change (SDM IRET: IOPL only at CPL 0, IF only
	// when CPL <= IOPL; VIF/VIP/VM handled for protected mode).
	mask := uint64(arch.FlagsArith | arch.FlagTF | arch.FlagDF | arch.FlagNT | arch.FlagRF | arch.FlagAC | arch.FlagID)
	if c.cpl == 0 {
		mask |= arch.FlagIOPL | arch.FlagVIF | arch.FlagVIP
	}
	if int(c.cpl) <= int(cur>>12)&3 {
		mask |= arch.FlagIF
	}
	if sz == 2 {
		mask &= 0xFFFF
	}
	newFlags := cur&^mask | flv&mask
	outer := rpl > int(c.cpl)
	long := c.codeMode == mode64
	if !outer && !long {
		if !c.setAccessed(d, addr) {
			return
		}
		c.loadCS(sel, d, rpl)
		c.RIP = ipv
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+3*sz)&m
		c.setRFLAGS(newFlags)
		return
	}
	// 64-bit mode always pops SS:RSP; legacy mode does on a privilege change.
	if c.farReturnOuter(sel, d, addr, rpl, ipv, in.opsz, 3*sz, 0, true, outerSlots) {
		c.setRFLAGS(newFlags)
	}
}

// intN: INT imm8 (CD), INT3 (CC), INTO (CE), INT1 (F1).
func intN(c *CPU, in *Inst) {
	switch in.op {
	case 0xCC:
		c.softEvent(arch.VecBP, evSoftExc)
	case 0xCE:
		if c.of() {
			c.softEvent(arch.VecOF, evSoftExc)
		}
	case 0xF1:
		c.softEvent(arch.VecDB, evICEBP)
	default:
		if c.RFLAGS&arch.FlagVM != 0 && (c.RFLAGS>>12)&3 < 3 {
			c.raiseGP("INT n in virtual-8086 mode with IOPL < 3", "Vol. 2A INT n")
			return
		}
		c.softEvent(uint8(in.imm), evSoftInt)
	}
}

// softEvent delivers a software interrupt/exception as part of the current
// instruction; RIP already points past it.
func (c *CPU) softEvent(vec uint8, kind eventKind) {
	c.event(vec, false, 0, kind, nil)
	c.stop = true
}

package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// System instructions: segment-register moves, far transfers, IRET, INT,
// flag instructions, HLT, CR/DR moves, descriptor tables, MSRs, CPUID, TSC.

// requireCPL0 raises #GP(0) unless CPL = 0 (the common privileged-
// instruction check, SDM Vol. 3A 5.9).
func (c *CPU) requireCPL0(insn string) bool {
	if c.cpl != 0 {
		c.raiseGP(insn+" is privileged: CPL must be 0", "Vol. 3A 5.9")
		return false
	}
	return true
}

// protectedOnly raises #UD in real or virtual-8086 mode for instructions
// that exist only in protected mode (LLDT, LTR, SLDT, STR, VERR...).
func (c *CPU) protectedOnly(insn string) bool {
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		c.raiseUD(insn+" is not recognised in real-address or virtual-8086 mode", "Vol. 2A "+insn)
		return false
	}
	return true
}

// movSregRM: MOV Sreg, r/m16 (8E). Loading CS is #UD; MOV SS inhibits
// interrupts for one instruction (SDM Vol. 2B MOV).
func movSregRM(c *CPU, in *Inst) {
	seg := int(in.sub)
	if seg == arch.CS || seg > arch.GS {
		c.raiseUD("MOV to CS or to a nonexistent segment register", "Vol. 2B MOV")
		return
	}
	v, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	if c.loadSeg(seg, v) && seg == arch.SS {
		c.shadow = shadowMovSS
		c.stop = true
	}
}

// movRMSreg: MOV r/m, Sreg (8C): register destinations take the operand
// size (upper bits zeroed for 32-bit), memory destinations 16 bits.
func movRMSreg(c *CPU, in *Inst) {
	seg := int(in.sub)
	if seg > arch.GS {
		c.raiseUD("MOV from a nonexistent segment register", "Vol. 2B MOV")
		return
	}
	v := c.Seg[seg].Selector
	if in.mod == 3 {
		switch in.opsz {
		case 2:
			setReg(c, in.rm, v)
		case 4:
			setReg(c, in.rm, uint32(v))
		default:
			setReg(c, in.rm, uint64(v))
		}
		return
	}
	wr(c, in.seg, c.ea(in), v)
}

// segOfOpcode maps PUSH/POP Sreg opcodes to segment registers.
func segOfOpcode(op uint16) int {
	switch op {
	case 0x06, 0x07:
		return arch.ES
	case 0x0E:
		return arch.CS
	case 0x16, 0x17:
		return arch.SS
	case 0x1E, 0x1F:
		return arch.DS
	case 0x1A0, 0x1A1:
		return arch.FS
	}
	return arch.GS
}

// pushSreg: PUSH ES/CS/SS/DS/FS/GS. With a 32/64-bit operand size the
// current Intel cores write only the low 16 bits (SDM Vol. 2B PUSH).
func pushSreg(c *CPU, in *Inst) {
	sel := c.Seg[segOfOpcode(in.op)].Selector
	m := c.stackMask()
	sp := (c.GPR[arch.RSP] - uint64(in.opsz)) & m
	if _, ok := c.linear(arch.SS, sp, uint64(in.opsz), accWrite); !ok {
		return
	}
	if !wr(c, arch.SS, sp, sel) {
		return
	}
	c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | sp
}

// popSreg: POP ES/SS/DS/FS/GS. POP SS inhibits interrupts for one
// instruction.
func popSreg(c *CPU, in *Inst) {
	seg := segOfOpcode(in.op)
	v, ok := peek[uint16](c, 0)
	if !ok {
		return
	}
	old := c.GPR[arch.RSP]
	m := c.stackMask()
	c.GPR[arch.RSP] = old&^m | (old+uint64(in.opsz))&m
	if !c.loadSeg(seg, v) {
		c.GPR[arch.RSP] = old
		return
	}
	if seg == arch.SS {
		c.shadow = shadowMovSS
		c.stop = true
	}
}

// lxs: LES/LDS (C4/C5 outside 64-bit mode), LSS/LFS/LGS (0F B2/B4/B5).
func lxs(c *CPU, in *Inst) {
	var seg int
	switch in.op {
	case 0xC4:
		seg = arch.ES
	case 0xC5:
		seg = arch.DS
	case 0x1B2:
		seg = arch.SS
	case 0x1B4:
		seg = arch.FS
	default:
		seg = arch.GS
	}
	off, sel, ok := c.readFarPointer(in)
	if !ok {
		return
	}
	if !c.loadSeg(seg, sel) {
		return
	}
	switch in.opsz {
	case 2:
		setReg(c, in.reg, uint16(off))
	case 4:
		setReg(c, in.reg, uint32(off))
	default:
		setReg(c, in.reg, off)
	}
}

// readFarPointer reads the m16:16/32/64 operand of LDS/LES/LSS/LFS/LGS
// and of far JMP/CALL: the offset in the operand size, then the selector.
func (c *CPU) readFarPointer(in *Inst) (off uint64, sel uint16, ok bool) {
	addr := c.ea(in)
	switch in.opsz {
	case 2:
		v, ok := rd[uint16](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = uint64(v)
	case 4:
		v, ok := rd[uint32](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = uint64(v)
	default:
		v, ok := rd[uint64](c, in.seg, addr)
		if !ok {
			return 0, 0, false
		}
		off = v
	}
	sel, ok = rd[uint16](c, in.seg, (addr+uint64(in.opsz))&in.amask)
	return off, sel, ok
}

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
	spv, ok := popPeek(c, in.opsz, 2*sz+in.imm)
	if !ok {
		return
	}
	ssv, ok := popPeek(c, in.opsz, 3*sz+in.imm)
	if !ok {
		return
	}
	if !c.setAccessed(d, addr) {
		return
	}
	saveCS, saveCPL := c.Seg[arch.CS], c.cpl
	c.loadCS(sel, d, rpl)
	// The SS checks compare against the new CPL (the return CS's RPL),
	// SDM Vol. 2B RET "RETURN-TO-OUTER-PRIVILEGE-LEVEL".
	c.cpl = uint8(rpl)
	if !c.loadSeg(arch.SS, uint16(ssv)) {
		c.Seg[arch.CS] = saveCS
		c.cpl = saveCPL
		c.stateChanged()
		return
	}
	c.RIP = ipv
	// rSP <- Pop() with the operand size, then the immediate releases the
	// caller's parameters with the new stack's address size (SDM Vol. 2B
	// RET "RETURN-TO-OUTER-PRIVILEGE-LEVEL").
	switch in.opsz {
	case 2:
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFF | spv&0xFFFF
	case 4:
		c.GPR[arch.RSP] = uint64(uint32(spv))
	default:
		c.GPR[arch.RSP] = spv
	}
	if in.imm != 0 {
		m := c.stackMask()
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^m | (c.GPR[arch.RSP]+in.imm)&m
	}
	c.nullifyDataSegs()
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
	for _, s := range []int{arch.ES, arch.DS, arch.FS, arch.GS} {
		seg := &c.Seg[s]
		conformingCode := seg.Attr&arch.ARCode != 0 && seg.Attr&arch.ARConforming != 0
		if seg.Attr&arch.ARUnusable == 0 && !conformingCode && seg.DPL() < int(c.cpl) {
			seg.Selector = 0
			seg.Attr |= arch.ARUnusable
			c.refreshSeg(s)
		}
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
// legacy protected mode is a task return, task.go).
func iret(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE != 0 && c.RFLAGS&arch.FlagVM == 0 && c.RFLAGS&arch.FlagNT != 0 {
		if c.EFER&arch.EFERLMA != 0 {
			c.raiseGP("IRET with NT=1 in IA-32e mode (no task switching)", "Vol. 2A IRET")
			return
		}
		c.taskReturn()
		return
	}
	sz := uint64(in.opsz)
	ipv, ok := popPeek(c, in.opsz, 0)
	if !ok {
		return
	}
	csv, ok := popPeek(c, in.opsz, sz)
	if !ok {
		return
	}
	flv, ok := popPeek(c, in.opsz, 2*sz)
	if !ok {
		return
	}
	m := c.stackMask()
	cur := c.Flags()
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
	spv, ok := popPeek(c, in.opsz, 3*sz)
	if !ok {
		return
	}
	ssv, ok := popPeek(c, in.opsz, 4*sz)
	if !ok {
		return
	}
	if !c.setAccessed(d, addr) {
		return
	}
	saveCS, saveSS, saveCPL := c.Seg[arch.CS], c.Seg[arch.SS], c.cpl
	c.loadCS(sel, d, rpl)
	// The SS checks compare against the new CPL (the return CS's RPL),
	// SDM Vol. 2A IRET "RETURN-TO-OUTER-PRIVILEGE-LEVEL".
	c.cpl = uint8(rpl)
	if uint16(ssv)&^3 == 0 && c.codeMode == mode64 && rpl < 3 {
		c.Seg[arch.SS] = arch.Segment{Selector: uint16(ssv), Attr: arch.ARUnusable | uint32(rpl)<<5}
		c.stateChanged()
	} else if !c.loadSeg(arch.SS, uint16(ssv)) {
		c.Seg[arch.CS], c.Seg[arch.SS] = saveCS, saveSS
		c.cpl = saveCPL
		c.stateChanged()
		return
	}
	c.RIP = ipv
	switch in.opsz {
	case 2:
		c.GPR[arch.RSP] = c.GPR[arch.RSP]&^0xFFFF | spv&0xFFFF
	case 4:
		c.GPR[arch.RSP] = uint64(uint32(spv))
	default:
		c.GPR[arch.RSP] = spv
	}
	c.setRFLAGS(newFlags)
	if outer {
		c.nullifyDataSegs()
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

// Flag instructions.
func clc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() &^ arch.FlagCF) }
func stc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() | arch.FlagCF) }
func cmc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() ^ arch.FlagCF) }
func cld(c *CPU, in *Inst) { c.RFLAGS &^= arch.FlagDF }
func std(c *CPU, in *Inst) { c.RFLAGS |= arch.FlagDF }

// iopl returns RFLAGS.IOPL.
func (c *CPU) iopl() int { return int(c.RFLAGS>>12) & 3 }

// cli/sti: IF may change only when CPL <= IOPL in protected mode
// (SDM Vol. 2A CLI/STI; VME/PVI not implemented).
func cli(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE != 0 && int(c.cpl) > c.iopl() {
		c.raiseGP("CLI with CPL > IOPL", "Vol. 2A CLI")
		return
	}
	c.RFLAGS &^= arch.FlagIF
}

func sti(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE != 0 && int(c.cpl) > c.iopl() {
		c.raiseGP("STI with CPL > IOPL", "Vol. 2A STI")
		return
	}
	if c.RFLAGS&arch.FlagIF == 0 {
		// Interrupts stay blocked until after the next instruction.
		c.shadow = 1
	}
	c.RFLAGS |= arch.FlagIF
	c.stop = true
}

// pushf/popf (9C/9D) (SDM Vol. 2B PUSHF/POPF; VME not implemented).
func pushf(c *CPU, in *Inst) {
	if c.RFLAGS&arch.FlagVM != 0 && c.iopl() < 3 {
		c.raiseGP("PUSHF in virtual-8086 mode with IOPL < 3", "Vol. 2B PUSHF")
		return
	}
	f := c.Flags() &^ (arch.FlagVM | arch.FlagRF)
	pushSized(c, in.opsz, f)
}

func popf(c *CPU, in *Inst) {
	if c.RFLAGS&arch.FlagVM != 0 && c.iopl() < 3 {
		c.raiseGP("POPF in virtual-8086 mode with IOPL < 3", "Vol. 2B POPF")
		return
	}
	v, ok := popSized(c, in.opsz)
	if !ok {
		return
	}
	cur := c.Flags()
	mask := uint64(arch.FlagsArith | arch.FlagTF | arch.FlagDF | arch.FlagNT | arch.FlagAC | arch.FlagID)
	if c.CR0&arch.CR0PE == 0 || c.cpl == 0 {
		mask |= arch.FlagIOPL | arch.FlagIF
	} else if int(c.cpl) <= c.iopl() {
		mask |= arch.FlagIF
	}
	if in.opsz == 2 {
		mask &= 0xFFFF
	}
	c.setRFLAGS(cur&^mask | v&mask)
	c.stop = true // IF may have changed: check for interrupts
}

// hlt: HLT (F4).
func hlt(c *CPU, in *Inst) {
	if !c.requireCPL0("HLT") {
		return
	}
	c.halted = true
	c.stop = true
}

// ioAllowed applies the I/O privilege check: CPL <= IOPL, or the TSS I/O
// permission bitmap allows every byte of the access (SDM Vol. 1 19.5).
func (c *CPU) ioAllowed(port uint16, size int) bool {
	if c.CR0&arch.CR0PE == 0 {
		return true
	}
	if c.RFLAGS&arch.FlagVM == 0 && int(c.cpl) <= c.iopl() {
		return true
	}
	tr := &c.TR
	if tr.Selector == 0 || tr.Attr&arch.ARType < 9 || tr.Limit < 0x67 {
		c.raiseGP("I/O with CPL > IOPL and no 32/64-bit TSS for the permission bitmap", "Vol. 1 19.5.2")
		return false
	}
	base, ok := c.sysRead(tr.Base+0x66, 2)
	if !ok {
		return false
	}
	off := base + uint64(port)/8
	if off+1 > uint64(tr.Limit) {
		c.raiseGP("I/O permission bitmap does not cover the port (beyond the TSS limit)", "Vol. 1 19.5.2")
		return false
	}
	bm, ok := c.sysRead(tr.Base+off, 2)
	if !ok {
		return false
	}
	mask := uint64(1)<<size - 1
	if (bm>>(port&7))&mask != 0 {
		c.raiseGP("I/O permission bitmap denies the port", "Vol. 1 19.5.2")
		return false
	}
	return true
}

// inOut: IN/OUT with imm8 or DX port (E4-E7, EC-EF).
func inOut(c *CPU, in *Inst) {
	var port uint16
	if in.op&8 == 0 {
		port = uint16(in.imm)
	} else {
		port = uint16(c.GPR[arch.RDX])
	}
	size := int(in.opsz)
	if size == 8 {
		size = 4
	}
	if !c.ioAllowed(port, size) {
		return
	}
	if in.op&2 == 0 {
		v := c.bus.In(port, size)
		switch size {
		case 1:
			setReg(c, arch.RAX, uint8(v))
		case 2:
			setReg(c, arch.RAX, uint16(v))
		default:
			setReg(c, arch.RAX, v)
		}
	} else {
		c.bus.Out(port, size, uint32(c.GPR[arch.RAX]))
	}
	c.intrHint = true // the device may have changed an interrupt line
	c.stop = true     // a device may have ended the run or raised an interrupt
}

// cpuid: CPUID (0F A2).
func cpuid(c *CPU, in *Inst) {
	a, b, cc, d := c.plat().CPUID(c, uint32(c.GPR[arch.RAX]), uint32(c.GPR[arch.RCX]))
	c.GPR[arch.RAX], c.GPR[arch.RBX], c.GPR[arch.RCX], c.GPR[arch.RDX] = uint64(a), uint64(b), uint64(cc), uint64(d)
}

// rdtsc/rdtscp: CR4.TSD makes them privileged (SDM Vol. 2B RDTSC).
func rdtsc(c *CPU, in *Inst) {
	if c.CR4&arch.CR4TSD != 0 && c.cpl != 0 && c.CR0&arch.CR0PE != 0 {
		c.raiseGP("RDTSC with CR4.TSD=1 at CPL > 0", "Vol. 2B RDTSC")
		return
	}
	t := c.TSC()
	setReg(c, arch.RAX, uint32(t))
	setReg(c, arch.RDX, uint32(t>>32))
	if in.op == 0x101 { // RDTSCP (0F 01 F9; 0F 01 is only RDTSCP here)
		setReg(c, arch.RCX, uint32(c.TSCAux))
	}
}

// rdmsr/wrmsr (0F 32 / 0F 30).
func rdmsr(c *CPU, in *Inst) {
	if !c.requireCPL0("RDMSR") {
		return
	}
	v, f := c.readMSR(uint32(c.GPR[arch.RCX]))
	if f != nil {
		c.raise(*f)
		return
	}
	setReg(c, arch.RAX, uint32(v))
	setReg(c, arch.RDX, uint32(v>>32))
}

func wrmsr(c *CPU, in *Inst) {
	if !c.requireCPL0("WRMSR") {
		return
	}
	v := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	if f := c.writeMSR(uint32(c.GPR[arch.RCX]), v); f != nil {
		c.raise(*f)
		return
	}
	c.intrHint = true // x2APIC registers (TPR, EOI, ICR) are MSRs
	c.stop = true
}

// Descriptor-table instructions: group 7 (0F 01 /0../3, /7) and group 6
// (0F 00).
func lgdtLidt(c *CPU, in *Inst) {
	if !c.requireCPL0("LGDT/LIDT") {
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
		if ok && !c.canonical(base) {
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

// smsw: SMSW r/m (0F 01 /4).
func smsw(c *CPU, in *Inst) {
	if c.CR4&arch.CR4UMIP != 0 && c.cpl > 0 {
		c.raiseGP("SMSW at CPL > 0 with CR4.UMIP=1", "Vol. 2B SMSW")
		return
	}
	if in.mod == 3 {
		switch in.opsz {
		case 2:
			setReg(c, in.rm, uint16(c.CR0))
		case 4:
			setReg(c, in.rm, uint32(c.CR0))
		default:
			setReg(c, in.rm, c.CR0)
		}
		return
	}
	wr(c, in.seg, c.ea(in), uint16(c.CR0))
}

// lmsw: LMSW r/m16 (0F 01 /6): loads PE, MP, EM, TS; cannot clear PE.
func lmsw(c *CPU, in *Inst) {
	if !c.requireCPL0("LMSW") {
		return
	}
	v, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	n := c.CR0&^0xE | uint64(v)&0xF
	if c.CR0&arch.CR0PE != 0 {
		n |= arch.CR0PE
	}
	c.writeCR0(n)
}

// invlpg: INVLPG m (0F 01 /7).
func invlpg(c *CPU, in *Inst) {
	if !c.requireCPL0("INVLPG") {
		return
	}
	if c.codeMode == mode64 {
		// No canonical check: INVLPG of a non-canonical address is a NOP
		// (SDM Vol. 2A INVLPG "Description").
		lin := c.segv[in.seg].base + c.ea(in)
		if c.canonical(lin) {
			c.tlb.flushPage(lin)
			c.blocks.flush()
		}
		return
	}
	lin, ok := c.linear(in.seg, c.ea(in), 1, -1)
	if !ok {
		return
	}
	c.tlb.flushPage(lin)
	c.blocks.flush()
}

// invpcid: INVPCID r32/r64, m128 (66 0F 38 82) (SDM Vol. 2A INVPCID;
// Vol. 3A 4.10.4.1). The register operand is 64 bits in 64-bit mode and 32
// bits elsewhere, whatever the operand size; the descriptor is PCID in
// bits 11:0 (63:12 reserved) and a linear address in bits 127:64.
func invpcid(c *CPU, in *Inst) {
	const sdm = "Vol. 2A INVPCID"
	if !c.feat.invpcid {
		c.raiseUD("INVPCID with CPUID.(EAX=07H,ECX=0):EBX.INVPCID[bit 10]=0", sdm)
		return
	}
	if c.RFLAGS&arch.FlagVM != 0 {
		c.raiseUD("INVPCID is not recognised in virtual-8086 mode", sdm)
		return
	}
	if !c.requireCPL0("INVPCID") {
		return
	}
	typ := c.GPR[in.reg&15]
	if c.codeMode != mode64 {
		typ = uint64(uint32(typ))
	}
	if typ > 3 {
		c.raiseGP("INVPCID type (register operand) > 3", sdm)
		return
	}
	addr := c.ea(in)
	lo, ok := rd[uint64](c, in.seg, addr)
	if !ok {
		return
	}
	la, ok := rd[uint64](c, in.seg, (addr+8)&in.amask)
	if !ok {
		return
	}
	if lo>>12 != 0 {
		c.raiseGP("INVPCID descriptor bits 63:12 are not all 0", sdm)
		return
	}
	pcid := lo & 0xFFF
	if typ <= 1 && pcid != 0 && c.CR4&arch.CR4PCIDE == 0 {
		c.raiseGP("INVPCID type 0 or 1 with a non-zero PCID while CR4.PCIDE=0", sdm)
		return
	}
	switch typ {
	case 0: // individual address
		if !c.canonical(la) {
			c.raiseGP("INVPCID type 0 with a non-canonical linear address", sdm)
			return
		}
		c.tlb.flushPage(la)
	case 1: // single context, except global translations
		c.tlb.flushPCID(pcid)
	case 2: // all contexts, global translations included
		c.tlb.flushAll()
	default: // all contexts except global translations
		c.tlb.flushNonGlobal()
	}
	c.blocks.flush()
}

// clacStac: CLAC (0F 01 CA) / STAC (0F 01 CB) clear/set RFLAGS.AC (SDM
// Vol. 2A CLAC, Vol. 2B STAC): #UD without CPUID SMAP and at CPL > 0
// (virtual-8086 mode runs at CPL 3).
func clacStac(c *CPU, in *Inst) {
	if !c.feat.smap {
		c.raiseUD("CLAC/STAC with CPUID.(EAX=07H,ECX=0):EBX.SMAP[bit 20]=0", "Vol. 2A CLAC / Vol. 2B STAC")
		return
	}
	if c.cpl > 0 {
		c.raiseUD("CLAC/STAC at CPL > 0", "Vol. 2A CLAC / Vol. 2B STAC")
		return
	}
	if in.rm&7 == 3 { // STAC: ModRM CB
		c.RFLAGS |= arch.FlagAC
	} else {
		c.RFLAGS &^= arch.FlagAC
	}
}

// clts: CLTS (0F 06).
func clts(c *CPU, in *Inst) {
	if c.requireCPL0("CLTS") {
		c.CR0 &^= arch.CR0TS
	}
}

// wbinvd/invd: caches are not modelled; privilege is.
func wbinvd(c *CPU, in *Inst) { c.requireCPL0("WBINVD/INVD") }

// swapgs: SWAPGS (0F 01 F8), 64-bit mode, CPL 0.
func swapgs(c *CPU, in *Inst) {
	if c.codeMode != mode64 {
		c.raiseUD("SWAPGS outside 64-bit mode", "Vol. 2B SWAPGS")
		return
	}
	if !c.requireCPL0("SWAPGS") {
		return
	}
	c.Seg[arch.GS].Base, c.KernelGSBase = c.KernelGSBase, c.Seg[arch.GS].Base
	c.refreshSeg(arch.GS)
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
	if !c.protectedOnly("LLDT") || !c.requireCPL0("LLDT") {
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
	base := d.base()
	if c.EFER&arch.EFERLMA != 0 {
		hi, ok := c.sysRead(addr+8, 8)
		if !ok {
			return
		}
		base |= (hi & 0xFFFFFFFF) << 32
	}
	c.LDTR = arch.Segment{Selector: sel, Base: base, Limit: d.limit(), Attr: d.attr()}
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
	if !c.protectedOnly("LTR") || !c.requireCPL0("LTR") {
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
	base := d.base()
	if c.EFER&arch.EFERLMA != 0 {
		hi, ok := c.sysRead(addr+8, 8)
		if !ok {
			return
		}
		base |= (hi & 0xFFFFFFFF) << 32
	}
	if !c.sysWrite(addr+5, 1, uint64(d>>40)|2) { // busy
		return
	}
	c.TR = arch.Segment{Selector: sel, Base: base, Limit: d.limit(), Attr: d.attr() | 2}
}

// movFromCR/movToCR: MOV r, CRn / MOV CRn, r (0F 20 / 0F 22). The operand
// is always 32 bits outside 64-bit mode and 64 bits inside; mod is ignored.
func movFromCR(c *CPU, in *Inst) {
	if !c.requireCPL0("MOV from CR") {
		return
	}
	var v uint64
	switch in.reg {
	case 0:
		v = c.CR0
	case 2:
		v = c.CR2
	case 3:
		v = c.CR3
	case 4:
		v = c.CR4
	case 8:
		v = c.CR8
	default:
		c.raiseUD("MOV from a nonexistent control register", "Vol. 2B MOV (Control Registers)")
		return
	}
	if c.codeMode == mode64 {
		c.GPR[in.rm&15] = v
	} else {
		c.GPR[in.rm&15] = uint64(uint32(v))
	}
}

func movToCR(c *CPU, in *Inst) {
	if !c.requireCPL0("MOV to CR") {
		return
	}
	v := c.GPR[in.rm&15]
	if c.codeMode != mode64 {
		v = uint64(uint32(v))
	}
	switch in.reg {
	case 0:
		c.writeCR0(v)
	case 2:
		c.CR2 = v
	case 3:
		c.writeCR3(v)
	case 4:
		c.writeCR4(v)
	case 8:
		if v>>4 != 0 {
			c.raiseGP("reserved bits set in CR8", "Vol. 3A 2.5")
			return
		}
		c.CR8 = v
		c.intrHint = true // a lower TPR may unmask a pending interrupt
	default:
		c.raiseUD("MOV to a nonexistent control register", "Vol. 2B MOV (Control Registers)")
		return
	}
	c.stop = true
}

// movDR: MOV r, DRn / MOV DRn, r (0F 21 / 0F 23). DR4/DR5 alias DR6/DR7
// unless CR4.DE=1, where they are #UD (SDM Vol. 3A 18.2.2).
func movDR(c *CPU, in *Inst) {
	if !c.requireCPL0("MOV DR") {
		return
	}
	r := in.reg & 7
	if in.reg > 7 {
		c.raiseUD("MOV to/from DR8-DR15", "Vol. 2B MOV (Debug Registers)")
		return
	}
	if r == 4 || r == 5 {
		if c.CR4&arch.CR4DE != 0 {
			c.raiseUD("DR4/DR5 referenced with CR4.DE=1", "Vol. 3A 18.2.2")
			return
		}
		r += 2
	}
	if in.op == 0x121 {
		v := c.DR[r]
		if c.codeMode != mode64 {
			v = uint64(uint32(v))
		}
		c.GPR[in.rm&15] = v
		return
	}
	v := c.GPR[in.rm&15]
	if c.codeMode != mode64 {
		v = uint64(uint32(v))
	} else if (r == 6 || r == 7) && v>>32 != 0 {
		c.raiseGP("MOV to DR6/DR7 with bits 63:32 set", "Vol. 2B MOV (Debug Registers)")
		return
	}
	switch r {
	case 6:
		v = v | 0xFFFF0FF0
	case 7:
		v = v&^(1<<11|1<<12|1<<14|1<<15) | 1<<10
	}
	c.DR[r] = v
}

// pagingChanged drops every cached translation and block lookup.
func (c *CPU) pagingChanged() {
	c.tlb.flushAll()
	c.blocks.flush()
}

var _ = mmu.ModeNone

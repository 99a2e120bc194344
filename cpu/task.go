package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Hardware task switching (SDM Vol. 3A chapter 7: 7.3 "Task Switching",
// Table 7-1 "Conditions Checked During a Task Switch"; Vol. 2A JMP/CALL
// TASK-GATE and TASK-STATE-SEGMENT, INT n TASK-GATE, IRET TASK-RETURN).
// Only 32-bit TSSes in legacy protected mode; IA-32e mode has no task
// switching (callers raise #GP there).

type taskReason uint8

const (
	taskJMP  taskReason = iota
	taskCALL            // CALL: nesting (NT, back link, old busy kept)
	taskINT             // interrupt/exception through a task gate: nesting
	taskIRET            // IRET with NT=1: return to the back-linked task
)

const (
	sdmTaskSwitch = "Vol. 3A 7.3 / Table 7-1"
	tssMin32      = 0x67 // minimum limit of a 32-bit TSS (104 bytes)
	tssOld32      = 0x5F // the old TSS must hold the dynamic fields up to GS
)

// 32-bit TSS field offsets (SDM Vol. 3A 7.2.1, Figure 7-2).
const (
	tssLink   = 0x00
	tssCR3    = 0x1C
	tssEIP    = 0x20
	tssEFLAGS = 0x24
	tssGPR    = 0x28 // EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI
	tssSeg    = 0x48 // ES, CS, SS, DS, FS, GS (4-byte slots)
	tssLDT    = 0x60
)

// tssDescFromGDT reads the TSS descriptor that a task gate or a back link
// names: it must be in the GDT and within its limit (Table 7-1 condition
// 1), else bad(sel) is raised.
func (c *CPU) tssDescFromGDT(sel uint16, bad func(uint16, string)) (descriptor, uint64, bool) {
	if sel&4 != 0 || uint64(sel&^7)+7 > uint64(c.GDTR.Limit) {
		bad(sel, "TSS selector does not reference the GDT or is outside its limit")
		return 0, 0, false
	}
	addr := c.GDTR.Base + uint64(sel&^7)
	v, ok := c.sysRead(addr, 8)
	return descriptor(v), addr, ok
}

// farTaskGate performs JMP/CALL through a task gate g (DPL and presence
// already checked): Vol. 2A JMP/CALL "TASK-GATE".
func (c *CPU) farTaskGate(g descriptor, call bool) {
	tsel := uint16(g >> 16)
	gp := func(s uint16, rule string) {
		c.raise(arch.GPFault(selErr(s), rule, "Vol. 2A JMP/CALL TASK-GATE"))
	}
	d, addr, ok := c.tssDescFromGDT(tsel, gp)
	if !ok {
		return
	}
	t := d.typ()
	if !d.system() || (t != sysTSS32Avail && t != sysTSS16Avail) {
		gp(tsel, "task gate names a busy TSS or a descriptor that is not an available TSS")
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(tsel), "TSS named by the task gate not present", "Vol. 2A JMP/CALL TASK-GATE"))
		return
	}
	why := taskJMP
	if call {
		why = taskCALL
	}
	c.taskSwitch(tsel, d, addr, why, 0, false, 0)
}

// intTaskGate delivers an event through an IDT task gate (Vol. 2A INT n
// TASK-GATE, Vol. 3A 6.11.1): the error code, if any, goes on the new
// task's stack.
func (c *CPU) intTaskGate(g descriptor, hasErr bool, code uint32, kind eventKind) {
	ext := extBit(kind)
	tsel := uint16(g >> 16)
	gp := func(s uint16, rule string) {
		c.raise(arch.GPFault(selErr(s)|ext, rule, "Vol. 2A INT n TASK-GATE"))
	}
	d, addr, ok := c.tssDescFromGDT(tsel, gp)
	if !ok {
		return
	}
	t := d.typ()
	if !d.system() || (t != sysTSS32Avail && t != sysTSS16Avail) {
		gp(tsel, "IDT task gate names a busy TSS or a descriptor that is not an available TSS")
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(tsel)|ext, "TSS named by the IDT task gate not present", "Vol. 2A INT n TASK-GATE"))
		return
	}
	c.taskSwitch(tsel, d, addr, taskINT, ext, hasErr, code)
}

// taskReturn is IRET with NT=1 outside IA-32e mode (Vol. 2A IRET
// TASK-RETURN): switch back to the task named by the back link of the
// current TSS.
func (c *CPU) taskReturn() {
	const sdm = "Vol. 2A IRET TASK-RETURN"
	if c.TR.Limit < 1 {
		c.raise(arch.TSFault(selErr(c.TR.Selector), "current TSS too small to hold the back link", sdm))
		return
	}
	v, ok := c.sysRead(c.TR.Base+tssLink, 2)
	if !ok {
		return
	}
	tsel := uint16(v)
	ts := func(s uint16, rule string) { c.raise(arch.TSFault(selErr(s), rule, sdm)) }
	d, addr, ok := c.tssDescFromGDT(tsel, ts)
	if !ok {
		return
	}
	t := d.typ()
	if !d.system() || (t != sysTSS32Busy && t != sysTSS16Busy) {
		ts(tsel, "IRET back link does not name a busy TSS")
		return
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(tsel), "TSS named by the back link not present", sdm))
		return
	}
	c.taskSwitch(tsel, d, addr, taskIRET, 0, false, 0)
}

// taskSwitch switches to the task whose TSS descriptor d (at daddr in the
// GDT) is selected by sel, after the caller's checks of Table 7-1
// conditions 1-3 (GDT reference, present, busy). ext is the EXT bit for
// error codes; for taskINT, hasErr/code is the error code pushed on the
// new task's stack.
func (c *CPU) taskSwitch(sel uint16, d descriptor, daddr uint64, why taskReason, ext uint32, hasErr bool, code uint32) {
	if c.inGuest() {
		// Task switches exit unconditionally in VMX non-root operation
		// (SDM Vol. 3C 26.1.2; qualification 28.2.1: the selector, and
		// the source in bits 31:30: 0 CALL, 1 IRET, 2 JMP, 3 IDT gate).
		src := map[taskReason]uint64{taskCALL: 0, taskIRET: 1, taskJMP: 2}[why]
		if why != taskCALL && why != taskIRET && why != taskJMP {
			src = 3
		}
		c.vmExit(vmx.ExitTaskSwitch, vmx.ExitInfo{Qualification: uint64(sel) | src<<30}, why != taskINT)
		return
	}
	errSel := selErr(sel) | ext
	if d.typ()&8 == 0 || c.TR.Attr&8 == 0 {
		c.raise(arch.GPFault(errSel, "16-bit task switching (a 16-bit TSS, old or new) is not implemented by vmxemu", "Vol. 3A 7.6"))
		return
	}
	// Table 7-1 condition 4: the new TSS limit.
	if d.limit() < tssMin32 {
		c.raise(arch.TSFault(errSel, "new TSS limit is below 67H (a 32-bit TSS needs 104 bytes)", "Vol. 3A 7.2.2 / Table 7-1"))
		return
	}
	if c.TR.Limit < tssOld32 {
		c.raise(arch.TSFault(selErr(c.TR.Selector)|ext, "current TSS limit too small to save the task state (below 5FH)", "Vol. 3A 7.2.1 / 7.3"))
		return
	}
	// Read the whole new TSS first: every page fault comes before any
	// state changes (Vol. 3A 7.3 step 4).
	nb := d.base()
	var tss [0x68]byte
	for o := 0; o < len(tss); o += 8 {
		v, ok := c.sysRead(nb+uint64(o), 8)
		if !ok {
			return
		}
		for i := 0; i < 8; i++ {
			tss[o+i] = byte(v >> (8 * i))
		}
	}
	f32 := func(o int) uint32 {
		return uint32(tss[o]) | uint32(tss[o+1])<<8 | uint32(tss[o+2])<<16 | uint32(tss[o+3])<<24
	}
	f16 := func(o int) uint16 { return uint16(f32(o)) }

	// Step 5: JMP and IRET clear the old task's busy flag.
	oldSel := c.TR.Selector
	if why == taskJMP || why == taskIRET {
		oa := c.GDTR.Base + uint64(oldSel&^7)
		b, ok := c.sysRead(oa+5, 1)
		if !ok || !c.sysWrite(oa+5, 1, b&^2) {
			return
		}
	}
	// Steps 6-7: save the dynamic state in the old TSS (IRET saves NT=0).
	fl := c.Flags()
	if why == taskIRET {
		fl &^= arch.FlagNT
	}
	ob := c.TR.Base
	ok := c.sysWrite(ob+tssEIP, 4, uint64(uint32(c.RIP))) && c.sysWrite(ob+tssEFLAGS, 4, uint64(uint32(fl)))
	for i := 0; ok && i < 8; i++ {
		ok = c.sysWrite(ob+tssGPR+uint64(4*i), 4, uint64(uint32(c.GPR[i])))
	}
	for i := 0; ok && i < arch.NumSegs; i++ {
		ok = c.sysWrite(ob+tssSeg+uint64(4*i), 2, uint64(c.Seg[i].Selector))
	}
	if !ok {
		return
	}
	// Step 8: nesting writes the back link and sets NT in the new task.
	nfl := uint64(f32(tssEFLAGS))
	if why == taskCALL || why == taskINT {
		if !c.sysWrite(nb+tssLink, 2, uint64(oldSel)) {
			return
		}
		nfl |= arch.FlagNT
	}
	// Step 9: the new task is busy (IRET's target already is).
	if why != taskIRET {
		if !c.sysWrite(daddr+5, 1, uint64(d>>40)|2) {
			return
		}
	}
	// Step 10: TR. This is the commit point: later faults are raised in
	// the context of the new task.
	c.TR = arch.Segment{Selector: sel, Base: nb, Limit: d.limit(), Attr: d.attr() | 2}
	c.taskCommitted = true
	c.writeCR0(c.CR0 | arch.CR0TS) // cannot fail: only TS changes
	neip := uint64(f32(tssEIP))
	c.RIP = neip
	c.ripCur = neip // a fault from here on reports the new task's EIP
	c.setRFLAGS(nfl)
	// The local breakpoint enables end with the task (SDM Vol. 3B 18.2.4).
	c.DR[7] &^= dr7LocalAll
	c.updateDebug()
	for i := 0; i < 8; i++ {
		c.GPR[i] = uint64(f32(tssGPR + 4*i))
	}
	var sels [arch.NumSegs]uint16
	for i := range sels {
		sels[i] = f16(tssSeg + 4*i)
	}
	ldt := f16(tssLDT)
	vm := nfl&arch.FlagVM != 0
	cpl := int(sels[arch.CS] & 3)
	if vm {
		cpl = 3
	}
	// The selectors are loaded first with unusable caches (step 11).
	for i := range sels {
		c.Seg[i] = arch.Segment{Selector: sels[i], Attr: arch.ARUnusable | uint32(cpl)<<5}
	}
	c.LDTR = arch.Segment{Selector: ldt, Attr: arch.ARUnusable}
	c.stateChanged()
	if c.CR0&arch.CR0PG != 0 {
		c.writeCR3(uint64(f32(tssCR3)))
		if c.faultPending {
			return
		}
	}
	if !c.loadTaskSegs(sels, ldt, cpl, vm, ext) {
		return
	}
	c.stateChanged()
	if why == taskINT && hasErr {
		if !push(c, code) {
			c.fault.Code |= ext
			return
		}
	}
	if c.RIP > uint64(c.Seg[arch.CS].Limit) {
		c.raise(arch.GPFault(ext, "new task's EIP is outside its code segment limit", "Vol. 2A JMP/CALL/INT n/IRET (task switch)"))
		return
	}
	c.stop = true
}

// taskDesc reads the descriptor for sel during a task switch: in reports
// whether it lies within the GDT or the new LDT.
func (c *CPU) taskDesc(sel uint16) (d descriptor, addr uint64, in, ok bool) {
	idx := uint64(sel &^ 7)
	base, limit := c.GDTR.Base, uint64(c.GDTR.Limit)
	if sel&4 != 0 {
		if c.LDTR.Attr&arch.ARUnusable != 0 {
			return 0, 0, false, true
		}
		base, limit = c.LDTR.Base, uint64(c.LDTR.Limit)
	}
	if idx+7 > limit {
		return 0, 0, false, true
	}
	v, ok := c.sysRead(base+idx, 8)
	return descriptor(v), base + idx, true, ok
}

// loadTaskSegs loads LDTR and the segment registers of the new task with
// the checks of Table 7-1 conditions 6-18, in that order.
func (c *CPU) loadTaskSegs(sels [arch.NumSegs]uint16, ldt uint16, cpl int, vm bool, ext uint32) bool {
	ts := func(s uint16, rule string) bool {
		c.raise(arch.TSFault(selErr(s)|ext, rule, sdmTaskSwitch))
		return false
	}
	// 6: the LDT selector.
	var ldtD descriptor
	if ldt&^3 != 0 {
		if ldt&4 != 0 || uint64(ldt&^7)+7 > uint64(c.GDTR.Limit) {
			return ts(ldt, "new task's LDT selector does not reference the GDT or is outside its limit")
		}
		v, ok := c.sysRead(c.GDTR.Base+uint64(ldt&^7), 8)
		if !ok {
			return false
		}
		ldtD = descriptor(v)
		if !ldtD.system() || ldtD.typ() != sysLDT {
			return ts(ldt, "new task's LDT selector does not select an LDT descriptor")
		}
		c.LDTR = arch.Segment{Selector: ldt, Base: ldtD.base(), Limit: ldtD.limit(), Attr: ldtD.attr()}
	}
	if vm {
		// A virtual-8086 task: the segment registers are loaded as in
		// real mode (Vol. 3A 20.2.5).
		if ldt&^3 != 0 && !ldtD.present() {
			return ts(ldt, "new task's LDT not present")
		}
		for i := range sels {
			c.loadSegReal(i, sels[i])
		}
		return true
	}
	csSel, ssSel := sels[arch.CS], sels[arch.SS]
	csD, csA, csIn, ok := c.taskDesc(csSel)
	if !ok {
		return false
	}
	isCode := csIn && !csD.system() && csD.typ()&arch.ARCode != 0 && csSel&^3 != 0
	conf := csD.typ()&arch.ARConforming != 0
	// 7: CS DPL against its RPL.
	if isCode && ((!conf && csD.dpl() != cpl) || (conf && csD.dpl() > cpl)) {
		return ts(csSel, "new task's code segment DPL does not match the CS selector RPL")
	}
	// 8-10: SS.
	if ssSel&^3 == 0 {
		return ts(ssSel, "new task's SS selector is null")
	}
	ssD, ssA, ssIn, ok := c.taskDesc(ssSel)
	if !ok {
		return false
	}
	if !ssIn || ssD.system() || ssD.typ()&arch.ARCode != 0 || ssD.typ()&arch.ARWritable == 0 {
		return ts(ssSel, "new task's SS selector is outside its table or not a writable data segment")
	}
	if !ssD.present() {
		c.raise(arch.SSFault(selErr(ssSel)|ext, "new task's stack segment not present", sdmTaskSwitch))
		return false
	}
	if ssD.dpl() != cpl || int(ssSel&3) != cpl {
		return ts(ssSel, "new task's stack segment DPL or RPL differs from the new CPL")
	}
	if !c.setAccessed(ssD, ssA) {
		return false
	}
	c.Seg[arch.SS] = segFromDesc(ssSel, ssD)
	c.stateChanged()
	// 11: the LDT is present.
	if ldt&^3 != 0 && !ldtD.present() {
		return ts(ldt, "new task's LDT not present")
	}
	// 12-13: CS.
	if !isCode {
		return ts(csSel, "new task's CS selector is null, outside its table or not a code segment")
	}
	if !csD.present() {
		c.raise(arch.NPFault(selErr(csSel)|ext, "new task's code segment not present", sdmTaskSwitch))
		return false
	}
	if !c.setAccessed(csD, csA) {
		return false
	}
	c.Seg[arch.CS] = segFromDesc(csSel, csD)
	c.stateChanged()
	// 15-18: DS, ES, FS, GS.
	for _, i := range [...]int{arch.DS, arch.ES, arch.FS, arch.GS} {
		s := sels[i]
		if s&^3 == 0 {
			c.Seg[i] = arch.Segment{Selector: s, Attr: arch.ARUnusable}
			continue
		}
		dd, da, in, ok := c.taskDesc(s)
		if !ok {
			return false
		}
		code := dd.typ()&arch.ARCode != 0
		if !in || dd.system() {
			return ts(s, "new task's data segment selector is outside its table or selects a system descriptor")
		}
		if code && dd.typ()&arch.ARReadable == 0 {
			return ts(s, "new task's data segment register selects an execute-only code segment")
		}
		if !dd.present() {
			c.raise(arch.NPFault(selErr(s)|ext, "new task's data segment not present", sdmTaskSwitch))
			return false
		}
		if (!code || dd.typ()&arch.ARConforming == 0) && (dd.dpl() < cpl || dd.dpl() < int(s&3)) {
			return ts(s, "new task's data segment DPL is below the CPL or the selector RPL")
		}
		if !c.setAccessed(dd, da) {
			return false
		}
		c.Seg[i] = segFromDesc(s, dd)
	}
	return true
}

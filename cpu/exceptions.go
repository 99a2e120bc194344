package cpu

import (
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Exception and interrupt delivery (SDM Vol. 3A chapter 6; real mode 20.1.4).

// eventKind distinguishes how an event reached the CPU, which decides the
// EXT bit of error codes, the gate-DPL check and the return address.
type eventKind uint8

const (
	evException eventKind = iota // fault or trap raised by an instruction
	evExternal                   // INTR or NMI
	evSoftInt                    // INT n
	evSoftExc                    // INT3, INTO (software exceptions: DPL checked)
	evICEBP                      // INT1: privileged software exception (no DPL check)
)

// exception classes for double-fault promotion (SDM Vol. 3A 6.15, Table 6-4).
func excClass(v uint8) int {
	switch v {
	case arch.VecDE, arch.VecTS, arch.VecNP, arch.VecSS, arch.VecGP:
		return 1 // contributory
	case arch.VecPF:
		return 2 // page fault
	case arch.VecDF:
		return 3
	}
	return 0 // benign
}

// promote decides what a second exception raised while delivering a first
// one becomes (SDM Vol. 3A 6.15 Table 6-5): 0 = deliver serially,
// arch.VecDF = double fault, 255 = triple fault (shutdown).
func promote(first, second uint8) int {
	a, b := excClass(first), excClass(second)
	switch {
	case a == 3 && (b == 1 || b == 2):
		return 255
	case a == 1 && b == 1, a == 2 && (b == 1 || b == 2):
		return arch.VecDF
	}
	return 0
}

// deliverFault delivers the pending fault of the current instruction. RIP
// is already back at the faulting instruction.
func (c *CPU) deliverFault() {
	f := &c.delivering
	*f = c.fault
	c.faultPending = false
	c.dbg.hit = 0 // the instruction did not complete: no trap follows it
	c.event(f.Vector, f.HasError, f.Code, evException, f)
}

// deliveryEffects applies what delivering an exception changes beyond the
// handler's frame, and only at delivery: CR2 for a #PF, the DR6 status
// bits of a #DB, and RF=1 in the RFLAGS image saved for a fault, so that
// IRET back to the instruction does not retrigger an instruction
// breakpoint (SDM Vol. 3A 18.3.1.1; delivery then clears RF in the
// handler's RFLAGS). An exception that a VM exit takes instead of
// delivery leaves all three alone (SDM Vol. 3C 28.1).
func (c *CPU) deliveryEffects(kind eventKind, f *arch.Fault) {
	if kind != evException || f == nil {
		return
	}
	if f.Vector == arch.VecPF {
		c.CR2 = f.Addr
	}
	if f.Vector == arch.VecDB {
		c.debugDelivery(f)
	}
	if !f.Trap {
		c.RFLAGS |= arch.FlagRF
	}
}

// faultDoubleFault describes a #DF produced by promotion (SDM Vol. 3A 6.15,
// Table 6-5).
var faultDoubleFault = arch.Fault{Vector: arch.VecDF, HasError: true,
	Rule: "double fault: a second exception while delivering the first (Table 6-5)", SDM: "Vol. 3A 6.15"}

// event delivers vector through the IVT or IDT, promoting nested faults to
// #DF and shutdown. f describes the cause (nil for interrupts): its side
// effects (deliveryEffects) are applied here, at delivery.
//
// This is also the one place where the exception bitmap takes an exception
// as a VM exit instead of delivering it (SDM Vol. 3C 25.6.3, 26.2): before
// deliveryEffects, so that the exit sees CR2, DR6 and RF untouched. NMI and
// external-interrupt exiting decide before an event gets here
// (guestEvents, vmx_events.go); an exit during the delivery records the
// event as IDT-vectoring information (vmxSetDelivering).
func (c *CPU) event(vec uint8, hasErr bool, code uint32, kind eventKind, f *arch.Fault) {
	if c.Hooks != nil && c.Hooks.Exception != nil {
		c.Hooks.Exception(c, vec, f, kind == evExternal)
	}
	c.vev.delivering = 0
	// An EPT-induced VM exit while delivering is not an instruction's
	// outcome (vmx_ept.go).
	c.tlb.ctx.ept.events++
	c.deliverEvent(vec, hasErr, code, kind, f)
	c.tlb.ctx.ept.events--
	c.vev.delivering = 0
	if kind != evExternal && c.vev.on {
		c.vmxMTFPending() // an exception delivered in the guest (vmx_events.go)
	}
}

// deliverEvent is event's loop: one delivery, and the nested faults.
func (c *CPU) deliverEvent(vec uint8, hasErr bool, code uint32, kind eventKind, f *arch.Fault) {
	for {
		// An event injected by VM entry is not subject to the exception
		// bitmap (SDM Vol. 3C 27.6.1); faults during its delivery are.
		if c.inGuest() && !c.vev.injecting && c.exceptionExits(vec, hasErr, code, kind, f) {
			return
		}
		c.vev.injecting = false
		c.deliveryEffects(kind, f)
		c.beginTransfer()
		c.faultPending = false
		c.taskCommitted = false
		if c.inGuest() {
			c.vmxSetDelivering(vec, hasErr, code, kind, c.RIP-c.ripCur) // IDT-vectoring information (vmx_events.go)
		}
		from, cpl := c.RIP, c.cpl
		c.deliverOne(vec, hasErr, code, kind)
		if !c.xferOn {
			return // a VM exit in the middle of the delivery undid it
		}
		if !c.faultPending {
			c.endTransfer()
			// Delivery ends an STI/MOV SS interrupt shadow.
			c.halted = false
			c.shadow = 0
			if c.lbr.ctl != 0 {
				c.lbrDelivered(vec, kind, from, cpl) // LBR and BTF (debugctl.go)
			}
			return
		}
		// A fault while delivering: undo partial state and promote.
		second := c.fault
		c.faultPending = false
		if c.taskCommitted {
			// A fault after the commit point of a task switch through
			// an IDT task gate belongs to the new task (SDM Vol. 3A 7.3
			// step 11): nothing is undone and RIP is the new task's.
			c.taskCommitted = false
			c.endTransfer()
		} else {
			c.undoTransfer()
		}
		if kind == evSoftInt || kind == evSoftExc || kind == evICEBP {
			// (After a task switch's commit point ripCur is the new
			// task's EIP.)
			// A fault while delivering INT n/INT3/INTO/INT1 is a fault of
			// that instruction: it is reported with RIP at the instruction,
			// not after it (SDM Vol. 3A 6.12.1.1, Vol. 2A INT n
			// "Operation": the #GP/#NP/#SS/#TS/#PF are faults).
			c.RIP = c.ripCur
		}
		// In VMX non-root operation the exception bitmap decides about
		// the second exception before it is combined with the first
		// (SDM Vol. 3C 28.2.4: the exit records the first in the
		// IDT-vectoring information).
		if c.inGuest() && c.exceptionExits(second.Vector, second.HasError, second.Code, evException, &second) {
			return
		}
		c.vev.delivering = 0
		switch promote(vec, second.Vector) {
		case 255:
			c.deliveryEffects(evException, &second)
			c.enterShutdown(second, "triple fault: exception while delivering #DF")
			return
		case arch.VecDF:
			// The second exception was detected (a #PF loads CR2)
			// before it became a double fault.
			c.deliveryEffects(evException, &second)
			if c.Hooks != nil && c.Hooks.Exception != nil {
				c.Hooks.Exception(c, arch.VecDF, &second, false)
			}
			df := faultDoubleFault
			vec, hasErr, code, kind, f = arch.VecDF, true, 0, evException, &df
		default:
			if c.Hooks != nil && c.Hooks.Exception != nil {
				c.Hooks.Exception(c, second.Vector, &second, false)
			}
			vec, hasErr, code, kind, f = second.Vector, second.HasError, second.Code, evException, &second
		}
	}
}

// enterShutdown puts the CPU in the shutdown state (SDM Vol. 3A 6.15,
// "Interrupt 8": a fault during #DF delivery causes shutdown).
//
// In VMX non-root operation a triple fault is a VM exit instead (SDM Vol.
// 3C 26.2, exit reason 2).
func (c *CPU) enterShutdown(f arch.Fault, why string) {
	if c.inGuest() {
		c.vmExit(vmx.ExitTripleFault, vmx.ExitInfo{}, false)
		return
	}
	c.enterShutdownNow(f, why)
}

// enterShutdownNow enters the shutdown state whatever the VMX mode (a VMX
// abort, 28.7).
func (c *CPU) enterShutdownNow(f arch.Fault, why string) {
	if c.Hooks != nil && c.Hooks.Shutdown != nil {
		c.Hooks.Shutdown(c, f, why)
	}
	c.shutdown = true
	c.ShutdownFault = f
	c.ShutdownWhy = why
	c.stop = true
}

type eventSave struct {
	rsp    uint64
	rip    uint64
	rflags uint64
	cs, ss arch.Segment
}

// saveForEvent records in s what restoreForEvent puts back, field by
// field in place (a transfer's record is written at every delivery and
// far return).
func (c *CPU) saveForEvent(s *eventSave) {
	fl := c.Flags()
	// The arithmetic flags materialised (the same values): the
	// transfer's own reads of RFLAGS (the image it pushes) are then
	// cheap.
	c.lz.setFlags(fl)
	s.rsp, s.rip, s.rflags = c.GPR[arch.RSP], c.RIP, fl
	s.cs, s.ss = c.Seg[arch.CS], c.Seg[arch.SS]
}

func (c *CPU) restoreForEvent(s eventSave) {
	c.GPR[arch.RSP], c.RIP = s.rsp, s.rip
	c.setRFLAGS(s.rflags)
	c.Seg[arch.CS], c.Seg[arch.SS] = s.cs, s.ss
	c.stateChanged()
}

// A far transfer or an event delivery changes CS, SS, RSP, RIP and RFLAGS
// before its last check or memory access (an SS descriptor read, a push);
// when one of those fails the transfer is undone, as it did not happen.
// The record of what to undo lives in the CPU (c.xfer) rather than with
// the transfer, because a VM exit can end the transfer in the middle (an
// EPT violation or an APIC-access exit on that read or push): vmExit
// undoes it first, so that the guest state saved is the state before the
// instruction or the delivery (SDM Vol. 3C 28.2.1, 28.3.3), and the
// transfer's own undo then finds nothing to undo and leaves the host
// state of 28.5 alone.

// beginTransfer records the state a transfer is about to change.
func (c *CPU) beginTransfer() {
	c.saveForEvent(&c.xfer)
	c.xferOn = true
}

// endTransfer ends a transfer that completed (or whose undo is not wanted:
// a task switch past its commit point).
func (c *CPU) endTransfer() { c.xferOn = false }

// undoTransfer puts the recorded state back, unless a VM exit already did.
func (c *CPU) undoTransfer() {
	if c.xferOn {
		c.xferOn = false
		c.restoreForEvent(c.xfer)
	}
}

// extBit is the EXT bit of an error code (SDM Vol. 3A 6.13): set when the
// exception arose while delivering an event external to the program — an
// interrupt, NMI or earlier exception — and clear only for the software
// interrupts INT n, INT3 and INTO. INT1 (ICEBP, F1) is not one of them:
// it delivers as a privileged software exception (VMX interruption type
// 5, Vol. 3C 25.8.3) and sets EXT, as Bochs does for its
// BX_PRIVILEGED_SOFTWARE_INTERRUPT (QEMU clears it: a known QEMU
// difference).
func extBit(kind eventKind) uint32 {
	if kind == evExternal || kind == evException || kind == evICEBP {
		return 1
	}
	return 0
}

func (c *CPU) deliverOne(vec uint8, hasErr bool, code uint32, kind eventKind) {
	if c.CR0&arch.CR0PE == 0 {
		c.deliverReal(vec)
		return
	}
	if c.EFER&arch.EFERLMA != 0 {
		c.deliverLong(vec, hasErr, code, kind)
		return
	}
	c.deliverProtected(vec, hasErr, code, kind)
}

// deliverReal: real-address-mode interrupt through the IVT (SDM Vol. 3A
// 20.1.4): push FLAGS, CS, IP; clear IF, TF, AC; jump to the vector.
func (c *CPU) deliverReal(vec uint8) {
	off := uint64(vec) * 4
	if off+3 > uint64(c.IDTR.Limit) {
		c.raiseGP("interrupt vector outside the IVT limit", "Vol. 3A 20.1.4")
		return
	}
	v, ok := c.sysRead(c.IDTR.Base+off, 4)
	if !ok {
		return
	}
	fl := c.Flags()
	if !push(c, uint16(fl)) || !push(c, c.Seg[arch.CS].Selector) || !push(c, uint16(c.RIP)) {
		return
	}
	c.setRFLAGS(fl &^ (arch.FlagIF | arch.FlagTF | arch.FlagAC | arch.FlagRF))
	c.loadSegReal(arch.CS, uint16(v>>16))
	c.RIP = v & 0xFFFF
	c.stateChanged()
}

// gate reads and checks the IDT gate for vec (SDM Vol. 3A 6.12.1).
func (c *CPU) gate(vec uint8, kind eventKind, size uint64) (lo, hi uint64, ok bool) {
	idtErr := uint32(vec)*8 + 2 + extBit(kind)
	off := uint64(vec) * size
	if off+size-1 > uint64(c.IDTR.Limit) {
		c.raise(arch.GPFault(idtErr, "interrupt vector outside the IDT limit", "Vol. 3A 6.10"))
		return 0, 0, false
	}
	lo, ok = c.sysRead(c.IDTR.Base+off, 8)
	if !ok {
		return
	}
	if size == 16 {
		hi, ok = c.sysRead(c.IDTR.Base+off+8, 8)
		if !ok {
			return
		}
	}
	d := descriptor(lo)
	t := d.typ()
	valid := false
	if size == 16 {
		valid = d.system() && (t == 0xE || t == 0xF)
	} else {
		valid = d.system() && (t == sysTaskGate || t == 0x6 || t == 0x7 || t == 0xE || t == 0xF)
	}
	if !valid {
		rule := "IDT entry is not an interrupt or trap gate"
		sdm := "Vol. 3A 6.11"
		if size == 8 {
			rule = "IDT entry is not a task, interrupt or trap gate"
		}
		c.raise(arch.GPFault(idtErr, rule, sdm))
		return 0, 0, false
	}
	if (kind == evSoftInt || kind == evSoftExc) && d.dpl() < int(c.cpl) {
		c.raise(arch.GPFault(idtErr, "software interrupt through a gate with DPL < CPL", "Vol. 3A 6.12.1.1"))
		return 0, 0, false
	}
	if !d.present() {
		c.raise(arch.NPFault(idtErr, "IDT gate not present", "Vol. 3A 6.12.1"))
		return 0, 0, false
	}
	return lo, hi, true
}

// handlerCS reads and checks the code segment a gate points to.
func (c *CPU) handlerCS(sel uint16, kind eventKind) (descriptor, uint64, bool) {
	ext := extBit(kind)
	if sel&^3 == 0 {
		c.raise(arch.GPFault(ext, "interrupt gate selects a null code segment", "Vol. 3A 6.12.1"))
		return 0, 0, false
	}
	d, addr, ok := c.readDesc(sel)
	if !ok {
		c.fault.Code |= ext
		return 0, 0, false
	}
	if d.system() || d.typ()&arch.ARCode == 0 || d.dpl() > int(c.cpl) {
		c.raise(arch.GPFault(selErr(sel)|ext, "interrupt handler segment is not code or has DPL > CPL", "Vol. 3A 6.12.1"))
		return 0, 0, false
	}
	if !d.present() {
		c.raise(arch.NPFault(selErr(sel)|ext, "interrupt handler code segment not present", "Vol. 3A 6.12.1"))
		return 0, 0, false
	}
	return d, addr, true
}

// returnRIP is the RIP pushed for an event: the next instruction for INT n,
// INT3, INTO and INT1; the faulting instruction for faults.
func (c *CPU) returnRIP() uint64 { return c.RIP }

// deliverProtected: 32-bit IDT delivery (SDM Vol. 3A 6.12.1).
func (c *CPU) deliverProtected(vec uint8, hasErr bool, code uint32, kind eventKind) {
	lo, _, ok := c.gate(vec, kind, 8)
	if !ok {
		return
	}
	g := descriptor(lo)
	if g.typ() == sysTaskGate {
		// Task gate: a task switch with nesting (SDM Vol. 3A 6.11.1, 7.3).
		c.intTaskGate(g, hasErr, code, kind)
		return
	}
	sel := uint16(lo >> 16)
	target := lo&0xFFFF | (lo>>48)<<16
	gate32 := g.typ()&8 != 0
	d, daddr, ok := c.handlerCS(sel, kind)
	if !ok {
		return
	}
	if !c.setAccessed(d, daddr) {
		return
	}
	fl := c.Flags()
	oldCS, oldSS, oldSP := c.Seg[arch.CS], c.Seg[arch.SS], c.GPR[arch.RSP]
	newCPL := int(c.cpl)
	if d.typ()&arch.ARConforming == 0 && d.dpl() < int(c.cpl) {
		newCPL = d.dpl()
		// Stack switch from the TSS (SDM Vol. 3A 7.2.1, Figure 7-2).
		if c.TR.Attr&arch.ARUnusable != 0 || c.TR.Selector == 0 {
			c.raise(arch.TSFault(0, "privilege change with no TSS loaded", "Vol. 3A 6.12.1"))
			return
		}
		off := uint64(4 + 8*newCPL)
		if off+5 > uint64(c.TR.Limit) {
			c.raise(arch.TSFault(selErr(c.TR.Selector), "TSS too small for the ring's stack", "Vol. 3A 7.2.1"))
			return
		}
		esp, ok := c.sysRead(c.TR.Base+off, 4)
		if !ok {
			return
		}
		ss, ok := c.sysRead(c.TR.Base+off+4, 2)
		if !ok {
			return
		}
		if !c.loadStackForCPL(uint16(ss), newCPL, extBit(kind)) {
			return
		}
		c.GPR[arch.RSP] = esp
		var okp bool
		if gate32 {
			okp = push(c, uint32(oldSS.Selector)) && push(c, uint32(oldSP))
		} else {
			okp = push(c, oldSS.Selector) && push(c, uint16(oldSP))
		}
		if !okp {
			return
		}
	}
	var okp bool
	if gate32 {
		okp = push(c, uint32(fl)) && push(c, uint32(oldCS.Selector)) && push(c, uint32(c.returnRIP()))
		if okp && hasErr {
			okp = push(c, code)
		}
	} else {
		okp = push(c, uint16(fl)) && push(c, oldCS.Selector) && push(c, uint16(c.returnRIP()))
		if okp && hasErr {
			okp = push(c, uint16(code))
		}
	}
	if !okp {
		return
	}
	if !gate32 {
		target &= 0xFFFF
	}
	if target > uint64(d.limit()) {
		c.raise(arch.GPFault(0, "interrupt handler offset outside the code segment limit", "Vol. 3A 6.12.1"))
		return
	}
	nf := fl &^ (arch.FlagTF | arch.FlagNT | arch.FlagRF | arch.FlagVM)
	if g.typ()&1 == 0 {
		nf &^= arch.FlagIF
	}
	c.setRFLAGS(nf)
	c.loadCS(sel, d, newCPL)
	c.RIP = target
}

// loadStackForCPL loads SS for an inner-privilege stack switch
// (SDM Vol. 3A 6.12.1, Vol. 2A INT n "INTER-PRIVILEGE-LEVEL-INTERRUPT":
// the #TS/#SS conditions, with EXT from the event).
func (c *CPU) loadStackForCPL(sel uint16, cpl int, ext uint32) bool {
	d, addr, ok := c.checkInnerStack(sel, cpl, ext, "Vol. 3A 6.12.1 / Vol. 2A INT n")
	if !ok {
		return false
	}
	if !c.setAccessed(d, addr) {
		return false
	}
	c.Seg[arch.SS] = segFromDesc(sel, d)
	c.cpl = uint8(cpl)
	c.stateChangedKeepCPL()
	return true
}

// stateChangedKeepCPL refreshes derived state during a privilege change
// where CS has not been loaded yet (CPL follows the new SS).
func (c *CPU) stateChangedKeepCPL() { c.stateChanged() }

// deliverLong: IA-32e mode delivery through 16-byte gates (SDM Vol. 3A
// 6.14): always pushes SS:RSP, aligns RSP to 16, IST stacks.
func (c *CPU) deliverLong(vec uint8, hasErr bool, code uint32, kind eventKind) {
	lo, hi, ok := c.gate(vec, kind, 16)
	if !ok {
		return
	}
	g := descriptor(lo)
	sel := uint16(lo >> 16)
	target := lo&0xFFFF | (lo>>48)<<16 | hi<<32
	ist := int(lo>>32) & 7
	d, daddr, ok := c.handlerCS(sel, kind)
	if !ok {
		return
	}
	if d.attr()&arch.ARL == 0 || d.attr()&arch.ARDB != 0 {
		c.raise(arch.GPFault(selErr(sel)|extBit(kind), "IA-32e interrupt handler must be a 64-bit code segment", "Vol. 3A 6.14.1"))
		return
	}
	if !c.canonical(target) {
		c.raise(arch.GPFault(extBit(kind), "interrupt handler address not canonical", "Vol. 3A 6.14.1"))
		return
	}
	if !c.setAccessed(d, daddr) {
		return
	}
	fl := c.Flags()
	oldCS, oldSS, oldSP := c.Seg[arch.CS].Selector, c.Seg[arch.SS].Selector, c.GPR[arch.RSP]
	newCPL := int(c.cpl)
	if d.typ()&arch.ARConforming == 0 {
		newCPL = d.dpl()
	}
	newSP := oldSP
	if newCPL != int(c.cpl) || ist != 0 {
		var off uint64
		if ist != 0 {
			off = 0x24 + uint64(ist-1)*8
		} else {
			off = 4 + uint64(newCPL)*8
		}
		if c.TR.Selector == 0 || off+7 > uint64(c.TR.Limit) {
			c.raise(arch.TSFault(selErr(c.TR.Selector), "TSS too small or absent for the RSP/IST stack", "Vol. 3A 6.14.5"))
			return
		}
		v, ok := c.sysRead(c.TR.Base+off, 8)
		if !ok {
			return
		}
		newSP = v
	}
	if newCPL != int(c.cpl) {
		// The new SS is a null selector with RPL = new CPL (SDM 6.14.4).
		c.Seg[arch.SS] = arch.Segment{Selector: uint16(newCPL), Attr: arch.ARUnusable | uint32(newCPL)<<5}
	}
	newSP &^= 15
	// Switch to 64-bit CS first so pushes use 64-bit stack semantics.
	// A handler at the same level in the same code segment (a #PF at CPL
	// 0) leaves CS and SS as they are, and so every fact stateChanged
	// derives from them.
	if cs := segFromDesc(sel&^3|uint16(newCPL), d); newCPL != int(c.cpl) || cs != c.Seg[arch.CS] {
		c.Seg[arch.CS] = cs
		c.stateChanged()
	}
	c.GPR[arch.RSP] = newSP
	frame := [6]uint64{uint64(oldSS), oldSP, fl, uint64(oldCS), c.returnRIP(), uint64(code)}
	n := 5
	if hasErr {
		n = 6
	}
	if !c.pushFrame64(frame[:n]) {
		return
	}
	nf := fl &^ (arch.FlagTF | arch.FlagNT | arch.FlagRF | arch.FlagVM)
	if g.typ()&1 == 0 {
		nf &^= arch.FlagIF
	}
	c.setRFLAGS(nf)
	c.RIP = target
}

// pushFrame64 pushes the words of an IA-32e interrupt frame, first word
// first, onto the 64-bit stack, as one push each would (SDM Vol. 3A
// 6.14.2, Figure 6-9). When the whole frame lies in one page with a
// write TLB hit (stack64's conditions for its lowest word, and the frame
// not crossing the page, which keeps every word canonical: Vol. 3A
// 3.3.7.1) it is written in one piece: a hit stands for the paging
// checks of every word, none can fault, and nothing runs between the
// pushes, so the order of the writes does not show. Otherwise the pushes
// run one by one, and a fault stops them where push would.
func (c *CPU) pushFrame64(frame []uint64) bool {
	sp := c.GPR[arch.RSP]
	low := sp - 8*uint64(len(frame))
	if low&^0xfff == (sp-1)&^0xfff {
		if p := c.stack64(&c.tlb.write, low); p != nil {
			for i, v := range frame {
				*(*uint64)(unsafe.Add(unsafe.Pointer(p), 8*(len(frame)-1-i))) = v
			}
			c.GPR[arch.RSP] = low
			return true
		}
	}
	for _, v := range frame {
		if !push(c, v) {
			return false
		}
	}
	return true
}

// exceptionExits takes a guest's exception as a VM exit when the
// exception bitmap (with the #PF error-code mask and match) says so (SDM
// Vol. 3C 25.6.3, 26.2): exit reason 0 with the interruption information,
// before any of the exception's side effects (CR2, DR6 and RF stay as they
// were: 28.1). The exit qualification holds the #PF address or the #DB
// status bits (28.2.1).
func (c *CPU) exceptionExits(vec uint8, hasErr bool, code uint32, kind eventKind, f *arch.Fault) bool {
	var typ uint32
	switch kind {
	case evException:
		typ = 3
	case evSoftExc:
		typ = 6
	case evICEBP:
		typ = 5
	default:
		return false // external interrupts and NMIs: their exiting controls decide in guestEvents
	}
	if !c.intercepts.ExceptionExits(vec, code) {
		return false
	}
	info := vmx.ExitInfo{IntrInfo: 1<<31 | typ<<8 | uint32(vec)}
	if hasErr {
		info.IntrInfo |= 1 << 11
		info.IntrErr = code
	}
	if f != nil {
		switch vec {
		case arch.VecPF:
			info.Qualification = f.Addr
		case arch.VecDB:
			info.Qualification = f.DR6
		}
	}
	if kind != evException {
		info.InsnLength = uint32(c.RIP - c.ripCur)
		c.RIP = c.ripCur
	}
	c.vmExit(vmx.ExitExceptionNMI, info, false)
	return true
}

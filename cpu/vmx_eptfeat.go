package cpu

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/vmx"
)

// The optional EPT features in the core: page-modification logging (SDM
// Vol. 3C 29.3.6), EPTP switching through VMFUNC (26.5.5), EPT-violation
// virtualization exceptions (26.5.6); mode-based execute control is the
// walk's (eptPage passes the user-mode flag of a fetch's linear address).
// What each does to the VMCS and the rules are package vmx's
// (vmx/eptfeatures.go); here is when they happen.

// EPTEvent is one event of the optional EPT features, for the event log
// (-d ept): a page-modification log write, an EPTP switch, a
// virtualization exception.
type EPTEvent struct {
	Kind string // EPTEventPMLLog, EPTEventVMFUNC or EPTEventVE
	// GPA is the guest-physical address logged (PML) or refused (#VE).
	GPA uint64
	// Addr is the log entry's physical address (PML) or the
	// virtualization-exception information area's (#VE).
	Addr uint64
	// Index is the PML index used (PML) or the EPTP-list index (VMFUNC,
	// #VE: the EPTP index saved).
	Index uint64
	// EPTP is the EPTP now in force (VMFUNC).
	EPTP uint64
	// Qualification and GLA are the EPT violation's (#VE).
	Qualification, GLA uint64
	// Why explains the event.
	Why string
}

// EPTEvent kinds.
const (
	EPTEventPMLLog = "pml-log"
	EPTEventVMFUNC = "eptp-switch"
	EPTEventVE     = "ve"
)

func (c *CPU) eptEvent(e EPTEvent) {
	if c.Hooks != nil && c.Hooks.EPT != nil {
		c.Hooks.EPT(c, e)
	}
}

// pmlLog logs the guest-physical address of an access whose walk set an
// EPT dirty flag, with "enable PML" (SDM Vol. 3C 29.3.6): the walk has
// already stopped with a log-full event when the index was out of range.
func (c *CPU) pmlLog(gpa uint64) {
	at, idx, ok := c.vmx.PMLLog(gpa, vmxPhys{c})
	if !ok {
		return
	}
	c.eptEvent(EPTEvent{Kind: EPTEventPMLLog, GPA: gpa &^ 0xFFF, Addr: at, Index: uint64(idx),
		Why: fmt.Sprintf("the access set the EPT dirty flag of guest-physical %#x: logged at PML index %d (SDM Vol. 3C 29.3.6)", gpa&^0xFFF, idx)})
}

// eptVE turns a convertible EPT violation into a virtualization exception
// when the SDM allows it (Vol. 3C 26.5.6.1): "EPT-violation #VE" is 1,
// bit 63 of the deciding EPT entry is 0 (ept.Result.Convertible), CR0.PE =
// 1, no event is being delivered through the IDT, and the information
// area's semaphore is 0 (vmx.DeliverVE, which saves the information).
// The #VE (vector 20, a fault without error code, Vol. 3A 6.15) is then
// raised as any exception — the exception bitmap's bit 20 makes it a VM
// exit. It returns true when it raised #VE.
func (c *CPU) eptVE(gpa uint64, kind int, r *ept.Result, info vmx.ExitInfo) bool {
	x := &c.tlb.ctx.ept
	if !x.ve || !r.Convertible() || c.CR0&arch.CR0PE == 0 || x.events != 0 {
		return false
	}
	ok, area, why := c.vmx.DeliverVE(info.Qualification, info.GuestLinear, gpa, vmxPhys{c})
	if !ok {
		if why != "" {
			x.why += "; no #VE: " + why
		}
		return false
	}
	rule := "EPT violation converted to a virtualization exception (\"EPT-violation #VE\", suppress-#VE bit 63 clear): " + r.Why
	c.eptEvent(EPTEvent{Kind: EPTEventVE, GPA: gpa, Addr: area, Qualification: info.Qualification, GLA: info.GuestLinear,
		Index: c.vmx.EPTPIndex(), Why: rule})
	c.raise(arch.Fault{Vector: arch.VecVE, Rule: rule, SDM: "Vol. 3C 26.5.6; Vol. 3A 6.15 Interrupt 20"})
	return true
}

// vmfunc: VMFUNC (NP 0F 01 D4). Outside VMX non-root operation it is #UD;
// in it, package vmx decides (#UD, the VM exit of reason 59, or an EPTP
// switch), and an EPTP switch makes the new EPTP's translation context
// current — no invalidation, so the new context's cached translations
// (stale ones included) are used, and the PAE PDPTEs are not reloaded
// (SDM Vol. 3C 26.5.5.3).
func vmfunc(c *CPU, in *Inst) {
	if !c.inGuest() {
		c.raiseUD("VMFUNC outside VMX non-root operation", "Vol. 2B VMFUNC")
		return
	}
	o := c.vmx.VMFUNC(uint64(uint32(c.GPR[0])), uint64(uint32(c.GPR[1])), vmxPhys{c})
	x := &c.tlb.ctx.ept
	switch {
	case o.UD != nil:
		c.raise(*o.UD)
	case o.Exit:
		x.why = o.Why
		c.guestInsnExit(in, vmx.ExitVMFUNC, 0)
	default:
		x.eptp = o.EPTP
		c.switchContext(ctxID{vpid: x.vpid, ept: ept.Pointer(o.EPTP).Root()})
		c.codeCtxChanged() // the block lookup follows the context (tlb.go)
		c.eptEvent(EPTEvent{Kind: EPTEventVMFUNC, Index: uint64(o.Index), EPTP: o.EPTP,
			Why: fmt.Sprintf("VMFUNC EPTP switching: EPTP-list entry %d, EPTP %#x (SDM Vol. 3C 26.5.5.3)", o.Index, o.EPTP)})
	}
}

// VMFUNCWhy explains the last VM exit of VMFUNC (reason 59).
func (c *CPU) VMFUNCWhy() string { return c.tlb.ctx.ept.why }

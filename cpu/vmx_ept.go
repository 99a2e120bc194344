package cpu

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/mmu"
	"github.com/vmxemu/vmxemu/vmx"
)

// EPT and VPID in the core (SDM Vol. 3C 29.3, 29.4). Under "enable EPT"
// every guest-physical access the core makes — fetches, data, the guest's
// own paging-structure entries and PDPTEs, descriptor tables and the TSS —
// goes through physPage (phys.go), which walks the EPT hierarchy (package
// ept) for it. A refused access is an EPT violation (exit reason 48) or an
// EPT misconfiguration (49): a VM exit that is the outcome of the
// instruction making the access (it does not retire), or, for an
// instruction fetch or an access during event delivery, an exit before
// the instruction.
//
// The TLB caches the combined guest-linear → host-physical translation:
// a TLB fill walks the guest's tables (each entry at a guest-physical
// address, translated through EPT) and then the EPT for the final
// guest-physical page, and the entry holds the host page. Entries belong
// to the translation context of the (VPID, EP4TA) pair the guest runs
// with (tlb.go), so they survive VM exits and entries and stay stale
// after the hypervisor changes the EPT or the guest's tables until
// INVEPT, INVVPID or the guest's own invalidations remove them — as on
// hardware (29.4.3). Guest-physical mappings are not cached: every TLB
// fill reads the EPT, which hardware is allowed to do.
//
// Without VPIDs, VM entry and VM exit invalidate the linear and combined
// mappings of VPID 0000H (29.4.3.1 via 27.3.3, 28.5.x).

// eptState is the EPT half of the current translation context, and what
// an EPT-induced VM exit needs to know about the access that caused it.
type eptState struct {
	on   bool     // the current context translates through EPT
	eptp uint64   // the EPTP in force (the walk honours its A/D bit)
	vpid uint16   // the guest's VPID (0: none)
	caps ept.Caps // IA32_VMX_EPT_VPID_CAP of the processor
	// lin is the linear address translate last started on: the
	// guest-linear address of an EPT violation (Table 28-7 bit 7);
	// noLin is set while the PDPTEs load, which have none.
	// kind is that access's kind: a paging-structure access refused
	// while translating a fetch happens before the instruction.
	lin   uint64
	kind  int
	noLin bool
	// adv are bits 11:9 of the exit qualification for the last guest
	// translation (advanced VM-exit information, eptAdvInfo).
	adv uint64
	// events counts nested event deliveries: an EPT-induced exit during
	// one is not an instruction's outcome.
	events int
	// why explains the last EPT violation or misconfiguration (EPTExitWhy).
	why string
	// inv are the operands of the INVEPT or INVVPID being executed (for
	// the event log: InvOperands).
	inv InvOperands
	// mbec, pml and ve are "mode-based execute control for EPT", "enable
	// PML" and "EPT-violation #VE" of the guest (vmx_eptfeat.go).
	mbec, pml, ve bool
}

// InvOperands are the operands of an INVEPT or INVVPID (SDM Vol. 3C 31.3):
// the type (the register operand) once read, and the 128-bit descriptor
// once read (not for a VMfail on the type).
type InvOperands struct {
	Type    uint64
	HasType bool
	Desc    [2]uint64
	HasDesc bool
}

// InvOperands returns the operands of the INVEPT or INVVPID whose
// outcome the VMX hook is being given.
func (c *CPU) InvOperands() InvOperands { return c.tlb.ctx.ept.inv }

// EPTExitWhy explains the last EPT violation or misconfiguration this CPU
// took: the entry, its level and address, and the rule (for the event
// log and fault explanations).
func (c *CPU) EPTExitWhy() string { return c.tlb.ctx.ept.why }

// eptPage is physPage under EPT: the walk, then the host frame, or the
// VM exit of a refusal (ok=false).
func (c *CPU) eptPage(gpa uint64, kind int) (*[4096]byte, uint64, bool) {
	x := &c.tlb.ctx.ept
	if !c.inGuest() {
		// Out of the guest without vmxExitTranslation (a VMX abort's
		// shutdown, then INIT): physical addresses are host-physical.
		x.on = false
		hfn := gpa >> 12
		return c.hostPage(hfn), hfn, true
	}
	a := ept.Access{
		Write:       kind == accWrite || kind == accPagingW,
		Fetch:       kind == accFetch,
		Paging:      kind == accPaging || kind == accPagingW,
		LinearValid: !x.noLin,
	}
	ctl := ept.Controls{MBEC: x.mbec}
	if x.mbec && a.Fetch {
		// The linear address of the fetch (translate's, just before):
		// user-mode when U/S = 1 at every level, or without paging.
		a.User = c.CR0&arch.CR0PG == 0 || x.adv&ept.QualUser != 0
	}
	var r ept.Result
	if kind == accPeek {
		r = ept.WalkCtl(eptPeekMem{c}, x.caps, ctl, x.eptp, gpa, a)
	} else {
		if x.pml {
			ctl.LogFull = c.vmx.EPTControls().LogFull
		}
		r = ept.WalkCtl(eptMem{c}, x.caps, ctl, x.eptp, gpa, a)
	}
	if r.Kind == ept.OK {
		if r.Dirtied && x.pml && kind != accPeek {
			c.pmlLog(gpa) // vmx_eptfeat.go
		}
		hfn := r.HPA >> 12
		return c.hostPage(hfn), hfn, true
	}
	if kind != accPeek {
		c.eptExit(gpa, kind, &r)
	}
	return nil, 0, false
}

// eptExit is the VM exit of a refused guest-physical access (SDM Vol. 3C
// 28.2.1): reason 48 with the exit qualification of Table 28-7 and the
// guest-linear address when bit 7 says it is valid, or reason 49; the
// guest-physical address in both.
func (c *CPU) eptExit(gpa uint64, kind int, r *ept.Result) {
	x := &c.tlb.ctx.ept
	reason := uint32(vmx.ExitEPTMisconf)
	var info vmx.ExitInfo
	if r.Kind == ept.LogFull {
		// A page-modification log-full event (SDM Vol. 3C 29.3.6): exit
		// reason 62, whose qualification has only bit 12 (NMI unblocking
		// due to IRET, vmxExitInfo); the access did not occur.
		reason = vmx.ExitPMLFull
	}
	if r.Kind == ept.Violation {
		reason = vmx.ExitEPTViolate
		info.Qualification = eptExitQualification(x.caps, r.Qualification, c.CR0&arch.CR0PG != 0, x.adv)
		if r.Qualification&ept.QualLinearValid != 0 {
			info.GuestLinear = x.lin
			if c.codeMode != mode64 {
				info.GuestLinear = uint64(uint32(x.lin))
			}
		}
	}
	if r.Kind != ept.LogFull {
		c.vmx.SetGuestPhysical(gpa)
	}
	x.why = r.Why
	paging := kind == accPaging || kind == accPagingW
	if r.Kind == ept.Violation && c.eptVE(gpa, kind, r, info) { // vmx_eptfeat.go
		return
	}
	// A fetch, or a paging-structure access of the walk translating one
	// (x.kind is the kind translate was called for; the PDPTE loads of
	// MOV to CR3 and the like, noLin, are not part of a walk), exits
	// before the instruction; so does an access during event delivery.
	fetch := kind == accFetch || paging && !x.noLin && x.kind == accFetch
	c.vmExit(reason, info, !fetch && x.events == 0)
}

// eptExitQualification completes the exit qualification q of an EPT
// violation (ept.Walk's) with Table 28-7 bits 9-11 for an access to the
// translation of a linear address when the processor reports advanced
// VM-exit information (IA32_VMX_EPT_VPID_CAP bit 22): adv (eptAdvInfo) of
// the guest translation, or — without paging, where every linear address
// is user-mode, read/write and executable — bits 9 and 10.
func eptExitQualification(caps ept.Caps, q uint64, paging bool, adv uint64) uint64 {
	if q&ept.QualTranslation == 0 || !caps.Has(ept.CapAdvExitInfo) {
		return q
	}
	if !paging {
		return q | ept.QualUser | ept.QualRW
	}
	return q | adv
}

// eptAdvInfo is the advanced VM-exit information of a guest translation
// (SDM Vol. 3C Table 28-7): bit 9 a user-mode linear address, bit 10 a
// read/write one, bit 11 an execute-disable one.
func eptAdvInfo(tr *mmu.Translation) uint64 {
	var q uint64
	if tr.User {
		q |= ept.QualUser
	}
	if tr.Writable {
		q |= ept.QualRW
	}
	if tr.NX {
		q |= ept.QualNX
	}
	return q
}

// eptMem is host-physical memory for the EPT walk: RAM only; setting an
// EPT A/D flag invalidates decoded code in that frame like any write.
type eptMem struct{ c *CPU }

func (m eptMem) ReadPhys64(hpa uint64) (uint64, bool) {
	pg := m.c.hostPage(hpa >> 12)
	if pg == nil {
		return 0, false
	}
	return binary.LittleEndian.Uint64(pg[hpa&0xFF8:]), true
}

func (m eptMem) WritePhys64(hpa uint64, v uint64) bool {
	pg := m.c.hostPage(hpa >> 12)
	if pg == nil {
		return false
	}
	binary.LittleEndian.PutUint64(pg[hpa&0xFF8:], v)
	m.c.code.written(m.c, hpa>>12)
	return true
}

// eptPeekMem is the debugger's view: no A/D flags set.
type eptPeekMem struct{ c *CPU }

func (m eptPeekMem) ReadPhys64(hpa uint64) (uint64, bool) { return eptMem(m).ReadPhys64(hpa) }
func (m eptPeekMem) WritePhys64(uint64, uint64) bool      { return true }

// vmxEnterTranslation makes the guest's translation context current at
// VM entry (after the guest state is loaded): without "enable VPID" the
// mappings of VPID 0000H are invalidated first (SDM Vol. 3C 29.4.3.1);
// the context is the (VPID, EP4TA) pair, EPT on under "enable EPT".
// vmxEnterPDPTEs follows once the derived state is recomputed.
func (c *CPU) vmxEnterTranslation() {
	t := c.vmx.Translation()
	id := ctxID{vpid: t.VPID}
	if t.EPT {
		id.ept = ept.Pointer(t.EPTP).Root()
	}
	if t.VPID == 0 {
		c.flushVPID0(id, t.APICAccess)
	}
	x := &c.tlb.ctx.ept
	x.on, x.eptp, x.vpid, x.caps = t.EPT, t.EPTP, t.VPID, c.vmx.Caps().EPT()
	x.mbec, x.pml, x.ve = t.MBEC, t.PML, t.VE
	c.switchContext(id)
}

// vmxEnterPDPTEs loads the PDPTEs of a PAE guest at VM entry: from the
// guest-state area under EPT (27.3.2.4), else from memory at guest CR3
// (checked by the guest-state checks, 27.3.1.6).
func (c *CPU) vmxEnterPDPTEs(s *arch.State) {
	if s.CR0&arch.CR0PG != 0 && s.CR4&arch.CR4PAE != 0 && s.EFER&arch.EFERLMA == 0 {
		if p, ok := c.vmx.GuestPDPTEs(); ok {
			c.pdpte = p
		} else {
			c.loadPDPTEs(s.CR0, s.CR3, s.CR4)
			c.faultPending = false
		}
	}
}

// vmxExitTranslation returns to the host's translation context at a VM
// exit (or a VM-entry failure after the guest context was made current):
// the PDPTEs of a PAE guest under EPT are saved first (28.3.4); without
// VPIDs the mappings of VPID 0000H are invalidated (29.4.3.1).
func (c *CPU) vmxExitTranslation() {
	x := &c.tlb.ctx.ept
	if x.on {
		c.vmx.SaveGuestPDPTEs(c.pdpte)
	}
	vpid := x.vpid
	x.on, x.eptp, x.vpid = false, 0, 0
	x.mbec, x.pml, x.ve = false, false, false
	if vpid == 0 {
		c.flushVPID0(ctxID{}, false)
	}
	c.switchContext(ctxID{})
}

// flushVPID0 drops the entries of every context of VPID 0000H (the host
// and guests without VPIDs, with or without EPT) at a VM entry or exit
// into context next, whose state is loaded (apicAccess: the guest
// entered virtualizes APIC accesses): by revalidation where it applies
// (tlbreval.go), else by dropping them.
func (c *CPU) flushVPID0(next ctxID, apicAccess bool) {
	if c.revalidateVPID0(next, apicAccess) {
		return
	}
	x := &c.tlb.ctx
	others := false
	for i := range x.ids {
		others = others || x.live[i] && x.ids[i].vpid != 0
	}
	if !others {
		// Every context is VPID 0000H's (no guest uses VPIDs): clearing
		// the arrays is cheaper than testing each entry's slot.
		c.tlb.flushAll()
		return
	}
	for i := range x.ids {
		if x.live[i] && x.ids[i].vpid == 0 {
			c.tlb.flushSlot(uint8(i))
		}
	}
	// The block lookup follows the slots' invalidation counts: VM entry
	// and exit enter the new code context after this (stateChanged).
}

// invept: INVEPT r64/r32, m128 (66 0F 38 80 /r); invvpid: INVVPID
// r64/r32, m128 (66 0F 38 81 /r) (SDM Vol. 3C 31.3).
func invept(c *CPU, in *Inst)  { c.invEPTVPID(in, true) }
func invvpid(c *CPU, in *Inst) { c.invEPTVPID(in, false) }

// invEPTVPID runs INVEPT or INVVPID in the order of its "Operation"
// section: #UD without the instruction, the VMX instruction checks (#UD,
// the VM exit of non-root operation, #GP(0) at CPL > 0), the type
// (VMfail 28 when not supported), the 128-bit descriptor (the core's
// faults), its own VMfail(28) rules (vmx/ept.go), then the invalidation.
func (c *CPU) invEPTVPID(in *Inst, isEPT bool) {
	insn := vmx.InsnINVVPID
	if isEPT {
		insn = vmx.InsnINVEPT
	}
	inv := &c.tlb.ctx.ept.inv
	*inv = InvOperands{}
	if c.vmx == nil {
		c.raise(faultNoVMX)
		return
	}
	if f := c.vmx.Caps().InvUD(isEPT); f != nil {
		c.raise(*f)
		return
	}
	if !c.vmxCheck(in, insn) {
		return
	}
	typ := c.GPR[in.reg&15]
	if c.codeMode != mode64 {
		typ = uint64(uint32(typ))
	}
	inv.Type, inv.HasType = typ, true
	var o vmx.Outcome
	var bad bool
	if isEPT {
		o, bad = c.vmx.INVEPTType(typ)
	} else {
		o, bad = c.vmx.INVVPIDType(typ)
	}
	if bad {
		c.vmxDone(o)
		return
	}
	addr := c.ea(in)
	lo, ok := rd[uint64](c, in.seg, addr)
	if !ok {
		return
	}
	hi, ok := rd[uint64](c, in.seg, (addr+8)&in.amask)
	if !ok {
		return
	}
	inv.Desc, inv.HasDesc = [2]uint64{lo, hi}, true
	if isEPT {
		var eptp uint64
		var all bool
		o, eptp, all = c.vmx.INVEPT(typ, [2]uint64{lo, hi})
		if o.Kind == vmx.Succeed {
			c.invalidateEPT(ept.Pointer(eptp).Root(), all)
		}
	} else {
		o = c.vmx.INVVPID(typ, [2]uint64{lo, hi})
		if o.Kind == vmx.Succeed {
			c.invalidateVPID(typ, uint16(lo), hi)
		}
	}
	c.vmxDone(o)
}

// invalidateEPT drops the combined mappings of one EP4TA, every VPID
// (single-context INVEPT), or of every EP4TA (all-context) (SDM Vol. 3C
// 29.4.3.1). Contexts without EPT hold no mappings derived from EPT.
func (c *CPU) invalidateEPT(root uint64, all bool) {
	x := &c.tlb.ctx
	for i := range x.ids {
		if x.live[i] && x.ids[i].ept != 0 && (all || x.ids[i].ept == root) {
			c.tlb.flushSlot(uint8(i))
		}
	}
	c.codeCtxChanged()
}

// invalidateVPID is INVVPID's invalidation (SDM Vol. 3C 31.3 INVVPID,
// 29.4.3.1): one linear address of a VPID (type 0), every mapping of a
// VPID (1), of every VPID but 0000H (2), of a VPID but its global
// translations (3), whatever the EP4TA.
func (c *CPU) invalidateVPID(typ uint64, vpid uint16, lin uint64) {
	x := &c.tlb.ctx
	for i := range x.ids {
		if !x.live[i] {
			continue
		}
		id := x.ids[i]
		switch {
		case typ == ept.INVVPIDAddr && id.vpid == vpid:
			c.tlb.flushPageSlot(lin, uint8(i))
		case typ == ept.INVVPIDSingle && id.vpid == vpid, typ == ept.INVVPIDAll && id.vpid != 0:
			c.tlb.flushSlot(uint8(i))
		case typ == ept.INVVPIDRetainG && id.vpid == vpid:
			c.tlb.flushNonGlobalSlot(uint8(i))
		}
	}
	c.codeCtxChanged()
}

// ExplainEPT explains the EPT translation of a guest-physical address in
// the current context, step by step, without side effects (for the
// debugger and the page-walk explainer); ok is false when the CPU is not
// running a guest under EPT.
func (c *CPU) ExplainEPT(gpa uint64, a ept.Access) (steps []ept.Step, r ept.Result, ok bool) {
	x := &c.tlb.ctx.ept
	if !x.on || !c.inGuest() {
		return nil, ept.Result{}, false
	}
	steps, r = ept.ExplainCtl(eptPeekMem{c}, x.caps, ept.Controls{MBEC: x.mbec}, x.eptp, gpa, a)
	return steps, r, true
}

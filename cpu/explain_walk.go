package cpu

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/mmu"
)

// The page-walk explainer (issue 15): a guest-linear address walked step
// by step, two-dimensionally under EPT — the guest's CR3, each guest
// paging-structure entry at its guest-physical address, itself translated
// through EPT (each EPT entry read), then the final guest-physical address
// through EPT to host-physical — with the permissions, the memory type,
// and where and why the access would fail. It reuses the walks the core
// runs (mmu.Explain is mmu.Walk with the entries recorded, ept.Explain is
// ept.Walk with them recorded) and has no side effects: no accessed or
// dirty flag is set, no TLB entry filled, no VM exit taken, no MMIO read.

// WalkContext is the translation state an address is explained in.
type WalkContext struct {
	// Regs is the paging state (CR0, CR3, CR4, EFER, PDPTEs...).
	Regs mmu.Regs
	// EPT: guest-physical addresses go through the EPT of EPTP.
	EPT  bool
	EPTP uint64
	// Caps are the processor's EPT capabilities (IA32_VMX_EPT_VPID_CAP).
	Caps ept.Caps
	// Controls are the VM-execution controls that change the EPT walk
	// (mode-based execute control, a full page-modification log); VE is
	// "EPT-violation #VE" (a convertible violation may become a #VE).
	Controls ept.Controls
	VE       bool
	// PAT is IA32_PAT for the memory type, when HasPAT.
	PAT    uint64
	HasPAT bool
	// CPL is the current privilege level of that state (an access made
	// at CPL 3 is a user-mode access, SDM Vol. 3A 4.6).
	CPL int
	// Where says whose state this is ("CPU 0, VMX non-root" ...).
	Where string
}

// CurrentWalkContext is the translation state the CPU runs with now: the
// guest's inside VMX non-root operation (under its EPT), else its own.
func (c *CPU) CurrentWalkContext() WalkContext {
	w := WalkContext{Regs: c.pagingRegs(), PAT: c.PAT, HasPAT: true, CPL: int(c.cpl)}
	w.Where = fmt.Sprintf("CPU %d", c.ID)
	x := &c.tlb.ctx.ept
	if c.inGuest() {
		w.Where += ", VMX non-root"
		if x.on {
			w.EPT, w.EPTP, w.Caps = true, x.eptp, x.caps
			w.Controls, w.VE = ept.Controls{MBEC: x.mbec}, x.ve
			if x.pml {
				w.Controls.LogFull = c.vmx.EPTControls().LogFull
			}
		}
	}
	return w
}

// Guest-state fields the guest's context is read from (SDM Vol. 3D
// Appendix B), and the controls that say which exist.
const (
	encGuestCR0    = 0x6800
	encGuestCR3    = 0x6802
	encGuestCR4    = 0x6804
	encGuestEFER   = 0x2806
	encGuestPAT    = 0x2804
	encGuestPDPTE0 = 0x280A
	encGuestSSAR   = 0x4818
	encEntryCtls   = 0x4012
	encExitCtls    = 0x400C
)

// GuestWalkContext is the translation state of the guest of the current
// VMCS, read from its guest-state area — what a debugger stopped at a VM
// exit (in the host) explains the exit's guest-linear address in. Guest
// IA32_EFER is the field when the VM-exit controls save it (bit 20),
// else the CPU's with LMA and LME from the "IA-32e mode guest" entry
// control (which a VM exit sets from the guest's LMA, SDM Vol. 3C
// 28.2); the PDPTEs of a PAE guest come from the fields under EPT
// (28.3.4), else from memory at guest CR3 (4.4.1). ok is false without a
// current VMCS.
func (c *CPU) GuestWalkContext() (w WalkContext, ok bool) {
	v := c.vmx
	if v == nil || !v.InVMX() || v.CurrentVMCS() == ^uint64(0) {
		return w, false
	}
	r := mmu.Regs{
		CR0: v.CurField(encGuestCR0), CR3: v.CurField(encGuestCR3), CR4: v.CurField(encGuestCR4),
		EFER: c.EFER, MaxPhysAddr: c.MaxPhysAddr, No1GPages: !c.feat.page1g,
	}
	if v.CurField(encExitCtls)&(1<<20) != 0 {
		r.EFER = v.CurField(encGuestEFER)
	} else if v.CurField(encEntryCtls)&(1<<9) != 0 {
		r.EFER |= arch.EFERLMA | arch.EFERLME
	} else {
		r.EFER &^= arch.EFERLMA | arch.EFERLME
	}
	w = WalkContext{Regs: r, Where: fmt.Sprintf("CPU %d, the guest of VMCS %#x", c.ID, v.CurrentVMCS()),
		CPL: int(v.CurField(encGuestSSAR) >> 5 & 3)} // SS.DPL is the CPL (27.3.1.2)
	if v.CurField(encExitCtls)&(1<<18) != 0 {
		w.PAT, w.HasPAT = v.CurField(encGuestPAT), true
	}
	t := v.Translation()
	if t.EPT {
		w.EPT, w.EPTP, w.Caps = true, t.EPTP, v.Caps().EPT()
		w.Controls, w.VE = v.EPTControls(), v.VEOn()
	}
	if r.Mode() == mmu.ModePAE {
		if p, ok := v.GuestPDPTEs(); ok {
			w.Regs.PDPTE = p
		} else {
			em := &explainMem{c: c, ctx: &w}
			for i := range w.Regs.PDPTE {
				w.Regs.PDPTE[i], _ = em.ReadPhys64(r.CR3&0xFFFFFFE0 + uint64(i)*8)
			}
		}
	}
	return w, true
}

// EPTWalk is one guest-physical address through EPT.
type EPTWalk struct {
	GPA    uint64
	Access ept.Access
	Steps  []ept.Step
	Result ept.Result
	// Qualification is the exit qualification an EPT violation would
	// report (Table 28-7, with the advanced information bits 9-11 as the
	// core sets them).
	Qualification uint64
	// VE: the violation is convertible and "EPT-violation #VE" is on.
	VE bool
}

// GuestStep is a guest paging-structure entry with the EPT walk of its
// guest-physical address (nil without EPT and for the PAE PDPTE
// registers).
type GuestStep struct {
	mmu.Step
	EPT *EPTWalk
}

// WalkExplanation is a guest-linear address explained.
type WalkExplanation struct {
	Ctx    WalkContext
	Lin    uint64
	Access mmu.Access
	Guest  mmu.Explanation
	Steps  []GuestStep
	// Refused is the EPT walk that refused an access to a guest
	// paging-structure entry (reading it, or setting its A/D flags), or
	// NoRAM names the physical address of an entry no RAM backs.
	Refused *EPTWalk
	NoRAM   string
	// GPA is the guest-physical address (when the guest walk succeeded),
	// Final its EPT walk, HPA the host-physical address (when OK).
	GPA   uint64
	Final *EPTWalk
	HPA   uint64
	OK    bool
}

// explainMem is the guest walk's physical memory for the explainer: RAM
// only, through EPT when the context has it (recording each EPT walk),
// with no side effects.
type explainMem struct {
	c     *CPU
	ctx   *WalkContext
	walks []*EPTWalk // one per read, in order
	noRAM string
	adv   uint64
}

func (m *explainMem) eptWalk(gpa uint64, a ept.Access) *EPTWalk {
	steps, r := ept.ExplainCtl(eptPeekMem{m.c}, m.ctx.Caps, m.ctx.Controls, m.ctx.EPTP, gpa, a)
	w := &EPTWalk{GPA: gpa, Access: a, Steps: steps, Result: r, VE: m.ctx.VE && r.Convertible()}
	if r.Kind == ept.Violation {
		w.Qualification = eptExitQualification(m.ctx.Caps, r.Qualification, m.ctx.Regs.CR0&arch.CR0PG != 0, m.adv)
	}
	return w
}

func (m *explainMem) ReadPhys64(pa uint64) (uint64, bool) {
	hpa := pa
	if m.ctx.EPT {
		w := m.eptWalk(pa, ept.Access{Paging: true, LinearValid: true})
		m.walks = append(m.walks, w)
		if w.Result.Kind != ept.OK {
			return 0, false
		}
		hpa = w.Result.HPA
	}
	pg := m.c.hostPage(hpa >> 12)
	if pg == nil {
		m.noRAM = fmt.Sprintf("no RAM at host-physical %#x", hpa)
		return 0, false
	}
	return binary.LittleEndian.Uint64(pg[hpa&0xFF8:]) >> (hpa & 7 * 8), true
}

func (m *explainMem) ReadPhys32(pa uint64) (uint32, bool) {
	v, ok := m.ReadPhys64(pa)
	return uint32(v), ok
}

func (m *explainMem) WritePhys64(uint64, uint64) bool { return true }
func (m *explainMem) WritePhys32(uint64, uint32) bool { return true }

// ExplainWalk explains the translation of lin for acc in ctx, without
// side effects.
func (c *CPU) ExplainWalk(ctx WalkContext, lin uint64, acc mmu.Access) *WalkExplanation {
	m := &explainMem{c: c, ctx: &ctx}
	w := &WalkExplanation{Ctx: ctx, Lin: lin, Access: acc}
	w.Guest = mmu.Explain(m, &ctx.Regs, lin, acc)
	i := 0
	for _, s := range w.Guest.Steps {
		g := GuestStep{Step: s}
		if !s.Register && ctx.EPT && i < len(m.walks) {
			g.EPT = m.walks[i]
			i++
		}
		w.Steps = append(w.Steps, g)
	}
	if w.Guest.Refused {
		if ctx.EPT && i < len(m.walks) && m.walks[i].Result.Kind != ept.OK {
			w.Refused = m.walks[i]
		} else {
			w.NoRAM = m.noRAM
		}
		return w
	}
	if w.Guest.Fault != nil {
		return w
	}
	tr := w.Guest.Translation
	m.adv = eptAdvInfo(&tr)
	if ctx.EPT && ctx.Regs.Mode() != mmu.ModeNone {
		// The processor sets the accessed flags of the entries used, and
		// the dirty flag of the leaf for a write (SDM Vol. 3A 4.8): each
		// such update is a write to a guest paging-structure entry, which
		// EPT must allow (Vol. 3C 29.3.3.2).
		for _, g := range w.Steps {
			if g.Register || g.EPT == nil {
				continue
			}
			need := uint64(1 << 5)
			if g.Page && acc.Write {
				need |= 1 << 6
			}
			if g.Entry&need == need {
				continue
			}
			if ew := m.eptWalk(g.Addr, ept.Access{Paging: true, Write: true, LinearValid: true}); ew.Result.Kind != ept.OK {
				w.Refused = ew
				return w
			}
		}
	}
	w.GPA = w.Guest.PhysAddr()
	if !ctx.EPT {
		w.HPA, w.OK = w.GPA, true
		return w
	}
	// Under mode-based execute control a fetch needs bit 10 of the EPT
	// entries for a user-mode linear address, bit 2 otherwise (29.3.3.2).
	w.Final = m.eptWalk(w.GPA, ept.Access{Write: acc.Write, Fetch: acc.Fetch, LinearValid: true,
		User: acc.Fetch && (ctx.Regs.Mode() == mmu.ModeNone || tr.User)})
	if w.Final.Result.Kind == ept.OK {
		w.HPA, w.OK = w.Final.Result.HPA, true
	}
	return w
}

// memTypeName names a memory type: EPT's (package ept), or 7, UC- in
// the PAT (SDM Vol. 3A Table 13-10).
func memTypeName(t uint8) string {
	if t == 7 {
		return "UC-"
	}
	return ept.MemTypeName(t)
}

func eptpString(eptp uint64) string {
	p := ept.Pointer(eptp)
	ad := "off"
	if p.AD() {
		ad = "on"
	}
	return fmt.Sprintf("EPTP %#x: %d-level, PML%d at %#x, paging structures %s, A/D flags %s", eptp, p.Levels(), p.Levels(), p.Root(), memTypeName(uint8(eptp&7)), ad)
}

// String is the explanation as text, one step a line.
func (w *WalkExplanation) String() string {
	var b strings.Builder
	r := &w.Ctx.Regs
	fmt.Fprintf(&b, "walk of linear address %#x for a %s (%s)\n", w.Lin, w.Access, w.Ctx.Where)
	fmt.Fprintf(&b, "paging: %s (CR0 %#x, CR3 %#x, CR4 %#x, EFER %#x)\n", r.Mode(), r.CR0, r.CR3, r.CR4, r.EFER)
	space := "physical"
	if w.Ctx.EPT {
		space = "guest-physical"
		fmt.Fprintf(&b, "EPT: %s\n", eptpString(w.Ctx.EPTP))
	}
	for _, g := range w.Steps {
		if g.Register {
			fmt.Fprintf(&b, "%s\n", g.Step)
			continue
		}
		fmt.Fprintf(&b, "%s\n", strings.Replace(g.Step.String(), " at ", " at "+space+" ", 1))
		if g.EPT != nil {
			writeEPT(&b, g.EPT, "  ")
		}
	}
	fail := func(s string) { fmt.Fprintf(&b, "fails: %s\n", s) }
	switch {
	case w.Refused != nil:
		if len(w.Refused.Steps) > 0 && len(w.Steps) > 0 && w.Refused.GPA == w.Steps[len(w.Steps)-1].Addr && w.Refused.Access.Write {
			fmt.Fprintf(&b, "setting the accessed/dirty flags of the entry at guest-physical %#x:\n", w.Refused.GPA)
		} else {
			fmt.Fprintf(&b, "next entry at guest-physical %#x:\n", w.Refused.GPA)
		}
		writeEPT(&b, w.Refused, "  ")
		fail(eptFailure(w.Refused))
	case w.NoRAM != "":
		fail(w.NoRAM + " (the walk reads no MMIO)")
	case w.Guest.Fault != nil:
		fail(w.Guest.Fault.Error())
	default:
		t := &w.Guest.Translation
		if r.Mode() == mmu.ModeNone {
			fmt.Fprintf(&b, "paging off: %s address %#x\n", space, w.GPA)
		} else {
			fmt.Fprintf(&b, "linear %#x -> %s %#x (%s page; %s; PAT index %d%s)\n", w.Lin, space, w.GPA, sizeName(t.PageSize), t.Rights(), t.PATIndex, patType(&w.Ctx, t.PATIndex))
		}
		if w.Final != nil {
			writeEPT(&b, w.Final, "  ")
			if w.Final.Result.Kind != ept.OK {
				fail(eptFailure(w.Final))
				break
			}
			res := &w.Final.Result
			fmt.Fprintf(&b, "guest-physical %#x -> host-physical %#x (%s EPT page; %s; EPT memory type %s, ignore PAT %d)\n",
				w.GPA, w.HPA, sizeName(res.PageSize), eptPerm(res.Perm), memTypeName(res.MemType), b2i(res.IgnorePAT))
		}
		fmt.Fprintf(&b, "result: host-physical %#x\n", w.HPA)
	}
	return b.String()
}

func writeEPT(b *strings.Builder, e *EPTWalk, indent string) {
	for _, s := range e.Steps {
		fmt.Fprintf(b, "%sEPT %s\n", indent, s)
	}
	if e.Result.Kind == ept.OK {
		fmt.Fprintf(b, "%s-> host-physical %#x\n", indent, e.Result.HPA)
	}
}

func eptFailure(e *EPTWalk) string {
	switch e.Result.Kind {
	case ept.Misconfigured:
		return fmt.Sprintf("EPT misconfiguration (VM exit, basic reason 49), guest-physical %#x: %s", e.GPA, e.Result.Why)
	case ept.LogFull:
		return fmt.Sprintf("page-modification log full (VM exit, basic reason 62), guest-physical %#x: %s", e.GPA, e.Result.Why)
	}
	ve := ""
	if e.VE {
		ve = " — convertible: a #VE (vector 20) instead if CR0.PE = 1 and the virtualization-exception information area's offset 4 is 0 (SDM Vol. 3C 26.5.6.1)"
	}
	return fmt.Sprintf("EPT violation (VM exit, basic reason 48), guest-physical %#x, exit qualification %#x (%s): %s%s",
		e.GPA, e.Qualification, ept.QualificationString(e.Qualification), e.Result.Why, ve)
}

func patType(ctx *WalkContext, idx uint8) string {
	if !ctx.HasPAT {
		return ""
	}
	return ": " + memTypeName(uint8(ctx.PAT>>(8*idx)&7))
}

func sizeName(n uint64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%d GiB", n>>30)
	case n >= 1<<20:
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d KiB", n>>10)
}

func eptPerm(p uint8) string {
	var s []string
	for i, n := range []string{"read", "write", "execute", "user-execute"} {
		if p>>i&1 != 0 {
			s = append(s, n)
		}
	}
	if len(s) == 0 {
		return "no access"
	}
	return strings.Join(s, "+")
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

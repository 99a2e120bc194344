package vmx

import (
	"encoding/binary"
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/msr"
)

// EPT and VPID in VMX operation: the VM-entry checks of "enable EPT" and
// "enable VPID" (SDM Vol. 3C 27.2.1.1), the guest PDPTEs under EPT
// (27.3.1.6, 27.3.2.4, 28.3.4), the translation context the core runs a
// guest in, and INVEPT and INVVPID (31.3). The EPT walk itself is package
// ept's; the TLB the invalidations act on is the core's.

// Field encodings (SDM Vol. 3D Appendix B).
const (
	encVPID        = 0x0000
	encEPTP        = 0x201A
	encGuestPhys   = 0x2400
	encGuestPDPTE0 = 0x280A
	proc2EPT       = 1 << 1
	proc2VPID      = 1 << 5
	ExitEPTViolate = 48 // EPT violation (Appendix C)
	ExitEPTMisconf = 49 // EPT misconfiguration
	ExitINVEPT     = 50
	ExitINVVPID    = 53
	sdmEPTPChecks  = "Vol. 3C 27.2.1.1"
	sdmEPTPEntry   = "Vol. 3C 25.6.11, 27.2.1.1" // the EPTP's fields and the entry check
	sdmINVEPTPage  = "INVEPT"
	sdmINVVPIDPage = "INVVPID"
	invalidOperand = ErrInvalidINVEPTOperand
)

// EPT returns the processor's EPT and VPID capabilities
// (IA32_VMX_EPT_VPID_CAP as the guest reads it; 0 when it does not exist).
func (c *Caps) EPT() ept.Caps {
	return ept.Caps{MSR: c.msrs.get(msr.VMXEPTVPIDCap), MaxPhysAddr: c.MaxPhysAddr}
}

// secondary returns the secondary processor-based controls in force: the
// field when "activate secondary controls" is 1, else 0 (SDM Vol. 3C
// 25.6.2).
func (v *CPU) secondary() uint64 {
	if v.field(encProcCtls)&procActivateSecondary == 0 {
		return 0
	}
	return v.field(encProcCtls2)
}

// checkEPTControls is the part of SDM Vol. 3C 27.2.1.1 about VPID and EPT,
// in its order: "enable VPID" needs a VPID other than 0000H, "enable EPT"
// a valid EPTP (25.6.11). Failures are VMfailValid(7).
func (v *CPU) checkEPTControls(insn Insn) (Outcome, bool) {
	sec := v.secondary()
	if sec&proc2VPID != 0 {
		if vpid := v.field(encVPID); vpid == 0 {
			return v.entryFail(insn, ErrEntryInvalidControl, encVPID, vpid,
				"with \"enable VPID\" (secondary control 5) the VPID must not be 0000H", sdmEPTPChecks), true
		}
	}
	if sec&proc2EPT != 0 {
		eptp := v.field(encEPTP)
		if why := v.caps.EPT().CheckEPTP(eptp); why != "" {
			return v.entryFail(insn, ErrEntryInvalidControl, encEPTP, eptp,
				"with \"enable EPT\" (secondary control 1): "+why, sdmEPTPEntry), true
		}
	}
	return Outcome{}, false
}

// Translation is the translation context a guest runs in: the EPTP under
// "enable EPT", the VPID under "enable VPID" (SDM Vol. 3C 29.4.1).
type Translation struct {
	EPT  bool
	EPTP uint64
	VPID uint16 // 0 without "enable VPID"
	// APICAccess is "virtualize APIC accesses" (SDM Vol. 3C 25.6.2,
	// 30.4): the guest's accesses to the APIC-access page take no TLB
	// entry.
	APICAccess bool
	// MBEC, PML and VE are "mode-based execute control for EPT", "enable
	// PML" and "EPT-violation #VE" (secondary controls 22, 17, 18: SDM
	// Vol. 3C 25.6.2), each only with "enable EPT": EPTControls().MBEC,
	// PMLOn() and VEOn() under EPT, read with the other controls.
	MBEC, PML, VE bool
}

// Translation returns the current VMCS's translation context (read at VM
// entry; the fields cannot change while the guest runs: VMWRITE exits).
func (v *CPU) Translation() Translation {
	// The fields by their slots (Caps.coreSlots): Translation runs at
	// every VM entry, outside the check groups' recording.
	f := fieldVals(v.cur.vals)
	var sec uint64
	if f.at(v.caps.coreSlots[coreProcCtls])&procActivateSecondary != 0 { // as secondary()
		sec = f.at(v.caps.coreSlots[coreProcCtls2])
	}
	var t Translation
	if sec&proc2EPT != 0 {
		t.EPT, t.EPTP = true, f.at(v.caps.coreSlots[coreEPTP])
		t.MBEC, t.PML, t.VE = sec&proc2MBEC != 0, sec&proc2PML != 0, sec&proc2EPTVE != 0
	}
	if sec&proc2VPID != 0 {
		t.VPID = uint16(f.at(v.caps.coreSlots[coreVPID]))
	}
	t.APICAccess = sec&Proc2VirtualizeAPICAccesses != 0
	return t
}

// pdpteFromFields reports whether the guest's PDPTEs come from the
// guest-state area rather than from memory at guest CR3: with "enable
// EPT" and PAE paging outside IA-32e mode (SDM Vol. 3C 27.3.1.6,
// 27.3.2.4).
func (v *CPU) pdpteFromFields() bool {
	cr0, cr4 := v.field(encGuestCR0), v.field(encGuestCR4)
	return v.secondary()&proc2EPT != 0 && cr0&arch.CR0PG != 0 && cr4&arch.CR4PAE != 0 &&
		v.field(encEntryCtls)&entryIA32eGuest == 0
}

// guestPDPTEs returns the guest PDPTEs the guest-state checks look at
// (27.3.1.6): the PDPTE fields under EPT, else the four entries at guest
// CR3[31:5] in memory. ok is false when memory did not answer.
func (v *CPU) guestPDPTEs(mem Phys) (p [4]uint64, field bool, ok bool) {
	if v.pdpteFromFields() {
		for i := range p {
			p[i] = v.field(encGuestPDPTE0 + uint32(2*i))
		}
		return p, true, true
	}
	base := v.field(encGuestCR3) &^ 31
	for i := range p {
		var b [8]byte
		if !mem.ReadPhys(base+8*uint64(i), b[:]) {
			return p, false, false
		}
		p[i] = binary.LittleEndian.Uint64(b[:])
	}
	return p, false, true
}

// GuestPDPTEs returns the PDPTEs VM entry loads from the guest-state area
// under EPT (27.3.2.4); ok is false when they come from memory instead.
func (v *CPU) GuestPDPTEs() (p [4]uint64, ok bool) {
	if !v.pdpteFromFields() {
		return p, false
	}
	for i := range p {
		p[i] = v.field(encGuestPDPTE0 + uint32(2*i))
	}
	return p, true
}

// SaveGuestPDPTEs stores the guest's PDPTE registers in the guest-state
// area on a VM exit from a PAE guest with "enable EPT" (SDM Vol. 3C
// 28.3.4); otherwise the fields are left alone. It reads the guest CR0,
// CR4 and "IA-32e mode guest" already saved (28.3.1, 28.3).
func (v *CPU) SaveGuestPDPTEs(p [4]uint64) {
	if !v.pdpteFromFields() {
		return
	}
	for i := range p {
		v.setField(encGuestPDPTE0+uint32(2*i), p[i])
	}
}

// SetGuestPhysical writes the guest-physical-address field of the current
// VMCS, for the VM exit that follows (an EPT violation or misconfiguration,
// 28.2.1).
func (v *CPU) SetGuestPhysical(gpa uint64) { v.setField(encGuestPhys, gpa) }

// InvUD is the #UD of INVEPT (ept) or INVVPID on a processor without the
// instruction, which comes before any other check (SDM Vol. 3C 31.3
// INVEPT/INVVPID, "Protected Mode Exceptions": the secondary controls do
// not allow "enable EPT"/"enable VPID", or IA32_VMX_EPT_VPID_CAP bit 20/32
// is 0). nil when the instruction exists.
func (c *Caps) InvUD(isEPT bool) *arch.Fault {
	ctl, capBit, name, what := proc2(1), uint64(ept.CapINVEPT), "INVEPT", "EPT (secondary control 1) or INVEPT (IA32_VMX_EPT_VPID_CAP bit 20)"
	if !isEPT {
		ctl, capBit, name, what = proc2(5), ept.CapINVVPID, "INVVPID", "VPID (secondary control 5) or INVVPID (IA32_VMX_EPT_VPID_CAP bit 32)"
	}
	if c.allowed(ctl) && c.EPT().Has(capBit) {
		return nil
	}
	f := arch.UDFault(name+": the processor does not support "+what, sdmRef+name)
	return &f
}

// INVEPTType checks INVEPT's type (the register operand) after Check and
// before the core reads the 128-bit descriptor: an unsupported type is
// VMfail(28) (SDM Vol. 3C 31.3 INVEPT).
func (v *CPU) INVEPTType(typ uint64) (Outcome, bool) {
	if !v.caps.EPT().INVEPTType(typ) {
		return v.fail(InsnINVEPT, invalidOperand, fmt.Sprintf("INVEPT type %d is not supported (IA32_VMX_EPT_VPID_CAP bits 25 and 26 give the single-context and all-context types) (%s%s)", typ, sdmInsn, sdmINVEPTPage)), true
	}
	return Outcome{}, false
}

// INVEPT completes INVEPT with a supported type and its descriptor: a
// single-context invalidation needs an EPTP that VM entry would accept
// (27.2.1.1), else VMfail(28). eptp is the EPTP to invalidate
// (single-context), all is the all-context type.
func (v *CPU) INVEPT(typ uint64, desc [2]uint64) (o Outcome, eptp uint64, all bool) {
	if typ == ept.INVEPTAll {
		return Outcome{Insn: InsnINVEPT}, 0, true
	}
	if why := v.caps.EPT().CheckEPTP(desc[0]); why != "" {
		return v.fail(InsnINVEPT, invalidOperand, fmt.Sprintf("single-context INVEPT with an EPTP (%#x) that VM entry would reject: %s (%s%s)", desc[0], why, sdmInsn, sdmINVEPTPage)), 0, false
	}
	return Outcome{Insn: InsnINVEPT}, desc[0], false
}

// INVVPIDType checks INVVPID's type (the register operand) before the
// descriptor is read: an unsupported one is VMfail(28) (31.3 INVVPID).
func (v *CPU) INVVPIDType(typ uint64) (Outcome, bool) {
	if !v.caps.EPT().INVVPIDType(typ) {
		return v.fail(InsnINVVPID, invalidOperand, fmt.Sprintf("INVVPID type %d is not supported (IA32_VMX_EPT_VPID_CAP bits 43:40 give types 0 to 3) (%s%s)", typ, sdmInsn, sdmINVVPIDPage)), true
	}
	return Outcome{}, false
}

// INVVPID completes INVVPID with a supported type and its descriptor
// (VPID in bits 15:0, bits 63:16 reserved, the linear address in bits
// 127:64), in the order of 31.3 INVVPID's "Operation": reserved bits,
// then per type a VPID of 0000H (types 0, 1, 3) or a non-canonical
// address (type 0) are VMfail(28).
func (v *CPU) INVVPID(typ uint64, desc [2]uint64) Outcome {
	fail := func(rule string) Outcome {
		return v.fail(InsnINVVPID, invalidOperand, rule+" ("+sdmInsn+sdmINVVPIDPage+")")
	}
	if desc[0]>>16 != 0 {
		return fail(fmt.Sprintf("INVVPID descriptor bits 63:16 must be 0 (%#x)", desc[0]))
	}
	vpid := desc[0] & 0xFFFF
	switch typ {
	case ept.INVVPIDAddr:
		if vpid == 0 {
			return fail("individual-address INVVPID with VPID 0000H")
		}
		if !v.canonical(desc[1]) {
			return fail(fmt.Sprintf("individual-address INVVPID with a non-canonical linear address %#x", desc[1]))
		}
	case ept.INVVPIDSingle, ept.INVVPIDRetainG:
		if vpid == 0 {
			return fail(fmt.Sprintf("INVVPID type %d with VPID 0000H", typ))
		}
	}
	return Outcome{Insn: InsnINVVPID}
}

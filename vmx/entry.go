package vmx

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// VM entry, as far as vmxemu goes today: VMLAUNCH and VMRESUME run the
// basic checks of their "Operation" sections (SDM Vol. 3C 31.3) and the
// checks on the VMX controls and the host-state area (Vol. 3C 27.2), each
// failure with the field, its value and the rule. A VMCS that passes them
// would next have its guest state checked and loaded (27.3): vmxemu does
// not run guests yet, so that point raises #UD with the reason
// (docs/VMX.md). The capability MSRs the guest reads allow no optional
// control until then, so a control check names the masked control.

// Field encodings the checks read (SDM Vol. 3D Appendix B).
const (
	encPinCtls       = 0x4000
	encProcCtls      = 0x4002
	encProcCtls2     = 0x401E
	encExitCtls      = 0x400C
	encEntryCtls     = 0x4012
	encCR3TargetCnt  = 0x400A
	encIOBitmapA     = 0x2000
	encIOBitmapB     = 0x2002
	encMSRBitmap     = 0x2004
	encExitMSRStCnt  = 0x400E
	encExitMSRStAddr = 0x2006
	encExitMSRLdCnt  = 0x4010
	encExitMSRLdAddr = 0x2008
	encEntryMSRLdCnt = 0x4014
	encEntryMSRLdAdr = 0x200A
	encEntryIntrInfo = 0x4016
	encEntryExcCode  = 0x4018
	encEntryInsnLen  = 0x401A

	encHostCR0        = 0x6C00
	encHostCR3        = 0x6C02
	encHostCR4        = 0x6C04
	encHostFSBase     = 0x6C06
	encHostGSBase     = 0x6C08
	encHostTRBase     = 0x6C0A
	encHostGDTRBase   = 0x6C0C
	encHostIDTRBase   = 0x6C0E
	encHostSysESP     = 0x6C10
	encHostSysEIP     = 0x6C12
	encHostRSP        = 0x6C14
	encHostSysCS      = 0x4C00
	encHostRIP        = 0x6C16
	encHostSelES      = 0x0C00
	encHostSelCS      = 0x0C02
	encHostSelSS      = 0x0C04
	encHostSelTR      = 0x0C0C
	encHostPAT        = 0x2C00
	encHostEFER       = 0x2C02
	encHostPerfGlobal = 0x2C04
)

// Control bits the checks name (SDM Vol. 3C 25.6, 25.7, 25.8).
const (
	procActivateSecondary  = 1 << 31
	procUseIOBitmaps       = 1 << 25
	procUseMSRBitmaps      = 1 << 28
	proc2UnrestrictedGuest = 1 << 7
	exitHostAddrSpace      = 1 << 9
	exitLoadPerfGlobal     = 1 << 12
	exitLoadPAT            = 1 << 19
	exitLoadEFER           = 1 << 21
	entryIA32eGuest        = 1 << 9
	entryLoadEFER          = 1 << 15
	exitSaveEFER           = 1 << 20
)

// eferDefined are the IA32_EFER bits that are not reserved (SCE, LME, LMA,
// NXE; SDM Vol. 4 Table 2-2): the host- and guest-state checks of a
// loaded IA32_EFER (27.2.2, 27.3.1.1) require the others to be 0.
const eferDefined = arch.EFERSCE | arch.EFERLME | arch.EFERLMA | arch.EFERNXE

// EntryCtx is what the basic VM-entry checks read beyond Ctx.
type EntryCtx struct {
	Ctx
	// MovSSBlocking: events are blocked by MOV SS (the instruction
	// follows MOV SS or POP SS).
	MovSSBlocking bool
}

// entryFail is a VMfailValid of VM entry with the field and rule.
func (v *CPU) entryFail(insn Insn, err InstrError, enc uint32, val uint64, rule, sdm string) Outcome {
	name := fmt.Sprintf("%#x", enc)
	if f, ok := FieldByEnc(enc); ok {
		name = fmt.Sprintf("%s (%#04x)", f.Name, enc)
	}
	o := v.fail(insn, err, fmt.Sprintf("%s = %#x: %s (SDM %s)", name, val, rule, sdm))
	o.Check = &GuestFailure{Field: enc, Value: val, Rule: rule, SDM: sdm}
	return o
}

// field reads a field of the current VMCS by its full encoding; a field
// the processor does not have reads as 0 (the checks only read fields
// whose controls exist).
func (v *CPU) field(enc uint32) uint64 {
	if s := v.caps.slotOf(enc); s >= 0 {
		if v.memo.rec.depth != 0 {
			v.memo.rec.note(s) // a check group is recording (fastentry.go)
		}
		return v.cur.vals[s]
	}
	return 0
}

// Enter is VMLAUNCH (launch) or VMRESUME after Check: the basic checks,
// then those on the controls and the host-state area. done is false when
// every check passed and the guest state would be loaded next.
func (v *CPU) Enter(launch bool, c *EntryCtx, mem Phys) (o Outcome, done bool) {
	if v.EnterTo(launch, c, mem, &o) {
		return o, true
	}
	if launch {
		return Outcome{Insn: InsnVMLAUNCH}, false
	}
	return Outcome{Insn: InsnVMRESUME}, false
}

// EnterTo is Enter with the outcome written to *o when a check decides
// one (done); when every check passes *o is left alone (the core's VM
// entry copies no Outcome: issue 18).
func (v *CPU) EnterTo(launch bool, c *EntryCtx, mem Phys, o *Outcome) (done bool) {
	insn := InsnVMRESUME
	if launch {
		insn = InsnVMLAUNCH
	}
	sdm := " (" + sdmInsn + "VMLAUNCH/VMRESUME)"
	if v.current == invalidPtr {
		*o = Outcome{Insn: insn, Kind: FailInvalid, Why: "there is no current VMCS (VMPTRLD one first)" + sdm}
		return true
	}
	if v.cur.isShadow() {
		// A shadow VMCS cannot be entered: VMfailInvalid with the
		// invalid current-VMCS pointer (SDM Vol. 3C 25.10, 27.1).
		*o = Outcome{Insn: insn, Kind: FailInvalid, Why: fmt.Sprintf("the current VMCS %#x is a shadow VMCS (bit 31 of its revision identifier): it cannot be used for VM entry", v.current) + sdm}
		return true
	}
	if c.MovSSBlocking {
		*o = v.fail(insn, ErrEntryMovSSBlocking, "events are blocked by MOV SS: the instruction follows MOV SS or POP SS"+sdm)
		return true
	}
	s := v.cur
	if launch && s.launched {
		*o = v.fail(insn, ErrVMLAUNCHNonClear, fmt.Sprintf("the launch state of VMCS %#x is \"launched\": VMCLEAR it before VMLAUNCH, or use VMRESUME", v.current)+sdm)
		return true
	}
	if !launch && !s.launched {
		*o = v.fail(insn, ErrVMRESUMENonLaunched, fmt.Sprintf("the launch state of VMCS %#x is \"clear\": VMLAUNCH it first", v.current)+sdm)
		return true
	}
	// The check groups run through their memos (fastentry.go): a group
	// that passed before with the same inputs is not run again.
	if v.controlsChecked(insn, mem, o) || v.hostChecked(insn, c, o) {
		return true
	}
	// 27.3: the guest-state checks; a failure is a VM-entry failure that
	// loads host state (28.8).
	if g := v.guestChecked(insn, mem); g != nil {
		*o = v.failEntry(insn, ExitInvalidGuestState, g)
		return true
	}
	return false
}

// ctlMSR returns the capability MSR that governs a control field: the
// TRUE_* one when IA32_VMX_BASIC[55] says it exists, else the legacy one
// (SDM Vol. 3D A.2).
func (v *CPU) ctlMSR(legacy, trueMSR uint32) (uint32, uint64) {
	if v.caps.msrs.get(msr.VMXBasic)>>55&1 != 0 {
		if x, ok := v.caps.msrs.lookup(trueMSR); ok {
			return trueMSR, x
		}
	}
	return legacy, v.caps.msrs.get(legacy)
}

// checkReserved checks a 32-bit control field against its capability MSR:
// every bit that must be 1 is 1 and every bit that must be 0 is 0 (SDM
// Vol. 3C 27.2.1.1-3, Vol. 3D A.3-A.5).
func (v *CPU) checkReserved(insn Insn, enc uint32, what string, capMSR uint32, capVal uint64) (Outcome, bool) {
	val := v.field(enc)
	must1, may1 := uint32(capVal), uint32(capVal>>32)
	if miss := must1 &^ uint32(val); miss != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, enc, val,
			fmt.Sprintf("%s bit %d must be 1 (%s allowed-0 settings %#x)", what, lowBit(miss), msr.Name(capMSR), must1),
			"Vol. 3C 27.2.1; Vol. 3D A.3"), true
	}
	if extra := uint32(val) &^ may1; extra != 0 {
		why := ""
		if v.caps.model != nil {
			if mv, ok := v.caps.model(capMSR); ok && uint32(mv>>32)>>lowBit(extra)&1 != 0 {
				why = " (the CPU model allows it, but vmxemu masks it: the control is not implemented yet)"
			}
		}
		return v.entryFail(insn, ErrEntryInvalidControl, enc, val,
			fmt.Sprintf("%s bit %d must be 0 (%s allowed-1 settings %#x)%s", what, lowBit(extra), msr.Name(capMSR), may1, why),
			"Vol. 3C 27.2.1; Vol. 3D A.3"), true
	}
	return Outcome{}, false
}

func lowBit(x uint32) int {
	for b := 0; b < 32; b++ {
		if x>>b&1 != 0 {
			return b
		}
	}
	return -1
}

// physWidth is the width VMX physical addresses are checked against.
func (v *CPU) physWidth() uint {
	if v.caps.Addr32 {
		return 32
	}
	return v.caps.MaxPhysAddr
}

// checkControls is SDM Vol. 3C 27.2.1: the VM-execution, VM-exit and
// VM-entry control fields, in the SDM's order. Failures are VMfailValid(7).
func (v *CPU) checkControls(insn Insn, mem Phys) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	// 27.2.1.1: pin-based and primary processor-based controls, then the
	// secondary ones when activated.
	m, x := v.ctlMSR(msr.VMXPinbasedCtls, msr.VMXTruePinbasedCtls)
	if o, bad := v.checkReserved(insn, encPinCtls, "pin-based VM-execution control", m, x); bad {
		return o, true
	}
	m, x = v.ctlMSR(msr.VMXProcbasedCtls, msr.VMXTrueProcbasedCtls)
	if o, bad := v.checkReserved(insn, encProcCtls, "primary processor-based VM-execution control", m, x); bad {
		return o, true
	}
	proc := v.field(encProcCtls)
	if proc&procActivateSecondary != 0 {
		if o, bad := v.checkReserved(insn, encProcCtls2, "secondary processor-based VM-execution control",
			msr.VMXProcbasedCtls2, v.caps.msrs.get(msr.VMXProcbasedCtls2)); bad {
			return o, true
		}
	}
	if n, max := v.field(encCR3TargetCnt), v.caps.msrs.get(msr.VMXMisc)>>16&0x1FF; n > max {
		return v.entryFail(insn, ErrEntryInvalidControl, encCR3TargetCnt, n,
			fmt.Sprintf("the CR3-target count may be at most %d (IA32_VMX_MISC[24:16])", max), sdm), true
	}
	width := v.physWidth()
	if proc&procUseIOBitmaps != 0 {
		for _, enc := range []uint32{encIOBitmapA, encIOBitmapB} {
			if a := v.field(enc); !v.pageAddrOK(a) {
				return v.entryFail(insn, ErrEntryInvalidControl, enc, a,
					fmt.Sprintf("with \"use I/O bitmaps\" the address must be 4-KiB aligned and within %d bits", width), sdm), true
			}
		}
	}
	if proc&procUseMSRBitmaps != 0 {
		if a := v.field(encMSRBitmap); !v.pageAddrOK(a) {
			return v.entryFail(insn, ErrEntryInvalidControl, encMSRBitmap, a,
				fmt.Sprintf("with \"use MSR bitmaps\" the address must be 4-KiB aligned and within %d bits", width), sdm), true
		}
	}
	if o, bad := v.checkTPRShadow(insn, mem); bad { // tpr.go
		return o, true
	}
	if o, bad := v.checkNMIControls(insn); bad { // events.go
		return o, true
	}
	if o, bad := v.checkAPICVirtControls(insn); bad { // apicv.go
		return o, true
	}
	// VPID and EPT (ept.go), PML (eptfeatures.go).
	if o, bad := v.checkEPTControls(insn); bad {
		return o, true
	}
	if o, bad := v.checkPMLControls(insn); bad {
		return o, true
	}
	if o, bad := v.checkUnrestrictedControls(insn); bad { // unrestricted.go
		return o, true
	}
	if o, bad := v.checkVMFuncControls(insn); bad { // eptfeatures.go
		return o, true
	}
	if o, bad := v.checkShadowBitmaps(insn); bad { // shadow.go
		return o, true
	}
	if o, bad := v.checkVEControls(insn); bad { // eptfeatures.go
		return o, true
	}
	// 27.2.1.2: VM-exit controls and the MSR-store/load areas.
	m, x = v.ctlMSR(msr.VMXExitCtls, msr.VMXTrueExitCtls)
	if o, bad := v.checkReserved(insn, encExitCtls, "VM-exit control", m, x); bad {
		return o, true
	}
	if o, bad := v.checkTimerSave(insn); bad { // events.go
		return o, true
	}
	for _, a := range [][2]uint32{{encExitMSRStCnt, encExitMSRStAddr}, {encExitMSRLdCnt, encExitMSRLdAddr}} {
		if o, bad := v.checkMSRArea(insn, a[0], a[1], "Vol. 3C 27.2.1.2"); bad {
			return o, true
		}
	}
	// 27.2.1.3: VM-entry controls, event injection, the MSR-load area.
	m, x = v.ctlMSR(msr.VMXEntryCtls, msr.VMXTrueEntryCtls)
	if o, bad := v.checkReserved(insn, encEntryCtls, "VM-entry control", m, x); bad {
		return o, true
	}
	if o, bad := v.checkEventInjection(insn); bad {
		return o, true
	}
	return v.checkMSRArea(insn, encEntryMSRLdCnt, encEntryMSRLdAdr, "Vol. 3C 27.2.1.3")
}

// checkMSRArea checks an MSR-store or MSR-load area: with a nonzero count
// the address is 16-byte aligned and the last byte of the area (count
// entries of 16 bytes) is within the physical-address width.
func (v *CPU) checkMSRArea(insn Insn, encCnt, encAddr uint32, sdm string) (Outcome, bool) {
	n := v.field(encCnt)
	if n == 0 {
		return Outcome{}, false
	}
	a, width := v.field(encAddr), v.physWidth()
	if a&0xF != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encAddr, a, "an MSR area's address must be 16-byte aligned (bits 3:0 clear)", sdm), true
	}
	if last := a + n*16 - 1; a>>width != 0 || last>>width != 0 || last < a {
		return v.entryFail(insn, ErrEntryInvalidControl, encAddr, a,
			fmt.Sprintf("the %d-entry MSR area must lie within the %d-bit physical-address width", n, width), sdm), true
	}
	return Outcome{}, false
}

// checkEventInjection is the VM-entry interruption-information field's
// rules (SDM Vol. 3C 27.2.1.3) when its valid bit is set.
func (v *CPU) checkEventInjection(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.3"
	info := v.field(encEntryIntrInfo)
	if info>>31 == 0 {
		return Outcome{}, false
	}
	vec, typ := info&0xFF, info>>8&7
	fail := func(rule string) (Outcome, bool) {
		return v.entryFail(insn, ErrEntryInvalidControl, encEntryIntrInfo, info, rule, sdm), true
	}
	switch {
	case typ == 1:
		return fail("interruption type 1 is reserved")
	case typ == 7 && v.caps.msrs.get(msr.VMXProcbasedCtls)>>(32+27)&1 == 0:
		return fail("interruption type 7 (other event) needs the monitor trap flag control, which the processor does not allow")
	case typ == 2 && vec != arch.VecNMI:
		return fail("an NMI (type 2) must have vector 2")
	case typ == 3 && vec > 31:
		return fail("a hardware exception (type 3) must have a vector of at most 31")
	case typ == 7 && vec != 0:
		return fail("an other event (type 7) must have vector 0")
	case info&0x7FFFF000 != 0:
		return fail("bits 30:12 are reserved")
	}
	// "Deliver error code" (bit 11): only for a hardware exception, and
	// not for a guest in real mode, which only "unrestricted guest" (a
	// secondary control) allows; whether the vector is one that has an
	// error code is checked unless IA32_VMX_BASIC[56] is 1.
	deliver := info>>11&1 != 0
	cr0 := v.field(0x6800) // Guest CR0
	prot := !v.unrestricted() || cr0&arch.CR0PE != 0
	vecCheck := v.caps.msrs.get(msr.VMXBasic)>>56&1 == 0
	hasErr := arch.HasErrorCode(uint8(vec))
	switch {
	case deliver && !prot:
		return fail("\"deliver error code\" (bit 11) must be 0 with \"unrestricted guest\" = 1 and the guest's CR0.PE = 0")
	case deliver && typ != 3:
		return fail("\"deliver error code\" (bit 11) must be 0 for an event that is not a hardware exception (type 3)")
	case deliver && !hasErr && vecCheck:
		return fail(fmt.Sprintf("\"deliver error code\" (bit 11) must be 0 for vector %d, which has no error code (only #DF, #TS, #NP, #SS, #GP, #PF, #AC have one; IA32_VMX_BASIC[56] = 0)", vec))
	case !deliver && typ == 3 && hasErr && prot && vecCheck:
		return fail(fmt.Sprintf("\"deliver error code\" (bit 11) must be 1 for vector %d unless \"unrestricted guest\" = 1 and the guest's CR0.PE = 0 (IA32_VMX_BASIC[56] = 0)", vec))
	}
	if deliver {
		if ec := v.field(encEntryExcCode); ec>>15 != 0 {
			return v.entryFail(insn, ErrEntryInvalidControl, encEntryExcCode, ec, "bits 31:15 of the VM-entry exception error code must be 0", sdm), true
		}
	}
	if typ == 4 || typ == 5 || typ == 6 {
		if n := v.field(encEntryInsnLen); n == 0 && v.caps.msrs.get(msr.VMXMisc)>>30&1 == 0 || n > 15 {
			return v.entryFail(insn, ErrEntryInvalidControl, encEntryInsnLen, n,
				"a software interrupt or exception needs an instruction length of 1 to 15 (0 only with IA32_VMX_MISC[30])", sdm), true
		}
	}
	return Outcome{}, false
}

// checkHostState is SDM Vol. 3C 27.2.2-27.2.4: the host control
// registers and MSRs, segment and descriptor-table registers, and the
// address-space size, in the SDM's order. Failures are VMfailValid(8).
func (v *CPU) checkHostState(insn Insn, c *EntryCtx) (Outcome, bool) {
	fail := func(enc uint32, val uint64, rule, sdm string) (Outcome, bool) {
		return v.entryFail(insn, ErrEntryInvalidHostState, enc, val, rule, sdm), true
	}
	const sdm2 = "Vol. 3C 27.2.2"
	cr0, cr4 := v.field(encHostCR0), v.field(encHostCR4)
	if f := msr.CheckCR0(v.caps.CR0, cr0, false); f != nil {
		return fail(encHostCR0, cr0, f.Rule, sdm2)
	}
	if f := msr.CheckCR4(v.caps.CR4, cr4); f != nil {
		return fail(encHostCR4, cr4, f.Rule, sdm2)
	}
	if cr3 := v.field(encHostCR3); cr3>>v.caps.MaxPhysAddr != 0 {
		return fail(encHostCR3, cr3, fmt.Sprintf("bits 63:%d (beyond MAXPHYADDR) must be 0", v.caps.MaxPhysAddr), sdm2)
	}
	for _, enc := range []uint32{encHostSysESP, encHostSysEIP} {
		if a := v.field(enc); !v.canonical(a) {
			return fail(enc, a, "must be canonical", sdm2)
		}
	}
	exit := v.field(encExitCtls)
	if exit&exitLoadPerfGlobal != 0 {
		if x := v.field(encHostPerfGlobal); x&^0x7_0000_00FF != 0 {
			return fail(encHostPerfGlobal, x, "reserved bits of IA32_PERF_GLOBAL_CTRL must be 0", sdm2)
		}
	}
	if exit&exitLoadPAT != 0 {
		pat := v.field(encHostPAT)
		for i := 0; i < 8; i++ {
			if t := pat >> (8 * i) & 0xFF; t != 0 && t != 1 && t != 4 && t != 5 && t != 6 && t != 7 {
				return fail(encHostPAT, pat, fmt.Sprintf("PAT entry %d holds %d, not a valid memory type (0, 1, 4, 5, 6, 7)", i, t), sdm2)
			}
		}
	}
	hostLong := exit&exitHostAddrSpace != 0
	if exit&exitLoadEFER != 0 {
		efer := v.field(encHostEFER)
		switch {
		case efer&^eferDefined != 0:
			return fail(encHostEFER, efer, "reserved bits of IA32_EFER must be 0", sdm2)
		case (efer&arch.EFERLMA != 0) != hostLong:
			return fail(encHostEFER, efer, "IA32_EFER.LMA must equal the \"host address-space size\" VM-exit control", sdm2)
		case (efer&arch.EFERLME != 0) != hostLong:
			return fail(encHostEFER, efer, "IA32_EFER.LME must equal the \"host address-space size\" VM-exit control", sdm2)
		}
	}
	const sdm3 = "Vol. 3C 27.2.3"
	for enc := uint32(encHostSelES); enc <= encHostSelTR; enc += 2 {
		if sel := v.field(enc); sel&7 != 0 {
			return fail(enc, sel, "the RPL (bits 1:0) and TI flag (bit 2) of a host selector must be 0", sdm3)
		}
	}
	if sel := v.field(encHostSelCS); sel == 0 {
		return fail(encHostSelCS, sel, "the host CS selector must not be 0000H", sdm3)
	}
	if sel := v.field(encHostSelTR); sel == 0 {
		return fail(encHostSelTR, sel, "the host TR selector must not be 0000H", sdm3)
	}
	if sel := v.field(encHostSelSS); sel == 0 && !hostLong {
		return fail(encHostSelSS, sel, "the host SS selector must not be 0000H when \"host address-space size\" is 0", sdm3)
	}
	for _, enc := range []uint32{encHostFSBase, encHostGSBase, encHostGDTRBase, encHostIDTRBase, encHostTRBase} {
		if a := v.field(enc); !v.canonical(a) {
			return fail(enc, a, "must be canonical", sdm3)
		}
	}
	const sdm4 = "Vol. 3C 27.2.4"
	lma := c.EFER&arch.EFERLMA != 0
	entry := v.field(encEntryCtls)
	switch {
	case !lma && hostLong:
		return fail(encExitCtls, exit, "\"host address-space size\" must be 0 outside IA-32e mode (IA32_EFER.LMA = 0)", sdm4)
	case lma && !hostLong:
		return fail(encExitCtls, exit, "\"host address-space size\" must be 1 in IA-32e mode (IA32_EFER.LMA = 1)", sdm4)
	case !hostLong && entry&entryIA32eGuest != 0:
		return fail(encEntryCtls, entry, "\"IA-32e mode guest\" must be 0 when \"host address-space size\" is 0", sdm4)
	case !hostLong && cr4&arch.CR4PCIDE != 0:
		return fail(encHostCR4, cr4, "CR4.PCIDE must be 0 when \"host address-space size\" is 0", sdm4)
	case !hostLong && v.field(encHostRIP)>>32 != 0:
		return fail(encHostRIP, v.field(encHostRIP), "bits 63:32 must be 0 when \"host address-space size\" is 0", sdm4)
	case hostLong && cr4&arch.CR4PAE == 0:
		return fail(encHostCR4, cr4, "CR4.PAE must be 1 when \"host address-space size\" is 1", sdm4)
	case hostLong && !v.canonical(v.field(encHostRIP)):
		return fail(encHostRIP, v.field(encHostRIP), "must be canonical when \"host address-space size\" is 1", sdm4)
	}
	return Outcome{}, false
}

// canonical reports whether a is canonical for the processor's
// linear-address width (57 bits on a processor with 5-level paging, 48
// otherwise: the checks use the processor's width, not the current
// paging mode's).
func (v *CPU) canonical(a uint64) bool { return arch.Canonical(a, v.caps.LinearWidth) }

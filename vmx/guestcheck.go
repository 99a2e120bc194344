package vmx

import (
	"encoding/binary"
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// The checks on the guest-state area (SDM Vol. 3C 27.3.1), in the SDM's
// order. A failure is a VM-entry failure (28.8): exit reason 33 ("VM-entry
// failure due to invalid guest state") with bit 31 set, the exit
// qualification the SDM gives (0 in general; 2 for a PDPTE; 3 for NMI
// injection with blocking by NMI; 4 for the VMCS link pointer), and the
// check's rule, field and value for the user.

// Guest-state field encodings (SDM Vol. 3D Appendix B).
const (
	encGuestCR0       = 0x6800
	encGuestCR3       = 0x6802
	encGuestCR4       = 0x6804
	encGuestDR7       = 0x681A
	encGuestRIP       = 0x681E
	encGuestRFLAGS    = 0x6820
	encGuestPendDbg   = 0x6822
	encGuestSysESP    = 0x6824
	encGuestSysEIP    = 0x6826
	encGuestDebugCtl  = 0x2802
	encGuestEFER      = 0x2806
	encGuestLinkPtr   = 0x2800
	encGuestGDTRBase  = 0x6816
	encGuestIDTRBase  = 0x6818
	encGuestGDTRLimit = 0x4810
	encGuestIDTRLimit = 0x4812
	encGuestIntrState = 0x4824
	encGuestActivity  = 0x4826

	encGuestSelES   = 0x0800 // + 2*i for ES, CS, SS, DS, FS, GS, LDTR, TR
	encGuestLimitES = 0x4800
	encGuestARES    = 0x4814
	encGuestBaseES  = 0x6806

	entryLoadDebug = 1 << 2
)

// Guest segment register indices in the VMCS order (ES, CS, SS, DS, FS,
// GS, LDTR, TR), the same as arch's for the first six.
const (
	gLDTR = 6
	gTR   = 7
)

var segName = [8]string{"ES", "CS", "SS", "DS", "FS", "GS", "LDTR", "TR"}

// GuestFailure is a VM-entry failure due to invalid guest state.
type GuestFailure struct {
	Qualification uint64
	Field         uint32
	Value         uint64
	Rule, SDM     string
}

func (g *GuestFailure) String() string {
	name := fmt.Sprintf("%#x", g.Field)
	if f, ok := FieldByEnc(g.Field); ok {
		name = fmt.Sprintf("%s (%#04x)", f.Name, g.Field)
	}
	return fmt.Sprintf("%s = %#x: %s (SDM %s)", name, g.Value, g.Rule, g.SDM)
}

// checkGuestState runs the guest-state checks; nil when they pass.
func (v *CPU) checkGuestState(mem Phys) *GuestFailure {
	f := func(enc uint32, val uint64, rule, sdm string) *GuestFailure {
		return &GuestFailure{Field: enc, Value: val, Rule: rule, SDM: sdm}
	}
	entry := v.field(encEntryCtls)
	ia32e := entry&entryIA32eGuest != 0
	// 27.3.1.1: control registers, debug registers, MSRs.
	const s1 = "Vol. 3C 27.3.1.1"
	cr0, cr4 := v.field(encGuestCR0), v.field(encGuestCR4)
	// PE and PG are exempt with "unrestricted guest" (unrestricted.go).
	if fl := v.guestCR0Fixed(cr0); fl != nil {
		return f(encGuestCR0, cr0, fl.Rule, s1)
	}
	if cr0&arch.CR0PG != 0 && cr0&arch.CR0PE == 0 {
		return f(encGuestCR0, cr0, "CR0.PG = 1 requires CR0.PE = 1", s1)
	}
	if fl := msr.CheckCR4(v.caps.CR4, cr4); fl != nil {
		return f(encGuestCR4, cr4, fl.Rule, s1)
	}
	if entry&entryLoadDebug != 0 {
		if d := v.field(encGuestDebugCtl); d&^0xFFC3 != 0 {
			return f(encGuestDebugCtl, d, "reserved bits of IA32_DEBUGCTL (5:2, 63:16) must be 0", s1)
		}
	}
	if ia32e && (cr0&arch.CR0PG == 0 || cr4&arch.CR4PAE == 0) {
		return f(encGuestCR0, cr0, "an IA-32e mode guest needs CR0.PG = 1 and CR4.PAE = 1", s1)
	}
	if !ia32e && cr4&arch.CR4PCIDE != 0 {
		return f(encGuestCR4, cr4, "CR4.PCIDE must be 0 unless \"IA-32e mode guest\" is 1", s1)
	}
	if cr3 := v.field(encGuestCR3); cr3>>v.caps.MaxPhysAddr != 0 {
		return f(encGuestCR3, cr3, fmt.Sprintf("bits 63:%d (beyond MAXPHYADDR) must be 0", v.caps.MaxPhysAddr), s1)
	}
	if entry&entryLoadDebug != 0 {
		if d := v.field(encGuestDR7); d>>32 != 0 {
			return f(encGuestDR7, d, "bits 63:32 of DR7 must be 0", s1)
		}
	}
	for _, enc := range []uint32{encGuestSysESP, encGuestSysEIP} {
		if a := v.field(enc); !v.canonical(a) {
			return f(enc, a, "must be canonical", s1)
		}
	}
	// With "load IA32_EFER": reserved bits 0, LMA = "IA-32e mode guest",
	// and LMA = LME when the guest's CR0.PG is 1.
	if entry&entryLoadEFER != 0 {
		efer := v.field(encGuestEFER)
		switch {
		case efer&^eferDefined != 0:
			return f(encGuestEFER, efer, "reserved bits of IA32_EFER must be 0", s1)
		case (efer&arch.EFERLMA != 0) != ia32e:
			return f(encGuestEFER, efer, "IA32_EFER.LMA (bit 10) must equal the \"IA-32e mode guest\" VM-entry control", s1)
		case cr0&arch.CR0PG != 0 && (efer&arch.EFERLMA != 0) != (efer&arch.EFERLME != 0):
			return f(encGuestEFER, efer, "IA32_EFER.LMA (bit 10) must equal IA32_EFER.LME (bit 8) when the guest's CR0.PG is 1", s1)
		}
	}

	// 27.3.1.2: segment registers.
	rflags := v.field(encGuestRFLAGS)
	v86 := rflags&arch.FlagVM != 0
	if g := v.segmentsChecked(ia32e, v86, v.unrestricted(), cr0); g != nil { // fastentry.go
		return g
	}

	// 27.3.1.3: GDTR and IDTR.
	const s3 = "Vol. 3C 27.3.1.3"
	for _, enc := range []uint32{encGuestGDTRBase, encGuestIDTRBase} {
		if a := v.field(enc); !v.canonical(a) {
			return f(enc, a, "must be canonical", s3)
		}
	}
	for _, enc := range []uint32{encGuestGDTRLimit, encGuestIDTRLimit} {
		if l := v.field(enc); l>>16 != 0 {
			return f(enc, l, "bits 31:16 must be 0", s3)
		}
	}

	// 27.3.1.4: RIP and RFLAGS.
	const s4 = "Vol. 3C 27.3.1.4"
	rip, csL := v.field(encGuestRIP), v.field(encGuestARES+2)&arch.ARL != 0
	if !(ia32e && csL) && rip>>32 != 0 {
		return f(encGuestRIP, rip, "bits 63:32 must be 0 unless the guest is in 64-bit mode (IA-32e mode guest with CS.L = 1)", s4)
	}
	if ia32e && csL && !v.canonical(rip) {
		return f(encGuestRIP, rip, "must be canonical in 64-bit mode", s4)
	}
	if rflags&^0x3F7FD7 != 0 || rflags&2 == 0 {
		return f(encGuestRFLAGS, rflags, "reserved bits (63:22, 15, 5, 3) must be 0 and bit 1 must be 1", s4)
	}
	if v86 && (ia32e || cr0&arch.CR0PE == 0) {
		return f(encGuestRFLAGS, rflags, "RFLAGS.VM must be 0 in IA-32e mode or with CR0.PE = 0", s4)
	}
	info := v.field(encEntryIntrInfo)
	injecting, injType := info>>31 != 0, info>>8&7
	if injecting && injType == 0 && rflags&arch.FlagIF == 0 {
		return f(encGuestRFLAGS, rflags, "RFLAGS.IF must be 1 when an external interrupt is injected", s4)
	}

	// 27.3.1.5: non-register state.
	const s5 = "Vol. 3C 27.3.1.5"
	act, misc := v.field(encGuestActivity), v.caps.msrs.get(msr.VMXMisc)
	if act > 3 || act != 0 && misc>>(5+act)&1 == 0 {
		return f(encGuestActivity, act, "must be 0 (active) or an activity state IA32_VMX_MISC[8:6] supports (1 HLT, 2 shutdown, 3 wait-for-SIPI)", s5)
	}
	if act == 1 && v.field(encGuestARES+4)>>5&3 != 0 {
		return f(encGuestActivity, act, "the HLT activity state needs SS.DPL = 0", s5)
	}
	intr := v.field(encGuestIntrState)
	if (intr&3 != 0) && act != 0 {
		return f(encGuestActivity, act, "blocking by STI or MOV SS requires the active state", s5)
	}
	if injecting {
		vec := info & 0xFF
		ok := true
		switch act {
		case 1: // HLT: external interrupts, NMI, #DB, #MC, and MTF
			ok = injType == 0 || injType == 2 || injType == 7 || injType == 3 && (vec == arch.VecDB || vec == arch.VecMC)
		case 2: // shutdown: NMI and #MC
			ok = injType == 2 || injType == 3 && vec == arch.VecMC
		case 3: // wait-for-SIPI: nothing
			ok = false
		}
		if !ok {
			return f(encGuestActivity, act, fmt.Sprintf("the activity state cannot take the injected event (type %d, vector %d)", injType, vec), s5)
		}
	}
	switch {
	case intr>>5 != 0:
		return f(encGuestIntrState, intr, "reserved bits 31:5 of the interruptibility state must be 0", s5)
	case intr&(1<<4) != 0:
		return f(encGuestIntrState, intr, "bit 4 (enclave interruption) needs SGX, which the processor does not report", s5)
	case intr&3 == 3:
		return f(encGuestIntrState, intr, "blocking by STI (bit 0) and by MOV SS (bit 1) cannot both be 1", s5)
	case intr&1 != 0 && rflags&arch.FlagIF == 0:
		return f(encGuestIntrState, intr, "blocking by STI (bit 0) requires RFLAGS.IF = 1", s5)
	case injecting && injType == 0 && intr&3 != 0:
		return f(encGuestIntrState, intr, "an injected external interrupt requires no blocking by STI or MOV SS", s5)
	case injecting && injType == 2 && intr&2 != 0:
		return f(encGuestIntrState, intr, "an injected NMI requires no blocking by MOV SS", s5)
	case intr&4 != 0:
		return f(encGuestIntrState, intr, "blocking by SMI (bit 2) must be 0 outside SMM", s5)
	case intr&8 != 0 && injecting && injType == 2 && v.field(encPinCtls)&pinVirtualNMIs != 0:
		return f(encGuestIntrState, intr, "blocking by NMI (bit 3: virtual-NMI blocking) must be 0 when \"virtual NMIs\" is 1 and an NMI is injected", s5)
	}
	pd := v.field(encGuestPendDbg)
	if pd&^0x1500F != 0 {
		return f(encGuestPendDbg, pd, "reserved bits (11:4, 13, 15, 63:17) of the pending debug exceptions must be 0", s5)
	}
	if intr&3 != 0 || act == 1 {
		tf := rflags&arch.FlagTF != 0
		btf := v.field(encGuestDebugCtl)&2 != 0
		bs := pd&(1<<14) != 0
		if tf && !btf && !bs {
			return f(encGuestPendDbg, pd, "BS (bit 14) must be 1 with blocking by STI/MOV SS or HLT when RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF = 0", s5)
		}
		if (!tf || btf) && bs {
			return f(encGuestPendDbg, pd, "BS (bit 14) must be 0 with blocking by STI/MOV SS or HLT when RFLAGS.TF = 0 or IA32_DEBUGCTL.BTF = 1", s5)
		}
	}
	if link := v.field(encGuestLinkPtr); link != invalidPtr {
		g := f(encGuestLinkPtr, link, "", s5)
		g.Qualification = 4
		if ok, why := v.caps.physOK(link); !ok {
			g.Rule = "a VMCS link pointer other than FFFFFFFF_FFFFFFFFH must be a valid VMCS address: " + why
			return g
		}
		var b [4]byte
		if mem.ReadPhys(link, b[:]) {
			rev := binary.LittleEndian.Uint32(b[:])
			// Bit 31 (the shadow-VMCS indicator) must be the setting of
			// "VMCS shadowing" (shadow.go).
			sh := uint32(0)
			if v.shadowing() {
				sh = 1
			}
			if rev&0x7FFFFFFF != v.caps.Revision || rev>>31 != sh {
				g.Rule = fmt.Sprintf("the VMCS at the link pointer has revision identifier %#x; it must be IA32_VMX_BASIC[30:0] = %#x with bit 31 = %d, the setting of \"VMCS shadowing\"", rev, v.caps.Revision, sh)
				return g
			}
		}
	}

	// 27.3.1.6: the PDPTEs of PAE paging: the guest-state fields under
	// EPT, else the entries at guest CR3 (ept.go guestPDPTEs).
	if cr0&arch.CR0PG != 0 && cr4&arch.CR4PAE != 0 && !ia32e {
		p, fromFields, _ := v.guestPDPTEs(mem)
		for i, e := range p {
			if e&1 != 0 && (e&0x1E6 != 0 || e>>v.caps.MaxPhysAddr != 0) {
				fld, val := uint32(encGuestCR3), v.field(encGuestCR3)
				if fromFields {
					fld, val = encGuestPDPTE0+uint32(2*i), e
				}
				return &GuestFailure{Qualification: 2, Field: fld, Value: val,
					Rule: fmt.Sprintf("PDPTE%d (%#x) is present with reserved bits set (2:1, 8:5 or beyond MAXPHYADDR)", i, e),
					SDM:  "Vol. 3C 27.3.1.6; Vol. 3A 4.4.1"}
			}
		}
	}
	return nil
}

// checkSegments is SDM Vol. 3C 27.3.1.2 for the eight segment registers.
// With "unrestricted guest" (urg) the SS selector's RPL need not equal
// CS's, CS may be a read/write accessed data segment (type 3, DPL 0), SS's
// DPL need not equal its RPL and DS, ES, FS, GS have no DPL >= RPL rule:
// a real-mode guest's segments are whatever its selector loads made them.
func (v *CPU) checkSegments(ia32e, v86, urg bool, cr0 uint64) *GuestFailure {
	const sdm = "Vol. 3C 27.3.1.2"
	var sel, lim, ar [8]uint64
	var base [8]uint64
	for i := 0; i < 8; i++ {
		sel[i] = v.field(encGuestSelES + uint32(2*i))
		lim[i] = v.field(encGuestLimitES + uint32(2*i))
		ar[i] = v.field(encGuestARES + uint32(2*i))
		base[i] = v.field(encGuestBaseES + uint32(2*i))
	}
	usable := func(i int) bool { return ar[i]&arch.ARUnusable == 0 }
	fail := func(i int, kind string, rule string) *GuestFailure {
		enc := map[string]uint32{"selector": encGuestSelES, "limit": encGuestLimitES, "access rights": encGuestARES, "base": encGuestBaseES}[kind] + uint32(2*i)
		val := map[string]uint64{"selector": sel[i], "limit": lim[i], "access rights": ar[i], "base": base[i]}[kind]
		return &GuestFailure{Field: enc, Value: val, Rule: segName[i] + ": " + rule, SDM: sdm}
	}
	// Selectors.
	if sel[gTR]&4 != 0 {
		return fail(gTR, "selector", "the TI flag (bit 2) must be 0")
	}
	if usable(gLDTR) && sel[gLDTR]&4 != 0 {
		return fail(gLDTR, "selector", "the TI flag (bit 2) must be 0 when LDTR is usable")
	}
	if !v86 && !urg && sel[arch.SS]&3 != sel[arch.CS]&3 {
		return fail(arch.SS, "selector", "the RPL must equal CS's RPL (outside virtual-8086 mode, \"unrestricted guest\" = 0)")
	}
	// Bases.
	if v86 {
		for i := 0; i < 6; i++ {
			if base[i] != sel[i]<<4 {
				return fail(i, "base", "in virtual-8086 mode the base must be the selector shifted left by 4")
			}
		}
	}
	for _, i := range []int{gTR, arch.FS, arch.GS} {
		if !v.canonical(base[i]) {
			return fail(i, "base", "must be canonical")
		}
	}
	if usable(gLDTR) && !v.canonical(base[gLDTR]) {
		return fail(gLDTR, "base", "must be canonical when LDTR is usable")
	}
	if base[arch.CS]>>32 != 0 {
		return fail(arch.CS, "base", "bits 63:32 must be 0")
	}
	for _, i := range []int{arch.SS, arch.DS, arch.ES} {
		if usable(i) && base[i]>>32 != 0 {
			return fail(i, "base", "bits 63:32 must be 0 when the register is usable")
		}
	}
	if v86 {
		for i := 0; i < 6; i++ {
			if lim[i] != 0xFFFF {
				return fail(i, "limit", "in virtual-8086 mode the limit must be 0000FFFFH")
			}
			if ar[i] != 0xF3 {
				return fail(i, "access rights", "in virtual-8086 mode the access rights must be 000000F3H")
			}
		}
	} else {
		if g := v.checkDataCodeAR(ia32e, urg, cr0, sel, lim, ar, fail); g != nil {
			return g
		}
	}
	// TR.
	t := ar[gTR] & 0xF
	switch {
	case !ia32e && t != 3 && t != 11:
		return fail(gTR, "access rights", "the type must be 3 (16-bit busy TSS) or 11 (busy TSS) outside IA-32e mode")
	case ia32e && t != 11:
		return fail(gTR, "access rights", "the type must be 11 (64-bit busy TSS) in an IA-32e mode guest")
	case ar[gTR]&arch.ARS != 0:
		return fail(gTR, "access rights", "S (bit 4) must be 0")
	case ar[gTR]&arch.ARP == 0:
		return fail(gTR, "access rights", "P (bit 7) must be 1")
	case ar[gTR]&0xF00 != 0 || ar[gTR]>>17 != 0:
		return fail(gTR, "access rights", "reserved bits 11:8 and 31:17 must be 0")
	case !granularityOK(lim[gTR], ar[gTR]):
		return fail(gTR, "access rights", "G (bit 15) must agree with the limit (0 if any of limit bits 11:0 is 0, 1 if any of bits 31:20 is 1)")
	case !usable(gTR):
		return fail(gTR, "access rights", "TR must be usable (bit 16 clear)")
	}
	// LDTR.
	if usable(gLDTR) {
		a := ar[gLDTR]
		switch {
		case a&0xF != 2:
			return fail(gLDTR, "access rights", "the type must be 2 (LDT)")
		case a&arch.ARS != 0:
			return fail(gLDTR, "access rights", "S (bit 4) must be 0")
		case a&arch.ARP == 0:
			return fail(gLDTR, "access rights", "P (bit 7) must be 1")
		case a&0xF00 != 0 || a>>17 != 0:
			return fail(gLDTR, "access rights", "reserved bits 11:8 and 31:17 must be 0")
		case !granularityOK(lim[gLDTR], a):
			return fail(gLDTR, "access rights", "G (bit 15) must agree with the limit")
		}
	}
	return nil
}

// granularityOK is the G-bit rule: if any of limit bits 11:0 is 0, G must
// be 0; if any of bits 31:20 is 1, G must be 1.
func granularityOK(lim, ar uint64) bool {
	g := ar&arch.ARG != 0
	return !(lim&0xFFF != 0xFFF && g) && !(lim&0xFFF00000 != 0 && !g)
}

// checkDataCodeAR is the access-rights checks of CS, SS, DS, ES, FS and GS
// outside virtual-8086 mode; urg is "unrestricted guest".
func (v *CPU) checkDataCodeAR(ia32e, urg bool, cr0 uint64, sel, lim, ar [8]uint64, fail func(int, string, string) *GuestFailure) *GuestFailure {
	cs := ar[arch.CS]
	ct := cs & 0xF
	switch {
	case urg && ct != 3 && ct != 9 && ct != 11 && ct != 13 && ct != 15:
		return fail(arch.CS, "access rights", "the type must be 3 (read/write accessed expand-up data) or 9, 11, 13 or 15 (accessed code) with \"unrestricted guest\" = 1")
	case !urg && ct != 9 && ct != 11 && ct != 13 && ct != 15:
		return fail(arch.CS, "access rights", "the type must be 9, 11, 13 or 15 (accessed code)")
	}
	ss := ar[arch.SS]
	if ss&arch.ARUnusable == 0 && ss&0xF != 3 && ss&0xF != 7 {
		return fail(arch.SS, "access rights", "the type must be 3 or 7 (accessed read/write data) when SS is usable")
	}
	for _, i := range []int{arch.DS, arch.ES, arch.FS, arch.GS} {
		a := ar[i]
		if a&arch.ARUnusable != 0 {
			continue
		}
		if a&arch.ARAccessed == 0 {
			return fail(i, "access rights", "the accessed bit (type bit 0) must be 1 when usable")
		}
		if a&arch.ARCode != 0 && a&arch.ARReadable == 0 {
			return fail(i, "access rights", "a code segment must be readable (type bit 1) when usable")
		}
	}
	for _, i := range []int{arch.ES, arch.CS, arch.SS, arch.DS, arch.FS, arch.GS} {
		a := ar[i]
		if i != arch.CS && a&arch.ARUnusable != 0 {
			continue
		}
		switch {
		case a&arch.ARS == 0:
			return fail(i, "access rights", "S (bit 4) must be 1")
		case a&arch.ARP == 0:
			return fail(i, "access rights", "P (bit 7) must be 1")
		case a&0xF00 != 0 || a>>17 != 0:
			return fail(i, "access rights", "reserved bits 11:8 and 31:17 must be 0")
		case !granularityOK(lim[i], a):
			return fail(i, "access rights", "G (bit 15) must agree with the limit (0 if any of limit bits 11:0 is 0, 1 if any of bits 31:20 is 1)")
		}
	}
	dpl := func(a uint64) uint64 { return a >> 5 & 3 }
	switch {
	case ct == 3 && dpl(cs) != 0:
		return fail(arch.CS, "access rights", "a CS of type 3 (data, possible only with \"unrestricted guest\" = 1) must have DPL = 0")
	case (ct == 9 || ct == 11) && dpl(cs) != dpl(ss):
		return fail(arch.CS, "access rights", "a nonconforming CS must have DPL = SS.DPL")
	case (ct == 13 || ct == 15) && dpl(cs) > dpl(ss):
		return fail(arch.CS, "access rights", "a conforming CS must have DPL <= SS.DPL")
	case !urg && dpl(ss) != sel[arch.SS]&3:
		return fail(arch.SS, "access rights", "SS.DPL must equal the RPL of the SS selector (\"unrestricted guest\" = 0)")
	case ct == 3 && dpl(ss) != 0:
		return fail(arch.SS, "access rights", "SS.DPL must be 0 when CS is of type 3 (data)")
	case cr0&arch.CR0PE == 0 && dpl(ss) != 0:
		return fail(arch.SS, "access rights", "SS.DPL must be 0 with CR0.PE = 0")
	}
	for _, i := range []int{arch.DS, arch.ES, arch.FS, arch.GS} {
		a := ar[i]
		if !urg && a&arch.ARUnusable == 0 && a&0xF <= 11 && dpl(a) < sel[i]&3 {
			return fail(i, "access rights", "DPL must be at least the selector's RPL for a data or nonconforming code segment")
		}
	}
	if ia32e && cs&arch.ARL != 0 && cs&arch.ARDB != 0 {
		return fail(arch.CS, "access rights", "D/B (bit 14) must be 0 for a 64-bit code segment (L = 1) in an IA-32e mode guest")
	}
	return nil
}

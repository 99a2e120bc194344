package vmx

import "fmt"

// VMCS shadowing (secondary control 14; SDM Vol. 3C 25.10 "VMCS Types",
// 25.6.15 "VMCS Shadowing Bitmap Addresses", 27.2.1.1, 27.3.1.5, 31.3
// VMREAD and VMWRITE). With the control, VMREAD and VMWRITE in VMX
// non-root operation exit only when the encoding sets a bit in 63:15 or
// its bit (bits 14:0 of the encoding) is 1 in the VMREAD or VMWRITE
// bitmap; otherwise, after the CPL check, they read or write the shadow
// VMCS the VMCS link pointer references (VMfailInvalid when that is
// FFFFFFFF_FFFFFFFFH; VMfailValid errors go to the current VMCS, as
// always). A shadow VMCS (bit 31 of its revision identifier) can be made
// current by VMPTRLD and read and written in VMX root operation, but not
// entered (VMfailInvalid). vmxemu caches active VMCSs (a VMPTRLD that is
// not followed by VMCLEAR leaves the data on the processor): the shadow
// VMCS is the active copy if there is one, its region otherwise.

// Proc2VMCSShadowing is secondary control 14 (Table 25-7).
const Proc2VMCSShadowing = 1 << 14

// The VMREAD- and VMWRITE-bitmap addresses (Appendix B).
const (
	encVMREADBitmap  = 0x2026
	encVMWRITEBitmap = 0x2028
)

// shadowing reports whether the current VMCS has "VMCS shadowing" in
// effect (with the secondary controls activated).
func (v *CPU) shadowing() bool {
	return v.field(encProcCtls)&procActivateSecondary != 0 && v.field(encProcCtls2)&Proc2VMCSShadowing != 0
}

// shadowExits is the VM-exit rule of VMREAD and VMWRITE in VMX non-root
// operation (SDM Vol. 3C 31.3, VMREAD/VMWRITE "Operation"; 26.1.3): they
// exit unless "VMCS shadowing" is 1, bits 63:15 of the encoding are 0
// and the encoding's bit in the VMREAD (VMWRITE) bitmap is 0. A bitmap
// byte that cannot be read counts as 1.
func (v *CPU) shadowExits(insn Insn, enc uint64, mem Phys) bool {
	if !v.shadowing() || enc>>15 != 0 || mem == nil {
		return true
	}
	bm := v.field(encVMREADBitmap)
	if insn == InsnVMWRITE {
		bm = v.field(encVMWRITEBitmap)
	}
	var b [1]byte
	if !mem.ReadPhys(bm+enc/8, b[:]) {
		return true
	}
	return b[0]>>(enc%8)&1 != 0
}

// checkShadowBitmaps is SDM Vol. 3C 27.2.1.1's rule for VMCS shadowing:
// the VMREAD- and VMWRITE-bitmap addresses are 4-KiB aligned and within
// the physical-address width (VMfailValid(7)).
func (v *CPU) checkShadowBitmaps(insn Insn) (Outcome, bool) {
	if !v.shadowing() {
		return Outcome{}, false
	}
	width := v.physWidth()
	for _, enc := range []uint32{encVMREADBitmap, encVMWRITEBitmap} {
		if a := v.field(enc); !v.pageAddrOK(a) { // eptfeatures.go
			return v.entryFail(insn, ErrEntryInvalidControl, enc, a,
				fmt.Sprintf("with \"VMCS shadowing\" the address must be 4-KiB aligned and within %d bits", width), "Vol. 3C 27.2.1.1"), true
		}
	}
	return Outcome{}, false
}

// shadowVMCS returns the shadow VMCS of a VMREAD or VMWRITE in VMX
// non-root operation: the active copy of the VMCS at the link pointer, or
// one read from its region (active false: a VMWRITE writes it back).
func (v *CPU) shadowVMCS(insn Insn, mem Phys) (s *VMCS, active bool, o Outcome, ok bool) {
	link := v.field(encGuestLinkPtr)
	if link == invalidPtr {
		return nil, false, Outcome{Insn: insn, Kind: FailInvalid,
			Why: "in VMX non-root operation the VMCS link pointer is FFFFFFFF_FFFFFFFFH: there is no shadow VMCS (" + sdmInsn + insn.String() + ")"}, false
	}
	if s, ok := v.active[link]; ok {
		return s, true, Outcome{}, true
	}
	s, ok = load(v.caps, mem, link)
	if !ok {
		return nil, false, Outcome{Insn: insn, Kind: Refused}, false
	}
	return s, false, Outcome{}, true
}

// GuestVMREAD is VMREAD in VMX non-root operation that did not exit
// (Check decided it does not): it reads the shadow VMCS.
func (v *CPU) GuestVMREAD(enc uint64, mode64 bool, mem Phys) (uint64, Outcome) {
	s, _, o, ok := v.shadowVMCS(InsnVMREAD, mem)
	if !ok {
		return 0, o
	}
	val := v.vmread(s, enc, mode64, &o)
	return val, o
}

// GuestVMWRITE is VMWRITE in VMX non-root operation that did not exit: it
// writes the shadow VMCS.
func (v *CPU) GuestVMWRITE(enc, val uint64, mode64 bool, mem Phys) Outcome {
	s, active, o, ok := v.shadowVMCS(InsnVMWRITE, mem)
	if !ok {
		return o
	}
	v.vmwrite(s, enc, val, mode64, &o)
	if o.Kind == Succeed && !active && !s.store(v.caps, mem) {
		return Outcome{Insn: InsnVMWRITE, Kind: Refused}
	}
	return o
}

// isShadow reports whether a VMCS is a shadow VMCS (bit 31 of its
// revision identifier, 25.10).
func (s *VMCS) isShadow() bool { return s.rev>>31 != 0 }

package vmx

import (
	"encoding/binary"
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/msr"
)

// The optional EPT features: page-modification logging (PML, SDM Vol. 3C
// 29.3.6), VM functions and EPTP switching (26.5.5), EPT-violation
// virtualization exceptions (#VE, 26.5.6) and mode-based execute control
// (29.3.3.2). The VM-entry checks of their controls (27.2.1.1) and the
// VMCS side of each live here; the walk is package ept's (WalkCtl) and the
// core calls these at the points the SDM names (cpu/vmx_ept.go).

// Field encodings (SDM Vol. 3D Appendix B) and control bits (Vol. 3C
// Table 25-7, Table 25-10).
const (
	encEPTPIndex  = 0x0004
	encPMLIndex   = 0x0812
	encPMLAddr    = 0x200E
	encVMFuncCtls = 0x2018
	encEPTPList   = 0x2024
	encVEInfoAddr = 0x202A

	proc2VMFunc = 1 << 13 // enable VM functions
	proc2PML    = 1 << 17 // enable PML
	proc2EPTVE  = 1 << 18 // EPT-violation #VE
	proc2MBEC   = 1 << 22 // mode-based execute control for EPT

	vmfuncEPTPSwitch = 1 << 0 // VM-function control 0: EPTP switching

	ExitVMFUNC  = 59 // VMFUNC (Appendix C)
	ExitPMLFull = 62 // page-modification log full

	sdmVMFunc = "Vol. 3C 26.5.5"
	sdmVE     = "Vol. 3C 26.5.6"
	sdmPML    = "Vol. 3C 29.3.6"
)

// pageAddrOK reports whether a 4-KByte structure's physical address is
// valid for a control (27.2.1.1: the I/O and MSR bitmaps, the
// virtual-APIC page, the PML
// address, the EPTP-list address, the VMREAD and VMWRITE bitmaps, the
// virtualization-exception
// information address): bits 11:0 clear, no bit beyond the
// physical-address width.
func (v *CPU) pageAddrOK(a uint64) bool { return a&0xFFF == 0 && a>>v.physWidth() == 0 }

// checkPMLControls is the PML rule of SDM Vol. 3C 27.2.1.1: with "enable
// PML", "enable EPT" must be 1 and the PML address 4-KByte aligned within
// the physical-address width. VMfailValid(7).
func (v *CPU) checkPMLControls(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	sec := v.secondary()
	if sec&proc2PML == 0 {
		return Outcome{}, false
	}
	if sec&proc2EPT == 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
			"\"enable PML\" (secondary control 17) requires \"enable EPT\" (secondary control 1)", sdm), true
	}
	if a := v.field(encPMLAddr); !v.pageAddrOK(a) {
		return v.entryFail(insn, ErrEntryInvalidControl, encPMLAddr, a,
			fmt.Sprintf("with \"enable PML\" the PML address must be 4-KByte aligned (bits 11:0 clear) and within %d bits", v.physWidth()), sdm), true
	}
	return Outcome{}, false
}

// checkVMFuncControls are the rules of SDM Vol. 3C 27.2.1.1 for VM
// functions, in its order (after those of "unrestricted guest" and
// mode-based execute control, before VMCS shadowing's): with "enable VM
// functions" the VM-function controls have no bit IA32_VMX_VMFUNC does
// not allow, and with "EPTP switching" "enable EPT" is 1 and the
// EPTP-list address is 4-KByte aligned within the physical-address width.
// VMfailValid(7).
func (v *CPU) checkVMFuncControls(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	sec := v.secondary()
	if sec&proc2VMFunc != 0 {
		ctls := v.field(encVMFuncCtls)
		if extra := ctls &^ v.caps.msrs.get(msr.VMXVMFunc); extra != 0 {
			return v.entryFail(insn, ErrEntryInvalidControl, encVMFuncCtls, ctls,
				fmt.Sprintf("VM-function control bit %d is reserved (IA32_VMX_VMFUNC allows %#x)", lowBit64(extra), v.caps.msrs.get(msr.VMXVMFunc)), sdm), true
		}
		if ctls&vmfuncEPTPSwitch != 0 {
			if sec&proc2EPT == 0 {
				return v.entryFail(insn, ErrEntryInvalidControl, encVMFuncCtls, ctls,
					"\"EPTP switching\" (VM-function control 0) requires \"enable EPT\" (secondary control 1)", sdm), true
			}
			if a := v.field(encEPTPList); !v.pageAddrOK(a) {
				return v.entryFail(insn, ErrEntryInvalidControl, encEPTPList, a,
					fmt.Sprintf("with \"EPTP switching\" the EPTP-list address must be 4-KByte aligned (bits 11:0 clear) and within %d bits", v.physWidth()), sdm), true
			}
		}
	}
	return Outcome{}, false
}

// checkVEControls is the rule of SDM Vol. 3C 27.2.1.1 for EPT-violation
// #VE, in its order (after VMCS shadowing's): the
// virtualization-exception information address is 4-KByte aligned
// within the physical-address width. VMfailValid(7).
func (v *CPU) checkVEControls(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	if v.secondary()&proc2EPTVE != 0 {
		if a := v.field(encVEInfoAddr); !v.pageAddrOK(a) {
			return v.entryFail(insn, ErrEntryInvalidControl, encVEInfoAddr, a,
				fmt.Sprintf("with \"EPT-violation #VE\" the virtualization-exception information address must be 4-KByte aligned (bits 11:0 clear) and within %d bits", v.physWidth()), sdm), true
		}
	}
	return Outcome{}, false
}

func lowBit64(x uint64) int {
	for b := 0; b < 64; b++ {
		if x>>b&1 != 0 {
			return b
		}
	}
	return -1
}

// EPTControls are the VM-execution controls in force that change the EPT
// walk: mode-based execute control (secondary control 22) and a full
// page-modification log ("enable PML" with the PML index outside 0-511,
// SDM Vol. 3C 29.3.6).
func (v *CPU) EPTControls() ept.Controls {
	sec := v.secondary()
	return ept.Controls{
		MBEC:    sec&proc2MBEC != 0,
		LogFull: sec&proc2PML != 0 && v.field(encPMLIndex) > 511,
	}
}

// PMLOn reports whether "enable PML" is in force.
func (v *CPU) PMLOn() bool { return v.secondary()&proc2PML != 0 }

// PMLLog logs a guest-physical access that set an EPT dirty flag (SDM
// Vol. 3C 29.3.6): the address with bits 11:0 cleared goes to the PML
// address plus 8 times the PML index, and the index is decremented (from
// 0 it wraps to FFFFH, after which the next A/D update is a log-full
// event). It returns the entry's physical address, or ok=false when the
// index was out of range (the walk stops first: ept.LogFull) or memory
// did not answer.
func (v *CPU) PMLLog(gpa uint64, mem Phys) (at uint64, index uint16, ok bool) {
	idx := v.field(encPMLIndex)
	if v.secondary()&proc2PML == 0 || idx > 511 {
		return 0, uint16(idx), false
	}
	at = v.field(encPMLAddr) + 8*idx
	var b [8]byte
	binary.LittleEndian.PutUint64(b[:], gpa&^0xFFF)
	if !mem.WritePhys(at, b[:]) {
		return at, uint16(idx), false
	}
	v.setField(encPMLIndex, uint64(uint16(idx-1)))
	return at, uint16(idx), true
}

// VMFUNCOutcome is what VMFUNC does in VMX non-root operation.
type VMFUNCOutcome struct {
	// UD: VMFUNC is #UD ("enable VM functions" is 0, or EAX >= 64).
	UD *arch.Fault
	// Exit: a VM exit with reason 59 (the function is not enabled, or
	// EPTP switching refused the index or the EPTP).
	Exit bool
	// EPTP is the new EPTP of an EPTP switch (Exit false, UD nil), Index
	// the list index it came from.
	EPTP  uint64
	Index uint16
	// Why explains the #UD or the VM exit, naming the rule.
	Why string
}

// VMFUNC runs VMFUNC (0F 01 D4) in VMX non-root operation with EAX and
// ECX, in the order of its "Operation" section (SDM Vol. 2 VMFUNC; Vol.
// 3C 26.5.5): #UD when "enable VM functions" is 0 or EAX >= 64; a VM exit
// when VM-function control EAX is 0; then the function — only EPTP
// switching (0) exists: ECX >= 512, or an EPTP-list entry that VM entry
// would reject (27.2.1.1's EPTP checks), is a VM exit; otherwise the entry
// becomes the EPTP field and, on a processor that allows "EPT-violation
// #VE", ECX[15:0] the EPTP index (26.5.5.3). The core switches the
// translation context to the new EPTP.
func (v *CPU) VMFUNC(eax, ecx uint64, mem Phys) VMFUNCOutcome {
	if v.secondary()&proc2VMFunc == 0 {
		f := arch.UDFault("VMFUNC with \"enable VM functions\" (secondary control 13) = 0", "Vol. 2B VMFUNC; "+sdmVMFunc)
		return VMFUNCOutcome{UD: &f, Why: f.Rule}
	}
	if eax >= 64 {
		f := arch.UDFault(fmt.Sprintf("VMFUNC with EAX = %#x: there are 64 VM functions (EAX < 64)", eax), "Vol. 2B VMFUNC; "+sdmVMFunc)
		return VMFUNCOutcome{UD: &f, Why: f.Rule}
	}
	if v.field(encVMFuncCtls)>>eax&1 == 0 {
		return VMFUNCOutcome{Exit: true, Why: fmt.Sprintf("VM function %d is not enabled (VM-function control %d is 0) (SDM %s)", eax, eax, sdmVMFunc)}
	}
	// EAX = 0, EPTP switching: the only VM function IA32_VMX_VMFUNC can
	// allow (the entry check keeps the others 0).
	const sdm = "Vol. 3C 26.5.5.3"
	if ecx >= 512 {
		return VMFUNCOutcome{Exit: true, Why: fmt.Sprintf("EPTP switching with ECX = %#x: the EPTP list has 512 entries (SDM %s)", ecx, sdm)}
	}
	at := v.field(encEPTPList) + 8*ecx
	var b [8]byte
	if !mem.ReadPhys(at, b[:]) {
		return VMFUNCOutcome{Exit: true, Why: fmt.Sprintf("EPTP switching: EPTP-list entry %d at %#x is outside memory (SDM %s)", ecx, at, sdm)}
	}
	eptp := binary.LittleEndian.Uint64(b[:])
	if why := v.caps.EPT().CheckEPTP(eptp); why != "" {
		return VMFUNCOutcome{Exit: true, Why: fmt.Sprintf("EPTP switching: EPTP-list entry %d (%#x) would fail VM entry: %s (SDM %s, 27.2.1.1)", ecx, eptp, why, sdm)}
	}
	v.setField(encEPTP, eptp)
	if v.caps.allowed(proc2(18)) {
		v.setField(encEPTPIndex, ecx&0xFFFF)
	}
	return VMFUNCOutcome{EPTP: eptp, Index: uint16(ecx)}
}

// EPTPIndex is the EPTP-index field (0 on a processor without
// "EPT-violation #VE").
func (v *CPU) EPTPIndex() uint64 { return v.field(encEPTPIndex) }

// VEOn reports whether "EPT-violation #VE" is in force.
func (v *CPU) VEOn() bool { return v.secondary()&proc2EPTVE != 0 }

// Virtualization-exception information area offsets (SDM Vol. 3C 26.5.6.2,
// Table 26-1).
const (
	veExitReason = 0  // 32 bits: 48, an EPT violation
	veSemaphore  = 4  // 32 bits: FFFFFFFFH once written
	veQual       = 8  // exit qualification
	veLinear     = 16 // guest-linear address
	vePhysical   = 24 // guest-physical address
	veEPTPIndex  = 32 // 16 bits: the EPTP index
)

// DeliverVE decides whether a convertible EPT violation becomes a
// virtualization exception (SDM Vol. 3C 26.5.6.1) once the core has
// found CR0.PE = 1 and no event being delivered: "EPT-violation #VE" is 1
// and the 32 bits at offset 4 of the virtualization-exception
// information area are 0. If so it saves the information of 26.5.6.2
// (exit reason 48, FFFFFFFFH at offset 4, the exit qualification, the
// guest-linear and guest-physical addresses, the EPTP index) and returns
// true: the core raises #VE (vector 20). why says why not otherwise.
func (v *CPU) DeliverVE(qual, linear, gpa uint64, mem Phys) (ok bool, area uint64, why string) {
	if !v.VEOn() {
		return false, 0, ""
	}
	area = v.field(encVEInfoAddr)
	var b [40]byte
	if !mem.ReadPhys(area+veSemaphore, b[veSemaphore:veSemaphore+4]) {
		return false, area, fmt.Sprintf("the virtualization-exception information area at %#x is outside memory", area)
	}
	if sem := binary.LittleEndian.Uint32(b[veSemaphore:]); sem != 0 {
		return false, area, fmt.Sprintf("the virtualization-exception information area at %#x has %#x at offset 4 (a #VE is already pending): a VM exit instead (SDM %s)", area, sem, sdmVE)
	}
	binary.LittleEndian.PutUint32(b[veExitReason:], ExitEPTViolate)
	binary.LittleEndian.PutUint32(b[veSemaphore:], 0xFFFFFFFF)
	binary.LittleEndian.PutUint64(b[veQual:], qual)
	binary.LittleEndian.PutUint64(b[veLinear:], linear)
	binary.LittleEndian.PutUint64(b[vePhysical:], gpa)
	binary.LittleEndian.PutUint16(b[veEPTPIndex:], uint16(v.field(encEPTPIndex)))
	if !mem.WritePhys(area, b[:veEPTPIndex+2]) {
		return false, area, fmt.Sprintf("the virtualization-exception information area at %#x is outside memory", area)
	}
	return true, area, ""
}

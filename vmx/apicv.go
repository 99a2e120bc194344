package vmx

import "fmt"

// APIC virtualization (SDM Vol. 3C chapter 30, "APIC Virtualization and
// Virtual Interrupts" — chapter 29 in older editions; 25.6.8 "Controls for
// APIC Virtualization"; 27.2.1.1): the controls beyond the TPR shadow
// (tpr.go), their VM-entry checks, and the memory-mapped virtualization
// vmxemu honours: "virtualize APIC accesses" (secondary control 0) with
// the APIC-access page (field 2014H), whose accesses either cause
// APIC-access VM exits (reason 44) or, with "use TPR shadow", reach VTPR
// on the virtual-APIC page (30.4.2, 30.4.3 with "APIC-register
// virtualization" and "virtual-interrupt delivery" 0); and "virtualize
// x2APIC mode" (secondary control 4), under which RDMSR and WRMSR of the
// TPR MSR reach VTPR (30.5). The core (cpu/vmx_apicv.go) sees the memory
// accesses on its physical path, the MSR accesses in RDMSR/WRMSR.

// Exit reason 44 (Appendix C).
const ExitAPICAccess = 44

// The controls of APIC virtualization (Tables 25-5 and 25-7).
const (
	Proc2VirtualizeAPICAccesses = 1 << 0
	Proc2VirtualizeX2APICMode   = 1 << 4
	Proc2APICRegisterVirt       = 1 << 8
	Proc2VirtualIntrDelivery    = 1 << 9

	encAPICAccessAddr = 0x2014
)

// The access types of an APIC-access VM exit's qualification (Table 28-6,
// bits 15:12): linear accesses for a data read or write during
// instruction execution, an instruction fetch, or during event delivery;
// guest-physical accesses during event delivery or otherwise.
const (
	APICAccessLinearRead     = 0
	APICAccessLinearWrite    = 1
	APICAccessLinearFetch    = 2
	APICAccessLinearEvent    = 3
	APICAccessGuestPhysEvent = 10
	APICAccessGuestPhysInsn  = 15
)

// APICAccessQualification is the exit qualification of an APIC-access VM
// exit from a linear or guest-physical access (Table 28-6): the page
// offset in bits 11:0 (for a linear access; vmxemu also gives it for a
// guest-physical one, where the SDM leaves it undefined) and the access
// type in bits 15:12.
func APICAccessQualification(offset uint64, accessType uint64) uint64 {
	return offset&0xFFF | accessType<<12
}

// apicAccessFields reads the APIC-access address into x when "virtualize
// APIC accesses" is 1 (and the secondary controls are activated).
func (v *CPU) apicAccessFields(x *InsnIntercepts) {
	if x.Proc2&Proc2VirtualizeAPICAccesses != 0 {
		x.APICAccess = v.field(encAPICAccessAddr)
	}
}

// APICAccessFrame is the frame number of the APIC-access page plus one,
// or 0 without "virtualize APIC accesses": one comparison on the core's
// slow physical path.
func (x *InsnIntercepts) APICAccessFrame() uint64 {
	if x.Proc2&Proc2VirtualizeAPICAccesses == 0 {
		return 0
	}
	return x.APICAccess>>12 + 1
}

// apicRegVirtualized reports whether "APIC-register virtualization" lets
// an access to the 32-bit register at page offset reg (the low 4 bytes of
// a 16-byte region) through to the virtual-APIC page (SDM Vol. 3C 30.4.2
// for reads, 30.4.3.1 for writes): the local APIC ID (020H), TPR (080H),
// EOI (0B0H), LDR (0D0H), DFR (0E0H), SVR (0F0H), ESR (280H), ICR (300H,
// 310H), the LVT (320H-370H), initial count (380H) and divide
// configuration (3E0H) both ways; the version (030H) and ISR, TMR and
// IRR (100H-270H) for reads only.
func apicRegVirtualized(reg uint64, write bool) bool {
	switch {
	case reg == 0x020, reg == 0x080, reg >= 0x0B0 && reg <= 0x0F0 && reg != 0x0C0,
		reg == 0x280, reg >= 0x300 && reg <= 0x380, reg == 0x3E0:
		return true
	case reg == 0x030, reg >= 0x100 && reg < 0x280:
		return !write
	}
	return false
}

// APICAccessVirtualized is SDM Vol. 3C 30.4.2 (reads) and 30.4.3.1
// (writes) for "virtual-interrupt delivery" 0, the setting vmxemu offers:
// a linear data access of size bytes at page offset off is virtualized —
// it reaches the same offset on the virtual-APIC page — only with "use
// TPR shadow", when it lies within the low 4 bytes of its naturally
// aligned 16-byte region (so at most 32 bits), and then: without
// "APIC-register virtualization", when its page offset is 080H (task
// priority; 081H-083H are not); with it, when its register is in the
// table of registers virtualized for reads or for writes. Every other
// access causes an APIC-access VM exit (instruction fetches are never
// virtualized: the core does not ask for them).
func (x *InsnIntercepts) APICAccessVirtualized(off uint64, size int, write bool) bool {
	if x.Proc&ProcUseTPRShadow == 0 {
		return false
	}
	if off&0xF+uint64(size) > 4 {
		return false
	}
	if x.Proc2&Proc2APICRegisterVirt == 0 {
		if write && x.VID() {
			return off == VTPROffset || off == VEOIOffset || off == VICRLoOffset
		}
		return off == VTPROffset
	}
	return apicRegVirtualized(off&^0xF, write)
}

// APIC-write emulation (SDM Vol. 3C 30.4.3.2) after a virtualized write,
// by page offset.
const (
	// APICWriteTPR: 080H-083H: bytes 3:1 of VTPR are cleared, then TPR
	// virtualization (30.1.2).
	APICWriteTPR = iota
	// APICWriteICRHigh: 310H-313H: bytes 2:0 of VICR_HI are cleared,
	// nothing else.
	APICWriteICRHigh
	// APICWriteEOI: 0B0H-0B3H: with "virtual-interrupt delivery", EOI
	// virtualization (30.1.4); without it, an APIC-write VM exit.
	APICWriteEOI
	// APICWriteICRLow: 300H-303H: with "virtual-interrupt delivery",
	// self-IPI virtualization when SelfIPIVirtualized; otherwise an
	// APIC-write VM exit.
	APICWriteICRLow
	// APICWriteExit: every other offset: an APIC-write VM exit (reason
	// 56, trap-like, the offset as its qualification, 30.4.3.3).
	APICWriteExit
)

// ExitAPICWrite is exit reason 56 (Appendix C).
const ExitAPICWrite = 56

// APICWriteEmulation classifies the APIC-write emulation of a virtualized
// write at page offset off.
func APICWriteEmulation(off uint64) int {
	switch off &^ 3 {
	case VTPROffset:
		return APICWriteTPR
	case 0x310:
		return APICWriteICRHigh
	case VEOIOffset:
		return APICWriteEOI
	case VICRLoOffset:
		return APICWriteICRLow
	}
	return APICWriteExit
}

// checkAPICVirtControls is the part of SDM Vol. 3C 27.2.1.1 after the NMI
// controls about APIC virtualization, in its order: the APIC-access
// address with "virtualize APIC accesses" (4-KiB aligned, within the
// physical-address width); "virtualize x2APIC mode" excludes "virtualize
// APIC accesses"; "virtual-interrupt delivery" needs "external-interrupt
// exiting"; then the posted-interrupt rules (checkPostedIntrs). Failures
// are VMfailValid(7).
func (v *CPU) checkAPICVirtControls(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	sec := v.secondary()
	if sec&Proc2VirtualizeAPICAccesses != 0 {
		a, width := v.field(encAPICAccessAddr), v.physWidth()
		if a&0xFFF != 0 || a>>width != 0 {
			return v.entryFail(insn, ErrEntryInvalidControl, encAPICAccessAddr, a,
				fmt.Sprintf("with \"virtualize APIC accesses\" the APIC-access address must be 4-KiB aligned and within %d bits", width), sdm), true
		}
	}
	if sec&Proc2VirtualizeX2APICMode != 0 && sec&Proc2VirtualizeAPICAccesses != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
			"\"virtualize x2APIC mode\" (bit 4) and \"virtualize APIC accesses\" (bit 0) must not both be 1", sdm), true
	}
	if sec&Proc2VirtualIntrDelivery != 0 && v.field(encPinCtls)&pinExtIntExiting == 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
			"\"virtual-interrupt delivery\" (bit 9) needs the \"external-interrupt exiting\" pin-based control", sdm), true
	}
	return v.checkPostedIntrs(insn)
}

// MSRX2APICTPR is the x2APIC TPR MSR (SDM Vol. 3A Table 11-6: MMIO offset
// 080H).
const MSRX2APICTPR = 0x808

// X2APICVirtualized is SDM Vol. 3C 30.5: under "virtualize x2APIC mode",
// an RDMSR or WRMSR that neither faults nor exits is virtualized, whether
// or not the local APIC is in x2APIC mode, for ECX = 808H (the TPR);
// with "APIC-register virtualization", for an RDMSR of any ECX in
// 800H-8FFH (it reads the 8 bytes at offset (ECX & FFH) << 4 of the
// virtual-APIC page); with "virtual-interrupt delivery", for a WRMSR of
// 80BH (EOI) or 83FH (self IPI). Every other MSR operates normally.
func (x *InsnIntercepts) X2APICVirtualized(idx uint32, write bool) bool {
	if x.Proc2&Proc2VirtualizeX2APICMode == 0 {
		return false
	}
	if !write && x.Proc2&Proc2APICRegisterVirt != 0 && idx>>8 == 0x8 {
		return true
	}
	if write && x.VID() && (idx == MSRX2APICEOI || idx == MSRX2APICSelfIPI) {
		return true
	}
	return idx == MSRX2APICTPR
}

// Virtual-interrupt delivery (secondary control 9; SDM Vol. 3C 30.1.3-30.1.5,
// 30.2): the guest interrupt status (RVI in bits 7:0, SVI in 15:8) loaded
// at VM entry and saved at VM exit, and the EOI-exit bitmaps.
const (
	encGuestIntrStatus = 0x0810
	encEOIExitBitmap0  = 0x201C

	// ExitVirtualizedEOI is exit reason 45 (Appendix C): EOI
	// virtualization of a vector whose EOI-exit bitmap bit is 1.
	ExitVirtualizedEOI = 45

	// The virtual-APIC page's registers that virtual-interrupt delivery
	// uses (30.1.1): VPPR, VEOI, VISR and VIRR (eight 32-bit words every
	// 16 bytes), VICR low, the self-IPI register of x2APIC mode.
	VPPROffset    = 0x0A0
	VEOIOffset    = 0x0B0
	VISROffset    = 0x100
	VIRROffset    = 0x200
	VICRLoOffset  = 0x300
	SelfIPIOffset = 0x3F0

	MSRX2APICEOI     = 0x80B
	MSRX2APICSelfIPI = 0x83F
)

// VID reports whether "virtual-interrupt delivery" is 1.
func (x *InsnIntercepts) VID() bool { return x.Proc2&Proc2VirtualIntrDelivery != 0 }

// vidFields reads the guest interrupt status and the EOI-exit bitmaps into
// x with "virtual-interrupt delivery" (27.3.2.5).
func (v *CPU) vidFields(x *InsnIntercepts) {
	if x.VID() {
		x.GuestIntrStatus = uint16(v.field(encGuestIntrStatus))
		for i := range x.EOIExitBitmap {
			x.EOIExitBitmap[i] = v.field(encEOIExitBitmap0 + uint32(2*i))
		}
	}
}

// EOIExits reports whether EOI virtualization of vector vec exits (its bit
// in the EOI-exit bitmaps, 30.1.4).
func (x *InsnIntercepts) EOIExits(vec uint8) bool {
	return x.EOIExitBitmap[vec>>6]>>(vec&63)&1 != 0
}

// SaveGuestIntrStatus stores RVI and SVI in the guest interrupt status
// field at a VM exit with "virtual-interrupt delivery" (28.3.3).
func (v *CPU) SaveGuestIntrStatus(rvi, svi uint8) {
	v.setField(encGuestIntrStatus, uint64(svi)<<8|uint64(rvi))
}

// SelfIPIVirtualized is 30.4.3.2 for a virtualized write of VICR_LO (300H)
// with "virtual-interrupt delivery": self-IPI virtualization with the
// vector in bits 7:0 happens when the reserved bits (31:20, 17:16, 13),
// the delivery status (12), the trigger mode (15) and the delivery mode
// (10:8) are 0, the destination shorthand (19:18) is 01B (self), and bits
// 7:4 of the vector are not 0; otherwise an APIC-write VM exit.
func SelfIPIVirtualized(icrLo uint32) bool {
	return icrLo&0xFFF3B700 == 0 && icrLo>>18&3 == 1 && icrLo&0xF0 != 0
}

// Posted-interrupt processing (pin-based control 7, "process posted
// interrupts"; SDM Vol. 3C 30.6): the notification vector and the
// descriptor (256 bits of PIR, then the outstanding-notification bit ON
// at bit 256), a physical address.
const (
	PinProcessPostedIntrs = 1 << 7

	encPINotificationVector = 0x0002
	encPIDescAddr           = 0x2016
)

// postedFields reads the notification vector and the descriptor address
// into x with "process posted interrupts".
func (v *CPU) postedFields(x *InsnIntercepts) {
	if v.field(encPinCtls)&PinProcessPostedIntrs != 0 {
		x.PostedIntrs = true
		x.PINotificationVector = uint8(v.field(encPINotificationVector))
		x.PIDescAddr = v.field(encPIDescAddr)
	}
}

// checkPostedIntrs is the part of SDM Vol. 3C 27.2.1.1 after the
// "virtual-interrupt delivery" rule: with "process posted interrupts",
// "virtual-interrupt delivery" and the "acknowledge interrupt on exit"
// VM-exit control are 1, bits 15:8 of the notification vector are 0, and
// the descriptor address is 64-byte aligned and within the
// physical-address width. Failures are VMfailValid(7).
func (v *CPU) checkPostedIntrs(insn Insn) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	pin := v.field(encPinCtls)
	if pin&PinProcessPostedIntrs == 0 {
		return Outcome{}, false
	}
	if sec := v.secondary(); sec&Proc2VirtualIntrDelivery == 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encPinCtls, pin,
			"\"process posted interrupts\" (bit 7) needs \"virtual-interrupt delivery\"", sdm), true
	}
	if exit := v.field(encExitCtls); exit&exitAckIntOnExit == 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encExitCtls, exit,
			"\"process posted interrupts\" needs the \"acknowledge interrupt on exit\" VM-exit control (bit 15)", sdm), true
	}
	if nv := v.field(encPINotificationVector); nv>>8 != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encPINotificationVector, nv,
			"bits 15:8 of the posted-interrupt notification vector must be 0", sdm), true
	}
	a, width := v.field(encPIDescAddr), v.physWidth()
	if a&0x3F != 0 || a>>width != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encPIDescAddr, a,
			fmt.Sprintf("the posted-interrupt descriptor address must be 64-byte aligned and within %d bits", width), sdm), true
	}
	return Outcome{}, false
}

package vmx

import "fmt"

// The TPR shadow and CR8 exiting (SDM Vol. 3C 25.6.2 bits 19-21, 25.6.8
// "Controls for APIC Virtualization", 27.2.1.1, 29.1.1-29.1.2, 29.3): the
// controls' fields read at VM entry, their VM-entry checks, and the
// virtual-APIC page's TPR (VTPR) as MOV to/from CR8 uses it. Without
// "virtual-interrupt delivery" (which vmxemu does not offer) the TPR
// shadow is exactly this: MOV CR8 — and, with "virtualize APIC accesses"
// (apicv.go), accesses to offset 080H of the APIC-access page — read and
// write VTPR, and a write that brings VTPR[7:4] below the TPR threshold
// causes a trap-like VM exit (reason 43). The core (cpu/vmx_tpr.go)
// decides in MOV CR8's own handler.

// Exit reason 43 (Appendix C).
const ExitTPRBelowThreshold = 43

// The controls (Table 25-6) and fields (Appendix B) of the TPR shadow.
const (
	ProcCR8LoadExiting  = 1 << 19
	ProcCR8StoreExiting = 1 << 20
	ProcUseTPRShadow    = 1 << 21

	encVirtualAPICAddr = 0x2012
	encTPRThreshold    = 0x401C

	// VTPROffset is the offset of VTPR, the virtual task-priority
	// register, in the virtual-APIC page (29.1.1).
	VTPROffset = 0x80
)

// tprShadowFields reads the virtual-APIC address and the TPR threshold
// into x when "use TPR shadow" is 1.
func (v *CPU) tprShadowFields(x *InsnIntercepts) {
	if x.Proc&ProcUseTPRShadow != 0 {
		x.VirtualAPIC = v.field(encVirtualAPICAddr)
		x.TPRThreshold = uint32(v.field(encTPRThreshold))
	}
}

// VTPRAddr is the physical address of VTPR (valid with "use TPR shadow").
func (x *InsnIntercepts) VTPRAddr() uint64 { return x.VirtualAPIC + VTPROffset }

// TPRBelowThreshold is TPR virtualization without "virtual-interrupt
// delivery" (SDM Vol. 3C 29.1.2): after an operation that writes VTPR, a
// VM exit with reason 43 occurs when VTPR[7:4] is below bits 3:0 of the
// TPR threshold.
func (x *InsnIntercepts) TPRBelowThreshold(vtpr uint32) bool {
	return vtpr>>4&0xF < x.TPRThreshold&0xF
}

// checkTPRShadow is the part of SDM Vol. 3C 27.2.1.1 about the TPR
// shadow, in the SDM's order (after the MSR-bitmap address, before the
// NMI controls): with "use TPR shadow", the virtual-APIC address is 4-KiB
// aligned and within the physical-address width; with "virtual-interrupt
// delivery" 0, bits 31:4 of the TPR threshold are 0; with "virtualize
// APIC accesses" also 0, bits 3:0 of the TPR threshold are not greater
// than VTPR[7:4], read from the virtual-APIC page (with "virtualize APIC
// accesses" 1 the comparison is instead a VM exit after VM entry,
// 27.7.7: AfterEntryTPRBelow). Without "use TPR shadow", "virtualize
// x2APIC mode", "APIC-register virtualization" and "virtual-interrupt
// delivery" are 0. The SDM lets VM entry clear bytes 3:1 of VTPR here
// ("may be cleared"); vmxemu leaves them. Failures are VMfailValid(7).
func (v *CPU) checkTPRShadow(insn Insn, mem Phys) (Outcome, bool) {
	const sdm = "Vol. 3C 27.2.1.1"
	sec := v.secondary()
	if v.field(encProcCtls)&ProcUseTPRShadow == 0 {
		if bad := sec & (Proc2VirtualizeX2APICMode | Proc2APICRegisterVirt | Proc2VirtualIntrDelivery); bad != 0 {
			return v.entryFail(insn, ErrEntryInvalidControl, encProcCtls2, sec,
				"without \"use TPR shadow\", \"virtualize x2APIC mode\" (bit 4), \"APIC-register virtualization\" (bit 8) and \"virtual-interrupt delivery\" (bit 9) must be 0", sdm), true
		}
		return Outcome{}, false
	}
	a, width := v.field(encVirtualAPICAddr), v.physWidth()
	if !v.pageAddrOK(a) { // eptfeatures.go
		return v.entryFail(insn, ErrEntryInvalidControl, encVirtualAPICAddr, a,
			fmt.Sprintf("with \"use TPR shadow\" the virtual-APIC address must be 4-KiB aligned and within %d bits", width), sdm), true
	}
	if sec&Proc2VirtualIntrDelivery != 0 {
		return Outcome{}, false
	}
	th := v.field(encTPRThreshold)
	if th>>4 != 0 {
		return v.entryFail(insn, ErrEntryInvalidControl, encTPRThreshold, th,
			"with \"use TPR shadow\" and \"virtual-interrupt delivery\" = 0, bits 31:4 of the TPR threshold must be 0", sdm), true
	}
	if sec&Proc2VirtualizeAPICAccesses != 0 {
		return Outcome{}, false
	}
	var b [1]byte
	if mem == nil || !mem.ReadPhys(a+VTPROffset, b[:]) {
		// Nothing answers at the virtual-APIC page: it reads as all 1s,
		// as unbacked physical memory does.
		b[0] = 0xFF
	}
	if vtpr := uint64(b[0]); th&0xF > vtpr>>4 {
		return v.entryFail(insn, ErrEntryInvalidControl, encTPRThreshold, th,
			fmt.Sprintf("with \"use TPR shadow\" = 1 and \"virtualize APIC accesses\" and \"virtual-interrupt delivery\" = 0, bits 3:0 of the TPR threshold must not exceed VTPR[7:4] (%d: VTPR at %#x is %#x)", vtpr>>4, a+VTPROffset, vtpr), sdm), true
	}
	return Outcome{}, false
}

// AfterEntryTPRBelow is SDM Vol. 3C 27.7.7: with "use TPR shadow" and
// "virtualize APIC accesses" 1 and "virtual-interrupt delivery" 0, a VM
// exit (reason 43) follows VM entry when bits 3:0 of the TPR threshold
// exceed VTPR[7:4] (the case the entry check leaves out).
func (x *InsnIntercepts) AfterEntryTPRBelow(vtpr uint32) bool {
	return x.Proc&ProcUseTPRShadow != 0 && x.Proc2&Proc2VirtualizeAPICAccesses != 0 &&
		x.Proc2&Proc2VirtualIntrDelivery == 0 && x.TPRBelowThreshold(vtpr)
}

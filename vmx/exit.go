package vmx

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
)

// Leaving the guest for the host: the host-state load of a VM exit (SDM
// Vol. 3C 28.5), used today by VM-entry failures (28.8), which load host
// state as a VM exit does.

// Exit-information field encodings (Appendix B.3.2, B.4.2).
const (
	encExitReason = 0x4402
	encExitQual   = 0x6400
)

// Exit reasons (SDM Vol. 3C Appendix C).
const (
	ExitInvalidGuestState = 33
	ExitMSRLoading        = 34
)

// EntryFailed is the outcome of a VM entry that failed while checking or
// loading the guest state: the processor is back in the host (HostState).
const EntryFailed Kind = 10

// failEntry records a VM-entry failure in the current VMCS (exit reason
// with bit 31 set, exit qualification; SDM Vol. 3C 28.8) and returns its
// outcome.
func (v *CPU) failEntry(insn Insn, reason uint64, g *GuestFailure) Outcome {
	v.setField(encExitReason, reason|1<<31)
	v.setField(encExitQual, g.Qualification)
	return Outcome{Insn: insn, Kind: EntryFailed, Check: g,
		Why: fmt.Sprintf("VM-entry failure, exit reason %d (%s) with bit 31 set, exit qualification %d: %s", reason, entryFailureName(reason), g.Qualification, g)}
}

// setField writes a field of the current VMCS by its full encoding.
func (v *CPU) setField(enc uint32, val uint64) {
	if s := v.caps.slotOf(enc); s >= 0 {
		v.cur.vals[s] = val
		v.cur.gen[v.caps.class[s]]++
	}
}

// The fields LoadHostState reads, as indices into Caps.hostSlots: the
// VM-exit controls and the host-state area (SDM Vol. 3C 24.5, 28.5).
const (
	hsExitCtls = iota
	hsCR0
	hsCR3
	hsCR4
	hsSysCS
	hsSysESP
	hsSysEIP
	hsPAT
	hsEFER
	hsSelES            // the selectors of ES, CS, SS, DS, FS, GS (arch.ES ... arch.GS) and TR
	hsSelTR = iota + 5 // hsSelES + 6
	hsFSBase
	hsGSBase
	hsTRBase
	hsGDTRBase
	hsIDTRBase
	hsRIP
	hsRSP
	hsCount
)

// resolveHostSlots resolves the slots of the fields LoadHostState reads
// (the hs* indices), -1 for a field the processor does not have: every VM
// exit loads host state, by slot rather than by encoding.
func (c *Caps) resolveHostSlots() (q [hsCount]int16) {
	encs := [hsCount]uint32{hsExitCtls: encExitCtls, hsCR0: encHostCR0, hsCR3: encHostCR3, hsCR4: encHostCR4,
		hsSysCS: encHostSysCS, hsSysESP: encHostSysESP, hsSysEIP: encHostSysEIP, hsPAT: encHostPAT, hsEFER: encHostEFER,
		hsSelTR: encHostSelTR, hsFSBase: encHostFSBase, hsGSBase: encHostGSBase, hsTRBase: encHostTRBase,
		hsGDTRBase: encHostGDTRBase, hsIDTRBase: encHostIDTRBase, hsRIP: encHostRIP, hsRSP: encHostRSP}
	for i := range 6 {
		encs[hsSelES+i] = encHostSelES + uint32(2*i)
	}
	for i, enc := range encs {
		q[i] = int16(c.slotOf(enc))
	}
	return q
}

// LoadHostState applies the host-state load of a VM exit (SDM Vol. 3C
// 28.5.1-28.5.3) to s in place: control registers, the SYSENTER MSRs,
// segment and descriptor-table registers, RIP, RSP and RFLAGS from the
// host-state area. The MSRs the core holds (PAT, EFER) follow the VM-exit
// controls. Fields are read by slot (Caps.hostSlots, resolveHostSlots).
func (v *CPU) LoadHostState(s *arch.State) {
	hs, f := v.caps.hostSlots, fieldVals(v.cur.vals) // local copies, as in LoadGuestState
	exit := f.at(hs[hsExitCtls])
	long := exit&exitHostAddrSpace != 0
	// 28.5.1: CR0 keeps ET, CD, NW and bits 28:19, 17, 15:6; CR3 and CR4
	// take the host values. DR7 = 400H.
	const keep0 = 0x1FF80000 | 1<<17 | 0xFFC0 | arch.CR0ET | arch.CR0CD | arch.CR0NW
	s.CR0 = s.CR0&keep0 | f.at(hs[hsCR0])&^keep0
	s.CR3 = f.at(hs[hsCR3])
	s.CR4 = f.at(hs[hsCR4])
	s.DR[7] = 0x400
	s.SysenterCS = f.at(hs[hsSysCS])
	s.SysenterESP = f.at(hs[hsSysESP])
	s.SysenterEIP = f.at(hs[hsSysEIP])
	if exit&exitLoadPAT != 0 {
		s.PAT = f.at(hs[hsPAT])
	}
	if exit&exitLoadEFER != 0 {
		s.EFER = f.at(hs[hsEFER])
	} else if long {
		s.EFER |= arch.EFERLMA | arch.EFERLME
	} else {
		s.EFER &^= arch.EFERLMA | arch.EFERLME
	}
	// 28.5.2: segment and descriptor-table registers.
	csAttr := uint32(arch.ARP | arch.ARS | 11 | arch.ARG)
	if long {
		csAttr |= arch.ARL
	} else {
		csAttr |= arch.ARDB
	}
	s.Seg[arch.CS] = arch.Segment{Selector: uint16(f.at(hs[hsSelES+arch.CS])), Limit: 0xFFFFFFFF, Attr: csAttr}
	data := uint32(arch.ARP | arch.ARS | 3 | arch.ARDB | arch.ARG)
	for _, i := range [...]int{arch.SS, arch.DS, arch.ES, arch.FS, arch.GS} {
		sel := uint16(f.at(hs[hsSelES+i]))
		seg := arch.Segment{Selector: sel, Limit: 0xFFFFFFFF, Attr: data}
		if sel == 0 && !(i == arch.SS && long) {
			seg.Attr |= arch.ARUnusable
		}
		switch i {
		case arch.FS:
			seg.Base = f.at(hs[hsFSBase])
		case arch.GS:
			seg.Base = f.at(hs[hsGSBase])
		}
		s.Seg[i] = seg
	}
	s.TR = arch.Segment{Selector: uint16(f.at(hs[hsSelTR])), Base: f.at(hs[hsTRBase]), Limit: 0x67, Attr: arch.ARP | 11}
	s.LDTR = arch.Segment{Attr: arch.ARUnusable}
	s.GDTR = arch.DescTable{Base: f.at(hs[hsGDTRBase]), Limit: 0xFFFF}
	s.IDTR = arch.DescTable{Base: f.at(hs[hsIDTRBase]), Limit: 0xFFFF}
	// 28.5.3: RIP, RSP; RFLAGS cleared but bit 1.
	s.RIP = f.at(hs[hsRIP])
	s.GPR[arch.RSP] = f.at(hs[hsRSP])
	s.RFLAGS = arch.FlagRes1
}

// CurField reads a field of the current VMCS by its full encoding (0 for a
// field the processor does not have), for the core's MSR areas.
func (v *CPU) CurField(enc uint32) uint64 { return v.field(enc) }

// CoreField names a field of the current VMCS that the core reads at
// every VM entry or exit (CoreFieldValue).
type CoreField uint8

// The core's fields: the counts of the VM-entry MSR-load, VM-exit
// MSR-store and VM-exit MSR-load areas (SDM Vol. 3C 24.7.2, 24.8.2), the
// guest's pending debug exceptions (24.4.2).
const (
	CoreEntryMSRLoadCount CoreField = iota
	CoreExitMSRStoreCount
	CoreExitMSRLoadCount
	CorePendingDebug
	// Those Translation reads at every VM entry: the primary and
	// secondary processor-based controls, the EPTP and the VPID.
	coreProcCtls
	coreProcCtls2
	coreEPTP
	coreVPID
	coreFieldCount
)

// coreFieldEnc is the encoding of a CoreField.
func coreFieldEnc(f CoreField) uint32 {
	return [coreFieldCount]uint32{encEntryMSRLdCnt, encExitMSRStCnt, encExitMSRLdCnt, encGuestPendDbg,
		encProcCtls, encProcCtls2, encEPTP, encVPID}[f]
}

// CoreFieldValue is CurField of the field f by its slot, resolved with
// the capabilities (Caps.coreSlots): no lookup of the encoding at every
// transition. The core reads these outside the entry-check groups, whose
// recording field() serves.
func (v *CPU) CoreFieldValue(f CoreField) uint64 {
	return fieldVals(v.cur.vals).at(v.caps.coreSlots[f])
}

// MSR-area field encodings (Appendix B), for the core.
const (
	EncExitMSRStoreCount = encExitMSRStCnt
	EncExitMSRStoreAddr  = encExitMSRStAddr
	EncExitMSRLoadCount  = encExitMSRLdCnt
	EncExitMSRLoadAddr   = encExitMSRLdAddr
	EncEntryMSRLoadCount = encEntryMSRLdCnt
	EncEntryMSRLoadAddr  = encEntryMSRLdAdr
)

// FailEntryMSR records a VM-entry failure in loading MSRs (SDM Vol. 3C
// 27.4, 28.8): exit reason 34 with bit 31 set, the 1-based index of the
// failing entry as the qualification.
func (v *CPU) FailEntryMSR(entry uint64, why string) Outcome {
	v.mode = Root
	return v.failEntry(InsnVMLAUNCH, ExitMSRLoading, &GuestFailure{Qualification: entry, Field: encEntryMSRLdAdr,
		Value: v.field(encEntryMSRLdAdr), Rule: why, SDM: "Vol. 3C 27.4"})
}

// entryFailureName names the exit reasons of a VM-entry failure (SDM Vol.
// 3C Appendix C).
func entryFailureName(reason uint64) string {
	switch reason {
	case ExitMSRLoading:
		return "MSR loading"
	case 41:
		return "machine-check event"
	}
	return "invalid guest state"
}

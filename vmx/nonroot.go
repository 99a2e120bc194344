package vmx

import (
	"github.com/vmxemu/vmxemu/arch"
)

// Entering the guest (SDM Vol. 3C 27.3.2 loading guest state, 27.6 event
// injection) and leaving it (28.2 exit information, 28.3 saving guest
// state, 28.5 loading host state). The core runs the guest; the decisions
// of which instructions and events exit, and what a VM exit records, are
// here and in the core's intercept points (cpu/exec_vmx.go).

// Exit reasons (SDM Vol. 3C Appendix C).
const (
	ExitExceptionNMI = 0
	ExitTripleFault  = 2
	ExitINIT         = 3
	ExitTaskSwitch   = 9
	ExitCPUID        = 10
	ExitINVD         = 13
	ExitVMCALL       = 18
	ExitVMCLEAR      = 19
	ExitVMLAUNCH     = 20
	ExitVMPTRLD      = 21
	ExitVMPTRST      = 22
	ExitVMREAD       = 23
	ExitVMRESUME     = 24
	ExitVMWRITE      = 25
	ExitVMXOFF       = 26
	ExitVMXON        = 27
	ExitCRAccess     = 28
	ExitRDMSR        = 31
	ExitWRMSR        = 32
	ExitXSETBV       = 55
)

// ExitReasonOf is the exit reason of a VMX instruction executed in VMX
// non-root operation (SDM Vol. 3C 26.1.2).
func ExitReasonOf(i Insn) uint32 {
	return [...]uint32{ExitVMXON, ExitVMXOFF, ExitVMCLEAR, ExitVMPTRLD, ExitVMPTRST, ExitVMREAD, ExitVMWRITE,
		ExitVMCALL, ExitVMLAUNCH, ExitVMRESUME, ExitINVEPT, ExitINVVPID}[i]
}

// More field encodings (Appendix B).
const (
	encExitIntrInfo    = 0x4404
	encExitIntrErr     = 0x4406
	encIDTVecInfo      = 0x4408
	encIDTVecErr       = 0x440A
	encExitInsnLen     = 0x440C
	encExitInsnInfo    = 0x440E
	encGuestLinear     = 0x640A
	encGuestRSP        = 0x681C
	encGuestSysCS      = 0x482A
	encExcBitmap       = 0x4004
	encPFMask          = 0x4006
	encPFMatch         = 0x4008
	encCR0Mask         = 0x6000
	encCR4Mask         = 0x6002
	encCR0Shadow       = 0x6004
	encCR4Shadow       = 0x6006
	encCR3Target0      = 0x6008
	exitSaveDebug      = 1 << 2
	procCR3LoadExiting = 1 << 15
	procCR3StoreExit   = 1 << 16
)

// Intercepts are the decisions the core takes in VMX non-root operation,
// computed once at VM entry from the current VMCS (its fields do not
// change while the guest runs: VMWRITE exits).
type Intercepts struct {
	ExceptionBitmap  uint32
	PFMask, PFMatch  uint32
	CR0Mask, CR4Mask uint64
	CR0Shadow        uint64
	CR4Shadow        uint64
	CR3Load          bool
	CR3Store         bool
	CR3Targets       []uint64
	// Insn are the controls of the conditionally exiting instructions
	// (intercept_insn.go).
	Insn   InsnIntercepts
	Events EventControls // events.go
}

// Intercepts fills in x, the core's intercept record, from the current
// VMCS in place (VM entry: no copy of the record; CR3Targets reuses its
// array). The record is a function of VMCS fields alone (and of the
// capability MSRs, constant for a processor), so it goes through a memo
// like the entry-check groups (fastentry.go): when x is the record this
// processor filled last and every field read then still holds its value,
// x already holds the answer and is left as it is. The caller must not
// change x between calls (the core only reads it).
func (v *CPU) Intercepts(x *Intercepts) {
	m := &v.memo.intercepts
	if v.memo.interceptsTo == x && v.memoHit(m, interceptsInsn, [2]uint64{}) {
		return
	}
	start := v.memoBegin()
	v.intercepts(x)
	v.memoEnd(m, start, true, false, interceptsInsn, [2]uint64{})
	v.memo.interceptsTo = x
}

// interceptsInsn is the instruction the intercept memo is kept under: the
// record does not depend on which instruction entered.
const interceptsInsn = InsnVMRESUME

// intercepts is Intercepts without its memo.
func (v *CPU) intercepts(x *Intercepts) {
	proc := v.field(encProcCtls)
	x.ExceptionBitmap = uint32(v.field(encExcBitmap))
	x.PFMask, x.PFMatch = uint32(v.field(encPFMask)), uint32(v.field(encPFMatch))
	x.CR0Mask, x.CR4Mask = v.field(encCR0Mask), v.field(encCR4Mask)
	x.CR0Shadow, x.CR4Shadow = v.field(encCR0Shadow), v.field(encCR4Shadow)
	x.CR3Load, x.CR3Store = proc&procCR3LoadExiting != 0, proc&procCR3StoreExit != 0
	v.insnIntercepts(proc, &x.Insn)
	v.eventControls(&x.Events)
	x.CR3Targets = x.CR3Targets[:0]
	for i := uint64(0); i < v.field(encCR3TargetCnt) && i < 4; i++ {
		x.CR3Targets = append(x.CR3Targets, v.field(encCR3Target0+uint32(2*i)))
	}
}

// ExceptionExits reports whether a hardware exception (or INT3/INTO)
// with vector vec and error code code causes a VM exit: its bit in the
// exception bitmap, and for #PF that bit combined with the error-code
// mask/match test (SDM Vol. 3C 26.2, 25.6.3).
func (x *Intercepts) ExceptionExits(vec uint8, code uint32) bool {
	bit := x.ExceptionBitmap>>vec&1 != 0
	if vec != arch.VecPF {
		return bit
	}
	match := code&x.PFMask == x.PFMatch
	return bit == match
}

// The fields LoadGuestState and SaveGuestState move besides the segment
// registers (Caps.segSlots), as indices into Caps.guestSlots: the
// VM-entry and VM-exit controls, the guest-state area (SDM Vol. 3C 24.4),
// the VM-entry event injection and the exit information (24.9).
const (
	gsEntryCtls = iota
	gsExitCtls
	gsCR0
	gsCR3
	gsCR4
	gsDR7
	gsDebugCtl
	gsSysCS
	gsSysESP
	gsSysEIP
	gsEFER
	gsGDTRBase
	gsGDTRLimit
	gsIDTRBase
	gsIDTRLimit
	gsRIP
	gsRSP
	gsRFLAGS
	gsIntrState
	gsActivity
	gsPendDbg
	gsEntryIntrInfo
	gsEntryExcCode
	gsEntryInsnLen
	gsExitReason
	gsExitQual
	gsExitInsnLen
	gsExitInsnInfo
	gsGuestLinear
	gsExitIntrInfo
	gsExitIntrErr
	gsIDTVecInfo
	gsIDTVecErr
	gsCount
)

// resolveGuestSlots resolves the slots of the gs* fields, -1 for a field
// the processor does not have: every VM entry and VM exit moves them, by
// slot rather than by encoding.
func (c *Caps) resolveGuestSlots() (q [gsCount]int16) {
	encs := [gsCount]uint32{
		gsEntryCtls:     encEntryCtls,
		gsExitCtls:      encExitCtls,
		gsCR0:           encGuestCR0,
		gsCR3:           encGuestCR3,
		gsCR4:           encGuestCR4,
		gsDR7:           encGuestDR7,
		gsDebugCtl:      encGuestDebugCtl,
		gsSysCS:         encGuestSysCS,
		gsSysESP:        encGuestSysESP,
		gsSysEIP:        encGuestSysEIP,
		gsEFER:          encGuestEFER,
		gsGDTRBase:      encGuestGDTRBase,
		gsGDTRLimit:     encGuestGDTRLimit,
		gsIDTRBase:      encGuestIDTRBase,
		gsIDTRLimit:     encGuestIDTRLimit,
		gsRIP:           encGuestRIP,
		gsRSP:           encGuestRSP,
		gsRFLAGS:        encGuestRFLAGS,
		gsIntrState:     encGuestIntrState,
		gsActivity:      encGuestActivity,
		gsPendDbg:       encGuestPendDbg,
		gsEntryIntrInfo: encEntryIntrInfo,
		gsEntryExcCode:  encEntryExcCode,
		gsEntryInsnLen:  encEntryInsnLen,
		gsExitReason:    encExitReason,
		gsExitQual:      encExitQual,
		gsExitInsnLen:   encExitInsnLen,
		gsExitInsnInfo:  encExitInsnInfo,
		gsGuestLinear:   encGuestLinear,
		gsExitIntrInfo:  encExitIntrInfo,
		gsExitIntrErr:   encExitIntrErr,
		gsIDTVecInfo:    encIDTVecInfo,
		gsIDTVecErr:     encIDTVecErr,
	}
	for i, enc := range encs {
		q[i] = int16(c.slotOf(enc))
	}
	return q
}

// GuestEntry is what loading the guest state gives the core beyond the
// architectural registers (SDM Vol. 3C 27.3.2.5, 27.6).
type GuestEntry struct {
	DebugCtl         uint64
	LoadDebugCtl     bool
	BlockingSTI      bool
	BlockingMovSS    bool
	BlockingNMI      bool
	Activity         uint64 // 0 active, 1 HLT, 2 shutdown, 3 wait-for-SIPI
	Inject           bool   // an event is to be injected
	InjectVector     uint8
	InjectType       uint8 // 0 external, 2 NMI, 3 hardware exception, 4 software interrupt, 5 privileged software exception, 6 software exception
	InjectHasErr     bool
	InjectErr        uint32
	InjectInsnLength uint64
}

// LoadGuestState loads the guest-state area (SDM Vol. 3C 27.3.2) into s
// in place (registers the VMCS does not hold keep their values), fills
// in g, and marks the VMCS launched on VMLAUNCH (27.3.3 and 31.3): the
// processor is then in VMX non-root operation. s is the processor's own
// state: nothing is copied (issue 18, docs/PERFORMANCE.md).
func (v *CPU) LoadGuestState(s *arch.State, launch bool, g *GuestEntry) {
	// Local copies of the slot table and the values (a store to s
	// would otherwise make each read load them again).
	gs, f := v.caps.guestSlots, fieldVals(v.cur.vals)
	*g = GuestEntry{}
	entry := f.at(gs[gsEntryCtls])
	s.CR0 = f.at(gs[gsCR0])
	s.CR3 = f.at(gs[gsCR3])
	s.CR4 = f.at(gs[gsCR4])
	if entry&entryLoadDebug != 0 {
		s.DR[7] = f.at(gs[gsDR7])
		g.DebugCtl, g.LoadDebugCtl = f.at(gs[gsDebugCtl]), true
	}
	s.SysenterCS = f.at(gs[gsSysCS])
	s.SysenterESP = f.at(gs[gsSysESP])
	s.SysenterEIP = f.at(gs[gsSysEIP])
	// 27.3.2.1: with "load IA32_EFER" the guest's IA32_EFER field (checked
	// by 27.3.1.1); without it EFER.LMA takes the "IA-32e mode guest"
	// control, EFER.LME too when the guest's CR0.PG is 1, else LME keeps
	// its value (a real-mode or unpaged guest under "unrestricted guest"
	// inherits the host's LME).
	lmBits := uint64(arch.EFERLMA)
	if s.CR0&arch.CR0PG != 0 {
		lmBits |= arch.EFERLME
	}
	switch {
	case entry&entryLoadEFER != 0:
		s.EFER = f.at(gs[gsEFER])
	case entry&entryIA32eGuest != 0:
		s.EFER |= lmBits
	default:
		s.EFER &^= lmBits
	}
	for i, q := range v.caps.segSlots {
		p := guestSeg(s, i)
		*p = arch.Segment{
			Selector: uint16(f.at(q[0])),
			Base:     f.at(q[1]),
			Limit:    uint32(f.at(q[2])),
			Attr:     uint32(f.at(q[3])) & 0x1F0FF,
		}
	}
	s.GDTR = arch.DescTable{Base: f.at(gs[gsGDTRBase]), Limit: uint16(f.at(gs[gsGDTRLimit]))}
	s.IDTR = arch.DescTable{Base: f.at(gs[gsIDTRBase]), Limit: uint16(f.at(gs[gsIDTRLimit]))}
	s.RIP = f.at(gs[gsRIP])
	s.GPR[arch.RSP] = f.at(gs[gsRSP])
	s.RFLAGS = f.at(gs[gsRFLAGS])
	intr := f.at(gs[gsIntrState])
	g.BlockingSTI, g.BlockingMovSS, g.BlockingNMI = intr&1 != 0, intr&2 != 0, intr&8 != 0
	g.Activity = f.at(gs[gsActivity])
	if info := f.at(gs[gsEntryIntrInfo]); info>>31 != 0 {
		g.Inject = true
		g.InjectVector, g.InjectType = uint8(info), uint8(info>>8&7)
		g.InjectHasErr = info>>11&1 != 0
		g.InjectErr = uint32(f.at(gs[gsEntryExcCode]))
		g.InjectInsnLength = f.at(gs[gsEntryInsnLen])
		// 27.6.1: the valid bit is cleared on a successful VM entry.
		f.put(gs[gsEntryIntrInfo], info&^(1<<31))
		v.cur.gen[TypeControl]++
	}
	if launch {
		v.cur.launched = true
	}
	v.mode = NonRoot
}

// guestSegSlots resolves the slots of the guest segment fields (Appendix
// B: ES, CS, SS, DS, FS, GS, LDTR, TR; for each the selector, base, limit
// and access rights), -1 for a field the processor does not have: VM
// entry and VM exit move all 32 every time (SDM Vol. 3C 27.3.2.2, 28.3.1),
// by slot rather than by encoding (Caps.segSlots).
func (c *Caps) guestSegSlots() (q [8][4]int16) {
	for i := range q {
		for j, enc := range [4]uint32{encGuestSelES, encGuestBaseES, encGuestLimitES, encGuestARES} {
			q[i][j] = int16(c.slotOf(enc + uint32(2*i)))
		}
	}
	return q
}

// fieldVals are a VMCS's values (VMCS.vals) held in a local variable by
// the state moves of VM entry and exit (a store to the processor's state
// would otherwise make every read load VMCS.vals again), read and written
// by slot. These moves run outside the entry-check groups' recording
// (fastentry.go).
type fieldVals []uint64

// at reads the field in slot s (0 for s = -1, no such field, as field
// reads it).
func (f fieldVals) at(s int16) uint64 {
	if s < 0 {
		return 0
	}
	return f[s]
}

// put writes the field in slot s (nothing for s = -1, as setField)
// without noting the write in VMCS.gen: its callers (LoadGuestState,
// SaveGuestState) note theirs, once per write class.
func (f fieldVals) put(s int16, val uint64) {
	if s >= 0 {
		f[s] = val
	}
}

// putDiff is put that returns the bits that changed (no branch on them:
// most exits change none).
func (f fieldVals) putDiff(s int16, val uint64) uint64 {
	if s < 0 {
		return 0
	}
	d := f[s] ^ val
	f[s] = val
	return d
}

// guestSeg is the register of s that the i-th guest segment field group
// describes (Appendix B: ES, CS, SS, DS, FS, GS, LDTR, TR in encoding
// order).
func guestSeg(s *arch.State, i int) *arch.Segment {
	switch i {
	case 6:
		return &s.LDTR
	case 7:
		return &s.TR
	}
	return &s.Seg[i] // arch.ES..arch.GS are 0..5
}

// ExitInfo is what a VM exit records besides the reason (SDM Vol. 3C
// 28.2).
type ExitInfo struct {
	Qualification uint64
	InsnLength    uint32
	InsnInfo      uint32
	GuestLinear   uint64
	// IntrInfo is the VM-exit interruption information (valid bit 31),
	// IntrErr its error code.
	IntrInfo, IntrErr uint32
	// IDTVecInfo is the IDT-vectoring information of a VM exit during
	// event delivery (28.2.4; 0 otherwise), IDTVecErr its error code.
	IDTVecInfo, IDTVecErr uint32
}

// GuestSave is the guest state the core hands to SaveGuestState (SDM
// Vol. 3C 28.3): its own state, read in place, with the RIP and RFLAGS
// to save in place of State's (the RIP of the instruction that exits,
// RFLAGS with the arithmetic flags materialised).
type GuestSave struct {
	State         *arch.State
	RIP, RFLAGS   uint64
	DebugCtl      uint64
	BlockingSTI   bool
	BlockingMovSS bool
	BlockingNMI   bool
	Activity      uint64
	PendingDebug  uint64 // the pending debug exceptions field (28.3.4)
}

// SaveGuestState records a VM exit in the current VMCS — the exit reason
// and its information (28.2) and the guest state (28.3). The processor
// is back in VMX root operation; the core loads host state next
// (LoadHostState, 28.5) after the VM-exit MSR-store area (28.4).
func (v *CPU) SaveGuestState(reason uint32, info *ExitInfo, g *GuestSave) {
	// Local copies of the slot table and the values, as in LoadGuestState.
	gs, f := v.caps.guestSlots, fieldVals(v.cur.vals)
	v.cur.gen[TypeReadOnly]++  // the exit information (28.2)
	v.cur.gen[classGuestHot]++ // RIP, RSP, RFLAGS, ... (28.3)
	f.put(gs[gsExitReason], uint64(reason))
	f.put(gs[gsExitQual], info.Qualification)
	f.put(gs[gsExitInsnLen], uint64(info.InsnLength))
	f.put(gs[gsExitInsnInfo], uint64(info.InsnInfo))
	f.put(gs[gsGuestLinear], info.GuestLinear)
	f.put(gs[gsExitIntrInfo], uint64(info.IntrInfo))
	f.put(gs[gsExitIntrErr], uint64(info.IntrErr))
	f.put(gs[gsIDTVecInfo], uint64(info.IDTVecInfo))
	f.put(gs[gsIDTVecErr], uint64(info.IDTVecErr))
	s := g.State
	// The guest fields of class TypeGuest (slotClass): their write is
	// noted only when a value changed (most exits leave them as entry
	// loaded them).
	ch := f.putDiff(gs[gsCR0], s.CR0)
	ch |= f.putDiff(gs[gsCR3], s.CR3)
	ch |= f.putDiff(gs[gsCR4], s.CR4)
	if f.at(gs[gsExitCtls])&exitSaveDebug != 0 {
		ch |= f.putDiff(gs[gsDR7], s.DR[7])
		ch |= f.putDiff(gs[gsDebugCtl], g.DebugCtl)
	}
	ch |= f.putDiff(gs[gsSysCS], s.SysenterCS)
	ch |= f.putDiff(gs[gsSysESP], s.SysenterESP)
	ch |= f.putDiff(gs[gsSysEIP], s.SysenterEIP)
	if f.at(gs[gsExitCtls])&exitSaveEFER != 0 {
		ch |= f.putDiff(gs[gsEFER], s.EFER) // 28.3.1: "save IA32_EFER"
	}
	for i, q := range v.caps.segSlots {
		p := guestSeg(s, i)
		ch |= f.putDiff(q[0], uint64(p.Selector))
		ch |= f.putDiff(q[1], p.Base)
		ch |= f.putDiff(q[2], uint64(p.Limit))
		ch |= f.putDiff(q[3], uint64(p.Attr&0x1F0FF))
	}
	ch |= f.putDiff(gs[gsGDTRBase], s.GDTR.Base)
	ch |= f.putDiff(gs[gsGDTRLimit], uint64(s.GDTR.Limit))
	ch |= f.putDiff(gs[gsIDTRBase], s.IDTR.Base)
	ch |= f.putDiff(gs[gsIDTRLimit], uint64(s.IDTR.Limit))
	if ch != 0 {
		v.cur.gen[TypeGuest]++
	}
	f.put(gs[gsRIP], g.RIP)
	f.put(gs[gsRSP], s.GPR[arch.RSP])
	f.put(gs[gsRFLAGS], g.RFLAGS)
	var intr uint64
	if g.BlockingSTI {
		intr |= 1
	}
	if g.BlockingMovSS {
		intr |= 2
	}
	if g.BlockingNMI {
		intr |= 8
	}
	f.put(gs[gsIntrState], intr)
	f.put(gs[gsActivity], g.Activity)
	f.put(gs[gsPendDbg], g.PendingDebug)
	// 28.3 (IA32_VMX_MISC[5]): the "IA-32e mode guest" entry control
	// takes the value of IA32_EFER.LMA.
	old := f.at(gs[gsEntryCtls])
	entry := old &^ entryIA32eGuest
	if s.EFER&arch.EFERLMA != 0 {
		entry |= entryIA32eGuest
	}
	if entry != old {
		f.put(gs[gsEntryCtls], entry)
		v.cur.gen[TypeControl]++
	}
	v.mode = Root
}

// Guest reports whether the processor is in VMX non-root operation.
func (v *CPU) Guest() bool { return v.mode == NonRoot }

package vmx

import (
	"encoding/binary"
	"fmt"
	"slices"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// The VMX instructions of VMX operation, as the "Operation" sections of
// SDM Vol. 3C 31.3 give them: the checks in their order, each outcome with
// the rule that produced it. The core (package cpu) decodes the
// instruction, builds a Ctx, asks Check for the checks that come before
// any memory operand is read, reads the operand itself (its #PF, #GP and
// #SS are the core's), and then calls the instruction's own function here.

// Mode is the logical processor's VMX mode.
type Mode uint8

// VMX modes (SDM Vol. 3C 24.3).
const (
	Outside Mode = iota // not in VMX operation
	Root                // VMX root operation
	NonRoot             // VMX non-root operation
)

func (m Mode) String() string {
	return [...]string{"outside VMX operation", "VMX root operation", "VMX non-root operation"}[m]
}

// Insn is a VMX instruction.
type Insn uint8

// VMX instructions.
const (
	InsnVMXON Insn = iota
	InsnVMXOFF
	InsnVMCLEAR
	InsnVMPTRLD
	InsnVMPTRST
	InsnVMREAD
	InsnVMWRITE
	InsnVMCALL
	InsnVMLAUNCH
	InsnVMRESUME
	InsnINVEPT
	InsnINVVPID
)

func (i Insn) String() string {
	return [...]string{"VMXON", "VMXOFF", "VMCLEAR", "VMPTRLD", "VMPTRST", "VMREAD", "VMWRITE", "VMCALL", "VMLAUNCH", "VMRESUME", "INVEPT", "INVVPID"}[i]
}

// Ctx is the processor state the checks of a VMX instruction read.
type Ctx struct {
	CR0, CR4, EFER, RFLAGS uint64
	CSL                    bool // CS.L
	CPL                    int
	// RegOperand: the instruction's ModRM names a register where it needs
	// a memory operand (VMXON, VMCLEAR, VMPTRLD, VMPTRST).
	RegOperand bool
	// FeatureControl is IA32_FEATURE_CONTROL.
	FeatureControl uint64
	// InSMX and A20M: SMX operation and A20M mode (vmxemu models neither
	// today: both false).
	InSMX, A20M bool
	// Encoding is VMREAD's and VMWRITE's encoding operand (a register)
	// and Mem the physical access path, for the VMCS-shadowing decision
	// in VMX non-root operation (shadow.go).
	Encoding uint64
	Mem      Phys
}

// Kind is how a VMX instruction ended.
type Kind uint8

// Outcomes (SDM Vol. 3C 31.2, "Conventions").
const (
	Succeed     Kind = iota // VMsucceed: CF, PF, AF, ZF, SF, OF cleared
	FailInvalid             // VMfailInvalid: CF set, the others cleared
	FailValid               // VMfailValid(Err): ZF set, the others cleared; Err in the VM-instruction error field
	Fault                   // an exception (Fault), nothing else changed
	Refused                 // a physical access was refused (EPT, later): the core's pending outcome stands
	Exit                    // in VMX non-root operation: a VM exit (ExitReasonOf)
)

// Outcome is the result of a VMX instruction and why.
type Outcome struct {
	Insn  Insn
	Kind  Kind
	Err   InstrError // FailValid
	Fault arch.Fault // Fault
	// Why is the rule behind a failure, with the values involved and the
	// SDM reference (empty for VMsucceed).
	Why string
	// Lint are warnings about what hardware accepts silently but is
	// almost always a bug (lint.go).
	Lint []string
	// Check is the failed VM-entry check behind a VMfailValid or a
	// VM-entry failure, when one field's value broke it (nil otherwise):
	// the same facts as Why, for tools (the JSON event log).
	Check *GuestFailure
}

func (o Outcome) String() string {
	switch o.Kind {
	case Succeed:
		return o.Insn.String() + ": VMsucceed"
	case FailInvalid:
		return fmt.Sprintf("%s: VMfailInvalid (RFLAGS.CF=1): %s", o.Insn, o.Why)
	case FailValid:
		return fmt.Sprintf("%s: VMfailValid (RFLAGS.ZF=1), VM-instruction error %s: %s", o.Insn, o.Err, o.Why)
	case Fault:
		return fmt.Sprintf("%s: %s", o.Insn, o.Fault.Error())
	case EntryFailed:
		return fmt.Sprintf("%s: %s", o.Insn, o.Why)
	}
	return o.Insn.String() + ": physical access refused"
}

// Phys is guest-physical memory as the VMX instructions access it (the
// VMXON and VMCS regions): through the core's one physical access path.
// A false result means the access was refused.
type Phys interface {
	ReadPhys(pa uint64, b []byte) bool
	WritePhys(pa uint64, b []byte) bool
}

// invalidPtr is the current-VMCS pointer when there is none (SDM Vol. 3C
// 25.1).
const invalidPtr = ^uint64(0)

// CPU is the VMX state of one logical processor: its mode, the VMXON
// pointer, the current-VMCS pointer and the VMCSs active on it (whose data
// it holds, as a processor caches them, until VMCLEAR writes them back).
type CPU struct {
	caps    *Caps
	reg     *Registry
	id      int
	mode    Mode
	vmxon   uint64
	current uint64
	cur     *VMCS // active[current], nil without a current VMCS
	active  map[uint64]*VMCS
	memo    entryMemo // the fast VM-entry check path (fastentry.go)
}

// setCurrent makes the VMCS at addr (an active one, or invalidPtr) the
// current VMCS.
func (v *CPU) setCurrent(addr uint64) {
	v.current, v.cur = addr, v.active[addr]
}

// New returns the VMX state of logical processor id, outside VMX
// operation. reg is the machine's registry of VMX regions (nil: a
// registry of its own).
func New(caps *Caps, reg *Registry, id int) *CPU {
	if reg == nil {
		reg = NewRegistry()
	}
	return &CPU{caps: caps, reg: reg, id: id, current: invalidPtr, active: map[uint64]*VMCS{}}
}

// Registry returns the machine's registry of VMX regions.
func (v *CPU) Registry() *Registry { return v.reg }

// Caps returns the processor's VMX capabilities.
func (v *CPU) Caps() *Caps { return v.caps }

// Mode returns the VMX mode.
func (v *CPU) Mode() Mode { return v.mode }

// InVMX reports whether the processor is in VMX operation.
func (v *CPU) InVMX() bool { return v.mode != Outside }

// VMXONPointer returns the VMXON pointer (meaningful in VMX operation).
func (v *CPU) VMXONPointer() uint64 { return v.vmxon }

// CurrentVMCS returns the current-VMCS pointer (FFFFFFFF_FFFFFFFFH when
// there is none).
func (v *CPU) CurrentVMCS() uint64 { return v.current }

// Reset leaves VMX operation (INIT and RESET do: SDM Vol. 3C 24.8 keeps a
// processor in VMX operation across INIT only in non-root operation,
// where INIT is a VM exit; in root operation INIT is blocked).
func (v *CPU) Reset() {
	v.reg.onVMXOFF(v.id, v.vmxon, v.ActiveVMCSs())
	v.mode, v.vmxon = Outside, 0
	clear(v.active)
	v.setCurrent(invalidPtr)
}

// sdmRef is the SDM section of the VMX instruction pages (Fault.SDM
// carries it without the "SDM" prefix); sdmInsn starts a reason's
// reference.
const (
	sdmRef  = "Vol. 3C 31.3, "
	sdmInsn = "SDM " + sdmRef
)

func fault(insn Insn, f arch.Fault) (Outcome, bool) {
	return Outcome{Insn: insn, Kind: Fault, Fault: f}, true
}

func ud(insn Insn, rule string) (Outcome, bool) {
	return fault(insn, arch.UDFault(insn.String()+": "+rule, sdmRef+insn.String()))
}

func gp(insn Insn, rule string) (Outcome, bool) {
	return fault(insn, arch.GPFault(0, insn.String()+": "+rule, sdmRef+insn.String()))
}

// Check applies the checks of insn that come before its memory operand is
// read, in the order of its "Operation" section. done is true when they
// decided the outcome (#UD, #GP(0), a VM exit in non-root operation, or
// VMXON's VMfail in root operation), and the outcome is written to *o;
// otherwise the core goes on and *o is left alone (the common case
// copies no Outcome: issue 18).
func (v *CPU) Check(insn Insn, c *Ctx, o *Outcome) (done bool) {
	lmaNotL := c.EFER&arch.EFERLMA != 0 && !c.CSL
	memOnly := insn == InsnVMXON || insn == InsnVMCLEAR || insn == InsnVMPTRLD || insn == InsnVMPTRST
	switch {
	case memOnly && c.RegOperand:
		return o.decide(ud(insn, "the operand is a register (a memory operand is required)"))
	case insn == InsnVMXON && c.CR4&arch.CR4VMXE == 0:
		return o.decide(ud(insn, "CR4.VMXE (bit 13) is 0: set it before VMXON"))
	case insn != InsnVMXON && v.mode == Outside:
		return o.decide(ud(insn, "not in VMX operation (execute VMXON first)"))
	case c.CR0&arch.CR0PE == 0:
		return o.decide(ud(insn, "CR0.PE is 0 (VMX instructions need protected mode)"))
	case c.RFLAGS&arch.FlagVM != 0:
		return o.decide(ud(insn, "RFLAGS.VM is 1 (virtual-8086 mode)"))
	case lmaNotL:
		return o.decide(ud(insn, "IA32_EFER.LMA is 1 and CS.L is 0 (compatibility mode)"))
	}
	if v.mode == NonRoot {
		// Every VMX instruction exits in VMX non-root operation, after
		// the #UD conditions (SDM Vol. 3C 26.1.2), except VMREAD and
		// VMWRITE that VMCS shadowing lets through (shadow.go): those go
		// on to the CPL check.
		shadowed := (insn == InsnVMREAD || insn == InsnVMWRITE) && !v.shadowExits(insn, c.Encoding, c.Mem)
		if !shadowed {
			*o = Outcome{Insn: insn, Kind: Exit}
			return true
		}
		if c.CPL > 0 {
			return o.decide(gp(insn, fmt.Sprintf("CPL is %d (must be 0)", c.CPL)))
		}
		return false
	}
	if insn == InsnVMXON {
		switch v.mode {
		case Outside:
			return o.decide(v.vmxonGP(c))
		case Root:
			if c.CPL > 0 {
				return o.decide(gp(insn, fmt.Sprintf("CPL is %d in VMX root operation (must be 0)", c.CPL)))
			}
			*o = v.fail(insn, ErrVMXONInRoot, "VMXON executed in VMX root operation ("+sdmInsn+"VMXON)")
			return true
		}
	}
	if c.CPL > 0 {
		return o.decide(gp(insn, fmt.Sprintf("CPL is %d (must be 0)", c.CPL)))
	}
	return false
}

// RootAccessOK is Check for VMREAD and VMWRITE in VMX root operation
// without a Ctx: true exactly when Check would find nothing (CR0.PE 1,
// RFLAGS.VM 0, not compatibility mode, CPL 0: SDM Vol. 3C 31.3 VMREAD,
// VMWRITE) and leave the outcome to the instruction. Outside root
// operation it is false, and the caller runs Check (with its #UD, #GP,
// VM exit or VMCS shadowing). The core's fast path for a host's VMREADs
// and VMWRITEs on every VM exit (issue 18); TestRootAccessOK compares it
// with Check.
func (v *CPU) RootAccessOK(cr0, rflags, efer uint64, csl bool, cpl int) bool {
	return v.mode == Root && cpl == 0 && cr0&arch.CR0PE != 0 && rflags&arch.FlagVM == 0 && (efer&arch.EFERLMA == 0 || csl)
}

// decide stores a decided outcome r in *o and reports done (Check's
// failure paths: the helpers return values).
func (o *Outcome) decide(r Outcome, done bool) bool {
	*o = r
	return done
}

// vmxonGP is VMXON's #GP(0) checks outside VMX operation, in order.
func (v *CPU) vmxonGP(c *Ctx) (Outcome, bool) {
	const insn = InsnVMXON
	if c.CPL > 0 {
		return gp(insn, fmt.Sprintf("CPL is %d (must be 0)", c.CPL))
	}
	if c.A20M {
		return gp(insn, "the processor is in A20M mode")
	}
	if f := msr.CheckCR0(v.caps.CR0, c.CR0, false); f != nil {
		return fault(insn, withInsn(insn, *f))
	}
	if f := msr.CheckCR4(v.caps.CR4, c.CR4); f != nil {
		return fault(insn, withInsn(insn, *f))
	}
	if f := msr.CheckVMXON(c.FeatureControl, c.InSMX); f != nil {
		return fault(insn, *f)
	}
	return Outcome{}, false
}

// withInsn prefixes a fault's rule with the instruction and its SDM page.
func withInsn(insn Insn, f arch.Fault) arch.Fault {
	f.Rule = insn.String() + ": " + f.Rule
	f.SDM = sdmRef + insn.String() + "; " + f.SDM
	return f
}

// fail is VMfail(err): VMfailValid with the error in the current VMCS when
// there is one, VMfailInvalid otherwise (SDM Vol. 3C 31.2).
func (v *CPU) fail(insn Insn, err InstrError, why string) Outcome {
	if v.current == invalidPtr {
		return Outcome{Insn: insn, Kind: FailInvalid, Why: why + "; there is no current VMCS to hold VM-instruction error " + err.String()}
	}
	v.failValid(err)
	return Outcome{Insn: insn, Kind: FailValid, Err: err, Why: why}
}

// failValid writes err to the current VMCS's VM-instruction error field.
func (v *CPU) failValid(err InstrError) {
	if s := v.cur; s != nil {
		if slot, _, ok := v.caps.lookup(encVMInstructionError); ok {
			s.vals[slot] = uint64(err)
			s.gen[v.caps.class[slot]]++
		}
	}
}

func succeed(insn Insn) Outcome { return Outcome{Insn: insn, Kind: Succeed} }

// readRevision reads the 32-bit revision identifier at addr.
func readRevision(mem Phys, addr uint64) (uint32, bool) {
	var b [4]byte
	if !mem.ReadPhys(addr+offRevision, b[:]) {
		return 0, false
	}
	return binary.LittleEndian.Uint32(b[:]), true
}

// VMXON enters VMX operation with the VMXON region at addr (the 64-bit
// memory operand), after Check.
func (v *CPU) VMXON(addr uint64, mem Phys) Outcome {
	const insn = InsnVMXON
	const sdm = " (" + sdmInsn + "VMXON; Vol. 3C 25.11.5)"
	if ok, why := v.caps.physOK(addr); !ok {
		return Outcome{Insn: insn, Kind: FailInvalid, Why: "the VMXON pointer " + why + sdm}
	}
	rev, ok := readRevision(mem, addr)
	if !ok {
		return Outcome{Insn: insn, Kind: Refused}
	}
	if rev&0x7FFFFFFF != v.caps.Revision || rev>>31 != 0 {
		return Outcome{Insn: insn, Kind: FailInvalid, Why: revisionWhy("VMXON region", addr, rev, v.caps.Revision) + sdm}
	}
	v.mode, v.vmxon = Root, addr
	v.setCurrent(invalidPtr)
	o := succeed(insn)
	o.Lint = v.reg.onVMXON(v.id, addr)
	return o
}

func revisionWhy(what string, addr uint64, rev, want uint32) string {
	if rev>>31 != 0 && rev&0x7FFFFFFF == want {
		return fmt.Sprintf("the %s at %#x has bit 31 (shadow-VMCS indicator) set in its revision identifier %#x", what, addr, rev)
	}
	return fmt.Sprintf("the %s at %#x has revision identifier %#x, but IA32_VMX_BASIC[30:0] is %#x (write it to the region's first 4 bytes)",
		what, addr, rev, want)
}

// VMXOFF leaves VMX operation, after Check. The VMCSs still active are
// written back to their regions (software should VMCLEAR them first: SDM
// Vol. 3C 25.11.1; on hardware their data may be lost).
func (v *CPU) VMXOFF(mem Phys) Outcome {
	o := succeed(InsnVMXOFF)
	o.Lint = v.reg.onVMXOFF(v.id, v.vmxon, v.ActiveVMCSs())
	for addr, s := range v.active {
		s.store(v.caps, mem)
		delete(v.active, addr)
	}
	v.mode, v.vmxon = Outside, 0
	v.setCurrent(invalidPtr)
	return o
}

// ActiveVMCSs returns the addresses of the VMCSs active on the processor.
func (v *CPU) ActiveVMCSs() []uint64 {
	out := make([]uint64, 0, len(v.active))
	for a := range v.active {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}

// VMCLEAR makes the VMCS at addr inactive and clear, after Check.
func (v *CPU) VMCLEAR(addr uint64, mem Phys) Outcome {
	const insn = InsnVMCLEAR
	const sdm = " (" + sdmInsn + "VMCLEAR)"
	if ok, why := v.caps.physOK(addr); !ok {
		return v.fail(insn, ErrVMCLEARInvalidAddr, "the VMCS pointer "+why+sdm)
	}
	if addr == v.vmxon {
		return v.fail(insn, ErrVMCLEARVMXONPtr, fmt.Sprintf("the operand %#x is the VMXON pointer", addr)+sdm)
	}
	if s, ok := v.active[addr]; ok {
		s.launched = false
		if !s.store(v.caps, mem) {
			return Outcome{Insn: insn, Kind: Refused}
		}
		delete(v.active, addr)
	} else if !storeLaunchState(mem, addr, launchClear) {
		return Outcome{Insn: insn, Kind: Refused}
	}
	if addr == v.current {
		v.setCurrent(invalidPtr)
	}
	v.reg.onClear(v.id, addr)
	return succeed(insn)
}

// VMPTRLD makes the VMCS at addr current (and active), after Check.
func (v *CPU) VMPTRLD(addr uint64, mem Phys) Outcome {
	const insn = InsnVMPTRLD
	const sdm = " (" + sdmInsn + "VMPTRLD)"
	if ok, why := v.caps.physOK(addr); !ok {
		return v.fail(insn, ErrVMPTRLDInvalidAddr, "the VMCS pointer "+why+sdm)
	}
	if addr == v.vmxon {
		return v.fail(insn, ErrVMPTRLDVMXONPtr, fmt.Sprintf("the operand %#x is the VMXON pointer", addr)+sdm)
	}
	if _, ok := v.active[addr]; !ok {
		rev, ok := readRevision(mem, addr)
		if !ok {
			return Outcome{Insn: insn, Kind: Refused}
		}
		if rev&0x7FFFFFFF != v.caps.Revision || rev>>31 != 0 && !v.caps.Shadowing {
			why := revisionWhy("VMCS region", addr, rev, v.caps.Revision)
			if rev>>31 != 0 && rev&0x7FFFFFFF == v.caps.Revision {
				why += " and the processor does not support VMCS shadowing"
			}
			return v.fail(insn, ErrVMPTRLDBadRevision, why+sdm)
		}
		s, ok := load(v.caps, mem, addr)
		if !ok {
			return Outcome{Insn: insn, Kind: Refused}
		}
		v.active[addr] = s
	}
	v.setCurrent(addr)
	o := succeed(insn)
	o.Lint = v.reg.onActivate(v.id, addr)
	return o
}

// VMPTRST returns the current-VMCS pointer for the core to store, after
// Check; the core applies the outcome only if the store did not fault.
func (v *CPU) VMPTRST() (uint64, Outcome) { return v.current, succeed(InsnVMPTRST) }

// noCurrent is the VMfailInvalid of VMREAD and VMWRITE without a current
// VMCS.
func noCurrent(insn Insn) Outcome {
	return Outcome{Insn: insn, Kind: FailInvalid,
		Why: "there is no current VMCS (the current-VMCS pointer is FFFFFFFF_FFFFFFFFH: VMPTRLD one first) (" + sdmInsn + insn.String() + ")"}
}

func unsupported(v *CPU, insn Insn, enc uint64) Outcome {
	why := fmt.Sprintf("%#x is not a VMCS field encoding this processor supports", enc)
	switch {
	case enc>>32 != 0:
		why = fmt.Sprintf("the encoding operand %#x has bits 63:32 set", enc)
	case enc>>15 != 0 || enc&(1<<12) != 0:
		why = fmt.Sprintf("the encoding %#x sets reserved bits (31:15 or 12; SDM Vol. 3C 25.11.2)", enc)
	case enc&1 != 0 && encWidth(uint32(enc)) != Width64:
		why = fmt.Sprintf("the encoding %#x uses the high access type (bit 0) on a %s field", enc, encWidth(uint32(enc)))
	default:
		if f, ok := FieldByEnc(uint32(enc &^ 1)); ok {
			why = fmt.Sprintf("the field %s (%#x) does not exist on this processor: the control it serves is not allowed by its capability MSRs", f.Name, f.Enc)
		}
	}
	return v.fail(insn, ErrUnsupportedComponent, why+" ("+sdmInsn+insn.String()+")")
}

// VMREAD reads the field with encoding enc from the current VMCS, after
// Check. mode64 selects 64-bit operands (in 64-bit mode) over 32-bit
// ones. The core stores the value and applies a VMsucceed only if the
// store did not fault.
func (v *CPU) VMREAD(enc uint64, mode64 bool) (uint64, Outcome) {
	var o Outcome
	val := v.VMREADTo(enc, mode64, &o)
	return val, o
}

// VMREADTo is VMREAD with the outcome written to *o (the core's
// instruction: no Outcome copies, issue 18).
func (v *CPU) VMREADTo(enc uint64, mode64 bool, o *Outcome) uint64 {
	if v.current == invalidPtr {
		*o = noCurrent(InsnVMREAD)
		return 0
	}
	return v.vmread(v.cur, enc, mode64, o)
}

// vmread reads a field of s (the current VMCS, or a shadow VMCS).
func (v *CPU) vmread(s *VMCS, enc uint64, mode64 bool, o *Outcome) uint64 {
	const insn = InsnVMREAD
	slot, high, ok := v.caps.lookup(enc)
	if !ok {
		*o = unsupported(v, insn, enc)
		return 0
	}
	*o = succeed(insn)
	return readSlot(s, slot, high, mode64)
}

// readSlot is VMREAD's value of the field in slot (its high half for a
// high access; 32 bits outside 64-bit mode: SDM Vol. 3C 31.3 VMREAD).
func readSlot(s *VMCS, slot int, high, mode64 bool) uint64 {
	val := s.vals[slot]
	if high {
		val >>= 32
	}
	if !mode64 {
		val = uint64(uint32(val))
	}
	return val
}

// VMREADOK is VMREADTo when it succeeds, without an outcome: ok is false,
// and nothing is read, when there is no current VMCS or enc names no
// field of this processor (the caller then runs VMREADTo for the
// failure). The core's VMREAD in VMX root operation (issue 18);
// TestVMREADWRITEOK compares it with VMREADTo.
func (v *CPU) VMREADOK(enc uint64, mode64 bool) (val uint64, ok bool) {
	if v.current == invalidPtr {
		return 0, false
	}
	slot, high, ok := v.caps.lookup(enc)
	if !ok {
		return 0, false
	}
	return readSlot(v.cur, slot, high, mode64), true
}

// VMWRITEOK is VMWRITETo when it succeeds, without an outcome: false, and
// nothing written, when there is no current VMCS, enc names no field of
// this processor, or the field is a VM-exit information field that
// VMWRITE may not write (the caller then runs VMWRITETo for the failure).
func (v *CPU) VMWRITEOK(enc, val uint64, mode64 bool) bool {
	if v.current == invalidPtr {
		return false
	}
	slot, high, ok := v.caps.lookup(enc)
	if !ok {
		return false
	}
	f := &v.caps.supports[slot]
	if f.Type() == TypeReadOnly && !v.caps.VMWriteAll {
		return false
	}
	v.writeSlot(v.cur, slot, f, high, val, mode64)
	return true
}

// VMWRITE writes val to the field with encoding enc in the current VMCS,
// after Check (SDM Vol. 3C 25.11.2: a 16- or 32-bit field keeps the low
// bits; outside 64-bit mode a full 64-bit or natural-width field gets the
// 32-bit value zero-extended; a high access writes bits 63:32).
func (v *CPU) VMWRITE(enc, val uint64, mode64 bool) Outcome {
	var o Outcome
	v.VMWRITETo(enc, val, mode64, &o)
	return o
}

// VMWRITETo is VMWRITE with the outcome written to *o (the core's
// instruction: no Outcome copies, issue 18).
func (v *CPU) VMWRITETo(enc, val uint64, mode64 bool, o *Outcome) {
	if v.current == invalidPtr {
		*o = noCurrent(InsnVMWRITE)
		return
	}
	v.vmwrite(v.cur, enc, val, mode64, o)
}

// vmwrite writes a field of s (the current VMCS, or a shadow VMCS).
func (v *CPU) vmwrite(s *VMCS, enc, val uint64, mode64 bool, o *Outcome) {
	const insn = InsnVMWRITE
	slot, high, ok := v.caps.lookup(enc)
	if !ok {
		*o = unsupported(v, insn, enc)
		return
	}
	f := &v.caps.supports[slot]
	if f.Type() == TypeReadOnly && !v.caps.VMWriteAll {
		*o = v.fail(insn, ErrVMWRITEReadOnly, fmt.Sprintf("%s (%#x) is a VM-exit information field and IA32_VMX_MISC[29] is 0 (VMWRITE to it is not supported) (%sVMWRITE; Vol. 3D A.6)",
			f.Name, f.Enc, sdmInsn))
		return
	}
	v.writeSlot(s, slot, f, high, val, mode64)
	*o = succeed(insn)
}

// writeSlot is VMWRITE's write of val to the field f in slot of s, its
// write noted in VMCS.gen (SDM Vol. 3C 25.11.2, 31.3 VMWRITE).
func (v *CPU) writeSlot(s *VMCS, slot int, f *Field, high bool, val uint64, mode64 bool) {
	if !mode64 {
		val = uint64(uint32(val))
	}
	switch {
	case high:
		s.vals[slot] = s.vals[slot]&0xFFFFFFFF | uint64(uint32(val))<<32
	case f.Width() == Width16:
		s.vals[slot] = uint64(uint16(val))
	case f.Width() == Width32:
		s.vals[slot] = uint64(uint32(val))
	default:
		s.vals[slot] = val
	}
	s.gen[v.caps.class[slot]]++
}

// VMCALL in VMX root operation, after Check: VMfail(1) (SDM Vol. 3C 31.3
// VMCALL; the dual-monitor treatment of SMM is not modelled).
func (v *CPU) VMCALL() Outcome {
	return v.fail(InsnVMCALL, ErrVMCALLInRoot, "VMCALL executed in VMX root operation (without the dual-monitor treatment of SMIs and SMM it only fails) ("+sdmInsn+"VMCALL)")
}

// CheckCR0 and CheckCR4 apply the fixed bits of VMX operation to a value
// written to CR0 or CR4 in VMX operation (SDM Vol. 3C 24.8): #GP(0) with
// the bit and the MSR that fixes it, or nil.
func CheckCR0(v *CPU, cr0 uint64) *arch.Fault {
	f := msr.CheckCR0(v.caps.CR0, cr0, false)
	if v.Guest() {
		// In VMX non-root operation "unrestricted guest" exempts PE and
		// PG (unrestricted.go).
		f = v.guestCR0Fixed(cr0)
	}
	if f != nil {
		g := *f
		g.Rule = "MOV to CR0 in VMX operation: " + g.Rule
		return &g
	}
	return nil
}

// CheckCR4 is CheckCR0 for CR4.
func CheckCR4(v *CPU, cr4 uint64) *arch.Fault {
	if f := msr.CheckCR4(v.caps.CR4, cr4); f != nil {
		g := *f
		g.Rule = "MOV to CR4 in VMX operation: " + g.Rule
		return &g
	}
	return nil
}

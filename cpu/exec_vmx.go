package cpu

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// The VMX instructions (SDM Vol. 3C 31.3): VMXON, VMXOFF, VMCLEAR,
// VMPTRLD, VMPTRST, VMREAD, VMWRITE, VMCALL. Package vmx owns their checks
// and the VMX state; these handlers build the state snapshot the checks
// read, read and write the memory operands (whose #PF, #GP and #SS are
// the core's and come before any VMX flag change), apply the outcome to
// RFLAGS and report it to the event log. The core's own state follows VMX
// operation here: INIT is blocked in VMX root operation (BlockINIT) and
// CR0/CR4 keep their fixed bits (writeCR0, writeCR4).

// faultNoVMX is the #UD of a VMX instruction on a CPU model without VMX.
var faultNoVMX = arch.UDFault("VMX instruction on a processor without VMX (CPUID.1:ECX.VMX = 0)", "Vol. 3C 24.6")

// vmxCtx snapshots what the checks of a VMX instruction read, in place
// in c.vmxCtxBuf (no copy per instruction: VMREAD and VMWRITE run on
// every VM exit of a guest), and returns it. VM entry hands the same
// record, with its MOV-SS blocking, on to vmx.Enter (vmentry).
func (c *CPU) vmxCtx(in *Inst, insn vmx.Insn) *vmx.Ctx {
	x := &c.vmxCtxBuf.Ctx
	x.CR0, x.CR4, x.EFER, x.RFLAGS = c.CR0, c.CR4, c.EFER, c.RFLAGS
	x.CSL = c.Seg[arch.CS].Attr&arch.ARL != 0
	x.CPL, x.RegOperand = int(c.cpl), in.mod == 3
	x.FeatureControl, x.InSMX, x.A20M, x.Encoding, x.Mem = 0, false, false, 0, nil
	if insn == vmx.InsnVMXON {
		fc, f := c.plat().ReadMSR(c, msrFeatureControl)
		if f == nil {
			x.FeatureControl = fc
		}
	}
	if insn == vmx.InsnVMREAD || insn == vmx.InsnVMWRITE {
		// The encoding (a register) and the bitmaps' access path for
		// VMCS shadowing (vmx/shadow.go).
		x.Encoding = c.GPR[in.reg&15]
		if c.codeMode != mode64 {
			x.Encoding = uint64(uint32(x.Encoding))
		}
		x.Mem = vmxPhys{c}
	}
	return x
}

// vmxCheck runs the checks that precede the memory operand; false when
// they decided the outcome (already applied).
func (c *CPU) vmxCheck(in *Inst, insn vmx.Insn) bool {
	if c.vmx == nil {
		c.raise(faultNoVMX)
		return false
	}
	ctx := c.vmxCtx(in, insn)
	if o := &c.vmxOut; c.vmx.Check(insn, ctx, o) {
		if o.Kind == vmx.Exit {
			c.guestVMXInsnExit(in, insn)
			return false
		}
		c.vmxOutcome(o)
		return false
	}
	return true
}

// vmxRootAccess is vmxCheck's answer for VMREAD and VMWRITE in VMX root
// operation when it lets the instruction go on, without the snapshot
// (vmx.RootAccessOK); false otherwise, and vmxCheck decides.
func (c *CPU) vmxRootAccess() bool {
	return c.vmx != nil && c.vmx.RootAccessOK(c.CR0, c.RFLAGS, c.EFER, c.Seg[arch.CS].Attr&arch.ARL != 0, int(c.cpl))
}

// vmxDone applies an outcome returned by value (c.vmxOut holds it, so
// that Hooks.VMX gets a pointer that does not escape per instruction).
func (c *CPU) vmxDone(o vmx.Outcome) {
	c.vmxOut = o
	c.vmxOutcome(&c.vmxOut)
}

// vmxOutcome applies an outcome: the exception, or the RFLAGS settings of
// VMsucceed, VMfailInvalid and VMfailValid (SDM Vol. 3C 31.2: CF, PF, AF,
// ZF, SF and OF cleared, then CF or ZF set).
func (c *CPU) vmxOutcome(o *vmx.Outcome) {
	c.vmxHook(o)
	for _, l := range o.Lint {
		c.lint(l)
	}
	switch o.Insn {
	case vmx.InsnVMXON, vmx.InsnVMXOFF, vmx.InsnVMPTRLD, vmx.InsnVMCLEAR:
		if o.Kind == vmx.Succeed {
			// The VMX regions in use changed.
			c.code.setVMXFrames(c.vmx.Registry().Frames())
		}
	}
	// Flags() with CF, PF, AF, ZF, SF and OF (arch.FlagsArith) cleared:
	// the lazy record, which holds only those, need not be materialised.
	fl := c.RFLAGS&^arch.FlagsArith | arch.FlagRes1
	switch o.Kind {
	case vmx.Fault:
		c.raise(o.Fault)
		return
	case vmx.Refused:
		c.stop = true
		return
	case vmx.FailInvalid:
		fl |= arch.FlagCF
	case vmx.FailValid:
		fl |= arch.FlagZF
	}
	c.setRFLAGS(fl)
}

// vmxSucceed is vmxOutcome for a VMsucceed of VMREAD or VMWRITE (no lint,
// no change of the VMX regions in use), with the outcome built only for
// a hook that wants it.
func (c *CPU) vmxSucceed(insn vmx.Insn) {
	if h := c.Hooks; h != nil && h.VMX != nil && !h.VMXFailuresOnly {
		c.vmxOut = vmx.Outcome{Insn: insn, Kind: vmx.Succeed}
		h.VMX(c, &c.vmxOut)
	}
	c.setRFLAGS(c.RFLAGS&^arch.FlagsArith | arch.FlagRes1)
}

// vmxHook hands an outcome to Hooks.VMX, unless the hook asked for
// failures only and o is a VMsucceed.
func (c *CPU) vmxHook(o *vmx.Outcome) {
	if h := c.Hooks; h != nil && h.VMX != nil && (o.Kind != vmx.Succeed || !h.VMXFailuresOnly) {
		h.VMX(c, o)
	}
}

// vmxPointer reads the 64-bit memory operand of VMXON, VMCLEAR and VMPTRLD.
func vmxPointer(c *CPU, in *Inst) (uint64, bool) { return rd[uint64](c, in.seg, c.ea(in)) }

// vmxPhys is the VMX instructions' view of guest-physical memory: the
// core's one physical access path (phys.go).
type vmxPhys struct{ c *CPU }

func (p vmxPhys) ReadPhys(pa uint64, b []byte) bool {
	for i := range b {
		v, ok := p.c.physRead(pa+uint64(i), 1, accVMX)
		if !ok {
			return false
		}
		b[i] = byte(v)
	}
	return true
}

func (p vmxPhys) WritePhys(pa uint64, b []byte) bool {
	for i, v := range b {
		if !p.c.physWrite(pa+uint64(i), 1, uint64(v), accVMX) {
			return false
		}
	}
	return true
}

// vmxon: VMXON m64 (F3 0F C7 /6).
func vmxon(c *CPU, in *Inst) {
	if !c.vmxCheck(in, vmx.InsnVMXON) {
		return
	}
	addr, ok := vmxPointer(c, in)
	if !ok {
		return
	}
	o := c.vmx.VMXON(addr, vmxPhys{c})
	if o.Kind == vmx.Succeed {
		// VMX root operation blocks INIT (SDM Vol. 3C 24.8); A20M is not
		// modelled; address-range monitoring is cleared (exec_monitor.go).
		c.BlockINIT(true)
		c.clearMonitor()
	}
	c.vmxDone(o)
}

// vmxoff: VMXOFF (0F 01 C4).
func vmxoff(c *CPU, in *Inst) {
	if !c.vmxCheck(in, vmx.InsnVMXOFF) {
		return
	}
	o := c.vmx.VMXOFF(vmxPhys{c})
	c.BlockINIT(false)
	c.clearMonitor() // exec_monitor.go
	c.vmxDone(o)
}

// vmclear: VMCLEAR m64 (66 0F C7 /6).
func vmclear(c *CPU, in *Inst) {
	if !c.vmxCheck(in, vmx.InsnVMCLEAR) {
		return
	}
	if addr, ok := vmxPointer(c, in); ok {
		c.vmxDone(c.vmx.VMCLEAR(addr, vmxPhys{c}))
	}
}

// vmptrld: VMPTRLD m64 (0F C7 /6).
func vmptrld(c *CPU, in *Inst) {
	if !c.vmxCheck(in, vmx.InsnVMPTRLD) {
		return
	}
	if addr, ok := vmxPointer(c, in); ok {
		c.vmxDone(c.vmx.VMPTRLD(addr, vmxPhys{c}))
	}
}

// vmptrst: VMPTRST m64 (0F C7 /7): the store comes first, so that a
// faulting store leaves RFLAGS alone.
func vmptrst(c *CPU, in *Inst) {
	if !c.vmxCheck(in, vmx.InsnVMPTRST) {
		return
	}
	ptr, o := c.vmx.VMPTRST()
	if wr(c, in.seg, c.ea(in), ptr) {
		c.vmxDone(o)
	}
}

// vmread: VMREAD r/m64, r64 (0F 78) in 64-bit mode, r/m32, r32 outside
// it. The destination is written before RFLAGS, so that a faulting store
// leaves them alone.
func vmread(c *CPU, in *Inst) {
	if !c.vmxRootAccess() && !c.vmxCheck(in, vmx.InsnVMREAD) {
		return
	}
	mode64 := c.codeMode == mode64
	enc := c.GPR[in.reg&15]
	if !mode64 {
		enc = uint64(uint32(enc))
	}
	var v uint64
	o := &c.vmxOut
	if c.inGuest() {
		v, *o = c.vmx.GuestVMREAD(enc, mode64, vmxPhys{c}) // VMCS shadowing
	} else if val, ok := c.vmx.VMREADOK(enc, mode64); ok {
		// VMsucceed, without an outcome built unless the hook wants it.
		if mode64 {
			ok = writeRM(c, in, val)
		} else {
			ok = writeRM(c, in, uint32(val))
		}
		if ok {
			c.vmxSucceed(vmx.InsnVMREAD)
		}
		return
	} else {
		v = c.vmx.VMREADTo(enc, mode64, o)
	}
	if o.Kind == vmx.Succeed {
		var ok bool
		if mode64 {
			ok = writeRM(c, in, v)
		} else {
			ok = writeRM(c, in, uint32(v))
		}
		if !ok {
			return
		}
	}
	c.vmxOutcome(o)
}

// vmwrite: VMWRITE r64, r/m64 (0F 79) in 64-bit mode, r32, r/m32 outside
// it. The source operand is read before the write.
func vmwrite(c *CPU, in *Inst) {
	if !c.vmxRootAccess() && !c.vmxCheck(in, vmx.InsnVMWRITE) {
		return
	}
	mode64 := c.codeMode == mode64
	enc := c.GPR[in.reg&15]
	var val uint64
	if mode64 {
		v, ok := readRM[uint64](c, in)
		if !ok {
			return
		}
		val = v
	} else {
		v, ok := readRM[uint32](c, in)
		if !ok {
			return
		}
		val, enc = uint64(v), uint64(uint32(enc))
	}
	if c.inGuest() {
		c.vmxDone(c.vmx.GuestVMWRITE(enc, val, mode64, vmxPhys{c})) // VMCS shadowing
		return
	}
	if c.vmx.VMWRITEOK(enc, val, mode64) {
		c.vmxSucceed(vmx.InsnVMWRITE)
		return
	}
	o := &c.vmxOut
	c.vmx.VMWRITETo(enc, val, mode64, o)
	c.vmxOutcome(o)
}

// vmcall: VMCALL (0F 01 C1). Outside VMX operation it is #UD; in VMX root
// operation it fails (SDM Vol. 3C 31.3 VMCALL).
func vmcall(c *CPU, in *Inst) {
	if c.inGuest() {
		c.guestInsnExit(in, vmx.ExitVMCALL, 0)
		return
	}
	if c.vmx == nil || !c.vmx.InVMX() {
		c.raiseUD("VMCALL outside VMX operation", "Vol. 3C 31.3 VMCALL")
		return
	}
	if !c.vmxCheck(in, vmx.InsnVMCALL) {
		return
	}
	c.vmxDone(c.vmx.VMCALL())
}

// vmentry: VMLAUNCH (0F 01 C2) and VMRESUME (0F 01 C3): the basic checks,
// those on the VMX controls and the host-state area, and those on the
// guest-state area (vmx.Enter, with their VMfail, VM-entry failure and
// reasons). Loading and running the guest is not implemented yet: a VMCS
// that passes every check ends in #UD with the reason (docs/VMX.md).
func vmentry(c *CPU, in *Inst) {
	launch := in.rm&7 == 2
	insn := vmx.InsnVMRESUME
	if launch {
		insn = vmx.InsnVMLAUNCH
	}
	if !c.vmxCheck(in, insn) {
		return
	}
	// vmxCheck left the snapshot in c.vmxCtxBuf; nothing it holds has
	// changed since.
	ctx := &c.vmxCtxBuf
	ctx.MovSSBlocking = c.shadow == shadowMovSS
	o := &c.vmxOut
	if !c.vmx.EnterTo(launch, ctx, vmxPhys{c}, o) {
		c.enterGuest(insn, launch)
		return
	}
	if o.Kind != vmx.EntryFailed {
		c.vmxOutcome(o)
		return
	}
	// A VM-entry failure loads host state as a VM exit does (SDM Vol. 3C
	// 28.8); RFLAGS is then the host's, not a VMfail's.
	c.vmxHook(o)
	c.vmxLoadHost()
}

// vmxLoadHost loads the host state of the current VMCS (SDM Vol. 3C 28.5):
// the architectural registers (vmx.LoadHostState), IA32_DEBUGCTL cleared, and
// — without VPIDs — every linear translation flushed (29.4.3.1); the PAE
// PDPTEs of a 32-bit PAE host are loaded from its CR3 (28.5.1).
func (c *CPU) vmxLoadHost() {
	c.loadHostState()
	c.setDebugCtl(0)
	c.pagingChanged()
	s := &c.State
	if s.CR0&arch.CR0PG != 0 && s.CR4&arch.CR4PAE != 0 && s.EFER&arch.EFERLMA == 0 {
		if !c.loadPDPTEs(s.CR0, s.CR3, s.CR4) {
			// A PDPTE with reserved bits: a VMX abort (28.7).
			c.faultPending = false
			c.enterShutdown(arch.Fault{Vector: arch.VecGP, Rule: "VMX abort: loading the host PDPTEs failed (reserved bits set)", SDM: "Vol. 3C 28.7"},
				"VMX abort while loading host state")
			c.stop = true
			return
		}
	}
	// 27.8: a VM-entry failure loads the VM-exit MSR-load area too.
	c.vmxExitMSRLoad()
	c.stop = true
}

// VMX returns the CPU's VMX state (nil on a model without VMX).
func (c *CPU) VMX() *vmx.CPU { return c.vmx }

// vmxFixedCR0 and vmxFixedCR4 are the fixed-bit rule of VMX operation for
// every write to CR0 or CR4 (SDM Vol. 3C 24.8: in VMX operation a bit
// fixed to 1 cannot be cleared nor a bit fixed to 0 set — CR4.VMXE among
// them; #GP(0)). Outside VMX operation they allow anything.
func (c *CPU) vmxFixedCR0(v uint64) *arch.Fault {
	if c.vmx == nil || !c.vmx.InVMX() {
		return nil
	}
	return vmx.CheckCR0(c.vmx, v)
}

func (c *CPU) vmxFixedCR4(v uint64) *arch.Fault {
	if c.vmx == nil || !c.vmx.InVMX() {
		return nil
	}
	return vmx.CheckCR4(c.vmx, v)
}

// InstructionRIP is the RIP of the instruction executing (for hooks called
// during an instruction, such as Hooks.VMX).
func (c *CPU) InstructionRIP() uint64 { return c.ripCur }

// Retired is the exact number of instructions retired (inside a block
// too: see now).
func (c *CPU) Retired() uint64 { return c.now() }

// lint reports a warning about what hardware accepts silently (Config.Lint).
func (c *CPU) lint(msg string) {
	if c.lintSink != nil {
		c.lintSink(c.ID, msg)
	}
}

// lintVMXAccess warns about a guest data access to a VMX region in use
// (SDM Vol. 3C 25.11.1: software must not read or write a VMCS region
// while it is active, nor a VMXON region in VMX operation; a copy taken
// while active does not carry the processor's current data).
func (c *CPU) lintVMXAccess(pfn uint64, what string) {
	if c.vmx == nil {
		return
	}
	if region, _, ok := c.vmx.Registry().Region(pfn); ok {
		c.lint(fmt.Sprintf("the guest %s %s with ordinary memory accesses: its contents are undefined while the processor uses it; use VMREAD/VMWRITE, or VMCLEAR it first (SDM Vol. 3C 25.11.1)", what, region))
	}
}

// ---- VMX non-root operation (SDM Vol. 3C 26, 27.3.2, 27.6, 28) ----------

// inGuest reports whether the CPU is in VMX non-root operation.
func (c *CPU) inGuest() bool { return c.vmx != nil && c.vmx.Guest() }

// enterGuest loads the guest state of the current VMCS and starts the
// guest (SDM Vol. 3C 27.3.2, 27.5, 27.6): registers, IA32_DEBUGCTL with
// "load debug controls", blocking by STI/MOV SS/NMI, the activity state,
// the intercept record, and the injected event, if any, delivered through
// the guest's IDT. Without VPIDs every linear translation is flushed
// (29.4.3.1).
func (c *CPU) enterGuest(insn vmx.Insn, launch bool) {
	var g vmx.GuestEntry
	pkru, pkrs := c.PKRU, c.PKRS
	c.vmx.LoadGuestState(&c.State, launch, &g) // in place
	// VPID and EPT (vmx_ept.go): the translation context first, so
	// that stateChanged enters the guest's code context
	// (blockLookup.enter).
	c.vmxEnterTranslation()
	c.stateLoaded(c.PKRU != pkru || c.PKRS != pkrs)
	if g.LoadDebugCtl {
		c.setDebugCtl(g.DebugCtl)
	}
	c.vmxEnterPDPTEs(&c.State)
	// 27.4: the VM-entry MSR-load area, after the guest state; a failure
	// is a VM-entry failure (reason 34) that loads host state (27.8).
	if i, why := c.vmxEntryMSRLoad(); i != 0 {
		c.vmxOut = c.vmx.FailEntryMSR(i, why)
		c.vmxHook(&c.vmxOut)
		c.vmxLoadHost()
		return
	}
	if h := c.Hooks; h != nil && h.VMX != nil && !h.VMXFailuresOnly {
		c.vmxOut = vmx.Outcome{Insn: insn, Kind: vmx.Succeed}
		h.VMX(c, &c.vmxOut)
	}
	c.vmx.Intercepts(&c.intercepts)
	c.pauseLoop = vmx.PauseLoop{} // the first PAUSE after entry begins a loop (26.1.3)
	c.clearMonitor()              // exec_monitor.go
	// INIT is a VM exit in VMX non-root operation (24.8): BlockINIT(false)
	// without its updateAttn, which vmxEventsEntry ends with (nothing in
	// between reads the attention word).
	c.initBlocked = false
	c.vmxEventsEntry(g.BlockingNMI) // NMI blocking, the preemption timer (vmx_events.go)
	c.vmxAPICVEntry(g.Activity)     // vmx_apicv.go
	switch {
	case g.BlockingMovSS:
		c.shadow = shadowMovSS
	case g.BlockingSTI:
		c.shadow = 1
	default:
		c.shadow = 0
	}
	switch g.Activity {
	case 1:
		c.halted = true
	case 2:
		c.vmxEnterShutdown() // vmx_activity.go
	case 3:
		c.EnterWaitForSIPI()
	}
	c.stop = true
	if !g.Inject {
		c.vmxPendingDebug(g.Activity, g.BlockingMovSS)
		return
	}
	if g.InjectType == vmx.IntrTypeOther {
		c.vmxInjectPendingMTF() // 27.6.2: nothing is delivered
		return
	}
	// 27.6: the event is delivered as if it had happened in the guest.
	kind := evException
	switch g.InjectType {
	case 0, 2:
		kind = evExternal
	case 4:
		kind = evSoftInt
	case 5:
		kind = evICEBP
	case 6:
		kind = evSoftExc
	}
	c.ripCur = c.RIP
	if kind == evSoftInt || kind == evSoftExc || kind == evICEBP {
		c.RIP += g.InjectInsnLength
	}
	if g.InjectType == vmx.IntrTypeNMI {
		c.vmxInjectedNMI()
	}
	c.halted, c.vev.shutdown = false, false // an injected NMI or #MC leaves shutdown
	f := arch.Fault{Vector: g.InjectVector, HasError: g.InjectHasErr, Code: g.InjectErr,
		Rule: "event injected by VM entry (VM-entry interruption-information field)", SDM: "Vol. 3C 27.6"}
	c.vev.injecting = true
	c.event(g.InjectVector, g.InjectHasErr, g.InjectErr, kind, &f)
	c.vev.injecting = false
	c.vmxMTFPending() // 27.7.2: an MTF VM exit follows injection
}

// vmExit leaves the guest for the host (SDM Vol. 3C 28): the exit
// information and guest state go into the current VMCS, the host state is
// loaded. atInsn is true for an exit caused by the executing instruction:
// the guest RIP saved is that instruction's and it does not retire (the
// run loop's third outcome, retireStopped).
func (c *CPU) vmExit(reason uint32, info vmx.ExitInfo, atInsn bool) {
	c.undoTransfer() // an exit in the middle of a far transfer or a delivery (exceptions.go)
	rip := c.RIP
	if atInsn {
		rip = c.ripCur
	}
	act := c.vmxActivity() // vmx_activity.go
	g := vmx.GuestSave{State: &c.State, RIP: rip, RFLAGS: c.Flags(), DebugCtl: c.lbr.ctl,
		BlockingSTI: c.shadow == 1, BlockingMovSS: c.shadow == shadowMovSS, BlockingNMI: c.nmiBlocked, Activity: act}
	c.vmxExitInfo(reason, &info) // IDT-vectoring information, NMI unblocking (vmx_events.go)
	c.vmxVIDExit()               // the guest interrupt status (vmx_apicv.go)
	c.vmxEventsExit(reason, &g)
	c.vmx.SaveGuestState(reason, &info, &g) // read in place
	if !c.vmxExitMSRStore() {               // 28.4
		return
	}
	if c.Hooks != nil && c.Hooks.VMExit != nil {
		c.Hooks.VMExit(c, reason, info)
	}
	// Guest state and the MSR-store area are saved at the exit's
	// instruction boundary; the exit's latency elapses before host state
	// is loaded (vmx_time.go).
	c.vmxElapse(VMExitLatency)
	c.loadHostState()
	c.shadow, c.halted, c.waitSIPI = 0, false, false
	c.mon = monitorState{} // exec_monitor.go: the wait ends, the monitor is cleared
	// BlockINIT(true) without its updateAttn: vmxLoadHostRest begins with
	// setDebugCtl, which recomputes the attention word.
	c.initBlocked = true
	c.vmxLoadHostRest()
	if !c.vmxExitMSRLoad() { // 28.6
		return
	}
	if atInsn {
		c.exitPending = true
	}
	c.stop = true
}

// loadHostState loads the host-state area into the CPU's state in place
// (SDM Vol. 3C 28.5.1-28.5.3) and returns to the host's translation
// context — translations flushed without VPIDs, the PDPTEs of a PAE
// guest under EPT saved (vmx_ept.go) — before stateChanged enters the
// host's code context (blockLookup.enter).
func (c *CPU) loadHostState() {
	pkru, pkrs := c.PKRU, c.PKRS
	c.vmx.LoadHostState(&c.State)
	c.vmxExitTranslation()
	c.stateLoaded(c.PKRU != pkru || c.PKRS != pkrs)
}

// vmxLoadHostRest is the part of loading host state beyond the registers
// and translations (SDM Vol. 3C 28.5): IA32_DEBUGCTL cleared, the PDPTEs
// of a 32-bit PAE host.
func (c *CPU) vmxLoadHostRest() {
	c.setDebugCtl(0) // first: vmExit leaves the attention word to its updateAttn
	s := &c.State
	if s.CR0&arch.CR0PG != 0 && s.CR4&arch.CR4PAE != 0 && s.EFER&arch.EFERLMA == 0 {
		if !c.loadPDPTEs(s.CR0, s.CR3, s.CR4) {
			c.faultPending = false
			c.enterShutdownNow(arch.Fault{Vector: arch.VecGP, Rule: "VMX abort: loading the host PDPTEs failed (reserved bits set)", SDM: "Vol. 3C 28.7"},
				"VMX abort while loading host state")
		}
	}
}

// guestInsnExit is the VM exit of an instruction that exits
// unconditionally or by its controls, after its own fault checks (SDM
// Vol. 3C 26.1): reason, exit qualification, instruction length.
func (c *CPU) guestInsnExit(in *Inst, reason uint32, qual uint64) {
	c.vmExit(reason, vmx.ExitInfo{Qualification: qual, InsnLength: uint32(in.len)}, true)
}

// guestCRRead is MOV from CR0/CR4 (and SMSW) in the guest: the bits the
// host owns read from the read shadow (SDM Vol. 3C 26.3).
func (c *CPU) guestCRRead(cr int, v uint64) uint64 {
	if !c.inGuest() {
		return v
	}
	x := &c.intercepts
	switch cr {
	case 0:
		return v&^x.CR0Mask | x.CR0Shadow&x.CR0Mask
	case 4:
		return v&^x.CR4Mask | x.CR4Shadow&x.CR4Mask
	}
	return v
}

// guestCRWrite is MOV to CR0/CR4 in the guest: it exits if a host-owned
// bit would differ from the read shadow (26.1.3); otherwise the owned bits
// keep their value (26.3). ok is false when the instruction exited.
func (c *CPU) guestCRWrite(in *Inst, cr int, v uint64) (uint64, bool) {
	x := &c.intercepts
	mask, shadow, cur := x.CR0Mask, x.CR0Shadow, c.CR0
	if cr == 4 {
		mask, shadow, cur = x.CR4Mask, x.CR4Shadow, c.CR4
	}
	if (v^shadow)&mask != 0 {
		c.guestInsnExit(in, vmx.ExitCRAccess, uint64(cr)|uint64(in.rm&15)<<8)
		return 0, false
	}
	return v&^mask | cur&mask, true
}

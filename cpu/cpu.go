package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Bus is the board as one CPU sees it. Only TLB misses, MMIO, port I/O and
// code-cache bookkeeping cross it; RAM is accessed through host pointers.
type Bus interface {
	// RAMPage returns the host page backing physical frame pfn (pa>>12), or
	// nil if the frame is not RAM (MMIO or unmapped).
	RAMPage(pfn uint64) *[4096]byte
	// ReadMMIO/WriteMMIO access a non-RAM physical address. Unmapped
	// addresses read as all-ones and ignore writes.
	ReadMMIO(pa uint64, size int) uint64
	WriteMMIO(pa uint64, size int, v uint64)
	// In/Out perform port I/O.
	In(port uint16, size int) uint32
	Out(port uint16, size int, v uint32)
}

// Platform answers what the CPU model and MSR file own: CPUID leaves and
// the MSRs that the core does not hold itself.
type Platform interface {
	CPUID(c *CPU, leaf, subleaf uint32) (eax, ebx, ecx, edx uint32)
	ReadMSR(c *CPU, index uint32) (uint64, *arch.Fault)
	WriteMSR(c *CPU, index uint32, v uint64) *arch.Fault
}

// StopReason tells why Run returned.
type StopReason int

// Reasons for Run to return.
const (
	StopNone      StopReason = iota
	StopBudget               // the instruction budget is used up
	StopHalt                 // HLT with interrupts disabled, or waiting for one
	StopShutdown             // triple fault or shutdown: see CPU.ShutdownFault
	StopRequested            // the board asked the CPU to stop (device exit)
	StopWaitSIPI             // an application processor waiting for a STARTUP IPI (smp.go)
)

// CPU is one logical processor.
type CPU struct {
	arch.State

	// Lazy arithmetic flags: see flags.go.
	lz lazyFlags

	bus      Bus
	platform Platform
	code     *CodeCache

	// Instruction-in-progress bookkeeping.
	ripCur uint64 // RIP of the instruction being executed
	blk    *block // the block executing (nil between blocks): see now()
	stop   bool   // leave the block loop after this instruction
	// sideExit tells that the stop is a taken side exit (takeSide), not
	// a fault or a stop request: the block loop goes on to the next block.
	sideExit bool
	// runEnd is the instruction count at which Run stops (endRunAt).
	runEnd uint64
	// runTimed: the run's budget is virtual time (RunFor), which VM
	// transitions use too (vmx_time.go).
	runTimed bool
	// attn is the attention word (attention.go).
	attn uint8
	// stopRequested makes Run return (RequestStop).
	stopRequested bool
	// pdpte are the PAE PDPTE registers loaded at MOV CR3/CR0/CR4.
	pdpte [4]uint64
	// Pending fault raised by the current instruction.
	faultPending bool
	// taskCommitted: a task switch passed its commit point during the
	// current event delivery (task.go).
	taskCommitted bool
	fault         arch.Fault
	// delivering is the fault deliverFault is delivering: a copy of
	// fault, which a fault during the delivery overwrites, kept in the
	// CPU so that delivery allocates nothing (event's f points here).
	delivering arch.Fault

	// Segment fast-path facts, recomputed on every segment load. The
	// array has 8 entries, two more than there are segment registers,
	// so that the fast paths index it with seg&7 and no bounds check
	// (segIdx); the last two stay zero and are never selected (the
	// decoder's segment numbers are 0..5).
	segv [segvLen]segView
	// stack32End is the stack fast paths' segment check (exec_stack.go),
	// kept with segv[SS]: when SS is rw (segView) with SS.B=1 (a 32-bit
	// stack pointer, SDM Vol. 1 6.2), a 4-byte access at an offset below
	// stack32End = limit-2 is within the limit (its last byte at most
	// the limit); otherwise 0, which no offset is below. (Outside
	// segView, which stays 32 bytes long: indexing it is a shift.)
	stack32End uint64
	// segv64: every view in segv is 64-bit mode's (set64) and none was
	// written otherwise since, so refreshSegs need only copy the FS and
	// GS bases (the other four views are constants there).
	segv64 bool
	// Decode mode of CS: 0 = 16-bit, 1 = 32-bit, 2 = 64-bit.
	codeMode uint8
	cpl      uint8

	tlb    tlb
	blocks blockLookup
	// ptPages caches the host pages of paging-structure frames (phys.go).
	ptPages ptPageCache
	// memo records recent page walks (walkmemo.go).
	memo walkMemo
	// noReval turns revalidateVPID0 off (tlbreval.go): every VPID-0
	// flush of VM entry and exit drops everything (tests compare both).
	noReval bool
	// frameBlocks memoises the code cache's map lookups (codecache.go).
	frameBlocks [frameBlocksSize]frameBlock

	// Interrupt state.
	halted     bool
	shadow     uint8 // STI / MOV SS interrupt shadow, in instructions
	intr       InterruptSource
	nmiPending bool
	// nmiBlocked is blocking by NMI: from an NMI's delivery to the next
	// IRET (SDM Vol. 3A 6.7.1).
	nmiBlocked bool
	// dbg is what DR7 arms and the pending #DB traps (debugreg.go).
	dbg debugState
	// lbr is IA32_DEBUGCTL with the LBR stack it fills (debugctl.go).
	lbr lbrState

	// Multiprocessor state (smp.go): pending INIT/SIPI signals (checked
	// once per block, next to nmiPending), the wait-for-SIPI activity
	// state (halted is also set in it), the SIPI vector, and the virtual
	// time spent idle.
	signals    uint8
	waitSIPI   bool
	sipiVector uint8
	idle       uint64
	// initBlocked holds INIT signals latched instead of acting on them
	// (VMX root operation, SDM Vol. 3C 24.8): see BlockINIT. The
	// core sets it from its own VMXON/VMXOFF; package vmx never writes
	// the core's state.
	initBlocked bool

	// Results of a shutdown (triple fault).
	shutdown      bool
	ShutdownFault arch.Fault
	ShutdownWhy   string

	// acCheck: alignment checking is on (align.go).
	acCheck bool
	// mon is the address-range monitoring of MONITOR/MWAIT
	// (exec_monitor.go).
	mon monitorState

	// Icount is the number of instructions retired, up to date between
	// blocks; inside a block now() is the exact count.
	Icount uint64
	// The TSC (tsc.go) counts tscMHz ticks per microsecond of virtual
	// time (Clock, idle time included) from tscEpoch, where it was
	// tscBase: a write to IA32_TSC sets both, virtual time does not
	// change. A VMCS TSC offset will be applied on top in VMX non-root
	// operation.
	tscMHz, tscBase, tscEpoch uint64

	// Hooks is optional tracing; nil in the fast path.
	Hooks *Hooks

	// ID is the CPU's index on the board (APIC ID by default).
	ID int

	// MaxPhysAddr is MAXPHYADDR reported by CPUID.80000008H:EAX[7:0].
	MaxPhysAddr uint

	feat features

	// rng is the RDRAND/RDSEED generator's state (exec_rand.go; 0 until
	// first used).
	rng uint64

	// intrHint says a maskable interrupt may be pending: the run loop asks
	// the interrupt source only while it is set, so code running with
	// IF=1 pays no interface call per block. It is set by KickInterrupt
	// (the board, when it latches an interrupt), by every instruction that
	// can change interrupt-controller state (OUT, MMIO and MSR writes, MOV
	// CR8), and at the start of every Run as a safety net; it is cleared
	// when the source answers that nothing is pending.
	intrHint bool

	// FPU/SSE state that compiled kernels touch.
	fpu fpuState

	// vmx is the VMX state (package vmx); nil on a model without VMX.
	vmx *vmx.CPU
	// intercepts is the current VMCS's intercept record, taken at VM
	// entry (exec_vmx.go); exitPending says the executing instruction
	// caused a VM exit (the run loop's third outcome).
	intercepts vmx.Intercepts
	// vmxOut holds the outcome of the VMX instruction executing
	// (vmxOutcome, Hooks.VMX): written in place, never copied per
	// instruction (issue 18).
	vmxOut vmx.Outcome
	// vmxCtxBuf is the snapshot the checks of the VMX instruction
	// executing read (vmxCtx), in place.
	vmxCtxBuf   vmx.EntryCtx
	exitPending bool
	// xfer is the state a far transfer or an event delivery in progress
	// (xferOn) has changed, for its undo (exceptions.go beginTransfer).
	xfer   eventSave
	xferOn bool
	// firstHalfStop says that the first instruction of a load pair (its
	// MOV r,m) stopped the entry: the second did not run (exec_pair.go,
	// retireStopped).
	firstHalfStop bool
	// runStop, when not 0, says that the runStop-th instruction of a stack
	// run (exec_stackrun.go) stopped the entry: the ones before it
	// retired, the ones after it did not run (retireStopped).
	runStop uint8
	// vev is the state of events in VMX non-root operation (vmx_events.go).
	vev vmxEvents
	// vmxEveryBlock keeps attnVMX set for as long as a guest's event
	// controls are on (vmxAttn), so that its events are looked at after
	// every block: the contract before attnVMX followed its sources. Only
	// the tests set it, to compare the two (vmx_quiet_test.go).
	vmxEveryBlock bool
	// pauseLoop is the PAUSE-loop-exiting state, reset by VM entry
	// (vmx_insnexit.go pause).
	pauseLoop vmx.PauseLoop
	// lintSink receives lint warnings (Config.Lint).
	lintSink func(cpu int, msg string)
}

// InterruptSource supplies maskable external interrupts (PIC or local APIC).
//
// The CPU asks Pending only after KickInterrupt (and at the start of each
// Run): a source calls KickInterrupt whenever an interrupt may have become
// pending, or from inside Pending to be asked again.
type InterruptSource interface {
	// Pending reports whether an interrupt is ready for delivery.
	Pending() bool
	// Ack performs the INTA cycle and returns the vector.
	Ack() uint8
}

// Hooks are optional observers for tracing (the -d flags); they are not
// called when nil.
type Hooks struct {
	// Exception is called when an exception or interrupt is delivered
	// (f valid during the call only).
	Exception func(c *CPU, vec uint8, f *arch.Fault, external bool)
	// Insn is called before each instruction when single-stepping traces.
	Insn func(c *CPU, rip uint64, bytes []byte)
	// Translate is called when a block is decoded (-d in_asm): where it
	// is and its bytes. A block is decoded once while it stays in the
	// code cache (a write to its page, or code outside RAM, decodes it
	// again).
	Translate func(c *CPU, b TraceBlock, code []byte)
	// Exec is called before each block executes (-d exec, -d cpu), with
	// the CPU's state at the block's start. Installing it moves every
	// block to the slow path (trace.go).
	Exec func(c *CPU, b TraceBlock)
	// VMX is called with the outcome of every VMX instruction (valid
	// during the call only); with VMXFailuresOnly, of every one that did
	// not end in VMsucceed (a user that looks at failures only spares the
	// host's VMREADs, VMWRITEs and VM entries a call each: issue 18).
	VMX             func(c *CPU, o *vmx.Outcome)
	VMXFailuresOnly bool
	// VMExit is called after every VM exit (its information is in the
	// current VMCS).
	VMExit func(c *CPU, reason uint32, info vmx.ExitInfo)
	// MSR is called after RDMSR (write false) or WRMSR (write true) that
	// did not exit: the MSR index, the value read or written, and the
	// fault it raised (nil if none).
	MSR func(c *CPU, write bool, idx uint32, val uint64, f *arch.Fault)
	// CR is called after MOV to CR0, CR2, CR3, CR4 or CR8 that did not
	// exit: the register, its value before, the value written and the
	// fault it raised (nil if none).
	CR func(c *CPU, cr int, old, val uint64, f *arch.Fault)
	// IO is called after IN or OUT (not INS/OUTS) reached the port: the
	// port, the size in bytes, the value and the direction.
	IO func(c *CPU, port uint16, size int, val uint32, out bool)
	// Shutdown is called when the CPU enters the shutdown state: a triple
	// fault, or a VMX abort (SDM Vol. 3C 28.7).
	Shutdown func(c *CPU, f arch.Fault, why string)
	// EPT is called on a page-modification log write, an EPTP switch
	// and a virtualization exception (vmx_eptfeat.go).
	EPT func(c *CPU, e EPTEvent)
	// Magic, if set, is called on XCHG BX,BX (Bochs' magic breakpoint),
	// after it executed.
	Magic func(c *CPU)
}

// Config configures a new CPU.
type Config struct {
	ID          int
	Bus         Bus
	Platform    Platform
	Code        *CodeCache
	MaxPhysAddr uint
	// VMX are the VMX capabilities of the model (nil: no VMX), and
	// VMXRegistry the machine's registry of VMX regions in use.
	VMX         *vmx.Caps
	VMXRegistry *vmx.Registry
	// Lint receives warnings about what hardware accepts silently but is
	// almost always a bug (VMX regions shared or touched: vmx/lint.go).
	Lint func(cpu int, msg string)
	// TSCMHz is the TSC's rate in ticks per microsecond of virtual time
	// (tsc.go): the model's nominal frequency in MHz; 0 selects
	// DefaultTSCMHz.
	TSCMHz uint64
}

// New creates a CPU in the given architectural state.
func New(cfg Config, s arch.State) *CPU {
	c := &CPU{bus: cfg.Bus, platform: cfg.Platform, code: cfg.Code, ID: cfg.ID, MaxPhysAddr: cfg.MaxPhysAddr}
	if c.MaxPhysAddr == 0 {
		c.MaxPhysAddr = 46
	}
	if c.code == nil {
		c.code = NewCodeCache()
	}
	c.code.attach(c)
	if cfg.VMX != nil {
		c.vmx = vmx.New(cfg.VMX, cfg.VMXRegistry, cfg.ID)
	}
	c.lintSink = cfg.Lint
	c.tscMHz = cfg.TSCMHz
	if c.tscMHz == 0 {
		c.tscMHz = DefaultTSCMHz
	}
	c.blocks.epoch, c.blocks.top = 1, 1
	c.tlb.ctx.live[0] = true
	c.fpu.reset()
	c.SetState(s)
	c.RefreshFeatures()
	return c
}

// features are the CPUID-reported capabilities that change how the core
// executes an encoding or which control bits it accepts.
type features struct {
	bmi1  bool // CPUID.(EAX=07H,ECX=0):EBX.BMI1[bit 3]: F3 0F BC is TZCNT
	lzcnt bool // CPUID.80000001H:ECX.LZCNT[bit 5]: F3 0F BD is LZCNT
	// cr4 are the CR4 bits MOV to CR4 accepts (cr.go cr4Allowed).
	cr4     uint64
	invpcid bool // CPUID.(EAX=07H,ECX=0):EBX.INVPCID[bit 10]
	smap    bool // CPUID.(EAX=07H,ECX=0):EBX.SMAP[bit 20]: STAC/CLAC
	nx      bool // CPUID.80000001H:EDX.NX[bit 20]: IA32_EFER.NXE
	lm      bool // CPUID.80000001H:EDX.LM[bit 29]: IA32_EFER.LME
	page1g  bool // CPUID.80000001H:EDX.Page1GB[bit 26]: PDPTE.PS
	rdrand  bool // CPUID.1:ECX.RDRAND[bit 30]
	rdseed  bool // CPUID.(EAX=07H,ECX=0):EBX.RDSEED[bit 18]
	// lbr is the model's LBR stack, by CPUID.1:EAX (debugctl.go).
	lbr lbrLayout
	pks bool // CPUID.(EAX=07H,ECX=0):ECX.PKS[bit 31]: IA32_PKRS
	// CPUID.(EAX=07H,ECX=0):EBX.FSGSBASE[bit 0] and ECX.RDPID[bit 22]
	fsgsbase, rdpid bool
	// xcr0 are the XCR0 bits XSETBV accepts: CPUID.(EAX=0DH,ECX=0):EDX:EAX
	// (SDM Vol. 1 13.3).
	xcr0 uint64
	// CPUID.(EAX=0DH,ECX=1):EAX.XSAVEC[bit 1] (XSAVEC, the compacted form
	// of XRSTOR) and .XSS[bit 3] (XSAVES, XRSTORS, IA32_XSS) (exec_xsaves.go).
	xsavec, xsaves bool
}

// RefreshFeatures re-reads the CPU model's CPUID leaves that select
// instruction behaviour; call it after changing the model.
func (c *CPU) RefreshFeatures() {
	p := c.plat()
	max, _, _, _ := p.CPUID(c, 0, 0)
	c.feat = features{}
	var eax1, ecx1, ebx7, ecx7, edx81 uint32
	if max >= 1 {
		eax1, _, ecx1, _ = p.CPUID(c, 1, 0)
	}
	if max >= 7 {
		_, ebx7, ecx7, _ = p.CPUID(c, 7, 0)
		c.feat.bmi1 = ebx7&(1<<3) != 0
	}
	if maxExt, _, _, _ := p.CPUID(c, 0x80000000, 0); maxExt >= 0x80000001 {
		_, _, ecx, edx := p.CPUID(c, 0x80000001, 0)
		c.feat.lzcnt = ecx&(1<<5) != 0
		edx81 = edx
	}
	c.feat.invpcid = ebx7&(1<<10) != 0
	c.feat.smap = ebx7&(1<<20) != 0
	c.feat.nx = edx81&(1<<20) != 0
	c.feat.lm = edx81&(1<<29) != 0
	c.feat.page1g = edx81&(1<<26) != 0
	c.feat.rdrand = ecx1&(1<<30) != 0
	c.feat.rdseed = ebx7&(1<<18) != 0
	c.feat.pks = ecx7&(1<<31) != 0
	c.feat.fsgsbase = ebx7&(1<<0) != 0
	c.feat.rdpid = ecx7&(1<<22) != 0
	c.feat.cr4 = cr4Allowed(ecx1, ebx7, ecx7)
	c.feat.lbr = lbrLayoutFor(eax1)
	if max >= 0xD {
		a, _, _, d := p.CPUID(c, 0xD, 0)
		c.feat.xcr0 = uint64(d)<<32 | uint64(a)
		a1, _, _, _ := p.CPUID(c, 0xD, 1)
		c.feat.xsavec, c.feat.xsaves = a1&(1<<1) != 0, a1&(1<<3) != 0
	}
}

// SetState loads the whole architectural state (used at reset, by the
// loaders and by VM entry/exit) and recomputes every derived fact.
func (c *CPU) SetState(s arch.State) {
	keysChanged := s.PKRU != c.PKRU || s.PKRS != c.PKRS
	c.State = s
	c.stateLoaded(keysChanged)
}

// stateLoaded recomputes every derived fact after c.State was written as
// a whole (SetState; VM entry and exit load it in place): the
// protection-key rights if PKRU or PKRS changed, the lazy flags from
// RFLAGS, the mode and the debug registers.
func (c *CPU) stateLoaded(keysChanged bool) {
	if keysChanged {
		c.keyRightsChanged() // exec_pkeys.go
	}
	c.lz.setFlags(c.RFLAGS)
	c.RFLAGS |= arch.FlagRes1
	c.stateChanged()
	c.updateDebug()
}

// GetState returns the architectural state with RFLAGS materialised.
func (c *CPU) GetState() arch.State {
	s := c.State
	s.RFLAGS = c.Flags()
	return s
}

// stateChanged recomputes derived facts after a mode-relevant change
// (segment registers, CR0/CR4/EFER, CPL).
func (c *CPU) stateChanged() {
	c.refreshSegs()
	c.codeMode = c.modeOfCS()
	c.cpl = uint8(c.State.CPL())
	c.tlb.setKey(c.cpl == 3, c.pcid())
	c.enterCodeCtx()
	c.updateAlignCheck() // align.go
}

// modeOfCS is the decode mode CS gives now: 64-bit with IA32_EFER.LMA=1
// and CS.L=1, else 32-bit with CS.D=1 outside virtual-8086 mode, else
// 16-bit (SDM Vol. 3A 3.4.5, 5.2.1).
func (c *CPU) modeOfCS() uint8 {
	cs := &c.Seg[arch.CS]
	switch {
	case c.EFER&arch.EFERLMA != 0 && cs.Attr&arch.ARL != 0:
		return mode64
	case c.CR0&arch.CR0PE != 0 && cs.Attr&arch.ARDB != 0 && c.RFLAGS&arch.FlagVM == 0:
		return mode32
	case c.CR0&arch.CR0PE == 0 && cs.Attr&arch.ARDB != 0:
		return mode32 // real mode with a 32-bit CS cache (unreal)
	}
	return mode16
}

const (
	mode16 = 0
	mode32 = 1
	mode64 = 2
)

// Halted reports whether the CPU is in the HLT state (not the
// wait-for-SIPI state: see WaitingForSIPI).
func (c *CPU) Halted() bool { return c.halted && !c.waitSIPI }

// IsShutdown reports whether the CPU entered shutdown (triple fault).
func (c *CPU) IsShutdown() bool { return c.shutdown }

// SetInterruptSource connects the interrupt controller.
func (c *CPU) SetInterruptSource(s InterruptSource) { c.intr = s }

// raise records a fault for the current instruction; the block loop delivers
// it after the handler returns. The handler must not change state after it.
func (c *CPU) raise(f arch.Fault) {
	if !c.faultPending {
		c.fault = f
		c.faultPending = true
	}
	c.stop = true
}

// raiseGP raises #GP(0) with its rule.
func (c *CPU) raiseGP(rule, sdm string) { c.raise(arch.GPFault(0, rule, sdm)) }

// raiseUD raises #UD with its rule.
func (c *CPU) raiseUD(rule, sdm string) { c.raise(arch.UDFault(rule, sdm)) }

// TSC returns the time-stamp counter (tsc.go): the value last written to
// IA32_TSC (0 at reset) plus the ticks of the virtual time since, at the
// model's nominal frequency. Exact inside a block.
func (c *CPU) TSC() uint64 { return c.tscBase + c.tscTicks(c.Clock()-c.tscEpoch) }

// setTSC is a write to IA32_TSC (SDM Vol. 3B 18.17): the counter is v as
// of the writing instruction's virtual time; virtual time does not change.
func (c *CPU) setTSC(v uint64) { c.tscBase, c.tscEpoch = v, c.Clock() }

package cpu

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
)

// IA32_DEBUGCTL and what it arms: single-step on branches (BTF) and the
// model-specific last-branch-record (LBR) stack with its filter
// (MSR_LBR_SELECT), top-of-stack pointer and last-exception record (SDM
// Vol. 3B 18.4, 18.5 and the LBR sections of the model chapters; Vol. 4
// Tables 2-20 ff. for the MSR addresses).
//
// Cost model, as for the debug registers (debugreg.go): with DEBUGCTL.LBR
// = 0 nothing here runs. LBR = 1 sets attnDebug, so that the run loop
// takes one instruction at a time through runSlow, which classifies the
// retired instruction (branchKind) and records a taken branch; BTF acts
// only with RFLAGS.TF = 1, which already single-steps. Event delivery
// records interrupts and exceptions. The fused, pair and hot handlers know
// nothing of it.

// IA32_DEBUGCTL bits (SDM Vol. 3B 18.4.1, Figure 18-3).
const (
	debugCtlLBR = 1 << 0 // last branch/interrupt/exception recording
	debugCtlBTF = 1 << 1 // single-step on branches
	// debugCtlDefined are the bits the SDM defines: 0, 1 and 6-15
	// (Vol. 4 IA32_DEBUGCTL); the others are reserved (#GP).
	debugCtlDefined = 0xFFC3
	// debugCtlHonoured are the defined bits vmxemu implements; TR, BTS,
	// BTINT, BTS_OFF_*, the freeze bits, uncore PMI and RTM debugging
	// are not (a known gap: WRMSR names it).
	debugCtlHonoured = debugCtlLBR | debugCtlBTF
)

// The model-specific LBR MSRs (SDM Vol. 4, e.g. Table 2-20 "MSRs Supported
// by Intel Processors based on Sandy Bridge Microarchitecture" and the
// Skylake table for MSR_LBR_INFO_n).
const (
	msrLBRSelect   = 0x1C8 // MSR_LBR_SELECT
	msrLBRTOS      = 0x1C9 // MSR_LASTBRANCH_TOS
	msrLERFromLIP  = 0x1DD // MSR_LER_FROM_LIP
	msrLERToLIP    = 0x1DE // MSR_LER_TO_LIP
	msrLBRFromIP0  = 0x680 // MSR_LASTBRANCH_0_FROM_IP
	msrLBRToIP0    = 0x6C0 // MSR_LASTBRANCH_0_TO_IP
	msrLBRInfo0    = 0xDC0 // MSR_LBR_INFO_0 (Skylake and later)
	lbrMaxDepth    = 32
	lbrSelectSNB   = 0x1FF // CPL_EQ_0 .. FAR_BRANCH (bits 8:0)
	lbrCallStackEn = 1 << 9
)

// LBR record formats (IA32_PERF_CAPABILITIES[5:0], SDM Vol. 3B 18.4.8.1):
// where a FROM_IP record keeps its flags.
const (
	lbrFmtEIPFlags  = 3 // 64-bit EIP; bit 63 MISPRED (Nehalem, Sandy/Ivy Bridge)
	lbrFmtEIPFlags2 = 4 // 64-bit EIP; bits 63:61 MISPRED, IN_TSX, TSX_ABORT (Haswell, Broadwell)
	lbrFmtInfo      = 5 // 64-bit EIP, full sign extension; flags in MSR_LBR_INFO_n (Skylake and later)
)

// lbrLayout is a model's LBR stack: depth 0 means it has none vmxemu
// models. arch marks a processor whose LBRs are the architectural ones
// (IA32_LBR_x, enabled by IA32_LBR_CTL.LBREn: SDM Vol. 3B 18.1
// "Architectural Last Branch Records"), not modelled and masked from
// CPUID: IA32_DEBUGCTL.LBR enables nothing there, so vmxemu stores it and
// records nothing.
type lbrLayout struct {
	depth  uint8
	format uint8
	arch   bool
}

// lbrLayoutFor returns the LBR stack of the processor with CPUID.1:EAX
// signature sig, by DisplayFamily_DisplayModel (the "LBR Stack Size and
// TOS Pointer Range" tables of SDM Vol. 3B 18.9-18.11): 16 entries with
// TOS 0-15 from Sandy Bridge to Broadwell, 32 with TOS 0-31 from Skylake;
// Ice Lake server keeps the Skylake layout. Processors with architectural
// LBRs (Sapphire Rapids: CPUID.(EAX=07H,ECX=0):EDX[19], masked by vmxemu
// as "arch-lbr") have none here: their LBRs are the IA32_LBR_x MSRs, not
// modelled.
func lbrLayoutFor(sig uint32) lbrLayout {
	family := sig >> 8 & 0xF
	model := sig >> 4 & 0xF
	if family == 6 || family == 0xF {
		model |= sig >> 12 & 0xF0
	}
	if family != 6 {
		return lbrLayout{}
	}
	switch model {
	case 0x2A, 0x2D, 0x3A, 0x3E: // Sandy Bridge(-EP), Ivy Bridge(-EP)
		return lbrLayout{depth: 16, format: lbrFmtEIPFlags}
	case 0x3C, 0x3F, 0x45, 0x46: // Haswell
		return lbrLayout{depth: 16, format: lbrFmtEIPFlags2}
	case 0x4E, 0x5E, 0x55, 0x6A, 0x6C: // Skylake, Skylake-SP/Cascade Lake, Ice Lake-SP
		return lbrLayout{depth: 32, format: lbrFmtInfo}
	case 0x8F: // Sapphire Rapids: architectural LBRs
		return lbrLayout{arch: true}
	}
	return lbrLayout{}
}

// lbrState is IA32_DEBUGCTL and the LBR MSRs of one logical processor.
type lbrState struct {
	ctl              uint64 // IA32_DEBUGCTL
	on               bool   // LBR = 1 with a modelled stack: branches are recorded
	sel              uint64 // MSR_LBR_SELECT
	tos              uint64 // MSR_LASTBRANCH_TOS
	from, to, info   [lbrMaxDepth]uint64
	lerFrom, lerTo   uint64
	lastFrom, lastTo uint64 // the most recent record, for the LER
}

// Branch kinds, the MSR_LBR_SELECT filter bit that suppresses each (SDM
// Vol. 3B 18.9.2 "Filtering of Last Branch Records").
const (
	brNone       = 0
	brJcc        = 1 << 2
	brNearRelCal = 1 << 3
	brNearIndCal = 1 << 4
	brNearRet    = 1 << 5
	brNearIndJmp = 1 << 6
	brNearRelJmp = 1 << 7
	brFar        = 1 << 8
)

// branchKind classifies a retired instruction as a branch, and says
// whether it was taken (it is called after the instruction ran). Software
// interrupts (INT n, INT3, INTO, INT1) are recorded by event delivery,
// like every interrupt and exception. Jcc and LOOP/JrCXZ are re-evaluated
// on the state they left: Jcc changes no flag, LOOP has decremented the
// count register.
func (c *CPU) branchKind(in *Inst) (kind uint16, taken bool) {
	switch op := in.op; {
	case op >= 0x70 && op <= 0x7F, op >= 0x180 && op <= 0x18F:
		return brJcc, c.cond(uint8(op & 0xF))
	case op >= 0xE0 && op <= 0xE3:
		cnt := c.GPR[arch.RCX] & in.amask
		switch op {
		case 0xE3:
			return brJcc, cnt == 0
		case 0xE2:
			return brJcc, cnt != 0
		case 0xE1:
			return brJcc, cnt != 0 && c.zf()
		}
		return brJcc, cnt != 0 && !c.zf()
	case op == 0xE8:
		return brNearRelCal, true
	case op == 0xE9, op == 0xEB:
		return brNearRelJmp, true
	case op == 0xC2, op == 0xC3:
		return brNearRet, true
	case op == 0x9A, op == 0xEA, op == 0xCA, op == 0xCB, op == 0xCF,
		op == 0x105, op == 0x107, op == 0x134, op == 0x135: // far CALL/JMP/RET, IRET, SYSCALL, SYSRET, SYSENTER, SYSEXIT
		return brFar, true
	case op == 0xFF:
		switch in.sub {
		case 2:
			return brNearIndCal, true
		case 4:
			return brNearIndJmp, true
		case 3, 5:
			return brFar, true
		}
	}
	return brNone, false
}

// afterStep is runSlow's look at a single instruction that retired with
// IA32_DEBUGCTL non-zero: a taken branch is recorded in the LBR stack
// (LBR = 1), and with BTF = 1 RFLAGS.TF single-steps on branches only:
// the single-step trap tf stands only after a taken branch (SDM Vol. 3B
// 18.4.3). cpl is the CPL the instruction ran at.
func (c *CPU) afterStep(in *Inst, tf bool, cpl uint8) bool {
	kind, taken := c.branchKind(in)
	taken = taken && kind != brNone
	if taken && c.lbr.on {
		c.lbrRecord(c.ripCur, c.RIP, kind, cpl)
	}
	if tf && c.lbr.ctl&debugCtlBTF != 0 {
		return taken
	}
	return tf
}

// lbrDelivered is what a delivered event does with IA32_DEBUGCTL non-zero.
// A #DB (an exception or INT1) is not recorded, and the processor clears
// BTF and LBR when it generates it, keeping the LBR stack (SDM Vol. 3B
// 18.4.3; 18.4.8 "Monitoring Branches, Exceptions, and Interrupts": "except
// for debug exceptions"; Linux's exc_debug relies on BTF being cleared).
// Any other interrupt or exception, with LBR = 1, first copies the newest
// branch record into the last-exception record (MSR_LER_FROM_LIP/TO_LIP,
// Vol. 4 Table 2-20), then is recorded as a far transfer from the RIP it
// saved (from) to its handler.
func (c *CPU) lbrDelivered(vec uint8, kind eventKind, from uint64, cpl uint8) {
	if vec == arch.VecDB && (kind == evException || kind == evICEBP) {
		c.setDebugCtl(c.lbr.ctl &^ (debugCtlLBR | debugCtlBTF))
		return
	}
	if !c.lbr.on {
		return
	}
	c.lbr.lerFrom, c.lbr.lerTo = c.lbr.lastFrom, c.lbr.lastTo
	c.lbrRecord(from, c.RIP, brFar, cpl)
}

// lbrRecord pushes one record unless MSR_LBR_SELECT filters it out: TOS
// advances modulo the depth, then FROM/TO (and LBR_INFO) at TOS take the
// record (SDM Vol. 3B 18.9.1). Addresses are EIP (offsets in CS),
// truncated to 32 bits outside 64-bit mode (18.4.8.1). vmxemu has no
// branch predictor: MISPRED is 0 and, like IN_TSX/TSX_ABORT (no TSX) and
// the cycle count (not valid), reads 0.
func (c *CPU) lbrRecord(from, to uint64, kind uint16, cpl uint8) {
	depth := uint64(c.feat.lbr.depth)
	if depth == 0 {
		return
	}
	if sel := c.lbr.sel; sel&uint64(kind) != 0 || cpl == 0 && sel&1 != 0 || cpl != 0 && sel&2 != 0 {
		return
	}
	if c.codeMode != mode64 {
		from, to = from&0xFFFFFFFF, to&0xFFFFFFFF
	}
	c.lbr.lastFrom, c.lbr.lastTo = from, to
	c.lbr.tos = (c.lbr.tos + 1) % depth
	switch c.feat.lbr.format {
	case lbrFmtEIPFlags:
		from &^= 1 << 63 // MISPRED = 0; the address sign-extends into 62:48
	case lbrFmtEIPFlags2:
		from &= 1<<61 - 1 // MISPRED, TSX_ABORT, IN_TSX = 0; sign extension in 60:48
	}
	c.lbr.from[c.lbr.tos], c.lbr.to[c.lbr.tos], c.lbr.info[c.lbr.tos] = from, to, 0
}

// lbrMSR reports whether idx is one of the model's LBR MSRs, which the
// core holds.
func (c *CPU) lbrMSR(idx uint32) bool {
	d := uint32(c.feat.lbr.depth)
	switch {
	case d == 0:
		return false
	case idx == msrLBRSelect, idx == msrLBRTOS, idx == msrLERFromLIP, idx == msrLERToLIP:
		return true
	case idx >= msrLBRFromIP0 && idx < msrLBRFromIP0+d, idx >= msrLBRToIP0 && idx < msrLBRToIP0+d:
		return true
	}
	return c.feat.lbr.format == lbrFmtInfo && idx >= msrLBRInfo0 && idx < msrLBRInfo0+d
}

// readLBRMSR is RDMSR of an LBR MSR (lbrMSR).
func (c *CPU) readLBRMSR(idx uint32) uint64 {
	switch {
	case idx == msrLBRSelect:
		return c.lbr.sel
	case idx == msrLBRTOS:
		return c.lbr.tos
	case idx == msrLERFromLIP:
		return c.lbr.lerFrom
	case idx == msrLERToLIP:
		return c.lbr.lerTo
	case idx >= msrLBRInfo0:
		return c.lbr.info[idx-msrLBRInfo0]
	case idx >= msrLBRToIP0:
		return c.lbr.to[idx-msrLBRToIP0]
	}
	return c.lbr.from[idx-msrLBRFromIP0]
}

// writeLBRMSR is WRMSR of an LBR MSR: the records, TOS and the LER are
// writable (R/W in the model tables, so that software can save and
// restore them); TOS keeps its bits within the depth; LBR_SELECT has
// bits 8:0 (bit 9, EN_CALLSTACK, from Haswell: call-stack mode is not
// modelled, a known gap).
func (c *CPU) writeLBRMSR(idx uint32, v uint64) *arch.Fault {
	switch {
	case idx == msrLBRSelect:
		if v&^lbrSelectSNB != 0 {
			why := fmt.Sprintf("reserved bit(s) %#x set in MSR_LBR_SELECT (bits 8:0 are defined)", v&^lbrSelectSNB)
			if c.feat.lbr.format != lbrFmtEIPFlags && v&^(lbrSelectSNB|lbrCallStackEn) == 0 {
				why = "MSR_LBR_SELECT.EN_CALLSTACK (bit 9): LBR call-stack mode is not implemented by vmxemu (a known gap)"
			}
			f := arch.GPFault(0, why, "Vol. 3B 18.9.2, 18.11")
			return &f
		}
		c.lbr.sel = v
	case idx == msrLBRTOS:
		c.lbr.tos = v % uint64(c.feat.lbr.depth)
	case idx == msrLERFromLIP:
		c.lbr.lerFrom = v
	case idx == msrLERToLIP:
		c.lbr.lerTo = v
	case idx >= msrLBRInfo0:
		c.lbr.info[idx-msrLBRInfo0] = v
	case idx >= msrLBRToIP0:
		c.lbr.to[idx-msrLBRToIP0] = v
	default:
		c.lbr.from[idx-msrLBRFromIP0] = v
	}
	return nil
}

// writeDebugCtl is WRMSR IA32_DEBUGCTL: reserved bits fault, and so do
// the defined bits vmxemu does not implement, naming the gap; LBR needs
// the model's LBR stack.
func (c *CPU) writeDebugCtl(v uint64) *arch.Fault {
	var why string
	switch {
	case v&^debugCtlDefined != 0:
		why = fmt.Sprintf("reserved bit(s) %#x set in IA32_DEBUGCTL", v&^debugCtlDefined)
	case v&^debugCtlHonoured != 0:
		why = fmt.Sprintf("IA32_DEBUGCTL %#x: vmxemu implements LBR (bit 0) and BTF (bit 1) only; TR/BTS/BTINT, BTS_OFF_*, the freeze bits, uncore PMI and RTM debugging are a known gap", v)
	case v&debugCtlLBR != 0 && c.feat.lbr.depth == 0 && !c.feat.lbr.arch:
		why = "IA32_DEBUGCTL.LBR: vmxemu has no LBR stack for this processor model: a known gap"
	default:
		c.setDebugCtl(v)
		return nil
	}
	f := arch.GPFault(0, why, "Vol. 3B 18.4.1")
	return &f
}

// setDebugCtl loads IA32_DEBUGCTL without WRMSR's checks (VM entry and
// exit: the guest-state checks and the SDM's exit value decide).
func (c *CPU) setDebugCtl(v uint64) {
	c.lbr.ctl = v
	c.lbr.on = v&debugCtlLBR != 0 && c.feat.lbr.depth != 0
	c.updateAttn()
}

// DebugCtl returns IA32_DEBUGCTL (tests, the debugger).
func (c *CPU) DebugCtl() uint64 { return c.lbr.ctl }

package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Multiprocessor signals: INIT, STARTUP (SIPI) and the wait-for-SIPI
// activity state (SDM Vol. 3A 10.4 "Multiple-Processor (MP)
// Initialization", 11.6.1 "Interrupt Command Register"), and the virtual
// clock the board uses to keep CPUs, timers and the TSC in step.
//
// The local APIC (package machine) accepts INIT and SIPI messages and
// calls RaiseINIT and RaiseSIPI; the CPU acts on them at the next
// instruction boundary, between blocks, as it does for NMIs. Nothing here
// is on the per-instruction path: Run looks at one byte (signals) per
// block.

// Pending-signal bits (CPU.signals).
const (
	sigINIT = 1 << 0
	sigSIPI = 1 << 1
)

// INITResetter is implemented by an InterruptSource that has state INIT
// resets (a local APIC: SDM Vol. 3A 11.4.7.3, "Local APIC State After an
// INIT Reset"). The CPU calls INITReset when it acts on an INIT.
type INITResetter interface {
	INITReset()
}

// RaiseINIT delivers an INIT signal. It is acted on at the next
// instruction boundary, unless INIT is blocked (BlockINIT) (VMX root operation),
// in which case it stays latched until it is unblocked.
func (c *CPU) RaiseINIT() { c.signals |= sigINIT; c.updateAttn() }

// RaiseSIPI delivers a STARTUP IPI with the given vector. A SIPI is
// accepted only by a processor in the wait-for-SIPI state (or about to
// enter it because of an INIT already latched); otherwise it is discarded
// (SDM Vol. 3A 10.4.4.1: "the second SIPI is ignored if the AP has
// already started"). Only the first SIPI of a pair counts.
func (c *CPU) RaiseSIPI(vector uint8) {
	if c.signals&sigSIPI != 0 {
		return
	}
	initComing := c.signals&sigINIT != 0 && !c.initBlocked && c.APICBase&apicBaseBSP == 0
	if !c.waitSIPI && !initComing {
		return
	}
	c.signals |= sigSIPI
	c.sipiVector = vector
	c.updateAttn()
}

// WaitingForSIPI reports whether the CPU is in the wait-for-SIPI state
// (an application processor after power-on or INIT).
func (c *CPU) WaitingForSIPI() bool { return c.waitSIPI }

// EnterWaitForSIPI puts the CPU in the wait-for-SIPI state without
// changing its registers: the board does this for the application
// processors at power-on, and VMX will for the wait-for-SIPI activity
// state.
func (c *CPU) EnterWaitForSIPI() {
	c.waitSIPI = true
	c.halted = true
}

// apicBaseBSP is IA32_APIC_BASE.BSP (bit 8).
const apicBaseBSP = 1 << 8

// takeSignals acts on pending INIT and SIPI signals. It returns true when
// the CPU's state changed (so Run goes round again).
func (c *CPU) takeSignals() bool {
	did := false
	if c.signals&sigINIT != 0 && !c.initBlocked {
		c.signals &^= sigINIT
		if c.inGuest() {
			// In VMX non-root operation INIT is a VM exit (SDM Vol. 3C
			// 24.8, 26.2; exit reason 3).
			c.vmExit(vmx.ExitINIT, vmx.ExitInfo{}, false)
			return true
		}
		c.doINIT()
		did = true
	}
	if c.signals&sigSIPI != 0 {
		c.signals &^= sigSIPI
		if c.inGuest() {
			// A VM exit in the wait-for-SIPI activity state (SDM Vol.
			// 3C 26.2, vmx_activity.go).
			return c.guestSIPI(c.sipiVector)
		}
		if c.waitSIPI {
			c.doSIPI(c.sipiVector)
			did = true
		}
	}
	return did
}

// doINIT puts the processor in its INIT state (SDM Vol. 3A 10.1.1, Table
// 10-1, "INIT" column). INIT differs from RESET in what it keeps: the
// caching bits CR0.CD/NW, the x87/SSE state, the MTRRs and the other MSRs
// (held by the MSR file, which INIT does not touch), IA32_APIC_BASE,
// IA32_PAT, the TSC, XCR0, PKRU, IA32_PKRS and the MSRs the core holds for
// SYSCALL/SYSENTER.
// IA32_EFER is cleared (the processor is back in real mode). The local
// APIC goes to its INIT state (INITResetter). The bootstrap processor then
// executes from the reset vector (0xFFFFFFF0); an application processor
// (IA32_APIC_BASE.BSP = 0) enters the wait-for-SIPI state (10.4.2).
func (c *CPU) doINIT() {
	old := c.GetState()
	var s arch.State
	s.RIP = 0xFFF0
	s.RFLAGS = arch.FlagRes1
	s.CR0 = old.CR0&(arch.CR0CD|arch.CR0NW) | arch.CR0ET
	if c.platform != nil {
		sig, _, _, _ := c.platform.CPUID(c, 1, 0)
		s.GPR[arch.RDX] = uint64(sig)
	}
	const code16 = arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed
	const data16 = arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed
	for i := range s.Seg {
		s.Seg[i] = arch.Segment{Limit: 0xFFFF, Attr: data16}
	}
	s.Seg[arch.CS] = arch.Segment{Selector: 0xF000, Base: 0xFFFF0000, Limit: 0xFFFF, Attr: code16}
	s.LDTR = arch.Segment{Limit: 0xFFFF, Attr: arch.ARP | 0x2}
	s.TR = arch.Segment{Limit: 0xFFFF, Attr: arch.ARP | 0xB}
	s.GDTR = arch.DescTable{Limit: 0xFFFF}
	s.IDTR = arch.DescTable{Limit: 0xFFFF}
	s.DR[6] = 0xFFFF0FF0
	s.DR[7] = 0x400
	// Kept across INIT.
	s.XCR0 = old.XCR0
	s.PAT = old.PAT
	s.APICBase = old.APICBase
	s.KernelGSBase = old.KernelGSBase
	s.SysenterCS, s.SysenterESP, s.SysenterEIP = old.SysenterCS, old.SysenterESP, old.SysenterEIP
	s.STAR, s.LSTAR, s.CSTAR, s.FMASK = old.STAR, old.LSTAR, old.CSTAR, old.FMASK
	s.TSCAux = old.TSCAux
	// PKRU is XSAVE-managed user state and IA32_PKRS an MSR: INIT leaves
	// both, as it leaves the x87/SSE state, XCR0 and the other MSRs (SDM
	// Vol. 3A 10.1; Table 10-1 does not list them; a reading, not a
	// quotation). QEMU agrees: its CPUX86State keeps pkru and pkrs in
	// the part INIT preserves (target/i386/cpu.h, end_init_save).
	s.PKRU, s.PKRS = old.PKRU, old.PKRS

	c.SetState(s)
	c.tlb.flushAll()
	c.pdpte = [4]uint64{}
	c.shadow = 0
	c.dbg.hit, c.dbg.halted = 0, 0
	c.halted = false
	c.nmiPending = false
	c.faultPending = false
	c.nmiBlocked = false
	c.waitSIPI = false
	if r, ok := c.intr.(INITResetter); ok {
		r.INITReset()
	}
	if s.APICBase&apicBaseBSP == 0 {
		c.EnterWaitForSIPI()
	}
}

// doSIPI leaves the wait-for-SIPI state and starts the processor in real
// mode at vector×0x1000: CS selector vector<<8, base vector<<12, IP 0,
// the rest of the state as INIT left it (SDM Vol. 3A 10.4.3 step 10,
// 11.6.1 "Start-Up").
func (c *CPU) doSIPI(vector uint8) {
	s := c.GetState()
	s.Seg[arch.CS].Selector = uint16(vector) << 8
	s.Seg[arch.CS].Base = uint64(vector) << 12
	s.RIP = 0
	c.SetState(s)
	c.waitSIPI = false
	c.halted = false
}

// Clock is the CPU's virtual time: instructions retired plus the time it
// spent idle (halted or waiting for SIPI, credited by the board with
// Idle). Timers and the TSC follow it. It is exact inside a block.
func (c *CPU) Clock() uint64 { return c.now() + c.idle }

// Idle credits n units of virtual time the CPU spent without retiring
// instructions (halted, waiting for SIPI, or delivering events). The TSC
// advances with it, as it does on hardware while a processor is halted
// (the TSC is invariant: SDM Vol. 3B 18.17.1).
func (c *CPU) Idle(n uint64) {
	c.idle += n
}

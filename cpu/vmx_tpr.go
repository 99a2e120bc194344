package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// MOV to/from CR8 in VMX non-root operation (SDM Vol. 3C 26.1.3, 26.3,
// 29.3): "CR8-load exiting" and "CR8-store exiting" make them exit (reason
// 28, the control-register-access qualification of Table 28-3: CR 8,
// access type 0 or 1, the register in bits 11:8), after the CPL check
// (26.1.1) and before the reserved-bit #GP of MOV to CR8 (the VMM sees
// the value); otherwise, with "use TPR shadow", they read and write VTPR
// on the virtual-APIC page instead of the TPR, and a write that brings
// VTPR[7:4] below the TPR threshold causes a trap-like VM exit, reason 43
// (29.1.2). The controls come from the intercept record taken at VM
// entry (vmx.InsnIntercepts); the virtual-APIC page is read and written
// by physical address (25.6.8: it is not translated through EPT).

// guestCR8Read is MOV from CR8 in the guest: it reports whether it
// exited, or else whether it read VTPR into v (shadow).
func (c *CPU) guestCR8Read(in *Inst) (v uint64, exited, shadow bool) {
	x := &c.intercepts.Insn
	switch {
	case x.Exits(vmx.ProcCR8StoreExiting):
		c.guestInsnExit(in, vmx.ExitCRAccess, 8|1<<4|uint64(in.rm&15)<<8)
		return 0, true, false
	case x.Exits(vmx.ProcUseTPRShadow):
		// 29.3: bits 3:0 of the destination are VTPR[7:4], bits 63:4
		// are cleared.
		vtpr, ok := c.physRead(x.VTPRAddr(), 1, accVMX)
		if !ok {
			vtpr = 0xFF // nothing answers: all 1s
		}
		return vtpr >> 4 & 0xF, false, true
	}
	return 0, false, false
}

// guestCR8Write is MOV to CR8 of v in the guest: it reports whether it
// decided (exited, faulted, or wrote VTPR).
func (c *CPU) guestCR8Write(in *Inst, v uint64) bool {
	x := &c.intercepts.Insn
	switch {
	case x.Exits(vmx.ProcCR8LoadExiting):
		c.guestInsnExit(in, vmx.ExitCRAccess, 8|uint64(in.rm&15)<<8)
		return true
	case x.Exits(vmx.ProcUseTPRShadow):
		if v>>4 != 0 {
			c.raiseGP("reserved bits set in CR8", "Vol. 3A 2.5")
			return true
		}
		// 29.3: bits 3:0 of the source into VTPR[7:4]; VTPR[3:0] and
		// bits 31:8 of VTPR are cleared. Then TPR virtualization
		// (29.1.2).
		vtpr := uint32(v) << 4
		c.physWrite(x.VTPRAddr(), 4, uint64(vtpr), accVMX)
		c.tprVirtualization(uint64(vtpr)) // vmx_apicv.go
		c.stop = true
		return true
	}
	return false
}

// vmxTPRBelowPending makes the trap-like VM exit of TPR virtualization
// pending at the instruction boundary after the MOV to CR8 (SDM Vol. 3C
// 29.1.2, reason 43, exit qualification 0): it takes priority over INIT,
// SMIs and lower-priority events, and so over the debug traps of the
// instruction itself (vmxTrapHeld saves them as pending debug
// exceptions); blocking by STI or MOV SS and RFLAGS.IF do not hold it.
func (c *CPU) vmxTPRBelowPending() {
	c.vev.tprBelow = true
	c.vev.on = true
	c.updateAttn()
}

// vmxTakeTPRBelow takes a pending TPR-below-threshold VM exit (takeEvents,
// before INIT and the interrupt shadow): the RIP saved is the next
// instruction's (the MOV to CR8 has completed).
func (c *CPU) vmxTakeTPRBelow() bool {
	if !c.vev.tprBelow || !c.inGuest() {
		return false
	}
	c.vev.tprBelow = false
	c.vmExit(vmx.ExitTPRBelowThreshold, vmx.ExitInfo{}, false)
	return true
}

// tprHoldsTrap is vmxTrapHeld's TPR case: the debug traps of a MOV to CR8
// whose TPR virtualization exits are saved as pending debug exceptions
// (B3:B0, BS) by that VM exit (28.3.4).
func (c *CPU) tprHoldsTrap(dr6 uint64) bool {
	if !c.inGuest() || !c.vev.tprBelow && c.vev.apicTrap.reason == 0 { // or an APIC-write or virtualized-EOI exit (vmx_apicv.go)
		return false
	}
	c.vev.pendingDbg = dr6 & (0xF | arch.DR6BS)
	return true
}

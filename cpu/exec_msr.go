package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Model-specific registers: RDMSR/WRMSR, and SWAPGS, which exchanges
// GS.base with IA32_KERNEL_GS_BASE (SDM Vol. 2B RDMSR, WRMSR, SWAPGS;
// Vol. 3A 2.8.6 "Reading and Writing Model-Specific Registers").

// rdmsr/wrmsr (0F 32 / 0F 30).
func rdmsr(c *CPU, in *Inst) {
	if !c.requireCPL0("RDMSR") {
		return
	}
	idx := uint32(c.GPR[arch.RCX])
	if c.inGuest() && c.intercepts.Insn.MSRExits(idx, false, c.vmxBits()) { // SDM Vol. 3C 26.1.3
		c.guestInsnExit(in, vmx.ExitRDMSR, 0)
		return
	}
	if c.inGuest() && c.intercepts.Insn.X2APICVirtualized(idx, false) { // SDM Vol. 3C 30.5 (vmx_apicv.go)
		c.guestX2APICRead(idx)
		return
	}
	v, f := c.readMSR(idx)
	if f == nil && idx == msrTSC {
		v = c.guestTSC(v) // "use TSC offsetting" (SDM Vol. 3C 26.3)
	}
	if c.Hooks != nil && c.Hooks.MSR != nil {
		c.Hooks.MSR(c, false, idx, v, f)
	}
	if f != nil {
		c.raise(*f)
		return
	}
	setReg(c, arch.RAX, uint32(v))
	setReg(c, arch.RDX, uint32(v>>32))
}

func wrmsr(c *CPU, in *Inst) {
	if !c.requireCPL0("WRMSR") {
		return
	}
	if c.inGuest() && c.intercepts.Insn.MSRExits(uint32(c.GPR[arch.RCX]), true, c.vmxBits()) { // SDM Vol. 3C 26.1.3
		c.guestInsnExit(in, vmx.ExitWRMSR, 0)
		return
	}
	if c.inGuest() && c.intercepts.Insn.X2APICVirtualized(uint32(c.GPR[arch.RCX]), true) { // SDM Vol. 3C 30.5 (vmx_apicv.go)
		c.guestX2APICWrite(uint32(c.GPR[arch.RCX]))
		return
	}
	v := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	f := c.writeMSR(uint32(c.GPR[arch.RCX]), v)
	if c.Hooks != nil && c.Hooks.MSR != nil {
		c.Hooks.MSR(c, true, uint32(c.GPR[arch.RCX]), v, f)
	}
	if f != nil {
		c.raise(*f)
		return
	}
	c.KickInterrupt() // x2APIC registers (TPR, EOI, ICR) are MSRs
	c.stop = true
}

// swapgs: SWAPGS (0F 01 F8), 64-bit mode, CPL 0.
func swapgs(c *CPU, in *Inst) {
	if c.codeMode != mode64 {
		c.raiseUD("SWAPGS outside 64-bit mode", "Vol. 2B SWAPGS")
		return
	}
	if !c.requireCPL0("SWAPGS") {
		return
	}
	c.Seg[arch.GS].Base, c.KernelGSBase = c.KernelGSBase, c.Seg[arch.GS].Base
	c.refreshSeg(arch.GS)
}

package cpu

import (
	"slices"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Control and debug registers: MOV to/from CRn and DRn, CLTS, LMSW, SMSW
// (SDM Vol. 3A 2.5 "Control Registers", 18.2 "Debug Registers"; Vol. 2B
// MOV (Control Registers), MOV (Debug Registers)). The CR write rules are
// in cr.go.

// smsw: SMSW r/m (0F 01 /4).
func smsw(c *CPU, in *Inst) {
	if c.CR4&arch.CR4UMIP != 0 && c.cpl > 0 {
		c.raiseGP("SMSW at CPL > 0 with CR4.UMIP=1", "Vol. 2B SMSW")
		return
	}
	cr0 := c.guestCRRead(0, c.CR0)
	if in.mod == 3 {
		switch in.opsz {
		case 2:
			setReg(c, in.rm, uint16(cr0))
		case 4:
			setReg(c, in.rm, uint32(cr0))
		default:
			setReg(c, in.rm, cr0)
		}
		return
	}
	wr(c, in.seg, c.ea(in), uint16(cr0))
}

// lmsw: LMSW r/m16 (0F 01 /6): loads PE, MP, EM, TS; cannot clear PE.
func lmsw(c *CPU, in *Inst) {
	if !c.requireCPL0("LMSW") {
		return
	}
	v, ok := readRM[uint16](c, in)
	if !ok {
		return
	}
	if c.inGuest() {
		// LMSW exits if it would set a host-owned PE the shadow has
		// clear, or change a host-owned MP/EM/TS from its shadow (SDM
		// Vol. 3C 26.1.3); otherwise host-owned bits keep their value.
		m, sh := c.intercepts.CR0Mask&0xF, c.intercepts.CR0Shadow&0xF
		src := uint64(v) & 0xF
		if m&1 != 0 && sh&1 == 0 && src&1 != 0 || (src^sh)&m&0xE != 0 {
			// Qualification: access type 3 (LMSW), operand type (bit 6:
			// 1 for memory), the source data (31:16); a memory operand's
			// linear address is the guest-linear address (SDM Vol. 3C
			// 28.2.1, control-register accesses).
			q, lin := uint64(3<<4)|uint64(v)<<16, uint64(0)
			if in.mod != 3 {
				q |= 1 << 6
				lin = c.guestLinear(c.segv[in.seg].base + c.ea(in))
			}
			c.guestInsnExitFull(in, vmx.ExitCRAccess, q, 0, lin)
			return
		}
		v = uint16(src&^m | c.CR0&m)
	}
	n := c.CR0&^0xE | uint64(v)&0xF
	if c.CR0&arch.CR0PE != 0 {
		n |= arch.CR0PE
	}
	c.writeCR0(n)
}

// clts: CLTS (0F 06).
func clts(c *CPU, in *Inst) {
	if !c.requireCPL0("CLTS") {
		return
	}
	if c.inGuest() && c.intercepts.CR0Mask&arch.CR0TS != 0 {
		// A host-owned TS: CLTS exits if the read shadow's TS is 1, and
		// does nothing otherwise (SDM Vol. 3C 26.1.3, 26.3).
		if c.intercepts.CR0Shadow&arch.CR0TS != 0 {
			c.guestInsnExit(in, vmx.ExitCRAccess, 2<<4)
		}
		return
	}
	c.writeCR0(c.CR0 &^ arch.CR0TS)
}

// movFromCR/movToCR: MOV r, CRn / MOV CRn, r (0F 20 / 0F 22). The operand
// is always 32 bits outside 64-bit mode and 64 bits inside; mod is ignored.
func movFromCR(c *CPU, in *Inst) {
	if !c.requireCPL0("MOV from CR") {
		return
	}
	var v uint64
	switch in.reg {
	case 0:
		v = c.guestCRRead(0, c.CR0)
	case 2:
		v = c.CR2
	case 3:
		if c.inGuest() && c.intercepts.CR3Store {
			// CR3-store exiting (SDM Vol. 3C 26.1.3): qualification CR 3,
			// access type 1 (MOV from CR), the register in bits 11:8.
			c.guestInsnExit(in, vmx.ExitCRAccess, 3|1<<4|uint64(in.rm&15)<<8)
			return
		}
		v = c.CR3
	case 4:
		v = c.guestCRRead(4, c.CR4)
	case 8:
		v = c.CR8
		if c.inGuest() {
			g, exited, shadow := c.guestCR8Read(in) // vmx_tpr.go
			if exited {
				return
			}
			if shadow {
				v = g
			}
		}
	default:
		c.raiseUD("MOV from a nonexistent control register", "Vol. 2B MOV (Control Registers)")
		return
	}
	if c.codeMode == mode64 {
		c.GPR[in.rm&15] = v
	} else {
		c.GPR[in.rm&15] = uint64(uint32(v))
	}
}

func movToCR(c *CPU, in *Inst) {
	if !c.requireCPL0("MOV to CR") {
		return
	}
	v := c.GPR[in.rm&15]
	if c.codeMode != mode64 {
		v = uint64(uint32(v))
	}
	if c.inGuest() {
		switch in.reg {
		case 0, 4:
			var ok bool
			if v, ok = c.guestCRWrite(in, int(in.reg), v); !ok {
				return
			}
		case 3:
			if c.intercepts.CR3Load && !slices.Contains(c.intercepts.CR3Targets, v) {
				// CR3-load exiting unless v is a CR3-target value (SDM
				// Vol. 3C 26.1.3): qualification CR 3, access type 0.
				c.guestInsnExit(in, vmx.ExitCRAccess, 3|uint64(in.rm&15)<<8)
				return
			}
		case 8:
			if c.guestCR8Write(in, v) { // vmx_tpr.go
				return
			}
		}
	}
	if c.Hooks != nil && c.Hooks.CR != nil {
		defer c.crHook(int(in.reg), v)()
	}
	switch in.reg {
	case 0:
		c.writeCR0(v)
	case 2:
		c.CR2 = v
	case 3:
		c.writeCR3(v)
	case 4:
		c.writeCR4(v)
	case 8:
		if v>>4 != 0 {
			c.raiseGP("reserved bits set in CR8", "Vol. 3A 2.5")
			return
		}
		if v >= c.CR8 {
			// The same or a higher priority class unmasks nothing
			// (SDM Vol. 3A 11.8.3.1): no event to look at, and the
			// block goes on (kvm-unit-tests' vmexit_mov_to_cr8).
			c.CR8 = v
			return
		}
		c.CR8 = v
		c.KickInterrupt() // a lower TPR may unmask a pending interrupt
	default:
		c.raiseUD("MOV to a nonexistent control register", "Vol. 2B MOV (Control Registers)")
		return
	}
	c.stop = true
}

// movDR: MOV r, DRn / MOV DRn, r (0F 21 / 0F 23). DR4/DR5 alias DR6/DR7
// unless CR4.DE=1, where they are #UD (SDM Vol. 3B 18.2.2); with DR7.GD=1
// any access is a general-detect #DB fault (Vol. 3B 18.3.1.3), after the
// #GP and #UD checks (Vol. 2B MOV—Move to/from Debug Registers,
// "Protected Mode Exceptions"). A write re-arms the breakpoints
// (updateDebug) and ends the block.
func movDR(c *CPU, in *Inst) {
	if in.reg > 7 {
		c.raiseUD("MOV to/from DR8-DR15", "Vol. 2B MOV (Debug Registers)")
		return
	}
	if c.guestExits(vmx.ProcMOVDRExiting) {
		// MOV-DR exiting takes priority over the privilege #GP and the
		// CR4.DE #UD for DR4/DR5 (SDM Vol. 3C 26.1.3), and over the
		// general-detect #DB; qualification of Table 28-4.
		c.guestInsnExit(in, vmx.ExitMOVDR, vmx.MOVDRQualification(int(in.reg), int(in.rm&15), in.op == 0x121))
		return
	}
	if !c.requireCPL0("MOV DR") {
		return
	}
	r := in.reg & 7
	if r == 4 || r == 5 {
		if c.CR4&arch.CR4DE != 0 {
			c.raiseUD("DR4/DR5 referenced with CR4.DE=1", "Vol. 3A 18.2.2")
			return
		}
		r += 2
	}
	if c.DR[7]&dr7GD != 0 {
		c.raise(faultGD)
		return
	}
	if in.op == 0x121 {
		v := c.DR[r]
		if c.codeMode != mode64 {
			v = uint64(uint32(v))
		}
		c.GPR[in.rm&15] = v
		return
	}
	v := c.GPR[in.rm&15]
	if c.codeMode != mode64 {
		v = uint64(uint32(v))
	} else if (r == 6 || r == 7) && v>>32 != 0 {
		c.raiseGP("MOV to DR6/DR7 with bits 63:32 set", "Vol. 2B MOV (Debug Registers)")
		return
	}
	switch r {
	case 6:
		v = v&^(1<<12) | dr6Fixed1 // bit 12 reads as 0 (SDM Vol. 3B 18.2.3)
	case 7:
		v = v&^dr7Reserved | dr7Fixed1
	}
	c.DR[r] = v
	c.updateDebug()
	c.stop = true
}

// crHook reports a MOV to CR (Hooks.CR): it takes the register's value
// before the write and returns the function that reports the write.
func (c *CPU) crHook(cr int, v uint64) func() {
	reg := map[int]*uint64{0: &c.CR0, 2: &c.CR2, 3: &c.CR3, 4: &c.CR4, 8: &c.CR8}[cr]
	if reg == nil {
		return func() {}
	}
	old, pending := *reg, c.faultPending
	return func() {
		var f *arch.Fault
		if c.faultPending && !pending {
			f = &c.fault
		}
		c.Hooks.CR(c, cr, old, v, f)
	}
}

package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Fast system calls: SYSCALL/SYSRET (SDM Vol. 2B, IA-32e), SYSENTER/SYSEXIT,
// and XGETBV/XSETBV.

func syscall(c *CPU, in *Inst) {
	if c.codeMode != mode64 || c.EFER&arch.EFERSCE == 0 {
		c.raiseUD("SYSCALL outside 64-bit mode or with IA32_EFER.SCE=0", "Vol. 2B SYSCALL")
		return
	}
	c.GPR[arch.RCX] = c.RIP
	fl := c.Flags()
	c.GPR[arch.R11] = fl &^ arch.FlagRF
	c.setRFLAGS(fl &^ c.FMASK &^ arch.FlagRF)
	sel := uint16(c.STAR >> 32)
	c.Seg[arch.CS] = arch.Segment{Selector: sel &^ 3, Limit: 0xFFFFFFFF,
		Attr: arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed | arch.ARL | arch.ARG}
	c.Seg[arch.SS] = arch.Segment{Selector: sel&^3 + 8, Limit: 0xFFFFFFFF,
		Attr: arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed | arch.ARDB | arch.ARG}
	c.RIP = c.LSTAR
	c.stateChanged()
}

func sysret(c *CPU, in *Inst) {
	if c.codeMode != mode64 || c.EFER&arch.EFERSCE == 0 {
		c.raiseUD("SYSRET outside 64-bit mode or with IA32_EFER.SCE=0", "Vol. 2B SYSRET")
		return
	}
	if !c.requireCPL0("SYSRET") {
		return
	}
	sel := uint16(c.STAR >> 48)
	var rip uint64
	cs := arch.Segment{Limit: 0xFFFFFFFF, Attr: arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed | 3<<5 | arch.ARG}
	if in.opsz == 8 {
		rip = c.GPR[arch.RCX]
		if !c.canonical(rip) {
			c.raiseGP("SYSRET to a non-canonical RIP (RCX)", "Vol. 2B SYSRET")
			return
		}
		cs.Selector = sel + 16 | 3
		cs.Attr |= arch.ARL
	} else {
		rip = uint64(uint32(c.GPR[arch.RCX]))
		cs.Selector = sel | 3
		cs.Attr |= arch.ARDB
	}
	c.setRFLAGS(c.GPR[arch.R11]&0x3C7FD7 | arch.FlagRes1)
	c.Seg[arch.CS] = cs
	// SS gets fixed attributes whatever it held before (it may be a null
	// selector after an interrupt to ring 0): base 0, limit 4 GiB, type 3,
	// S, DPL 3, P, B (SDM Vol. 2B SYSRET "Operation").
	c.Seg[arch.SS] = arch.Segment{Selector: sel + 8 | 3, Limit: 0xFFFFFFFF,
		Attr: arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed | 3<<5 | arch.ARDB | arch.ARG}
	c.RIP = rip
	c.stateChanged()
}

func sysenter(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE == 0 {
		c.raiseGP("SYSENTER in real-address mode", "Vol. 2B SYSENTER")
		return
	}
	if c.SysenterCS&0xFFFC == 0 {
		c.raiseGP("SYSENTER with IA32_SYSENTER_CS = 0", "Vol. 2B SYSENTER")
		return
	}
	fl := c.Flags() &^ (arch.FlagVM | arch.FlagIF | arch.FlagRF)
	c.setRFLAGS(fl)
	sel := uint16(c.SysenterCS) &^ 3
	cs := arch.Segment{Selector: sel, Limit: 0xFFFFFFFF, Attr: arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed | arch.ARG}
	if c.EFER&arch.EFERLMA != 0 {
		cs.Attr |= arch.ARL
		c.RIP = c.SysenterEIP
		c.GPR[arch.RSP] = c.SysenterESP
	} else {
		cs.Attr |= arch.ARDB
		c.RIP = uint64(uint32(c.SysenterEIP))
		c.GPR[arch.RSP] = uint64(uint32(c.SysenterESP))
	}
	c.Seg[arch.CS] = cs
	c.Seg[arch.SS] = arch.Segment{Selector: sel + 8, Limit: 0xFFFFFFFF, Attr: arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed | arch.ARDB | arch.ARG}
	c.stateChanged()
}

func sysexit(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE == 0 || c.cpl != 0 || c.SysenterCS&0xFFFC == 0 {
		c.raiseGP("SYSEXIT in real mode, at CPL > 0 or with IA32_SYSENTER_CS = 0", "Vol. 2B SYSEXIT")
		return
	}
	base := uint16(c.SysenterCS) &^ 3
	cs := arch.Segment{Limit: 0xFFFFFFFF, Attr: arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed | 3<<5 | arch.ARG}
	var ss uint16
	if in.opsz == 8 {
		cs.Selector = base + 32 | 3
		cs.Attr |= arch.ARL
		ss = base + 40 | 3
		c.RIP = c.GPR[arch.RDX]
		c.GPR[arch.RSP] = c.GPR[arch.RCX]
	} else {
		cs.Selector = base + 16 | 3
		cs.Attr |= arch.ARDB
		ss = base + 24 | 3
		c.RIP = uint64(uint32(c.GPR[arch.RDX]))
		c.GPR[arch.RSP] = uint64(uint32(c.GPR[arch.RCX]))
	}
	c.Seg[arch.CS] = cs
	c.Seg[arch.SS] = arch.Segment{Selector: ss, Limit: 0xFFFFFFFF, Attr: arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed | arch.ARDB | 3<<5 | arch.ARG}
	c.stateChanged()
}

// xgetbv/xsetbv: only with CR4.OSXSAVE (SDM Vol. 2C XGETBV/XSETBV).
func xgetbv(c *CPU, in *Inst) {
	if c.CR4&arch.CR4OSXSAVE == 0 {
		c.raiseUD("XGETBV with CR4.OSXSAVE=0", "Vol. 2C XGETBV")
		return
	}
	if uint32(c.GPR[arch.RCX]) != 0 {
		c.raiseGP("XGETBV of an unsupported XCR", "Vol. 2C XGETBV")
		return
	}
	setReg(c, arch.RAX, uint32(c.XCR0))
	setReg(c, arch.RDX, uint32(c.XCR0>>32))
}

func xsetbv(c *CPU, in *Inst) {
	if c.CR4&arch.CR4OSXSAVE == 0 {
		c.raiseUD("XSETBV with CR4.OSXSAVE=0", "Vol. 2C XSETBV")
		return
	}
	if !c.requireCPL0("XSETBV") {
		return
	}
	if c.inGuest() { // XSETBV exits unconditionally (SDM Vol. 3C 26.1.2)
		c.guestInsnExit(in, vmx.ExitXSETBV, 0)
		return
	}
	v := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	switch {
	case uint32(c.GPR[arch.RCX]) != 0:
		c.raiseGP("XSETBV of an unsupported XCR (ECX != 0)", "Vol. 2C XSETBV")
		return
	case v&^c.feat.xcr0 != 0:
		c.raiseGP("XSETBV: XCR0 bit not reported in CPUID.(EAX=0DH,ECX=0):EDX:EAX", "Vol. 2C XSETBV / Vol. 3A 2.6")
		return
	case v&1 == 0:
		c.raiseGP("XSETBV: clearing XCR0.x87 (bit 0)", "Vol. 2C XSETBV / Vol. 3A 2.6")
		return
	}
	c.XCR0 = v
}

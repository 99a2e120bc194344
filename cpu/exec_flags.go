package cpu

import "github.com/vmxemu/vmxemu/arch"

// Flag-control instructions: CLC/STC/CMC, CLD/STD, CLI/STI, PUSHF/POPF,
// CLAC/STAC (SDM Vol. 1 3.4.3 "EFLAGS Register"; Vol. 3A 2.3 "System
// Flags and Fields in the EFLAGS Register").

// Flag instructions.
func clc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() &^ arch.FlagCF) }
func stc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() | arch.FlagCF) }
func cmc(c *CPU, in *Inst) { c.setFlagsArith(c.Flags() ^ arch.FlagCF) }
func cld(c *CPU, in *Inst) { c.RFLAGS &^= arch.FlagDF }
func std(c *CPU, in *Inst) { c.RFLAGS |= arch.FlagDF }

// iopl returns RFLAGS.IOPL.
func (c *CPU) iopl() int { return int(c.RFLAGS>>12) & 3 }

// cli/sti: IF may change only when CPL <= IOPL in protected mode
// (SDM Vol. 2A CLI/STI; VME/PVI not implemented).
func cli(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE != 0 && int(c.cpl) > c.iopl() {
		c.raiseGP("CLI with CPL > IOPL", "Vol. 2A CLI")
		return
	}
	c.RFLAGS &^= arch.FlagIF
}

func sti(c *CPU, in *Inst) {
	if c.CR0&arch.CR0PE != 0 && int(c.cpl) > c.iopl() {
		c.raiseGP("STI with CPL > IOPL", "Vol. 2A STI")
		return
	}
	if c.RFLAGS&arch.FlagIF == 0 {
		// Interrupts stay blocked until after the next instruction.
		c.shadow = 1
	}
	c.RFLAGS |= arch.FlagIF
	c.stop = true
}

// pushf/popf (9C/9D) (SDM Vol. 2B PUSHF/POPF; VME not implemented).
func pushf(c *CPU, in *Inst) {
	if c.RFLAGS&arch.FlagVM != 0 && c.iopl() < 3 {
		c.raiseGP("PUSHF in virtual-8086 mode with IOPL < 3", "Vol. 2B PUSHF")
		return
	}
	f := c.Flags() &^ (arch.FlagVM | arch.FlagRF)
	pushSized(c, in.opsz, f)
}

func popf(c *CPU, in *Inst) {
	if c.RFLAGS&arch.FlagVM != 0 && c.iopl() < 3 {
		c.raiseGP("POPF in virtual-8086 mode with IOPL < 3", "Vol. 2B POPF")
		return
	}
	v, ok := popSized(c, in.opsz)
	if !ok {
		return
	}
	cur := c.Flags()
	mask := uint64(arch.FlagsArith | arch.FlagTF | arch.FlagDF | arch.FlagNT | arch.FlagAC | arch.FlagID)
	if c.CR0&arch.CR0PE == 0 || c.cpl == 0 {
		mask |= arch.FlagIOPL | arch.FlagIF
	} else if int(c.cpl) <= c.iopl() {
		mask |= arch.FlagIF
	}
	if in.opsz == 2 {
		mask &= 0xFFFF
	}
	c.setRFLAGS(cur&^mask | v&mask)
	c.stop = true // IF may have changed: check for interrupts
}

// clacStac: CLAC (0F 01 CA) / STAC (0F 01 CB) clear/set RFLAGS.AC (SDM
// Vol. 2A CLAC, Vol. 2B STAC): #UD without CPUID SMAP and at CPL > 0
// (virtual-8086 mode runs at CPL 3).
func clacStac(c *CPU, in *Inst) {
	if !c.feat.smap {
		c.raiseUD("CLAC/STAC with CPUID.(EAX=07H,ECX=0):EBX.SMAP[bit 20]=0", "Vol. 2A CLAC / Vol. 2B STAC")
		return
	}
	if c.cpl > 0 {
		c.raiseUD("CLAC/STAC at CPL > 0", "Vol. 2A CLAC / Vol. 2B STAC")
		return
	}
	if in.rm&7 == 3 { // STAC: ModRM CB
		c.RFLAGS |= arch.FlagAC
	} else {
		c.RFLAGS &^= arch.FlagAC
	}
}

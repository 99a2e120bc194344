package cpu

import "github.com/vmxemu/vmxemu/arch"

// Legacy-only instructions (invalid in 64-bit mode): DAA, DAS, AAA, AAS,
// AAM, AAD, BOUND, ARPL, SALC (SDM Vol. 2A; flags per each page's
// "Operation").

func daa(c *CPU, in *Inst) {
	f := c.Flags()
	al := uint8(c.GPR[arch.RAX])
	oldAL, oldCF := al, f&arch.FlagCF != 0
	cf, af := false, false
	if al&0xF > 9 || f&arch.FlagAF != 0 {
		al += 6
		cf = oldCF || oldAL > 0xF9
		af = true
	}
	if oldAL > 0x99 || oldCF {
		al += 0x60
		cf = true
	}
	setReg(c, arch.RAX, al)
	nf := szp(uint64(al), 1)
	if cf {
		nf |= arch.FlagCF
	}
	if af {
		nf |= arch.FlagAF
	}
	c.setFlagsArith(nf)
}

func das(c *CPU, in *Inst) {
	f := c.Flags()
	al := uint8(c.GPR[arch.RAX])
	oldAL, oldCF := al, f&arch.FlagCF != 0
	cf, af := false, false
	if al&0xF > 9 || f&arch.FlagAF != 0 {
		al -= 6
		cf = oldCF || oldAL < 6
		af = true
	}
	if oldAL > 0x99 || oldCF {
		al -= 0x60
		cf = true
	}
	setReg(c, arch.RAX, al)
	nf := szp(uint64(al), 1)
	if cf {
		nf |= arch.FlagCF
	}
	if af {
		nf |= arch.FlagAF
	}
	c.setFlagsArith(nf)
}

// salc: SALC (D6), AL := CF ? FFH : 00H, flags unchanged; #UD in 64-bit
// mode. Intel's opcode map names it without an instruction page (the P6
// opcode map; R. Collins, "Undocumented OpCodes: SALC"); every Intel
// processor executes it, and kvm-unit-tests' realmode test checks it.
func salc(c *CPU, in *Inst) {
	var al uint8
	if c.cf() != 0 {
		al = 0xFF
	}
	setReg(c, arch.RAX, al)
}

// aaaAas: AAA (37) and AAS (3F).
func aaaAas(c *CPU, in *Inst) {
	f := c.Flags()
	ax := uint16(c.GPR[arch.RAX])
	var nf uint64
	if ax&0xF > 9 || f&arch.FlagAF != 0 {
		// AAA: AX := AX + 106H; AAS: AX := AX - 6; AH := AH - 1 (SDM Vol.
		// 2A AAA/AAS Operation): the +/-6 carries or borrows into AH.
		if in.op == 0x37 {
			ax += 0x106
		} else {
			ax -= 0x106
		}
		nf = arch.FlagAF | arch.FlagCF
	}
	ax &= 0xFF0F
	setReg(c, arch.RAX, ax)
	// OF, SF, ZF and PF are undefined (SDM Vol. 2A AAA/AAS Flags
	// Affected); vmxemu clears ZF and SF and sets PF from AL.
	c.setFlagsArith(nf | szp(uint64(ax&0xFF), 1)&^arch.FlagZF&^arch.FlagSF)
}

// aam: AAM imm8 (D4); imm8 = 0 raises #DE.
func aam(c *CPU, in *Inst) {
	base := uint8(in.imm)
	if base == 0 {
		c.raise(arch.Fault{Vector: arch.VecDE, Rule: "AAM with an immediate of 0", SDM: "Vol. 2A AAM"})
		return
	}
	al := uint8(c.GPR[arch.RAX])
	ah, nal := al/base, al%base
	setReg(c, arch.RAX, uint16(ah)<<8|uint16(nal))
	c.setFlagsArith(szp(uint64(nal), 1))
}

// aad: AAD imm8 (D5).
func aad(c *CPU, in *Inst) {
	ax := uint16(c.GPR[arch.RAX])
	al := uint8(ax) + uint8(ax>>8)*uint8(in.imm)
	setReg(c, arch.RAX, uint16(al))
	c.setFlagsArith(szp(uint64(al), 1))
}

// bound: BOUND r, m (62): #BR when the index is outside [lower, upper].
//
//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func bound[T word](c *CPU, in *Inst) {
	addr := c.ea(in)
	lo, ok := rd[T](c, in.seg, addr)
	if !ok {
		return
	}
	hi, ok := rd[T](c, in.seg, (addr+uint64(sizeOf[T]()))&in.amask)
	if !ok {
		return
	}
	bitsz := sizeOf[T]() * 8
	idx := sext(uint64(getReg[T](c, in.reg)), bitsz)
	if idx < sext(uint64(lo), bitsz) || idx > sext(uint64(hi), bitsz) {
		c.raise(arch.Fault{Vector: arch.VecBR, Rule: "BOUND index outside the bounds", SDM: "Vol. 2A BOUND"})
	}
}

// arpl: ARPL r/m16, r16 (63 outside 64-bit mode).
func arpl(c *CPU, in *Inst) {
	if !c.protectedOnly("ARPL") {
		return
	}
	dst, lin, ok := rmwRead[uint16](c, in)
	if !ok {
		return
	}
	src := getReg[uint16](c, in.reg)
	f := c.Flags() & arch.FlagsArith &^ arch.FlagZF
	if dst&3 < src&3 {
		dst = dst&^3 | src&3
		f |= arch.FlagZF
	}
	if rmwWrite(c, in, lin, dst) {
		c.setFlagsArith(f)
	}
}

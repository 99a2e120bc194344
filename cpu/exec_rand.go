package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// RDRAND and RDSEED (SDM Vol. 2B RDRAND, RDSEED; Vol. 1 7.3.17 "Random
// Number Generator Instructions"): NFx 0F C7 /6 and /7 with a register
// operand. vmxemu is deterministic, so the numbers come from a per-CPU
// generator (SplitMix64) seeded from the CPU's index: every run of a
// machine sees the same sequence. They are not fit for cryptography —
// neither is anything an emulator could return reproducibly. Every
// request succeeds (CF = 1), which the SDM allows: software must retry on
// CF = 0, never rely on it.

// rngSeed is the generator's starting state for CPU id (nonzero).
func rngSeed(id int) uint64 { return 0x5DEECE66D ^ uint64(id+1)*0x9E3779B97F4A7C15 }

// rngNext returns the next 64 random bits of the CPU's generator.
func (c *CPU) rngNext() uint64 {
	if c.rng == 0 {
		c.rng = rngSeed(c.ID)
	}
	c.rng += 0x9E3779B97F4A7C15
	z := c.rng
	z = (z ^ z>>30) * 0xBF58476D1CE4E5B9
	z = (z ^ z>>27) * 0x94D049BB133111EB
	return z ^ z>>31
}

// rdrandSeed: RDRAND r16/32/64 (0F C7 /6) and RDSEED (0F C7 /7). #UD
// without the CPUID bit (CPUID.1:ECX.RDRAND[bit 30],
// CPUID.(EAX=07H,ECX=0):EBX.RDSEED[bit 18]); in VMX non-root operation
// "RDRAND exiting" / "RDSEED exiting" make them exit (SDM Vol. 3C 26.1.3;
// reasons 57, 61) with the destination register (6:3) and operand size
// (12:11) in the instruction-information field (28.2.5, RDRAND and
// RDSEED). The destination gets the number, CF = 1, OF, SF, ZF, AF and PF
// are cleared.
func rdrandSeed(c *CPU, in *Inst) {
	seed := in.sub == 7
	name, has, ctl, reason := "RDRAND", c.feat.rdrand, uint32(vmx.Proc2RDRANDExiting), uint32(vmx.ExitRDRAND)
	if seed {
		name, has, ctl, reason = "RDSEED", c.feat.rdseed, vmx.Proc2RDSEEDExiting, vmx.ExitRDSEED
	}
	if !has {
		c.raiseUD(name+" with its CPUID feature bit 0", "Vol. 2B "+name)
		return
	}
	if c.guestExits2(ctl) {
		size := uint32(in.opsz) / 4 // operand size: 0 16-bit, 1 32-bit, 2 64-bit
		c.guestInsnExitFull(in, reason, 0, uint32(in.rm&15)<<3|size<<11, 0)
		return
	}
	v := c.rngNext()
	switch in.opsz {
	case 2:
		setReg(c, in.rm, uint16(v))
	case 4:
		setReg(c, in.rm, uint32(v))
	default:
		setReg(c, in.rm, v)
	}
	c.setFlagsArith(arch.FlagCF)
}

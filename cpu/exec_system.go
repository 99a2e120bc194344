package cpu

import "github.com/vmxemu/vmxemu/arch"

// System instructions (SDM Vol. 3A 2.8 "System Instruction Summary"):
// the checks they share. The instructions themselves live by family:
// exec_seg.go (segment registers), exec_far.go (far transfers, IRET, INT),
// exec_flags.go, exec_io.go, exec_msr.go, exec_crdr.go (control and debug
// registers), exec_dt.go (descriptor tables, LDTR, TR), exec_tlb.go (TLB
// and caches), exec_misc.go (HLT, CPUID, RDTSC).

// requireCPL0 raises #GP(0) unless CPL = 0 (the common privileged-
// instruction check, SDM Vol. 3A 5.9).
func (c *CPU) requireCPL0(insn string) bool {
	if c.cpl != 0 {
		c.raiseGP(insn+" is privileged: CPL must be 0", "Vol. 3A 5.9")
		return false
	}
	return true
}

// protectedOnly raises #UD in real or virtual-8086 mode for instructions
// that exist only in protected mode (LLDT, LTR, SLDT, STR, VERR...).
func (c *CPU) protectedOnly(insn string) bool {
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		c.raiseUD(insn+" is not recognised in real-address or virtual-8086 mode", "Vol. 2A "+insn)
		return false
	}
	return true
}

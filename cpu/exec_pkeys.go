package cpu

import "github.com/vmxemu/vmxemu/arch"

// Protection keys (SDM Vol. 3A 2.7 "Protection Key Rights Registers",
// 4.6.2 "Protection Keys"; Vol. 2B RDPKRU, WRPKRU; Vol. 4 IA32_PKRS): the
// PKRU register with RDPKRU/WRPKRU, and IA32_PKRS. The page walk applies
// the rights (mmu.Translation.check); here are the registers and the
// instructions.
//
// The TLB caches the outcome of the walk's access-rights check: a read or
// write entry exists only where the walk allowed that access, key rights
// included. A hardware TLB entry holds the page's protection key, not the
// rights (SDM 4.10.2.2): the processor applies PKRU and IA32_PKRS to every
// access, so WRPKRU needs no TLB invalidation. Here every change of the
// rights drops the cached entries instead (keyRightsChanged): an
// invalidation internal to vmxemu, exact because a dropped entry only
// costs a walk. The fast paths are untouched.

// keyRightsChanged drops every cached translation after PKRU or
// IA32_PKRS changed (CR4.PKE and CR4.PKS changes go through writeCR4's
// pagingChanged). Fetch entries do not depend on the key rights (keys
// apply to data accesses only, SDM 4.6.2), and decoded blocks stay.
func (c *CPU) keyRightsChanged() { c.tlb.flushAll() }

// setPKRU is the one home of every write to PKRU: WRPKRU and XRSTOR.
// With CR4.PKE=0 no cached entry depends on PKRU (the walk ignores it),
// and setting CR4.PKE drops them all (writeCR4), so only a change under
// CR4.PKE=1 needs the invalidation.
func (c *CPU) setPKRU(v uint32) {
	if v != c.PKRU {
		c.PKRU = v
		if c.CR4&arch.CR4PKE != 0 {
			c.keyRightsChanged()
		}
	}
}

// pkeyUD raises #UD for RDPKRU/WRPKRU with CR4.PKE=0 (SDM Vol. 2B RDPKRU,
// WRPKRU "Protected Mode Exceptions"; the same in every mode). The LOCK
// prefix #UD is the decoder's.
func (c *CPU) pkeyUD(name string) bool {
	if c.CR4&arch.CR4PKE == 0 {
		c.raiseUD(name+" with CR4.PKE=0", "Vol. 2B "+name)
		return true
	}
	return false
}

// rdpkru: RDPKRU (NP 0F 01 EE): EAX ← PKRU, EDX ← 0 (the upper halves of
// RAX and RDX cleared); #GP(0) if ECX ≠ 0 (RCX[63:32] ignored). No VM
// exit (SDM Vol. 3C 26.1 lists none).
func rdpkru(c *CPU, in *Inst) {
	if c.pkeyUD("RDPKRU") {
		return
	}
	if uint32(c.GPR[arch.RCX]) != 0 {
		c.raiseGP("RDPKRU with ECX != 0", "Vol. 2B RDPKRU")
		return
	}
	setReg(c, arch.RAX, c.PKRU)
	setReg(c, arch.RDX, uint32(0))
}

// wrpkru: WRPKRU (NP 0F 01 EF): PKRU ← EAX; #GP(0) if ECX ≠ 0 or EDX ≠ 0
// (the upper halves of RAX, RCX and RDX ignored). Allowed at any CPL;
// no VM exit.
func wrpkru(c *CPU, in *Inst) {
	if c.pkeyUD("WRPKRU") {
		return
	}
	switch {
	case uint32(c.GPR[arch.RCX]) != 0:
		c.raiseGP("WRPKRU with ECX != 0", "Vol. 2B WRPKRU")
		return
	case uint32(c.GPR[arch.RDX]) != 0:
		c.raiseGP("WRPKRU with EDX != 0", "Vol. 2B WRPKRU")
		return
	}
	c.setPKRU(uint32(c.GPR[arch.RAX]))
}

// writePKRS is WRMSR to IA32_PKRS (6E1H) on a model with
// CPUID.(EAX=07H,ECX=0):ECX.PKS[bit 31]: bits 63:32 are reserved (SDM
// Vol. 4, Table 2-2 "IA32_PKRS"; WRMSR #GP(0) on a reserved bit).
func (c *CPU) writePKRS(v uint64) *arch.Fault {
	if v>>32 != 0 {
		f := arch.GPFault(0, "IA32_PKRS bits 63:32 are reserved", "Vol. 4 IA32_PKRS (6E1H) / Vol. 2B WRMSR")
		return &f
	}
	if v != c.PKRS {
		c.PKRS = v
		if c.CR4&arch.CR4PKS != 0 { // as for PKRU (setPKRU)
			c.keyRightsChanged()
		}
	}
	return nil
}

package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// TLB and cache management: INVLPG, INVPCID, WBINVD/INVD (SDM Vol. 3A
// 4.10.4 "Invalidation of TLBs and Paging-Structure Caches"; Vol. 2A
// INVLPG, INVPCID, INVD; Vol. 2B WBINVD).

// invlpg: INVLPG m (0F 01 /7).
func invlpg(c *CPU, in *Inst) {
	if !c.requireCPL0("INVLPG") {
		return
	}
	if c.guestExits(vmx.ProcINVLPGExiting) {
		// SDM Vol. 3C 26.1.3; the qualification is the linear-address
		// operand (28.2.1).
		c.guestInsnExit(in, vmx.ExitINVLPG, c.guestLinear(c.segv[in.seg].base+c.ea(in)))
		return
	}
	if c.codeMode == mode64 {
		// No canonical check: INVLPG of a non-canonical address is a NOP
		// (SDM Vol. 2A INVLPG "Description").
		lin := c.segv[in.seg].base + c.ea(in)
		if c.canonical(lin) {
			c.invalidatePage(lin)
		}
		return
	}
	// Outside 64-bit mode the linear address is the segment base plus the
	// offset, truncated to 32 bits, with no segment checks: INVLPG lists
	// no #GP/#SS for limit, type or a NULL selector (SDM Vol. 2A INVLPG,
	// "Protected Mode Exceptions": #GP(0) only for CPL > 0), and it does
	// not access memory (Vol. 3A 4.10.4.1). Bochs' INVLPG likewise takes
	// base plus offset (get_laddr) and checks nothing of the segment.
	lin := uint64(uint32(c.segv[in.seg].base + c.ea(in)))
	c.invalidatePage(lin)
}

// invalidatePage is INVLPG's invalidation (SDM Vol. 3A 4.10.4.1): the
// TLB entries for the page of lin (all PCIDs and contexts, global ones
// included: more than required, which is allowed) and the block lookups
// whose code lies in that page. The paging-structure caches the SDM also
// names are not modelled (the walk memo re-reads every entry it relies
// on, walkmemo.go).
//
// INVLPG ends its block (fEnd). When a block link may lead into the page
// (blockLookup.linkPages), every block link goes (a new stamp) and the
// run goes on through a lookup (c.stop). When the lookup had blocks in
// the page but no link leads there, the links stay, and the run goes on
// through a lookup. When it had none (flushPage found the page unmarked:
// an INVLPG of a data page, the usual case), the block's links are
// followed as after any block, unless the INVLPG's own bytes lie in the
// page (a block not held by the lookup: it then stops, as before).
func (c *CPU) invalidatePage(lin uint64) {
	c.tlb.flushPage(lin)
	looked := c.blocks.flushPage(lin)
	if c.blocks.linkMarked(lin) || lin>>12 == 0 {
		// Block links go, every page's (chain.go). Page 0: a block
		// crossing into it from the top of the 32-bit space marked
		// the page above instead (flushPage).
		c.blocks.renewStamp(c.code, lin)
		c.stop = true
		return
	}
	if looked {
		c.stop = true
		return
	}
	first := c.segv[arch.CS].base + c.ripCur
	last := first + (c.RIP - c.ripCur) - 1
	if c.codeMode != mode64 {
		first, last = uint64(uint32(first)), uint64(uint32(last))
	}
	if pg := lin >> 12; first>>12 == pg || last>>12 == pg {
		c.stop = true
	}
}

// invpcid: INVPCID r32/r64, m128 (66 0F 38 82) (SDM Vol. 2A INVPCID;
// Vol. 3A 4.10.4.1). The register operand is 64 bits in 64-bit mode and 32
// bits elsewhere, whatever the operand size; the descriptor is PCID in
// bits 11:0 (63:12 reserved) and a linear address in bits 127:64.
func invpcid(c *CPU, in *Inst) {
	const sdm = "Vol. 2A INVPCID"
	if !c.feat.invpcid {
		c.raiseUD("INVPCID with CPUID.(EAX=07H,ECX=0):EBX.INVPCID[bit 10]=0", sdm)
		return
	}
	if c.RFLAGS&arch.FlagVM != 0 {
		c.raiseUD("INVPCID is not recognised in virtual-8086 mode", sdm)
		return
	}
	if c.inGuest() && !c.intercepts.Insn.Exits2(vmx.Proc2EnableINVPCID) {
		c.raiseUD("INVPCID in VMX non-root operation with \"enable INVPCID\" = 0", "Vol. 3C 26.3")
		return
	}
	if !c.requireCPL0("INVPCID") {
		return
	}
	if c.guestExits(vmx.ProcINVLPGExiting) {
		// With "enable INVPCID", INVPCID exits as INVLPG does (SDM Vol. 3C
		// 26.1.3), before its operands are read: qualification the
		// displacement, instruction information with reg2 (28.2.5).
		info := vmx.InsnInfoMem(memOperand(in)) | uint32(in.reg&15)<<28
		c.guestInsnExitFull(in, vmx.ExitINVPCID, displacement(in), info, 0)
		return
	}
	typ := c.GPR[in.reg&15]
	if c.codeMode != mode64 {
		typ = uint64(uint32(typ))
	}
	if typ > 3 {
		c.raiseGP("INVPCID type (register operand) > 3", sdm)
		return
	}
	addr := c.ea(in)
	lo, ok := rd[uint64](c, in.seg, addr)
	if !ok {
		return
	}
	la, ok := rd[uint64](c, in.seg, (addr+8)&in.amask)
	if !ok {
		return
	}
	if lo>>12 != 0 {
		c.raiseGP("INVPCID descriptor bits 63:12 are not all 0", sdm)
		return
	}
	pcid := lo & 0xFFF
	if typ <= 1 && pcid != 0 && c.CR4&arch.CR4PCIDE == 0 {
		c.raiseGP("INVPCID type 0 or 1 with a non-zero PCID while CR4.PCIDE=0", sdm)
		return
	}
	switch typ {
	case 0: // individual address
		if !c.canonicalMax(la) {
			c.raiseGP("INVPCID type 0 with a non-canonical linear address", sdm)
			return
		}
		c.tlb.flushPage(la)
	case 1: // single context, except global translations
		c.tlb.flushPCID(pcid)
	case 2: // all contexts, global translations included
		c.tlb.flushAll()
	default: // all contexts except global translations
		c.tlb.flushNonGlobal()
	}
	c.blocks.flush()
}

// wbinvd/invd: caches are not modelled; privilege is. In VMX non-root
// operation INVD exits unconditionally (SDM Vol. 3C 26.1.2), WBINVD with
// "WBINVD exiting" (26.1.3).
func wbinvd(c *CPU, in *Inst) {
	if !c.requireCPL0("WBINVD/INVD") || !c.inGuest() {
		return
	}
	if in.op == 0x108 {
		c.guestInsnExit(in, vmx.ExitINVD, 0)
	} else if c.intercepts.Insn.Exits2(vmx.Proc2WBINVDExiting) {
		c.guestInsnExit(in, vmx.ExitWBINVD, 0)
	}
}

// pagingChanged drops every cached translation and block lookup.
func (c *CPU) pagingChanged() {
	c.tlb.flushAll()
	c.blocks.flush()
}

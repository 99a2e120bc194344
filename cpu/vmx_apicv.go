package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// "Virtualize APIC accesses" in VMX non-root operation (SDM Vol. 3C 30.4,
// chapter 29 in older editions), and "virtualize x2APIC mode" (30.5: the
// TPR MSR through VTPR, guestVTPRMSRRead/Write at the end of this file). Accesses to the APIC-access page are
// found on the physical path (phys.go), after the guest's paging and EPT
// have translated them: their page faults and EPT violations, and the
// accessed and dirty flags they set, come first (30.4.1). fill keeps the
// page out of the TLB, so that every access to it takes that path; the
// fast paths are unchanged.
//
// What an access does (vmx.InsnIntercepts.APICAccessVirtualized, with
// "APIC-register virtualization" and "virtual-interrupt delivery" 0):
//   - a linear data access to VTPR (page offset 080H, at most 4 bytes)
//     with "use TPR shadow" reads or writes
//     the virtual-APIC page at the same offset; a write is followed by
//     APIC-write emulation (30.4.3.2: bytes 3:1 of VTPR cleared, then TPR
//     virtualization, 30.1.2, whose VM exit is trap-like);
//   - every other linear access, instruction fetches included, causes an
//     APIC-access VM exit (reason 44, fault-like) with the qualification
//     of Table 28-6: offset and access type (read, write, fetch, or
//     during event delivery, which also records IDT-vectoring
//     information);
//   - under EPT, a guest-physical access (a paging-structure entry of
//     the guest's walk, the PDPTEs) always causes an APIC-access VM exit
//     (30.4.6.1), access type 15 or, during event delivery, 10, with the
//     guest-physical address;
//   - without EPT such an access is a physical access, which the SDM lets
//     access the APIC-access page as ordinary memory (30.4.6.2): vmxemu
//     does that.
// Accesses of VMX instructions and VM entry/exit to their own structures
// (accVMX) and the debugger's (accPeek) are not guest accesses. Linear
// accesses through large pages are treated like those through 4-KiB
// pages (the SDM guarantees the special treatment only for the latter and
// lets the former have it, 30.4.5). Not modelled: a read of the
// APIC-access page after an operation virtualized a write to it, which
// the SDM has exit (30.4.2, 30.4.3.1).

// apicAccessFrame is the frame number of the APIC-access page plus one in
// VMX non-root operation with "virtualize APIC accesses", else 0.
func (c *CPU) apicAccessFrame() uint64 {
	if !c.inGuest() {
		return 0
	}
	return c.intercepts.Insn.APICAccessFrame()
}

// apicAccessGuest reports whether an access of kind to host frame hfn is
// a guest access to the APIC-access page that the physical path must
// hand to apicAccess: linear accesses, and guest-physical ones under EPT.
func (c *CPU) apicAccessGuest(hfn uint64, kind int) bool {
	switch kind {
	case accVMX, accPeek:
		return false
	case accPaging, accPagingW:
		if !c.tlb.ctx.ept.on {
			return false // a physical access (30.4.6.2)
		}
	}
	return hfn+1 == c.apicAccessFrame()
}

// apicAccess performs a guest access of size bytes at guest-physical gpa
// on the APIC-access page (v is the data of a write): virtualized, it
// returns the data read; otherwise it takes the APIC-access VM exit and
// returns ok=false, as a refused access does.
func (c *CPU) apicAccess(gpa uint64, size int, v uint64, kind int) (uint64, bool) {
	x := &c.intercepts.Insn
	off := gpa & 0xFFF
	events := c.tlb.ctx.ept.events > 0
	switch kind {
	case accRead, accWrite:
		if x.APICAccessVirtualized(off, size, kind == accWrite) {
			vpa := x.VirtualAPIC + off
			if kind == accRead {
				r, ok := c.physRead(vpa, size, accVMX)
				if !ok {
					r = 1<<(8*uint(size)) - 1 // nothing answers: all 1s
				}
				return r, true
			}
			c.physWrite(vpa, size, v, accVMX)
			c.apicWriteEmulation(off)
			return 0, true
		}
		t := uint64(vmx.APICAccessLinearRead)
		switch {
		case events:
			t = vmx.APICAccessLinearEvent
		case kind == accWrite:
			t = vmx.APICAccessLinearWrite
		}
		c.vmExit(vmx.ExitAPICAccess, vmx.ExitInfo{Qualification: vmx.APICAccessQualification(off, t)}, !events)
	case accFetch:
		c.vmExit(vmx.ExitAPICAccess, vmx.ExitInfo{Qualification: vmx.APICAccessQualification(off, vmx.APICAccessLinearFetch)}, false)
	default: // a guest-physical access under EPT (30.4.6.1)
		t := uint64(vmx.APICAccessGuestPhysInsn)
		if events {
			t = vmx.APICAccessGuestPhysEvent
		}
		c.vmx.SetGuestPhysical(gpa)
		// As for EPT violations (eptExit): a walk for an instruction
		// fetch, and an access during event delivery, exit before the
		// instruction; the PDPTE loads (noLin) belong to the instruction.
		e := &c.tlb.ctx.ept
		fetch := !e.noLin && e.kind == accFetch
		c.vmExit(vmx.ExitAPICAccess, vmx.ExitInfo{Qualification: vmx.APICAccessQualification(off, t)}, !fetch && !events)
	}
	return 0, false
}

// apicWriteEmulation is SDM Vol. 3C 30.4.3.2 after a virtualized write at
// page offset off ("virtual-interrupt delivery" 0): for 080H-083H bytes
// 3:1 of VTPR are cleared, then TPR virtualization (30.1.2) may make a
// trap-like TPR-below-threshold VM exit pending; for 310H-313H bytes 2:0
// of VICR_HI are cleared; any other offset makes a trap-like APIC-write VM
// exit (reason 56, qualification the offset, 30.4.3.3) pending. The
// emulation belongs to the end of the operation; nothing in between
// observes the virtual-APIC page.
func (c *CPU) apicWriteEmulation(off uint64) {
	x := &c.intercepts.Insn
	switch vmx.APICWriteEmulation(off) {
	case vmx.APICWriteTPR:
		vtpr, ok := c.physRead(x.VTPRAddr(), 1, accVMX)
		if !ok {
			vtpr = 0xFF
		}
		c.physWrite(x.VTPRAddr(), 4, vtpr, accVMX)
		if x.TPRBelowThreshold(uint32(vtpr)) {
			c.vmxTPRBelowPending() // vmx_tpr.go
		}
	case vmx.APICWriteICRHigh:
		hi, ok := c.physRead(x.VirtualAPIC+0x310, 4, accVMX)
		if !ok {
			hi = 0xFFFFFFFF
		}
		c.physWrite(x.VirtualAPIC+0x310, 4, hi&0xFF000000, accVMX)
	default:
		c.vev.apicWrite = uint32(off) + 1
		c.vev.on = true
		c.updateAttn()
	}
	c.stop = true
}

// vmxTakeAPICWrite takes a pending APIC-write VM exit (takeEvents, with
// the TPR-below-threshold exit: APIC-write emulation has their priority,
// above INIT, not held by blocking by STI or MOV SS or RFLAGS.IF,
// 30.4.3.2); trap-like: the RIP saved is the next instruction's.
func (c *CPU) vmxTakeAPICWrite() bool {
	if c.vev.apicWrite == 0 || !c.inGuest() {
		return false
	}
	off := uint64(c.vev.apicWrite - 1)
	c.vev.apicWrite = 0
	c.vmExit(vmx.ExitAPICWrite, vmx.ExitInfo{Qualification: off}, false)
	return true
}

// vmxAPICAccessEntry is VM entry's part (after the intercept record and
// the event controls are loaded): the translations of the APIC-access
// page that a guest with a VPID may keep from before are dropped, so that
// its accesses take the physical path; and, with "use TPR shadow" and
// "virtualize APIC accesses" but not "virtual-interrupt delivery", a TPR
// threshold above VTPR[7:4] makes a TPR-below-threshold VM exit pending
// after any injected event (SDM Vol. 3C 27.7.7) — unless the guest entered
// the shutdown or wait-for-SIPI state (a HLT state is woken by it).
func (c *CPU) vmxAPICAccessEntry(activity uint64) {
	x := &c.intercepts.Insn
	f := x.APICAccessFrame()
	if f == 0 {
		return
	}
	for _, arr := range []*[tlbSize]tlbEntry{&c.tlb.read, &c.tlb.write, &c.tlb.fetch} {
		for i := range arr {
			if arr[i].page != nil && arr[i].pfn == f-1 {
				arr[i] = tlbEntry{}
			}
		}
	}
	if activity == 2 || activity == 3 {
		return
	}
	vtpr, ok := c.physRead(x.VTPRAddr(), 1, accVMX)
	if !ok {
		vtpr = 0xFF
	}
	if x.AfterEntryTPRBelow(uint32(vtpr)) {
		c.vmxTPRBelowPending()
	}
}

// guestVTPRMSRRead is a virtualized RDMSR of x2APIC MSR idx under
// "virtualize x2APIC mode" (SDM Vol. 3C 30.5, after the CPL check and the
// MSR-bitmap exit: 808H, or any of 800H-8FFH with "APIC-register
// virtualization"): EDX:EAX receive the 8 bytes at offset (idx & FFH) << 4
// of the virtual-APIC page, even if the local APIC is not in x2APIC mode.
func (c *CPU) guestVTPRMSRRead(idx uint32) {
	v, ok := c.physRead(c.intercepts.Insn.VirtualAPIC+uint64(idx&0xFF)<<4, 8, accVMX)
	if !ok {
		v = ^uint64(0) // nothing answers: all 1s
	}
	setReg(c, arch.RAX, uint32(v))
	setReg(c, arch.RDX, uint32(v>>32))
}

// guestVTPRMSRWrite is WRMSR of 808H under "virtualize x2APIC mode" (SDM
// Vol. 3C 30.5): #GP(0) when bits 63:8 of EDX:EAX are not 0; otherwise
// the 8 bytes at offset 080H of the virtual-APIC page receive EDX:EAX
// (VTPR = EAX[7:0], the rest 0), then TPR virtualization (30.1.2), whose
// VM exit is trap-like.
func (c *CPU) guestVTPRMSRWrite() {
	x := &c.intercepts.Insn
	v := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	if v>>8 != 0 {
		c.raiseGP("WRMSR to the virtualized TPR MSR (808H) with bits 63:8 set", "Vol. 3C 30.5")
		return
	}
	c.physWrite(x.VTPRAddr(), 8, v, accVMX)
	if x.TPRBelowThreshold(uint32(v)) {
		c.vmxTPRBelowPending() // vmx_tpr.go
	}
	c.stop = true
}

package cpu

import (
	"math/bits"

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
		// The instruction length, which 28.2.5 leaves undefined here,
		// is given as hardware does (kvm-unit-tests' apic_reg_virt_test
		// skips the instruction by it).
		info := vmx.ExitInfo{Qualification: vmx.APICAccessQualification(off, t)}
		if !events {
			info.InsnLength = uint32(c.RIP - c.ripCur)
		}
		c.vmExit(vmx.ExitAPICAccess, info, !events)
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
// page offset off: for 080H-083H bytes 3:1 of VTPR are cleared, then TPR
// virtualization (30.1.2); for 310H-313H bytes 2:0 of VICR_HI are
// cleared; with "virtual-interrupt delivery", EOI virtualization for
// 0B0H-0B3H (30.1.4) and self-IPI virtualization for a VICR_LO write that
// qualifies (30.1.5); any other case makes a trap-like APIC-write VM exit
// (reason 56, qualification the offset, 30.4.3.3) pending. The emulation
// belongs to the end of the operation; nothing in between observes the
// virtual-APIC page.
func (c *CPU) apicWriteEmulation(off uint64) {
	x := &c.intercepts.Insn
	switch vmx.APICWriteEmulation(off) {
	case vmx.APICWriteTPR:
		vtpr := c.vapicRead(vmx.VTPROffset) & 0xFF
		c.vapicWrite(vmx.VTPROffset, vtpr)
		c.tprVirtualization(vtpr)
	case vmx.APICWriteICRHigh:
		c.vapicWrite(0x310, c.vapicRead(0x310)&0xFF000000)
	case vmx.APICWriteEOI:
		if x.VID() {
			c.eoiVirtualization()
			break
		}
		c.apicTrapPending(vmx.ExitAPICWrite, off)
	case vmx.APICWriteICRLow:
		if icr := c.vapicRead(vmx.VICRLoOffset); x.VID() && vmx.SelfIPIVirtualized(uint32(icr)) {
			c.selfIPIVirtualization(uint8(icr))
			break
		}
		c.apicTrapPending(vmx.ExitAPICWrite, off)
	default:
		c.apicTrapPending(vmx.ExitAPICWrite, off)
	}
	c.stop = true
}

// apicTrap is a pending trap-like VM exit of APIC virtualization.
type apicTrap struct {
	reason uint32
	qual   uint64
}

// apicTrapPending makes a trap-like APIC-write or virtualized-EOI VM exit
// pending at the next instruction boundary.
func (c *CPU) apicTrapPending(reason uint32, qual uint64) {
	c.vev.apicTrap = apicTrap{reason: reason, qual: qual}
	c.vev.on = true
	c.updateAttn()
}

// vmxTakeAPICTrap takes a pending APIC-write or virtualized-EOI VM exit
// (takeEvents, with the TPR-below-threshold exit: APIC-write emulation
// and EOI virtualization have their priority, above INIT, not held by
// blocking by STI or MOV SS or RFLAGS.IF, 30.1.4, 30.4.3.2); trap-like:
// the RIP saved is the next instruction's.
func (c *CPU) vmxTakeAPICTrap() bool {
	t := c.vev.apicTrap
	if t.reason == 0 || !c.inGuest() {
		return false
	}
	c.vev.apicTrap = apicTrap{}
	c.vmExit(t.reason, vmx.ExitInfo{Qualification: t.qual}, false)
	return true
}

// vmxAPICVEntry is VM entry's part (after the intercept record and the
// event controls are loaded): the translations of the APIC-access page
// that a guest with a VPID may keep from before are dropped, so that its
// accesses take the physical path; with "use TPR shadow" and "virtualize
// APIC accesses" but not "virtual-interrupt delivery", a TPR threshold
// above VTPR[7:4] makes a TPR-below-threshold VM exit pending after any
// injected event (SDM Vol. 3C 27.7.7) — unless the guest entered the
// shutdown or wait-for-SIPI state (a HLT state is woken by it); with
// "virtual-interrupt delivery", RVI and SVI come from the guest interrupt
// status, then PPR virtualization and the evaluation of pending virtual
// interrupts (27.3.2.5).
func (c *CPU) vmxAPICVEntry(activity uint64) {
	x := &c.intercepts.Insn
	if x.VID() {
		c.vev.vid = vidState{on: true, rvi: uint8(x.GuestIntrStatus), svi: uint8(x.GuestIntrStatus >> 8)}
		c.pprVirtualization()
		c.vidEvaluate()
	}
	f := x.APICAccessFrame()
	if f == 0 {
		return
	}
	for _, arr := range []*[tlbSize]tlbEntry{&c.tlb.read, &c.tlb.write, &c.tlb.fetch} {
		for i := range arr {
			if arr[i].page != nil && arr[i].pfn == f-1 {
				c.tlb.fetchLost = c.tlb.fetchLost || arr == &c.tlb.fetch
				arr[i] = tlbEntry{}
			}
		}
	}
	c.tlb.dropL2() // and the second level's (tlb2.go)
	if activity == 2 || activity == 3 {
		return
	}
	if x.AfterEntryTPRBelow(uint32(c.vapicRead(vmx.VTPROffset) & 0xFF)) {
		c.vmxTPRBelowPending()
	}
}

// vapicRead reads the 32-bit register at offset off of the virtual-APIC
// page (a physical address, not translated through EPT: 25.6.8); nothing
// answering reads as all 1s.
func (c *CPU) vapicRead(off uint64) uint64 {
	v, ok := c.physRead(c.intercepts.Insn.VirtualAPIC+off, 4, accVMX)
	if !ok {
		return 0xFFFFFFFF
	}
	return v
}

// vapicWrite writes the 32-bit register at offset off of the virtual-APIC
// page.
func (c *CPU) vapicWrite(off, v uint64) {
	c.physWrite(c.intercepts.Insn.VirtualAPIC+off, 4, v, accVMX)
}

// guestX2APICRead is a virtualized RDMSR of x2APIC MSR idx under
// "virtualize x2APIC mode" (SDM Vol. 3C 30.5, after the CPL check and the
// MSR-bitmap exit: 808H, or any of 800H-8FFH with "APIC-register
// virtualization"): EDX:EAX receive the 8 bytes at offset (idx & FFH) << 4
// of the virtual-APIC page, even if the local APIC is not in x2APIC mode.
func (c *CPU) guestX2APICRead(idx uint32) {
	v, ok := c.physRead(c.intercepts.Insn.VirtualAPIC+uint64(idx&0xFF)<<4, 8, accVMX)
	if !ok {
		v = ^uint64(0) // nothing answers: all 1s
	}
	setReg(c, arch.RAX, uint32(v))
	setReg(c, arch.RDX, uint32(v>>32))
}

// guestX2APICWrite is a virtualized WRMSR of x2APIC MSR idx under
// "virtualize x2APIC mode" (SDM Vol. 3C 30.5), whether or not the local
// APIC is in x2APIC mode:
//   - 808H (TPR): #GP(0) when bits 63:8 of EDX:EAX are not 0; otherwise
//     the 8 bytes at offset 080H receive EDX:EAX (VTPR = EAX[7:0], the
//     rest 0), then TPR virtualization (30.1.2);
//   - 80BH (EOI, "virtual-interrupt delivery"): #GP(0) unless EDX:EAX is
//     0; otherwise EOI virtualization (30.1.4);
//   - 83FH (self IPI, "virtual-interrupt delivery"): #GP(0) when bits
//     63:8 are not 0; otherwise the 8 bytes at 3F0H receive EDX:EAX, then
//     self-IPI virtualization (30.1.5) when bits 7:4 of the vector are
//     not 0, else an APIC-write VM exit (qualification 3F0H).
func (c *CPU) guestX2APICWrite(idx uint32) {
	x := &c.intercepts.Insn
	v := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
	switch idx {
	case vmx.MSRX2APICEOI:
		if v != 0 {
			c.raiseGP("WRMSR of a nonzero value to the virtualized EOI MSR (80BH)", "Vol. 3C 30.5")
			return
		}
		c.eoiVirtualization()
	case vmx.MSRX2APICSelfIPI:
		if v>>8 != 0 {
			c.raiseGP("WRMSR to the virtualized self-IPI MSR (83FH) with bits 63:8 set", "Vol. 3C 30.5")
			return
		}
		c.physWrite(x.VirtualAPIC+vmx.SelfIPIOffset, 8, v, accVMX)
		if v&0xF0 != 0 {
			c.selfIPIVirtualization(uint8(v))
		} else {
			c.apicTrapPending(vmx.ExitAPICWrite, vmx.SelfIPIOffset)
		}
	default:
		if v>>8 != 0 {
			c.raiseGP("WRMSR to the virtualized TPR MSR (808H) with bits 63:8 set", "Vol. 3C 30.5")
			return
		}
		c.physWrite(x.VTPRAddr(), 8, v, accVMX)
		c.tprVirtualization(uint64(v))
	}
	c.stop = true
}

// tprVirtualization is SDM Vol. 3C 30.1.2 after VTPR was written (vtpr its
// new value): with "virtual-interrupt delivery", PPR virtualization and
// the evaluation of pending virtual interrupts; without it, a trap-like
// TPR-below-threshold VM exit when VTPR[7:4] is below bits 3:0 of the TPR
// threshold.
func (c *CPU) tprVirtualization(vtpr uint64) {
	x := &c.intercepts.Insn
	if x.VID() {
		c.pprVirtualization()
		c.vidEvaluate()
		return
	}
	if x.TPRBelowThreshold(uint32(vtpr)) {
		c.vmxTPRBelowPending() // vmx_tpr.go
	}
}

// vidState is virtual-interrupt delivery's state in the guest (SDM Vol. 3C
// 30.1.1, 30.2): RVI and SVI (saved in the guest interrupt status at VM
// exit), and whether a virtual interrupt is recognized.
type vidState struct {
	on       bool
	rvi, svi uint8
	pending  bool
}

// vmxVIDExit saves RVI and SVI at a VM exit (SDM Vol. 3C 28.3.3).
func (c *CPU) vmxVIDExit() {
	if c.vev.vid.on {
		c.vmx.SaveGuestIntrStatus(c.vev.vid.rvi, c.vev.vid.svi)
	}
}

// pprVirtualization is SDM Vol. 3C 30.1.3: VPPR is VTPR when VTPR[7:4] is
// not below SVI[7:4], else SVI & F0H; bytes 3:1 of VPPR are cleared.
func (c *CPU) pprVirtualization() {
	vtpr, svi := c.vapicRead(vmx.VTPROffset)&0xFF, uint64(c.vev.vid.svi)
	vppr := svi & 0xF0
	if vtpr>>4 >= svi>>4 {
		vppr = vtpr
	}
	c.vapicWrite(vmx.VPPROffset, vppr)
}

// vidEvaluate is the evaluation of pending virtual interrupts (SDM Vol. 3C
// 30.2.1): with "interrupt-window exiting" 0, a virtual interrupt is
// recognized when RVI[7:4] is above VPPR[7:4]; it is delivered at an
// instruction boundary (guestEvents).
func (c *CPU) vidEvaluate() {
	vppr := c.vapicRead(vmx.VPPROffset) & 0xFF
	c.vev.vid.pending = !c.intercepts.Events.IntrWindow && uint64(c.vev.vid.rvi)>>4 > vppr>>4
	if c.vev.vid.pending {
		c.vev.on = true
		c.updateAttn()
	}
}

// vapicBit reads or changes bit vec of the 256-bit register (VISR, VIRR)
// at offset base of the virtual-APIC page: eight 32-bit words 16 bytes
// apart (30.1.1).
func (c *CPU) vapicBit(base uint64, vec uint8, set, clear bool) {
	off := base + uint64(vec>>5)<<4
	w := c.vapicRead(off)
	switch {
	case set:
		w |= 1 << (vec & 31)
	case clear:
		w &^= 1 << (vec & 31)
	}
	c.vapicWrite(off, w)
}

// vapicHighest is the index of the highest bit set in the 256-bit
// register at base, or 0 when none is.
func (c *CPU) vapicHighest(base uint64) uint8 {
	for i := 7; i >= 0; i-- {
		if w := c.vapicRead(base+uint64(i)<<4) & 0xFFFFFFFF; w != 0 {
			b := 31
			for w>>uint(b)&1 == 0 {
				b--
			}
			return uint8(i*32 + b)
		}
	}
	return 0
}

// eoiVirtualization is SDM Vol. 3C 30.1.4: the vector in SVI leaves VISR,
// SVI becomes the highest vector left in VISR (or 0), PPR virtualization;
// then a trap-like virtualized-EOI VM exit (reason 45, the vector as
// qualification) when the vector's EOI-exit bitmap bit is 1, else the
// evaluation of pending virtual interrupts.
func (c *CPU) eoiVirtualization() {
	vec := c.vev.vid.svi
	c.vapicBit(vmx.VISROffset, vec, false, true)
	c.vev.vid.svi = c.vapicHighest(vmx.VISROffset)
	c.pprVirtualization()
	if c.intercepts.Insn.EOIExits(vec) {
		c.apicTrapPending(vmx.ExitVirtualizedEOI, uint64(vec))
		return
	}
	c.vidEvaluate()
}

// selfIPIVirtualization is SDM Vol. 3C 30.1.5: the vector is set in VIRR,
// RVI becomes the larger of RVI and the vector, then the evaluation of
// pending virtual interrupts.
func (c *CPU) selfIPIVirtualization(vec uint8) {
	c.vapicBit(vmx.VIRROffset, vec, true, false)
	if vec > c.vev.vid.rvi {
		c.vev.vid.rvi = vec
	}
	c.vidEvaluate()
}

// vidDeliver is virtual-interrupt delivery (SDM Vol. 3C 30.2.2), at an
// instruction boundary with RFLAGS.IF = 1 and no blocking by STI or MOV
// SS: the vector in RVI enters VISR and becomes SVI, VPPR is the vector &
// F0H, the vector leaves VIRR and RVI becomes the highest vector left
// there (or 0); the interrupt is delivered through the guest's IDT as an
// external interrupt, which ends a HLT state; recognition ceases.
func (c *CPU) vidDeliver() {
	d := &c.vev.vid
	vec := d.rvi
	c.vapicBit(vmx.VISROffset, vec, true, false)
	d.svi = vec
	c.vapicWrite(vmx.VPPROffset, uint64(vec&0xF0))
	c.vapicBit(vmx.VIRROffset, vec, false, true)
	d.rvi = c.vapicHighest(vmx.VIRROffset)
	d.pending = false
	c.halted = false
	c.event(vec, false, 0, evExternal, nil)
}

// apicEOI is the interrupt source's EOI register (machine.LocalAPIC).
type apicEOI interface{ EOI() }

// vmxPostedInterrupt is posted-interrupt processing (SDM Vol. 3C 30.6)
// for an external interrupt acknowledged in the guest with vector vec:
// unless "process posted interrupts" is 1 and vec is the notification
// vector, it reports false (the interrupt exits as usual). Otherwise the
// outstanding-notification bit (bit 256 of the descriptor) is cleared, 0
// is written to the local APIC's EOI register, PIR (bits 255:0) is ORed
// into VIRR and cleared, RVI becomes the larger of RVI and the highest
// vector PIR held, and pending virtual interrupts are evaluated; a
// recognized one is delivered at this instruction boundary. The
// descriptor is at a physical address (not translated through EPT).
func (c *CPU) vmxPostedInterrupt(vec uint8) bool {
	x := &c.intercepts.Insn
	if !x.PostedIntrs || vec != x.PINotificationVector {
		return false
	}
	d := x.PIDescAddr
	if on, ok := c.physRead(d+32, 1, accVMX); ok {
		c.physWrite(d+32, 1, on&^1, accVMX)
	}
	if e, ok := c.intr.(apicEOI); ok {
		e.EOI()
	}
	high := -1
	for i := uint64(0); i < 8; i++ {
		w, ok := c.physRead(d+4*i, 4, accVMX)
		if !ok || w == 0 {
			continue
		}
		c.physWrite(d+4*i, 4, 0, accVMX)
		c.vapicWrite(vmx.VIRROffset+16*i, c.vapicRead(vmx.VIRROffset+16*i)|w)
		high = int(i)*32 + bits.Len32(uint32(w)) - 1
	}
	if high > int(c.vev.vid.rvi) {
		c.vev.vid.rvi = uint8(high)
	}
	c.vidEvaluate()
	return true
}

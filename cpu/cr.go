package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// Control-register writes and the consistency checks the SDM attaches to
// MOV to CR0/CR3/CR4 (SDM Vol. 3A 2.5, Vol. 2B MOV "Protected Mode
// Exceptions"), and the core's own MSRs.

// cr4Base are the CR4 bits every Intel 64 processor has (their CPUID.01H:EDX
// features are architectural in IA-32e mode) and the core accepts
// whatever the model reports.
const cr4Base = arch.CR4VME | arch.CR4PVI | arch.CR4TSD | arch.CR4DE | arch.CR4PSE |
	arch.CR4PAE | arch.CR4MCE | arch.CR4PGE | arch.CR4PCE | arch.CR4OSFXSR |
	arch.CR4OSXMMEXCPT

// cr4Allowed returns the CR4 bits MOV to CR4 accepts on a model with the
// given CPUID.01H:ECX, CPUID.(07H,0):EBX and CPUID.(07H,0):ECX: each newer
// bit only when the model reports its feature, since a CR4 bit of an
// unsupported feature is reserved (SDM Vol. 3A 2.5, 2.6; Vol. 2A CPUID
// Tables 3-10 and 3-8). CR4.VMXE is always in the set: its check stays in
// writeCR4 (hasVMX) with its own rule. CR4.SMXE, KL, CET and UINTR are
// never accepted: vmxemu implements none of them.
func cr4Allowed(ecx1, ebx7, ecx7 uint32) uint64 {
	m := uint64(cr4Base | arch.CR4VMXE)
	for _, f := range [...]struct {
		reg uint32
		bit uint
		cr4 uint64
	}{
		{ecx1, 17, arch.CR4PCIDE},   // CPUID.01H:ECX.PCID
		{ecx1, 26, arch.CR4OSXSAVE}, // CPUID.01H:ECX.XSAVE
		{ebx7, 0, arch.CR4FSGSBASE}, // CPUID.(07H,0):EBX.FSGSBASE
		{ebx7, 7, arch.CR4SMEP},     // CPUID.(07H,0):EBX.SMEP
		{ebx7, 20, arch.CR4SMAP},    // CPUID.(07H,0):EBX.SMAP
		{ecx7, 2, arch.CR4UMIP},     // CPUID.(07H,0):ECX.UMIP
		{ecx7, 16, arch.CR4LA57},    // CPUID.(07H,0):ECX.LA57
		{ecx7, 3, arch.CR4PKE},      // CPUID.(07H,0):ECX.PKU
		{ecx7, 31, arch.CR4PKS},     // CPUID.(07H,0):ECX.PKS
	} {
		if f.reg&(1<<f.bit) != 0 {
			m |= f.cr4
		}
	}
	return m
}

// writeCR0 is the one home of every change to CR0: MOV to CR0, LMSW, CLTS
// and a task switch (which sets TS) all come here, and so will the VMX
// checks on CR0 (fixed bits in VMX operation; the guest/host mask and read
// shadow decide before it whether a guest's write exits). It applies the
// checks of MOV to CR0 (each one can fail only for a MOV or LMSW: CLTS
// and a task switch change TS alone), then commits the value and its
// effects on paging and the derived state.
func (c *CPU) writeCR0(v uint64) {
	const sdm = "Vol. 3A 2.5 / Vol. 2B MOV CR0"
	switch {
	case v>>32 != 0:
		c.raiseGP("CR0 bits 63:32 are reserved", sdm)
		return
	case v&arch.CR0PG != 0 && v&arch.CR0PE == 0:
		c.raiseGP("CR0.PG=1 requires CR0.PE=1", sdm)
		return
	case v&arch.CR0NW != 0 && v&arch.CR0CD == 0:
		c.raiseGP("CR0.NW=1 requires CR0.CD=1", sdm)
		return
	case v&arch.CR0WP == 0 && c.CR4&arch.CR4CET != 0:
		c.raiseGP("CR0.WP=0 with CR4.CET=1", sdm)
		return
	case v&arch.CR0PG == 0 && c.CR4&arch.CR4PCIDE != 0:
		c.raiseGP("clearing CR0.PG while CR4.PCIDE=1", "Vol. 3A 4.10.1 / Vol. 2B MOV CR0")
		return
	}
	old := c.CR0
	v |= arch.CR0ET // ET is hardwired to 1 (SDM Vol. 3A 2.5)
	v &= 0xE005003F
	if f := c.vmxFixedCR0(v); f != nil {
		c.raise(*f)
		return
	}
	if v&arch.CR0PG != 0 && old&arch.CR0PG == 0 && c.EFER&arch.EFERLME != 0 {
		// Activating IA-32e mode (SDM Vol. 3A 10.8.5).
		if c.CR4&arch.CR4PAE == 0 {
			c.raiseGP("enabling paging with EFER.LME=1 requires CR4.PAE=1", "Vol. 3A 10.8.5")
			return
		}
		if c.Seg[arch.CS].Attr&arch.ARL != 0 {
			c.raiseGP("enabling IA-32e mode with CS.L=1", "Vol. 3A 10.8.5")
			return
		}
		if t := c.TR.Attr & arch.ARType; c.TR.Attr&arch.ARUnusable == 0 && (t == 1 || t == 3) {
			c.raiseGP("enabling IA-32e mode while TR references a 16-bit TSS", "Vol. 2B MOV CR0 / Vol. 3A 10.8.5")
			return
		}
		c.EFER |= arch.EFERLMA
	}
	if v&arch.CR0PG == 0 && old&arch.CR0PG != 0 && c.EFER&arch.EFERLMA != 0 {
		if c.codeMode == mode64 {
			c.raiseGP("clearing CR0.PG in 64-bit mode", "Vol. 3A 10.8.5.4")
			return
		}
		c.EFER &^= arch.EFERLMA
	}
	if v&arch.CR0PG != 0 && c.CR4&arch.CR4PAE != 0 && c.EFER&arch.EFERLMA == 0 &&
		(old&arch.CR0PG == 0 || (old^v)&(arch.CR0CD|arch.CR0NW) != 0) {
		if !c.loadPDPTEs(v, c.CR3, c.CR4) {
			return
		}
	}
	c.CR0 = v
	switch {
	case (old^v)&(arch.CR0PG|arch.CR0PE) != 0:
		c.pagingChanged()
	case (old^v)&arch.CR0WP != 0:
		// CR0.WP decides only whether supervisor-mode writes honour R/W
		// (and protection keys' WD), never a read or a fetch (SDM Vol.
		// 3A 4.6.1, 4.6.2), and a change of it alone invalidates nothing
		// architecturally (Vol. 3A 4.10.4.1 lists no such case). The
		// write entries whose check depended on WP were filled under
		// the old WP: they go (tlbEntry.wpDep); every other entry and
		// the decoded-block lookups stay, as the same walk would give
		// them.
		c.tlb.flushWrites()
		if old^v == arch.CR0WP {
			// Nothing stateChanged derives (segment views, decode
			// mode, CPL, TLB key) depends on WP: kvm-unit-tests'
			// vmexit_cr0_wp toggles WP alone in a loop.
			return
		}
	}
	c.stateChanged()
}

func (c *CPU) writeCR3(v uint64) {
	pcide := c.CR4&arch.CR4PCIDE != 0
	noFlush := false
	if pcide {
		// Bit 63 selects whether TLB entries of the new PCID survive; it
		// is not written to CR3 (SDM Vol. 3A 4.10.4.1, Vol. 2B MOV CR3).
		noFlush = v&(1<<63) != 0
		v &^= 1 << 63
	}
	if c.EFER&arch.EFERLMA != 0 && v>>c.MaxPhysAddr != 0 {
		rule := "CR3 bits 63:MAXPHYADDR are reserved"
		if !pcide && v&(1<<63) != 0 {
			rule = "CR3 bit 63 set with CR4.PCIDE=0 (bit 63 is the no-flush control only with PCIDs enabled)"
		}
		c.raiseGP(rule, "Vol. 2B MOV CR3 / Vol. 3A 4.5")
		return
	}
	if c.CR0&arch.CR0PG != 0 && c.CR4&arch.CR4PAE != 0 && c.EFER&arch.EFERLMA == 0 {
		if !c.loadPDPTEs(c.CR0, v, c.CR4) {
			return
		}
	}
	c.CR3 = v
	// Invalidation by MOV to CR3 (SDM Vol. 3A 4.10.4.1).
	switch {
	case pcide:
		if !noFlush {
			c.tlb.flushPCID(v & 0xFFF)
		}
		c.tlb.setKey(c.cpl == 3, c.pcid())
	case c.CR4&arch.CR4PGE != 0:
		c.tlb.flushNonGlobal()
	default:
		c.tlb.flushAll()
	}
	// Decoded-block lookups are by linear RIP: the address space changed.
	c.blocks.flush()
}

func (c *CPU) writeCR4(v uint64) {
	const sdm = "Vol. 3A 2.5 / Vol. 2B MOV CR4"
	old := c.CR4
	if v&^c.feat.cr4 != 0 {
		c.raiseGP("reserved CR4 bit set, or a CR4 bit whose feature the CPU model does not report in CPUID", sdm)
		return
	}
	if c.EFER&arch.EFERLMA != 0 && v&arch.CR4PAE == 0 {
		c.raiseGP("clearing CR4.PAE while IA32_EFER.LMA=1", sdm)
		return
	}
	if (old^v)&arch.CR4LA57 != 0 && c.EFER&arch.EFERLMA != 0 {
		c.raiseGP("changing CR4.LA57 while IA32_EFER.LMA=1", "Vol. 3A 2.5 / 4.1.1")
		return
	}
	if v&arch.CR4PCIDE != 0 && old&arch.CR4PCIDE == 0 {
		if c.EFER&arch.EFERLMA == 0 {
			c.raiseGP("setting CR4.PCIDE outside IA-32e mode (IA32_EFER.LMA=0)", "Vol. 3A 4.10.1 / Vol. 2B MOV CR4")
			return
		}
		if c.CR3&0xFFF != 0 {
			c.raiseGP("changing CR4.PCIDE from 0 to 1 while CR3[11:0] != 000H", "Vol. 3A 4.10.1 / Vol. 2B MOV CR4")
			return
		}
	}
	if v&arch.CR4VMXE != 0 && !c.hasVMX() {
		c.raiseGP("CR4.VMXE=1 but CPUID.1:ECX.VMX[bit 5]=0", "Vol. 3C 24.7 / Vol. 2B MOV CR4")
		return
	}
	if f := c.vmxFixedCR4(v); f != nil {
		c.raise(*f)
		return
	}
	if c.CR0&arch.CR0PG != 0 && v&arch.CR4PAE != 0 && c.EFER&arch.EFERLMA == 0 &&
		(old^v)&(arch.CR4PAE|arch.CR4PGE|arch.CR4PSE|arch.CR4SMEP) != 0 {
		if !c.loadPDPTEs(c.CR0, c.CR3, v) {
			return
		}
	}
	c.CR4 = v
	if (old^v)&arch.CR4DE != 0 {
		c.updateDebug() // I/O breakpoints (SDM Vol. 3B 18.2.4)
	}
	// PGE changes and PCIDE 1 -> 0 invalidate everything (SDM Vol. 3A
	// 4.10.4.1); the other paging bits change how entries were derived.
	// CR4.PKE and CR4.PKS decide whether the key rights apply, which the
	// TLB's entries have folded in (exec_pkeys.go).
	if (old^v)&(arch.CR4PAE|arch.CR4PGE|arch.CR4PSE|arch.CR4SMEP|arch.CR4SMAP|arch.CR4LA57|arch.CR4PKE|arch.CR4PKS|arch.CR4PCIDE) != 0 {
		c.pagingChanged()
	}
	if old^v == arch.CR4PGE {
		// CR4.PGE alone: the TLB and block lookups were flushed above
		// (SDM Vol. 3A 4.10.4.1); nothing stateChanged derives reads
		// PGE (segment views, code mode, CPL, the TLB key's PCID, which
		// CR4.PCIDE gates, alignment checking), so it would recompute
		// the same values (kvm-unit-tests' vmexit_cr4_pge toggles PGE).
		return
	}
	c.stateChanged()
}

// hasVMX asks the CPU model whether CPUID.1:ECX.VMX is set.
func (c *CPU) hasVMX() bool {
	_, _, ecx, _ := c.plat().CPUID(c, 1, 0)
	return ecx&(1<<5) != 0
}

// plat returns the CPU model, or a model with no features and no MSRs
// when the CPU was built without one (so CPUID/RDMSR never panic).
func (c *CPU) plat() Platform {
	if c.platform == nil {
		return nullPlatform{}
	}
	return c.platform
}

type nullPlatform struct{}

func (nullPlatform) CPUID(*CPU, uint32, uint32) (uint32, uint32, uint32, uint32) { return 0, 0, 0, 0 }
func (nullPlatform) ReadMSR(*CPU, uint32) (uint64, *arch.Fault) {
	f := arch.GPFault(0, "RDMSR of an MSR the CPU model does not implement", "Vol. 2B RDMSR")
	return 0, &f
}
func (nullPlatform) WriteMSR(*CPU, uint32, uint64) *arch.Fault {
	f := arch.GPFault(0, "WRMSR to an MSR the CPU model does not implement", "Vol. 2B WRMSR")
	return &f
}

// loadPDPTEs loads the four PAE PDPTE registers (SDM Vol. 3A 4.4.1).
func (c *CPU) loadPDPTEs(cr0, cr3, cr4 uint64) bool {
	r := mmu.Regs{CR0: cr0, CR3: cr3, CR4: cr4, EFER: c.EFER, MaxPhysAddr: c.MaxPhysAddr}
	c.tlb.ctx.ept.noLin = true // under EPT: no guest-linear address (Table 28-7 bit 7)
	p, f, ok := mmu.LoadPDPTEs(physMem{c}, &r)
	c.tlb.ctx.ept.noLin = false
	if f != nil {
		c.raise(*f)
		return false
	}
	if !ok {
		c.stop = true // refused (phys.go): no guest fault
		return false
	}
	c.pdpte = p
	return true
}

// Architectural MSR indices the core holds itself (SDM Vol. 4).
const (
	msrTSC            = 0x10
	msrFeatureControl = 0x3A
	msrDebugCtl       = 0x1D9
	msrAPICBase       = 0x1B
	msrSysenterCS     = 0x174
	msrSysenterESP    = 0x175
	msrSysenterEIP    = 0x176
	msrPAT            = 0x277
	msrPKRS           = 0x6E1
	msrEFER           = 0xC0000080
	msrSTAR           = 0xC0000081
	msrLSTAR          = 0xC0000082
	msrCSTAR          = 0xC0000083
	msrFMASK          = 0xC0000084
	msrFSBase         = 0xC0000100
	msrGSBase         = 0xC0000101
	msrKernelGSBase   = 0xC0000102
	msrTSCAux         = 0xC0000103
)

func (c *CPU) readMSR(idx uint32) (uint64, *arch.Fault) {
	switch idx {
	case msrTSC:
		return c.TSC(), nil
	case msrSysenterCS:
		return c.SysenterCS, nil
	case msrSysenterESP:
		return c.SysenterESP, nil
	case msrSysenterEIP:
		return c.SysenterEIP, nil
	case msrPAT:
		return c.PAT, nil
	case msrEFER:
		return c.EFER, nil
	case msrSTAR:
		return c.STAR, nil
	case msrLSTAR:
		return c.LSTAR, nil
	case msrCSTAR:
		return c.CSTAR, nil
	case msrFMASK:
		return c.FMASK, nil
	case msrFSBase:
		return c.Seg[arch.FS].Base, nil
	case msrGSBase:
		return c.Seg[arch.GS].Base, nil
	case msrKernelGSBase:
		return c.KernelGSBase, nil
	case msrTSCAux:
		return c.TSCAux, nil
	case msrDebugCtl:
		return c.lbr.ctl, nil
	case msrPKRS:
		if c.feat.pks {
			return c.PKRS, nil
		}
	case msrXSS:
		if c.feat.xsaves {
			return c.xss(), nil // exec_xsaves.go
		}
	}
	if c.lbrMSR(idx) {
		return c.readLBRMSR(idx), nil
	}
	return c.plat().ReadMSR(c, idx)
}

func (c *CPU) writeMSR(idx uint32, v uint64) *arch.Fault {
	canon := func(name string) *arch.Fault {
		if !c.canonicalMax(v) {
			f := arch.GPFault(0, "non-canonical value written to "+name+" (the processor's maximum linear-address width)", "Vol. 4 / Vol. 2B WRMSR; Vol. 3A 4.5")
			return &f
		}
		return nil
	}
	switch idx {
	case msrDebugCtl:
		return c.writeDebugCtl(v)
	case msrTSC:
		c.setTSC(v)
	case msrSysenterCS:
		c.SysenterCS = v & 0xFFFF
	case msrSysenterESP:
		if f := canon("IA32_SYSENTER_ESP"); f != nil {
			return f
		}
		c.SysenterESP = v
	case msrSysenterEIP:
		if f := canon("IA32_SYSENTER_EIP"); f != nil {
			return f
		}
		c.SysenterEIP = v
	case msrPAT:
		for i := 0; i < 8; i++ {
			t := (v >> (8 * i)) & 0xFF
			if t == 2 || t == 3 || t > 7 {
				f := arch.GPFault(0, "IA32_PAT entry with a reserved memory type", "Vol. 3A 13.12.2")
				return &f
			}
		}
		c.PAT = v
	case msrEFER:
		// Reserved bits, and LME may not change while paging is on
		// (SDM Vol. 3A 2.2.1, 10.8.5).
		if v&^uint64(arch.EFERSCE|arch.EFERLME|arch.EFERLMA|arch.EFERNXE) != 0 {
			f := arch.GPFault(0, "reserved bit set in IA32_EFER", "Vol. 4 IA32_EFER")
			return &f
		}
		if v&arch.EFERNXE != 0 && !c.feat.nx {
			f := arch.GPFault(0, "IA32_EFER.NXE set but CPUID.80000001H:EDX.NX[bit 20]=0", "Vol. 4 IA32_EFER / Vol. 3A 4.1.4")
			return &f
		}
		if v&arch.EFERLME != 0 && !c.feat.lm {
			f := arch.GPFault(0, "IA32_EFER.LME set but CPUID.80000001H:EDX.LM[bit 29]=0", "Vol. 4 IA32_EFER / Vol. 3A 4.1.4")
			return &f
		}
		if c.CR0&arch.CR0PG != 0 && (v^c.EFER)&arch.EFERLME != 0 {
			f := arch.GPFault(0, "changing IA32_EFER.LME while CR0.PG=1", "Vol. 3A 10.8.5")
			return &f
		}
		// LMA is read-only: it keeps its value (SDM Vol. 3A 2.2.1).
		v = v&^arch.EFERLMA | c.EFER&arch.EFERLMA
		if (v^c.EFER)&arch.EFERNXE != 0 {
			c.pagingChanged()
		}
		c.EFER = v
		c.stateChanged()
	case msrSTAR:
		c.STAR = v
	case msrLSTAR:
		if f := canon("IA32_LSTAR"); f != nil {
			return f
		}
		c.LSTAR = v
	case msrCSTAR:
		if f := canon("IA32_CSTAR"); f != nil {
			return f
		}
		c.CSTAR = v
	case msrFMASK:
		c.FMASK = v & 0xFFFFFFFF
	case msrFSBase:
		if f := canon("IA32_FS_BASE"); f != nil {
			return f
		}
		c.Seg[arch.FS].Base = v
		c.refreshSeg(arch.FS)
	case msrGSBase:
		if f := canon("IA32_GS_BASE"); f != nil {
			return f
		}
		c.Seg[arch.GS].Base = v
		c.refreshSeg(arch.GS)
	case msrKernelGSBase:
		if f := canon("IA32_KERNEL_GS_BASE"); f != nil {
			return f
		}
		c.KernelGSBase = v
	case msrTSCAux:
		if v>>32 != 0 {
			f := arch.GPFault(0, "IA32_TSC_AUX bits 63:32 are reserved", "Vol. 4")
			return &f
		}
		c.TSCAux = v
	case msrPKRS:
		if !c.feat.pks {
			return c.plat().WriteMSR(c, idx, v)
		}
		return c.writePKRS(v) // exec_pkeys.go
	case msrXSS:
		if !c.feat.xsaves {
			return c.plat().WriteMSR(c, idx, v)
		}
		return c.writeXSS(v) // exec_xsaves.go
	default:
		if c.lbrMSR(idx) {
			return c.writeLBRMSR(idx, v)
		}
		return c.plat().WriteMSR(c, idx, v)
	}
	return nil
}

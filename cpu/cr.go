package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// Control-register writes and the consistency checks the SDM attaches to
// MOV to CR0/CR3/CR4 (SDM Vol. 3A 2.5, Vol. 2B MOV "Protected Mode
// Exceptions"), and the core's own MSRs.

const cr4Supported = arch.CR4VME | arch.CR4PVI | arch.CR4TSD | arch.CR4DE | arch.CR4PSE |
	arch.CR4PAE | arch.CR4MCE | arch.CR4PGE | arch.CR4PCE | arch.CR4OSFXSR |
	arch.CR4OSXMMEXCPT | arch.CR4VMXE | arch.CR4FSGSBASE | arch.CR4OSXSAVE | arch.CR4SMEP | arch.CR4SMAP

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
	}
	old := c.CR0
	v |= arch.CR0ET // ET is hardwired to 1 (SDM Vol. 3A 2.5)
	v &= 0xE005003F
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
	if (old^v)&(arch.CR0PG|arch.CR0WP|arch.CR0PE) != 0 {
		c.pagingChanged()
	}
	c.stateChanged()
}

func (c *CPU) writeCR3(v uint64) {
	if c.EFER&arch.EFERLMA != 0 {
		if v>>c.MaxPhysAddr != 0 && v&(1<<63) == 0 {
			c.raiseGP("CR3 bits beyond MAXPHYADDR set", "Vol. 2B MOV CR3")
			return
		}
	}
	if c.CR0&arch.CR0PG != 0 && c.CR4&arch.CR4PAE != 0 && c.EFER&arch.EFERLMA == 0 {
		if !c.loadPDPTEs(c.CR0, v, c.CR4) {
			return
		}
	}
	c.CR3 = v
	if c.CR4&arch.CR4PGE != 0 {
		c.tlb.flushNonGlobal()
		c.blocks.flush()
	} else {
		c.pagingChanged()
	}
}

func (c *CPU) writeCR4(v uint64) {
	const sdm = "Vol. 3A 2.5 / Vol. 2B MOV CR4"
	if v&^uint64(cr4Supported) != 0 {
		c.raiseGP("reserved or unsupported CR4 bit set", sdm)
		return
	}
	if c.EFER&arch.EFERLMA != 0 && v&arch.CR4PAE == 0 {
		c.raiseGP("clearing CR4.PAE while IA32_EFER.LMA=1", sdm)
		return
	}
	if v&arch.CR4VMXE != 0 && !c.hasVMX() {
		c.raiseGP("CR4.VMXE=1 but CPUID.1:ECX.VMX[bit 5]=0", "Vol. 3C 24.7 / Vol. 2B MOV CR4")
		return
	}
	old := c.CR4
	if c.CR0&arch.CR0PG != 0 && v&arch.CR4PAE != 0 && c.EFER&arch.EFERLMA == 0 &&
		(old^v)&(arch.CR4PAE|arch.CR4PGE|arch.CR4PSE|arch.CR4SMEP) != 0 {
		if !c.loadPDPTEs(c.CR0, c.CR3, v) {
			return
		}
	}
	c.CR4 = v
	if (old^v)&(arch.CR4PAE|arch.CR4PGE|arch.CR4PSE|arch.CR4SMEP|arch.CR4SMAP|arch.CR4LA57|arch.CR4PKE) != 0 {
		c.pagingChanged()
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
	p, f := mmu.LoadPDPTEs(physMem{c}, &r)
	if f != nil {
		c.raise(*f)
		return false
	}
	c.pdpte = p
	return true
}

// Architectural MSR indices the core holds itself (SDM Vol. 4).
const (
	msrTSC          = 0x10
	msrAPICBase     = 0x1B
	msrSysenterCS   = 0x174
	msrSysenterESP  = 0x175
	msrSysenterEIP  = 0x176
	msrPAT          = 0x277
	msrEFER         = 0xC0000080
	msrSTAR         = 0xC0000081
	msrLSTAR        = 0xC0000082
	msrCSTAR        = 0xC0000083
	msrFMASK        = 0xC0000084
	msrFSBase       = 0xC0000100
	msrGSBase       = 0xC0000101
	msrKernelGSBase = 0xC0000102
	msrTSCAux       = 0xC0000103
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
	}
	return c.plat().ReadMSR(c, idx)
}

func (c *CPU) writeMSR(idx uint32, v uint64) *arch.Fault {
	canon := func(name string) *arch.Fault {
		if !c.canonical(v) {
			f := arch.GPFault(0, "non-canonical value written to "+name, "Vol. 4 / Vol. 2B WRMSR")
			return &f
		}
		return nil
	}
	switch idx {
	case msrTSC:
		c.TSCOffset = v - c.Icount
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
	default:
		return c.plat().WriteMSR(c, idx, v)
	}
	return nil
}

package cpu

import (
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// The VM-entry MSR-load, VM-exit MSR-store and VM-exit MSR-load areas
// (SDM Vol. 3C 24.7.2, 24.8.2; 27.4, 28.4, 28.6): arrays of 16-byte
// entries — bits 31:0 the MSR index, bits 63:32 reserved (0), bits 127:64
// the data — in guest-physical memory, read and written as the processor
// does, entry by entry, in order.

// VMX-abort indicators (SDM Vol. 3C 28.7).
const (
	abortMSRStore = 1 // saving guest MSRs failed
	abortMSRLoad  = 4 // loading host MSRs failed
)

// msrAreaEntry reads entry i of the area at addr: index, reserved bits,
// data; ok false when the memory does not answer.
func (c *CPU) msrAreaEntry(addr uint64, i uint64) (idx uint32, res uint32, data uint64, ok bool) {
	lo, ok1 := c.physRead(addr+16*i, 8, accVMX)
	hi, ok2 := c.physRead(addr+16*i+8, 8, accVMX)
	return uint32(lo), uint32(lo >> 32), hi, ok1 && ok2
}

// msrAreaRefused is the rule an entry of a loading area breaks before its
// WRMSR is attempted (SDM Vol. 3C 27.4 for VM entry, 28.6 for VM exit),
// "" if none. The same list, but IA32_SMBASE, holds for both.
func msrAreaRefused(idx, res uint32, entry bool) string {
	switch {
	case idx>>8 == 0x8:
		return fmt.Sprintf("MSR %#x: bits 31:8 are 000008H (an x2APIC register)", idx)
	case idx == 0x9B:
		return "MSR 0x9b: IA32_SMM_MONITOR_CTL may not be loaded from an MSR area"
	case entry && idx == 0x9E:
		return "MSR 0x9e: IA32_SMBASE may not be loaded by VM entry"
	case idx == msrFSBase || idx == msrGSBase:
		return fmt.Sprintf("MSR %#x: IA32_FS_BASE and IA32_GS_BASE may not be loaded from an MSR area", idx)
	case res != 0:
		return fmt.Sprintf("MSR %#x: reserved bits 63:32 of the entry are %#x, not 0", idx, res)
	}
	return ""
}

// vmxEntryMSRLoad loads the VM-entry MSR-load area (SDM Vol. 3C 27.4),
// after the guest state. It returns the 1-based index of the failing entry
// and why, or 0.
func (c *CPU) vmxEntryMSRLoad() (uint64, string) {
	n := c.vmx.CoreFieldValue(vmx.CoreEntryMSRLoadCount)
	if n == 0 {
		return 0, ""
	}
	addr := c.vmx.CurField(vmx.EncEntryMSRLoadAddr)
	for i := uint64(0); i < n; i++ {
		idx, res, data, ok := c.msrAreaEntry(addr, i)
		if !ok {
			return i + 1, fmt.Sprintf("entry %d of the VM-entry MSR-load area at %#x is not in memory", i, addr+16*i)
		}
		if why := msrAreaRefused(idx, res, true); why != "" {
			return i + 1, why
		}
		if f := c.writeMSR(idx, data); f != nil {
			return i + 1, fmt.Sprintf("MSR %#x: WRMSR of %#x would #GP (%s)", idx, data, f.Rule)
		}
	}
	return 0, ""
}

// vmxExitMSRStore stores the guest's MSRs into the VM-exit MSR-store area
// (SDM Vol. 3C 28.4), before host state is loaded. false: a VMX abort.
func (c *CPU) vmxExitMSRStore() bool {
	n := c.vmx.CoreFieldValue(vmx.CoreExitMSRStoreCount)
	if n == 0 {
		return true
	}
	addr := c.vmx.CurField(vmx.EncExitMSRStoreAddr)
	for i := uint64(0); i < n; i++ {
		idx, res, _, ok := c.msrAreaEntry(addr, i)
		if !ok || idx>>8 == 0x8 || idx == 0x9E || res != 0 {
			return c.vmxAbort(abortMSRStore, fmt.Sprintf("entry %d (MSR %#x) of the VM-exit MSR-store area cannot be stored", i, idx), "Vol. 3C 28.4")
		}
		v, f := c.readMSR(idx)
		if f != nil || !c.physWrite(addr+16*i+8, 8, v, accVMX) {
			return c.vmxAbort(abortMSRStore, fmt.Sprintf("MSR %#x of the VM-exit MSR-store area: RDMSR would #GP", idx), "Vol. 3C 28.4")
		}
	}
	return true
}

// vmxExitMSRLoad loads the VM-exit MSR-load area (SDM Vol. 3C 28.6), after
// host state. false: a VMX abort.
func (c *CPU) vmxExitMSRLoad() bool {
	n := c.vmx.CoreFieldValue(vmx.CoreExitMSRLoadCount)
	if n == 0 {
		return true
	}
	addr := c.vmx.CurField(vmx.EncExitMSRLoadAddr)
	for i := uint64(0); i < n; i++ {
		idx, res, data, ok := c.msrAreaEntry(addr, i)
		why := msrAreaRefused(idx, res, false)
		if !ok {
			why = "not in memory"
		}
		if why == "" {
			if f := c.writeMSR(idx, data); f != nil {
				why = fmt.Sprintf("MSR %#x: WRMSR of %#x would #GP (%s)", idx, data, f.Rule)
			}
		}
		if why != "" {
			return c.vmxAbort(abortMSRLoad, fmt.Sprintf("entry %d of the VM-exit MSR-load area: %s", i, why), "Vol. 3C 28.6")
		}
	}
	return true
}

// vmxAbort is a VMX abort (SDM Vol. 3C 28.7): the indicator goes into the
// current VMCS region at offset 4 and the logical processor shuts down.
// It returns false.
func (c *CPU) vmxAbort(indicator uint32, why, sdm string) bool {
	c.physWrite(c.vmx.CurrentVMCS()+4, 4, uint64(indicator), accVMX)
	c.faultPending = false
	c.enterShutdownNow(arch.Fault{Vector: arch.VecGP, Rule: fmt.Sprintf("VMX abort (indicator %d): %s", indicator, why), SDM: sdm + ", 28.7"},
		"VMX abort")
	return false
}

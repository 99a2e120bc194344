package msr

import (
	"fmt"
	"slices"
)

// VMX capability toggles (-cpu MODEL,-ept and the like): each removes a
// capability from the model's VMX MSRs as a processor without it would
// report them (SDM Vol. 3D Appendix A), along with what depends on it.

// ctl is a VM-execution, exit or entry control: its capability MSR, the
// TRUE_* MSR that also reports it (0 if none) and its bit in the control.
type ctl struct {
	msr, trueMSR uint32
	bit          uint
}

func (c ctl) allowed1(v map[uint32]uint64) bool { return v[c.msr]>>(32+c.bit)&1 != 0 }

func (c ctl) clear(v map[uint32]uint64) {
	for _, m := range []uint32{c.msr, c.trueMSR} {
		if x, ok := v[m]; ok && m != 0 {
			v[m] = x &^ (1 << (32 + c.bit))
		}
	}
}

func sec(bit uint) ctl { return ctl{VMXProcbasedCtls2, 0, bit} }

var (
	ctlPreemptionTimer = ctl{VMXPinbasedCtls, VMXTruePinbasedCtls, 6}
	ctlPostedIntr      = ctl{VMXPinbasedCtls, VMXTruePinbasedCtls, 7}
	ctlTertiary        = ctl{VMXProcbasedCtls, VMXTrueProcbasedCtls, 17}
	ctlSecondary       = ctl{VMXProcbasedCtls, VMXTrueProcbasedCtls, 31}
	ctlSavePreemption  = ctl{VMXExitCtls, VMXTrueExitCtls, 22}
	ctlEPT             = sec(1)
	ctlVPID            = sec(5)
	ctlUnrestricted    = sec(7)
	ctlVMFunc          = sec(13)
	ctlShadowVMCS      = sec(14)
	ctlPML             = sec(17)
	ctlEPTVE           = sec(18)
	ctlMBEC            = sec(22)
	ctlSPP             = sec(23)
	ctlPTGPA           = sec(24)
)

const (
	eptCapBits  = 0xFFFF_F000_FFFF_FFFF // IA32_VMX_EPT_VPID_CAP bits about EPT (all but 43:32)
	vpidCapBits = 0x0000_0FFF_0000_0000 // bits 43:32: INVVPID
	eptCapAD    = 1 << 21
	// eptCapHonoured are the IA32_VMX_EPT_VPID_CAP bits vmxemu implements:
	// execute-only (0), page-walk lengths 4 and 5 (6, 7), UC and WB (8,
	// 14), 2-MiB and 1-GiB pages (16, 17), INVEPT (20), A/D flags (21),
	// advanced VM-exit information for EPT violations (22), single- and
	// all-context INVEPT (25, 26), INVVPID (32) and its four types
	// (40-43).
	eptCapHonoured = 1<<0 | 1<<6 | 1<<7 | 1<<8 | 1<<14 | 1<<16 | 1<<17 | 1<<20 | 1<<21 | 1<<22 | 1<<25 | 1<<26 |
		1<<32 | 1<<40 | 1<<41 | 1<<42 | 1<<43
)

// VMXFeature is a VMX capability that -cpu can remove.
type VMXFeature struct {
	Name string // vmxemu's name; QEMU's is "vmx-" + Name
	Desc string
	has  func(v map[uint32]uint64) bool
	drop func(v map[uint32]uint64)
}

var vmxFeatures = []VMXFeature{
	{"ept", "enable EPT (secondary control 1) and the EPT half of IA32_VMX_EPT_VPID_CAP; takes unrestricted guest, PML, EPT-violation #VE, mode-based execute control, sub-page permissions, PT GPA translation and VM functions with it",
		ctlEPT.allowed1, func(v map[uint32]uint64) {
			for _, c := range []ctl{ctlEPT, ctlUnrestricted, ctlPML, ctlEPTVE, ctlMBEC, ctlSPP, ctlPTGPA, ctlVMFunc} {
				c.clear(v)
			}
			if x, ok := v[VMXEPTVPIDCap]; ok {
				v[VMXEPTVPIDCap] = x &^ eptCapBits
			}
		}},
	{"vpid", "enable VPID (secondary control 5) and the INVVPID half of IA32_VMX_EPT_VPID_CAP",
		ctlVPID.allowed1, func(v map[uint32]uint64) {
			ctlVPID.clear(v)
			if x, ok := v[VMXEPTVPIDCap]; ok {
				v[VMXEPTVPIDCap] = x &^ vpidCapBits
			}
		}},
	{"unrestricted-guest", "unrestricted guest (secondary control 7)", ctlUnrestricted.allowed1, ctlUnrestricted.clear},
	{"vmfunc", "enable VM functions (secondary control 13) and IA32_VMX_VMFUNC", ctlVMFunc.allowed1, ctlVMFunc.clear},
	{"shadow-vmcs", "VMCS shadowing (secondary control 14)", ctlShadowVMCS.allowed1, ctlShadowVMCS.clear},
	{"pml", "enable PML (secondary control 17)", ctlPML.allowed1, ctlPML.clear},
	{"eptad", "EPT accessed and dirty flags (IA32_VMX_EPT_VPID_CAP bit 21)",
		func(v map[uint32]uint64) bool { return v[VMXEPTVPIDCap]&eptCapAD != 0 },
		func(v map[uint32]uint64) { v[VMXEPTVPIDCap] &^= eptCapAD }},
	{"preemption-timer", "activate VMX-preemption timer (pin-based control 6) and save its value on exit (exit control 22)",
		ctlPreemptionTimer.allowed1, func(v map[uint32]uint64) { ctlPreemptionTimer.clear(v); ctlSavePreemption.clear(v) }},
	{"posted-intr", "process posted interrupts (pin-based control 7)", ctlPostedIntr.allowed1, ctlPostedIntr.clear},
}

// vmxFeatureBits is the capability bit each of vmxFeatures stands for,
// for +name's known-gap rule (vmxBit.honoured).
var vmxFeatureBits = map[string]vmxBit{
	"ept": qctl(VMXProcbasedCtls2, 1), "vpid": qctl(VMXProcbasedCtls2, 5),
	"unrestricted-guest": qctl(VMXProcbasedCtls2, 7), "vmfunc": qctl(VMXProcbasedCtls2, 13),
	"shadow-vmcs": qctl(VMXProcbasedCtls2, 14), "pml": qctl(VMXProcbasedCtls2, 17),
	"eptad":            {msr: VMXEPTVPIDCap, bit: 21},
	"preemption-timer": qctl(VMXPinbasedCtls, 6), "posted-intr": qctl(VMXPinbasedCtls, 7),
}

// VMXFeatures returns the VMX capabilities -cpu can remove.
func VMXFeatures() []VMXFeature { return slices.Clone(vmxFeatures) }

func vmxFeatureByName(name string) (VMXFeature, bool) {
	for _, f := range vmxFeatures {
		if name == f.Name || name == "vmx-"+f.Name {
			return f, true
		}
	}
	return VMXFeature{}, false
}

// pruneVMX removes the capability MSRs that do not exist with the controls
// the others report (SDM Vol. 3D A.3.3, A.10, A.11, A.3.4): the secondary
// controls need "activate secondary controls", EPT_VPID_CAP needs EPT or
// VPID, VMFUNC needs "enable VM functions", the tertiary controls need
// "activate tertiary controls", TRUE_* need IA32_VMX_BASIC bit 55.
func pruneVMX(v map[uint32]uint64) {
	if !ctlSecondary.allowed1(v) {
		delete(v, VMXProcbasedCtls2)
	}
	if !ctlEPT.allowed1(v) && !ctlVPID.allowed1(v) {
		delete(v, VMXEPTVPIDCap)
	}
	if !ctlVMFunc.allowed1(v) {
		delete(v, VMXVMFunc)
	}
	if !ctlTertiary.allowed1(v) {
		delete(v, VMXProcbasedCtls3)
	}
	if v[VMXBasic]>>55&1 == 0 {
		for m := VMXTruePinbasedCtls; m <= VMXTrueEntryCtls; m++ {
			delete(v, m)
		}
	}
}

// implementedControls are the allowed-1 bits of each VMX control
// capability MSR (bits 63:32 for the pin-based, processor-based, exit and
// entry controls; all bits for the tertiary controls and VM functions)
// that vmxemu honours: beyond these, a guest sees each control only as its
// default setting allows (honestVMX). Each issue
// that makes controls work adds their bits here; vmxcap's last column
// reads the same table.
var implementedControls = map[uint32]uint64{
	// External-interrupt exiting (0), NMI exiting (3), virtual NMIs (5),
	// activate VMX-preemption timer (6), process posted interrupts (7;
	// cpu/vmx_apicv.go).
	VMXPinbasedCtls: (1<<0 | 1<<3 | 1<<5 | 1<<6 | 1<<7) << 32,
	// Interrupt-window exiting (2), use TSC offsetting (3), HLT (7),
	// INVLPG (9), RDPMC (11), RDTSC (12), CR3-load (15), CR3-store (16),
	// CR8-load (19), CR8-store (20) exiting, use TPR shadow (21; without
	// APIC-access virtualization, vmx/tpr.go), NMI-window exiting (22),
	// MOV-DR (23) and unconditional I/O
	// (24) exiting, use I/O bitmaps (25), monitor trap flag (27), use MSR
	// bitmaps (28), PAUSE exiting (30), activate secondary controls (31),
	// MWAIT (10) and MONITOR (29) exiting (cpu/exec_monitor.go).
	VMXProcbasedCtls: (1<<2 | 1<<3 | 1<<7 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<15 | 1<<16 | 1<<19 | 1<<20 | 1<<21 | 1<<22 | 1<<23 | 1<<24 | 1<<25 | 1<<27 | 1<<28 | 1<<29 | 1<<30 | 1<<31) << 32,
	// Virtualize APIC accesses (0), virtualize x2APIC mode (4),
	// APIC-register virtualization (8), virtual-interrupt delivery (9;
	// vmx/apicv.go, cpu/vmx_apicv.go), enable EPT (1), descriptor-table
	// exiting (2), enable RDTSCP (3), enable VPID (5), WBINVD exiting (6),
	// unrestricted guest (7), PAUSE-loop exiting (10; vmx/pause.go),
	// RDRAND exiting (11), enable INVPCID (12), enable VM functions (13),
	// VMCS shadowing (14; vmx/shadow.go), RDSEED exiting (16), enable PML
	// (17), EPT-violation #VE (18), enable XSAVES/XRSTORS (20;
	// cpu/exec_xsaves.go), mode-based execute control for EPT (22), use
	// TSC scaling (25).
	VMXProcbasedCtls2: (1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<4 | 1<<5 | 1<<6 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<13 | 1<<14 | 1<<16 | 1<<17 | 1<<18 | 1<<20 | 1<<22 | 1<<25) << 32,
	// Save debug controls (2), host address-space size (9), acknowledge
	// interrupt on exit (15), save IA32_EFER (20), load IA32_EFER (21),
	// save VMX-preemption timer value (22).
	VMXExitCtls: (1<<2 | 1<<9 | 1<<15 | 1<<20 | 1<<21 | 1<<22) << 32,
	// Load debug controls (2), IA-32e mode guest (9), load IA32_EFER (15).
	VMXEntryCtls:      (1<<2 | 1<<9 | 1<<15) << 32,
	VMXProcbasedCtls3: 0,
	// EPTP switching (VM function 0).
	VMXVMFunc: 1 << 0,
}

// controlImplemented reports whether vmxemu honours the 1-setting of a
// control (bit b of the control word of capability MSR idx).
func controlImplemented(idx uint32, b uint) bool {
	switch idx {
	case VMXTruePinbasedCtls:
		idx = VMXPinbasedCtls
	case VMXTrueProcbasedCtls:
		idx = VMXProcbasedCtls
	case VMXTrueExitCtls:
		idx = VMXExitCtls
	case VMXTrueEntryCtls:
		idx = VMXEntryCtls
	}
	if idx == VMXProcbasedCtls3 || idx == VMXVMFunc {
		return implementedControls[idx]>>b&1 != 0
	}
	return implementedControls[idx]>>(32+b)&1 != 0
}

// honestVMX masks, in the guest's copy of the capability MSRs, the
// allowed-1 settings of every control vmxemu does not honour: what may be
// 1 is what must be 1 (the default-1 bits of the legacy MSR, SDM Vol. 3D
// A.2) plus what vmxemu implements. The TRUE_* MSRs keep their allowed-0
// settings and get the same allowed-1 bits as the legacy MSR, as A.3.1
// requires. The capability MSRs whose controls disappear with it are then
// removed by pruneVMX.
func honestVMX(v map[uint32]uint64) {
	for _, pair := range [][2]uint32{
		{VMXPinbasedCtls, VMXTruePinbasedCtls},
		{VMXProcbasedCtls, VMXTrueProcbasedCtls},
		{VMXExitCtls, VMXTrueExitCtls},
		{VMXEntryCtls, VMXTrueEntryCtls},
		{VMXProcbasedCtls2, 0},
	} {
		legacy, ok := v[pair[0]]
		if !ok {
			continue
		}
		implemented := implementedControls[pair[0]] >> 32
		allowed1 := legacy>>32&implemented | legacy&0xFFFFFFFF
		v[pair[0]] = legacy&0xFFFFFFFF | allowed1<<32
		if t, ok := v[pair[1]]; ok && pair[1] != 0 {
			v[pair[1]] = t&0xFFFFFFFF | allowed1<<32
		}
	}
	for _, idx := range []uint32{VMXProcbasedCtls3, VMXVMFunc} {
		if x, ok := v[idx]; ok {
			v[idx] = x & implementedControls[idx]
		}
	}
	// IA32_VMX_EPT_VPID_CAP: the EPT and INVVPID capabilities vmxemu
	// honours (package ept; SDM Vol. 3D A.10); the others (supervisor
	// shadow-stack control, bit 23; HLAT and the like) are masked.
	if x, ok := v[VMXEPTVPIDCap]; ok {
		v[VMXEPTVPIDCap] = x & eptCapHonoured
	}
	// The dual-monitor treatment of SMIs and SMM (IA32_VMX_BASIC[49],
	// SDM Vol. 3C 32.15) needs SMM and IA32_SMM_MONITOR_CTL, which vmxemu
	// does not model: VMCALL in VMX root operation only fails.
	// Bits 63:57 of IA32_VMX_BASIC: Sapphire Rapids' dump sets bit 57,
	// which SDM Vol. 3D A.1 (the edition vmxemu follows) does not define
	// as a capability vmxemu honours, and bit 58 (VMX nested-exception
	// support) belongs to FRED, which vmxemu does not model: both are
	// masked (kvm-unit-tests' test_vmx_caps expects 63:57 = 0).
	if b, ok := v[VMXBasic]; ok {
		v[VMXBasic] = b &^ (1<<49 | 0x7F<<57)
	}
	// The HLT, shutdown and wait-for-SIPI activity states
	// (IA32_VMX_MISC[8:6], SDM Vol. 3C 25.4.2) are kept as the model has
	// them (cpu/vmx_activity.go). IA32_VMX_MISC[14] (Intel PT usable in VMX operation, Vol. 3D A.6)
	// describes a feature the models hide (intel-pt, CPUID.(7,0):EBX[25]).
	if m, ok := v[VMXMisc]; ok {
		v[VMXMisc] = m &^ (1 << 14)
	}
}

// vmxBit is one bit of a VMX capability MSR: for the pin-based, primary
// and secondary processor-based, exit and entry controls the allowed-1 bit
// of control bit b (bit 32+b of the MSR, and of its TRUE_* twin); for
// IA32_VMX_BASIC, MISC, EPT_VPID_CAP and VMFUNC the bit itself.
type vmxBit struct {
	msr uint32
	bit uint
	// may0: the name means "the control may be 0" (QEMU's
	// vmx-cr3-load-noexit, vmx-exit-nosave-debugctl…, for controls that
	// are default-1): the TRUE_* MSR's allowed-0 bit is clear. Removing
	// it forces the control to 1.
	may0 bool
}

func qctl(m uint32, b uint) vmxBit { return vmxBit{msr: m, bit: 32 + b} }

func qctl0(m uint32, b uint) vmxBit { return vmxBit{msr: m, bit: 32 + b, may0: true} }

// qemuVMXNames are QEMU's names for the VMX capability bits (its x86 CPU
// models' VMX feature words), so that a QEMU command line's
// -cpu MODEL,-vmx-hlt-exit carries over. The names that match one of
// vmxFeatures ("vmx-ept", "vmx-vpid", …) take that entry's dependencies
// with them.
var qemuVMXNames = map[string]vmxBit{
	"vmx-intr-exit": qctl(VMXPinbasedCtls, 0), "vmx-nmi-exit": qctl(VMXPinbasedCtls, 3),
	"vmx-vnmi": qctl(VMXPinbasedCtls, 5),

	"vmx-vintr-pending": qctl(VMXProcbasedCtls, 2), "vmx-tsc-offset": qctl(VMXProcbasedCtls, 3),
	"vmx-hlt-exit": qctl(VMXProcbasedCtls, 7), "vmx-invlpg-exit": qctl(VMXProcbasedCtls, 9),
	"vmx-mwait-exit": qctl(VMXProcbasedCtls, 10), "vmx-rdpmc-exit": qctl(VMXProcbasedCtls, 11),
	"vmx-rdtsc-exit": qctl(VMXProcbasedCtls, 12), "vmx-cr3-load-noexit": qctl0(VMXProcbasedCtls, 15),
	"vmx-cr3-store-noexit": qctl0(VMXProcbasedCtls, 16), "vmx-cr8-load-exit": qctl(VMXProcbasedCtls, 19),
	"vmx-cr8-store-exit": qctl(VMXProcbasedCtls, 20), "vmx-flexpriority": qctl(VMXProcbasedCtls, 21),
	"vmx-vnmi-pending": qctl(VMXProcbasedCtls, 22), "vmx-movdr-exit": qctl(VMXProcbasedCtls, 23),
	"vmx-io-exit": qctl(VMXProcbasedCtls, 24), "vmx-io-bitmap": qctl(VMXProcbasedCtls, 25),
	"vmx-mtf": qctl(VMXProcbasedCtls, 27), "vmx-msr-bitmap": qctl(VMXProcbasedCtls, 28),
	"vmx-monitor-exit": qctl(VMXProcbasedCtls, 29), "vmx-pause-exit": qctl(VMXProcbasedCtls, 30),
	"vmx-secondary-ctls": qctl(VMXProcbasedCtls, 31),

	"vmx-apicv-xapic": qctl(VMXProcbasedCtls2, 0), "vmx-desc-exit": qctl(VMXProcbasedCtls2, 2),
	"vmx-rdtscp-exit": qctl(VMXProcbasedCtls2, 3), "vmx-apicv-x2apic": qctl(VMXProcbasedCtls2, 4),
	"vmx-wbinvd-exit": qctl(VMXProcbasedCtls2, 6), "vmx-apicv-register": qctl(VMXProcbasedCtls2, 8),
	"vmx-apicv-vid": qctl(VMXProcbasedCtls2, 9), "vmx-ple": qctl(VMXProcbasedCtls2, 10),
	"vmx-rdrand-exit": qctl(VMXProcbasedCtls2, 11), "vmx-invpcid-exit": qctl(VMXProcbasedCtls2, 12),
	"vmx-encls-exit": qctl(VMXProcbasedCtls2, 15), "vmx-rdseed-exit": qctl(VMXProcbasedCtls2, 16),
	"vmx-xsaves": qctl(VMXProcbasedCtls2, 20), "vmx-mbec": qctl(VMXProcbasedCtls2, 22),
	"vmx-tsc-scaling":            qctl(VMXProcbasedCtls2, 25),
	"vmx-enable-user-wait-pause": qctl(VMXProcbasedCtls2, 26),

	"vmx-exit-nosave-debugctl": qctl0(VMXExitCtls, 2), "vmx-exit-load-perf-global-ctrl": qctl(VMXExitCtls, 12),
	"vmx-exit-ack-intr": qctl(VMXExitCtls, 15), "vmx-exit-save-pat": qctl(VMXExitCtls, 18),
	"vmx-exit-load-pat": qctl(VMXExitCtls, 19), "vmx-exit-save-efer": qctl(VMXExitCtls, 20),
	"vmx-exit-load-efer": qctl(VMXExitCtls, 21), "vmx-exit-save-preemption-timer": qctl(VMXExitCtls, 22),
	"vmx-exit-clear-bndcfgs": qctl(VMXExitCtls, 23), "vmx-exit-clear-rtit-ctl": qctl(VMXExitCtls, 25),
	"vmx-exit-load-pkrs": qctl(VMXExitCtls, 29),

	"vmx-entry-noload-debugctl": qctl0(VMXEntryCtls, 2), "vmx-entry-ia32e-mode": qctl(VMXEntryCtls, 9),
	"vmx-entry-load-perf-global-ctrl": qctl(VMXEntryCtls, 13), "vmx-entry-load-pat": qctl(VMXEntryCtls, 14),
	"vmx-entry-load-efer": qctl(VMXEntryCtls, 15), "vmx-entry-load-bndcfgs": qctl(VMXEntryCtls, 16),
	"vmx-entry-load-rtit-ctl": qctl(VMXEntryCtls, 18), "vmx-entry-load-pkrs": qctl(VMXEntryCtls, 22),

	"vmx-store-lma": {msr: VMXMisc, bit: 5}, "vmx-activity-hlt": {msr: VMXMisc, bit: 6},
	"vmx-activity-shutdown": {msr: VMXMisc, bit: 7}, "vmx-activity-wait-sipi": {msr: VMXMisc, bit: 8},
	"vmx-vmwrite-vmexit-fields": {msr: VMXMisc, bit: 29}, "vmx-zero-len-inject": {msr: VMXMisc, bit: 30},

	"vmx-ept-execonly": {msr: VMXEPTVPIDCap, bit: 0}, "vmx-page-walk-4": {msr: VMXEPTVPIDCap, bit: 6},
	"vmx-page-walk-5": {msr: VMXEPTVPIDCap, bit: 7}, "vmx-ept-2mb": {msr: VMXEPTVPIDCap, bit: 16},
	"vmx-ept-1gb": {msr: VMXEPTVPIDCap, bit: 17}, "vmx-invept": {msr: VMXEPTVPIDCap, bit: 20},
	"vmx-ept-advanced-exitinfo": {msr: VMXEPTVPIDCap, bit: 22},
	"vmx-invept-single-context": {msr: VMXEPTVPIDCap, bit: 25}, "vmx-invept-all-context": {msr: VMXEPTVPIDCap, bit: 26},
	"vmx-invvpid": {msr: VMXEPTVPIDCap, bit: 32}, "vmx-invvpid-single-addr": {msr: VMXEPTVPIDCap, bit: 40},
	"vmx-invvpid-all-context":             {msr: VMXEPTVPIDCap, bit: 42},
	"vmx-invept-single-context-noglobals": {msr: VMXEPTVPIDCap, bit: 43},

	"vmx-ins-outs": {msr: VMXBasic, bit: 54}, "vmx-true-ctls": {msr: VMXBasic, bit: 55},
	"vmx-eptp-switching": {msr: VMXVMFunc, bit: 0},
}

// trueTwin is the TRUE_* MSR that also reports a control MSR's bits (0 if
// none).
func trueTwin(idx uint32) uint32 {
	switch idx {
	case VMXPinbasedCtls:
		return VMXTruePinbasedCtls
	case VMXProcbasedCtls:
		return VMXTrueProcbasedCtls
	case VMXExitCtls:
		return VMXTrueExitCtls
	case VMXEntryCtls:
		return VMXTrueEntryCtls
	}
	return 0
}

// isControlMSR reports whether idx holds allowed-0 (31:0) and allowed-1
// (63:32) settings.
func isControlMSR(idx uint32) bool {
	return idx == VMXProcbasedCtls2 || trueTwin(idx) != 0
}

// toggleVMXBit applies -name or +name for one of qemuVMXNames: -name
// removes the capability as a processor without it reports it (a control
// that must be 1 on the model cannot be removed); +name keeps a capability
// the model has.
func toggleVMXBit(name string, b vmxBit, on bool, model, v map[uint32]uint64) error {
	if b.may0 {
		return toggleMay0(name, b, on, model, v)
	}
	if on {
		if model[b.msr]>>b.bit&1 == 0 {
			return fmt.Errorf("the model has no %s (%s bit %d): vmxemu does not invent capability values", name, Name(b.msr), b.bit)
		}
		if !b.honoured() {
			return knownGap(name, b)
		}
		if v[b.msr]>>b.bit&1 == 0 {
			return fmt.Errorf("+%s after -%s: a removed VMX capability cannot be restored", name, name)
		}
		return nil
	}
	if isControlMSR(b.msr) {
		if ctl := b.bit - 32; v[b.msr]>>ctl&1 != 0 {
			return fmt.Errorf("-%s: the control is fixed to 1 on this model (%s allowed-0 bit %d is set)", name, Name(b.msr), ctl)
		}
		if t := trueTwin(b.msr); t != 0 {
			if x, ok := v[t]; ok {
				v[t] = x &^ (1 << b.bit)
			}
		}
	}
	if x, ok := v[b.msr]; ok {
		v[b.msr] = x &^ (1 << b.bit)
	}
	return nil
}

// honoured reports whether vmxemu implements capability bit b, as
// honestVMX leaves it for the guest: an allowed-1 control bit of
// implementedControls, an IA32_VMX_EPT_VPID_CAP bit of eptCapHonoured, an
// IA32_VMX_MISC bit other than the masked activity states and Intel PT,
// an IA32_VMX_BASIC bit other than the dual-monitor treatment (49).
func (b vmxBit) honoured() bool {
	switch {
	case isControlMSR(b.msr):
		return controlImplemented(b.msr, b.bit-32)
	case b.msr == VMXVMFunc:
		return controlImplemented(b.msr, b.bit)
	case b.msr == VMXEPTVPIDCap:
		return eptCapHonoured>>b.bit&1 != 0
	case b.msr == VMXMisc:
		return b.bit != 7 && b.bit != 8 && b.bit != 14
	case b.msr == VMXBasic:
		return b.bit != 49
	}
	return true
}

// knownGap is the error of +name for a capability the model has but
// vmxemu does not implement (it stays masked for the guest).
func knownGap(name string, b vmxBit) error {
	return fmt.Errorf("+%s: %s bit %d is a known gap — vmxemu does not implement it yet, so no model advertises it (docs/CPU-MODELS.md)", name, Name(b.msr), b.bit)
}

// toggleMay0 is toggleVMXBit for the "may be 0" names: the control's
// allowed-0 bit in the TRUE_* MSR (SDM Vol. 3D A.2: a default-1 control
// may be 0 only as the TRUE_* MSR says).
func toggleMay0(name string, b vmxBit, on bool, model, v map[uint32]uint64) error {
	t, ctl := trueTwin(b.msr), b.bit-32
	tm, ok := model[t]
	if !ok || tm>>ctl&1 != 0 {
		if on {
			return fmt.Errorf("the model has no %s (it has no %s, or the control must be 1 there): vmxemu does not invent capability values", name, Name(t))
		}
		return nil
	}
	if on {
		if v[t]>>ctl&1 != 0 {
			return fmt.Errorf("+%s after -%s: a removed VMX capability cannot be restored", name, name)
		}
		return nil
	}
	v[t] |= 1 << ctl
	return nil
}

package msr

import "slices"

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
// that vmxemu honours. VM entry does not exist yet, so none: a guest sees
// each control only as its default setting allows (honestVMX). Each issue
// that makes controls work adds their bits here; vmxcap's last column
// reads the same table.
var implementedControls = map[uint32]uint64{
	VMXPinbasedCtls:   0,
	VMXProcbasedCtls:  0,
	VMXProcbasedCtls2: 0,
	VMXExitCtls:       0,
	VMXEntryCtls:      0,
	VMXProcbasedCtls3: 0,
	VMXVMFunc:         0,
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
}

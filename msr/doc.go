// Package msr holds vmxemu's CPU models and MSR file: what CPUID and
// RDMSR/WRMSR answer, and the VMX rules that depend on MSRs.
//
// # Models
//
// A Model is a real processor as data: the CPUID leaves of its logical
// processor 0 and its MSR values, each traceable to a source. The built-in
// models (models/*.cpu, embedded) are imported verbatim from the AIDA64
// CPUID+MSR dumps of the project's reference data by internal/genmodels
// (`go generate ./msr`); the few values a dump lacks (IA32_VMX_VMFUNC,
// IA32_VMX_PROCBASED_CTLS3) are marked "assumed" with the reason. The
// conformance test re-reads the dumps and checks every model against them.
// Users load their own with LoadFile: the model file format
// (docs/CPU-MODELS.md) or an AIDA64 dump.
//
// # Profiles: toggles and honesty
//
// Resolve applies -cpu toggles (+feature/-feature, QEMU's names; VMX
// capabilities such as -ept, -vpid, -vmfunc are removed from the VMX MSRs
// as a processor without them reports them) and then vmxemu's honesty
// mask: a guest never sees a feature vmxemu does not implement. The mask
// is data: the features table (features.go) says, for every CPUID bit,
// whether the interpreter implements it and why not, and leafRules says
// which leaves are kept, filtered, zeroed or shaped by the topology.
// Profile.Gaps lists what a model has that the guest does not see. VMX is
// reported; the guest's copy of the capability MSRs (GuestVMX) allows only
// the controls vmxemu honours (implementedControls, honestVMX in vmx.go).
//
// # The MSR file
//
// File is one logical processor's MSR state and its CPUID (APIC ID and
// topology leaves follow Topology, IA32_MISC_ENABLE can limit the maximum
// leaf). Registry lists every MSR it implements with the condition under
// which the MSR exists, its access and its SDM section; every #GP it
// raises is an arch.Fault with the rule and the section. The MSRs the
// core holds (TSC, EFER, PAT, SYSENTER_*, STAR..FMASK, FS/GS bases,
// TSC_AUX) are in the registry for completeness and stay in cpu/cr.go.
//
// # VMX rules that live here
//
// IA32_FEATURE_CONTROL: lock semantics, reserved bits that follow the
// model (SMX, SGX, SGX launch control), firmware policies
// (FeatureControlValue) and CheckVMXON. CR0/CR4 fixed bits: CheckCR0,
// CheckCR4 and CR4Fixed1For, which derives IA32_VMX_CR4_FIXED1 from
// CPUID. The vmx package will call these; WriteVMXCap prints a model's
// capabilities the way the vmxcap script does.
//
// msr never imports cpu: machine adapts a File to cpu.Platform.
package msr

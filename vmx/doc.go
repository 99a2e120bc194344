// Package vmx is VMX operation (SDM Vol. 3C chapters 24, 25 and 31): the
// VMX state of each logical processor (outside VMX operation, root,
// non-root; the VMXON pointer; the current-VMCS pointer; the VMCSs active
// on it), the VMCS field table of Appendix B as data, vmxemu's layout of a
// VMCS region, and the VMX instructions VMXON, VMXOFF, VMCLEAR, VMPTRLD,
// VMPTRST, VMREAD, VMWRITE and VMCALL with every check of their
// "Operation" sections in the SDM's order. Each outcome — #UD, #GP(0),
// VMfailInvalid, VMfailValid with its VM-instruction error — carries the
// rule that produced it, with the values involved and the SDM reference.
//
// The package works on the architectural state the core passes in (Ctx,
// from package arch) and on guest-physical memory through the core's
// physical access path (Phys); it uses package msr for the fixed-bit and
// IA32_FEATURE_CONTROL rules and never imports cpu or machine. The core
// (package cpu) decodes the instructions, reads and writes their memory
// operands with its own fault checks, and applies the outcome to RFLAGS.
//
// VM entry (VMLAUNCH, VMRESUME) and VM exits run guests in VMX non-root
// operation; the intercept record (Intercepts, and InsnIntercepts for the
// conditionally exiting instructions) carries the controls the core asks
// about. The CPU models advertise only the controls vmxemu honours, so
// that guest code probing the capability MSRs never meets a half-built
// feature (docs/VMX.md).
package vmx

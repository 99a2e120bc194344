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
// VM entry (VMLAUNCH, VMRESUME), VM exits and EPT come next; until then
// the CPU models advertise no VM-execution, VM-exit or VM-entry control
// beyond those that must be 1, so that guest code probing the capability
// MSRs never meets a half-built feature (docs/VMX.md).
package vmx

package vmx

import "fmt"

// Lint: what hardware is silent about but is almost always a bug in VMX
// code. Each VMX instruction's Outcome carries the warnings it raised
// (Outcome.Lint); the core adds those about guest accesses to VMX regions.
//
//   - one VMXON region used by two logical processors at once;
//   - a VMCS active on two logical processors at once (SDM Vol. 3C 25.1:
//     a VMCS must be VMCLEARed on one processor before another uses it);
//   - VMXOFF with VMCSs still active (25.11.1: VMCLEAR them first, or their
//     data may be lost);
//   - guest reads or writes of an active VMCS or a VMXON region (25.11.1:
//     their contents are undefined while the processor uses them; a VMCS
//     copied while active does not carry its current data).

// Registry is the machine-wide view of the VMX regions in use: which
// logical processor has which VMXON region and which VMCSs active. One
// Registry is shared by the CPUs of a machine (not safe for concurrent
// use, like the machine's CPUs).
type Registry struct {
	vmxon  map[uint64]int // region address -> CPU
	active map[uint64]int // VMCS address -> CPU
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{vmxon: map[uint64]int{}, active: map[uint64]int{}}
}

// Region reports what VMX region, if any, holds physical frame pfn, and on
// which CPU (for the core's warnings about guest accesses).
func (r *Registry) Region(pfn uint64) (what string, cpu int, ok bool) {
	for a, c := range r.vmxon {
		if a>>12 == pfn {
			return fmt.Sprintf("the VMXON region at %#x of CPU %d", a, c), c, true
		}
	}
	for a, c := range r.active {
		if a>>12 == pfn {
			return fmt.Sprintf("the VMCS at %#x, active on CPU %d", a, c), c, true
		}
	}
	return "", 0, false
}

// Frames returns the frames of every VMX region in use.
func (r *Registry) Frames() []uint64 {
	var out []uint64
	for a := range r.vmxon {
		out = append(out, a>>12)
	}
	for a := range r.active {
		out = append(out, a>>12)
	}
	return out
}

func (r *Registry) onVMXON(cpu int, addr uint64) []string {
	var lint []string
	for a, c := range r.vmxon {
		if a == addr && c != cpu {
			lint = append(lint, fmt.Sprintf("VMXON region %#x is already in use by CPU %d: each logical processor needs its own (SDM Vol. 3C 25.11.5)", addr, c))
		}
	}
	r.vmxon[addr] = cpu
	return lint
}

func (r *Registry) onVMXOFF(cpu int, addr uint64, active []uint64) []string {
	var lint []string
	if len(active) > 0 {
		lint = append(lint, fmt.Sprintf("VMXOFF with %d VMCS(s) still active (first %#x): VMCLEAR them first, or their data may be lost (SDM Vol. 3C 25.11.1)", len(active), active[0]))
	}
	if r.vmxon[addr] == cpu {
		delete(r.vmxon, addr)
	}
	for _, a := range active {
		if r.active[a] == cpu {
			delete(r.active, a)
		}
	}
	return lint
}

func (r *Registry) onActivate(cpu int, addr uint64) []string {
	var lint []string
	if c, ok := r.active[addr]; ok && c != cpu {
		lint = append(lint, fmt.Sprintf("VMCS %#x is active on CPU %d too: VMCLEAR it there before loading it here (SDM Vol. 3C 25.1, 25.11.1)", addr, c))
	}
	r.active[addr] = cpu
	return lint
}

func (r *Registry) onClear(cpu int, addr uint64) {
	delete(r.active, addr)
}

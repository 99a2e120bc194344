package msr

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
)

// Toggle is one -cpu feature toggle: +name (On) or -name.
type Toggle struct {
	Name string
	On   bool
}

// ExposeVMXCaps is the toggle (+x-vmx-caps) that exposed CPUID.1:ECX.VMX
// and the capability MSRs before VMX operation existed. A model with VMX
// now always reports it; the toggle is accepted with a warning, so that
// old command lines keep working.
const ExposeVMXCaps = "x-vmx-caps"

// Profile is a model as a vmxemu guest sees it: the model after the -cpu
// toggles ("the model"), and on top of it the honesty mask ("effective"):
// features vmxemu does not implement are not reported. It is immutable
// and shared by all logical processors; File is the per-CPU state.
type Profile struct {
	// Model is the raw model the profile was resolved from.
	Model *Model
	// Warnings are toggles that had no effect a user may have expected.
	Warnings []string

	leaves    map[[2]uint32]Regs // the model after toggles
	effective map[[2]uint32]Regs // what the guest sees (before topology)
	vmx       map[uint32]uint64  // VMX capability MSRs of the model after toggles
	guestVMX  map[uint32]uint64  // what the guest reads: vmx with unimplemented controls masked (honestVMX)
	maxBasic  uint32
	maxExt    uint32
	gaps      []Gap
}

// Gap is something the model has that vmxemu does not implement and so
// does not report.
type Gap struct {
	What string // feature name, or the CPUID leaf
	Why  string
}

func key(leaf, sub uint32) [2]uint32 {
	if !HasSubleaves(leaf) {
		sub = 0
	}
	return [2]uint32{leaf, sub}
}

// Resolve applies -cpu toggles to a model and the honesty mask on top.
// Toggles apply in order. -name removes a feature from the model (for VMX
// capabilities, as a processor without it reports them). +name adds a
// CPUID feature vmxemu implements; +name of a feature vmxemu does not
// implement is an error (or a warning when the model already has it).
func Resolve(m *Model, toggles []Toggle) (*Profile, error) {
	p := &Profile{Model: m.Clone(), leaves: map[[2]uint32]Regs{}, vmx: map[uint32]uint64{}}
	for _, l := range m.CPUID {
		p.leaves[key(l.Leaf, l.Subleaf)] = l.Regs
	}
	modelVMX := map[uint32]uint64{}
	for _, v := range m.MSRs {
		if IsVMX(v.Index) {
			modelVMX[v.Index] = v.Value
		}
	}
	p.vmx = maps.Clone(modelVMX)
	for _, t := range toggles {
		if err := p.toggle(t, modelVMX); err != nil {
			return nil, fmt.Errorf("-cpu %s,%s: %w", m.Name, t, err)
		}
	}
	if !p.ModelHas("vmx") {
		clear(p.vmx)
	}
	pruneVMX(p.vmx)
	if _, ok := p.vmx[VMXCR4Fixed1]; ok {
		p.vmx[VMXCR4Fixed1] = CR4Fixed1For(p.ModelCPUID)
	}
	p.guestVMX = maps.Clone(p.vmx)
	honestVMX(p.guestVMX)
	pruneVMX(p.guestVMX)
	p.maxBasic = p.leaves[key(0, 0)].EAX
	p.maxExt = p.leaves[key(0x80000000, 0)].EAX
	p.buildEffective()
	return p, nil
}

func (t Toggle) String() string {
	if t.On {
		return "+" + t.Name
	}
	return "-" + t.Name
}

func (p *Profile) toggle(t Toggle, modelVMX map[uint32]uint64) error {
	name := strings.ReplaceAll(t.Name, "_", "-")
	if name == ExposeVMXCaps {
		p.Warnings = append(p.Warnings, t.String()+": no longer needed: a model with VMX reports it (CPUID.1:ECX.VMX and the capability MSRs)")
		return nil
	}
	if vf, ok := vmxFeatureByName(name); ok {
		if t.On {
			if !vf.has(modelVMX) {
				return fmt.Errorf("the model has no %s (%s): vmxemu does not invent capability values", vf.Name, vf.Desc)
			}
			if !vf.has(p.vmx) {
				return fmt.Errorf("+%s after -%s: a removed VMX capability cannot be restored", vf.Name, vf.Name)
			}
			if b, ok := vmxFeatureBits[vf.Name]; ok && !b.honoured() {
				return knownGap(name, b)
			}
			return nil
		}
		vf.drop(p.vmx)
		return nil
	}
	if b, ok := qemuVMXNames[name]; ok {
		return toggleVMXBit(name, b, t.On, modelVMX, p.vmx)
	}
	f, ok := FeatureByName(name)
	if !ok {
		return fmt.Errorf("unknown CPU feature %q (the CPUID features and VMX capabilities vmxemu knows are listed in docs/CPU-MODELS.md)", t.Name)
	}
	k := key(f.Leaf, f.Subleaf)
	r := p.leaves[k]
	has := r.get(f.Reg)&f.Mask() != 0
	switch {
	case !t.On:
		*r.ptr(f.Reg) &^= f.Mask()
	case f.Name == "vmx":
		if !has {
			if _, ok := modelVMX[VMXBasic]; !ok {
				return fmt.Errorf("the model has no VMX capability MSRs: vmxemu does not invent them")
			}
			*r.ptr(f.Reg) |= f.Mask()
		}
	case !f.Implemented && has:
		p.Warnings = append(p.Warnings, fmt.Sprintf("+%s: the model has it, but vmxemu does not report it: %s", f.Name, f.Why))
	case !f.Implemented:
		return fmt.Errorf("vmxemu does not implement %s: %s", f.Name, f.Why)
	default:
		if _, present := p.leaves[k]; !present && f.Leaf > p.leaves[key(f.Leaf&0x80000000, 0)].EAX {
			return fmt.Errorf("the model has no CPUID leaf %#x to report %s in", f.Leaf, f.Name)
		}
		*r.ptr(f.Reg) |= f.Mask()
	}
	p.leaves[k] = r
	return nil
}

// ModelCPUID is the model's CPUID leaf after toggles, before the honesty
// mask (zeros for leaves the source does not report).
func (p *Profile) ModelCPUID(leaf, sub uint32) Regs { return p.leaves[key(leaf, sub)] }

// ModelHas reports whether the model (after toggles) has a CPUID feature.
func (p *Profile) ModelHas(name string) bool {
	f, ok := FeatureByName(name)
	if !ok {
		return false
	}
	return p.ModelCPUID(f.Leaf, f.Subleaf).get(f.Reg)&f.Mask() != 0
}

// Reports reports whether a guest sees a CPUID feature.
func (p *Profile) Reports(name string) bool {
	f, ok := FeatureByName(name)
	if !ok {
		return false
	}
	return p.effective[key(f.Leaf, f.Subleaf)].get(f.Reg)&f.Mask() != 0
}

// VMXExposed reports whether the guest sees VMX (CPUID.1:ECX.VMX and the
// capability MSRs): whenever the model (after toggles) has it.
func (p *Profile) VMXExposed() bool { return p.ModelHas("vmx") }

// GuestVMX returns a VMX capability MSR as the guest reads it (the model's
// with the controls vmxemu does not implement masked, honestVMX) and
// whether it exists for the guest.
func (p *Profile) GuestVMX(index uint32) (uint64, bool) {
	v, ok := p.guestVMX[index]
	if ok && index == VMXCR4Fixed1 {
		v = CR4Fixed1For(p.CPUID)
	}
	return v, ok
}

// SetVMCSEnum sets the IA32_VMX_VMCS_ENUM the guest reads: the highest
// field index of the VMCS field table (package vmx) for this processor's
// controls. The board calls it once, while it builds its CPUs, before any
// guest code runs.
func (p *Profile) SetVMCSEnum(v uint64) {
	if _, ok := p.guestVMX[VMXVMCSEnum]; ok {
		p.guestVMX[VMXVMCSEnum] = v
	}
}

// ModelVMX returns the model's VMX capability MSR (after toggles) and
// whether it exists on the model.
func (p *Profile) ModelVMX(index uint32) (uint64, bool) {
	v, ok := p.vmx[index]
	return v, ok
}

// Assumed returns why a model value is assumed rather than seen in the
// source, or "".
func (p *Profile) Assumed(index uint32) string {
	v, _ := p.Model.MSR(index)
	return v.Assumed
}

// Signature is CPUID.01H:EAX.
func (p *Profile) Signature() uint32 { return p.leaves[key(1, 0)].EAX }

// MaxPhysAddr is CPUID.80000008H:EAX[7:0] (36 if the model lacks the leaf).
func (p *Profile) MaxPhysAddr() uint {
	if a := p.effective[key(0x80000008, 0)].EAX & 0xFF; a != 0 {
		return uint(a)
	}
	return 36
}

// LinearAddrWidth is CPUID.80000008H:EAX[15:8] as the guest sees it: 57
// with 5-level paging reported, else 48.
func (p *Profile) LinearAddrWidth() uint {
	if w := p.effective[key(0x80000008, 0)].EAX >> 8 & 0xFF; w != 0 {
		return uint(w)
	}
	return 48
}

// Gaps lists what the model has and the guest does not see, with reasons.
func (p *Profile) Gaps() []Gap { return slices.Clone(p.gaps) }

// valueRegs are the registers of filtered leaves that hold values, not
// feature flags.
var valueRegs = map[[2]uint32][]Reg{
	{1, 0}: {EAX, EBX},
	{7, 0}: {EAX},
}

func (p *Profile) buildEffective() {
	p.effective = map[[2]uint32]Regs{}
	keys := slices.Collect(maps.Keys(p.leaves))
	sort.Slice(keys, func(i, j int) bool {
		if keys[i][0] != keys[j][0] {
			return keys[i][0] < keys[j][0]
		}
		return keys[i][1] < keys[j][1]
	})
	for _, k := range keys {
		raw := p.leaves[k]
		rule, known := leafRules[k[0]]
		if !known {
			rule = leafRule{leafZero, "not known to vmxemu"}
		}
		var eff Regs
		switch rule.policy {
		case leafKeep, leafTopo:
			eff = raw
		case leafFilter:
			eff = p.filter(k, raw)
		case leafXSAVE:
			eff = p.xsaveLeaf(k[1], raw)
		case leafZero:
			if raw != (Regs{}) && k[1] == 0 {
				p.gaps = append(p.gaps, Gap{fmt.Sprintf("CPUID leaf %#x", k[0]), rule.why})
			}
		}
		if k[0] == 0x80000008 {
			// Linear-address width: 48 unless LA57 is reported; EBX
			// (WBNOINVD and the like) holds no implemented feature.
			eff = Regs{EAX: raw.EAX & 0xFF}
			lin := uint32(48)
			if p.Reports("la57") {
				lin = raw.EAX >> 8 & 0xFF
			}
			eff.EAX |= lin << 8
		}
		p.effective[k] = eff
	}
	if p.VMXExposed() {
		p.gaps = append(p.gaps, Gap{"vmx-controls", whyVMXEntryLater})
	}
}

// xsaveLeaf shapes CPUID leaf 0DH to what vmxemu implements (SDM Vol. 1
// 13.2, 13.4.3, Vol. 2A CPUID leaf 0DH): sub-leaf 0 reports the XCR0 bits
// of the implemented components the model supports — x87 and SSE (0, 1),
// and PKRU (9) when the guest sees PKU and the model's sub-leaf 9 gives
// its place — with EBX the size for XCR0 = 1 (576 bytes: legacy region
// and header; the core recomputes EBX from the current XCR0 at each
// CPUID) and ECX the size for all of them; sub-leaf 9 is the model's
// (size and standard-format offset; ECX bit 0 clear: a user component,
// bit 1 the model's 64-byte alignment in the compacted format). Sub-leaf
// 1 keeps the model's XSAVEC (EAX bit 1: XSAVEC and the compacted form of
// XRSTOR) and XSAVES (bit 3: XSAVES, XRSTORS, IA32_XSS) with EBX the
// compacted size for XCR0 | IA32_XSS = 1 (576; the core recomputes it at
// each CPUID) and ECX, EDX 0: no supervisor component is implemented, so
// IA32_XSS supports no bit; XSAVEOPT (bit 0) and XGETBV with ECX = 1
// (bit 2) are not implemented. The other component sub-leaves are zero.
// Without XSAVE the leaf is zero.
func (p *Profile) xsaveLeaf(sub uint32, raw Regs) Regs {
	const x87SSE, pkru, area = 3, 1 << 9, 576
	if !p.Reports("xsave") {
		if raw != (Regs{}) && sub <= 1 {
			p.gaps = append(p.gaps, Gap{fmt.Sprintf("CPUID.(0xd,%d)", sub), "XSAVE components and extensions other than x87/SSE/PKRU are not implemented"})
		}
		return Regs{}
	}
	comps := p.leaves[key(0xD, 0)].EAX & x87SSE
	raw9 := p.leaves[key(0xD, 9)]
	if p.leaves[key(0xD, 0)].EAX&pkru != 0 && p.Reports("pku") && raw9.EAX != 0 && raw9.EBX >= area {
		comps |= pkru
	}
	switch {
	case sub == 0:
		if raw.EAX&^comps != 0 || raw.EDX != 0 {
			p.gaps = append(p.gaps, Gap{"CPUID.(0xd,0) XCR0 bits", "XSAVE components other than x87/SSE/PKRU (AVX, AVX-512, MPX, ...) are not implemented"})
		}
		size := uint32(area)
		if comps&pkru != 0 {
			size = max(size, raw9.EBX+raw9.EAX)
		}
		return Regs{EAX: comps, EBX: area, ECX: size}
	case sub == 9 && comps&pkru != 0:
		return Regs{EAX: raw.EAX, EBX: raw.EBX, ECX: raw.ECX & 2}
	case sub == 1:
		const xsavec, xsaves = 1 << 1, 1 << 3
		if raw.EAX&^(xsavec|xsaves) != 0 || raw.ECX != 0 || raw.EDX != 0 {
			p.gaps = append(p.gaps, Gap{"CPUID.(0xd,1)", "XSAVEOPT, XGETBV with ECX=1 and the supervisor state components (IA32_XSS bits: PT, PASID, CET, ...) are not implemented"})
		}
		if eax := raw.EAX & (xsavec | xsaves); eax != 0 {
			r := Regs{EAX: eax}
			if eax&xsaves != 0 {
				r.EBX = area
			}
			return r
		}
	}
	return Regs{}
}

func (p *Profile) filter(k [2]uint32, raw Regs) Regs {
	eff := raw
	for _, r := range []Reg{EAX, EBX, ECX, EDX} {
		if slices.Contains(valueRegs[k], r) {
			continue
		}
		v := raw.get(r)
		var keep uint32
		for b := uint(0); b < 32; b++ {
			if v&(1<<b) == 0 {
				continue
			}
			f, known := featureAt(k[0], k[1], r, b)
			switch {
			case known && f.Implemented:
				keep |= 1 << b
			case known:
				p.gaps = append(p.gaps, Gap{f.Name, f.Why})
			default:
				p.gaps = append(p.gaps, Gap{fmt.Sprintf("CPUID.(%#x,%d):%s[%d]", k[0], k[1], r, b), "not known to vmxemu"})
			}
		}
		*eff.ptr(r) = keep
	}
	return eff
}

// CPUID returns the effective leaf before topology: what every logical
// processor sees, apart from the APIC ID and sharing counts that File
// fills in. A leaf above the maximum returns the highest basic leaf, as
// Intel processors do (SDM Vol. 2A, CPUID).
func (p *Profile) CPUID(leaf, sub uint32) Regs {
	return p.effective[key(p.clampLeaf(leaf, p.maxBasic), sub)]
}

func (p *Profile) clampLeaf(leaf, maxBasic uint32) uint32 {
	if leaf < 0x80000000 && leaf > maxBasic || leaf >= 0x80000000 && leaf > p.maxExt {
		return maxBasic
	}
	return leaf
}

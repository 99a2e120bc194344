package vmx

import (
	"fmt"
	"strconv"
	"strings"
)

// Describe renders the processor's VMX state for a debugger: the mode, the
// VMXON pointer, the current VMCS and the VMCSs active on it.
func (v *CPU) Describe() string {
	var b strings.Builder
	fmt.Fprintf(&b, "VMX: %s\n", v.mode)
	if v.mode == Outside {
		return b.String()
	}
	fmt.Fprintf(&b, "VMXON pointer: %#x\n", v.vmxon)
	if v.current == invalidPtr {
		b.WriteString("current VMCS: none (FFFFFFFF_FFFFFFFFH)\n")
	} else {
		fmt.Fprintf(&b, "current VMCS: %#x\n", v.current)
	}
	for _, a := range v.ActiveVMCSs() {
		ls := "clear"
		if v.active[a].launched {
			ls = "launched"
		}
		fmt.Fprintf(&b, "active VMCS: %#x (launch state %s)\n", a, ls)
	}
	return b.String()
}

// DumpVMCS renders every field of an active VMCS (the current one when
// addr is FFFFFFFF_FFFFFFFFH), with its Appendix B name and encoding,
// grouped as Appendix B groups them.
func (v *CPU) DumpVMCS(addr uint64) (string, error) {
	if addr == invalidPtr {
		addr = v.current
		if addr == invalidPtr {
			return "", fmt.Errorf("there is no current VMCS")
		}
	}
	s, ok := v.active[addr]
	if !ok {
		return "", fmt.Errorf("no VMCS at %#x is active on this processor (the region in memory is authoritative only after VMCLEAR)", addr)
	}
	var b strings.Builder
	ls := "clear"
	if s.launched {
		ls = "launched"
	}
	fmt.Fprintf(&b, "VMCS %#x: revision %#x, launch state %s\n", addr, s.rev, ls)
	var group string
	for i, f := range v.caps.supports {
		g := f.Width().String() + " " + f.Type().String() + " fields"
		if g != group {
			fmt.Fprintf(&b, "%s\n", g)
			group = g
		}
		fmt.Fprintf(&b, "  %04x %-48s %#x\n", f.Enc, f.Name, s.vals[i])
	}
	return b.String(), nil
}

// DescribeField renders one field of the current VMCS for a debugger, by
// its Appendix B name and encoding, without the side effects of VMREAD
// (no VM-instruction error is written). field is a full encoding
// (0x6820) or a name as Appendix B spells it, in any case ("guest
// rflags").
func (v *CPU) DescribeField(field string) (string, error) {
	if v.cur == nil {
		return "", fmt.Errorf("there is no current VMCS")
	}
	var f Field
	found := false
	if n, err := strconv.ParseUint(field, 0, 32); err == nil {
		f, found = FieldByEnc(uint32(n))
		if !found {
			return "", fmt.Errorf("%s: no VMCS field has this encoding (SDM Vol. 3D Appendix B)", field)
		}
	} else {
		for _, g := range fields {
			if strings.EqualFold(g.Name, field) {
				f, found = g, true
				break
			}
		}
		if !found {
			return "", fmt.Errorf("%q: no VMCS field has this name (SDM Vol. 3D Appendix B; monitor vmcs lists them)", field)
		}
	}
	slot, _, ok := v.caps.lookup(uint64(f.Enc))
	if !ok {
		return "", fmt.Errorf("%s (%#04x): this processor does not have the field (VMREAD would fail with error 12)", f.Name, f.Enc)
	}
	return fmt.Sprintf("%04x %s = %#x\n", f.Enc, f.Name, v.cur.vals[slot]), nil
}

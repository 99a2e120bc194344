package main

import (
	"fmt"
	"sort"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/machine"
	"github.com/vmxemu/vmxemu/vmx"
)

// breakOn is -break-on and -magic-break: the events that stop the run —
// into the gdb stub when one is attached, otherwise with the state printed
// and exit status ExitBreak. The CPU stops after the event: after the
// delivery of an exception (at its handler), after a VMX instruction that
// failed, after a VM exit or failed VM entry (at host RIP).
type breakOn struct {
	vectors   map[uint8]bool
	vmfail    bool
	entryFail bool
	exits     map[uint32]bool
	anyExit   bool
	magic     bool
	m         *machine.Machine
	// walk is -walk: the page walk explained at each stop, into walkOut
	// (printed after the state when no gdb is attached, after the stop's
	// line when gdb is).
	walk    *walkSpec
	walkOut string
}

// vectorKeys are the exception names -break-on takes (SDM Vol. 3A Table
// 6-1 mnemonics, lower case).
var vectorKeys = map[string]uint8{
	"de": arch.VecDE, "db": arch.VecDB, "nmi": 2, "bp": arch.VecBP, "of": 4, "br": 5, "ud": arch.VecUD,
	"nm": arch.VecNM, "df": arch.VecDF, "ts": arch.VecTS, "np": arch.VecNP, "ss": arch.VecSS,
	"gp": arch.VecGP, "pf": arch.VecPF, "mf": 16, "ac": 17, "mc": 18, "xm": 19, "ve": 20, "cp": 21,
}

// parseBreakOn parses -break-on's list: exception names (gp, ud, pf...),
// vmfail, vmentry-fail, vmexit (any exit) and vmexit=REASON (a key from
// vmx.ExitReasonKeys or a number).
func parseBreakOn(list string, magic bool) (*breakOn, error) {
	b := &breakOn{vectors: map[uint8]bool{}, exits: map[uint32]bool{}, magic: magic}
	if list == "" {
		return b, nil
	}
	for _, it := range strings.Split(list, ",") {
		k, v, hasV := strings.Cut(it, "=")
		switch {
		case k == "vmfail" && !hasV:
			b.vmfail = true
		case k == "vmentry-fail" && !hasV:
			b.entryFail = true
		case k == "vmexit" && !hasV:
			b.anyExit = true
		case k == "vmexit":
			r, ok := vmx.ExitReasonByKey(v)
			if !ok {
				return nil, usagef("-break-on %s: unknown exit reason %q (a number, or one of: %s)", list, v, strings.Join(vmx.ExitReasonKeys(), ", "))
			}
			b.exits[r] = true
		default:
			vec, ok := vectorKeys[k]
			if !ok || hasV {
				names := make([]string, 0, len(vectorKeys))
				for n := range vectorKeys {
					names = append(names, n)
				}
				sort.Strings(names)
				return nil, usagef("-break-on %s: unknown event %q (exceptions: %s; vmfail, vmentry-fail, vmexit, vmexit=REASON)", list, it, strings.Join(names, ", "))
			}
			b.vectors[vec] = true
		}
	}
	return b, nil
}

func (b *breakOn) active() bool {
	return b != nil && (len(b.vectors) > 0 || b.vmfail || b.entryFail || b.anyExit || len(b.exits) > 0 || b.magic)
}

func (b *breakOn) stop(c *cpu.CPU, why string, exit bool) {
	if b.walk != nil {
		out, err := explainWalk(c, b.walk, exit)
		if err != nil {
			out = "-walk: " + err.Error() + "\n"
		}
		b.walkOut = "vmxemu: -walk:\n" + out
	}
	if b.m != nil {
		b.m.Break(c.ID, why)
	}
}

func (b *breakOn) exception(c *cpu.CPU, vec uint8, f *arch.Fault, external bool) {
	if external || f == nil || !b.vectors[vec] {
		return
	}
	s := c.GetState()
	b.stop(c, fmt.Sprintf("-break-on %s: %s at CS:RIP %04x:%#x", strings.ToLower(strings.TrimPrefix(arch.VectorName(vec), "#")), f.Error(), s.Seg[arch.CS].Selector, s.RIP), false)
}

func (b *breakOn) vmxOutcome(c *cpu.CPU, o *vmx.Outcome) {
	switch {
	case b.vmfail && (o.Kind == vmx.FailInvalid || o.Kind == vmx.FailValid):
		b.stop(c, fmt.Sprintf("-break-on vmfail: RIP %#x: %s", c.InstructionRIP(), o), false)
	case b.entryFail && o.Kind == vmx.EntryFailed:
		b.stop(c, fmt.Sprintf("-break-on vmentry-fail: RIP %#x: %s", c.InstructionRIP(), o), true)
	}
}

func (b *breakOn) exit(c *cpu.CPU, reason uint32) {
	if b.anyExit || b.exits[reason&0xFFFF] {
		x := readExit(c.VMX())
		b.stop(c, fmt.Sprintf("-break-on vmexit: guest RIP %#x: %s", uint64(x.GuestRIP), x), true)
	}
}

func (b *breakOn) magicBreak(c *cpu.CPU) {
	b.stop(c, fmt.Sprintf("-magic-break: XCHG BX,BX at RIP %#x", c.InstructionRIP()), false)
}

package main

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/mmu"
	"github.com/vmxemu/vmxemu/vmx"
)

// The page-walk explainer's front ends: gdb's "monitor walk" and -walk
// (cpu.ExplainWalk does the work).

// walkSpec is what to explain: an address (a number, or gla, cr2, rip)
// and the access.
type walkSpec struct {
	what         string // "" for addr, else "gla", "cr2", "rip"
	addr         uint64
	write, fetch bool
	user, super  bool // an explicit user-mode or supervisor-mode access
	guest        bool // monitor walk guest ...: the guest of the current VMCS
}

const walkSyntax = "ADDR[,write|fetch][,user|supervisor] where ADDR is a hexadecimal linear address, gla, cr2 or rip"

// parseWalkSpec parses -walk's value (words separated by commas) or
// monitor walk's arguments (by spaces).
func parseWalkSpec(words []string) (*walkSpec, error) {
	s := &walkSpec{}
	if len(words) > 0 && words[0] == "guest" {
		s.guest, words = true, words[1:]
	}
	if len(words) == 0 || words[0] == "" {
		return nil, fmt.Errorf("no address (%s)", walkSyntax)
	}
	switch a := strings.ToLower(words[0]); a {
	case "gla", "cr2", "rip":
		s.what = a
		s.fetch = a == "rip"
	default:
		v, err := strconv.ParseUint(strings.TrimPrefix(a, "0x"), 16, 64)
		if err != nil {
			return nil, fmt.Errorf("%q is not an address (%s)", words[0], walkSyntax)
		}
		s.addr = v
	}
	for _, w := range words[1:] {
		switch strings.ToLower(w) {
		case "read", "r":
			s.write, s.fetch = false, false
		case "write", "w":
			s.write, s.fetch = true, false
		case "fetch", "x", "exec":
			s.write, s.fetch = false, true
		case "user", "u":
			s.user, s.super = true, false
		case "supervisor", "s":
			s.user, s.super = false, true
		default:
			return nil, fmt.Errorf("%q: not an access (read, write, fetch, user, supervisor)", w)
		}
	}
	return s, nil
}

// VM-exit fields -walk reads besides readExit's (SDM Vol. 3D Appendix B).
const (
	encGuestCSBase = 0x6808
)

// Basic exit reasons (SDM Vol. 3D Appendix C) whose exits may record a
// guest-linear address.
const (
	exitCRAccess = 28
	exitIO       = 30
)

// explainWalk explains spec on CPU c: in the guest's context from the
// current VMCS when guest (or spec.guest) is set, else in the CPU's
// current one.
func explainWalk(c *cpu.CPU, spec *walkSpec, guest bool) (string, error) {
	// gla is the guest's, whatever the CPU runs now.
	guest = guest || spec.guest || spec.what == "gla"
	var ctx cpu.WalkContext
	if guest {
		var ok bool
		if ctx, ok = c.GuestWalkContext(); !ok {
			return "", fmt.Errorf("CPU %d has no current VMCS: no guest to walk for", c.ID)
		}
	} else {
		ctx = c.CurrentWalkContext()
	}
	acc := mmu.Access{Write: spec.write, Fetch: spec.fetch, User: ctx.CPL == 3}
	if spec.user || spec.super {
		acc.User = spec.user
	}
	lin, note := spec.addr, ""
	v := c.VMX()
	switch spec.what {
	case "gla":
		if !guest || v == nil {
			return "", fmt.Errorf("gla is the guest-linear address of a VM exit: the CPU did not stop at one")
		}
		x := readExit(v)
		// The exits that record a guest-linear address (SDM Vol. 3C
		// 28.2.1): an EPT violation (when qualification bit 7 says so),
		// INS/OUTS, LMSW with a memory operand; the field is undefined
		// for the others.
		switch x.Reason {
		case vmx.ExitEPTViolate, exitCRAccess, exitIO:
		default:
			return "", fmt.Errorf("gla: a VM exit with basic reason %d (%s) records no guest-linear address (SDM Vol. 3C 28.2.1): give the address", x.Reason, x.ReasonName)
		}
		lin = uint64(x.GuestLinear)
		note = fmt.Sprintf("gla: the guest-linear address of the VM exit (reason %d, %s)", x.Reason, x.ReasonName)
		if x.Reason == vmx.ExitEPTViolate {
			q := uint64(x.Qualification)
			if q&ept.QualLinearValid == 0 {
				return "", fmt.Errorf("gla: the EPT violation has no guest-linear address (exit qualification %#x, bit 7 clear: SDM Vol. 3C Table 28-7)", q)
			}
			if !spec.write && !spec.fetch {
				// The access of the violation (Table 28-7 bits 1, 2).
				acc.Write, acc.Fetch = q&ept.QualWrite != 0, q&ept.QualFetch != 0
			}
		}
	case "cr2":
		lin = c.GetState().CR2
		note = "cr2"
	case "rip":
		if guest && v != nil {
			lin = v.CurField(encGuestCSBase) + v.CurField(encGuestRIP)
			note = "rip: the guest's CS base + RIP"
		} else {
			s := c.GetState()
			lin = s.Seg[arch.CS].Base + s.RIP
			note = "rip: CS base + RIP"
		}
	}
	w := c.ExplainWalk(ctx, lin, acc)
	out := w.String()
	if note != "" {
		out = note + "\n" + out
	}
	return out, nil
}

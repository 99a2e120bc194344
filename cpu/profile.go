package cpu

import (
	"fmt"
	"strings"
)

// Block shapes for profiling tools: which instructions a cached block
// holds and how Run's fast path groups them into entries (fused pairs,
// stack fast paths). Nothing here runs on the execution path; a tool
// asks for a block's shape from a Hooks.Exec callback (which is given the
// block's physical address) and weights it by the number of times the
// block runs (cmd/vmxemu's pair profile, pairprof_test.go).

// BlockInsn describes one instruction of a cached block.
type BlockInsn struct {
	// Form is the instruction's opcode-table name and operand shape,
	// such as "mov Gv,Ev(08b) r32,m" or "grp1(083/0) r64,r,i": r is a register operand, m a
	// memory one, i an immediate.
	Form string
	// Entry is the index of the fast-path entry that runs it; Fused is
	// set when that entry runs more than one instruction, Stack when it
	// is a stack fast path (exec_stack.go).
	Entry int
	Fused bool
	Stack bool
}

// CachedBlock returns the shape of the block in the code cache that
// starts at physical address phys for code-segment width bits (16, 32 or
// 64), as TraceBlock gives them, and whether there is one.
func (c *CPU) CachedBlock(phys uint64, bits int) ([]BlockInsn, bool) {
	mode := modeOfBits(bits)
	p, ok := c.code.pages[phys>>12]
	if !ok {
		return nil, false
	}
	b, ok := p.blocks[uint32(phys&0xfff)|uint32(mode)<<12]
	if !ok || !b.valid {
		return nil, false
	}
	out := make([]BlockInsn, 0, len(b.insts))
	for e := range b.fast {
		f := &b.fast[e]
		stack := stackFast(f, mode) != nil || isStackRun(f)
		for k := 0; k < int(f.nret); k++ {
			in := &b.insts[int(f.pre)+k]
			out = append(out, BlockInsn{Form: c.code.t.form(in), Entry: e, Fused: f.nret > 1, Stack: stack})
		}
	}
	return out, true
}

// form names in's opcode-table row and operand shape (BlockInsn.Form).
func (t *tables) form(in *Inst) string {
	var m *[256]opEntry
	switch in.op >> 8 {
	case 0:
		m = &t.map1
	case 1:
		m = &t.map0F
	case 2:
		m = &t.map0F38
	default:
		m = &t.map0F3A
	}
	e := &m[in.op&0xff]
	name := fmt.Sprintf("%s(%03x)", e.name, in.op)
	if e.grp != nil || strings.HasPrefix(e.name, "grp") {
		name = fmt.Sprintf("%s(%03x/%d)", e.name, in.op, in.sub&7)
	}
	if e.grp != nil && e.grp[in.sub&7].f != 0 {
		e = &e.grp[in.sub&7]
	}
	f := e.f
	if f&fModRM == 0 && f&fRegOp == 0 {
		if f&(fImm8|fImm16|fImmZ|fImmV|fImm8S) != 0 {
			return fmt.Sprintf("%s i%d", name, 8*int(in.opsz))
		}
		return name
	}
	ops := fmt.Sprintf("r%d", 8*int(in.opsz))
	if f&fModRM != 0 {
		if in.mod == 3 {
			ops += ",r"
		} else {
			ops += ",m"
		}
	}
	if f&(fImm8|fImm16|fImmZ|fImmV|fImm8S) != 0 {
		ops += ",i"
	}
	return name + " " + ops
}

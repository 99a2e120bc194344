package cpu

// Specialised handlers for the hottest forms: register-operand ALU
// instructions per operation and size, and Jcc per condition. They compute
// exactly what the generic family handlers compute (exec_alu.go,
// exec_branch.go) without the run-time dispatch on the operation; the
// opcode tables install them for ModRM.mod = 3 and keep the generic
// handlers for memory forms.
//
// The handlers themselves (addRR ... cmpRI, hotRR and hotRI, jo ... jg and
// jccByCond) are generated into exec_hot_gen.go by gen_hot.go from its
// table of ALU operations and conditions; edit the table, not the output.

//go:generate go run gen_hot.go
//go:generate go run gen_mono.go -rewrite

// takeRel performs the taken branch of a relative Jcc; at a side exit
// (Inst.side) it ends the block there.
func (c *CPU) takeRel(in *Inst) {
	if t, ok := c.nearTarget(c.RIP+in.imm, in.opsz); ok {
		c.RIP = t
		if in.side {
			c.takeSide()
		}
	}
}

// takeSide ends the block at a taken side exit: a conditional branch in
// the middle of its block (Inst.side), after which the block's next
// instructions must not run. Every block loop stops at it as after any
// instruction that sets c.stop; Run's fast path goes on to the next block
// as at the block's end (c.sideExit), the others retire it as a normal
// stop (retireStopped).
func (c *CPU) takeSide() {
	c.stop = true
	c.sideExit = true
}

package cpu

// Block tracing: the -d in_asm, exec and cpu items. A block is reported
// when it is decoded (Hooks.Translate: QEMU's "translated", -d in_asm) and
// each time it starts executing (Hooks.Exec: -d exec and -d cpu).
//
// Tracing costs nothing when it is off: the run loop's fast path already
// tests the attention word before each block (run.go), and tracing is one
// more bit in it, attnTrace, set only while an Exec hook is installed;
// with it the loop leaves the fast path for runTraced, which runs each
// block on the per-instruction slow path (as single-stepping does), so
// no fused or hot handler ever sees a hook. Decoding (the Translate hook)
// is off the hot path already.

// TraceBlock says where a traced block is.
type TraceBlock struct {
	Linear uint64 // linear address of its first byte (CS base + RIP)
	Phys   uint64 // physical address of its first byte (^0 for code fetched from MMIO)
	Bits   int    // code-segment width it was decoded for: 16, 32 or 64
	// InterruptShadow is set when the block starts in the shadow of STI,
	// MOV SS or POP SS (SDM Vol. 3A 6.8.3): QEMU's HF_INHIBIT_IRQ.
	InterruptShadow bool
}

// modeBits is the code-segment width of a decode mode.
func modeBits(mode uint8) int {
	switch mode {
	case mode16:
		return 16
	case mode32:
		return 32
	}
	return 64
}

// traceOn reports whether an Exec hook is installed (attnTrace).
func (c *CPU) traceOn() bool { return c.Hooks != nil && c.Hooks.Exec != nil }

// traceBlock describes block b, starting at the current RIP.
func (c *CPU) traceBlock(b *block) TraceBlock {
	phys := ^uint64(0)
	if b.pfn != noFrame {
		phys = b.pfn<<12 | uint64(b.off)
	}
	lin := c.codeLinear(c.RIP)
	return TraceBlock{Linear: lin, Phys: phys, Bits: modeBits(c.codeMode), InterruptShadow: c.shadow > 0}
}

// runTraced runs block b under tracing: the Exec hook first, then the
// block on the slow path (one instruction at a time while breakpoints
// need it, as runDebug does).
func (c *CPU) runTraced(b *block) {
	c.Hooks.Exec(c, c.traceBlock(b))
	if c.attn&attnDebug != 0 {
		c.runDebug(b)
		return
	}
	c.runSlow(b)
}

// traceTranslated reports a freshly decoded block whose bytes are code.
func (c *CPU) traceTranslated(b *block, code []byte) {
	if c.Hooks != nil && c.Hooks.Translate != nil {
		c.Hooks.Translate(c, c.traceBlock(b), code)
	}
}

// InterruptShadow reports whether the next instruction is in the shadow
// of STI or of MOV SS/POP SS (SDM Vol. 3A 6.8.3, Vol. 2B STI): QEMU's
// HF_INHIBIT_IRQ, the "II" of its register dumps.
func (c *CPU) InterruptShadow() bool { return c.shadow > 0 }

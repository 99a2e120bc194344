package cpu

// Test access to the state stateChanged derives (xfer_test.go).

// derivedState is every fact stateChanged derives from the architectural
// state: the segment views, the decode mode, the CPL, the TLB key, the
// alignment check and the block lookup's epoch (the code context
// entered).
type derivedState struct {
	Segv       [segvLen]segView
	Stack32End uint64
	CodeMode   uint8
	CPL        uint8
	TLBKey     uint64
	ACCheck    bool
	Epoch      uint64
}

// DerivedState returns the derived state as it stands.
func (c *CPU) DerivedState() any {
	return derivedState{c.segv, c.stack32End, c.codeMode, c.cpl, c.tlb.key, c.acCheck, c.blocks.epoch}
}

// Rederive recomputes the derived state from scratch: stateChanged with
// every segment view rebuilt (segv64 cleared).
func (c *CPU) Rederive() {
	c.segv64 = false
	c.stateChanged()
}

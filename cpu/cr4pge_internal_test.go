package cpu

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// derived is what stateChanged computes from the architectural state.
type derived struct {
	segv       [segvLen]segView
	stack32End uint64
	codeMode   uint8
	cpl        uint8
	key        uint64
	acCheck    bool
}

func derivedOf(c *CPU) derived {
	return derived{segv: c.segv, stack32End: c.stack32End, codeMode: c.codeMode, cpl: c.cpl, key: c.tlb.key, acCheck: c.acCheck}
}

// TestCR4PGEOnlyKeepsDerivedState: writeCR4 skips stateChanged when only
// CR4.PGE changes. The state it leaves must be what stateChanged
// recomputes (the oracle: the full recomputation run afterwards), the
// TLB must be empty and the block lookup flushed (SDM Vol. 3A 4.10.4.1:
// a change of CR4.PGE invalidates all TLB entries, global ones
// included). The cases include a write that also clears CR4.PCIDE, which
// changes the TLB key: a skip wider than PGE alone fails there.
func TestCR4PGEOnlyKeepsDerivedState(t *testing.T) {
	tests := []struct {
		name   string
		mode   uint8
		setup  func(c *CPU)
		toggle uint64
	}{
		{name: "64-bit, CPL 0", mode: mode64, toggle: arch.CR4PGE},
		{name: "64-bit, PGE already set", mode: mode64, setup: func(c *CPU) { c.CR4 |= arch.CR4PGE }, toggle: arch.CR4PGE},
		{name: "64-bit, CR0.AM and RFLAGS.AC set", mode: mode64, setup: func(c *CPU) {
			// MOV CR4 is a CPL-0 instruction: alignment checking is off.
			c.CR0 |= arch.CR0AM
			c.RFLAGS |= arch.FlagAC
		}, toggle: arch.CR4PGE},
		{name: "64-bit, PCIDE=1 and PCID 5", mode: mode64, setup: func(c *CPU) {
			c.CR4 |= arch.CR4PCIDE
			c.CR3 |= 5
		}, toggle: arch.CR4PGE},
		{name: "64-bit, PGE and PCIDE cleared together", mode: mode64, setup: func(c *CPU) {
			c.CR4 |= arch.CR4PCIDE | arch.CR4PGE
			c.CR3 |= 5
		}, toggle: arch.CR4PGE | arch.CR4PCIDE},
		{name: "32-bit protected mode, paging off", mode: mode32, toggle: arch.CR4PGE},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(tt.mode)
			c := h.c
			c.feat.cr4 |= arch.CR4PGE | arch.CR4PCIDE
			if tt.setup != nil {
				tt.setup(c)
			}
			c.stateChanged()
			// Fill a TLB entry and a block lookup.
			_, ok := rdLin[uint64](c, harnessData)
			require.True(t, ok)
			require.NotNil(t, c.lookupBlock())
			epoch := c.blocks.epoch
			c.writeCR4(c.CR4 ^ tt.toggle)
			require.False(t, c.stop, "MOV CR4 faulted")
			got := derivedOf(c)
			for i := range c.tlb.read {
				require.Nil(t, c.tlb.read[i].page, "read entry %d survives the CR4.PGE change", i)
			}
			require.NotEqual(t, epoch, c.blocks.epoch, "block lookup not flushed")
			c.stateChanged()
			require.Equal(t, derivedOf(c), got)
		})
	}
}

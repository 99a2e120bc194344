package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// tlbHit reports whether a read of lin would hit the read TLB now.
func tlbHit(c *CPU, lin uint64) bool {
	e := &c.tlb.read[c.tlb.index(lin)]
	return e.page != nil && e.tag == c.tlb.tag(lin)
}

// TestTranslationContexts: entries belong to the context they were filled
// in (SDM Vol. 3C 29.4.1: TLB entries are tagged by VPID and EP4TA), are
// found again when the context comes back, stay out of other contexts, and
// are dropped only when invalidated or when their context's slot is reused.
func TestTranslationContexts(t *testing.T) {
	h := newHarness(mode64)
	c := h.c
	linA, linB := uint64(harnessData), uint64(harnessData+0x1000)
	host, guest := ctxID{}, ctxID{vpid: 1, ept: 0x5000}

	_, ok := rdLin[uint32](c, linA)
	require.True(t, ok)
	require.True(t, tlbHit(c, linA), "filled in the host context")

	c.switchContext(guest)
	assert.False(t, tlbHit(c, linA), "another context does not see the host's entry")
	_, ok = rdLin[uint32](c, linB)
	require.True(t, ok)
	assert.True(t, tlbHit(c, linB))

	c.switchContext(host)
	assert.True(t, tlbHit(c, linA), "the host's entry survives the round trip")
	assert.False(t, tlbHit(c, linB), "the guest's entry is not the host's")

	// INVLPG reaches every context (more than required).
	c.switchContext(guest)
	c.tlb.flushPage(linB)
	assert.False(t, tlbHit(c, linB), "INVLPG reaches every context")
	_, ok = rdLin[uint32](c, linB)
	require.True(t, ok)
	c.switchContext(host)

	// MOV CR3 / INVPCID single-context flushes affect the current context
	// only (SDM Vol. 3C 29.4.3).
	c.tlb.flushPCID(0)
	assert.False(t, tlbHit(c, linA))
	c.switchContext(guest)
	assert.True(t, tlbHit(c, linB), "a flush in the host context leaves the guest's entries")

	// Slots: numCtx contexts live at once; a new one takes the least
	// recently used slot and drops what it held.
	_, ok = rdLin[uint32](c, linB)
	require.True(t, ok)
	c.switchContext(host)
	for i := 0; i < numCtx-1; i++ {
		c.switchContext(ctxID{vpid: uint16(10 + i)})
	}
	// The host was used after the guest: the guest's slot goes first.
	c.switchContext(guest)
	assert.False(t, tlbHit(c, linB), "the guest context's slot was reused")
}

// TestContextTagsDistinct: the context slot folded into a tag never makes
// two (address, PCID, slot) triples collide, for 32-bit, 48-bit and
// 57-bit canonical addresses (see the tlb type comment).
func TestContextTagsDistinct(t *testing.T) {
	addrs := []uint64{0, 0x1000, 0xFFFFF000, 0x00007FFFFFFFF000, 0xFFFF800000000000, 0xFFFFFFFFFFFFF000,
		0x00FFFFFFFFFFF000, 0xFF00000000000000}
	seen := map[uint64][3]uint64{}
	var tl tlb
	for slot := uint8(0); slot < numCtx; slot++ {
		for _, pcid := range []uint64{0, 1, 0x3FF, 0x400, 0xFFF} {
			for _, user := range []bool{false, true} {
				tl.ctx.cur = slot
				tl.setKey(user, pcid)
				for _, a := range addrs {
					tag := tl.tag(a)
					u := uint64(0)
					if user {
						u = 1
					}
					id := [3]uint64{a, pcid<<1 | u, uint64(slot)}
					if prev, ok := seen[tag]; ok {
						t.Fatalf("tag %#x for %v and %v", tag, prev, id)
					}
					seen[tag] = id
					assert.Equal(t, slot, tagSlot(tag))
					assert.Equal(t, pcid, tagPCID(tag))
				}
			}
		}
	}
}

// BenchmarkTLBContextSwap: a switch between two translation contexts (as
// a VM entry and exit with VPIDs will do) and a TLB-hitting read in each
// (of different pages: see tlb.index).
func BenchmarkTLBContextSwap(b *testing.B) {
	h := newHarness(mode64)
	c := h.c
	a, g := ctxID{}, ctxID{vpid: 1}
	linA, linG := uint64(harnessData), uint64(harnessData+0x1000)
	c.switchContext(g)
	rdLin[uint32](c, linG)
	c.switchContext(a)
	rdLin[uint32](c, linA)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		c.switchContext(g)
		rdLin[uint32](c, linG)
		c.switchContext(a)
		rdLin[uint32](c, linA)
	}
}

// switchStates returns a 64-bit host state and a 32-bit protected-mode
// guest state, as a VM exit and entry would swap them.
func switchStates(h *harness) (host, guest arch.State) {
	host = h.base
	guest = newHarness(mode32).base
	guest.CR3 = 0x3000
	return host, guest
}

// BenchmarkStateSwitch: one full architectural state switch and back (the
// cost a VM exit and the next VM entry pay for state alone): GetState,
// SetState and a translation-context switch.
func BenchmarkStateSwitch(b *testing.B) {
	h := newHarness(mode64)
	c := h.c
	_, guest := switchStates(h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		host := c.GetState()
		c.SetState(guest)
		c.switchContext(ctxID{vpid: 1})
		guest = c.GetState()
		c.SetState(host)
		c.switchContext(ctxID{})
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/switch")
}

// BenchmarkStateSwitchFlush is the same switch with a full TLB flush in
// place of the context switch (without VPIDs, VM entry and exit flush
// linear mappings: SDM Vol. 3C 29.4.3.1).
func BenchmarkStateSwitchFlush(b *testing.B) {
	h := newHarness(mode64)
	c := h.c
	_, guest := switchStates(h)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		host := c.GetState()
		c.SetState(guest)
		c.pagingChanged()
		guest = c.GetState()
		c.SetState(host)
		c.pagingChanged()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/switch")
}

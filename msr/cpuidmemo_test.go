package msr

import (
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestCPUIDMemo: the memoised CPUID answers exactly what the unmemoised
// computation does, for every model, random leaves and subleaves (the
// memo's slots collide), topologies and IA32_MISC_ENABLE's
// limit-CPUID-maxval bit flipping under it.
func TestCPUIDMemo(t *testing.T) {
	for l := range uint32(0x100) {
		assert.Equal(t, subleafLeaves[l], HasSubleaves(l), "leaf %#x", l)
	}
	assert.False(t, HasSubleaves(0x80000007))
	ms, err := Models()
	require.NoError(t, err)
	rng := rand.New(rand.NewPCG(12, 18))
	for _, m := range ms {
		p, err := Resolve(m, nil)
		require.NoError(t, err)
		topo := Topology{Sockets: 2, Cores: 2, Threads: 2}
		f := p.NewFile(topo, 5, 0)
		for range 20000 {
			if rng.IntN(200) == 0 {
				f.miscEnable ^= meLimitCPUIDMax
			}
			leaf := rng.Uint32N(0x20)
			switch rng.IntN(4) {
			case 0:
				leaf = 0x80000000 + rng.Uint32N(10)
			case 1:
				leaf = rng.Uint32()
			}
			sub := rng.Uint32N(6)
			if rng.IntN(4) == 0 {
				sub = rng.Uint32()
			}
			maxBasic := p.maxBasic
			if f.miscEnable&meLimitCPUIDMax != 0 {
				maxBasic = min(maxBasic, 2)
			}
			want := f.cpuidSlow(p.clampLeaf(leaf, maxBasic), sub, maxBasic)
			require.Equal(t, want, f.CPUID(leaf, sub), "%s: leaf %#x subleaf %#x", m.Name, leaf, sub)
		}
	}
}

package cpu

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestTLBIndex: the 256 pages of an aligned MiB take distinct slots (a
// linear run of pages inside it never evicts itself), and so do pages
// 1 MiB, 2 MiB, … 255 MiB apart, which the page number alone would put in
// the same slot (kvm-unit-tests' vmexit loops: 0x419000 and 0x1019000).
func TestTLBIndex(t *testing.T) {
	var x tlb
	for _, start := range []uint64{0, 0x400000, 0xFFF00000, 0x7FFF_FFF0_0000, 0xFFFF_8000_0000_0000} {
		seen := map[uint64]uint64{}
		for p := range uint64(tlbSize) {
			lin := start + p<<12
			i := x.index(lin)
			assert.Less(t, i, uint64(tlbSize))
			if other, dup := seen[i]; dup {
				t.Errorf("%#x and %#x share slot %d", other, lin, i)
			}
			seen[i] = lin
		}
	}
	for k := uint64(1); k < 256; k++ {
		assert.NotEqual(t, x.index(0x419000), x.index(0x419000+k<<20), "%d MiB apart", k)
	}
	assert.NotEqual(t, x.index(0x419000), x.index(0x1019000))
}

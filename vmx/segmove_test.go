package vmx

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestGuestSegmentsMove: VM entry loads the eight guest segment registers
// from their VMCS fields (SDM Vol. 3C 27.3.2.2) and VM exit saves them
// (28.3.1), each field by its encoding in Appendix B (selector 0800H +
// 2i, base 6806H + 2i, limit 4800H + 2i, access rights 4814H + 2i for
// ES, CS, SS, DS, FS, GS, LDTR, TR): random values written with VMWRITE
// must come out in the right register, the access rights with their
// reserved bits (31:17, 11:8) dropped, and random registers must come
// back through VMREAD.
func TestGuestSegmentsMove(t *testing.T) {
	regs := []func(s *arch.State) *arch.Segment{
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.ES] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.CS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.SS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.DS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.FS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.GS] },
		func(s *arch.State) *arch.Segment { return &s.LDTR },
		func(s *arch.State) *arch.Segment { return &s.TR },
	}
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		t.Run(model, func(t *testing.T) {
			v, _ := entryVMCSWith(t, modelCapsInternal(t, model))
			rng := rand.New(rand.NewSource(27))
			for round := 0; round < 50; round++ {
				want := make([]arch.Segment, 8)
				for i := range want {
					sel, base, limit, ar := uint64(rng.Intn(1<<16)), rng.Uint64(), uint64(rng.Uint32()), uint64(rng.Uint32())
					for _, w := range [][2]uint64{{0x0800, sel}, {0x6806, base}, {0x4800, limit}, {0x4814, ar}} {
						require.Equal(t, Succeed, v.VMWRITE(w[0]+uint64(2*i), w[1], true).Kind)
					}
					want[i] = arch.Segment{Selector: uint16(sel), Base: base, Limit: uint32(limit), Attr: uint32(ar) &^ (0xFFFE0000 | 0xF00)}
				}
				var s arch.State
				var g GuestEntry
				v.LoadGuestState(&s, false, &g)
				for i, r := range regs {
					require.Equal(t, want[i], *r(&s), "round %d: segment %d loaded", round, i)
				}
				for i, r := range regs {
					*r(&s) = arch.Segment{Selector: uint16(rng.Intn(1 << 16)), Base: rng.Uint64(), Limit: rng.Uint32(), Attr: rng.Uint32()}
					want[i] = *r(&s)
				}
				v.SaveGuestState(ExitCPUID, &ExitInfo{}, &GuestSave{State: &s})
				for i := range want {
					for _, w := range [][2]uint64{{0x0800, uint64(want[i].Selector)}, {0x6806, want[i].Base}, {0x4800, uint64(want[i].Limit)},
						{0x4814, uint64(want[i].Attr &^ (0xFFFE0000 | 0xF00))}} {
						got, o := v.VMREAD(w[0]+uint64(2*i), true)
						require.Equal(t, Succeed, o.Kind)
						require.Equal(t, w[1], got, "round %d: field %#x saved", round, w[0]+uint64(2*i))
					}
				}
			}
		})
	}
}

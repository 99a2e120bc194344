package mmu

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestExplain: the explainer against hand-built page tables. The entry
// addresses are the SDM's: 4-level paging (Vol. 3A 4.5.4) reads the PML4E
// at CR3[51:12] | lin[47:39] << 3, the PDPTE at PML4E[51:12] |
// lin[38:30] << 3, the PDE at PDPTE[51:12] | lin[29:21] << 3, the PTE at
// PDE[51:12] | lin[20:12] << 3; PAE paging (4.4.2) takes the PDPTE from
// register lin[31:30]; 32-bit paging (4.3) reads 4-byte entries at
// CR3[31:12] | lin[31:22] << 2 and PDE[31:12] | lin[21:12] << 2. The
// error codes are 4.7's.
func TestExplain(t *testing.T) {
	const lin = 0x40201abc // PML4 0, PDPT 1, PD 1, PT 1, offset 0xabc
	long := func() *Regs {
		return &Regs{CR0: arch.CR0PG | arch.CR0PE | arch.CR0WP, CR3: 0x1000, CR4: arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA | arch.EFERNXE, MaxPhysAddr: 46}
	}
	type step struct {
		level      int
		addr, idx  uint64
		page, wide bool
	}
	tests := []struct {
		name   string
		mem    map[uint64]uint64
		refuse uint64
		regs   *Regs
		lin    uint64
		acc    Access
		steps  []step
		pa     uint64
		size   uint64
		code   int32 // -1: no fault
		rule   string
		refd   bool
	}{
		{name: "4-level, 4 KiB page", regs: long(), lin: lin,
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all, 0x3008: 0x4000 | all, 0x4008: 0x5000 | all},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, false, true}, {1, 0x4008, 1, true, true}},
			pa:    0x5abc, size: 4096, code: -1},
		{name: "4-level, 2 MiB page", regs: long(), lin: lin,
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all, 0x3008: 0x600000 | all | fPS},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, true, true}},
			pa:    0x600000 + 0x1abc, size: 2 << 20, code: -1},
		{name: "PDE not present: #PF(0)", regs: long(), lin: lin,
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, false, true}},
			code:  0, rule: "PDE not present (P=0)"},
		{name: "PDPTE reserved bit 51 (MAXPHYADDR 46): #PF(P|RSVD)", regs: long(), lin: lin,
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 1<<51 | 0x3000 | all},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}},
			code:  0x9, rule: "reserved bit 51 set in PDPTE"},
		{name: "user write to a read-only page: #PF(P|W|U)", regs: long(), lin: lin, acc: Access{Write: true, User: true},
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all, 0x3008: 0x4000 | all, 0x4008: 0x5000 | fP | fUS},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, false, true}, {1, 0x4008, 1, true, true}},
			code:  0x7, rule: RuleUserWriteReadOnly},
		{name: "fetch from an XD page: #PF(P|I/D)", regs: long(), lin: lin, acc: Access{Fetch: true},
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all, 0x3008: 0x4000 | all | fXD, 0x4008: 0x5000 | all},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, false, true}, {1, 0x4008, 1, true, true}},
			code:  0x11, rule: RuleNX},
		{name: "PTE read refused (EPT)", regs: long(), lin: lin, refuse: 0x4008,
			mem:   map[uint64]uint64{0x1000: 0x2000 | all, 0x2008: 0x3000 | all, 0x3008: 0x4000 | all},
			steps: []step{{4, 0x1000, 0, false, true}, {3, 0x2008, 1, false, true}, {2, 0x3008, 1, false, true}},
			code:  -1, refd: true},
		{name: "PAE: PDPTE register 1, PDE, PTE",
			regs: &Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: 0x1020, CR4: arch.CR4PAE, PDPTE: [4]uint64{0, 0x3000 | fP, 0, 0}}, lin: lin,
			mem:   map[uint64]uint64{0x3008: 0x4000 | all, 0x4008: 0x5000 | all},
			steps: []step{{3, 0x1028, 1, false, true}, {2, 0x3008, 1, false, true}, {1, 0x4008, 1, true, true}},
			pa:    0x5abc, size: 4096, code: -1},
		{name: "32-bit paging, 4 MiB page (CR4.PSE)",
			regs: &Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: 0x1000, CR4: arch.CR4PSE}, lin: 0x00c01abc, // PD index 3
			mem:   map[uint64]uint64{0x1008: uint64(0x00800000|all|fPS) << 32},
			steps: []step{{2, 0x100c, 3, true, false}},
			pa:    0x00801abc, size: 4 << 20, code: -1},
		{name: "32-bit paging, 4 KiB page",
			regs: &Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: 0x1000}, lin: 0x00c01abc, // PD index 3, PT index 1
			mem:   map[uint64]uint64{0x1008: uint64(0x2000|all) << 32, 0x2000: uint64(0x7000|all) << 32},
			steps: []step{{2, 0x100c, 3, false, false}, {1, 0x2004, 1, true, false}},
			pa:    0x7abc, size: 4096, code: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newMem()
			for a, v := range tc.mem {
				m.q[a] = v
			}
			if tc.refuse != 0 {
				m.refuse = map[uint64]bool{tc.refuse: true}
			}
			before := m.snapshot()
			x := Explain(m, tc.regs, tc.lin, tc.acc)
			assert.Equal(t, before, m.q, "the explainer writes nothing (no A/D flags)")
			assert.Zero(t, m.writes)
			var got []step
			for _, s := range x.Steps {
				got = append(got, step{s.Level, s.Addr, s.Index, s.Page, s.Wide})
			}
			assert.Equal(t, tc.steps, got)
			for i, s := range x.Steps {
				if !s.Register {
					assert.Equal(t, tc.mem[s.Addr&^7]>>(s.Addr&4*8)&(1<<(32*(1+b2u(s.Wide)))-1), s.Entry, "step %d holds the entry's value", i)
				}
			}
			assert.Equal(t, tc.refd, x.Refused)
			if tc.code < 0 {
				assert.Nil(t, x.Fault)
			} else {
				require.NotNil(t, x.Fault)
				assert.Equal(t, uint8(arch.VecPF), x.Fault.Vector)
				assert.Equal(t, uint32(tc.code), x.Fault.Code)
				assert.Equal(t, tc.rule, x.Fault.Rule)
			}
			if tc.size != 0 {
				require.True(t, x.OK())
				assert.Equal(t, tc.pa, x.PhysAddr())
				assert.Equal(t, tc.size, x.Translation.PageSize)
			}

			// The same outcome as Walk, which (unlike the explainer) sets
			// the accessed flags of a successful walk (SDM 4.8).
			tr, f := Walk(m, tc.regs, tc.lin, tc.acc)
			assert.Equal(t, x.Fault, f)
			if x.OK() {
				assert.Equal(t, x.Translation.PhysPage, tr.PhysPage)
				assert.Equal(t, x.Translation.Writable, tr.Writable)
				assert.NotEqual(t, before, m.q, "Walk set the accessed flags the explainer did not")
			}
		})
	}
}

func b2u(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

func TestExplainStepText(t *testing.T) {
	s := Step{Level: 4, Addr: 0x1000, Entry: 0x2023, Index: 0, Wide: true}
	assert.Equal(t, "PML4E[0] at 0x1000 = 0x0000000000002023  xd ps d A pcd pwt u W P", s.String())
	s = Step{Level: 1, Addr: 0x4008, Entry: 1<<63 | 0x5167, Index: 1, Wide: true, Page: true}
	assert.Equal(t, "PTE[1] at 0x4008 = 0x8000000000005167  XD G ps D A pcd pwt U W P", s.String())
	s = Step{Level: 3, Addr: 0x1028, Entry: 0x3001, Index: 1, Wide: true, Register: true}
	assert.Equal(t, "PDPTE[1] register (loaded from 0x1028) = 0x0000000000003001  pcd pwt P", s.String())
	assert.Equal(t, "user write", Access{Write: true, User: true}.String())
	assert.Equal(t, "implicit supervisor read", Access{User: true, Implicit: true}.String())
}

package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/mmu"
)

// TestExplainWalk2D: the two-dimensional walk of the eptHarness guest
// (32-bit paging, CR3 0x3000, PDE 0 a 4-MiB page at 0) under the
// harness's EPT (PML4 0x30000, PDPT 0x31000, PD 0x32000, PT 0x33000).
// Expected entry addresses follow the SDM: the guest PDE is at
// CR3[31:12] | lin[31:22] << 2 (Vol. 3A 4.3), an EPT PML4E at
// EPTP[51:12] | gpa[47:39] << 3, a PDPTE at PML4E[51:12] | gpa[38:30] << 3,
// a PDE at PDPTE[51:12] | gpa[29:21] << 3, a PTE at PDE[51:12] |
// gpa[20:12] << 3 (Vol. 3C 29.3.2); the exit qualifications are Table
// 28-7's. Each prediction is then checked against the core: the guest
// makes the access and the VM exit it takes (or not) must be the one the
// explainer named.
func TestExplainWalk2D(t *testing.T) {
	const (
		rd, wr           = 1 << 0, 1 << 1
		pr               = 1 << 3
		linValid, linTra = 1 << 7, 1 << 8
	)
	pdeEPT := []uint64{eptPML4, eptPDPT, eptPD, eptPT + 3*8} // EPT entries for gpa 0x3000
	tests := []struct {
		name   string
		write  bool
		setup  func(ram []byte)
		guest  []uint64 // guest entry addresses (guest-physical)
		ept    [][]uint64
		final  []uint64 // EPT entries of the final gpa (nil: not reached)
		reason uint32   // 0: translated
		qual   uint64
		gpa    uint64
		why    string
	}{
		{name: "translated", guest: []uint64{0x3000}, ept: [][]uint64{pdeEPT},
			final: []uint64{eptPML4, eptPDPT, eptPD, eptPT + 0x15*8}, gpa: 0x15008},
		{name: "final page not present: violation, translation",
			setup: func(ram []byte) { binary.LittleEndian.PutUint64(ram[eptPTE(0x15000):], 0) },
			guest: []uint64{0x3000}, ept: [][]uint64{pdeEPT},
			final: []uint64{eptPML4, eptPDPT, eptPD, eptPT + 0x15*8}, reason: 48, qual: rd | linValid | linTra, gpa: 0x15008,
			why: "is not present"},
		{name: "write to a read-only page: violation", write: true,
			setup: func(ram []byte) { binary.LittleEndian.PutUint64(ram[eptPTE(0x15000):], 0x15000|1|eptWB) },
			guest: []uint64{0x3000}, ept: [][]uint64{pdeEPT},
			final: []uint64{eptPML4, eptPDPT, eptPD, eptPT + 0x15*8}, reason: 48, qual: wr | pr | linValid | linTra, gpa: 0x15008},
		{name: "guest page directory not present in EPT: violation, paging-structure entry",
			setup: func(ram []byte) { binary.LittleEndian.PutUint64(ram[eptPTE(0x3000):], 0) },
			ept:   [][]uint64{pdeEPT}, reason: 48, qual: rd | linValid, gpa: 0x3000},
		{name: "write-only EPT entry: misconfiguration",
			setup: func(ram []byte) { binary.LittleEndian.PutUint64(ram[eptPTE(0x15000):], 0x15000|2|eptWB) },
			guest: []uint64{0x3000}, ept: [][]uint64{pdeEPT},
			final: []uint64{eptPML4, eptPDPT, eptPD, eptPT + 0x15*8}, reason: 49, gpa: 0x15008,
			why: "bit 1 (write) is 1 while bit 0 (read) is 0"},
		{name: "accessed flag to set in a read-only guest page directory: violation (a write)",
			setup: func(ram []byte) {
				binary.LittleEndian.PutUint32(ram[0x3000:], 0x87) // PDE 0: 4 MiB, P RW US PS, A=0
				binary.LittleEndian.PutUint64(ram[eptPTE(0x3000):], 0x3000|1|eptWB)
			},
			// The PDE is read (the first EPT walk), then its A flag
			// written (the second, refused).
			guest: []uint64{0x3000}, ept: [][]uint64{pdeEPT, pdeEPT}, reason: 48, qual: rd | wr | pr | linValid, gpa: 0x3000},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
			c := h.c
			if tc.setup != nil {
				tc.setup(h.bus.ram)
			}
			code := []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00} // mov esi, [0x15008]
			if tc.write {
				code = []byte{0xC7, 0x05, 0x08, 0x50, 0x01, 0x00, 1, 0, 0, 0} // mov dword [0x15008], 1
			}
			copy(h.bus.ram[0x11000:], code)
			h.bus.ram[0x11000+len(code)] = 0xF4 // hlt

			ctx, ok := c.GuestWalkContext()
			require.True(t, ok)
			require.True(t, ctx.EPT)
			before := append([]byte(nil), h.bus.ram...)
			w := c.ExplainWalk(ctx, 0x15008, mmu.Access{Write: tc.write})
			assert.Equal(t, before, h.bus.ram, "no side effects")
			t.Log(w)

			var guest []uint64
			var epts [][]uint64
			for _, g := range w.Steps {
				guest = append(guest, g.Addr)
				require.NotNil(t, g.EPT)
				epts = append(epts, eptAddrs(g.EPT))
			}
			if w.Refused != nil {
				epts = append(epts, eptAddrs(w.Refused))
			}
			assert.Equal(t, tc.guest, guest, "guest entries")
			assert.Equal(t, tc.ept, epts, "EPT entries of the guest entries")
			if tc.final != nil {
				require.NotNil(t, w.Final)
				assert.Equal(t, tc.final, eptAddrs(w.Final))
			} else {
				assert.Nil(t, w.Final)
			}
			var failing *EPTWalk
			switch {
			case w.Refused != nil:
				failing = w.Refused
			case w.Final != nil && w.Final.Result.Kind != ept.OK:
				failing = w.Final
			}
			if tc.reason == 0 {
				require.True(t, w.OK, "%s", w)
				assert.Nil(t, failing)
				assert.Equal(t, uint64(0x15008), w.HPA, "identity EPT")
			} else {
				require.NotNil(t, failing)
				assert.False(t, w.OK)
				assert.Equal(t, tc.gpa, failing.GPA)
				if tc.reason == 48 {
					assert.Equal(t, ept.Violation, failing.Result.Kind)
					assert.Equal(t, tc.qual, failing.Qualification)
				} else {
					assert.Equal(t, ept.Misconfigured, failing.Result.Kind)
				}
				assert.Contains(t, failing.Result.Why, tc.why)
			}

			// The core agrees: the guest's access takes the exit the
			// explainer predicted (or none).
			exits := exitRecorder(c)
			c.Run(3) // VMLAUNCH, the access, HLT (in the guest or the host)
			if tc.reason == 0 {
				assert.Empty(t, *exits)
				assert.True(t, c.vmx.Guest())
				return
			}
			require.Equal(t, []uint32{tc.reason}, *exits)
			assert.Equal(t, tc.gpa, vmcsField(t, c, 0x2400), "guest-physical address")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
		})
	}
}

func eptAddrs(w *EPTWalk) []uint64 {
	var a []uint64
	for _, s := range w.Steps {
		a = append(a, s.Addr)
	}
	return a
}

// TestExplainWalkCurrent: inside the guest, the current context is the
// guest's under its EPT; the same walk as from the VMCS; the text names
// every step. With EPT A/D flags on (EPTP bit 6), the explainer still
// sets no flag.
func TestExplainWalkCurrent(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1, eptEPTP|1<<6, 0)
	c := h.c
	h.bus.ram[0x11000] = 0xF4 // hlt
	c.Run(2)
	require.True(t, c.vmx.Guest())
	c.PAT = 0x0007040600070406 // the power-up value (SDM Vol. 3A 13.12.2): entry 0 WB
	ctx := c.CurrentWalkContext()
	require.True(t, ctx.EPT)
	assert.Equal(t, uint64(eptEPTP|1<<6), ctx.EPTP)
	before := append([]byte(nil), h.bus.ram...)
	w := c.ExplainWalk(ctx, 0x15008, mmu.Access{Write: true})
	assert.Equal(t, before, h.bus.ram, "no A/D flag set, guest or EPT")
	require.True(t, w.OK, "%s", w)
	g, ok := c.GuestWalkContext()
	require.True(t, ok)
	assert.Equal(t, w.HPA, c.ExplainWalk(g, 0x15008, mmu.Access{Write: true}).HPA)
	s := w.String()
	assert.Contains(t, s, "walk of linear address 0x15008 for a supervisor write (CPU 0, VMX non-root)\n")
	assert.Contains(t, s, "paging: 32-bit (CR0 0x80000031, CR3 0x3000, CR4 0x2010, EFER 0x0)\n")
	assert.Contains(t, s, "EPT: EPTP 0x3005e: 4-level, PML4 at 0x30000, paging structures WB, A/D flags on\n")
	assert.Contains(t, s, "PDE[0] at guest-physical 0x3000 = 0x000000e7  g PS D A pcd pwt U W P\n")
	assert.Contains(t, s, "  EPT PTE   [  3] at 0x33018")
	assert.Contains(t, s, "linear 0x15008 -> guest-physical 0x15008 (4 MiB page; writable, user, executable; PAT index 0: WB)\n")
	assert.Contains(t, s, "guest-physical 0x15008 -> host-physical 0x15008 (4 KiB EPT page; read+write+execute; EPT memory type WB, ignore PAT 0)\n")
	assert.Contains(t, s, "result: host-physical 0x15008\n")

	// Outside the guest's context: the host's own paging, no EPT.
	host := WalkContext{Regs: mmu.Regs{CR0: arch.CR0PE}, Where: "host"}
	w = c.ExplainWalk(host, 0x1234, mmu.Access{})
	assert.True(t, w.OK)
	assert.Equal(t, uint64(0x1234), w.HPA)
}

// TestExplainWalkModes: guests in other paging modes under the harness's
// EPT, in hand-built contexts. PAE paging (SDM Vol. 3A 4.4.2) takes the
// PDPTE from its register (no memory read, no EPT walk), then the PDE at
// PDPTE[51:12] | lin[29:21] << 3 and the PTE at PDE[51:12] | lin[20:12]
// << 3; 4-level paging (4.5.4) reads four levels from CR3. The EPT maps
// guest-physical 2-4 MiB with one 2-MiB page: its walk ends at the EPT
// PDE (Vol. 3C 29.3.2, Table 29-4).
func TestExplainWalkModes(t *testing.T) {
	put := func(ram []byte, a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	tests := []struct {
		name  string
		regs  mmu.Regs
		setup func(ram []byte)
		lin   uint64
		guest []uint64 // guest entry addresses
		ept   [][]uint64
		final []uint64
		hpa   uint64
	}{
		{name: "PAE guest",
			regs: mmu.Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: 0x4000, CR4: arch.CR4PAE, PDPTE: [4]uint64{0x5000 | 1}},
			setup: func(ram []byte) {
				put(ram, 0x5000, 0x6000|7)
				put(ram, 0x6000+0x15*8, 0x15000|7)
			},
			lin:   0x15008,
			guest: []uint64{0x4000, 0x5000, 0x6000 + 0x15*8},
			ept:   [][]uint64{{eptPML4, eptPDPT, eptPD, eptPT + 5*8}, {eptPML4, eptPDPT, eptPD, eptPT + 6*8}},
			final: []uint64{eptPML4, eptPDPT, eptPD, eptPT + 0x15*8},
			hpa:   0x15008},
		{name: "4-level guest, 2-MiB guest page in a 2-MiB EPT page",
			regs: mmu.Regs{CR0: arch.CR0PG | arch.CR0PE, CR3: 0x4000, CR4: arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA, MaxPhysAddr: 46},
			setup: func(ram []byte) {
				put(ram, 0x4000, 0x5000|7)
				put(ram, 0x5000, 0x6000|7)
				put(ram, 0x6000+8, 0x200000|0x87)
			},
			lin:   0x200008,
			guest: []uint64{0x4000, 0x5000, 0x6008},
			ept: [][]uint64{{eptPML4, eptPDPT, eptPD, eptPT + 4*8}, {eptPML4, eptPDPT, eptPD, eptPT + 5*8},
				{eptPML4, eptPDPT, eptPD, eptPT + 6*8}},
			final: []uint64{eptPML4, eptPDPT, eptPD + 8},
			hpa:   0x200008},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
			c := h.c
			tc.setup(h.bus.ram)
			before := append([]byte(nil), h.bus.ram...)
			ctx := WalkContext{Regs: tc.regs, EPT: true, EPTP: eptEPTP, Caps: c.vmx.Caps().EPT(), Where: "test"}
			w := c.ExplainWalk(ctx, tc.lin, mmu.Access{})
			assert.Equal(t, before, h.bus.ram, "no side effects")
			require.True(t, w.OK, "%s", w)
			var guest []uint64
			var epts [][]uint64
			for _, g := range w.Steps {
				guest = append(guest, g.Addr) // the register's: where it was loaded from, CR3[31:5] | lin[31:30] << 3
				if g.EPT != nil {
					epts = append(epts, eptAddrs(g.EPT))
				} else {
					assert.True(t, g.Register, "only the PDPTE register has no EPT walk")
				}
			}
			assert.Equal(t, tc.guest, guest)
			assert.Equal(t, tc.ept, epts)
			assert.Equal(t, tc.final, eptAddrs(w.Final))
			assert.Equal(t, tc.hpa, w.HPA)
		})
	}
}

package mmu

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// fakeMem is a sparse, map-backed physical memory of 8-byte words.
type fakeMem struct {
	q      map[uint64]uint64
	writes int
	// refuse lists the 8-byte words whose accesses are refused (as EPT
	// would refuse them), readOnly refuses only writes.
	refuse, readOnly map[uint64]bool
}

func newMem() *fakeMem { return &fakeMem{q: map[uint64]uint64{}} }

func (m *fakeMem) ReadPhys64(pa uint64) (uint64, bool) { return m.q[pa&^7], !m.refuse[pa&^7] }
func (m *fakeMem) ReadPhys32(pa uint64) (uint32, bool) {
	return uint32(m.q[pa&^7] >> (pa & 4 * 8)), !m.refuse[pa&^7]
}
func (m *fakeMem) WritePhys64(pa uint64, v uint64) bool {
	if m.refuse[pa&^7] || m.readOnly[pa&^7] {
		return false
	}
	m.writes++
	m.q[pa&^7] = v
	return true
}
func (m *fakeMem) WritePhys32(pa uint64, v uint32) bool {
	if m.refuse[pa&^7] || m.readOnly[pa&^7] {
		return false
	}
	m.writes++
	sh := pa & 4 * 8
	m.q[pa&^7] = m.q[pa&^7]&^(0xFFFFFFFF<<sh) | uint64(v)<<sh
	return true
}

// snapshot copies the memory contents.
func (m *fakeMem) snapshot() map[uint64]uint64 {
	c := make(map[uint64]uint64, len(m.q))
	for k, v := range m.q {
		c[k] = v
	}
	return c
}

const (
	fP   = pteP
	fRW  = pteRW
	fUS  = pteUS
	fPWT = ptePWT
	fPCD = ptePCD
	fA   = pteA
	fD   = pteD
	fPS  = ptePS
	fG   = pteG
	fXD  = uint64(pteXD)
	all  = fP | fRW | fUS
)

// env is a built paging hierarchy: memory, registers, the linear address
// it maps and the physical addresses of the entries used, top-down.
type env struct {
	m     *fakeMem
	r     *Regs
	lin   uint64
	addrs []uint64
	is32  bool // 32-bit paging: 4-byte entries
}

// or sets flags in the entry used at position i (0 = top).
func (e *env) or(i int, v uint64) { e.m.q[e.addrs[i]&^7] |= e.shift(i, v) }

// clr clears flags in the entry used at position i.
func (e *env) clr(i int, v uint64) { e.m.q[e.addrs[i]&^7] &^= e.shift(i, v) }

// shift positions the entry bits v within the 8-byte word of entry i.
func (e *env) shift(i int, v uint64) uint64 {
	if e.is32 {
		return uint64(uint32(v)) << (e.addrs[i] & 4 * 8)
	}
	return v
}

// leaf is the index of the mapping entry in addrs.
func (e *env) leaf() int { return len(e.addrs) - 1 }

// Linear address with distinct indices at every level of 4-/5-level paging:
// PML5 1, PML4 3, PDPT 5, PD 7, PT 9, offset 0x123.
const (
	lin4 = 3<<39 | 5<<30 | 7<<21 | 9<<12 | 0x123
	lin5 = 1<<48 | lin4
)

// newLong builds 4-level (levels=4) or 5-level (levels=5) paging mapping
// lin to phys with a page of the given size (4K, 2M, 1G). Every entry has
// P, R/W and U/S set; EFER.NXE=1, CR0.WP=1, MAXPHYADDR=46.
func newLong(levels int, size uint64, phys uint64) *env {
	m := newMem()
	r := &Regs{
		CR0:         arch.CR0PE | arch.CR0PG | arch.CR0WP,
		CR4:         arch.CR4PAE,
		EFER:        arch.EFERLME | arch.EFERLMA | arch.EFERNXE,
		MaxPhysAddr: 46,
		CR3:         0x10000,
	}
	lin := uint64(lin4)
	if levels == 5 {
		r.CR4 |= arch.CR4LA57
		lin = lin5
	}
	table := r.CR3
	var addrs []uint64
	for level := levels; level >= 1; level-- {
		shift := uint(12 + 9*(level-1))
		pa := table + (lin>>shift&511)*8
		addrs = append(addrs, pa)
		if uint64(1)<<shift == size {
			e := phys | all
			if level > 1 {
				e |= fPS
			}
			m.q[pa] = e
			break
		}
		table += 0x1000
		m.q[pa] = table | all
	}
	return &env{m: m, r: r, lin: lin, addrs: addrs}
}

// newPAE builds PAE paging mapping lin to phys with a 4K or 2M page; the
// PDPTE registers are loaded with LoadPDPTEs. NXE=1, WP=1, MAXPHYADDR=36.
func newPAE(size uint64, phys uint64) *env {
	m := newMem()
	r := &Regs{
		CR0:         arch.CR0PE | arch.CR0PG | arch.CR0WP,
		CR4:         arch.CR4PAE,
		EFER:        arch.EFERNXE,
		MaxPhysAddr: 36,
		CR3:         0x10020, // 32-byte aligned
	}
	lin := uint64(2<<30 | 7<<21 | 9<<12 | 0x123)
	m.q[r.CR3+2*8] = 0x20000 | fP
	pde := uint64(0x20000 + 7*8)
	addrs := []uint64{pde}
	if size == 2<<20 {
		m.q[pde] = phys | all | fPS
	} else {
		m.q[pde] = 0x30000 | all
		pte := uint64(0x30000 + 9*8)
		m.q[pte] = phys | all
		addrs = append(addrs, pte)
	}
	var f *arch.Fault
	r.PDPTE, f, _ = LoadPDPTEs(m, r)
	if f != nil {
		panic(f)
	}
	return &env{m: m, r: r, lin: lin, addrs: addrs}
}

// newLegacy builds 32-bit paging mapping lin to phys with a 4K page, or a
// 4M page when pde4M is a full 4-MByte PDE value (then phys is unused).
// CR4.PSE=1, WP=1, MAXPHYADDR=40.
func newLegacy(phys uint64, pde4M uint32) *env {
	m := newMem()
	r := &Regs{
		CR0:         arch.CR0PE | arch.CR0PG | arch.CR0WP,
		CR4:         arch.CR4PSE,
		MaxPhysAddr: 40,
		CR3:         0x10000,
	}
	lin := uint64(0x2D<<22 | 0x1A5<<12 | 0x123)
	pde := r.CR3 + 0x2D*4
	set32 := func(pa uint64, v uint32) { m.WritePhys32(pa, v) }
	addrs := []uint64{pde}
	if pde4M != 0 {
		set32(pde, pde4M)
	} else {
		set32(pde, 0x20000|all)
		pte := uint64(0x20000 + 0x1A5*4)
		set32(pte, uint32(phys)|all)
		addrs = append(addrs, pte)
	}
	m.writes = 0
	return &env{m: m, r: r, lin: lin, addrs: addrs, is32: true}
}

func TestModes(t *testing.T) {
	r := &Regs{}
	assert.Equal(t, ModeNone, r.Mode())
	r.CR0 = arch.CR0PG | arch.CR0PE
	assert.Equal(t, Mode32Bit, r.Mode())
	r.CR4 = arch.CR4PAE
	assert.Equal(t, ModePAE, r.Mode())
	r.EFER = arch.EFERLME | arch.EFERLMA
	assert.Equal(t, Mode4Level, r.Mode())
	r.CR4 |= arch.CR4LA57
	assert.Equal(t, Mode5Level, r.Mode())
	assert.Equal(t, "5-level", r.Mode().String())
	assert.Equal(t, "Mode(9)", Mode(9).String())
}

func TestPagingOffIsIdentity(t *testing.T) {
	m := newMem()
	tr, f := Walk(m, &Regs{CR0: arch.CR0PE}, 0x12345678, Access{Write: true, User: true})
	require.Nil(t, f)
	assert.Equal(t, uint64(0x12345000), tr.PhysPage)
	assert.Equal(t, uint64(0x12345678), tr.PhysAddr(0x12345678))
	assert.Equal(t, 0, m.writes)
}

func TestMappings(t *testing.T) {
	type want struct {
		phys, size uint64
	}
	cases := []struct {
		name string
		env  func() *env
		mod  func(e *env)
		want want
	}{
		{"4-level 4K", func() *env { return newLong(4, 4<<10, 0x123456000) }, nil,
			want{0x123456000, 4 << 10}},
		{"4-level 2M", func() *env { return newLong(4, 2<<20, 0x40000000) }, nil,
			want{0x40000000 | 9<<12, 2 << 20}},
		{"4-level 1G", func() *env { return newLong(4, 1<<30, 0x3C0000000) }, nil,
			want{0x3C0000000 | 7<<21 | 9<<12, 1 << 30}},
		{"5-level 4K", func() *env { return newLong(5, 4<<10, 0x3FFFFFFFF000) }, nil,
			want{0x3FFFFFFFF000, 4 << 10}},
		{"5-level 2M", func() *env { return newLong(5, 2<<20, 0x200000) }, nil,
			want{0x200000 | 9<<12, 2 << 20}},
		{"5-level 1G", func() *env { return newLong(5, 1<<30, 0x40000000) }, nil,
			want{0x40000000 | 7<<21 | 9<<12, 1 << 30}},
		{"4-level ignored bits 58:52 and 11:9", func() *env { return newLong(4, 4<<10, 0x5000) },
			func(e *env) {
				for i := range e.addrs {
					e.or(i, 0x7F<<52|7<<9)
				}
			}, want{0x5000, 4 << 10}},
		{"4-level PAT bit 12 of a 2M page is not address", func() *env { return newLong(4, 2<<20, 0x600000) },
			func(e *env) { e.or(e.leaf(), ptePATL) }, want{0x600000 | 9<<12, 2 << 20}},
		{"PAE 4K", func() *env { return newPAE(4<<10, 0xFFFFF000) }, nil,
			want{0xFFFFF000, 4 << 10}},
		{"PAE 4K above 4G", func() *env { return newPAE(4<<10, 0xABCDE0000) }, nil,
			want{0xABCDE0000, 4 << 10}},
		{"PAE 2M", func() *env { return newPAE(2<<20, 0x800000000) }, nil,
			want{0x800000000 | 9<<12, 2 << 20}},
		{"32-bit 4K", func() *env { return newLegacy(0xFEDCB000, 0) }, nil,
			want{0xFEDCB000, 4 << 10}},
		{"32-bit 4M", func() *env { return newLegacy(0, 0xFFC00000|all|fPS) }, nil,
			want{0xFFC00000 | 0x1A5<<12, 4 << 20}},
		{"32-bit 4M PSE-36 bits 39:32", func() *env { return newLegacy(0, 0x00400000|0xAB<<13|all|fPS) }, nil,
			want{0xAB_00400000 | 0x1A5<<12, 4 << 20}},
		{"32-bit 4M PAT bit 12 is not address", func() *env { return newLegacy(0, 0x00800000|ptePATL|all|fPS) }, nil,
			want{0x00800000 | 0x1A5<<12, 4 << 20}},
		{"32-bit PSE=0: PS ignored, PDE references a page table", func() *env {
			e := newLegacy(0x77000, 0)
			e.r.CR4 = 0
			e.or(0, fPS)
			return e
		}, nil, want{0x77000, 4 << 10}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env()
			if c.mod != nil {
				c.mod(e)
			}
			tr, f := Walk(e.m, e.r, e.lin, Access{User: true})
			require.Nil(t, f)
			assert.Equal(t, c.want.phys, tr.PhysPage, "PhysPage %#x", tr.PhysPage)
			assert.Equal(t, c.want.size, tr.PageSize)
			assert.Equal(t, c.want.phys|0x123, tr.PhysAddr(e.lin))
			assert.True(t, tr.Writable)
			assert.True(t, tr.User)
			assert.False(t, tr.NX)
		})
	}
}

func TestTranslationAttributes(t *testing.T) {
	e := newLong(4, 4<<10, 0x5000)
	e.r.CR4 |= arch.CR4PGE | arch.CR4PKE
	e.or(e.leaf(), fG|fPWT|fPCD|ptePAT4|fD|11<<59)
	e.clr(1, fRW)
	e.or(2, fXD)
	tr, f := Walk(e.m, e.r, e.lin, Access{})
	require.Nil(t, f)
	assert.False(t, tr.Writable)
	assert.True(t, tr.User)
	assert.True(t, tr.NX)
	assert.True(t, tr.Global)
	assert.True(t, tr.Dirty)
	assert.Equal(t, uint8(11), tr.PKey)
	assert.Equal(t, uint8(7), tr.PATIndex)

	// G without CR4.PGE is not global; key bits without PKE/PKS are ignored.
	e.r.CR4 &^= arch.CR4PGE | arch.CR4PKE
	tr, f = Walk(e.m, e.r, e.lin, Access{})
	require.Nil(t, f)
	assert.False(t, tr.Global)
	assert.Equal(t, uint8(0), tr.PKey)

	// 2M page: PAT is bit 12.
	e = newLong(4, 2<<20, 0x200000)
	e.or(e.leaf(), ptePATL|fPCD)
	tr, f = Walk(e.m, e.r, e.lin, Access{})
	require.Nil(t, f)
	assert.Equal(t, uint8(6), tr.PATIndex)

	// NX is not reported when EFER.NXE=0 under 32-bit paging (no XD flag).
	l := newLegacy(0x5000, 0)
	tr, f = Walk(l.m, l.r, l.lin, Access{Fetch: true})
	require.Nil(t, f)
	assert.False(t, tr.NX)
}

// faultCase is one access expected to fault with an exact error code.
type faultCase struct {
	name string
	env  func() *env
	mod  func(e *env)
	acc  Access
	code uint32
	rule string // exact rule text
}

func runFaults(t *testing.T, cases []faultCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env()
			if c.mod != nil {
				c.mod(e)
			}
			before := e.m.snapshot()
			e.m.writes = 0
			_, f := Walk(e.m, e.r, e.lin, c.acc)
			require.NotNil(t, f, "expected #PF")
			assert.Equal(t, uint8(arch.VecPF), f.Vector)
			assert.True(t, f.HasError)
			assert.Equal(t, c.code, f.Code, "error code %#x, want %#x (%s)", f.Code, c.code, f.Rule)
			assert.Equal(t, c.rule, f.Rule)
			assert.Equal(t, e.lin, f.Addr)
			assert.NotEmpty(t, f.SDM)
			// SDM 4.8 as modelled: a faulting access sets no A/D flag.
			assert.Equal(t, 0, e.m.writes)
			assert.Equal(t, before, e.m.q)
		})
	}
}

func long4K() *env   { return newLong(4, 4<<10, 0x5000) }
func long5K() *env   { return newLong(5, 4<<10, 0x5000) }
func long2M() *env   { return newLong(4, 2<<20, 0x200000) }
func long1G() *env   { return newLong(4, 1<<30, 0x40000000) }
func pae4K() *env    { return newPAE(4<<10, 0x5000) }
func pae2M() *env    { return newPAE(2<<20, 0x200000) }
func legacy4K() *env { return newLegacy(0x5000, 0) }
func legacy4M() *env { return newLegacy(0, 0x00400000|all|fPS) }

const (
	P, W, U, RSVD, ID, PK = arch.PFErrP, arch.PFErrWR, arch.PFErrUS, arch.PFErrRSVD, arch.PFErrID, arch.PFErrPK
)

func TestNotPresent(t *testing.T) {
	runFaults(t, []faultCase{
		{"PML5E", long5K, func(e *env) { e.clr(0, fP) }, Access{}, 0, "PML5E not present (P=0)"},
		{"PML4E user write", long4K, func(e *env) { e.clr(0, fP) }, Access{Write: true, User: true}, W | U, "PML4E not present (P=0)"},
		{"PDPTE", long4K, func(e *env) { e.clr(1, fP) }, Access{}, 0, "PDPTE not present (P=0)"},
		{"PDE fetch NXE=1", long4K, func(e *env) { e.clr(2, fP) }, Access{Fetch: true}, ID, "PDE not present (P=0)"},
		{"PDE fetch NXE=0 SMEP=0: I/D stays 0", long4K, func(e *env) { e.clr(2, fP); e.r.EFER &^= arch.EFERNXE }, Access{Fetch: true}, 0, "PDE not present (P=0)"},
		{"PTE user fetch", long4K, func(e *env) { e.clr(3, fP) }, Access{Fetch: true, User: true}, U | ID, "PTE not present (P=0)"},
		{"P=0 entry's reserved bits are not checked", long4K, func(e *env) { e.m.q[e.addrs[3]] = 1<<51 | fXD | fRW }, Access{}, 0, "PTE not present (P=0)"},
		{"implicit access at CPL3 is supervisor", long4K, func(e *env) { e.clr(3, fP) }, Access{User: true, Implicit: true, Write: true}, W, "PTE not present (P=0)"},
		{"PAE PDPTE register", pae4K, func(e *env) { e.r.PDPTE[2] = 0 }, Access{Write: true}, W, "PDPTE not present (P=0)"},
		{"PAE PDE", pae4K, func(e *env) { e.clr(0, fP) }, Access{Fetch: true}, ID, "PDE not present (P=0)"},
		{"PAE PTE", pae4K, func(e *env) { e.clr(1, fP) }, Access{User: true}, U, "PTE not present (P=0)"},
		{"32-bit PDE", legacy4K, func(e *env) { e.clr(0, fP) }, Access{User: true, Write: true}, W | U, "PDE not present (P=0)"},
		{"32-bit PTE fetch: no I/D without SMEP", legacy4K, func(e *env) { e.clr(1, fP) }, Access{Fetch: true}, 0, "PTE not present (P=0)"},
		{"32-bit PTE fetch with SMEP: I/D", legacy4K, func(e *env) { e.clr(1, fP); e.r.CR4 |= arch.CR4SMEP }, Access{Fetch: true}, ID, "PTE not present (P=0)"},
		{"32-bit NXE=1 does not set I/D (PAE=0)", legacy4K, func(e *env) { e.clr(1, fP); e.r.EFER |= arch.EFERNXE }, Access{Fetch: true}, 0, "PTE not present (P=0)"},
	})
}

func TestReservedBits(t *testing.T) {
	runFaults(t, []faultCase{
		{"bit 51 in PML4E (MAXPHYADDR 46)", long4K, func(e *env) { e.or(0, 1<<51) }, Access{}, P | RSVD, "reserved bit 51 set in PML4E"},
		{"bit 46 in PTE, user write", long4K, func(e *env) { e.or(3, 1<<46) }, Access{User: true, Write: true}, P | RSVD | W | U, "reserved bit 46 set in PTE"},
		{"fetch with NXE: I/D", long4K, func(e *env) { e.or(2, 1<<50) }, Access{Fetch: true}, P | RSVD | ID, "reserved bit 50 set in PDE"},
		{"PS in PML4E", long4K, func(e *env) { e.or(0, fPS) }, Access{}, P | RSVD, "reserved bit 7 set in PML4E"},
		{"PS in PML5E", long5K, func(e *env) { e.or(0, fPS) }, Access{}, P | RSVD, "reserved bit 7 set in PML5E"},
		{"bit 51 in PML5E", long5K, func(e *env) { e.or(0, 1<<51) }, Access{}, P | RSVD, "reserved bit 51 set in PML5E"},
		{"XD with NXE=0", long4K, func(e *env) { e.or(1, fXD); e.r.EFER &^= arch.EFERNXE }, Access{}, P | RSVD, "reserved bit 63 set in PDPTE"},
		{"2M page bit 13", long2M, func(e *env) { e.or(2, 1<<13) }, Access{}, P | RSVD, "reserved bit 13 set in PDE"},
		{"2M page bit 20", long2M, func(e *env) { e.or(2, 1<<20) }, Access{User: true}, P | RSVD | U, "reserved bit 20 set in PDE"},
		{"1G page bit 29", long1G, func(e *env) { e.or(1, 1<<29) }, Access{}, P | RSVD, "reserved bit 29 set in PDPTE"},
		{"1G page bit 13", long1G, func(e *env) { e.or(1, 1<<13) }, Access{}, P | RSVD, "reserved bit 13 set in PDPTE"},
		{"1G pages unsupported: PS reserved", long1G, func(e *env) { e.r.No1GPages = true }, Access{}, P | RSVD, "reserved bit 7 set in PDPTE"},
		{"highest reserved bit is named", long4K, func(e *env) { e.or(0, 1<<47|1<<50) }, Access{}, P | RSVD, "reserved bit 50 set in PML4E"},
		{"reserved wins over protection in a lower entry", long4K, func(e *env) { e.or(3, 1<<48); e.clr(3, fUS) }, Access{User: true}, P | RSVD | U, "reserved bit 48 set in PTE"},
		{"PAE bit 55 in PTE (62:M reserved)", pae4K, func(e *env) { e.or(1, 1<<55) }, Access{}, P | RSVD, "reserved bit 55 set in PTE"},
		{"PAE bit 36 in PDE (MAXPHYADDR 36)", pae4K, func(e *env) { e.or(0, 1<<36) }, Access{}, P | RSVD, "reserved bit 36 set in PDE"},
		{"PAE XD with NXE=0", pae4K, func(e *env) { e.or(1, fXD); e.r.EFER = 0 }, Access{Fetch: true}, P | RSVD, "reserved bit 63 set in PTE"},
		{"PAE 2M bit 20", pae2M, func(e *env) { e.or(0, 1<<20) }, Access{Write: true}, P | RSVD | W, "reserved bit 20 set in PDE"},
		{"32-bit 4M bit 21", legacy4M, func(e *env) { e.or(0, 1<<21) }, Access{}, P | RSVD, "reserved bit 21 set in PDE"},
		{"32-bit 4M bit 17 with MAXPHYADDR 36", legacy4M, func(e *env) { e.or(0, 1<<17); e.r.MaxPhysAddr = 36 }, Access{}, P | RSVD, "reserved bit 17 set in PDE"},
		{"32-bit 4M MAXPHYADDR 32: bits 21:13", legacy4M, func(e *env) { e.or(0, 1<<13); e.r.MaxPhysAddr = 32 }, Access{}, P | RSVD, "reserved bit 13 set in PDE"},
	})

	// The same bits are ignored where the SDM says so.
	e := long4K()
	e.or(3, 1<<55) // 4-level: bits 58:52 ignored
	_, f := Walk(e.m, e.r, e.lin, Access{})
	assert.Nil(t, f)
	l := newLegacy(0, 0x00400000|all|fPS|1<<16)
	l.r.MaxPhysAddr = 40 // bit 16 is address bit 35 with M=40
	tr, f := Walk(l.m, l.r, l.lin, Access{})
	require.Nil(t, f)
	assert.Equal(t, uint64(0x8_00400000|0x1A5<<12), tr.PhysPage)
}

func TestRights(t *testing.T) {
	ro := func(i int) func(e *env) { return func(e *env) { e.clr(i, fRW) } }
	sup := func(i int) func(e *env) { return func(e *env) { e.clr(i, fUS) } }
	runFaults(t, []faultCase{
		{"user write to supervisor read-only page", long4K, func(e *env) { e.clr(3, fRW|fUS) }, Access{User: true, Write: true}, P | W | U, RuleUserSupervisorPage},
		{"user read of supervisor page (U/S=0 in PML4E)", long4K, sup(0), Access{User: true}, P | U, RuleUserSupervisorPage},
		{"user write to read-only page (R/W=0 in PDPTE)", long4K, ro(1), Access{User: true, Write: true}, P | W | U, RuleUserWriteReadOnly},
		{"supervisor write to read-only page with WP=1", long4K, ro(2), Access{Write: true}, P | W, RuleWriteReadOnlyWP},
		{"user write to RO page with WP=0 still faults", long4K, func(e *env) { e.clr(3, fRW); e.r.CR0 &^= arch.CR0WP }, Access{User: true, Write: true}, P | W | U, RuleUserWriteReadOnly},
		{"fetch from NX page", long4K, func(e *env) { e.or(3, fXD) }, Access{Fetch: true}, P | ID, RuleNX},
		{"user fetch from NX (XD in PML4E)", long4K, func(e *env) { e.or(0, fXD) }, Access{Fetch: true, User: true}, P | U | ID, RuleNX},
		{"user fetch from supervisor page", long4K, sup(3), Access{Fetch: true, User: true}, P | U | ID, RuleUserFetchSupervisor},
		{"SMEP: supervisor fetch from user page", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMEP }, Access{Fetch: true}, P | ID, RuleSMEP},
		{"SMEP sets I/D even with NXE=0", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMEP; e.r.EFER &^= arch.EFERNXE }, Access{Fetch: true}, P | ID, RuleSMEP},
		{"SMEP under 32-bit paging", legacy4K, func(e *env) { e.r.CR4 |= arch.CR4SMEP }, Access{Fetch: true}, P | ID, RuleSMEP},
		{"SMAP: supervisor read of user page, AC=0", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP }, Access{}, P, RuleSMAP},
		{"SMAP: supervisor write, AC=0", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP }, Access{Write: true}, P | W, RuleSMAP},
		{"SMAP: implicit access faults even with AC=1", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP; e.r.RFLAGSAC = true }, Access{Implicit: true}, P, RuleSMAPImplicit},
		{"SMAP: implicit access at CPL3 (U/S=0 in code)", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP; e.r.RFLAGSAC = true }, Access{Implicit: true, User: true, Write: true}, P | W, RuleSMAPImplicit},
		{"SMAP under PAE", pae4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP }, Access{}, P, RuleSMAP},
		{"SMAP under 32-bit paging", legacy4M, func(e *env) { e.r.CR4 |= arch.CR4SMAP }, Access{Write: true}, P | W, RuleSMAP},
		{"SMAP AC=1 explicit write to RO user page with WP=1", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP; e.r.RFLAGSAC = true; e.clr(3, fRW) }, Access{Write: true}, P | W, RuleWriteReadOnlyWP},
		{"implicit supervisor write to RO page, WP=1", long4K, ro(3), Access{Implicit: true, User: true, Write: true}, P | W, RuleWriteReadOnlyWP},
		{"PAE NX", pae4K, func(e *env) { e.or(0, fXD) }, Access{Fetch: true, User: true}, P | U | ID, RuleNX},
		{"PAE user write to RO", pae2M, ro(0), Access{Write: true, User: true}, P | W | U, RuleUserWriteReadOnly},
		{"32-bit user read of supervisor PDE", legacy4K, sup(0), Access{User: true}, P | U, RuleUserSupervisorPage},
		{"32-bit supervisor write RO PTE WP=1", legacy4K, ro(1), Access{Write: true}, P | W, RuleWriteReadOnlyWP},
		{"32-bit user fetch from supervisor page: no I/D", legacy4K, sup(1), Access{Fetch: true, User: true}, P | U, RuleUserFetchSupervisor},
	})

	// Allowed accesses.
	ok := []struct {
		name string
		env  func() *env
		mod  func(e *env)
		acc  Access
	}{
		{"WP=0 supervisor write to read-only page", long4K, func(e *env) { e.clr(3, fRW); e.r.CR0 &^= arch.CR0WP }, Access{Write: true}},
		{"WP=0 supervisor write to read-only supervisor page", long4K, func(e *env) { e.clr(1, fRW|fUS); e.r.CR0 &^= arch.CR0WP }, Access{Write: true}},
		{"WP=0 32-bit", legacy4K, func(e *env) { e.clr(0, fRW); e.r.CR0 &^= arch.CR0WP }, Access{Write: true}},
		{"supervisor read of supervisor page", long4K, sup(3), Access{}},
		{"supervisor access to user page, SMAP off", long4K, nil, Access{Write: true}},
		{"supervisor fetch from user page, SMEP off", long4K, nil, Access{Fetch: true}},
		{"SMAP with AC=1 explicit", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP; e.r.RFLAGSAC = true }, Access{Write: true}},
		{"SMAP: supervisor page unaffected", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP; e.clr(2, fUS) }, Access{Implicit: true}},
		{"SMAP does not apply to fetches", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMAP }, Access{Fetch: true}},
		{"SMEP: supervisor page fetch", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMEP; e.clr(0, fUS) }, Access{Fetch: true}},
		{"SMEP does not apply to user fetches", long4K, func(e *env) { e.r.CR4 |= arch.CR4SMEP }, Access{Fetch: true, User: true}},
		{"XD does not prevent reads and writes", long4K, func(e *env) { e.or(3, fXD) }, Access{Write: true, User: true}},
		{"32-bit paging has no NX", legacy4K, func(e *env) { e.r.EFER |= arch.EFERNXE }, Access{Fetch: true, User: true}},
		{"read of read-only page", long4K, ro(3), Access{User: true}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			e := c.env()
			if c.mod != nil {
				c.mod(e)
			}
			_, f := Walk(e.m, e.r, e.lin, c.acc)
			assert.Nil(t, f)
		})
	}
}

func TestProtectionKeys(t *testing.T) {
	// Key 5 on the page; PKRU AD5 = bit 10, WD5 = bit 11.
	const ad5, wd5 = 1 << 10, 1 << 11
	pku := func(pkru uint32) func(e *env) {
		return func(e *env) {
			e.r.CR4 |= arch.CR4PKE
			e.r.PKRU = pkru
			e.or(e.leaf(), 5<<59)
		}
	}
	pks := func(pkrs uint32) func(e *env) {
		return func(e *env) {
			e.r.CR4 |= arch.CR4PKS
			e.r.PKRS = pkrs
			e.or(e.leaf(), 5<<59)
			e.clr(0, fUS)
		}
	}
	and := func(a, b func(e *env)) func(e *env) { return func(e *env) { a(e); b(e) } }
	runFaults(t, []faultCase{
		{"user read, AD=1", long4K, pku(ad5), Access{User: true}, P | U | PK, RulePKUAccessDisable},
		{"user write, WD=1", long4K, pku(wd5), Access{User: true, Write: true}, P | W | U | PK, RulePKUWriteDisable},
		{"user write, WD=1, WP=0", long4K, and(pku(wd5), func(e *env) { e.r.CR0 &^= arch.CR0WP }), Access{User: true, Write: true}, P | W | U | PK, RulePKUWriteDisable},
		{"supervisor write, WD=1, WP=1", long4K, pku(wd5), Access{Write: true}, P | W | PK, RulePKUWriteDisable},
		{"supervisor read, AD=1", long2M, pku(ad5), Access{}, P | PK, RulePKUAccessDisable},
		{"implicit read, AD=1 (1G page)", long1G, pku(ad5), Access{Implicit: true, User: true}, P | PK, RulePKUAccessDisable},
		{"5-level user write, AD=1", long5K, pku(ad5), Access{User: true, Write: true}, P | W | U | PK, RulePKUAccessDisable},
		// The PK flag reports the key check even when another rule also fails (SDM 4.7).
		{"user write to RO page with WD=1: PK flag too", long4K, and(pku(wd5), func(e *env) { e.clr(3, fRW) }), Access{User: true, Write: true}, P | W | U | PK, RuleUserWriteReadOnly},
		{"SMAP and AD=1", long4K, and(pku(ad5), func(e *env) { e.r.CR4 |= arch.CR4SMAP }), Access{}, P | PK, RuleSMAP},
		{"PKS supervisor read, AD=1", long4K, pks(ad5), Access{}, P | PK, RulePKSAccessDisable},
		{"PKS supervisor write, WD=1, WP=1", long4K, pks(wd5), Access{Write: true}, P | W | PK, RulePKSWriteDisable},
		{"PKS user access to supervisor page", long4K, pks(ad5), Access{User: true}, P | U | PK, RuleUserSupervisorPage},
	})
	ok := []struct {
		name string
		env  func() *env
		mod  func(e *env)
		acc  Access
	}{
		{"fetch ignores AD", long4K, pku(ad5 | wd5), Access{Fetch: true, User: true}},
		{"read ignores WD", long4K, pku(wd5), Access{User: true}},
		{"supervisor write with WD=1 and WP=0", long4K, and(pku(wd5), func(e *env) { e.r.CR0 &^= arch.CR0WP }), Access{Write: true}},
		{"other key's bits", long4K, pku(^uint32(ad5 | wd5)), Access{User: true, Write: true}},
		{"PKU does not apply to supervisor pages", long4K, and(pku(ad5), func(e *env) { e.clr(1, fUS) }), Access{Write: true}},
		{"PKE=0: key bits ignored", long4K, and(pku(ad5), func(e *env) { e.r.CR4 &^= arch.CR4PKE }), Access{User: true}},
		{"PKS does not apply to user pages", long4K, and(pks(ad5), func(e *env) { e.or(0, fUS) }), Access{}},
		{"PKS WD with WP=0", long4K, and(pks(wd5), func(e *env) { e.r.CR0 &^= arch.CR0WP }), Access{Write: true}},
	}
	for _, c := range ok {
		t.Run(c.name, func(t *testing.T) {
			e := c.env()
			c.mod(e)
			_, f := Walk(e.m, e.r, e.lin, c.acc)
			assert.Nil(t, f)
		})
	}
}

func TestAccessedDirty(t *testing.T) {
	cases := []struct {
		name string
		env  func() *env
		is32 bool
	}{
		{"4-level 4K", long4K, false},
		{"4-level 2M", long2M, false},
		{"4-level 1G", long1G, false},
		{"5-level 4K", long5K, false},
		{"PAE 4K", pae4K, false},
		{"PAE 2M", pae2M, false},
		{"32-bit 4K", legacy4K, true},
		{"32-bit 4M", legacy4M, true},
	}
	get := func(e *env, i int, is32 bool) uint64 {
		if is32 {
			v, _ := e.m.ReadPhys32(e.addrs[i])
			return uint64(v)
		}
		v, _ := e.m.ReadPhys64(e.addrs[i])
		return v
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := c.env()
			var pdpt map[uint64]uint64
			if e.r.Mode() == ModePAE {
				pdpt = map[uint64]uint64{e.r.CR3 + 16: e.m.q[e.r.CR3+16]}
			}

			// A read sets A in every entry used, D nowhere.
			tr, f := Walk(e.m, e.r, e.lin, Access{})
			require.Nil(t, f)
			assert.False(t, tr.Dirty)
			for i := range e.addrs {
				assert.NotZero(t, get(e, i, c.is32)&fA, "A in entry %d", i)
				assert.Zero(t, get(e, i, c.is32)&fD, "D in entry %d", i)
			}
			n := len(e.addrs)
			assert.Equal(t, n, e.m.writes)

			// Flags are sticky: a second read writes nothing.
			e.m.writes = 0
			_, f = Walk(e.m, e.r, e.lin, Access{User: true})
			require.Nil(t, f)
			assert.Equal(t, 0, e.m.writes)

			// A write sets D in the mapping entry only.
			tr, f = Walk(e.m, e.r, e.lin, Access{Write: true})
			require.Nil(t, f)
			assert.True(t, tr.Dirty)
			assert.Equal(t, 1, e.m.writes)
			for i := range e.addrs {
				assert.Equal(t, i == n-1, get(e, i, c.is32)&fD != 0, "D in entry %d", i)
			}
			// The next read reports Dirty from memory.
			tr, f = Walk(e.m, e.r, e.lin, Access{})
			require.Nil(t, f)
			assert.True(t, tr.Dirty)

			// PAE PDPTEs have no A flag; memory is never written.
			for pa, v := range pdpt {
				assert.Equal(t, v, e.m.q[pa])
			}
		})
	}

	// Faulting accesses set nothing (also covered by runFaults); here the
	// fault is in the mapping entry after upper levels were read.
	e := long4K()
	e.clr(3, fRW)
	before := e.m.snapshot()
	_, f := Walk(e.m, e.r, e.lin, Access{Write: true})
	require.NotNil(t, f)
	assert.Equal(t, before, e.m.q)
}

func TestADSharedEntryAliasing(t *testing.T) {
	// A self-referencing PML4 slot is used as PML4E and PDPTE; the locked
	// read-modify-write model keeps both updates.
	e := long4K()
	self := e.r.CR3 + 3*8
	e.m.q[self] = e.r.CR3 | all // PML4[3] -> PML4 itself
	// PDPT index 5 of the PML4 page now serves as the PDPTE.
	e.m.q[e.r.CR3+5*8] = 0x12000 | all
	e.m.q[0x12000+7*8] = 0x13000 | all
	e.m.q[0x13000+9*8] = 0x9000 | all
	tr, f := Walk(e.m, e.r, e.lin, Access{Write: true})
	require.Nil(t, f)
	assert.Equal(t, uint64(0x9000), tr.PhysPage)
	assert.Equal(t, e.r.CR3|all|fA, e.m.q[self])
	assert.Equal(t, uint64(0x9000|all|fA|fD), e.m.q[0x13000+9*8])
}

func TestCheckOnCachedTranslation(t *testing.T) {
	e := long4K()
	e.clr(3, fRW)
	e.r.CR0 &^= arch.CR0WP
	tr, f := Walk(e.m, e.r, e.lin, Access{Write: true})
	require.Nil(t, f)
	assert.True(t, tr.Dirty)
	assert.Nil(t, tr.Check(e.r, e.lin, Access{Write: true}))
	e.r.CR0 |= arch.CR0WP
	f = tr.Check(e.r, e.lin+1, Access{Write: true})
	require.NotNil(t, f)
	assert.Equal(t, uint32(P|W), f.Code)
	assert.Equal(t, e.lin+1, f.Addr)
	assert.Equal(t, SDMRights, f.SDM)
	assert.Contains(t, f.Error(), "#PF(0x3)")
}

func TestLoadPDPTEs(t *testing.T) {
	cases := []struct {
		name  string
		entry uint64
		max   uint
		rule  string
	}{
		{"bit 1", 0x1000 | fP | fRW, 36, "PDPTE 1 has P=1 and reserved bit 1 set"},
		{"bit 2", 0x1000 | fP | fUS, 36, "PDPTE 1 has P=1 and reserved bit 2 set"},
		{"bit 5", 0x1000 | fP | fA, 36, "PDPTE 1 has P=1 and reserved bit 5 set"},
		{"bit 8", 0x1000 | fP | fG, 36, "PDPTE 1 has P=1 and reserved bit 8 set"},
		{"bit 63 (no XD in PDPTEs)", 0x1000 | fP | fXD, 52, "PDPTE 1 has P=1 and reserved bit 63 set"},
		{"above MAXPHYADDR", 1<<40 | fP, 40, "PDPTE 1 has P=1 and reserved bit 40 set"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			m := newMem()
			r := &Regs{CR3: 0xABC0, MaxPhysAddr: c.max}
			m.q[0xABC0] = 0x2000 | fP
			m.q[0xABC8] = c.entry
			got, f, _ := LoadPDPTEs(m, r)
			require.NotNil(t, f)
			assert.Equal(t, uint8(arch.VecGP), f.Vector)
			assert.True(t, f.HasError)
			assert.Equal(t, uint32(0), f.Code)
			assert.Equal(t, c.rule, f.Rule)
			assert.Equal(t, SDMPDPTELoad, f.SDM)
			assert.Equal(t, [4]uint64{}, got)
		})
	}

	// Valid: P=0 entries may hold anything; PWT/PCD and ignored bits 11:9 are fine.
	m := newMem()
	r := &Regs{CR3: 0xFFFFFFFF_0000ABE0 &^ 0x1F, MaxPhysAddr: 36}
	base := uint64(0xABE0) // CR3 bits 63:32 are not used by PAE paging
	m.q[base] = 0x1000 | fP | fPWT | fPCD | 7<<9
	m.q[base+8] = ^uint64(0) &^ fP
	m.q[base+16] = 0xF_FFFFF000 | fP
	got, f, _ := LoadPDPTEs(m, r)
	require.Nil(t, f)
	assert.Equal(t, [4]uint64{m.q[base], m.q[base+8], m.q[base+16], 0}, got)
	assert.Equal(t, 0, m.writes)
}

func BenchmarkWalk4Level(b *testing.B) {
	e := newLong(4, 4<<10, 0x5000)
	acc := Access{Write: true, User: true}
	b.ReportAllocs()
	for b.Loop() {
		if _, f := Walk(e.m, e.r, e.lin, acc); f != nil {
			b.Fatal(f)
		}
	}
}

// TestRefusedAccess: a paging-structure access that PhysMem refuses (as
// EPT does with a violation on a guest paging-structure entry, SDM Vol. 3C
// 29.3.3) stops the walk at once: no fault, no translation, and no entry
// after the refused one is read or written.
func TestRefusedAccess(t *testing.T) {
	builders := []struct {
		name string
		env  func() *env
	}{
		{"4-level 4K", func() *env { return newLong(4, 4<<10, 0x5000) }},
		{"5-level 4K", func() *env { return newLong(5, 4<<10, 0x5000) }},
		{"4-level 2M", func() *env { return newLong(4, 2<<20, 0x400000) }},
		{"PAE 4K", func() *env { return newPAE(4<<10, 0x5000) }},
		{"32-bit 4K", legacy4K},
		{"32-bit 4M", legacy4M},
	}
	for _, b := range builders {
		for level := range b.env().addrs {
			for _, writeOnly := range []bool{false, true} {
				name := fmt.Sprintf("%s/entry %d/%s", b.name, level, map[bool]string{false: "read", true: "A/D write"}[writeOnly])
				t.Run(name, func(t *testing.T) {
					e := b.env()
					a := e.addrs[level] &^ 7
					if writeOnly {
						e.m.readOnly = map[uint64]bool{a: true}
					} else {
						e.m.refuse = map[uint64]bool{a: true}
					}
					before := e.m.snapshot()
					tr, f := Walk(e.m, e.r, e.lin, Access{Write: true})
					assert.Nil(t, f, "a refused access is not a guest fault")
					assert.True(t, tr.Refused)
					assert.Zero(t, tr.PhysPage)
					if !writeOnly {
						// Reads stop at the refused entry: the entries
						// below it were not used, nothing was written.
						assert.Equal(t, before, e.m.snapshot())
					}
				})
			}
		}
	}
	// LoadPDPTEs reports a refused read with ok=false and no fault.
	e := newPAE(4<<10, 0x5000)
	e.m.refuse = map[uint64]bool{e.r.CR3 &^ 31: true}
	_, f, ok := LoadPDPTEs(e.m, e.r)
	assert.Nil(t, f)
	assert.False(t, ok)
}

// TestFaultRuleTexts: the rule texts of the structural faults, taken from
// constant tables, are the documented formats for every level and bit
// (rules.go): "<ENTRY> not present (P=0)" and "reserved bit <n> set in
// <ENTRY>" with n the highest reserved bit set.
func TestFaultRuleTexts(t *testing.T) {
	names := map[int]string{1: "PTE", 2: "PDE", 3: "PDPTE", 4: "PML4E", 5: "PML5E"}
	for level, name := range names {
		assert.Equal(t, name+" not present (P=0)", notPresentRule(level), "level %d", level)
		for b := range 64 {
			want := fmt.Sprintf("reserved bit %d set in %s", b, name)
			assert.Equal(t, want, reservedRule(1<<b, level), "level %d bit %d", level, b)
			assert.Equal(t, want, reservedRule(1<<b|1, level), "level %d bits %d and 0", level, b)
		}
	}
}

// TestWalkToAllocs: a faulting walk through WalkTo allocates nothing.
func TestWalkToAllocs(t *testing.T) {
	e := long4K()
	e.or(3, 1<<46)
	var f arch.Fault
	allocs := testing.AllocsPerRun(100, func() {
		_, faulted := WalkTo(e.m, e.r, e.lin, Access{User: true}, &f)
		require.True(t, faulted)
	})
	require.Zero(t, allocs)
	require.Equal(t, "reserved bit 46 set in PTE", f.Rule)
}

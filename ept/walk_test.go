package ept

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mem is sparse host-physical memory of 8-byte entries.
type mem map[uint64]uint64

func (m mem) ReadPhys64(a uint64) (uint64, bool) {
	if a>>40 != 0 {
		return 0, false
	}
	return m[a], true
}
func (m mem) WritePhys64(a uint64, v uint64) bool { m[a] = v; return true }

// Capability values of real processors (IA32_VMX_EPT_VPID_CAP, from the
// reference dumps in ../shared/reference/cpus: sandy-bridge-ep_xeon-e5-ES
// and skylake-sp_xeon-platinum-8160): Sandy Bridge EP has no A/D flags,
// Skylake SP has them.
const (
	capSandyBridge = 0x00000F0106134141
	capSkylake     = 0x00000F0106734141
)

var (
	snb = Caps{MSR: capSandyBridge, MaxPhysAddr: 46}
	skl = Caps{MSR: capSkylake, MaxPhysAddr: 46}
)

func TestCapsDecode(t *testing.T) {
	// SDM Vol. 3D A.10 bit positions.
	assert.True(t, snb.Has(CapExecOnly|CapWalk4|CapUC|CapWB|Cap2M|CapINVEPT|CapINVEPTSingle|CapINVEPTAll))
	assert.True(t, snb.Has(Cap1G))
	assert.False(t, snb.Has(CapAD))
	assert.False(t, snb.Has(CapWalk5))
	assert.True(t, skl.Has(Cap1G|CapAD))
	for typ, want := range map[uint64]bool{0: false, 1: true, 2: true, 3: false} {
		assert.Equal(t, want, snb.INVEPTType(typ), "INVEPT type %d", typ)
	}
	for typ, want := range map[uint64]bool{0: true, 1: true, 2: true, 3: true, 4: false} {
		assert.Equal(t, want, snb.INVVPIDType(typ), "INVVPID type %d", typ)
	}
	assert.False(t, Caps{MSR: CapINVVPID | CapINVVPIDSingle}.INVVPIDType(0))
}

func TestCheckEPTP(t *testing.T) {
	// EPTP layout: SDM Vol. 3C 25.6.11; checks 27.2.1.1.
	noUC := Caps{MSR: capSandyBridge &^ CapUC, MaxPhysAddr: 36}
	five := Caps{MSR: capSkylake | CapWalk5, MaxPhysAddr: 46}
	cases := []struct {
		name string
		c    Caps
		eptp uint64
		want string // substring of the reason; "" = valid
	}{
		{"WB 4-level", snb, 0x1000 | 3<<3 | 6, ""},
		{"UC 4-level", snb, 0x1000 | 3<<3, ""}, // memory type 0
		{"UC not allowed", noUC, 0x1000 | 3<<3, "bit 8"},
		{"memory type 1", snb, 0x1000 | 3<<3 | 1, "are 1"},
		{"memory type 4", snb, 0x1000 | 3<<3 | 4, "are 4"},
		{"memory type 7", snb, 0x1000 | 3<<3 | 7, "are 7"},
		{"walk length 3", snb, 0x1000 | 2<<3 | 6, "length of 3"},
		{"walk length 5 not allowed", snb, 0x1000 | 4<<3 | 6, "bit 7"},
		{"walk length 5 allowed", five, 0x1000 | 4<<3 | 6, ""},
		{"walk length 8", skl, 0x1000 | 7<<3 | 6, "length of 8"},
		{"A/D without capability", snb, 0x1000 | 3<<3 | 6 | 1<<6, "bit 21"},
		{"A/D with capability", skl, 0x1000 | 3<<3 | 6 | 1<<6, ""},
		{"bit 7 reserved", skl, 0x1000 | 3<<3 | 6 | 1<<7, "11:7"},
		{"bit 11 reserved", skl, 0x1000 | 3<<3 | 6 | 1<<11, "11:7"},
		{"beyond MAXPHYADDR 36", noUC, 1<<36 | 3<<3 | 6, "63:36"},
		{"bit 45 within 46", skl, 1<<45 | 3<<3 | 6, ""},
		{"bit 46 beyond 46", skl, 1<<46 | 3<<3 | 6, "63:46"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := tc.c.CheckEPTP(tc.eptp)
			if tc.want == "" {
				assert.Empty(t, got)
				return
			}
			assert.Contains(t, got, tc.want)
			// The caller cites the section of its check (27.2.1.1 at VM
			// entry, INVEPT's page for INVEPT), so the rule carries none.
			assert.NotContains(t, got, "SDM")
		})
	}
}

// tables builds a 4-level identity-style hierarchy for one guest page:
// PML4 at 0x1000, PDPT at 0x2000, PD at 0x3000, PT at 0x4000; the gpa
// 0x40201000 + offsets (PML4 index 0, PDPT index 1, PD index 1, PT index
// 1) maps to host page 0x9000 with the given leaf bits.
const (
	pml4 = 0x1000
	pdpt = 0x2000
	pd   = 0x3000
	pt   = 0x4000
	gpa0 = 1<<30 | 1<<21 | 1<<12
	eptp = pml4 | 3<<3 | 6
)

func tables(leaf uint64) mem {
	return mem{
		pml4 + 0*8: pdpt | 7,
		pdpt + 1*8: pd | 7,
		pd + 1*8:   pt | 7,
		pt + 1*8:   0x9000 | leaf,
	}
}

func TestWalkPermissions(t *testing.T) {
	rd, wr, fx := Access{LinearValid: true}, Access{Write: true, LinearValid: true}, Access{Fetch: true, LinearValid: true}
	const wb = 6 << 3
	cases := []struct {
		name string
		c    Caps
		leaf uint64
		acc  Access
		kind Kind
		qual uint64 // Table 28-7
	}{
		{"read of RWX", snb, 7 | wb, rd, OK, 0},
		{"write of R", snb, 1 | wb, wr, Violation, QualWrite | QualReadable | QualLinearValid | QualTranslation},
		{"fetch of RW", snb, 3 | wb, fx, Violation, QualFetch | QualReadable | QualWritable | QualLinearValid | QualTranslation},
		{"read of X (execute-only allowed)", snb, 4 | wb, rd, Violation, QualRead | QualExecutable | QualLinearValid | QualTranslation},
		{"fetch of X", snb, 4 | wb, fx, OK, 0},
		{"read of not present", snb, 0, rd, Violation, QualRead | QualLinearValid | QualTranslation},
		{"write of RX", snb, 5 | wb, wr, Violation, QualWrite | QualReadable | QualExecutable | QualLinearValid | QualTranslation},
		{"write of W only: misconfigured", snb, 2 | wb, wr, Misconfigured, 0},
		{"WX: misconfigured", snb, 6 | wb, rd, Misconfigured, 0},
		{"X without execute-only capability", Caps{MSR: capSandyBridge &^ CapExecOnly, MaxPhysAddr: 46}, 4 | wb, fx, Misconfigured, 0},
		{"memory type 2", snb, 7 | 2<<3, rd, Misconfigured, 0},
		{"memory type 3", snb, 7 | 3<<3, rd, Misconfigured, 0},
		{"memory type 7", snb, 7 | 7<<3, rd, Misconfigured, 0},
		{"memory type 0 (UC)", snb, 7, rd, OK, 0},
		{"reserved bit 46", snb, 7 | wb | 1<<46, rd, Misconfigured, 0},
		{"bit 51 reserved", snb, 7 | wb | 1<<51, rd, Misconfigured, 0},
		{"bits 63:52 ignored", snb, 7 | wb | 0xFFF<<52, rd, OK, 0},
		{"bits 11:10 ignored", snb, 7 | wb | 3<<10, rd, OK, 0},
		{"paging read, no linear", snb, 4 | wb, Access{Paging: true}, Violation, QualRead | QualExecutable},
		{"paging read", snb, 4 | wb, Access{Paging: true, LinearValid: true}, Violation, QualRead | QualExecutable | QualLinearValid},
		{"paging A/D write of R", snb, 1 | wb, Access{Paging: true, Write: true, LinearValid: true}, Violation, QualRead | QualWrite | QualReadable | QualLinearValid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := tables(tc.leaf)
			r := Walk(m, tc.c, eptp, gpa0|0x123, tc.acc)
			require.Equal(t, tc.kind, r.Kind, r.Why)
			assert.Equal(t, tc.qual, r.Qualification)
			if tc.kind == OK {
				assert.Equal(t, uint64(0x9123), r.HPA)
				assert.Equal(t, uint64(4096), r.PageSize)
				assert.Equal(t, uint8(tc.leaf>>3&7), r.MemType)
			}
			if tc.kind != OK {
				assert.Equal(t, 1, r.Level)
				assert.Equal(t, uint64(pt+8), r.EntryAddr)
				assert.NotEmpty(t, r.Why)
			}
		})
	}
}

func TestWalkUpperLevels(t *testing.T) {
	rd := Access{LinearValid: true}
	// Permissions AND across levels (29.3.3.2): a read-only PDE makes the
	// page read-only.
	m := tables(7 | 6<<3)
	m[pd+8] = pt | 1
	r := Walk(m, snb, eptp, gpa0, Access{Write: true, LinearValid: true})
	require.Equal(t, Violation, r.Kind)
	assert.Equal(t, uint64(QualWrite|QualReadable|QualLinearValid|QualTranslation), r.Qualification)
	// A not-present PDPTE: bits 5:3 are 0, the level is 3.
	m = tables(7 | 6<<3)
	m[pdpt+8] = 0
	r = Walk(m, snb, eptp, gpa0, rd)
	require.Equal(t, Violation, r.Kind)
	assert.Equal(t, 3, r.Level)
	assert.Equal(t, uint64(QualRead|QualLinearValid|QualTranslation), r.Qualification)
	// Reserved bits 7:3 of a PML4E.
	for _, b := range []uint{3, 4, 5, 6, 7} {
		m = tables(7 | 6<<3)
		m[pml4] |= 1 << b
		assert.Equal(t, Misconfigured, Walk(m, snb, eptp, gpa0, rd).Kind, "PML4E bit %d", b)
	}
	// Reserved bits 6:3 of a non-leaf PDE and PDPTE.
	for _, b := range []uint{3, 4, 5, 6} {
		m = tables(7 | 6<<3)
		m[pd+8] |= 1 << b
		assert.Equal(t, Misconfigured, Walk(m, snb, eptp, gpa0, rd).Kind, "PDE bit %d", b)
		m = tables(7 | 6<<3)
		m[pdpt+8] |= 1 << b
		assert.Equal(t, Misconfigured, Walk(m, snb, eptp, gpa0, rd).Kind, "PDPTE bit %d", b)
	}
	// A misconfiguration wins over a not-executable upper level.
	m = tables(2 | 6<<3)
	m[pml4] = pdpt | 1
	assert.Equal(t, Misconfigured, Walk(m, snb, eptp, gpa0, Access{Fetch: true}).Kind)
	// Beyond the 48 bits of a 4-level EPT: a violation with nothing readable.
	r = Walk(tables(7|6<<3), Caps{MSR: capSkylake, MaxPhysAddr: 52}, eptp, 1<<48|gpa0, rd)
	require.Equal(t, Violation, r.Kind)
	assert.Equal(t, uint64(QualRead|QualLinearValid|QualTranslation), r.Qualification)
}

func TestWalkLargePages(t *testing.T) {
	rd := Access{LinearValid: true}
	// 2-MiB page: PDE bit 7, address bits 51:21 (Table 29-4).
	m := tables(0)
	m[pd+8] = 0x4000_0000 | 1<<7 | 7 | 6<<3 | 1<<6
	r := Walk(m, snb, eptp, gpa0|0x123, rd)
	require.Equal(t, OK, r.Kind, r.Why)
	assert.Equal(t, uint64(0x4000_0000|1<<12|0x123), r.HPA)
	assert.Equal(t, uint64(2<<20), r.PageSize)
	assert.True(t, r.IgnorePAT)
	assert.Equal(t, uint8(6), r.MemType)
	// Bits 20:12 of a 2-MiB PDE are reserved.
	m[pd+8] |= 1 << 12
	assert.Equal(t, Misconfigured, Walk(m, snb, eptp, gpa0, rd).Kind)
	// Without the 2-MiB capability, bit 7 of a PDE is reserved.
	m[pd+8] &^= 1 << 12
	assert.Equal(t, Misconfigured, Walk(m, Caps{MSR: capSandyBridge &^ Cap2M, MaxPhysAddr: 46}, eptp, gpa0, rd).Kind)
	// 1-GiB page: PDPTE bit 7, reserved without IA32_VMX_EPT_VPID_CAP
	// bit 17.
	m = tables(0)
	m[pdpt+8] = 0x80_0000_0000 | 1<<7 | 7 | 6<<3
	assert.Equal(t, Misconfigured, Walk(m, Caps{MSR: capSkylake &^ Cap1G, MaxPhysAddr: 46}, eptp, gpa0, rd).Kind)
	r = Walk(m, skl, eptp, gpa0|0x5, rd)
	require.Equal(t, OK, r.Kind, r.Why)
	assert.Equal(t, uint64(0x80_0000_0000|1<<21|1<<12|5), r.HPA)
	assert.Equal(t, uint64(1<<30), r.PageSize)
	m[pdpt+8] |= 1 << 29 // bits 29:12 reserved
	assert.Equal(t, Misconfigured, Walk(m, skl, eptp, gpa0, rd).Kind)
	// Bit 7 of a PML4E is reserved.
	m = tables(7 | 6<<3)
	m[pml4] |= 1 << 7
	assert.Equal(t, Misconfigured, Walk(m, skl, eptp, gpa0, rd).Kind)
}

func TestWalkFiveLevel(t *testing.T) {
	c := Caps{MSR: capSkylake | CapWalk5, MaxPhysAddr: 52}
	m := tables(7 | 6<<3)
	// PML5 at 0x5000, index 1 (gpa bit 48) → the PML4 at 0x1000.
	m[0x5000+8] = pml4 | 7
	r := Walk(m, c, 0x5000|4<<3|6, 1<<48|gpa0|0x10, Access{})
	require.Equal(t, OK, r.Kind, r.Why)
	assert.Equal(t, uint64(0x9010), r.HPA)
	// PML5E reserved bits 7:3.
	m[0x5000+8] |= 1 << 7
	assert.Equal(t, Misconfigured, Walk(m, c, 0x5000|4<<3|6, 1<<48|gpa0, Access{}).Kind)
}

func TestWalkAccessedDirty(t *testing.T) {
	const ad = eptp | EPTPAD
	// 29.3.5: accessed on every entry used, dirty on the leaf of a write.
	m := tables(7 | 6<<3)
	r := Walk(m, skl, ad, gpa0, Access{})
	require.Equal(t, OK, r.Kind)
	for _, a := range []uint64{pml4, pdpt + 8, pd + 8, pt + 8} {
		assert.NotZero(t, m[a]&entAccessed, "A at %#x", a)
		assert.Zero(t, m[a]&entDirty, "D at %#x", a)
	}
	Walk(m, skl, ad, gpa0, Access{Write: true})
	assert.NotZero(t, m[pt+8]&entDirty)
	assert.Zero(t, m[pd+8]&entDirty)
	// A guest paging-structure read counts as a write: dirty set, and on
	// a read-only page an EPT violation with bits 0 and 1 (Table 28-7
	// note 1).
	m = tables(7 | 6<<3)
	Walk(m, skl, ad, gpa0, Access{Paging: true})
	assert.NotZero(t, m[pt+8]&entDirty)
	m = tables(1 | 6<<3)
	r = Walk(m, skl, ad, gpa0, Access{Paging: true, LinearValid: true})
	require.Equal(t, Violation, r.Kind)
	assert.Equal(t, uint64(QualRead|QualWrite|QualReadable|QualLinearValid), r.Qualification)
	assert.Zero(t, m[pt+8]&entAccessed, "no flags on a violation")
	// Without EPTP bit 6 nothing is written.
	m = tables(7 | 6<<3)
	Walk(m, skl, eptp, gpa0, Access{Write: true})
	assert.Zero(t, m[pt+8]&(entAccessed|entDirty))
	assert.Zero(t, m[pml4]&entAccessed)
}

func TestExplain(t *testing.T) {
	m := tables(1 | 6<<3)
	steps, r := Explain(m, skl, eptp|EPTPAD, gpa0|0x10, Access{Write: true, LinearValid: true})
	require.Equal(t, Violation, r.Kind)
	require.Len(t, steps, 4)
	for i, want := range []struct {
		name string
		addr uint64
		idx  uint64
	}{{"PML4E", pml4, 0}, {"PDPTE", pdpt + 8, 1}, {"PDE", pd + 8, 1}, {"PTE", pt + 8, 1}} {
		assert.Equal(t, want.name, steps[i].Name)
		assert.Equal(t, want.addr, steps[i].Addr)
		assert.Equal(t, want.idx, steps[i].Index)
	}
	assert.True(t, steps[3].Leaf)
	assert.Equal(t, uint8(1), steps[3].Perm)
	assert.Contains(t, steps[3].String(), "read")
	assert.Zero(t, m[pml4]&entAccessed, "no side effects")
	// A not-present PDE ends the list there.
	m = tables(7 | 6<<3)
	m[pd+8] = 0
	steps, r = Explain(m, snb, eptp, gpa0, Access{})
	assert.Equal(t, Violation, r.Kind)
	assert.Len(t, steps, 3)
	// Beyond the walk's width nothing is read.
	steps, _ = Explain(m, Caps{MSR: capSkylake, MaxPhysAddr: 52}, eptp, 1<<50, Access{})
	assert.Empty(t, steps)
}

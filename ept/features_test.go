package ept

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestWalkPMLLogFull: with "enable PML" and a PML index outside 0-511
// (Controls.LogFull), a walk that would set an EPT accessed or dirty flag
// is a page-modification log-full event with no flag set (SDM Vol. 3C
// 29.3.6); one that sets none goes ahead; Dirtied reports a dirty flag
// changed from 0 to 1 (what the log records).
func TestWalkPMLLogFull(t *testing.T) {
	const ad = eptp | EPTPAD
	full := Controls{LogFull: true}
	wr := Access{Write: true, LinearValid: true}
	for _, tc := range []struct {
		name    string
		ctl     Controls
		eptp    uint64
		a       Access
		pre     func(m mem) // flags already set
		kind    Kind
		dirtied bool
	}{
		{"write sets A and D, log has room", Controls{}, ad, wr, nil, OK, true},
		{"read sets A only", Controls{}, ad, Access{}, nil, OK, false},
		{"write, log full", full, ad, wr, nil, LogFull, false},
		{"read, log full: setting A is enough", full, ad, Access{}, nil, LogFull, false},
		{"write, log full, A and D already set", full, ad, wr, func(m mem) {
			for _, a := range []uint64{pml4, pdpt + 8, pd + 8} {
				m[a] |= entAccessed
			}
			m[pt+8] |= entAccessed | entDirty
		}, OK, false},
		{"read, log full, D clear but A set everywhere", full, ad, Access{}, func(m mem) {
			for _, a := range []uint64{pml4, pdpt + 8, pd + 8, pt + 8} {
				m[a] |= entAccessed
			}
		}, OK, false},
		{"write again with D set: nothing to log", Controls{}, ad, wr, func(m mem) { m[pt+8] |= entDirty }, OK, false},
		{"guest paging-structure access is a write for A/D", Controls{}, ad, Access{Paging: true, LinearValid: true}, nil, OK, true},
		{"no EPT A/D: no flags, no log-full event", full, eptp, wr, nil, OK, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tables(7 | 6<<3)
			if tc.pre != nil {
				tc.pre(m)
			}
			before := map[uint64]uint64{}
			for k, v := range m {
				before[k] = v
			}
			r := WalkCtl(m, skl, tc.ctl, tc.eptp, gpa0, tc.a)
			require.Equal(t, tc.kind, r.Kind, r.Why)
			assert.Equal(t, tc.dirtied, r.Dirtied)
			if tc.kind == LogFull {
				assert.Equal(t, before, map[uint64]uint64(m), "no flag set on a log-full event")
				assert.Contains(t, r.Why, "29.3.6")
				assert.Zero(t, r.HPA)
			}
		})
	}
}

// TestWalkMBEC: mode-based execute control (SDM Vol. 3C 29.3.2,
// 29.3.3): bit 10 allows fetches from user-mode linear addresses, bit 2
// from supervisor-mode ones; an entry with only bit 10 is present (and
// execute-only, a misconfiguration without IA32_VMX_EPT_VPID_CAP bit 0);
// qualification bit 6 is the AND of bit 10 (Table 28-7).
func TestWalkMBEC(t *testing.T) {
	mbec := Controls{MBEC: true}
	sup := Access{Fetch: true, LinearValid: true}
	usr := Access{Fetch: true, LinearValid: true, User: true}
	noXO := Caps{MSR: capSkylake &^ CapExecOnly, MaxPhysAddr: 46}
	const wb = 6 << 3
	for _, tc := range []struct {
		name string
		c    Caps
		ctl  Controls
		leaf uint64
		a    Access
		kind Kind
		qual uint64
	}{
		{"XS only, supervisor fetch", skl, mbec, 1 | entX | wb, sup, OK, 0},
		{"XS only, user fetch", skl, mbec, 1 | entX | wb, usr, Violation,
			QualFetch | QualReadable | QualExecutable | QualLinearValid | QualTranslation},
		{"XU only, user fetch", skl, mbec, 1 | entXU | wb, usr, OK, 0},
		{"XU only, supervisor fetch", skl, mbec, 1 | entXU | wb, sup, Violation,
			QualFetch | QualReadable | QualUserExec | QualLinearValid | QualTranslation},
		{"without MBEC bit 10 is ignored: user fetch needs bit 2", skl, Controls{}, 1 | entXU | wb, usr, Violation,
			QualFetch | QualReadable | QualLinearValid | QualTranslation},
		{"without MBEC bit 2 serves user fetches", skl, Controls{}, 1 | entX | wb, usr, OK, 0},
		{"bit 10 alone is present under MBEC (execute-only allowed)", skl, mbec, entXU | wb, usr, OK, 0},
		{"bit 10 alone is not present without MBEC", skl, Controls{}, entXU | wb, usr, Violation,
			QualFetch | QualLinearValid | QualTranslation},
		{"bit 10 alone without execute-only capability", noXO, mbec, entXU | wb, usr, Misconfigured, 0},
		{"reads unaffected", skl, mbec, 1 | entXU | wb, Access{LinearValid: true}, OK, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tables(tc.leaf)
			// Upper levels allow everything, bit 10 included.
			for _, a := range []uint64{pml4, pdpt + 8, pd + 8} {
				m[a] |= entXU
			}
			r := WalkCtl(m, tc.c, tc.ctl, eptp, gpa0, tc.a)
			require.Equal(t, tc.kind, r.Kind, r.Why)
			if tc.kind == Violation {
				assert.Equal(t, tc.qual, r.Qualification, QualificationString(r.Qualification))
			}
		})
	}
	// The AND of bit 10 over the path: a PDE without it denies user
	// fetches from the whole 2-MiB region.
	m := tables(1 | entX | entXU | wb)
	m[pml4] |= entXU
	m[pdpt+8] |= entXU
	r := WalkCtl(m, skl, mbec, eptp, gpa0, usr)
	require.Equal(t, Violation, r.Kind)
	assert.Zero(t, r.Qualification&QualUserExec)
	assert.NotZero(t, r.Qualification&QualExecutable)
}

// TestConvertible: bit 63 of the entry that decides an EPT violation
// says whether it may become a #VE (SDM Vol. 3C 26.5.6.1): the
// not-present entry, or the leaf; bit 63 of a non-leaf entry above a
// leaf does not count.
func TestConvertible(t *testing.T) {
	rd := Access{LinearValid: true}
	wr := Access{Write: true, LinearValid: true}
	m := tables(1 | 6<<3)
	assert.True(t, Walk(m, skl, eptp, gpa0, wr).Convertible(), "read-only leaf, bit 63 clear")
	m[pt+8] |= EntrySuppressVE
	assert.False(t, Walk(m, skl, eptp, gpa0, wr).Convertible(), "leaf suppresses #VE")
	m = tables(1 | 6<<3)
	m[pd+8] |= EntrySuppressVE
	assert.True(t, Walk(m, skl, eptp, gpa0, wr).Convertible(), "a non-leaf entry's bit 63 is not used")
	m = tables(7 | 6<<3)
	m[pd+8] = EntrySuppressVE // not present, suppress #VE
	assert.False(t, Walk(m, skl, eptp, gpa0, rd).Convertible())
	m[pd+8] = 0
	assert.True(t, Walk(m, skl, eptp, gpa0, rd).Convertible())
	assert.False(t, Walk(m, skl, eptp, gpa0|1<<50, rd).Convertible(), "beyond the walk's width: no entry decides")
	m = tables(7 | 6<<3)
	assert.False(t, Walk(m, skl, eptp, gpa0, rd).Convertible(), "not a violation")
	steps, _ := Explain(m, skl, eptp, gpa0, rd)
	assert.NotContains(t, steps[3].String(), "suppress-#VE")
	m[pt+8] |= EntrySuppressVE
	steps, _ = Explain(m, skl, eptp, gpa0, rd)
	assert.Contains(t, steps[3].String(), "suppress-#VE")
}

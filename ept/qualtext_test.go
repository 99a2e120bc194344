package ept

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

// TestQualificationString: qualifications built bit by bit from SDM
// Vol. 3C Table 28-7 (numeric literals, not the package's constants).
func TestQualificationString(t *testing.T) {
	for _, tc := range []struct {
		name string
		q    uint64
		want string
	}{
		{"write to a read-only page, translation", 1<<1 | 1<<3 | 1<<7 | 1<<8,
			"access write; entry read; guest-linear address valid, translation"},
		{"fetch from a not-present page, user rw nx", 1<<2 | 1<<7 | 1<<8 | 1<<9 | 1<<10 | 1<<11,
			"access fetch; entry no access; guest-linear address valid, translation; linear address user-mode, read/write, execute-disable"},
		{"write, supervisor read/write linear address", 1<<1 | 1<<3 | 1<<5 | 1<<7 | 1<<8 | 1<<10,
			"access write; entry read+execute; guest-linear address valid, translation; linear address read/write"},
		{"guest paging-structure read", 1<<0 | 1<<7,
			"access read; entry no access; guest-linear address valid, paging-structure entry"},
		{"read+write (A/D update), no linear address", 1<<0 | 1<<1 | 1<<3 | 1<<5,
			"access read+write; entry read+execute; no guest-linear address"},
		{"MBEC: supervisor-only executable page, user-mode fetch", 1<<2 | 1<<3 | 1<<5 | 1<<7 | 1<<8 | 1<<9,
			"access fetch; entry read+execute; guest-linear address valid, translation; linear address user-mode"},
		{"MBEC: user-only executable page, supervisor fetch", 1<<2 | 1<<3 | 1<<6 | 1<<7 | 1<<8,
			"access fetch; entry read+user-execute; guest-linear address valid, translation"},
		{"NMI unblocking", 1<<0 | 1<<12,
			"access read; entry no access; no guest-linear address; NMI unblocking due to IRET"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, QualificationString(tc.q))
		})
	}
}

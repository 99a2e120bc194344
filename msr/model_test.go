package msr

import (
	"bytes"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const tinyModel = `# a test model
model tiny
description a tiny test CPU
source typed in by hand
cpuid 0 0 0000000D 756E6547 6C65746E 49656E69
cpuid 1 0 000206D5 00000800 00000020 00000000
cpuid 4 1 1 2 3 4
msr 480 00DA040000000010
msr 0x491 1 assumed for the test
`

func TestParseModelRoundTrip(t *testing.T) {
	m, err := ParseModel(strings.NewReader(tinyModel))
	require.NoError(t, err)
	assert.Equal(t, "tiny", m.Name)
	assert.Equal(t, uint32(0x206D5), m.Signature())
	r, ok := m.Leaf(4, 1)
	assert.True(t, ok)
	assert.Equal(t, Regs{1, 2, 3, 4}, r)
	r, _ = m.Leaf(1, 7)
	assert.Equal(t, uint32(0x206D5), r.EAX, "leaf 1 ignores the subleaf")
	v, _ := m.MSR(VMXVMFunc)
	assert.Equal(t, "for the test", v.Assumed)

	var b bytes.Buffer
	require.NoError(t, m.Format(&b))
	m2, err := ParseModel(&b)
	require.NoError(t, err)
	assert.Equal(t, m, m2)
}

func TestParseModelErrors(t *testing.T) {
	leaves := "cpuid 0 0 D 756E6547 6C65746E 49656E69\ncpuid 1 0 206D5 0 0 0\n"
	for _, tc := range []struct{ in, want string }{
		{"", "no 'model NAME' line"},
		{"model x\nfrob 1\n" + leaves, "line 2: unknown keyword \"frob\""},
		{"model x\ncpuid 0 0 1 2 3\n", "line 2: want: cpuid LEAF"},
		{"model x\ncpuid 0 0 1 2 3 zz\n", "line 2: cpuid field 6: \"zz\" is not a 32-bit hex number"},
		{"model x\ncpuid 1 2 1 2 3 4\n", "has no subleaves"},
		{"model x\nmsr 480\n", "want: msr INDEX VALUE"},
		{"model x\nmsr 480 1 because\n", "only 'assumed REASON'"},
		{"model Bad\n" + leaves, "model name \"Bad\""},
		{"model x\n", "needs CPUID leaves 0 and 1"},
		{"model x\ncpuid 0 0 D 68747541 444D4163 69746E65\ncpuid 1 0 0 0 0 0\n", "GenuineIntel"},
		{"model x\n" + leaves + "msr 480 1\nmsr 480 2\n", "MSR 0x480 given twice"},
		{"model x\nmodel y\n", "given twice"},
	} {
		_, err := ParseModel(strings.NewReader(tc.in))
		require.Error(t, err, "%q", tc.in)
		assert.Contains(t, err.Error(), tc.want, "%q", tc.in)
	}
}

// The older AIDA64 format has no [SL nn]: repeated lines are subleaves in
// order, and leaf 0DH's are the enumerated state components.
func TestParseAIDA64(t *testing.T) {
	dump := `------[ Versions ]------

Program Version : AIDA64 v2.85.2440 Beta

------[ CPU Info ]------

CPU Alias          : Test Bridge
CPUID CPU Name     : Test CPU

------[ Logical CPU #0 ]------

CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69 [GenuineIntel]
CPUID 00000001: 000206D5-00200800-1FBEE3FF-BFEBFBFF
CPUID 00000004: 3C004121-01C0003F-0000003F-00000000
CPUID 00000004: 3C004122-01C0003F-0000003F-00000000
CPUID 0000000D: 00000007-00000340-00000340-00000000
CPUID 0000000D: 00000100-00000240-00000000-00000000
CPUID 00000007: 00000000-00000001-00000000-00000000 [SL 00]

------[ Logical CPU #1 ]------

CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69 [GenuineIntel]

------[ MSR Registers ]------

MSR 00000480: 00DA-0400-0000-0010
MSR 000001AC: < FAILED >
MSR 000000E7: 0000-0000-0000-0001 [S200]
MSR 000000E7: 0000-0000-0000-0002
`
	assert.True(t, IsAIDA64([]byte(dump)))
	m, err := LoadBytes([]byte(dump), "/tmp/My Dump.txt")
	require.NoError(t, err)
	assert.Equal(t, "my-dump", m.Name)
	assert.Equal(t, "Test Bridge, Test CPU", m.Description)
	r, ok := m.Leaf(4, 1)
	require.True(t, ok)
	assert.Equal(t, uint32(0x3C004122), r.EAX)
	r, ok = m.Leaf(0xD, 2)
	require.True(t, ok, "the second 0DH line is component 2 (AVX)")
	assert.Equal(t, uint32(0x100), r.EAX)
	_, ok = m.Leaf(0xD, 1)
	assert.False(t, ok)
	v, _ := m.MSR(0xE7)
	assert.Equal(t, uint64(2), v.Value, "the last sample wins")
	_, ok = m.MSR(0x1AC)
	assert.False(t, ok, "failed reads are not values")
	v, _ = m.MSR(VMXBasic)
	assert.Equal(t, uint64(0x00DA040000000010), v.Value)

	_, err = LoadBytes([]byte("------[ Versions ]------\n"), "x.txt")
	assert.ErrorContains(t, err, "no CPUID lines")

	// A subleaf on a leaf whose output does not depend on ECX (SDM Vol.
	// 2A, CPUID, Table 3-8: leaf 2 has none) cannot be a model entry: the
	// importer refuses it as the model parser does, rather than make a
	// model that does not re-parse (FuzzLoadModel, d8e91c7299aaf054).
	_, err = LoadBytes([]byte("------[ CPU Info ]------\n\n------[ Logical CPU #0 ]------\n\n"+
		"CPUID 00000000: 0000000D-756E6547-6C65746E-49656E69\n"+
		"CPUID 00000001: 000206D5-00200800-1FBEE3FF-BFEBFBFF\n"+
		"CPUID 00000002: 76036301-00F0B5FF-00000000-00C10000 [SL 01]\n"), "x.txt")
	assert.ErrorContains(t, err, "cpuid leaf 0x2 has no subleaves")
}

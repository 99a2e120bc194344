package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

// ram is a flat guest-physical memory for tests.
type ram []byte

func (r ram) ReadPhys(pa uint64, b []byte) bool  { copy(b, r[pa:]); return true }
func (r ram) WritePhys(pa uint64, b []byte) bool { copy(r[pa:], b); return true }

func sandyCaps(t testing.TB) *Caps {
	t.Helper()
	m, err := msr.Lookup("sandybridge-ep")
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	c, err := NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	return c
}

// rootCtx is protected mode with paging, CR0.NE and CR4.VMXE, CPL 0, and
// IA32_FEATURE_CONTROL locked with VMX outside SMX (0x5): VMXON's #UD and
// #GP(0) conditions all false (SDM Vol. 3C 31.3 VMXON).
var rootCtx = Ctx{CR0: arch.CR0PE | arch.CR0NE | arch.CR0PG | arch.CR0ET, CR4: arch.CR4VMXE, FeatureControl: 5}

// TestLint: what hardware accepts silently (the second VMXON on a region in
// use succeeds, a VMCS active on two processors loads, VMXOFF with active
// VMCSs succeeds) is reported with the rule.
func TestLint(t *testing.T) {
	caps := sandyCaps(t)
	mem := make(ram, 64<<10)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(mem[a:], caps.Revision)
	}
	reg := NewRegistry()
	a, b := New(caps, reg, 0), New(caps, reg, 1)
	ctx := rootCtx
	done := a.Check(InsnVMXON, &ctx, &Outcome{})
	require.False(t, done)
	o := a.VMXON(0x1000, mem)
	require.Equal(t, Succeed, o.Kind)
	assert.Empty(t, o.Lint)
	o = b.VMXON(0x1000, mem)
	require.Equal(t, Succeed, o.Kind, "hardware does not check: the second VMXON succeeds")
	require.Len(t, o.Lint, 1)
	assert.Contains(t, o.Lint[0], "already in use by CPU 0")

	require.Equal(t, Succeed, a.VMPTRLD(0x2000, mem).Kind)
	o = b.VMPTRLD(0x2000, mem)
	require.Equal(t, Succeed, o.Kind)
	require.Len(t, o.Lint, 1)
	assert.Contains(t, o.Lint[0], "active on CPU 0 too")

	what, cpu, ok := reg.Region(0x2)
	require.True(t, ok)
	assert.Equal(t, 1, cpu)
	assert.Contains(t, what, "VMCS at 0x2000")

	o = a.VMXOFF(mem)
	require.Equal(t, Succeed, o.Kind)
	require.Len(t, o.Lint, 1)
	assert.Contains(t, o.Lint[0], "VMXOFF with 1 VMCS(s) still active")
	require.Equal(t, Succeed, b.VMCLEAR(0x2000, mem).Kind)
	_, _, ok = reg.Region(0x2)
	assert.False(t, ok, "VMCLEAR ends the VMCS's use")
	assert.Empty(t, b.VMXOFF(mem).Lint)
	assert.Empty(t, reg.Frames())
}

// TestDescribe: the debugger's view names the mode, the pointers and each
// field by its Appendix B name with the value VMWRITE stored.
func TestDescribe(t *testing.T) {
	caps := sandyCaps(t)
	mem := make(ram, 64<<10)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(mem[a:], caps.Revision)
	}
	v := New(caps, nil, 0)
	assert.Equal(t, "VMX: outside VMX operation\n", v.Describe())
	require.Equal(t, Succeed, v.VMXON(0x1000, mem).Kind)
	require.Equal(t, Succeed, v.VMPTRLD(0x2000, mem).Kind)
	require.Equal(t, Succeed, v.VMWRITE(0x681E, 0x401000, true).Kind) // Guest RIP
	d := v.Describe()
	assert.Contains(t, d, "VMX: VMX root operation")
	assert.Contains(t, d, "VMXON pointer: 0x1000")
	assert.Contains(t, d, "current VMCS: 0x2000")
	assert.Contains(t, d, "active VMCS: 0x2000 (launch state clear)")
	out, err := v.DumpVMCS(invalidPtr)
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^  681e Guest RIP +0x401000$`, out)
	assert.Contains(t, out, "natural-width guest-state fields")
	_, err = v.DumpVMCS(0x3000)
	assert.Error(t, err)
}

// TestDescribeField: one field by encoding or Appendix B name (any case),
// read without VMREAD's side effect on the VM-instruction error field.
func TestDescribeField(t *testing.T) {
	caps := sandyCaps(t)
	mem := make(ram, 64<<10)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(mem[a:], caps.Revision)
	}
	v := New(caps, nil, 0)
	require.Equal(t, Succeed, v.VMXON(0x1000, mem).Kind)
	_, err := v.DescribeField("guest rip")
	assert.EqualError(t, err, "there is no current VMCS")
	require.Equal(t, Succeed, v.VMPTRLD(0x2000, mem).Kind)
	require.Equal(t, Succeed, v.VMWRITE(0x681E, 0x401000, true).Kind)
	for _, f := range []string{"0x681e", "0x681E", "Guest RIP", "guest rip", "GUEST RIP"} {
		s, err := v.DescribeField(f)
		require.NoError(t, err, f)
		assert.Equal(t, "681e Guest RIP = 0x401000\n", s, f)
	}
	_, err = v.DescribeField("no such field")
	assert.ErrorContains(t, err, "no VMCS field has this name")
	_, err = v.DescribeField("0x7777")
	assert.ErrorContains(t, err, "no VMCS field has this encoding")
	// Sandy Bridge EP has no "enable PML" (its PROCBASED_CTLS2 0x4FF
	// lacks bit 17): the PML address (200EH, Appendix B.2.1) is a field
	// this processor does not have.
	_, err = v.DescribeField("0x200E")
	assert.ErrorContains(t, err, "this processor does not have the field")
	s, err := v.DescribeField("VM-instruction error")
	require.NoError(t, err)
	assert.Equal(t, "4400 VM-instruction error = 0x0\n", s, "no VMREAD failed: the error field is untouched")
}

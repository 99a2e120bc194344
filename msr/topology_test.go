package msr

import (
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestTopology(t *testing.T) {
	for _, tc := range []struct {
		topo Topology
		ids  []uint32
	}{
		{Flat(1), []uint32{0}},
		{Flat(4), []uint32{0, 1, 2, 3}},
		{Topology{Sockets: 2, Cores: 3, Threads: 1}, []uint32{0, 1, 2, 4, 5, 6}},
		{Topology{Sockets: 2, Cores: 2, Threads: 2}, []uint32{0, 1, 2, 3, 4, 5, 6, 7}},
		{Topology{Sockets: 1, Cores: 3, Threads: 2}, []uint32{0, 1, 2, 3, 4, 5}},
		{Topology{Sockets: 1, Dies: 2, Cores: 1, Threads: 3}, []uint32{0, 1, 2, 4, 5, 6}},
	} {
		var ids []uint32
		for i := range len(tc.ids) {
			ids = append(ids, tc.topo.APICID(i))
		}
		assert.Equal(t, tc.ids, ids, "%+v", tc.topo)
	}
}

func TestTopologyLeaves(t *testing.T) {
	p := resolve(t, "sapphirerapids")
	topo := Topology{Sockets: 2, Dies: 1, Cores: 3, Threads: 2} // smt shift 1, package shift 3
	f := p.NewFile(topo, 7, 5)                                  // socket 1, core 0, thread 1: APIC ID 9
	assert.Equal(t, uint32(9), f.APICID())
	l1 := f.CPUID(1, 0)
	assert.Equal(t, uint32(9), l1.EBX>>24)
	assert.Equal(t, uint32(8), l1.EBX>>16&0xFF)
	assert.NotZero(t, l1.EDX&(1<<28), "HTT")
	assert.Equal(t, Regs{EAX: 1, EBX: 2, ECX: 0x100, EDX: 9}, f.CPUID(0xB, 0))
	assert.Equal(t, Regs{EAX: 3, EBX: 6, ECX: 0x201, EDX: 9}, f.CPUID(0xB, 1))
	assert.Equal(t, Regs{ECX: 2, EDX: 9}, f.CPUID(0xB, 2))
	assert.Equal(t, f.CPUID(0xB, 1), f.CPUID(0x1F, 1), "leaf 1FH: the same levels without dies")
	l1d := f.CPUID(4, 0)
	assert.Equal(t, uint32(1), l1d.EAX>>14&0xFFF, "L1D shared by the two threads of a core")
	assert.Equal(t, uint32(3), l1d.EAX>>26, "cores per package - 1 (2 bits of core ID)")
	l3 := f.CPUID(4, 3)
	assert.Equal(t, uint32(7), l3.EAX>>14&0xFFF, "L3 shared by the package")
	assert.Equal(t, uint32(0x3), l3.EAX&0x1F, "cache type kept from the model")

	one := p.NewFile(Flat(1), 0, 5).CPUID(1, 0)
	assert.Zero(t, one.EDX&(1<<28), "no HTT with one logical processor")
	assert.Equal(t, uint32(1), one.EBX>>16&0xFF)
}

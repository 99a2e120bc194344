package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// portOp is one access of a probe sequence: a write when in is false, else
// a read whose result must equal want.
type portOp struct {
	in   bool
	port uint16
	size int
	val  uint32 // written value, or the expected read
}

// The expectations are what QEMU 7.2's pc-testdev returned to a probe
// kernel performing the same accesses in the same order (qemu-system-x86_64
// -accel tcg -nodefaults -device pc-testdev; the kernel printed each read).
func TestPCTestdevScratchPortsMatchQEMU(t *testing.T) {
	seqs := []struct {
		name string
		ops  []portOp
	}{
		{"first probe", []portOp{
			{true, 0xE0, 4, 0},
			{false, 0xE0, 4, 0x11223344},
			{true, 0xE1, 1, 0x33},
			{true, 0xE2, 2, 0x1122},
			{false, 0xE2, 1, 0xAA},
			{true, 0xE0, 4, 0x11AA3344},
			{false, 0xE1, 2, 0x5566}, // misaligned: ignored
			{true, 0xE0, 4, 0x11AA3344},
			{true, 0xE4, 4, 0},
			{true, 0xE5, 1, 0},
			{true, 0xE8, 4, 0x11AA3344}, // the byte-implemented alias
		}},
		{"second probe", []portOp{
			{false, 0xE0, 4, 0x11223344},
			{true, 0xE1, 2, 0}, // misaligned reads: 0
			{true, 0xE2, 4, 0},
			{true, 0xE1, 4, 0},
			{false, 0xE9, 2, 0x5566}, // misaligned on the alias too
			{true, 0xE0, 4, 0x11223344},
			{false, 0xE8, 4, 0xDEADBEEF},
			{true, 0xE0, 4, 0xDEADBEEF},
			{true, 0xE9, 2, 0},
			{true, 0xEA, 4, 0},
			{false, 0xEA, 4, 0x01020304},
			{true, 0xE0, 4, 0xDEADBEEF},
			{false, 0xEB, 1, 0x77},
			{true, 0xE0, 4, 0x77ADBEEF},
		}},
	}
	for _, s := range seqs {
		t.Run(s.name, func(t *testing.T) {
			d := NewPCTestdev(nil)
			b := NewPortBus()
			require.NoError(t, d.Register(b))
			for i, op := range s.ops {
				if op.in {
					assert.Equal(t, op.val, b.In(op.port, op.size), "op %d: in%d %#x", i, op.size, op.port)
				} else {
					b.Out(op.port, op.size, op.val)
				}
			}
		})
	}
}

func TestPCTestdevIRQLines(t *testing.T) {
	type ev struct {
		n    int
		high bool
	}
	for _, tc := range []struct {
		name string
		port uint16
		size int
		val  uint32
		want []ev
	}{
		// QEMU: a byte write of 1 to 0x200B raised IRQ 11 (slave IRR bit 3),
		// of 0x80 too (the level is V != 0), of 0 lowered it.
		{"byte 1 on line 11", 0x200B, 1, 1, []ev{{11, true}}},
		{"byte 0x80 on line 11", 0x200B, 1, 0x80, []ev{{11, true}}},
		{"byte 0 on line 11", 0x200B, 1, 0, []ev{{11, false}}},
		{"line 0", 0x2000, 1, 1, []ev{{0, true}}},
		{"line 23", 0x2017, 1, 1, []ev{{23, true}}},
		// QEMU: dword 1 and word 2 to 0x200B left IRR bit 3 clear.
		{"dword ignored", 0x200B, 4, 1, nil},
		{"word ignored", 0x200B, 2, 2, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []ev
			d := NewPCTestdev(func(n int, high bool) { got = append(got, ev{n, high}) })
			b := NewPortBus()
			require.NoError(t, d.Register(b))
			b.Out(tc.port, tc.size, tc.val)
			assert.Equal(t, tc.want, got)
		})
	}
	d := NewPCTestdev(nil)
	b := NewPortBus()
	require.NoError(t, d.Register(b))
	assert.Equal(t, uint32(0), b.In(0x200B, 1), "line reads 0")
	assert.Equal(t, uint32(0), b.In(0x2017, 1))
	assert.Equal(t, uint32(0xFF), b.In(0x2018, 1), "past the 24 lines: unclaimed")
}

func TestPCTestdevIOMem(t *testing.T) {
	d := NewPCTestdev(nil)
	assert.Equal(t, uint64(0), d.ReadMMIO(0, 4), "starts zeroed")
	d.WriteMMIO(0, 4, 0x11223344)
	d.WriteMMIO(1, 1, 0xAA)
	assert.Equal(t, uint64(0x1122AA44), d.ReadMMIO(0, 4))
	d.WriteMMIO(0xFFF0, 4, 0xCAFEF00D)
	assert.Equal(t, uint64(0xCAFEF00D), d.ReadMMIO(0xFFF0, 4))
	d.WriteMMIO(0xFFFC, 4, 0x44332211)
	assert.Equal(t, uint64(0x4433), d.ReadMMIO(0xFFFE, 4), "past the end reads zeros (QEMU)")
	d.WriteMMIO(0x1000, 8, 0x0102030405060708)
	assert.Equal(t, uint64(0x0102030405060708), d.ReadMMIO(0x1000, 8))
	assert.Equal(t, uint64(0x0506), d.ReadMMIO(0x1002, 2))
}

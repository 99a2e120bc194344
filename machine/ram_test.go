package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRAMSparse4GiB(t *testing.T) {
	r, err := NewRAM(4 << 30)
	require.NoError(t, err)
	assert.Equal(t, uint64(4<<30), r.RAMSize())
	assert.Zero(t, r.PagesAllocated(), "nothing is allocated before use")

	require.NoError(t, r.WritePhys(0x1000, []byte{1, 2, 3}))
	require.NoError(t, r.WritePhys(0xBFFFFFFE, []byte{4, 5}))   // last bytes below the split
	require.NoError(t, r.WritePhys(0x100000000, []byte{6}))     // first byte above 4 GiB
	require.NoError(t, r.WritePhys(0x13FFFFFFF, []byte{7}))     // last byte of RAM
	require.NoError(t, r.WritePhys(0x200FFE, []byte{8, 9, 10})) // crosses a page boundary
	assert.Equal(t, 6, r.PagesAllocated())

	buf := make([]byte, 3)
	require.NoError(t, r.ReadPhys(0x200FFE, buf))
	assert.Equal(t, []byte{8, 9, 10}, buf)
	require.NoError(t, r.ReadPhys(0x5000000, buf), "untouched RAM reads as zeros")
	assert.Equal(t, []byte{0, 0, 0}, buf)
	assert.Equal(t, 6, r.PagesAllocated(), "ReadPhys allocates nothing")
}

func TestRAMSparse64GiB(t *testing.T) {
	r, err := NewRAM(64 << 30)
	require.NoError(t, err)
	below, above := r.Split()
	assert.Equal(t, uint64(3<<30), below)
	assert.Equal(t, uint64(61<<30), above)
	last := uint64(4<<30) + above - 1
	require.NoError(t, r.WritePhys(last, []byte{0xAA}))
	assert.Equal(t, 1, r.PagesAllocated())
	assert.Equal(t, byte(0xAA), r.Page(last >> 12)[last&0xFFF])
	assert.Nil(t, r.Page((last+1)>>12), "past the end of RAM")
}

func TestRAMPageMapping(t *testing.T) {
	// 5 GiB: 3 GiB below 4 GiB, 2 GiB from 4 GiB (QEMU pc's split).
	r, err := NewRAM(5 << 30)
	require.NoError(t, err)
	for _, tc := range []struct {
		pa  uint64
		ram bool
	}{
		{0, true},
		{0x9F000, true},
		{0xA0000, true}, // VGA window: RAM shows through without a VGA (QEMU 7.2 measured)
		{0xBF000, true},
		{0xC0000, true}, // option ROM / BIOS area is RAM-backed
		{0xFF000, true},
		{0x100000, true},
		{0xBFFFF000, true},
		{0xC0000000, false}, // PCI hole
		{0xFEE00000, false},
		{0xFFFFF000, false},
		{0x100000000, true},
		{0x17FFFF000, true},
		{0x180000000, false},
	} {
		got := r.Page(tc.pa>>12) != nil
		assert.Equal(t, tc.ram, got, "pa %#x", tc.pa)
	}
}

func TestRAMSmallIsContiguous(t *testing.T) {
	// Below 3.5 GiB everything sits at 0.
	r, err := NewRAM(128 << 20)
	require.NoError(t, err)
	assert.NotNil(t, r.Page((128<<20)/4096-1))
	assert.Nil(t, r.Page((128<<20)/4096))
	assert.Nil(t, r.Page(1<<20), "nothing at 4 GiB")
}

func TestRAMWriteOutsideRAM(t *testing.T) {
	r, err := NewRAM(16 << 20)
	require.NoError(t, err)
	err = r.WritePhys(16<<20-1, []byte{1, 2})
	require.ErrorIs(t, err, ErrNotRAM)
	assert.Contains(t, err.Error(), "0x1000000")
	assert.Zero(t, r.PagesAllocated(), "a failed write writes nothing")
	require.ErrorIs(t, r.WritePhys(16<<20, []byte{1}), ErrNotRAM)
	require.ErrorIs(t, r.WritePhys(^uint64(0), []byte{1, 2}), ErrNotRAM)
}

func TestNewRAMRejectsOddSizes(t *testing.T) {
	_, err := NewRAM(0)
	require.Error(t, err)
	_, err = NewRAM(4097)
	require.Error(t, err)
}

type fakeMMIO struct {
	lastOff  uint64
	lastSize int
	lastVal  uint64
}

func (f *fakeMMIO) ReadMMIO(off uint64, size int) uint64 { return 0x1122334455667788 + off }
func (f *fakeMMIO) WriteMMIO(off uint64, size int, v uint64) {
	f.lastOff, f.lastSize, f.lastVal = off, size, v
}

func TestMMIOBus(t *testing.T) {
	var b MMIOBus
	d := &fakeMMIO{}
	require.NoError(t, b.Register("dev", 0xFEC00000, 0x1000, d))
	require.ErrorIs(t, b.Register("dup", 0xFEC00800, 0x1000, d), ErrMMIOOverlap)
	require.ErrorIs(t, b.Register("below", 0xFEBFF000, 0x1001, d), ErrMMIOOverlap)
	require.NoError(t, b.Register("next", 0xFEC01000, 0x1000, d))

	// Unassigned addresses read 0, as QEMU 7.2's pc machine answers a
	// dword read at 0xFF100000 (measured with a multiboot probe).
	assert.Equal(t, uint64(0), b.Read(0xFF100000, 1), "unassigned reads 0")
	assert.Equal(t, uint64(0), b.Read(0xFF100000, 2))
	assert.Equal(t, uint64(0), b.Read(0xFEBFFFFF, 4))
	assert.Equal(t, uint64(0), b.Read(0xFED00000, 8))
	b.Write(0xFF100000, 4, 1) // ignored
	assert.Equal(t, uint64(0), b.Read(0xFF100000, 4), "a write to an unassigned address is dropped")

	assert.Equal(t, uint64(0x5566778C), b.Read(0xFEC00004, 4), "offset within the range, masked to the size")
	b.Write(0xFEC01010, 2, 0x12345)
	assert.Equal(t, uint64(0x10), d.lastOff)
	assert.Equal(t, 2, d.lastSize)
	assert.Equal(t, uint64(0x2345), d.lastVal)
}

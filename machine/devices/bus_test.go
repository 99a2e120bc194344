package devices

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// recorder is a PortDevice that records accesses and answers a fixed value.
type recorder struct {
	val  uint32
	ins  []uint16
	outs []uint32
}

func (r *recorder) In(port uint16, size int) uint32 { r.ins = append(r.ins, port); return r.val }
func (r *recorder) Out(port uint16, size int, val uint32) {
	r.outs = append(r.outs, val)
}

func TestPortBusUnmappedReads(t *testing.T) {
	b := NewPortBus()
	for _, tc := range []struct {
		size int
		want uint32
	}{
		{1, 0xFF},
		{2, 0xFFFF},
		{4, 0xFFFFFFFF},
	} {
		assert.Equal(t, tc.want, b.In(0x1234, tc.size), "size %d", tc.size)
	}
	b.Out(0x1234, 4, 0xDEADBEEF) // ignored, must not panic
}

func TestPortBusRegisterErrors(t *testing.T) {
	b := NewPortBus()
	require.NoError(t, b.Register(0x3F8, 8, &recorder{}))
	require.NoError(t, b.Register(0x3F0, 8, &recorder{}), "adjacent below")
	require.NoError(t, b.Register(0x400, 1, &recorder{}), "adjacent above")
	require.NoError(t, b.Register(0xFFFF, 1, &recorder{}), "last port")

	for _, tc := range []struct {
		name string
		base uint16
		n    int
		want error
	}{
		{"same range", 0x3F8, 8, ErrPortOverlap},
		{"overlap start", 0x3F6, 4, ErrPortOverlap},
		{"overlap end", 0x3FF, 2, ErrPortOverlap},
		{"inside", 0x3FA, 1, ErrPortOverlap},
		{"covering", 0x3E0, 0x40, ErrPortOverlap},
		{"empty", 0x500, 0, ErrPortRange},
		{"negative", 0x500, -1, ErrPortRange},
		{"past 0xFFFF", 0xFFF0, 0x11, ErrPortRange},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := b.Register(tc.base, tc.n, &recorder{})
			require.ErrorIs(t, err, tc.want)
		})
	}
	require.ErrorIs(t, b.Register(0x600, 1, nil), ErrPortRange)
}

func TestPortBusDispatch(t *testing.T) {
	b := NewPortBus()
	a := &recorder{val: 0x11223344}
	c := &recorder{val: 0xAA}
	require.NoError(t, b.Register(0x60, 1, a))
	require.NoError(t, b.Register(0x64, 1, c))

	assert.Equal(t, uint32(0x44), b.In(0x60, 1), "masked to the access size")
	assert.Equal(t, uint32(0x3344), b.In(0x60, 2))
	assert.Equal(t, uint32(0x11223344), b.In(0x60, 4))
	assert.Equal(t, uint32(0xAA), b.In(0x64, 1))
	assert.Equal(t, uint32(0xFF), b.In(0x61, 1), "hole between devices")

	b.Out(0x60, 1, 0x1FF)
	b.Out(0x64, 2, 0x12345)
	assert.Equal(t, []uint32{0xFF}, a.outs)
	assert.Equal(t, []uint32{0x2345}, c.outs)
	assert.Equal(t, []uint16{0x60, 0x60, 0x60}, a.ins, "device sees the absolute port")

	d, ok := b.Lookup(0x64)
	require.True(t, ok)
	assert.Same(t, c, d)
	_, ok = b.Lookup(0x65)
	assert.False(t, ok)
}

func BenchmarkPortBusIn(b *testing.B) {
	bus := NewPortBus()
	u := NewUART(nil, nil)
	if err := bus.Register(PortCOM1, UARTPorts, u); err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		bus.In(PortCOM1+7, 1)
	}
}

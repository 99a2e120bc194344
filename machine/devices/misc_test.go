package devices

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestDebugExitCodes(t *testing.T) {
	// QEMU hw/misc/debugexit.c: exit((val << 1) | 1).
	for _, tc := range []struct {
		name   string
		iosize int
		size   int
		val    uint32
		want   int
	}{
		{"byte 0x31", 4, 1, 0x31, 0x63},
		{"byte 0", 4, 1, 0, 1},
		{"byte 0x10", 1, 1, 0x10, 0x21},
		{"word", 4, 2, 0x1234, 0x2469},
		{"dword", 4, 4, 0x80000001, 0x100000003},
		{"dword all ones", 4, 4, 0xFFFFFFFF, 0x1FFFFFFFF},
		{"dword into 1-port device", 1, 4, 0x1234, 0x69},
		{"dword into 2-port device", 2, 4, 0x00031234, 0x2469},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Exit
			d := NewDebugExit(0xF4, tc.iosize, func(e Exit) { got = append(got, e) })
			b := NewPortBus()
			require.NoError(t, b.Register(d.Base(), d.Size(), d))
			b.Out(0xF4, tc.size, tc.val)
			require.Len(t, got, 1)
			assert.Equal(t, ExitDebug, got[0].Kind)
			assert.Equal(t, tc.want, got[0].Code)
			assert.NotEmpty(t, got[0].Reason)
		})
	}
}

func TestDebugExitReadsZero(t *testing.T) {
	d := NewDebugExit(PortDebugExit, DebugExitDefSize, func(Exit) { t.Fatal("read must not exit") })
	for _, size := range []int{1, 2, 4} {
		assert.Equal(t, uint32(0), d.In(PortDebugExit, size))
	}
}

func TestDebugCon(t *testing.T) {
	var out bytes.Buffer
	d := NewDebugCon(&out)
	b := NewPortBus()
	require.NoError(t, b.Register(PortDebugCon, 1, d))
	for _, c := range []byte("ok") {
		b.Out(PortDebugCon, 1, uint32(c))
	}
	b.Out(PortDebugCon, 2, 0x0A21) // only the low byte, '!'
	require.NoError(t, d.Flush())
	assert.Equal(t, "ok!", out.String())
	assert.Equal(t, uint32(0xE9), b.In(PortDebugCon, 1))
}

func TestShutdownPort(t *testing.T) {
	for _, tc := range []struct {
		name  string
		input string
		exits int
	}{
		{"exact", "Shutdown", 1},
		{"prefix only", "Shutdow", 0},
		{"interrupted by other byte", "ShutXdown", 0},
		{"restart after junk", "ShuX" + "Shutdown", 1},
		{"repeated letter ignored", "SShutdown", 1},
		{"twice", "ShutdownShutdown", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []Exit
			s := NewShutdownPort(func(e Exit) { got = append(got, e) })
			for _, c := range []byte(tc.input) {
				s.Out(PortShutdown, 1, uint32(c))
			}
			require.Len(t, got, tc.exits)
			for _, e := range got {
				assert.Equal(t, ExitShutdown, e.Kind)
				assert.Equal(t, 0, e.Code)
			}
		})
	}
}

func TestPOSTPort(t *testing.T) {
	var codes []uint8
	p := NewPOSTPort(func(c uint8) { codes = append(codes, c) })
	p.Out(PortPOST, 1, 0x12)
	p.Out(PortPOST, 1, 0xAA)
	code, n := p.Last()
	assert.Equal(t, uint8(0xAA), code)
	assert.Equal(t, uint64(2), n)
	assert.Equal(t, []uint8{0x12, 0xAA}, codes)
	assert.Equal(t, uint32(0xFF), p.In(PortPOST, 1), "QEMU's ioport80_read returns all-ones")
}

func TestSysCtrlB(t *testing.T) {
	s := NewSysCtrlB(nil)
	// Bit 4 toggles from read to read.
	r1 := s.In(PortSysCtrlB, 1)
	r2 := s.In(PortSysCtrlB, 1)
	assert.Equal(t, uint32(0x10), (r1^r2)&0x10, "refresh toggle flips")
	assert.Equal(t, uint32(0), (r1|r2)&^0x10)

	// Only bits 3:0 are writable.
	s.Out(PortSysCtrlB, 1, 0xFF)
	assert.Equal(t, uint32(0x0F), s.In(PortSysCtrlB, 1)&^0x10)
	assert.True(t, s.Timer2Gate())
	assert.True(t, s.SpeakerEnabled())
	s.Out(PortSysCtrlB, 1, 0x00)
	assert.False(t, s.Timer2Gate())

	out := true
	s = NewSysCtrlB(func() bool { return out })
	assert.Equal(t, uint32(0x20), s.In(PortSysCtrlB, 1)&0x20, "bit 5 is PIT channel 2 output")
	out = false
	assert.Equal(t, uint32(0), s.In(PortSysCtrlB, 1)&0x20)
}

func TestSysCtrlA(t *testing.T) {
	var exits []Exit
	var a20 []bool
	s := NewSysCtrlA(func(e Exit) { exits = append(exits, e) }, func(on bool) { a20 = append(a20, on) })
	assert.True(t, s.A20())
	assert.Equal(t, uint32(0x02), s.In(PortSysCtrlA, 1))

	s.Out(PortSysCtrlA, 1, 0x00)
	assert.False(t, s.A20())
	assert.Empty(t, exits)

	s.Out(PortSysCtrlA, 1, 0x03) // 0→1 on bit 0: reset
	require.Len(t, exits, 1)
	assert.Equal(t, ExitReset, exits[0].Kind)
	assert.Equal(t, uint32(0x03), s.In(PortSysCtrlA, 1), "the byte reads back")

	s.Out(PortSysCtrlA, 1, 0x03) // no transition, no reset
	assert.Len(t, exits, 1)
	s.ResetDone()
	s.Out(PortSysCtrlA, 1, 0x01)
	assert.Len(t, exits, 2)
	assert.Equal(t, []bool{false, true, true, false}, a20)
}

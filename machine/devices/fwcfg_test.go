package devices

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func newTestFwCfg(t *testing.T, cpus int, ram uint64) (*FwCfg, *PortBus) {
	t.Helper()
	f := NewFwCfg(cpus, ram)
	b := NewPortBus()
	require.NoError(t, b.Register(PortFwCfg, 2, f))
	return f, b
}

// readItem selects key with a 16-bit write to 0x510 and reads n bytes from
// 0x511 one at a time, as firmware does.
func readItem(b *PortBus, key uint16, n int) []byte {
	b.Out(PortFwCfg, 2, uint32(key))
	out := make([]byte, n)
	for i := range out {
		out[i] = byte(b.In(PortFwCfg+1, 1))
	}
	return out
}

func TestFwCfgStandardItems(t *testing.T) {
	_, b := newTestFwCfg(t, 4, 128<<20)
	for _, tc := range []struct {
		name string
		key  uint16
		want []byte
	}{
		{"signature", 0x0000, []byte("QEMU")},
		// FW_CFG_ID: u32 LE, bit 0 traditional interface, no DMA bit.
		{"id", 0x0001, []byte{0x01, 0x00, 0x00, 0x00}},
		// 128 MiB = 0x0800_0000, u64 little-endian.
		{"ram size", 0x0003, []byte{0x00, 0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00}},
		{"nb cpus", 0x0005, []byte{0x04, 0x00}},
		{"max cpus", 0x000f, []byte{0x04, 0x00}},
		// No NUMA nodes: u64 count 0 then one u64 per CPU.
		{"numa", 0x000d, make([]byte, 8*5)},
		// Empty directory: big-endian count 0.
		{"file dir", 0x0019, []byte{0, 0, 0, 0}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// One extra byte: past the end reads 0.
			got := readItem(b, tc.key, len(tc.want)+1)
			assert.Equal(t, tc.want, got[:len(tc.want)])
			assert.Equal(t, byte(0), got[len(tc.want)], "read past the end")
		})
	}
}

func TestFwCfgSignatureSelectedAtReset(t *testing.T) {
	_, b := newTestFwCfg(t, 1, 1<<30)
	got := make([]byte, 4)
	for i := range got {
		got[i] = byte(b.In(PortFwCfg+1, 1))
	}
	assert.Equal(t, "QEMU", string(got))
}

func TestFwCfgSelectRewinds(t *testing.T) {
	_, b := newTestFwCfg(t, 2, 64<<20)
	assert.Equal(t, []byte("QE"), readItem(b, FwCfgSignature, 2))
	assert.Equal(t, []byte("QEMU"), readItem(b, FwCfgSignature, 4))
}

func TestFwCfgUnknownAndInvalidAccesses(t *testing.T) {
	f, b := newTestFwCfg(t, 2, 64<<20)
	assert.Equal(t, []byte{0, 0, 0}, readItem(b, 0x0042, 3), "unknown key reads 0")
	assert.Equal(t, []byte{0, 0}, readItem(b, 0x3FFF, 2))

	b.Out(PortFwCfg, 2, 0)
	b.Out(PortFwCfg, 1, 0x05) // 8-bit writes do not select
	assert.Equal(t, uint32(0), b.In(PortFwCfg+1, 2), "wide reads are invalid")
	assert.Equal(t, uint32('Q'), b.In(PortFwCfg+1, 1), "and did not advance")
	assert.Equal(t, uint32('E'), b.In(PortFwCfg, 1), "8-bit read of 0x510 also reads data")

	var r interface{ ReadByte() (byte, error) } = f
	f.Select(FwCfgNbCPUs)
	c, err := r.ReadByte()
	require.NoError(t, err)
	assert.Equal(t, byte(2), c)
}

func TestFwCfgFiles(t *testing.T) {
	f, b := newTestFwCfg(t, 1, 64<<20)
	require.NoError(t, f.AddFile("etc/zeta", []byte{1, 2, 3}))
	require.NoError(t, f.AddFile("etc/alpha", []byte("hello")))

	// Directory (QEMU docs/specs/fw_cfg.txt, FWCfgFiles/FWCfgFile):
	// be32 count, then per file be32 size, be16 select, be16 reserved,
	// char name[56]. Sorted by name; keys from 0x20.
	want := []byte{0, 0, 0, 2}
	entry := func(size uint32, sel uint16, name string) []byte {
		e := []byte{byte(size >> 24), byte(size >> 16), byte(size >> 8), byte(size), byte(sel >> 8), byte(sel), 0, 0}
		n := make([]byte, 56)
		copy(n, name)
		return append(e, n...)
	}
	want = append(want, entry(5, 0x20, "etc/alpha")...)
	want = append(want, entry(3, 0x21, "etc/zeta")...)
	assert.Equal(t, want, readItem(b, FwCfgFileDir, len(want)))
	assert.Len(t, want, 4+2*64)

	assert.Equal(t, []byte("hello\x00"), readItem(b, 0x20, 6))
	assert.Equal(t, []byte{1, 2, 3, 0}, readItem(b, 0x21, 4))
	k, ok := f.FileKey("etc/zeta")
	require.True(t, ok)
	assert.Equal(t, uint16(0x21), k)
	_, ok = f.FileKey("etc/missing")
	assert.False(t, ok)

	for _, tc := range []struct {
		name string
		file string
	}{
		{"duplicate", "etc/alpha"},
		{"empty", ""},
		{"too long", string(make([]byte, 56))},
		{"nul", "a\x00b"},
	} {
		assert.ErrorIs(t, f.AddFile(tc.file, nil), ErrFwCfg, tc.name)
	}
	assert.NoError(t, f.AddFile(strings.Repeat("x", 55), nil), "55 bytes plus NUL fits")
}

func TestFwCfgAddItemAndCmdline(t *testing.T) {
	f, b := newTestFwCfg(t, 1, 64<<20)
	require.NoError(t, f.AddItem(0x8003, []byte{0xAA, 0xBB}))
	assert.Equal(t, []byte{0xAA, 0xBB, 0}, readItem(b, 0x8003, 3), "arch-local key")
	require.NoError(t, f.AddItem(FwCfgMaxCPUs, []byte{8, 0}))
	assert.Equal(t, []byte{8, 0}, readItem(b, FwCfgMaxCPUs, 2), "replaced")

	for _, key := range []uint16{FwCfgFileDir, 0x0020, 0x1234, 0x4005} {
		assert.ErrorIs(t, f.AddItem(key, nil), ErrFwCfg, "key %#x", key)
	}

	f.SetCmdline("console=ttyS0")
	// CMDLINE_SIZE: u32 LE strlen+1 = 14.
	assert.Equal(t, []byte{14, 0, 0, 0}, readItem(b, 0x14, 4))
	assert.Equal(t, []byte("console=ttyS0\x00\x00"), readItem(b, 0x15, 15))
}

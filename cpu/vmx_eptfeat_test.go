package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/vmx"
)

// The optional EPT features in a running guest (eptHarness: identity EPT,
// the guest of guestVMCS with 32-bit paging through a 4-MiB page whose
// directory is at guest-physical 0x3000).

const (
	pmlLog   = 0x40000 // the page-modification log
	eptpList = 0x41000 // the EPTP list
	veArea   = 0x42000 // the virtualization-exception information area
)

func vmwriteAll(t *testing.T, h *harness, fields map[uint64]uint64) {
	t.Helper()
	for enc, val := range fields {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
}

// TestPMLGuest: with "enable PML" and EPT A/D flags each access that sets
// an EPT dirty flag logs its 4-KiB guest-physical page at PML address +
// 8 × index and decrements the index (SDM Vol. 3C 29.3.6): first the
// guest page directory (a guest paging-structure access is a write for
// EPT A/D, 29.3.5), then the written page; with the index at FFFFH the
// next access that would set a flag is a page-modification log-full VM
// exit (reason 62) before the write, with no flag set.
func TestPMLGuest(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<17, eptEPTP|1<<6, 0)
	c := h.c
	vmwriteAll(t, h, map[uint64]uint64{0x200E: pmlLog, 0x0812: 1})
	copy(h.bus.ram[0x11000:], []byte{
		0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0, // mov dword [0x15010], 1
		0xC7, 0x05, 0x00, 0x70, 0x01, 0x00, 2, 0, 0, 0, // mov dword [0x17000], 2
		0x0F, 0xA2, // cpuid
	})
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{vmx.ExitPMLFull}, *exits)
	get := func(a uint64) uint64 { return binary.LittleEndian.Uint64(h.bus.ram[a:]) }
	assert.Equal(t, uint64(0x3000), get(pmlLog+8), "index 1: the guest page directory")
	assert.Equal(t, uint64(0x15000), get(pmlLog), "index 0: the first write, bits 11:0 clear")
	assert.Equal(t, uint64(0xFFFF), vmcsField(t, c, 0x0812), "the index wrapped")
	assert.Equal(t, uint64(0x1100A), vmcsField(t, c, 0x681E), "the second write did not retire")
	assert.Equal(t, uint64(0), vmcsField(t, c, 0x6400), "qualification: no NMI unblocking")
	assert.Equal(t, uint32(0x2222), binary.LittleEndian.Uint32(h.bus.ram[0x17000:]), "the access did not occur")
	assert.Zero(t, get(eptPTE(0x17000))&(1<<8|1<<9), "no flag set")
	assert.Equal(t, uint32(1), binary.LittleEndian.Uint32(h.bus.ram[0x15010:]))
}

// TestPMLWithoutAD: without EPTP bit 6 no flag is set, nothing is logged
// and a full log never stops the guest (29.3.6 needs EPT A/D flags).
func TestPMLWithoutAD(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<17, eptEPTP, 0)
	c := h.c
	vmwriteAll(t, h, map[uint64]uint64{0x200E: pmlLog, 0x0812: 0xFFFF})
	copy(h.bus.ram[0x11000:], []byte{0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0, 0x0F, 0xA2})
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0xFFFF), vmcsField(t, c, 0x0812))
}

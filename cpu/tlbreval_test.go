package cpu

import (
	"bytes"
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/vmx"
)

// The VPID-0 flush by revalidation (tlbreval.go) against the full flush
// (CPU.noReval): random 64-bit hosts and guests without VPIDs, sharing
// 4-KiB page tables, read and write data pages, remap them to other
// frames and clear their accessed and dirty flags, and each remaps the
// other's code page between two frames holding different code. Each
// side changes paging-structure entries only at the end of its part of
// the round trip, just before the transition (CPUID's VM exit, the
// host's VMRESUME), and touches no page it remapped before then: every
// access after a change follows an invalidation of VPID 0000H (SDM Vol.
// 3C 29.4.3.1), which must see the change (the new frame; the accessed
// and dirty flags set again by the walk, Vol. 3A 4.8). So both ways must
// give the same registers, the same RAM (data, and the paging-structure
// entries with their flags) and the same VM exits.

const (
	revalPT    = 0x30000 // the page table of the first 2 MiB
	revalPML4b = 0x31000 // a second PML4 with the same entry (guest CR3)
	revalData  = 0x40000 // 8 data pages, remapped among 16 frames
)

// revalPTE is the linear address of the page-table entry for lin.
func revalPTE(lin uint64) uint32 { return uint32(revalPT + lin>>12*8) }

// revalOps is one side's part of a round trip: random loads (summed in
// R8) and stores (of R9, incremented) on the data pages, then random
// changes to their page-table entries (a remap to frame 40000H + (R10 &
// F000H), R10 moved on; accessed and dirty flags cleared); then, when x
// is not nil, perhaps the other side's code page remapped (remapOp).
func revalOps(r *rand.Rand, x *codeRemap) ([]byte, bool) {
	var b []byte
	for n := r.Intn(7); n > 0; n-- {
		lin := uint32(revalData + r.Intn(8)<<12 + r.Intn(512)*8)
		if r.Intn(2) == 0 {
			b = append(b, 0x48, 0x8B, 0x04, 0x25)                 // mov rax, [lin]
			b = append(append(b, le32(lin)...), 0x49, 0x01, 0xC0) // add r8, rax
		} else {
			b = append(b, 0x4C, 0x89, 0x0C, 0x25)                 // mov [lin], r9
			b = append(append(b, le32(lin)...), 0x49, 0xFF, 0xC1) // inc r9
		}
	}
	for n := r.Intn(4); n > 0; n-- {
		pte := revalPTE(uint64(revalData + r.Intn(8)<<12))
		if r.Intn(2) == 0 {
			b = append(b, 0x4C, 0x89, 0xD0, 0x25, 0x00, 0xF0, 0x00, 0x00) // mov rax, r10; and eax, F000H
			b = append(b, 0x48, 0x05)                                     // add rax, 40003H
			b = append(b, le32(revalData|3)...)
			b = append(b, 0x48, 0x89, 0x04, 0x25)                 // mov [pte], rax
			b = append(append(b, le32(pte)...), 0x49, 0x81, 0xC2) // add r10, imm32
			b = append(b, le32(uint32(r.Intn(16))<<12)...)
		} else {
			b = append(b, 0x48, 0x83, 0x24, 0x25) // and qword [pte], ~60H
			b = append(append(b, le32(pte)...), 0x9F)
		}
	}
	remap := x != nil && r.Intn(2) == 0
	if remap {
		b = append(b, x.remapOp()...)
	}
	return b, remap
}

// codeRemap is a code page that the other side remaps: linear lin, to
// frame (frame | 3) + 4000H * (bit 0 of register reg, R11 or R12), then
// reg incremented.
type codeRemap struct {
	lin, frame uint32
	reg        byte // 3: R11, 4: R12
}

func (x *codeRemap) remapOp() []byte {
	b := []byte{0x4C, 0x89, 0xC0 | x.reg<<3, 0x83, 0xE0, 0x01, 0xC1, 0xE0, 0x0E} // mov rax, reg; and eax, 1; shl eax, 14
	b = append(b, 0x48, 0x05)                                                    // add rax, frame|3
	b = append(b, le32(x.frame|3)...)
	b = append(b, 0x48, 0x89, 0x04, 0x25) // mov [pte], rax
	b = append(b, le32(revalPTE(uint64(x.lin)))...)
	return append(b, 0x49, 0xFF, 0xC0|x.reg) // inc reg
}

// revalRun builds the scenario of seed and runs it for n instructions
// after VMLAUNCH, with revalidation on or off; it returns the harness,
// the VM exits' reasons and whether every fetch entry can survive each
// transition: neither side remaps the other's code page, the guest's
// code page does not share the host's fetch entry, and both run under
// the same CR3 (under another CR3 the walk memo has no record for the
// other side's code page, so its fetch entry is dropped).
//
// The guest runs at 11000H, or at 113000H, whose TLB index is the host's
// 12000H (tlb.index): its fetch entry then replaces the host's at each
// entry (tlb.fetchLost), while the host's blocks stay in the block
// lookup, and a remap of the host's code page must still be seen.
func revalRun(t *testing.T, seed int64, n uint64, noReval bool) (*harness, []uint32, bool) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	guestCR3 := uint64(harnessPML4)
	if r.Intn(2) == 0 {
		guestCR3 = revalPML4b
	}
	guestLin := uint32(0x11000)
	if r.Intn(2) == 0 {
		guestLin = 0x113000
	}
	h := vmx64HarnessModel(t, "skylake-sp", map[uint64]uint64{0x6802: guestCR3, 0x681E: uint64(guestLin)})
	c := h.c
	c.noReval = noReval
	ram := h.bus.ram
	// PD[0] now points to a page table mapping the first 2 MiB 1:1 with
	// 4-KiB pages (the guest's code page at frame 11000H); the second
	// PML4 shares the PDPT.
	for i := uint64(0); i < 512; i++ {
		binary.LittleEndian.PutUint64(ram[revalPT+8*i:], i<<12|3)
	}
	binary.LittleEndian.PutUint64(ram[revalPTE(uint64(guestLin)):], 0x11000|3)
	binary.LittleEndian.PutUint64(ram[harnessPML4+0x2000:], revalPT|3)
	copy(ram[revalPML4b:revalPML4b+8], ram[harnessPML4:harnessPML4+8])
	for i := revalData; i < revalData+16<<12; i++ {
		ram[i] = byte(r.Intn(256))
	}
	// The guest: inc esi (frame 11000H) or inc ebp (15000H), its part,
	// CPUID (a VM exit). The host: inc r13 (frame 12000H) or inc r14
	// (16000H), its part, the guest's RIP back to its start (VMWRITE),
	// VMRESUME.
	guest, remapG := revalOps(r, &codeRemap{lin: 0x12000, frame: 0x12000, reg: 4})
	guest = append(guest, 0x0F, 0xA2)
	copy(ram[0x11000:], append([]byte{0xFF, 0xC6}, guest...))
	copy(ram[0x15000:], append([]byte{0xFF, 0xC5}, guest...))
	host, remapH := revalOps(r, &codeRemap{lin: guestLin, frame: 0x11000, reg: 3})
	host = append(host, 0xB8, 0x1E, 0x68, 0, 0, 0xBB)
	host = append(append(host, le32(guestLin)...), 0x0F, 0x79, 0xC3, 0x0F, 0x01, 0xC3)
	copy(ram[0x12000:], append([]byte{0x49, 0xFF, 0xC5}, host...))
	copy(ram[0x16000:], append([]byte{0x49, 0xFF, 0xC6}, host...))
	var exits []uint32
	c.Hooks = &Hooks{VMExit: func(_ *CPU, reason uint32, _ vmx.ExitInfo) { exits = append(exits, reason) }}
	c.Run(1) // VMLAUNCH
	require.True(t, c.vmx.Guest(), "VMLAUNCH entered the guest")
	c.Run(n)
	return h, exits, !remapG && !remapH && guestLin == 0x11000 && guestCR3 == harnessPML4
}

func TestVPID0Revalidation(t *testing.T) {
	var topReval, topFull uint64
	remapped, remappedHost := 0, 0
	for seed := int64(1); seed <= 300; seed++ {
		a, exitsA, keeps := revalRun(t, seed, 3000, false)
		b, exitsB, _ := revalRun(t, seed, 3000, true)
		require.Greater(t, len(exitsA), 20, "seed %d: round trips", seed)
		require.Equal(t, exitsB, exitsA, "seed %d: VM exits", seed)
		require.Equal(t, b.c.GetState(), a.c.GetState(), "seed %d: registers", seed)
		if !bytes.Equal(a.bus.ram, b.bus.ram) {
			for i := range a.bus.ram {
				require.Equal(t, b.bus.ram[i], a.bus.ram[i], "seed %d: RAM at %#x", seed, i)
			}
		}
		if a.c.GPR[5] != 0 && a.c.GPR[6] != 0 {
			remapped++ // both of the guest's code frames ran
		}
		if a.c.GPR[13] != 0 && a.c.GPR[14] != 0 {
			remappedHost++ // both of the host's
		}
		if keeps {
			topReval += a.c.blocks.top
			topFull += b.c.blocks.top
		}
	}
	assert.Greater(t, remapped, 50, "scenarios that ran the guest from both code frames")
	assert.Greater(t, remappedHost, 50, "scenarios that ran the host from both code frames")
	// Where the fetch entries stay valid, the block lookup kept its
	// entries across transitions with revalidation: far fewer epochs
	// than with a flush at each.
	assert.Less(t, 4*topReval, topFull, "block lookup epochs: revalidation %d, full flush %d", topReval, topFull)
}

// BenchmarkRevalidateVPID0: the VPID-0 flush by revalidation of a TLB
// that a few round trips of a random scenario left (every entry
// survives), against the full flush and the refill it then needs is not
// measured here (see docs/PERFORMANCE.md for whole round trips).
func BenchmarkRevalidateVPID0(b *testing.B) {
	t := &testing.T{}
	for seed := int64(1); ; seed++ {
		h, _, keeps := revalRun(t, seed, 200, false)
		if !keeps {
			continue
		}
		c := h.c
		require.True(b, c.revalidateVPID0(ctxID{}, false))
		n := c.tlb.nfills
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			c.revalidateVPID0(ctxID{}, false)
		}
		b.StopTimer()
		b.ReportMetric(float64(n), "entries")
		require.Equal(b, n, c.tlb.nfills, "every entry survives")
		return
	}
}

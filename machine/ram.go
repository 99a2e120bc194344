package machine

import (
	"errors"
	"fmt"

	"github.com/vmxemu/vmxemu/firmware"
)

// Guest-physical layout constants.
const (
	pageShift = 12
	pageSize  = 1 << pageShift
	fourGiB   = 1 << 32

	// chunkShift sets the second level of the page table: one chunk holds
	// 1<<chunkShift page pointers (4096 pages = 16 MiB of guest RAM, 32 KiB
	// of host memory for the pointers), allocated when a page in it is
	// first touched.
	chunkShift = 12
	chunkPages = 1 << chunkShift
)

// ErrNotRAM is returned (wrapped) by WritePhys and ReadPhys for an address
// that is not guest RAM.
var ErrNotRAM = errors.New("not guest RAM")

type chunk [chunkPages]*[pageSize]byte

// RAM is sparse guest RAM laid out as QEMU's pc machine lays it out
// (firmware.SplitRAM): the part below 4 GiB from physical 0, the rest from
// 4 GiB. Host memory is spent only on 4-KiB pages that have been touched:
// pages are allocated (zeroed) on their first access, through a two-level
// table (a top-level slice of 16-MiB chunks, each an array of page
// pointers), so a 64 GiB guest that touches a few megabytes costs a few
// megabytes.
//
// The legacy VGA window 0xA0000-0xBFFFF is RAM too: vmxemu has no VGA,
// and on QEMU's pc machine without a VGA device (-vga none, -nodefaults)
// nothing claims the window, so the RAM below it shows through (measured
// with QEMU 7.2: a dword written at 0xB8000 and at 0xA0100 reads back).
// The BIOS area 0xC0000-0xFFFFF is RAM, as the shadowed option-ROM and
// BIOS areas are on QEMU's pc machine.
//
// RAM is not safe for concurrent use; the board serialises its vCPUs.
type RAM struct {
	size           uint64 // total bytes (-m)
	below, above   uint64 // bytes below and above 4 GiB
	belowPFN       uint64 // first frame after the below-4G part
	aboveEndPFN    uint64 // first frame after the above-4G part
	chunks         []*chunk
	pagesAllocated int
}

// NewRAM returns size bytes of RAM with no page allocated yet.
func NewRAM(size uint64) (*RAM, error) {
	if size == 0 || size%pageSize != 0 {
		return nil, fmt.Errorf("guest RAM size %#x is not a positive multiple of 4 KiB", size)
	}
	below, above := firmware.SplitRAM(size)
	r := &RAM{size: size, below: below, above: above, belowPFN: below >> pageShift}
	top := r.belowPFN
	if above > 0 {
		r.aboveEndPFN = (fourGiB + above) >> pageShift
		top = r.aboveEndPFN
	}
	r.chunks = make([]*chunk, (top+chunkPages-1)>>chunkShift)
	return r, nil
}

// RAMSize implements firmware.Memory: the total RAM (QEMU's -m).
func (r *RAM) RAMSize() uint64 { return r.size }

// Split returns the bytes of RAM mapped below 4 GiB (from 0) and above it
// (from 4 GiB).
func (r *RAM) Split() (below4G, above4G uint64) { return r.below, r.above }

// PagesAllocated returns how many 4-KiB pages of host memory back the
// guest so far.
func (r *RAM) PagesAllocated() int { return r.pagesAllocated }

// IsRAM reports whether physical frame pfn is RAM.
func (r *RAM) IsRAM(pfn uint64) bool {
	if pfn < r.belowPFN {
		return true
	}
	return pfn >= fourGiB>>pageShift && pfn < r.aboveEndPFN
}

// Page returns the host page backing frame pfn, allocating it on first
// use, or nil if the frame is not RAM.
func (r *RAM) Page(pfn uint64) *[pageSize]byte {
	if !r.IsRAM(pfn) {
		return nil
	}
	c := r.chunks[pfn>>chunkShift]
	if c == nil {
		c = new(chunk)
		r.chunks[pfn>>chunkShift] = c
	}
	p := c[pfn&(chunkPages-1)]
	if p == nil {
		p = new([pageSize]byte)
		c[pfn&(chunkPages-1)] = p
		r.pagesAllocated++
	}
	return p
}

// peek returns the page if it is allocated, nil otherwise (an untouched
// RAM page reads as zeros).
func (r *RAM) peek(pfn uint64) *[pageSize]byte {
	if !r.IsRAM(pfn) {
		return nil
	}
	if c := r.chunks[pfn>>chunkShift]; c != nil {
		return c[pfn&(chunkPages-1)]
	}
	return nil
}

// checkRange reports an error unless every byte of [pa, pa+n) is RAM.
func (r *RAM) checkRange(pa uint64, n int) error {
	if n == 0 {
		return nil
	}
	end := pa + uint64(n)
	if end < pa {
		return fmt.Errorf("[%#x, +%#x) wraps around the address space: %w", pa, n, ErrNotRAM)
	}
	for pfn := pa >> pageShift; pfn <= (end-1)>>pageShift; pfn++ {
		if !r.IsRAM(pfn) {
			a := max(pfn<<pageShift, pa)
			return fmt.Errorf("physical address %#x: %w", a, ErrNotRAM)
		}
	}
	return nil
}

// WritePhys implements firmware.Memory: it copies b to guest-physical pa.
// Nothing is written unless the whole range is RAM.
func (r *RAM) WritePhys(pa uint64, b []byte) error {
	if err := r.checkRange(pa, len(b)); err != nil {
		return fmt.Errorf("write of %d bytes: %w", len(b), err)
	}
	for len(b) > 0 {
		off := pa & (pageSize - 1)
		n := copy(r.Page(pa >> pageShift)[off:], b)
		b = b[n:]
		pa += uint64(n)
	}
	return nil
}

// ReadPhys copies guest-physical memory at pa into b without allocating
// pages (untouched RAM reads as zeros). It fails unless the whole range is
// RAM.
func (r *RAM) ReadPhys(pa uint64, b []byte) error {
	if err := r.checkRange(pa, len(b)); err != nil {
		return fmt.Errorf("read of %d bytes: %w", len(b), err)
	}
	for len(b) > 0 {
		off := pa & (pageSize - 1)
		n := min(len(b), int(pageSize-off))
		if p := r.peek(pa >> pageShift); p != nil {
			copy(b[:n], p[off:])
		} else {
			clear(b[:n])
		}
		b = b[n:]
		pa += uint64(n)
	}
	return nil
}

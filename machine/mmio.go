package machine

import (
	"errors"
	"fmt"
	"sort"
)

// MMIODevice handles memory-mapped accesses routed to it. off is the offset
// from the base of the range the device was registered at; size is 1, 2, 4
// or 8.
type MMIODevice interface {
	ReadMMIO(off uint64, size int) uint64
	WriteMMIO(off uint64, size int, v uint64)
}

// ErrMMIOOverlap is returned (wrapped) by MMIOBus.Register when a range
// intersects one already registered or guest RAM.
var ErrMMIOOverlap = errors.New("MMIO range overlaps")

type mmioRange struct {
	base, end uint64 // [base, end)
	dev       MMIODevice
	name      string
}

// MMIOBus routes physical accesses outside RAM to devices registered on
// address ranges. Unassigned addresses read as 0 and ignore writes, as on
// QEMU's pc machine (its unassigned_mem_read returns 0; measured with QEMU
// 7.2: a dword read at 0xFF100000 gives 0, also after a write there). An
// access that starts inside a device's range goes to that device whole;
// the device answers 0 for the bytes past its end.
type MMIOBus struct {
	ranges []mmioRange // sorted by base, disjoint
}

// Register claims [base, base+size) for dev. name is used in errors.
func (b *MMIOBus) Register(name string, base, size uint64, dev MMIODevice) error {
	end := base + size
	if size == 0 || end < base || dev == nil {
		return fmt.Errorf("register MMIO %s at [%#x, +%#x): empty, wrapping or nil device: %w", name, base, size, ErrMMIOOverlap)
	}
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].base >= base })
	if i > 0 && b.ranges[i-1].end > base {
		o := b.ranges[i-1]
		return fmt.Errorf("register MMIO %s at [%#x, %#x): %s at [%#x, %#x): %w", name, base, end, o.name, o.base, o.end, ErrMMIOOverlap)
	}
	if i < len(b.ranges) && b.ranges[i].base < end {
		o := b.ranges[i]
		return fmt.Errorf("register MMIO %s at [%#x, %#x): %s at [%#x, %#x): %w", name, base, end, o.name, o.base, o.end, ErrMMIOOverlap)
	}
	b.ranges = append(b.ranges, mmioRange{})
	copy(b.ranges[i+1:], b.ranges[i:])
	b.ranges[i] = mmioRange{base: base, end: end, dev: dev, name: name}
	return nil
}

func (b *MMIOBus) find(pa uint64) *mmioRange {
	i := sort.Search(len(b.ranges), func(i int) bool { return b.ranges[i].end > pa })
	if i < len(b.ranges) && b.ranges[i].base <= pa {
		return &b.ranges[i]
	}
	return nil
}

// Read performs a read of size bytes at pa.
func (b *MMIOBus) Read(pa uint64, size int) uint64 {
	if r := b.find(pa); r != nil {
		return r.dev.ReadMMIO(pa-r.base, size) & sizeMask64(size)
	}
	return 0
}

// Write performs a write of size bytes at pa.
func (b *MMIOBus) Write(pa uint64, size int, v uint64) {
	if r := b.find(pa); r != nil {
		r.dev.WriteMMIO(pa-r.base, size, v&sizeMask64(size))
	}
}

func sizeMask64(size int) uint64 {
	if size >= 8 {
		return ^uint64(0)
	}
	return 1<<(8*uint(size)) - 1
}

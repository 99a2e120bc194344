package firmware

import (
	"fmt"
	"sort"
)

// Memory is guest-physical memory as the loaders see it.
//
// RAMSize is the machine's total RAM (QEMU's -m). The firmware lays it out
// as QEMU's default "pc" machine does (see SplitRAM): below 3.5 GiB all of
// it sits at [0, RAMSize); larger machines keep 3 GiB below 4 GiB and the
// rest at 4 GiB.
type Memory interface {
	RAMSize() uint64                     // bytes of RAM starting at physical 0
	WritePhys(pa uint64, b []byte) error // error if any byte is outside RAM
}

// Fixed guest-physical addresses the loaders use (see the package comment).
const (
	// MultibootMmapAddr is where the multiboot memory map goes: QEMU's
	// ADDR_E820_MAP = MULTIBOOT_STRUCT_ADDR (0x9000) in hw/i386/multiboot.c.
	MultibootMmapAddr = 0x9000
	// MultibootInfoAddr is where the multiboot information structure goes:
	// QEMU's ADDR_MBI = ADDR_E820_MAP + 0x500, passed to the option ROM as
	// FW_CFG_INITRD_ADDR and handed to the kernel in EBX.
	MultibootInfoAddr = 0x9500
	// BootGDTAddr is where the loaders write the GDT that the entry state's
	// GDTR points at. QEMU's multiboot option ROM keeps its GDT inside the
	// ROM image; vmxemu has no option ROM, so an equivalent copy lives here
	// for kernels that reload segment registers before loading their own GDT.
	BootGDTAddr = 0x9600
	// MultibootGDTAddr is where the multiboot loader writes its GDT: where
	// QEMU's multiboot option ROM has it. SeaBIOS places that ROM at
	// 0xC0000 when no VGA ROM comes first (-nodefaults, -vga none: vmxemu
	// has no VGA), and the GDT sits at offset 0x2B8 in it; measured with
	// QEMU 7.2 (multiboot.bin of Debian's 1:7.2+dfsg-7) by a kernel
	// that stores SGDT at entry: base 0xC02B8, limit 0x27. The address is
	// in the ROM area outside E820 RAM, so no kernel can be loaded over it.
	MultibootGDTAddr = 0xC02B8
	// PageTableAddr is the PML4 of the Mode64 identity map; the PDPT follows
	// at +0x1000 and four page directories at +0x2000..+0x5FFF.
	PageTableAddr = 0x1000
	pageTableSize = 6 * 0x1000

	// MinRAM is the smallest RAM the loaders accept: the memory map needs
	// RAM above 1 MiB beyond the 128 KiB SeaBIOS keeps at the top.
	MinRAM = 2 << 20
)

// E820 address-range types (ACPI "System Address Map Interfaces"; the
// multiboot spec's mmap "type" uses the same numbers: 1 = available RAM).
const (
	E820RAM      = 1
	E820Reserved = 2
)

// E820Entry is one range of the BIOS memory map.
type E820Entry struct {
	Base, Length uint64
	Type         uint32
}

// End returns the first address after the range.
func (e E820Entry) End() uint64 { return e.Base + e.Length }

// QEMU "pc" (i440FX) RAM split, hw/i386/pc_piix.c pc_init1: max_ram_below_4g
// defaults to 0xE0000000 (3.5 GiB); if RAM reaches it, new machine types
// (gigabyte_align) lower the split to 0xC0000000 and put the rest at 4 GiB.
// "pc" is QEMU's default x86 machine (is_default in pc_piix.c); q35 would
// split at 0x80000000 when RAM >= 0xB0000000 instead.
const (
	pcMaxRAMBelow4G = 0xE0000000
	pcLowmemAligned = 0xC0000000
	fourGiB         = 1 << 32
)

// SplitRAM returns how much of ramSize QEMU's default "pc" machine maps
// below 4 GiB (from 0) and above it (from 4 GiB).
func SplitRAM(ramSize uint64) (below4G, above4G uint64) {
	if ramSize >= pcMaxRAMBelow4G {
		return pcLowmemAligned, ramSize - pcLowmemAligned
	}
	return ramSize, 0
}

// Pieces of the SeaBIOS memory map. Values as a Linux guest under QEMU with
// SeaBIOS prints them ("BIOS-e820: [mem 0x...9fc00-0x...9ffff] reserved",
// "[mem 0x...f0000-0x...fffff] reserved", "[mem 0x7ffe0000-0x7fffffff]
// reserved" for -m 2048, "[mem 0xfffc0000-0xffffffff] reserved"): a 1 KiB
// EBDA below 640 KiB, the 64 KiB BIOS F segment, 128 KiB at the top of low
// RAM kept for SeaBIOS's tables, and the 256 KiB BIOS flash below 4 GiB.
const (
	lowRAMEnd      = 0x9FC00 // EBDA starts here; INT 12h reports 639 KiB
	ebdaEnd        = 0xA0000
	biosSegStart   = 0xF0000
	highRAMStart   = 0x100000
	seabiosHighRes = 0x20000
	biosFlashStart = 0xFFFC0000
	vgaHoleStart   = 0xA0000
)

// E820Reserver is implemented by a Memory whose board reserves address
// ranges the pc machine does not have (the q35 board's PCIe ECAM window,
// which SeaBIOS adds to its E820 map as reserved): the multiboot memory
// map lists them too.
type E820Reserver interface {
	E820Reserved() []E820Entry
}

// boardE820Map is E820Map plus the board's reserved ranges, sorted by
// address.
func boardE820Map(mem Memory) ([]E820Entry, error) {
	m, err := E820Map(mem.RAMSize())
	if err != nil {
		return nil, err
	}
	if r, ok := mem.(E820Reserver); ok {
		m = append(m, r.E820Reserved()...)
		sort.SliceStable(m, func(i, j int) bool { return m[i].Base < m[j].Base })
	}
	return m, nil
}

// E820Map returns the memory map SeaBIOS reports (INT 15h, AX=E820h) on
// QEMU's "pc" machine with ramSize bytes of RAM, sorted by address. The
// 0xFEFFC000 entry QEMU adds only under KVM is not included.
func E820Map(ramSize uint64) ([]E820Entry, error) {
	if ramSize < MinRAM {
		return nil, fmt.Errorf("guest RAM of %d bytes is too small: the BIOS memory map needs at least %d MiB", ramSize, MinRAM>>20)
	}
	below, above := SplitRAM(ramSize)
	m := []E820Entry{
		{0, lowRAMEnd, E820RAM},
		{lowRAMEnd, ebdaEnd - lowRAMEnd, E820Reserved},
		{biosSegStart, highRAMStart - biosSegStart, E820Reserved},
		{highRAMStart, below - seabiosHighRes - highRAMStart, E820RAM},
		{below - seabiosHighRes, seabiosHighRes, E820Reserved},
		{biosFlashStart, fourGiB - biosFlashStart, E820Reserved},
	}
	if above > 0 {
		m = append(m, E820Entry{fourGiB, above, E820RAM})
	}
	return m, nil
}

// memUpperKiB computes the multiboot mem_upper field the way QEMU's
// multiboot option ROM does (pc-bios/optionrom/multiboot.S, upper_mem_*):
// start at 1 MiB and keep extending through usable (type 1) entries that
// start below 4 GiB and contain the current end, then report the KiB
// between 1 MiB and that end.
func memUpperKiB(m []E820Entry) uint32 {
	end := uint64(highRAMStart)
	for again := true; again; {
		again = false
		for _, e := range m {
			if e.Type != E820RAM || e.Base>>32 != 0 {
				continue
			}
			if e.Base <= end && end < e.End() {
				end = e.End()
				again = true
			}
		}
	}
	return uint32((end - highRAMStart) >> 10)
}

// memLowerKiB is what INT 12h returns under SeaBIOS: the usable RAM below
// the EBDA in KiB (the ROM stores the INT 12h result as mem_lower).
func memLowerKiB(m []E820Entry) uint32 {
	for _, e := range m {
		if e.Type == E820RAM && e.Base == 0 {
			return uint32(e.Length >> 10)
		}
	}
	return 0
}

// ramRanges are the guest-physical ranges a loader may fill: RAM minus the
// legacy VGA/BIOS hole 0xA0000-0xFFFFF.
func ramRanges(ramSize uint64) []E820Entry {
	below, above := SplitRAM(ramSize)
	var r []E820Entry
	if below > vgaHoleStart {
		r = append(r, E820Entry{0, vgaHoleStart, E820RAM})
		if below > highRAMStart {
			r = append(r, E820Entry{highRAMStart, below - highRAMStart, E820RAM})
		}
	} else {
		r = append(r, E820Entry{0, below, E820RAM})
	}
	if above > 0 {
		r = append(r, E820Entry{fourGiB, above, E820RAM})
	}
	return r
}

// checkInRAM reports an error unless [start, end) lies inside one RAM range.
func checkInRAM(ramSize, start, end uint64, what string) error {
	if end < start {
		return fmt.Errorf("%s [%#x, %#x) wraps around the address space", what, start, end)
	}
	for _, r := range ramRanges(ramSize) {
		if start >= r.Base && end <= r.End() {
			return nil
		}
	}
	return fmt.Errorf("%s [%#x, %#x) is outside guest RAM (%s)", what, start, end, describeRAM(ramSize))
}

func describeRAM(ramSize uint64) string {
	below, above := SplitRAM(ramSize)
	s := fmt.Sprintf("RAM is [0, %#x) less the VGA/BIOS hole [0xa0000, 0x100000)", below)
	if above > 0 {
		s += fmt.Sprintf(" and [%#x, %#x)", uint64(fourGiB), fourGiB+above)
	}
	return s
}

// region is a named guest-physical range [start, end).
type region struct {
	start, end uint64
	what       string
}

func (r region) overlaps(o region) bool { return r.start < o.end && o.start < r.end }

// checkNoOverlap reports the first pair of overlapping regions in rs.
func checkNoOverlap(rs []region) error {
	for i := range rs {
		for j := i + 1; j < len(rs); j++ {
			if rs[i].overlaps(rs[j]) {
				return fmt.Errorf("%s [%#x, %#x) overlaps %s [%#x, %#x)",
					rs[i].what, rs[i].start, rs[i].end, rs[j].what, rs[j].start, rs[j].end)
			}
		}
	}
	return nil
}

// writePhys writes b at pa and names what failed.
func writePhys(mem Memory, pa uint64, b []byte, what string) error {
	if err := mem.WritePhys(pa, b); err != nil {
		return fmt.Errorf("writing %s at %#x: %w", what, pa, err)
	}
	return nil
}

// zeroPhys writes n zero bytes at pa in bounded chunks.
func zeroPhys(mem Memory, pa, n uint64, what string) error {
	const chunk = 64 << 10
	z := make([]byte, min(n, chunk))
	for n > 0 {
		k := min(n, chunk)
		if err := writePhys(mem, pa, z[:k], what); err != nil {
			return err
		}
		pa += k
		n -= k
	}
	return nil
}

func pageAlign(x uint64) uint64 { return (x + 0xFFF) &^ 0xFFF }

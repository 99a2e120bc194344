package firmware

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

func TestResetState(t *testing.T) {
	// SDM Vol. 3A 10.1.1, Table 10-1 (power-up / RESET column).
	s := ResetState(0x000906EA)
	assert.Equal(t, uint64(0x0000FFF0), s.RIP, "EIP")
	assert.Equal(t, uint64(0x00000002), s.RFLAGS, "EFLAGS")
	assert.Equal(t, uint64(0x60000010), s.CR0, "CR0")
	assert.Zero(t, s.CR2)
	assert.Zero(t, s.CR3)
	assert.Zero(t, s.CR4)
	assert.Zero(t, s.EFER)
	assert.Equal(t, uint64(0x000906EA), s.GPR[arch.RDX], "EDX = processor signature")
	for _, r := range []int{arch.RAX, arch.RBX, arch.RCX, arch.RSP, arch.RBP, arch.RSI, arch.RDI, arch.R8, arch.R15} {
		assert.Zero(t, s.GPR[r], "GPR %d", r)
	}
	// CS: selector F000H, base FFFF0000H, limit FFFFH, present R/W accessed
	// (a code segment: type 1011b, execute/read/accessed).
	assert.Equal(t, arch.Segment{Selector: 0xF000, Base: 0xFFFF0000, Limit: 0xFFFF,
		Attr: arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed}, s.Seg[arch.CS])
	assert.Equal(t, uint64(0xFFFFFFF0), s.Seg[arch.CS].Base+s.RIP, "first fetch")
	for _, i := range []int{arch.SS, arch.DS, arch.ES, arch.FS, arch.GS} {
		assert.Equal(t, arch.Segment{Limit: 0xFFFF, Attr: arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed}, s.Seg[i], arch.SegNames[i])
	}
	assert.Equal(t, arch.DescTable{Limit: 0xFFFF}, s.GDTR)
	assert.Equal(t, arch.DescTable{Limit: 0xFFFF}, s.IDTR)
	assert.Equal(t, uint32(0xFFFF), s.LDTR.Limit)
	assert.NotZero(t, s.LDTR.Attr&arch.ARP)
	assert.Equal(t, uint32(0xFFFF), s.TR.Limit)
	assert.NotZero(t, s.TR.Attr&arch.ARP)
	assert.Equal(t, [8]uint64{6: 0xFFFF0FF0, 7: 0x00000400}, s.DR)
	assert.Equal(t, uint64(1), s.XCR0)
	assert.Equal(t, uint64(0x0007040600070406), s.PAT, "SDM 13.12.4 PAT power-up value")
	assert.Equal(t, uint64(0xFEE00000), s.APICBase&^0xFFF, "APIC base")
	assert.NotZero(t, s.APICBase&(1<<11), "APIC global enable")
	assert.False(t, s.LongMode())
	assert.Equal(t, 0, s.CPL())
}

// romGDT is the GDT of QEMU's pc-bios/optionrom/multiboot.S, byte for byte
// as the ROM source lists it.
var romGDT = [][8]byte{
	{0, 0, 0, 0, 0, 0, 0, 0},
	{0xff, 0xff, 0x00, 0x00, 0x00, 0x9a, 0xcf, 0x00},
	{0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0xcf, 0x00},
	{0xff, 0xff, 0x00, 0x00, 0x00, 0x9e, 0x00, 0x00},
	{0xff, 0xff, 0x00, 0x00, 0x00, 0x92, 0x00, 0x00},
}

// cacheOf decodes a descriptor the way a segment load fills the hidden
// cache (SDM Vol. 3A 3.4.5): base, byte-granular limit, and descriptor
// bits 40-55 as attributes, with the accessed bit the load sets.
func cacheOf(d [8]byte, sel uint16) arch.Segment {
	base := uint64(d[2]) | uint64(d[3])<<8 | uint64(d[4])<<16 | uint64(d[7])<<24
	limit := uint32(d[0]) | uint32(d[1])<<8 | uint32(d[6]&0xF)<<16
	if d[6]&0x80 != 0 {
		limit = limit<<12 | 0xFFF
	}
	attr := uint32(d[5]) | uint32(d[6]&0xF0)<<8 | arch.ARAccessed
	return arch.Segment{Selector: sel, Base: base, Limit: limit, Attr: attr}
}

func TestMultibootEntryState(t *testing.T) {
	m := newMem(ram16M)
	img := elf32(em386, 0x100010, tseg{paddr: 0x100000, data: append(mbHeaderBytes(0), 0xF4)})
	b, err := LoadMultiboot(m, img, "k ", nil)
	require.NoError(t, err)
	s := b.State()

	// multiboot.S: "movl $1, %eax; movl %eax, %cr0" -> PE; ET reads as 1
	// (SDM Vol. 3A 2.5); CD, NW, PG clear.
	assert.Equal(t, uint64(arch.CR0PE|arch.CR0ET), s.CR0)
	assert.Equal(t, uint64(0x11), s.CR0)
	assert.Zero(t, s.CR4)
	assert.Zero(t, s.CR3)
	assert.Zero(t, s.EFER)
	// cli, cld; Multiboot 3.2: IF and VM clear. QEMU 7.2 (measured with
	// pushfd as a probe kernel's first flag-reading instruction): 0x6.
	assert.Equal(t, uint64(0x6), s.RFLAGS)
	// ESP as QEMU 7.2's option ROM leaves it (measured): 0x6F08.
	assert.Equal(t, uint64(0x6F08), s.GPR[arch.RSP])
	assert.Equal(t, uint64(0x100010), s.RIP)
	assert.Equal(t, uint64(0x2BADB002), s.GPR[arch.RAX])
	assert.Equal(t, uint64(0x9500), s.GPR[arch.RBX])
	assert.Equal(t, uint64(0x100010), s.GPR[arch.RCX], "the ROM jumps via ECX")

	// ljmp to selector 8; 0x10 into SS, DS, ES, FS, GS.
	assert.Equal(t, cacheOf(romGDT[1], 0x08), s.Seg[arch.CS])
	assert.Equal(t, arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: 0xC09B}, s.Seg[arch.CS])
	for _, i := range []int{arch.SS, arch.DS, arch.ES, arch.FS, arch.GS} {
		assert.Equal(t, cacheOf(romGDT[2], 0x10), s.Seg[i], arch.SegNames[i])
	}
	// GDTR as QEMU 7.2 leaves it with -nodefaults (a kernel that stores
	// SGDT at entry printed base 0xC02B8, limit 0x27: the GDT inside the
	// multiboot option ROM that SeaBIOS put at 0xC0000).
	assert.Equal(t, arch.DescTable{Base: 0xC02B8, Limit: 5*8 - 1}, s.GDTR)
	assert.Equal(t, arch.DescTable{Base: 0, Limit: 0x3FF}, s.IDTR, "SeaBIOS real-mode IVT")
	assert.False(t, s.LongMode())
	assert.Equal(t, 0, s.CPL())

	// The GDT in memory is the ROM's, with the accessed bit the processor
	// set when it loaded selectors 0x08 and 0x10.
	for i, d := range romGDT {
		want := d
		if i == 1 || i == 2 {
			want[5] |= 1
		}
		assert.Equal(t, want[:], m.b[0xC02B8+8*i:0xC02B8+8*i+8], "GDT entry %d", i)
	}
}

// walk translates a linear address through 4-level paging tables in m
// (SDM Vol. 3A 4.5): PML4E, PDPTE, PDE with PS=1 mapping 2 MiB.
func walk(t *testing.T, m *fakeMem, cr3, la uint64) uint64 {
	t.Helper()
	const addrMask = 0x000FFFFFFFFFF000
	e := m.u64(cr3&addrMask + 8*(la>>39&511))
	require.NotZero(t, e&1, "PML4E present")
	e = m.u64(e&addrMask + 8*(la>>30&511))
	require.NotZero(t, e&1, "PDPTE present")
	require.Zero(t, e&0x80, "PDPTE maps a directory")
	e = m.u64(e&addrMask + 8*(la>>21&511))
	require.NotZero(t, e&1, "PDE present")
	require.NotZero(t, e&2, "PDE writable")
	require.NotZero(t, e&0x80, "PDE maps a 2 MiB page")
	return e&0x000FFFFFFFE00000 | la&0x1FFFFF
}

func TestLoadELF64(t *testing.T) {
	m := newMem(ram16M)
	code := pattern(0x30, 2)
	img := elf64(emX86_64, 0x200010, tseg{paddr: 0x200000, vaddr: 0x200000, data: code, memsz: 0x100})
	b, err := LoadELF(m, img)
	require.NoError(t, err)
	assert.Equal(t, Mode64, b.Mode)
	assert.Equal(t, uint64(0x200010), b.Entry)
	assert.Equal(t, code, m.b[0x200000:0x200030])
	m.requireFill(t, 0x200030, 0x200100, 0, "BSS")
	m.requireFill(t, 0x200100, 0x200200, 0xAA, "past memsz")

	s := b.State()
	assert.Equal(t, uint64(arch.CR0PE|arch.CR0PG|arch.CR0ET), s.CR0)
	assert.Equal(t, uint64(arch.CR4PAE), s.CR4)
	assert.Equal(t, uint64(arch.EFERLME|arch.EFERLMA), s.EFER)
	assert.Equal(t, uint64(PageTableAddr), s.CR3)
	assert.True(t, s.Mode64())
	assert.Equal(t, uint64(0x200010), s.RIP)
	assert.NotZero(t, s.Seg[arch.CS].Attr&arch.ARL, "CS.L")
	assert.Zero(t, s.Seg[arch.CS].Attr&arch.ARDB, "CS.D must be 0 with L=1 (SDM 3.4.5)")
	assert.Equal(t, uint16(0x08), s.Seg[arch.CS].Selector)
	assert.Equal(t, uint16(0x10), s.Seg[arch.DS].Selector)
	assert.Equal(t, uint64(arch.FlagRes1), s.RFLAGS)

	// The GDT in memory matches the caches: entry 1 is present DPL0 code
	// with L=1 (bit 53) and D=0 (bit 54).
	d := binary.LittleEndian.Uint64(m.b[BootGDTAddr+8:])
	assert.NotZero(t, d&(1<<53))
	assert.Zero(t, d&(1<<54))
	assert.Equal(t, cacheOf([8]byte(m.b[BootGDTAddr+8:BootGDTAddr+16]), 8).Attr, s.Seg[arch.CS].Attr)
	assert.Equal(t, cacheOf([8]byte(m.b[BootGDTAddr+16:BootGDTAddr+24]), 0x10).Attr, s.Seg[arch.DS].Attr)
	assert.Equal(t, s.GDTR, arch.DescTable{Base: BootGDTAddr, Limit: uint16(4*8 - 1)})

	// Identity map of the first 4 GiB with 2 MiB pages.
	for _, la := range []uint64{0, 0x200010, 0x1FFFFF, 0x40000000, 0xBFFFFFFF, 0xFEE00000, 0xFFFFFFFF} {
		assert.Equal(t, la, walk(t, m, s.CR3, la), "la %#x", la)
	}
	assert.Zero(t, m.u64(PageTableAddr+8), "only PML4E 0 is present")
	assert.Zero(t, m.u64(PageTableAddr+0x1000+8*4), "only PDPTEs 0-3 are present")
}

func TestLoadELF32(t *testing.T) {
	m := newMem(ram16M)
	img := elf32(em386, 0x100000, tseg{paddr: 0x100000, data: []byte{0xF4}})
	b, err := LoadELF(m, img)
	require.NoError(t, err)
	assert.Equal(t, Mode32Flat, b.Mode)
	s := b.State()
	assert.Equal(t, uint64(0x11), s.CR0)
	assert.Equal(t, uint16(0x08), s.Seg[arch.CS].Selector)
	assert.Equal(t, uint32(0xC09B), s.Seg[arch.CS].Attr)
	assert.Zero(t, s.GPR[arch.RAX], "no multiboot magic")
	assert.Zero(t, s.GPR[arch.RCX])
	assert.Equal(t, byte(0xF4), m.b[0x100000])
}

func TestLoadELFErrors(t *testing.T) {
	tests := []struct {
		name string
		img  []byte
		want string
	}{
		{"not ELF", []byte("MZ\x90\x00 not an elf"), "elf: not an ELF file (no \\x7fELF magic)"},
		{"big-endian", func() []byte {
			b := elf32(em386, 0, tseg{paddr: 0x100000, data: []byte{1}})
			b[5] = 2
			return b
		}(), "elf: ELF data encoding ELFDATA2MSB is not supported"},
		{"truncated header", elf64(emX86_64, 0, tseg{paddr: 0x100000, data: []byte{1}})[:40], "elf: truncated ELF header: 40 bytes, ELFCLASS64 needs 64"},
		{"ARM", elf32(emARM, 0x100000, tseg{paddr: 0x100000, data: []byte{1}}), "elf: ELFCLASS32 image for machine EM_ARM is not supported"},
		{"ELF64 i386 mix", elf64(em386, 0x100000, tseg{paddr: 0x100000, data: []byte{1}}), "elf: ELFCLASS64 image for machine EM_386 is not supported"},
		{"entry above 4 GiB", elf64(emX86_64, 0xFFFFFFFF80000000, tseg{paddr: 0x100000, data: []byte{1}}),
			"elf: entry point 0xffffffff80000000 is above 4 GiB, outside the identity-mapped range"},
		{"over the page tables", elf64(emX86_64, 0x2000, tseg{paddr: 0x2000, data: []byte{1}}),
			"elf: segment 0 [0x2000, 0x2001) overlaps identity page tables [0x1000, 0x7000)"},
		{"over the GDT", elf32(em386, 0x9600, tseg{paddr: 0x9000, data: []byte{1}, memsz: 0x1000}),
			"elf: segment 0 [0x9000, 0xa000) overlaps boot GDT [0x9600, 0x9628)"},
		{"outside RAM", elf64(emX86_64, 0x100000, tseg{paddr: 0x100000, data: []byte{1}}, tseg{paddr: 0x3000000, data: []byte{1}}),
			"elf: segment 1 [0x3000000, 0x3000001) is outside guest RAM"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LoadELF(newMem(ram16M), tc.img)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, b)
		})
	}
}

func TestLoadFlat(t *testing.T) {
	t.Run("real mode boot sector", func(t *testing.T) {
		m := newMem(ram16M)
		img := pattern(512, 4)
		b, err := LoadFlat(m, img, 0x7C00, 0x7C00, ModeReal16)
		require.NoError(t, err)
		assert.Equal(t, img, m.b[0x7C00:0x7E00])
		s := b.State()
		assert.Equal(t, uint64(arch.CR0ET), s.CR0, "real mode, caches on as a BIOS leaves them")
		assert.Equal(t, arch.Segment{Selector: 0, Base: 0, Limit: 0xFFFF, Attr: 0x9B}, s.Seg[arch.CS])
		assert.Equal(t, arch.Segment{Limit: 0xFFFF, Attr: 0x93}, s.Seg[arch.SS])
		assert.Equal(t, uint64(0x7C00), s.RIP)
		assert.Equal(t, arch.DescTable{Limit: 0x3FF}, s.IDTR)
		m.requireFill(t, BootGDTAddr, BootGDTAddr+8, 0xAA, "no GDT written in real mode")
	})
	t.Run("real mode entry above 64 KiB", func(t *testing.T) {
		b, err := LoadFlat(newMem(ram16M), []byte{0xF4}, 0x12345, 0x12345, ModeReal16)
		require.NoError(t, err)
		s := b.State()
		assert.Equal(t, uint16(0x1000), s.Seg[arch.CS].Selector)
		assert.Equal(t, uint64(0x10000), s.Seg[arch.CS].Base)
		assert.Equal(t, uint64(0x2345), s.RIP)
		assert.Equal(t, uint64(0x12345), s.Seg[arch.CS].Base+s.RIP)
	})
	t.Run("flat 32", func(t *testing.T) {
		m := newMem(ram16M)
		b, err := LoadFlat(m, []byte{1, 2, 3}, 0x100000, 0x100001, Mode32Flat)
		require.NoError(t, err)
		s := b.State()
		assert.Equal(t, uint64(0x100001), s.RIP)
		assert.Equal(t, uint64(0x11), s.CR0)
		assert.Equal(t, []byte{1, 2, 3}, m.b[0x100000:0x100003])
		assert.Equal(t, uint64(0x100003), b.KernelEnd)
	})
	t.Run("long mode", func(t *testing.T) {
		m := newMem(ram16M)
		b, err := LoadFlat(m, []byte{0xF4}, 0x100000, 0x100000, Mode64)
		require.NoError(t, err)
		s := b.State()
		assert.True(t, s.Mode64())
		assert.Equal(t, uint64(0x100000), walk(t, m, s.CR3, 0x100000))
	})
	errs := []struct {
		name        string
		img         []byte
		addr, entry uint64
		mode        Mode
		want        string
	}{
		{"empty", nil, 0x7C00, 0x7C00, ModeReal16, "flat: image is empty"},
		{"real entry >= 1 MiB", []byte{1}, 0x100000, 0x100000, ModeReal16, "flat: real-mode entry 0x100000 is not below 1 MiB"},
		{"32-bit entry >= 4 GiB", []byte{1}, 0x100000, 1 << 32, Mode32Flat, "flat: flat32 entry 0x100000000 is not below 4 GiB"},
		{"unknown mode", []byte{1}, 0x100000, 0x100000, Mode(7), "flat: unknown mode Mode(7)"},
		{"outside RAM", make([]byte, 16), ram16M - 8, ram16M - 8, Mode32Flat, "flat: image [0xfffff8, 0x1000008) is outside guest RAM"},
		{"over page tables", []byte{1}, 0x1000, 0x1000, Mode64, "flat: image [0x1000, 0x1001) overlaps identity page tables [0x1000, 0x7000)"},
		{"over the GDT", make([]byte, 0x100), 0x9580, 0x9580, Mode32Flat, "flat: image [0x9580, 0x9680) overlaps boot GDT [0x9600, 0x9628)"},
	}
	for _, tc := range errs {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LoadFlat(newMem(ram16M), tc.img, tc.addr, tc.entry, tc.mode)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, b)
		})
	}
}

func TestMemoryWriteErrorWrapped(t *testing.T) {
	// A Memory that refuses writes: the loader's error names what it was
	// writing and wraps the Memory's error.
	m := refuseMem{size: ram16M}
	_, err := LoadFlat(m, []byte{1}, 0x100000, 0x100000, Mode32Flat)
	require.ErrorIs(t, err, refusedError{})
	require.ErrorContains(t, err, "flat: writing image at 0x100000: refused")
}

type refuseMem struct{ size uint64 }

type refusedError struct{}

func (refusedError) Error() string { return "refused" }

func (m refuseMem) RAMSize() uint64                { return m.size }
func (m refuseMem) WritePhys(uint64, []byte) error { return refusedError{} }

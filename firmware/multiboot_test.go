package firmware

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

const ram16M = 16 << 20

// mmapRow is one multiboot mmap entry as read back from guest memory.
type mmapRow struct {
	size       uint32
	base, leng uint64
	typ        uint32
}

func readMmap(m *fakeMem, addr uint64, length uint32) []mmapRow {
	var rows []mmapRow
	for off := uint64(0); off < uint64(length); {
		p := addr + off
		r := mmapRow{m.u32(p), m.u64(p + 4), m.u64(p + 12), m.u32(p + 20)}
		rows = append(rows, r)
		off += uint64(r.size) + 4 // spec 3.3: next entry at size+4
	}
	return rows
}

// The memory map SeaBIOS reports on QEMU "pc" for 16 MiB of RAM: the
// fixed low entries Linux guests print (0-0x9fbff usable, 0x9fc00-0x9ffff,
// 0xf0000-0xfffff and 0xfffc0000-0xffffffff reserved) and the top 128 KiB
// of RAM reserved; each entry has size 20 (QEMU's option ROM asks INT 15h
// E820h for 20 bytes and stores what it returns).
var want16M = []mmapRow{
	{20, 0, 0x9FC00, 1},
	{20, 0x9FC00, 0x400, 2},
	{20, 0xF0000, 0x10000, 2},
	{20, 0x100000, 0x1000000 - 0x20000 - 0x100000, 1},
	{20, 0x1000000 - 0x20000, 0x20000, 2},
	{20, 0xFFFC0000, 0x40000, 2},
}

func TestLoadMultibootELF(t *testing.T) {
	m := newMem(ram16M)
	code := append(mbHeaderBytes(0x3), pattern(16, 1)...) // flags: page-align, mem info
	img := elf32(em386, 0x10000C,
		tseg{paddr: 0x100000, data: code, memsz: 0x1000},
		tseg{paddr: 0x102000, data: []byte("DATADATA"), memsz: 0x800},
		tseg{typ: 4 /*PT_NOTE*/, paddr: 0x500000, data: []byte("note")},
	)
	mod1 := pattern(5000, 9)
	mods := []Module{{Name: "/boot/mod1 arg=1", Data: mod1}, {Name: "m2", Data: []byte("xyz")}}
	cmd := MultibootCmdline("/boot/kernel.elf", "console=ttyS0")
	require.Equal(t, "/boot/kernel.elf console=ttyS0", cmd)

	b, err := LoadMultiboot(m, img, cmd, mods)
	require.NoError(t, err)
	assert.Empty(t, b.Warnings)

	// Registers (Multiboot 3.2): EAX magic, EBX info address (QEMU ADDR_MBI).
	assert.Equal(t, uint64(0x10000C), b.Entry)
	assert.Equal(t, uint32(0x2BADB002), b.EAX)
	assert.Equal(t, uint32(0x9500), b.EBX)
	assert.Equal(t, uint64(0x9500), b.InfoAddr)
	assert.Equal(t, Mode32Flat, b.Mode)
	assert.True(t, b.A20)

	// Segments at p_paddr, BSS and the gap between segments zeroed (QEMU's
	// mb_buf is the range [elf_low, elf_high) copied out of the ROMs).
	assert.Equal(t, code, m.b[0x100000:0x100000+len(code)])
	m.requireFill(t, 0x100000+uint64(len(code)), 0x102000, 0, "BSS and gap")
	assert.Equal(t, []byte("DATADATA"), m.b[0x102000:0x102008])
	m.requireFill(t, 0x102008, 0x102800, 0, "BSS")
	assert.Equal(t, uint64(0x100000), b.KernelStart)
	assert.Equal(t, uint64(0x102800), b.KernelEnd)
	m.requireFill(t, 0x500000, 0x500004, 0xAA, "PT_NOTE not loaded")

	// Layout by hw/i386/multiboot.c: kernel size 0x2800 -> module list at
	// load+page_align(0x2800) = 0x103000, two 16-byte entries, strings from
	// 0x103020: "/boot/mod1 arg=1\0" (17), "m2\0" (3), kernel cmdline.
	// Reserved string space = (16+1)+(13+1) [path, append] + 19+1 [the
	// -initrd option "/boot/mod1 arg=1,m2"] = 51, so "qemu" at 0x103053.
	// mb_buf_size = page_align(0x3000+51+32+5) = 0x4000: mod1 at 0x104000
	// (5000 bytes, end 0x105388), then page_align -> m2 at 0x106000.
	info := uint64(0x9500)
	assert.Equal(t, uint32(1<<0|1<<1|1<<2|1<<3|1<<6|1<<9), m.u32(info+0), "flags")
	assert.Equal(t, uint32(639), m.u32(info+4), "mem_lower = INT 12h under SeaBIOS")
	assert.Equal(t, uint32((0x1000000-0x20000-0x100000)/1024), m.u32(info+8), "mem_upper")
	assert.Equal(t, uint32(0x8000FFFF), m.u32(info+12), "boot_device")
	assert.Equal(t, uint32(0x103034), m.u32(info+16), "cmdline")
	assert.Equal(t, "/boot/kernel.elf console=ttyS0", m.cstr(t, 0x103034))
	assert.Equal(t, uint32(2), m.u32(info+20), "mods_count")
	assert.Equal(t, uint32(0x103000), m.u32(info+24), "mods_addr")
	assert.Equal(t, uint32(24*6), m.u32(info+44), "mmap_length")
	assert.Equal(t, uint32(0x9000), m.u32(info+48), "mmap_addr")
	assert.Equal(t, uint32(0x103053), m.u32(info+64), "boot_loader_name")
	assert.Equal(t, "qemu", m.cstr(t, 0x103053))
	m.requireFill(t, info+28, info+44, 0, "syms")
	m.requireFill(t, info+52, info+64, 0, "drives/config")
	m.requireFill(t, info+68, info+88, 0, "apm/vbe")

	assert.Equal(t, want16M, readMmap(m, 0x9000, m.u32(info+44)))

	// Module list: mod_start, mod_end (exclusive), string, reserved.
	assert.Equal(t, []uint32{0x104000, 0x104000 + 5000, 0x103020, 0}, []uint32{m.u32(0x103000), m.u32(0x103004), m.u32(0x103008), m.u32(0x10300C)})
	assert.Equal(t, []uint32{0x106000, 0x106003, 0x103031, 0}, []uint32{m.u32(0x103010), m.u32(0x103014), m.u32(0x103018), m.u32(0x10301C)})
	assert.Equal(t, "/boot/mod1 arg=1", m.cstr(t, 0x103020))
	assert.Equal(t, "m2", m.cstr(t, 0x103031))
	assert.Equal(t, mod1, m.b[0x104000:0x104000+5000])
	assert.Equal(t, []byte("xyz"), m.b[0x106000:0x106003])
	m.requireFill(t, 0x106003, 0x107000, 0, "page padding after the last module")
	m.requireFill(t, 0x107000, 0x107010, 0xAA, "beyond the load")
	assert.Equal(t, uint64(0x107000), b.LoadEnd)
	assert.Equal(t, []LoadedModule{
		{Start: 0x104000, End: 0x104000 + 5000, CmdlineAddr: 0x103020, Name: "/boot/mod1 arg=1"},
		{Start: 0x106000, End: 0x106003, CmdlineAddr: 0x103031, Name: "m2"},
	}, b.Modules)
}

func TestLoadMultibootNoModules(t *testing.T) {
	m := newMem(ram16M)
	img := elf32(em386, 0x100000, tseg{paddr: 0x100000, data: mbHeaderBytes(0)})
	b, err := LoadMultiboot(m, img, MultibootCmdline("k", ""), nil)
	require.NoError(t, err)
	// QEMU: no -initrd -> 0 module slots; mods_addr still points after the
	// kernel (page_align(12) = 0x1000); "k " (trailing space from "%s %s")
	// right there; "qemu" after the reserved strlen("k")+1 + strlen("")+1 = 3.
	assert.Equal(t, uint32(0), m.u32(0x9500+20))
	assert.Equal(t, uint32(0x101000), m.u32(0x9500+24))
	assert.Equal(t, uint32(0x101000), m.u32(0x9500+16))
	assert.Equal(t, "k ", m.cstr(t, 0x101000))
	assert.Equal(t, uint32(0x101003), m.u32(0x9500+64))
	assert.Equal(t, "qemu", m.cstr(t, 0x101003))
	assert.Equal(t, uint64(0x102000), b.LoadEnd)
	assert.Empty(t, b.Modules)
}

func TestLoadMultibootAout(t *testing.T) {
	t.Run("header fields with prefix, load_end and bss_end", func(t *testing.T) {
		// 0x1000 bytes that are not loaded, then the text. The header is at
		// file offset 0x1010 and says header_addr = load_addr + 0x10, so the
		// text starts at file offset 0x1010 - 0x10 = 0x1000.
		img := pattern(0x1200, 3)
		copy(img[0x1010:], mbHeaderBytes(1<<16, 0x200010, 0x200000, 0x200100, 0x200800, 0x200040))
		m := newMem(ram16M)
		b, err := LoadMultiboot(m, img, "k x", nil)
		require.NoError(t, err)
		assert.Equal(t, img[0x1000:0x1100], m.b[0x200000:0x200100])
		m.requireFill(t, 0x200100, 0x200800, 0, "BSS up to bss_end_addr")
		assert.Equal(t, uint64(0x200040), b.Entry)
		assert.Equal(t, uint64(0x200000), b.KernelStart)
		assert.Equal(t, uint64(0x200800), b.KernelEnd)
		assert.Equal(t, uint32(0x201000), m.u32(0x9500+24), "mods_addr = load + page_align(bss_end - load)")
		assert.Equal(t, "k x", m.cstr(t, uint64(m.u32(0x9500+16))))
	})
	t.Run("load_end_addr 0 loads to end of file, bss_end_addr 0 means no BSS", func(t *testing.T) {
		img := pattern(0x300, 5)
		copy(img[0:], mbHeaderBytes(1<<16, 0x100000, 0x100000, 0, 0, 0x100020))
		m := newMem(ram16M)
		b, err := LoadMultiboot(m, img, "k ", nil)
		require.NoError(t, err)
		assert.Equal(t, img, m.b[0x100000:0x100300])
		assert.Equal(t, uint64(0x100300), b.KernelEnd)
		assert.Equal(t, uint64(0x100020), b.Entry)
	})
	t.Run("the a.out kludge wins over ELF", func(t *testing.T) {
		// An x86-64 ELF with flag bit 16 is loaded by the header fields,
		// not refused: QEMU only looks at e_machine without the kludge.
		img := elf64(emX86_64, 0x400000, tseg{paddr: 0x400000, data: make([]byte, 64)})
		hdrOff := len(img)
		img = append(img, mbHeaderBytes(1<<16, 0x300000+uint32(hdrOff), 0x300000, 0, 0, 0x300000)...)
		m := newMem(ram16M)
		b, err := LoadMultiboot(m, img, "k ", nil)
		require.NoError(t, err)
		assert.Equal(t, img, m.b[0x300000:0x300000+len(img)])
		assert.Equal(t, uint64(0x300000), b.Entry)
	})
}

func TestLoadMultibootHeaderSearch(t *testing.T) {
	t.Run("last aligned offset QEMU scans", func(t *testing.T) {
		// QEMU scans i < 8192-48 in steps of 4: 8140 is the last offset.
		img := make([]byte, 8192)
		copy(img[8140:], mbHeaderBytes(1<<16, 0x100000+8140, 0x100000, 0, 0, 0x100000))
		_, err := LoadMultiboot(newMem(ram16M), img, "k ", nil)
		require.NoError(t, err)
	})
	t.Run("beyond the search window", func(t *testing.T) {
		img := make([]byte, 8300)
		copy(img[8144:], mbHeaderBytes(1<<16, 0x100000+8144, 0x100000, 0, 0, 0x100000))
		_, err := LoadMultiboot(newMem(ram16M), img, "k ", nil)
		require.ErrorContains(t, err, "multiboot: no multiboot header")
	})
	t.Run("unaligned header is not found", func(t *testing.T) {
		img := make([]byte, 256)
		copy(img[2:], mbHeaderBytes(1<<16, 0x100002, 0x100000, 0, 0, 0x100000))
		_, err := LoadMultiboot(newMem(ram16M), img, "k ", nil)
		require.ErrorContains(t, err, "no multiboot header")
	})
	t.Run("bad checksum skipped, later good header used", func(t *testing.T) {
		img := make([]byte, 256)
		copy(img[0:], le32s(0x1BADB002, 0, 1))
		copy(img[64:], mbHeaderBytes(1<<16, 0x100040, 0x100000, 0, 0, 0x100000))
		_, err := LoadMultiboot(newMem(ram16M), img, "k ", nil)
		require.NoError(t, err)
	})
}

func TestLoadMultibootWarnings(t *testing.T) {
	// Flag bit 2 (video mode): QEMU prints "multiboot knows VBE. we don't."
	// and boots anyway. Bits 3-15 are ignored by QEMU.
	img := elf32(em386, 0x100000, tseg{paddr: 0x100000, data: mbHeaderBytes(1<<2 | 1<<5)})
	b, err := LoadMultiboot(newMem(ram16M), img, "k ", nil)
	require.NoError(t, err)
	require.Len(t, b.Warnings, 2)
	assert.Contains(t, b.Warnings[0], "video mode (header flag bit 2)")
	assert.Contains(t, b.Warnings[1], "flag bits 0x20")
}

func TestLoadMultibootErrors(t *testing.T) {
	hdr := mbHeaderBytes(0)
	aout := func(fileLen, off int, f ...uint32) []byte {
		img := make([]byte, fileLen)
		copy(img[off:], mbHeaderBytes(1<<16, f...))
		return img
	}
	tests := []struct {
		name string
		ram  int
		img  []byte
		mods []Module
		want string
	}{
		{"no header", ram16M, make([]byte, 9000),
			nil, "multiboot: no multiboot header (magic 0x1badb002 with a valid checksum, 4-byte aligned) in the first 8192 bytes"},
		{"empty image", ram16M, nil, nil, "no multiboot header"},
		{"bad checksum", ram16M, le32s(0x1BADB002, 3, 0), nil,
			"multiboot: multiboot header at offset 0x0 has a bad checksum: magic+flags+checksum = 0x1badb005, must be 0"},
		{"x86-64 ELF", ram16M, elf64(emX86_64, 0x100000, tseg{paddr: 0x100000, data: hdr}), nil,
			"multiboot: x86-64 ELF image: multiboot v1 boots 32-bit kernels only"},
		{"ELF64 of another machine", ram16M, elf64(em386, 0x100000, tseg{paddr: 0x100000, data: hdr}), nil,
			"multiboot: 64-bit ELF image (ELFCLASS64, machine EM_386): multiboot v1 boots 32-bit kernels only"},
		{"ELF32 not i386", ram16M, elf32(emARM, 0x100000, tseg{paddr: 0x100000, data: hdr}), nil,
			"multiboot: ELF machine EM_ARM is not EM_386"},
		{"not ELF, no kludge", ram16M, append(make([]byte, 64), hdr...), nil,
			"multiboot: image is not ELF and its header does not set flag bit 16"},
		{"ELF segment truncated", ram16M, elf32(em386, 0x100000, tseg{paddr: 0x100000, data: append(hdr, make([]byte, 16)...)})[:52+32+12], nil,
			"multiboot: truncated ELF file: segment 0 needs bytes [0x54, 0x70) but the file has 96 bytes"},
		{"ELF program headers truncated", ram16M, func() []byte {
			b := elf32(em386, 0x100000, tseg{paddr: 0x100000, data: hdr}, tseg{paddr: 0x200000, data: make([]byte, 4)})
			b = append([]byte{}, b[:60]...)
			copy(b[56:], hdr) // keep a header in the file so the search passes
			return append(b, hdr...)
		}(), nil, "truncated ELF file: 2 program headers at offset 0x34"},
		{"ELF no PT_LOAD", ram16M, elf32(em386, 0x100000, tseg{typ: 4, paddr: 0x100000, data: hdr}), nil,
			"multiboot: ELF file has no loadable (PT_LOAD) segments"},
		{"ELF filesz > memsz", ram16M, elf32(em386, 0x100000, tseg{paddr: 0x100000, data: hdr, memsz: 4}), nil,
			"multiboot: ELF segment 0: file size 0xc exceeds memory size 0x4"},
		{"ELF segments overlap", ram16M, elf32(em386, 0x100000,
			tseg{paddr: 0x100000, data: hdr, memsz: 0x1000}, tseg{paddr: 0x100800, data: []byte{1}}), nil,
			"multiboot: ELF segments overlap: [0x100000, 0x101000) and [0x100800, 0x100801)"},
		{"ELF segment outside RAM", ram16M, elf32(em386, 0x100000,
			tseg{paddr: 0x100000, data: hdr}, tseg{paddr: 0x2000000, data: []byte{1}}), nil,
			"multiboot: kernel [0x100000, 0x2000001) is outside guest RAM (RAM is [0, 0x1000000) less the VGA/BIOS hole"},
		{"ELF in the VGA hole", ram16M, elf32(em386, 0xB8000, tseg{paddr: 0xB8000, data: hdr}), nil,
			"multiboot: kernel [0xb8000, 0xb800c) is outside guest RAM"},
		{"modules run past RAM", 4 << 20, elf32(em386, 0x100000, tseg{paddr: 0x100000, data: hdr}),
			[]Module{{"big", make([]byte, 4<<20)}}, "multiboot: kernel, boot information and modules [0x100000, 0x502000) is outside guest RAM"},
		{"RAM too small", 1 << 20, elf32(em386, 0x100000, tseg{paddr: 0x10000, data: hdr}), nil,
			"multiboot: guest RAM of 1048576 bytes is too small"},
		{"kludge header truncated", ram16M, mbHeaderBytes(1<<16, 0x100000, 0x100000), nil,
			"multiboot: truncated multiboot header at offset 0x0: flag bit 16 needs the address fields up to offset 0x20 but the image has 20 bytes"},
		{"kludge header_addr below load_addr", ram16M, aout(0x100, 0, 0x100000, 0x100010, 0, 0, 0x100000), nil,
			"multiboot: header_addr 0x100000 is below load_addr 0x100010"},
		{"kludge header_addr too far from load_addr", ram16M, aout(0x100, 0x20, 0x100040, 0x100000, 0, 0, 0x100000), nil,
			"multiboot: header_addr 0x100040 - load_addr 0x100000 = 0x40 exceeds the header's file offset 0x20"},
		{"kludge load_end below load_addr", ram16M, aout(0x100, 0, 0x100000, 0x100000, 0xFFFFF, 0, 0x100000), nil,
			"multiboot: load_end_addr 0xfffff is below load_addr 0x100000"},
		{"kludge bss_end below text end", ram16M, aout(0x100, 0, 0x100000, 0x100000, 0x100080, 0x100040, 0x100000), nil,
			"multiboot: bss_end_addr 0x100040 is below the end of the loaded text 0x100080"},
		{"kludge load_end past end of file", ram16M, aout(0x100, 0, 0x100000, 0x100000, 0x100200, 0, 0x100000), nil,
			"multiboot: truncated image: load_end_addr asks for 0x200 bytes from file offset 0x0 but the file has 256 bytes"},
		{"kludge beyond 32 bits", ram16M, aout(0x2000, 0, 0xFFFFF000, 0xFFFFF000, 0, 0, 0xFFFFF000), nil,
			"multiboot: kernel of 0x2000 bytes at load_addr 0xfffff000 does not fit in the 32-bit address space"},
		{"NUL in module name", ram16M, elf32(em386, 0x100000, tseg{paddr: 0x100000, data: hdr}),
			[]Module{{"a\x00b", nil}}, "multiboot: module 0 name \"a\\x00b\" contains a NUL byte"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := LoadMultiboot(newMem(tc.ram), tc.img, "k ", tc.mods)
			require.ErrorContains(t, err, tc.want)
			require.Nil(t, b)
			require.NotContains(t, err.Error(), "\n", "one line")
		})
	}
}

func TestE820Map(t *testing.T) {
	// Linux under QEMU -m 2048 (pc, SeaBIOS, TCG) prints:
	//   [mem 0x0000000000000000-0x000000000009fbff] usable
	//   [mem 0x000000000009fc00-0x000000000009ffff] reserved
	//   [mem 0x00000000000f0000-0x00000000000fffff] reserved
	//   [mem 0x0000000000100000-0x000000007ffdffff] usable
	//   [mem 0x000000007ffe0000-0x000000007fffffff] reserved
	//   [mem 0x00000000fffc0000-0x00000000ffffffff] reserved
	span := func(first, last uint64, typ uint32) E820Entry { return E820Entry{first, last - first + 1, typ} }
	m, err := E820Map(2 << 30)
	require.NoError(t, err)
	assert.Equal(t, []E820Entry{
		span(0, 0x9fbff, 1),
		span(0x9fc00, 0x9ffff, 2),
		span(0xf0000, 0xfffff, 2),
		span(0x100000, 0x7ffdffff, 1),
		span(0x7ffe0000, 0x7fffffff, 2),
		span(0xfffc0000, 0xffffffff, 2),
	}, m)
	assert.Equal(t, uint32(639), memLowerKiB(m))
	assert.Equal(t, uint32((0x7ffe0000-0x100000)>>10), memUpperKiB(m))

	// pc_piix.c: "qemu -M pc -m 4G (new default) -> 3072M low, 1024M high".
	m, err = E820Map(4 << 30)
	require.NoError(t, err)
	assert.Equal(t, span(0x100000, 0xbffdffff, 1), m[3])
	assert.Equal(t, span(0xbffe0000, 0xbfffffff, 2), m[4])
	assert.Equal(t, span(0x100000000, 0x13fffffff, 1), m[6])
	assert.Len(t, m, 7)
	assert.Equal(t, uint32((0xbffe0000-0x100000)>>10), memUpperKiB(m), "the ROM skips entries above 4 GiB")

	_, err = E820Map(MinRAM - 1)
	require.ErrorContains(t, err, "too small")
}

func TestSplitRAM(t *testing.T) {
	tests := []struct{ ram, below, above uint64 }{
		{128 << 20, 128 << 20, 0},
		{0xE0000000 - (1 << 20), 0xE0000000 - (1 << 20), 0}, // below max-ram-below-4g: all low
		{0xE0000000, 0xC0000000, 0x20000000},                // reaching it: gigabyte-aligned split
		{4 << 30, 3 << 30, 1 << 30},
	}
	for _, tc := range tests {
		b, a := SplitRAM(tc.ram)
		assert.Equal(t, [2]uint64{tc.below, tc.above}, [2]uint64{b, a}, "ram %#x", tc.ram)
	}
}

func TestMemUpperUnorderedMap(t *testing.T) {
	// The ROM restarts its scan after each extension because "mmap isn't
	// ordered"; contiguous usable ranges chain, a hole stops it.
	m := []E820Entry{
		{0x300000, 0x100000, E820RAM},
		{0x200000, 0x100000, E820RAM},
		{0x100000, 0x100000, E820RAM},
		{0x500000, 0x100000, E820RAM},
	}
	assert.Equal(t, uint32(0x300000>>10), memUpperKiB(m))
}

// A kernel over the information structure and memory map loads, as under
// QEMU: its option ROM writes the structure (0x9500) and the map (0x9000)
// in real mode before it copies the kernel, so the kernel's bytes win.
// The layout is kvm-unit-tests' realmode.flat (readelf -l: text at
// [0x8000, 0xa86c), data+BSS at [0xb000, 0xda30)), which QEMU 7.2 boots
// (127 PASS, exit status 1).
func TestLoadMultibootOverBootInfo(t *testing.T) {
	m := newMem(ram16M)
	text := append(mbHeaderBytes(0x3), pattern(0x286c-12, 3)...)
	data := pattern(0x277c, 5)
	img := elf32(em386, 0x8018,
		tseg{paddr: 0x8000, data: text},
		tseg{paddr: 0xb000, data: data, memsz: 0x2a30})
	b, err := LoadMultiboot(m, img, "realmode.flat ", nil)
	require.NoError(t, err)
	assert.Equal(t, text, m.b[0x8000:0x8000+len(text)], "kernel text intact over [0x9000, 0x9558)")
	assert.Equal(t, data, m.b[0xb000:0xb000+len(data)])
	m.requireFill(t, 0xb000+uint64(len(data)), 0xda30, 0, "BSS")
	// Registers as QEMU's ROM sets them regardless of the overlap.
	assert.Equal(t, uint32(0x9500), b.EBX)
	assert.Equal(t, uint64(0x8018), b.Entry)
	// Command line after the page-aligned kernel: 0x8000 + 0x6000.
	assert.Equal(t, "realmode.flat ", m.cstr(t, 0xE000))
	assert.Equal(t, uint64(0xF000), b.LoadEnd)
	// The GDT is outside loadable RAM, intact.
	s := b.State()
	assert.Equal(t, uint64(0xC02B8), s.GDTR.Base)
	assert.Equal(t, uint64(0x00CF9B000000FFFF), m.u64(0xC02B8+8), "flat 32-bit code, accessed")
}

// A kernel that does not overlap them still finds the structures.
func TestLoadMultibootInfoBelowKernel(t *testing.T) {
	m := newMem(ram16M)
	img := elf32(em386, 0x10000C, tseg{paddr: 0x100000, data: append(mbHeaderBytes(0x3), 0x90, 0x90)})
	_, err := LoadMultiboot(m, img, "k ", nil)
	require.NoError(t, err)
	assert.Equal(t, uint32(MultibootInfoFlags), m.u32(0x9500))
	assert.Equal(t, uint32(0x9000), m.u32(0x9500+48))
}

// reservingMem is a board memory with an extra reserved range (the q35
// board's ECAM window).
type reservingMem struct{ *fakeMem }

func (reservingMem) E820Reserved() []E820Entry {
	return []E820Entry{{Base: 0xB0000000, Length: 0x10000000, Type: E820Reserved}}
}

func TestLoadMultibootBoardReserved(t *testing.T) {
	m := newMem(ram16M)
	img := elf32(em386, 0x100000, tseg{paddr: 0x100000, data: mbHeaderBytes(0)})
	_, err := LoadMultiboot(reservingMem{m}, img, MultibootCmdline("k", ""), nil)
	require.NoError(t, err)
	want := append(append(append([]mmapRow{}, want16M[:5]...), mmapRow{20, 0xB0000000, 0x10000000, 2}), want16M[5])
	assert.Equal(t, uint32(24*7), m.u32(0x9500+44), "mmap_length")
	assert.Equal(t, want, readMmap(m, uint64(m.u32(0x9500+48)), m.u32(0x9500+44)), "the ECAM window in address order")
}

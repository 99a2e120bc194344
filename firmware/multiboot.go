package firmware

import (
	"debug/elf"
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Module is a multiboot module: QEMU's -initrd "path args,path2 ..." entry.
type Module struct {
	// Name is the module string exactly as QEMU passes it to the kernel:
	// the file path followed by any arguments ("mod.bin arg1 arg2").
	Name string
	Data []byte
}

// Multiboot v1 header (Multiboot 0.6.96, 3.1 "OS image format").
const (
	mbHeaderMagic = 0x1BADB002
	// The header must lie in the first 8192 bytes, 32-bit aligned; QEMU
	// scans offsets below 8192-48 so the 48-byte header fits.
	mbSearchLen = 8192
	mbHeaderLen = 48

	mbFlagPageAlign = 1 << 0  // modules page-aligned: QEMU always does
	mbFlagMemInfo   = 1 << 1  // mem_* and mmap_* needed: QEMU always gives them
	mbFlagVideo     = 1 << 2  // video mode table: QEMU warns and ignores
	mbFlagAddr      = 1 << 16 // header address fields valid ("a.out kludge")
	mbFlagsKnownReq = mbFlagPageAlign | mbFlagMemInfo | mbFlagVideo
)

// Multiboot information structure (Multiboot 0.6.96, 3.3), as much of it
// as QEMU fills (hw/i386/multiboot.c MBI_* offsets, MBI_SIZE = 88).
const (
	mbiFlags          = 0
	mbiMemLower       = 4
	mbiMemUpper       = 8
	mbiBootDevice     = 12
	mbiCmdline        = 16
	mbiModsCount      = 20
	mbiModsAddr       = 24
	mbiMmapLength     = 44
	mbiMmapAddr       = 48
	mbiBootLoaderName = 64
	mbiSize           = 88

	mbModSize  = 16 // mod_start, mod_end, string, reserved
	mbMmapSize = 24 // size field + 20-byte entry

	// Info flags QEMU sets: MEMORY, BOOT_DEVICE, CMDLINE, MODULES, MMAP,
	// BOOTLOADER (bits 0, 1, 2, 3, 6, 9).
	MultibootInfoFlags = 1<<0 | 1<<1 | 1<<2 | 1<<3 | 1<<6 | 1<<9

	// MultibootBootDevice is QEMU's fixed boot_device: BIOS drive 0x80,
	// no partition (0x8000ffff, "XXX: use the -boot switch?").
	MultibootBootDevice = 0x8000FFFF

	// MultibootLoaderName is QEMU's bootloader_name.
	MultibootLoaderName = "qemu"
)

// MultibootCmdline returns the kernel command line QEMU passes: the -kernel
// path, a space, and the -append text (snprintf "%s %s" in
// hw/i386/multiboot.c), so an empty -append leaves a trailing space.
func MultibootCmdline(kernelPath, appendText string) string {
	return kernelPath + " " + appendText
}

type mbHeader struct {
	off                                          int
	flags                                        uint32
	headerAddr, loadAddr, loadEndAddr, bssEndAdr uint32
	entryAddr                                    uint32
}

func findMultibootHeader(image []byte) (mbHeader, error) {
	le := binary.LittleEndian
	badAt := -1
	for i := 0; i < mbSearchLen-mbHeaderLen && i+12 <= len(image); i += 4 {
		if le.Uint32(image[i:]) != mbHeaderMagic {
			continue
		}
		flags := le.Uint32(image[i+4:])
		if mbHeaderMagic+flags+le.Uint32(image[i+8:]) != 0 {
			if badAt < 0 {
				badAt = i
			}
			continue
		}
		h := mbHeader{off: i, flags: flags}
		if flags&mbFlagAddr != 0 {
			if i+32 > len(image) {
				return h, fmt.Errorf("truncated multiboot header at offset %#x: flag bit 16 needs the address fields up to offset %#x but the image has %d bytes", i, i+32, len(image))
			}
			h.headerAddr = le.Uint32(image[i+12:])
			h.loadAddr = le.Uint32(image[i+16:])
			h.loadEndAddr = le.Uint32(image[i+20:])
			h.bssEndAdr = le.Uint32(image[i+24:])
			h.entryAddr = le.Uint32(image[i+28:])
		}
		return h, nil
	}
	if badAt >= 0 {
		c := le.Uint32(image[badAt+8:])
		f := le.Uint32(image[badAt+4:])
		return mbHeader{}, fmt.Errorf("multiboot header at offset %#x has a bad checksum: magic+flags+checksum = %#x, must be 0", badAt, uint32(mbHeaderMagic+f+c))
	}
	return mbHeader{}, fmt.Errorf("no multiboot header (magic %#x with a valid checksum, 4-byte aligned) in the first %d bytes", mbHeaderMagic, mbSearchLen)
}

// kernelBlob is the kernel as QEMU's mb_buf holds it: bytes from load on,
// BSS and gaps between ELF segments zero.
type kernelBlob struct {
	load, size, entry uint64
	fill              func(buf []byte) // copies the image bytes into buf[:size]
}

// aoutKernel follows QEMU's handling of the header address fields
// (hw/i386/multiboot.c, MULTIBOOT_AOUT_KLUDGE branch): the file is loaded
// from offset header_offset - (header_addr - load_addr); load_end_addr 0
// means to the end of the file; bss_end_addr 0 means no BSS.
func aoutKernel(image []byte, h mbHeader) (kernelBlob, error) {
	if h.headerAddr < h.loadAddr {
		return kernelBlob{}, fmt.Errorf("header_addr %#x is below load_addr %#x", h.headerAddr, h.loadAddr)
	}
	if uint64(h.headerAddr-h.loadAddr) > uint64(h.off) {
		return kernelBlob{}, fmt.Errorf("header_addr %#x - load_addr %#x = %#x exceeds the header's file offset %#x", h.headerAddr, h.loadAddr, h.headerAddr-h.loadAddr, h.off)
	}
	textOff := uint64(h.off) - uint64(h.headerAddr-h.loadAddr)
	var loadSize uint64
	if h.loadEndAddr != 0 {
		if h.loadEndAddr < h.loadAddr {
			return kernelBlob{}, fmt.Errorf("load_end_addr %#x is below load_addr %#x", h.loadEndAddr, h.loadAddr)
		}
		loadSize = uint64(h.loadEndAddr - h.loadAddr)
	} else {
		loadSize = uint64(len(image)) - textOff
	}
	if uint64(h.loadAddr)+loadSize > 0xFFFFFFFF {
		return kernelBlob{}, fmt.Errorf("kernel of %#x bytes at load_addr %#x does not fit in the 32-bit address space", loadSize, h.loadAddr)
	}
	size := loadSize
	if h.bssEndAdr != 0 {
		if uint64(h.bssEndAdr) < uint64(h.loadAddr)+loadSize {
			return kernelBlob{}, fmt.Errorf("bss_end_addr %#x is below the end of the loaded text %#x", h.bssEndAdr, uint64(h.loadAddr)+loadSize)
		}
		size = uint64(h.bssEndAdr - h.loadAddr)
	}
	if textOff+loadSize > uint64(len(image)) {
		return kernelBlob{}, fmt.Errorf("truncated image: load_end_addr asks for %#x bytes from file offset %#x but the file has %d bytes", loadSize, textOff, len(image))
	}
	text := image[textOff : textOff+loadSize]
	return kernelBlob{
		load: uint64(h.loadAddr), size: size, entry: uint64(h.entryAddr),
		fill: func(buf []byte) { copy(buf, text) },
	}, nil
}

// elfKernel loads a multiboot ELF the way QEMU does without the a.out
// kludge: QEMU refuses e_machine EM_X86_64 ("Cannot load x86-64 image,
// give a 32bit one."), then load_elf places PT_LOAD segments at p_paddr
// for I386_ELF_MACHINE (EM_386); the kernel spans [lowest p_paddr, highest
// p_paddr+p_memsz) and the entry is e_entry.
func elfKernel(image []byte) (kernelBlob, error) {
	if len(image) >= 20 && elf.Machine(binary.LittleEndian.Uint16(image[18:])) == elf.EM_X86_64 {
		return kernelBlob{}, fmt.Errorf("x86-64 ELF image: multiboot v1 boots 32-bit kernels only, give an ELF32 (EM_386) image or use the a.out kludge (header flag bit 16)")
	}
	if !isELF(image) {
		return kernelBlob{}, fmt.Errorf("image is not ELF and its header does not set flag bit 16 (address fields valid), so it cannot be loaded")
	}
	e, err := parseELF(image)
	if err != nil {
		return kernelBlob{}, err
	}
	if e.class != elf.ELFCLASS32 {
		return kernelBlob{}, fmt.Errorf("64-bit ELF image (ELFCLASS64, machine %v): multiboot v1 boots 32-bit kernels only, give an ELF32 (EM_386) image", e.machine)
	}
	if e.machine != elf.EM_386 {
		return kernelBlob{}, fmt.Errorf("ELF machine %v is not EM_386", e.machine)
	}
	if e.high() > fourGiB {
		return kernelBlob{}, fmt.Errorf("ELF segments end at %#x, beyond 4 GiB", e.high())
	}
	low := e.low()
	return kernelBlob{
		load: low, size: e.high() - low, entry: e.entry,
		fill: func(buf []byte) {
			for _, s := range e.segs {
				copy(buf[s.paddr-low:], s.data)
			}
		},
	}, nil
}

// initrdOptionLen is the length of the -initrd option string QEMU would
// have been given for mods: names joined by ',' with commas in a name
// doubled (QEMU's get_opt_value escaping). QEMU reserves that many bytes
// plus one for the module strings.
func initrdOptionLen(mods []Module) uint64 {
	n := uint64(len(mods) - 1)
	for _, m := range mods {
		n += uint64(len(m.Name) + strings.Count(m.Name, ","))
	}
	return n
}

// LoadMultiboot loads a Multiboot v1 kernel the way QEMU's -kernel does
// (hw/i386/multiboot.c load_multiboot plus pc-bios/optionrom/multiboot.S).
//
// cmdline is the kernel's whole command line; QEMU passes
// MultibootCmdline(kernelPath, appendText). modules are the -initrd entries
// in order.
//
// The header is searched in the first 8192 bytes at 4-byte alignment
// (magic 0x1BADB002, magic+flags+checksum = 0). With flag bit 16 the image
// is loaded by the header's address fields, otherwise it must be an ELF32
// EM_386 file loaded by its program headers. Header flag bit 2 (video mode)
// only produces a warning, as in QEMU; other unknown bits in 0-15 too.
//
// Guest memory afterwards, as QEMU leaves it:
//
//	load address:                   kernel (BSS and ELF gaps zeroed)
//	+ pageAlign(kernel size):       module list (16 bytes per module)
//	  then:                         module strings, then the kernel cmdline
//	  after the reserved cmdline space: "qemu" (boot_loader_name)
//	then each module page-aligned, in order
//	MultibootMmapAddr (0x9000):     memory map, 24-byte entries, size = 20
//	MultibootInfoAddr (0x9500):     the information structure (EBX)
//	MultibootGDTAddr (0xC02B8):     a copy of the option ROM's GDT
//
// The order of the writes is the option ROM's: QEMU's multiboot.bin first
// copies the information structure to FW_CFG_INITRD_ADDR (0x9500) and
// builds the memory map at its mmap_addr (0x9000) with INT 15h E820h, in
// real mode; only then does it enter protected mode and copy the kernel
// blob (kernel, module list, strings, modules) to the load address (seen in
// /usr/share/qemu/multiboot.bin of QEMU 7.2: the first "rep insb" and the
// INT 12h/15h calls precede the LGDT/far jump, the kernel's "insb" loop
// follows it). So a kernel loaded over [0x9000, 0x9558) is not refused: it
// overwrites the structures, as under QEMU (kvm-unit-tests' realmode.flat
// occupies [0x8000, 0x10000) and ignores EBX). The GDT lives in the option
// ROM under QEMU, outside any loadable RAM, so no kernel overwrites it.
func LoadMultiboot(mem Memory, image []byte, cmdline string, modules []Module) (*Boot, error) {
	b, err := loadMultiboot(mem, image, cmdline, modules)
	if err != nil {
		return nil, fmt.Errorf("multiboot: %w", err)
	}
	return b, nil
}

func loadMultiboot(mem Memory, image []byte, cmdline string, modules []Module) (*Boot, error) {
	ram := mem.RAMSize()
	mmap, err := boardE820Map(mem)
	if err != nil {
		return nil, err
	}
	if strings.IndexByte(cmdline, 0) >= 0 {
		return nil, fmt.Errorf("kernel command line contains a NUL byte")
	}
	for i, m := range modules {
		if strings.IndexByte(m.Name, 0) >= 0 {
			return nil, fmt.Errorf("module %d name %q contains a NUL byte", i, m.Name)
		}
	}

	h, err := findMultibootHeader(image)
	if err != nil {
		return nil, err
	}
	b := &Boot{Mode: Mode32Flat, Multiboot: true, EAX: MultibootMagic}
	if h.flags&mbFlagVideo != 0 {
		b.Warnings = append(b.Warnings, "kernel asks for a video mode (header flag bit 2); QEMU ignores it (\"multiboot knows VBE. we don't.\") and so does vmxemu")
	}
	if unk := h.flags & 0xFFFF &^ mbFlagsKnownReq; unk != 0 {
		b.Warnings = append(b.Warnings, fmt.Sprintf("header requires unknown features (flag bits %#x); QEMU ignores them and so does vmxemu", unk))
	}
	var k kernelBlob
	if h.flags&mbFlagAddr != 0 {
		k, err = aoutKernel(image, h)
	} else {
		k, err = elfKernel(image)
	}
	if err != nil {
		return nil, err
	}
	if err := checkInRAM(ram, k.load, k.load+k.size, "kernel"); err != nil {
		return nil, err
	}

	// QEMU's mb_buf layout (offsets from the load address).
	nmods := uint64(len(modules))
	offMods := pageAlign(k.size)
	cmdlineSpace := uint64(len(cmdline)) + 1
	if nmods > 0 {
		cmdlineSpace += initrdOptionLen(modules) + 1
	}
	offCmdlines := offMods + mbModSize*nmods
	offLoaderName := offCmdlines + cmdlineSpace
	size := pageAlign(offLoaderName + uint64(len(MultibootLoaderName)) + 1)
	modOffs := make([]uint64, nmods)
	for i, m := range modules {
		modOffs[i] = size
		size = pageAlign(size + uint64(len(m.Data)))
	}
	if k.load+size > fourGiB {
		return nil, fmt.Errorf("kernel, boot information and modules [%#x, %#x) do not fit below 4 GiB", k.load, k.load+size)
	}
	if err := checkInRAM(ram, k.load, k.load+size, "kernel, boot information and modules"); err != nil {
		return nil, err
	}
	buf := make([]byte, size)
	k.fill(buf)
	le := binary.LittleEndian
	phys := func(off uint64) uint32 { return uint32(k.load + off) }
	cur := offCmdlines
	addString := func(s string) uint32 {
		a := phys(cur)
		copy(buf[cur:], s)
		cur += uint64(len(s)) + 1
		return a
	}
	for i, m := range modules {
		c := addString(m.Name)
		copy(buf[modOffs[i]:], m.Data)
		e := buf[offMods+mbModSize*uint64(i):]
		start, end := phys(modOffs[i]), phys(modOffs[i]+uint64(len(m.Data)))
		le.PutUint32(e[0:], start)
		le.PutUint32(e[4:], end)
		le.PutUint32(e[8:], c)
		b.Modules = append(b.Modules, LoadedModule{Start: uint64(start), End: uint64(end), CmdlineAddr: uint64(c), Name: m.Name})
	}
	cmdAddr := addString(cmdline)
	copy(buf[offLoaderName:], MultibootLoaderName)

	info := make([]byte, mbiSize)
	le.PutUint32(info[mbiFlags:], MultibootInfoFlags)
	le.PutUint32(info[mbiMemLower:], memLowerKiB(mmap))
	le.PutUint32(info[mbiMemUpper:], memUpperKiB(mmap))
	le.PutUint32(info[mbiBootDevice:], MultibootBootDevice)
	le.PutUint32(info[mbiCmdline:], cmdAddr)
	le.PutUint32(info[mbiModsCount:], uint32(nmods))
	le.PutUint32(info[mbiModsAddr:], phys(offMods))
	le.PutUint32(info[mbiMmapLength:], uint32(mbMmapSize*len(mmap)))
	le.PutUint32(info[mbiMmapAddr:], MultibootMmapAddr)
	le.PutUint32(info[mbiBootLoaderName:], phys(offLoaderName))

	mm := make([]byte, mbMmapSize*len(mmap))
	for i, e := range mmap {
		p := mm[mbMmapSize*i:]
		le.PutUint32(p[0:], mbMmapSize-4)
		le.PutUint64(p[4:], e.Base)
		le.PutUint64(p[12:], e.Length)
		le.PutUint32(p[20:], e.Type)
	}

	if err := writePhys(mem, MultibootMmapAddr, mm, "multiboot memory map"); err != nil {
		return nil, err
	}
	if err := writePhys(mem, MultibootInfoAddr, info, "multiboot information structure"); err != nil {
		return nil, err
	}
	// The GDT is in the option ROM (MultibootGDTAddr), then the kernel
	// goes in last, over anything it overlaps (see above).
	b.A20 = true
	gdt := gdt32()
	if err := writePhys(mem, MultibootGDTAddr, gdt, "boot GDT"); err != nil {
		return nil, err
	}
	b.GDTR = arch.DescTable{Base: MultibootGDTAddr, Limit: uint16(len(gdt) - 1)}
	if err := writePhys(mem, k.load, buf, "kernel"); err != nil {
		return nil, err
	}
	b.Entry = k.entry
	b.EBX = MultibootInfoAddr
	b.InfoAddr = MultibootInfoAddr
	b.KernelStart, b.KernelEnd, b.LoadEnd = k.load, k.load+k.size, k.load+size
	b.Cmdline = cmdline
	return b, nil
}

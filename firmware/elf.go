package firmware

import (
	"bytes"
	"debug/elf"
	"encoding/binary"
	"fmt"
	"sort"
)

// elfImage is the part of an ELF file the loaders use.
type elfImage struct {
	class   elf.Class
	machine elf.Machine
	entry   uint64
	segs    []elfSeg // PT_LOAD segments with p_memsz > 0, sorted by paddr
}

type elfSeg struct {
	paddr, memsz uint64
	data         []byte // p_filesz bytes from the file
}

func (s elfSeg) end() uint64 { return s.paddr + s.memsz }

// isELF reports whether image starts with the ELF magic.
func isELF(image []byte) bool { return bytes.HasPrefix(image, []byte(elf.ELFMAG)) }

// parseELF reads the ELF header and program headers of a little-endian
// ELF32 or ELF64 file (System V gABI, "ELF Header" and "Program Header").
// Segments are loaded at p_paddr, as QEMU's load_elf does.
func parseELF(image []byte) (*elfImage, error) {
	if !isELF(image) {
		return nil, fmt.Errorf("not an ELF file (no \\x7fELF magic)")
	}
	if len(image) < elf.EI_NIDENT {
		return nil, fmt.Errorf("truncated ELF header (%d bytes)", len(image))
	}
	cls := elf.Class(image[elf.EI_CLASS])
	if d := elf.Data(image[elf.EI_DATA]); d != elf.ELFDATA2LSB {
		return nil, fmt.Errorf("ELF data encoding %v is not supported; x86 images are little-endian (ELFDATA2LSB)", d)
	}
	le := binary.LittleEndian
	var (
		ehsize, phentMin int
		phoff            uint64
		phentsize, phnum int
		e                = &elfImage{class: cls}
	)
	switch cls {
	case elf.ELFCLASS32:
		ehsize, phentMin = 52, 32
	case elf.ELFCLASS64:
		ehsize, phentMin = 64, 56
	default:
		return nil, fmt.Errorf("ELF class %v is not supported", cls)
	}
	if len(image) < ehsize {
		return nil, fmt.Errorf("truncated ELF header: %d bytes, %v needs %d", len(image), cls, ehsize)
	}
	e.machine = elf.Machine(le.Uint16(image[18:]))
	if cls == elf.ELFCLASS32 {
		e.entry = uint64(le.Uint32(image[24:]))
		phoff = uint64(le.Uint32(image[28:]))
		phentsize, phnum = int(le.Uint16(image[42:])), int(le.Uint16(image[44:]))
	} else {
		e.entry = le.Uint64(image[24:])
		phoff = le.Uint64(image[32:])
		phentsize, phnum = int(le.Uint16(image[54:])), int(le.Uint16(image[56:]))
	}
	if phnum == 0 {
		return nil, fmt.Errorf("ELF file has no program headers")
	}
	if phentsize < phentMin {
		return nil, fmt.Errorf("ELF program header size %d is smaller than %d", phentsize, phentMin)
	}
	if phoff > uint64(len(image)) || uint64(phnum)*uint64(phentsize) > uint64(len(image))-phoff {
		return nil, fmt.Errorf("truncated ELF file: %d program headers at offset %#x run past its end (%d bytes)", phnum, phoff, len(image))
	}
	for i := range phnum {
		ph := image[phoff+uint64(i*phentsize):]
		var typ elf.ProgType
		var off, paddr, filesz, memsz uint64
		if cls == elf.ELFCLASS32 {
			typ = elf.ProgType(le.Uint32(ph[0:]))
			off, paddr = uint64(le.Uint32(ph[4:])), uint64(le.Uint32(ph[12:]))
			filesz, memsz = uint64(le.Uint32(ph[16:])), uint64(le.Uint32(ph[20:]))
		} else {
			typ = elf.ProgType(le.Uint32(ph[0:]))
			off, paddr = le.Uint64(ph[8:]), le.Uint64(ph[24:])
			filesz, memsz = le.Uint64(ph[32:]), le.Uint64(ph[40:])
		}
		if typ != elf.PT_LOAD || memsz == 0 {
			continue
		}
		if filesz > memsz {
			return nil, fmt.Errorf("ELF segment %d: file size %#x exceeds memory size %#x", i, filesz, memsz)
		}
		if off > uint64(len(image)) || filesz > uint64(len(image))-off {
			return nil, fmt.Errorf("truncated ELF file: segment %d needs bytes [%#x, %#x) but the file has %d bytes", i, off, off+filesz, len(image))
		}
		if paddr+memsz < paddr {
			return nil, fmt.Errorf("ELF segment %d at %#x with size %#x wraps around the address space", i, paddr, memsz)
		}
		e.segs = append(e.segs, elfSeg{paddr: paddr, memsz: memsz, data: image[off : off+filesz]})
	}
	if len(e.segs) == 0 {
		return nil, fmt.Errorf("ELF file has no loadable (PT_LOAD) segments")
	}
	sort.Slice(e.segs, func(i, j int) bool { return e.segs[i].paddr < e.segs[j].paddr })
	for i := 1; i < len(e.segs); i++ {
		a, b := e.segs[i-1], e.segs[i]
		if b.paddr < a.end() {
			return nil, fmt.Errorf("ELF segments overlap: [%#x, %#x) and [%#x, %#x)", a.paddr, a.end(), b.paddr, b.end())
		}
	}
	return e, nil
}

func (e *elfImage) low() uint64  { return e.segs[0].paddr }
func (e *elfImage) high() uint64 { return e.segs[len(e.segs)-1].end() }

// LoadELF loads an ELF32 (EM_386) or ELF64 (EM_X86_64) program by its
// PT_LOAD program headers at their physical addresses (p_paddr), zeroes
// each segment's BSS (p_memsz beyond p_filesz) and starts it at e_entry:
// ELF32 in Mode32Flat (the multiboot entry state without multiboot
// registers), ELF64 in Mode64 with the first 4 GiB identity-mapped, so
// e_entry must be below 4 GiB. This is vmxemu's direct ELF boot, not a
// QEMU protocol.
func LoadELF(mem Memory, image []byte) (*Boot, error) {
	e, err := parseELF(image)
	if err != nil {
		return nil, fmt.Errorf("elf: %w", err)
	}
	b := &Boot{KernelStart: e.low(), KernelEnd: e.high(), LoadEnd: e.high()}
	switch {
	case e.class == elf.ELFCLASS32 && e.machine == elf.EM_386:
		b.Mode = Mode32Flat
	case e.class == elf.ELFCLASS64 && e.machine == elf.EM_X86_64:
		b.Mode = Mode64
	default:
		return nil, fmt.Errorf("elf: %v image for machine %v is not supported; need ELFCLASS32/EM_386 or ELFCLASS64/EM_X86_64", e.class, e.machine)
	}
	if e.entry >= fourGiB {
		return nil, fmt.Errorf("elf: entry point %#x is above 4 GiB, outside the identity-mapped range", e.entry)
	}
	b.Entry = e.entry
	if err := loadSegments(mem, e.segs, bootRegions(b.Mode)); err != nil {
		return nil, fmt.Errorf("elf: %w", err)
	}
	if err := prepareMode(mem, b); err != nil {
		return nil, fmt.Errorf("elf: %w", err)
	}
	return b, nil
}

// loadSegments checks every segment against RAM and the reserved boot
// regions, then writes the file bytes and zeroes the BSS.
func loadSegments(mem Memory, segs []elfSeg, reserved []region) error {
	for i, s := range segs {
		what := fmt.Sprintf("segment %d", i)
		if err := checkInRAM(mem.RAMSize(), s.paddr, s.end(), what); err != nil {
			return err
		}
		if err := checkNoOverlap(append([]region{{s.paddr, s.end(), what}}, reserved...)); err != nil {
			return err
		}
	}
	for i, s := range segs {
		what := fmt.Sprintf("segment %d", i)
		if err := writePhys(mem, s.paddr, s.data, what); err != nil {
			return err
		}
		if err := zeroPhys(mem, s.paddr+uint64(len(s.data)), s.memsz-uint64(len(s.data)), what+" BSS"); err != nil {
			return err
		}
	}
	return nil
}

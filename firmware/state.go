package firmware

import (
	"encoding/binary"
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
)

// Mode is the processor mode a loaded program starts in.
type Mode int

const (
	// ModeReal16 is real mode: CS:IP reaches the entry, other segments 0.
	ModeReal16 Mode = iota
	// Mode32Flat is 32-bit protected mode with flat 4 GiB segments and
	// paging off, as QEMU's multiboot option ROM leaves the processor.
	Mode32Flat
	// Mode64 is 64-bit mode (IA-32e, CS.L=1) with the first 4 GiB
	// identity-mapped by 2 MiB pages.
	Mode64
)

func (m Mode) String() string {
	switch m {
	case ModeReal16:
		return "real16"
	case Mode32Flat:
		return "flat32"
	case Mode64:
		return "long64"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// MultibootMagic is the value a Multiboot v1 loader leaves in EAX
// (Multiboot 0.6.96, 3.2 "Machine state").
const MultibootMagic = 0x2BADB002

// Boot describes a loaded program and how to start it.
type Boot struct {
	Entry    uint64 // EIP/RIP (linear = physical: flat segments, identity map)
	EAX, EBX uint32 // multiboot: MultibootMagic and the info address
	Mode     Mode
	InfoAddr uint64 // multiboot information structure, 0 if none

	// Multiboot is set by LoadMultiboot; the entry state then also carries
	// what QEMU's option ROM leaves in ECX (the entry address it jumped via).
	Multiboot bool

	// KernelStart and KernelEnd bound the loaded image including BSS.
	KernelStart, KernelEnd uint64
	// LoadEnd is the first address after everything the loader wrote from
	// KernelStart on (for multiboot: info area, command lines and modules,
	// page-aligned, as in QEMU's mb_buf).
	LoadEnd uint64
	// Modules are the multiboot modules as placed in memory.
	Modules []LoadedModule
	// Cmdline is the multiboot kernel command line as passed to the kernel.
	Cmdline string

	// GDTR is what the entry state loads into GDTR; the table is in guest
	// memory at BootGDTAddr.
	GDTR arch.DescTable
	// CR3 is the PML4 address for Mode64, 0 otherwise.
	CR3 uint64
	// A20 tells the machine to start with the A20 gate enabled. Every loader
	// here sets it: the multiboot spec requires it and a BIOS enables it.
	A20 bool

	// Warnings are conditions QEMU reports but boots anyway (for example a
	// multiboot header requesting a video mode).
	Warnings []string
}

// LoadedModule is one multiboot module as placed in guest memory.
type LoadedModule struct {
	Start, End  uint64 // [Start, End), Start page-aligned
	CmdlineAddr uint64 // NUL-terminated module string
	Name        string
}

// Attribute values for the segment caches (arch AR* layout).
const (
	attrCode16 = arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed // 0x9B
	attrData16 = arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed               // 0x93
	attrCode32 = attrCode16 | arch.ARDB | arch.ARG                                     // 0xC09B
	attrData32 = attrData16 | arch.ARDB | arch.ARG                                     // 0xC093
	attrCode64 = attrCode16 | arch.ARL | arch.ARG                                      // 0xA09B
	attrLDT    = arch.ARP | 0x2                                                        // present LDT
	attrBusy32 = arch.ARP | 0xB                                                        // present busy 32-bit TSS
)

// Selectors of the boot GDTs: QEMU's multiboot ROM GDT has 32-bit code at
// 0x08 and 32-bit data at 0x10; the 64-bit GDT keeps data at 0x10 and puts
// the 64-bit code segment at 0x08.
const (
	SelCode = 0x08
	SelData = 0x10
)

// ResetState returns the processor state after power-up or RESET as given
// by the Intel SDM Vol. 3A 10.1.1, Table 10-1: EIP 0xFFF0 with CS selector
// 0xF000 and base 0xFFFF0000 (so the first fetch is at 0xFFFFFFF0), other
// segments selector 0 base 0, limits 0xFFFF, CR0 0x60000010 (CD, NW, ET),
// EFLAGS 0x2, EDX the processor signature (type/family/model/stepping),
// DR6 0xFFFF0FF0, DR7 0x400, GDTR/IDTR base 0 limit 0xFFFF, XCR0 1.
// Also: IA32_PAT 0x0007040600070406 (SDM 13.12.4) and IA32_APIC_BASE
// 0xFEE00900 (base 0xFEE00000, enabled, BSP; SDM 11.4.4) — an AP's caller
// clears bit 8. LDTR and TR are present with types LDT (2) and busy 32-bit
// TSS (11), as QEMU's and KVM's reset leave them.
func ResetState(cpuSignature uint32) arch.State {
	var s arch.State
	s.RIP = 0xFFF0
	s.RFLAGS = arch.FlagRes1
	s.GPR[arch.RDX] = uint64(cpuSignature)
	s.CR0 = arch.CR0CD | arch.CR0NW | arch.CR0ET
	for i := range s.Seg {
		s.Seg[i] = arch.Segment{Limit: 0xFFFF, Attr: attrData16}
	}
	s.Seg[arch.CS] = arch.Segment{Selector: 0xF000, Base: 0xFFFF0000, Limit: 0xFFFF, Attr: attrCode16}
	s.LDTR = arch.Segment{Limit: 0xFFFF, Attr: attrLDT}
	s.TR = arch.Segment{Limit: 0xFFFF, Attr: attrBusy32}
	s.GDTR = arch.DescTable{Limit: 0xFFFF}
	s.IDTR = arch.DescTable{Limit: 0xFFFF}
	s.DR[6] = 0xFFFF0FF0
	s.DR[7] = 0x400
	s.XCR0 = 1
	s.PAT = 0x0007040600070406
	s.APICBase = 0xFEE00900
	return s
}

// MultibootStack and MultibootEFLAGS are ESP and EFLAGS at a multiboot
// kernel's entry, as QEMU 7.2 with SeaBIOS leaves them (measured with a
// multiboot probe that saves them in its first instructions).
const (
	MultibootStack  = 0x6F08
	MultibootEFLAGS = arch.FlagRes1 | arch.FlagPF
)

// State returns the full architectural state at the program's entry.
//
// Everything not listed stays at its reset value (ResetState, signature 0).
//
//   - Mode32Flat (multiboot and ELF32): the state QEMU's multiboot option
//     ROM (pc-bios/optionrom/multiboot.S) leaves: it runs cli and cld, loads
//     its 5-entry GDT, writes 1 to CR0 (so CD and NW are cleared; the
//     processor keeps ET=1, SDM Vol. 3A 2.5), far-jumps to selector 0x08 and
//     loads 0x10 into SS, DS, ES, FS and GS. CR0 = PE|ET = 0x11, EFLAGS =
//     0x2 (IF=0, DF=0, VM=0), flat 4 GiB 32-bit segments with the accessed
//     bit set, GDTR = {BootGDTAddr, 0x27}. IDTR is SeaBIOS's real-mode IVT
//     {0, 0x3FF} (the ROM never loads an IDT; the Multiboot spec leaves IDTR
//     undefined). For multiboot EAX = 0x2BADB002, EBX = the info address
//     and ECX = the entry (the ROM jumps through ECX). ESP and EFLAGS are
//     undefined by the spec; QEMU 7.2 leaves the option ROM's stack,
//     ESP = 0x6F08 (MultibootStack), and EFLAGS = 0x6 (PF set by the ROM's
//     last arithmetic instruction, IF and DF clear), both measured.
//   - Mode64: CR0 = PE|PG|ET, CR4 = PAE, EFER = LME|LMA, CR3 = PML4 of the
//     identity map, CS = 0x08 64-bit (L=1, D=0), data segments 0x10.
//   - ModeReal16: CR0 = ET (a BIOS leaves caching enabled), CS:IP such that
//     CS.base+IP = Entry, data segments 0, IDTR {0, 0x3FF}.
//
// A20 is enabled in every mode (Boot.A20).
func (b *Boot) State() arch.State {
	s := ResetState(0)
	s.GPR[arch.RDX] = 0
	s.IDTR = arch.DescTable{Base: 0, Limit: 0x3FF}
	switch b.Mode {
	case ModeReal16:
		s.CR0 = arch.CR0ET
		cs := uint16((b.Entry &^ 0xFFFF) >> 4)
		s.Seg[arch.CS] = arch.Segment{Selector: cs, Base: uint64(cs) << 4, Limit: 0xFFFF, Attr: attrCode16}
		for _, i := range []int{arch.DS, arch.ES, arch.SS, arch.FS, arch.GS} {
			s.Seg[i] = arch.Segment{Limit: 0xFFFF, Attr: attrData16}
		}
		s.RIP = b.Entry & 0xFFFF
		s.GDTR = arch.DescTable{Limit: 0xFFFF}
	case Mode32Flat, Mode64:
		code := uint32(attrCode32)
		s.CR0 = arch.CR0PE | arch.CR0ET
		if b.Mode == Mode64 {
			code = attrCode64
			s.CR0 |= arch.CR0PG
			s.CR4 = arch.CR4PAE
			s.EFER = arch.EFERLME | arch.EFERLMA
			s.CR3 = b.CR3
		}
		s.Seg[arch.CS] = arch.Segment{Selector: SelCode, Limit: 0xFFFFFFFF, Attr: code}
		for _, i := range []int{arch.DS, arch.ES, arch.SS, arch.FS, arch.GS} {
			s.Seg[i] = arch.Segment{Selector: SelData, Limit: 0xFFFFFFFF, Attr: attrData32}
		}
		s.RIP = b.Entry
		s.GDTR = b.GDTR
	}
	s.RFLAGS = arch.FlagRes1
	s.GPR[arch.RAX] = uint64(b.EAX)
	s.GPR[arch.RBX] = uint64(b.EBX)
	if b.Multiboot {
		s.GPR[arch.RCX] = b.Entry
		s.GPR[arch.RSP] = MultibootStack
		s.RFLAGS = MultibootEFLAGS
	}
	return s
}

// gdt32 is the GDT of QEMU's multiboot option ROM (pc-bios/optionrom/
// multiboot.S, label "gdt"): null; 0x08 32-bit code base 0 limit 0xFFFFF
// 4K-granular DPL 0 exec/read; 0x10 the same as read/write data; 0x18
// 16-bit conforming code limit 0xFFFF; 0x20 16-bit data limit 0xFFFF.
// Entries 0x08 and 0x10 carry the accessed bit here because the processor
// sets it in the descriptor when it loads them (SDM Vol. 3A 3.4.5.1), which
// the entry state says has happened.
func gdt32() []byte {
	return descs(
		0,
		0x00CF9B000000FFFF,
		0x00CF93000000FFFF,
		0x00009E000000FFFF,
		0x000092000000FFFF,
	)
}

// gdt64 is vmxemu's GDT for Mode64: null; 0x08 64-bit code (L=1, D=0);
// 0x10 flat read/write data; 0x18 flat 32-bit code (for compatibility mode).
func gdt64() []byte {
	return descs(
		0,
		0x00AF9B000000FFFF,
		0x00CF93000000FFFF,
		0x00CF9B000000FFFF,
	)
}

func descs(d ...uint64) []byte {
	b := make([]byte, 8*len(d))
	for i, v := range d {
		binary.LittleEndian.PutUint64(b[8*i:], v)
	}
	return b
}

// writeGDT writes the GDT for mode at BootGDTAddr and returns GDTR.
func writeGDT(mem Memory, mode Mode) (arch.DescTable, error) {
	g := gdt32()
	if mode == Mode64 {
		g = gdt64()
	}
	if err := writePhys(mem, BootGDTAddr, g, "boot GDT"); err != nil {
		return arch.DescTable{}, err
	}
	return arch.DescTable{Base: BootGDTAddr, Limit: uint16(len(g) - 1)}, nil
}

// Page-table entry bits (SDM Vol. 3A 4.5, Tables 4-14..4-18).
const (
	pteP  = 1 << 0
	pteRW = 1 << 1
	ptePS = 1 << 7
)

// identityPageTables returns the 4-level tables that identity-map the first
// 4 GiB with 2 MiB pages when placed at base: PML4 at base, PDPT at
// base+0x1000, page directory i at base+0x2000+i*0x1000.
func identityPageTables(base uint64) []byte {
	t := make([]byte, pageTableSize)
	put := func(off int, v uint64) { binary.LittleEndian.PutUint64(t[off:], v) }
	put(0, (base+0x1000)|pteP|pteRW)
	for i := range 4 {
		pd := base + 0x2000 + uint64(i)*0x1000
		put(0x1000+8*i, pd|pteP|pteRW)
		for j := range 512 {
			pa := (uint64(i)<<30 | uint64(j)<<21)
			put(0x2000+i*0x1000+8*j, pa|pteP|pteRW|ptePS)
		}
	}
	return t
}

// bootRegions are the low-memory areas a loader writes for mode besides the
// program itself.
func bootRegions(mode Mode) []region {
	var r []region
	switch mode {
	case Mode32Flat:
		r = append(r, region{BootGDTAddr, BootGDTAddr + uint64(len(gdt32())), "boot GDT"})
	case Mode64:
		r = append(r, region{BootGDTAddr, BootGDTAddr + uint64(len(gdt64())), "boot GDT"},
			region{PageTableAddr, PageTableAddr + pageTableSize, "identity page tables"})
	}
	return r
}

// prepareMode writes the GDT (and for Mode64 the page tables) and records
// them in b.
func prepareMode(mem Memory, b *Boot) error {
	b.A20 = true
	if b.Mode == ModeReal16 {
		return nil
	}
	g, err := writeGDT(mem, b.Mode)
	if err != nil {
		return err
	}
	b.GDTR = g
	if b.Mode == Mode64 {
		if err := writePhys(mem, PageTableAddr, identityPageTables(PageTableAddr), "identity page tables"); err != nil {
			return err
		}
		b.CR3 = PageTableAddr
	}
	return nil
}

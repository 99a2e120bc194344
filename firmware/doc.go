// Package firmware does for a vmxemu machine what a PC BIOS and a boot
// loader do before the first guest instruction runs: it defines the
// processor's power-on state (ResetState, SDM Vol. 3A Table 10-1), describes
// guest RAM the way QEMU's default "pc" machine with SeaBIOS reports it
// (E820Map), and loads guest programs into guest-physical memory:
//
//   - LoadMultiboot: a Multiboot v1 kernel exactly as QEMU's -kernel does
//     (hw/i386/multiboot.c plus the multiboot option ROM), with the
//     information structure, memory map, command lines and modules where
//     QEMU puts them, and the entry state that option ROM leaves (Boot.State).
//   - LoadELF: an ELF32 or ELF64 program started directly in 32-bit flat
//     protected mode or in 64-bit long mode with identity-mapped paging.
//   - LoadFlat: a raw binary at a chosen address, started in a chosen Mode.
//
// WriteBIOS (bios.go) writes what SeaBIOS leaves in low memory on QEMU's
// pc machine and a real-mode guest can observe: the IVT (0x000-0x3FF, with
// SeaBIOS's vector addresses), the BIOS data area (0x400-0x4FF), the
// EBDA's size byte (0x9FC00) and small interrupt handlers of vmxemu's own
// in the F segment (the IRQ 0 timer at F000:FEA5 counting ticks and
// sending the EOI, EOI-only handlers for the other IRQs, IRET for the
// rest).
//
// Later parts of the package add the IA32_FEATURE_CONTROL policy a BIOS
// leaves, MP/ACPI tables and AP parking.
//
// Low-memory layout used by the loaders (guest-physical):
//
//	0x0000-0x04FF  IVT and BIOS data area (WriteBIOS)
//	0x1000-0x6FFF  Mode64 identity page tables (PML4, PDPT, 4 page directories)
//	0x9000-0x94FF  Multiboot memory map (QEMU's ADDR_E820_MAP)
//	0x9500-0x9557  Multiboot information structure (QEMU's ADDR_MBI)
//	0x9600-0x963F  GDT that the ELF and flat entry states' GDTR points at
//	0x9FC00        EBDA (size byte)
//	0xC02B8-0xC02DF  multiboot GDT (where QEMU's option ROM has it)
//	0xF0000-0xF5FFF  MP and ACPI tables (WriteTables)
//	0xF601C-0xFFFFF  BIOS interrupt handlers and the diskette table
//
// A multiboot kernel may be loaded over 0x9000-0x9557: it is written
// last and wins, as under QEMU (see LoadMultiboot).
//
// Everything the package writes goes through the Memory interface; it keeps
// no package-level state.
package firmware

package firmware

import (
	"encoding/binary"
	"fmt"
)

// The real-mode BIOS environment a PC's firmware leaves behind, as far as
// a guest can observe it in memory: the interrupt vector table (IVT,
// 0x000-0x3FF), the BIOS data area (BDA, 0x400-0x4FF), the first byte of
// the extended BIOS data area (EBDA, at 0x9FC00) and, in the F segment,
// small interrupt handlers at the addresses the IVT names.
//
// Every value below was measured under QEMU 7.2 with SeaBIOS 1.16.2
// (qemu-system-x86_64 -nodefaults -serial stdio -device pc-testdev
// -kernel probe.bin, a multiboot probe that dumps the IVT and the BDA over
// COM1). The handlers are vmxemu's own: they do what a guest running in
// real mode minimally needs from a BIOS interrupt handler, not what
// SeaBIOS's do:
//
//   - hardware interrupts: IRQ 0 (vector 0x08, F000:FEA5, the PC's
//     fixed timer entry point) counts the tick in the BDA (dword 0x46C,
//     wrapping at 0x1800B0 ticks = 24 h and setting the midnight flag
//     0x470), calls INT 1Ch (the user timer hook), sends a non-specific
//     EOI to the master PIC and returns; IRQs 1-7 send an EOI to the
//     master; IRQs 8-15 send an EOI to the slave and to the master.
//   - INT 11h returns the equipment word (BDA 0x410) in AX, INT 12h the
//     conventional memory size in KiB (BDA 0x413).
//   - every other vector the IVT points into the F segment (exceptions,
//     NMI, the other BIOS services) is a bare IRET: BIOS services are not
//     implemented (a guest calling INT 10h or INT 13h gets nothing done,
//     registers unchanged).
//   - IVT entry 0x1E points at a 1.44 MB diskette parameter table.
//
// The IVT entries are SeaBIOS's, so that a guest reading them sees what
// it sees under QEMU; vectors 0x60-0x66 (reserved for user programs) and
// 0x79 are 0, as SeaBIOS leaves them.

// BIOSConfig says what WriteBIOS describes.
type BIOSConfig struct {
	// COMPorts are the I/O bases of the serial ports found, COM1 first
	// (at most 4); the BDA lists them and the equipment word counts them.
	COMPorts []uint16
}

// F-segment addresses (segment 0xF000) of the handlers.
const (
	biosSeg        = 0xF000
	biosIRET       = 0xFF53 // default: IRET
	biosPrtSc      = 0xFF54 // INT 05h
	biosNMI        = 0xE2C3 // INT 02h
	biosTimer      = 0xFEA5 // IRQ 0
	biosKbd        = 0xE987 // IRQ 1
	biosFloppy     = 0xEF57 // IRQ 6
	biosPIC1       = 0xD42E // IRQs 2-5, 7: EOI to the master
	biosRTC        = 0xD413 // IRQ 8
	biosPIC2       = 0xD437 // IRQs 9-11, 15: EOI to both
	biosMouse      = 0xD41C // IRQ 12
	biosFPU        = 0xD425 // IRQ 13
	biosDisk       = 0xD40A // IRQ 14
	biosEquipment  = 0xF84D // INT 11h
	biosMemSize    = 0xF841 // INT 12h
	biosDisketteTb = 0x601C // INT 1Eh: diskette parameter table (data)
)

// BIOSTimerHandler is the physical address of the IRQ 0 handler.
const BIOSTimerHandler = biosSeg<<4 + biosTimer

// BDA fields (offsets from 0x400) and the EBDA.
const (
	bdaBase      = 0x400
	bdaEquipment = 0x10
	bdaMemSize   = 0x13
	bdaEBDASeg   = 0x0E
	bdaTicks     = 0x6C
	bdaMidnight  = 0x70
	ebdaAddr     = lowRAMEnd
	ticksPerDay  = 0x1800B0
)

// ivtEntries are the IVT as SeaBIOS leaves it (offsets in segment 0xF000;
// 0 marks a null entry), by vector. Vectors not listed point at
// biosIRET.
var ivtEntries = map[int]uint16{
	0x02: biosNMI, 0x05: biosPrtSc,
	0x08: biosTimer, 0x09: biosKbd, 0x0A: biosPIC1, 0x0B: biosPIC1,
	0x0C: biosPIC1, 0x0D: biosPIC1, 0x0E: biosFloppy, 0x0F: biosPIC1,
	0x10: 0xD28B, 0x11: biosEquipment, 0x12: biosMemSize, 0x13: 0xE3FE,
	0x14: 0xE739, 0x15: 0xF859, 0x16: 0xE82E, 0x17: 0xEFD2,
	0x18: 0xD453, 0x19: 0xE6F2, 0x1A: 0xFE6E, 0x1E: biosDisketteTb,
	0x40: 0xEC59,
	0x60: 0, 0x61: 0, 0x62: 0, 0x63: 0, 0x64: 0, 0x65: 0, 0x66: 0,
	0x70: biosRTC, 0x71: biosPIC2, 0x72: biosPIC2, 0x73: biosPIC2,
	0x74: biosMouse, 0x75: biosFPU, 0x76: biosDisk, 0x77: biosPIC2,
	0x79: 0,
}

// Handler code (16-bit real mode, assembled by hand).
var (
	codeIRET = []byte{0xCF} // iret
	// push ax; mov al, 20h; out 20h, al; pop ax; iret
	codeEOI1 = []byte{0x50, 0xB0, 0x20, 0xE6, 0x20, 0x58, 0xCF}
	// push ax; mov al, 20h; out 0A0h, al; out 20h, al; pop ax; iret
	codeEOI2 = []byte{0x50, 0xB0, 0x20, 0xE6, 0xA0, 0xE6, 0x20, 0x58, 0xCF}
	// push ds; xor ax, ax; mov ds, ax; mov ax, [off]; pop ds; iret
	codeBDAWord = func(off uint16) []byte {
		a := bdaBase + off
		return []byte{0x1E, 0x31, 0xC0, 0x8E, 0xD8, 0xA1, byte(a), byte(a >> 8), 0x1F, 0xCF}
	}
	codeTimer = []byte{
		0x1E,       // push ds
		0x66, 0x50, // push eax
		0x31, 0xC0, // xor ax, ax
		0x8E, 0xD8, // mov ds, ax
		0x66, 0xFF, 0x06, 0x6C, 0x04, // inc dword [046Ch]
		0x66, 0x81, 0x3E, 0x6C, 0x04, 0xB0, 0x00, 0x18, 0x00, // cmp dword [046Ch], 1800B0h
		0x72, 0x0E, // jb .hook
		0x66, 0xC7, 0x06, 0x6C, 0x04, 0x00, 0x00, 0x00, 0x00, // mov dword [046Ch], 0
		0xC6, 0x06, 0x70, 0x04, 0x01, // mov byte [0470h], 1
		0xCD, 0x1C, // .hook: int 1Ch
		0xB0, 0x20, // mov al, 20h
		0xE6, 0x20, // out 20h, al
		0x66, 0x58, // pop eax
		0x1F, // pop ds
		0xCF, // iret
	}
	// The standard 1.44 MB (18 sectors per track) diskette parameter
	// table: step rate/head unload, head load/DMA, motor-off delay, bytes
	// per sector (2 = 512), sectors per track, gap length, data length,
	// format gap, format filler, head settle, motor start time.
	disketteTable = []byte{0xAF, 0x02, 0x25, 0x02, 0x12, 0x1B, 0xFF, 0x6C, 0xF6, 0x0F, 0x08}
)

// biosCode lists the F-segment blobs by offset.
func biosCode() map[uint16][]byte {
	c := map[uint16][]byte{
		biosIRET: codeIRET, biosPrtSc: codeIRET, biosNMI: codeIRET,
		biosTimer: codeTimer, biosKbd: codeEOI1, biosFloppy: codeEOI1, biosPIC1: codeEOI1,
		biosRTC: codeEOI2, biosPIC2: codeEOI2, biosMouse: codeEOI2, biosFPU: codeEOI2, biosDisk: codeEOI2,
		biosEquipment: codeBDAWord(bdaEquipment), biosMemSize: codeBDAWord(bdaMemSize),
		biosDisketteTb: disketteTable,
	}
	for _, off := range ivtEntries {
		if _, ok := c[off]; !ok && off != 0 {
			c[off] = codeIRET // BIOS services vmxemu does not implement
		}
	}
	return c
}

// WriteBIOS writes the IVT, the BDA, the EBDA's size byte and the
// F-segment handlers (see the top of the file).
func WriteBIOS(mem Memory, cfg BIOSConfig) error {
	if len(cfg.COMPorts) > 4 {
		return fmt.Errorf("BIOS data: %d serial ports, the BDA has room for 4", len(cfg.COMPorts))
	}
	le := binary.LittleEndian
	ivt := make([]byte, 0x400)
	for v := range 256 {
		off, ok := ivtEntries[v]
		if !ok {
			off = biosIRET
		}
		if ok && off == 0 {
			continue
		}
		le.PutUint32(ivt[4*v:], biosSeg<<16|uint32(off))
	}
	if err := writePhys(mem, 0, ivt, "interrupt vector table"); err != nil {
		return err
	}
	bda := make([]byte, 0x100)
	for i, p := range cfg.COMPorts {
		le.PutUint16(bda[2*i:], p)
	}
	le.PutUint16(bda[bdaEBDASeg:], ebdaAddr>>4)
	// Equipment word: bit 1 math coprocessor, bit 2 pointing device (as
	// SeaBIOS reports them on QEMU), bits 9-11 the number of serial ports.
	le.PutUint16(bda[bdaEquipment:], 0x0006|uint16(len(cfg.COMPorts))<<9)
	le.PutUint16(bda[bdaMemSize:], ebdaAddr/1024)
	// Keyboard buffer: head and tail at its start (0x1E), bounds 0x1E-0x3E.
	le.PutUint16(bda[0x1A:], 0x1E)
	le.PutUint16(bda[0x1C:], 0x1E)
	le.PutUint16(bda[0x80:], 0x1E)
	le.PutUint16(bda[0x82:], 0x3E)
	// Video: mode 3, 80 columns, 25 rows (24 stored), cursor shape 0x0007,
	// page 0's cursor on row 2 (where SeaBIOS's serial console left it).
	bda[0x49] = 0x03
	le.PutUint16(bda[0x4A:], 80)
	bda[0x51] = 2
	le.PutUint16(bda[0x60:], 0x0007)
	bda[0x84] = 24
	bda[0x76] = 0xC0 // fixed-disk control byte
	bda[0x7C] = 0x0A // COM1 time-out
	bda[0x96] = 0x10 // keyboard: 101/102-key keyboard installed
	// Ticks since midnight (0x46C): 0, the board's RTC starts at 00:00:00.
	if err := writePhys(mem, bdaBase, bda, "BIOS data area"); err != nil {
		return err
	}
	if err := writePhys(mem, ebdaAddr, []byte{1}, "EBDA size"); err != nil {
		return err
	}
	for off, code := range biosCode() {
		if err := writePhys(mem, biosSeg<<4+uint64(off), code, "BIOS interrupt handler"); err != nil {
			return err
		}
	}
	return nil
}

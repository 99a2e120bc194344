package firmware

import "fmt"

// LoadFlat copies a raw binary to guest-physical addr and starts it at
// entry in the given mode. ModeReal16 needs the entry below 1 MiB (CS is
// entry&0xF0000 >> 4, IP the low 16 bits); Mode32Flat and Mode64 need it
// below 4 GiB. Mode64 also writes the identity page tables at PageTableAddr
// and the image must not overlap them or the boot GDT.
func LoadFlat(mem Memory, image []byte, addr uint64, entry uint64, mode Mode) (*Boot, error) {
	if len(image) == 0 {
		return nil, fmt.Errorf("flat: image is empty")
	}
	switch mode {
	case ModeReal16:
		if entry >= highRAMStart {
			return nil, fmt.Errorf("flat: real-mode entry %#x is not below 1 MiB", entry)
		}
	case Mode32Flat, Mode64:
		if entry >= fourGiB {
			return nil, fmt.Errorf("flat: %v entry %#x is not below 4 GiB", mode, entry)
		}
	default:
		return nil, fmt.Errorf("flat: unknown mode %v", mode)
	}
	end := addr + uint64(len(image))
	if err := checkInRAM(mem.RAMSize(), addr, end, "image"); err != nil {
		return nil, fmt.Errorf("flat: %w", err)
	}
	if err := checkNoOverlap(append([]region{{addr, end, "image"}}, bootRegions(mode)...)); err != nil {
		return nil, fmt.Errorf("flat: %w", err)
	}
	if err := writePhys(mem, addr, image, "image"); err != nil {
		return nil, fmt.Errorf("flat: %w", err)
	}
	b := &Boot{Entry: entry, Mode: mode, KernelStart: addr, KernelEnd: end, LoadEnd: end}
	if err := prepareMode(mem, b); err != nil {
		return nil, fmt.Errorf("flat: %w", err)
	}
	return b, nil
}

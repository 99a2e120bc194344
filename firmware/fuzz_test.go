package firmware

import (
	"fmt"
	"os"
	"strings"
	"testing"
)

// boundsMem is RAM that checks every write against its size and keeps
// nothing: what the loader fuzzer needs (the loaders' bytes are checked
// by the unit tests; here only that nothing lands outside RAM).
type boundsMem struct {
	size   uint64
	writes int
}

func (m *boundsMem) RAMSize() uint64 { return m.size }

func (m *boundsMem) WritePhys(pa uint64, b []byte) error {
	m.writes++
	if pa > m.size || uint64(len(b)) > m.size-pa {
		return fmt.Errorf("write [%#x, %#x) outside RAM", pa, pa+uint64(len(b)))
	}
	return nil
}

// fuzzRAM are the RAM sizes the loader fuzzer picks from: below the
// firmware's needs, QEMU's default and a larger one.
var fuzzRAM = []uint64{512 << 10, 2 << 20, 16 << 20, 128 << 20}

// FuzzLoaders feeds arbitrary images to the multiboot, ELF and flat
// loaders. Each call must end in a Boot whose entry and image lie in RAM,
// or in an error that names the loader and is one line of text; nothing
// may be written outside RAM (boundsMem refuses it, so a loader that
// tried returns the error) and nothing may panic.
//
// sel: bits 0-1 the loader (multiboot, ELF, flat), bits 2-3 the RAM size,
// bits 4-5 the flat mode; addr/entry are the flat loader's.
func FuzzLoaders(f *testing.F) {
	if demo, err := os.ReadFile("../cmd/vmxemu/demo/vmxon.elf"); err == nil {
		f.Add(uint8(0x08), demo, "scenario=ok", uint64(0), uint64(0))
		f.Add(uint8(0x09), demo, "", uint64(0), uint64(0))
	}
	// An a.out-kludge image: header at 0 with flag bit 16 and addresses.
	aout := append(mbHeaderBytes(0x10003, 0x100000, 0x100000, 0x100040, 0x100080, 0x100020), make([]byte, 32)...)
	f.Add(uint8(0x08), aout, "console=ttyS0", uint64(0), uint64(0))
	f.Add(uint8(0x04), aout[:20], "", uint64(0), uint64(0))                                  // truncated header
	f.Add(uint8(0x08), []byte{0x02, 0xB0, 0xAD, 0x1B, 0, 0, 1, 0}, "", uint64(0), uint64(0)) // bad checksum
	f.Add(uint8(0x0A), []byte{0xF4}, "", uint64(0x7C00), uint64(0x7C00))
	f.Add(uint8(0x1A), []byte{0xF4}, "", uint64(0x100000), uint64(0x100000))
	f.Add(uint8(0x2A), []byte{0xF4}, "", uint64(0x200000), uint64(0x200000))
	f.Add(uint8(0x2A), []byte{0xF4}, "", uint64(0xFFFFFFFFFFFFF000), uint64(0x1000))
	f.Fuzz(func(t *testing.T, sel uint8, image []byte, cmdline string, addr, entry uint64) {
		mem := &boundsMem{size: fuzzRAM[sel>>2&3]}
		var (
			b    *Boot
			err  error
			name string
		)
		switch sel & 3 {
		case 0, 3:
			name = "multiboot"
			var mods []Module
			if sel&3 == 3 && len(image) > 2 {
				mods = []Module{{Name: "mod " + cmdline, Data: image[len(image)/2:]}}
			}
			b, err = LoadMultiboot(mem, image, cmdline, mods)
		case 1:
			name = "elf"
			b, err = LoadELF(mem, image)
		case 2:
			name = "flat"
			b, err = LoadFlat(mem, image, addr, entry, Mode(sel>>4&3))
		}
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, name+":") {
				t.Fatalf("%s loader error does not name the loader: %q", name, msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Fatalf("%s loader error is not one line of text: %q", name, msg)
			}
			return
		}
		if b == nil {
			t.Fatalf("%s loader: nil Boot and nil error", name)
		}
		if b.Mode == ModeReal16 && b.Entry >= highRAMStart {
			t.Fatalf("flat16 entry %#x not below 1 MiB", b.Entry)
		}
		if b.KernelStart > b.KernelEnd || b.KernelEnd > b.LoadEnd || b.LoadEnd > mem.size {
			t.Fatalf("%s: image [%#x, %#x) load end %#x not ordered inside RAM %#x", name, b.KernelStart, b.KernelEnd, b.LoadEnd, mem.size)
		}
		for _, m := range b.Modules {
			if m.Start > m.End || m.End > mem.size {
				t.Fatalf("%s: module [%#x, %#x) outside RAM %#x", name, m.Start, m.End, mem.size)
			}
		}
	})
}

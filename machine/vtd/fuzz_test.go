package vtd

import (
	"encoding/binary"
	"fmt"
	"testing"
)

// smallMem is a 1-MiB memory: addresses beyond it fail, as MMIO or
// absent memory does for the unit's table reads.
type smallMem struct{ b [1 << 20]byte }

func (m *smallMem) ReadPhys(pa uint64, b []byte) error {
	if pa >= uint64(len(m.b)) || uint64(len(b)) > uint64(len(m.b))-pa {
		return fmt.Errorf("beyond memory: %#x", pa)
	}
	copy(b, m.b[pa:])
	return nil
}

func (m *smallMem) WritePhys(pa uint64, b []byte) error {
	if pa >= uint64(len(m.b)) || uint64(len(b)) > uint64(len(m.b))-pa {
		return fmt.Errorf("beyond memory: %#x", pa)
	}
	copy(m.b[pa:], b)
	return nil
}

// FuzzUnit drives a remapping unit with what a guest controls: register
// writes and reads of any size at any offset, and table memory, then DMA
// and interrupt requests from any source ID. The input's first byte
// chooses the properties; the next 4 KiB fill the start of memory (the
// tables the registers point at); the rest is a program of 16-byte
// operations. Whatever the guest writes, every operation returns (no
// panic, no endless queue processing), and a fault carries its reason.
func FuzzUnit(f *testing.F) {
	seed := make([]byte, 1+4096+16*4)
	seed[0] = 3
	op := seed[4097:]
	op[0], op[1] = 0, 0x20 // RTADDR
	op[16], op[17] = 0, 0x18
	binary.LittleEndian.PutUint64(op[24:], 1<<30) // GCMD.SRTP
	op[32] = 2                                    // translate
	op[48] = 4                                    // remap
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) { fuzzBody(t)(b) })
}

func fuzzBody(t *testing.T) func(b []byte) {
	return func(b []byte) {
		if len(b) < 1 {
			return
		}
		cfg := Config{IntRemap: b[0]&1 != 0, EIM: b[0]&3 == 3, NoPT: b[0]&4 != 0, AWBits: []int{39, 48}[b[0]>>3&1]}
		m := &smallMem{}
		n := copy(m.b[:4096], b[1:])
		prog := b[1+n:]
		sent := 0
		u, err := New(cfg, m, func(Interrupt) { sent++ })
		if err != nil {
			t.Fatalf("New(%+v): %v", cfg, err)
		}
		for len(prog) >= 16 {
			o := prog[:16]
			prog = prog[16:]
			off := uint64(binary.LittleEndian.Uint16(o[1:])) & 0xFFF
			size := []int{1, 2, 4, 8}[o[3]&3]
			v := binary.LittleEndian.Uint64(o[8:])
			sid := binary.LittleEndian.Uint16(o[4:])
			switch o[0] % 6 {
			case 0:
				u.WriteMMIO(off, size, v)
			case 1:
				u.ReadMMIO(off, size)
			case 2, 3:
				_, fl := u.Translate(sid, v, o[0]%6 == 3)
				if fl != nil && fl.Error() == "" {
					t.Fatalf("a fault without a reason")
				}
			case 4:
				u.Remap(sid, o[6]&1 != 0, 0xFEE00000|v&0xFFFFF, uint32(v>>32))
			case 5:
				buf := make([]byte, 1+o[7]%64)
				_ = u.DMA(sid, v, buf, o[6]&1 != 0)
			}
		}
		_ = sent
	}
}

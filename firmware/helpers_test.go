package firmware

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
)

// fakeMem is RAM [0, len(b)) backed by a slice, pre-filled with 0xAA so
// tests can tell written zeros from untouched bytes.
type fakeMem struct{ b []byte }

func newMem(size int) *fakeMem {
	return &fakeMem{b: bytes.Repeat([]byte{0xAA}, size)}
}

func (m *fakeMem) RAMSize() uint64 { return uint64(len(m.b)) }

func (m *fakeMem) WritePhys(pa uint64, b []byte) error {
	if pa > uint64(len(m.b)) || uint64(len(b)) > uint64(len(m.b))-pa {
		return fmt.Errorf("write [%#x, %#x) outside RAM", pa, pa+uint64(len(b)))
	}
	copy(m.b[pa:], b)
	return nil
}

func (m *fakeMem) u32(pa uint64) uint32 { return binary.LittleEndian.Uint32(m.b[pa:]) }
func (m *fakeMem) u64(pa uint64) uint64 { return binary.LittleEndian.Uint64(m.b[pa:]) }

func (m *fakeMem) cstr(t *testing.T, pa uint64) string {
	t.Helper()
	i := bytes.IndexByte(m.b[pa:], 0)
	require.GreaterOrEqual(t, i, 0, "no NUL after %#x", pa)
	return string(m.b[pa : pa+uint64(i)])
}

func (m *fakeMem) requireFill(t *testing.T, start, end uint64, v byte, what string) {
	t.Helper()
	for a := start; a < end; a++ {
		if m.b[a] != v {
			require.Failf(t, "unexpected byte", "%s: byte at %#x is %#x, want %#x", what, a, m.b[a], v)
		}
	}
}

// mbHeader builds a Multiboot v1 header (spec 3.1.1): magic, flags,
// checksum so that the three sum to 0 mod 2^32, then optional address
// fields header_addr, load_addr, load_end_addr, bss_end_addr, entry_addr.
func mbHeaderBytes(flags uint32, addr ...uint32) []byte {
	w := []uint32{0x1BADB002, flags, -(0x1BADB002 + flags)}
	w = append(w, addr...)
	return le32s(w...)
}

func le32s(w ...uint32) []byte {
	b := make([]byte, 4*len(w))
	for i, v := range w {
		binary.LittleEndian.PutUint32(b[4*i:], v)
	}
	return b
}

// tseg is a program header for the ELF builders.
type tseg struct {
	typ   uint32 // 0 means PT_LOAD (1)
	paddr uint64
	vaddr uint64 // 0 means = paddr
	data  []byte
	memsz uint64 // 0 means len(data)
}

func (s tseg) fields() (typ uint32, vaddr, memsz uint64) {
	typ, vaddr, memsz = s.typ, s.vaddr, s.memsz
	if typ == 0 {
		typ = 1
	}
	if vaddr == 0 {
		vaddr = s.paddr
	}
	if memsz == 0 {
		memsz = uint64(len(s.data))
	}
	return
}

// elf32 writes a little-endian ELF32 executable from scratch following the
// System V gABI layout: 52-byte header, 32-byte program headers at offset
// 52, segment data after them at 4-byte aligned offsets.
func elf32(machine uint16, entry uint32, segs ...tseg) []byte {
	le := binary.LittleEndian
	phoff := 52
	off := phoff + 32*len(segs)
	hdr := make([]byte, off)
	copy(hdr, []byte{0x7F, 'E', 'L', 'F', 1 /*ELFCLASS32*/, 1 /*LSB*/, 1 /*EV_CURRENT*/})
	le.PutUint16(hdr[16:], 2) // ET_EXEC
	le.PutUint16(hdr[18:], machine)
	le.PutUint32(hdr[20:], 1)
	le.PutUint32(hdr[24:], entry)
	le.PutUint32(hdr[28:], uint32(phoff))
	le.PutUint16(hdr[40:], 52)
	le.PutUint16(hdr[42:], 32)
	le.PutUint16(hdr[44:], uint16(len(segs)))
	var body []byte
	for i, s := range segs {
		typ, vaddr, memsz := s.fields()
		p := hdr[phoff+32*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], uint32(off+len(body)))
		le.PutUint32(p[8:], uint32(vaddr))
		le.PutUint32(p[12:], uint32(s.paddr))
		le.PutUint32(p[16:], uint32(len(s.data)))
		le.PutUint32(p[20:], uint32(memsz))
		le.PutUint32(p[24:], 7)
		le.PutUint32(p[28:], 4)
		body = append(body, s.data...)
		for len(body)%4 != 0 {
			body = append(body, 0)
		}
	}
	return append(hdr, body...)
}

// elf64 is elf32's ELFCLASS64 twin: 64-byte header, 56-byte program headers.
func elf64(machine uint16, entry uint64, segs ...tseg) []byte {
	le := binary.LittleEndian
	phoff := 64
	off := phoff + 56*len(segs)
	hdr := make([]byte, off)
	copy(hdr, []byte{0x7F, 'E', 'L', 'F', 2 /*ELFCLASS64*/, 1, 1})
	le.PutUint16(hdr[16:], 2)
	le.PutUint16(hdr[18:], machine)
	le.PutUint32(hdr[20:], 1)
	le.PutUint64(hdr[24:], entry)
	le.PutUint64(hdr[32:], uint64(phoff))
	le.PutUint16(hdr[52:], 64)
	le.PutUint16(hdr[54:], 56)
	le.PutUint16(hdr[56:], uint16(len(segs)))
	var body []byte
	for i, s := range segs {
		typ, vaddr, memsz := s.fields()
		p := hdr[phoff+56*i:]
		le.PutUint32(p[0:], typ)
		le.PutUint32(p[4:], 7)
		le.PutUint64(p[8:], uint64(off+len(body)))
		le.PutUint64(p[16:], vaddr)
		le.PutUint64(p[24:], s.paddr)
		le.PutUint64(p[32:], uint64(len(s.data)))
		le.PutUint64(p[40:], memsz)
		le.PutUint64(p[48:], 8)
		body = append(body, s.data...)
		for len(body)%8 != 0 {
			body = append(body, 0)
		}
	}
	return append(hdr, body...)
}

// ELF machine numbers (System V gABI).
const (
	emARM    = 40
	em386    = 3
	emX86_64 = 62
)

func pattern(n int, seed byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = seed + byte(i*7)
	}
	return b
}

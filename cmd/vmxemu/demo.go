package main

import (
	"encoding/binary"
	"fmt"
)

// The built-in demo guest: a flat 32-bit program that vmxemu runs when it
// is started without -kernel. It is assembled here, from Go, so the binary
// needs no toolchain at run time. It initialises COM1 the way a driver
// does, prints demoBanner polling the line status register before every
// byte, then powers the machine off by writing "Shutdown" to the Bochs
// port 0x8900, so the run ends with exit status 0.

// demoLoadAddr is where the demo is loaded and entered (1 MiB, in 32-bit
// flat protected mode).
const demoLoadAddr = 0x100000

const demoBanner = "vmxemu: built-in demo guest\n" +
	"This text comes from a small program running on the emulated CPU in\n" +
	"32-bit protected mode: it programmed the 16550 UART at port 0x3F8,\n" +
	"printed these lines one byte at a time, and now powers the machine off\n" +
	"through port 0x8900.\n" +
	"Run `vmxemu -h` for usage; boot a multiboot kernel with `vmxemu -kernel FILE`.\n"

// asm is a tiny assembler for the demo: bytes, labels, and fixups for
// 8-bit relative jumps and 32-bit absolute addresses.
type asm struct {
	b      []byte
	labels map[string]int
	rel8   map[int]string // offset of a rel8 byte → target label
	abs32  map[int]string // offset of an imm32 → label (absolute address)
}

func newAsm() *asm {
	return &asm{labels: map[string]int{}, rel8: map[int]string{}, abs32: map[int]string{}}
}

func (a *asm) emit(b ...byte)    { a.b = append(a.b, b...) }
func (a *asm) label(name string) { a.labels[name] = len(a.b) }
func (a *asm) jcc8(op byte, l string) {
	a.emit(op, 0)
	a.rel8[len(a.b)-1] = l
}

// movDX emits mov dx, imm16 (operand-size prefix in 32-bit code).
func (a *asm) movDX(port uint16) { a.emit(0x66, 0xBA, byte(port), byte(port>>8)) }

// movAL emits mov al, imm8.
func (a *asm) movAL(v byte) { a.emit(0xB0, v) }

// outDXAL emits out dx, al.
func (a *asm) outDXAL() { a.emit(0xEE) }

// movESI emits mov esi, imm32 with the address of label l.
func (a *asm) movESI(l string) {
	a.emit(0xBE, 0, 0, 0, 0)
	a.abs32[len(a.b)-4] = l
}

func (a *asm) link(base uint32) ([]byte, error) {
	for off, l := range a.rel8 {
		t, ok := a.labels[l]
		if !ok {
			return nil, fmt.Errorf("demo: undefined label %q", l)
		}
		d := t - (off + 1)
		if d < -128 || d > 127 {
			return nil, fmt.Errorf("demo: jump to %q out of rel8 range", l)
		}
		a.b[off] = byte(int8(d))
	}
	for off, l := range a.abs32 {
		t, ok := a.labels[l]
		if !ok {
			return nil, fmt.Errorf("demo: undefined label %q", l)
		}
		binary.LittleEndian.PutUint32(a.b[off:], base+uint32(t))
	}
	return a.b, nil
}

// demoImage returns the demo program, linked at demoLoadAddr.
func demoImage() ([]byte, error) {
	const com1 = 0x3F8
	a := newAsm()
	// UART init as the guests' driver does it: IER=0; DLAB=1; divisor 1
	// (115200 baud); 8N1 with DLAB=0; FIFOs on and cleared; DTR|RTS|OUT2.
	for _, w := range []struct {
		reg uint16
		v   byte
	}{{1, 0x00}, {3, 0x80}, {0, 0x01}, {1, 0x00}, {3, 0x03}, {2, 0xC7}, {4, 0x0B}} {
		a.movDX(com1 + w.reg)
		a.movAL(w.v)
		a.outDXAL()
	}
	a.movESI("msg")
	a.label("next")
	a.emit(0xAC)       // lodsb
	a.emit(0x84, 0xC0) // test al, al
	a.jcc8(0x74, "done")
	a.emit(0x88, 0xC4) // mov ah, al
	a.movDX(com1 + 5)  // line status register
	a.label("wait")
	a.emit(0xEC)       // in al, dx
	a.emit(0xA8, 0x20) // test al, 0x20 (THR empty)
	a.jcc8(0x74, "wait")
	a.emit(0x88, 0xE0) // mov al, ah
	a.movDX(com1)
	a.outDXAL()
	a.jcc8(0xEB, "next") // jmp next
	a.label("done")
	a.movDX(0x8900)
	a.movESI("shutdown")
	a.label("sd")
	a.emit(0xAC)       // lodsb
	a.emit(0x84, 0xC0) // test al, al
	a.jcc8(0x74, "stop")
	a.outDXAL()
	a.jcc8(0xEB, "sd")
	a.label("stop")
	a.emit(0xFA, 0xF4) // cli; hlt (not reached: the port powers off)
	a.jcc8(0xEB, "stop")
	a.label("msg")
	a.emit(append([]byte(demoBanner), 0)...)
	a.label("shutdown")
	a.emit(append([]byte("Shutdown"), 0)...)
	return a.link(demoLoadAddr)
}

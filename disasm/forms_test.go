package disasm

import (
	"fmt"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/vmxemu/vmxemu/cpu"
)

// probes returns, for every opcode of the four maps under each mandatory
// prefix, encodings with each ModRM.reg digit in a memory and a register
// form, followed by enough bytes for any immediate.
func probes() [][]byte {
	var out [][]byte
	for _, pfx := range [][]byte{nil, {0x66}, {0xF2}, {0xF3}} {
		for m, esc := range [][]byte{nil, {0x0F}, {0x0F, 0x38}, {0x0F, 0x3A}} {
			for op := 0; op < 256; op++ {
				if m == 0 && op == 0x0F {
					continue
				}
				for digit := 0; digit < 8; digit++ {
					for _, mod := range []byte{0x00, 0xC0} {
						b := append(append(append([]byte{}, pfx...), esc...), byte(op), mod|byte(digit)<<3|1)
						out = append(out, append(b, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99))
					}
				}
			}
		}
	}
	return out
}

// TestFormsCover: every encoding vmxemu's decoder accepts (no decode-time
// fault) has a form, so every instruction the CPU executes can be
// printed.
func TestFormsCover(t *testing.T) {
	missing := map[string]bool{}
	for _, bits := range []int{16, 32, 64} {
		for _, code := range probes() {
			d, ok := cpu.Decode(code, bits)
			if !ok || d.Fault != nil {
				continue
			}
			if in := Format(d, 0x1000); in.Bad && !(d.Name == "x87" && x87Reserved(d)) {
				missing[fmt.Sprintf("%d-bit % x (%s)", bits, code[:d.Len], d.Name)] = true
			}
		}
	}
	var list []string
	for k := range missing {
		list = append(list, k)
	}
	sort.Strings(list)
	for _, l := range list {
		t.Log(l)
	}
	assert.Empty(t, list, "decoded by vmxemu but without a form in forms.go")
}

// x87Reserved reports the x87 encodings the SDM's escape-opcode tables
// leave blank (Vol. 2D Tables ): vmxemu decodes their length
// (every x87 opcode raises #UD: no FPU) and prints them as "(bad)", as
// objdump does.
func x87Reserved(d cpu.Decoded) bool {
	digit := d.ModRM >> 3 & 7
	if d.Mod != 3 {
		switch d.Opcode {
		case 0xD9:
			return digit == 1
		case 0xDB:
			return digit == 4 || digit == 6
		case 0xDD:
			return digit == 5
		}
		return false
	}
	m := d.ModRM
	switch d.Opcode {
	case 0xD9:
		return m >= 0xD1 && m <= 0xDF || m == 0xE2 || m == 0xE3 || m == 0xE6 || m == 0xE7 || m == 0xEF
	case 0xDA:
		return m >= 0xE0 && m != 0xE9
	case 0xDB:
		return m >= 0xE0 && m <= 0xE7 && m != 0xE2 && m != 0xE3 || m >= 0xF8
	case 0xDC:
		return m >= 0xD0 && m <= 0xDF
	case 0xDD:
		return m >= 0xC8 && m <= 0xCF || m >= 0xF0
	case 0xDE:
		return m >= 0xD0 && m <= 0xDF && m != 0xD9
	case 0xDF:
		return m <= 0xDF || m >= 0xE1 && m <= 0xE7 || m >= 0xF8
	}
	return false
}

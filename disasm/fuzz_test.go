package disasm

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/cpu"
)

// FuzzDisasm: any byte stream in any code width disassembles without a
// panic, to the length the CPU's decoder gives it (the formatter prints
// what the interpreter executes), and to a non-empty mnemonic.
func FuzzDisasm(f *testing.F) {
	for _, p := range probes()[:4096:4096] {
		f.Add(p, uint8(64))
	}
	f.Add([]byte{0x0F, 0x01, 0xC2}, uint8(32))                   // VMLAUNCH
	f.Add([]byte{0x66, 0x0F, 0x38, 0x80, 0x06}, uint8(64))       // INVEPT rax, [rsi]
	f.Add([]byte{0xC4, 0xE2, 0x79, 0x18, 0x06}, uint8(32))       // VEX
	f.Add([]byte{0x67, 0x66, 0xF3, 0x0F, 0xB8, 0x00}, uint8(16)) // POPCNT with prefixes
	f.Fuzz(func(t *testing.T, code []byte, w uint8) {
		bits := [3]int{16, 32, 64}[int(w)%3]
		in, ok := New().Disasm(code, 0x1000, bits)
		n, _, lok := cpu.DecodeLength(code, bits)
		require.Equal(t, lok, ok, "Disasm and DecodeLength disagree on whether % x is complete", code)
		if !ok {
			return
		}
		require.Equal(t, n, in.Len, "length of % x (%d-bit)", code, bits)
		require.NotEmpty(t, in.Mnemonic, "% x", code)
		_ = in.String()
	})
}

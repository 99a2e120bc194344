package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestCodeWriteSameBytes: a store into code that leaves its bytes as they
// were keeps the frame's decoded blocks when one was looked up since the
// last such store (physWrite, CodeCache.rewritten), and drops them
// otherwise; a store that changes any of its bytes is seen by the next
// fetch, also in the running block (SDM Vol. 3A 11.6). The loop stores
// into the ADD it then runs, five times:
//
//	loop:   mov byte/word [rel target+k], imm
//	target: add ebx, 1          ; 83 C3 01
//	        dec ecx
//	        jnz loop
//	        hlt
func TestCodeWriteSameBytes(t *testing.T) {
	tests := []struct {
		name  string
		store []byte // the MOV, RIP-relative to target
		off   int    // the byte of target it starts at
		want  uint64 // RBX after the loop
		keeps bool   // the frame's blocks survive a second run
	}{
		{"same immediate", []byte{0xC6, 0x05, 0, 0, 0, 0, 0x01}, 2, 5, true},
		{"same ModRM and immediate (word)", []byte{0x66, 0xC7, 0x05, 0, 0, 0, 0, 0xC3, 0x01}, 1, 5, true},
		{"new immediate", []byte{0xC6, 0x05, 0, 0, 0, 0, 0x10}, 2, 0x50, false},
		{"same ModRM, new immediate (word)", []byte{0x66, 0xC7, 0x05, 0, 0, 0, 0, 0xC3, 0x10}, 1, 0x50, false},
		{"new immediate, same next byte (word)", []byte{0x66, 0xC7, 0x05, 0, 0, 0, 0, 0x10, 0xFF}, 2, 0x50, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(mode64)
			code := append([]byte(nil), tt.store...)
			code = append(code, 0x83, 0xC3, 0x01, 0xFF, 0xC9, 0x75, 0)
			code[len(code)-1] = byte(-len(code))
			// The displacement is target+off less the end of the MOV,
			// which is target: off.
			dispAt := 2
			if code[0] == 0x66 {
				dispAt = 3
			}
			binary.LittleEndian.PutUint32(code[dispAt:], uint32(tt.off))
			var gpr [16]uint64
			gpr[arch.RCX] = 5
			s, f := h.stepN(code, gpr, 0, 1000)
			require.Equal(t, -1, f)
			require.Equal(t, tt.want, s.GPR[arch.RBX])
			// A second run of the same bytes (as they are now), one
			// pass: the lookup at its start, then one store.
			now := append([]byte(nil), h.bus.ram[harnessCode:harnessCode+len(code)]...)
			h.code = append(h.code[:0], now...)
			gen := h.c.code.gen
			gpr[arch.RCX] = 1
			s, f = h.stepN(now, gpr, 0, 1000)
			require.Equal(t, -1, f)
			if !tt.keeps {
				require.Equal(t, uint64(0x10), s.GPR[arch.RBX])
				return
			}
			require.Equal(t, uint64(1), s.GPR[arch.RBX])
			require.Equal(t, gen, h.c.code.gen, "no block dropped or decoded again")
			// Another store of the same bytes, with no lookup since the
			// run's: the blocks go.
			pfn := uint64(harnessCode >> 12)
			require.True(t, h.c.code.isCode(pfn))
			h.c.physWrite(harnessCode, 1, uint64(now[0]), accWrite)
			require.False(t, h.c.code.isCode(pfn), "no lookup since the last store")
		})
	}
}

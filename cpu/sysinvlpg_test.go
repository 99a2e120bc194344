package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// invlpgSrc remaps three pages and runs INVLPG on each, then uses the
// new translation (SDM Vol. 3A 4.10.4.1): a data page (0x40000, frame
// toggled with 0x41000), the code page it jumps to next (pageB, frame
// toggled with invlpgAltB, which holds pageB's code with another
// increment), and its own code page (pageA, likewise with invlpgAltA):
// the instructions after that INVLPG must come through the new
// translation. r11 sums the data read, r13 and r14 what each code page's
// copy added, r12 counts the passes.
const invlpgSrc = `
	mov r8, 0x13000 + 0x40*8   ; PTE of 0x40000
	mov r9, 0x40000
	mov r10, 0x13000 + 0x21*8  ; PTE of pageB (0x21000)
	mov r15, 0x13000 + 0x20*8  ; PTE of pageA (0x20000)
top:
	xor qword [r8], 0x1000      ; data page: frame 0x40000 <-> 0x41000
	add r11, [r9]               ; the old translation may still be used
	invlpg [r9]
	add r11, [r9]               ; the new one
	inc r12
	add r11, [r9]
	xor qword [r10], 0x21000 ^ 0x42000
	invlpg [rel pageB]
	jmp pageB
backA:
	xor qword [r15], 0x20000 ^ 0x43000
	invlpg [rel top]
	add r14, 1                  ; 2 in the other copy of pageA
	add r14, 1
	jmp top
align 4096
pageB:
	add r13, 1                  ; 2 in the other copy of pageB
	jmp backA
`

// newInvlpgLoop builds the machine of invlpgSrc; armed is as in
// newRFLoop: every instruction alone.
func newInvlpgLoop(t testing.TB, armed bool) *machine {
	m := newMachine(t, modeLong64, 0)
	m.program(t, invlpgSrc)
	b := labelAddr(t, 64, physCode, invlpgSrc, "pageB")
	require.Equal(t, uint64(0x21000), b)
	m.w64(0x40000, 1)
	m.w64(0x41000, 100)
	// The other copies of pageA and pageB: "add r14/r13, 1" (49 83 C6 01,
	// 49 83 C5 01) made "add ..., 2".
	for _, pg := range []struct{ from, to uint64 }{{0x20000, 0x43000}, {0x21000, 0x42000}} {
		for i := uint64(0); i < 4096; i++ {
			m.w8(pg.to+i, uint8(m.r16(pg.from+i)))
		}
	}
	patched := 0
	for _, at := range []uint64{0x43000, 0x42000} {
		for i := at; i < at+4096-3; i++ {
			if m.r16(i) == 0x8349 && (m.r16(i+2) == 0x01C6 || m.r16(i+2) == 0x01C5) {
				m.w8(i+3, 2)
				patched++
			}
		}
	}
	require.Equal(t, 3, patched, "increments patched in the copies")
	if armed {
		m.armSplit()
	}
	return m
}

// TestInvlpgContinues: after an INVLPG of a page that holds no decoded
// block the run follows the block's links (invalidatePage); after one of
// a page with blocks (the code page it jumps to next, its own page) it
// looks the next block up afresh. invlpgSrc runs in whole blocks and one
// instruction at a time, in runs of random lengths: the state must agree
// after every run, and every remapped page must have been used through
// both translations.
func TestInvlpgContinues(t *testing.T) {
	whole, single := newInvlpgLoop(t, false), newInvlpgLoop(t, true)
	requireLockstep(t, whole, single, 13, 500, 40)
	s := whole.state()
	passes := s.GPR[arch.R12]
	require.Greater(t, passes, uint64(100), "passes")
	// Each pass adds 3 reads, at least two through the new frame; the
	// frames alternate, so both values show in the sum.
	require.NotZero(t, s.GPR[arch.R11]%100, "reads of 0x40000's first frame")
	require.Greater(t, s.GPR[arch.R11], 100*passes, "reads of its second frame")
	require.Greater(t, s.GPR[arch.R13], passes, "pageB's other copy ran")
	require.Greater(t, s.GPR[arch.R14], 2*passes, "pageA's other copy ran")
}

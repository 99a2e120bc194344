package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// rfLoopSrc adds to faultLoopSrc's #PFs and trips to CPL 3 the cases
// where RFLAGS.RF=1 is observable after a handler's IRETQ (SDM Vol. 3B
// 18.3.1.1): an IRETQ whose frame holds RF=1 (from a fault) as the first
// instruction run with RF=1, which keeps RF=1 for the instruction after
// it, and an INT 0x21 there, whose frame records RF (r15 counts the
// frames with RF=1, rbp all of them); and an INT 0x22 as the second
// instruction after a #PF handler's IRETQ, whose frame must hold RF=0
// (r10 counts those with RF=1, r9 all of them). Every #PF returns to the
// instruction after the faulting one with RF=1.
const rfLoopSrc = pfLoopHead + `
	mov rax, cr0
	xor rax, 1 << 16       ; CR0.WP toggled
	mov cr0, rax
	invlpg [rsi]
	mov rax, [rbx]         ; #PF(0), back with RF=1 to the next
	add r12, 1
	int 0x22               ; the second instruction: RF=0 in its frame
	mov rax, rsp
	push 0x10              ; SS: selData0
	push rax               ; RSP
	pushfq
	or qword [rsp], 1 << 16 ; RF=1 in the image
	push 0x08              ; CS: selCode64
	lea rax, [rel after]
	push rax
	mov rax, [rsi]         ; #PF(P|RSVD), back with RF=1 to the IRETQ
	iretq                  ; loads RF=1
after:
	int 0x21               ; runs with RF=1: its frame records it
	mov rax, [rbx]         ; #PF(0)
` + toUser64 + `
back:
	inc r12
	jmp top
` + pfHandler + `
align 64
int21:
	inc rbp
	mov rax, [rsp+16]
	shr rax, 16
	and rax, 1
	add r15, rax           ; frames with RF=1
	iretq
align 64
int22:
	inc r9
	mov rax, [rsp+16]
	shr rax, 16
	and rax, 1
	add r10, rax           ; frames with RF=1
	iretq
` + int20User

// newRFLoop builds the machine of rfLoopSrc; armed arms an instruction
// breakpoint (DR0, R/W=00, L0) at an address nothing executes, so that
// every instruction runs alone (runDebug) and RF is cleared after one
// instruction there, which is what SDM Vol. 3B 18.3.1.1 states.
func newRFLoop(t testing.TB, armed bool) *machine {
	m := newPFLoop(t, rfLoopSrc, append(pfLoopGates(), loopGate{0x21, "int21", 0}, loopGate{0x22, "int22", 0}), nil)
	if armed {
		m.armSplit()
	}
	return m
}

// TestRFAfterIRETQ runs rfLoopSrc in whole blocks (a block that starts
// with RF=1 runs whole through runSlow, rfOnly) and one instruction at a
// time (newRFLoop's armed breakpoint), in runs of random lengths that end
// anywhere in the loop: the state must agree after every run, and the
// INT 0x21 frames must have recorded RF=1 every time.
func TestRFAfterIRETQ(t *testing.T) {
	whole, single := newRFLoop(t, false), newRFLoop(t, true)
	requireLockstep(t, whole, single, 12, 400, 60)
	s := whole.state()
	require.Greater(t, s.GPR[arch.RBP], uint64(20), "INT 0x21s taken")
	require.Equal(t, s.GPR[arch.RBP], s.GPR[arch.R15], "INT 0x21 frames with RF=1")
	require.Greater(t, s.GPR[arch.R9], uint64(20), "INT 0x22s taken")
	require.Zero(t, s.GPR[arch.R10], "INT 0x22 frames with RF=1")
}

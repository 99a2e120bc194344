package cpu_test

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// xferLoopSrc takes every kind of IA-32e event delivery and IRETQ that
// the derived-state shortcuts (stateChanged skipped when CS and SS stay,
// one stateChanged per return to an outer level, refreshSegs copying
// only the FS and GS bases while every view is 64-bit mode's) must get
// right: a #PF at CPL 0 with SS loaded and with a null SS (the handler in
// the same code segment: CS and SS unchanged), IRETQs at CPL 0 that
// change SS to null and back, and to another CPL 0 code segment
// (selCode64b: another limit, so another CS cache), IRETQs to 64-bit code
// at CPL 3 and to 32-bit compatibility-mode code at CPL 3 (a mode
// change), a #PF at CPL 3 from either (a user-mode read of a supervisor
// page) whose IRETQ returns there, and INT 0x20/0x23 back to CPL 0
// through the TSS stack (SDM Vol. 3A 6.12-6.14, Vol. 2A IRET), and DS
// and ES loads in 64-bit mode before the trip to compatibility mode. r12
// counts the passes, r13 the #PFs, r14 ORs their error codes.
const xferLoopSrc = pfLoopHead + `
	mov rax, [rbx]         ; #PF(0) at CPL 0, SS = selData0
	mov rax, rsp
	push 0                 ; SS: null
	push rax
	pushfq
	push 0x08              ; CS: selCode64
	lea rax, [rel ret1]
	push rax
	iretq                  ; CPL 0, SS becomes null
ret1:
	mov rax, [rsi]         ; #PF(P|RSVD) at CPL 0 with a null SS
	mov rax, rsp
	push 0x10              ; SS: selData0
	push rax
	pushfq
	push 0x38              ; CS: selCode64b
	lea rax, [rel ret2]
	push rax
	iretq                  ; CPL 0, another CS cache, SS loaded
ret2:
	mov rax, [rbx]         ; #PF(0) in selCode64b: the handler's CS differs
	mov rax, rsp
	push 0x10
	push rax
	pushfq
	push 0x08              ; back to selCode64
	lea rax, [rel ret3]
	push rax
	iretq
ret3:` + toUser64 + `
back:
	mov ax, 0x23           ; DS, ES: selData3|3, usable at CPL 3
	mov ds, ax
	mov es, ax
	push 0x23
	push 0x9F000
	pushfq
	push 0x1B              ; CS: selCode32U|3
	lea rax, [rel user32]
	push rax
	iretq                  ; to compatibility mode at CPL 3
back32:
	inc r12
	jmp top
` + pfHandler + int20User + `
align 64
int23:
	add rsp, 40
	jmp back32
align 64
bits 32
user32:
	mov eax, [edi+0]       ; #PF(P|U) from compatibility mode (3 bytes)
	mov eax, [esp]         ; a stack read through the 32-bit SS view
	int 0x23
`

// selCode64b is a second DPL-0 64-bit code segment with its own limit.
const selCode64b = 0x38

func newXferLoop(t testing.TB) *machine {
	return newPFLoop(t, xferLoopSrc, append(pfLoopGates(), loopGate{0x23, "int23", 3}),
		func(m *machine) { m.setGDT(selCode64b, desc(0, 0xFFFFE, accCode0, flgG64)) })
}

// TestXferDerivedState runs xferLoopSrc in runs of random length (whole
// blocks, and one instruction at a time through an armed breakpoint)
// and after every run requires the derived state (segment views, decode
// mode, CPL, TLB key, alignment check, code context) to be what
// recomputing it from the architectural state gives; and the state of a
// machine whose derived state is recomputed after every instruction to
// equal the state of the one that never is.
func TestXferDerivedState(t *testing.T) {
	for _, armed := range []bool{false, true} {
		t.Run(fmt.Sprintf("armed=%v", armed), func(t *testing.T) {
			m, ref := newXferLoop(t), newXferLoop(t)
			if armed {
				m.armSplit()
				ref.armSplit()
			}
			r := rand.New(rand.NewSource(11))
			for i := 0; i < 600; i++ {
				n := uint64(1 + r.Intn(40))
				m.run(n)
				got := m.c.DerivedState()
				m.c.Rederive()
				require.Equal(t, m.c.DerivedState(), got, "derived state after run %d (%d instructions), RIP %#x", i, n, m.state().RIP)
				for j := uint64(0); j < n; j++ {
					ref.run(1)
					ref.c.Rederive()
				}
				require.Equal(t, ref.state(), m.state(), "run %d (%d instructions)", i, n)
			}
			s := m.state()
			require.Greater(t, s.GPR[arch.R12], uint64(30), "passes")
			n, pfs := s.GPR[arch.R12], s.GPR[arch.R13]
			require.True(t, 5*n <= pfs && pfs <= 5*n+5, "#PFs taken: %d in %d passes", pfs, n)
			require.Equal(t, uint64(arch.PFErrP|arch.PFErrRSVD|arch.PFErrUS), s.GPR[arch.R14], "error codes")
		})
	}
}

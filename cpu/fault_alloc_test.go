package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// The fault loops of this file, sysrf_test.go and xfer_test.go share
// their set-up (pfLoopHead: rbx and rsi point at the two faulting
// addresses), the trip to CPL 3 (toUser64), the #PF handler (pfHandler),
// INT 0x20's handler and the CPL-3 code (int20User); newPFLoop builds
// their machine.

const pfLoopHead = `
	mov rbx, 0x800000      ; PDE 4 of the identity map: not present
	mov rsi, 0x1FF000      ; PTE 511: reserved bit 51 set
top:
`

// toUser64 goes to the 64-bit code at user, at CPL 3, with IRETQ.
const toUser64 = `
	push 0x23              ; SS: selData3|3
	push 0xA0000           ; RSP: physUStack
	pushfq
	push 0x2B              ; CS: selCode64U|3
	lea rax, [rel user]
	push rax
	iretq
`

// pfHandler counts the #PF (r13), ORs its error code into r14 and
// returns to the instruction after the faulting one.
const pfHandler = `
align 64
pf:
	inc r13
	or r14, [rsp]
	add rsp, 8
	add qword [rsp], 3     ; every faulting instruction is 3 bytes long
	iretq
`

// int20User is INT 0x20's handler (back at CPL 0, to back) and the CPL-3
// code that faults and comes back with INT 0x20.
const int20User = `
align 64
int20:
	add rsp, 40            ; drop the CPL-3 frame
	jmp back
align 64
user:
	mov rax, [rdi]         ; rdi = the supervisor page: #PF(P|U)
	int 0x20
`

// eventLoopBody is the event path of kvm-unit-tests' access test alone:
// #PFs at CPL 0 and 3, IRETQ to CPL 0 and 3, INT 0x20 from CPL 3 through
// the TSS stack (SDM Vol. 3A 6.12-6.14). r12 counts the passes, r13 the
// #PFs taken and r14 their error codes ORed together.
const eventLoopBody = `
	mov rax, [rbx]         ; #PF(0)
	mov rax, [rsi]         ; #PF(P|RSVD)
` + toUser64 + `
back:
	inc r12
	jmp top
` + pfHandler + int20User

// faultLoopSrc is the loop of kvm-unit-tests' access test in miniature:
// a not-present #PF (PDE, SDM Vol. 3A 4.5), a reserved-bit #PF (bit 51 of
// a PTE), a #PF on a protection violation (a user-mode read of a
// supervisor page), each handled and returned from with IRETQ, and a trip
// to CPL 3 with IRETQ and back with INT 0x20, with CR0.WP toggled, CR4
// rewritten and an INVLPG on every pass.
const faultLoopSrc = pfLoopHead + `
	mov rax, cr0
	xor rax, 1 << 16       ; CR0.WP toggled
	mov cr0, rax
	mov rax, cr4
	mov cr4, rax
	invlpg [rsi]
` + eventLoopBody

// eventLoopSrc is faultLoopSrc without the CR0, CR4 and INVLPG writes.
const eventLoopSrc = pfLoopHead + eventLoopBody

// loopGate is an IDT gate of a fault loop: a 64-bit interrupt gate of
// selCode64 with its DPL to the handler at label.
type loopGate struct {
	vec   uint8
	label string
	dpl   uint8
}

// pfLoopGates returns the gates of faultLoopSrc and eventLoopSrc.
func pfLoopGates() []loopGate { return []loopGate{{arch.VecPF, "pf", 0}, {0x20, "int20", 3}} }

// newPFLoop builds the machine of a fault loop: src programmed, its
// gates, PTE 511 with the reserved bit 51, the supervisor page 0x1FE000
// that the CPL-3 code reads through rdi. setup, if not nil, changes the
// machine before src is programmed.
func newPFLoop(t testing.TB, src string, gates []loopGate, setup func(*machine)) *machine {
	m := newMachine(t, modeLong64, 0)
	if setup != nil {
		setup(m)
	}
	m.program(t, src)
	for _, g := range gates {
		lo, hi := gate64(selCode64, labelAddr(t, 64, physCode, src, g.label), 0xE, g.dpl, 0)
		m.setGate64(g.vec, lo, hi)
	}
	m.w64(pteAddr(0x1FF000), 0x1FF000|pteP|pteRW|pteUS|1<<51)
	m.w64(pteAddr(0x1FE000), 0x1FE000|pteP|pteRW) // supervisor page
	s := m.state()
	s.GPR[arch.RDI] = 0x1FE000
	m.set(s)
	return m
}

// newFaultLoop builds the machine of faultLoopSrc.
func newFaultLoop(t testing.TB) *machine { return newPFLoop(t, faultLoopSrc, pfLoopGates(), nil) }

// TestFaultLoopAllocs: taking page faults (not-present, reserved-bit and
// protection ones), delivering them and INT n, and returning with IRETQ,
// to CPL 0 and to CPL 3, allocates nothing once the code is decoded.
func TestFaultLoopAllocs(t *testing.T) {
	m := newFaultLoop(t)
	m.run(100000) // decode every block, fill the TLB
	s := m.state()
	require.Greater(t, s.GPR[arch.R12], uint64(100), "passes of the loop (RIP %#x)", s.RIP)
	n, pfs := s.GPR[arch.R12], s.GPR[arch.R13]
	require.True(t, 3*n <= pfs && pfs <= 3*n+3, "#PFs taken: %d in %d passes", pfs, n)
	require.Equal(t, uint64(arch.PFErrP|arch.PFErrRSVD|arch.PFErrUS), s.GPR[arch.R14], "error codes")
	// A run that ends inside a block makes the next one start a block of
	// its own there, decoded (and allocated) once. Runs of 5000 end at a
	// different place of the loop each time until the places repeat:
	// warm those up first, so that only the fault path is measured.
	for i := 0; i < 100; i++ {
		m.run(5000)
	}
	allocs := testing.AllocsPerRun(50, func() { m.run(5000) })
	require.Zero(t, allocs, "allocations per 5000 instructions of the fault loop")
}

// BenchmarkFaultLoop: faultLoopSrc, 5000 instructions per op (three #PFs,
// four IRETQs and an INT 0x20 every 26 instructions).
func BenchmarkFaultLoop(b *testing.B) {
	m := newFaultLoop(b)
	m.run(100000)
	b.ReportAllocs()
	for b.Loop() {
		m.run(5000)
	}
}

// BenchmarkEventLoop: eventLoopSrc, 5000 instructions per op (three
// #PFs, four IRETQs and an INT 0x20 every 20 instructions).
func BenchmarkEventLoop(b *testing.B) {
	m := newPFLoop(b, eventLoopSrc, pfLoopGates(), nil)
	m.run(100000)
	for i := 0; i < 100; i++ {
		m.run(5000)
	}
	s := m.state()
	n, pfs := s.GPR[arch.R12], s.GPR[arch.R13]
	require.True(b, n > 100 && 3*n <= pfs && pfs <= 3*n+3, "#PFs taken: %d in %d passes", pfs, n)
	b.ReportAllocs()
	for b.Loop() {
		m.run(5000)
	}
}

package cpu_test

import (
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestCR0WPToggleTLB: a MOV to CR0 that changes WP alone keeps the TLB
// entries whose use does not depend on WP (writeCR0, tlbEntry.wpDep), so
// sequences of supervisor writes, reads and WP toggles must still follow
// the SDM's rule on every access: a supervisor-mode write to a read-only
// page faults with #PF(P|W) if and only if CR0.WP=1 (SDM Vol. 3A 4.6.1,
// 4.7); reads and writable pages are unaffected by WP. The oracle is that
// rule, applied by the test to the sequence it generates; the program runs
// through the fast path (whole blocks), so the TLB entries a step fills
// are the ones the next step uses.
func TestCR0WPToggleTLB(t *testing.T) {
	const (
		roPage = testPage          // PTE read-only (supervisor)
		rwPage = testPage + 0x1000 // PTE writable
	)
	steps := map[string]string{
		"wp1": "mov rax, cr0\nbts rax, 16\nmov cr0, rax",
		"wp0": "mov rax, cr0\nbtr rax, 16\nmov cr0, rax",
		"wRO": fmt.Sprintf("inc rbx\nmov [%#x], rbx", roPage+8),
		"wRW": fmt.Sprintf("inc rbx\nmov [%#x], rbx", rwPage+8),
		"rRO": fmt.Sprintf("mov rcx, [%#x]", roPage+8),
		"rRW": fmt.Sprintf("mov rcx, [%#x]", rwPage+8),
	}
	names := []string{"wp1", "wp0", "wRO", "wRW", "rRO", "rRW"}
	seqs := [][]string{
		{"wRO", "wp1", "wRO"},               // entry filled under WP=0 must not serve WP=1
		{"wRW", "wp1", "wRW", "wp0", "wRW"}, // writable page: no fault either way
		{"wp1", "rRO", "wp0", "wRO", "rRO", "wp1", "rRO", "wRO"},
		{"wRO", "wRW", "wp1", "wRW", "rRO", "wp0", "wRO", "wp1", "wp0", "wRO"},
	}
	r := rand.New(rand.NewPCG(18, 12))
	for range 40 {
		n := 3 + r.IntN(12)
		s := make([]string, n)
		for i := range s {
			s[i] = names[r.IntN(len(names))]
		}
		seqs = append(seqs, s)
	}
	for i, seq := range seqs {
		t.Run(fmt.Sprintf("%d:%s", i, strings.Join(seq, ",")), func(t *testing.T) {
			// The oracle: the first write to the read-only page made
			// with WP=1 faults; every earlier write lands.
			wp, faultAt := false, -1
			var ro, rw uint64
			var rbx uint64
			var src strings.Builder
			for j, st := range seq {
				if st == "wRO" && wp && faultAt < 0 {
					faultAt = j
				}
				if faultAt < 0 {
					switch st {
					case "wp1":
						wp = true
					case "wp0":
						wp = false
					case "wRO":
						rbx++
						ro = rbx
					case "wRW":
						rbx++
						rw = rbx
					}
				}
				fmt.Fprintf(&src, "s%d:\n%s\n", j, steps[st])
			}
			src.WriteString("hlt\n")
			m := newMachine(t, modeLong64, 0)
			m.w64(pteAddr(roPage), roPage|pteP)
			m.w64(pteAddr(rwPage), rwPage|pteP|pteRW)
			m.program(t, src.String())
			if faultAt < 0 {
				m.expectDone(t)
			} else {
				m.expectVector(t, arch.VecPF)
				require.Equal(t, uint64(arch.PFErrP|arch.PFErrWR), m.stack(0, 8), "error code")
				// The faulting MOV is the second instruction of the step (after INC).
				here := labelAddr(t, 64, physCode, src.String(), fmt.Sprintf("s%d", faultAt)) + 3
				require.Equal(t, here, m.stack(1, 8), "RIP of the faulting write")
				require.Equal(t, uint64(roPage+8), m.state().CR2, "CR2")
			}
			require.Equal(t, ro, m.r64(roPage+8), "read-only page contents")
			require.Equal(t, rw, m.r64(rwPage+8), "writable page contents")
			require.Equal(t, wp, m.state().CR0&arch.CR0WP != 0, "CR0.WP")
		})
	}
}

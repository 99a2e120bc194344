package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/vmx"
)

// The RIP-to-block lookup follows translation contexts (tlb.go,
// codecache.go): a VM entry, a VM exit or VMFUNC switches contexts without
// flushing the lookup, and each context finds its own blocks again while
// its translations are valid. The bytes each context must run come from
// its own mapping of the linear RIP (SDM Vol. 3A 4.10.2: instruction
// fetches use the current context's translations; Vol. 3C 29.4.1: TLB
// entries are tagged by VPID and EP4TA); after an INVEPT or INVVPID that
// covers a context, its cached translations, and so its blocks, are gone
// (29.4.3.1).

// runToExits runs c one instruction at a time until n VM exits are in
// exits (at most 1000 instructions).
func runToExits(t *testing.T, c *CPU, exits *[]uint32, n int) {
	t.Helper()
	for i := 0; len(*exits) < n; i++ {
		require.Less(t, i, 1000, "%d exits of %d", len(*exits), n)
		c.Run(1)
	}
}

// TestCodeLookupFollowsContexts: the host runs at linear 0x11000 (INC
// EDI; VMWRITE of the guest RIP back to its start; VMRESUME), its guest
// at 0x11000 too or at 0x16000, through EPT at host-physical 0x19000 (INC
// ESI; CPUID): every round trip must run both. Then the host remaps the
// guest's code page to 0x1A000 (INC EBP; CPUID) in the EPT: with a VPID
// the guest may keep running its cached translation, and so its cached
// block, until the host invalidates the context (INVEPT single-context,
// INVVPID single-context or all-context), and must not after it; at
// 0x16000, whose block-lookup and TLB indices no host block or page
// shares (the host's at 0x12018 would share 0x14000's lookup entry), it
// does keep them (what makes round trips cheap), and an INVVPID of
// another VPID leaves them. Without a VPID every entry and exit invalidates VPID
// 0000H's mappings, so the new code runs at once.
func TestCodeLookupFollowsContexts(t *testing.T) {
	const (
		invEPT  = 0x80
		invVPID = 0x81
	)
	for _, tc := range []struct {
		name      string
		rip       uint32 // the guest's RIP
		vpid      uint64
		op, typ   byte   // INVEPT or INVVPID and its type; op 0: none
		desc      uint64 // the descriptor's first quadword
		staleNext bool   // the remapped code is not seen before the invalidation
		fresh     bool   // the invalidation removes the stale block
	}{
		{rip: 0x16000, name: "16000: VPID, INVEPT single-context", vpid: 1, op: invEPT, typ: 1, desc: eptEPTP, staleNext: true, fresh: true},
		{rip: 0x16000, name: "16000: VPID, INVVPID single-context", vpid: 1, op: invVPID, typ: 1, desc: 1, staleNext: true, fresh: true},
		{rip: 0x16000, name: "16000: VPID, INVVPID all-context", vpid: 1, op: invVPID, typ: 2, desc: 0, staleNext: true, fresh: true},
		{rip: 0x16000, name: "16000: VPID, INVVPID of another VPID", vpid: 1, op: invVPID, typ: 1, desc: 2, staleNext: true, fresh: false},
		{rip: 0x16000, name: "16000: VPID, no invalidation", vpid: 1, staleNext: true, fresh: false},
		{rip: 0x16000, name: "16000: no VPID", vpid: 0, staleNext: false, fresh: true},
		{rip: 0x11000, name: "11000: VPID, INVEPT single-context", vpid: 1, op: invEPT, typ: 1, desc: eptEPTP, staleNext: true, fresh: true},
		{rip: 0x11000, name: "11000: VPID, INVVPID single-context", vpid: 1, op: invVPID, typ: 1, desc: 1, staleNext: true, fresh: true},
		{rip: 0x11000, name: "11000: VPID, INVVPID all-context", vpid: 1, op: invVPID, typ: 2, desc: 0, staleNext: true, fresh: true},
		{rip: 0x11000, name: "11000: VPID, INVVPID of another VPID", vpid: 1, op: invVPID, typ: 1, desc: 2, staleNext: true, fresh: false},
		{rip: 0x11000, name: "11000: VPID, no invalidation", vpid: 1, staleNext: true, fresh: false},
		{rip: 0x11000, name: "11000: no VPID", vpid: 0, staleNext: false, fresh: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sec := uint64(1 << 1) // enable EPT
			if tc.vpid != 0 {
				sec |= 1 << 5 // enable VPID
			}
			h := eptHarness(t, "skylake-sp", sec, eptEPTP, tc.vpid)
			c := h.c
			ram := h.bus.ram
			put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
			pte := eptPTE(uint64(tc.rip))
			put(pte, 0x19000|7|eptWB)
			copy(ram[0x19000:], []byte{0x46, 0x0F, 0xA2}) // inc esi; cpuid
			copy(ram[0x1A000:], []byte{0x45, 0x0F, 0xA2}) // inc ebp; cpuid
			// The host: inc edi; mov eax, 681EH; mov ebx, rip; vmwrite
			// eax, ebx; [mov eax, typ; mov ebx, invDesc; inv* eax,
			// [ebx];] vmresume.
			host := []byte{0x47, 0xB8, 0x1E, 0x68, 0, 0, 0xBB, byte(tc.rip), byte(tc.rip >> 8), byte(tc.rip >> 16), 0, 0x0F, 0x79, 0xC3}
			copy(ram[0x11000:], append(append([]byte{}, host...), 0x0F, 0x01, 0xC3))
			inv := append(append([]byte{}, host...), 0xB8, tc.typ, 0, 0, 0, 0xBB, 0x00, 0x51, 0, 0, 0x66, 0x0F, 0x38, tc.op, 0x03)
			copy(ram[0x12000:], append(inv, 0x0F, 0x01, 0xC3))
			put(invDesc, tc.desc)
			put(invDesc+8, 0)
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x6C16, 0x11000, true).Kind, "host RIP")
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x681E, uint64(tc.rip), true).Kind, "guest RIP")
			// Only where nothing evicts the guest's entries is keeping
			// them certain (a TLB may drop any entry at any time, SDM
			// Vol. 3A 4.10.4).
			kept := tc.rip != 0x11000

			exits := exitRecorder(c)
			runToExits(t, c, exits, 5)
			assert.Equal(t, uint64(5), c.GPR[6], "ESI: the guest's bytes ran 5 times")
			assert.Equal(t, uint64(5), c.GPR[7], "EDI: the host's bytes ran after each exit (Run(1) retires the host's first instruction)")
			assert.Zero(t, c.GPR[5], "EBP")

			// Remap the guest's code page (no invalidation yet).
			put(pte, 0x1A000|7|eptWB)
			runToExits(t, c, exits, 8)
			assert.Equal(t, uint64(8), c.GPR[6]+c.GPR[5], "ESI+EBP: one guest run per round trip")
			switch {
			case tc.staleNext && kept:
				assert.Equal(t, uint64(8), c.GPR[6], "ESI: the cached translation of the guest's code")
				assert.Zero(t, c.GPR[5], "EBP")
			case !tc.staleNext:
				assert.Equal(t, uint64(5), c.GPR[6], "ESI")
				assert.Equal(t, uint64(3), c.GPR[5], "EBP: without VPIDs entry and exit invalidate the guest's mappings")
			}
			assert.Equal(t, uint64(8), c.GPR[7], "EDI: the host's bytes")
			if tc.op == 0 {
				return
			}

			// The host takes the path with the invalidation.
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x6C16, 0x12000, true).Kind, "host RIP")
			esi, ebp := c.GPR[6], c.GPR[5]
			c.RIP = 0x12000 // from the start of the other path
			var invs []vmx.Outcome
			c.Hooks.VMX = func(_ *CPU, o *vmx.Outcome) {
				if o.Insn == vmx.InsnINVEPT || o.Insn == vmx.InsnINVVPID {
					invs = append(invs, *o)
				}
			}
			runToExits(t, c, exits, 10)
			require.Len(t, invs, 2)
			require.Equal(t, vmx.Succeed, invs[0].Kind, "%v", invs[0])
			assert.Equal(t, esi+ebp+2, c.GPR[6]+c.GPR[5], "ESI+EBP: one guest run per round trip")
			switch {
			case tc.fresh:
				assert.Equal(t, esi, c.GPR[6], "ESI: the stale block must not run after the invalidation")
				assert.Equal(t, ebp+2, c.GPR[5], "EBP: the remapped code")
			case kept:
				assert.Equal(t, esi+2, c.GPR[6], "ESI: another context's invalidation keeps this one's")
				assert.Equal(t, ebp, c.GPR[5], "EBP")
			}
		})
	}
}

// TestVMFUNCCodeLookup: with VMFUNC EPTP switching the guest's linear
// page 0x11000 holds other bytes under each EPTP (host-physical 0x19000
// under the first, 0x1A000 under the second): after each switch the
// instructions must come from the new EPTP's page (SDM Vol. 3C 26.5.5.3:
// the new EPTP is used at once; 29.4.1: its cached translations are its
// own). A jump back to 0x11000 under each EPTP runs that EPTP's block.
func TestVMFUNCCodeLookup(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<5|1<<13, eptEPTP, 1)
	c := h.c
	ram := h.bus.ram
	put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	eptSecond(h)
	put(eptpList, eptEPTP)
	put(eptPTE(0x11000), 0x19000|7|eptWB)
	put(0x37000+8*0x11, 0x1A000|7|eptWB) // the second EPTP's PTE for 0x11000
	vmwriteAll(t, h, map[uint64]uint64{0x2018: 1, 0x2024: eptpList})
	// Under the first EPTP: inc esi; mov ecx, 1; xor eax, eax; vmfunc
	// (to the second); at 0BH jmp 11000H.
	copy(ram[0x19000:], []byte{0x46, 0xB9, 1, 0, 0, 0, 0x31, 0xC0, 0x0F, 0x01, 0xD4, 0xEB, 0xF3})
	// Under the second: inc ebp; xor ecx, ecx; xor eax, eax; vmfunc (to
	// the first: 11008H there is the first page's vmfunc, with ECX = 0,
	// then its jmp); at 0BH jmp 11000H.
	copy(ram[0x1A000:], []byte{0x45, 0x31, 0xC9, 0x31, 0xC0, 0x0F, 0x01, 0xD4, 0x90, 0x90, 0x90, 0xEB, 0xF3})
	exits := exitRecorder(c)
	c.Run(1) // VMLAUNCH
	require.True(t, c.vmx.Guest())
	c.Run(3 * 11) // three loops of 11 instructions
	require.Empty(t, *exits, "no VM exit")
	assert.Equal(t, uint64(3), c.GPR[6], "ESI: the first EPTP's block ran 3 times")
	assert.Equal(t, uint64(3), c.GPR[5], "EBP: the second EPTP's block ran 3 times")
	assert.Equal(t, uint64(eptEPTP), vmcsField(t, c, 0x201A), "back under the first EPTP")
}

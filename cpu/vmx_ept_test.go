package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/ept"
	"github.com/vmxemu/vmxemu/vmx"
)

// EPT and VPID in the core: guests under an EPT hierarchy built in the
// harness's RAM, their violations and misconfigurations with the exit
// information of SDM Vol. 3C 28.2.1 (Table 28-7), and stale translations
// that only INVEPT or INVVPID remove (29.4.3).

// The EPT hierarchy: PML4 at 0x30000, PDPT 0x31000, PD 0x32000, one PT at
// 0x33000 for guest-physical 0-2 MiB (4-KiB pages, identity, RWX, WB) and
// a 2-MiB page for 2-4 MiB.
const (
	eptPML4 = 0x30000
	eptPDPT = 0x31000
	eptPD   = 0x32000
	eptPT   = 0x33000
	eptWB   = 6 << 3
	eptEPTP = eptPML4 | 3<<3 | 6 // WB, 4-level
	invDesc = 0x5100             // INVEPT/INVVPID descriptors
)

// eptHarness is vmxHarnessModel (the guest-visible VMX capabilities,
// which include EPT and VPID), guestVMCS, and the secondary controls sec
// with the EPTP and VPID given.
func eptHarness(t *testing.T, model string, sec uint64, eptp uint64, vpid uint64) *harness {
	t.Helper()
	h := vmxHarnessModel(t, model)
	guestVMCS(t, h)
	ram := h.bus.ram
	put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	put(eptPML4, eptPDPT|7)
	put(eptPDPT, eptPD|7)
	put(eptPD, eptPT|7)
	put(eptPD+8, 2<<20|1<<7|7|eptWB)
	for i := uint64(0); i < 512; i++ {
		put(eptPT+8*i, i<<12|7|eptWB)
	}
	for enc, val := range map[uint64]uint64{0x4002: 0x04006172 | 1<<31, 0x401E: sec, 0x201A: eptp, 0x0000: vpid} {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	ram[0x12000] = 0xF4                               // host RIP: HLT
	binary.LittleEndian.PutUint32(ram[0x15000:], 0x1111)
	binary.LittleEndian.PutUint32(ram[0x17000:], 0x2222)
	return h
}

// eptPTE returns the address of the EPT PTE for guest-physical gpa (< 2 MiB).
func eptPTE(gpa uint64) uint64 { return eptPT + 8*(gpa>>12) }

// exitRecorder collects VM-exit reasons.
func exitRecorder(c *CPU) *[]uint32 {
	var exits []uint32
	c.Hooks = &Hooks{VMExit: func(_ *CPU, reason uint32, _ vmx.ExitInfo) { exits = append(exits, reason) }}
	return &exits
}

// TestEPTGuestRuns: under an identity EPT the guest of guestVMCS runs as
// without it (its code, stack, page directory at guest-physical
// addresses) and its CPUID exits.
func TestEPTGuestRuns(t *testing.T) {
	h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	c := h.c
	copy(h.bus.ram[0x11000:], []byte{0x8B, 0x35, 0x00, 0x50, 0x01, 0x00, 0x0F, 0xA2}) // mov esi, [0x15000]; cpuid
	exits := exitRecorder(c)
	c.Run(3)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0x1111), c.GPR[6], "the guest read through EPT")
	assert.Equal(t, uint64(0x11006), vmcsField(t, c, 0x681E))
}

// TestEPTViolations: each refused access exits with reason 48, the exit
// qualification of SDM Vol. 3C Table 28-7, the guest-physical address
// (28.2.1) and the guest-linear address when bit 7 is set; the
// instruction does not retire (its RIP is saved), a refused fetch exits
// before the instruction.
func TestEPTViolations(t *testing.T) {
	const (
		rd, wr, fx       = 1 << 0, 1 << 1, 1 << 2
		pr, pw, px       = 1 << 3, 1 << 4, 1 << 5
		linValid, linTra = 1 << 7, 1 << 8
	)
	for _, tc := range []struct {
		name   string
		code   []byte
		gpa    uint64 // page whose EPT PTE is set to pte
		pte    uint64
		reason uint64
		qual   uint64
		phys   uint64
		lin    uint64
		rip    uint64
	}{
		{"write to a read-only page", []byte{0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0}, // mov dword [0x15010], 1
			0x15000, 0x15000 | 1 | eptWB, 48, wr | pr | linValid | linTra, 0x15010, 0x15010, 0x11000},
		{"read of a not-present page", []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00}, // mov esi, [0x15008]
			0x15000, 0, 48, rd | linValid | linTra, 0x15008, 0x15008, 0x11000},
		{"read of an execute-only page", []byte{0x90, 0x8B, 0x35, 0x08, 0x50, 0x01, 0x00}, // nop; mov esi, [0x15008]
			0x15000, 0x15000 | 4 | eptWB, 48, rd | px | linValid | linTra, 0x15008, 0x15008, 0x11001},
		{"fetch from a read/write page", []byte{0xE9, 0xFB, 0x4F, 0x00, 0x00}, // jmp 0x16000
			0x16000, 0x16000 | 3 | eptWB, 48, fx | pr | pw | linValid | linTra, 0x16000, 0x16000, 0x16000},
		{"guest page directory not present", []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00}, // the first fetch walks the PD at 0x3000
			0x3000, 0, 48, rd | linValid, 0x3000, 0x11000, 0x11000},
		{"write-only entry: misconfiguration", []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00},
			0x15000, 0x15000 | 2 | eptWB, 49, 0, 0x15008, 0, 0x11000},
		{"memory type 2: misconfiguration", []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00},
			0x15000, 0x15000 | 7 | 2<<3, 49, 0, 0x15008, 0, 0x11000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
			c := h.c
			copy(h.bus.ram[0x11000:], tc.code)
			binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(tc.gpa):], tc.pte)
			exits := exitRecorder(c)
			c.Run(4) // VMLAUNCH, (nop/jmp), the exit, the host's HLT
			require.Equal(t, []uint32{uint32(tc.reason)}, *exits)
			assert.False(t, c.vmx.Guest())
			assert.Equal(t, uint64(0x12001), c.RIP, "host RIP, its HLT retired")
			assert.Equal(t, tc.reason, vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, tc.phys, vmcsField(t, c, 0x2400), "guest-physical address")
			if tc.reason == 48 {
				assert.Equal(t, tc.lin, vmcsField(t, c, 0x640A), "guest-linear address")
			}
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.NotEmpty(t, c.EPTExitWhy())
			if tc.name == "write to a read-only page" {
				assert.Equal(t, uint32(0), binary.LittleEndian.Uint32(h.bus.ram[0x15010:]), "the store was not performed")
			}
		})
	}
}

// TestEPTAdvancedExitInfo: with IA32_VMX_EPT_VPID_CAP bit 22 (Skylake SP)
// an EPT violation on the translation of a linear address reports the
// guest translation's rights in bits 9-11 (SDM Vol. 3C Table 28-7): the
// guest's 4-MiB page is user-mode (U/S=1) and read/write, not
// execute-disable (32-bit paging has no XD); a paging-structure access
// reports none.
func TestEPTAdvancedExitInfo(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1, eptEPTP, 0)
	c := h.c
	copy(h.bus.ram[0x11000:], []byte{0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0}) // mov dword [0x15010], 1
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], 0x15000|1|eptWB)
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{48}, *exits)
	assert.Equal(t, uint64(1<<1|1<<3|1<<7|1<<8|1<<9|1<<10), vmcsField(t, c, 0x6400))

	// A supervisor, read-only guest page: bits 9 and 10 clear.
	h = eptHarness(t, "skylake-sp", 1<<1, eptEPTP, 0)
	c = h.c
	binary.LittleEndian.PutUint32(h.bus.ram[0x3000:], 0xE7&^6)            // PDE 0: P A D PS, supervisor, read-only
	copy(h.bus.ram[0x11000:], []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00}) // mov esi, [0x15008]
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], 0)
	exits = exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{48}, *exits)
	assert.Equal(t, uint64(1|1<<7|1<<8), vmcsField(t, c, 0x6400))

	// The guest's page directory not mapped: a paging-structure access.
	h = eptHarness(t, "skylake-sp", 1<<1, eptEPTP, 0)
	c = h.c
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x3000):], 0)
	exits = exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{48}, *exits)
	assert.Equal(t, uint64(1|1<<7), vmcsField(t, c, 0x6400))
}

// TestEPTAccessedDirty: with EPTP bit 6 (Skylake SP allows it:
// IA32_VMX_EPT_VPID_CAP bit 21) the walk sets the accessed flag of every
// EPT entry used and the dirty flag of the leaf of a write; the guest's
// paging-structure accesses count as writes (SDM Vol. 3C 29.3.5).
func TestEPTAccessedDirty(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1, eptEPTP|1<<6, 0)
	c := h.c
	copy(h.bus.ram[0x11000:], []byte{0x8B, 0x35, 0x00, 0x50, 0x01, 0x00, 0x89, 0x35, 0x00, 0x60, 0x01, 0x00, 0x0F, 0xA2}) // mov esi,[0x15000]; mov [0x16000],esi; cpuid
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{10}, *exits)
	get := func(a uint64) uint64 { return binary.LittleEndian.Uint64(h.bus.ram[a:]) }
	const a, d = 1 << 8, 1 << 9
	for _, e := range []uint64{eptPML4, eptPDPT, eptPD} {
		assert.Equal(t, uint64(a), get(e)&(a|d), "A on the upper levels at %#x", e)
	}
	assert.Equal(t, uint64(a), get(eptPTE(0x15000))&(a|d), "read: accessed")
	assert.Equal(t, uint64(a|d), get(eptPTE(0x16000))&(a|d), "write: accessed and dirty")
	assert.Equal(t, uint64(a|d), get(eptPTE(0x3000))&(a|d), "guest page directory: a write for EPT A/D")
	assert.Equal(t, uint64(a), get(eptPTE(0x11000))&(a|d), "code: accessed")
}

// staleRun runs the guest mov esi,[lin]; cpuid; mov edi,[lin]; cpuid;
// mov ebp,[lin]; hlt. Between the exits it calls change (after the first)
// and runs host code (after the second): host1 then VMRESUME.
func staleRun(t *testing.T, h *harness, lin uint32, change func(), host2 []byte) (esi, edi, ebp uint64) {
	t.Helper()
	c := h.c
	code := []byte{}
	for _, op := range []byte{0x35, 0x3D, 0x2D} { // esi, edi, ebp
		code = append(code, 0x8B, op, byte(lin), byte(lin>>8), byte(lin>>16), byte(lin>>24), 0x0F, 0xA2)
	}
	code[len(code)-2], code[len(code)-1] = 0xF4, 0x90 // the last cpuid: hlt
	copy(h.bus.ram[0x11000:], code)
	copy(h.bus.ram[0x12100:], []byte{0x0F, 0x01, 0xC3}) // VMRESUME
	copy(h.bus.ram[0x12200:], append(append([]byte{}, host2...), 0x0F, 0x01, 0xC3))
	exits := exitRecorder(c)
	c.Run(4) // VMLAUNCH, mov, cpuid (exit), the host's HLT
	require.Equal(t, []uint32{10}, *exits)
	change()
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x681E, 0x11008, true).Kind)
	c.RIP, c.halted = 0x12100, false
	c.Run(4) // VMRESUME, mov, cpuid (exit), HLT
	require.Equal(t, []uint32{10, 10}, *exits)
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x681E, 0x11010, true).Kind)
	c.RIP, c.halted = 0x12200, false
	c.Run(8) // host2, VMRESUME, mov, hlt
	require.Equal(t, []uint32{10, 10}, *exits)
	require.True(t, c.vmx.Guest())
	return c.GPR[6], c.GPR[7], c.GPR[5]
}

// TestStaleEPTUntilINVEPT: with a VPID, combined mappings survive VM exits
// and entries (SDM Vol. 3C 29.4.3.1): a remapped EPT PTE is not seen
// until INVEPT single-context (type 1, descriptor = EPTP) invalidates the
// EP4TA's mappings; without a VPID the next VM entry already does.
func TestStaleEPTUntilINVEPT(t *testing.T) {
	invept := []byte{0xB8, 1, 0, 0, 0, 0xBB, 0x00, 0x51, 0, 0, 0x66, 0x0F, 0x38, 0x80, 0x03} // mov eax,1; mov ebx,invDesc; invept eax,[ebx]
	remap := func(h *harness) func() {
		return func() { binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], 0x17000|7|eptWB) }
	}
	h := eptHarness(t, "sandybridge-ep", 1<<1|1<<5, eptEPTP, 1)
	binary.LittleEndian.PutUint64(h.bus.ram[invDesc:], eptEPTP)
	esi, edi, ebp := staleRun(t, h, 0x15000, remap(h), invept)
	assert.Equal(t, uint64(0x1111), esi)
	assert.Equal(t, uint64(0x1111), edi, "stale: no INVEPT yet")
	assert.Equal(t, uint64(0x2222), ebp, "after INVEPT single-context")
	assert.Zero(t, h.c.Flags()&1, "INVEPT: VMsucceed")

	h = eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	binary.LittleEndian.PutUint64(h.bus.ram[invDesc:], eptEPTP)
	_, edi, _ = staleRun(t, h, 0x15000, remap(h), invept)
	assert.Equal(t, uint64(0x2222), edi, "without VPID, VM exit and entry invalidate VPID 0000H's mappings")

	// INVEPT of another EPTP leaves them; all-context removes them.
	h = eptHarness(t, "sandybridge-ep", 1<<1|1<<5, eptEPTP, 1)
	binary.LittleEndian.PutUint64(h.bus.ram[invDesc:], 0x40000|3<<3|6)
	_, _, ebp = staleRun(t, h, 0x15000, remap(h), invept)
	assert.Equal(t, uint64(0x1111), ebp, "INVEPT of another EP4TA")
	h = eptHarness(t, "sandybridge-ep", 1<<1|1<<5, eptEPTP, 1)
	allCtx := append([]byte{}, invept...)
	allCtx[1] = 2
	_, _, ebp = staleRun(t, h, 0x15000, remap(h), allCtx)
	assert.Equal(t, uint64(0x2222), ebp, "INVEPT all-context")
}

// TestStaleVPIDUntilINVVPID: with a VPID and no EPT, a guest PTE the host
// changes is not seen until INVVPID (individual-address for the page, or
// single-context) removes the stale linear mapping; INVVPID of another
// VPID does not.
func TestStaleVPIDUntilINVVPID(t *testing.T) {
	const lin = 0x415000 // PDE 1 → PT at 0x6000, PTE 0x15 → 0x15000
	setup := func() *harness {
		h := eptHarness(t, "sandybridge-ep", 1<<5, 0, 1)
		binary.LittleEndian.PutUint32(h.bus.ram[0x3004:], 0x6000|7)
		binary.LittleEndian.PutUint32(h.bus.ram[0x6000+0x15*4:], 0x15000|7)
		return h
	}
	change := func(h *harness) func() {
		return func() { binary.LittleEndian.PutUint32(h.bus.ram[0x6000+0x15*4:], 0x17000|7) }
	}
	invvpid := func(typ byte, vpid uint16) []byte {
		return []byte{0xB8, typ, 0, 0, 0, 0xBB, 0x00, 0x51, 0, 0, 0x66, 0x0F, 0x38, 0x81, 0x03}
	}
	for _, tc := range []struct {
		name string
		typ  byte
		vpid uint64
		want uint64
	}{
		{"individual address", 0, 1, 0x2222},
		{"single context", 1, 1, 0x2222},
		{"all contexts", 2, 7, 0x2222},
		{"single context, other VPID", 1, 2, 0x1111},
		{"individual address, other VPID", 0, 2, 0x1111},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := setup()
			binary.LittleEndian.PutUint64(h.bus.ram[invDesc:], tc.vpid)
			binary.LittleEndian.PutUint64(h.bus.ram[invDesc+8:], lin)
			esi, edi, ebp := staleRun(t, h, lin, change(h), invvpid(tc.typ, uint16(tc.vpid)))
			assert.Equal(t, uint64(0x1111), esi)
			assert.Equal(t, uint64(0x1111), edi, "stale")
			assert.Equal(t, tc.want, ebp)
		})
	}
	h := eptHarness(t, "sandybridge-ep", 0, 0, 0)
	binary.LittleEndian.PutUint32(h.bus.ram[0x3004:], 0x6000|7)
	binary.LittleEndian.PutUint32(h.bus.ram[0x6000+0x15*4:], 0x15000|7)
	_, edi, _ := staleRun(t, h, lin, change(h), nil)
	assert.Equal(t, uint64(0x2222), edi, "no VPID: VM exit and entry flush")
}

// TestINVEPTINVVPIDFailures: the outcomes of INVEPT and INVVPID in the
// core (SDM Vol. 3C 31.3): an unsupported type is VMfailValid(28) before
// the descriptor is read; an invalid descriptor too; in the guest each
// exits (reasons 50 and 53).
func TestINVEPTINVVPIDFailures(t *testing.T) {
	h := eptHarness(t, "sandybridge-ep", 0, 0, 0)
	c := h.c
	// invept eax,[ebx] with eax=3 and ebx beyond RAM: VMfail, no #PF.
	copy(h.bus.ram[harnessCode:], []byte{0xB8, 3, 0, 0, 0, 0xBB, 0, 0, 0, 0xF0, 0x66, 0x0F, 0x38, 0x80, 0x03, 0xF4})
	c.Run(4)
	assert.NotZero(t, c.Flags()&(1<<6), "ZF: VMfailValid")
	assert.Equal(t, uint64(28), vmcsField(t, c, 0x4400))
	// invvpid type 1 with VPID 0.
	h = eptHarness(t, "sandybridge-ep", 0, 0, 0)
	c = h.c
	copy(h.bus.ram[harnessCode:], []byte{0xB8, 1, 0, 0, 0, 0xBB, 0x00, 0x51, 0, 0, 0x66, 0x0F, 0x38, 0x81, 0x03, 0xF4})
	c.Run(4)
	assert.NotZero(t, c.Flags()&(1<<6), "ZF: VMfailValid")
	assert.Equal(t, uint64(28), vmcsField(t, c, 0x4400))
	// In the guest: exits.
	for _, op := range []byte{0x80, 0x81} {
		h = eptHarness(t, "sandybridge-ep", 0, 0, 0)
		c = h.c
		copy(h.bus.ram[0x11000:], []byte{0x66, 0x0F, 0x38, op, 0x03})
		exits := exitRecorder(c)
		c.Run(2)
		want := uint32(50)
		if op == 0x81 {
			want = 53
		}
		assert.Equal(t, []uint32{want}, *exits)
		assert.Equal(t, uint64(5), vmcsField(t, c, 0x440C), "instruction length")
	}
}

// TestExplainEPT: the debugger's view of a guest's EPT walk.
func TestExplainEPT(t *testing.T) {
	h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	c := h.c
	_, _, ok := c.ExplainEPT(0x15000, ept.Access{})
	assert.False(t, ok, "not in a guest")
	copy(h.bus.ram[0x11000:], []byte{0xF4}) // hlt
	c.Run(2)
	require.True(t, c.vmx.Guest())
	steps, r, ok := c.ExplainEPT(0x15123, ept.Access{})
	require.True(t, ok)
	assert.Equal(t, ept.OK, r.Kind)
	assert.Equal(t, uint64(0x15123), r.HPA)
	require.Len(t, steps, 4)
	assert.Equal(t, uint64(eptPTE(0x15000)), steps[3].Addr)
}

// TestEPTViolationDuringDelivery: the guest's UD2 raises #UD, whose IDT
// entry sits on a page the EPT does not map: the EPT violation during
// event delivery exits with the guest RIP of the faulting instruction
// (SDM Vol. 3C 28.3: where delivery would have started), a data-read
// qualification with a valid guest-linear address (the IDT is accessed
// by linear address), and the host then runs normally.
func TestEPTViolationDuringDelivery(t *testing.T) {
	h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	c := h.c
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x6818, 0x18000, true).Kind) // guest IDTR base
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x4812, 0xFFF, true).Kind)   // guest IDTR limit
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x18000):], 0)
	copy(h.bus.ram[0x11000:], []byte{0x90, 0x0F, 0x0B}) // nop; ud2
	copy(h.bus.ram[0x12000:], []byte{0x90, 0x90, 0xF4}) // the host: nop; nop; hlt
	exits := exitRecorder(c)
	c.Run(10)
	require.Equal(t, []uint32{48}, *exits)
	assert.Equal(t, uint64(0x11001), vmcsField(t, c, 0x681E), "guest RIP: the UD2")
	assert.Equal(t, uint64(1|1<<7|1<<8), vmcsField(t, c, 0x6400), "data read, guest-linear valid, a linear translation")
	assert.Equal(t, uint64(0x18000+6*8), vmcsField(t, c, 0x2400), "guest-physical: the #UD gate")
	assert.Equal(t, uint64(0x18000+6*8), vmcsField(t, c, 0x640A))
	assert.Equal(t, uint64(0x12003), c.RIP, "the host ran to its HLT")
	assert.True(t, c.Halted())
	assert.False(t, c.exitPending)
}

// paeGuest turns h's guest into a 32-bit PAE guest: CR3 0x7000 (PDPT),
// PD at 0x8000 (and a copy at 0x9000) with two 2-MiB identity pages; the
// PDPT in memory holds mem0 as PDPTE0, the VMCS field field0.
func paeGuest(t *testing.T, h *harness, mem0, field0 uint64) {
	t.Helper()
	ram := h.bus.ram
	for _, pd := range []uint64{0x8000, 0x9000} {
		binary.LittleEndian.PutUint64(ram[pd:], 0|0x83)
		binary.LittleEndian.PutUint64(ram[pd+8:], 2<<20|0x83)
	}
	binary.LittleEndian.PutUint64(ram[0x7000:], mem0)
	for enc, val := range map[uint64]uint64{0x6804: 0x2020, 0x6802: 0x7000, 0x280A: field0} {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
}

// TestEPTGuestPDPTEs: under EPT a PAE guest's PDPTEs come from the VMCS at
// VM entry (SDM Vol. 3C 27.3.2.4) and go back to it at VM exit (28.3.4);
// MOV to CR3 loads them from guest-physical memory through EPT, a refusal
// being an EPT violation without a guest-linear address (Table 28-7 bit
// 7 clear).
func TestEPTGuestPDPTEs(t *testing.T) {
	cpuid := []byte{0x0F, 0xA2}
	movCR3 := []byte{0xB8, 0x00, 0x70, 0, 0, 0x0F, 0x22, 0xD8} // mov eax, 0x7000; mov cr3, eax

	// The memory PDPTE is not present; the VMCS's is: the guest runs.
	h := eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	paeGuest(t, h, 0, 0x8001)
	copy(h.bus.ram[0x11000:], cpuid)
	exits := exitRecorder(h.c)
	h.c.Run(4)
	require.Equal(t, []uint32{10}, *exits, "the guest ran on the VMCS's PDPTEs")
	assert.Equal(t, uint64(0x8001), vmcsField(t, h.c, 0x280A), "saved at the exit")

	// MOV CR3 reloads them from memory (through EPT); the exit saves them.
	h = eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	paeGuest(t, h, 0x9001, 0x8001)
	copy(h.bus.ram[0x11000:], append(append([]byte{}, movCR3...), cpuid...))
	exits = exitRecorder(h.c)
	h.c.Run(6)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0x9001), vmcsField(t, h.c, 0x280A), "the PDPTE MOV CR3 loaded")

	// The PDPT's page is not mapped by the EPT: MOV CR3 exits.
	h = eptHarness(t, "sandybridge-ep", 1<<1, eptEPTP, 0)
	paeGuest(t, h, 0x8001, 0x8001)
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x7000):], 0)
	copy(h.bus.ram[0x11000:], append(append([]byte{}, movCR3...), cpuid...))
	exits = exitRecorder(h.c)
	h.c.Run(6)
	require.Equal(t, []uint32{48}, *exits)
	assert.Equal(t, uint64(1), vmcsField(t, h.c, 0x6400), "a read, no guest-linear address, nothing allowed")
	assert.Equal(t, uint64(0x7000), vmcsField(t, h.c, 0x2400))
	assert.Equal(t, uint64(0x11005), vmcsField(t, h.c, 0x681E), "guest RIP: the MOV CR3")
	assert.Equal(t, uint64(0x7000), vmcsField(t, h.c, 0x6802), "guest CR3")
}

package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
	"github.com/vmxemu/vmxemu/vmx"
)

// The optional EPT features in a running guest (eptHarness: identity EPT,
// the guest of guestVMCS with 32-bit paging through a 4-MiB page whose
// directory is at guest-physical 0x3000).

const (
	pmlLog   = 0x40000 // the page-modification log
	eptpList = 0x41000 // the EPTP list
	veArea   = 0x4A000 // the virtualization-exception information area
)

func vmwriteAll(t *testing.T, h *harness, fields map[uint64]uint64) {
	t.Helper()
	for enc, val := range fields {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
}

// TestPMLGuest: with "enable PML" and EPT A/D flags each access that sets
// an EPT dirty flag logs its 4-KiB guest-physical page at PML address +
// 8 × index and decrements the index (SDM Vol. 3C 29.3.6): first the
// guest page directory (a guest paging-structure access is a write for
// EPT A/D, 29.3.5), then the written page; with the index at FFFFH the
// next access that would set a flag is a page-modification log-full VM
// exit (reason 62) before the write, with no flag set.
func TestPMLGuest(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<17, eptEPTP|1<<6, 0)
	c := h.c
	vmwriteAll(t, h, map[uint64]uint64{0x200E: pmlLog, 0x0812: 1})
	copy(h.bus.ram[0x11000:], []byte{
		0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0, // mov dword [0x15010], 1
		0xC7, 0x05, 0x00, 0x70, 0x01, 0x00, 2, 0, 0, 0, // mov dword [0x17000], 2
		0x0F, 0xA2, // cpuid
	})
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{vmx.ExitPMLFull}, *exits)
	get := func(a uint64) uint64 { return binary.LittleEndian.Uint64(h.bus.ram[a:]) }
	assert.Equal(t, uint64(0x3000), get(pmlLog+8), "index 1: the guest page directory")
	assert.Equal(t, uint64(0x15000), get(pmlLog), "index 0: the first write, bits 11:0 clear")
	assert.Equal(t, uint64(0xFFFF), vmcsField(t, c, 0x0812), "the index wrapped")
	assert.Equal(t, uint64(0x1100A), vmcsField(t, c, 0x681E), "the second write did not retire")
	assert.Equal(t, uint64(0), vmcsField(t, c, 0x6400), "qualification: no NMI unblocking")
	assert.Equal(t, uint32(0x2222), binary.LittleEndian.Uint32(h.bus.ram[0x17000:]), "the access did not occur")
	assert.Zero(t, get(eptPTE(0x17000))&(1<<8|1<<9), "no flag set")
	assert.Equal(t, uint32(1), binary.LittleEndian.Uint32(h.bus.ram[0x15010:]))
}

// TestPMLWithoutAD: without EPTP bit 6 no flag is set, nothing is logged
// and a full log never stops the guest (29.3.6 needs EPT A/D flags).
func TestPMLWithoutAD(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<17, eptEPTP, 0)
	c := h.c
	vmwriteAll(t, h, map[uint64]uint64{0x200E: pmlLog, 0x0812: 0xFFFF})
	copy(h.bus.ram[0x11000:], []byte{0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0, 0x0F, 0xA2})
	exits := exitRecorder(c)
	c.Run(4)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0xFFFF), vmcsField(t, c, 0x0812))
}

// eptSecond builds a second EPT hierarchy (PML4 0x34000 … PT 0x37000),
// identity but for guest-physical 0x15000, which maps host-physical
// 0x17000, and puts its EPTP at index 1 of the EPTP list.
func eptSecond(h *harness) uint64 {
	ram := h.bus.ram
	put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	put(0x34000, 0x35000|7)
	put(0x35000, 0x36000|7)
	put(0x36000, 0x37000|7)
	put(0x36000+8, 2<<20|1<<7|7|eptWB)
	for i := uint64(0); i < 512; i++ {
		put(0x37000+8*i, i<<12|7|eptWB)
	}
	put(0x37000+8*0x15, 0x17000|7|eptWB)
	const second = 0x34000 | 3<<3 | 6
	put(eptpList+8, second)
	put(eptpList+16, 0x34000|3<<3|5) // memory type 5: not a valid EPTP
	return second
}

// TestVMFUNCEPTPSwitch: VMFUNC with EAX = 0 (EPTP switching) and ECX = 1
// loads EPTP-list entry 1 into the EPTP field and ECX into the EPTP index, and
// later accesses translate through it (SDM Vol. 3C 26.5.5.3): the same
// guest-physical address now reads another host page.
func TestVMFUNCEPTPSwitch(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<13|1<<18, eptEPTP, 0)
	c := h.c
	second := eptSecond(h)
	vmwriteAll(t, h, map[uint64]uint64{0x2018: 1, 0x2024: eptpList, 0x202A: veArea})
	copy(h.bus.ram[0x11000:], []byte{
		0x8B, 0x35, 0x00, 0x50, 0x01, 0x00, // mov esi, [0x15000]
		0xB8, 0, 0, 0, 0, // mov eax, 0
		0xB9, 1, 0, 0, 0, // mov ecx, 1
		0x0F, 0x01, 0xD4, // vmfunc
		0x8B, 0x3D, 0x00, 0x50, 0x01, 0x00, // mov edi, [0x15000]
		0x0F, 0xA2, // cpuid
	})
	exits := exitRecorder(c)
	var events []EPTEvent
	c.Hooks.EPT = func(_ *CPU, e EPTEvent) { events = append(events, e) }
	c.Run(8)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0x1111), c.GPR[6], "before the switch")
	assert.Equal(t, uint64(0x2222), c.GPR[7], "after the switch: guest-physical 0x15000 is host 0x17000")
	assert.Equal(t, uint64(second), vmcsField(t, c, 0x201A), "the EPTP field")
	assert.Equal(t, uint64(1), vmcsField(t, c, 0x0004), "the EPTP index (the processor allows \"EPT-violation #VE\")")
	require.Len(t, events, 1)
	assert.Equal(t, EPTEventVMFUNC, events[0].Kind)
	assert.Equal(t, uint64(second), events[0].EPTP)
}

// TestVMFUNCExits: VMFUNC exits with reason 59 when the function is not
// enabled, ECX >= 512, or the list entry is not a valid EPTP — RIP at
// VMFUNC, instruction length 3, the EPTP unchanged (26.5.5.3); it is #UD
// without "enable VM functions" (Vol. 2B VMFUNC), here a VM exit through
// exception-bitmap bit 6.
func TestVMFUNCExits(t *testing.T) {
	for _, tc := range []struct {
		name     string
		sec      uint64
		eax, ecx byte
		reason   uint32
	}{
		{"ECX 512", 1<<1 | 1<<13, 0, 0, vmx.ExitVMFUNC}, // ecx patched to 512 below
		{"invalid EPTP at index 2", 1<<1 | 1<<13, 0, 2, vmx.ExitVMFUNC},
		{"function 1 not enabled", 1<<1 | 1<<13, 1, 1, vmx.ExitVMFUNC},
		{"VM functions off: #UD", 1 << 1, 0, 1, vmx.ExitExceptionNMI},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "skylake-sp", tc.sec, eptEPTP, 0)
			c := h.c
			eptSecond(h)
			f := map[uint64]uint64{0x4004: 1 << 6}
			if tc.sec&(1<<13) != 0 {
				f[0x2018], f[0x2024] = 1, eptpList
			}
			vmwriteAll(t, h, f)
			code := []byte{0xB8, tc.eax, 0, 0, 0, 0xB9, tc.ecx, 0, 0, 0, 0x0F, 0x01, 0xD4, 0x0F, 0xA2}
			if tc.name == "ECX 512" {
				code[7] = 2 // ecx = 0x200
			}
			copy(h.bus.ram[0x11000:], code)
			exits := exitRecorder(c)
			c.Run(5)
			require.Equal(t, []uint32{tc.reason}, *exits)
			assert.Equal(t, uint64(0x1100A), vmcsField(t, c, 0x681E), "RIP of VMFUNC")
			assert.Equal(t, uint64(eptEPTP), vmcsField(t, c, 0x201A), "EPTP unchanged")
			if tc.reason == vmx.ExitVMFUNC {
				assert.Equal(t, uint64(3), vmcsField(t, c, 0x440C), "instruction length")
			} else {
				assert.Equal(t, uint64(0x80000306), vmcsField(t, c, 0x4404), "#UD: hardware exception 6")
			}
		})
	}
}

// TestEPTViolationVE: with "EPT-violation #VE" a convertible EPT
// violation (the leaf's suppress-#VE bit 63 clear) in a protected-mode
// guest becomes a virtualization exception — vector 20, a fault: here a
// VM exit through exception-bitmap bit 20 with RIP at the instruction —
// after the information area is written (SDM Vol. 3C 26.5.6); with bit
// 63 set, or with the semaphore at offset 4 already set, it is an EPT
// violation VM exit (reason 48) and the area is left alone.
func TestEPTViolationVE(t *testing.T) {
	for _, tc := range []struct {
		name     string
		suppress bool
		sem      uint32
		reason   uint32
	}{
		{"convertible", false, 0, vmx.ExitExceptionNMI},
		{"suppress #VE", true, 0, vmx.ExitEPTViolate},
		{"semaphore set", false, 0xFFFFFFFF, vmx.ExitEPTViolate},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "skylake-sp", 1<<1|1<<18, eptEPTP, 0)
			c := h.c
			vmwriteAll(t, h, map[uint64]uint64{0x202A: veArea, 0x0004: 5, 0x4004: 1 << 20})
			ram := h.bus.ram
			pte := uint64(0x15000 | 1 | eptWB) // read-only
			if tc.suppress {
				pte |= 1 << 63
			}
			binary.LittleEndian.PutUint64(ram[eptPTE(0x15000):], pte)
			binary.LittleEndian.PutUint32(ram[veArea+4:], tc.sem)
			copy(ram[0x11000:], []byte{0x90, 0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0}) // nop; mov dword [0x15010], 1
			exits := exitRecorder(c)
			var events []EPTEvent
			c.Hooks.EPT = func(_ *CPU, e EPTEvent) { events = append(events, e) }
			c.Run(3)
			require.Equal(t, []uint32{tc.reason}, *exits)
			assert.Equal(t, uint64(0x11001), vmcsField(t, c, 0x681E), "RIP of the write")
			const qual = 1<<1 | 1<<3 | 1<<7 | 1<<8 | 1<<9 | 1<<10 // write; readable; linear valid, translation; user, read/write (advanced information)
			if tc.reason == vmx.ExitEPTViolate {
				assert.Equal(t, uint64(qual), vmcsField(t, c, 0x6400))
				assert.Equal(t, tc.sem, binary.LittleEndian.Uint32(ram[veArea+4:]))
				assert.Zero(t, binary.LittleEndian.Uint32(ram[veArea:]), "area not written")
				assert.Empty(t, events)
				return
			}
			assert.Equal(t, uint64(0x80000314), vmcsField(t, c, 0x4404), "hardware exception 20, no error code")
			le64 := func(o uint64) uint64 { return binary.LittleEndian.Uint64(ram[veArea+o:]) }
			assert.Equal(t, uint32(48), binary.LittleEndian.Uint32(ram[veArea:]), "exit reason")
			assert.Equal(t, uint32(0xFFFFFFFF), binary.LittleEndian.Uint32(ram[veArea+4:]), "semaphore")
			assert.Equal(t, uint64(qual), le64(8), "exit qualification")
			assert.Equal(t, uint64(0x15010), le64(16), "guest-linear address")
			assert.Equal(t, uint64(0x15010), le64(24), "guest-physical address")
			assert.Equal(t, uint16(5), binary.LittleEndian.Uint16(ram[veArea+32:]), "EPTP index")
			assert.Zero(t, binary.LittleEndian.Uint32(ram[0x15010:]), "the write did not occur")
			require.Len(t, events, 1)
			assert.Equal(t, EPTEventVE, events[0].Kind)
		})
	}
}

// TestMBECGuest: under mode-based execute control a fetch from a
// user-mode linear address (the guest's 4-MiB page has U/S = 1) needs bit
// 10 (XU) in every EPT entry of the path, whatever the CPL; bit 2 (XS)
// does not allow it (SDM Vol. 3C 29.3.3.2); exit qualification bit 5 is
// the AND of bit 2, bit 6 the AND of bit 10 (Table 28-7). Without the
// control bit 10 is ignored.
func TestMBECGuest(t *testing.T) {
	const xu = 1 << 10
	for _, tc := range []struct {
		name   string
		sec    uint64
		code   uint64 // EPT PTE bits 2:0 and 10 of the code page
		reason uint32
		qual   uint64
	}{
		{"XU: user-mode code runs", 1<<1 | 1<<22, 1 | xu, 10, 0},
		{"XS only: violation", 1<<1 | 1<<22, 1 | 4, 48, 1<<2 | 1<<3 | 1<<5 | 1<<7 | 1<<8 | 1<<9 | 1<<10},
		{"XU only without MBEC: violation", 1 << 1, 1 | xu, 48, 1<<2 | 1<<3 | 1<<7 | 1<<8 | 1<<9 | 1<<10},
		{"XS without MBEC runs", 1 << 1, 1 | 4, 10, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "skylake-sp", tc.sec, eptEPTP, 0)
			c := h.c
			ram := h.bus.ram
			for _, a := range []uint64{eptPML4, eptPDPT, eptPD} {
				ram[a+1] |= xu >> 8
			}
			binary.LittleEndian.PutUint64(ram[eptPTE(0x11000):], 0x11000|tc.code|eptWB)
			copy(ram[0x11000:], []byte{0x0F, 0xA2}) // cpuid
			exits := exitRecorder(c)
			c.Run(3)
			require.Equal(t, []uint32{tc.reason}, *exits)
			if tc.reason == 48 {
				assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400))
				assert.Equal(t, uint64(0x11000), vmcsField(t, c, 0x2400))
			}
		})
	}
}

// TestExplainEPTFeatures: the walk explainer follows the controls of the
// guest it explains: mode-based execute control (a user-mode fetch needs
// bit 10, shown as "user-execute"), a full page-modification log (a walk
// that would set an EPT A/D flag is a log-full exit, reason 62) and
// EPT-violation #VE (a convertible violation says so), with no side
// effects.
func TestExplainEPTFeatures(t *testing.T) {
	const xu = 1 << 10
	h := eptHarness(t, "skylake-sp", 1<<1|1<<17|1<<18|1<<22, eptEPTP|1<<6, 0)
	c := h.c
	ram := h.bus.ram
	put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	for _, a := range []uint64{eptPML4, eptPDPT, eptPD} {
		put(a, binary.LittleEndian.Uint64(ram[a:])|xu)
	}
	for i := uint64(0); i < 512; i++ {
		put(eptPT+8*i, i<<12|7|xu|eptWB)
	}
	put(eptPTE(0x16000), 0x16000|1|xu|eptWB) // read-only
	put(eptPTE(0x17000), 0x17000|5|eptWB)    // read+execute, no user-execute
	vmwriteAll(t, h, map[uint64]uint64{0x200E: pmlLog, 0x0812: 511, 0x202A: veArea})
	ram[0x11000] = 0xF4 // hlt
	c.Run(2)
	require.True(t, c.vmx.Guest())
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x0812, 0xFFFF, true).Kind)
	ctx := c.CurrentWalkContext()
	assert.True(t, ctx.Controls.MBEC)
	assert.True(t, ctx.Controls.LogFull)
	assert.True(t, ctx.VE)
	before := append([]byte(nil), ram...)

	w := c.ExplainWalk(ctx, 0x15008, mmu.Access{Write: true})
	require.False(t, w.OK)
	assert.Contains(t, w.String(), "page-modification log full (VM exit, basic reason 62)")

	w = c.ExplainWalk(ctx, 0x11000, mmu.Access{Fetch: true})
	require.True(t, w.OK, "%s", w)
	assert.Contains(t, w.String(), "read+write+execute+user-execute")

	w = c.ExplainWalk(ctx, 0x17000, mmu.Access{Fetch: true})
	require.False(t, w.OK)
	s := w.String()
	assert.Contains(t, s, "EPT violation (VM exit, basic reason 48)")
	assert.Contains(t, s, "instruction fetch (user-mode linear address)")
	assert.Contains(t, s, "convertible: a #VE")
	assert.Equal(t, before, ram, "no side effects")

	put(eptPTE(0x16000), 0x16000|1|xu|eptWB|1<<63) // suppress #VE
	before = append([]byte(nil), ram...)
	w = c.ExplainWalk(ctx, 0x16000, mmu.Access{Write: true})
	s = w.String()
	assert.Contains(t, s, "suppress-#VE")
	assert.NotContains(t, s, "convertible")
	assert.Equal(t, before, ram, "no side effects")
}

// TestVENotInRealMode: a convertible EPT violation in a guest with CR0.PE
// = 0 (unrestricted guest) is an EPT-violation VM exit, not a #VE (SDM
// Vol. 3C 26.5.6.1), and the information area is left alone.
func TestVENotInRealMode(t *testing.T) {
	h := ugHarness(t, "skylake-sp", []byte{0xC7, 0x06, 0x10, 0x50, 0x01, 0x00, 0x0F, 0x01, 0xC1}) // mov word [0x5010], 1; vmcall
	c := h.c
	vmwriteAll(t, h, map[uint64]uint64{0x401E: ugSec | 1<<18, 0x202A: veArea, 0x4004: 1 << 20})
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x5000):], 0x5000|1|eptWB) // read-only
	exits := exitRecorder(c)
	c.Run(5)
	require.Equal(t, []uint32{vmx.ExitEPTViolate}, *exits)
	assert.Equal(t, uint64(0x5010), vmcsField(t, c, 0x2400))
	assert.Zero(t, binary.LittleEndian.Uint64(h.bus.ram[veArea:]), "no #VE information")
}

// TestEPTViolationNMIUnblocking: an EPT violation on the stack read of an
// IRET that removed blocking by NMI sets bit 12 of the exit qualification
// (SDM Vol. 3C 28.2.3, Table 28-7); the same read by another instruction
// does not.
func TestEPTViolationNMIUnblocking(t *testing.T) {
	for _, tc := range []struct {
		name string
		code []byte
		want uint64
	}{
		{"IRET", []byte{0xCF}, 1 << 12},
		{"POP", []byte{0x58}, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "skylake-sp", 1<<1, eptEPTP, 0)
			c := h.c
			vmwriteAll(t, h, map[uint64]uint64{0x4824: 1 << 3, 0x681C: 0x15100})
			binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], 0) // the stack page: not present
			copy(h.bus.ram[0x11000:], tc.code)
			exits := exitRecorder(c)
			c.Run(3)
			require.Equal(t, []uint32{vmx.ExitEPTViolate}, *exits)
			const rd = 1<<0 | 1<<7 | 1<<8 | 1<<9 | 1<<10 // read; linear valid, translation; user, read/write
			assert.Equal(t, uint64(rd)|tc.want, vmcsField(t, c, 0x6400))
		})
	}
}

// TestVEThroughGuestIDT: without exception-bitmap bit 20 the #VE is
// delivered through the guest's IDT (vector 20, a fault without error
// code: the frame's EIP is the faulting instruction's, SDM Vol. 3A 6.15
// "Interrupt 20"), and the handler finds the guest-physical address in
// the information area (Vol. 3C 26.5.6.2).
func TestVEThroughGuestIDT(t *testing.T) {
	h := eptHarness(t, "skylake-sp", 1<<1|1<<18, eptEPTP, 0)
	c := h.c
	const idt, handler = 0x6000, 0x11800
	const gdt = 0x6800
	vmwriteAll(t, h, map[uint64]uint64{0x202A: veArea, 0x6818: idt, 0x4812: 0xFF, 0x6816: gdt, 0x4810: 0x1F})
	ram := h.bus.ram
	binary.LittleEndian.PutUint64(ram[gdt+8:], 0x00CF9B000000FFFF)  // 08H: flat 32-bit code
	binary.LittleEndian.PutUint64(ram[gdt+16:], 0x00CF93000000FFFF) // 10H: flat data
	// IDT entry 20: a 32-bit interrupt gate, CS 08H, DPL 0, present.
	binary.LittleEndian.PutUint64(ram[idt+8*arch.VecVE:], handler&0xFFFF|0x08<<16|0x8E00<<32|handler>>16<<48)
	binary.LittleEndian.PutUint64(ram[eptPTE(0x15000):], 0x15000|1|eptWB)             // read-only
	copy(ram[0x11000:], []byte{0x90, 0xC7, 0x05, 0x10, 0x50, 0x01, 0x00, 1, 0, 0, 0}) // nop; mov dword [0x15010], 1
	copy(ram[handler:], []byte{0xA1, 0x18, 0xA0, 0x04, 0x00, 0x0F, 0xA2})             // mov eax, [veArea+24]; cpuid
	exits := exitRecorder(c)
	c.Run(6)
	require.Equal(t, []uint32{10}, *exits)
	assert.Equal(t, uint64(0x15010), c.GPR[0]&0xFFFFFFFF, "the guest-physical address from the information area")
	assert.Equal(t, uint64(handler+5), vmcsField(t, c, 0x681E), "in the #VE handler")
	assert.Equal(t, uint64(0x8000-12), vmcsField(t, c, 0x681C), "EIP, CS, EFLAGS pushed, no error code")
	assert.Equal(t, uint32(0x11001), binary.LittleEndian.Uint32(ram[0x8000-12:]), "the frame's EIP: the faulting write")
}

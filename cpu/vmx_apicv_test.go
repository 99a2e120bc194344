package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// "Virtualize APIC accesses" in a 64-bit guest (SDM Vol. 3C 30.4 with
// "APIC-register virtualization" and "virtual-interrupt delivery" 0):
// APIC-access VM exits (reason 44) with the qualification of Table 28-6
// (bits 11:0 the page offset, bits 15:12 the access type: 0 linear read,
// 1 linear write, 2 linear fetch, 3 linear access during event
// delivery), VTPR accesses virtualized with "use TPR shadow" (30.4.2,
// 30.4.3: at page offset 080H, at most 4 bytes; a write clears
// bytes 3:1 of VTPR and performs TPR virtualization, 30.4.3.2, 30.1.2),
// and the TPR-below-threshold VM exit after VM entry (27.7.7).

const (
	apicvPage       = 0x20000 // the APIC-access page (identity-mapped)
	encAPICAccess   = 0x2014
	encIDTVecInfo   = 0x4408
	encGuestIDTBase = 0x6818
	encGuestIDTLim  = 0x4812
	procSecondary   = 1 << 31
)

func TestAPICAccessVirtualization(t *testing.T) {
	vaa := map[uint64]uint64{encTestProc: testProcDefault | procSecondary, encTestProc2: vmx.Proc2VirtualizeAPICAccesses, encAPICAccess: apicvPage}
	vaaTPR := func(th uint64) map[uint64]uint64 {
		return map[uint64]uint64{encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow,
			encTestProc2: vmx.Proc2VirtualizeAPICAccesses, encAPICAccess: apicvPage, encVAPIC: tprVAPIC, encTPRTh: th}
	}
	with := func(m map[uint64]uint64, extra map[uint64]uint64) map[uint64]uint64 {
		out := map[uint64]uint64{}
		for k, v := range m {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	// Instructions (absolute disp32 addressing, ModRM 04H, SIB 25H).
	movEAXFrom := func(a uint32) []byte { return append([]byte{0x8B, 0x04, 0x25}, le32(a)...) }
	movRAXFrom := func(a uint32) []byte { return append([]byte{0x48, 0x8B, 0x04, 0x25}, le32(a)...) }
	movToFromEAX := func(a uint32) []byte { return append([]byte{0x89, 0x04, 0x25}, le32(a)...) }
	movToFromAL := func(a uint32) []byte { return append([]byte{0x88, 0x04, 0x25}, le32(a)...) }
	cpuid := []byte{0x0F, 0xA2}
	cat := func(bs ...[]byte) []byte {
		var out []byte
		for _, b := range bs {
			out = append(out, b...)
		}
		return out
	}
	for _, tc := range []struct {
		name      string
		fields    map[uint64]uint64
		raxIn     uint64
		vtpr      uint32 // the virtual-APIC page's VTPR dword before
		code      []byte
		reason    uint32
		qual, rip uint64
		rax       uint64
		vtprAfter uint32
		idtVec    uint64
	}{
		// Without "use TPR shadow" every access exits, fault-like (the
		// instruction's RIP); even VTPR's offset.
		{name: "read exits", fields: vaa, code: movEAXFrom(apicvPage + 0x80),
			reason: 44, qual: 0x080, rip: 0x11000},
		{name: "write exits", fields: vaa, raxIn: 0x30, code: movToFromEAX(apicvPage + 0x300),
			reason: 44, qual: 0x300 | 1<<12, rip: 0x11000, rax: 0x30},
		// MOV EAX, 20010H; JMP RAX: the fetch exits, RIP the target.
		{name: "fetch exits", fields: vaa, code: []byte{0xB8, 0x10, 0x00, 0x02, 0x00, 0xFF, 0xE0},
			reason: 44, qual: 0x010 | 2<<12, rip: apicvPage + 0x10, rax: apicvPage + 0x10},
		// UD2 with the IDT on the APIC-access page: reading gate 6 (at
		// 060H) during the delivery of #UD exits with access type 3 and
		// IDT-vectoring information (valid, hardware exception, 6).
		{name: "access during event delivery", fields: with(vaa, map[uint64]uint64{encGuestIDTBase: apicvPage, encGuestIDTLim: 0xFFF}),
			code: []byte{0x0F, 0x0B}, reason: 44, qual: 0x060 | 3<<12, rip: 0x11000, idtVec: 1<<31 | 3<<8 | 6},
		// With the TPR shadow: a 32-bit read of 080H returns the
		// virtual-APIC page's dword; CPUID then exits (its own RIP).
		{name: "VTPR read virtualized", fields: vaaTPR(0), raxIn: ^uint64(0), vtpr: 0x1234565A,
			code: cat(movEAXFrom(apicvPage+0x80), cpuid), reason: 10, rip: 0x11007, rax: 0x1234565A, vtprAfter: 0x1234565A},
		// A 64-bit read is wider than 32 bits: it exits.
		{name: "64-bit VTPR read exits", fields: vaaTPR(0), vtpr: 0x5A,
			code: movRAXFrom(apicvPage + 0x80), reason: 44, qual: 0x080, rip: 0x11000, vtprAfter: 0x5A},
		// 084H is outside the low 4 bytes of the 16-byte region.
		{name: "read of 084H exits", fields: vaaTPR(0), vtpr: 0x5A,
			code: movEAXFrom(apicvPage + 0x84), reason: 44, qual: 0x084, rip: 0x11000, vtprAfter: 0x5A},
		// Another register (the EOI at 0B0H) exits.
		{name: "EOI write exits", fields: vaaTPR(0), vtpr: 0x5A,
			code: movToFromEAX(apicvPage + 0xB0), reason: 44, qual: 0x0B0 | 1<<12, rip: 0x11000, vtprAfter: 0x5A},
		// A 32-bit write of FFFFFF30H to 080H: VTPR gets it, then bytes
		// 3:1 are cleared; threshold 2 is not above 3: CPUID exits.
		{name: "VTPR write virtualized", fields: vaaTPR(2), raxIn: 0xFFFFFF30, vtpr: 0x5A,
			code: cat(movToFromEAX(apicvPage+0x80), cpuid), reason: 10, rip: 0x11007, rax: 0xFFFFFF30, vtprAfter: 0x30},
		// A byte write to 080H is virtualized: VTPR byte 0 gets it, APIC-
		// write emulation clears bytes 3:1.
		{name: "byte write to 080H", fields: vaaTPR(0), raxIn: 0x77, vtpr: 0x12345640,
			code: cat(movToFromAL(apicvPage+0x80), cpuid), reason: 10, rip: 0x11007, rax: 0x77, vtprAfter: 0x77},
		// A byte write to 081H is not at page offset 080H: it exits.
		{name: "byte write to 081H exits", fields: vaaTPR(0), raxIn: 0x77, vtpr: 0x40,
			code: movToFromAL(apicvPage + 0x81), reason: 44, qual: 0x081 | 1<<12, rip: 0x11000, rax: 0x77, vtprAfter: 0x40},
		// Threshold 4, VTPR 40H, a write of 30H: TPR virtualization
		// exits trap-like (the next instruction's RIP), qualification 0.
		{name: "VTPR write below threshold", fields: vaaTPR(4), raxIn: 0x30, vtpr: 0x40,
			code: cat(movToFromEAX(apicvPage+0x80), []byte{0x90}), reason: 43, rip: 0x11007, rax: 0x30, vtprAfter: 0x30},
		// Threshold 5 above VTPR[7:4] = 4: no VM-entry failure with
		// "virtualize APIC accesses" (27.2.1.1), a TPR-below-threshold
		// exit right after entry (27.7.7) before any guest instruction.
		{name: "TPR below threshold after entry", fields: vaaTPR(5), vtpr: 0x40,
			code: cpuid, reason: 43, rip: 0x11000, vtprAfter: 0x40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmx64Harness(t, tc.fields)
			c := h.c
			binary.LittleEndian.PutUint32(h.bus.ram[tprVTPR:], tc.vtpr)
			copy(h.bus.ram[0x11000:], tc.code)
			c.GPR[arch.RAX] = tc.raxIn
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.rax, c.GPR[arch.RAX], "RAX")
			assert.Equal(t, tc.idtVec, vmcsField(t, c, encIDTVecInfo), "IDT-vectoring information")
			if tc.reason == 44 && tc.qual>>12 <= 1 {
				// A data access during instruction execution: the
				// instruction's length, as hardware gives it.
				assert.Equal(t, uint64(len(tc.code)), vmcsField(t, c, 0x440C), "instruction length")
			}
			if tc.fields[encVAPIC] != 0 {
				assert.Equal(t, tc.vtprAfter, binary.LittleEndian.Uint32(h.bus.ram[tprVTPR:]), "VTPR")
			}
			assert.Zero(t, binary.LittleEndian.Uint64(h.bus.ram[apicvPage+0x80:]), "the APIC-access page is not written")
			assert.Zero(t, binary.LittleEndian.Uint64(h.bus.ram[apicvPage+0x300:]), "the APIC-access page is not written")
		})
	}
}

func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// TestAPICAccessUnderEPT: with EPT the APIC-access page is found after the
// EPT translation (SDM Vol. 3C 30.4): a linear read of guest-physical
// 15008H, which EPT maps to the APIC-access page at host-physical 20000H,
// is a linear access (access type 0, offset 008H); the guest's page
// directory at guest-physical 3000H, made the APIC-access page, is read
// by the walk of the first instruction fetch: a guest-physical access
// (30.4.6.1: always an exit, access type 15 in bits 15:12, the
// guest-physical address saved), before the instruction.
func TestAPICAccessUnderEPT(t *testing.T) {
	for _, tc := range []struct {
		name      string
		apic      uint64
		remap     bool // EPT maps guest-physical 15000H to the APIC-access page
		qual      uint64
		qualMask  uint64
		gpa       uint64
		checkGPA  bool
		rip       uint64
		readValue bool
	}{
		{name: "linear access", apic: apicvPage, remap: true, qual: 0x008, qualMask: 0xFFFF, rip: 0x11000},
		{name: "guest-physical access", apic: 0x3000, qual: 15 << 12, qualMask: 0xF000, gpa: 0x3000, checkGPA: true, rip: 0x11000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := eptHarness(t, "sandybridge-ep", 1<<1|vmx.Proc2VirtualizeAPICAccesses, eptEPTP, 0)
			c := h.c
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(encAPICAccess, tc.apic, true).Kind)
			if tc.remap {
				binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], apicvPage|7|eptWB)
			}
			copy(h.bus.ram[0x11000:], []byte{0x8B, 0x35, 0x08, 0x50, 0x01, 0x00, 0x0F, 0xA2}) // mov esi, [0x15008]; cpuid
			exits := exitRecorder(c)
			c.Run(4)
			require.Equal(t, []uint32{vmx.ExitAPICAccess}, *exits)
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400)&tc.qualMask, "exit qualification")
			if tc.checkGPA {
				assert.Equal(t, tc.gpa, vmcsField(t, c, 0x2400), "guest-physical address")
			}
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Zero(t, c.GPR[6], "ESI not loaded")
		})
	}
}

// TestVirtualizeX2APICMode: "virtualize x2APIC mode" with the TPR shadow
// (SDM Vol. 3C 30.5, "APIC-register virtualization" and
// "virtual-interrupt delivery" 0): RDMSR of 808H that neither faults nor
// exits reads the 8 bytes at offset 080H of the virtual-APIC page into
// EDX:EAX; WRMSR of 808H #GPs when bits 63:8 of EDX:EAX are not 0, else
// writes them there and performs TPR virtualization (30.1.2: exit 43,
// trap-like); the MSR bitmaps come first (26.1.3: exit 31/32); the local
// APIC need not be in x2APIC mode.
func TestVirtualizeX2APICMode(t *testing.T) {
	const bitmap = 0x21000
	fields := func(th uint64, proc uint64) map[uint64]uint64 {
		return map[uint64]uint64{encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow | proc,
			encTestProc2: vmx.Proc2VirtualizeX2APICMode, encVAPIC: tprVAPIC, encTPRTh: th, 0x2004: bitmap,
			encTestExcBitmap: 1 << arch.VecGP}
	}
	rdmsr := []byte{0x0F, 0x32}
	wrmsr := []byte{0x0F, 0x30}
	cpuid := []byte{0x0F, 0xA2}
	for _, tc := range []struct {
		name           string
		fields         map[uint64]uint64
		readExit       bool // set bit 808H of the read bitmap for low MSRs
		rax, rdx       uint64
		vapic          uint64 // the 8 bytes at offset 080H before
		code           []byte
		reason         uint32
		rip            uint64
		raxOut, rdxOut uint64
		vapicAfter     uint64
		intrInfo       uint64
	}{
		{name: "RDMSR reads 8 bytes of VTPR", fields: fields(0, vmx.ProcUseMSRBitmaps), vapic: 0x1122334455667750,
			code: append(append([]byte{}, rdmsr...), cpuid...), reason: 10, rip: 0x11002,
			raxOut: 0x55667750, rdxOut: 0x11223344, vapicAfter: 0x1122334455667750},
		{name: "WRMSR writes VTPR", fields: fields(2, vmx.ProcUseMSRBitmaps), rax: 0x30, vapic: ^uint64(0),
			code: append(append([]byte{}, wrmsr...), cpuid...), reason: 10, rip: 0x11002, raxOut: 0x30, vapicAfter: 0x30},
		{name: "WRMSR below the TPR threshold", fields: fields(4, vmx.ProcUseMSRBitmaps), rax: 0x30, vapic: 0x40,
			code: append(append([]byte{}, wrmsr...), 0x90), reason: 43, rip: 0x11002, raxOut: 0x30, vapicAfter: 0x30},
		{name: "WRMSR with EAX bit 8", fields: fields(0, vmx.ProcUseMSRBitmaps), rax: 0x130, vapic: 0x40,
			code: wrmsr, reason: 0, rip: 0x11000, raxOut: 0x130, vapicAfter: 0x40, intrInfo: 1<<31 | 1<<11 | 3<<8 | 13},
		{name: "WRMSR with EDX bit 0", fields: fields(0, vmx.ProcUseMSRBitmaps), rax: 0x30, rdx: 1, vapic: 0x40,
			code: wrmsr, reason: 0, rip: 0x11000, raxOut: 0x30, rdxOut: 1, vapicAfter: 0x40, intrInfo: 1<<31 | 1<<11 | 3<<8 | 13},
		{name: "the MSR bitmap exits first", fields: fields(0, vmx.ProcUseMSRBitmaps), readExit: true, vapic: 0x40,
			code: rdmsr, reason: 31, rip: 0x11000, vapicAfter: 0x40},
		{name: "without MSR bitmaps RDMSR exits", fields: fields(0, 0), vapic: 0x40,
			code: rdmsr, reason: 31, rip: 0x11000, vapicAfter: 0x40},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmx64Harness(t, tc.fields)
			c := h.c
			binary.LittleEndian.PutUint64(h.bus.ram[tprVTPR:], tc.vapic)
			if tc.readExit {
				h.bus.ram[bitmap+0x808/8] |= 1 << (0x808 % 8)
			}
			copy(h.bus.ram[0x11000:], tc.code)
			c.GPR[arch.RCX], c.GPR[arch.RAX], c.GPR[arch.RDX] = 0x808, tc.rax, tc.rdx
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.raxOut, c.GPR[arch.RAX], "RAX")
			assert.Equal(t, tc.rdxOut, c.GPR[arch.RDX], "RDX")
			assert.Equal(t, tc.vapicAfter, binary.LittleEndian.Uint64(h.bus.ram[tprVTPR:]), "virtual-APIC page 080H-087H")
			if tc.reason == 0 {
				assert.Equal(t, tc.intrInfo, vmcsField(t, c, 0x4404), "#GP(0)")
			}
		})
	}
}

// TestAPICRegisterVirtualization: "APIC-register virtualization" with
// "virtualize APIC accesses" and the TPR shadow ("virtual-interrupt
// delivery" 0) on skylake-sp, which has it (SDM Vol. 3C 30.4.2, 30.4.3):
// reads of the listed registers return the virtual-APIC page's bytes;
// writes of the listed registers store there and are followed by
// APIC-write emulation (30.4.3.2): for the ICR high dword bytes 2:0 are
// cleared and nothing else happens; for the other registers but the TPR,
// the EOI and ICR low included (their virtualization needs
// "virtual-interrupt delivery"), an APIC-write VM exit (reason 56,
// trap-like: the next instruction's RIP, the offset as qualification,
// 30.4.3.3); a write to a register only readable (ISR) is an APIC-access
// VM exit. Under "virtualize x2APIC mode" RDMSR of any of 800H-8FFH reads
// the 8 bytes at (ECX & FFH) << 4 (30.5).
func TestAPICRegisterVirtualization(t *testing.T) {
	regVirt := map[uint64]uint64{encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow,
		encTestProc2: vmx.Proc2VirtualizeAPICAccesses | vmx.Proc2APICRegisterVirt, encAPICAccess: apicvPage, encVAPIC: tprVAPIC}
	movEAXFrom := func(a uint32) []byte { return append([]byte{0x8B, 0x04, 0x25}, le32(a)...) }
	movToFromEAX := func(a uint32) []byte { return append([]byte{0x89, 0x04, 0x25}, le32(a)...) }
	cpuid := []byte{0x0F, 0xA2}
	nop := []byte{0x90}
	cat := func(a, b []byte) []byte { return append(append([]byte{}, a...), b...) }
	for _, tc := range []struct {
		name      string
		fields    map[uint64]uint64
		off       uint64 // the virtual-APIC dword checked
		before    uint32
		rax, rcx  uint64
		code      []byte
		reason    uint32
		qual, rip uint64
		raxOut    uint64
		rdxOut    uint64
		after     uint32
	}{
		{name: "read of the APIC ID", fields: regVirt, off: 0x20, before: 0x03000000, code: cat(movEAXFrom(apicvPage+0x20), cpuid),
			reason: 10, rip: 0x11007, raxOut: 0x03000000, after: 0x03000000},
		{name: "read of ISR", fields: regVirt, off: 0x170, before: 0x80000001, code: cat(movEAXFrom(apicvPage+0x170), cpuid),
			reason: 10, rip: 0x11007, raxOut: 0x80000001, after: 0x80000001},
		{name: "read of PPR exits", fields: regVirt, off: 0xA0, code: movEAXFrom(apicvPage + 0xA0),
			reason: 44, qual: 0x0A0, rip: 0x11000},
		{name: "write of the APIC ID: APIC-write exit", fields: regVirt, off: 0x20, rax: 0x05000000, code: cat(movToFromEAX(apicvPage+0x20), nop),
			reason: 56, qual: 0x020, rip: 0x11007, raxOut: 0x05000000, after: 0x05000000},
		{name: "write of the EOI: APIC-write exit", fields: regVirt, off: 0xB0, before: 0x1234, code: cat(movToFromEAX(apicvPage+0xB0), nop),
			reason: 56, qual: 0x0B0, rip: 0x11007, after: 0},
		{name: "write of ICR low: APIC-write exit", fields: regVirt, off: 0x300, rax: 0x000440FE, code: cat(movToFromEAX(apicvPage+0x300), nop),
			reason: 56, qual: 0x300, rip: 0x11007, raxOut: 0x000440FE, after: 0x000440FE},
		{name: "write of ICR high: bytes 2:0 cleared, no exit", fields: regVirt, off: 0x310, rax: 0x12345678, code: cat(movToFromEAX(apicvPage+0x310), cpuid),
			reason: 10, rip: 0x11007, raxOut: 0x12345678, after: 0x12000000},
		{name: "write of ISR: APIC-access exit", fields: regVirt, off: 0x100, before: 0x11, rax: 0x22, code: movToFromEAX(apicvPage + 0x100),
			reason: 44, qual: 0x100 | 1<<12, rip: 0x11000, raxOut: 0x22, after: 0x11},
		{name: "write of the TPR below the threshold", fields: with2(regVirt, encTPRTh, 4), off: 0x80, before: 0x40, rax: 0xFFFF0030,
			code: cat(movToFromEAX(apicvPage+0x80), nop), reason: 43, rip: 0x11007, raxOut: 0xFFFF0030, after: 0x30},
		// Virtualize x2APIC mode with register virtualization: RDMSR of
		// 802H reads 8 bytes at 020H.
		{name: "x2APIC: RDMSR of the APIC ID", fields: map[uint64]uint64{encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow | vmx.ProcUseMSRBitmaps,
			encTestProc2: vmx.Proc2VirtualizeX2APICMode | vmx.Proc2APICRegisterVirt, encVAPIC: tprVAPIC, 0x2004: 0x21000},
			off: 0x20, before: 0x07, rcx: 0x802, code: cat([]byte{0x0F, 0x32}, cpuid), reason: 10, rip: 0x11002, raxOut: 0x07, after: 0x07},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmx64HarnessModel(t, "skylake-sp", tc.fields)
			c := h.c
			binary.LittleEndian.PutUint32(h.bus.ram[tprVAPIC+tc.off:], tc.before)
			copy(h.bus.ram[0x11000:], tc.code)
			c.GPR[arch.RAX], c.GPR[arch.RCX] = tc.rax, tc.rcx
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.raxOut, c.GPR[arch.RAX], "RAX")
			assert.Equal(t, tc.after, binary.LittleEndian.Uint32(h.bus.ram[tprVAPIC+tc.off:]), "virtual-APIC page at %#x", tc.off)
			assert.Zero(t, binary.LittleEndian.Uint32(h.bus.ram[apicvPage+tc.off:]), "the APIC-access page is not written")
		})
	}
}

func with2(m map[uint64]uint64, k, v uint64) map[uint64]uint64 {
	out := map[uint64]uint64{k: v}
	for a, b := range m {
		if a != k {
			out[a] = b
		}
	}
	return out
}

// TestVirtualInterruptDelivery: "virtual-interrupt delivery" on
// skylake-sp (SDM Vol. 3C 30.1.2-30.1.5, 30.2, 27.3.2.5, 28.3.3): RVI/SVI
// from the guest interrupt status at VM entry, PPR virtualization (VPPR =
// VTPR when VTPR[7:4] >= SVI[7:4], else SVI & F0H), the evaluation of
// pending virtual interrupts (RVI[7:4] > VPPR[7:4], interrupt-window
// exiting 0) and their delivery through the guest's IDT when RFLAGS.IF =
// 1 (vector into VISR and SVI, VPPR = vector & F0H, out of VIRR, RVI =
// the highest vector left), TPR virtualization after MOV to CR8, EOI
// virtualization (VISR, SVI, PPR; reason 45 with the vector when its
// EOI-exit bitmap bit is 1), self-IPI virtualization (VICR_LO with
// shorthand self, WRMSR of 83FH), and RVI/SVI saved at VM exit. The
// guest's handler of every vector is CPUID at 11800H.
func TestVirtualInterruptDelivery(t *testing.T) {
	const (
		idt     = 0x22000
		gdt     = 0x23000
		handler = 0x11800
		bitmap  = 0x21000
		vec     = 0x31
	)
	base := func(proc2 uint64, extra map[uint64]uint64) map[uint64]uint64 {
		f := map[uint64]uint64{0x4000: 0x16 | 1, encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow | vmx.ProcUseMSRBitmaps,
			encTestProc2: vmx.Proc2VirtualIntrDelivery | proc2, encVAPIC: tprVAPIC, encAPICAccess: apicvPage, 0x2004: bitmap,
			encGuestIDTBase: idt, encGuestIDTLim: 0xFFF, 0x6820: 0x202, 0x6816: gdt, 0x4810: 0x17}
		if proc2&vmx.Proc2VirtualizeAPICAccesses == 0 {
			delete(f, encAPICAccess)
		}
		for k, v := range extra {
			f[k] = v
		}
		return f
	}
	vaa, x2 := uint64(vmx.Proc2VirtualizeAPICAccesses), uint64(vmx.Proc2VirtualizeX2APICMode)
	movToFromEAX := func(a uint32) []byte { return append([]byte{0x89, 0x04, 0x25}, le32(a)...) }
	wrmsr := []byte{0x0F, 0x30}
	for _, tc := range []struct {
		name       string
		fields     map[uint64]uint64
		vtpr       uint32
		virr, visr []uint8
		rax, rcx   uint64
		code       []byte
		reason     uint32
		qual, rip  uint64
		status     uint64 // guest interrupt status after
		vppr       uint32
		virrAfter  []uint8
		visrAfter  []uint8
		gp         bool
	}{
		{name: "delivered at VM entry", fields: base(0, map[uint64]uint64{0x0810: vec}), virr: []uint8{vec},
			code: []byte{0x0F, 0xA2}, reason: 10, rip: handler, status: vec << 8, vppr: 0x30, visrAfter: []uint8{vec}},
		{name: "held by VTPR", fields: base(0, map[uint64]uint64{0x0810: vec}), vtpr: 0x40, virr: []uint8{vec},
			code: []byte{0x0F, 0xA2}, reason: 10, rip: 0x11000, status: vec, vppr: 0x40, virrAfter: []uint8{vec}},
		{name: "held by RFLAGS.IF = 0", fields: base(0, map[uint64]uint64{0x0810: vec, 0x6820: 2}), virr: []uint8{vec},
			code: []byte{0x0F, 0xA2}, reason: 10, rip: 0x11000, status: vec, vppr: 0, virrAfter: []uint8{vec}},
		{name: "interrupt-window exiting: not recognized", fields: base(0, map[uint64]uint64{0x0810: vec, encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow | 1<<2}),
			virr: []uint8{vec}, code: []byte{0x0F, 0xA2}, reason: 7, rip: 0x11000, status: vec, vppr: 0, virrAfter: []uint8{vec}},
		// MOV CR8, RAX = 2: VTPR 20H, PPR virtualization, then delivery
		// after the instruction.
		{name: "MOV to CR8 lowers VPPR", fields: base(0, map[uint64]uint64{0x0810: vec}), vtpr: 0x40, virr: []uint8{vec}, rax: 2,
			code: []byte{0x44, 0x0F, 0x22, 0xC0, 0x90}, reason: 10, rip: handler, status: vec << 8, vppr: 0x30, visrAfter: []uint8{vec}},
		// EOI through the APIC-access page with the EOI-exit bit of 51H:
		// VISR cleared, SVI 0, a trap-like exit with the vector.
		{name: "EOI virtualization exits", fields: base(vaa, map[uint64]uint64{0x0810: 0x51 << 8, 0x201C + 2: 1 << (0x51 - 64)}),
			visr: []uint8{0x51}, code: append(movToFromEAX(apicvPage+0xB0), 0x90), reason: 45, qual: 0x51, rip: 0x11007, status: 0, vppr: 0},
		// EOI of 51H unmasks the pending 31H, delivered after the write.
		{name: "EOI virtualization delivers the next", fields: base(vaa, map[uint64]uint64{0x0810: 0x51<<8 | vec}), visr: []uint8{0x51}, virr: []uint8{vec},
			code: append(movToFromEAX(apicvPage+0xB0), 0x90), reason: 10, rip: handler, status: vec << 8, vppr: 0x30, visrAfter: []uint8{vec}},
		// A self IPI through VICR_LO (fixed, edge, shorthand self).
		{name: "self IPI through VICR_LO", fields: base(vaa, nil), rax: 0x00040000 | vec,
			code: append(movToFromEAX(apicvPage+0x300), 0x90), reason: 10, rip: handler, status: vec << 8, vppr: 0x30, visrAfter: []uint8{vec}},
		// VICR_LO with shorthand "all including self": APIC-write exit.
		{name: "VICR_LO not a self IPI", fields: base(vaa, nil), rax: 0x00080000 | vec,
			code: append(movToFromEAX(apicvPage+0x300), 0x90), reason: 56, qual: 0x300, rip: 0x11007, vppr: 0},
		// x2APIC: WRMSR of 83FH with a vector: self-IPI virtualization.
		{name: "x2APIC self IPI", fields: base(x2, nil), rcx: 0x83F, rax: vec,
			code: append(append([]byte{}, wrmsr...), 0x90), reason: 10, rip: handler, status: vec << 8, vppr: 0x30, visrAfter: []uint8{vec}},
		// WRMSR of 83FH with vector 5: an APIC-write exit (3F0H).
		{name: "x2APIC self IPI below 16", fields: base(x2, nil), rcx: 0x83F, rax: 5,
			code: append(append([]byte{}, wrmsr...), 0x90), reason: 56, qual: 0x3F0, rip: 0x11002, vppr: 0},
		// WRMSR of 80BH with 0: EOI virtualization (exit on its bit).
		{name: "x2APIC EOI", fields: base(x2, map[uint64]uint64{0x0810: 0x51 << 8, 0x201C + 2: 1 << (0x51 - 64)}), visr: []uint8{0x51}, rcx: 0x80B,
			code: append(append([]byte{}, wrmsr...), 0x90), reason: 45, qual: 0x51, rip: 0x11002, vppr: 0},
		// WRMSR of 80BH with 1: #GP(0) (the exception bitmap takes it).
		{name: "x2APIC EOI of a nonzero value", fields: base(x2, map[uint64]uint64{0x0810: 0x51 << 8, encTestExcBitmap: 1 << arch.VecGP}), visr: []uint8{0x51}, rcx: 0x80B, rax: 1,
			code: wrmsr, reason: 0, rip: 0x11000, status: 0x51 << 8, vppr: 0x50, visrAfter: []uint8{0x51}, gp: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmx64HarnessModel(t, "skylake-sp", tc.fields)
			c := h.c
			ram := h.bus.ram
			interruptGates64(ram, idt, handler)
			copy(ram[handler:], []byte{0x0F, 0xA2})
			binary.LittleEndian.PutUint64(ram[gdt+8:], 0x00AF9B000000FFFF)  // 08H: 64-bit code
			binary.LittleEndian.PutUint64(ram[gdt+16:], 0x00CF93000000FFFF) // 10H: data
			binary.LittleEndian.PutUint32(ram[tprVTPR:], tc.vtpr)
			setBits := func(base int, vs []uint8) {
				for _, v := range vs {
					ram[base+int(v>>5)*16+int(v&31)/8] |= 1 << (v & 7)
				}
			}
			setBits(tprVAPIC+0x200, tc.virr)
			setBits(tprVAPIC+0x100, tc.visr)
			copy(ram[0x11000:], tc.code)
			c.GPR[arch.RAX], c.GPR[arch.RCX] = tc.rax, tc.rcx
			exits := exitRecorder(c)
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.status, vmcsField(t, c, 0x0810), "guest interrupt status (SVI:RVI)")
			assert.Equal(t, tc.vppr, binary.LittleEndian.Uint32(ram[tprVAPIC+0xA0:]), "VPPR")
			bits := func(base int) []uint8 {
				var out []uint8
				for v := 0; v < 256; v++ {
					if ram[base+(v>>5)*16+(v&31)/8]>>(v&7)&1 != 0 {
						out = append(out, uint8(v))
					}
				}
				return out
			}
			assert.Equal(t, tc.virrAfter, bits(tprVAPIC+0x200), "VIRR")
			assert.Equal(t, tc.visrAfter, bits(tprVAPIC+0x100), "VISR")
			if tc.gp {
				assert.Equal(t, uint64(1<<31|1<<11|3<<8|13), vmcsField(t, c, 0x4404), "#GP(0)")
			}
		})
	}
}

// fakeAPIC is an interrupt source with one pending vector and an EOI
// counter (the local APIC's side of posted-interrupt processing).
type fakeAPIC struct {
	vec     uint8
	pending bool
	eois    int
}

func (f *fakeAPIC) Pending() bool { return f.pending }
func (f *fakeAPIC) Ack() uint8    { f.pending = false; return f.vec }
func (f *fakeAPIC) EOI()          { f.eois++ }

// TestPostedInterruptProcessing: "process posted interrupts" on
// skylake-sp (SDM Vol. 3C 30.6): an external interrupt with the
// notification vector (F2H) is acknowledged and processed without a VM
// exit — ON (bit 256) cleared, an EOI to the local APIC, PIR (vectors 31H
// and 45H) ORed into VIRR and cleared, RVI raised to 45H — then 45H, the
// highest, is delivered as a virtual interrupt (the handler's CPUID
// exits; RVI 31H and SVI 45H are saved); any other vector is an
// external-interrupt VM exit with its vector ("acknowledge interrupt on
// exit"), PIR untouched.
func TestPostedInterruptProcessing(t *testing.T) {
	const (
		idt, gdt, handler = 0x22000, 0x23000, 0x11800
		desc              = 0x24000
		notify            = 0xF2
	)
	for _, tc := range []struct {
		name      string
		vec       uint8
		reason    uint32
		rip       uint64
		intrInfo  uint64
		status    uint64
		eois      int
		pir, on   bool // PIR and ON still set after
		virrAfter []uint8
		visrAfter []uint8
	}{
		{name: "notification vector", vec: notify, reason: 10, rip: handler, status: 0x45<<8 | 0x31, eois: 1,
			virrAfter: []uint8{0x31}, visrAfter: []uint8{0x45}},
		{name: "another vector exits", vec: 0x20, reason: 1, rip: 0x11000, intrInfo: 1<<31 | 0x20, pir: true, on: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fields := map[uint64]uint64{0x4000: 0x16 | 1 | 1<<7, 0x400C: 0x00036DFB | 1<<9 | 1<<15,
				encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow, encTestProc2: vmx.Proc2VirtualIntrDelivery,
				encVAPIC: tprVAPIC, 0x0002: notify, 0x2016: desc,
				encGuestIDTBase: idt, encGuestIDTLim: 0xFFF, 0x6820: 0x202, 0x6816: gdt, 0x4810: 0x17}
			h := vmx64HarnessModel(t, "skylake-sp", fields)
			c := h.c
			ram := h.bus.ram
			for v := 0; v < 256; v++ {
				g := idt + 16*v
				binary.LittleEndian.PutUint16(ram[g:], handler&0xFFFF)
				binary.LittleEndian.PutUint16(ram[g+2:], 0x08)
				ram[g+5] = 0x8E
				binary.LittleEndian.PutUint16(ram[g+6:], handler>>16)
			}
			binary.LittleEndian.PutUint64(ram[gdt+8:], 0x00AF9B000000FFFF)
			binary.LittleEndian.PutUint64(ram[gdt+16:], 0x00CF93000000FFFF)
			copy(ram[handler:], []byte{0x0F, 0xA2})
			copy(ram[0x11000:], []byte{0x90, 0x90, 0x0F, 0xA2})
			ram[desc+0x31/8] |= 1 << (0x31 % 8)
			ram[desc+0x45/8] |= 1 << (0x45 % 8)
			ram[desc+32] = 1 // ON
			src := &fakeAPIC{}
			c.SetInterruptSource(src)
			exits := exitRecorder(c)
			c.Run(1) // VMLAUNCH
			require.Empty(t, *exits)
			src.vec, src.pending = tc.vec, true
			c.KickInterrupt()
			for i := 0; i < 16 && len(*exits) == 0; i++ {
				c.Run(1)
			}
			require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, tc.intrInfo, vmcsField(t, c, 0x4404)&(1<<31|0x7FF), "VM-exit interruption information")
			assert.Equal(t, tc.status, vmcsField(t, c, 0x0810), "guest interrupt status (SVI:RVI)")
			assert.Equal(t, tc.eois, src.eois, "EOIs to the local APIC")
			assert.Equal(t, tc.pir, binary.LittleEndian.Uint64(ram[desc:]) != 0, "PIR")
			assert.Equal(t, tc.on, ram[desc+32]&1 != 0, "ON")
			bits := func(base int) []uint8 {
				var out []uint8
				for v := 0; v < 256; v++ {
					if ram[base+(v>>5)*16+(v&31)/8]>>(v&7)&1 != 0 {
						out = append(out, uint8(v))
					}
				}
				return out
			}
			assert.Equal(t, tc.virrAfter, bits(tprVAPIC+0x200), "VIRR")
			assert.Equal(t, tc.visrAfter, bits(tprVAPIC+0x100), "VISR")
		})
	}
}

// interruptGates64 fills the 64-bit IDT at idt with 256 interrupt gates
// (type 0EH, present, DPL 0) to handler (below 4 GiB) through CS 08H
// (SDM Vol. 3A 6.14.1, Figure 6-8).
func interruptGates64(ram []byte, idt, handler int) {
	for v := 0; v < 256; v++ {
		g := idt + 16*v
		binary.LittleEndian.PutUint16(ram[g:], uint16(handler))
		binary.LittleEndian.PutUint16(ram[g+2:], 0x08)
		ram[g+5] = 0x8E
		binary.LittleEndian.PutUint16(ram[g+6:], uint16(handler>>16))
	}
}

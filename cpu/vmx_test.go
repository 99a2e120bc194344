package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// vmxHarness is a 32-bit flat harness CPU with Sandy Bridge EP's VMX, in
// VMX root operation with a current VMCS at 0x2000 (VMXON region 0x1000).
func vmxHarness(t testing.TB) *harness {
	t.Helper()
	return vmxHarnessModel(t, "sandybridge-ep")
}

// vmxHarnessModel is vmxHarness with another CPU model's VMX.
func vmxHarnessModel(t testing.TB, model string) *harness {
	t.Helper()
	m, err := msr.Lookup(model)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	caps, err := vmx.NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	h := newHarness(mode32)
	h.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}, VMX: caps}, h.base)
	for _, a := range []uint64{0x1000, 0x2000} {
		binary.LittleEndian.PutUint32(h.bus.ram[a:], caps.Revision)
	}
	mem := vmxPhys{h.c}
	require.Equal(t, vmx.Succeed, h.c.vmx.VMXON(0x1000, mem).Kind)
	require.Equal(t, vmx.Succeed, h.c.vmx.VMPTRLD(0x2000, mem).Kind)
	return h
}

// TestVMLAUNCHEntryFailure: a VMLAUNCH whose controls and host state pass
// their checks but whose guest CR0.NE is 0 fails VM entry with exit reason
// 33 (bit 31 set) and loads the host state, as a VM exit does (SDM Vol. 3C
// 27.3.1.1, 28.8, 28.5): RIP, CR3, RFLAGS = 2, CS as a 32-bit code segment.
func TestVMLAUNCHEntryFailure(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	for enc, val := range map[uint64]uint64{
		// The default control settings of the Sandy Bridge EP's TRUE MSRs.
		0x4000: 0x16, 0x4002: 0x04006172, 0x400C: 0x00036DFB, 0x4012: 0x000011FB,
		0x6C00: 0x80000031, 0x6C04: arch.CR4VMXE, 0x6C02: 0x3000, // host CR0, CR4, CR3
		0x0C02: 0x08, 0x0C04: 0x10, 0x0C0C: 0x18, 0x6C16: 0x401000, 0x6C14: 0x9000, // CS, SS, TR, RIP, RSP
		0x6800: 0x80000011, // guest CR0 without NE
	} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	var outcomes []vmx.Outcome
	c.Hooks = &Hooks{VMX: func(_ *CPU, o *vmx.Outcome) { outcomes = append(outcomes, *o) }}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	c.Run(1)
	require.Len(t, outcomes, 1)
	assert.Equal(t, vmx.EntryFailed, outcomes[0].Kind)
	assert.Contains(t, outcomes[0].Why, "CR0.NE")
	assert.Equal(t, uint64(0x401000), c.RIP, "host RIP")
	assert.Equal(t, uint64(0x3000), c.CR3, "host CR3")
	assert.Equal(t, uint64(0x9000), c.GPR[arch.RSP], "host RSP")
	assert.Equal(t, uint64(2), c.Flags(), "RFLAGS cleared but bit 1")
	assert.Equal(t, uint32(arch.ARP|arch.ARS|11|arch.ARG|arch.ARDB), c.Seg[arch.CS].Attr)
	r, o := c.vmx.VMREAD(0x4402, true)
	require.Equal(t, vmx.Succeed, o.Kind)
	assert.Equal(t, uint64(0x80000021), r, "exit reason 33 | 1<<31")
}

// TestVMLAUNCHFailsValid: a VMCS with a default-1 control clear fails with
// VMfailValid(7): ZF = 1, the error in the VMCS (SDM Vol. 3C 27.2.1.1,
// 31.2).
func TestVMLAUNCHFailsValid(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2, 0xF4}) // VMLAUNCH; HLT
	c.Run(2)
	assert.NotZero(t, c.Flags()&arch.FlagZF)
	assert.Zero(t, c.Flags()&arch.FlagCF)
	e, _ := c.vmx.VMREAD(0x4400, true)
	assert.Equal(t, uint64(7), e)
	assert.True(t, c.Halted(), "execution went on after the VMfail")
}

// guestVMCS writes a VMCS that passes every check of SDM Vol. 3C 27.2 and
// 27.3.1 on h's current VMCS: the default controls of Sandy Bridge EP's
// TRUE MSRs, a 32-bit host and a 32-bit protected-mode guest, both with
// paging through one 4-MiB identity page (PSE) at 0x3000, host RIP 0x12000
// and guest RIP 0x11000.
func guestVMCS(t testing.TB, h *harness) {
	t.Helper()
	binary.LittleEndian.PutUint32(h.bus.ram[0x3000:], 0xE7) // PDE 0: 4 MiB at 0, P RW US A D PS
	fields := map[uint64]uint64{
		0x4000: 0x16, 0x4002: 0x04006172, 0x400C: 0x00036DFB, 0x4012: 0x000011FB,
		0x6C00: 0x80000031, 0x6C04: arch.CR4VMXE | arch.CR4PSE, 0x6C02: 0x3000, // host CR0, CR4, CR3
		0x0C00: 0x10, 0x0C02: 0x08, 0x0C04: 0x10, 0x0C06: 0x10, 0x0C0C: 0x18, 0x6C16: 0x12000, 0x6C14: 0x9000,
		0x6800: 0x80000031, 0x6804: arch.CR4VMXE | arch.CR4PSE, 0x6802: 0x3000, // guest CR0, CR4, CR3
		0x681E: 0x11000, 0x6820: 2, 0x681C: 0x8000, 0x2800: ^uint64(0), // RIP, RFLAGS, RSP, VMCS link pointer
		0x4814 + 12: arch.ARUnusable,                            // LDTR
		0x0800 + 14: 0x18, 0x4814 + 14: 0x8B, 0x4800 + 14: 0x67, // TR: busy 32-bit TSS
	}
	for i := uint64(0); i < 6; i++ { // ES CS SS DS FS GS: flat
		sel, ar := uint64(0x10), uint64(0xC093)
		if i == 1 {
			sel, ar = 0x08, 0xC09B
		}
		fields[0x0800+2*i], fields[0x4814+2*i], fields[0x4800+2*i] = sel, ar, 0xFFFFFFFF
	}
	for enc, val := range fields {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
}

func vmcsField(t *testing.T, c *CPU, enc uint64) uint64 {
	t.Helper()
	v, o := c.vmx.VMREAD(enc, true)
	require.Equal(t, vmx.Succeed, o.Kind, "%#x", enc)
	return v
}

// TestVMLAUNCHRunsGuest: VMLAUNCH enters the guest; its CPUID exits
// unconditionally (SDM Vol. 3C 26.1.2) with exit reason 10, the
// instruction's length and the guest RIP of CPUID (28.2, 28.3); the host
// resumes at host RIP with the guest's general-purpose registers (28.5
// loads none but RSP). VMRESUME of the VMCS, RIP advanced past CPUID,
// runs the guest on; its HLT halts in VMX non-root operation (HLT exiting
// is 0). The MSR areas: the VM-entry MSR-load area sets IA32_SYSENTER_CS
// for the guest (27.4), the VM-exit MSR-store area saves it (28.4), the
// VM-exit MSR-load area gives the host its own (28.6).
func TestVMLAUNCHRunsGuest(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	ram := h.bus.ram
	msrEntry := func(a uint64, idx uint32, v uint64) {
		binary.LittleEndian.PutUint64(ram[a:], uint64(idx))
		binary.LittleEndian.PutUint64(ram[a+8:], v)
	}
	msrEntry(0x5000, 0x174, 0x42) // VM-entry MSR-load
	msrEntry(0x5010, 0x174, 0)    // VM-exit MSR-store
	msrEntry(0x5020, 0x174, 0x99) // VM-exit MSR-load
	for enc, val := range map[uint64]uint64{0x4014: 1, 0x200A: 0x5000, 0x400E: 1, 0x2006: 0x5010, 0x4010: 1, 0x2008: 0x5020} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	copy(ram[0x11000:], []byte{
		0xBB, 0x5A, 0x5A, 0x5A, 0x5A, // mov ebx, 0x5a5a5a5a
		0x31, 0xC0, // xor eax, eax
		0x0F, 0xA2, // cpuid
		0xB9, 0x77, 0, 0, 0, // mov ecx, 0x77
		0xF4, // hlt
	})
	copy(ram[0x12000:], []byte{0xF4, 0x0F, 0x01, 0xC3}) // HLT; VMRESUME
	var exits []uint32
	c.Hooks = &Hooks{VMExit: func(_ *CPU, reason uint32, _ vmx.ExitInfo) { exits = append(exits, reason) }}

	c.Run(4) // VMLAUNCH, mov, xor retire; the CPUID exits and does not retire; the host's HLT
	require.Equal(t, []uint32{10}, exits, "one VM exit, reason 10 (CPUID)")
	assert.False(t, c.vmx.Guest(), "back in VMX root operation")
	assert.Equal(t, uint64(0x12001), c.RIP, "the host's HLT at host RIP retired")
	assert.True(t, c.Halted())
	assert.Equal(t, uint64(0x9000), c.GPR[arch.RSP], "host RSP")
	assert.Equal(t, uint64(0x5A5A5A5A), c.GPR[arch.RBX], "GPRs are the guest's")
	assert.Equal(t, uint64(10), vmcsField(t, c, 0x4402), "exit reason")
	assert.Equal(t, uint64(2), vmcsField(t, c, 0x440C), "VM-exit instruction length")
	assert.Equal(t, uint64(0x11007), vmcsField(t, c, 0x681E), "guest RIP: the CPUID")
	assert.Equal(t, uint64(0x42), binary.LittleEndian.Uint64(ram[0x5018:]), "MSR-store: the guest's IA32_SYSENTER_CS")
	assert.Equal(t, uint64(0x99), c.SysenterCS, "MSR-load: the host's IA32_SYSENTER_CS")

	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x681E, 0x11009, true).Kind)
	c.halted = false
	c.Run(3) // VMRESUME, mov, hlt
	assert.True(t, c.vmx.Guest(), "in the guest")
	assert.True(t, c.Halted(), "the guest's HLT")
	assert.Equal(t, uint64(0x77), c.GPR[arch.RCX])
	assert.Equal(t, uint64(0x42), c.SysenterCS, "the VM-entry MSR-load area")
	assert.Equal(t, []uint32{10}, exits)
}

// TestVMEntryMSRLoadFails: an entry of the VM-entry MSR-load area naming
// IA32_FS_BASE fails VM entry with exit reason 34 (bit 31 set) and the
// entry's 1-based index as exit qualification; host state is loaded (SDM
// Vol. 3C 27.4, 27.8).
func TestVMEntryMSRLoadFails(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	ram := h.bus.ram
	binary.LittleEndian.PutUint64(ram[0x5000:], 0x174)
	binary.LittleEndian.PutUint64(ram[0x5010:], 0xC0000100)
	for enc, val := range map[uint64]uint64{0x4014: 2, 0x200A: 0x5000} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	var outcomes []vmx.Outcome
	c.Hooks = &Hooks{VMX: func(_ *CPU, o *vmx.Outcome) { outcomes = append(outcomes, *o) }}
	copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	c.Run(1)
	require.Len(t, outcomes, 1)
	assert.Equal(t, vmx.EntryFailed, outcomes[0].Kind)
	assert.Contains(t, outcomes[0].Why, "IA32_FS_BASE")
	assert.Equal(t, uint64(34|1<<31), vmcsField(t, c, 0x4402))
	assert.Equal(t, uint64(2), vmcsField(t, c, 0x6400), "the second entry failed")
	assert.Equal(t, uint64(0x12000), c.RIP, "host RIP")
	assert.False(t, c.vmx.Guest())
}

// BenchmarkVMExitRoundTrip: one VMRESUME, the guest's CPUID exiting
// (reason 10) and the host state loaded, per iteration — the cost a
// hypervisor's exit loop pays per exit (docs/PERFORMANCE.md). novpid:
// "enable VPID" 0, so entry and exit invalidate VPID 0000H's
// translations (SDM Vol. 3C 29.4.3.1); vpid: VPID 1, no invalidation.
func BenchmarkVMExitRoundTrip(b *testing.B) {
	for _, vpid := range []bool{false, true} {
		name := "novpid"
		if vpid {
			name = "vpid"
		}
		b.Run(name, func(b *testing.B) {
			h := vmxHarness(b)
			guestVMCS(b, h)
			c := h.c
			if vpid {
				// "activate secondary controls", "enable VPID", VPID 1.
				for enc, val := range map[uint64]uint64{0x4002: 0x04006172 | 1<<31, 0x401E: 1 << 5, 0x0000: 1} {
					require.Equal(b, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
				}
			}
			copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
			copy(h.bus.ram[0x11000:], []byte{0x0F, 0xA2})           // cpuid
			copy(h.bus.ram[0x12000:], []byte{0x0F, 0x01, 0xC3})     // VMRESUME
			c.Run(1)                                                // VMLAUNCH: in the guest, at its CPUID
			require.True(b, c.vmx.Guest(), "VMLAUNCH entered the guest")
			var exits int
			c.Hooks = &Hooks{VMExit: func(*CPU, uint32, vmx.ExitInfo) { exits++ }}
			b.ReportAllocs()
			b.ResetTimer()
			t0 := processCPUTime()
			c.Run(uint64(b.N)) // each CPUID exits (not retired); each VMRESUME retires
			b.StopTimer()
			b.ReportMetric(float64(processCPUTime()-t0)/float64(b.N), "ns-cpu/op")
			if exits != b.N || !c.vmx.Guest() || c.RIP != 0x11000 {
				b.Fatalf("%d exits for %d iterations; RIP %#x", exits, b.N, c.RIP)
			}
		})
	}
}

// BenchmarkVMREADInsn: the VMREAD instruction in VMX root operation
// (VMREAD EBX, EAX of the guest RIP field, 32-bit mode), one per
// iteration with a JMP back, a VMX hook installed as vmxemu's fault
// summary installs one: the #UD/#GP checks, the read, RFLAGS of VMsucceed
// (SDM Vol. 3C 31.3 VMREAD).
func BenchmarkVMREADInsn(b *testing.B) {
	h := vmxHarness(b)
	c := h.c
	// mov eax, 681EH; 1: vmread ebx, eax; jmp 1b
	copy(h.bus.ram[harnessCode:], []byte{0xB8, 0x1E, 0x68, 0x00, 0x00, 0x0F, 0x78, 0xC3, 0xEB, 0xFB})
	var n int
	c.Hooks = &Hooks{VMX: func(*CPU, *vmx.Outcome) { n++ }}
	c.Run(1)
	b.ReportAllocs()
	b.ResetTimer()
	t0 := processCPUTime()
	c.Run(2 * uint64(b.N))
	b.StopTimer()
	b.ReportMetric(float64(processCPUTime()-t0)/float64(b.N), "ns-cpu/op")
	if n != b.N {
		b.Fatalf("%d VMREADs for %d iterations", n, b.N)
	}
}

// TestVMExitRoundTripAllocs: a VM exit (guest CPUID, reason 10) and the
// host's VMRESUME allocate nothing, once the blocks are decoded (issue 18:
// no allocation per exit).
func TestVMExitRoundTripAllocs(t *testing.T) {
	h := vmxHarness(t)
	guestVMCS(t, h)
	c := h.c
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	copy(h.bus.ram[0x11000:], []byte{0x0F, 0xA2})           // cpuid
	copy(h.bus.ram[0x12000:], []byte{0x0F, 0x01, 0xC3})     // VMRESUME
	c.Run(1)                                                // VMLAUNCH: in the guest, at its CPUID
	var exits int
	c.Hooks = &Hooks{VMExit: func(*CPU, uint32, vmx.ExitInfo) { exits++ }}
	c.Run(10) // decode the blocks
	allocs := testing.AllocsPerRun(1000, func() { c.Run(1) })
	assert.Equal(t, float64(0), allocs, "allocations per round trip")
	// 10 + AllocsPerRun's warm-up call + its 1000 runs.
	assert.Equal(t, 1011, exits, "one exit per VMRESUME")
	assert.True(t, c.vmx.Guest())
}

// TestVMXOutcomeFlags: the RFLAGS of VMsucceed and VMfailValid (SDM Vol.
// 3C 31.2) after an instruction that left its arithmetic flags in the
// lazy record: CF, PF, AF, ZF, SF and OF are cleared (ZF then set for
// VMfailValid) whatever that record says, and every other flag (DF, IF,
// TF off here) keeps its value.
func TestVMXOutcomeFlags(t *testing.T) {
	for _, tc := range []struct {
		name string
		pre  []byte // sets arithmetic flags lazily (and DF)
		insn []byte
		want uint64 // RFLAGS after insn
	}{
		// STD; MOV EAX,-1; ADD EAX,1 (CF ZF AF PF); VMREAD EBX,EAX... of
		// a field that exists (guest RIP, 681EH in ECX).
		{"VMsucceed after ADD carry", []byte{0xFD, 0xB8, 0xFF, 0xFF, 0xFF, 0xFF, 0x83, 0xC0, 0x01, 0xB9, 0x1E, 0x68, 0, 0},
			[]byte{0x0F, 0x78, 0xCB}, arch.FlagRes1 | arch.FlagDF},
		// CLD; MOV EAX,0x7FFFFFFF; ADD EAX,1 (OF SF AF PF); VMWRITE ECX=guest RIP from EAX.
		{"VMsucceed after ADD overflow", []byte{0xFC, 0xB8, 0xFF, 0xFF, 0xFF, 0x7F, 0x83, 0xC0, 0x01, 0xB9, 0x1E, 0x68, 0, 0},
			[]byte{0x0F, 0x79, 0xC8}, arch.FlagRes1},
		// STD; SUB EAX,EAX after MOV ECX,1 (CF... ZF PF); VMREAD of field 1 (no such field): VMfailValid(12).
		{"VMfailValid after SUB", []byte{0xFD, 0x29, 0xC0, 0xB9, 0x01, 0, 0, 0},
			[]byte{0x0F, 0x78, 0xCB}, arch.FlagRes1 | arch.FlagDF | arch.FlagZF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmxHarness(t)
			c := h.c
			code := append(append(append([]byte{}, tc.pre...), tc.insn...), 0xF4)
			copy(h.bus.ram[harnessCode:], code)
			c.code.written(c, harnessCode>>12)
			n := uint64(0)
			for i := 0; i < len(tc.pre); {
				var in Inst
				require.True(t, c.code.t.decode(tc.pre[i:], mode32, &in))
				i += int(in.len)
				n++
			}
			c.Run(n + 1)
			require.Equal(t, uint64(harnessCode+len(tc.pre)+len(tc.insn)), c.RIP, "the VMX instruction retired")
			assert.Equal(t, tc.want, c.Flags(), "RFLAGS %#x", c.Flags())
		})
	}
}

// TestVMXHookFailuresOnly: Hooks.VMX with VMXFailuresOnly sees the VMX
// instructions that did not end in VMsucceed and none of those that did;
// without it, all of them. The program: VMREAD of the guest RIP
// (VMsucceed), VMWRITE of the exit-reason field (read-only without
// IA32_VMX_MISC[29] on Sandy Bridge EP: VMfailValid(13), SDM Vol. 3C 31.3
// VMWRITE, 31.4), VMLAUNCH of a VMCS that passes every check
// (VMsucceed: the guest runs), the guest's CPUID exits, VMRESUME
// (VMsucceed).
func TestVMXHookFailuresOnly(t *testing.T) {
	for _, only := range []bool{false, true} {
		h := vmxHarness(t)
		guestVMCS(t, h)
		c := h.c
		var kinds []vmx.Kind
		var insns []vmx.Insn
		c.Hooks = &Hooks{VMX: func(_ *CPU, o *vmx.Outcome) {
			kinds = append(kinds, o.Kind)
			insns = append(insns, o.Insn)
		}, VMXFailuresOnly: only}
		// mov eax, 681EH; vmread ebx, eax; mov eax, 4402H; vmwrite eax, ebx; vmlaunch
		copy(h.bus.ram[harnessCode:], []byte{0xB8, 0x1E, 0x68, 0x00, 0x00, 0x0F, 0x78, 0xC3,
			0xB8, 0x02, 0x44, 0x00, 0x00, 0x0F, 0x79, 0xC3, 0x0F, 0x01, 0xC2})
		copy(h.bus.ram[0x11000:], []byte{0x0F, 0xA2})       // cpuid
		copy(h.bus.ram[0x12000:], []byte{0x0F, 0x01, 0xC3}) // VMRESUME
		c.Run(6)                                            // ..., VMLAUNCH, CPUID (exits), VMRESUME
		require.True(t, c.vmx.Guest(), "the VMRESUME entered the guest")
		if only {
			assert.Equal(t, []vmx.Kind{vmx.FailValid}, kinds, "failures only")
			assert.Equal(t, []vmx.Insn{vmx.InsnVMWRITE}, insns)
		} else {
			assert.Equal(t, []vmx.Kind{vmx.Succeed, vmx.FailValid, vmx.Succeed, vmx.Succeed}, kinds, "every outcome")
			assert.Equal(t, []vmx.Insn{vmx.InsnVMREAD, vmx.InsnVMWRITE, vmx.InsnVMLAUNCH, vmx.InsnVMRESUME}, insns)
		}
	}
}

// TestVMXINITAtEntry: an INIT that arrives in VMX root operation is held
// (blocked there: SDM Vol. 3C 24.8); VM entry unblocks it, and it is a VM
// exit (reason 3: 26.2) at the guest's first instruction boundary, before
// any guest instruction runs — the attention word is brought up to date
// by the entry. Likewise the VM exit blocks it again: the host runs on.
func TestVMXINITAtEntry(t *testing.T) {
	h := vmxHarness(t)
	guestVMCS(t, h)
	c := h.c
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	for i := 0; i < 16; i++ {
		h.bus.ram[0x11000+i] = 0x90 // the guest: NOPs
		h.bus.ram[0x12000+i] = 0x90 // the host after the exit: NOPs
	}
	var reasons []uint32
	c.Hooks = &Hooks{VMExit: func(_ *CPU, r uint32, _ vmx.ExitInfo) { reasons = append(reasons, r) }}
	c.BlockINIT(true) // as the VMXON instruction does (vmxHarness calls the vmx package)
	c.RaiseINIT()
	c.Run(6) // VMLAUNCH (the INIT held until then), the INIT's exit, the host's NOPs
	require.Equal(t, []uint32{vmx.ExitINIT}, reasons, "the INIT exits before the guest's first instruction")
	rip, _ := c.vmx.VMREAD(0x681E, true)
	assert.Equal(t, uint64(0x11000), rip, "guest RIP saved: no guest instruction ran")
	assert.False(t, c.vmx.Guest())
	assert.Greater(t, c.RIP, uint64(0x12000), "the host runs on (INIT blocked again, nothing pending)")
}

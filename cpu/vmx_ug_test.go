package cpu

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"github.com/vmxemu/vmxemu/vmx"
)

// Unrestricted guest in the core (SDM Vol. 3C 25.6.2, 26.3, 27.3.2.1,
// 28.3): a guest launched in real-address mode under EPT runs real-mode
// code, switches to unpaged protected mode (linear = guest-physical,
// translated through EPT), then to IA-32e mode with paging, and exits
// with VMCALL; the VMCS then holds the guest state of a 64-bit guest and
// the "IA-32e mode guest" entry control set from EFER.LMA.

const (
	ugSec     = 1<<1 | 1<<7 // enable EPT, unrestricted guest
	ugGDT     = 0x4000
	ugGDTR    = 0x4100
	ugPML4    = 0x40000
	ugData    = 0x18000
	ugMSRBmap = 0x7000
)

// ugGuest is the guest: real mode at CS 1000H (base 10000H), IP 1000H.
const ugGuest = `
start:
  mov ax, 0x1234
  add ax, 0x1111          ; 2345H, INT-less real-mode arithmetic
  mov bx, 0x1800
  mov es, bx              ; real-mode segment load: base 18000H
  mov [es:0], ax
  jmp 0x1000:far_target   ; far jump: CS reloaded, base = selector << 4
far_target:
  xor bx, bx
  mov ds, bx
  lgdt [0x4100]
  mov eax, cr0
  or al, 1
  mov cr0, eax            ; protected mode, paging off
  jmp dword 0x08:(0x10000+pm32)
bits 32
pm32:
  mov ax, 0x10
  mov ds, ax
  mov es, ax
  mov ss, ax
  mov esp, 0x9000
  mov dword [0x18004], 0xCAFE  ; unpaged: linear = guest-physical
  mov eax, cr4
  or eax, 0x20            ; PAE
  mov cr4, eax
  mov eax, 0x40000
  mov cr3, eax
  mov ecx, 0xC0000080
  rdmsr
  or eax, 0x100           ; EFER.LME (the MSR bitmap lets it through)
  wrmsr
  mov eax, cr0
  or eax, 0x80000000
  mov cr0, eax            ; paging with LME: IA-32e mode, EFER.LMA = 1
  jmp 0x18:(0x10000+lm64)
bits 64
lm64:
  mov rax, 0x1122334455667788
  mov [0x18008], rax
  vmcall
`

// ugPlatform is harnessPlatform reporting what a VMX processor with
// IA-32e mode reports: CPUID.1:ECX.VMX (bit 5), CPUID.80000001H:EDX.LM
// (bit 29), so that the guest may keep CR4.VMXE and set EFER.LME.
type ugPlatform struct{ harnessPlatform }

func (ugPlatform) CPUID(c *CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	switch leaf {
	case 0:
		return 1, 0, 0, 0
	case 1:
		return 0, 0, 1 << 5, 0
	case 0x80000000:
		return 0x80000001, 0, 0, 0
	case 0x80000001:
		return 0, 0, 0, 1 << 29
	}
	return 0, 0, 0, 0
}

// ugHarness is eptHarness with "unrestricted guest" and a real-mode guest
// at 1000H:1000H (CR0 = NE|ET), the GDT and long-mode page tables it
// loads, and a zero MSR bitmap (RDMSR/WRMSR do not exit).
func ugHarness(t *testing.T, model string, code []byte) *harness {
	t.Helper()
	h := eptHarness(t, model, ugSec, eptEPTP, 0)
	h.c.platform = ugPlatform{}
	h.c.RefreshFeatures()
	ram := h.bus.ram
	put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
	put(ugGDT+8, 0x00CF9B000000FFFF)  // 08H: flat 32-bit code
	put(ugGDT+16, 0x00CF93000000FFFF) // 10H: flat data
	put(ugGDT+24, 0x00AF9B000000FFFF) // 18H: 64-bit code
	binary.LittleEndian.PutUint16(ram[ugGDTR:], 0x1F)
	binary.LittleEndian.PutUint32(ram[ugGDTR+2:], ugGDT)
	put(ugPML4, ugPML4+0x1000|3)
	put(ugPML4+0x1000, ugPML4+0x2000|3)
	put(ugPML4+0x2000, 0|0x83)
	put(ugPML4+0x2008, 2<<20|0x83)
	fields := map[uint64]uint64{
		0x4002: 0x04006172 | 1<<31 | 1<<28, 0x2004: ugMSRBmap,
		0x6800: arch.CR0NE | arch.CR0ET, 0x6804: arch.CR4VMXE, 0x6802: 0,
		0x681E: 0x1000, 0x681C: 0x8000, 0x6820: 2,
	}
	for i := uint64(0); i < 6; i++ {
		sel, ar := uint64(0), uint64(0x93)
		if i == arch.CS {
			sel, ar = 0x1000, 0x9B
		}
		fields[0x0800+2*i], fields[0x6806+2*i], fields[0x4800+2*i], fields[0x4814+2*i] = sel, sel<<4, 0xFFFF, ar
	}
	for enc, val := range fields {
		require.Equal(t, vmx.Succeed, h.c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	copy(ram[0x11000:], code)
	return h
}

// TestUnrestrictedGuestModeSwitches: real mode → unpaged protected mode →
// IA-32e mode under EPT, then VMCALL (exit reason 18). The VMCS holds the
// 64-bit guest's state (28.3): CR0 with PE and PG, CR4.PAE, CS 18H with
// L = 1, RIP at the VMCALL, and "IA-32e mode guest" = EFER.LMA = 1
// (IA32_VMX_MISC[5]), the guest IA32_EFER field (with "save IA32_EFER")
// LME|LMA; the host gets its own 32-bit state back (28.5.1:
// EFER.LMA = LME = "host address-space size" = 0).
func TestUnrestrictedGuestModeSwitches(t *testing.T) {
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		t.Run(model, func(t *testing.T) {
			h := ugHarness(t, model, ugAssemble(t, 16, 0x1000, ugGuest))
			c := h.c
			// "save IA32_EFER" (exit control 20) on top of the defaults.
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(0x400C, 0x00036DFB|1<<20, true).Kind)
			exits := exitRecorder(c)
			c.Run(200)
			require.Equal(t, []uint32{vmx.ExitVMCALL}, *exits, "one VM exit: VMCALL")
			assert.True(t, c.Halted(), "the host's HLT")
			ram := h.bus.ram
			assert.Equal(t, uint16(0x2345), binary.LittleEndian.Uint16(ram[ugData:]), "real-mode store through ES")
			assert.Equal(t, uint32(0xCAFE), binary.LittleEndian.Uint32(ram[ugData+4:]), "unpaged protected-mode store")
			assert.Equal(t, uint64(0x1122334455667788), binary.LittleEndian.Uint64(ram[ugData+8:]), "64-bit store")
			assert.Equal(t, uint64(0x1122334455667788), c.GPR[arch.RAX], "the guest's RAX")

			assert.Equal(t, uint64(0x11089), vmcsField(t, c, 0x681E), "guest RIP: the VMCALL (linear 11089H, flat 64-bit CS)")
			assert.Equal(t, uint64(3), vmcsField(t, c, 0x440C), "VMCALL's length")
			assert.Equal(t, uint64(arch.CR0PG|arch.CR0NE|arch.CR0ET|arch.CR0PE), vmcsField(t, c, 0x6800), "guest CR0")
			assert.Equal(t, uint64(arch.CR4VMXE|arch.CR4PAE), vmcsField(t, c, 0x6804), "guest CR4")
			assert.Equal(t, uint64(ugPML4), vmcsField(t, c, 0x6802), "guest CR3")
			assert.Equal(t, uint64(0x18), vmcsField(t, c, 0x0802), "guest CS selector")
			assert.NotZero(t, vmcsField(t, c, 0x4816)&arch.ARL, "guest CS.L")
			assert.Equal(t, uint64(0x10), vmcsField(t, c, 0x0804), "guest SS selector")
			assert.Equal(t, uint64(ugGDT), vmcsField(t, c, 0x6816), "guest GDTR base")
			assert.Equal(t, uint64(0x1F), vmcsField(t, c, 0x4810), "guest GDTR limit")
			assert.NotZero(t, vmcsField(t, c, 0x4012)&(1<<9), "\"IA-32e mode guest\" saved from EFER.LMA")
			assert.Equal(t, uint64(arch.EFERLME|arch.EFERLMA), vmcsField(t, c, 0x2806), "guest IA32_EFER saved: LME from WRMSR, LMA from CR0.PG")
			assert.Zero(t, c.EFER&(arch.EFERLMA|arch.EFERLME), "the 32-bit host's EFER")
			assert.Equal(t, uint64(0x12001), c.RIP, "host RIP, its HLT retired")
		})
	}
}

// TestUnrestrictedGuestCR0Exits: with PE and PG in the CR0 guest/host
// mask, the real-mode guest's MOV to CR0 that sets PE (differing from the
// read shadow's 0) exits with reason 28, qualification CR 0, access type
// 0 (MOV to CR), register EAX (SDM Vol. 3C 26.1.3, Table 28-3) — before
// the mode changes; a MOV that keeps the owned bits as the shadow has
// them does not exit, and MOV from CR0 reads the shadow's PE/PG (26.3).
func TestUnrestrictedGuestCR0Exits(t *testing.T) {
	h := ugHarness(t, "sandybridge-ep", ugAssemble(t, 16, 0x1000, `
  mov eax, cr0           ; 1000H: PE = 0 and PG = 1 from the read shadow
  mov ebx, eax           ; 1003H
  mov cr0, eax           ; 1006H: owned bits as the shadow has them: no exit
  or al, 1               ; 1009H
  mov cr0, eax           ; 100BH: PE 0 -> 1 against the shadow's 0: exit
  hlt
`))
	c := h.c
	for enc, val := range map[uint64]uint64{0x6000: arch.CR0PE | arch.CR0PG, 0x6004: arch.CR0PG} { // mask, read shadow
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	exits := exitRecorder(c)
	c.Run(50)
	require.Equal(t, []uint32{vmx.ExitCRAccess}, *exits)
	assert.Equal(t, uint64(arch.CR0PG|arch.CR0NE|arch.CR0ET), c.GPR[arch.RBX]&0xFFFFFFFF, "MOV from CR0: PE and PG from the read shadow, the rest real")
	assert.Equal(t, uint64(0x100B), vmcsField(t, c, 0x681E), "the second MOV to CR0 exited")
	assert.Equal(t, uint64(0), vmcsField(t, c, 0x6400), "qualification: CR0, MOV to CR, EAX")
	assert.Zero(t, vmcsField(t, c, 0x6800)&arch.CR0PE, "guest CR0.PE still 0")
}

// TestUnrestrictedGuestClearsPE: under "unrestricted guest" an unpaged
// protected-mode guest may clear CR0.PE (fixed bits exempt, 26.3) and
// run real-mode code; without it the same MOV faults (#GP(0), 24.8) —
// with #GP in the exception bitmap, an exit with reason 0.
func TestUnrestrictedGuestClearsPE(t *testing.T) {
	code := `
bits 32
  mov eax, cr0
  and eax, ~1
  mov cr0, eax
  vmcall
`
	for _, urg := range []bool{true, false} {
		h := ugHarness(t, "sandybridge-ep", ugAssemble(t, 32, 0x11000, code))
		c := h.c
		sec := uint64(ugSec)
		if !urg {
			sec = 1 << 1
		}
		fields := map[uint64]uint64{0x401E: sec, 0x4004: 1 << arch.VecGP, 0x6800: arch.CR0PE | arch.CR0NE | arch.CR0ET | arch.CR0PG, 0x6804: arch.CR4VMXE | arch.CR4PSE,
			0x6802: 0x3000, 0x681E: 0x11000}
		for i := uint64(0); i < 6; i++ {
			sel, ar := uint64(0x10), uint64(0xC093)
			if i == arch.CS {
				sel, ar = 0x08, 0xC09B
			}
			fields[0x0800+2*i], fields[0x6806+2*i], fields[0x4800+2*i], fields[0x4814+2*i] = sel, 0, 0xFFFFFFFF, ar
		}
		if urg {
			fields[0x6800] = arch.CR0PE | arch.CR0NE | arch.CR0ET // unpaged
		}
		for enc, val := range fields {
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
		}
		exits := exitRecorder(c)
		c.Run(50)
		if urg {
			require.Equal(t, []uint32{vmx.ExitVMCALL}, *exits)
			assert.Zero(t, vmcsField(t, c, 0x6800)&arch.CR0PE, "the guest is in real mode")
			continue
		}
		require.Equal(t, []uint32{vmx.ExitExceptionNMI}, *exits)
		assert.Equal(t, uint64(1<<31|1<<11|3<<8|arch.VecGP), vmcsField(t, c, 0x4404), "#GP(0) with error code")
	}
}

// ugAssemble assembles src with nasm at origin org in bits-bit mode (the
// package-internal twin of cpu_test's nasm helper; a missing nasm fails
// in CI, internal/testenv).
func ugAssemble(t *testing.T, bits int, org uint64, src string) []byte {
	t.Helper()
	path := testenv.NeedTool(t, "nasm", "the unrestricted-guest tests assemble their guests with nasm")
	dir := t.TempDir()
	in, out := filepath.Join(dir, "g.asm"), filepath.Join(dir, "g.bin")
	require.NoError(t, os.WriteFile(in, []byte(fmt.Sprintf("bits %d\norg %#x\n%s\n", bits, org, src)), 0o644))
	msg, err := exec.Command(path, "-f", "bin", "-o", out, in).CombinedOutput()
	require.NoError(t, err, "nasm: %s", msg)
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

// TestUnrestrictedGuestEPTViolation: a real-mode guest's data access is a
// guest-physical access at linear address = segment base + offset; a
// not-present EPT entry exits with reason 48, qualification read (bit 0),
// guest-linear address valid (7) and the access to the translation of a
// linear address (8) (SDM Vol. 3C Table 28-7; Sandy Bridge EP has no
// advanced VM-exit information), the guest-linear and guest-physical
// addresses, and the guest RIP of the instruction (an offset in CS).
func TestUnrestrictedGuestEPTViolation(t *testing.T) {
	h := ugHarness(t, "sandybridge-ep", ugAssemble(t, 16, 0x1000, `
  mov bx, 0x1000         ; 1000H
  mov ds, bx             ; 1003H
  mov si, [0x5008]       ; 1005H: linear 15008H
  hlt
`))
	c := h.c
	binary.LittleEndian.PutUint64(h.bus.ram[eptPTE(0x15000):], 0)
	exits := exitRecorder(c)
	c.Run(50)
	require.Equal(t, []uint32{vmx.ExitEPTViolate}, *exits)
	assert.Equal(t, uint64(1|1<<7|1<<8), vmcsField(t, c, 0x6400), "exit qualification")
	assert.Equal(t, uint64(0x15008), vmcsField(t, c, 0x640A), "guest-linear address")
	assert.Equal(t, uint64(0x15008), vmcsField(t, c, 0x2400), "guest-physical address")
	assert.Equal(t, uint64(0x1005), vmcsField(t, c, 0x681E), "guest RIP")
	assert.Zero(t, vmcsField(t, c, 0x4012)&(1<<9), "\"IA-32e mode guest\" = EFER.LMA = 0")
}

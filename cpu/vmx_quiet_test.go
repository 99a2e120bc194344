package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// The attention contract of VMX non-root operation (vmxAttn): attnVMX is
// set only while a guest event can be taken, and the run loop looks at the
// guest's events only then. The reference is the contract before it, kept
// behind the test-only switch vmxEveryBlock: the events looked at after
// every block for as long as an event control is on. Both must make the
// same VM exits, deliver the same vectors at the same instruction counts
// and leave the same state, whatever the guest does and whenever the
// events arrive.

// quietIntr is an interrupt controller that queues vectors and kicks the
// CPU when one is raised, as the local APIC does (machine.LocalAPIC
// accept); from instruction count hideUntil on the queue is visible, and
// before it Pending asks to be polled again (a source that cannot kick).
type quietIntr struct {
	c         *CPU
	pend      []uint8
	hideUntil uint64
}

func (s *quietIntr) Pending() bool {
	if len(s.pend) != 0 && s.c.Icount < s.hideUntil {
		s.c.KickInterrupt()
		return false
	}
	return len(s.pend) != 0
}

func (s *quietIntr) Ack() uint8 {
	v := s.pend[0]
	s.pend = s.pend[1:]
	return v
}

func (s *quietIntr) raise(v uint8) {
	s.pend = append(s.pend, v)
	s.c.KickInterrupt()
}

// quietGuest is a random 32-bit guest program at 0x11000 that loops
// forever: straight-line ALU instructions, STI and CLI, counted loops
// (blocks that run back to back), MOV SS (blocking by MOV SS), PUSHF/POPF,
// CPUID (an exit the host skips), HLT, and jumps that end blocks.
func quietGuest(rng *rand.Rand) []byte {
	var code []byte
	for n := 10 + rng.Intn(30); n > 0; n-- {
		switch rng.Intn(14) {
		case 0, 1:
			code = append(code, 0x40) // inc eax
		case 2:
			code = append(code, 0x01, 0xC3) // add ebx, eax
		case 3, 4:
			code = append(code, 0xFB) // sti
		case 5:
			code = append(code, 0xFA) // cli
		case 6, 7:
			k := byte(1 + rng.Intn(60))
			code = append(code, 0xB9, k, 0, 0, 0, 0x49, 0x75, 0xFD) // mov ecx, k; dec ecx; jnz $-1
		case 8:
			code = append(code, 0x8C, 0xD2, 0x8E, 0xD2) // mov edx, ss; mov ss, edx
		case 9:
			code = append(code, 0x9C, 0x9D) // pushf; popf
		case 10:
			if rng.Intn(3) == 0 {
				code = append(code, 0x0F, 0xA2) // cpuid
			} else {
				code = append(code, 0x90)
			}
		case 11:
			if rng.Intn(4) == 0 {
				code = append(code, 0xF4) // hlt
			} else {
				code = append(code, 0x90)
			}
		case 12:
			code = append(code, 0xEB, 0x00) // jmp $+2
		case 13:
			code = append(code, 0x90, 0x90, 0x90)
		}
	}
	back := -(len(code) + 5)
	code = append(code, 0xE9) // jmp 0x11000
	return binary.LittleEndian.AppendUint32(code, uint32(int32(back)))
}

// quietControls writes random event controls and guest event state for
// the next VM entry, within the checks of SDM Vol. 3C 27.2.1.1 ("virtual
// NMIs" needs "NMI exiting", "NMI-window exiting" needs "virtual NMIs"),
// 27.2.1.2 ("save VMX-preemption timer value" needs the timer) and
// 27.3.1.5 (blocking by STI needs RFLAGS.IF = 1; the HLT state no
// blocking by STI or MOV SS).
func quietControls(t *testing.T, c *CPU, rng *rand.Rand) {
	pin, proc, exit := uint64(snbPinDefault), uint64(snbProcDefault), uint64(snbExitDefault)
	if rng.Intn(3) != 0 {
		pin |= pinExtInt
	}
	if rng.Intn(3) != 0 {
		pin |= pinNMI
		if rng.Intn(2) == 0 {
			pin |= pinVNMI
			if rng.Intn(4) == 0 {
				proc |= procNMIW
			}
		}
	}
	if rng.Intn(3) == 0 {
		pin |= pinTimer
		if rng.Intn(2) == 0 {
			exit |= exitSaveTm
		}
		write(t, c, fTimer, uint64(rng.Intn(40)))
	}
	if rng.Intn(6) == 0 {
		proc |= procIntrW
	}
	if rng.Intn(12) == 0 {
		proc |= procMTF
	}
	if rng.Intn(2) == 0 {
		exit |= exitAck
	}
	write(t, c, fPin, pin)
	write(t, c, fProc, proc)
	write(t, c, fExit, exit)
	flags := vmcsField(t, c, fGuestFlags)
	state := vmcsField(t, c, fIntrState)
	switch rng.Intn(4) {
	case 0:
		flags |= arch.FlagIF
	case 1:
		flags &^= arch.FlagIF
		state &^= 1
	}
	if rng.Intn(4) == 0 {
		state ^= 8 // blocking by NMI, or virtual-NMI blocking
	}
	write(t, c, fGuestFlags, flags)
	write(t, c, fIntrState, state)
	act := uint64(0)
	if rng.Intn(8) == 0 && state&3 == 0 {
		act = 1 // HLT, which blocking by STI or MOV SS excludes
	}
	write(t, c, fActivity, act)
}

func write(t *testing.T, c *CPU, enc, v uint64) {
	t.Helper()
	require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, v, true).Kind, "%#x", enc)
}

// quietRun runs one random scenario (seed) under either contract and
// returns its log: every VM exit and event delivery with the instruction
// count and virtual time, every run's outcome, and the final state.
func quietRun(t *testing.T, seed int64, everyBlock bool) []string {
	h := vmxHarness(t)
	c := h.c
	c.vmxEveryBlock = everyBlock
	guestVMCS(t, h)
	ram := h.bus.ram
	guestIDT(ram)
	rng := rand.New(rand.NewSource(seed))
	copy(ram[0x11000:], quietGuest(rng))
	copy(ram[0x13000:], []byte{0x46, 0xCF})           // the guest's handlers: inc esi; iret
	copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	// The host: HLT in a loop, where the test takes its turn, then
	// VMRESUME at 0x12010; its NMIs go to the guest's handler too.
	copy(ram[0x12000:], []byte{0xF4, 0xEB, 0xFD})
	copy(ram[0x12010:], []byte{0x0F, 0x01, 0xC3})
	for enc, v := range map[uint64]uint64{fGuestIDTR: 0x6000, fGuestIDTL: 0x1FF, 0x6816: 0x7000, 0x4810: 0x17,
		0x6C0C: 0x7000, 0x6C0E: 0x6000} { // host GDTR and IDTR bases
		write(t, c, enc, v)
	}
	quietControls(t, c, rng)
	src := &quietIntr{c: c}
	c.SetInterruptSource(src)
	var log []string
	var entryWhy string
	c.Hooks = &Hooks{
		VMX: func(_ *CPU, o *vmx.Outcome) { entryWhy = o.Why },
		VMExit: func(c *CPU, r uint32, info vmx.ExitInfo) {
			log = append(log, fmt.Sprintf("exit %d %+v icount %d clock %d", r, info, c.Icount, c.Clock()))
		},
		Exception: func(c *CPU, vec uint8, _ *arch.Fault, ext bool) {
			log = append(log, fmt.Sprintf("event %#x external %v icount %d rip %#x", vec, ext, c.now(), c.RIP))
		},
	}
	for range 300 {
		switch rng.Intn(10) {
		case 0:
			c.RaiseNMI()
		case 1, 2:
			src.raise(uint8(0x20 + rng.Intn(0x20)))
		case 3:
			src.hideUntil = c.Icount + uint64(rng.Intn(100))
			src.raise(uint8(0x20 + rng.Intn(0x20)))
		case 4:
			c.Idle(uint64(rng.Intn(300)))
		}
		why := c.Run(uint64(1 + rng.Intn(80)))
		guest := c.vmx.Guest()
		log = append(log, fmt.Sprintf("run %v icount %d clock %d rip %#x guest %v", why, c.Icount, c.Clock(), c.RIP, guest))
		if guest || !c.halted {
			if guest && c.halted {
				c.Idle(uint64(rng.Intn(100))) // the board's idle time
			}
			continue
		}
		// The host's turn, at its HLT: the guest's CPUID is skipped,
		// then new controls and VMRESUME.
		if r := vmcsField(t, c, fExitReason); r == 10 {
			write(t, c, fGuestRIP, vmcsField(t, c, fGuestRIP)+vmcsField(t, c, fExitLen))
		} else if r>>31 != 0 {
			t.Fatalf("seed %d: VM entry failed, reason %#x: %s", seed, r, entryWhy)
		}
		quietControls(t, c, rng)
		c.halted = false
		c.RIP = 0x12010
	}
	log = append(log, fmt.Sprintf("final %x rip %#x flags %#x icount %d clock %d nmi %v/%v intr %v",
		c.GPR[:8], c.RIP, c.Flags(), c.Icount, c.Clock(), c.nmiPending, c.nmiBlocked, src.pend))
	return log
}

// TestVMXQuietAttention compares the attention contract of VMX non-root
// operation with checking the guest's events after every block on random
// guests, controls and event arrivals, and checks that the scenarios reach
// every event-driven exit (SDM Vol. 3C 26.2, 26.7: external interrupt 1,
// NMI 0, interrupt window 7, NMI window 8, MTF 37, preemption timer 52)
// and deliveries through the guest's IDT.
func TestVMXQuietAttention(t *testing.T) {
	seen := map[string]int{}
	seeds := 300
	if testing.Short() {
		seeds = 60
	}
	for seed := range int64(seeds) {
		ref := quietRun(t, seed, true)
		got := quietRun(t, seed, false)
		if i := firstDiff(ref, got); i >= 0 {
			lo := max(i-6, 0)
			t.Fatalf("seed %d: the contracts differ at line %d\nevery block:\n%s\nattention:\n%s", seed, i,
				strings.Join(ref[lo:min(i+4, len(ref))], "\n"), strings.Join(got[lo:min(i+4, len(got))], "\n"))
		}
		for _, l := range ref {
			var r uint32
			if _, err := fmt.Sscanf(l, "exit %d", &r); err == nil {
				seen[fmt.Sprintf("exit %d", r)]++
			}
			var v uint8
			var ext bool
			if _, err := fmt.Sscanf(l, "event %v external %v", &v, &ext); err == nil && ext {
				seen["delivered"]++
			}
		}
	}
	for _, k := range []string{"exit 0", "exit 1", "exit 7", "exit 8", "exit 10", "exit 37", "exit 52", "delivered"} {
		assert.NotZero(t, seen[k], "%s never happened: %v", k, seen)
	}
	t.Log(seen)
}

// firstDiff is the index of the first line where a and b differ, or -1.
func firstDiff(a, b []string) int {
	for i := range max(len(a), len(b)) {
		if i >= len(a) || i >= len(b) || a[i] != b[i] {
			return i
		}
	}
	return -1
}

// TestVMXQuietVirtualInterrupt: a virtual interrupt recognized by an
// instruction that kicks nothing — a write to the APIC-access page, which
// virtual-interrupt delivery virtualizes into the virtual-APIC page — is
// delivered at the next instruction boundary (SDM Vol. 3C 30.1.4, 30.1.5,
// 30.2.1, 30.2.2) in one run of many instructions, under either contract:
// the guest's handler (CPUID at 11800H) exits. A self IPI through VICR_LO
// (fixed, shorthand self) and an EOI of 51H that unmasks a pending 31H; a
// VICR_LO write that is not a self IPI makes the APIC-write exit pending
// the same way.
func TestVMXQuietVirtualInterrupt(t *testing.T) {
	const (
		idt, gdt, handler = 0x22000, 0x23000, 0x11800
		vec               = 0x31
	)
	store := func(a uint32) []byte { return append([]byte{0x89, 0x04, 0x25}, le32(a)...) } // mov [a], eax
	for _, tc := range []struct {
		name       string
		status     uint64
		virr, visr uint8
		rax        uint64
		code       []byte
		reason     uint32
		rip        uint64
		statusOut  uint64
	}{
		{name: "self IPI through VICR_LO", rax: 0x00040000 | vec, code: store(apicvPage + 0x300), reason: 10, rip: handler, statusOut: vec << 8},
		{name: "EOI unmasks the next", status: 0x51<<8 | vec, visr: 0x51, virr: vec, code: store(apicvPage + 0xB0), reason: 10, rip: handler, statusOut: vec << 8},
		// VICR_LO with shorthand "all including self": a trap-like
		// APIC-write VM exit after the write (30.4.3.3).
		{name: "APIC-write exit", rax: 0x00080000 | vec, code: store(apicvPage + 0x300), reason: 56, rip: 0x11007},
	} {
		for _, every := range []bool{true, false} {
			t.Run(fmt.Sprintf("%s/everyBlock=%v", tc.name, every), func(t *testing.T) {
				h := vmx64HarnessModel(t, "skylake-sp", map[uint64]uint64{
					0x4000: 0x16 | 1, encTestProc: testProcDefault | procSecondary | vmx.ProcUseTPRShadow | vmx.ProcUseMSRBitmaps,
					encTestProc2: vmx.Proc2VirtualIntrDelivery | vmx.Proc2VirtualizeAPICAccesses, encVAPIC: tprVAPIC, encAPICAccess: apicvPage,
					0x2004: 0x21000, encGuestIDTBase: idt, encGuestIDTLim: 0xFFF, 0x6820: 0x202, 0x6816: gdt, 0x4810: 0x17, 0x0810: tc.status})
				c := h.c
				c.vmxEveryBlock = every
				ram := h.bus.ram
				interruptGates64(ram, idt, handler)
				copy(ram[handler:], []byte{0x0F, 0xA2})
				binary.LittleEndian.PutUint64(ram[gdt+8:], 0x00AF9B000000FFFF)
				binary.LittleEndian.PutUint64(ram[gdt+16:], 0x00CF93000000FFFF)
				for base, v := range map[int]uint8{tprVAPIC + 0x200: tc.virr, tprVAPIC + 0x100: tc.visr} {
					if v != 0 {
						ram[base+int(v>>5)*16+int(v&31)/8] |= 1 << (v & 7)
					}
				}
				// The write, then NOPs and a CPUID the delivery must come
				// before.
				copy(ram[0x11000:], append(append(tc.code, nopBlock(20)...), 0x0F, 0xA2))
				c.GPR[arch.RAX] = tc.rax
				c.SetInterruptSource(&quietIntr{c: c}) // nothing pending: the hint is cleared
				exits := exitRecorder(c)
				c.Run(1) // VM entry
				require.True(t, c.vmx.Guest())
				c.Run(40)
				require.Equal(t, []uint32{tc.reason}, *exits, "exit reason")
				assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
				assert.Equal(t, tc.statusOut, vmcsField(t, c, 0x0810), "guest interrupt status (SVI:RVI)")
			})
		}
	}
}

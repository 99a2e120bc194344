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

// VMCS encodings the event tests use (SDM Vol. 3D Appendix B).
const (
	fPin        = 0x4000
	fProc       = 0x4002
	fExcBitmap  = 0x4004
	fExit       = 0x400C
	fEntryInfo  = 0x4016
	fEntryErr   = 0x4018
	fEntryLen   = 0x401A
	fExitReason = 0x4402
	fExitInfo   = 0x4404
	fExitErr    = 0x4406
	fIDTVec     = 0x4408
	fIDTVecErr  = 0x440A
	fExitLen    = 0x440C
	fGuestIDTR  = 0x6818
	fGuestIDTL  = 0x4812
	fGuestRIP   = 0x681E
	fGuestFlags = 0x6820
	fIntrState  = 0x4824
	fActivity   = 0x4826
	fTimer      = 0x482E

	// The default settings of Sandy Bridge EP's TRUE control MSRs (its
	// dump): guestVMCS writes them.
	snbPinDefault  = 0x16
	snbProcDefault = 0x04006172
	snbExitDefault = 0x00036DFB
)

// Control bits (SDM Vol. 3C Tables 25-5, 25-6, 25-13).
const (
	pinExtInt  = 1 << 0
	pinNMI     = 1 << 3
	pinVNMI    = 1 << 5
	pinTimer   = 1 << 6
	procIntrW  = 1 << 2
	procNMIW   = 1 << 22
	procMTF    = 1 << 27
	exitAck    = 1 << 15
	exitSaveTm = 1 << 22
)

// taskGate makes IDT vector vec a task gate to the available 32-bit TSS
// at GDT selector 20H (base 0x9000, limit 67H; SDM Vol. 3A 7.2.2, 7.2.5).
func taskGate(vec int) func(ram []byte) {
	return func(ram []byte) {
		binary.LittleEndian.PutUint64(ram[0x7020:], 0x0000890090000067)
		binary.LittleEndian.PutUint64(ram[0x6000+8*vec:], 0x0000850000200000)
	}
}

// guestDT are the guest's GDTR (guestIDT's GDT) for every scenario.
var guestDT = map[uint64]uint64{0x6816: 0x7000, 0x4810: 0x17}

// testIntr is an interrupt controller with one interrupt, pending from
// instruction count after on, until acknowledged.
type testIntr struct {
	c     *CPU
	after uint64
	vec   uint8
	acks  int
}

func (s *testIntr) Pending() bool {
	if s.c.Icount < s.after {
		s.c.KickInterrupt() // ask again later
		return false
	}
	return s.acks == 0
}

func (s *testIntr) Ack() uint8 { s.acks++; return s.vec }

// snbMiscShift is IA32_VMX_MISC[4:0] of the Sandy Bridge EP dump
// (0x...E5: the VMX-preemption timer counts at the TSC's rate >> 5).
const snbMiscShift = 5

// TestVMXEventExits: one scenario per event-related VM exit, each a
// VMLAUNCH of guestVMCS's guest (32-bit, RIP 0x11000) with one control or
// event changed. The expected exit reason, interruption information,
// IDT-vectoring information, instruction length and guest RIP are those
// the SDM gives (Vol. 3C 26.2, 26.7, 27.6, 27.7, 28.2; Appendix C; the
// field formats of Tables 25-18 and 25-19).
func TestVMXEventExits(t *testing.T) {
	type exp struct {
		reason, info, err, idtVec, idtErr, rip uint64
		length                                 uint64 // checked when nonzero
		qual                                   uint64 // checked when nonzero
	}
	jmpSelf := []byte{0xEB, 0xFE}
	nops := func(n int, tail ...byte) []byte {
		b := make([]byte, n, n+len(tail))
		for i := range b {
			b[i] = 0x90
		}
		return append(b, tail...)
	}
	// push 2 (EFLAGS); push 0 (a null CS); push 0x11000; iret: #GP(0)
	// when IRET loads CS (SDM Vol. 2A IRET "Operation").
	iretNullCS := []byte{0x6A, 0x02, 0x6A, 0x00, 0x68, 0x00, 0x10, 0x01, 0x00, 0xCF}
	var exitAt uint64 // virtual time of the VM exit
	for _, tc := range []struct {
		name   string
		fields map[uint64]uint64
		code   []byte
		intr   *testIntr
		nmi    bool // an NMI arrives after VM entry
		steps  uint64
		want   exp
		check  func(t *testing.T, c *CPU, in *testIntr)
		setup  func(ram []byte)
	}{
		// 26.2, 28.2.2: external-interrupt exiting takes the interrupt
		// whatever RFLAGS.IF; with "acknowledge interrupt on exit" the
		// vector is stored (type 0, valid) and the controller acknowledged.
		{name: "external interrupt, acknowledged on exit",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinExtInt, fExit: snbExitDefault | exitAck},
			code:   jmpSelf, intr: &testIntr{vec: 0x30}, steps: 10,
			want: exp{reason: 1, info: 0x80000030, rip: 0x11000},
			check: func(t *testing.T, c *CPU, in *testIntr) {
				assert.Equal(t, 1, in.acks, "acknowledged once")
			}},
		// Without it the information field is invalid and the interrupt
		// stays pending in the controller.
		{name: "external interrupt, not acknowledged",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinExtInt},
			code:   jmpSelf, intr: &testIntr{vec: 0x30, after: 5}, steps: 10,
			want: exp{reason: 1, info: 0, rip: 0x11000},
			check: func(t *testing.T, c *CPU, in *testIntr) {
				assert.Zero(t, in.acks, "still pending")
				// Pending from instruction 5 on; the clock also holds the
				// entry's latency (vmx_time.go).
				assert.Equal(t, uint64(5+VMEntryLatency), exitAt, "taken at the first boundary where it is pending")
			}},
		// 27.7.2 and 26.2: a guest entered in the HLT state wakes for the
		// interrupt's exit; the activity state saved is HLT (28.3.4).
		{name: "external interrupt wakes the HLT activity state",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinExtInt, fExit: snbExitDefault | exitAck, fActivity: 1},
			code:   jmpSelf, intr: &testIntr{vec: 0x41}, steps: 100,
			want: exp{reason: 1, info: 0x80000041, rip: 0x11000},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(1), vmcsField(t, c, fActivity), "HLT")
			}},
		// 26.2: NMI exiting: reason 0, type NMI (2), vector 2; NMIs are
		// blocked once the exit completes (28.1).
		{name: "NMI exiting",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinNMI},
			code:   jmpSelf, nmi: true, steps: 10,
			want: exp{reason: 0, info: 0x80000202, rip: 0x11000},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.True(t, c.NMIBlocked(), "blocking by NMI after the exit")
			}},
		// 26.7.5: interrupt-window exiting exits before the first
		// instruction when RFLAGS.IF = 1 and nothing blocks.
		{name: "interrupt window open at entry",
			fields: map[uint64]uint64{fProc: snbProcDefault | procIntrW, fGuestFlags: 0x202},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 7, rip: 0x11000}},
		// With blocking by STI the window opens after one instruction.
		{name: "interrupt window after the STI shadow",
			fields: map[uint64]uint64{fProc: snbProcDefault | procIntrW, fGuestFlags: 0x202, fIntrState: 1},
			code:   nops(4, jmpSelf...), steps: 10,
			want: exp{reason: 7, rip: 0x11001}},
		// With RFLAGS.IF = 0 it never opens: the guest runs to CPUID.
		{name: "interrupt window closed by IF=0",
			fields: map[uint64]uint64{fProc: snbProcDefault | procIntrW},
			code:   nops(3, 0x0F, 0xA2), steps: 10,
			want: exp{reason: 10, rip: 0x11003}},
		// 26.7.6: NMI-window exiting (with NMI exiting and virtual NMIs)
		// exits at once without virtual-NMI blocking…
		{name: "NMI window open at entry",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinNMI | pinVNMI, fProc: snbProcDefault | procNMIW},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 8, rip: 0x11000}},
		// …and not while bit 3 of the interruptibility state (virtual-NMI
		// blocking) is 1; the exit saves that bit (28.3.4).
		{name: "NMI window closed by virtual-NMI blocking",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinNMI | pinVNMI, fProc: snbProcDefault | procNMIW, fIntrState: 8},
			code:   nops(2, 0x0F, 0xA2), steps: 10,
			want: exp{reason: 10, rip: 0x11002},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(8), vmcsField(t, c, fIntrState), "virtual-NMI blocking saved")
			}},
		// IRET removes virtual-NMI blocking (26.3): the window opens
		// after it.
		{name: "NMI window opened by IRET",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinNMI | pinVNMI, fProc: snbProcDefault | procNMIW, fIntrState: 8},
			// push 2; push 8; push 0x1100B; iret; (0x1100B:) jmp $
			code: []byte{0x6A, 0x02, 0x6A, 0x08, 0x68, 0x0B, 0x10, 0x01, 0x00, 0xCF, 0x90, 0xEB, 0xFE}, steps: 20,
			want: exp{reason: 8, rip: 0x1100B}},
		// 26.7.4: the VMX-preemption timer, value 10, counts down each
		// time TSC bit 5 changes (IA32_VMX_MISC[4:0]): started at TSC 0 by
		// the VMLAUNCH it reaches 0 when the TSC reaches 10 << 5 = 320; at
		// the harness's 1000 MHz one TSC tick is one nanosecond, so the
		// exit comes at virtual time 320 (the entry's 120 ns latency and
		// 199 guest instructions), and with "save VMX-preemption timer
		// value" the field holds 0 (28.3.4).
		{name: "preemption timer expires",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinTimer, fExit: snbExitDefault | exitSaveTm, fTimer: 10},
			code:   jmpSelf, steps: 400,
			want: exp{reason: 52, rip: 0x11000},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(10<<snbMiscShift), exitAt, "the exit at TSC 320")
				assert.Zero(t, vmcsField(t, c, fTimer))
			}},
		// 27.7.4: the timer can expire during VM entry: value 3 reaches 0
		// at TSC 96, inside the entry's latency (1 + 120 ns: vmx_time.go),
		// so the exit comes before the first guest instruction, when the
		// entry completes.
		{name: "preemption timer expires during VM entry",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinTimer, fExit: snbExitDefault | exitSaveTm, fTimer: 3},
			code:   nops(3, jmpSelf...), steps: 200,
			want: exp{reason: 52, rip: 0x11000},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(1+VMEntryLatency), exitAt, "the exit when the entry completes (guest RIP: no NOP ran)")
				assert.Zero(t, vmcsField(t, c, fTimer))
			}},
		// Another exit saves what is left: the VMLAUNCH (1 ns), the entry's
		// latency (120 ns), 40 NOPs: the CPUID exits at TSC 161, after 5
		// changes of bit 5 (at 32, 64, 96, 128, 160): 100 - 5.
		{name: "preemption timer value saved on another exit",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinTimer, fExit: snbExitDefault | exitSaveTm, fTimer: 100},
			code:   nops(40, 0x0F, 0xA2), steps: 100,
			want: exp{reason: 10, rip: 0x11028},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(161), exitAt)
				assert.Equal(t, uint64(95), vmcsField(t, c, fTimer))
			}},
		// Without "save" the field keeps the value written.
		{name: "preemption timer value kept without save",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 100},
			code:   nops(40, 0x0F, 0xA2), steps: 100,
			want: exp{reason: 10, rip: 0x11028},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(100), vmcsField(t, c, fTimer))
			}},
		// 27.7.4: a timer value of 0 exits before the first instruction,
		// after the injected event is delivered (the guest RIP is the
		// handler's).
		{name: "preemption timer zero after injection",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 0, fEntryInfo: 0x80000000 | 3<<8 | 6,
				fGuestIDTR: 0x6000, fGuestIDTL: 0xFF},
			code: jmpSelf, steps: 10,
			want: exp{reason: 52, rip: 0x13000}},
		// 26.7.2: the monitor trap flag: an MTF VM exit (reason 37) after
		// one guest instruction, at the next instruction's RIP…
		{name: "MTF after one instruction",
			fields: map[uint64]uint64{fProc: snbProcDefault | procMTF},
			code:   nops(3, jmpSelf...), steps: 10,
			want: exp{reason: 37, rip: 0x11001},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(2+VMEntryLatency), exitAt, "VMLAUNCH, the entry and one guest instruction")
			}},
		// The MTF VM exit has priority over the single-step trap of the
		// same instruction, which the exit saves as a pending debug
		// exception (BS, bit 14: 28.3.4).
		{name: "MTF over a single-step trap",
			fields: map[uint64]uint64{fProc: snbProcDefault | procMTF, fGuestFlags: 0x102},
			code:   nops(3, jmpSelf...), steps: 10,
			want: exp{reason: 37, rip: 0x11001},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(arch.DR6BS), vmcsField(t, c, 0x6822), "pending debug exceptions")
			}},
		// …after the delivery of the exception an instruction raised (UD2),
		// at the handler…
		{name: "MTF after an exception's delivery",
			fields: map[uint64]uint64{fProc: snbProcDefault | procMTF, fGuestIDTR: 0x6000, fGuestIDTL: 0xFF},
			code:   []byte{0x0F, 0x0B}, steps: 10,
			want: exp{reason: 37, rip: 0x13000}},
		// …and after an injected event, before any instruction (27.7.2).
		{name: "MTF after injection",
			fields: map[uint64]uint64{fProc: snbProcDefault | procMTF, fGuestIDTR: 0x6000, fGuestIDTL: 0xFF, fEntryInfo: 0x80000000 | 3<<8 | 6},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 37, rip: 0x13000}},
		// 27.6.2: type 7 (other event), vector 0, injects a pending MTF VM
		// exit, even with the control 0: nothing is delivered.
		{name: "pending MTF VM exit injected",
			fields: map[uint64]uint64{fEntryInfo: 0x80000000 | 7<<8},
			code:   nops(3, jmpSelf...), steps: 10,
			want: exp{reason: 37, rip: 0x11000},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Equal(t, uint64(1+VMEntryLatency), exitAt, "no guest instruction ran")
			}},
		// 27.7.3: debug exceptions VM entry makes pending (here B0 and
		// "enabled breakpoint") are a #DB trap before the first guest
		// instruction; the bitmap takes it, the bits in the exit
		// qualification (28.2.1).
		{name: "pending debug exceptions delivered at entry",
			fields: map[uint64]uint64{fExcBitmap: 1 << 1, 0x6822: 1<<12 | 1},
			code:   nops(3, jmpSelf...), steps: 10,
			want: exp{reason: 0, info: 0x80000301, qual: 1, rip: 0x11000}},
		// With blocking by MOV SS they wait for the next instruction and
		// come with its single-step trap: B0 and BS together.
		{name: "pending debug exceptions held by MOV SS blocking",
			fields: map[uint64]uint64{fExcBitmap: 1 << 1, 0x6822: arch.DR6BS | 1<<12 | 1, fIntrState: 2, fGuestFlags: 0x102},
			code:   nops(3, jmpSelf...), steps: 10,
			want: exp{reason: 0, info: 0x80000301, qual: arch.DR6BS | 1, rip: 0x11001},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Zero(t, vmcsField(t, c, 0x6822), "nothing left pending")
			}},
		// 28.2.4: an exit during event delivery records the event. The
		// injected #UD (type 3) meets the IDT limit: #GP with error code
		// 6×8+2+EXT (SDM Vol. 3A 6.13), which the bitmap takes.
		{name: "IDT-vectoring: #GP delivering an injected #UD",
			fields: map[uint64]uint64{fExcBitmap: 1 << 13, fEntryInfo: 0x80000000 | 3<<8 | 6},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 0, info: 0x80000B0D, err: 6*8 + 2 + 1, idtVec: 0x80000306, rip: 0x11000}},
		// A software interrupt (type 4): the error code has no EXT, and
		// the exit gives the instruction length of the INT (28.2.5).
		{name: "IDT-vectoring: #GP delivering an injected INT 21H",
			fields: map[uint64]uint64{fExcBitmap: 1 << 13, fEntryInfo: 0x80000000 | 4<<8 | 0x21, fEntryLen: 2},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 0, info: 0x80000B0D, err: 0x21*8 + 2, idtVec: 0x80000421, rip: 0x11000, length: 2}},
		// The bitmap decides on the second exception before it and the
		// first would become #DF: #GP while delivering #GP exits with
		// both, error codes too.
		{name: "IDT-vectoring: #GP delivering an injected #GP",
			fields: map[uint64]uint64{fExcBitmap: 1 << 13, fEntryInfo: 0x80000000 | 1<<11 | 3<<8 | 13, fEntryErr: 0x10},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 0, info: 0x80000B0D, err: 13*8 + 2 + 1, idtVec: 0x80000B0D, idtErr: 0x10, rip: 0x11000}},
		// A task switch through a task gate in the IDT exits (26.1.2,
		// qualification: the TSS selector, source 3 "IDT gate") during
		// the event's delivery (28.2.4).
		{name: "IDT-vectoring: task gate for an injected #UD",
			fields: map[uint64]uint64{fEntryInfo: 0x80000000 | 3<<8 | 6, fGuestIDTR: 0x6000, fGuestIDTL: 0xFF, 0x4810: 0x27},
			code:   jmpSelf, steps: 10, setup: taskGate(6),
			want: exp{reason: 9, qual: 0x20 | 3<<30, idtVec: 0x80000306, rip: 0x11000}},
		// For a software interrupt the guest RIP is the INT's and the
		// exit gives its length.
		{name: "IDT-vectoring: task gate for INT 21H",
			fields: map[uint64]uint64{fGuestIDTR: 0x6000, fGuestIDTL: 0x1FF, 0x4810: 0x27},
			code:   []byte{0x90, 0xCD, 0x21}, steps: 10, setup: taskGate(0x21),
			want: exp{reason: 9, qual: 0x20 | 3<<30, idtVec: 0x80000421, rip: 0x11001, length: 2}},
		// A #DF that results from the events exits directly: the exit is
		// not during event delivery (28.2.4).
		{name: "#DF from delivery exits without IDT-vectoring",
			fields: map[uint64]uint64{fExcBitmap: 1 << 8, fEntryInfo: 0x80000000 | 1<<11 | 3<<8 | 13, fEntryErr: 0x10},
			code:   jmpSelf, steps: 10,
			want: exp{reason: 0, info: 0x80000B08, err: 0, rip: 0x11000}},
		// 28.2.2: bit 12 of the interruption information, "NMI unblocking
		// due to IRET": the IRET that faults had removed blocking by NMI.
		{name: "IRET fault with blocking by NMI sets bit 12",
			fields: map[uint64]uint64{fExcBitmap: 1 << 13, fIntrState: 8},
			code:   iretNullCS, steps: 10,
			want: exp{reason: 0, info: 0x80001B0D, rip: 0x11009},
			check: func(t *testing.T, c *CPU, _ *testIntr) {
				assert.Zero(t, vmcsField(t, c, fIntrState), "IRET unblocked NMIs before the exit")
			}},
		{name: "IRET fault without blocking by NMI leaves bit 12 clear",
			fields: map[uint64]uint64{fExcBitmap: 1 << 13},
			code:   iretNullCS, steps: 10,
			want: exp{reason: 0, info: 0x80000B0D, rip: 0x11009}},
		{name: "IRET fault with virtual-NMI blocking sets bit 12",
			fields: map[uint64]uint64{fPin: snbPinDefault | pinNMI | pinVNMI, fExcBitmap: 1 << 13, fIntrState: 8},
			code:   iretNullCS, steps: 10,
			want: exp{reason: 0, info: 0x80001B0D, rip: 0x11009}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmxHarness(t)
			c := h.c
			guestVMCS(t, h)
			ram := h.bus.ram
			guestIDT(ram)
			if tc.setup != nil {
				tc.setup(ram)
			}
			for enc, val := range guestDT {
				require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			for enc, val := range tc.fields {
				require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2})   // VMLAUNCH
			copy(ram[0x11000:], tc.code)                        // the guest
			copy(ram[0x13000:], []byte{0xEB, 0xFE})             // the guest's handlers: jmp $
			copy(ram[0x12000:], []byte{0xF4, 0x0F, 0x01, 0xC3}) // the host: HLT; VMRESUME
			if tc.intr != nil {
				tc.intr.c = c
				c.SetInterruptSource(tc.intr)
			}
			var exits int
			c.Hooks = &Hooks{VMExit: func(c *CPU, _ uint32, _ vmx.ExitInfo) { exits++; exitAt = c.Clock() }}
			if tc.nmi {
				c.Run(1) // VMLAUNCH
				require.True(t, c.vmx.Guest())
				c.RaiseNMI()
			}
			c.Run(tc.steps)
			require.Equal(t, 1, exits, "one VM exit")
			require.False(t, c.vmx.Guest())
			w := tc.want
			assert.Equal(t, w.reason, vmcsField(t, c, fExitReason), "exit reason")
			assert.Equal(t, w.rip, vmcsField(t, c, fGuestRIP), "guest RIP")
			if w.info&vmx.IntrInfoValid != 0 {
				assert.Equal(t, w.info, vmcsField(t, c, fExitInfo), "VM-exit interruption information")
			} else {
				assert.Zero(t, vmcsField(t, c, fExitInfo)>>31, "VM-exit interruption information invalid")
			}
			if w.info&vmx.IntrInfoErrValid != 0 {
				assert.Equal(t, w.err, vmcsField(t, c, fExitErr), "VM-exit interruption error code")
			}
			assert.Equal(t, w.idtVec, vmcsField(t, c, fIDTVec)&^(1<<12), "IDT-vectoring information (bit 12 undefined)")
			if w.idtVec&vmx.IntrInfoErrValid != 0 {
				assert.Equal(t, w.idtErr, vmcsField(t, c, fIDTVecErr), "IDT-vectoring error code")
			}
			if w.qual != 0 {
				assert.Equal(t, w.qual, vmcsField(t, c, 0x6400), "exit qualification")
			}
			if w.length != 0 {
				assert.Equal(t, w.length, vmcsField(t, c, fExitLen), "VM-exit instruction length")
			}
			assert.Zero(t, vmcsField(t, c, fEntryInfo)>>31, "a successful VM entry clears the valid bit (27.6.1)")
			if tc.check != nil {
				tc.check(t, c, tc.intr)
			}
		})
	}
}

// guestIDT writes a 32-bit IDT at 0x6000 whose 64 first vectors are
// interrupt gates to 0x13000 in the guest's code segment (selector 8),
// and a GDT at 0x7000 with guestVMCS's flat code (8) and data (10H)
// segments, which the tests' VMCSs name (guestDT).
func guestIDT(ram []byte) {
	binary.LittleEndian.PutUint64(ram[0x7008:], 0x00CF9B000000FFFF)
	binary.LittleEndian.PutUint64(ram[0x7010:], 0x00CF93000000FFFF)
	const handler = 0x13000
	for v := 0; v < 0x40; v++ {
		lo := uint64(handler&0xFFFF) | 8<<16 | (0x8E00|uint64(handler>>16)<<16)<<32
		binary.LittleEndian.PutUint64(ram[0x6000+8*v:], lo)
	}
}

// TestVMXGuestTakesTimerInterrupt: an interrupt that arrives while the
// guest runs with RFLAGS.IF = 1 and external-interrupt exiting 0 goes
// through the guest's IDT (SDM Vol. 3C 26.2: only the control makes it
// exit); the guest's handler then exits on CPUID. With the control it is
// a VM exit instead, at the same instruction boundary, acknowledged.
func TestVMXGuestTakesTimerInterrupt(t *testing.T) {
	for _, exiting := range []bool{false, true} {
		h := vmxHarness(t)
		c := h.c
		guestVMCS(t, h)
		ram := h.bus.ram
		guestIDT(ram)
		fields := map[uint64]uint64{fGuestIDTR: 0x6000, fGuestIDTL: 0x1FF, fGuestFlags: 0x202, 0x6816: 0x7000, 0x4810: 0x17}
		if exiting {
			fields[fPin] = snbPinDefault | pinExtInt
			fields[fExit] = snbExitDefault | exitAck
		}
		for enc, val := range fields {
			require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
		}
		copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2})
		copy(ram[0x11000:], []byte{0x40, 0xEB, 0xFD})                   // inc eax; jmp back
		copy(ram[0x13000:], []byte{0xB8, 0x34, 0x12, 0, 0, 0x0F, 0xA2}) // mov eax, 0x1234; cpuid
		copy(ram[0x12000:], []byte{0xF4})
		in := &testIntr{c: c, vec: 0x31, after: 21}
		c.SetInterruptSource(in)
		c.Run(100)
		require.False(t, c.vmx.Guest())
		assert.Equal(t, 1, in.acks)
		if !exiting {
			assert.Equal(t, uint64(10), vmcsField(t, c, fExitReason), "the handler's CPUID")
			assert.Equal(t, uint64(0x13005), vmcsField(t, c, fGuestRIP))
			assert.Equal(t, uint64(0x1234), c.GPR[arch.RAX])
			// The frame: EIP of the instruction not yet executed (20
			// guest instructions after VMLAUNCH: 10 INC/JMP pairs).
			assert.Equal(t, uint32(0x11000), binary.LittleEndian.Uint32(ram[0x8000-12:]), "interrupted EIP")
			continue
		}
		assert.Equal(t, uint64(1), vmcsField(t, c, fExitReason))
		assert.Equal(t, uint64(0x80000031), vmcsField(t, c, fExitInfo))
		assert.Equal(t, uint64(0x11000), vmcsField(t, c, fGuestRIP))
		assert.Equal(t, uint64(10), c.GPR[arch.RAX], "ten INCs ran")
	}
}

// The preemption-timer scenarios assume the Sandy Bridge EP dump's rate.
func TestSnbMiscShift(t *testing.T) {
	m, err := msr.Lookup("sandybridge-ep")
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	v, ok := p.GuestVMX(msr.VMXMisc)
	require.True(t, ok)
	assert.Equal(t, uint64(snbMiscShift), v&0x1F, "IA32_VMX_MISC[4:0]")
}

// TestVMXTimerWakesHLT: a guest halted (HLT without HLT exiting, RFLAGS.IF
// = 0) with the VMX-preemption timer running: VMXDeadline tells the board
// when to wake it (the timer's exit wakes HLT, SDM Vol. 3C 26.2, 26.7.4),
// InterruptWakes says an interrupt would not (IF = 0, no
// external-interrupt exiting); once the board has credited the idle time
// up to the deadline the exit is taken, saving the HLT activity state
// (28.3.4). Timer 5 from TSC 0: deadline TSC 5 << 5 = 160 (the guest's
// NOP and HLT run at 121 and 122, after the entry's latency: vmx_time.go).
func TestVMXTimerWakesHLT(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	for enc, val := range map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 5} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2})
	copy(h.bus.ram[0x11000:], []byte{0x90, 0xF4, 0xEB, 0xFE}) // nop; hlt
	copy(h.bus.ram[0x12000:], []byte{0xF4})
	assert.Equal(t, StopHalt, c.Run(100))
	require.True(t, c.vmx.Guest(), "halted in VMX non-root operation")
	d, ok := c.VMXDeadline()
	require.True(t, ok)
	assert.Equal(t, uint64(5<<snbMiscShift), d)
	assert.False(t, c.InterruptWakes())
	c.Idle(d - c.Clock() - 1)
	assert.Equal(t, StopHalt, c.Run(100), "one nanosecond early: still halted")
	require.True(t, c.vmx.Guest())
	c.Idle(1)
	c.Run(100)
	require.False(t, c.vmx.Guest())
	assert.Equal(t, uint64(52), vmcsField(t, c, fExitReason))
	assert.Equal(t, uint64(1), vmcsField(t, c, fActivity), "HLT saved")
	assert.Equal(t, uint64(0x11002), vmcsField(t, c, fGuestRIP), "after the HLT")
	_, ok = c.VMXDeadline()
	assert.False(t, ok, "no timer in VMX root operation")
}

// TestVMXTimerReentry: a second VM entry in the same run restarts the
// timer from its own TSC and the run stops exactly at the new deadline,
// though an earlier entry had brought the run's end forward to its own
// (SDM Vol. 3C 27.7.4). With the transitions' latencies (vmx_time.go:
// 120 ns each, at the harness's one TSC tick per nanosecond): first
// entry, timer 5 from TSC 0 (deadline 160); the VMLAUNCH and the entry
// end at 121, two NOPs, the guest exits on CPUID at TSC 123; the exit
// ends at 243; the host writes guest RIP and timer 5 (six instructions)
// and resumes at TSC 249: deadline ((249 >> 5) + 5) << 5 = 384; the
// entry ends at 370 and 14 NOPs of the block run before the exit at 384.
func TestVMXTimerReentry(t *testing.T) {
	h := vmxHarness(t)
	c := h.c
	guestVMCS(t, h)
	ram := h.bus.ram
	for enc, val := range map[uint64]uint64{fPin: snbPinDefault | pinTimer, fTimer: 5} {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind)
	}
	copy(ram[harnessCode:], []byte{0x0F, 0x01, 0xC2})
	copy(ram[0x11000:], []byte{0x90, 0x90, 0x0F, 0xA2}) // nop; nop; cpuid
	copy(ram[0x11010:], nopBlock(300))
	copy(ram[0x12000:], []byte{
		0xB8, 0x1E, 0x68, 0, 0, // mov eax, 0x681e (guest RIP)
		0xBB, 0x10, 0x10, 0x01, 0, // mov ebx, 0x11010
		0x0F, 0x79, 0xC3, // vmwrite eax, ebx
		0xB8, 0x2E, 0x48, 0, 0, // mov eax, 0x482e (VMX-preemption timer value)
		0xBB, 5, 0, 0, 0, // mov ebx, 5
		0x0F, 0x79, 0xC3, // vmwrite eax, ebx
		0x0F, 0x01, 0xC3, // vmresume
	})
	var reasons []uint32
	var at, rip []uint64
	c.Hooks = &Hooks{VMExit: func(c *CPU, r uint32, _ vmx.ExitInfo) {
		reasons = append(reasons, r)
		at = append(at, c.Clock())
		rip = append(rip, vmcsField(t, c, fGuestRIP))
	}}
	c.Run(30) // 24 instructions to the second exit; the host's next five
	require.Equal(t, []uint32{10, 52}, reasons)
	assert.Equal(t, []uint64{123, 384}, at)
	assert.Equal(t, []uint64{0x11002, 0x11010 + 14}, rip, "the CPUID; 14 NOPs from TSC 370")
}

// nopBlock is n NOPs.
func nopBlock(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 0x90
	}
	return b
}

package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// Exits of the conditionally exiting instructions (SDM Vol. 3C 26.1.3),
// each with the exit information the SDM defines for it: exit reason
// (Appendix C), exit qualification (28.2.1, Tables 28-4 and 28-5),
// instruction length (28.2.4), VM-exit instruction-information field
// (28.2.5, the tables for INS/OUTS, LIDT/LGDT/SIDT/SGDT and
// LLDT/LTR/SLDT/STR) and guest-linear address. The guest is
// guestVMCS's 32-bit protected-mode guest at CPL 0; its general-purpose
// registers are the host's at VMLAUNCH (27.3.2 loads none but RSP).

// The default primary processor-based controls of Sandy Bridge EP's
// IA32_VMX_TRUE_PROCBASED_CTLS (guestVMCS) and the VMCS encodings the
// tests write (Appendix B).
const (
	testProcDefault  = 0x04006172
	encTestProc      = 0x4002
	encTestProc2     = 0x401E
	encTestExcBitmap = 0x4004
	encTestIOA       = 0x2000
	encTestIOB       = 0x2002
	encTestMSRBitmap = 0x2004
	encTestTSCOffset = 0x2010
)

type insnExitCase struct {
	name   string
	model  string            // sandybridge-ep if empty
	fields map[uint64]uint64 // VMCS fields beyond guestVMCS's
	gpr    map[int]uint64    // guest registers
	code   []byte            // guest code at 0x11000
	setup  func(ram []byte)
	// Expected exit: reason, qualification, instruction length,
	// instruction information, guest-linear address; rip is the guest
	// RIP saved (the exiting instruction's).
	reason uint32
	qual   uint64
	length uint64
	info   uint64
	linear uint64
	rip    uint64
	// steps is the instruction budget to the exit (64 if 0).
	steps int
}

// runGuestToExit launches the guest of tc and returns the CPU after its
// first VM exit (the host halts at host RIP).
func runGuestToExit(t *testing.T, tc insnExitCase, tweak ...func(*CPU)) *CPU {
	t.Helper()
	model := tc.model
	if model == "" {
		model = "sandybridge-ep"
	}
	h := vmxHarnessModel(t, model)
	c := h.c
	// The harness platform has no CPUID: Skylake-SP's INVPCID, RDRAND and
	// RDSEED and Ice Lake-SP's RDPID by hand.
	sky := tc.model == "skylake-sp"
	c.feat.invpcid, c.feat.rdrand, c.feat.rdseed = sky, sky, sky
	c.feat.rdpid = tc.model == "icelake-sp"
	for _, f := range tweak {
		f(c)
	}
	guestVMCS(t, h)
	for enc, val := range tc.fields {
		require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
	}
	if tc.setup != nil {
		tc.setup(h.bus.ram)
	}
	for r, v := range tc.gpr {
		c.GPR[r] = v
	}
	copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2}) // VMLAUNCH
	copy(h.bus.ram[0x11000:], tc.code)
	h.bus.ram[0x12000] = 0xF4 // the host's HLT
	exits := 0
	c.Hooks = &Hooks{VMExit: func(*CPU, uint32, vmx.ExitInfo) { exits++ }}
	steps := tc.steps
	if steps == 0 {
		steps = 64
	}
	for i := 0; i < steps && exits == 0; i++ {
		c.Run(1)
	}
	require.Equal(t, 1, exits, "one VM exit")
	require.False(t, c.vmx.Guest())
	return c
}

func TestInsnExits(t *testing.T) {
	proc := func(bits uint64) uint64 { return testProcDefault | bits }
	sec := func(bits uint64) map[uint64]uint64 {
		return map[uint64]uint64{encTestProc: proc(vmx.ProcRDTSCExiting | 1<<31), encTestProc2: bits}
	}
	for _, tc := range []insnExitCase{
		{name: "HLT exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcHLTExiting)},
			code: []byte{0x90, 0xF4}, reason: 12, length: 1, rip: 0x11001},
		// INVLPG [ebx+10H]: the qualification is the linear-address
		// operand (28.2.1).
		{name: "INVLPG exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcINVLPGExiting)},
			gpr: map[int]uint64{arch.RBX: 0x1234}, code: []byte{0x0F, 0x01, 0x7B, 0x10},
			reason: 14, qual: 0x1244, length: 4, rip: 0x11000},
		{name: "RDPMC exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcRDPMCExiting)},
			code: []byte{0x0F, 0x33}, reason: 15, length: 2, rip: 0x11000},
		{name: "RDTSC exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcRDTSCExiting)},
			code: []byte{0x0F, 0x31}, reason: 16, length: 2, rip: 0x11000},
		{name: "RDTSCP with enable RDTSCP and RDTSC exiting", fields: sec(vmx.Proc2EnableRDTSCP),
			code: []byte{0x0F, 0x01, 0xF9}, reason: 51, length: 3, rip: 0x11000},
		// MOV EAX, DR7 (0F 21 F8): DR 7, direction 1 (from DR), GPR 0
		// (Table 28-4).
		{name: "MOV from DR7", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcMOVDRExiting)},
			code: []byte{0x0F, 0x21, 0xF8}, reason: 29, qual: 7 | 1<<4, length: 3, rip: 0x11000},
		// MOV DR3, ECX (0F 23 D9): DR 3, direction 0, GPR 1.
		{name: "MOV to DR3", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcMOVDRExiting)},
			code: []byte{0x0F, 0x23, 0xD9}, reason: 29, qual: 3 | 1<<8, length: 3, rip: 0x11000},
		// OUT 80H, AL: size 1 (0), OUT (0), not string, immediate (bit 6),
		// port 80H in 31:16 (Table 28-5).
		{name: "OUT imm8 with unconditional I/O exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUncondIOExiting)},
			code: []byte{0xE6, 0x80}, reason: 30, qual: 0x80<<16 | 1<<6, length: 2, rip: 0x11000},
		// IN EAX, DX with DX = 3F8H: size 4 (3), IN (bit 3).
		{name: "IN eAX,DX with unconditional I/O exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUncondIOExiting)},
			gpr: map[int]uint64{arch.RDX: 0x3F8}, code: []byte{0xED}, reason: 30, qual: 0x3F8<<16 | 1<<3 | 3, length: 1, rip: 0x11000},
		// REP OUTSB: string (bit 4), REP (bit 5); guest-linear address
		// DS:ESI; instruction information: 32-bit address size (1 in
		// 9:7), DS (3 in 17:15) (28.2.5, INS and OUTS).
		{name: "REP OUTSB", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUncondIOExiting)},
			gpr:  map[int]uint64{arch.RDX: 0x80, arch.RSI: 0x1000, arch.RCX: 4},
			code: []byte{0xF3, 0x6E}, reason: 30, qual: 0x80<<16 | 1<<5 | 1<<4, length: 2,
			info: 1<<7 | 3<<15, linear: 0x1000, rip: 0x11000},
		// INSW (66 6D): size 2 (1), IN, string; ES:EDI; ES (0) in 17:15.
		{name: "INSW", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUncondIOExiting)},
			gpr:  map[int]uint64{arch.RDX: 0x80, arch.RDI: 0x2000},
			code: []byte{0x66, 0x6D}, reason: 30, qual: 0x80<<16 | 1<<4 | 1<<3 | 1, length: 2,
			info: 1 << 7, linear: 0x2000, rip: 0x11000},
		// I/O bitmaps: port 81H's bit is clear (OUT goes to the bus), port
		// 80H's is set in bitmap A.
		{name: "I/O bitmap A", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseIOBitmaps | vmx.ProcUncondIOExiting), encTestIOA: 0x6000, encTestIOB: 0x7000},
			setup: func(ram []byte) { ram[0x6000+0x80/8] = 1 },
			code:  []byte{0xE6, 0x81, 0xE6, 0x80}, reason: 30, qual: 0x80<<16 | 1<<6, length: 2, rip: 0x11002},
		// A 2-byte access at 7FFFH touches 8000H, whose bit is set in
		// bitmap B; the byte access to 7FFFH alone does not exit.
		{name: "I/O bitmap B across the boundary", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseIOBitmaps), encTestIOA: 0x6000, encTestIOB: 0x7000},
			setup: func(ram []byte) { ram[0x7000] = 1 },
			gpr:   map[int]uint64{arch.RDX: 0x7FFF},
			code:  []byte{0xEE, 0x66, 0xEF}, reason: 30, qual: 0x7FFF<<16 | 1, length: 2, rip: 0x11001},
		// An access that wraps past FFFFH exits with clear bitmaps (26.1.3).
		{name: "I/O bitmaps, wrap-around", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseIOBitmaps), encTestIOA: 0x6000, encTestIOB: 0x7000},
			gpr:  map[int]uint64{arch.RDX: 0xFFFE},
			code: []byte{0x66, 0xEF, 0xEF}, reason: 30, qual: 0xFFFE<<16 | 3, length: 1, rip: 0x11002},
		// MSR bitmaps: RDMSR of IA32_SYSENTER_CS (read-low bit clear) runs;
		// RDMSR of IA32_TSC (bit 10H set in the read-low bitmap) exits.
		{name: "MSR bitmap, read low", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseMSRBitmaps), encTestMSRBitmap: 0x8000},
			setup: func(ram []byte) { ram[0x8000+0x10/8] = 1 << (0x10 % 8) },
			code:  []byte{0xB9, 0x74, 0x01, 0, 0, 0x0F, 0x32, 0xB9, 0x10, 0, 0, 0, 0x0F, 0x32}, reason: 31, length: 2, rip: 0x1100C},
		// WRMSR of IA32_FS_BASE (C0000100H): bit 100H of the write-high
		// bitmap at offset 3072.
		{name: "MSR bitmap, write high", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseMSRBitmaps), encTestMSRBitmap: 0x8000},
			setup: func(ram []byte) { ram[0x8000+3072+0x100/8] = 1 },
			gpr:   map[int]uint64{arch.RCX: 0xC0000100}, code: []byte{0x0F, 0x30}, reason: 32, length: 2, rip: 0x11000},
		// An MSR outside both ranges exits whatever the bitmaps hold.
		{name: "MSR bitmap, MSR outside the ranges", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcUseMSRBitmaps), encTestMSRBitmap: 0x8000},
			gpr: map[int]uint64{arch.RCX: 0x4B564D00}, code: []byte{0x0F, 0x32}, reason: 31, length: 2, rip: 0x11000},
		{name: "PAUSE exiting", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcPAUSEExiting)},
			code: []byte{0x90, 0xF3, 0x90}, reason: 40, length: 2, rip: 0x11001},
		{name: "WBINVD exiting", fields: sec(vmx.Proc2WBINVDExiting),
			code: []byte{0x0F, 0x09}, reason: 54, length: 2, rip: 0x11000},
		// SGDT [EBX+ECX*4+10H] (0F 01 44 8B 10): qualification the
		// displacement; information scaling 2 (1:0), 32-bit address size
		// (9:7), 32-bit operand size (bit 11), DS (17:15), index ECX
		// (21:18), base EBX (26:23), identity SGDT 0 (29:28) (28.2.5, LIDT/LGDT/SIDT/SGDT).
		{name: "SGDT", fields: sec(vmx.Proc2DescTableExiting),
			code: []byte{0x0F, 0x01, 0x44, 0x8B, 0x10}, reason: 46, qual: 0x10, length: 5,
			info: 2 | 1<<7 | 1<<11 | 3<<15 | 1<<18 | 3<<23, rip: 0x11000},
		// LIDT [5000H] (disp32 only): index and base invalid (22, 27),
		// identity LIDT 3.
		{name: "LIDT", fields: sec(vmx.Proc2DescTableExiting),
			code: []byte{0x0F, 0x01, 0x1D, 0x00, 0x50, 0x00, 0x00}, reason: 46, qual: 0x5000, length: 7,
			info: 1<<7 | 1<<11 | 3<<15 | 1<<22 | 1<<27 | 3<<28, rip: 0x11000},
		// LLDT AX (0F 00 D0): register operand, reg1 0 (6:3), bit 10,
		// identity LLDT 2 (28.2.5, LLDT/LTR/SLDT/STR).
		{name: "LLDT reg", fields: sec(vmx.Proc2DescTableExiting),
			code: []byte{0x0F, 0x00, 0xD0}, reason: 47, length: 3, info: 1<<10 | 2<<28, rip: 0x11000},
		// STR [EBP-8] (0F 00 4D F8): displacement -8 sign-extended, SS
		// (2), no index, base EBP (5), identity STR 1.
		{name: "STR mem", fields: sec(vmx.Proc2DescTableExiting),
			code: []byte{0x0F, 0x00, 0x4D, 0xF8}, reason: 47, qual: 0xFFFFFFFFFFFFFFF8, length: 4,
			info: 1<<7 | 2<<15 | 1<<22 | 5<<23 | 1<<28, rip: 0x11000},
		// VMX instructions exit unconditionally (26.1.2). VMPTRST [EBX+8]
		// (0F C7 7B 08): qualification the displacement; information
		// 32-bit address size, DS, no index, base EBX (28.2.5, VMCLEAR,
		// VMPTRLD, VMPTRST, VMXON).
		{name: "VMPTRST", code: []byte{0x0F, 0xC7, 0x7B, 0x08}, reason: 22, qual: 8, length: 4,
			info: 1<<7 | 3<<15 | 1<<22 | 3<<23, rip: 0x11000},
		// VMREAD EBX, EAX (0F 78 C3): register operand EBX as reg1 (6:3),
		// bit 10, reg2 EAX (31:28) (28.2.5, VMREAD and VMWRITE).
		{name: "VMREAD reg", code: []byte{0x0F, 0x78, 0xC3}, reason: 23, length: 3, info: 3<<3 | 1<<10, rip: 0x11000},
		// VMWRITE ECX, [ESI+EDI*8-4] (0F 79 4C FE FC): reg2 ECX, scaling 3,
		// index EDI, base ESI, displacement -4.
		{name: "VMWRITE mem", code: []byte{0x0F, 0x79, 0x4C, 0xFE, 0xFC}, reason: 25, qual: 0xFFFFFFFFFFFFFFFC, length: 5,
			info: 3 | 1<<7 | 3<<15 | 7<<18 | 6<<23 | 1<<28, rip: 0x11000},
		// INVPCID EAX, [EBX+10H] (66 0F 38 82 43 10) on Skylake-SP with
		// "enable INVPCID" and INVLPG exiting: qualification the
		// displacement; information 32-bit address size, DS, no index,
		// base EBX, reg2 EAX (28.2.5, INVEPT, INVPCID and INVVPID).
		{name: "INVPCID", model: "skylake-sp",
			fields: map[uint64]uint64{encTestProc: proc(vmx.ProcINVLPGExiting | 1<<31), encTestProc2: vmx.Proc2EnableINVPCID},
			code:   []byte{0x66, 0x0F, 0x38, 0x82, 0x43, 0x10}, reason: 58, qual: 0x10, length: 6,
			info: 1<<7 | 3<<15 | 1<<22 | 3<<23, rip: 0x11000},
		// RDRAND EAX (0F C7 F0) with "RDRAND exiting": destination 0
		// (6:3), 32-bit operand size (1 in 12:11) (28.2.5, RDRAND and
		// RDSEED).
		{name: "RDRAND", model: "skylake-sp",
			fields: map[uint64]uint64{encTestProc: proc(1 << 31), encTestProc2: vmx.Proc2RDRANDExiting},
			code:   []byte{0x0F, 0xC7, 0xF0}, reason: 57, length: 3, info: 1 << 11, rip: 0x11000},
		// RDSEED CX (66 0F C7 F9): destination 1, 16-bit (0).
		{name: "RDSEED", model: "skylake-sp",
			fields: map[uint64]uint64{encTestProc: proc(1 << 31), encTestProc2: vmx.Proc2RDSEEDExiting},
			code:   []byte{0x66, 0x0F, 0xC7, 0xF9}, reason: 61, length: 4, info: 1 << 3, rip: 0x11000},
		// Without "enable INVPCID" INVPCID is #UD in the guest (26.3).
		{name: "INVPCID without enable INVPCID", model: "skylake-sp",
			fields: map[uint64]uint64{encTestProc: proc(vmx.ProcINVLPGExiting | 1<<31), encTestProc2: 0, encTestExcBitmap: 1 << 6},
			code:   []byte{0x66, 0x0F, 0x38, 0x82, 0x43, 0x10}, reason: 0, rip: 0x11000},
		// LMSW [EBX+2] (0F 01 73 02) changing the host-owned TS from its
		// shadow: CR-access qualification with access type LMSW (3 in
		// 5:4), memory operand (bit 6), source data 0008H (31:16); the
		// guest-linear address of the operand (28.2.1).
		{name: "LMSW memory", fields: map[uint64]uint64{0x6000: arch.CR0TS},
			gpr: map[int]uint64{arch.RBX: 0x4000}, setup: func(ram []byte) { ram[0x4002] = 0x08 },
			code: []byte{0x0F, 0x01, 0x73, 0x02}, reason: 28, qual: 8<<16 | 1<<6 | 3<<4, length: 4, linear: 0x4002, rip: 0x11000},
		// Without "enable RDTSCP" RDTSCP is #UD in the guest (26.3): with
		// #UD in the exception bitmap, exit reason 0 with interruption
		// information valid, hardware exception (3), vector 6.
		{name: "RDTSCP without enable RDTSCP", fields: map[uint64]uint64{encTestProc: proc(vmx.ProcRDTSCExiting | 1<<31), encTestProc2: 0, encTestExcBitmap: 1 << 6},
			code: []byte{0x0F, 0x01, 0xF9}, reason: 0, rip: 0x11000},
		// RDPID (F3 0F C7 F8, on a model with RDPID) is #UD in the guest
		// without "enable RDTSCP" (26.3), and runs without a VM exit
		// with it: the next CPUID exits.
		{name: "RDPID without enable RDTSCP", model: "icelake-sp",
			fields: map[uint64]uint64{encTestProc: proc(1 << 31), encTestProc2: 0, encTestExcBitmap: 1 << 6},
			code:   []byte{0xF3, 0x0F, 0xC7, 0xF8}, reason: 0, rip: 0x11000},
		{name: "RDPID with enable RDTSCP", model: "icelake-sp",
			fields: map[uint64]uint64{encTestProc: proc(1 << 31), encTestProc2: vmx.Proc2EnableRDTSCP},
			code:   []byte{0xF3, 0x0F, 0xC7, 0xF8, 0x0F, 0xA2}, reason: 10, length: 2, rip: 0x11004},
		// Without the secondary controls activated their bits have no
		// effect: WBINVD runs, the next CPUID exits.
		{name: "secondary controls not activated", fields: map[uint64]uint64{encTestProc2: vmx.Proc2WBINVDExiting},
			code: []byte{0x0F, 0x09, 0x0F, 0xA2}, reason: 10, length: 2, rip: 0x11002},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runGuestToExit(t, tc)
			assert.Equal(t, uint64(tc.reason), vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			if tc.reason == 0 {
				assert.Equal(t, uint64(0x80000306), vmcsField(t, c, 0x4404), "VM-exit interruption information: #UD")
				return
			}
			assert.Equal(t, tc.qual, vmcsField(t, c, 0x6400), "exit qualification")
			assert.Equal(t, tc.length, vmcsField(t, c, 0x440C), "VM-exit instruction length")
			assert.Equal(t, tc.info, vmcsField(t, c, 0x440E), "VM-exit instruction information")
			assert.Equal(t, tc.linear, vmcsField(t, c, 0x640A), "guest-linear address")
		})
	}
}

// cpl3 are guest fields for a CPL-3 guest: CS 1BH (DPL-3 code), SS, DS,
// ES, FS, GS 23H (DPL-3 data), IOPL 0 (SDM Vol. 3C 27.3.1.2 accepts them:
// SS.DPL = CS.DPL, data DPL >= RPL).
func cpl3(f map[uint64]uint64) map[uint64]uint64 {
	for i := uint64(0); i < 6; i++ {
		sel, ar := uint64(0x23), uint64(0xC0F3)
		if i == 1 {
			sel, ar = 0x1B, 0xC0FB
		}
		f[0x0800+2*i], f[0x4814+2*i] = sel, ar
	}
	return f
}

// TestInsnExitPriority: the faults that take priority over VM exits (SDM
// Vol. 3C 26.1.1: privilege-level faults, the TSS I/O permission bitmap,
// CR4.TSD) come first, reaching the host as exception exits (reason 0,
// #GP(0): interruption information 80000B0DH) when #GP is in the
// exception bitmap; MOV DR is the exception to the rule (26.1.3): its
// VM exit comes before the privilege check.
func TestInsnExitPriority(t *testing.T) {
	const gp = 1 << 13
	for _, tc := range []struct {
		name   string
		fields map[uint64]uint64
		code   []byte
		setup  func(ram []byte)
		gpr    map[int]uint64
		reason uint64
	}{
		{"HLT at CPL 3", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcHLTExiting, encTestExcBitmap: gp}), []byte{0xF4}, nil, nil, 0},
		{"RDPMC at CPL 3 with CR4.PCE = 0", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcRDPMCExiting, encTestExcBitmap: gp}), []byte{0x0F, 0x33}, nil, nil, 0},
		{"RDTSC at CPL 3 with CR4.TSD = 1", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcRDTSCExiting, encTestExcBitmap: gp,
			0x6804: arch.CR4VMXE | arch.CR4PSE | arch.CR4TSD}), []byte{0x0F, 0x31}, nil, nil, 0},
		{"RDMSR at CPL 3", cpl3(map[uint64]uint64{encTestExcBitmap: gp}), []byte{0x0F, 0x32}, nil, nil, 0},
		// CPL 3 > IOPL 0 and the TSS's I/O map base (at TR base + 66H)
		// beyond the TSS limit: #GP before unconditional I/O exiting.
		{"OUT denied by the TSS I/O permission bitmap", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUncondIOExiting, encTestExcBitmap: gp}),
			[]byte{0xE6, 0x80}, func(ram []byte) { ram[0x66], ram[0x67] = 0xFF, 0xFF }, nil, 0},
		// The same OUT allowed by the bitmap (map base 68H, all clear):
		// the VM exit.
		{"OUT allowed by the TSS I/O permission bitmap", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUncondIOExiting, encTestExcBitmap: gp, 0x480E: 0xFFF}),
			[]byte{0xE6, 0x80}, func(ram []byte) { ram[0x66] = 0x68 }, nil, 30},
		{"MOV DR at CPL 3", cpl3(map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcMOVDRExiting, encTestExcBitmap: gp}), []byte{0x0F, 0x21, 0xF8}, nil, nil, 29},
		{"MOV from DR4 with CR4.DE = 1", map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcMOVDRExiting, encTestExcBitmap: 1 << 6,
			0x6804: arch.CR4VMXE | arch.CR4PSE | arch.CR4DE}, []byte{0x0F, 0x21, 0xE0}, nil, nil, 29},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runGuestToExit(t, insnExitCase{fields: tc.fields, code: tc.code, setup: tc.setup, gpr: tc.gpr})
			assert.Equal(t, tc.reason, vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, uint64(0x11000), vmcsField(t, c, 0x681E), "guest RIP")
			if tc.reason == 0 {
				assert.Equal(t, uint64(0x80000B0D), vmcsField(t, c, 0x4404), "#GP with an error code")
				assert.Equal(t, uint64(0), vmcsField(t, c, 0x4406), "error code 0")
			}
		})
	}
}

// TestTSCOffsetting: with "use TSC offsetting" (and RDTSC exiting 0) the
// guest's RDTSC, RDTSCP and RDMSR of IA32_TSC read the TSC plus the TSC
// offset (SDM Vol. 3C 26.3); the host's TSC is not changed.
func TestTSCOffsetting(t *testing.T) {
	const offset = 0x0000_1000_0000_0000
	for _, tc := range []struct {
		name string
		code []byte
	}{
		{"RDTSC", []byte{0x0F, 0x31}},
		{"RDTSCP", []byte{0x0F, 0x01, 0xF9}},
		{"RDMSR IA32_TSC", []byte{0xB9, 0x10, 0, 0, 0, 0x0F, 0x32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// The MSR bitmaps (all clear at 8000H) let RDMSR run in the guest.
			c := runGuestToExit(t, insnExitCase{
				fields: map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseTSCOffsetting | vmx.ProcUseMSRBitmaps | 1<<31,
					encTestProc2: vmx.Proc2EnableRDTSCP, encTestTSCOffset: offset, encTestMSRBitmap: 0x8000},
				code: append(append([]byte{}, tc.code...), 0x0F, 0xA2), // ...; CPUID exits
				gpr:  map[int]uint64{arch.RAX: 0},
			})
			assert.Equal(t, uint64(10), vmcsField(t, c, 0x4402))
			got := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
			now := c.TSC()
			assert.GreaterOrEqual(t, got, uint64(offset), "the offset is added")
			assert.LessOrEqual(t, got-offset, now, "the guest read the host's TSC plus the offset")
			assert.Less(t, now, uint64(offset), "the host's TSC has no offset")
		})
	}
}

// TestTSCScaling: with "use TSC offsetting" and "use TSC scaling" the
// guest's RDTSC, RDTSCP and RDMSR of IA32_TSC read ((TSC × multiplier) >>
// 48) + offset (SDM Vol. 3C 26.3), on Skylake SP, whose dump allows "use
// TSC scaling" (secondary control 25). The TSC starts at 2^40 + 12345, so
// the product with the multiplier 1.5 (3 << 47) needs more than 64 bits;
// the value read less the offset must be floor(T × 3 / 2) for a TSC value
// T at most a few ticks before the exit (the harness's TSC counts one
// tick per instruction).
func TestTSCScaling(t *testing.T) {
	const offset, mult, encTSCMultiplier, start = 0x0000_1000_0000_0000, 3 << 47, 0x2032, 1<<40 + 12345
	for _, tc := range []struct {
		name string
		code []byte
	}{
		{"RDTSC", []byte{0x0F, 0x31}},
		{"RDTSCP", []byte{0x0F, 0x01, 0xF9}},
		{"RDMSR IA32_TSC", []byte{0xB9, 0x10, 0, 0, 0, 0x0F, 0x32}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runGuestToExit(t, insnExitCase{model: "skylake-sp",
				fields: map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseTSCOffsetting | vmx.ProcUseMSRBitmaps | 1<<31,
					encTestProc2: vmx.Proc2EnableRDTSCP | vmx.Proc2UseTSCScaling, encTestTSCOffset: offset,
					encTSCMultiplier: mult, encTestMSRBitmap: 0x8000},
				code: append(append([]byte{}, tc.code...), 0x0F, 0xA2), // ...; CPUID exits
				gpr:  map[int]uint64{arch.RAX: 0},
			}, func(c *CPU) { c.setTSC(start) })
			assert.Equal(t, uint64(10), vmcsField(t, c, 0x4402))
			got := uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
			now := c.TSC()
			require.Greater(t, now, uint64(start))
			// The guest read T a few instructions before the CPUID's
			// exit, which then took VMExitLatency (vmx_time.go).
			found := false
			for tsc := now - c.tscTicks(VMExitLatency) - 16; tsc <= now; tsc++ {
				found = found || got == tsc*3/2+offset
			}
			assert.True(t, found, "guest read %#x, TSC now %#x: not floor(T*1.5)+offset for a recent T", got, now)
		})
	}
}

// TestPAUSELoopExiting: "PAUSE-loop exiting" (secondary control 10, which
// Sandy Bridge EP's dump allows) at CPL 0 (SDM Vol. 3C 26.1.3). The guest
// loops INC ECX; PAUSE; CMP ECX,50; JNE back; then CPUID (41 F3 90 83 F9
// 32 75 F8 0F A2): its PAUSEs are 4 instructions, 4 TSC ticks, apart
// (the harness's TSC counts one tick per instruction). With PLE_Gap 10
// they form one loop, and the 26th PAUSE after the first (ECX 27), 104
// ticks after it, is the first past PLE_Window 100: a VM exit, reason
// 40, at the PAUSE (RIP 11001H, length 2). With PLE_Gap 3 every PAUSE
// begins a loop and the CPUID exits at ECX 50; so at CPL 3, where the
// control is ignored. "PAUSE exiting" takes precedence: the first PAUSE
// exits.
func TestPAUSELoopExiting(t *testing.T) {
	const encPLEGap, encPLEWindow = 0x4020, 0x4022
	code := []byte{0x41, 0xF3, 0x90, 0x83, 0xF9, 0x32, 0x75, 0xF8, 0x0F, 0xA2}
	ple := func(proc, gap, window uint64) map[uint64]uint64 {
		return map[uint64]uint64{encTestProc: testProcDefault | proc | 1<<31, encTestProc2: vmx.Proc2PAUSELoopExiting,
			encPLEGap: gap, encPLEWindow: window}
	}
	for _, tc := range []struct {
		name   string
		fields map[uint64]uint64
		reason uint64
		ecx    uint64
		rip    uint64
	}{
		{"one loop past the window", ple(0, 10, 100), 40, 27, 0x11001},
		{"window 0: the second PAUSE", ple(0, 10, 0), 40, 2, 0x11001},
		{"every PAUSE past the gap", ple(0, 3, 100), 10, 50, 0x11008},
		{"CPL 3: ignored", cpl3(ple(0, 10, 100)), 10, 50, 0x11008},
		{"PAUSE exiting first", ple(vmx.ProcPAUSEExiting, 10, 100), 40, 1, 0x11001},
		{"the control 0", map[uint64]uint64{encTestProc: testProcDefault | 1<<31, encPLEGap: 10}, 10, 50, 0x11008},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := runGuestToExit(t, insnExitCase{fields: tc.fields, code: code, gpr: map[int]uint64{arch.RCX: 0, arch.RAX: 0}, steps: 400})
			assert.Equal(t, tc.reason, vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			assert.Equal(t, uint64(2), vmcsField(t, c, 0x440C), "instruction length")
			assert.Equal(t, tc.ecx, uint64(uint32(c.GPR[arch.RCX])), "ECX")
		})
	}
}

// TestEnableXSAVES: in VMX non-root operation XSAVES (and XRSTORS) is
// #UD with "enable XSAVES/XRSTORS" (secondary control 20) 0 (SDM Vol. 3C
// 26.3): here a VM exit through the exception bitmap (bit 6), reason 0,
// interruption information 80000306H (valid, hardware exception, #UD), at
// the XSAVES. With the control 1 XSAVES runs: the XSS-exiting bitmap
// (all ones) causes an exit only for a bit also set in EDX:EAX and
// IA32_XSS (26.1.3), and IA32_XSS is 0 here (no supervisor component), so
// the CPUID after it exits (reason 10) and the area holds the compacted
// header (XCOMP_BV = RFBM | bit 63). Skylake SP allows the control.
func TestEnableXSAVES(t *testing.T) {
	const encXSSBitmap, area = 0x202C, 0x13000
	// XSAVES [13000H] (NP 0F C7 /5, disp32); CPUID.
	code := []byte{0x0F, 0xC7, 0x2D, 0x00, 0x30, 0x01, 0x00, 0x0F, 0xA2}
	xsaves := func(c *CPU) { c.feat.xsaves, c.feat.xsavec = true, true; c.XCR0 = 3 }
	guestCR4 := uint64(arch.CR4VMXE | arch.CR4PSE | arch.CR4OSXSAVE)
	for _, tc := range []struct {
		name   string
		proc2  uint64
		reason uint64
		rip    uint64
	}{
		{"control 0: #UD", 0, 0, 0x11000},
		{"control 1: runs", vmx.Proc2EnableXSAVES, 10, 0x11007},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var ram []byte
			c := runGuestToExit(t, insnExitCase{model: "skylake-sp",
				fields: map[uint64]uint64{encTestProc: testProcDefault | 1<<31, encTestProc2: tc.proc2,
					encTestExcBitmap: 1 << 6, encXSSBitmap: ^uint64(0), 0x6804: guestCR4},
				code: code, gpr: map[int]uint64{arch.RAX: 3, arch.RDX: 0},
				setup: func(r []byte) { ram = r }}, xsaves)
			assert.Equal(t, tc.reason, vmcsField(t, c, 0x4402), "exit reason")
			assert.Equal(t, tc.rip, vmcsField(t, c, 0x681E), "guest RIP")
			xcomp := binary.LittleEndian.Uint64(ram[area+520:])
			if tc.reason == 0 {
				assert.Equal(t, uint64(0x80000306), vmcsField(t, c, 0x4404), "#UD")
				assert.Zero(t, xcomp, "nothing saved")
				return
			}
			assert.Equal(t, uint64(1<<63|3), xcomp, "XCOMP_BV")
		})
	}
}

// TestIOBitmapsMSRBitmapsNoExit: with the bitmaps all clear, I/O and MSR
// accesses in range run in the guest (26.1.3): OUT reaches the bus, RDMSR
// of IA32_SYSENTER_CS reads the guest's value; the CPUID after them exits.
func TestIOBitmapsMSRBitmapsNoExit(t *testing.T) {
	c := runGuestToExit(t, insnExitCase{
		fields: map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseIOBitmaps | vmx.ProcUseMSRBitmaps,
			encTestIOA: 0x6000, encTestIOB: 0x7000, encTestMSRBitmap: 0x8000, 0x482A: 0x1234},
		gpr: map[int]uint64{arch.RDX: 0x80},
		code: []byte{
			0xEE,                   // out dx, al
			0xB9, 0x74, 0x01, 0, 0, // mov ecx, 0x174
			0x0F, 0x32, // rdmsr
			0x89, 0xC3, // mov ebx, eax
			0x31, 0xC0, // xor eax, eax
			0x0F, 0xA2, // cpuid
		},
	})
	assert.Equal(t, uint64(10), vmcsField(t, c, 0x4402), "the CPUID exited, nothing before it")
	assert.Equal(t, uint64(0x1234), c.GPR[arch.RBX]&0xFFFF, "RDMSR ran in the guest")
}

// TestVMEntryChecksBitmapAddresses: with "use I/O bitmaps" or "use MSR
// bitmaps" the addresses must be 4-KiB aligned (SDM Vol. 3C 27.2.1.1):
// VMfailValid(7).
func TestVMEntryChecksBitmapAddresses(t *testing.T) {
	for _, tc := range []struct {
		name   string
		fields map[uint64]uint64
	}{
		{"I/O bitmap A", map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseIOBitmaps, encTestIOA: 0x6001, encTestIOB: 0x7000}},
		{"I/O bitmap B", map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseIOBitmaps, encTestIOA: 0x6000, encTestIOB: 0x7800}},
		{"MSR bitmap", map[uint64]uint64{encTestProc: testProcDefault | vmx.ProcUseMSRBitmaps, encTestMSRBitmap: 0x8010}},
		{"secondary control not allowed (enable EPT, masked)", map[uint64]uint64{encTestProc: testProcDefault | 1<<31, encTestProc2: 1 << 1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := vmxHarness(t)
			c := h.c
			guestVMCS(t, h)
			for enc, val := range tc.fields {
				require.Equal(t, vmx.Succeed, c.vmx.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			copy(h.bus.ram[harnessCode:], []byte{0x0F, 0x01, 0xC2, 0xF4}) // VMLAUNCH; HLT
			c.Run(2)
			assert.False(t, c.vmx.Guest())
			assert.NotZero(t, c.Flags()&arch.FlagZF, "VMfailValid")
			assert.Equal(t, uint64(7), vmcsField(t, c, 0x4400), "VM-instruction error 7")
		})
	}
}

package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// Model signatures (CPUID.1:EAX of the shipped dumps) and the LBR MSRs of
// SDM Vol. 4 Table 2-20 (Sandy Bridge) and the Skylake table.
const (
	sigSandyBridgeEP = 0x206D5 // DisplayFamily_DisplayModel 06_2DH: 16 LBRs
	sigSkylakeSP     = 0x50654 // 06_55H: 32 LBRs with MSR_LBR_INFO_n
	sigSapphire      = 0x806F8 // 06_8FH: architectural LBRs only
	msrDebugCtl      = 0x1D9
	msrLBRSelect     = 0x1C8
	msrLBRTOS        = 0x1C9
	msrLERFrom       = 0x1DD
	msrLERTo         = 0x1DE
	msrLBRFrom0      = 0x680
	msrLBRTo0        = 0x6C0
	msrLBRInfo0      = 0xDC0
)

func lbrMachine(t *testing.T, sig uint32) *machine {
	m := newMachine(t, modeLong64, 0)
	m.plat.sig = sig
	m.c.RefreshFeatures()
	return m
}

func (m *machine) rdmsr(t *testing.T, idx uint32) uint64 {
	t.Helper()
	v, f := m.c.ReadMSRDebug(idx)
	require.Nil(t, f, "RDMSR %#x", idx)
	return v
}

// TestBTFSingleStepsOnBranches: with RFLAGS.TF = 1 and IA32_DEBUGCTL.BTF =
// 1 the single-step #DB comes only after a taken branch (SDM Vol. 3B
// 18.4.3): not after NOPs nor a Jcc that falls through; the trap's saved
// RIP is the branch target, DR6.BS = 1, and the processor clears BTF when
// it generates the #DB. With BTF = 0 the same code traps after the first
// instruction.
func TestBTFSingleStepsOnBranches(t *testing.T) {
	src := `mov ecx, 0x1D9
mov eax, %d
xor edx, edx
wrmsr
pushfq
or qword [rsp], 0x100
popfq
nop
xor eax, eax
jne 0x20000
nop
times 0x40-($-$$) nop
je target
times 0x80-($-$$) nop
target: hlt`
	for _, tc := range []struct {
		btf  int
		trap uint64 // saved RIP of the #DB trap
	}{
		{btf: 2, trap: physCode + 0x80},
		{btf: 0, trap: 0}, // after the NOP that follows POPF: found below
	} {
		m := lbrMachine(t, sigSandyBridgeEP)
		m.program(t, fmt.Sprintf(src, tc.btf))
		m.expectVector(t, arch.VecDB)
		rip := m.stack(0, 8)
		s := m.state()
		assert.Equal(t, uint64(arch.DR6BS|0xFFFF0FF0), s.DR[6], "DR6")
		assert.Zero(t, m.c.DebugCtl(), "BTF cleared when the #DB is generated")
		if tc.btf != 0 {
			assert.Equal(t, tc.trap, rip, "BTF: the trap follows the taken JE")
			continue
		}
		// Without BTF: POPF set TF, so the NOP after it is stepped; its
		// successor (XOR) is where the trap returns to.
		assert.Equal(t, byte(0x31), m.bus.ram[rip], "TF alone: the trap follows the first instruction after POPF (saved RIP %#x)", rip)
	}
}

// TestLBRRecordsTakenBranches: with IA32_DEBUGCTL.LBR = 1 the processor
// records each taken branch in the LBR stack: TOS advances and points at
// the newest record, FROM is the branch's address and TO its target (EIP
// format, SDM Vol. 3B 18.4.8, 18.9.1). A Jcc that falls through is not a
// taken branch; MSR_LBR_SELECT filters by branch kind and CPL (18.9.2).
func TestLBRRecordsTakenBranches(t *testing.T) {
	src := `mov ecx, 0x1C8
mov eax, %d
xor edx, edx
wrmsr
mov ecx, 0x1D9
mov eax, 1
wrmsr
times 0x20-($-$$) nop
jmp l1
times 0x40-($-$$) nop
l1: cmp eax, eax
jne l1
times 0x50-($-$$) nop
call f
times 0x60-($-$$) nop
mov ecx, 0x1D9
xor eax, eax
wrmsr
hlt
times 0x80-($-$$) nop
f: ret`
	type rec struct{ from, to uint64 }
	all := []rec{{physCode + 0x20, physCode + 0x40}, {physCode + 0x50, physCode + 0x80}, {physCode + 0x80, physCode + 0x55}}
	for _, tc := range []struct {
		name   string
		sel    int
		want   []rec
		sig    uint32
		depth  uint32
		noInfo bool
	}{
		{"Sandy Bridge, no filter", 0, all, sigSandyBridgeEP, 16, true},
		{"Skylake-SP, no filter", 0, all, sigSkylakeSP, 32, false},
		{"NEAR_RET filtered", 1 << 5, all[:2], sigSandyBridgeEP, 16, true},
		{"NEAR_REL_CALL and NEAR_REL_JMP filtered", 1<<3 | 1<<7, all[2:], sigSandyBridgeEP, 16, true},
		{"CPL_EQ_0: nothing at ring 0", 1, nil, sigSkylakeSP, 32, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := lbrMachine(t, tc.sig)
			m.program(t, fmt.Sprintf(src, tc.sel))
			m.expectDone(t)
			require.Equal(t, uint64(len(tc.want)), m.rdmsr(t, msrLBRTOS), "TOS")
			for i, r := range tc.want {
				assert.Equal(t, r.from, m.rdmsr(t, msrLBRFrom0+uint32(i+1)), "FROM_IP %d", i+1)
				assert.Equal(t, r.to, m.rdmsr(t, msrLBRTo0+uint32(i+1)), "TO_IP %d", i+1)
			}
			// The stack's extent (Vol. 4): FROM/TO 0..depth-1, LBR_INFO only
			// with the Skylake layout.
			m.rdmsr(t, msrLBRFrom0+tc.depth-1)
			_, f := m.c.ReadMSRDebug(msrLBRFrom0 + tc.depth)
			assert.NotNil(t, f, "FROM_IP %d beyond the stack", tc.depth)
			_, f = m.c.ReadMSRDebug(msrLBRInfo0)
			assert.Equal(t, tc.noInfo, f != nil, "MSR_LBR_INFO_0")
		})
	}
}

// TestLBRExceptionAndDB: an exception delivered with LBR = 1 copies the
// newest branch record into MSR_LER_FROM_LIP/TO_LIP and is itself
// recorded (from the RIP it saves, to its handler); a #DB is not recorded
// and clears IA32_DEBUGCTL.LBR, keeping the stack (SDM Vol. 3B 18.4.8,
// "Monitoring Branches, Exceptions, and Interrupts").
func TestLBRExceptionAndDB(t *testing.T) {
	src := `mov ecx, 0x1D9
mov eax, 1
xor edx, edx
wrmsr
times 0x20-($-$$) nop
jmp l1
times 0x40-($-$$) nop
l1: %s`
	t.Run("#UD", func(t *testing.T) {
		m := lbrMachine(t, sigSandyBridgeEP)
		m.program(t, fmt.Sprintf(src, "ud2"))
		m.expectVector(t, arch.VecUD)
		assert.Equal(t, uint64(physCode+0x20), m.rdmsr(t, msrLERFrom))
		assert.Equal(t, uint64(physCode+0x40), m.rdmsr(t, msrLERTo))
		require.Equal(t, uint64(2), m.rdmsr(t, msrLBRTOS))
		assert.Equal(t, uint64(physCode+0x40), m.rdmsr(t, msrLBRFrom0+2), "the fault's saved RIP")
		assert.Equal(t, uint64(physStubs+6*stubSize), m.rdmsr(t, msrLBRTo0+2), "the #UD handler")
		assert.Equal(t, uint64(1), m.c.DebugCtl())
	})
	t.Run("#DB (INT1)", func(t *testing.T) {
		m := lbrMachine(t, sigSandyBridgeEP)
		m.program(t, fmt.Sprintf(src, "int1"))
		m.expectVector(t, arch.VecDB)
		require.Equal(t, uint64(1), m.rdmsr(t, msrLBRTOS), "the #DB is not recorded")
		assert.Equal(t, uint64(physCode+0x20), m.rdmsr(t, msrLBRFrom0+1))
		assert.Zero(t, m.c.DebugCtl(), "LBR cleared by the #DB")
		assert.Zero(t, m.rdmsr(t, msrLERFrom))
	})
}

// TestDebugCtlWRMSR: the defined bits vmxemu does not implement and the
// reserved ones raise #GP(0) naming the rule; LBR needs a model-specific
// LBR stack (Sapphire Rapids has architectural LBRs, masked).
func TestDebugCtlWRMSR(t *testing.T) {
	for _, tc := range []struct {
		sig  uint32
		v    uint64
		want string // "" = accepted
	}{
		{sigSandyBridgeEP, 3, ""},
		{sigSkylakeSP, 1, ""},
		{sigSandyBridgeEP, 1 << 6, "known gap"},  // TR
		{sigSandyBridgeEP, 1 << 5, "reserved"},   // bits 5:2
		{sigSandyBridgeEP, 1 << 16, "reserved"},  // 63:16
		{sigSapphire, 1, ""},                     // architectural LBRs: DEBUGCTL.LBR enables nothing, stored
		{0x206C2, 1, "no LBR stack"},             // Westmere-EP (06_2CH): no LBR table in vmxemu
		{sigSapphire, 2, ""},                     // BTF
		{sigSandyBridgeEP, 1 << 11, "known gap"}, // FREEZE_LBRS_ON_PMI
	} {
		m := lbrMachine(t, tc.sig)
		f := m.c.WriteMSRDebug(msrDebugCtl, tc.v)
		if tc.want == "" {
			require.Nil(t, f, "%#x on %#x", tc.v, tc.sig)
			assert.Equal(t, tc.v, m.c.DebugCtl())
			continue
		}
		require.NotNil(t, f, "%#x on %#x", tc.v, tc.sig)
		assert.Equal(t, uint8(arch.VecGP), f.Vector)
		assert.Contains(t, f.Rule, tc.want)
	}
	_, f := lbrMachine(t, sigSapphire).c.ReadMSRDebug(msrLBRTOS)
	assert.NotNil(t, f, "no model-specific LBR MSRs on Sapphire Rapids")
	m := lbrMachine(t, sigSkylakeSP)
	assert.Contains(t, m.c.WriteMSRDebug(msrLBRSelect, 1<<9).Rule, "call-stack")
	assert.Contains(t, m.c.WriteMSRDebug(msrLBRSelect, 1<<10).Rule, "reserved")
	require.Nil(t, m.c.WriteMSRDebug(msrLBRTOS, 33))
	assert.Equal(t, uint64(1), m.rdmsr(t, msrLBRTOS), "TOS wraps within the 32 entries")
}

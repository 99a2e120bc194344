package cpu_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// Hardware task switching (SDM Vol. 3A 7.3, Table 7-1; Vol. 2A JMP/CALL
// TASK-GATE and TASK-STATE-SEGMENT, INT n TASK-GATE, IRET TASK-RETURN).

const (
	selTSS2     = 0xA0              // the second task's 32-bit TSS
	selTaskGate = 0xA8              // a task gate for selTSS2
	selDataNP   = 0xB0              // DPL-0 data, not present
	physTSS2    = physTSS32 + 0x200 // the second task's TSS
	task2Stack  = 0x6C000
	tssNT       = 1 << 14
)

// taskGateDesc encodes a task gate (SDM Vol. 3A 7.2.5, Figure 7-6).
func taskGateDesc(tss uint16, dpl uint8, present bool) uint64 {
	p := uint64(0x80)
	if !present {
		p = 0
	}
	return uint64(tss)<<16 | (p|uint64(dpl)<<5|0x5)<<40
}

// taskMachine builds a protected-mode machine running src, with the
// current task in selTSS (busy) and an available 32-bit TSS at selTSS2
// whose EIP is the label "task2", ESP task2Stack, EAX..EDI 0xA0..0xA7,
// flat ring-0 segments.
func taskMachine(t *testing.T, src string) *machine {
	m := newMachine(t, modeProt32, 0)
	m.program(t, src)
	m.setGDT(selTSS2, desc(physTSS2, 0x67, accTSS, 0))
	m.setGDT(selTaskGate, taskGateDesc(selTSS2, 0, true))
	m.setGDT(selDataNP, desc(0, 0xFFFFF, 0x13, flgG32))
	m.w32(physTSS2+0x20, uint32(labelAddr(t, 32, physCode, src, "task2")))
	m.w32(physTSS2+0x24, 0x2) // EFLAGS: IF=0, NT=0
	for i := 0; i < 8; i++ {
		m.w32(physTSS2+0x28+uint64(4*i), 0xA0+uint32(i))
	}
	m.w32(physTSS2+0x38, task2Stack) // ESP
	for i, sel := range []uint16{selData0, selCode32, selData0, selData0, selData0, selData0} {
		m.w16(physTSS2+0x48+uint64(4*i), sel)
	}
	m.w16(physTSS2+0x66, 0x68)
	return m
}

// gdtType returns the type field of a GDT descriptor.
func (m *machine) gdtType(sel uint16) uint8 { return uint8(m.r64(physGDT+uint64(sel&^7))>>40) & 0xF }

// TestTaskJMP: JMP to an available TSS saves the old task's state (EIP
// after the JMP) in the old TSS, clears its busy flag, marks the new TSS
// busy, loads TR and the registers of the new TSS, leaves NT clear and
// sets CR0.TS (Vol. 3A 7.3 steps 5-11, 2.5).
func TestTaskJMP(t *testing.T) {
	src := `
	mov eax, 0x11111111
	mov ebx, 0x22222222
	jmp 0xA0:0
after:
	hlt
task2:
	mov ecx, eax
	str dx
	pushfd
	pop esi
	hlt
`
	m := taskMachine(t, src)
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint16(selTSS2), s.TR.Selector)
	require.Equal(t, uint64(physTSS2), s.TR.Base)
	require.Equal(t, uint64(0xA0), s.GPR[arch.RCX], "EAX from the new TSS")
	require.Equal(t, uint64(0xA3), s.GPR[arch.RBX], "EBX from the new TSS")
	require.Equal(t, uint64(selTSS2), s.GPR[arch.RDX]&0xFFFF, "STR")
	require.Equal(t, uint64(task2Stack), s.GPR[arch.RSP])
	require.Zero(t, s.GPR[arch.RSI]&tssNT, "JMP does not nest: NT as in the new TSS")
	require.NotZero(t, s.CR0&arch.CR0TS, "CR0.TS set by the task switch")
	require.Equal(t, uint8(0xB), m.gdtType(selTSS2), "new TSS busy")
	require.Equal(t, uint8(0x9), m.gdtType(selTSS), "old TSS no longer busy after JMP")
	require.Equal(t, uint32(labelAddr(t, 32, physCode, src, "after")), m.r32(physTSS32+0x20), "old EIP: after the JMP")
	require.Equal(t, uint32(0x11111111), m.r32(physTSS32+0x28), "old EAX")
	require.Equal(t, uint32(0x22222222), m.r32(physTSS32+0x34), "old EBX")
	require.Equal(t, uint32(physStack), m.r32(physTSS32+0x38), "old ESP")
	require.Equal(t, uint32(selCode32), m.r32(physTSS32+0x4C)&0xFFFF, "old CS")
	require.Equal(t, uint16(0), m.r16(physTSS2), "JMP writes no back link")
}

// TestTaskCALLAndIRET: CALL through a task gate nests (new NT=1, back
// link = old TR, old busy kept); IRET with NT=1 returns to the old task,
// saving the inner task with NT clear and clearing its busy flag.
func TestTaskCALLAndIRET(t *testing.T) {
	for _, target := range []struct {
		name string
		sel  string
	}{{"TSS", "0xA0"}, {"task gate", "0xA8"}} {
		t.Run(target.name, func(t *testing.T) {
			src := `
	mov eax, 0x11111111
	call ` + target.sel + `:0
back:
	mov esi, eax
	pushfd
	pop edi
	str dx
	hlt
task2:
	pushfd
	pop ebp
	mov [0x80000], ebp
	str ax
	mov [0x80004], eax
	mov eax, 0x33333333
	iretd
task2next:
	hlt
`
			m := taskMachine(t, src)
			m.expectDone(t)
			s := m.state()
			require.NotZero(t, m.r32(physData)&tssNT, "NT set in the called task")
			require.Equal(t, uint32(selTSS2), m.r32(physData+4)&0xFFFF, "TR in the called task")
			require.Equal(t, uint16(selTSS), m.r16(physTSS2), "back link = the caller's TSS")
			require.Equal(t, uint16(selTSS), s.TR.Selector, "IRET returned to the caller's task")
			require.Equal(t, uint64(selTSS), s.GPR[arch.RDX]&0xFFFF)
			require.Equal(t, uint64(0x11111111), s.GPR[arch.RSI], "caller's EAX restored")
			require.Zero(t, s.GPR[arch.RDI]&tssNT, "caller's NT")
			require.Equal(t, uint64(physStack), s.GPR[arch.RSP])
			require.Equal(t, uint8(0x9), m.gdtType(selTSS2), "IRET clears the inner task's busy flag")
			require.Equal(t, uint8(0xB), m.gdtType(selTSS), "caller still busy")
			require.Zero(t, m.r32(physTSS2+0x24)&tssNT, "IRET saves the inner task with NT=0")
			require.Equal(t, uint32(0x33333333), m.r32(physTSS2+0x28), "inner EAX saved")
			require.Equal(t, uint32(labelAddr(t, 32, physCode, src, "task2next")), m.r32(physTSS2+0x20), "inner EIP after IRET")
		})
	}
}

// TestTaskInterruptGate: events through an IDT task gate switch tasks
// with nesting; the old EIP is after INT n and at a faulting instruction;
// an error code is pushed on the new task's stack (Vol. 3A 6.11.1, 7.3).
func TestTaskInterruptGate(t *testing.T) {
	for _, tc := range []struct {
		name, code string
		vec        uint8
		errCode    int64 // -1: none
		oldEIP     string
	}{
		{"INT n", "int 0x40\nafter:", 0x40, -1, "after"},
		{"#GP with error code", "fault: mov ds, cx\nafter:", arch.VecGP, 0x1234, "fault"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := `
	mov cx, 0x1234
	` + tc.code + `
	hlt
task2:
	pushfd
	pop ebp
	str dx
	hlt
`
			m := taskMachine(t, src)
			m.setGate32(tc.vec, taskGateDesc(selTSS2, 0, true))
			m.expectDone(t)
			s := m.state()
			require.Equal(t, uint16(selTSS2), s.TR.Selector)
			require.NotZero(t, s.GPR[arch.RBP]&tssNT, "NT set by the nesting switch")
			require.Equal(t, uint16(selTSS), m.r16(physTSS2), "back link")
			require.Equal(t, uint8(0xB), m.gdtType(selTSS), "interrupted task stays busy")
			require.Equal(t, uint32(labelAddr(t, 32, physCode, src, tc.oldEIP)), m.r32(physTSS32+0x20), "saved EIP")
			if tc.errCode < 0 {
				require.Equal(t, uint64(task2Stack), s.GPR[arch.RSP])
			} else {
				require.Equal(t, uint64(task2Stack-4), s.GPR[arch.RSP], "error code pushed on the new stack")
				require.Equal(t, uint32(tc.errCode), m.r32(task2Stack-4))
			}
		})
	}
}

// TestTaskSwitchFaults: the checks of Vol. 2A JMP/CALL/IRET and Vol. 3A
// Table 7-1, with their error codes. Faults before the commit point leave
// the old task; later ones are in the new task (TR already switched).
func TestTaskSwitchFaults(t *testing.T) {
	for _, tc := range []struct {
		name  string
		code  string
		setup func(m *machine)
		vec   int
		err   uint32
		newTR bool
	}{
		{"JMP to the busy current TSS", "jmp 0x38:0", nil, arch.VecGP, selTSS, false},
		{"CALL to a busy TSS", "call 0xA0:0", func(m *machine) { m.setGDT(selTSS2, desc(physTSS2, 0x67, 0x8B, 0)) }, arch.VecGP, selTSS2, false},
		{"task gate to a busy TSS", "jmp 0xA8:0", func(m *machine) { m.setGDT(selTSS2, desc(physTSS2, 0x67, 0x8B, 0)) }, arch.VecGP, selTSS2, false},
		{"TSS not present", "jmp 0xA0:0", func(m *machine) { m.setGDT(selTSS2, desc(physTSS2, 0x67, 0x09, 0)) }, arch.VecNP, selTSS2, false},
		{"task gate not present", "jmp 0xA8:0", func(m *machine) { m.setGDT(selTaskGate, taskGateDesc(selTSS2, 0, false)) }, arch.VecNP, selTaskGate, false},
		{"TSS limit below 67H", "jmp 0xA0:0", func(m *machine) { m.setGDT(selTSS2, desc(physTSS2, 0x66, accTSS, 0)) }, arch.VecTS, selTSS2, false},
		{"TSS DPL < RPL", "jmp 0xA3:0", nil, arch.VecGP, selTSS2, false},
		{"IRET back link to an available TSS", "pushfd\nor dword [esp], 0x4000\npopfd\niretd", func(m *machine) { m.w16(physTSS32, selTSS2) }, arch.VecTS, selTSS2, false},
		{"new DS not present (after the commit point)", "jmp 0xA0:0", func(m *machine) { m.w16(physTSS2+0x54, selDataNP) }, arch.VecNP, selDataNP, true},
		{"new CS not present (after the commit point)", "jmp 0xA0:0", func(m *machine) {
			m.setGDT(selCodeNP, desc(0, 0xFFFFF, 0x1B, flgG32))
			m.w16(physTSS2+0x4C, selCodeNP)
		}, arch.VecNP, selCodeNP, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.code + "\nhlt\ntask2:\nhlt\n"
			m := taskMachine(t, src)
			if tc.setup != nil {
				tc.setup(m)
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(tc.err), m.stack(0, 4), "error code")
			s := m.state()
			if tc.newTR {
				require.Equal(t, uint16(selTSS2), s.TR.Selector, "fault in the new task")
				require.Equal(t, uint64(labelAddr(t, 32, physCode, src, "task2")), m.stack(1, 4), "EIP pushed: the new task's")
			} else {
				require.Equal(t, uint16(selTSS), s.TR.Selector, "no switch")
				require.Equal(t, uint64(physCode), m.stack(1, 4)&^0xF, "EIP pushed: in the old task")
			}
		})
	}
}

// TestTaskSwitchLongModeGP: IA-32e mode has no task switching: IRET with
// NT=1 raises #GP(0) (Vol. 2A IRET "IF EFLAGS.NT = 1 ... IA-32e").
func TestTaskSwitchLongModeGP(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.program(t, "pushfq\nor dword [rsp], 0x4000\npopfq\niretq\nhlt\n")
	m.expectVector(t, arch.VecGP)
	require.Equal(t, uint64(0), m.stack(0, 8))
}

// TestTaskSwitchLoadsCR3: with paging on, the new task's CR3 comes from
// its TSS (Vol. 3A 7.2.1 "CR3 control register field", 7.3 step 11); the
// old TSS's CR3 field is not written (a static field).
func TestTaskSwitchLoadsCR3(t *testing.T) {
	const pd2 = 0x16000
	src := "jmp 0xA0:0\nhlt\ntask2:\nmov eax, cr3\nhlt\n"
	m := taskMachine(t, src)
	m.identityMap32()
	copy(m.bus.ram[pd2:pd2+4096], m.bus.ram[physPD32:physPD32+4096])
	m.w32(physTSS2+0x1C, pd2)
	m.w32(physTSS32+0x1C, 0xDEAD000)
	s := m.state()
	s.CR3 = physPD32
	s.CR0 |= arch.CR0PG
	m.set(s)
	m.expectDone(t)
	s = m.state()
	require.Equal(t, uint64(pd2), s.CR3)
	require.Equal(t, uint64(pd2), s.GPR[arch.RAX])
	require.Equal(t, uint32(0xDEAD000), m.r32(physTSS32+0x1C), "CR3 is not saved in the old TSS")
}

// TestTaskSwitch16BitTSS: 16-bit TSSes are a documented gap: #GP(selector).
func TestTaskSwitch16BitTSS(t *testing.T) {
	m := taskMachine(t, "jmp 0xA0:0\nhlt\ntask2:\nhlt\n")
	m.setGDT(selTSS2, desc(physTSS2, 0x67, 0x81, 0))
	m.expectVector(t, arch.VecGP)
	require.Equal(t, uint64(selTSS2), m.stack(0, 4))
	require.Equal(t, uint16(selTSS), m.state().TR.Selector)
}

// TestTaskGateFaultAfterCommit: a fault after the commit point of a switch
// through an IDT task gate is raised in the new task (Vol. 3A 7.3 step
// 11): TR stays switched and the frame holds the new task's EIP.
func TestTaskGateFaultAfterCommit(t *testing.T) {
	src := "int 0x40\nhlt\ntask2:\nhlt\n"
	m := taskMachine(t, src)
	m.setGate32(0x40, taskGateDesc(selTSS2, 0, true))
	m.w16(physTSS2+0x54, selDataNP)
	m.expectVector(t, arch.VecNP)
	require.Equal(t, uint64(selDataNP), m.stack(0, 4), "error code (INT n: EXT=0)")
	require.Equal(t, uint64(labelAddr(t, 32, physCode, src, "task2")), m.stack(1, 4))
	require.Equal(t, uint16(selTSS2), m.state().TR.Selector)
	require.Equal(t, uint16(selTSS), m.r16(physTSS2), "back link written before the commit point")
}

package machine

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
)

func TestDebuggerBreakStepAndEnd(t *testing.T) {
	// 0x100000: mov eax,1 / 0x100005: mov ecx,2 / 0x10000a: mov eax,0x10; out 0xf4,eax; hlt
	code := prog(movEAXImm(1), movECXImm(2), debugExit(0x10))
	b := newBoard(t, code, firmware.Mode32Flat, nil)
	d, err := b.m.NewDebugger(Limits{})
	require.NoError(t, err)
	ctx := context.Background()
	at := func(pc uint64) func(int, uint64) bool {
		return func(_ int, p uint64) bool { return p == pc }
	}

	// A breakpoint stops before the instruction.
	st, err := d.Continue(ctx, at(0x100005), nil)
	require.NoError(t, err)
	assert.Equal(t, DebugStop{Event: DebugBreak, CPU: 0}, st)
	s := b.m.CPU(0).GetState()
	assert.Equal(t, uint64(0x100005), s.RIP)
	assert.Equal(t, uint64(1), s.GPR[arch.RAX])
	assert.Equal(t, uint64(0), s.GPR[arch.RCX], "not executed yet")

	// Continuing from the breakpoint makes progress.
	st, err = d.Continue(ctx, func(_ int, p uint64) bool { return p == 0x100005 || p == 0x10000a }, nil)
	require.NoError(t, err)
	assert.Equal(t, DebugBreak, st.Event)
	assert.Equal(t, uint64(0x10000a), b.m.CPU(0).RIP)

	// A poll stops a run (between quanta).
	st, err = d.Continue(ctx, nil, func() bool { return true })
	require.NoError(t, err)
	assert.Equal(t, DebugPolled, st.Event)
	assert.Equal(t, uint64(0x10000a), b.m.CPU(0).RIP)

	st, err = d.Step(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, DebugStepped, st.Event)
	assert.Equal(t, uint64(0x10000f), b.m.CPU(0).RIP)

	// The device exit ends the run as Run would.
	st, err = d.Continue(ctx, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, DebugEnded, st.Event)
	assert.Equal(t, ResultDebugExit, st.Result.Kind)
	assert.Equal(t, 0x10<<1|1, st.Result.Code)
	require.NotNil(t, d.Ended())
	st, err = d.Step(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, DebugEnded, st.Event, "an ended run stays ended")
}

// Step on an instruction that faults delivers the fault and stops at the
// handler's first instruction, which has not run: the delivery is the
// step's one event (cpu.Run's budget). A #UD is a fault, so the EIP saved
// on the handler's stack is the faulting instruction's (SDM Vol. 3A 6.5,
// 6.12.1).
func TestDebuggerStepOverFault(t *testing.T) {
	const (
		handler = 0x100010
		idt     = 0x101000
	)
	// 0x100000: ud2 / 0x100010 (the #UD handler): mov eax,1 ...
	code := make([]byte, handler-0x100000)
	copy(code, []byte{0x0F, 0x0B})
	code = append(code, prog(movEAXImm(1), debugExit(0x10))...)
	b := newBoard(t, code, firmware.Mode32Flat, nil)
	c := b.m.CPU(0)
	s := c.GetState()
	// A 32-bit interrupt gate for #UD: offset, the current CS, P=1,
	// DPL 0, type 0xE (SDM Vol. 3A 6.11, Figure 6-2).
	gate := uint64(handler&0xFFFF) | uint64(s.Seg[arch.CS].Selector)<<16 |
		uint64(0x8E)<<40 | uint64(handler>>16)<<48
	require.True(t, c.WriteLinear(idt+uint64(arch.VecUD)*8, binary.LittleEndian.AppendUint64(nil, gate)))
	s.IDTR = arch.DescTable{Base: idt, Limit: 256*8 - 1}
	const esp = 0x102000 // a stack in RAM
	s.GPR[arch.RSP] = esp
	c.SetState(s)

	d, err := b.m.NewDebugger(Limits{})
	require.NoError(t, err)
	ctx := context.Background()
	st, err := d.Step(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, DebugStepped, st.Event)
	s = c.GetState()
	assert.Equal(t, uint64(handler), s.RIP, "at the handler")
	assert.Equal(t, uint64(0), s.GPR[arch.RAX]&0xFFFFFFFF, "its first instruction has not run")
	assert.Equal(t, uint64(esp-12), s.GPR[arch.RSP], "EFLAGS, CS, EIP pushed, no error code")
	saved := make([]byte, 4)
	require.True(t, c.ReadLinear(s.GPR[arch.RSP], saved))
	assert.Equal(t, []byte{0x00, 0x00, 0x10, 0x00}, saved, "the saved EIP is the UD2's")

	_, err = d.Step(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(1), c.GetState().GPR[arch.RAX]&0xFFFFFFFF, "the next step runs it")
}

func TestDebuggerLimitsAndCancel(t *testing.T) {
	b := newBoard(t, jmpSelf, firmware.Mode32Flat, nil)
	d, err := b.m.NewDebugger(Limits{Instructions: 1000})
	require.NoError(t, err)
	st, err := d.Continue(context.Background(), func(int, uint64) bool { return false }, nil)
	require.NoError(t, err)
	assert.Equal(t, ResultLimit, st.Result.Kind)
	assert.Equal(t, uint64(1000), st.Result.Icount)

	b = newBoard(t, jmpSelf, firmware.Mode32Flat, nil)
	d, err = b.m.NewDebugger(Limits{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	st, err = d.Continue(ctx, nil, nil)
	require.NoError(t, err)
	assert.Equal(t, ResultCanceled, st.Result.Kind)
}

func TestCPUWriteLinear(t *testing.T) {
	// The guest runs mov eax,1; the debugger rewrites the immediate after
	// the code was decoded: the new bytes must execute.
	code := prog(movEAXImm(1), movEAXImm(1), debugExit(0x10))
	b := newBoard(t, code, firmware.Mode32Flat, nil)
	d, err := b.m.NewDebugger(Limits{})
	require.NoError(t, err)
	ctx := context.Background()
	_, err = d.Step(ctx, 0)
	require.NoError(t, err)
	c := b.m.CPU(0)
	require.True(t, c.WriteLinear(0x100006, []byte{0x42}))
	got := make([]byte, 5)
	require.True(t, c.ReadLinear(0x100005, got))
	assert.Equal(t, []byte{0xB8, 0x42, 0, 0, 0}, got)
	_, err = d.Step(ctx, 0)
	require.NoError(t, err)
	assert.Equal(t, uint64(0x42), c.GetState().GPR[arch.RAX])
	assert.False(t, c.WriteLinear(0xFFFF_FFFF_0000, []byte{1}), "beyond RAM")
}

// Machine.Break (-break-on): the CPU stops after the instruction whose
// hook asked; Run ends with ResultBreak, a Debugger stops and can go on.
// A device's end of the run in the same instruction wins.
func TestBreak(t *testing.T) {
	// 0x100000: mov eax,1 / 0x100005: out 0x80,al / 0x100007: mov ecx,2 / exit
	code := prog(movEAXImm(1), []byte{0xE6, 0x80}, movECXImm(2), debugExit(0x10))
	install := func(b testBoard, port uint16) {
		b.m.CPU(0).Hooks = &cpu.Hooks{IO: func(c *cpu.CPU, p uint16, _ int, _ uint32, _ bool) {
			if p == port {
				b.m.Break(c.ID, "test break")
			}
		}}
	}

	b := newBoard(t, code, firmware.Mode32Flat, nil)
	install(b, 0x80)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultBreak, res.Kind)
	assert.Equal(t, "test break", res.Reason)
	assert.Equal(t, 0, res.CPU)
	assert.Equal(t, uint64(0x100007), res.State.RIP, "stopped after the OUT")
	assert.Equal(t, uint64(0), res.State.GPR[arch.RCX])

	b = newBoard(t, code, firmware.Mode32Flat, nil)
	install(b, 0x80)
	d, err := b.m.NewDebugger(Limits{})
	require.NoError(t, err)
	st, err := d.Continue(context.Background(), nil, nil)
	require.NoError(t, err)
	assert.Equal(t, DebugStop{Event: DebugEventBreak, CPU: 0, Reason: "test break"}, st)
	assert.Equal(t, uint64(0x100007), b.m.CPU(0).RIP)
	st, err = d.Continue(context.Background(), nil, nil)
	require.NoError(t, err)
	assert.Equal(t, DebugEnded, st.Event, "the run goes on after the stop")
	assert.Equal(t, ResultDebugExit, st.Result.Kind)

	b = newBoard(t, code, firmware.Mode32Flat, nil)
	install(b, 0xF4)
	res = b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, "the guest's exit wins over a break in the same instruction")
}

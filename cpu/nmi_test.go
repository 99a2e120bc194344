package cpu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// nmiMachine is a 32-bit machine (the equivalence test's layout) whose NMI
// handler at 0x3800 counts its entries in the dword at eqData and returns
// with IRET; the main program is NOPs ending in HLT.
func nmiMachine(t *testing.T, handler []byte) *eqMachine {
	tpl := newEqTemplate(mode32, buildTables())
	prog := make([]byte, 32)
	for i := range prog {
		prog[i] = 0x90
	}
	prog[len(prog)-1] = 0xF4
	m := tpl.machine(prog, tpl.state.GPR, arch.FlagIF, nil)
	const h = 0x3800
	copy(m.bus.ram[h:], handler)
	binary.LittleEndian.PutUint64(m.bus.ram[eqIDT+2*8:], h|eqSelCode<<16|0x8E<<40)
	require.False(t, m.c.NMIBlocked())
	return m
}

func nmiCount(m *eqMachine) uint32 { return binary.LittleEndian.Uint32(m.bus.ram[eqData:]) }

// inc dword [eqData]; iretd
var nmiCountIRET = []byte{0xFF, 0x05, 0x00, 0x00, 0x02, 0x00, 0xCF}

// TestNMIBlocking: delivering an NMI blocks NMIs until the next IRET; an
// NMI raised meanwhile stays pending and is taken right after the IRET
// (SDM Vol. 3A 6.7.1).
func TestNMIBlocking(t *testing.T) {
	m := nmiMachine(t, nmiCountIRET)
	c := m.c
	c.Run(2) // two NOPs
	c.RaiseNMI()
	c.Run(1) // the delivery
	require.Equal(t, uint64(0x3800), c.RIP, "in the handler")
	assert.True(t, c.NMIBlocked())
	c.RaiseNMI() // while blocked
	c.Run(1)     // inc: not interrupted by the NMI
	assert.Equal(t, uint32(1), nmiCount(m))
	assert.Equal(t, uint64(0x3806), c.RIP, "at the IRET, the second NMI still pending")
	c.Run(1) // IRET unblocks
	assert.False(t, c.NMIBlocked())
	c.Run(1) // the pending NMI, at once
	assert.True(t, c.NMIBlocked())
	assert.Equal(t, uint64(0x3800), c.RIP)
	c.Run(100)
	assert.Equal(t, uint32(2), nmiCount(m), "two NMIs, taken one after the other")
	assert.True(t, c.Halted())
	assert.False(t, c.NMIBlocked())
	assert.Equal(t, uint64(eqCode+32), c.RIP, "the main program ran to its HLT")
}

// TestNMIBlockedHalt: a processor halted inside its NMI handler is not
// woken by another NMI (it cannot be delivered, SDM Vol. 3A 6.7.1), and
// NMIs are edge-triggered: a second one while one is pending is lost.
func TestNMIBlockedHalt(t *testing.T) {
	// inc dword [eqData]; hlt; iretd
	m := nmiMachine(t, []byte{0xFF, 0x05, 0x00, 0x00, 0x02, 0x00, 0xF4, 0xCF})
	c := m.c
	c.RaiseNMI()
	assert.Equal(t, StopHalt, c.Run(100))
	require.Equal(t, uint32(1), nmiCount(m))
	c.RaiseNMI()
	c.RaiseNMI()
	assert.True(t, c.Halted(), "a blocked NMI does not end HLT")
	assert.Equal(t, StopHalt, c.Run(100))
	assert.Equal(t, uint32(1), nmiCount(m))
}

// TestExceptionEffectsAtDelivery: raising a #PF leaves CR2 and RFLAGS.RF
// alone; they change when the exception is delivered (SDM Vol. 3C 28.1:
// an exception that causes a VM exit does not update CR2, DR6 or RF).
func TestExceptionEffectsAtDelivery(t *testing.T) {
	m := nmiMachine(t, nmiCountIRET)
	c := m.c
	c.CR2 = 0x1234
	c.raise(arch.Fault{Vector: arch.VecPF, HasError: true, Code: 2, Addr: 0xDEAD000, Rule: "test"})
	assert.Equal(t, uint64(0x1234), c.CR2, "not at raise")
	assert.Zero(t, c.RFLAGS&arch.FlagRF)
	c.stop = false
	c.deliverFault()
	assert.Equal(t, uint64(0xDEAD000), c.CR2, "at delivery")
	// The frame: error code, EIP, CS, EFLAGS with RF=1 (a fault).
	esp := c.GPR[arch.RSP]
	eflags := binary.LittleEndian.Uint32(m.bus.ram[esp+12:])
	assert.NotZero(t, eflags&arch.FlagRF, "RF=1 in the saved EFLAGS of a fault")

	// A trap (single step) sets DR6.BS at delivery and leaves RF clear.
	m = nmiMachine(t, nmiCountIRET)
	c = m.c
	c.DR[6] = 0xFFFF0FF0
	f := faultSingleStep
	c.event(arch.VecDB, false, 0, evException, &f)
	assert.Equal(t, uint64(0xFFFF0FF0|arch.DR6BS), c.DR[6])
	esp = c.GPR[arch.RSP]
	eflags = binary.LittleEndian.Uint32(m.bus.ram[esp+8:])
	assert.Zero(t, eflags&arch.FlagRF, "RF untouched for a trap")
}

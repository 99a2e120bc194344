package machine

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
)

// Local APIC tests. Expected values are the SDM's (Vol. 3A chapter 11):
// register reset values (11.4.7.1), PPR (11.8.3.1), ICR destinations
// (11.6.2), the timer (11.5.4) and the x2APIC rules (11.12).

func smpBoard(t *testing.T, n int) *Machine {
	t.Helper()
	b := newBoard(t, prog(hlt), firmware.Mode32Flat, func(c *Config) { c.CPUs = n })
	return b.m
}

// on makes CPU i the running one (its xAPIC page answers at 0xFEE00000).
func on(m *Machine, i int) *LocalAPIC { m.cur = m.cpus[i]; return m.apics[i] }

func rd(m *Machine, i int, off uint32) uint32 {
	on(m, i)
	return uint32(m.ReadMMIO(0xFEE00000+uint64(off), 4))
}

func wr(m *Machine, i int, off, v uint32) {
	on(m, i)
	m.WriteMMIO(0xFEE00000+uint64(off), 4, uint64(v))
}

func TestAPICResetValues(t *testing.T) {
	m := smpBoard(t, 2)
	for _, tc := range []struct {
		name    string
		off     uint32
		bsp, ap uint32
	}{
		{"ID", apicRegID, 0 << 24, 1 << 24},
		{"version: 15H, 7 LVT entries", apicRegVersion, 0x60015, 0x60015},
		{"TPR", apicRegTPR, 0, 0},
		{"PPR", apicRegPPR, 0, 0},
		{"LDR", apicRegLDR, 0, 0},
		{"DFR all ones", apicRegDFR, 0xFFFFFFFF, 0xFFFFFFFF},
		// SeaBIOS software-enables the BSP's APIC and programs LINT0/1
		// (virtual-wire mode); an AP's is at its reset value 0xFF.
		{"SVR", apicRegSVR, 0x1FF, 0xFF},
		{"LVT timer masked", apicRegTimer, 0x10000, 0x10000},
		{"LVT LINT0", apicRegLINT0, 0x8700, 0x10000},
		{"LVT LINT1", apicRegLINT1, 0x8400, 0x10000},
		{"LVT error", apicRegError, 0x10000, 0x10000},
		{"initial count", apicRegInitCnt, 0, 0},
		{"current count", apicRegCurCnt, 0, 0},
		{"divide", apicRegDivide, 0, 0},
		{"ISR", apicRegISR, 0, 0},
		{"IRR", apicRegIRR + 0x70, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.bsp, rd(m, 0, tc.off), "BSP")
			assert.Equal(t, tc.ap, rd(m, 1, tc.off), "AP")
		})
	}
	assert.True(t, m.cpus[1].WaitingForSIPI(), "APs start in wait-for-SIPI")
	assert.False(t, m.cpus[0].WaitingForSIPI())
}

// TestAPICPriority checks PPR and whether an IRR vector is delivered
// (SDM Vol. 3A 11.8.3.1: PPR = TPR if TPR[7:4] >= ISRV[7:4], else
// ISRV[7:4]:0; an IRR vector is delivered if its class is above PPR's).
func TestAPICPriority(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tpr     uint32
		inSvc   uint8 // vector in service (0: none)
		irr     uint8
		ppr     uint32
		pending bool
	}{
		{"nothing in service", 0, 0, 0x31, 0x00, true},
		{"TPR blocks the same class", 0x35, 0, 0x31, 0x35, false},
		{"TPR blocks a lower class", 0x40, 0, 0x3F, 0x40, false},
		{"higher class passes TPR", 0x40, 0, 0x51, 0x40, true},
		{"ISR class above TPR", 0x20, 0x61, 0x65, 0x60, false},
		{"ISR class below TPR", 0x72, 0x61, 0x79, 0x72, false},
		{"above the in-service class", 0x10, 0x61, 0x71, 0x60, true},
		{"TPR class equal to the ISR class: PPR = TPR", 0x65, 0x61, 0x71, 0x65, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := smpBoard(t, 1)
			a := on(m, 0)
			if tc.inSvc != 0 {
				a.accept(tc.inSvc, false)
				require.Equal(t, tc.inSvc, a.Ack())
			}
			wr(m, 0, apicRegTPR, tc.tpr)
			a.accept(tc.irr, false)
			assert.Equal(t, tc.ppr, rd(m, 0, apicRegPPR), "PPR")
			assert.Equal(t, tc.pending, a.Pending())
			assert.Equal(t, uint64(tc.tpr>>4), m.cpus[0].CR8, "CR8 is TPR[7:4] (11.8.6)")
		})
	}
}

func TestAPICEOIAndTMR(t *testing.T) {
	m := smpBoard(t, 1)
	a := on(m, 0)
	a.accept(0x40, true) // level-triggered
	a.accept(0x80, false)
	assert.Equal(t, uint32(1), rd(m, 0, apicRegTMR+0x20), "TMR bit 0x40")
	assert.Equal(t, uint8(0x80), a.Ack(), "highest first")
	assert.Equal(t, uint32(0x80), rd(m, 0, apicRegPPR), "PPR follows ISR")
	assert.False(t, a.Pending(), "0x40 is below the in-service class")
	wr(m, 0, apicRegEOI, 0)
	assert.Zero(t, rd(m, 0, apicRegISR+0x40))
	assert.True(t, a.Pending())
	assert.Equal(t, uint8(0x40), a.Ack())
	wr(m, 0, apicRegEOI, 0)
	assert.Zero(t, rd(m, 0, apicRegPPR))
	// A CR8 write (MOV CR8) changes TPR[7:4] and clears TPR[3:0].
	wr(m, 0, apicRegTPR, 0x5A)
	m.cpus[0].CR8 = 3
	assert.Equal(t, uint32(0x30), rd(m, 0, apicRegTPR))
}

func TestAPICIllegalVectorAndESR(t *testing.T) {
	m := smpBoard(t, 2)
	wr(m, 0, apicRegICRHi, 1<<24)
	wr(m, 0, apicRegICRLo, 0x0005) // fixed, vector 5: illegal
	assert.Zero(t, rd(m, 0, apicRegESR), "ESR reads what the last write latched")
	wr(m, 0, apicRegESR, 0)
	assert.Equal(t, uint32(esrSendIllegalVector), rd(m, 0, apicRegESR), "send illegal vector (11.5.3)")
	assert.Zero(t, m.apics[1].irr, "not delivered")
	wr(m, 0, apicRegESR, 0)
	assert.Zero(t, rd(m, 0, apicRegESR), "cleared by the next write")
	rd(m, 0, 0x3C0) // no register there
	wr(m, 0, apicRegESR, 0)
	assert.Equal(t, uint32(esrIllegalRegister), rd(m, 0, apicRegESR))
}

// TestICRDestinations: which CPUs a fixed IPI reaches (SDM Vol. 3A
// 11.6.2.1-11.6.2.3, Table 11-3 for the shorthands).
func TestICRDestinations(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(m *Machine)
		dest  uint32
		icr   uint32
		want  []int
	}{
		{"physical", nil, 2, 0x60, []int{2}},
		{"physical broadcast 0xFF", nil, 0xFF, 0x60, []int{0, 1, 2, 3}},
		{"physical no match", nil, 7, 0x60, nil},
		{"self", nil, 3, 0x40060, []int{0}},
		{"all including self", nil, 0, 0x80060, []int{0, 1, 2, 3}},
		{"all excluding self", nil, 0, 0xC0060, []int{1, 2, 3}},
		{"logical flat", func(m *Machine) {
			for i := range 4 {
				wr(m, i, apicRegLDR, 1<<(24+i))
			}
		}, 0x0A, 0x860, []int{1, 3}},
		{"logical cluster", func(m *Machine) {
			ldr := []uint32{0x11, 0x12, 0x21, 0x22}
			for i := range 4 {
				wr(m, i, apicRegDFR, 0x0FFFFFFF)
				wr(m, i, apicRegLDR, ldr[i]<<24)
			}
		}, 0x23, 0x860, []int{2, 3}},
		{"logical cluster broadcast cluster 15", func(m *Machine) {
			ldr := []uint32{0x11, 0x12, 0x21, 0x22}
			for i := range 4 {
				wr(m, i, apicRegDFR, 0x0FFFFFFF)
				wr(m, i, apicRegLDR, ldr[i]<<24)
			}
		}, 0xF1, 0x860, []int{0, 2}},
		{"lowest priority picks the lowest PPR", func(m *Machine) {
			for i := range 4 {
				wr(m, i, apicRegLDR, 0xFF<<24)
			}
			wr(m, 0, apicRegTPR, 0x20)
			wr(m, 1, apicRegTPR, 0x10)
			wr(m, 2, apicRegTPR, 0x30)
			wr(m, 3, apicRegTPR, 0x10)
		}, 0x0F, 0x960, []int{1}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := smpBoard(t, 4)
			if tc.setup != nil {
				tc.setup(m)
			}
			wr(m, 0, apicRegICRHi, tc.dest<<24)
			wr(m, 0, apicRegICRLo, tc.icr)
			var got []int
			for i, a := range m.apics {
				if testBit(&a.irr, 0x60) {
					got = append(got, i)
				}
			}
			assert.Equal(t, tc.want, got)
			assert.Equal(t, tc.icr, rd(m, 0, apicRegICRLo), "ICR reads back")
		})
	}
}

// TestINITSIPI: INIT then STARTUP start an AP in real mode at vector<<12
// (SDM Vol. 3A 10.4.4.1, 11.6.1); a SIPI to a running CPU is ignored; an
// NMI does not wake a CPU waiting for SIPI; the INIT de-assert does
// nothing.
func TestINITSIPI(t *testing.T) {
	m := smpBoard(t, 2)
	ap := m.cpus[1]
	wr(m, 1, apicRegTPR, 0x20)
	wr(m, 0, apicRegICRHi, 1<<24)
	wr(m, 0, apicRegICRLo, 0x400) // NMI
	assert.Equal(t, cpu.StopWaitSIPI, ap.Run(10))
	assert.True(t, ap.WaitingForSIPI(), "NMI does not leave wait-for-SIPI")

	wr(m, 0, apicRegICRLo, 0x8500) // INIT level de-assert: no effect
	wr(m, 0, apicRegICRLo, 0x4500) // INIT
	wr(m, 0, apicRegICRLo, 0x4609) // STARTUP 0x09
	wr(m, 0, apicRegICRLo, 0x460A) // second STARTUP: ignored
	ap.Run(1)
	s := ap.GetState()
	assert.False(t, ap.WaitingForSIPI())
	assert.Equal(t, uint16(0x0900), s.Seg[arch.CS].Selector)
	assert.Equal(t, uint64(0x9000), s.Seg[arch.CS].Base)
	assert.Equal(t, uint64(0x60000010), s.CR0&^(arch.CR0CD|arch.CR0NW)|arch.CR0CD|arch.CR0NW, "CR0 after INIT (Table 10-1)")
	assert.Equal(t, uint64(0x400), s.DR[7])
	assert.Equal(t, uint64(DefaultCPUSignature), s.GPR[arch.RDX]&0xFFFFFFFF, "EDX: the signature")
	assert.Zero(t, rd(m, 1, apicRegTPR), "INIT resets the APIC")
	assert.Equal(t, uint32(1<<24), rd(m, 1, apicRegID), "but keeps its ID")

	// A SIPI to a CPU that is not waiting for one is discarded.
	wr(m, 0, apicRegICRLo, 0x4620)
	ap.Run(1)
	assert.Equal(t, uint16(0x0900), ap.Seg[arch.CS].Selector)
}

// TestINITBlocked: VMX root operation blocks INIT; it stays latched until
// INIT is unblocked (BlockINIT(false)) (SDM Vol. 3C 24.8).
func TestINITBlocked(t *testing.T) {
	m := smpBoard(t, 2)
	ap := m.cpus[1]
	wr(m, 0, apicRegICRHi, 1<<24)
	wr(m, 0, apicRegICRLo, 0x4500)
	wr(m, 0, apicRegICRLo, 0x4610)
	ap.Run(1)
	require.False(t, ap.WaitingForSIPI())
	ap.BlockINIT(true)
	wr(m, 0, apicRegICRLo, 0x4500)
	ap.Run(5)
	assert.False(t, ap.WaitingForSIPI(), "INIT held while blocked")
	ap.BlockINIT(false)
	ap.Run(1)
	assert.True(t, ap.WaitingForSIPI(), "the latched INIT is taken")
}

// TestAPICTimer: divide values (Figure 11-10), one-shot and periodic
// counting (11.5.4), TSC-deadline (11.5.4.1).
func TestAPICTimer(t *testing.T) {
	t.Run("divide configuration", func(t *testing.T) {
		m := smpBoard(t, 1)
		a := on(m, 0)
		for div, want := range map[uint32]uint64{0: 2, 1: 4, 2: 8, 3: 16, 8: 32, 9: 64, 0xA: 128, 0xB: 1} {
			wr(m, 0, apicRegDivide, div)
			assert.Equal(t, want, a.div(), "divide %#x", div)
		}
	})
	t.Run("one-shot", func(t *testing.T) {
		m := smpBoard(t, 1)
		a, c := on(m, 0), m.cpus[0]
		wr(m, 0, apicRegDivide, 0)   // by 2
		wr(m, 0, apicRegTimer, 0x30) // one-shot, vector 0x30
		wr(m, 0, apicRegInitCnt, 100)
		c.Idle(50)
		assert.Equal(t, uint32(75), rd(m, 0, apicRegCurCnt))
		d, ok := a.deadline()
		require.True(t, ok)
		assert.Equal(t, c.Clock()+150, d)
		c.Idle(150)
		a.tick()
		assert.Zero(t, rd(m, 0, apicRegCurCnt))
		assert.True(t, testBit(&a.irr, 0x30))
		_, ok = a.deadline()
		assert.False(t, ok, "one-shot: disarmed")
	})
	t.Run("periodic", func(t *testing.T) {
		m := smpBoard(t, 1)
		a, c := on(m, 0), m.cpus[0]
		wr(m, 0, apicRegDivide, 0xB)    // by 1
		wr(m, 0, apicRegTimer, 0x20031) // periodic
		wr(m, 0, apicRegInitCnt, 10)
		c.Idle(25)
		a.tick()
		assert.True(t, testBit(&a.irr, 0x31))
		assert.Equal(t, uint32(5), rd(m, 0, apicRegCurCnt), "reloaded")
		d, _ := a.deadline()
		assert.Equal(t, c.Clock()+5, d)
		wr(m, 0, apicRegInitCnt, 0)
		_, ok := a.deadline()
		assert.False(t, ok, "initial count 0 stops the timer")
	})
	t.Run("TSC deadline", func(t *testing.T) {
		m := smpBoard(t, 1)
		a, c := on(m, 0), m.cpus[0]
		p := m.platform
		wr(m, 0, apicRegInitCnt, 1000) // one-shot running
		require.Nil(t, p.WriteMSR(c, msrTSCDeadline, 500))
		v, f := p.ReadMSR(c, msrTSCDeadline)
		require.Nil(t, f)
		assert.Zero(t, v, "outside TSC-deadline mode: reads 0, writes ignored")
		wr(m, 0, apicRegTimer, 0x40032) // TSC-deadline mode: disarms the one-shot
		assert.Zero(t, rd(m, 0, apicRegInitCnt))
		_, ok := a.deadline()
		assert.False(t, ok)
		// The TSC counts m.TSCMHz() ticks per microsecond of virtual
		// time (docs/CPU-MODELS.md): from a time 7 ns after it was
		// last set, 40 ticks take the n ns after which floor((7+n) ×
		// MHz / 1000) first reaches floor(7 × MHz / 1000) + 40.
		mhz := m.TSCMHz()
		require.Equal(t, uint64(2600), mhz, "the default model's nominal frequency")
		c.Idle(7)
		tsc := c.TSC()
		require.Equal(t, 7*mhz/1000, tsc)
		require.Nil(t, p.WriteMSR(c, msrTSCDeadline, tsc+40))
		want := (tsc+40)*1000/mhz - 7
		if (7+want)*mhz/1000 < tsc+40 {
			want++
		}
		d, ok := a.deadline()
		require.True(t, ok)
		assert.Equal(t, c.Clock()+want, d)
		c.Idle(want - 1)
		a.tick()
		assert.False(t, testBit(&a.irr, 0x32), "not yet")
		assert.Less(t, c.TSC(), tsc+40)
		c.Idle(1)
		a.tick()
		assert.True(t, testBit(&a.irr, 0x32))
		assert.GreaterOrEqual(t, c.TSC(), tsc+40)
		v, _ = p.ReadMSR(c, msrTSCDeadline)
		assert.Zero(t, v, "cleared when it fires")
	})
	// SDM Vol. 3A 11.5.4.1: a deadline the TSC has already passed (or
	// reached) fires at the WRMSR, with no time passing.
	for _, back := range []uint64{0, 1, 1000} {
		t.Run(fmt.Sprintf("TSC deadline already past by %d", back), func(t *testing.T) {
			m := smpBoard(t, 1)
			a, c := on(m, 0), m.cpus[0]
			p := m.platform
			wr(m, 0, apicRegTimer, 0x40033)
			c.Idle(2000)
			require.Nil(t, p.WriteMSR(c, msrTSCDeadline, c.TSC()-back))
			assert.True(t, testBit(&a.irr, 0x33), "fired at the WRMSR")
			v, _ := p.ReadMSR(c, msrTSCDeadline)
			assert.Zero(t, v, "cleared when it fires")
		})
	}
}

// TestX2APIC: the MSR interface and its #GP rules (SDM Vol. 3A 11.12.1.2,
// 11.12.1.3), x2APIC ID and logical ID (11.12.10.2), ICR as one MSR
// (11.12.9), SELF IPI (11.12.11), and the xAPIC page disappearing.
func TestX2APIC(t *testing.T) {
	m := smpBoard(t, 20)
	p := m.platform
	c := m.cpus[0]
	gp := func(f *arch.Fault, sub string) {
		t.Helper()
		if assert.NotNil(t, f, sub) {
			assert.Equal(t, uint8(arch.VecGP), f.Vector)
			assert.Contains(t, f.Rule, sub)
		}
	}
	_, f := p.ReadMSR(c, 0x802)
	gp(f, "only in x2APIC mode")
	require.Nil(t, p.WriteMSR(c, 0x1B, 0xFEE00C00)) // xAPIC -> x2APIC
	for _, tc := range []struct {
		idx  uint32
		want uint64
	}{
		{0x802, 0}, {0x803, 0x60015}, {0x80D, uint64(x2LDR(0))}, {0x80F, 0x1FF}, {0x835, 0x8700},
	} {
		v, f := p.ReadMSR(c, tc.idx)
		require.Nil(t, f, "%#x", tc.idx)
		assert.Equal(t, tc.want, v, "%#x", tc.idx)
	}
	_, f = p.ReadMSR(c, 0x80B)
	gp(f, "write-only")
	_, f = p.ReadMSR(c, 0x80E)
	gp(f, "no x2APIC register") // DFR does not exist in x2APIC mode
	_, f = p.ReadMSR(c, 0x831)
	gp(f, "no x2APIC register")
	gp(p.WriteMSR(c, 0x802, 5), "read-only")
	gp(p.WriteMSR(c, 0x80D, 5), "read-only")
	gp(p.WriteMSR(c, 0x80B, 1), "reserved")
	gp(p.WriteMSR(c, 0x828, 1), "reserved")
	gp(p.WriteMSR(c, 0x808, 0x100), "reserved")
	gp(p.WriteMSR(c, 0x830, 1<<12), "reserved")
	gp(p.WriteMSR(c, 0x1B, 0xFEE00800), "x2APIC mode to xAPIC mode")

	// The logical x2APIC ID of CPU 19: cluster 1, bit 3.
	m.cpus[19].APICBase |= apicBaseExtd
	m.apics[19].baseChanged(0xFEE00800)
	assert.Equal(t, uint32(1<<16|1<<3), m.apics[19].ldr)

	// ICR: logical destination cluster 1, bit 3 -> CPU 19.
	m.cur = c
	require.Nil(t, p.WriteMSR(c, 0x830, uint64(1<<16|1<<3)<<32|0x800|0x70))
	assert.True(t, testBit(&m.apics[19].irr, 0x70))
	v, _ := p.ReadMSR(c, 0x830)
	assert.Equal(t, uint64(1<<16|1<<3)<<32|0x870, v)
	// SELF IPI.
	require.Nil(t, p.WriteMSR(c, 0x83F, 0x71))
	assert.True(t, testBit(&m.apics[0].irr, 0x71))
	// The xAPIC page is gone in x2APIC mode: it reads all-ones, as
	// kvm-unit-tests' apic test (verify_disabled_apic_mmio) requires.
	assert.Equal(t, uint32(0xFFFFFFFF), rd(m, 0, apicRegVersion))

	// x2APIC -> disabled resets the APIC and hides CPUID.1:EDX.APIC.
	require.Nil(t, p.WriteMSR(c, 0x1B, 0xFEE00000))
	_, _, _, edx := p.CPUID(c, 1, 0)
	assert.Zero(t, edx&(1<<9), "CPUID.1:EDX.APIC follows IA32_APIC_BASE.EN (11.4.3)")
	gp(p.WriteMSR(c, 0x1B, 0xFEE00C00), "disabled state to x2APIC")
	require.Nil(t, p.WriteMSR(c, 0x1B, 0xFEE00800))
	assert.Equal(t, uint32(0xFF), rd(m, 0, apicRegSVR), "reset by the disable")
}

func TestX2APICHiddenWithoutFeature(t *testing.T) {
	m := smpBoard(t, 1)
	m.x2apicOK = false
	_, f := m.platform.ReadMSR(m.cpus[0], 0x802)
	require.NotNil(t, f)
	assert.Contains(t, f.Rule, "not implemented by this CPU model")
}

// TestIOAPICLevel: a level-triggered entry sets remote IRR, is not sent
// again until the EOI, and is re-sent at the EOI while the line is high.
func TestIOAPICLevel(t *testing.T) {
	m := smpBoard(t, 2)
	io := m.ioapic
	io.WriteMMIO(0, 4, 0x10+2*5+1)
	io.WriteMMIO(0x10, 4, 1<<24) // to APIC ID 1
	io.WriteMMIO(0, 4, 0x10+2*5)
	io.WriteMMIO(0x10, 4, redirLevel|0x45)
	io.setPin(5, true)
	a := m.apics[1]
	wr(m, 1, apicRegSVR, 0x1FF)
	require.True(t, testBit(&a.irr, 0x45))
	io.WriteMMIO(0, 4, 0x10+2*5)
	assert.NotZero(t, io.ReadMMIO(0x10, 4)&redirRemoteIR)
	assert.Equal(t, uint8(0x45), a.Ack())
	wr(m, 1, apicRegEOI, 0) // level: EOI goes to the I/O APIC
	assert.True(t, testBit(&a.irr, 0x45), "still asserted: sent again")
	io.setPin(5, false)
	assert.Equal(t, uint8(0x45), a.Ack())
	wr(m, 1, apicRegEOI, 0)
	assert.False(t, testBit(&a.irr, 0x45))
	io.WriteMMIO(0, 4, 1)
	assert.Equal(t, uint64(0x00170020), io.ReadMMIO(0x10, 4), "24 entries, version 0x20")
}

// TestIdleSkip: a CPU halted waiting for its APIC timer is woken at the
// timer's time without running through the idle time instruction by
// instruction, and the run is deterministic.
func TestIdleSkip(t *testing.T) {
	code := prog(
		// IDT at 0x200000: vector 0x30 -> handler (debug-exit 0x10).
		[]byte{0xFB}, hlt, debugExit(0x12))
	b := newBoard(t, code, firmware.Mode32Flat, nil)
	m := b.m
	c := m.cpus[0]
	handler := uint32(0x100000 + len(code))
	require.NoError(t, m.ram.WritePhys(uint64(handler), debugExit(0x10)))
	gate := []byte{byte(handler), byte(handler >> 8), 0x08, 0, 0, 0x8E, byte(handler >> 16), byte(handler >> 24)}
	require.NoError(t, m.ram.WritePhys(0x200000+0x30*8, gate))
	c.IDTR = arch.DescTable{Base: 0x200000, Limit: 0x7FF}
	wr(m, 0, apicRegDivide, 0xA)    // by 128
	wr(m, 0, apicRegTimer, 0x30)    // one-shot
	wr(m, 0, apicRegInitCnt, 1<<20) // 128 Mi units of virtual time
	m.cur = nil
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0x10<<1|1, res.Code)
	assert.Less(t, res.Icount, uint64(100), "the wait is skipped, not executed")
	assert.GreaterOrEqual(t, c.TSC(), uint64(128<<20), "the TSC counted the idle time")
}

// An IPI to another CPU ends the sender's slice after the ICR write, and
// the rest of the quantum passes as idle time, so the clocks stay in step
// (smp.go, "Cross-CPU handshakes"); a self IPI does not end the slice.
func TestIPIEndsSendersSlice(t *testing.T) {
	movMem := func(addr, v uint32) []byte { // mov dword [addr], v
		return []byte{0xC7, 0x05, byte(addr), byte(addr >> 8), byte(addr >> 16), byte(addr >> 24),
			byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)}
	}
	for _, tc := range []struct {
		name    string
		icrLow  uint32
		retired uint64
	}{
		// INIT (delivery mode 5, level assert) to APIC ID 1: the slice
		// ends after the two ICR writes.
		{"INIT to CPU 1", 0x4500, 2},
		// Fixed IPI, vector 0xF0, shorthand self (IF=0: not taken): the
		// CPU runs its whole quantum (the two writes, then jmp $).
		{"self IPI", 0x440F0, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code := prog(movMem(0xFEE00310, 1<<24), movMem(0xFEE00300, tc.icrLow), jmpSelf)
			b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.CPUs = 2; c.Quantum = 1000 })
			m := b.m
			c := m.cpus[0]
			m.runSlice(0, c, 1000)
			assert.Equal(t, tc.retired, c.Icount)
			assert.Equal(t, uint64(1000), c.Clock(), "the whole quantum passed")
			assert.False(t, m.ipiYield)
		})
	}
}

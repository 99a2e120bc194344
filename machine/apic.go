package machine

import (
	"fmt"
	"math/bits"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// The local APIC (SDM Vol. 3A chapter 11, "Advanced Programmable Interrupt
// Controller (APIC)"): one per logical processor, in xAPIC mode reached
// through a 4-KiB MMIO page at IA32_APIC_BASE (relocatable per CPU, 11.4.4),
// in x2APIC mode through MSRs 0x800-0x8FF (11.12). It is the CPU's
// cpu.InterruptSource: fixed interrupts through IRR/ISR and the
// processor-priority rules (11.8.3.1), ExtINT from the 8259 PIC through
// LINT0 (virtual-wire mode, as the BIOS programs the BSP), NMI, INIT and
// SIPI through the core's signals. The timer counts the board's virtual
// time: one unit per instruction, the APIC bus clock at 1 GHz (as QEMU's
// APIC model), so a run is deterministic.

// xAPIC register offsets (SDM Vol. 3A Table 11-1); the x2APIC MSR is
// 0x800 + offset>>4 (Table 11-6).
const (
	apicRegID      = 0x020
	apicRegVersion = 0x030
	apicRegTPR     = 0x080
	apicRegAPR     = 0x090
	apicRegPPR     = 0x0A0
	apicRegEOI     = 0x0B0
	apicRegRRD     = 0x0C0
	apicRegLDR     = 0x0D0
	apicRegDFR     = 0x0E0
	apicRegSVR     = 0x0F0
	apicRegISR     = 0x100
	apicRegTMR     = 0x180
	apicRegIRR     = 0x200
	apicRegESR     = 0x280
	apicRegCMCI    = 0x2F0
	apicRegICRLo   = 0x300
	apicRegICRHi   = 0x310
	apicRegTimer   = 0x320
	apicRegThermal = 0x330
	apicRegPerf    = 0x340
	apicRegLINT0   = 0x350
	apicRegLINT1   = 0x360
	apicRegError   = 0x370
	apicRegInitCnt = 0x380
	apicRegCurCnt  = 0x390
	apicRegDivide  = 0x3E0
	apicRegSelfIPI = 0x3F0 // x2APIC only (MSR 0x83F)

	// x2APIC MSR range and IA32_TSC_DEADLINE.
	msrX2APICFirst  = 0x800
	msrX2APICLast   = 0x8FF
	msrTSCDeadline  = 0x6E0
	msrAPICBaseIdx  = 0x1B
	apicBaseEnable  = 1 << 11
	apicBaseExtd    = 1 << 10
	apicBaseAddrMsk = 0x000F_FFFF_FFFF_F000

	// apicVersion is the version register: version 15H and 7 LVT entries
	// (max LVT entry 6: CMCI, timer, thermal, performance, LINT0, LINT1,
	// error), as the Nehalem and later processors vmxemu models report;
	// bit 24 (directed EOI) is 0, vmxemu does not suppress EOI broadcasts.
	apicVersion = 0x00060015

	// ICR fields (SDM Vol. 3A 11.6.1, Figure 11-12).
	icrVectorMask    = 0xFF
	icrDeliveryShift = 8
	icrDestLogical   = 1 << 11
	icrLevelAssert   = 1 << 14
	icrTriggerLevel  = 1 << 15
	icrShorthandSh   = 18

	// LVT fields (11.5.1, Figure 11-8).
	lvtMasked      = 1 << 16
	lvtTimerModeSh = 17

	// Delivery modes.
	dmFixed   = 0
	dmLowest  = 1
	dmSMI     = 2
	dmNMI     = 4
	dmINIT    = 5
	dmStartUp = 6
	dmExtINT  = 7

	// Timer modes (LVT timer bits 18:17).
	timerOneShot  = 0
	timerPeriodic = 1
	timerDeadline = 2

	// ESR bits (11.5.3, Figure 11-9).
	esrSendIllegalVector = 1 << 5
	esrRecvIllegalVector = 1 << 6
	esrIllegalRegister   = 1 << 7

	sdmAPIC   = "Vol. 3A 11.12.1.2"
	sdmX2Mode = "Vol. 3A 11.12.5.1"
)

// LVT indices (lvt array).
const (
	lvtCMCI = iota
	lvtTimer
	lvtThermal
	lvtPerf
	lvtLINT0
	lvtLINT1
	lvtError
	numLVT
)

// lvtWritable are the writable bits of each LVT entry (SDM Vol. 3A
// Figure 11-8); the delivery-status and remote-IRR bits are read-only.
var lvtWritable = [numLVT]uint32{
	lvtCMCI:    0x107FF,
	lvtTimer:   0x700FF, // mode 18:17 (bit 18 with TSC-deadline), mask, vector
	lvtThermal: 0x107FF,
	lvtPerf:    0x107FF,
	lvtLINT0:   0x1A7FF, // + polarity 13, trigger 15
	lvtLINT1:   0x1A7FF,
	lvtError:   0x100FF,
}

// LocalAPIC is one processor's local APIC.
type LocalAPIC struct {
	m     *Machine
	cpu   *cpu.CPU
	index int
	// initialID is the APIC ID hardware assigns (the x2APIC ID).
	initialID uint32

	id       uint32 // xAPIC ID register (ID in 31:24)
	tpr      uint8  // TPR; bits 7:4 mirror the CPU's CR8 (SDM 11.8.6)
	ldr, dfr uint32
	svr      uint32
	isr      [8]uint32
	tmr      [8]uint32
	irr      [8]uint32
	esr      uint32 // value read from ESR (latched at the last write)
	esrAcc   uint32 // errors detected since the last ESR write
	icr      uint64
	lvt      [numLVT]uint32
	divide   uint32 // divide configuration register
	initial  uint32 // timer initial count
	// Timer state in virtual-time units: start is when counting began
	// (initial count written or last periodic reload), next the time of
	// the next expiry (0: not armed).
	start, next uint64
	tscDeadline uint64
	// irrMax/isrMax cache the highest vector set (-1 none).
	irrMax, isrMax int
}

func newLocalAPIC(m *Machine, index int, c *cpu.CPU, initialID uint32) *LocalAPIC {
	a := &LocalAPIC{m: m, cpu: c, index: index, initialID: initialID}
	a.reset()
	a.id = initialID << 24
	return a
}

// reset puts the registers in their power-up / INIT state (SDM Vol. 3A
// 11.4.7.1): IRR, ISR, TMR, ICR, LDR, TPR, the timer counts and divide
// configuration are 0, DFR all ones, every LVT entry masked, SVR 0xFF
// (software-disabled). The APIC ID is kept (the caller sets it at
// power-up).
func (a *LocalAPIC) reset() {
	id := a.id
	*a = LocalAPIC{m: a.m, cpu: a.cpu, index: a.index, initialID: a.initialID, id: id}
	a.dfr = 0xFFFFFFFF
	a.svr = 0xFF
	for i := range a.lvt {
		a.lvt[i] = lvtMasked
	}
	a.irrMax, a.isrMax = -1, -1
	if a.cpu != nil {
		a.cpu.CR8 = 0
	}
	if a.x2apic() {
		a.ldr = x2LDR(a.initialID)
	}
}

// INITReset implements cpu.INITResetter: an INIT resets the APIC as
// power-up does but keeps the APIC ID, IA32_APIC_BASE (and so the x2APIC
// mode) (SDM Vol. 3A 11.4.7.3).
func (a *LocalAPIC) INITReset() { a.reset() }

func (a *LocalAPIC) base() uint64 { return a.cpu.APICBase }

// enabled: IA32_APIC_BASE.EN (the APIC is globally enabled).
func (a *LocalAPIC) enabled() bool { return a.base()&apicBaseEnable != 0 }

// x2apic: x2APIC mode (EN and EXTD).
func (a *LocalAPIC) x2apic() bool {
	return a.cpu != nil && a.base()&(apicBaseEnable|apicBaseExtd) == apicBaseEnable|apicBaseExtd
}

// swEnabled: SVR bit 8, the APIC software enable.
func (a *LocalAPIC) swEnabled() bool { return a.svr&0x100 != 0 }

// x2LDR is the logical x2APIC ID derived from the x2APIC ID (SDM Vol. 3A
// 11.12.10.2): cluster ID in 31:16, one bit of the low 4 ID bits in 15:0.
func x2LDR(id uint32) uint32 { return (id>>4)<<16 | 1<<(id&0xF) }

// --- priorities ---------------------------------------------------------

func highest(v *[8]uint32) int {
	for i := 7; i >= 0; i-- {
		if v[i] != 0 {
			return i*32 + 31 - bits.LeadingZeros32(v[i])
		}
	}
	return -1
}

func setBit(v *[8]uint32, vec uint8)        { v[vec>>5] |= 1 << (vec & 31) }
func clearBit(v *[8]uint32, vec uint8)      { v[vec>>5] &^= 1 << (vec & 31) }
func testBit(v *[8]uint32, vec uint8) bool  { return v[vec>>5]&(1<<(vec&31)) != 0 }
func (a *LocalAPIC) recompute()             { a.irrMax, a.isrMax = highest(&a.irr), highest(&a.isr) }
func (a *LocalAPIC) isrVec() int            { return max(a.isrMax, 0) }
func (a *LocalAPIC) setTPR(v uint8)         { a.tpr = v; a.cpu.CR8 = uint64(v >> 4) }
func (a *LocalAPIC) lvtMode(i int) uint32   { return a.lvt[i] >> 8 & 7 }
func (a *LocalAPIC) lvtMaskedAt(i int) bool { return a.lvt[i]&lvtMasked != 0 }

// tprValue is TPR: MOV to CR8 writes TPR[7:4] and clears TPR[3:0] (SDM
// Vol. 3A 11.8.6.1), so the low nibble survives only while CR8 still
// holds what the APIC last wrote there.
func (a *LocalAPIC) tprValue() uint8 {
	if uint64(a.tpr>>4) != a.cpu.CR8 {
		return uint8(a.cpu.CR8 << 4)
	}
	return a.tpr
}

// ppr is the processor-priority register (SDM Vol. 3A 11.8.3.1): TPR if
// TPR[7:4] >= ISRV[7:4], else ISRV[7:4] with 0 low bits.
func (a *LocalAPIC) ppr() uint8 {
	tpr := a.tprValue()
	isrv := uint8(a.isrVec())
	if tpr>>4 >= isrv>>4 {
		return tpr
	}
	return isrv & 0xF0
}

// Pending implements cpu.InterruptSource: an ExtINT from the PIC through
// LINT0, or the highest IRR vector if its priority class is above PPR's
// (SDM Vol. 3A 11.8.3.1). With the APIC globally disabled the PIC's INTR
// reaches the processor directly (11.4.3) — on the BSP, whose LINT0 is
// the INTR pin.
func (a *LocalAPIC) Pending() bool {
	if !a.enabled() {
		return a.index == 0 && a.m.picPending()
	}
	if a.extINT() && a.m.picPending() {
		return true
	}
	return a.irrMax >= 0 && a.swEnabled() && a.irrMax>>4 > int(a.ppr()>>4)
}

// extINT: LINT0 is unmasked in ExtINT mode (virtual-wire mode) and the
// APIC is software-enabled (a software-disabled APIC masks every LVT).
func (a *LocalAPIC) extINT() bool {
	return a.swEnabled() && !a.lvtMaskedAt(lvtLINT0) && a.lvtMode(lvtLINT0) == dmExtINT
}

// Ack implements cpu.InterruptSource: the PIC's INTA for an ExtINT, else
// the highest IRR bit moves to ISR (SDM Vol. 3A 11.8.4).
func (a *LocalAPIC) Ack() uint8 {
	if !a.enabled() || a.extINT() && a.m.picPending() {
		return a.m.pic.Ack()
	}
	if a.irrMax < 0 || !a.swEnabled() || a.irrMax>>4 <= int(a.ppr()>>4) {
		// Only when Pending said no: the spurious vector (11.9).
		return uint8(a.svr)
	}
	v := uint8(a.irrMax)
	clearBit(&a.irr, v)
	setBit(&a.isr, v)
	a.recompute()
	return v
}

// accept puts a fixed interrupt in IRR (SDM Vol. 3A 11.8.3, 11.8.4): the
// TMR bit records the trigger mode for the EOI. Vectors 0-15 are illegal:
// the "received illegal vector" error instead (11.5.3).
func (a *LocalAPIC) accept(vec uint8, level bool) {
	if vec < 16 {
		a.error(esrRecvIllegalVector)
		return
	}
	setBit(&a.irr, vec)
	if level {
		setBit(&a.tmr, vec)
	} else {
		clearBit(&a.tmr, vec)
	}
	if int(vec) > a.irrMax {
		a.irrMax = int(vec)
	}
	a.cpu.KickInterrupt()
}

// error records an APIC error and raises the LVT error interrupt.
func (a *LocalAPIC) error(bit uint32) {
	a.esrAcc |= bit
	if !a.lvtMaskedAt(lvtError) && a.swEnabled() {
		if v := uint8(a.lvt[lvtError]); v >= 16 {
			a.accept(v, false)
		}
	}
}

// EOI is a write of 0 to the EOI register, as posted-interrupt processing
// does in VMX non-root operation (SDM Vol. 3C 30.6: the notification
// vector just acknowledged is dismissed; cpu/vmx_apicv.go).
func (a *LocalAPIC) EOI() { a.eoi() }

// eoi retires the highest in-service vector; for a level-triggered one
// the EOI is broadcast to the I/O APIC (SDM Vol. 3A 11.8.5).
func (a *LocalAPIC) eoi() {
	if a.isrMax < 0 {
		return
	}
	v := uint8(a.isrMax)
	clearBit(&a.isr, v)
	level := testBit(&a.tmr, v)
	a.recompute()
	if level && a.m.ioapic != nil {
		a.m.ioapic.eoi(v)
	}
}

// --- local interrupts and the timer -------------------------------------

// localInterrupt delivers an LVT entry's interrupt (timer, error...).
func (a *LocalAPIC) localInterrupt(i int) {
	if !a.enabled() || !a.swEnabled() || a.lvtMaskedAt(i) {
		return
	}
	switch a.lvtMode(i) {
	case dmNMI:
		a.cpu.RaiseNMI()
	case dmFixed:
		level := (i == lvtLINT0 || i == lvtLINT1) && a.lvt[i]&icrTriggerLevel != 0
		a.accept(uint8(a.lvt[i]), level)
	}
}

func (a *LocalAPIC) timerMode() uint32 { return a.lvt[lvtTimer] >> lvtTimerModeSh & 3 }

// divisor is the timer's divide value (SDM Vol. 3A Figure 11-10): bits
// 3 and 1:0 of the divide configuration register, 111b = divide by 1.
func (a *LocalAPIC) divisor() uint64 {
	v := a.divide&3 | a.divide>>1&4
	return uint64(2) << v & 0xFF // 000→2 … 110→128, 111→(256&0xFF=0)
}

func (a *LocalAPIC) div() uint64 {
	if d := a.divisor(); d != 0 {
		return d
	}
	return 1
}

func (a *LocalAPIC) now() uint64 { return a.cpu.Clock() }

// startTimer starts counting down from the initial count (one-shot or
// periodic mode); a count of 0 stops the timer (SDM Vol. 3A 11.5.4).
func (a *LocalAPIC) startTimer() {
	a.next = 0
	if a.initial == 0 || a.timerMode() == timerDeadline {
		return
	}
	a.start = a.now()
	a.next = a.start + uint64(a.initial)*a.div()
}

// currentCount is the timer's current-count register: 0 when not
// counting or in TSC-deadline mode.
func (a *LocalAPIC) currentCount() uint32 {
	if a.next == 0 || a.timerMode() == timerDeadline {
		return 0
	}
	now := a.now()
	if now >= a.next {
		return 0
	}
	return uint32((a.next - now + a.div() - 1) / a.div())
}

// deadline returns the virtual time of the timer's next expiry, and false
// when it is not armed.
func (a *LocalAPIC) deadline() (uint64, bool) {
	if a.timerMode() == timerDeadline {
		if a.tscDeadline == 0 {
			return 0, false
		}
		// The first instant at which the TSC (which counts at the
		// model's rate, not one tick per unit of virtual time) reads
		// the deadline.
		return a.cpu.ClockAtTSC(a.tscDeadline)
	}
	return a.next, a.next != 0
}

// tick fires the timer if it has expired by the CPU's clock: the LVT
// timer interrupt, then re-arming in periodic mode (missed periods are
// coalesced into one interrupt, as an interrupt already in IRR would
// coalesce them), disarming otherwise (SDM Vol. 3A 11.5.4, 11.5.4.1).
func (a *LocalAPIC) tick() {
	d, ok := a.deadline()
	if !ok || a.now() < d {
		return
	}
	switch a.timerMode() {
	case timerDeadline:
		a.tscDeadline = 0
	case timerPeriodic:
		period := uint64(a.initial) * a.div()
		n := (a.now() - a.start) / period * period
		a.start += n
		a.next = a.start + period
	default:
		a.next = 0
	}
	a.localInterrupt(lvtTimer)
}

// --- register access ----------------------------------------------------

// read returns the register at xAPIC offset off (16-byte aligned) and
// whether it exists.
func (a *LocalAPIC) read(off uint32) (uint32, bool) {
	switch {
	case off >= apicRegISR && off < apicRegISR+0x80:
		return a.isr[(off-apicRegISR)>>4], true
	case off >= apicRegTMR && off < apicRegTMR+0x80:
		return a.tmr[(off-apicRegTMR)>>4], true
	case off >= apicRegIRR && off < apicRegIRR+0x80:
		return a.irr[(off-apicRegIRR)>>4], true
	}
	switch off {
	case apicRegID:
		if a.x2apic() {
			return a.initialID, true
		}
		return a.id, true
	case apicRegVersion:
		return apicVersion, true
	case apicRegTPR:
		return uint32(a.tprValue()), true
	case apicRegAPR:
		return 0, !a.x2apic() // arbitration priority: not modelled (0)
	case apicRegPPR:
		return uint32(a.ppr()), true
	case apicRegLDR:
		return a.ldr, true
	case apicRegDFR:
		return a.dfr, !a.x2apic()
	case apicRegSVR:
		return a.svr, true
	case apicRegESR:
		return a.esr, true
	case apicRegCMCI:
		return a.lvt[lvtCMCI], true
	case apicRegICRLo:
		return uint32(a.icr), true
	case apicRegICRHi:
		return uint32(a.icr >> 32), !a.x2apic()
	case apicRegTimer, apicRegThermal, apicRegPerf, apicRegLINT0, apicRegLINT1, apicRegError:
		return a.lvt[lvtIndex(off)], true
	case apicRegInitCnt:
		if a.timerMode() == timerDeadline {
			return 0, true
		}
		return a.initial, true
	case apicRegCurCnt:
		return a.currentCount(), true
	case apicRegDivide:
		return a.divide, true
	}
	return 0, false
}

func lvtIndex(off uint32) int {
	if off == apicRegCMCI {
		return lvtCMCI
	}
	return int(off-apicRegTimer)>>4 + lvtTimer
}

// write sets the register at xAPIC offset off. It returns false for a
// register that does not exist or is read-only.
func (a *LocalAPIC) write(off uint32, v uint32) bool {
	switch off {
	case apicRegID:
		if a.x2apic() {
			return false
		}
		a.id = v & 0xFF000000
	case apicRegTPR:
		a.setTPR(uint8(v))
	case apicRegEOI:
		a.eoi()
	case apicRegLDR:
		if a.x2apic() {
			return false
		}
		a.ldr = v & 0xFF000000
	case apicRegDFR:
		if a.x2apic() {
			return false
		}
		a.dfr = v | 0x0FFFFFFF
	case apicRegSVR:
		a.svr = v & 0x1FF
		if !a.swEnabled() {
			// Software disable masks every LVT entry (SDM Vol. 3A
			// 11.4.7.2).
			for i := range a.lvt {
				a.lvt[i] |= lvtMasked
			}
		}
	case apicRegESR:
		a.esr, a.esrAcc = a.esrAcc, 0
	case apicRegICRLo:
		a.icr = a.icr&^0xFFFFFFFF | uint64(v&0xCCFFF)
		a.m.sendIPI(a, a.icr)
	case apicRegICRHi:
		if a.x2apic() {
			return false
		}
		a.icr = uint64(v&0xFF000000)<<32 | a.icr&0xFFFFFFFF
	case apicRegCMCI, apicRegTimer, apicRegThermal, apicRegPerf, apicRegLINT0, apicRegLINT1, apicRegError:
		a.writeLVT(lvtIndex(off), v)
	case apicRegInitCnt:
		if a.timerMode() == timerDeadline {
			return true // ignored in TSC-deadline mode (11.5.4.1)
		}
		a.initial = v
		a.startTimer()
	case apicRegDivide:
		a.divide = v & 0xB
		if a.next != 0 {
			// Keep the count, restart at the new rate.
			cur := a.currentCount()
			a.start = a.now()
			a.next = a.start + uint64(cur)*a.div()
		}
	case apicRegSelfIPI:
		if !a.x2apic() {
			return false
		}
		a.accept(uint8(v), false)
	default:
		return false
	}
	return true
}

// writeLVT writes an LVT entry; while software-disabled the mask stays
// set. Changing the timer mode disarms the timer (SDM Vol. 3A 11.5.4.1).
func (a *LocalAPIC) writeLVT(i int, v uint32) {
	w := lvtWritable[i]
	if i == lvtTimer && !a.m.hasTSCDeadline() {
		w &^= 1 << 18
	}
	old := a.lvt[i]
	a.lvt[i] = old&^w | v&w
	if !a.swEnabled() {
		a.lvt[i] |= lvtMasked
	}
	if i == lvtTimer && (old>>lvtTimerModeSh&3 == timerDeadline) != (a.timerMode() == timerDeadline) {
		a.next, a.initial, a.tscDeadline = 0, 0, 0
	}
}

// ReadMMIO/WriteMMIO are the xAPIC page (off within the 4 KiB page).
// Registers are 32 bits wide at 16-byte boundaries; other accesses read
// the bytes of the register they fall in. An access to an offset with no
// register sets the "illegal register address" error (SDM Vol. 3A
// 11.5.3).
func (a *LocalAPIC) readMMIO(off uint64, size int) uint64 {
	reg := uint32(off) &^ 0xF
	v, ok := a.read(reg)
	if !ok || reg == apicRegEOI || reg == apicRegSelfIPI {
		a.error(esrIllegalRegister)
		return 0
	}
	sh := (off & 0xF) * 8
	if sh >= 32 {
		return 0
	}
	return uint64(v) >> sh
}

func (a *LocalAPIC) writeMMIO(off uint64, size int, v uint64) {
	reg := uint32(off) &^ 0xF
	if off&0xF != 0 {
		return // writes to the upper bytes of a register are ignored
	}
	if h := a.m.cfg.APICWrite; h != nil {
		h(a.cpu, reg, uint64(uint32(v)), false)
	}
	if reg == apicRegSelfIPI || !a.write(reg, uint32(v)) {
		if _, ok := a.read(reg); !ok || reg == apicRegSelfIPI {
			a.error(esrIllegalRegister)
		}
	}
}

// --- x2APIC MSRs (SDM Vol. 3A 11.12.1.2, Table 11-6) -------------------

// x2APICRegister maps an MSR to the xAPIC offset.
func x2APICRegister(idx uint32) uint32 { return (idx - msrX2APICFirst) << 4 }

func apicGP(rule, sdm string) *arch.Fault {
	f := arch.GPFault(0, rule, sdm)
	return &f
}

// readMSR is RDMSR of an x2APIC register.
func (a *LocalAPIC) readMSR(idx uint32) (uint64, *arch.Fault) {
	if !a.x2apic() {
		return 0, apicGP(fmt.Sprintf("RDMSR %#x: the x2APIC MSRs are accessible only in x2APIC mode (IA32_APIC_BASE.EN and EXTD = 1)", idx), sdmAPIC)
	}
	off := x2APICRegister(idx)
	switch off {
	case apicRegEOI, apicRegSelfIPI:
		return 0, apicGP(fmt.Sprintf("RDMSR %#x: the x2APIC %s register is write-only", idx, map[uint32]string{apicRegEOI: "EOI", apicRegSelfIPI: "SELF IPI"}[off]), sdmAPIC)
	case apicRegICRLo:
		return a.icr, nil
	}
	v, ok := a.read(off)
	if !ok {
		return 0, apicGP(fmt.Sprintf("RDMSR %#x: no x2APIC register at this address", idx), sdmAPIC)
	}
	return uint64(v), nil
}

// x2Reserved are the bits that must be 0 in a WRMSR to each writable
// x2APIC register (SDM Vol. 3A 11.12.1.2: "WRMSR ... with reserved bits
// set raises #GP").
func (a *LocalAPIC) x2Reserved(off uint32) (uint64, bool) {
	switch off {
	case apicRegTPR:
		return ^uint64(0xFF), true
	case apicRegEOI, apicRegESR:
		return ^uint64(0), true // only 0 may be written
	case apicRegSVR:
		return ^uint64(0x1FF), true
	case apicRegICRLo:
		return 0x00000000_FFF33000, true // bits 12, 13, 16, 17, 20-31
	case apicRegCMCI, apicRegTimer, apicRegThermal, apicRegPerf, apicRegLINT0, apicRegLINT1, apicRegError:
		w := lvtWritable[lvtIndex(off)]
		if off == apicRegTimer && !a.m.hasTSCDeadline() {
			w &^= 1 << 18
		}
		return ^uint64(w), true
	case apicRegInitCnt:
		return ^uint64(0xFFFFFFFF), true
	case apicRegDivide:
		return ^uint64(0xB), true
	case apicRegSelfIPI:
		return ^uint64(0xFF), true
	}
	return 0, false
}

// writeMSR is WRMSR of an x2APIC register.
func (a *LocalAPIC) writeMSR(idx uint32, v uint64) *arch.Fault {
	if !a.x2apic() {
		return apicGP(fmt.Sprintf("WRMSR %#x: the x2APIC MSRs are accessible only in x2APIC mode (IA32_APIC_BASE.EN and EXTD = 1)", idx), sdmAPIC)
	}
	off := x2APICRegister(idx)
	res, ok := a.x2Reserved(off)
	if !ok {
		if _, exists := a.read(off); exists {
			return apicGP(fmt.Sprintf("WRMSR %#x: the x2APIC register is read-only", idx), sdmAPIC)
		}
		return apicGP(fmt.Sprintf("WRMSR %#x: no x2APIC register at this address", idx), sdmAPIC)
	}
	if v&res != 0 {
		return apicGP(fmt.Sprintf("WRMSR %#x: reserved bit(s) %#x set (EOI and ESR take only 0)", idx, v&res), sdmAPIC)
	}
	if h := a.m.cfg.APICWrite; h != nil {
		h(a.cpu, off, v, true)
	}
	if off == apicRegICRLo {
		// One 64-bit write sends the IPI (11.12.9).
		a.icr = v
		a.m.sendIPI(a, v)
		return nil
	}
	a.write(off, uint32(v))
	return nil
}

// baseChanged is called after IA32_APIC_BASE changed from old (the new
// value is in the CPU state). Disabling the APIC resets it; entering
// x2APIC mode sets the x2APIC ID and the logical ID (SDM Vol. 3A
// 11.4.3, 11.12.5.1).
func (a *LocalAPIC) baseChanged(old uint64) {
	nw := a.base()
	switch {
	case nw&apicBaseEnable == 0 && old&apicBaseEnable != 0:
		a.id = a.initialID << 24
		a.reset()
	case nw&apicBaseExtd != 0 && old&apicBaseExtd == 0:
		a.ldr = x2LDR(a.initialID)
	}
}

// readTSCDeadline/writeTSCDeadline are IA32_TSC_DEADLINE (SDM Vol. 3A
// 11.5.4.1): outside TSC-deadline mode it reads 0 and writes are ignored;
// writing 0 disarms the timer, and a deadline the TSC has already reached
// fires the timer at once, at the WRMSR ("if the TSC is already past the
// target, the interrupt is generated immediately").
func (a *LocalAPIC) readTSCDeadline() uint64 {
	if a.timerMode() != timerDeadline {
		return 0
	}
	return a.tscDeadline
}

func (a *LocalAPIC) writeTSCDeadline(v uint64) {
	if a.timerMode() != timerDeadline {
		return
	}
	a.tscDeadline = v
	a.tick() // an expired deadline fires now (TSC() is exact inside a block)
}

// --- interrupt messages -------------------------------------------------

// matches reports whether the APIC is a destination of a message with the
// given destination field and mode (SDM Vol. 3A 11.6.2, 11.12.9).
func (a *LocalAPIC) matches(dest uint32, logical, x2 bool) bool {
	if !a.enabled() {
		return false
	}
	if a.x2apic() {
		if !x2 {
			// An 8-bit destination from an xAPIC-format message.
			if dest == 0xFF {
				return true
			}
		}
		if dest == 0xFFFFFFFF {
			return true
		}
		if !logical {
			return a.initialID == dest
		}
		return a.ldr>>16 == dest>>16 && a.ldr&dest&0xFFFF != 0
	}
	dest &= 0xFF
	if !logical {
		return dest == 0xFF || a.id>>24 == dest
	}
	ldr := a.ldr >> 24
	if a.dfr>>28 == 0xF { // flat model
		return ldr&dest != 0
	}
	// Cluster model: cluster in 7:4 (15 = all clusters), members in 3:0.
	return (dest>>4 == 0xF || dest>>4 == ldr>>4) && dest&ldr&0xF != 0
}

// sendIPI delivers the message in the ICR (SDM Vol. 3A 11.6.1): fixed,
// lowest priority, NMI, INIT (assert; the level de-assert is a no-op on
// these processors), STARTUP; SMI is ignored (no SMM). Destinations: the
// shorthands, or physical/logical addressing.
func (m *Machine) sendIPI(from *LocalAPIC, icr uint64) {
	vec := uint8(icr & icrVectorMask)
	dm := uint32(icr>>icrDeliveryShift) & 7
	logical := icr&icrDestLogical != 0
	level := icr&icrTriggerLevel != 0
	x2 := from.x2apic()
	dest := uint32(icr >> 56)
	if x2 {
		dest = uint32(icr >> 32)
	}
	if dm == dmINIT && icr&icrLevelAssert == 0 {
		return // INIT level de-assert: synchronises arbitration IDs only
	}
	if (dm == dmFixed || dm == dmLowest) && vec < 16 {
		from.error(esrSendIllegalVector)
		return
	}
	targets := m.ipiTargets[:0] // scratch slice: no allocation per IPI
	switch icr >> icrShorthandSh & 3 {
	case 0:
		for _, t := range m.apics {
			if t.matches(dest, logical, x2) {
				targets = append(targets, t)
			}
		}
	case 1:
		targets = append(targets, from)
	case 2:
		targets = append(targets, m.apics...)
	case 3:
		for _, t := range m.apics {
			if t != from {
				targets = append(targets, t)
			}
		}
	}
	m.ipiTargets = targets[:0]
	if dm == dmLowest && len(targets) > 0 {
		// Lowest priority: the target with the lowest processor priority;
		// ties go to the lowest index (deterministic; SDM 11.6.2.4 leaves
		// the choice to the chipset).
		best := targets[0]
		for _, t := range targets[1:] {
			if t.ppr() < best.ppr() {
				best = t
			}
		}
		targets = targets[:1]
		targets[0] = best
	}
	yield := false
	for _, t := range targets {
		m.deliver(t, dm, vec, level)
		yield = yield || t != from && t.enabled()
	}
	// An IPI to another processor ends the sender's slice (smp.go,
	// runSlice), so that the target handles it before the sender, which
	// usually waits for an answer, spends the rest of its quantum.
	if yield && m.cur != nil && m.cur == from.cpu {
		m.ipiYield = true
		m.cur.RequestStop()
	}
}

// deliver hands one interrupt message to a local APIC.
func (m *Machine) deliver(t *LocalAPIC, dm uint32, vec uint8, level bool) {
	if !t.enabled() {
		return
	}
	switch dm {
	case dmFixed, dmLowest:
		t.accept(vec, level)
	case dmNMI:
		t.cpu.RaiseNMI()
	case dmINIT:
		t.cpu.RaiseINIT()
	case dmStartUp:
		t.cpu.RaiseSIPI(vec)
	case dmExtINT:
		// ExtINT messages (an I/O APIC pin in ExtINT mode): the
		// processor takes the vector from the PIC; modelled as a
		// fixed interrupt of the PIC's vector.
		if v, ok := m.pic.Pending(); ok {
			m.pic.Ack()
			t.accept(v, false)
		}
	}
}

package devices

import (
	"fmt"
	"math/bits"
)

// ACPIPM is the ACPI fixed-hardware register set of the PIIX4 power
// management function, at the I/O addresses QEMU's pc machine gives it
// (PM base 0x600, hw/acpi/piix4.c; the FADT describes them, firmware
// package): the PM1a event block (PM1_STS at 0x600, PM1_EN at 0x602),
// the PM1a control block (PM1_CNT at 0x604) and the power-management timer
// (PM_TMR at 0x608). Register layouts: ACPI 6.5 section 4.8.3
// (Tables 4.13-4.16 PM1 status/enable, 4.17 PM1 control, 4.8.3.3 timer).
//
//   - PM_TMR is a free-running 24-bit counter at 3.579545 MHz, derived
//     from the board's virtual time as QEMU derives it from its virtual
//     clock (ticks = ns * 3579545 / 10^9, low 24 bits). It is read-only.
//   - PM1_STS: TMR_STS (bit 0) becomes set when bit 23 of the counter
//     changes (ACPI 4.8.3.3), as QEMU computes it (the next 2^23-tick
//     boundary after the last clear); every status bit is cleared by
//     writing 1 to it. WAK_STS (bit 15) and RTC_STS (bit 10) are set by
//     Woke after a resume from S3 (ACPI 6.5 4.8.3.1.1, Table 4.13).
//   - PM1_EN holds the enable bits the guest writes.
//   - PM1_CNT: SCI_EN (bit 0) reads 1: the FADT has no SMI_CMD port, so
//     the platform is always in ACPI mode (ACPI 6.5 5.2.9, SMI_CMD "zero
//     if the system does not support System Management mode"; 4.8.2.5).
//     SLP_TYP (bits 12:10) and SLP_EN (bit 13, write-only) request a sleep
//     state with QEMU's PIIX4 numbering (hw/acpi/core.c acpi_pm1_cnt_write;
//     the DSDT's \_S3 and \_S5 objects say so): SLP_TYP 0 is soft-off (S5)
//     and powers the machine off; 1 is S3 (suspend to RAM): the board
//     suspends (ExitSuspend) and resumes when a wake event is enabled;
//     2 is S4, which QEMU turns into a power-off, and so does vmxemu; other
//     values do nothing.
//
// The SCI (IRQ 9, level) is driven from STS & EN (timer, global, power
// button, RTC) whenever a register is accessed. A timer overflow does not
// raise the SCI on its own between accesses: nothing in vmxemu schedules
// that event yet (TMR_EN interrupts are a known gap).
type ACPIPM struct {
	now      func() uint64 // virtual time in ns
	sci      func(high bool)
	exit     ExitFunc
	sts, en  uint16
	cnt      uint16 // SLP_TYP and the other read/write bits
	overflow uint64 // tick count at which TMR_STS becomes set
}

// ACPI PM I/O addresses (QEMU piix4: pm_io_base 0x600).
const (
	PortPMBase   uint16 = 0x600
	PortPM1aEvt         = PortPMBase     // PM1_STS, PM1_EN (4 bytes)
	PortPM1aCnt         = PortPMBase + 4 // PM1_CNT (2 bytes)
	PortPMTimer         = PortPMBase + 8 // PM_TMR (4 bytes)
	PMTimerHz           = 3579545        // ACPI 6.5 4.8.3.3
	PMTimerMask         = 1<<24 - 1      // 24-bit counter (FADT TMR_VAL_EXT clear)
	pm1StsTimer         = 1 << 0
	pm1StsGbl           = 1 << 5
	pm1StsPwrBtn        = 1 << 8
	pm1StsRTC           = 1 << 10
	pm1StsWake          = 1 << 15
	pm1CntSCIEn         = 1 << 0
	pm1CntSlpEn         = 1 << 13
	pm1CntSlpTyp        = 7 << 10
	pm1SCIMask          = pm1StsTimer | pm1StsGbl | pm1StsPwrBtn | pm1StsRTC
)

// NewACPIPM returns the PM registers in their reset state. now is the
// virtual time in ns; sci drives IRQ 9; exit ends the run on a sleep
// request.
func NewACPIPM(now func() uint64, sci func(high bool), exit ExitFunc) *ACPIPM {
	// Virtual time restarts at 0 at power-on and reset: the first
	// overflow is at tick 2^23.
	return &ACPIPM{now: now, sci: sci, exit: exit, overflow: 1 << 23}
}

// Register claims the PM1a event and control blocks and the timer on b.
func (p *ACPIPM) Register(b *PortBus) error {
	for _, r := range []struct {
		base uint16
		n    int
	}{{PortPM1aEvt, 4}, {PortPM1aCnt, 2}, {PortPMTimer, 4}} {
		if err := b.Register(r.base, r.n, p); err != nil {
			return err
		}
	}
	return nil
}

// ticks returns the PM timer's full tick count since power-on.
func (p *ACPIPM) ticks() uint64 {
	hi, lo := bits.Mul64(p.now(), PMTimerHz)
	q, _ := bits.Div64(hi, lo, 1e9)
	return q
}

// Timer returns the current PM_TMR value.
func (p *ACPIPM) Timer() uint32 { return uint32(p.ticks() & PMTimerMask) }

// nextOverflow is the first tick after t at which bit 23 of the counter
// changes.
func nextOverflow(t uint64) uint64 { return (t + 1<<23) &^ (1<<23 - 1) }

func (p *ACPIPM) status() uint16 {
	if p.ticks() >= p.overflow {
		p.sts |= pm1StsTimer
	}
	return p.sts
}

// reg16 reads the 16-bit register containing port.
func (p *ACPIPM) reg16(port uint16) uint16 {
	switch port &^ 1 {
	case PortPM1aEvt:
		return p.status()
	case PortPM1aEvt + 2:
		return p.en
	case PortPM1aCnt:
		return p.cnt | pm1CntSCIEn
	}
	return 0
}

// In implements PortDevice.
func (p *ACPIPM) In(port uint16, size int) uint32 {
	defer p.updateSCI()
	if port >= PortPMTimer {
		return p.Timer() >> (8 * (port - PortPMTimer))
	}
	return readBytes(port, size, func(q uint16) uint8 {
		if q >= PortPMBase+6 {
			return 0xFF
		}
		return uint8(p.reg16(q) >> (8 * (q & 1)))
	})
}

// Out implements PortDevice.
func (p *ACPIPM) Out(port uint16, size int, v uint32) {
	defer p.updateSCI()
	if port >= PortPMTimer {
		return // read-only
	}
	// Gather the write per 16-bit register, so that PM1_CNT sees SLP_TYP
	// and SLP_EN of a word write together.
	var val, mask [3]uint16
	writeBytes(port, size, v, func(q uint16, b uint8) {
		if q >= PortPMBase+6 {
			return
		}
		i, sh := (q-PortPMBase)/2, 8*(q&1)
		val[i] |= uint16(b) << sh
		mask[i] |= 0xFF << sh
	})
	if mask[0] != 0 { // PM1_STS: write 1 to clear
		st := p.status()
		c := val[0] & mask[0]
		p.sts = st &^ c
		if c&pm1StsTimer != 0 {
			p.overflow = nextOverflow(p.ticks())
		}
	}
	if mask[1] != 0 {
		p.en = p.en&^mask[1] | val[1]&mask[1]
	}
	if mask[2] != 0 {
		w := p.cnt&^mask[2] | val[2]&mask[2]
		p.cnt = w &^ (pm1CntSlpEn | pm1CntSCIEn)
		if w&pm1CntSlpEn != 0 && mask[2]&pm1CntSlpEn != 0 {
			p.sleep(int(w&pm1CntSlpTyp) >> 10)
		}
	}
}

func (p *ACPIPM) sleep(typ int) {
	if p.exit == nil {
		return
	}
	switch typ {
	case 0, 2:
		p.exit(Exit{Kind: ExitShutdown, Reason: fmt.Sprintf("ACPI sleep request SLP_TYP=%d (S%d): power off, as QEMU's PIIX4 does", typ, map[int]int{0: 5, 2: 4}[typ])})
	case 1:
		p.exit(Exit{Kind: ExitSuspend, Reason: "ACPI sleep request SLP_TYP=1 (S3, suspend to RAM) written to PM1a_CNT"})
	}
}

// RTCWakeEnabled reports whether PM1_EN.RTC_EN (bit 10) is set: an RTC
// alarm may then wake the system from a sleeping state (ACPI 6.5
// 4.8.3.1.2, Table 4.14).
func (p *ACPIPM) RTCWakeEnabled() bool { return p.en&pm1StsRTC != 0 }

// Woke records a resume from S3 in PM1_STS: WAK_STS, and RTC_STS when the
// RTC alarm was the wake event (ACPI 6.5 Table 4.13). QEMU sets the same
// bits after its wake-up reset (hw/acpi/core.c acpi_notify_wakeup).
func (p *ACPIPM) Woke(byRTC bool) {
	p.sts |= pm1StsWake
	if byRTC {
		p.sts |= pm1StsRTC
	}
}

func (p *ACPIPM) updateSCI() {
	if p.sci != nil {
		p.sci(p.sts&p.en&pm1SCIMask != 0)
	}
}

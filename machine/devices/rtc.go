package devices

// RTC is the MC146818 real-time clock and CMOS RAM at ports 0x70 (index;
// bit 7 is the NMI mask, ignored) and 0x71 (data), minimal: the clock
// reads a fixed epoch (2000-01-01 00:00:00, a Saturday) plus the board's
// virtual seconds, in BCD 24-hour format unless register B says binary;
// update-in-progress (register A bit 7) reads as set during the last 244 µs
// of every virtual second while the divider runs at 32.768 kHz and
// register B's SET bit is clear (MC146818A datasheet: UIP rises 244 µs
// before the update cycle; QEMU's mc146818rtc models the same window), so
// guests that wait for an update edge see one; no alarm or periodic
// interrupts (an enabled alarm only wakes the system from ACPI S3:
// AlarmWakes).
// The CMOS bytes firmware and OSes read for the memory size and CPU count
// are filled in as QEMU's pc machine fills them (hw/i386/pc.c
// pc_cmos_init).
type RTC struct {
	now   func() uint64 // virtual time in ns
	index uint8
	ram   [128]uint8
}

// PortRTC is the RTC/CMOS index port (0x71 is the data port).
const PortRTC = 0x70

// CMOS register indices.
const (
	rtcSeconds      = 0x00
	rtcSecondsAlarm = 0x01
	rtcMinutesAlarm = 0x03
	rtcHoursAlarm   = 0x05
	rtcMinutes      = 0x02
	rtcHours        = 0x04
	rtcWeekday      = 0x06
	rtcDay          = 0x07
	rtcMonth        = 0x08
	rtcYear         = 0x09
	rtcRegA         = 0x0A
	rtcRegB         = 0x0B
	rtcRegC         = 0x0C
	rtcRegD         = 0x0D
	rtcCentury      = 0x32

	rtcAUIP    = 0x80
	rtcBSet    = 0x80
	rtcBAIE    = 0x20
	rtcUIPns   = 244000 // UIP lead time before the update, ns
	rtcBBinary = 0x04
	rtcB24h    = 0x02
)

// NewRTC returns the RTC with the CMOS memory-size bytes for below4G and
// above4G bytes of RAM and ncpus processors.
func NewRTC(now func() uint64, below4G, above4G uint64, ncpus int) *RTC {
	r := &RTC{now: now}
	r.ram[rtcRegA] = 0x26 // 32.768 kHz time base, 1024 Hz rate
	r.ram[rtcRegB] = rtcB24h
	r.ram[rtcRegD] = 0x80 // valid RAM and time
	put16 := func(i int, v uint64) { r.ram[i], r.ram[i+1] = uint8(v), uint8(v>>8) }
	put16(0x15, 640) // base memory in KiB
	ext := uint64(0)
	if below4G > 1<<20 {
		ext = min((below4G-1<<20)/1024, 0xFFFF)
	}
	put16(0x17, ext)
	put16(0x30, ext)
	if below4G > 16<<20 {
		put16(0x34, min((below4G-16<<20)>>16, 0xFFFF))
	}
	hi := above4G >> 16
	r.ram[0x5B], r.ram[0x5C], r.ram[0x5D] = uint8(hi), uint8(hi>>8), uint8(hi>>16)
	if ncpus > 0 {
		r.ram[0x5F] = uint8(ncpus - 1)
	}
	return r
}

// In implements PortDevice.
func (r *RTC) In(port uint16, size int) uint32 {
	if port == PortRTC {
		return 0xFF
	}
	i := r.index & 0x7F
	if i <= rtcYear || i == rtcCentury {
		return uint32(r.clock(i))
	}
	v := r.ram[i]
	if i == rtcRegA && r.updating() {
		v |= rtcAUIP
	}
	if i == rtcRegC {
		r.ram[i] = 0 // reading C clears the interrupt flags
	}
	return uint32(v)
}

// Out implements PortDevice.
func (r *RTC) Out(port uint16, size int, val uint32) {
	if port == PortRTC {
		r.index = uint8(val)
		return
	}
	i := r.index & 0x7F
	switch {
	case i == rtcRegA:
		r.ram[i] = uint8(val) & 0x7F // UIP is read-only
	case i == rtcRegC || i == rtcRegD:
		// read-only
	case i == rtcSecondsAlarm || i == rtcMinutesAlarm || i == rtcHoursAlarm:
		r.ram[i] = uint8(val)
	case i <= rtcYear || i == rtcCentury:
		// The clock is virtual time: writes to the time are ignored.
	default:
		r.ram[i] = uint8(val)
	}
}

// clock returns a time register for the epoch plus virtual seconds.
func (r *RTC) clock(i uint8) uint8 {
	secs := r.now() / 1e9
	s, m, h := secs%60, secs/60%60, secs/3600%24
	days := secs / 86400
	// Day, month, year from 2000-01-01 (the proleptic Gregorian calendar).
	y, mo, d := uint64(2000), uint64(1), days+1
	for {
		n := uint64(365)
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			n = 366
		}
		if d <= n {
			break
		}
		d -= n
		y++
	}
	mdays := [12]uint64{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
	if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
		mdays[1] = 29
	}
	for d > mdays[mo-1] {
		d -= mdays[mo-1]
		mo++
	}
	var v uint64
	switch i {
	case rtcSeconds:
		v = s
	case rtcMinutes:
		v = m
	case rtcHours:
		v = h
	case rtcWeekday:
		v = (days+6)%7 + 1 // 2000-01-01 was a Saturday (7)
	case rtcDay:
		v = d
	case rtcMonth:
		v = mo
	case rtcYear:
		v = y % 100
	case rtcCentury:
		v = y / 100
	default:
		return r.ram[i] // alarm registers
	}
	if r.ram[rtcRegB]&rtcBBinary != 0 {
		return uint8(v)
	}
	return uint8(v/10<<4 | v%10)
}

// AlarmWakes reports whether the alarm can end an ACPI S3 sleep: the alarm
// interrupt is enabled (register B bit 5, AIE) and each alarm byte either
// is a "don't care" code (bits 7:6 set, MC146818A datasheet) or holds a
// time the clock reaches, so that the alarm fires within a day. QEMU
// requests the wake-up from the same condition (hw/rtc/mc146818rtc.c,
// the alarm with REG_B_AIE).
func (r *RTC) AlarmWakes() bool {
	if r.ram[rtcRegB]&rtcBAIE == 0 {
		return false
	}
	for _, a := range []struct {
		i   int
		max uint8
	}{{rtcSecondsAlarm, 59}, {rtcMinutesAlarm, 59}, {rtcHoursAlarm, 23}} {
		v := r.ram[a.i]
		if v&0xC0 == 0xC0 {
			continue // don't care
		}
		if r.ram[rtcRegB]&rtcBBinary == 0 {
			if v&0xF > 9 {
				return false
			}
			v = v>>4*10 + v&0xF
		}
		if v > a.max {
			return false
		}
	}
	return true
}

// updating reports whether an update cycle is about to happen: the last
// rtcUIPns of a virtual second, with the 32.768 kHz divider (register A
// DV2-0 = 010) running and SET clear.
func (r *RTC) updating() bool {
	return (r.ram[rtcRegA]>>4)&7 == 2 && r.ram[rtcRegB]&rtcBSet == 0 &&
		r.now()%1e9 >= 1e9-rtcUIPns
}

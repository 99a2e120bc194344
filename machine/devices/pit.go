package devices

import "math/bits"

// PIT is the 8254 programmable interval timer (Intel 8254 datasheet) at
// ports 0x40-0x43, counting at 1.193182 MHz of the board's virtual time
// (nanoseconds: one per instruction retired). Channel 0's output drives
// IRQ 0; channel 2's output is readable at port 0x61 bit 5. Counts,
// modes 0-5 and the output follow QEMU's i8254 model (hw/timer/i8254.c
// pit_get_count / pit_get_out); the gate inputs are treated as high.
type PIT struct {
	now  func() uint64 // virtual time in ns
	irq0 func()        // pulse IRQ 0 (rising edge)
	ch   [3]pitChannel
}

type pitChannel struct {
	count    uint32 // reload value, 1..0x10000
	mode     uint8
	rw       uint8 // 1 LSB, 2 MSB, 3 LSB then MSB
	bcd      bool
	loadTick uint64 // PIT tick at which counting began
	loaded   bool
	// Write and read state.
	writeLSB   bool  // the LSB of a two-byte write has been written
	writeLatch uint8 // that LSB
	readMSB    bool  // next read of a two-byte read returns the MSB
	latched    bool
	latch      uint16
	status     uint8
	statusLat  bool
	nextIRQ    uint64 // tick of channel 0's next rising edge (0 none)
	nullCount  bool
}

// PITFreq is the 8254 input clock in Hz.
const PITFreq = 1193182

// PortPIT is the first PIT port.
const PortPIT = 0x40

// NewPIT returns the PIT in its power-on state (no channel counting). now
// supplies the virtual time in nanoseconds; irq0 pulses IRQ 0.
func NewPIT(now func() uint64, irq0 func()) *PIT {
	return &PIT{now: now, irq0: irq0}
}

// nsToTicks and ticksToNS convert between virtual nanoseconds and PIT
// input-clock ticks (rounding ticks down and nanoseconds up).
func nsToTicks(ns uint64) uint64 {
	hi, lo := bits.Mul64(ns, PITFreq)
	q, _ := bits.Div64(hi, lo, 1e9)
	return q
}

func ticksToNS(t uint64) uint64 {
	hi, lo := bits.Mul64(t, 1e9)
	lo, c := bits.Add64(lo, PITFreq-1, 0)
	hi += c
	q, _ := bits.Div64(hi, lo, PITFreq)
	return q
}

func (p *PIT) tick() uint64 { return nsToTicks(p.now()) }

// d is the number of ticks since the channel was loaded.
func (c *pitChannel) d(now uint64) uint64 { return now - c.loadTick }

func (c *pitChannel) value(now uint64) uint16 {
	if !c.loaded {
		return uint16(c.count)
	}
	d, n := c.d(now), uint64(c.count)
	switch c.mode {
	case 0, 1, 4, 5:
		return uint16((n - d) & 0xFFFF)
	case 3:
		return uint16(n - (2*d)%n)
	default: // 2
		return uint16(n - d%n)
	}
}

func (c *pitChannel) out(now uint64) bool {
	if !c.loaded {
		return c.mode != 0
	}
	d, n := c.d(now), uint64(c.count)
	switch c.mode {
	case 0:
		return d >= n
	case 1:
		return d < n
	case 3:
		return d%n < (n+1)>>1
	case 4, 5:
		return d != n
	default: // 2
		return d%n != 0 || d == 0
	}
}

// firstEdge returns the tick of channel 0's first interrupt edge after a
// load: the terminal count (modes 0, 4), the end of each period (2, 3).
func (c *pitChannel) armIRQ() {
	c.nextIRQ = 0
	if !c.loaded {
		return
	}
	switch c.mode {
	case 0, 2, 3, 4:
		c.nextIRQ = c.loadTick + uint64(c.count)
	}
}

// Deadline returns the virtual time (ns) of channel 0's next interrupt
// edge, and false when none is scheduled.
func (p *PIT) Deadline() (uint64, bool) {
	c := &p.ch[0]
	if c.nextIRQ == 0 {
		return 0, false
	}
	return ticksToNS(c.nextIRQ), true
}

// Tick fires channel 0's interrupt if its edge is due: one pulse per call
// (missed periods coalesce, as an edge latched in the PIC would).
func (p *PIT) Tick() {
	c := &p.ch[0]
	if c.nextIRQ == 0 {
		return
	}
	now := p.tick()
	if now < c.nextIRQ {
		return
	}
	switch c.mode {
	case 2, 3:
		n := uint64(c.count)
		c.nextIRQ = c.loadTick + (c.d(now)/n+1)*n
	default:
		c.nextIRQ = 0
	}
	if p.irq0 != nil {
		p.irq0()
	}
}

// Out2 is channel 2's output (port 0x61 bit 5).
func (p *PIT) Out2() bool { return p.ch[2].out(p.tick()) }

// In implements PortDevice.
func (p *PIT) In(port uint16, size int) uint32 {
	i := int(port - PortPIT)
	if i < 0 || i > 2 {
		return 0xFF
	}
	c := &p.ch[i]
	if c.statusLat {
		c.statusLat = false
		return uint32(c.status)
	}
	var v uint16
	if c.latched {
		v = c.latch
	} else {
		v = c.value(p.tick())
	}
	rw := c.rw
	var b uint8
	switch rw {
	case 1:
		b = uint8(v)
		c.latched = false
	case 2:
		b = uint8(v >> 8)
		c.latched = false
	default:
		if c.readMSB {
			b = uint8(v >> 8)
			c.latched = false
		} else {
			b = uint8(v)
		}
		c.readMSB = !c.readMSB
	}
	return uint32(b)
}

// Out implements PortDevice.
func (p *PIT) Out(port uint16, size int, val uint32) {
	v := uint8(val)
	now := p.tick()
	if port == PortPIT+3 {
		sel := v >> 6
		if sel == 3 { // read-back command
			for i := range p.ch {
				if v&(2<<i) == 0 {
					continue
				}
				c := &p.ch[i]
				if v&0x20 == 0 && !c.latched {
					c.latch, c.latched, c.readMSB = c.value(now), true, false
				}
				if v&0x10 == 0 && !c.statusLat {
					st := c.rw<<4 | c.mode<<1
					if c.bcd {
						st |= 1
					}
					if c.out(now) {
						st |= 0x80
					}
					if c.nullCount {
						st |= 0x40
					}
					c.status, c.statusLat = st, true
				}
			}
			return
		}
		c := &p.ch[sel]
		if v&0x30 == 0 { // counter latch command
			if !c.latched {
				c.latch, c.latched, c.readMSB = c.value(now), true, false
			}
			return
		}
		c.rw = v >> 4 & 3
		c.mode = v >> 1 & 7
		if c.mode > 5 {
			c.mode -= 4 // 110b and 111b are modes 2 and 3
		}
		c.bcd = v&1 != 0
		c.loaded, c.writeLSB, c.readMSB, c.latched = false, false, false, false
		c.nullCount = true
		c.nextIRQ = 0
		return
	}
	i := int(port - PortPIT)
	if i < 0 || i > 2 {
		return
	}
	c := &p.ch[i]
	var n uint32
	switch c.rw {
	case 1:
		n = uint32(v)
	case 2:
		n = uint32(v) << 8
	default:
		if !c.writeLSB {
			c.writeLSB, c.writeLatch = true, v
			return
		}
		c.writeLSB = false
		n = uint32(c.writeLatch) | uint32(v)<<8
	}
	if n == 0 {
		n = 0x10000
	}
	c.count, c.loadTick, c.loaded, c.nullCount = n, now, true, false
	if i == 0 {
		c.armIRQ()
	}
}

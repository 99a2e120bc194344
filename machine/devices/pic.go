package devices

// 8259A command words (Intel 8259A datasheet, "Initialization Command
// Words" and "Operation Command Words").
const (
	icw1Init  = 0x10 // command-port write with D4=1 is ICW1
	icw1IC4   = 0x01 // ICW4 needed
	icw1SNGL  = 0x02 // single 8259A (no ICW3)
	icw1LTIM  = 0x08 // level-triggered inputs
	icw4UPM   = 0x01 // 8086/8088 mode (vectors from ICW2); the only mode modelled
	icw4AEOI  = 0x02 // automatic end of interrupt
	icw4SFNM  = 0x10 // special fully nested mode
	ocw3Flag  = 0x08 // command-port write with D4=0, D3=1 is OCW3 (D3=0: OCW2)
	ocw3RIS   = 0x01 // read ISR (else IRR) when RR is set
	ocw3RR    = 0x02 // change the register read by the command port
	ocw3Poll  = 0x04 // poll command
	ocw3SMM   = 0x20 // special mask mode value, applied when ESMM is set
	ocw3ESMM  = 0x40 // change special mask mode
	picCascIR = 2    // master input wired to the slave's INT (PC/AT)
	// ELCR bits that are reserved (always edge): IRQ 0, 1, 2 on the master,
	// IRQ 8 and 13 on the slave (Intel ICH datasheets, ELCR1/ELCR2).
	elcrMasterMask = 0xF8
	elcrSlaveMask  = 0xDE
)

// pic8259 is one 8259A.
type pic8259 struct {
	irr   uint8 // edge-latched requests (level-mode bits come from lines)
	isr   uint8
	imr   uint8
	lines uint8 // current level of each IR input
	elcr  uint8 // per-input level mode (ELCR register)
	mask  uint8 // writable ELCR bits

	vecBase  uint8 // ICW2 with T2..T0 cleared
	icw1     uint8
	icw3     uint8
	initStep int // next initialisation word expected: 0 (none), 2, 3 or 4

	autoEOI    bool
	sfnm       bool
	rotateAEOI bool
	specialMsk bool
	readISR    bool
	poll       bool
	prioBase   uint8 // level with the highest priority (0 after ICW1)
	isMaster   bool
}

func (c *pic8259) levelMask() uint8 {
	if c.icw1&icw1LTIM != 0 {
		return 0xFF
	}
	return c.elcr
}

// requests returns the effective IRR: latched edges plus the current level
// of level-triggered inputs.
func (c *pic8259) requests() uint8 {
	lm := c.levelMask()
	return c.irr&^lm | c.lines&lm
}

// setLine drives IR input n. In edge mode a low-to-high transition latches a
// request that survives the line dropping until it is acknowledged (as
// QEMU's i8259 model does); in level mode the request follows the line.
func (c *pic8259) setLine(n int, high bool) {
	bit := uint8(1) << n
	if high {
		if c.lines&bit == 0 {
			c.irr |= bit
		}
		c.lines |= bit
	} else {
		c.lines &^= bit
	}
}

// rank returns the priority rank of level (0 = highest).
func (c *pic8259) rank(level int) int { return (level - int(c.prioBase)) & 7 }

// highest returns the highest-priority level set in bits, or -1.
func (c *pic8259) highest(bits uint8) int {
	for i := 0; i < 8; i++ {
		lvl := (int(c.prioBase) + i) & 7
		if bits&(1<<lvl) != 0 {
			return lvl
		}
	}
	return -1
}

// pending returns the level that the chip would present on INTA, or -1.
// A request must be unmasked and of strictly higher priority than every
// in-service level. In special mask mode, in-service levels that are
// masked do not inhibit anything; in special fully nested mode (master), the
// cascade input's in-service bit does not inhibit further slave requests.
// extra is OR-ed into the requests (the master's cascade input).
func (c *pic8259) pending(extra uint8) int {
	req := (c.requests() | extra) &^ c.imr
	r := c.highest(req)
	if r < 0 {
		return -1
	}
	isr := c.isr
	if c.specialMsk {
		isr &^= c.imr
	}
	if c.isMaster && c.sfnm {
		isr &^= 1 << picCascIR
	}
	s := c.highest(isr)
	if s >= 0 && c.rank(s) <= c.rank(r) {
		return -1
	}
	return r
}

// ack performs the chip's part of an INTA cycle for level: the request is
// cleared (edge mode) and the in-service bit set, unless auto-EOI.
func (c *pic8259) ack(level int, derived bool) {
	bit := uint8(1) << level
	if !derived {
		c.irr &^= bit
	}
	if c.autoEOI {
		if c.rotateAEOI {
			c.prioBase = uint8(level+1) & 7
		}
		return
	}
	c.isr |= bit
}

func (c *pic8259) writeCommand(v uint8) {
	switch {
	case v&icw1Init != 0: // ICW1
		c.icw1 = v
		c.initStep = 2
		c.imr = 0
		c.isr = 0
		// The edge-sense latches are reset: a new low-to-high transition
		// is needed for an edge-triggered request.
		c.irr = 0
		c.prioBase = 0
		c.specialMsk = false
		c.readISR = false
		c.poll = false
		c.rotateAEOI = false
		// Without IC4 every ICW4 function is cleared.
		c.autoEOI = false
		c.sfnm = false
	case v&ocw3Flag != 0: // OCW3
		if v&ocw3Poll != 0 {
			c.poll = true
		}
		if v&ocw3RR != 0 {
			c.readISR = v&ocw3RIS != 0
		}
		if v&ocw3ESMM != 0 {
			c.specialMsk = v&ocw3SMM != 0
		}
	default: // OCW2: R SL EOI in bits 7:5, level in bits 2:0
		level := int(v & 7)
		switch v >> 5 {
		case 0b001: // non-specific EOI
			if l := c.highest(c.isr); l >= 0 {
				c.isr &^= 1 << l
			}
		case 0b101: // rotate on non-specific EOI
			if l := c.highest(c.isr); l >= 0 {
				c.isr &^= 1 << l
				c.prioBase = uint8(l+1) & 7
			}
		case 0b011: // specific EOI
			c.isr &^= 1 << level
		case 0b111: // rotate on specific EOI
			c.isr &^= 1 << level
			c.prioBase = uint8(level+1) & 7
		case 0b110: // set priority: level becomes the lowest
			c.prioBase = uint8(level+1) & 7
		case 0b100: // rotate in automatic EOI mode (set)
			c.rotateAEOI = true
		case 0b000: // rotate in automatic EOI mode (clear)
			c.rotateAEOI = false
		case 0b010: // no operation
		}
	}
}

func (c *pic8259) writeData(v uint8) {
	switch c.initStep {
	case 2: // ICW2: T7..T3 of the vector
		c.vecBase = v &^ 7
		switch {
		case c.icw1&icw1SNGL == 0:
			c.initStep = 3
		case c.icw1&icw1IC4 != 0:
			c.initStep = 4
		default:
			c.initStep = 0
		}
	case 3: // ICW3: slave map (master) or cascade ID (slave)
		c.icw3 = v
		if c.icw1&icw1IC4 != 0 {
			c.initStep = 4
		} else {
			c.initStep = 0
		}
	case 4: // ICW4
		c.autoEOI = v&icw4AEOI != 0
		c.sfnm = v&icw4SFNM != 0
		c.initStep = 0
	default: // OCW1
		c.imr = v
	}
}

// PIC is the PC/AT pair of cascaded 8259A interrupt controllers, the
// slave's INT output wired to master input 2, plus the ELCR edge/level
// registers. Board IRQ n is master input n for n < 8 and slave input n-8
// otherwise; IRQ 2 is the cascade and cannot be raised from outside.
//
// Only 8086 mode is modelled (ICW4 bit 0 is assumed set, as every x86 guest
// programs it); buffered mode and the MCS-80 call sequence are ignored. The
// master treats its cascade input as level-sensitive on the slave's INT
// output, so requests queued behind one another on the slave are not lost.
type PIC struct {
	master, slave pic8259
}

// NewPIC returns the pair in its power-on state (equivalent to ICW1 with no
// vector programmed): everything unmasked, nothing pending. Firmware is
// expected to initialise it.
func NewPIC() *PIC {
	p := &PIC{}
	p.master.isMaster = true
	p.master.mask = elcrMasterMask
	p.slave.mask = elcrSlaveMask
	return p
}

// Register claims the PIC's ports on b: 0x20-0x21, 0xA0-0xA1 and the ELCR
// at 0x4D0-0x4D1.
func (p *PIC) Register(b *PortBus) error {
	for _, base := range []uint16{PortPICMaster, PortPICSlave, PortELCR} {
		if err := b.Register(base, 2, p); err != nil {
			return err
		}
	}
	return nil
}

// RaiseIRQ drives board IRQ line n (0-15) high.
func (p *PIC) RaiseIRQ(n int) { p.setIRQ(n, true) }

// LowerIRQ drives board IRQ line n (0-15) low.
func (p *PIC) LowerIRQ(n int) { p.setIRQ(n, false) }

func (p *PIC) setIRQ(n int, high bool) {
	switch {
	case n < 0 || n > 15 || n == picCascIR:
		return
	case n < 8:
		p.master.setLine(n, high)
	default:
		p.slave.setLine(n-8, high)
	}
}

// cascade returns the master request bit contributed by the slave's INT.
func (p *PIC) cascade() uint8 {
	if p.slave.pending(0) >= 0 {
		return 1 << picCascIR
	}
	return 0
}

// Pending reports whether the pair asserts INTR and, if so, the vector an
// INTA cycle would return now. It changes nothing.
func (p *PIC) Pending() (vector uint8, ok bool) {
	m := p.master.pending(p.cascade())
	if m < 0 {
		return 0, false
	}
	if m == picCascIR {
		s := p.slave.pending(0)
		if s < 0 {
			return p.slave.vecBase | 7, true
		}
		return p.slave.vecBase | uint8(s), true
	}
	return p.master.vecBase | uint8(m), true
}

// Ack performs an interrupt-acknowledge cycle and returns the vector: the
// winning request moves from IRR to ISR (or is retired at once in auto-EOI
// mode), through the slave when the master selects its cascade input. With
// nothing pending it returns the spurious vector, IR7 of the master, without
// touching ISR, as the 8259A does.
func (p *PIC) Ack() uint8 {
	m := p.master.pending(p.cascade())
	if m < 0 {
		return p.master.vecBase | 7
	}
	if m != picCascIR {
		p.master.ack(m, false)
		return p.master.vecBase | uint8(m)
	}
	s := p.slave.pending(0)
	p.master.ack(m, true)
	if s < 0 {
		return p.slave.vecBase | 7
	}
	p.slave.ack(s, false)
	return p.slave.vecBase | uint8(s)
}

// In implements PortDevice. Wider accesses are split into byte accesses at
// consecutive ports.
func (p *PIC) In(port uint16, size int) uint32 {
	if size == 1 {
		return uint32(p.readPort(port))
	}
	return readBytes(port, size, p.readPort)
}

// Out implements PortDevice.
func (p *PIC) Out(port uint16, size int, val uint32) {
	if size == 1 {
		p.writePort(port, uint8(val))
		return
	}
	writeBytes(port, size, val, p.writePort)
}

func (p *PIC) chip(port uint16) *pic8259 {
	switch port &^ 1 {
	case PortPICMaster:
		return &p.master
	case PortPICSlave:
		return &p.slave
	}
	return nil
}

func (p *PIC) readPort(port uint16) uint8 {
	switch port {
	case PortELCR:
		return p.master.elcr
	case PortELCR + 1:
		return p.slave.elcr
	}
	c := p.chip(port)
	if c == nil {
		return 0xFF
	}
	if port&1 == 1 {
		return c.imr
	}
	if c.poll {
		// Poll: the read is the acknowledge. Bit 7 says whether a request
		// was pending, bits 2:0 give its level.
		c.poll = false
		var extra uint8
		if c == &p.master {
			extra = p.cascade()
		}
		l := c.pending(extra)
		if l < 0 {
			return 0
		}
		c.ack(l, c == &p.master && l == picCascIR)
		return 0x80 | uint8(l)
	}
	if c.readISR {
		return c.isr
	}
	if c == &p.master {
		return c.requests() | p.cascade()
	}
	return c.requests()
}

func (p *PIC) writePort(port uint16, v uint8) {
	switch port {
	case PortELCR:
		p.master.elcr = v & p.master.mask
		return
	case PortELCR + 1:
		p.slave.elcr = v & p.slave.mask
		return
	}
	c := p.chip(port)
	if c == nil {
		return
	}
	if port&1 == 1 {
		c.writeData(v)
	} else {
		c.writeCommand(v)
	}
}

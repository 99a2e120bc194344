package devices

import "io"

// 16550A register offsets from the base port (PC16550D datasheet, table
// "UART register addresses"). DLAB is LCR bit 7.
const (
	uartRBR = 0 // receiver buffer (read, DLAB=0)
	uartTHR = 0 // transmitter holding (write, DLAB=0)
	uartDLL = 0 // divisor latch LSB (DLAB=1)
	uartIER = 1 // interrupt enable (DLAB=0)
	uartDLM = 1 // divisor latch MSB (DLAB=1)
	uartIIR = 2 // interrupt identification (read)
	uartFCR = 2 // FIFO control (write)
	uartLCR = 3 // line control
	uartMCR = 4 // modem control
	uartLSR = 5 // line status
	uartMSR = 6 // modem status
	uartSCR = 7 // scratch
)

// Register bits (PC16550D datasheet).
const (
	ierRDA  = 0x01 // ERBFI: received data available
	ierTHRE = 0x02 // ETBEI: transmitter holding register empty
	ierRLS  = 0x04 // ELSI: receiver line status
	ierMS   = 0x08 // EDSSI: modem status

	iirNoInt   = 0x01 // bit 0 is 0 while an interrupt is pending
	iirRLS     = 0x06 // receiver line status (highest priority)
	iirRDA     = 0x04 // received data available
	iirTHRE    = 0x02 // transmitter holding register empty
	iirMS      = 0x00 // modem status (lowest priority)
	iirFIFOsOn = 0xC0 // bits 7:6 set when FCR bit 0 enables the FIFOs

	fcrEnable  = 0x01
	fcrClearRX = 0x02

	lcrDLAB = 0x80

	mcrDTR  = 0x01
	mcrRTS  = 0x02
	mcrOUT1 = 0x04
	mcrOUT2 = 0x08
	mcrLoop = 0x10
	mcrMask = 0x1F // bits 7:5 are always 0 on the 16550

	lsrDR   = 0x01 // data ready
	lsrOE   = 0x02 // overrun error
	lsrPE   = 0x04 // parity error
	lsrFE   = 0x08 // framing error
	lsrBI   = 0x10 // break interrupt
	lsrTHRE = 0x20 // THR empty
	lsrTEMT = 0x40 // transmitter empty
	lsrErrs = lsrOE | lsrPE | lsrFE | lsrBI

	msrDCTS = 0x01
	msrDDSR = 0x02
	msrTERI = 0x04
	msrDDCD = 0x08
	msrCTS  = 0x10
	msrDSR  = 0x20
	msrRI   = 0x40
	msrDCD  = 0x80
)

const (
	uartFIFODepth = 16   // 16550A receive FIFO depth
	uartHostQueue = 4096 // bytes of host input waiting to reach the line
	// uartLineIdle is the modem-status input state outside loopback: CTS,
	// DSR and DCD asserted, as by a connected terminal (QEMU's serial
	// device reports the same by default).
	uartLineIdle = msrCTS | msrDSR | msrDCD
)

// UART is a 16550A serial port. Register it at an 8-aligned base (0x3F8 for
// COM1) with UARTPorts ports; it decodes the register from the low three bits
// of the port number.
//
// Transmission is instantaneous: a THR write goes straight to the output (or
// to the receiver in loopback mode), so LSR always shows THRE and TEMT.
// Output passes through a small buffer that is flushed at every newline;
// call Flush before the run ends so nothing is lost.
//
// Received bytes come from Feed and, if one was given, the input channel.
// They wait in a host-side queue of 4096 bytes and move onto the chip's
// 16-byte receive FIFO (one byte when FIFOs are disabled) when the guest
// looks at the UART, the way a host character backend with flow control
// feeds QEMU's serial device. As on hardware, an FCR receive-FIFO reset drops
// what already reached the FIFO.
//
// Interrupts are not delivered here: IRQPending reports the state of the
// chip's INTR output for the board to route (IRQ 4 for COM1). A PC gates that
// line through MCR OUT2; IRQPending does not, like QEMU.
type UART struct {
	out outBuf
	in  <-chan byte

	ier, lcr, mcr, scr uint8
	dll, dlm           uint8
	fifoOn             bool
	lsrErr             uint8 // latched error bits of LSR, cleared by reading LSR
	msrDelta           uint8 // latched delta bits of MSR, cleared by reading MSR
	thriPending        bool  // THRE interrupt armed (cleared by IIR read or THR write)

	rx   byteRing // the chip's receive FIFO
	host byteRing // host input not yet on the line
}

// NewUART returns a UART in its reset state writing transmitted bytes to out
// (nil discards them). in, if non-nil, is polled without blocking for input
// whenever the guest reads the UART; use Feed instead for deterministic runs.
func NewUART(out io.Writer, in <-chan byte) *UART {
	return &UART{
		out:  newOutBuf(out),
		in:   in,
		rx:   newByteRing(uartFIFODepth),
		host: newByteRing(uartHostQueue),
	}
}

// Reset puts the registers in their master-reset state (PC16550D table
// "UART reset configuration"): IER, LCR, MCR zero, FIFOs disabled and empty,
// no pending interrupts. Divisor and scratch registers are unaffected, as on
// the chip. Host input waiting in the queue is kept.
func (u *UART) Reset() {
	u.ier, u.lcr, u.mcr = 0, 0, 0
	u.fifoOn = false
	u.lsrErr, u.msrDelta = 0, 0
	u.thriPending = false
	u.rx.reset()
}

// Feed queues bytes as if received on the serial line. It returns how many
// were accepted; bytes beyond the 4096-byte host queue are dropped.
func (u *UART) Feed(b []byte) int {
	n := 0
	for _, c := range b {
		if !u.host.push(c) {
			break
		}
		n++
	}
	return n
}

// Flush writes out any buffered output and reports the first output error.
func (u *UART) Flush() error { return u.out.flush("uart") }

// IRQPending reports whether the UART's interrupt output is asserted: some
// interrupt source enabled in IER is active.
func (u *UART) IRQPending() bool {
	u.pull()
	return u.iirID() != iirNoInt
}

func (u *UART) loopback() bool { return u.mcr&mcrLoop != 0 }

func (u *UART) rxDepth() int {
	if u.fifoOn {
		return uartFIFODepth
	}
	return 1
}

// pull moves input towards the receiver: first whatever the input channel
// has ready, then host bytes onto the FIFO. In loopback the serial input is
// disconnected (datasheet: "the receiver serial input is disconnected"), so
// host bytes wait.
func (u *UART) pull() {
	if u.in != nil {
	drain:
		for !u.host.full() {
			select {
			case c, ok := <-u.in:
				if !ok {
					u.in = nil
					break drain
				}
				u.host.push(c)
			default:
				break drain
			}
		}
	}
	if u.loopback() {
		return
	}
	for u.rx.len() < u.rxDepth() {
		c, ok := u.host.pop()
		if !ok {
			break
		}
		u.rx.push(c)
	}
}

// iirID returns IIR bits 3:0 for the highest-priority active, enabled
// source (PC16550D "Interrupt control functions" table).
func (u *UART) iirID() uint8 {
	switch {
	case u.ier&ierRLS != 0 && u.lsrErr != 0:
		return iirRLS
	case u.ier&ierRDA != 0 && u.rx.len() > 0:
		return iirRDA
	case u.ier&ierTHRE != 0 && u.thriPending:
		return iirTHRE
	case u.ier&ierMS != 0 && u.msrDelta != 0:
		return iirMS
	default:
		return iirNoInt
	}
}

// msrStatus returns MSR bits 7:4. In loopback the modem-control outputs are
// wired to the inputs: DTR→DSR, RTS→CTS, OUT1→RI, OUT2→DCD.
func (u *UART) msrStatus() uint8 {
	if !u.loopback() {
		return uartLineIdle
	}
	var s uint8
	if u.mcr&mcrRTS != 0 {
		s |= msrCTS
	}
	if u.mcr&mcrDTR != 0 {
		s |= msrDSR
	}
	if u.mcr&mcrOUT1 != 0 {
		s |= msrRI
	}
	if u.mcr&mcrOUT2 != 0 {
		s |= msrDCD
	}
	return s
}

// In implements PortDevice. Wider accesses are split into byte accesses at
// consecutive registers; bytes past the UART's eight ports read 0xFF.
func (u *UART) In(port uint16, size int) uint32 {
	if size == 1 {
		return uint32(u.readReg(port & 7))
	}
	return readBytes(port, size, func(p uint16) uint8 {
		if p&^7 != port&^7 {
			return 0xFF
		}
		return u.readReg(p & 7)
	})
}

// Out implements PortDevice; wider accesses are split like In.
func (u *UART) Out(port uint16, size int, val uint32) {
	if size == 1 {
		u.writeReg(port&7, uint8(val))
		return
	}
	writeBytes(port, size, val, func(p uint16, v uint8) {
		if p&^7 == port&^7 {
			u.writeReg(p&7, v)
		}
	})
}

func (u *UART) readReg(reg uint16) uint8 {
	u.pull()
	switch reg {
	case uartRBR:
		if u.lcr&lcrDLAB != 0 {
			return u.dll
		}
		c, _ := u.rx.pop()
		u.pull()
		return c
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			return u.dlm
		}
		return u.ier
	case uartIIR:
		id := u.iirID()
		if id == iirTHRE {
			// Reading IIR when it reports THRE clears that source.
			u.thriPending = false
		}
		if u.fifoOn {
			id |= iirFIFOsOn
		}
		return id
	case uartLCR:
		return u.lcr
	case uartMCR:
		return u.mcr
	case uartLSR:
		v := u.lsrErr | lsrTHRE | lsrTEMT
		if u.rx.len() > 0 {
			v |= lsrDR
		}
		u.lsrErr = 0 // reading LSR clears OE, PE, FE and BI
		return v
	case uartMSR:
		v := u.msrStatus() | u.msrDelta
		u.msrDelta = 0
		return v
	default: // uartSCR
		return u.scr
	}
}

func (u *UART) writeReg(reg uint16, v uint8) {
	switch reg {
	case uartTHR:
		if u.lcr&lcrDLAB != 0 {
			u.dll = v
			return
		}
		u.transmit(v)
	case uartIER:
		if u.lcr&lcrDLAB != 0 {
			u.dlm = v
			return
		}
		old := u.ier
		u.ier = v & 0x0F
		// Enabling ETBEI while THR is empty raises the THRE interrupt.
		if old&ierTHRE == 0 && u.ier&ierTHRE != 0 {
			u.thriPending = true
		}
	case uartFCR:
		on := v&fcrEnable != 0
		if on != u.fifoOn {
			// Changing FCR bit 0 resets both FIFOs.
			u.rx.reset()
		}
		u.fifoOn = on
		if v&fcrClearRX != 0 {
			u.rx.reset()
		}
		// Bit 2 clears the transmit FIFO, which is always empty here;
		// bits 3 (DMA mode) and 7:6 (trigger level) have no effect because
		// the receive interrupt fires as soon as a byte is present.
		u.pull()
	case uartLCR:
		u.lcr = v
	case uartMCR:
		before := u.msrStatus()
		u.mcr = v & mcrMask
		u.modemChanged(before, u.msrStatus())
		u.pull()
	case uartLSR:
		// LSR is read-only in normal use (writes are a factory test mode).
	case uartMSR:
		// MSR is read-only.
	default: // uartSCR
		u.scr = v
	}
}

// modemChanged latches the MSR delta bits for a change of the status inputs
// from before to after. TERI is set on the trailing (1→0) edge of RI only.
func (u *UART) modemChanged(before, after uint8) {
	changed := before ^ after
	if changed&msrCTS != 0 {
		u.msrDelta |= msrDCTS
	}
	if changed&msrDSR != 0 {
		u.msrDelta |= msrDDSR
	}
	if before&msrRI != 0 && after&msrRI == 0 {
		u.msrDelta |= msrTERI
	}
	if changed&msrDCD != 0 {
		u.msrDelta |= msrDDCD
	}
}

func (u *UART) transmit(v uint8) {
	if u.loopback() {
		// Loopback: the transmitter output is wired to the receiver input.
		// A byte arriving at a full receiver is an overrun and is lost.
		if u.rx.len() >= u.rxDepth() || !u.rx.push(v) {
			u.lsrErr |= lsrOE
		}
	} else {
		u.out.writeByte(v)
	}
	// The byte leaves THR at once, so THR is empty again.
	u.thriPending = true
}

package devices

import (
	"fmt"
	"io"
)

// DebugExit is QEMU's isa-debug-exit device (hw/misc/debugexit.c): any
// write ends the run with exit status (value<<1)|1, so a guest can never
// produce status 0 through it; reads return 0. QEMU's defaults are
// iobase=0x501, iosize=2; test harnesses commonly use iobase=0xf4,iosize=4.
type DebugExit struct {
	base uint16
	size int
	exit ExitFunc
}

// NewDebugExit returns an isa-debug-exit device decoding iosize ports from
// iobase (register it with the bus at Base() for Size() ports). exit
// receives the ExitDebug requests.
func NewDebugExit(iobase uint16, iosize int, exit ExitFunc) *DebugExit {
	return &DebugExit{base: iobase, size: iosize, exit: exit}
}

// Base returns the first port of the device.
func (d *DebugExit) Base() uint16 { return d.base }

// Size returns the number of ports the device decodes.
func (d *DebugExit) Size() int { return d.size }

// In implements PortDevice: reads return 0, as QEMU's debug_exit_read does.
func (d *DebugExit) In(port uint16, size int) uint32 { return 0 }

// Out implements PortDevice. The value is the access-size value, limited to
// the bytes that fall inside the device's iosize ports (QEMU's memory core
// only hands the device the part of a wider access that hits its region).
func (d *DebugExit) Out(port uint16, size int, val uint32) {
	n := size
	if off := int(port) - int(d.base); off >= 0 && d.size-off < n {
		n = d.size - off
	}
	if n <= 0 {
		return
	}
	if n < 4 {
		val &= 1<<(8*n) - 1
	}
	if d.exit == nil {
		return
	}
	d.exit(Exit{
		Kind:   ExitDebug,
		Code:   int(uint64(val)<<1 | 1),
		Reason: fmt.Sprintf("isa-debug-exit: guest wrote %#x to port %#x (size %d)", val, port, size),
	})
}

// DebugCon is the Bochs "port E9 hack" debug console, also QEMU's
// isa-debugcon: each byte written is sent to the output; reads return the
// readback value 0xE9 (QEMU's "readback" property default; Bochs returns
// 0xE9 as well), which lets a guest detect the console.
type DebugCon struct {
	out outBuf
}

// DebugConReadback is the value port 0xE9 reads as.
const DebugConReadback = 0xE9

// NewDebugCon returns a debug console writing to out (nil discards).
func NewDebugCon(out io.Writer) *DebugCon {
	return &DebugCon{out: newOutBuf(out)}
}

// In implements PortDevice.
func (d *DebugCon) In(port uint16, size int) uint32 { return DebugConReadback }

// Out implements PortDevice: the low byte of the value is output.
func (d *DebugCon) Out(port uint16, size int, val uint32) { d.out.writeByte(uint8(val)) }

// Flush writes out buffered output and reports the first output error.
func (d *DebugCon) Flush() error { return d.out.flush("debugcon") }

// ShutdownPort is the Bochs power-off port (0x8900 by convention): writing
// the characters of "Shutdown" one by one powers the machine off. Following
// Bochs (iodev/unmapped.cc), a letter of "Shutdown" advances the match only
// when it is the next one expected and is otherwise ignored; any other byte
// restarts the match. Reads return 0xFF like an unclaimed port.
type ShutdownPort struct {
	exit  ExitFunc
	state int // characters of "Shutdown" matched so far
}

const shutdownMagic = "Shutdown"

// NewShutdownPort returns the device; exit receives the ExitShutdown
// request.
func NewShutdownPort(exit ExitFunc) *ShutdownPort { return &ShutdownPort{exit: exit} }

// In implements PortDevice.
func (s *ShutdownPort) In(port uint16, size int) uint32 { return sizeMask(size) }

// Out implements PortDevice; the low byte is the character.
func (s *ShutdownPort) Out(port uint16, size int, val uint32) {
	c := uint8(val)
	pos := -1
	for i := 0; i < len(shutdownMagic); i++ {
		if shutdownMagic[i] == c {
			pos = i
			break
		}
	}
	switch {
	case pos < 0:
		s.state = 0
	case pos == s.state:
		s.state++
	}
	if s.state == len(shutdownMagic) {
		s.state = 0
		if s.exit != nil {
			s.exit(Exit{Kind: ExitShutdown, Code: 0,
				Reason: fmt.Sprintf("guest wrote %q to port %#x", shutdownMagic, port)})
		}
	}
}

// POSTPort is the port 0x80 POST-code sink. Firmware writes progress codes
// there (and OSes write it as an I/O delay). Reads return 0xFF, as QEMU's
// ioport80_read does.
type POSTPort struct {
	last   uint8
	writes uint64
	sink   func(code uint8)
}

// NewPOSTPort returns the sink; sink, if non-nil, is called with every code
// written.
func NewPOSTPort(sink func(code uint8)) *POSTPort { return &POSTPort{sink: sink} }

// In implements PortDevice.
func (p *POSTPort) In(port uint16, size int) uint32 { return sizeMask(size) }

// Out implements PortDevice: the low byte is the code.
func (p *POSTPort) Out(port uint16, size int, val uint32) {
	p.last = uint8(val)
	p.writes++
	if p.sink != nil {
		p.sink(p.last)
	}
}

// Last returns the most recent code and how many codes were written.
func (p *POSTPort) Last() (code uint8, writes uint64) { return p.last, p.writes }

// System control port B (0x61) bits, as documented for the Intel ICH
// "NMI Status and Control" register.
const (
	sysBTimer2Gate = 0x01 // R/W: PIT channel 2 gate
	sysBSpeakerOn  = 0x02 // R/W: speaker data enable
	sysBParityOff  = 0x04 // R/W: PCI SERR# NMI disable
	sysBIOCHKOff   = 0x08 // R/W: IOCHK# NMI disable
	sysBRefresh    = 0x10 // RO: refresh cycle toggle
	sysBTimer2Out  = 0x20 // RO: PIT channel 2 output
	sysBWritable   = sysBTimer2Gate | sysBSpeakerOn | sysBParityOff | sysBIOCHKOff
)

// SysCtrlB is system control port B (0x61). Bits 3:0 are read/write; bit 4
// (refresh toggle) flips on every read, so firmware delay loops that count
// its transitions terminate (hardware flips it every 15.085 µs; with no
// wall clock here each read stands in for one period); bit 5 reflects PIT
// channel 2's output when a source is attached; bits 7:6 (NMI sources) read
// 0.
type SysCtrlB struct {
	ctrl      uint8
	refresh   bool
	timer2Out func() bool
}

// NewSysCtrlB returns port B; timer2Out, if non-nil, supplies bit 5.
func NewSysCtrlB(timer2Out func() bool) *SysCtrlB { return &SysCtrlB{timer2Out: timer2Out} }

// In implements PortDevice.
func (s *SysCtrlB) In(port uint16, size int) uint32 {
	s.refresh = !s.refresh
	v := s.ctrl
	if s.refresh {
		v |= sysBRefresh
	}
	if s.timer2Out != nil && s.timer2Out() {
		v |= sysBTimer2Out
	}
	return uint32(v)
}

// Out implements PortDevice; only bits 3:0 are writable.
func (s *SysCtrlB) Out(port uint16, size int, val uint32) {
	s.ctrl = uint8(val) & sysBWritable
}

// Timer2Gate reports bit 0, the gate input of PIT channel 2.
func (s *SysCtrlB) Timer2Gate() bool { return s.ctrl&sysBTimer2Gate != 0 }

// SpeakerEnabled reports bit 1, speaker data enable.
func (s *SysCtrlB) SpeakerEnabled() bool { return s.ctrl&sysBSpeakerOn != 0 }

// System control port A (0x92) bits.
const (
	sysAFastReset = 0x01 // a 0→1 transition resets the system
	sysAA20       = 0x02 // alternate (fast) A20 gate
)

// SysCtrlA is system control port A (0x92, "fast A20 and init"): bit 1 gates
// address line 20 and a 0→1 transition of bit 0 resets the machine. The
// other bits read back as written. This follows QEMU's port92 device: the
// whole byte reads back, and reset triggers only on the rising edge of
// bit 0.
//
// The port starts with A20 enabled (0x02): vmxemu boots guests in the state
// a BIOS leaves them, and the multiboot boot state has A20 enabled. (QEMU's
// port92 starts at 0, with A20 also controllable from the keyboard
// controller, which vmxemu does not model.)
type SysCtrlA struct {
	val  uint8
	exit ExitFunc
	a20  func(enabled bool)
}

// NewSysCtrlA returns port A. exit receives ExitReset on a fast reset; a20,
// if non-nil, is told about every write's A20 bit.
func NewSysCtrlA(exit ExitFunc, a20 func(enabled bool)) *SysCtrlA {
	return &SysCtrlA{val: sysAA20, exit: exit, a20: a20}
}

// In implements PortDevice.
func (s *SysCtrlA) In(port uint16, size int) uint32 { return uint32(s.val) }

// Out implements PortDevice.
func (s *SysCtrlA) Out(port uint16, size int, val uint32) {
	old := s.val
	s.val = uint8(val)
	if s.a20 != nil {
		s.a20(s.val&sysAA20 != 0)
	}
	if s.val&sysAFastReset != 0 && old&sysAFastReset == 0 && s.exit != nil {
		s.exit(Exit{Kind: ExitReset, Code: 0,
			Reason: fmt.Sprintf("fast reset: guest set bit 0 of port %#x", port)})
	}
}

// A20 reports whether port A enables address line 20.
func (s *SysCtrlA) A20() bool { return s.val&sysAA20 != 0 }

// ResetDone clears the fast-reset bit, as the board's reset does (QEMU's
// port92_reset clears bit 0 only), so the next 0→1 write resets again.
func (s *SysCtrlA) ResetDone() { s.val &^= sysAFastReset }

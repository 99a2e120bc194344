package conformance

import (
	"encoding/binary"
	"fmt"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// The replay machine: 64-bit mode, CPL 3, 4-level paging that maps only
// the code page and the memory window for user mode (as the recorder's
// process sees them), and a supervisor area with the GDT, IDT, TSS,
// ring-0 stack and one "hlt" stub per vector, laid out as Linux does
// (user CS 0x33, SS 0x2b, #BP and #OF gates DPL 3, no I/O bitmap). After a
// run the CPU sits halted in the stub of the vector delivered, and the
// interrupt frame on the ring-0 stack holds what the recorder's signal
// handler reads from the kernel's ucontext.
const (
	physPML4 = 0x1000
	physPDPT = 0x2000
	physPD   = 0x3000
	physPTS  = 0x4000 // PT for the supervisor area
	physPTC  = 0x5000 // PT for the code page
	physPTM  = 0x6000 // PT for the window
	physSys  = 0x10000
	physMem  = 0x30000
	physCode = 0x40000 // codeFrames frames, one per case of a chunk
	ramSize  = 0x100000

	codeFrames = 64

	linSys    = 0x400000
	linGDT    = linSys
	linIDT    = linSys + 0x1000
	linTSS    = linSys + 0x2000
	linStubs  = linSys + 0x3000
	linStack0 = linSys + 0x6000 // top of the ring-0 stack

	selKCode = 0x08
	selKData = 0x10
	selUData = 0x2b
	selUCode = 0x33
	selTSS   = 0x40
)

// replayBus is the replay machine's RAM.
type replayBus struct{ ram []byte }

func (b *replayBus) RAMPage(pfn uint64) *[4096]byte {
	if (pfn+1)<<12 > uint64(len(b.ram)) {
		return nil
	}
	return (*[4096]byte)(b.ram[pfn<<12:])
}
func (b *replayBus) ReadMMIO(pa uint64, size int) uint64     { return ^uint64(0) }
func (b *replayBus) WriteMMIO(pa uint64, size int, v uint64) {}
func (b *replayBus) In(port uint16, size int) uint32         { return 0xFFFFFFFF }
func (b *replayBus) Out(port uint16, size int, v uint32)     {}

// replayPlatform answers CPUID with the recording CPU's leaves.
type replayPlatform struct{ leaves []Leaf }

func (p *replayPlatform) CPUID(c *cpu.CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	for _, l := range p.leaves {
		if l.Leaf == leaf && (l.Sub == sub || leaf != 7) {
			return l.EAX, l.EBX, l.ECX, l.EDX
		}
	}
	return 0, 0, 0, 0
}
func (p *replayPlatform) ReadMSR(c *cpu.CPU, idx uint32) (uint64, *arch.Fault) {
	f := arch.GPFault(0, "MSR not modelled by the conformance replay", "Vol. 4")
	return 0, &f
}
func (p *replayPlatform) WriteMSR(c *cpu.CPU, idx uint32, v uint64) *arch.Fault {
	f := arch.GPFault(0, "MSR not modelled by the conformance replay", "Vol. 4")
	return &f
}

// Replayer runs cases on the interpreter.
type Replayer struct {
	bus   *replayBus
	plat  *replayPlatform
	code  *cpu.CodeCache
	nused int
}

// NewReplayer builds the replay machine; leaves are the CPUID answers
// (the trace header's).
func NewReplayer(leaves []Leaf) *Replayer {
	r := &Replayer{bus: &replayBus{ram: make([]byte, ramSize)}, plat: &replayPlatform{leaves: leaves}}
	r.setupTables()
	return r
}

func (r *Replayer) w64(pa, v uint64) { binary.LittleEndian.PutUint64(r.bus.ram[pa:], v) }

func desc(base, limit uint32, access, flags uint8) uint64 {
	return uint64(limit&0xFFFF) | uint64(base&0xFFFFFF)<<16 | uint64(access)<<40 |
		uint64((limit>>16)&0xF)<<48 | uint64(flags&0xF)<<52 | uint64(base>>24)<<56
}

func (r *Replayer) setupTables() {
	const p, rw, us = 1, 2, 4
	r.w64(physPML4, physPDPT|p|rw|us)
	r.w64(physPDPT, physPD|p|rw|us)
	r.w64(physPD+8*(linSys>>21), physPTS|p|rw|us)
	r.w64(physPD+8*(CodeBase>>21), physPTC|p|rw|us)
	r.w64(physPD+8*(MemBase>>21), physPTM|p|rw|us)
	for i := uint64(0); i < 8; i++ { // supervisor only
		r.w64(physPTS+8*i, (physSys+i<<12)|p|rw)
	}
	r.w64(physPTM, physMem|p|rw|us|0x60) // accessed and dirty, as after the recorder's memcpy
	sys := func(lin uint64) uint64 { return physSys + lin - linSys }
	// GDT.
	r.w64(sys(linGDT)+selKCode, desc(0, 0xFFFFF, 0x9B, 0xA))
	r.w64(sys(linGDT)+selKData, desc(0, 0xFFFFF, 0x93, 0xC))
	r.w64(sys(linGDT)+(selUData&^7), desc(0, 0xFFFFF, 0xF3, 0xC))
	r.w64(sys(linGDT)+(selUCode&^7), desc(0, 0xFFFFF, 0xFB, 0xA))
	r.w64(sys(linGDT)+selTSS, desc(linTSS, 0x67, 0x8B, 0))
	// TSS: RSP0, no I/O permission bitmap.
	r.w64(sys(linTSS)+4, linStack0)
	binary.LittleEndian.PutUint16(r.bus.ram[sys(linTSS)+0x66:], 0x68)
	// IDT and stubs.
	for v := uint64(0); v < 256; v++ {
		stub := linStubs + v*8
		copy(r.bus.ram[sys(stub):], []byte{0xF4, 0xEB, 0xFD}) // hlt; jmp hlt
		dpl := uint64(0)
		if v == 3 || v == 4 || v == 0x80 {
			dpl = 3
		}
		lo := stub&0xFFFF | selKCode<<16 | (0x80|dpl<<5|0xE)<<40 | (stub>>16&0xFFFF)<<48
		r.w64(sys(linIDT)+v*16, lo)
		r.w64(sys(linIDT)+v*16+8, stub>>32)
	}
}

func seg(sel uint16, access uint32, flags uint32) arch.Segment {
	return arch.Segment{Selector: sel, Limit: 0xFFFFFFFF, Attr: access | flags<<12}
}

// initialState is the CPL-3 state a case starts from.
func initialState(c *Case) arch.State {
	var s arch.State
	s.GPR = c.In.GPR
	s.RIP = CodeBase
	s.RFLAGS = c.In.RFLAGS | 0x2
	s.CR0 = arch.CR0PE | arch.CR0MP | arch.CR0ET | arch.CR0NE | arch.CR0WP | arch.CR0AM | arch.CR0PG
	s.CR4 = arch.CR4PAE
	s.CR3 = physPML4
	s.EFER = arch.EFERSCE | arch.EFERLME | arch.EFERLMA | arch.EFERNXE
	for i := range s.Seg {
		s.Seg[i] = seg(selUData, 0xF3, 0xC)
	}
	s.Seg[arch.CS] = seg(selUCode, 0xFB, 0xA)
	s.GDTR = arch.DescTable{Base: linGDT, Limit: 0xFF}
	s.IDTR = arch.DescTable{Base: linIDT, Limit: 256*16 - 1}
	s.TR = arch.Segment{Selector: selTSS, Base: linTSS, Limit: 0x67, Attr: 0x8B}
	s.LDTR = arch.Segment{Attr: arch.ARUnusable}
	s.DR[6], s.DR[7] = 0xFFFF0FF0, 0x400
	s.PAT = 0x0007040600070406
	s.XCR0 = 1
	return s
}

// Run executes one case on the interpreter and returns its output, or an
// error when the harness could not tell what happened (which is a mismatch
// of its own). A panic in the interpreter is returned as an error.
func (r *Replayer) Run(c *Case) (out *Output, err error) {
	defer func() {
		if p := recover(); p != nil {
			out, err = nil, fmt.Errorf("interpreter panic: %v", p)
		}
	}()
	if r.code == nil || r.nused == codeFrames {
		r.code, r.nused = cpu.NewCodeCache(), 0
	}
	frame := uint64(physCode + r.nused<<12)
	r.nused++
	page := r.bus.ram[frame : frame+4096]
	for i := range page {
		page[i] = 0xCC
	}
	copy(page, c.Code)
	r.w64(physPTC, frame|1|2|4|0x20)
	win := c.In.Window()
	copy(r.bus.ram[physMem:physMem+MemSize], win)

	k := cpu.New(cpu.Config{Bus: r.bus, Platform: r.plat, Code: r.code, MaxPhysAddr: 48}, initialState(c))
	var why string
	stop := k.Run(1_000_000)
	s := k.GetState()
	rip := s.RIP - 1
	if !k.Halted() || rip < linStubs || rip >= linStubs+256*8 || (rip-linStubs)%8 != 0 {
		why = fmt.Sprintf("the CPU did not halt in an exception stub (stop %v, RIP %#x", stop, s.RIP)
		if k.IsShutdown() {
			why += fmt.Sprintf(", shutdown: %s: %s", k.ShutdownWhy, k.ShutdownFault.Error())
		}
		return nil, fmt.Errorf("%s)", why)
	}
	vec := int((rip - linStubs) / 8)
	sp := s.GPR[arch.RSP] - linSys + physSys
	rd := func(i uint64) uint64 { return binary.LittleEndian.Uint64(r.bus.ram[sp+8*i:]) }
	o := &Output{Vector: vec}
	i := uint64(0)
	if HasErrorCode(vec) {
		o.Err = uint32(rd(0))
		i = 1
	}
	fRIP, fCS, fFlags, fRSP := rd(i), rd(i+1), rd(i+2), rd(i+3)
	if fCS != selUCode {
		return nil, fmt.Errorf("vector %d delivered from CS %#x, not from user mode", vec, fCS)
	}
	o.GPR = s.GPR
	o.GPR[arch.RSP] = fRSP
	o.RFLAGS = fFlags
	if vec == 14 {
		o.CR2 = s.CR2
	}
	o.RIP = fRIP - CodeBase
	if vec == 3 && fRIP == CodeBase+uint64(len(c.Code))+1 {
		o.Vector, o.RIP = -1, uint64(len(c.Code))
	}
	o.Mem = DiffWindow(win, r.bus.ram[physMem:physMem+MemSize])
	return o, nil
}

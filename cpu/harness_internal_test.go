package cpu

import (
	"encoding/binary"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Single-instruction harness for table-driven tests: a flat RAM board, a
// CPU in 64-bit mode (identity-mapped by 2 MiB pages) or 32-bit flat
// protected mode, code at harnessCode and a data buffer at harnessData.

const (
	harnessRAM  = 4 << 20
	harnessPML4 = 0x1000
	harnessCode = 0x10000
	harnessData = 0x20000
)

type harnessBus struct{ ram []byte }

func (b *harnessBus) RAMPage(pfn uint64) *[4096]byte {
	if (pfn+1)<<12 > uint64(len(b.ram)) {
		return nil
	}
	return (*[4096]byte)(b.ram[pfn<<12:])
}
func (b *harnessBus) ReadMMIO(pa uint64, size int) uint64     { return ^uint64(0) }
func (b *harnessBus) WriteMMIO(pa uint64, size int, v uint64) {}
func (b *harnessBus) In(port uint16, size int) uint32         { return ^uint32(0) }
func (b *harnessBus) Out(port uint16, size int, v uint32)     {}

type harnessPlatform struct{}

func (harnessPlatform) CPUID(c *CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	return 0, 0, 0, 0
}
func (harnessPlatform) ReadMSR(c *CPU, idx uint32) (uint64, *arch.Fault) {
	f := arch.GPFault(0, "no such MSR", "")
	return 0, &f
}
func (harnessPlatform) WriteMSR(c *CPU, idx uint32, v uint64) *arch.Fault {
	f := arch.GPFault(0, "no such MSR", "")
	return &f
}

type harness struct {
	bus   *harnessBus
	c     *CPU
	mode  uint8
	base  arch.State
	code  []byte
	fault int // vector of the first exception of the last step, -1 none
	// bmi makes F3 0F BC/BD decode as TZCNT/LZCNT.
	bmi bool
}

const (
	attrCode = arch.ARP | arch.ARS | arch.ARCode | arch.ARReadable | arch.ARAccessed
	attrData = arch.ARP | arch.ARS | arch.ARWritable | arch.ARAccessed
)

// newHarness builds a harness in mode64 or mode32.
func newHarness(mode uint8) *harness {
	h := &harness{bus: &harnessBus{ram: make([]byte, harnessRAM)}, mode: mode, fault: -1}
	ram := h.bus.ram
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.CR0 = arch.CR0PE | arch.CR0ET
	code := uint32(attrCode | arch.ARDB | arch.ARG)
	if mode == mode64 {
		// PML4[0] -> PDPT, PDPT[0] -> PD, PD[0..1]: 2 MiB pages.
		binary.LittleEndian.PutUint64(ram[harnessPML4:], harnessPML4+0x1000|3)
		binary.LittleEndian.PutUint64(ram[harnessPML4+0x1000:], harnessPML4+0x2000|3)
		binary.LittleEndian.PutUint64(ram[harnessPML4+0x2000:], 0|0x83)
		binary.LittleEndian.PutUint64(ram[harnessPML4+0x2008:], 2<<20|0x83)
		s.CR0 |= arch.CR0PG
		s.CR4 = arch.CR4PAE
		s.EFER = arch.EFERLME | arch.EFERLMA
		s.CR3 = harnessPML4
		code = attrCode | arch.ARL | arch.ARG
	}
	s.Seg[arch.CS] = arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: code}
	for _, i := range []int{arch.DS, arch.ES, arch.SS, arch.FS, arch.GS} {
		s.Seg[i] = arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	}
	s.GPR[arch.RSP] = 0x8000
	s.RIP = harnessCode
	h.base = s
	h.newCPU()
	return h
}

func (h *harness) newCPU() {
	h.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}}, h.base)
	h.c.feat.bmi1, h.c.feat.lzcnt = h.bmi, h.bmi
	h.c.Hooks = &Hooks{Exception: func(c *CPU, vec uint8, f *arch.Fault, ext bool) {
		if h.fault < 0 {
			h.fault = int(vec)
		}
	}}
	h.code = nil
}

// setBMI selects TZCNT/LZCNT decoding for F3 0F BC/BD.
func (h *harness) setBMI(on bool) {
	if h.bmi != on {
		h.bmi = on
		h.newCPU()
	}
}

// step runs one instruction with the given GPRs and status flags and
// returns the state after it. fault is the first exception vector or -1.
func (h *harness) step(code []byte, gpr [16]uint64, flags uint64) (arch.State, int) {
	return h.stepN(code, gpr, flags, 1)
}

// stepN is step for n instructions (code holds all of them).
func (h *harness) stepN(code []byte, gpr [16]uint64, flags uint64, n uint64) (arch.State, int) {
	if h.c.IsShutdown() {
		h.newCPU()
	}
	if string(code) != string(h.code) {
		n := copy(h.bus.ram[harnessCode:], code)
		h.bus.ram[harnessCode+n] = 0xF4 // HLT ends the block
		h.c.code.written(h.c, harnessCode>>12)
		h.code = append(h.code[:0], code...)
	}
	s := h.base
	s.GPR = gpr
	s.RFLAGS = flags&arch.FlagsArith | arch.FlagRes1
	h.c.SetState(s)
	h.c.halted = false
	h.fault = -1
	h.c.Run(n)
	return h.c.GetState(), h.fault
}

// data returns the harness data buffer.
func (h *harness) data() []byte { return h.bus.ram[harnessData : harnessData+4096] }

// flagStr names the status flags set in f.
func flagStr(f uint64) string {
	var s []string
	for _, x := range []struct {
		b uint64
		n string
	}{{arch.FlagOF, "OF"}, {arch.FlagSF, "SF"}, {arch.FlagZF, "ZF"}, {arch.FlagAF, "AF"}, {arch.FlagPF, "PF"}, {arch.FlagCF, "CF"}} {
		if f&x.b != 0 {
			s = append(s, x.n)
		}
	}
	return "[" + strings.Join(s, " ") + "]"
}

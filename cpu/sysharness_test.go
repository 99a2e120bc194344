package cpu_test

import (
	"encoding/binary"
	"fmt"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// A small test machine for the system-level tests and FuzzExecute: flat
// RAM, no devices, a CPU model whose CPUID answers are configurable, and
// memory laid out as below (physical = linear in every mode: real mode
// uses segment bases that keep it so, long mode maps the first 4 MiB with
// an identity map).
const (
	physIVT      = 0x0000
	physGDT      = 0x1000 // 32 entries
	physIDT      = 0x2000 // 256 16-byte gates (or 8-byte gates in legacy mode)
	physTSS32    = 0x3000
	physTSS64    = 0x3100
	physStubs    = 0x4000 // one 8-byte "hlt; jmp hlt" stub per vector
	physPML4     = 0x10000
	physPDPT     = 0x11000
	physPD       = 0x12000
	physPT       = 0x13000 // 4-KiB pages for 0..2 MiB
	physPD32     = 0x14000 // 32-bit paging: page directory
	physPT32     = 0x15000 // 32-bit paging: page table for 0..4 MiB
	physCode     = 0x20000
	physStack0   = 0x6F000 // ring-0 stack top (TSS RSP0/ESP0)
	physStackIST = 0x6E000 // IST1 stack top
	physStack    = 0x70000 // initial stack top
	physData     = 0x80000
	physUser     = 0x90000 // ring-3 code and data
	physUStack   = 0xA0000 // ring-3 stack top
)

// GDT selectors.
const (
	selCode64   = 0x08 // DPL 0, L=1
	selData0    = 0x10 // DPL 0 flat writable data (B=1)
	selCode32U  = 0x18 // DPL 3 32-bit code (SYSRET 32 base)
	selData3    = 0x20 // DPL 3 flat writable data
	selCode64U  = 0x28 // DPL 3 64-bit code
	selCode32   = 0x30 // DPL 0 32-bit flat code
	selTSS      = 0x38 // TSS (16 bytes in IA-32e mode)
	selCode16   = 0x48 // DPL 0 16-bit code, base 0, limit 0xFFFF
	selData16   = 0x50 // DPL 0 16-bit data, base 0, limit 0xFFFF
	selFree     = 0x58 // first free slot for test descriptors
	gdtEntries  = 32
	stubSize    = 8
	ramSizeTest = 4 << 20
)

// Access bytes and flag nibbles of descriptors (SDM Vol. 3A 3.4.5).
const (
	accCode0  = 0x9B // P, DPL 0, S, code exec/read, accessed
	accData0  = 0x93 // P, DPL 0, S, data read/write, accessed
	accCode3  = 0xFB
	accData3  = 0xF3
	accTSS    = 0x89 // P, available 32/64-bit TSS
	flgG32    = 0xC  // G=1, D/B=1
	flgG64    = 0xA  // G=1, L=1
	flgByte16 = 0x0
)

// desc encodes a code/data/system segment descriptor.
func desc(base, limit uint32, access, flags uint8) uint64 {
	return uint64(limit&0xFFFF) | uint64(base&0xFFFFFF)<<16 | uint64(access)<<40 |
		uint64((limit>>16)&0xF)<<48 | uint64(flags&0xF)<<52 | uint64(base>>24)<<56
}

// segCache returns the hidden-cache form of a descriptor (what the CPU
// loads), for building initial states.
func segCache(sel uint16, base, limit uint32, access, flags uint8) arch.Segment {
	lim := limit
	if flags&8 != 0 {
		lim = lim<<12 | 0xFFF
	}
	return arch.Segment{Selector: sel, Base: uint64(base), Limit: lim, Attr: uint32(access) | uint32(flags)<<12}
}

// gate32 and gate64 encode IDT gates (SDM Vol. 3A 6.11 Figure 6-2, 6.14.1
// Figure 6-8). typ 0xE interrupt gate, 0xF trap gate.
func gate32(sel uint16, off uint32, typ, dpl uint8) uint64 {
	return uint64(off&0xFFFF) | uint64(sel)<<16 | uint64(0x80|dpl<<5|typ)<<40 | uint64(off>>16)<<48
}

func gate64(sel uint16, off uint64, typ, dpl, ist uint8) (lo, hi uint64) {
	lo = off&0xFFFF | uint64(sel)<<16 | uint64(ist&7)<<32 | uint64(0x80|dpl<<5|typ)<<40 | (off>>16&0xFFFF)<<48
	return lo, off >> 32
}

// sysBus is RAM plus a port log.
type sysBus struct {
	ram  []byte
	outs []portWrite
}

type portWrite struct {
	port uint16
	size int
	v    uint32
}

func (b *sysBus) RAMPage(pfn uint64) *[4096]byte {
	if (pfn+1)<<12 > uint64(len(b.ram)) {
		return nil
	}
	return (*[4096]byte)(b.ram[pfn<<12:])
}
func (b *sysBus) ReadMMIO(pa uint64, size int) uint64     { return ^uint64(0) }
func (b *sysBus) WriteMMIO(pa uint64, size int, v uint64) {}
func (b *sysBus) In(port uint16, size int) uint32         { return 0xFFFFFFFF }
func (b *sysBus) Out(port uint16, size int, v uint32) {
	if len(b.outs) < 1024 {
		b.outs = append(b.outs, portWrite{port, size, v})
	}
}

// sysPlatform is a CPU model: CPUID.1:ECX.VMX follows vmx; the feature
// registers below answer leaves 01H (ECX), 07H (EBX, ECX) and 80000001H
// (EDX); other leaves are zero; MSRs the core does not hold raise #GP(0).
// newMachine reports NX, LM and 1-GByte pages (as every shipped model
// does); a test that changes the fields calls c.RefreshFeatures().
type sysPlatform struct {
	vmx                          bool
	ecx1, ebx7, ecx7, edx8000001 uint32
	sig                          uint32 // CPUID.1:EAX (family/model: the LBR stack, debugctl.go)
	// xsavePKRU adds PKRU (component 9) to the XSAVE components of leaf
	// 0DH, at the size and offset of a Cascade Lake-SP dump (8 bytes at
	// 0xA80: msr/models/cascadelake-sp.cpu); x87 and SSE are always there.
	xsavePKRU bool
	// xsaveSub1 is CPUID.(EAX=0DH,ECX=1):EAX (XSAVEC bit 1, XSAVES bit
	// 3); its EBX, ECX, EDX are 0 (the core computes EBX).
	xsaveSub1 uint32
}

// CPUID feature bits the system tests toggle (SDM Vol. 2A CPUID).
const (
	cpuidPCID    = 1 << 17 // 01H:ECX
	cpuidXSAVE   = 1 << 26 // 01H:ECX
	cpuidSMEP    = 1 << 7  // 07H:EBX
	cpuidINVPCID = 1 << 10 // 07H:EBX
	cpuidSMAP    = 1 << 20 // 07H:EBX
	cpuidUMIP    = 1 << 2  // 07H:ECX
	cpuidLA57    = 1 << 16 // 07H:ECX
	cpuidNX      = 1 << 20 // 80000001H:EDX
	cpuidPage1GB = 1 << 26 // 80000001H:EDX
	cpuidLM      = 1 << 29 // 80000001H:EDX
)

func (p *sysPlatform) CPUID(c *cpu.CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	switch leaf {
	case 0:
		return 0xD, 0, 0, 0
	case 0xD:
		switch {
		case sub == 0 && p.xsavePKRU:
			return 1<<9 | 3, 576, 0xA80 + 8, 0
		case sub == 0:
			return 3, 576, 576, 0
		case sub == 9 && p.xsavePKRU:
			return 8, 0xA80, 0, 0
		case sub == 1:
			return p.xsaveSub1, 0, 0, 0
		}
	case 1:
		ecx := p.ecx1
		if p.vmx {
			ecx |= 1 << 5
		}
		return p.sig, 0, ecx, 0
	case 7:
		if sub == 0 {
			return 0, p.ebx7, p.ecx7, 0
		}
	case 0x80000000:
		return 0x80000001, 0, 0, 0
	case 0x80000001:
		return 0, 0, 0, p.edx8000001
	}
	return 0, 0, 0, 0
}
func (p *sysPlatform) ReadMSR(c *cpu.CPU, idx uint32) (uint64, *arch.Fault) {
	f := arch.GPFault(0, "MSR not implemented by the test model", "Vol. 4")
	return 0, &f
}
func (p *sysPlatform) WriteMSR(c *cpu.CPU, idx uint32, v uint64) *arch.Fault {
	f := arch.GPFault(0, "MSR not implemented by the test model", "Vol. 4")
	return &f
}

type sysMode int

const (
	modeReal sysMode = iota
	modeProt32
	modeLong64
)

func (m sysMode) String() string { return [...]string{"real16", "prot32", "long64"}[m] }

// machine is one CPU on a sysBus with the tables above in place.
type machine struct {
	bus  *sysBus
	plat *sysPlatform
	c    *cpu.CPU
	mode sysMode
}

func (m *machine) w8(pa uint64, v uint8)   { m.bus.ram[pa] = v }
func (m *machine) w16(pa uint64, v uint16) { binary.LittleEndian.PutUint16(m.bus.ram[pa:], v) }
func (m *machine) w32(pa uint64, v uint32) { binary.LittleEndian.PutUint32(m.bus.ram[pa:], v) }
func (m *machine) w64(pa uint64, v uint64) { binary.LittleEndian.PutUint64(m.bus.ram[pa:], v) }
func (m *machine) r16(pa uint64) uint16    { return binary.LittleEndian.Uint16(m.bus.ram[pa:]) }
func (m *machine) r32(pa uint64) uint32    { return binary.LittleEndian.Uint32(m.bus.ram[pa:]) }
func (m *machine) r64(pa uint64) uint64    { return binary.LittleEndian.Uint64(m.bus.ram[pa:]) }
func (m *machine) load(pa uint64, b []byte) {
	copy(m.bus.ram[pa:], b)
}

// setGDT writes descriptor d at selector sel.
func (m *machine) setGDT(sel uint16, d uint64) { m.w64(physGDT+uint64(sel&^7), d) }

// setGate32/setGate64 write an IDT entry.
func (m *machine) setGate32(vec uint8, g uint64) { m.w64(physIDT+uint64(vec)*8, g) }
func (m *machine) setGate64(vec uint8, lo, hi uint64) {
	m.w64(physIDT+uint64(vec)*16, lo)
	m.w64(physIDT+uint64(vec)*16+8, hi)
}

// pte returns the address of the 4-KiB PTE (long mode) mapping lin < 2 MiB.
func pteAddr(lin uint64) uint64 { return physPT + (lin>>12)*8 }

// Page-table entry bits (SDM Vol. 3A 4.5, Table 4-19).
const (
	pteP  = 1 << 0
	pteRW = 1 << 1
	pteUS = 1 << 2
	pteA  = 1 << 5
	pteD  = 1 << 6
	ptePS = 1 << 7
	pteNX = 1 << 63
)

// newMachine builds a machine in mode with all tables in place. ramSize 0
// means ramSizeTest.
func newMachine(t testing.TB, mode sysMode, ramSize int) *machine {
	if ramSize == 0 {
		ramSize = ramSizeTest
	}
	m := &machine{bus: &sysBus{ram: make([]byte, ramSize)}, plat: &sysPlatform{edx8000001: cpuidNX | cpuidLM | cpuidPage1GB}, mode: mode}
	// GDT.
	m.setGDT(selCode64, desc(0, 0xFFFFF, accCode0, flgG64))
	m.setGDT(selData0, desc(0, 0xFFFFF, accData0, flgG32))
	m.setGDT(selCode32U, desc(0, 0xFFFFF, accCode3, flgG32))
	m.setGDT(selData3, desc(0, 0xFFFFF, accData3, flgG32))
	m.setGDT(selCode64U, desc(0, 0xFFFFF, accCode3, flgG64))
	m.setGDT(selCode32, desc(0, 0xFFFFF, accCode0, flgG32))
	m.setGDT(selCode16, desc(0, 0xFFFF, accCode0, flgByte16))
	m.setGDT(selData16, desc(0, 0xFFFF, accData0, flgByte16))
	// Stubs: hlt; jmp short hlt.
	for v := 0; v < 256; v++ {
		copy(m.bus.ram[physStubs+v*stubSize:], []byte{0xF4, 0xEB, 0xFD})
	}
	// TSSs: ring-0 stacks and IST1.
	m.w32(physTSS32+4, physStack0)
	m.w16(physTSS32+8, selData0)
	m.w16(physTSS32+0x66, 0x68) // no I/O bitmap
	m.w64(physTSS64+4, physStack0)
	m.w64(physTSS64+0x24, physStackIST)
	m.w16(physTSS64+0x66, 0x68)

	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.DR[6], s.DR[7] = 0xFFFF0FF0, 0x400
	s.PAT = 0x0007040600070406
	s.XCR0 = 1
	s.LDTR = arch.Segment{Attr: arch.ARUnusable}
	switch mode {
	case modeReal:
		for v := 0; v < 256; v++ {
			m.w32(physIVT+uint64(v)*4, uint32(physStubs+v*stubSize)) // 0000:stub
		}
		s.CR0 = arch.CR0ET
		for i := range s.Seg {
			s.Seg[i] = arch.Segment{Limit: 0xFFFF, Attr: accData0}
		}
		s.Seg[arch.CS] = arch.Segment{Selector: physCode >> 4, Base: physCode, Limit: 0xFFFF, Attr: accCode0}
		s.Seg[arch.SS] = arch.Segment{Selector: (physStack - 0x10000) >> 4, Base: physStack - 0x10000, Limit: 0xFFFF, Attr: accData0}
		s.Seg[arch.DS] = arch.Segment{Selector: physData >> 4, Base: physData, Limit: 0xFFFF, Attr: accData0}
		s.GPR[arch.RSP] = 0xFFFE
		s.RIP = 0
		s.IDTR = arch.DescTable{Base: physIVT, Limit: 0x3FF}
		s.GDTR = arch.DescTable{Base: physGDT, Limit: gdtEntries*8 - 1}
		s.TR = arch.Segment{Limit: 0xFFFF, Attr: 0x8B}
	case modeProt32:
		for v := 0; v < 256; v++ {
			m.setGate32(uint8(v), gate32(selCode32, uint32(physStubs+v*stubSize), 0xE, 0))
		}
		m.setGDT(selTSS, desc(physTSS32, 0x67, accTSS, 0))
		s.CR0 = arch.CR0PE | arch.CR0ET
		for i := range s.Seg {
			s.Seg[i] = segCache(selData0, 0, 0xFFFFF, accData0, flgG32)
		}
		s.Seg[arch.CS] = segCache(selCode32, 0, 0xFFFFF, accCode0, flgG32)
		s.GPR[arch.RSP] = physStack
		s.RIP = physCode
		s.IDTR = arch.DescTable{Base: physIDT, Limit: 256*8 - 1}
		s.GDTR = arch.DescTable{Base: physGDT, Limit: gdtEntries*8 - 1}
		s.TR = arch.Segment{Selector: selTSS, Base: physTSS32, Limit: 0x67, Attr: 0x8B}
		m.setGDT(selTSS, desc(physTSS32, 0x67, 0x8B, 0)) // busy
	case modeLong64:
		for v := 0; v < 256; v++ {
			lo, hi := gate64(selCode64, uint64(physStubs+v*stubSize), 0xE, 0, 0)
			m.setGate64(uint8(v), lo, hi)
		}
		m.setGDT(selTSS, desc(physTSS64, 0x67, 0x8B, 0))
		m.w64(physGDT+selTSS+8, 0)
		m.identityMap64()
		s.CR0 = arch.CR0PE | arch.CR0PG | arch.CR0ET
		s.CR4 = arch.CR4PAE
		s.EFER = arch.EFERLME | arch.EFERLMA | arch.EFERNXE
		s.CR3 = physPML4
		for i := range s.Seg {
			s.Seg[i] = segCache(selData0, 0, 0xFFFFF, accData0, flgG32)
		}
		s.Seg[arch.CS] = segCache(selCode64, 0, 0xFFFFF, accCode0, flgG64)
		s.GPR[arch.RSP] = physStack
		s.RIP = physCode
		s.IDTR = arch.DescTable{Base: physIDT, Limit: 256*16 - 1}
		s.GDTR = arch.DescTable{Base: physGDT, Limit: gdtEntries*8 - 1}
		s.TR = arch.Segment{Selector: selTSS, Base: physTSS64, Limit: 0x67, Attr: 0x8B}
	}
	m.c = cpu.New(cpu.Config{Bus: m.bus, Platform: m.plat}, s)
	return m
}

// identityMap64 writes 4-level tables mapping 0..4 MiB to itself: 4-KiB
// pages for 0..2 MiB (PTEs at pteAddr), a 2-MiB page for 2..4 MiB; every
// entry present, writable and user.
func (m *machine) identityMap64() {
	m.w64(physPML4, physPDPT|pteP|pteRW|pteUS)
	m.w64(physPDPT, physPD|pteP|pteRW|pteUS)
	m.w64(physPD, physPT|pteP|pteRW|pteUS)
	m.w64(physPD+8, 0x200000|pteP|pteRW|pteUS|ptePS)
	for i := uint64(0); i < 512; i++ {
		m.w64(physPT+i*8, i<<12|pteP|pteRW|pteUS)
	}
}

// identityMap32 writes 32-bit paging tables mapping 0..4 MiB to itself
// with 4-KiB pages (PTEs at physPT32 + 4*page), present, writable, user.
func (m *machine) identityMap32() {
	m.w32(physPD32, physPT32|pteP|pteRW|pteUS)
	for i := uint64(0); i < 1024; i++ {
		m.w32(physPT32+i*4, uint32(i<<12|pteP|pteRW|pteUS))
	}
}

// state returns the CPU state; set replaces it.
func (m *machine) state() arch.State           { return m.c.GetState() }
func (m *machine) set(s arch.State)            { m.c.SetState(s) }
func (m *machine) run(n uint64) cpu.StopReason { return m.c.Run(n) }

// vector returns the vector whose stub the CPU halted in, or -1 when it
// halted elsewhere (the program's own HLT) or did not halt.
func (m *machine) vector() int {
	if !m.c.Halted() {
		return -1
	}
	s := m.c.GetState()
	lin := s.Seg[arch.CS].Base + s.RIP - 1
	if lin < physStubs || lin >= physStubs+256*stubSize || (lin-physStubs)%stubSize != 0 {
		return -1
	}
	return int((lin - physStubs) / stubSize)
}

// stack reads the n-th slot of the given width from the top of the stack
// (SS base + RSP).
func (m *machine) stack(i int, width int) uint64 {
	s := m.c.GetState()
	sp := s.Seg[arch.SS].Base + s.GPR[arch.RSP]
	if m.mode == modeReal {
		sp = s.Seg[arch.SS].Base + s.GPR[arch.RSP]&0xFFFF
	}
	a := sp + uint64(i*width)
	switch width {
	case 2:
		return uint64(m.r16(a))
	case 4:
		return uint64(m.r32(a))
	}
	return m.r64(a)
}

// runToHalt runs up to budget instructions and requires the CPU to halt.
func (m *machine) runToHalt(t testing.TB, budget uint64) {
	t.Helper()
	r := m.run(budget)
	s := m.state()
	require.Equal(t, cpu.StopHalt, r, "expected HLT; stopped with %v at RIP %#x (shutdown: %s %v)", r, s.RIP, m.c.ShutdownWhy, m.c.ShutdownFault.Error())
}

// expectVector runs to a halt and checks it happened in the stub of vec.
func (m *machine) expectVector(t testing.TB, vec int) {
	t.Helper()
	m.runToHalt(t, 10000)
	require.Equal(t, vec, m.vector(), "vector (RIP %#x)", m.state().RIP)
}

// expectDone runs to the program's own HLT (no exception).
func (m *machine) expectDone(t testing.TB) {
	t.Helper()
	m.runToHalt(t, 100000)
	if v := m.vector(); v >= 0 {
		s := m.state()
		t.Fatalf("unexpected exception vector %d; frame %#x %#x %#x %#x", v, m.stack(0, 8), m.stack(1, 8), m.stack(2, 8), s.CR2)
	}
}

// nasm assembles src for the given mode width at origin org, skipping the
// test when nasm is not installed (a failure in CI mode: internal/testenv).
func nasm(t testing.TB, bits int, org uint64, src string) []byte {
	t.Helper()
	path := testenv.NeedTool(t, "nasm", "the assembled-program tests assemble their programs with nasm")
	dir := t.TempDir()
	in := filepath.Join(dir, "p.asm")
	out := filepath.Join(dir, "p.bin")
	full := fmt.Sprintf("bits %d\norg %#x\n%s\n", bits, org, src)
	require.NoError(t, os.WriteFile(in, []byte(full), 0o644))
	cmd := exec.Command(path, "-f", "bin", "-o", out, in)
	msg, err := cmd.CombinedOutput()
	require.NoError(t, err, "nasm: %s\n%s", msg, numbered(full))
	b, err := os.ReadFile(out)
	require.NoError(t, err)
	return b
}

func numbered(s string) string {
	var sb strings.Builder
	for i, l := range strings.Split(s, "\n") {
		fmt.Fprintf(&sb, "%3d %s\n", i+1, l)
	}
	return sb.String()
}

// program assembles src in the machine's mode and loads it at physCode.
func (m *machine) program(t testing.TB, src string) {
	t.Helper()
	bits := map[sysMode]int{modeReal: 16, modeProt32: 32, modeLong64: 64}[m.mode]
	org := uint64(physCode)
	if m.mode == modeReal {
		org = 0
	}
	m.load(physCode, nasm(t, bits, org, src))
}

// armSplit arms an instruction breakpoint (DR7.L0, R/W0=00) at an address
// nothing executes: Run then takes every instruction alone (runDebug), the
// reference against which whole blocks are compared.
func (m *machine) armSplit() {
	s := m.state()
	s.DR[0], s.DR[7] = 0xFFFF_FFFF_FFFF_F000, 1|0x400
	m.set(s)
}

// requireLockstep runs whole (blocks) and single (armSplit) in runs of
// 1..maxLen instructions drawn from seed, rounds times, and requires the
// same state after every run (the breakpoint registers aside).
func requireLockstep(t *testing.T, whole, single *machine, seed int64, rounds, maxLen int) {
	t.Helper()
	r := rand.New(rand.NewSource(seed))
	for i := 0; i < rounds; i++ {
		n := uint64(1 + r.Intn(maxLen))
		whole.run(n)
		single.run(n)
		ws, ss := whole.state(), single.state()
		ss.DR[0], ss.DR[7], ws.DR[7] = 0, 0, 0
		require.Equal(t, ss, ws, fmt.Sprintf("run %d (%d instructions)", i, n))
	}
}

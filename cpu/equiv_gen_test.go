package cpu

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Random programs for TestEquivFastSlow: a small hand encoder for the
// instruction forms the generator uses, the generator itself, and the
// machine the programs run on (flat RAM, an IDT whose every vector leads
// to a HLT stub).
//
// Memory layout (physical = linear in every mode):
//
//	0x0000 real-mode IVT        0x1000 GDT          0x2000 IDT
//	0x3000 one 8-byte "hlt; jmp $-1" stub per vector
//	0x4000 PML4, 0x5000 PDPT, 0x6000 PD, 0x7000 PT (4-KiB pages, 0..2 MiB)
//	0x8000-0xF000 stack (top 0xF000)
//	0x10000 code
//	0x20000-0x21FFF data; RBX (and R12 in 64-bit mode) point at 0x21000.
//	  32-bit mode: DS and ES end at 0x21FFF (byte-granular limit);
//	  64-bit mode: the page at 0x22000 is not present;
//	  real mode: DS = ES = 0x2000 (base 0x20000), limit 0xFFFF.
const (
	eqRAM       = 0x30000
	eqGDT       = 0x1000
	eqIDT       = 0x2000
	eqStubs     = 0x3000
	eqPML4      = 0x4000
	eqStackTop  = 0xF000
	eqCode      = 0x10000
	eqData      = 0x20000
	eqDataEnd   = 0x22000
	eqDataBase  = 0x21000 // RBX, R12
	eqBadPage   = 0x22000 // not present (64-bit mode)
	eqSelCode   = 0x08
	eqSelData   = 0x10
	eqDSLimit32 = eqDataEnd - 1
	eqRealDS    = 0x20000 // real-mode DS/ES base
)

// Registers the programs never write: the data base, the stack pointer.
const (
	rAX, rCX, rDX, rBX, rSP, rBP, rSI, rDI = 0, 1, 2, 3, 4, 5, 6, 7
	r12                                    = 12
)

// eqDesc encodes a code/data segment descriptor (SDM Vol. 3A 3.4.5).
func eqDesc(base, limit uint32, access, flags uint8) uint64 {
	return uint64(limit&0xFFFF) | uint64(base&0xFFFFFF)<<16 | uint64(access)<<40 |
		uint64(limit>>16&0xF)<<48 | uint64(flags&0xF)<<52 | uint64(base>>24)<<56
}

// eqTemplate is the RAM image and initial state of one mode.
type eqTemplate struct {
	mode  uint8
	ram   []byte
	state arch.State
	tb    *tables
}

// newEqTemplate builds the machine of the layout above in mode.
func newEqTemplate(mode uint8, tb *tables) *eqTemplate {
	ram := make([]byte, eqRAM)
	le := binary.LittleEndian
	// Stubs: hlt; jmp back to the hlt (SDM Vol. 2A HLT).
	for v := 0; v < 256; v++ {
		copy(ram[eqStubs+v*8:], []byte{0xF4, 0xEB, 0xFD})
	}
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.DR[6], s.DR[7] = 0xFFFF0FF0, 0x400
	s.LDTR = arch.Segment{Attr: arch.ARUnusable}
	s.GDTR = arch.DescTable{Base: eqGDT, Limit: 8*8 - 1}
	s.GPR[rSP] = eqStackTop
	s.GPR[rBX] = eqDataBase
	s.RIP = eqCode
	data := arch.Segment{Selector: eqSelData, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	switch mode {
	case mode16:
		// Real mode: IVT entries 0000:stub (SDM Vol. 3A 20.1.4).
		for v := 0; v < 256; v++ {
			le.PutUint32(ram[v*4:], uint32(eqStubs+v*8))
		}
		s.CR0 = arch.CR0ET
		for i := range s.Seg {
			s.Seg[i] = arch.Segment{Limit: 0xFFFF, Attr: attrData}
		}
		s.Seg[arch.CS] = arch.Segment{Selector: eqCode >> 4, Base: eqCode, Limit: 0xFFFF, Attr: attrCode}
		s.Seg[arch.DS] = arch.Segment{Selector: eqRealDS >> 4, Base: eqRealDS, Limit: 0xFFFF, Attr: attrData}
		s.Seg[arch.ES] = s.Seg[arch.DS]
		s.GPR[rBX] = eqDataBase - eqRealDS
		s.RIP = 0
		s.IDTR = arch.DescTable{Base: 0, Limit: 0x3FF}
	case mode32:
		le.PutUint64(ram[eqGDT+eqSelCode:], eqDesc(0, 0xFFFFF, 0x9B, 0xC))
		le.PutUint64(ram[eqGDT+eqSelData:], eqDesc(0, 0xFFFFF, 0x93, 0xC))
		// 32-bit interrupt gates (SDM Vol. 3A 6.11, Figure 6-2).
		for v := 0; v < 256; v++ {
			off := uint64(eqStubs + v*8)
			le.PutUint64(ram[eqIDT+v*8:], off&0xFFFF|eqSelCode<<16|0x8E<<40|(off>>16)<<48)
		}
		s.CR0 = arch.CR0PE | arch.CR0ET
		for i := range s.Seg {
			s.Seg[i] = data
		}
		s.Seg[arch.CS] = arch.Segment{Selector: eqSelCode, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARDB | arch.ARG}
		// DS and ES end with the data area (byte granular).
		s.Seg[arch.DS] = arch.Segment{Selector: eqSelData, Limit: eqDSLimit32, Attr: attrData | arch.ARDB}
		s.Seg[arch.ES] = s.Seg[arch.DS]
		s.IDTR = arch.DescTable{Base: eqIDT, Limit: 256*8 - 1}
	case mode64:
		le.PutUint64(ram[eqGDT+eqSelCode:], eqDesc(0, 0xFFFFF, 0x9B, 0xA))
		le.PutUint64(ram[eqGDT+eqSelData:], eqDesc(0, 0xFFFFF, 0x93, 0xC))
		// 64-bit interrupt gates (SDM Vol. 3A 6.14.1, Figure 6-8).
		for v := 0; v < 256; v++ {
			off := uint64(eqStubs + v*8)
			le.PutUint64(ram[eqIDT+v*16:], off&0xFFFF|eqSelCode<<16|0x8E<<40|(off>>16&0xFFFF)<<48)
		}
		// 4-level paging, 4-KiB pages for 0..2 MiB, present and writable
		// except the page at eqBadPage (SDM Vol. 3A 4.5).
		le.PutUint64(ram[eqPML4:], eqPML4+0x1000|3)
		le.PutUint64(ram[eqPML4+0x1000:], eqPML4+0x2000|3)
		le.PutUint64(ram[eqPML4+0x2000:], eqPML4+0x3000|3)
		for i := uint64(0); i < 512; i++ {
			pte := i<<12 | 3
			if i<<12 == eqBadPage {
				pte = 0
			}
			le.PutUint64(ram[eqPML4+0x3000+i*8:], pte)
		}
		s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG
		s.CR4 = arch.CR4PAE
		s.CR3 = eqPML4
		s.EFER = arch.EFERLME | arch.EFERLMA
		for i := range s.Seg {
			s.Seg[i] = data
		}
		s.Seg[arch.CS] = arch.Segment{Selector: eqSelCode, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
		s.GPR[r12] = eqDataBase
		s.IDTR = arch.DescTable{Base: eqIDT, Limit: 256*16 - 1}
	}
	return &eqTemplate{mode: mode, ram: ram, state: s, tb: tb}
}

// eqMachine is one CPU on its own copy of a template's RAM.
type eqMachine struct {
	bus *harnessBus
	c   *CPU
}

// machine returns a fresh machine with prog at the code address and the
// given initial GPRs and flags; ram is reused when not nil.
func (t *eqTemplate) machine(prog []byte, gpr [16]uint64, flags uint64, ram []byte) *eqMachine {
	if ram == nil {
		ram = make([]byte, len(t.ram))
	}
	copy(ram, t.ram)
	copy(ram[eqCode:], prog)
	bus := &harnessBus{ram: ram}
	s := t.state
	s.GPR = gpr
	s.RFLAGS = flags | arch.FlagRes1
	// A code cache of its own (blocks hold this machine's code), sharing
	// the read-only decode tables.
	cc := &CodeCache{t: t.tb, pages: map[uint64]*codePage{}}
	return &eqMachine{bus: bus, c: New(Config{Bus: bus, Platform: harnessPlatform{}, Code: cc}, s)}
}

// ---- Encoder ----

// eqMem is a memory operand.
type eqMem struct {
	base, index int // register numbers, -1 none
	scale       uint8
	disp        int32
	rip         bool   // RIP-relative (64-bit mode): target is the address
	target      uint64 // linear target of a RIP-relative operand
	native16    bool   // real mode: [bx+disp16] without 67
}

// eqOp is one instruction with a ModRM byte.
type eqOp struct {
	text  string
	opsz  int    // 2, 4 or 8 select 66/REX.W in the mode; 0 or 1: none
	byteR bool   // the register operands are 8-bit (64-bit mode: always a REX)
	pfx   []byte // legacy prefixes (segment, REP) before 67/66
	opc   []byte
	reg   int // ModRM.reg: register or /digit
	rm    int // register operand when m is nil
	m     *eqMem
	imm   []byte
}

type eqInsn struct {
	off  int
	text string
}

// eqAsm collects code for one mode at a fixed origin.
type eqAsm struct {
	mode  uint8
	org   uint64 // linear address of b[0]
	b     []byte
	insns []eqInsn
}

func (a *eqAsm) pc() uint64 { return a.org + uint64(len(a.b)) }

// size prefix: 66 when the operand size is not the mode's default
// (SDM Vol. 2A 2.1.1); in 64-bit mode REX.W selects 64 bits.
func (a *eqAsm) sizePfx(opsz int) {
	if opsz == 2 && a.mode != mode16 || opsz == 4 && a.mode == mode16 {
		a.b = append(a.b, 0x66)
	}
}

func (a *eqAsm) emit(o eqOp) {
	start := len(a.b)
	a.b = append(a.b, o.pfx...)
	if o.m != nil && a.mode == mode16 && !o.m.native16 {
		a.b = append(a.b, 0x67)
	}
	a.sizePfx(o.opsz)
	if a.mode == mode64 {
		rex := byte(0)
		if o.opsz == 8 {
			rex |= 8
		}
		if o.reg >= 8 {
			rex |= 4
		}
		if o.m != nil {
			if o.m.index >= 8 {
				rex |= 2
			}
			if o.m.base >= 8 {
				rex |= 1
			}
		} else if o.rm >= 8 {
			rex |= 1
		}
		if rex != 0 || o.byteR {
			a.b = append(a.b, 0x40|rex)
		}
	}
	a.b = append(a.b, o.opc...)
	reg := byte(o.reg & 7)
	if o.m == nil {
		a.b = append(a.b, 0xC0|reg<<3|byte(o.rm&7))
	} else {
		a.modrmMem(reg, o.m, len(o.imm))
	}
	a.b = append(a.b, o.imm...)
	a.insns = append(a.insns, eqInsn{start, o.text})
}

// modrmMem encodes ModRM, SIB and displacement (SDM Vol. 2A 2.1.5,
// Tables 2-1 to 2-3).
func (a *eqAsm) modrmMem(reg byte, m *eqMem, immLen int) {
	switch {
	case m.native16: // [bx+disp16]
		a.b = append(a.b, 0x80|reg<<3|7)
		a.b = binary.LittleEndian.AppendUint16(a.b, uint16(m.disp))
	case m.rip:
		a.b = append(a.b, reg<<3|5)
		end := a.pc() + 4 + uint64(immLen)
		a.b = binary.LittleEndian.AppendUint32(a.b, uint32(m.target-end))
	case m.base < 0 && m.index < 0:
		if a.mode == mode64 {
			a.b = append(a.b, reg<<3|4, 0x25)
		} else {
			a.b = append(a.b, reg<<3|5)
		}
		a.b = binary.LittleEndian.AppendUint32(a.b, uint32(m.disp))
	case m.base < 0:
		a.b = append(a.b, reg<<3|4, m.scale<<6|byte(m.index&7)<<3|5)
		a.b = binary.LittleEndian.AppendUint32(a.b, uint32(m.disp))
	default:
		mod := byte(2)
		if m.disp == 0 && m.base&7 != 5 {
			mod = 0
		} else if m.disp == int32(int8(m.disp)) {
			mod = 1
		}
		if m.index >= 0 || m.base&7 == 4 {
			idx := byte(4)
			if m.index >= 0 {
				idx = byte(m.index & 7)
			}
			a.b = append(a.b, mod<<6|reg<<3|4, m.scale<<6|idx<<3|byte(m.base&7))
		} else {
			a.b = append(a.b, mod<<6|reg<<3|byte(m.base&7))
		}
		switch mod {
		case 1:
			a.b = append(a.b, byte(m.disp))
		case 2:
			a.b = binary.LittleEndian.AppendUint32(a.b, uint32(m.disp))
		}
	}
}

// raw emits an instruction given as bytes.
func (a *eqAsm) raw(text string, b ...byte) {
	a.insns = append(a.insns, eqInsn{len(a.b), text})
	a.b = append(a.b, b...)
}

// opReg emits an opcode+register form (50+r, 58+r, B8+r, 90+r, 40+r).
func (a *eqAsm) opReg(text string, opsz int, byteR bool, opc byte, r int, imm []byte) {
	start := len(a.b)
	a.sizePfx(opsz)
	if a.mode == mode64 {
		rex := byte(0)
		if opsz == 8 {
			rex |= 8
		}
		if r >= 8 {
			rex |= 1
		}
		if rex != 0 || byteR {
			a.b = append(a.b, 0x40|rex)
		}
	}
	a.b = append(a.b, opc+byte(r&7))
	a.b = append(a.b, imm...)
	a.insns = append(a.insns, eqInsn{start, text})
}

func immBytes(v uint64, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return b
}

var (
	eqRegs64 = [...]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
	eqRegs8L = [...]string{"al", "cl", "dl", "bl", "ah", "ch", "dh", "bh"}
	eqRegs8X = [...]string{"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil"}
	eqCC     = [...]string{"o", "no", "b", "ae", "e", "ne", "be", "a", "s", "ns", "p", "np", "l", "ge", "le", "g"}
	eqALU    = [...]string{"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"}
	eqShift  = [...]string{"rol", "ror", "rcl", "rcr", "shl", "shr", "sal", "sar"}
)

// regName names register code r of the given size in mode.
func (a *eqAsm) regName(r, size int) string {
	switch size {
	case 1:
		if a.mode != mode64 {
			return eqRegs8L[r]
		}
		if r < 8 {
			return eqRegs8X[r]
		}
		return eqRegs64[r] + "b"
	case 2:
		if r >= 8 {
			return eqRegs64[r] + "w"
		}
		return eqRegs64[r][1:]
	case 4:
		if r >= 8 {
			return eqRegs64[r] + "d"
		}
		return "e" + eqRegs64[r][1:]
	}
	return eqRegs64[r]
}

func (a *eqAsm) memName(m *eqMem, size int) string {
	w := map[int]string{1: "byte", 2: "word", 4: "dword", 8: "qword"}[size]
	var s string
	switch {
	case m.native16:
		s = fmt.Sprintf("bx%+#x", m.disp)
	case m.rip:
		s = fmt.Sprintf("rip->%#x", m.target)
	default:
		var parts []string
		aw := 4
		if a.mode == mode64 {
			aw = 8
		}
		if m.base >= 0 {
			parts = append(parts, a.regName(m.base, aw))
		}
		if m.index >= 0 {
			parts = append(parts, fmt.Sprintf("%s*%d", a.regName(m.index, aw), 1<<m.scale))
		}
		s = strings.Join(parts, "+")
		if m.disp != 0 || s == "" {
			s += fmt.Sprintf("%+#x", m.disp)
		}
	}
	return w + " [" + s + "]"
}

// listing prints the program one instruction per line with its bytes;
// with left, only the instructions left[i].
func (a *eqAsm) listing(prog []byte, left []bool) string {
	var sb strings.Builder
	for i, in := range a.insns {
		if left != nil && !left[i] {
			continue
		}
		end := len(prog)
		if i+1 < len(a.insns) {
			end = a.insns[i+1].off
		}
		fmt.Fprintf(&sb, "  %#07x: %-36s % x\n", a.org+uint64(in.off), in.text, prog[in.off:end])
	}
	return sb.String()
}

// ---- Generator ----

// eqGen writes one random program.
type eqGen struct {
	r     *rand.Rand
	a     *eqAsm
	mode  uint8
	prot  [16]bool // registers the code being generated must not write
	items int      // items left to generate
	depth int      // nesting of loops, branches and push groups
	rdtsc bool
	// nextSize, when not 0, is the operand size the next size() returns
	// (a move pair's ALU half: the size of its MOV).
	nextSize int
	// nextReg, when not 0, is 1 + the register rmOperand returns next
	// for a register operand (a setter after a head: the head's
	// destination).
	nextReg int
	// nextOp, when not 0, is 1 + the operation the next aluRR or aluRI
	// emits (8: TEST).
	nextOp int
}

// eqProgram is a generated program and the state it starts in.
type eqProgram struct {
	a      *eqAsm
	code   []byte
	gpr    [16]uint64
	flags  uint64
	budget uint64
}

func (g *eqGen) nregs() int {
	if g.mode == mode64 {
		return 16
	}
	return 8
}

// stackW is the width of PUSH/POP in the mode.
func (g *eqGen) stackW() int {
	switch g.mode {
	case mode16:
		return 2
	case mode64:
		return 8
	}
	return 4
}

// defW is the default operand size.
func (g *eqGen) defW() int {
	if g.mode == mode16 {
		return 2
	}
	return 4
}

func (g *eqGen) n(k int) int           { return g.r.IntN(k) }
func (g *eqGen) chance(p float64) bool { return g.r.Float64() < p }

// size picks an operand size, mostly the mode's natural ones.
func (g *eqGen) size() int {
	if s := g.nextSize; s != 0 {
		g.nextSize = 0
		return s
	}
	switch {
	case g.mode == mode64:
		return []int{1, 2, 4, 4, 8, 8, 8}[g.n(7)]
	case g.mode == mode16:
		return []int{1, 2, 2, 2, 4, 4}[g.n(6)]
	}
	return []int{1, 2, 4, 4, 4, 4}[g.n(6)]
}

// size2 picks a size of 16 bits or more.
func (g *eqGen) size2() int {
	for {
		if s := g.size(); s > 1 {
			return s
		}
	}
}

var eqVals = []uint64{0, 1, 2, 3, 0x7F, 0x80, 0xFF, 0x100, 0x7FFF, 0x8000, 0xFFFF, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF,
	0x7FFFFFFFFFFFFFFF, 0x8000000000000000, ^uint64(0), ^uint64(1), 0xFFFFFFFF80000000}

// val returns an interesting or random value.
func (g *eqGen) val() uint64 {
	if g.chance(0.5) {
		return eqVals[g.n(len(eqVals))]
	}
	switch g.n(3) {
	case 0:
		return uint64(g.n(40))
	case 1:
		return uint64(g.r.Uint32())
	}
	return g.r.Uint64()
}

// imm returns an immediate of size n (bytes) and its value.
func (g *eqGen) imm(n int) ([]byte, uint64) {
	v := g.val()
	return immBytes(v, n), v & (1<<(8*n) - 1)
}

// free reports whether register r may be written.
func (g *eqGen) free(r int) bool { return !g.prot[r] }

// dst picks a writable register (full-size register number).
func (g *eqGen) dst() int {
	for {
		if r := g.n(g.nregs()); g.free(r) {
			return r
		}
	}
}

// src picks any register.
func (g *eqGen) src() int { return g.n(g.nregs()) }

// dstR picks a writable register code for operand size size: for 8-bit
// registers outside 64-bit mode, codes 4-7 are AH-BH (SDM Vol. 2A 3.1.1.1).
func (g *eqGen) dstR(size int) int {
	if size != 1 || g.mode == mode64 {
		return g.dst()
	}
	for {
		if c := g.n(8); g.free(c & 3) {
			return c
		}
	}
}

// dataMem picks a memory operand of size bytes inside the data area (or,
// for reads, the stack), in one of the mode's addressing forms.
func (g *eqGen) dataMem(size int, write bool) *eqMem {
	base := int32(eqDataBase)
	if g.mode == mode16 {
		base -= eqRealDS
	}
	disp := func() int32 {
		if g.chance(0.6) {
			return int32(g.n(256)-128) &^ int32(size-1)
		}
		return int32(g.n(0x2000-size) - 0x1000)
	}
	switch k := g.n(10); {
	case k < 5:
		b := rBX
		if g.mode == mode64 && g.chance(0.3) {
			b = r12
		}
		return &eqMem{base: b, index: -1, disp: disp()}
	case k == 5:
		return &eqMem{base: -1, index: -1, disp: base + disp()}
	case k == 6 && g.mode == mode64:
		return &eqMem{base: -1, index: -1, rip: true, target: uint64(base + disp())}
	case k == 6 && g.mode == mode16:
		return &eqMem{base: rBX, index: -1, native16: true, disp: disp()}
	case k == 7 && !write:
		return &eqMem{base: rSP, index: -1, disp: int32(g.n(0x40))}
	case k == 8:
		// [base+index*scale+disp] with an index set just before.
		if r := g.dst(); r != rSP && r != rAX {
			sc := uint8(g.n(4))
			iv := uint64(g.n(64))
			g.movImm(r, 4, iv) // all of the 32-bit (or 64-bit) index
			return &eqMem{base: rBX, index: r, scale: sc, disp: disp() & 0x7FF}
		}
	}
	return &eqMem{base: rBX, index: -1, disp: disp()}
}

// movImm emits MOV r, imm of size.
func (g *eqGen) movImm(r, size int, v uint64) {
	a := g.a
	if size == 8 && (g.chance(0.5) || v != uint64(int64(int32(v)))) {
		a.opReg(fmt.Sprintf("mov %s, %#x", a.regName(r, 8), v), 8, false, 0xB8, r, immBytes(v, 8))
		return
	}
	n := size
	if n == 8 {
		n = 4
	}
	if size == 1 {
		a.opReg(fmt.Sprintf("mov %s, %#x", a.regName(r, 1), v&0xFF), 0, true, 0xB0, r, immBytes(v, 1))
		return
	}
	if size == 8 || g.chance(0.3) {
		// C7 /0: the only MOV r64, imm32 (sign-extended).
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %#x", a.regName(r, size), v), opsz: size, opc: []byte{0xC7}, reg: 0, rm: r, imm: immBytes(v, n)})
		return
	}
	a.opReg(fmt.Sprintf("mov %s, %#x", a.regName(r, size), v), size, false, 0xB8, r, immBytes(v, n))
}

// immN is the immediate length of an Iz operand.
func immN(size int) int {
	if size == 8 {
		return 4
	}
	return size
}

// rmOperand returns either a register (m nil) or a memory operand with
// its name.
func (g *eqGen) rmOperand(size int, write, mem bool) (int, *eqMem, string) {
	if mem {
		m := g.dataMem(size, write)
		return 0, m, g.a.memName(m, size)
	}
	r := g.src()
	if write {
		r = g.dstR(size)
	}
	if g.nextReg != 0 {
		r, g.nextReg = g.nextReg-1, 0
	}
	return r, nil, g.a.regName(r, size)
}

func (g *eqGen) aluRR(mem bool) {
	a := g.a
	size := g.size()
	op := g.n(9) // 8 = TEST
	if g.nextOp != 0 {
		op, g.nextOp = g.nextOp-1, 0
	}
	byteOp := 1
	if size == 1 {
		byteOp = 0
	}
	write := op != 7 && op != 8
	if op == 8 {
		r := g.src()
		rm, m, rmn := g.rmOperand(size, false, mem)
		a.emit(eqOp{text: fmt.Sprintf("test %s, %s", rmn, a.regName(r, size)), opsz: size, byteR: size == 1, opc: []byte{0x84 + byte(byteOp)}, reg: r, rm: rm, m: m})
		return
	}
	if g.chance(0.5) {
		// OP r/m, r
		r := g.src()
		rm, m, rmn := g.rmOperand(size, write, mem)
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %s", eqALU[op], rmn, a.regName(r, size)), opsz: size, byteR: size == 1, opc: []byte{byte(op<<3 | byteOp)}, reg: r, rm: rm, m: m})
		return
	}
	// OP r, r/m
	r := g.src()
	if write {
		r = g.dstR(size)
	}
	rm, m, rmn := g.rmOperand(size, false, mem)
	a.emit(eqOp{text: fmt.Sprintf("%s %s, %s", eqALU[op], a.regName(r, size), rmn), opsz: size, byteR: size == 1, opc: []byte{byte(op<<3 | 2 | byteOp)}, reg: r, rm: rm, m: m})
}

func (g *eqGen) aluRI(mem bool) {
	a := g.a
	size := g.size()
	op := g.n(9)
	if g.nextOp != 0 {
		op, g.nextOp = g.nextOp-1, 0
	}
	write := op != 7 && op != 8
	rm, m, rmn := g.rmOperand(size, write, mem)
	if op == 8 {
		ib, v := g.imm(immN(size))
		if m == nil && rm == 0 && g.chance(0.3) && (size != 1 || true) {
			o := byte(0xA9)
			if size == 1 {
				o = 0xA8
			}
			g.emitAcc(fmt.Sprintf("test %s, %#x", rmn, v), size, o, ib)
			return
		}
		o := byte(0xF7)
		if size == 1 {
			o = 0xF6
		}
		a.emit(eqOp{text: fmt.Sprintf("test %s, %#x", rmn, v), opsz: size, byteR: size == 1, opc: []byte{o}, reg: 0, rm: rm, m: m, imm: ib})
		return
	}
	switch {
	case size == 1:
		ib, v := g.imm(1)
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x", eqALU[op], rmn, v), opsz: 1, byteR: true, opc: []byte{0x80}, reg: op, rm: rm, m: m, imm: ib})
	case g.chance(0.5):
		ib, v := g.imm(1)
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x (imm8)", eqALU[op], rmn, v), opsz: size, opc: []byte{0x83}, reg: op, rm: rm, m: m, imm: ib})
	default:
		ib, v := g.imm(immN(size))
		if m == nil && rm == 0 && g.chance(0.3) {
			g.emitAcc(fmt.Sprintf("%s %s, %#x", eqALU[op], rmn, v), size, byte(op<<3|5), ib)
			return
		}
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x", eqALU[op], rmn, v), opsz: size, opc: []byte{0x81}, reg: op, rm: rm, m: m, imm: ib})
	}
}

// emitAcc emits an accumulator form (04+, 05+, A8, A9): opc is the
// full-size opcode (odd); size 1 uses opc-1.
func (g *eqGen) emitAcc(text string, size int, opc byte, ib []byte) {
	if size == 1 {
		g.a.opReg(text, 0, false, opc&^1, 0, ib[:1])
		return
	}
	g.a.opReg(text, size, false, opc|1, 0, ib)
}

func (g *eqGen) unary(mem bool) {
	a := g.a
	size := g.size()
	rm, m, rmn := g.rmOperand(size, true, mem)
	o := byte(0xF7)
	if size == 1 {
		o = 0xF6
	}
	switch k := g.n(4); k {
	case 0, 1: // INC, DEC
		for pair := true; pair; {
			name := []string{"inc", "dec"}[k]
			if m == nil && size > 1 && g.mode != mode64 && g.chance(0.5) {
				a.opReg(fmt.Sprintf("%s %s", name, rmn), size, false, 0x40+byte(8*k), rm, nil)
			} else {
				a.emit(eqOp{text: fmt.Sprintf("%s %s", name, rmn), opsz: size, byteR: size == 1, opc: []byte{o | 8}, reg: k, rm: rm, m: m})
			}
			// Another INC or DEC of a register of the same size: an
			// INC/DEC pair (exec_pair.go) when both are registers.
			if pair = m == nil && g.chance(0.4); pair {
				k, rm = g.n(2), g.dstR(size)
				rmn = a.regName(rm, size)
			}
		}
	case 2:
		a.emit(eqOp{text: "not " + rmn, opsz: size, byteR: size == 1, opc: []byte{o}, reg: 2, rm: rm, m: m})
	case 3:
		a.emit(eqOp{text: "neg " + rmn, opsz: size, byteR: size == 1, opc: []byte{o}, reg: 3, rm: rm, m: m})
	}
}

func (g *eqGen) shift(mem bool) {
	a := g.a
	size := g.size()
	rm, m, rmn := g.rmOperand(size, true, mem)
	op := []int{0, 1, 2, 3, 4, 5, 7}[g.n(7)]
	b := byte(1)
	if size == 1 {
		b = 0
	}
	switch g.n(3) {
	case 0:
		a.emit(eqOp{text: fmt.Sprintf("%s %s, 1", eqShift[op], rmn), opsz: size, byteR: size == 1, opc: []byte{0xD0 | b}, reg: op, rm: rm, m: m})
	case 1:
		a.emit(eqOp{text: fmt.Sprintf("%s %s, cl", eqShift[op], rmn), opsz: size, byteR: size == 1, opc: []byte{0xD2 | b}, reg: op, rm: rm, m: m})
	default:
		c := byte(g.n(70))
		if g.chance(0.5) {
			c = byte(g.n(9))
		}
		pair := m == nil && size >= 4 && g.chance(0.5)
		if pair {
			// A shift pair (exec_pair.go shiftPairAt) or close to one:
			// SHR by an immediate, a MOV onto its register before it
			// half the time, a register ALU instruction of its size
			// after it on its register half the time.
			op = 5
			if g.chance(0.2) {
				op = []int{4, 7}[g.n(2)] // SHL, SAR: not paired
			}
			if g.chance(0.5) {
				src := g.src()
				a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", rmn, a.regName(src, size)), opsz: size, opc: []byte{0x89}, reg: src, rm: rm})
			}
		}
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %d", eqShift[op], rmn, c), opsz: size, byteR: size == 1, opc: []byte{0xC0 | b}, reg: op, rm: rm, m: m, imm: []byte{c}})
		if pair {
			g.nextSize = size
			if g.chance(0.5) {
				g.nextReg = 1 + rm
			}
			if g.chance(0.5) {
				g.aluRR(false)
			} else {
				g.aluRI(false)
			}
		}
	}
}

func (g *eqGen) mulDiv(mem bool) {
	a := g.a
	size := g.size()
	switch k := g.n(5); k {
	case 0: // IMUL r, r/m
		size = g.size2()
		r := g.dst()
		rm, m, rmn := g.rmOperand(size, false, mem)
		a.emit(eqOp{text: fmt.Sprintf("imul %s, %s", a.regName(r, size), rmn), opsz: size, opc: []byte{0x0F, 0xAF}, reg: r, rm: rm, m: m})
	case 1: // IMUL r, r/m, imm
		size = g.size2()
		r := g.dst()
		rm, m, rmn := g.rmOperand(size, false, mem)
		if g.chance(0.5) {
			ib, v := g.imm(1)
			a.emit(eqOp{text: fmt.Sprintf("imul %s, %s, %#x", a.regName(r, size), rmn, v), opsz: size, opc: []byte{0x6B}, reg: r, rm: rm, m: m, imm: ib})
		} else {
			ib, v := g.imm(immN(size))
			a.emit(eqOp{text: fmt.Sprintf("imul %s, %s, %#x", a.regName(r, size), rmn, v), opsz: size, opc: []byte{0x69}, reg: r, rm: rm, m: m, imm: ib})
		}
	default: // MUL, IMUL, DIV, IDIV r/m (EDX:EAX are always free)
		sub := 4 + g.n(4)
		o := byte(0xF7)
		if size == 1 {
			o = 0xF6
		}
		if sub >= 6 && !mem && g.free(rCX) && g.chance(0.85) {
			// Mostly a division that does not fault: a non-zero divisor
			// in (E/R)CX, a small dividend, EDX zero.
			g.movImm(rCX, size, uint64(1+g.n(200)))
			// A quotient that fits even in AL (IDIV: a positive one).
			g.movImm(rAX, g.defW(), g.val()&0x7F)
			a.emit(eqOp{text: "xor edx, edx", opsz: g.defW(), opc: []byte{0x31}, reg: rDX, rm: rDX})
			a.emit(eqOp{text: fmt.Sprintf("%s %s", []string{"mul", "imul", "div", "idiv"}[sub-4], a.regName(rCX, size)), opsz: size, byteR: size == 1, opc: []byte{o}, reg: sub, rm: rCX})
			return
		}
		if sub >= 6 && g.chance(0.7) {
			sub -= 2 // keep most programs from ending in #DE
		}
		rm, m, rmn := g.rmOperand(size, false, mem)
		a.emit(eqOp{text: fmt.Sprintf("%s %s", []string{"mul", "imul", "div", "idiv"}[sub-4], rmn), opsz: size, byteR: size == 1, opc: []byte{o}, reg: sub, rm: rm, m: m})
	}
}

func (g *eqGen) mov() {
	a := g.a
	size := g.size()
	b := byte(1)
	if size == 1 {
		b = 0
	}
	switch g.n(5) {
	case 0: // MOV r, r
		r, s := g.dstR(size), g.src()
		if g.chance(0.5) {
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x88 | b}, reg: s, rm: r})
		} else {
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x8A | b}, reg: r, rm: s})
		}
		if g.chance(0.4) {
			// A register ALU instruction of the same size: a move
			// pair (exec_pair.go) for 32 and 64 bits.
			g.nextSize = size
			if g.chance(0.5) {
				g.aluRR(false)
			} else {
				g.aluRI(false)
			}
		}
	case 1: // MOV r, imm
		r := g.dstR(size)
		if size == 1 {
			ib, v := g.imm(1)
			a.opReg(fmt.Sprintf("mov %s, %#x", a.regName(r, 1), v), 0, true, 0xB0, r, ib)
			return
		}
		g.movImm(r, size, g.val())
	case 2: // load
		r := g.dstR(size)
		m := g.dataMem(size, false)
		copyPair := g.chance(0.4)
		if copyPair && g.chance(0.1) {
			m = g.badMem() // the load of a copy pair faults
		}
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r, size), a.memName(m, size)), opsz: size, byteR: size == 1, opc: []byte{0x8A | b}, reg: r, m: m})
		if copyPair {
			// A store of the same size: a copy pair (exec_pair.go)
			// when its operand is [base+disp]; of the loaded
			// register mostly, beyond the data area sometimes.
			s := r
			if g.chance(0.3) {
				s = g.src()
			}
			m := g.dataMem(size, true)
			if g.chance(0.1) {
				m = g.badMem()
			}
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.memName(m, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x88 | b}, reg: s, m: m})
		} else if g.chance(0.4) {
			// Another load of the same size: a load-load pair
			// (exec_pair.go) when its operand is [base+disp];
			// beyond the data area sometimes.
			r2 := g.dstR(size)
			m := g.dataMem(size, false)
			if g.chance(0.1) {
				m = g.badMem()
			}
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r2, size), a.memName(m, size)), opsz: size, byteR: size == 1, opc: []byte{0x8A | b}, reg: r2, m: m})
		}
	case 3: // store
		s := g.src()
		m := g.dataMem(size, true)
		storeStore := g.chance(0.3)
		if storeStore && g.chance(0.1) {
			m = g.badMem() // the first store of a store-store pair faults
		}
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.memName(m, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x88 | b}, reg: s, m: m})
		if storeStore {
			// Another store of the same size: a store-store pair
			// (exec_pair.go) when its operand is [base+disp];
			// beyond the data area sometimes.
			s := g.src()
			m := g.dataMem(size, true)
			if g.chance(0.1) {
				m = g.badMem()
			}
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.memName(m, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x88 | b}, reg: s, m: m})
		} else if g.chance(0.4) {
			// A register ALU instruction: a store-first pair
			// (exec_pair.go) when it is of 32 or 64 bits.
			if g.chance(0.5) {
				g.aluRR(false)
			} else {
				g.aluRI(false)
			}
		}
	case 4: // MOV m, imm
		m := g.dataMem(size, true)
		ib, v := g.imm(immN(size))
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %#x", a.memName(m, size), v), opsz: size, opc: []byte{0xC6 | b}, reg: 0, m: m, imm: ib})
	}
}

func (g *eqGen) condOps() {
	a := g.a
	cc := g.n(16)
	if g.chance(0.5) {
		size := 1
		rm, m, rmn := g.rmOperand(size, true, g.chance(0.3))
		a.emit(eqOp{text: fmt.Sprintf("set%s %s", eqCC[cc], rmn), byteR: true, opc: []byte{0x0F, 0x90 + byte(cc)}, reg: 0, rm: rm, m: m})
		return
	}
	if g.chance(0.4) {
		// A TEST before it: a TEST+CMOVcc pair (exec_pair.go) when
		// both have register operands and CMOVcc 32 or 64 bits.
		g.nextSize = g.size()
		if g.chance(0.8) {
			g.nextOp = 1 + 8
		}
		if g.chance(0.5) {
			g.aluRR(false)
		} else {
			g.aluRI(false)
		}
	}
	size := g.size2()
	r := g.dst()
	rm, m, rmn := g.rmOperand(size, false, g.chance(0.3))
	a.emit(eqOp{text: fmt.Sprintf("cmov%s %s, %s", eqCC[cc], a.regName(r, size), rmn), opsz: size, opc: []byte{0x0F, 0x40 + byte(cc)}, reg: r, rm: rm, m: m})
}

// flagsMask are the RFLAGS bits the programs change through POPF:
// status flags, DF, IF (no interrupt source is attached), never TF.
const eqFlagsMask = arch.FlagsArith | arch.FlagDF | arch.FlagIF

func (g *eqGen) pushfPopf() {
	a := g.a
	w := g.stackW()
	if g.chance(0.5) {
		// PUSH imm; POPF
		v := g.r.Uint64()&eqFlagsMask | arch.FlagRes1
		if g.chance(0.05) {
			// TF: the next instruction is single-stepped and the #DB
			// trap after it ends the program (SDM Vol. 3A 18.3.1.4).
			v |= arch.FlagTF
		}
		if w == 2 {
			a.raw(fmt.Sprintf("push %#x", v), 0x68, byte(v), byte(v>>8))
		} else {
			a.raw(fmt.Sprintf("push %#x", v), append([]byte{0x68}, immBytes(v, 4)...)...)
		}
		a.raw("popf", 0x9D)
		return
	}
	r := g.dst()
	a.raw("pushf", 0x9C)
	a.opReg("pop "+a.regName(r, w), 0, false, 0x58, r, nil)
	v := g.r.Uint64() & eqFlagsMask
	ws := w
	if w == 8 {
		ws = 4
	}
	a.emit(eqOp{text: fmt.Sprintf("xor %s, %#x", a.regName(r, w), v), opsz: w, opc: []byte{0x81}, reg: 6, rm: r, imm: immBytes(v, ws)})
	a.opReg("push "+a.regName(r, w), 0, false, 0x50, r, nil)
	a.raw("popf", 0x9D)
}

// pushGroup: PUSH something, a stack-neutral body, POP somewhere.
func (g *eqGen) pushGroup() {
	a := g.a
	w := g.stackW()
	n16 := g.mode != mode16 && g.chance(0.15) // a 16-bit push/pop pair
	pw := w
	if n16 {
		pw = 2
	}
	pfx := func() int {
		if n16 {
			return 2
		}
		return 0
	}
	switch g.n(4) {
	case 0:
		ib, v := g.imm(1)
		if n16 {
			a.raw(fmt.Sprintf("push word %#x", v), append([]byte{0x66, 0x6A}, ib...)...)
		} else {
			a.raw(fmt.Sprintf("push %#x (imm8)", v), append([]byte{0x6A}, ib...)...)
		}
	case 1:
		m := g.dataMem(pw, false)
		a.emit(eqOp{text: "push " + a.memName(m, pw), opsz: pfx(), opc: []byte{0xFF}, reg: 6, m: m})
	default:
		r := g.src()
		a.opReg("push "+a.regName(r, pw), pfx(), false, 0x50, r, nil)
	}
	g.depth++
	g.block(g.n(4))
	g.depth--
	switch g.n(4) {
	case 0:
		m := g.dataMem(pw, true)
		a.emit(eqOp{text: "pop " + a.memName(m, pw), opsz: pfx(), opc: []byte{0x8F}, reg: 0, m: m})
	case 1:
		// Read the slot, then drop it with ADD (E)SP.
		r := g.dst()
		m := &eqMem{base: rSP, index: -1}
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r, pw), a.memName(m, pw)), opsz: pw, opc: []byte{0x8B}, reg: r, m: m})
		a.emit(eqOp{text: fmt.Sprintf("add %s, %d", a.regName(rSP, w), pw), opsz: w, opc: []byte{0x83}, reg: 0, rm: rSP, imm: []byte{byte(pw)}})
	default:
		r := g.dst()
		a.opReg("pop "+a.regName(r, pw), pfx(), false, 0x58, r, nil)
	}
}

func (g *eqGen) lea() {
	a := g.a
	size := g.size2()
	r := g.dst()
	m := &eqMem{base: g.src(), index: -1, disp: int32(g.r.Uint32())}
	if g.chance(0.5) {
		m.disp = int32(int8(m.disp))
	}
	if g.chance(0.5) {
		if i := g.src(); i != rSP {
			m.index, m.scale = i, uint8(g.n(4))
		}
	}
	if g.chance(0.1) {
		m.base = -1
	}
	a.emit(eqOp{text: fmt.Sprintf("lea %s, %s", a.regName(r, size), a.memName(m, size)[strings.Index(a.memName(m, size), "["):]), opsz: size, opc: []byte{0x8D}, reg: r, m: m})
}

func (g *eqGen) xchg() {
	a := g.a
	size := g.size()
	b := byte(1)
	if size == 1 {
		b = 0
	}
	switch g.n(3) {
	case 0:
		r, s := g.dstR(size), g.dstR(size)
		a.emit(eqOp{text: fmt.Sprintf("xchg %s, %s", a.regName(r, size), a.regName(s, size)), opsz: size, byteR: size == 1, opc: []byte{0x86 | b}, reg: s, rm: r})
	case 1:
		r := g.dstR(size)
		m := g.dataMem(size, true)
		a.emit(eqOp{text: fmt.Sprintf("xchg %s, %s", a.memName(m, size), a.regName(r, size)), opsz: size, byteR: size == 1, opc: []byte{0x86 | b}, reg: r, m: m})
	default:
		size = g.size2()
		r := g.dst()
		if r == rAX {
			return // 90 is NOP
		}
		a.opReg(fmt.Sprintf("xchg %s, %s", a.regName(rAX, size), a.regName(r, size)), size, false, 0x90, r, nil)
	}
}

func (g *eqGen) movx() {
	a := g.a
	size := g.size2()
	r := g.dst()
	if g.mode == mode64 && g.chance(0.15) {
		rm, m, rmn := g.rmOperand(4, false, g.chance(0.4))
		a.emit(eqOp{text: fmt.Sprintf("movsxd %s, %s", a.regName(r, 8), rmn), opsz: 8, opc: []byte{0x63}, reg: r, rm: rm, m: m})
		return
	}
	from := 1
	if size > 2 && g.chance(0.4) {
		from = 2
	}
	opc := byte(0xB6)
	name := "movzx"
	if g.chance(0.5) {
		opc, name = 0xBE, "movsx"
	}
	if from == 2 {
		opc++
	}
	rm, m, rmn := g.rmOperand(from, false, g.chance(0.4))
	a.emit(eqOp{text: fmt.Sprintf("%s %s, %s", name, a.regName(r, size), rmn), opsz: size, byteR: from == 1 && m == nil, opc: []byte{0x0F, opc}, reg: r, rm: rm, m: m})
}

// stringOp: save (E)CX/(E)SI/(E)DI, point them into the data area, set
// or clear DF, run a string instruction (with or without REP) and
// restore them (SDM Vol. 2B MOVS, STOS, LODS, CMPS, SCAS; REP).
func (g *eqGen) stringOp() {
	a := g.a
	w := g.defW()
	sw := g.stackW()
	for _, r := range []int{rCX, rSI, rDI} {
		a.opReg("push "+a.regName(r, sw), 0, false, 0x50, r, nil)
	}
	off := uint64(eqData)
	if g.mode == mode16 {
		off -= eqRealDS
	}
	n := g.n(40)
	g.movImm(rSI, w, off+0x400+uint64(g.n(0x1800)))
	g.movImm(rDI, w, off+0x400+uint64(g.n(0x1800)))
	g.movImm(rCX, w, uint64(n))
	if g.chance(0.5) {
		a.raw("std", 0xFD)
	} else {
		a.raw("cld", 0xFC)
	}
	size := g.size()
	var pfx []byte
	switch size {
	case 2:
		if g.mode != mode16 {
			pfx = []byte{0x66}
		}
	case 4:
		if g.mode == mode16 {
			pfx = []byte{0x66}
		}
	case 8:
		pfx = []byte{0x48}
	}
	k := g.n(5)
	ops := []struct {
		name string
		op   byte
	}{{"movs", 0xA4}, {"stos", 0xAA}, {"lods", 0xAC}, {"cmps", 0xA6}, {"scas", 0xAE}}
	o := ops[k].op
	if size > 1 {
		o |= 1
	}
	rep := ""
	switch {
	case g.chance(0.2):
	case k >= 3 && g.chance(0.5):
		pfx = append([]byte{0xF2}, pfx...)
		rep = "repne "
	default:
		pfx = append([]byte{0xF3}, pfx...)
		rep = "rep "
	}
	a.raw(fmt.Sprintf("%s%s%d", rep, ops[k].name, size*8), append(pfx, o)...)
	if g.chance(0.5) {
		a.raw("cld", 0xFC)
	}
	for _, r := range []int{rDI, rSI, rCX} {
		a.opReg("pop "+a.regName(r, sw), 0, false, 0x58, r, nil)
	}
}

func (g *eqGen) misc() {
	a := g.a
	switch g.n(9) {
	case 0:
		b := []byte{0xF8, 0xF9, 0xF5, 0xFC, 0xFD}
		k := g.n(len(b))
		a.raw([]string{"clc", "stc", "cmc", "cld", "std"}[k], b[k])
	case 1: // CBW/CWDE/CDQE, CWD/CDQ/CQO
		size := g.size2()
		k := g.n(2)
		a.opReg([]string{"cbw/cwde/cdqe", "cwd/cdq/cqo"}[k]+fmt.Sprint(size*8), size, false, 0x98+byte(k), 0, nil)
	case 2:
		if g.mode != mode64 {
			k := g.n(2)
			a.raw([]string{"sahf", "lahf"}[k], 0x9E+byte(k))
			return
		}
		a.raw("nop", 0x90)
	case 3:
		a.raw("nop", 0x90)
	case 4:
		a.raw("nop dword [eax]", 0x0F, 0x1F, 0x40, 0x00)
	case 5:
		if g.rdtsc {
			a.raw("rdtsc", 0x0F, 0x31)
			return
		}
		a.raw("nop", 0x90)
	default:
		// BSWAP, BT r,r: other register forms.
		size := 4
		if g.mode == mode64 && g.chance(0.5) {
			size = 8
		}
		r := g.dst()
		if g.chance(0.5) {
			// BSWAP is 0F C8+r: the ModRM byte of mod 3, reg 1 is C8+r.
			a.emit(eqOp{text: "bswap " + a.regName(r, size), opsz: size, opc: []byte{0x0F}, reg: 1, rm: r})
			return
		}
		s := g.src()
		a.emit(eqOp{text: fmt.Sprintf("bt %s, %s", a.regName(r, size), a.regName(s, size)), opsz: size, opc: []byte{0x0F, 0xA3}, reg: s, rm: r})
	}
}

// fault emits an instruction that faults (ending the program in a stub).
func (g *eqGen) fault() {
	a := g.a
	size := g.defW()
	switch g.n(4) {
	case 0:
		a.raw("ud2", 0x0F, 0x0B)
	case 1: // #DE: divide by zero
		if !g.free(rCX) {
			a.raw("ud2", 0x0F, 0x0B)
			return
		}
		g.movImm(rCX, size, 0)
		a.emit(eqOp{text: "div " + a.regName(rCX, size), opsz: size, opc: []byte{0xF7}, reg: 6, rm: rCX})
	default:
		// A memory access just past the data area: beyond the DS limit
		// (32-bit: #GP, SDM Vol. 3A 5.3; real mode: offset past 0xFFFF,
		// #GP), in the not-present page (64-bit: #PF) or non-canonical
		// (64-bit: #GP, Vol. 3A 3.3.7.1).
		sz := g.size2()
		var m *eqMem
		switch g.mode {
		case mode16:
			m = &eqMem{base: rBX, index: -1, disp: int32(0x10000 - (eqDataBase - eqRealDS) - g.n(sz-1) - 1)}
		case mode32:
			m = &eqMem{base: rBX, index: -1, disp: int32(eqDataEnd - eqDataBase - g.n(sz-1) - 1 + g.n(2)*g.n(64))}
		case mode64:
			if g.chance(0.3) {
				r := g.dst()
				v := uint64(0x8000_0000_0000_0000) + uint64(g.n(2))*0x7FFF_0000_0000_0000
				g.movImm(r, 8, v)
				m = &eqMem{base: r, index: -1}
			} else {
				m = &eqMem{base: rBX, index: -1, disp: int32(eqBadPage - eqDataBase - g.n(sz-1) + g.n(64))}
			}
		}
		r := g.dst()
		if g.chance(0.5) {
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(r, sz), a.memName(m, sz)), opsz: sz, opc: []byte{0x8B}, reg: r, m: m})
		} else {
			a.emit(eqOp{text: fmt.Sprintf("add %s, %s", a.memName(m, sz), a.regName(r, sz)), opsz: sz, opc: []byte{0x01}, reg: r, m: m})
		}
	}
}

// smc stores a new immediate into a MOV r, imm a few instructions ahead
// (self-modifying code in the running block; SDM Vol. 3A 11.6).
func (g *eqGen) smc() {
	a := g.a
	w := g.defW()
	r := g.dst()
	var m *eqMem
	v := uint64(g.r.Uint32())
	// Placeholder address; patched below once the target is known.
	switch g.mode {
	case mode16:
		m = &eqMem{base: -1, index: -1, disp: 0x7FFF}
		a.emit(eqOp{text: "cs mov (smc)", opsz: w, pfx: []byte{0x2E}, opc: []byte{0xC7}, reg: 0, m: m, imm: immBytes(v, w)})
	case mode32:
		m = &eqMem{base: -1, index: -1, disp: 0x7FFFFFF}
		a.emit(eqOp{text: "mov (smc)", opsz: w, opc: []byte{0xC7}, reg: 0, m: m, imm: immBytes(v, w)})
	case mode64:
		m = &eqMem{base: -1, index: -1, rip: true, target: a.pc()}
		a.emit(eqOp{text: "mov (smc)", opsz: w, opc: []byte{0xC7}, reg: 0, m: m, imm: immBytes(v, w)})
	}
	dispEnd := len(a.b) - w // the displacement ends where the immediate starts
	fix := len(a.insns) - 1
	for i := g.n(3); i > 0; i-- {
		a.raw("nop", 0x90)
	}
	g.movImm(r, w, 0x1111)
	immAt := len(a.b) - w
	target := a.org + uint64(immAt)
	var d uint32
	switch g.mode {
	case mode16, mode32:
		d = uint32(target) // the CS offset (real mode) or linear address
	case mode64:
		d = uint32(target - (a.org + uint64(len(a.b[:dispEnd])) + uint64(w)))
	}
	binary.LittleEndian.PutUint32(a.b[dispEnd-4:], d)
	a.insns[fix].text = fmt.Sprintf("mov %s [%#x], %#x (smc)", map[int]string{2: "word", 4: "dword"}[w], target, v)
}

// jcc emits Jcc (cc < 16) or JMP (cc = 16) to be patched later; it returns
// the offset of the displacement and its width.
func (g *eqGen) jcc(cc int, short bool) (int, int) {
	a := g.a
	name := "jmp"
	if cc < 16 {
		name = "j" + eqCC[cc]
	}
	if short {
		if cc == 16 {
			a.raw(name+" short", 0xEB, 0)
		} else {
			a.raw(name+" short", 0x70+byte(cc), 0)
		}
		return len(a.b) - 1, 1
	}
	n := 4
	if g.mode == mode16 {
		n = 2
	}
	if cc == 16 {
		a.raw(name+" near", append([]byte{0xE9}, make([]byte, n)...)...)
	} else {
		a.raw(name+" near", append([]byte{0x0F, 0x80 + byte(cc)}, make([]byte, n)...)...)
	}
	return len(a.b) - n, n
}

// patch sets the displacement at off (width n) so that it reaches target
// (an offset into the program); false if it does not fit.
func (g *eqGen) patch(off, n, target int) bool {
	d := target - (off + n)
	switch n {
	case 1:
		if d != int(int8(d)) {
			return false
		}
		g.a.b[off] = byte(d)
	case 2:
		binary.LittleEndian.PutUint16(g.a.b[off:], uint16(d))
	default:
		binary.LittleEndian.PutUint32(g.a.b[off:], uint32(d))
	}
	return true
}

// flagSetter emits a register-form ALU instruction (a fusable setter).
func (g *eqGen) flagSetter() {
	if g.chance(0.5) {
		g.aluRR(false)
	} else if g.chance(0.6) {
		g.aluRI(false)
	} else {
		g.unary(false)
	}
}

// head emits the register instructions a fused setter+Jcc takes in front
// of it (exec_head.go), or ones close to them: MOV r,r, LEA r,[r+disp],
// an ALU r,imm or INC/DEC r, or MOV, LEA, ADD or SUB followed by one of
// those on its destination (or, now and then, another register), of the
// given size
// (0: a random one). It leaves nextSize at the head's size and, half the
// time, nextReg at its destination, for the setter after it.
func (g *eqGen) head(size int) {
	a := g.a
	switch {
	case size != 0:
	case g.mode == mode64 && g.chance(0.5):
		size = 8
	case g.mode == mode16 && g.chance(0.5), g.chance(0.1):
		size = 2 // not a head
	default:
		size = 4
	}
	aluRI := func(d int) {
		if size > 2 && g.chance(0.15) {
			// INC or DEC r (FF /0, /1): ADD of 1 or -1 in a head.
			k := g.n(2)
			a.emit(eqOp{text: fmt.Sprintf("%s %s", []string{"inc", "dec"}[k], a.regName(d, size)), opsz: size, opc: []byte{0xFF}, reg: k, rm: d})
			return
		}
		op := []int{0, 1, 4, 5, 6, 7, 2}[g.n(7)] // CMP, ADC: not heads
		if g.chance(0.5) {
			ib, v := g.imm(1)
			a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x (imm8)", eqALU[op], a.regName(d, size), v), opsz: size, opc: []byte{0x83}, reg: op, rm: d, imm: ib})
			return
		}
		ib, v := g.imm(immN(size))
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x", eqALU[op], a.regName(d, size), v), opsz: size, opc: []byte{0x81}, reg: op, rm: d, imm: ib})
	}
	d := g.dst()
	switch g.n(4) {
	case 0: // MOV r, r
		s := g.src()
		if g.chance(0.5) {
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(d, size), a.regName(s, size)), opsz: size, opc: []byte{0x89}, reg: s, rm: d})
		} else {
			a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.regName(d, size), a.regName(s, size)), opsz: size, opc: []byte{0x8B}, reg: d, rm: s})
		}
	case 1: // LEA r, [r + disp]
		m := &eqMem{base: g.src(), index: -1, disp: int32(g.r.Uint32())}
		if g.chance(0.5) {
			m.disp = int32(int8(m.disp))
		}
		if g.chance(0.1) {
			m.index, m.scale = g.src(), uint8(g.n(4)) // not a head
		}
		a.emit(eqOp{text: fmt.Sprintf("lea %s, %s", a.regName(d, size), a.memName(m, size)[strings.Index(a.memName(m, size), "["):]), opsz: size, opc: []byte{0x8D}, reg: d, m: m})
	case 2: // ADD or SUB r, imm
		aluRI(d)
	case 3:
		if g.chance(0.5) {
			// OR r, r (09) and an ALU r,imm after it (headOrFirst).
			s := g.src()
			a.emit(eqOp{text: fmt.Sprintf("or %s, %s", a.regName(d, size), a.regName(s, size)), opsz: size, opc: []byte{0x09}, reg: s, rm: d})
			aluRI(d)
		}
	}
	if g.chance(0.6) {
		if g.chance(0.15) {
			d = g.dst()
		}
		aluRI(d)
	}
	g.nextSize = size
	if g.chance(0.5) {
		g.nextReg = 1 + d
	}
}

// forward: [[head] setter] Jcc/JMP over a block.
func (g *eqGen) forward() {
	a := g.a
	saveB, saveI, saveItems := len(a.b), len(a.insns), g.items
	cc := g.n(17)
	if cc < 16 && g.chance(0.6) {
		if g.chance(0.3) {
			g.head(0)
		}
		g.flagSetter()
	}
	short := g.chance(0.6)
	off, n := g.jcc(cc, short)
	g.depth++
	g.block(1 + g.n(5))
	g.depth--
	if !g.patch(off, n, len(a.b)) {
		// Too far for rel8: start again with the near form.
		a.b, a.insns, g.items = a.b[:saveB], a.insns[:saveI], saveItems
		off, n = g.jcc(cc, false)
		g.depth++
		g.block(1 + g.n(3))
		g.depth--
		g.patch(off, n, len(a.b))
	}
}

// loop: a counted loop with one of four back edges.
func (g *eqGen) loop() {
	a := g.a
	// The counter: any free register but EAX/EDX (MUL/DIV/RDTSC/CDQ write
	// them) and, for LOOP, ECX.
	kind := g.n(5)
	var c int
	if kind == 4 {
		if !g.free(rCX) {
			kind = 0
		} else {
			c = rCX
		}
	}
	if kind != 4 {
		var cands []int
		for r := 0; r < g.nregs(); r++ {
			if g.free(r) && r != rAX && r != rDX {
				cands = append(cands, r)
			}
		}
		if len(cands) == 0 {
			return
		}
		c = cands[g.n(len(cands))]
	}
	cnt := 1 + g.n(5)
	w := g.defW()
	// A 32-bit MOV clears the bits above the counter (64-bit mode: all
	// of them), whatever size the back edge uses.
	if kind == 1 || kind == 2 {
		g.movImm(c, 4, 0)
	} else {
		g.movImm(c, 4, uint64(cnt))
	}
	g.prot[c] = true
	top := len(a.b)
	g.depth++
	g.block(1 + g.n(8))
	g.depth--
	size := g.size2()
	if size == 8 && g.chance(0.5) {
		size = 4
	}
	if kind < 4 && g.chance(0.3) {
		// A head before the back edge's setter (exec_head.go).
		g.head(size)
		g.nextSize, g.nextReg, g.nextOp = 0, 0, 0
	}
	var cc int
	switch kind {
	case 0: // DEC r; JNZ
		if size > 2 && g.mode != mode64 && g.chance(0.5) {
			a.opReg("dec "+a.regName(c, size), size, false, 0x48, c, nil)
		} else {
			a.emit(eqOp{text: "dec " + a.regName(c, size), opsz: size, opc: []byte{0xFF}, reg: 1, rm: c})
		}
		cc = 5
	case 1: // INC r; CMP r, n; JL/JB/JNE
		a.emit(eqOp{text: "inc " + a.regName(c, size), opsz: size, opc: []byte{0xFF}, reg: 0, rm: c})
		a.emit(eqOp{text: fmt.Sprintf("cmp %s, %d", a.regName(c, size), cnt), opsz: size, opc: []byte{0x83}, reg: 7, rm: c, imm: []byte{byte(cnt)}})
		cc = []int{12, 2, 5}[g.n(3)]
	case 2: // ADD r, 1; CMP r, imm32; JL/JB/JNE/JLE
		a.emit(eqOp{text: "add " + a.regName(c, size) + ", 1", opsz: size, opc: []byte{0x83}, reg: 0, rm: c, imm: []byte{1}})
		a.emit(eqOp{text: fmt.Sprintf("cmp %s, %d", a.regName(c, size), cnt), opsz: size, opc: []byte{0x81}, reg: 7, rm: c, imm: immBytes(uint64(cnt), immN(size))})
		cc = []int{12, 2, 5, 14}[g.n(4)]
	case 3: // SUB r, 1; JNZ (or JA for unsigned "> 0")
		a.emit(eqOp{text: "sub " + a.regName(c, size) + ", 1", opsz: size, opc: []byte{0x83}, reg: 5, rm: c, imm: []byte{1}})
		cc = []int{5, 5, 7}[g.n(3)]
	case 4: // LOOP rel8
		start := len(a.b)
		a.raw("loop", 0xE2, 0)
		if !g.patch(start+1, 1, top) {
			// Too far: DEC (E)CX; JNZ near instead.
			a.b, a.insns = a.b[:start], a.insns[:len(a.insns)-1]
			a.emit(eqOp{text: "dec " + a.regName(c, w), opsz: w, opc: []byte{0xFF}, reg: 1, rm: c})
			off, n := g.jcc(5, false)
			g.patch(off, n, top)
		}
		g.prot[c] = false
		return
	}
	off, n := g.jcc(cc, g.chance(0.7))
	if !g.patch(off, n, top) {
		a.b, a.insns = a.b[:off-1], a.insns[:len(a.insns)-1]
		off, n = g.jcc(cc, false)
		g.patch(off, n, top)
	}
	g.prot[c] = false
}

// pairs emits the neighbours Run's fast path pairs (exec_pair.go): ADD or
// SUB r, imm then a register-form ALU instruction; a register-form ALU
// instruction then MOV m, r of the same size (sometimes to a faulting
// address); a setter then SETcc/CMOVcc reading its flags.
// badMem is a memory operand at which an access faults: beyond the data
// area (#GP or #SS outside 64-bit mode, #PF at the not-present page in
// it).
func (g *eqGen) badMem() *eqMem {
	switch g.mode {
	case mode16:
		return &eqMem{base: rBX, index: -1, disp: int32(0x10000 - (eqDataBase - eqRealDS) - 1)}
	case mode32:
		return &eqMem{base: rBX, index: -1, disp: int32(eqDataEnd - eqDataBase - 1)}
	}
	return &eqMem{base: rBX, index: -1, disp: int32(eqBadPage - eqDataBase)}
}

func (g *eqGen) pairs() {
	a := g.a
	size := 4
	if g.mode == mode64 && g.chance(0.5) {
		size = 8
	}
	if g.mode == mode16 && g.chance(0.3) {
		size = 2
	}
	aluR := func() {
		op := []int{0, 1, 4, 5, 6, 7}[g.n(6)]
		d := g.dst()
		if op == 7 {
			d = g.src()
		}
		if g.chance(0.5) {
			s := g.src()
			a.emit(eqOp{text: fmt.Sprintf("%s %s, %s", eqALU[op], a.regName(d, size), a.regName(s, size)), opsz: size, opc: []byte{byte(op<<3 | 1)}, reg: s, rm: d})
			return
		}
		ib, v := g.imm(1)
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x (imm8)", eqALU[op], a.regName(d, size), v), opsz: size, opc: []byte{0x83}, reg: op, rm: d, imm: ib})
	}
	switch g.n(3) {
	case 0:
		d := g.dst()
		op := []int{0, 5}[g.n(2)]
		ib, v := g.imm(immN(size))
		a.emit(eqOp{text: fmt.Sprintf("%s %s, %#x", eqALU[op], a.regName(d, size), v), opsz: size, opc: []byte{0x81}, reg: op, rm: d, imm: ib})
		aluR()
	case 1:
		aluR()
		s := g.src()
		var m *eqMem
		if g.chance(0.1) {
			m = g.badMem() // the store faults
		} else {
			m = g.dataMem(size, true)
		}
		a.emit(eqOp{text: fmt.Sprintf("mov %s, %s", a.memName(m, size), a.regName(s, size)), opsz: size, opc: []byte{0x89}, reg: s, m: m})
	default:
		aluR()
		g.condOps()
	}
}

// shadow emits an instruction that opens an interrupt shadow (STI, MOV
// SS; SDM Vol. 3A 6.8.3), which Run executes outside the fast path.
func (g *eqGen) shadow() {
	a := g.a
	switch g.n(3) {
	case 0:
		a.raw("sti", 0xFB)
	case 1:
		a.raw("cli", 0xFA)
	default:
		r := g.dst()
		a.emit(eqOp{text: "mov " + a.regName(r, 2) + ", ss", opc: []byte{0x8C}, reg: 2, rm: r})
		a.emit(eqOp{text: "mov ss, " + a.regName(r, 2), opc: []byte{0x8E}, reg: 2, rm: r})
	}
}

// call: CALL a subroutine placed after a JMP over it; it returns with
// RET (or RET imm16 dropping nothing).
func (g *eqGen) call() {
	a := g.a
	n := 4
	if g.mode == mode16 {
		n = 2
	}
	a.raw("call near", append([]byte{0xE8}, make([]byte, n)...)...)
	coff := len(a.b) - n
	joff, jn := g.jcc(16, false)
	g.patch(coff, n, len(a.b))
	g.depth++
	g.block(1 + g.n(4))
	g.depth--
	if g.chance(0.8) {
		a.raw("ret", 0xC3)
	} else {
		a.raw("ret 0", 0xC2, 0, 0)
	}
	g.patch(joff, jn, len(a.b))
}

// block emits n items.
func (g *eqGen) block(n int) {
	for ; n > 0 && g.items > 0; n-- {
		g.item()
	}
}

// item emits one random instruction or group.
func (g *eqGen) item() {
	g.items--
	switch k := g.n(100); {
	case k < 14:
		g.aluRR(false)
	case k < 24:
		g.aluRI(false)
	case k < 30:
		if g.chance(0.5) {
			g.aluRR(true)
		} else {
			g.aluRI(true)
		}
	case k < 35:
		g.unary(g.chance(0.2))
	case k < 40:
		g.shift(g.chance(0.2))
	case k < 44:
		g.mulDiv(g.chance(0.2))
	case k < 54:
		g.mov()
	case k < 58:
		g.condOps()
	case k < 60:
		g.pushfPopf()
	case k < 63:
		if g.depth < 4 {
			g.pushGroup()
		}
	case k < 65:
		g.lea()
	case k < 67:
		g.xchg()
	case k < 69:
		g.movx()
	case k < 71:
		g.stringOp()
	case k < 76:
		g.misc()
	case k < 84:
		if g.depth < 4 {
			g.forward()
		}
	case k < 93:
		if g.depth < 2 {
			g.loop()
		}
	case k < 94:
		switch g.n(5) {
		case 0:
			g.smc()
		case 1:
			g.shadow()
		case 2:
			if g.depth < 4 {
				g.call()
			}
		default:
			g.pairs()
		}
	case k < 95:
		if g.chance(0.5) {
			g.fault()
		}
	case k < 97:
		if g.rdtsc {
			g.a.raw("rdtsc", 0x0F, 0x31)
		}
	case k < 98:
		g.pairs()
	default:
		g.flagSetter()
	}
}

// newEqProgram generates a program for mode from rng.
func newEqProgram(r *rand.Rand, mode uint8, rdtsc bool) *eqProgram {
	org := uint64(eqCode)
	if mode == mode16 {
		org = 0 // CS base eqCode: offsets from 0
	}
	g := &eqGen{r: r, a: &eqAsm{mode: mode, org: org}, mode: mode, rdtsc: rdtsc}
	g.prot[rBX], g.prot[rSP] = true, true
	if mode == mode64 {
		g.prot[r12] = true
	}
	g.items = 10 + g.n(60)
	for g.items > 0 {
		g.item()
	}
	g.a.raw("hlt", 0xF4)
	p := &eqProgram{a: g.a, code: g.a.b, budget: 2000}
	if g.chance(0.15) {
		p.budget = uint64(1 + g.n(300))
	}
	for i := range p.gpr {
		p.gpr[i] = g.val()
		if mode != mode64 {
			p.gpr[i] &= 0xFFFFFFFF
		}
	}
	p.gpr[rSP] = eqStackTop
	p.gpr[rBX] = eqDataBase
	if mode == mode16 {
		p.gpr[rBX] -= eqRealDS
	}
	if mode == mode64 {
		p.gpr[r12] = eqDataBase
	}
	p.flags = g.r.Uint64() & (arch.FlagsArith | arch.FlagDF)
	return p
}

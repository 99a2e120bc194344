package conformance

import (
	"fmt"
	"math/rand/v2"

	"github.com/vmxemu/vmxemu/arch"
)

// GeneratorVersion changes whenever the generator's output for a seed
// changes; a trace records the version that produced it.
const GeneratorVersion = 1

// DefaultSeed is the seed of the checked-in traces.
const DefaultSeed = 20260501

// Status flags (SDM Vol. 1 3.4.3.1), by their arch names.
const (
	fCF     = arch.FlagCF
	fPF     = arch.FlagPF
	fAF     = arch.FlagAF
	fZF     = arch.FlagZF
	fSF     = arch.FlagSF
	fDF     = arch.FlagDF
	fOF     = arch.FlagOF
	fStatus = arch.FlagsArith
)

// gen holds the generator's state for one run.
type gen struct {
	r     *rand.Rand
	table [512]byte // deterministic filler for memory buffers
}

func newGen(seed int64) *gen {
	g := &gen{r: rand.New(rand.NewPCG(uint64(seed), 0x766D78656D75))}
	for i := range g.table {
		g.table[i] = byte(g.r.Uint32())
	}
	return g
}

// form is one instruction form: its name and a function building one case.
type form struct {
	name string
	n    int // cases to generate (0: the default)
	make func(g *gen, c *Case)
}

// Forms returns the names of every form the generator knows.
func Forms() []string {
	var names []string
	for _, f := range allForms() {
		names = append(names, f.name)
	}
	return names
}

// Generate returns the deterministic case list for seed; perForm scales
// the number of cases per form (the checked-in traces use DefaultPerForm).
func Generate(seed int64, perForm int) []*Case {
	g := newGen(seed)
	var cases []*Case
	for _, f := range allForms() {
		n := perForm
		if f.n != 0 {
			n = max(1, perForm*f.n/100)
		}
		for range n {
			c := &Case{Form: f.name}
			c.In.GPR = DefaultGPR()
			c.In.RFLAGS = g.flags()
			f.make(g, c)
			c.In.RFLAGS |= 0x202
			if len(c.Code) > MaxCode {
				panic(fmt.Sprintf("form %s: %d-byte snippet", f.name, len(c.Code)))
			}
			cases = append(cases, c)
		}
	}
	return cases
}

// DefaultPerForm is the number of cases per form of the checked-in traces.
const DefaultPerForm = 285

// ---- values ----

func mask(bits int) uint64 {
	if bits == 64 {
		return ^uint64(0)
	}
	return 1<<bits - 1
}

// val returns an operand value of the given width, biased to edges.
func (g *gen) val(w int) uint64 {
	m := mask(w)
	sign := uint64(1) << (w - 1)
	switch g.r.IntN(22) {
	case 0:
		return 0
	case 1:
		return 1
	case 2:
		return m
	case 3:
		return sign
	case 4:
		return sign - 1
	case 5:
		return sign + 1
	case 6:
		return 2
	case 7:
		return m - 1
	case 8:
		return 1 << g.r.IntN(w)
	case 9:
		return (1<<g.r.IntN(w) - 1) & m
	case 10:
		return uint64(g.r.IntN(256)) & m
	case 11:
		return (m - uint64(g.r.IntN(256))) & m
	case 12:
		return 0x5555555555555555 & m
	case 13:
		return 0xAAAAAAAAAAAAAAAA & m
	case 14:
		return g.r.Uint64() & g.r.Uint64() & m
	case 15, 16:
		return g.r.Uint64() & m
	case 17, 18:
		return sx(uint64(g.r.IntN(256)), 8) & m // small negative or positive
	case 19:
		return uint64(g.r.IntN(256)) << (8 * g.r.IntN(w/8)) & m
	case 20:
		return (sign >> g.r.IntN(w)) ^ m
	default:
		return uint64(g.r.Uint32()) & m
	}
}

// upper returns background bits for the part of a register an operand
// does not cover.
func (g *gen) upper() uint64 {
	switch g.r.IntN(8) {
	case 0, 1:
		return 0
	case 2, 3:
		return ^uint64(0)
	case 4, 5:
		return 0xFEDCBA9876543210
	case 6:
		return uint64(g.r.Uint32()) << 32
	}
	return g.r.Uint64()
}

// flags returns random input status flags (DF clear).
func (g *gen) flags() uint64 {
	f := uint64(0)
	for _, b := range []uint64{fCF, fPF, fAF, fZF, fSF, fOF} {
		if g.r.IntN(2) == 1 {
			f |= b
		}
	}
	return f
}

// ---- registers ----

// regSet picks registers for operands.
type regSet struct {
	w      int  // operand width
	legacy bool // 8-bit without REX: 4..7 are AH..BH
}

func (g *gen) regSet(w int) regSet {
	return regSet{w: w, legacy: w == 8 && g.r.IntN(2) == 0}
}

// pick returns a register number not in used (never RSP as a full
// register, nor SPL).
func (g *gen) pick(rs regSet, used ...int) int {
	for {
		var r int
		if rs.legacy {
			r = g.r.IntN(8)
		} else {
			r = g.r.IntN(16)
		}
		if !rs.legacy && r == 4 {
			continue
		}
		ok := true
		for _, u := range used {
			if u == r {
				ok = false
			}
		}
		if ok {
			return r
		}
	}
}

// phys8 returns the GPR holding an 8-bit register number and the shift.
func phys8(rs regSet, r int) int {
	if rs.legacy && rs.w == 8 && r >= 4 {
		return r - 4
	}
	return r
}

// setReg stores v into operand register r of the set, leaving background
// bits around it.
func (g *gen) setReg(c *Case, rs regSet, r int, v uint64) {
	sh := 0
	p := r
	if rs.w == 8 && rs.legacy && r >= 4 {
		p, sh = r-4, 8
	}
	m := mask(rs.w) << sh
	c.In.GPR[p] = c.In.GPR[p]&^m | (v<<sh)&m
}

// prefixes returns the operand-size prefix and REX.W for a width.
func opsz(w int) (pfx []byte, rexW bool) {
	switch w {
	case 16:
		return []byte{0x66}, false
	case 64:
		return nil, true
	}
	return nil, false
}

// ---- memory ----

// memRef picks a memory operand of size bytes whose registers avoid
// used, sets its registers in c and returns it with its linear address.
// Most addresses fall inside the window; a few cross its end (#PF), lie
// below it (#PF) or are non-canonical (#GP).
func (g *gen) memRef(c *Case, size int, used ...int) (*rmOp, uint64) {
	var addr uint64
	k := g.r.IntN(100)
	nonCanon := false
	switch {
	case k < 3 && size > 1:
		addr = MemBase + MemSize - uint64(size) + 1 + uint64(g.r.IntN(size-1))
	case k < 4:
		addr = MemBase + MemSize + uint64(g.r.IntN(64))
	case k < 6:
		addr = MemBase - uint64(size) - uint64(g.r.IntN(64))
	case k < 8:
		addr = MemBase + uint64(g.r.IntN(MemSize-size))
		nonCanon = true
	case k < 40:
		addr = MemBase + uint64(g.r.IntN(MemSize/size))*uint64(size)
	default:
		addr = MemBase + uint64(g.r.IntN(MemSize-size+1))
	}
	rm := &rmOp{mem: true, index: noReg}
	full := regSet{w: 64}
	mode := g.r.IntN(10)
	if nonCanon && mode == 9 {
		mode = 0
	}
	switch {
	case mode == 9: // RIP-relative
		rm.base, rm.rip = noReg, addr
	case mode >= 6: // base + index*scale + disp32
		rm.base = g.pick(full, used...)
		rm.index = g.pick(full, append(used, rm.base)...)
		rm.scale = uint8(g.r.IntN(4))
		rm.disp, rm.dsz = int32(g.r.IntN(1<<20))-1<<19, 4
		idx := uint64(g.r.IntN(64))
		if g.r.IntN(4) == 0 {
			idx = -idx
		}
		c.In.GPR[rm.index] = idx
		c.In.GPR[rm.base] = addr - uint64(int64(rm.disp)) - idx<<rm.scale
	case mode >= 3: // base + disp8
		rm.base = g.pick(full, used...)
		rm.disp, rm.dsz = int32(int8(g.r.Uint32())), 1
		c.In.GPR[rm.base] = addr - uint64(int64(rm.disp))
	default: // [base]
		rm.base = g.pick(full, used...)
		c.In.GPR[rm.base] = addr
	}
	if nonCanon {
		c.In.GPR[rm.base] ^= 0x8000_0000_0000_0000
	}
	return rm, addr
}

// putMem writes the in-window bytes of an n-byte little-endian value.
func putMem(c *Case, addr uint64, n int, v uint64) {
	for i := range n {
		a := addr + uint64(i)
		if a >= MemBase && a < MemBase+MemSize {
			putBytes(c, int(a-MemBase), []byte{byte(v >> (8 * i))})
		}
	}
}

// putBytes overlays bytes at a window offset, merging adjacent patches.
func putBytes(c *Case, off int, b []byte) {
	if n := len(c.In.Mem); n > 0 {
		p := &c.In.Mem[n-1]
		if p.Off+len(p.Data) == off {
			p.Data = append(p.Data, b...)
			return
		}
	}
	c.In.Mem = append(c.In.Mem, Patch{Off: off, Data: append([]byte(nil), b...)})
}

// fill writes n filler bytes (from the generator's table) at a window
// offset, clipped to the window.
func (g *gen) fill(c *Case, off, n int) {
	off = max(off, 0)
	n = min(n, MemSize-off)
	if n <= 0 {
		return
	}
	s := g.r.IntN(len(g.table) - 64)
	b := make([]byte, n)
	for i := range b {
		b[i] = g.table[(s+i)%len(g.table)]
	}
	putBytes(c, off, b)
}

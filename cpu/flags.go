package cpu

import (
	"math/bits"
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
)

// word is the set of operand types the generic handlers are specialised for.
// Each instantiation gets its own machine code (distinct GC shapes), so
// size-dependent branches fold away.
type word interface {
	~uint8 | ~uint16 | ~uint32 | ~uint64
}

func sizeOf[T word]() uint { var z T; return uint(unsafe.Sizeof(z)) }

func signBit[T word]() T { return T(1) << (sizeOf[T]()*8 - 1) }

// Lazy flag operations: the kind of the last flag-setting instruction.
const (
	lzNone  = iota // flags are materialised in lz.flags
	lzAdd          // res = a + b (+ carry-in for ADC, recorded in cin)
	lzSub          // res = a - b (- borrow-in for SBB)
	lzLogic        // res = a op b; CF=OF=0, AF=0 (Intel leaves AF cleared)
	lzInc          // res = a + 1; CF preserved in flags
	lzDec          // res = a - 1; CF preserved in flags
	// lzInc and lzDec stay the largest (keepCF tests op < lzInc).
)

// lazyFlags records the last arithmetic result instead of computing the six
// status flags after every instruction (SDM Vol. 1, 3.4.3.1).
type lazyFlags struct {
	// op, size and cin are written together by setLazy: one 32-bit
	// store over them and the padding byte after them (a little-endian
	// host, as the guest memory fast paths already assume).
	op   uint8
	size uint8 // operand size in bytes
	cin  uint8 // carry/borrow in for ADC/SBB
	_    uint8
	a, b uint64
	res  uint64
	// flags holds the materialised status flags when op == lzNone, and the
	// preserved CF for lzInc/lzDec.
	flags uint64
}

func (l *lazyFlags) setFlags(rflags uint64) {
	l.op = lzNone
	l.flags = rflags & arch.FlagsArith
}

// setLazy records an arithmetic result of type T.
func setLazy[T word](c *CPU, op uint8, a, b, res T) {
	*(*uint32)(unsafe.Pointer(&c.lz.op)) = uint32(op) | uint32(sizeOf[T]())<<8 // cin = 0
	c.lz.a, c.lz.b, c.lz.res = uint64(a), uint64(b), uint64(res)
}

// setLazyCarry is setLazy for ADC/SBB.
func setLazyCarry[T word](c *CPU, op uint8, a, b, res T, cin uint64) {
	setLazy(c, op, a, b, res)
	c.lz.cin = uint8(cin)
}

// setLazyIncDec records INC/DEC, which leave CF unchanged.
func setLazyIncDec[T word](c *CPU, op uint8, a, res T) {
	c.keepCF()
	setLazy(c, op, a, 1, res)
}

// keepCF saves the current CF in lz.flags before an INC/DEC record
// replaces the one it comes from. After another INC/DEC (lzInc and lzDec
// are the largest op codes) the preserved CF is already there.
func (c *CPU) keepCF() {
	if c.lz.op < lzInc {
		c.lz.flags = c.cf()
	}
}

// keepCFAfterAdd is keepCF with the common cases of the fused loop
// counter (ADD, or a logic operation, before INC/DEC) computed in place,
// no call; its caller falls back to keepCF when it reports false.
func (c *CPU) keepCFAfterAdd() bool {
	l := &c.lz
	if l.op == lzLogic {
		// AND/OR/XOR/TEST clear CF (SDM Vol. 2A AND, OR; Vol. 2B XOR,
		// TEST: "The OF and CF flags are cleared").
		l.flags = 0
		return true
	}
	if l.op != lzAdd || l.cin != 0 {
		return false
	}
	sh := 64 - uint(l.size)*8
	var cf uint64
	if l.res<<sh < l.a<<sh {
		cf = arch.FlagCF
	}
	l.flags = cf
	return true
}

// setFlagsArith sets the six status flags explicitly (shifts, multiplies,
// everything computed eagerly).
func (c *CPU) setFlagsArith(f uint64) {
	c.lz.op = lzNone
	c.lz.flags = f & arch.FlagsArith
}

func parity(v uint64) uint64 {
	if bits.OnesCount8(uint8(v))&1 == 0 {
		return arch.FlagPF
	}
	return 0
}

// szp returns ZF, SF and PF for a result of size bytes.
func szp(res uint64, size uint8) uint64 {
	sh := 64 - uint(size)*8
	r := res << sh
	var f uint64
	if r == 0 {
		f |= arch.FlagZF
	}
	if int64(r) < 0 {
		f |= arch.FlagSF
	}
	return f | parity(res)
}

// arith computes the status flags from the lazy record.
func (l *lazyFlags) arith() uint64 {
	if l.op == lzNone {
		return l.flags
	}
	sh := 64 - uint(l.size)*8
	a, b, r := l.a<<sh, l.b<<sh, l.res<<sh
	f := szp(l.res, l.size)
	switch l.op {
	case lzAdd:
		// CF: unsigned carry out; with carry-in, r <= a means carry.
		if r < a || (l.cin != 0 && r == a) {
			f |= arch.FlagCF
		}
		if (^(a^b)&(a^r))>>63 != 0 {
			f |= arch.FlagOF
		}
		f |= (l.a ^ l.b ^ l.res) & arch.FlagAF
	case lzSub:
		if a < b || (l.cin != 0 && a == b) {
			f |= arch.FlagCF
		}
		if ((a^b)&(a^r))>>63 != 0 {
			f |= arch.FlagOF
		}
		f |= (l.a ^ l.b ^ l.res) & arch.FlagAF
	case lzLogic:
	case lzInc:
		f |= l.flags & arch.FlagCF
		if r == 1<<63 {
			f |= arch.FlagOF
		}
		f |= (l.a ^ 1 ^ l.res) & arch.FlagAF
	case lzDec:
		f |= l.flags & arch.FlagCF
		if a == 1<<63 {
			f |= arch.FlagOF
		}
		f |= (l.a ^ 1 ^ l.res) & arch.FlagAF
	}
	return f
}

// Flags returns RFLAGS with the status flags materialised.
func (c *CPU) Flags() uint64 {
	return c.RFLAGS&^arch.FlagsArith | c.lz.arith() | arch.FlagRes1
}

// setRFLAGS writes all of RFLAGS (POPF, IRET, task switch...). The
// reserved bits 3, 5, 15 and 63:22 read as 0 and bit 1 as 1 whatever the
// source (SDM Vol. 1 3.4.3, Figure 3-8): a POPF or IRET of a word with
// them set does not set them.
func (c *CPU) setRFLAGS(v uint64) {
	c.RFLAGS = v&arch.FlagsDefined&^arch.FlagsArith | arch.FlagRes1
	c.lz.setFlags(v)
	c.updateAlignCheck() // align.go: RFLAGS.AC
}

// Individual flag reads used by Jcc/SETcc/CMOVcc/ADC/SBB. The common cases
// are answered straight from the lazy record.
func (c *CPU) cf() uint64 {
	l := &c.lz
	switch l.op {
	case lzNone, lzInc, lzDec:
		// Materialised, or the CF that INC/DEC preserved.
		return l.flags & arch.FlagCF
	case lzLogic:
		return 0
	case lzAdd:
		sh := 64 - uint(l.size)*8
		a, r := l.a<<sh, l.res<<sh
		if r < a || (l.cin != 0 && r == a) {
			return 1
		}
		return 0
	case lzSub:
		sh := 64 - uint(l.size)*8
		a, b := l.a<<sh, l.b<<sh
		if a < b || (l.cin != 0 && a == b) {
			return 1
		}
		return 0
	}
	return c.lz.arith() & arch.FlagCF
}

func (c *CPU) zf() bool {
	l := &c.lz
	if l.op != lzNone {
		return l.res<<(64-uint(l.size)*8) == 0
	}
	return l.flags&arch.FlagZF != 0
}

func (c *CPU) sf() bool {
	l := &c.lz
	if l.op != lzNone {
		return int64(l.res<<(64-uint(l.size)*8)) < 0
	}
	return l.flags&arch.FlagSF != 0
}

func (c *CPU) of() bool { return c.lz.arith()&arch.FlagOF != 0 }

// The eight base conditions of Jcc/SETcc/CMOVcc (SDM Vol. 1 Appendix B,
// Table B-1); the odd condition codes are their negations. After CMP/SUB
// the ordered conditions come straight from the operands.

func (c *CPU) condO() bool { return c.of() }
func (c *CPU) condB() bool { return c.cf() != 0 }
func (c *CPU) condZ() bool { return c.zf() }
func (c *CPU) condS() bool { return c.sf() }
func (c *CPU) condP() bool { return c.lz.arith()&arch.FlagPF != 0 }

// condBE: CF=1 or ZF=1.
func (c *CPU) condBE() bool {
	l := &c.lz
	if l.op == lzSub && l.cin == 0 {
		sh := 64 - uint(l.size)*8
		return l.a<<sh <= l.b<<sh
	}
	return c.cf() != 0 || c.zf()
}

// condL: SF != OF.
func (c *CPU) condL() bool {
	l := &c.lz
	if l.op == lzSub && l.cin == 0 {
		sh := 64 - uint(l.size)*8
		return int64(l.a<<sh) < int64(l.b<<sh)
	}
	return c.sf() != c.of()
}

// condLE: ZF=1 or SF != OF.
func (c *CPU) condLE() bool {
	l := &c.lz
	if l.op == lzSub && l.cin == 0 {
		sh := 64 - uint(l.size)*8
		return int64(l.a<<sh) <= int64(l.b<<sh)
	}
	return c.zf() || c.sf() != c.of()
}

// cond evaluates condition code cc (the low nibble of Jcc/SETcc/CMOVcc).
func (c *CPU) cond(cc uint8) bool {
	var r bool
	switch cc >> 1 {
	case 0:
		r = c.condO()
	case 1:
		r = c.condB()
	case 2:
		r = c.condZ()
	case 3:
		r = c.condBE()
	case 4:
		r = c.condS()
	case 5:
		r = c.condP()
	case 6:
		r = c.condL()
	case 7:
		r = c.condLE()
	}
	return r != (cc&1 != 0)
}

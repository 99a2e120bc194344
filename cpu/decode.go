package cpu

import (
	"sync"

	"github.com/vmxemu/vmxemu/arch"
)

// handler executes one decoded instruction. It runs with c.RIP already
// advanced past the instruction and c.ripCur at its start.
type handler func(c *CPU, in *Inst)

// Inst is one decoded instruction.
type Inst struct {
	fn    handler
	len   uint8
	opsz  uint8 // operand size in bytes
	adsz  uint8 // address size in bytes
	seg   uint8 // segment of the memory operand (after overrides)
	reg   uint8 // ModRM.reg with REX.R, or the opcode's register; 8-bit high regs have 0x10 set
	rm    uint8 // ModRM.rm with REX.B when mod == 3 (8-bit high regs have 0x10 set)
	base  uint8
	index uint8
	// scale is the index register's factor (1, 2, 4 or 8), 0 when
	// there is no index; bmask is 0xFF with a base register, 0 without
	// (ea: a multiply and a mask, which Go compiles without the guard a
	// variable shift needs for counts of 64 and more).
	scale uint8
	bmask uint8
	mod   uint8 // ModRM.mod; 3 = register operand
	rep   uint8 // 0, 0xF2 or 0xF3 (the last of them)
	sub   uint8 // ModRM.reg for group opcodes, the condition for Jcc/SETcc/CMOVcc
	lock  bool
	end   bool // ends its block
	// side marks a Jcc that its block continues past (decodeBlock's
	// side exits): taken, it ends the block there (CPU.takeSide).
	side   bool
	ripRel bool
	pfx66  bool
	op     uint16 // opcode: map<<8 | byte (map 0: one-byte, 1: 0F, 2: 0F38, 3: 0F3A)
	// pre is the number of instructions of the block before this entry
	// and nret the number this entry retires: 1, or 2 for a fused pair
	// (exec_fused.go), whose Jcc half is jlen bytes long with operand
	// size jopsz. Run's fast path uses them for exact instruction counts.
	pre   uint8
	nret  uint8
	jlen  uint8
	jopsz uint8
	amask uint64 // address-size mask
	disp  uint64
	imm   uint64
	imm2  uint64
	// fault is the decode-time fault raised when this Inst executes
	// (#UD for an invalid encoding, #GP for the 15-byte limit).
	fault *arch.Fault
}

// Operand-form flags of an opcode-table entry.
const (
	fModRM      = 1 << iota // a ModRM byte follows
	fByte                   // 8-bit operand size
	fImm8                   // imm8
	fImm16                  // imm16
	fImmZ                   // imm16 or imm32 (imm32 sign-extended with 64-bit operand size)
	fImmV                   // imm16/32/64 (MOV r, imm)
	fImm8S                  // imm8 sign-extended to the operand size
	fMoffs                  // an address-size offset (MOV AL, moffs)
	fFar                    // ptr16:16 or ptr16:32
	fEnter                  // imm16, imm8
	fDef64                  // 64-bit default operand size in 64-bit mode (PUSH/POP ...)
	fForce64                // 64-bit operand size in 64-bit mode, 66 ignored (near branches)
	fInv64                  // invalid in 64-bit mode
	fOnly64                 // valid only in 64-bit mode
	fLock                   // LOCK allowed (with a memory destination)
	fEnd                    // ends a decoded block (control transfer, mode change)
	fRegOp                  // register in opcode bits 2:0
	fMemOnly                // the ModRM must encode memory; mod == 3 is #UD
	fRegOnly                // the ModRM must encode a register; mod != 3 is #UD
	fNoRep                  // F2/F3 select another instruction (SSE): not REP
	fImm8U                  // imm8 as an extra immediate in imm2 (SHLD/SHRD ib)
	fOp32                   // operand size is 32 or 64 only (66 ignored)
	fSize64                 // operand size is always 64 in 64-bit mode (MOV CR/DR)
	fModIgnored             // ModRM.mod is ignored: always a register operand (MOV CR/DR)
	fMax32                  // operand size 16 or 32; REX.W is ignored (IN/OUT/INS/OUTS)
	fRMByte                 // the r/m operand is a byte register though the operand size is not (MOVZX/MOVSX Gv,Eb)
)

// opEntry is one row of an opcode table. The decoder selects a handler from
// h by operand-size index (0: 8, 1: 16, 2: 32, 3: 64); if hm is set it is
// used instead for memory forms.
type opEntry struct {
	name string
	f    uint32
	h    [4]handler
	hm   [4]handler
	// grp selects the row by ModRM.reg (group opcodes).
	grp *[8]opEntry
	// sel selects the row from the whole ModRM byte (0F 01 and friends); it
	// returns nil for encodings that do not exist.
	sel func(modrm byte, d *decoder) *opEntry
}

// sizeIndex maps an operand size in bytes to an index into opEntry.h.
func sizeIndex(sz uint8) int {
	switch sz {
	case 1:
		return 0
	case 2:
		return 1
	case 4:
		return 2
	}
	return 3
}

// decoder decodes from a byte window.
type decoder struct {
	buf  []byte // bytes available (up to the page or segment end)
	pos  int
	mode uint8
	err  bool // ran out of bytes
	t    *tables

	// prefixes
	rex     uint8
	seg     int // -1: none
	opsz66  bool
	adsz67  bool
	rep     uint8
	lock    bool
	lastPfx uint8 // last F2/F3/66 for SSE mandatory prefixes

	// For Decode (decodeview.go): the table row selected and the ModRM
	// byte, if any. Never read by the interpreter.
	entry    *opEntry
	segRaw   int // the last segment prefix, even one 64-bit mode ignores (-1: none)
	modrmB   byte
	hasModRM bool
}

func (d *decoder) byte() byte {
	if d.pos >= len(d.buf) {
		d.err = true
		d.pos++
		return 0
	}
	b := d.buf[d.pos]
	d.pos++
	return b
}

func (d *decoder) u16() uint64 { return uint64(d.byte()) | uint64(d.byte())<<8 }
func (d *decoder) u32() uint64 { return d.u16() | d.u16()<<16 }
func (d *decoder) u64() uint64 { return d.u32() | d.u32()<<32 }

// maxInsnLen is the architectural instruction-length limit (SDM Vol. 2A
// 2.3.11: more than 15 bytes raises #GP(0)).
const maxInsnLen = 15

var (
	faultUD       = arch.UDFault("invalid or unsupported opcode", "Vol. 2A 2.x / Appendix A")
	faultUDLock   = arch.UDFault("LOCK prefix on an instruction or form that does not allow it", "Vol. 2A 2.1.1 / LOCK")
	faultUDInv64  = arch.UDFault("instruction is invalid in 64-bit mode", "Vol. 2A Appendix A.2.5 (i64)")
	faultUDOnly64 = arch.UDFault("instruction is valid only in 64-bit mode", "Vol. 2A Appendix A.2.5 (o64)")
	faultUDMod    = arch.UDFault("ModRM form not allowed for this instruction (register vs. memory)", "Vol. 2A Appendix A")
	faultUDVEX    = arch.UDFault("VEX/EVEX-encoded instruction: AVX is not implemented and not reported by CPUID", "Vol. 2A 2.3 / 2.6")
	faultGPLen    = arch.GPFault(0, "instruction longer than 15 bytes", "Vol. 2A 2.3.11")
)

// decode decodes one instruction at buf[0:] in the given mode. It always
// returns an Inst; invalid encodings get a handler that raises #UD. ok is
// false when buf ended before the instruction did (the caller fetches more).
func (t *tables) decode(buf []byte, mode uint8, in *Inst) (ok bool) {
	d := decoder{buf: buf, mode: mode, seg: -1, segRaw: -1, t: t}
	return d.decode(in)
}

// decode is tables.decode with the decoder's state kept for the caller
// (Decode reads the row and the prefixes it saw).
func (d *decoder) decode(in *Inst) (ok bool) {
	*in = Inst{}
	e := d.decodeInto(in)
	if d.err {
		if d.pos > maxInsnLen {
			in.len = maxInsnLen
			in.fault = &faultGPLen
			in.fn = raiseDecodeFault
			return true
		}
		return false
	}
	if d.pos > maxInsnLen {
		in.len = maxInsnLen
		in.fault = &faultGPLen
		in.fn = raiseDecodeFault
		return true
	}
	in.len = uint8(d.pos)
	if e != nil {
		in.fault = e
		in.fn = raiseDecodeFault
	}
	return true
}

// raiseDecodeFault is the handler of instructions that failed to decode.
func raiseDecodeFault(c *CPU, in *Inst) { c.raise(*in.fault) }

func (d *decoder) decodeInto(in *Inst) *arch.Fault {
	// Legacy prefixes (SDM Vol. 2A 2.1.1), then REX (2.2.1) in 64-bit mode.
	var b byte
	for {
		if d.pos > maxInsnLen {
			return &faultGPLen
		}
		b = d.byte()
		if d.err {
			return nil
		}
		switch b {
		case 0x66:
			d.opsz66 = true
			d.lastPfx = b
			d.rex = 0
			continue
		case 0x67:
			d.adsz67 = true
			d.rex = 0
			continue
		case 0xF0:
			d.lock = true
			d.rex = 0
			continue
		case 0xF2, 0xF3:
			d.rep = b
			d.lastPfx = b
			d.rex = 0
			continue
		case 0x26, 0x2E, 0x36, 0x3E:
			d.segRaw = int(b>>3) & 3
			if d.mode != mode64 {
				d.seg = int(b>>3) & 3
			}
			d.rex = 0
			continue
		case 0x64, 0x65:
			d.seg = int(b - 0x60)
			d.segRaw = d.seg
			d.rex = 0
			continue
		}
		if d.mode == mode64 && b&0xF0 == 0x40 {
			d.rex = b
			continue
		}
		break
	}
	// Operand and address size (SDM Vol. 1 3.6, Vol. 2A 2.2.1.2).
	var opsz, adsz uint8
	switch d.mode {
	case mode16:
		opsz, adsz = 2, 2
		if d.opsz66 {
			opsz = 4
		}
		if d.adsz67 {
			adsz = 4
		}
	case mode32:
		opsz, adsz = 4, 4
		if d.opsz66 {
			opsz = 2
		}
		if d.adsz67 {
			adsz = 2
		}
	default:
		opsz, adsz = 4, 8
		if d.opsz66 {
			opsz = 2
		}
		if d.rex&8 != 0 {
			opsz = 8
		}
		if d.adsz67 {
			adsz = 4
		}
	}

	// Opcode maps.
	var e *opEntry
	op := uint16(b)
	switch {
	case b == 0x0F:
		b2 := d.byte()
		switch b2 {
		case 0x38:
			b3 := d.byte()
			op = 0x200 | uint16(b3)
			e = &d.t.map0F38[b3]
		case 0x3A:
			b3 := d.byte()
			op = 0x300 | uint16(b3)
			e = &d.t.map0F3A[b3]
		default:
			op = 0x100 | uint16(b2)
			e = &d.t.map0F[b2]
		}
	case b == 0xC4 || b == 0xC5 || b == 0x62:
		// VEX (C4/C5) and EVEX (62): in legacy modes these are LES/LDS/BOUND
		// unless ModRM.mod == 11b (SDM Vol. 2A 2.3.5).
		if d.mode == mode64 || (d.pos < len(d.buf) && d.buf[d.pos]>>6 == 3) {
			return &faultUDVEX
		}
		e = &d.t.map1[b]
	case b == 0x90 && d.rep == 0xF3 && d.rex&1 == 0:
		e = &d.t.pause // F3 90 (SDM Vol. 2B PAUSE): its own row, so NOP stays exit-free
	default:
		e = &d.t.map1[b]
	}
	if d.err {
		return nil
	}
	in.op = op
	in.rep = d.rep
	in.lock = d.lock
	in.pfx66 = d.opsz66

	var modrm byte
	if e.f&fModRM != 0 || e.grp != nil || e.sel != nil {
		modrm = d.byte()
		if d.err {
			return nil
		}
		d.modrmB, d.hasModRM = modrm, true
		if e.sel != nil {
			e = e.sel(modrm, d)
			if e == nil {
				return &faultUD
			}
		} else if e.grp != nil {
			e = &e.grp[(modrm>>3)&7]
		}
	}
	d.entry = e
	if e.h[0] == nil && e.h[1] == nil && e.h[2] == nil && e.h[3] == nil {
		// Skip the rest of the encoding for an accurate length when we can.
		if e.f&fModRM != 0 {
			d.modrm(in, modrm, adsz)
		}
		return &faultUD
	}
	f := e.f
	if d.mode == mode64 {
		if f&fInv64 != 0 {
			return &faultUDInv64
		}
		if f&fForce64 != 0 || f&fSize64 != 0 {
			opsz = 8
		} else if f&fDef64 != 0 && opsz == 4 {
			opsz = 8
		}
	} else if f&fOnly64 != 0 {
		return &faultUDOnly64
	}
	if f&fOp32 != 0 && opsz == 2 {
		opsz = 4
	}
	if f&fMax32 != 0 && opsz == 8 {
		opsz = 4
	}
	if f&fByte != 0 {
		opsz = 1
	}
	if f&fSize64 != 0 && d.mode != mode64 {
		opsz = 4
	}
	in.opsz, in.adsz = opsz, adsz
	in.end = f&fEnd != 0
	in.amask = amask(adsz)
	in.sub = (modrm >> 3) & 7

	if f&fModRM != 0 || e.grp != nil || e.sel != nil {
		if f&fModIgnored != 0 {
			modrm |= 0xC0
		}
		d.modrm(in, modrm, adsz)
		if in.mod == 3 && f&fMemOnly != 0 {
			return &faultUDMod
		}
		if in.mod != 3 && f&fRegOnly != 0 {
			return &faultUDMod
		}
	} else {
		in.mod = 3
		in.seg = arch.DS
		if d.seg >= 0 {
			in.seg = uint8(d.seg)
		}
	}
	if f&fRegOp != 0 {
		in.reg = d.reg8(uint8(op)&7|(d.rex&1)<<3, opsz) // the last opcode byte (0F C8+r too)
	}
	if f&fRMByte != 0 && in.mod == 3 {
		// AH/CH/DH/BH are encodable as the byte source without REX (SDM
		// Vol. 2A 3.1.1.1 Table 3-1): map r/m with the source's size.
		in.rm = d.reg8(in.rm, 1)
	}

	// Immediates.
	switch {
	case f&fImm8 != 0:
		in.imm = uint64(d.byte())
	case f&fImm8S != 0:
		in.imm = uint64(int64(int8(d.byte())))
	case f&fImm16 != 0:
		in.imm = d.u16()
	case f&fImmZ != 0:
		if opsz == 2 {
			in.imm = d.u16()
		} else {
			in.imm = uint64(int64(int32(uint32(d.u32()))))
		}
	case f&fImmV != 0:
		switch opsz {
		case 2:
			in.imm = d.u16()
		case 4:
			in.imm = d.u32()
		default:
			in.imm = d.u64()
		}
	case f&fMoffs != 0:
		switch adsz {
		case 2:
			in.disp = d.u16()
		case 4:
			in.disp = d.u32()
		default:
			in.disp = d.u64()
		}
		in.base, in.bmask, in.index, in.scale = 0, 0, 0, 0
		in.mod = 0
	case f&fFar != 0:
		if opsz == 2 {
			in.imm = d.u16()
		} else {
			in.imm = d.u32()
		}
		in.imm2 = d.u16()
	case f&fEnter != 0:
		in.imm = d.u16()
		in.imm2 = uint64(d.byte())
	}
	if f&fImm8U != 0 {
		in.imm2 = uint64(d.byte())
	}
	if d.err {
		return nil
	}
	// LOCK (SDM Vol. 2A, LOCK): only the listed instructions with a memory
	// destination; otherwise #UD.
	if d.lock && (f&fLock == 0 || in.mod == 3) {
		return &faultUDLock
	}
	if in.op < 0x40 && in.op&7 == 5 {
		// OP rAX, Iz (05, 0D, ... 3D) is OP Ev, Iz (81 /op) with the
		// register operand rAX (SDM Vol. 2A Table A-2 and the ALU
		// instructions' pages: the same operation and flags). Recording
		// it in that register form lets it share the specialised r,imm
		// handlers, fused Jcc entries and pairs (exec_hot.go,
		// exec_fused.go, exec_pair.go).
		in.mod, in.rm, in.sub = 3, 0, uint8(in.op>>3)
	}
	si := sizeIndex(opsz)
	in.fn = e.h[si]
	if in.mod != 3 && e.hm[si] != nil {
		in.fn = e.hm[si]
	}
	if in.fn == nil {
		return &faultUD
	}
	return nil
}

func amask(adsz uint8) uint64 {
	switch adsz {
	case 2:
		return 0xFFFF
	case 4:
		return 0xFFFFFFFF
	}
	return ^uint64(0)
}

// reg8 maps a register number to the handler encoding: for byte operands
// without REX, numbers 4-7 are AH, CH, DH, BH (SDM Vol. 2A 3.1.1.1).
func (d *decoder) reg8(r uint8, opsz uint8) uint8 {
	if opsz == 1 && d.rex == 0 && r >= 4 && r < 8 {
		return 0x10 | (r - 4)
	}
	return r
}

// modrm decodes ModRM, SIB and displacement (SDM Vol. 2A 2.1.5, Tables 2-1
// to 2-3; 64-bit forms 2.2.1.3-2.2.1.6).
func (d *decoder) modrm(in *Inst, m byte, adsz uint8) {
	mod := m >> 6
	reg := (m >> 3) & 7
	rm := m & 7
	in.mod = mod
	rexR := (d.rex >> 2) & 1
	rexX := (d.rex >> 1) & 1
	rexB := d.rex & 1
	in.reg = d.reg8(reg|rexR<<3, in.opsz)
	in.seg = arch.DS
	defer func() {
		if d.seg >= 0 {
			in.seg = uint8(d.seg)
		}
	}()
	if mod == 3 {
		in.rm = d.reg8(rm|rexB<<3, in.opsz)
		return
	}
	in.base, in.bmask, in.index, in.scale = 0, 0, 0, 0
	if adsz == 2 {
		// 16-bit addressing forms (Table 2-1).
		bases := [8][2]int8{{arch.RBX, arch.RSI}, {arch.RBX, arch.RDI}, {arch.RBP, arch.RSI}, {arch.RBP, arch.RDI}, {arch.RSI, -1}, {arch.RDI, -1}, {arch.RBP, -1}, {arch.RBX, -1}}
		if mod == 0 && rm == 6 {
			in.disp = d.u16()
			return
		}
		bi := bases[rm]
		in.base, in.bmask = uint8(bi[0]), 0xFF
		if bi[1] >= 0 {
			in.index, in.scale = uint8(bi[1]), 1
		}
		if bi[0] == arch.RBP {
			in.seg = arch.SS
		}
		switch mod {
		case 1:
			in.disp = uint64(int64(int8(d.byte())))
		case 2:
			in.disp = d.u16()
		}
		return
	}
	base := rm
	if rm == 4 {
		// SIB.
		sib := d.byte()
		ss := sib >> 6
		idx := (sib>>3)&7 | rexX<<3
		base = sib & 7
		if idx != 4 {
			in.index, in.scale = idx, 1<<ss
		}
		if base == 5 && mod == 0 {
			in.disp = uint64(int64(int32(uint32(d.u32()))))
			return
		}
		in.base, in.bmask = base|rexB<<3, 0xFF
	} else if rm == 5 && mod == 0 {
		in.disp = uint64(int64(int32(uint32(d.u32()))))
		if d.mode == mode64 {
			in.ripRel = true
		}
		return
	} else {
		in.base, in.bmask = rm|rexB<<3, 0xFF
	}
	if base&7 == arch.RSP || base&7 == arch.RBP {
		// (E)SP and (E)BP bases default to SS (SDM Vol. 1 3.7.4).
		if in.base == arch.RSP || in.base == arch.RBP {
			in.seg = arch.SS
		}
	}
	switch mod {
	case 1:
		in.disp = uint64(int64(int8(d.byte())))
	case 2:
		in.disp = uint64(int64(int32(uint32(d.u32()))))
	}
}

// ea computes the effective address (offset) of the memory operand.
func (c *CPU) ea(in *Inst) uint64 {
	a := in.disp + c.GPR[in.base&15]&uint64(int64(int8(in.bmask))) + c.GPR[in.index&15]*uint64(in.scale)
	if in.ripRel {
		a += c.RIP
	}
	return a & in.amask
}

// pkgTables are the decoder tables used by DecodeLength (built on first use).
var pkgTables struct {
	once sync.Once
	t    *tables
}

// modeOfBits is the decode mode for a code segment of the given width
// (16, 32, or anything else for 64 bits), as the exported decoding and
// block functions take it.
func modeOfBits(bits int) uint8 {
	switch bits {
	case 16:
		return mode16
	case 32:
		return mode32
	}
	return mode64
}

// DecodeLength decodes the instruction at the start of code for a code
// segment of the given width (16, 32 or 64 bits) and returns its length.
// fault is the fault the instruction raises when executed because of its
// encoding alone (#UD for an invalid or unimplemented encoding, #GP(0) for
// the 15-byte limit), or nil. ok is false when code ends before the
// instruction does. It is the decoder the interpreter runs, exported for
// cross-checks against independent disassemblers.
func DecodeLength(code []byte, bits int) (n int, fault *arch.Fault, ok bool) {
	pkgTables.once.Do(func() { pkgTables.t = buildTables() })
	mode := modeOfBits(bits)
	var in Inst
	if !pkgTables.t.decode(code, mode, &in) {
		return 0, nil, false
	}
	return int(in.len), in.fault, true
}

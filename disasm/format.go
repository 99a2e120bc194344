package disasm

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/vmxemu/vmxemu/cpu"
)

// Inst is one disassembled instruction.
type Inst struct {
	Addr     uint64
	Len      int
	Mnemonic string // with its rep/lock prefix: "rep stosb", "lock inc"
	Operands string // "eax, dword ptr [rbp - 8]"
	// Target is the address a RIP-relative operand refers to (HasTarget).
	Target    uint64
	HasTarget bool
	// Bad is set when the bytes are no instruction vmxemu knows: the
	// text is then "(bad)", as objdump prints it.
	Bad bool
}

// String is the instruction as one line: mnemonic, operands and, for a
// RIP-relative operand, its resolved address in a comment.
func (in Inst) String() string {
	s := in.Mnemonic
	if in.Operands != "" {
		s += " " + in.Operands
	}
	if in.HasTarget {
		s += fmt.Sprintf("  # 0x%x", in.Target)
	}
	return s
}

// Disassembler turns the bytes at addr into one instruction for a code
// segment of the given width (16, 32 or 64). ok is false when code ends
// before the instruction does.
type Disassembler interface {
	Disasm(code []byte, addr uint64, bits int) (in Inst, ok bool)
	// Name says which backend this is ("vmxemu" or "capstone N.M").
	Name() string
}

// Formatter is vmxemu's own disassembler: cpu.Decode and the forms table.
type Formatter struct{}

// New returns vmxemu's own formatter.
func New() Formatter { return Formatter{} }

// Name implements Disassembler.
func (Formatter) Name() string { return "vmxemu" }

// Disasm implements Disassembler.
func (Formatter) Disasm(code []byte, addr uint64, bits int) (Inst, bool) {
	d, ok := cpu.Decode(code, bits)
	if !ok {
		return Inst{}, false
	}
	return Format(d, addr), true
}

// lookup finds the form of d: the most specific key of forms.go that
// exists, and the mandatory prefix it consumed (0 if none).
func lookup(d *cpu.Decoded) (string, byte) {
	f, p, _ := lookupKey(d)
	return f, p
}

// lookupKey is lookup, also returning the key that matched.
func lookupKey(d *cpu.Decoded) (string, byte, string) {
	base := [4]string{"", "0f", "0f38", "0f3a"}[d.Map] + fmt.Sprintf("%02x", d.Opcode)
	if d.Map == 0 && d.Opcode == 0x90 && d.REX&1 != 0 {
		base = "91" // REX.B 90 is XCHG r8, rAX, not NOP (SDM Vol. 2B NOP/XCHG)
	}
	var pfxs []byte
	if d.Rep != 0 {
		pfxs = append(pfxs, d.Rep)
	}
	if d.Pfx66 && d.Map != 0 {
		pfxs = append(pfxs, 0x66)
	}
	var keys []string
	if d.HasModRM {
		mm := "m"
		if d.Mod == 3 {
			mm = "r"
			keys = append(keys, fmt.Sprintf("%s.%02x", base, d.ModRM))
		}
		dig := fmt.Sprintf("%s/%d", base, d.ModRM>>3&7)
		keys = append(keys, dig+mm, dig, base+mm)
	}
	keys = append(keys, base)
	if d.Bits == 64 {
		// 64-bit-mode rows first ("o64 63": MOVSXD, not ARPL).
		for _, k := range keys {
			if f, ok := forms["o64 "+k]; ok {
				return f, 0, "o64 " + k
			}
		}
	}
	get := func(k string) (string, bool) {
		if f, ok := forms[k]; ok {
			return f, true
		}
		f, ok := formsSIMD[k]
		return f, ok
	}
	for _, k := range keys {
		for _, p := range pfxs {
			if f, ok := get(fmt.Sprintf("%02x %s", p, k)); ok {
				return f, p, fmt.Sprintf("%02x %s", p, k)
			}
		}
		if f, ok := get(k); ok {
			return f, 0, k
		}
	}
	return "", 0, ""
}

// Format prints a decoded instruction at addr.
func Format(d cpu.Decoded, addr uint64) Inst {
	in := Inst{Addr: addr, Len: d.Len}
	form, mand := lookup(&d)
	if form == "" || d.Fault != nil && !noOperandForm(form) {
		in.Bad, in.Mnemonic = true, "(bad)"
		return in
	}
	mn, ops, _ := strings.Cut(form, " ")
	if strings.Contains(mn, "|") {
		sz := d.OpSize
		if strings.HasSuffix(mn, "@a") {
			mn, sz = strings.TrimSuffix(mn, "@a"), d.AddrSize
		}
		alt := strings.Split(mn, "|")
		switch sz {
		case 2:
			mn = alt[0]
		case 4:
			mn = alt[1]
		default:
			mn = alt[2]
		}
	}
	if strings.HasSuffix(ops, ",Ic") && d.Imm&0xFF < 8 {
		// CMPPS/CMPPD/CMPSS/CMPSD with a predicate 0-7: its pseudo-op
		// (SDM Vol. 2A CMPPS, Table 3-4: CMPEQPS ... CMPORDPS), as
		// Capstone and objdump print it.
		mn = "cmp" + cmpPredicates[d.Imm&7] + mn[3:]
		ops = strings.TrimSuffix(ops, ",Ic")
	}
	f := formatter{d: &d, addr: addr}
	var parts []string
	if ops != "" {
		for _, o := range strings.Split(ops, ",") {
			if s := f.operand(o); s != "" {
				parts = append(parts, s)
			}
		}
	}
	// Prefixes Capstone prints before the mnemonic: LOCK, and REP/REPNE
	// on the string instructions (not a mandatory prefix).
	switch {
	case d.Lock:
		mn = "lock " + mn
		if d.Rep != 0 {
			mn = hle[d.Rep] + mn
		}
	case d.Rep != 0 && d.Map == 0 && (d.Opcode == 0x86 || d.Opcode == 0x87) && d.Mod != 3:
		mn = hle[d.Rep] + mn // XCHG with memory is implicitly locked
	case d.Rep == 0xF2 && mand == 0 && isBranch(&d):
		mn = "bnd " + mn
	case d.Rep != 0 && mand == 0 && d.Map == 0 && isString(d.Opcode):
		if d.Rep == 0xF2 {
			mn = "repne " + mn
		} else if d.Opcode == 0xA6 || d.Opcode == 0xA7 || d.Opcode == 0xAE || d.Opcode == 0xAF {
			mn = "repe " + mn
		} else {
			mn = "rep " + mn
		}
	}
	if d.Bits == 64 && d.Map == 0 && (d.Opcode >= 0xA0 && d.Opcode <= 0xA3 && d.AddrSize == 8 || d.Opcode >= 0xB8 && d.Opcode <= 0xBF && d.OpSize == 8) {
		mn = "movabs" // Capstone's and objdump's name for the 64-bit moffs and imm64 forms
	}
	in.Mnemonic, in.Operands = mn, strings.Join(parts, ", ")
	in.Target, in.HasTarget = f.target, f.hasTarget
	return in
}

// noOperandForm reports a form without operands, printable even where
// vmxemu's decoder raises #UD for it (VMFUNC, not implemented yet).
func noOperandForm(form string) bool { return !strings.Contains(form, " ") }

// cmpPredicates are the CMPPS/CMPPD/CMPSS/CMPSD pseudo-op infixes.
var cmpPredicates = [8]string{"eq", "lt", "le", "unord", "neq", "nlt", "nle", "ord"}

// hle names the HLE hints F2/F3 make on locked instructions (SDM Vol. 1
// 16.3.3), as Capstone and objdump print them.
var hle = map[byte]string{0xF2: "xacquire ", 0xF3: "xrelease "}

// isBranch reports the one-byte-map near branches an F2 prefix marks as BND (MPX,
// SDM Vol. 1 17.5.3), as Capstone prints them.
func isBranch(d *cpu.Decoded) bool {
	if d.Map != 0 {
		return false
	}
	switch op := d.Opcode; {
	case op >= 0x70 && op <= 0x7F, op == 0xC2, op == 0xC3, op == 0xCA, op == 0xCB, op == 0xE3, op == 0xE8, op == 0xE9, op == 0xEB:
		return true
	case op == 0xFF:
		return d.ModRM>>3&7 == 2 || d.ModRM>>3&7 == 4
	}
	return false
}

func isString(op byte) bool {
	return op >= 0x6C && op <= 0x6F || op >= 0xA4 && op <= 0xAF && op != 0xA8 && op != 0xA9
}

type formatter struct {
	d         *cpu.Decoded
	addr      uint64
	target    uint64
	hasTarget bool
}

var (
	reg64 = [16]string{"rax", "rcx", "rdx", "rbx", "rsp", "rbp", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}
	reg32 = [16]string{"eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi", "r8d", "r9d", "r10d", "r11d", "r12d", "r13d", "r14d", "r15d"}
	reg16 = [16]string{"ax", "cx", "dx", "bx", "sp", "bp", "si", "di", "r8w", "r9w", "r10w", "r11w", "r12w", "r13w", "r14w", "r15w"}
	reg8  = [16]string{"al", "cl", "dl", "bl", "spl", "bpl", "sil", "dil", "r8b", "r9b", "r10b", "r11b", "r12b", "r13b", "r14b", "r15b"}
	reg8h = [4]string{"ah", "ch", "dh", "bh"}
	sregs = [8]string{"es", "cs", "ss", "ds", "fs", "gs", "?", "?"}
)

// reg names general register r at size bytes.
func (f *formatter) reg(r, size int) string {
	switch size {
	case 1:
		if f.d.REX == 0 && r >= 4 && r < 8 {
			return reg8h[r-4]
		}
		return reg8[r]
	case 2:
		return reg16[r]
	case 4:
		return reg32[r]
	}
	return reg64[r]
}

// size returns the size in bytes of a size letter.
func (f *formatter) size(c string) int {
	switch c {
	case "b":
		return 1
	case "w":
		return 2
	case "d":
		return 4
	case "q":
		return 8
	case "x":
		return 16
	case "z":
		if f.d.OpSize == 2 {
			return 2
		}
		return 4
	case "y":
		if f.d.Bits == 64 {
			return 8
		}
		return 4
	case "q8": // CMPXCHG8B m64 / CMPXCHG16B m128
		if f.d.OpSize == 8 {
			return 16
		}
		return 8
	case "p": // m16:16, m16:32, m16:64
		return f.d.OpSize + 2
	case "a": // BOUND's pair of bounds
		return 2 * f.d.OpSize
	case "P": // the bare "ptr" keyword Capstone prints for XSAVE/XRSTOR
		return -1
	case "n":
		return 0
	case "t":
		return 10
	case "l":
		if f.d.OpSize == 8 {
			return 8
		}
		return 4
	}
	return f.d.OpSize // v
}

var ptrWords = map[int]string{-1: "ptr ", 1: "byte ptr ", 2: "word ptr ", 4: "dword ptr ", 6: "fword ptr ", 8: "qword ptr ", 10: "tbyte ptr ", 16: "xmmword ptr "}

// num prints a value as Capstone does: decimal up to 9, else hex.
func num(v uint64) string {
	if v <= 9 {
		return strconv.FormatUint(v, 10)
	}
	return "0x" + strconv.FormatUint(v, 16)
}

// signed prints a signed value as Capstone does for immediates.
func signed(v int64) string {
	if v < 0 {
		if v < -9 {
			return "-0x" + strconv.FormatUint(uint64(-v), 16)
		}
		return "-" + strconv.FormatUint(uint64(-v), 10)
	}
	return num(uint64(v))
}

func mask(v uint64, size int) uint64 {
	if size >= 8 {
		return v
	}
	return v & (1<<(8*size) - 1)
}

// imm prints an immediate of size bytes: sign-extended forms as signed
// numbers (Capstone prints "add eax, -1"), others unsigned.
func (f *formatter) imm(v uint64, size int, signExt bool) string {
	if signExt {
		return signed(int64(v))
	}
	return num(mask(v, size))
}

// mem prints the memory operand with a size keyword of size bytes (0:
// none).
func (f *formatter) mem(size int) string {
	d := f.d
	var b strings.Builder
	b.WriteString(ptrWords[size])
	if seg := f.seg(); seg >= 0 {
		b.WriteString(sregs[seg] + ":")
	}
	b.WriteByte('[')
	as := d.AddrSize
	first := true
	add := func(s string) {
		if !first {
			b.WriteString(" + ")
		}
		b.WriteString(s)
		first = false
	}
	if d.RIPRel {
		if as == 4 {
			add("eip")
		} else {
			add("rip")
		}
		next := f.addr + uint64(d.Len)
		f.target, f.hasTarget = mask(next+d.Disp, as), true
	}
	if d.Base >= 0 {
		add(f.reg(d.Base, as))
	}
	if d.Index >= 0 {
		s := f.reg(d.Index, as)
		if d.Scale != 1 {
			s += "*" + strconv.Itoa(d.Scale)
		}
		add(s)
	}
	disp := d.Disp
	switch {
	case first:
		b.WriteString(num(mask(disp, as)))
	case as == 2:
		if v := int16(disp); v < 0 {
			b.WriteString(" - " + num(uint64(-int64(v))))
		} else if v > 0 {
			b.WriteString(" + " + num(uint64(v)))
		}
	default:
		if v := int64(disp); v < 0 {
			b.WriteString(" - " + num(uint64(-v)))
		} else if v > 0 {
			b.WriteString(" + " + num(uint64(v)))
		}
	}
	b.WriteByte(']')
	return b.String()
}

// strOp prints a string operand: DS:rSI (X, segment overridable) or
// ES:rDI (Y), as Capstone does (es: shown outside 64-bit mode).
func (f *formatter) strOp(y bool, size int) string {
	d := f.d
	regs := map[int][2]string{2: {"si", "di"}, 4: {"esi", "edi"}, 8: {"rsi", "rdi"}}[d.AddrSize]
	s := ptrWords[size]
	if y {
		if d.Bits != 64 {
			s += "es:"
		}
		return s + "[" + regs[1] + "]"
	}
	if seg := f.seg(); seg >= 0 {
		s += sregs[seg] + ":"
	}
	return s + "[" + regs[0] + "]"
}

// seg is the segment override to print: the one that applies, else the
// last segment prefix present (64-bit mode ignores CS/DS/ES/SS
// overrides, which Capstone and objdump still show).
func (f *formatter) seg() int {
	if f.d.Seg >= 0 {
		return f.d.Seg
	}
	return f.d.SegPrefix
}

// operand prints one operand of the form.
func (f *formatter) operand(o string) string {
	d := f.d
	switch o {
	case "al", "ax", "cl", "dx", "1", "es", "cs", "ss", "ds", "fs", "gs":
		return o
	case "rAX":
		return f.reg(0, d.OpSize)
	case "eAX":
		return f.reg(0, min(d.OpSize, 4))
	case "Ib2": // the second immediate (ENTER's level, SHLD/SHRD's count)
		return num(d.Imm2 & 0xFF)
	case "Iu": // an immediate printed unsigned at the operand size (logic ops)
		return num(mask(d.Imm, d.OpSize))
	case "ST":
		return "st(0)"
	case "Fi":
		return fmt.Sprintf("st(%d)", d.RM&7)
	case "Ic": // the CMPPS/CMPPD/CMPSS/CMPSD predicate
		return num(d.Imm & 0xFF)
	case "Ia": // AAM/AAD's base, omitted when it is 10
		if d.Imm&0xFF == 10 {
			return ""
		}
		return num(d.Imm & 0xFF)
	}
	kind, sz := o[:1], o[1:]
	size := f.size(sz)
	switch kind {
	case "E":
		if d.Mod == 3 {
			return f.reg(d.RM, size)
		}
		return f.mem(size)
	case "M":
		return f.mem(size)
	case "G":
		return f.reg(d.Reg, size)
	case "V":
		return fmt.Sprintf("xmm%d", d.Reg)
	case "U":
		return fmt.Sprintf("xmm%d", d.RM)
	case "W":
		if d.Mod == 3 {
			return fmt.Sprintf("xmm%d", d.RM)
		}
		return f.mem(size)
	case "P":
		return fmt.Sprintf("mm%d", d.Reg&7)
	case "N":
		return fmt.Sprintf("mm%d", d.RM&7)
	case "Q":
		if d.Mod == 3 {
			return fmt.Sprintf("mm%d", d.RM&7)
		}
		return f.mem(size)
	case "R":
		return f.reg(d.RM, size)
	case "Z":
		r := int(d.Opcode&7) | int(d.REX&1)<<3
		return f.reg(r, size)
	case "S":
		return sregs[d.Reg&7]
	case "C":
		return "cr" + strconv.Itoa(d.Reg)
	case "D":
		return "dr" + strconv.Itoa(d.Reg)
	case "I":
		if sz == "s" {
			return f.imm(d.Imm, d.OpSize, true)
		}
		if sz == "z" && d.OpSize == 8 {
			return f.imm(d.Imm, 8, true) // imm32 sign-extended to 64 bits
		}
		return f.imm(d.Imm, size, false)
	case "J":
		next := f.addr + uint64(d.Len)
		t := next + d.Imm
		if d.Bits != 64 {
			if d.OpSize == 2 {
				t &= 0xFFFF
			} else {
				t &= 0xFFFFFFFF
			}
		}
		return num(t)
	case "O":
		s := ptrWords[size]
		if seg := f.seg(); seg >= 0 {
			s += sregs[seg] + ":"
		}
		return s + "[" + num(mask(d.Disp, d.AddrSize)) + "]"
	case "A":
		return num(d.Imm2) + ":" + num(d.Imm)
	case "X":
		return f.strOp(false, size)
	case "Y":
		return f.strOp(true, size)
	}
	return "?" + o
}

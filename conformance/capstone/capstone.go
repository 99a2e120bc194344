//go:build capstone

package capstone

import (
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/bnagy/gapstone"
	"github.com/vmxemu/vmxemu/cpu"
)

// Verdict classes of one byte string.
const (
	Agree           = ""
	ClassLen        = "len"              // both decode, lengths differ
	ClassCapInvalid = "capstone-invalid" // vmxemu decodes it, Capstone does not
	ClassVmxemuUD   = "vmxemu-fault"     // Capstone decodes it, vmxemu's decoder faults (#UD: not implemented or invalid; #GP: over 15 bytes)
	ClassMnemonic   = "mnemonic"         // a generated case whose Capstone mnemonic is not the form's
)

// Engines holds one Capstone engine per code-segment width.
type Engines struct {
	e map[int]*gapstone.Engine
}

// Open creates the engines.
func Open() (*Engines, error) {
	es := &Engines{e: map[int]*gapstone.Engine{}}
	for bits, mode := range map[int]int{16: gapstone.CS_MODE_16, 32: gapstone.CS_MODE_32, 64: gapstone.CS_MODE_64} {
		e, err := gapstone.New(gapstone.CS_ARCH_X86, mode)
		if err != nil {
			es.Close()
			return nil, fmt.Errorf("capstone %d-bit engine: %w", bits, err)
		}
		es.e[bits] = &e
	}
	return es, nil
}

// Close releases the engines.
func (es *Engines) Close() {
	for _, e := range es.e {
		_ = e.Close()
	}
}

// Version returns Capstone's version.
func (es *Engines) Version() string {
	maj, min := es.e[64].Version()
	return fmt.Sprintf("%d.%d", maj, min)
}

// Verdict is the comparison of one byte string.
type Verdict struct {
	Class    string
	Key      string // "bits:opcode key", for grouping and the allow-list
	VmxLen   int
	CapLen   int
	Mnemonic string // Capstone's
	OpStr    string
}

// Compare decodes code with both decoders.
func (es *Engines) Compare(code []byte, bits int) Verdict {
	v := Verdict{Key: fmt.Sprintf("%d:%s", bits, OpcodeKey(code, bits))}
	n, fault, ok := cpu.DecodeLength(code, bits)
	v.VmxLen = n
	insns, err := es.e[bits].Disasm(code, 0x1000, 1)
	capOK := err == nil && len(insns) == 1
	if capOK {
		v.CapLen = int(insns[0].Size)
		v.Mnemonic, v.OpStr = insns[0].Mnemonic, insns[0].OpStr
	}
	vmxUD := fault != nil
	switch {
	case !ok:
		return v // ran out of bytes: callers give enough
	case capOK && vmxUD:
		v.Class = ClassVmxemuUD
	case capOK && v.CapLen != n:
		v.Class = ClassLen
	case !capOK && !vmxUD:
		v.Class = ClassCapInvalid
	}
	return v
}

// OpcodeKey names the opcode of an instruction for grouping: the opcode
// map and byte, the ModRM.reg digit for group opcodes, and the whole ModRM
// byte for 0F 01 with a register operand (VMX, SVM and system
// instructions live there). Prefixes are skipped; "66", "f2", "f3" are
// kept when they select the instruction (0F map).
func OpcodeKey(b []byte, bits int) string {
	i := 0
	var mand string
	for i < len(b) {
		switch {
		case b[i] == 0x66 || b[i] == 0xF2 || b[i] == 0xF3:
			mand = fmt.Sprintf("%02x ", b[i])
			i++
			continue
		case b[i] == 0x67 || b[i] == 0xF0 || b[i] == 0x2E || b[i] == 0x3E || b[i] == 0x26 || b[i] == 0x64 || b[i] == 0x65 || b[i] == 0x36:
			i++
			continue
		case bits == 64 && b[i]&0xF0 == 0x40: // REX (only the last one counts)
			i++
			continue
		}
		break
	}
	if i >= len(b) {
		return "prefixes"
	}
	op := b[i]
	rest := b[i+1:]
	modrm := func(k int) (byte, bool) {
		if k < len(rest) {
			return rest[k], true
		}
		return 0, false
	}
	switch {
	case op == 0xC4 || op == 0xC5:
		if m, ok := modrm(0); bits == 64 || ok && m >= 0xC0 {
			return "vex"
		}
	case op == 0x62:
		if m, ok := modrm(0); bits == 64 || ok && m >= 0xC0 {
			return "evex"
		}
	case op == 0x8F:
		if m, ok := modrm(0); ok && m>>3&7 != 0 {
			return "xop"
		}
	case op >= 0xD8 && op <= 0xDF:
		return fmt.Sprintf("x87 %02x", op)
	}
	if op != 0x0F {
		if isGroup1(op) {
			if m, ok := modrm(0); ok {
				return fmt.Sprintf("%02x/%d", op, m>>3&7)
			}
		}
		return fmt.Sprintf("%02x", op)
	}
	if len(rest) == 0 {
		return "0f"
	}
	op2 := rest[0]
	switch op2 {
	case 0x38, 0x3A:
		if len(rest) > 1 {
			return fmt.Sprintf("%s0f%02x%02x", mand, op2, rest[1])
		}
		return fmt.Sprintf("0f%02x", op2)
	}
	if m, ok := func() (byte, bool) {
		if len(rest) > 1 {
			return rest[1], true
		}
		return 0, false
	}(); ok && isGroup0F(op2) {
		if op2 == 0x01 && m >= 0xC0 {
			return fmt.Sprintf("0f01 %02x", m)
		}
		if op2 == 0xC7 && m >= 0xC0 {
			return fmt.Sprintf("%s0fc7/%d reg", mand, m>>3&7)
		}
		return fmt.Sprintf("%s0f%02x/%d", mand, op2, m>>3&7)
	}
	return fmt.Sprintf("%s0f%02x", mand, op2)
}

func isGroup1(op byte) bool {
	switch op {
	case 0x80, 0x81, 0x82, 0x83, 0x8F, 0xC0, 0xC1, 0xC6, 0xC7, 0xD0, 0xD1, 0xD2, 0xD3, 0xF6, 0xF7, 0xFE, 0xFF:
		return true
	}
	return false
}

func isGroup0F(op byte) bool {
	switch op {
	case 0x00, 0x01, 0x18, 0x1F, 0x71, 0x72, 0x73, 0xAE, 0xBA, 0xC7, 0xB9:
		return true
	}
	return false
}

// Corpus returns n deterministic byte strings of 16 bytes: a third fully
// random, the rest structured (0-3 legacy prefixes, REX in 64-bit mode,
// an opcode from the one-byte, 0F, 0F38 or 0F3A map, then random ModRM,
// SIB, displacement and immediate bytes).
func Corpus(seed uint64, n int, bits int) [][]byte {
	r := rand.New(rand.NewPCG(seed, uint64(bits)))
	pfx := []byte{0x66, 0x67, 0xF2, 0xF3, 0xF0, 0x2E, 0x3E, 0x26, 0x64, 0x65, 0x36}
	out := make([][]byte, 0, n)
	for len(out) < n {
		b := make([]byte, 16)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if r.IntN(3) != 0 {
			s := b[:0]
			for range r.IntN(4) {
				s = append(s, pfx[r.IntN(len(pfx))])
			}
			if bits == 64 && r.IntN(2) == 0 {
				s = append(s, 0x40|byte(r.IntN(16)))
			}
			switch k := r.IntN(10); {
			case k < 5:
				s = append(s, byte(r.Uint32()))
			case k < 8:
				s = append(s, 0x0F, byte(r.Uint32()))
			case k < 9:
				s = append(s, 0x0F, 0x38, byte(r.Uint32()))
			default:
				s = append(s, 0x0F, 0x3A, byte(r.Uint32()))
			}
			copy(b[len(s):], b[len(s):]) // the rest stays random
			_ = s
		}
		out = append(out, b)
	}
	return out
}

// VMXEncodings returns the VMX instructions in register and memory forms
// (SDM Vol. 3C chapter 31), each padded to 16 bytes.
func VMXEncodings() map[string][]byte {
	pad := func(b ...byte) []byte { return append(b, make([]byte, 16-len(b))...) }
	return map[string][]byte{
		"vmxon m64":         pad(0xF3, 0x0F, 0xC7, 0x30),       // vmxon [rax]
		"vmclear m64":       pad(0x66, 0x0F, 0xC7, 0x30),       // vmclear [rax]
		"vmptrld m64":       pad(0x0F, 0xC7, 0x30),             // vmptrld [rax]
		"vmptrst m64":       pad(0x0F, 0xC7, 0x38),             // vmptrst [rax]
		"vmread r64,r64":    pad(0x0F, 0x78, 0xC8),             // vmread rax, rcx
		"vmread m64,r64":    pad(0x0F, 0x78, 0x08),             // vmread [rax], rcx
		"vmwrite r64,r64":   pad(0x0F, 0x79, 0xC8),             // vmwrite rcx, rax
		"vmwrite r64,m64":   pad(0x0F, 0x79, 0x48, 0x10),       // vmwrite rcx, [rax+16]
		"vmlaunch":          pad(0x0F, 0x01, 0xC2),             //
		"vmresume":          pad(0x0F, 0x01, 0xC3),             //
		"vmxoff":            pad(0x0F, 0x01, 0xC4),             //
		"vmcall":            pad(0x0F, 0x01, 0xC1),             //
		"vmfunc":            pad(0x0F, 0x01, 0xD4),             //
		"invept r64,m128":   pad(0x66, 0x0F, 0x38, 0x80, 0x08), // invept rcx, [rax]
		"invvpid r64,m128":  pad(0x66, 0x0F, 0x38, 0x81, 0x08), // invvpid rcx, [rax]
		"vmptrld disp32":    pad(0x0F, 0xC7, 0xB4, 0x24, 0x78, 0x56, 0x34, 0x12),
		"invept rip-rel":    pad(0x66, 0x0F, 0x38, 0x80, 0x0D, 1, 2, 3, 4),
		"vmread rex.w r8":   pad(0x4D, 0x0F, 0x78, 0xC8),
		"vmwrite rex r9,r8": pad(0x45, 0x0F, 0x79, 0xC8),
	}
}

// MnemonicOf returns the mnemonic stem of a conformance form name ("add"
// for "lock add m8,r8", "movs" for "rep movs8"), or "" when the form's
// name does not start with one.
func MnemonicOf(form string) string {
	f := strings.Fields(form)
	for len(f) > 0 && (f[0] == "lock" || f[0] == "rep" || f[0] == "repe" || f[0] == "repne" || f[0] == "addr32") {
		f = f[1:]
	}
	if len(f) == 0 || strings.HasPrefix(f[0], "opcode") {
		return ""
	}
	m := f[0]
	if i := strings.IndexByte(m, '('); i >= 0 {
		m = m[:i]
	}
	return strings.TrimRight(m, "0123456789")
}

package cpu

import (
	"math/bits"
	"math/rand"
	"testing"

	"github.com/vmxemu/vmxemu/arch"
)

// The BCD adjust instructions are invalid in 64-bit mode, so the host CPU
// cannot serve as their oracle here. The expected values below are the
// "Operation" pseudo-code of the SDM Vol. 2A instruction pages (DAA, DAS,
// AAA, AAS, AAM, AAD), transcribed independently of the interpreter, and
// the defined flags of their "Flags Affected" sections. Flags the SDM
// leaves undefined (OF for DAA/DAS; OF, SF, ZF, PF for AAA/AAS; OF, AF, CF
// for AAM/AAD) are not compared.

type bcdOut struct {
	ax        uint16
	flags     uint64 // defined flags
	undefined uint64
}

func sdmParity(v uint8) bool { return bits.OnesCount8(v)%2 == 0 }

func sdmSZP(al uint8) uint64 {
	var f uint64
	if al == 0 {
		f |= arch.FlagZF
	}
	if al&0x80 != 0 {
		f |= arch.FlagSF
	}
	if sdmParity(al) {
		f |= arch.FlagPF
	}
	return f
}

func sdmDAA(ax uint16, cfIn, afIn bool) bcdOut {
	al := uint8(ax)
	oldAL, oldCF := al, cfIn
	cf, af := false, false
	if al&0x0F > 9 || afIn {
		// The SDM's pseudocode, line by line: the CF it sets here is
		// overwritten by the test of old_AL below.
		//lint:ignore SA4006 transcribed from the SDM (Vol. 2A DAA Operation)
		carry := uint16(al)+6 > 0xFF
		al += 6
		//lint:ignore SA4006 transcribed from the SDM (Vol. 2A DAA Operation)
		cf = oldCF || carry
		af = true
	} else {
		af = false
	}
	if oldAL > 0x99 || oldCF {
		al += 0x60
		cf = true
	} else {
		cf = false
	}
	return bcdOut{ax&0xFF00 | uint16(al), sdmSZP(al) | b2f(cf, arch.FlagCF) | b2f(af, arch.FlagAF), arch.FlagOF}
}

func sdmDAS(ax uint16, cfIn, afIn bool) bcdOut {
	al := uint8(ax)
	oldAL, oldCF := al, cfIn
	cf, af := false, false
	if al&0x0F > 9 || afIn {
		borrow := al < 6
		al -= 6
		cf = oldCF || borrow
		af = true
	} else {
		af = false
	}
	if oldAL > 0x99 || oldCF {
		al -= 0x60
		cf = true
	}
	return bcdOut{ax&0xFF00 | uint16(al), sdmSZP(al) | b2f(cf, arch.FlagCF) | b2f(af, arch.FlagAF), arch.FlagOF}
}

func sdmAAA(ax uint16, cfIn, afIn bool) bcdOut {
	var f uint64
	if uint8(ax)&0x0F > 9 || afIn {
		ax += 0x106
		f = arch.FlagAF | arch.FlagCF
	}
	ax &= 0xFF0F
	return bcdOut{ax, f, arch.FlagOF | arch.FlagSF | arch.FlagZF | arch.FlagPF}
}

func sdmAAS(ax uint16, cfIn, afIn bool) bcdOut {
	var f uint64
	if uint8(ax)&0x0F > 9 || afIn {
		ax -= 6
		ax = ax&0xFF | (ax&0xFF00 - 0x100)
		f = arch.FlagAF | arch.FlagCF
	}
	ax &= 0xFF0F
	return bcdOut{ax, f, arch.FlagOF | arch.FlagSF | arch.FlagZF | arch.FlagPF}
}

func sdmAAM(ax uint16, imm uint8) bcdOut {
	al := uint8(ax)
	ah, nal := al/imm, al%imm
	return bcdOut{uint16(ah)<<8 | uint16(nal), sdmSZP(nal), arch.FlagOF | arch.FlagAF | arch.FlagCF}
}

func sdmAAD(ax uint16, imm uint8) bcdOut {
	al := uint8(uint16(uint8(ax)) + uint16(uint8(ax>>8))*uint16(imm))
	return bcdOut{uint16(al), sdmSZP(al), arch.FlagOF | arch.FlagAF | arch.FlagCF}
}

func b2f(b bool, f uint64) uint64 {
	if b {
		return f
	}
	return 0
}

func TestBCDAgainstSDM(t *testing.T) {
	h := newHarness(mode32)
	rng := rand.New(rand.NewSource(27))
	check := func(name string, code []byte, ax uint16, flagsIn uint64, want bcdOut) bool {
		var g [16]uint64
		upper := rng.Uint64() &^ 0xFFFF
		g[arch.RAX] = upper | uint64(ax)
		s, fault := h.step(code, g, flagsIn)
		if fault >= 0 {
			t.Errorf("%s AX=%#04x flags=%#x: vector %d", name, ax, flagsIn, fault)
			return false
		}
		gotAX := uint16(s.GPR[arch.RAX])
		gotF := s.RFLAGS & arch.FlagsArith &^ want.undefined
		if gotAX != want.ax || gotF != want.flags || (s.GPR[arch.RAX]^upper)&0xFFFF0000 != 0 {
			t.Errorf("%s AX=%#04x CF=%d AF=%d: EAX=%#x flags=%s, want AX=%#04x flags=%s (SDM pseudo-code)",
				name, ax, flagsIn&arch.FlagCF, flagsIn>>4&1, uint32(s.GPR[arch.RAX]), flagStr(gotF), want.ax, flagStr(want.flags))
			return false
		}
		return true
	}
	type adj struct {
		name string
		code byte
		f    func(uint16, bool, bool) bcdOut
	}
	n := 0
	for _, a := range []adj{{"daa", 0x27, sdmDAA}, {"das", 0x2F, sdmDAS}, {"aaa", 0x37, sdmAAA}, {"aas", 0x3F, sdmAAS}} {
		fails := 0
		for al := 0; al < 256; al++ {
			for fl := 0; fl < 4; fl++ {
				cf, af := fl&1 != 0, fl&2 != 0
				ah := uint16(rng.Intn(256))
				if al%7 == 0 {
					ah = []uint16{0, 0xFF, 0x7F, 0x80}[al%4]
				}
				ax := ah<<8 | uint16(al)
				flagsIn := b2f(cf, arch.FlagCF) | b2f(af, arch.FlagAF) | rng.Uint64()&(arch.FlagOF|arch.FlagSF|arch.FlagZF|arch.FlagPF)
				n++
				if !check(a.name, []byte{a.code}, ax, flagsIn, a.f(ax, cf, af)) {
					if fails++; fails > 6 {
						t.Fatalf("%s: too many mismatches", a.name)
					}
				}
			}
		}
	}
	for _, imm := range []uint8{10, 16, 7, 1, 2, 0xFF, 0x80} {
		for al := 0; al < 256; al++ {
			ax := uint16(rng.Intn(256))<<8 | uint16(al)
			n += 2
			check("aam", []byte{0xD4, imm}, ax, rng.Uint64()&arch.FlagsArith, sdmAAM(ax, imm))
			check("aad", []byte{0xD5, imm}, ax, rng.Uint64()&arch.FlagsArith, sdmAAD(ax, imm))
		}
	}
	// AAM with imm8 = 0 raises #DE (SDM Vol. 2A AAM, Exceptions) and leaves AX.
	var g [16]uint64
	g[arch.RAX] = 0x1234
	if s, fault := h.step([]byte{0xD4, 0x00}, g, 0); fault != arch.VecDE || uint16(s.GPR[arch.RAX]) != 0x1234 {
		t.Errorf("aam 0: vector %d AX=%#x, want #DE with AX unchanged", fault, uint16(s.GPR[arch.RAX]))
	}
	t.Logf("%d BCD cases", n)
}

package cpu

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/arch"
)

// FXSAVE/FXRSTOR and XSAVE/XRSTOR with the x87 and SSE state components
// (SDM Vol. 1 10.5.1 Table 10-2, chapter 13; Vol. 2 FXSAVE, FXRSTOR,
// XSAVE, XRSTOR). The legacy region is the FXSAVE image; x87 FIP/FDP/FOP
// are always 0 here (no x87 arithmetic instruction ever sets them).

// The XSAVE state components vmxemu implements (Vol. 1 13.1): x87 (0),
// SSE (1) and PKRU (9). The CPU model reports which of them it has in
// CPUID.(EAX=0DH,ECX=0):EAX (msr/profile.go xsaveLeaf), and XSETBV accepts
// those alone (feat.xcr0).
const (
	xcompX87  = 0
	xcompSSE  = 1
	xcompPKRU = 9
	// legacyHeaderSize is the legacy region and the XSAVE header (Vol. 1
	// 13.4.1, 13.4.2).
	legacyHeaderSize = 576
)

// xsaveSize is the size of a standard-format XSAVE area holding the
// components of mask: the legacy region and the header, and each enabled
// component i ≥ 2 at its offset CPUID.(EAX=0DH,ECX=i):EBX with its size
// CPUID.(EAX=0DH,ECX=i):EAX (Vol. 1 13.4.3).
func (c *CPU) xsaveSize(mask uint64) uint32 {
	size := uint32(legacyHeaderSize)
	for i := uint32(2); i < 63; i++ {
		if mask&(1<<i) != 0 {
			n, off, _, _ := c.plat().CPUID(c, 0xD, i)
			size = max(size, off+n)
		}
	}
	return size
}

// pkruOffset is where PKRU state (component 9) lives in the standard
// format: CPUID.(EAX=0DH,ECX=9):EBX (Vol. 1 13.4.3, 13.5.7).
func (c *CPU) pkruOffset() uint64 {
	_, off, _, _ := c.plat().CPUID(c, 0xD, xcompPKRU)
	return uint64(off)
}

// saveX87 writes the x87 part of the legacy region: FCW, FSW, the
// abridged FTW and ST0-ST7 (ST(i) is physical register (TOP+i) mod 8).
func (c *CPU) saveX87(img *[512]byte) {
	binary.LittleEndian.PutUint16(img[0:], c.fpu.fcw)
	binary.LittleEndian.PutUint16(img[2:], c.fpu.fsw)
	img[4] = uint8(c.fpu.ftw)
	top := int(c.fpu.fsw>>11) & 7
	for i := 0; i < 8; i++ {
		r := c.fpu.st[(top+i)&7]
		binary.LittleEndian.PutUint64(img[32+16*i:], r.mant)
		binary.LittleEndian.PutUint16(img[40+16*i:], r.se)
	}
}

func (c *CPU) loadX87(img *[512]byte) {
	c.fpu.fcw = binary.LittleEndian.Uint16(img[0:])
	c.fpu.fsw = binary.LittleEndian.Uint16(img[2:])
	c.fpu.ftw = uint16(img[4])
	top := int(c.fpu.fsw>>11) & 7
	for i := 0; i < 8; i++ {
		c.fpu.st[(top+i)&7] = fpReg{mant: binary.LittleEndian.Uint64(img[32+16*i:]), se: binary.LittleEndian.Uint16(img[40+16*i:])}
	}
}

// initX87 is the x87 initial configuration (Vol. 1 13.6: FCW 037FH, FSW
// 0, all tags empty, FIP/FDP/FOP 0, ST0-ST7 0).
func (c *CPU) initX87() {
	c.fpu.fcw, c.fpu.fsw, c.fpu.ftw = 0x037F, 0, 0
	c.fpu.st = [8]fpReg{}
}

// xmmCount is the number of XMM registers the save area holds: 16 in
// 64-bit mode, 8 otherwise (Table 10-2).
func (c *CPU) xmmCount() int {
	if c.codeMode == mode64 {
		return 16
	}
	return 8
}

func (c *CPU) saveXMM(img *[512]byte) {
	for i := 0; i < c.xmmCount(); i++ {
		binary.LittleEndian.PutUint64(img[160+16*i:], c.fpu.xmm[i][0])
		binary.LittleEndian.PutUint64(img[168+16*i:], c.fpu.xmm[i][1])
	}
}

func (c *CPU) loadXMM(img *[512]byte) {
	for i := 0; i < c.xmmCount(); i++ {
		c.fpu.xmm[i][0] = binary.LittleEndian.Uint64(img[160+16*i:])
		c.fpu.xmm[i][1] = binary.LittleEndian.Uint64(img[168+16*i:])
	}
}

// readArea reads n bytes at the memory operand into b.
func (c *CPU) readArea(in *Inst, addr uint64, b []byte) bool {
	for i := 0; i < len(b); i += 8 {
		v, ok := rd[uint64](c, in.seg, (addr+uint64(i))&in.amask)
		if !ok {
			return false
		}
		binary.LittleEndian.PutUint64(b[i:], v)
	}
	return true
}

// writeRanges writes the given [from, to) byte ranges of img (multiples of
// 8) after checking every one for write access, so a fault leaves memory
// unchanged.
func (c *CPU) writeRanges(in *Inst, addr uint64, img []byte, ranges ...[2]int) bool {
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i += 8 {
			if _, ok := c.linear(in.seg, (addr+uint64(i))&in.amask, 8, accWrite); !ok {
				return false
			}
		}
	}
	for _, r := range ranges {
		for i := r[0]; i < r[1]; i += 8 {
			if !wr(c, in.seg, (addr+uint64(i))&in.amask, binary.LittleEndian.Uint64(img[i:])) {
				return false
			}
		}
	}
	return true
}

// fxsave (0F AE /0): the 512-byte image at a 16-byte aligned address.
// Bytes 464-511 are left alone (Vol. 1 10.5.1), and so are the fields
// reserved in the current mode (XMM8-15 outside 64-bit mode). Without
// CR4.OSFXSR the XMM registers are not saved (implementation-dependent:
// Vol. 2A FXSAVE).
func fxsave(c *CPU, in *Inst) {
	if c.CR0&(arch.CR0EM|arch.CR0TS) != 0 {
		c.raise(faultNMEM)
		return
	}
	addr := c.ea(in)
	if addr&15 != 0 {
		c.raiseGP("FXSAVE operand not 16-byte aligned", "Vol. 2A FXSAVE")
		return
	}
	var img [512]byte
	c.saveX87(&img)
	binary.LittleEndian.PutUint32(img[24:], c.fpu.mxcsr)
	binary.LittleEndian.PutUint32(img[28:], mxcsrMask)
	end := 160
	if c.CR4&arch.CR4OSFXSR != 0 {
		c.saveXMM(&img)
		end = 160 + 16*c.xmmCount()
	}
	c.writeRanges(in, addr, img[:], [2]int{0, end})
}

// mxcsrMask is MXCSR_MASK: every MXCSR bit 15:0 is supported, DAZ
// included (Vol. 1 11.6.6).
const mxcsrMask = 0xFFFF

// fxrstor (0F AE /1).
func fxrstor(c *CPU, in *Inst) {
	if c.CR0&(arch.CR0EM|arch.CR0TS) != 0 {
		c.raise(faultNMEM)
		return
	}
	addr := c.ea(in)
	if addr&15 != 0 {
		c.raiseGP("FXRSTOR operand not 16-byte aligned", "Vol. 2A FXRSTOR")
		return
	}
	var img [512]byte
	if !c.readArea(in, addr, img[:]) {
		return
	}
	mx := binary.LittleEndian.Uint32(img[24:])
	if mx&^mxcsrMask != 0 {
		c.raiseGP("FXRSTOR with reserved MXCSR bits set (bits outside MXCSR_MASK)", "Vol. 2A FXRSTOR / Vol. 1 11.6.6")
		return
	}
	c.loadX87(&img)
	c.fpu.mxcsr = mx
	if c.CR4&arch.CR4OSFXSR != 0 {
		c.loadXMM(&img)
	}
}

// xsaveCheck applies the rules XSAVE and XRSTOR check first: CR4.OSXSAVE=0
// → #UD, CR0.TS=1 → #NM, a 64-byte aligned operand (Vol. 2C XSAVE
// "Protected Mode Exceptions").
func (c *CPU) xsaveCheck(in *Inst, name string) (uint64, bool) {
	if !c.xsaveEnabled(name) {
		return 0, false
	}
	return c.xsaveAddr(in, name)
}

// xsaveEnabled is the #UD (CR4.OSXSAVE = 0) and #NM (CR0.TS = 1) of the
// XSAVE family.
func (c *CPU) xsaveEnabled(name string) bool {
	if c.CR4&arch.CR4OSXSAVE == 0 {
		c.raiseUD(name+" with CR4.OSXSAVE=0", "Vol. 2C "+name)
		return false
	}
	if c.CR0&arch.CR0TS != 0 {
		c.raise(arch.Fault{Vector: arch.VecNM, Rule: name + " with CR0.TS=1", SDM: "Vol. 2C " + name})
		return false
	}
	return true
}

// xsaveAddr is the XSAVE area's address, which must be 64-byte aligned
// (#GP(0)).
func (c *CPU) xsaveAddr(in *Inst, name string) (uint64, bool) {
	addr := c.ea(in)
	if addr&63 != 0 {
		c.raiseGP(name+" operand not 64-byte aligned", "Vol. 1 13.4 / Vol. 2C "+name)
		return 0, false
	}
	return addr, true
}

// xsave (0F AE /4): the components of RFBM = XCR0 AND EDX:EAX (Vol. 1
// 13.7). XINUSE is 1 for every enabled component (allowed: Vol. 1 13.6),
// so XSTATE_BV[i] ← 1 for each i in RFBM; the rest of the header is not
// written.
func xsave(c *CPU, in *Inst) {
	addr, ok := c.xsaveCheck(in, "XSAVE")
	if !ok {
		return
	}
	rfbm := c.XCR0 & (uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX])))
	hdr, ok := rd[uint64](c, in.seg, (addr+512)&in.amask)
	if !ok {
		return
	}
	// PKRU state is the 32-bit PKRU in bytes 3:0 of its 8-byte component
	// (Vol. 1 13.5.7); bytes 7:4 are read back and left as they were.
	var pkru uint64
	if rfbm&(1<<xcompPKRU) != 0 {
		if pkru, ok = rd[uint64](c, in.seg, (addr+c.pkruOffset())&in.amask); !ok {
			return
		}
		pkru = pkru&^0xFFFFFFFF | uint64(c.PKRU)
	}
	var img [512 + 8]byte
	leg := (*[512]byte)(img[:512])
	ranges := c.saveLegacyRegion(leg, rfbm)
	binary.LittleEndian.PutUint64(img[512:], hdr|rfbm)
	ranges = append(ranges, [2]int{512, 520})
	if rfbm&(1<<xcompPKRU) != 0 {
		// Checked for write access with the rest before anything is
		// written, so a fault leaves memory unchanged.
		if _, ok := c.linear(in.seg, (addr+c.pkruOffset())&in.amask, 8, accWrite); !ok {
			return
		}
	}
	if !c.writeRanges(in, addr, img[:], ranges...) {
		return
	}
	if rfbm&(1<<xcompPKRU) != 0 {
		wr(c, in.seg, (addr+c.pkruOffset())&in.amask, pkru)
	}
}

// xrstor (0F AE /5): the standard form (XCOMP_BV[63] = 0) checks that
// XSTATE_BV has no bit XCR0 lacks and that bytes 23:8 of the header are
// zero; XCOMP_BV[63] = 1 selects the compacted form where the model
// reports XSAVEC (CPUID.(EAX=0DH,ECX=1):EAX[1]; exec_xsaves.go), and is a
// non-zero byte 15:8 otherwise (Vol. 1 13.8.1). MXCSR (loaded for RFBM[1])
// may not set reserved bits; then each component of RFBM is loaded if its
// XSTATE_BV bit is set and initialised otherwise (13.8.2).
func xrstor(c *CPU, in *Inst) {
	addr, ok := c.xsaveCheck(in, "XRSTOR")
	if !ok {
		return
	}
	rfbm := c.XCR0 & (uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX])))
	var img [512 + 64]byte
	if !c.readArea(in, addr, img[:]) {
		return
	}
	bv := binary.LittleEndian.Uint64(img[512:])
	if c.feat.xsavec && binary.LittleEndian.Uint64(img[520:])>>63 != 0 {
		c.xrstorCompacted(in, addr, &img, rfbm, c.XCR0, "XRSTOR")
		return
	}
	if bv&^c.XCR0 != 0 {
		c.raiseGP("XRSTOR: XSTATE_BV sets a bit that XCR0 does not", "Vol. 1 13.8.1")
		return
	}
	if binary.LittleEndian.Uint64(img[520:]) != 0 || binary.LittleEndian.Uint64(img[528:]) != 0 {
		why := "XRSTOR: bytes 23:8 of the XSAVE header (XCOMP_BV and reserved) must be 0 in the standard form"
		if !c.feat.xsavec {
			why += " (the model has no compacted form: CPUID.(EAX=0DH,ECX=1):EAX.XSAVEC = 0)"
		}
		c.raiseGP(why, "Vol. 1 13.8.1")
		return
	}
	mx := binary.LittleEndian.Uint32(img[24:])
	if rfbm&2 != 0 && mx&^mxcsrMask != 0 {
		c.raiseGP("XRSTOR with reserved MXCSR bits set", "Vol. 1 13.8.1 / 11.6.6")
		return
	}
	var pkru uint64 // PKRU's initial configuration is 0 (Vol. 1 13.6)
	if rfbm&bv&(1<<xcompPKRU) != 0 {
		if pkru, ok = rd[uint64](c, in.seg, (addr+c.pkruOffset())&in.amask); !ok {
			return
		}
	}
	c.xrstorLoad((*[512]byte)(img[:512]), rfbm, bv, mx, pkru)
}

// xrstorLoad loads (XSTATE_BV[i] = 1) or initialises (0) each implemented
// component i of RFBM from the legacy region leg, with the MXCSR value mx
// for RFBM[1] and the PKRU component's 8 bytes pkru (Vol. 1 13.8.2,
// 13.12; initial configurations 13.6).
func (c *CPU) xrstorLoad(leg *[512]byte, rfbm, bv uint64, mx uint32, pkru uint64) {
	if rfbm&(1<<xcompPKRU) != 0 {
		// XRSTOR loads PKRU whatever CR4.PKE says (Vol. 1 13.5.7).
		if bv&(1<<xcompPKRU) == 0 {
			pkru = 0
		}
		c.setPKRU(uint32(pkru))
	}
	if rfbm&1 != 0 {
		if bv&1 != 0 {
			c.loadX87(leg)
		} else {
			c.initX87()
		}
	}
	if rfbm&2 != 0 {
		c.fpu.mxcsr = mx
		if bv&2 != 0 {
			c.loadXMM(leg)
		} else {
			for i := 0; i < c.xmmCount(); i++ {
				c.fpu.xmm[i] = [2]uint64{}
			}
		}
	}
}

// saveLegacyRegion writes the legacy region's components that rfbm
// selects into leg — x87 state for RFBM[0], MXCSR, MXCSR_MASK and the XMM
// registers for RFBM[1] (SDM Vol. 1 13.4.1) — and returns the byte
// ranges of leg they occupy, the ones the save writes to memory. XSAVE,
// XSAVEC and XSAVES share it.
func (c *CPU) saveLegacyRegion(leg *[512]byte, rfbm uint64) [][2]int {
	var ranges [][2]int
	if rfbm&1 != 0 {
		c.saveX87(leg)
		ranges = append(ranges, [2]int{0, 24}, [2]int{32, 160})
	}
	if rfbm&2 != 0 {
		binary.LittleEndian.PutUint32(leg[24:], c.fpu.mxcsr)
		binary.LittleEndian.PutUint32(leg[28:], mxcsrMask)
		c.saveXMM(leg)
		ranges = append(ranges, [2]int{24, 32}, [2]int{160, 160 + 16*c.xmmCount()})
	}
	return ranges
}

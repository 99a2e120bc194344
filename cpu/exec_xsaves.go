package cpu

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/vmx"
)

// The compaction extensions of the XSAVE feature set (SDM Vol. 1 13.2,
// 13.4.3, 13.8.2, 13.10-13.12; Vol. 2D XSAVEC, XSAVES, XRSTORS): XSAVEC
// (NP 0F C7 /4) and the compacted form of XRSTOR where the model reports
// CPUID.(EAX=0DH,ECX=1):EAX.XSAVEC[bit 1]; XSAVES (NP 0F C7 /5), XRSTORS
// (NP 0F C7 /3) and IA32_XSS (DA0H) where it reports .XSS[bit 3].
//
// vmxemu implements no supervisor state component (CPUID.(EAX=0DH,ECX=1)
// ECX and EDX are 0 on every model: the models' PT, PASID, CET and other
// supervisor components are hidden with their features), so IA32_XSS can
// only be 0: XSAVES and XRSTORS operate on XCR0's user components in the
// compacted format, and a VM exit through the XSS-exiting bitmap, which
// needs a bit set in IA32_XSS, never happens (26.1.3).

// msrXSS is IA32_XSS (SDM Vol. 4).
const msrXSS = 0xDA0

// xss is IA32_XSS: always 0 (no supported bit; see above).
func (c *CPU) xss() uint64 { return 0 }

// readXSS/writeXSS are RDMSR/WRMSR of IA32_XSS where the model reports
// XSAVES; a bit CPUID.(EAX=0DH,ECX=1):EDX:ECX does not report (every bit
// here) is #GP(0) (Vol. 4 IA32_XSS; Vol. 1 13.3).
func (c *CPU) writeXSS(v uint64) *arch.Fault {
	if v != 0 {
		f := arch.GPFault(0, "WRMSR IA32_XSS: a bit CPUID.(EAX=0DH,ECX=1):EDX:ECX does not report as a supported supervisor state component (vmxemu implements none)", "Vol. 4 IA32_XSS / Vol. 1 13.3")
		return &f
	}
	return nil
}

// compactedLayout calls f with the offset of each state component i ≥ 2
// of xcomp in the compacted format, in order: the first at 576, each next
// after the one before, aligned to 64 bytes when CPUID.(EAX=0DH,ECX=i):ECX
// bit 1 says so (Vol. 1 13.4.3); it returns the end of the last.
func (c *CPU) compactedLayout(xcomp uint64, f func(i uint32, off uint64)) uint64 {
	off := uint64(legacyHeaderSize)
	for i := uint32(2); i < 63; i++ {
		if xcomp&(1<<i) == 0 {
			continue
		}
		n, _, ecx, _ := c.plat().CPUID(c, 0xD, i)
		if ecx&2 != 0 {
			off = (off + 63) &^ 63
		}
		if f != nil {
			f(i, off)
		}
		off += uint64(n)
	}
	return off
}

// compactedPKRU is the offset of PKRU state (component 9) in a compacted
// area whose XCOMP_BV is xcomp (0 when xcomp lacks it).
func (c *CPU) compactedPKRU(xcomp uint64) uint64 {
	var at uint64
	c.compactedLayout(xcomp, func(i uint32, off uint64) {
		if i == xcompPKRU {
			at = off
		}
	})
	return at
}

// xsavesPrologue is what XSAVES and XRSTORS check before their operand,
// in priority order: #UD without the feature or CR4.OSXSAVE, #UD in VMX
// non-root operation with "enable XSAVES/XRSTORS" 0 (Vol. 3C 26.3), #NM
// with CR0.TS, #GP(0) at CPL > 0, then the VM exit when EDX:EAX, IA32_XSS
// and the XSS-exiting bitmap share a bit (26.1.3; after the faults of
// 26.1.1: qualification the displacement, instruction information the
// memory operand, 28.2.1, 28.2.5), then the 64-byte alignment #GP.
func (c *CPU) xsavesPrologue(in *Inst, name string, reason uint32) (uint64, bool) {
	if !c.feat.xsaves {
		c.raiseUD(name+" without CPUID.(EAX=0DH,ECX=1):EAX.XSS", "Vol. 2D "+name)
		return 0, false
	}
	if c.CR4&arch.CR4OSXSAVE == 0 {
		c.raiseUD(name+" with CR4.OSXSAVE=0", "Vol. 2D "+name)
		return 0, false
	}
	if c.inGuest() && !c.intercepts.Insn.Exits2(vmx.Proc2EnableXSAVES) {
		c.raiseUD(name+" in VMX non-root operation with \"enable XSAVES/XRSTORS\" = 0", "Vol. 3C 26.3")
		return 0, false
	}
	if !c.xsaveEnabled(name) || !c.requireCPL0(name) {
		return 0, false
	}
	if c.inGuest() && c.intercepts.Insn.XSSExits(c.edxEAX(), c.xss()) {
		c.guestInsnExitFull(in, reason, displacement(in), vmx.InsnInfoMem(memOperand(in)), 0)
		return 0, false
	}
	return c.xsaveAddr(in, name)
}

// edxEAX is the instruction mask EDX:EAX.
func (c *CPU) edxEAX() uint64 {
	return uint64(uint32(c.GPR[arch.RDX]))<<32 | uint64(uint32(c.GPR[arch.RAX]))
}

// xsavec: XSAVEC (NP 0F C7 /4).
func xsavec(c *CPU, in *Inst) {
	if !c.feat.xsavec {
		c.raiseUD("XSAVEC without CPUID.(EAX=0DH,ECX=1):EAX.XSAVEC", "Vol. 2D XSAVEC")
		return
	}
	addr, ok := c.xsaveCheck(in, "XSAVEC")
	if !ok {
		return
	}
	c.xsaveCompacted(in, addr, c.XCR0&c.edxEAX())
}

// xsaves: XSAVES (NP 0F C7 /5).
func xsaves(c *CPU, in *Inst) {
	addr, ok := c.xsavesPrologue(in, "XSAVES", vmx.ExitXSAVES)
	if !ok {
		return
	}
	c.xsaveCompacted(in, addr, (c.XCR0|c.xss())&c.edxEAX())
}

// xsaveCompacted is XSAVEC and XSAVES once their checks pass (Vol. 1
// 13.10, 13.11): RFBM's components in the compacted format, XSTATE_BV ←
// XINUSE AND RFBM (XINUSE is 1 for every enabled component here, as for
// XSAVE: 13.6 allows it), XCOMP_BV ← RFBM with bit 63 set; no other part
// of the header is written. MXCSR and MXCSR_MASK are saved for RFBM[1].
// XSAVES's modified optimization is not used (it is optional: 13.11).
// Every byte is checked for write access first, so a fault leaves memory
// unchanged.
func (c *CPU) xsaveCompacted(in *Inst, addr, rfbm uint64) {
	var img [512 + 16]byte
	leg := (*[512]byte)(img[:512])
	ranges := c.saveLegacyRegion(leg, rfbm)
	binary.LittleEndian.PutUint64(img[512:], rfbm)
	binary.LittleEndian.PutUint64(img[520:], rfbm|1<<63)
	ranges = append(ranges, [2]int{512, 528})
	var pkruAt, pkru uint64
	if rfbm&(1<<xcompPKRU) != 0 {
		// Bytes 3:0 are PKRU; 7:4 are read back and left as they were,
		// as XSAVE does (13.5.7).
		pkruAt = c.compactedPKRU(rfbm)
		var ok bool
		if pkru, ok = rd[uint64](c, in.seg, (addr+pkruAt)&in.amask); !ok {
			return
		}
		pkru = pkru&^0xFFFFFFFF | uint64(c.PKRU)
		if _, ok := c.linear(in.seg, (addr+pkruAt)&in.amask, 8, accWrite); !ok {
			return
		}
	}
	if !c.writeRanges(in, addr, img[:], ranges...) {
		return
	}
	if rfbm&(1<<xcompPKRU) != 0 {
		wr(c, in.seg, (addr+pkruAt)&in.amask, pkru)
	}
}

// xrstors: XRSTORS (NP 0F C7 /3): the compacted form only (Vol. 1 13.12).
func xrstors(c *CPU, in *Inst) {
	addr, ok := c.xsavesPrologue(in, "XRSTORS", vmx.ExitXRSTORS)
	if !ok {
		return
	}
	var img [512 + 64]byte
	if !c.readArea(in, addr, img[:]) {
		return
	}
	if binary.LittleEndian.Uint64(img[520:])>>63 == 0 {
		c.raiseGP("XRSTORS: XCOMP_BV[63] = 0 (XRSTORS has only the compacted form)", "Vol. 1 13.12")
		return
	}
	c.xrstorCompacted(in, addr, &img, (c.XCR0|c.xss())&c.edxEAX(), c.XCR0|c.xss(), "XRSTORS")
}

// xrstorCompacted is the compacted form of XRSTOR and XRSTORS (Vol. 1
// 13.8.1, 13.8.2, 13.12) on the area's first 576 bytes img: #GP(0) when
// XCOMP_BV[62:0] sets a bit outside allowed (XCR0, or XCR0 | IA32_XSS for
// XRSTORS), when XSTATE_BV sets a bit XCOMP_BV does not, when bytes 63:16
// of the header are not zero, or when MXCSR (loaded only for RFBM[1] =
// XSTATE_BV[1] = 1) has reserved bits; RFBM[1] with XSTATE_BV[1] = 0
// sets MXCSR to 1F80H. Each component of RFBM is then loaded or
// initialised as XSTATE_BV says, even where XCOMP_BV lacks it.
func (c *CPU) xrstorCompacted(in *Inst, addr uint64, img *[512 + 64]byte, rfbm, allowed uint64, name string) {
	bv := binary.LittleEndian.Uint64(img[512:])
	xcomp := binary.LittleEndian.Uint64(img[520:])
	const sdm = "Vol. 1 13.8.1"
	if xcomp&^(1<<63)&^allowed != 0 {
		outside := "XCR0"
		if name == "XRSTORS" {
			outside = "XCR0 | IA32_XSS"
		}
		c.raiseGP(name+": XCOMP_BV sets a bit outside "+outside, sdm)
		return
	}
	if bv&^xcomp != 0 {
		c.raiseGP(name+": XSTATE_BV sets a bit that XCOMP_BV does not", sdm)
		return
	}
	for i := 528; i < 576; i += 8 {
		if binary.LittleEndian.Uint64(img[i:]) != 0 {
			c.raiseGP(name+": bytes 63:16 of the XSAVE header must be 0 in the compacted form", sdm)
			return
		}
	}
	mx := uint32(0x1F80) // MXCSR's initial value (13.8.2)
	if rfbm&bv&2 != 0 {
		mx = binary.LittleEndian.Uint32(img[24:])
		if mx&^mxcsrMask != 0 {
			c.raiseGP(name+" with reserved MXCSR bits set", "Vol. 1 13.8.2 / 11.6.6")
			return
		}
	}
	var pkru uint64
	if rfbm&bv&(1<<xcompPKRU) != 0 {
		var ok bool
		if pkru, ok = rd[uint64](c, in.seg, (addr+c.compactedPKRU(xcomp))&in.amask); !ok {
			return
		}
	}
	c.xrstorLoad((*[512]byte)(img[:512]), rfbm, bv, mx, pkru)
}

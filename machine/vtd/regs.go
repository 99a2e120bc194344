package vtd

import (
	"encoding/binary"
	"fmt"
)

// Register offsets (VT-d spec 11.4, Table 11-1 "Register layout").
const (
	RegVER     = 0x00
	RegCAP     = 0x08
	RegECAP    = 0x10
	RegGCMD    = 0x18
	RegGSTS    = 0x1C
	RegRTADDR  = 0x20
	RegCCMD    = 0x28
	RegFSTS    = 0x34
	RegFECTL   = 0x38
	RegFEDATA  = 0x3C
	RegFEADDR  = 0x40
	RegFEUADDR = 0x44
	RegIQH     = 0x80
	RegIQT     = 0x88
	RegIQA     = 0x90
	RegICS     = 0x9C
	RegIECTL   = 0xA0
	RegIEDATA  = 0xA4
	RegIEADDR  = 0xA8
	RegIEUADDR = 0xAC
	RegIRTA    = 0xB8
	RegIVA     = 0xF0 // IOTLB registers at ECAP.IRO*16
	RegIOTLB   = 0xF8
	RegFRCD    = 0x220 // fault recording registers at CAP.FRO*16

	// Base is the unit's register base on QEMU's q35 (Q35_HOST_BRIDGE_IOMMU_ADDR).
	Base = 0xFED90000
	// Size is the register window (one 4 KiB page, 11.1).
	Size = 0x1000

	// Version 1.0 (VER: major 7:4, minor 3:0), as QEMU reports.
	Version = 0x10
)

// GCMD/GSTS bits (11.4.4, 11.4.5).
const (
	GcmdTE    = 1 << 31 // translation enable / TES
	GcmdSRTP  = 1 << 30 // set root table pointer / RTPS
	GcmdSFL   = 1 << 29
	GcmdEAFL  = 1 << 28
	GcmdWBF   = 1 << 27
	GcmdQIE   = 1 << 26 // queued invalidation enable / QIES
	GcmdIRE   = 1 << 25 // interrupt remapping enable / IRES
	GcmdSIRTP = 1 << 24 // set interrupt remap table pointer / IRTPS
	GcmdCFI   = 1 << 23 // compatibility format interrupt / CFIS
)

// CAP fields (11.4.2).
const (
	capND6       = 6                  // 16-bit domain IDs
	capSAGAW39   = 1 << 9             // SAGAW bit 1: 39-bit AGAW, 3-level tables
	capSAGAW48   = 1 << 10            // SAGAW bit 2: 48-bit AGAW, 4-level tables
	capMGAWShift = 16                 // MGAW 21:16: MGAW-1
	capFRO       = RegFRCD / 16 << 24 // FRO 33:24
	CapSLLPS2M   = 1 << 34
	CapSLLPS1G   = 1 << 35
	capPSI       = 1 << 39
	capMAMV      = 18 << 48 // MAMV 53:48 (QEMU's VTD_MAMV)
	capDWD       = 1 << 54
	capDRD       = 1 << 55
)

// ECAP fields (11.4.3).
const (
	EcapQI   = 1 << 1
	EcapIR   = 1 << 3
	EcapEIM  = 1 << 4
	EcapPT   = 1 << 6
	ecapIRO  = RegIVA / 16 << 8 // IRO 17:8
	ecapMHMV = 15 << 20
)

// FSTS, FECTL/IECTL, ICS bits (11.4.7.1, 11.4.7.2, 11.4.9.x).
const (
	FstsPFO   = 1 << 0
	FstsPPF   = 1 << 1
	FstsIQE   = 1 << 4
	FstsICE   = 1 << 5
	FstsITE   = 1 << 6
	fstsRW1C  = FstsPFO | FstsIQE | FstsICE | FstsITE
	CtlIM     = 1 << 31
	CtlIP     = 1 << 30
	IcsIWC    = 1
	frcdF     = 1 << 63
	frcdT     = 1 << 62
	ccmdICC   = 1 << 63
	iotlbIVT  = 1 << 63
	irtaEIME  = 1 << 11
	iqaQSMask = 7
)

// Config is the unit's configuration: QEMU's intel-iommu properties.
type Config struct {
	IntRemap bool // intremap=on: ECAP.IR and MHMV
	EIM      bool // eim=on: ECAP.EIM (x2APIC destinations); needs IntRemap
	NoPT     bool // pt=off: no pass-through translation type (ECAP.PT)
	AWBits   int  // aw-bits: 39 (default) or 48
}

// Validate checks the properties as QEMU's vtd_decide_config does.
func (c *Config) Validate() error {
	switch c.AWBits {
	case 0:
		c.AWBits = 39
	case 39, 48:
	default:
		return fmt.Errorf("intel-iommu: supported values for aw-bits are: 39, 48")
	}
	if c.EIM && !c.IntRemap {
		return fmt.Errorf("intel-iommu: eim=on cannot be selected without intremap=on")
	}
	return nil
}

// CAP returns the capability register for c (QEMU vtd_cap_init): 16-bit
// domain IDs, SAGAW per aw-bits, MGAW, fault recording at 0x220 (one
// register), 2 MiB and 1 GiB second-level pages, page-selective
// invalidation, MAMV 18, read and write draining.
func (c Config) CAP() uint64 {
	v := uint64(capND6|capSAGAW39|capFRO|CapSLLPS2M|CapSLLPS1G|capPSI|capMAMV|capDWD|capDRD) |
		uint64(c.AWBits-1)<<capMGAWShift
	if c.AWBits >= 48 {
		v |= capSAGAW48
	}
	return v
}

// ECAP returns the extended capability register for c: queued
// invalidation, IOTLB registers at 0xF0, pass-through, and with
// intremap=on interrupt remapping with handle mask 15 (and EIM).
func (c Config) ECAP() uint64 {
	v := uint64(EcapQI | ecapIRO)
	if !c.NoPT {
		v |= EcapPT
	}
	if c.IntRemap {
		v |= EcapIR | ecapMHMV
		if c.EIM {
			v |= EcapEIM
		}
	}
	return v
}

// Memory is the system memory the unit reads its tables from and moves
// DMA data to.
type Memory interface {
	ReadPhys(pa uint64, b []byte) error
	WritePhys(pa uint64, b []byte) error
}

// Unit is one remapping hardware unit.
type Unit struct {
	cfg  Config
	mem  Memory
	send func(Interrupt) // the unit's own interrupts (fault, invalidation events)
	cap  uint64
	ecap uint64
	haw  uint64 // host address mask: bits the tables' addresses may use

	gsts             uint32
	rtaddr, rta      uint64 // RTADDR as written; root table latched by SRTP
	ccmd, iva, iotlb uint64
	fsts             uint32
	fe               eventRegs // fault event registers (11.4.7.3-6)
	frcdLo, frcdHi   uint64
	iqh, iqt, iqa    uint64
	ics              uint32
	ie               eventRegs // invalidation event registers (11.4.9.5-8)
	irtaddr, irta    uint64    // IRTA as written; table latched by SIRTP
}

// New returns a unit in its reset state. send delivers the interrupts the
// unit generates itself (they are not remapped: VT-d 5.1.6... 7.3).
func New(cfg Config, mem Memory, send func(Interrupt)) (*Unit, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	u := &Unit{cfg: cfg, mem: mem, send: send}
	u.cap, u.ecap = cfg.CAP(), cfg.ECAP()
	u.haw = 1<<uint(cfg.AWBits) - 1
	u.fe.ctl, u.ie.ctl = CtlIM, CtlIM // 11.4.7.2, 11.4.9.4: IM resets to 1
	return u, nil
}

// CAP and ECAP return the capability registers.
func (u *Unit) CAP() uint64  { return u.cap }
func (u *Unit) ECAP() uint64 { return u.ecap }

// GSTS returns the global status register.
func (u *Unit) GSTS() uint32 { return u.gsts }

func (u *Unit) fstsValue() uint32 {
	v := u.fsts &^ (FstsPPF | 0xFF00)
	if u.frcdHi&frcdF != 0 {
		v |= FstsPPF // FRI (15:8) is 0: the only recording register
	}
	return v
}

// read64 returns the 64-bit register at off (8-aligned); 32-bit registers
// occupy their half.
func (u *Unit) read64(off uint64) uint64 {
	switch off {
	case RegVER:
		return Version
	case RegCAP:
		return u.cap
	case RegECAP:
		return u.ecap
	case RegGCMD: // GCMD (write-only, reads 0) and GSTS
		return uint64(u.gsts) << 32
	case RegRTADDR:
		return u.rtaddr
	case RegCCMD:
		return u.ccmd
	case 0x30: // 0x34 FSTS
		return uint64(u.fstsValue()) << 32
	case 0x38, 0x40:
		return u.fe.read(off - 0x38)
	case RegIQH:
		return u.iqh
	case RegIQT:
		return u.iqt
	case RegIQA:
		return u.iqa
	case 0x98: // 0x9C ICS
		return uint64(u.ics) << 32
	case 0xA0, 0xA8:
		return u.ie.read(off - 0xA0)
	case RegIRTA:
		return u.irtaddr
	case RegIVA:
		return u.iva
	case RegIOTLB:
		return u.iotlb
	case RegFRCD:
		return u.frcdLo
	case RegFRCD + 8:
		return u.frcdHi
	}
	return 0
}

// ReadMMIO implements the board's MMIO interface: 4- and 8-byte reads
// (11.2: registers are accessed as dwords or qwords).
func (u *Unit) ReadMMIO(off uint64, size int) uint64 {
	v := u.read64(off &^ 7)
	switch size {
	case 8:
		return v
	case 4:
		return v >> (8 * (off & 4)) & 0xFFFFFFFF
	}
	return v >> (8 * (off & 7)) & (1<<(8*uint(size)) - 1)
}

// WriteMMIO implements the board's MMIO interface. A dword write to half
// of a 64-bit register keeps the other half.
func (u *Unit) WriteMMIO(off uint64, size int, v uint64) {
	q := off &^ 7
	if size == 8 {
		u.write64(q, v, 0xFFFFFFFFFFFFFFFF)
		return
	}
	if size != 4 {
		return
	}
	if off&4 != 0 {
		u.write64(q, (u.read64(q)&0xFFFFFFFF)|v<<32, 0xFFFFFFFF00000000)
	} else {
		u.write64(q, (u.read64(q)&^0xFFFFFFFF)|v&0xFFFFFFFF, 0xFFFFFFFF)
	}
}

// write64 writes the register at q; touched says which bytes the access
// wrote (a 32-bit register is acted on only when its half is written).
func (u *Unit) write64(q, v, touched uint64) {
	lo, hi := touched&0xFFFFFFFF != 0, touched>>32 != 0
	switch q {
	case RegGCMD:
		// GCMD is the low half; GSTS (0x1C) is read-only.
		if lo {
			u.gcmd(uint32(v))
		}
	case RegRTADDR:
		// Bits 11:10 (TTM) select the root-table format: only the legacy
		// format 00 is supported (ECAP.SMTS 0), so they read 0.
		u.rtaddr = v & u.haw &^ 0xFFF
	case RegCCMD:
		u.ccmd = v
		if hi && v&ccmdICC != 0 {
			u.contextInvalidate()
		}
	case 0x30:
		if hi {
			u.fsts &^= uint32(v>>32) & fstsRW1C
			u.faultStatusServiced()
		}
	case 0x38, 0x40:
		u.writeEvent(&u.fe, q-0x38, v, lo, hi)
	case RegIQT:
		// QT (18:4) indexes 128-bit descriptors (IQA.DW 0).
		u.iqt = v & 0x7FFF0
		if u.gsts&GcmdQIE != 0 {
			u.processQueue()
		}
	case RegIQA:
		u.iqa = v & (u.haw&^0xFFF | iqaQSMask)
	case 0x98:
		if hi {
			u.ics &^= uint32(v>>32) & IcsIWC
			if u.ics&IcsIWC == 0 {
				u.ie.ctl &^= CtlIP
			}
		}
	case 0xA0, 0xA8:
		u.writeEvent(&u.ie, q-0xA0, v, lo, hi)
	case RegIRTA:
		if u.ecap&EcapIR == 0 {
			return
		}
		m := u.haw&^0xFFF | 0xF
		if u.ecap&EcapEIM != 0 {
			m |= irtaEIME
		}
		u.irtaddr = v & m
	case RegIVA:
		u.iva = v &^ 0xF80 // bits 11:7 reserved
	case RegIOTLB:
		u.iotlb = v
		if hi && v&iotlbIVT != 0 {
			u.iotlbInvalidate()
		}
	case RegFRCD + 8:
		if hi && v&frcdF != 0 {
			u.frcdHi &^= frcdF // F is RW1C
			u.faultStatusServiced()
		}
	}
}

// gcmd performs a global command (11.4.4): software writes GSTS with one
// bit changed. One-shot commands (SRTP, SIRTP; SFL, WBF unsupported)
// act when written as 1; the others set or clear their status bit.
func (u *Unit) gcmd(v uint32) {
	if v&GcmdSRTP != 0 {
		u.rta = u.rtaddr
		u.gsts |= GcmdSRTP
	}
	if v&GcmdTE != u.gsts&GcmdTE {
		u.gsts ^= GcmdTE
	}
	if v&GcmdQIE != u.gsts&GcmdQIE {
		// 6.5.2: enabling or disabling the queue resets its head; the
		// queue is always drained (descriptors run when IQT is
		// written), so disabling never waits.
		u.gsts ^= GcmdQIE
		u.iqh = 0
	}
	if u.ecap&EcapIR == 0 {
		return
	}
	if v&GcmdSIRTP != 0 {
		u.irta = u.irtaddr
		u.gsts |= GcmdSIRTP
	}
	if v&GcmdIRE != u.gsts&GcmdIRE {
		u.gsts ^= GcmdIRE
	}
	if v&GcmdCFI != u.gsts&GcmdCFI {
		u.gsts ^= GcmdCFI
	}
}

// contextInvalidate performs a register-based context-cache invalidation
// (11.4.6): nothing is cached, so the requested granularity is the actual
// one (CAIG 60:59 = CIRG 62:61) and ICC clears at once.
func (u *Unit) contextInvalidate() {
	cirg := u.ccmd >> 61 & 3
	u.ccmd = u.ccmd&^(ccmdICC|3<<59) | cirg<<59
}

// iotlbInvalidate performs a register-based IOTLB invalidation (11.4.8.1):
// IAIG (58:57) = IIRG (61:60); IVT clears at once.
func (u *Unit) iotlbInvalidate() {
	iirg := u.iotlb >> 60 & 3
	u.iotlb = u.iotlb&^(iotlbIVT|3<<57) | iirg<<57
}

// sendMsg sends one of the unit's own interrupt messages (address and
// data in compatibility format).
func (u *Unit) sendMsg(e *eventRegs) {
	if u.send != nil {
		u.send(DecodeCompat(uint64(e.addr)|uint64(e.uaddr)<<32, e.data))
	}
}

// eventRegs is one of the unit's two interrupt-message register sets,
// laid out alike: control and data at +0 (FECTL/FEDATA, IECTL/IEDATA),
// address and upper address at +8 (FEADDR/FEUADDR, IEADDR/IEUADDR).
type eventRegs struct{ ctl, data, addr, uaddr uint32 }

// read returns the 64 bits at off (0 or 8) of the set.
func (e *eventRegs) read(off uint64) uint64 {
	if off == 0 {
		return uint64(e.ctl) | uint64(e.data)<<32
	}
	return uint64(e.addr) | uint64(e.uaddr)<<32
}

// writeEvent writes the halves (lo, hi) of the 64 bits at off (0 or 8) of
// e: software writes only IM of the control register, and clearing IM
// with the event pending (IP) sends it (11.4.7.3, 11.4.9.5).
func (u *Unit) writeEvent(e *eventRegs, off, v uint64, lo, hi bool) {
	switch {
	case off == 0 && lo:
		e.ctl = e.ctl&CtlIP | uint32(v)&CtlIM
		if e.ctl&(CtlIM|CtlIP) == CtlIP {
			e.ctl &^= CtlIP
			u.sendMsg(e)
		}
	case lo:
		e.addr = uint32(v) &^ 3
	}
	switch {
	case off == 0 && hi:
		e.data = uint32(v >> 32)
	case hi:
		e.uaddr = uint32(v >> 32)
	}
}

// signal signals an event of e (7.3): pending (IP) while IM is set,
// otherwise sent at once; a pending event is not signalled twice.
func (u *Unit) signal(e *eventRegs) {
	if e.ctl&CtlIP != 0 {
		return
	}
	if e.ctl&CtlIM != 0 {
		e.ctl |= CtlIP
		return
	}
	u.sendMsg(e)
}

// faultEvent signals a fault condition (7.3).
func (u *Unit) faultEvent() { u.signal(&u.fe) }

// faultStatusServiced clears a pending fault event once software has
// cleared every fault status condition (11.4.7.2, IP).
func (u *Unit) faultStatusServiced() {
	if u.fstsValue()&(FstsPFO|FstsPPF|FstsIQE|FstsICE|FstsITE) == 0 {
		u.fe.ctl &^= CtlIP
	}
}

// recordFault logs a non-recoverable fault in the fault recording register
// (7.2.1 primary fault logging): if it still holds an unserviced fault,
// the new one is dropped and PFO set.
func (u *Unit) recordFault(sid uint16, reason uint8, fi uint64, read bool) {
	if u.frcdHi&frcdF != 0 {
		if u.fsts&FstsPFO == 0 {
			u.fsts |= FstsPFO
			u.faultEvent()
		}
		return
	}
	u.frcdLo = fi
	u.frcdHi = frcdF | uint64(reason)<<32 | uint64(sid)
	if read {
		u.frcdHi |= frcdT
	}
	u.faultEvent()
}

// FaultRecord returns the fault recording register (low, high qwords).
func (u *Unit) FaultRecord() (lo, hi uint64) { return u.frcdLo, u.frcdHi }

func (u *Unit) read16(pa uint64) (lo, hi uint64, err error) {
	var b [16]byte
	if err := u.mem.ReadPhys(pa, b[:]); err != nil {
		return 0, 0, err
	}
	return binary.LittleEndian.Uint64(b[:]), binary.LittleEndian.Uint64(b[8:]), nil
}

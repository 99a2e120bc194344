package vtd

import "fmt"

// Fault reasons (VT-d spec Appendix A, "Non-recoverable fault reasons").
const (
	FrRootNotPresent    = 0x01
	FrContextNotPresent = 0x02
	FrContextInvalid    = 0x03 // invalid programming of a context entry (TT, AW)
	FrBeyondAGAW        = 0x04
	FrWrite             = 0x05
	FrRead              = 0x06
	FrPagingAccess      = 0x07 // a paging entry could not be read
	FrRootAccess        = 0x08
	FrContextAccess     = 0x09
	FrRootReserved      = 0x0A
	FrContextReserved   = 0x0B
	FrPagingReserved    = 0x0C
	FrIRReserved        = 0x20 // reserved field in an interrupt request
	FrIRIndex           = 0x21
	FrIRNotPresent      = 0x22
	FrIRTableAccess     = 0x23
	FrIRReservedIRTE    = 0x24
	FrIRCompatBlocked   = 0x25
	FrIRSourceID        = 0x26
)

// Fault is a remapping fault: the reason code and the rule that fired.
type Fault struct {
	Reason uint8
	SID    uint16
	Addr   uint64
	Rule   string
}

func (f *Fault) Error() string {
	return fmt.Sprintf("VT-d fault %#02x (%s) for source %02x:%02x.%x at %#x", f.Reason, f.Rule,
		f.SID>>8, f.SID>>3&0x1F, f.SID&7, f.Addr)
}

// Paging-entry bits (9.8, second-level paging entries).
const (
	pteR      = 1 << 0
	pteW      = 1 << 1
	ptePS     = 1 << 7
	pteSNP    = 1 << 11 // reserved: ECAP.SC is 0
	pteTM     = 1 << 62 // reserved: ECAP.DT is 0
	pteAddr   = 0x000FFFFFFFFFF000
	ctxTTMask = 3 << 2
)

// Translation types of a legacy context entry (9.3).
const (
	ttUntranslated = 0
	ttDeviceTLB    = 1
	ttPassThrough  = 2
)

// Translate remaps one DMA address of source sid (bus<<8 | devfn) for a
// read or write (VT-d 3.4.2 legacy mode): with translation disabled the
// address is used as it is. A fault is returned, and recorded unless the
// context entry's FPD bit says not to.
func (u *Unit) Translate(sid uint16, iova uint64, write bool) (uint64, *Fault) {
	if u.gsts&GcmdTE == 0 {
		return iova, nil
	}
	pa, fpd, f := u.walk(sid, iova, write)
	if f != nil && !fpd {
		u.recordFault(sid, f.Reason, iova&^0xFFF, !write)
	}
	return pa, f
}

func fault(reason uint8, sid uint16, addr uint64, rule string) *Fault {
	return &Fault{Reason: reason, SID: sid, Addr: addr, Rule: rule}
}

// walk performs the root entry, context entry and second-level page walk
// (9.1, 9.3, 3.6); fpd reports the context entry's fault-processing
// disable bit once the entry has been read.
func (u *Unit) walk(sid uint16, iova uint64, write bool) (pa uint64, fpd bool, f *Fault) {
	bus, devfn := uint64(sid>>8), uint64(sid&0xFF)
	reLo, reHi, err := u.read16(u.rta + bus*16)
	if err != nil {
		return 0, false, fault(FrRootAccess, sid, iova, "9.1: the root entry is not in memory")
	}
	if reLo&1 == 0 {
		return 0, false, fault(FrRootNotPresent, sid, iova, "9.1: root entry P=0")
	}
	if reLo&0xFFE != 0 || reLo&pteAddr&^u.haw != 0 || reHi != 0 {
		return 0, false, fault(FrRootReserved, sid, iova, "9.1: reserved bit set in a present root entry")
	}
	ceLo, ceHi, err := u.read16(reLo&pteAddr + devfn*16)
	if err != nil {
		return 0, false, fault(FrContextAccess, sid, iova, "9.3: the context entry is not in memory")
	}
	if ceLo&1 == 0 {
		return 0, false, fault(FrContextNotPresent, sid, iova, "9.3: context entry P=0")
	}
	fpd = ceLo&2 != 0
	if ceLo&0xFF0 != 0 || ceLo&pteAddr&^u.haw != 0 || ceHi&0x80 != 0 || ceHi>>24 != 0 {
		return 0, fpd, fault(FrContextReserved, sid, iova, "9.3: reserved bit set in a present context entry")
	}
	switch (ceLo & ctxTTMask) >> 2 {
	case ttUntranslated:
	case ttPassThrough:
		if u.ecap&EcapPT == 0 {
			return 0, fpd, fault(FrContextInvalid, sid, iova, "9.3: TT=10b (pass-through) without ECAP.PT")
		}
		return iova, fpd, nil
	case ttDeviceTLB:
		return 0, fpd, fault(FrContextInvalid, sid, iova, "9.3: TT=01b (device-TLB) without ECAP.DT")
	default:
		return 0, fpd, fault(FrContextInvalid, sid, iova, "9.3: TT=11b is reserved")
	}
	aw := ceHi & 7
	if aw > 4 || u.cap>>(8+aw)&1 == 0 {
		return 0, fpd, fault(FrContextInvalid, sid, iova, fmt.Sprintf("9.3: AW=%d is not in CAP.SAGAW", aw))
	}
	levels := int(aw) + 2
	agaw := uint(30 + 9*aw)
	if iova>>agaw != 0 {
		return 0, fpd, fault(FrBeyondAGAW, sid, iova, fmt.Sprintf("3.6: address above the context's %d-bit AGAW", agaw))
	}
	table := ceLo & pteAddr
	acc := uint64(pteR | pteW)
	for level := levels; level >= 1; level-- {
		shift := uint(12 + 9*(level-1))
		var b [8]byte
		if err := u.mem.ReadPhys(table+(iova>>shift&0x1FF)*8, b[:]); err != nil {
			return 0, fpd, fault(FrPagingAccess, sid, iova, "3.6: a second-level paging entry is not in memory")
		}
		pte := le64(b[:])
		if pte&(pteR|pteW) == 0 {
			return 0, fpd, permFault(sid, iova, write, level, "the entry is not present (R=W=0)")
		}
		leaf := level == 1 || pte&ptePS != 0
		if r := u.reserved(pte, level, leaf); r != "" {
			return 0, fpd, fault(FrPagingReserved, sid, iova, "9.8: "+r)
		}
		acc &= pte & (pteR | pteW)
		if !leaf {
			table = pte & pteAddr
			continue
		}
		if write && acc&pteW == 0 {
			return 0, fpd, permFault(sid, iova, true, level, "W=0 on the walk")
		}
		if !write && acc&pteR == 0 {
			return 0, fpd, permFault(sid, iova, false, level, "R=0 on the walk")
		}
		size := uint64(1) << shift
		return pte&pteAddr&^(size-1) | iova&(size-1), fpd, nil
	}
	panic("unreachable")
}

func permFault(sid uint16, iova uint64, write bool, level int, why string) *Fault {
	if write {
		return fault(FrWrite, sid, iova, fmt.Sprintf("3.6: write denied at level %d: %s", level, why))
	}
	return fault(FrRead, sid, iova, fmt.Sprintf("3.6: read denied at level %d: %s", level, why))
}

// reserved checks a present second-level entry's reserved bits (9.8):
// address bits at and above the host address width (up to bit 51); PS
// in an SL-PML4E, and in an SL-PDPE or SL-PDE unless CAP.SLLPS reports
// 1 GiB or 2 MiB pages; in a large leaf the address bits below its
// size; in a leaf SNP (ECAP.SC 0) and TM (ECAP.DT 0).
func (u *Unit) reserved(pte uint64, level int, leaf bool) string {
	if pte&pteAddr&^u.haw != 0 {
		return "address bits beyond the host address width"
	}
	switch {
	case level == 4 && pte&ptePS != 0:
		return "PS set in an SL-PML4E"
	case level == 3 && pte&ptePS != 0 && u.cap&CapSLLPS1G == 0:
		return "PS set in an SL-PDPE without 1-GiB page support"
	case level == 2 && pte&ptePS != 0 && u.cap&CapSLLPS2M == 0:
		return "PS set in an SL-PDE without 2-MiB page support"
	}
	if !leaf {
		return ""
	}
	if pte&pteSNP != 0 {
		return "SNP set (ECAP.SC=0)"
	}
	if pte&pteTM != 0 {
		return "TM set (ECAP.DT=0)"
	}
	if level > 1 && pte&pteAddr&(1<<uint(12+9*(level-1))-1) != 0 {
		return "large-page address bits below the page size"
	}
	return ""
}

func le64(b []byte) uint64 {
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// DMA moves buf to (write) or from memory at bus address addr for source
// sid, page by page through Translate.
func (u *Unit) DMA(sid uint16, addr uint64, buf []byte, write bool) error {
	for len(buf) > 0 {
		n := min(uint64(len(buf)), 0x1000-addr&0xFFF)
		pa, f := u.Translate(sid, addr, write)
		if f != nil {
			return f
		}
		var err error
		if write {
			err = u.mem.WritePhys(pa, buf[:n])
		} else {
			err = u.mem.ReadPhys(pa, buf[:n])
		}
		if err != nil {
			return fmt.Errorf("vtd: DMA at %#x (host %#x): %w", addr, pa, err)
		}
		buf, addr = buf[n:], addr+n
	}
	return nil
}

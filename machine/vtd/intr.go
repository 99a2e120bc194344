package vtd

import "fmt"

// Interrupt is an interrupt request in compatibility form, as the local
// APICs take it: after remapping, or passed through.
type Interrupt struct {
	Dest         uint32 // APIC ID (8 bits in xAPIC mode, 32 with EIM)
	Vector       uint8
	DeliveryMode uint8 // 0 fixed, 1 lowest priority, 2 SMI, 4 NMI, 5 INIT, 7 ExtINT
	Logical      bool
	Level        bool // trigger mode
	RH           bool // redirection hint
	X2           bool // Dest is a 32-bit x2APIC ID (IRTE in x2APIC mode)
}

// DecodeCompat decodes a compatibility-format MSI (SDM Vol. 3A 11.11.1,
// 11.11.2; VT-d 5.1.2): destination ID in address bits 19:12, redirection
// hint 3, destination mode 2; vector, delivery mode 10:8 and trigger mode
// 15 in the data.
func DecodeCompat(addr uint64, data uint32) Interrupt {
	return Interrupt{
		Dest:         uint32(addr >> 12 & 0xFF),
		Logical:      addr>>2&1 != 0,
		RH:           addr>>3&1 != 0,
		Vector:       uint8(data),
		DeliveryMode: uint8(data >> 8 & 7),
		Level:        data>>15&1 != 0,
	}
}

// IRTE bits (9.10, remapped format).
const (
	irteP    = 1 << 0
	irteFPD  = 1 << 1
	irteDM   = 1 << 2
	irteRH   = 1 << 3
	irteTM   = 1 << 4
	irteIM   = 1 << 15 // posted: ECAP.PI is 0, reserved
	irteRsvd = 0x7000 | 0xFF000000
	// xAPIC mode: destination in 47:40, bits 39:32 and 63:48 reserved.
	irteRsvdXAPIC = 0xFFFF00FF00000000
)

// Remap processes an interrupt request: the address and data of a
// message-signalled write to 0xFEEx_xxxx from source sid (hasSID false:
// the request carries no requester ID, which skips source-ID
// verification). ok is false when the request is blocked (a fault,
// recorded unless the IRTE's FPD says not to).
//
// With interrupt remapping disabled (GSTS.IRES 0) every request passes in
// compatibility format (5.1.2). Enabled: a compatibility-format request
// (address bit 4 clear) passes only when GSTS.CFIS is set and IRTA.EIME
// is clear (5.1.2.1); a remappable-format one (5.1.2.2) is translated
// through its IRTE (9.10).
func (u *Unit) Remap(sid uint16, hasSID bool, addr uint64, data uint32) (Interrupt, bool) {
	if u.gsts&GcmdIRE == 0 {
		return DecodeCompat(addr, data), true
	}
	if addr>>4&1 == 0 {
		if u.gsts&GcmdCFI != 0 && u.irta&irtaEIME == 0 {
			return DecodeCompat(addr, data), true
		}
		u.recordFault(sid, FrIRCompatBlocked, 0, false)
		return Interrupt{}, false
	}
	in, f, fpd := u.remap(sid, hasSID, addr, data)
	if f != nil {
		if !fpd {
			u.recordFault(sid, f.Reason, f.Addr<<48, false)
		}
		return Interrupt{}, false
	}
	return in, true
}

// remap translates a remappable-format request; a fault's Addr is the
// interrupt index (recorded in FI bits 63:48, 11.4.14).
func (u *Unit) remap(sid uint16, hasSID bool, addr uint64, data uint32) (Interrupt, *Fault, bool) {
	handle := addr>>5&0x7FFF | (addr>>2&1)<<15
	idx := handle
	if addr>>3&1 != 0 { // SHV: subhandle in data 15:0
		idx = (handle + uint64(data&0xFFFF)) & 0xFFFF
	}
	if addr>>32 != 0 || addr&3 != 0 {
		return Interrupt{}, fault(FrIRReserved, sid, idx, "5.1.2.2: reserved address bits set in a remappable request"), false
	}
	if idx >= 1<<(u.irta&0xF+1) {
		return Interrupt{}, fault(FrIRIndex, sid, idx, fmt.Sprintf("5.1.3: index %d beyond the table's %d entries", idx, 1<<(u.irta&0xF+1))), false
	}
	lo, hi, err := u.read16(u.irta&^0xFFF + idx*16)
	if err != nil {
		return Interrupt{}, fault(FrIRTableAccess, sid, idx, "5.1.3: the IRTE is not in memory"), false
	}
	fpd := lo&irteFPD != 0
	if lo&irteP == 0 {
		return Interrupt{}, fault(FrIRNotPresent, sid, idx, "9.10: IRTE P=0"), fpd
	}
	eime := u.irta&irtaEIME != 0
	if lo&irteIM != 0 || lo&irteRsvd != 0 || !eime && lo&irteRsvdXAPIC != 0 || hi>>20 != 0 {
		return Interrupt{}, fault(FrIRReservedIRTE, sid, idx, "9.10: reserved bit set in a present IRTE"), fpd
	}
	if hasSID {
		if r := verifySID(sid, hi); r != "" {
			code := uint8(FrIRSourceID)
			if hi>>18&3 == 3 {
				code = FrIRReservedIRTE
			}
			return Interrupt{}, fault(code, sid, idx, r), fpd
		}
	}
	in := Interrupt{
		Vector:       uint8(lo >> 16),
		DeliveryMode: uint8(lo >> 5 & 7),
		Logical:      lo&irteDM != 0,
		RH:           lo&irteRH != 0,
		Level:        lo&irteTM != 0,
		Dest:         uint32(lo >> 32),
	}
	if eime {
		in.X2 = true
	} else {
		in.Dest = uint32(lo >> 40 & 0xFF)
	}
	return in, nil, fpd
}

// sqMasks are the SID bits the SQ field compares (9.10: 00 all 16 bits,
// 01 ignore bit 2, 10 ignore bits 2:1, 11 ignore bits 2:0).
var sqMasks = [4]uint16{0xFFFF, 0xFFFB, 0xFFF9, 0xFFF8}

// verifySID checks the requester against the IRTE's SVT/SQ/SID (9.10).
func verifySID(sid uint16, hi uint64) string {
	want := uint16(hi)
	switch hi >> 18 & 3 {
	case 0:
		return ""
	case 1:
		m := sqMasks[hi>>16&3]
		if sid&m != want&m {
			return fmt.Sprintf("9.10: SVT=01b: requester %#04x does not match SID %#04x (SQ=%d)", sid, want, hi>>16&3)
		}
	case 2:
		if b := sid >> 8; b < want>>8 || b > want&0xFF {
			return fmt.Sprintf("9.10: SVT=10b: requester bus %#x outside [%#x, %#x]", b, want>>8, want&0xFF)
		}
	default:
		return "9.10: SVT=11b is reserved"
	}
	return ""
}

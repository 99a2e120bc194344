package firmware

import (
	"encoding/binary"

	"github.com/vmxemu/vmxemu/arch"
)

// WakingVector reads Firmware_Waking_Vector from the FACS bytes at
// FACSAddr (ACPI 6.5 5.2.10, Table 5.14): the real-mode address where the
// operating system wants to resume after S3. It returns 0 when the FACS is
// not there (signature or length damaged) or the OS set no vector.
//
// X_Firmware_Waking_Vector (the protected- or 64-bit-mode entry) is not
// used: SeaBIOS, which vmxemu's firmware stands in for, resumes only at the
// real-mode vector (src/fw/biostables.c find_resume_vector), and so does
// vmxemu.
func WakingVector(facs []byte) uint32 {
	le := binary.LittleEndian
	if len(facs) < 64 || string(facs[:4]) != "FACS" || le.Uint32(facs[4:]) < 64 {
		return 0
	}
	return le.Uint32(facs[facsOffWakingVector:])
}

// ResumeState is the BSP's state when the firmware hands control to the
// waking vector after S3 (ACPI 6.5 5.2.10, Firmware_Waking_Vector: real
// mode, CS:IP = (vector >> 4):(vector & 0xF) — 0x12345 is entered at
// 1234:0005): the post-BIOS real-mode state Boot.State gives a real-mode
// entry (caching enabled, the IVT at 0), with that CS:IP.
func ResumeState(vector uint32) arch.State {
	b := Boot{Mode: ModeReal16, Entry: uint64(vector)}
	s := b.State()
	cs := uint16(vector >> 4)
	s.Seg[arch.CS] = arch.Segment{Selector: cs, Base: uint64(cs) << 4, Limit: 0xFFFF, Attr: attrCode16}
	s.RIP = uint64(vector & 0xF)
	return s
}

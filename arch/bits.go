package arch

// RFLAGS bits (SDM Vol. 1, 3.4.3, Figure 3-8).
const (
	FlagCF   = 1 << 0
	FlagRes1 = 1 << 1 // reserved, always 1
	FlagPF   = 1 << 2
	FlagAF   = 1 << 4
	FlagZF   = 1 << 6
	FlagSF   = 1 << 7
	FlagTF   = 1 << 8
	FlagIF   = 1 << 9
	FlagDF   = 1 << 10
	FlagOF   = 1 << 11
	FlagIOPL = 3 << 12
	FlagNT   = 1 << 14
	FlagRF   = 1 << 16
	FlagVM   = 1 << 17
	FlagAC   = 1 << 18
	FlagVIF  = 1 << 19
	FlagVIP  = 1 << 20
	FlagID   = 1 << 21

	// FlagsArith are the six status flags the arithmetic instructions set.
	FlagsArith = FlagCF | FlagPF | FlagAF | FlagZF | FlagSF | FlagOF
	// FlagsDefined are the bits of RFLAGS that are not reserved.
	FlagsDefined = FlagsArith | FlagTF | FlagIF | FlagDF | FlagIOPL | FlagNT |
		FlagRF | FlagVM | FlagAC | FlagVIF | FlagVIP | FlagID
)

// CR0 bits (SDM Vol. 3A, 2.5, Figure 2-7).
const (
	CR0PE = 1 << 0
	CR0MP = 1 << 1
	CR0EM = 1 << 2
	CR0TS = 1 << 3
	CR0ET = 1 << 4
	CR0NE = 1 << 5
	CR0WP = 1 << 16
	CR0AM = 1 << 18
	CR0NW = 1 << 29
	CR0CD = 1 << 30
	CR0PG = 1 << 31
)

// CR4 bits (SDM Vol. 3A, 2.5, Figure 2-7).
const (
	CR4VME        = 1 << 0
	CR4PVI        = 1 << 1
	CR4TSD        = 1 << 2
	CR4DE         = 1 << 3
	CR4PSE        = 1 << 4
	CR4PAE        = 1 << 5
	CR4MCE        = 1 << 6
	CR4PGE        = 1 << 7
	CR4PCE        = 1 << 8
	CR4OSFXSR     = 1 << 9
	CR4OSXMMEXCPT = 1 << 10
	CR4UMIP       = 1 << 11
	CR4LA57       = 1 << 12
	CR4VMXE       = 1 << 13
	CR4SMXE       = 1 << 14
	CR4FSGSBASE   = 1 << 16
	CR4PCIDE      = 1 << 17
	CR4OSXSAVE    = 1 << 18
	CR4KL         = 1 << 19
	CR4SMEP       = 1 << 20
	CR4SMAP       = 1 << 21
	CR4PKE        = 1 << 22
	CR4CET        = 1 << 23
	CR4PKS        = 1 << 24
)

// IA32_EFER bits (SDM Vol. 3A, 2.2.1, Figure 2-4).
const (
	EFERSCE = 1 << 0  // SYSCALL enable
	EFERLME = 1 << 8  // IA-32e mode enable
	EFERLMA = 1 << 10 // IA-32e mode active
	EFERNXE = 1 << 11 // execute-disable enable
)

// Segment register indices, in the order of the ModRM sreg encoding
// (SDM Vol. 2A, 3.1.1.3, Table 3-... "Sreg").
const (
	ES = iota
	CS
	SS
	DS
	FS
	GS
	// NumSegs is the number of segment registers.
	NumSegs
)

// SegNames are the assembler names of the segment registers, by index.
var SegNames = [NumSegs]string{"es", "cs", "ss", "ds", "fs", "gs"}

// General-purpose register indices as encoded in ModRM/REX.
const (
	RAX = iota
	RCX
	RDX
	RBX
	RSP
	RBP
	RSI
	RDI
	R8
	R9
	R10
	R11
	R12
	R13
	R14
	R15
)

// Segment descriptor access-rights bits as held in a hidden cache
// (SDM Vol. 3A, 3.4.5, Figure 3-8), in the layout of bits 8..23 of the
// descriptor's high dword shifted down by 8 (the VMCS access-rights layout,
// SDM Vol. 3C 24.4.1, without the "unusable" bit 16).
const (
	ARType     = 0xF     // segment type
	ARAccessed = 1 << 0  // type bit 0: accessed
	ARS        = 1 << 4  // descriptor type: 1 = code/data
	ARDPL      = 3 << 5  // descriptor privilege level
	ARP        = 1 << 7  // present
	ARAVL      = 1 << 12 // available for system software
	ARL        = 1 << 13 // 64-bit code segment
	ARDB       = 1 << 14 // default operation size / big
	ARG        = 1 << 15 // granularity
	ARUnusable = 1 << 16 // segment unusable (null selector loaded)

	// Type field for code/data segments (S=1).
	ARCode       = 1 << 3 // executable
	ARConforming = 1 << 2 // code: conforming
	ARExpandDown = 1 << 2 // data: expand-down
	ARReadable   = 1 << 1 // code: readable
	ARWritable   = 1 << 1 // data: writable
)

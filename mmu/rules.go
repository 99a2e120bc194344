package mmu

// Rule texts carried by the faults this package raises (arch.Fault.Rule).
//
// Structural faults name the entry: "<ENTRY> not present (P=0)" and
// "reserved bit <n> set in <ENTRY>", where <ENTRY> is one of the Entry*
// names below and <n> is the highest reserved bit that is set. The access
// rights faults use the fixed texts below.
const (
	EntryPML5E = "PML5E"
	EntryPML4E = "PML4E"
	EntryPDPTE = "PDPTE"
	EntryPDE   = "PDE"
	EntryPTE   = "PTE"

	// RuleNotPresentSuffix follows the entry name in a not-present fault.
	RuleNotPresentSuffix = " not present (P=0)"
	// RuleReservedPrefix starts a reserved-bit fault: "reserved bit 51 set in PML4E".
	RuleReservedPrefix = "reserved bit "

	RuleUserSupervisorPage  = "user-mode access to supervisor-mode page (U/S=0 in some paging-structure entry)"
	RuleUserWriteReadOnly   = "user-mode write to read-only page (R/W=0 in some paging-structure entry)"
	RuleWriteReadOnlyWP     = "write to read-only page with CR0.WP=1 (R/W=0 in some paging-structure entry)"
	RuleUserFetchSupervisor = "user-mode instruction fetch from supervisor-mode page"
	RuleNX                  = "NX: instruction fetch from execute-disabled page (XD=1 in some paging-structure entry, IA32_EFER.NXE=1)"
	RuleSMEP                = "SMEP: supervisor fetch from user page (CR4.SMEP=1)"
	RuleSMAP                = "SMAP: supervisor data access to user page with RFLAGS.AC=0 (CR4.SMAP=1)"
	RuleSMAPImplicit        = "SMAP: implicit supervisor access to user page (CR4.SMAP=1; RFLAGS.AC does not apply)"
	RulePKUAccessDisable    = "PKU: data access to user page whose key has PKRU.AD=1"
	RulePKUWriteDisable     = "PKU: write to user page whose key has PKRU.WD=1 (user-mode access or CR0.WP=1)"
	RulePKSAccessDisable    = "PKS: data access to supervisor page whose key has IA32_PKRS.AD=1"
	RulePKSWriteDisable     = "PKS: write to supervisor page whose key has IA32_PKRS.WD=1 with CR0.WP=1"
	// RulePDPTEReservedPrefix starts the #GP(0) rule of LoadPDPTEs:
	// "PDPTE 2 has P=1 and reserved bit 63 set".
	RulePDPTEReservedPrefix = "PDPTE "
)

// SDM references carried by the faults (arch.Fault.SDM).
const (
	SDM32Bit      = "Vol. 3A 4.3 (32-bit paging), 4.7"
	SDM32BitPDE4M = "Vol. 3A 4.3, Table 4-4 (PDE that maps a 4-MByte page)"
	SDMPAE        = "Vol. 3A 4.4.2 (PAE paging), 4.7"
	SDMPDPTELoad  = "Vol. 3A 4.4.1 (PDPTE registers) / MOV CR #GP(0)"
	SDMLong       = "Vol. 3A 4.5 (4-level and 5-level paging), 4.7"
	SDMRights     = "Vol. 3A 4.6.1 (determination of access rights)"
	SDMProtKeys   = "Vol. 3A 4.6.2 (protection keys)"
)

package ept

import "fmt"

// Caps are a processor's EPT and VPID capabilities: IA32_VMX_EPT_VPID_CAP
// (SDM Vol. 3D A.10) and the physical-address width they are checked
// against.
type Caps struct {
	// MSR is IA32_VMX_EPT_VPID_CAP.
	MSR uint64
	// MaxPhysAddr is MAXPHYADDR (CPUID.80000008H:EAX[7:0]).
	MaxPhysAddr uint
}

// Capability bits of IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D A.10).
const (
	CapExecOnly       = 1 << 0  // execute-only translations
	CapWalk4          = 1 << 6  // page-walk length of 4
	CapWalk5          = 1 << 7  // page-walk length of 5
	CapUC             = 1 << 8  // EPT paging structures may be uncacheable
	CapWB             = 1 << 14 // EPT paging structures may be write-back
	Cap2M             = 1 << 16 // EPT PDEs may map 2-MiB pages
	Cap1G             = 1 << 17 // EPT PDPTEs may map 1-GiB pages
	CapINVEPT         = 1 << 20 // INVEPT is supported
	CapAD             = 1 << 21 // accessed and dirty flags for EPT
	CapAdvExitInfo    = 1 << 22 // advanced VM-exit information for EPT violations
	CapINVEPTSingle   = 1 << 25 // INVEPT single-context type
	CapINVEPTAll      = 1 << 26 // INVEPT all-context type
	CapINVVPID        = 1 << 32 // INVVPID is supported
	CapINVVPIDAddr    = 1 << 40 // INVVPID individual-address type
	CapINVVPIDSingle  = 1 << 41 // INVVPID single-context type
	CapINVVPIDAll     = 1 << 42 // INVVPID all-context type
	CapINVVPIDRetainG = 1 << 43 // INVVPID single-context-retaining-globals type
)

// Has reports whether every bit of mask is set in the capability MSR.
func (c Caps) Has(mask uint64) bool { return c.MSR&mask == mask }

// INVEPT types (SDM Vol. 3C 31.3 INVEPT).
const (
	INVEPTSingle = 1
	INVEPTAll    = 2
)

// INVVPID types (SDM Vol. 3C 31.3 INVVPID).
const (
	INVVPIDAddr    = 0
	INVVPIDSingle  = 1
	INVVPIDAll     = 2
	INVVPIDRetainG = 3
)

// INVEPTType reports whether the processor supports INVEPT type t:
// IA32_VMX_EPT_VPID_CAP bit 25 (single-context) or 26 (all-context);
// other types never (SDM Vol. 3D A.10).
func (c Caps) INVEPTType(t uint64) bool {
	switch t {
	case INVEPTSingle:
		return c.Has(CapINVEPTSingle)
	case INVEPTAll:
		return c.Has(CapINVEPTAll)
	}
	return false
}

// INVVPIDType reports whether the processor supports INVVPID type t:
// IA32_VMX_EPT_VPID_CAP bit 40+t for t in 0..3; other types never (SDM
// Vol. 3D A.10).
func (c Caps) INVVPIDType(t uint64) bool {
	return t <= 3 && c.MSR>>(40+t)&1 != 0
}

// EPTP fields (SDM Vol. 3C 25.6.11, Table 25-9).
const (
	EPTPMemTypeMask = 7      // bits 2:0: memory type of the EPT paging structures
	EPTPWalkShift   = 3      // bits 5:3: page-walk length minus 1
	EPTPAD          = 1 << 6 // bit 6: accessed and dirty flags enabled
)

// Pointer is an EPT pointer (EPTP, SDM Vol. 3C 25.6.11).
type Pointer uint64

// Levels is the page-walk length, EPTP bits 5:3 plus 1.
func (p Pointer) Levels() int { return int(p>>EPTPWalkShift&7) + 1 }

// AD reports whether accessed and dirty flags are enabled (bit 6).
func (p Pointer) AD() bool { return p&EPTPAD != 0 }

// Root is the physical address of the EPT PML4 (or PML5) table, bits
// N-1:12.
func (p Pointer) Root() uint64 { return uint64(p) &^ 0xFFF & (1<<52 - 1) }

// CheckEPTP checks an EPT pointer as VM entry does with "enable EPT" set
// (SDM Vol. 3C 27.2.1.1) and INVEPT does for its single-context type
// (31.3 INVEPT): the field layout is 25.6.11's. It returns "" for a valid
// EPTP, else the rule that fails, naming the bit and the capability; the
// caller cites the section of the check it runs (entry or INVEPT).
func (c Caps) CheckEPTP(eptp uint64) string {
	switch mt := eptp & EPTPMemTypeMask; {
	case mt == 0 && !c.Has(CapUC):
		return "EPTP bits 2:0 (memory type) are 0 (UC), which IA32_VMX_EPT_VPID_CAP bit 8 does not allow"
	case mt == 6 && !c.Has(CapWB):
		return "EPTP bits 2:0 (memory type) are 6 (WB), which IA32_VMX_EPT_VPID_CAP bit 14 does not allow"
	case mt != 0 && mt != 6:
		return fmt.Sprintf("EPTP bits 2:0 (memory type) are %d: only 0 (UC) and 6 (WB) are EPT paging-structure memory types", mt)
	}
	switch n := Pointer(eptp).Levels(); {
	case n == 4 && !c.Has(CapWalk4):
		return "EPTP bits 5:3 give a page-walk length of 4, which IA32_VMX_EPT_VPID_CAP bit 6 does not allow"
	case n == 5 && !c.Has(CapWalk5):
		return "EPTP bits 5:3 give a page-walk length of 5, which IA32_VMX_EPT_VPID_CAP bit 7 does not allow"
	case n != 4 && n != 5:
		return fmt.Sprintf("EPTP bits 5:3 give a page-walk length of %d: only 4 and 5 exist", n)
	}
	if eptp&EPTPAD != 0 && !c.Has(CapAD) {
		return "EPTP bit 6 (enable accessed and dirty flags) is 1, which IA32_VMX_EPT_VPID_CAP bit 21 does not allow"
	}
	if x := eptp >> 7 & 0x1F; x != 0 {
		return fmt.Sprintf("EPTP bits 11:7 are reserved and must be 0 (they hold %#x)", x)
	}
	if c.MaxPhysAddr < 64 && eptp>>c.MaxPhysAddr != 0 {
		return fmt.Sprintf("EPTP bits 63:%d (beyond MAXPHYADDR) must be 0", c.MaxPhysAddr)
	}
	return ""
}

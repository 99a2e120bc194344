package arch

import "fmt"

// Exception vectors (SDM Vol. 3A, 6.3.1, Table 6-1).
const (
	VecDE  = 0  // Divide Error
	VecDB  = 1  // Debug
	VecNMI = 2  // Non-maskable interrupt
	VecBP  = 3  // Breakpoint (INT3)
	VecOF  = 4  // Overflow (INTO)
	VecBR  = 5  // BOUND range exceeded
	VecUD  = 6  // Invalid opcode
	VecNM  = 7  // Device not available
	VecDF  = 8  // Double fault
	VecTS  = 10 // Invalid TSS
	VecNP  = 11 // Segment not present
	VecSS  = 12 // Stack-segment fault
	VecGP  = 13 // General protection
	VecPF  = 14 // Page fault
	VecMF  = 16 // x87 floating-point error
	VecAC  = 17 // Alignment check
	VecMC  = 18 // Machine check
	VecXM  = 19 // SIMD floating-point exception
	VecVE  = 20 // Virtualization exception
	VecCP  = 21 // Control-protection exception
)

var vectorMnemonics = [...]string{
	"#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "#CSO",
	"#TS", "#NP", "#SS", "#GP", "#PF", "#15", "#MF", "#AC", "#MC", "#XM",
	"#VE", "#CP",
}

// VectorName returns the SDM mnemonic of an exception vector ("#GP"), or
// "INT n" for vectors that are not exceptions.
func VectorName(v uint8) string {
	if int(v) < len(vectorMnemonics) {
		return vectorMnemonics[v]
	}
	return fmt.Sprintf("INT 0x%02x", v)
}

// HasErrorCode reports whether delivering exception vector v pushes an
// error code (SDM Vol. 3A, 6.3.1, Table 6-1 "Error Code" column).
func HasErrorCode(v uint8) bool {
	switch v {
	case VecDF, VecTS, VecNP, VecSS, VecGP, VecPF, VecAC, VecCP:
		return true
	}
	return false
}

// Fault is an architectural exception raised by a check, together with the
// rule that raised it. It is a plain value: producing one allocates nothing.
type Fault struct {
	Vector   uint8
	HasError bool
	Code     uint32
	// Rule is a short, human-readable statement of the check that failed,
	// e.g. "CR0.PG=1 requires CR0.PE=1".
	Rule string
	// SDM is the section of the Intel SDM that states the rule,
	// e.g. "Vol. 3A 2.5 / MOV CR0 #GP(0)".
	SDM string
	// Addr is the faulting linear address for #PF (the value loaded into CR2).
	Addr uint64
	// Trap marks an exception reported after its instruction (a trap,
	// SDM Vol. 3A 6.5): its saved RFLAGS keeps RF as it was, where a
	// fault's has RF=1.
	Trap bool
	// DR6 holds the DR6 status bits a #DB sets (B0-B3, BD, BS, BT).
	//
	// CR2 (from Addr), DR6 and RF are side effects of delivering the
	// exception, not of raising it: an exception that becomes a VM exit
	// instead leaves them untouched (SDM Vol. 3C 28.1).
	DR6 uint64
}

// DR6 status bits (SDM Vol. 3B 18.2.3).
const (
	DR6BD = 1 << 13 // debug-register access detected (DR7.GD)
	DR6BS = 1 << 14 // single step
	DR6BT = 1 << 15 // task switch (T flag of the new TSS)
)

// Error renders the fault as "#GP(0): rule [SDM ...]".
func (f *Fault) Error() string {
	s := VectorName(f.Vector)
	if f.HasError {
		s += fmt.Sprintf("(0x%x)", f.Code)
	}
	if f.Vector == VecPF {
		s += fmt.Sprintf(" at 0x%x", f.Addr)
	}
	if f.Rule != "" {
		s += ": " + f.Rule
	}
	if f.SDM != "" {
		s += " [SDM " + f.SDM + "]"
	}
	return s
}

// GPFault returns #GP(code) with its rule.
func GPFault(code uint32, rule, sdm string) Fault {
	return Fault{Vector: VecGP, HasError: true, Code: code, Rule: rule, SDM: sdm}
}

// SSFault returns #SS(code) with its rule.
func SSFault(code uint32, rule, sdm string) Fault {
	return Fault{Vector: VecSS, HasError: true, Code: code, Rule: rule, SDM: sdm}
}

// UDFault returns #UD with its rule.
func UDFault(rule, sdm string) Fault {
	return Fault{Vector: VecUD, Rule: rule, SDM: sdm}
}

// NPFault returns #NP(code) with its rule.
func NPFault(code uint32, rule, sdm string) Fault {
	return Fault{Vector: VecNP, HasError: true, Code: code, Rule: rule, SDM: sdm}
}

// TSFault returns #TS(code) with its rule.
func TSFault(code uint32, rule, sdm string) Fault {
	return Fault{Vector: VecTS, HasError: true, Code: code, Rule: rule, SDM: sdm}
}

// Page-fault error code bits (SDM Vol. 3A, 4.7, Figure 4-12).
const (
	PFErrP    = 1 << 0  // 0: non-present page; 1: protection violation
	PFErrWR   = 1 << 1  // access was a write
	PFErrUS   = 1 << 2  // access was a user-mode access
	PFErrRSVD = 1 << 3  // a reserved bit was set in a paging-structure entry
	PFErrID   = 1 << 4  // access was an instruction fetch
	PFErrPK   = 1 << 5  // protection-key violation
	PFErrSS   = 1 << 6  // shadow-stack access
	PFErrSGX  = 1 << 15 // SGX-specific access-control violation
)

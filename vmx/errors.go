package vmx

import "fmt"

// InstrError is a VM-instruction error number (SDM Vol. 3C 31.4, Table
// 31-1), written to the VM-instruction error field by VMfailValid.
type InstrError uint32

// VM-instruction error numbers.
const (
	ErrVMCALLInRoot           InstrError = 1
	ErrVMCLEARInvalidAddr     InstrError = 2
	ErrVMCLEARVMXONPtr        InstrError = 3
	ErrVMLAUNCHNonClear       InstrError = 4
	ErrVMRESUMENonLaunched    InstrError = 5
	ErrVMRESUMEAfterVMXOFF    InstrError = 6
	ErrEntryInvalidControl    InstrError = 7
	ErrEntryInvalidHostState  InstrError = 8
	ErrVMPTRLDInvalidAddr     InstrError = 9
	ErrVMPTRLDVMXONPtr        InstrError = 10
	ErrVMPTRLDBadRevision     InstrError = 11
	ErrUnsupportedComponent   InstrError = 12
	ErrVMWRITEReadOnly        InstrError = 13
	ErrVMXONInRoot            InstrError = 15
	ErrEntryInvalidExecVMCS   InstrError = 16
	ErrEntryNonLaunchedExec   InstrError = 17
	ErrEntryExecNotVMXONPtr   InstrError = 18
	ErrVMCALLNonClear         InstrError = 19
	ErrVMCALLInvalidExitCtl   InstrError = 20
	ErrVMCALLBadMSEGRevision  InstrError = 22
	ErrVMXOFFDualMonitor      InstrError = 23
	ErrVMCALLBadSMMFeatures   InstrError = 24
	ErrEntryInvalidExecCtlExe InstrError = 25
	ErrEntryMovSSBlocking     InstrError = 26
	ErrInvalidINVEPTOperand   InstrError = 28
)

var errorText = map[InstrError]string{
	1:  "VMCALL executed in VMX root operation",
	2:  "VMCLEAR with invalid physical address",
	3:  "VMCLEAR with VMXON pointer",
	4:  "VMLAUNCH with non-clear VMCS",
	5:  "VMRESUME with non-launched VMCS",
	6:  "VMRESUME after VMXOFF (VMXOFF and VMXON between VMLAUNCH and VMRESUME)",
	7:  "VM entry with invalid control field(s)",
	8:  "VM entry with invalid host-state field(s)",
	9:  "VMPTRLD with invalid physical address",
	10: "VMPTRLD with VMXON pointer",
	11: "VMPTRLD with incorrect VMCS revision identifier",
	12: "VMREAD/VMWRITE from/to unsupported VMCS component",
	13: "VMWRITE to read-only VMCS component",
	15: "VMXON executed in VMX root operation",
	16: "VM entry with invalid executive-VMCS pointer",
	17: "VM entry with non-launched executive VMCS",
	18: "VM entry with executive-VMCS pointer not VMXON pointer",
	19: "VMCALL with non-clear VMCS",
	20: "VMCALL with invalid VM-exit control fields",
	22: "VMCALL with incorrect MSEG revision identifier",
	23: "VMXOFF under dual-monitor treatment of SMIs and SMM",
	24: "VMCALL with invalid SMM-monitor features",
	25: "VM entry with invalid VM-execution control fields in executive VMCS",
	26: "VM entry with events blocked by MOV SS",
	28: "Invalid operand to INVEPT/INVVPID",
}

// String is the SDM's description of the error, with its number.
func (e InstrError) String() string {
	if t, ok := errorText[e]; ok {
		return fmt.Sprintf("%d (%s)", uint32(e), t)
	}
	return fmt.Sprintf("%d", uint32(e))
}

package vmx

import (
	"fmt"
	"strconv"
	"strings"
)

// exitReasons are the basic exit reasons of SDM Vol. 3D Appendix C
// (Table C-1, "Basic Exit Reasons"): the SDM's description and a short
// key for the command line (-break-on vmexit=KEY).
var exitReasons = map[uint32]struct{ name, key string }{
	0:  {"Exception or non-maskable interrupt (NMI)", "exception"},
	1:  {"External interrupt", "external-interrupt"},
	2:  {"Triple fault", "triple-fault"},
	3:  {"INIT signal", "init"},
	4:  {"Start-up IPI (SIPI)", "sipi"},
	5:  {"I/O system-management interrupt (SMI)", "io-smi"},
	6:  {"Other SMI", "other-smi"},
	7:  {"Interrupt window", "interrupt-window"},
	8:  {"NMI window", "nmi-window"},
	9:  {"Task switch", "task-switch"},
	10: {"CPUID", "cpuid"},
	11: {"GETSEC", "getsec"},
	12: {"HLT", "hlt"},
	13: {"INVD", "invd"},
	14: {"INVLPG", "invlpg"},
	15: {"RDPMC", "rdpmc"},
	16: {"RDTSC", "rdtsc"},
	17: {"RSM", "rsm"},
	18: {"VMCALL", "vmcall"},
	19: {"VMCLEAR", "vmclear"},
	20: {"VMLAUNCH", "vmlaunch"},
	21: {"VMPTRLD", "vmptrld"},
	22: {"VMPTRST", "vmptrst"},
	23: {"VMREAD", "vmread"},
	24: {"VMRESUME", "vmresume"},
	25: {"VMWRITE", "vmwrite"},
	26: {"VMXOFF", "vmxoff"},
	27: {"VMXON", "vmxon"},
	28: {"Control-register accesses", "cr-access"},
	29: {"MOV DR", "dr-access"},
	30: {"I/O instruction", "io"},
	31: {"RDMSR", "rdmsr"},
	32: {"WRMSR", "wrmsr"},
	33: {"VM-entry failure due to invalid guest state", "invalid-guest-state"},
	34: {"VM-entry failure due to MSR loading", "msr-loading"},
	36: {"MWAIT", "mwait"},
	37: {"Monitor trap flag", "mtf"},
	39: {"MONITOR", "monitor"},
	40: {"PAUSE", "pause"},
	41: {"VM-entry failure due to machine-check event", "machine-check"},
	43: {"TPR below threshold", "tpr-below-threshold"},
	44: {"APIC access", "apic-access"},
	45: {"Virtualized EOI", "virtualized-eoi"},
	46: {"Access to GDTR or IDTR", "gdtr-idtr"},
	47: {"Access to LDTR or TR", "ldtr-tr"},
	48: {"EPT violation", "ept-violation"},
	49: {"EPT misconfiguration", "ept-misconfig"},
	50: {"INVEPT", "invept"},
	51: {"RDTSCP", "rdtscp"},
	52: {"VMX-preemption timer expired", "preemption-timer"},
	53: {"INVVPID", "invvpid"},
	54: {"WBINVD or WBNOINVD", "wbinvd"},
	55: {"XSETBV", "xsetbv"},
	56: {"APIC write", "apic-write"},
	57: {"RDRAND", "rdrand"},
	58: {"INVPCID", "invpcid"},
	59: {"VMFUNC", "vmfunc"},
	60: {"ENCLS", "encls"},
	61: {"RDSEED", "rdseed"},
	62: {"Page-modification log full", "pml-full"},
	63: {"XSAVES", "xsaves"},
	64: {"XRSTORS", "xrstors"},
	65: {"PCONFIG", "pconfig"},
	66: {"SPP-related event", "spp"},
	67: {"UMWAIT", "umwait"},
	68: {"TPAUSE", "tpause"},
	69: {"LOADIWKEY", "loadiwkey"},
	70: {"ENCLV", "enclv"},
	72: {"ENQCMD PASID translation failure", "enqcmd-pasid"},
	73: {"ENQCMDS PASID translation failure", "enqcmds-pasid"},
	74: {"Bus lock", "bus-lock"},
	75: {"Instruction timeout", "instruction-timeout"},
}

// ExitReasonName is the SDM's name of a basic exit reason (bits 15:0 of
// the exit-reason field; Vol. 3D Appendix C), or "exit reason N" for a
// number the table does not name.
func ExitReasonName(reason uint32) string {
	if r, ok := exitReasons[reason&0xFFFF]; ok {
		return r.name
	}
	return fmt.Sprintf("exit reason %d", reason&0xFFFF)
}

// ExitReasonByKey finds a basic exit reason by its short key (cpuid,
// cr-access, ept-violation...; ExitReasonKeys lists them) or its number
// (decimal or 0x-hexadecimal).
func ExitReasonByKey(s string) (uint32, bool) {
	if n, err := strconv.ParseUint(s, 0, 16); err == nil {
		return uint32(n), true
	}
	for n, r := range exitReasons {
		if strings.EqualFold(r.key, s) {
			return n, true
		}
	}
	return 0, false
}

// ExitReasonKeys lists the short keys in exit-reason order.
func ExitReasonKeys() []string {
	var keys []string
	for n := uint32(0); n < 128; n++ {
		if r, ok := exitReasons[n]; ok {
			keys = append(keys, r.key)
		}
	}
	return keys
}

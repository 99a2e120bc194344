package msr

import (
	"fmt"
	"io"
	"sort"
	"strings"
)

// The vmxcap report: a model's VMX capability MSRs decoded bit by bit, in
// the layout of the well-known vmxcap script (QEMU scripts/kvm/vmxcap):
// each control as "no" (allowed-0 only), "yes" (either), "forced"
// (allowed-1 only) or "default" (forced by the legacy MSR, optional by the
// TRUE_* one), each field of BASIC, MISC and EPT_VPID_CAP. Every line that
// the model allows also says whether vmxemu implements it. Bit names are
// the SDM's (Vol. 3C chapter 25 and Vol. 3D Appendix A).

// vmxImplemented lists the VMX capabilities beyond the controls that
// vmxemu implements (the controls are in implementedControls, vmx.go).
var vmxImplemented = map[string]bool{
	"Miscellaneous data/VMWRITE to VM-exit information fields": true,
	"Basic VMX Information/IA32_VMX_TRUE_*_CTLS support":       true,
	"Basic VMX Information/INS/OUTS instruction information":   true,
	// The activity states (cpu/exec_vmx.go, cpu/vmx_activity.go) and
	// the store of EFER.LMA into "IA-32e mode guest" on VM exits (vmx
	// package, SDM Vol. 3D A.6).
	"Miscellaneous data/HLT activity state":                            true,
	"Miscellaneous data/Shutdown activity state":                       true,
	"Miscellaneous data/Wait-for-SIPI activity state":                  true,
	"Miscellaneous data/Store EFER.LMA into IA-32e mode guest control": true,
}

type ctlSection struct {
	name         string
	msr, trueMSR uint32
	allowed1Only bool // tertiary controls: all 64 bits are allowed-1
	bits         map[uint]string
}

var ctlSections = []ctlSection{
	{name: "pin-based controls", msr: VMXPinbasedCtls, trueMSR: VMXTruePinbasedCtls, bits: map[uint]string{
		0: "External interrupt exiting", 3: "NMI exiting", 5: "Virtual NMIs", 6: "Activate VMX-preemption timer",
		7: "Process posted interrupts"}},
	{name: "primary processor-based controls", msr: VMXProcbasedCtls, trueMSR: VMXTrueProcbasedCtls, bits: map[uint]string{
		2: "Interrupt window exiting", 3: "Use TSC offsetting", 7: "HLT exiting", 9: "INVLPG exiting", 10: "MWAIT exiting",
		11: "RDPMC exiting", 12: "RDTSC exiting", 15: "CR3-load exiting", 16: "CR3-store exiting",
		17: "Activate tertiary controls", 19: "CR8-load exiting", 20: "CR8-store exiting", 21: "Use TPR shadow",
		22: "NMI-window exiting", 23: "MOV-DR exiting", 24: "Unconditional I/O exiting", 25: "Use I/O bitmaps",
		27: "Monitor trap flag", 28: "Use MSR bitmaps", 29: "MONITOR exiting", 30: "PAUSE exiting",
		31: "Activate secondary control"}},
	{name: "secondary processor-based controls", msr: VMXProcbasedCtls2, bits: map[uint]string{
		0: "Virtualize APIC accesses", 1: "Enable EPT", 2: "Descriptor-table exiting", 3: "Enable RDTSCP",
		4: "Virtualize x2APIC mode", 5: "Enable VPID", 6: "WBINVD exiting", 7: "Unrestricted guest",
		8: "APIC register emulation", 9: "Virtual interrupt delivery", 10: "PAUSE-loop exiting", 11: "RDRAND exiting",
		12: "Enable INVPCID", 13: "Enable VM functions", 14: "VMCS shadowing", 15: "Enable ENCLS exiting",
		16: "RDSEED exiting", 17: "Enable PML", 18: "EPT-violation #VE", 19: "Conceal non-root operation from PT",
		20: "Enable XSAVES/XRSTORS", 22: "Mode-based execute control (XS/XU)", 23: "Sub-page write permissions",
		24: "GPA translation for PT", 25: "TSC scaling", 26: "User wait and pause", 28: "ENCLV exiting"}},
	{name: "tertiary processor-based controls", msr: VMXProcbasedCtls3, allowed1Only: true, bits: map[uint]string{
		0: "LOADIWKEY exiting", 1: "Enable HLAT", 2: "EPT paging-write control", 3: "Guest-paging verification",
		4: "Enable IPI virtualization", 7: "Virtualize IA32_SPEC_CTRL"}},
	{name: "VM-Exit controls", msr: VMXExitCtls, trueMSR: VMXTrueExitCtls, bits: map[uint]string{
		2: "Save debug controls", 9: "Host address-space size", 12: "Load IA32_PERF_GLOBAL_CTRL",
		15: "Acknowledge interrupt on exit", 18: "Save IA32_PAT", 19: "Load IA32_PAT", 20: "Save IA32_EFER",
		21: "Load IA32_EFER", 22: "Save VMX-preemption timer value", 23: "Clear IA32_BNDCFGS",
		24: "Conceal VM exits from PT", 25: "Clear IA32_RTIT_CTL", 26: "Clear IA32_LBR_CTL", 28: "Load CET state",
		29: "Load PKRS", 30: "Save IA32_PERF_GLOBAL_CTRL", 31: "Activate secondary VM-exit controls"}},
	{name: "VM-Entry controls", msr: VMXEntryCtls, trueMSR: VMXTrueEntryCtls, bits: map[uint]string{
		2: "Load debug controls", 9: "IA-32e mode guest", 10: "Entry to SMM", 11: "Deactivate dual-monitor treatment",
		13: "Load IA32_PERF_GLOBAL_CTRL", 14: "Load IA32_PAT", 15: "Load IA32_EFER", 16: "Load IA32_BNDCFGS",
		17: "Conceal VM entries from PT", 18: "Load IA32_RTIT_CTL", 20: "Load CET state", 21: "Load guest IA32_LBR_CTL",
		22: "Load PKRS"}},
}

type field struct {
	lo, hi uint
	name   string
}

var (
	basicFields = []field{{0, 30, "Revision"}, {32, 44, "VMCS size"}, {48, 48, "VMCS restricted to 32 bit addresses"},
		{49, 49, "Dual-monitor support"}, {50, 53, "VMCS memory type"}, {54, 54, "INS/OUTS instruction information"},
		{55, 55, "IA32_VMX_TRUE_*_CTLS support"}, {56, 56, "Skip checks on event error code"},
		{57, 57, "No guest hardware error code check (bit 57)"}, {58, 58, "Nested exception support (FRED, bit 58)"}}
	miscFields = []field{{0, 4, "VMX-preemption timer scale (log2)"}, {5, 5, "Store EFER.LMA into IA-32e mode guest control"},
		{6, 6, "HLT activity state"}, {7, 7, "Shutdown activity state"}, {8, 8, "Wait-for-SIPI activity state"},
		{14, 14, "PT in VMX operation"}, {15, 15, "IA32_SMBASE support"}, {16, 24, "Number of CR3-target values"},
		{25, 27, "MSR-load/store count recommendation"}, {28, 28, "IA32_SMM_MONITOR_CTL[2] can be set to 1"},
		{29, 29, "VMWRITE to VM-exit information fields"}, {30, 30, "Inject event with insn length=0"},
		{32, 63, "MSEG revision identifier"}}
	eptFields = []field{{0, 0, "Execute-only EPT translations"}, {6, 6, "Page-walk length 4"}, {7, 7, "Page-walk length 5"},
		{8, 8, "Paging-structure memory type UC"}, {14, 14, "Paging-structure memory type WB"}, {16, 16, "2MB EPT pages"},
		{17, 17, "1GB EPT pages"}, {20, 20, "INVEPT supported"}, {21, 21, "EPT accessed and dirty flags"},
		{22, 22, "Advanced VM-exit information for EPT violations"}, {23, 23, "Supervisor shadow-stack control"},
		{25, 25, "Single-context INVEPT"}, {26, 26, "All-context INVEPT"}, {32, 32, "INVVPID supported"},
		{40, 40, "Individual-address INVVPID"}, {41, 41, "Single-context INVVPID"}, {42, 42, "All-context INVVPID"},
		{43, 43, "Single-context-retaining-globals INVVPID"}}
	vmfuncFields = []field{{0, 0, "EPTP Switching"}}
)

// WriteVMXCap writes the vmxcap report of a profile.
func WriteVMXCap(w io.Writer, p *Profile) error {
	ew := &errWriter{w: w}
	m := p.Model
	ew.printf("CPU model: %s\n", m.Name)
	if m.Description != "" {
		ew.printf("  %s\n", m.Description)
	}
	for _, s := range m.Sources {
		ew.printf("  source: %s\n", s)
	}
	ew.printf("CPUID.01H: EAX=%#08x, ECX.VMX[bit 5]=%d in the model\n", p.Signature(), p.ModelCPUID(1, 0).ECX>>5&1)
	if !p.ModelHas("vmx") {
		ew.printf("\nThe model has no VMX (CPUID.1:ECX.VMX = 0): no VMX capability MSRs.\n")
		return ew.err
	}
	ew.printf("vmxemu: the guest sees CPUID.1:ECX.VMX=1; VMX operation, VM entry and VM exits work with the controls\n")
	ew.printf("        marked \"ok\" (see docs/VMX.md for the exits). The values below are the model's; the guest\n")
	ew.printf("        reads them with every control marked \"gap\" masked to its default setting (\"guest reads\" lines).\n")
	ew.printf("Legend: the last column says whether vmxemu implements an allowed setting (\"gap\": not yet).\n\n")

	misc(ew, p, "Basic VMX Information", VMXBasic, basicFields, true)
	for _, s := range ctlSections {
		control(ew, p, s)
	}
	misc(ew, p, "Miscellaneous data", VMXMisc, miscFields, true)
	misc(ew, p, "VPID and EPT capabilities", VMXEPTVPIDCap, eptFields, true)
	misc(ew, p, "VM Functions", VMXVMFunc, vmfuncFields, true)
	fixedSection(ew, p)
	if v, ok := p.ModelVMX(VMXVMCSEnum); ok {
		ew.printf("VMCS enumeration\n  Hex: %#x\n  %-40s %d\n", v, "Highest index", v>>1&0x1FF)
		ew.printf("  (the guest reads the highest index of the fields that exist with its controls: docs/VMX.md)\n\n")
	}

	ew.printf("vmxemu known gaps for this model (features the model has that the guest does not see):\n")
	gaps := p.Gaps()
	sort.SliceStable(gaps, func(i, j int) bool { return gaps[i].What < gaps[j].What })
	for _, g := range gaps {
		ew.printf("  %-24s %s\n", g.What, g.Why)
	}
	return ew.err
}

func status(name string) string {
	if vmxImplemented[name] {
		return "ok"
	}
	return "gap"
}

// guestLine says what the guest reads of a capability MSR when it differs
// from the model's value.
func guestLine(ew *errWriter, p *Profile, idx uint32) {
	mv, _ := p.ModelVMX(idx)
	gv, ok := p.GuestVMX(idx)
	switch {
	case !ok:
		ew.printf("  guest reads: nothing (%s does not exist for the guest: the controls it depends on are gaps)\n", Name(idx))
	case gv != mv:
		ew.printf("  guest reads: %#x\n", gv)
	}
}

func header(ew *errWriter, p *Profile, name string, idx uint32) (uint64, bool) {
	v, ok := p.ModelVMX(idx)
	ew.printf("%s\n", name)
	if !ok {
		ew.printf("  (%s does not exist on this model)\n\n", Name(idx))
		return 0, false
	}
	if a := p.Assumed(idx); a != "" {
		ew.printf("  (assumed, not in the source dump: %s)\n", a)
	}
	return v, true
}

func control(ew *errWriter, p *Profile, s ctlSection) {
	v, ok := header(ew, p, s.name, s.msr)
	if !ok {
		return
	}
	ew.printf("  Hex: %#x\n", v)
	guestLine(ew, p, s.msr)
	mb1, cb1 := uint32(v), uint32(v>>32)
	var tmb1, tcb1 uint32
	tv, hasTrue := p.ModelVMX(s.trueMSR)
	if hasTrue {
		tmb1, tcb1 = uint32(tv), uint32(tv>>32)
	}
	if s.allowed1Only {
		mb1, cb1 = 0, 0
	}
	keys := make([]uint, 0, len(s.bits))
	for b := range s.bits {
		keys = append(keys, b)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	for _, b := range keys {
		var st string
		if s.allowed1Only {
			st = "no"
			if v>>b&1 != 0 {
				st = "yes"
			}
		} else {
			zero := mb1>>b&1 == 0
			one := cb1>>b&1 != 0
			switch {
			case hasTrue && tmb1>>b&1 == 0 && tcb1>>b&1 != 0 && one && !zero:
				st = "default"
			case zero && !one:
				st = "no"
			case one && !zero:
				st = "forced"
			case one && zero:
				st = "yes"
			default:
				st = "?"
			}
		}
		impl := ""
		if st != "no" {
			impl = "gap"
			if controlImplemented(s.msr, b) {
				impl = "ok"
			}
		}
		ew.line(s.bits[b], st, impl)
	}
	ew.printf("\n")
}

func misc(ew *errWriter, p *Profile, name string, idx uint32, fields []field, mark bool) {
	v, ok := header(ew, p, name, idx)
	if !ok {
		return
	}
	ew.printf("  Hex: %#x\n", v)
	guestLine(ew, p, idx)
	for _, f := range fields {
		x := v >> f.lo & (1<<(f.hi-f.lo+1) - 1)
		if f.hi == 63 && f.lo == 32 {
			x = v >> 32
		}
		if f.lo == f.hi {
			s := "no"
			if x != 0 {
				s = "yes"
			}
			impl := ""
			if mark && x != 0 {
				impl = status(name + "/" + f.name)
				if idx == VMXEPTVPIDCap && eptCapHonoured>>f.lo&1 != 0 ||
					idx == VMXVMFunc && controlImplemented(VMXVMFunc, f.lo) {
					impl = "ok" // honoured bits: eptCapHonoured, implementedControls (vmx.go)
				}
			}
			ew.line(f.name, s, impl)
			continue
		}
		ew.printf("  %-40s %d\n", f.name, x)
	}
	ew.printf("\n")
}

func fixedSection(ew *errWriter, p *Profile) {
	ew.printf("CR0/CR4 fixed bits (bits that must be 1 / may be 1 in VMX operation)\n")
	for _, r := range []struct {
		reg        string
		f0, f1     uint32
		names      map[uint]string
		whyFollows string
	}{
		{"CR0", VMXCR0Fixed0, VMXCR0Fixed1, cr0Names, ""},
		{"CR4", VMXCR4Fixed0, VMXCR4Fixed1, cr4Names, " (follows CPUID)"},
	} {
		f0, ok0 := p.ModelVMX(r.f0)
		f1, ok1 := p.ModelVMX(r.f1)
		if !ok0 || !ok1 {
			continue
		}
		ew.printf("  %-40s %#x  %s\n", Name(r.f0), f0, strings.TrimSpace(nameList(r.names, f0)))
		ew.printf("  %-40s %#x  may be 1: %s%s\n", Name(r.f1), f1, strings.TrimSpace(nameList(r.names, f1)), r.whyFollows)
	}
	_, cr4 := p.VMXFixed()
	ew.printf("  %-40s %#x  (what the guest reads: CR4 bits of features vmxemu reports)\n", "guest IA32_VMX_CR4_FIXED1", cr4.Fixed1)
	ew.printf("\n")
}

func nameList(names map[uint]string, v uint64) string {
	if v == 0xFFFFFFFF {
		return "all of bits 31:0"
	}
	var out []string
	for b := uint(0); b < 64; b++ {
		if v>>b&1 == 0 {
			continue
		}
		if n, ok := names[b]; ok {
			out = append(out, n)
		} else if b < 32 {
			out = append(out, fmt.Sprintf("bit%d", b))
		}
	}
	return strings.Join(out, " ")
}

// line writes one decoded item: name, value and vmxemu's status.
func (e *errWriter) line(name, value, impl string) {
	e.printf("%s\n", strings.TrimRight(fmt.Sprintf("  %-40s %-8s %s", name, value, impl), " "))
}

type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) printf(format string, args ...any) {
	if e.err != nil {
		return
	}
	_, e.err = fmt.Fprintf(e.w, format, args...)
}

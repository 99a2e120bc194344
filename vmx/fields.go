package vmx

import "github.com/vmxemu/vmxemu/msr"

// The VMCS fields as data (SDM Vol. 3D Appendix B, "Field Encoding in
// VMCS"). An encoding is a 32-bit value (Vol. 3C 25.11.2, Table 25-21):
//
//	bit 0       access type: 0 = full, 1 = high (64-bit fields only)
//	bits 9:1    index
//	bits 11:10  type: 0 control, 1 VM-exit information (read-only data),
//	            2 guest state, 3 host state
//	bit 12      reserved (0)
//	bits 14:13  width: 0 16-bit, 1 64-bit, 2 32-bit, 3 natural-width
//	bits 31:15  reserved (0)
//
// A field exists on a processor only with the feature it serves: each
// entry names the allowed-1 control bits (any of them) that make it exist.
// An encoding that is not in the table, or whose feature the processor
// (the CPU model, as vmxemu honours it) lacks, is an unsupported VMCS
// component: VMREAD and VMWRITE fail with VM-instruction error 12.

// Width is a field's width (encoding bits 14:13).
type Width uint8

// Field widths.
const (
	Width16      Width = 0
	Width64      Width = 1
	Width32      Width = 2
	WidthNatural Width = 3
)

// Size is the field's size in bytes in vmxemu's VMCS region layout.
func (w Width) Size() int { return [...]int{2, 8, 4, 8}[w] }

func (w Width) String() string { return [...]string{"16-bit", "64-bit", "32-bit", "natural-width"}[w] }

// Type is a field's type (encoding bits 11:10).
type Type uint8

// Field types.
const (
	TypeControl  Type = 0
	TypeReadOnly Type = 1 // VM-exit information
	TypeGuest    Type = 2
	TypeHost     Type = 3
)

func (t Type) String() string {
	return [...]string{"control", "VM-exit information", "guest-state", "host-state"}[t]
}

// Encoding parts.
func encWidth(e uint32) Width  { return Width(e >> 13 & 3) }
func encType(e uint32) Type    { return Type(e >> 10 & 3) }
func encHigh(e uint32) bool    { return e&1 != 0 }
func encIndex(e uint32) uint32 { return e >> 1 & 0x1FF }

// need is one control that makes a field exist: the allowed-1 bit of a
// capability MSR (bits 63:32 for the pin-based, processor-based, exit and
// entry controls; the bit itself for the tertiary controls and VM
// functions, whose MSRs hold allowed-1 bits only).
type need struct {
	msr uint32
	bit uint
}

func pin(b uint) need    { return need{msr.VMXPinbasedCtls, 32 + b} }
func proc(b uint) need   { return need{msr.VMXProcbasedCtls, 32 + b} }
func proc2(b uint) need  { return need{msr.VMXProcbasedCtls2, 32 + b} }
func proc3(b uint) need  { return need{msr.VMXProcbasedCtls3, b} }
func exit(b uint) need   { return need{msr.VMXExitCtls, 32 + b} }
func entry(b uint) need  { return need{msr.VMXEntryCtls, 32 + b} }
func vmfunc(b uint) need { return need{msr.VMXVMFunc, b} }

// Field is one VMCS field (the full encoding of a 64-bit field; its high
// half is the encoding + 1).
type Field struct {
	Enc  uint32
	Name string // as SDM Vol. 3D Appendix B names it
	// needs are the controls that make the field exist (any of them);
	// none: every VMX processor has it.
	needs []need
}

// Width, Type and Index decode the field's encoding.
func (f *Field) Width() Width  { return encWidth(f.Enc) }
func (f *Field) Type() Type    { return encType(f.Enc) }
func (f *Field) Index() uint32 { return encIndex(f.Enc) }

// fields is Appendix B, in its order (B.1 16-bit, B.2 64-bit, B.3 32-bit,
// B.4 natural-width; control, read-only, guest, host within each).
var fields = []Field{
	// B.1.1 16-bit control fields.
	{0x0000, "Virtual-processor identifier (VPID)", []need{proc2(5)}},
	{0x0002, "Posted-interrupt notification vector", []need{pin(7)}},
	{0x0004, "EPTP index", []need{proc2(18)}},
	{0x0006, "HLAT prefix size", []need{proc3(1)}},
	{0x0008, "Last PID-pointer index", []need{proc3(4)}},
	// B.1.2 16-bit guest-state fields.
	{0x0800, "Guest ES selector", nil},
	{0x0802, "Guest CS selector", nil},
	{0x0804, "Guest SS selector", nil},
	{0x0806, "Guest DS selector", nil},
	{0x0808, "Guest FS selector", nil},
	{0x080A, "Guest GS selector", nil},
	{0x080C, "Guest LDTR selector", nil},
	{0x080E, "Guest TR selector", nil},
	{0x0810, "Guest interrupt status", []need{proc2(9)}},
	{0x0812, "PML index", []need{proc2(17)}},
	// B.1.3 16-bit host-state fields.
	{0x0C00, "Host ES selector", nil},
	{0x0C02, "Host CS selector", nil},
	{0x0C04, "Host SS selector", nil},
	{0x0C06, "Host DS selector", nil},
	{0x0C08, "Host FS selector", nil},
	{0x0C0A, "Host GS selector", nil},
	{0x0C0C, "Host TR selector", nil},

	// B.2.1 64-bit control fields.
	{0x2000, "Address of I/O bitmap A", nil},
	{0x2002, "Address of I/O bitmap B", nil},
	{0x2004, "Address of MSR bitmaps", []need{proc(28)}},
	{0x2006, "VM-exit MSR-store address", nil},
	{0x2008, "VM-exit MSR-load address", nil},
	{0x200A, "VM-entry MSR-load address", nil},
	{0x200C, "Executive-VMCS pointer", nil},
	{0x200E, "PML address", []need{proc2(17)}},
	{0x2010, "TSC offset", nil},
	{0x2012, "Virtual-APIC address", []need{proc(21)}},
	{0x2014, "APIC-access address", []need{proc2(0)}},
	{0x2016, "Posted-interrupt descriptor address", []need{pin(7)}},
	{0x2018, "VM-function controls", []need{proc2(13)}},
	{0x201A, "EPT pointer", []need{proc2(1)}},
	{0x201C, "EOI-exit bitmap 0", []need{proc2(9)}},
	{0x201E, "EOI-exit bitmap 1", []need{proc2(9)}},
	{0x2020, "EOI-exit bitmap 2", []need{proc2(9)}},
	{0x2022, "EOI-exit bitmap 3", []need{proc2(9)}},
	{0x2024, "EPTP-list address", []need{vmfunc(0)}},
	{0x2026, "VMREAD-bitmap address", []need{proc2(14)}},
	{0x2028, "VMWRITE-bitmap address", []need{proc2(14)}},
	{0x202A, "Virtualization-exception information address", []need{proc2(18)}},
	{0x202C, "XSS-exiting bitmap", []need{proc2(20)}},
	{0x202E, "ENCLS-exiting bitmap", []need{proc2(15)}},
	{0x2030, "Sub-page-permission-table pointer", []need{proc2(23)}},
	{0x2032, "TSC multiplier", []need{proc2(25)}},
	{0x2034, "Tertiary processor-based VM-execution controls", []need{proc(17)}},
	{0x2036, "ENCLV-exiting bitmap", []need{proc2(28)}},
	{0x2040, "Hypervisor-managed linear-address translation pointer", []need{proc3(1)}},
	{0x2042, "PID-pointer table address", []need{proc3(4)}},
	{0x2044, "Secondary VM-exit controls", []need{exit(31)}},
	// B.2.2 64-bit read-only data field.
	{0x2400, "Guest-physical address", []need{proc2(1)}},
	// B.2.3 64-bit guest-state fields.
	{0x2800, "VMCS link pointer", nil},
	{0x2802, "Guest IA32_DEBUGCTL", nil},
	{0x2804, "Guest IA32_PAT", []need{entry(14), exit(18)}},
	{0x2806, "Guest IA32_EFER", []need{entry(15), exit(20)}},
	{0x2808, "Guest IA32_PERF_GLOBAL_CTRL", []need{entry(13), exit(30)}},
	{0x280A, "Guest PDPTE0", []need{proc2(1)}},
	{0x280C, "Guest PDPTE1", []need{proc2(1)}},
	{0x280E, "Guest PDPTE2", []need{proc2(1)}},
	{0x2810, "Guest PDPTE3", []need{proc2(1)}},
	{0x2812, "Guest IA32_BNDCFGS", []need{entry(16), exit(23)}},
	{0x2814, "Guest IA32_RTIT_CTL", []need{entry(18), exit(25)}},
	{0x2816, "Guest IA32_LBR_CTL", []need{entry(21), exit(26)}},
	{0x2818, "Guest IA32_PKRS", []need{entry(22), exit(29)}},
	// B.2.4 64-bit host-state fields.
	{0x2C00, "Host IA32_PAT", []need{exit(19)}},
	{0x2C02, "Host IA32_EFER", []need{exit(21)}},
	{0x2C04, "Host IA32_PERF_GLOBAL_CTRL", []need{exit(12)}},
	{0x2C06, "Host IA32_PKRS", []need{exit(29)}},

	// B.3.1 32-bit control fields.
	{0x4000, "Pin-based VM-execution controls", nil},
	{0x4002, "Primary processor-based VM-execution controls", nil},
	{0x4004, "Exception bitmap", nil},
	{0x4006, "Page-fault error-code mask", nil},
	{0x4008, "Page-fault error-code match", nil},
	{0x400A, "CR3-target count", nil},
	{0x400C, "Primary VM-exit controls", nil},
	{0x400E, "VM-exit MSR-store count", nil},
	{0x4010, "VM-exit MSR-load count", nil},
	{0x4012, "VM-entry controls", nil},
	{0x4014, "VM-entry MSR-load count", nil},
	{0x4016, "VM-entry interruption-information field", nil},
	{0x4018, "VM-entry exception error code", nil},
	{0x401A, "VM-entry instruction length", nil},
	{0x401C, "TPR threshold", []need{proc(21)}},
	{0x401E, "Secondary processor-based VM-execution controls", []need{proc(31)}},
	{0x4020, "PLE_Gap", []need{proc2(10)}},
	{0x4022, "PLE_Window", []need{proc2(10)}},
	// B.3.2 32-bit read-only data fields.
	{0x4400, "VM-instruction error", nil},
	{0x4402, "Exit reason", nil},
	{0x4404, "VM-exit interruption information", nil},
	{0x4406, "VM-exit interruption error code", nil},
	{0x4408, "IDT-vectoring information field", nil},
	{0x440A, "IDT-vectoring error code", nil},
	{0x440C, "VM-exit instruction length", nil},
	{0x440E, "VM-exit instruction information", nil},
	// B.3.3 32-bit guest-state fields.
	{0x4800, "Guest ES limit", nil},
	{0x4802, "Guest CS limit", nil},
	{0x4804, "Guest SS limit", nil},
	{0x4806, "Guest DS limit", nil},
	{0x4808, "Guest FS limit", nil},
	{0x480A, "Guest GS limit", nil},
	{0x480C, "Guest LDTR limit", nil},
	{0x480E, "Guest TR limit", nil},
	{0x4810, "Guest GDTR limit", nil},
	{0x4812, "Guest IDTR limit", nil},
	{0x4814, "Guest ES access rights", nil},
	{0x4816, "Guest CS access rights", nil},
	{0x4818, "Guest SS access rights", nil},
	{0x481A, "Guest DS access rights", nil},
	{0x481C, "Guest FS access rights", nil},
	{0x481E, "Guest GS access rights", nil},
	{0x4820, "Guest LDTR access rights", nil},
	{0x4822, "Guest TR access rights", nil},
	{0x4824, "Guest interruptibility state", nil},
	{0x4826, "Guest activity state", nil},
	{0x4828, "Guest SMBASE", nil},
	{0x482A, "Guest IA32_SYSENTER_CS", nil},
	{0x482E, "VMX-preemption timer value", []need{pin(6)}},
	// B.3.4 32-bit host-state field.
	{0x4C00, "Host IA32_SYSENTER_CS", nil},

	// B.4.1 natural-width control fields.
	{0x6000, "CR0 guest/host mask", nil},
	{0x6002, "CR4 guest/host mask", nil},
	{0x6004, "CR0 read shadow", nil},
	{0x6006, "CR4 read shadow", nil},
	{0x6008, "CR3-target value 0", nil},
	{0x600A, "CR3-target value 1", nil},
	{0x600C, "CR3-target value 2", nil},
	{0x600E, "CR3-target value 3", nil},
	// B.4.2 natural-width read-only data fields.
	{0x6400, "Exit qualification", nil},
	{0x6402, "I/O RCX", nil},
	{0x6404, "I/O RSI", nil},
	{0x6406, "I/O RDI", nil},
	{0x6408, "I/O RIP", nil},
	{0x640A, "Guest-linear address", nil},
	// B.4.3 natural-width guest-state fields.
	{0x6800, "Guest CR0", nil},
	{0x6802, "Guest CR3", nil},
	{0x6804, "Guest CR4", nil},
	{0x6806, "Guest ES base", nil},
	{0x6808, "Guest CS base", nil},
	{0x680A, "Guest SS base", nil},
	{0x680C, "Guest DS base", nil},
	{0x680E, "Guest FS base", nil},
	{0x6810, "Guest GS base", nil},
	{0x6812, "Guest LDTR base", nil},
	{0x6814, "Guest TR base", nil},
	{0x6816, "Guest GDTR base", nil},
	{0x6818, "Guest IDTR base", nil},
	{0x681A, "Guest DR7", nil},
	{0x681C, "Guest RSP", nil},
	{0x681E, "Guest RIP", nil},
	{0x6820, "Guest RFLAGS", nil},
	{0x6822, "Guest pending debug exceptions", nil},
	{0x6824, "Guest IA32_SYSENTER_ESP", nil},
	{0x6826, "Guest IA32_SYSENTER_EIP", nil},
	{0x6828, "Guest IA32_S_CET", []need{entry(20)}},
	{0x682A, "Guest SSP", []need{entry(20)}},
	{0x682C, "Guest IA32_INTERRUPT_SSP_TABLE_ADDR", []need{entry(20)}},
	// B.4.4 natural-width host-state fields.
	{0x6C00, "Host CR0", nil},
	{0x6C02, "Host CR3", nil},
	{0x6C04, "Host CR4", nil},
	{0x6C06, "Host FS base", nil},
	{0x6C08, "Host GS base", nil},
	{0x6C0A, "Host TR base", nil},
	{0x6C0C, "Host GDTR base", nil},
	{0x6C0E, "Host IDTR base", nil},
	{0x6C10, "Host IA32_SYSENTER_ESP", nil},
	{0x6C12, "Host IA32_SYSENTER_EIP", nil},
	{0x6C14, "Host RSP", nil},
	{0x6C16, "Host RIP", nil},
	{0x6C18, "Host IA32_S_CET", []need{exit(28)}},
	{0x6C1A, "Host SSP", []need{exit(28)}},
	{0x6C1C, "Host IA32_INTERRUPT_SSP_TABLE_ADDR", []need{exit(28)}},
}

// Fields returns the VMCS field table (a copy).
func Fields() []Field { return append([]Field(nil), fields...) }

// FieldByEnc returns the table entry for a field's full encoding.
func FieldByEnc(enc uint32) (Field, bool) {
	for _, f := range fields {
		if f.Enc == enc {
			return f, true
		}
	}
	return Field{}, false
}

// Well-known encodings the instructions use.
const (
	encVMInstructionError = 0x4400
)

// Write classes of the VMCS fields (VMCS.gen): the four field types
// (Type: control, VM-exit information, guest state, host state), and
// classGuestHot for the guest-state fields that VM exits and their
// handlers change on every round trip (RIP, RSP, RFLAGS, the
// interruptibility and activity states, the pending debug exceptions,
// the VMX-preemption timer value and the guest interrupt status: SDM
// Vol. 3C 28.3), so that the entry checks compare the values of those
// alone when the other guest fields were not written.
const (
	classGuestHot = 4
	nClasses      = 5
)

// slotClass is the write class of the field with encoding enc.
func slotClass(enc uint32) uint8 {
	switch enc {
	case encGuestRIP, encGuestRSP, encGuestRFLAGS, encGuestIntrState, encGuestActivity,
		encGuestPendDbg, encPreemptionTimer, encGuestIntrStatus:
		return classGuestHot
	}
	return uint8(encType(enc))
}

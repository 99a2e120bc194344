package vmx_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// ctlBit is one allowed-1 capability bit that makes a VMCS field exist
// (SDM Vol. 3D Appendix B: "This field exists only on processors that
// support the 1-setting of the ... control"). bit is the bit of the MSR
// itself: 32+n for control n of the pin-based, processor-based, exit and
// entry controls (A.3.1-A.5: allowed-1 settings in bits 63:32), n for the
// tertiary controls (A.3.4) and VM functions (A.11), which report allowed-1
// bits only.
type ctlBit struct {
	msr uint32
	bit uint
}

func cPin(n uint) ctlBit   { return ctlBit{msr.VMXPinbasedCtls, 32 + n} }
func cProc(n uint) ctlBit  { return ctlBit{msr.VMXProcbasedCtls, 32 + n} }
func cProc2(n uint) ctlBit { return ctlBit{msr.VMXProcbasedCtls2, 32 + n} }
func cProc3(n uint) ctlBit { return ctlBit{msr.VMXProcbasedCtls3, n} }
func cExit(n uint) ctlBit  { return ctlBit{msr.VMXExitCtls, 32 + n} }
func cEntry(n uint) ctlBit { return ctlBit{msr.VMXEntryCtls, 32 + n} }
func cFunc(n uint) ctlBit  { return ctlBit{msr.VMXVMFunc, n} }

// sdmField is one row of SDM Vol. 3D Appendix B, written here from the SDM
// (not from fields.go): the encoding, the group (B.n.m: width and type),
// a word of its name, and the controls that make it exist (any of them;
// none: every VMX processor has it).
type sdmField struct {
	enc   uint32
	width vmx.Width
	typ   vmx.Type
	word  string
	needs []ctlBit
}

func grp(w vmx.Width, ty vmx.Type, rows ...sdmField) []sdmField {
	for i := range rows {
		rows[i].width, rows[i].typ = w, ty
	}
	return rows
}

func f(enc uint32, word string, needs ...ctlBit) sdmField {
	return sdmField{enc: enc, word: word, needs: needs}
}

// appendixB is the SDM's table, group by group (Vol. 3D B.1.1 .. B.4.4),
// with the existence conditions of the Appendix B footnotes:
// EPT = secondary control 1, VPID = 5, virtual-interrupt delivery = 9,
// PAUSE-loop exiting = 10, VM functions = 13, VMCS shadowing = 14,
// ENCLS exiting = 15, PML = 17, EPT-violation #VE = 18, XSAVES = 20,
// SPP = 23, TSC scaling = 25, ENCLV exiting = 28; use TSC shadow =
// primary 21, use MSR bitmaps = primary 28, activate secondary controls =
// primary 31, activate tertiary controls = primary 17; HLAT = tertiary 1,
// IPI virtualization = tertiary 4; posted interrupts = pin 7, VMX-preemption
// timer = pin 6; load/save/clear MSR controls of the exit (12, 18-21, 23,
// 25, 26, 28-31) and entry (13-16, 18, 20-22) controls.
var appendixB = concat(
	grp(vmx.Width16, vmx.TypeControl, // B.1.1
		f(0x0000, "VPID", cProc2(5)),
		f(0x0002, "Posted-interrupt notification vector", cPin(7)),
		f(0x0004, "EPTP index", cProc2(18)),
		f(0x0006, "HLAT prefix size", cProc3(1)),
		f(0x0008, "PID-pointer index", cProc3(4))),
	grp(vmx.Width16, vmx.TypeGuest, // B.1.2
		f(0x0800, "ES selector"), f(0x0802, "CS selector"), f(0x0804, "SS selector"), f(0x0806, "DS selector"),
		f(0x0808, "FS selector"), f(0x080A, "GS selector"), f(0x080C, "LDTR selector"), f(0x080E, "TR selector"),
		f(0x0810, "interrupt status", cProc2(9)),
		f(0x0812, "PML index", cProc2(17))),
	grp(vmx.Width16, vmx.TypeHost, // B.1.3
		f(0x0C00, "ES selector"), f(0x0C02, "CS selector"), f(0x0C04, "SS selector"), f(0x0C06, "DS selector"),
		f(0x0C08, "FS selector"), f(0x0C0A, "GS selector"), f(0x0C0C, "TR selector")),
	grp(vmx.Width64, vmx.TypeControl, // B.2.1
		f(0x2000, "I/O bitmap A"), f(0x2002, "I/O bitmap B"),
		f(0x2004, "MSR bitmaps", cProc(28)),
		f(0x2006, "MSR-store address"), f(0x2008, "MSR-load address"), f(0x200A, "MSR-load address"),
		f(0x200C, "Executive-VMCS pointer"),
		f(0x200E, "PML address", cProc2(17)),
		f(0x2010, "TSC offset"),
		f(0x2012, "Virtual-APIC address", cProc(21)),
		f(0x2014, "APIC-access address", cProc2(0)),
		f(0x2016, "Posted-interrupt descriptor address", cPin(7)),
		f(0x2018, "VM-function controls", cProc2(13)),
		f(0x201A, "EPT pointer", cProc2(1)),
		f(0x201C, "EOI-exit bitmap 0", cProc2(9)), f(0x201E, "EOI-exit bitmap 1", cProc2(9)),
		f(0x2020, "EOI-exit bitmap 2", cProc2(9)), f(0x2022, "EOI-exit bitmap 3", cProc2(9)),
		f(0x2024, "EPTP-list address", cFunc(0)),
		f(0x2026, "VMREAD-bitmap", cProc2(14)), f(0x2028, "VMWRITE-bitmap", cProc2(14)),
		f(0x202A, "exception information address", cProc2(18)),
		f(0x202C, "XSS-exiting bitmap", cProc2(20)),
		f(0x202E, "ENCLS-exiting bitmap", cProc2(15)),
		f(0x2030, "Sub-page-permission-table pointer", cProc2(23)),
		f(0x2032, "TSC multiplier", cProc2(25)),
		f(0x2034, "Tertiary", cProc(17)),
		f(0x2036, "ENCLV-exiting bitmap", cProc2(28)),
		f(0x2040, "linear-address translation pointer", cProc3(1)),
		f(0x2042, "PID-pointer table address", cProc3(4)),
		f(0x2044, "Secondary VM-exit controls", cExit(31))),
	grp(vmx.Width64, vmx.TypeReadOnly, // B.2.2
		f(0x2400, "Guest-physical address", cProc2(1))),
	grp(vmx.Width64, vmx.TypeGuest, // B.2.3
		f(0x2800, "VMCS link pointer"),
		f(0x2802, "IA32_DEBUGCTL"),
		f(0x2804, "IA32_PAT", cEntry(14), cExit(18)),
		f(0x2806, "IA32_EFER", cEntry(15), cExit(20)),
		f(0x2808, "IA32_PERF_GLOBAL_CTRL", cEntry(13), cExit(30)),
		f(0x280A, "PDPTE0", cProc2(1)), f(0x280C, "PDPTE1", cProc2(1)),
		f(0x280E, "PDPTE2", cProc2(1)), f(0x2810, "PDPTE3", cProc2(1)),
		f(0x2812, "IA32_BNDCFGS", cEntry(16), cExit(23)),
		f(0x2814, "IA32_RTIT_CTL", cEntry(18), cExit(25)),
		f(0x2816, "IA32_LBR_CTL", cEntry(21), cExit(26)),
		f(0x2818, "IA32_PKRS", cEntry(22), cExit(29))),
	grp(vmx.Width64, vmx.TypeHost, // B.2.4
		f(0x2C00, "IA32_PAT", cExit(19)),
		f(0x2C02, "IA32_EFER", cExit(21)),
		f(0x2C04, "IA32_PERF_GLOBAL_CTRL", cExit(12)),
		f(0x2C06, "IA32_PKRS", cExit(29))),
	grp(vmx.Width32, vmx.TypeControl, // B.3.1
		f(0x4000, "Pin-based"), f(0x4002, "processor-based"), f(0x4004, "Exception bitmap"),
		f(0x4006, "error-code mask"), f(0x4008, "error-code match"), f(0x400A, "CR3-target count"),
		f(0x400C, "VM-exit controls"), f(0x400E, "MSR-store count"), f(0x4010, "MSR-load count"),
		f(0x4012, "VM-entry controls"), f(0x4014, "MSR-load count"), f(0x4016, "interruption-information"),
		f(0x4018, "exception error code"), f(0x401A, "instruction length"),
		f(0x401C, "TPR threshold", cProc(21)),
		f(0x401E, "Secondary processor-based", cProc(31)),
		f(0x4020, "PLE_Gap", cProc2(10)), f(0x4022, "PLE_Window", cProc2(10))),
	grp(vmx.Width32, vmx.TypeReadOnly, // B.3.2
		f(0x4400, "VM-instruction error"), f(0x4402, "Exit reason"),
		f(0x4404, "interruption information"), f(0x4406, "interruption error code"),
		f(0x4408, "IDT-vectoring information"), f(0x440A, "IDT-vectoring error code"),
		f(0x440C, "instruction length"), f(0x440E, "instruction information")),
	grp(vmx.Width32, vmx.TypeGuest, // B.3.3
		f(0x4800, "ES limit"), f(0x4802, "CS limit"), f(0x4804, "SS limit"), f(0x4806, "DS limit"),
		f(0x4808, "FS limit"), f(0x480A, "GS limit"), f(0x480C, "LDTR limit"), f(0x480E, "TR limit"),
		f(0x4810, "GDTR limit"), f(0x4812, "IDTR limit"),
		f(0x4814, "ES access rights"), f(0x4816, "CS access rights"), f(0x4818, "SS access rights"),
		f(0x481A, "DS access rights"), f(0x481C, "FS access rights"), f(0x481E, "GS access rights"),
		f(0x4820, "LDTR access rights"), f(0x4822, "TR access rights"),
		f(0x4824, "interruptibility state"), f(0x4826, "activity state"), f(0x4828, "SMBASE"),
		f(0x482A, "IA32_SYSENTER_CS"),
		f(0x482E, "preemption timer value", cPin(6))),
	grp(vmx.Width32, vmx.TypeHost, // B.3.4
		f(0x4C00, "IA32_SYSENTER_CS")),
	grp(vmx.WidthNatural, vmx.TypeControl, // B.4.1
		f(0x6000, "CR0 guest/host mask"), f(0x6002, "CR4 guest/host mask"),
		f(0x6004, "CR0 read shadow"), f(0x6006, "CR4 read shadow"),
		f(0x6008, "CR3-target value 0"), f(0x600A, "CR3-target value 1"),
		f(0x600C, "CR3-target value 2"), f(0x600E, "CR3-target value 3")),
	grp(vmx.WidthNatural, vmx.TypeReadOnly, // B.4.2
		f(0x6400, "Exit qualification"), f(0x6402, "RCX"), f(0x6404, "RSI"), f(0x6406, "RDI"),
		f(0x6408, "RIP"), f(0x640A, "Guest-linear address")),
	grp(vmx.WidthNatural, vmx.TypeGuest, // B.4.3
		f(0x6800, "CR0"), f(0x6802, "CR3"), f(0x6804, "CR4"),
		f(0x6806, "ES base"), f(0x6808, "CS base"), f(0x680A, "SS base"), f(0x680C, "DS base"),
		f(0x680E, "FS base"), f(0x6810, "GS base"), f(0x6812, "LDTR base"), f(0x6814, "TR base"),
		f(0x6816, "GDTR base"), f(0x6818, "IDTR base"), f(0x681A, "DR7"), f(0x681C, "RSP"),
		f(0x681E, "RIP"), f(0x6820, "RFLAGS"), f(0x6822, "pending debug exceptions"),
		f(0x6824, "IA32_SYSENTER_ESP"), f(0x6826, "IA32_SYSENTER_EIP"),
		f(0x6828, "IA32_S_CET", cEntry(20)), f(0x682A, "SSP", cEntry(20)),
		f(0x682C, "IA32_INTERRUPT_SSP_TABLE_ADDR", cEntry(20))),
	grp(vmx.WidthNatural, vmx.TypeHost, // B.4.4
		f(0x6C00, "CR0"), f(0x6C02, "CR3"), f(0x6C04, "CR4"), f(0x6C06, "FS base"),
		f(0x6C08, "GS base"), f(0x6C0A, "TR base"), f(0x6C0C, "GDTR base"), f(0x6C0E, "IDTR base"),
		f(0x6C10, "IA32_SYSENTER_ESP"), f(0x6C12, "IA32_SYSENTER_EIP"), f(0x6C14, "RSP"), f(0x6C16, "RIP"),
		f(0x6C18, "IA32_S_CET", cExit(28)), f(0x6C1A, "SSP", cExit(28)),
		f(0x6C1C, "IA32_INTERRUPT_SSP_TABLE_ADDR", cExit(28))),
)

func concat(gs ...[]sdmField) []sdmField {
	var out []sdmField
	for _, g := range gs {
		out = append(out, g...)
	}
	return out
}

func sdmByEnc() map[uint32]sdmField {
	m := map[uint32]sdmField{}
	for _, f := range appendixB {
		m[f.enc] = f
	}
	return m
}

// widthOrder is the order of the width groups in Appendix B (B.1 16-bit,
// B.2 64-bit, B.3 32-bit, B.4 natural-width).
func widthOrder(w vmx.Width) int {
	return map[vmx.Width]int{vmx.Width16: 0, vmx.Width64: 1, vmx.Width32: 2, vmx.WidthNatural: 3}[w]
}

// SDM Vol. 3C 25.11.2 (Table 25-21): bit 0 access type, bits 9:1 index,
// bits 11:10 type, bit 12 reserved, bits 14:13 width, bits 31:15
// reserved. Each entry of the table decodes as its Appendix B group says.
func TestFieldEncoding_Table25_21_DecodesAsAppendixBGroup(t *testing.T) {
	sdm := sdmByEnc()
	for _, fl := range vmx.Fields() {
		t.Run(fmt.Sprintf("%#04x", fl.Enc), func(t *testing.T) {
			want, ok := sdm[fl.Enc]
			require.True(t, ok, "%#x (%s) is not an Appendix B encoding", fl.Enc, fl.Name)
			assert.Zero(t, fl.Enc&1, "bit 0 (access type) is 0: the table holds full encodings")
			assert.Zero(t, fl.Enc&(1<<12), "bit 12 is reserved")
			assert.Zero(t, fl.Enc>>15, "bits 31:15 are reserved")
			assert.Equal(t, want.width, fl.Width(), "width: bits 14:13")
			assert.Equal(t, vmx.Width(fl.Enc>>13&3), fl.Width())
			assert.Equal(t, want.typ, fl.Type(), "type: bits 11:10")
			assert.Equal(t, vmx.Type(fl.Enc>>10&3), fl.Type())
			assert.Equal(t, fl.Enc>>1&0x1FF, fl.Index(), "index: bits 9:1")
			assert.Contains(t, fl.Name, want.word, "Appendix B's name")
		})
	}
}

// Table 25-21: the widths are 0 = 16-bit, 1 = 64-bit, 2 = 32-bit,
// 3 = natural-width; the types 0 = control, 1 = VM-exit information,
// 2 = guest state, 3 = host state. A 16-bit field is 2 bytes, a 32-bit one
// 4, 64-bit and natural-width 8 (natural width is 64 bits on processors
// with Intel 64, 25.11.2).
func TestFieldEncoding_Table25_21_WidthAndTypeValues(t *testing.T) {
	assert.Equal(t, vmx.Width(0), vmx.Width16)
	assert.Equal(t, vmx.Width(1), vmx.Width64)
	assert.Equal(t, vmx.Width(2), vmx.Width32)
	assert.Equal(t, vmx.Width(3), vmx.WidthNatural)
	assert.Equal(t, vmx.Type(0), vmx.TypeControl)
	assert.Equal(t, vmx.Type(1), vmx.TypeReadOnly)
	assert.Equal(t, vmx.Type(2), vmx.TypeGuest)
	assert.Equal(t, vmx.Type(3), vmx.TypeHost)
	for w, size := range map[vmx.Width]int{vmx.Width16: 2, vmx.Width64: 8, vmx.Width32: 4, vmx.WidthNatural: 8} {
		assert.Equal(t, size, w.Size(), "%s", w)
	}
}

// Appendix B lists each field once: encodings and names are unique.
func TestFieldTable_AppendixB_UniqueEncodingsAndNames(t *testing.T) {
	encs, names := map[uint32]string{}, map[string]uint32{}
	for _, fl := range vmx.Fields() {
		if prev, dup := encs[fl.Enc]; dup {
			t.Errorf("encoding %#x twice: %q and %q", fl.Enc, prev, fl.Name)
		}
		if prev, dup := names[fl.Name]; dup {
			t.Errorf("name %q twice: %#x and %#x", fl.Name, prev, fl.Enc)
		}
		encs[fl.Enc], names[fl.Name] = fl.Name, fl.Enc
		assert.NotEmpty(t, fl.Name)
	}
	// The independent table of this file must itself be free of
	// duplicates, or the comparisons below prove nothing.
	seen := map[uint32]bool{}
	for _, s := range appendixB {
		assert.False(t, seen[s.enc], "appendixB repeats %#x", s.enc)
		seen[s.enc] = true
	}
}

// The table holds every field of Appendix B (as listed in this file) and
// nothing else, in Appendix B's order (width groups B.1-B.4, types within
// each, indexes ascending).
func TestFieldTable_AppendixB_CompleteAndOrdered(t *testing.T) {
	got := map[uint32]bool{}
	for _, fl := range vmx.Fields() {
		got[fl.Enc] = true
	}
	for _, s := range appendixB {
		assert.True(t, got[s.enc], "Appendix B field %#x (%s) is missing from the table", s.enc, s.word)
	}
	assert.Len(t, vmx.Fields(), len(appendixB))
	fs := vmx.Fields()
	key := func(fl vmx.Field) uint32 {
		return uint32(widthOrder(fl.Width()))<<16 | uint32(fl.Type())<<12 | fl.Index()
	}
	for i := 1; i < len(fs); i++ {
		assert.Less(t, key(fs[i-1]), key(fs[i]), "%#x before %#x", fs[i-1].Enc, fs[i].Enc)
	}
}

// Spot checks of well-known encodings (Vol. 3D Tables B-1 .. B-14).
func TestFieldByEnc_AppendixB_KnownEncodings(t *testing.T) {
	for _, tc := range []struct {
		enc  uint32
		word string
		w    vmx.Width
		ty   vmx.Type
	}{
		{0x0000, "VPID", vmx.Width16, vmx.TypeControl},            // B.1.1
		{0x0802, "Guest CS selector", vmx.Width16, vmx.TypeGuest}, // B.1.2
		{0x0C0C, "Host TR selector", vmx.Width16, vmx.TypeHost},   // B.1.3
		{0x2000, "I/O bitmap A", vmx.Width64, vmx.TypeControl},    // B.2.1
		{0x201A, "EPT pointer", vmx.Width64, vmx.TypeControl},     // B.2.1
		{0x2400, "Guest-physical address", vmx.Width64, vmx.TypeReadOnly},
		{0x2800, "VMCS link pointer", vmx.Width64, vmx.TypeGuest}, // B.2.3
		{0x4002, "processor-based", vmx.Width32, vmx.TypeControl}, // B.3.1
		{0x4400, "VM-instruction error", vmx.Width32, vmx.TypeReadOnly},
		{0x4402, "Exit reason", vmx.Width32, vmx.TypeReadOnly}, // B.3.2
		{0x4826, "activity state", vmx.Width32, vmx.TypeGuest}, // B.3.3
		{0x6400, "Exit qualification", vmx.WidthNatural, vmx.TypeReadOnly},
		{0x681E, "Guest RIP", vmx.WidthNatural, vmx.TypeGuest}, // B.4.3
		{0x6C16, "Host RIP", vmx.WidthNatural, vmx.TypeHost},   // B.4.4
	} {
		fl, ok := vmx.FieldByEnc(tc.enc)
		if assert.True(t, ok, "%#x", tc.enc) {
			assert.Contains(t, fl.Name, tc.word)
			assert.Equal(t, tc.w, fl.Width(), "%#x", tc.enc)
			assert.Equal(t, tc.ty, fl.Type(), "%#x", tc.enc)
		}
	}
	// High-access encodings, reserved encodings and holes are not table
	// entries.
	for _, enc := range []uint32{0x0001, 0x2001, 0x201B, 0x1000, 0x482C, 0x8000, 0x6C1E} {
		_, ok := vmx.FieldByEnc(enc)
		assert.False(t, ok, "%#x", enc)
	}
}

// bareMSRs is a processor with no optional control: every control word
// allows exactly its default1 bits (Vol. 3D A.3-A.5), region size 4096,
// revision 1, and the MSRs that exist only with optional controls
// present with nothing allowed, so single bits can be turned on.
func bareMSRs() map[uint32]uint64 {
	return map[uint32]uint64{
		msr.VMXBasic:          1 | 0x1000<<32 | 6<<50,
		msr.VMXPinbasedCtls:   0x16 | 0x16<<32,
		msr.VMXProcbasedCtls:  0x0401E172 | 0x0401E172<<32,
		msr.VMXExitCtls:       0x36DFF | 0x36DFF<<32,
		msr.VMXEntryCtls:      0x11FF | 0x11FF<<32,
		msr.VMXMisc:           0,
		msr.VMXCR0Fixed0:      0x80000021,
		msr.VMXCR0Fixed1:      0xFFFFFFFF,
		msr.VMXCR4Fixed0:      0x2000,
		msr.VMXCR4Fixed1:      0x7767FF,
		msr.VMXVMCSEnum:       0,
		msr.VMXProcbasedCtls2: 0,
		msr.VMXProcbasedCtls3: 0,
		msr.VMXVMFunc:         0,
	}
}

func supportedSet(c *vmx.Caps) map[uint32]bool {
	out := map[uint32]bool{}
	for _, fl := range c.Supported() {
		out[fl.Enc] = true
	}
	return out
}

// Appendix B footnotes: a field that serves a control exists only on
// processors that support the control's 1-setting. With no optional
// control only the unconditional fields exist; each control alone adds
// exactly the fields that name it.
func TestCaps_AppendixB_FieldExistsWithItsControl(t *testing.T) {
	base := bareMSRs()
	got := supportedSet(mapCaps(t, base, 46))
	for _, s := range appendixB {
		assert.Equal(t, len(s.needs) == 0, got[s.enc], "%#x (%s) with no optional control", s.enc, s.word)
	}
	// Every control any field names.
	ctls := map[ctlBit]bool{}
	for _, s := range appendixB {
		for _, n := range s.needs {
			ctls[n] = true
		}
	}
	for c := range ctls {
		t.Run(fmt.Sprintf("msr%#x_bit%d", c.msr, c.bit), func(t *testing.T) {
			m := bareMSRs()
			m[c.msr] |= 1 << c.bit
			got := supportedSet(mapCaps(t, m, 46))
			for _, s := range appendixB {
				want := len(s.needs) == 0
				for _, n := range s.needs {
					want = want || n == c
				}
				assert.Equal(t, want, got[s.enc], "%#x (%s)", s.enc, s.word)
			}
		})
	}
}

// expectedFields evaluates this file's Appendix B existence conditions on
// a set of capability MSRs.
func expectedFields(read func(uint32) (uint64, bool)) map[uint32]bool {
	out := map[uint32]bool{}
	for _, s := range appendixB {
		ok := len(s.needs) == 0
		for _, n := range s.needs {
			if v, present := read(n.msr); present && v>>n.bit&1 != 0 {
				ok = true
			}
		}
		if ok {
			out[s.enc] = true
		}
	}
	return out
}

// The shipped models: Caps from the guest-visible capability MSRs (what
// the machine builds) and from the model's full MSRs (every control the
// real CPU has, as when controls are unmasked later) must both lay out in
// the region size of IA32_VMX_BASIC[44:32] (Vol. 3D A.1), with
// the revision of bits 30:0, IA32_VMX_BASIC[48] and IA32_VMX_MISC[29], the
// fields Appendix B says exist, and IA32_VMX_VMCS_ENUM bits 9:1 the
// highest index of them (A.9).
func TestCaps_RealModels_AppendixA(t *testing.T) {
	models, err := msr.Models()
	require.NoError(t, err)
	require.NotEmpty(t, models)
	for _, m := range models {
		p := profile(t, m.Name)
		for _, view := range []struct {
			name string
			read func(uint32) (uint64, bool)
		}{{"guest", p.GuestVMX}, {"full", p.ModelVMX}} {
			t.Run(m.Name+"/"+view.name, func(t *testing.T) {
				c, err := vmx.NewCaps(view.read, nil, p.MaxPhysAddr(), 48)
				require.NoError(t, err)
				basic, ok := view.read(msr.VMXBasic)
				require.True(t, ok)
				misc, _ := view.read(msr.VMXMisc)
				assert.Equal(t, uint32(basic&0x7FFFFFFF), c.Revision, "A.1: bits 30:0")
				assert.Equal(t, int(basic>>32&0x1FFF), c.RegionSize, "A.1: bits 44:32")
				assert.Equal(t, basic>>48&1 == 1, c.Addr32, "A.1: bit 48")
				assert.Equal(t, misc>>29&1 == 1, c.VMWriteAll, "A.6: bit 29")
				assert.Equal(t, p.MaxPhysAddr(), c.MaxPhysAddr)
				p2, _ := view.read(msr.VMXProcbasedCtls2)
				assert.Equal(t, p2>>(32+14)&1 == 1, c.Shadowing, "A.3.3: VMCS shadowing")

				assert.Equal(t, expectedFields(view.read), supportedSet(c), "Appendix B existence")

				enum := c.VMCSEnum()
				var maxIdx uint64
				for _, fl := range c.Supported() {
					maxIdx = max(maxIdx, uint64(fl.Enc>>1&0x1FF))
				}
				assert.Equal(t, maxIdx, enum>>1&0x1FF, "A.9: bits 9:1 are the highest index")
				assert.Zero(t, enum&^0x3FE, "A.9: the other bits are 0 (reserved)")
			})
		}
	}
}

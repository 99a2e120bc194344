package vmx

import (
	"fmt"

	"github.com/vmxemu/vmxemu/msr"
)

// Caps is a processor's VMX capabilities as the guest reads them (its
// capability MSRs, SDM Vol. 3D Appendix A), in the form the instructions
// use, with the VMCS fields that exist on it and where vmxemu keeps them in
// a VMCS region. It is immutable and shared by the logical processors of a
// machine.
type Caps struct {
	// Revision is the VMCS revision identifier, IA32_VMX_BASIC[30:0].
	Revision uint32
	// RegionSize is the size of the VMXON and VMCS regions,
	// IA32_VMX_BASIC[44:32].
	RegionSize int
	// Addr32 is IA32_VMX_BASIC[48]: the VMXON, VMCS and other VMX
	// pointers are limited to 32 bits.
	Addr32 bool
	// MaxPhysAddr is MAXPHYADDR, the physical-address width, and
	// LinearWidth the linear-address width (48, or 57 with 5-level
	// paging: CPUID.80000008H:EAX[15:8]).
	MaxPhysAddr, LinearWidth uint
	// VMWriteAll is IA32_VMX_MISC[29]: VMWRITE may write the VM-exit
	// information fields.
	VMWriteAll bool
	// Shadowing: the secondary controls allow "VMCS shadowing" (bit 14),
	// which lets VMPTRLD accept a shadow VMCS (revision bit 31).
	Shadowing bool
	// CR0 and CR4 are the fixed-bit pairs of VMX operation (A.7, A.8).
	CR0, CR4 msr.Fixed

	msrs capMSRs
	// model are the CPU model's capability MSRs before vmxemu masked the
	// controls it does not implement (for explanations only; may be nil).
	model func(idx uint32) (uint64, bool)
	// slot maps an encoding's width, type and index to the field's slot
	// in the VMCS (-1: no such field on this processor).
	slot [4][4][512]int16
	// flat is lookup's answer for every encoding below 8000H (slotOf).
	flat [1 << 15]int16
	// segSlots are the slots of the guest segment fields, by register
	// (ES ... TR) and part (selector, base, limit, access rights):
	// guestSegSlots.
	segSlots [8][4]int16
	// hostSlots are the slots of the fields LoadHostState reads
	// (resolveHostSlots).
	hostSlots [hsCount]int16
	// guestSlots are the slots of the other fields LoadGuestState and
	// SaveGuestState move (resolveGuestSlots).
	guestSlots [gsCount]int16
	// coreSlots are the slots of the core's fields (CoreFieldValue).
	coreSlots [coreFieldCount]int16
	// class is each slot's write class (slotClass): VMCS.gen counts the
	// writes by it.
	class    []uint8
	supports []Field // the fields that exist, in table order
	offsets  []int   // region offset of each supported field
	maxIndex uint32
}

// VMCS region layout (vmxemu's own beyond what the SDM fixes, Vol. 3C
// 25.2): the revision identifier with the shadow-VMCS indicator at 0, the
// VMX-abort indicator at 4, the launch state at 8, the fields from 16.
const (
	offRevision    = 0
	offAbort       = 4
	offLaunchState = 8
	offFields      = 16
)

// Launch-state values in a region (offLaunchState).
const (
	launchClear    = 0
	launchLaunched = 1
)

// NewCaps reads the capability MSRs (read returns an MSR and whether it
// exists) and lays out the VMCS fields that exist; maxPhysAddr and
// linearWidth are the processor's address widths. It fails when the fields
// do not fit in the region size the processor reports.
//
// model, if not nil, reads the CPU model's own capability MSRs, before
// vmxemu masked the controls it does not implement: a failure that a
// masked control causes then says so.
func NewCaps(read, model func(idx uint32) (uint64, bool), maxPhysAddr, linearWidth uint) (*Caps, error) {
	if linearWidth == 0 {
		linearWidth = 48
	}
	c := &Caps{model: model, MaxPhysAddr: maxPhysAddr, LinearWidth: linearWidth}
	for i := msr.FirstVMX; i <= msr.LastVMX; i++ {
		if v, ok := read(i); ok {
			c.msrs.set(i, v)
		}
	}
	basic, ok := c.msrs.lookup(msr.VMXBasic)
	if !ok {
		return nil, fmt.Errorf("no IA32_VMX_BASIC: the processor has no VMX")
	}
	c.Revision = uint32(basic) & 0x7FFFFFFF
	c.RegionSize = int(basic >> 32 & 0x1FFF)
	c.Addr32 = basic>>48&1 != 0
	c.VMWriteAll = c.msrs.get(msr.VMXMisc)>>29&1 != 0
	c.Shadowing = c.allowed(proc2(14))
	c.CR0 = msr.Fixed{Fixed0: c.msrs.get(msr.VMXCR0Fixed0), Fixed1: c.msrs.get(msr.VMXCR0Fixed1)}
	c.CR4 = msr.Fixed{Fixed0: c.msrs.get(msr.VMXCR4Fixed0), Fixed1: c.msrs.get(msr.VMXCR4Fixed1)}

	for w := range c.slot {
		for t := range c.slot[w] {
			for i := range c.slot[w][t] {
				c.slot[w][t][i] = -1
			}
		}
	}
	for _, f := range fields {
		if !c.exists(&f) {
			continue
		}
		c.slot[f.Width()][f.Type()][f.Index()] = int16(len(c.supports))
		c.supports = append(c.supports, f)
		c.maxIndex = max(c.maxIndex, f.Index())
	}
	// 8-byte fields first, then 4- and 2-byte ones, each group in table
	// order, so that every field is naturally aligned.
	c.offsets = make([]int, len(c.supports))
	off := offFields
	for _, size := range []int{8, 4, 2} {
		for i := range c.supports {
			if c.supports[i].Width().Size() == size {
				c.offsets[i] = off
				off += size
			}
		}
	}
	if off > c.RegionSize {
		return nil, fmt.Errorf("the %d VMCS fields of this processor need %d bytes, more than its %d-byte VMCS region (IA32_VMX_BASIC[44:32])",
			len(c.supports), off, c.RegionSize)
	}
	for e := range c.flat {
		c.flat[e] = -1
		if s, _, ok := c.decodeLookup(uint64(e)); ok {
			c.flat[e] = int16(s)
		}
	}
	c.segSlots = c.guestSegSlots()
	c.hostSlots = c.resolveHostSlots()
	c.guestSlots = c.resolveGuestSlots()
	for f := range c.coreSlots {
		c.coreSlots[f] = int16(c.slotOf(coreFieldEnc(CoreField(f))))
	}
	c.class = make([]uint8, len(c.supports))
	for i := range c.supports {
		c.class[i] = slotClass(c.supports[i].Enc)
	}
	return c, nil
}

// allowed reports whether a control may be 1.
func (c *Caps) allowed(n need) bool { return c.msrs.get(n.msr)>>n.bit&1 != 0 }

// exists reports whether the field exists on the processor.
func (c *Caps) exists(f *Field) bool {
	if len(f.needs) == 0 {
		return true
	}
	for _, n := range f.needs {
		if c.allowed(n) {
			return true
		}
	}
	return false
}

// Supported returns the fields that exist on the processor.
func (c *Caps) Supported() []Field { return append([]Field(nil), c.supports...) }

// VMCSEnum is IA32_VMX_VMCS_ENUM as the field table makes it: bits 9:1
// hold the highest index of any field that exists (SDM Vol. 3D A.9).
func (c *Caps) VMCSEnum() uint64 { return uint64(c.maxIndex) << 1 }

// lookup resolves a VMREAD/VMWRITE encoding operand: the slot of the field
// and whether the access is to the high half of a 64-bit field (access
// type, bit 0). ok is false for an unsupported component (reserved bits
// set, high access to a field that is not 64-bit, or no such field on this
// processor). It reads flat, which decodeLookup filled for every encoding
// below 8000H; any other sets reserved bits.
func (c *Caps) lookup(enc uint64) (slot int, high bool, ok bool) {
	if enc >= 1<<15 {
		return 0, false, false
	}
	if s := c.flat[enc]; s >= 0 {
		return int(s), enc&1 != 0, true
	}
	return 0, false, false
}

// decodeLookup is lookup by the encoding's parts (SDM Vol. 3C 25.11.2:
// access type, index, type, width), through the slot table.
func (c *Caps) decodeLookup(enc uint64) (slot int, high bool, ok bool) {
	if enc>>15 != 0 || enc&(1<<12) != 0 {
		return 0, false, false
	}
	e := uint32(enc)
	w := encWidth(e)
	if encHigh(e) && w != Width64 {
		return 0, false, false
	}
	s := c.slot[w][encType(e)][encIndex(e)]
	if s < 0 {
		return 0, false, false
	}
	return int(s), encHigh(e), true
}

// slotOf is lookup for the processor's own accesses (the entry checks,
// exits: a few hundred per round trip), small enough to inline: the slot
// of a field by its full encoding (a high access only to a 64-bit field),
// -1 when there is none.
func (c *Caps) slotOf(enc uint32) int {
	if enc >= 1<<15 {
		return -1
	}
	return int(c.flat[enc])
}

// physOK reports whether a VMX pointer is a valid physical address: 4-KiB
// aligned and within the physical-address width (32 bits when
// IA32_VMX_BASIC[48] is set; SDM Vol. 3C 25.1, Vol. 2C VMXON).
func (c *Caps) physOK(addr uint64) (bool, string) {
	if addr&0xFFF != 0 {
		return false, fmt.Sprintf("%#x is not 4-KiB aligned (bits 11:0 must be 0)", addr)
	}
	width := c.MaxPhysAddr
	if c.Addr32 {
		width = 32
	}
	if width < 64 && addr>>width != 0 {
		why := fmt.Sprintf("MAXPHYADDR is %d", width)
		if c.Addr32 {
			why = "IA32_VMX_BASIC[48] = 1 limits VMX pointers to 32 bits"
		}
		return false, fmt.Sprintf("%#x sets bits beyond the physical-address width (%s)", addr, why)
	}
	return true, ""
}

// capMSRs holds the VMX capability MSRs (msr.FirstVMX through
// msr.LastVMX) by index: an array rather than a map, since the VM-entry
// checks read them on every entry.
type capMSRs struct {
	v  [msr.LastVMX - msr.FirstVMX + 1]uint64
	ok [msr.LastVMX - msr.FirstVMX + 1]bool
}

func (m *capMSRs) set(i uint32, v uint64) {
	m.v[i-msr.FirstVMX], m.ok[i-msr.FirstVMX] = v, true
}

// lookup returns MSR i and whether the processor has it.
func (m *capMSRs) lookup(i uint32) (uint64, bool) {
	if i < msr.FirstVMX || i > msr.LastVMX {
		return 0, false
	}
	return m.v[i-msr.FirstVMX], m.ok[i-msr.FirstVMX]
}

// get returns MSR i, 0 when the processor does not have it.
func (m *capMSRs) get(i uint32) uint64 { v, _ := m.lookup(i); return v }

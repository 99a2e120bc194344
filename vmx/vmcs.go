package vmx

import (
	"encoding/binary"
	"fmt"
)

// VMCS is the data of one active VMCS as the processor holds it: the field
// values (indexed by the processor's field slots, Caps.Supported order)
// and the launch state. Its region in memory is authoritative only while
// the VMCS is not active; VMCLEAR (and VMXOFF) write it back.
type VMCS struct {
	addr     uint64
	rev      uint32
	launched bool
	vals     []uint64
	// gen counts, by write class (slotClass: the field types — control,
	// VM-exit information, guest state, host state — with the guest
	// fields every VM exit changes in a class of their own), the writes
	// that may have changed a field of that class. Every write to vals
	// notes itself here (VMWRITE, setField, failValid, and the state
	// moves of VM entry and exit, which note theirs once per class, and
	// the other guest fields of an exit only when one of them changed);
	// the entry-check memos compare it before the values, and the values
	// of the classes written only (fastentry.go).
	gen [nClasses]uint64
}

// load reads the VMCS region at addr into a new active VMCS (VMPTRLD of a
// VMCS that is not active). false if a read was refused.
func load(c *Caps, mem Phys, addr uint64) (*VMCS, bool) {
	buf := make([]byte, c.RegionSize)
	if !mem.ReadPhys(addr, buf) {
		return nil, false
	}
	return decode(c, addr, buf), true
}

// decode builds a VMCS from region bytes (vmxemu's layout, caps.go).
func decode(c *Caps, addr uint64, buf []byte) *VMCS {
	s := &VMCS{addr: addr, vals: make([]uint64, len(c.supports))}
	s.rev = binary.LittleEndian.Uint32(buf[offRevision:])
	s.launched = binary.LittleEndian.Uint32(buf[offLaunchState:]) == launchLaunched
	for i, f := range c.supports {
		off := c.offsets[i]
		switch f.Width().Size() {
		case 2:
			s.vals[i] = uint64(binary.LittleEndian.Uint16(buf[off:]))
		case 4:
			s.vals[i] = uint64(binary.LittleEndian.Uint32(buf[off:]))
		default:
			s.vals[i] = binary.LittleEndian.Uint64(buf[off:])
		}
	}
	return s
}

// encode writes the VMCS's launch state and fields into region bytes; the
// revision identifier and the VMX-abort indicator are left as they are.
func (s *VMCS) encode(c *Caps, buf []byte) {
	ls := uint32(launchClear)
	if s.launched {
		ls = launchLaunched
	}
	binary.LittleEndian.PutUint32(buf[offLaunchState:], ls)
	for i, f := range c.supports {
		off := c.offsets[i]
		switch f.Width().Size() {
		case 2:
			binary.LittleEndian.PutUint16(buf[off:], uint16(s.vals[i]))
		case 4:
			binary.LittleEndian.PutUint32(buf[off:], uint32(s.vals[i]))
		default:
			binary.LittleEndian.PutUint64(buf[off:], s.vals[i])
		}
	}
}

// store writes the VMCS back to its region (from offset 8: the revision
// identifier and abort indicator are the region's). false if a write was
// refused.
func (s *VMCS) store(c *Caps, mem Phys) bool {
	buf := make([]byte, c.RegionSize)
	s.encode(c, buf)
	return mem.WritePhys(s.addr+offLaunchState, buf[offLaunchState:])
}

// storeLaunchState writes a launch state into the region at addr.
func storeLaunchState(mem Phys, addr uint64, ls uint32) bool {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], ls)
	return mem.WritePhys(addr+offLaunchState, b[:])
}

// Launched reports the VMCS's launch state.
func (s *VMCS) Launched() bool { return s.launched }

// Field returns a field's value by encoding (full encodings; false for a
// field the processor does not have). For diagnostics and tests.
func (v *CPU) Field(addr uint64, enc uint32) (uint64, bool) {
	s, ok := v.active[addr]
	if !ok {
		return 0, false
	}
	slot, _, ok := v.caps.lookup(uint64(enc))
	if !ok {
		return 0, false
	}
	return s.vals[slot], true
}

// DecodeRegion reads a VMCS region's bytes (vmxemu's layout) into field
// values by encoding, for diagnostics (the GDB stub, dumps) and tests.
func (c *Caps) DecodeRegion(buf []byte) (launched bool, vals map[uint32]uint64, err error) {
	if len(buf) < c.RegionSize {
		return false, nil, fmt.Errorf("VMCS region of %d bytes, the processor's is %d", len(buf), c.RegionSize)
	}
	s := decode(c, 0, buf)
	vals = make(map[uint32]uint64, len(c.supports))
	for i, f := range c.supports {
		vals[f.Enc] = s.vals[i]
	}
	return s.launched, vals, nil
}

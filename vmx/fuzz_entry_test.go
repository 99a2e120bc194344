package vmx

import (
	"encoding/binary"
	"testing"

	"github.com/vmxemu/vmxemu/arch"
)

// sparseRAM is guest-physical memory of 4-KiB pages below 4 GiB; unwritten
// bytes read as 0 and accesses at or above 4 GiB are refused, so random
// VMCS pointers (MSR areas, the link pointer) reach memory or a clean
// refusal, never a Go index error.
type sparseRAM map[uint64]*[4096]byte

func (m sparseRAM) ReadPhys(pa uint64, b []byte) bool {
	if pa >= 1<<32 || uint64(len(b)) > 1<<32-pa {
		return false
	}
	for i := range b {
		a := pa + uint64(i)
		if p := m[a>>12]; p != nil {
			b[i] = p[a&0xFFF]
		} else {
			b[i] = 0
		}
	}
	return true
}

func (m sparseRAM) WritePhys(pa uint64, b []byte) bool {
	if pa >= 1<<32 || uint64(len(b)) > 1<<32-pa {
		return false
	}
	for i := range b {
		a := pa + uint64(i)
		p := m[a>>12]
		if p == nil {
			p = new([4096]byte)
			m[a>>12] = p
		}
		p[a&0xFFF] = b[i]
	}
	return true
}

// entryErrors are the VM-instruction error numbers VMLAUNCH/VMRESUME can
// give before the guest-state checks (SDM Vol. 3C 31.4, 31.3
// VMLAUNCH/VMRESUME "Operation").
var entryErrors = map[InstrError]bool{
	ErrVMLAUNCHNonClear: true, ErrVMRESUMENonLaunched: true,
	ErrEntryInvalidControl: true, ErrEntryInvalidHostState: true, ErrEntryMovSSBlocking: true,
}

// FuzzVMLAUNCH runs VMLAUNCH/VMRESUME on a VMCS built from random bytes:
// either a random region loaded with VMPTRLD (its revision forced right)
// or the valid baseline of entryVMCS, then random VMWRITEs to any field the
// processor has, and a random host context. Every outcome must be
// architected (SDM Vol. 3C 31.3, 27.2-27.4, 28.8): VMfailValid with an
// entry error number that the VM-instruction error field holds, a
// VM-entry failure (exit reason 33 or 34 with bit 31 set in the exit
// reason field), or all checks passed — each failure with its rule — and
// the host-state load after it must not panic.
//
// prog: byte 0 bit 0 VMLAUNCH/VMRESUME, bit 1 random region instead of
// the baseline, bit 2 MOV-SS blocking, bit 3 IA-32e host; then 10-byte
// writes (2 bytes field index, 8 bytes value).
func FuzzVMLAUNCH(f *testing.F) {
	f.Add([]byte{}, []byte{0})
	f.Add([]byte{}, []byte{1})
	f.Add(make([]byte, 64), []byte{2})
	f.Add([]byte{0xFF, 0xFF, 0xFF, 0xFF, 0, 0, 0, 0, 1}, []byte{3})
	f.Add([]byte{}, []byte{0, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF})
	f.Add([]byte{}, []byte{8, 5, 0, 1, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0x10, 0, 0, 0, 0, 0, 0})
	f.Add([]byte{}, []byte{4})
	f.Fuzz(func(t *testing.T, region, prog []byte) {
		if len(prog) == 0 {
			return
		}
		v, base := entryVMCS(t)
		mem := sparseRAM{}
		mem.WritePhys(0, base)
		if prog[0]&2 != 0 {
			const pa = 0x5000
			buf := make([]byte, v.caps.RegionSize)
			copy(buf, region)
			binary.LittleEndian.PutUint32(buf[offRevision:], v.caps.Revision)
			mem.WritePhys(pa, buf)
			if o := v.VMPTRLD(pa, mem); o.Kind != Succeed {
				t.Fatalf("VMPTRLD of a region with the right revision: %v", o)
			}
		}
		fields := v.caps.Supported()
		for p := prog[1:]; len(p) >= 10; p = p[10:] {
			fld := fields[int(binary.LittleEndian.Uint16(p))%len(fields)]
			v.setField(fld.Enc, binary.LittleEndian.Uint64(p[2:]))
		}
		c := host32
		c.MovSSBlocking = prog[0]&4 != 0
		if prog[0]&8 != 0 {
			c.EFER = 1<<8 | arch.EFERLMA
			c.CSL = true
			c.CR4 |= 1 << 5
		}
		launch := prog[0]&1 == 0
		o, done := v.Enter(launch, &c, mem)
		if !done {
			if o.Kind != Succeed {
				t.Fatalf("checks passed but outcome %v", o)
			}
			return
		}
		if o.Why == "" {
			t.Fatalf("failure without its rule: %+v", o)
		}
		switch o.Kind {
		case FailValid:
			if !entryErrors[o.Err] {
				t.Fatalf("VMfailValid(%d) is not an entry error: %v", o.Err, o)
			}
			if got := v.field(encVMInstructionError); got != uint64(o.Err) {
				t.Fatalf("VM-instruction error field %d, outcome %d", got, o.Err)
			}
		case EntryFailed:
			r := v.field(encExitReason)
			if r>>31 != 1 || r&0xFFFF != ExitInvalidGuestState && r&0xFFFF != ExitMSRLoading {
				t.Fatalf("VM-entry failure with exit reason %#x: %v", r, o)
			}
			v.LoadHostState(&arch.State{})
		default:
			t.Fatalf("VMLAUNCH/VMRESUME outcome %v is not architected", o)
		}
	})
}

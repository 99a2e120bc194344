package vmx_test

import (
	"encoding/binary"
	"testing"

	"github.com/vmxemu/vmxemu/vmx"
)

// fuzzProc is a processor the fuzzer runs on, with the fields that exist
// on it by this package's own Appendix B table (fields_test.go).
type fuzzProc struct {
	caps   *vmx.Caps
	exists map[uint32]bool
	encs   []uint32
}

func newFuzzProc(tb testing.TB, model string) fuzzProc {
	p := profile(tb, model)
	fp := fuzzProc{caps: modelCaps(tb, model), exists: expectedFields(p.ModelVMX)}
	for _, s := range appendixB {
		fp.encs = append(fp.encs, s.enc)
	}
	return fp
}

// fuzzReader hands out the bytes of the operation program.
type fuzzReader struct{ b []byte }

func (r *fuzzReader) n(k int) uint64 {
	var x [8]byte
	copy(x[:], r.b)
	if len(r.b) > k {
		r.b = r.b[k:]
	} else {
		r.b = nil
	}
	v := binary.LittleEndian.Uint64(x[:])
	if k < 8 {
		v &= 1<<(8*k) - 1
	}
	return v
}

// FuzzVMCSRegion runs random VMREAD/VMWRITE/VMCLEAR/VMPTRLD/VMPTRST
// sequences over random VMCS region bytes and checks every outcome against
// an oracle written from the SDM pseudocode (31.3) and Appendix B, not
// from the implementation:
//   - the outcome kind and error number of each instruction (31.2, 31.4);
//   - VMREAD after VMWRITE gives the width-truncated value (31.3 VMWRITE
//     and VMREAD descriptions), and every VMREAD value fits its width;
//   - the current-VMCS pointer is valid iff VMREAD does not VMfailInvalid,
//     and VMPTRST stores it;
//   - VMfailValid writes its number to the current VMCS's VM-instruction
//     error field.
//
// Program: byte 0 selects the processor (bit 0) and whether the region's
// revision is forced right (bit 1); then operations, each an opcode byte
// and its operands.
func FuzzVMCSRegion(f *testing.F) {
	procs := []fuzzProc{newFuzzProc(f, "skylake-sp"), newFuzzProc(f, "sandybridge-ep")}
	f.Add(make([]byte, 64), []byte{2, 3, 0, 1, 0x1E, 0x68, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0x1E, 0x68, 0, 0, 0})
	f.Add([]byte{4, 0, 0, 0, 0, 0, 0, 0, 1}, []byte{3, 3, 0, 1, 0x11, 0x20, 0, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 2, 0, 3, 0, 0, 0x11, 0x20, 0, 0, 1})
	f.Add([]byte{0x10, 0, 0, 0x80}, []byte{0, 3, 0, 3, 1, 3, 3, 0, 0x00, 0x44, 0, 0, 0, 4, 5})
	f.Fuzz(func(t *testing.T, region, prog []byte) {
		if len(prog) == 0 {
			return
		}
		fp := procs[prog[0]&1]
		c := fp.caps
		r := newRig(t, c)
		if len(region) > c.RegionSize {
			region = region[:c.RegionSize]
		}
		r.mem.WritePhys(vmcsPA, region)
		if prog[0]&2 != 0 || len(region) < 4 {
			r.mem.put32(vmcsPA, c.Revision)
		}
		r.must(vmx.InsnVMXON, vmxonPA)
		in := &fuzzReader{b: prog[1:]}

		const invalid = ^uint64(0)
		cur := invalid
		active := map[uint64]bool{}
		// known[ptr][enc]: a field's value as the SDM says it must be,
		// for fields written (or failed into) since the model last lost
		// track of that VMCS's data.
		known := map[uint64]map[uint32]uint64{}
		setKnown := func(p uint64, enc uint32, v uint64) {
			if known[p] == nil {
				known[p] = map[uint32]uint64{}
			}
			known[p][enc] = v
		}
		pointers := []uint64{vmcsPA, vmcs2PA, vmcs3PA, vmxonPA}
		pickAddr := func() uint64 {
			sel := in.n(1)
			if sel < 0xF0 {
				return pointers[sel%uint64(len(pointers))]
			}
			return in.n(8)
		}
		// physOK per 31.3: 4-KiB aligned, no bit beyond MAXPHYADDR (32
		// with IA32_VMX_BASIC[48]).
		addrOK := func(a uint64) bool {
			w := c.MaxPhysAddr
			if c.Addr32 {
				w = 32
			}
			return a&0xFFF == 0 && a>>w == 0
		}
		// failWant is VMfail(n) of 31.2.
		failWant := func(n vmx.InstrError) want {
			if cur == invalid {
				return wInvalid
			}
			return wValid(n)
		}
		apply := func(w want, o vmx.Outcome) bool {
			t.Helper()
			if o.Kind != w.kind || (w.kind == vmx.FailValid && o.Err != w.err) {
				t.Fatalf("%s: want kind %d err %d", o, w.kind, w.err)
			}
			if w.kind == vmx.FailValid {
				setKnown(cur, 0x4400, uint64(w.err))
			}
			return w.kind == vmx.Succeed
		}

		for steps := 0; steps < 256 && len(in.b) > 0; steps++ {
			op := in.n(1)
			flags := in.n(1)
			mode64 := flags&1 == 0
			if mode64 {
				r.ctx = ctx64()
			} else {
				r.ctx = ctx32()
			}
			// The encoding operand: a table field (full or high), or raw.
			var enc uint64
			switch sel := in.n(1); {
			case sel < 0xC0:
				enc = uint64(fp.encs[int(sel)%len(fp.encs)]) | uint64(flags>>1&1)
			case sel < 0xE0:
				enc = in.n(4)
			default:
				enc = in.n(8)
			}
			if !mode64 {
				enc = uint64(uint32(enc)) // a 32-bit register operand
			}
			e := uint32(enc)
			width := vmx.Width(e >> 13 & 3)
			high := e&1 != 0
			full := e &^ 1
			supported := enc>>15 == 0 && e&(1<<12) == 0 && (!high || width == vmx.Width64) && fp.exists[full]

			switch op % 6 {
			case 0: // VMREAD
				v, o := r.read(enc)
				var w want
				switch {
				case cur == invalid:
					w = wInvalid
				case !supported:
					w = wValid(vmx.ErrUnsupportedComponent)
				default:
					w = wSucceed
				}
				if !apply(w, o) {
					break
				}
				limit := map[vmx.Width]uint64{vmx.Width16: 0xFFFF, vmx.Width32: 0xFFFF_FFFF, vmx.Width64: invalid, vmx.WidthNatural: invalid}[width]
				if high || !mode64 {
					limit = min(limit, 0xFFFF_FFFF)
				}
				if v > limit {
					t.Fatalf("VMREAD %#x = %#x, wider than the field/operand", enc, v)
				}
				if kv, ok := known[cur][full]; ok {
					if high {
						kv >>= 32
					}
					if !mode64 {
						kv = uint64(uint32(kv))
					}
					if v != kv {
						t.Fatalf("VMREAD %#x (mode64 %v) = %#x, want %#x", enc, mode64, v, kv)
					}
				}
			case 1: // VMWRITE
				val := in.n(8)
				if !mode64 {
					val = uint64(uint32(val))
				}
				var w want
				switch {
				case cur == invalid:
					w = wInvalid
				case !supported:
					w = wValid(vmx.ErrUnsupportedComponent)
				case vmx.Type(e>>10&3) == vmx.TypeReadOnly && !c.VMWriteAll:
					w = wValid(vmx.ErrVMWRITEReadOnly)
				default:
					w = wSucceed
				}
				if !apply(w, r.write(enc, val)) {
					break
				}
				switch {
				case high:
					if old, ok := known[cur][full]; ok {
						setKnown(cur, full, old&0xFFFF_FFFF|uint64(uint32(val))<<32)
					}
				case width == vmx.Width16:
					setKnown(cur, full, val&0xFFFF)
				case width == vmx.Width32:
					setKnown(cur, full, val&0xFFFF_FFFF)
				default:
					setKnown(cur, full, val)
				}
			case 2: // VMCLEAR
				a := pickAddr()
				var w want
				switch {
				case !addrOK(a):
					w = failWant(vmx.ErrVMCLEARInvalidAddr)
				case a == vmxonPA:
					w = failWant(vmx.ErrVMCLEARVMXONPtr)
				default:
					w = wSucceed
				}
				if apply(w, r.do(vmx.InsnVMCLEAR, a)) {
					delete(active, a)
					if a == cur {
						cur = invalid
					}
				}
			case 3: // VMPTRLD
				a := pickAddr()
				var w want
				switch {
				case !addrOK(a):
					w = failWant(vmx.ErrVMPTRLDInvalidAddr)
				case a == vmxonPA:
					w = failWant(vmx.ErrVMPTRLDVMXONPtr)
				default:
					rev := r.mem.get32(a)
					if rev&0x7FFF_FFFF != c.Revision || rev>>31 == 1 && !c.Shadowing {
						w = failWant(vmx.ErrVMPTRLDBadRevision)
					} else {
						w = wSucceed
					}
				}
				if apply(w, r.do(vmx.InsnVMPTRLD, a)) {
					cur = a
					active[a] = true
				}
			case 4: // VMPTRST
				res := exec(r.cpu, r.ctx, r.mem, vmx.InsnVMPTRST, 0, 0, 0)
				apply(wSucceed, res.out)
				if res.val != cur {
					t.Fatalf("VMPTRST = %#x, want %#x", res.val, cur)
				}
			case 5: // ordinary writes to a region that is not active (25.11.1:
				// software must not write an active one)
				a := pointers[in.n(1)%3]
				if active[a] {
					break
				}
				off := in.n(2) % (4096 - 3) // the 4 bytes stay inside the region
				b := []byte{byte(in.n(1)), byte(in.n(1)), byte(in.n(1)), byte(in.n(1))}
				if flags&2 != 0 {
					off, b = 0, binary.LittleEndian.AppendUint32(nil, c.Revision|uint32(flags>>2&1)<<31)
				}
				r.mem.WritePhys(a+off, b)
				delete(known, a)
			}
			if r.cpu.CurrentVMCS() != cur {
				t.Fatalf("current-VMCS pointer %#x, want %#x", r.cpu.CurrentVMCS(), cur)
			}
		}
		// Current pointer valid iff VMREAD does not VMfailInvalid.
		r.ctx = ctx64()
		_, o := r.read(0x4400)
		if (o.Kind == vmx.FailInvalid) != (cur == invalid) {
			t.Fatalf("VMREAD %s with current-VMCS pointer %#x", o, cur)
		}
	})
}

package ept

import (
	"encoding/binary"
	"testing"
)

// FuzzWalk walks EPT hierarchies built from random memory: the input's
// first 24 bytes are the capability MSR, the EPTP, the guest-physical
// address and the access; the rest fills host-physical pages 0-15 with
// entries (repeated to cover them). Invariants from the SDM (Vol. 3C
// 29.3): exactly one outcome; a translation has the permission the
// access needs, a page-aligned size and stays within MAXPHYADDR; a
// violation's qualification names exactly one access type and its bits
// 5:3 lack the one the access needs (or the path was not present);
// the walk is deterministic and, without EPTP bit 6, never writes;
// Explain reaches the same outcome and never writes.
func FuzzWalk(f *testing.F) {
	seed := make([]byte, 24+8*8)
	binary.LittleEndian.PutUint64(seed[0:], capSkylake)
	binary.LittleEndian.PutUint64(seed[8:], 0x1000|3<<3|6)
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 32 {
			return
		}
		c := Caps{MSR: binary.LittleEndian.Uint64(b[0:]), MaxPhysAddr: 36 + uint(b[23]%17)}
		eptp := binary.LittleEndian.Uint64(b[8:])
		gpa := binary.LittleEndian.Uint64(b[16:]) & (1<<57 - 1)
		ops := b[23] >> 5
		a := Access{Write: ops&1 != 0, Fetch: ops&2 != 0 && ops&1 == 0, Paging: ops&4 != 0, LinearValid: b[22]&1 != 0}
		if c.CheckEPTP(eptp) != "" {
			return
		}
		// Entries point into pages 0-15 and map host pages there.
		words := b[24:]
		m := mem{}
		fill := func() {
			n := len(words) / 8
			for i := 0; i < 16*512; i++ {
				v := binary.LittleEndian.Uint64(words[8*(i%n):])
				v = v&^0x000F_FFFF_FFFF_F000 | v&0xF000 // addresses stay in pages 0-15
				m[uint64(i)*8] = v
			}
		}
		if len(words) < 8 {
			return
		}
		fill()
		before := len(m)
		snapshot := make(map[uint64]uint64, len(m))
		for k, v := range m {
			snapshot[k] = v
		}
		steps, ex := Explain(m, c, eptp&^(0xFFFF_FFFF_F000)|eptp&0xF000, gpa, a)
		for k, v := range snapshot {
			if m[k] != v {
				t.Fatalf("Explain wrote the entry at %#x", k)
			}
		}
		r := Walk(m, c, eptp&^(0xFFFF_FFFF_F000)|eptp&0xF000, gpa, a)
		if ex.Kind != r.Kind || ex.HPA != r.HPA || ex.Qualification != r.Qualification {
			t.Fatalf("Explain (%+v, %d steps) and Walk (%+v) disagree", ex, len(steps), r)
		}
		write := a.Write || a.Paging && Pointer(eptp).AD()
		switch r.Kind {
		case OK:
			need := uint8(entR)
			if a.Fetch {
				need = entX
			} else if write {
				need = entW
			}
			if r.Perm&need == 0 {
				t.Fatalf("translation without the permission: perm %b need %b", r.Perm, need)
			}
			if r.PageSize != 4096 && r.PageSize != 2<<20 && r.PageSize != 1<<30 {
				t.Fatalf("page size %#x", r.PageSize)
			}
			if r.HPA&(r.PageSize-1) != gpa&(r.PageSize-1) {
				t.Fatalf("offset not kept: hpa %#x gpa %#x", r.HPA, gpa)
			}
			if r.HPA>>c.MaxPhysAddr != 0 {
				t.Fatalf("hpa %#x beyond MAXPHYADDR %d", r.HPA, c.MaxPhysAddr)
			}
			if r.PageSize == 1<<30 && !c.Has(Cap1G) || r.PageSize == 2<<20 && !c.Has(Cap2M) {
				t.Fatalf("large page without the capability")
			}
			if r.MemType == 2 || r.MemType == 3 || r.MemType == 7 {
				t.Fatalf("reserved memory type %d translated", r.MemType)
			}
		case Violation:
			q := r.Qualification
			n := q&1 + q>>1&1 + q>>2&1
			if n == 0 || n > 2 || n == 2 && q&3 != 3 {
				t.Fatalf("qualification %#x: access bits", q)
			}
			if q&3 == 3 && !(a.Paging && write) {
				t.Fatalf("qualification %#x: read+write for a non-paging access", q)
			}
			if q&^0x1BF != 0 {
				t.Fatalf("qualification %#x: undefined bits", q)
			}
			if q>>8&1 != 0 && q>>7&1 == 0 {
				t.Fatalf("qualification %#x: bit 8 without bit 7", q)
			}
			perm := uint8(q >> 3 & 7)
			if (a.Fetch && perm&entX != 0) || (!a.Fetch && write && perm&entW != 0) || (!a.Fetch && !write && perm&entR != 0) {
				t.Fatalf("violation although bits 5:3 (%b) allow the access", perm)
			}
		case Misconfigured:
			if r.Qualification != 0 || r.Why == "" {
				t.Fatalf("misconfiguration with qualification %#x, why %q", r.Qualification, r.Why)
			}
		default:
			t.Fatalf("kind %d", r.Kind)
		}
		if !Pointer(eptp).AD() || r.Kind != OK {
			for k, v := range snapshot {
				if m[k] != v {
					t.Fatalf("entry at %#x written (%#x → %#x) without A/D flags or on a refusal", k, v, m[k])
				}
			}
		}
		if len(m) != before {
			t.Fatalf("walk wrote outside the tables")
		}
		r2 := Walk(m, c, eptp&^(0xFFFF_FFFF_F000)|eptp&0xF000, gpa, a)
		if r2.Kind != r.Kind || r2.HPA != r.HPA || r2.Qualification != r.Qualification {
			t.Fatalf("not deterministic: %+v then %+v", r, r2)
		}
	})
}

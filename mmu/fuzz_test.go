package mmu

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// FuzzWalk walks paging structures built from random memory in every
// paging mode. The input's first 32 bytes choose CR0/CR4/EFER bits,
// CR3, PKRU/PKRS, the linear address and the access; the rest fills
// physical pages 0-3 with entries whose addresses stay in those pages.
// Invariants, from the SDM (Vol. 3A 4.5-4.7):
//   - exactly one outcome: a translation, a #PF, or a refusal;
//   - a #PF's error code describes the access: W/R = write, U/S = a
//     user-mode access (an implicit supervisor access is not one), I/D =
//     an instruction fetch when CR4.SMEP=1 or (PAE, 4- or 5-level paging
//     with IA32_EFER.NXE=1) (4.7); RSVD only with P; PK never for a fetch;
//     CR2 (Fault.Addr) is the linear address;
//   - a translation has a page size the mode has (4 KiB, 4 MiB for
//     32-bit paging, 2 MiB for PAE and up, 1 GiB for 4/5-level when the
//     model has 1-GiB pages), keeps the offset, grants a user-mode access
//     only on a user page, a user write only on a writable user page,
//     and a fetch only without XD;
//   - Explain (on the memory before the walk) reaches the same outcome
//     and writes nothing; the walk is deterministic.
func FuzzWalk(f *testing.F) {
	seed := make([]byte, 32+8*16)
	binary.LittleEndian.PutUint32(seed[0:], 1)      // PG
	binary.LittleEndian.PutUint32(seed[4:], 0x1000) // CR3
	for i := 32; i < len(seed); i += 8 {
		binary.LittleEndian.PutUint64(seed[i:], 0x1007)
	}
	f.Add(seed)
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) < 40 {
			return
		}
		ctl := binary.LittleEndian.Uint32(b[0:])
		r := &Regs{CR3: uint64(binary.LittleEndian.Uint32(b[4:])) & 0x301F, MaxPhysAddr: 36 + uint(b[8]%17),
			PKRU: binary.LittleEndian.Uint32(b[12:]), PKRS: binary.LittleEndian.Uint32(b[16:]),
			RFLAGSAC: ctl&(1<<12) != 0, No1GPages: ctl&(1<<13) != 0}
		bit := func(n uint, v uint64) uint64 {
			if ctl&(1<<n) != 0 {
				return v
			}
			return 0
		}
		r.CR0 = arch.CR0PG | 1 | bit(1, arch.CR0WP)
		r.CR4 = bit(2, arch.CR4PAE) | bit(3, arch.CR4PSE) | bit(4, arch.CR4SMEP) | bit(5, arch.CR4SMAP) |
			bit(6, arch.CR4PKE) | bit(7, arch.CR4PKS) | bit(8, arch.CR4PGE)
		if r.CR4&arch.CR4PAE != 0 && ctl&(1<<9) != 0 {
			r.EFER = arch.EFERLME | arch.EFERLMA
			r.CR4 |= bit(10, arch.CR4LA57)
		}
		r.EFER |= bit(11, arch.EFERNXE)
		lin := binary.LittleEndian.Uint64(b[20:])
		if r.EFER&arch.EFERLMA == 0 {
			lin &= 0xFFFFFFFF
		}
		acc := Access{Write: b[28]&1 != 0, Fetch: b[28]&2 != 0, User: b[28]&4 != 0, Implicit: b[28]&8 != 0}
		if acc.Fetch {
			acc.Write, acc.Implicit = false, false
		}
		words := b[32:]
		if len(words) < 8 {
			return
		}
		m := newMem()
		n := len(words) / 8
		for i := 0; i < 4*512; i++ {
			v := binary.LittleEndian.Uint64(words[8*(i%n):])
			m.q[uint64(i)*8] = v &^ 0x000F_FFFF_FFFF_C000 &^ 0xFFFF_C000 // addresses stay in pages 0-3
		}
		if r.Mode() == ModePAE {
			for i := range r.PDPTE {
				r.PDPTE[i], _ = m.ReadPhys64(r.CR3&^0x1F + uint64(i)*8)
			}
		}
		before := m.snapshot()
		e := Explain(m, r, lin, acc)
		require.Equal(t, before, m.snapshot(), "Explain wrote memory")
		tr, f := Walk(m, r, lin, acc)
		after := m.snapshot()

		// Determinism: the same walk on the same memory.
		m2 := newMem()
		m2.q = before
		tr2, f2 := Walk(m2, r, lin, acc)
		require.Equal(t, tr, tr2)
		require.Equal(t, f, f2)
		require.Equal(t, after, m2.q)

		require.Equal(t, f, e.Fault, "Explain and Walk disagree on the fault")
		require.Equal(t, tr.PhysPage, e.Translation.PhysPage, "Explain and Walk disagree on the frame")
		require.Equal(t, tr.Refused, e.Refused)
		if tr.Refused {
			require.Nil(t, f)
			return
		}
		user := acc.User && !acc.Implicit
		if f != nil {
			require.Equal(t, uint8(arch.VecPF), f.Vector, f.Error())
			require.Equal(t, lin, f.Addr)
			require.Equal(t, acc.Write, f.Code&arch.PFErrWR != 0, "W/R: %s", f.Error())
			require.Equal(t, user, f.Code&arch.PFErrUS != 0, "U/S: %s", f.Error())
			longOrPAE := r.Mode() != Mode32Bit
			id := acc.Fetch && (r.CR4&arch.CR4SMEP != 0 || longOrPAE && r.EFER&arch.EFERNXE != 0)
			require.Equal(t, id, f.Code&arch.PFErrID != 0, "I/D: %s", f.Error())
			if f.Code&arch.PFErrRSVD != 0 {
				require.NotZero(t, f.Code&arch.PFErrP, "RSVD without P: %s", f.Error())
			}
			if acc.Fetch {
				require.Zero(t, f.Code&arch.PFErrPK, "PK on a fetch: %s", f.Error())
			}
			require.NotEmpty(t, f.Rule)
			return
		}
		sizes := map[Mode][]uint64{Mode32Bit: {4 << 10, 4 << 20}, ModePAE: {4 << 10, 2 << 20},
			Mode4Level: {4 << 10, 2 << 20, 1 << 30}, Mode5Level: {4 << 10, 2 << 20, 1 << 30}}[r.Mode()]
		require.Contains(t, sizes, tr.PageSize)
		if tr.PageSize == 1<<30 {
			require.False(t, r.No1GPages, "a 1-GiB page without 1-GiB page support")
		}
		require.Zero(t, tr.PhysPage&0xFFF)
		if user {
			require.True(t, tr.User, "a user-mode access to a supervisor page")
			if acc.Write {
				require.True(t, tr.Writable, "a user-mode write to a read-only page")
			}
		}
		if acc.Fetch {
			require.False(t, tr.NX, "a fetch from an execute-disabled page")
		}
		if acc.Write {
			require.True(t, tr.Dirty, "a write through a translation without D")
		}
	})
}

package ept

import "testing"

// BenchmarkWalk: one 4-level EPT walk (SDM Vol. 3C 29.3.2) to a 4-KiB page
// and to a 2-MiB page, a data read, Sandy Bridge EP capabilities (no A/D
// flags), the tables in a Go map standing for host memory.
func BenchmarkWalk(b *testing.B) {
	m := mem{}
	const pml4, pdpt, pd, pt = 0x1000, 0x2000, 0x3000, 0x4000
	m[pml4] = pdpt | 7
	m[pdpt] = pd | 7
	m[pd] = pt | 7                        // PDE 0: a page table
	m[pd+8] = 0x200000 | 7 | 6<<3 | entPS // PDE 1: a 2-MiB page, WB
	m[pt+8*5] = 0x5000 | 7 | 6<<3         // PTE 5, WB
	eptp := uint64(pml4 | 6 | 3<<3)
	for _, c := range []struct {
		name string
		gpa  uint64
		size uint64
	}{{"4K", 0x5123, 4096}, {"2M", 0x212345, 2 << 20}} {
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				if r := Walk(m, snb, eptp, c.gpa, Access{}); r.Kind != OK || r.PageSize != c.size {
					b.Fatalf("walk: %+v", r)
				}
			}
		})
	}
}

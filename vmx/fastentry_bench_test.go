package vmx

import (
	"testing"
)

// BenchmarkEntryChecks: the VM-entry checks of VMRESUME (SDM Vol. 3C
// 27.1-27.3.1) on the valid baseline VMCS of entryVMCS, a 32-bit host:
// full runs every check (the memos off); fast skips the groups whose
// fields are unchanged (fastentry.go); fast-rip changes the guest RIP
// before each entry, as a host that advances it past an exiting
// instruction does, so the guest-state group runs again (its segment
// checks do not).
func BenchmarkEntryChecks(b *testing.B) {
	for _, c := range []struct {
		name     string
		off, rip bool
	}{{"full", true, false}, {"fast", false, false}, {"fast-rip", false, true}} {
		b.Run(c.name, func(b *testing.B) {
			v, r := entryVMCSWith(b, sandyCaps(b))
			var mem Phys = r // converted once: a slice in an interface allocates
			v.cur.launched = true
			v.memo.off = c.off
			ctx := host32
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if c.rip {
					v.setField(encGuestRIP, 0x100000+uint64(i&0xFF)*2)
				}
				if _, done := v.Enter(false, &ctx, mem); done {
					b.Fatal("the baseline failed")
				}
			}
		})
	}
}

// BenchmarkVMREADWRITE: VMREAD and VMWRITE of the guest RIP (natural
// width, 681EH) in VMX root operation, 64-bit mode (SDM Vol. 3C 31.3).
func BenchmarkVMREADWRITE(b *testing.B) {
	v, _ := entryVMCSWith(b, sandyCaps(b))
	b.Run("VMREAD", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if _, o := v.VMREAD(encGuestRIP, true); o.Kind != Succeed {
				b.Fatal(o)
			}
		}
	})
	b.Run("VMWRITE", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			if o := v.VMWRITE(encGuestRIP, uint64(i), true); o.Kind != Succeed {
				b.Fatal(o)
			}
		}
	})
}

package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestLoadGuestEFER: the guest-state checks of a loaded IA32_EFER (SDM
// Vol. 3C 27.3.1.1: reserved bits 0; LMA = "IA-32e mode guest"; LMA = LME
// when the guest's CR0.PG is 1), its load (27.3.2.1) and its save with
// "save IA32_EFER" (28.3.1).
func TestLoadGuestEFER(t *testing.T) {
	for _, tc := range []struct {
		name     string
		realMode bool // the unrestricted real-mode guest (CR0.PG = 0) rather than a paged 32-bit one
		efer     uint64
		rule     string // "" when the entry passes
	}{
		{"paged 32-bit guest, EFER 0", false, 0, ""},
		{"SCE and NXE", false, arch.EFERSCE | arch.EFERNXE, ""},
		{"reserved bit 1", false, 1 << 1, "reserved bits of IA32_EFER"},
		{"LMA without IA-32e mode guest", false, arch.EFERLMA | arch.EFERLME, "must equal the \"IA-32e mode guest\""},
		{"LME without LMA, CR0.PG = 1", false, arch.EFERLME, "must equal IA32_EFER.LME (bit 8) when the guest's CR0.PG is 1"},
		{"LME without LMA, CR0.PG = 0", true, arch.EFERLME, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v, mem := entryVMCS(t)
			if tc.realMode {
				v, mem = realModeVMCS(t, true)
			}
			for enc, val := range map[uint32]uint64{encEntryCtls: snbEntry | entryLoadEFER, encGuestEFER: tc.efer, encExitCtls: snbExit | exitSaveEFER} {
				require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
			}
			o, done := v.Enter(true, &host32, mem)
			if tc.rule != "" {
				require.True(t, done)
				require.Equal(t, EntryFailed, o.Kind, o.Why)
				assert.Contains(t, o.Why, tc.rule)
				return
			}
			require.False(t, done, o.Why)
			s := arch.State{EFER: arch.EFERSCE | arch.EFERLME | arch.EFERLMA}
			var g GuestEntry
			v.LoadGuestState(&s, true, &g)
			assert.Equal(t, tc.efer, s.EFER, "the guest's IA32_EFER is the field")
			s.EFER = arch.EFERNXE | arch.EFERSCE
			v.SaveGuestState(ExitVMCALL, &ExitInfo{}, &GuestSave{State: &s})
			e, _ := v.VMREAD(encGuestEFER, true)
			assert.Equal(t, uint64(arch.EFERNXE|arch.EFERSCE), e, "\"save IA32_EFER\" stores the guest's")
		})
	}
}

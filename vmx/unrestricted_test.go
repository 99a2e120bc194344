package vmx

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// Unrestricted guest at VM entry (SDM Vol. 3C 27.2.1.1, 27.3.1.1,
// 27.3.1.2, 27.2.1.3, 27.3.2.1): a real-address-mode guest passes the
// checks only with the control; each exemption is tested both ways.

// urgEPTP is a valid EPTP on Sandy Bridge EP: WB (6), page-walk length 4
// (3 in bits 5:3), no A/D (SDM Vol. 3C 25.6.11).
const urgEPTP = 0x5000 | 3<<3 | 6

// host64 is a 64-bit host (IA32_EFER.LMA = 1, CS.L = 1).
var host64 = EntryCtx{Ctx: Ctx{CR0: 0x80000031, CR4: arch.CR4VMXE | arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA, CSL: true}}

// realModeVMCS is entryVMCS with a real-address-mode guest (CR0 = NE|ET,
// CS 1000H:base 10000H, data segments of selector 0, 64-KiB limits,
// access rights 93H/9BH as a real-mode segment load leaves them) and, when
// urg, "enable EPT" and "unrestricted guest".
func realModeVMCS(t *testing.T, urg bool) (*CPU, ram) {
	t.Helper()
	v, mem := entryVMCS(t)
	f := map[uint32]uint64{
		encGuestCR0: arch.CR0NE | arch.CR0ET,
		encGuestRIP: 0x100,
	}
	for i := uint32(0); i < 6; i++ {
		sel, ar := uint64(0), uint64(0x93)
		if i == arch.CS {
			sel, ar = 0x1000, 0x9B
		}
		f[encGuestSelES+2*i], f[encGuestBaseES+2*i], f[encGuestLimitES+2*i], f[encGuestARES+2*i] = sel, sel<<4, 0xFFFF, ar
	}
	if urg {
		f[encProcCtls] = snbProc | procActivateSecondary
		f[encProcCtls2] = proc2EPT | proc2UnrestrictedGuest
		f[encEPTP] = urgEPTP
	}
	for enc, val := range f {
		require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
	}
	return v, mem
}

// TestUnrestrictedGuestEntry: each row changes the real-mode VMCS and
// says whether VM entry passes with and without "unrestricted guest".
// Expected outcomes are the SDM's rules, quoted per row.
func TestUnrestrictedGuestEntry(t *testing.T) {
	type outcome struct {
		pass bool
		rule string // substring of the failure's rule
	}
	ok := outcome{pass: true}
	for _, tc := range []struct {
		name      string
		set       map[uint32]uint64
		withURG   outcome
		withoutUG outcome
	}{
		// 27.3.1.1: PE and PG are not checked against FIXED0 with the
		// control.
		{"real mode (CR0.PE = PG = 0)", nil, ok, outcome{rule: "CR0.PE"}},
		{"unpaged protected mode (CR0.PE = 1, PG = 0)", map[uint32]uint64{encGuestCR0: 0x31}, ok, outcome{rule: "CR0.PG"}},
		// 27.3.1.1: CR0.PG = 1 requires CR0.PE = 1, with the control too.
		{"CR0.PG without PE", map[uint32]uint64{encGuestCR0: 0x80000030}, outcome{rule: "CR0.PG = 1 requires CR0.PE = 1"}, outcome{rule: "CR0.PE"}},
		// 27.3.1.1: the other FIXED0 bits stay: NE.
		{"CR0.NE clear", map[uint32]uint64{encGuestCR0: 0x10}, outcome{rule: "CR0.NE"}, outcome{rule: "CR0.PE"}},
		// 27.3.1.1: "IA-32e mode guest" needs CR0.PG = 1 and CR4.PAE = 1.
		// (A 64-bit host: "IA-32e mode guest" needs "host address-space
		// size", 27.2.4.)
		{"IA-32e mode guest without paging", map[uint32]uint64{encEntryCtls: snbEntry | entryIA32eGuest, encGuestCR4: arch.CR4VMXE | arch.CR4PAE,
			encExitCtls: snbExit | exitHostAddrSpace, encHostCR4: arch.CR4VMXE | arch.CR4PAE},
			outcome{rule: "IA-32e mode guest needs CR0.PG = 1"}, outcome{rule: "CR0.PE"}},
		// 27.2.1.3: "deliver error code" must be 0 with the control and
		// CR0.PE = 0, even for #GP.
		{"#GP injected with an error code into real mode", map[uint32]uint64{encEntryIntrInfo: 1<<31 | 1<<11 | 3<<8 | 13},
			outcome{rule: "must be 0 with \"unrestricted guest\" = 1"}, outcome{rule: "CR0.PE"}},
		{"#GP injected without error code into real mode", map[uint32]uint64{encEntryIntrInfo: 1<<31 | 3<<8 | 13},
			ok, outcome{rule: "must be 1 for vector 13"}},
		// 27.3.1.2: the SS selector's RPL need not equal CS's.
		{"SS RPL 3, CS RPL 0", map[uint32]uint64{encGuestSelES + 4: 0x3, encGuestBaseES + 4: 0x30, encGuestCR0: 0x31},
			ok, outcome{rule: "CR0.PG"}},
		// 27.3.1.2: CS may be of type 3 with DPL 0.
		{"CS type 3 (data)", map[uint32]uint64{encGuestARES + 2: 0x93}, ok, outcome{rule: "CR0.PE"}},
		{"CS type 3 with DPL 3", map[uint32]uint64{encGuestARES + 2: 0xF3}, outcome{rule: "type 3 (data, possible only"}, outcome{rule: "CR0.PE"}},
		{"CS type 1 (data, read/write not accessed)", map[uint32]uint64{encGuestARES + 2: 0x91}, outcome{rule: "must be 3 (read/write accessed expand-up data) or 9"}, outcome{rule: "CR0.PE"}},
		// 27.3.1.2: SS.DPL must be 0 with CR0.PE = 0, and when CS is of
		// type 3.
		// (A conforming CS, whose DPL may be below SS's.)
		{"SS DPL 3 in real mode", map[uint32]uint64{encGuestARES + 2: 0x9F, encGuestARES + 4: 0xF3}, outcome{rule: "SS.DPL must be 0 with CR0.PE = 0"}, outcome{rule: "CR0.PE"}},
		{"SS DPL 3 with a data CS in protected mode", map[uint32]uint64{encGuestCR0: 0x31, encGuestARES + 2: 0x93, encGuestARES + 4: 0xF3, encGuestSelES + 4: 3},
			outcome{rule: "SS.DPL must be 0 when CS is of type 3"}, outcome{rule: "CR0.PG"}},
		// 27.3.1.2: without the control SS.DPL = SS.RPL; with it not.
		{"SS DPL 0 with RPL 3 in unpaged protected mode", map[uint32]uint64{encGuestCR0: 0x31, encGuestSelES + 4: 3},
			ok, outcome{rule: "CR0.PG"}},
		// 27.3.1.2: DS DPL below its RPL only matters without the control.
		{"DS DPL 0 with RPL 3", map[uint32]uint64{encGuestSelES + 6: 3, encGuestBaseES + 6: 0x30}, ok, outcome{rule: "CR0.PE"}},
		// 27.3.1.4: RFLAGS.VM must be 0 with CR0.PE = 0.
		{"RFLAGS.VM in real mode", map[uint32]uint64{encGuestRFLAGS: 2 | arch.FlagVM, encGuestARES: 0xF3, encGuestARES + 2: 0xF3, encGuestARES + 4: 0xF3,
			encGuestARES + 6: 0xF3, encGuestARES + 8: 0xF3, encGuestARES + 10: 0xF3}, outcome{rule: "RFLAGS.VM must be 0"}, outcome{rule: "CR0.PE"}},
	} {
		for _, urg := range []bool{true, false} {
			want := tc.withoutUG
			if urg {
				want = tc.withURG
			}
			v, mem := realModeVMCS(t, urg)
			for enc, val := range tc.set {
				require.Equal(t, Succeed, v.VMWRITE(uint64(enc), val, true).Kind, "%#x", enc)
			}
			host := &host32
			if tc.set[encExitCtls]&exitHostAddrSpace != 0 {
				host = &host64
			}
			o, done := v.Enter(true, host, mem)
			if want.pass {
				assert.False(t, done, "%s (urg %v): %s", tc.name, urg, o.Why)
				continue
			}
			require.True(t, done, "%s (urg %v) passed", tc.name, urg)
			assert.Contains(t, o.Why, want.rule, "%s (urg %v)", tc.name, urg)
		}
	}
}

// TestUnrestrictedGuestLoadsEFER: with "load IA32_EFER" = 0, VM entry
// loads EFER.LMA from "IA-32e mode guest", and EFER.LME too only when the
// guest's CR0.PG is 1; otherwise LME keeps its value (SDM Vol. 3C
// 27.3.2.1).
func TestUnrestrictedGuestLoadsEFER(t *testing.T) {
	v, mem := realModeVMCS(t, true)
	_, done := v.Enter(true, &host32, mem)
	require.False(t, done)
	var cur arch.State
	cur.EFER = arch.EFERLME | arch.EFERSCE
	s := cur
	v.LoadGuestState(&s, true, &GuestEntry{})
	assert.Equal(t, uint64(arch.EFERLME|arch.EFERSCE), s.EFER, "CR0.PG = 0: LME kept, LMA = IA-32e mode guest = 0")

	v, mem = entryVMCS(t) // a paged 32-bit guest
	_, done = v.Enter(true, &host32, mem)
	require.False(t, done)
	s = cur
	v.LoadGuestState(&s, true, &GuestEntry{})
	assert.Equal(t, uint64(arch.EFERSCE), s.EFER, "CR0.PG = 1: LME = IA-32e mode guest = 0")
}

// TestExitSavesLMA: a VM exit stores IA32_EFER.LMA into the "IA-32e mode
// guest" VM-entry control (SDM Vol. 3C 28.3 with IA32_VMX_MISC[5] = 1,
// which every model with "unrestricted guest" reports): a guest that
// enabled IA-32e mode leaves it 1, one that left it 0.
func TestExitSavesLMA(t *testing.T) {
	for _, lma := range []bool{true, false} {
		v, mem := realModeVMCS(t, true)
		_, done := v.Enter(true, &host32, mem)
		require.False(t, done)
		var s arch.State
		v.LoadGuestState(&s, true, &GuestEntry{})
		if lma {
			s.EFER |= arch.EFERLME | arch.EFERLMA
		}
		v.SaveGuestState(ExitVMCALL, &ExitInfo{}, &GuestSave{State: &s})
		e, _ := v.VMREAD(encEntryCtls, true)
		assert.Equal(t, lma, e&entryIA32eGuest != 0, "LMA %v", lma)
	}
}

// TestGuestCR0FixedInNonRoot: MOV to CR0 in VMX non-root operation may
// clear PE and PG under "unrestricted guest" (SDM Vol. 3C 26.3, 27.3.1.1);
// NE stays fixed; without the control PE is fixed (24.8).
func TestGuestCR0FixedInNonRoot(t *testing.T) {
	for _, urg := range []bool{true, false} {
		v, mem := realModeVMCS(t, urg)
		if !urg {
			require.Equal(t, Succeed, v.VMWRITE(encGuestCR0, 0x80000031, true).Kind)
			for i := uint32(0); i < 6; i++ {
				require.Equal(t, Succeed, v.VMWRITE(uint64(encGuestARES+2*i), 0xC093, true).Kind)
				require.Equal(t, Succeed, v.VMWRITE(uint64(encGuestLimitES+2*i), 0xFFFFFFFF, true).Kind)
			}
			require.Equal(t, Succeed, v.VMWRITE(encGuestARES+2, 0xC09B, true).Kind)
			require.Equal(t, Succeed, v.VMWRITE(encGuestSelES+2, 0x08, true).Kind)
		}
		o, done := v.Enter(true, &host32, mem)
		require.False(t, done, o.Why)
		v.LoadGuestState(&arch.State{}, true, &GuestEntry{})
		require.True(t, v.Guest())
		if urg {
			assert.Nil(t, CheckCR0(v, 0x30), "real mode")
			assert.Nil(t, CheckCR0(v, 0x31), "unpaged protected mode")
		} else {
			assert.NotNil(t, CheckCR0(v, 0x30), "PE fixed to 1")
			assert.NotNil(t, CheckCR0(v, 0x80000011), "NE fixed to 1")
		}
		if f := CheckCR0(v, 0x10); assert.NotNil(t, f) {
			assert.Contains(t, f.Rule, "CR0.NE")
		}
	}
	// In VMX root operation nothing is exempt.
	v, _ := realModeVMCS(t, true)
	assert.NotNil(t, CheckCR0(v, 0x30))
}

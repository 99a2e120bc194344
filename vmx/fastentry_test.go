package vmx

import (
	"encoding/binary"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
)

func modelCapsInternal(t *testing.T, name string) *Caps {
	t.Helper()
	m, err := msr.Lookup(name)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	c, err := NewCaps(p.GuestVMX, p.ModelVMX, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	return c
}

// TestFastEntryEquivalence proves the fast VM-entry check path
// (fastentry.go) equivalent to the full one: two processors start from
// the same valid VMCS (entryVMCSWith, the controls set to the model's
// allowed-0 settings of the TRUE_* MSRs, so that it passes on either
// model), one with the group memos, one with them off (the full checks of
// SDM Vol. 3C 27.1-27.3 every time). Then thousands of steps: random
// writes to random fields of the field table (as VMWRITE or the
// processor's own exit-time writes would: any field, the value cut to the
// field's width) — a bit of the current value flipped, a boundary value
// (0, 1, all ones, a single bit, the top of a width), a random value, or
// the baseline value back; random bytes in the memory the checks read (the
// PDPTEs at guest CR3, the VMCS at the link pointer, VTPR); a random host context (32-bit or IA-32e host,
// MOV-SS blocking now and then) and VMLAUNCH or VMRESUME with a matching
// launch state. Both processors must give the same outcome (kind,
// VMfail number, exit reason and qualification, the message and the
// check named) and end with identical VMCS contents. The run must both
// pass and fail entries often, and skip groups (the fast path) often,
// else it proves nothing.
func TestFastEntryEquivalence(t *testing.T) {
	for _, tc := range []struct {
		model string
		pae   bool // a PAE guest: the checks read its PDPTEs from memory (27.3.1.6)
	}{{"sandybridge-ep", false}, {"skylake-sp", false}, {"sandybridge-ep", true}} {
		model := tc.model
		name := model
		if tc.pae {
			name += "/pae"
		}
		t.Run(name, func(t *testing.T) {
			caps := modelCapsInternal(t, model)
			mk := func() *CPU {
				v, _ := entryVMCSWith(t, caps)
				for _, c := range [][2]uint32{
					{encPinCtls, msr.VMXTruePinbasedCtls}, {encProcCtls, msr.VMXTrueProcbasedCtls},
					{encExitCtls, msr.VMXTrueExitCtls}, {encEntryCtls, msr.VMXTrueEntryCtls},
				} {
					v.setField(c[0], uint64(uint32(caps.msrs.get(c[1]))))
				}
				if tc.pae {
					v.setField(encGuestCR4, arch.CR4VMXE|arch.CR4PAE)
				}
				return v
			}
			fast, full := mk(), mk()
			full.memo.off = true
			mem := sparseRAM{}
			_, done := full.Enter(true, &host32, mem)
			require.False(t, done, "the baseline VMCS passes every check on %s", model)

			fields := caps.Supported()
			base := append([]uint64(nil), fast.cur.vals...)
			long := EntryCtx{Ctx: Ctx{CR0: 0x80000031, CR4: arch.CR4VMXE | arch.CR4PAE, EFER: arch.EFERLME | arch.EFERLMA, CSL: true}}
			rng := rand.New(rand.NewSource(18))
			kinds := map[string]int{}
			var xFast, xFull Intercepts
			var interceptHits uint64
			const steps = 20000
			for step := 0; step < steps; step++ {
				if rng.Intn(4) == 0 { // back to the baseline
					copy(fast.cur.vals, base)
					copy(full.cur.vals, base)
					// A write to vals behind the processor's back:
					// note it as every write path does (VMCS.gen).
					for t := range fast.cur.gen {
						fast.cur.gen[t]++
						full.cur.gen[t]++
					}
				}
				for n := rng.Intn(3); n >= 0; n-- {
					f := fields[rng.Intn(len(fields))]
					slot := caps.slotOf(f.Enc)
					cur := fast.cur.vals[slot]
					var val uint64
					switch rng.Intn(6) {
					case 0, 1:
						val = cur ^ 1<<rng.Intn(64)
					case 2:
						b := []uint64{0, 1, ^uint64(0), 1 << rng.Intn(64), 0xFFFF, 0xFFFFFFFF, 0x7FFFFFFF, 1<<47 - 1, 1 << 47}
						val = b[rng.Intn(len(b))]
					case 3:
						val = rng.Uint64()
					default:
						val = base[slot]
					}
					if sz := f.Width().Size(); sz < 8 {
						val &= 1<<(8*sz) - 1
					}
					if rng.Intn(2) == 0 {
						fast.setField(f.Enc, val) // as the processor's own writes
						full.setField(f.Enc, val)
					} else { // VMWRITE (a read-only field: VMfailValid, the error field written)
						require.Equal(t, full.VMWRITE(uint64(f.Enc), val, true), fast.VMWRITE(uint64(f.Enc), val, true), "step %d: VMWRITE %#x", step, f.Enc)
					}
				}
				if rng.Intn(4) == 0 {
					// Memory the checks read changes under an unchanged
					// VMCS: the PDPTEs at guest CR3, the VMCS at the link
					// pointer, VTPR on the virtual-APIC page.
					at := []uint64{fast.field(encGuestCR3)&^31 + 8*uint64(rng.Intn(4)),
						fast.field(encGuestLinkPtr), fast.field(encVirtualAPICAddr) + VTPROffset}[rng.Intn(3)]
					var b [8]byte
					rng.Read(b[:])
					if rng.Intn(2) == 0 {
						binary.LittleEndian.PutUint32(b[:], caps.Revision|uint32(rng.Intn(2))<<31)
					}
					mem.WritePhys(at, b[:])
				}
				if rng.Intn(8) == 0 {
					// A #UD to inject (type 3, vector 6, valid): entries
					// that pass clear its valid bit (27.6.1).
					fast.setField(encEntryIntrInfo, 0x80000306)
					full.setField(encEntryIntrInfo, 0x80000306)
				}
				c := host32
				if rng.Intn(10) == 0 {
					c = long
				}
				c.MovSSBlocking = rng.Intn(50) == 0
				launch := rng.Intn(2) == 0
				launched := rng.Intn(8) != 0 == !launch // mostly the matching launch state
				fast.cur.launched, full.cur.launched = launched, launched

				of, df := fast.Enter(launch, &c, mem)
				oo, do := full.Enter(launch, &c, mem)
				require.Equal(t, do, df, "step %d: done", step)
				require.Equal(t, oo, of, "step %d: outcome", step)
				require.Equal(t, full.cur.vals, fast.cur.vals, "step %d: VMCS contents", step)
				memosHold(t, fast, step)
				// The intercept record (Intercepts) through its memo and
				// in full, each into the record it filled before, after
				// every entry whatever its outcome (its memo does not
				// depend on one).
				h := fast.memo.hits
				fast.Intercepts(&xFast)
				full.Intercepts(&xFull)
				require.Equal(t, xFull, xFast, "step %d: intercept record", step)
				interceptHits += fast.memo.hits - h
				if !df && rng.Intn(2) == 0 {
					// The entry goes on: guest state loaded (the
					// injection's valid bit cleared, 27.6.1), then a VM
					// exit saves a changed guest state (28.2, 28.3: the
					// guest fields, the exit information, the "IA-32e
					// mode guest" control from IA32_EFER.LMA).
					var sf, so arch.State
					var gf, gob GuestEntry
					fast.LoadGuestState(&sf, launch, &gf)
					full.LoadGuestState(&so, launch, &gob)
					memosHold(t, fast, step)
					require.Equal(t, so, sf, "step %d: guest state loaded", step)
					require.Equal(t, gob, gf, "step %d: guest entry", step)
					sf.RIP += uint64(rng.Intn(16))
					sf.GPR[arch.RSP] = rng.Uint64()
					if rng.Intn(3) == 0 {
						sf.EFER ^= arch.EFERLMA
					}
					if rng.Intn(3) == 0 {
						sf.Seg[rng.Intn(6)].Attr ^= 1 << rng.Intn(17)
					}
					so = sf
					info := ExitInfo{Qualification: rng.Uint64(), InsnLength: 2}
					g := GuestSave{RIP: sf.RIP, RFLAGS: sf.RFLAGS, Activity: uint64(rng.Intn(2))}
					gf2, go2 := g, g
					gf2.State, go2.State = &sf, &so
					fast.SaveGuestState(ExitCPUID, &info, &gf2)
					full.SaveGuestState(ExitCPUID, &info, &go2)
					require.Equal(t, full.cur.vals, fast.cur.vals, "step %d: VMCS contents after an exit", step)
					memosHold(t, fast, step)
					kinds["entry and exit"]++
				}
				switch {
				case !df:
					kinds["pass"]++
				case of.Kind == FailValid:
					kinds["VMfailValid"]++
				case of.Kind == EntryFailed:
					kinds["entry failure"]++
				default:
					kinds["other"]++
				}
			}
			t.Logf("%s: %v; groups skipped %d", name, kinds, fast.memo.hits)
			assert.Greater(t, kinds["pass"], steps/20, "passing entries")
			assert.Greater(t, kinds["VMfailValid"], steps/10, "VMfailValid entries")
			assert.Greater(t, kinds["entry failure"], steps/100, "VM-entry failures (reason 33)")
			assert.Greater(t, fast.memo.hits, uint64(steps/2), "groups skipped by the fast path")
			t.Logf("%s: skipped on VMCS.gen alone %d", name, fast.memo.unwritten)
			assert.Greater(t, fast.memo.unwritten, uint64(steps/10), "groups skipped without comparing values")
			assert.Less(t, fast.memo.unwritten, fast.memo.hits*9/10, "groups skipped after comparing values")
			t.Logf("%s: skipped after comparing some classes' values only %d", name, fast.memo.partial)
			assert.Greater(t, fast.memo.partial, uint64(steps/100), "groups skipped after comparing the values of the classes written only")
			assert.Zero(t, full.memo.hits, "the reference never skips")
			t.Logf("%s: intercept records kept %d", name, interceptHits)
			assert.Greater(t, interceptHits, uint64(steps/10), "intercept records kept by the memo")
			assert.Less(t, interceptHits, uint64(steps*9/10), "intercept records computed again after a change")
		})
	}
}

// memosHold checks the invariant of VMCS.gen: a memo that its VMCS's
// counts say is unwritten still has every field it read at the value it
// kept (else a write path did not note itself).
func memosHold(t *testing.T, v *CPU, step int) {
	t.Helper()
	for name, m := range map[string]*checkMemo{"controls": &v.memo.controls, "host": &v.memo.host, "guest": &v.memo.guest,
		"segments": &v.memo.segments, "intercepts": &v.memo.intercepts} {
		if !m.ok || m.vmcs != v.cur || !m.unwritten(v.cur) {
			continue
		}
		for i, s := range m.slots {
			require.Equal(t, m.vals[i], v.cur.vals[s], "step %d: %s memo: field in slot %d changed without a note in VMCS.gen", step, name, s)
		}
	}
}

// TestRootAccessOK compares RootAccessOK with Check for VMREAD and VMWRITE
// on random contexts: in VMX root operation they agree (true exactly when
// Check leaves the instruction to go on, writing no outcome); outside VMX
// operation and in non-root operation RootAccessOK is false, so that the
// core always runs Check there. CR0.PE, RFLAGS.VM, IA32_EFER.LMA, CS.L and
// the CPL each decide some cases.
func TestRootAccessOK(t *testing.T) {
	caps := modelCapsInternal(t, "skylake-sp")
	v, _ := entryVMCSWith(t, caps)
	rng := rand.New(rand.NewSource(10))
	seen := map[bool]int{}
	for i := 0; i < 20000; i++ {
		c := Ctx{CR0: rng.Uint64(), CR4: rng.Uint64(), EFER: rng.Uint64(), RFLAGS: rng.Uint64(), CSL: rng.Intn(2) == 0, CPL: rng.Intn(4)}
		if rng.Intn(2) == 0 {
			c.CPL = 0
		}
		if rng.Intn(2) == 0 {
			c.RFLAGS &^= arch.FlagVM
		}
		if rng.Intn(2) == 0 {
			c.CR0 |= arch.CR0PE
		}
		insn := []Insn{InsnVMREAD, InsnVMWRITE}[rng.Intn(2)]
		mode := []Mode{Outside, Root, Root, NonRoot}[rng.Intn(4)]
		v.mode = mode
		ok := v.RootAccessOK(c.CR0, c.RFLAGS, c.EFER, c.CSL, c.CPL)
		if mode != Root {
			require.False(t, ok, "case %d: mode %d", i, mode)
			continue
		}
		o := Outcome{Why: "untouched"}
		done := v.Check(insn, &c, &o)
		require.Equal(t, !done, ok, "case %d: %+v: %s", i, c, o)
		if ok {
			require.Equal(t, "untouched", o.Why, "case %d: Check wrote no outcome", i)
		}
		seen[ok]++
	}
	assert.Greater(t, seen[true], 1000)
	assert.Greater(t, seen[false], 1000)
}

// TestVMREADWRITEOK compares VMREADOK and VMWRITEOK with VMREADTo and
// VMWRITETo on two processors that start alike: ok exactly when the full
// path gives VMsucceed, the same value read, and the same VMCS contents
// and write counts after; when not ok, nothing changed (the core then runs
// the full path, which fails). Encodings: the processor's fields (full
// and high accesses, read-only ones among them), encodings of no field,
// reserved bits; with and without a current VMCS; 64-bit and 32-bit
// operands. Sandy Bridge EP refuses VMWRITE to the read-only fields
// (IA32_VMX_MISC[29] = 0), Skylake-SP allows it.
func TestVMREADWRITEOK(t *testing.T) {
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		caps := modelCapsInternal(t, model)
		a, _ := entryVMCSWith(t, caps)
		b, _ := entryVMCSWith(t, caps)
		fields := caps.Supported()
		rng := rand.New(rand.NewSource(11))
		seen := map[string]int{}
		for i := 0; i < 20000; i++ {
			var enc uint64
			switch rng.Intn(5) {
			case 0:
				enc = rng.Uint64() >> rng.Intn(64)
			case 1:
				enc = uint64(rng.Intn(1 << 15))
			default:
				enc = uint64(fields[rng.Intn(len(fields))].Enc)
				if rng.Intn(4) == 0 {
					enc |= 1 // a high access (a field of another width: none)
				}
			}
			val, mode64 := rng.Uint64(), rng.Intn(4) != 0
			cur := a.current
			if rng.Intn(20) == 0 {
				a.setCurrent(invalidPtr)
				b.setCurrent(invalidPtr)
			}
			var before []uint64
			var gen [nClasses]uint64
			if a.cur != nil {
				before, gen = append(before, a.cur.vals...), a.cur.gen
			}
			if rng.Intn(2) == 0 {
				got, ok := a.VMREADOK(enc, mode64)
				var o Outcome
				want := b.VMREADTo(enc, mode64, &o)
				require.Equal(t, o.Kind == Succeed, ok, "case %d: VMREAD %#x: %s", i, enc, o)
				if ok {
					require.Equal(t, want, got, "case %d: VMREAD %#x", i, enc)
					seen["read"]++
				} else {
					seen["read fails"]++
					failedAlike(t, a, o, before, gen, i)
				}
			} else {
				ok := a.VMWRITEOK(enc, val, mode64)
				var o Outcome
				b.VMWRITETo(enc, val, mode64, &o)
				require.Equal(t, o.Kind == Succeed, ok, "case %d: VMWRITE %#x: %s", i, enc, o)
				if ok {
					seen["write"]++
				} else {
					seen["write fails"]++
					failedAlike(t, a, o, before, gen, i)
				}
			}
			if a.cur != nil {
				require.Equal(t, b.cur.vals, a.cur.vals, "case %d: VMCS contents", i)
				require.Equal(t, b.cur.gen, a.cur.gen, "case %d: write counts", i)
			}
			a.setCurrent(cur)
			b.setCurrent(cur)
		}
		t.Logf("%s: %v", model, seen)
		for _, k := range []string{"read", "read fails", "write", "write fails"} {
			assert.Greater(t, seen[k], 500, "%s: %s", model, k)
		}
	}
}

// failedAlike checks that a VMREADOK or VMWRITEOK that was not ok left a's
// VMCS as it was (before, gen), then makes on a the write of the
// VM-instruction error that the full path's VMfailValid o made.
func failedAlike(t *testing.T, a *CPU, o Outcome, before []uint64, gen [nClasses]uint64, i int) {
	t.Helper()
	if a.cur == nil {
		return
	}
	require.Equal(t, before, a.cur.vals, "case %d: not ok, nothing written", i)
	require.Equal(t, gen, a.cur.gen, "case %d: not ok, no write noted", i)
	require.Equal(t, FailValid, o.Kind, "case %d: with a current VMCS the full path fails valid", i)
	a.failValid(o.Err)
}

// TestTranslationControls: Translation, which reads its fields by slot,
// gives the context the fields read by encoding give, and the EPT
// controls it reads with the others are EPTControls().MBEC, PMLOn() and
// VEOn() under "enable EPT", false without it, for random primary and
// secondary controls, EPTPs and VPIDs (and PML index: EPTControls'
// LogFull reads it, MBEC does not).
func TestTranslationControls(t *testing.T) {
	caps := modelCapsInternal(t, "skylake-sp")
	v, _ := entryVMCSWith(t, caps)
	rng := rand.New(rand.NewSource(12))
	seen := map[[4]bool]bool{}
	for i := 0; i < 5000; i++ {
		v.setField(encProcCtls, uint64(rng.Uint32()))
		v.setField(encProcCtls2, uint64(rng.Uint32()))
		v.setField(encPMLIndex, uint64(rng.Intn(1024)))
		v.setField(encEPTP, rng.Uint64())
		v.setField(encVPID, uint64(rng.Intn(1<<16)))
		x := v.Translation()
		// The context by field() (the encodings' lookup): the EPTP with
		// "enable EPT" (bit 1), the VPID with "enable VPID" (bit 5),
		// "virtualize APIC accesses" (bit 0), the secondary controls
		// counting only with "activate secondary controls".
		sec := v.secondary()
		require.Equal(t, sec&2 != 0, x.EPT, "case %d", i)
		if x.EPT {
			require.Equal(t, v.field(encEPTP), x.EPTP, "case %d", i)
		} else {
			require.Zero(t, x.EPTP, "case %d", i)
		}
		if sec&(1<<5) != 0 {
			require.Equal(t, uint16(v.field(encVPID)), x.VPID, "case %d", i)
		} else {
			require.Zero(t, x.VPID, "case %d", i)
		}
		require.Equal(t, sec&1 != 0, x.APICAccess, "case %d", i)
		on := x.EPT
		assert.Equal(t, on && v.EPTControls().MBEC, x.MBEC, "case %d", i)
		assert.Equal(t, on && v.PMLOn(), x.PML, "case %d", i)
		assert.Equal(t, on && v.VEOn(), x.VE, "case %d", i)
		seen[[4]bool{on, x.MBEC, x.PML, x.VE}] = true
	}
	assert.Len(t, seen, 9, "EPT off, and EPT on with each combination of the three")
}

// TestCoreFieldValue: each of the core's fields read by its slot is the
// field of its Appendix B encoding (VM-entry MSR-load count 4014H, VM-exit
// MSR-store count 400EH, VM-exit MSR-load count 4010H, pending debug
// exceptions 6822H, and Translation's), for random values in every field.
func TestCoreFieldValue(t *testing.T) {
	encs := map[CoreField]uint32{CoreEntryMSRLoadCount: 0x4014, CoreExitMSRStoreCount: 0x400E,
		CoreExitMSRLoadCount: 0x4010, CorePendingDebug: 0x6822,
		// Translation's: primary and secondary processor-based
		// controls, EPTP, VPID.
		coreProcCtls: 0x4002, coreProcCtls2: 0x401E, coreEPTP: 0x201A, coreVPID: 0x0000}
	require.Len(t, encs, int(coreFieldCount))
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		caps := modelCapsInternal(t, model)
		v, _ := entryVMCSWith(t, caps)
		rng := rand.New(rand.NewSource(13))
		for i := 0; i < 200; i++ {
			for _, f := range caps.Supported() {
				v.setField(f.Enc, rng.Uint64())
			}
			for f, enc := range encs {
				require.Equal(t, v.CurField(enc), v.CoreFieldValue(f), "%s: field %#x", model, enc)
			}
		}
	}
}

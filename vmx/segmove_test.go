package vmx

import (
	"math/rand"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// TestGuestSegmentsMove: VM entry loads the eight guest segment registers
// from their VMCS fields (SDM Vol. 3C 27.3.2.2) and VM exit saves them
// (28.3.1), each field by its encoding in Appendix B (selector 0800H +
// 2i, base 6806H + 2i, limit 4800H + 2i, access rights 4814H + 2i for
// ES, CS, SS, DS, FS, GS, LDTR, TR): random values written with VMWRITE
// must come out in the right register, the access rights with their
// reserved bits (31:17, 11:8) dropped, and random registers must come
// back through VMREAD.
func TestGuestSegmentsMove(t *testing.T) {
	regs := []func(s *arch.State) *arch.Segment{
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.ES] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.CS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.SS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.DS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.FS] },
		func(s *arch.State) *arch.Segment { return &s.Seg[arch.GS] },
		func(s *arch.State) *arch.Segment { return &s.LDTR },
		func(s *arch.State) *arch.Segment { return &s.TR },
	}
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		t.Run(model, func(t *testing.T) {
			v, _ := entryVMCSWith(t, modelCapsInternal(t, model))
			rng := rand.New(rand.NewSource(27))
			for round := 0; round < 50; round++ {
				want := make([]arch.Segment, 8)
				for i := range want {
					sel, base, limit, ar := uint64(rng.Intn(1<<16)), rng.Uint64(), uint64(rng.Uint32()), uint64(rng.Uint32())
					for _, w := range [][2]uint64{{0x0800, sel}, {0x6806, base}, {0x4800, limit}, {0x4814, ar}} {
						require.Equal(t, Succeed, v.VMWRITE(w[0]+uint64(2*i), w[1], true).Kind)
					}
					want[i] = arch.Segment{Selector: uint16(sel), Base: base, Limit: uint32(limit), Attr: uint32(ar) &^ (0xFFFE0000 | 0xF00)}
				}
				var s arch.State
				var g GuestEntry
				v.LoadGuestState(&s, false, &g)
				for i, r := range regs {
					require.Equal(t, want[i], *r(&s), "round %d: segment %d loaded", round, i)
				}
				for i, r := range regs {
					*r(&s) = arch.Segment{Selector: uint16(rng.Intn(1 << 16)), Base: rng.Uint64(), Limit: rng.Uint32(), Attr: rng.Uint32()}
					want[i] = *r(&s)
				}
				v.SaveGuestState(ExitCPUID, &ExitInfo{}, &GuestSave{State: &s})
				for i := range want {
					for _, w := range [][2]uint64{{0x0800, uint64(want[i].Selector)}, {0x6806, want[i].Base}, {0x4800, uint64(want[i].Limit)},
						{0x4814, uint64(want[i].Attr &^ (0xFFFE0000 | 0xF00))}} {
						got, o := v.VMREAD(w[0]+uint64(2*i), true)
						require.Equal(t, Succeed, o.Kind)
						require.Equal(t, w[1], got, "round %d: field %#x saved", round, w[0]+uint64(2*i))
					}
				}
			}
		})
	}
}

// TestHostStateLoad: the host-state load of a VM exit (SDM Vol. 3C
// 28.5.1-28.5.3) from random host-state fields, written with VMWRITE by
// their encodings in Appendix B, under random "host address-space size"
// (bit 9), "load IA32_PAT" (19) and "load IA32_EFER" (21) exit controls:
// each register must take its field, or the value 28.5 fixes.
func TestHostStateLoad(t *testing.T) {
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		t.Run(model, func(t *testing.T) {
			v, _ := entryVMCSWith(t, modelCapsInternal(t, model))
			rng := rand.New(rand.NewSource(28))
			for round := 0; round < 200; round++ {
				f := map[uint64]uint64{}
				for _, enc := range []uint64{0x6C00, 0x6C02, 0x6C04, 0x6C06, 0x6C08, 0x6C0A, 0x6C0C, 0x6C0E, 0x6C10, 0x6C12, 0x6C14, 0x6C16, 0x2C00, 0x2C02} {
					f[enc] = rng.Uint64()
				}
				f[0x4C00] = uint64(rng.Uint32())
				for enc := uint64(0x0C00); enc <= 0x0C0C; enc += 2 {
					f[enc] = uint64(rng.Intn(1 << 16))
					if rng.Intn(4) == 0 {
						f[enc] = 0
					}
				}
				exit := uint64(rng.Intn(2))<<9 | uint64(rng.Intn(2))<<19 | uint64(rng.Intn(2))<<21
				f[encExitCtls] = exit
				for enc, val := range f {
					if v.caps.slotOf(uint32(enc)) < 0 {
						f[enc] = 0 // a field the processor does not have (host PAT, EFER on some models) reads as 0
						continue
					}
					require.Equal(t, Succeed, v.VMWRITE(enc, val, true).Kind, "%#x", enc)
				}
				var s arch.State
				s.CR0, s.EFER, s.PAT = rng.Uint64(), rng.Uint64(), rng.Uint64()
				s.LDTR = arch.Segment{Selector: 5, Base: 6, Limit: 7}
				old := s
				v.LoadHostState(&s)

				long := exit&(1<<9) != 0
				keep := uint64(0x1FF80000 | 1<<17 | 0xFFC0 | 1<<4 | 1<<30 | 1<<29) // bits 28:19, 17, 15:6, ET, CD, NW
				want := old
				want.CR0 = old.CR0&keep | f[0x6C00]&^keep
				want.CR3, want.CR4 = f[0x6C02], f[0x6C04]
				want.DR[7] = 0x400
				want.SysenterCS, want.SysenterESP, want.SysenterEIP = f[0x4C00], f[0x6C10], f[0x6C12]
				if exit&(1<<19) != 0 {
					want.PAT = f[0x2C00]
				}
				switch {
				case exit&(1<<21) != 0:
					want.EFER = f[0x2C02]
				case long:
					want.EFER |= 1<<10 | 1<<8
				default:
					want.EFER &^= 1<<10 | 1<<8
				}
				cs := uint32(arch.ARP | arch.ARS | 11 | arch.ARG | arch.ARDB)
				if long {
					cs = arch.ARP | arch.ARS | 11 | arch.ARG | arch.ARL
				}
				want.Seg[arch.CS] = arch.Segment{Selector: uint16(f[0x0C02]), Limit: 0xFFFFFFFF, Attr: cs}
				for _, d := range []struct {
					reg  int
					sel  uint64
					base uint64
				}{{arch.ES, 0x0C00, 0}, {arch.SS, 0x0C04, 0}, {arch.DS, 0x0C06, 0}, {arch.FS, 0x0C08, f[0x6C06]}, {arch.GS, 0x0C0A, f[0x6C08]}} {
					attr := uint32(arch.ARP | arch.ARS | 3 | arch.ARDB | arch.ARG)
					if f[d.sel] == 0 && !(d.reg == arch.SS && long) {
						attr |= arch.ARUnusable
					}
					want.Seg[d.reg] = arch.Segment{Selector: uint16(f[d.sel]), Base: d.base, Limit: 0xFFFFFFFF, Attr: attr}
				}
				want.TR = arch.Segment{Selector: uint16(f[0x0C0C]), Base: f[0x6C0A], Limit: 0x67, Attr: arch.ARP | 11}
				want.LDTR = arch.Segment{Attr: arch.ARUnusable}
				want.GDTR = arch.DescTable{Base: f[0x6C0C], Limit: 0xFFFF}
				want.IDTR = arch.DescTable{Base: f[0x6C0E], Limit: 0xFFFF}
				want.RIP, want.GPR[arch.RSP], want.RFLAGS = f[0x6C16], f[0x6C14], 2
				require.Equal(t, want, s, "round %d, exit controls %#x", round, exit)
			}
		})
	}
}

// TestGuestStateMove: VM entry loads the guest-state area into the
// registers (SDM Vol. 3C 27.3.2: control registers, DR7 and IA32_DEBUGCTL
// with "load debug controls", the SYSENTER MSRs, IA32_EFER with "load
// IA32_EFER", GDTR, IDTR, RSP, RIP, RFLAGS, interruptibility and
// activity state, the event to inject: 27.6) and VM exit saves them with
// the exit information (28.2, 28.3: DR7 and IA32_DEBUGCTL with "save
// debug controls", IA32_EFER with "save IA32_EFER"), each field by its
// encoding in Appendix B, from random values.
func TestGuestStateMove(t *testing.T) {
	type reg struct {
		enc uint64
		ptr func(s *arch.State) *uint64
	}
	regs := []reg{
		{0x6800, func(s *arch.State) *uint64 { return &s.CR0 }},
		{0x6802, func(s *arch.State) *uint64 { return &s.CR3 }},
		{0x6804, func(s *arch.State) *uint64 { return &s.CR4 }},
		{0x482A, func(s *arch.State) *uint64 { return &s.SysenterCS }},
		{0x6824, func(s *arch.State) *uint64 { return &s.SysenterESP }},
		{0x6826, func(s *arch.State) *uint64 { return &s.SysenterEIP }},
		{0x6816, func(s *arch.State) *uint64 { return &s.GDTR.Base }},
		{0x6818, func(s *arch.State) *uint64 { return &s.IDTR.Base }},
		{0x681C, func(s *arch.State) *uint64 { return &s.GPR[arch.RSP] }},
		{0x681E, func(s *arch.State) *uint64 { return &s.RIP }},
		{0x6820, func(s *arch.State) *uint64 { return &s.RFLAGS }},
	}
	for _, model := range []string{"sandybridge-ep", "skylake-sp"} {
		t.Run(model, func(t *testing.T) {
			v, _ := entryVMCSWith(t, modelCapsInternal(t, model))
			has := func(enc uint64) bool { return v.caps.slotOf(uint32(enc)) >= 0 }
			write := func(enc, val uint64) {
				require.Equal(t, Succeed, v.VMWRITE(enc, val, true).Kind, "%#x", enc)
			}
			read := func(enc uint64) uint64 {
				val, o := v.VMREAD(enc, true)
				require.Equal(t, Succeed, o.Kind, "%#x", enc)
				return val
			}
			rng := rand.New(rand.NewSource(273))
			for round := 0; round < 200; round++ {
				// Entry.
				entry := uint64(rng.Intn(2))<<2 | uint64(rng.Intn(2))<<15 | uint64(rng.Intn(2))<<9 // load debug, load EFER, IA-32e guest
				write(0x4012, entry)
				vals := map[uint64]uint64{}
				for _, r := range regs {
					vals[r.enc] = rng.Uint64()
					if r.enc == 0x482A {
						vals[r.enc] = uint64(rng.Uint32())
					}
					write(r.enc, vals[r.enc])
				}
				gdtrLim, idtrLim := uint64(rng.Intn(1<<16)), uint64(rng.Intn(1<<16))
				dr7, dbg, efer := rng.Uint64(), rng.Uint64(), rng.Uint64()
				intr, act := uint64(rng.Intn(16)), uint64(rng.Intn(4))
				info := uint64(rng.Uint32())
				exc, ilen := uint64(rng.Uint32()), uint64(rng.Intn(16))
				for enc, val := range map[uint64]uint64{0x4810: gdtrLim, 0x4812: idtrLim, 0x681A: dr7, 0x2802: dbg, 0x4824: intr, 0x4826: act,
					0x4016: info, 0x4018: exc, 0x401A: ilen} {
					write(enc, val)
				}
				if has(0x2806) {
					write(0x2806, efer)
				}
				var s arch.State
				s.DR[7], s.EFER = 0x1234, rng.Uint64()
				want := s
				var g GuestEntry
				v.LoadGuestState(&s, false, &g)
				for _, r := range regs {
					*r.ptr(&want) = vals[r.enc]
				}
				want.GDTR.Limit, want.IDTR.Limit = uint16(gdtrLim), uint16(idtrLim)
				wantG := GuestEntry{BlockingSTI: intr&1 != 0, BlockingMovSS: intr&2 != 0, BlockingNMI: intr&8 != 0, Activity: act}
				if entry&(1<<2) != 0 {
					want.DR[7] = dr7
					wantG.DebugCtl, wantG.LoadDebugCtl = dbg, true
				}
				lm := uint64(1 << 10)
				if want.CR0&arch.CR0PG != 0 {
					lm |= 1 << 8
				}
				switch {
				case entry&(1<<15) != 0 && has(0x2806):
					want.EFER = efer
				case entry&(1<<15) != 0:
					want.EFER = 0
				case entry&(1<<9) != 0:
					want.EFER |= lm
				default:
					want.EFER &^= lm
				}
				if info>>31 != 0 {
					wantG.Inject, wantG.InjectVector, wantG.InjectType = true, uint8(info), uint8(info>>8&7)
					wantG.InjectHasErr, wantG.InjectErr, wantG.InjectInsnLength = info>>11&1 != 0, uint32(exc), ilen
				}
				// Segment registers are TestGuestSegmentsMove's.
				want.Seg, want.LDTR, want.TR = s.Seg, s.LDTR, s.TR
				require.Equal(t, want, s, "round %d: entry controls %#x", round, entry)
				require.Equal(t, wantG, g, "round %d", round)
				require.Equal(t, info&^(1<<31), read(0x4016), "round %d: the valid bit cleared (27.6.1)", round)

				// Exit.
				exit := uint64(rng.Intn(2))<<2 | uint64(rng.Intn(2))<<20 // save debug, save EFER
				write(0x400C, exit)
				before := map[uint64]uint64{0x681A: read(0x681A), 0x2802: read(0x2802)}
				if has(0x2806) {
					before[0x2806] = read(0x2806)
				}
				for _, r := range regs {
					*r.ptr(&s) = rng.Uint64()
				}
				s.SysenterCS = uint64(rng.Uint32())
				s.GDTR.Limit, s.IDTR.Limit, s.DR[7], s.EFER = uint16(rng.Intn(1<<16)), uint16(rng.Intn(1<<16)), uint64(rng.Uint32()), rng.Uint64()
				gs := GuestSave{State: &s, RIP: rng.Uint64(), RFLAGS: rng.Uint64(), DebugCtl: rng.Uint64(),
					BlockingSTI: rng.Intn(2) == 0, BlockingMovSS: rng.Intn(2) == 0, BlockingNMI: rng.Intn(2) == 0,
					Activity: uint64(rng.Intn(4)), PendingDebug: rng.Uint64() & 0xFFFFFFFF}
				xi := ExitInfo{Qualification: rng.Uint64(), InsnLength: uint32(rng.Intn(16)), InsnInfo: rng.Uint32(), GuestLinear: rng.Uint64(),
					IntrInfo: rng.Uint32(), IntrErr: rng.Uint32(), IDTVecInfo: rng.Uint32(), IDTVecErr: rng.Uint32()}
				reason := uint32(rng.Intn(70))
				v.SaveGuestState(reason, &xi, &gs)
				for _, r := range regs {
					w := *r.ptr(&s)
					switch r.enc {
					case 0x681E:
						w = gs.RIP
					case 0x6820:
						w = gs.RFLAGS
					}
					require.Equal(t, w, read(r.enc), "round %d: field %#x saved", round, r.enc)
				}
				var intrW uint64
				for i, b := range []bool{gs.BlockingSTI, gs.BlockingMovSS, false, gs.BlockingNMI} {
					if b {
						intrW |= 1 << i
					}
				}
				saved := map[uint64]uint64{0x4810: uint64(s.GDTR.Limit), 0x4812: uint64(s.IDTR.Limit), 0x4824: intrW, 0x4826: gs.Activity,
					0x6822: gs.PendingDebug, 0x4402: uint64(reason), 0x6400: xi.Qualification, 0x440C: uint64(xi.InsnLength),
					0x440E: uint64(xi.InsnInfo), 0x640A: xi.GuestLinear, 0x4404: uint64(xi.IntrInfo), 0x4406: uint64(xi.IntrErr),
					0x4408: uint64(xi.IDTVecInfo), 0x440A: uint64(xi.IDTVecErr), 0x681A: before[0x681A], 0x2802: before[0x2802]}
				if exit&(1<<2) != 0 {
					saved[0x681A], saved[0x2802] = s.DR[7], gs.DebugCtl
				}
				if has(0x2806) {
					saved[0x2806] = before[0x2806]
					if exit&(1<<20) != 0 {
						saved[0x2806] = s.EFER
					}
				}
				for enc, w := range saved {
					require.Equal(t, w, read(enc), "round %d: field %#x saved, exit controls %#x", round, enc, exit)
				}
				wantEntry := entry &^ (1 << 9)
				if s.EFER&(1<<10) != 0 {
					wantEntry |= 1 << 9
				}
				require.Equal(t, wantEntry, read(0x4012), "round %d: \"IA-32e mode guest\" = IA32_EFER.LMA (28.3)", round)
			}
		})
	}
}

// TestLookupFlat: the VMREAD/VMWRITE encoding lookup through the flat
// table answers as the decoding by parts (SDM Vol. 3C 25.11.2) for every
// encoding below 8000H and for encodings with bits 63:15 set, on each
// model's fields.
func TestLookupFlat(t *testing.T) {
	for _, model := range []string{"sandybridge-ep", "skylake-sp", "sapphirerapids"} {
		c := modelCapsInternal(t, model)
		found := 0
		for enc := uint64(0); enc < 1<<16; enc++ {
			s, h, ok := c.decodeLookup(enc)
			fs, fh, fok := c.lookup(enc)
			require.Equal(t, [3]any{s, h, ok}, [3]any{fs, fh, fok}, "%s: %#x", model, enc)
			if ok {
				found++
			}
		}
		for _, enc := range []uint64{1 << 32, 1<<32 | 0x681E, 1 << 63, ^uint64(0), 0x8000_681E} {
			_, _, ok := c.lookup(enc)
			require.False(t, ok, "%s: %#x", model, enc)
		}
		require.Equal(t, len(c.Supported())+numWidth64(c), found, "%s: every field, and the high halves of the 64-bit ones", model)
	}
}

func numWidth64(c *Caps) (n int) {
	for _, f := range c.Supported() {
		if f.Width() == Width64 {
			n++
		}
	}
	return n
}

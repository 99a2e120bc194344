package vtd

import (
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// mem is a flat test memory of 64 MiB.
type mem struct{ b []byte }

func newMem() *mem { return &mem{b: make([]byte, 64<<20)} }

func (m *mem) ReadPhys(pa uint64, b []byte) error {
	if pa+uint64(len(b)) > uint64(len(m.b)) {
		return fmt.Errorf("beyond memory: %#x", pa)
	}
	copy(b, m.b[pa:])
	return nil
}

func (m *mem) WritePhys(pa uint64, b []byte) error {
	if pa+uint64(len(b)) > uint64(len(m.b)) {
		return fmt.Errorf("beyond memory: %#x", pa)
	}
	copy(m.b[pa:], b)
	return nil
}

func (m *mem) put64(pa, v uint64) { binary.LittleEndian.PutUint64(m.b[pa:], v) }
func (m *mem) get32(pa uint64) uint32 {
	return binary.LittleEndian.Uint32(m.b[pa:])
}

type rig struct {
	u    *Unit
	m    *mem
	sent []Interrupt
}

func newRig(t *testing.T, cfg Config) *rig {
	t.Helper()
	r := &rig{m: newMem()}
	u, err := New(cfg, r.m, func(in Interrupt) { r.sent = append(r.sent, in) })
	require.NoError(t, err)
	r.u = u
	return r
}

func (r *rig) w32(off uint64, v uint32) { r.u.WriteMMIO(off, 4, uint64(v)) }
func (r *rig) w64(off uint64, v uint64) { r.u.WriteMMIO(off, 8, v) }
func (r *rig) r32(off uint64) uint32    { return uint32(r.u.ReadMMIO(off, 4)) }
func (r *rig) r64(off uint64) uint64    { return r.u.ReadMMIO(off, 8) }

// gcmd sets one GCMD bit the way software does (VT-d 11.4.4: read GSTS,
// write it back with the bit changed).
func (r *rig) gcmd(bit uint32, on bool) {
	v := r.r32(RegGSTS) &^ (GcmdSRTP | GcmdSIRTP) // one-shot status bits are not commands
	if on {
		v |= bit
	} else {
		v &^= bit
	}
	r.w32(RegGCMD, v)
}

func TestResetValues(t *testing.T) {
	// Expected values assembled from the VT-d spec's field definitions
	// (11.4.2 CAP, 11.4.3 ECAP) for QEMU's defaults; the 39-bit CAP and
	// the intremap=on ECAP are also what kvm-unit-tests prints under
	// QEMU ("cap: 0x00d2008c22260206", "ecap: 0x0000000000f00f4a").
	const (
		nd6     = 6
		sagaw39 = 1 << 9
		sagaw48 = 1 << 10
		fro     = 0x22 << 24 // 0x220 / 16
		sllps   = 3 << 34
		psi     = 1 << 39
		mamv18  = 18 << 48
		drain   = 3 << 54
		qi      = 1 << 1
		ir      = 1 << 3
		eim     = 1 << 4
		pt      = 1 << 6
		iro     = 0xF << 8 // 0xF0 / 16
		mhmv    = 0xF << 20
	)
	tests := []struct {
		name      string
		cfg       Config
		cap, ecap uint64
	}{
		{"defaults", Config{}, nd6 | sagaw39 | 38<<16 | fro | sllps | psi | mamv18 | drain, qi | pt | iro},
		{"intremap=on (kvm-unit-tests)", Config{IntRemap: true}, 0x00d2008c22260206, 0xf00f4a},
		{"intremap=on,eim=on", Config{IntRemap: true, EIM: true}, 0x00d2008c22260206, qi | ir | eim | pt | iro | mhmv},
		{"aw-bits=48,pt=off", Config{AWBits: 48, NoPT: true}, nd6 | sagaw39 | sagaw48 | 47<<16 | fro | sllps | psi | mamv18 | drain, qi | iro},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := newRig(t, tc.cfg)
			assert.Equal(t, uint32(0x10), r.r32(RegVER), "VER 1.0")
			assert.Equal(t, tc.cap, r.r64(RegCAP))
			assert.Equal(t, uint32(tc.cap>>32), r.r32(RegCAP+4), "dword read of the upper half")
			assert.Equal(t, tc.ecap, r.r64(RegECAP))
			assert.Zero(t, r.r32(RegGSTS))
			assert.Zero(t, r.r32(RegFSTS))
			assert.Equal(t, uint32(CtlIM), r.r32(RegFECTL), "FECTL.IM resets to 1 (11.4.7.2)")
			assert.Equal(t, uint32(CtlIM), r.r32(RegIECTL), "IECTL.IM resets to 1")
			assert.Zero(t, r.r64(RegRTADDR))
			assert.Zero(t, r.r64(RegFRCD+8))
		})
	}
	var c Config
	c.AWBits = 40
	assert.Error(t, c.Validate())
	c = Config{EIM: true}
	assert.Error(t, c.Validate())
}

func TestGlobalCommands(t *testing.T) {
	r := newRig(t, Config{IntRemap: true})
	r.w64(RegRTADDR, 0x123456789000|0xC00) // TTM bits read 0 (legacy only)
	assert.Equal(t, uint64(0x3456789000), r.r64(RegRTADDR), "address bits above the 39-bit HAW and TTM do not stick")
	r.w64(RegRTADDR, 0x10000)
	r.gcmd(GcmdSRTP, true)
	assert.Equal(t, uint32(GcmdSRTP), r.r32(RegGSTS), "RTPS")
	assert.Zero(t, r.r32(RegGCMD), "GCMD reads 0")
	for _, bit := range []uint32{GcmdQIE, GcmdTE, GcmdCFI} {
		r.gcmd(bit, true)
		assert.NotZero(t, r.r32(RegGSTS)&bit)
	}
	r.w64(RegIRTA, 0x20000|0x800|0xF)
	assert.Equal(t, uint64(0x2000F), r.r64(RegIRTA), "EIME is read-only 0 without ECAP.EIM")
	r.gcmd(GcmdSIRTP, true)
	r.gcmd(GcmdIRE, true)
	want := uint32(GcmdTE | GcmdSRTP | GcmdQIE | GcmdIRE | GcmdSIRTP | GcmdCFI)
	assert.Equal(t, want, r.r32(RegGSTS))
	r.gcmd(GcmdTE, false)
	assert.Equal(t, want&^GcmdTE, r.r32(RegGSTS))

	// Without ECAP.IR the interrupt-remapping commands do nothing.
	r2 := newRig(t, Config{})
	r2.w64(RegIRTA, 0x20000)
	r2.gcmd(GcmdIRE, true)
	r2.w32(RegGCMD, GcmdSIRTP)
	assert.Zero(t, r2.r32(RegGSTS))
	assert.Zero(t, r2.r64(RegIRTA))

	// Register-based invalidations complete at once with the requested
	// granularity reported (11.4.6 CAIG = CIRG, 11.4.8.1 IAIG = IIRG).
	r.w64(RegCCMD, 1<<63|2<<61|5)
	assert.Equal(t, uint64(2<<61|2<<59|5), r.r64(RegCCMD))
	r.w32(RegIOTLB, 0)
	r.w32(RegIOTLB+4, 1<<31|3<<28)
	assert.Equal(t, uint64(3<<60|3<<57), r.r64(RegIOTLB))
}

// Table layout for the translation tests.
const (
	rootPA  = 0x100000
	ctxPA   = 0x101000
	l4PA    = 0x102000
	l3PA    = 0x103000
	l2PA    = 0x104000
	l1PA    = 0x105000
	testSID = 0x0108 // 01:01.0
)

// setupTables builds root entry (bus 1) → context entry (devfn 8) with
// translation type tt, address width aw and the given second-level root,
// then enables translation.
func setupTables(r *rig, tt, aw, slptptr uint64, fpd bool) {
	r.m.put64(rootPA+1*16, ctxPA|1)
	lo := slptptr | tt<<2 | 1
	if fpd {
		lo |= 2
	}
	r.m.put64(ctxPA+8*16, lo)
	r.m.put64(ctxPA+8*16+8, aw|0x42<<8) // domain 0x42
	r.w64(RegRTADDR, rootPA)
	r.gcmd(GcmdSRTP, true)
	r.gcmd(GcmdTE, true)
}

func TestTranslate(t *testing.T) {
	tests := []struct {
		name  string
		aw    uint64
		build func(m *mem) uint64 // returns the second-level root
		iova  uint64
		write bool
		pa    uint64
		fr    uint8
	}{
		{"3-level 4 KiB page", 1, func(m *mem) uint64 {
			m.put64(l3PA+0*8, l2PA|3)
			m.put64(l2PA+1*8, l1PA|3)      // iova bits 29:21 = 1
			m.put64(l1PA+5*8, 0x3000000|3) // iova bits 20:12 = 5
			return l3PA
		}, 1<<21 | 5<<12 | 0x123, true, 0x3000123, 0},
		{"3-level 2 MiB page", 1, func(m *mem) uint64 {
			m.put64(l3PA+2*8, l2PA|3)
			m.put64(l2PA+3*8, 0x2E00000|ptePS|1)
			return l3PA
		}, 2<<30 | 3<<21 | 0x12345, false, 0x2E12345, 0},
		{"3-level 1 GiB page", 1, func(m *mem) uint64 {
			m.put64(l3PA+4*8, 0x40000000|ptePS|3)
			return l3PA
		}, 4<<30 | 0x2345678, true, 0x42345678, 0},
		{"4-level 4 KiB page", 2, func(m *mem) uint64 {
			m.put64(l4PA+1*8, l3PA|3)
			m.put64(l3PA+0*8, l2PA|3)
			m.put64(l2PA+0*8, l1PA|3)
			m.put64(l1PA+7*8, 0x5000|3)
			return l4PA
		}, 1<<39 | 7<<12 | 8, false, 0x5008, 0},
		{"write to a read-only page", 1, func(m *mem) uint64 {
			m.put64(l3PA, l2PA|3)
			m.put64(l2PA, l1PA|3)
			m.put64(l1PA, 0x6000|pteR)
			return l3PA
		}, 0x10, true, 0, FrWrite},
		{"read through a write-only directory", 1, func(m *mem) uint64 {
			m.put64(l3PA, l2PA|pteW)
			m.put64(l2PA, l1PA|3)
			m.put64(l1PA, 0x6000|3)
			return l3PA
		}, 0x10, false, 0, FrRead},
		{"not present", 1, func(m *mem) uint64 { return l3PA }, 0x10, false, 0, FrRead},
		{"beyond the 39-bit AGAW", 1, func(m *mem) uint64 { return l3PA }, 1 << 39, false, 0, FrBeyondAGAW},
		{"PS in an SL-PML4E", 2, func(m *mem) uint64 {
			m.put64(l4PA, ptePS|3)
			return l4PA
		}, 0, false, 0, FrPagingReserved},
		{"2 MiB page with address bits below 2 MiB", 1, func(m *mem) uint64 {
			m.put64(l3PA, l2PA|3)
			m.put64(l2PA, 0x201000|ptePS|3)
			return l3PA
		}, 0, false, 0, FrPagingReserved},
		{"SNP in a leaf (ECAP.SC=0)", 1, func(m *mem) uint64 {
			m.put64(l3PA, 0x40000000|ptePS|pteSNP|3)
			return l3PA
		}, 0, false, 0, FrPagingReserved},
		{"address beyond the host address width", 1, func(m *mem) uint64 {
			m.put64(l3PA, 1<<40|3)
			return l3PA
		}, 0, false, 0, FrPagingReserved},
		{"AW=2 (48-bit) not in SAGAW of a 39-bit unit", 2, func(m *mem) uint64 { return l4PA }, 0, false, 0, FrContextInvalid},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := Config{}
			if tc.aw == 2 && tc.fr != FrContextInvalid {
				cfg.AWBits = 48
			}
			r := newRig(t, cfg)
			setupTables(r, ttUntranslated, tc.aw, tc.build(r.m), false)
			pa, f := r.u.Translate(testSID, tc.iova, tc.write)
			if tc.fr == 0 {
				require.Nil(t, f)
				assert.Equal(t, tc.pa, pa)
				assert.Zero(t, r.r32(RegFSTS))
				return
			}
			require.NotNil(t, f)
			assert.Equal(t, tc.fr, f.Reason, f.Rule)
			// Recorded (7.2.1): FRCD holds the page address, the reason,
			// the source and the request type; FSTS.PPF with FRI 0.
			lo, hi := r.u.FaultRecord()
			assert.Equal(t, tc.iova&^0xFFF, lo)
			assert.Equal(t, uint64(1)<<63|uint64(tc.fr)<<32|testSID, hi&^(1<<62))
			assert.Equal(t, !tc.write, hi&(1<<62) != 0, "T: 1 = read")
			assert.Equal(t, uint32(FstsPPF), r.r32(RegFSTS))
			assert.Equal(t, uint32(CtlIM|CtlIP), r.r32(RegFECTL), "event pending while masked")
		})
	}
}

func TestContextFaults(t *testing.T) {
	r := newRig(t, Config{})
	r.w64(RegRTADDR, rootPA)
	r.gcmd(GcmdSRTP, true)
	// Translation disabled: addresses pass untranslated.
	pa, f := r.u.Translate(testSID, 0x1234, true)
	require.Nil(t, f)
	assert.Equal(t, uint64(0x1234), pa)
	r.gcmd(GcmdTE, true)

	_, f = r.u.Translate(testSID, 0, false)
	require.NotNil(t, f)
	assert.Equal(t, uint8(FrRootNotPresent), f.Reason)
	// A second fault while FRCD.F is set is dropped: PFO (7.2.1).
	r.m.put64(rootPA+16, ctxPA|1)
	_, f = r.u.Translate(testSID, 0, false)
	assert.Equal(t, uint8(FrContextNotPresent), f.Reason)
	_, hi := r.u.FaultRecord()
	assert.Equal(t, uint64(FrRootNotPresent), hi>>32&0xFF, "the first fault stays recorded")
	assert.Equal(t, uint32(FstsPFO|FstsPPF), r.r32(RegFSTS))
	// Software clears F (RW1C) and PFO; the pending event goes away.
	r.w32(RegFRCD+12, 1<<31)
	r.w32(RegFSTS, FstsPFO)
	assert.Zero(t, r.r32(RegFSTS))
	assert.Equal(t, uint32(CtlIM), r.r32(RegFECTL))

	// Unmasked: the fault event is sent with FEADDR/FEDATA.
	r.w32(RegFEDATA, 0x45)
	r.w32(RegFEADDR, 0xFEE01000)
	r.w32(RegFECTL, 0)
	r.m.put64(rootPA+16, ctxPA|1|1<<5) // reserved bit in the root entry
	_, f = r.u.Translate(testSID, 0, false)
	assert.Equal(t, uint8(FrRootReserved), f.Reason)
	require.Len(t, r.sent, 1)
	assert.Equal(t, Interrupt{Dest: 1, Vector: 0x45}, r.sent[0])

	// Context-entry checks.
	r.w32(RegFRCD+12, 1<<31)
	r.m.put64(rootPA+16, ctxPA|1)
	for _, tc := range []struct {
		name   string
		lo, hi uint64
		reason uint8
	}{
		{"TT=01b without ECAP.DT", l3PA | 1<<2 | 1, 1, FrContextInvalid},
		{"TT=11b", l3PA | 3<<2 | 1, 1, FrContextInvalid},
		{"reserved bit 4", l3PA | 1<<4 | 1, 1, FrContextReserved},
		{"reserved high bits", l3PA | 1, 1 | 1<<30, FrContextReserved},
	} {
		r.m.put64(ctxPA+8*16, tc.lo)
		r.m.put64(ctxPA+8*16+8, tc.hi)
		_, f := r.u.Translate(testSID, 0, false)
		if assert.NotNil(t, f, tc.name) {
			assert.Equal(t, tc.reason, f.Reason, tc.name)
		}
		r.w32(RegFRCD+12, 1<<31)
	}
	// Pass-through (ECAP.PT) and FPD: the fault is not recorded.
	r.m.put64(ctxPA+8*16, 2<<2|1)
	r.m.put64(ctxPA+8*16+8, 1)
	pa, f = r.u.Translate(testSID, 0x7654321, true)
	require.Nil(t, f)
	assert.Equal(t, uint64(0x7654321), pa)
	r.m.put64(ctxPA+8*16, l3PA|2|1) // FPD, empty tables
	_, f = r.u.Translate(testSID, 0, false)
	require.NotNil(t, f)
	_, hi = r.u.FaultRecord()
	assert.Zero(t, hi>>63, "FPD: not recorded")
}

func TestDMA(t *testing.T) {
	r := newRig(t, Config{})
	r.m.put64(l3PA, l2PA|3)
	r.m.put64(l2PA, l1PA|3)
	r.m.put64(l1PA+0*8, 0x9000|3)
	r.m.put64(l1PA+1*8, 0x7000|3) // IOVA pages 0 and 1 are not contiguous
	setupTables(r, ttUntranslated, 1, l3PA, false)
	buf := []byte("0123456789")
	require.NoError(t, r.u.DMA(testSID, 0xFFC, buf, true))
	assert.Equal(t, "0123", string(r.m.b[0x9FFC:0xA000]))
	assert.Equal(t, "456789", string(r.m.b[0x7000:0x7006]))
	got := make([]byte, 10)
	require.NoError(t, r.u.DMA(testSID, 0xFFC, got, false))
	assert.Equal(t, buf, got)
	err := r.u.DMA(testSID, 0x2000, got, false)
	var f *Fault
	require.ErrorAs(t, err, &f)
	assert.Equal(t, uint8(FrRead), f.Reason)
}

// irte builds an IRTE (9.10) in xAPIC mode.
func irte(vector, dest uint8, dlm uint64, logical, level bool, sid uint16, sq, svt uint64) (lo, hi uint64) {
	lo = 1 | uint64(vector)<<16 | dlm<<5 | uint64(dest)<<40
	if logical {
		lo |= irteDM
	}
	if level {
		lo |= irteTM
	}
	hi = uint64(sid) | sq<<16 | svt<<18
	return lo, hi
}

const irtPA = 0x200000

func irRig(t *testing.T, cfg Config, eime bool) *rig {
	t.Helper()
	r := newRig(t, cfg)
	v := uint64(irtPA | 3) // 16 entries
	if eime {
		v |= irtaEIME
	}
	r.w64(RegIRTA, v)
	r.gcmd(GcmdSIRTP, true)
	r.gcmd(GcmdIRE, true)
	return r
}

// remappable returns the MSI address of handle h (5.1.2.2: handle 14:0
// in bits 19:5, handle 15 in bit 2, format bit 4, SHV bit 3).
func remappable(h uint64, shv bool) uint64 {
	a := uint64(0xFEE00000) | (h&0x7FFF)<<5 | 1<<4 | (h>>15&1)<<2
	if shv {
		a |= 1 << 3
	}
	return a
}

func TestInterruptRemapping(t *testing.T) {
	r := irRig(t, Config{IntRemap: true}, false)
	put := func(i uint64, lo, hi uint64) { r.m.put64(irtPA+i*16, lo); r.m.put64(irtPA+i*16+8, hi) }
	put(1, 0, 0)
	lo, hi := irte(0xED, 3, 0, false, false, 0x0008, 0, 1)
	put(2, lo, hi)
	lo, hi = irte(0x41, 0x0F, 1, true, true, 0x0102, 0, 2) // buses 1-2
	put(5, lo, hi)
	hi = uint64(0x0008) | 3<<16 | 1<<18 // SQ=11: ignore function bits
	put(6, 1|0x50<<16, hi)
	put(7, 1|0x51<<16|1<<12, 0) // reserved bit 12
	put(8, 1|0x52<<16|1<<33, 0) // xAPIC mode: bits 39:32 reserved

	tests := []struct {
		name   string
		sid    uint16
		hasSID bool
		addr   uint64
		data   uint32
		want   Interrupt
		fr     uint8
	}{
		{"fixed, physical, dest in IRTE bits 47:40", 0x0008, true, remappable(2, false), 0, Interrupt{Dest: 3, Vector: 0xED}, 0},
		{"SHV: handle + subhandle", 0x0008, true, remappable(1, true), 1, Interrupt{Dest: 3, Vector: 0xED}, 0},
		{"lowest priority, logical, level; bus range", 0x0108, true, remappable(5, false), 0, Interrupt{Dest: 0xF, Vector: 0x41, DeliveryMode: 1, Logical: true, Level: true}, 0},
		{"SQ=11b ignores the function", 0x000F, true, remappable(6, false), 0, Interrupt{Vector: 0x50}, 0},
		{"no requester ID: no verification", 0xFF00, false, remappable(2, false), 0, Interrupt{Dest: 3, Vector: 0xED}, 0},
		{"SVT=01b mismatch", 0x0010, true, remappable(2, false), 0, Interrupt{}, FrIRSourceID},
		{"SVT=10b bus out of range", 0x0308, true, remappable(5, false), 0, Interrupt{}, FrIRSourceID},
		{"not present", 0x0008, true, remappable(1, false), 0, Interrupt{}, FrIRNotPresent},
		{"index beyond the table", 0x0008, true, remappable(16, false), 0, Interrupt{}, FrIRIndex},
		{"handle bit 15 in address bit 2", 0x0008, true, remappable(1<<15|2, false), 0, Interrupt{}, FrIRIndex},
		{"reserved IRTE bit", 0x0008, true, remappable(7, false), 0, Interrupt{}, FrIRReservedIRTE},
		{"xAPIC-mode reserved destination bits", 0x0008, true, remappable(8, false), 0, Interrupt{}, FrIRReservedIRTE},
		{"compatibility format blocked (CFIS=0)", 0x0008, true, 0xFEE00000, 0x30, Interrupt{}, FrIRCompatBlocked},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r.w32(RegFRCD+12, 1<<31)
			in, ok := r.u.Remap(tc.sid, tc.hasSID, tc.addr, tc.data)
			if tc.fr == 0 {
				require.True(t, ok)
				assert.Equal(t, tc.want, in)
				return
			}
			require.False(t, ok)
			_, hi := r.u.FaultRecord()
			assert.Equal(t, uint64(tc.fr), hi>>32&0xFF)
			assert.Equal(t, uint64(tc.sid), hi&0xFFFF)
		})
	}
	// CFIS passes compatibility-format requests (5.1.2.1).
	r.gcmd(GcmdCFI, true)
	in, ok := r.u.Remap(0x0008, true, 0xFEE02004|1<<3, 0x8130)
	require.True(t, ok)
	assert.Equal(t, Interrupt{Dest: 2, Logical: true, RH: true, Vector: 0x30, DeliveryMode: 1, Level: true}, in)
	// An IRTE with FPD: its faults are not recorded.
	r.w32(RegFRCD+12, 1<<31)
	put(9, irteFPD, 0)
	_, ok = r.u.Remap(0x0008, true, remappable(9, false), 0)
	assert.False(t, ok)
	_, hi = r.u.FaultRecord()
	assert.Zero(t, hi>>63)

	// Remapping disabled: everything passes as compatibility format.
	r.gcmd(GcmdIRE, false)
	in, ok = r.u.Remap(0x0008, true, remappable(2, false), 0x22)
	require.True(t, ok)
	assert.Equal(t, uint8(0x22), in.Vector)

	// x2APIC mode (EIM, IRTA.EIME): 32-bit destination in bits 63:32.
	x := irRig(t, Config{IntRemap: true, EIM: true}, true)
	x.m.put64(irtPA+16, 1|0x61<<16|0x12345<<32)
	in, ok = x.u.Remap(0, true, remappable(1, false), 0)
	require.True(t, ok)
	assert.Equal(t, Interrupt{Dest: 0x12345, Vector: 0x61, X2: true}, in)
	_, ok = x.u.Remap(0, true, 0xFEE00000, 0x61)
	x.gcmd(GcmdCFI, true)
	_, ok2 := x.u.Remap(0, true, 0xFEE00000, 0x61)
	assert.False(t, ok || ok2, "compatibility format is blocked in x2APIC mode even with CFIS")
}

func TestQueuedInvalidation(t *testing.T) {
	const iq = 0x300000
	r := newRig(t, Config{IntRemap: true})
	r.w64(RegIQA, iq) // QS=0: 256 descriptors
	r.gcmd(GcmdQIE, true)
	r.w32(RegIEDATA, 0x66)
	r.w32(RegIEADDR, 0xFEE00000)
	r.w32(RegIECTL, 0)
	// Context-cache, IOTLB, interrupt-entry-cache invalidations, then a
	// wait with status write (data 0xABCD to 0x4000) and interrupt.
	r.m.put64(iq+0x00, 1|1<<4)
	r.m.put64(iq+0x10, 2|1<<4)
	r.m.put64(iq+0x20, 4)
	r.m.put64(iq+0x30, 5|waitSW|waitIF|0xABCD<<32)
	r.m.put64(iq+0x38, 0x4000)
	r.w64(RegIQT, 0x40)
	assert.Equal(t, uint64(0x40), r.r64(RegIQH), "head caught up with the tail")
	assert.Equal(t, uint32(0xABCD), r.m.get32(0x4000))
	assert.Equal(t, uint32(IcsIWC), r.r32(RegICS))
	require.Len(t, r.sent, 1)
	assert.Equal(t, uint8(0x66), r.sent[0].Vector)
	r.w32(RegICS, IcsIWC)
	assert.Zero(t, r.r32(RegICS))

	// A device-TLB descriptor (ECAP.DT=0) stops the queue with IQE and
	// IQH at it.
	r.m.put64(iq+0x40, 3)
	r.w64(RegIQT, 0x50)
	assert.Equal(t, uint64(0x40), r.r64(RegIQH))
	assert.Equal(t, uint32(FstsIQE), r.r32(RegFSTS))
	assert.Equal(t, uint32(CtlIM|CtlIP), r.r32(RegFECTL))

	// Disabling queued invalidation resets the head.
	r.w32(RegFSTS, FstsIQE)
	r.gcmd(GcmdQIE, false)
	assert.Zero(t, r.r64(RegIQH))
	assert.Zero(t, r.r32(RegGSTS)&GcmdQIE)
}

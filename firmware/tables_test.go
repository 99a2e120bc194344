package firmware

import (
	"testing"

	"github.com/vmxemu/vmxemu/arch"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func sum8(b []byte) uint8 {
	var s uint8
	for _, v := range b {
		s += v
	}
	return s
}

// TestTables parses what WriteTables wrote as an OS would: the RSDP and
// its checksums (ACPI 6.5 5.2.5.3), RSDT/XSDT, the MADT's entries
// (5.2.12), the FADT's FACS/DSDT pointers, the MP floating pointer and
// configuration table (MP 1.4 chapter 4).
func TestTables(t *testing.T) {
	for _, ids := range [][]uint32{{0}, {0, 1, 2, 3}, {0, 2, 4, 6, 255, 256}} {
		mem := newMem(2 << 20)
		require.NoError(t, WriteTables(mem, Tables{APICIDs: ids, CPUSignature: 0x206D5, CPUFeatures: 0x1234,
			LAPICAddr: 0xFEE00000, IOAPICAddr: 0xFEC00000}))
		b := mem.b
		rsdp := b[RSDPAddr : RSDPAddr+36]
		assert.Equal(t, "RSD PTR ", string(rsdp[:8]))
		assert.Zero(t, sum8(rsdp[:20]), "RSDP checksum")
		assert.Zero(t, sum8(rsdp), "RSDP extended checksum")
		assert.Equal(t, uint8(2), rsdp[15])
		table := func(addr uint64, sig string) []byte {
			t.Helper()
			require.Equal(t, sig, string(b[addr:addr+4]))
			tb := b[addr : addr+uint64(mem.u32(addr+4))]
			assert.Zero(t, sum8(tb), "%s checksum", sig)
			return tb
		}
		rsdt := table(uint64(mem.u32(RSDPAddr+16)), "RSDT")
		xsdt := table(mem.u64(RSDPAddr+24), "XSDT")
		require.Len(t, rsdt, 36+8)
		require.Len(t, xsdt, 36+16)
		rsdtAddr := uint64(mem.u32(RSDPAddr + 16))
		fadtAddr, madtAddr := uint64(mem.u32(rsdtAddr+36)), uint64(mem.u32(rsdtAddr+40))
		assert.Equal(t, fadtAddr, mem.u64(mem.u64(RSDPAddr+24)+36), "XSDT = RSDT")
		fadt := table(fadtAddr, "FACP")
		assert.Equal(t, "FACS", string(b[mem.u32(fadtAddr+36):][:4]))
		assert.Zero(t, mem.u32(fadtAddr+36)%64, "FACS 64-byte aligned")
		assert.Equal(t, uint32(FACSAddr), mem.u32(fadtAddr+36), "FIRMWARE_CTRL is FACSAddr (the S3 resume path reads it there)")
		dsdt := table(uint64(mem.u32(fadtAddr+40)), "DSDT")
		assert.Equal(t, map[string][2]uint64{"_S3_": {1, 1}, "_S4_": {2, 2}, "_S5_": {0, 0}}, sleepObjects(t, dsdt[36:]),
			"\\_Sx packages with QEMU's PIIX4 SLP_TYP values (hw/acpi/core.c: 0 soft-off, 1 S3, 2 S4)")
		assert.Equal(t, uint64(mem.u32(fadtAddr+40)), mem.u64(fadtAddr+140), "X_DSDT")
		assert.Equal(t, uint8(9), fadt[46], "SCI on IRQ 9")
		// PM blocks at QEMU's PIIX4 addresses; offsets from ACPI 6.5
		// Table 5.9 (PM1a_EVT_BLK 56, PM1a_CNT_BLK 64, PM_TMR_BLK 76,
		// PM1_EVT_LEN 88, PM1_CNT_LEN 89, PM_TMR_LEN 91, Flags 112,
		// X_PM1a_EVT_BLK 148, X_PM1a_CNT_BLK 172, X_PM_TMR_BLK 208).
		assert.Len(t, fadt, 244)
		assert.Equal(t, uint32(0x600), mem.u32(fadtAddr+56), "PM1a_EVT_BLK")
		assert.Equal(t, uint32(0x604), mem.u32(fadtAddr+64), "PM1a_CNT_BLK")
		assert.Equal(t, uint32(0x608), mem.u32(fadtAddr+76), "PM_TMR_BLK")
		assert.Equal(t, []byte{4, 2, 0, 4}, fadt[88:92], "PM1_EVT_LEN, PM1_CNT_LEN, PM2_CNT_LEN, PM_TMR_LEN")
		assert.Zero(t, mem.u32(fadtAddr+112)&(1<<8), "TMR_VAL_EXT clear: 24-bit timer")
		assert.Zero(t, mem.u32(fadtAddr+48), "no SMI_CMD: always in ACPI mode")
		for _, g := range []struct {
			off         uint64
			port        uint64
			width, size uint8
		}{{148, 0x600, 32, 2}, {172, 0x604, 16, 2}, {208, 0x608, 32, 3}} {
			assert.Equal(t, []byte{1, g.width, 0, g.size}, fadt[g.off:g.off+4], "GAS at %d: system I/O", g.off)
			assert.Equal(t, g.port, mem.u64(fadtAddr+g.off+4), "GAS at %d", g.off)
		}

		madt := table(madtAddr, "APIC")
		assert.Equal(t, uint32(0xFEE00000), mem.u32(madtAddr+36))
		var got []uint32
		ioapics, override0 := 0, -1
		for off := 44; off < len(madt); off += int(madt[off+1]) {
			e := madt[off:]
			switch e[0] {
			case 0:
				assert.Equal(t, uint8(len(got)), e[2], "processor UID")
				assert.Equal(t, uint8(1), e[4], "enabled")
				got = append(got, uint32(e[3]))
			case 9:
				got = append(got, mem.u32(madtAddr+uint64(off)+4))
			case 1:
				ioapics++
				assert.Equal(t, uint32(0xFEC00000), mem.u32(madtAddr+uint64(off)+4))
			case 2:
				if e[3] == 0 {
					override0 = int(mem.u32(madtAddr + uint64(off) + 4))
				}
			}
		}
		assert.Equal(t, ids, got, "processors in order, x2APIC entries for IDs >= 255")
		assert.Equal(t, 1, ioapics)
		assert.Equal(t, 2, override0, "IRQ 0 -> GSI 2")

		fp := b[MPFloatAddr : MPFloatAddr+16]
		assert.Equal(t, "_MP_", string(fp[:4]))
		assert.Zero(t, sum8(fp))
		assert.Equal(t, uint8(4), fp[9], "MP 1.4")
		ct := uint64(mem.u32(MPFloatAddr + 4))
		n := int(b[ct+4]) | int(b[ct+5])<<8
		assert.Zero(t, sum8(b[ct:ct+uint64(n)]), "MP configuration table checksum")
		var mpIDs []uint32
		e := ct + 44
		for range int(b[ct+34]) | int(b[ct+35])<<8 {
			if b[e] == 0 {
				mpIDs = append(mpIDs, uint32(b[e+1]))
				assert.Equal(t, len(mpIDs) == 1, b[e+3]&2 != 0, "BSP flag on the first")
				assert.Equal(t, uint32(0x206D5), mem.u32(e+4))
				e += 20
				continue
			}
			e += 8
		}
		var want8 []uint32
		for _, id := range ids {
			if id < 255 {
				want8 = append(want8, id)
			}
		}
		assert.Equal(t, want8, mpIDs)
	}
}

func TestTablesNoCPUs(t *testing.T) {
	mem := newMem(2 << 20)
	assert.Error(t, WriteTables(mem, Tables{}))
}

// sleepObjects decodes a definition block made of Name (_Sx, Package (4)
// {a, b, 0, 0}) terms by the ACPI 6.5 grammar (20.2.5.1 NameOp 0x08 with a
// four-character NameSeg; 20.2.5.4 PackageOp 0x12, PkgLength, NumElements;
// 20.2.3 ZeroOp 0x00, OneOp 0x01, BytePrefix 0x0A; 20.2.4 a one-byte
// PkgLength counts itself and the package's bytes) and returns each
// object's first two elements (SLP_TYPa, SLP_TYPb).
func sleepObjects(t *testing.T, aml []byte) map[string][2]uint64 {
	t.Helper()
	out := map[string][2]uint64{}
	for len(aml) > 0 {
		require.GreaterOrEqual(t, len(aml), 8)
		require.Equal(t, byte(0x08), aml[0], "NameOp")
		name := string(aml[1:5])
		require.Equal(t, byte(0x12), aml[5], "PackageOp")
		n := int(aml[6])
		require.Less(t, n, 0x40, "one-byte PkgLength")
		pkg := aml[6 : 6+n]
		require.Equal(t, byte(4), pkg[1], "NumElements")
		var vals []uint64
		for e := pkg[2:]; len(e) > 0; {
			switch e[0] {
			case 0x00, 0x01:
				vals, e = append(vals, uint64(e[0])), e[1:]
			case 0x0A:
				vals, e = append(vals, uint64(e[1])), e[2:]
			default:
				require.Failf(t, "unexpected AML", "opcode %#x in %s", e[0], name)
			}
		}
		require.Len(t, vals, 4, name)
		assert.Equal(t, []uint64{0, 0}, vals[2:], "%s: reserved elements", name)
		out[name] = [2]uint64{vals[0], vals[1]}
		aml = aml[6+n:]
	}
	return out
}

// TestWakingVector: Firmware_Waking_Vector is the FACS's dword at offset
// 12 (ACPI 6.5 Table 5.14); a damaged FACS has none; the BSP resumes in
// real mode at (vector >> 4):(vector & 0xF) — 5.2.10's example 0x12345 is
// 1234:0005.
func TestWakingVector(t *testing.T) {
	facs := make([]byte, 64)
	copy(facs, "FACS")
	facs[4] = 64
	facs[12], facs[13], facs[14] = 0x45, 0x23, 0x01
	facs[24] = 0x99 // X_Firmware_Waking_Vector: not used (SeaBIOS uses the real-mode vector)
	assert.Equal(t, uint32(0x12345), WakingVector(facs))
	bad := append([]byte(nil), facs...)
	bad[0] = 'X'
	assert.Zero(t, WakingVector(bad))
	assert.Zero(t, WakingVector(facs[:32]))

	s := ResumeState(0x12345)
	assert.Equal(t, uint16(0x1234), s.Seg[arch.CS].Selector)
	assert.Equal(t, uint64(0x12340), s.Seg[arch.CS].Base)
	assert.Equal(t, uint64(5), s.RIP)
	assert.Zero(t, s.CR0&(arch.CR0PE|arch.CR0PG|arch.CR0CD|arch.CR0NW), "real mode, caching on (after POST)")
	assert.Equal(t, arch.DescTable{Base: 0, Limit: 0x3FF}, s.IDTR, "the real-mode IVT")
}

// TestMCFGAndDMAR parses the q35 tables: MCFG (PCI Firmware Specification
// 3.0, 4.1.2) and DMAR (VT-d spec 8.1, 8.3, 8.3.1), listed in the RSDT and
// XSDT after the FADT and MADT.
func TestMCFGAndDMAR(t *testing.T) {
	mem := newMem(2 << 20)
	require.NoError(t, WriteTables(mem, Tables{APICIDs: []uint32{0, 1}, LAPICAddr: 0xFEE00000, IOAPICAddr: 0xFEC00000,
		ECAMBase: 0xB0000000, ECAMEndBus: 255,
		DMAR: &DMAR{AddrWidth: 39, IntRemap: true, X2APICOptOut: true, RegBase: 0xFED90000, IOAPICSourceID: 0xFF00}}))
	b := mem.b
	rsdtAddr := uint64(mem.u32(RSDPAddr + 16))
	xsdtAddr := mem.u64(RSDPAddr + 24)
	require.Equal(t, uint32(36+16), mem.u32(rsdtAddr+4))
	require.Equal(t, uint32(36+32), mem.u32(xsdtAddr+4))
	mcfgAddr, dmarAddr := uint64(mem.u32(rsdtAddr+44)), uint64(mem.u32(rsdtAddr+48))
	assert.Equal(t, mcfgAddr, mem.u64(xsdtAddr+36+16))
	assert.Equal(t, dmarAddr, mem.u64(xsdtAddr+36+24))

	mcfg := b[mcfgAddr : mcfgAddr+uint64(mem.u32(mcfgAddr+4))]
	assert.Equal(t, "MCFG", string(mcfg[:4]))
	assert.Zero(t, sum8(mcfg))
	require.Len(t, mcfg, 36+8+16)
	assert.Equal(t, uint64(0xB0000000), mem.u64(mcfgAddr+44), "base address")
	assert.Equal(t, []byte{0, 0, 0, 255}, mcfg[52:56], "segment 0, buses 0-255")

	dmar := b[dmarAddr : dmarAddr+uint64(mem.u32(dmarAddr+4))]
	assert.Equal(t, "DMAR", string(dmar[:4]))
	assert.Zero(t, sum8(dmar))
	require.Len(t, dmar, 48+16+8)
	assert.Equal(t, uint8(38), dmar[36], "host address width - 1")
	assert.Equal(t, uint8(3), dmar[37], "INTR_REMAP | X2APIC_OPT_OUT")
	drhd := dmar[48:]
	assert.Equal(t, []byte{0, 0, 24, 0, 1, 0, 0, 0}, drhd[:8], "type 0 DRHD, length 24, INCLUDE_PCI_ALL, segment 0")
	assert.Equal(t, uint64(0xFED90000), mem.u64(dmarAddr+48+8))
	assert.Equal(t, []byte{3, 8, 0, 0, 0, 0xFF, 0, 0}, drhd[16:24], "I/O APIC scope: ID 0, bus 0xFF, path 00.0")
}

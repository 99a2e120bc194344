package machine

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/firmware"
)

// s3Guest is a 32-bit guest that prepares an ACPI S3 suspend the way
// kvm-unit-tests' x86/s3.c does — the FACS waking vector (ACPI 6.5 Table
// 5.14, offset 12), PM1_EN.RTC_EN (Table 4.14, bit 10) when rtcEn, an RTC
// alarm with "don't care" bytes (0xC0, MC146818A) and register B's AIE
// (bit 5) — then writes SLP_TYP=1 with SLP_EN (0x2400) to PM1a_CNT, which
// QEMU's PIIX4 numbering makes S3. Anything after that OUT must not run.
func s3Guest(vector uint32, rtcEn bool) []byte {
	le := binary.LittleEndian
	setVec := []byte{0xC7, 0x05, 0, 0, 0, 0, 0, 0, 0, 0} // mov dword [FACS+12], vector
	le.PutUint32(setVec[2:], firmware.FACSAddr+12)
	le.PutUint32(setVec[6:], vector)
	outW := func(port, v uint16) []byte { // mov dx, port; mov ax, v; out dx, ax
		return []byte{0x66, 0xBA, byte(port), byte(port >> 8), 0x66, 0xB8, byte(v), byte(v >> 8), 0x66, 0xEF}
	}
	cmos := func(reg, v byte) []byte { // out 0x70, reg; out 0x71, v
		return []byte{0xB0, reg, 0xE6, 0x70, 0xB0, v, 0xE6, 0x71}
	}
	var en []byte
	if rtcEn {
		en = outW(0x602, 0x400)
	}
	return prog(setVec, en, cmos(1, 0xC0), cmos(3, 0xC0), cmos(5, 0xC0), cmos(0xB, 0x22),
		movDX3F8, printStr("sleep "), outW(0x604, 0x2400), movDX3F8, printStr("not suspended"), jmpSelf)
}

// s3Resume is real-mode code for the waking vector: it prints "resumed"
// and ends the run with PM1_STS | PM1_EN<<16 (in eax, dx=0x600) as the
// isa-debug-exit value.
var s3Resume = prog([]byte{0xBA, 0xF8, 0x03}, printStr("resumed"),
	[]byte{0xBA, 0x00, 0x06, 0x66, 0xED}, []byte{0x66, 0xE7, 0xF4}, hlt)

func TestRunS3SuspendResume(t *testing.T) {
	const vector = 0x12345 // entered at 1234:0005 (ACPI 6.5 5.2.10's example)
	var resets []string
	serial := &bytes.Buffer{}
	m, err := New(Config{RAMSize: 16 << 20, DebugExits: []DebugExitConfig{{IOBase: 0xF4, IOSize: 4}},
		Serial:  []io.Writer{serial},
		OnReset: func(id int, before *arch.State, why string) { resets = append(resets, why) }})
	require.NoError(t, err)
	require.NoError(t, m.Load(func(mem firmware.Memory) (*firmware.Boot, error) {
		if err := mem.WritePhys(vector, s3Resume); err != nil {
			return nil, err
		}
		return firmware.LoadFlat(mem, s3Guest(vector, true), 0x100000, 0x100000, firmware.Mode32Flat)
	}))
	b := testBoard{m: m, serial: serial}
	res := b.run(t, Limits{Instructions: 200_000_000})
	require.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, "sleep resumed", b.serial.String(), "RAM kept across S3; nothing after the SLP_EN write ran")
	// PM1_STS after the wake: WAK_STS (bit 15) and RTC_STS (bit 10);
	// PM1_EN back at its reset value 0 (ACPI 6.5 Tables 4.13, 4.14).
	assert.Equal(t, (1<<15|1<<10)<<1|1, res.Code)
	require.Len(t, resets, 2)
	assert.Equal(t, "power-on", resets[0])
	assert.Contains(t, resets[1], "S3 resume at the waking vector 0x12345")
	bsp := m.CPU(0).GetState()
	assert.Equal(t, uint16(0x1234), bsp.Seg[arch.CS].Selector, "CS = vector >> 4")
	assert.Zero(t, bsp.CR0&arch.CR0PE, "real mode at the waking vector")
	assert.Equal(t, 0, res.Resets, "a resume is not a reset request")
}

func TestRunS3NoWakeEvent(t *testing.T) {
	b := newBoard(t, s3Guest(0x1000, false), firmware.Mode32Flat, nil)
	res := b.run(t, Limits{Instructions: 200_000_000})
	assert.Equal(t, ResultHang, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "S3")
	assert.Contains(t, res.Reason, "no wake event enabled")
	assert.Equal(t, "sleep ", b.serial.String())
}

func TestRunS3NoWakingVector(t *testing.T) {
	// Without a waking vector the firmware boots normally (SeaBIOS
	// s3_resume): the guest runs again from the start.
	b := newBoard(t, s3Guest(0, true), firmware.Mode32Flat, func(c *Config) { c.MaxResets = 1 })
	res := b.run(t, Limits{Instructions: 200_000_000})
	assert.Equal(t, ResultLimit, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "no Firmware_Waking_Vector")
	assert.Equal(t, "sleep sleep ", b.serial.String())
}

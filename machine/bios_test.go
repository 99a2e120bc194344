package machine

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/firmware"
)

// A real-mode guest (flat16) finds the board as SeaBIOS leaves QEMU's pc
// machine: PIT channel 0 running at 18.2 Hz, the master PIC delivering
// IRQ 0 at vector 8 (ICW2 0x08) and the IVT pointing it at the BIOS timer
// handler, which counts the tick in the BDA (dword 0x46C, IBM PC BIOS
// convention) and sends the EOI. The guest sleeps with STI; HLT, then
// reports the tick count, the master PIC's ISR (0 after the EOI) and its
// mask register (SeaBIOS's 0xB8, measured under QEMU 7.2).
func TestRealModeTimerThroughBIOS(t *testing.T) {
	code := prog(
		[]byte{0xFB},                   // sti
		[]byte{0xF4},                   // hlt (woken by IRQ 0)
		[]byte{0xFA},                   // cli
		[]byte{0xB0, 0x0B, 0xE6, 0x20}, // mov al, 0Bh; out 20h, al (OCW3: read ISR)
		[]byte{0xE4, 0x20},             // in al, 20h
		[]byte{0x88, 0xC7},             // mov bh, al
		[]byte{0xE4, 0x21},             // in al, 21h (IMR)
		[]byte{0x88, 0xC3},             // mov bl, al
		[]byte{0x66, 0xC1, 0xE3, 0x10}, // shl ebx, 16
		[]byte{0xA1, 0x6C, 0x04},       // mov ax, [046Ch]
		[]byte{0x66, 0x0F, 0xB7, 0xC0}, // movzx eax, ax
		[]byte{0x66, 0x09, 0xD8},       // or eax, ebx
		[]byte{0x66, 0xE7, 0xF4},       // out 0F4h, eax
		hlt,
	)
	b := newBoard(t, code, firmware.ModeReal16, nil)
	res := b.run(t, Limits{})
	require.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, uint64(0x00_B8_0001)<<1|1, uint64(res.Code), "ISR 0, IMR 0xB8, one tick")
	// The tick came after one PIT period, 65536 / 1.193182 MHz = 54.9 ms
	// of virtual time, not before.
	assert.GreaterOrEqual(t, b.m.CPU(0).Clock(), uint64(54_925_000))
}

// IRQ 12 (edge-triggered, unmasked on the slave as SeaBIOS leaves it)
// raised through pc-testdev reaches the real-mode guest at vector 0x74
// (ICW2 0x70), whose BIOS handler sends the EOI to both PICs: afterwards
// neither has a request in service, and no timer tick has been counted.
func TestRealModeSlaveIRQThroughBIOS(t *testing.T) {
	code := prog(
		[]byte{0xBA, 0x0C, 0x20},       // mov dx, 200Ch (pc-testdev IRQ line 12)
		[]byte{0xB0, 0x01, 0xEE},       // mov al, 1; out dx, al
		[]byte{0xB0, 0x00, 0xEE},       // mov al, 0; out dx, al
		[]byte{0xFB, 0xF4, 0xFA},       // sti; hlt; cli
		[]byte{0xB0, 0x0B, 0xE6, 0xA0}, // OCW3 read ISR, slave
		[]byte{0xE4, 0xA0, 0x88, 0xC7}, // in al, 0A0h; mov bh, al
		[]byte{0xB0, 0x0B, 0xE6, 0x20}, // OCW3 read ISR, master
		[]byte{0xE4, 0x20, 0x88, 0xC3}, // in al, 20h; mov bl, al
		[]byte{0x66, 0xC1, 0xE3, 0x10}, // shl ebx, 16
		[]byte{0xA1, 0x6C, 0x04},       // mov ax, [046Ch]
		[]byte{0x66, 0x0F, 0xB7, 0xC0}, // movzx eax, ax
		[]byte{0x66, 0x09, 0xD8},       // or eax, ebx
		[]byte{0x0D, 0x00, 0x80},       // or ax, 8000h (reached)
		[]byte{0x66, 0xE7, 0xF4},       // out 0F4h, eax
		hlt,
	)
	b := newBoard(t, code, firmware.ModeReal16, func(c *Config) { c.PCTestDev = true })
	res := b.run(t, Limits{})
	require.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0x8000<<1|1, res.Code, "both ISRs clear, no tick")
	var ivt [4]byte
	require.NoError(t, b.m.RAM().ReadPhys(0x74*4, ivt[:]))
	assert.Equal(t, []byte{0x1C, 0xD4, 0x00, 0xF0}, ivt[:], "IVT[0x74] = F000:D41C (QEMU 7.2)")
}

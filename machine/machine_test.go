package machine

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
)

// Hand-assembled building blocks (32- and 64-bit encodings unless noted).
var (
	movDX3F8  = []byte{0x66, 0xBA, 0xF8, 0x03} // mov dx, 0x3f8
	movDX8900 = []byte{0x66, 0xBA, 0x00, 0x89} // mov dx, 0x8900
	outDXAL   = []byte{0xEE}                   // out dx, al
	hlt       = []byte{0xF4}
	cli       = []byte{0xFA}
	jmpSelf   = []byte{0xEB, 0xFE} // jmp $
	ud2       = []byte{0x0F, 0x0B}
	outF4EAX  = []byte{0xE7, 0xF4} // out 0xf4, eax
	movALImm  = func(v byte) []byte { return []byte{0xB0, v} }
	movEAXImm = func(v uint32) []byte { return []byte{0xB8, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
	mov92AL   = []byte{0xE6, 0x92}                   // out 0x92, al
	movEAXMem = []byte{0xA1, 0x00, 0x00, 0x0A, 0x00} // mov eax, [0xA0000] (32-bit)
	cpuidInsn = []byte{0x0F, 0xA2}
	movEAXEBX = []byte{0x89, 0xD8} // mov eax, ebx
	rdmsr     = []byte{0x0F, 0x32}
	movECXImm = func(v uint32) []byte { return []byte{0xB9, byte(v), byte(v >> 8), byte(v >> 16), byte(v >> 24)} }
)

func prog(parts ...[]byte) []byte {
	var b []byte
	for _, p := range parts {
		b = append(b, p...)
	}
	return b
}

// printStr emits "mov al, c; out dx, al" per byte (DX must hold the port).
func printStr(s string) []byte {
	var b []byte
	for i := 0; i < len(s); i++ {
		b = append(b, movALImm(s[i])...)
		b = append(b, outDXAL...)
	}
	return b
}

// debugExit writes v to isa-debug-exit at 0xf4 (size 4).
func debugExit(v uint32) []byte { return prog(movEAXImm(v), outF4EAX, hlt) }

type testBoard struct {
	m      *Machine
	serial *bytes.Buffer
}

func newBoard(t *testing.T, code []byte, mode firmware.Mode, edit func(*Config)) testBoard {
	t.Helper()
	serial := &bytes.Buffer{}
	cfg := Config{
		RAMSize:    16 << 20,
		DebugExits: []DebugExitConfig{{IOBase: 0xF4, IOSize: 4}},
	}
	cfg.Serial = []io.Writer{serial}
	if edit != nil {
		edit(&cfg)
	}
	m, err := New(cfg)
	require.NoError(t, err)
	addr := uint64(0x100000)
	if mode == firmware.ModeReal16 {
		addr = 0x8000
	}
	require.NoError(t, m.Load(func(mem firmware.Memory) (*firmware.Boot, error) {
		return firmware.LoadFlat(mem, code, addr, addr, mode)
	}))
	return testBoard{m: m, serial: serial}
}

func (b testBoard) run(t *testing.T, lim Limits) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := b.m.Run(ctx, lim)
	require.NoError(t, err)
	return res
}

func TestRunUARTAndDebugExit(t *testing.T) {
	for _, mode := range []firmware.Mode{firmware.Mode32Flat, firmware.Mode64} {
		t.Run(mode.String(), func(t *testing.T) {
			b := newBoard(t, prog(movDX3F8, printStr("hello\n"), printStr("no newline"), debugExit(0x10)), mode, nil)
			res := b.run(t, Limits{})
			assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
			assert.Equal(t, 0x21, res.Code)
			assert.Equal(t, "hello\nno newline", b.serial.String(), "output is flushed before Run returns")
			assert.Contains(t, res.Reason, "isa-debug-exit")
			assert.Equal(t, 0, res.CPU)
		})
	}
}

func TestRunRealMode(t *testing.T) {
	// 16-bit code: mov dx, imm16 needs no operand-size prefix; out imm8,
	// eax needs one.
	code := prog([]byte{0xBA, 0xF8, 0x03}, printStr("r16"),
		[]byte{0x66, 0xB8, 0x05, 0, 0, 0}, []byte{0x66, 0xE7, 0xF4}, hlt)
	b := newBoard(t, code, firmware.ModeReal16, nil)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0xB, res.Code)
	assert.Equal(t, "r16", b.serial.String())
}

func TestRunShutdownPort(t *testing.T) {
	b := newBoard(t, prog(movDX3F8, printStr("bye"), movDX8900, printStr("Shutdown"), jmpSelf), firmware.Mode32Flat, nil)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultShutdown, res.Kind, res.Reason)
	assert.Equal(t, 0, res.Code)
	assert.Equal(t, "bye", b.serial.String())
}

func TestRunHaltWithInterruptsDisabled(t *testing.T) {
	b := newBoard(t, prog(cli, hlt), firmware.Mode32Flat, nil)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultHang, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "interrupts disabled")
	assert.Equal(t, uint64(2), res.Icount)
}

func TestRunHaltWithNothingToWake(t *testing.T) {
	b := newBoard(t, prog([]byte{0xFB}, hlt), firmware.Mode32Flat, nil) // sti; hlt
	res := b.run(t, Limits{})
	assert.Equal(t, ResultHang, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "no device or timer will raise")
}

func TestRunInstructionLimit(t *testing.T) {
	b := newBoard(t, prog(jmpSelf), firmware.Mode32Flat, func(c *Config) { c.Quantum = 1000 })
	res := b.run(t, Limits{Instructions: 12345})
	assert.Equal(t, ResultLimit, res.Kind, res.Reason)
	assert.Equal(t, uint64(12345), res.Icount, "the limit is exact")
	assert.Contains(t, res.Reason, "instruction limit")
}

func TestRunTimeLimit(t *testing.T) {
	b := newBoard(t, prog(jmpSelf), firmware.Mode32Flat, nil)
	res := b.run(t, Limits{WallTime: 50 * time.Millisecond})
	assert.Equal(t, ResultLimit, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "time limit")
	assert.Positive(t, res.Icount)
}

func TestRunCanceled(t *testing.T) {
	b := newBoard(t, prog(jmpSelf), firmware.Mode32Flat, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res, err := b.m.Run(ctx, Limits{})
	require.NoError(t, err)
	assert.Equal(t, ResultCanceled, res.Kind)
}

func TestRunTripleFaultNoReboot(t *testing.T) {
	// The multiboot/flat32 state leaves IDTR at the real-mode IVT {0, 0x3ff}:
	// in protected mode its zero entries are not valid gates, so #UD
	// becomes #GP, then #DF, then a triple fault.
	b := newBoard(t, prog(movDX3F8, printStr("x"), ud2), firmware.Mode32Flat, func(c *Config) { c.NoReboot = true })
	res := b.run(t, Limits{})
	require.Equal(t, ResultTripleFault, res.Kind, res.Reason)
	require.NotNil(t, res.Fault)
	assert.Contains(t, res.Reason, "triple fault")
	assert.Equal(t, "x", b.serial.String())
}

func TestRunTripleFaultResets(t *testing.T) {
	var resets []string
	b := newBoard(t, prog(movDX3F8, printStr("boot "), ud2), firmware.Mode32Flat, func(c *Config) {
		c.MaxResets = 3
		c.FirmwareBanner = "[fw] "
		c.OnReset = func(id int, before *arch.State, why string) { resets = append(resets, why) }
	})
	res := b.run(t, Limits{})
	assert.Equal(t, ResultLimit, res.Kind, res.Reason)
	assert.Equal(t, 3, res.Resets)
	assert.Contains(t, res.Reason, "reset limit")
	assert.Equal(t, "[fw] boot [fw] boot [fw] boot [fw] boot ", b.serial.String(),
		"every boot prints the firmware banner and reruns the guest")
	require.Len(t, resets, 4)
	assert.Equal(t, "power-on", resets[0])
	assert.Contains(t, resets[1], "triple fault")
}

func TestRunResetRequest(t *testing.T) {
	code := prog(movALImm(1), mov92AL, jmpSelf)
	b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.NoReboot = true })
	res := b.run(t, Limits{})
	assert.Equal(t, ResultShutdown, res.Kind, res.Reason)
	assert.Contains(t, res.Reason, "-no-reboot")

	// 0xCF9 with bit 2, without -no-reboot: the machine resets, then the
	// reset limit ends the run.
	code = prog([]byte{0x66, 0xBA, 0xF9, 0x0C}, movALImm(6), outDXAL, jmpSelf)
	b = newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.MaxResets = 2 })
	res = b.run(t, Limits{})
	assert.Equal(t, ResultLimit, res.Kind, res.Reason)
	assert.Equal(t, 2, res.Resets)
}

// QEMU 7.2's pc machine without VGA: a dword written at 0xA0100 reads
// back (measured), so the VGA window behaves as RAM.
func TestRunVGAWindowIsRAM(t *testing.T) {
	movMemImm := []byte{0xC7, 0x05, 0x00, 0x00, 0x0A, 0x00, 0x78, 0x56, 0x34, 0x12} // mov dword [0xA0000], 0x12345678
	b := newBoard(t, prog(movMemImm, movEAXMem, outF4EAX, hlt), firmware.Mode32Flat, nil)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0x12345678<<1|1, res.Code)
}

// QEMU 7.2 (multiboot probe, -device pc-testdev): a dword read at the
// unassigned 0xFF100000 gives 0; after writing 0x11223344 at pc-testdev's
// last dword (0xFF00FFFC), a dword read at 0xFF00FFFE, running past the
// device's 64 KiB, gives 0x00001122.
func TestRunUnassignedMMIOReadsZero(t *testing.T) {
	movEAXAbs := func(a uint32) []byte { return []byte{0xA1, byte(a), byte(a >> 8), byte(a >> 16), byte(a >> 24)} }
	orEBXEAX := []byte{0x09, 0xC3}                                              // or ebx, eax
	movEBXImm := []byte{0xBB, 0, 0, 0, 0}                                       // mov ebx, 0
	movEAXfromEBX := []byte{0x89, 0xD8}                                         // mov eax, ebx
	store := []byte{0xC7, 0x05, 0xFC, 0xFF, 0x00, 0xFF, 0x44, 0x33, 0x22, 0x11} // mov dword [0xFF00FFFC], 0x11223344
	code := prog(movEBXImm, movEAXAbs(0xFF100000), orEBXEAX, store, movEAXAbs(0xFF00FFFE), orEBXEAX, movEAXfromEBX, outF4EAX, hlt)
	b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) { c.PCTestDev = true })
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 0x00001122<<1|1, res.Code)
}

func TestRunCPUID(t *testing.T) {
	// cpuid(0): EBX = "Genu".
	code := prog(movEAXImm(0), cpuidInsn, movEAXEBX, outF4EAX, hlt)
	b := newBoard(t, code, firmware.Mode32Flat, nil)
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, int(uint64(0x756E6547)<<1|1), res.Code)
}

func TestRunRDMSRUnknownFaults(t *testing.T) {
	// rdmsr of an unimplemented MSR raises #GP; with no IDT that is a
	// triple fault; the first exception delivered names the MSR.
	var first *arch.Fault
	code := prog(movECXImm(0x12345), rdmsr, hlt)
	b := newBoard(t, code, firmware.Mode32Flat, func(c *Config) {
		c.NoReboot = true
		c.Hooks = &cpu.Hooks{Exception: func(_ *cpu.CPU, vec uint8, f *arch.Fault, external bool) {
			if first == nil && f != nil {
				ff := *f
				first = &ff
			}
		}}
	})
	res := b.run(t, Limits{})
	require.Equal(t, ResultTripleFault, res.Kind, res.Reason)
	require.NotNil(t, first)
	assert.Equal(t, uint8(arch.VecGP), first.Vector)
	assert.Contains(t, first.Rule, "MSR 0x12345 is not implemented")
}

func TestNoGuestLoaded(t *testing.T) {
	m, err := New(Config{RAMSize: 4 << 20})
	require.NoError(t, err)
	_, err = m.Run(context.Background(), Limits{})
	require.Error(t, err)
}

func TestNewValidates(t *testing.T) {
	_, err := New(Config{RAMSize: 4 << 20, CPUs: 256})
	require.Error(t, err)
	_, err = New(Config{RAMSize: 4 << 20, Serial: make([]io.Writer, 5)})
	require.Error(t, err)
	_, err = New(Config{RAMSize: 4 << 20, DebugExits: []DebugExitConfig{{0x3F8, 1}}, Serial: nil})
	require.NoError(t, err)
	_, err = New(Config{RAMSize: 4 << 20, DebugExits: []DebugExitConfig{{0x510, 1}}})
	require.Error(t, err, "isa-debug-exit on fw_cfg's port")
}

func TestMachineBus(t *testing.T) {
	m, err := New(Config{RAMSize: 8 << 20})
	require.NoError(t, err)
	assert.NotNil(t, m.RAMPage(0xA0), "VGA window is RAM without a VGA, as on QEMU")
	assert.NotNil(t, m.RAMPage(0x100))
	assert.Nil(t, m.RAMPage(0xFF100))
	assert.Equal(t, uint64(0), m.ReadMMIO(0xFF100000, 2), "unassigned reads 0, as on QEMU")
	assert.Equal(t, uint32(0xFF), m.In(0x3F8, 1), "no UART configured")
	assert.Equal(t, uint32(0xFF), m.In(0xE9, 1), "no debugcon by default, as in QEMU")
	m.Out(0x510, 2, 0) // fw_cfg signature
	sig := []byte{byte(m.In(0x511, 1)), byte(m.In(0x511, 1)), byte(m.In(0x511, 1)), byte(m.In(0x511, 1))}
	assert.Equal(t, "QEMU", string(sig))
}

func TestDebugCon(t *testing.T) {
	var con bytes.Buffer
	b := newBoard(t, prog([]byte{0x66, 0xBA, 0xE9, 0x00}, printStr("e9"), debugExit(0)), firmware.Mode32Flat,
		func(c *Config) { c.DebugCon = &con })
	res := b.run(t, Limits{})
	assert.Equal(t, ResultDebugExit, res.Kind, res.Reason)
	assert.Equal(t, 1, res.Code)
	assert.Equal(t, "e9", con.String())
}

package cpu_test

import (
	"bytes"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"os"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/firmware"
	"github.com/vmxemu/vmxemu/guests"
)

// testBus is a minimal board: flat RAM, a polling UART at 0x3F8 and
// isa-debug-exit at 0xF4.
type testBus struct {
	ram   []byte
	out   bytes.Buffer
	exit  int
	c     *cpu.CPU
	ended bool
}

func (b *testBus) RAMSize() uint64 { return uint64(len(b.ram)) }
func (b *testBus) WritePhys(pa uint64, p []byte) error {
	copy(b.ram[pa:], p)
	return nil
}
func (b *testBus) RAMPage(pfn uint64) *[4096]byte {
	if (pfn+1)<<12 > uint64(len(b.ram)) {
		return nil
	}
	return (*[4096]byte)(b.ram[pfn<<12:])
}
func (b *testBus) ReadMMIO(pa uint64, size int) uint64     { return ^uint64(0) }
func (b *testBus) WriteMMIO(pa uint64, size int, v uint64) {}
func (b *testBus) In(port uint16, size int) uint32 {
	if port == 0x3FD {
		return 0x60
	}
	return 0xFFFFFFFF
}
func (b *testBus) Out(port uint16, size int, v uint32) {
	switch port {
	case 0x3F8:
		b.out.WriteByte(byte(v))
	case 0xF4:
		b.exit = int(v<<1 | 1)
		b.ended = true
		b.c.RequestStop()
	}
}

type testPlatform struct{}

// CPUID reports only what the guests rely on: long mode and NX
// (CPUID.80000001H:EDX bits 29 and 20), which IA32_EFER.LME/NXE need.
func (testPlatform) CPUID(c *cpu.CPU, leaf, sub uint32) (uint32, uint32, uint32, uint32) {
	switch leaf {
	case 0x80000000:
		return 0x80000001, 0, 0, 0
	case 0x80000001:
		return 0, 0, 0, 1<<29 | 1<<20
	}
	return 0, 0, 0, 0
}
func (testPlatform) ReadMSR(c *cpu.CPU, idx uint32) (uint64, *arch.Fault) {
	f := arch.GPFault(0, "no such MSR", "")
	return 0, &f
}
func (testPlatform) WriteMSR(c *cpu.CPU, idx uint32, v uint64) *arch.Fault {
	f := arch.GPFault(0, "no such MSR", "")
	return &f
}

func runGuest(t *testing.T, name string) (string, int) {
	for _, tool := range []string{"gcc", "ld", "objcopy"} {
		testenv.NeedTool(t, tool, "the guest kernels are built with gcc and binutils")
	}
	img, err := guests.Build(name, t.TempDir())
	require.NoError(t, err, "building guest %s", name)
	data, err := os.ReadFile(img)
	require.NoError(t, err)
	bus := &testBus{ram: make([]byte, 128<<20)}
	boot, err := firmware.LoadMultiboot(bus, data, firmware.MultibootCmdline(img, ""), nil)
	require.NoError(t, err)
	c := cpu.New(cpu.Config{Bus: bus, Platform: testPlatform{}}, boot.State())
	bus.c = c
	n := 0
	c.Hooks = &cpu.Hooks{Exception: func(c *cpu.CPU, vec uint8, f *arch.Fault, ext bool) {
		if n < 5 && f != nil {
			t.Logf("exception %s at RIP %#x", f.Error(), c.RIP)
		}
		n++
	}}
	for i := 0; i < 1000 && !bus.ended; i++ {
		r := c.Run(1_000_000)
		if r == cpu.StopShutdown {
			t.Fatalf("shutdown: %s: %v at RIP %#x; output so far:\n%s", c.ShutdownWhy, c.ShutdownFault.Error(), c.RIP, bus.out.String())
		}
		if r == cpu.StopHalt {
			t.Fatalf("halted at RIP %#x; output:\n%s", c.RIP, bus.out.String())
		}
	}
	return bus.out.String(), bus.exit
}

func TestGuestsRun(t *testing.T) {
	for _, g := range []string{"compute32", "compute32-O0", "compute64", "compute64-O0"} {
		t.Run(g, func(t *testing.T) {
			out, code := runGuest(t, g)
			t.Log(out)
			require.Equal(t, guests.ExitPass, code, out)
		})
	}
}

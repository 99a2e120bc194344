package cpu_test

import (
	"fmt"
	"runtime/debug"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// decodeSeeds are starting points for both fuzz targets: prefixes, every
// ModRM/SIB/displacement form, immediates, the 0F/0F38/0F3A maps, VEX and
// EVEX lead bytes, system instructions and over-long encodings.
var decodeSeeds = [][]byte{
	{0x90},
	{0x66, 0x67, 0xF3, 0x2E, 0x48, 0x8B, 0x84, 0x88, 0x78, 0x56, 0x34, 0x12},
	{0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8},
	{0x8B, 0x05, 0x10, 0, 0, 0},
	{0x8B, 0x44, 0x24, 0x08},
	{0x8B, 0x04, 0x25, 0, 0, 1, 0},
	{0xC7, 0x84, 0x24, 1, 0, 0, 0, 2, 0, 0, 0},
	{0x67, 0xA1, 0x00, 0x10, 0x00, 0x00},
	{0xA1, 1, 2, 3, 4, 5, 6, 7, 8},
	{0x0F, 0x38, 0xF0, 0x07},
	{0x0F, 0x3A, 0x0F, 0xC1, 0x08},
	{0xC4, 0xE2, 0x79, 0x18, 0x07},
	{0xC5, 0xF8, 0x77},
	{0x62, 0xF1, 0x7C, 0x48, 0x28, 0xC1},
	{0x0F, 0x01, 0xD0},
	{0x0F, 0x01, 0xF8},
	{0x0F, 0x22, 0xC0},
	{0x0F, 0x20, 0xE0},
	{0x0F, 0x05},
	{0x0F, 0x07},
	{0xCD, 0x80},
	{0xCC},
	{0xF4},
	{0xCF},
	{0x48, 0xCF},
	{0xEA, 0, 0, 0, 0, 0x08, 0},
	{0xF3, 0xA4},
	{0xF3, 0x48, 0xAB},
	{0xF0, 0x0F, 0xC7, 0x0E},
	{0xF0, 0x90},
	{0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90},
	{0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x66, 0x90},
	{0xD9, 0xE8},
	{0x0F, 0xAE, 0x00},
	{0x0F, 0x0B},
	{0x8E, 0xD0},
	{0xFB, 0x90},
	{0x9C, 0x58, 0x0D, 0x00, 0x01, 0x00, 0x00, 0x50, 0x9D, 0x90},
	{0x0F, 0x01, 0x38},
	{0xC8, 0x10, 0x00, 0x05},
	{0xF7, 0xF1},
	{0x0F, 0x00, 0xD8},
	{0x62, 0x00},
	{0xC4, 0x00},
}

// FuzzDecode: any 0..20 bytes in each mode decode to a length 1..15 or a
// fault, without panicking, deterministically; a valid instruction of
// length n decodes identically from exactly its n bytes and is incomplete
// from n-1.
func FuzzDecode(f *testing.F) {
	for _, s := range decodeSeeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if len(b) > 20 {
			b = b[:20]
		}
		for _, bits := range []int{16, 32, 64} {
			n, flt, ok := cpu.DecodeLength(b, bits)
			n2, flt2, ok2 := cpu.DecodeLength(b, bits)
			require.Equal(t, ok, ok2, "nondeterministic (mode %d)", bits)
			require.Equal(t, n, n2, "nondeterministic (mode %d)", bits)
			require.Equal(t, flt, flt2, "nondeterministic (mode %d)", bits)
			if !ok {
				// Incomplete: only possible when fewer than 15 bytes are
				// available.
				require.Less(t, len(b), 15, "mode %d: % x reported incomplete", bits, b)
				continue
			}
			if flt != nil {
				require.Contains(t, []uint8{arch.VecUD, arch.VecGP}, flt.Vector, "mode %d: % x", bits, b)
				require.NotEmpty(t, flt.Rule)
				require.NotEmpty(t, flt.SDM)
				if flt.Vector == arch.VecGP {
					require.Equal(t, 15, n, "mode %d: % x: #GP length", bits, b)
				}
				continue
			}
			require.GreaterOrEqual(t, n, 1, "mode %d: % x", bits, b)
			require.LessOrEqual(t, n, 15, "mode %d: % x", bits, b)
			require.LessOrEqual(t, n, len(b), "mode %d: % x", bits, b)
			n3, flt3, ok3 := cpu.DecodeLength(b[:n], bits)
			require.True(t, ok3, "mode %d: % x: truncated to its length %d it no longer decodes", bits, b, n)
			require.Nil(t, flt3, "mode %d: % x", bits, b)
			require.Equal(t, n, n3, "mode %d: % x", bits, b)
			_, _, ok4 := cpu.DecodeLength(b[:n-1], bits)
			require.False(t, ok4, "mode %d: % x: decodes from fewer than its %d bytes", bits, b, n)
		}
	})
}

// fuzzTemplates are the three machines FuzzExecute starts from; each run
// copies one (RAM and state) instead of rebuilding it.
var fuzzTemplates = map[sysMode]struct {
	ram   []byte
	state arch.State
}{}

// Fuzz configuration bits (the first argument of FuzzExecute).
const (
	fuzzTF     = 1 << 0 // start with RFLAGS.TF=1
	fuzzIntr   = 1 << 1 // IF=1 and an interrupt arriving after cfg>>4 instructions
	fuzzRing3  = 1 << 2 // start at CPL 3 (protected and long mode)
	fuzzPaging = 1 << 3 // 32-bit paging in protected mode
)

func fuzzMachine(t testing.TB, mode sysMode, cfg uint8) *machine {
	tpl, ok := fuzzTemplates[mode]
	if !ok {
		m := newMachine(t, mode, 1<<20)
		tpl.ram = append([]byte(nil), m.bus.ram...)
		tpl.state = m.state()
		fuzzTemplates[mode] = tpl
	}
	bus := &sysBus{ram: append([]byte(nil), tpl.ram...)}
	m := &machine{bus: bus, plat: &sysPlatform{vmx: true}, mode: mode}
	s := tpl.state
	// Registers that point somewhere useful so memory operands hit RAM.
	s.GPR[arch.RBX] = physData
	s.GPR[arch.RSI] = physData
	s.GPR[arch.RDI] = physData + 0x1000
	s.GPR[arch.RCX] = 0x10
	s.GPR[arch.RBP] = s.GPR[arch.RSP] - 0x100
	if mode == modeReal {
		s.GPR[arch.RBX], s.GPR[arch.RSI], s.GPR[arch.RDI] = 0x10, 0x20, 0x1000
	}
	if cfg&fuzzTF != 0 {
		s.RFLAGS |= arch.FlagTF
	}
	if cfg&fuzzIntr != 0 {
		s.RFLAGS |= arch.FlagIF
	}
	if cfg&fuzzRing3 != 0 && mode != modeReal {
		code := segCache(selCode32U|3, 0, 0xFFFFF, accCode3, flgG32)
		if mode == modeLong64 {
			code = segCache(selCode64U|3, 0, 0xFFFFF, accCode3, flgG64)
		}
		for i := range s.Seg {
			s.Seg[i] = segCache(selData3|3, 0, 0xFFFFF, accData3, flgG32)
		}
		s.Seg[arch.CS] = code
		s.GPR[arch.RSP] = physUStack
	}
	if cfg&fuzzPaging != 0 && mode == modeProt32 {
		m.identityMap32()
		s.CR3 = physPD32
		s.CR0 |= arch.CR0PG | arch.CR0WP
	}
	m.c = cpu.New(cpu.Config{Bus: bus, Platform: m.plat}, s)
	if cfg&fuzzIntr != 0 {
		m.c.SetInterruptSource(&intrSource{m: m, after: uint64(cfg >> 4), vec: 0x20 + cfg>>4})
	}
	return m
}

// fuzzBudget is the instruction budget of one FuzzExecute run.
const fuzzBudget = 200

// execOnce runs code in mode and checks the outcome; it reports a Go panic
// or a hang as a test failure with the stack.
func execOnce(t *testing.T, mode sysMode, cfg uint8, code []byte) {
	m := fuzzMachine(t, mode, cfg)
	m.load(physCode, code)
	type result struct {
		r     cpu.StopReason
		panic string
	}
	done := make(chan result, 1)
	go func() {
		defer func() {
			if p := recover(); p != nil {
				done <- result{panic: fmt.Sprintf("%v\n%s", p, debug.Stack())}
			}
		}()
		done <- result{r: m.c.Run(fuzzBudget)}
	}()
	select {
	case res := <-done:
		if res.panic != "" {
			t.Fatalf("%v: % x: Go panic: %s", mode, code, res.panic)
		}
		switch res.r {
		case cpu.StopBudget, cpu.StopHalt:
			require.False(t, m.c.IsShutdown(), "%v: % x", mode, code)
		case cpu.StopShutdown:
			require.True(t, m.c.IsShutdown(), "%v: % x", mode, code)
			require.NotEmpty(t, m.c.ShutdownWhy)
		default:
			t.Fatalf("%v: % x: unexpected stop reason %v", mode, code, res.r)
		}
		require.LessOrEqual(t, m.c.Icount, uint64(fuzzBudget), "%v: % x", mode, code)
	case <-time.After(10 * time.Second):
		t.Fatalf("%v: % x: Run(%d) did not return within 10s (hang)", mode, code, fuzzBudget)
	}
}

// FuzzExecute runs arbitrary bytes as code in real mode, 32-bit protected
// mode and 64-bit long mode, each with an IDT whose every vector halts:
// every run must end in the budget, a halt or a shutdown, never a panic.
// cfg varies the start: single-stepping, an incoming interrupt, CPL 3,
// paging in protected mode.
func FuzzExecute(f *testing.F) {
	for i, s := range decodeSeeds {
		f.Add(uint8(i*0x13), s)
	}
	for _, s := range [][]byte{
		// Mode switches and table loads with garbage.
		{0x0F, 0x01, 0x17, 0x0F, 0x22, 0xC0, 0xEA, 0, 0, 0, 0, 0x30, 0},
		{0x0F, 0x20, 0xC0, 0x0D, 1, 0, 0, 0x80, 0x0F, 0x22, 0xC0, 0x90},
		{0x0F, 0x01, 0x1F, 0xCD, 0x00},
		{0x31, 0xC0, 0x8E, 0xD0, 0xCD, 0x03},
		{0xB9, 0x80, 0x00, 0x00, 0xC0, 0x0F, 0x32, 0x0F, 0x30},
		{0x0F, 0x00, 0xD8, 0x0F, 0x00, 0xD0},
		{0x6A, 0x23, 0x68, 0, 0, 9, 0, 0x48, 0xCB},
		{0xF3, 0x48, 0xA5, 0xEB, 0xFC},
		{0x9C, 0x81, 0x0C, 0x24, 0x00, 0x01, 0x00, 0x00, 0x9D, 0x90, 0x90},
		{0xFF, 0x2C, 0x25, 0, 0, 8, 0},
		{0xCD, 0x0D, 0xF1, 0xCE},
	} {
		f.Add(uint8(0), s)
		f.Add(uint8(fuzzTF|fuzzRing3|fuzzPaging), s)
		f.Add(uint8(fuzzIntr|0x30), s)
	}
	f.Fuzz(func(t *testing.T, cfg uint8, code []byte) {
		if len(code) > 4096 {
			code = code[:4096]
		}
		for _, mode := range []sysMode{modeReal, modeProt32, modeLong64} {
			execOnce(t, mode, cfg, code)
		}
	})
}

package cpu

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// ticksRef is floor(ns × mhz / 1000) in arbitrary precision, modulo 2^64:
// the definition of the TSC's rate (tsc.go).
func ticksRef(ns, mhz uint64) uint64 {
	x := new(big.Int).Mul(new(big.Int).SetUint64(ns), new(big.Int).SetUint64(mhz))
	x.Quo(x, big.NewInt(1000))
	return new(big.Int).And(x, new(big.Int).SetUint64(^uint64(0))).Uint64()
}

// TestTSCRate: the TSC reads base + floor(n × MHz / 1000) n ns after it
// was set (at reset, base 0 at time 0; IA32_TSC writes set base at the
// writing instruction's time); ClockAtTSC is the first time it reads a
// value, so the TSC-deadline timer fires exactly there.
func TestTSCRate(t *testing.T) {
	rng := rand.New(rand.NewPCG(18, 12))
	for _, mhz := range []uint64{DefaultTSCMHz, 2600, 2133, 3500, 933, 1} {
		c := New(Config{TSCMHz: mhz}, arch.State{})
		require.Equal(t, mhz, c.TSCMHz())
		assert.Zero(t, c.TSC(), "0 at reset")
		c.Idle(12345)
		assert.Equal(t, ticksRef(12345, mhz), c.TSC(), "%d MHz from reset", mhz)
		for range 2000 {
			var base uint64
			switch rng.IntN(3) {
			case 0:
				base = rng.Uint64()
			case 1:
				base = ^uint64(0) - rng.Uint64N(1<<20) // wraps soon
			}
			c.setTSC(base)
			epoch := c.Clock()
			n := rng.Uint64N(1 << 40)
			if rng.IntN(4) == 0 {
				n = rng.Uint64N(3000)
			}
			c.Idle(n)
			tsc := c.TSC()
			require.Equal(t, base+ticksRef(n, mhz), tsc, "%d MHz, base %#x, %d ns", mhz, base, n)
			if mhz >= 1000 && n > 0 {
				require.NotEqual(t, base+ticksRef(n-1, mhz), tsc, "at least a tick per ns")
			}
			// A deadline ahead: ClockAtTSC is the first ns at which
			// the counter has reached it.
			k := rng.Uint64N(1 << 30)
			if rng.IntN(4) == 0 {
				k = rng.Uint64N(10)
			}
			v := tsc + 1 + k
			if v < tsc {
				continue // the deadline wrapped below the counter: already reached
			}
			at, ok := c.ClockAtTSC(v)
			require.True(t, ok, "%d MHz, base %#x, %d ns, v %#x", mhz, base, n, v)
			require.Greater(t, at, c.Clock())
			assert.GreaterOrEqual(t, base+ticksRef(at-epoch, mhz), v, "reached at %d", at)
			assert.Less(t, base+ticksRef(at-1-epoch, mhz), v, "not a ns earlier")
			// A value already reached is now.
			back := min(tsc, rng.Uint64N(5)) // not wrapping above the counter
			at, ok = c.ClockAtTSC(tsc - back)
			require.True(t, ok)
			assert.Equal(t, c.Clock(), at)
		}
	}
}

// TestTSCInBlock: RDTSC inside a block reads the exact time of the
// instruction: with 2600 ticks per microsecond, the k-th instruction of a
// run reads floor(k × 2.6) (k instructions retired before it).
func TestTSCInBlock(t *testing.T) {
	h := newHarness(mode32)
	h.c = New(Config{Bus: h.bus, Platform: harnessPlatform{}, TSCMHz: 2600}, h.base)
	// rdtsc; mov esi,eax; nop x3; rdtsc; mov edi,eax; rdtsc; hlt
	code := []byte{0x0F, 0x31, 0x89, 0xC6, 0x90, 0x90, 0x90, 0x0F, 0x31, 0x89, 0xC7, 0x0F, 0x31}
	h.stepN(code, [16]uint64{}, 0, 1<<20)
	require.True(t, h.c.Halted())
	assert.Equal(t, uint64(0), h.c.GPR[arch.RSI], "instruction 0")
	assert.Equal(t, uint64(5*2600/1000), h.c.GPR[arch.RDI], "instruction 5")
	assert.Equal(t, uint64(7*2600/1000), h.c.GPR[arch.RAX], "instruction 7")
}

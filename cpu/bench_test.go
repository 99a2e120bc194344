package cpu

import (
	"testing"
	"time"

	"github.com/vmxemu/vmxemu/arch"
)

// Interpreter micro-benchmarks in 32-bit flat protected mode. They measure
// and report MIPS (instructions retired per second of wall time, and per
// second of process CPU time); they assert nothing about speed.

// runLoop runs code (ending in HLT, which the harness appends) from a fresh
// state per b.N iteration and reports MIPS.
func runLoop(b *testing.B, code []byte, gpr [16]uint64) { runLoopIn(b, mode32, code, gpr) }

// runLoopIn is runLoop in mode32 or mode64.
func runLoopIn(b *testing.B, mode uint8, code []byte, gpr [16]uint64) {
	h := newHarness(mode)
	var insns uint64
	var elapsed, cpuTime time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		s := h.base
		s.GPR = gpr
		if string(h.code) != string(code) {
			h.step(code, gpr, 0) // place the code; the state is reset below
		}
		h.c.SetState(s)
		h.c.halted = false
		start := h.c.Icount
		b.StartTimer()
		t0, c0 := time.Now(), processCPUTime()
		r := h.c.Run(1 << 40)
		elapsed += time.Since(t0)
		cpuTime += processCPUTime() - c0
		b.StopTimer()
		if r != StopHalt {
			b.Fatalf("loop ended with %v at RIP %#x", r, h.c.RIP)
		}
		insns += h.c.Icount - start
		b.StartTimer()
	}
	b.ReportMetric(float64(insns)/elapsed.Seconds()/1e6, "MIPS")
	if cpuTime > 0 {
		// Instructions per second of process CPU time: less sensitive to
		// other load on the machine than the wall-clock MIPS.
		b.ReportMetric(float64(insns)/cpuTime.Seconds()/1e6, "MIPS-cpu")
	}
	b.ReportMetric(float64(insns)/float64(b.N), "insns/op")
}

// BenchmarkDecJnz: "dec ecx; jnz" 10M times.
func BenchmarkDecJnz(b *testing.B) {
	var g [16]uint64
	g[arch.RCX] = 10_000_000
	runLoop(b, []byte{
		0x49,       // dec ecx
		0x75, 0xFD, // jnz -3
	}, g)
}

// BenchmarkLoadALUStore: a load/add/store loop over 1 MiB.
func BenchmarkLoadALUStore(b *testing.B) { benchLoadALUStore(b, mode32) }

// BenchmarkLoadALUStore64: the same loop in 64-bit mode (paging on,
// 2-MiB pages; the same encodings, with 64-bit addressing).
func BenchmarkLoadALUStore64(b *testing.B) { benchLoadALUStore(b, mode64) }

func benchLoadALUStore(b *testing.B, mode uint8) {
	var g [16]uint64
	g[arch.RCX] = 256 << 10
	g[arch.RSI] = 0x100000
	g[arch.RDI] = 0x200000
	g[arch.RBX] = 3
	code := []byte{
		0x8B, 0x06, // mov eax, [esi]
		0x01, 0xD8, // add eax, ebx
		0x89, 0x07, // mov [edi], eax
		0x83, 0xC6, 0x04, // add esi, 4
		0x83, 0xC7, 0x04, // add edi, 4
		0x49,       // dec ecx
		0x75, 0xF1, // jnz -15
	}
	if mode == mode64 {
		// 49 is a REX prefix in 64-bit mode: dec ecx is FF C9.
		code = append(code[:12:12], 0xFF, 0xC9, 0x75, 0xF0)
	}
	runLoopIn(b, mode, code, g)
}

// BenchmarkLoadALUXorStore: the load, ALU, xor-with-immediate, store
// shape of issue 18 (guests/bench "las"): a 4-KiB buffer walked with an
// index that wraps, 8 instructions per iteration, 1M iterations.
func BenchmarkLoadALUXorStore(b *testing.B) { benchLoadALUXorStore(b, mode32) }

// BenchmarkLoadALUXorStore64: the same loop in 64-bit mode (paging on).
func BenchmarkLoadALUXorStore64(b *testing.B) { benchLoadALUXorStore(b, mode64) }

func benchLoadALUXorStore(b *testing.B, mode uint8) {
	var g [16]uint64
	g[arch.RCX] = 1 << 20
	g[arch.RSI] = 0x100000
	g[arch.RDI] = 0x101000
	code := []byte{
		0x8B, 0x04, 0x16, // mov eax, [esi+edx]
		0x01, 0xC8, // add eax, ecx
		0x35, 0x5A, 0x5A, 0x5A, 0x5A, // xor eax, 0x5a5a5a5a
		0x89, 0x04, 0x17, // mov [edi+edx], eax
		0x83, 0xC2, 0x04, // add edx, 4
		0x81, 0xE2, 0xFC, 0x0F, 0x00, 0x00, // and edx, 0xffc
		0x49,       // dec ecx
		0x75, 0xE7, // jnz -25
	}
	if mode == mode64 {
		// 49 is a REX prefix in 64-bit mode: dec ecx is FF C9.
		code = append(code[:22:22], 0xFF, 0xC9, 0x75, 0xE6)
	}
	runLoopIn(b, mode, code, g)
}

// System-instruction micro-benchmarks (issue 18: within 5x of an ALU
// instruction). Each loops "body; dec edi; jnz" 1M times; the harness
// platform answers CPUID with zeros, the bus ignores port writes and reads
// all-ones (a null port), so they measure what the core pays per
// instruction. machine's BenchmarkBoardSystem runs the same loops against
// the real CPU model and devices.
func benchSys(b *testing.B, mode uint8, body []byte, gpr [16]uint64) {
	gpr[arch.RDI] = 1_000_000
	code := append(append([]byte{}, body...), 0xFF, 0xCF) // dec edi
	code = append(code, 0x75, byte(-(len(code) + 2)))     // jnz body
	runLoopIn(b, mode, code, gpr)
}

// BenchmarkCPUID: xor eax,eax; cpuid.
func BenchmarkCPUID(b *testing.B) {
	benchSys(b, mode32, []byte{0x31, 0xC0, 0x0F, 0xA2}, [16]uint64{})
}

// BenchmarkMovCR8: mov cr8,rax; mov rax,cr8 (64-bit mode: CR8 is the TPR).
func BenchmarkMovCR8(b *testing.B) {
	benchSys(b, mode64, []byte{0x44, 0x0F, 0x22, 0xC0, 0x44, 0x0F, 0x20, 0xC0}, [16]uint64{})
}

// BenchmarkRDMSR: rdmsr of IA32_SYSENTER_CS (a core MSR).
func BenchmarkRDMSR(b *testing.B) {
	var g [16]uint64
	g[arch.RCX] = 0x174
	benchSys(b, mode32, []byte{0x0F, 0x32}, g)
}

// BenchmarkWRMSR: wrmsr of IA32_SYSENTER_CS (a core MSR).
func BenchmarkWRMSR(b *testing.B) {
	var g [16]uint64
	g[arch.RCX] = 0x174
	benchSys(b, mode32, []byte{0x0F, 0x30}, g)
}

// BenchmarkRDTSC: rdtsc.
func BenchmarkRDTSC(b *testing.B) {
	benchSys(b, mode32, []byte{0x0F, 0x31}, [16]uint64{})
}

// BenchmarkOutIn: out dx,eax; in eax,dx on a port nothing decodes.
func BenchmarkOutIn(b *testing.B) {
	var g [16]uint64
	g[arch.RDX] = 0x2F0
	benchSys(b, mode32, []byte{0xEF, 0xED}, g)
}

// BenchmarkMovCR0WP: mov eax,cr0; xor eax,0x10000; mov cr0,eax — toggles
// CR0.WP, which drops the TLB (kvm-unit-tests' vmexit_cr0_wp loop).
func BenchmarkMovCR0WP(b *testing.B) {
	benchSys(b, mode32, []byte{0x0F, 0x20, 0xC0, 0x35, 0x00, 0x00, 0x01, 0x00, 0x0F, 0x22, 0xC0}, [16]uint64{})
}

// BenchmarkMovCR4PGE: mov rax,cr4; xor eax,0x80; mov cr4,rax, then a load
// and a store — toggles CR4.PGE, which invalidates every TLB entry (SDM
// Vol. 3A 4.10.4.1), so the load, the store and the loop's fetch refill
// after each toggle (kvm-unit-tests' vmexit_cr4_pge loop; 64-bit mode, 4-level
// paging).
func BenchmarkMovCR4PGE(b *testing.B) {
	var g [16]uint64
	g[arch.RSI] = 0x100000
	g[arch.RBP] = 0x101000 // RDI counts the loop (benchSys)
	benchSys(b, mode64, []byte{
		0x0F, 0x20, 0xE0, // mov rax, cr4
		0x35, 0x80, 0x00, 0x00, 0x00, // xor eax, 0x80
		0x0F, 0x22, 0xE0, // mov cr4, rax
		0x48, 0x8B, 0x1E, // mov rbx, [rsi]
		0x48, 0x89, 0x5D, 0x00, // mov [rbp], rbx
	}, g)
}

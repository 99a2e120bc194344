package cpu

import (
	"encoding/binary"
	"reflect"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// memPairAddrs are the addresses a memory pair's halves are tried at: the
// data page, its last bytes (a load or store of 2+ bytes crosses into the
// next page: the slow path), and by mode a non-canonical address (#GP(0)
// in 64-bit mode, SDM Vol. 3A 6.15) and one past the harness's RAM: not
// present (#PF) in 64-bit mode, whose page tables map 4 MiB only, and
// MMIO in 32-bit mode, which does not page.
func memPairAddrs(mode uint8) []uint64 {
	a := []uint64{harnessData, harnessData + 0xFFC, harnessRAM + 0x1000}
	if mode == mode64 {
		a = append(a, 0x8000_0000_0000_0000)
	}
	return a
}

// runMemPair runs code (followed by the harness's HLT) from registers g
// and the data page as fill leaves it, once through Run's fast path
// (whole blocks) and once one instruction at a time, and fails the test
// unless state, the fault taken, the instructions retired, the data page
// and the code page agree.
func runMemPair(t *testing.T, h *harness, code []byte, g [16]uint64, fill func()) {
	t.Helper()
	fill()
	if h.c.IsShutdown() {
		h.newCPU()
	}
	c0 := h.c.Icount
	h.code = nil // the code afresh: the last run may have written it
	whole, fw := h.stepN(code, g, 0, 5)
	nw := h.c.Icount - c0
	dw := append([]byte(nil), h.data()...)
	cw := append([]byte(nil), h.bus.ram[harnessCode:harnessCode+4096]...)
	fill()
	if h.c.IsShutdown() {
		h.newCPU()
	}
	c0 = h.c.Icount
	h.code = nil
	_, fs := h.stepN(code, g, 0, 1)
	for i := 0; i < 4 && fs < 0; i++ {
		h.c.Run(1)
		fs = h.fault
	}
	split := h.c.GetState()
	ns := h.c.Icount - c0
	if !reflect.DeepEqual(whole, split) || nw != ns || fw != fs || string(dw) != string(h.data()) ||
		string(cw) != string(h.bus.ram[harnessCode:harnessCode+4096]) {
		t.Fatalf("mode %d code % x rsi=%#x rdi=%#x: whole %+v (fault %d, %d retired)\nsplit %+v (fault %d, %d retired)",
			h.mode, code, g[arch.RSI], g[arch.RDI], whole, fw, nw, split, fs, ns)
	}
}

// TestLoadLoadPairs checks load-load pairs (exec_pair.go
// loadLoadPairable: MOV r,m then MOV r,[base+disp] of the same size, one
// entry) through Run's fast path, whole blocks, against one instruction
// at a time: each address of either half on the data page, across its
// end, not present or MMIO, and non-canonical, so that either half
// faults or neither; a second whose base register the first loads (a
// pointer on the data page) or whose destination is the first's; 8-bit
// loads into high-byte registers. Second loads with an index, RIP-relative
// or of another size are not paired but must run the same. It requires
// the pairs to be formed.
func TestLoadLoadPairs(t *testing.T) {
	firsts := [][]byte{
		{0x8B, 0x0E},             // mov ecx, [esi]
		{0x8B, 0x46, 0x08},       // mov eax, [esi+8]
		{0x8B, 0x0C, 0x9E},       // mov ecx, [esi+ebx*4]
		{0x8B, 0x3E},             // mov edi, [esi]: the second's base
		{0x8A, 0x2E},             // mov ch, [esi] (bpl with a REX prefix)
		{0x66, 0x8B, 0x0E},       // mov cx, [esi]
		{0x8B, 0x0D, 0, 0, 0, 0}, // mov ecx, [disp32] / [rip+disp32]
	}
	seconds := [][]byte{
		{0x8B, 0x57, 0x08},       // mov edx, [edi+8]
		{0x8B, 0x17},             // mov edx, [edi]
		{0x8B, 0x4F, 0xFC},       // mov ecx, [edi-4]: the first's destination
		{0x8A, 0x77, 0x01},       // mov dh, [edi+1] (sil with a REX prefix)
		{0x66, 0x8B, 0x57, 0x02}, // mov dx, [edi+2]
		{0x8B, 0x14, 0x9F},       // mov edx, [edi+ebx*4]: an index, not paired
		{0x8B, 0x15, 0, 0, 0, 0}, // mov edx, [disp32] / [rip+disp32]: not paired
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48}, []byte{0x4C})
		}
		for fi, f := range firsts {
			for si, s := range seconds {
				for _, p1 := range pfx {
					for _, p2 := range pfx {
						a := append([]byte{}, f...)
						if p1 != nil {
							if a = prefixEach(a, p1); a == nil {
								continue
							}
						}
						b := append([]byte{}, s...)
						if p2 != nil {
							if b = prefixEach(b, p2); b == nil {
								continue
							}
						}
						if si == 6 {
							// [disp32] (32-bit mode) or [rip+disp32]
							// (64-bit mode): harnessData+0x10.
							disp := uint32(harnessData + 0x10)
							if mode == mode64 {
								disp -= uint32(harnessCode + len(a) + len(b))
							}
							binary.LittleEndian.PutUint32(b[len(b)-4:], disp)
						}
						if fi == 6 {
							// [disp32] or [rip+disp32]: harnessData+0x20.
							disp := uint32(harnessData + 0x20)
							if mode == mode64 {
								disp -= uint32(harnessCode + len(a))
							}
							binary.LittleEndian.PutUint32(a[len(a)-4:], disp)
						}
						code := append(a, b...)
						for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
							if in.nret == 2 {
								formed++
							}
						}
						for _, rsi := range memPairAddrs(mode) {
							for _, rdi := range memPairAddrs(mode) {
								var g [16]uint64
								g[arch.RSI], g[arch.RDI], g[arch.RBX] = rsi, rdi, 1
								g[arch.RCX], g[arch.RDX], g[arch.RAX] = 0x1111_2222_3333_4444, 0x5555_6666_7777_8888, 0x9999
								// The first word of the data page points
								// into it (a base the first may load).
								fill := func() {
									for i := range h.data() {
										h.data()[i] = byte(i*37 + 11)
									}
									binary.LittleEndian.PutUint64(h.data(), harnessData+0x40)
								}
								runMemPair(t, h, code, g, fill)
							}
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 40, "load-load pairs formed")
}

// TestStoreStorePairs checks store-store pairs (exec_pair.go
// storeStorePairable: MOV m,r then MOV [base+disp],r of the same size,
// one entry) through Run's fast path, whole blocks, against one
// instruction at a time: each address of either half on the data page,
// across its end, not present or MMIO, non-canonical, on the code's own
// page (a stop after the store) and, for the first, over the second
// store itself (which must then run as rewritten: NOPs), both halves to
// the same address; 8-bit stores from high-byte registers. Second stores
// with an index, RIP-relative or of another size are not paired but must
// run the same. It requires the pairs to be formed.
func TestStoreStorePairs(t *testing.T) {
	firsts := [][]byte{
		{0x89, 0x0E},             // mov [esi], ecx
		{0x89, 0x4E, 0x08},       // mov [esi+8], ecx
		{0x89, 0x0C, 0x9E},       // mov [esi+ebx*4], ecx
		{0x88, 0x2E},             // mov [esi], ch (bpl with a REX prefix)
		{0x66, 0x89, 0x0E},       // mov [esi], cx
		{0x89, 0x0D, 0, 0, 0, 0}, // mov [disp32] / [rip+disp32], ecx
	}
	seconds := [][]byte{
		{0x89, 0x57, 0x08},       // mov [edi+8], edx
		{0x89, 0x17},             // mov [edi], edx
		{0x89, 0x4F, 0xFC},       // mov [edi-4], ecx
		{0x88, 0x77, 0x01},       // mov [edi+1], dh (sil with a REX prefix)
		{0x66, 0x89, 0x57, 0x02}, // mov [edi+2], dx
		{0x89, 0x14, 0x9F},       // mov [edi+ebx*4], edx: an index, not paired
		{0x89, 0x15, 0, 0, 0, 0}, // mov [disp32] / [rip+disp32], edx: not paired
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48}, []byte{0x4C})
		}
		for fi, f := range firsts {
			for si, s := range seconds {
				for _, p1 := range pfx {
					for _, p2 := range pfx {
						a := append([]byte{}, f...)
						if p1 != nil {
							if a = prefixEach(a, p1); a == nil {
								continue
							}
						}
						b := append([]byte{}, s...)
						if p2 != nil {
							if b = prefixEach(b, p2); b == nil {
								continue
							}
						}
						if fi == 5 {
							// [disp32] or [rip+disp32]: harnessData+0x20.
							disp := uint32(harnessData + 0x20)
							if mode == mode64 {
								disp -= uint32(harnessCode + len(a))
							}
							binary.LittleEndian.PutUint32(a[len(a)-4:], disp)
						}
						if si == 6 {
							// harnessData+0x10.
							disp := uint32(harnessData + 0x10)
							if mode == mode64 {
								disp -= uint32(harnessCode + len(a) + len(b))
							}
							binary.LittleEndian.PutUint32(b[len(b)-4:], disp)
						}
						code := append(a, b...)
						for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
							if in.nret == 2 {
								formed++
							}
						}
						code1 := append(memPairAddrs(mode), harnessCode+0x800, harnessCode+uint64(len(a)))
						code2 := append(memPairAddrs(mode), harnessCode+0x800)
						for _, rsi := range code1 {
							for _, rdi := range code2 {
								var g [16]uint64
								g[arch.RSI], g[arch.RDI], g[arch.RBX] = rsi, rdi, 1
								// RCX, RBP, R9, R13 (the first's sources):
								// NOPs wherever they land on the code;
								// what follows them of a partly rewritten
								// second store may use RAX as an address
								// (into the data page) and the stack.
								g[arch.RCX], g[arch.RDX], g[arch.RAX] = 0x9090_9090_9090_9090, 0x5555_6666_7777_8888, harnessData+0x100
								g[arch.RBP], g[arch.R9], g[arch.R13] = g[arch.RCX], g[arch.RCX], g[arch.RCX]
								fill := func() {
									for i := range h.data() {
										h.data()[i] = byte(i*37 + 11)
									}
									clear(h.bus.ram[0x7000:0x9000])
								}
								runMemPair(t, h, code, g, fill)
							}
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 40, "store-store pairs formed")
}

// TestMemCmpJcc checks CMP m,imm + Jcc entries (exec_fused.go
// fuseMemCmp) through Run's fast path, whole blocks, against one
// instruction at a time: CMP of 8 to 64 bits (imm8 sign-extended, imm32,
// an index, [disp32] and RIP-relative) at addresses on the data page,
// across its end, not present or MMIO and non-canonical, values whose
// bytes differ, every condition, Jcc rel8 and rel32 forward over a HLT
// (side exits) and rel8 back to the CMP (a loop, the block's end). CMP
// r/m,r and TEST m,imm are not fused but must run the same. It requires
// the entries to be formed.
func TestMemCmpJcc(t *testing.T) {
	cmps := [][]byte{
		{0x80, 0x3E, 0x00},                         // cmp byte [esi], 0
		{0x80, 0x7E, 0x08, 0x80},                   // cmp byte [esi+8], 0x80
		{0x83, 0x3E, 0xFF},                         // cmp dword [esi], -1
		{0x81, 0x3E, 0x00, 0x00, 0x00, 0x80},       // cmp dword [esi], 0x80000000
		{0x66, 0x83, 0x3E, 0x01},                   // cmp word [esi], 1
		{0x80, 0x3C, 0x9E, 0x05},                   // cmp byte [esi+ebx*4], 5
		{0x80, 0x3D, 0, 0, 0, 0, 0x7F},             // cmp byte [disp32] / [rip+disp32], 0x7f
		{0x38, 0x06},                               // cmp [esi], al: not fused
		{0xF6, 0x06, 0x01},                         // test byte [esi], 1: not fused
		{0x48, 0x83, 0x3E, 0xFF},                   // cmp qword [rsi], -1 (dword without REX.W outside 64-bit mode: dec eax first)
		{0x48, 0x81, 0x3E, 0x00, 0x00, 0x00, 0x80}, // cmp qword [rsi], -0x80000000
	}
	vals := []uint64{0, 1, 0x7F, 0x80, 0xFF, 0x8000_0000, 0xFFFF_FFFF, 0x8000_0000_0000_0000, ^uint64(0), 0x0123_4567_89AB_CDEF}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		for ci, cm := range cmps {
			if ci >= 9 && mode != mode64 {
				continue
			}
			for cc := byte(0); cc < 16; cc++ {
				for jf := 0; jf < 3; jf++ {
					a := append([]byte{}, cm...)
					var j []byte
					switch jf {
					case 0:
						j = []byte{0x70 + cc, 1}
					case 1:
						j = []byte{0x0F, 0x80 + cc, 1, 0, 0, 0}
					case 2:
						j = []byte{0x70 + cc, byte(-(len(a) + 2))}
					}
					if ci == 6 {
						// [disp32] or [rip+disp32]: harnessData+0x10.
						disp := uint32(harnessData + 0x10)
						if mode == mode64 {
							disp -= uint32(harnessCode + len(a))
						}
						binary.LittleEndian.PutUint32(a[2:], disp)
					}
					// The Jcc forward over the code's HLT to the one after
					// it (harness stepN): side exits.
					code := append(append(a, j...), 0xF4)
					for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
						if in.nret == 2 {
							formed++
						}
					}
					for _, rsi := range memPairAddrs(mode) {
						for vi, v := range vals {
							if rsi != harnessData && vi > 1 {
								continue
							}
							var g [16]uint64
							g[arch.RSI], g[arch.RBX], g[arch.RAX] = rsi, 1, 0x80
							fill := func() {
								for i := 0; i+8 <= len(h.data()); i += 8 {
									binary.LittleEndian.PutUint64(h.data()[i:], v)
								}
							}
							runMemPair(t, h, code, g, fill)
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 500, "CMP m,imm + Jcc entries formed")
}

// TestLoadMovPairs checks load-move pairs (exec_pair.go loadMovPairable:
// MOV r,m of 32 or 64 bits then MOV r,r, MOV r,imm or LEA r,[base+disp],
// one entry) through Run's fast path, whole blocks, against one
// instruction at a time: loads on the data page, across its end, not
// present or MMIO and non-canonical (the move must then not run); moves
// that read, overwrite or ignore the loaded register, 32-bit writes
// zero-extended. 16-bit and 8-bit loads and LEA with an index are not
// paired but must run the same. It requires the pairs to be formed.
func TestLoadMovPairs(t *testing.T) {
	loads := [][]byte{
		{0x8B, 0x0E},             // mov ecx, [esi]
		{0x8B, 0x46, 0x08},       // mov eax, [esi+8]
		{0x8B, 0x0C, 0x9E},       // mov ecx, [esi+ebx*4]
		{0x8B, 0x0D, 0, 0, 0, 0}, // mov ecx, [disp32] / [rip+disp32]
		{0x66, 0x8B, 0x0E},       // mov cx, [esi]: not paired
		{0x8A, 0x0E},             // mov cl, [esi]: not paired
	}
	moves := [][]byte{
		{0x89, 0xCA},                         // mov edx, ecx (the loaded register)
		{0x8B, 0xD0},                         // mov edx, eax
		{0x89, 0xD1},                         // mov ecx, edx (over the loaded register)
		{0xBA, 0x78, 0x56, 0x34, 0x12},       // mov edx, 0x12345678
		{0xC7, 0xC1, 0xFF, 0xFF, 0xFF, 0xFF}, // mov ecx, -1 (C7 /0)
		{0x8D, 0x51, 0xFC},                   // lea edx, [ecx-4]
		{0x8D, 0x14, 0x99},                   // lea edx, [ecx+ebx*4]: not paired
	}
	formed := 0
	for _, mode := range []uint8{mode32, mode64} {
		h := newHarness(mode)
		pfx := [][]byte{nil}
		if mode == mode64 {
			pfx = append(pfx, []byte{0x48}, []byte{0x4C})
		}
		for li, l := range loads {
			for _, m := range moves {
				for _, p1 := range pfx {
					for _, p2 := range pfx {
						a := append([]byte{}, l...)
						if p1 != nil {
							if a = prefixEach(a, p1); a == nil {
								continue
							}
						}
						if p2 != nil && m[0] == 0xBA {
							continue // REX.W B8+r: an imm64, another instruction
						}
						b := append([]byte{}, m...)
						if p2 != nil {
							if b = prefixEach(b, p2); b == nil {
								continue
							}
						}
						if li == 3 {
							// [disp32] or [rip+disp32]: harnessData+0x20.
							disp := uint32(harnessData + 0x20)
							if mode == mode64 {
								disp -= uint32(harnessCode + len(a))
							}
							binary.LittleEndian.PutUint32(a[len(a)-4:], disp)
						}
						code := append(a, b...)
						for _, in := range h.c.fastInsts(decodeAll(t, h.c, code)) {
							if in.nret == 2 {
								formed++
							}
						}
						for _, rsi := range memPairAddrs(mode) {
							var g [16]uint64
							g[arch.RSI], g[arch.RBX] = rsi, 1
							g[arch.RCX], g[arch.RDX], g[arch.RAX] = 0x1111_2222_3333_4444, 0x5555_6666_7777_8888, 0x9999_AAAA_BBBB_CCCC
							g[arch.R9], g[arch.R10], g[arch.R8] = 0x0102_0304_0506_0708, 0xF0E0_D0C0_B0A0_9080, 0x7F
							fill := func() {
								for i := range h.data() {
									h.data()[i] = byte(i*37 + 11)
								}
							}
							runMemPair(t, h, code, g, fill)
						}
					}
				}
			}
		}
	}
	require.Greater(t, formed, 60, "load-move pairs formed")
}

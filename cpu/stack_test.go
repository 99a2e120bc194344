package cpu

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// TestStackFastSelected: the stack fast paths (exec_stack.go) are installed
// for exactly the forms they handle, so that TestStackFastPaths compares
// them and not the generic handlers with themselves.
func TestStackFastSelected(t *testing.T) {
	tb := buildTables()
	for _, tc := range []struct {
		mode uint8
		code []byte
		want bool
	}{
		{mode64, []byte{0x50}, true},                                // push rax
		{mode64, []byte{0x41, 0x57}, true},                          // push r15
		{mode64, []byte{0x48, 0x53}, true},                          // REX.W push rbx
		{mode64, []byte{0x5D}, true},                                // pop rbp
		{mode64, []byte{0x41, 0x5C}, true},                          // pop r12
		{mode64, []byte{0xE8, 0, 0, 0, 0}, true},                    // call rel32
		{mode64, []byte{0xC3}, true},                                // ret
		{mode64, []byte{0xC2, 8, 0}, true},                          // ret 8
		{mode64, []byte{0x66, 0x50}, false},                         // push ax
		{mode64, []byte{0x66, 0x58}, false},                         // pop ax
		{mode64, []byte{0x66, 0xC3}, true},                          // ret: 66 ignored (fForce64)
		{mode64, []byte{0xF0, 0x50}, false},                         // lock push: #UD
		{mode64, []byte{0x6A, 1}, false},                            // push imm8
		{mode32, []byte{0x50}, true},                                // push eax
		{mode32, []byte{0x5F}, true},                                // pop edi
		{mode32, []byte{0xE8, 0, 0, 0, 0}, true},                    // call rel32
		{mode32, []byte{0xC3}, true},                                // ret
		{mode32, []byte{0xC2, 4, 0}, true},                          // ret 4
		{mode32, []byte{0x66, 0x50}, false},                         // push ax
		{mode32, []byte{0x66, 0xE8, 0, 0}, false},                   // call rel16
		{mode16, []byte{0x50}, false},                               // push ax
		{mode16, []byte{0x66, 0x50}, false},                         // push eax in 16-bit code
		{mode16, []byte{0x66, 0xE8, 0, 0, 0, 0}, false},             // call rel32 in 16-bit code
		{mode64, []byte{0xFF, 0xD0}, false},                         // call rax
		{mode32, []byte{0x8F, 0xC0}, false},                         // pop eax (8F /0)
		{mode64, []byte{0x48, 0xFF, 0x34, 0x24}, false},             // push [rsp]
		{mode32, []byte{0x9C}, false},                               // pushfd
		{mode64, []byte{0xC9}, false},                               // leave
		{mode32, []byte{0xC8, 8, 0, 0}, false},                      // enter
		{mode64, []byte{0x0F, 0xA0}, false},                         // push fs
		{mode64, []byte{0xE9, 0, 0, 0, 0}, false},                   // jmp rel32
		{mode32, []byte{0xCB}, false},                               // retf
		{mode64, []byte{0x48, 0xB8, 1, 2, 3, 4, 5, 6, 7, 8}, false}, // mov rax, imm64
	} {
		var in Inst
		require.True(t, tb.decode(tc.code, tc.mode, &in), "% x", tc.code)
		in.nret = 1
		assert.Equal(t, tc.want, stackFast(&in, tc.mode) != nil, "mode %d % x", tc.mode, tc.code)
	}
}

// Test machine for TestStackFastPaths: 4 MiB of RAM, 4-KiB pages, of
// which some are special, and (64-bit) two pages at the top of the lower
// canonical half.
const (
	stkNotPresent = 0x40000 // not present
	stkReadOnly   = 0x41000 // R/W=0 (CR0.WP=1)
	stkClean      = 0x43000 // D=0
	stkCode       = 0x10000
	stkTop        = 0x7FFF_FFFF_E000 // 64-bit: two pages up to the canonical end
	stkHighCode   = 0x7FFF_FFFF_D000 // 64-bit: the code page mapped here too
	stkRAM        = 0x80000          // above: no RAM (reads as all ones)
)

type stackCase struct {
	mode uint8
	cs   arch.Segment
	ss   arch.Segment
	rsp  uint64
	code []byte
	base uint64 // linear address of the code
	warm []uint64
	rf   bool // RFLAGS.RF=1 at the start
}

// stackRAM builds the RAM and paging structures for mode.
func stackRAM(mode uint8) []byte {
	ram := make([]byte, stkRAM)
	pte := func(pa uint64) uint64 {
		switch pa {
		case stkNotPresent:
			return pa | 0x60 // A, D, P=0
		case stkReadOnly:
			return pa | 0x61 // P, R/W=0
		case stkClean:
			return pa | 0x23 // P, R/W, A, D=0
		}
		return pa | 0x63
	}
	if mode == mode64 {
		put := func(a, v uint64) { binary.LittleEndian.PutUint64(ram[a:], v) }
		put(0x1000, 0x2000|3)   // PML4[0]
		put(0x2000, 0x3000|3)   // PDPT[0]
		put(0x3000, 0x4000|3)   // PD[0]: 4-KiB pages
		put(0x3008, 2<<20|0x83) // PD[1]: 2 MiB
		for i := uint64(0); i < 512; i++ {
			put(0x4000+8*i, pte(i<<12))
		}
		put(0x1000+8*255, 0x5000|3) // PML4[255]
		put(0x5000+8*511, 0x6000|3) // PDPT[511]
		put(0x6000+8*511, 0x7000|3) // PD[511]
		put(0x7000+8*509, stkCode|0x63)
		put(0x7000+8*510, 0x30000|0x63)
		put(0x7000+8*511, 0x31000|0x63)
		return ram
	}
	put := func(a, v uint64) { binary.LittleEndian.PutUint32(ram[a:], uint32(v)) }
	put(0x1000, 0x2000|3) // PD[0]
	for i := uint64(0); i < 1024; i++ {
		put(0x2000+4*i, pte(i<<12))
	}
	return ram
}

// runStack runs tc's program and returns the state, the first exception
// (nil for none), the instructions retired and the RAM.
func runStack(tc *stackCase, ram0 []byte, split bool) (arch.State, *arch.Fault, uint64, []byte) {
	bus := &harnessBus{ram: append([]byte(nil), ram0...)}
	copy(bus.ram[stkCode:], tc.code)
	bus.ram[stkCode+len(tc.code)] = 0xF4
	var s arch.State
	s.RFLAGS = arch.FlagRes1
	s.CR0 = arch.CR0PE | arch.CR0ET | arch.CR0PG | arch.CR0WP
	s.CR3 = 0x1000
	if tc.mode == mode64 {
		s.CR4 = arch.CR4PAE
		s.EFER = arch.EFERLME | arch.EFERLMA
	}
	s.Seg[arch.CS] = tc.cs
	for _, i := range []int{arch.DS, arch.ES, arch.FS, arch.GS} {
		s.Seg[i] = arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	}
	s.Seg[arch.SS] = tc.ss
	s.GPR = [16]uint64{0x1111, 0x2222_0000_0000_2222, 3, 4, 0, 0x6666, 7, 8, 9, 10, 11, 12, 13, 14, 15, 0xF0F0_F0F0_F0F0_F0F0}
	s.GPR[arch.RSP] = tc.rsp
	s.RIP = tc.base
	if tc.rf {
		s.RFLAGS |= arch.FlagRF
	}
	if split {
		// An enabled instruction breakpoint (DR7.L0, R/W0=00) at an
		// address nothing executes: Run then takes every instruction
		// alone through block.insts (runDebug), the last of a block
		// too, which Run(1) alone would run from a one-instruction
		// block's fast list.
		s.DR[0], s.DR[7] = 0xFFFF_FFFF_FFFF_F000, 1|0x400
	}
	var fault *arch.Fault
	c := New(Config{Bus: bus, Platform: harnessPlatform{}}, s)
	c.Hooks = &Hooks{Exception: func(c *CPU, vec uint8, f *arch.Fault, ext bool) {
		if fault == nil {
			fc := *f
			fault = &fc
		}
	}}
	for _, lin := range tc.warm {
		// Read and write TLB entries for the stack pages, so that the
		// fast paths meet their edge cases at once (fills that fault
		// leave no entry; the fault is dropped).
		c.fill(lin, accRead)
		c.fill(lin, accWrite)
		c.faultPending, c.stop = false, false
	}
	const limit = 4000
	if split {
		for i := 0; i < limit && !c.halted && !c.IsShutdown(); i++ {
			c.Run(1)
		}
	} else {
		c.Run(limit)
	}
	st := c.GetState()
	st.DR[0], st.DR[7] = 0, 0
	return st, fault, c.Icount, bus.ram
}

// stackProgram is a random program of stack instructions for tc.mode,
// its code at linear base.
func stackProgram(r *rand.Rand, mode uint8, base uint64, csLimitSmall bool, sps []uint64) []byte {
	var p []byte
	n := 10 + r.Intn(40)
	for k := 0; k < n; k++ {
		reg := byte(r.Intn(8))
		switch x := r.Intn(20); {
		case x < 6: // push r
			if mode == mode64 && r.Intn(2) == 0 {
				p = append(p, 0x41+byte(r.Intn(2))*7) // REX.B or REX.WB
			} else if r.Intn(8) == 0 {
				p = append(p, 0x66)
			}
			p = append(p, 0x50+reg)
		case x < 11: // pop r, rarely rSP
			if reg == 4 && r.Intn(4) != 0 {
				reg = 3
			}
			if mode == mode64 && r.Intn(2) == 0 {
				p = append(p, 0x41)
			} else if r.Intn(8) == 0 {
				p = append(p, 0x66)
			}
			p = append(p, 0x58+reg)
		case x < 14: // call the next instruction
			p = append(p, 0xE8, 0, 0, 0, 0)
		case x < 17: // push the address after the RET, RET (imm16)
			imm := r.Intn(3) * 8
			retLen := 1
			if imm != 0 {
				retLen = 3
			}
			if mode == mode64 {
				t := base + uint64(len(p)) + 10 + 1 + uint64(retLen)
				if r.Intn(12) == 0 {
					t = 0x0000_8000_0000_0000 + uint64(r.Intn(4096)) // not canonical
				}
				p = append(p, 0x48, 0xB8)
				p = binary.LittleEndian.AppendUint64(p, t)
				p = append(p, 0x50)
			} else {
				t := base + uint64(len(p)) + 5 + uint64(retLen)
				if csLimitSmall && r.Intn(8) == 0 {
					t = 0x30000 // beyond CS.limit
				}
				p = append(p, 0x68)
				p = binary.LittleEndian.AppendUint32(p, uint32(t))
			}
			if imm != 0 {
				p = append(p, 0xC2, byte(imm), 0)
			} else {
				p = append(p, 0xC3)
			}
		case x < 18: // a call far away: beyond CS.limit or not canonical
			if (mode == mode64 && base == stkHighCode || csLimitSmall) && r.Intn(4) == 0 {
				p = append(p, 0xE8)
				p = binary.LittleEndian.AppendUint32(p, 0x20000)
			}
		default: // a new stack pointer
			sp := sps[r.Intn(len(sps))]
			if mode == mode64 {
				p = append(p, 0x48, 0xBC)
				p = binary.LittleEndian.AppendUint64(p, sp)
			} else {
				p = append(p, 0xBC)
				p = binary.LittleEndian.AppendUint32(p, uint32(sp))
			}
		}
	}
	return p
}

// TestStackFastPaths runs random programs of PUSH r, POP r, CALL rel32,
// RET and RET imm16 (16-, 32- and 64-bit operand sizes) twice: in whole
// blocks (Run's fast path, with the stack fast paths) and one instruction
// at a time (block.insts, the generic handlers: runStack's split run). State, first
// exception with its error code, instruction count and RAM must agree.
// The stack pointers cross pages, the canonical end (64-bit), the SS
// limit and 2^32 (32-bit); pages are not present, read-only or clean
// (D=0); 32-bit stacks include SS.B=0, an SS base, an expand-down SS and
// a small CS limit.
func TestStackFastPaths(t *testing.T) {
	flatCode := arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARDB | arch.ARG}
	code64 := arch.Segment{Selector: 8, Limit: 0xFFFFFFFF, Attr: attrCode | arch.ARL | arch.ARG}
	flatSS := arch.Segment{Selector: 0x10, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}
	near := func(a uint64) []uint64 {
		return []uint64{a - 9, a - 8, a - 5, a - 4, a - 3, a - 2, a - 1, a, a + 1, a + 2, a + 3, a + 4, a + 7, a + 8, a + 9}
	}
	var sps64 []uint64
	for _, a := range []uint64{0x8000, 0x44000, stkNotPresent, stkNotPresent + 0x1000, stkNotPresent + 0x10, stkReadOnly + 0x10, stkReadOnly + 0x1000,
		stkClean + 0x20, stkClean + 0x1000, 0x8000_0000_0000, 0x7FFF_FFFF_F000, 0x1_0000_0000, 0xFFFF_8000_0000_0000 + 8, 0, 16} {
		sps64 = append(sps64, near(a)...)
	}
	var sps32 []uint64
	for _, a := range []uint64{0x8000, 0x44000, stkNotPresent, stkNotPresent + 0x1000, stkNotPresent + 0x10, stkReadOnly + 0x10, stkReadOnly + 0x1000,
		stkClean + 0x20, stkClean + 0x1000, 0x45000, 0x10000, 0x1_0000_8000, 0, 8} {
		sps32 = append(sps32, near(a)...)
	}
	type config struct {
		name     string
		mode     uint8
		cs, ss   arch.Segment
		base     uint64
		sps      []uint64
		csLimSml bool
	}
	smallCS := flatCode
	smallCS.Limit = 0x1FFFF
	configs := []config{
		{"64", mode64, code64, flatSS, stkCode, sps64, false},
		{"64 high code", mode64, code64, arch.Segment{Attr: arch.ARUnusable}, stkHighCode, sps64, false},
		{"32 flat", mode32, flatCode, flatSS, stkCode, sps32, false},
		{"32 CS limit", mode32, smallCS, flatSS, stkCode, sps32, true},
		{"32 SS limit", mode32, flatCode, arch.Segment{Selector: 0x10, Limit: 0x44FFF, Attr: attrData | arch.ARDB}, stkCode, sps32, false},
		{"32 SS base", mode32, flatCode, arch.Segment{Selector: 0x10, Base: 0xFFFF_F000, Limit: 0xFFFFFFFF, Attr: attrData | arch.ARDB | arch.ARG}, stkCode, sps32, false},
		{"32 SS.B=0", mode32, flatCode, arch.Segment{Selector: 0x10, Base: 0x38000, Limit: 0xFFFF, Attr: attrData}, stkCode, sps32, false},
		{"32 SS expand-down", mode32, flatCode, arch.Segment{Selector: 0x10, Limit: 0x7FFF, Attr: attrData | arch.ARExpandDown | arch.ARDB}, stkCode, sps32, false},
	}
	r := rand.New(rand.NewSource(18))
	for _, cf := range configs {
		ram := stackRAM(cf.mode)
		fast := 0
		for i := 0; i < 300; i++ {
			tc := &stackCase{mode: cf.mode, cs: cf.cs, ss: cf.ss, base: cf.base, rsp: cf.sps[r.Intn(len(cf.sps))]}
			if r.Intn(2) == 0 {
				tc.rsp = cf.sps[r.Intn(15)] // 0x8000 and around: a usable stack
			}
			if cf.mode == mode32 && r.Intn(4) == 0 {
				tc.rsp |= 0xDEAD_0000_0000_0000 // bits 63:32 are kept
			}
			tc.code = stackProgram(r, cf.mode, cf.base, cf.csLimSml, cf.sps)
			if r.Intn(4) != 0 {
				for _, sp := range cf.sps {
					for _, lin := range []uint64{sp - 16, sp + 16} {
						if cf.mode != mode64 {
							lin = (cf.ss.Base + lin&0xFFFFFFFF) & 0xFFFFFFFF
						}
						if canonical48(lin) {
							tc.warm = append(tc.warm, lin)
						}
					}
				}
			}
			ws, wf, wn, wram := runStack(tc, ram, false)
			ss, sf, sn, sram := runStack(tc, ram, true)
			name := fmt.Sprintf("%s #%d rsp %#x code % x", cf.name, i, tc.rsp, tc.code)
			require.Equal(t, ss, ws, name)
			require.Equal(t, sf, wf, name)
			require.Equal(t, sn, wn, name)
			require.True(t, bytes.Equal(sram, wram), "%s: RAM differs", name)
			if wf == nil {
				fast++
			}
		}
		// Not every program faults: many run to their HLT.
		assert.Greater(t, fast, 15, cf.name)
	}
}

// TestStackRunSelected: which instruction sequences fold into stack run
// entries (exec_stackrun.go), as the numbers of instructions of the fast
// list's entries: compiled prologues and epilogues whole, the forms kept
// out (PUSH/POP rSP, 16-bit operand size, a 32-bit MOV from ESP, 32-bit
// code) alone, and no run longer than maxStackRun.
func TestStackRunSelected(t *testing.T) {
	tb := buildTables()
	rep := func(b []byte, n int) []byte { return bytes.Repeat(b, n) }
	cat := func(bs ...[]byte) []byte { return bytes.Join(bs, nil) }
	for _, tc := range []struct {
		name string
		mode uint8
		code []byte
		want []int
	}{
		{"prologue", mode64, cat([]byte{0x55, 0x48, 0x89, 0xE5, 0x41, 0x57, 0x41, 0x56, 0x41, 0x55, 0x41, 0x54, 0x53, 0x48, 0x83, 0xEC, 0x08}), []int{8}},
		{"prologue sub imm32", mode64, cat([]byte{0x55, 0x48, 0x89, 0xE5, 0x41, 0x55, 0x41, 0x54, 0x53, 0x48, 0x81, 0xEC, 0x48, 0x02, 0, 0}), []int{6}},
		{"epilogue", mode64, cat([]byte{0x48, 0x83, 0xC4, 0x08, 0x5B, 0x41, 0x5C, 0x41, 0x5D, 0x41, 0x5E, 0x41, 0x5F, 0x5D, 0xC3}), []int{8}},
		{"pops and ret", mode64, []byte{0x5B, 0x41, 0x5C, 0x5D, 0xC3}, []int{4}},
		{"pop and ret imm16", mode64, []byte{0x5D, 0xC2, 0x10, 0x00}, []int{2}},
		{"add and pop", mode64, []byte{0x48, 0x83, 0xC4, 0x10, 0x58}, []int{2}},
		{"add and ret", mode64, []byte{0x48, 0x83, 0xC4, 0x10, 0xC3}, []int{1, 1}},
		{"sub and pop", mode64, []byte{0x48, 0x83, 0xEC, 0x10, 0x58}, []int{1, 1}},
		{"push and add", mode64, []byte{0x50, 0x48, 0x83, 0xC4, 0x08}, []int{1, 1}},
		{"push and sub", mode64, []byte{0x50, 0x48, 0x83, 0xEC, 0x08}, []int{2}},
		{"push alone", mode64, []byte{0x50}, []int{1}},
		{"push rsp", mode64, []byte{0x50, 0x54, 0x53}, []int{1, 1, 1}},
		{"pop rsp", mode64, []byte{0x58, 0x5C}, []int{1, 1}},
		{"push ax", mode64, []byte{0x66, 0x50, 0x53}, []int{1, 1}},
		{"push then pop", mode64, []byte{0x50, 0x5B}, []int{1, 1}},
		{"nine pushes", mode64, rep([]byte{0x50}, 9), []int{8, 1}},
		{"mov ebp, esp", mode64, []byte{0x55, 0x89, 0xE5, 0x53}, []int{1, 1, 1}},
		{"mov rbp, rsp (8B)", mode64, []byte{0x55, 0x48, 0x8B, 0xEC, 0x53}, []int{3}},
		{"mov rsp, rbp", mode64, []byte{0x55, 0x48, 0x89, 0xEC, 0x53}, []int{1, 1, 1}},
		{"32-bit code", mode32, []byte{0x55, 0x89, 0xE5, 0x53, 0x5B, 0x5D, 0xC3}, []int{1, 1, 1, 1, 1, 1}},
	} {
		var insts []Inst
		for pos := 0; pos < len(tc.code); {
			var in Inst
			require.True(t, tb.decode(tc.code[pos:], tc.mode, &in), tc.name)
			insts = append(insts, in)
			pos += int(in.len)
		}
		for i := range insts {
			insts[i].pre, insts[i].nret = uint8(i), 1
		}
		var got []int
		for _, f := range stackFastInsts(insts, insts, tc.mode) {
			got = append(got, int(f.nret))
		}
		assert.Equal(t, tc.want, got, tc.name)
	}
}

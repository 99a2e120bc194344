package cpu_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math/rand"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// Stack pages of TestStackRuns (identity-mapped by newMachine's 4-KiB
// pages, user and writable unless changed here).
const (
	srPage        = 0x100000 // user, writable
	srNotPresent  = 0x101000 // P=0
	srReadOnly    = 0x102000 // R/W=0 (CR0.WP=1)
	srSuper       = 0x103000 // U/S=0
	srUser2       = 0x104000 // user, writable
	srHighPDPT    = 0x16000  // PML4[255]: the last page below the canonical hole
	srHighPD      = 0x17000
	srHighPT      = 0x18000
	srHighPage    = 0x105000 // what 0x7FFF_FFFF_F000 maps
	srCanonEnd    = 0x0000_8000_0000_0000
	srUpperCanon  = 0xFFFF_8000_0000_0000 // PML4[256]: the identity map again
	srPhysHalt    = 0x21000               // a HLT the RETs may reach by mistake
	srCodeLimit   = 0x1000                // bytes of code the program may use
	srFaultRecord = 8                     // exceptions recorded per run
)

// srFault is one exception as the Exception hook saw it.
type srFault struct {
	Vec    uint8
	Code   uint32
	HasErr bool
	RIP    uint64
	CR2    uint64
}

// srConfig is one privilege/protection setting of TestStackRuns.
type srConfig struct {
	name string
	cpl3 bool
	smap bool
	ac   bool
}

// newStackRunMachine builds a long-mode machine for TestStackRuns: the
// special stack pages above, the canonical ends mapped, every gate on IST1
// (so that a fault's frame does not go to the stack that faulted), and
// cf's privilege level and SMAP/AC.
func newStackRunMachine(t *testing.T, cf srConfig, code []byte, rsp uint64, split bool) (*machine, *[]srFault) {
	m := newMachine(t, modeLong64, 0)
	for v := 0; v < 256; v++ {
		lo, hi := gate64(selCode64, uint64(physStubs+v*stubSize), 0xE, 0, 1)
		m.setGate64(uint8(v), lo, hi)
	}
	m.w64(pteAddr(srNotPresent), srNotPresent|pteRW|pteUS)
	m.w64(pteAddr(srReadOnly), srReadOnly|pteP|pteUS)
	m.w64(pteAddr(srSuper), srSuper|pteP|pteRW)
	// The supervisor's own pages (tables, stubs, IST stack) stay
	// reachable under SMAP: supervisor pages.
	for _, pa := range []uint64{physGDT, physIDT, physTSS32, physStubs, physStackIST - 0x1000, physStack0 - 0x1000} {
		m.w64(pteAddr(pa), pa|pteP|pteRW)
	}
	m.w64(physPML4+255*8, srHighPDPT|pteP|pteRW|pteUS)
	m.w64(srHighPDPT+511*8, srHighPD|pteP|pteRW|pteUS)
	m.w64(srHighPD+511*8, srHighPT|pteP|pteRW|pteUS)
	m.w64(srHighPT+511*8, srHighPage|pteP|pteRW|pteUS)
	m.w64(physPML4+256*8, physPDPT|pteP|pteRW|pteUS)
	m.load(physCode, code)
	m.load(srPhysHalt, []byte{0xF4})
	for pa := uint64(srPage); pa < srUser2+0x2000; pa += 8 {
		m.w64(pa, pa*0x9E3779B97F4A7C15)
	}
	m.plat.ebx7 |= 1 << 20 // SMAP
	s := m.state()
	s.CR0 |= arch.CR0WP
	if cf.smap {
		s.CR4 |= arch.CR4SMAP
	}
	if cf.ac {
		s.RFLAGS |= arch.FlagAC
	}
	if cf.cpl3 {
		s.Seg[arch.CS] = segCache(selCode64U|3, 0, 0xFFFFF, accCode3, flgG64)
		for _, i := range []int{arch.SS, arch.DS, arch.ES} {
			s.Seg[i] = segCache(selData3|3, 0, 0xFFFFF, accData3, flgG32)
		}
	}
	for i := range s.GPR {
		s.GPR[i] = uint64(i+1) * 0x0101_0101_0101_0101
	}
	s.GPR[arch.RSP] = rsp
	if split {
		s.DR[0], s.DR[7] = 0xFFFF_FFFF_FFFF_F000, 1|0x400
	}
	m.set(s)
	faults := new([]srFault)
	m.c.Hooks = &cpu.Hooks{Exception: func(c *cpu.CPU, vec uint8, f *arch.Fault, ext bool) {
		if len(*faults) < srFaultRecord {
			st := c.GetState()
			*faults = append(*faults, srFault{Vec: vec, Code: f.Code, HasErr: f.HasError, RIP: st.RIP, CR2: f.Addr})
		}
	}}
	return m, faults
}

// srRSPs are the stack pointers the programs start with and switch to:
// around page boundaries, in the middle of pages, at the canonical ends
// and at 0 (pushes wrap to the top of the address space).
func srRSPs() []uint64 {
	var out []uint64
	for _, a := range []uint64{srPage + 0x800, srNotPresent, srNotPresent + 0x1000, srReadOnly, srReadOnly + 0x800, srReadOnly + 0x1000,
		srSuper, srSuper + 0x800, srSuper + 0x1000, srUser2, srUser2 + 0x1000, physCode + 0xF00, srCanonEnd, srCanonEnd - 0x800,
		srUpperCanon + srPage, srUpperCanon + 0x10, 0, 0x10} {
		for d := -72; d <= 72; d += 8 {
			out = append(out, a+uint64(int64(d)))
		}
		out = append(out, a-3, a+5)
	}
	return out
}

// srElem appends one PUSH or POP of register reg, in one of the
// encodings a compiler or an assembler may give it (REX.B, REX.W,
// redundant REX, a segment prefix), or rarely 16-bit (66) or of rSP.
func srElem(r *rand.Rand, p []byte, pop bool) []byte {
	reg := byte(r.Intn(16))
	if reg == 4 && r.Intn(3) != 0 {
		reg = 5
	}
	op := byte(0x50)
	if pop {
		op = 0x58
	}
	switch x := r.Intn(24); {
	case x == 0:
		p = append(p, 0x66) // 16-bit: not in a run
	case x == 1:
		p = append(p, 0x3E) // a segment prefix, ignored
	case x == 2:
		p = append(p, 0x40) // a REX prefix before the one that counts
	}
	if reg >= 8 || r.Intn(6) == 0 {
		rex := byte(0x40) | reg>>3
		if r.Intn(3) == 0 {
			rex |= 8 // REX.W: 64 bits still
		}
		p = append(p, rex)
	}
	return append(p, op+reg&7)
}

// srMovFromRSP appends a MOV r64,RSP ("mov rbp, rsp" mostly; 89 or
// 8B), rarely with a 32-bit operand size (not in a run).
func srMovFromRSP(r *rand.Rand, p []byte) []byte {
	dst := byte(5)
	if r.Intn(2) == 0 {
		dst = byte(r.Intn(16))
	}
	rex := byte(0x48)
	if r.Intn(8) == 0 {
		rex = 0x40
	}
	if r.Intn(2) == 0 {
		return append(p, rex|dst>>3, 0x89, 0xC0|4<<3|dst&7)
	}
	return append(p, rex|dst>>3<<2, 0x8B, 0xC0|(dst&7)<<3|4)
}

// srAdjust appends ADD (sub 0) or SUB (sub 5) RSP, imm: imm8 or imm32, a
// multiple of 8 mostly, negative at times.
func srAdjust(r *rand.Rand, p []byte, sub byte) []byte {
	v := int32(r.Intn(33)-8) * 8
	if r.Intn(6) == 0 {
		v = int32(r.Intn(4096) - 1024)
	}
	if r.Intn(10) == 0 {
		v = -0x8000_0000 // flags at the signed edge
	}
	if v >= -128 && v <= 127 && r.Intn(4) != 0 {
		return append(p, 0x48, 0x83, 0xC0|sub<<3|4, byte(v))
	}
	p = append(p, 0x48, 0x81, 0xC0|sub<<3|4)
	return binary.LittleEndian.AppendUint32(p, uint32(v))
}

// stackRunProgram is a random program of runs of 1-8 pushes, of pops
// (some followed by a RET to the next instruction, rarely to a
// non-canonical address, with or without imm16), new stack pointers and
// other instructions between them, at linear address base.
func stackRunProgram(r *rand.Rand, base uint64, sps []uint64) []byte {
	var p []byte
	for k, n := 0, 4+r.Intn(12); k < n; k++ {
		switch x := r.Intn(10); {
		case x < 3:
			for i, m := 0, 1+r.Intn(8); i < m; i++ {
				p = srElem(r, p, false)
				if r.Intn(5) == 0 {
					p = srMovFromRSP(r, p)
				}
			}
			if r.Intn(2) == 0 {
				p = srAdjust(r, p, 5) // sub rsp, imm
			}
		case x < 6:
			if r.Intn(2) == 0 {
				p = srAdjust(r, append(p, 0x90), 0) // nop; add rsp, imm
			}
			for i, m := 0, 1+r.Intn(8); i < m; i++ {
				p = srElem(r, p, true)
			}
			if r.Intn(4) == 0 {
				// Again from a new stack pointer, its page's read
				// entry filled by a first POP, and a RET to whatever
				// the stack holds (mostly not canonical), its slot
				// on the next page at times.
				sp := sps[r.Intn(len(sps))]
				for i := 0; i < 2; i++ {
					p = append(p, 0x48, 0xBC)
					p = binary.LittleEndian.AppendUint64(p, sp)
					p = append(p, 0x5E) // pop rsi
				}
				for i, m := 0, r.Intn(7); i < m; i++ {
					p = srElem(r, p, true)
				}
				return append(p, 0xC3)
			}
		case x < 8: // mov rax, target; push rax; push ...; pop ...; ret (imm16)
			m := 1 + r.Intn(7)
			var body []byte
			for i := 0; i < m; i++ {
				body = append(body, 0x41, 0x50+byte(r.Intn(8))) // push r8-r15
			}
			if r.Intn(2) == 0 {
				// A frame: sub rsp, d ... add rsp, d
				d := byte(8 * r.Intn(16))
				body = append(body, 0x48, 0x83, 0xEC, d, 0x90, 0x48, 0x83, 0xC4, d) // a NOP between: no ALU pair
			}
			for i := 0; i < m; i++ {
				body = append(body, 0x58+byte(r.Intn(4))) // pop rax..rbx
			}
			imm := r.Intn(3) * 8
			if imm != 0 {
				body = append(body, 0xC2, byte(imm), 0)
			} else {
				body = append(body, 0xC3)
			}
			t := base + uint64(len(p)) + 10 + 1 + uint64(len(body))
			switch r.Intn(16) {
			case 0:
				t = srCanonEnd + uint64(r.Intn(64)) // not canonical: #GP(0)
			case 1:
				t = srPhysHalt
			}
			p = append(p, 0x48, 0xB8)
			p = binary.LittleEndian.AppendUint64(p, t)
			p = append(p, 0x50)
			p = append(p, body...)
			if t == srPhysHalt {
				return p
			}
			p = append(p, 0x9C, 0x5A) // pushfq; pop rdx: the ADD's flags

		case x < 9: // a new stack pointer
			p = append(p, 0x48, 0xBC)
			p = binary.LittleEndian.AppendUint64(p, sps[r.Intn(len(sps))])
		case r.Intn(2) == 0: // the flags of an ADD or SUB in a run
			p = append(p, 0x9C, 0x5A) // pushfq; pop rdx
		default: // something else between the runs
			p = append(p, [][]byte{{0x48, 0x83, 0xC0, 0x01}, {0x31, 0xD1}, {0x4C, 0x89, 0xC3}, {0x48, 0x8B, 0x04, 0x24}}[r.Intn(4)]...)
		}
	}
	return p
}

// srResult is what TestStackRuns compares: the state (the breakpoint
// registers aside), the exceptions, the instructions retired and RAM.
type srResult struct {
	state  arch.State
	faults []srFault
	icount uint64
	ram    []byte
}

func runStackRun(t *testing.T, cf srConfig, code []byte, rsp uint64, split bool) srResult {
	m, faults := newStackRunMachine(t, cf, code, rsp, split)
	m.run(4000)
	st := m.state()
	st.DR[0], st.DR[7] = 0, 0
	return srResult{state: st, faults: *faults, icount: m.c.Icount, ram: m.bus.ram}
}

// TestStackRuns runs random programs of PUSH/POP runs (the stack run
// entries of exec_stackrun.go: lengths 1-8, random registers, POP runs
// with a RET after them) twice, in whole blocks and one instruction at a
// time (block.insts with the generic handlers: an instruction breakpoint
// nothing hits sends Run through runDebug), and requires the same state,
// exceptions (vector, error code, RIP, CR2), instruction count and RAM
// (the exception frames on the IST stack included). The stacks cross
// pages into not-present, read-only, supervisor pages (at CPL 3) and user
// pages (under SMAP at CPL 0, with RFLAGS.AC 0 and 1), code pages, the
// canonical ends (#SS on the k-th instruction, in both directions) and
// wrap through 0. The program runs its body twice, so that the second
// pass meets a TLB the first one filled.
func TestStackRuns(t *testing.T) {
	configs := []srConfig{
		{name: "cpl0"},
		{name: "cpl3", cpl3: true},
		{name: "cpl0 smap", smap: true},
		{name: "cpl0 smap ac", smap: true, ac: true},
		{name: "cpl3 smap", cpl3: true, smap: true},
	}
	sps := srRSPs()
	r := rand.New(rand.NewSource(12))
	for _, cf := range configs {
		clean, faulted, midFault := 0, 0, 0
		for i := 0; i < 250; i++ {
			rsp := sps[r.Intn(len(sps))]
			if r.Intn(2) == 0 {
				// A usable stack: a user page, or a supervisor one
				// (SMAP at CPL 0).
				rsp = []uint64{srPage, srSuper}[r.Intn(2)] + 0x800 + uint64(r.Intn(19)*8) - 72
			}
			body := stackRunProgram(r, physCode+10, sps)
			// The body twice: its second copy is at another address,
			// so its RETs' targets are recomputed for it.
			code := append([]byte{0x48, 0xBC}, binary.LittleEndian.AppendUint64(nil, rsp)...)
			code = append(code, body...)
			code = append(code, 0x48, 0xBC)
			code = binary.LittleEndian.AppendUint64(code, rsp)
			code = append(code, relocate(body, physCode+10, physCode+uint64(len(code)))...)
			code = append(code, 0xF4)
			require.Less(t, len(code), srCodeLimit)
			whole := runStackRun(t, cf, code, rsp, false)
			single := runStackRun(t, cf, code, rsp, true)
			name := fmt.Sprintf("%s #%d rsp %#x code % x", cf.name, i, rsp, code)
			require.Equal(t, single.state, whole.state, name)
			require.Equal(t, single.faults, whole.faults, name)
			require.Equal(t, single.icount, whole.icount, name)
			require.True(t, bytes.Equal(single.ram, whole.ram), "%s: RAM differs", name)
			end := physCode + uint64(len(code)) - 1 // the HLT: #GP(0) at CPL 3
			if len(whole.faults) == 0 || whole.faults[0].RIP == end || whole.faults[0].RIP == srPhysHalt {
				clean++
			} else {
				faulted++
				if f := whole.faults[0]; f.RIP > physCode+10 && f.RIP < physCode+uint64(len(code)) && code[f.RIP-physCode-1]&0xF0 == 0x50 {
					midFault++ // after a PUSH/POP: possibly in the middle of a run
				}
			}
		}
		// Both outcomes, and faults inside runs, are common.
		assert.Greater(t, clean, 10, cf.name)
		assert.Greater(t, faulted, 20, cf.name)
		assert.Greater(t, midFault, 5, cf.name)
	}
}

// relocate returns body, written for linear address from, for address to:
// the RET targets its MOV RAX, imm64 (48 B8) loaded that point into body
// move with it.
func relocate(body []byte, from, to uint64) []byte {
	out := append([]byte(nil), body...)
	for i := 0; i+10 <= len(out); i++ {
		if out[i] != 0x48 || out[i+1] != 0xB8 {
			continue
		}
		v := binary.LittleEndian.Uint64(out[i+2:])
		if v >= from && v < from+uint64(len(body))+1 {
			binary.LittleEndian.PutUint64(out[i+2:], v-from+to)
		}
		i += 9
	}
	return out
}

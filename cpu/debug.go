package cpu

import (
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// Debugger access: what the GDB stub needs beyond GetState/SetState and
// ReadLinear. None of these raise faults or run guest code, and none may be
// called while Run is executing on another goroutine.

// WriteLinear writes b to guest memory at a linear address for the
// debugger, through the current page tables but without faults, access
// rights checks or A/D updates (a debugger may write to read-only code
// pages, as it would on a real CPU through a JTAG probe). Decoded code in
// the written frames is invalidated. It writes nothing and returns false if
// some byte is not backed by RAM.
func (c *CPU) WriteLinear(lin uint64, b []byte) bool {
	// Translate every byte first, so that a failure writes nothing.
	var pages []*[4096]byte
	var pfns []uint64
	for i := 0; i < len(b); {
		a := lin + uint64(i)
		pa, ok := c.peekTranslate(a)
		if !ok {
			return false
		}
		pg, hfn, ok := c.physPage(pa, accPeek)
		if !ok || pg == nil {
			return false
		}
		pages = append(pages, pg)
		pfns = append(pfns, hfn)
		i += int(4096 - a&0xfff)
	}
	for i, n := 0, 0; i < len(b); n++ {
		a := lin + uint64(i)
		chunk := min(len(b)-i, int(4096-a&0xfff))
		copy(pages[n][a&0xfff:], b[i:i+chunk])
		c.code.written(c, pfns[n])
		i += chunk
	}
	// written sets the stop flag for a CPU running a block; this CPU is
	// not running.
	c.stop = false
	return true
}

// peekTranslate translates a linear address for the debugger (no faults,
// no A/D updates).
func (c *CPU) peekTranslate(lin uint64) (uint64, bool) {
	if c.CR0&arch.CR0PG == 0 {
		return lin, true
	}
	r := c.pagingRegs()
	r.PKRU, r.PKRS = 0, 0 // the debugger reads through protection keys
	tr, f := mmu.Walk(peekMem{c}, &r, lin, mmu.Access{Implicit: true})
	if f != nil || tr.Refused {
		return 0, false
	}
	return tr.PhysPage | lin&0xfff, true
}

// FPURegs is the x87/SSE state the interpreter keeps, as a debugger sees
// it. FTW is the abridged tag word of FXSAVE (bit i set: register i is
// valid). The x87 data registers are not modelled.
type FPURegs struct {
	FCW, FSW, FTW uint16
	MXCSR         uint32
	XMM           [16][2]uint64 // low quadword first
}

// FPURegs returns the x87/SSE state.
func (c *CPU) FPURegs() FPURegs {
	return FPURegs{FCW: c.fpu.fcw, FSW: c.fpu.fsw, FTW: c.fpu.ftw, MXCSR: c.fpu.mxcsr, XMM: c.fpu.xmm}
}

// SetFPURegs loads the x87/SSE state (the debugger's register writes).
func (c *CPU) SetFPURegs(r FPURegs) {
	c.fpu.fcw, c.fpu.fsw, c.fpu.ftw = r.FCW, r.FSW, r.FTW&0xFF
	c.fpu.mxcsr = r.MXCSR
	c.fpu.xmm = r.XMM
}

// SetStateDebug loads a state edited by a debugger: SetState, and because
// the debugger may have changed CR0, CR3, CR4 or EFER behind the
// interpreter's back, a full TLB flush. (PAE PDPTE registers are not
// reloaded: write CR3 from guest code to change them.)
func (c *CPU) SetStateDebug(s arch.State) {
	c.SetState(s)
	c.tlb.flushAll()
}

// ReadMSRDebug reads an MSR for a debugger as RDMSR outside VMX non-root
// operation would: the value, or the fault RDMSR would raise. It is not
// an instruction: no hook or VM exit sees it.
func (c *CPU) ReadMSRDebug(idx uint32) (uint64, *arch.Fault) { return c.readMSR(idx) }

// WriteMSRDebug writes an MSR for a debugger as WRMSR outside VMX
// non-root operation would (the same checks and #GP).
func (c *CPU) WriteMSRDebug(idx uint32, v uint64) *arch.Fault { return c.writeMSR(idx, v) }

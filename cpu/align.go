package cpu

import "github.com/vmxemu/vmxemu/arch"

// Alignment checking (SDM Vol. 3A 2.5 CR0.AM, 3.4.3 RFLAGS.AC, 6.15
// "Interrupt 17—Alignment Check Exception (#AC)"): at CPL 3 with CR0.AM = 1
// and RFLAGS.AC = 1, a data access of 2, 4 or 8 bytes whose linear
// address is not a multiple of its size raises #AC(0), a fault, before
// the access is translated. Implicit supervisor accesses (descriptor
// tables, the TSS: sysRead/sysWrite) and instruction fetches are not
// checked.
//
// The fast paths are untouched: while checking is on (acCheck) no data
// TLB entry is filled (fill), so every data access takes rdSlow/wrSlow,
// where the check is; turning it on drops the entries filled before.
// acCheck follows CPL, CR0 and RFLAGS through stateChanged and setRFLAGS.

// updateAlignCheck recomputes acCheck.
func (c *CPU) updateAlignCheck() {
	on := c.cpl == 3 && c.CR0&arch.CR0AM != 0 && c.RFLAGS&arch.FlagAC != 0
	if on && !c.acCheck {
		c.tlb.flushAll()
	}
	c.acCheck = on
}

// misaligned raises #AC(0) for a data access of size bytes at lin when
// alignment checking is on and lin is not a multiple of size.
func (c *CPU) misaligned(lin uint64, size uint) bool {
	if !c.acCheck || size < 2 || lin&uint64(size-1) == 0 {
		return false
	}
	c.raise(arch.Fault{Vector: arch.VecAC, HasError: true, Code: 0,
		Rule: "unaligned data access at CPL 3 with CR0.AM = 1 and RFLAGS.AC = 1", SDM: "Vol. 3A 6.15 (Interrupt 17)"})
	return true
}

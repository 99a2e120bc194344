package cpu

import (
	"encoding/binary"
	"unsafe"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/mmu"
)

// Access kinds for segment and page checks.
const (
	accRead  = 0
	accWrite = 1
	accFetch = 2
)

// segView is the precomputed form of a segment's hidden cache that the
// per-access check uses (SDM Vol. 3A 5.3 limit checking, 5.4 type checking).
type segView struct {
	base     uint64
	lo, hi   uint64 // valid offsets are lo..hi inclusive
	readable bool
	writable bool
	usable   bool
	// rwEnd: outside 64-bit mode, for a usable, readable and writable
	// expand-up segment (lo == 0) with hi <= 0xFFFFFFFF, such as the
	// flat data segments of 32-bit protected mode or any real-mode
	// segment, hi+1: reads and writes through it need only the limit
	// check, every byte's offset below rwEnd (rwIn). Otherwise 0,
	// which no offset is below. Such a segment is called rw below.
	rwEnd uint64
}

// refreshSeg recomputes segv[i] from Seg[i].
func (c *CPU) refreshSeg(i int) {
	if c.segs64() {
		c.segv[i].set64(i, c.Seg[i].Base)
		if i == arch.SS {
			c.stack32End = 0 // the 32-bit stack paths are not for 64-bit mode
		}
		return
	}
	c.segv64 = false
	c.refreshSegView(i)
	v := &c.segv[i]
	v.rwEnd = 0
	if v.usable && v.readable && v.writable && v.lo == 0 && v.hi <= 0xFFFFFFFF {
		v.rwEnd = v.hi + 1
	}
	if i == arch.SS {
		c.stack32End = 0
		if v.rwEnd != 0 && c.Seg[i].Attr&arch.ARDB != 0 && v.hi >= 3 {
			c.stack32End = v.hi - 2
		}
	}
}

// refreshSegs is refreshSeg for every segment register (stateChanged).
func (c *CPU) refreshSegs() {
	if c.segs64() {
		if c.segv64 {
			// Only FS's and GS's views depend on the registers.
			c.segv[arch.FS].base, c.segv[arch.GS].base = c.Seg[arch.FS].Base, c.Seg[arch.GS].Base
			c.stack32End = 0
			return
		}
		for i := range c.Seg {
			c.segv[i].set64(i, c.Seg[i].Base)
		}
		c.stack32End = 0
		c.segv64 = true
		return
	}
	for i := range c.Seg {
		c.refreshSeg(i)
	}
}

// segs64 reports whether segment references follow 64-bit mode's rules:
// IA32_EFER.LMA=1 and CS.L=1 (SDM Vol. 3A 3.2.4).
func (c *CPU) segs64() bool {
	return c.EFER&arch.EFERLMA != 0 && c.Seg[arch.CS].Attr&arch.ARL != 0
}

// set64 makes v the view of segment register i in 64-bit mode: no limit
// or type checks, and the bases of CS, DS, ES and SS treated as 0 (SDM
// Vol. 3A 3.2.4); base is the register's base. rwEnd is 0: rwIn's
// limit check is for the other modes. (Field by field: a whole-struct
// copy went through the stack and stalled on store forwarding.)
func (v *segView) set64(i int, base uint64) {
	if i != arch.FS && i != arch.GS {
		base = 0
	}
	v.base, v.lo, v.hi = base, 0, ^uint64(0)
	v.readable, v.writable, v.usable, v.rwEnd = true, true, true, 0
}

// refreshSegView computes segv[i] except rwEnd outside 64-bit mode
// (refreshSeg).
func (c *CPU) refreshSegView(i int) {
	s := &c.Seg[i]
	v := &c.segv[i]
	v.base = s.Base
	v.usable = s.Attr&arch.ARUnusable == 0
	lim := uint64(s.Limit)
	v.lo, v.hi = 0, lim
	if c.CR0&arch.CR0PE == 0 || c.RFLAGS&arch.FlagVM != 0 {
		// Real and virtual-8086 mode: any segment is readable/writable;
		// the limit in the hidden cache still applies.
		v.readable, v.writable, v.usable = true, true, true
		return
	}
	typ := s.Attr & arch.ARType
	if s.Attr&arch.ARS == 0 {
		v.readable, v.writable = false, false
		return
	}
	if typ&arch.ARCode != 0 {
		v.readable = typ&arch.ARReadable != 0
		v.writable = false
	} else {
		v.readable = true
		v.writable = typ&arch.ARWritable != 0
		if typ&arch.ARExpandDown != 0 {
			// Expand-down: valid offsets are limit+1 .. 0xFFFF or 0xFFFFFFFF
			// depending on the B flag (SDM Vol. 3A 3.4.5.1).
			v.lo = lim + 1
			if s.Attr&arch.ARDB != 0 {
				v.hi = 0xFFFFFFFF
			} else {
				v.hi = 0xFFFF
			}
		}
	}
}

// segFault raises the fault a failed segment check produces: #SS(0) for
// stack-segment references, #GP(0) otherwise (SDM Vol. 3A 6.15, "Interrupt
// 12" and "Interrupt 13").
func (c *CPU) segFault(seg uint8, rule string) {
	if seg == arch.SS {
		c.raise(arch.SSFault(0, rule, "Vol. 3A 5.3"))
	} else {
		c.raise(arch.GPFault(0, rule, "Vol. 3A 5.3"))
	}
}

// linear applies segmentation to an access of size bytes at offset off and
// returns the linear address.
func (c *CPU) linear(seg uint8, off uint64, size uint64, kind int) (uint64, bool) {
	v := &c.segv[seg]
	if c.codeMode == mode64 {
		lin := v.base + off
		// Every byte must be canonical: an access that runs from the top
		// of the lower half into the non-canonical hole faults too.
		sh := c.canonShift()
		if last := lin + size - 1; uint64(int64(lin<<sh)>>sh) != lin || uint64(int64(last<<sh)>>sh) != last {
			if seg == arch.SS {
				c.raise(arch.SSFault(0, "non-canonical stack address in 64-bit mode", "Vol. 3A 3.3.7.1"))
			} else {
				c.raise(arch.GPFault(0, "non-canonical address in 64-bit mode", "Vol. 3A 3.3.7.1"))
			}
			return 0, false
		}
		return lin, true
	}
	if !v.usable {
		c.segFault(seg, "memory reference through a null segment selector")
		return 0, false
	}
	if kind == accWrite && !v.writable {
		c.segFault(seg, "write to a read-only or code segment")
		return 0, false
	}
	if kind == accRead && !v.readable {
		c.segFault(seg, "read from an execute-only code segment")
		return 0, false
	}
	if off < v.lo || off+size-1 > v.hi || off+size-1 < off {
		c.segFault(seg, "offset outside the segment limit")
		return 0, false
	}
	return (v.base + off) & 0xFFFFFFFF, true
}

// The fast path of linear for a data read or write of size bytes that
// lies within one page (rd, wr, the MOV handlers and the memory pairs
// take it only with a TLB hit at an offset o <= 4096-size in the page),
// open-coded in each as
//
//	if 64-bit mode { lin = lin64(seg, off); canonical48(lin) or miss }
//	else if rwIn(seg, off, size) { lin = rwLin(seg, off) } else miss
//
// so that a failed check branches to the slow path (rdMiss, wrMiss:
// linear's full checks) without a boolean in between.
//
// In 64-bit mode the linear address is base+offset (the base is 0
// except for FS and GS), and the access is valid when its first byte is
// canonical with 48 address bits: every byte of an access within one
// page is then canonical with 48 bits, and so with 57 (CR4.LA57), as
// the non-canonical range 2^47 .. 2^64-2^47-1 starts and ends at page
// boundaries (SDM Vol. 3A 3.3.7.1). An address canonical with 57 bits
// but not with 48 takes the slow path, which checks the current width.
//
// Outside it the segment must be rw (segView.rwEnd != 0) and every
// byte's offset below rwEnd: with rwEnd at most 2^32, an offset below
// it cannot make off+size-1 wrap, so the two compares are the limit
// check of the first and the last byte (Vol. 3A 5.3). The linear
// address is base+offset modulo 2^32.

// lin64 is the linear address of offset off through seg in 64-bit mode.
func (c *CPU) lin64(seg uint8, off uint64) uint64 { return c.segv[seg&segvMask].base + off }

// rwIn reports whether a size-byte access at offset off through seg is
// an access through an rw segment within its limit (outside 64-bit mode).
func (c *CPU) rwIn(seg uint8, off, size uint64) bool {
	end := c.segv[seg&segvMask].rwEnd
	return off < end && off+size-1 < end
}

// rwLin is the linear address of offset off through the rw segment seg.
func (c *CPU) rwLin(seg uint8, off uint64) uint64 {
	return uint64(uint32(c.segv[seg&segvMask].base + off))
}

// segvLen is the length of CPU.segv, a power of two above
// arch.NumSegs; segvMask indexes it without a bounds check.
const (
	segvLen  = 8
	segvMask = segvLen - 1
)

// canonShift is the shift that sign-extends a canonical linear address
// onto itself: 64-57 with 5-level paging (CR4.LA57), else 64-48.
func (c *CPU) canonShift() uint {
	if c.CR4&arch.CR4LA57 != 0 {
		return 64 - 57
	}
	return 64 - 48
}

// canonical checks lin against the current linear-address width.
func (c *CPU) canonical(lin uint64) bool {
	if c.CR4&arch.CR4LA57 != 0 {
		return arch.Canonical(lin, 57)
	}
	return arch.Canonical(lin, 48)
}

// canonicalMax checks v against the maximum linear-address width the
// processor supports, not the current paging mode: 57 bits when
// CPUID.(07H,0):ECX.LA57 is reported, even with CR4.LA57=0. Loads of
// registers that hold linear addresses (GDTR/IDTR by LGDT/LIDT, LDTR/TR
// bases by LLDT/LTR, the base and address MSRs by WRMSR, INVPCID's
// address) check this way on processors that support 5-level paging
// (Intel 5-Level Paging and 5-Level EPT white paper 335252, "Canonicality
// checking"; SDM Vol. 3A 4.5).
func (c *CPU) canonicalMax(v uint64) bool {
	if c.feat.cr4&arch.CR4LA57 != 0 {
		return arch.Canonical(v, 57)
	}
	return arch.Canonical(v, 48)
}

func (c *CPU) pagingRegs() mmu.Regs {
	return mmu.Regs{
		CR0: c.CR0, CR3: c.CR3, CR4: c.CR4, EFER: c.EFER,
		PKRU: c.PKRU, PKRS: uint32(c.PKRS),
		MaxPhysAddr: c.MaxPhysAddr,
		RFLAGSAC:    c.RFLAGS&arch.FlagAC != 0,
		PDPTE:       c.pdpte,
		// PDPTE.PS is reserved without CPUID.80000001H:EDX.Page1GB
		// (SDM Vol. 3A 4.5).
		No1GPages: !c.feat.page1g,
	}
}

// translate walks the page tables for one access; on failure it raises the
// fault (with CR2 loaded at delivery) and returns ok=false.
func (c *CPU) translate(lin uint64, kind int, user bool, implicit bool) (mmu.Translation, bool) {
	// The guest-linear address and access of an EPT violation (vmx_ept.go).
	c.tlb.ctx.ept.lin, c.tlb.ctx.ept.kind = lin, kind
	if c.CR0&arch.CR0PG == 0 {
		return mmu.Translation{PhysPage: lin &^ 0xfff, PageSize: 4096, Writable: true, User: true, Dirty: true}, true
	}
	r := c.pagingRegs()
	var f arch.Fault
	tr, faulted := c.memoWalk(&r, lin, mmu.Access{Write: kind == accWrite, Fetch: kind == accFetch, User: user, Implicit: implicit}, &f)
	if faulted {
		c.raise(f)
		return tr, false
	}
	if tr.Refused {
		// A paging-structure access was refused (phys.go): the
		// instruction stops without a guest fault.
		c.stop = true
		return tr, false
	}
	if c.tlb.ctx.ept.on {
		c.tlb.ctx.ept.adv = eptAdvInfo(&tr) // vmx_ept.go
	}
	return tr, true
}

// fill translates the page holding lin for kind and installs a TLB entry if
// the page is RAM; it returns the entry, or nil for MMIO and faults (ok
// tells them apart).
func (c *CPU) fill(lin uint64, kind int) (*tlbEntry, uint64, bool) {
	if e := c.fill2(lin, kind); e != nil {
		// The TLB's second level (tlb2.go). Callers use the address
		// only when there is no entry.
		return e, e.pfn<<12 | lin&0xfff, true
	}
	user := c.cpl == 3
	if e := c.memoFill(lin, kind, user); e != nil {
		// The walk memo's record and the host page fill noted in it
		// (walkmemo.go): what translate and physPage would return.
		c.tlb.rec = e // put notes it with the fill (tlbreval.go)
		te, pa, ok := c.fillEntry(lin, kind, user, &e.tr, e.pg, e.hfn)
		c.tlb.rec = nil
		return te, pa, ok
	}
	c.memo.last = nil // translate without paging leaves it alone
	tr, ok := c.translate(lin, kind, user, false)
	if !ok {
		return nil, 0, false
	}
	last := c.memo.last
	pg, hfn, ok := c.physPage(tr.PhysPage|lin&0xfff, kind)
	if !ok {
		c.stop = true
		return nil, 0, false
	}
	c.memoNotePage(last, pg, hfn) // walkmemo.go
	if last != nil && last.pg == pg {
		c.tlb.rec = last // put notes it with the fill (tlbreval.go)
	}
	te, pa, ok := c.fillEntry(lin, kind, user, &tr, pg, hfn)
	c.tlb.rec = nil
	return te, pa, ok
}

// fillEntry is the end of fill once the page of lin is translated (tr)
// and resolved (pg, hfn).
func (c *CPU) fillEntry(lin uint64, kind int, user bool, tr *mmu.Translation, pg *[4096]byte, hfn uint64) (*tlbEntry, uint64, bool) {
	pa := tr.PhysPage | lin&0xfff
	if pg == nil || hfn+1 == c.apicAccessFrame() {
		// MMIO, or the APIC-access page: every access takes the physical
		// path (vmx_apicv.go).
		return nil, pa, true
	}
	if !user && tr.User && kind != accFetch && c.CR4&arch.CR4SMAP != 0 {
		// Under SMAP a supervisor data access to a user page is allowed
		// or not depending on RFLAGS.AC, which the TLB tag does not hold:
		// no entry, every such access walks (SDM Vol. 3A 4.6.1).
		return nil, pa, true
	}
	if c.acCheck && kind != accFetch {
		// Alignment checking: every data access takes rdSlow/wrSlow
		// (align.go).
		return nil, pa, true
	}
	if c.dbg.data != 0 && kind != accFetch && c.watched(lin) {
		// A data breakpoint watches this page: no entry, so that every
		// access takes rdSlow/wrSlow, where checkData looks (debugreg.go).
		return nil, pa, true
	}
	if kind != accFetch && c.code.isVMXFrame(hfn) {
		// A VMX region in use: every data access warns (exec_vmx.go).
		return nil, pa, true
	}
	n := tlbFetch
	switch kind {
	case accRead:
		n = tlbRead
	case accWrite:
		if c.code.isCode(hfn) {
			return nil, pa, true
		}
		n = tlbWrite
	}
	wpDep := n == tlbWrite && (!tr.Writable || c.CR4&(arch.CR4PKE|arch.CR4PKS) != 0)
	return c.tlb.put(n, lin, tlbEntry{tag: c.tlb.tagAs(lin, user), page: pg, pfn: hfn, global: tr.Global, wpDep: wpDep}), pa, true
}

// rd reads a T from seg:off. The common case (an rw segment and the
// access within the limit, or a canonical access in 64-bit mode; a read
// TLB hit within one page) is handled here without further calls;
// everything else goes through rdMiss.
func rd[T word](c *CPU, seg uint8, off uint64) (T, bool) {
	// The address checks of the fast path (lin64, rwIn; no boolean
	// between a failed check and miss).
	var lin uint64
	if c.codeMode == mode64 {
		if lin = c.lin64(seg, off); !canonical48(lin) {
			goto miss
		}
	} else if c.rwIn(seg, off, uint64(sizeOf[T]())) {
		lin = c.rwLin(seg, off)
	} else {
		goto miss
	}
	{
		e := &c.tlb.read[c.tlb.index(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			return *(*T)(unsafe.Pointer(&e.page[o])), true
		}
	}
miss:
	return rdMiss[T](c, seg, off)
}

// rdMiss is rd with full segment checks and the TLB miss path.
func rdMiss[T word](c *CPU, seg uint8, off uint64) (T, bool) {
	lin, ok := c.linear(seg, off, uint64(sizeOf[T]()), accRead)
	if !ok {
		return 0, false
	}
	return rdLin[T](c, lin)
}

// rdLin reads a T at a linear address.
func rdLin[T word](c *CPU, lin uint64) (T, bool) {
	e := &c.tlb.read[c.tlb.index(lin)]
	o := lin & 0xfff
	if e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		return *(*T)(unsafe.Pointer(&e.page[o])), true
	}
	v, ok := c.rdSlow(lin, sizeOf[T]())
	return T(v), ok
}

// rdSlow handles TLB misses, page-crossing and MMIO reads.
func (c *CPU) rdSlow(lin uint64, size uint) (uint64, bool) {
	if c.misaligned(lin, size) { // align.go
		return 0, false
	}
	o := lin & 0xfff
	if o+uint64(size) > 4096 {
		var v uint64
		for i := uint(0); i < size; i++ {
			b, ok := c.rdSlow(lin+uint64(i), 1)
			if !ok {
				return 0, false
			}
			v |= b << (8 * i)
		}
		return v, true
	}
	e, pa, ok := c.fill(lin, accRead)
	if !ok {
		return 0, false
	}
	if c.dbg.data != 0 {
		c.checkData(lin, size, false)
	}
	if e == nil {
		return c.physRead(pa, int(size), accRead) // MMIO, or RAM without a TLB entry
	}
	var v uint64
	for i := uint(0); i < size; i++ {
		v |= uint64(e.page[o+uint64(i)]) << (8 * i)
	}
	return v, true
}

// wr writes a T to seg:off; like rd, the common case makes no calls.
func wr[T word](c *CPU, seg uint8, off uint64, v T) bool {
	// The address checks of the fast path (lin64, rwIn; no boolean
	// between a failed check and miss).
	var lin uint64
	if c.codeMode == mode64 {
		if lin = c.lin64(seg, off); !canonical48(lin) {
			goto miss
		}
	} else if c.rwIn(seg, off, uint64(sizeOf[T]())) {
		lin = c.rwLin(seg, off)
	} else {
		goto miss
	}
	{
		e := &c.tlb.write[c.tlb.index(lin)]
		if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
			*(*T)(unsafe.Pointer(&e.page[o])) = v
			return true
		}
	}
miss:
	return wrMiss(c, seg, off, v)
}

// wrMiss is wr with full segment checks and the TLB miss path.
func wrMiss[T word](c *CPU, seg uint8, off uint64, v T) bool {
	lin, ok := c.linear(seg, off, uint64(sizeOf[T]()), accWrite)
	if !ok {
		return false
	}
	return wrLin(c, lin, v)
}

// wrLin writes a T at a linear address.
func wrLin[T word](c *CPU, lin uint64, v T) bool {
	e := &c.tlb.write[c.tlb.index(lin)]
	o := lin & 0xfff
	if e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		*(*T)(unsafe.Pointer(&e.page[o])) = v
		return true
	}
	return c.wrSlow(lin, sizeOf[T](), uint64(v))
}

// wrSlow handles TLB misses, page-crossing writes, writes to code pages and
// MMIO. A page-crossing write checks both pages before writing either
// (SDM: no partial writes on a #PF in the second page).
func (c *CPU) wrSlow(lin uint64, size uint, v uint64) bool {
	if c.misaligned(lin, size) { // align.go
		return false
	}
	o := lin & 0xfff
	if o+uint64(size) > 4096 {
		n1 := 4096 - o
		if _, ok := c.translate(lin, accWrite, c.cpl == 3, false); !ok {
			return false
		}
		if _, ok := c.translate(lin+n1, accWrite, c.cpl == 3, false); !ok {
			return false
		}
		for i := uint(0); i < size; i++ {
			if !c.wrSlow(lin+uint64(i), 1, v>>(8*i)) {
				return false
			}
		}
		return true
	}
	e, pa, ok := c.fill(lin, accWrite)
	if !ok {
		return false
	}
	if c.dbg.data != 0 {
		c.checkData(lin, size, true)
	}
	if e == nil {
		// MMIO, or RAM holding decoded code (written and invalidated).
		return c.physWrite(pa, int(size), v, accWrite)
	}
	for i := uint(0); i < size; i++ {
		e.page[o+uint64(i)] = byte(v >> (8 * i))
	}
	return true
}

// sysRead reads from a system structure (GDT, LDT, IDT, TSS) at a linear
// address: an implicit supervisor access (SDM Vol. 3A 4.6).
//
// A read within one page takes the TLB's supervisor read entry for the
// page when there is one, at any CPL: the entry was filled by a
// successful supervisor read (an explicit one, or an earlier sysRead),
// and an implicit supervisor read makes the same checks (4.6.1) but one,
// SMAP's, which for an implicit access ignores RFLAGS.AC; fillEntry makes
// no supervisor entry for a user page under SMAP, so that difference
// never meets an entry. Protection keys apply alike (4.6.2). Without an
// entry, the read walks (translate, as an implicit access) and fills the
// supervisor read entry (fillEntry), as a supervisor read would.
func (c *CPU) sysRead(lin uint64, size int) (uint64, bool) {
	if o := lin & 0xfff; o+uint64(size) <= 4096 {
		e := &c.tlb.read[c.tlb.index(lin)]
		if e.tag == c.tlb.tagAs(lin, false) {
			if size == 8 {
				// Descriptors, gates and TSS stack pointers.
				return binary.LittleEndian.Uint64(e.page[o : o+8]), true
			}
			var v uint64
			for j := size - 1; j >= 0; j-- {
				v = v<<8 | uint64(e.page[o+uint64(j)])
			}
			return v, true
		}
	}
	var v uint64
	for i := 0; i < size; {
		tr, ok := c.translate(lin+uint64(i), accRead, false, true)
		if !ok {
			return 0, false
		}
		pa := tr.PhysPage | (lin+uint64(i))&0xfff
		n := 4096 - int(pa&0xfff)
		if n > size-i {
			n = size - i
		}
		// RAM that is neither the APIC-access page nor a VMX region:
		// the bytes straight from the host page, what physRead gives
		// one by one (one resolution of the frame instead of n; under
		// EPT the same walk n times over, with the same outcome).
		pg, hfn, ok := c.physPage(pa, accRead)
		if !ok { // as physRead's first byte
			c.stop = true
			return 0, false
		}
		if pg != nil && !c.apicAccessGuest(hfn, accRead) && !c.code.isVMXFrame(hfn) {
			for j, o := 0, pa&0xfff; j < n; j++ {
				v |= uint64(pg[o+uint64(j)]) << (8 * (i + j))
			}
			c.fillEntry(lin+uint64(i), accRead, false, &tr, pg, hfn)
			i += n
			continue
		}
		for j := 0; j < n; j++ {
			b, ok := c.physRead(pa+uint64(j), 1, accRead)
			if !ok {
				c.stop = true
				return 0, false
			}
			v |= b << (8 * (i + j))
		}
		i += n
	}
	return v, true
}

// sysWrite writes a system structure (descriptor accessed/busy bits, TSS).
func (c *CPU) sysWrite(lin uint64, size int, v uint64) bool {
	for i := 0; i < size; i++ {
		tr, ok := c.translate(lin+uint64(i), accWrite, false, true)
		if !ok {
			return false
		}
		if !c.physWrite(tr.PhysPage|(lin+uint64(i))&0xfff, 1, v>>(8*i), accWrite) {
			c.stop = true
			return false
		}
	}
	return true
}

// ReadLinear reads guest memory for the debugger and traces, without
// raising faults. It returns false if some byte is not mapped.
func (c *CPU) ReadLinear(lin uint64, b []byte) bool {
	for i := range b {
		a := lin + uint64(i)
		pa := a
		if c.CR0&arch.CR0PG != 0 {
			r := c.pagingRegs()
			r.PKRU, r.PKRS = 0, 0 // the debugger reads through protection keys
			tr, f := mmu.Walk(peekMem{c}, &r, a, mmu.Access{Implicit: true})
			if f != nil || tr.Refused {
				return false
			}
			pa = tr.PhysPage | a&0xfff
		}
		pg, _, ok := c.physPage(pa, accPeek)
		if !ok || pg == nil {
			return false
		}
		b[i] = pg[pa&0xfff]
	}
	return true
}

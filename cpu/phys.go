package cpu

import "encoding/binary"

// The guest-physical access layer. Every access the core makes by physical
// address resolves its frame through physPage, and nowhere else:
//
//   - instruction fetch and block decode (fill, fetchWindow),
//   - data accesses on TLB misses, page-crossing and MMIO accesses (fill,
//     rdSlow, wrSlow),
//   - paging-structure entries and the PAE PDPTEs (physMem, for package
//     mmu),
//   - the GDT, LDT, IDT and TSS (sysRead, sysWrite),
//   - the debugger (ReadLinear, WriteLinear, peekMem).
//
// The addresses the core computes are guest-physical; physPage turns one
// into the host frame that backs it. Outside VMX non-root operation, and
// inside it without EPT, the two are the same. EPT slots in here: the
// EPT walk (package ept) maps the guest-physical frame to a host frame or
// refuses the access with an EPT violation or misconfiguration, which is
// then the instruction's outcome (a VM exit) instead of a guest fault.
//
// Decoded blocks and code-page write protection are keyed by host frame
// (CodeCache), so that two guest-physical frames aliasing one host frame
// share its decoded code and its invalidation, and TLB entries record the
// host frame they point into.

// Access kinds beyond accRead/accWrite/accFetch (mem.go) that physPage
// tells apart: under EPT a paging-structure access has its own exit
// qualification and A/D semantics (SDM Vol. 3C 29.3.3.2), and the
// debugger's accesses never have side effects.
const (
	accPaging = 3 // a paging-structure entry or PDPTE, read or A/D write
	accPeek   = 4 // the debugger: no side effects, never a VM exit
	accVMX    = 5 // a VMX instruction's access to its VMXON or VMCS region
	// accPagingW is a write of a paging-structure entry (its A/D flags):
	// under EPT a write for the walk (SDM Vol. 3C 29.3.3.2).
	accPagingW = 6
)

// physPage resolves the guest-physical page holding gpa for an access of
// the given kind. It returns the host page when the frame is RAM (nil for
// MMIO and unbacked space) and the host frame number; ok=false means the
// access was refused and must not be performed: under EPT, an EPT
// violation or misconfiguration whose VM exit has been taken (vmx_ept.go).
// The VMX regions and MSR areas (accVMX) are host-physical: VMX
// instructions exit in the guest, and a VM exit's MSR areas are accessed
// in the host.
func (c *CPU) physPage(gpa uint64, kind int) (pg *[4096]byte, hfn uint64, ok bool) {
	if c.tlb.ctx.ept.on && kind != accVMX {
		return c.eptPage(gpa, kind)
	}
	hfn = gpa >> 12
	return c.bus.RAMPage(hfn), hfn, true
}

// hostPage is the host page backing host frame hfn (nil when it is not
// RAM): the EPT walk's own tables and the frames it translates to are
// host-physical (vmx_ept.go).
func (c *CPU) hostPage(hfn uint64) *[4096]byte { return c.bus.RAMPage(hfn) }

// physRead reads size bytes (<= 8, not crossing a page) at a
// guest-physical address: RAM through the host page, anything else as
// MMIO at the host-physical address.
func (c *CPU) physRead(gpa uint64, size int, kind int) (uint64, bool) {
	pg, hfn, ok := c.physPage(gpa, kind)
	if !ok {
		return 0, false
	}
	if c.apicAccessGuest(hfn, kind) { // vmx_apicv.go
		return c.apicAccess(gpa, size, 0, kind)
	}
	off := int(gpa & 0xfff)
	if (kind == accRead || kind == accWrite) && c.code.isVMXFrame(hfn) {
		c.lintVMXAccess(hfn, "reads")
	}
	if pg != nil {
		var v uint64
		for i := 0; i < size && off+i < 4096; i++ {
			v |= uint64(pg[off+i]) << (8 * i)
		}
		return v, true
	}
	return c.bus.ReadMMIO(hfn<<12|uint64(off), size), true
}

// physWrite writes size bytes (<= 8, not crossing a page) at a
// guest-physical address. A write to RAM invalidates decoded code in the
// host frame; an MMIO write may change interrupt state (an APIC or I/O
// APIC register), so the CPU asks its interrupt source again.
func (c *CPU) physWrite(gpa uint64, size int, v uint64, kind int) bool {
	pg, hfn, ok := c.physPage(gpa, kind)
	if !ok {
		return false
	}
	if c.apicAccessGuest(hfn, kind) { // vmx_apicv.go
		_, ok := c.apicAccess(gpa, size, v, kind)
		return ok
	}
	off := int(gpa & 0xfff)
	if (kind == accRead || kind == accWrite) && c.code.isVMXFrame(hfn) {
		c.lintVMXAccess(hfn, "writes")
	}
	if pg != nil {
		// Decoded code depends on nothing but the bytes: a write that
		// leaves every byte as it was may keep the frame's blocks
		// (rewritten).
		changed := false
		for i := 0; i < size && off+i < 4096; i++ {
			if b := byte(v >> (8 * i)); pg[off+i] != b {
				pg[off+i] = b
				changed = true
			}
		}
		if changed {
			c.code.written(c, hfn)
		} else {
			c.code.rewritten(c, hfn)
		}
		return true
	}
	c.bus.WriteMMIO(hfn<<12|uint64(off), size, v)
	c.KickInterrupt()
	return true
}

// physMem is the page walker's view of guest-physical memory (mmu.PhysMem)
// without allocating: paging-structure accesses through physPage.
//
// Reads of paging-structure entries in RAM take a short cut when the
// guest-physical address is the host-physical one (no EPT): the host page
// of the frame comes from ptPages, a small per-CPU cache of the frames the
// walks use, and the entry is one aligned load from it. That is exactly
// physRead's result: physPage would return the same page (a RAM frame's
// host page never changes once allocated: TLB entries rely on that too),
// the entry never crosses its page (entries are naturally aligned), and
// accPaging reads are not VMX-region accesses (physRead lints those for
// accRead and accWrite only). It is a cache of where memory is, not of
// what it holds: every read still reads the entry from memory, so a
// paging-structure write is seen at once.
type physMem struct{ c *CPU }

// ptPageCache maps host frames to their host pages for paging-structure
// reads (physMem): direct-mapped, filled from physPage on a miss. A
// 4-level walk uses four frames; kvm-unit-tests' page tables and a
// typical kernel's hot ones fit.
type ptPageCache struct {
	hfn  [ptCacheSize]uint64 // frame number + 1 (0: empty)
	page [ptCacheSize]*[4096]byte
}

const ptCacheSize = 16

// ptPage returns the host page of paging-structure frame gpa>>12 when it
// is RAM and EPT is off, or nil: the caller then takes physRead.
func (c *CPU) ptPage(gpa uint64) *[4096]byte {
	if c.tlb.ctx.ept.on {
		return nil
	}
	f := gpa >> 12
	i := (f ^ f>>4) & (ptCacheSize - 1)
	if c.ptPages.hfn[i] == f+1 {
		return c.ptPages.page[i]
	}
	pg := c.bus.RAMPage(f)
	if pg != nil {
		c.ptPages.hfn[i], c.ptPages.page[i] = f+1, pg
	}
	return pg
}

func (p physMem) ReadPhys64(pa uint64) (uint64, bool) {
	if pg := p.c.ptPage(pa); pg != nil && pa&7 == 0 {
		if p.c.memo.on {
			p.c.memoRecord(pg, pa&0xff8) // walkmemo.go
		}
		return binary.LittleEndian.Uint64(pg[pa&0xff8:]), true
	}
	if p.c.memo.on {
		p.c.memoRecord(nil, 0)
	}
	return p.c.physRead(pa, 8, accPaging)
}
func (p physMem) ReadPhys32(pa uint64) (uint32, bool) {
	if pg := p.c.ptPage(pa); pg != nil && pa&3 == 0 {
		return binary.LittleEndian.Uint32(pg[pa&0xffc:]), true
	}
	v, ok := p.c.physRead(pa, 4, accPaging)
	return uint32(v), ok
}
func (p physMem) WritePhys64(pa uint64, v uint64) bool { return p.c.physWrite(pa, 8, v, accPagingW) }
func (p physMem) WritePhys32(pa uint64, v uint32) bool {
	return p.c.physWrite(pa, 4, uint64(v), accPagingW)
}

// peekMem is the debugger's view: reads through physPage as accPeek, and
// writes (A/D updates) dropped.
type peekMem struct{ c *CPU }

func (p peekMem) ReadPhys64(pa uint64) (uint64, bool) { return p.c.physRead(pa, 8, accPeek) }
func (p peekMem) ReadPhys32(pa uint64) (uint32, bool) {
	v, ok := p.c.physRead(pa, 4, accPeek)
	return uint32(v), ok
}
func (p peekMem) WritePhys64(uint64, uint64) bool { return true }
func (p peekMem) WritePhys32(uint64, uint32) bool { return true }

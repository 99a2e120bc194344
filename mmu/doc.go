// Package mmu is vmxemu's linear-to-physical translation: the
// paging-structure walk of Intel SDM Vol. 3A chapter 4 as pure logic over a
// small physical-memory interface.
//
// It covers the four paging modes of SDM Vol. 3A 4.1.1 — 32-bit paging (4-KiB
// pages and, with CR4.PSE, 4-MiB pages including the PSE-36 high address
// bits), PAE paging (through the four PDPTE registers loaded by LoadPDPTEs),
// and 4-level and 5-level paging (4-KiB, 2-MiB and 1-GiB pages) — with the
// reserved-bit checks of every entry format, the access rights of SDM 4.6
// (R/W with CR0.WP, U/S, execute-disable, SMEP, SMAP, protection keys with
// PKRU and PKRS), the page-fault error code of SDM 4.7 and the accessed and
// dirty flags of SDM 4.8.
//
// What the walker does not do, because the SDM assigns it elsewhere:
//   - Canonicality. A non-canonical linear address never reaches paging: the
//     core raises #GP(0) (or #SS(0) for stack references) before translation
//     (SDM Vol. 1 3.3.7.1, Vol. 3A 4.5). Walk ignores bits 63:48 (63:57 with
//     CR4.LA57) and, outside IA-32e mode, bits 63:32 of the address.
//   - Validity of the control registers. MOV to CR0/CR3/CR4 and WRMSR to EFER
//     raise #GP for reserved or inconsistent values; Walk assumes a state that
//     passed those checks (for example EFER.LMA=1 implies CR4.PAE=1).
//   - TLBs and paging-structure caches (SDM 4.10): Walk always reads memory.
//     Translation.Check lets a TLB re-apply the rights of a cached
//     translation, and Translation.Dirty says whether a cached translation may
//     be used for a write without a new walk.
//
// The package holds no mutable state of its own; every function is safe for
// concurrent use as long as the PhysMem it is given is.
package mmu

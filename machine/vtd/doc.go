// Package vtd is an Intel VT-d DMA-remapping hardware unit (Intel
// Virtualization Technology for Directed I/O Architecture Specification,
// "the VT-d spec" below; section numbers are those of revision 3.x), as
// QEMU's intel-iommu device presents it on the q35 machine: one unit at
// 0xFED90000 covering every PCI device (DRHD INCLUDE_PCI_ALL), legacy
// (non-scalable) mode only.
//
// Modelled:
//   - The register file (chapter 11): VER, CAP and ECAP with QEMU's
//     defaults for the configured properties (every bit they advertise
//     is honoured), GCMD/GSTS (root-table pointer, translation enable,
//     queued invalidation, interrupt-remapping table pointer and enable,
//     compatibility-format interrupts), RTADDR, CCMD and IOTLB
//     invalidation, IQA/IQH/IQT/ICS and the invalidation event registers,
//     FSTS/FECTL/FEDATA/FEADDR and one fault recording register, IRTA.
//   - DMA remapping (chapter 3, 9.1-9.3, 9.8): root entry, context entry
//     (translation types untranslated and, when ECAP.PT, pass-through),
//     3- and 4-level second-level page tables per the context's AW, 2 MiB
//     and 1 GiB pages as CAP.SLLPS says, read/write permission, reserved
//     bits, faults recorded (7.2) unless the context entry's FPD is set,
//     fault events (7.3).
//   - Interrupt remapping (chapter 5, 9.10): compatibility-format requests
//     blocked or passed per GSTS.CFIS, remappable-format requests
//     translated through the IRTE (destination, vector, delivery mode,
//     trigger mode, destination mode), source-id verification of requests
//     from PCI functions, interrupt-remapping faults.
//   - Queued invalidation (6.5.2): the queue is processed when IQT is
//     written; every invalidation descriptor type of legacy mode is
//     accepted (the unit caches nothing, so they complete at once), the
//     invalidation-wait descriptor's status write and interrupt flag, and
//     invalid descriptors report IQE.
//
// Not modelled: scalable mode, first-level translation, PASIDs, device
// TLBs (ECAP.DT 0), posted interrupts, protected memory regions, advanced
// fault logging, page requests, the write-buffer flush (CAP.RWBF 0),
// more than one fault recording register (CAP.NFR 0, as QEMU). The unit
// keeps no translation caches (CAP.CM 0, which allows caching: software
// must invalidate after changing a present entry, and an implementation
// that never caches is a valid one), so invalidations have nothing to
// drop.
package vtd

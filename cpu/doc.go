// Package cpu is vmxemu's x86-64 interpreter: the instruction decoder (tables
// as data), the executor grouped by instruction family, the operating modes
// (real, protected, IA-32e long and compatibility), segmentation checks, the
// software TLB, exception and interrupt delivery, and the decoded-block cache.
//
// Hot-path design (see docs/PERFORMANCE.md):
//   - Instructions are decoded once into Inst values grouped in basic blocks,
//     cached per physical page and shared by all CPUs of a machine
//     (CodeCache). A write to a page holding decoded code invalidates its
//     blocks; such pages never get a writable fast-path TLB entry.
//   - Each Inst holds its handler (a plain func value, not an interface);
//     handlers are specialised per operand size with generics.
//   - Arithmetic flags are evaluated lazily from the last result.
//   - Memory accesses go through a direct-mapped software TLB holding host
//     page pointers; only misses walk the page tables (package mmu) and only
//     MMIO goes through the Bus interface.
//
// Every architectural fault is an arch.Fault carrying the rule that fired
// and its SDM section.
package cpu

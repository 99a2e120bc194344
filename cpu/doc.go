// Package cpu is vmxemu's x86-64 interpreter: the instruction decoder (tables
// as data), the executor grouped by instruction family, the operating modes
// (real, protected, IA-32e long and compatibility), segmentation checks, the
// software TLB, exception and interrupt delivery, and the decoded-block cache.
//
// Hot-path design (see docs/PERFORMANCE.md):
//   - Instructions are decoded once into Inst values grouped in basic blocks,
//     cached per host-physical frame and shared by all CPUs of a machine
//     (CodeCache). A write to a frame holding decoded code invalidates its
//     blocks; such frames never get a writable fast-path TLB entry.
//   - Each Inst holds its handler (a plain func value, not an interface);
//     handlers are specialised per operand size with generics, and the
//     hottest forms (register ALU, fused setter+Jcc, ALU and store pairs)
//     are generated from one table (gen_hot.go).
//   - Arithmetic flags are evaluated lazily from the last result.
//   - Memory accesses go through a direct-mapped software TLB holding host
//     page pointers; only misses walk the page tables (package mmu) and only
//     MMIO goes through the Bus interface.
//
// Contracts of the core (run.go, attention.go, phys.go, tlb.go,
// exceptions.go), which VMX builds on:
//   - Time: Icount advances when a block retires; now() is the exact count
//     inside a block, and every reader of virtual time (TSC, Clock) uses it.
//     Virtual time is in nanoseconds, one per instruction; the TSC counts
//     the model's nominal frequency against it (tsc.go), from the value and
//     time of the last IA32_TSC write, which are kept apart from idle time.
//   - The run ends at an absolute count (runEnd); endRunAt brings it forward
//     from any handler and Run honours it exactly (the VMX-preemption timer
//     and MTF plug in here).
//   - Events between blocks go through one attention word; NMIs are blocked
//     from delivery to the next IRET. An event that ignores RFLAGS.IF (an
//     external interrupt under external-interrupt exiting) is a condition of
//     eventsWaiting.
//   - Instructions retire through one path (retire, retireStopped) for the
//     fast and the slow loop; the outcome of a stopped entry is a fault to
//     deliver or a normal stop, and a pending VM exit will be a third.
//   - Exits of instructions are decided in each instruction's own handler,
//     after its own fault checks (SDM Vol. 3C 26.1.1), never in decoded
//     blocks (shared by every CPU) nor in the generated fast-path handlers
//     (which hold no instruction that can exit).
//   - Every physical access goes through physPage (phys.go): fetches, data,
//     page walks (mmu.PhysMem may refuse), descriptor tables and the
//     debugger. The EPT walk plugs in there, and a refused access becomes
//     the instruction's outcome instead of a guest fault.
//   - Linear translations (TLB entries, the RIP-to-block lookup) belong to a
//     translation context (switchContext, tlb.go): VPID and EPTP select the
//     context on VM entry and exit in O(1), and stale entries of a context
//     survive until invalidated, as on hardware. A second level behind the
//     read and write arrays (tlb2.go) holds what they evict; every flush of
//     the first level reaches it.
//   - Exceptions change CR2, DR6 and RF only at delivery (deliveryEffects),
//     after the point in event where the exception bitmap can turn them into
//     a VM exit. CR0 changes in one place (writeCR0).
//
// Every architectural fault is an arch.Fault carrying the rule that fired
// and its SDM section.
package cpu

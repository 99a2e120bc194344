// Package guests holds the guest programs used to test vmxemu against QEMU,
// and builds them.
//
// The guests are small multiboot (v1) kernels written in C with a GAS entry
// stub, sharing a freestanding library in lib/ (16550 UART driver, printf,
// fw_cfg reader, isa-debug-exit, setjmp/longjmp, string routines and the
// libgcc helpers 32-bit code needs):
//
//   - hello: a 32-bit kernel that prints the multiboot magic, memory sizes,
//     command line and QEMU's fw_cfg signature and CPU count, then exits
//     through isa-debug-exit with 0x10.
//   - compute32, compute32-O0: the shared computations in compute/compute.c
//     (quicksort, CRC32, 64-bit division, setjmp/longjmp, a jump-table
//     switch, recursion, string instructions, bit operations, signed
//     multiply/divide edge cases, a sieve) as a 32-bit kernel, built with
//     -O2 and with -O0.
//   - compute64, compute64-O0: the same computations in 64-bit long mode,
//     entered by a stub that builds identity page tables and enables long
//     mode; linked as ELF64 and converted to ELF32 for the multiboot loader.
//
// Every guest exits with isa-debug-exit value 0x10 when it worked, which a
// QEMU-compatible emulator reports as exit status 33 (ExitPass). The compute
// code also builds as an ordinary hosted program (BuildHost) whose output is
// the independent oracle for the compute guests' serial output.
//
// Build compiles a guest from the sources embedded in this package, so it
// works from any directory; it needs gcc, GNU ld and objcopy. The Makefile
// in this directory builds the same images with the same flags.
//
// The side-by-side test (sidebyside_test.go) boots every guest under
// qemu-system-x86_64 and under vmxemu with the same flags and requires the
// same serial output and exit status.
package guests

// Package devices implements the emulated board's port-I/O devices and the
// bus that routes IN/OUT instructions to them.
//
// The bus (PortBus) maps each of the 65536 x86 I/O ports to at most one
// PortDevice through a flat table, so a port access costs one array load and
// one interface call. Ports nobody claims read as all-ones of the access
// size and ignore writes, which is what software probing an empty ISA bus
// sees.
//
// The devices are the small set a PC-compatible guest and its firmware touch
// first:
//
//   - UART: a 16550A serial port (COM1 at 0x3F8 by convention);
//   - DebugExit: QEMU's isa-debug-exit (exit status (value<<1)|1);
//   - DebugCon: the Bochs/QEMU "port 0xE9" debug console;
//   - ShutdownPort: the Bochs power-off port 0x8900 ("Shutdown");
//   - FwCfg: QEMU's firmware configuration interface on 0x510/0x511;
//   - PIC: the cascaded 8259A pair (0x20/0x21, 0xA0/0xA1) with the ELCR
//     registers (0x4D0/0x4D1);
//   - POSTPort: the port 0x80 POST-code sink;
//   - SysCtrlB: system control port B (0x61);
//   - SysCtrlA: system control port A (0x92, fast A20 and fast reset).
//
// Devices that end the run (debug exit, power off, reset) report through an
// ExitFunc supplied by the board; they never stop anything themselves.
//
// Nothing here is safe for concurrent use: the board serialises device
// accesses (one vCPU loop at a time, or its own lock).
//
// Behaviour is taken from the datasheets (NS/TI PC16550D, Intel 8259A, Intel
// ICH for ELCR and ports 0x61/0x92) and from QEMU's and Bochs' documented or
// observable behaviour, cited where it matters; no code is copied from them.
package devices

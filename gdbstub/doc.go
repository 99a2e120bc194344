// Package gdbstub is a GDB Remote Serial Protocol server: what QEMU's -s,
// -S and -gdb tcp::PORT offer, so that the real gdb can debug a vmxemu
// guest as it debugs one under QEMU.
//
// The stub speaks the protocol over one TCP connection at a time: packet
// framing with checksums and acknowledgements (QStartNoAckMode turns them
// off), qSupported, the i386:x86-64 target description (qXfer:features),
// register access (g, G, p, P), memory (m, M, X), execution (c, s, C, S,
// vCont), breakpoints (Z0/z0 and Z1/z1, both kept by the emulator: guest
// memory is never patched), threads (one per vCPU: qfThreadInfo, Hg/Hc, T
// stop replies naming the thread), Ctrl-C, k and D. Anything else gets the
// empty reply that tells gdb a packet is not supported.
//
// It drives the machine through the Target interface, so it does not
// depend on the machine package; cmd/vmxemu adapts a machine.Debugger to
// it. Server.Run owns the target for the whole run: it runs the guest
// while no debugger holds it stopped, accepts a connection at any time
// (stopping the guest, as QEMU does), resumes the guest when the debugger
// detaches or disconnects, and returns when the guest's run ends, sending
// the debugger a W (exit status) stop reply.
package gdbstub

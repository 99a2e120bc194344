// Package arch is the shared vocabulary of vmxemu: the architectural state
// of an Intel 64 logical processor (general-purpose registers, RIP, RFLAGS,
// segment registers with their hidden descriptor caches, control and debug
// registers, descriptor-table registers, EFER, XCR0), the bit constants the
// Intel SDM names for them, exception vectors, and Fault, the value every
// architectural check returns when it fails: vector, error code and the rule
// that fired with its SDM reference.
//
// arch imports nothing of vmxemu's own; every other package speaks it.
package arch

// Package pci is vmxemu's PCI configuration space: the type-0 header of a
// function (vendor/device IDs, command and status, base address registers
// with their size masks, interrupt line and pin, a capability list with
// MSI), bus 0 reached through configuration mechanism #1 (ports 0xCF8 and
// 0xCFC, PCI Local Bus Specification 3.0 3.2.2.3.2) and through PCI
// Express enhanced configuration access (ECAM, PCI Express Base
// Specification 4.0 7.2.2: bus<<20 | device<<15 | function<<12 | register).
//
// A function absent from the bus reads as all ones (vendor ID 0xFFFF), as
// the specification requires of a configuration read that nothing claims,
// and ignores writes. Registers a function does not implement read 0.
//
// The package knows nothing of the board: functions raise their INTx
// lines and send MSI messages through callbacks the board installs, and
// memory BARs are decoded by Bus.ReadMem/WriteMem, which the board calls
// for its PCI memory window.
package pci

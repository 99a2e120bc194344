//go:build !capstone

package disasm

// Default returns the disassembler this binary was built with: vmxemu's
// own formatter (build with -tags capstone for Capstone).
func Default() Disassembler { return New() }

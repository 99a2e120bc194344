// Package disasm prints x86 instructions in Intel syntax, the way
// Capstone 4 prints them (QEMU's -d in_asm uses Capstone): mnemonic,
// operands with their size keywords (byte ptr, dword ptr, ...), segment
// overrides, rep/lock prefixes, branch targets as absolute addresses, and
// RIP-relative operands resolved to their address in a trailing comment.
//
// It has one concern: turning bytes into text. The decoding is the
// interpreter's own (cpu.Decode): which bytes form an instruction, its
// length, the operand and address sizes, the prefixes that count and
// the ModRM/SIB operands are what vmxemu executes, so a trace never shows
// an instruction the CPU did not see. The syntax of each opcode is data
// (forms.go: one row per opcode, in the SDM's operand notation of Vol. 2D
// Appendix A), not code.
//
// Two backends implement Disassembler: the package's own formatter (the
// default, New) and Capstone through github.com/bnagy/gapstone, chosen at
// build time with the capstone build tag (go build -tags capstone), which
// needs cgo and libcapstone. Default returns the one the binary was built
// with.
package disasm

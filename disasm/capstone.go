//go:build capstone

package disasm

import (
	"fmt"
	"sync"

	"github.com/bnagy/gapstone"
)

// Capstone disassembles with Capstone (Intel syntax) through gapstone.
// It is built only with the capstone tag (cgo, libcapstone).
type Capstone struct {
	mu sync.Mutex
	e  map[int]*gapstone.Engine
}

// NewCapstone opens one Capstone engine per code-segment width.
func NewCapstone() (*Capstone, error) {
	c := &Capstone{e: map[int]*gapstone.Engine{}}
	for bits, mode := range map[int]int{16: gapstone.CS_MODE_16, 32: gapstone.CS_MODE_32, 64: gapstone.CS_MODE_64} {
		e, err := gapstone.New(gapstone.CS_ARCH_X86, mode)
		if err != nil {
			c.Close()
			return nil, fmt.Errorf("capstone %d-bit engine: %w", bits, err)
		}
		c.e[bits] = &e
	}
	return c, nil
}

// Close releases the engines.
func (c *Capstone) Close() {
	for _, e := range c.e {
		_ = e.Close()
	}
}

// Name implements Disassembler.
func (c *Capstone) Name() string {
	maj, min := c.e[64].Version()
	return fmt.Sprintf("capstone %d.%d", maj, min)
}

// Disasm implements Disassembler. Bytes Capstone rejects come back as
// "(bad)" with the length vmxemu's decoder gives them, so a trace keeps
// its addresses.
func (c *Capstone) Disasm(code []byte, addr uint64, bits int) (Inst, bool) {
	c.mu.Lock()
	insns, err := c.e[bits].Disasm(code, addr, 1)
	c.mu.Unlock()
	if err != nil || len(insns) == 0 {
		own, ok := New().Disasm(code, addr, bits)
		if !ok {
			return Inst{}, false
		}
		return Inst{Addr: addr, Len: own.Len, Mnemonic: "(bad)", Bad: true}, true
	}
	in := insns[0]
	return Inst{Addr: addr, Len: int(in.Size), Mnemonic: in.Mnemonic, Operands: in.OpStr}, true
}

// Default returns the disassembler this binary was built with: Capstone
// (built with the capstone tag), or vmxemu's own formatter if Capstone
// cannot be opened.
func Default() Disassembler {
	c, err := NewCapstone()
	if err != nil {
		return New()
	}
	return c
}

package main

import (
	"debug/elf"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/cpu"
	"github.com/vmxemu/vmxemu/disasm"
)

// tracer writes the per-block trace items in QEMU 7.2's layouts:
//
//   - in_asm (accel/tcg/translator.c, disas/capstone.c cap_dump_insn):
//     "----------------", "IN: SYMBOL", one line per instruction — the
//     address as 0x%08x, up to 8 bytes as " %02x" padded to 8 columns
//     of 3, two spaces, the mnemonic padded to 8, a space, the operands;
//     longer instructions continue their bytes on lines of their own —
//     then an empty line. vmxemu prints Intel syntax (package disasm)
//     where QEMU prints Capstone's AT&T.
//   - exec (accel/tcg/cpu-exec.c log_cpu_exec): "Trace CPU: PTR
//     [CS_BASE/PC/FLAGS/CFLAGS] SYMBOL" for every block executed, as QEMU
//     prints it with -d nochain (vmxemu chains no blocks). PTR, QEMU's
//     host-code pointer, is the block's physical address; FLAGS are
//     QEMU's TB flags computed from the state (hflags below); CFLAGS, its
//     compile flags, are 0.
//   - cpu: the register dump of -d cpu_reset before each block (after
//     its Trace line when exec is on too).
//
// -dfilter selects blocks by their linear start address (QEMU's
// qemu_log_in_addr_range on the TB's pc), -d-cpu by CPU, -d-limit bounds
// the number of in_asm blocks and of exec/cpu records.
type tracer struct {
	w                io.Writer
	dis              disasm.Disassembler
	inAsm, exec, cpu bool
	filter           []cli.AddrRange
	cpus             map[int]bool
	limit            uint64
	nIn, nExec       uint64
	syms             symbols
}

func newTracer(cfg *cli.Config, w io.Writer, items map[string]bool) *tracer {
	t := &tracer{w: w, dis: disasm.Default(), inAsm: items["in_asm"], exec: items["exec"], cpu: items["cpu"],
		filter: cfg.DFilter, limit: cfg.TraceLimit}
	if !t.inAsm && !t.exec && !t.cpu {
		return nil
	}
	if cfg.TraceCPUs != nil {
		t.cpus = map[int]bool{}
		for _, n := range cfg.TraceCPUs {
			t.cpus[n] = true
		}
	}
	if cfg.Kernel != "" {
		t.syms = loadSymbols(cfg.Kernel)
	}
	return t
}

// wants reports whether block b of CPU c passes the filters.
func (t *tracer) wants(c *cpu.CPU, b cpu.TraceBlock) bool {
	if t.cpus != nil && !t.cpus[c.ID] {
		return false
	}
	if t.filter == nil {
		return true
	}
	for _, r := range t.filter {
		if b.Linear >= r.Lo && b.Linear <= r.Hi {
			return true
		}
	}
	return false
}

// translated is cpu.Hooks.Translate: -d in_asm.
func (t *tracer) translated(c *cpu.CPU, b cpu.TraceBlock, code []byte) {
	if !t.wants(c, b) || t.limit != 0 && t.nIn >= t.limit {
		return
	}
	t.nIn++
	var s strings.Builder
	s.WriteString("----------------\n")
	fmt.Fprintf(&s, "IN: %s\n", t.syms.lookup(b.Linear))
	addr := b.Linear
	for len(code) > 0 {
		in, ok := t.dis.Disasm(code, addr, b.Bits)
		if !ok || in.Len == 0 || in.Len > len(code) {
			break
		}
		writeInsn(&s, addr, code[:in.Len], in)
		code = code[in.Len:]
		addr += uint64(in.Len)
	}
	s.WriteString("\n")
	io.WriteString(t.w, s.String())
}

// insnSplit is how many bytes an in_asm line shows before the mnemonic
// (QEMU's cap_insn_split for x86).
const insnSplit = 8

// writeInsn writes one in_asm instruction line (and its continuation
// lines) in the layout of QEMU's cap_dump_insn.
func writeInsn(s *strings.Builder, addr uint64, b []byte, in disasm.Inst) {
	fmt.Fprintf(s, "0x%08x: ", addr)
	for i := 0; i < len(b) && i < insnSplit; i++ {
		fmt.Fprintf(s, " %02x", b[i])
	}
	if len(b) < insnSplit {
		s.WriteString(strings.Repeat(" ", 3*(insnSplit-len(b))))
	}
	ops := in.Operands
	if in.HasTarget {
		ops += fmt.Sprintf("  # 0x%x", in.Target)
	}
	fmt.Fprintf(s, "  %-8s %s\n", in.Mnemonic, ops)
	for i := insnSplit; i < len(b); i += insnSplit {
		fmt.Fprintf(s, "0x%08x: ", addr+uint64(i))
		for j := i; j < len(b) && j < i+insnSplit; j++ {
			fmt.Fprintf(s, " %02x", b[j])
		}
		s.WriteString("\n")
	}
}

// executing is cpu.Hooks.Exec: -d exec and -d cpu.
func (t *tracer) executing(c *cpu.CPU, b cpu.TraceBlock) {
	if !t.wants(c, b) {
		return
	}
	if t.limit != 0 && t.nExec >= t.limit {
		return
	}
	t.nExec++
	s := c.GetState()
	if t.exec {
		ptr := "(nil)"
		if b.Phys != ^uint64(0) {
			ptr = fmt.Sprintf("0x%x", b.Phys)
		}
		fmt.Fprintf(t.w, "Trace %d: %s [%016x/%016x/%08x/%08x] %s\n", c.ID, ptr,
			s.Seg[arch.CS].Base, b.Linear, tbFlags(&s, b.InterruptShadow), 0, t.syms.lookup(b.Linear))
	}
	if t.cpu {
		dumpState(t.w, &s, b.InterruptShadow)
	}
}

// QEMU's TB flags (target/i386/cpu.h, the HF_* bit positions of
// env->hflags, and cpu_get_tb_cpu_state, which adds EFLAGS' IOPL, TF,
// RF, VM and AC at their own positions), computed from the architectural
// state.
const (
	hfInhibitIRQ = 1 << 3
	hfCS32       = 1 << 4
	hfSS32       = 1 << 5
	hfAddSeg     = 1 << 6
	hfPE         = 1 << 7
	hfMP         = 1 << 9
	hfEM         = 1 << 10
	hfTS         = 1 << 11
	hfLMA        = 1 << 14
	hfCS64       = 1 << 15
	hfOSFXSR     = 1 << 22
	hfSMAP       = 1 << 23
	hfUMIP       = 1 << 27
)

func tbFlags(s *arch.State, shadow bool) uint32 {
	f := uint32(s.CPL())
	if shadow {
		f |= hfInhibitIRQ
	}
	cs, ss := &s.Seg[arch.CS], &s.Seg[arch.SS]
	code64 := s.Mode64()
	if cs.Attr&arch.ARDB != 0 || code64 {
		f |= hfCS32
	}
	if ss.Attr&arch.ARDB != 0 || code64 {
		f |= hfSS32
	}
	pe := s.CR0&arch.CR0PE != 0
	switch {
	case code64: // zero bases assumed
	case !pe || s.RFLAGS&arch.FlagVM != 0 || f&hfCS32 == 0:
		f |= hfAddSeg
	case s.Seg[arch.DS].Base|s.Seg[arch.ES].Base|ss.Base != 0:
		f |= hfAddSeg
	}
	if pe {
		f |= hfPE
	}
	for _, b := range []struct {
		on  bool
		bit uint32
	}{{s.CR0&arch.CR0MP != 0, hfMP}, {s.CR0&arch.CR0EM != 0, hfEM}, {s.CR0&arch.CR0TS != 0, hfTS},
		{s.LongMode(), hfLMA}, {code64, hfCS64}, {s.CR4&arch.CR4OSFXSR != 0, hfOSFXSR},
		{s.CR4&arch.CR4SMAP != 0, hfSMAP}, {s.CR4&arch.CR4UMIP != 0, hfUMIP}} {
		if b.on {
			f |= b.bit
		}
	}
	return f | uint32(s.RFLAGS&(arch.FlagIOPL|arch.FlagTF|arch.FlagRF|arch.FlagVM|arch.FlagAC))
}

// symbols are the kernel's ELF symbols, for the SYMBOL of in_asm and
// exec (QEMU's lookup_symbol: the symbol whose [value, value+size)
// holds the address; "" when none does).
type symbols []elf.Symbol

func loadSymbols(path string) symbols {
	f, err := elf.Open(path)
	if err != nil {
		return nil // not an ELF image: no symbols, as QEMU
	}
	defer f.Close()
	all, err := f.Symbols()
	if err != nil {
		return nil
	}
	var out symbols
	for _, s := range all {
		if s.Section == elf.SHN_UNDEF || s.Section >= elf.SHN_LORESERVE || elf.ST_TYPE(s.Info) == elf.STT_SECTION || s.Size == 0 {
			continue
		}
		out = append(out, s)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Value < out[j].Value })
	return out
}

func (ss symbols) lookup(addr uint64) string {
	i := sort.Search(len(ss), func(i int) bool { return ss[i].Value > addr })
	for j := i - 1; j >= 0 && j >= i-4; j-- {
		if addr < ss[j].Value+ss[j].Size {
			return ss[j].Name
		}
	}
	return ""
}

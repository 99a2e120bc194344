package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// logger writes the -d items vmxemu implements, in QEMU's formats
// (target/i386: do_interrupt_all for "int", x86_cpu_dump_state for the
// register dumps, cpu_reset for "cpu_reset").
type logger struct {
	w        io.Writer
	intCount int
	explain  bool
	intItem  bool // -d int
}

func (l *logger) exception(c *cpu.CPU, vec uint8, f *arch.Fault, external bool) {
	s := c.GetState()
	if external {
		fmt.Fprintf(l.w, "Servicing hardware INT=0x%02x\n", vec)
	}
	// QEMU logs the detailed line in protected mode only.
	if s.CR0&arch.CR0PE == 0 {
		return
	}
	isInt := 0
	if f == nil && !external {
		isInt = 1 // INT n
	}
	var code uint32
	if f != nil && f.HasError {
		code = f.Code
	}
	cs := s.Seg[arch.CS]
	fmt.Fprintf(l.w, "%6d: v=%02x e=%04x i=%d cpl=%d IP=%04x:%016x pc=%016x SP=%04x:%016x",
		l.intCount, vec, code, isInt, s.CPL(), cs.Selector, s.RIP, cs.Base+s.RIP,
		s.Seg[arch.SS].Selector, s.GPR[arch.RSP])
	if vec == arch.VecPF {
		addr := s.CR2
		if f != nil {
			addr = f.Addr
		}
		fmt.Fprintf(l.w, " CR2=%016x", addr)
	} else {
		fmt.Fprintf(l.w, " env->regs[R_EAX]=%016x", s.GPR[arch.RAX])
	}
	fmt.Fprintln(l.w)
	if l.explain && f != nil && (f.Rule != "" || f.SDM != "") {
		fmt.Fprintf(l.w, "vmxemu: %s\n", f.Error())
	}
	dumpState(l.w, &s, c.InterruptShadow())
	l.intCount++
}

// reset logs a CPU reset ("cpu_reset"): QEMU prints the state the CPU had
// before the reset.
func (l *logger) reset(id int, before *arch.State, why string) {
	if strings.Contains(why, "triple fault") {
		fmt.Fprintln(l.w, "Triple fault")
	}
	fmt.Fprintf(l.w, "CPU Reset (CPU %d)\n", id)
	dumpState(l.w, before, false) // a reset clears the shadow
}

// dumpState prints registers in the layout of QEMU 7.2's
// x86_cpu_dump_state (target/i386/cpu-dump.c) for qemu-system-x86_64,
// without its lazy-flags CCS/CCD/CCO line (vmxemu keeps none): the
// general registers and segment bases 64 bits wide in 64-bit code (CS.L
// with EFER.LMA), 32 bits otherwise; the descriptor-table registers, CR2,
// CR3 64 bits wide in IA-32e mode; each segment's descriptor flags (the
// high dword's bits 23:8, as the processor loaded them) and, in protected
// mode for a present segment, its DPL and type.
func dumpState(w io.Writer, s *arch.State, shadow bool) {
	cs64, lma := s.Mode64(), s.LongMode()
	fl := s.RFLAGS
	bit := func(mask uint64, c byte) byte {
		if fl&mask != 0 {
			return c
		}
		return '-'
	}
	flags := fmt.Sprintf("[%c%c%c%c%c%c%c] CPL=%d II=%d A20=1 SMM=0 HLT=0",
		bit(arch.FlagDF, 'D'), bit(arch.FlagOF, 'O'), bit(arch.FlagSF, 'S'),
		bit(arch.FlagZF, 'Z'), bit(arch.FlagAF, 'A'), bit(arch.FlagPF, 'P'), bit(arch.FlagCF, 'C'),
		s.CPL(), boolBit(shadow))
	g := &s.GPR
	if cs64 {
		fmt.Fprintf(w, "RAX=%016x RBX=%016x RCX=%016x RDX=%016x\n", g[arch.RAX], g[arch.RBX], g[arch.RCX], g[arch.RDX])
		fmt.Fprintf(w, "RSI=%016x RDI=%016x RBP=%016x RSP=%016x\n", g[arch.RSI], g[arch.RDI], g[arch.RBP], g[arch.RSP])
		fmt.Fprintf(w, "R8 =%016x R9 =%016x R10=%016x R11=%016x\n", g[arch.R8], g[arch.R9], g[arch.R10], g[arch.R11])
		fmt.Fprintf(w, "R12=%016x R13=%016x R14=%016x R15=%016x\n", g[arch.R12], g[arch.R13], g[arch.R14], g[arch.R15])
		fmt.Fprintf(w, "RIP=%016x RFL=%08x %s\n", s.RIP, fl, flags)
	} else {
		fmt.Fprintf(w, "EAX=%08x EBX=%08x ECX=%08x EDX=%08x\n", uint32(g[arch.RAX]), uint32(g[arch.RBX]), uint32(g[arch.RCX]), uint32(g[arch.RDX]))
		fmt.Fprintf(w, "ESI=%08x EDI=%08x EBP=%08x ESP=%08x\n", uint32(g[arch.RSI]), uint32(g[arch.RDI]), uint32(g[arch.RBP]), uint32(g[arch.RSP]))
		fmt.Fprintf(w, "EIP=%08x EFL=%08x %s\n", uint32(s.RIP), fl, flags)
	}
	pe := s.CR0&arch.CR0PE != 0
	seg := func(name string, sg *arch.Segment) {
		if cs64 {
			fmt.Fprintf(w, "%s=%04x %016x %08x %08x", name, sg.Selector, sg.Base, sg.Limit, descFlags(sg))
		} else {
			fmt.Fprintf(w, "%s=%04x %08x %08x %08x", name, sg.Selector, uint32(sg.Base), sg.Limit, descFlags(sg))
		}
		if pe && sg.Attr&arch.ARP != 0 {
			fmt.Fprintf(w, " DPL=%d %s", sg.Attr&arch.ARDPL>>5, segType(sg.Attr, lma))
		}
		fmt.Fprintln(w)
	}
	for i, n := range []string{"ES ", "CS ", "SS ", "DS ", "FS ", "GS "} {
		seg(n, &s.Seg[i])
	}
	seg("LDT", &s.LDTR)
	seg("TR ", &s.TR)
	if lma {
		fmt.Fprintf(w, "GDT=     %016x %08x\n", s.GDTR.Base, s.GDTR.Limit)
		fmt.Fprintf(w, "IDT=     %016x %08x\n", s.IDTR.Base, s.IDTR.Limit)
		fmt.Fprintf(w, "CR0=%08x CR2=%016x CR3=%016x CR4=%08x\n", uint32(s.CR0), s.CR2, s.CR3, uint32(s.CR4))
	} else {
		fmt.Fprintf(w, "GDT=     %08x %08x\n", uint32(s.GDTR.Base), s.GDTR.Limit)
		fmt.Fprintf(w, "IDT=     %08x %08x\n", uint32(s.IDTR.Base), s.IDTR.Limit)
		fmt.Fprintf(w, "CR0=%08x CR2=%08x CR3=%08x CR4=%08x\n", uint32(s.CR0), uint32(s.CR2), uint32(s.CR3), uint32(s.CR4))
	}
	// The debug registers are 64 bits wide in both layouts (QEMU prints
	// them as target_ulong), each of DR0-DR3 followed by a space.
	fmt.Fprintf(w, "DR0=%016x DR1=%016x DR2=%016x DR3=%016x \n", s.DR[0], s.DR[1], s.DR[2], s.DR[3])
	fmt.Fprintf(w, "DR6=%016x DR7=%016x\n", s.DR[6], s.DR[7])
	fmt.Fprintf(w, "EFER=%016x\n", s.EFER)
}

// descFlags is a segment's descriptor high dword, bits 23:8 (type, S,
// DPL, P, limit 19:16, AVL, L, D/B, G: SDM Vol. 3A 3.4.5), rebuilt from
// the segment cache: the access rights and the limit's bits 19:16 as
// the descriptor held them (the byte-granular limit shifted back when G
// is set). A segment loaded in real mode has a 64-KiB limit, so those
// bits are 0, as they are in QEMU's cache.
func descFlags(sg *arch.Segment) uint32 {
	raw := sg.Limit
	if sg.Attr&arch.ARG != 0 {
		raw >>= 12
	}
	return sg.Attr<<8&0x00F0FF00 | raw&0xF0000
}

// segType names a present segment's type as QEMU's dump does: CS16/CS32/
// CS64 with [conforming, readable, accessed], DS16 or "DS  " with
// [expand-down, writable, accessed], or the system-descriptor type
// (SDM Vol. 3A Table 3-2), its IA-32e-mode meaning when EFER.LMA is set.
func segType(attr uint32, lma bool) string {
	typ := attr & 0xF
	on := func(mask uint32, c byte) byte {
		if typ&mask != 0 {
			return c
		}
		return '-'
	}
	if attr&arch.ARS != 0 {
		var kind string
		var b1, b2 byte
		if typ&8 != 0 { // code
			kind = "CS16"
			switch {
			case attr&arch.ARL != 0:
				kind = "CS64"
			case attr&arch.ARDB != 0:
				kind = "CS32"
			}
			b1, b2 = on(4, 'C'), on(2, 'R')
		} else {
			kind = "DS16"
			if attr&arch.ARDB != 0 || lma {
				kind = "DS  "
			}
			b1, b2 = on(4, 'E'), on(2, 'W')
		}
		return fmt.Sprintf("%s [%c%c%c]", kind, b1, b2, on(1, 'A'))
	}
	legacy := [16]string{"Reserved", "TSS16-avl", "LDT", "TSS16-busy", "CallGate16", "TaskGate", "IntGate16", "TrapGate16",
		"Reserved", "TSS32-avl", "Reserved", "TSS32-busy", "CallGate32", "Reserved", "IntGate32", "TrapGate32"}
	ia32e := [16]string{"<hiword>", "Reserved", "LDT", "Reserved", "Reserved", "Reserved", "Reserved", "Reserved",
		"Reserved", "TSS64-avl", "Reserved", "TSS64-busy", "CallGate64", "Reserved", "IntGate64", "TrapGate64"}
	if lma {
		return ia32e[typ]
	}
	return legacy[typ]
}

func boolBit(b bool) int {
	if b {
		return 1
	}
	return 0
}

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
	dumpState(l.w, &s)
	l.intCount++
}

// reset logs a CPU reset ("cpu_reset"): QEMU prints the state the CPU had
// before the reset.
func (l *logger) reset(id int, before *arch.State, why string) {
	if strings.Contains(why, "triple fault") {
		fmt.Fprintln(l.w, "Triple fault")
	}
	fmt.Fprintf(l.w, "CPU Reset (CPU %d)\n", id)
	dumpState(l.w, before)
}

var gprNames = [16]string{"RAX", "RCX", "RDX", "RBX", "RSP", "RBP", "RSI", "RDI",
	"R8 ", "R9 ", "R10", "R11", "R12", "R13", "R14", "R15"}

// dumpState prints registers in the layout of QEMU's x86_cpu_dump_state
// for a 64-bit target.
func dumpState(w io.Writer, s *arch.State) {
	order := []int{arch.RAX, arch.RBX, arch.RCX, arch.RDX, arch.RSI, arch.RDI, arch.RBP, arch.RSP,
		arch.R8, arch.R9, arch.R10, arch.R11, arch.R12, arch.R13, arch.R14, arch.R15}
	for i, r := range order {
		sep := " "
		if i%4 == 3 {
			sep = "\n"
		}
		fmt.Fprintf(w, "%s=%016x%s", gprNames[r], s.GPR[r], sep)
	}
	fl := s.RFLAGS
	bit := func(mask uint64, c byte) byte {
		if fl&mask != 0 {
			return c
		}
		return '-'
	}
	hlt := 0
	fmt.Fprintf(w, "RIP=%016x RFL=%08x [%c%c%c%c%c%c%c] CPL=%d II=0 A20=1 SMM=0 HLT=%d\n",
		s.RIP, fl, bit(arch.FlagDF, 'D'), bit(arch.FlagOF, 'O'), bit(arch.FlagSF, 'S'),
		bit(arch.FlagZF, 'Z'), bit(arch.FlagAF, 'A'), bit(arch.FlagPF, 'P'), bit(arch.FlagCF, 'C'),
		s.CPL(), hlt)
	seg := func(name string, g *arch.Segment) {
		fmt.Fprintf(w, "%s=%04x %016x %08x %08x\n", name, g.Selector, g.Base, g.Limit, g.Attr<<8&0x00F0FF00)
	}
	for i, n := range []string{"ES ", "CS ", "SS ", "DS ", "FS ", "GS "} {
		seg(n, &s.Seg[i])
	}
	seg("LDT", &s.LDTR)
	seg("TR ", &s.TR)
	fmt.Fprintf(w, "GDT=     %016x %08x\n", s.GDTR.Base, s.GDTR.Limit)
	fmt.Fprintf(w, "IDT=     %016x %08x\n", s.IDTR.Base, s.IDTR.Limit)
	fmt.Fprintf(w, "CR0=%08x CR2=%016x CR3=%016x CR4=%08x\n", s.CR0, s.CR2, s.CR3, s.CR4)
	fmt.Fprintf(w, "DR0=%016x DR1=%016x DR2=%016x DR3=%016x\n", s.DR[0], s.DR[1], s.DR[2], s.DR[3])
	fmt.Fprintf(w, "DR6=%016x DR7=%016x\n", s.DR[6], s.DR[7])
	fmt.Fprintf(w, "EFER=%016x\n", s.EFER)
}

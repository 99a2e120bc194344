package msr

import (
	"fmt"
	"math/bits"
)

// Topology is the -smp processor topology. Logical processor i is thread
// i%Threads of core (i/Threads)%Cores of die ... of socket; its APIC ID
// packs the four indices in fields just wide enough for each count, as
// QEMU does (SDM Vol. 3A 10.4.5 "Identifying Logical Processors").
type Topology struct {
	Sockets, Dies, Cores, Threads int
}

// Flat is n single-threaded cores in one socket.
func Flat(n int) Topology { return Topology{Sockets: 1, Dies: 1, Cores: max(n, 1), Threads: 1} }

func (t Topology) norm() Topology {
	t.Sockets, t.Dies, t.Cores, t.Threads = max(t.Sockets, 1), max(t.Dies, 1), max(t.Cores, 1), max(t.Threads, 1)
	return t
}

// Validate checks the counts.
func (t Topology) Validate() error {
	n := t.norm()
	if n.Sockets*n.Dies*n.Cores*n.Threads > 255 {
		return fmt.Errorf("topology %d sockets x %d dies x %d cores x %d threads: more than 255 logical processors", n.Sockets, n.Dies, n.Cores, n.Threads)
	}
	return nil
}

func width(n int) uint {
	if n <= 1 {
		return 0
	}
	return uint(bits.Len(uint(n - 1)))
}

func (t Topology) shifts() (smt, core, die uint) {
	n := t.norm()
	smt = width(n.Threads)
	core = smt + width(n.Cores)
	die = core + width(n.Dies)
	return
}

// APICID returns the initial APIC ID of logical processor i.
func (t Topology) APICID(i int) uint32 {
	n := t.norm()
	smt, core, die := t.shifts()
	thread := i % n.Threads
	c := i / n.Threads % n.Cores
	d := i / (n.Threads * n.Cores) % n.Dies
	s := i / (n.Threads * n.Cores * n.Dies)
	return uint32(s<<die | d<<core | c<<smt | thread)
}

// topoCPUID fills the topology-dependent fields of the effective leaves
// for logical processor i (SDM Vol. 2A, CPUID leaves 01H, 04H, 0BH, 1FH).
func (t Topology) topoCPUID(i int, leaf, sub uint32, r Regs) Regs {
	n := t.norm()
	id := t.APICID(i)
	smt, core, die := t.shifts()
	switch leaf {
	case 1:
		// EBX[31:24] initial APIC ID, [23:16] addressable IDs per package;
		// EDX.HTT when a package holds more than one.
		perPkg := uint32(1) << die
		r.EBX = r.EBX&0xFFFF | min(perPkg, 255)<<16 | id<<24
		r.EDX &^= 1 << 28
		if perPkg > 1 {
			r.EDX |= 1 << 28
		}
	case 4:
		if r.EAX&0x1F == 0 {
			return r
		}
		level := r.EAX >> 5 & 7
		share := uint32(1)<<smt - 1
		if level >= 3 {
			share = uint32(1)<<die - 1
		}
		cores := uint32(1)<<(die-smt) - 1
		r.EAX = r.EAX&0x3FFF | share<<14 | cores<<26
	case 0xB, 0x1F:
		type lvl struct {
			shift uint
			count int
			typ   uint32
		}
		levels := []lvl{{smt, n.Threads, 1}, {core, n.Threads * n.Cores, 2}}
		if leaf == 0x1F && n.Dies > 1 {
			levels = append(levels, lvl{die, n.Threads * n.Cores * n.Dies, 5})
		} else {
			levels[1] = lvl{die, n.Threads * n.Cores * n.Dies, 2}
		}
		r = Regs{ECX: sub & 0xFF, EDX: id}
		if int(sub) < len(levels) {
			l := levels[sub]
			r.EAX = uint32(l.shift)
			r.EBX = uint32(l.count)
			r.ECX |= l.typ << 8
		}
	}
	return r
}

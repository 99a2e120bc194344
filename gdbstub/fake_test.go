package gdbstub

import (
	"errors"
	"fmt"
	"sync"

	"github.com/vmxemu/vmxemu/arch"
)

// fakeTarget is a machine whose CPUs "execute" one-byte instructions: each
// step adds 1 to RIP. A CPU that reaches exitAt ends the run with
// exitCode. Memory is a flat map of bytes.
type fakeTarget struct {
	mu       sync.Mutex // the tests read the state after Run
	regs     []Regs
	mem      map[uint64]byte
	exitAt   uint64 // 0: never
	exitCode int
	steps    int
	polls    int
}

func newFake(cpus int) *fakeTarget {
	f := &fakeTarget{regs: make([]Regs, cpus), mem: map[uint64]byte{}}
	for i := range f.regs {
		f.regs[i].RIP = 0x1000 + uint64(i)*0x100
		f.regs[i].GPR[arch.RAX] = 0x1111 * uint64(i+1)
		f.regs[i].RFLAGS = 2
		f.regs[i].CR0 = arch.CR0PE
	}
	for a := uint64(0x2000); a < 0x3000; a++ {
		f.mem[a] = byte(a)
	}
	return f
}

var errNoCPU = errors.New("no such CPU")

func (f *fakeTarget) NumCPUs() int { return len(f.regs) }

func (f *fakeTarget) Regs(cpu int) (Regs, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cpu < 0 || cpu >= len(f.regs) {
		return Regs{}, errNoCPU
	}
	return f.regs[cpu], nil
}

func (f *fakeTarget) SetRegs(cpu int, r Regs) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cpu < 0 || cpu >= len(f.regs) {
		return errNoCPU
	}
	f.regs[cpu] = r
	return nil
}

func (f *fakeTarget) ReadMem(_ int, addr uint64, buf []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range buf {
		b, ok := f.mem[addr+uint64(i)]
		if !ok {
			return errors.New("unmapped")
		}
		buf[i] = b
	}
	return nil
}

func (f *fakeTarget) WriteMem(_ int, addr uint64, data []byte) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	for i := range data {
		if _, ok := f.mem[addr+uint64(i)]; !ok {
			return errors.New("unmapped")
		}
	}
	for i, b := range data {
		f.mem[addr+uint64(i)] = b
	}
	return nil
}

func (f *fakeTarget) step(cpu int) bool {
	f.regs[cpu].RIP++
	f.steps++
	return f.exitAt != 0 && f.regs[cpu].RIP == f.exitAt
}

func (f *fakeTarget) Step(cpu int) (Stop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if cpu < 0 || cpu >= len(f.regs) {
		return Stop{}, errNoCPU
	}
	if f.step(cpu) {
		return Stop{Kind: StopExited, CPU: cpu, Code: f.exitCode}, nil
	}
	return Stop{Kind: StopStep, CPU: cpu}, nil
}

func (f *fakeTarget) Continue(brk func(int, uint64) bool, poll func() bool) (Stop, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	first := true
	for {
		f.polls++
		f.mu.Unlock()
		p := poll()
		f.mu.Lock()
		if p {
			return Stop{Kind: StopPolled}, nil
		}
		for n := 0; n < 100; n++ {
			for i := range f.regs {
				pc := f.regs[i].RIP
				if brk != nil && brk(i, pc) && !first {
					return Stop{Kind: StopBreakpoint, CPU: i, PC: pc}, nil
				}
				if f.step(i) {
					return Stop{Kind: StopExited, CPU: i, Code: f.exitCode}, nil
				}
			}
			first = false
		}
	}
}

func (f *fakeTarget) DescribeThread(cpu int) string { return "running" }

// Monitor echoes the command with the CPU it ran on; "fail" fails.
func (f *fakeTarget) Monitor(cpu int, cmd string) (string, error) {
	if cmd == "fail" {
		return "", fmt.Errorf("no such thing")
	}
	if cmd == "quiet" {
		return "", nil
	}
	return fmt.Sprintf("cpu %d: %s", cpu, cmd), nil
}

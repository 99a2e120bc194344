package main

import (
	"bufio"
	"bytes"
	"context"
	"debug/elf"
	"errors"
	"fmt"
	"github.com/vmxemu/vmxemu/internal/testenv"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
	"github.com/vmxemu/vmxemu/gdbstub"
	"github.com/vmxemu/vmxemu/guests"
)

// The end-to-end tests of the gdb stub: the vmxemu binary with -s/-S/-gdb
// and the real gdb (or, for Ctrl-C, which gdb -batch cannot send, a raw
// protocol client). Without gdb they skip, unless CI mode makes that a
// failure (internal/testenv).

func needTool(t *testing.T, tool, why string) string {
	t.Helper()
	return testenv.NeedTool(t, tool, why)
}

// buildVmxemu builds the vmxemu binary into a temporary directory.
func buildVmxemu(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "vmxemu")
	out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput()
	require.NoError(t, err, "go build: %s", out)
	return bin
}

// guestProc is a vmxemu process with its gdb port.
type guestProc struct {
	cmd    *exec.Cmd
	port   int
	stderr *syncBuffer
	done   chan struct{} // closed when the process ended and its stderr is read
	err    error
}

// syncBuffer is vmxemu's stderr, written by the goroutine that reads it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) WriteString(s string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.b.WriteString(s)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// wait returns the exit status.
func (p *guestProc) wait(t *testing.T) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		t.Fatal("vmxemu did not exit")
	}
	var ee *exec.ExitError
	if errors.As(p.err, &ee) {
		return ee.ExitCode()
	}
	require.NoError(t, p.err)
	return 0
}

// freePort returns a TCP port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// startGuest starts vmxemu with a gdb stub on a free port (-gdb cannot
// listen on port 0, so it picks one and retries if another process took
// it meanwhile). With -S among args it waits for the "waiting for gdb"
// line.
func startGuest(t *testing.T, bin string, args ...string) *guestProc {
	t.Helper()
	stopAtStart := false
	for _, a := range args {
		stopAtStart = stopAtStart || a == "-S"
	}
	for try := 0; try < 5; try++ {
		port := freePort(t)
		p := &guestProc{port: port, stderr: &syncBuffer{}, done: make(chan struct{})}
		all := append([]string{"-gdb", fmt.Sprintf("tcp:127.0.0.1:%d", port), "-time-limit", "60s"}, args...)
		p.cmd = exec.Command(bin, all...)
		pr, pw := io.Pipe()
		p.cmd.Stderr = pw
		require.NoError(t, p.cmd.Start())
		waiting := make(chan bool, 1)
		scanned := make(chan struct{})
		go func() {
			defer close(scanned)
			sc := bufio.NewScanner(pr)
			sent := false
			for sc.Scan() {
				p.stderr.WriteString(sc.Text() + "\n")
				if !sent && strings.Contains(sc.Text(), "waiting for gdb") {
					waiting <- true
					sent = true
				}
			}
			if !sent {
				waiting <- false
			}
		}()
		go func() {
			p.err = p.cmd.Wait()
			pw.Close()
			<-scanned
			close(p.done)
		}()
		t.Cleanup(func() {
			select {
			case <-p.done:
			default:
				_ = p.cmd.Process.Kill()
				<-p.done
			}
		})
		if !stopAtStart {
			return p
		}
		if <-waiting {
			return p
		}
		<-p.done
		if strings.Contains(p.stderr.String(), "address already in use") {
			continue
		}
		t.Fatalf("vmxemu exited before waiting for gdb: %v\n%s", p.err, p.stderr)
	}
	t.Fatal("no free port for the gdb stub")
	return nil
}

// gdbBatch runs gdb -batch with the commands against the guest's port and
// returns its output.
func gdbBatch(t *testing.T, port int, cmds ...string) string {
	t.Helper()
	gdb := needTool(t, "gdb", "the gdb stub tests run the real gdb")
	args := []string{"-batch", "-nx", "-ex", "set architecture i386:x86-64", "-ex", fmt.Sprintf("target remote 127.0.0.1:%d", port)}
	for _, c := range cmds {
		args = append(args, "-ex", c)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, gdb, args...).CombinedOutput()
	require.NoError(t, err, "gdb: %s", out)
	t.Logf("gdb output:\n%s", out)
	return string(out)
}

// regValue finds "name 0x... ..." in gdb's info registers output; the
// n-th occurrence (0-based).
func regValue(t *testing.T, out, name string, n int) uint64 {
	t.Helper()
	ms := regexp.MustCompile(`(?m)^`+name+`\s+0x([0-9a-f]+)`).FindAllStringSubmatch(out, -1)
	require.Greater(t, len(ms), n, "%s #%d in:\n%s", name, n, out)
	v, err := strconv.ParseUint(ms[n][1], 16, 64)
	require.NoError(t, err)
	return v
}

// xBytes finds the bytes of "x/Nxb ADDR" output at addr.
func xBytes(t *testing.T, out string, addr uint64) []byte {
	t.Helper()
	m := regexp.MustCompile(fmt.Sprintf(`(?m)^0x%x(?: <[^>]*>)?:\s+(.*)$`, addr)).FindStringSubmatch(out)
	require.NotNil(t, m, "x output at %#x in:\n%s", addr, out)
	var b []byte
	for _, f := range strings.Fields(m[1]) {
		v, err := strconv.ParseUint(strings.TrimPrefix(f, "0x"), 16, 8)
		require.NoError(t, err)
		b = append(b, byte(v))
	}
	return b
}

// A hand-assembled 64-bit flat binary at 0x100000 (-boot-mode flat64):
//
//	0x00: 48 c7 c0 11 11 00 00   mov rax, 0x1111
//	0x07: 48 c7 c3 22 22 00 00   mov rbx, 0x2222
//	0x0e: 48 c7 c1 33 33 00 00   mov rcx, 0x3333    <- breakpoint
//	0x15: 48 01 d8               add rax, rbx
//	0x18: b8 10 00 00 00         mov eax, 0x10
//	0x1d: e7 f4                  out 0xf4, eax      (isa-debug-exit: status 33)
//	0x1f: f4                     hlt
var flat64Prog = []byte{
	0x48, 0xc7, 0xc0, 0x11, 0x11, 0x00, 0x00,
	0x48, 0xc7, 0xc3, 0x22, 0x22, 0x00, 0x00,
	0x48, 0xc7, 0xc1, 0x33, 0x33, 0x00, 0x00,
	0x48, 0x01, 0xd8,
	0xb8, 0x10, 0x00, 0x00, 0x00,
	0xe7, 0xf4,
	0xf4,
}

func TestGDB(t *testing.T) {
	needTool(t, "gdb", "the gdb stub tests run the real gdb")
	bin := buildVmxemu(t)

	t.Run("flat64 -S: registers, breakpoint, memory, stepi, register write, exit", func(t *testing.T) {
		const base = 0x100000
		const brk, add = base + 0x0e, base + 0x15
		img := kernel(t, flat64Prog...)
		p := startGuest(t, bin, "-S", "-nodefaults", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
			"-boot-mode", "flat64", "-kernel", img)
		out := gdbBatch(t, p.port,
			"info registers rip",
			fmt.Sprintf("break *%#x", brk),
			"continue",
			"info registers rip rax rbx",
			fmt.Sprintf("x/7xb %#x", brk),
			"stepi",
			"info registers rip rcx",
			"set $rbx = 5",
			"stepi",
			"info registers rax",
			"info threads",
			"continue")
		assert.Equal(t, uint64(base), regValue(t, out, "rip", 0), "-S stops at the entry point")
		assert.Contains(t, out, fmt.Sprintf("Breakpoint 1, 0x%016x", brk))
		assert.Equal(t, uint64(brk), regValue(t, out, "rip", 1))
		assert.Equal(t, uint64(0x1111), regValue(t, out, "rax", 0))
		assert.Equal(t, uint64(0x2222), regValue(t, out, "rbx", 0))
		assert.Equal(t, flat64Prog[0x0e:0x15], xBytes(t, out, brk), "memory as in the image")
		assert.Equal(t, uint64(add), regValue(t, out, "rip", 2), "stepi over a 7-byte mov")
		assert.Equal(t, uint64(0x3333), regValue(t, out, "rcx", 0))
		assert.Equal(t, uint64(0x1111+5), regValue(t, out, "rax", 1), "the add used gdb's rbx")
		assert.Contains(t, out, "Thread 1 (CPU#0 [running])")
		assert.Contains(t, out, "exited with code 041", "W reply with the debug-exit status")
		assert.Equal(t, 0x10<<1|1, p.wait(t), p.stderr)
	})

	t.Run("multiboot ELF -S: entry point, breakpoint on a symbol, kill", func(t *testing.T) {
		for _, tool := range []string{"gcc", "ld", "objcopy"} {
			needTool(t, tool, "the guest kernels are built with gcc and binutils")
		}
		kern, err := guests.Build("hello", t.TempDir())
		require.NoError(t, err)
		f, err := elf.Open(kern)
		require.NoError(t, err)
		defer f.Close()
		syms, err := f.Symbols()
		require.NoError(t, err)
		var kmain uint64
		for _, s := range syms {
			if s.Name == "kmain" {
				kmain = s.Value
			}
		}
		require.NotZero(t, kmain, "kmain in the ELF symbols")
		want := make([]byte, 4)
		for _, pr := range f.Progs {
			if pr.Type == elf.PT_LOAD && kmain >= pr.Vaddr && kmain+4 <= pr.Vaddr+pr.Filesz {
				_, err := pr.ReadAt(want, int64(kmain-pr.Vaddr))
				require.NoError(t, err)
			}
		}

		p := startGuest(t, bin, "-S", "-nographic", "-no-reboot", "-device", "isa-debug-exit,iobase=0xf4,iosize=4",
			"-kernel", kern, "-append", "hi")
		out := gdbBatch(t, p.port,
			"info registers rip",
			fmt.Sprintf("break *%#x", kmain),
			"continue",
			"info registers rip",
			fmt.Sprintf("x/4xb %#x", kmain),
			"stepi",
			"info registers rip",
			"kill")
		assert.Equal(t, f.Entry, regValue(t, out, "rip", 0), "-S stops at the ELF entry point")
		assert.Equal(t, kmain, regValue(t, out, "rip", 1))
		assert.Equal(t, want, xBytes(t, out, kmain), "memory as in the ELF file")
		assert.NotEqual(t, kmain, regValue(t, out, "rip", 2), "stepi moved on")
		assert.Equal(t, cli.ExitOK, p.wait(t), "kill ends vmxemu with status 0, as QEMU")
		assert.Contains(t, p.stderr.String(), "terminated via the gdb stub")
	})

	t.Run("-gdb without -S: runs at once, connect stops it, Ctrl-C, detach", func(t *testing.T) {
		// 0x100000: eb fe  jmp $ (flat32)
		img := kernel(t, 0xEB, 0xFE)
		p := startGuest(t, bin, "-nodefaults", "-boot-mode", "flat32", "-kernel", img)
		c := dialStub(t, p)
		assert.Equal(t, "T05thread:1;", c.ask("?"), "connecting stopped the guest")
		assert.Equal(t, "0000100000000000", c.ask("p10"), "rip (register 16) at the loop")
		c.send("c")
		c.raw("\x03")
		assert.Equal(t, "T02thread:1;", c.recv(), "Ctrl-C stops it with SIGINT")
		assert.Equal(t, "OK", c.ask("D"))
		c.conn.Close()
		// The guest runs on; a new debugger stops it and kills it.
		c = dialStub(t, p)
		assert.Equal(t, "T05thread:1;", c.ask("?"))
		c.send("k")
		assert.Equal(t, cli.ExitOK, p.wait(t), p.stderr)
	})
}

// stubClient is a raw GDB protocol client (ack mode).
type stubClient struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

// dialStub connects to a guest's stub, retrying while vmxemu starts.
func dialStub(t *testing.T, p *guestProc) *stubClient {
	t.Helper()
	var conn net.Conn
	require.Eventually(t, func() bool {
		var err error
		conn, err = net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", p.port))
		return err == nil
	}, 20*time.Second, 20*time.Millisecond, "connect to the stub: %s", p.stderr)
	t.Cleanup(func() { conn.Close() })
	require.NoError(t, conn.SetDeadline(time.Now().Add(20*time.Second)))
	return &stubClient{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (c *stubClient) raw(s string) {
	_, err := c.conn.Write([]byte(s))
	require.NoError(c.t, err)
}

func (c *stubClient) send(payload string) {
	c.t.Helper()
	c.raw(string(gdbstub.Frame([]byte(payload))))
	b, err := c.r.ReadByte()
	require.NoError(c.t, err)
	require.Equal(c.t, byte('+'), b)
}

func (c *stubClient) recv() string {
	c.t.Helper()
	_, err := c.r.ReadString('$')
	require.NoError(c.t, err)
	data, err := c.r.ReadString('#')
	require.NoError(c.t, err)
	_, err = c.r.Discard(2)
	require.NoError(c.t, err)
	_, _ = c.conn.Write([]byte("+")) // best effort: the stub may have closed
	return strings.TrimSuffix(data, "#")
}

func (c *stubClient) ask(payload string) string {
	c.t.Helper()
	c.send(payload)
	return c.recv()
}

// TestGDBVMX: the real gdb on the event-log scenario (vmxlog_test.go):
// run to a VMLAUNCH, the monitor commands, step through a failed VM entry
// and into the guest, a -break-on stop, continue to the end.
func TestGDBVMX(t *testing.T) {
	needTool(t, "gdb", "the gdb stub tests run the real gdb")
	bin := buildVmxemu(t)
	const launchFail, launch = 0x1000ae, 0x1000f3 // the two VMLAUNCHes (scenario.S)
	p := startGuest(t, bin, append([]string{"-S"}, scenarioArgs("-break-on", "vmexit=rdmsr")...)...)
	out := gdbBatch(t, p.port,
		fmt.Sprintf("break *%#x", launchFail),
		"continue",
		"monitor vmx",
		"monitor vmcs",
		"monitor vmcs guest rflags",
		"monitor vmcs 0x681e",
		"monitor explain",
		"stepi",
		"info registers rip",
		"monitor explain",
		"monitor msr 3a",
		fmt.Sprintf("break *%#x", launch),
		"continue",
		"stepi",
		"info registers rip",
		"monitor vmx",
		"info threads",
		"continue",
		"info registers rip",
		"monitor vmcs exit reason",
		"monitor vmcs no such field",
		"monitor vmcs 0x2402",
		"monitor msr zz",
		"monitor msr 480",
		"monitor msr 491",
		"continue")
	assert.Contains(t, out, fmt.Sprintf("Breakpoint 1, 0x%016x", launchFail))
	// monitor vmx at the VMLAUNCH: VMXON and VMPTRLD succeeded on the
	// regions the scenario uses, VMCLEAR left the launch state clear.
	assert.Contains(t, out, "CPU 0 (thread 1, gdb's current thread):\n  VMX: VMX root operation\n  VMXON pointer: 0x180000\n  current VMCS: 0x181000\n  active VMCS: 0x181000 (launch state clear)\n")
	assert.Contains(t, out, "VMCS 0x181000: revision 0x10, launch state clear\n", "the whole VMCS; revision 16 (the Sandy Bridge EP dump)")
	assert.Contains(t, out, "6820 Guest RFLAGS = 0x0\n", "the scenario leaves guest RFLAGS 0")
	assert.Contains(t, out, fmt.Sprintf("681e Guest RIP = %#x\n", scenGuest))
	assert.Regexp(t, `last fault: VMfail: CPU 0, icount 15, CS:RIP 0008:0x100054, bytes 0f c7 76 10 \(vmptrld qword ptr \[rsi \+ 0x10\]\): .*VM-instruction error 11 `, out)
	// The failed VM entry loads host state (SDM Vol. 3C 28.8): stepi over
	// VMLAUNCH lands on host RIP.
	assert.Equal(t, uint64(scenHost), regValue(t, out, "rip", 0))
	assert.Regexp(t, `last fault: VM-entry failure: .*exit reason 33 .*\(SDM Vol. 3C 27.3.1.4\)`, out)
	assert.Contains(t, out, "MSR 0x3a (IA32_FEATURE_CONTROL) = 0x5\n", "the firmware's default: locked, VMX outside SMX (bits 0, 2)")
	// stepi over the second VMLAUNCH enters the guest.
	assert.Equal(t, uint64(scenGuest), regValue(t, out, "rip", 1))
	assert.Contains(t, out, "  VMX: VMX non-root operation\n")
	assert.Contains(t, out, "active VMCS: 0x181000 (launch state launched)")
	assert.Contains(t, out, "Thread 1 (CPU#0 [running, VMX non-root])", "gdb sees the guest as such")
	// -break-on vmexit=rdmsr: SIGTRAP at host RIP after the RDMSR exit.
	assert.Contains(t, out, "Program received signal SIGTRAP")
	assert.Equal(t, uint64(scenHost), regValue(t, out, "rip", 2))
	assert.Contains(t, out, "4402 Exit reason = 0x1f\n", "exit reason 31 (RDMSR)")
	assert.Contains(t, out, `"no such field": no VMCS field has this name`)
	assert.Contains(t, out, "vmcs 0x2402: no VMCS at 0x2402 is active on CPU 0, and no field has this encoding")
	assert.Contains(t, out, "msr zz: not a hexadecimal MSR index")
	// The Sandy Bridge EP dump's 0x00DA040000000010 with bit 49 (dual-monitor
	// treatment) clear, as the guest sees it (docs/VMX.md "The CPU models").
	assert.Contains(t, out, fmt.Sprintf("MSR 0x480 (IA32_VMX_BASIC) = %#x\n", uint64(0x00DA040000000010)&^(1<<49)))
	assert.Regexp(t, `MSR 0x491 \(IA32_VMX_VMFUNC\): RDMSR would raise #GP\(0x0\)`, out, "no secondary controls: IA32_VMX_VMFUNC does not exist (docs/VMX.md)")
	assert.Contains(t, out, "exited with code 041")
	assert.Equal(t, 0x10<<1|1, p.wait(t), p.stderr)
	assert.Contains(t, p.stderr.String(), "vmxemu: CPU 0 stopped: -break-on vmexit: guest RIP 0x10010f: VM exit: reason 31 (RDMSR)")
}

// TestGDBWalk: the real gdb on the EPT scenario (eptlog_test.go): a
// breakpoint in the guest after its on-demand mappings, "monitor walk"
// of the address the guest read through two EPT violations — the
// two-dimensional walk — of an unmapped one, and of a path the guest
// never used, whose guest paging-structure entry keeps its accessed flag
// clear; "monitor walk guest gla" from the host after the VMCALL exit.
// docs/GDB.md shows this session: its monitor output must be gdb's.
func TestGDBWalk(t *testing.T) {
	needTool(t, "gdb", "the gdb stub tests run the real gdb")
	bin := buildVmxemu(t)
	p := startGuest(t, bin, append([]string{"-S"}, eptArgs()...)...)
	out := gdbBatch(t, p.port,
		fmt.Sprintf("break *%#x", eptWalked),
		"continue",
		"monitor walk 40000000",
		"monitor walk 80000000 write",
		"x/gx 0x1b1018",
		"monitor walk c0001000 fetch user",
		"x/gx 0x1b1018",
		"monitor walk zz",
		fmt.Sprintf("break *%#x", eptDone),
		"continue",
		"monitor walk gla",
		"monitor walk guest 40000000 write",
		"continue")
	assert.Contains(t, out, fmt.Sprintf("Breakpoint 1, 0x%016x", eptWalked))
	// 4-level guest paging from guest CR3 0x1b0000 (SDM Vol. 3A 4.5.4):
	// PML4E 0 at 0x1b0000, PDPTE 1 at 0x1b1008, PDE 0 at 0x1c0000 (the PD
	// the host mapped on demand), a 2-MiB page at guest-physical 0x200000;
	// each entry through EPT (Vol. 3C 29.3.2: PML4E at 0x190000, PDPTE at
	// 0x191000, PDE at 0x192000 + gpa[29:21] << 3, PTE at 0x193000 +
	// gpa[20:12] << 3), and 0x200000 through the 2-MiB EPT page the host
	// mapped.
	for _, s := range []string{
		"walk of linear address 0x40000000 for a supervisor read (CPU 0, VMX non-root)\n",
		"PML4E[0] at guest-physical 0x1b0000 = 0x00000000001b1023  xd ps d A pcd pwt u W P\n",
		"  EPT PTE   [432] at 0x193d80 = ",
		"PDPTE[1] at guest-physical 0x1b1008 = 0x00000000001c0023  xd ps d A pcd pwt u W P\n",
		"PDE[0] at guest-physical 0x1c0000 = 0x00000000002000a3  xd g PS d A pcd pwt u W P\n",
		"  EPT PTE   [448] at 0x193e00 = 0x00000000001c0037  read+write+execute  -> page 0x1c0000, WB\n",
		"linear 0x40000000 -> guest-physical 0x200000 (2 MiB page; writable, supervisor, executable; PAT index 0: WB)\n",
		"  EPT PDE   [  1] at 0x192008 = 0x00000000002000b7  read+write+execute  -> page 0x200000, WB\n",
		"guest-physical 0x200000 -> host-physical 0x200000 (2 MiB EPT page; read+write+execute; EPT memory type WB, ignore PAT 0)\n",
		"result: host-physical 0x200000\n",
	} {
		assert.Contains(t, out, s)
	}
	// PDPTE 2 is 0: #PF, not present, a supervisor write: error code 2
	// (W/R) (Vol. 3A 4.7).
	assert.Contains(t, out, "fails: #PF(0x2) at 0x80000000: PDPTE not present (P=0)")
	// A user fetch through supervisor entries: #PF(P|U/S) = 5 (I/D stays
	// 0: CR4.SMEP = 0 and IA32_EFER.NXE = 0, Vol. 3A 4.7), and the walk
	// set no accessed flag in PDPTE 3 (0x1b2003 before and after).
	assert.Contains(t, out, "walk of linear address 0xc0001000 for a user fetch")
	assert.Contains(t, out, "fails: #PF(0x5) at 0xc0001000: user-mode instruction fetch from supervisor-mode page")
	assert.Equal(t, 2, strings.Count(out, "0x1b1018:\t0x00000000001b2003"), "no A flag set:\n%s", out)
	assert.Contains(t, out, `walk: "zz" is not an address`)
	// After the VMCALL exit, in the host (done:): the exit records no
	// guest-linear address; walk guest explains in the guest's context
	// from the VMCS.
	assert.Contains(t, out, "gla: a VM exit with basic reason 18 (VMCALL) records no guest-linear address (SDM Vol. 3C 28.2.1)")
	assert.Contains(t, out, "walk of linear address 0x40000000 for a supervisor write (CPU 0, the guest of VMCS 0x181000)\n")
	assert.Contains(t, out, "exited with code 041")
	assert.Equal(t, 0x10<<1|1, p.wait(t), p.stderr)

	// -walk with gdb attached: printed on stderr after each stop's line.
	p = startGuest(t, bin, append([]string{"-S"}, eptArgs("-break-on", "vmexit=ept-violation", "-walk", "gla")...)...)
	out2 := gdbBatch(t, p.port, "continue", "continue", "kill")
	assert.Contains(t, out2, "Program received signal SIGTRAP")
	assert.Equal(t, cli.ExitOK, p.wait(t), p.stderr)
	e := p.stderr.String()
	assert.Regexp(t, `vmxemu: CPU 0 stopped: -break-on vmexit: guest RIP 0x10021d: .* \(gdb sees SIGTRAP\)\nvmxemu: -walk:\ngla: the guest-linear address of the VM exit \(reason 48, EPT violation\)\nwalk of linear address 0x1a0000 for a supervisor read`, e)
	assert.Contains(t, e, "walk of linear address 0x1a1000 for a supervisor write", "the second stop's: the write the violation reported")

	// docs/GDB.md's transcript of this session.
	doc, err := os.ReadFile("../../docs/GDB.md")
	require.NoError(t, err)
	block := docBlock(t, string(doc), "(gdb) monitor walk 40000000\n")
	assert.Contains(t, out, block, "docs/GDB.md's monitor walk output is what gdb prints")
}

// docBlock returns the lines of doc after the line start up to the next
// "(gdb)" or "```" line.
func docBlock(t *testing.T, doc, start string) string {
	t.Helper()
	i := strings.Index(doc, start)
	require.GreaterOrEqual(t, i, 0, "%q in the document", start)
	rest := doc[i+len(start):]
	var b strings.Builder
	for _, l := range strings.SplitAfter(rest, "\n") {
		if strings.HasPrefix(l, "(gdb)") || strings.HasPrefix(l, "```") {
			break
		}
		b.WriteString(l)
	}
	require.NotEmpty(t, b.String())
	return b.String()
}

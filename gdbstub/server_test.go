package gdbstub

import (
	"bufio"
	"context"
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
)

// stub is a Server.Run under test with its result.
type stub struct {
	t      *testing.T
	fake   *fakeTarget
	addr   string
	cancel context.CancelFunc
	done   chan struct{}
	stop   Stop
	err    error
}

func startStub(t *testing.T, f *fakeTarget, stopped bool) *stub {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	s := &stub{t: t, fake: f, addr: ln.Addr().String(), cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		s.stop, s.err = (&Server{Target: f}).Run(ctx, ln, stopped)
	}()
	t.Cleanup(func() {
		cancel()
		s.wait()
	})
	return s
}

// wait waits for Run to return.
func (s *stub) wait() {
	s.t.Helper()
	select {
	case <-s.done:
	case <-time.After(10 * time.Second):
		s.t.Fatal("Server.Run did not return")
	}
}

// client is a minimal gdb: it sends packets and reads replies.
type client struct {
	t     *testing.T
	conn  net.Conn
	r     *bufio.Reader
	noAck bool
}

func (s *stub) dial() *client {
	s.t.Helper()
	c, err := net.Dial("tcp", s.addr)
	require.NoError(s.t, err)
	s.t.Cleanup(func() { c.Close() })
	require.NoError(s.t, c.SetDeadline(time.Now().Add(10*time.Second)))
	return &client{t: s.t, conn: c, r: bufio.NewReader(c)}
}

func (c *client) sendRaw(b string) {
	c.t.Helper()
	_, err := c.conn.Write([]byte(b))
	require.NoError(c.t, err)
}

// send sends a packet and, in ack mode, expects the stub's '+'.
func (c *client) send(payload string) {
	c.t.Helper()
	c.sendRaw(string(Frame([]byte(payload))))
	if !c.noAck {
		b, err := c.r.ReadByte()
		require.NoError(c.t, err)
		require.Equal(c.t, byte('+'), b, "ack for %q", payload)
	}
}

// recv reads one reply packet, checks its checksum and acks it.
func (c *client) recv() string {
	c.t.Helper()
	for {
		b, err := c.r.ReadByte()
		require.NoError(c.t, err)
		if b == '$' {
			break
		}
		require.Equal(c.t, byte('+'), b, "unexpected byte before a packet")
	}
	data, err := c.r.ReadString('#')
	require.NoError(c.t, err)
	data = data[:len(data)-1]
	var cs [2]byte
	_, err = c.r.Read(cs[:1])
	require.NoError(c.t, err)
	_, err = c.r.Read(cs[1:])
	require.NoError(c.t, err)
	var sum byte
	for i := 0; i < len(data); i++ {
		sum += data[i]
	}
	require.Equal(c.t, fmt.Sprintf("%02x", sum), string(cs[:]), "checksum of %q", data)
	if !c.noAck {
		// The stub may have closed the connection after its last
		// reply (W, X): the ack is best effort.
		_, _ = c.conn.Write([]byte("+"))
	}
	return data
}

func (c *client) ask(payload string) string {
	c.t.Helper()
	c.send(payload)
	return c.recv()
}

func le64hex(v uint64) string {
	var b [8]byte
	for i := range b {
		b[i] = byte(v >> (8 * i))
	}
	return hex.EncodeToString(b[:])
}

// Register numbers of the layout.
func regnum(t *testing.T, name string) int {
	for i, r := range layout {
		if r.name == name {
			return i
		}
	}
	t.Fatalf("no register %s", name)
	return -1
}

func TestPackets(t *testing.T) {
	f := newFake(2)
	s := startStub(t, f, true)
	c := s.dial()
	rip := fmt.Sprintf("%x", regnum(t, "rip"))
	for _, tc := range []struct {
		send, want string
	}{
		{"?", "T05thread:1;"},
		{"qSupported:multiprocess+;swbreak+;hwbreak+;qRelocInsn+", "PacketSize=4000;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+"},
		{"qAttached", "1"},
		{"qC", "QC1"},
		{"qfThreadInfo", "m1,2"},
		{"qsThreadInfo", "l"},
		{"qThreadExtraInfo,2", hex.EncodeToString([]byte("CPU#1 [running]"))},
		// qRcmd (gdb's "monitor"): the output hex-encoded, newline-ended;
		// an error's text the same way; no output is OK.
		{"qRcmd," + hex.EncodeToString([]byte("vmx")), hex.EncodeToString([]byte("cpu 0: vmx\n"))},
		{"qRcmd," + hex.EncodeToString([]byte("fail")), hex.EncodeToString([]byte("no such thing\n"))},
		{"qRcmd," + hex.EncodeToString([]byte("quiet")), "OK"},
		{"qRcmd,zz", "E16"},
		{"T2", "OK"},
		{"T3", "E16"},
		{"vCont?", "vCont;c;C;s;S"},
		{"vMustReplyEmpty", ""},
		{"qTStatus", ""},
		{"Z2,2000,4", ""}, // watchpoints are not supported
		{"p" + rip, le64hex(0x1000)},
		{"p0", le64hex(0x1111)},
		{"Hg2", "OK"},
		{"p" + rip, le64hex(0x1100)},
		{"p0", le64hex(0x2222)},
		{"P" + rip + "=" + le64hex(0x1234), "OK"},
		{"p" + rip, le64hex(0x1234)},
		{"Hg1", "OK"},
		{"p" + rip, le64hex(0x1000)},
		{"Hg9", "E16"},
		{"p999", "E16"},
		{"pzz", "E16"},
		{"P0=12", "E16"}, // wrong size
		{"m2000,4", "00010203"},
		{"m2ffe,4", "feff"}, // short read at the end of memory
		{"m5000,4", "E0e"},
		{"m2000", "E16"},
		{"M2000,2:abcd", "OK"},
		{"m2000,3", "abcd02"},
		{"M2000,2:abc", "E16"},
		{"M5000,1:00", "E0e"},
		{"X2000,0:", "OK"},
		{"X2000,2:}\x03}\x5d", "OK"}, // escaped '#' and '}'
		{"m2000,2", "237d"},
		{"Z0,1010,1", "OK"},
		{"z0,1010,1", "OK"},
		{"Z0,zz,1", "E16"},
		{"Z0,10", "E16"},
		{"Hc-1", "OK"},
		{"Hx1", "E16"},
		{"!", ""},
		{"qXfer:features:read:other.xml:0,100", "E00"},
		{"qXfer:features:read:target.xml:100000,100", "l"},
		{"vCont;x", "E16"},
		{"bogus", ""},
	} {
		assert.Equal(t, tc.want, c.ask(tc.send), "%q", tc.send)
	}
	c.send("k")
	s.wait()
	require.NoError(t, s.err)
	assert.Equal(t, StopKilled, s.stop.Kind)
}

func TestGPacketRoundTrip(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	g := c.ask("g")
	require.Len(t, g, 2*regsSize)
	b, err := hex.DecodeString(g)
	require.NoError(t, err)
	assert.Equal(t, le64hex(0x1111), hex.EncodeToString(b[:8]), "rax first")
	// rbx := 0x55, written back with G.
	copy(b[8:16], []byte{0x55, 0, 0, 0, 0, 0, 0, 0})
	assert.Equal(t, "OK", c.ask("G"+hex.EncodeToString(b)))
	assert.Equal(t, "E16", c.ask("Gxyz"))
	c.send("k")
	s.wait()
	assert.Equal(t, uint64(0x55), f.regs[0].GPR[arch.RBX])
	assert.Equal(t, uint64(0x1111), f.regs[0].GPR[arch.RAX])
}

// gdb reads the target description in chunks; it must be well-formed XML
// naming every register of the layout, in order.
func TestTargetXML(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	var doc strings.Builder
	for off := 0; ; {
		r := c.ask(fmt.Sprintf("qXfer:features:read:target.xml:%x,%x", off, 0x200))
		require.NotEmpty(t, r)
		data, err := unescape([]byte(r[1:]))
		require.NoError(t, err)
		doc.Write(data)
		off += len(data)
		if r[0] == 'l' {
			break
		}
		require.Equal(t, byte('m'), r[0])
	}
	c.send("k")
	s.wait()
	assert.Equal(t, targetXML, doc.String())

	var tgt struct {
		Arch     string `xml:"architecture"`
		Features []struct {
			Name string `xml:"name,attr"`
			Regs []struct {
				Name    string `xml:"name,attr"`
				Bitsize int    `xml:"bitsize,attr"`
				Regnum  int    `xml:"regnum,attr"`
			} `xml:"reg"`
		} `xml:"feature"`
	}
	require.NoError(t, xml.Unmarshal([]byte(doc.String()), &tgt))
	assert.Equal(t, "i386:x86-64", tgt.Arch)
	var names []string
	n := 0
	for _, f := range tgt.Features {
		for _, r := range f.Regs {
			assert.Equal(t, n, r.Regnum, r.Name)
			names = append(names, r.Name)
			n++
		}
	}
	// gdb's amd64 core registers, in its order (amd64-tdep.c).
	want := "rax rbx rcx rdx rsi rdi rbp rsp r8 r9 r10 r11 r12 r13 r14 r15 rip eflags cs ss ds es fs gs " +
		"st0 st1 st2 st3 st4 st5 st6 st7 fctrl fstat ftag fiseg fioff foseg fooff fop"
	assert.Equal(t, want, strings.Join(names[:40], " "))
	assert.Equal(t, "xmm0", names[40])
	assert.Equal(t, "mxcsr", names[56])
	assert.Equal(t, "fs_base gs_base k_gs_base cr0 cr2 cr3 cr4 cr8 efer pkru", strings.Join(names[57:], " "))
	assert.Equal(t, []string{"org.gnu.gdb.i386.core", "org.gnu.gdb.i386.sse", "org.gnu.gdb.i386.segments", "org.vmxemu.gdb.i386.system", "org.gnu.gdb.i386.pkeys"},
		[]string{tgt.Features[0].Name, tgt.Features[1].Name, tgt.Features[2].Name, tgt.Features[3].Name, tgt.Features[4].Name})
	// gdb's 64bit-pkeys.xml: one 32-bit register named pkru.
	require.Len(t, tgt.Features[4].Regs, 1)
	assert.Equal(t, 32, tgt.Features[4].Regs[0].Bitsize)
}

func TestBreakpointStopReplies(t *testing.T) {
	for _, tc := range []struct {
		name, insert, want string
	}{
		{"software", "Z0,1005,1", "T05thread:1;swbreak:;"},
		{"hardware", "Z1,1005,1", "T05thread:1;hwbreak:;"},
		{"second CPU", "Z0,1105,1", "T05thread:2;swbreak:;"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(2)
			s := startStub(t, f, true)
			c := s.dial()
			assert.Equal(t, "OK", c.ask(tc.insert))
			assert.Equal(t, tc.want, c.ask("vCont;c"))
			assert.Equal(t, tc.want, c.ask("?"), "? repeats the last stop")
			// The stopped CPU is now the current thread.
			assert.Equal(t, "QC"+tc.want[10:11], c.ask("qC"))
			c.send("k")
			s.wait()
		})
	}
}

func TestStep(t *testing.T) {
	f := newFake(2)
	s := startStub(t, f, true)
	c := s.dial()
	assert.Equal(t, "T05thread:1;", c.ask("s"))
	assert.Equal(t, "T05thread:2;", c.ask("vCont;s:2;c"))
	assert.Equal(t, "T05thread:1;", c.ask("vCont;s:1"))
	assert.Equal(t, "T05thread:1;", c.ask("s2000"), "step from an address")
	assert.Equal(t, "T05thread:1;", c.ask("S05;3000"))
	c.send("k")
	s.wait()
	assert.Equal(t, uint64(0x3001), f.regs[0].RIP)
	assert.Equal(t, uint64(0x1101), f.regs[1].RIP)
}

func TestInterrupt(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	c.send("c")
	c.sendRaw("\x03")
	assert.Equal(t, "T02thread:1;", c.recv())
	assert.Equal(t, "OK", c.ask("D"))
	// Detached: the guest runs on, and the stub accepts a new debugger
	// (which stops it).
	c2 := s.dial()
	assert.Equal(t, "T05thread:1;", c2.ask("?"))
	c2.send("k")
	s.wait()
	assert.Equal(t, StopKilled, s.stop.Kind)
}

func TestExit(t *testing.T) {
	for _, tc := range []struct {
		name   string
		resume string
	}{
		{"continue", "c"},
		{"step", "s"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFake(1)
			f.exitAt, f.exitCode = 0x1001, 0x21
			s := startStub(t, f, true)
			c := s.dial()
			assert.Equal(t, "W21", c.ask(tc.resume))
			s.wait()
			require.NoError(t, s.err)
			assert.Equal(t, Stop{Kind: StopExited, Code: 0x21}, s.stop)
		})
	}
}

func TestNoAckMode(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	assert.Equal(t, "OK", c.ask("QStartNoAckMode"))
	c.noAck = true
	assert.Equal(t, "T05thread:1;", c.ask("?"))
	c.sendRaw("$?#00") // bad checksum: dropped silently without acks
	assert.Equal(t, "1", c.ask("qAttached"))
	c.send("vKill;1")
	assert.Equal(t, "OK", c.recv())
	s.wait()
	assert.Equal(t, StopKilled, s.stop.Kind)
}

func TestBadChecksumAndNak(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	c.sendRaw("$?#00")
	b, err := c.r.ReadByte()
	require.NoError(t, err)
	assert.Equal(t, byte('-'), b, "a bad checksum is NAKed")
	assert.Equal(t, "1", c.ask("qAttached"))
	c.sendRaw("-")
	assert.Equal(t, "1", c.recv(), "a NAK resends the last reply")
	c.sendRaw("junk$qC#b4")
	assert.Equal(t, "QC1", c.recv())
	c.send("k")
	s.wait()
}

// Without -S the guest runs at once; a debugger connecting stops it.
func TestConnectWhileRunning(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, false)
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.steps > 0
	}, 5*time.Second, time.Millisecond)
	c := s.dial()
	assert.Equal(t, "T05thread:1;", c.ask("?"))
	f.mu.Lock()
	steps := f.steps
	f.mu.Unlock()
	assert.Equal(t, "1", c.ask("qAttached"))
	f.mu.Lock()
	assert.Equal(t, steps, f.steps, "stopped while gdb is attached")
	f.mu.Unlock()

	// A second debugger is refused while one is attached.
	c2 := s.dial()
	_, err := c2.r.ReadByte()
	assert.Error(t, err)

	// Disconnecting resumes the guest, breakpoints removed.
	assert.Equal(t, "OK", c.ask(fmt.Sprintf("Z0,%x,1", f.regs[0].RIP+10)))
	c.conn.Close()
	require.Eventually(t, func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return f.steps > steps+20
	}, 5*time.Second, time.Millisecond)
	s.cancel()
	s.wait()
	assert.ErrorIs(t, s.err, context.Canceled)
}

func TestCancelWhileStopped(t *testing.T) {
	f := newFake(1)
	s := startStub(t, f, true)
	c := s.dial()
	assert.Equal(t, "1", c.ask("qAttached"))
	s.cancel()
	assert.Equal(t, "X0f", c.recv())
	s.wait()
	assert.ErrorIs(t, s.err, context.Canceled)
}

// A stop at a user's event (vmxemu's -break-on) is a SIGTRAP without
// swbreak/hwbreak: gdb reports "Program received signal SIGTRAP".
func TestStopReplyEvent(t *testing.T) {
	r := &runner{bps: map[uint64]uint8{}}
	assert.Equal(t, "T05thread:2;", r.stopReply(Stop{Kind: StopEvent, CPU: 1}))
	assert.Equal(t, "event", StopEvent.String())
}

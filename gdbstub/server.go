package gdbstub

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// writeTimeout bounds how long a reply may wait for a debugger that does
// not read; the connection is dropped after it.
const writeTimeout = 10 * time.Second

// Server is the GDB stub for one target.
type Server struct {
	Target Target
	// Log, if not nil, receives one line per connection event and
	// protocol problem.
	Log io.Writer
}

// Run runs the target under the stub, accepting debugger connections on
// ln, until the guest's run ends (it returns the StopExited stop, after
// sending "W xx" to a connected debugger), the debugger kills it
// (StopKilled) or ctx is canceled (an error wrapping ctx.Err()). With
// stopped the guest does not run until a debugger connects and continues
// it (-S); otherwise it runs at once and a debugger may connect at any
// time, which stops it. When the debugger detaches or disconnects, its
// breakpoints are removed and the guest runs on. One debugger is served
// at a time; further connections are refused while one is attached.
//
// Run closes ln and every connection before it returns, and leaves no
// goroutine behind.
func (s *Server) Run(ctx context.Context, ln net.Listener, stopped bool) (Stop, error) {
	r := &runner{
		s:       s,
		t:       s.Target,
		events:  make(chan event),
		done:    make(chan struct{}),
		bps:     map[uint64]uint8{},
		running: !stopped,
	}
	r.lastStop = Stop{Kind: StopStep}
	defer r.close(ln)
	r.wg.Add(1)
	go r.accept(ln)
	for {
		if r.running {
			st, err := r.t.Continue(r.brkFunc(), func() bool { return r.attn.Load() > 0 || ctx.Err() != nil })
			if err != nil {
				if st.Kind == StopExited {
					r.reportExit(st)
				}
				return st, fmt.Errorf("gdbstub: %w", err)
			}
			switch st.Kind {
			case StopExited:
				r.reportExit(st)
				return st, nil
			case StopBreakpoint, StopStep, StopEvent:
				r.running = false
				r.reportStop(st)
			case StopPolled:
				// An event is on its way (attn > 0), or ctx is done.
				r.cur = st.CPU
			}
		}
		var ev event
		select {
		case ev = <-r.events:
			r.attn.Add(-1)
		case <-ctx.Done():
			r.reply([]byte("X0f")) // terminated (SIGTERM)
			return Stop{}, fmt.Errorf("gdbstub: %w", ctx.Err())
		}
		st, end, err := r.handle(ev)
		if err != nil {
			return st, fmt.Errorf("gdbstub: %w", err)
		}
		if end {
			return st, nil
		}
	}
}

// Breakpoint kinds, as bits of runner.bps.
const (
	bpSoftware = 1 << iota
	bpHardware
)

type evKind int

const (
	evConn   evKind = iota + 1 // a new connection
	evItem                     // an item from the session's connection
	evClosed                   // the session's connection ended
)

type event struct {
	kind evKind
	conn net.Conn
	sess *session
	item Item
	err  error
}

// session is one debugger connection.
type session struct {
	conn  net.Conn
	noAck bool
	last  []byte // last packet sent, for a NAK
}

// runner is the state of one Server.Run. Everything but attn, events and
// done belongs to the goroutine running Run.
type runner struct {
	s      *Server
	t      Target
	events chan event
	attn   atomic.Int64 // events sent or being sent, not yet received
	done   chan struct{}
	wg     sync.WaitGroup

	sess     *session
	bps      map[uint64]uint8
	running  bool
	lastStop Stop
	gCPU     int // Hg: registers and memory
	cCPU     int // Hc: step (-1: any)
	cur      int // CPU that ran last
}

func (r *runner) logf(format string, args ...any) {
	if r.s.Log != nil {
		fmt.Fprintf(r.s.Log, "vmxemu: gdbstub: "+format+"\n", args...)
	}
}

// post hands an event to Run; it gives up when Run has returned.
func (r *runner) post(ev event) bool {
	r.attn.Add(1)
	select {
	case r.events <- ev:
		return true
	case <-r.done:
		r.attn.Add(-1)
		return false
	}
}

func (r *runner) accept(ln net.Listener) {
	defer r.wg.Done()
	for {
		c, err := ln.Accept()
		if err != nil {
			select {
			case <-r.done:
			default:
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					continue
				}
				r.logf("accept: %v", err)
			}
			return
		}
		if !r.post(event{kind: evConn, conn: c}) {
			c.Close()
			return
		}
	}
}

func (r *runner) read(s *session) {
	defer r.wg.Done()
	d := NewDecoder(s.conn)
	for {
		it, err := d.Next()
		if err != nil {
			r.post(event{kind: evClosed, sess: s, err: err})
			return
		}
		if it.Kind == ItemAck {
			continue
		}
		if !r.post(event{kind: evItem, sess: s, item: it}) {
			return
		}
	}
}

// close ends Run: no more events, the listener and connection closed, the
// goroutines joined.
func (r *runner) close(ln net.Listener) {
	close(r.done)
	ln.Close()
	if r.sess != nil {
		r.sess.conn.Close()
		r.sess = nil
	}
	r.wg.Wait()
}

// dropSession ends the debugger's session: its breakpoints go, and the
// guest runs on (QEMU resumes the VM when gdb goes away).
func (r *runner) dropSession(why string) {
	if r.sess == nil {
		return
	}
	r.logf("debugger %s (%s); the guest runs on", r.sess.conn.RemoteAddr(), why)
	r.sess.conn.Close()
	r.sess = nil
	clear(r.bps)
	r.running = true
}

// write sends raw bytes to the debugger; a failure ends the session.
func (r *runner) write(b []byte) {
	if r.sess == nil {
		return
	}
	_ = r.sess.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
	if _, err := r.sess.conn.Write(b); err != nil {
		r.dropSession(fmt.Sprintf("write failed: %v", err))
	}
}

// reply sends one packet.
func (r *runner) reply(payload []byte) {
	if r.sess == nil {
		return
	}
	p := Frame(payload)
	r.sess.last = p
	r.write(p)
}

func (r *runner) replyString(s string) { r.reply([]byte(s)) }

// brkFunc returns the breakpoint test for Continue, nil without
// breakpoints.
func (r *runner) brkFunc() func(int, uint64) bool {
	if len(r.bps) == 0 {
		return nil
	}
	return func(_ int, pc uint64) bool { return r.bps[pc] != 0 }
}

// stopReply formats the stop reply for st.
func (r *runner) stopReply(st Stop) string {
	sig := 5 // SIGTRAP
	if st.Kind == StopPolled {
		sig = 2 // SIGINT
	}
	s := fmt.Sprintf("T%02xthread:%x;", sig, st.CPU+1)
	if st.Kind == StopBreakpoint {
		if r.bps[st.PC]&bpSoftware != 0 {
			s += "swbreak:;"
		} else if r.bps[st.PC]&bpHardware != 0 {
			s += "hwbreak:;"
		}
	}
	return s
}

// reportStop tells the debugger the guest stopped; the stopped CPU
// becomes the current thread.
func (r *runner) reportStop(st Stop) {
	r.lastStop = st
	r.gCPU, r.cCPU, r.cur = st.CPU, st.CPU, st.CPU
	r.replyString(r.stopReply(st))
}

// reportExit tells the debugger the guest's run ended.
func (r *runner) reportExit(st Stop) {
	r.replyString(fmt.Sprintf("W%02x", st.Code&0xFF))
}

// handle processes one event; end reports that Run returns st.
func (r *runner) handle(ev event) (st Stop, end bool, err error) {
	switch ev.kind {
	case evConn:
		if r.sess != nil {
			r.logf("refusing a connection from %s: a debugger is attached", ev.conn.RemoteAddr())
			ev.conn.Close()
			return Stop{}, false, nil
		}
		r.sess = &session{conn: ev.conn}
		r.logf("debugger connected from %s", ev.conn.RemoteAddr())
		r.wg.Add(1)
		go r.read(r.sess)
		if r.running {
			// QEMU stops the VM when gdb connects.
			r.running = false
			r.lastStop = Stop{Kind: StopStep, CPU: r.cur}
			r.gCPU, r.cCPU = r.cur, r.cur
		}
		return Stop{}, false, nil
	case evClosed:
		if ev.sess == r.sess {
			why := "disconnected"
			if ev.err != nil && !errors.Is(ev.err, io.EOF) {
				why = ev.err.Error()
			}
			r.dropSession(why)
		}
		return Stop{}, false, nil
	}
	if ev.sess != r.sess {
		return Stop{}, false, nil // from a connection already dropped
	}
	switch ev.item.Kind {
	case ItemInterrupt:
		if r.running {
			r.running = false
			r.reportStop(Stop{Kind: StopPolled, CPU: r.cur})
		}
		return Stop{}, false, nil
	case ItemNak:
		if r.sess.last != nil {
			r.write(r.sess.last)
		}
		return Stop{}, false, nil
	case ItemBadPacket:
		if !r.sess.noAck {
			r.write([]byte{'-'})
		}
		return Stop{}, false, nil
	}
	if !r.sess.noAck {
		r.write([]byte{'+'})
	}
	// Any packet stops a running guest (QEMU does the same; gdb sends
	// none while the guest runs in all-stop mode).
	r.running = false
	return r.packet(ev.item.Data)
}

// packet executes one command packet and replies to it.
func (r *runner) packet(p []byte) (Stop, bool, error) {
	if len(p) == 0 {
		r.replyString("")
		return Stop{}, false, nil
	}
	res := r.command(p)
	switch res.act {
	case actReply:
		r.reply(res.reply)
	case actContinue:
		r.running = true
	case actStep:
		st, err := r.t.Step(res.cpu)
		if err != nil {
			if st.Kind == StopExited {
				r.reportExit(st)
			}
			return st, true, err
		}
		if st.Kind == StopExited {
			r.reportExit(st)
			return st, true, nil
		}
		if st.Kind != StopEvent {
			st.Kind = StopStep
		}
		r.reportStop(st)
	case actKill:
		if res.reply != nil {
			r.reply(res.reply)
		}
		r.logf("killed by the debugger")
		return Stop{Kind: StopKilled, CPU: r.cur}, true, nil
	case actDetach:
		r.replyString("OK")
		r.dropSession("detached")
	}
	return Stop{}, false, nil
}

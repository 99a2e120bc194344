package gdbstub

import (
	"bytes"
	"encoding/hex"
	"fmt"
	"strconv"
	"strings"
)

type action int

const (
	actReply    action = iota // send reply
	actContinue               // resume all CPUs
	actStep                   // step cpu
	actKill                   // end the run (send reply first if not nil)
	actDetach                 // reply OK, drop the session
	actNone                   // already replied
)

type cmdResult struct {
	act   action
	reply []byte
	cpu   int
}

func replyOf(s string) cmdResult { return cmdResult{act: actReply, reply: []byte(s)} }

// Replies: errors carry errno values, as gdbserver's and QEMU's do.
func rInval() cmdResult { return replyOf("E16") } // EINVAL (22)
func rFault() cmdResult { return replyOf("E0e") } // EFAULT (14)
func rEmpty() cmdResult { return replyOf("") }    // not supported
func rOK() cmdResult    { return replyOf("OK") }

// supported returns the qSupported reply.
func supported() string {
	return fmt.Sprintf("PacketSize=%x;qXfer:features:read+;QStartNoAckMode+;swbreak+;hwbreak+", MaxPacket)
}

// command executes a packet other than the empty one.
func (r *runner) command(p []byte) cmdResult {
	args := string(p[1:])
	switch p[0] {
	case '?':
		return replyOf(r.stopReply(r.lastStop))
	case 'g':
		regs, err := r.t.Regs(r.gCPU)
		if err != nil {
			return rFault()
		}
		return replyOf(hex.EncodeToString(encodeRegs(&regs)))
	case 'G':
		b, err := hex.DecodeString(args)
		if err != nil {
			return rInval()
		}
		res, _ := r.setRegs(func(regs *Regs) { decodeRegs(regs, b) })
		return res
	case 'p':
		n, err := strconv.ParseUint(args, 16, 32)
		if err != nil || n >= uint64(len(layout)) {
			return rInval()
		}
		regs, err := r.t.Regs(r.gCPU)
		if err != nil {
			return rFault()
		}
		return replyOf(hex.EncodeToString(layout[n].get(&regs)))
	case 'P':
		ns, vs, found := strings.Cut(args, "=")
		n, err := strconv.ParseUint(ns, 16, 32)
		if !found || err != nil || n >= uint64(len(layout)) {
			return rInval()
		}
		b, err := hex.DecodeString(vs)
		if err != nil || len(b) != layout[n].bits/8 {
			return rInval()
		}
		res, _ := r.setRegs(func(regs *Regs) { layout[n].set(regs, b) })
		return res
	case 'm':
		addr, n, ok := parseAddrLen(args)
		if !ok {
			return rInval()
		}
		return r.readMem(addr, n)
	case 'M':
		al, data, found := strings.Cut(args, ":")
		addr, n, ok := parseAddrLen(al)
		if !found || !ok {
			return rInval()
		}
		b, err := hex.DecodeString(data)
		if err != nil || uint64(len(b)) != n {
			return rInval()
		}
		return r.writeMem(addr, b)
	case 'X':
		i := bytes.IndexByte(p, ':')
		if i < 0 {
			return rInval()
		}
		addr, n, ok := parseAddrLen(string(p[1:i]))
		if !ok {
			return rInval()
		}
		b, err := unescape(p[i+1:])
		if err != nil || uint64(len(b)) != n {
			return rInval()
		}
		return r.writeMem(addr, b)
	case 'c', 's':
		if args != "" {
			addr, err := strconv.ParseUint(args, 16, 64)
			if err != nil {
				return rInval()
			}
			if res, ok := r.setRegs(func(regs *Regs) { regs.RIP = addr }); !ok {
				return res
			}
		}
		return r.resume(p[0] == 's', -1)
	case 'C', 'S':
		// The signal is ignored (there is no process to deliver it
		// to), as in QEMU.
		_, addrs, found := strings.Cut(args, ";")
		if found {
			addr, err := strconv.ParseUint(addrs, 16, 64)
			if err != nil {
				return rInval()
			}
			if res, ok := r.setRegs(func(regs *Regs) { regs.RIP = addr }); !ok {
				return res
			}
		}
		return r.resume(p[0] == 'S', -1)
	case 'H':
		if len(args) < 1 {
			return rInval()
		}
		id, ok := r.parseThread(args[1:])
		if !ok {
			return rInval()
		}
		switch args[0] {
		case 'g':
			if id >= 0 {
				r.gCPU = id
			}
		case 'c':
			r.cCPU = id
		default:
			return rInval()
		}
		return rOK()
	case 'T':
		id, ok := r.parseThread(args)
		if !ok || id < 0 {
			return rInval()
		}
		return rOK()
	case 'k':
		return cmdResult{act: actKill}
	case 'D':
		return cmdResult{act: actDetach}
	case 'Z', 'z':
		return r.breakpoint(p[0] == 'Z', args)
	case 'q':
		return r.query(args)
	case 'Q':
		if args == "StartNoAckMode" {
			// This OK still goes out in ack mode (and was acked
			// above); nothing after it is.
			r.reply([]byte("OK"))
			if r.sess != nil {
				r.sess.noAck = true
			}
			return cmdResult{act: actNone}
		}
		return rEmpty()
	case 'v':
		return r.vPacket(args)
	}
	return rEmpty()
}

// setRegs edits the registers of the Hg CPU.
func (r *runner) setRegs(edit func(*Regs)) (cmdResult, bool) {
	regs, err := r.t.Regs(r.gCPU)
	if err != nil {
		return rFault(), false
	}
	edit(&regs)
	if err := r.t.SetRegs(r.gCPU, regs); err != nil {
		return rFault(), false
	}
	return rOK(), true
}

// resume continues, or steps CPU cpu (-1: the Hc CPU, or the Hg one when
// Hc selects any).
func (r *runner) resume(step bool, cpu int) cmdResult {
	if !step {
		return cmdResult{act: actContinue}
	}
	if cpu < 0 {
		cpu = r.cCPU
	}
	if cpu < 0 {
		cpu = r.gCPU
	}
	return cmdResult{act: actStep, cpu: cpu}
}

// parseThread parses a thread id: -1 (all; returned as -1), 0 (any: the
// current CPU) or a CPU's thread id (CPU+1).
func (r *runner) parseThread(s string) (int, bool) {
	switch s {
	case "-1":
		return -1, true
	case "0":
		return r.gCPU, true
	}
	n, err := strconv.ParseUint(s, 16, 32)
	if err != nil || n == 0 || n > uint64(r.t.NumCPUs()) {
		return 0, false
	}
	return int(n) - 1, true
}

func parseAddrLen(s string) (addr, n uint64, ok bool) {
	as, ns, found := strings.Cut(s, ",")
	if !found {
		return 0, 0, false
	}
	addr, err1 := strconv.ParseUint(as, 16, 64)
	n, err2 := strconv.ParseUint(ns, 16, 64)
	return addr, n, err1 == nil && err2 == nil
}

// readMem reads up to n bytes (as many as fit a reply), stopping at the
// first page that cannot be read; gdb accepts a short read, and an error
// only when no byte could be read.
func (r *runner) readMem(addr, n uint64) cmdResult {
	n = min(n, MaxPacket/2)
	out := make([]byte, 0, n)
	for uint64(len(out)) < n {
		a := addr + uint64(len(out))
		chunk := min(n-uint64(len(out)), 4096-a&0xfff)
		buf := make([]byte, chunk)
		if err := r.t.ReadMem(r.gCPU, a, buf); err != nil {
			break
		}
		out = append(out, buf...)
	}
	if len(out) == 0 && n > 0 {
		return rFault()
	}
	return replyOf(hex.EncodeToString(out))
}

func (r *runner) writeMem(addr uint64, b []byte) cmdResult {
	if len(b) == 0 {
		return rOK()
	}
	if err := r.t.WriteMem(r.gCPU, addr, b); err != nil {
		return rFault()
	}
	return rOK()
}

// breakpoint handles Z/z: types 0 (software) and 1 (hardware), both kept
// by the emulator. Conditions and commands after ';' are ignored (not
// announced in qSupported).
func (r *runner) breakpoint(insert bool, args string) cmdResult {
	args, _, _ = strings.Cut(args, ";")
	parts := strings.Split(args, ",")
	if len(parts) != 3 {
		return rInval()
	}
	var kind uint8
	switch parts[0] {
	case "0":
		kind = bpSoftware
	case "1":
		kind = bpHardware
	default:
		return rEmpty() // watchpoints: gdb falls back to single-stepping
	}
	addr, err := strconv.ParseUint(parts[1], 16, 64)
	if err != nil {
		return rInval()
	}
	if _, err := strconv.ParseUint(parts[2], 16, 32); err != nil {
		return rInval()
	}
	if insert {
		r.bps[addr] |= kind
	} else if r.bps[addr] &^= kind; r.bps[addr] == 0 {
		delete(r.bps, addr)
	}
	return rOK()
}

// query handles q packets.
func (r *runner) query(args string) cmdResult {
	name, rest, _ := strings.Cut(args, ":")
	switch {
	case name == "Supported":
		return replyOf(supported())
	case name == "Attached":
		return replyOf("1")
	case name == "C":
		return replyOf(fmt.Sprintf("QC%x", r.gCPU+1))
	case name == "fThreadInfo":
		ids := make([]string, r.t.NumCPUs())
		for i := range ids {
			ids[i] = strconv.FormatUint(uint64(i+1), 16)
		}
		return replyOf("m" + strings.Join(ids, ","))
	case name == "sThreadInfo":
		return replyOf("l")
	case strings.HasPrefix(args, "ThreadExtraInfo,"):
		id, ok := r.parseThread(strings.TrimPrefix(args, "ThreadExtraInfo,"))
		if !ok || id < 0 {
			return rInval()
		}
		desc := fmt.Sprintf("CPU#%d", id)
		if d, ok := r.t.(ThreadDescriber); ok {
			desc += " [" + d.DescribeThread(id) + "]"
		}
		return replyOf(hex.EncodeToString([]byte(desc)))
	case name == "Xfer":
		return r.xfer(rest)
	case strings.HasPrefix(args, "Rcmd,"):
		return r.monitor(strings.TrimPrefix(args, "Rcmd,"))
	}
	return rEmpty()
}

// monitor handles qRcmd,HEX (gdb's "monitor CMD"): the target's output,
// hex-encoded, as the reply; an error's text likewise, so gdb shows it.
func (r *runner) monitor(arg string) cmdResult {
	m, ok := r.t.(Monitor)
	if !ok {
		return rEmpty()
	}
	cmd, err := hex.DecodeString(arg)
	if err != nil {
		return rInval()
	}
	out, err := m.Monitor(r.gCPU, strings.TrimSpace(string(cmd)))
	if err != nil {
		out = err.Error()
	}
	if out == "" {
		return rOK()
	}
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	return replyOf(hex.EncodeToString([]byte(out)))
}

// xfer handles qXfer:features:read:target.xml:offset,length.
func (r *runner) xfer(args string) cmdResult {
	parts := strings.SplitN(args, ":", 4)
	if len(parts) != 4 || parts[0] != "features" || parts[1] != "read" {
		return rEmpty()
	}
	if parts[2] != "target.xml" {
		return replyOf("E00")
	}
	off, n, ok := parseAddrLen(parts[3])
	if !ok {
		return rInval()
	}
	doc := targetXML
	if off >= uint64(len(doc)) {
		return replyOf("l")
	}
	// Escaping may double a byte: keep the reply within PacketSize.
	n = min(n, MaxPacket/2-1, uint64(len(doc))-off)
	data := escape([]byte(doc[off : off+n]))
	prefix := byte('m')
	if off+n >= uint64(len(doc)) {
		prefix = 'l'
	}
	return cmdResult{act: actReply, reply: append([]byte{prefix}, data...)}
}

// vPacket handles v packets.
func (r *runner) vPacket(args string) cmdResult {
	switch {
	case args == "Cont?":
		return replyOf("vCont;c;C;s;S")
	case strings.HasPrefix(args, "Cont;"):
		return r.vCont(strings.TrimPrefix(args, "Cont;"))
	case strings.HasPrefix(args, "Kill"):
		return cmdResult{act: actKill, reply: []byte("OK")}
	}
	return rEmpty()
}

// vCont: a step action for some thread steps that CPU (the others stay
// stopped, as in QEMU); otherwise a continue action continues them all.
func (r *runner) vCont(args string) cmdResult {
	cont := false
	for _, a := range strings.Split(args, ";") {
		act, th, hasTh := strings.Cut(a, ":")
		if act == "" {
			return rInval()
		}
		cpu := -1
		if hasTh {
			id, ok := r.parseThread(th)
			if !ok {
				return rInval()
			}
			cpu = id
		}
		switch act[0] {
		case 's', 'S':
			if cpu < 0 {
				cpu = r.gCPU
			}
			return r.resume(true, cpu)
		case 'c', 'C':
			cont = true
		default:
			return rInval()
		}
	}
	if !cont {
		return rInval()
	}
	return r.resume(false, -1)
}

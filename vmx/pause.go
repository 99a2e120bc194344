package vmx

// PAUSE-loop exiting (SDM Vol. 3C 26.1.3, the PAUSE item; 25.6.13,
// "PAUSE-Loop Exiting"): with "PAUSE exiting" 0 and "PAUSE-loop exiting"
// 1, a PAUSE at CPL 0 measures, on a counter running at the TSC's rate,
// the time since the previous PAUSE at CPL 0. More than PLE_Gap (or no
// previous PAUSE since VM entry) makes it the first PAUSE of a loop;
// otherwise, when more than PLE_Window has passed since the PAUSE that
// began the loop, the PAUSE causes a VM exit (reason 40, like PAUSE
// exiting).

// PauseLoop is the PAUSE-loop state of a logical processor in VMX
// non-root operation, reset by each VM entry (its zero value).
type PauseLoop struct {
	seen  bool   // a PAUSE at CPL 0 ran since VM entry
	last  uint64 // the counter at that PAUSE
	first uint64 // the counter at the PAUSE that began the loop
}

// PauseLoopExits records a PAUSE at CPL 0 executed when the counter reads
// now and reports whether it causes a VM exit under "PAUSE-loop exiting"
// (the caller has checked the control, CPL 0 and "PAUSE exiting" = 0).
// The differences are modulo 2^64, as a free-running counter's.
func (x *InsnIntercepts) PauseLoopExits(p *PauseLoop, now uint64) bool {
	firstInLoop := !p.seen || now-p.last > uint64(x.PLEGap)
	p.seen, p.last = true, now
	if firstInLoop {
		p.first = now
		return false
	}
	return now-p.first > uint64(x.PLEWindow)
}

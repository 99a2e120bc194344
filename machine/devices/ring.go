package devices

// byteRing is a fixed-capacity FIFO of bytes.
type byteRing struct {
	buf  []byte
	head int
	n    int
}

func newByteRing(capacity int) byteRing { return byteRing{buf: make([]byte, capacity)} }

func (r *byteRing) len() int   { return r.n }
func (r *byteRing) full() bool { return r.n == len(r.buf) }
func (r *byteRing) reset()     { r.head, r.n = 0, 0 }

// push appends b; it reports false (dropping b) when the ring is full.
func (r *byteRing) push(b byte) bool {
	if r.n == len(r.buf) {
		return false
	}
	r.buf[(r.head+r.n)%len(r.buf)] = b
	r.n++
	return true
}

// pop removes and returns the oldest byte; ok is false when empty.
func (r *byteRing) pop() (b byte, ok bool) {
	if r.n == 0 {
		return 0, false
	}
	b = r.buf[r.head]
	r.head = (r.head + 1) % len(r.buf)
	r.n--
	return b, true
}

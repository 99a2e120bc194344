package devices

import (
	"bufio"
	"fmt"
	"io"
)

// outBuf is the small write buffer shared by the character-output devices.
// It flushes on every newline and when full, so line-oriented guest output
// appears promptly; Flush pushes out the rest. The first write error is kept
// and reported by Flush.
type outBuf struct {
	w   *bufio.Writer
	err error
}

func newOutBuf(out io.Writer) outBuf {
	if out == nil {
		out = io.Discard
	}
	return outBuf{w: bufio.NewWriterSize(out, 256)}
}

func (o *outBuf) writeByte(b byte) {
	if o.err != nil {
		return
	}
	if err := o.w.WriteByte(b); err != nil {
		o.err = err
		return
	}
	if b == '\n' {
		if err := o.w.Flush(); err != nil {
			o.err = err
		}
	}
}

func (o *outBuf) flush(what string) error {
	if o.err == nil {
		o.err = o.w.Flush()
	}
	if o.err != nil {
		return fmt.Errorf("%s: flush output: %w", what, o.err)
	}
	return nil
}

package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/vmxemu/vmxemu/cmd/vmxemu/cli"
)

// outputs are where the guest's output and the logs go: the files the
// command line names (-serial file:, -debugcon file:, -D) and stdout or
// stderr. The files are opened early, to find an unwritable path before
// anything runs, but not truncated, and what is written before the run
// starts (a firmware banner, the power-on CPU reset log) is held back: a
// usage error found while the machine is built and loaded leaves an
// existing file as it was, removes a file vmxemu created and writes
// nothing. commit starts the run: it truncates the files and writes what
// was held back.
type outputs struct {
	files   []*os.File
	created []string
	held    []*heldWriter
}

// heldWriter buffers writes until its outputs are committed.
type heldWriter struct {
	w    io.Writer
	buf  bytes.Buffer
	live bool
}

func (h *heldWriter) Write(p []byte) (int, error) {
	if h.live {
		return h.w.Write(p)
	}
	return h.buf.Write(p)
}

// stream returns the held writer of w (stdout or stderr), one per w so that
// every user of stdout keeps its order.
func (o *outputs) stream(w io.Writer) io.Writer {
	for _, h := range o.held {
		if h.w == w {
			return h
		}
	}
	h := &heldWriter{w: w}
	o.held = append(o.held, h)
	return h
}

// file opens path for writing and returns its held writer; label names
// the option and its value in errors ("-D log.txt").
func (o *outputs) file(label, path string) (io.Writer, error) {
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o666)
	if err != nil {
		return nil, usagef("%s: cannot write: %v", label, unwrapPathError(err))
	}
	if errors.Is(statErr, fs.ErrNotExist) {
		o.created = append(o.created, path)
	}
	o.files = append(o.files, f)
	return o.stream(f), nil
}

// writer returns the writer of a character device: stdout for stdio, nil
// for null, the file for file:PATH.
func (o *outputs) writer(s cli.Serial, flagName string, stdout io.Writer) (io.Writer, error) {
	switch s.Kind {
	case cli.SerialStdio:
		return o.stream(stdout), nil
	case cli.SerialFile:
		return o.file(flagName+" file:"+s.Path, s.Path)
	}
	return nil, nil
}

// commit empties the regular files, as os.Create would have, then writes
// what was held back and lets every later write through.
func (o *outputs) commit() error {
	for _, f := range o.files {
		st, err := f.Stat()
		if err != nil {
			return fmt.Errorf("%s: %w", f.Name(), err)
		}
		if st.Mode().IsRegular() {
			if err := f.Truncate(0); err != nil {
				return fmt.Errorf("%s: %w", f.Name(), err)
			}
		}
	}
	for _, h := range o.held {
		h.live = true
		if _, err := h.w.Write(h.buf.Bytes()); err != nil {
			return fmt.Errorf("writing the output: %w", err)
		}
		h.buf.Reset()
	}
	return nil
}

// close closes the files; unless the run started, it removes the ones
// vmxemu created.
func (o *outputs) close(started bool) {
	for _, f := range o.files {
		f.Close()
	}
	if !started {
		for _, p := range o.created {
			os.Remove(p)
		}
	}
}

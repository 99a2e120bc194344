package gdbstub

import (
	"bytes"
	"io"
	"testing"
)

// FuzzDecoder: any byte stream decodes without panicking into items that
// respect the framing rules.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{"$qC#b4", "+-\x03", "$g#00", "$qC$g#67", "$X0,1:}\x03#00", "$", "$#", "$a#0"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		d := NewDecoder(bytes.NewReader(in))
		for n := 0; ; n++ {
			it, err := d.Next()
			if err != nil {
				if err != io.EOF && err != io.ErrUnexpectedEOF {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if n > len(in) {
				t.Fatalf("more items than bytes")
			}
			if it.Kind == ItemPacket {
				if len(it.Data) > MaxPacket || bytes.IndexByte(it.Data, '#') >= 0 || bytes.IndexByte(it.Data, '$') >= 0 {
					t.Fatalf("bad packet data %q", it.Data)
				}
				// A decoded packet framed again decodes to itself.
				again, _ := decodeAll(Frame(it.Data))
				if len(again) != 1 || !bytes.Equal(again[0].Data, it.Data) {
					t.Fatalf("reframing %q gave %v", it.Data, again)
				}
			}
		}
	})
}

// FuzzPacket: any command packet is handled against a target without
// panicking, and the stub's state stays consistent.
func FuzzPacket(f *testing.F) {
	for _, s := range []string{"?", "g", "G00", "p10", "P10=0000000000000000", "m2000,10", "M2000,1:ff",
		"X2000,1:}\x03", "c", "s", "C05;1000", "Hg2", "Hc-1", "T1", "Z0,1000,1", "z1,1000,1",
		"qSupported:swbreak+", "qXfer:features:read:target.xml:0,fff", "qThreadExtraInfo,1",
		"vCont;s:1;c", "vCont?", "QStartNoAckMode", "D", "k", "vKill;1"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, p []byte) {
		ft := newFake(2)
		ft.exitAt = 0x1003
		r := &runner{s: &Server{Target: ft}, t: ft, bps: map[uint64]uint8{}, lastStop: Stop{Kind: StopStep}}
		_, _, _ = r.packet(p)
		if r.gCPU < 0 || r.gCPU >= ft.NumCPUs() || r.cCPU < -1 || r.cCPU >= ft.NumCPUs() {
			t.Fatalf("thread selection out of range: g=%d c=%d", r.gCPU, r.cCPU)
		}
		for a, k := range r.bps {
			if k == 0 || k&^(bpSoftware|bpHardware) != 0 {
				t.Fatalf("breakpoint %#x with kind %d", a, k)
			}
		}
	})
}

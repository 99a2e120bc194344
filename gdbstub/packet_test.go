package gdbstub

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// decodeAll returns every item of a stream and the error that ended it.
func decodeAll(in []byte) ([]Item, error) {
	d := NewDecoder(bytes.NewReader(in))
	var items []Item
	for {
		it, err := d.Next()
		if err != nil {
			return items, err
		}
		items = append(items, it)
	}
}

func pkt(s string) Item { return Item{Kind: ItemPacket, Data: []byte(s)} }

func TestDecoder(t *testing.T) {
	long := strings.Repeat("a", MaxPacket+1)
	for _, tc := range []struct {
		name string
		in   string
		want []Item
		err  error
	}{
		{"empty stream", "", nil, io.EOF},
		{"packet", "$qC#b4", []Item{pkt("qC")}, io.EOF},
		{"upper-case checksum", "$?#3F", []Item{pkt("?")}, io.EOF},
		{"empty packet", "$#00", []Item{pkt("")}, io.EOF},
		{"acks and interrupt", "+-\x03", []Item{{Kind: ItemAck}, {Kind: ItemNak}, {Kind: ItemInterrupt}}, io.EOF},
		{"junk skipped", "xyz\n$g#67", []Item{pkt("g")}, io.EOF},
		{"bad checksum", "$g#00$g#67", []Item{{Kind: ItemBadPacket}, pkt("g")}, io.EOF},
		{"non-hex checksum", "$g#zz", []Item{{Kind: ItemBadPacket}}, io.EOF},
		{"restart inside a packet", "$qC$g#67", []Item{pkt("g")}, io.EOF},
		{"binary data", "$X0,1:\x03\xff#" + checksum("X0,1:\x03\xff"), []Item{pkt("X0,1:\x03\xff")}, io.EOF},
		{"too long", "$" + long + "#" + checksum(long) + "$g#67", []Item{{Kind: ItemBadPacket}, pkt("g")}, io.EOF},
		{"cut in the data", "$qC", nil, io.ErrUnexpectedEOF},
		{"cut in the checksum", "$qC#b", nil, io.ErrUnexpectedEOF},
	} {
		t.Run(tc.name, func(t *testing.T) {
			items, err := decodeAll([]byte(tc.in))
			assert.Equal(t, tc.want, items)
			assert.True(t, errors.Is(err, tc.err), "error %v, want %v", err, tc.err)
		})
	}
}

func checksum(s string) string {
	f := Frame([]byte(s))
	return string(f[len(f)-2:])
}

func TestFrame(t *testing.T) {
	assert.Equal(t, "$#00", string(Frame(nil)))
	assert.Equal(t, "$OK#9a", string(Frame([]byte("OK"))))
	assert.Equal(t, "$T05thread:1;#d7", string(Frame([]byte("T05thread:1;"))))
}

func TestEscape(t *testing.T) {
	for _, tc := range []struct{ raw, esc string }{
		{"", ""},
		{"abc", "abc"},
		{"#$}*", "}\x03}\x04}\x5d}\x0a"},
		{"\x00\xff", "\x00\xff"},
	} {
		assert.Equal(t, tc.esc, string(escape([]byte(tc.raw))), "%q", tc.raw)
		got, err := unescape([]byte(tc.esc))
		require.NoError(t, err)
		assert.Equal(t, tc.raw, string(got))
	}
	_, err := unescape([]byte("ab}"))
	assert.Error(t, err)
}

package gdbstub

import (
	"bufio"
	"errors"
	"fmt"
	"io"
)

// MaxPacket is the largest packet payload the stub accepts (and announces
// as PacketSize): longer packets are answered with a NAK and dropped.
const MaxPacket = 0x4000

// ItemKind is what the decoder read from the stream.
type ItemKind int

const (
	// ItemPacket: a $data#cs packet with a valid checksum.
	ItemPacket ItemKind = iota + 1
	// ItemBadPacket: a packet whose checksum is wrong or not hex, or
	// that is longer than MaxPacket.
	ItemBadPacket
	// ItemAck and ItemNak: '+' and '-'.
	ItemAck
	ItemNak
	// ItemInterrupt: the Ctrl-C byte (0x03) outside a packet.
	ItemInterrupt
)

func (k ItemKind) String() string {
	switch k {
	case ItemPacket:
		return "packet"
	case ItemBadPacket:
		return "bad packet"
	case ItemAck:
		return "ack"
	case ItemNak:
		return "nak"
	case ItemInterrupt:
		return "interrupt"
	}
	return fmt.Sprintf("ItemKind(%d)", int(k))
}

// Item is one thing read from the debugger.
type Item struct {
	Kind ItemKind
	// Data is the payload of ItemPacket, still escaped (binary data in X
	// packets keeps its '}' escapes; see unescape).
	Data []byte
}

// Decoder splits the byte stream from the debugger into items.
type Decoder struct {
	r *bufio.Reader
}

// NewDecoder returns a decoder reading from r.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: bufio.NewReaderSize(r, MaxPacket+64)}
}

// Next returns the next item. Bytes outside packets other than '+', '-'
// and 0x03 are skipped. The error is the reader's (io.EOF at the end).
func (d *Decoder) Next() (Item, error) {
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return Item{}, err
		}
		switch b {
		case '+':
			return Item{Kind: ItemAck}, nil
		case '-':
			return Item{Kind: ItemNak}, nil
		case 0x03:
			return Item{Kind: ItemInterrupt}, nil
		case '$':
			return d.packet()
		}
	}
}

// packet reads the rest of a packet after '$'.
func (d *Decoder) packet() (Item, error) {
	var data []byte
	var sum byte
	tooLong := false
	for {
		b, err := d.r.ReadByte()
		if err != nil {
			return Item{}, unexpectedEOF(err)
		}
		if b == '#' {
			break
		}
		if b == '$' {
			// A new packet starts inside this one: the debugger gave
			// up on the old one (it lost our ack). Drop it.
			data, sum, tooLong = data[:0], 0, false
			continue
		}
		sum += b
		if len(data) >= MaxPacket {
			tooLong = true
			continue
		}
		data = append(data, b)
	}
	var cs [2]byte
	for i := range cs {
		b, err := d.r.ReadByte()
		if err != nil {
			return Item{}, unexpectedEOF(err)
		}
		cs[i] = b
	}
	hi, ok1 := unhex(cs[0])
	lo, ok2 := unhex(cs[1])
	if !ok1 || !ok2 || hi<<4|lo != sum || tooLong {
		return Item{Kind: ItemBadPacket}, nil
	}
	if data == nil {
		data = []byte{}
	}
	return Item{Kind: ItemPacket, Data: data}, nil
}

func unexpectedEOF(err error) error {
	if errors.Is(err, io.EOF) {
		return io.ErrUnexpectedEOF
	}
	return err
}

func unhex(b byte) (byte, bool) {
	switch {
	case b >= '0' && b <= '9':
		return b - '0', true
	case b >= 'a' && b <= 'f':
		return b - 'a' + 10, true
	case b >= 'A' && b <= 'F':
		return b - 'A' + 10, true
	}
	return 0, false
}

// Frame returns the packet $payload#cs for a reply payload (already
// escaped where needed).
func Frame(payload []byte) []byte {
	out := make([]byte, 0, len(payload)+4)
	out = append(out, '$')
	var sum byte
	for _, b := range payload {
		sum += b
	}
	out = append(out, payload...)
	return append(out, '#', hexDigits[sum>>4], hexDigits[sum&15])
}

const hexDigits = "0123456789abcdef"

// escape escapes binary reply data: '#', '$', '}' and '*' (which gdb
// would take for run-length encoding) become '}' followed by the byte
// xor 0x20.
func escape(b []byte) []byte {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		switch c {
		case '#', '$', '}', '*':
			out = append(out, '}', c^0x20)
		default:
			out = append(out, c)
		}
	}
	return out
}

// unescape undoes the escaping of binary data in X packets.
func unescape(b []byte) ([]byte, error) {
	out := make([]byte, 0, len(b))
	for i := 0; i < len(b); i++ {
		if b[i] == '}' {
			i++
			if i == len(b) {
				return nil, errors.New("gdbstub: escape character at the end of binary data")
			}
			out = append(out, b[i]^0x20)
			continue
		}
		out = append(out, b[i])
	}
	return out, nil
}

package devices

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sort"
)

// fw_cfg item keys ("selectors"), from QEMU's docs/specs/fw_cfg.txt and
// include/standard-headers/linux/qemu_fw_cfg.h.
const (
	FwCfgSignature   uint16 = 0x0000 // "QEMU"
	FwCfgID          uint16 = 0x0001 // u32 LE feature bitmap
	FwCfgUUID        uint16 = 0x0002
	FwCfgRAMSize     uint16 = 0x0003 // u64 LE bytes of RAM
	FwCfgNoGraphic   uint16 = 0x0004
	FwCfgNbCPUs      uint16 = 0x0005 // u16 LE CPUs present at boot
	FwCfgNUMA        uint16 = 0x000d // u64 LE array: node count, per-CPU node, per-node memory
	FwCfgMaxCPUs     uint16 = 0x000f // u16 LE
	FwCfgCmdlineSize uint16 = 0x0014 // u32 LE strlen(cmdline)+1
	FwCfgCmdlineData uint16 = 0x0015 // cmdline, NUL-terminated
	FwCfgFileDir     uint16 = 0x0019 // file directory
	FwCfgFileFirst   uint16 = 0x0020 // first key assigned to files

	FwCfgWriteChannel uint16 = 0x4000 // key bit: write access (QEMU ignores data-port writes since v2.4)
	FwCfgArchLocal    uint16 = 0x8000 // key bit: architecture-specific item
	fwCfgEntryMask           = ^(FwCfgWriteChannel | FwCfgArchLocal)

	// FwCfgNameSize is the size of a file name in a directory entry,
	// including at least one terminating NUL.
	FwCfgNameSize = 56
	// fwCfgDirEntrySize is size(4) + select(2) + reserved(2) + name(56).
	fwCfgDirEntrySize = 64

	// FwCfgVersionTraditional (FW_CFG_ID bit 0) advertises the selector/
	// data port interface; FwCfgVersionDMA (bit 1) the DMA interface.
	FwCfgVersionTraditional = 0x01
	FwCfgVersionDMA         = 0x02

	// fwCfgMaxFiles keeps every file key within the entry mask.
	fwCfgMaxFiles = int(fwCfgEntryMask) - int(FwCfgFileFirst) + 1
)

// ErrFwCfg is returned (wrapped) when an item or file cannot be added.
var ErrFwCfg = errors.New("fw_cfg")

type fwCfgFile struct {
	name string
	data []byte
}

// FwCfg is QEMU's firmware configuration device, port-I/O flavour: a 16-bit
// write to the selector port (0x510) selects an item and rewinds it; each
// 8-bit read of the data port (0x511) returns the next byte of the item.
// Register it at PortFwCfg for 2 ports.
//
// As in QEMU (hw/nvram/fw_cfg.c): the two ports form one region, so a 16-bit
// write to either selects and an 8-bit read of either reads data; 8-bit
// writes are ignored (write support was removed in QEMU 2.4); reading past
// the end of an item, or any read with an unknown key selected, returns 0;
// the device comes out of reset with the signature selected.
//
// FW_CFG_ID reports 0x00000001, the traditional interface only. QEMU reports
// 0x3 (DMA too) when its DMA port 0x514 is present, as on the pc machines;
// vmxemu does not implement the DMA port, and firmware (SeaBIOS, OVMF, the
// Linux fw_cfg driver) checks bit 1 before using it.
//
// Files are listed in the directory sorted by name, as QEMU does for
// non-legacy machine types, and are assigned keys FwCfgFileFirst onwards in
// that order, so adding a file can renumber files added before it. The
// directory holds exactly the registered files (QEMU pads it to its slot
// count with zero entries; readers stop at the count).
type FwCfg struct {
	items map[uint16][]byte // key & (FwCfgArchLocal|entry mask) → data
	files []fwCfgFile       // sorted by name

	cur []byte // data of the selected item (nil: unknown key)
	off int    // read offset into cur
	sel uint16 // selected key as written
}

// NewFwCfg returns a device holding the standard items for a machine with
// nbCPUs CPUs and ramSize bytes of RAM: signature, ID, RAM size, CPU count,
// maximum CPU count (= nbCPUs) and a NUMA item describing no NUMA nodes.
func NewFwCfg(nbCPUs int, ramSize uint64) *FwCfg {
	f := &FwCfg{items: make(map[uint16][]byte)}
	f.items[FwCfgSignature] = []byte("QEMU")
	f.items[FwCfgID] = binary.LittleEndian.AppendUint32(nil, FwCfgVersionTraditional)
	f.items[FwCfgRAMSize] = binary.LittleEndian.AppendUint64(nil, ramSize)
	f.items[FwCfgNbCPUs] = binary.LittleEndian.AppendUint16(nil, uint16(nbCPUs))
	f.items[FwCfgMaxCPUs] = binary.LittleEndian.AppendUint16(nil, uint16(nbCPUs))
	// QEMU's x86 NUMA item: u64 node count, then one u64 node number per
	// possible CPU, then one u64 memory size per node. No nodes: a zero
	// count followed by zero entries for the CPUs.
	f.items[FwCfgNUMA] = make([]byte, 8*(1+max(nbCPUs, 0)))
	f.items[FwCfgFileDir] = binary.BigEndian.AppendUint32(nil, 0)
	f.Select(FwCfgSignature)
	return f
}

// Select selects key and rewinds to its first byte, as a selector-port
// write does.
func (f *FwCfg) Select(key uint16) {
	f.sel = key
	f.off = 0
	f.cur = f.items[key&^FwCfgWriteChannel]
}

// ReadByte returns the next byte of the selected item, or 0 past its end.
// It never fails; the error result satisfies io.ByteReader.
func (f *FwCfg) ReadByte() (byte, error) {
	if f.off >= len(f.cur) {
		return 0, nil
	}
	b := f.cur[f.off]
	f.off++
	return b, nil
}

// In implements PortDevice: 8-bit reads of either port return data bytes.
// Wider reads are not valid for the I/O-port interface in QEMU; they read 0
// here and do not advance the offset.
func (f *FwCfg) In(port uint16, size int) uint32 {
	if size != 1 {
		return 0
	}
	b, _ := f.ReadByte()
	return uint32(b)
}

// Out implements PortDevice: a 16-bit write selects an item; other writes
// are ignored.
func (f *FwCfg) Out(port uint16, size int, val uint32) {
	if size == 2 {
		f.Select(uint16(val))
	}
}

// AddItem sets the data of a numbered item, replacing any previous data.
// The key may carry FwCfgArchLocal; it may not carry FwCfgWriteChannel, be
// the file directory, or fall in the file range (use AddFile). data is
// copied.
func (f *FwCfg) AddItem(key uint16, data []byte) error {
	switch {
	case key&FwCfgWriteChannel != 0:
		return fmt.Errorf("%w: add item %#04x: write-channel bit set", ErrFwCfg, key)
	case key == FwCfgFileDir:
		return fmt.Errorf("%w: add item %#04x: the file directory is built from AddFile", ErrFwCfg, key)
	case key&FwCfgArchLocal == 0 && key >= FwCfgFileFirst:
		return fmt.Errorf("%w: add item %#04x: keys from %#04x are assigned to files", ErrFwCfg, key, FwCfgFileFirst)
	}
	f.set(key, append([]byte(nil), data...))
	return nil
}

// SetCmdline sets the kernel command line items the way QEMU's x86 Linux
// loader does: FW_CFG_CMDLINE_SIZE = len+1 (u32 LE) and FW_CFG_CMDLINE_DATA =
// the string with its terminating NUL.
func (f *FwCfg) SetCmdline(cmdline string) {
	f.set(FwCfgCmdlineSize, binary.LittleEndian.AppendUint32(nil, uint32(len(cmdline)+1)))
	f.set(FwCfgCmdlineData, append([]byte(cmdline), 0))
}

// AddFile adds a named file (for example "etc/e820"). Names must be
// non-empty, shorter than FwCfgNameSize bytes, free of NUL and unique. data
// is copied.
func (f *FwCfg) AddFile(name string, data []byte) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: add file: empty name", ErrFwCfg)
	case len(name) >= FwCfgNameSize:
		return fmt.Errorf("%w: add file %q: name longer than %d bytes", ErrFwCfg, name, FwCfgNameSize-1)
	case len(f.files) >= fwCfgMaxFiles:
		return fmt.Errorf("%w: add file %q: directory full (%d files)", ErrFwCfg, name, len(f.files))
	}
	for i := 0; i < len(name); i++ {
		if name[i] == 0 {
			return fmt.Errorf("%w: add file %q: name contains NUL", ErrFwCfg, name)
		}
	}
	i := sort.Search(len(f.files), func(i int) bool { return f.files[i].name >= name })
	if i < len(f.files) && f.files[i].name == name {
		return fmt.Errorf("%w: add file %q: duplicate name", ErrFwCfg, name)
	}
	f.files = append(f.files, fwCfgFile{})
	copy(f.files[i+1:], f.files[i:])
	f.files[i] = fwCfgFile{name: name, data: append([]byte(nil), data...)}
	f.rebuildFiles()
	return nil
}

// FileKey returns the key currently assigned to a file.
func (f *FwCfg) FileKey(name string) (uint16, bool) {
	i := sort.Search(len(f.files), func(i int) bool { return f.files[i].name >= name })
	if i < len(f.files) && f.files[i].name == name {
		return FwCfgFileFirst + uint16(i), true
	}
	return 0, false
}

// set stores an item and refreshes the selection if it is the one read.
func (f *FwCfg) set(key uint16, data []byte) {
	f.items[key] = data
	if f.sel&^FwCfgWriteChannel == key {
		f.cur = data
	}
}

// rebuildFiles reassigns file keys in name order and regenerates the
// directory: a big-endian u32 count, then per file a big-endian u32 size, a
// big-endian u16 key, a u16 reserved (0) and the name NUL-padded to 56
// bytes.
func (f *FwCfg) rebuildFiles() {
	dir := make([]byte, 4, 4+fwCfgDirEntrySize*len(f.files))
	binary.BigEndian.PutUint32(dir, uint32(len(f.files)))
	for i, file := range f.files {
		key := FwCfgFileFirst + uint16(i)
		f.set(key, file.data)
		var e [fwCfgDirEntrySize]byte
		binary.BigEndian.PutUint32(e[0:], uint32(len(file.data)))
		binary.BigEndian.PutUint16(e[4:], key)
		copy(e[8:], file.name)
		dir = append(dir, e[:]...)
	}
	f.set(FwCfgFileDir, dir)
}

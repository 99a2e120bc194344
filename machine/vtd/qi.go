package vtd

import "encoding/binary"

// Invalidation descriptor types (6.5.2, legacy mode, 128-bit descriptors).
const (
	descContextCache = 1
	descIOTLB        = 2
	descDeviceTLB    = 3
	descIEC          = 4
	descWait         = 5

	waitIF = 1 << 4 // interrupt flag
	waitSW = 1 << 5 // status write
	waitFN = 1 << 6 // fence
)

// processQueue runs the descriptors from IQH up to IQT (6.5.2). The unit
// caches nothing, so cache invalidations complete at once; an
// invalidation wait writes its status and raises its interrupt. A
// descriptor of an unsupported type or with reserved bits set stops the
// queue with IQE (11.4.7.1), IQH pointing at it.
func (u *Unit) processQueue() {
	if u.fsts&FstsIQE != 0 {
		return // the queue stays stopped until software clears IQE
	}
	entries := uint64(256) << (u.iqa & iqaQSMask)
	if u.iqt>>4 >= entries {
		u.queueError()
		return
	}
	for u.iqh != u.iqt {
		lo, hi, err := u.read16(u.iqa&^0xFFF + u.iqh)
		if err != nil || !u.descriptor(lo, hi) {
			u.queueError()
			return
		}
		u.iqh = (u.iqh + 16) % (entries * 16)
	}
}

func (u *Unit) queueError() {
	u.fsts |= FstsIQE
	u.faultEvent()
}

// descriptor executes one descriptor; false means it is invalid.
func (u *Unit) descriptor(lo, hi uint64) bool {
	if lo>>9&7 != 0 { // type bits 11:9 (scalable-mode types)
		return false
	}
	switch lo & 0xF {
	case descContextCache, descIOTLB:
		return true
	case descIEC:
		return u.ecap&EcapIR != 0
	case descWait:
		if lo&0xFFFFFF80 != 0 || hi&3 != 0 {
			return false
		}
		if lo&waitSW != 0 {
			var b [4]byte
			binary.LittleEndian.PutUint32(b[:], uint32(lo>>32))
			if u.mem.WritePhys(hi&^3, b[:]) != nil {
				return false
			}
		}
		if lo&waitIF != 0 {
			u.ics |= IcsIWC
			u.signal(&u.ie) // the invalidation completion event (7.3)
		}
		return true
	case descDeviceTLB:
		return false // ECAP.DT is 0
	}
	return false
}

package vmx

import "math/bits"

// Instructions that cause VM exits conditionally (SDM Vol. 3C 26.1.3):
// the controls that govern them, read once at VM entry into the intercept
// record, the I/O- and MSR-bitmap lookups, and the layout of the exit
// qualifications and the VM-exit instruction-information field (28.2.1,
// 28.2.5). The core decides, in each instruction's own handler and after
// the faults that take priority (26.1.1), by asking this record.

// More exit reasons (SDM Vol. 3C Appendix C).
const (
	ExitHLT        = 12
	ExitINVLPG     = 14
	ExitRDPMC      = 15
	ExitRDTSC      = 16
	ExitMOVDR      = 29
	ExitIO         = 30
	ExitMWAIT      = 36
	ExitMONITOR    = 39
	ExitPAUSE      = 40
	ExitGDTRIDTR   = 46
	ExitLDTRTR     = 47
	ExitRDTSCP     = 51
	ExitWBINVD     = 54
	ExitRDRAND     = 57
	ExitINVPCID    = 58
	ExitRDSEED     = 61
	ExitXSAVES     = 63
	ExitXRSTORS    = 64
	encTSCOffset   = 0x2010
	encTSCMult     = 0x2032
	encPLEGap      = 0x4020
	encPLEWindow   = 0x4022
	encXSSBitmap   = 0x202C
	msrBitmapLowHi = 0xC0000000
)

// Primary processor-based VM-execution controls (SDM Vol. 3C 25.6.2,
// Table 25-6) the core asks about.
const (
	ProcUseTSCOffsetting = 1 << 3
	ProcHLTExiting       = 1 << 7
	ProcINVLPGExiting    = 1 << 9
	ProcMWAITExiting     = 1 << 10
	ProcRDPMCExiting     = 1 << 11
	ProcRDTSCExiting     = 1 << 12
	ProcMOVDRExiting     = 1 << 23
	ProcUncondIOExiting  = 1 << 24
	ProcUseIOBitmaps     = 1 << 25
	ProcUseMSRBitmaps    = 1 << 28
	ProcMONITORExiting   = 1 << 29
	ProcPAUSEExiting     = 1 << 30
)

// Secondary processor-based VM-execution controls (Table 25-7).
const (
	Proc2DescTableExiting = 1 << 2
	Proc2EnableRDTSCP     = 1 << 3
	Proc2WBINVDExiting    = 1 << 6
	Proc2RDRANDExiting    = 1 << 11
	Proc2EnableINVPCID    = 1 << 12
	Proc2RDSEEDExiting    = 1 << 16
	Proc2PAUSELoopExiting = 1 << 10
	Proc2EnableXSAVES     = 1 << 20
	Proc2UseTSCScaling    = 1 << 25
)

// InsnIntercepts are the controls of the conditionally exiting
// instructions, read at VM entry.
type InsnIntercepts struct {
	// Proc and Proc2 are the primary and secondary processor-based
	// VM-execution controls; Proc2 is 0 when "activate secondary
	// controls" is 0 (SDM Vol. 3C 25.6.2: the secondary controls are then
	// all 0 in effect).
	Proc, Proc2 uint32
	// TSCOffset is the TSC offset, 0 without "use TSC offsetting".
	TSCOffset uint64
	// TSCMultiplier is the TSC multiplier with "use TSC offsetting" and
	// "use TSC scaling" (ScaleTSC), 0 otherwise.
	TSCMultiplier uint64
	// PLEGap and PLEWindow are PLE_Gap and PLE_Window with "PAUSE-loop
	// exiting" (pause.go).
	PLEGap, PLEWindow uint32
	// XSSBitmap is the XSS-exiting bitmap with "enable XSAVES/XRSTORS".
	XSSBitmap uint64
	// IOBitmap are the physical addresses of I/O bitmaps A and B, MSRBitmap
	// that of the MSR bitmaps (valid with their "use" controls).
	IOBitmap  [2]uint64
	MSRBitmap uint64
	// VirtualAPIC is the virtual-APIC address and TPRThreshold the TPR
	// threshold, with "use TPR shadow" (tpr.go).
	VirtualAPIC  uint64
	TPRThreshold uint32
	// APICAccess is the APIC-access address, with "virtualize APIC
	// accesses" (apicv.go).
	APICAccess uint64
	// GuestIntrStatus (RVI, SVI) and EOIExitBitmap, with
	// "virtual-interrupt delivery" (apicv.go).
	GuestIntrStatus uint16
	EOIExitBitmap   [4]uint64
	// PostedIntrs is "process posted interrupts", with the notification
	// vector and the descriptor address (apicv.go).
	PostedIntrs          bool
	PINotificationVector uint8
	PIDescAddr           uint64
}

// insnIntercepts reads the current VMCS's InsnIntercepts, given its
// primary processor-based controls: only the fields those controls use
// (VM entry pays for what the guest asked for).
func (v *CPU) insnIntercepts(proc uint64, x *InsnIntercepts) {
	*x = InsnIntercepts{Proc: uint32(proc)}
	if x.Proc&procActivateSecondary != 0 {
		x.Proc2 = uint32(v.field(encProcCtls2))
	}
	if x.Proc&ProcUseTSCOffsetting != 0 {
		x.TSCOffset = v.field(encTSCOffset)
		if x.Proc2&Proc2UseTSCScaling != 0 {
			x.TSCMultiplier = v.field(encTSCMult)
		}
	}
	if x.Proc2&Proc2EnableXSAVES != 0 {
		x.XSSBitmap = v.field(encXSSBitmap)
	}
	if x.Proc2&Proc2PAUSELoopExiting != 0 {
		x.PLEGap, x.PLEWindow = uint32(v.field(encPLEGap)), uint32(v.field(encPLEWindow))
	}
	if x.Proc&ProcUseIOBitmaps != 0 {
		x.IOBitmap = [2]uint64{v.field(encIOBitmapA), v.field(encIOBitmapB)}
	}
	if x.Proc&ProcUseMSRBitmaps != 0 {
		x.MSRBitmap = v.field(encMSRBitmap)
	}
	v.tprShadowFields(x)
	v.apicAccessFields(x)
	v.vidFields(x)
	v.postedFields(x)
}

// GuestTSC is the TSC as RDTSC, RDTSCP and RDMSR of IA32_TSC return it
// in VMX non-root operation when they do not exit (SDM Vol. 3C 26.3, the
// RDTSC, RDTSCP and RDMSR items): without "use TSC offsetting" the TSC;
// with it and "use TSC scaling" 0, the TSC plus the TSC offset; with both,
// the 128-bit product of the TSC and the TSC multiplier shifted right by
// 48 bits, plus the TSC offset (the sums are modulo 2^64: a signed offset
// in two's complement).
func (x *InsnIntercepts) GuestTSC(tsc uint64) uint64 {
	if x.Proc&ProcUseTSCOffsetting == 0 {
		return tsc
	}
	if x.Proc2&Proc2UseTSCScaling != 0 {
		hi, lo := bits.Mul64(tsc, x.TSCMultiplier)
		tsc = hi<<16 | lo>>48
	}
	return tsc + x.TSCOffset
}

// XSSExits is the XSAVES/XRSTORS rule (SDM Vol. 3C 26.1.3): with "enable
// XSAVES/XRSTORS" the instruction exits when the instruction mask
// EDX:EAX, IA32_XSS and the XSS-exiting bitmap share a set bit (without
// the control it is #UD, 26.3: the core checks that first).
func (x *InsnIntercepts) XSSExits(mask, xss uint64) bool {
	return x.Proc2&Proc2EnableXSAVES != 0 && mask&xss&x.XSSBitmap != 0
}

// Exits reports whether a primary processor-based control is 1.
func (x *InsnIntercepts) Exits(ctl uint32) bool { return x.Proc&ctl != 0 }

// Exits2 reports whether a secondary processor-based control is 1 (and
// the secondary controls are activated).
func (x *InsnIntercepts) Exits2(ctl uint32) bool { return x.Proc2&ctl != 0 }

// BitReader reads one byte of guest-physical memory (the core's physical
// access path); ok is false where nothing answers.
type BitReader func(pa uint64) (b byte, ok bool)

// bit reads bit n of the bitmap at pa; a bitmap byte that cannot be read
// counts as set (the access exits rather than bypass the host).
func (r BitReader) bit(pa, n uint64) bool {
	b, ok := r(pa + n/8)
	return !ok || b>>(n%8)&1 != 0
}

// IOExits is the I/O-instruction rule (SDM Vol. 3C 26.1.3): without "use
// I/O bitmaps" the access exits when "unconditional I/O exiting" is 1;
// with it, when the bit of any port the access touches is 1 in bitmap A
// (ports 0000H-7FFFH) or B (8000H-FFFFH), or the access wraps past FFFFH.
func (x *InsnIntercepts) IOExits(port uint16, size int, read BitReader) bool {
	if x.Proc&ProcUseIOBitmaps == 0 {
		return x.Proc&ProcUncondIOExiting != 0
	}
	for p := uint32(port); p < uint32(port)+uint32(size); p++ {
		if p > 0xFFFF {
			return true
		}
		if read.bit(x.IOBitmap[p>>15], uint64(p&0x7FFF)) {
			return true
		}
	}
	return false
}

// MSRExits is the RDMSR/WRMSR rule (SDM Vol. 3C 26.1.3, 25.6.9): without
// "use MSR bitmaps" every access exits; with it, an MSR in 00000000H-
// 00001FFFH or C0000000H-C0001FFFH exits when its bit is 1 in the read or
// write bitmap for that range (read low at offset 0, read high at 1024,
// write low at 2048, write high at 3072), and every other MSR exits.
func (x *InsnIntercepts) MSRExits(idx uint32, write bool, read BitReader) bool {
	if x.Proc&ProcUseMSRBitmaps == 0 {
		return true
	}
	off := uint64(0)
	switch {
	case idx <= 0x1FFF:
	case idx >= msrBitmapLowHi && idx <= msrBitmapLowHi+0x1FFF:
		off = 1024
		idx -= msrBitmapLowHi
	default:
		return true
	}
	if write {
		off += 2048
	}
	return read.bit(x.MSRBitmap+off, uint64(idx))
}

// MemOperand is a memory operand as the VM-exit instruction-information
// field describes it (SDM Vol. 3C 28.2.5, the tables "Format of the VM-Exit
// Instruction-Information Field as Used for ..."): address
// size in bytes, segment register (arch.ES..GS), the index register and
// its scaling (shift), the base register; Index or Base < 0 when absent.
type MemOperand struct {
	AddrSize int
	Seg      uint8
	Index    int
	Scale    uint8
	Base     int
}

// insnInfoAddrSize is bits 9:7: 0 for 16-bit, 1 for 32-bit, 2 for 64-bit.
func insnInfoAddrSize(n int) uint32 {
	switch n {
	case 2:
		return 0
	case 4:
		return 1
	}
	return 2
}

// InsnInfoMem is the memory-operand part of the VM-exit
// instruction-information field common to the 28.2.5 tables: scaling
// (1:0), address size (9:7), segment register (17:15), index register
// (21:18) with its invalid flag (22), base register (26:23) with its
// invalid flag (27). Scaling is 0 without an index.
func InsnInfoMem(m MemOperand) uint32 {
	info := insnInfoAddrSize(m.AddrSize)<<7 | uint32(m.Seg&7)<<15
	if m.Index < 0 {
		info |= 1 << 22
	} else {
		info |= uint32(m.Scale&3) | uint32(m.Index&15)<<18
	}
	if m.Base < 0 {
		info |= 1 << 27
	} else {
		info |= uint32(m.Base&15) << 23
	}
	return info
}

// InsnInfoReg is bits 6:3 (reg1) and bit 10 (register operand) of the
// instruction-information field for an instruction with a register
// operand where a memory one may be (28.2.5: LLDT, LTR, SLDT, STR;
// VMREAD, VMWRITE).
func InsnInfoReg(reg int) uint32 { return uint32(reg&15)<<3 | 1<<10 }

// Descriptor-table instruction identities (bits 29:28 of the 28.2.5 tables
// for LIDT/LGDT/SIDT/SGDT and LLDT/LTR/SLDT/STR).
const (
	DescSGDT, DescSIDT, DescLGDT, DescLIDT = 0, 1, 2, 3
	DescSLDT, DescSTR, DescLLDT, DescLTR   = 0, 1, 2, 3
)

// InsnInfoDescTable is the instruction-information field of LGDT, LIDT,
// SGDT and SIDT (28.2.5, the table for LIDT, LGDT, SIDT, SGDT): the memory operand, operand size in bit 11
// (0 for 16-bit, 1 for 32-bit; undefined in 64-bit mode, where vmxemu
// gives 1) and the identity in bits 29:28.
func InsnInfoDescTable(m MemOperand, opsz32 bool, identity uint32) uint32 {
	info := InsnInfoMem(m) | identity<<28
	if opsz32 {
		info |= 1 << 11
	}
	return info
}

// InsnInfoIO is the instruction-information field of INS and OUTS
// (28.2.5, the table for INS and OUTS; reported with IA32_VMX_BASIC[54]): address size (9:7) and,
// for OUTS, the segment register (17:15; undefined for INS, which uses ES:
// vmxemu gives ES).
func InsnInfoIO(addrSize int, seg uint8) uint32 {
	return insnInfoAddrSize(addrSize)<<7 | uint32(seg&7)<<15
}

// IOQualification is the exit qualification of an I/O instruction (SDM
// Vol. 3C 28.2.1, Table 28-5): size of access - 1 (2:0), direction (3: 1
// for IN/INS), string instruction (4), REP prefixed (5), operand encoding
// (6: 1 for an immediate port), port number (31:16).
func IOQualification(port uint16, size int, in, str, rep, imm bool) uint64 {
	q := uint64(size-1) | uint64(port)<<16
	for i, b := range []bool{in, str, rep, imm} {
		if b {
			q |= 1 << (3 + i)
		}
	}
	return q
}

// MOVDRQualification is the exit qualification of MOV DR (Table 28-4):
// the debug register (2:0), direction (4: 1 for MOV from DR) and the
// general-purpose register (11:8).
func MOVDRQualification(dr, gpr int, fromDR bool) uint64 {
	q := uint64(dr&7) | uint64(gpr&15)<<8
	if fromDR {
		q |= 1 << 4
	}
	return q
}

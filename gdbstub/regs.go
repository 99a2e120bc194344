package gdbstub

import (
	"encoding/binary"
	"strconv"
	"strings"

	"github.com/vmxemu/vmxemu/arch"
)

// Regs is one vCPU's register file as the stub shows it to gdb.
type Regs struct {
	arch.State
	FPU FPU
}

// FPU is the x87/SSE state gdb sees. The x87 data registers st0-st7 are
// not modelled: they read as zero and writes to them are dropped.
type FPU struct {
	FCW, FSW uint16
	// FTW is the full x87 tag word, two bits per register (3 = empty),
	// as gdb's ftag shows it.
	FTW   uint16
	MXCSR uint32
	XMM   [16][2]uint64 // low quadword first
}

// feature is one <feature> of the target description.
type feature struct {
	name  string
	types string // type definitions the registers use
}

// The features, in the order of the register numbers: gdb's standard
// i386 core, SSE and segment-base features (gdb checks their register
// names against its own lists) and vmxemu's system registers, which
// carry what QEMU's description adds (k_gs_base, cr0-cr8, efer), and gdb's
// protection-keys feature (pkru, SDM Vol. 3A 2.7).
var features = [...]feature{
	{"org.gnu.gdb.i386.core", eflagsType},
	{"org.gnu.gdb.i386.sse", vecTypes},
	{"org.gnu.gdb.i386.segments", ""},
	{"org.vmxemu.gdb.i386.system", sysTypes},
	{"org.gnu.gdb.i386.pkeys", ""},
}

const (
	featCore = iota
	featSSE
	featSegments
	featSystem
	featPKeys
)

// reg is one register of the layout.
type reg struct {
	name  string
	bits  int
	typ   string
	group string
	feat  int
	get   func(r *Regs) []byte
	set   func(r *Regs, b []byte)
}

func le64(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le32(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }

// u64 is a 64-bit register held in a uint64.
func u64(name, typ string, feat int, f func(r *Regs) *uint64) reg {
	return reg{name: name, bits: 64, typ: typ, feat: feat,
		get: func(r *Regs) []byte { return le64(*f(r)) },
		set: func(r *Regs, b []byte) { *f(r) = binary.LittleEndian.Uint64(b) }}
}

// u32 is a 32-bit register.
func u32(name, typ, group string, feat int, get func(r *Regs) uint32, set func(r *Regs, v uint32)) reg {
	return reg{name: name, bits: 32, typ: typ, group: group, feat: feat,
		get: func(r *Regs) []byte { return le32(get(r)) },
		set: func(r *Regs, b []byte) { set(r, binary.LittleEndian.Uint32(b)) }}
}

// gprOrder maps gdb's register order (rax, rbx, rcx, rdx, rsi, rdi, rbp,
// rsp, r8-r15) to the hardware encoding arch.State.GPR uses.
var gprOrder = [16]int{arch.RAX, arch.RBX, arch.RCX, arch.RDX, arch.RSI, arch.RDI, arch.RBP, arch.RSP,
	8, 9, 10, 11, 12, 13, 14, 15}

var gprNames = [16]string{"rax", "rbx", "rcx", "rdx", "rsi", "rdi", "rbp", "rsp",
	"r8", "r9", "r10", "r11", "r12", "r13", "r14", "r15"}

// segOrder is gdb's order of the segment registers.
var segOrder = [6]int{arch.CS, arch.SS, arch.DS, arch.ES, arch.FS, arch.GS}

// layout is the register layout: the order of g packets and the register
// numbers of p/P, matching the target description.
var layout = buildLayout()

func buildLayout() []reg {
	var l []reg
	for i, n := range gprNames {
		typ := "int64"
		if n == "rbp" || n == "rsp" {
			typ = "data_ptr"
		}
		idx := gprOrder[i]
		l = append(l, u64(n, typ, featCore, func(r *Regs) *uint64 { return &r.GPR[idx] }))
	}
	l = append(l, u64("rip", "code_ptr", featCore, func(r *Regs) *uint64 { return &r.RIP }))
	l = append(l, u32("eflags", "i386_eflags", "", featCore,
		func(r *Regs) uint32 { return uint32(r.RFLAGS) },
		func(r *Regs, v uint32) { r.RFLAGS = uint64(v) }))
	for _, s := range segOrder {
		l = append(l, u32(arch.SegNames[s], "int32", "", featCore,
			func(r *Regs) uint32 { return uint32(r.Seg[s].Selector) },
			func(r *Regs, v uint32) { setSelector(r, s, uint16(v)) }))
	}
	for i := 0; i < 8; i++ {
		l = append(l, reg{name: "st" + strconv.Itoa(i), bits: 80, typ: "i387_ext", feat: featCore,
			get: func(*Regs) []byte { return make([]byte, 10) },
			set: func(*Regs, []byte) {}})
	}
	zero := func(*Regs) uint32 { return 0 }
	drop := func(*Regs, uint32) {}
	l = append(l,
		u32("fctrl", "int", "float", featCore, func(r *Regs) uint32 { return uint32(r.FPU.FCW) }, func(r *Regs, v uint32) { r.FPU.FCW = uint16(v) }),
		u32("fstat", "int", "float", featCore, func(r *Regs) uint32 { return uint32(r.FPU.FSW) }, func(r *Regs, v uint32) { r.FPU.FSW = uint16(v) }),
		u32("ftag", "int", "float", featCore, func(r *Regs) uint32 { return uint32(r.FPU.FTW) }, func(r *Regs, v uint32) { r.FPU.FTW = uint16(v) }),
		u32("fiseg", "int", "float", featCore, zero, drop),
		u32("fioff", "int", "float", featCore, zero, drop),
		u32("foseg", "int", "float", featCore, zero, drop),
		u32("fooff", "int", "float", featCore, zero, drop),
		u32("fop", "int", "float", featCore, zero, drop),
	)
	for i := 0; i < 16; i++ {
		l = append(l, reg{name: "xmm" + strconv.Itoa(i), bits: 128, typ: "vec128", feat: featSSE,
			get: func(r *Regs) []byte { return binary.LittleEndian.AppendUint64(le64(r.FPU.XMM[i][0]), r.FPU.XMM[i][1]) },
			set: func(r *Regs, b []byte) {
				r.FPU.XMM[i][0] = binary.LittleEndian.Uint64(b)
				r.FPU.XMM[i][1] = binary.LittleEndian.Uint64(b[8:])
			}})
	}
	l = append(l, u32("mxcsr", "i386_mxcsr", "vector", featSSE,
		func(r *Regs) uint32 { return r.FPU.MXCSR }, func(r *Regs, v uint32) { r.FPU.MXCSR = v }))
	l = append(l,
		u64("fs_base", "int", featSegments, func(r *Regs) *uint64 { return &r.Seg[arch.FS].Base }),
		u64("gs_base", "int", featSegments, func(r *Regs) *uint64 { return &r.Seg[arch.GS].Base }),
		u64("k_gs_base", "int64", featSystem, func(r *Regs) *uint64 { return &r.KernelGSBase }),
		u64("cr0", "i386_cr0", featSystem, func(r *Regs) *uint64 { return &r.CR0 }),
		u64("cr2", "int64", featSystem, func(r *Regs) *uint64 { return &r.CR2 }),
		u64("cr3", "int64", featSystem, func(r *Regs) *uint64 { return &r.CR3 }),
		u64("cr4", "i386_cr4", featSystem, func(r *Regs) *uint64 { return &r.CR4 }),
		u64("cr8", "int64", featSystem, func(r *Regs) *uint64 { return &r.CR8 }),
		u64("efer", "i386_efer", featSystem, func(r *Regs) *uint64 { return &r.EFER }),
		u32("pkru", "uint32", "", featPKeys, func(r *Regs) uint32 { return r.PKRU }, func(r *Regs, v uint32) { r.PKRU = v }),
	)
	for i := range l {
		l[i].group = groupOf(l[i])
	}
	return l
}

func groupOf(r reg) string {
	if r.group != "" {
		return r.group
	}
	if r.feat == featSystem {
		return "system"
	}
	return ""
}

// setSelector is a debugger's write of a segment register: the selector,
// and in real mode the base it implies (a protected-mode descriptor is not
// reloaded from the GDT).
func setSelector(r *Regs, s int, sel uint16) {
	r.Seg[s].Selector = sel
	if r.CR0&arch.CR0PE == 0 || r.RFLAGS&arch.FlagVM != 0 {
		r.Seg[s].Base = uint64(sel) << 4
	}
}

// regsSize is the length of a g packet's binary data.
var regsSize = func() int {
	n := 0
	for _, r := range layout {
		n += r.bits / 8
	}
	return n
}()

// encodeRegs returns the binary g packet data.
func encodeRegs(r *Regs) []byte {
	out := make([]byte, 0, regsSize)
	for _, d := range layout {
		out = append(out, d.get(r)...)
	}
	return out
}

// decodeRegs applies G packet data to r: every register the data covers
// completely (gdb always sends all of them).
func decodeRegs(r *Regs, b []byte) {
	for _, d := range layout {
		n := d.bits / 8
		if len(b) < n {
			return
		}
		d.set(r, b[:n])
		b = b[n:]
	}
}

// targetXML is the target description: i386:x86-64 with the layout's
// registers, numbered in g-packet order.
var targetXML = buildTargetXML()

func buildTargetXML() string {
	var b strings.Builder
	b.WriteString(`<?xml version="1.0"?>` + "\n")
	b.WriteString(`<!DOCTYPE target SYSTEM "gdb-target.dtd">` + "\n")
	b.WriteString("<target version=\"1.0\">\n<architecture>i386:x86-64</architecture>\n")
	for fi, f := range features {
		b.WriteString(`<feature name="` + f.name + `">` + "\n")
		b.WriteString(f.types)
		for n, r := range layout {
			if r.feat != fi {
				continue
			}
			b.WriteString(`  <reg name="` + r.name + `" bitsize="` + strconv.Itoa(r.bits) + `" type="` + r.typ + `" regnum="` + strconv.Itoa(n) + `"`)
			if r.group != "" {
				b.WriteString(` group="` + r.group + `"`)
			}
			b.WriteString("/>\n")
		}
		b.WriteString("</feature>\n")
	}
	b.WriteString("</target>\n")
	return b.String()
}

const eflagsType = `  <flags id="i386_eflags" size="4">
    <field name="CF" start="0" end="0"/>
    <field name="" start="1" end="1"/>
    <field name="PF" start="2" end="2"/>
    <field name="AF" start="4" end="4"/>
    <field name="ZF" start="6" end="6"/>
    <field name="SF" start="7" end="7"/>
    <field name="TF" start="8" end="8"/>
    <field name="IF" start="9" end="9"/>
    <field name="DF" start="10" end="10"/>
    <field name="OF" start="11" end="11"/>
    <field name="NT" start="14" end="14"/>
    <field name="RF" start="16" end="16"/>
    <field name="VM" start="17" end="17"/>
    <field name="AC" start="18" end="18"/>
    <field name="VIF" start="19" end="19"/>
    <field name="VIP" start="20" end="20"/>
    <field name="ID" start="21" end="21"/>
  </flags>
`

const vecTypes = `  <vector id="v8bf16" type="bfloat16" count="8"/>
  <vector id="v8h" type="ieee_half" count="8"/>
  <vector id="v4f" type="ieee_single" count="4"/>
  <vector id="v2d" type="ieee_double" count="2"/>
  <vector id="v16i8" type="int8" count="16"/>
  <vector id="v8i16" type="int16" count="8"/>
  <vector id="v4i32" type="int32" count="4"/>
  <vector id="v2i64" type="int64" count="2"/>
  <union id="vec128">
    <field name="v8_bfloat16" type="v8bf16"/>
    <field name="v8_half" type="v8h"/>
    <field name="v4_float" type="v4f"/>
    <field name="v2_double" type="v2d"/>
    <field name="v16_int8" type="v16i8"/>
    <field name="v8_int16" type="v8i16"/>
    <field name="v4_int32" type="v4i32"/>
    <field name="v2_int64" type="v2i64"/>
    <field name="uint128" type="uint128"/>
  </union>
  <flags id="i386_mxcsr" size="4">
    <field name="IE" start="0" end="0"/>
    <field name="DE" start="1" end="1"/>
    <field name="ZE" start="2" end="2"/>
    <field name="OE" start="3" end="3"/>
    <field name="UE" start="4" end="4"/>
    <field name="PE" start="5" end="5"/>
    <field name="DAZ" start="6" end="6"/>
    <field name="IM" start="7" end="7"/>
    <field name="DM" start="8" end="8"/>
    <field name="ZM" start="9" end="9"/>
    <field name="OM" start="10" end="10"/>
    <field name="UM" start="11" end="11"/>
    <field name="PM" start="12" end="12"/>
    <field name="FZ" start="15" end="15"/>
  </flags>
`

const sysTypes = `  <flags id="i386_cr0" size="8">
    <field name="PE" start="0" end="0"/>
    <field name="MP" start="1" end="1"/>
    <field name="EM" start="2" end="2"/>
    <field name="TS" start="3" end="3"/>
    <field name="ET" start="4" end="4"/>
    <field name="NE" start="5" end="5"/>
    <field name="WP" start="16" end="16"/>
    <field name="AM" start="18" end="18"/>
    <field name="NW" start="29" end="29"/>
    <field name="CD" start="30" end="30"/>
    <field name="PG" start="31" end="31"/>
  </flags>
  <flags id="i386_cr4" size="8">
    <field name="VME" start="0" end="0"/>
    <field name="PVI" start="1" end="1"/>
    <field name="TSD" start="2" end="2"/>
    <field name="DE" start="3" end="3"/>
    <field name="PSE" start="4" end="4"/>
    <field name="PAE" start="5" end="5"/>
    <field name="MCE" start="6" end="6"/>
    <field name="PGE" start="7" end="7"/>
    <field name="PCE" start="8" end="8"/>
    <field name="OSFXSR" start="9" end="9"/>
    <field name="OSXMMEXCPT" start="10" end="10"/>
    <field name="UMIP" start="11" end="11"/>
    <field name="LA57" start="12" end="12"/>
    <field name="VMXE" start="13" end="13"/>
    <field name="SMXE" start="14" end="14"/>
    <field name="FSGSBASE" start="16" end="16"/>
    <field name="PCIDE" start="17" end="17"/>
    <field name="OSXSAVE" start="18" end="18"/>
    <field name="SMEP" start="20" end="20"/>
    <field name="SMAP" start="21" end="21"/>
    <field name="PKE" start="22" end="22"/>
  </flags>
  <flags id="i386_efer" size="8">
    <field name="SCE" start="0" end="0"/>
    <field name="LME" start="8" end="8"/>
    <field name="LMA" start="10" end="10"/>
    <field name="NXE" start="11" end="11"/>
    <field name="SVME" start="12" end="12"/>
    <field name="LMSLE" start="13" end="13"/>
    <field name="FFXSR" start="14" end="14"/>
    <field name="TCE" start="15" end="15"/>
  </flags>
`

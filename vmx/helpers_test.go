package vmx_test

import (
	"encoding/binary"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/msr"
	"github.com/vmxemu/vmxemu/vmx"
)

// Test helpers shared by the vmx tests: a small sparse guest-physical
// memory, capability sets built from real model dumps or by hand, and a
// driver that executes a VMX instruction the way the core does (Check,
// then the instruction's own function).

// phys is a sparse guest-physical memory of 4-KiB pages; unwritten bytes
// read as 0. refuse makes every access fail (the Refused outcome).
type phys struct {
	pages  map[uint64]*[4096]byte
	refuse bool
}

func newPhys() *phys { return &phys{pages: map[uint64]*[4096]byte{}} }

func (m *phys) page(pa uint64, alloc bool) *[4096]byte {
	p := m.pages[pa>>12]
	if p == nil && alloc {
		p = new([4096]byte)
		m.pages[pa>>12] = p
	}
	return p
}

func (m *phys) ReadPhys(pa uint64, b []byte) bool {
	if m.refuse {
		return false
	}
	for i := range b {
		if p := m.page(pa+uint64(i), false); p != nil {
			b[i] = p[(pa+uint64(i))&0xFFF]
		} else {
			b[i] = 0
		}
	}
	return true
}

func (m *phys) WritePhys(pa uint64, b []byte) bool {
	if m.refuse {
		return false
	}
	for i := range b {
		m.page(pa+uint64(i), true)[(pa+uint64(i))&0xFFF] = b[i]
	}
	return true
}

func (m *phys) put32(pa uint64, v uint32) {
	var b [4]byte
	binary.LittleEndian.PutUint32(b[:], v)
	m.WritePhys(pa, b[:])
}

func (m *phys) get32(pa uint64) uint32 {
	var b [4]byte
	m.ReadPhys(pa, b[:])
	return binary.LittleEndian.Uint32(b[:])
}

func (m *phys) bytes(pa uint64, n int) []byte {
	b := make([]byte, n)
	m.ReadPhys(pa, b)
	return b
}

// profile resolves a shipped CPU model without toggles.
func profile(t testing.TB, name string) *msr.Profile {
	t.Helper()
	m, err := msr.Lookup(name)
	require.NoError(t, err)
	p, err := msr.Resolve(m, nil)
	require.NoError(t, err)
	return p
}

// modelCaps builds Caps from a model's full VMX MSRs (every control the
// real CPU has), as the ops tests want a processor with EPT, VPID and the
// like.
func modelCaps(t testing.TB, name string) *vmx.Caps {
	t.Helper()
	p := profile(t, name)
	c, err := vmx.NewCaps(p.ModelVMX, nil, p.MaxPhysAddr(), 48)
	require.NoError(t, err)
	return c
}

// mapCaps builds Caps from an explicit MSR map.
func mapCaps(t testing.TB, msrs map[uint32]uint64, maxPhys uint) *vmx.Caps {
	t.Helper()
	c, err := vmx.NewCaps(func(i uint32) (uint64, bool) { v, ok := msrs[i]; return v, ok }, nil, maxPhys, 48)
	require.NoError(t, err)
	return c
}

// modelMSRs copies a model's full VMX MSRs into a map (to edit them).
func modelMSRs(t testing.TB, name string) map[uint32]uint64 {
	t.Helper()
	p := profile(t, name)
	out := map[uint32]uint64{}
	for i := msr.FirstVMX; i <= msr.LastVMX; i++ {
		if v, ok := p.ModelVMX(i); ok {
			out[i] = v
		}
	}
	return out
}

// Processor state that passes every #UD and #GP(0) check of VMXON on the
// real models: 64-bit mode (IA32_EFER.LMA = CS.L = 1), CPL 0, CR0 with PE,
// NE and PG (IA32_VMX_CR0_FIXED0 = 80000021H on every shipped model), CR4
// with VMXE (IA32_VMX_CR4_FIXED0 = 2000H) and PAE, IA32_FEATURE_CONTROL
// locked with VMXON enabled outside SMX (bits 0 and 2).
func ctx64() vmx.Ctx {
	return vmx.Ctx{
		CR0:            arch.CR0PE | arch.CR0NE | arch.CR0PG | 1<<4, // ET
		CR4:            arch.CR4VMXE | 1<<5,                         // PAE
		EFER:           1<<8 | arch.EFERLMA,                         // LME, LMA
		RFLAGS:         2,
		CSL:            true,
		FeatureControl: msr.FCLock | msr.FCVMXOutsideSMX,
	}
}

// ctx32 is ctx64 in 32-bit protected mode with paging (not IA-32e).
func ctx32() vmx.Ctx {
	c := ctx64()
	c.EFER, c.CSL = 0, false
	return c
}

// result is what an executed VMX instruction gave.
type result struct {
	out vmx.Outcome
	val uint64 // VMREAD's and VMPTRST's value
}

// exec runs insn as the core does: Check, then (unless Check decided)
// the instruction with its operands. addr is the memory operand's value
// (VMXON, VMCLEAR, VMPTRLD); enc and val are VMREAD/VMWRITE's.
func exec(v *vmx.CPU, c vmx.Ctx, m vmx.Phys, insn vmx.Insn, addr, enc, val uint64) result {
	var o vmx.Outcome
	if v.Check(insn, &c, &o) {
		return result{out: o}
	}
	mode64 := c.EFER&arch.EFERLMA != 0 && c.CSL
	switch insn {
	case vmx.InsnVMXON:
		return result{out: v.VMXON(addr, m)}
	case vmx.InsnVMXOFF:
		return result{out: v.VMXOFF(m)}
	case vmx.InsnVMCLEAR:
		return result{out: v.VMCLEAR(addr, m)}
	case vmx.InsnVMPTRLD:
		return result{out: v.VMPTRLD(addr, m)}
	case vmx.InsnVMPTRST:
		p, o := v.VMPTRST()
		return result{out: o, val: p}
	case vmx.InsnVMREAD:
		x, o := v.VMREAD(enc, mode64)
		return result{out: o, val: x}
	case vmx.InsnVMWRITE:
		return result{out: v.VMWRITE(enc, val, mode64)}
	case vmx.InsnVMCALL:
		return result{out: v.VMCALL()}
	}
	panic("unknown instruction")
}

// Addresses the scenarios use.
const (
	vmxonPA = 0x10000
	vmcsPA  = 0x20000
	vmcs2PA = 0x21000
	vmcs3PA = 0x22000
)

// rig is a processor with memory whose regions carry the right revision.
type rig struct {
	t    *testing.T
	caps *vmx.Caps
	cpu  *vmx.CPU
	mem  *phys
	ctx  vmx.Ctx
}

func newRig(t *testing.T, caps *vmx.Caps) *rig {
	r := &rig{t: t, caps: caps, cpu: vmx.New(caps, nil, 0), mem: newPhys(), ctx: ctx64()}
	for _, pa := range []uint64{vmxonPA, vmcsPA, vmcs2PA, vmcs3PA} {
		r.mem.put32(pa, caps.Revision)
	}
	return r
}

func (r *rig) do(insn vmx.Insn, addr uint64) vmx.Outcome {
	return exec(r.cpu, r.ctx, r.mem, insn, addr, 0, 0).out
}

func (r *rig) read(enc uint64) (uint64, vmx.Outcome) {
	res := exec(r.cpu, r.ctx, r.mem, vmx.InsnVMREAD, 0, enc, 0)
	return res.val, res.out
}

func (r *rig) write(enc, val uint64) vmx.Outcome {
	return exec(r.cpu, r.ctx, r.mem, vmx.InsnVMWRITE, 0, enc, val).out
}

// must runs insn and requires VMsucceed.
func (r *rig) must(insn vmx.Insn, addr uint64) {
	r.t.Helper()
	o := r.do(insn, addr)
	require.Equal(r.t, vmx.Succeed, o.Kind, "%s", o)
}

// on enters VMX root operation (and loads vmcsPA when load).
func (r *rig) on(load bool) *rig {
	r.t.Helper()
	r.must(vmx.InsnVMXON, vmxonPA)
	if load {
		r.must(vmx.InsnVMPTRLD, vmcsPA)
	}
	return r
}

// instrError reads the VM-instruction error field (encoding 4400H, SDM
// Vol. 3D B.3.2) of the current VMCS.
func (r *rig) instrError() uint64 {
	r.t.Helper()
	v, o := r.read(0x4400)
	require.Equal(r.t, vmx.Succeed, o.Kind, "VMREAD of the VM-instruction error field: %s", o)
	return v
}

package msr

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The conformance test: every shipped model reproduces its source exactly.
// Expected values are read from the project's reference data at test time
// (the repository's copy of ../shared/reference/cpus, testdata/reference/cpus:
// testdata/README.md), never retyped here.
// The dumps are read with a parser of the test's own, independent of
// ParseAIDA64: CPUID lines of logical CPU #0, leaf by leaf in order, and
// the first MSR section.

// refDir is the reference data, relative to this package's directory: the
// models' source lines say ../shared/reference/cpus/X, the copy is
// testdata/reference/cpus/X.
const refDir = "../testdata/reference/cpus"

func needRef(t *testing.T) {
	t.Helper()
	_, err := os.Stat(refDir)
	require.NoError(t, err, "reference data (part of the repository: testdata/README.md)")
}

var sourcePathRE = regexp.MustCompile(`\.\./shared/reference/cpus/(\S+)`)

// sourcesOf returns the AIDA64 dump and the per-CPU VMX file a model
// names in its source lines.
func sourcesOf(t *testing.T, m *Model) (dump, vmxFile string) {
	t.Helper()
	for _, s := range m.Sources {
		sm := sourcePathRE.FindStringSubmatch(s)
		require.NotNil(t, sm, "%s: source line without a reference path: %q", m.Name, s)
		p := strings.TrimRight(sm[1], "),")
		switch {
		case strings.HasPrefix(s, "cpuid,msr "):
			dump = filepath.Join(refDir, p)
		case strings.HasPrefix(s, "vmx "):
			vmxFile = filepath.Join(refDir, p)
		}
	}
	require.NotEmpty(t, dump, "%s: no cpuid,msr source", m.Name)
	require.NotEmpty(t, vmxFile, "%s: no vmx source", m.Name)
	return dump, vmxFile
}

type dumpLine struct {
	regs Regs
	sl   int // [SL nn], or -1
}

// readDump reads logical CPU #0's CPUID lines (by leaf, in file order) and
// the first MSR section of an AIDA64 dump.
func readDump(t *testing.T, path string) (map[uint32][]dumpLine, map[uint32]uint64) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	cpuid := map[uint32][]dumpLine{}
	msrs := map[uint32]uint64{}
	hex32 := func(s string) uint32 {
		v, err := strconv.ParseUint(s, 16, 32)
		require.NoError(t, err)
		return uint32(v)
	}
	cpuRE := regexp.MustCompile(`^CPUID (\w{8}): (\w{8})-(\w{8})-(\w{8})-(\w{8})(?:.*\[SL (\w\w)\])?`)
	msrRE := regexp.MustCompile(`^MSR (\w{8}): (\w{4})-(\w{4})-(\w{4})-(\w{4})`)
	section, cpuDone, msrDone := "", false, false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "------[") {
			cpuDone = cpuDone || section == "cpu"
			msrDone = msrDone || section == "msr"
			section = ""
			if !cpuDone && strings.Contains(line, "Logical CPU #0 ") {
				section = "cpu"
			} else if !msrDone && strings.Contains(line, "MSR Registers") {
				section = "msr"
			}
			continue
		}
		if sm := cpuRE.FindStringSubmatch(line); sm != nil && section == "cpu" {
			d := dumpLine{regs: Regs{hex32(sm[2]), hex32(sm[3]), hex32(sm[4]), hex32(sm[5])}, sl: -1}
			if sm[6] != "" {
				d.sl = int(hex32(sm[6]))
			}
			cpuid[hex32(sm[1])] = append(cpuid[hex32(sm[1])], d)
		}
		if sm := msrRE.FindStringSubmatch(line); sm != nil && section == "msr" {
			v, err := strconv.ParseUint(sm[2]+sm[3]+sm[4]+sm[5], 16, 64)
			require.NoError(t, err)
			msrs[hex32(sm[1])] = v
		}
	}
	require.NotEmpty(t, cpuid, "%s: no CPUID lines for logical CPU #0", path)
	return cpuid, msrs
}

// readVMXFile reads a per-CPU VMX MSR file: "MSR 0x480 NAME = 0x..." or
// "= not in source".
func readVMXFile(t *testing.T, path string) (seen map[uint32]uint64, absent map[uint32]bool) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	seen, absent = map[uint32]uint64{}, map[uint32]bool{}
	re := regexp.MustCompile(`^MSR 0x(\w+) \S+\s+= (0x\w+|not in source)`)
	for _, line := range strings.Split(string(b), "\n") {
		sm := re.FindStringSubmatch(line)
		if sm == nil {
			continue
		}
		idx, err := strconv.ParseUint(sm[1], 16, 32)
		require.NoError(t, err)
		if sm[2] == "not in source" {
			absent[uint32(idx)] = true
			continue
		}
		v, err := strconv.ParseUint(sm[2][2:], 16, 64)
		require.NoError(t, err)
		seen[uint32(idx)] = v
	}
	return seen, absent
}

// vmxFileDiffers lists where a per-CPU VMX file describes a different SKU
// than the AIDA64 dump the model is built from, as the file itself notes.
var vmxFileDiffers = map[string]map[uint32]string{
	"ivybridge": {VMXCR4Fixed1: "the VMX file is the i7-3770 (SMX: 0x1767FF); the dump is the i7-3770K (no SMX: 0x1727FF), as the file's header says"},
}

func TestModelsReproduceSources(t *testing.T) {
	needRef(t)
	ms, err := Models()
	require.NoError(t, err)
	require.GreaterOrEqual(t, len(ms), 7)
	for _, m := range ms {
		t.Run(m.Name, func(t *testing.T) {
			dump, vmxFile := sourcesOf(t, m)
			cpuid, msrs := readDump(t, dump)

			// CPUID: the model's entries for each leaf are the dump's lines
			// for that leaf, in subleaf order, and nothing else.
			got := map[uint32][]Leaf{}
			for _, l := range m.CPUID {
				got[l.Leaf] = append(got[l.Leaf], l)
			}
			assert.Len(t, got, len(cpuid), "number of CPUID leaves")
			for leaf, lines := range cpuid {
				require.Len(t, got[leaf], len(lines), "leaf %#x: subleaves", leaf)
				for i, d := range lines {
					assert.Equal(t, d.regs, got[leaf][i].Regs, "leaf %#x line %d", leaf, i)
					if d.sl >= 0 {
						assert.Equal(t, uint32(d.sl), got[leaf][i].Subleaf, "leaf %#x line %d: [SL]", leaf, i)
					}
				}
			}

			// MSRs: every MSR of the dump, and the supplied ones only where
			// the dump has none.
			for idx, v := range msrs {
				mv, ok := m.MSR(idx)
				if assert.True(t, ok, "MSR %#x missing", idx) {
					assert.Equal(t, v, mv.Value, "MSR %#x", idx)
					assert.Empty(t, mv.Assumed, "MSR %#x is in the source", idx)
				}
			}
			for _, mv := range m.MSRs {
				if _, inDump := msrs[mv.Index]; !inDump {
					assert.NotEmpty(t, mv.Assumed, "MSR %#x is neither in the source nor marked assumed", mv.Index)
				}
			}

			// Every VMX MSR of the per-CPU file.
			seen, absent := readVMXFile(t, vmxFile)
			for idx, v := range seen {
				mv, ok := m.MSR(idx)
				if why, differs := vmxFileDiffers[m.Name][idx]; differs {
					t.Logf("%s: %s", Name(idx), why)
					continue
				}
				if idx == FeatureControl {
					continue // firmware state, set by -feature-control
				}
				if assert.True(t, ok, "%s missing", Name(idx)) {
					assert.Equal(t, v, mv.Value, "%s", Name(idx))
				}
			}
			for idx := range absent {
				if mv, ok := m.MSR(idx); ok {
					assert.NotEmpty(t, mv.Assumed, "%s: the VMX file has no value, so the model's must be marked assumed", Name(idx))
				}
			}
		})
	}
}

// The generator's output is a faithful import: re-importing the dump
// gives the same leaves and MSRs.
func TestModelsMatchImport(t *testing.T) {
	needRef(t)
	ms, err := Models()
	require.NoError(t, err)
	for _, m := range ms {
		dump, _ := sourcesOf(t, m)
		b, err := os.ReadFile(dump)
		require.NoError(t, err)
		imp, err := ParseAIDA64(bytes.NewReader(b), m.Name)
		require.NoError(t, err)
		assert.Equal(t, imp.CPUID, m.CPUID, m.Name)
		var own []MSRValue
		for _, v := range m.MSRs {
			if v.Assumed == "" {
				own = append(own, v)
			}
		}
		assert.Equal(t, imp.MSRs, own, m.Name)
	}
}

// IA32_VMX_CR4_FIXED1 follows CPUID: the derivation reproduces every
// model's hardware value, which is what lets toggles and the honesty mask
// go through it.
func TestCR4Fixed1FollowsCPUID(t *testing.T) {
	ms, err := Models()
	require.NoError(t, err)
	for _, m := range ms {
		v, ok := m.MSR(VMXCR4Fixed1)
		require.True(t, ok, m.Name)
		got := CR4Fixed1For(func(leaf, sub uint32) Regs { r, _ := m.Leaf(leaf, sub); return r })
		assert.Equal(t, v.Value, got, "%s: CR4_FIXED1 %#x, derived %#x", m.Name, v.Value, got)
	}
}

// The seed's machine.
func TestSandyBridgeEPIsTheSeed(t *testing.T) {
	m, err := Lookup(DefaultModel)
	require.NoError(t, err)
	assert.Equal(t, "sandybridge-ep", m.Name)
	assert.Equal(t, uint32(0x206D5), m.Signature())
	b, ok := m.MSR(VMXBasic)
	require.True(t, ok)
	assert.Equal(t, uint64(16), b.Value&0x7FFFFFFF, "revision")
	assert.Equal(t, uint64(1024), b.Value>>32&0x1FFF, "region size")
	assert.Zero(t, b.Value>>48&1, "bit 48")
}

// TestKnownGaps lists, per model, what vmxemu hides and why. Every gap has
// a reason, VM entry is one of them until it exists (VMX operation is
// reported), and nothing the guest sees is unimplemented.
func TestKnownGaps(t *testing.T) {
	ms, err := Models()
	require.NoError(t, err)
	for _, m := range ms {
		p, err := Resolve(m, nil)
		require.NoError(t, err)
		var lines []string
		for _, g := range p.Gaps() {
			require.NotEmpty(t, g.Why, "%s: gap %s without a reason", m.Name, g.What)
			lines = append(lines, g.What)
		}
		t.Logf("%s known gaps: %s", m.Name, strings.Join(lines, ", "))
		assert.Contains(t, lines, "vmx-controls", m.Name)
		assert.True(t, p.Reports("vmx"), m.Name)
		// No control beyond the default settings and those VM entry and
		// exits honour (SDM Vol. 3C 25.6.1 Table 25-5 bits 0, 3, 5, 6, 7;
		// 25.6.2 Table 25-6: interrupt-window exiting 2, use TSC offsetting
		// 3, HLT 7, INVLPG 9, MWAIT 10, RDPMC 11, RDTSC 12, CR3-load 15, CR3-store
		// 16, CR8-load 19, CR8-store 20 exiting, use TPR shadow 21,
		// NMI-window exiting 22, MOV-DR 23, unconditional I/O 24
		// exiting, use I/O bitmaps 25, monitor trap flag 27, use MSR
		// bitmaps 28, MONITOR 29 and PAUSE 30 exiting, activate secondary
		// controls 31;
		// 25.7.1 Table 25-13 bits 2, 9, 15, 20 and 21 (save and load
		// IA32_EFER), 22; 25.8.1 Table 25-15 bits 2, 9, 15 (load
		// IA32_EFER)).
		honoured := map[uint32]uint64{VMXPinbasedCtls: 1<<0 | 1<<3 | 1<<5 | 1<<6 | 1<<7,
			VMXProcbasedCtls: 1<<2 | 1<<3 | 1<<7 | 1<<9 | 1<<10 | 1<<11 | 1<<12 | 1<<15 | 1<<16 | 1<<19 | 1<<20 | 1<<21 | 1<<22 | 1<<23 | 1<<24 | 1<<25 | 1<<27 | 1<<28 | 1<<29 | 1<<30 | 1<<31,
			VMXExitCtls:      1<<2 | 1<<9 | 1<<15 | 1<<20 | 1<<21 | 1<<22, VMXEntryCtls: 1<<2 | 1<<9 | 1<<15}
		for _, pair := range [][2]uint32{{VMXPinbasedCtls, VMXTruePinbasedCtls}, {VMXProcbasedCtls, VMXTrueProcbasedCtls},
			{VMXExitCtls, VMXTrueExitCtls}, {VMXEntryCtls, VMXTrueEntryCtls}} {
			v, ok := p.GuestVMX(pair[0])
			require.True(t, ok, "%s %s", m.Name, Name(pair[0]))
			mv, _ := p.ModelVMX(pair[0])
			assert.Equal(t, v&0xFFFFFFFF|mv>>32&honoured[pair[0]], v>>32, "%s %s: allowed-1 = allowed-0 and the honoured controls", m.Name, Name(pair[0]))
			if tv, ok := p.GuestVMX(pair[1]); ok {
				assert.Equal(t, v>>32, tv>>32, "%s %s: allowed-1 as the legacy MSR (SDM Vol. 3D A.3.1)", m.Name, Name(pair[1]))
				mv, _ := p.ModelVMX(pair[1])
				assert.Equal(t, mv&0xFFFFFFFF, tv&0xFFFFFFFF, "%s %s: allowed-0 kept", m.Name, Name(pair[1]))
			}
		}
		// Secondary controls (Table 25-7): virtualize APIC accesses 0,
		// virtualize x2APIC mode 4, APIC-register virtualization 8,
		// virtual-interrupt delivery 9, enable EPT 1, descriptor-table
		// exiting 2, enable RDTSCP 3, enable VPID 5, WBINVD exiting 6,
		// unrestricted guest 7, RDRAND exiting 11, enable INVPCID 12,
		// enable VM functions 13, VMCS shadowing 14, RDSEED exiting 16,
		// enable PML 17, EPT-violation #VE 18, mode-based execute control
		// for EPT 22, PAUSE-loop exiting 10, enable XSAVES/XRSTORS 20, use
		// TSC scaling 25, where the model has them, with the model's
		// allowed-0 half.
		v2, ok := p.GuestVMX(VMXProcbasedCtls2)
		require.True(t, ok, m.Name)
		mv2, _ := p.ModelVMX(VMXProcbasedCtls2)
		assert.Equal(t, mv2&(0xFFFFFFFF|(1<<0|1<<1|1<<2|1<<3|1<<4|1<<5|1<<6|1<<7|1<<8|1<<9|1<<10|1<<11|1<<12|1<<13|1<<14|1<<16|1<<17|1<<18|1<<20|1<<22|1<<25)<<32), v2, "%s: secondary controls", m.Name)
		// A processor that allows "unrestricted guest" reports
		// IA32_VMX_MISC[5] = 1: VM exits store IA32_EFER.LMA into the
		// "IA-32e mode guest" entry control (SDM Vol. 3D A.6), which
		// vmx.Exit does.
		if v2>>(32+7)&1 != 0 {
			misc, _ := p.GuestVMX(VMXMisc)
			assert.Equal(t, uint64(1), misc>>5&1, "%s: unrestricted guest without IA32_VMX_MISC[5]", m.Name)
		}
		// IA32_VMX_EPT_VPID_CAP (SDM Vol. 3D A.10): execute-only (0),
		// page-walk length 4/5 (6, 7), UC/WB (8, 14), 2M/1G pages (16,
		// 17), INVEPT (20), A/D (21), advanced VM-exit information for
		// EPT violations (22), INVEPT types (25, 26), INVVPID (32) and its
		// types (40-43); the rest hidden.
		ec, ok := p.GuestVMX(VMXEPTVPIDCap)
		require.True(t, ok, m.Name)
		mec, _ := p.ModelVMX(VMXEPTVPIDCap)
		const sdmA10 = 0x0000_0F01_0673_41C1
		assert.Equal(t, mec&sdmA10, ec, "%s: IA32_VMX_EPT_VPID_CAP", m.Name)
		// IA32_VMX_MISC (Vol. 3D A.6): no Intel PT in VMX operation (bit
		// 14: the models hide intel-pt); the rest as the model, the
		// activity states HLT, shutdown and wait-for-SIPI (bits 8:6)
		// among them.
		// IA32_VMX_BASIC (Vol. 3D A.1): no dual-monitor treatment (bit
		// 49, no SMM) and nothing in bits 63:57 (Sapphire Rapids' dump
		// has bit 57; bit 58 is FRED's): the rest as the model.
		basic, _ := p.GuestVMX(VMXBasic)
		mbasic, _ := p.ModelVMX(VMXBasic)
		assert.Equal(t, mbasic&(1<<57-1)&^(1<<49), basic, "%s: IA32_VMX_BASIC", m.Name)
		misc, _ := p.GuestVMX(VMXMisc)
		mmisc, _ := p.ModelVMX(VMXMisc)
		assert.Equal(t, mmisc&^(1<<14), misc, "%s: IA32_VMX_MISC", m.Name)
		_, ok = p.GuestVMX(VMXProcbasedCtls3)
		assert.False(t, ok, "%s: %s needs controls vmxemu does not implement yet", m.Name, Name(VMXProcbasedCtls3))
		// IA32_VMX_VMFUNC (Vol. 3D A.11) exists with "enable VM
		// functions" and reports EPTP switching (bit 0), the one VM
		// function Intel defines.
		vf, ok := p.GuestVMX(VMXVMFunc)
		assert.Equal(t, v2>>(32+13)&1 != 0, ok, "%s: IA32_VMX_VMFUNC with enable VM functions", m.Name)
		if ok {
			mvf, _ := p.ModelVMX(VMXVMFunc)
			assert.Equal(t, mvf&1, vf, "%s: IA32_VMX_VMFUNC", m.Name)
		}
		for _, f := range features {
			if p.Reports(f.Name) {
				assert.True(t, f.Implemented, "%s reports %s, which vmxemu does not implement", m.Name, f.Name)
			}
		}
	}
}

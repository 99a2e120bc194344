package guests

import (
	"debug/elf"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/vmxemu/vmxemu/msr"
)

// The vmxon guest runs the VMX bring-up of the seed's BSD port on every CPU
// (issues 13 and 17): FEATURE_CONTROL, the capability MSRs, CR0/CR4 fixed
// bits, VMXON, VMCLEAR/VMPTRLD/VMPTRST, VMREAD/VMWRITE over every field,
// VMXOFF, and broken variants of each step. It is vmxemu-only (SideBySide
// is false): QEMU's TCG has no VMX, so under QEMU CPUID.1:ECX.VMX is 0 and
// there is nothing to compare with.
//
// Expected values come from the SDM and the reference dumps
// (../shared/reference/cpus), never from vmxemu's output: the sysctl lines
// from each model's IA32_VMX_BASIC, the CR0/CR4 the guest sets checked
// against the dump's fixed-bit MSRs, VMWRITE to a read-only field from the
// dump's IA32_VMX_MISC[29], the outcome of each broken variant from the
// pseudocode of SDM Vol. 3C 31.3 (and the guest itself checks every
// outcome against the SDM and exits 0x11 on a mismatch).

// vmxonFlags are the emulator flags for a vmxon run.
func vmxonFlags(img, appendText string, extra ...string) []string {
	return append([]string{
		"-nographic", "-no-reboot", "-nodefaults", "-serial", "stdio", "-display", "none",
		"-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-m", memoryArg,
		"-kernel", img, "-append", appendText, "-d", "int",
	}, extra...)
}

func runVMXON(t *testing.T, appendText string, wantStatus int, extra ...string) runResult {
	t.Helper()
	img := guestImage(t, "vmxon")
	res, err := runEmulator(vmxemuPath(t), vmxonFlags(img, appendText, extra...))
	require.NoError(t, err)
	require.Equalf(t, wantStatus, res.status, "vmxon %q %v: exit status\nstdout:\n%s\nstderr:\n%s",
		appendText, extra, res.stdout, res.stderr)
	return res
}

// refVMXMSR reads one VMX MSR from a model's per-CPU reference file, e.g.
// "0x485 IA32_VMX_MISC".
func refVMXMSR(t *testing.T, m *msr.Model, name string) uint64 {
	t.Helper()
	re := regexp.MustCompile(`\.\./shared/reference/cpus/(\S+)`)
	for _, s := range m.Sources {
		if !strings.HasPrefix(s, "vmx ") {
			continue
		}
		// The repository's copy (testdata/README.md).
		p := filepath.Join("..", "testdata", "reference", "cpus", re.FindStringSubmatch(s)[1])
		b, err := os.ReadFile(p)
		require.NoError(t, err, "reference data (part of the repository: testdata/README.md)")
		sm := regexp.MustCompile(`(?m)^MSR ` + regexp.QuoteMeta(name) + `\s+= 0x(\w+)`).FindSubmatch(b)
		require.NotNil(t, sm, "%s: no %s line", p, name)
		v, err := strconv.ParseUint(string(sm[1]), 16, 64)
		require.NoError(t, err)
		return v
	}
	t.Fatalf("%s names no vmx source", m.Name)
	return 0
}

// inOrder asserts that want's lines appear in out, in this order.
func inOrder(t *testing.T, out []string, want []string, msgAndArgs ...any) bool {
	t.Helper()
	i := 0
	for _, l := range out {
		if i < len(want) && l == want[i] {
			i++
		}
	}
	if i < len(want) {
		return assert.Fail(t, fmt.Sprintf("line %q missing or out of order (after %d of %d expected lines)\noutput:\n%s",
			want[i], i, len(want), strings.Join(out, "\n")), msgAndArgs...)
	}
	return true
}

// The VMCS fields of vmxemu's models as the guest sees them: the entries
// of SDM Vol. 3D Appendix B without an "exists only on processors that
// support ..." condition, plus those of the optional controls vmxemu
// honours that bring fields: "use MSR bitmaps", "use TPR shadow",
// "activate secondary controls", "enable VPID" and "enable EPT" (every
// model has them); "VMCS shadowing" where the model has it (goodPath).
const (
	// B.1.1 virtual-processor identifier (1, VPID); B.1.2 guest ES..TR
	// selectors (8), B.1.3 host ES..TR selectors (7).
	fields16 = 1 + 8 + 7
	// B.2.1 I/O bitmaps A and B, VM-exit MSR-store/-load, VM-entry
	// MSR-load addresses, executive-VMCS pointer, TSC offset (7), the
	// address of MSR bitmaps (1, "use MSR bitmaps"), the virtual-APIC
	// address (1, "use TPR shadow") and the EPT pointer (1, EPT); B.2.2 guest-physical address (1, EPT); B.2.3 VMCS link
	// pointer, guest IA32_DEBUGCTL (2), guest IA32_EFER (1, "load/save
	// IA32_EFER") and guest PDPTE0-3 (4, EPT); B.2.4 host IA32_EFER (1,
	// "load IA32_EFER").
	fields64 = 7 + 1 + 1 + 1 + 1 + 2 + 1 + 4 + 1
	// B.3.1 0x4000..0x401A (14), the TPR threshold 0x401C (1, "use TPR
	// shadow") and the secondary processor-based controls 0x401E (1); B.3.2 the 8 VM-exit information fields; B.3.3
	// 0x4800..0x482A (22: limits, access rights, interruptibility,
	// activity, SMBASE, SYSENTER_CS); B.3.4 host SYSENTER_CS (1).
	fields32 = 14 + 1 + 1 + 8 + 22 + 1
	// B.4.1 CR0/CR4 mask and shadow, CR3-target values 0-3 (8); B.4.2
	// exit qualification, I/O RCX/RSI/RDI/RIP, guest-linear address (6);
	// B.4.3 0x6800..0x6826 (20); B.4.4 0x6C00..0x6C16 (12).
	fieldsNat = 8 + 6 + 20 + 12
	// Read-only (VM-exit information) fields: B.3.2, B.4.2 and the
	// guest-physical address (B.2.2).
	fieldsRO = 8 + 6 + 1
	// Of them 64-bit: the guest-physical address (no VMWRITE round trip
	// of its high half).
	fields64RO = 1
	// The highest index among them: guest IA32_SYSENTER_CS, 0x482A
	// (index 21); IA32_VMX_VMCS_ENUM[9:1] must report it (Vol. 3D A.9).
	highestIndex = 0x482A >> 1 & 0x1FF
	// Appendix B encodings the guest probes (its table).
	appendixB = 173
)

// goodPath is what every CPU prints on the good path, in order, for a
// model whose IA32_VMX_BASIC, IA32_VMX_MISC and IA32_VMX_PINBASED_CTLS
// are basic, misc and pin. With "activate VMX-preemption timer" allowed
// (pin-based bit 6, which vmxemu honours) the B.3.3 field 0x482E
// "VMX-preemption timer value" exists too and is the highest index (23).
//
// The secondary controls sec (IA32_VMX_PROCBASED_CTLS2) bring the fields
// of the optional EPT features vmxemu honours (Appendix B): "enable VM
// functions" (13) the VM-function controls 0x2018 and — EPTP switching
// being the one VM function, IA32_VMX_VMFUNC = 1 on every model that has
// the MSR — the EPTP-list address 0x2024; "enable PML" (17) the PML index
// 0x0812 and PML address 0x200E; "EPT-violation #VE" (18) the EPTP index
// 0x0004 and the virtualization-exception information address 0x202A;
// "VMCS shadowing" (14) the VMREAD- and VMWRITE-bitmap addresses 0x2026
// and 0x2028; "virtualize APIC accesses" (0) the APIC-access address
// 0x2014; "virtual-interrupt delivery" (9) the guest interrupt status
// 0x0810 and the EOI-exit bitmaps 0-3 (0x201C-0x2022). With "process
// posted interrupts" allowed (pin-based control 7) the notification
// vector 0x0002 and the descriptor address 0x2016 exist too.
// Likewise "PAUSE-loop exiting" (10) brings PLE_Gap 0x4020 and PLE_Window
// 0x4022; "enable XSAVES/XRSTORS" (20) the XSS-exiting bitmap 0x202C;
// "use TSC scaling" (25) the TSC multiplier 0x2032, whose index (25) is
// then the highest.
func goodPath(cpu int, basic, misc, pin, sec uint64) []string {
	all := fields16 + fields64 + fields32 + fieldsNat
	fields64 := fields64
	highestIndex := highestIndex
	if pin>>(32+6)&1 != 0 {
		all++
		highestIndex = 0x482E >> 1 & 0x1FF
	}
	for _, f := range []struct {
		bit           uint
		n16, n32, n64 int
	}{{0, 0, 0, 1}, {9, 1, 0, 4}, {10, 0, 2, 0}, {13, 0, 0, 2}, {14, 0, 0, 2}, {17, 1, 0, 1}, {18, 1, 0, 1}, {20, 0, 0, 1}, {25, 0, 0, 1}} {
		if sec>>(32+f.bit)&1 != 0 {
			all += f.n16 + f.n32 + f.n64
			fields64 += f.n64
		}
	}
	if pin>>(32+7)&1 != 0 {
		all += 2
		fields64++
	}
	if sec>>(32+20)&1 != 0 {
		highestIndex = max(highestIndex, 0x202C>>1&0x1FF)
	}
	if sec>>(32+25)&1 != 0 {
		highestIndex = max(highestIndex, 0x2032>>1&0x1FF)
	}
	rw := all - fieldsRO
	ro := fmt.Sprintf("cpu %d: VM-exit information fields: VMWRITE to %d refused with VMfailValid(13) (IA32_VMX_MISC[29] = 0)",
		cpu, fieldsRO-1) // the VM-instruction error field is volatile: not written
	kept, highs := rw, fields64-fields64RO
	if misc>>29&1 != 0 {
		highs = fields64
		ro = fmt.Sprintf("cpu %d: VM-exit information fields: %d round trips ok (IA32_VMX_MISC[29] = 1)", cpu, fieldsRO-1)
		kept += fieldsRO - 1
	}
	return []string{
		fmt.Sprintf("cpu %d: VMPTRST after VMXON: 0xffffffffffffffff", cpu), // Vol. 3C 31.3 VMXON
		fmt.Sprintf("cpu %d: VMCLEAR: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: VMPTRLD: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: VMPTRST: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: VMPTRST = the VMCS pointer: yes", cpu),
		// VMWRITE keeps a 16- or 32-bit field's low bits, VMREAD
		// zero-extends (Vol. 3C 31.3 VMREAD, VMWRITE; 25.11.2).
		fmt.Sprintf("cpu %d: VMWRITE of all ones: 16-bit field reads 0xffff, 32-bit field reads 0xffffffff", cpu),
		fmt.Sprintf("cpu %d: VMCS fields: %d of %d Appendix B encodings supported (%d 64-bit with a high half), "+
			"0 mismatches against the capability MSRs; high access to the other %d refused (12)",
			cpu, all, appendixB, fields64, all-fields64),
		fmt.Sprintf("cpu %d: highest field index %d, IA32_VMX_VMCS_ENUM 0x%x (index %d): consistent",
			cpu, highestIndex, highestIndex<<1, highestIndex),
		fmt.Sprintf("cpu %d: VMWRITE/VMREAD round trips: %d read-write fields, %d high halves ok, 0 failed",
			cpu, rw, highs),
		ro,
		fmt.Sprintf("cpu %d: VMCLEAR: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: VMPTRST after VMCLEAR: 0xffffffffffffffff", cpu), // Vol. 3C 31.3 VMCLEAR
		fmt.Sprintf("cpu %d: VMPTRLD again: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: after VMCLEAR and VMPTRLD: %d of %d fields kept their values", cpu, kept, kept),
		fmt.Sprintf("cpu %d: VMCLEAR: VMsucceed", cpu),
	}
}

// eptFacts are the addresses of the demo guest's EPT step, from the
// image's symbol table (the linker's, not the program's output): its probe
// page, the page no-invept points the probe page's entry at, the per-CPU
// EPT PML4 tables, the kernel's end.
type eptFacts struct {
	probe, other, pml4, end uint64
}

func vmxonEPT(t *testing.T) eptFacts {
	t.Helper()
	f, err := elf.Open(guestImage(t, "vmxon"))
	require.NoError(t, err)
	defer f.Close()
	syms, err := f.Symbols()
	require.NoError(t, err)
	var e eptFacts
	for _, s := range syms {
		switch s.Name {
		case "probe_page":
			e.probe = s.Value
		case "other_page":
			e.other = s.Value
		case "ept_pml4":
			e.pml4 = s.Value
		case "__bss_end":
			e.end = s.Value
		}
	}
	require.True(t, e.probe != 0 && e.other != 0 && e.pml4 != 0 && e.end != 0, "symbols of the EPT step: %+v", e)
	return e
}

// eptp is CPU cpu's EPT pointer (SDM Vol. 3C 25.6.11): its PML4 table
// (4 KiB per CPU), memory type WB (6, IA32_VMX_EPT_VPID_CAP bit 14 on
// every model), page-walk length 4 - 1 in bits 5:3.
func (e eptFacts) eptp(cpu int) uint64 { return e.pml4 + uint64(cpu)*4096 | 6 | 3<<3 }

// eptQual is the exit qualification of the guest's read of the page the
// EPT map leaves out (SDM Vol. 3C Table 28-7): a data read (bit 0), no
// permission since the entry is not present (bits 5:3 = 0), a valid
// guest-linear address (bit 7) whose translation was accessed (bit 8);
// with advanced VM-exit information (IA32_VMX_EPT_VPID_CAP bit 22) bits
// 11:9 describe the linear address: the kernel's page tables
// (compute64/entry.S) map it with P and R/W, without U/S or XD, so only
// bit 10 (read/write).
func eptQual(caps uint64) uint64 {
	q := uint64(1 | 1<<7 | 1<<8)
	if caps>>22&1 != 0 {
		q |= 1 << 10
	}
	return q
}

// launchPath is what CPU cpu prints in phase 3, the guest (SDM Vol. 3C
// chapters 27 and 28): the controls are the allowed-0 settings of the
// dump's TRUE_* capability MSRs (IA32_VMX_BASIC[55] is 1 on every model;
// Vol. 3D A.2) with "host address-space size" (VM-exit bit 9) and
// "IA-32e mode guest" (VM-entry bit 9) added, and for the EPT step
// "activate secondary controls" (primary bit 31) with "enable EPT"
// (secondary bit 1) and "enable VPID" (bit 5) where the dump's
// IA32_VMX_PROCBASED_CTLS2 allows them (every model); CPUID exits
// unconditionally with reason 10 and VMCALL with 18 (26.1.2, Appendix C),
// both with exit qualification 0 (Table 28-1 has none for them) and
// their instruction lengths (CPUID 0F A2, VMCALL 0F 01 C1); between them
// the read of the page left out of the map is an EPT violation (reason
// 48) with the guest-physical address of that page.
func launchPath(t *testing.T, m *msr.Model, e eptFacts, cpu int) []string {
	basic := refBasic(t, m)
	require.NotZero(t, basic>>55&1, "IA32_VMX_BASIC[55]: the TRUE_* MSRs exist")
	a0 := func(name string) uint64 { return refVMXMSR(t, m, name) & 0xFFFFFFFF }
	proc2 := refVMXMSR(t, m, "0x48B IA32_VMX_PROCBASED_CTLS2")
	caps := refVMXMSR(t, m, "0x48C IA32_VMX_EPT_VPID_CAP")
	require.NotZero(t, proc2>>33&1, "enable EPT allowed")
	require.NotZero(t, proc2>>37&1, "enable VPID allowed")
	const need = 1<<6 | 1<<14 | 1<<16 | 1<<20 | 1<<25
	require.Equal(t, uint64(need), caps&need, "4-level walk, WB, 2-MiB pages, INVEPT, single-context INVEPT")
	return []string{
		fmt.Sprintf("cpu %d: VMCLEAR: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: VMPTRLD: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: EPT: identity map of 0-1 GiB (4 levels, 2-MiB pages), gpa %#x left out; "+
			"EPTP %#x (WB, walk length 4); VPID %d", cpu, e.probe, e.eptp(cpu), cpu+1),
		fmt.Sprintf("cpu %d: VMLAUNCH: controls pin %#x proc %#x proc2 %#x exit %#x entry %#x", cpu,
			a0("0x48D IA32_VMX_TRUE_PINBASED_CTLS"), a0("0x48E IA32_VMX_TRUE_PROCBASED_CTLS")|1<<31,
			proc2&0xFFFFFFFF|1<<1|1<<5,
			a0("0x48F IA32_VMX_TRUE_EXIT_CTLS")|1<<9, a0("0x490 IA32_VMX_TRUE_ENTRY_CTLS")|1<<9),
		fmt.Sprintf("cpu %d: vm-exit reason 10 (CPUID) qual 0x0 len 2 -> resume", cpu),
		fmt.Sprintf("cpu %d: vm-exit reason 48 (EPT violation) qual %#x (read, not present) gpa %#x -> map, INVEPT, resume",
			cpu, eptQual(caps), e.probe),
		fmt.Sprintf("cpu %d: INVEPT: VMsucceed", cpu),
		fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done", cpu),
		fmt.Sprintf("cpu %d: the guest's CPUID vendor: GenuineIntel", cpu),
		fmt.Sprintf("cpu %d: VMCLEAR: VMsucceed", cpu),
	}
}

var crLine = regexp.MustCompile(`^cpu (\d+): CR0 0x\w+ -> 0x(\w+) \(fixed0 0x\w+ fixed1 0x\w+\), CR4 0x\w+ -> 0x(\w+) `)

// checkFixedBits checks the CR0/CR4 each CPU set against the dump's
// fixed-bit MSRs (SDM Vol. 3D A.7, A.8): FIXED0 bits 1, FIXED1's 0 bits 0.
func checkFixedBits(t *testing.T, m *msr.Model, out []string, ncpus int) {
	t.Helper()
	cr0f0, cr0f1 := refVMXMSR(t, m, "0x486 IA32_VMX_CR0_FIXED0"), refVMXMSR(t, m, "0x487 IA32_VMX_CR0_FIXED1")
	cr4f0, cr4f1 := refVMXMSR(t, m, "0x488 IA32_VMX_CR4_FIXED0"), refVMXMSR(t, m, "0x489 IA32_VMX_CR4_FIXED1")
	seen := 0
	for _, l := range out {
		sm := crLine.FindStringSubmatch(l)
		if sm == nil {
			continue
		}
		seen++
		cr0, _ := strconv.ParseUint(sm[2], 16, 64)
		cr4, _ := strconv.ParseUint(sm[3], 16, 64)
		assert.Equal(t, cr0f0, cr0&cr0f0, "cpu %s: CR0 0x%x lacks IA32_VMX_CR0_FIXED0 bits", sm[1], cr0)
		assert.Zero(t, cr0&^cr0f1, "cpu %s: CR0 0x%x has bits IA32_VMX_CR0_FIXED1 clears", sm[1], cr0)
		assert.Equal(t, cr4f0, cr4&cr4f0, "cpu %s: CR4 0x%x lacks IA32_VMX_CR4_FIXED0 bits", sm[1], cr4)
		assert.Zero(t, cr4&^cr4f1, "cpu %s: CR4 0x%x has bits IA32_VMX_CR4_FIXED1 clears", sm[1], cr4)
		assert.NotZero(t, cr4&(1<<13), "CR4.VMXE")
	}
	assert.Equal(t, ncpus, seen, "one CR0/CR4 line per CPU")
}

// The good path on every model, on 1 and 4 CPUs: the seed's sysctl lines
// with the model's values, VMXON on every CPU, the VMCS work on every CPU
// in turn, VMXOFF on every CPU.
func TestVMXONModels(t *testing.T) {
	ms, err := msr.Models()
	require.NoError(t, err)
	require.NotEmpty(t, ms)
	e := vmxonEPT(t)
	for _, m := range ms {
		for _, n := range []int{1, 4} {
			t.Run(fmt.Sprintf("%s/smp%d", m.Name, n), func(t *testing.T) {
				t.Parallel()
				basic := refBasic(t, m)
				misc := refVMXMSR(t, m, "0x485 IA32_VMX_MISC")
				pin := refVMXMSR(t, m, "0x481 IA32_VMX_PINBASED_CTLS")
				sec := refVMXMSR(t, m, "0x48B IA32_VMX_PROCBASED_CTLS2")
				res := runVMXON(t, "", ExitPass, "-cpu", m.Name, "-smp", strconv.Itoa(n))
				out := lines(res.stdout)
				want := []string{
					"vmxemu vmxon guest",
					"scenario none: the bring-up as the SDM prescribes it",
					fmt.Sprintf("cpus: %d (%d started with INIT-SIPI-SIPI)", n, n-1),
				}
				for c := 0; c < n; c++ {
					want = append(want,
						fmt.Sprintf("cpu %d: IA32_FEATURE_CONTROL 0x5: locked by firmware, VMXON outside SMX enabled", c))
					if c == 0 {
						// The seed's sysctl lines, in its order.
						want = append(want,
							fmt.Sprintf("hw.vmm.vmx.revision: %d", basic&0x7FFFFFFF),
							fmt.Sprintf("hw.vmm.vmx.region_size: %d", basic>>32&0x1FFF),
							fmt.Sprintf("hw.vmm.vmx.width_addr: %d", basic>>48&1),
							"hw.vmm.type: VMX from Intel")
					}
					want = append(want,
						// The guest reads the dump's value without bit 49
						// (dual-monitor treatment: SMM is not modelled) and
						// bits 63:57 (no capability vmxemu honours).
						fmt.Sprintf("cpu %d: IA32_VMX_BASIC 0x%016x: revision %d, region size %d, 32-bit addresses %d",
							c, basic&^(1<<49|0x7F<<57), basic&0x7FFFFFFF, basic>>32&0x1FFF, basic>>48&1),
						fmt.Sprintf("cpu %d: VMXON: VMsucceed", c))
				}
				want = append(want, "hw.vmm.enable: 1")
				for c := 0; c < n; c++ {
					want = append(want, goodPath(c, basic, misc, pin, sec)...)
				}
				for c := 0; c < n; c++ {
					want = append(want, launchPath(t, m, e, c)...)
				}
				for c := 0; c < n; c++ {
					want = append(want, fmt.Sprintf("cpu %d: VMXOFF: VMsucceed", c), fmt.Sprintf("cpu %d: CR4.VMXE cleared", c))
				}
				want = append(want, "hw.vmm.enable: 0", "every outcome as the SDM says; exiting with 0x10")
				inOrder(t, out, want)
				checkFixedBits(t, m, out, n)
				assert.NotContains(t, res.stdout, "MISMATCH")
				// No exception on the good path: the guest's RDMSR of
				// IA32_VMX_PROCBASED_CTLS2 succeeds, since "activate
				// secondary controls" may be 1 (for EPT and VPID; Vol. 3D
				// A.3.3), and IA32_VMX_VMFUNC is not probed without "enable
				// VM functions" (A.11).
				assert.Zero(t, strings.Count(res.stderr, " v="), "exceptions on the good path")
				if m.Name == "sandybridge-ep" {
					assert.Contains(t, out, "hw.vmm.vmx.revision: 16", "the seed's values")
					assert.Contains(t, out, "hw.vmm.vmx.region_size: 1024", "the seed's values")
					assert.Contains(t, out, "hw.vmm.vmx.width_addr: 0", "the seed's values")
				}
			})
		}
	}
}

// The output does not depend on how the CPUs were scheduled: the CPUs
// report in turn.
func TestVMXONDeterministic(t *testing.T) {
	a := runVMXON(t, "", ExitPass, "-smp", "4")
	b := runVMXON(t, "", ExitPass, "-smp", "4")
	assert.Equal(t, a.stdout, b.stdout)
}

// Each broken variant, on every model, on 1 and 2 CPUs (shared-region on
// 2 and 4): the outcome the SDM's pseudocode gives, on every CPU.
func TestVMXONScenarios(t *testing.T) {
	ms, err := msr.Models()
	require.NoError(t, err)
	e := vmxonEPT(t)
	type scenario struct {
		name string
		// want returns the lines CPU c prints, in order, on model m.
		want func(c int, m *msr.Model) []string
		// log: the -d int log shows this exception once per CPU, with its reason.
		log  string
		smps []int
		// flags are extra vmxemu flags (the firmware policy).
		flags []string
	}
	per := func(lines ...string) func(int, *msr.Model) []string {
		return func(c int, _ *msr.Model) []string {
			out := make([]string, len(lines))
			for i, l := range lines {
				out[i] = fmt.Sprintf("cpu %d: %s", c, l)
			}
			return out
		}
	}
	scenarios := []scenario{
		// Vol. 3C 31.3 VMXON: CR0 against IA32_VMX_CR0_FIXED0 -> #GP(0).
		{"cr0-ne", per("VMXON with CR0.NE = 0: #GP(0)", "VMXON: VMsucceed"), "vmxemu: #GP(0x0): VMXON: CR0.NE", nil, nil},
		// VMXON: CR4.VMXE = 0 -> #UD (checked before the #GP(0) conditions).
		{"no-vmxe", per("VMXON with CR4.VMXE = 0: #UD", "VMXON: VMsucceed"), "vmxemu: #UD: VMXON: CR4.VMXE", nil, nil},
		// VMXON: revision identifier not the processor's (or bit 31 set) -> VMfailInvalid.
		{"bad-revision", per("VMXON with revision identifier + 1: VMfailInvalid",
			"VMXON with revision identifier bit 31 set: VMfailInvalid", "VMXON: VMsucceed"), "", nil, nil},
		// VMXON: addr not 4-KiB aligned -> VMfailInvalid.
		{"unaligned", per("VMXON with the region at +0x800 (not 4-KiB aligned): VMfailInvalid", "VMXON: VMsucceed"), "", nil, nil},
		// VMXON: addr sets bits beyond the physical-address width -> VMfailInvalid.
		{"beyond-maxphyaddr", per("VMXON with the region at bit MAXPHYADDR set: VMfailInvalid", "VMXON: VMsucceed"), "", nil, nil},
		// VMXON in VMX root operation: VMfail(15), which is VMfailInvalid
		// without a current VMCS (Vol. 3C 31.2).
		{"vmxon-twice", per("VMXON: VMsucceed", "VMXON again (no current VMCS): VMfailInvalid", "VMPTRLD: VMsucceed",
			"VMXON again (with a current VMCS): VMfailValid(15)", "VMCLEAR: VMsucceed"), "", nil, nil},
		// VMPTRLD: addr = VMXON pointer -> VMfail(10).
		{"vmptrld-vmxon", per("VMPTRLD of the VMXON region (no current VMCS): VMfailInvalid", "VMCLEAR: VMsucceed",
			"VMPTRLD: VMsucceed", "VMPTRLD of the VMXON region: VMfailValid(10)"), "", nil, nil},
		// VMCLEAR: addr = VMXON pointer -> VMfail(3).
		{"vmclear-vmxon", per("VMCLEAR of the VMXON region (no current VMCS): VMfailInvalid", "VMCLEAR: VMsucceed",
			"VMPTRLD: VMsucceed", "VMCLEAR of the VMXON region: VMfailValid(3)"), "", nil, nil},
		// VMPTRLD: revision identifier mismatch -> VMfail(11).
		{"vmptrld-revision", per("VMPTRLD of a VMCS with revision + 1 (no current VMCS): VMfailInvalid",
			"VMPTRLD: VMsucceed", "VMPTRLD of a VMCS with revision + 1: VMfailValid(11)"), "", nil, nil},
		// VMREAD/VMWRITE: current-VMCS pointer invalid -> VMfailInvalid;
		// outside VMX operation -> #UD.
		{"vmread-no-vmcs", per("VMREAD with no current VMCS: VMfailInvalid", "VMWRITE with no current VMCS: VMfailInvalid",
			"VMXOFF: VMsucceed", "VMREAD outside VMX operation: #UD"), "", nil, nil},
		// VMWRITE to a VM-exit information field: VMfail(13) unless
		// IA32_VMX_MISC[29] = 1 (Vol. 3C 31.3 VMWRITE; Vol. 3D A.6).
		{"vmwrite-ro", func(c int, m *msr.Model) []string {
			misc := refVMXMSR(t, m, "0x485 IA32_VMX_MISC")
			outcome := "VMfailValid(13)"
			if misc>>29&1 != 0 {
				outcome = "VMsucceed"
			}
			return []string{fmt.Sprintf("cpu %d: VMWRITE to the exit reason (0x4402): %s", c, outcome)}
		}, "", nil, nil},
		// VMREAD/VMWRITE of an encoding that is no field -> VMfail(12):
		// a high access to a 32-bit field, reserved bit 12, an index
		// Appendix B does not define, VPID without "enable VPID".
		{"field-unsupported", per("VMREAD 0x4001 (high access to the 32-bit pin-based controls): VMfailValid(12)",
			"VMWRITE 0x5002 (reserved bit 12 set): VMfailValid(12)",
			"VMREAD 0x6ffe (no such field in Appendix B): VMfailValid(12)"), "", nil, nil},
		// VMCLEAR/VMPTRLD: addr not 4-KiB aligned or beyond the
		// physical-address width -> VMfail(2) / VMfail(9).
		{"bad-pointer", per("VMPTRLD: VMsucceed",
			"VMCLEAR of an address not 4-KiB aligned: VMfailValid(2)",
			"VMPTRLD of an address not 4-KiB aligned: VMfailValid(9)",
			"VMCLEAR of an address beyond MAXPHYADDR: VMfailValid(2)",
			"VMPTRLD of an address beyond MAXPHYADDR: VMfailValid(9)"), "", nil, nil},
		// FEATURE_CONTROL (Vol. 3C 24.7; 31.3 VMXON): the lock bit clear,
		// or set with "VMXON outside SMX" clear -> #GP(0).
		{"fc-unlocked", per("IA32_FEATURE_CONTROL 0x0: unlocked by firmware; the kernel leaves it so", "VMXON: #GP(0)"),
			"", nil, []string{"-feature-control", "unlocked"}},
		{"fc-disabled", per("IA32_FEATURE_CONTROL 0x1: locked by firmware with VMXON outside SMX disabled", "VMXON: #GP(0)"),
			"", nil, []string{"-feature-control", "disabled"}},
		// VMRESUME with the launch state not "launched" -> VMfail(5)
		// (Vol. 3C 31.3 VMLAUNCH/VMRESUME); the VMLAUNCH then runs.
		{"vmresume-clear", per("VMRESUME before VMLAUNCH (launch state clear): VMfailValid(5)",
			"vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done"), "", nil, nil},
		// VMLAUNCH with the launch state not "clear" -> VMfail(4).
		{"no-vmclear", per("vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done",
			"VMLAUNCH again without VMCLEAR (launch state launched): VMfailValid(4)"), "", nil, nil},
		// Host CR3 with bits beyond the physical-address width, host CR4
		// without a bit IA32_VMX_CR4_FIXED0 fixes to 1 -> VMfail(8)
		// (27.2.2; 31.4 error 8).
		{"bad-host-cr3", per("VMLAUNCH: VMfailValid(8)"), "", nil, nil},
		{"bad-host-cr4", per("VMLAUNCH: VMfailValid(8)"), "", nil, nil},
		// Guest CS type 10 (not accessed) in an IA-32e mode guest: the
		// CS type must be 9, 11, 13 or 15 (27.3.1.2) -> VM-entry failure,
		// exit reason 33 with bit 31 set (27.8; Appendix C), exit
		// qualification 0.
		{"bad-guest-seg", per("VM-entry failure: exit reason 33 (VM-entry failure due to invalid guest state) with bit 31 set, qual 0x0"),
			"", nil, nil},
		// The EPTP checks of VM entry with "enable EPT" (27.2.1.1, EPTP
		// format 25.6.11): memory type 2 is reserved (only 0 and 6),
		// page-walk length 3 (bits 5:3 = 2) is not 4 -> VMfail(7).
		{"bad-eptp", per("VMLAUNCH with EPTP memory type 2 (reserved): VMfailValid(7)",
			"VMLAUNCH with EPTP page-walk length 3: VMfailValid(7)", "VMCLEAR: VMsucceed"), "", nil, nil},
		// An EPT PTE with write but not read permission (bits 2:0 =
		// 010b) is a misconfiguration (29.3.3.1): exit reason 49, the
		// guest-physical address saved (28.2.1); the host fixes the
		// entry and the read completes.
		{"ept-misconfig", func(c int, _ *msr.Model) []string {
			return []string{
				fmt.Sprintf("cpu %d: vm-exit reason 49 (EPT misconfiguration) gpa %#x -> fix the entry, INVEPT, resume", c, e.probe),
				fmt.Sprintf("cpu %d: INVEPT: VMsucceed", c),
				fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done", c),
			}
		}, "", nil, nil},
		// An EPT PTE without execute permission (bit 2): the guest's call
		// to a RET in the page is an EPT violation (29.3.3.2) before the
		// RET, with the qualification of Table 28-7: an instruction
		// fetch (bit 2), the entries allowing read and write (bits 3, 4),
		// a valid guest-linear address that was being translated (bits
		// 7, 8), plus bit 10 with advanced VM-exit information (the
		// kernel's page is read/write, see eptQual); both addresses those
		// of the RET (probe page + 8).
		{"ept-exec", func(c int, m *msr.Model) []string {
			q := eptQual(refVMXMSR(t, m, "0x48C IA32_VMX_EPT_VPID_CAP"))&^1 | 1<<2 | 1<<3 | 1<<4
			return []string{
				fmt.Sprintf("cpu %d: vm-exit reason 10 (CPUID) qual 0x0 len 2 -> resume", c),
				fmt.Sprintf("cpu %d: vm-exit reason 48 (EPT violation) qual %#x (fetch, allowed rw-) gpa %#x -> allow it, INVEPT, resume",
					c, q, e.probe+8),
				fmt.Sprintf("cpu %d: INVEPT: VMsucceed", c),
				fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done", c),
			}
		}, "", nil, nil},
		// The probe page's entry pointed at another page after the guest
		// read it, without INVEPT (29.4.3.3 asks for one after changing
		// bits 51:12): the combined mapping cached under the guest's
		// VPID and EP4TA survives the VM exit and entry (29.4.1, 29.4.3.1:
		// only VPID 0000H's are invalidated by them), so the guest reads
		// the old page; single-context INVEPT invalidates the EP4TA's
		// mappings (31.3 INVEPT) and the next read sees the new page.
		// The values are those the guest put in the two pages.
		{"no-invept", func(c int, _ *msr.Model) []string {
			return []string{
				fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> resume", c),
				fmt.Sprintf("cpu %d: the guest read 0x5050505050505050 at gpa %#x; its EPT entry now points at %#x "+
					"(holding 0x5151515151515151), no INVEPT", c, e.probe, e.other),
				fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> resume", c),
				fmt.Sprintf("cpu %d: the guest read 0x5050505050505050: the old page, through the stale cached translation; "+
					"INVEPT removes it", c),
				fmt.Sprintf("cpu %d: INVEPT: VMsucceed", c),
				fmt.Sprintf("cpu %d: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done", c),
				fmt.Sprintf("cpu %d: after INVEPT the guest read 0x5151515151515151: the new page", c),
			}
		}, "", nil, nil},
		// Hardware does not check that VMXON regions are distinct.
		{"shared-region", func(c int, _ *msr.Model) []string {
			if c == 0 {
				return []string{"cpu 0: VMXON: VMsucceed"}
			}
			return []string{fmt.Sprintf("cpu %d: VMXON with CPU 0's VMXON region (shared): VMsucceed", c)}
		}, "", []int{2, 4}, nil},
	}
	for _, sc := range scenarios {
		smps := sc.smps
		if smps == nil {
			smps = []int{1, 2}
		}
		for _, m := range ms {
			for _, n := range smps {
				t.Run(fmt.Sprintf("%s/%s/smp%d", sc.name, m.Name, n), func(t *testing.T) {
					t.Parallel()
					res := runVMXON(t, "scenario="+sc.name, ExitPass, append([]string{"-cpu", m.Name, "-smp", strconv.Itoa(n)}, sc.flags...)...)
					out := lines(res.stdout)
					for c := 0; c < n; c++ {
						inOrder(t, out, sc.want(c, m), "cpu %d", c)
					}
					assert.NotContains(t, res.stdout, "MISMATCH")
					assert.Contains(t, out, "every outcome as the SDM says; exiting with 0x10")
					if sc.log != "" {
						assert.Equal(t, n, strings.Count(res.stderr, sc.log), "one logged exception per CPU")
						assert.Contains(t, res.stderr, "VMXON")
					}
				})
			}
		}
	}
}

// Without VMX (CPUID.1:ECX[5] = 0: -cpu MODEL,-vmx) the kernel stops
// before touching any VMX MSR or instruction (SDM Vol. 3C 24.6), on every
// CPU, and VMX stays off.
func TestVMXONWithoutVMX(t *testing.T) {
	res := runVMXON(t, "", ExitPass, "-cpu", "sandybridge-ep,-vmx", "-smp", "2")
	out := lines(res.stdout)
	inOrder(t, out, []string{"cpu 0: CPUID.1:ECX.VMX = 0: this processor has no VMX",
		"cpu 1: CPUID.1:ECX.VMX = 0: this processor has no VMX", "hw.vmm.enable: 0"})
	assert.NotContains(t, res.stdout, "hw.vmm.vmx.revision")
	assert.Empty(t, strings.TrimSpace(res.stderr), "no exception: the kernel asked CPUID first")
}

// shared-region needs two CPUs: with one, the guest says so and fails.
func TestVMXONSharedRegionNeedsTwoCPUs(t *testing.T) {
	res := runVMXON(t, "scenario=shared-region", ExitFail)
	assert.Contains(t, lines(res.stdout), "scenario shared-region needs at least 2 CPUs (-smp 2)")
}

// An unknown scenario lists the scenarios and fails. "help" and
// "scenario=list" list them and pass.
func TestVMXONUnknownScenario(t *testing.T) {
	for _, tc := range []struct {
		append, first string
		status        int
	}{
		{"scenario=nonesuch", "unknown scenario", ExitFail},
		{"help", "the scenarios (vmxemu demo NAME, or -append scenario=NAME):", ExitPass},
		{"scenario=list", "the scenarios (vmxemu demo NAME, or -append scenario=NAME):", ExitPass},
	} {
		res := runVMXON(t, tc.append, tc.status)
		out := lines(res.stdout)
		assert.Contains(t, out, tc.first, tc.append)
		for _, name := range []string{"cr0-ne", "shared-region", "bad-guest-seg", "bad-eptp", "no-invept", "ept-misconfig", "ept-exec"} {
			assert.Contains(t, res.stdout, "  "+name+" ", tc.append)
		}
		assert.NotContains(t, res.stdout, "later", tc.append)
	}
}

// The EPT step follows the model's capability MSRs (-cpu MODEL,-FEATURE
// removes one from them; SDM Vol. 3D A.3.3, A.10): without "enable EPT"
// the step is skipped, with a line, and the guest runs as before; without
// 2-MiB EPT pages (bit 16) the map uses 4-KiB pages for the kernel's
// first MiBs; without "enable VPID" the secondary controls hold EPT alone;
// without INVEPT (bit 20) the host maps the page and resumes. Without a
// VPID the guest's translations are those of VPID 0000H, which VM entry
// and exit invalidate (29.4.3.1), and vmxemu caches no guest-physical
// mappings (docs/VMX.md, "Caching and invalidation"; the SDM allows
// both): no-invept then reads the new page at once.
func TestVMXONEPTCapabilities(t *testing.T) {
	e := vmxonEPT(t)
	m, err := msr.Lookup("sandybridge-ep")
	require.NoError(t, err)
	caps := refVMXMSR(t, m, "0x48C IA32_VMX_EPT_VPID_CAP")
	exit48 := func(action string) string {
		return fmt.Sprintf("cpu 0: vm-exit reason 48 (EPT violation) qual %#x (read, not present) gpa %#x -> %s",
			eptQual(caps), e.probe, action)
	}
	end := (e.end + 1<<21 - 1) >> 21 << 21
	a0 := func(name string) uint64 { return refVMXMSR(t, m, name) & 0xFFFFFFFF }
	pin, proc := a0("0x48D IA32_VMX_TRUE_PINBASED_CTLS"), a0("0x48E IA32_VMX_TRUE_PROCBASED_CTLS")
	exit, entry := a0("0x48F IA32_VMX_TRUE_EXIT_CTLS")|1<<9, a0("0x490 IA32_VMX_TRUE_ENTRY_CTLS")|1<<9
	for _, tc := range []struct {
		cpu, append string
		want        []string
		not         string
	}{
		{"sandybridge-ep,-ept", "", []string{
			"cpu 0: EPT: not allowed by this model (IA32_VMX_PROCBASED_CTLS2[33] = 0): no EPT step",
			fmt.Sprintf("cpu 0: VMLAUNCH: controls pin %#x proc %#x exit %#x entry %#x", pin, proc, exit, entry),
			"cpu 0: vm-exit reason 10 (CPUID) qual 0x0 len 2 -> resume",
			"cpu 0: vm-exit reason 18 (VMCALL) qual 0x0 len 3 -> done",
		}, "reason 48"},
		{"sandybridge-ep,-vmx-ept-2mb", "", []string{
			fmt.Sprintf("cpu 0: EPT: identity map of 0-%d MiB (4 levels, 4-KiB pages), gpa %#x left out; EPTP %#x (WB, walk length 4); VPID 1",
				end>>20, e.probe, e.eptp(0)),
			exit48("map, INVEPT, resume"),
		}, ""},
		{"sandybridge-ep,-vpid", "", []string{
			fmt.Sprintf("cpu 0: EPT: identity map of 0-1 GiB (4 levels, 2-MiB pages), gpa %#x left out; EPTP %#x (WB, walk length 4); no VPID",
				e.probe, e.eptp(0)),
			fmt.Sprintf("cpu 0: VMLAUNCH: controls pin %#x proc %#x proc2 0x2 exit %#x entry %#x", pin, proc|1<<31, exit, entry),
			exit48("map, INVEPT, resume"),
		}, ""},
		{"sandybridge-ep,-vmx-invept", "", []string{exit48("map, resume")}, "INVEPT: "},
		{"sandybridge-ep,-vpid", "scenario=no-invept", []string{
			"cpu 0: the guest read 0x5151515151515151: no cached translation was used",
		}, "stale"},
	} {
		res := runVMXON(t, tc.append, ExitPass, "-cpu", tc.cpu, "-smp", "1")
		out := lines(res.stdout)
		inOrder(t, out, tc.want, tc.cpu)
		assert.NotContains(t, res.stdout, "MISMATCH", tc.cpu)
		if tc.not != "" {
			assert.NotContains(t, res.stdout, tc.not, tc.cpu)
		}
	}
}

// The firmware's IA32_FEATURE_CONTROL policies (SDM Vol. 3C 24.7): left
// unlocked, each CPU enables VMXON outside SMX and locks it; locked with
// VMX off, VMXON is #GP(0) on every CPU and VMX stays off.
func TestVMXONFeatureControl(t *testing.T) {
	t.Run("unlocked", func(t *testing.T) {
		t.Parallel()
		res := runVMXON(t, "", ExitPass, "-smp", "4", "-feature-control", "unlocked")
		out := lines(res.stdout)
		for c := 0; c < 4; c++ {
			inOrder(t, out, []string{
				fmt.Sprintf("cpu %d: IA32_FEATURE_CONTROL 0x0: unlocked by firmware; enabled VMXON outside SMX and locked it: 0x5", c),
				fmt.Sprintf("cpu %d: VMXON: VMsucceed", c),
			})
		}
		inOrder(t, out, []string{"hw.vmm.enable: 1", "hw.vmm.enable: 0"})
	})
	t.Run("disabled", func(t *testing.T) {
		t.Parallel()
		res := runVMXON(t, "", ExitPass, "-smp", "4", "-feature-control", "disabled")
		out := lines(res.stdout)
		for c := 0; c < 4; c++ {
			inOrder(t, out, []string{
				fmt.Sprintf("cpu %d: IA32_FEATURE_CONTROL 0x1: locked by firmware with VMXON outside SMX disabled", c),
				fmt.Sprintf("cpu %d: VMXON: #GP(0)", c),
			})
			assert.NotContains(t, out, fmt.Sprintf("cpu %d: VMXOFF: VMsucceed", c))
		}
		assert.Contains(t, out, "hw.vmm.enable: 0")
		assert.NotContains(t, out, "hw.vmm.enable: 1")
		assert.Equal(t, 4, strings.Count(res.stderr, "v=0d e=0000"), "one #GP(0) per CPU on the -d int log")
		assert.Contains(t, res.stderr, "IA32_FEATURE_CONTROL bit 2 clear")
	})
}

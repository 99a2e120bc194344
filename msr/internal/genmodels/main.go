// Command genmodels regenerates vmxemu's built-in CPU models
// (msr/models/*.cpu) from the AIDA64 CPUID+MSR dumps of the project's
// reference data (../shared/reference/cpus/aida64, copies of the
// InstLatx64 collection). It is run by `go generate ./msr` and is the only
// way the model files are written: each one is logical CPU #0 of one dump,
// verbatim, plus the few values the dumps lack, marked "assumed" with the
// reason. msr's conformance test re-reads the dumps and checks the models
// against them.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vmxemu/vmxemu/msr"
)

const instlat = "github.com/InstLatx64/InstLatx64 @ 087af2c7d72c9a6af85a3a079e8fdb878db23ba1"

// vmfuncAssumed is IA32_VMX_VMFUNC for models whose secondary controls
// allow "enable VM functions" but whose dump stops at 0x490.
var vmfuncAssumed = msr.MSRValue{Index: msr.VMXVMFunc, Value: 1,
	Assumed: "AIDA64 dumps stop at 0x490; bit 0 (EPTP switching) is the only VM function Intel defines and the value every dump that has 0x491 reports (0x1: Coffee Lake-H 0x906EA VirtualBox log, ../shared/reference/cpus/coffee-lake-h_core-i7-9750H_0x906EA.txt)"}

type entry struct {
	name     string
	dump     string // under aida64/
	vmxFile  string // the per-CPU VMX MSR file under cpus/
	desc     string
	notes    []string
	supplied []msr.MSRValue
}

var manifest = []entry{
	{name: "sandybridge-ep", dump: "GenuineIntel00206D5_SandyBridgeEP_CPUID.txt", vmxFile: "sandy-bridge-ep_xeon-e5-ES_0x206D5.txt",
		desc: "Intel Xeon E5 (Sandy Bridge-EP, engineering sample, 2x8 cores), CPUID 0x206D5: VMCS revision 16, 1024-byte VMXON region, IA32_VMX_BASIC bit 48 = 0",
		notes: []string{"the seed's machine (a 2013 HP blade running DragonFly BSD): VMCS revision 16, 1024-byte regions",
			"no VM functions on Sandy Bridge: IA32_VMX_VMFUNC (0x491) does not exist"}},
	{name: "ivybridge", dump: "GenuineIntel00306A9_IvyBridge_CPUID.txt", vmxFile: "ivy-bridge_core-i7-3770_0x306A9.txt",
		desc: "Intel Core i7-3770K (Ivy Bridge), CPUID 0x306A9: VMCS revision 16, 1024-byte regions",
		notes: []string{"the i7-3770K has no SMX: IA32_VMX_CR4_FIXED1 0x1727FF (the i7-3770, with SMX, reports 0x1767FF)",
			"no VM functions on Ivy Bridge: IA32_VMX_VMFUNC (0x491) does not exist"}},
	{name: "haswell-ep", dump: "GenuineIntel00306F2_HaswellEP_04_CPUID.txt", vmxFile: "haswell-ep_xeon-E5-2699v3_0x306F2.txt",
		desc:     "Intel Xeon E5-2699 v3 (Haswell-EP), CPUID 0x306F2: VMCS revision 18, 1024-byte regions",
		supplied: []msr.MSRValue{vmfuncAssumed}},
	{name: "skylake-sp", dump: "GenuineIntel0050654_SkylakeXeon_20_CPUID.txt", vmxFile: "skylake-sp_xeon-platinum-8160_0x50654.txt",
		desc:     "Intel Xeon Platinum 8160 (Skylake-SP), CPUID 0x50654: VMCS revision 4, 1024-byte regions",
		supplied: []msr.MSRValue{vmfuncAssumed}},
	{name: "cascadelake-sp", dump: "GenuineIntel0050657_CascadeLakeSP_CPUID1.txt", vmxFile: "cascade-lake-sp_xeon-gold-5215_0x50657.txt",
		desc:     "Intel Xeon Gold 5215 (Cascade Lake-SP), CPUID 0x50657: VMCS revision 4, 1024-byte regions",
		supplied: []msr.MSRValue{vmfuncAssumed}},
	{name: "icelake-sp", dump: "GenuineIntel00606A6_ICX_CPUID3.txt", vmxFile: "ice-lake-sp_xeon-platinum-8351N_0x606A6.txt",
		desc:     "Intel Xeon Platinum 8351N (Ice Lake-SP), CPUID 0x606A6: VMCS revision 0x13, 1280-byte regions, 5-level EPT",
		supplied: []msr.MSRValue{vmfuncAssumed}},
	{name: "sapphirerapids", dump: "GenuineIntel00806F8_SapphireRapids_06_CPUID.txt", vmxFile: "sapphire-rapids_xeon-w9-3475X_0x806F8.txt",
		desc: "Intel Xeon w9-3475X (Sapphire Rapids), CPUID 0x806F8: VMCS revision 0x13, 1280-byte regions, tertiary controls",
		supplied: []msr.MSRValue{vmfuncAssumed, {Index: msr.VMXProcbasedCtls3, Value: 0x10,
			Assumed: "AIDA64 dumps stop at 0x490 although IA32_VMX_PROCBASED_CTLS allows the tertiary controls (bit 49); bit 4 (IPI virtualization) is the tertiary control Sapphire Rapids introduced, the others are not known for this part"}}},
}

func main() {
	ref := flag.String("ref", "../../shared/reference/cpus", "the reference directory (holds aida64/)")
	out := flag.String("out", "models", "output directory")
	flag.Parse()
	for _, e := range manifest {
		if err := gen(*ref, *out, e); err != nil {
			fmt.Fprintf(os.Stderr, "genmodels: %s: %v\n", e.name, err)
			os.Exit(1)
		}
	}
}

func gen(ref, out string, e entry) error {
	f, err := os.Open(filepath.Join(ref, "aida64", e.dump))
	if err != nil {
		return err
	}
	defer f.Close()
	m, err := msr.ParseAIDA64(f, e.name)
	if err != nil {
		return fmt.Errorf("%s: %w", e.dump, err)
	}
	m.Description = e.desc
	m.Sources = []string{
		"cpuid,msr " + instlat + " GenuineIntel/" + e.dump + " (copy: ../shared/reference/cpus/aida64/" + e.dump + "), logical CPU #0",
		"vmx ../shared/reference/cpus/" + e.vmxFile + " (the VMX MSRs with their sources)",
	}
	m.Notes = append(m.Notes, e.notes...)
	if err := m.Supply(e.supplied...); err != nil {
		return err
	}
	var b bytes.Buffer
	if err := m.Format(&b); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(out, e.name+".cpu"), b.Bytes(), 0o644)
}

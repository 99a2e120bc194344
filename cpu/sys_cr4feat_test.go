package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
)

// withFeatures sets the model's CPUID feature registers and refreshes the
// CPU's view of them.
func (m *machine) withFeatures(ecx1, ebx7, ecx7, edx81 uint32) {
	m.plat.ecx1, m.plat.ebx7, m.plat.ecx7, m.plat.edx8000001 = ecx1, ebx7, ecx7, edx81
	m.c.RefreshFeatures()
}

const defaultEDX81 = cpuidNX | cpuidLM | cpuidPage1GB

// TestCR4FollowsCPUID: a CR4 bit whose feature CPUID does not report is
// reserved, so setting it is #GP(0) (SDM Vol. 3A 2.5; Vol. 2B MOV CR4
// "write a 1 to any reserved bit in CR4"); with the feature reported the
// bit sets.
func TestCR4FollowsCPUID(t *testing.T) {
	cases := []struct {
		name             string
		bit              uint
		ecx1, ebx7, ecx7 uint32
	}{
		{"PCIDE", 17, cpuidPCID, 0, 0},
		{"OSXSAVE", 18, cpuidXSAVE, 0, 0},
		{"FSGSBASE", 16, 0, 1, 0},
		{"SMEP", 20, 0, cpuidSMEP, 0},
		{"SMAP", 21, 0, cpuidSMAP, 0},
		{"UMIP", 11, 0, 0, cpuidUMIP},
		{"PKE", 22, 0, 0, cpuidPKU},
		{"PKS", 24, 0, 0, cpuidPKS},
	}
	for _, tc := range cases {
		for _, reported := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s reported=%v", tc.name, reported), func(t *testing.T) {
				src := fmt.Sprintf("mov rax, cr4\nbts rax, %d\nhere: mov cr4, rax\nmov rbx, cr4\nhlt", tc.bit)
				m := newMachine(t, modeLong64, 0)
				if reported {
					m.withFeatures(tc.ecx1, tc.ebx7, tc.ecx7, defaultEDX81)
				}
				for pg := uint64(0); pg < 0x200000; pg += 0x1000 {
					m.w64(pteAddr(pg), pg|pteP|pteRW) // supervisor pages (SMEP)
				}
				m.program(t, src)
				if !reported {
					m.expectVector(t, arch.VecGP)
					require.Equal(t, uint64(0), m.stack(0, 8))
					require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
					return
				}
				m.expectDone(t)
				require.Equal(t, uint64(arch.CR4PAE|1<<tc.bit), m.state().GPR[arch.RBX])
			})
		}
	}
	t.Run("CET is never accepted", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(0, 0, 1<<7, defaultEDX81) // CPUID CET_SS
		m.program(t, "mov rax, cr4\nbts rax, 23\nmov cr4, rax\nhlt")
		m.expectVector(t, arch.VecGP)
	})
}

// TestUMIP: with CR4.UMIP=1, SGDT/SIDT/SLDT/SMSW/STR at CPL > 0 are
// #GP(0) (SDM Vol. 3A 2.5 "UMIP"; Vol. 2B SGDT etc. "#GP(0) If CR4.UMIP =
// 1 and CPL > 0"); at CPL 0 they still work.
func TestUMIP(t *testing.T) {
	for _, insn := range []string{"sgdt [rel buf]", "sidt [rel buf]", "sldt ax", "smsw ax", "str ax"} {
		t.Run(insn, func(t *testing.T) {
			src := "mov rax, cr4\nbts rax, 11\nmov cr4, rax\n" + insn + "\n" + ring3Prologue + "user:\nhere: " + insn + "\nhlt\nbuf: times 16 db 0"
			m := newMachine(t, modeLong64, 0)
			m.withFeatures(0, 0, cpuidUMIP, defaultEDX81)
			m.program(t, src)
			m.expectVector(t, arch.VecGP)
			require.Equal(t, uint64(0), m.stack(0, 8))
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
			require.Equal(t, uint64(selCode64U|3), m.stack(2, 8))
		})
	}
}

// TestLA57: CR4.LA57 needs CPUID.(07H,0):ECX.LA57; it may be set only
// outside IA-32e mode and cannot change while IA32_EFER.LMA=1 (SDM Vol.
// 3A 2.5, 4.1.1); entering IA-32e mode with it set selects 5-level paging,
// under which 57-bit canonical addresses beyond 48 bits are usable (Vol. 3A
// 4.5, 3.3.7.1).
func TestLA57(t *testing.T) {
	t.Run("not reported", func(t *testing.T) {
		m := newMachine(t, modeProt32, 0)
		m.program(t, "mov eax, 0x1000\nmov cr4, eax\nhlt")
		m.expectVector(t, arch.VecGP)
	})
	t.Run("cannot change in IA-32e mode", func(t *testing.T) {
		src := "mov rax, cr4\nbts rax, 12\nhere: mov cr4, rax\nhlt"
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(0, 0, cpuidLA57, defaultEDX81)
		m.program(t, src)
		m.expectVector(t, arch.VecGP)
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
	})
	t.Run("5-level paging", func(t *testing.T) {
		const pml5 = 0x16000
		src := `
	mov eax, cr4
	or eax, 0x1020          ; PAE | LA57
	mov cr4, eax
	mov eax, 0x16000        ; PML5
	mov cr3, eax
	mov ecx, 0xC0000080
	rdmsr
	or eax, 0x100           ; LME
	wrmsr
	mov eax, cr0
	or eax, 0x80000000
	mov cr0, eax
	jmp 0x08:lm64
bits 64
lm64:
	lidt [rel idtr]
	mov rax, 0x0001000000080000  ; PML5 index 1: canonical only with 57 bits
	mov rbx, [rax]
	mov rcx, cr4
	mov rdx, 0x0080000000000000  ; bit 55 set: PML5 index 128 (not present)
here:
	mov rdx, [rdx]
	hlt
idtr:
	dw 256*16-1
	dq 0x17000`
		m := newMachine(t, modeProt32, 0)
		for v := uint64(0); v < 256; v++ {
			lo, hi := gate64(selCode64, physStubs+v*stubSize, 0xE, 0, 0)
			m.w64(0x17000+v*16, lo)
			m.w64(0x17000+v*16+8, hi)
		}
		m.withFeatures(0, 0, cpuidLA57, defaultEDX81)
		m.identityMap64()
		m.w64(pml5, physPML4|pteP|pteRW|pteUS)
		m.w64(pml5+8, physPML4|pteP|pteRW|pteUS)
		m.w64(physData, 0xFEEDF00D)
		m.program(t, src)
		m.expectVector(t, arch.VecPF)
		s := m.state()
		require.Equal(t, uint64(0xFEEDF00D), s.GPR[arch.RBX], "0x0001000000080000 maps through PML5[1] to physData")
		require.NotZero(t, s.GPR[arch.RCX]&arch.CR4LA57)
		require.Equal(t, uint64(0x0080000000000000), s.CR2, "walk of a 57-bit address: PML5[128] not present")
		require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 8))
	})
}

// TestEFERFollowsCPUID: IA32_EFER.NXE and LME are reserved when CPUID
// does not report NX / LM (CPUID.80000001H:EDX bits 20, 29; SDM Vol. 4
// IA32_EFER, Vol. 3A 2.2.1), and PDPTE.PS is reserved without Page1GB
// (Vol. 3A 4.5 Table 4-15: #PF with RSVD).
func TestEFERFollowsCPUID(t *testing.T) {
	for _, tc := range []struct {
		name  string
		edx81 uint32
		bit   uint
		vec   int
	}{
		{"NXE without NX", cpuidLM, 11, arch.VecGP},
		{"NXE with NX", cpuidNX | cpuidLM, 11, -1},
		{"LME without LM", cpuidNX, 8, arch.VecGP},
		{"LME with LM", cpuidNX | cpuidLM, 8, -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := fmt.Sprintf("mov ecx, 0xC0000080\nrdmsr\nbts eax, %d\nhere: wrmsr\nhlt", tc.bit)
			m := newMachine(t, modeProt32, 0)
			m.withFeatures(0, 0, 0, tc.edx81)
			m.program(t, src)
			if tc.vec < 0 {
				m.expectDone(t)
				require.NotZero(t, m.state().EFER&(1<<tc.bit))
				return
			}
			m.expectVector(t, tc.vec)
			require.Equal(t, uint64(0), m.stack(0, 4))
			require.Equal(t, labelAddr(t, 32, physCode, src, "here"), m.stack(1, 4))
		})
	}
	for _, page1g := range []bool{true, false} {
		t.Run(fmt.Sprintf("1-GByte page, Page1GB=%v", page1g), func(t *testing.T) {
			src := "mov rax, 0x40000010\nhere: mov rbx, [rax]\nhlt"
			m := newMachine(t, modeLong64, 0)
			edx := uint32(cpuidNX | cpuidLM)
			if page1g {
				edx |= cpuidPage1GB
			}
			m.withFeatures(0, 0, 0, edx)
			m.w64(physPDPT+8, pteP|pteRW|ptePS) // 1 GiB at 1 GiB -> physical 0
			m.w64(physData, 0x1234)
			m.w64(0x10, 0xABCD)
			m.program(t, src)
			if page1g {
				m.expectDone(t)
				require.Equal(t, uint64(0xABCD), m.state().GPR[arch.RBX])
				return
			}
			m.expectVector(t, arch.VecPF)
			require.Equal(t, uint64(arch.PFErrP|arch.PFErrRSVD), m.stack(0, 8))
		})
	}
}

// pcidSrc is the prologue of the PCID tests: PCIDE on, then a read of
// 0x100000 (the page holds 0xAAAA; the frame at 0x101000 holds 0xBBBB) to
// fill the TLB under PCID 0, then the PTE is repointed at 0x101000
// without any invalidation.
const pcidSrc = `
	mov rax, cr4
	bts rax, 17
	mov cr4, rax
	mov r15, [0x100000]
	mov qword [0x13800], 0x101007   ; PTE of 0x100000 -> frame 0x101000
`

func pcidMachine(t *testing.T, src string) *machine {
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(cpuidPCID, cpuidINVPCID, 0, defaultEDX81)
	m.w64(0x100000, 0xAAAA)
	m.w64(0x101000, 0xBBBB)
	require.Equal(t, uint64(0x13800), pteAddr(0x100000))
	m.program(t, src)
	return m
}

// TestPCID: with CR4.PCIDE=1 TLB entries are tagged with CR3[11:0]. MOV to
// CR3 with bit 63 clear invalidates the new PCID's non-global entries;
// with bit 63 set it invalidates nothing and bit 63 is not stored (SDM
// Vol. 3A 4.10.1, 4.10.4.1; Vol. 2B MOV CR3).
func TestPCID(t *testing.T) {
	src := pcidSrc + `
	mov rax, 0x10001                 ; PCID 1, flush it
	mov cr3, rax
	mov rax, 0x8000000000010000      ; PCID 0, no flush
	mov cr3, rax
	mov rcx, [0x100000]              ; PCID 0's entry is retained
	mov r8, cr3
	mov rax, 0x8000000000010001      ; PCID 1, no flush
	mov cr3, rax
	mov rbx, [0x100000]              ; PCID 1 has no entry: walks
	mov rax, 0x10000                 ; PCID 0, flush
	mov cr3, rax
	mov rdx, [0x100000]
	hlt`
	m := pcidMachine(t, src)
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint64(0xAAAA), s.GPR[arch.R15])
	// The SDM allows a processor to drop the entry anyway; vmxemu keeps
	// every PCID's entries until they are invalidated or evicted (its TLB
	// is indexed by linear address, so another PCID's entry for the same
	// page evicts it).
	require.Equal(t, uint64(0xAAAA), s.GPR[arch.RCX], "MOV CR3 with bit 63 = 1 invalidates nothing; PCID 1's flush left PCID 0 alone")
	require.Equal(t, uint64(0x10000), s.GPR[arch.R8], "bit 63 is not written to CR3")
	require.Equal(t, uint64(0xBBBB), s.GPR[arch.RBX], "MOV CR3 (bit 63 = 0) invalidated PCID 1")
	require.Equal(t, uint64(0xBBBB), s.GPR[arch.RDX], "MOV CR3 (bit 63 = 0) invalidated PCID 0")
}

// TestPCIDFaults: the #GP(0) rules of CR4.PCIDE and CR3 bit 63 (SDM Vol.
// 2B MOV CR "Protected Mode / Compatibility Mode / 64-Bit Mode
// Exceptions"; Vol. 3A 4.10.1).
func TestPCIDFaults(t *testing.T) {
	cases := []struct {
		name string
		mode sysMode
		src  string
	}{
		{"PCIDE with CR3[11:0] != 0", modeLong64, "mov rax, 0x10008\nmov cr3, rax\nmov rax, cr4\nbts rax, 17\nhere: mov cr4, rax"},
		{"PCIDE outside IA-32e mode", modeProt32, "mov eax, 0x20000\nhere: mov cr4, eax"},
		{"CR3 bit 63 with PCIDE=0", modeLong64, "mov rax, 0x8000000000010000\nhere: mov cr3, rax"},
		{"CR3 bits beyond MAXPHYADDR with PCIDE=1", modeLong64, "mov rax, cr4\nbts rax, 17\nmov cr4, rax\nmov rax, 0x4000000010000\nhere: mov cr3, rax"},
		{"clear CR0.PG in compatibility mode with PCIDE=1", modeLong64, `
	mov rax, cr4
	bts rax, 17
	mov cr4, rax
	jmp dword far [rel cptr]
cptr:
	dd compat
	dw 0x30
bits 32
compat:
	mov eax, cr0
	btr eax, 31
here:
	mov cr0, eax`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, tc.mode, 0)
			m.withFeatures(cpuidPCID, 0, 0, defaultEDX81)
			src := tc.src + "\nhlt"
			m.program(t, src)
			m.expectVector(t, arch.VecGP)
			w, bits := 8, 64
			if tc.mode == modeProt32 {
				w, bits = 4, 32
			}
			require.Equal(t, uint64(0), m.stack(0, w))
			require.Equal(t, labelAddr(t, bits, physCode, src, "here"), m.stack(1, w))
		})
	}
}

// TestINVPCID: the four INVPCID types (SDM Vol. 2A INVPCID "Operation";
// Vol. 3A 4.10.4.1).
func TestINVPCID(t *testing.T) {
	cases := []struct {
		name string
		src  string
	}{
		{"type 0: one address of the current PCID", `
	mov qword [rel desc], 0
	mov rax, 0x100000
	mov [rel desc+8], rax
	xor ecx, ecx
	invpcid rcx, [rel desc]`},
		{"type 1: a PCID that is not current", `
	mov rax, 0x8000000000010001      ; to PCID 1 without flushing
	mov cr3, rax
	mov qword [0x13800], 0x100007    ; PTE back to 0x100000
	mov r14, [0x100000]              ; fill PCID 1 with 0xAAAA
	mov qword [0x13800], 0x101007
	mov rax, 0x8000000000010000      ; PCID 0, no flush
	mov cr3, rax
	mov qword [rel desc], 1
	mov ecx, 1
	invpcid rcx, [rel desc]          ; flush PCID 1 from PCID 0
	mov rax, 0x8000000000010001      ; PCID 1, no flush
	mov cr3, rax`},
		{"type 2: all contexts including global", `
	mov rax, cr4
	bts rax, 7                       ; PGE (invalidates everything)
	mov cr4, rax
	mov qword [0x13800], 0x100107    ; global PTE back to 0x100000
	invlpg [0x100000]
	mov r14, [0x100000]              ; global entry, 0xAAAA
	mov qword [0x13800], 0x101107
	mov ecx, 2
	invpcid rcx, [rel desc]`},
		{"type 3: all contexts except global", `
	mov rax, 0x8000000000010002      ; PCID 2, no flush
	mov cr3, rax
	mov qword [0x13800], 0x100007
	mov r14, [0x100000]              ; PCID 2: 0xAAAA
	mov qword [0x13800], 0x101007
	mov ecx, 3
	invpcid rcx, [rel desc]`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := pcidSrc + tc.src + "\nmov rbx, [0x100000]\nhlt\nalign 16\ndesc: dq 0, 0"
			m := pcidMachine(t, src)
			m.expectDone(t)
			require.Equal(t, uint64(0xBBBB), m.state().GPR[arch.RBX], "the stale translation is gone")
		})
	}
}

// TestINVPCIDFaults: SDM Vol. 2A INVPCID "64-Bit Mode Exceptions" and
// "Protected Mode Exceptions".
func TestINVPCIDFaults(t *testing.T) {
	cases := []struct {
		name    string
		feature bool
		ring3   bool
		src     string
		vec     int
	}{
		{"not reported by CPUID", false, false, "xor ecx, ecx\nhere: invpcid rcx, [rel desc]", arch.VecUD},
		{"register operand form", true, false, "here: db 0x66, 0x0F, 0x38, 0x82, 0xC8", arch.VecUD},
		{"without the 66 prefix", true, false, "here: db 0x0F, 0x38, 0x82, 0x08", arch.VecUD},
		{"with LOCK", true, false, "here: db 0xF0, 0x66, 0x0F, 0x38, 0x82, 0x08", arch.VecUD},
		{"CPL 3", true, true, "xor ecx, ecx\nhere: invpcid rcx, [rel desc]", arch.VecGP},
		{"type > 3", true, false, "mov ecx, 4\nhere: invpcid rcx, [rel desc]", arch.VecGP},
		{"descriptor bits 63:12", true, false, "mov qword [rel desc], 0x1000\nmov ecx, 1\nhere: invpcid rcx, [rel desc]", arch.VecGP},
		{"type 1, PCID != 0, PCIDE = 0", true, false, "mov qword [rel desc], 1\nmov ecx, 1\nhere: invpcid rcx, [rel desc]", arch.VecGP},
		{"type 0, non-canonical address", true, false, "mov rax, 0x0000800000000000\nmov [rel desc+8], rax\nxor ecx, ecx\nhere: invpcid rcx, [rel desc]", arch.VecGP},
		{"type 0, PCID 0, PCIDE = 0 is fine", true, false, "xor ecx, ecx\ninvpcid rcx, [rel desc]\nud2\nhere:", arch.VecUD},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := tc.src + "\nhlt\nalign 16\ndesc: dq 0, 0"
			if tc.ring3 {
				src = ring3Prologue + "user:\n" + src
			}
			m := newMachine(t, modeLong64, 0)
			if tc.feature {
				m.withFeatures(cpuidPCID, cpuidINVPCID, 0, defaultEDX81)
			}
			m.program(t, src)
			m.expectVector(t, tc.vec)
			i := 0
			if tc.vec == arch.VecGP {
				require.Equal(t, uint64(0), m.stack(0, 8))
				i = 1
			}
			at := labelAddr(t, 64, physCode, src, "here")
			if tc.name == "type 0, PCID 0, PCIDE = 0 is fine" {
				at -= 2 // the UD2
			}
			require.Equal(t, at, m.stack(i, 8))
		})
	}
}

// TestCLACSTAC: CLAC/STAC clear/set RFLAGS.AC at CPL 0; #UD at CPL 3 or
// without CPUID SMAP (SDM Vol. 2A CLAC, Vol. 2B STAC).
func TestCLACSTAC(t *testing.T) {
	t.Run("CPL 0", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(0, cpuidSMAP, 0, defaultEDX81)
		m.program(t, "stac\npushfq\npop rbx\nclac\npushfq\npop rcx\nhlt")
		m.expectDone(t)
		s := m.state()
		require.NotZero(t, s.GPR[arch.RBX]&arch.FlagAC)
		require.Zero(t, s.GPR[arch.RCX]&arch.FlagAC)
	})
	for _, tc := range []struct {
		name  string
		smap  bool
		ring3 bool
	}{{"no SMAP", false, false}, {"CPL 3", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			src := "here: stac\nhlt"
			if tc.ring3 {
				src = ring3Prologue + "user:\n" + src
			}
			m := newMachine(t, modeLong64, 0)
			if tc.smap {
				m.withFeatures(0, cpuidSMAP, 0, defaultEDX81)
			}
			m.program(t, src)
			m.expectVector(t, arch.VecUD)
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(0, 8))
		})
	}
}

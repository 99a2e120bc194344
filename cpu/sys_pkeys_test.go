package cpu_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/require"
	"github.com/vmxemu/vmxemu/arch"
	"github.com/vmxemu/vmxemu/cpu"
)

// Protection keys (SDM Vol. 3A 2.7, 4.6.2, 4.7; Vol. 2B RDPKRU, WRPKRU;
// Vol. 4 IA32_PKRS). The expected outcomes are the SDM's rules, written
// out per case below, not the walk's code.

const (
	cpuidPKU = 1 << 3  // 07H:ECX.PKU
	cpuidPKS = 1 << 31 // 07H:ECX.PKS

	// The instructions as bytes (SDM Vol. 2B: NP 0F 01 EE / 0F 01 EF).
	asmRDPKRU = "db 0x0F, 0x01, 0xEE"
	asmWRPKRU = "db 0x0F, 0x01, 0xEF"

	// Enabling code: CR4.PKE (bit 22) and CR4.PKS (bit 24).
	asmSetPKE = "mov rax, cr4\nbts rax, 22\nmov cr4, rax\n"
	asmSetPKS = "mov rax, cr4\nbts rax, 24\nmov cr4, rax\n"

	pkTestKey = 5
	// AD and WD of key 5 in PKRU/IA32_PKRS: bits 10 and 11.
	pkAD5 = 1 << (2 * pkTestKey)
	pkWD5 = 2 << (2 * pkTestKey)
)

// TestPKRUInstructionFaults: RDPKRU and WRPKRU raise #UD with CR4.PKE=0 or
// a LOCK prefix, #GP(0) when ECX ≠ 0 (and, for WRPKRU, EDX ≠ 0), ignore
// the upper halves of RCX/RDX/RAX, clear RDX[63:0] and RAX[63:32] on a
// read, and work at any CPL (SDM Vol. 2B RDPKRU, WRPKRU: Operation,
// "Protected Mode Exceptions", "64-Bit Mode Exceptions"). NP encodings
// with a 66/F2/F3 prefix are not RDPKRU/WRPKRU (#UD).
func TestPKRUInstructionFaults(t *testing.T) {
	cases := []struct {
		name   string
		pke    bool
		src    string
		vector int    // -1: no fault
		pkru   uint32 // PKRU afterwards (no fault)
		rax    uint64 // RAX afterwards (no fault; RDPKRU cases)
		user   bool
	}{
		{"RDPKRU with CR4.PKE=0", false, "xor ecx, ecx\nhere: " + asmRDPKRU, arch.VecUD, 0, 0, false},
		{"WRPKRU with CR4.PKE=0", false, "xor ecx, ecx\nxor edx, edx\nhere: " + asmWRPKRU, arch.VecUD, 0, 0, false},
		{"RDPKRU ECX=1", true, "mov ecx, 1\nhere: " + asmRDPKRU, arch.VecGP, 0, 0, false},
		{"WRPKRU ECX=1", true, "mov ecx, 1\nxor edx, edx\nhere: " + asmWRPKRU, arch.VecGP, 0, 0, false},
		{"WRPKRU EDX=1", true, "xor ecx, ecx\nmov edx, 1\nhere: " + asmWRPKRU, arch.VecGP, 0, 0, false},
		{"LOCK RDPKRU", true, "xor ecx, ecx\nhere: db 0xF0\n" + asmRDPKRU, arch.VecUD, 0, 0, false},
		{"LOCK WRPKRU", true, "xor ecx, ecx\nxor edx, edx\nhere: db 0xF0\n" + asmWRPKRU, arch.VecUD, 0, 0, false},
		{"66 WRPKRU", true, "xor ecx, ecx\nxor edx, edx\nhere: db 0x66\n" + asmWRPKRU, arch.VecUD, 0, 0, false},
		{"F3 RDPKRU", true, "xor ecx, ecx\nhere: db 0xF3\n" + asmRDPKRU, arch.VecUD, 0, 0, false},
		{"WRPKRU ignores RAX/RCX/RDX[63:32]", true,
			"mov rax, 0xDEAD00000000C00C\nmov rcx, 0x100000000\nmov rdx, 0x200000000\n" + asmWRPKRU, -1, 0xC00C, 0, false},
		{"RDPKRU zero-extends into RAX and clears RDX", true,
			"mov eax, 0x30\nxor ecx, ecx\nxor edx, edx\n" + asmWRPKRU + "\nmov rax, -1\nmov rdx, -1\nmov rcx, 0x500000000\n" + asmRDPKRU + "\nmov rbx, rdx",
			-1, 0x30, 0x30, false},
		{"WRPKRU at CPL 3", true, "", -1, 0x4, 0, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.withFeatures(0, 0, cpuidPKU, defaultEDX81)
			src := tc.src + "\nhlt"
			if tc.pke {
				src = asmSetPKE + src
			}
			if tc.user {
				src = asmSetPKE + ring3Prologue + "user:\nmov eax, 4\nxor ecx, ecx\nxor edx, edx\n" + asmWRPKRU + "\nmov rbx, 0x600D\nhlt"
			}
			m.program(t, src)
			switch {
			case tc.user:
				m.expectVector(t, arch.VecGP) // the HLT at CPL 3
				require.Equal(t, uint64(0x600D), m.state().GPR[arch.RBX])
			case tc.vector >= 0:
				m.expectVector(t, tc.vector)
				rip := 0 // #UD pushes no error code
				if tc.vector == arch.VecGP {
					require.Equal(t, uint64(0), m.stack(0, 8), "error code")
					rip = 1
				}
				require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(rip, 8), "faulting RIP")
				require.Zero(t, m.state().PKRU)
				return
			default:
				m.expectDone(t)
			}
			s := m.state()
			require.Equal(t, tc.pkru, s.PKRU)
			if tc.rax != 0 {
				require.Equal(t, tc.rax, s.GPR[arch.RAX])
				require.Zero(t, s.GPR[arch.RBX], "RDX cleared")
			}
		})
	}
}

// TestProtectionKeyRights: the access rights of SDM Vol. 3A 4.6.2 for a
// data page with protection key 5 under 4-level paging. For a user-mode
// address (U/S=1) with CR4.PKE=1: AD_5 of PKRU forbids every data access,
// user or supervisor; WD_5 forbids user writes, and supervisor writes if
// CR0.WP=1. For a supervisor-mode address with CR4.PKS=1, IA32_PKRS does
// the same for supervisor accesses (WD only with CR0.WP=1). PKRU never
// applies to supervisor-mode addresses, IA32_PKRS never to user-mode
// ones, and neither to instruction fetches. A violation is a #PF whose
// error code has PK (bit 5) besides P, W/R and U/S (SDM 4.7).
func TestProtectionKeyRights(t *testing.T) {
	const (
		p, w, u, pk = arch.PFErrP, arch.PFErrWR, arch.PFErrUS, arch.PFErrPK
		ok          = -1
	)
	type access int
	const (
		supRead access = iota
		supWrite
		userRead
		userWrite
		userFetch
	)
	cases := []struct {
		name       string
		userPage   bool
		pke, pks   bool
		pkru, pkrs uint32
		wp         bool
		acc        access
		code       int
	}{
		// PKU: user-mode addresses.
		{"PKRU.AD: user read", true, true, false, pkAD5, 0, true, userRead, p | u | pk},
		{"PKRU.AD: user write", true, true, false, pkAD5, 0, true, userWrite, p | w | u | pk},
		{"PKRU.AD: supervisor read", true, true, false, pkAD5, 0, true, supRead, p | pk},
		{"PKRU.AD: supervisor write, WP=0", true, true, false, pkAD5, 0, false, supWrite, p | w | pk},
		{"PKRU.WD: user read", true, true, false, pkWD5, 0, true, userRead, ok},
		{"PKRU.WD: user write, WP=0", true, true, false, pkWD5, 0, false, userWrite, p | w | u | pk},
		{"PKRU.WD: supervisor write, WP=1", true, true, false, pkWD5, 0, true, supWrite, p | w | pk},
		{"PKRU.WD: supervisor write, WP=0", true, true, false, pkWD5, 0, false, supWrite, ok},
		{"PKRU.AD: user fetch is not a data access", true, true, false, pkAD5, 0, true, userFetch, ok},
		{"PKRU other keys' bits", true, true, false, ^uint32(pkAD5 | pkWD5 | 3), 0, true, userWrite, ok}, // key 0 (every other page) stays allowed
		{"CR4.PKE=0: PKRU ignored", true, false, false, pkAD5, 0, true, userWrite, ok},
		{"PKRU does not apply to a supervisor page", false, true, false, pkAD5, 0, true, supWrite, ok},
		// PKS: supervisor-mode addresses.
		{"PKRS.AD: supervisor read", false, false, true, 0, pkAD5, true, supRead, p | pk},
		{"PKRS.AD: supervisor write, WP=0", false, false, true, 0, pkAD5, false, supWrite, p | w | pk},
		{"PKRS.WD: supervisor read", false, false, true, 0, pkWD5, true, supRead, ok},
		{"PKRS.WD: supervisor write, WP=1", false, false, true, 0, pkWD5, true, supWrite, p | w | pk},
		{"PKRS.WD: supervisor write, WP=0", false, false, true, 0, pkWD5, false, supWrite, ok},
		{"CR4.PKS=0: IA32_PKRS ignored", false, false, false, 0, pkAD5, true, supRead, ok},
		{"PKRS does not apply to a user page", true, false, true, 0, pkAD5, true, supWrite, ok},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.withFeatures(0, 0, cpuidPKU|cpuidPKS, defaultEDX81)
			pte := uint64(testPage | pteP | pteRW | pkTestKey<<59)
			if tc.userPage {
				pte |= pteUS
			}
			m.w64(pteAddr(testPage), pte)
			var setup string
			if tc.pke {
				setup += asmSetPKE
			}
			if tc.pks {
				setup += asmSetPKS
			}
			var body string
			switch tc.acc {
			case supRead, userRead:
				body = "here: mov rax, [0x100008]"
			case supWrite, userWrite:
				body = "here: mov [0x100008], rax"
			case userFetch:
				m.w8(testPage+8, 0xC3) // RET
				body = "mov rax, 0x100008\nhere: call rax"
			}
			body += "\nmov rbx, 0x600D\nhlt"
			src := setup + body
			user := tc.acc >= userRead
			if user {
				src = setup + ring3Prologue + "user:\n" + body
			}
			m.program(t, src)
			s := m.state()
			s.PKRU, s.PKRS = tc.pkru, uint64(tc.pkrs)
			if tc.wp {
				s.CR0 |= arch.CR0WP
			} else {
				s.CR0 &^= arch.CR0WP
			}
			m.set(s)
			if tc.code == ok {
				if user {
					m.expectVector(t, arch.VecGP) // the HLT at CPL 3
				} else {
					m.expectDone(t)
				}
				require.Equal(t, uint64(0x600D), m.state().GPR[arch.RBX])
				return
			}
			m.expectVector(t, arch.VecPF)
			require.Equal(t, uint64(tc.code), m.stack(0, 8), "error code")
			require.Equal(t, uint64(0x100008), m.state().CR2, "CR2")
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8), "RIP")
		})
	}
}

// TestProtectionKeysTLB: a change of the rights takes effect at the next
// access even though the page's translation is cached, as on hardware,
// which applies PKRU and IA32_PKRS to every access (SDM Vol. 3A 4.6.2,
// 4.10.2.2: a TLB entry holds the key, not the rights). Each program
// accesses the page once with the rights allowing it (filling the TLB),
// changes the rights by the instruction named, and accesses it again.
func TestProtectionKeysTLB(t *testing.T) {
	cases := []struct {
		name   string
		user   bool   // the page's U/S
		access string // the access, done twice
		change string // code that takes the rights away
		code   uint64
	}{
		{"WRPKRU AD after a read", true, "mov rax, [0x100008]",
			"mov eax, 0x400\nxor ecx, ecx\nxor edx, edx\n" + asmWRPKRU, arch.PFErrP | arch.PFErrPK},
		{"WRPKRU WD after a write (WP=1)", true, "mov [0x100008], rax",
			"mov eax, 0x800\nxor ecx, ecx\nxor edx, edx\n" + asmWRPKRU, arch.PFErrP | arch.PFErrWR | arch.PFErrPK},
		{"WRMSR IA32_PKRS AD after a read", false, "mov rax, [0x100008]",
			"mov ecx, 0x6E1\nmov eax, 0x400\nxor edx, edx\nwrmsr", arch.PFErrP | arch.PFErrPK},
		{"WRMSR IA32_PKRS WD after a write (WP=1)", false, "mov [0x100008], rax",
			"mov ecx, 0x6E1\nmov eax, 0x800\nxor edx, edx\nwrmsr", arch.PFErrP | arch.PFErrWR | arch.PFErrPK},
		{"CR4.PKE set after a read under PKRU.AD", true, "mov rax, [0x100008]",
			asmSetPKE, arch.PFErrP | arch.PFErrPK},
		{"CR4.PKS set after a read under IA32_PKRS.AD", false, "mov rax, [0x100008]",
			asmSetPKS, arch.PFErrP | arch.PFErrPK},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.withFeatures(0, 0, cpuidPKU|cpuidPKS, defaultEDX81)
			pte := uint64(testPage | pteP | pteRW | pkTestKey<<59)
			if tc.user {
				pte |= pteUS
			}
			m.w64(pteAddr(testPage), pte)
			setup := asmSetPKE + asmSetPKS
			if tc.change == asmSetPKE || tc.change == asmSetPKS {
				setup = "" // the rights are there; the enable comes later
			}
			src := setup + tc.access + "\n" + tc.change + "\nhere: " + tc.access + "\nhlt"
			m.program(t, src)
			s := m.state()
			s.CR0 |= arch.CR0WP
			if setup == "" {
				s.PKRU, s.PKRS = pkAD5, pkAD5
			}
			m.set(s)
			m.expectVector(t, arch.VecPF)
			require.Equal(t, tc.code, m.stack(0, 8), "error code")
			require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8), "RIP of the second access")
		})
	}
	t.Run("XRSTOR of PKRU AD after a read", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(cpuidXSAVE, 0, cpuidPKU, defaultEDX81)
		m.plat.xsavePKRU = true
		m.c.RefreshFeatures()
		m.w64(pteAddr(testPage), testPage|pteP|pteRW|pteUS|pkTestKey<<59)
		m.w64(0x180000+512, 1<<9)    // XSTATE_BV: PKRU
		m.w64(0x180000+0xA80, pkAD5) // the PKRU image
		src := asmSetPKE + `
	mov rax, cr4
	bts rax, 18
	mov cr4, rax
	xor ecx, ecx
	mov eax, 0x203
	xor edx, edx
	xsetbv
	mov rax, [0x100008]
	mov eax, 0x200
	xor edx, edx
	xrstor [0x180000]
here: mov rax, [0x100008]
	hlt`
		m.program(t, src)
		m.expectVector(t, arch.VecPF)
		require.Equal(t, uint64(arch.PFErrP|arch.PFErrPK), m.stack(0, 8))
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
	})
	t.Run("SetState (debugger, VM entry) with new rights", func(t *testing.T) {
		m := newMachine(t, modeLong64, 0)
		m.withFeatures(0, 0, cpuidPKU, defaultEDX81)
		m.w64(pteAddr(testPage), testPage|pteP|pteRW|pteUS|pkTestKey<<59)
		src := asmSetPKE + "mov rax, [0x100008]\nspin: jmp spin\nhere: mov rax, [0x100008]\nhlt"
		m.program(t, src)
		require.Equal(t, cpu.StopBudget, m.run(1000))
		s := m.state()
		require.Equal(t, labelAddr(t, 64, physCode, src, "spin"), s.RIP)
		s.PKRU = pkAD5
		s.RIP = labelAddr(t, 64, physCode, src, "here")
		m.set(s)
		m.expectVector(t, arch.VecPF)
		require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
	})
}

// TestPKRS: IA32_PKRS (6E1H) exists only with CPUID.(07H,0):ECX.PKS; its
// bits 63:32 are reserved (#GP(0) on WRMSR); it reads back what was
// written (SDM Vol. 4 Table 2-2; Vol. 2B RDMSR/WRMSR).
func TestPKRS(t *testing.T) {
	cases := []struct {
		name     string
		pks      bool
		src      string
		vector   int
		wantPKRS uint64
	}{
		{"RDMSR without PKS", false, "mov ecx, 0x6E1\nhere: rdmsr", arch.VecGP, 0},
		{"WRMSR without PKS", false, "mov ecx, 0x6E1\nxor eax, eax\nxor edx, edx\nhere: wrmsr", arch.VecGP, 0},
		{"WRMSR bit 32", true, "mov ecx, 0x6E1\nxor eax, eax\nmov edx, 1\nhere: wrmsr", arch.VecGP, 0},
		{"WRMSR bits 31:0, RDMSR back", true, "mov ecx, 0x6E1\nmov eax, 0xFFFFFFFF\nxor edx, edx\nwrmsr\nxor eax, eax\nmov edx, 7\nrdmsr", -1, 0xFFFFFFFF},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			if tc.pks {
				m.withFeatures(0, 0, cpuidPKS, defaultEDX81)
			}
			src := tc.src + "\nhlt"
			m.program(t, src)
			if tc.vector >= 0 {
				m.expectVector(t, tc.vector)
				require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
				return
			}
			m.expectDone(t)
			s := m.state()
			require.Equal(t, tc.wantPKRS, s.PKRS)
			require.Equal(t, tc.wantPKRS&0xFFFFFFFF, s.GPR[arch.RAX])
			require.Equal(t, tc.wantPKRS>>32, s.GPR[arch.RDX])
		})
	}
}

// TestOSPKE: CPUID.(EAX=07H,ECX=0):ECX.OSPKE[bit 4] reflects CR4.PKE (SDM
// Vol. 2A CPUID Table 3-8), and CR4.PKE/CR4.PKS can be set only when
// CPUID reports PKU/PKS (Vol. 3A 2.5: otherwise reserved, #GP(0)).
func TestOSPKE(t *testing.T) {
	cpuid7 := "mov eax, 7\nxor ecx, ecx\ncpuid\n"
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(0, 0, cpuidPKU|cpuidPKS, defaultEDX81)
	m.program(t, cpuid7+"mov r8, rcx\n"+asmSetPKE+cpuid7+"mov r9, rcx\nhlt")
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint64(cpuidPKU|cpuidPKS), s.GPR[8], "OSPKE clear with CR4.PKE=0")
	require.Equal(t, uint64(cpuidPKU|cpuidPKS|1<<4), s.GPR[9], "OSPKE set with CR4.PKE=1")
	for _, bit := range []int{22, 24} {
		t.Run(fmt.Sprintf("CR4 bit %d without CPUID", bit), func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.program(t, fmt.Sprintf("mov rax, cr4\nbts rax, %d\nmov cr4, rax\nhlt", bit))
			m.expectVector(t, arch.VecGP)
		})
	}
}

// TestXSAVEPKRU: with XCR0.PKRU (bit 9) XSAVE stores PKRU in bytes 3:0 of
// state component 9 at its standard-format offset CPUID.(0DH,9):EBX
// (0xA80 with size 8 on a Cascade Lake-SP dump: msr/models), XRSTOR loads
// it (with XSTATE_BV[9]=1) or puts it in its initial configuration 0
// (XSTATE_BV[9]=0), whatever CR4.PKE says, and CPUID.(0DH,0):EBX tracks
// XCR0 (SDM Vol. 1 13.4.3, 13.5.7, 13.7, 13.8; Vol. 2A CPUID leaf 0DH).
func TestXSAVEPKRU(t *testing.T) {
	const area = 0x180000 // 64-byte aligned, in the identity map's 2-MiB page
	src := `
	mov rax, cr4
	bts rax, 18              ; OSXSAVE
	bts rax, 22              ; PKE
	mov cr4, rax
	mov eax, 0xD
	xor ecx, ecx
	cpuid
	mov r8, rbx              ; size for XCR0 = x87
	xor ecx, ecx
	mov eax, 0x203           ; x87 | SSE | PKRU
	xor edx, edx
	xsetbv
	mov eax, 0xD
	xor ecx, ecx
	cpuid
	mov r9, rbx              ; size for XCR0 = x87 | SSE | PKRU
	mov eax, 0x55000000      ; AD of keys 12-15 (the test's pages have key 0)
	xor ecx, ecx
	xor edx, edx
	` + asmWRPKRU + `
	mov eax, 0x200
	xor edx, edx
	xsave [0x180000]         ; PKRU only
	mov rax, 0x1234567800000140
	mov [0x180000+0xA80], rax ; PKRU image 0x140 (bytes 7:4 junk)
	mov eax, 0x200
	xor edx, edx
	xrstor [0x180000]
	xor ecx, ecx
	` + asmRDPKRU + `
	mov r10, rax             ; 0x140
	mov qword [0x180000+512], 0 ; XSTATE_BV = 0: initial configuration
	mov eax, 0x200
	xor edx, edx
	xrstor [0x180000]
	xor ecx, ecx
	` + asmRDPKRU + `
	mov r11, rax             ; 0
	hlt`
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(cpuidXSAVE, 0, cpuidPKU, defaultEDX81)
	m.plat.xsavePKRU = true
	m.c.RefreshFeatures()
	m.w64(area+0xA80, 0xAAAAAAAA_BBBBBBBB)
	m.program(t, src)
	m.expectDone(t)
	s := m.state()
	require.Equal(t, uint64(576), s.GPR[8])
	require.Equal(t, uint64(0xA80+8), s.GPR[9])
	require.Equal(t, uint64(0x140), s.GPR[10])
	require.Equal(t, uint64(0), s.GPR[11])
	require.Zero(t, s.PKRU)
}

// TestXSAVEPKRUImage: XSAVE's image of PKRU, before the program touches
// it: PKRU in bytes 3:0, bytes 7:4 left as they were, XSTATE_BV[9] set.
func TestXSAVEPKRUImage(t *testing.T) {
	const area = 0x180000
	src := `
	mov rax, cr4
	bts rax, 18
	bts rax, 22
	mov cr4, rax
	xor ecx, ecx
	mov eax, 0x203
	xor edx, edx
	xsetbv
	mov eax, 0x55000000      ; AD of keys 12-15 (the test's pages have key 0)
	xor ecx, ecx
	xor edx, edx
	` + asmWRPKRU + `
	mov eax, 0x200
	xor edx, edx
	xsave [0x180000]
	hlt`
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(cpuidXSAVE, 0, cpuidPKU, defaultEDX81)
	m.plat.xsavePKRU = true
	m.c.RefreshFeatures()
	m.w64(area+0xA80, 0xAAAAAAAA_BBBBBBBB)
	m.program(t, src)
	m.expectDone(t)
	require.Equal(t, uint64(0xAAAAAAAA_55000000), m.r64(area+0xA80))
	require.Equal(t, uint64(1<<9), m.r64(area+512), "XSTATE_BV")
}

// TestXSETBVPKRU: XCR0 bit 9 is reserved unless CPUID.(0DH,0):EAX reports
// it (SDM Vol. 3A 2.6; Vol. 2C XSETBV #GP(0)).
func TestXSETBVPKRU(t *testing.T) {
	src := "mov rax, cr4\nbts rax, 18\nmov cr4, rax\nxor ecx, ecx\nmov eax, 0x203\nxor edx, edx\nhere: xsetbv\nhlt"
	for _, reported := range []bool{false, true} {
		t.Run(fmt.Sprintf("reported=%v", reported), func(t *testing.T) {
			m := newMachine(t, modeLong64, 0)
			m.withFeatures(cpuidXSAVE, 0, cpuidPKU, defaultEDX81)
			m.plat.xsavePKRU = reported
			m.c.RefreshFeatures()
			m.program(t, src)
			if !reported {
				m.expectVector(t, arch.VecGP)
				require.Equal(t, labelAddr(t, 64, physCode, src, "here"), m.stack(1, 8))
				return
			}
			m.expectDone(t)
			require.Equal(t, uint64(0x203), m.state().XCR0)
		})
	}
}

// TestINITKeepsKeyRights: INIT puts the processor in its INIT state but
// leaves MSRs and XSAVE-managed user state as they were (SDM Vol. 3A 10.1:
// "the internal caches, MSRs, MTRRs, and x87 FPU state are left
// unchanged"), so PKRU and IA32_PKRS survive it (as in QEMU, whose INIT
// preserves both), while CR4 (and with it PKE/PKS) is cleared (Table 10-1).
func TestINITKeepsKeyRights(t *testing.T) {
	m := newMachine(t, modeLong64, 0)
	m.withFeatures(0, 0, cpuidPKU|cpuidPKS, defaultEDX81)
	m.program(t, "spin: jmp spin")
	s := m.state()
	s.PKRU, s.PKRS = 0xC, 0x30
	s.CR4 |= arch.CR4PKE | arch.CR4PKS
	m.set(s)
	m.c.RaiseINIT()
	m.run(100)
	s = m.state()
	require.Equal(t, uint64(0xFFF0), s.RIP, "in the INIT state")
	require.Zero(t, s.CR4)
	require.Equal(t, uint32(0xC), s.PKRU)
	require.Equal(t, uint64(0x30), s.PKRS)
}

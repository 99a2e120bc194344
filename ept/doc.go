// Package ept is vmxemu's guest-physical to host-physical translation:
// the extended page tables of Intel SDM Vol. 3C 29.3 as pure logic over a
// small physical-memory interface (Mem). It never imports the core.
//
// It covers
//   - the EPT capabilities a processor reports in IA32_VMX_EPT_VPID_CAP
//     (SDM Vol. 3D A.10), read by Caps;
//   - the validity of an EPT pointer (EPTP, SDM Vol. 3C 25.6.11) as VM
//     entry (27.2.1.1) and INVEPT check it: CheckEPTP, each failure naming
//     the rule;
//   - the EPT walk (29.3.2) for 4- and 5-level tables with 2-MiB and 1-GiB
//     pages where the capabilities allow them, the R/W/X permissions and
//     execute-only entries, and the outcome of a refused access: an EPT
//     misconfiguration (29.3.3.1) or an EPT violation (29.3.3.2) with the
//     exit qualification of Table 28-7;
//   - the EPT memory type and ignore-PAT bit of the leaf entry (29.3.7);
//   - the accessed and dirty flags when EPTP bit 6 enables them (29.3.5):
//     guest paging-structure accesses count as writes for them;
//   - the VM-execution controls that change the walk (Controls, WalkCtl):
//     mode-based execute control (bit 10, 29.3.3.2) and a full
//     page-modification log (29.3.6: the walk stops before setting an
//     A/D flag; Result.Dirtied tells the caller what to log);
//   - whether an EPT violation is convertible to a #VE (Result.Convertible:
//     the suppress-#VE bit 63 of the deciding entry, Vol. 3C 26.5.6.1).
//
// What it does not do: caching (the core's TLB holds combined
// guest-linear to host-physical translations, tagged by VPID and EPTP,
// and INVEPT/INVVPID act on it), writing the PML log or the #VE
// information area (package vmx), sub-page write permissions (not
// offered by vmxemu's models: the capability MSRs mask them).
//
// The package holds no mutable state; Walk is safe for concurrent use as
// long as the Mem it is given is.
package ept

package msr

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/bits"
	"regexp"
	"strconv"
	"strings"
)

// AIDA64 "CPUID dump" import: the format of the InstLatx64 collection
// (github.com/InstLatx64/InstLatx64, GenuineIntel/*_CPUID*.txt) that the
// shipped models come from.
//
// The first "Logical CPU #0" section gives the CPUID leaves, the first
// "MSR Registers" section the MSRs. A CPUID line is
//
//	CPUID 00000004: 3C004121-01C0003F-0000003F-00000000 [SL 00] [L1D: 32 KB]
//
// Newer AIDA64 versions mark subleaves with [SL nn]. Older ones (before
// about v5) do not: repeated lines of a leaf are then subleaves 0, 1, 2 in
// order, except leaf 0DH, whose lines after the first are the XSAVE state
// components 2, 3, ... that subleaf 0 enumerates (those versions skip
// subleaf 1). An MSR line is
//
//	MSR 00000480: 00DA-0400-0000-0010
//
// and "< FAILED >" marks an MSR the tool could not read; later lines for
// the same MSR (AIDA64 samples some several times) replace earlier ones.

var (
	aidaCPUIDRE = regexp.MustCompile(`^CPUID ([0-9A-Fa-f]{8}): ([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})-([0-9A-Fa-f]{8})(.*)$`)
	aidaSLRE    = regexp.MustCompile(`\[SL ([0-9A-Fa-f]{2})\]`)
	aidaMSRRE   = regexp.MustCompile(`^MSR ([0-9A-Fa-f]{8}): (?:([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})-([0-9A-Fa-f]{4})|(< FAILED >))`)
)

// IsAIDA64 reports whether the start of a file looks like an AIDA64 CPUID
// dump.
func IsAIDA64(head []byte) bool {
	s := string(head)
	return strings.Contains(s, "------[ Versions ]------") || strings.Contains(s, "------[ CPU Info ]------")
}

// ParseAIDA64 imports an AIDA64 CPUID dump as a model named name. The
// description is taken from the dump's "CPU Alias" and "CPUID CPU Name".
func ParseAIDA64(r io.Reader, name string) (*Model, error) {
	m := &Model{Name: name}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	var (
		section  string // "cpu0", "msr", or "" (elsewhere)
		doneCPU  bool
		doneMSR  bool
		count    = map[uint32]int{}
		xsave0   uint64
		msrs     = map[uint32]uint64{}
		msrOrder []uint32
		alias    string
		cpuName  string
		version  string
	)
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r ")
		if strings.HasPrefix(line, "------[") {
			switch {
			case section == "cpu0":
				doneCPU = true
			case section == "msr":
				doneMSR = true
			}
			section = ""
			switch {
			case !doneCPU && strings.Contains(line, "Logical CPU #0 "):
				section = "cpu0"
			case !doneMSR && strings.Contains(line, "MSR Registers"):
				section = "msr"
			}
			continue
		}
		if k, v, ok := strings.Cut(line, " : "); ok && section == "" {
			switch strings.TrimSpace(k) {
			case "CPU Alias":
				alias = strings.TrimSpace(v)
			case "CPUID CPU Name":
				cpuName = strings.TrimSpace(v)
			case "Program Version":
				version = strings.TrimSpace(v)
			}
		}
		switch section {
		case "cpu0":
			sm := aidaCPUIDRE.FindStringSubmatch(line)
			if sm == nil {
				continue
			}
			var v [5]uint32
			for i := range v {
				x, _ := strconv.ParseUint(sm[i+1], 16, 32)
				v[i] = uint32(x)
			}
			leaf := v[0]
			sub := uint32(0)
			if sl := aidaSLRE.FindStringSubmatch(sm[6]); sl != nil {
				x, _ := strconv.ParseUint(sl[1], 16, 32)
				sub = uint32(x)
				if err := checkSubleaf(leaf, sub); err != nil {
					return nil, fmt.Errorf("AIDA64 dump: [SL %s] on %q: %w", sl[1], sm[1], err)
				}
			} else if HasSubleaves(leaf) {
				k := count[leaf]
				sub = uint32(k)
				if leaf == 0xD && k > 0 {
					sub = nthBit(xsave0&^3, k)
				}
			}
			if leaf == 0xD && sub == 0 {
				xsave0 = uint64(v[1]) | uint64(v[4])<<32
			}
			if !HasSubleaves(leaf) && count[leaf] > 0 {
				return nil, fmt.Errorf("AIDA64 dump: CPUID leaf %#x appears twice in logical CPU #0", leaf)
			}
			count[leaf]++
			m.CPUID = append(m.CPUID, Leaf{Leaf: leaf, Subleaf: sub, Regs: Regs{v[1], v[2], v[3], v[4]}})
		case "msr":
			sm := aidaMSRRE.FindStringSubmatch(line)
			if sm == nil || sm[6] != "" {
				continue
			}
			x, _ := strconv.ParseUint(sm[1], 16, 32)
			val, _ := strconv.ParseUint(sm[2]+sm[3]+sm[4]+sm[5], 16, 64)
			idx := uint32(x)
			if _, seen := msrs[idx]; !seen {
				msrOrder = append(msrOrder, idx)
			}
			msrs[idx] = val
		}
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("reading the AIDA64 dump: %w", err)
	}
	if len(m.CPUID) == 0 {
		return nil, errors.New("AIDA64 dump: no CPUID lines for logical CPU #0")
	}
	for _, idx := range msrOrder {
		m.MSRs = append(m.MSRs, MSRValue{Index: idx, Value: msrs[idx]})
	}
	desc := strings.TrimSpace(strings.Join([]string{alias, cpuName}, ", "))
	m.Description = strings.Trim(desc, ", ")
	if version != "" {
		m.Notes = append(m.Notes, "imported from an AIDA64 dump ("+version+"), logical CPU #0")
	}
	m.sort()
	if err := m.validate(); err != nil {
		return nil, fmt.Errorf("AIDA64 dump: %w", err)
	}
	return m, nil
}

// nthBit returns the position of the k-th (1-based) set bit of x, or 64+k
// when x has fewer.
func nthBit(x uint64, k int) uint32 {
	for i := 1; x != 0; i++ {
		b := uint32(bits.TrailingZeros64(x))
		if i == k {
			return b
		}
		x &= x - 1
	}
	return 64 + uint32(k)
}

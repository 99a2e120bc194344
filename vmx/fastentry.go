package vmx

// The fast VM-entry check path (issue 18). Every check of VM entry still
// runs in the SDM's order (Vol. 3C 27.1-27.3), but a group of checks —
// the controls (27.2.1), the host state (27.2.2-27.2.4), the guest state
// (27.3.1) and within it the segment registers (27.3.1.2) — is skipped
// when it passed before and none of its inputs has changed since:
//
//   - the VMCS fields it read: while a group runs, field() notes the slot
//     of each field read; when the group passes, the slots and their
//     values are kept. The group is skipped only if each of those fields
//     still holds the value it had. A field that was not read cannot have
//     decided anything (the checks are plain code over field values: which
//     fields a check reads is itself decided by the fields read before it).
//     Values are compared, not writes counted, so VMWRITE, the processor's
//     own writes at VM exit (guest state, exit information, the cleared
//     valid bit of the entry interruption information: 28.2, 28.3) and
//     VMPTRLD of another VMCS are all covered. vmxemu holds the current
//     VMCS in VMCS.vals, not in memory (25.11.1: the region in memory is
//     not coherent while the VMCS is active), so no memory write can
//     change a field behind these values.
//   - the state outside the VMCS the group reads: the capability MSRs
//     (constant for a processor: Caps), the instruction (VMLAUNCH or
//     VMRESUME), the host's IA32_EFER (its LMA bit: 27.2.4) for the host
//     checks, and the arguments of the segment checks (derived from the
//     guest fields but passed in).
//   - memory: a group that read memory (the virtual-APIC page's VTPR under
//     "use TPR shadow" without virtual-interrupt delivery, the VMCS at the
//     link pointer, PAE PDPTEs from guest memory) is never skipped: its
//     result is not kept.
//
// A group that fails is not kept either, so every failure — VMfailValid
// with its number, a VM-entry failure with reason 33 and its
// qualification, and the check named — comes from the full code, and a
// skipped group is one that would have passed: the first failing check,
// and so the outcome, is the full path's. TestFastEntryEquivalence runs
// both on random VMCS mutations.

// fieldRec notes the slots field() reads while a group runs (depth > 0);
// a slot is listed once per stretch (gen), duplicates across nested
// groups are harmless.
type fieldRec struct {
	depth int
	gen   uint64   // 64 bits: never wraps back to a stamp still in use
	stamp []uint64 // by slot: the gen that listed it
	slots []int16  // in order of first read
}

func (r *fieldRec) note(s int) {
	if r.stamp[s] != r.gen {
		r.stamp[s] = r.gen
		r.slots = append(r.slots, int16(s))
	}
}

// checkMemo is one group's last pass: the VMCS, the key (instruction and
// the group's non-VMCS inputs) and the fields it read with their values.
type checkMemo struct {
	ok   bool
	vmcs *VMCS
	insn Insn
	key  [2]uint64
	// slots and vals are grouped by write class (slotClass): those of
	// class t are at bound[t]:bound[t+1].
	slots []int16
	vals  []uint64
	bound [nClasses + 1]int
	// gen is the VMCS's VMCS.gen when the values were last known to
	// hold: while a class has had no write since, its values still hold,
	// and only the classes written need their values compared.
	gen [nClasses]uint64
}

// unwritten reports whether no field of a class m read has been written
// in s since m's values were last known to hold.
func (m *checkMemo) unwritten(s *VMCS) bool {
	for t := range s.gen {
		if m.gen[t] != s.gen[t] && m.bound[t] != m.bound[t+1] {
			return false
		}
	}
	return true
}

// recPhys is the memory a recording group sees: it notes any access.
type recPhys struct {
	mem  Phys
	used bool
}

func (p *recPhys) ReadPhys(pa uint64, b []byte) bool {
	p.used = true
	return p.mem != nil && p.mem.ReadPhys(pa, b)
}

func (p *recPhys) WritePhys(pa uint64, b []byte) bool {
	p.used = true
	return p.mem != nil && p.mem.WritePhys(pa, b)
}

// entryMemo is a processor's memos of its entry-check groups.
type entryMemo struct {
	// off runs every group in full (the reference in the tests).
	off      bool
	rec      fieldRec
	phys     recPhys
	controls checkMemo
	host     checkMemo
	guest    checkMemo
	segments checkMemo
	// intercepts is the memo of the intercept record (Intercepts,
	// nonroot.go), interceptsTo the record it filled.
	intercepts   checkMemo
	interceptsTo *Intercepts
	// hits counts the groups skipped (the tests' proof that the fast
	// path ran), unwritten those skipped on VMCS.gen alone.
	// partial those skipped after comparing the values of some classes
	// only.
	hits, unwritten, partial uint64
}

// memoHit reports whether m's group can be skipped: it passed with the
// same VMCS, instruction and key, and every field it read holds the same
// value. Inside a recording group the skipped group's fields count as
// read by the outer one.
func (v *CPU) memoHit(m *checkMemo, insn Insn, key [2]uint64) bool {
	if v.memo.off || !m.ok || m.vmcs != v.cur || m.insn != insn || m.key != key {
		return false
	}
	if !m.unwritten(v.cur) {
		// The values of the classes written since are compared.
		vals, partial := v.cur.vals, false
		for t := range v.cur.gen {
			if m.gen[t] == v.cur.gen[t] {
				partial = partial || m.bound[t] != m.bound[t+1]
				continue
			}
			lo, hi := m.bound[t], m.bound[t+1]
			kept := m.vals[lo:hi]
			for i, s := range m.slots[lo:hi] {
				if vals[s] != kept[i] {
					return false
				}
			}
		}
		m.gen = v.cur.gen // the values hold as of now
		if partial {
			v.memo.partial++
		}
	} else {
		v.memo.unwritten++
	}
	if r := &v.memo.rec; r.depth != 0 {
		r.slots = append(r.slots, m.slots...)
	}
	v.memo.hits++
	return true
}

// memoBegin starts recording a group; it returns where its slots begin.
func (v *CPU) memoBegin() int {
	r := &v.memo.rec
	if r.stamp == nil {
		r.stamp = make([]uint64, len(v.cur.vals))
	}
	r.depth++
	r.gen++
	return len(r.slots)
}

// memoEnd ends recording a group that started at start: if it passed
// without touching memory, m keeps its fields and their values.
func (v *CPU) memoEnd(m *checkMemo, start int, passed, usedMem bool, insn Insn, key [2]uint64) {
	r := &v.memo.rec
	m.ok = passed && !usedMem && !v.memo.off
	if m.ok {
		m.vmcs, m.insn, m.key = v.cur, insn, key
		// The slots and their values grouped by class (a counting
		// sort: bound[t+1] counts class t, then sums).
		src := r.slots[start:]
		m.bound = [nClasses + 1]int{}
		for _, s := range src {
			m.bound[v.caps.class[s]+1]++
		}
		for t := 1; t <= nClasses; t++ {
			m.bound[t] += m.bound[t-1]
		}
		m.slots = append(m.slots[:0], src...)
		m.vals = append(m.vals[:0], make([]uint64, len(src))...)
		pos := m.bound
		for _, s := range src {
			t := v.caps.class[s]
			m.slots[pos[t]], m.vals[pos[t]] = s, v.cur.vals[s]
			pos[t]++
		}
		m.gen = v.cur.gen
	}
	r.depth--
	r.gen++
	if r.depth == 0 {
		r.slots = r.slots[:0]
	}
}

// controlsChecked is checkControls through its memo; a failure's outcome
// goes to *o.
func (v *CPU) controlsChecked(insn Insn, mem Phys, o *Outcome) bool {
	m := &v.memo.controls
	if v.memoHit(m, insn, [2]uint64{}) {
		return false
	}
	start := v.memoBegin()
	p := &v.memo.phys
	p.mem, p.used = mem, false
	r, bad := v.checkControls(insn, p)
	p.mem = nil
	v.memoEnd(m, start, !bad, p.used, insn, [2]uint64{})
	if bad {
		*o = r
	}
	return bad
}

// hostChecked is checkHostState through its memo (the host's IA32_EFER
// is its one input outside the VMCS); a failure's outcome goes to *o.
func (v *CPU) hostChecked(insn Insn, c *EntryCtx, o *Outcome) bool {
	m := &v.memo.host
	key := [2]uint64{c.EFER}
	if v.memoHit(m, insn, key) {
		return false
	}
	start := v.memoBegin()
	r, bad := v.checkHostState(insn, c)
	v.memoEnd(m, start, !bad, false, insn, key)
	if bad {
		*o = r
	}
	return bad
}

// guestChecked is checkGuestState through its memo.
func (v *CPU) guestChecked(insn Insn, mem Phys) *GuestFailure {
	m := &v.memo.guest
	if v.memoHit(m, insn, [2]uint64{}) {
		return nil
	}
	start := v.memoBegin()
	p := &v.memo.phys
	p.mem, p.used = mem, false
	g := v.checkGuestState(p)
	p.mem = nil
	v.memoEnd(m, start, g == nil, p.used, insn, [2]uint64{})
	return g
}

// segmentsChecked is checkSegments through its memo, keyed by its
// arguments; it runs inside the guest group, whose recording includes it.
func (v *CPU) segmentsChecked(ia32e, v86, urg bool, cr0 uint64) *GuestFailure {
	m := &v.memo.segments
	var flags uint64
	if ia32e {
		flags |= 1
	}
	if v86 {
		flags |= 2
	}
	if urg {
		flags |= 4
	}
	key := [2]uint64{flags, cr0}
	if v.memoHit(m, 0, key) {
		return nil
	}
	start := v.memoBegin()
	g := v.checkSegments(ia32e, v86, urg, cr0)
	v.memoEnd(m, start, g == nil, false, 0, key)
	return g
}

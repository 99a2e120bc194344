package cpu

// The opcode maps (SDM Vol. 2D Appendix A) as data: one opEntry per opcode,
// groups as 8-row sub-tables, built once per CodeCache by buildTables.

type tables struct {
	map1    [256]opEntry
	map0F   [256]opEntry
	map0F38 [256]opEntry
	map0F3A [256]opEntry

	// Rows reached through selectors.
	movsxd, arpl, popcnt, bsf, tzcnt  opEntry
	grp7mem                           [8]opEntry
	swapgs, rdtscp, smswReg, lmswReg  opEntry
	xgetbv, xsetbv                    opEntry
	monitor, mwait                    opEntry
	clac, stac, invpcid               opEntry
	rdpkru, wrpkru                    opEntry
	fsgsbase, rdpid                   opEntry
	xsavesGrp                         [3]opEntry // 0F C7 /3, /4, /5
	invept, invvpid                   opEntry
	cmpxchg8b, vmxon, vmclear         opEntry
	vmptrld, vmptrst, vmread, vmwrite opEntry
	vmcall, vmentry, vmxoff, vmfunc   opEntry
	grp15mem                          [8]opEntry
	lfence, mfence, sfence            opEntry
	clflushopt, clwb                  opEntry
	pause, rdrand                     opEntry
}

// by returns handlers for operand sizes 8, 16, 32, 64.
func by(h8, h16, h32, h64 handler) [4]handler { return [4]handler{h8, h16, h32, h64} }

// v returns handlers for 16/32/64-bit operands.
func v(h16, h32, h64 handler) [4]handler { return [4]handler{nil, h16, h32, h64} }

// one returns the same handler for every size.
func one(h handler) [4]handler { return [4]handler{h, h, h, h} }

// b returns a byte-only handler.
func b8(h handler) [4]handler { return [4]handler{h, nil, nil, nil} }

func buildTables() *tables {
	t := &tables{}
	m := &t.map1
	x := &t.map0F

	// 00-3F: ALU ops in 8 blocks of 6 (SDM Table A-2).
	for op := 0; op < 8; op++ {
		base := op * 8
		lock := uint32(fLock)
		if op == aluCMP {
			lock = 0
		}
		m[base+0] = opEntry{name: "alu Eb,Gb", f: fModRM | fByte | lock,
			h: b8(aluRMReg8)}
		m[base+1] = opEntry{name: "alu Ev,Gv", f: fModRM | lock,
			h: hotRR(op), hm: v(aluRMReg16, aluRMReg32, aluRMReg64)}
		m[base+1].h[0] = nil
		m[base+2] = opEntry{name: "alu Gb,Eb", f: fModRM | fByte, h: b8(aluRegRM8)}
		m[base+3] = opEntry{name: "alu Gv,Ev", f: fModRM, h: v(aluRegRM16, aluRegRM32, aluRegRM64)}
		m[base+4] = opEntry{name: "alu AL,Ib", f: fByte | fImm8, h: b8(aluAccImm8)}
		// rAX,Iz decodes to the register form of 81 /op (decode.go), so it
		// runs the same specialised r,imm handlers.
		accImm := hotRI(op)
		accImm[0] = nil
		m[base+5] = opEntry{name: "alu rAX,Iz", f: fImmZ, h: accImm}
	}
	for _, op := range []int{0x06, 0x0E, 0x16, 0x1E} {
		m[op] = opEntry{name: "push sreg", f: fInv64, h: one(pushSreg)}
	}
	for _, op := range []int{0x07, 0x17, 0x1F} {
		m[op] = opEntry{name: "pop sreg", f: fInv64 | fEnd, h: one(popSreg)}
	}
	m[0x27] = opEntry{name: "daa", f: fInv64, h: one(daa)}
	m[0x2F] = opEntry{name: "das", f: fInv64, h: one(das)}
	m[0xD6] = opEntry{name: "salc", f: fInv64, h: one(salc)}
	m[0x37] = opEntry{name: "aaa", f: fInv64, h: one(aaaAas)}
	m[0x3F] = opEntry{name: "aas", f: fInv64, h: one(aaaAas)}
	for r := 0; r < 8; r++ {
		m[0x40+r] = opEntry{name: "inc r", f: fRegOp | fInv64, h: v(incReg16, incReg32, nil)}
		m[0x48+r] = opEntry{name: "dec r", f: fRegOp | fInv64, h: v(decReg16, decReg32, nil)}
		m[0x50+r] = opEntry{name: "push r", f: fRegOp | fDef64, h: v(pushReg16, pushReg32, pushReg64)}
		m[0x58+r] = opEntry{name: "pop r", f: fRegOp | fDef64, h: v(popReg16, popReg32, popReg64)}
		m[0x90+r] = opEntry{name: "xchg rAX,r", f: fRegOp, h: v(xchgAcc16, xchgAcc32, xchgAcc64)}
		m[0xB0+r] = opEntry{name: "mov r8,Ib", f: fRegOp | fByte | fImm8, h: b8(movRegImm8)}
		m[0xB8+r] = opEntry{name: "mov r,Iv", f: fRegOp | fImmV, h: v(movRegImm16, movRegImm32, movRegImm64)}
	}
	m[0x90] = opEntry{name: "nop/xchg/pause", f: fRegOp, h: v(nop9016, nop9032, nop9064)}
	m[0x60] = opEntry{name: "pusha", f: fInv64, h: v(pusha16, pusha32, nil)}
	m[0x61] = opEntry{name: "popa", f: fInv64, h: v(popa16, popa32, nil)}
	m[0x62] = opEntry{name: "bound", f: fModRM | fInv64 | fMemOnly, h: v(bound16, bound32, nil)}
	m[0x63] = opEntry{name: "arpl/movsxd", sel: func(mr byte, d *decoder) *opEntry {
		if d.mode == mode64 {
			return &d.t.movsxd
		}
		return &d.t.arpl
	}}
	t.movsxd = opEntry{name: "movsxd", f: fModRM, h: v(movsx16x16, movsx32x32, movsx32x64)}
	t.arpl = opEntry{name: "arpl", f: fModRM, h: one(arpl)}
	m[0x68] = opEntry{name: "push Iz", f: fImmZ | fDef64, h: v(pushImm16, pushImm32, pushImm64)}
	m[0x69] = opEntry{name: "imul Gv,Ev,Iz", f: fModRM | fImmZ, h: v(imulRegRM16, imulRegRM32, imulRegRM64)}
	m[0x6A] = opEntry{name: "push Ib", f: fImm8S | fDef64, h: v(pushImm16, pushImm32, pushImm64)}
	m[0x6B] = opEntry{name: "imul Gv,Ev,Ib", f: fModRM | fImm8S, h: v(imulRegRM16, imulRegRM32, imulRegRM64)}
	m[0x6C] = opEntry{name: "insb", f: fByte | fEnd, h: b8(ins8)}
	m[0x6D] = opEntry{name: "ins", f: fMax32 | fEnd, h: v(ins16, ins32, ins32)}
	m[0x6E] = opEntry{name: "outsb", f: fByte | fEnd, h: b8(outs8)}
	m[0x6F] = opEntry{name: "outs", f: fMax32 | fEnd, h: v(outs16, outs32, outs32)}
	for cc := 0; cc < 16; cc++ {
		m[0x70+cc] = opEntry{name: "jcc Jb", f: fImm8S | fForce64 | fEnd, h: one(jccByCond[cc])}
		x[0x80+cc] = opEntry{name: "jcc Jz", f: fImmZ | fForce64 | fEnd, h: one(jccByCond[cc])}
		x[0x40+cc] = opEntry{name: "cmovcc", f: fModRM, h: v(cmov16, cmov32, cmov64)}
		x[0x90+cc] = opEntry{name: "setcc", f: fModRM | fByte, h: b8(setcc)}
	}
	// Group 1.
	var g1b, g1v, g1vb [8]opEntry
	for op := 0; op < 8; op++ {
		lock := uint32(fLock)
		if op == aluCMP {
			lock = 0
		}
		g1b[op] = opEntry{name: "grp1 Eb,Ib", f: fModRM | fByte | fImm8 | lock, h: b8(aluRMImm8)}
		hot := hotRI(op)
		hot[0] = nil
		g1v[op] = opEntry{name: "grp1 Ev,Iz", f: fModRM | fImmZ | lock, h: hot, hm: v(aluRMImm16, aluRMImm32, aluRMImm64)}
		g1vb[op] = opEntry{name: "grp1 Ev,Ib", f: fModRM | fImm8S | lock, h: hot, hm: v(aluRMImm16, aluRMImm32, aluRMImm64)}
	}
	m[0x80] = opEntry{name: "grp1", grp: &g1b}
	m[0x81] = opEntry{name: "grp1", grp: &g1v}
	g1b82 := g1b
	for i := range g1b82 {
		g1b82[i].f |= fInv64
	}
	m[0x82] = opEntry{name: "grp1", grp: &g1b82}
	m[0x83] = opEntry{name: "grp1", grp: &g1vb}
	m[0x84] = opEntry{name: "test Eb,Gb", f: fModRM | fByte, h: b8(testRMReg8)}
	m[0x85] = opEntry{name: "test Ev,Gv", f: fModRM, h: v(testRMReg16, testRMReg32, testRMReg64)}
	m[0x86] = opEntry{name: "xchg Eb,Gb", f: fModRM | fByte | fLock, h: b8(xchgRMReg8)}
	m[0x87] = opEntry{name: "xchg Ev,Gv", f: fModRM | fLock, h: v(xchgRMReg16, xchgRMReg32, xchgRMReg64)}
	m[0x88] = opEntry{name: "mov Eb,Gb", f: fModRM | fByte, h: b8(movRegReg8), hm: b8(movMemReg8)}
	m[0x89] = opEntry{name: "mov Ev,Gv", f: fModRM, h: v(movRegReg16, movRegReg32, movRegReg64),
		hm: v(movMemReg16, movMemReg32, movMemReg64)}
	m[0x8A] = opEntry{name: "mov Gb,Eb", f: fModRM | fByte, h: b8(movRegRMReg8), hm: b8(movRegMem8)}
	m[0x8B] = opEntry{name: "mov Gv,Ev", f: fModRM, h: v(movRegRMReg16, movRegRMReg32, movRegRMReg64),
		hm: v(movRegMem16, movRegMem32, movRegMem64)}
	m[0x8C] = opEntry{name: "mov Ev,Sw", f: fModRM, h: one(movRMSreg)}
	m[0x8D] = opEntry{name: "lea", f: fModRM | fMemOnly, h: v(lea16, lea32, lea64)}
	m[0x8E] = opEntry{name: "mov Sw,Ew", f: fModRM | fEnd, h: one(movSregRM)}
	m[0x8F] = opEntry{name: "grp1a", grp: &[8]opEntry{
		{name: "pop Ev", f: fModRM | fDef64, h: v(popRM16, popRM32, popRM64)}}}
	m[0x98] = opEntry{name: "cbw", h: v(cbw16, cbw32, cbw64)}
	m[0x99] = opEntry{name: "cwd", h: v(cwd16, cwd32, cwd64)}
	m[0x9A] = opEntry{name: "callf Ap", f: fFar | fInv64 | fEnd, h: one(farDirect)}
	m[0x9B] = opEntry{name: "fwait", h: one(fwait)}
	m[0x9C] = opEntry{name: "pushf", f: fDef64, h: one(pushf)}
	m[0x9D] = opEntry{name: "popf", f: fDef64 | fEnd, h: one(popf)}
	m[0x9E] = opEntry{name: "sahf", h: one(sahf)}
	m[0x9F] = opEntry{name: "lahf", h: one(lahf)}
	m[0xA0] = opEntry{name: "mov AL,Ob", f: fMoffs | fByte, h: b8(movAccMoffs8)}
	m[0xA1] = opEntry{name: "mov rAX,Ov", f: fMoffs, h: v(movAccMoffs16, movAccMoffs32, movAccMoffs64)}
	m[0xA2] = opEntry{name: "mov Ob,AL", f: fMoffs | fByte, h: b8(movMoffsAcc8)}
	m[0xA3] = opEntry{name: "mov Ov,rAX", f: fMoffs, h: v(movMoffsAcc16, movMoffsAcc32, movMoffsAcc64)}
	m[0xA4] = opEntry{name: "movsb", f: fByte, h: b8(movs8)}
	m[0xA5] = opEntry{name: "movs", h: v(movs16, movs32, movs64)}
	m[0xA6] = opEntry{name: "cmpsb", f: fByte, h: b8(cmps8)}
	m[0xA7] = opEntry{name: "cmps", h: v(cmps16, cmps32, cmps64)}
	m[0xA8] = opEntry{name: "test AL,Ib", f: fByte | fImm8, h: b8(testAccImm8)}
	m[0xA9] = opEntry{name: "test rAX,Iz", f: fImmZ, h: v(testAccImm16, testAccImm32, testAccImm64)}
	m[0xAA] = opEntry{name: "stosb", f: fByte, h: b8(stos8)}
	m[0xAB] = opEntry{name: "stos", h: v(stos16, stos32, stos64)}
	m[0xAC] = opEntry{name: "lodsb", f: fByte, h: b8(lods8)}
	m[0xAD] = opEntry{name: "lods", h: v(lods16, lods32, lods64)}
	m[0xAE] = opEntry{name: "scasb", f: fByte, h: b8(scas8)}
	m[0xAF] = opEntry{name: "scas", h: v(scas16, scas32, scas64)}
	// Group 2.
	var g2b, g2v, g2b1, g2v1, g2bc, g2vc [8]opEntry
	for r := 0; r < 8; r++ {
		g2b[r] = opEntry{name: "grp2 Eb,Ib", f: fModRM | fByte | fImm8, h: b8(grp28)}
		g2v[r] = opEntry{name: "grp2 Ev,Ib", f: fModRM | fImm8, h: v(grp216, grp232, grp264)}
		g2b1[r] = opEntry{name: "grp2 Eb,1", f: fModRM | fByte, h: b8(grp28)}
		g2v1[r] = opEntry{name: "grp2 Ev,1", f: fModRM, h: v(grp216, grp232, grp264)}
		g2bc[r] = opEntry{name: "grp2 Eb,CL", f: fModRM | fByte, h: b8(grp28)}
		g2vc[r] = opEntry{name: "grp2 Ev,CL", f: fModRM, h: v(grp216, grp232, grp264)}
	}
	m[0xC0] = opEntry{name: "grp2", grp: &g2b}
	m[0xC1] = opEntry{name: "grp2", grp: &g2v}
	m[0xD0] = opEntry{name: "grp2", grp: &g2b1}
	m[0xD1] = opEntry{name: "grp2", grp: &g2v1}
	m[0xD2] = opEntry{name: "grp2", grp: &g2bc}
	m[0xD3] = opEntry{name: "grp2", grp: &g2vc}
	m[0xC2] = opEntry{name: "ret Iw", f: fImm16 | fForce64 | fEnd, h: v(retNear16, retNear32, retNear64)}
	m[0xC3] = opEntry{name: "ret", f: fForce64 | fEnd, h: v(retNear16, retNear32, retNear64)}
	m[0xC4] = opEntry{name: "les", f: fModRM | fMemOnly | fInv64 | fEnd, h: one(lxs)}
	m[0xC5] = opEntry{name: "lds", f: fModRM | fMemOnly | fInv64 | fEnd, h: one(lxs)}
	m[0xC6] = opEntry{name: "grp11", grp: &[8]opEntry{{name: "mov Eb,Ib", f: fModRM | fByte | fImm8, h: b8(movRMImm8)}}}
	m[0xC7] = opEntry{name: "grp11", grp: &[8]opEntry{{name: "mov Ev,Iz", f: fModRM | fImmZ, h: v(movRMImm16, movRMImm32, movRMImm64)}}}
	m[0xC8] = opEntry{name: "enter", f: fEnter | fDef64, h: v(enter16, enter32, enter64)}
	m[0xC9] = opEntry{name: "leave", f: fDef64, h: v(leave16, leave32, leave64)}
	m[0xCA] = opEntry{name: "retf Iw", f: fImm16 | fEnd, h: one(retFar)}
	m[0xCB] = opEntry{name: "retf", f: fEnd, h: one(retFar)}
	m[0xCC] = opEntry{name: "int3", f: fEnd, h: one(intN)}
	m[0xCD] = opEntry{name: "int Ib", f: fImm8 | fEnd, h: one(intN)}
	m[0xCE] = opEntry{name: "into", f: fInv64 | fEnd, h: one(intN)}
	m[0xCF] = opEntry{name: "iret", f: fEnd, h: one(iret)}
	m[0xD4] = opEntry{name: "aam", f: fImm8 | fInv64, h: one(aam)}
	m[0xD5] = opEntry{name: "aad", f: fImm8 | fInv64, h: one(aad)}
	m[0xD7] = opEntry{name: "xlat", h: one(xlat)}
	for op := 0xD8; op <= 0xDF; op++ {
		m[op] = opEntry{name: "x87", f: fModRM, h: one(x87)}
	}
	m[0xE0] = opEntry{name: "loopne", f: fImm8S | fForce64 | fEnd, h: one(loop)}
	m[0xE1] = opEntry{name: "loope", f: fImm8S | fForce64 | fEnd, h: one(loop)}
	m[0xE2] = opEntry{name: "loop", f: fImm8S | fForce64 | fEnd, h: one(loop)}
	m[0xE3] = opEntry{name: "jrcxz", f: fImm8S | fForce64 | fEnd, h: one(loop)}
	m[0xE4] = opEntry{name: "in AL,Ib", f: fImm8 | fByte | fEnd, h: one(inOut)}
	m[0xE5] = opEntry{name: "in eAX,Ib", f: fImm8 | fMax32 | fEnd, h: one(inOut)}
	m[0xE6] = opEntry{name: "out Ib,AL", f: fImm8 | fByte | fEnd, h: one(inOut)}
	m[0xE7] = opEntry{name: "out Ib,eAX", f: fImm8 | fMax32 | fEnd, h: one(inOut)}
	m[0xEC] = opEntry{name: "in AL,DX", f: fByte | fEnd, h: one(inOut)}
	m[0xED] = opEntry{name: "in eAX,DX", f: fMax32 | fEnd, h: one(inOut)}
	m[0xEE] = opEntry{name: "out DX,AL", f: fByte | fEnd, h: one(inOut)}
	m[0xEF] = opEntry{name: "out DX,eAX", f: fMax32 | fEnd, h: one(inOut)}
	m[0xE8] = opEntry{name: "call Jz", f: fImmZ | fForce64 | fEnd, h: one(callRel)}
	m[0xE9] = opEntry{name: "jmp Jz", f: fImmZ | fForce64 | fEnd, h: one(jmpRel)}
	m[0xEA] = opEntry{name: "jmpf Ap", f: fFar | fInv64 | fEnd, h: one(farDirect)}
	m[0xEB] = opEntry{name: "jmp Jb", f: fImm8S | fForce64 | fEnd, h: one(jmpRel)}
	m[0xF1] = opEntry{name: "int1", f: fEnd, h: one(intN)}
	m[0xF4] = opEntry{name: "hlt", f: fEnd, h: one(hlt)}
	m[0xF5] = opEntry{name: "cmc", h: one(cmc)}
	g3 := func(sz uint32, test, not, neg, muldiv [4]handler, imm uint32) *[8]opEntry {
		return &[8]opEntry{
			{name: "test", f: fModRM | sz | imm, h: test},
			{name: "test", f: fModRM | sz | imm, h: test},
			{name: "not", f: fModRM | sz | fLock, h: not},
			{name: "neg", f: fModRM | sz | fLock, h: neg},
			{name: "mul", f: fModRM | sz, h: muldiv},
			{name: "imul", f: fModRM | sz, h: muldiv},
			{name: "div", f: fModRM | sz, h: muldiv},
			{name: "idiv", f: fModRM | sz, h: muldiv},
		}
	}
	m[0xF6] = opEntry{name: "grp3", grp: g3(fByte, b8(testRMImm8), b8(notRM8), b8(negRM8), b8(grp3MulDiv8), fImm8)}
	m[0xF7] = opEntry{name: "grp3", grp: g3(0, v(testRMImm16, testRMImm32, testRMImm64),
		v(notRM16, notRM32, notRM64), v(negRM16, negRM32, negRM64),
		v(grp3MulDiv16, grp3MulDiv32, grp3MulDiv64), fImmZ)}
	m[0xF8] = opEntry{name: "clc", h: one(clc)}
	m[0xF9] = opEntry{name: "stc", h: one(stc)}
	m[0xFA] = opEntry{name: "cli", h: one(cli)}
	m[0xFB] = opEntry{name: "sti", f: fEnd, h: one(sti)}
	m[0xFC] = opEntry{name: "cld", h: one(cld)}
	m[0xFD] = opEntry{name: "std", h: one(std)}
	m[0xFE] = opEntry{name: "grp4", grp: &[8]opEntry{
		{name: "inc Eb", f: fModRM | fByte | fLock, h: b8(incRM8), hm: b8(incDecRM8)},
		{name: "dec Eb", f: fModRM | fByte | fLock, h: b8(decRM8), hm: b8(incDecRM8)},
	}}
	m[0xFF] = opEntry{name: "grp5", grp: &[8]opEntry{
		{name: "inc Ev", f: fModRM | fLock, h: v(incRM16, incRM32, incRM64),
			hm: v(incDecRM16, incDecRM32, incDecRM64)},
		{name: "dec Ev", f: fModRM | fLock, h: v(decRM16, decRM32, decRM64),
			hm: v(incDecRM16, incDecRM32, incDecRM64)},
		{name: "call Ev", f: fModRM | fForce64 | fEnd, h: v(callRM16, callRM32, callRM64)},
		{name: "callf Mp", f: fModRM | fMemOnly | fEnd, h: one(farIndirect)},
		{name: "jmp Ev", f: fModRM | fForce64 | fEnd, h: v(jmpRM16, jmpRM32, jmpRM64)},
		{name: "jmpf Mp", f: fModRM | fMemOnly | fEnd, h: one(farIndirect)},
		{name: "push Ev", f: fModRM | fDef64, h: v(pushRM16, pushRM32, pushRM64)},
	}}

	// Two-byte map (SDM Table A-3).
	x[0x00] = opEntry{name: "grp6", grp: &[8]opEntry{
		{name: "sldt", f: fModRM, h: one(sldtStr)},
		{name: "str", f: fModRM, h: one(sldtStr)},
		{name: "lldt", f: fModRM | fEnd, h: one(lldt)},
		{name: "ltr", f: fModRM | fEnd, h: one(ltr)},
	}}
	x[0x01] = opEntry{name: "grp7", sel: selGrp7}
	t.grp7mem = [8]opEntry{
		{name: "sgdt", f: fModRM | fMemOnly, h: one(sgdtSidt)},
		{name: "sidt", f: fModRM | fMemOnly, h: one(sgdtSidt)},
		{name: "lgdt", f: fModRM | fMemOnly | fDef64 | fEnd, h: one(lgdtLidt)},
		{name: "lidt", f: fModRM | fMemOnly | fDef64 | fEnd, h: one(lgdtLidt)},
		{name: "smsw", f: fModRM, h: one(smsw)},
		{},
		{name: "lmsw", f: fModRM | fEnd, h: one(lmsw)},
		{name: "invlpg", f: fModRM | fMemOnly | fEnd, h: one(invlpg)},
	}
	t.swapgs = opEntry{name: "swapgs", f: fModRM | fEnd, h: one(swapgs)}
	t.rdtscp = opEntry{name: "rdtscp", f: fModRM, h: one(rdtsc)}
	t.pause = opEntry{name: "pause", h: one(pause)}
	t.rdrand = opEntry{name: "rdrand/rdseed", f: fModRM, h: v(rdrandSeed, rdrandSeed, rdrandSeed)}
	t.vmcall = opEntry{name: "vmcall", f: fModRM | fEnd, h: one(vmcall)}
	t.vmentry = opEntry{name: "vmlaunch/vmresume", f: fModRM | fEnd, h: one(vmentry)}
	t.vmxoff = opEntry{name: "vmxoff", f: fModRM | fEnd, h: one(vmxoff)}
	t.vmfunc = opEntry{name: "vmfunc", f: fModRM | fEnd, h: one(vmfunc)}
	t.smswReg = opEntry{name: "smsw", f: fModRM, h: one(smsw)}
	t.lmswReg = opEntry{name: "lmsw", f: fModRM | fEnd, h: one(lmsw)}
	t.xgetbv = opEntry{name: "xgetbv", f: fModRM, h: one(xgetbv)}
	t.xsetbv = opEntry{name: "xsetbv", f: fModRM | fEnd, h: one(xsetbv)}
	t.clac = opEntry{name: "clac", f: fModRM, h: one(clacStac)}
	t.monitor = opEntry{name: "monitor", f: fModRM | fEnd, h: one(monitorInsn)}
	t.mwait = opEntry{name: "mwait", f: fModRM | fEnd, h: one(mwaitInsn)}
	t.stac = opEntry{name: "stac", f: fModRM, h: one(clacStac)}
	t.fsgsbase = opEntry{name: "rdfsbase/rdgsbase/wrfsbase/wrgsbase", f: fModRM, h: one(fsgsbase)}
	t.rdpid = opEntry{name: "rdpid", f: fModRM, h: one(rdpid)}
	t.xsavesGrp = [3]opEntry{ // exec_xsaves.go
		{name: "xrstors", f: fModRM | fMemOnly | fEnd, h: one(xrstors)},
		{name: "xsavec", f: fModRM | fMemOnly, h: one(xsavec)},
		{name: "xsaves", f: fModRM | fMemOnly, h: one(xsaves)},
	}
	t.rdpkru = opEntry{name: "rdpkru", f: fModRM, h: one(rdpkru)}
	t.wrpkru = opEntry{name: "wrpkru", f: fModRM | fEnd, h: one(wrpkru)}
	x[0x05] = opEntry{name: "syscall", f: fEnd, h: one(syscall)}
	x[0x06] = opEntry{name: "clts", h: one(clts)}
	x[0x07] = opEntry{name: "sysret", f: fEnd, h: one(sysret)}
	x[0x08] = opEntry{name: "invd", h: one(wbinvd)}
	x[0x09] = opEntry{name: "wbinvd", h: one(wbinvd)}
	x[0x0B] = opEntry{name: "ud2", h: one(ud)}
	x[0x0D] = opEntry{name: "prefetchw", f: fModRM | fMemOnly, h: one(nop)}
	x[0x18] = opEntry{name: "prefetch", f: fModRM, h: one(nop)}
	for op := 0x19; op <= 0x1F; op++ {
		x[op] = opEntry{name: "nop Ev", f: fModRM, h: one(nop)} // hint NOPs incl. ENDBR32/64 (F3 0F 1E FB/FA)
	}
	x[0x20] = opEntry{name: "mov Rd,Cd", f: fModRM | fModIgnored | fSize64 | fEnd, h: one(movFromCR)}
	x[0x21] = opEntry{name: "mov Rd,Dd", f: fModRM | fModIgnored | fSize64, h: one(movDR)}
	x[0x22] = opEntry{name: "mov Cd,Rd", f: fModRM | fModIgnored | fSize64 | fEnd, h: one(movToCR)}
	x[0x23] = opEntry{name: "mov Dd,Rd", f: fModRM | fModIgnored | fSize64 | fEnd, h: one(movDR)}
	x[0x30] = opEntry{name: "wrmsr", f: fEnd, h: one(wrmsr)}
	x[0x31] = opEntry{name: "rdtsc", h: one(rdtsc)}
	x[0x32] = opEntry{name: "rdmsr", h: one(rdmsr)}
	x[0x33] = opEntry{name: "rdpmc", h: one(rdpmc)}
	x[0x34] = opEntry{name: "sysenter", f: fEnd, h: one(sysenter)}
	x[0x35] = opEntry{name: "sysexit", f: fEnd, h: one(sysexit)}
	x[0xA0] = opEntry{name: "push fs", f: fDef64, h: one(pushSreg)}
	x[0xA1] = opEntry{name: "pop fs", f: fDef64 | fEnd, h: one(popSreg)}
	x[0xA2] = opEntry{name: "cpuid", h: one(cpuid)}
	x[0xA3] = opEntry{name: "bt Ev,Gv", f: fModRM, h: v(btRM16, btRM32, btRM64)}
	x[0xA4] = opEntry{name: "shld Ib", f: fModRM | fImm8U, h: v(shxd16, shxd32, shxd64)}
	x[0xA5] = opEntry{name: "shld CL", f: fModRM, h: v(shxd16, shxd32, shxd64)}
	x[0xA8] = opEntry{name: "push gs", f: fDef64, h: one(pushSreg)}
	x[0xA9] = opEntry{name: "pop gs", f: fDef64 | fEnd, h: one(popSreg)}
	x[0xAB] = opEntry{name: "bts Ev,Gv", f: fModRM | fLock, h: v(btRM16, btRM32, btRM64)}
	x[0xAC] = opEntry{name: "shrd Ib", f: fModRM | fImm8U, h: v(shxd16, shxd32, shxd64)}
	x[0xAD] = opEntry{name: "shrd CL", f: fModRM, h: v(shxd16, shxd32, shxd64)}
	x[0xAE] = opEntry{name: "grp15", sel: selGrp15}
	x[0xAF] = opEntry{name: "imul Gv,Ev", f: fModRM, h: v(imulRegRM16, imulRegRM32, imulRegRM64)}
	x[0xB0] = opEntry{name: "cmpxchg Eb,Gb", f: fModRM | fByte | fLock, h: b8(cmpxchg8)}
	x[0xB1] = opEntry{name: "cmpxchg Ev,Gv", f: fModRM | fLock, h: v(cmpxchg16, cmpxchg32, cmpxchg64)}
	x[0xB2] = opEntry{name: "lss", f: fModRM | fMemOnly | fEnd, h: one(lxs)}
	x[0xB3] = opEntry{name: "btr Ev,Gv", f: fModRM | fLock, h: v(btRM16, btRM32, btRM64)}
	x[0xB4] = opEntry{name: "lfs", f: fModRM | fMemOnly | fEnd, h: one(lxs)}
	x[0xB5] = opEntry{name: "lgs", f: fModRM | fMemOnly | fEnd, h: one(lxs)}
	x[0xB6] = opEntry{name: "movzx Gv,Eb", f: fModRM | fRMByte, h: v(movzx8x16, movzx8x32, movzx8x64)}
	x[0xB7] = opEntry{name: "movzx Gv,Ew", f: fModRM, h: v(movzx16x16, movzx16x32, movzx16x64)}
	x[0xB8] = opEntry{name: "popcnt", sel: func(mr byte, d *decoder) *opEntry {
		if d.rep == 0xF3 {
			return &d.t.popcnt
		}
		return nil
	}}
	t.popcnt = opEntry{name: "popcnt", f: fModRM | fNoRep, h: v(popcnt16, popcnt32, popcnt64)}
	x[0xB9] = opEntry{name: "ud1", f: fModRM, h: one(ud)}
	var g8 [8]opEntry
	for r := 4; r < 8; r++ {
		lock := uint32(fLock)
		if r == 4 {
			lock = 0
		}
		g8[r] = opEntry{name: "bt* Ev,Ib", f: fModRM | fImm8 | lock, h: v(btRM16, btRM32, btRM64)}
	}
	x[0xBA] = opEntry{name: "grp8", grp: &g8}
	x[0xBB] = opEntry{name: "btc Ev,Gv", f: fModRM | fLock, h: v(btRM16, btRM32, btRM64)}
	t.bsf = opEntry{name: "bsf/bsr", f: fModRM, h: v(bsfBsr16, bsfBsr32, bsfBsr64)}
	t.tzcnt = opEntry{name: "tzcnt/lzcnt", f: fModRM | fNoRep, h: v(bsfOrTzcnt16, bsfOrTzcnt32, bsfOrTzcnt64)}
	bsSel := func(mr byte, d *decoder) *opEntry {
		if d.rep == 0xF3 {
			return &d.t.tzcnt
		}
		return &d.t.bsf
	}
	x[0xBC] = opEntry{name: "bsf", sel: bsSel}
	x[0xBD] = opEntry{name: "bsr", sel: bsSel}
	x[0xBE] = opEntry{name: "movsx Gv,Eb", f: fModRM | fRMByte, h: v(movsx8x16, movsx8x32, movsx8x64)}
	x[0xBF] = opEntry{name: "movsx Gv,Ew", f: fModRM, h: v(movsx16x16, movsx16x32, movsx16x64)}
	x[0xC0] = opEntry{name: "xadd Eb,Gb", f: fModRM | fByte | fLock, h: b8(xadd8)}
	x[0xC1] = opEntry{name: "xadd Ev,Gv", f: fModRM | fLock, h: v(xadd16, xadd32, xadd64)}
	x[0xC7] = opEntry{name: "grp9", sel: selGrp9}
	t.cmpxchg8b = opEntry{name: "cmpxchg8b/16b", f: fModRM | fMemOnly | fLock, h: one(cmpxchg8b16b)}
	// The VMX instructions (SDM Vol. 3C 31.3; opcode map Vol. 2D A.4.2,
	// Table A-6 group 9; 0F 78/79 Table A-3).
	t.vmxon = opEntry{name: "vmxon", f: fModRM | fNoRep, h: one(vmxon)}
	t.vmclear = opEntry{name: "vmclear", f: fModRM, h: one(vmclear)}
	t.vmptrld = opEntry{name: "vmptrld", f: fModRM, h: one(vmptrld)}
	t.vmptrst = opEntry{name: "vmptrst", f: fModRM, h: one(vmptrst)}
	t.vmread = opEntry{name: "vmread", f: fModRM | fSize64, h: one(vmread)}
	t.vmwrite = opEntry{name: "vmwrite", f: fModRM | fSize64, h: one(vmwrite)}
	x[0x78] = opEntry{name: "vmread", sel: func(mr byte, d *decoder) *opEntry {
		if d.opsz66 || d.rep != 0 {
			return nil // 66/F2/F3 0F 78: no Intel instruction
		}
		return &d.t.vmread
	}}
	x[0x79] = opEntry{name: "vmwrite", sel: func(mr byte, d *decoder) *opEntry {
		if d.opsz66 || d.rep != 0 {
			return nil
		}
		return &d.t.vmwrite
	}}
	for r := 0; r < 8; r++ {
		x[0xC8+r] = opEntry{name: "bswap", f: fRegOp, h: v(bswap16, bswap32, bswap64)}
	}
	x[0xFF] = opEntry{name: "ud0", f: fModRM, h: one(ud)}
	addSSE(t)

	// Three-byte map 0F 38: MOVBE.
	t.map0F38[0xF0] = opEntry{name: "movbe Gv,Mv", f: fModRM | fMemOnly, h: v(movbeLoad16, movbeLoad32, movbeLoad64)}
	t.map0F38[0xF1] = opEntry{name: "movbe Mv,Gv", f: fModRM | fMemOnly, h: v(movbeStore16, movbeStore32, movbeStore64)}
	// INVPCID r32/r64, m128 (66 0F 38 82 /r): the 66 prefix is mandatory,
	// F2/F3 make another (nonexistent) instruction.
	t.invpcid = opEntry{name: "invpcid", f: fModRM | fMemOnly | fEnd, h: one(invpcid)}
	t.map0F38[0x82] = opEntry{name: "invpcid", sel: func(mr byte, d *decoder) *opEntry {
		if d.opsz66 && d.rep == 0 {
			return &d.t.invpcid
		}
		return nil
	}}
	// INVEPT and INVVPID r32/r64, m128 (66 0F 38 80 and 81 /r; SDM Vol.
	// 3C 31.3): the 66 prefix is mandatory, the register form is #UD.
	t.invept = opEntry{name: "invept", f: fModRM | fMemOnly | fEnd, h: one(invept)}
	t.invvpid = opEntry{name: "invvpid", f: fModRM | fMemOnly | fEnd, h: one(invvpid)}
	t.map0F38[0x80] = opEntry{name: "invept", sel: func(mr byte, d *decoder) *opEntry {
		if d.opsz66 && d.rep == 0 {
			return &d.t.invept
		}
		return nil
	}}
	t.map0F38[0x81] = opEntry{name: "invvpid", sel: func(mr byte, d *decoder) *opEntry {
		if d.opsz66 && d.rep == 0 {
			return &d.t.invvpid
		}
		return nil
	}}
	return t
}

// selGrp9 decodes 0F C7 (SDM Vol. 2D Table A-6, group 9): CMPXCHG8B/16B
// (/1), and the VMX pointer instructions, told apart by the mandatory
// prefix: /6 VMPTRLD, 66 /6 VMCLEAR, F3 /6 VMXON, /7 VMPTRST. Their
// register forms are RDRAND (/6), RDSEED (/7) and F3 /7 RDPID.
func selGrp9(mr byte, d *decoder) *opEntry {
	mem := mr>>6 != 3
	switch (mr >> 3) & 7 {
	case 1:
		return &d.t.cmpxchg8b
	case 3, 4, 5:
		// NP 0F C7 /3 XRSTORS, /4 XSAVEC, /5 XSAVES (SDM Vol. 2D):
		// memory forms without a 66, F2 or F3 prefix.
		if mem && d.rep == 0 && !d.opsz66 {
			return &d.t.xsavesGrp[(mr>>3)&7-3]
		}
		return nil
	case 6:
		switch {
		case !mem && d.rep == 0:
			return &d.t.rdrand // NFx 0F C7 /6 (SDM Vol. 2B RDRAND)
		case !mem:
			return nil
		case d.rep == 0xF3:
			return &d.t.vmxon
		case d.rep == 0xF2:
			return nil
		case d.opsz66:
			return &d.t.vmclear
		default:
			return &d.t.vmptrld
		}
	case 7:
		if mem && d.rep == 0 && !d.opsz66 {
			return &d.t.vmptrst
		}
		if !mem && d.rep == 0 {
			return &d.t.rdrand // RDSEED, NFx 0F C7 /7 (one handler with RDRAND)
		}
		if !mem && d.rep == 0xF3 {
			return &d.t.rdpid // F3 0F C7 /7 (SDM Vol. 2B RDPID)
		}
	}
	return nil
}

// selGrp7 decodes 0F 01: memory forms by ModRM.reg, register forms by the
// whole ModRM byte (SDM Table A-6).
func selGrp7(mr byte, d *decoder) *opEntry {
	if mr>>6 != 3 {
		return &d.t.grp7mem[(mr>>3)&7]
	}
	switch mr {
	case 0xD0:
		return &d.t.xgetbv
	case 0xD1:
		return &d.t.xsetbv
	case 0xC8:
		return &d.t.monitor
	case 0xC9:
		return &d.t.mwait
	case 0xCA:
		return &d.t.clac
	case 0xCB:
		return &d.t.stac
	case 0xEE, 0xEF:
		// RDPKRU/WRPKRU are NP: with a 66, F2 or F3 prefix the encoding
		// is undefined (SDM Vol. 2B RDPKRU, WRPKRU; Vol. 2A 3.1.1.1).
		if d.opsz66 || d.rep != 0 {
			return nil
		}
		if mr == 0xEE {
			return &d.t.rdpkru
		}
		return &d.t.wrpkru
	case 0xF8:
		if d.mode == mode64 {
			return &d.t.swapgs
		}
		return nil
	case 0xF9:
		return &d.t.rdtscp
	case 0xC1:
		return &d.t.vmcall
	case 0xC2, 0xC3:
		return &d.t.vmentry
	case 0xC4:
		return &d.t.vmxoff
	case 0xD4:
		return &d.t.vmfunc
	}
	switch (mr >> 3) & 7 {
	case 4:
		return &d.t.smswReg
	case 6:
		return &d.t.lmswReg
	}
	return nil
}

//lint:ignore U1000 the generic source of gen_mono.go's concrete copies, which the tables install
func nop90[T word](c *CPU, in *Inst) {
	if in.reg&15 != 0 {
		xchgAcc[T](c, in)
	}
}

func ud(c *CPU, in *Inst) { c.raiseUD("UD0/UD1/UD2: defined invalid opcode", "Vol. 2B UD") }

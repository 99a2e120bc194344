//go:build ignore

// gen_hot writes the hot path's specialised handlers from the two tables
// below: ops, the ALU operations (what each computes and how it records
// the flags), and the handler shapes each one is emitted in. It is the
// only home of those semantics on the hot path; the hand-written files
// keep the classification and fusion logic (exec_hot.go, exec_fused.go,
// exec_pair.go) and the generic handlers stay the reference
// (exec_alu.go, exec_branch.go).
//
// Every handler is written out in full, per operation and per shape,
// with no shared helper the compiler would have to inline: each stays a
// leaf that inlines exactly what the hand-written handlers inlined
// (getReg, setReg, setLazy, fusedJump), so the specialisation per
// operation and size is the same as before generation.
//
// Run with: go generate ./cpu (from the repository root). The -o flag
// writes the files into another directory (the up-to-date test uses it).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/format"
	"os"
	"path/filepath"
	"strings"
)

// op is one ALU operation of the hot path (SDM Vol. 2, ADD/SUB/AND/OR/XOR/
// CMP/TEST/INC/DEC; flags per Vol. 1 Appendix A, recorded lazily as
// flags.go describes).
type op struct {
	name string // handler name stem: add gives addRR, addRRJcc, pairAddRR, storeAddRR
	alu  string // its ALU operation number (exec_alu.go); "" if not one of 00-3F/80-83
	// res is the result, a Go expression over a (the destination) and b
	// (the source; 1 for INC/DEC).
	res   string
	lazy  string // lazy flag record kind (flags.go)
	write bool   // whether it writes its destination (CMP and TEST do not)
	// cond is the fused Jcc's condition from cc = in.sub and a, b, r
	// (SDM Vol. 1 Table B-1, exec_fused.go); for INC/DEC it is the OF
	// expression handed to incDecCond.
	cond  string
	unary bool // INC/DEC: b is 1 and CF is kept (SDM Vol. 2 INC, DEC)
	// in lists the shapes it is emitted in.
	in shapeSet
}

type shapeSet uint

const (
	hot        shapeSet = 1 << iota // register-form handler (r,r and r,imm), 8-64 bits
	fuseRR                          // fused setter r,r + Jcc, 16-64 bits
	fuseRI                          // fused setter r,imm + Jcc
	fuseUn                          // fused INC/DEC r + Jcc
	pair                            // ALU pair: ADD/SUB r,imm then this (r,r and r,imm), 32/64 bits
	store                           // store pair: this (r,r and r,imm) then MOV m,r, 32/64 bits
	load                            // load pair: MOV r,m then this (r,r and r,imm), 32/64 bits
	movp                            // move pair: MOV r,r then this (r,r and r,imm), 32/64 bits
	storeFirst                      // store-first pair: MOV m,r (8, 32, 64 bits) then this (r,r and r,imm), 32/64 bits
	fuse8                           // the fused setter+Jcc shapes also in 8 bits
	shrp                            // shift pair: [MOV r,r then] SHR r,imm then this (r,r and r,imm), 32/64 bits
)

// binALU is every shape of a two-operand ALU operation that may start a
// pair (pairOp, exec_pair.go).
const binALU = hot | fuseRR | fuseRI | pair | store | load | movp | storeFirst | shrp

// ops is the table. Its order is the order of the emitted handlers and
// of the fused kinds (fk*).
var ops = []op{
	{name: "add", alu: "aluADD", res: "a + b", lazy: "lzAdd", write: true, cond: "addCond(in.sub, a, b, r)", in: binALU},
	{name: "sub", alu: "aluSUB", res: "a - b", lazy: "lzSub", write: true, cond: "subCond(in.sub, a, b, r)", in: binALU},
	{name: "and", alu: "aluAND", res: "a & b", lazy: "lzLogic", write: true, cond: "logicCond(in.sub, r)", in: binALU},
	{name: "or", alu: "aluOR", res: "a | b", lazy: "lzLogic", write: true, cond: "logicCond(in.sub, r)", in: binALU},
	{name: "xor", alu: "aluXOR", res: "a ^ b", lazy: "lzLogic", write: true, cond: "logicCond(in.sub, r)", in: binALU},
	{name: "cmp", alu: "aluCMP", res: "a - b", lazy: "lzSub", cond: "subCond(in.sub, a, b, r)", in: binALU},
	// TEST also fuses in 8 bits (84, A8, F6 /0 /1 with mod = 3: access's
	// "test bh, 0x20; je"); it writes no register, so a high-byte
	// register needs nothing but getReg.
	{name: "test", res: "a & b", lazy: "lzLogic", cond: "logicCond(in.sub, r)", in: fuseRR | fuseRI | fuse8},
	// INC: OF when the result is the sign bit alone; DEC: when the
	// operand was.
	{name: "inc", res: "a + 1", lazy: "lzInc", write: true, cond: "r == signBit[T]()", unary: true, in: fuseUn},
	{name: "dec", res: "a - 1", lazy: "lzDec", write: true, cond: "a == signBit[T]()", unary: true, in: fuseUn},
}

// form is the source operand of a binary shape.
type form struct {
	suffix string // RR or RI
	src    string // Go expression for b
	rr     bool   // register source (the pair selectors' rr)
}

var (
	formRR = form{"RR", "getReg[T](c, in.reg)", true}
	formRI = form{"RI", "T(in.imm)", false}
	// A store or load pair keeps the ALU half's source register in sub
	// (exec_pair.go).
	formStoreRR = form{"RR", "getReg[T](c, in.sub)", true}
)

// Statements the shapes add around the ALU operation.
const (
	// The fused Jcc half (exec_fused.go).
	jccTail = `if %s && !c.fusedJump(in) {
	c.fusedTakeSlow(in)
}
`
	// The fused Jcc half of a side exit (Inst.side, exec_fused.go).
	jccSideTail = `if %s {
	if c.fusedJump(in) {
		c.takeSide()
	} else {
		c.fusedTakeSideSlow(in)
	}
}
`
	// The ALU pair's first half: ADD r,imm (SUB with the immediate
	// negated), whose flags are dead (exec_pair.go).
	pairHead = "setReg(c, in.jopsz, getReg[T](c, in.jopsz)+T(in.imm2))\n"
	// The move pair's first half: MOV r,r (89 or 8B with mod = 3), its
	// destination in base and its source in index, which a
	// register-form ALU instruction does not use (exec_pair.go).
	movHead = "setReg(c, in.base, getReg[T](c, in.index))\n"
	// The shift pair's first half: [MOV r,r and] SHR r,imm, x = src >>
	// count into dst, its flags dead; the destination in base, the
	// source in index (the destination without a MOV) and the count,
	// masked and not 0, in imm2 (exec_pair.go shiftPairAt).
	shrHead = "setReg(c, in.base, getReg[T](c, in.index)>>in.imm2)\n"
)

var (
	// The store-first pair's MOV m,r half of size S: movMemReg's fast
	// path (exec_mov.go), and storeMiss (exec_pair.go) for the rest; a
	// stop ends the entry after the store.
	storeFirstHead = memFastPath("movMemReg", "S", "write", "*(*S)(unsafe.Pointer(&e.page[o])) = getReg[S](c, in.reg)\ngoto alu") + `if !storeMiss[S](c, in, off) {
	return
}
alu:
`
	// The store pair's MOV m,r half: movMemReg's fast path (exec_mov.go),
	// with the fault reported at the store: ripCur is pointed at the
	// store on the slow path, the only one that can fault or read the
	// time (a TLB hit within the page stores and returns).
	storeTail = memFastPath("movMemReg", "T", "write", "*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)\nreturn") + `c.ripCur = c.RIP - uint64(in.jlen)
wrMiss(c, in.seg, off, getReg[T](c, in.reg))
`
)

// memFastPath is the fast path of handler name (movRegMem, movMemReg),
// repeated in a pair's handler because it is too large to inline, for an
// access of type typ through the TLB's table (read or write): the
// address checks (lin64, rwIn; no boolean between a failed check and the
// miss label), then hit on a TLB hit within the page, then the label
// miss, where the caller's slow path follows.
func memFastPath(name, typ, table, hit string) string {
	return strings.NewReplacer("NAME", name, "TYP", typ, "TABLE", table, "HIT", hit).Replace(`// NAME's fast path, repeated (it is too large to inline).
off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and miss).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[TYP]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto miss
}
{
	e := &c.tlb.TABLE[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[TYP]()) {
		HIT
	}
}
miss:
`)
}

// loadHead is the load pair's MOV r,m half: movRegMem's fast path
// (exec_mov.go). On the slow path RIP is the load's end, as for the load
// alone, and a fault, a VM exit or any other stop ends the entry after
// the load (firstHalfStop, retireStopped in run.go), so that the ALU half
// neither runs nor retires.
var loadHead = memFastPath("movRegMem", "T", "read", "setReg(c, in.reg, *(*T)(unsafe.Pointer(&e.page[o])))\ngoto alu") + `c.RIP -= uint64(in.jlen)
if v, ok := rdMiss[T](c, in.seg, off); ok {
	setReg(c, in.reg, v)
	if c.stop {
		c.firstHalfStop = true
		return
	}
} else {
	c.firstHalfStop = true
	return
}
c.RIP += uint64(in.jlen)
alu:
`

// cc is one Jcc condition pair (SDM Vol. 1 Table B-1): the even code
// tests the condition, the odd code its negation.
type cc struct{ yes, no, test string }

var conds = []cc{
	{"jo", "jno", "c.condO()"},
	{"jb", "jae", "c.condB()"},
	{"jz", "jnz", "c.condZ()"},
	{"jbe", "ja", "c.condBE()"},
	{"js", "jns", "c.condS()"},
	{"jp", "jnp", "c.condP()"},
	{"jl", "jge", "c.condL()"},
	{"jle", "jg", "c.condLE()"},
}

const header = "// Code generated by go run gen_hot.go; DO NOT EDIT.\n\n"

func main() {
	out := flag.String("o", ".", "output directory")
	flag.Parse()
	write(*out, "exec_hot_gen.go", genHot())
	write(*out, "exec_fused_gen.go", genFused())
	write(*out, "exec_pair_gen.go", genPair())
	write(*out, "exec_head_gen.go", genHead())
}

func write(dir, name string, src []byte) {
	b, err := format.Source(src)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n%s", name, err, src)
		os.Exit(1)
	}
	if err := os.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func title(s string) string { return strings.ToUpper(s[:1]) + s[1:] }

// handler writes one handler per operand size in sizes (bits; 0 for
// none): the operation on a (the destination register) and b, its lazy
// flag record, its result, between head and tail. Each size is a plain
// function, name followed by the size, with T a local alias of the
// size's type: a generic function's instantiation used as a func value
// is a wrapper that calls the shared body with its dictionary (a second
// call per entry, and dictionary loads in the body), which plain
// functions do without.
func handler(w *bytes.Buffer, name string, o op, f form, head, tail string, sizes ...int) {
	// INC/DEC keep CF: save it before the record replaces the one it
	// comes from (flags.go, keepCF).
	handlerCF(w, name, o, f, head, tail, "if !c.keepCFAfterAdd() {\nc.keepCF()\n}\n", sizes...)
}

// handlerCF is handler with keepCF, the statements that leave INC/DEC's
// CF in c.lz.flags before their record is written, given.
func handlerCF(w *bytes.Buffer, name string, o op, f form, head, tail, keepCF string, sizes ...int) {
	var b bytes.Buffer
	handlerBody(&b, o, f, head, tail, keepCF)
	for _, n := range sizes {
		if n != 0 {
			fmt.Fprintf(w, "func %s%d(c *CPU, in *Inst) {\ntype T = uint%d\n%s}\n\n", name, n, n, b.String())
		}
	}
}

// handlerBody writes handler's body.
func handlerBody(w *bytes.Buffer, o op, f form, head, tail, keepCF string) {
	w.WriteString(head)
	if o.unary {
		fmt.Fprintf(w, "a := getReg[T](c, in.rm)\nr := %s\n", o.res)
		fmt.Fprintf(w, "%ssetLazy(c, %s, a, 1, r)\n", keepCF, o.lazy)
	} else {
		fmt.Fprintf(w, "a, b := getReg[T](c, in.rm), %s\nr := %s\nsetLazy(c, %s, a, b, r)\n", f.src, o.res, o.lazy)
	}
	if o.write {
		w.WriteString("setReg(c, in.rm, r)\n")
	}
	w.WriteString(tail)
}

// insts lists the handlers name for the given sizes in bits (0: none),
// as handler names them.
func insts(name string, sizes ...int) string {
	var s []string
	for _, n := range sizes {
		if n == 0 {
			s = append(s, "nil")
		} else {
			s = append(s, fmt.Sprintf("%s%d", name, n))
		}
	}
	return strings.Join(s, ", ")
}

// genericInsts lists the hand-written generic handler name for the given
// sizes in bits, by the names of gen_mono.go's concrete copies.
func genericInsts(name string, sizes ...int) string {
	return insts(name, sizes...)
}

func genHot() []byte {
	var w bytes.Buffer
	w.WriteString(header + "package cpu\n\nimport \"unsafe\"\n\n")
	w.WriteString("// The specialised register-form ALU handlers and the Jcc handlers\n// (exec_hot.go), from gen_hot.go's tables.\n\n")
	for _, f := range []form{formRR, formRI} {
		if f.rr {
			w.WriteString("// Register-register, destination r/m (01, 09, 21, 29, 31, 39 with mod = 3;\n// 00, 08, ... for 8 bits).\n")
		} else {
			w.WriteString("// Register, immediate (80/81/83 with mod = 3).\n")
		}
		for _, o := range ops {
			if o.in&hot != 0 {
				handler(&w, o.name+f.suffix, o, f, "", "", 8, 16, 32, 64)
			}
		}
	}
	w.WriteString("// hotRR and hotRI give the specialised register-form handlers of ALU\n// operation op for sizes 8, 16, 32, 64; ADC and SBB (which read CF) keep\n// the generic handler.\n")
	for _, f := range []form{formRR, formRI} {
		generic := map[bool]string{true: "aluRMReg", false: "aluRMImm"}[f.rr]
		fmt.Fprintf(&w, "func hot%s(op int) [4]handler {\nswitch op {\n", f.suffix)
		for _, o := range ops {
			if o.in&hot != 0 {
				fmt.Fprintf(&w, "case %s:\nreturn by(%s)\n", o.alu, insts(o.name+f.suffix, 8, 16, 32, 64))
			}
		}
		fmt.Fprintf(&w, "}\nreturn by(%s)\n}\n\n", genericInsts(generic, 8, 16, 32, 64))
	}
	w.WriteString("// Jcc rel per condition (SDM Vol. 2 Jcc; conditions Vol. 1 Table B-1).\n")
	var tab []string
	for _, c := range conds {
		for i, name := range []string{c.yes, c.no} {
			test := c.test
			if i == 1 {
				test = "!" + test
			}
			fmt.Fprintf(&w, "func %s(c *CPU, in *Inst) {\nif %s {\nc.takeRel(in)\n}\n}\n\n", name, test)
			tab = append(tab, name)
		}
	}
	w.WriteString("// INC and DEC r (FE /0 /1, FF /0 /1 with mod = 3).\n\n")
	sized(&w, "incRM", "", incRMBody, 8, 16, 32, 64)
	w.WriteString("// MOV m, r and MOV r, m (88, 89, 8A, 8B with mod != 3).\n\n")
	sized(&w, "movMemReg", "", movMemRegBody, 8, 16, 32, 64)
	sized(&w, "movRegMem", "", movRegMemBody, 8, 16, 32, 64)
	sized(&w, "decRM", "", decRMBody, 8, 16, 32, 64)
	w.WriteString("// jccByCond are the Jcc handlers indexed by condition code.\n")
	fmt.Fprintf(&w, "var jccByCond = [16]handler{%s}\n", strings.Join(tab, ", "))
	return w.Bytes()
}

// fused lists the fused kinds in order: name stem, op, form.
type fusedEntry struct {
	kind string
	o    op
	f    form
}

func fusedKinds() []fusedEntry {
	var k []fusedEntry
	for _, o := range ops {
		if o.in&fuseUn != 0 {
			k = append(k, fusedEntry{title(o.name), o, form{}})
		}
	}
	for _, f := range []form{formRR, formRI} {
		bit := map[bool]shapeSet{true: fuseRR, false: fuseRI}[f.rr]
		for _, o := range ops {
			if o.in&bit != 0 {
				k = append(k, fusedEntry{title(o.name) + f.suffix, o, f})
			}
		}
	}
	return k
}

// fused8 is 8 when o's fused setter+Jcc handlers exist in 8 bits, 0
// otherwise (handler, insts).
func fused8(o op) int {
	if o.in&fuse8 != 0 {
		return 8
	}
	return 0
}

// fusedTails gives the statements after setter o's record in its fused
// handler: the condition and the Jcc half, at a block's end (tail) and at
// a side exit (sideTail).
func fusedTails(o op) (tail, sideTail string) {
	// JZ/JNZ, the most frequent conditions, read only the result (ZF =
	// r == 0 for every operation fused), inline; the others go through
	// the family's condition function, which is too large to inline.
	cond := strings.Replace(o.cond, "in.sub", "cc", 1)
	if o.unary {
		cond = fmt.Sprintf("incDecCond(cc, %s, r, c.lz.flags&arch.FlagCF != 0)", o.cond)
	}
	t := fmt.Sprintf(`var t bool
if cc := in.sub; cc&^1 == 4 {
	t = (r == 0) != (cc&1 != 0)
} else {
	t = %s
}
`, cond)
	return t + fmt.Sprintf(jccTail, "t"), t + fmt.Sprintf(jccSideTail, "t")
}

func genFused() []byte {
	var w bytes.Buffer
	w.WriteString(header + "package cpu\n\nimport \"github.com/vmxemu/vmxemu/arch\"\n\n")
	w.WriteString("// The fused setter+Jcc handlers (exec_fused.go), from gen_hot.go's tables.\n\n")
	kinds := fusedKinds()
	w.WriteString("// Setter kinds a fused entry can start with.\nconst (\nfkNone = iota\n")
	for _, k := range kinds {
		fmt.Fprintf(&w, "fk%s\n", k.kind)
	}
	w.WriteString(")\n\n")
	group := map[string]string{
		"":   "// INC/DEC r + Jcc. JZ/JNZ (the loop counter case) read only the result.\n",
		"RR": "// Register-register forms: destination r/m (in.rm), source in.reg.\n",
		"RI": "// Register-immediate forms (81, 83 with mod = 3).\n",
	}
	for _, k := range kinds {
		w.WriteString(group[k.f.suffix])
		delete(group, k.f.suffix)
		name := k.o.name + k.f.suffix + "Jcc"
		tail, sideTail := fusedTails(k.o)
		handler(&w, name, k.o, k.f, "", tail, fused8(k.o), 16, 32, 64)
		handler(&w, name+"Side", k.o, k.f, "", sideTail, fused8(k.o), 16, 32, 64)
	}
	w.WriteString("// fusedHandler gives the fused handler of kind k for operand size opsz\n// (16, 32 or 64 bits, 8 for TEST; nil otherwise).\n")
	w.WriteString("func fusedHandler(k int, opsz uint8) handler {\nvar h [4]handler\nswitch k {\n")
	for _, k := range kinds {
		fmt.Fprintf(&w, "case fk%s:\nh = by(%s)\n", k.kind, insts(k.o.name+k.f.suffix+"Jcc", fused8(k.o), 16, 32, 64))
	}
	w.WriteString("}\nreturn h[sizeIndex(opsz)]\n}\n\n")
	w.WriteString("// fusedSideHandler is fusedHandler for a side exit's pair: the same\n// handlers, ending the block when the Jcc half is taken.\n")
	w.WriteString("func fusedSideHandler(k int, opsz uint8) handler {\nvar h [4]handler\nswitch k {\n")
	for _, k := range kinds {
		fmt.Fprintf(&w, "case fk%s:\nh = by(%s)\n", k.kind, insts(k.o.name+k.f.suffix+"JccSide", fused8(k.o), 16, 32, 64))
	}
	w.WriteString("}\nreturn h[sizeIndex(opsz)]\n}\n")
	return w.Bytes()
}

// The copy pair's handler body (exec_pair.go copyPairable): movRegMem's
// fast path, then movMemReg's, each with its slow path as in the load and
// store pairs.
const copyPairBody = `off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and the slow path).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto loadMiss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto loadMiss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		setReg(c, in.reg, *(*T)(unsafe.Pointer(&e.page[o])))
		goto store
	}
}
loadMiss:
c.RIP -= uint64(in.jlen)
if v, ok := rdMiss[T](c, in.seg, off); ok {
	setReg(c, in.reg, v)
	if c.stop {
		c.firstHalfStop = true
		return
	}
} else {
	c.firstHalfStop = true
	return
}
c.RIP += uint64(in.jlen)
store:
off = (c.GPR[in.rm&15] + in.imm) & in.amask // ea of [base+disp]
if c.codeMode == mode64 {
	if lin = c.lin64(in.sub, off); !canonical48(lin) {
		goto storeMiss
	}
} else if c.rwIn(in.sub, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.sub, off)
} else {
	goto storeMiss
}
{
	e := &c.tlb.write[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.jopsz)
		return
	}
}
storeMiss:
c.ripCur = c.RIP - uint64(in.jlen) // only the slow path can fault or read the time
wrMiss(c, in.sub, off, getReg[T](c, in.jopsz))
`

// The load-load pair's handler body (exec_pair.go loadLoadPairable):
// movRegMem's fast path twice, the first with the load pair's slow path
// (a stop there ends the entry as the first load alone), the second, of
// [base+disp], with ripCur at it before its slow path (a fault there is
// reported at the second load with the first retired).
const loadLoadPairBody = `off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and the slow path).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto loadMiss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto loadMiss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		setReg(c, in.reg, *(*T)(unsafe.Pointer(&e.page[o])))
		goto load2
	}
}
loadMiss:
c.RIP -= uint64(in.jlen)
if v, ok := rdMiss[T](c, in.seg, off); ok {
	setReg(c, in.reg, v)
	if c.stop {
		c.firstHalfStop = true
		return
	}
} else {
	c.firstHalfStop = true
	return
}
c.RIP += uint64(in.jlen)
load2:
off = (c.GPR[in.rm&15] + in.imm) & in.amask // ea of [base+disp]
if c.codeMode == mode64 {
	if lin = c.lin64(in.sub, off); !canonical48(lin) {
		goto load2Miss
	}
} else if c.rwIn(in.sub, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.sub, off)
} else {
	goto load2Miss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		setReg(c, in.jopsz, *(*T)(unsafe.Pointer(&e.page[o])))
		return
	}
}
load2Miss:
c.ripCur = c.RIP - uint64(in.jlen) // only the slow path can fault or read the time
if v, ok := rdMiss[T](c, in.sub, off); ok {
	setReg(c, in.jopsz, v)
}
`

// The store-store pair's handler body (exec_pair.go
// storeStorePairable): movMemReg's fast path twice, the first with the
// store-first pair's slow path (storeMiss: a stop there ends the entry as
// the first store alone), the second, to [base+disp], with ripCur at it
// before its slow path (a fault there is reported at the second store
// with the first retired).
const storeStorePairBody = `off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and the slow path).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto store1Miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto store1Miss
}
{
	e := &c.tlb.write[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.reg)
		goto store2
	}
}
store1Miss:
if !storeMiss[T](c, in, off) {
	return
}
store2:
off = (c.GPR[in.rm&15] + in.imm) & in.amask // ea of [base+disp]
if c.codeMode == mode64 {
	if lin = c.lin64(in.sub, off); !canonical48(lin) {
		goto store2Miss
	}
} else if c.rwIn(in.sub, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.sub, off)
} else {
	goto store2Miss
}
{
	e := &c.tlb.write[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		*(*T)(unsafe.Pointer(&e.page[o])) = getReg[T](c, in.jopsz)
		return
	}
}
store2Miss:
c.ripCur = c.RIP - uint64(in.jlen) // only the slow path can fault or read the time
wrMiss(c, in.sub, off, getReg[T](c, in.jopsz))
`

// The memory CMP+Jcc entry's handler body (exec_fused.go fuseMemCmp):
// movRegMem's fast path for the CMP's operand, its slow path as a load
// pair's first half (a fault there is reported at the CMP, a stop after
// it ends the entry as the CMP alone, its flags recorded), then CMP's
// flag record and the condition as cmpRIJcc computes them; %s is the
// jump (fused or side exit). The CMP's immediate is imm's low half, its
// displacement the high half (in.disp is the Jcc's).
const cmpMIJccBody = `off := uint64(int64(in.imm)>>32) + c.GPR[in.base&15]&uint64(int64(int8(in.bmask))) + c.GPR[in.index&15]*uint64(in.scale)
if in.ripRel {
	off += c.RIP
}
off &= in.amask
b := T(uint64(int64(int32(in.imm)))) // imm's low half, sign-extended
var a T
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and the slow path).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto miss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		a = *(*T)(unsafe.Pointer(&e.page[o]))
		goto cmp
	}
}
miss:
{
	c.RIP -= uint64(in.jlen)
	v, ok := rdMiss[T](c, in.seg, off)
	if !ok {
		c.firstHalfStop = true
		return
	}
	a = v
	if c.stop {
		setLazy(c, lzSub, a, b, a-b)
		c.firstHalfStop = true
		return
	}
	c.RIP += uint64(in.jlen)
}
cmp:
r := a - b
setLazy(c, lzSub, a, b, r)
var t bool
if cc := in.sub; cc&^1 == 4 {
	t = (r == 0) != (cc&1 != 0)
} else {
	t = subCond(cc, a, b, r)
}
%s`

// The INC/DEC pair's handler body (exec_pair.go incDecPairable).
const incDecPairBody = `if c.lz.op < lzInc {
	c.lz.flags = c.cf() // keepCF (written out: see incRMReg)
}
setReg(c, in.base, getReg[T](c, in.base)+T(in.imm2))
a := getReg[T](c, in.rm)
if in.sub == 0 {
	r := a + 1
	setLazy(c, lzInc, a, 1, r)
	setReg(c, in.rm, r)
	return
}
r := a - 1
setLazy(c, lzDec, a, 1, r)
setReg(c, in.rm, r)
`

// The register forms of INC and DEC r/m (FE /0 /1, FF /0 /1 with mod =
// 3): incDecRM without its memory-operand branches, and setLazyIncDec
// written out (keepCF's test, setLazy): it and keepCF are over the
// inliner's budget except where the PGO profile finds them hot.
const (
	incRMBody = `a := getReg[T](c, in.rm)
r := a + 1
if c.lz.op < lzInc {
	c.lz.flags = c.cf() // keepCF
}
setLazy(c, lzInc, a, 1, r)
setReg(c, in.rm, r)
`
	decRMBody = `a := getReg[T](c, in.rm)
r := a - 1
if c.lz.op < lzInc {
	c.lz.flags = c.cf() // keepCF
}
setLazy(c, lzDec, a, 1, r)
setReg(c, in.rm, r)
`
)

// MOV m, r (88, 89) and MOV r, m (8A, 8B), the memory forms: the fast
// path (lin64 or rwIn, a TLB hit within one page) written out, as rd and
// wr are too large to inline, and the slow path through wrMiss and
// rdMiss.
const (
	movMemRegBody = `// rd/wr are too large to inline: the hottest memory forms repeat
// their fast path (lin64 or rwIn, a TLB hit within one page: see rwIn)
// here.
off, v := c.ea(in), getReg[T](c, in.reg)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and miss).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto miss
}
{
	e := &c.tlb.write[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		*(*T)(unsafe.Pointer(&e.page[o])) = v
		return
	}
}
miss:
wrMiss(c, in.seg, off, v)
`
	movRegMemBody = `off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and miss).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto miss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		setReg(c, in.reg, *(*T)(unsafe.Pointer(&e.page[o])))
		return
	}
}
miss:
if v, ok := rdMiss[T](c, in.seg, off); ok {
	setReg(c, in.reg, v)
}
`
)

// sized writes a plain function name followed by each size in sizes
// (bits) with T a local alias of the size's type and body (see handler),
// and a selector sel(opsz) giving the one for operand size opsz in bytes.
func sized(w *bytes.Buffer, name, sel, body string, sizes ...int) {
	var h []string
	for _, n := range []int{8, 16, 32, 64} {
		found := false
		for _, s := range sizes {
			found = found || s == n
		}
		if !found {
			h = append(h, "nil")
			continue
		}
		fmt.Fprintf(w, "func %s%d(c *CPU, in *Inst) {\ntype T = uint%d\n%s}\n\n", name, n, n, body)
		h = append(h, fmt.Sprintf("%s%d", name, n))
	}
	if sel != "" {
		fmt.Fprintf(w, "// %s gives %s's handler for operand size opsz in bytes.\n", sel, name)
		fmt.Fprintf(w, "func %s(opsz uint8) handler {\nreturn by(%s)[sizeIndex(opsz)]\n}\n\n", sel, strings.Join(h, ", "))
	}
}

func genPair() []byte {
	var w bytes.Buffer
	w.WriteString(header + "package cpu\n\nimport \"unsafe\"\n\n")
	w.WriteString("// The ALU pair, store pair, load pair, move pair and store-first pair\n// handlers (exec_pair.go), from gen_hot.go's tables.\n\n")
	type shape struct {
		prefix     string
		bit        shapeSet
		rr, ri     form
		head, tail string
	}
	for _, s := range []shape{
		{"pair", pair, formRR, formRI, pairHead, ""},
		{"store", store, formStoreRR, formRI, "", storeTail},
		{"load", load, formStoreRR, formRI, loadHead, ""},
		{"mov", movp, formRR, formRI, movHead, ""},
		{"shr", shrp, formRR, formRI, shrHead, ""},
	} {
		for _, f := range []form{s.rr, s.ri} {
			for _, o := range ops {
				if o.in&s.bit != 0 {
					handler(&w, s.prefix+title(o.name)+f.suffix, o, f, s.head, s.tail, 32, 64)
				}
			}
		}
		sel := s.prefix + "Handler"
		if s.prefix != "pair" {
			sel = s.prefix + "PairHandler"
		}
		fmt.Fprintf(&w, "// %s gives the handler for ALU operation op (register source\n// if rr) and operand size opsz (32 or 64 bits; nil otherwise).\n", sel)
		fmt.Fprintf(&w, "func %s(op uint8, rr bool, opsz uint8) handler {\nvar h [4]handler\n", sel)
		for i, f := range []form{s.rr, s.ri} {
			if i == 0 {
				w.WriteString("if rr {\n")
			} else {
				w.WriteString("} else {\n")
			}
			w.WriteString("switch op {\n")
			for _, o := range ops {
				if o.in&s.bit != 0 {
					fmt.Fprintf(&w, "case %s:\nh = v(%s)\n", o.alu, insts(s.prefix+title(o.name)+f.suffix, 0, 32, 64))
				}
			}
			w.WriteString("}\n")
		}
		w.WriteString("}\nreturn h[sizeIndex(opsz)]\n}\n\n")
	}
	// Store-first pairs: two sizes, the store's (S) and the ALU
	// instruction's (T).
	for _, f := range []form{formStoreRR, formRI} {
		for _, o := range ops {
			if o.in&storeFirst != 0 {
				var b bytes.Buffer
				handlerBody(&b, o, f, storeFirstHead, "", "")
				for _, s := range []int{8, 32, 64} {
					for _, t := range []int{32, 64} {
						fmt.Fprintf(&w, "func storeFirst%s%s%dx%d(c *CPU, in *Inst) {\ntype S = uint%d\ntype T = uint%d\n%s}\n\n",
							title(o.name), f.suffix, s, t, s, t, b.String())
					}
				}
			}
		}
	}
	w.WriteString("// storeFirstHandler gives the handler for a store of ssz bytes (1, 4\n// or 8) followed by ALU operation op (register source if rr) of size\n// opsz (32 or 64 bits); nil otherwise.\n")
	w.WriteString("func storeFirstHandler(op uint8, rr bool, ssz, opsz uint8) handler {\nvar h [4]handler\n")
	w.WriteString("if rr {\nswitch op {\n")
	two := func(name string) string {
		return fmt.Sprintf("switch ssz {\ncase 1:\nh = v(nil, %[1]s8x32, %[1]s8x64)\ncase 4:\nh = v(nil, %[1]s32x32, %[1]s32x64)\ncase 8:\nh = v(nil, %[1]s64x32, %[1]s64x64)\n}\n", name)
	}
	for i, f := range []form{formStoreRR, formRI} {
		if i == 1 {
			w.WriteString("}\n} else {\nswitch op {\n")
		}
		for _, o := range ops {
			if o.in&storeFirst != 0 {
				fmt.Fprintf(&w, "case %s:\n%s", o.alu, two("storeFirst"+title(o.name)+f.suffix))
			}
		}
	}
	w.WriteString("}\n}\nreturn h[sizeIndex(opsz)]\n}\n\n")
	w.WriteString("// Copy pairs and INC/DEC pairs (exec_pair.go).\n\n")
	sized(&w, "copyPair", "copyPairHandler", copyPairBody, 8, 16, 32, 64)
	sized(&w, "loadLoadPair", "loadLoadPairHandler", loadLoadPairBody, 8, 16, 32, 64)
	sized(&w, "storeStorePair", "storeStorePairHandler", storeStorePairBody, 8, 16, 32, 64)
	sized(&w, "cmpMIJcc", "cmpMIJccHandler", fmt.Sprintf(cmpMIJccBody, "if t && !c.fusedJump(in) {\n\tc.fusedTakeSlow(in)\n}\n"), 8, 16, 32, 64)
	sized(&w, "cmpMIJccSide", "cmpMIJccSideHandler", fmt.Sprintf(cmpMIJccBody, "if t {\n\tif c.fusedJump(in) {\n\t\tc.takeSide()\n\t} else {\n\t\tc.fusedTakeSideSlow(in)\n\t}\n}\n"), 8, 16, 32, 64)
	sized(&w, "incDecPair", "incDecPairHandler", incDecPairBody, 8, 16, 32, 64)
	genTestCmov(&w)
	genRegMov(&w)
	genLoadMov(&w)
	return w.Bytes()
}

// regMovKinds are the values a register-move pair's half writes
// (exec_pair.go regMovOf): its constant (rmImm), or its source register
// plus its constant in 32 (rm32, zero-extended) or 64 bits (rm64); %[1]s
// is the source register's field, %[2]s the constant's.
var regMovKinds = []struct{ name, expr string }{
	{"Imm", "%[2]s"},
	{"32", "uint64(uint32(c.GPR[%[1]s&15] + %[2]s))"},
	{"64", "c.GPR[%[1]s&15] + %[2]s"},
}

// genRegMov writes the register-move pairs' handlers (exec_pair.go
// regMovPairable): the first half's value into base (source index,
// constant disp), then the second's into rm (source reg, constant imm),
// one handler per kind of each, and regMovHandler, which selects one.
func genRegMov(w *bytes.Buffer) {
	w.WriteString("// Register-move pairs (exec_pair.go).\n\n")
	var tab []string
	for _, k1 := range regMovKinds {
		var row []string
		for _, k2 := range regMovKinds {
			name := "regMov" + k1.name + "_" + k2.name
			row = append(row, name)
			fmt.Fprintf(w, "func %s(c *CPU, in *Inst) {\nc.GPR[in.base&15] = %s\nc.GPR[in.rm&15] = %s\n}\n\n", name,
				fmt.Sprintf(k1.expr, "in.index", "in.disp"), fmt.Sprintf(k2.expr, "in.reg", "in.imm"))
		}
		tab = append(tab, "{"+strings.Join(row, ", ")+"}")
	}
	w.WriteString("// regMovHandler gives the register-move pair handler for kinds k1 and k2\n// (rmImm, rm32, rm64).\n")
	fmt.Fprintf(w, "func regMovHandler(k1, k2 uint8) handler {\nreturn [3][3]handler{%s}[k1][k2]\n}\n", strings.Join(tab, ", "))
}

// The load-move pair's load half (exec_pair.go loadMovPairable):
// movRegMem's fast path, its slow path as a load pair's (a stop there
// ends the entry as the load alone); the move follows at mov.
const loadMovLoad = `off := c.ea(in)
// The address checks of the fast path (lin64, rwIn; no boolean
// between a failed check and miss).
var lin uint64
if c.codeMode == mode64 {
	if lin = c.lin64(in.seg, off); !canonical48(lin) {
		goto miss
	}
} else if c.rwIn(in.seg, off, uint64(sizeOf[T]())) {
	lin = c.rwLin(in.seg, off)
} else {
	goto miss
}
{
	e := &c.tlb.read[c.tlb.index(lin)]
	if o := lin & 0xfff; e.tag == c.tlb.tag(lin) && o <= uint64(4096-sizeOf[T]()) {
		setReg(c, in.reg, *(*T)(unsafe.Pointer(&e.page[o])))
		goto mov
	}
}
miss:
c.RIP -= uint64(in.jlen)
if v, ok := rdMiss[T](c, in.seg, off); ok {
	setReg(c, in.reg, v)
	if c.stop {
		c.firstHalfStop = true
		return
	}
} else {
	c.firstHalfStop = true
	return
}
c.RIP += uint64(in.jlen)
mov:
`

// genLoadMov writes the load-move pairs' handlers (exec_pair.go
// loadMovPairable): a load of 32 or 64 bits, then a register move of a
// kind of regMovKinds into rm (source jopsz, constant imm), and
// loadMovHandler, which selects one.
func genLoadMov(w *bytes.Buffer) {
	w.WriteString("// Load-move pairs (exec_pair.go).\n\n")
	var tab []string
	for _, n := range []int{32, 64} {
		var row []string
		for _, k := range regMovKinds {
			name := fmt.Sprintf("loadMov%d_%s", n, k.name)
			row = append(row, name)
			fmt.Fprintf(w, "func %s(c *CPU, in *Inst) {\ntype T = uint%d\n%sc.GPR[in.rm&15] = %s\n}\n\n", name, n, loadMovLoad,
				fmt.Sprintf(k.expr, "in.jopsz", "in.imm"))
		}
		tab = append(tab, "{"+strings.Join(row, ", ")+"}")
	}
	w.WriteString("// loadMovHandler gives the load-move pair handler for a load of opsz\n// bytes (4 or 8) and a move of kind k (rmImm, rm32, rm64).\n")
	fmt.Fprintf(w, "func loadMovHandler(opsz, k uint8) handler {\nreturn [2][3]handler{%s}[opsz>>3][k]\n}\n", strings.Join(tab, ", "))
}

// genTestCmov writes the TEST+CMOVcc pairs' handlers (exec_pair.go
// testCmovPairable): TEST's register-form handler, r,r or r,imm of 8 to
// 64 bits (T), then CMOVcc r,r of 32 or 64 bits (U) on the condition in
// sub, from TEST's result as the fused TEST+Jcc computes it; a 32-bit
// CMOVcc writes its destination, zero-extended, either way (cmov,
// exec_mov.go). testCmovHandler selects one.
func genTestCmov(w *bytes.Buffer) {
	w.WriteString("// TEST+CMOVcc pairs (exec_pair.go).\n\n")
	var test op
	for _, o := range ops {
		if o.name == "test" {
			test = o
		}
	}
	sel := map[bool][]string{}
	for _, f := range []form{formRR, formRI} {
		for _, u := range []int{32, 64} {
			var names []string
			for _, n := range []int{8, 16, 32, 64} {
				name := fmt.Sprintf("test%sCmov%d_%d", f.suffix, n, u)
				names = append(names, name)
				var b bytes.Buffer
				tail := `var t bool
if cc := in.sub; cc&^1 == 4 {
	t = (r == 0) != (cc&1 != 0)
} else {
	t = logicCond(cc, r)
}
if t {
	setReg(c, in.base, getReg[U](c, in.index))
}`
				if u == 32 {
					tail += ` else {
	setReg(c, in.base, getReg[U](c, in.base))
}`
				}
				handlerBody(&b, test, f, "", tail+"\n", "")
				fmt.Fprintf(w, "func %s(c *CPU, in *Inst) {\ntype T = uint%d\ntype U = uint%d\n%s}\n\n", name, n, u, b.String())
			}
			sel[f.rr] = append(sel[f.rr], fmt.Sprintf("if copsz == %d {\nh = by(%s)\n}\n", u/8, strings.Join(names, ", ")))
		}
	}
	w.WriteString("// testCmovHandler gives the TEST+CMOVcc handler for a TEST of operand\n// size opsz (register source if rr) and a CMOVcc of operand size copsz\n// (32 or 64 bits; nil otherwise).\n")
	w.WriteString("func testCmovHandler(rr bool, opsz, copsz uint8) handler {\nvar h [4]handler\nif rr {\n")
	w.WriteString(strings.Join(sel[true], ""))
	w.WriteString("} else {\n")
	w.WriteString(strings.Join(sel[false], ""))
	w.WriteString("}\nreturn h[sizeIndex(opsz)]\n}\n")
}

// headOp is the operation of a head (exec_head.go): the last of its
// instructions computes h = x OP i2 from x = src + i1 into dst.
type headOp struct {
	name string // handler name stem: and gives headAndCmpRIJcc
	alu  string // its ALU operation number (exec_alu.go)
	res  string // h, a Go expression over x and the immediate i2
	// cf leaves the CF of the head's last instruction in c.lz.flags,
	// where an INC/DEC setter after it keeps it (flags.go): ADD's carry
	// out, 0 for AND/OR/XOR (SDM Vol. 2A AND, OR; Vol. 2B XOR: "The OF and
	// CF flags are cleared").
	cf string
}

// addCF is ADD's carry out of h = x + i2 (headOp.cf).
const addCF = "c.lz.flags = 0\nif h < x {\nc.lz.flags = arch.FlagCF\n}\n"

var headOps = []headOp{
	{"add", "aluADD", "x + i2", addCF},
	{"and", "aluAND", "x & i2", "c.lz.flags = 0\n"},
	{"or", "aluOR", "x | i2", "c.lz.flags = 0\n"},
	{"xor", "aluXOR", "x ^ i2", "c.lz.flags = 0\n"},
}

// headStart is the head's computation: x from the source register (index)
// and i1 (the low half of amask), h from x and i2 (the high half), both
// immediates sign-extended from 32 bits; h goes to the destination (base).
const headStart = `x := getReg[T](c, in.index) + T(int32(in.amask))
i2 := T(int32(in.amask >> 32))
h := %s
setReg(c, in.base, h)
`

// headOrOps are the heads whose first instruction is OR r,r (09 with mod
// = 3) on the destination, x = dst | src, followed by an ALU r,imm of
// operation OP on it (exec_head.go headOrFirst): access's flag loop's "or
// eax, esi; add eax, 1; and eax, ecx; js". Only the pairs the profile
// found are generated; headOrHandler gives nil for the others.
var headOrOps = []headOp{
	{"orAdd", "aluADD", "x + i2", addCF},
}

// headOrStart is headStart for headOrOps: x = dst | src, from the
// destination (base) and the OR's source register (index).
const headOrStart = `x := getReg[T](c, in.base) | getReg[T](c, in.index)
i2 := T(int32(in.amask >> 32))
h := %s
setReg(c, in.base, h)
`

func genHead() []byte {
	var w bytes.Buffer
	w.WriteString(header + "package cpu\n\nimport \"github.com/vmxemu/vmxemu/arch\"\n\n")
	w.WriteString("// The head+setter+Jcc handlers (exec_head.go), from gen_hot.go's tables:\n// each is a head's computation followed by a fused setter+Jcc handler.\n\n")
	genHeadOps(&w, headOps, headStart, "headHandler", "a head of ALU operation hop")
	genHeadOps(&w, headOrOps, headOrStart, "headOrHandler", "a head OR r,r; ALU r,imm of operation hop")
	return w.Bytes()
}

// genHeadOps writes the handlers of the heads ops, which start with start,
// and their selector sel.
func genHeadOps(w *bytes.Buffer, ops []headOp, start0, sel, what string) {
	kinds := fusedKinds()
	for _, h := range ops {
		for _, k := range kinds {
			name := "head" + title(h.name) + k.kind + "Jcc"
			tail, sideTail := fusedTails(k.o)
			start := fmt.Sprintf(start0, h.res)
			handlerCF(w, name, k.o, k.f, start, tail, h.cf, 32, 64)
			handlerCF(w, name+"Side", k.o, k.f, start, sideTail, h.cf, 32, 64)
		}
	}
	fmt.Fprintf(w, "// %s gives the handler for %s followed by\n// a fused setter+Jcc of kind k and operand size opsz (32 or 64 bits; nil\n// otherwise), the side exit's if side.\n", sel, what)
	fmt.Fprintf(w, "func %s(hop uint8, k int, opsz uint8, side bool) handler {\nvar h [4]handler\n", sel)
	for i, sfx := range []string{"", "Side"} {
		if i == 0 {
			w.WriteString("if !side {\n")
		} else {
			w.WriteString("} else {\n")
		}
		w.WriteString("switch hop {\n")
		for _, h := range ops {
			fmt.Fprintf(w, "case %s:\nswitch k {\n", h.alu)
			for _, k := range kinds {
				fmt.Fprintf(w, "case fk%s:\nh = v(%s)\n", k.kind, insts("head"+title(h.name)+k.kind+"Jcc"+sfx, 0, 32, 64))
			}
			w.WriteString("}\n")
		}
		w.WriteString("}\n")
	}
	w.WriteString("}\nreturn h[sizeIndex(opsz)]\n}\n\n")
}

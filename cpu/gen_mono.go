//go:build ignore

// gen_mono writes exec_mono_gen.go: a concrete copy of every generic
// handler (a generic func(c *CPU, in *Inst)) for each instantiation that
// the package installs as a handler value.
//
// Why: Go compiles a generic function once per shape and passes it a
// dictionary. An instantiation taken as a func value, such as
// aluRM[uint32] in an opcode table, is a small wrapper that loads the
// dictionary and calls the shape's body: two calls per guest
// instruction instead of one, with a stack check and a frame. A
// concrete copy is the handler itself. (Measured on bench64's
// load/ALU/store loop: four of its handlers written out cut its time by
// a quarter; docs/PERFORMANCE.md, "Handlers without generic wrappers".)
//
// The generic functions stay the only source: each copy is the generic
// body with its type parameters replaced by the instantiation's types,
// named by the generic's name and the types' sizes (aluRM[uint32] is
// aluRM32, movzx[uint8, uint32] is movzx8x32). The package refers to the
// copies by those names; with -rewrite, gen_mono first rewrites every
// instantiation taken as a value (f[uint32] not called) in the package's
// files to its copy's name, so that code written with the generic form
// becomes the concrete one at the next go generate.
//
// Run with: go generate ./cpu (from the repository root). The -o flag
// writes the file into another directory (the up-to-date test uses it).
package main

import (
	"bytes"
	"flag"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/scanner"
	"go/token"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

const outName = "exec_mono_gen.go"

// sizes are the type arguments a copy may have, with their names' parts.
var sizes = map[string]string{"uint8": "8", "uint16": "16", "uint32": "32", "uint64": "64"}

// generic is one generic handler.
type generic struct {
	decl   *ast.FuncDecl
	file   *ast.File
	src    []byte   // its file's source
	params []string // its type parameters' names, in order
}

// use is one instantiation of a generic handler taken as a value.
type use struct {
	file       string
	start, end int // byte offsets of f[...] in the file
	name       string
}

func main() {
	dir := flag.String("o", ".", "directory to write "+outName+" into")
	rewrite := flag.Bool("rewrite", false, "rewrite instantiations taken as values to the copies' names first")
	flag.Parse()
	if err := run(*dir, *rewrite); err != nil {
		fmt.Fprintln(os.Stderr, "gen_mono:", err)
		os.Exit(1)
	}
}

func run(dir string, rewrite bool) error {
	fset, files, srcs, err := parse()
	if err != nil {
		return err
	}
	gens := generics(files, srcs)
	uses := valueUses(fset, files, gens)
	if len(uses) > 0 {
		if !rewrite {
			u := uses[0]
			return fmt.Errorf("%d generic handler instantiations taken as values (the first in %s: %s): run go generate ./cpu", len(uses), u.file, u.name)
		}
		if err := rewriteUses(uses, srcs); err != nil {
			return err
		}
		if fset, files, srcs, err = parse(); err != nil {
			return err
		}
		gens = generics(files, srcs)
	}
	out, err := generate(fset, files, gens)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, outName), out, 0o644)
}

// parse reads the package's non-test files but the generated copies.
func parse() (*token.FileSet, map[string]*ast.File, map[string][]byte, error) {
	names, err := filepath.Glob("*.go")
	if err != nil {
		return nil, nil, nil, err
	}
	fset := token.NewFileSet()
	files := map[string]*ast.File{}
	srcs := map[string][]byte{}
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") || n == outName || strings.HasPrefix(n, "gen_") {
			continue
		}
		src, err := os.ReadFile(n)
		if err != nil {
			return nil, nil, nil, err
		}
		f, err := parser.ParseFile(fset, n, src, parser.ParseComments)
		if err != nil {
			return nil, nil, nil, err
		}
		if f.Name.Name != "cpu" {
			continue
		}
		files[n], srcs[n] = f, src
	}
	return fset, files, srcs, nil
}

// isHandlerType reports whether ft is func(c *CPU, in *Inst).
func isHandlerType(ft *ast.FuncType) bool {
	if ft.Results != nil && len(ft.Results.List) > 0 {
		return false
	}
	var types []string
	for _, f := range ft.Params.List {
		star, ok := f.Type.(*ast.StarExpr)
		if !ok {
			return false
		}
		id, ok := star.X.(*ast.Ident)
		if !ok {
			return false
		}
		for range f.Names {
			types = append(types, id.Name)
		}
	}
	return len(types) == 2 && types[0] == "CPU" && types[1] == "Inst"
}

func generics(files map[string]*ast.File, srcs map[string][]byte) map[string]*generic {
	gens := map[string]*generic{}
	for name, f := range files {
		for _, d := range f.Decls {
			fd, ok := d.(*ast.FuncDecl)
			if !ok || fd.Recv != nil || fd.Type.TypeParams == nil || !isHandlerType(fd.Type) {
				continue
			}
			g := &generic{decl: fd, file: f, src: srcs[name]}
			for _, p := range fd.Type.TypeParams.List {
				for _, n := range p.Names {
					g.params = append(g.params, n.Name)
				}
			}
			gens[fd.Name.Name] = g
		}
	}
	return gens
}

// monoName names the copy of f for the type arguments args, or "" if one
// of them is not a size of sizes.
func monoName(f string, args []string) string {
	var parts []string
	for _, a := range args {
		s, ok := sizes[a]
		if !ok {
			return ""
		}
		parts = append(parts, s)
	}
	return f + strings.Join(parts, "x")
}

// valueUses finds the instantiations of generic handlers that are not
// called: the handler values.
func valueUses(fset *token.FileSet, files map[string]*ast.File, gens map[string]*generic) []use {
	var uses []use
	for name, f := range files {
		called := map[ast.Node]bool{}
		ast.Inspect(f, func(n ast.Node) bool {
			if call, ok := n.(*ast.CallExpr); ok {
				called[call.Fun] = true
			}
			var x ast.Expr
			var args []ast.Expr
			switch e := n.(type) {
			case *ast.IndexExpr:
				x, args = e.X, []ast.Expr{e.Index}
			case *ast.IndexListExpr:
				x, args = e.X, e.Indices
			default:
				return true
			}
			id, ok := x.(*ast.Ident)
			if !ok || gens[id.Name] == nil || called[n] {
				return true
			}
			var targs []string
			for _, a := range args {
				ai, ok := a.(*ast.Ident)
				if !ok {
					return true
				}
				targs = append(targs, ai.Name)
			}
			if m := monoName(id.Name, targs); m != "" {
				uses = append(uses, use{file: name, start: fset.Position(n.Pos()).Offset, end: fset.Position(n.End()).Offset, name: m})
			}
			return true
		})
	}
	sort.Slice(uses, func(i, j int) bool {
		if uses[i].file != uses[j].file {
			return uses[i].file < uses[j].file
		}
		return uses[i].start < uses[j].start
	})
	return uses
}

func rewriteUses(uses []use, srcs map[string][]byte) error {
	byFile := map[string][]use{}
	for _, u := range uses {
		byFile[u.file] = append(byFile[u.file], u)
	}
	for name, us := range byFile {
		src := srcs[name]
		var b bytes.Buffer
		last := 0
		for _, u := range us {
			b.Write(src[last:u.start])
			b.WriteString(u.name)
			last = u.end
		}
		b.Write(src[last:])
		out, err := format.Source(b.Bytes())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		if err := os.WriteFile(name, out, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// generate writes the copies the package refers to.
func generate(fset *token.FileSet, files map[string]*ast.File, gens map[string]*generic) ([]byte, error) {
	declared := map[string]bool{}
	used := map[string]bool{}
	for _, f := range files {
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				if d.Recv == nil {
					declared[d.Name.Name] = true
				}
			case *ast.GenDecl:
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.ValueSpec:
						for _, n := range s.Names {
							declared[n.Name] = true
						}
					case *ast.TypeSpec:
						declared[s.Name.Name] = true
					}
				}
			}
		}
		ast.Inspect(f, func(n ast.Node) bool {
			if id, ok := n.(*ast.Ident); ok {
				used[id.Name] = true
			}
			return true
		})
	}
	type copyOf struct {
		g    *generic
		name string
		args []string
	}
	var copies []copyOf
	var sizeNames []string
	for s := range sizes {
		sizeNames = append(sizeNames, s)
	}
	sort.Strings(sizeNames)
	for fname, g := range gens {
		// Every tuple of sizes for g's type parameters.
		tuples := [][]string{nil}
		for range g.params {
			var next [][]string
			for _, t := range tuples {
				for _, s := range sizeNames {
					next = append(next, append(append([]string(nil), t...), s))
				}
			}
			tuples = next
		}
		for _, args := range tuples {
			m := monoName(fname, args)
			if !used[m] {
				continue
			}
			if declared[m] {
				return nil, fmt.Errorf("%s, the copy of %s%v, is also declared by hand", m, fname, args)
			}
			copies = append(copies, copyOf{g: g, name: m, args: args})
		}
	}
	sort.Slice(copies, func(i, j int) bool { return copies[i].name < copies[j].name })

	var body bytes.Buffer
	imports := map[string]string{} // name -> path
	for _, c := range copies {
		text, err := concrete(fset, c.g, c.name, c.args)
		if err != nil {
			return nil, err
		}
		pos := fset.Position(c.g.decl.Pos())
		var inst []string
		inst = append(inst, c.args...)
		fmt.Fprintf(&body, "// %s is %s[%s] (%s).\n%s\n\n", c.name, c.g.decl.Name.Name, strings.Join(inst, ", "), filepath.Base(pos.Filename), text)
		for _, imp := range c.g.file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			n := p[strings.LastIndex(p, "/")+1:]
			if imp.Name != nil {
				n = imp.Name.Name
			}
			if bytes.Contains([]byte(text), []byte(n+".")) {
				imports[n] = p
			}
		}
	}
	var w bytes.Buffer
	w.WriteString("// Code generated by gen_mono.go; DO NOT EDIT.\n\npackage cpu\n\n")
	if len(imports) > 0 {
		var ps []string
		for _, p := range imports {
			ps = append(ps, strconv.Quote(p))
		}
		sort.Strings(ps)
		fmt.Fprintf(&w, "import (\n%s\n)\n\n", strings.Join(ps, "\n"))
	}
	w.WriteString("// The handlers the package installs, written out per instantiation of\n// their generic source (gen_mono.go says why).\n\n")
	w.Write(body.Bytes())
	return format.Source(w.Bytes())
}

// concrete returns g's declaration as the function name with its type
// parameters replaced by args: the generic's text, token by token.
func concrete(fset *token.FileSet, g *generic, name string, args []string) (string, error) {
	d := g.decl
	start := fset.Position(d.Type.Params.Pos()).Offset
	end := fset.Position(d.End()).Offset
	src := g.src[start:end]
	subst := map[string]string{}
	for i, p := range g.params {
		subst[p] = args[i]
	}
	var s scanner.Scanner
	tf := token.NewFileSet().AddFile("", -1, len(src))
	var errs int
	s.Init(tf, src, func(token.Position, string) { errs++ }, 0)
	var b bytes.Buffer
	b.WriteString("func " + name)
	last := 0
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		if tok != token.IDENT {
			continue
		}
		if r, ok := subst[lit]; ok {
			o := tf.Offset(pos)
			b.Write(src[last:o])
			b.WriteString(r)
			last = o + len(lit)
		}
	}
	b.Write(src[last:])
	if errs > 0 {
		return "", fmt.Errorf("%s: %d scan errors", d.Name.Name, errs)
	}
	return b.String(), nil
}

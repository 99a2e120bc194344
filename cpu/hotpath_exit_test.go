package cpu

import (
	"go/ast"
	"go/parser"
	"go/token"
	"sort"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHotHandlersCannotExit: the specialised hot, pair and fused handlers
// (decoded blocks are shared by every CPU, and these run without the
// generic handlers' checks) contain no instruction that can cause a VM
// exit: none of them, nor any helper declared with them, names the VM-exit
// primitives, the intercept record, or the handler of an instruction that
// exits in VMX non-root operation (SDM Vol. 3C 26.1.2, 26.1.3). Exits are
// decided in each instruction's one home, never in these.
func TestHotHandlersCannotExit(t *testing.T) {
	files := []string{"exec_hot.go", "exec_hot_gen.go", "exec_pair.go", "exec_pair_gen.go", "exec_fused.go", "exec_fused_gen.go"}
	// The exit primitives and the handlers of the instructions that exit
	// unconditionally or by a VM-execution control.
	forbidden := map[string]bool{
		"inGuest": true, "intercepts": true, "vmExit": true, "guestInsnExit": true, "guestInsnExitFull": true,
		"guestExits": true, "guestExits2": true, "guestIOExit": true, "guestDescTableExit": true,
		"guestCRWrite": true, "guestCRRead": true, "guestTSC": true, "vmx": true,
		"cpuid": true, "hlt": true, "rdtsc": true, "rdpmc": true, "rdmsr": true, "wrmsr": true, "inOut": true,
		"ins": true, "outs": true, "invlpg": true, "invpcid": true, "wbinvd": true, "movDR": true,
		"movToCR": true, "movFromCR": true, "lmsw": true, "clts": true, "smsw": true, "pause": true,
		"lgdtLidt": true, "sgdtSidt": true, "sldtStr": true, "lldt": true, "ltr": true, "xsetbv": true,
		"vmcall": true, "vmentry": true, "vmxon": true, "vmxoff": true, "vmclear": true, "vmptrld": true,
		"vmptrst": true, "vmread": true, "vmwrite": true,
	}
	fset := token.NewFileSet()
	seen := 0
	for _, name := range files {
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err)
		var found []string
		ast.Inspect(f, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Ident:
				seen++
				if forbidden[x.Name] {
					found = append(found, fset.Position(x.Pos()).String()+" "+x.Name)
				}
			case *ast.SelectorExpr:
				if forbidden[x.Sel.Name] {
					found = append(found, fset.Position(x.Pos()).String()+" ."+x.Sel.Name)
				}
			}
			return true
		})
		sort.Strings(found)
		assert.Empty(t, found, "%s names what can cause a VM exit", name)
	}
	require.Greater(t, seen, 1000, "the handler files were read")
}

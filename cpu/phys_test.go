package cpu

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestOnePhysicalPath keeps the guest-physical access layer the only way
// to physical memory (phys.go): no other file of the core calls the bus's
// RAMPage, ReadMMIO or WriteMMIO, so that EPT, slotted in beneath
// physPage, sees every access — fetches, data, page walks, descriptor
// tables and the debugger alike.
func TestOnePhysicalPath(t *testing.T) {
	files, err := filepath.Glob("*.go")
	require.NoError(t, err)
	require.NotEmpty(t, files)
	fset := token.NewFileSet()
	var calls []string
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") || name == "phys.go" {
			continue
		}
		f, err := parser.ParseFile(fset, name, nil, 0)
		require.NoError(t, err, name)
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			switch sel.Sel.Name {
			case "RAMPage", "ReadMMIO", "WriteMMIO":
				if inner, ok := sel.X.(*ast.SelectorExpr); ok && inner.Sel.Name == "bus" {
					calls = append(calls, fset.Position(sel.Pos()).String())
				}
			}
			return true
		})
	}
	assert.Empty(t, calls, "physical memory reached outside phys.go")
}

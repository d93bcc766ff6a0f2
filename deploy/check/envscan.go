// Package check holds what the deployment tests share: which settings a
// service reads (found in its Go source, so the tests cannot drift from
// the code) and a small Dockerfile reader. Its own module keeps
// compose-go and friends out of the production modules.
package check

import (
	"bytes"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
)

// Root is the repository root, two levels above this package.
func Root() (string, error) {
	root, err := filepath.Abs("../..")
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(root, "go.work")); err != nil {
		return "", fmt.Errorf("no go.work at %s: %w", root, err)
	}
	return root, nil
}

// Read is one setting a service reads through pkg/config.
type Read struct {
	Key string
	// Kind is the config.Env method: String, Int, Int64, Bool, Duration,
	// Secret or Required.
	Kind string
	// Default is the literal default ("" when none or not a literal).
	Default string
	// ProdOnly: a Secret, or a Required inside an `if` on dev mode; dev
	// mode supplies a value of its own.
	ProdOnly bool
	Pos      string
}

// Required says the service cannot start without the key (in prod, for
// ProdOnly keys).
func (r Read) Required() bool { return r.Kind == "Required" || r.Kind == "Secret" }

func (r Read) strictness() int {
	switch {
	case r.Required() && !r.ProdOnly:
		return 2
	case r.Required():
		return 1
	}
	return 0
}

var (
	settingKey = regexp.MustCompile(`^(DOSS|OTEL)_[A-Z0-9_]+$`)
	readers    = map[string]bool{"String": true, "Int": true, "Int64": true, "Bool": true, "Duration": true, "Secret": true, "Required": true}
)

// ServiceReads lists the settings the binary in dir reads: every
// config.Env call with a literal key in the non-test sources of every
// package of this repository the binary is built from.
func ServiceReads(root, dir string) (map[string]Read, error) {
	cmd := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.Dir}}{{end}}", ".")
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list in %s: %w: %s", dir, err, stderr.String())
	}
	reads := map[string]Read{}
	for _, pkgDir := range strings.Fields(string(out)) {
		if !strings.HasPrefix(pkgDir, root+string(filepath.Separator)) {
			continue // a dependency from the module cache
		}
		if err := scanDir(pkgDir, reads); err != nil {
			return nil, err
		}
	}
	return reads, nil
}

func scanDir(dir string, reads map[string]Read) error {
	fset := token.NewFileSet()
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		name := e.Name()
		if e.IsDir() || !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, name), nil, parser.SkipObjectResolution)
		if err != nil {
			return err
		}
		v := &visitor{fset: fset, reads: reads}
		ast.Walk(v, f)
	}
	return nil
}

// visitor walks a file keeping the path from the root, so a read knows
// the ifs around it.
type visitor struct {
	fset  *token.FileSet
	reads map[string]Read
	stack []ast.Node
}

func (v *visitor) Visit(n ast.Node) ast.Visitor {
	if n == nil {
		v.stack = v.stack[:len(v.stack)-1]
		return nil
	}
	v.stack = append(v.stack, n)
	call, ok := n.(*ast.CallExpr)
	if !ok || len(call.Args) == 0 {
		return v
	}
	sel, ok := call.Fun.(*ast.SelectorExpr)
	if !ok || !readers[sel.Sel.Name] {
		return v
	}
	lit, ok := call.Args[0].(*ast.BasicLit)
	if !ok || lit.Kind != token.STRING {
		return v
	}
	key, err := strconv.Unquote(lit.Value)
	if err != nil || !settingKey.MatchString(key) {
		return v
	}
	r := Read{Key: key, Kind: sel.Sel.Name, Pos: v.fset.Position(call.Pos()).String()}
	if len(call.Args) > 1 {
		if d, ok := call.Args[1].(*ast.BasicLit); ok && d.Kind == token.STRING {
			r.Default, _ = strconv.Unquote(d.Value)
		}
	}
	r.ProdOnly = r.Kind == "Secret" || (r.Kind == "Required" && v.underDevCheck())
	// A key read in several places keeps its strictest reading.
	if old, seen := v.reads[key]; !seen || r.strictness() > old.strictness() {
		v.reads[key] = r
	}
	return v
}

// underDevCheck: the current node is in the body of an if whose condition
// looks at dev mode (`dev`, `x.Dev()`).
func (v *visitor) underDevCheck() bool {
	for i := len(v.stack) - 2; i >= 0; i-- {
		ifs, ok := v.stack[i].(*ast.IfStmt)
		if !ok || v.stack[i+1] != ifs.Body {
			continue
		}
		dev := false
		ast.Inspect(ifs.Cond, func(n ast.Node) bool {
			switch x := n.(type) {
			case *ast.Ident:
				dev = dev || x.Name == "dev"
			case *ast.SelectorExpr:
				dev = dev || x.Sel.Name == "Dev"
			}
			return !dev
		})
		if dev {
			return true
		}
	}
	return false
}

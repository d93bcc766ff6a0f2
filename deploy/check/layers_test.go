package check

import (
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// storeImports are the packages that speak Mongo: only a service's
// adapters (and the contract tests' store setup) may import them, so an
// app package states what it needs in its own terms and another store can
// be put behind the same interfaces.
var storeImports = []string{"go.mongodb.org/mongo-driver", "github.com/dossapp/backend/pkg/mongox"}

// TestLayers reads the imports of every non-test file under services/:
// no service imports another (devstack, which runs them all in one
// process, and e2e excepted), and nothing under a service's internal/
// but its adapters and storetest imports the store driver or mongox.
func TestLayers(t *testing.T) {
	root, err := Root()
	if err != nil {
		t.Fatal(err)
	}
	services := filepath.Join(root, "services")
	checked := 0
	err = filepath.WalkDir(services, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return err
		}
		rel, _ := filepath.Rel(services, path)
		parts := strings.Split(filepath.ToSlash(rel), "/")
		if len(parts) < 2 || parts[0] == "devstack" {
			return nil
		}
		svc := parts[0]
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, parser.ImportsOnly)
		if err != nil {
			return err
		}
		checked++
		internal := parts[1] == "internal"
		inAdapters := internal && len(parts) > 2 && (parts[2] == "adapters" || parts[2] == "storetest")
		for _, im := range f.Imports {
			p, _ := strconv.Unquote(im.Path.Value)
			if other, ok := strings.CutPrefix(p, "github.com/dossapp/backend/services/"); ok && strings.Split(other, "/")[0] != svc {
				t.Errorf("%s imports %s: a service depends on pkg only, never on another service", rel, p)
			}
			if internal && !inAdapters {
				for _, s := range storeImports {
					if strings.HasPrefix(p, s) {
						t.Errorf("%s imports %s: only internal/adapters speaks to the store", rel, p)
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if checked < 100 {
		t.Fatalf("read %d files under services/; the tree is not where this test looks", checked)
	}
}

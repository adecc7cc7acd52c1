package builder_test

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// stageOrder is the pipeline as the package documentation gives it.
var stageOrder = []string{"plan", "compile", "assemble", "store"}

// shared are the files every stage may use besides the cache layer
// (cache*.go): the core and the content store.
var shared = []string{"builder.go", "run.go", "kinds.go", "stages.go", "prepare.go", "contents.go"}

// fileGroup gives a file of the package its stage (its index in
// stageOrder), or -1 for a shared file or the cache layer; ok is false
// for a file of no group.
func fileGroup(name string) (stage int, ok bool) {
	base := strings.TrimSuffix(name, ".go")
	for i, s := range stageOrder {
		if base == s || strings.HasPrefix(base, s+"_") {
			return i, true
		}
	}
	if strings.HasPrefix(base, "cache") || slices.Contains(shared, name) {
		return -1, true
	}
	return -1, false
}

// noImports lets the package be type-checked on its own: what comes from
// other packages stays unresolved, which does not matter here, since
// only the package's own functions and variables are looked at.
type noImports struct{}

func (noImports) Import(string) (*types.Package, error) { return nil, errors.New("not loaded") }

// TestStagesPointOneWay holds the builder to its stages (see the package
// documentation): no function or package variable of a stage is used by
// the files of an earlier stage. A file that belongs to no group fails
// too, so that a new file is placed on purpose.
func TestStagesPointOneWay(t *testing.T) {
	fset := token.NewFileSet()
	names, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	var files []*ast.File
	for _, name := range names {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		if _, ok := fileGroup(name); !ok {
			t.Errorf("%s belongs to no stage, nor to the shared files: name it after its stage (plan_*.go, compile_*.go, …) or add it to shared", name)
		}
		f, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
		if err != nil {
			t.Fatal(err)
		}
		files = append(files, f)
	}
	info := &types.Info{Uses: map[*ast.Ident]types.Object{}}
	conf := types.Config{Importer: noImports{}, Error: func(error) {}}
	pkg, _ := conf.Check("builder", fset, files, info)

	var wrong []string
	seen := 0 // uses across files of different groups, to show the check saw the code
	for id, obj := range info.Uses {
		switch o := obj.(type) {
		case *types.Func:
		case *types.Var:
			if o.Parent() != pkg.Scope() {
				continue
			}
		default:
			continue
		}
		if obj.Pkg() != pkg || !obj.Pos().IsValid() {
			continue
		}
		use, decl := fset.Position(id.Pos()), fset.Position(obj.Pos())
		from, _ := fileGroup(filepath.Base(use.Filename))
		to, _ := fileGroup(filepath.Base(decl.Filename))
		if use.Filename != decl.Filename {
			seen++
		}
		if from >= 0 && to > from {
			wrong = append(wrong, fmt.Sprintf("%s:%d: %s of %s: the %s stage uses the %s stage, which comes after it",
				filepath.Base(use.Filename), use.Line, obj.Name(), filepath.Base(decl.Filename), stageOrder[from], stageOrder[to]))
		}
	}
	slices.Sort(wrong)
	for _, w := range wrong {
		t.Error(w)
	}
	if seen < 500 {
		t.Fatalf("only %d uses across files resolved: the package was not type-checked", seen)
	}
}

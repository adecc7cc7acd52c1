package less

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/scdtool/scd/source"
)

// expLayersLookup is a first-match resolver over a job's layers, as the
// builder resolves logical paths.
func expLayersLookup(ls []source.Layer) Lookup {
	return func(p string) (string, []byte, bool) {
		for _, l := range ls {
			rest, ok := strings.CutPrefix(p, l.Prefix)
			if !ok {
				continue
			}
			if l.Skip != "" && (rest == l.Skip || strings.HasPrefix(rest, l.Skip+"/")) {
				continue
			}
			f := filepath.Join(l.Dir, filepath.FromSlash(rest))
			if fi, err := os.Stat(f); err == nil && fi.Mode().IsRegular() {
				b, err := os.ReadFile(f)
				if err != nil {
					return "", nil, false
				}
				return f, b, true
			}
		}
		return "", nil, false
	}
}

// expMagentoJob returns the lookup and collector of the job (area, theme,
// locale) of a Magento project.
func expMagentoJob(t testing.TB, m *source.Magento, area, theme, locale string) (Lookup, Collect) {
	t.Helper()
	chain := m.Chain(area, theme)
	if chain == nil {
		t.Fatalf("no theme %s/%s", area, theme)
	}
	d := Dirs{Area: area, Lib: filepath.Join(m.Root, "lib", "web")}
	for _, mod := range m.Modules() {
		d.Modules = append(d.Modules, ModuleDir{Name: mod.Name, Dir: mod.Dir})
	}
	for _, th := range chain {
		d.Themes = append(d.Themes, th.Path)
	}
	return expLayersLookup(m.Layers(area, chain, locale)), d.Collect
}

// TestExpandRealMagento expands luma's and blank's roots on a real
// Magento tree named by SCD_MAGENTO_TREE (a Composer-installed 2.4 project).
func TestExpandRealMagento(t *testing.T) {
	root := os.Getenv("SCD_MAGENTO_TREE")
	if root == "" {
		t.Skip("SCD_MAGENTO_TREE is not set")
	}
	m, err := source.LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, theme := range []string{"Magento/blank", "Magento/luma"} {
		lookup, collect := expMagentoJob(t, m, "frontend", theme, "en_US")
		// The job's logical paths, for Roots.
		var paths []string
		for _, l := range m.Layers("frontend", m.Chain("frontend", theme), "en_US") {
			_ = filepath.WalkDir(l.Dir, func(p string, d os.DirEntry, err error) error {
				if err != nil {
					return nil
				}
				rel, _ := filepath.Rel(l.Dir, p)
				rel = filepath.ToSlash(rel)
				if d.IsDir() {
					if l.Skip != "" && rel == l.Skip {
						return filepath.SkipDir
					}
					return nil
				}
				paths = append(paths, l.Prefix+rel)
				return nil
			})
		}
		roots := Roots(paths)
		t.Logf("%s: %d logical paths, roots %q", theme, len(paths), roots)
		for _, r := range roots {
			start := time.Now()
			x, err := Expand(r, lookup, collect)
			took := time.Since(start)
			if err != nil {
				t.Errorf("%s %s: %v", theme, r, err)
				continue
			}
			n := 0
			for _, b := range x.Files {
				n += len(b)
			}
			t.Logf("%s %s: %d files, %d bytes, %d warnings, %v", theme, r, len(x.Files), n, len(x.Warnings), took)
			for _, w := range x.Warnings {
				t.Logf("  warning: %v", w)
			}
			if dir := os.Getenv("SCD_EXPAND_OUT"); dir != "" {
				for p, b := range x.Files {
					f := filepath.Join(dir, theme, filepath.FromSlash(p))
					if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(f, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

package builder_test

import (
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
)

// treeSums lists the files of an output tree with their sha256, build.json
// left out (it names the output's place in its configuration digest).
func treeSums(t *testing.T, dir string) map[string]string {
	t.Helper()
	sums := map[string]string{}
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		if rel == "build.json" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		s := sha256.Sum256(data)
		sums[filepath.ToSlash(rel)] = hex.EncodeToString(s[:])
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return sums
}

// sameTree requires got to hold the files of want with their sums, and
// nothing else.
func sameTree(t *testing.T, what string, got, want map[string]string) {
	t.Helper()
	n := 0
	for p, s := range want {
		if got[p] != s && n < 10 {
			t.Errorf("%s: %s differs or is missing", what, p)
			n++
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok && n < 10 {
			t.Errorf("%s: %s should not be there", what, p)
			n++
		}
	}
}

// magentoEdits are the kinds of change a Magento project sees, each made
// to the fixture project at root.
var magentoEdits = []struct {
	name string
	less bool // needs node and less.js
	edit func(t *testing.T, root string)
}{
	{"a module JS file", false, func(t *testing.T, root string) {
		appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", "\n// changed\n")
	}},
	{"a theme override added", false, func(t *testing.T, root string) {
		writeSrc(t, root, "app/design/frontend/Acme/shop/Acme_Checkout/web/js/cart.js", "define([], function () { return 'shop cart'; });\n")
	}},
	{"a theme override removed", false, func(t *testing.T, root string) {
		rm(t, root, "app/design/frontend/Acme/base/Acme_Checkout/web/js/cart.js")
	}},
	{"a locale override added", false, func(t *testing.T, root string) {
		writeSrc(t, root, "app/design/frontend/Acme/shop/web/i18n/fr_FR/images/logo.svg", "<svg xmlns=\"http://www.w3.org/2000/svg\"><text>FR</text></svg>\n")
	}},
	{"a LESS partial", true, func(t *testing.T, root string) {
		appendSrc(t, root, "app/design/frontend/Acme/base/web/css/source/_variables.less", "@acme-text: #111;\n")
	}},
	{"a module's LESS override added", true, func(t *testing.T, root string) {
		writeSrc(t, root, "app/design/frontend/Acme/shop/Acme_Catalog/web/css/source/_module.less", ".acme-catalog { color: red; }\n")
	}},
	{"a module's LESS file added", true, func(t *testing.T, root string) {
		writeSrc(t, root, "vendor/acme/module-reviews/view/frontend/web/css/source/_module.less", ".acme-reviews { margin: 0; }\n")
	}},
	{"a LESS partial shadowed by the child theme", true, func(t *testing.T, root string) {
		writeSrc(t, root, "app/design/frontend/Acme/shop/web/css/source/_variables.less", "@acme-text: #222;\n@acme-gap: 12px;\n")
	}},
	{"a LESS locale override removed", true, func(t *testing.T, root string) {
		rm(t, root, "app/design/frontend/Acme/base/web/i18n/de_DE/css/source/_variables.less")
	}},
	{"a translation row of a module", false, func(t *testing.T, root string) {
		appendSrc(t, root, "app/code/Acme/Catalog/i18n/de_DE.csv", "\"Gallery\",\"Bildergalerie\"\n")
	}},
	{"a translation row of a pack", false, func(t *testing.T, root string) {
		appendSrc(t, root, "app/i18n/acme/de_de/b.csv", "\"Next\",\"Nächste\"\n")
	}},
	{"a language pack's inheritance", false, func(t *testing.T, root string) {
		data, err := os.ReadFile(filepath.Join(root, "app/i18n/acme/de_de/language.xml"))
		if err != nil {
			t.Fatal(err)
		}
		writeSrc(t, root, "app/i18n/acme/de_de/language.xml", strings.Replace(string(data), "<use", "<!-- <use", 1)+"")
		data, _ = os.ReadFile(filepath.Join(root, "app/i18n/acme/de_de/language.xml"))
		writeSrc(t, root, "app/i18n/acme/de_de/language.xml", strings.Replace(string(data), "/>", "/> -->", 1))
	}},
	{"theme.xml's parent", false, func(t *testing.T, root string) {
		data, err := os.ReadFile(filepath.Join(root, "app/design/frontend/Acme/shop/theme.xml"))
		if err != nil {
			t.Fatal(err)
		}
		writeSrc(t, root, "app/design/frontend/Acme/shop/theme.xml", strings.Replace(string(data), "<parent>Acme/base</parent>", "", 1))
	}},
	{"a requirejs-config.js", false, func(t *testing.T, root string) {
		appendSrc(t, root, "app/code/Acme/Ui/view/frontend/requirejs-config.js", "\nconfig.deps = ['Acme_Ui/js/tabs'];\n")
	}},
	{"the module order", false, func(t *testing.T, root string) {
		data, err := os.ReadFile(filepath.Join(root, "app/etc/config.php"))
		if err != nil {
			t.Fatal(err)
		}
		s := strings.Replace(string(data), "        'Acme_Ui' => 1,\n", "", 1)
		writeSrc(t, root, "app/etc/config.php", strings.Replace(s, "        'Acme_Reviews' => 1,\n", "        'Acme_Reviews' => 1,\n        'Acme_Ui' => 1,\n", 1))
	}},
	{"a deleted file", false, func(t *testing.T, root string) {
		rm(t, root, "app/code/Acme/Ui/view/frontend/web/template/modal.html")
	}},
}

func rm(t *testing.T, root, rel string) {
	t.Helper()
	if err := os.Remove(filepath.Join(root, rel)); err != nil {
		t.Fatal(err)
	}
}

// haveLess reports whether node can compile LESS here; without it the
// LESS edits are left out (loudly), except under CI, where it fails.
func haveLess(t *testing.T) bool {
	if _, err := exec.LookPath("node"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is missing: %v", err)
		}
		t.Logf("SKIPPING the LESS edits: node is missing (%v)", err)
		return false
	}
	if _, err := os.Stat(filepath.Join(fixtures.Dir(".."), "builder", "less", "node_modules", "less")); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("less.js is missing (make less-deps): %v", err)
		}
		t.Logf("SKIPPING the LESS edits: less.js is missing (make less-deps)")
		return false
	}
	return true
}

// TestMagentoRebuildEqualsCold: after a cached build of the Magento
// fixture project, each kind of change is rebuilt incrementally, and the
// output must be the one a cold build of the changed sources gives.
func TestMagentoRebuildEqualsCold(t *testing.T) {
	less := haveLess(t)
	for _, e := range magentoEdits {
		t.Run(e.name, func(t *testing.T) {
			skip := builder.Skip{}
			if e.less && !less {
				t.Skip("SKIPPED LOUDLY: no node or less.js")
			}
			if !less {
				skip.CSS = true
			}
			root, tmp := t.TempDir(), t.TempDir()
			if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
				t.Fatal(err)
			}
			out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
			magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
			ageSources(t, root)
			e.edit(t, root)
			magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
			cold := filepath.Join(tmp, "cold")
			magentoBuild(t, root, cold, "", matrix.Filter{}, builder.Options{CacheDir: "", Skip: skip})
			sameTree(t, e.name, treeSums(t, out), treeSums(t, cold))
		})
	}
}

// TestMagentoRandomEditsEqualCold applies random sequences of the edits
// above, rebuilding incrementally after each, and compares with a cold
// build at the end of each sequence.
func TestMagentoRandomEditsEqualCold(t *testing.T) {
	if testing.Short() {
		t.Skip("long")
	}
	less := haveLess(t)
	skip := builder.Skip{CSS: !less}
	r := rand.New(rand.NewPCG(13, 17))
	for seq := range 3 {
		root, tmp := t.TempDir(), t.TempDir()
		if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
			t.Fatal(err)
		}
		out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
		magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
		var names []string
		for _, i := range r.Perm(len(magentoEdits))[:4] {
			e := magentoEdits[i]
			if e.less && !less {
				continue
			}
			ageSources(t, root)
			e.edit(t, root)
			names = append(names, e.name)
			magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
		}
		cold := filepath.Join(tmp, "cold")
		magentoBuild(t, root, cold, "", matrix.Filter{}, builder.Options{CacheDir: "", Skip: skip})
		sameTree(t, "sequence "+string(rune('A'+seq))+": "+strings.Join(names, ", "), treeSums(t, out), treeSums(t, cold))
	}
}

// TestMagentoLessRecalled: a rebuild expands only the LESS roots whose
// inputs changed, and compiles nothing it compiled before.
func TestMagentoLessRecalled(t *testing.T) {
	if !haveLess(t) {
		t.Skip("SKIPPED LOUDLY: no node or less.js")
	}
	root, tmp := t.TempDir(), t.TempDir()
	if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
		t.Fatal(err)
	}
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	o := builder.Options{CacheDir: cache}
	cold := magentoBuild(t, root, out, "", matrix.Filter{}, o).Stats
	if cold.LessExpansions == 0 || cold.LessCompiles == 0 {
		t.Fatalf("cold build: %d expansions, %d compiles; want some", cold.LessExpansions, cold.LessCompiles)
	}
	ageSources(t, root)
	appendSrc(t, root, "app/code/Acme/Catalog/view/frontend/web/js/gallery.js", "\n// changed\n")
	if st := magentoBuild(t, root, out, "", matrix.Filter{}, o).Stats; st.LessExpansions != 0 || st.LessCompiles != 0 {
		t.Errorf("a JS edit: %d expansions, %d compiles; want none", st.LessExpansions, st.LessCompiles)
	}
	// The child theme's override of a partial: the roots of Acme/shop read
	// it, those of Acme/base do not.
	writeSrc(t, root, "app/design/frontend/Acme/shop/web/css/source/_variables.less", "@acme-text: #222;\n@acme-gap: 12px;\n")
	st := magentoBuild(t, root, out, "", matrix.Filter{}, o).Stats
	if st.LessExpansions == 0 || st.LessExpansions >= cold.LessExpansions {
		t.Errorf("a partial of the child theme: %d expansions; want some, fewer than a cold build's %d", st.LessExpansions, cold.LessExpansions)
	}
	if st.LessCompiles == 0 || st.LessCompiles >= cold.LessCompiles {
		t.Errorf("a partial of the child theme: %d compiles; want some, fewer than a cold build's %d", st.LessCompiles, cold.LessCompiles)
	}
	// Undone, the change finds its compiles in the attic: none is made.
	if err := os.Remove(filepath.Join(root, "app/design/frontend/Acme/shop/web/css/source/_variables.less")); err != nil {
		t.Fatal(err)
	}
	if st := magentoBuild(t, root, out, "", matrix.Filter{}, o).Stats; st.LessCompiles != 0 {
		t.Errorf("the partial's override removed again: %d compiles; want none (the attic has them)", st.LessCompiles)
	}
	writeSrc(t, root, "app/design/frontend/Acme/shop/web/css/source/_variables.less", "@acme-text: #222;\n@acme-gap: 12px;\n")
	if st := magentoBuild(t, root, out, "", matrix.Filter{}, o).Stats; st.LessCompiles != 0 {
		t.Errorf("the partial's override added again: %d compiles; want none (the attic has them)", st.LessCompiles)
	}
	// With source maps the compiles are not in the cache, the expansions
	// are: each recalled expansion is made again for its compile, and the
	// output is a cold build's.
	o.SourceMaps = true
	res := magentoBuild(t, root, out, "", matrix.Filter{}, o)
	o.CacheDir = ""
	coldMaps := magentoBuild(t, root, filepath.Join(tmp, "cold"), "", matrix.Filter{}, o).Stats
	if res.UpToDate || res.Stats.LessCompiles != coldMaps.LessCompiles {
		t.Errorf("source maps turned on: up to date %v, %d compiles; want a cold build's %d", res.UpToDate, res.Stats.LessCompiles, coldMaps.LessCompiles)
	}
	sameTree(t, "source maps turned on", treeSums(t, out), treeSums(t, filepath.Join(tmp, "cold")))
}

// TestMagentoConfigChangeEqualsCold: a change to scd's own configuration
// of a Magento project (the names, the sidecars, the locales) rebuilds
// into what a cold build with the new configuration gives.
func TestMagentoConfigChangeEqualsCold(t *testing.T) {
	skip := builder.Skip{CSS: !haveLess(t)}
	root, tmp := t.TempDir(), t.TempDir()
	if err := fixtures.CopyDir(fixtures.Dir("magento"), root); err != nil {
		t.Fatal(err)
	}
	out, cache := filepath.Join(tmp, "out"), filepath.Join(tmp, "cache")
	magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
	for i, yml := range []string{
		"magento_root: .\nnames: hashed\n",
		"magento_root: .\nnames: hashed\ncompression: [gzip]\n",
		"magento_root: .\ncompression: [br, zstd]\ncompression_levels: {br: 4}\n",
		"magento_root: .\nlocales: [en_US, de_DE]\n",
	} {
		magentoBuild(t, root, out, yml, matrix.Filter{}, builder.Options{CacheDir: cache, Skip: skip})
		cold := filepath.Join(tmp, "cold"+strings.Repeat("x", i))
		magentoBuild(t, root, cold, yml, matrix.Filter{}, builder.Options{Skip: skip})
		sameTree(t, strings.ReplaceAll(yml, "\n", "; "), treeSums(t, out), treeSums(t, cold))
	}
}

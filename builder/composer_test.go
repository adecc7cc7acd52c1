package builder_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
)

// TestComposerLayoutSameBytes builds the Magento fixture project as it is
// (modules in app/code, themes in app/design, packs in app/i18n) and laid
// out as a Composer install — modules, the parent theme and a language
// pack under vendor/, found through vendor/composer/installed.json, one
// module through a path repository outside vendor/ — and requires the
// same output, byte for byte.
func TestComposerLayoutSameBytes(t *testing.T) {
	fixture := fixtures.Dir("magento")
	appRoot := t.TempDir()
	copyTree(t, fixture, appRoot)

	composerRoot := t.TempDir()
	copyTree(t, fixture, composerRoot)
	moves := []struct{ from, to string }{
		{"app/code/Acme/Catalog", "vendor/acme/module-catalog"},
		{"app/code/Acme/Checkout", "vendor/acme/module-checkout"},
		{"app/code/Acme/Legacy", "vendor/acme/module-legacy"},
		{"app/code/Acme/Ui", "packages/acme-ui"}, // a path repository
		{"app/design/frontend/Acme/base", "vendor/acme/theme-frontend-base"},
		{"app/i18n/acme/de_de", "vendor/acme/language-de_de"},
	}
	for _, m := range moves {
		to := filepath.Join(composerRoot, m.to)
		if err := os.MkdirAll(filepath.Dir(to), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(composerRoot, m.from), to); err != nil {
			t.Fatal(err)
		}
	}
	installed := `{"packages": [
  {"name": "acme/module-catalog", "type": "magento2-module", "install-path": "../acme/module-catalog", "autoload": {"files": ["registration.php"]}},
  {"name": "acme/module-checkout", "type": "magento2-module", "install-path": "../acme/module-checkout", "autoload": {"files": ["registration.php"]}},
  {"name": "acme/module-legacy", "type": "magento2-module", "install-path": "../acme/module-legacy", "autoload": {"files": ["registration.php"]}},
  {"name": "acme/module-ui", "type": "magento2-module", "install-path": "../../packages/acme-ui", "autoload": {"files": ["registration.php"]}},
  {"name": "acme/theme-frontend-base", "type": "magento2-theme", "install-path": "../acme/theme-frontend-base", "autoload": {"files": ["registration.php"]}},
  {"name": "acme/language-de_de", "type": "magento2-language", "install-path": "../acme/language-de_de", "autoload": {"files": ["registration.php"]}}
]}`
	if err := os.MkdirAll(filepath.Join(composerRoot, "vendor", "composer"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(composerRoot, "vendor", "composer", "installed.json"), []byte(installed), 0o644); err != nil {
		t.Fatal(err)
	}

	// build.json names where the themes are (its configuration digest):
	// its id, a digest of every other file, must agree, and every other
	// file must be the same.
	build := func(root string) (map[string]string, string) {
		t.Helper()
		// No LESS here (it needs node; build__magento_less covers it):
		// everything else the project publishes is compared.
		out := filepath.Join(t.TempDir(), "static")
		magentoBuild(t, root, out, "", matrix.Filter{}, builder.Options{Skip: builder.Skip{CSS: true}})
		data, err := os.ReadFile(filepath.Join(out, "build.json"))
		if err != nil {
			t.Fatal(err)
		}
		return treeSums(t, out), buildIDOf(t, string(data))
	}
	a, ida := build(appRoot)
	b, idb := build(composerRoot)
	if len(a) < 100 {
		t.Fatalf("only %d files built from the app/ layout", len(a))
	}
	if ida != idb {
		t.Errorf("build ids differ: %s (app/) and %s (Composer)", ida, idb)
	}
	sameTree(t, "the Composer layout", b, a)
}

// buildIDOf reads the id of a build.json.
func buildIDOf(t *testing.T, data string) string {
	t.Helper()
	var bm struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(data), &bm); err != nil || bm.ID == "" {
		t.Fatalf("build.json: %v", err)
	}
	return bm.ID
}

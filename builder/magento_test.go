package builder_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/scdtool/scd/builder"
	"github.com/scdtool/scd/fixtures"
	"github.com/scdtool/scd/matrix"
	"github.com/scdtool/scd/source"
)

// realworldDir is shared/realworld beside the repository's clone; a test
// that needs it skips loudly without it, except under CI, where it fails.
func realworldDir(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	dir := filepath.Join(filepath.Dir(file), "..", "..", "shared", "realworld")
	if _, err := os.Stat(dir); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("shared/realworld is missing beside the clone: %v", err)
		}
		t.Skipf("SKIPPED LOUDLY: shared/realworld is missing beside the clone (%v); this test reads the real Arabic pack from it", err)
	}
	return dir
}

// copyTree copies src into dst as writable files.
func copyTree(t *testing.T, src, dst string) {
	t.Helper()
	if err := fixtures.CopyDir(src, dst); err != nil {
		t.Fatal(err)
	}
}

// magentoBuild builds the Magento project at root into out as scd does
// with the matrix file yml ("" = just magento_root), narrowed by f; o gives
// the other options (cache, skips).
func magentoBuild(t *testing.T, root, out, yml string, f matrix.Filter, o builder.Options) *builder.Result {
	t.Helper()
	if yml == "" {
		yml = "magento_root: .\n"
	}
	m, err := source.LoadMagento(root)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := matrix.Parse("themes.yml", root, []byte(yml))
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Configure(cfg); err != nil {
		t.Fatal(err)
	}
	jobs, err := cfg.Jobs(f)
	if err != nil {
		t.Fatal(err)
	}
	o.Config, o.Jobs, o.Layout, o.Output, o.WorkDir = cfg, jobs, m, out, root
	o.Threads, o.Version = 2, "test"
	res, err := builder.Build(context.Background(), o)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

// TestMagentoRealPack installs the published Arabic pack of shared/realworld
// into the Magento fixture project, as app/i18n/mageplaza/ar_sa, and builds
// it: the pack loads, and the job's js-translation.json holds, for the
// phrases its JS and templates use, the translation of the pack's last row
// of each phrase (the modules' and themes' dictionaries have no ar_SA).
func TestMagentoRealPack(t *testing.T) {
	rw := realworldDir(t)
	root := t.TempDir()
	copyTree(t, fixtures.Dir("magento"), root)
	copyTree(t, filepath.Join(rw, "mageplaza-ar_SA"), filepath.Join(root, "app", "i18n", "mageplaza", "ar_sa"))
	phrases := []string{"Add to Cart", "Shopping Cart", "Proceed to Checkout", "Close", "Next", "Order Summary"}
	var calls []string
	for _, p := range phrases {
		calls = append(calls, "$t('"+p+"')")
	}
	js := "define(['mage/translate'], function ($t) { return [" + strings.Join(calls, ", ") + "]; });\n"
	mod := filepath.Join(root, "app", "code", "Acme", "Ui", "view", "frontend", "web", "js", "pack.js")
	if err := os.WriteFile(mod, []byte(js), 0o644); err != nil {
		t.Fatal(err)
	}

	out := filepath.Join(t.TempDir(), "static")
	magentoBuild(t, root, out, "magento_root: .\ncompression: []\nlocales: [ar_SA]\n",
		matrix.Filter{Themes: []string{"Acme/shop"}}, builder.Options{})

	// The pack's last row of each phrase, read independently. The pack
	// escapes quotes inside quoted fields with a backslash, as PHP's
	// fgetcsv allows; hiding them lets encoding/csv read it.
	data, err := os.ReadFile(filepath.Join(rw, "mageplaza-ar_SA", "ar_SA.csv"))
	if err != nil {
		t.Fatal(err)
	}
	r := csv.NewReader(strings.NewReader(strings.ReplaceAll(string(data), `\"`, "\x00")))
	r.FieldsPerRecord = -1
	rows, err := r.ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{}
	for _, row := range rows {
		if len(row) >= 2 {
			want[strings.ReplaceAll(row[0], "\x00", `\"`)] = strings.ReplaceAll(row[1], "\x00", `\"`)
		}
	}

	var got map[string]string
	raw, err := os.ReadFile(filepath.Join(out, "frontend", "Acme", "shop", "ar_SA", "js-translation.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &got); err != nil {
		t.Fatal(err)
	}
	built, err := os.ReadFile(filepath.Join(out, "frontend", "Acme", "shop", "ar_SA", "Acme_Ui", "js", "pack.js"))
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range phrases {
		w, ok := want[p]
		if !ok {
			t.Fatalf("the pack has no row for %q", p)
		}
		if got[p] != w {
			t.Errorf("js-translation.json[%q] = %q, want the pack's last row %q", p, got[p], w)
		}
		if !strings.Contains(string(built), w) {
			t.Errorf("pack.js does not hold the translation %q of %q:\n%s", w, p, built)
		}
	}
}

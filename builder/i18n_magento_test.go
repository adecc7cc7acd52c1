package builder_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/scdtool/scd/manifest"
)

// magentoAMD is the i18n package's test module: a Magento-style AMD module
// that uses $t and $.mage.__ in every way a minifier transforms (see
// builder/i18n/testdata/amd). magentoHarness runs a built copy under node
// with a stub define and runtime translate functions that mark what they
// translate ("rt:"), and prints what each function returns.
var magentoAMD, magentoHarness = readAMD("module.js"), readAMD("harness.js")

func readAMD(name string) string {
	data, err := os.ReadFile(filepath.Join("i18n", "testdata", "amd", name))
	if err != nil {
		panic(err)
	}
	return string(data)
}

// magentoDE is a de_DE dictionary with the rows real language packs have:
// context columns of every kind, a row of one field, a phrase repeated.
const magentoDE = `On,An,module,Magento_Catalog
Off,Aus,theme,frontend/Magento/blank
Yes,Ja,,
No,Nein,lib,lib/web/mage/calendar.js
Default,Standard,Magento_Catalog
Enabled,Aktiv,module,Magento_Ui,extra
"Done","Fertig"
lonely
First,Erste
Second,Zweite
Hoisted,Hochgezogen
Inner,Innen
Template,Vorlage
Mage phrase,Mage-Satz
"jQuery phrase",jQuery-Satz,module,Magento_Theme
Same,Falsch
Same,Gleich,module,Magento_Catalog
`

// TestMagentoTranslation builds the module as an entry (bundled and
// minified by esbuild) and as a module published on its own (minified by
// tdewolff/minify), with embedded translation, and runs both under node:
// every literal call must give its translation, whatever the minifier did
// to the calls, and the others must still call the runtime functions.
func TestMagentoTranslation(t *testing.T) {
	node := needNode(t)
	dir := t.TempDir()
	write := func(rel, data string) {
		t.Helper()
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("themes.yml", `source: app/design
output: build
entries: [js/app.js]
themes:
  - name: Acme/t
    area: frontend
    locales: [en_US, de_DE]
`)
	theme := "app/design/frontend/Acme/t/"
	write(theme+"web/js/app.js", magentoAMD)
	write(theme+"web/js/view/toggle.js", magentoAMD)
	write(theme+"i18n/de_DE.csv", magentoDE)

	out := filepath.Join(t.TempDir(), "static")
	res, err := buildSample(t, dir, out, 2)
	if err != nil {
		t.Fatal(err)
	}
	// The row of one field is skipped with a warning naming it; nothing
	// else warns (no call fell back to the runtime).
	var lonely int
	for _, w := range res.Warnings {
		if strings.Contains(w.Error(), "de_DE.csv:8:1: ") && strings.Contains(w.Error(), "single field") {
			lonely++
			continue
		}
		t.Errorf("warning: %v", w)
	}
	if lonely == 0 {
		t.Error("no warning for the dictionary row of one field (line 8)")
	}

	runtime := map[string]string{"nested": "rt:", "variable": "rt:Var", "concat": "rt:Hello you", "orFull": "x", "andFalse": "false"}
	want := map[string]map[string]string{
		"de_DE": {
			"ternaryOn": "An", "ternaryOff": "Aus", "yes": "Ja", "no": "Nein", "orEmpty": "Standard",
			"andTrue": "Aktiv", "sequence": "Fertig", "sequence2": "Zweite", "hoisted": "Hochgezogen", "nested": "rt:Innen",
			"template": "Vorlage", "mage": "Mage-Satz", "jquery": "jQuery-Satz", "sameA": "Gleich", "sameB": "Gleich",
			"missing": "Untranslated",
		},
		"en_US": {
			"ternaryOn": "On", "ternaryOff": "Off", "yes": "Yes", "no": "No", "orEmpty": "Default",
			"andTrue": "Enabled", "sequence": "Done", "sequence2": "Second", "hoisted": "Hoisted", "nested": "rt:Inner",
			"template": "Template", "mage": "Mage phrase", "jquery": "jQuery phrase", "sameA": "Same", "sameB": "Same",
			"missing": "Untranslated",
		},
	}
	for locale, w := range want {
		for k, v := range runtime {
			if _, ok := w[k]; !ok {
				w[k] = v
			}
		}
		jobDir := filepath.Join(out, "frontend", "Acme", "t", locale)
		m, err := manifest.ReadManifest(jobDir)
		if err != nil {
			t.Fatal(err)
		}
		for _, file := range []string{"js/app.js", "js/view/toggle.js"} {
			t.Run(locale+"/"+file, func(t *testing.T) {
				a, ok := m[file]
				if !ok {
					t.Fatalf("%s is not in the manifest", file)
				}
				p := filepath.Join(jobDir, a.File)
				code := mustRead(t, p)
				if strings.Contains(code, "__scd_t") {
					t.Errorf("a marker is left in %s:\n%s", file, code)
				}
				res, err := exec.Command(node, "-e", magentoHarness, p).CombinedOutput()
				if err != nil {
					t.Fatalf("node: %v\n%s\n%s", err, res, code)
				}
				var got map[string]string
				if err := json.Unmarshal(res, &got); err != nil {
					t.Fatalf("node printed %q: %v", res, err)
				}
				for k, v := range w {
					if got[k] != v {
						t.Errorf("%s() = %q, want %q", k, got[k], v)
					}
				}
				if t.Failed() {
					t.Logf("%s:\n%s", file, code)
				}
			})
		}
	}

	// js-translation.json holds the translated phrases the JS uses, the
	// inner phrase of the nested call included.
	var tr map[string]string
	jobDir := filepath.Join(out, "frontend", "Acme", "t", "de_DE")
	if err := json.Unmarshal([]byte(mustRead(t, filepath.Join(jobDir, manifest.TranslationFile))), &tr); err != nil {
		t.Fatal(err)
	}
	for ph, want := range map[string]string{"On": "An", "Off": "Aus", "Inner": "Innen", "Mage phrase": "Mage-Satz", "jQuery phrase": "jQuery-Satz", "Same": "Gleich", "Template": "Vorlage"} {
		if tr[ph] != want {
			t.Errorf("js-translation.json[%q] = %q, want %q", ph, tr[ph], want)
		}
	}
	if _, ok := tr["lonely"]; ok {
		t.Error("the row of one field made it into js-translation.json")
	}
}

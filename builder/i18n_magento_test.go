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

// magentoAMD is a Magento-style AMD module that uses $t and $.mage.__ in
// every way a minifier transforms: both branches of ?: (which a minifier
// folds into one call), || and &&, comma sequences, a hoisted function,
// nested calls, a template literal, the AMD parameters $t and $ (which a
// minifier renames), and arguments known only at run time.
const magentoAMD = `define(['jquery', 'mage/translate'], function ($, $t) {
    'use strict';
    var selected = [1, 2];
    function note() { return hoisted(); }
    var r = {
        ternary: function (id) { return selected.indexOf(id) !== -1 ? $t('On') : $t('Off'); },
        ifElse: function (c) { if (c) { return $t('Yes'); } else { return $t('No'); } },
        or: function (v) { return v || $t('Default'); },
        and: function (v) { return v && $t('Enabled'); },
        sequence: function (f) { return (f(), $t('Done')); },
        sequence2: function () { var a = ($t('First'), $t('Second')); return a; },
        hoisted: function () { return note(); },
        nested: function () { return $t($t('Inner')); },
        template: function () { return $t(` + "`Template`" + `); },
        mage: function () { return $.mage.__('Mage phrase'); },
        jquery: function () { return jQuery.mage.__("jQuery phrase"); },
        variable: function (v) { return $t(v); },
        concat: function (v) { return $t('Hello ' + v); },
        same: function (c) { return c ? $t('Same') : $t('Same'); },
        missing: function () { return $t('Untranslated'); }
    };
    function hoisted() { return $t('Hoisted'); }
    return r;
});
`

// magentoHarness runs the module in the file argv[1] under node with a stub
// define, and runtime translate functions that mark what they translate
// ("rt:"); it prints what each of the module's functions returns.
const magentoHarness = `
let mod;
globalThis.define = (deps, f) => {
  const $t = (s) => 'rt:' + s;
  const $ = { mage: { __: (s) => 'rt$:' + s } };
  globalThis.jQuery = $;
  mod = f(...deps.map((d) => ({ jquery: $, 'mage/translate': $t })[d]));
};
require(process.argv[1]);
process.stdout.write(JSON.stringify({
  ternaryOn: mod.ternary(1), ternaryOff: mod.ternary(3), yes: mod.ifElse(true), no: mod.ifElse(false),
  orEmpty: mod.or(''), orFull: mod.or('x'), andTrue: mod.and(true), andFalse: String(mod.and(false)),
  sequence: mod.sequence(function () {}), sequence2: mod.sequence2(), hoisted: mod.hoisted(), nested: mod.nested(),
  template: mod.template(), mage: mod.mage(), jquery: mod.jquery(), variable: mod.variable('Var'),
  concat: mod.concat('you'), sameA: mod.same(true), sameB: mod.same(false), missing: mod.missing(),
}));
`

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

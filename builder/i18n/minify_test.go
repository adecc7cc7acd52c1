package i18n

import (
	"encoding/json"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"
	"github.com/tdewolff/minify/v2"
	minjs "github.com/tdewolff/minify/v2/js"
)

// amdModule (testdata/amd/module.js, also built by the builder's tests)
// uses $t and $.mage.__ in every way Magento code does that a minifier
// transforms: calls in both branches of ?: (folded into one call by a
// minifier), after || and &&, in comma sequences, in a hoisted function,
// nested, with a template literal, through the AMD parameters $t and $
// (renamed by a minifier), and with arguments known only at run time.
//
// amdHarness (testdata/amd/harness.js) runs the module in the file named
// by argv[1] under node with a stub define and runtime translate functions
// that mark what they translate ("rt:"), and prints what each function
// returns.
var amdModule, amdHarness = mustReadTestdata("amd/module.js"), mustReadTestdata("amd/harness.js")

func mustReadTestdata(name string) string {
	data, err := os.ReadFile(filepath.Join("testdata", filepath.FromSlash(name)))
	if err != nil {
		panic(err)
	}
	return string(data)
}

var amdDE = map[string]string{
	"On": "An", "Off": "Aus", "Yes": "Ja", "No": "Nein", "Default": "Standard", "Enabled": "Aktiv",
	"Done": "Fertig", "First": "Erste", "Second": "Zweite", "Hoisted": "Hochgezogen", "Inner": "Innen",
	"Template": "Vorlage", "Mage phrase": "Mage-Satz", "jQuery phrase": "jQuery-Satz", "Same": "Gleich",
	`It's "quoted"`: `Es ist "zitiert"`,
}

// amdWant is what amdHarness prints for the module translated with amdDE:
// every literal call translated at build time, the others left to the
// runtime functions.
var amdWant = map[string]string{
	"ternaryOn": "An", "ternaryOff": "Aus", "yes": "Ja", "no": "Nein", "orEmpty": "Standard", "orFull": "x",
	"andTrue": "Aktiv", "andFalse": "false", "sequence": "Fertig", "sequence2": "Zweite", "hoisted": "Hochgezogen",
	"nested": "rt:Innen", "template": "Vorlage", "mage": "Mage-Satz", "jquery": "jQuery-Satz", "variable": "rt:Var",
	"concat": "rt:Hello you", "sameA": "Gleich", "sameB": "Gleich", "missing": "Untranslated",
	"escaped": `Es ist "zitiert"`,
}

// runAMD runs code as the module of amdHarness and returns what it printed.
func runAMD(t *testing.T, node, code string) map[string]string {
	t.Helper()
	file := t.TempDir() + "/module.js"
	if err := os.WriteFile(file, []byte(code), 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(node, "-e", amdHarness, file).CombinedOutput()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, out, code)
	}
	var got map[string]string
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node printed %q: %v", out, err)
	}
	return got
}

// TestMarkSurvivesMinifiers marks the module, minifies it with each
// minifier scd uses, translates, and runs the result.
func TestMarkSurvivesMinifiers(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not on PATH")
	}
	minifiers := map[string]func(string) (string, error){
		"tdewolff": func(src string) (string, error) {
			m := minify.New()
			m.Add("js", &minjs.Minifier{})
			return m.String("js", src)
		},
		"esbuild": func(src string) (string, error) {
			r := api.Transform(src, api.TransformOptions{MinifyWhitespace: true, MinifyIdentifiers: true, MinifySyntax: true})
			if len(r.Errors) > 0 {
				return "", &esbuildError{r.Errors[0].Text}
			}
			return string(r.Code), nil
		},
	}
	if got := runAMD(t, node, amdModule); got["ternaryOn"] != "rt:On" || got["mage"] != "rt$:Mage phrase" {
		t.Fatalf("the harness does not run the source as expected: %v", got)
	}
	tr := func(p string) (string, bool) { v, ok := amdDE[p]; return v, ok }
	marked, ok := MarkJS([]byte(amdModule))
	if !ok {
		t.Fatal("nothing marked")
	}
	for _, name := range slices.Sorted(maps.Keys(minifiers)) {
		t.Run(name, func(t *testing.T) {
			min, err := minifiers[name](string(marked))
			if err != nil {
				t.Fatal(err)
			}
			// The minifier did rename $t and $, and folded what it could.
			if strings.Contains(min, "$t") || strings.Contains(min, "$.mage") {
				t.Fatalf("%s kept $t or $: the test does not test renaming\n%s", name, min)
			}
			out, missing, fallbacks := TranslateJS([]byte(min), tr)
			if len(fallbacks) > 0 {
				t.Errorf("fallbacks: %+v\n%s", fallbacks, min)
			}
			if !slices.Equal(missing, []string{"Untranslated"}) {
				t.Errorf("missing = %q", missing)
			}
			if strings.Contains(string(out), Marker) {
				t.Fatalf("a marker is left:\n%s", out)
			}
			got := runAMD(t, node, string(out))
			for k, want := range amdWant {
				if got[k] != want {
					t.Errorf("%s() = %q, want %q", k, got[k], want)
				}
			}
			if t.Failed() || testing.Verbose() {
				t.Logf("minified:\n%s\ntranslated:\n%s", min, out)
			}
		})
	}
	// The same module minified without marking shows what marking
	// prevents: tdewolff folds `c ? $t('On') : $t('Off')` into one call.
	unmarked, err := minifiers["tdewolff"](amdModule)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(unmarked, `?"On":"Off")`) {
		t.Logf("tdewolff no longer folds the ternary: %s", unmarked)
	}
}

// TestFallbackUnderNode checks that a marked call the substitution cannot
// translate still calls the runtime function, with the minifier's names.
func TestFallbackUnderNode(t *testing.T) {
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("SKIPPED: node is not on PATH")
	}
	marked, _ := MarkJS([]byte(amdModule))
	m := minify.New()
	m.Add("js", &minjs.Minifier{})
	min, err := m.String("js", string(marked))
	if err != nil {
		t.Fatal(err)
	}
	// Break one marked call's argument as a minifier might: ("On") → ("O"+"n").
	i := strings.Index(min, `("On")`)
	if i < 0 {
		t.Fatalf("no (\"On\") in %s", min)
	}
	min = min[:i] + `("O"+"n")` + min[i+len(`("On")`):]
	out, _, fallbacks := TranslateJS([]byte(min), func(p string) (string, bool) { v, ok := amdDE[p]; return v, ok })
	lines := strings.Split(amdModule, "\n")
	col := strings.Index(lines[5], "$t('On')") + 1
	if len(fallbacks) != 1 || fallbacks[0].Line != 6 || fallbacks[0].Col != col {
		t.Fatalf("fallbacks = %+v, want one at 6:%d (where $t('On') is)", fallbacks, col)
	}
	got := runAMD(t, node, string(out))
	if got["ternaryOn"] != "rt:On" || got["ternaryOff"] != "Aus" || got["yes"] != "Ja" {
		t.Fatalf("got %v", got)
	}
}

type esbuildError struct{ msg string }

func (e *esbuildError) Error() string { return e.msg }

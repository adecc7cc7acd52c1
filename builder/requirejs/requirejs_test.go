package requirejs

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/evanw/esbuild/pkg/api"

	"github.com/scdtool/scd/diag"
)

// magentoText is the file Magento writes for these contents, unminified:
// the reference the minified file must behave like.
func magentoText(data [][]byte) []byte {
	var b bytes.Buffer
	b.WriteString(fullHead)
	for _, d := range data {
		b.WriteString(partialHead)
		b.Write(d)
		b.WriteString(partialTail)
	}
	b.WriteString(fullTail)
	return b.Bytes()
}

// named returns one File per content, named a.js, b.js, ...
func named(n int) []File {
	files := make([]File, n)
	for i := range files {
		files[i] = File{Name: string(rune('a'+i)) + ".js"}
	}
	return files
}

func TestMergeData(t *testing.T) {
	tests := []struct {
		name string
		in   []string
		want string
	}{
		{"no files: the empty wrapper Magento writes", nil,
			`(function(require){})(require);` + "\n"},
		{"one file", []string{"/** c */\nvar config = {\n    paths: {'a': 'b'}\n};\n"},
			`(function(require){(function(){var config={paths:{a:"b"}};require.config(config)})();})(require);` + "\n"},
		{"files kept in order, each in its own function", []string{
			"var config = {deps: ['one']};",
			"var config = {deps: ['two']};\nconfig.deps.push('three');",
		},
			`(function(require){(function(){var config={deps:["one"]};require.config(config)})();` +
				`(function(){var config={deps:["two"]};config.deps.push("three"),require.config(config)})();})(require);` + "\n"},
		{"an empty file still calls require.config", []string{""},
			`(function(require){(function(){require.config(config)})();})(require);` + "\n"},
		{"a return in the file returns from its wrapper, as in Magento", []string{"var config = {};\nif (window.x) { return; }"},
			`(function(require){(function(){var config={};window.x||require.config(config)})();})(require);` + "\n"},
		{"CRLF, BOM and a last line comment", []string{"\ufeffvar config = {\r\n  map: {'*': {x: 'y'}}\r\n}; // end"},
			`(function(require){(function(){var config={map:{"*":{x:"y"}}};require.config(config)})();})(require);` + "\n"},
		{"a file that closes Magento's wrapper itself ends with its statements", []string{
			"var config = {};\nrequire.config(config);\n})(); (function() {\nvar config = {deps: ['x']};"},
			`(function(require){(function(){var config={};require.config(config)})(),(function(){var config={deps:["x"]};require.config(config)})();})(require);` + "\n"},
		{"a string first is never a directive of the outer function", []string{
			"})();\n'use strict'.replace(a, b);\n(function() {\nvar config = {};"},
			`(function(require){;"use strict".replace(a,b),(function(){var config={};require.config(config)})();})(require);` + "\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := make([][]byte, len(tt.in))
			for i, s := range tt.in {
				data[i] = []byte(s)
			}
			got, err := MergeData(named(len(data)), data)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("got\n%s\nwant\n%s", got, tt.want)
			}
			again, _ := MergeData(named(len(data)), data)
			if !bytes.Equal(got, again) {
				t.Error("two merges of the same files differ")
			}
			mustParse(t, got)
			mustParse(t, magentoText(data))
		})
	}
}

func mustParse(t testing.TB, js []byte) {
	t.Helper()
	if r := api.Transform(string(js), api.TransformOptions{LogLevel: api.LogLevelSilent}); len(r.Errors) > 0 {
		t.Fatalf("does not parse: %s\n%s", r.Errors[0].Text, js)
	}
}

func TestMergeDataErrors(t *testing.T) {
	ok := "var config = {\n    paths: {'a': 'b'}\n};\n"
	tests := []struct {
		name    string
		in      []string
		want    []diag.Error // File, Line, Col, Source and a part of Msg
		wantMsg []string
	}{
		{"a syntax error in the second file", []string{ok, "var config = {\n    paths: {'a': 'b',, 'c': 'd'}\n};\n", ok},
			[]diag.Error{{File: "b.js", Line: 2, Col: 22, Source: "    paths: {'a': 'b',, 'c': 'd'}"}},
			[]string{`Expected identifier but found ","`}},
		{"columns count bytes, as diag does", []string{"var config = {map: {'é': 'ü' 'x'}};"},
			[]diag.Error{{File: "a.js", Line: 1, Col: 32, Source: "var config = {map: {'é': 'ü' 'x'}};"}},
			[]string{`Expected "}" but found "'x'"`}},
		{"an unclosed brace is at the end of its file, not in the wrapper", []string{ok, "var config = {\n    paths: {'a': 'b'}\n"},
			[]diag.Error{{File: "b.js", Line: 3, Col: 1, Source: ""}},
			[]string{"end of file"}},
		{"an unclosed comment", []string{"var config = {};\n/* no end"},
			[]diag.Error{{File: "a.js", Line: 2, Col: 10, Source: "/* no end"}},
			[]string{"*/"}},
		{"a stray closing brace", []string{"var config = {}};\n"},
			[]diag.Error{{File: "a.js", Line: 1, Col: 17, Source: "var config = {}};"}},
			[]string{`Expected ")" but found ";"`}},
		{"ES module syntax is not a script's", []string{"export default {paths: {}};\n"},
			[]diag.Error{{File: "a.js", Line: 1, Col: 1, Source: "export default {paths: {}};"}},
			[]string{`"export"`}},
		{"lines counted after CR line ends", []string{"var a;\r\rvar config = = {};"},
			[]diag.Error{{File: "a.js", Line: 3, Col: 14, Source: "var config = = {};"}},
			[]string{`Unexpected "="`}},
		{"every broken file is reported, in input order", []string{"var config = {;", ok, "var = 1;"},
			[]diag.Error{{File: "a.js", Line: 1, Col: 15, Source: "var config = {;"}, {File: "c.js", Line: 1, Col: 5, Source: "var = 1;"}},
			[]string{`Expected identifier but found ";"`, `Expected identifier but found "="`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := make([][]byte, len(tt.in))
			for i, s := range tt.in {
				data[i] = []byte(s)
			}
			out, err := MergeData(named(len(data)), data)
			if err == nil {
				t.Fatalf("no error; got %s", out)
			}
			if out != nil {
				t.Errorf("output with an error: %s", out)
			}
			errs := diag.Flatten(err)
			if len(errs) != len(tt.want) {
				t.Fatalf("%d errors, want %d: %v", len(errs), len(tt.want), err)
			}
			for i, e := range errs {
				de, ok := e.(*diag.Error)
				if !ok {
					t.Fatalf("error %d is %T, want *diag.Error: %v", i, e, e)
				}
				w := tt.want[i]
				if de.Kind != diag.Build || de.File != w.File || de.Line != w.Line || de.Col != w.Col || de.Source != w.Source {
					t.Errorf("error %d = %s:%d:%d %q (kind %d), want %s:%d:%d %q\n%s", i, de.File, de.Line, de.Col, de.Source, de.Kind,
						w.File, w.Line, w.Col, w.Source, de.Detail())
				}
				if !strings.Contains(de.Msg, tt.wantMsg[i]) {
					t.Errorf("error %d message %q does not contain %q", i, de.Msg, tt.wantMsg[i])
				}
			}
			if len(tt.want) == 1 {
				if _, ok := err.(*diag.Error); !ok {
					t.Errorf("one broken file: error is %T, want *diag.Error", err)
				}
			}
		})
	}
}

func TestMergeDataLengths(t *testing.T) {
	if _, err := MergeData(named(2), [][]byte{nil}); err == nil {
		t.Error("2 files and 1 content: no error")
	}
}

func TestMergeReadsFiles(t *testing.T) {
	dir := t.TempDir()
	a := filepath.Join(dir, "a.js")
	if err := os.WriteFile(a, []byte("var config = {paths: {x: 'y'}};"), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := Merge([]File{{Path: a, Name: "app/code/Acme/A/view/frontend/requirejs-config.js", Module: "Acme_A"}})
	if err != nil {
		t.Fatal(err)
	}
	want := `(function(require){(function(){var config={paths:{x:"y"}};require.config(config)})();})(require);` + "\n"
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}

	_, err = Merge([]File{{Path: a, Name: "a.js"}, {Path: filepath.Join(dir, "missing.js"), Name: "missing.js"}})
	var de *diag.Error
	if !errors.As(err, &de) || de.File != "missing.js" || de.Kind != diag.Build {
		t.Errorf("missing file: %v, want a build error naming missing.js", err)
	}
}

// stub is a RequireJS 2.1 stand-in (Magento ships 2.1.11 in lib/web): its
// config method merges as RequireJS's configure does (paths, bundles,
// config and map mixed in key by key, the later call winning and a key
// keeping its place; shim entry by entry, an array meaning its deps; any
// other key replaced) and keeps every call's deps, which RequireJS loads,
// in order. It prints every call's argument, the merged configuration and
// the globals the file left behind. A call of require itself (lib/web's
// file has one) is recorded, its callback not run. The file runs as a script in a fresh
// context whose only global is require.
const stub = `
var fs = require('fs'), vm = require('vm');
var code = fs.readFileSync(process.argv[2], 'utf8');
var calls = [], merged = {}, deps = [], required = [];
function isObj(v) {
    return v && typeof v === 'object' && !Array.isArray(v) && !(v instanceof RegExp);
}
function mixin(target, source) {
    Object.keys(source).forEach(function (k) {
        var v = source[k];
        if (isObj(v)) {
            if (!target[k]) { target[k] = {}; }
            mixin(target[k], v);
        } else {
            target[k] = v;
        }
    });
}
var objs = {paths: true, bundles: true, config: true, map: true};
function stubRequire(names) { required.push(names); }
stubRequire.config = function (cfg) {
    calls.push(JSON.parse(JSON.stringify(cfg)));
    var shim = merged.shim || {};
    Object.keys(cfg).forEach(function (k) {
        if (objs[k]) {
            if (!merged[k]) { merged[k] = {}; }
            mixin(merged[k], cfg[k]);
        } else {
            merged[k] = cfg[k];
        }
    });
    if (cfg.shim) {
        Object.keys(cfg.shim).forEach(function (id) {
            var v = cfg.shim[id];
            shim[id] = Array.isArray(v) ? {deps: v} : v;
        });
        merged.shim = shim;
    }
    if (cfg.deps) { deps = deps.concat(cfg.deps); merged.deps = deps; }
};
var ctx = vm.createContext({require: stubRequire});
vm.runInContext(code, ctx, {filename: process.argv[2]});
var leaked = Object.keys(ctx).filter(function (k) { return k !== 'require'; });
process.stdout.write(JSON.stringify({calls: calls, merged: merged, required: required, leaked: leaked}));
`

// nodeResult is what the stub prints.
type nodeResult struct {
	Calls    []json.RawMessage `json:"calls"`
	Merged   json.RawMessage   `json:"merged"`
	Required json.RawMessage   `json:"required"` // the arguments of require(names, callback), whose callbacks do not run
	Leaked   []string          `json:"leaked"`
}

// runNode runs js under node with the stub require.
func runNode(t *testing.T, js []byte) nodeResult {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("node is required in CI: %v", err)
		}
		t.Skip("SKIPPED: node is not on PATH, so the merged requirejs-config.js is not run (install Node.js; CI fails here)")
	}
	dir := t.TempDir()
	stubPath, file := filepath.Join(dir, "stub.js"), filepath.Join(dir, "requirejs-config.js")
	if err := os.WriteFile(stubPath, []byte(stub), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, js, 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command(node, stubPath, file)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node: %v\n%s\n%s", err, stderr.Bytes(), js)
	}
	var r nodeResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("stub output: %v\n%s", err, out)
	}
	return r
}

// The acceptance test: the merged requirejs-config.js runs under node with a
// stub require and yields the merged paths, maps and mixins in Magento's
// order.
func TestMergedConfigRunsUnderNode(t *testing.T) {
	files := []File{
		{Name: "vendor/magento/module-catalog/view/base/requirejs-config.js", Module: "Magento_Catalog"},
		{Name: "vendor/magento/module-catalog/view/frontend/requirejs-config.js", Module: "Magento_Catalog"},
		{Name: "app/design/frontend/Acme/parent/requirejs-config.js"},
		{Name: "app/design/frontend/Acme/child/Magento_Catalog/requirejs-config.js", Module: "Magento_Catalog"},
	}
	data := [][]byte{
		[]byte(`/**
 * Module base.
 */
var config = {
    map: {
        '*': {
            priceBox: 'Magento_Catalog/js/price-box',
            priceUtils: 'Magento_Catalog/js/price-utils'
        }
    },
    paths: {
        'jquery/ui': 'jquery/jquery-ui'
    },
    config: {
        mixins: {
            'Magento_Catalog/js/price-box': {
                'Magento_Catalog/js/price-box-mixin': true
            }
        }
    }
};
`),
		[]byte(`var config = {
    map: {
        '*': {
            compareList: 'Magento_Catalog/js/list',
            priceBox: 'Magento_Catalog/js/price-box-frontend'
        }
    },
    shim: {
        'jquery/jquery.cookie': ['jquery'],
        'legacy-lib': {deps: ['jquery'], exports: 'Legacy'}
    },
    deps: ['Magento_Catalog/js/catalog-add-to-cart'],
    config: {
        mixins: {
            'Magento_Catalog/js/price-box': {
                'Acme_Prices/js/price-box-mixin': true
            }
        }
    }
};

// Code besides the data, as in Luma's file: it runs, with its own config.
if (typeof window !== 'undefined' && window.document) {
    config.deps.push('never');
} else {
    config.deps.push('Magento_Catalog/js/no-window');
}
`),
		[]byte(`const themeDeps = ['js/theme'];
let config = {
    deps: [...themeDeps],
    map: {
        '*': {priceBox: 'js/parent-price-box'}
    },
    shim: {
        'jquery/jquery.cookie': {deps: ['jquery'], exports: 'jQuery.cookie'}
    },
    config: {
        mixins: {
            'Magento_Catalog/js/price-box': {
                'Magento_Catalog/js/price-box-mixin': false
            }
        }
    }
};
`),
		[]byte(`var config = {
    paths: {slick: 'Acme_Child/js/slick', 'jquery/ui': 'jquery/compat'},
    map: {
        'Magento_Checkout/js/view/minicart': {'Magento_Checkout/js/model/cart': 'Acme_Child/js/cart'}
    },
    config: {
        mixins: {
            'mage/validation': {'Acme_Child/js/validation-mixin': true}
        }
    },
    deps: ['Acme_Child/js/child']
};
`),
	}
	js, err := MergeData(files, data)
	if err != nil {
		t.Fatal(err)
	}
	got := runNode(t, js)

	wantCalls := []string{
		`{"map":{"*":{"priceBox":"Magento_Catalog/js/price-box","priceUtils":"Magento_Catalog/js/price-utils"}},"paths":{"jquery/ui":"jquery/jquery-ui"},"config":{"mixins":{"Magento_Catalog/js/price-box":{"Magento_Catalog/js/price-box-mixin":true}}}}`,
		`{"map":{"*":{"compareList":"Magento_Catalog/js/list","priceBox":"Magento_Catalog/js/price-box-frontend"}},"shim":{"jquery/jquery.cookie":["jquery"],"legacy-lib":{"deps":["jquery"],"exports":"Legacy"}},"deps":["Magento_Catalog/js/catalog-add-to-cart","Magento_Catalog/js/no-window"],"config":{"mixins":{"Magento_Catalog/js/price-box":{"Acme_Prices/js/price-box-mixin":true}}}}`,
		`{"deps":["js/theme"],"map":{"*":{"priceBox":"js/parent-price-box"}},"shim":{"jquery/jquery.cookie":{"deps":["jquery"],"exports":"jQuery.cookie"}},"config":{"mixins":{"Magento_Catalog/js/price-box":{"Magento_Catalog/js/price-box-mixin":false}}}}`,
		`{"paths":{"slick":"Acme_Child/js/slick","jquery/ui":"jquery/compat"},"map":{"Magento_Checkout/js/view/minicart":{"Magento_Checkout/js/model/cart":"Acme_Child/js/cart"}},"config":{"mixins":{"mage/validation":{"Acme_Child/js/validation-mixin":true}}},"deps":["Acme_Child/js/child"]}`,
	}
	// Keys keep the place of their first setting (so mixins apply in that
	// order); values are the last call's.
	wantMerged := `{` +
		`"map":{"*":{"priceBox":"js/parent-price-box","priceUtils":"Magento_Catalog/js/price-utils","compareList":"Magento_Catalog/js/list"},` +
		`"Magento_Checkout/js/view/minicart":{"Magento_Checkout/js/model/cart":"Acme_Child/js/cart"}},` +
		`"paths":{"jquery/ui":"jquery/compat","slick":"Acme_Child/js/slick"},` +
		`"config":{"mixins":{"Magento_Catalog/js/price-box":{"Magento_Catalog/js/price-box-mixin":false,"Acme_Prices/js/price-box-mixin":true},` +
		`"mage/validation":{"Acme_Child/js/validation-mixin":true}}},` +
		`"shim":{"jquery/jquery.cookie":{"deps":["jquery"],"exports":"jQuery.cookie"},"legacy-lib":{"deps":["jquery"],"exports":"Legacy"}},` +
		`"deps":["Magento_Catalog/js/catalog-add-to-cart","Magento_Catalog/js/no-window","js/theme","Acme_Child/js/child"]` +
		`}`

	if len(got.Calls) != len(wantCalls) {
		t.Fatalf("%d calls of require.config, want %d (one per file, in order)", len(got.Calls), len(wantCalls))
	}
	for i, c := range got.Calls {
		if string(c) != wantCalls[i] {
			t.Errorf("call %d (%s):\n got %s\nwant %s", i+1, files[i].Name, c, wantCalls[i])
		}
	}
	if string(got.Merged) != wantMerged {
		t.Errorf("merged config:\n got %s\nwant %s", got.Merged, wantMerged)
	}
	if len(got.Leaked) != 0 {
		t.Errorf("the file left globals behind: %q", got.Leaked)
	}

	// Magento's own, unminified file does the same.
	ref := runNode(t, magentoText(data))
	g, _ := json.Marshal(got)
	r, _ := json.Marshal(ref)
	if !bytes.Equal(g, r) {
		t.Errorf("minified and Magento's file differ under node:\n%s\n%s", g, r)
	}
}

func FuzzMerge(f *testing.F) {
	f.Add("var config = {paths: {a: 'b'}};", "var config = {deps: []};\nconfig.deps.push('x');")
	f.Add("var config = {", "}")
	f.Add("});\n'use strict';\n(function() {\nvar config = {};", "")
	f.Add("/* unclosed", "`template")
	f.Add("\ufeffvar config = {};\r\n\u2028", "export default 1")
	f.Add("return;", "var config = {map: {'*': {a: 'b'}}}; function f(){}")
	f.Fuzz(func(t *testing.T, a, b string) {
		files := []File{{Name: "a.js"}, {Name: "b.js", Module: "Acme_B"}}
		data := [][]byte{[]byte(a), []byte(b)}
		out, err := MergeData(files, data)
		if err != nil {
			for _, e := range diag.Flatten(err) {
				var de *diag.Error
				if !errors.As(e, &de) || de.Kind != diag.Build || de.File == "" || de.Line < 1 || de.Col < 1 {
					t.Fatalf("error not located in a file: %#v", e)
				}
			}
			return
		}
		if !bytes.HasPrefix(out, []byte(minHead)) || !bytes.HasSuffix(out, []byte(minTail)) {
			t.Fatalf("not wrapped: %q", out)
		}
		mustParse(t, out)
	})
}

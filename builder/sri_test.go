package builder

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"iter"
	"maps"
	"strings"
	"testing"

	"github.com/scdtool/scd/manifest"
)

func sumOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return hex.EncodeToString(h[:])
}

func sriOf(s string) string {
	h := sha256.Sum256([]byte(s))
	return "sha256-" + base64.StdEncoding.EncodeToString(h[:])
}

// TestSRIFiles: one file per area that has JavaScript, at
// <area>/sri-hashes.json, keyed by the path from the root of the tree,
// holding every .js file of the area and nothing else, in the bytes PHP's
// json_encode gives Magento's array (no spaces, "/" escaped).
func TestSRIFiles(t *testing.T) {
	contents := map[string]string{
		"adminhtml/Acme/backend/en_US/requirejs-config.js": "require.config({});",
		"adminhtml/Acme/backend/en_US/css/admin.css":       ".a{}",
		"adminhtml/Acme/backend/en_US/manifest.json":       "{}",
		"deployed_version.txt":                             "1234",
		"frontend/Acme/shop/de_DE/js/app.js":               "var x = 'Hallo';",
		"frontend/Acme/shop/de_DE/js/app.js.gz":            "gz",
		"frontend/Acme/shop/de_DE/js-translation.json":     "{}",
		"frontend/Acme/shop/en_US/js/app.js":               "var x = 'Hello';",
		"frontend/Acme/shop/en_US/js/bundle/bundle0.js":    "define([],1);",
		"frontend/Acme/shop/en_US/js/app.jsx":              "<b/>",
		"frontend/Acme/shop/en_US/template.JS":             "not js to Magento",
		"top.js":                                           "outside any area",
		"media/x/y.css":                                    "no js here",
	}
	files := map[string]manifest.File{}
	for p, c := range contents {
		files[p] = manifest.File{SHA256: sumOf(c), Size: int64(len(c))}
	}
	got, err := sriFiles(byteKeys(files))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].rel != "adminhtml/sri-hashes.json" || got[1].rel != "frontend/sri-hashes.json" {
		var rels []string
		for _, f := range got {
			rels = append(rels, f.rel)
		}
		t.Fatalf("files %v, want adminhtml/sri-hashes.json and frontend/sri-hashes.json", rels)
	}
	wantAdmin := `{"adminhtml\/Acme\/backend\/en_US\/requirejs-config.js":"` + strings.ReplaceAll(sriOf("require.config({});"), "/", `\/`) + `"}`
	if string(got[0].data) != wantAdmin {
		t.Errorf("adminhtml:\n got %s\nwant %s", got[0].data, wantAdmin)
	}
	var front map[string]string
	if err := json.Unmarshal(got[1].data, &front); err != nil {
		t.Fatalf("frontend: %v\n%s", err, got[1].data)
	}
	want := map[string]string{
		"frontend/Acme/shop/de_DE/js/app.js":            sriOf("var x = 'Hallo';"),
		"frontend/Acme/shop/en_US/js/app.js":            sriOf("var x = 'Hello';"),
		"frontend/Acme/shop/en_US/js/bundle/bundle0.js": sriOf("define([],1);"),
	}
	if !maps.Equal(front, want) {
		t.Errorf("frontend = %v\nwant %v", front, want)
	}
	// Sorted keys, no spaces, slashes escaped.
	s := string(got[1].data)
	i, j, k := strings.Index(s, `de_DE\/js\/app.js`), strings.Index(s, `en_US\/js\/app.js`), strings.Index(s, `bundle0.js`)
	if i < 0 || j < 0 || k < 0 || !(i < j && j < k) {
		t.Errorf("keys not sorted: %s", s)
	}
	if strings.ContainsAny(s, " \n") || !strings.Contains(s, `":"sha256-`) {
		t.Errorf("not json_encode's compact form: %s", s)
	}
}

// TestSRINoJavaScript: a tree without JavaScript has no integrity file
// (Magento writes one only for an area it hashed files of).
func TestSRINoJavaScript(t *testing.T) {
	files := map[string]manifest.File{
		"frontend/Acme/shop/en_US/css/x.css": {SHA256: sumOf("x"), Size: 1},
		"deployed_version.txt":               {SHA256: sumOf("1"), Size: 1},
	}
	got, err := sriFiles(byteKeys(files))
	if err != nil || len(got) != 0 {
		t.Fatalf("sriFiles = %v, %v; want none", got, err)
	}
}

// TestSRIValue: "sha256-" and the standard base64 (padded) of the raw
// digest, as Magento's HashGenerator and the SRI specification write it.
func TestSRIValue(t *testing.T) {
	got, err := sriJSON([]sriEntry{{"frontend/a.js", sumOf("")}})
	if err != nil {
		t.Fatal(err)
	}
	// sha256("") = 47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU= ("/" escaped).
	want := `{"frontend\/a.js":"sha256-47DEQpj8HBSa+\/TImW+5JCeuQeRkm5NMpJWZG3hSuFU="}`
	if string(got) != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
}

// TestSRIJSONString: paths are written as PHP's json_encode (no flags)
// writes them: what Magento itself would have stored for the same array.
func TestSRIJSONString(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"frontend/Acme/shop/en_US/js/a.js", `"frontend\/Acme\/shop\/en_US\/js\/a.js"`},
		{`a"b\c`, `"a\"b\\c"`},
		{"\b\f\n\r\t\x01\x1f\x7f", `"\b\f\n\r\t\u0001\u001f` + "\x7f" + `"`},
		{"<&'>", `"<&'>"`},
		{"café/é.js", `"caf\u00e9\/\u00e9.js"`},
		{"日本/a.js", `"\u65e5\u672c\/a.js"`},
		{"😀.js", `"\ud83d\ude00.js"`},
		{"bad\xffbyte", `"bad\ufffdbyte"`},
	} {
		if got := string(appendPHPJSONString(nil, c.in)); got != c.want {
			t.Errorf("%q: got %s, want %s", c.in, got, c.want)
		}
		var back string
		if err := json.Unmarshal(appendPHPJSONString(nil, c.in), &back); err != nil {
			t.Errorf("%q: not JSON: %v", c.in, err)
		} else if back != strings.ToValidUTF8(c.in, "\ufffd") {
			t.Errorf("%q: decodes to %q", c.in, back)
		}
	}
}

// TestSRIJSONSortsAndChecks: entries in any order give the same bytes; a
// digest that is not a sha256, or a path listed twice, is an error.
func TestSRIJSONSortsAndChecks(t *testing.T) {
	a := []sriEntry{{"f/b.js", sumOf("b")}, {"f/a.js", sumOf("a")}, {"f/a/c.js", sumOf("c")}}
	b := []sriEntry{{"f/a.js", sumOf("a")}, {"f/a/c.js", sumOf("c")}, {"f/b.js", sumOf("b")}}
	ga, err := sriJSON(a)
	if err != nil {
		t.Fatal(err)
	}
	gb, err := sriJSON(b)
	if err != nil {
		t.Fatal(err)
	}
	if string(ga) != string(gb) {
		t.Errorf("order changes the bytes:\n%s\n%s", ga, gb)
	}
	if a[0].path != "f/b.js" {
		t.Errorf("sriJSON reordered its argument")
	}
	if !strings.HasPrefix(string(ga), `{"f\/a.js":`) {
		t.Errorf("not sorted by path: %s", ga)
	}
	if _, err := sriJSON([]sriEntry{{"f/a.js", "abc"}}); err == nil {
		t.Error("a short digest is accepted")
	}
	if _, err := sriJSON([]sriEntry{{"f/a.js", strings.Repeat("zz", 32)}}); err == nil {
		t.Error("a digest that is not hex is accepted")
	}
	if _, err := sriJSON([]sriEntry{{"f/a.js", sumOf("a")}, {"f/a.js", sumOf("b")}}); err == nil {
		t.Error("a path listed twice is accepted")
	}
}

// byteKeys yields m's entries with their keys as bytes, as treeFiles does.
func byteKeys(m map[string]manifest.File) iter.Seq2[[]byte, manifest.File] {
	return func(yield func([]byte, manifest.File) bool) {
		for k, f := range m {
			if !yield([]byte(k), f) {
				return
			}
		}
	}
}
